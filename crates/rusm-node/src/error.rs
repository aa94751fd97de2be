//! Why a node could not boot.

use std::path::PathBuf;

/// A node that cannot boot says why, naming the file at fault.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error(transparent)]
    Store(#[from] rusm_kv::KvError),
    #[error("component `{component}`: {error}")]
    Load {
        component: String,
        error: rusm_wasm::LoadError,
    },
    #[error("{0}: not a component of the manifest, and not a .wasm or .wat file")]
    UnknownTarget(String),
    #[error("cannot load {path}: {error}")]
    Target {
        path: PathBuf,
        error: rusm_wasm::LoadError,
    },
    #[error("the Wasm engine could not start: {0}")]
    Engine(String),
    #[error("the node could not spawn `{0}`: {1}")]
    Spawn(String, rusm_core::Error),
}
