//! Where one process's outbound connections may go, and the `rusm deny`
//! line when one may not.
//!
//! Every outbound path of a process (the WASI context's socket checks in
//! `wasi.rs`, outgoing HTTP in `outbound.rs`) asks the same
//! [`Destinations`], which holds the process's `rusm_caps::HostPolicy`
//! (the one checker, see CAPABILITIES.md, *Outbound network*) and who the
//! process is, so that every refusal is logged the same way:
//!
//! ```text
//! rusm deny agent#7 connect 169.254.169.254:80
//! ```
//!
//! The line goes to the lifecycle log's `tracing` target at `warn`, like the
//! node's kill and link-cascade lines (rusm-node routes that target to
//! stderr).

use std::fmt::Display;
use std::sync::Arc;

use rusm_caps::{Capabilities, HostPolicy};
use rusm_core::Pid;

/// The lifecycle log's `tracing` target (rusm-node's `lifecycle::TARGET`;
/// this crate sits below rusm-node, so the name is repeated here).
const LIFECYCLE_TARGET: &str = "rusm::lifecycle";

/// The destination checker of one process, shared by its socket checks and
/// its HTTP client.
#[derive(Debug)]
pub(crate) struct Destinations {
    policy: HostPolicy,
    /// `name#pid`, as the lifecycle log names the process.
    who: String,
}

impl Destinations {
    pub(crate) fn new(caps: &Capabilities, name: &str, pid: Pid) -> Arc<Self> {
        Arc::new(Destinations {
            policy: caps.host_policy(),
            who: format!("{name}#{pid}"),
        })
    }

    pub(crate) fn policy(&self) -> &HostPolicy {
        &self.policy
    }

    /// Logs a refused destination: an address (`10.0.0.1:80`), or a name and
    /// port when the name itself was refused (`db.internal:5432`).
    pub(crate) fn deny(&self, destination: &dyn Display) {
        // The fields are for `--log-format json`; the text line is the
        // message.
        tracing::warn!(
            target: LIFECYCLE_TARGET,
            event = "deny",
            process = %self.who,
            destination = %destination,
            "rusm deny {} connect {destination}",
            self.who
        );
    }
}
