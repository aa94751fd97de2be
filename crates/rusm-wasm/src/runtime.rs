//! `WasmRuntime`: loads guests, registers components, and spawns Wasm
//! processes on an actor-core node.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use rusm_caps::Capabilities;
use rusm_core::{
    Ctx, Error, ExitReason, ExitWatch, Node, Pid, ProcessQuota, SpawnOptions, StartFn,
};
use wasmtime::component::Linker as ComponentLinker;
use wasmtime::{Extern, Linker, PoolConcurrencyLimitError, Store, TypedFunc};
use wasmtime_wasi::WasiView;

use crate::actor::Actor;
use crate::artifact::{
    self, Artifact, ArtifactInner, Code, ComponentEntry, LoadError, ModuleEntry,
};
use crate::component::{self, ActorPre, ComponentState};
use crate::engine::{Engines, WasmConfig};
use crate::exit::{describe, exit_reason, too_many_resources};
use crate::limits::Limits;
use crate::module::{self, ModuleState};
use crate::wasi;

/// Called for every Wasm process spawned, with its effective capabilities
/// (the lifecycle log's spawn line).
pub type SpawnObserver = Arc<dyn Fn(Pid, &str, &Capabilities) + Send + Sync>;

/// What a runtime is attached to besides its node.
#[derive(Clone, Default)]
pub struct RuntimeOptions {
    /// The node's durable store, for processes granted `allow-storage`.
    pub kv: Option<rusm_kv::Store>,
    /// Where `./.env` is looked for (environment grants); the current
    /// directory if `None`.
    pub env_dir: Option<PathBuf>,
    /// Where compiled artifacts are cached on disk, to skip compilation on
    /// the next start; no disk cache if `None`.
    pub cache_dir: Option<PathBuf>,
    pub on_spawn: Option<SpawnObserver>,
}

/// A component registered for spawn-by-name.
#[derive(Clone)]
struct Registered {
    /// Shared by the processes it runs, as their name and component.
    name: Arc<str>,
    artifact: Artifact,
    /// The declared profile; `None` for an ad-hoc registration, whose
    /// processes inherit their spawner's capabilities.
    caps: Option<Arc<Capabilities>>,
}

/// The Wasm backend of one node. Cheap to clone.
#[derive(Clone)]
pub struct WasmRuntime {
    inner: Arc<RuntimeInner>,
}

pub(crate) struct RuntimeInner {
    node: Node,
    config: WasmConfig,
    engines: Engines,
    module_linkers: [Linker<ModuleState>; 2],
    component_linkers: [ComponentLinker<ComponentState>; 2],
    artifacts: Mutex<HashMap<[u8; 32], Artifact>>,
    components: RwLock<HashMap<String, Registered>>,
    /// Process quotas by profile name, then by cap.
    quotas: RwLock<HashMap<Box<str>, Vec<(u64, Arc<ProcessQuota>)>>>,
    pub(crate) kv: Option<rusm_kv::Store>,
    env_dir: PathBuf,
    cache_dir: Option<PathBuf>,
    on_spawn: Option<SpawnObserver>,
}

/// What to spawn and how, for [`WasmRuntime::spawn`].
pub struct WasmSpawn {
    /// The process's name in logs and `info` (a component name or a file
    /// stem); also `argv[0]`. Shared, like `caps`, so that spawning many
    /// processes of one kind allocates neither again.
    pub name: Arc<str>,
    /// WASI arguments after `argv[0]`.
    pub args: Vec<String>,
    pub caps: Arc<Capabilities>,
    /// The spawner (`Pid::NODE` from the host).
    pub parent: Pid,
    /// Links, monitors, first message: as for any actor-core process.
    pub options: SpawnOptions,
}

/// Everything one Wasm spawn needs, whoever asked for it.
struct Launch {
    artifact: Artifact,
    caps: Arc<Capabilities>,
    /// The registered component it runs, if spawned by name.
    component: Option<Arc<str>>,
    name: Arc<str>,
    args: Vec<String>,
    parent: Pid,
    options: SpawnOptions,
}

impl Launch {
    /// An artifact spawned directly by the host.
    fn host(artifact: &Artifact, spawn: WasmSpawn) -> Self {
        Launch {
            artifact: artifact.clone(),
            caps: spawn.caps,
            component: None,
            name: spawn.name,
            args: spawn.args,
            parent: spawn.parent,
            options: spawn.options,
        }
    }

    /// A registered component, spawned by name.
    fn component(
        registered: Registered,
        caps: Arc<Capabilities>,
        args: Vec<String>,
        parent: Pid,
        options: SpawnOptions,
    ) -> Self {
        Launch {
            artifact: registered.artifact,
            caps,
            component: Some(registered.name.clone()),
            name: registered.name,
            args,
            parent,
            options,
        }
    }
}

const POOLED: usize = 0;
const ON_DEMAND: usize = 1;

impl WasmRuntime {
    pub fn new(node: Node, config: WasmConfig, options: RuntimeOptions) -> wasmtime::Result<Self> {
        let engines = Engines::new(&config)?;
        let module_linkers = [
            module::linker(&engines.pooled)?,
            module::linker(&engines.on_demand)?,
        ];
        let component_linkers = [
            component::linker(&engines.pooled)?,
            component::linker(&engines.on_demand)?,
        ];
        Ok(WasmRuntime {
            inner: Arc::new(RuntimeInner {
                node,
                config,
                engines,
                module_linkers,
                component_linkers,
                artifacts: Mutex::new(HashMap::new()),
                components: RwLock::new(HashMap::new()),
                quotas: RwLock::new(HashMap::new()),
                kv: options.kv,
                env_dir: options.env_dir.unwrap_or_else(|| PathBuf::from(".")),
                cache_dir: options.cache_dir,
                on_spawn: options.on_spawn,
            }),
        })
    }

    pub fn node(&self) -> &Node {
        &self.inner.node
    }

    /// Load a `.wasm` or `.wat` file, named by its stem.
    pub fn load_file(&self, path: &Path) -> Result<Artifact, LoadError> {
        let bytes = artifact::read(path)?;
        let name = path
            .file_stem()
            .map_or_else(|| "guest".into(), |s| s.to_string_lossy().into_owned());
        self.load_bytes(&name, &bytes)
    }

    /// Load a guest from bytes (binary or text). The same bytes load once.
    pub fn load_bytes(&self, name: &str, bytes: &[u8]) -> Result<Artifact, LoadError> {
        let binary = artifact::to_binary(name, bytes)?;
        let digest = artifact::hash(&binary);
        if let Some(a) = self.inner.artifacts.lock().get(&digest) {
            return Ok(a.clone());
        }
        let compiled: ArtifactInner = artifact::compile(
            &self.inner.engines,
            name,
            &binary,
            digest,
            self.inner.cache_dir.as_deref(),
        )?;
        let a = Artifact(Arc::new(compiled));
        Ok(self
            .inner
            .artifacts
            .lock()
            .entry(digest)
            .or_insert(a)
            .clone())
    }

    /// Register a component for spawn-by-name. With `Some(caps)` it is
    /// *declared*: it runs under those capabilities whoever spawns it, and
    /// its name belongs to its processes. With `None` it is ad hoc: it
    /// inherits its spawner's capabilities.
    pub fn add_component(&self, name: &str, artifact: Artifact, caps: Option<Capabilities>) {
        self.inner.components.write().insert(
            name.to_string(),
            Registered {
                name: name.into(),
                artifact,
                caps: caps.map(Arc::new),
            },
        );
    }

    /// Spawn a Wasm process.
    pub fn spawn(&self, artifact: &Artifact, spawn: WasmSpawn) -> Result<Pid, Error> {
        self.inner.spawn_process(Launch::host(artifact, spawn))
    }

    /// Spawn a Wasm process and get a future of its exit reason.
    pub fn spawn_watched(
        &self,
        artifact: &Artifact,
        spawn: WasmSpawn,
    ) -> Result<(Pid, ExitWatch), Error> {
        self.inner
            .spawn_process_watched(Launch::host(artifact, spawn))
    }

    /// A registered component and the capabilities it runs under when the
    /// host spawns it: its declared profile, or `sandboxed` for an ad-hoc
    /// one (the host grants nothing by default).
    fn registered_for_host(&self, name: &str) -> Result<(Registered, Arc<Capabilities>), Error> {
        let reg = self.inner.registered(name)?;
        let caps = reg
            .caps
            .clone()
            .unwrap_or_else(|| Arc::new(Capabilities::sandboxed()));
        Ok((reg, caps))
    }

    /// Spawn a registered component from the host, under its declared
    /// capabilities (sandboxed for an ad-hoc one: the host grants nothing
    /// by default).
    pub fn spawn_component(
        &self,
        name: &str,
        parent: Pid,
        options: SpawnOptions,
    ) -> Result<Pid, Error> {
        let (registered, caps) = self.registered_for_host(name)?;
        self.inner.spawn_process(Launch::component(
            registered,
            caps,
            Vec::new(),
            parent,
            options,
        ))
    }

    /// Spawn a registered component as a root process from the host, with
    /// WASI arguments, and get a future of its exit reason.
    pub fn spawn_component_watched(
        &self,
        name: &str,
        args: Vec<String>,
    ) -> Result<(Pid, ExitWatch), Error> {
        let (registered, caps) = self.registered_for_host(name)?;
        self.inner.spawn_process_watched(Launch::component(
            registered,
            caps,
            args,
            Pid::NODE,
            SpawnOptions::new(),
        ))
    }

    /// A supervisor start function for a registered component: the child
    /// runs under its declared profile, linked and monitored by the
    /// supervisor.
    pub fn start_fn(&self, name: &str) -> StartFn {
        let rt = self.clone();
        let name = name.to_string();
        Arc::new(move |ctx: &Ctx, options: SpawnOptions| {
            rt.spawn_component(&name, ctx.pid(), options)
        })
    }

    /// Whether `name` is a declared component (its name is reserved for
    /// its own processes).
    pub fn is_component_name(&self, name: &str) -> bool {
        self.inner.is_component_name(name)
    }
}

impl RuntimeInner {
    fn registered(&self, name: &str) -> Result<Registered, Error> {
        self.components
            .read()
            .get(name)
            .cloned()
            .ok_or(Error::NotFound)
    }

    pub(crate) fn is_registered(&self, name: &str) -> bool {
        self.components.read().contains_key(name)
    }

    pub(crate) fn is_component_name(&self, name: &str) -> bool {
        self.components
            .read()
            .get(name)
            .is_some_and(|r| r.caps.is_some())
    }

    /// `spawn` called by a guest: the spawn policy picks the child's
    /// capabilities.
    pub(crate) fn spawn_by_name(
        self: &Arc<Self>,
        spawner: &Ctx,
        spawner_caps: &Arc<Capabilities>,
        name: &str,
        arg: Vec<u8>,
        link: bool,
    ) -> Result<Pid, Error> {
        let reg = self.registered(name)?;
        let caps = reg.caps.clone().unwrap_or_else(|| spawner_caps.clone());
        let mut options = SpawnOptions::new().link(link);
        if !arg.is_empty() {
            options = options.first_message(0, arg);
        }
        self.spawn_process(Launch::component(
            reg,
            caps,
            Vec::new(),
            spawner.pid(),
            options,
        ))
    }

    fn options_for(
        &self,
        caps: &Capabilities,
        name: &Arc<str>,
        options: SpawnOptions,
    ) -> SpawnOptions {
        let quota = caps.max_processes.map(|max| self.quota(&caps.profile, max));
        let max_queued =
            usize::try_from(caps.max_queued_mb.saturating_mul(1 << 20)).unwrap_or(usize::MAX);
        options
            .name(name.clone())
            .mailbox_capacity(caps.mailbox_capacity)
            .max_queued(Some(max_queued))
            .quota(quota)
    }

    /// The process quota of a profile, shared by every spawn under it
    /// (a per-spawn override of `max_processes` under the same profile name
    /// is a quota of its own). Looked up under a read lock without
    /// allocating: every spawn under a capped profile (all of `sandboxed`)
    /// comes here.
    fn quota(&self, profile: &str, max: u64) -> Arc<ProcessQuota> {
        let find = |quotas: &[(u64, Arc<ProcessQuota>)]| {
            quotas
                .iter()
                .find(|(m, _)| *m == max)
                .map(|(_, q)| q.clone())
        };
        if let Some(q) = self.quotas.read().get(profile).and_then(|qs| find(qs)) {
            return q;
        }
        let mut quotas = self.quotas.write();
        let of_profile = quotas.entry(profile.into()).or_default();
        if let Some(q) = find(of_profile) {
            return q;
        }
        let q = ProcessQuota::new(max);
        of_profile.push((max, q.clone()));
        q
    }

    fn spawn_process(self: &Arc<Self>, launch: Launch) -> Result<Pid, Error> {
        Ok(self.start(launch, false)?.0)
    }

    fn spawn_process_watched(self: &Arc<Self>, launch: Launch) -> Result<(Pid, ExitWatch), Error> {
        let (pid, watch) = self.start(launch, true)?;
        Ok((pid, watch.expect("asked for a watch")))
    }

    /// Every Wasm spawn goes through here; only spawns that asked for an
    /// exit watch pay for one.
    fn start(
        self: &Arc<Self>,
        launch: Launch,
        watched: bool,
    ) -> Result<(Pid, Option<ExitWatch>), Error> {
        let Launch {
            artifact,
            caps,
            component,
            name,
            args,
            parent,
            options,
        } = launch;
        let options = self.options_for(&caps, &name, options);
        let rt = self.clone();
        // Kept for the spawn log only when someone listens: every clone of a
        // shared `Arc` is a write to a cache line all spawns touch.
        let log = (self.on_spawn.is_some() || tracing::enabled!(tracing::Level::DEBUG))
            .then(|| (name.clone(), caps.clone()));
        // Boxed: the body's future is ~2 KiB (it holds Wasmtime's
        // instantiate and call futures), and unboxed it would be copied
        // whole at every move on the way into the task, several per spawn.
        let body = move |ctx| Box::pin(run(rt, ctx, artifact, caps, component, name, args));
        let (pid, watch) = if watched {
            let (pid, watch) = self.node.spawn_watched(parent, options, body)?;
            (pid, Some(watch))
        } else {
            (self.node.spawn_from(parent, options, body)?, None)
        };
        if let Some((name, caps)) = log {
            self.spawned(pid, &name, &caps);
        }
        Ok((pid, watch))
    }

    fn spawned(&self, pid: Pid, name: &str, caps: &Capabilities) {
        tracing::debug!(%pid, name, caps = %caps.summary(), "wasm spawn");
        if let Some(observer) = &self.on_spawn {
            observer(pid, name, caps);
        }
    }
}

/// The body of every Wasm process.
async fn run(
    rt: Arc<RuntimeInner>,
    ctx: Ctx,
    artifact: Artifact,
    caps: Arc<Capabilities>,
    component: Option<Arc<str>>,
    name: Arc<str>,
    args: Vec<String>,
) -> ExitReason {
    // A grant that cannot be built ends the process before any guest code,
    // whether or not the guest would have used it.
    let mut wasi = if artifact.0.uses_wasi || !caps.preopens.is_empty() {
        let mut argv = Vec::with_capacity(args.len() + 1);
        argv.push(name.to_string());
        argv.extend(args);
        match wasi::builder(&caps, &argv, &rt.env_dir) {
            Ok(b) => Some(b),
            Err(e) => return ExitReason::failed_to_start(e),
        }
    } else {
        None
    };
    let limits = Limits::new(caps.max_memory_mb);
    let open_files = usize::try_from(caps.max_open_files).unwrap_or(usize::MAX);
    let crash = |e: &wasmtime::Error| match too_many_resources(e, open_files) {
        Some(reason) => reason,
        None => exit_reason(e),
    };
    let fits_pool = caps.max_memory_mb <= rt.config.pool_memory_mb;
    let actor = Actor {
        ctx,
        runtime: rt.clone(),
        caps,
        component,
        current: None,
    };
    match &artifact.0.code {
        Code::Module(code) => {
            let mut data = ModuleState {
                actor,
                wasi: wasi.as_mut().map(|b| {
                    let mut p1 = b.build_p1();
                    WasiView::ctx(&mut p1).table.set_max_capacity(open_files);
                    Box::new(p1)
                }),
                limits,
                memory: None,
            };
            for &engine in engines_to_try(fits_pool) {
                let entry = match code.pre(
                    engine == POOLED,
                    |m| artifact::move_module(m, &rt.engines.pooled),
                    |m| {
                        let pre = rt.module_linkers[engine]
                            .instantiate_pre(m)
                            .map_err(|e| describe(&e))?;
                        ModuleEntry::new(pre)
                    },
                ) {
                    Ok(p) => p,
                    // No pooled copy (it does not fit a slot): on demand.
                    Err(_) if engine == POOLED => continue,
                    Err(e) => return ExitReason::failed_to_start(e),
                };
                let pre = &entry.pre;
                let mut store = Store::new(pre.module().engine(), data);
                store.limiter(|s| s);
                store.epoch_deadline_async_yield_and_update(1);
                let instance = match pre.instantiate_async(&mut store).await {
                    Ok(i) => i,
                    Err(e) if engine == POOLED && pool_exhausted(&e) => {
                        data = store.into_data();
                        continue;
                    }
                    Err(e) => return start_failure(&e),
                };
                return match run_module_entry(&mut store, instance, entry).await {
                    Ok(()) => ExitReason::Normal,
                    Err(e) => crash(&e),
                };
            }
            unreachable!("the on-demand engine is always tried last")
        }
        Code::Component(code) => {
            let mut data = ComponentState {
                actor,
                wasi: wasi.as_mut().map(|b| Box::new(b.build())),
                table: {
                    let mut table = wasmtime::component::ResourceTable::new();
                    table.set_max_capacity(open_files);
                    table
                },
                limits,
            };
            for &engine in engines_to_try(fits_pool) {
                let entry = match code.pre(
                    engine == POOLED,
                    |c| artifact::move_component(c, &rt.engines.pooled),
                    |c| component_entry(&rt.component_linkers[engine], c),
                ) {
                    Ok(p) => p,
                    Err(_) if engine == POOLED => continue,
                    Err(e) => return ExitReason::failed_to_start(e),
                };
                let engine_ref = match engine {
                    POOLED => &rt.engines.pooled,
                    _ => &rt.engines.on_demand,
                };
                let mut store = Store::new(engine_ref, data);
                store.limiter(|s| s);
                store.epoch_deadline_async_yield_and_update(1);
                let outcome = match &entry {
                    ComponentEntry::Actor(pre) => match pre.instantiate_async(&mut store).await {
                        Ok(world) => Ok(world.call_run(&mut store).await.map(|()| true)),
                        Err(e) => Err(e),
                    },
                    ComponentEntry::Command(pre) => match pre.instantiate_async(&mut store).await {
                        Ok(cmd) => Ok(cmd
                            .wasi_cli_run()
                            .call_run(&mut store)
                            .await
                            .map(|r| r.is_ok())),
                        Err(e) => Err(e),
                    },
                };
                return match outcome {
                    Err(e) if engine == POOLED && pool_exhausted(&e) => {
                        data = store.into_data();
                        continue;
                    }
                    Err(e) => start_failure(&e),
                    Ok(Ok(true)) => ExitReason::Normal,
                    Ok(Ok(false)) => ExitReason::from_exit_code(1),
                    Ok(Err(e)) => crash(&e),
                };
            }
            unreachable!("the on-demand engine is always tried last")
        }
    }
}

fn engines_to_try(fits_pool: bool) -> &'static [usize] {
    if fits_pool {
        &[POOLED, ON_DEMAND]
    } else {
        &[ON_DEMAND]
    }
}

fn pool_exhausted(e: &wasmtime::Error) -> bool {
    e.chain().any(|c| c.is::<PoolConcurrencyLimitError>())
}

/// Instantiation failed: the guest never ran (or its start function
/// trapped, which is still "could not be built").
fn start_failure(e: &wasmtime::Error) -> ExitReason {
    ExitReason::failed_to_start(describe(e))
}

fn component_entry(
    linker: &ComponentLinker<ComponentState>,
    component: &wasmtime::component::Component,
) -> Result<ComponentEntry, String> {
    let pre = linker
        .instantiate_pre(component)
        .map_err(|e| describe(&e))?;
    if let Ok(actor) = ActorPre::new(pre.clone()) {
        return Ok(ComponentEntry::Actor(actor));
    }
    match wasmtime_wasi::p2::bindings::CommandPre::new(pre) {
        Ok(cmd) => Ok(ComponentEntry::Command(cmd)),
        Err(_) => Err("no entry point: export `run` or `wasi:cli/run`".into()),
    }
}

async fn run_module_entry(
    store: &mut Store<ModuleState>,
    instance: wasmtime::Instance,
    entry: &ModuleEntry,
) -> wasmtime::Result<()> {
    if let Some(memory) = entry
        .memory
        .as_ref()
        .and_then(|m| instance.get_module_export(&mut *store, m))
        .and_then(Extern::into_memory)
    {
        // (Its size reached `process_info` through the limiter already.)
        store.data_mut().memory = Some(memory);
    }
    let func = |store: &mut Store<ModuleState>, export| {
        let func = instance
            .get_module_export(&mut *store, export)
            .and_then(Extern::into_func)
            .expect("the export was found in this instance's module");
        // SAFETY: `ModuleEntry::new` only keeps exports of type `[] -> []`.
        unsafe { TypedFunc::<(), ()>::new_unchecked(&*store, func) }
    };
    if let Some(init) = &entry.initialize {
        func(store, init).call_async(&mut *store, ()).await?;
    }
    func(store, &entry.entry).call_async(&mut *store, ()).await
}
