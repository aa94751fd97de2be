//! Per-process capabilities for RUSM.
//!
//! Every RUSM process is its own WebAssembly instance, so each one can get
//! its own, exact set of grants: which host directories it sees, whether it
//! may open sockets, read the environment, write to stdio, manage other
//! processes, spawn components, use the node's store, register cluster-wide
//! names, and how far it may grow: its heap, what it makes the node hold for
//! it (queued messages, timers, links), its open files, how many processes
//! of its profile may run. The default is deny: [`Capabilities::sandboxed`]
//! grants CPU, a 64 MiB heap and the default limits, and nothing else.
//!
//! Where outbound network may go is the one part that is also a check:
//! [`HostPolicy`] (module `hosts`) parses `allow-hosts` and answers, for
//! every name lookup, socket connect and HTTP request the node makes for a
//! guest, whether it may happen.
//!
//! This crate is pure data. It decides *what* a process is granted; the Wasm
//! backend and the actor core enforce it, and the manifest crate reads the
//! custom profiles from `rusm.toml`. Two ideas carry the rest:
//!
//! - **Profiles resolve, they never fail.** A name is a built-in
//!   (`sandboxed`, `network-client`, `trusted`), a custom profile (a built-in
//!   base with some grants overridden, see [`Profiles`]), or unknown, in
//!   which case it falls back to `sandboxed` and says so, so that a typo can
//!   only ever take grants away.
//! - **A [`Capabilities`] is final.** Built-in, custom profile or per-spawn
//!   [`CapabilitiesBuilder`], every override is applied before a process
//!   starts, and [`Capabilities::is_within`] can check that a result never
//!   exceeds what the operator declared.
//!
//! ```
//! use rusm_caps::{Capabilities, ProfileOverrides, Profiles, SpawnGrant};
//!
//! // [capabilities.worker] inherits = "sandboxed", allow-storage = true
//! let mut profiles = Profiles::default();
//! profiles.insert(
//!     "worker".to_string(),
//!     ProfileOverrides { allow_storage: Some(true), ..Default::default() },
//! );
//!
//! let worker = profiles.resolve("worker").caps;
//! assert_eq!(worker.summary(), "storage mem=64M");
//! assert!(worker.is_within(&Capabilities::trusted()));
//!
//! // An embedder narrows one spawn further.
//! let child = Capabilities::builder(worker)
//!     .allow_spawn(SpawnGrant::Only(vec!["job".to_string()]))
//!     .max_memory_mb(32)
//!     .build();
//! assert!(child.allow_spawn.allows("job"));
//! assert_eq!(child.summary(), "spawn=job storage mem=32M");
//!
//! // A misspelt profile can only take grants away.
//! let typo = profiles.resolve("wrker");
//! assert!(typo.fell_back);
//! assert_eq!(typo.caps, Capabilities::sandboxed());
//! ```

mod builder;
mod capabilities;
mod environment;
mod hosts;
mod profiles;
mod spawn_grant;

pub use builder::CapabilitiesBuilder;
pub use capabilities::{
    BUILTIN_PROFILES, Capabilities, Preopen, SANDBOXED_MAX_PROCESSES, SANDBOXED_MEMORY_MB,
    SANDBOXED_OPEN_FILES, SANDBOXED_QUEUED_MB, TRUSTED_MEMORY_MB, TRUSTED_OPEN_FILES,
    TRUSTED_QUEUED_MB,
};
pub use environment::resolve_env;
pub use hosts::{
    HostDenied, HostPattern, HostPatternError, HostPolicy, NameMatch, destination_name, is_global,
};
pub use profiles::{ProfileOverrides, Profiles, Resolved};
pub use spawn_grant::SpawnGrant;
