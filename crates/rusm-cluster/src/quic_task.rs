//! One tokio task for all of a node's QUIC work: quinn's endpoint and
//! connection drivers and the frame readers and writers (`frames.rs`) run
//! as parts of a single task instead of a task each.
//!
//! Why: a message between two nodes used to pass four tasks on each node
//! (endpoint driver → connection driver → frame reader → receiving process
//! on one side; sending process → frame writer → connection driver on the
//! other). Tokio runs a task woken by the running one next on the same
//! thread (its LIFO slot), but only three times in a row; the fourth goes
//! to the shared queue and wakes the other worker, which takes it across
//! cores. With the QUIC work in one task, a packet wakes this task, which
//! hands the message to the receiving process; the process's answer wakes
//! this task again, which sends it: three polls in a row, all on the
//! thread that took the packet.
//!
//! The cost: a node's QUIC work runs on one thread at a time, where the
//! drivers of different connections could run side by side. Across nodes
//! the work of a message is mostly the kernel's and the process's, and
//! many messages share packets under load (`frames.rs`).
//!
//! The parts are polled by a small executor: a part's waker queues the
//! part and wakes the task only when the task is not polling already (the
//! poll loop drains the queue before it returns), so a part waking
//! another within the task costs a queue push, not a tokio wake-up.
//!
//! **Busy-waiting.** Waking a thread that sleeps in the kernel costs more
//! than the rest of a message's trip on a virtual machine (about 6 µs a
//! wake here, two a round trip), so after the task sent a packet, and
//! handed no message to a process, it spins for a while (the cluster's
//! `busy_wait`, 100 µs by default) peeking at the socket before it lets
//! its worker sleep: an answer that comes meanwhile is read at once, on
//! this thread, without tokio's readiness (which would need that wake).
//! The BEAM's schedulers do the same by default. The cost is bounded:
//! the spin stops when an answer or other work comes, or the runtime's
//! shared queue holds tasks, and after [`MISSES`] spins in a row that
//! waited in vain the task spins at one chance in [`PROBE_EVERY`] only,
//! until a spin is answered again ([`BusyWait`]).
//!
//! Unlike an idle BEAM scheduler, the task spins inside its poll, right
//! after the send: tasks queued on the same worker wait for the spin (an
//! idle worker may steal them), up to the limit. Deferring the spin until
//! the worker has nothing else to run (a `yield_now` first) was measured
//! and cost about a tenth of the cross-node round trip rate
//! (`bench/README.md`, session 13); a node whose local work matters more
//! than its latency to other nodes sets a smaller `busy-wait-us`, or 0.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use crate::lock;

type Part = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Parts polled in one poll of the task, at most, before it yields to
/// tokio, so a busy node's QUIC work cannot hold a worker thread.
const POLLS_PER_TURN: usize = 128;

/// A handle to a node's QUIC task: spawns parts on it, and is the
/// [`quinn::Runtime`] its endpoint spawns its drivers with. The task ends
/// once every handle is gone and every part has finished.
#[derive(Clone)]
pub(crate) struct QuicTask(Arc<Handles>);

/// Counts the handles: the task is told when the last one goes.
struct Handles(Arc<Shared>);

impl Drop for Handles {
    fn drop(&mut self) {
        let waker = {
            let mut queue = self.0.lock();
            queue.closed = true;
            queue.take_waker()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

struct Shared {
    queue: Mutex<Queue>,
    /// The endpoint's socket, once made: what the task spins on.
    socket: OnceLock<Arc<Socket>>,
}

#[derive(Default)]
struct Queue {
    /// Parts woken (by index) or spawned, to be polled.
    jobs: VecDeque<Job>,
    /// Whether the task is in its poll loop (which drains `jobs` before
    /// it returns, so a wake need not wake the task).
    polling: bool,
    /// The task's waker, while it waits.
    waker: Option<Waker>,
    /// No handle is left: the task ends when its parts have.
    closed: bool,
}

enum Job {
    Woken(usize),
    Spawned(Part),
}

impl Queue {
    fn take_waker(&mut self) -> Option<Waker> {
        if self.polling {
            None
        } else {
            self.waker.take()
        }
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        lock(&self.queue)
    }

    fn push(&self, job: Job) {
        let waker = {
            let mut queue = self.lock();
            queue.jobs.push_back(job);
            queue.take_waker()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

/// The waker of one part.
struct PartWaker {
    shared: Arc<Shared>,
    index: usize,
    /// Queued since its last poll: a part is queued once however often it
    /// is woken.
    queued: AtomicBool,
}

impl Wake for PartWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if !self.queued.swap(true, Ordering::AcqRel) {
            self.shared.push(Job::Woken(self.index));
        }
    }
}

struct Slot {
    part: Part,
    waker: Arc<PartWaker>,
    waker_handle: Waker,
}

/// The task itself.
struct Run {
    shared: Arc<Shared>,
    parts: Vec<Option<Slot>>,
    free: Vec<usize>,
    busy_wait: BusyWait,
}

impl QuicTask {
    /// Starts the task on the current tokio runtime; it spins for up to
    /// `busy_wait` after it sent a packet (zero: never).
    pub(crate) fn start(busy_wait: Duration) -> QuicTask {
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue::default()),
            socket: OnceLock::new(),
        });
        tokio::spawn(Run {
            shared: shared.clone(),
            parts: Vec::new(),
            free: Vec::new(),
            busy_wait: BusyWait::new(busy_wait),
        });
        QuicTask(Arc::new(Handles(shared)))
    }

    /// Runs `part` on the task. Dropped unpolled if the task has ended
    /// (its runtime shut down).
    pub(crate) fn spawn(&self, part: impl Future<Output = ()> + Send + 'static) {
        (self.0).0.push(Job::Spawned(Box::pin(part)));
    }

    /// What busy-waiting did so far: spins begun, spins answered, and
    /// datagrams read without tokio's readiness.
    pub(crate) fn busy_wait_stats(&self) -> (u64, u64, u64) {
        (self.0).0.socket.get().map_or((0, 0, 0), |s| {
            let n = |c: &AtomicU64| c.load(Ordering::Relaxed);
            (
                n(&s.stats.spins),
                n(&s.stats.answered),
                n(&s.stats.direct_reads),
            )
        })
    }

    /// Counts a frame handed on to the node (a message for a process, or a
    /// control frame): the task does not spin after it (see `spin`).
    pub(crate) fn delivered(&self) {
        if let Some(socket) = (self.0).0.socket.get() {
            socket.delivered.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl Run {
    fn insert(&mut self, part: Part) -> usize {
        let index = self.free.pop().unwrap_or_else(|| {
            self.parts.push(None);
            self.parts.len() - 1
        });
        let waker = Arc::new(PartWaker {
            shared: self.shared.clone(),
            index,
            queued: AtomicBool::new(false),
        });
        self.parts[index] = Some(Slot {
            part,
            waker_handle: Waker::from(waker.clone()),
            waker,
        });
        index
    }

    /// Polls part `index`, if it still exists (a waker can outlive its
    /// part; the slot may hold a newer part then, which is polled once
    /// for nothing).
    fn poll_part(&mut self, index: usize) {
        let Some(Some(slot)) = self.parts.get_mut(index) else {
            return;
        };
        slot.waker.queued.store(false, Ordering::Release);
        let mut cx = Context::from_waker(&slot.waker_handle);
        if slot.part.as_mut().poll(&mut cx).is_ready() {
            self.parts[index] = None;
            self.free.push(index);
        }
    }

    /// Spins before the task goes idle, if [`BusyWait`] says so: `true`
    /// when a datagram came meanwhile (the receiving part is woken) or
    /// other work did.
    fn spin(&mut self) -> bool {
        let Some(socket) = self.shared.socket.get() else {
            return false;
        };
        let sent = socket.sent.load(Ordering::Relaxed);
        let delivered = socket.delivered.load(Ordering::Relaxed);
        let Some(deadline) = self.busy_wait.start(sent, delivered) else {
            return false;
        };
        socket.stats.spins.fetch_add(1, Ordering::Relaxed);
        let runtime = tokio::runtime::Handle::try_current().ok();
        let mut byte = [0u8; 1];
        loop {
            match socket.std.peek(&mut byte) {
                Ok(_) => {
                    self.busy_wait.answered(true);
                    socket.stats.answered.fetch_add(1, Ordering::Relaxed);
                    socket.direct.store(true, Ordering::Release);
                    let waker = lock(&socket.recv_waker).take();
                    if let Some(w) = waker {
                        w.wake();
                    }
                    return true;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(_) => return false,
            }
            // Work for this task, or tasks waiting for a worker: stop.
            if !self.shared.lock().jobs.is_empty()
                || runtime
                    .as_ref()
                    .is_some_and(|r| r.metrics().global_queue_depth() > 0)
            {
                return true;
            }
            if Instant::now() >= deadline {
                self.busy_wait.answered(false);
                return false;
            }
            std::hint::spin_loop();
        }
    }
}

/// Spins in a row that waited in vain, after which the task spins at one
/// chance in [`PROBE_EVERY`] only.
const MISSES: u32 = 4;
/// See [`MISSES`].
const PROBE_EVERY: u32 = 64;

/// When the task spins (see the module's docs).
struct BusyWait {
    /// How long a spin lasts at most; zero: never spin.
    limit: Duration,
    /// The socket's counts at the last look: packets sent, frames handed
    /// to processes.
    sent: u64,
    delivered: u64,
    /// Spins in a row that waited in vain.
    misses: u32,
    /// Chances to spin let go since `misses` reached [`MISSES`].
    passed: u32,
}

impl BusyWait {
    fn new(limit: Duration) -> BusyWait {
        BusyWait {
            limit,
            sent: 0,
            delivered: 0,
            misses: 0,
            passed: 0,
        }
    }

    /// Given the socket's counts now, whether to spin, and until when:
    /// only when a packet went out since the last look and no frame went
    /// to a process (that process must run first, on this thread).
    fn start(&mut self, sent: u64, delivered: u64) -> Option<Instant> {
        let chance = !self.limit.is_zero() && sent != self.sent && delivered == self.delivered;
        self.sent = sent;
        self.delivered = delivered;
        if !chance {
            return None;
        }
        if self.misses >= MISSES {
            // Probing: one chance in PROBE_EVERY.
            self.passed += 1;
            if self.passed < PROBE_EVERY {
                return None;
            }
            self.passed = 0;
        }
        Some(Instant::now() + self.limit)
    }

    /// How a spin ended: with a datagram, or in vain.
    fn answered(&mut self, answered: bool) {
        self.misses = if answered {
            self.passed = 0;
            0
        } else {
            self.misses.saturating_add(1)
        };
    }
}

/// The endpoint's UDP socket: quinn's own tokio socket, plus what the
/// task needs to spin on it and to read it once a spin saw a datagram
/// that tokio has not reported yet.
struct Socket {
    tokio: Arc<dyn quinn::AsyncUdpSocket>,
    /// The same socket (a duplicate descriptor), to peek and read.
    std: std::net::UdpSocket,
    state: quinn::udp::UdpSocketState,
    /// A spin saw a datagram: the next receive reads without waiting for
    /// tokio's readiness.
    direct: AtomicBool,
    /// Who waits to receive.
    recv_waker: Mutex<Option<Waker>>,
    /// Packets sent and frames handed to processes.
    sent: AtomicU64,
    delivered: AtomicU64,
    stats: BusyWaitStats,
}

/// What busy-waiting did on a node.
#[derive(Debug, Default)]
struct BusyWaitStats {
    /// Spins begun.
    spins: AtomicU64,
    /// Spins that saw a datagram come.
    answered: AtomicU64,
    /// Receives that read such a datagram without tokio's readiness.
    direct_reads: AtomicU64,
}

impl fmt::Debug for Socket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Socket")
    }
}

impl quinn::AsyncUdpSocket for Socket {
    fn create_io_poller(self: Arc<Self>) -> Pin<Box<dyn quinn::UdpPoller>> {
        self.tokio.clone().create_io_poller()
    }

    fn try_send(&self, transmit: &quinn::udp::Transmit) -> io::Result<()> {
        self.sent.fetch_add(1, Ordering::Relaxed);
        self.tokio.try_send(transmit)
    }

    fn poll_recv(
        &self,
        cx: &mut Context,
        bufs: &mut [io::IoSliceMut<'_>],
        meta: &mut [quinn::udp::RecvMeta],
    ) -> Poll<io::Result<usize>> {
        if self.direct.swap(false, Ordering::AcqRel) {
            match self.state.recv((&self.std).into(), bufs, meta) {
                Ok(n) => {
                    self.stats.direct_reads.fetch_add(1, Ordering::Relaxed);
                    return Poll::Ready(Ok(n));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
        let polled = self.tokio.poll_recv(cx, bufs, meta);
        if polled.is_pending() {
            let mut waker = lock(&self.recv_waker);
            match &*waker {
                Some(w) if w.will_wake(cx.waker()) => {}
                _ => *waker = Some(cx.waker().clone()),
            }
        }
        polled
    }

    fn local_addr(&self) -> io::Result<std::net::SocketAddr> {
        self.tokio.local_addr()
    }

    fn max_transmit_segments(&self) -> usize {
        self.tokio.max_transmit_segments()
    }

    fn max_receive_segments(&self) -> usize {
        self.tokio.max_receive_segments()
    }

    fn may_fragment(&self) -> bool {
        self.tokio.may_fragment()
    }
}

impl Future for Run {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        {
            let mut queue = this.shared.lock();
            queue.polling = true;
            match &queue.waker {
                Some(w) if w.will_wake(cx.waker()) => {}
                _ => queue.waker = Some(cx.waker().clone()),
            }
        }
        for _ in 0..POLLS_PER_TURN {
            if !tokio::task::coop::has_budget_remaining() {
                // The parts share the task's tokio budget: once it is
                // spent, their sockets and channels answer `Pending` until
                // the task has yielded.
                break;
            }
            let job = this.shared.lock().jobs.pop_front();
            let job = match job {
                Some(job) => job,
                None => {
                    if this.spin() {
                        continue;
                    }
                    let mut queue = this.shared.lock();
                    match queue.jobs.pop_front() {
                        Some(job) => job,
                        None => {
                            queue.polling = false;
                            let done = queue.closed && this.free.len() == this.parts.len();
                            return if done { Poll::Ready(()) } else { Poll::Pending };
                        }
                    }
                }
            };
            let index = match job {
                Job::Woken(index) => index,
                Job::Spawned(part) => this.insert(part),
            };
            this.poll_part(index);
        }
        // Out of turns or of budget: let tokio run others, then go on.
        this.shared.lock().polling = false;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

impl fmt::Debug for QuicTask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("QuicTask")
    }
}

impl quinn::Runtime for QuicTask {
    fn new_timer(&self, at: Instant) -> Pin<Box<dyn quinn::AsyncTimer>> {
        quinn::TokioRuntime.new_timer(at)
    }

    fn spawn(&self, future: Pin<Box<dyn Future<Output = ()> + Send>>) {
        (self.0).0.push(Job::Spawned(future));
    }

    fn wrap_udp_socket(
        &self,
        t: std::net::UdpSocket,
    ) -> io::Result<Arc<dyn quinn::AsyncUdpSocket>> {
        let std = t.try_clone()?;
        let state = quinn::udp::UdpSocketState::new((&std).into())?;
        let socket = Arc::new(Socket {
            tokio: quinn::TokioRuntime.wrap_udp_socket(t)?,
            std,
            state,
            direct: AtomicBool::new(false),
            recv_waker: Mutex::new(None),
            sent: AtomicU64::new(0),
            delivered: AtomicU64::new(0),
            stats: BusyWaitStats::default(),
        });
        let _ = (self.0).0.socket.set(socket.clone());
        Ok(socket)
    }

    fn now(&self) -> Instant {
        quinn::TokioRuntime.now()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;
    use std::time::Duration;

    use tokio::sync::{mpsc, oneshot};

    use super::*;

    /// Parts hand work to each other, are woken from other threads, and
    /// the task ends once its handles are gone and its parts are done.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn parts_wake_each_other_and_the_task_ends_with_them() {
        let quic = QuicTask::start(Duration::ZERO);
        let weak = Arc::downgrade(&(quic.0).0);
        let (to_b, mut at_b) = mpsc::channel::<u32>(1);
        let (to_a, mut at_a) = mpsc::channel::<u32>(1);
        let (done, finished) = oneshot::channel();
        // Two parts of the task bounce a counter 10,000 times.
        quic.spawn(async move {
            while let Some(n) = at_b.recv().await {
                if to_a.send(n + 1).await.is_err() {
                    return;
                }
            }
        });
        let outside = to_b.clone();
        quic.spawn(async move {
            let mut last = 0;
            while let Some(n) = at_a.recv().await {
                last = n;
                if n >= 10_000 || to_b.send(n + 1).await.is_err() {
                    break;
                }
            }
            let _ = done.send(last);
        });
        // The first send comes from another task (another thread, maybe).
        tokio::spawn(async move { outside.send(0).await.unwrap() });
        let last = tokio::time::timeout(Duration::from_secs(10), finished)
            .await
            .expect("the parts finish")
            .unwrap();
        assert!(last >= 10_000);
        drop(quic);
        // The task ends: its shared state goes with it and the wakers.
        for _ in 0..200 {
            if weak.strong_count() == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the task did not end");
    }

    /// The task spins only after it sent a packet and handed nothing to a
    /// process; after MISSES spins in vain, at one chance in PROBE_EVERY
    /// only, until a spin is answered; never with a zero limit.
    #[test]
    fn busy_waiting_follows_answers() {
        let mut wait = BusyWait::new(Duration::from_micros(100));
        assert!(wait.start(0, 0).is_none(), "nothing sent");
        assert!(wait.start(1, 0).is_some(), "a send");
        assert!(wait.start(1, 0).is_none(), "no send since");
        assert!(wait.start(2, 1).is_none(), "a frame went to a process");
        // Spins in vain: after MISSES of them, probes only.
        let mut sent = 2;
        for _ in 0..MISSES {
            sent += 1;
            assert!(wait.start(sent, 1).is_some());
            wait.answered(false);
        }
        // Sends of one packet or of several between looks alike.
        let mut spun = Vec::new();
        for chance in 1..=2 * PROBE_EVERY {
            sent += 1 + u64::from(chance % 3);
            if wait.start(sent, 1).is_some() {
                spun.push(chance);
                wait.answered(false);
            }
        }
        assert_eq!(
            spun,
            [PROBE_EVERY, 2 * PROBE_EVERY],
            "one probe per {PROBE_EVERY} chances"
        );
        // An answered probe brings spinning back.
        for _ in 0..PROBE_EVERY {
            sent += 1;
            if wait.start(sent, 1).is_some() {
                break;
            }
        }
        wait.answered(true);
        sent += 1;
        assert!(wait.start(sent, 1).is_some());
        let mut off = BusyWait::new(Duration::ZERO);
        assert!(off.start(1, 0).is_none(), "a zero limit never spins");
    }

    /// A part that is always ready (it wakes itself at every poll) takes
    /// turns with the runtime's other tasks rather than holding the
    /// thread: on a one-thread runtime another task still runs.
    #[tokio::test(flavor = "current_thread")]
    async fn a_part_always_ready_does_not_hold_the_thread() {
        let quic = QuicTask::start(Duration::ZERO);
        let polls = Arc::new(AtomicUsize::new(0));
        let counted = polls.clone();
        quic.spawn(std::future::poll_fn(move |cx| {
            counted.fetch_add(1, Ordering::Relaxed);
            cx.waker().wake_by_ref();
            Poll::<()>::Pending
        }));
        let other = tokio::spawn(async { 7 });
        let seen = tokio::time::timeout(Duration::from_secs(5), other)
            .await
            .expect("another task ran")
            .unwrap();
        assert_eq!(seen, 7);
        assert!(polls.load(Ordering::Relaxed) > 0, "the part ran too");
    }
}
