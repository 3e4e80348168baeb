//! pmctl: operator CLI and control plane for the two-region Property Management API.
//!
//! Commands (`commands/`) are thin over the operations library (`ops/`); the only door
//! between the failover logic and the world is the `provider` module.

pub mod devstack;
