//! Maintenance requests: priority and the status workflow
//! `open → in_progress → resolved | cancelled` (an open request may also be cancelled).

use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    Low,
    Normal,
    Urgent,
}

impl Priority {
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Low => "low",
            Priority::Normal => "normal",
            Priority::Urgent => "urgent",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Open,
    InProgress,
    Resolved,
    Cancelled,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Open => "open",
            Status::InProgress => "in_progress",
            Status::Resolved => "resolved",
            Status::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        Some(match s {
            "open" => Status::Open,
            "in_progress" => Status::InProgress,
            "resolved" => Status::Resolved,
            "cancelled" => Status::Cancelled,
            _ => return None,
        })
    }

    /// Resolved and cancelled requests are closed: nothing changes them any more.
    pub fn is_closed(self) -> bool {
        matches!(self, Status::Resolved | Status::Cancelled)
    }

    /// The workflow. Staying in the same status is not a transition.
    pub fn can_become(self, next: Status) -> bool {
        use Status::*;
        matches!(
            (self, next),
            (Open, InProgress)
                | (Open, Cancelled)
                | (InProgress, Resolved)
                | (InProgress, Cancelled)
        )
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::Status::*;

    #[test]
    fn workflow() {
        let all = [Open, InProgress, Resolved, Cancelled];
        let legal: Vec<_> = all
            .iter()
            .flat_map(|a| all.iter().map(move |b| (*a, *b)))
            .filter(|(a, b)| a.can_become(*b))
            .collect();
        assert_eq!(
            legal,
            vec![
                (Open, InProgress),
                (Open, Cancelled),
                (InProgress, Resolved),
                (InProgress, Cancelled)
            ]
        );
        assert!(Resolved.is_closed() && Cancelled.is_closed() && !Open.is_closed());
        for s in all {
            assert_eq!(super::Status::parse(s.as_str()), Some(s));
        }
    }
}
