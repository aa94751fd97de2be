//! The lifecycle log: one line per spawn and exit, on stderr.
//!
//! Lines go out as `tracing` events with the target `rusm::lifecycle`,
//! already formatted as the contract shows them; the `rusm` binary routes
//! that target to stderr at the configured level. The level of an exit line
//! follows its reason: crashes at `error`, kills and link cascades at
//! `warn`, the rest at `info`; spawns at `debug`.

use std::sync::Arc;

use rusm_caps::Capabilities;
use rusm_core::{ExitReason, Lifecycle, Pid, Usage};
use rusm_observer::{ExitClass, Hooks};

/// The `tracing` target of lifecycle lines.
pub const TARGET: &str = "rusm::lifecycle";

/// The log, and the observer's counters when the node has `[observer]`.
pub(crate) struct LifecycleLog {
    pub(crate) observer: Option<Arc<Hooks>>,
}

impl Lifecycle for LifecycleLog {
    fn retired(&self, pid: Pid, usage: &Usage) {
        if let Some(o) = &self.observer {
            o.retired(pid, usage);
        }
    }

    fn exited(&self, pid: Pid, name: Option<&str>, reason: &ExitReason) {
        if let Some(o) = &self.observer {
            o.exited(pid, name, reason);
        }
        let name = name.unwrap_or("process");
        match reason {
            ExitReason::Crashed(_) | ExitReason::ExitCode(_) | ExitReason::FailedToStart(_) => {
                tracing::error!(target: TARGET, event = "exit", component = name, pid = pid.get(), reason = %reason, class = ExitClass::of(reason).as_str(), "rusm exit  {name}#{pid} {reason}")
            }
            ExitReason::Killed
            | ExitReason::Linked(..)
            | ExitReason::NoConnection
            | ExitReason::NoProc => {
                tracing::warn!(target: TARGET, event = "exit", component = name, pid = pid.get(), reason = %reason, class = ExitClass::of(reason).as_str(), "rusm exit  {name}#{pid} {reason}")
            }
            ExitReason::Normal | ExitReason::Shutdown => {
                tracing::info!(target: TARGET, event = "exit", component = name, pid = pid.get(), reason = %reason, class = ExitClass::of(reason).as_str(), "rusm exit  {name}#{pid} {reason}")
            }
        }
    }
}

pub(crate) fn spawned(pid: Pid, name: &str, caps: &Arc<Capabilities>) {
    if tracing::enabled!(target: TARGET, tracing::Level::DEBUG) {
        let caps_profile = caps.profile.as_str();
        let caps = caps.summary();
        tracing::debug!(target: TARGET, event = "spawn", component = name, pid = pid.get(), profile = caps_profile, caps = %caps, "rusm spawn {name}#{pid} {caps}");
    }
}
