//! pmctl: operator CLI and control plane for the two-region Property Management API.
//!
//! Commands (`commands/`) are thin over the operations library (`ops/`, `devstack/`); the
//! only door between the failover logic and the world is the `provider` module.

pub mod aws;
pub mod commands;
pub mod config;
pub mod devstack;
pub mod error;
pub mod journal;
pub mod lock;
pub mod ops;
pub mod provider;
pub mod shell;
pub mod sys;
