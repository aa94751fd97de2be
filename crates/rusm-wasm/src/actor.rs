//! The runtime operations of the guest contract, shared by both shapes.
//!
//! The core-module imports and the component bindings are thin adapters
//! over [`Actor`]: they move bytes in and out of guest memory and turn
//! [`AbiError`] into an ABI code or a WIT `error`. The grants checked at
//! call time (process control, spawn, storage, reserved names) are
//! checked here; the crate docs list where every other grant is enforced.
//!
//! An actor reaches the runtime that spawned it only through the small
//! [`Runtime`] trait (spawn by name, the component registry, the kv
//! store), so this module, and the shapes built on it, know nothing of the
//! runtime's engines, linkers or artifacts. Every process of a runtime has
//! the same `R`: the calls are static.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use rusm_caps::Capabilities;
use rusm_core::{Ctx, Error, LastPeer, Message, Pid};
use wasmtime::ResourceLimiter;

pub(crate) use crate::error::AbiError;

use crate::cluster::ClusterCalls;
use crate::cpu::CpuMeter;
use crate::exit::GuestFault;
use crate::info::{self, ProcessInfo};
use crate::limits::{Limits, MAX_INSTANCES, MAX_MEMORIES, MAX_TABLES};

/// A failed storage call: either a contract error for the guest, or a
/// broken store, which ends the process (let it crash; its supervisor
/// restarts it) rather than inventing an error code.
pub(crate) enum KvFailure {
    Abi(AbiError),
    Broken(String),
}

impl From<AbiError> for KvFailure {
    fn from(e: AbiError) -> Self {
        KvFailure::Abi(e)
    }
}

impl From<rusm_kv::KvError> for KvFailure {
    fn from(e: rusm_kv::KvError) -> Self {
        match e {
            rusm_kv::KvError::Invalid(_) => KvFailure::Abi(AbiError::Invalid),
            rusm_kv::KvError::TooLarge { .. } => KvFailure::Abi(AbiError::Limit),
            other => KvFailure::Broken(format!("storage failed: {other}")),
        }
    }
}

impl KvFailure {
    pub(crate) fn into_trap(self) -> Result<AbiError, wasmtime::Error> {
        match self {
            KvFailure::Abi(e) => Ok(e),
            KvFailure::Broken(text) => {
                Err(GuestFault::Exit(rusm_core::ExitReason::crashed(text)).into())
            }
        }
    }
}

/// What a process needs of the runtime that spawned it.
pub(crate) trait Runtime: Send + Sync + Sized + 'static {
    /// Spawn the registered component `name` for `spawner` (whose
    /// `allow-spawn` was checked), with `arg` as its first message if not
    /// empty.
    fn spawn_by_name(
        self: &Arc<Self>,
        spawner: &Ctx,
        spawner_caps: &Arc<Capabilities>,
        name: &str,
        arg: Vec<u8>,
        link: bool,
    ) -> Result<Pid, Error>;

    /// Whether `name` is a registered component.
    fn is_registered(&self, name: &str) -> bool;

    /// Whether `name` is a declared component, reserved for its processes.
    fn is_component_name(&self, name: &str) -> bool;

    /// The node's durable store, if it has one.
    fn kv(&self) -> Option<&rusm_kv::Store>;

    /// Whether `from` may send `tag` to `to` (WebSocket pids,
    /// `sockets.rs`).
    fn may_send(&self, from: Pid, to: Pid, tag: i64) -> Result<(), AbiError>;
    /// What every process's outgoing HTTP requests share.
    fn http_client(&self) -> &Arc<crate::outbound::HttpClient>;

    /// The cluster the node joined, if it did (`cluster.rs`).
    fn cluster(&self) -> Option<&dyn ClusterCalls>;
}

/// What a Wasm process is, as far as the contract goes: its handle on the
/// node, its capabilities, its memory budget and its current message.
pub(crate) struct Actor<R> {
    pub(crate) ctx: Ctx,
    pub(crate) runtime: Arc<R>,
    pub(crate) caps: Arc<Capabilities>,
    /// Whether it was spawned by name: it runs the registered component
    /// its name (`Ctx::name`) names, and owns that name.
    pub(crate) by_name: bool,
    pub(crate) current: Option<Message>,
    pub(crate) limits: Limits,
    /// Where its outbound network may go: made at spawn for a process
    /// with a network grant (its sockets ask it), on first use otherwise
    /// (an HTTP request or lookup to refuse).
    pub(crate) destinations: Option<Arc<crate::destinations::Destinations>>,
    /// Told once the guest is instantiated, just before its entry point
    /// runs; dropped untold if it never gets there (`failed to start`).
    /// Only spawns that asked for it have one (a WebSocket connection
    /// process, whose upgrade is answered 101 or 500 by it).
    pub(crate) started: Option<tokio::sync::oneshot::Sender<()>>,
    /// Its CPU time, counted in the epoch callback (`cpu.rs`).
    pub(crate) cpu: CpuMeter,
    /// Whom it last sent to: a conversation's sends skip the process
    /// table (`Node::send_with`).
    pub(crate) peer: LastPeer,
}

impl<R> Actor<R> {
    /// The guest is instantiated: tell whoever waits for it.
    pub(crate) fn instantiated(&mut self) {
        if let Some(started) = self.started.take() {
            let _ = started.send(());
        }
    }
}

type AbiResult<T> = Result<T, AbiError>;

/// The store limiter of both shapes: the budget is in [`Limits`]; the
/// actor adds the context that hears the memory total (for
/// `process_info`), which a limiter of its own would need a second handle
/// on.
impl<R: Send + Sync + 'static> ResourceLimiter for Actor<R> {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.limits
            .memory_growing(&self.ctx, current, desired, maximum)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.limits.table_growing(current, desired, maximum)
    }

    fn instances(&self) -> usize {
        MAX_INSTANCES
    }

    fn tables(&self) -> usize {
        MAX_TABLES
    }

    fn memories(&self) -> usize {
        MAX_MEMORIES
    }
}

impl<R: Runtime> Actor<R> {
    pub(crate) fn own_pid(&self) -> u64 {
        self.ctx.pid().get()
    }

    pub(crate) fn send(&mut self, to: u64, tag: i64, data: Vec<u8>) -> AbiResult<()> {
        self.runtime.may_send(self.ctx.pid(), Pid(to), tag)?;
        Ok(self.ctx.send_with(&mut self.peer, Pid(to), tag, data)?)
    }

    /// Wait for a message and hand it over (the module shape keeps it as
    /// its current message; the component shape returns it whole). Not
    /// an `async fn`: the host call's future holds this one, and is
    /// copied into a box at every receive (see rusm-core's `receive.rs`).
    pub(crate) fn take<'a>(
        &'a self,
        tags: &'a [i64],
        timeout: Option<Duration>,
    ) -> impl Future<Output = AbiResult<Message>> + Send + 'a {
        let receive = self.ctx.receive(tags, timeout);
        async move { Ok(receive.await?) }
    }

    pub(crate) fn make_ref(&self) -> i64 {
        self.ctx.make_ref()
    }

    pub(crate) async fn sleep(&self, ms: u64) {
        tokio::time::sleep(Duration::from_millis(ms)).await
    }

    pub(crate) fn send_after(
        &self,
        to: u64,
        tag: i64,
        data: Vec<u8>,
        delay_ms: u64,
    ) -> AbiResult<i64> {
        Ok(self
            .ctx
            .send_after(Pid(to), tag, data, Duration::from_millis(delay_ms))?)
    }

    pub(crate) fn cancel_timer(&self, id: i64) -> bool {
        self.ctx.cancel_timer(id)
    }

    /// Spawn a registered component by name. `allow-spawn` decides who may;
    /// the spawn policy (declared profile, or the spawner's own) decides the
    /// child's capabilities.
    pub(crate) fn spawn(&self, name: &str, arg: Vec<u8>, link: bool) -> AbiResult<u64> {
        if !self.caps.allow_spawn.allows(name) {
            return Err(AbiError::Denied);
        }
        let pid = self
            .runtime
            .spawn_by_name(&self.ctx, &self.caps, name, arg, link)?;
        Ok(pid.get())
    }

    /// Managing another process needs `allow-process-control`; a process
    /// may always manage itself and its own children, on this node or,
    /// in a cluster, on another (CLUSTER.md, *Capabilities*).
    ///
    /// A local target costs what it always did: the cluster is asked
    /// only after the local checks failed, and only when there is one.
    async fn may_manage(&self, target: u64) -> AbiResult<Pid> {
        let target = Pid(target);
        if self.caps.allow_process_control || self.ctx.is_own(target) {
            return Ok(target);
        }
        if let Some(cluster) = self.remote(target) {
            return self.may_manage_remote(cluster, target).await;
        }
        self.may_manage_here(target)
    }

    /// The rule for a node outside a cluster, where every pid is local
    /// (the synchronous imports of `Reach::Node`).
    fn may_manage_here(&self, target: Pid) -> AbiResult<Pid> {
        if self.caps.allow_process_control || self.ctx.is_own(target) {
            return Ok(target);
        }
        // Liveness is no secret (`is_alive` is open to all), so a dead
        // target answers `no-process` whatever the grant.
        if !self.ctx.is_alive(target) {
            Err(AbiError::NoProcess)
        } else {
            Err(AbiError::Denied)
        }
    }

    /// A remote target the caller has no grant over: allowed only if the
    /// caller spawned it (its node says who its parent is). The same
    /// answers as locally: `no-process` for a dead one, else `denied`.
    async fn may_manage_remote(&self, cluster: &dyn ClusterCalls, target: Pid) -> AbiResult<Pid> {
        match cluster.parent_of(target).await {
            Some(parent) if parent == self.ctx.pid() => Ok(target),
            // No answer may mean "no such process" or "no idea": ask
            // liveness, so that an unreachable node's pid is `no-process`
            // (as `send` to it is) and a live stranger `denied`.
            _ if !cluster.is_alive(target).await => Err(AbiError::NoProcess),
            _ => Err(AbiError::Denied),
        }
    }

    /// The cluster, if `target` is a process of another node of it.
    fn remote(&self, target: Pid) -> Option<&dyn ClusterCalls> {
        self.runtime.cluster().filter(|c| c.is_remote(target))
    }

    pub(crate) async fn link(&self, to: u64) -> AbiResult<()> {
        let to = self.may_manage(to).await?;
        Ok(self.ctx.link(to)?)
    }

    /// `link` where every pid is local (`Reach::Node`).
    pub(crate) fn link_here(&self, to: u64) -> AbiResult<()> {
        let to = self.may_manage_here(Pid(to))?;
        Ok(self.ctx.link(to)?)
    }

    pub(crate) async fn unlink(&self, to: u64) -> AbiResult<()> {
        let to = self.may_manage(to).await?;
        Ok(self.ctx.unlink(to)?)
    }

    /// `unlink` where every pid is local (`Reach::Node`).
    pub(crate) fn unlink_here(&self, to: u64) -> AbiResult<()> {
        let to = self.may_manage_here(Pid(to))?;
        Ok(self.ctx.unlink(to)?)
    }

    /// Needs no grant: a monitor only observes, and the request/reply
    /// idiom (`make_ref`, `monitor`, `send`, `receive`) must work for
    /// every process. Its cost is bounded by `max-queued-mb` (`Limit`).
    pub(crate) fn monitor(&self, target: u64) -> AbiResult<i64> {
        Ok(self.ctx.monitor(Pid(target))?)
    }

    pub(crate) fn demonitor(&self, reference: i64) -> AbiResult<()> {
        Ok(self.ctx.demonitor(reference)?)
    }

    pub(crate) fn trap_exit(&self, on: bool) -> bool {
        self.ctx.trap_exit(on)
    }

    pub(crate) async fn kill(&self, target: u64) -> AbiResult<()> {
        let target = self.may_manage(target).await?;
        Ok(self.ctx.kill(target)?)
    }

    /// `kill` where every pid is local (`Reach::Node`).
    pub(crate) fn kill_here(&self, target: u64) -> AbiResult<()> {
        let target = self.may_manage_here(Pid(target))?;
        Ok(self.ctx.kill(target)?)
    }

    /// A local pid is answered from the process table; a remote one by
    /// its node (a round trip), and only when the local table does not
    /// know it, so a local pid costs no more in a cluster than outside.
    pub(crate) async fn is_alive(&self, target: u64) -> bool {
        let target = Pid(target);
        if self.ctx.is_alive(target) {
            return true;
        }
        match self.remote(target) {
            Some(cluster) => cluster.is_alive(target).await,
            None => false,
        }
    }

    /// `is_alive` where every pid is local (`Reach::Node`).
    pub(crate) fn is_alive_here(&self, target: u64) -> bool {
        self.ctx.is_alive(Pid(target))
    }

    pub(crate) fn processes(&self) -> AbiResult<Vec<u64>> {
        if !self.caps.allow_process_control {
            return Err(AbiError::Denied);
        }
        Ok(self.ctx.processes().into_iter().map(Pid::get).collect())
    }

    /// `info`, with `component` kept only when it names a registered
    /// component (the contract's "the manifest component it runs, if
    /// any"), not a file stem. Only a local process has one: a remote
    /// pid the caller may manage answers `no-process`
    /// (`docs/contract-notes.md`).
    pub(crate) async fn info(&self, target: u64) -> AbiResult<ProcessInfo> {
        let target = self.may_manage(target).await?;
        self.info_of(target)
    }

    /// `info` where every pid is local (`Reach::Node`).
    pub(crate) fn info_here(&self, target: u64) -> AbiResult<ProcessInfo> {
        let target = self.may_manage_here(Pid(target))?;
        self.info_of(target)
    }

    fn info_of(&self, target: Pid) -> AbiResult<ProcessInfo> {
        let mut info = info::record(self.ctx.info(target).ok_or(AbiError::NoProcess)?);
        info.component = info.component.filter(|n| self.runtime.is_registered(n));
        Ok(info)
    }

    /// A manifest component's name belongs to the processes running it.
    fn may_use_name(&self, name: &str) -> AbiResult<()> {
        let own = self.by_name && self.ctx.name().is_some_and(|n| **n == *name);
        if self.runtime.is_component_name(name) && !own {
            return Err(AbiError::Denied);
        }
        Ok(())
    }

    pub(crate) fn register(&self, name: &str) -> AbiResult<()> {
        if name.is_empty() {
            return Err(AbiError::Invalid);
        }
        self.may_use_name(name)?;
        Ok(self.ctx.register(name)?)
    }

    pub(crate) fn unregister(&self, name: &str) -> AbiResult<()> {
        self.may_use_name(name)?;
        let holder = self.ctx.whereis(name).ok_or(AbiError::NotFound)?;
        if holder != self.ctx.pid() && !self.caps.allow_process_control {
            return Err(AbiError::Denied);
        }
        Ok(self.ctx.unregister(name)?)
    }

    pub(crate) fn whereis(&self, name: &str) -> Option<u64> {
        self.ctx.whereis(name).map(Pid::get)
    }

    pub(crate) fn set_label(&self, label: &str) {
        self.ctx.set_label(label)
    }

    /// Spawn a registered component on another node of the cluster
    /// (CLUSTER.md, *Remote spawn*). The caller's grant is checked here,
    /// as for a local spawn, before anything is sent; the receiving node
    /// decides the rest (`remote = true`, its declared profile). The arg
    /// is held to this node's message cap as a local spawn's is.
    pub(crate) async fn spawn_on(
        &self,
        node: &str,
        name: &str,
        arg: Vec<u8>,
        link: bool,
    ) -> AbiResult<u64> {
        if node.is_empty() || name.is_empty() {
            return Err(AbiError::Invalid);
        }
        if !self.caps.allow_spawn.allows(name) {
            return Err(AbiError::Denied);
        }
        if arg.len() > self.ctx.node().config().max_message_bytes {
            return Err(AbiError::Limit);
        }
        let cluster = self.runtime.cluster().ok_or(AbiError::NoProcess)?;
        let pid = cluster
            .spawn_on(self.ctx.pid(), node, name, arg, link)
            .await?;
        Ok(pid.get())
    }

    /// Name the caller in the whole cluster (CLUSTER.md, *Global names*):
    /// needs `allow-global-names`, and a manifest component's name is its
    /// processes' only, as for `register`.
    pub(crate) async fn register_global(&self, name: &str) -> AbiResult<()> {
        if name.is_empty() {
            return Err(AbiError::Invalid);
        }
        if !self.caps.allow_global_names {
            return Err(AbiError::Denied);
        }
        self.may_use_name(name)?;
        let cluster = self.runtime.cluster().ok_or(AbiError::NoProcess)?;
        cluster.register_global(self.ctx.pid(), name).await
    }

    /// The holder of a global name; `Ok(None)` when there is none, or no
    /// cluster.
    pub(crate) fn whereis_global(&self, name: &str) -> AbiResult<Option<u64>> {
        if name.is_empty() {
            return Err(AbiError::Invalid);
        }
        Ok(self
            .runtime
            .cluster()
            .and_then(|c| c.whereis_global(name))
            .map(Pid::get))
    }

    /// The reachable nodes, this one included; none without a cluster.
    pub(crate) fn nodes(&self) -> Vec<String> {
        self.runtime.cluster().map_or_else(Vec::new, |c| c.nodes())
    }

    /// The node `target` lives on; `no-process` without a cluster, or for
    /// a pid of no node of it.
    pub(crate) fn node_of(&self, target: u64) -> AbiResult<String> {
        self.runtime
            .cluster()
            .and_then(|c| c.node_of(Pid(target)))
            .ok_or(AbiError::NoProcess)
    }

    fn kv(&self) -> Result<&rusm_kv::Store, KvFailure> {
        if !self.caps.allow_storage {
            return Err(AbiError::Denied.into());
        }
        self.runtime.kv().ok_or(KvFailure::Abi(AbiError::NoStore))
    }

    pub(crate) async fn kv_get(
        &self,
        bucket: &str,
        key: &str,
    ) -> Result<Option<Vec<u8>>, KvFailure> {
        Ok(self.kv()?.get(bucket, key).await?)
    }

    pub(crate) async fn kv_set(
        &self,
        bucket: &str,
        key: &str,
        value: Vec<u8>,
    ) -> Result<(), KvFailure> {
        Ok(self.kv()?.set(bucket, key, value).await?)
    }

    pub(crate) async fn kv_delete(&self, bucket: &str, key: &str) -> Result<bool, KvFailure> {
        Ok(self.kv()?.delete(bucket, key).await?)
    }

    pub(crate) async fn kv_exists(&self, bucket: &str, key: &str) -> Result<bool, KvFailure> {
        Ok(self.kv()?.exists(bucket, key).await?)
    }

    pub(crate) async fn kv_keys(
        &self,
        bucket: &str,
        prefix: &str,
    ) -> Result<Vec<String>, KvFailure> {
        Ok(self.kv()?.keys(bucket, prefix).await?)
    }

    pub(crate) async fn kv_cas(
        &self,
        bucket: &str,
        key: &str,
        expected: Option<Vec<u8>>,
        value: Vec<u8>,
    ) -> Result<bool, KvFailure> {
        Ok(self
            .kv()?
            .compare_and_swap(bucket, key, expected, value)
            .await?)
    }
}
