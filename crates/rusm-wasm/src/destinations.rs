//! Where one process's outbound connections may go, and the `rusm deny`
//! line when one may not.
//!
//! Every outbound path of a process (the WASI context's socket checks in
//! `wasi.rs`, socket name lookups in `name_lookup.rs`, outgoing HTTP in
//! `outbound.rs`) asks the same [`Destinations`], which holds the process's
//! `rusm_caps::HostPolicy` (the one checker, see CAPABILITIES.md,
//! *Outbound network*), its bounded [`Resolver`], the names its socket
//! lookups resolved, and who the process is, so that every refusal is
//! logged the same way:
//!
//! ```text
//! rusm deny agent#7 connect 169.254.169.254:80
//! rusm deny agent#7 lookup db.internal
//! rusm deny agent#7 lookup rebind.example.com -> 127.0.0.1
//! ```
//!
//! The line goes to the lifecycle log's `tracing` target at `warn`, like the
//! node's kill and link-cascade lines (rusm-node routes that target to
//! stderr).
//!
//! **Names on the socket path.** A socket connects to an address, never a
//! name, so under an `allow-hosts` list a connect to an address that no IP
//! or CIDR entry lists is allowed only if a name the process was allowed
//! to look up resolved to it, and that name is allowed at the connect's
//! port (the connect asks the checker's questions 1 and 2 again). The node
//! remembers the last [`MAX_RESOLVED_NAMES`] names each process looked up,
//! with the addresses it handed out; past that the oldest is forgotten,
//! and a connect to only its addresses is refused like any unlisted one.

use std::collections::VecDeque;
use std::fmt::Display;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use rusm_caps::{Capabilities, HostPolicy};
use rusm_core::Pid;

use crate::resolver::Resolver;

/// The lifecycle log's `tracing` target (rusm-node's `lifecycle::TARGET`;
/// this crate sits below rusm-node, so the name is repeated here).
const LIFECYCLE_TARGET: &str = "rusm::lifecycle";

/// Names a process's socket lookups resolved, remembered for its connects.
pub(crate) const MAX_RESOLVED_NAMES: usize = 256;

/// The destination checker of one process, shared by its socket checks,
/// its socket lookups and its HTTP client.
#[derive(Debug)]
pub(crate) struct Destinations {
    policy: HostPolicy,
    /// Who the process is, as the lifecycle log names it (`name#pid`);
    /// formatted only when a refusal is logged.
    who: Who,
    resolver: Resolver,
    /// Oldest first: a normalized name and the addresses handed out for
    /// it. Kept only where the policy needs it (a list of entries).
    resolved: Mutex<VecDeque<(String, Vec<IpAddr>)>>,
}

/// `name#pid` (see [`Destinations::who`]).
#[derive(Debug)]
struct Who(Box<str>, Pid);

impl Display for Who {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}#{}", self.0, self.1)
    }
}

impl Destinations {
    /// The destinations of process `name#pid` under `caps`; its lookups
    /// time out after `lookup_timeout`.
    pub(crate) fn new(
        caps: &Capabilities,
        name: &str,
        pid: Pid,
        lookup_timeout: Duration,
    ) -> Arc<Self> {
        Arc::new(Destinations {
            policy: caps.host_policy(),
            who: Who(name.into(), pid),
            resolver: Resolver::new(lookup_timeout),
            resolved: Mutex::new(VecDeque::new()),
        })
    }

    pub(crate) fn policy(&self) -> &HostPolicy {
        &self.policy
    }

    pub(crate) fn resolver(&self) -> &Resolver {
        &self.resolver
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

    /// Logs a refused socket lookup: of the name (`db.internal`), or of
    /// one of its answers (`rebind.example.com -> 127.0.0.1`).
    pub(crate) fn deny_lookup(&self, name: &str, answer: Option<IpAddr>) {
        match answer {
            None => tracing::warn!(
                target: LIFECYCLE_TARGET,
                "rusm deny {} lookup {name}",
                self.who
            ),
            Some(ip) => tracing::warn!(
                target: LIFECYCLE_TARGET,
                "rusm deny {} lookup {name} -> {ip}",
                self.who
            ),
        }
    }

    /// Records that the socket lookup of `name` (normalized) handed out
    /// `addrs`, for [`check_connect`](Self::check_connect).
    pub(crate) fn remember(&self, name: String, addrs: &[IpAddr]) {
        if !self.policy.needs_resolved_names() || addrs.is_empty() {
            return;
        }
        let mut resolved = self.resolved.lock();
        resolved.retain(|(n, _)| *n != name);
        if resolved.len() == MAX_RESOLVED_NAMES {
            resolved.pop_front();
        }
        resolved.push_back((name, addrs.to_vec()));
    }

    /// May a socket connect to (or send to) `addr`? An address listed
    /// itself, or one a remembered name resolved to, asked again with the
    /// port. A refusal is logged.
    pub(crate) fn check_connect(&self, addr: SocketAddr) -> bool {
        if self.policy.check_addr(addr) || self.resolved_to(addr) {
            return true;
        }
        self.deny(&addr);
        false
    }

    fn resolved_to(&self, addr: SocketAddr) -> bool {
        if !self.policy.needs_resolved_names() {
            return false;
        }
        let addr = SocketAddr::new(addr.ip().to_canonical(), addr.port());
        let resolved = self.resolved.lock();
        resolved.iter().rev().any(|(name, ips)| {
            ips.contains(&addr.ip())
                && self
                    .policy
                    .check_name(name, addr.port())
                    .is_ok_and(|how| self.policy.check_resolved(how, addr))
        })
    }
}
