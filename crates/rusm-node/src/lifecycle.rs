//! The lifecycle log: one line per spawn and exit, on stderr.
//!
//! Lines go out as `tracing` events with the target `rusm::lifecycle`,
//! already formatted as the contract shows them; the `rusm` binary routes
//! that target to stderr at the configured level. The level of an exit line
//! follows its reason: crashes at `error`, kills and link cascades at
//! `warn`, the rest at `info`; spawns at `debug`.

use rusm_caps::Capabilities;
use rusm_core::{ExitReason, Lifecycle, Pid};

/// The `tracing` target of lifecycle lines.
pub const TARGET: &str = "rusm::lifecycle";

pub(crate) struct LifecycleLog;

impl Lifecycle for LifecycleLog {
    fn exited(&self, pid: Pid, name: Option<&str>, reason: &ExitReason) {
        let name = name.unwrap_or("process");
        match reason {
            ExitReason::Crashed(_) | ExitReason::ExitCode(_) | ExitReason::FailedToStart(_) => {
                tracing::error!(target: TARGET, "rusm exit  {name}#{pid} {reason}")
            }
            ExitReason::Killed | ExitReason::Linked(..) => {
                tracing::warn!(target: TARGET, "rusm exit  {name}#{pid} {reason}")
            }
            ExitReason::Normal | ExitReason::Shutdown => {
                tracing::info!(target: TARGET, "rusm exit  {name}#{pid} {reason}")
            }
        }
    }
}

pub(crate) fn spawned(pid: Pid, name: &str, caps: &Capabilities) {
    tracing::debug!(target: TARGET, "rusm spawn {name}#{pid} {}", caps.summary());
}
