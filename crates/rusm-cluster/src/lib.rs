//! Clusters (CLUSTER.md): nodes that see each other's processes, built on
//! existing, proven parts rather than a home-made protocol.
//!
//! - **Transport and identity**: QUIC (quinn) between every pair of nodes,
//!   TLS 1.3 with certificates on both sides chained to the cluster's CA
//!   (rustls), and a node's claimed name checked against its certificate
//!   ([`transport`](Cluster)).
//! - **Membership and failure detection**: SWIM (foca), its packets carried
//!   as QUIC datagrams on those same connections, so only certified nodes
//!   can even take part in it.
//! - **Ordered frames between nodes**: one QUIC stream per direction per
//!   pair, batched under load ([`Cluster::send`], [`Inbound`]).
//! - **Certificates**: [`certs::make`] (rcgen) for `rusm cluster certs`.
//!
//! - **Processes across nodes**: [`Dist`] is the core's `Remote` hook
//!   (pids that name another node go there), the calls that wait for
//!   another node (liveness, `spawn_on`), and cluster-wide names.
//!
//! The actor core knows nothing of this crate (this crate uses the core's
//! hooks); the node (`rusm-node`) composes them with the Wasm runtime.

pub mod certs;
mod dist;
mod frames;
mod membership;
mod quic_task;
mod tls;
mod transport;

/// Locks `m`, poisoned or not: this crate's locks guard maps and queues
/// that each update leaves whole (one insert, remove, push or pop), so a
/// panic elsewhere does not make them unusable.
fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

pub use dist::{CallError, Dist, MAX_GLOBAL_NAME, Spawner, node_id};
pub use frames::Inbound;
pub use membership::Timing;
pub use tls::{Identity, IdentityError, cert_names};
pub use transport::{
    Cluster, ClusterConfig, ClusterError, DEFAULT_BUSY_WAIT, Event, Handle, SendError, unix_nanos,
};
