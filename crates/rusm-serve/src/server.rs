//! The listener and its connections: accept (at most `max-connections`
//! at once), serve HTTP/1.1 on each with hyper, close connections that
//! are slow to send a head or idle too long, and drain on shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures::task::AtomicWaker;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use parking_lot::Mutex;
use rusm_wasm::WasmRuntime;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use crate::ServeError;
use crate::admission::Gate;
use crate::config::ServeConfig;
use crate::deadline::{Deadline, Deadlines};
use crate::request;
use crate::router::Router;

/// What every connection of a server shares.
pub(crate) struct Shared {
    pub(crate) runtime: WasmRuntime,
    pub(crate) config: ServeConfig,
    pub(crate) router: Router,
    /// `max-concurrent-requests`.
    pub(crate) requests: Arc<Gate>,
    /// Each route's `max-concurrent`, by route index.
    pub(crate) route_gates: Vec<Option<Arc<Gate>>>,
    /// `request-timeout-seconds` of the requests in flight.
    pub(crate) deadlines: Arc<Deadlines>,
}

/// Requests in flight on one connection, and when the last one ended: a
/// connection is idle when it has none and has had none for a while. And
/// whether its response is stuck on the client: a client that stops
/// reading is cut off after `idle-timeout-seconds` (the handler, blocked
/// on its writes, is killed with it).
pub(crate) struct ConnState {
    /// The server's, held here so that a request reaches it through its
    /// connection: cloning the server's one `Arc` for every request made
    /// every request write the same counter, from both cores.
    pub(crate) shared: Arc<Shared>,
    /// The deadline of the request in flight (`deadline.rs`).
    pub(crate) deadline: Arc<Deadline>,
    active: AtomicUsize,
    last: Mutex<Option<Instant>>,
    /// Response frames handed to hyper so far.
    sent: AtomicU64,
    /// hyper holds a frame it has not finished writing: it asks for the
    /// next one only once the client has taken the last (HTTP/1.1 has
    /// one response in progress at a time).
    owed: AtomicBool,
    /// What the connection's watchdog told it: [`CARRY_ON`], [`DRAIN`] or
    /// [`CLOSE`] (only ever raised).
    order: AtomicU8,
    /// The connection's task, to wake for a new order.
    order_waker: AtomicWaker,
    /// The connection's task has ended: its watchdog stops.
    ended: AtomicBool,
    /// The watchdog's task, to wake when the connection ends.
    watchdog_waker: AtomicWaker,
}

/// Orders from a connection's watchdog to its connection.
const CARRY_ON: u8 = 0;
/// Finish the request in hand, then close (hyper's graceful shutdown).
const DRAIN: u8 = 1;
/// Close now (its response's body is dropped, which kills its handler).
const CLOSE: u8 = 2;

/// One request in flight on a connection, until its response is done.
pub(crate) struct ConnActivity(Arc<ConnState>);

impl ConnActivity {
    fn new(state: &Arc<ConnState>) -> Self {
        state.active.fetch_add(1, Ordering::AcqRel);
        ConnActivity(state.clone())
    }

    pub(crate) fn state(&self) -> &Arc<ConnState> {
        &self.0
    }
}

impl Drop for ConnActivity {
    fn drop(&mut self) {
        *self.0.last.lock() = Some(Instant::now());
        // The response is done with (hyper asks for no more once the body
        // says it has ended): nothing is owed to the client any more.
        self.0.owed.store(false, Ordering::Relaxed);
        self.0.active.fetch_sub(1, Ordering::AcqRel);
    }
}

impl ConnState {
    fn new(shared: Arc<Shared>) -> Self {
        ConnState {
            shared,
            deadline: Arc::default(),
            active: AtomicUsize::new(0),
            last: Mutex::new(None),
            sent: AtomicU64::new(0),
            owed: AtomicBool::new(false),
            order: AtomicU8::new(CARRY_ON),
            order_waker: AtomicWaker::new(),
            ended: AtomicBool::new(false),
            watchdog_waker: AtomicWaker::new(),
        }
    }

    /// A response frame went to hyper.
    pub(crate) fn frame_sent(&self) {
        self.sent.fetch_add(1, Ordering::Relaxed);
        self.owed.store(true, Ordering::Relaxed);
    }

    /// hyper asked for a frame and waits for the handler (or the body
    /// ended): whatever it had was written.
    pub(crate) fn frame_taken(&self) {
        self.owed.store(false, Ordering::Relaxed);
    }

    /// Idle for longer than `limit` (no request in flight since then).
    fn idle_for(&self, limit: Duration, opened: Instant) -> bool {
        self.active.load(Ordering::Acquire) == 0
            && self.last.lock().unwrap_or(opened).elapsed() >= limit
    }

    /// The watchdog's side: raise the order to `order`.
    fn give(&self, order: u8) {
        self.order.fetch_max(order, Ordering::AcqRel);
        self.order_waker.wake();
    }

    /// The connection's side: an order above `seen`, when there is one.
    fn poll_order(&self, seen: u8, cx: &mut Context<'_>) -> Poll<u8> {
        poll_flag(&self.order_waker, cx, || {
            let order = self.order.load(Ordering::Acquire);
            (order > seen).then_some(order)
        })
    }

    /// The watchdog's side: whether the connection has ended.
    fn poll_ended(&self, cx: &mut Context<'_>) -> Poll<()> {
        poll_flag(&self.watchdog_waker, cx, || {
            self.ended.load(Ordering::Acquire).then_some(())
        })
    }
}

/// What `look` finds, or pending with `waker` registered. It looks again
/// once registered: a change made in between woke nobody.
fn poll_flag<T>(
    waker: &AtomicWaker,
    cx: &mut Context<'_>,
    look: impl Fn() -> Option<T>,
) -> Poll<T> {
    if let Some(found) = look() {
        return Poll::Ready(found);
    }
    waker.register(cx.waker());
    look().map_or(Poll::Pending, Poll::Ready)
}

/// Tells the watchdog its connection is gone, however the task ends.
struct Ended(Arc<ConnState>);

impl Drop for Ended {
    fn drop(&mut self) {
        self.0.ended.store(true, Ordering::Release);
        self.0.watchdog_waker.wake();
    }
}

/// A running server. Dropping it stops accepting but does not drain: call
/// [`Server::shutdown`].
pub struct Server {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    accept: tokio::task::JoinHandle<JoinSet<()>>,
    shared: Arc<Shared>,
}

impl Server {
    /// Bind `config.listen` and serve the routes' components of `runtime`
    /// (each must be registered with it) on the current tokio runtime.
    pub async fn start(config: ServeConfig, runtime: WasmRuntime) -> Result<Server, ServeError> {
        let tls = config.tls.as_ref().map(crate::tls::acceptor).transpose()?;
        let listener =
            TcpListener::bind(config.listen)
                .await
                .map_err(|error| ServeError::Bind {
                    addr: config.listen,
                    error,
                })?;
        let addr = listener.local_addr().map_err(|error| ServeError::Bind {
            addr: config.listen,
            error,
        })?;
        let shared = Arc::new(Shared {
            router: Router::new(&config.routes),
            requests: Gate::new(config.max_concurrent_requests),
            route_gates: config
                .routes
                .iter()
                .map(|r| r.max_concurrent.map(Gate::new))
                .collect(),
            runtime,
            deadlines: Arc::default(),
            config,
        });
        tokio::spawn(crate::deadline::sweeper(
            Arc::downgrade(&shared.deadlines),
            shared.runtime.node().clone(),
            crate::deadline::tick(shared.config.request_timeout),
        ));
        let (stop, stopped) = watch::channel(false);
        let scheme = if tls.is_some() { "https" } else { "http" };
        let accept = tokio::spawn(accept_loop(listener, tls, shared.clone(), stopped));
        tracing::info!(target: request::ACCESS_LOG_TARGET, "rusm http listening on {scheme}://{addr}");
        Ok(Server {
            addr,
            stop,
            accept,
            shared,
        })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Requests in flight now.
    pub fn in_flight(&self) -> usize {
        self.shared.requests.in_flight()
    }

    /// Stop gracefully: the listener closes first; connections finish the
    /// requests they have (each closes after its current response) for up
    /// to `shutdown` (SERVING.md's `shutdown-seconds`); then the rest are
    /// dropped, which kills their request processes.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let Ok(mut connections) = self.accept.await else {
            return;
        };
        let drained = tokio::time::timeout(self.shared.config.shutdown, async {
            while connections.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                target: request::ACCESS_LOG_TARGET,
                "rusm http: {} connection(s) still busy after the drain, closed",
                connections.len()
            );
            connections.shutdown().await;
        }
    }
}

async fn accept_loop(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    shared: Arc<Shared>,
    mut stopped: watch::Receiver<bool>,
) -> JoinSet<()> {
    let slots = Arc::new(Semaphore::new(shared.config.max_connections));
    let mut connections = JoinSet::new();
    loop {
        // Past `max-connections`, new ones wait in the kernel's backlog.
        let slot = tokio::select! {
            s = slots.clone().acquire_owned() => s.expect("the semaphore is never closed"),
            _ = stopped.changed() => break,
        };
        let (stream, _) = tokio::select! {
            a = listener.accept() => match a {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: back off
                    // instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stopped.changed() => break,
        };
        let _ = stream.set_nodelay(true);
        let shared = shared.clone();
        let stopped = stopped.clone();
        let tls = tls.clone();
        connections.spawn(async move {
            match tls {
                None => connection(stream, false, shared, stopped).await,
                Some(tls) => {
                    // The handshake is part of the head: same deadline.
                    let handshake =
                        tokio::time::timeout(shared.config.header_timeout, tls.accept(stream));
                    match handshake.await {
                        Ok(Ok(stream)) => connection(stream, true, shared, stopped).await,
                        Ok(Err(e)) => tracing::debug!(error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!("TLS handshake timed out"),
                    }
                }
            }
            drop(slot);
        });
        // Reap finished connections so the set does not grow.
        while connections.try_join_next().is_some() {}
    }
    connections
}

async fn connection<S>(stream: S, https: bool, shared: Arc<Shared>, stopped: watch::Receiver<bool>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let opened = Instant::now();
    let state = Arc::new(ConnState::new(shared.clone()));
    let _listed = shared.deadlines.list(state.deadline.clone());
    let service = {
        let state = state.clone();
        service_fn(move |req| request::serve(req, https, ConnActivity::new(&state)))
    };
    // No hyper timer: the head timeout is the watchdog's (below), which
    // saves every request a timer of its own.
    let conn = http1::Builder::new()
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades();
    let mut conn = std::pin::pin!(conn);
    let mut seen = CARRY_ON;
    if *stopped.borrow() {
        seen = DRAIN;
        conn.as_mut().graceful_shutdown();
    }
    // The shutdown signal, the head and idle timeouts and a client that
    // reads nothing are watched by a task of their own, which wakes only
    // for them: polled here, beside the connection, they would be polled
    // at every one of its wake-ups, several per request.
    tokio::spawn(watchdog(
        state.clone(),
        stopped,
        Timeouts {
            header: shared.config.header_timeout,
            idle: shared.config.idle_timeout,
        },
        opened,
        seen == DRAIN,
    ));
    let _ended = Ended(state.clone());
    loop {
        tokio::select! {
            biased;
            r = conn.as_mut() => {
                if let Err(e) = r {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
                return;
            }
            order = std::future::poll_fn(|cx| state.poll_order(seen, cx)) => {
                seen = order;
                if order == CLOSE {
                    // Dropping the connection drops the response body,
                    // which kills its handler.
                    return;
                }
                conn.as_mut().graceful_shutdown();
            }
        }
    }
}

/// What a connection's watchdog enforces besides the shutdown signal.
struct Timeouts {
    /// `header-timeout-seconds`: from the moment the connection waits for
    /// a request head (it opened, or its last response ended) to the
    /// head's end.
    header: Duration,
    /// `idle-timeout-seconds`.
    idle: Duration,
}

/// A connection's watchdog: closes it when a request head does not come
/// whole within `header` of the connection's waiting for one (a slowloris
/// client, or a kept-alive connection that sends nothing); asks it to
/// drain on shutdown or after `idle` with no request; and to close when
/// its client has read nothing of a response for `idle`. Ends with the
/// connection. The timeouts are met up to one tick late (a quarter of
/// the shorter, between 50 ms and 1 s).
async fn watchdog(
    state: Arc<ConnState>,
    mut stopped: watch::Receiver<bool>,
    Timeouts { header, idle }: Timeouts,
    opened: Instant,
    mut closing: bool,
) {
    let tick = (idle.min(header) / 4).clamp(Duration::from_millis(50), Duration::from_secs(1));
    // The frame count when a stuck response was first seen, and when.
    let mut stuck: Option<(u64, Instant)> = None;
    loop {
        tokio::select! {
            () = std::future::poll_fn(|cx| state.poll_ended(cx)) => return,
            _ = stopped.changed(), if !closing => {
                closing = true;
                state.give(DRAIN);
            }
            () = tokio::time::sleep(tick) => {
                // No request in flight, and none came whole since the
                // connection started waiting for one: hyper is still
                // reading a head, or nothing at all.
                if state.idle_for(header, opened) {
                    tracing::debug!("no request head within the header timeout: connection closed");
                    state.give(CLOSE);
                    return;
                }
                if !closing && state.idle_for(idle, opened) {
                    closing = true;
                    state.give(DRAIN);
                }
                // A client that reads nothing of its response for the idle
                // timeout: its memory is bounded (hyper stops asking the
                // handler for more, and the handler blocks on its writes),
                // but it would hold its handler and places forever.
                let sent = state.sent.load(Ordering::Relaxed);
                stuck = match stuck {
                    _ if !state.owed.load(Ordering::Relaxed) => None,
                    Some((at, since)) if at == sent => {
                        if since.elapsed() >= idle {
                            tracing::info!(
                                target: request::ACCESS_LOG_TARGET,
                                "rusm http: a client read nothing of its response for {}s: connection closed",
                                idle.as_secs_f64()
                            );
                            state.give(CLOSE);
                            return;
                        }
                        Some((at, since))
                    }
                    _ => Some((sent, Instant::now())),
                };
            }
        }
    }
}
