//! `[http]` and `[[http.route]]` as the node sees them (SERVING.md): every
//! default filled in, every path resolved, every route's component
//! checked to be declared.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// The `[http]` table: what the node serves and under which limits.
#[derive(Clone, Debug, PartialEq)]
pub struct HttpDecl {
    /// `listen`.
    pub listen: SocketAddr,
    /// `max-connections` (default 10000).
    pub max_connections: usize,
    /// `max-concurrent-requests` (default 1000).
    pub max_concurrent_requests: usize,
    /// `max-body-mb` (default 16), in bytes.
    pub max_body_bytes: u64,
    /// `request-timeout-seconds` (default 30).
    pub request_timeout: Duration,
    /// `header-timeout-seconds` (default 10).
    pub header_timeout: Duration,
    /// `idle-timeout-seconds` (default 60).
    pub idle_timeout: Duration,
    /// `tls`: the certificate chain and key, resolved.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// The `[[http.route]]` entries, in file order.
    pub routes: Vec<RouteDecl>,
}

/// One `[[http.route]]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteDecl {
    /// An exact path, or a prefix ending in `/*`.
    pub path: String,
    /// A declared component.
    pub component: String,
    /// `methods`, upper case; `None` for every method.
    pub methods: Option<Vec<String>>,
    /// `max-concurrent`.
    pub max_concurrent: Option<usize>,
    /// `websocket`.
    pub websocket: bool,
    /// `origins` (empty: any).
    pub origins: Vec<String>,
}
