//! Timers: a message delivered later.

use crate::error::Result;
use crate::message::millis;
use crate::process::Pid;
use crate::sys;
use core::time::Duration;

/// A pending timer, from [`send_after`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Timer(i64);

/// Sends `data` to `to` with `tag` after `delay`, as if this process sent it then.
pub fn send_after(to: Pid, tag: i64, data: &[u8], delay: Duration) -> Result<Timer> {
    sys::send_after(to.raw(), tag, data, millis(delay)).map(Timer)
}

/// Cancels a timer; `true` if it was still pending (its message will not come).
pub fn cancel_timer(timer: Timer) -> bool {
    sys::cancel_timer(timer.0)
}
