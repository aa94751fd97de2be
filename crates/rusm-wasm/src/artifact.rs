//! Artifacts: compiled guests, cached by content hash.
//!
//! A guest's bytes (or text) are compiled once per runtime; loading the same
//! bytes again returns the same [`Artifact`]. Each artifact builds its
//! `InstancePre` (imports resolved against the runtime's linker) once per
//! engine, so a spawn only allocates and runs.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use sha2::{Digest, Sha256};
use wasmtime::component::Component;
use wasmtime::{Engine, InstancePre, Module, ModuleExport};

use crate::component::{ActorPre, ComponentState};
use crate::engine::Engines;
use crate::module::ModuleState;

/// Why a guest could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read {path}: {error}")]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{name} is not valid WebAssembly text: {message}")]
    Text { name: String, message: String },
    #[error("{name} is not a WebAssembly module or component")]
    NotWasm { name: String },
    #[error("{name} failed to compile: {message}")]
    Compile { name: String, message: String },
}

/// Which of the two shapes of the contract a guest has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArtifactKind {
    Module,
    Component,
}

/// A compiled guest, ready to spawn. Cheap to clone.
#[derive(Clone)]
pub struct Artifact(pub(crate) Arc<ArtifactInner>);

pub(crate) struct ArtifactInner {
    pub(crate) name: String,
    pub(crate) code: Code,
    /// Whether it imports any WASI function: a guest that does not gets no
    /// WASI context at all, which makes its spawn much cheaper.
    pub(crate) uses_wasi: bool,
}

pub(crate) enum Code {
    Module(PerEngine<Module, ModuleEntry>),
    Component(PerEngine<Component, ComponentEntry>),
}

/// A module's `InstancePre` and the exports every spawn looks up, resolved
/// once by index: a lookup by name costs a string-pool search per spawn.
pub(crate) struct ModuleEntry {
    pub(crate) pre: InstancePre<ModuleState>,
    pub(crate) memory: Option<ModuleExport>,
    pub(crate) initialize: Option<ModuleExport>,
    /// `run`, else `_start`.
    pub(crate) entry: ModuleExport,
}

impl ModuleEntry {
    pub(crate) fn new(pre: InstancePre<ModuleState>) -> Result<Self, String> {
        let module = pre.module();
        let func = |name: &str| {
            module
                .get_export(name)
                .is_some_and(|ty| {
                    ty.func()
                        .is_some_and(|f| f.params().len() == 0 && f.results().len() == 0)
                })
                .then(|| module.get_export_index(name))
                .flatten()
        };
        let entry = func("run")
            .or_else(|| func("_start"))
            .ok_or("no entry point: export `run` or `_start`")?;
        Ok(ModuleEntry {
            memory: module
                .get_export("memory")
                .is_some_and(|ty| ty.memory().is_some())
                .then(|| module.get_export_index("memory"))
                .flatten(),
            initialize: func("_initialize"),
            entry,
            pre,
        })
    }
}

/// A component's pre-instantiated entry: the `actor` world's `run`, or a
/// `wasi:cli/run` command.
#[derive(Clone)]
pub(crate) enum ComponentEntry {
    Actor(ActorPre<ComponentState>),
    Command(wasmtime_wasi::p2::bindings::CommandPre<ComponentState>),
}

/// The compiled code and its `InstancePre` for each engine. Code is
/// compiled for the on-demand engine, which accepts any module, and moved
/// to the pooled engine on first use; a module that does not fit a pool
/// slot (a huge initial memory) simply never gets a pooled copy.
pub(crate) struct PerEngine<C, P> {
    pub(crate) on_demand: C,
    pooled: OnceLock<Result<C, String>>,
    pre_pooled: OnceLock<Result<P, String>>,
    pre_on_demand: OnceLock<Result<P, String>>,
}

impl<C: Clone, P> PerEngine<C, P> {
    fn new(on_demand: C) -> Self {
        PerEngine {
            on_demand,
            pooled: OnceLock::new(),
            pre_pooled: OnceLock::new(),
            pre_on_demand: OnceLock::new(),
        }
    }

    /// The `InstancePre` for one engine, built on first use and borrowed
    /// afterwards (a spawn clones nothing). `Err` is why the guest cannot
    /// start there (an unknown import, or no fit for the pool).
    pub(crate) fn pre(
        &self,
        pooled: bool,
        move_code: impl FnOnce(&C) -> Result<C, String>,
        link: impl FnOnce(&C) -> Result<P, String>,
    ) -> Result<&P, &str> {
        let pre = if !pooled {
            self.pre_on_demand.get_or_init(|| link(&self.on_demand))
        } else {
            self.pre_pooled.get_or_init(|| {
                let code = self
                    .pooled
                    .get_or_init(|| move_code(&self.on_demand))
                    .clone()?;
                link(&code)
            })
        };
        pre.as_ref().map_err(String::as_str)
    }
}

impl Artifact {
    /// The name it was loaded under (a file stem, or a component name).
    pub fn name(&self) -> &str {
        &self.0.name
    }

    pub fn kind(&self) -> ArtifactKind {
        match self.0.code {
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

/// Compile `binary` (for the on-demand engine, see [`PerEngine`]), through
/// the on-disk cache when one is configured.
pub(crate) fn compile(
    engines: &Engines,
    name: &str,
    binary: &[u8],
    digest: [u8; 32],
    cache_dir: Option<&Path>,
) -> Result<ArtifactInner, LoadError> {
    let is_component =
        binary.len() >= 8 && binary[0..4] == *b"\0asm" && binary[4..8] != [1, 0, 0, 0];
    let is_module = binary.len() >= 8 && binary[0..4] == *b"\0asm" && binary[4..8] == [1, 0, 0, 0];
    if !is_component && !is_module {
        return Err(LoadError::NotWasm {
            name: name.to_string(),
        });
    }
    let engine = &engines.on_demand;
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
        (Code::Module(PerEngine::new(module)), uses_wasi)
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
        (Code::Component(PerEngine::new(component)), uses_wasi)
    };
    let (code, uses_wasi) = code;
    Ok(ArtifactInner {
        name: name.to_string(),
        code,
        uses_wasi,
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

/// Move compiled code to the pooled engine: both engines share their
/// code-shaping settings, so this deserializes instead of compiling (and
/// checks that the module fits a pool slot).
pub(crate) fn move_module(module: &Module, to: &Engine) -> Result<Module, String> {
    let bytes = module.serialize().map_err(|e| e.to_string())?;
    // SAFETY: serialized just now by this process from a module of a
    // compatible engine.
    unsafe { Module::deserialize(to, &bytes) }.map_err(|e| e.to_string())
}

pub(crate) fn move_component(component: &Component, to: &Engine) -> Result<Component, String> {
    let bytes = component.serialize().map_err(|e| e.to_string())?;
    // SAFETY: as above.
    unsafe { Component::deserialize(to, &bytes) }.map_err(|e| e.to_string())
}
