//! Why a node could not boot.

use std::path::PathBuf;

/// A node that cannot boot says why, naming the file at fault.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The manifest's store could not be opened.
    #[error(transparent)]
    Store(#[from] rusm_kv::KvError),
    /// A component of the manifest could not be loaded.
    #[error("component `{component}`: {error}")]
    Load {
        /// Its name in the manifest.
        component: String,
        /// Why it could not be loaded.
        error: rusm_wasm::LoadError,
    },
    /// `rusm run` was given something that is neither a component name
    /// nor a Wasm file.
    #[error("{0}: not a component of the manifest, and not a .wasm or .wat file")]
    UnknownTarget(String),
    /// The Wasm file given to `rusm run` could not be loaded.
    #[error("cannot load {path}: {error}")]
    Target {
        /// The file, as given.
        path: PathBuf,
        /// Why it could not be loaded.
        error: rusm_wasm::LoadError,
    },
    /// The Wasm backend could not start (its engine or its instance pool).
    #[error("the Wasm engine could not start: {0}")]
    Engine(String),
    /// A resident, the root process or the supervisor could not be spawned
    /// (named first; the actor core's error second).
    #[error("the node could not spawn `{0}`: {1}")]
    Spawn(String, rusm_core::Error),
    /// The `[http]` server could not start.
    #[error(transparent)]
    Serve(#[from] rusm_serve::ServeError),
    /// `[observer] token-file` could not be read, or is empty.
    #[error("observer token file {path}: {why}")]
    ObserverToken {
        /// The token file.
        path: PathBuf,
        /// What is wrong with it.
        why: String,
    },
    /// The observer could not start (its address, its TLS files).
    #[error(transparent)]
    Observer(#[from] rusm_observer::ObserverError),
    /// `[cluster]`: the node's certificates, or its UDP address.
    #[error("cluster: {0}")]
    Cluster(String),
}
