//! One process's shared state: its mailbox and its relations (links,
//! monitors, names), behind one lock.
//!
//! Every relation is recorded on both ends, so an exit can clean up both
//! sides and a dead process leaves nothing behind in anyone's state.
//!
//! # What a process makes the node hold
//!
//! Everything a process can make the node keep outside its own body is
//! charged, in bytes, to one process and bounded by its `max_queued`
//! (`max-queued-mb`): the messages queued in its mailbox (charged to the
//! receiver, so a flood is refused at `send`, never dropped later), its
//! pending timers (to the setter), its registered names, and its links and
//! monitors, each of which *reserves* room for the one `exit` or `down`
//! message it may deliver, so that signals are never refused. Each item
//! also counts a fixed overhead, so a flood of empty messages is bounded
//! too. A charge is refunded when the item goes (a message received, a
//! timer fired or cancelled, a link undone).

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::task::{Context, Waker};

use parking_lot::{Mutex, MutexGuard};
use tokio::sync::oneshot;
use tokio::task::AbortHandle;

use crate::{Error, ExitReason, MAX_REASON_BYTES, Message, MessageKind, Pid, ProcessQuota, Ref};

/// What every queued item costs beyond its payload: a message's slot in
/// the mailbox and its allocation header, a name's map entry, a timer's
/// table entry.
pub(crate) const ITEM_OVERHEAD: usize = 64;

/// The room a link or monitor reserves on its holder: one `exit` or `down`
/// message carrying the longest reason.
pub(crate) const SIGNAL_RESERVE: usize = ITEM_OVERHEAD + MAX_REASON_BYTES;

/// What a pending timer costs its setter beyond its payload: the sleeping
/// task that delivers it.
pub(crate) const TIMER_OVERHEAD: usize = 512;

/// At most this many queued messages are compared against a selective
/// receive's tags (at most 64 of them) in one poll; past it the receive
/// yields and goes on at its next poll. However long the mailbox, a receive
/// then never holds its worker thread (or its process's lock) for more
/// than a few microseconds, and a kill takes effect at the next yield. (A
/// count of messages, not of comparisons: a division per receive showed
/// in the ping-pong benchmark.)
const SCAN_BUDGET: usize = 512;

impl Message {
    /// The bytes this message is charged while it is queued. Signals
    /// (`exit`, `down`) are charged what their link or monitor reserved.
    pub(crate) fn charge(&self) -> usize {
        match self.kind {
            MessageKind::Data => ITEM_OVERHEAD + self.data.len(),
            MessageKind::Exit | MessageKind::Down => SIGNAL_RESERVE,
        }
    }
}

/// Someone to tell when a process ends.
pub(crate) enum Watcher {
    /// A process's monitor: it gets a `down` message tagged `reference`.
    Process { reference: Ref, watcher: Pid },
    /// Host code awaiting the exit reason (`Node::wait`).
    Host(oneshot::Sender<ExitReason>),
}

/// What one [`Process::poll_take`] found.
pub(crate) enum Take {
    Taken(Message),
    /// The scan budget ran out with messages left to compare.
    Yield,
    /// No queued message matches (the waker is registered, if one was
    /// given).
    Empty,
}

pub(crate) struct Process {
    pub(crate) pid: Pid,
    /// The process that spawned this one (`Pid::NODE` for host spawns). A
    /// process may always manage its own children.
    pub(crate) parent: Pid,
    /// What it runs (a component name), for logs and introspection.
    pub(crate) name: Option<Arc<str>>,
    /// The most data messages its mailbox holds; `u32::MAX` when
    /// unbounded. (Not an `Option`, and 32 bits: more bytes would take a
    /// process past 256 bytes, into the allocator's next size class, and
    /// every spawn measurably slower. Four billion queued messages is no
    /// bound anyone means.)
    pub(crate) mailbox_capacity: u32,
    /// Data messages this process sent (wrapping at 2^32). Written only by
    /// the process itself (see [`Process::count_sent`]), read by anyone.
    pub(crate) sent: AtomicU32,
    /// The most bytes it may make the node hold (see the module docs).
    pub(crate) max_queued: usize,
    /// The quota it counts against, released at exit.
    pub(crate) quota: Option<Arc<ProcessQuota>>,
    /// Linear memory held, in KiB, as reported by a backend (0 for native
    /// bodies). KiB in 32 bits (4 TiB) rather than bytes in 64: the four
    /// bytes saved hold `cpu_ms` within the 256-byte size class.
    pub(crate) memory_kib: AtomicU32,
    /// Milliseconds of CPU its body used, as its backend last reported it
    /// (`usage.rs`); 0 for a native body. Written only by the process's
    /// own task.
    pub(crate) cpu_ms: AtomicU32,
    state: Mutex<State>,
}

pub(crate) struct State {
    pub(crate) alive: bool,
    pub(crate) trap_exit: bool,
    /// Spawned with an [`ExitWatch`](crate::ExitWatch): the exit procedure
    /// leaves the reason in `pending_exit` for it.
    pub(crate) watched: bool,
    /// Messages this process took from its mailbox (wrapping at 2^32).
    /// Kept under the lock the receive holds anyway, in bytes the two
    /// flags above leave as padding.
    pub(crate) received: u32,
    pub(crate) mailbox: VecDeque<Message>,
    /// Bytes charged to this process (see the module docs).
    pub(crate) queued: usize,
    /// The task to wake when a message arrives.
    pub(crate) waker: Option<Waker>,
    /// Set when an exit signal was accepted but the body has not stopped yet;
    /// it becomes the exit reason. After the exit, a watched spawn's exit
    /// reason waits here for its [`ExitWatch`](crate::ExitWatch).
    pub(crate) pending_exit: Option<ExitReason>,
    /// How to stop the body's task; `None` until the task is spawned.
    pub(crate) abort: Option<AbortHandle>,
    pub(crate) links: Vec<Pid>,
    pub(crate) monitored_by: Vec<Watcher>,
    /// Rarely used relations live out of line to keep idle processes small.
    pub(crate) extra: Option<Box<Extra>>,
}

#[derive(Default)]
pub(crate) struct Extra {
    /// Monitors this process holds: (reference, target).
    pub(crate) monitors: Vec<(Ref, Pid)>,
    pub(crate) names: Vec<Arc<str>>,
    pub(crate) label: Option<String>,
    /// Pending timers this process set: cancelled when it exits.
    pub(crate) timers: rustc_hash::FxHashSet<Ref>,
}

impl State {
    pub(crate) fn extra(&mut self) -> &mut Extra {
        self.extra.get_or_insert_with(Default::default)
    }

    /// Accept an exit signal: remember the reason and stop the body. The
    /// first accepted signal wins.
    pub(crate) fn stop_with(&mut self, reason: ExitReason) {
        if self.pending_exit.is_none() {
            self.pending_exit = Some(reason);
        }
        if let Some(abort) = &self.abort {
            abort.abort();
        }
    }

    /// Queue a message and hand back the waker to call once the lock is
    /// gone. The message is charged without a check: data messages were
    /// checked by the caller, signals were reserved.
    pub(crate) fn push(&mut self, message: Message) -> Option<Waker> {
        self.queued += message.charge();
        self.mailbox.push_back(message);
        self.waker.take()
    }

    /// Whether `bytes` more fit under `max`.
    pub(crate) fn fits(&self, bytes: usize, max: usize) -> bool {
        self.queued.checked_add(bytes).is_some_and(|t| t <= max)
    }

    /// Charge `bytes` if they fit under `max`.
    pub(crate) fn try_charge(&mut self, bytes: usize, max: usize) -> Result<(), Error> {
        if !self.fits(bytes, max) {
            return Err(Error::Limit);
        }
        self.queued += bytes;
        Ok(())
    }

    pub(crate) fn refund(&mut self, bytes: usize) {
        debug_assert!(self.queued >= bytes, "refund of bytes never charged");
        self.queued = self.queued.saturating_sub(bytes);
    }

    /// Drop the record of the monitor `reference` this process holds, and
    /// say what it watched; `None` if it holds no such monitor (never set,
    /// undone, fired, or the process has ended). Its reservation stays for
    /// the caller: refunded by `demonitor`, turned into the `down` by a
    /// delivery.
    pub(crate) fn take_monitor(&mut self, reference: Ref) -> Option<Pid> {
        let monitors = &mut self.extra.as_deref_mut()?.monitors;
        let i = monitors.iter().position(|&(r, _)| r == reference)?;
        Some(monitors.swap_remove(i).1)
    }

    /// Drop the link to `peer` and its reservation; whether there was one.
    pub(crate) fn remove_link(&mut self, peer: Pid) -> bool {
        match self.links.iter().position(|&l| l == peer) {
            Some(i) => {
                self.links.swap_remove(i);
                self.refund(SIGNAL_RESERVE);
                true
            }
            None => false,
        }
    }

    /// A reserved signal turns into the message it reserved room for.
    pub(crate) fn push_signal(&mut self, message: Message) -> Option<Waker> {
        self.refund(SIGNAL_RESERVE);
        self.push(message)
    }

    /// The general case of [`Process::poll_take`]: compare up to
    /// [`SCAN_BUDGET`] messages from `scanned` on. Out of line: the usual
    /// receive never gets here.
    #[inline(never)]
    fn scan(&mut self, tags: &[i64], scanned: &mut usize, cx: Option<&mut Context<'_>>) -> Take {
        let len = self.mailbox.len();
        let start = (*scanned).min(len);
        let end = len.min(start.saturating_add(SCAN_BUDGET));
        let found = if tags.is_empty() {
            (start < len).then_some(start)
        } else {
            // A plain loop: the iterator's `position` over a `VecDeque`
            // range was not inlined, a call per receive.
            (start..end).find(|&i| tags.contains(&self.mailbox[i].tag))
        };
        if let Some(i) = found {
            *scanned = 0;
            let m = self
                .mailbox
                .remove(i)
                .expect("index found by the scan above");
            return Take::Taken(self.taken(m));
        }
        *scanned = end;
        if end < len {
            return Take::Yield;
        }
        self.register(cx);
        Take::Empty
    }

    /// `m` has left the mailbox for the process's body.
    #[inline]
    fn taken(&mut self, m: Message) -> Message {
        self.refund(m.charge());
        self.received = self.received.wrapping_add(1);
        m
    }

    /// Found nothing: wake the receive that waits (if it waits) at the
    /// next delivery. Under the lock of the look that found nothing, so no
    /// message slips in between.
    #[inline]
    fn register(&mut self, cx: Option<&mut Context<'_>>) {
        if let Some(cx) = cx {
            match &self.waker {
                Some(w) if w.will_wake(cx.waker()) => {}
                _ => self.waker = Some(cx.waker().clone()),
            }
        }
    }
}

impl Process {
    pub(crate) fn new(
        pid: Pid,
        parent: Pid,
        name: Option<Arc<str>>,
        mailbox_capacity: usize,
        max_queued: usize,
        trap_exit: bool,
        quota: Option<Arc<ProcessQuota>>,
    ) -> Self {
        Process {
            pid,
            parent,
            name,
            mailbox_capacity: u32::try_from(mailbox_capacity).unwrap_or(u32::MAX),
            sent: AtomicU32::new(0),
            max_queued,
            quota,
            memory_kib: AtomicU32::new(0),
            cpu_ms: AtomicU32::new(0),
            state: Mutex::new(State {
                alive: true,
                trap_exit,
                watched: false,
                received: 0,
                mailbox: VecDeque::new(),
                queued: 0,
                waker: None,
                pending_exit: None,
                abort: None,
                links: Vec::new(),
                monitored_by: Vec::new(),
                extra: None,
            }),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock()
    }

    /// Enqueue a data message, honouring a bounded mailbox and the
    /// receiver's `max_queued`.
    pub(crate) fn deliver(&self, message: Message) -> Result<(), Error> {
        let waker = {
            let mut st = self.state.lock();
            if !st.alive {
                return Err(Error::NoProcess);
            }
            if message.is_droppable() && st.mailbox.len() >= self.mailbox_capacity as usize {
                return Err(Error::Limit);
            }
            if !st.fits(message.charge(), self.max_queued) {
                return Err(Error::Limit);
            }
            st.push(message)
        };
        if let Some(w) = waker {
            w.wake();
        }
        Ok(())
    }

    /// Take the first message whose tag is in `tags` (all, if empty).
    /// `scanned` counts messages already known not to match, so a long
    /// wait over a full mailbox does not rescan it at every wake-up: only
    /// this process removes messages, others only append. At most
    /// [`SCAN_BUDGET`] messages are compared per call: past it the call
    /// says [`Take::Yield`], and the caller lets its task yield before it
    /// goes on where this call stopped.
    pub(crate) fn poll_take(
        &self,
        tags: &[i64],
        scanned: &mut usize,
        cx: Option<&mut Context<'_>>,
    ) -> Take {
        let mut st = self.state.lock();
        // What almost every receive finds, straight through: nothing
        // queued (it waits), or a first message that matches. Only a
        // selective receive that must look past the head takes the scan.
        if *scanned == 0 {
            match st.mailbox.front() {
                None => {
                    st.register(cx);
                    return Take::Empty;
                }
                Some(head) if tags.is_empty() || tags.contains(&head.tag) => {
                    let m = st.mailbox.pop_front().expect("the head seen above");
                    return Take::Taken(st.taken(m));
                }
                Some(_) => {}
            }
        }
        st.scan(tags, scanned, cx)
    }

    pub(crate) fn set_memory_bytes(&self, bytes: u64) {
        let kib = u32::try_from(bytes.div_ceil(1024)).unwrap_or(u32::MAX);
        self.memory_kib.store(kib, Ordering::Relaxed);
    }

    pub(crate) fn memory_bytes(&self) -> u64 {
        u64::from(self.memory_kib.load(Ordering::Relaxed)) * 1024
    }

    /// Count one message sent by this process. A load and a store, not a
    /// read-modify-write: only the process's own task sends as it, so no
    /// increment is lost, and the send path pays no locked instruction.
    #[inline]
    pub(crate) fn count_sent(&self) {
        let n = self.sent.load(Ordering::Relaxed);
        self.sent.store(n.wrapping_add(1), Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    /// A process and its `Arc` header fit the allocator's 256-byte size
    /// class: one field more and every spawn pays for the next class.
    #[test]
    fn a_process_fits_in_256_bytes() {
        assert!(std::mem::size_of::<super::Process>() + 16 <= 256);
    }
}
