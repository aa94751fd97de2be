//! Supervisors: processes that start children, watch them, and restart
//! them by a strategy, within a restart intensity.
//!
//! A supervisor is an ordinary process that traps exits. Each child is
//! spawned linked (if the supervisor dies, its children follow) and
//! monitored from birth (the supervisor learns every exit, normal ones too,
//! with its reason). Children start in order and stop in reverse order.

use std::collections::{HashSet, VecDeque};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::{Ctx, Error, ExitReason, Message, MessageKind, Node, Pid, Ref, SpawnOptions};

/// The tag of the host's request that a supervisor replace one child (see
/// [`replace_child`]). Only a message from [`Pid::NODE`] with this tag is
/// taken as one: a guest cannot make a supervisor restart anything.
const REPLACE_CHILD: i64 = i64::MIN + 0x5250; // "RP"

/// Ask the supervisor `supervisor` to replace its child `id` with a fresh
/// one: the running child gets a graceful stop (`shutdown`, then the
/// spec's `shutdown_timeout`, then `kill`) and is started again by its
/// start function, which is how code reloading restarts a resident on new
/// code. A replacement is not a failure, so it does not count toward the
/// restart intensity. Requests are handled one at a time, in order; a
/// child that is not running (it finished) is left alone.
pub fn replace_child(node: &Node, supervisor: Pid, id: &str) -> Result<(), Error> {
    node.send(Pid::NODE, supervisor, REPLACE_CHILD, id.as_bytes().to_vec())
}

/// Which children restart when one ends abnormally.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strategy {
    /// Only the child that ended.
    OneForOne,
    /// Every child: the others are stopped (in reverse order), then all
    /// start again in order.
    OneForAll,
    /// The child that ended and every child started after it.
    RestForOne,
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Strategy::OneForOne => "one-for-one",
            Strategy::OneForAll => "one-for-all",
            Strategy::RestForOne => "rest-for-one",
        })
    }
}

/// When a child is restarted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Restart {
    /// Always, whatever the reason.
    Permanent,
    /// Only after an abnormal exit (not `normal` or `shutdown`).
    Transient,
    /// Never.
    Temporary,
}

/// Starts one child. It must spawn the child from the supervisor's `Ctx`
/// with the `SpawnOptions` it is given (they link and monitor the child).
pub type StartFn = Arc<dyn Fn(&Ctx, SpawnOptions) -> Result<Pid, Error> + Send + Sync>;

/// One child of a supervisor.
#[derive(Clone)]
pub struct ChildSpec {
    /// Names the child in the supervisor's logs, and in its exit reason
    /// when the child cannot start.
    pub id: String,
    /// When it is restarted.
    pub restart: Restart,
    /// How it is started, the first time and at every restart.
    pub start: StartFn,
}

impl ChildSpec {
    /// A child called `id`, started (and restarted) by `start`.
    pub fn new(
        id: impl Into<String>,
        restart: Restart,
        start: impl Fn(&Ctx, SpawnOptions) -> Result<Pid, Error> + Send + Sync + 'static,
    ) -> Self {
        ChildSpec {
            id: id.into(),
            restart,
            start: Arc::new(start),
        }
    }
}

/// A supervisor's configuration.
#[derive(Clone)]
pub struct SupervisorSpec {
    /// Which children restart when one ends abnormally.
    pub strategy: Strategy,
    /// At most this many restarts...
    pub max_restarts: u32,
    /// ...within this window; one more and the supervisor gives up.
    pub max_seconds: Duration,
    /// How long a child gets to stop after `shutdown` before it is killed.
    pub shutdown_timeout: Duration,
    /// End the supervisor (`normal`) once no child is running and none is
    /// due a restart, like OTP's `auto_shutdown`: a node whose residents all
    /// finished has nothing left to supervise.
    pub auto_shutdown: bool,
    /// Started in order, stopped in reverse order.
    pub children: Vec<ChildSpec>,
}

impl SupervisorSpec {
    /// No children yet, a restart intensity of `max_restarts` within
    /// `max_seconds`, 5 s for a child to stop, no `auto_shutdown`.
    pub fn new(strategy: Strategy, max_restarts: u32, max_seconds: Duration) -> Self {
        SupervisorSpec {
            strategy,
            max_restarts,
            max_seconds,
            shutdown_timeout: Duration::from_secs(5),
            auto_shutdown: false,
            children: Vec::new(),
        }
    }

    /// Add a child, started after those added before it.
    pub fn child(mut self, child: ChildSpec) -> Self {
        self.children.push(child);
        self
    }

    /// The supervisor's body, for spawning it with options of one's own
    /// (it must trap exits).
    pub async fn run(self, ctx: Ctx) -> ExitReason {
        supervise(ctx, self).await
    }

    /// Start the supervisor as a process of `node`.
    pub fn spawn(self, node: &Node, options: SpawnOptions) -> Result<Pid, Error> {
        node.spawn(options.trap_exit(true), move |ctx| supervise(ctx, self))
    }

    /// Start the supervisor as a child of a running process.
    pub fn spawn_from(self, ctx: &Ctx, options: SpawnOptions) -> Result<Pid, Error> {
        ctx.spawn(options.trap_exit(true), move |ctx| supervise(ctx, self))
    }
}

struct Running {
    pid: Pid,
    monitor: Ref,
}

struct Supervisor {
    ctx: Ctx,
    spec: SupervisorSpec,
    running: Vec<Option<Running>>,
    restarts: VecDeque<Instant>,
    /// Children that ended abnormally and whose `exit` message (from the
    /// link) may still be queued; it must not be mistaken for an exit
    /// signal aimed at the supervisor.
    stale_exits: HashSet<Pid>,
}

async fn supervise(ctx: Ctx, spec: SupervisorSpec) -> ExitReason {
    let n = spec.children.len();
    let mut sup = Supervisor {
        ctx,
        spec,
        running: (0..n).map(|_| None).collect(),
        restarts: VecDeque::new(),
        stale_exits: HashSet::new(),
    };
    for i in 0..n {
        if let Err(e) = sup.start(i) {
            sup.stop_from(0).await;
            return ExitReason::crashed(format!(
                "supervisor could not start child `{}`: {e}",
                sup.spec.children[i].id
            ));
        }
    }
    loop {
        let m = sup.ctx.receive_any().await;
        match m.kind {
            MessageKind::Down => {
                // The kind cannot be forged (only the node makes `down`
                // messages) and the sender must be the child the monitor
                // watched: nothing else is taken for a child's end.
                let Some(i) = sup.child_by_monitor(m.tag, m.sender) else {
                    continue;
                };
                let reason = m.text();
                let dead = sup.running[i]
                    .take()
                    .expect("child found by its monitor")
                    .pid;
                let abnormal = !ExitReason::text_is_normal(&reason);
                if abnormal {
                    sup.stale_exits.insert(dead);
                }
                let restart = match sup.spec.children[i].restart {
                    Restart::Permanent => true,
                    Restart::Transient => abnormal,
                    Restart::Temporary => false,
                };
                if !restart {
                    if sup.spec.auto_shutdown && sup.running.iter().all(Option::is_none) {
                        return ExitReason::Normal;
                    }
                    continue;
                }
                if sup.ctx.node().is_shutting_down() {
                    sup.stop_from(0).await;
                    return ExitReason::Shutdown;
                }
                if let Err(reason) = sup.restart(i).await {
                    return reason;
                }
            }
            MessageKind::Exit => {
                if sup.stale_exits.remove(&m.sender) || sup.is_child(m.sender) {
                    continue;
                }
                // An exit signal aimed at the supervisor itself: from its
                // parent's link, or a stop request. Children go first.
                sup.stop_from(0).await;
                let reason: ExitReason = m.text().parse().unwrap_or(ExitReason::Shutdown);
                return match reason {
                    ExitReason::Shutdown | ExitReason::Normal => ExitReason::Shutdown,
                    other => ExitReason::linked(m.sender, other),
                };
            }
            MessageKind::Data if m.tag == REPLACE_CHILD && m.sender == Pid::NODE => {
                let id = String::from_utf8_lossy(&m.data);
                let Some(i) = sup.spec.children.iter().position(|c| c.id == id) else {
                    continue;
                };
                if let Err(reason) = sup.replace(i).await {
                    return reason;
                }
            }
            MessageKind::Data => {}
        }
    }
}

impl Supervisor {
    fn child_by_monitor(&self, reference: Ref, sender: Pid) -> Option<usize> {
        self.running.iter().position(|r| {
            r.as_ref()
                .is_some_and(|r| r.monitor == reference && r.pid == sender)
        })
    }

    fn is_child(&self, pid: Pid) -> bool {
        self.running
            .iter()
            .any(|r| r.as_ref().is_some_and(|r| r.pid == pid))
    }

    fn start(&mut self, i: usize) -> Result<(), Error> {
        let monitor = self.ctx.make_ref();
        let options = SpawnOptions::new().link(true).monitor(monitor);
        let pid = (self.spec.children[i].start)(&self.ctx, options)?;
        self.running[i] = Some(Running { pid, monitor });
        Ok(())
    }

    /// Restart child `i` (and its neighbours, by the strategy), counting
    /// against the intensity. `Err` carries the supervisor's own exit
    /// reason when it gives up.
    async fn restart(&mut self, i: usize) -> Result<(), ExitReason> {
        let first = match self.spec.strategy {
            Strategy::OneForOne => i,
            Strategy::OneForAll => 0,
            Strategy::RestForOne => i,
        };
        let last = match self.spec.strategy {
            Strategy::OneForOne => i,
            _ => self.running.len() - 1,
        };
        loop {
            self.record_restart()?;
            self.stop_range(first, last).await;
            let mut failed = None;
            for j in first..=last {
                if let Err(e) = self.start(j) {
                    failed = Some((j, e));
                    break;
                }
            }
            match failed {
                None => return Ok(()),
                Some((j, e)) => {
                    tracing::warn!(child = %self.spec.children[j].id, error = %e, "restart failed");
                    if self.ctx.node().is_shutting_down() {
                        self.stop_from(0).await;
                        return Err(ExitReason::Shutdown);
                    }
                }
            }
        }
    }

    /// Stop child `i` gracefully and start it again, outside the restart
    /// intensity. If the new start fails, that is a failure like any
    /// other: it goes through [`Supervisor::restart`], which counts.
    async fn replace(&mut self, i: usize) -> Result<(), ExitReason> {
        let Some(child) = self.running[i].take() else {
            return Ok(());
        };
        self.stop_child(child).await;
        match self.start(i) {
            Ok(()) => Ok(()),
            Err(e) => {
                tracing::warn!(child = %self.spec.children[i].id, error = %e, "replacement failed to start");
                self.restart(i).await
            }
        }
    }

    fn record_restart(&mut self) -> Result<(), ExitReason> {
        let now = Instant::now();
        self.restarts.push_back(now);
        while let Some(&t) = self.restarts.front() {
            if now.duration_since(t) > self.spec.max_seconds {
                self.restarts.pop_front();
            } else {
                break;
            }
        }
        if self.restarts.len() as u64 > u64::from(self.spec.max_restarts) {
            return Err(ExitReason::crashed(format!(
                "restart intensity exceeded: more than {} restarts in {} s",
                self.spec.max_restarts,
                self.spec.max_seconds.as_secs_f64()
            )));
        }
        Ok(())
    }

    async fn stop_from(&mut self, first: usize) {
        if !self.running.is_empty() {
            let last = self.running.len() - 1;
            self.stop_range(first, last).await;
        }
    }

    /// Stop children `first..=last`, last first.
    async fn stop_range(&mut self, first: usize, last: usize) {
        for j in (first..=last).rev() {
            if let Some(child) = self.running[j].take() {
                self.stop_child(child).await;
            }
        }
    }

    async fn stop_child(&mut self, child: Running) {
        let node = self.ctx.node().clone();
        if node
            .stop(self.ctx.pid(), child.pid, ExitReason::Shutdown)
            .is_err()
        {
            // Already gone: its `down` is queued; take it out of the way.
            let _ = self.receive_down(&child, Duration::from_secs(1)).await;
            self.stale_exits.insert(child.pid);
            return;
        }
        let down = match self.receive_down(&child, self.spec.shutdown_timeout).await {
            Some(m) => Some(m),
            None => {
                let _ = node.kill(child.pid);
                self.receive_down(&child, Duration::from_secs(5)).await
            }
        };
        if down.is_none_or(|m| !ExitReason::text_is_normal(&m.text())) {
            self.stale_exits.insert(child.pid);
        }
    }

    /// The child's `down` message, within `timeout`. Only a `down` from
    /// the child itself counts: a data message that happens to carry the
    /// monitor's tag is taken out of the way and ignored.
    async fn receive_down(&self, child: &Running, timeout: Duration) -> Option<Message> {
        let until = Instant::now() + timeout;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            let m = self.ctx.receive(&[child.monitor], Some(left)).await.ok()?;
            if m.kind == MessageKind::Down && m.sender == child.pid {
                return Some(m);
            }
        }
    }
}
