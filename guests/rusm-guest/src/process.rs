//! Processes: identity, spawning, links and monitors, exits, introspection.

use crate::error::Result;
use crate::sys;
use core::fmt;

/// A process id. Pids are node-unique and always greater than 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Pid(i64);

impl Pid {
    /// A pid from its number, as another process or the host wrote it.
    pub const fn from_raw(raw: i64) -> Pid {
        Pid(raw)
    }

    /// The pid's number.
    pub const fn raw(self) -> i64 {
        self.0
    }
}

impl fmt::Display for Pid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A node-unique reference: from [`make_ref`] (to tag a request and its
/// reply) or from [`monitor`] (the tag of the `down` message).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ref(i64);

impl Ref {
    /// The reference as a message tag, for [`crate::receive`].
    pub const fn tag(self) -> i64 {
        self.0
    }
}

/// This process's pid.
pub fn own_pid() -> Pid {
    Pid(sys::own_pid())
}

/// A number unique within the node, for tagging a request and its reply.
pub fn make_ref() -> Ref {
    Ref(sys::make_ref())
}

/// Spawns the registered component `name`. A non-empty `arg` is the child's
/// first message (kind data, tag 0, sender = this process). With `link`,
/// the child is linked to this process.
pub fn spawn(name: &str, arg: &[u8], link: bool) -> Result<Pid> {
    sys::spawn(name, arg, link).map(Pid)
}

/// Links this process to `pid`: when one ends abnormally, the other does
/// too (or, trapping exits, gets an `exit` message).
pub fn link(pid: Pid) -> Result<()> {
    sys::link(pid.0)
}

/// Removes a link.
pub fn unlink(pid: Pid) -> Result<()> {
    sys::unlink(pid.0)
}

/// Watches `pid`: its end sends this process a `down` message tagged with
/// the returned reference, with the exit reason as data (`noproc` if it was
/// already dead).
pub fn monitor(pid: Pid) -> Result<Ref> {
    sys::monitor(pid.0).map(Ref)
}

/// Stops watching. `Err(NotFound)` if the monitor already fired.
pub fn demonitor(reference: Ref) -> Result<()> {
    sys::demonitor(reference.0)
}

/// Turns linked exits into `exit` messages (tag -1, reason as data) instead
/// of ending this process. Returns the previous setting.
pub fn trap_exit(on: bool) -> bool {
    sys::trap_exit(on)
}

/// Kills `pid` (reason `killed`, not trappable).
pub fn kill(pid: Pid) -> Result<()> {
    sys::kill(pid.0)
}

/// Ends this process with `reason`: empty is a normal exit, anything else
/// is `crashed: <reason>` and propagates over links.
pub fn exit(reason: &str) -> ! {
    sys::exit(reason)
}

/// Whether `pid` is a live process.
pub fn is_alive(pid: Pid) -> bool {
    sys::is_alive(pid.0)
}

/// Every live process on the node (needs `allow-process-control`).
pub fn processes() -> Result<Vec<Pid>> {
    sys::processes().map(|pids| pids.into_iter().map(Pid).collect())
}

/// `process_info` of `pid` as the JSON object ABI.md describes (pid,
/// component, label, names, links, monitored_by, mailbox_len, trap_exit,
/// memory_bytes).
pub fn info(pid: Pid) -> Result<String> {
    sys::process_info(pid.0)
}

/// The manifest component this process runs, if any (from [`info`]).
pub fn own_component() -> Option<String> {
    let json = info(own_pid()).ok()?;
    json_string_field(&json, "component")
}

/// The string value of a top-level `"key":"value"` in the host's compact
/// JSON; `None` for `null` or a missing key. Enough for the host's own
/// output, whose component names need no escapes.
fn json_string_field(json: &str, key: &str) -> Option<String> {
    let needle = format!("\"{key}\":\"");
    let start = json.find(&needle)? + needle.len();
    let end = json[start..].find('"')? + start;
    Some(json[start..end].to_owned())
}

/// Sleeps this process (not the node) for `duration`.
pub fn sleep(duration: core::time::Duration) {
    sys::sleep(crate::message::millis(duration))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn component_field_is_read_from_host_json() {
        let json = r#"{"component":"pong","label":null,"pid":4}"#;
        assert_eq!(json_string_field(json, "component").as_deref(), Some("pong"));
        assert_eq!(json_string_field(json, "label"), None);
    }
}
