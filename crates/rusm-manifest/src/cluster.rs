//! `[cluster]` as the node sees it (CLUSTER.md): this node's name and
//! address, whom to join through, and the three PEM files of its identity,
//! every path resolved.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// The `[cluster]` table: the node is a cluster member when it is there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterDecl {
    /// `name`: unique in the cluster, `[a-z0-9-]`, at most 63 bytes; the
    /// name this node's certificate must carry.
    pub name: String,
    /// `listen`: the UDP address QUIC (and so membership) uses.
    pub listen: SocketAddr,
    /// `join`: members to join through, `HOST:PORT` as written (names are
    /// looked up when the node starts, so a peer's address may change).
    pub join: Vec<String>,
    /// `ca`: only nodes holding a certificate from this CA may join.
    pub ca: PathBuf,
    /// `cert`: this node's certificate chain.
    pub cert: PathBuf,
    /// `key`: this node's private key.
    pub key: PathBuf,
    /// `busy-wait-us`: how long the node spins for an answer after it
    /// sent a packet before its thread sleeps, in microseconds (0: never);
    /// `None`: the cluster's default.
    pub busy_wait: Option<Duration>,
}

/// The longest `busy-wait-us` accepted: past it a spin costs far more than
/// the sleep and wake it saves.
pub(crate) const MAX_BUSY_WAIT_US: u64 = 10_000;

/// Whether `name` may name a node: `[a-z0-9-]`, 1 to 63 bytes (a DNS
/// label, so it can be a certificate's DNS name as it is).
pub fn valid_node_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}
