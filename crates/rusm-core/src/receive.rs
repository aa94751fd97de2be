//! A selective receive as one small future: [`Receive`], what
//! [`Ctx::receive`](crate::Ctx::receive) returns.
//!
//! Written out by hand rather than as an `async fn`: every Wasm `recv`
//! boxes the future of its host call, which holds this one, and each
//! level of `async fn` kept its own copy of the arguments and of the
//! futures it awaited (the host call's future was 336 bytes, copied into
//! its box at every `recv`). This one is the process, the tags, a scan
//! position and the deadline.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::Sleep;

use crate::process::{Process, Take};
use crate::{Error, MAX_RECEIVE_TAGS, Message};

/// The future of [`Ctx::receive`](crate::Ctx::receive): the first queued
/// message whose tag is in the tags (any, if none), or `Timeout`.
#[must_use = "a receive does nothing unless awaited"]
pub struct Receive<'a> {
    process: &'a Process,
    tags: &'a [i64],
    /// Messages already compared and found not to match (see
    /// [`Process::poll_take`]).
    scanned: usize,
    wait: Wait,
}

enum Wait {
    /// Refused before any look at the mailbox (too many tags).
    Invalid,
    Forever,
    /// Only what is queued: `Timeout` once the whole mailbox was
    /// compared (yielding between budgets).
    QueuedOnly,
    /// Up to this long, from the first poll that finds no match.
    For(Duration),
    /// Until this deadline (boxed: a receive without one carries no
    /// timer's worth of bytes).
    Until(Pin<Box<Sleep>>),
    Done,
}

impl<'a> Receive<'a> {
    pub(crate) fn new(process: &'a Process, tags: &'a [i64], timeout: Option<Duration>) -> Self {
        let wait = match timeout {
            _ if tags.len() > MAX_RECEIVE_TAGS => Wait::Invalid,
            None => Wait::Forever,
            Some(d) if d.is_zero() => Wait::QueuedOnly,
            Some(d) => Wait::For(d),
        };
        Receive {
            process,
            tags,
            scanned: 0,
            wait,
        }
    }
}

impl Future for Receive<'_> {
    type Output = Result<Message, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        // The usual receive, without a deadline, straight through. (Its
        // end needs no `Done`: it has nothing left to drop, and a poll
        // after the end is the caller's error either way.)
        if let Wait::Forever = this.wait {
            // A waiting receive registers its waker under the lock of the
            // look that found nothing, so no message slips in between.
            return match this
                .process
                .poll_take(this.tags, &mut this.scanned, Some(cx))
            {
                Take::Taken(m) => Poll::Ready(Ok(m)),
                Take::Yield => yield_now(cx),
                Take::Empty => Poll::Pending,
            };
        }
        this.poll_other(cx)
    }
}

impl Receive<'_> {
    /// Every receive but the usual one: refused, queued only, or with a
    /// deadline.
    #[inline(never)]
    fn poll_other(&mut self, cx: &mut Context<'_>) -> Poll<Result<Message, Error>> {
        let outcome = match &mut self.wait {
            Wait::Invalid => Poll::Ready(Err(Error::Invalid)),
            Wait::Done => panic!("`Receive` polled after it completed"),
            Wait::Forever => unreachable!("polled in `poll`"),
            Wait::QueuedOnly => match self.process.poll_take(self.tags, &mut self.scanned, None) {
                Take::Taken(m) => Poll::Ready(Ok(m)),
                Take::Yield => yield_now(cx),
                Take::Empty => Poll::Ready(Err(Error::Timeout)),
            },
            Wait::For(d) => {
                // A queued message needs no timer: look first.
                match self.process.poll_take(self.tags, &mut self.scanned, None) {
                    Take::Taken(m) => Poll::Ready(Ok(m)),
                    _ => {
                        self.wait = Wait::Until(Box::pin(tokio::time::sleep(*d)));
                        return self.poll_other(cx);
                    }
                }
            }
            Wait::Until(deadline) => {
                match self
                    .process
                    .poll_take(self.tags, &mut self.scanned, Some(cx))
                {
                    Take::Taken(m) => Poll::Ready(Ok(m)),
                    // The deadline is looked at even when the scan yields:
                    // a long mailbox does not postpone it.
                    Take::Yield => match deadline.as_mut().poll(cx) {
                        Poll::Ready(()) => Poll::Ready(Err(Error::Timeout)),
                        Poll::Pending => yield_now(cx),
                    },
                    Take::Empty => match deadline.as_mut().poll(cx) {
                        Poll::Ready(()) => Poll::Ready(Err(Error::Timeout)),
                        Poll::Pending => Poll::Pending,
                    },
                }
            }
        };
        if outcome.is_ready() {
            self.wait = Wait::Done;
        }
        outcome
    }
}

/// Pending, and woken at once: the scan budget ran out with messages left
/// to compare, and the task lets others run before it goes on.
fn yield_now<T>(cx: &mut Context<'_>) -> Poll<T> {
    cx.waker().wake_by_ref();
    Poll::Pending
}
