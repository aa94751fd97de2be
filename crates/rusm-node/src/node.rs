//! Booting, running and stopping a node.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rusm_caps::{Capabilities, Profiles};
use rusm_core::{
    ChildSpec, Ctx, ExitReason, ExitWatch, Node, NodeConfig, Pid, Restart, SpawnOptions, Strategy,
    SupervisorSpec,
};
use rusm_manifest::{ComponentDecl, Manifest};
use rusm_observer::{Hooks, ListenerLimits, ObserverConfig, RunningObserver, TlsFiles};
use rusm_wasm::{OutboundOptions, RuntimeOptions, WasmConfig, WasmRuntime, WasmSpawn};

use crate::NodeError;
use crate::lifecycle::{self, LifecycleLog};

/// A booted node.
pub struct RusmNode {
    node: Node,
    runtime: WasmRuntime,
    profiles: Profiles,
    shutdown_after: Duration,
    supervisor: Option<(Pid, ExitWatch)>,
    /// The `[http]` server, once started; taken by `shutdown`.
    server: std::sync::Mutex<Option<rusm_serve::Server>>,
    /// The manifest's components, as a reload reads their files again.
    components: Arc<[ComponentDecl]>,
    /// `[observer]`: its hooks (counting from boot on) and, once
    /// [`RusmNode::start_observer`] ran, the listener.
    observer: Option<(Arc<Hooks>, ObserverConfig)>,
    running_observer: Option<RunningObserver>,
    /// The observer's hooks, kept after the listener took its copy: other
    /// parts of the node report to them (the cluster's reachable nodes).
    observer_hooks: Option<Arc<Hooks>>,
    /// `[cluster]` membership, once joined; taken by `shutdown` to leave.
    cluster: std::sync::Mutex<Option<rusm_cluster::Cluster>>,
    /// `[cluster]`: processes across nodes, and this run's creation (the
    /// node id in every pid is made of it, from boot on).
    dist: Option<(rusm_cluster::Dist, u64)>,
}

/// Reloads a node's changed components ([`RusmNode::reloader`]): a handle
/// that a signal handler or a file watcher can hold while the node runs.
#[derive(Clone)]
pub struct Reloader {
    node: Node,
    runtime: WasmRuntime,
    components: Arc<[ComponentDecl]>,
    /// The residents' supervisor, through which residents are replaced.
    supervisor: Option<Pid>,
}

/// What a reload did to one component whose file changed.
#[derive(Debug, PartialEq, Eq)]
pub enum Reloaded {
    /// New code from now on: `from` and `to` are the short hashes.
    Replaced {
        /// The component.
        name: String,
        /// The code it ran.
        from: String,
        /// The code it runs now.
        to: String,
    },
    /// The file no longer loads; the old code stays.
    Failed {
        /// The component.
        name: String,
        /// Why, in one line.
        error: String,
    },
}

/// A root process, running.
pub struct Root {
    /// The component name, or the file's for a `.wasm`/`.wat` target.
    pub name: String,
    /// Its pid, for signals and logs.
    pub pid: Pid,
    exit: ExitWatch,
}

impl Root {
    /// Its exit reason, once it ends.
    pub async fn wait(self) -> ExitReason {
        self.exit.await
    }
}

/// What became of the resident components.
#[derive(Debug, PartialEq, Eq)]
pub enum Residents {
    /// There were none.
    None,
    /// All ended and none is due a restart.
    Finished,
    /// The supervisor gave up (restart intensity exceeded, ...).
    GaveUp(ExitReason),
}

/// The observer's settings from `[observer]`, with its token read now:
/// a node must not serve an observer that anyone could open.
fn observer_config(o: &rusm_manifest::ObserverConfig) -> Result<ObserverConfig, NodeError> {
    let bad = |why: String| NodeError::ObserverToken {
        path: o.token_file.clone(),
        why,
    };
    let token = std::fs::read_to_string(&o.token_file).map_err(|e| bad(e.to_string()))?;
    let token = token.trim();
    if token.is_empty() {
        return Err(bad("it is empty: put a long random token in it".into()));
    }
    Ok(ObserverConfig {
        listen: o.listen,
        token: token.to_owned(),
        tls: o.tls.as_ref().map(|t| TlsFiles {
            cert: t.cert.clone(),
            key: t.key.clone(),
        }),
        kv: None,
        limits: ListenerLimits::default(),
    })
}

/// Where compiled artifacts are cached between runs: `$RUSM_CACHE_DIR`,
/// else `$XDG_CACHE_HOME/rusm`, else `~/.cache/rusm`.
fn cache_dir() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("RUSM_CACHE_DIR") {
        return (!d.is_empty()).then(|| PathBuf::from(d));
    }
    if let Some(d) = std::env::var_os("XDG_CACHE_HOME") {
        return Some(PathBuf::from(d).join("rusm"));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache").join("rusm"))
}

/// `[network]` as the Wasm backend takes it.
fn outbound_options(m: &Manifest) -> OutboundOptions {
    OutboundOptions {
        extra_roots: m.network.extra_roots.clone(),
        connect_timeout: m.network.connect_timeout,
        max_concurrent_requests: m.network.max_concurrent_requests,
        // Not a manifest key: the node's default (rusm-wasm, `pool.rs`).
        ..OutboundOptions::default()
    }
}

impl RusmNode {
    /// Boot a node from a manifest (or an empty one without), on the
    /// current tokio runtime. Residents start at once.
    pub fn boot(manifest: Option<&Manifest>) -> Result<RusmNode, NodeError> {
        match crate::os::raise_open_file_limit() {
            Ok(n) => tracing::debug!(open_files = n, "raised the soft open-file limit"),
            Err(e) => tracing::warn!(error = %e, "could not raise the open-file limit"),
        }
        let kv = match manifest.and_then(|m| m.store.as_ref()) {
            Some(path) => Some(rusm_kv::Store::open(path)?),
            None => None,
        };
        let mut observer = match manifest.and_then(|m| m.observer.as_ref()) {
            Some(o) => Some((Hooks::new(), observer_config(o)?)),
            None => None,
        };
        let hooks = observer.as_ref().map(|(h, _)| h.clone());
        let observer_hooks = hooks.clone();
        let config = NodeConfig {
            max_processes: manifest.map_or(1_000_000, |m| m.max_processes),
            max_message_bytes: manifest.map_or(16 << 20, |m| m.max_message_bytes),
            lifecycle: Some(Arc::new(LifecycleLog {
                observer: hooks.clone(),
            })),
            // Final usage is retired into the totals only for someone to
            // look at them.
            accounting: hooks.is_some(),
        };
        let node = Node::new(config);
        let on_spawn: rusm_wasm::SpawnObserver = match hooks {
            Some(hooks) => {
                hooks.attach(&node);
                Arc::new(move |pid, name: &str, caps: &Arc<Capabilities>| {
                    hooks.record_grants(pid, caps);
                    lifecycle::spawned(pid, name, caps);
                })
            }
            None => Arc::new(lifecycle::spawned),
        };
        if let (Some((_, config)), Some(kv)) = (observer.as_mut(), &kv) {
            config.kv = Some(kv.clone());
        }
        let options = RuntimeOptions {
            kv,
            env_dir: manifest.map(|m| m.dir.clone()),
            cache_dir: cache_dir(),
            on_spawn: Some(on_spawn),
            outbound: manifest.map(outbound_options).unwrap_or_default(),
        };
        // A node runs a handful of long-lived components, not a storm: a
        // small pool starts faster; past it, processes go on demand.
        let wasm = WasmConfig {
            pool_slots: 1000,
            ..WasmConfig::default()
        };
        let runtime = WasmRuntime::new(node.clone(), wasm, options)
            .map_err(|e| NodeError::Engine(format!("{e:#}")))?;
        let dist = match manifest.and_then(|m| Some((m, m.cluster.as_ref()?))) {
            Some((m, c)) => {
                // A cluster member's pids carry its node id from the first
                // spawn (the residents, below) on, before it has joined.
                let creation = rusm_cluster::unix_nanos();
                node.set_node_id(rusm_cluster::node_id(&c.name, creation))
                    .map_err(|e| NodeError::Cluster(format!("cannot set the node id: {e}")))?;
                let spawns = crate::cluster::RemoteSpawns {
                    runtime: runtime.clone(),
                    remote: m
                        .components
                        .iter()
                        .filter(|c| c.remote)
                        .map(|c| c.name.clone())
                        .collect(),
                };
                let dist = rusm_cluster::Dist::new(node.clone(), &c.name, Some(Arc::new(spawns)));
                // The cluster calls of every process reach it from boot on:
                // until the node has joined, it is a cluster of one (its
                // own name, no other node to reach).
                runtime.set_cluster(Arc::new(crate::cluster::GuestCalls(dist.clone())));
                Some((dist, creation))
            }
            None => None,
        };
        let mut rusm = RusmNode {
            node,
            runtime,
            profiles: manifest.map(|m| m.profiles.clone()).unwrap_or_default(),
            shutdown_after: manifest.map_or(Duration::from_secs(5), |m| m.shutdown),
            supervisor: None,
            components: manifest.map_or_else(|| Arc::from([]), |m| m.components.clone().into()),
            server: std::sync::Mutex::new(None),
            observer,
            running_observer: None,
            observer_hooks,
            cluster: std::sync::Mutex::new(None),
            dist,
        };
        if let Some(m) = manifest {
            for c in &m.components {
                let artifact =
                    rusm.runtime
                        .load_file(&c.path)
                        .map_err(|error| NodeError::Load {
                            component: c.name.clone(),
                            error,
                        })?;
                rusm.runtime
                    .add_component(&c.name, artifact, Some(c.caps.clone()));
            }
            rusm.start_residents(m)?;
        }
        Ok(rusm)
    }

    /// Start the observer's listener, if the manifest has `[observer]`;
    /// its URL. The observer runs until the node is dropped.
    pub async fn start_observer(&mut self) -> Result<Option<String>, NodeError> {
        let Some((hooks, config)) = self.observer.take() else {
            return Ok(None);
        };
        let running = rusm_observer::start(self.node.clone(), hooks, config).await?;
        let url = running.url();
        tracing::info!(target: crate::LIFECYCLE_TARGET, "rusm observer {url}");
        self.running_observer = Some(running);
        Ok(Some(url))
    }

    /// Whether the observer is serving (a node with one runs until
    /// stopped, even with no resident left).
    pub fn has_observer(&self) -> bool {
        self.running_observer.is_some()
    }

    /// The actor node every process of this node runs on.
    pub fn node(&self) -> &Node {
        &self.node
    }

    /// The Wasm backend, holding the loaded components.
    pub fn runtime(&self) -> &WasmRuntime {
        &self.runtime
    }

    fn start_residents(&mut self, m: &Manifest) -> Result<(), NodeError> {
        let residents: Vec<_> = m.components.iter().filter(|c| c.resident).collect();
        if residents.is_empty() {
            return Ok(());
        }
        let strategy = match m.supervisor.strategy {
            rusm_manifest::Strategy::OneForOne => Strategy::OneForOne,
            rusm_manifest::Strategy::OneForAll => Strategy::OneForAll,
            rusm_manifest::Strategy::RestForOne => Strategy::RestForOne,
        };
        let mut spec = SupervisorSpec::new(
            strategy,
            m.supervisor.max_restarts,
            Duration::from_secs_f64(m.supervisor.max_seconds),
        );
        spec.shutdown_timeout = m.shutdown;
        spec.auto_shutdown = true;
        for c in residents {
            let rt = self.runtime.clone();
            let name = c.name.clone();
            // A resident is registered under its own name when it starts.
            spec = spec.child(ChildSpec::new(
                c.name.clone(),
                Restart::Transient,
                move |ctx: &Ctx, options| {
                    let pid = rt.spawn_component(&name, ctx.pid(), options)?;
                    let _ = ctx.node().register(&name, pid);
                    Ok(pid)
                },
            ));
        }
        let (pid, watch) = self
            .node
            .spawn_watched(
                Pid::NODE,
                SpawnOptions::new().name("supervisor").trap_exit(true),
                move |ctx| spec.run(ctx),
            )
            .map_err(|e| NodeError::Spawn("supervisor".into(), e))?;
        self.supervisor = Some((pid, watch));
        Ok(())
    }

    /// A handle that reloads this node's changed components (see
    /// [`Reloader::reload`]).
    pub fn reloader(&self) -> Reloader {
        Reloader {
            node: self.node.clone(),
            runtime: self.runtime.clone(),
            components: self.components.clone(),
            supervisor: self.supervisor.as_ref().map(|(pid, _)| *pid),
        }
    }

    /// Start `target` as the root process: a manifest component (under its
    /// declared profile), or a `.wasm`/`.wat` file under `profile`.
    pub fn start_root(
        &self,
        target: &str,
        profile: &str,
        args: Vec<String>,
    ) -> Result<Root, NodeError> {
        if self.runtime.is_component_name(target) {
            let (pid, exit) = self
                .runtime
                .spawn_component_watched(target, args)
                .map_err(|e| NodeError::Spawn(target.to_string(), e))?;
            return Ok(Root {
                name: target.to_string(),
                pid,
                exit,
            });
        }
        let path = Path::new(target);
        let is_file = path.extension().is_some_and(|e| e == "wasm" || e == "wat") || path.is_file();
        if !is_file {
            return Err(NodeError::UnknownTarget(target.to_string()));
        }
        let artifact = self
            .runtime
            .load_file(path)
            .map_err(|error| NodeError::Target {
                path: path.to_path_buf(),
                error,
            })?;
        let caps: Capabilities = self.profiles.resolve(profile).caps;
        let name = artifact.name().to_string();
        let (pid, exit) = self
            .runtime
            .spawn_watched(
                &artifact,
                WasmSpawn {
                    name: name.as_str().into(),
                    args,
                    caps: caps.into(),
                    parent: Pid::NODE,
                    options: SpawnOptions::new(),
                },
            )
            .map_err(|e| NodeError::Spawn(name.clone(), e))?;
        Ok(Root { name, pid, exit })
    }

    /// Wait until the residents are done: all finished, or the supervisor
    /// gave up. Returns at once if there are none.
    pub async fn residents(&mut self) -> Residents {
        match self.supervisor.take() {
            None => Residents::None,
            Some((_, watch)) => match watch.await {
                ExitReason::Normal | ExitReason::Shutdown => Residents::Finished,
                other => Residents::GaveUp(other),
            },
        }
    }

    /// Whether the manifest has resident components (and so a supervisor
    /// to wait on).
    pub fn has_residents(&self) -> bool {
        self.supervisor.is_some()
    }

    /// Start serving the manifest's `[http]` (SERVING.md), if it has one:
    /// returns the address it listens on. Boot first, so that the routes'
    /// components are registered.
    pub async fn serve(&self, m: &Manifest) -> Result<Option<std::net::SocketAddr>, NodeError> {
        let Some(http) = &m.http else {
            return Ok(None);
        };
        let mut config = rusm_serve::ServeConfig::new(http.listen);
        if let Some((hooks, _)) = &self.observer {
            let hooks = hooks.clone();
            config.on_request = Some(rusm_serve::RequestObserver(Arc::new(
                move |route: &str, status: u16| hooks.record_request(route, status),
            )));
        }
        config.max_connections = http.max_connections;
        config.max_concurrent_requests = http.max_concurrent_requests;
        config.max_body_bytes = http.max_body_bytes;
        config.request_timeout = http.request_timeout;
        config.header_timeout = http.header_timeout;
        config.idle_timeout = http.idle_timeout;
        config.shutdown = m.shutdown;
        config.max_message_bytes = m.max_message_bytes;
        config.tls = http.tls.as_ref().map(|(cert, key)| rusm_serve::TlsFiles {
            cert: cert.clone(),
            key: key.clone(),
        });
        config.routes = http
            .routes
            .iter()
            .map(|r| rusm_serve::Route {
                path: r.path.clone(),
                component: r.component.clone(),
                methods: r.methods.clone(),
                max_concurrent: r.max_concurrent,
                websocket: r.websocket,
                origins: r.origins.clone(),
            })
            .collect();
        let server = rusm_serve::Server::start(config, self.runtime.clone()).await?;
        let addr = server.local_addr();
        *self
            .server
            .lock()
            .expect("never poisoned: no panics under it") = Some(server);
        Ok(Some(addr))
    }

    /// Join the manifest's `[cluster]` (CLUSTER.md), if it has one: returns
    /// the UDP address the node listens on. Nodes coming up and going down
    /// are lifecycle lines: `rusm node up b`, `rusm node down b
    /// noconnection`.
    pub async fn join_cluster(
        &self,
        m: &Manifest,
    ) -> Result<Option<std::net::SocketAddr>, NodeError> {
        let Some(c) = &m.cluster else {
            return Ok(None);
        };
        let identity = rusm_cluster::Identity::load(&c.name, &c.ca, &c.cert, &c.key)
            .map_err(|e| NodeError::Cluster(e.to_string()))?;
        let (events, changes) = tokio::sync::mpsc::unbounded_channel();
        let (dist, creation) = self
            .dist
            .clone()
            .ok_or_else(|| NodeError::Cluster("the node was booted without [cluster]".into()))?;
        let config = rusm_cluster::ClusterConfig {
            identity,
            listen: c.listen,
            join: c.join.clone(),
            timing: rusm_cluster::Timing::default(),
            inbound: Some(dist.inbound()),
            creation: Some(creation),
            busy_wait: c.busy_wait.unwrap_or(rusm_cluster::DEFAULT_BUSY_WAIT),
        };
        let cluster = rusm_cluster::Cluster::start(config, events)
            .await
            .map_err(|e| NodeError::Cluster(e.to_string()))?;
        dist.attach(cluster.handle())
            .map_err(|e| NodeError::Cluster(format!("cannot attach the cluster: {e}")))?;
        let addr = cluster.local_addr();
        tracing::info!(target: crate::LIFECYCLE_TARGET, event = "cluster", node = c.name.as_str(), listen = %addr, "rusm cluster {} on {addr}", c.name);
        let hooks = self.observer_hooks.clone();
        if let Some(h) = &hooks {
            h.set_cluster_nodes(1);
            let counted = dist.clone();
            h.set_cluster_dropped(Box::new(move || counted.dropped_messages()));
        }
        // Links and monitors with a lost node fire as the distribution
        // learns of it, before the change gets here.
        let mut changes = dist.follow(changes);
        tokio::spawn(async move {
            while let Some(change) = changes.recv().await {
                // Read from the membership itself, which is already past
                // this change when it arrives: no count of its own to keep.
                if let Some(h) = &hooks {
                    h.set_cluster_nodes(dist.nodes().len());
                }
                match change {
                    rusm_cluster::Event::NodeUp(name) => {
                        tracing::info!(target: crate::LIFECYCLE_TARGET, event = "node_up", node = name.as_str(), "rusm node up {name}")
                    }
                    rusm_cluster::Event::NodeDown(name) => {
                        tracing::warn!(target: crate::LIFECYCLE_TARGET, event = "node_down", node = name.as_str(), reason = "noconnection", "rusm node down {name} noconnection")
                    }
                }
            }
        });
        *self
            .cluster
            .lock()
            .expect("never poisoned: no panics under it") = Some(cluster);
        Ok(Some(addr))
    }

    /// Whether the node is a cluster member (and so runs until stopped).
    pub fn in_cluster(&self) -> bool {
        self.cluster
            .lock()
            .expect("never poisoned: no panics under it")
            .is_some()
    }

    /// The reachable nodes of the cluster, this one included; empty when
    /// the node is not in a cluster.
    pub fn cluster_nodes(&self) -> Vec<String> {
        self.cluster
            .lock()
            .expect("never poisoned: no panics under it")
            .as_ref()
            .map(rusm_cluster::Cluster::nodes)
            .unwrap_or_default()
    }

    /// Whether it serves HTTP (and so runs until stopped).
    pub fn is_serving(&self) -> bool {
        self.server
            .lock()
            .expect("never poisoned: no panics under it")
            .is_some()
    }

    /// Stop every process: the HTTP listener first, then requests in
    /// flight get `shutdown-seconds` to finish; then `shutdown` to every
    /// process, and `kill` after the manifest's `shutdown-seconds`.
    pub async fn shutdown(&self) {
        let server = self
            .server
            .lock()
            .expect("never poisoned: no panics under it")
            .take();
        if let Some(server) = server {
            server.shutdown().await;
        }
        let killed = self.node.shutdown(self.shutdown_after).await;
        if killed > 0 {
            tracing::warn!(target: crate::LIFECYCLE_TARGET, "rusm: {killed} process(es) did not stop in time and were killed");
        }
        // Last: the others see this node leave at once, after its
        // processes have ended.
        let cluster = self
            .cluster
            .lock()
            .expect("never poisoned: no panics under it")
            .take();
        if let Some(cluster) = cluster {
            cluster.leave().await;
        }
    }
}

impl Reloader {
    /// Reload every component whose file changed (SIGHUP, `rusm dev`):
    /// new spawns get the new code at once, running processes finish on
    /// the code they started with (it is freed when the last of them
    /// ends), and each resident of a reloaded component is replaced, one
    /// at a time, through a graceful stop, outside the restart intensity.
    /// A file that no longer loads keeps the old code. The manifest itself
    /// is not read again. Each outcome is logged as a lifecycle line.
    pub fn reload(&self) -> Vec<Reloaded> {
        let mut outcomes = Vec::new();
        for c in self.components.iter() {
            let Some(old) = self.runtime.component(&c.name) else {
                continue;
            };
            let outcome = match self.runtime.load_file(&c.path) {
                Ok(new) if new.same_code(&old) => continue,
                Ok(new) => {
                    let (from, to) = (old.short_hash(), new.short_hash());
                    self.runtime
                        .add_component(&c.name, new, Some(c.caps.clone()));
                    tracing::info!(target: crate::LIFECYCLE_TARGET, "rusm reload {} {from} -> {to}", c.name);
                    if c.resident
                        && let Some(sup) = self.supervisor
                        && let Err(e) = rusm_core::replace_child(&self.node, sup, &c.name)
                    {
                        tracing::warn!(target: crate::LIFECYCLE_TARGET, "rusm reload {}: its resident was not restarted: {e}", c.name);
                    }
                    Reloaded::Replaced {
                        name: c.name.clone(),
                        from,
                        to,
                    }
                }
                Err(e) => {
                    // One log line: a compiler's message may span several.
                    let error = e
                        .to_string()
                        .lines()
                        .map(str::trim)
                        .filter(|l| !l.is_empty())
                        .collect::<Vec<_>>()
                        .join(" ");
                    tracing::error!(target: crate::LIFECYCLE_TARGET, "rusm reload {} failed: {error}", c.name);
                    Reloaded::Failed {
                        name: c.name.clone(),
                        error,
                    }
                }
            };
            outcomes.push(outcome);
        }
        outcomes
    }
}
