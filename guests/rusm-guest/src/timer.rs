//! Timers: a message delivered later.

use crate::error::{Result, check};
use crate::message::millis;
use crate::process::Pid;
use crate::sys;
use core::time::Duration;

/// A pending timer, from [`send_after`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Timer(i64);

/// Sends `data` to `to` with `tag` after `delay`, as if this process sent it then.
pub fn send_after(to: Pid, tag: i64, data: &[u8], delay: Duration) -> Result<Timer> {
    // SAFETY: the slice is valid for its length.
    let id = unsafe { sys::send_after(to.raw(), tag, data.as_ptr(), data.len(), millis(Some(delay))) };
    check(id).map(Timer)
}

/// Cancels a timer; `true` if it was still pending (its message will not come).
pub fn cancel_timer(timer: Timer) -> bool {
    // SAFETY: scalar arguments.
    unsafe { sys::cancel_timer(timer.0) == 1 }
}
