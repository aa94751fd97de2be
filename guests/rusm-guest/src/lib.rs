//! Write RUSM processes in Rust.
//!
//! A RUSM process is a Wasm instance; this crate is the safe side of the
//! core-module contract (`ABI.md`, import module `"rusm"`): pids, messages
//! with selective receive, links and monitors, names, timers and the
//! durable key-value store. Build a guest as a `cdylib` for
//! `wasm32-wasip1` (see `scripts/build-guests.sh`) and name its entry with
//! [`main!`], which exports the `run` function the runtime calls.
//!
//! Two ideas carry most programs:
//!
//! - **Selective receive.** [`receive`] waits for the first message whose
//!   tag is in a set and leaves the others queued, so a reply can be waited
//!   for in the middle of other traffic. [`call`] builds request/reply on it
//!   and watches the server with a monitor, so a dead server is an error,
//!   not a hang.
//! - **Let it crash.** A panic ends the process with the panic message as
//!   its exit reason (`crashed: panicked at src/lib.rs:3:5: ...`), which
//!   links and monitors see; the process does not try to recover.
//!
//! ```no_run
//! use rusm_guest::{Pid, receive, reply, spawn};
//!
//! fn echo_server() {
//!     loop {
//!         let request = receive(&[], None).expect("waiting forever never times out");
//!         let _ = reply(&request, &request.data);
//!     }
//! }
//! rusm_guest::main!(echo_server);
//! ```
//!
//! Typed messages ([`send_typed`], [`receive_typed`], [`call_typed`])
//! carry any `serde` type in postcard's compact binary encoding.

mod error;
pub mod kv;
mod message;
mod process;
mod registry;
mod sys;
mod timer;

pub use error::{Error, Result};
pub use message::{
    EXIT_TAG, Kind, Message, call, call_typed, decode, encode, receive, receive_typed, reply, reply_typed, send,
    send_typed,
};
pub use process::{
    Pid, Ref, demonitor, exit, info, is_alive, kill, link, make_ref, monitor, own_component, own_pid, processes,
    sleep, spawn, trap_exit, unlink,
};
pub use registry::{register, set_label, unregister, whereis};
pub use timer::{Timer, cancel_timer, send_after};

/// Exports `run`, the entry point the runtime calls, running `$entry` — a
/// `fn()` or a `fn() -> Result<(), E>` with `E: Display` (an `Err` ends the
/// process with that text as its reason) — after installing the panic hook.
///
/// ```no_run
/// fn start() -> Result<(), rusm_guest::Error> {
///     rusm_guest::register("greeter")?;
///     Ok(())
/// }
/// rusm_guest::main!(start);
/// ```
#[macro_export]
macro_rules! main {
    ($entry:path) => {
        #[unsafe(no_mangle)]
        pub extern "C" fn run() {
            $crate::__private::run($entry)
        }
    };
}

/// What an entry function may return; see [`main!`].
pub trait Outcome {
    /// Ends the process accordingly (returning means a normal exit).
    fn finish(self);
}

impl Outcome for () {
    fn finish(self) {}
}

impl<E: core::fmt::Display> Outcome for core::result::Result<(), E> {
    fn finish(self) {
        if let Err(error) = self {
            exit(&one_line(&error.to_string()));
        }
    }
}

/// Makes a panic end this process with the panic's message and location as
/// its exit reason. [`main!`] installs it; call it yourself only with your
/// own `run`.
pub fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let message = info.payload_as_str().unwrap_or("Box<dyn Any>");
        let reason = match info.location() {
            Some(at) => format!("panicked at {}:{}:{}: {}", at.file(), at.line(), at.column(), message),
            None => format!("panicked: {message}"),
        };
        exit(&one_line(&reason));
    }));
}

/// Exit reasons are one line (ABI.md).
fn one_line(text: &str) -> String {
    text.replace(['\n', '\r'], " ")
}

#[doc(hidden)]
pub mod __private {
    pub fn run<O: crate::Outcome>(entry: fn() -> O) {
        crate::install_panic_hook();
        entry().finish();
    }
}
