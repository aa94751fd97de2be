//! The per-spawn builder: start from a profile, override single grants.
//!
//! Embedders use it to give one spawn slightly different grants than the
//! profile it names, without declaring a new profile. Each method replaces
//! one grant and leaves the rest of the base untouched, so the result is
//! always "the base, with exactly these changes".

use crate::{Capabilities, Preopen, SpawnGrant};

/// Builds a [`Capabilities`] from a base; see [`Capabilities::builder`].
///
/// ```
/// use rusm_caps::{Capabilities, SpawnGrant};
/// let caps = Capabilities::builder(Capabilities::network_client())
///     .allow_spawn(SpawnGrant::Only(vec!["worker".into()]))
///     .env(["API_KEY"])
///     .mailbox_capacity(Some(1000))
///     .build();
/// assert_eq!(caps.profile, "network-client");
/// assert_eq!(caps.summary(), "net spawn=worker env=1 mem=64M mailbox=1000");
/// ```
#[derive(Clone, Debug)]
#[must_use = "a builder does nothing until `.build()`"]
pub struct CapabilitiesBuilder {
    caps: Capabilities,
}

impl CapabilitiesBuilder {
    /// Starts from `base`; the same as [`Capabilities::builder`].
    pub fn new(base: Capabilities) -> Self {
        CapabilitiesBuilder { caps: base }
    }

    /// Outbound network.
    pub fn allow_network(mut self, allow: bool) -> Self {
        self.caps.allow_network = allow;
        self
    }

    /// Where outbound network may go: `None` for public destinations only,
    /// `Some` for the listed ones.
    pub fn allow_hosts(mut self, hosts: Option<Vec<crate::HostPattern>>) -> Self {
        self.caps.allow_hosts = hosts;
        self
    }

    /// Inbound network (bind, listen, accept).
    pub fn allow_listen(mut self, allow: bool) -> Self {
        self.caps.allow_listen = allow;
        self
    }

    /// Replaces the environment keys the guest sees.
    pub fn env<I, K>(mut self, keys: I) -> Self
    where
        I: IntoIterator<Item = K>,
        K: Into<String>,
    {
        self.caps.env = keys.into_iter().map(Into::into).collect();
        self
    }

    /// The node's stdio.
    pub fn allow_stdio(mut self, allow: bool) -> Self {
        self.caps.allow_stdio = allow;
        self
    }

    /// The linear-memory ceiling, in MiB.
    pub fn max_memory_mb(mut self, mb: u64) -> Self {
        self.caps.max_memory_mb = mb;
        self
    }

    /// Managing other processes.
    pub fn allow_process_control(mut self, allow: bool) -> Self {
        self.caps.allow_process_control = allow;
        self
    }

    /// Which components it may spawn.
    pub fn allow_spawn(mut self, grant: SpawnGrant) -> Self {
        self.caps.allow_spawn = grant;
        self
    }

    /// The durable key-value store.
    pub fn allow_storage(mut self, allow: bool) -> Self {
        self.caps.allow_storage = allow;
        self
    }

    /// The node-wide cap on processes under this profile (`None`: no cap).
    pub fn max_processes(mut self, cap: Option<u64>) -> Self {
        self.caps.max_processes = cap;
        self
    }

    /// The mailbox bound (`None`: unbounded).
    pub fn mailbox_capacity(mut self, capacity: Option<usize>) -> Self {
        self.caps.mailbox_capacity = capacity;
        self
    }

    /// Registering cluster-wide names.
    pub fn allow_global_names(mut self, allow: bool) -> Self {
        self.caps.allow_global_names = allow;
        self
    }

    /// The ceiling on what the node holds for the process outside its
    /// linear memory (queued messages, timers, names, links), in MiB.
    pub fn max_queued_mb(mut self, mb: u64) -> Self {
        self.caps.max_queued_mb = mb;
        self
    }

    /// The descriptors and WASI resources it may hold open at once.
    pub fn max_open_files(mut self, n: u64) -> Self {
        self.caps.max_open_files = n;
        self
    }

    /// Adds one preopened directory to those of the base.
    pub fn preopen(mut self, preopen: Preopen) -> Self {
        self.caps.preopens.push(preopen);
        self
    }

    /// Replaces all preopened directories (an empty list: no disk).
    pub fn preopens(mut self, preopens: impl IntoIterator<Item = Preopen>) -> Self {
        self.caps.preopens = preopens.into_iter().collect();
        self
    }

    /// The finished set. It keeps the base's profile name: the log shows
    /// what it was derived from, the summary shows what it grants.
    pub fn build(self) -> Capabilities {
        self.caps
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn untouched_builder_returns_the_base() {
        let base = Capabilities::trusted();
        assert_eq!(Capabilities::builder(base.clone()).build(), base);
    }

    #[test]
    fn each_method_changes_one_grant() {
        let base = Capabilities::sandboxed();
        let p = Preopen {
            host: "/srv".into(),
            guest: "/srv".into(),
            read_only: true,
        };
        let caps = Capabilities::builder(base.clone())
            .allow_network(true)
            .allow_listen(true)
            .env(vec!["A".to_string()])
            .allow_stdio(true)
            .max_memory_mb(8)
            .allow_process_control(true)
            .allow_spawn(SpawnGrant::Any)
            .allow_storage(true)
            .max_processes(Some(3))
            .mailbox_capacity(Some(4))
            .allow_global_names(true)
            .max_queued_mb(5)
            .max_open_files(6)
            .preopen(p.clone())
            .build();
        assert_eq!(
            caps.summary(),
            "net listen spawn control storage stdio global-names env=1 fs=1 mem=8M \
             queued=5M procs=3 mailbox=4 files=6"
        );
        assert_eq!(caps.preopens, vec![p]);
        let cleared = Capabilities::builder(caps).preopens([]).build();
        assert!(cleared.preopens.is_empty());
    }
}
