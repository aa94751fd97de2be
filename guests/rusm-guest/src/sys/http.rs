//! The component backend's HTTP half: `wasi:http` 0.2 (the `http-actor`
//! world's `include wasi:http/proxy`), wrapped into the few safe calls the
//! public [`crate::http`] module is written on.
//!
//! Only this file names wasi:http's resources. What it hides:
//!
//! - a request arrives as resources (`incoming-request`, its `fields`, an
//!   `incoming-body` with an `input-stream` child); the library wants plain
//!   values (method, path, headers) and a byte reader;
//! - a response is an `outgoing-response` whose body stream must be taken
//!   *before* the response is handed to the `response-outparam` (handing it
//!   over moves it to the host, which then sends the head), then written in
//!   pieces of at most 4096 bytes (`blocking-write-and-flush`'s limit), then
//!   `finish`ed;
//! - child resources must be dropped before their parents (a stream before
//!   its body, a body before its request): the field order of the structs
//!   below is their drop order.

use super::bindings::wasi::http::types::{
    Fields, IncomingBody, IncomingRequest, Method, OutgoingBody, OutgoingResponse, ResponseOutparam,
};
use super::bindings::wasi::io::streams::{InputStream, OutputStream, StreamError};
use crate::error::{Error, Result};

/// What the public module needs of a request, as values.
pub(crate) struct Head {
    pub(crate) method: String,
    pub(crate) path_with_query: String,
    pub(crate) headers: Vec<(String, Vec<u8>)>,
}

/// Takes a request apart: its head as values, and its body (`None` only if
/// the host had already handed the body out, which it never does for a
/// fresh request).
pub(crate) fn take_request(request: IncomingRequest) -> (Head, Option<BodyIn>) {
    let method = match request.method() {
        Method::Get => "GET".to_owned(),
        Method::Head => "HEAD".to_owned(),
        Method::Post => "POST".to_owned(),
        Method::Put => "PUT".to_owned(),
        Method::Delete => "DELETE".to_owned(),
        Method::Connect => "CONNECT".to_owned(),
        Method::Options => "OPTIONS".to_owned(),
        Method::Trace => "TRACE".to_owned(),
        Method::Patch => "PATCH".to_owned(),
        Method::Other(other) => other,
    };
    let path_with_query = request.path_with_query().unwrap_or_else(|| "/".to_owned());
    let headers = request.headers().entries();
    let body = request.consume().ok().and_then(|body| {
        let stream = body.stream().ok()?;
        Some(BodyIn { stream, _body: body, _request: request })
    });
    (Head { method, path_with_query, headers }, body)
}

/// A request body being read. Fields drop in order: stream, body, request.
pub(crate) struct BodyIn {
    stream: InputStream,
    _body: IncomingBody,
    _request: IncomingRequest,
}

impl BodyIn {
    /// The next piece of the body, at most `max` bytes, waiting for it;
    /// `Ok(None)` at its end.
    pub(crate) fn read(&mut self, max: usize) -> Result<Option<Vec<u8>>> {
        loop {
            match self.stream.blocking_read(max as u64) {
                // A blocking read may still return nothing; ask again.
                Ok(bytes) if bytes.is_empty() => continue,
                Ok(bytes) => return Ok(Some(bytes)),
                Err(StreamError::Closed) => return Ok(None),
                Err(StreamError::LastOperationFailed(error)) => {
                    return Err(Error::Http(format!("reading the request body: {}", error.to_debug_string())));
                }
            }
        }
    }
}

/// Where the request's response goes: the host's `response-outparam`,
/// opaque to the public module.
pub(crate) struct Outparam(pub(crate) ResponseOutparam);

/// Sends a response head: status and headers. The body is written through
/// the returned [`BodyOut`], whose pieces reach the client as they are
/// written.
pub(crate) fn respond(Outparam(out): Outparam, status: u16, headers: &[(String, Vec<u8>)]) -> Result<BodyOut> {
    let fields = Fields::from_list(headers).map_err(|error| Error::Http(format!("response headers: {error:?}")))?;
    let response = OutgoingResponse::new(fields);
    response.set_status_code(status).map_err(|()| Error::Http(format!("{status} is not an HTTP status")))?;
    let body = response.body().map_err(|()| Error::Http("the response body was already taken".into()))?;
    let stream = body.write().map_err(|()| Error::Http("the response body stream was already taken".into()))?;
    ResponseOutparam::set(out, Ok(response));
    Ok(BodyOut { stream: Some(stream), body: Some(body) })
}

/// The most `blocking-write-and-flush` takes in one call.
const WRITE_MAX: usize = 4096;

/// A response body being written. The stream is dropped before the body is
/// finished, as wasi:http requires.
pub(crate) struct BodyOut {
    stream: Option<OutputStream>,
    body: Option<OutgoingBody>,
}

impl BodyOut {
    /// Writes `bytes` and flushes them: on the wire when this returns.
    pub(crate) fn write(&mut self, bytes: &[u8]) -> Result<()> {
        let Some(stream) = &self.stream else {
            return Err(Error::Http("the response body is finished".into()));
        };
        for piece in bytes.chunks(WRITE_MAX) {
            stream.blocking_write_and_flush(piece).map_err(|error| match error {
                StreamError::Closed => Error::Http("the client closed the connection".into()),
                StreamError::LastOperationFailed(error) => {
                    Error::Http(format!("writing the response body: {}", error.to_debug_string()))
                }
            })?;
        }
        Ok(())
    }

    /// Ends the body (a chunked body gets its last chunk; a body shorter
    /// than its `content-length` is an error here).
    pub(crate) fn finish(mut self) -> Result<()> {
        drop(self.stream.take());
        match self.body.take() {
            Some(body) => OutgoingBody::finish(body, None)
                .map_err(|error| Error::Http(format!("finishing the response body: {error:?}"))),
            None => Ok(()),
        }
    }
}

impl Drop for BodyOut {
    fn drop(&mut self) {
        // A body dropped unfinished (an error on the way) still releases
        // its stream first; the host then treats the body as cut off.
        drop(self.stream.take());
    }
}
