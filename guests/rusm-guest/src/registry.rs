//! Names: register this process under a name, find a process by name.

use crate::error::{Result, check};
use crate::process::Pid;
use crate::sys;

/// Names this process. `Err(Exists)` if the name is taken; `Err(Denied)`
/// for the name of a manifest component this process does not run.
pub fn register(name: &str) -> Result<()> {
    // SAFETY: the slice is valid for its length.
    check(unsafe { sys::register(name.as_ptr(), name.len()) }.into()).map(drop)
}

/// Drops a name this process holds.
pub fn unregister(name: &str) -> Result<()> {
    // SAFETY: the slice is valid for its length.
    check(unsafe { sys::unregister(name.as_ptr(), name.len()) }.into()).map(drop)
}

/// The process registered under `name`, or `Err(NotFound)`.
pub fn whereis(name: &str) -> Result<Pid> {
    // SAFETY: the slice is valid for its length.
    check(unsafe { sys::whereis(name.as_ptr(), name.len()) }).map(Pid::from_raw)
}

/// A free-form label shown by `process_info` and the host's tools.
pub fn set_label(label: &str) {
    // SAFETY: the slice is valid for its length.
    unsafe { sys::set_label(label.as_ptr(), label.len()) }
}
