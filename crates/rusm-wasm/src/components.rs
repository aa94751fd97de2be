//! The components a runtime can spawn by name, and the rule that gives
//! their processes capabilities.
//!
//! A component is *declared* (registered with a profile: it runs under that
//! profile whoever spawns it, and its name is reserved for its processes)
//! or *ad hoc* (registered without one: it runs under its spawner's
//! capabilities, or `sandboxed` when the host spawns it).
//! [`Registered::caps_for`] is that rule, written once.

use std::sync::Arc;

use parking_lot::RwLock;
use rusm_caps::Capabilities;
use rusm_core::Error;
// Looked up on every spawn by name and every HTTP request; the names are
// the operator's (a manifest's components), so a keyed hash buys nothing.
use rustc_hash::FxHashMap as HashMap;

/// Components by name. Generic over the artifact it maps names to, so that
/// it sits below the artifact (which holds the shapes' `InstancePre`s).
pub(crate) struct Components<A> {
    registered: RwLock<HashMap<String, Registered<A>>>,
}

/// One component registered for spawn-by-name.
#[derive(Clone)]
pub(crate) struct Registered<A> {
    /// Shared by the processes it runs, as their name and component.
    pub(crate) name: Arc<str>,
    pub(crate) artifact: A,
    /// The declared profile; `None` for an ad-hoc registration.
    caps: Option<Arc<Capabilities>>,
}

/// Who asks for a registered component's process.
#[derive(Clone, Copy)]
pub(crate) enum Spawner<'a> {
    /// The host (a CLI, a node's residents, a supervisor's start function):
    /// it grants nothing by default.
    Host,
    /// A Wasm process, with its own capabilities.
    Process(&'a Arc<Capabilities>),
}

impl<A> Registered<A> {
    /// The capabilities its process runs under: the declared profile, else
    /// the spawning process's own, and `sandboxed` for an ad-hoc component
    /// spawned by the host. (`allow-spawn`, which decides whether a process
    /// may spawn it at all, is checked before, in `actor.rs`.)
    pub(crate) fn caps_for(&self, spawner: Spawner<'_>) -> Arc<Capabilities> {
        match (&self.caps, spawner) {
            (Some(declared), _) => declared.clone(),
            (None, Spawner::Process(own)) => own.clone(),
            (None, Spawner::Host) => Arc::new(Capabilities::sandboxed()),
        }
    }
}

impl<A: Clone> Components<A> {
    pub(crate) fn new() -> Self {
        Components {
            registered: RwLock::new(HashMap::default()),
        }
    }

    /// Register (or replace) `name`; `caps` is its declared profile, if
    /// any.
    pub(crate) fn add(&self, name: &str, artifact: A, caps: Option<Capabilities>) {
        self.registered.write().insert(
            name.to_string(),
            Registered {
                name: name.into(),
                artifact,
                caps: caps.map(Arc::new),
            },
        );
    }

    pub(crate) fn get(&self, name: &str) -> Result<Registered<A>, Error> {
        self.registered
            .read()
            .get(name)
            .cloned()
            .ok_or(Error::NotFound)
    }

    /// Whether `name` is registered at all (the contract's `component` in
    /// `process_info` names only these).
    pub(crate) fn is_registered(&self, name: &str) -> bool {
        self.registered.read().contains_key(name)
    }

    /// Whether `name` is a declared component, whose name is reserved for
    /// its own processes.
    pub(crate) fn is_component_name(&self, name: &str) -> bool {
        self.registered
            .read()
            .get(name)
            .is_some_and(|r| r.caps.is_some())
    }
}
