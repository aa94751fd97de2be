//! Names: register this process under a name, find a process by name, on
//! this node or (global names) in the whole cluster.

use crate::error::Result;
use crate::process::Pid;
use crate::sys;

/// Names this process. `Err(Exists)` if the name is taken; `Err(Denied)`
/// for the name of a manifest component this process does not run.
pub fn register(name: &str) -> Result<()> {
    sys::register(name)
}

/// Drops a name this process holds.
pub fn unregister(name: &str) -> Result<()> {
    sys::unregister(name)
}

/// The process registered under `name`, or `Err(NotFound)`.
pub fn whereis(name: &str) -> Result<Pid> {
    sys::whereis(name).map(Pid::from_raw)
}

/// Names this process in the whole cluster. Returns once every reachable
/// node has accepted the name. Needs the grant `allow-global-names`
/// (`trusted` has it); the name of a manifest component is its own
/// processes' only. The name is freed when this process ends or its node
/// is lost; if two partitions both registered it, the one that loses it
/// on their merge ends `crashed: global name conflict: NAME` (or, trapping
/// exits, gets an `exit` message with that reason).
///
/// `Err(Exists)`: another process holds it; `Err(Denied)`: no grant, or
/// another component's name; `Err(Invalid)`: an empty name;
/// `Err(Limit)`: over `max-queued-mb`; `Err(NoProcess)`: no cluster.
pub fn register_global(name: &str) -> Result<()> {
    sys::register_global(name)
}

/// The process holding the global name `name`, on whichever node, or
/// `Err(NotFound)`.
pub fn whereis_global(name: &str) -> Result<Pid> {
    sys::whereis_global(name).map(Pid::from_raw)
}

/// A free-form label shown by `process_info` and the host's tools.
pub fn set_label(label: &str) {
    sys::set_label(label)
}
