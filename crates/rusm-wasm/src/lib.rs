//! The WebAssembly backend of RUSM: every process an isolated Wasmtime
//! instance, driven by the actor core.
//!
//! A [`WasmRuntime`] is attached to a [`rusm_core::Node`]. It loads guests
//! (core modules with the flat `"rusm"` imports, or components of the
//! `rusm:runtime@0.1.0` world; `.wasm` or `.wat`) into [`Artifact`]s,
//! compiled once and cached by content hash, and spawns each process as an
//! actor-core process whose body instantiates the guest in a store of its
//! own and calls its entry point.
//!
//! The ideas a reader needs:
//!
//! - **One contract, two shapes.** [`module`](crate) imports and the
//!   component bindings are adapters over one set of operations
//!   (`actor.rs`), where every capability check lives.
//! - **Async all the way.** Guests run on Wasmtime fibers; `recv`, `sleep`
//!   and storage calls park the fiber and free the worker thread. An epoch
//!   ticker makes every guest yield regularly, so a spinning guest cannot
//!   starve others, and `kill` (which drops the process's future) takes
//!   effect at the next yield.
//! - **Fast spawns.** A pooling allocator with copy-on-write memory images
//!   and a per-artifact `InstancePre`; when the pool is full, processes fall
//!   back to a second, on-demand engine, so the number of live processes is
//!   bounded by memory, not by the pool.
//! - **Isolation.** Messages are copied out of the sender's memory and into
//!   the receiver's; a trap ends only its own process, with a one-line
//!   reason.
//!
//! ```
//! use rusm_core::{Node, NodeConfig, ExitReason, Pid, SpawnOptions};
//! use rusm_wasm::{WasmRuntime, WasmConfig, RuntimeOptions, WasmSpawn};
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let node = Node::new(NodeConfig::default());
//! let config = WasmConfig { pool_slots: 10, ..WasmConfig::default() };
//! let rt = WasmRuntime::new(node.clone(), config, RuntimeOptions::default()).unwrap();
//! let guest = rt.load_bytes("hello", br#"(module (func (export "run")))"#).unwrap();
//! let (_pid, exit) = rt.spawn_watched(&guest, WasmSpawn {
//!     name: "hello".into(), args: vec![], caps: rusm_caps::Capabilities::sandboxed().into(),
//!     parent: Pid::NODE, options: SpawnOptions::new(),
//! }).unwrap();
//! assert_eq!(exit.await, ExitReason::Normal);
//! # });
//! ```

mod actor;
mod artifact;
mod bindings;
mod component;
mod components;
mod engine;
mod exit;
mod info;
mod launch;
mod limits;
mod module;
mod quotas;
mod runtime;
mod wasi;

pub use actor::AbiError;
pub use artifact::{ArtifactKind, LoadError};
pub use engine::{EngineKind, WasmConfig};
pub use runtime::{Artifact, RuntimeOptions, SpawnObserver, WasmRuntime, WasmSpawn};
