//! The drill's event log (`events.jsonl`, written as things happen so a killed drill can
//! still be reported) and its clock.

use super::report::{Event, Marker};
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Appends events as JSON lines; flushed to the OS at once, fsync'd at least every 250 ms.
#[derive(Clone)]
pub struct EventLog {
    inner: Arc<Mutex<(std::fs::File, Instant)>>,
}

impl EventLog {
    pub fn create(path: &Path) -> std::io::Result<EventLog> {
        // A fresh log: a report directory reused by a later drill must not mix two runs.
        let f = std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .open(path)?;
        Ok(EventLog {
            inner: Arc::new(Mutex::new((f, Instant::now()))),
        })
    }

    pub fn write(&self, e: &Event) {
        let mut line = serde_json::to_string(e).expect("event serialises");
        line.push('\n');
        let mut g = self.inner.lock().expect("event log");
        let _ = g.0.write_all(line.as_bytes());
        if g.1.elapsed() > Duration::from_millis(250) || !matches!(e, Event::Request(_)) {
            let _ = g.0.sync_data();
            g.1 = Instant::now();
        }
    }
}

/// The drill's clock (t = 0 at the start of traffic) and its markers.
pub struct Ctx {
    pub t0: Instant,
    pub t0_utc: chrono::DateTime<chrono::Utc>,
    pub log: EventLog,
    pub markers: Mutex<Vec<Marker>>,
}

impl Ctx {
    pub fn now_ms(&self) -> f64 {
        self.t0.elapsed().as_secs_f64() * 1000.0
    }

    fn push(&self, m: Marker) {
        self.log.write(&Event::Marker(m.clone()));
        self.markers.lock().expect("markers").push(m);
    }

    pub fn mark(&self, name: &str, detail: impl Into<String>) {
        self.push(Marker {
            name: name.to_string(),
            t_ms: self.now_ms(),
            detail: detail.into(),
        });
    }

    pub fn mark_at(
        &self,
        name: &str,
        at: chrono::DateTime<chrono::Utc>,
        detail: impl Into<String>,
    ) {
        let t_ms = (at - self.t0_utc).num_microseconds().unwrap_or(0) as f64 / 1000.0;
        self.push(Marker {
            name: name.to_string(),
            t_ms,
            detail: detail.into(),
        });
    }
}
