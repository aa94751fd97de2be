//! The request an HTTP handler process is spawned for (SERVING.md).
//!
//! A handler is a `wasi:http/incoming-handler` component; each request is
//! a new process of it, and the request is part of that process's spawn
//! input, like a first message: the launch path hands it to the
//! component's `handle` as an `incoming-request` resource, with a
//! `response-outparam` that delivers the response head to the server.
//! Bodies are streams both ways: nothing here buffers one.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::oneshot;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;

pub use wasmtime_wasi_http::Error as BodyError;
pub use wasmtime_wasi_http::p2::bindings::http::types::ErrorCode;
pub use wasmtime_wasi_http::p2::body::{HyperIncomingBody, HyperOutgoingBody};

/// What a handler answers: its response head with a streaming body, or the
/// error it set instead of a response.
pub type HandlerResponse = Result<http::Response<HyperOutgoingBody>, ErrorCode>;

/// One request for a handler process: see
/// [`WasmRuntime::spawn_request`](crate::WasmRuntime::spawn_request).
pub struct IncomingRequest {
    /// The request as received; its body is read by the handler as it
    /// streams in.
    pub request: http::Request<HyperIncomingBody>,
    /// Whether it came over TLS (the handler's `scheme`).
    pub https: bool,
    /// Where the handler's response goes, once it sets one. Dropped
    /// without a value when the process ends without setting one.
    pub respond: oneshot::Sender<HandlerResponse>,
}

/// An [`IncomingRequest`] on its way into a process's store: remembers
/// whether the handler set a response, since returning without one is a
/// crash (SERVING.md).
pub(crate) struct Pending {
    pub(crate) request: http::Request<HyperIncomingBody>,
    pub(crate) scheme: Scheme,
    pub(crate) respond: oneshot::Sender<HandlerResponse>,
    pub(crate) answered: Arc<AtomicBool>,
}

impl From<IncomingRequest> for Pending {
    fn from(r: IncomingRequest) -> Self {
        Pending {
            request: r.request,
            scheme: if r.https { Scheme::Https } else { Scheme::Http },
            respond: r.respond,
            answered: Arc::new(AtomicBool::new(false)),
        }
    }
}

impl Pending {
    /// The outparam's callback: passes the response on and remembers it.
    pub(crate) fn responder(
        respond: oneshot::Sender<HandlerResponse>,
        answered: Arc<AtomicBool>,
    ) -> impl FnOnce(HandlerResponse) + Send + Sync + 'static {
        move |response| {
            answered.store(true, Ordering::Release);
            // The server may have given up on the request (timeout,
            // client gone): the response has nowhere to go, which is fine.
            let _ = respond.send(response);
        }
    }
}
