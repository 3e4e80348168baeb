//! The local two-region stack: PostgreSQL clusters, API processes, the front door and links.

pub mod frontdoor;
pub mod link;
