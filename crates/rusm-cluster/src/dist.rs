//! Processes across nodes (CLUSTER.md's semantics) on top of the ordered
//! frames between nodes: what the core's [`Remote`] hook sends, what
//! arrives from other nodes, the calls that wait for another node's
//! answer (liveness, a remote spawn), and cluster-wide names.
//!
//! **Pids.** A node's id ([`node_id`]) is 24 bits of a hash of its name
//! and its creation; the core puts it above each pid's serial. So a pid
//! names its node, and a pid from before a node restarted names no node
//! after it (its old id is gone): `NO_PROCESS`. Two nodes whose ids
//! collide cannot be told apart; the second is refused (logged) rather
//! than letting pids be misrouted.
//!
//! **Frames.** A data message, the frame sent most, is laid out by hand
//! (a kind byte, sender, receiver and tag, then the bytes as they are);
//! every other frame is a postcard-encoded [`Control`]. Every frame from a
//! peer is handled on its connection's reading task, in order, and none
//! waits: a local delivery never blocks, and a remote spawn is a spawn.
//! Frames that do not decode are dropped with a log line.
//!
//! **Global names.** Each node keeps the whole table. Registering asks
//! every reachable node to take the name (each refuses a name it knows as
//! another process's) and succeeds only if all took it; a refusal undoes
//! the claim everywhere. The holder's exit, or its node's loss, frees the
//! name. When nodes meet (a join, or a healed partition) each sends the
//! names its own processes hold; a name held twice is kept by the lower
//! (registration time, node name), and the other holder is stopped with
//! `global name conflict: NAME` (an `exit` message if it traps exits).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use rusm_core::{Error, ExitReason, Node, Pid, Ref, Remote};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

use crate::frames::Inbound;
use crate::lock;
use crate::transport::{Event, Handle, SendError, unix_nanos};

/// How long a call waits for another node's answer before it gives up
/// (the node is then as good as unreachable to the caller).
const CALL_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest global name.
pub const MAX_GLOBAL_NAME: usize = 255;
/// What a global name costs its holder (`max-queued-mb`), beyond its
/// bytes: the entry on every node.
const GLOBAL_OVERHEAD: usize = 128;

/// The id a node's pids carry: 24 bits of a hash of its name and its
/// creation (never 0). A new run of a node has a new creation, so its
/// pids name a new id: one restart in 16.7 million reuses the old one.
pub fn node_id(name: &str, creation: u64) -> u32 {
    // FNV-1a over the name and the creation: stable across builds and
    // platforms, which a std hasher is not.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes().chain(creation.to_le_bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    let id = ((h >> 40) ^ h) as u32 & Pid::MAX_NODE_ID;
    id.max(1)
}

/// Why a call on another node failed: the contract's codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum CallError {
    /// The node is unreachable, unknown, or the process is gone.
    #[error("no such process or node")]
    NoProcess,
    /// The other node refuses (a component not marked `remote = true`).
    #[error("denied")]
    Denied,
    /// No such component there.
    #[error("not found")]
    NotFound,
    /// A limit was reached (processes, queued bytes).
    #[error("limit reached")]
    Limit,
    /// The name is held already.
    #[error("exists")]
    Exists,
    /// A malformed argument.
    #[error("invalid")]
    Invalid,
}

impl From<Error> for CallError {
    fn from(e: Error) -> Self {
        match e {
            Error::NoProcess | Error::Timeout => CallError::NoProcess,
            Error::Invalid => CallError::Invalid,
            Error::Exists => CallError::Exists,
            Error::NotFound => CallError::NotFound,
            Error::Limit => CallError::Limit,
        }
    }
}

/// What a node does when another asks it to spawn (`spawn_on`): the
/// operator's rules (only components marked `remote = true`, under this
/// node's declared profile) live with whoever implements it.
pub trait Spawner: Send + Sync + 'static {
    /// Spawn `component` for `parent` (another node's process), with
    /// `arg` as its first message if not empty, linked to `parent` if
    /// `link`.
    fn spawn_for(
        &self,
        parent: Pid,
        component: &str,
        arg: Vec<u8>,
        link: bool,
    ) -> Result<Pid, CallError>;
}

/// Every frame but a data message.
#[derive(Debug, Serialize, Deserialize)]
enum Control {
    Link {
        from: u64,
        to: u64,
    },
    Unlink {
        from: u64,
        to: u64,
    },
    Exit {
        from: u64,
        to: u64,
        reason: String,
    },
    Monitor {
        watcher: u64,
        target: u64,
        reference: i64,
    },
    Demonitor {
        watcher: u64,
        target: u64,
        reference: i64,
    },
    Down {
        target: u64,
        watcher: u64,
        reference: i64,
        reason: String,
    },
    Kill {
        to: u64,
    },
    Stop {
        from: u64,
        to: u64,
        reason: String,
    },
    Call {
        id: u64,
        call: Call,
    },
    Answer {
        id: u64,
        answer: Answer,
    },
    /// A name released by its holder's node (exit, or a claim undone).
    Release {
        name: String,
        pid: u64,
    },
    /// The names a node's own processes hold, sent to a node it meets.
    Held {
        names: Vec<Global>,
    },
}

#[derive(Debug, Serialize, Deserialize)]
enum Call {
    IsAlive {
        pid: u64,
    },
    ParentOf {
        pid: u64,
    },
    Spawn {
        parent: u64,
        component: String,
        arg: Vec<u8>,
        link: bool,
    },
    Claim {
        global: Global,
    },
}

#[derive(Debug, Serialize, Deserialize)]
enum Answer {
    Bool(bool),
    Pid(Option<u64>),
    Spawned(Result<u64, CallError>),
    Claimed(Result<(), CallError>),
}

/// One holder of a global name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Global {
    name: String,
    pid: u64,
    /// Registration time on the holder's node, nanoseconds since the Unix
    /// epoch: with the node's name, what decides a conflict.
    time: u64,
    node: String,
}

impl Global {
    /// Whether `self` keeps the name against `other` (CLUSTER.md: the
    /// lower registration time, then the lower node name).
    fn wins_over(&self, other: &Global) -> bool {
        (self.time, &self.node, self.pid) < (other.time, &other.node, other.pid)
    }
}

const KIND_DATA: u8 = 0;
const KIND_CONTROL: u8 = 1;
const DATA_HEAD: usize = 1 + 8 + 8 + 8;

/// This node's side of processes across nodes. Cheap to clone.
#[derive(Clone)]
pub struct Dist {
    inner: Arc<DistInner>,
}

struct DistInner {
    node: Node,
    name: String,
    /// Set once the cluster is started (frames before are refused).
    handle: OnceLock<Handle>,
    spawner: Option<Arc<dyn Spawner>>,
    /// Reachable nodes by id, and their names.
    ids: RwLock<HashMap<u32, String>>,
    calls: Mutex<HashMap<u64, (String, oneshot::Sender<Answer>)>>,
    next_call: AtomicU64,
    globals: Mutex<HashMap<String, Global>>,
    /// Messages from other nodes that could not be delivered here.
    dropped: AtomicU64,
    /// Per peer: the start of the current window of refusal lines, and how
    /// many were logged or held back in it.
    refusals: Mutex<HashMap<String, (Instant, u32)>>,
}

/// Refusal lines logged per peer per window; the rest are counted and
/// summed up in the next window's first line, so a peer sending garbage
/// cannot flood the log.
const REFUSALS_LOGGED: u32 = 10;
const REFUSAL_WINDOW: Duration = Duration::from_secs(10);

impl Dist {
    /// The distribution of `node`, named `name`; its node id must have
    /// been set (`Node::set_node_id(node_id(name, creation))`). `spawner`
    /// answers other nodes' `spawn_on` (`None`: every one is `DENIED`).
    pub fn new(node: Node, name: &str, spawner: Option<Arc<dyn Spawner>>) -> Dist {
        Dist {
            inner: Arc::new(DistInner {
                node,
                name: name.to_owned(),
                handle: OnceLock::new(),
                spawner,
                ids: RwLock::new(HashMap::new()),
                calls: Mutex::new(HashMap::new()),
                next_call: AtomicU64::new(1),
                globals: Mutex::new(HashMap::new()),
                dropped: AtomicU64::new(0),
                refusals: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// What [`ClusterConfig::inbound`](crate::ClusterConfig) should be.
    pub fn inbound(&self) -> Inbound {
        let inner = self.inner.clone();
        Arc::new(move |from: &str, frame: Bytes| inner.receive(from, frame))
    }

    /// Start sending through `handle` (the started cluster's), and let the
    /// core route other nodes' pids here.
    pub fn attach(&self, handle: Handle) -> Result<(), Error> {
        self.inner.handle.set(handle).map_err(|_| Error::Invalid)?;
        self.inner.node.attach_remote(Arc::new(self.clone()))
    }

    /// A node came up or went down: learn its id, or fire every link and
    /// monitor with it (`noconnection`), fail the calls waiting on it and
    /// free the global names its processes held.
    pub fn on_event(&self, event: &Event) {
        self.inner.on_event(event);
    }

    /// Relay a cluster's events (the receiver given to
    /// [`Cluster::start`](crate::Cluster::start)): this distribution learns
    /// of each one first ([`Dist::on_event`]: a node's id before any of its
    /// pids is used, links and monitors fired on its loss), then the
    /// returned receiver gets it.
    pub fn follow(
        &self,
        mut events: mpsc::UnboundedReceiver<Event>,
    ) -> mpsc::UnboundedReceiver<Event> {
        let (forward, followed) = mpsc::unbounded_channel();
        let dist = self.clone();
        tokio::spawn(async move {
            while let Some(event) = events.recv().await {
                dist.on_event(&event);
                let _ = forward.send(event);
            }
        });
        followed
    }

    /// The reachable nodes, this one included, sorted.
    pub fn nodes(&self) -> Vec<String> {
        match self.inner.handle.get() {
            Some(h) => h.nodes(),
            None => vec![self.inner.name.clone()],
        }
    }

    /// Whether `pid` names a process of another node.
    pub fn is_remote(&self, pid: Pid) -> bool {
        self.inner.node.is_remote(pid)
    }

    /// The node `pid` names, if it is this one or a reachable one.
    pub fn node_of(&self, pid: Pid) -> Option<String> {
        let id = pid.node_id();
        if id == self.inner.node.node_id() {
            return Some(self.inner.name.clone());
        }
        self.inner.ids.read().ok()?.get(&id).cloned()
    }

    /// Whether a remote `pid` is alive (`false` if its node is not
    /// reachable); a local one is looked up here.
    pub async fn is_alive(&self, pid: Pid) -> bool {
        if !self.inner.node.is_remote(pid) {
            return self.inner.node.is_alive(pid);
        }
        matches!(
            self.inner.call(pid, Call::IsAlive { pid: pid.get() }).await,
            Ok(Answer::Bool(true))
        )
    }

    /// The parent of a process (remote or local), if it is alive.
    pub async fn parent_of(&self, pid: Pid) -> Option<Pid> {
        if !self.inner.node.is_remote(pid) {
            return self.inner.node.parent_of(pid);
        }
        match self
            .inner
            .call(pid, Call::ParentOf { pid: pid.get() })
            .await
        {
            Ok(Answer::Pid(p)) => p.map(Pid),
            _ => None,
        }
    }

    /// Spawn `component` on `node` for `caller` (whose grants were checked
    /// here), linked to it if `link`.
    pub async fn spawn_on(
        &self,
        caller: Pid,
        node: &str,
        component: &str,
        arg: Vec<u8>,
        link: bool,
    ) -> Result<Pid, CallError> {
        if node == self.inner.name {
            let spawner = self.inner.spawner.as_ref().ok_or(CallError::Denied)?;
            return spawner.spawn_for(caller, component, arg, link);
        }
        let call = Call::Spawn {
            parent: caller.get(),
            component: component.to_owned(),
            arg,
            link,
        };
        match self.inner.call_node(node, call).await? {
            Answer::Spawned(Ok(child)) => {
                let child = Pid(child);
                if link {
                    // The child's node linked it to the caller already:
                    // this side records it as a link from the child.
                    self.inner.node.link_from_remote(child, caller);
                }
                Ok(child)
            }
            Answer::Spawned(Err(e)) => Err(e),
            _ => Err(CallError::NoProcess),
        }
    }

    /// Register `name` for `holder` across the cluster: `Ok` once every
    /// reachable node took it, `Exists` if any holds it.
    pub async fn register_global(&self, holder: Pid, name: &str) -> Result<(), CallError> {
        if name.is_empty() || name.len() > MAX_GLOBAL_NAME {
            return Err(CallError::Invalid);
        }
        let inner = &self.inner;
        let global = Global {
            name: name.to_owned(),
            pid: holder.get(),
            time: unix_nanos(),
            node: inner.name.clone(),
        };
        {
            let mut globals = lock(&inner.globals);
            if globals.contains_key(name) {
                return Err(CallError::Exists);
            }
            inner.node.charge(holder, GLOBAL_OVERHEAD + name.len())?;
            globals.insert(name.to_owned(), global.clone());
        }
        // Freed when the holder ends, whichever way.
        let watch = inner.node.wait(holder);
        let released = self.inner.clone();
        let (n, pid) = (name.to_owned(), holder.get());
        tokio::spawn(async move {
            watch.await;
            released.release(&n, pid, true);
        });
        let others: Vec<String> = self
            .nodes()
            .into_iter()
            .filter(|n| *n != inner.name)
            .collect();
        let mut asked = Vec::with_capacity(others.len());
        for node in &others {
            asked.push(inner.call_node(
                node,
                Call::Claim {
                    global: global.clone(),
                },
            ));
        }
        let mut refused = None;
        for answer in futures_join(asked).await {
            match answer {
                // An unreachable node has no say (it gets the name when
                // the nodes meet again).
                Ok(Answer::Claimed(Ok(()))) | Err(CallError::NoProcess) => {}
                Ok(Answer::Claimed(Err(e))) => refused = Some(e),
                Ok(_) => refused = Some(CallError::NoProcess),
                Err(e) => refused = Some(e),
            }
        }
        match refused {
            None => Ok(()),
            Some(e) => {
                inner.release(name, holder.get(), true);
                Err(e)
            }
        }
    }

    /// Messages from other nodes dropped on arrival: the receiver was gone,
    /// never existed, or was over its `max-queued-mb` or mailbox.
    pub fn dropped_messages(&self) -> u64 {
        self.inner.dropped.load(Ordering::Relaxed)
    }

    /// The holder of a global name.
    pub fn whereis_global(&self, name: &str) -> Option<Pid> {
        lock(&self.inner.globals).get(name).map(|g| Pid(g.pid))
    }
}

/// A reason as another node wrote it: parsed as the contract's text, or,
/// if it is not one, kept as a crash with that text (escaped and capped as
/// every reason is).
fn reason_of(text: &str) -> ExitReason {
    text.parse().unwrap_or_else(|_| ExitReason::crashed(text))
}

/// Awaits every future, in order (a handful, one per node).
async fn futures_join<F: std::future::Future>(futures: Vec<F>) -> Vec<F::Output> {
    let handles: Vec<_> = futures.into_iter().map(Box::pin).collect();
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        out.push(h.await);
    }
    out
}

impl DistInner {
    fn name_of(&self, pid: Pid) -> Option<String> {
        self.ids.read().ok()?.get(&pid.node_id()).cloned()
    }

    fn send_frame(&self, node: &str, frame: Vec<u8>) -> Result<(), Error> {
        let handle = self.handle.get().ok_or(Error::NoProcess)?;
        handle.send(node, Bytes::from(frame)).map_err(|e| match e {
            SendError::Unreachable => Error::NoProcess,
            SendError::Busy | SendError::TooLarge => Error::Limit,
        })
    }

    fn control_to(&self, pid: Pid, control: &Control) -> Result<(), Error> {
        let node = self.name_of(pid).ok_or(Error::NoProcess)?;
        self.control_to_node(&node, control)
    }

    fn control_to_node(&self, node: &str, control: &Control) -> Result<(), Error> {
        let mut frame = vec![KIND_CONTROL];
        frame = postcard::to_extend(control, frame).map_err(|_| Error::Invalid)?;
        self.send_frame(node, frame)
    }

    async fn call(&self, pid: Pid, call: Call) -> Result<Answer, CallError> {
        let node = self.name_of(pid).ok_or(CallError::NoProcess)?;
        self.call_node(&node, call).await
    }

    /// Ask `node` and wait for its answer: `NoProcess` if it is not
    /// reachable, goes down meanwhile, or does not answer in time.
    fn call_node(
        &self,
        node: &str,
        call: Call,
    ) -> impl std::future::Future<Output = Result<Answer, CallError>> + Send + 'static {
        let id = self.next_call.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        lock(&self.calls).insert(id, (node.to_owned(), tx));
        let sent = self.control_to_node(node, &Control::Call { id, call });
        if sent.is_err() {
            lock(&self.calls).remove(&id);
        }
        async move {
            sent.map_err(CallError::from)?;
            match tokio::time::timeout(CALL_TIMEOUT, rx).await {
                Ok(Ok(answer)) => Ok(answer),
                _ => Err(CallError::NoProcess),
            }
        }
    }

    fn receive(&self, from: &str, frame: Bytes) {
        match frame.first() {
            Some(&KIND_DATA) if frame.len() >= DATA_HEAD => {
                let word = |at: usize| {
                    let mut b = [0u8; 8];
                    b.copy_from_slice(&frame[at..at + 8]);
                    u64::from_le_bytes(b)
                };
                let (sender, to, tag) = (word(1), word(9), word(17) as i64);
                // A peer speaks for its own processes (or its host) and
                // to this node's only: it cannot pass a message off as
                // another node's process's, nor have this node relay it.
                if !self.is_local(to) || !self.may_send_as(from, sender) {
                    self.refuse(from, format_args!("a message from {sender} to {to}, not from its own process to one of this node's"));
                    return;
                }
                // A dead or missing receiver, or one over its limits: the
                // message is dropped, as a send to a dead process is, and
                // counted (the sender was told 0 already).
                let data = frame[DATA_HEAD..].to_vec();
                if !self.is_local(to) || self.node.send(Pid(sender), Pid(to), tag, data).is_err() {
                    self.dropped.fetch_add(1, Ordering::Relaxed);
                }
            }
            Some(&KIND_CONTROL) => match postcard::from_bytes::<Control>(&frame[1..]) {
                Ok(control) => self.control(from, control),
                Err(e) => {
                    self.refuse(from, format_args!("a frame that does not decode ({e})"));
                }
            },
            _ => {
                self.refuse(
                    from,
                    format_args!("a malformed frame of {} bytes", frame.len()),
                );
            }
        }
    }

    /// Whether peer `node` may send a message as `sender`: its host
    /// (`Pid::NODE`), or a process that is not this node's nor another
    /// known node's. (A node not known yet is let through: the peer's own
    /// node-up may not have reached this side when its first message does.)
    fn may_send_as(&self, node: &str, sender: u64) -> bool {
        if sender == Pid::NODE.get() {
            return true;
        }
        let id = Pid(sender).node_id();
        if id == 0 || id == self.node.node_id() {
            return false;
        }
        self.ids
            .read()
            .ok()
            .and_then(|ids| ids.get(&id).map(|n| n == node))
            .unwrap_or(true)
    }

    /// Log that a frame from `from` was refused and dropped: at most
    /// [`REFUSALS_LOGGED`] lines per peer per [`REFUSAL_WINDOW`].
    fn refuse(&self, from: &str, what: std::fmt::Arguments<'_>) {
        let held_back = {
            let mut refusals = lock(&self.refusals);
            let now = Instant::now();
            let (since, count) = refusals.entry(from.to_owned()).or_insert((now, 0));
            let mut held_back = 0;
            if now.duration_since(*since) >= REFUSAL_WINDOW {
                held_back = count.saturating_sub(REFUSALS_LOGGED);
                *since = now;
                *count = 0;
            }
            *count += 1;
            if *count > REFUSALS_LOGGED {
                return;
            }
            held_back
        };
        if held_back > 0 {
            tracing::warn!(target: "rusm::cluster", "{from} sent {what}; dropped ({held_back} more refusals not logged)");
        } else {
            tracing::warn!(target: "rusm::cluster", "{from} sent {what}; dropped");
        }
    }

    /// Whether `pid` is one of this node's (a peer must not make this node
    /// act on pids that are not its own as if they were).
    fn is_local(&self, pid: u64) -> bool {
        Pid(pid).node_id() == self.node.node_id()
    }

    fn control(&self, from: &str, control: Control) {
        let node = &self.node;
        match control {
            // Each relation names the peer's process on its side: it must
            // be the peer's (`may_send_as`), or a peer could plant links
            // and monitors between this node's own processes.
            Control::Link { from: f, to } if self.is_local(to) && self.may_send_as(from, f) => {
                node.link_from_remote(Pid(f), Pid(to))
            }
            Control::Unlink { from: f, to } if self.is_local(to) && self.may_send_as(from, f) => {
                node.unlink_from_remote(Pid(f), Pid(to))
            }
            Control::Exit {
                from: f,
                to,
                reason,
            } if self.is_local(to) && self.may_send_as(from, f) => {
                node.exit_from_remote(Pid(f), Pid(to), &reason_of(&reason));
            }
            Control::Monitor {
                watcher,
                target,
                reference,
            } if self.is_local(target) && self.may_send_as(from, watcher) => {
                node.monitor_from_remote(Pid(watcher), Pid(target), reference)
            }
            Control::Demonitor {
                watcher,
                target,
                reference,
            } if self.is_local(target) && self.may_send_as(from, watcher) => {
                node.demonitor_from_remote(Pid(watcher), Pid(target), reference)
            }
            Control::Down {
                target,
                watcher,
                reference,
                reason,
            } if self.is_local(watcher) && self.may_send_as(from, target) => {
                // The text goes through the same escaping as any reason.
                let reason = reason_of(&reason).to_string();
                node.down_from_remote(Pid(target), Pid(watcher), reference, &reason);
            }
            Control::Kill { to } if self.is_local(to) => {
                let _ = node.kill(Pid(to));
            }
            Control::Stop {
                from: f,
                to,
                reason,
            } if self.is_local(to) && self.may_send_as(from, f) => {
                let _ = node.stop(Pid(f), Pid(to), reason_of(&reason));
            }
            Control::Call { id, call } => {
                let answer = self.answer(from, call);
                let _ = self.control_to_node(from, &Control::Answer { id, answer });
            }
            Control::Answer { id, answer } => {
                let waiting = lock(&self.calls).remove(&id);
                // Only the node asked may answer.
                if let Some((asked, tx)) = waiting {
                    if asked == from {
                        let _ = tx.send(answer);
                    } else {
                        lock(&self.calls).insert(id, (asked, tx));
                    }
                }
            }
            Control::Release { name, pid } => self.release(&name, pid, false),
            Control::Held { names } => {
                for global in names {
                    self.merge(from, global);
                }
            }
            other => {
                self.refuse(
                    from,
                    format_args!(
                        "{other:?} for a pid of another node, or from a process not its own"
                    ),
                );
            }
        }
    }

    fn answer(&self, from: &str, call: Call) -> Answer {
        let node = &self.node;
        match call {
            Call::IsAlive { pid } => Answer::Bool(self.is_local(pid) && node.is_alive(Pid(pid))),
            Call::ParentOf { pid } => Answer::Pid(
                self.is_local(pid)
                    .then(|| node.parent_of(Pid(pid)))
                    .flatten()
                    .map(Pid::get),
            ),
            Call::Spawn {
                parent,
                component,
                arg,
                link,
            } => Answer::Spawned(match &self.spawner {
                None => Err(CallError::Denied),
                Some(s) => {
                    let parent = Pid(parent);
                    if self.name_of(parent).as_deref() != Some(from) {
                        Err(CallError::Invalid)
                    } else {
                        s.spawn_for(parent, &component, arg, link).map(Pid::get)
                    }
                }
            }),
            Call::Claim { global } => {
                let mut globals = lock(&self.globals);
                Answer::Claimed(match globals.get(&global.name) {
                    Some(held) if held.pid != global.pid => Err(CallError::Exists),
                    _ => {
                        globals.insert(global.name.clone(), global);
                        Ok(())
                    }
                })
            }
        }
    }

    /// Free `name` if `pid` holds it; `tell`: this node's holder let go,
    /// so every other node is told.
    fn release(&self, name: &str, pid: u64, tell: bool) {
        let removed = {
            let mut globals = lock(&self.globals);
            match globals.get(name) {
                Some(g) if g.pid == pid => globals.remove(name).is_some(),
                _ => false,
            }
        };
        if removed
            && tell
            && let Some(h) = self.handle.get()
        {
            let release = Control::Release {
                name: name.to_owned(),
                pid,
            };
            for node in h.nodes() {
                if node != self.name {
                    let _ = self.control_to_node(&node, &release);
                }
            }
        }
    }

    /// Another node's holder of a name, sent as the nodes meet: kept if
    /// the name is free here or it wins; a losing holder of this node is
    /// stopped.
    fn merge(&self, from: &str, incoming: Global) {
        if incoming.node != from || Pid(incoming.pid).node_id() == self.node.node_id() {
            return;
        }
        let loser = {
            let mut globals = lock(&self.globals);
            match globals.get(&incoming.name) {
                Some(held) if held.pid == incoming.pid => None,
                Some(held) if held.wins_over(&incoming) => None,
                held => {
                    let lost = held.cloned();
                    globals.insert(incoming.name.clone(), incoming.clone());
                    lost
                }
            }
        };
        if let Some(lost) = loser
            && self.is_local(lost.pid)
        {
            let reason = ExitReason::crashed(format!("global name conflict: {}", lost.name));
            tracing::warn!(target: "rusm::cluster", "global name {} kept by {} on {}; {} here loses it", lost.name, incoming.pid, incoming.node, lost.pid);
            let _ = self.node.stop(Pid::NODE, Pid(lost.pid), reason);
        }
    }

    fn on_event(&self, event: &Event) {
        match event {
            Event::NodeUp(name) => {
                let Some(creation) = self.handle.get().and_then(|h| h.creation_of(name)) else {
                    return;
                };
                let id = node_id(name, creation);
                if id == self.node.node_id() {
                    tracing::error!(target: "rusm::cluster", "node {name} has the same node id as this node ({id:#x}): its pids cannot be told apart; ignored");
                    return;
                }
                {
                    let mut ids = self.ids.write().unwrap_or_else(|p| p.into_inner());
                    if let Some(other) = ids.get(&id)
                        && other != name
                    {
                        tracing::error!(target: "rusm::cluster", "nodes {other} and {name} have the same node id ({id:#x}); {name} ignored");
                        return;
                    }
                    ids.retain(|_, n| n != name);
                    ids.insert(id, name.clone());
                }
                // The names this node's processes hold, for the newcomer.
                let mine: Vec<Global> = lock(&self.globals)
                    .values()
                    .filter(|g| g.node == self.name)
                    .cloned()
                    .collect();
                if !mine.is_empty() {
                    let _ = self.control_to_node(name, &Control::Held { names: mine });
                }
            }
            Event::NodeDown(name) => {
                let gone: Vec<u32> = {
                    let mut ids = self.ids.write().unwrap_or_else(|p| p.into_inner());
                    let gone = ids
                        .iter()
                        .filter(|(_, n)| *n == name)
                        .map(|(id, _)| *id)
                        .collect();
                    ids.retain(|_, n| n != name);
                    gone
                };
                lock(&self.calls).retain(|_, (asked, _)| asked != name);
                lock(&self.globals).retain(|_, g| g.node != *name);
                for id in gone {
                    self.node.node_down(id);
                }
            }
        }
    }
}

impl Remote for Dist {
    fn send(&self, from: Pid, to: Pid, tag: i64, data: Vec<u8>) -> Result<(), Error> {
        let node = self.inner.name_of(to).ok_or(Error::NoProcess)?;
        let mut frame = Vec::with_capacity(DATA_HEAD + data.len());
        frame.push(KIND_DATA);
        frame.extend_from_slice(&from.get().to_le_bytes());
        frame.extend_from_slice(&to.get().to_le_bytes());
        frame.extend_from_slice(&tag.to_le_bytes());
        frame.extend_from_slice(&data);
        self.inner.send_frame(&node, frame)
    }

    fn link(&self, from: Pid, to: Pid) -> Result<(), Error> {
        self.inner.control_to(
            to,
            &Control::Link {
                from: from.get(),
                to: to.get(),
            },
        )
    }

    fn unlink(&self, from: Pid, to: Pid) {
        let _ = self.inner.control_to(
            to,
            &Control::Unlink {
                from: from.get(),
                to: to.get(),
            },
        );
    }

    fn exit(&self, from: Pid, to: Pid, reason: &ExitReason) {
        let _ = self.inner.control_to(
            to,
            &Control::Exit {
                from: from.get(),
                to: to.get(),
                reason: reason.to_string(),
            },
        );
    }

    fn monitor(&self, watcher: Pid, target: Pid, reference: Ref) -> Result<(), Error> {
        self.inner.control_to(
            target,
            &Control::Monitor {
                watcher: watcher.get(),
                target: target.get(),
                reference,
            },
        )
    }

    fn demonitor(&self, watcher: Pid, target: Pid, reference: Ref) {
        let _ = self.inner.control_to(
            target,
            &Control::Demonitor {
                watcher: watcher.get(),
                target: target.get(),
                reference,
            },
        );
    }

    fn down(&self, target: Pid, watcher: Pid, reference: Ref, reason: &ExitReason) {
        let _ = self.inner.control_to(
            watcher,
            &Control::Down {
                target: target.get(),
                watcher: watcher.get(),
                reference,
                reason: reason.to_string(),
            },
        );
    }

    fn kill(&self, _from: Pid, target: Pid) -> Result<(), Error> {
        self.inner
            .control_to(target, &Control::Kill { to: target.get() })
    }

    fn stop(&self, from: Pid, target: Pid, reason: &ExitReason) -> Result<(), Error> {
        self.inner.control_to(
            target,
            &Control::Stop {
                from: from.get(),
                to: target.get(),
                reason: reason.to_string(),
            },
        )
    }
}
