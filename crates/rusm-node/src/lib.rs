//! A RUSM node: what `rusm run` boots.
//!
//! [`RusmNode::boot`] composes the other crates: it opens the manifest's
//! store (`rusm-kv`), starts an actor-core node with the manifest's limits
//! (`rusm-core`) and a Wasm runtime on it (`rusm-wasm`), registers every
//! component under its declared profile for spawn-by-name, and starts the
//! resident components under one supervisor with the manifest's strategy
//! and restart intensity. [`RusmNode::start_root`] starts a root process
//! (await its [`Root`] for the exit reason); [`RusmNode::shutdown`] stops
//! everything gracefully; a [`Reloader`] swaps in changed code.
//!
//! The node knows the manifest; the Wasm backend does not: this crate is
//! where a `[components.<name>]` entry becomes a registered artifact with a
//! [`rusm_caps::Capabilities`], and nothing else reads the manifest.

mod cluster;
mod error;
mod lifecycle;
mod node;
mod os;

pub use error::NodeError;
pub use lifecycle::TARGET as LIFECYCLE_TARGET;
pub use node::{Reloaded, Reloader, Residents, Root, RusmNode};
pub use rusm_serve::ACCESS_LOG_TARGET;
