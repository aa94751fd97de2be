//! The operator's view of a running RUSM node: a web page, a JSON API and
//! Prometheus metrics, on a listener of their own, behind a bearer token.
//!
//! An operator of a node with a hundred thousand sandboxed processes needs
//! to see which component eats memory, whose mailbox grows, what crashes
//! and how often. This crate answers from what the actor core already
//! keeps per process ([`rusm_core::Node::for_each_process`]: mailbox,
//! memory, message counts, CPU time from the Wasm backend's epoch ticks,
//! the spawner of each process)
//! and from a few node-wide counters it keeps itself through the core's
//! [`Lifecycle`](rusm_core::Lifecycle) hook ([`Hooks`]).
//!
//! The ideas a reader needs:
//!
//! - **The server pages, the browser never holds everything.** The process
//!   list is filtered, sorted and cut into one page on the server
//!   (`table.rs`); the supervision tree is fetched one level at a time; the
//!   charts come from a ring of per-second samples (`history.rs`). A node
//!   with 100,000 processes sends the page 50 rows.
//! - **No token, no observer.** Every path, the page included, answers 401
//!   without `authorization: Bearer <token>` or the session cookie that the
//!   sign-in form sets (`auth.rs`); tokens are compared in constant time.
//! - **Bounded labels.** Metrics label by component (names come from the
//!   operator's manifest), profile, state and exit-reason *class*, never by
//!   a reason's text or a guest-chosen label (`metrics.rs`).
//! - **Bounded before the token is known.** Connections, the time to send
//!   a request's head or finish a TLS handshake, idle connections and live
//!   event streams all have bounds ([`ListenerLimits`], `conn.rs`): a
//!   slowloris peer is cut off while the page still answers others.
//! - **Cheap when nobody looks.** The hooks on the spawn and exit paths
//!   bump striped counters and record a process's grants; everything else
//!   is computed when someone asks.
//!
//! ```no_run
//! # async fn boot() -> Result<(), rusm_observer::ObserverError> {
//! use rusm_core::{Node, NodeConfig};
//! use rusm_observer::{Hooks, ObserverConfig};
//!
//! let hooks = Hooks::new();
//! let node = Node::new(NodeConfig {
//!     lifecycle: Some(hooks.clone()),
//!     accounting: true,
//!     ..NodeConfig::default()
//! });
//! let config = ObserverConfig::new("127.0.0.1:9400".parse().unwrap(), "s3cret".into());
//! let running = rusm_observer::start(node, hooks, config).await?;
//! println!("observer on http://{}", running.local_addr());
//! # Ok(()) }
//! ```

mod api;
mod auth;
mod conn;
mod counters;
mod error;
mod history;
mod hooks;
mod metrics;
mod page;
mod server;
mod table;

pub use conn::ListenerLimits;
pub use error::ObserverError;
pub use hooks::{ExitClass, Hooks};
pub use server::{ObserverConfig, RunningObserver, TlsFiles, start};
