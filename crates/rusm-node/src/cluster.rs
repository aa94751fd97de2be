//! The node's side of a cluster: what it lets other nodes spawn here.
//!
//! Grants are checked where a call starts (the caller's node checked
//! `allow-spawn`); what *this* node decides, whatever a peer asks, is
//! which components may be started from elsewhere at all (those marked
//! `remote = true` in its manifest) and under which capabilities (their
//! declared profile here, never anything the caller's node claims).

use std::collections::HashSet;

use rusm_cluster::{CallError, Spawner};
use rusm_core::{Error, Pid, SpawnOptions};
use rusm_wasm::WasmRuntime;

/// Answers other nodes' `spawn_on`.
pub(crate) struct RemoteSpawns {
    pub(crate) runtime: WasmRuntime,
    /// The components marked `remote = true`.
    pub(crate) remote: HashSet<String>,
}

impl Spawner for RemoteSpawns {
    fn spawn_for(
        &self,
        parent: Pid,
        component: &str,
        arg: Vec<u8>,
        link: bool,
    ) -> Result<Pid, CallError> {
        if self.runtime.component(component).is_none() {
            return Err(CallError::NotFound);
        }
        if !self.remote.contains(component) {
            return Err(CallError::Denied);
        }
        let mut options = SpawnOptions::new().link(link);
        if !arg.is_empty() {
            // As a local spawn by name: the argument is the first message.
            options = options.first_message(0, arg);
        }
        self.runtime
            .spawn_component(component, parent, options)
            .map_err(|e| match e {
                Error::Limit => CallError::Limit,
                Error::NotFound => CallError::NotFound,
                _ => CallError::NoProcess,
            })
    }
}

/// What a process's cluster calls reach (`rusm_wasm::ClusterCalls`): the
/// node's distribution, with its errors turned into the contract's codes.
pub(crate) struct GuestCalls(pub(crate) rusm_cluster::Dist);

fn abi(e: CallError) -> rusm_wasm::AbiError {
    use rusm_wasm::AbiError;
    match e {
        CallError::NoProcess => AbiError::NoProcess,
        CallError::Denied => AbiError::Denied,
        CallError::NotFound => AbiError::NotFound,
        CallError::Limit => AbiError::Limit,
        CallError::Exists => AbiError::Exists,
        CallError::Invalid => AbiError::Invalid,
    }
}

impl rusm_wasm::ClusterCalls for GuestCalls {
    fn nodes(&self) -> Vec<String> {
        self.0.nodes()
    }

    fn node_of(&self, pid: Pid) -> Option<String> {
        self.0.node_of(pid)
    }

    fn is_remote(&self, pid: Pid) -> bool {
        self.0.is_remote(pid)
    }

    fn is_alive(&self, pid: Pid) -> rusm_wasm::BoxFuture<'static, bool> {
        let dist = self.0.clone();
        Box::pin(async move { dist.is_alive(pid).await })
    }

    fn parent_of(&self, pid: Pid) -> rusm_wasm::BoxFuture<'static, Option<Pid>> {
        let dist = self.0.clone();
        Box::pin(async move { dist.parent_of(pid).await })
    }

    fn spawn_on(
        &self,
        caller: Pid,
        node: &str,
        component: &str,
        arg: Vec<u8>,
        link: bool,
    ) -> rusm_wasm::BoxFuture<'static, Result<Pid, rusm_wasm::AbiError>> {
        let dist = self.0.clone();
        let (node, component) = (node.to_owned(), component.to_owned());
        Box::pin(async move {
            dist.spawn_on(caller, &node, &component, arg, link)
                .await
                .map_err(abi)
        })
    }

    fn register_global(
        &self,
        holder: Pid,
        name: &str,
    ) -> rusm_wasm::BoxFuture<'static, Result<(), rusm_wasm::AbiError>> {
        let dist = self.0.clone();
        let name = name.to_owned();
        Box::pin(async move { dist.register_global(holder, &name).await.map_err(abi) })
    }

    fn whereis_global(&self, name: &str) -> Option<Pid> {
        self.0.whereis_global(name)
    }
}
