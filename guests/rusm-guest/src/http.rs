//! HTTP handlers: a request in, a response out, one process per request
//! (the `http` feature; SERVING.md).
//!
//! A handler is a plain function named with [`http_main!`](crate::http_main):
//!
//! ```ignore
//! use rusm_guest::http::{Request, Response};
//!
//! fn handle(request: Request) -> Response {
//!     Response::text(200, format!("hello from {}", request.path()))
//! }
//! rusm_guest::http_main!(handle);
//! ```
//!
//! The crate then builds as a stock `wasi:http/incoming-handler` component
//! (world `http-actor`): the node spawns a new process of it for every
//! request and calls it once. Inside, every actor call of the library works
//! as in any process (`whereis`, [`call`](crate::call), `spawn`, monitors,
//! `kv`), so a handler can ask a resident service and answer with what it
//! says.
//!
//! # Bodies
//!
//! A request body is read when the handler asks ([`Request::body`], or
//! piece by piece with [`Request::read_chunk`]); the node caps it at the
//! manifest's `max-body-mb`. A response body is either bytes, sent with a
//! `content-length`, or a **stream**: [`Response::stream`] takes a closure
//! that runs after the head is sent and writes the body in pieces, each on
//! the wire when its write returns. That is all server-sent events need:
//!
//! ```ignore
//! fn clock(_: Request) -> Response {
//!     Response::stream(200, |body| {
//!         for n in 1..=3 {
//!             body.event(Some("tick"), &n.to_string())?;
//!             rusm_guest::sleep(std::time::Duration::from_secs(1));
//!         }
//!         Ok(())
//!     })
//!     .header("content-type", "text/event-stream")
//! }
//! ```
//!
//! # Failure
//!
//! A handler that panics, or returns `Err` (a handler may return
//! `Result<Response, E>` with `E: Display`), ends its process with that
//! reason, and the node answers 500 (or cuts the connection, if the head
//! was already sent): the same "let it crash" as every other process.

use crate::error::{Error, Result};
use crate::sys::http::{BodyIn, BodyOut, Head, Outparam, respond};

/// The size of the pieces [`Request::body`] reads.
const READ_PIECE: usize = 64 * 1024;

/// An HTTP request, as the handler's process received it.
pub struct Request {
    head: Head,
    body: Option<BodyIn>,
}

impl Request {
    pub(crate) fn new(head: Head, body: Option<BodyIn>) -> Request {
        Request { head, body }
    }

    /// The method, in capitals: `GET`, `POST`, ...
    pub fn method(&self) -> &str {
        &self.head.method
    }

    /// The path, without the query: `/api/items`.
    pub fn path(&self) -> &str {
        split_query(&self.head.path_with_query).0
    }

    /// The query, without its `?` (empty when there is none).
    pub fn query(&self) -> &str {
        split_query(&self.head.path_with_query).1
    }

    /// The value of the query parameter `name` (`a` in `?name=a&b=2`), as
    /// written (not percent-decoded); `None` if it is absent.
    pub fn query_param(&self, name: &str) -> Option<&str> {
        query_param(self.query(), name)
    }

    /// Every header as the client sent it (names in lower case).
    pub fn headers(&self) -> &[(String, Vec<u8>)] {
        &self.head.headers
    }

    /// The first value of header `name` (any case), if it is there and is
    /// text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head
            .headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| core::str::from_utf8(v).ok())
    }

    /// The next piece of the body, waiting for it; `Ok(None)` at its end.
    pub fn read_chunk(&mut self) -> Result<Option<Vec<u8>>> {
        match &mut self.body {
            Some(body) => body.read(READ_PIECE),
            None => Ok(None),
        }
    }

    /// The rest of the body, read to its end.
    pub fn body(&mut self) -> Result<Vec<u8>> {
        let mut all = Vec::new();
        while let Some(piece) = self.read_chunk()? {
            all.extend_from_slice(&piece);
        }
        Ok(all)
    }

    /// The rest of the body as UTF-8 text.
    pub fn text(&mut self) -> Result<String> {
        String::from_utf8(self.body()?).map_err(|_| Error::Http("the request body is not UTF-8".into()))
    }
}

/// `("/a", "x=1")` from `"/a?x=1"`.
fn split_query(path_with_query: &str) -> (&str, &str) {
    path_with_query.split_once('?').unwrap_or((path_with_query, ""))
}

fn query_param<'q>(query: &'q str, name: &str) -> Option<&'q str> {
    query.split('&').find_map(|pair| match pair.split_once('=') {
        Some((key, value)) if key == name => Some(value),
        None if pair == name => Some(""),
        _ => None,
    })
}

/// What writes a streamed body: see [`Response::stream`].
type Writer = Box<dyn FnOnce(&mut BodyWriter) -> Result<()>>;

enum Body {
    Bytes(Vec<u8>),
    Stream(Writer),
}

/// An HTTP response: a status, headers and a body, built with the
/// constructors and [`header`](Response::header).
pub struct Response {
    status: u16,
    headers: Vec<(String, Vec<u8>)>,
    body: Body,
}

impl Response {
    /// A response with an empty body.
    pub fn new(status: u16) -> Response {
        Response { status, headers: Vec::new(), body: Body::Bytes(Vec::new()) }
    }

    /// A `text/plain` response.
    pub fn text(status: u16, text: impl Into<String>) -> Response {
        Response::new(status).header("content-type", "text/plain; charset=utf-8").with_body(text.into())
    }

    /// An `application/json` response; `json` is the serialized document.
    pub fn json(status: u16, json: impl Into<String>) -> Response {
        Response::new(status).header("content-type", "application/json").with_body(json.into())
    }

    /// A streamed response: once the head is sent, `write` runs and writes
    /// the body in pieces ([`BodyWriter::write`], [`BodyWriter::event`]),
    /// each reaching the client when its write returns; the body ends when
    /// `write` returns. An `Err` from it ends the process with that reason
    /// and cuts the connection (the head is already out).
    pub fn stream(status: u16, write: impl FnOnce(&mut BodyWriter) -> Result<()> + 'static) -> Response {
        Response { status, headers: Vec::new(), body: Body::Stream(Box::new(write)) }
    }

    /// Replaces the body with `bytes` (sent with a `content-length`).
    pub fn with_body(mut self, bytes: impl Into<Vec<u8>>) -> Response {
        self.body = Body::Bytes(bytes.into());
        self
    }

    /// Adds a header (another value of the same name adds a line).
    pub fn header(mut self, name: &str, value: impl AsRef<[u8]>) -> Response {
        self.headers.push((name.to_ascii_lowercase(), value.as_ref().to_vec()));
        self
    }

    /// The status code.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The headers added so far.
    pub fn headers(&self) -> &[(String, Vec<u8>)] {
        &self.headers
    }

    /// Sends the response through the request's outparam: the head, then
    /// the body (written here, or by the stream closure).
    pub(crate) fn send(self, out: Outparam, head_only: bool) -> Result<()> {
        let Response { status, mut headers, body } = self;
        match body {
            Body::Bytes(bytes) => {
                // A HEAD answer has no body, and its length would be checked
                // against the zero bytes written.
                if !head_only && !headers.iter().any(|(n, _)| n == "content-length") {
                    headers.push(("content-length".into(), bytes.len().to_string().into_bytes()));
                }
                let mut out = respond(out, status, &headers)?;
                if !head_only && !bytes.is_empty() {
                    out.write(&bytes)?;
                }
                out.finish()
            }
            Body::Stream(write) => {
                let mut writer = BodyWriter { out: respond(out, status, &headers)? };
                if !head_only {
                    write(&mut writer)?;
                }
                writer.out.finish()
            }
        }
    }
}

/// Writes a streamed response's body; see [`Response::stream`].
pub struct BodyWriter {
    out: BodyOut,
}

impl BodyWriter {
    /// Writes `bytes`; they are on the wire when this returns. An `Err`
    /// means the client is gone (the node kills the process soon after).
    pub fn write(&mut self, bytes: &[u8]) -> Result<()> {
        self.out.write(bytes)
    }

    /// Writes one server-sent event: `event: NAME` (if given), one `data:`
    /// line per line of `data`, and the blank line that ends the event.
    pub fn event(&mut self, event: Option<&str>, data: &str) -> Result<()> {
        self.write(sse_event(event, data).as_bytes())
    }
}

impl std::io::Write for BodyWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.out.write(buf).map_err(std::io::Error::other)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        // Every write is flushed already.
        Ok(())
    }
}

/// One event in the `text/event-stream` format.
fn sse_event(event: Option<&str>, data: &str) -> String {
    let mut text = String::with_capacity(data.len() + 16);
    if let Some(name) = event {
        // A line break in the name would start another field.
        text.push_str("event: ");
        text.push_str(&name.replace(['\r', '\n'], " "));
        text.push('\n');
    }
    for line in data.split('\n') {
        text.push_str("data: ");
        text.push_str(line.strip_suffix('\r').unwrap_or(line));
        text.push('\n');
    }
    text.push('\n');
    text
}

/// What a handler may return: a [`Response`], or `Result<Response, E>`
/// with `E: Display` (an `Err` ends the process with that reason: 500).
pub trait IntoResponse {
    /// The response, or the reason the process ends with.
    fn into_response(self) -> core::result::Result<Response, String>;
}

impl IntoResponse for Response {
    fn into_response(self) -> core::result::Result<Response, String> {
        Ok(self)
    }
}

impl<E: core::fmt::Display> IntoResponse for core::result::Result<Response, E> {
    fn into_response(self) -> core::result::Result<Response, String> {
        self.map_err(|error| error.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_queries() {
        assert_eq!(split_query("/a/b?x=1&y"), ("/a/b", "x=1&y"));
        assert_eq!(split_query("/a"), ("/a", ""));
        assert_eq!(query_param("x=1&y&z=", "x"), Some("1"));
        assert_eq!(query_param("x=1&y&z=", "y"), Some(""));
        assert_eq!(query_param("x=1&y&z=", "z"), Some(""));
        assert_eq!(query_param("x=1&y&z=", "w"), None);
        assert_eq!(query_param("xx=1", "x"), None);
    }

    #[test]
    fn server_sent_events_are_framed() {
        assert_eq!(sse_event(None, "one"), "data: one\n\n");
        assert_eq!(sse_event(Some("tick"), "a\r\nb"), "event: tick\ndata: a\ndata: b\n\n");
        assert_eq!(sse_event(Some("x\ny"), ""), "event: x y\ndata: \n\n");
    }

    #[test]
    fn responses_keep_their_parts() {
        let response = Response::json(201, "{}").header("X-Id", "7");
        assert_eq!(response.status(), 201);
        assert_eq!(
            response.headers(),
            &[("content-type".to_owned(), b"application/json".to_vec()), ("x-id".to_owned(), b"7".to_vec())]
        );
    }
}
