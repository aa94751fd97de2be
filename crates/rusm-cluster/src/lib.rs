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
//! The actor core knows nothing of this crate: the node composes them.
//! This version forms the cluster, detects failures and reports nodes up
//! and down ([`Event`]); processes across nodes come on top of it.

pub mod certs;
mod frames;
mod membership;
mod tls;
mod transport;

pub use frames::Inbound;
pub use membership::Timing;
pub use tls::{Identity, IdentityError, cert_names};
pub use transport::{Cluster, ClusterConfig, ClusterError, Event, SendError};
