//! Front door: an HTTP reverse proxy with Route 53 failover-routing semantics.
