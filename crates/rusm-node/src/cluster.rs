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
