//! Serving for RUSM (SERVING.md): HTTP with hyper, where **every request is
//! a new process** of the routed component.
//!
//! A [`Server`] listens on one address and routes each request (longest
//! matching path; 400 for a path with dot segments, `//` or an encoded `/`;
//! 404 and 405 from the router) to a registered component of a
//! [`rusm_wasm::WasmRuntime`]. The component is a stock
//! `wasi:http/incoming-handler`; the request becomes a full RUSM process of
//! it (a pid, a lifecycle line, links, monitors, the actor ABI), spawned
//! through the runtime's one launch path with the request as its spawn
//! input ([`rusm_wasm::WasmRuntime::spawn_request`]).
//!
//! The ideas a reader needs:
//!
//! - **What a request ends in is a table.** `request.rs` turns what the
//!   process does into SERVING.md's outcome table: its response (streamed),
//!   500 for a trap, a memory breach or no response, 504 and a kill past
//!   the request timeout (one sweeper per server, `deadline.rs`), 413 and
//!   a kill past the body cap, 503 with `retry-after: 1` past an admission
//!   cap (`admission.rs`; no process is spawned), and a kill when the
//!   client goes away.
//! - **Nothing is buffered whole.** The request body streams into the
//!   handler and its response body streams out as written (`body.rs`), so
//!   server-sent events are just a body written in chunks.
//! - **A request holds its place until its process is done with the
//!   client.** The `InFlight` guard travels with the response body: when
//!   the body ends, the handler finishes on its own; when the body is
//!   dropped first, the handler is killed.
//!
//! On a `websocket = true` route an upgrade becomes a connection process
//! and a socket process that owns the client (`websocket.rs`).
//!
//! With `tls` set it serves HTTPS (rustls with ring, `tls.rs`); the
//! handler sees the scheme `https`.
//!
//! The crate knows nothing of the manifest: rusm-node builds a
//! [`ServeConfig`] from `[http]`. Each request ends in one access-log line
//! at `info`, target [`ACCESS_LOG_TARGET`]:
//! `rusm http GET /api/items 200 1.2ms api#812` (the time is to the
//! response head; `-` where no process was spawned).
//!
//! ```no_run
//! # async fn demo(runtime: rusm_wasm::WasmRuntime) -> Result<(), rusm_serve::ServeError> {
//! use rusm_serve::{Route, ServeConfig, Server};
//!
//! let mut config = ServeConfig::new("127.0.0.1:8080".parse().expect("an address"));
//! config.routes.push(Route::new("/api/*", "api")); // a registered component
//! let server = Server::start(config, runtime).await?;
//! // ... until the node stops:
//! server.shutdown().await;
//! # Ok(())
//! # }
//! ```

mod admission;
mod body;
mod config;
mod deadline;
mod request;
mod router;
mod server;
mod tls;
mod websocket;

pub use config::{OnRequest, RequestObserver, Route, ServeConfig, TlsFiles};
pub use request::ACCESS_LOG_TARGET;
pub use server::Server;

use std::net::SocketAddr;

/// Why a server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {error}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        error: std::io::Error,
    },
    /// A `tls` file is unusable.
    #[error("TLS: {}: {why}", path.display())]
    Tls {
        /// The certificate or key file.
        path: std::path::PathBuf,
        /// What is wrong with it.
        why: String,
    },
}
