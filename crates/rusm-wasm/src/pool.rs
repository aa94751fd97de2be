//! Idle HTTP/1.1 connections kept for the next request to the same place.
//!
//! Opening a TCP connection (and a TLS session) per request costs more
//! than the request itself; HTTP/1.1 keeps a connection open for the next
//! one. The node keeps connections whose last response was read to its end
//! (the only state in which one is clean), keyed by what the connection was
//! made for: scheme, the host as the request wrote it (the name TLS
//! verified) and port.
//!
//! **The checker still decides every request.** A request is checked
//! (`destinations.rs`) before the pool is asked, and an idle connection is
//! handed out only if its peer address is one of the addresses this
//! request may go to. So the pool is shared by every process of the node
//! (a handler process per request reuses its predecessors' connections),
//! yet a connection one process was allowed to open is never a way around
//! another's `allow-hosts`.
//!
//! Bounded: at most [`MAX_IDLE_PER_KEY`] idle connections per key and the
//! node's `max_idle` in all (past it the oldest is closed); an idle
//! connection older than [`IDLE_TIMEOUT`] is closed by a sweep that runs
//! while the pool holds any.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use hyper::client::conn::http1::SendRequest;
use parking_lot::Mutex;
use tokio::task::AbortHandle;
use wasmtime_wasi_http::WasiBody;

/// Idle connections kept per (scheme, host, port).
pub(crate) const MAX_IDLE_PER_KEY: usize = 8;

/// How long a connection may stay idle before the node closes it (servers
/// commonly close theirs after 60 s or more; closing first avoids reusing
/// one the server is closing).
pub(crate) const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// What a connection was made for.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct PoolKey {
    pub(crate) tls: bool,
    pub(crate) host: String,
    pub(crate) port: u16,
}

/// A live connection: its sender, where it goes, and what drives it.
pub(crate) struct Connection {
    pub(crate) sender: SendRequest<WasiBody>,
    pub(crate) peer: SocketAddr,
    pub(crate) driven: Driven,
}

/// What reads and writes a connection's socket once its first response
/// head has arrived.
pub(crate) enum Driven {
    /// A task of the node's own, which may outlive the request: the only
    /// kind the pool keeps.
    Task(AbortHandle),
    /// The response's I/O future, which wasmtime-wasi-http runs as a task
    /// of its own and ends with the response body (no idle connections
    /// kept: as its default client does, no task more). Sending on this
    /// closes the connection; dropping it lets hyper finish.
    Response(tokio::sync::oneshot::Sender<()>),
    /// Nothing: hyper was done with it before its head arrived (closed).
    Done,
}

impl Connection {
    /// Closes the connection now. (Dropped, a connection closes when hyper
    /// is done with it: at once when idle, or when its response body is
    /// dropped unfinished; this is for one whose body is still wanted by
    /// no one but may never end, such as a stalled one.)
    pub(crate) fn close(self) {
        match self.driven {
            Driven::Task(task) => task.abort(),
            Driven::Response(close) => {
                let _ = close.send(());
            }
            Driven::Done => {}
        }
    }
}

struct Idle {
    connection: Connection,
    since: Instant,
}

/// The node's idle connections.
pub(crate) struct Pool {
    max_idle: usize,
    idle: Mutex<Entries>,
}

#[derive(Default)]
struct Entries {
    by_key: HashMap<PoolKey, Vec<Idle>>,
    count: usize,
    sweeping: bool,
}

impl Pool {
    /// A pool of at most `max_idle` idle connections (0: none are kept).
    pub(crate) fn new(max_idle: usize) -> Arc<Self> {
        Arc::new(Pool {
            max_idle,
            idle: Mutex::new(Entries::default()),
        })
    }

    /// An idle connection for `key` whose peer is one of `allowed`, most
    /// recently used first. Closed and expired ones met on the way are
    /// dropped.
    pub(crate) fn take(&self, key: &PoolKey, allowed: &[SocketAddr]) -> Option<Connection> {
        let mut entries = self.idle.lock();
        let Entries { by_key, count, .. } = &mut *entries;
        let list = by_key.get_mut(key)?;
        let mut found = None;
        let mut i = list.len();
        while i > 0 {
            i -= 1;
            let idle = &list[i];
            if idle.connection.sender.is_closed() || idle.since.elapsed() > IDLE_TIMEOUT {
                list.swap_remove(i);
                *count -= 1;
                continue;
            }
            if allowed.contains(&idle.connection.peer) {
                found = Some(list.remove(i).connection);
                *count -= 1;
                break;
            }
        }
        if list.is_empty() {
            by_key.remove(key);
        }
        found
    }

    /// Whether the pool keeps any connection at all.
    pub(crate) fn keeps_idle(&self) -> bool {
        self.max_idle > 0
    }

    /// Keeps `connection`, whose last response was read to its end.
    pub(crate) fn put(self: &Arc<Self>, key: PoolKey, connection: Connection) {
        let own_task = matches!(connection.driven, Driven::Task(_));
        if self.max_idle == 0 || !own_task || connection.sender.is_closed() {
            return;
        }
        let mut entries = self.idle.lock();
        let Entries { by_key, count, .. } = &mut *entries;
        let list = by_key.entry(key).or_default();
        if list.len() == MAX_IDLE_PER_KEY {
            list.remove(0);
            *count -= 1;
        }
        list.push(Idle {
            connection,
            since: Instant::now(),
        });
        *count += 1;
        if entries.count > self.max_idle {
            entries.remove_oldest();
        }
        let start_sweep = !entries.sweeping;
        entries.sweeping = true;
        drop(entries);
        if start_sweep {
            tokio::spawn(sweep(Arc::downgrade(self)));
        }
    }
}

impl Entries {
    fn remove_oldest(&mut self) {
        let oldest = self
            .by_key
            .iter()
            .filter_map(|(k, list)| list.first().map(|idle| (idle.since, k.clone())))
            .min_by_key(|(since, _)| *since);
        if let Some((_, key)) = oldest
            && let Some(list) = self.by_key.get_mut(&key)
        {
            list.remove(0);
            self.count -= 1;
            if list.is_empty() {
                self.by_key.remove(&key);
            }
        }
    }

    /// Drops expired and closed connections; whether any remain.
    fn sweep(&mut self) -> bool {
        let mut count = 0;
        self.by_key.retain(|_, list| {
            list.retain(|idle| {
                !idle.connection.sender.is_closed() && idle.since.elapsed() <= IDLE_TIMEOUT
            });
            count += list.len();
            !list.is_empty()
        });
        self.count = count;
        count > 0
    }
}

/// Sweeps `pool` every few seconds while it holds idle connections.
async fn sweep(pool: Weak<Pool>) {
    loop {
        tokio::time::sleep(IDLE_TIMEOUT / 6).await;
        let Some(pool) = pool.upgrade() else { return };
        let mut entries = pool.idle.lock();
        if !entries.sweep() {
            entries.sweeping = false;
            return;
        }
    }
}
