//! Named profiles: the three built-ins plus the custom ones a manifest
//! declares, and how a name becomes a [`Capabilities`].
//!
//! A custom profile works like Cargo's `[profile.<name>]`: it names a
//! built-in base and overrides only the grants it sets. Resolution never
//! fails, because an unknown name must not stop a node from booting; it
//! falls back to default-deny `sandboxed` and says so in
//! [`Resolved::fell_back`], so that `rusm check` can warn.

use crate::{Capabilities, Preopen, SpawnGrant};
use std::collections::BTreeMap;

/// The grants one custom profile sets; `None` leaves the base's grant as is.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProfileOverrides {
    /// The built-in base (`"sandboxed"` when unset). Only built-ins can be
    /// bases; the manifest reports anything else as an error, and resolution
    /// then uses `sandboxed`.
    pub inherits: Option<String>,
    /// Replaces the base's [`Capabilities::preopens`].
    pub preopens: Option<Vec<Preopen>>,
    /// Replaces the base's [`Capabilities::allow_network`].
    pub allow_network: Option<bool>,
    /// Replaces the base's [`Capabilities::allow_hosts`].
    pub allow_hosts: Option<Vec<crate::HostPattern>>,
    /// Replaces the base's [`Capabilities::allow_listen`].
    pub allow_listen: Option<bool>,
    /// Replaces the base's [`Capabilities::env`].
    pub env: Option<Vec<String>>,
    /// Replaces the base's [`Capabilities::allow_stdio`].
    pub allow_stdio: Option<bool>,
    /// Replaces the base's [`Capabilities::max_memory_mb`].
    pub max_memory_mb: Option<u64>,
    /// Replaces the base's [`Capabilities::allow_process_control`].
    pub allow_process_control: Option<bool>,
    /// Replaces the base's [`Capabilities::allow_spawn`].
    pub allow_spawn: Option<SpawnGrant>,
    /// Replaces the base's [`Capabilities::allow_storage`].
    pub allow_storage: Option<bool>,
    /// `Some(n)` sets the cap. There is no way to remove a base's cap
    /// (`sandboxed` and `network-client` have one): a profile that needs
    /// only the node's cap inherits `trusted`.
    pub max_processes: Option<u64>,
    /// `Some(n)` bounds the mailbox; no built-in bounds it.
    pub mailbox_capacity: Option<usize>,
    /// Replaces the base's [`Capabilities::allow_global_names`].
    pub allow_global_names: Option<bool>,
    /// Replaces the base's [`Capabilities::max_queued_mb`].
    pub max_queued_mb: Option<u64>,
    /// Replaces the base's [`Capabilities::max_open_files`].
    pub max_open_files: Option<u64>,
}

impl ProfileOverrides {
    /// `base` with every grant this profile sets replaced, and nothing else
    /// changed. The profile name stays the base's; [`Profiles::resolve`]
    /// renames it.
    pub fn apply(&self, base: Capabilities) -> Capabilities {
        let mut b = Capabilities::builder(base);
        if let Some(v) = &self.preopens {
            b = b.preopens(v.iter().cloned());
        }
        if let Some(v) = self.allow_network {
            b = b.allow_network(v);
        }
        if let Some(v) = &self.allow_hosts {
            b = b.allow_hosts(Some(v.clone()));
        }
        if let Some(v) = self.allow_listen {
            b = b.allow_listen(v);
        }
        if let Some(v) = &self.env {
            b = b.env(v.iter().cloned());
        }
        if let Some(v) = self.allow_stdio {
            b = b.allow_stdio(v);
        }
        if let Some(v) = self.max_memory_mb {
            b = b.max_memory_mb(v);
        }
        if let Some(v) = self.allow_process_control {
            b = b.allow_process_control(v);
        }
        if let Some(v) = &self.allow_spawn {
            b = b.allow_spawn(v.clone());
        }
        if let Some(v) = self.allow_storage {
            b = b.allow_storage(v);
        }
        if let Some(v) = self.max_processes {
            b = b.max_processes(Some(v));
        }
        if let Some(v) = self.mailbox_capacity {
            b = b.mailbox_capacity(Some(v));
        }
        if let Some(v) = self.allow_global_names {
            b = b.allow_global_names(v);
        }
        if let Some(v) = self.max_queued_mb {
            b = b.max_queued_mb(v);
        }
        if let Some(v) = self.max_open_files {
            b = b.max_open_files(v);
        }
        b.build()
    }

    /// The base this profile resolves on: its `inherits` if that is a
    /// built-in, else `sandboxed`.
    pub fn base(&self) -> Capabilities {
        self.inherits
            .as_deref()
            .and_then(Capabilities::builtin)
            .unwrap_or_else(Capabilities::sandboxed)
    }
}

/// The custom profiles of one manifest, by name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Profiles {
    custom: BTreeMap<String, ProfileOverrides>,
}

/// The outcome of [`Profiles::resolve`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolved {
    /// The grants to run with.
    pub caps: Capabilities,
    /// True when the name was neither built-in nor custom, so `caps` is the
    /// `sandboxed` fallback.
    pub fell_back: bool,
}

impl Profiles {
    /// No custom profiles: only the built-ins resolve.
    pub fn new() -> Self {
        Self::default()
    }

    /// Declares (or replaces) a custom profile. A name that is a built-in is
    /// stored but never resolved, because built-ins win; the manifest reports
    /// such a declaration as an error.
    pub fn insert(&mut self, name: String, overrides: ProfileOverrides) {
        self.custom.insert(name, overrides);
    }

    /// The overrides a custom profile declared.
    pub fn get(&self, name: &str) -> Option<&ProfileOverrides> {
        self.custom.get(name)
    }

    /// Whether `name` resolves without falling back.
    pub fn contains(&self, name: &str) -> bool {
        Capabilities::builtin(name).is_some() || self.custom.contains_key(name)
    }

    /// The grants a profile name stands for.
    ///
    /// ```
    /// use rusm_caps::{Profiles, ProfileOverrides};
    /// let mut profiles = Profiles::default();
    /// profiles.insert(
    ///     "agent".into(),
    ///     ProfileOverrides {
    ///         inherits: Some("network-client".into()),
    ///         max_memory_mb: Some(256),
    ///         ..Default::default()
    ///     },
    /// );
    /// let agent = profiles.resolve("agent");
    /// assert_eq!(agent.caps.summary(), "net mem=256M");
    /// assert_eq!(agent.caps.profile, "agent");
    ///
    /// let typo = profiles.resolve("agnet");
    /// assert!(typo.fell_back);
    /// assert_eq!(typo.caps.profile, "sandboxed");
    /// ```
    pub fn resolve(&self, name: &str) -> Resolved {
        if let Some(caps) = Capabilities::builtin(name) {
            return Resolved {
                caps,
                fell_back: false,
            };
        }
        match self.custom.get(name) {
            Some(overrides) => {
                let mut caps = overrides.apply(overrides.base());
                caps.profile = name.to_owned();
                Resolved {
                    caps,
                    fell_back: false,
                }
            }
            None => Resolved {
                caps: Capabilities::sandboxed(),
                fell_back: true,
            },
        }
    }

    /// The custom profile names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.custom.keys().map(String::as_str)
    }

    /// How many custom profiles there are.
    pub fn len(&self) -> usize {
        self.custom.len()
    }

    /// Whether there are no custom profiles.
    pub fn is_empty(&self) -> bool {
        self.custom.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_resolve_to_themselves() {
        let profiles = Profiles::default();
        for name in crate::BUILTIN_PROFILES {
            let r = profiles.resolve(name);
            assert!(!r.fell_back);
            assert_eq!(Some(r.caps), Capabilities::builtin(name));
        }
    }

    #[test]
    fn custom_defaults_to_sandboxed_base() {
        let mut profiles = Profiles::default();
        profiles.insert(
            "worker".into(),
            ProfileOverrides {
                allow_storage: Some(true),
                ..Default::default()
            },
        );
        let r = profiles.resolve("worker");
        assert!(!r.fell_back);
        assert_eq!(r.caps.summary(), "storage mem=64M");
        assert_eq!(r.caps.profile, "worker");
    }

    #[test]
    fn custom_can_take_grants_away_from_its_base() {
        let mut profiles = Profiles::default();
        profiles.insert(
            "quiet".into(),
            ProfileOverrides {
                inherits: Some("trusted".into()),
                allow_stdio: Some(false),
                allow_spawn: Some(SpawnGrant::None),
                ..Default::default()
            },
        );
        // A custom name is compared with sandboxed, so trusted's larger
        // limits show in its summary.
        assert_eq!(
            profiles.resolve("quiet").caps.summary(),
            "net=* listen control storage global-names mem=1024M \
             queued=1024M procs=node-cap files=4096"
        );
    }

    #[test]
    fn custom_overrides_the_limits_of_trusted() {
        let mut profiles = Profiles::default();
        profiles.insert(
            "root".into(),
            ProfileOverrides {
                inherits: Some("trusted".into()),
                allow_global_names: Some(false),
                max_queued_mb: Some(512),
                max_open_files: Some(100),
                max_processes: Some(20),
                ..Default::default()
            },
        );
        let caps = profiles.resolve("root").caps;
        assert!(!caps.allow_global_names);
        assert_eq!(caps.max_queued_mb, 512);
        assert_eq!(caps.max_open_files, 100);
        assert_eq!(caps.max_processes, Some(20));
        assert!(caps.is_within(&Capabilities::trusted()));
        assert_eq!(
            caps.summary(),
            "net=* listen spawn control storage stdio mem=1024M queued=512M procs=20 files=100"
        );
    }

    #[test]
    fn unknown_base_resolves_on_sandboxed() {
        let mut profiles = Profiles::default();
        profiles.insert(
            "a".into(),
            ProfileOverrides {
                inherits: Some("b".into()),
                ..Default::default()
            },
        );
        profiles.insert(
            "b".into(),
            ProfileOverrides {
                inherits: Some("trusted".into()),
                ..Default::default()
            },
        );
        assert_eq!(profiles.resolve("a").caps.summary(), "mem=64M");
    }

    #[test]
    fn builtins_cannot_be_shadowed() {
        let mut profiles = Profiles::default();
        profiles.insert(
            "sandboxed".into(),
            ProfileOverrides {
                allow_stdio: Some(true),
                ..Default::default()
            },
        );
        assert_eq!(
            profiles.resolve("sandboxed").caps,
            Capabilities::sandboxed()
        );
    }

    #[test]
    fn unknown_falls_back() {
        let r = Profiles::default().resolve("admn");
        assert!(r.fell_back);
        assert_eq!(r.caps, Capabilities::sandboxed());
    }

    #[test]
    fn names_are_sorted() {
        let mut profiles = Profiles::default();
        for n in ["zeta", "alpha", "mid"] {
            profiles.insert(n.into(), ProfileOverrides::default());
        }
        assert_eq!(
            profiles.names().collect::<Vec<_>>(),
            ["alpha", "mid", "zeta"]
        );
        assert_eq!(profiles.len(), 3);
        assert!(profiles.contains("trusted") && profiles.contains("mid"));
        assert!(!profiles.contains("nope"));
    }
}
