//! What a process's cluster calls reach: the [`ClusterCalls`] trait.
//!
//! The Wasm backend knows nothing of networks: the guest-facing half of
//! CLUSTER.md (`spawn_on`, `register_global`, `whereis_global`, `nodes`,
//! `node_of`, and remote pids in `is_alive` and process control) is
//! marshalled and checked here, in `actor.rs`, and then handed to whatever
//! implements this trait. The node gives its runtime one when it joins a
//! cluster ([`crate::WasmRuntime::set_cluster`], before it starts its
//! processes); until then, or on a node that never joins, every call
//! answers as the WIT says of a node without a cluster (`no-process`,
//! `none`, an empty list), and a pid is always a local one.
//!
//! Grants are the caller's node's business and are checked before the
//! trait is called: `allow-spawn` covering the component name for
//! [`ClusterCalls::spawn_on`], `allow-global-names` (and the rule that a
//! manifest component's name belongs to its processes) for
//! [`ClusterCalls::register_global`]. An implementation never sees a call
//! the caller's capabilities refused.
//!
//! The futures are [`BoxFuture`]s: boxed, `Send`, `'static` (they own what
//! they need, so a process's store is not borrowed across a round trip).
//! The alias is spelled with `std` types only; it is the very type
//! `futures::future::BoxFuture<'static, T>` names, so an implementation
//! may build one with `futures::FutureExt::boxed` or with `Box::pin`.

use std::future::Future;
use std::pin::Pin;

use rusm_core::Pid;

use crate::error::AbiError;

/// A boxed, sendable future: the same type as
/// `futures::future::BoxFuture<'a, T>`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What a process's cluster calls reach; the node provides it when it
/// joins a cluster.
///
/// The synchronous methods are asked on the host call's thread while the
/// guest waits: they must answer from memory (the node's membership view,
/// a table of global names), never block on the network. The methods that
/// return a future may wait for other nodes; the calling process is parked
/// meanwhile (its fiber yields), and a `kill` of it drops the future.
pub trait ClusterCalls: Send + Sync + 'static {
    /// The reachable nodes, this one included, sorted.
    fn nodes(&self) -> Vec<String>;

    /// The node a pid names (this node's name for a local pid); `None`:
    /// no node of the cluster.
    fn node_of(&self, pid: Pid) -> Option<String>;

    /// Whether `pid` names a process of another node.
    fn is_remote(&self, pid: Pid) -> bool;

    /// Liveness of a remote pid (a round trip; false when its node is
    /// unreachable).
    fn is_alive(&self, pid: Pid) -> BoxFuture<'static, bool>;

    /// The parent of a remote process (for "a process may manage the
    /// processes it spawned", remotely too); `None` when it is not alive or
    /// its node is unreachable.
    fn parent_of(&self, pid: Pid) -> BoxFuture<'static, Option<Pid>>;

    /// Spawn `component` on `node` for `caller` (its `allow-spawn` already
    /// checked by the caller's node), with `arg` as the child's first
    /// message when not empty, linked to `caller` with `link`. Answers as
    /// the ABI's `spawn_on`: the child's pid, or `DENIED` (not
    /// `remote = true` there), `NOT_FOUND`, `LIMIT`, `NO_PROCESS` (the
    /// node is unreachable).
    fn spawn_on(
        &self,
        caller: Pid,
        node: &str,
        component: &str,
        arg: Vec<u8>,
        link: bool,
    ) -> BoxFuture<'static, Result<Pid, AbiError>>;

    /// Register `name` for `holder` cluster-wide (`allow-global-names`
    /// already checked): `Ok` once every reachable node accepted it,
    /// `EXISTS` if any holds it, `LIMIT` past the holder's `max-queued-mb`.
    fn register_global(&self, holder: Pid, name: &str) -> BoxFuture<'static, Result<(), AbiError>>;

    /// The holder of a global name.
    fn whereis_global(&self, name: &str) -> Option<Pid>;
}
