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

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Instant;

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
        // Only pushes and pops happen under the lock: a panic elsewhere
        // leaves the queue consistent.
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
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
}

impl QuicTask {
    /// Starts the task on the current tokio runtime.
    pub(crate) fn start() -> QuicTask {
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue::default()),
        });
        tokio::spawn(Run {
            shared: shared.clone(),
            parts: Vec::new(),
            free: Vec::new(),
        });
        QuicTask(Arc::new(Handles(shared)))
    }

    /// Runs `part` on the task. Dropped unpolled if the task has ended
    /// (its runtime shut down).
    pub(crate) fn spawn(&self, part: impl Future<Output = ()> + Send + 'static) {
        (self.0).0.push(Job::Spawned(Box::pin(part)));
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
            let job = {
                let mut queue = this.shared.lock();
                match queue.jobs.pop_front() {
                    Some(job) => job,
                    None => {
                        queue.polling = false;
                        let done = queue.closed && this.free.len() == this.parts.len();
                        return if done { Poll::Ready(()) } else { Poll::Pending };
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
        quinn::TokioRuntime.wrap_udp_socket(t)
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
        let quic = QuicTask::start();
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

    /// A part that is always ready (it wakes itself at every poll) takes
    /// turns with the runtime's other tasks rather than holding the
    /// thread: on a one-thread runtime another task still runs.
    #[tokio::test(flavor = "current_thread")]
    async fn a_part_always_ready_does_not_hold_the_thread() {
        let quic = QuicTask::start();
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
