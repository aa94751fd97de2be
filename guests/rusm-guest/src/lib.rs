//! Write RUSM processes in Rust.
//!
//! A RUSM process is a Wasm instance; this crate is the safe side of the
//! runtime's contract: pids, messages with selective receive, links and
//! monitors, names, timers and the durable key-value store. Name a guest's
//! entry with [`main!`], which exports the `run` function the runtime calls.
//!
//! # One API, two shapes
//!
//! The runtime runs a guest in either of two shapes, and one source builds
//! as both; the shape is chosen when the guest is built, never in its code:
//!
//! - **Core module** (the default on `wasm32-wasip1`): the guest imports the
//!   flat `"rusm"` functions of `ABI.md` and exports `run`.
//! - **Component** (the `component` feature, or any `wasm32-wasip2` build):
//!   the guest is a component of the `rusm:runtime@0.1.0` world `actor`
//!   from `rusm.wit`, bound with wit-bindgen; it imports the `process`,
//!   `kv` and `cluster` interfaces and exports the world's `run`. On
//!   `wasm32-wasip1` the feature gives a core module carrying the
//!   component type, which `wasm-tools component new` with the WASI
//!   preview 1 reactor adapter turns into the component
//!   (`scripts/build-guests.sh` does it).
//!
//! - **HTTP handler** (the `http` feature, which implies `component`): a
//!   component of the world `http-actor`, a stock
//!   `wasi:http/incoming-handler` that also imports `process` and `kv`.
//!   The node runs a new process of it per request; the handler is a plain
//!   `fn(http::Request) -> http::Response` named with `http_main!` (see
//!   the `http` module), and the actor calls below all work inside it.
//!   Such a crate is a handler only: it has no `run`, and [`main!`] does
//!   not compile in it.
//!
//! Everything that differs lives behind the internal `sys` boundary: two
//! backends with the same small set of safe calls, checked against one
//! signature list at compile time. The public modules are written once on
//! top of it, so a guest sees the same types, errors and exit reasons in
//! both shapes (`info` is the same JSON text, for example, though the
//! component gets a record from the host). Host builds (`cargo test`) use
//! stubs that panic, so the pure parts can be tested without a runtime.
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
//!
//! A WebSocket connection is a process too, in either shape: [`websocket`]
//! reads its socket's messages as frames and writes frames back.
//!
//! In a cluster (CLUSTER.md) a pid names a process on any node, and the
//! calls above take it as they take a local one; [`spawn_on`],
//! [`register_global`], [`whereis_global`], [`nodes`] and [`node_of`]
//! reach the other nodes.

mod cluster;
mod error;
#[cfg(feature = "http")]
pub mod http;
pub mod kv;
mod message;
mod process;
mod registry;
mod sys;
mod timer;
pub mod websocket;

pub use cluster::{node_of, nodes, register_global, spawn_on, whereis_global};
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
/// In the module shape `run` is a plain `extern "C"` export; in the
/// component shape it is the `actor` world's `run`, exported through the
/// wit-bindgen bindings this crate carries (the guest needs no wit-bindgen
/// of its own).
///
/// ```no_run
/// fn start() -> Result<(), rusm_guest::Error> {
///     rusm_guest::register("greeter")?;
///     Ok(())
/// }
/// rusm_guest::main!(start);
/// ```
// Two definitions, chosen by this crate's own cfg: a `cfg` inside the
// expansion would be evaluated in the guest's crate, whose features and
// target say nothing about which backend this crate was built with.
#[cfg(not(any(feature = "component", target_env = "p2")))]
#[macro_export]
macro_rules! main {
    ($entry:path) => {
        #[unsafe(no_mangle)]
        pub extern "C" fn run() {
            $crate::__private::run($entry)
        }
    };
}

/// See the module-shape definition; this one exports the world's `run`.
#[cfg(all(any(feature = "component", target_env = "p2"), not(feature = "http")))]
#[macro_export]
macro_rules! main {
    ($entry:path) => {
        const _: () = {
            struct Entry;
            impl $crate::__private::bindings::Guest for Entry {
                fn run() {
                    $crate::__private::run($entry)
                }
            }
            $crate::__private::bindings::export_actor!(Entry with_types_in $crate::__private::bindings);
        };
    };
}

/// With the `http` feature the guest is a handler of the world
/// `http-actor`, which has no `run` to export: name its handler with
/// [`http_main!`] instead.
#[cfg(feature = "http")]
#[macro_export]
macro_rules! main {
    ($entry:path) => {
        compile_error!(
            "rusm_guest::main! names an actor's entry, but this crate is built with rusm-guest's `http` feature (an HTTP handler): use rusm_guest::http_main!, or build the actor without the feature"
        );
    };
}

/// Exports `wasi:http/incoming-handler`, running `$handler` once per
/// request: a `fn(http::Request) -> R` where `R` is an
/// [`http::Response`] or a `Result<http::Response, E>` with `E: Display`
/// (see [`http`]). Needs the `http` feature; the panic hook is installed
/// first, so a panic ends the request's process with its message (500).
///
/// ```ignore
/// use rusm_guest::http::{Request, Response};
///
/// fn handle(request: Request) -> Response {
///     Response::text(200, format!("{} {}", request.method(), request.path()))
/// }
/// rusm_guest::http_main!(handle);
/// ```
#[cfg(feature = "http")]
#[macro_export]
macro_rules! http_main {
    ($handler:path) => {
        const _: () = {
            struct Handler;
            impl $crate::__private::bindings::exports::wasi::http::incoming_handler::Guest for Handler {
                fn handle(
                    request: $crate::__private::bindings::wasi::http::types::IncomingRequest,
                    response_out: $crate::__private::bindings::wasi::http::types::ResponseOutparam,
                ) {
                    $crate::__private::serve(request, response_out, $handler)
                }
            }
            $crate::__private::bindings::export_http_actor!(Handler with_types_in $crate::__private::bindings);
        };
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
    #[cfg(any(feature = "component", target_env = "p2"))]
    pub use crate::sys::bindings;

    pub fn run<O: crate::Outcome>(entry: fn() -> O) {
        crate::install_panic_hook();
        entry().finish();
    }

    /// One request, start to end: the handler's answer, sent; a handler
    /// that fails, or a response that cannot be sent, ends the process
    /// with the reason (the node answers 500 or cuts the connection).
    #[cfg(feature = "http")]
    pub fn serve<R: crate::http::IntoResponse>(
        request: bindings::wasi::http::types::IncomingRequest,
        out: bindings::wasi::http::types::ResponseOutparam,
        handler: fn(crate::http::Request) -> R,
    ) {
        crate::install_panic_hook();
        let (head, body) = crate::sys::http::take_request(request);
        let head_only = head.method == "HEAD";
        let response = match handler(crate::http::Request::new(head, body)).into_response() {
            Ok(response) => response,
            Err(reason) => crate::exit(&crate::one_line(&reason)),
        };
        if let Err(error) = response.send(crate::sys::http::Outparam(out), head_only) {
            crate::exit(&crate::one_line(&error.to_string()));
        }
    }
}
