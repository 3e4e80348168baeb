//! The AWS SDK layer: one `SdkConfig` per region (`sdk`), the environment Terraform
//! exports (`env`), and thin typed clients for what the aws provider needs — the global
//! database (`rds`), failover records and health checks (`route53`), lag and alarms
//! (`cloudwatch`), alias versions and concurrency (`lambda`), and the shared lock and
//! journal (`store`). Every failure is an [`AwsError`] naming the operation, the resource
//! and AWS's error code. Nothing here knows about the provider or the engine.

pub mod cloudwatch;
pub mod env;
pub mod error;
pub mod import;
pub mod lambda;
pub mod rds;
pub mod route53;
pub mod sdk;
pub mod store;

pub use error::{AwsError, ErrorKind};
