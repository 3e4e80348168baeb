//! `pmctl deploy history`: the deploys and rollbacks in the journal.

use crate::journal::{self, JournalError};
use crate::ops::plan::OpKind;
use crate::provider::Provider;
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub op_id: String,
    pub kind: &'static str,
    pub started_at: chrono::DateTime<chrono::Utc>,
    pub from: String,
    pub to: String,
    /// The regions it changed, in order.
    pub regions: Vec<String>,
    pub steps_done: usize,
    pub steps: usize,
    /// `ok`, `failed`, `interrupted`, …
    pub result: &'static str,
    /// How it ended (e.g. which gate fired).
    pub summary: Option<String>,
}

pub async fn history(p: &dyn Provider) -> Result<(Vec<Row>, Vec<String>), JournalError> {
    let (ops, warnings) = journal::load(p.store()).await?;
    let rows = ops
        .iter()
        .filter(|o| matches!(o.plan.operation, OpKind::Deploy | OpKind::Rollback))
        .map(|o| {
            let mut regions = Vec::new();
            for s in &o.plan.steps {
                if let Some(region) = s.promotes_release() {
                    if !regions.iter().any(|r| r == region) {
                        regions.push(region.to_string());
                    }
                }
            }
            Row {
                op_id: o.op_id.clone(),
                kind: o.plan.operation.name(),
                started_at: o.started_at,
                from: o.plan.from.clone(),
                to: o.plan.to.clone(),
                regions,
                steps_done: o.done.len(),
                steps: o.plan.steps.len(),
                result: o.state(),
                summary: o.finished.as_ref().map(|f| f.2.clone()),
            }
        })
        .collect();
    Ok((rows, warnings))
}
