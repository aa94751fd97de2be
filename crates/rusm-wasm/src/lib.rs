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
//! - **One contract, two shapes.** The core-module imports (`module.rs`)
//!   and the component bindings (`component.rs`) are thin adapters over one
//!   set of operations, the `Actor` (`actor.rs`); both shapes share one
//!   launch path (`launch.rs`), generic over the shape. An HTTP handler
//!   is a component too: [`WasmRuntime::spawn_request`] spawns one process
//!   per request through the same path, the request in its spawn input
//!   (`incoming.rs`).
//! - **Async all the way.** Guests run on Wasmtime fibers; `recv`, `sleep`
//!   and storage calls park the fiber and free the worker thread. An epoch
//!   ticker makes every guest yield regularly, so a spinning guest cannot
//!   starve others, and `kill` (which drops the process's future) takes
//!   effect at the next yield.
//! - **Fast spawns.** A pooling allocator with copy-on-write memory images
//!   and a per-artifact `InstancePre`; when the pool is full, processes fall
//!   back to a second, on-demand engine ([`EngineKind`]), so the number of
//!   live processes is bounded by memory, not by the pool. A freed slot's
//!   dirtied pages are copied back from the image by hand rather than
//!   given back to the kernel, up to [`WasmConfig::keep_resident_bytes`]:
//!   no TLB shootdown and no page faults for the slot's next process.
//! - **Isolation.** Messages are copied out of the sender's memory and into
//!   the receiver's; a trap ends only its own process, with a one-line
//!   reason.
//! - **Clusters from the guest's side.** The calls of CLUSTER.md
//!   (`spawn_on`, `register_global`, `whereis_global`, `nodes`, `node_of`,
//!   and remote pids in `is_alive` and process control) are checked here
//!   against the caller's grants and then handed to a [`ClusterCalls`],
//!   which the node gives the runtime when it joins a cluster
//!   ([`WasmRuntime::set_cluster`]); without one they answer as on a lone
//!   node. This crate never touches the network. Only in a cluster are
//!   `is_alive` and process control async host calls (a remote pid is a
//!   round trip): a lone node links them synchronously (`engine::Reach`).
//!
//! # Where each grant is enforced
//!
//! Every grant of a process's `Capabilities` (CAPABILITIES.md) has one
//! place that enforces it:
//!
//! | Grant | Enforced in | How |
//! |---|---|---|
//! | `preopens` (filesystem) | `wasi.rs` | the only directories in the WASI context |
//! | `env` | `wasi.rs` | the only variables in the WASI context |
//! | `allow-stdio` | `wasi.rs` | stdio inherited, else empty and discarded |
//! | `allow-network`, `allow-listen` | `wasi.rs` | the WASI context's socket address check |
//! | `allow-hosts` (and the public-only default) | `destinations.rs`, asking `rusm_caps::HostPolicy` | the socket address check (`wasi.rs`), every socket name lookup (`name_lookup.rs`, through the bounded `resolver.rs`) and every HTTP request (`outbound.rs`); each refusal logs `rusm deny` |
//! | `allow-network` for HTTP | `outbound.rs` (reusing connections through `pool.rs`, each request checked first) | `Outbound::send_request`, every `wasi:http` request |
//! | `max-memory-mb` | `limits.rs` | the store limiter (all memories and tables together); also picks the engine (`launch.rs`) |
//! | `max-open-files` | `Shape::data` (`module.rs`, `component.rs`) | the capacity of the WASI resource table, set at launch; `launch.rs` names the crash |
//! | `max-processes` | `quotas.rs`, counted by rusm-core | one `ProcessQuota` per profile and cap |
//! | `mailbox-capacity`, `max-queued-mb` | `quotas.rs`, enforced by rusm-core | spawn options of every process |
//! | `allow-process-control` | `actor.rs` | `may_manage` (`kill`, `link`, `info`...), `processes`, `unregister` of another's name; over a remote pid too (else only the caller's own remote children, asked of the cluster) |
//! | `allow-spawn` | `actor.rs` | `Actor::spawn`, before the registry is asked; `Actor::spawn_on`, before the cluster is asked |
//! | the child's capabilities | `components.rs` | `Registered::caps_for`: declared profile, else the spawner's, `sandboxed` from the host |
//! | `allow-storage` | `actor.rs` | `Actor::kv`, before every storage call |
//! | a declared component's name | `actor.rs` | `may_use_name`: only its own processes may register it, locally or globally |
//! | `allow-global-names` | `actor.rs` | `Actor::register_global`, before the cluster is asked |
//! | a WebSocket pid's one writer | `sockets.rs` | `Sockets::check`, before every `send` |
//!
//! # Modules, in layers
//!
//! Each module imports only modules above it in this list:
//! `cpu`; `exit`, `engine`, `resolver`, `destinations`, `wasi`, `name_lookup`,
//! `pool`, `outbound`, `quotas`, `components`,
//! `bindings`, `incoming`, `error` (no crate imports); `cluster`; `limits`; `info`; `actor`; `sockets`; `launch`; `module` and
//! `component`; `artifact`; `runtime`. The actor reaches the runtime
//! through a trait (`actor::Runtime`) that `runtime.rs` implements: every
//! process of a runtime has the same one, so the calls are static.
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
mod cluster;
mod component;
mod components;
mod cpu;
mod destinations;
mod engine;
mod error;
mod exit;
mod incoming;
mod info;
mod launch;
mod limits;
mod module;
mod name_lookup;
mod outbound;
mod pool;
mod quotas;
mod resolver;
mod runtime;
mod sockets;
mod wasi;

pub use artifact::{ArtifactKind, LoadError};
pub use cluster::{BoxFuture, ClusterCalls};
pub use engine::{EngineKind, WasmConfig};
pub use error::AbiError;
pub use incoming::{
    BodyError, ErrorCode, HandlerResponse, HyperIncomingBody, HyperOutgoingBody, IncomingRequest,
};
pub use outbound::{OutboundError, OutboundOptions};
pub use runtime::{Artifact, RuntimeOptions, SpawnObserver, WasmRuntime, WasmSpawn};
