//! `WasmRuntime`: loads guests, keeps the components it can spawn by name,
//! and spawns Wasm processes on an actor-core node.

use std::collections::HashMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock, Weak};

use parking_lot::Mutex;
use rusm_caps::Capabilities;
use rusm_core::{Ctx, Error, ExitReason, ExitSet, ExitWatch, Node, Pid, SpawnOptions, StartFn};
use wasmtime::Linker;
use wasmtime::component::Linker as ComponentLinker;

use crate::actor::{AbiError, Runtime};
use crate::artifact::{self, ArtifactKind, Code, Compiled, LoadError};
use crate::cluster::ClusterCalls;
use crate::component::{self, ComponentCode, ComponentState};
use crate::components::{Components, Registered, Spawner};
use crate::engine::{Engines, PerKind, Reach, WasmConfig};
use crate::incoming::{IncomingRequest, Pending};
use crate::launch::{Launcher, Process, launch};
use crate::module::{self, ModuleCode, ModuleState};
use crate::outbound::{HttpClient, OutboundOptions};
use crate::quotas::Quotas;
use crate::sockets::Sockets;

/// Called for every Wasm process spawned, with its effective capabilities
/// (the lifecycle log's spawn line; the observer keeps the `Arc`, shared by
/// every process of a component, to show each process's grants).
pub type SpawnObserver = Arc<dyn Fn(Pid, &str, &Arc<Capabilities>) + Send + Sync>;

/// What a runtime is attached to besides its node.
#[derive(Clone, Default)]
pub struct RuntimeOptions {
    /// The node's durable key-value store, for processes granted
    /// `allow-storage`.
    pub kv: Option<rusm_kv::Store>,
    /// Where `./.env` is looked for (environment grants); the current
    /// directory if `None`.
    pub env_dir: Option<PathBuf>,
    /// Where compiled artifacts are cached on disk, to skip compilation on
    /// the next start; no disk cache if `None`.
    pub cache_dir: Option<PathBuf>,
    /// Told of every Wasm process spawned.
    pub on_spawn: Option<SpawnObserver>,
    /// How outgoing HTTP is made (`[network]`).
    pub outbound: OutboundOptions,
}

/// A compiled guest, ready to spawn. Cheap to clone.
#[derive(Clone)]
pub struct Artifact(pub(crate) Arc<Compiled<RuntimeInner>>);

impl Artifact {
    /// The name it was loaded under (a file stem, or a component name).
    pub fn name(&self) -> &str {
        &self.0.name
    }

    /// Which shape of the contract it has.
    pub fn kind(&self) -> ArtifactKind {
        self.0.kind()
    }

    /// The first 12 hex digits of the SHA-256 of its binary form, as the
    /// reload log names code (`rusm reload api 1a2b.. -> 3c4d..`).
    pub fn short_hash(&self) -> String {
        hex::encode(&self.0.digest[..6])
    }

    /// Whether both are the same code (the same binary form).
    pub fn same_code(&self, other: &Artifact) -> bool {
        self.0.digest == other.0.digest
    }
}

/// The Wasm backend of one node. Cheap to clone.
#[derive(Clone)]
pub struct WasmRuntime {
    inner: Arc<RuntimeInner>,
}

/// What every process of a runtime shares; processes reach it through the
/// [`Runtime`] trait.
///
/// Aligned to 128 bytes, like `Compiled`: every process holds an `Arc` of
/// it, and the counts' cache line must not be the one its fields are on.
#[repr(align(128))]
pub(crate) struct RuntimeInner {
    node: Node,
    config: WasmConfig,
    engines: Engines,
    /// The linkers of each shape: for processes that start before the
    /// node joins a cluster (or on a node that never does), and after.
    module_linkers: [PerKind<Linker<ModuleState<RuntimeInner>>>; 2],
    component_linkers: [PerKind<ComponentLinker<ComponentState<RuntimeInner>>>; 2],
    /// Guests loaded, by digest, so the same bytes compile once. Weak: the
    /// memo must not keep code alive after a reload replaced it and its
    /// last process ended.
    artifacts: Mutex<HashMap<[u8; 32], Weak<Compiled<RuntimeInner>>>>,
    components: Components<Artifact>,
    quotas: Quotas,
    sockets: Sockets,
    kv: Option<rusm_kv::Store>,
    env_dir: PathBuf,
    cache_dir: Option<PathBuf>,
    on_spawn: Option<SpawnObserver>,
    http: Arc<HttpClient>,
    /// Set once, when the node joins a cluster; read at each cluster call.
    cluster: OnceLock<Arc<dyn ClusterCalls>>,
}

/// What to spawn and how, for [`WasmRuntime::spawn`].
pub struct WasmSpawn {
    /// The process's name in logs and `info` (a component name or a file
    /// stem); also `argv[0]`. Shared, like `caps`, so that spawning many
    /// processes of one kind allocates neither again.
    pub name: Arc<str>,
    /// WASI arguments after `argv[0]`.
    pub args: Vec<String>,
    /// The capabilities it runs under.
    pub caps: Arc<Capabilities>,
    /// The spawner (`Pid::NODE` from the host).
    pub parent: Pid,
    /// Links, monitors, first message: as for any actor-core process.
    pub options: SpawnOptions,
}

/// Everything one Wasm spawn needs, whoever asked for it.
struct Request {
    artifact: Artifact,
    caps: Arc<Capabilities>,
    /// The process's name: the registered component it runs if spawned
    /// by name (`by_name`).
    name: Arc<str>,
    by_name: bool,
    args: Vec<String>,
    parent: Pid,
    options: SpawnOptions,
    /// The HTTP request of a handler process.
    incoming: Option<Box<Pending>>,
    /// Told once the guest is instantiated.
    started: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Request {
    /// An artifact spawned directly by the host.
    fn host(artifact: &Artifact, spawn: WasmSpawn) -> Self {
        Request {
            artifact: artifact.clone(),
            caps: spawn.caps,
            name: spawn.name,
            by_name: false,
            args: spawn.args,
            parent: spawn.parent,
            options: spawn.options,
            incoming: None,
            started: None,
        }
    }

    /// A registered component, spawned by name by `spawner`.
    fn component(
        registered: Registered<Artifact>,
        spawner: Spawner<'_>,
        args: Vec<String>,
        parent: Pid,
        options: SpawnOptions,
    ) -> Self {
        Request {
            caps: registered.caps_for(spawner),
            artifact: registered.artifact,
            name: registered.name,
            by_name: true,
            args,
            parent,
            options,
            incoming: None,
            started: None,
        }
    }
}

impl WasmRuntime {
    /// A runtime for `node`: builds its two engines and their linkers, and
    /// starts the epoch ticker.
    pub fn new(node: Node, config: WasmConfig, options: RuntimeOptions) -> wasmtime::Result<Self> {
        let engines = Engines::new(&config)?;
        let module_linkers = [Reach::Node, Reach::Cluster]
            .map(|reach| PerKind::new(|kind| module::linker(engines.get(kind), reach)));
        let [m_node, m_cluster] = module_linkers;
        let component_linkers = [Reach::Node, Reach::Cluster]
            .map(|reach| PerKind::new(|kind| component::linker(engines.get(kind), reach)));
        let [c_node, c_cluster] = component_linkers;
        let module_linkers = [m_node?, m_cluster?];
        let component_linkers = [c_node?, c_cluster?];
        let http = Arc::new(HttpClient::new(&options.outbound)?);
        Ok(WasmRuntime {
            inner: Arc::new(RuntimeInner {
                node,
                config,
                engines,
                module_linkers,
                component_linkers,
                artifacts: Mutex::new(HashMap::new()),
                components: Components::new(),
                quotas: Quotas::new(),
                sockets: Sockets::default(),
                kv: options.kv,
                env_dir: options.env_dir.unwrap_or_else(|| PathBuf::from(".")),
                cache_dir: options.cache_dir,
                on_spawn: options.on_spawn,
                http,
                cluster: OnceLock::new(),
            }),
        })
    }

    /// The node its processes run on.
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
        if let Some(a) = self
            .inner
            .artifacts
            .lock()
            .get(&digest)
            .and_then(Weak::upgrade)
        {
            return Ok(Artifact(a));
        }
        let compiled = artifact::compile(
            &self.inner.engines,
            name,
            &binary,
            digest,
            self.inner.cache_dir.as_deref(),
        )?;
        let mut memo = self.inner.artifacts.lock();
        // Another thread may have compiled the same bytes meanwhile: keep
        // one copy, so both callers share it.
        if let Some(a) = memo.get(&digest).and_then(Weak::upgrade) {
            return Ok(Artifact(a));
        }
        memo.retain(|_, w| w.strong_count() > 0);
        let a = Arc::new(compiled);
        memo.insert(digest, Arc::downgrade(&a));
        Ok(Artifact(a))
    }

    /// Add a component for spawn-by-name (replacing one of the same name).
    /// With `Some(caps)` it is *declared*: it runs under those capabilities
    /// whoever spawns it, and its name belongs to its processes. With
    /// `None` it is ad hoc: it inherits its spawner's capabilities.
    pub fn add_component(&self, name: &str, artifact: Artifact, caps: Option<Capabilities>) {
        self.inner.components.add(name, artifact, caps);
    }

    /// The artifact a registered component runs now, if `name` is
    /// registered.
    pub fn component(&self, name: &str) -> Option<Artifact> {
        self.inner.components.get(name).ok().map(|r| r.artifact)
    }

    /// Spawn a Wasm process.
    pub fn spawn(&self, artifact: &Artifact, spawn: WasmSpawn) -> Result<Pid, Error> {
        Ok(self
            .inner
            .start(Request::host(artifact, spawn), Watch::No)?
            .0)
    }

    /// Spawn a Wasm process and get a future of its exit reason.
    pub fn spawn_watched(
        &self,
        artifact: &Artifact,
        spawn: WasmSpawn,
    ) -> Result<(Pid, ExitWatch), Error> {
        self.inner.start_watched(Request::host(artifact, spawn))
    }

    /// Spawn a Wasm process whose exit `set` gives, among the others it
    /// watches: for many processes in flight at once.
    pub fn spawn_watched_in(
        &self,
        set: &mut ExitSet,
        artifact: &Artifact,
        spawn: WasmSpawn,
    ) -> Result<Pid, Error> {
        Ok(self
            .inner
            .start(Request::host(artifact, spawn), Watch::In(set))?
            .0)
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
        let registered = self.inner.components.get(name)?;
        let request = Request::component(registered, Spawner::Host, Vec::new(), parent, options);
        Ok(self.inner.start(request, Watch::No)?.0)
    }

    /// Spawn a registered component as a root process from the host, with
    /// WASI arguments, and get a future of its exit reason.
    pub fn spawn_component_watched(
        &self,
        name: &str,
        args: Vec<String>,
    ) -> Result<(Pid, ExitWatch), Error> {
        let registered = self.inner.components.get(name)?;
        self.inner.start_watched(Request::component(
            registered,
            Spawner::Host,
            args,
            Pid::NODE,
            SpawnOptions::new(),
        ))
    }

    /// Spawn a process of the registered component `name` for one HTTP
    /// request (SERVING.md), under its declared profile. The component
    /// must export `wasi:http/incoming-handler`: its `handle` is called
    /// once with the request, and the response it sets goes to
    /// `request.respond`. A component without that export still gets a
    /// pid, and ends `failed to start`; a core module is refused with
    /// [`Error::Invalid`] (preview 1 has no HTTP).
    ///
    /// The process is a full RUSM process: `options` may link or monitor
    /// it, and the lifecycle log shows it like any other.
    pub fn spawn_request(
        &self,
        name: &str,
        request: IncomingRequest,
        options: SpawnOptions,
    ) -> Result<Pid, Error> {
        let spawn = self.request_spawn(name, request, options)?;
        Ok(self.inner.start(spawn, Watch::No)?.0)
    }

    /// Like [`WasmRuntime::spawn_request`], with a future of the exit
    /// reason.
    pub fn spawn_request_watched(
        &self,
        name: &str,
        request: IncomingRequest,
        options: SpawnOptions,
    ) -> Result<(Pid, ExitWatch), Error> {
        let spawn = self.request_spawn(name, request, options)?;
        self.inner.start_watched(spawn)
    }

    /// The spawn of a request process: `name` must be a registered
    /// component; its process gets `request` as its spawn input.
    fn request_spawn(
        &self,
        name: &str,
        request: IncomingRequest,
        options: SpawnOptions,
    ) -> Result<Request, Error> {
        let registered = self.inner.components.get(name)?;
        if registered.artifact.kind() != ArtifactKind::Component {
            return Err(Error::Invalid);
        }
        let mut spawn =
            Request::component(registered, Spawner::Host, Vec::new(), Pid::NODE, options);
        spawn.incoming = Some(Box::new(request.into()));
        Ok(spawn)
    }

    /// Like [`WasmRuntime::spawn_component`], with a receiver told once
    /// the guest is instantiated and about to run its entry point; it
    /// errs (the sender dropped) if the process ends before that, such as
    /// `failed to start`. A WebSocket upgrade waits on it to answer 101,
    /// or 500 for a connection process that cannot start.
    pub fn spawn_component_started(
        &self,
        name: &str,
        parent: Pid,
        options: SpawnOptions,
    ) -> Result<(Pid, tokio::sync::oneshot::Receiver<()>), Error> {
        let registered = self.inner.components.get(name)?;
        let mut request =
            Request::component(registered, Spawner::Host, Vec::new(), parent, options);
        let (tx, rx) = tokio::sync::oneshot::channel();
        request.started = Some(tx);
        Ok((self.inner.start(request, Watch::No)?.0, rx))
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

    /// Make `socket` a WebSocket pid (SERVING.md) whose only writer is
    /// `owner`: a send to it from any other Wasm process returns `DENIED`,
    /// and one with a tag other than 1 (text) or 2 (binary) `INVALID`.
    /// Undo with [`WasmRuntime::release_socket`] when the socket closes.
    pub fn own_socket(&self, socket: Pid, owner: Pid) {
        self.inner.sockets.own(socket, owner);
    }

    /// `socket` is no longer a WebSocket pid.
    pub fn release_socket(&self, socket: Pid) {
        self.inner.sockets.release(socket);
    }

    /// The capabilities a process of the registered component `name`
    /// runs under when the host spawns it.
    pub fn component_caps(&self, name: &str) -> Option<Arc<Capabilities>> {
        let registered = self.inner.components.get(name).ok()?;
        Some(registered.caps_for(Spawner::Host))
    }

    /// Whether `name` is a declared component (its name is reserved for
    /// its own processes).
    pub fn is_component_name(&self, name: &str) -> bool {
        self.inner.components.is_component_name(name)
    }

    /// Give the runtime the cluster its node joined: from now on its
    /// processes' cluster calls (`spawn_on`, `register_global`,
    /// `whereis_global`, `nodes`, `node_of`) and remote pids in
    /// `is_alive` and process control reach `cluster`. Before, every
    /// cluster call answers as on a node without one. Call it before
    /// spawning: a process is linked for what the runtime has when it
    /// starts, and one started earlier keeps the synchronous local-only
    /// `is_alive` and process control (cheaper by a boxed future per
    /// call; it never sees a remote pid as alive). A node joins once: a
    /// second call keeps the first cluster, logs a warning and returns
    /// `false`.
    pub fn set_cluster(&self, cluster: Arc<dyn ClusterCalls>) -> bool {
        let set = self.inner.cluster.set(cluster).is_ok();
        if !set {
            tracing::warn!("the runtime already has a cluster; the new one is ignored");
        }
        set
    }
}

impl Runtime for RuntimeInner {
    fn http_client(&self) -> &Arc<HttpClient> {
        &self.http
    }

    fn spawn_by_name(
        self: &Arc<Self>,
        spawner: &Ctx,
        spawner_caps: &Arc<Capabilities>,
        name: &str,
        arg: Vec<u8>,
        link: bool,
    ) -> Result<Pid, Error> {
        let registered = self.components.get(name)?;
        let mut options = SpawnOptions::new().link(link);
        if !arg.is_empty() {
            options = options.first_message(0, arg);
        }
        let request = Request::component(
            registered,
            Spawner::Process(spawner_caps),
            Vec::new(),
            spawner.pid(),
            options,
        );
        Ok(self.start(request, Watch::No)?.0)
    }

    fn is_registered(&self, name: &str) -> bool {
        self.components.is_registered(name)
    }

    fn is_component_name(&self, name: &str) -> bool {
        self.components.is_component_name(name)
    }

    fn kv(&self) -> Option<&rusm_kv::Store> {
        self.kv.as_ref()
    }

    #[inline]
    fn cluster(&self) -> Option<&dyn ClusterCalls> {
        self.cluster.get().map(|c| &**c)
    }

    #[inline]
    fn may_send(&self, from: Pid, to: Pid, tag: i64) -> Result<(), AbiError> {
        self.sockets.check(from, to, tag)
    }
}

/// Who learns a new process's exit reason.
enum Watch<'a> {
    /// Nobody: monitors and links, as for any process.
    No,
    /// An [`ExitWatch`] of its own.
    One,
    /// An [`ExitSet`] with others.
    In(&'a mut ExitSet),
}

impl RuntimeInner {
    fn start_watched(self: &Arc<Self>, request: Request) -> Result<(Pid, ExitWatch), Error> {
        let (pid, watch) = self.start(request, Watch::One)?;
        Ok((pid, watch.expect("asked for a watch")))
    }

    /// Every Wasm spawn goes through here; only spawns that asked for an
    /// exit watch pay for one.
    fn start(
        self: &Arc<Self>,
        request: Request,
        watch: Watch<'_>,
    ) -> Result<(Pid, Option<ExitWatch>), Error> {
        let Request {
            artifact,
            caps,
            name,
            by_name,
            args,
            parent,
            options,
            incoming,
            started,
        } = request;
        // Kept for the spawn log only when someone listens: every clone of a
        // shared `Arc` is a write to a cache line all spawns touch.
        let log = (self.on_spawn.is_some() || tracing::enabled!(tracing::Level::DEBUG))
            .then(|| (name.clone(), caps.clone()));
        // The name moves into the core's process, the process's one copy.
        let options = self.quotas.spawn_options(&caps, name, options);
        let rt = self.clone();
        let is_module = matches!(artifact.0.code, Code::Module(_));
        let process = Process {
            uses_wasi: artifact.0.uses_wasi,
            artifact,
            caps,
            by_name,
            args,
            request: incoming,
            started,
        };
        // Boxed: the body's future is ~2 KiB (it holds Wasmtime's
        // instantiate and call futures), and unboxed it would be copied
        // whole at every move on the way into the task, several per spawn.
        // One body per shape, chosen here, so that the body is the launch
        // path itself rather than a future moved into another.
        let (pid, watch) = if is_module {
            self.spawn_body(parent, options, watch, move |ctx| {
                Box::pin(launch(rt, ctx, process, module_code))
            })?
        } else {
            self.spawn_body(parent, options, watch, move |ctx| {
                Box::pin(launch(rt, ctx, process, component_code))
            })?
        };
        if let Some((name, caps)) = log {
            self.spawned(pid, &name, &caps);
        }
        Ok((pid, watch))
    }

    fn spawn_body<F, Fut>(
        &self,
        parent: Pid,
        options: SpawnOptions,
        watch: Watch<'_>,
        body: F,
    ) -> Result<(Pid, Option<ExitWatch>), Error>
    where
        F: FnOnce(Ctx) -> Fut + Send + 'static,
        Fut: Future<Output = ExitReason> + Send + 'static,
    {
        Ok(match watch {
            Watch::No => (self.node.spawn_from(parent, options, body)?, None),
            Watch::One => {
                let (pid, watch) = self.node.spawn_watched(parent, options, body)?;
                (pid, Some(watch))
            }
            Watch::In(set) => (
                self.node.spawn_watched_in(set, parent, options, body)?,
                None,
            ),
        })
    }

    fn spawned(&self, pid: Pid, name: &str, caps: &Arc<Capabilities>) {
        tracing::debug!(%pid, name, caps = %caps.summary(), "wasm spawn");
        if let Some(observer) = &self.on_spawn {
            observer(pid, name, caps);
        }
    }
}

impl Launcher<ModuleCode<RuntimeInner>> for RuntimeInner {
    fn engines(&self) -> &Engines {
        &self.engines
    }

    fn linkers(&self, reach: Reach) -> &PerKind<Linker<ModuleState<RuntimeInner>>> {
        &self.module_linkers[reach as usize]
    }

    fn env_dir(&self) -> &Path {
        &self.env_dir
    }

    fn pool_memory_mb(&self) -> u64 {
        self.config.pool_memory_mb
    }
}

impl Launcher<ComponentCode<RuntimeInner>> for RuntimeInner {
    fn engines(&self) -> &Engines {
        &self.engines
    }

    fn linkers(&self, reach: Reach) -> &PerKind<ComponentLinker<ComponentState<RuntimeInner>>> {
        &self.component_linkers[reach as usize]
    }

    fn env_dir(&self) -> &Path {
        &self.env_dir
    }

    fn pool_memory_mb(&self) -> u64 {
        self.config.pool_memory_mb
    }
}

fn module_code(artifact: &Artifact) -> &ModuleCode<RuntimeInner> {
    match &artifact.0.code {
        Code::Module(code) => code,
        Code::Component(_) => unreachable!("`start` launches only modules as modules"),
    }
}

fn component_code(artifact: &Artifact) -> &ComponentCode<RuntimeInner> {
    match &artifact.0.code {
        Code::Component(code) => code,
        Code::Module(_) => unreachable!("`start` launches only components as components"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusm_core::NodeConfig;

    /// After a reload, the old code must go when its last process ends:
    /// only processes and registrations hold an artifact, never the memo
    /// that makes the same bytes compile once.
    #[test]
    fn the_memo_of_loaded_guests_does_not_keep_code_alive() {
        let tokio = tokio::runtime::Runtime::new().expect("a tokio runtime");
        let _entered = tokio.enter();
        let node = Node::new(NodeConfig::default());
        let config = WasmConfig {
            pool_slots: 2,
            ..WasmConfig::default()
        };
        let rt = WasmRuntime::new(node, config, RuntimeOptions::default()).expect("a runtime");
        let a = rt.load_bytes("a", b"(module)").expect("loads");
        let again = rt.load_bytes("a", b"(module)").expect("loads");
        assert!(Arc::ptr_eq(&a.0, &again.0), "the same bytes load once");
        assert!(a.same_code(&again));
        rt.add_component("a", a.clone(), None);
        let b = rt.load_bytes("b", b"(module (func))").expect("loads");
        assert!(!a.same_code(&b));
        assert_ne!(a.short_hash(), b.short_hash());
        let old = Arc::downgrade(&a.0);
        drop((a, again));
        assert!(old.upgrade().is_some(), "still registered");
        rt.add_component("a", b, None);
        assert!(
            old.upgrade().is_none(),
            "replaced, and nothing else holds it"
        );
    }
}
