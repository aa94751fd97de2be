//! What a server is told to do: the `[http]` table of SERVING.md, already
//! validated and with its defaults filled in (rusm-node builds it from the
//! manifest; this crate never reads TOML).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// One server: its listener, limits and routes.
#[derive(Clone, Debug)]
pub struct ServeConfig {
    /// Where to listen (`127.0.0.1:0` picks a free port).
    pub listen: SocketAddr,
    /// Open connections at once; further ones wait in the accept backlog.
    pub max_connections: usize,
    /// Requests in flight node-wide; past it: 503 with `retry-after: 1`.
    pub max_concurrent_requests: usize,
    /// Largest request body, in bytes: 413 past it.
    pub max_body_bytes: u64,
    /// From a request's arrival to its response head: 504 past it, and the
    /// handler is killed.
    pub request_timeout: Duration,
    /// To receive a request's head; past it the connection is closed.
    pub header_timeout: Duration,
    /// An idle keep-alive connection is closed after this.
    pub idle_timeout: Duration,
    /// How long requests in flight get to finish on a graceful shutdown,
    /// and a WebSocket connection process after its client closed.
    pub shutdown: Duration,
    /// The largest WebSocket message (reassembled): past it the connection
    /// closes with 1009 (the node's `max-message-mb`).
    pub max_message_bytes: usize,
    /// HTTPS, when set.
    pub tls: Option<TlsFiles>,
    /// The routes, in any order (the longest matching path wins).
    pub routes: Vec<Route>,
    /// Told of every answered request: the route's `path` (`-` when none
    /// matched) and the status. The observer counts requests through it.
    pub on_request: Option<RequestObserver>,
}

/// What [`RequestObserver`] calls: the route's pattern and the status.
pub type OnRequest = dyn Fn(&str, u16) + Send + Sync;

/// See [`ServeConfig::on_request`].
#[derive(Clone)]
pub struct RequestObserver(pub std::sync::Arc<OnRequest>);

impl std::fmt::Debug for RequestObserver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RequestObserver")
    }
}

impl ServeConfig {
    /// SERVING.md's defaults, listening on `listen`, with no routes.
    pub fn new(listen: SocketAddr) -> Self {
        ServeConfig {
            listen,
            max_connections: 10_000,
            max_concurrent_requests: 1000,
            max_body_bytes: 16 << 20,
            request_timeout: Duration::from_secs(30),
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            shutdown: Duration::from_secs(5),
            max_message_bytes: 16 << 20,
            tls: None,
            routes: Vec::new(),
            on_request: None,
        }
    }
}

/// The certificate chain and private key of an HTTPS server (PEM files).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsFiles {
    /// The certificate chain.
    pub cert: PathBuf,
    /// The private key.
    pub key: PathBuf,
}

/// One `[[http.route]]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    /// An exact path, or a prefix ending in `/*`.
    pub path: String,
    /// The registered component that handles it.
    pub component: String,
    /// The methods it accepts (upper case); `None` for all.
    pub methods: Option<Vec<String>>,
    /// A per-route cap on requests in flight; past it: 503.
    pub max_concurrent: Option<usize>,
    /// A WebSocket route (a connection process per upgrade).
    pub websocket: bool,
    /// For a WebSocket route, the `origin` headers it accepts (empty: any).
    pub origins: Vec<String>,
}

impl Route {
    /// A route of `path` to `component`, any method, no cap.
    pub fn new(path: &str, component: &str) -> Self {
        Route {
            path: path.to_string(),
            component: component.to_string(),
            methods: None,
            max_concurrent: None,
            websocket: false,
            origins: Vec::new(),
        }
    }
}
