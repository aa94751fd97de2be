//! Introspection: what a process looks like from outside (`info`), what it
//! is called by people (`set_label`), and the node's bookkeeping in figures
//! (`stats`), for operators, the observer and tests.

use std::sync::Arc;

use crate::process::{State, Watcher};
use crate::{Node, Pid, Usage};

/// What [`Node::info`] tells about a process: a snapshot, taken under its
/// lock, of its identity, relations and what it holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcessInfo {
    /// The process described.
    pub pid: Pid,
    /// Its spawner ([`Pid::NODE`] for a host spawn).
    pub parent: Pid,
    /// What it runs (a component name), if the spawner named it.
    pub name: Option<String>,
    /// What it calls itself (see [`Node::set_label`]).
    pub label: Option<String>,
    /// The names it registered, at most [`INFO_LIST_LIMIT`].
    pub names: Vec<String>,
    /// The processes linked to it, at most [`INFO_LIST_LIMIT`].
    pub links: Vec<Pid>,
    /// The processes monitoring it (not the host's waits), at most
    /// [`INFO_LIST_LIMIT`].
    pub monitored_by: Vec<Pid>,
    /// Messages queued and not yet received.
    pub mailbox_len: u32,
    /// Whether exit signals reach it as `exit` messages.
    pub trap_exit: bool,
    /// Linear memory, as its backend last reported it (0 for a native
    /// body).
    pub memory_bytes: u64,
    /// Bytes it makes the node hold (queued messages, timers, names, and
    /// the room its links and monitors reserve).
    pub queued_bytes: u64,
    /// The monitors it holds on others, at most [`INFO_LIST_LIMIT`].
    pub monitors: Vec<Pid>,
    /// What it is doing.
    pub state: ProcessState,
    /// What it used so far (CPU time as its backend reported it).
    pub usage: Usage,
}

/// What a process is doing, as far as the node can tell from outside.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProcessState {
    /// Running or ready to run (not parked in a receive).
    Running,
    /// Parked in a receive, waiting for a message.
    Waiting,
    /// An exit signal was accepted; the body is being stopped.
    Exiting,
}

impl ProcessState {
    /// Every state, in the order an operator reads them.
    pub const ALL: [ProcessState; 3] = [
        ProcessState::Running,
        ProcessState::Waiting,
        ProcessState::Exiting,
    ];

    /// The lower-case word for it (`running`, `waiting`, `exiting`).
    pub fn as_str(self) -> &'static str {
        match self {
            ProcessState::Running => "running",
            ProcessState::Waiting => "waiting",
            ProcessState::Exiting => "exiting",
        }
    }

    fn of(st: &State) -> ProcessState {
        if st.pending_exit.is_some() {
            ProcessState::Exiting
        } else if st.waker.is_some() {
            // The waker is registered by a receive that found nothing and
            // taken by the next delivery: set means parked on the mailbox.
            ProcessState::Waiting
        } else {
            ProcessState::Running
        }
    }
}

/// One row of [`Node::for_each_process`]: the figures of a process that
/// cost no allocation to read, for views over every process (the
/// observer's table, metrics).
#[derive(Clone, Debug)]
pub struct ProcessSummary {
    /// The process.
    pub pid: Pid,
    /// Its spawner ([`Pid::NODE`] for a host spawn).
    pub parent: Pid,
    /// What it runs (a component name), if the spawner named it.
    pub name: Option<Arc<str>>,
    /// What it is doing.
    pub state: ProcessState,
    /// Messages queued and not yet received.
    pub mailbox_len: u32,
    /// Linear memory, as its backend last reported it.
    pub memory_bytes: u64,
    /// Bytes it makes the node hold.
    pub queued_bytes: u64,
    /// Links it has.
    pub links: u32,
    /// What it used so far.
    pub usage: Usage,
}

/// `info` lists at most this many names, links and watchers: the answer
/// is built in one call, and a process watched by a crowd must not make it
/// megabytes long.
pub const INFO_LIST_LIMIT: usize = 10_000;

/// The longest label a process keeps, in bytes.
pub const MAX_LABEL_BYTES: usize = 1024;

/// A snapshot of the node's bookkeeping, for tests and operators: after
/// every process has gone, every count here is zero.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeStats {
    /// Processes in the table.
    pub processes: usize,
    /// Registered names.
    pub names: usize,
    /// Link ends (a link between two processes counts twice).
    pub links: usize,
    /// Watchers of live processes: monitors and host waits.
    pub monitors: usize,
    /// Pending timers.
    pub timers: usize,
    /// Bytes charged to live processes (`max_queued`).
    pub queued_bytes: usize,
    /// Slots the process table holds (memory kept after a storm).
    pub table_capacity: usize,
}

impl Node {
    /// Describe a live process; `None` if it is not alive.
    pub fn info(&self, pid: Pid) -> Option<ProcessInfo> {
        let p = self.inner.table.get(pid)?;
        let st = p.lock();
        if !st.alive {
            return None;
        }
        let extra = st.extra.as_deref();
        Some(ProcessInfo {
            pid,
            parent: p.parent,
            name: p.name.as_deref().map(str::to_string),
            label: extra.and_then(|e| e.label.clone()),
            names: extra
                .map(|e| {
                    e.names
                        .iter()
                        .take(INFO_LIST_LIMIT)
                        .map(|n| n.to_string())
                        .collect()
                })
                .unwrap_or_default(),
            links: st.links.iter().take(INFO_LIST_LIMIT).copied().collect(),
            monitored_by: st
                .monitored_by
                .iter()
                .filter_map(|w| match w {
                    Watcher::Process { watcher, .. } => Some(*watcher),
                    Watcher::Host(_) => None,
                })
                .take(INFO_LIST_LIMIT)
                .collect(),
            mailbox_len: u32::try_from(st.mailbox.len()).unwrap_or(u32::MAX),
            trap_exit: st.trap_exit,
            memory_bytes: p.memory_bytes(),
            queued_bytes: st.queued as u64,
            monitors: extra
                .map(|e| {
                    e.monitors
                        .iter()
                        .take(INFO_LIST_LIMIT)
                        .map(|&(_, target)| target)
                        .collect()
                })
                .unwrap_or_default(),
            state: ProcessState::of(&st),
            usage: p.usage(st.received),
        })
    }

    /// Call `f` with a summary of every live process, one at a time, each
    /// read under its own lock (never two at once, never the table's while
    /// `f` runs). In no particular order. For views over every process: it
    /// walks them all, so it is for a view refreshed every second or so,
    /// not for a hot path.
    pub fn for_each_process(&self, mut f: impl FnMut(&ProcessSummary)) {
        for p in self.inner.table.processes() {
            let summary = {
                let st = p.lock();
                if !st.alive {
                    continue;
                }
                ProcessSummary {
                    pid: p.pid,
                    parent: p.parent,
                    name: p.name.clone(),
                    state: ProcessState::of(&st),
                    mailbox_len: u32::try_from(st.mailbox.len()).unwrap_or(u32::MAX),
                    memory_bytes: p.memory_bytes(),
                    queued_bytes: st.queued as u64,
                    links: u32::try_from(st.links.len()).unwrap_or(u32::MAX),
                    usage: p.usage(st.received),
                }
            };
            f(&summary);
        }
    }

    /// Whether this node hands final usage to its lifecycle
    /// ([`NodeConfig::accounting`](crate::NodeConfig::accounting)).
    pub fn accounting(&self) -> bool {
        self.inner.config.accounting
    }

    /// Label a process for people (`info`, the observer). At most
    /// [`MAX_LABEL_BYTES`] are kept: a label is a name, not storage.
    pub fn set_label(&self, pid: Pid, label: &str) {
        let mut end = label.len().min(MAX_LABEL_BYTES);
        while !label.is_char_boundary(end) {
            end -= 1;
        }
        if let Some(p) = self.inner.table.get(pid) {
            p.lock().extra().label = Some(label[..end].to_string());
        }
    }

    /// Record the linear memory a backend's process holds (for `info`).
    pub fn set_memory_bytes(&self, pid: Pid, bytes: u64) {
        if let Some(p) = self.inner.table.get(pid) {
            p.set_memory_bytes(bytes);
        }
    }

    /// Count what the node holds. Walks every process under its lock, one
    /// at a time: for tests and operators, not for a hot path.
    pub fn stats(&self) -> NodeStats {
        let mut stats = NodeStats {
            processes: self.inner.table.len(),
            names: self.inner.registry.len(),
            timers: self.inner.timers.len(),
            table_capacity: self.inner.table.capacity(),
            ..NodeStats::default()
        };
        for p in self.inner.table.processes() {
            let st = p.lock();
            stats.links += st.links.len();
            stats.monitors += st.monitored_by.len();
            stats.queued_bytes += st.queued;
        }
        stats
    }
}
