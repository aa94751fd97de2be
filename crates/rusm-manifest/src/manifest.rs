//! What a loaded `rusm.toml` says, with every default filled in and every
//! path and profile resolved, so that the node never looks at TOML.

use crate::cluster::ClusterDecl;
use crate::http::HttpDecl;
use rusm_caps::{Capabilities, Profiles};
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

/// Node-wide cap on live processes when the manifest sets none.
pub const DEFAULT_MAX_PROCESSES: u64 = 1_000_000;
/// Largest message, in MiB, when the manifest sets none.
pub const DEFAULT_MAX_MESSAGE_MB: u64 = 16;
/// Graceful-shutdown window when the manifest sets none.
pub const DEFAULT_SHUTDOWN: Duration = Duration::from_secs(5);

/// A whole `rusm.toml`.
#[derive(Clone, Debug, PartialEq)]
pub struct Manifest {
    /// The manifest file, as it was given to [`load`](crate::load) (used in
    /// messages; see `dir` for the absolute folder).
    pub path: PathBuf,
    /// The manifest's folder, absolute: every relative path in the file is
    /// relative to it.
    pub dir: PathBuf,
    /// The durable key-value store file, resolved; `None` when the node has
    /// no store (and `kv_*` calls answer as if storage were denied).
    pub store: Option<PathBuf>,
    /// Node-wide cap on live processes.
    pub max_processes: u64,
    /// Largest message accepted by `send`, in bytes.
    pub max_message_bytes: usize,
    /// How long processes get to end before a shutdown kills them.
    pub shutdown: Duration,
    /// Lifecycle log level from `[log] level`; `--log` overrides it.
    pub log_level: LogLevel,
    /// How resident components are restarted.
    pub supervisor: SupervisorConfig,
    /// The custom profiles of `[capabilities.<name>]`.
    pub profiles: Profiles,
    /// The `[components.<name>]` entries, in the order of the file.
    pub components: Vec<ComponentDecl>,
    /// `[http]`: the node serves when it is there (SERVING.md).
    pub http: Option<HttpDecl>,
    /// `[network]`: how the node makes outgoing connections for guests.
    pub network: NetworkConfig,
    /// `[observer]`: the operator's web page, metrics and JSON API; `None`
    /// when the section is absent.
    pub observer: Option<ObserverConfig>,
    /// `[cluster]`: the node joins a cluster when it is there (CLUSTER.md).
    pub cluster: Option<ClusterDecl>,
}

/// Connect timeout when `[network]` sets none.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Concurrent outgoing HTTP requests per process when `[network]` sets none.
pub const DEFAULT_MAX_CONCURRENT_REQUESTS: usize = 32;

/// `[network]`: outgoing connections of granted processes
/// (CAPABILITIES.md, *Outbound network*).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetworkConfig {
    /// PEM files of CA certificates trusted for outgoing HTTPS besides the
    /// system's, resolved against the manifest's folder.
    pub extra_roots: Vec<PathBuf>,
    /// How long a TCP connect (and a TLS handshake) may take.
    pub connect_timeout: Duration,
    /// `max-concurrent-requests` (an extension of the contract): how many
    /// outgoing HTTP requests one process may have in flight at once; past
    /// it a request waits for one to finish.
    pub max_concurrent_requests: usize,
}

impl Default for NetworkConfig {
    fn default() -> Self {
        NetworkConfig {
            extra_roots: Vec::new(),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            max_concurrent_requests: DEFAULT_MAX_CONCURRENT_REQUESTS,
        }
    }
}

/// The `[observer]` section (MANIFEST.md, *The observer*).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObserverConfig {
    /// Where it listens (`listen`, default `127.0.0.1:9400`).
    pub listen: std::net::SocketAddr,
    /// The file holding the bearer token (`token-file`), resolved. Read
    /// when the node boots; `rusm check` says when it is missing or empty.
    pub token_file: PathBuf,
    /// `tls = { cert, key }`: PEM files, resolved; HTTPS when set.
    pub tls: Option<ObserverTls>,
}

/// The observer's certificate chain and private key, PEM files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObserverTls {
    /// The certificate chain.
    pub cert: PathBuf,
    /// The private key.
    pub key: PathBuf,
}

/// Where the observer listens when `[observer]` does not say.
pub const DEFAULT_OBSERVER_LISTEN: &str = "127.0.0.1:9400";

impl Manifest {
    /// A declared component by name.
    pub fn component(&self, name: &str) -> Option<&ComponentDecl> {
        self.components.iter().find(|c| c.name == name)
    }
}

/// One `[components.<name>]` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ComponentDecl {
    /// The name it is spawned by and logged as.
    pub name: String,
    /// The `.wasm` or `.wat` file, absolute. When the manifest sets no
    /// `path` this is `wasm/<name>.wasm`, or `wasm/<name>.wat` if only that
    /// one exists.
    pub path: PathBuf,
    /// The profile name as written (`"sandboxed"` when unset), even if it
    /// does not resolve: `caps.profile` says what it resolved to.
    pub capability: String,
    /// Booted with the node and restarted by the supervisor.
    pub resident: bool,
    /// `remote = true`: other nodes of the cluster may spawn it here, under
    /// this manifest's profile for it (CLUSTER.md).
    pub remote: bool,
    /// What it runs with, whoever spawns it.
    pub caps: Capabilities,
}

/// `[log] level`: how much of the lifecycle log reaches stderr.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LogLevel {
    /// Nothing.
    #[default]
    Off,
    /// Crashes.
    Error,
    /// Crashes, kills and link cascades.
    Warn,
    /// Every exit.
    Info,
    /// Exits and spawns.
    Debug,
}

impl LogLevel {
    /// Every level, quietest first.
    pub const ALL: [LogLevel; 5] = [
        LogLevel::Off,
        LogLevel::Error,
        LogLevel::Warn,
        LogLevel::Info,
        LogLevel::Debug,
    ];

    /// The name used in the manifest and by `--log`.
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Off => "off",
            LogLevel::Error => "error",
            LogLevel::Warn => "warn",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
        }
    }
}

impl fmt::Display for LogLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A log level name that is not one of the five.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown log level `{0}` (expected one of: off, error, warn, info, debug)")]
pub struct UnknownLogLevel(pub String);

impl FromStr for LogLevel {
    type Err = UnknownLogLevel;

    /// Parses `off`, `error`, `warn`, `info` or `debug`, as `--log` takes them.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        LogLevel::ALL
            .into_iter()
            .find(|l| l.as_str() == s)
            .ok_or_else(|| UnknownLogLevel(s.to_owned()))
    }
}

/// `[supervisor] strategy`: what else restarts when a resident crashes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Strategy {
    /// Only the one that crashed.
    #[default]
    OneForOne,
    /// Every resident component.
    OneForAll,
    /// The one that crashed and those declared after it.
    RestForOne,
}

impl Strategy {
    /// Every strategy, in the order the docs list them.
    pub const ALL: [Strategy; 3] = [
        Strategy::OneForOne,
        Strategy::OneForAll,
        Strategy::RestForOne,
    ];

    /// The name used in the manifest.
    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::OneForOne => "one-for-one",
            Strategy::OneForAll => "one-for-all",
            Strategy::RestForOne => "rest-for-one",
        }
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A strategy name that is not one of the three.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown strategy `{0}` (expected one of: one-for-one, one-for-all, rest-for-one)")]
pub struct UnknownStrategy(pub String);

impl FromStr for Strategy {
    type Err = UnknownStrategy;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Strategy::ALL
            .into_iter()
            .find(|l| l.as_str() == s)
            .ok_or_else(|| UnknownStrategy(s.to_owned()))
    }
}

/// `[supervisor]`: restart policy for resident components.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SupervisorConfig {
    /// Which residents restart when one ends abnormally.
    pub strategy: Strategy,
    /// Restarts allowed within `max_seconds`; one more and the node gives
    /// up and stops.
    pub max_restarts: u32,
    /// The sliding window for `max_restarts`, in seconds.
    pub max_seconds: f64,
}

impl Default for SupervisorConfig {
    /// One-for-one, at most 3 restarts in 5 seconds.
    fn default() -> Self {
        SupervisorConfig {
            strategy: Strategy::OneForOne,
            max_restarts: 3,
            max_seconds: 5.0,
        }
    }
}
