//! Clusters (CLUSTER.md): processes on other nodes, names for the whole
//! cluster, and which nodes there are.
//!
//! Everything else already works across nodes with the same calls: a
//! [`Pid`] names a process wherever it runs, and [`send`](crate::send),
//! [`link`](crate::link), [`monitor`](crate::monitor),
//! [`is_alive`](crate::is_alive) take a remote pid as they take a local
//! one. When a node becomes unreachable, every link and monitor with its
//! processes fires with reason `noconnection`.
//!
//! On a node that is not in a cluster, [`spawn_on`], [`register_global`]
//! and [`node_of`] answer `Err(NoProcess)`, [`whereis_global`]
//! `Err(NotFound)`, and [`nodes`] an empty list.
//!
//! ```no_run
//! use rusm_guest::{Error, nodes, own_pid, spawn_on};
//!
//! // One worker on every other node, linked to this process.
//! fn spread() -> Result<(), Error> {
//!     let here = rusm_guest::node_of(own_pid())?;
//!     for node in nodes().into_iter().filter(|n| *n != here) {
//!         spawn_on(&node, "worker", b"", true)?;
//!     }
//!     Ok(())
//! }
//! ```

use crate::error::Result;
use crate::process::Pid;
use crate::sys;

/// Spawns the registered component `name` on `node`, under that node's
/// declared profile for it. This process needs `allow-spawn` covering
/// `name` (as for [`spawn`](crate::spawn)); the other node runs only
/// components it marks `remote = true`. A non-empty `arg` is the child's
/// first message; with `link`, the child is linked to this process.
///
/// `Err(Denied)`: no grant here, or not `remote = true` there;
/// `Err(NotFound)`: no such component there; `Err(NoProcess)`: the node
/// is unreachable or unknown (or there is no cluster); `Err(Invalid)`: an
/// empty node or component name; `Err(Limit)`: `arg` is over a message
/// size cap, or a process limit was reached there.
pub fn spawn_on(node: &str, name: &str, arg: &[u8], link: bool) -> Result<Pid> {
    sys::spawn_on(node, name, arg, link).map(Pid::from_raw)
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

/// The names of the reachable nodes, this one included, sorted; empty
/// without a cluster.
pub fn nodes() -> Vec<String> {
    sys::nodes()
}

/// The name of the node `pid` lives on (this node's for a local pid), or
/// `Err(NoProcess)` for a pid of no node of the cluster, or without one.
pub fn node_of(pid: Pid) -> Result<String> {
    sys::node_of(pid.raw())
}
