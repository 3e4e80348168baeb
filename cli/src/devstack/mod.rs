//! The local two-region stack: PostgreSQL clusters, API processes, the front door and links.

pub mod faults;
pub mod frontdoor;
pub mod keys;
pub mod link;
pub mod net;
pub mod process;
pub mod rebuild;
pub mod release;
pub mod repair;
pub mod stack;
pub mod status;

pub use stack::{Stack, StackError, StackSpec, REGIONS};
