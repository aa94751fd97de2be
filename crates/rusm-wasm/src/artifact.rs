//! Artifacts: compiled guests, cached by content hash.
//!
//! A guest's bytes (or text) are compiled once per runtime; loading the same
//! bytes again returns the same artifact. Each artifact builds its
//! `InstancePre` (imports resolved against the runtime's linker) once per
//! engine, so a spawn only allocates and runs.
//!
//! [`Compiled`] is generic over the runtime its processes reach (the
//! shapes' store data holds it); the public `Artifact` is the runtime's
//! own instance of it (`runtime.rs`).

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::component::Component;
use wasmtime::{Engine, Module};

use crate::actor::Runtime;
use crate::component::ComponentCode;
use crate::engine::{EngineKind, Engines};
use crate::module::ModuleCode;

/// Why a guest could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("cannot read {path}: {error}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        error: std::io::Error,
    },
    /// The bytes are neither binary WebAssembly nor valid text.
    #[error("{name} is not valid WebAssembly text: {message}")]
    Text {
        /// The guest's name.
        name: String,
        /// The parser's message.
        message: String,
    },
    /// The binary is neither a core module nor a component.
    #[error("{name} is not a WebAssembly module or component")]
    NotWasm {
        /// The guest's name.
        name: String,
    },
    /// Wasmtime rejected the guest.
    #[error("{name} failed to compile: {message}")]
    Compile {
        /// The guest's name.
        name: String,
        /// Wasmtime's message.
        message: String,
    },
}

/// Which of the two shapes of the contract a guest has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArtifactKind {
    /// A core module with the flat `"rusm"` imports.
    Module,
    /// A component of the `rusm:runtime@0.1.0` world (or a `wasi:cli`
    /// command).
    Component,
}

/// A compiled guest, ready to spawn.
///
/// Aligned to 128 bytes so that, behind its `Arc`, the reference counts
/// (written by every spawn and exit, on whichever core) sit on a cache
/// line of their own and do not evict the fields each spawn reads.
#[repr(align(128))]
pub(crate) struct Compiled<R: 'static> {
    pub(crate) name: String,
    pub(crate) code: Code<R>,
    /// Whether it imports any WASI function: a guest that does not gets no
    /// WASI context at all, which makes its spawn much cheaper.
    pub(crate) uses_wasi: bool,
    /// The SHA-256 of its binary form: what the memo of loaded guests is
    /// keyed by, and how a reload tells changed code from unchanged.
    pub(crate) digest: [u8; 32],
}

/// A guest's code, by shape.
pub(crate) enum Code<R: 'static> {
    Module(ModuleCode<R>),
    Component(ComponentCode<R>),
}

impl<R: 'static> Compiled<R> {
    pub(crate) fn kind(&self) -> ArtifactKind {
        match self.code {
            Code::Module(_) => ArtifactKind::Module,
            Code::Component(_) => ArtifactKind::Component,
        }
    }
}

/// The binary form of a guest given as `.wasm` or `.wat` bytes.
pub(crate) fn to_binary<'a>(
    name: &str,
    bytes: &'a [u8],
) -> Result<std::borrow::Cow<'a, [u8]>, LoadError> {
    wat::parse_bytes(bytes).map_err(|e| LoadError::Text {
        name: name.to_string(),
        message: e.to_string(),
    })
}

pub(crate) fn hash(binary: &[u8]) -> [u8; 32] {
    Sha256::digest(binary).into()
}

pub(crate) fn read(path: &Path) -> Result<Vec<u8>, LoadError> {
    std::fs::read(path).map_err(|error| LoadError::Read {
        path: path.to_path_buf(),
        error,
    })
}

/// Compile `binary` (for the on-demand engine, see
/// [`PerEngine`](crate::engine::PerEngine)), through the on-disk cache when
/// one is configured.
pub(crate) fn compile<R: Runtime>(
    engines: &Engines,
    name: &str,
    binary: &[u8],
    digest: [u8; 32],
    cache_dir: Option<&Path>,
) -> Result<Compiled<R>, LoadError> {
    let is_component =
        binary.len() >= 8 && binary[0..4] == *b"\0asm" && binary[4..8] != [1, 0, 0, 0];
    let is_module = binary.len() >= 8 && binary[0..4] == *b"\0asm" && binary[4..8] == [1, 0, 0, 0];
    if !is_component && !is_module {
        return Err(LoadError::NotWasm {
            name: name.to_string(),
        });
    }
    let engine = engines.get(EngineKind::OnDemand);
    let cache_file = cache_dir.map(|d| d.join(cache_name(engine, &digest)));
    let compile_err = |e: wasmtime::Error| LoadError::Compile {
        name: name.to_string(),
        message: format!("{e:#}"),
    };
    let code = if is_module {
        let module = match cache_file
            .as_deref()
            .and_then(|f| cached(f, |b| unsafe_deserialize_module(engine, b)))
        {
            Some(m) => m,
            None => {
                let m = Module::new(engine, binary).map_err(compile_err)?;
                store_cache(cache_file.as_deref(), || m.serialize());
                m
            }
        };
        let uses_wasi = module.imports().any(|i| i.module().starts_with("wasi"));
        (Code::Module(ModuleCode::new(module)), uses_wasi)
    } else {
        let component = match cache_file
            .as_deref()
            .and_then(|f| cached(f, |b| unsafe_deserialize_component(engine, b)))
        {
            Some(c) => c,
            None => {
                let c = Component::new(engine, binary).map_err(compile_err)?;
                store_cache(cache_file.as_deref(), || c.serialize());
                c
            }
        };
        let uses_wasi = component
            .component_type()
            .imports(engine)
            .any(|(name, _)| name.starts_with("wasi:"));
        (Code::Component(ComponentCode::new(component)), uses_wasi)
    };
    let (code, uses_wasi) = code;
    Ok(Compiled {
        name: name.to_string(),
        code,
        uses_wasi,
        digest,
    })
}

/// Cache entries are keyed by the guest's hash and the engine's
/// compatibility hash, so a Wasmtime upgrade or a settings change never
/// loads stale code.
fn cache_name(engine: &Engine, digest: &[u8; 32]) -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut h);
    format!("{}-{:016x}.cwasm", hex::encode(digest), h.finish())
}

fn cached<T>(file: &Path, load: impl FnOnce(&[u8]) -> wasmtime::Result<T>) -> Option<T> {
    let bytes = std::fs::read(file).ok()?;
    match load(&bytes) {
        Ok(v) => Some(v),
        Err(e) => {
            tracing::debug!(file = %file.display(), error = %e, "ignoring unusable cache entry");
            None
        }
    }
}

fn store_cache(file: Option<&Path>, serialize: impl FnOnce() -> wasmtime::Result<Vec<u8>>) {
    let Some(file) = file else { return };
    let Ok(bytes) = serialize() else { return };
    // Write then rename, so a concurrent reader never sees half a file.
    let tmp = file.with_extension(format!("tmp{}", std::process::id()));
    if let Some(dir) = file.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    if std::fs::write(&tmp, bytes).is_ok() {
        let _ = std::fs::rename(&tmp, file);
    }
}

fn unsafe_deserialize_module(engine: &Engine, bytes: &[u8]) -> wasmtime::Result<Module> {
    // SAFETY: the bytes come from this runtime's own cache directory, written
    // by `Module::serialize` under a name that includes the engine's
    // compatibility hash; Wasmtime checks the header again.
    unsafe { Module::deserialize(engine, bytes) }
}

fn unsafe_deserialize_component(engine: &Engine, bytes: &[u8]) -> wasmtime::Result<Component> {
    // SAFETY: as for modules above.
    unsafe { Component::deserialize(engine, bytes) }
}
