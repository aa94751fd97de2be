//! The resolved set of grants one process runs with, and the three built-in
//! profiles.
//!
//! A [`Capabilities`] value is final: whatever created it (a built-in, a custom
//! profile, the per-spawn builder) has already applied every override, so the
//! layers that enforce grants read fields and never resolve anything.

use crate::{HostPattern, HostPolicy, SpawnGrant};
use std::fmt::Write as _;
use std::path::PathBuf;

/// One host directory made visible to the guest (a WASI preopen).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Preopen {
    /// The directory on the host. The manifest resolves relative paths
    /// against its own folder before it gets here.
    pub host: PathBuf,
    /// Where the guest sees it, e.g. `/data`.
    pub guest: String,
    /// Whether the guest may only read.
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
///
/// Aligned to 128 bytes: a runtime shares one `Arc<Capabilities>` among
/// every process of a profile, and each spawn and exit writes its counts;
/// the alignment keeps them off the cache lines of the grants each spawn
/// reads (two cores spawning at once would otherwise keep missing on them).
#[derive(Clone, Debug, PartialEq, Eq)]
#[repr(align(128))]
pub struct Capabilities {
    /// The profile this set was resolved from (`"sandboxed"`, `"worker"`, ...).
    /// Informational: it grants nothing, and only picks which defaults
    /// [`summary`](Self::summary) leaves out.
    pub profile: String,
    /// Host directories the guest may open; empty means no disk at all.
    pub preopens: Vec<Preopen>,
    /// Outbound sockets, name lookup and HTTP.
    pub allow_network: bool,
    /// Where outbound network may go (`allow-hosts`): `None` is the
    /// public-only default (no internal address), `Some` only the listed
    /// destinations (`*` is every one). Checked by [`HostPolicy`].
    pub allow_hosts: Option<Vec<HostPattern>>,
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
    /// the node's own cap applies. A spawn past it returns `limit`, so a
    /// spawn bomb stops there. Enforced by the actor core.
    pub max_processes: Option<u64>,
    /// Bound on each mailbox under this profile; `None` means unbounded.
    pub mailbox_capacity: Option<usize>,
    /// Cluster-wide names (`CLUSTER.md`): registering them touches every
    /// node, so it is a grant, not a given. Enforced by the cluster.
    pub allow_global_names: bool,
    /// Ceiling, in MiB, on what the process makes the node hold for it
    /// outside its linear memory: queued messages, pending timers, names,
    /// links and monitors. Without it a guest could grow the host's heap
    /// through other processes' mailboxes. Enforced by the actor core.
    pub max_queued_mb: u64,
    /// Descriptors and WASI resources the process may hold open at once.
    /// Enforced by the WASI context.
    pub max_open_files: u64,
}

/// The names of the built-in profiles, in the order `rusm caps` lists them.
pub const BUILTIN_PROFILES: [&str; 3] = ["sandboxed", "network-client", "trusted"];

/// The heap ceiling of `sandboxed` and `network-client`, in MiB.
pub const SANDBOXED_MEMORY_MB: u64 = 64;

/// The heap ceiling of `trusted`, in MiB.
pub const TRUSTED_MEMORY_MB: u64 = 1024;

/// The per-profile process cap of `sandboxed` and `network-client`
/// (`trusted` has none: only the node's cap applies).
pub const SANDBOXED_MAX_PROCESSES: u64 = 10_000;

/// The host-memory ceiling (`max-queued-mb`) of `sandboxed` and
/// `network-client`, in MiB.
pub const SANDBOXED_QUEUED_MB: u64 = 64;

/// The host-memory ceiling (`max-queued-mb`) of `trusted`, in MiB.
pub const TRUSTED_QUEUED_MB: u64 = 1024;

/// The open descriptors and resources (`max-open-files`) of `sandboxed` and
/// `network-client`.
pub const SANDBOXED_OPEN_FILES: u64 = 256;

/// The open descriptors and resources (`max-open-files`) of `trusted`.
pub const TRUSTED_OPEN_FILES: u64 = 4096;

impl Capabilities {
    /// The default profile: CPU, a 64 MiB heap and the default limits,
    /// nothing else.
    pub fn sandboxed() -> Self {
        Capabilities {
            profile: "sandboxed".to_owned(),
            preopens: Vec::new(),
            allow_network: false,
            allow_hosts: None,
            allow_listen: false,
            env: Vec::new(),
            allow_stdio: false,
            max_memory_mb: SANDBOXED_MEMORY_MB,
            allow_process_control: false,
            allow_spawn: SpawnGrant::None,
            allow_storage: false,
            max_processes: Some(SANDBOXED_MAX_PROCESSES),
            mailbox_capacity: None,
            allow_global_names: false,
            max_queued_mb: SANDBOXED_QUEUED_MB,
            max_open_files: SANDBOXED_OPEN_FILES,
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

    /// Stdio, outbound network to every destination (`allow-hosts =
    /// ["*"]`), inbound network, process control, spawning any
    /// component, storage, global names, a 1 GiB heap and the larger limits.
    /// Still no disk and no environment: those name host resources, so only
    /// a custom profile can grant them.
    pub fn trusted() -> Self {
        Capabilities {
            profile: "trusted".to_owned(),
            preopens: Vec::new(),
            allow_network: true,
            allow_hosts: Some(vec![HostPattern::any()]),
            allow_listen: true,
            env: Vec::new(),
            allow_stdio: true,
            max_memory_mb: TRUSTED_MEMORY_MB,
            allow_process_control: true,
            allow_spawn: SpawnGrant::Any,
            allow_storage: true,
            max_processes: None,
            mailbox_capacity: None,
            allow_global_names: true,
            max_queued_mb: TRUSTED_QUEUED_MB,
            max_open_files: TRUSTED_OPEN_FILES,
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

    /// The destination checker of a process with these grants.
    pub fn host_policy(&self) -> HostPolicy {
        HostPolicy::of(self)
    }

    /// The one-line form printed on the lifecycle log's spawn lines and by
    /// `rusm caps`: the granted capabilities in a fixed order, then the
    /// memory ceiling, then the limits.
    ///
    /// The words: `net[=hosts] listen spawn[=a,b] control storage stdio
    /// global-names env=N fs=N mem=NM queued=NM procs=N mailbox=N files=N`.
    /// `net` to `fs` appear when granted, `mem` always; `net` carries its
    /// `allow-hosts` entries (`net=api.example.com:443,10.0.0.0/8`) unless
    /// they are the tier's (public-only, or `*` for `trusted`). `global-names` and
    /// the limits (`queued`, `procs`, `mailbox`, `files`) appear only where
    /// they differ from the built-in defaults of the set's *tier*:
    /// `trusted`'s when [`profile`](Self::profile) is `"trusted"`,
    /// `sandboxed`'s otherwise (`network-client` has the same limits, and a
    /// custom profile is compared with the default-deny base). That keeps
    /// the built-ins' lines as short as they were before those grants
    /// existed, while a custom profile shows everything it holds beyond
    /// default deny; the price is that a line is read with its profile name
    /// (`trusted` holds more than its words say). Going below a default
    /// needs its own words: `procs=node-cap` (no per-profile cap, only the
    /// node's) and `no-global-names` (a `trusted` set without them).
    ///
    /// ```
    /// use rusm_caps::Capabilities;
    /// assert_eq!(Capabilities::sandboxed().summary(), "mem=64M");
    /// assert_eq!(
    ///     Capabilities::trusted().summary(),
    ///     "net listen spawn control storage stdio mem=1024M"
    /// );
    /// let mut more = Capabilities::sandboxed();
    /// more.allow_global_names = true;
    /// more.max_queued_mb = 128;
    /// more.max_processes = None;
    /// assert_eq!(more.summary(), "global-names mem=64M queued=128M procs=node-cap");
    /// ```
    pub fn summary(&self) -> String {
        let tier = if self.profile == "trusted" {
            Self::trusted()
        } else {
            Self::sandboxed()
        };
        let mut out = String::new();
        let mut word = |w: &str| {
            out.push_str(w);
            out.push(' ');
        };
        if self.allow_network {
            if self.allow_hosts == tier.allow_hosts {
                word("net");
            } else {
                word(&format!("net={}", self.host_policy().describe()));
            }
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
        match (self.allow_global_names, tier.allow_global_names) {
            (true, false) => word("global-names"),
            (false, true) => word("no-global-names"),
            _ => {}
        }
        if !self.env.is_empty() {
            word(&format!("env={}", self.env.len()));
        }
        if !self.preopens.is_empty() {
            word(&format!("fs={}", self.preopens.len()));
        }
        // Writing to a String cannot fail.
        let _ = write!(out, "mem={}M", self.max_memory_mb);
        if self.max_queued_mb != tier.max_queued_mb {
            let _ = write!(out, " queued={}M", self.max_queued_mb);
        }
        if self.max_processes != tier.max_processes {
            match self.max_processes {
                Some(n) => {
                    let _ = write!(out, " procs={n}");
                }
                None => out.push_str(" procs=node-cap"),
            }
        }
        // No built-in bounds mailboxes, so any bound differs from the tier.
        if let Some(n) = self.mailbox_capacity {
            let _ = write!(out, " mailbox={n}");
        }
        if self.max_open_files != tier.max_open_files {
            let _ = write!(out, " files={}", self.max_open_files);
        }
        out
    }

    /// Whether every grant of `self` is also granted by `other`: `self` can
    /// do nothing that `other` could not. The profile name is not compared.
    ///
    /// Limits count as grants in the direction that gives more: a larger
    /// memory, host-memory or open-files ceiling, no process cap (`None`)
    /// above any cap, an unbounded mailbox above any bound.
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
            && hosts_within(self.allow_hosts.as_deref(), other.allow_hosts.as_deref())
            && bool_within(self.allow_listen, other.allow_listen)
            && self.env.iter().all(|k| other.env.contains(k))
            && bool_within(self.allow_stdio, other.allow_stdio)
            && self.max_memory_mb <= other.max_memory_mb
            && bool_within(self.allow_process_control, other.allow_process_control)
            && self.allow_spawn.is_within(&other.allow_spawn)
            && bool_within(self.allow_storage, other.allow_storage)
            && bound_within(self.max_processes, other.max_processes)
            && bound_within(self.mailbox_capacity, other.mailbox_capacity)
            && bool_within(self.allow_global_names, other.allow_global_names)
            && self.max_queued_mb <= other.max_queued_mb
            && self.max_open_files <= other.max_open_files
    }
}

impl Default for Capabilities {
    /// Default deny: [`Capabilities::sandboxed`].
    fn default() -> Self {
        Self::sandboxed()
    }
}

/// Whether `mine` reaches no destination that `theirs` does not: `*`
/// covers everything, the public default is covered by `*` only, and a
/// list is covered entry by entry (an entry of `mine` equal to one of
/// `theirs`; a conservative test that never says yes wrongly).
fn hosts_within(mine: Option<&[HostPattern]>, theirs: Option<&[HostPattern]>) -> bool {
    let star = |h: &[HostPattern]| h.iter().any(HostPattern::is_any);
    match (mine, theirs) {
        (_, Some(t)) if star(t) => true,
        (None, None) => true,
        (None, Some(_)) => false,
        (Some(m), None) => m.is_empty(),
        (Some(m), Some(t)) => m.iter().all(|p| t.contains(p)),
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
        assert_eq!(s.max_processes, Some(10_000));
        assert_eq!((s.max_queued_mb, s.max_open_files), (64, 256));
        assert!(!s.allow_global_names);
        assert_eq!(s.summary(), "mem=64M");
        assert_eq!(s.profile, "sandboxed");

        let n = Capabilities::network_client();
        assert_eq!(n.summary(), "net mem=64M");
        assert_eq!(n.profile, "network-client");
        assert_eq!(n.max_processes, Some(10_000));
        assert_eq!((n.max_queued_mb, n.max_open_files), (64, 256));
        assert!(!n.allow_global_names);

        let t = Capabilities::trusted();
        assert!(t.allow_stdio && t.allow_network && t.allow_listen);
        assert!(t.allow_process_control && t.allow_storage);
        assert_eq!(t.allow_spawn, SpawnGrant::Any);
        assert_eq!(t.max_memory_mb, 1024);
        assert!(t.preopens.is_empty() && t.env.is_empty());
        assert_eq!(t.max_processes, None);
        assert_eq!((t.max_queued_mb, t.max_open_files), (1024, 4096));
        assert!(t.allow_global_names);
        assert_eq!(
            t.summary(),
            "net listen spawn control storage stdio mem=1024M"
        );
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
            allow_hosts: None,
            allow_listen: true,
            env: vec!["A".into(), "B".into()],
            allow_stdio: true,
            max_memory_mb: 64,
            allow_process_control: true,
            allow_spawn: SpawnGrant::Any,
            allow_storage: true,
            max_processes: Some(10),
            mailbox_capacity: Some(100),
            allow_global_names: true,
            max_queued_mb: 128,
            max_open_files: 16,
        };
        assert_eq!(
            caps.summary(),
            "net listen spawn control storage stdio global-names env=2 fs=1 mem=64M \
             queued=128M procs=10 mailbox=100 files=16"
        );
    }

    #[test]
    fn summary_leaves_out_the_limits_of_its_tier() {
        // A custom profile is compared with sandboxed, so trusted's limits
        // show once the set is no longer called `trusted`.
        let mut custom = Capabilities::trusted();
        custom.profile = "root".into();
        assert_eq!(
            custom.summary(),
            "net=* listen spawn control storage stdio global-names mem=1024M \
             queued=1024M procs=node-cap files=4096"
        );

        // A `trusted` set is compared with trusted: what it gives up shows.
        let narrowed = Capabilities::builder(Capabilities::trusted())
            .allow_global_names(false)
            .max_processes(Some(10_000))
            .max_queued_mb(64)
            .max_open_files(256)
            .build();
        assert_eq!(
            narrowed.summary(),
            "net listen spawn control storage stdio no-global-names mem=1024M \
             queued=64M procs=10000 files=256"
        );

        let mut network = Capabilities::network_client();
        network.max_open_files = 4096;
        assert_eq!(network.summary(), "net mem=64M files=4096");
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

        let mut names = s.clone();
        names.allow_global_names = true;
        assert!(!names.is_within(&s));
        assert!(s.is_within(&names));

        let mut queued = s.clone();
        queued.max_queued_mb = 65;
        assert!(!queued.is_within(&s), "a larger limit is more");
        assert!(s.is_within(&queued));

        let mut files = s.clone();
        files.max_open_files = 255;
        assert!(files.is_within(&s), "a smaller limit is less");
        assert!(!s.is_within(&files));
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
