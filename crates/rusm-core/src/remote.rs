//! Processes on other nodes: the hooks a cluster plugs into, without the
//! core knowing of networks.
//!
//! A node in a cluster has a *node id* ([`Node::set_node_id`], before its
//! first spawn), which its pids carry ([`Pid::node_id`]). A pid whose id
//! is another node's is *remote*: every operation on it that would look
//! the process up in the table goes to the [`Remote`] the cluster attached
//! instead ([`Node::attach_remote`]), and what the other node sends back
//! comes in through the `*_from_remote` methods here, which do on this
//! node exactly what the local operation would have done on the other
//! side. The relations themselves are recorded as for local processes: a
//! link to a remote pid is in the local process's links, a monitor of one
//! in its monitors, a remote watcher of a local process in its watchers;
//! each still reserves room for the one signal it may bring
//! (`max-queued-mb`), so a process cannot hold unbounded remote relations
//! either.
//!
//! When another node becomes unreachable, [`Node::node_down`] fires every
//! link and monitor between this node's processes and that node's with
//! reason `noconnection`, and forgets the other node's watchers.

use std::sync::Arc;

use crate::process::{SIGNAL_RESERVE, Watcher};
use crate::{Error, ExitReason, Node, Pid, Ref};

/// What a node does for operations on another node's processes: queue
/// them for that node. Every method returns at once (no method waits for
/// the other node); an `Err` means the node is not reachable, or its queue
/// is full.
pub trait Remote: Send + Sync + 'static {
    /// A data message from `from` (local) to `to` (remote).
    fn send(&self, from: Pid, to: Pid, tag: i64, data: Vec<u8>) -> Result<(), Error>;
    /// `from` (local) linked itself to `to` (remote): the other node links
    /// `to` back, or answers with an exit signal `noproc` if `to` is gone.
    fn link(&self, from: Pid, to: Pid) -> Result<(), Error>;
    /// `from` (local) undid its link to `to` (remote).
    fn unlink(&self, from: Pid, to: Pid);
    /// The link between `from` (local, ended with `reason`) and `to`
    /// (remote) fires.
    fn exit(&self, from: Pid, to: Pid, reason: &ExitReason);
    /// `watcher` (local) monitors `target` (remote) under `reference`.
    fn monitor(&self, watcher: Pid, target: Pid, reference: Ref) -> Result<(), Error>;
    /// `watcher` (local) dropped its monitor `reference` of `target`
    /// (remote), or ended.
    fn demonitor(&self, watcher: Pid, target: Pid, reference: Ref);
    /// `target` (local) ended with `reason`; `watcher` (remote) monitored
    /// it under `reference`.
    fn down(&self, target: Pid, watcher: Pid, reference: Ref, reason: &ExitReason);
    /// Kill `target` (remote), on behalf of `from` (checked on this node).
    fn kill(&self, from: Pid, target: Pid) -> Result<(), Error>;
    /// Ask `target` (remote) to stop with `reason`, from `from`.
    fn stop(&self, from: Pid, target: Pid, reason: &ExitReason) -> Result<(), Error>;
}

impl Node {
    /// Make this node's pids carry `id` (1 to [`Pid::MAX_NODE_ID`]). Only
    /// before the first spawn (`Invalid` otherwise, or for an id out of
    /// range, or if an id is set already): a pid never changes its node.
    pub fn set_node_id(&self, id: u32) -> Result<(), Error> {
        if id == 0 || id > Pid::MAX_NODE_ID || self.spawned() != 0 {
            return Err(Error::Invalid);
        }
        self.inner.node_id.set(id).map_err(|_| Error::Invalid)?;
        let base = u64::from(id) << Pid::SERIAL_BITS;
        self.inner
            .next_pid
            .store(base + 1, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }

    /// This node's id (0 outside a cluster).
    pub fn node_id(&self) -> u32 {
        self.inner.node_id.get().copied().unwrap_or(0)
    }

    /// Send operations on other nodes' pids to `remote` from now on
    /// (before, they answer `NoProcess`). Once; `Invalid` after.
    pub fn attach_remote(&self, remote: Arc<dyn Remote>) -> Result<(), Error> {
        self.inner.remote.set(remote).map_err(|_| Error::Invalid)
    }

    /// The hook for `pid`, if it is another node's and a cluster is
    /// attached. Called only once a local lookup failed.
    #[inline(never)]
    pub(crate) fn remote_for(&self, pid: Pid) -> Option<&Arc<dyn Remote>> {
        let remote = self.inner.remote.get()?;
        self.is_remote(pid).then_some(remote)
    }

    /// Whether `pid` names a process of another node (alive or not).
    pub fn is_remote(&self, pid: Pid) -> bool {
        let id = pid.node_id();
        id != 0 && id != self.node_id()
    }

    /// Charge `bytes` of state the host holds for `pid` (a cluster-wide
    /// name, say) to its `max_queued`; `Limit` if it does not fit,
    /// `NoProcess` if it is gone. Never refunded: the charge ends with
    /// the process.
    pub fn charge(&self, pid: Pid, bytes: usize) -> Result<(), Error> {
        let p = self.inner.table.get(pid).ok_or(Error::NoProcess)?;
        let mut st = p.lock();
        if !st.alive {
            return Err(Error::NoProcess);
        }
        st.try_charge(bytes, p.max_queued)
    }

    /// A remote process linked itself to `to` (local): link back, or, if
    /// `to` is not alive, answer with an exit signal `noproc`. Also how a
    /// `spawn_on` with link records the spawner's side of the link the
    /// child's node made as it spawned it (`from` is the child).
    pub fn link_from_remote(&self, from: Pid, to: Pid) {
        let linked = match self.inner.table.get(to) {
            Some(p) => {
                let mut st = p.lock();
                if st.alive && !st.links.contains(&from) {
                    // Charged like a spawn's link: the other side has
                    // reserved already, and this side's room cannot be
                    // refused after the fact.
                    st.queued += SIGNAL_RESERVE;
                    st.links.push(from);
                }
                st.alive
            }
            None => false,
        };
        if !linked && let Some(remote) = self.remote_for(from) {
            remote.exit(to, from, &ExitReason::NoProc);
        }
    }

    /// A remote process undid its link to `to` (local).
    pub fn unlink_from_remote(&self, from: Pid, to: Pid) {
        if let Some(p) = self.inner.table.get(to) {
            p.lock().remove_link(from);
        }
    }

    /// A link between `from` (remote, ended with `reason`) and `to`
    /// (local) fired: as a local link would.
    pub fn exit_from_remote(&self, from: Pid, to: Pid, reason: &ExitReason) {
        self.signal_link(from, reason, to);
    }

    /// A remote `watcher` monitors `target` (local) under `reference`; a
    /// dead target answers `down` `noproc` at once.
    pub fn monitor_from_remote(&self, watcher: Pid, target: Pid, reference: Ref) {
        let attached = self
            .watch_local(target, watcher, reference)
            .unwrap_or(false);
        if !attached && let Some(remote) = self.remote_for(watcher) {
            remote.down(target, watcher, reference, &ExitReason::NoProc);
        }
    }

    /// A remote watcher dropped its monitor `reference` of `target`
    /// (local).
    pub fn demonitor_from_remote(&self, watcher: Pid, target: Pid, reference: Ref) {
        self.drop_watcher(watcher, target, reference);
    }

    /// `target` (remote) ended with `reason` (its text), and `watcher`
    /// (local) monitored it under `reference`: the `down` message, unless
    /// the monitor was dropped meanwhile.
    pub fn down_from_remote(&self, target: Pid, watcher: Pid, reference: Ref, reason: &str) {
        self.push_down(watcher, target, reference, reason);
    }

    /// The node with id `node` became unreachable: every link between one
    /// of its processes and one of this node's fires, and every monitor
    /// either way, with reason `noconnection`; its watchers are forgotten.
    /// Walks every live process once: a node going down is rare, and no
    /// index of remote relations has to be kept on the paths that are not.
    pub fn node_down(&self, node: u32) {
        if node == 0 || node == self.node_id() {
            return;
        }
        let reason = ExitReason::NoConnection;
        let text = reason.to_string();
        for p in self.inner.table.processes() {
            let (links, monitors) = {
                let mut st = p.lock();
                if !st.alive {
                    continue;
                }
                st.monitored_by.retain(
                    |w| !matches!(w, Watcher::Process { watcher, .. } if watcher.node_id() == node),
                );
                let links: Vec<Pid> = st
                    .links
                    .iter()
                    .copied()
                    .filter(|l| l.node_id() == node)
                    .collect();
                let monitors: Vec<(Ref, Pid)> = st
                    .extra
                    .as_deref()
                    .map(|e| {
                        e.monitors
                            .iter()
                            .copied()
                            .filter(|(_, t)| t.node_id() == node)
                            .collect()
                    })
                    .unwrap_or_default();
                (links, monitors)
            };
            for from in links {
                self.signal_link(from, &reason, p.pid);
            }
            for (reference, target) in monitors {
                self.push_down(p.pid, target, reference, &text);
            }
        }
    }
}
