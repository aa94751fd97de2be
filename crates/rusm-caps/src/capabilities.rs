//! The resolved set of grants one process runs with, and the three built-in
//! profiles.
//!
//! A [`Capabilities`] value is final: whatever created it (a built-in, a custom
//! profile, the per-spawn builder) has already applied every override, so the
//! layers that enforce grants read fields and never resolve anything.

use crate::SpawnGrant;
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use std::path::PathBuf;

/// One host directory made visible to the guest (a WASI preopen).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Preopen {
    /// The directory on the host. The manifest resolves relative paths
    /// against its own folder before it gets here.
    pub host: PathBuf,
    /// Where the guest sees it, e.g. `/data`.
    pub guest: String,
    /// Whether the guest may only read.
    #[serde(default)]
    pub read_only: bool,
}

impl Preopen {
    /// Whether `other` grants at least what this preopen grants: the same
    /// directory at the same guest path, and writable if this one is.
    pub fn is_within(&self, other: &Preopen) -> bool {
        self.host == other.host && self.guest == other.guest && (self.read_only || !other.read_only)
    }
}

/// Everything one process may do beyond computing: default deny, so every
/// field's "off" value is the safe one.
///
/// See `CAPABILITIES.md` for what each grant opens and where it is enforced.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Capabilities {
    /// The profile this set was resolved from (`"sandboxed"`, `"worker"`, ...).
    /// Informational: it does not grant anything.
    pub profile: String,
    /// Host directories the guest may open; empty means no disk at all.
    pub preopens: Vec<Preopen>,
    /// Outbound sockets and name lookup.
    pub allow_network: bool,
    /// Binding and accepting sockets.
    pub allow_listen: bool,
    /// The environment keys the guest sees (values are looked up at spawn,
    /// see [`resolve_env`](crate::resolve_env)).
    pub env: Vec<String>,
    /// The node's stdin/stdout/stderr; without it output is dropped.
    pub allow_stdio: bool,
    /// Ceiling on linear memory, in MiB.
    pub max_memory_mb: u64,
    /// Managing processes other than itself and its own children.
    pub allow_process_control: bool,
    /// Which components it may spawn.
    pub allow_spawn: SpawnGrant,
    /// The node's durable key-value store.
    pub allow_storage: bool,
    /// Node-wide cap on live processes under this profile; `None` means only
    /// the node's own cap applies.
    pub max_processes: Option<u64>,
    /// Bound on each mailbox under this profile; `None` means unbounded.
    pub mailbox_capacity: Option<usize>,
}

/// The names of the built-in profiles, in the order `rusm caps` lists them.
pub const BUILTIN_PROFILES: [&str; 3] = ["sandboxed", "network-client", "trusted"];

/// The heap ceiling of `sandboxed` and `network-client`, in MiB.
pub const SANDBOXED_MEMORY_MB: u64 = 64;

/// The heap ceiling of `trusted`, in MiB.
pub const TRUSTED_MEMORY_MB: u64 = 1024;

impl Capabilities {
    /// The default profile: CPU and a 64 MiB heap, nothing else.
    pub fn sandboxed() -> Self {
        Capabilities {
            profile: "sandboxed".to_owned(),
            preopens: Vec::new(),
            allow_network: false,
            allow_listen: false,
            env: Vec::new(),
            allow_stdio: false,
            max_memory_mb: SANDBOXED_MEMORY_MB,
            allow_process_control: false,
            allow_spawn: SpawnGrant::None,
            allow_storage: false,
            max_processes: None,
            mailbox_capacity: None,
        }
    }

    /// `sandboxed` plus outbound network.
    pub fn network_client() -> Self {
        Capabilities {
            profile: "network-client".to_owned(),
            allow_network: true,
            ..Self::sandboxed()
        }
    }

    /// Stdio, outbound and inbound network, process control, spawning any
    /// component, storage and a 1 GiB heap. Still no disk and no environment:
    /// those name host resources, so only a custom profile can grant them.
    pub fn trusted() -> Self {
        Capabilities {
            profile: "trusted".to_owned(),
            preopens: Vec::new(),
            allow_network: true,
            allow_listen: true,
            env: Vec::new(),
            allow_stdio: true,
            max_memory_mb: TRUSTED_MEMORY_MB,
            allow_process_control: true,
            allow_spawn: SpawnGrant::Any,
            allow_storage: true,
            max_processes: None,
            mailbox_capacity: None,
        }
    }

    /// A built-in profile by name, or `None` if `name` is not one of
    /// [`BUILTIN_PROFILES`].
    pub fn builtin(name: &str) -> Option<Self> {
        match name {
            "sandboxed" => Some(Self::sandboxed()),
            "network-client" => Some(Self::network_client()),
            "trusted" => Some(Self::trusted()),
            _ => None,
        }
    }

    /// Starts a per-spawn set from `base`, to override single grants.
    ///
    /// ```
    /// use rusm_caps::Capabilities;
    /// let caps = Capabilities::builder(Capabilities::sandboxed())
    ///     .allow_storage(true)
    ///     .max_memory_mb(16)
    ///     .build();
    /// assert_eq!(caps.summary(), "storage mem=16M");
    /// ```
    pub fn builder(base: Capabilities) -> crate::CapabilitiesBuilder {
        crate::CapabilitiesBuilder::new(base)
    }

    /// The one-line form printed on the lifecycle log's spawn lines: the
    /// granted capabilities in a fixed order, then the memory ceiling, then
    /// the optional caps.
    ///
    /// ```
    /// use rusm_caps::Capabilities;
    /// assert_eq!(Capabilities::sandboxed().summary(), "mem=64M");
    /// assert_eq!(
    ///     Capabilities::trusted().summary(),
    ///     "net listen spawn control storage stdio mem=1024M"
    /// );
    /// ```
    pub fn summary(&self) -> String {
        let mut out = String::new();
        let mut word = |w: &str| {
            out.push_str(w);
            out.push(' ');
        };
        if self.allow_network {
            word("net");
        }
        if self.allow_listen {
            word("listen");
        }
        match &self.allow_spawn {
            SpawnGrant::None => {}
            SpawnGrant::Any => word("spawn"),
            SpawnGrant::Only(names) if names.is_empty() => {}
            SpawnGrant::Only(names) => word(&format!("spawn={}", names.join(","))),
        }
        if self.allow_process_control {
            word("control");
        }
        if self.allow_storage {
            word("storage");
        }
        if self.allow_stdio {
            word("stdio");
        }
        if !self.env.is_empty() {
            word(&format!("env={}", self.env.len()));
        }
        if !self.preopens.is_empty() {
            word(&format!("fs={}", self.preopens.len()));
        }
        // Writing to a String cannot fail.
        let _ = write!(out, "mem={}M", self.max_memory_mb);
        if let Some(n) = self.max_processes {
            let _ = write!(out, " procs={n}");
        }
        if let Some(n) = self.mailbox_capacity {
            let _ = write!(out, " mailbox={n}");
        }
        out
    }

    /// Whether every grant of `self` is also granted by `other`: `self` can
    /// do nothing that `other` could not. The profile name is not compared.
    ///
    /// Caps count as grants in the direction that gives more: a larger
    /// memory ceiling, no process cap (`None`) above any cap, an unbounded
    /// mailbox above any bound.
    ///
    /// ```
    /// use rusm_caps::Capabilities;
    /// assert!(Capabilities::sandboxed().is_within(&Capabilities::network_client()));
    /// assert!(!Capabilities::trusted().is_within(&Capabilities::network_client()));
    /// ```
    pub fn is_within(&self, other: &Capabilities) -> bool {
        let bool_within = |mine: bool, theirs: bool| !mine || theirs;
        self.preopens
            .iter()
            .all(|p| other.preopens.iter().any(|q| p.is_within(q)))
            && bool_within(self.allow_network, other.allow_network)
            && bool_within(self.allow_listen, other.allow_listen)
            && self.env.iter().all(|k| other.env.contains(k))
            && bool_within(self.allow_stdio, other.allow_stdio)
            && self.max_memory_mb <= other.max_memory_mb
            && bool_within(self.allow_process_control, other.allow_process_control)
            && self.allow_spawn.is_within(&other.allow_spawn)
            && bool_within(self.allow_storage, other.allow_storage)
            && bound_within(self.max_processes, other.max_processes)
            && bound_within(self.mailbox_capacity, other.mailbox_capacity)
    }
}

impl Default for Capabilities {
    /// Default deny: [`Capabilities::sandboxed`].
    fn default() -> Self {
        Self::sandboxed()
    }
}

/// `None` is "no bound", which is more than any bound.
fn bound_within<T: PartialOrd>(mine: Option<T>, theirs: Option<T>) -> bool {
    match (mine, theirs) {
        (_, None) => true,
        (None, Some(_)) => false,
        (Some(a), Some(b)) => a <= b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_match_the_spec_table() {
        let s = Capabilities::sandboxed();
        assert_eq!(s.max_memory_mb, 64);
        assert_eq!(s.summary(), "mem=64M");
        assert_eq!(s.profile, "sandboxed");

        let n = Capabilities::network_client();
        assert_eq!(n.summary(), "net mem=64M");
        assert_eq!(n.profile, "network-client");

        let t = Capabilities::trusted();
        assert!(t.allow_stdio && t.allow_network && t.allow_listen);
        assert!(t.allow_process_control && t.allow_storage);
        assert_eq!(t.allow_spawn, SpawnGrant::Any);
        assert_eq!(t.max_memory_mb, 1024);
        assert!(t.preopens.is_empty() && t.env.is_empty());
    }

    #[test]
    fn builtin_by_name() {
        for name in BUILTIN_PROFILES {
            assert_eq!(
                Capabilities::builtin(name).map(|c| c.profile),
                Some(name.to_owned())
            );
        }
        assert_eq!(Capabilities::builtin("admin"), None);
        assert_eq!(Capabilities::default(), Capabilities::sandboxed());
    }

    #[test]
    fn summary_prints_everything_in_order() {
        let caps = Capabilities {
            profile: "all".into(),
            preopens: vec![Preopen {
                host: "/tmp".into(),
                guest: "/tmp".into(),
                read_only: true,
            }],
            allow_network: true,
            allow_listen: true,
            env: vec!["A".into(), "B".into()],
            allow_stdio: true,
            max_memory_mb: 64,
            allow_process_control: true,
            allow_spawn: SpawnGrant::Any,
            allow_storage: true,
            max_processes: Some(10),
            mailbox_capacity: Some(100),
        };
        assert_eq!(
            caps.summary(),
            "net listen spawn control storage stdio env=2 fs=1 mem=64M procs=10 mailbox=100"
        );
    }

    #[test]
    fn summary_lists_spawnable_components() {
        let mut caps = Capabilities::sandboxed();
        caps.allow_spawn = SpawnGrant::Only(vec!["a".into(), "b".into()]);
        assert_eq!(caps.summary(), "spawn=a,b mem=64M");
        caps.allow_spawn = SpawnGrant::Only(vec![]);
        assert_eq!(caps.summary(), "mem=64M");
    }

    #[test]
    fn within_compares_each_grant() {
        let s = Capabilities::sandboxed();
        let t = Capabilities::trusted();
        assert!(s.is_within(&t));
        assert!(!t.is_within(&s));
        assert!(s.is_within(&s));

        let mut bigger = s.clone();
        bigger.max_memory_mb = 65;
        assert!(!bigger.is_within(&s));

        let mut capped = s.clone();
        capped.max_processes = Some(5);
        assert!(capped.is_within(&s), "a cap is less than no cap");
        assert!(!s.is_within(&capped));

        let mut env = s.clone();
        env.env = vec!["HOME".into()];
        assert!(!env.is_within(&s));
    }

    #[test]
    fn read_only_preopen_is_within_writable_one() {
        let ro = Preopen {
            host: "/d".into(),
            guest: "/data".into(),
            read_only: true,
        };
        let rw = Preopen {
            read_only: false,
            ..ro.clone()
        };
        assert!(ro.is_within(&rw));
        assert!(!rw.is_within(&ro));
        let elsewhere = Preopen {
            guest: "/other".into(),
            ..ro.clone()
        };
        assert!(!ro.is_within(&elsewhere));
    }
}
