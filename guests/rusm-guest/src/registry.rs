//! Names: register this process under a name, find a process by name.

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

/// A free-form label shown by `process_info` and the host's tools.
pub fn set_label(label: &str) {
    sys::set_label(label)
}
