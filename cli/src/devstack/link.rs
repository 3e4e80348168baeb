//! Links: controllable TCP proxies for every cross-region connection.
//!
//! A [`Link`] listens on one address and forwards each accepted connection to one target
//! address. Its [`LinkMode`] can be changed at run time and the change applies to new *and*
//! existing connections at once:
//!
//! | mode        | new connections                          | existing connections            |
//! |-------------|------------------------------------------|---------------------------------|
//! | `up`        | accepted, forwarded                      | bytes flow both ways            |
//! | `down`      | refused (the listener is closed)         | cut at once (reset)             |
//! | `blackhole` | accepted, never forwarded nor answered   | frozen both ways, kept open     |
//! | `latency`   | accepted, forwarded                      | every chunk delayed by `ms`     |
//!
//! Leaving `blackhole` **resumes** frozen connections: whatever the peers sent meanwhile (held
//! in kernel buffers, never read while frozen) flows on in order, as after a network hang that
//! heals before TCP gives up. Connections accepted while blackholed connect to the target only
//! when the link comes back. Leaving `down` re-binds the listener on the same address.
//!
//! Latency is applied per chunk and per direction: a chunk read at `t` is written at `t + ms`,
//! chunks stay in order and the link stays pipelined (throughput is not divided by the delay).

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch, Mutex};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

/// How long a link waits for its target to accept a forwarded connection.
const TARGET_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Size of one read from either side.
const CHUNK: usize = 16 * 1024;
/// Chunks in flight per direction (bounds memory under latency; the reader waits beyond it).
const QUEUE_CHUNKS: usize = 256;

/// One link as configured: a name, where it listens, where it forwards to.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct LinkConfig {
    /// Name used by the admin API, e.g. `repl-west-east`.
    pub name: String,
    /// Address the link listens on (port 0 picks a free port once; re-binds reuse it).
    pub listen: SocketAddr,
    /// Address every accepted connection is forwarded to.
    pub target: SocketAddr,
}

/// The run-time mode of a link. JSON: `{"mode":"up"}`, `{"mode":"latency","ms":200}`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(tag = "mode", rename_all = "lowercase", deny_unknown_fields)]
pub enum LinkMode {
    /// Forward bytes both ways.
    #[default]
    Up,
    /// Partition: refuse new connections and cut existing ones.
    Down,
    /// Hang: accept, never forward nor answer; existing connections freeze.
    Blackhole,
    /// Forward, delaying every chunk by `ms` in each direction.
    Latency {
        /// Delay per chunk and direction, in milliseconds.
        ms: u64,
    },
}

impl LinkMode {
    fn moves_bytes(self) -> bool {
        matches!(self, LinkMode::Up | LinkMode::Latency { .. })
    }

    fn delay(self) -> Duration {
        match self {
            LinkMode::Latency { ms } => Duration::from_millis(ms),
            _ => Duration::ZERO,
        }
    }
}

impl fmt::Display for LinkMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LinkMode::Up => f.write_str("up"),
            LinkMode::Down => f.write_str("down"),
            LinkMode::Blackhole => f.write_str("blackhole"),
            LinkMode::Latency { ms } => write!(f, "latency {ms}ms"),
        }
    }
}

/// A point-in-time view of one link, as reported by the admin API.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct LinkSnapshot {
    pub name: String,
    /// The address actually listened on (the configured one with port 0 resolved).
    pub listen: SocketAddr,
    pub target: SocketAddr,
    pub mode: LinkMode,
    /// Connections currently open through the link (including frozen ones).
    pub active_connections: u64,
    /// Connections accepted since start.
    pub total_connections: u64,
    /// Bytes written to the target (client → target).
    pub bytes_to_target: u64,
    /// Bytes written back to clients (target → client).
    pub bytes_from_target: u64,
}

#[derive(Default)]
struct Stats {
    active: AtomicU64,
    total: AtomicU64,
    to_target: AtomicU64,
    from_target: AtomicU64,
}

struct Shared {
    name: String,
    listen: SocketAddr,
    target: SocketAddr,
    mode: watch::Sender<LinkMode>,
    stats: Stats,
}

struct Control {
    /// The accept loop, present while the listener is open (every mode but `down`).
    accept: Option<JoinHandle<()>>,
    /// Set once [`Link::shutdown`] ran; mode changes are then refused.
    closed: bool,
}

/// A running link. Cheap to share behind an `Arc`; all methods take `&self`.
pub struct Link {
    shared: Arc<Shared>,
    control: Mutex<Control>,
}

impl Link {
    /// Binds the listener and starts forwarding in `mode`. The port is bound even when `mode`
    /// is `down` (then closed again at once) so that a busy port is reported at start.
    pub async fn start(config: &LinkConfig, mode: LinkMode) -> io::Result<Link> {
        let listener = TcpListener::bind(config.listen).await?;
        let listen = listener.local_addr()?;
        let (mode_tx, _) = watch::channel(mode);
        let shared = Arc::new(Shared {
            name: config.name.clone(),
            listen,
            target: config.target,
            mode: mode_tx,
            stats: Stats::default(),
        });
        let accept = if mode == LinkMode::Down {
            drop(listener);
            None
        } else {
            Some(tokio::spawn(accept_loop(listener, shared.clone())))
        };
        tracing::info!(link = %shared.name, %listen, target = %shared.target, %mode, "link started");
        Ok(Link {
            shared,
            control: Mutex::new(Control {
                accept,
                closed: false,
            }),
        })
    }

    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// The address actually listened on.
    pub fn listen_addr(&self) -> SocketAddr {
        self.shared.listen
    }

    pub fn mode(&self) -> LinkMode {
        *self.shared.mode.borrow()
    }

    /// Switches the mode; returns once the change is in force: after `down`, the listener is
    /// closed and every connection is cut; after leaving `down`, the listener is bound again
    /// (a failure to re-bind is returned and the link stays `down`).
    pub async fn set_mode(&self, mode: LinkMode) -> io::Result<()> {
        let mut control = self.control.lock().await;
        if control.closed {
            return Err(io::Error::other("link is shut down"));
        }
        let old = self.mode();
        if mode == LinkMode::Down {
            self.shared.mode.send_replace(mode);
            if let Some(accept) = control.accept.take() {
                // The accept loop sees `down`, cuts its connections and drops the listener.
                let _ = accept.await;
            }
        } else {
            if control.accept.is_none() {
                let listener = TcpListener::bind(self.shared.listen).await?;
                self.shared.mode.send_replace(mode);
                control.accept = Some(tokio::spawn(accept_loop(listener, self.shared.clone())));
            } else {
                self.shared.mode.send_replace(mode);
            }
        }
        if old != mode {
            tracing::info!(link = %self.shared.name, from = %old, to = %mode, "link mode changed");
        }
        Ok(())
    }

    pub fn snapshot(&self) -> LinkSnapshot {
        let stats = &self.shared.stats;
        LinkSnapshot {
            name: self.shared.name.clone(),
            listen: self.shared.listen,
            target: self.shared.target,
            mode: self.mode(),
            active_connections: stats.active.load(Ordering::Relaxed),
            total_connections: stats.total.load(Ordering::Relaxed),
            bytes_to_target: stats.to_target.load(Ordering::Relaxed),
            bytes_from_target: stats.from_target.load(Ordering::Relaxed),
        }
    }

    /// Closes the listener and cuts every connection; idempotent.
    pub async fn shutdown(&self) {
        let mut control = self.control.lock().await;
        control.closed = true;
        if let Some(accept) = control.accept.take() {
            accept.abort();
            let _ = accept.await;
        }
    }
}

impl Drop for Link {
    /// Dropping a link stops it: the accept loop is aborted, which aborts its connections.
    fn drop(&mut self) {
        if let Some(accept) = self.control.get_mut().accept.take() {
            accept.abort();
        }
    }
}

/// Accepts connections until the mode becomes `down` (or the task is aborted); then cuts all
/// connections it started and drops the listener. Connection tasks live in a `JoinSet`, so
/// aborting this task also aborts (and so closes) every connection.
async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let mut mode_rx = shared.mode.subscribe();
    let mut conns = JoinSet::new();
    loop {
        if *mode_rx.borrow_and_update() == LinkMode::Down {
            break;
        }
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    shared.stats.total.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(link = %shared.name, %peer, "connection accepted");
                    conns.spawn(serve_connection(stream, shared.clone()));
                }
                Err(err) => {
                    // E.g. EMFILE: back off instead of spinning.
                    tracing::warn!(link = %shared.name, error = %err, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            changed = mode_rx.changed() => if changed.is_err() { break },
        }
    }
    drop(listener);
    conns.shutdown().await;
    tracing::debug!(link = %shared.name, "listener closed, connections cut");
}

/// Decrements the active-connection count when a connection ends (or is aborted).
struct ActiveGuard<'a>(&'a Stats);

impl<'a> ActiveGuard<'a> {
    fn new(stats: &'a Stats) -> Self {
        stats.active.fetch_add(1, Ordering::Relaxed);
        ActiveGuard(stats)
    }
}

impl Drop for ActiveGuard<'_> {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Waits until the link moves bytes; `false` when it went `down` (or the link is gone).
async fn wait_flowing(mode_rx: &mut watch::Receiver<LinkMode>) -> bool {
    match mode_rx
        .wait_for(|m| m.moves_bytes() || *m == LinkMode::Down)
        .await
    {
        Ok(mode) => mode.moves_bytes(),
        Err(_) => false,
    }
}

async fn serve_connection(client: TcpStream, shared: Arc<Shared>) {
    let _active = ActiveGuard::new(&shared.stats);
    // Reset (not FIN) when the link cuts us: a partition should look abrupt.
    let _ = client.set_zero_linger();
    let _ = client.set_nodelay(true);
    let mut mode_rx = shared.mode.subscribe();
    // A connection accepted while blackholed does not reach the target until the link is back.
    if !wait_flowing(&mut mode_rx).await {
        return;
    }
    let upstream =
        match tokio::time::timeout(TARGET_CONNECT_TIMEOUT, TcpStream::connect(shared.target)).await
        {
            Ok(Ok(stream)) => stream,
            Ok(Err(err)) => {
                tracing::warn!(link = %shared.name, target = %shared.target, error = %err,
                    "cannot connect to link target; closing client connection");
                return;
            }
            Err(_) => {
                tracing::warn!(link = %shared.name, target = %shared.target,
                    "timed out connecting to link target; closing client connection");
                return;
            }
        };
    let _ = upstream.set_zero_linger();
    let _ = upstream.set_nodelay(true);
    let (client_r, client_w) = client.into_split();
    let (up_r, up_w) = upstream.into_split();
    let to_target = pump(client_r, up_w, &shared, &shared.stats.to_target);
    let from_target = pump(up_r, client_w, &shared, &shared.stats.from_target);
    if let Err(err) = tokio::try_join!(to_target, from_target) {
        tracing::debug!(link = %shared.name, error = %err, "connection ended");
    }
}

/// Moves bytes one way until EOF (then half-closes the writer), an error, or `down`.
async fn pump(
    mut reader: OwnedReadHalf,
    mut writer: OwnedWriteHalf,
    shared: &Shared,
    counter: &AtomicU64,
) -> io::Result<()> {
    let (tx, mut rx) = mpsc::channel::<(Instant, Bytes)>(QUEUE_CHUNKS);
    let mut read_mode = shared.mode.subscribe();
    let mut write_mode = shared.mode.subscribe();
    let cut = || io::Error::new(io::ErrorKind::ConnectionAborted, "link is down");

    let read_side = async move {
        loop {
            if !wait_flowing(&mut read_mode).await {
                return Err(cut());
            }
            let mut buf = BytesMut::with_capacity(CHUNK);
            tokio::select! {
                n = reader.read_buf(&mut buf) => {
                    if n? == 0 {
                        return Ok(()); // EOF: dropping `tx` lets the writer half-close.
                    }
                    let due = Instant::now() + read_mode.borrow().delay();
                    if tx.send((due, buf.freeze())).await.is_err() {
                        return Ok(()); // the writer failed; it reports the error
                    }
                }
                // A pending read is cancel-safe: nothing was consumed. Re-check the mode.
                _ = read_mode.changed() => {}
            }
        }
    };

    let write_side = async move {
        while let Some((due, chunk)) = rx.recv().await {
            tokio::time::sleep_until(due).await;
            let mut rest = chunk;
            while !rest.is_empty() {
                if !wait_flowing(&mut write_mode).await {
                    return Err(cut());
                }
                tokio::select! {
                    // `write` is cancel-safe: a pending write has written nothing.
                    n = writer.write(&rest) => {
                        let n = n?;
                        if n == 0 {
                            return Err(io::ErrorKind::WriteZero.into());
                        }
                        counter.fetch_add(n as u64, Ordering::Relaxed);
                        let _ = rest.split_to(n);
                    }
                    _ = write_mode.changed() => {}
                }
            }
        }
        writer.shutdown().await
    };

    tokio::try_join!(read_side, write_side).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mode_json_shapes() {
        let cases = [
            (LinkMode::Up, r#"{"mode":"up"}"#),
            (LinkMode::Down, r#"{"mode":"down"}"#),
            (LinkMode::Blackhole, r#"{"mode":"blackhole"}"#),
            (
                LinkMode::Latency { ms: 200 },
                r#"{"mode":"latency","ms":200}"#,
            ),
        ];
        for (mode, json) in cases {
            assert_eq!(serde_json::to_string(&mode).unwrap(), json);
            assert_eq!(serde_json::from_str::<LinkMode>(json).unwrap(), mode);
        }
        assert!(serde_json::from_str::<LinkMode>(r#"{"mode":"latency"}"#).is_err());
        assert!(serde_json::from_str::<LinkMode>(r#"{"mode":"sideways"}"#).is_err());
        assert!(serde_json::from_str::<LinkMode>(r#"{"mode":"latency","ms":1,"x":2}"#).is_err());
        assert!(serde_json::from_str::<LinkMode>(r#"{"mode":"latency","ms":-1}"#).is_err());
    }
}
