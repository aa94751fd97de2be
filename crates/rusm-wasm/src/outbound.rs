//! Outgoing HTTP (`wasi:http/outgoing-handler`): the hooks through which
//! every request a component sends leaves the node.
//!
//! The interface is linked for every component, granted or not, so one
//! component runs under any profile (CAPABILITIES.md, *Outbound network*);
//! what a process may reach is decided here, in `send_request`, and
//! nowhere else. Until destination checks land, every request is refused
//! with `HTTP-request-denied`.

use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody, WasiHttpHooks};

/// The outbound-HTTP side of one process, made on its first `wasi:http`
/// call (most processes make none, so a spawn pays nothing for it).
#[derive(Default)]
pub(crate) struct Outbound {}

type ResponseFuture = Box<
    dyn Future<
            Output = Result<
                (
                    http::Response<WasiBody>,
                    Box<dyn Future<Output = Result<(), HttpError>> + Send>,
                ),
                HttpError,
            >,
        > + Send,
>;

impl WasiHttpHooks for Outbound {
    fn send_request(
        &mut self,
        _request: http::Request<WasiBody>,
        _options: Option<RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), HttpError>> + Send>,
    ) -> ResponseFuture {
        Box::new(async { Err(HttpError::HttpRequestDenied) })
    }
}
