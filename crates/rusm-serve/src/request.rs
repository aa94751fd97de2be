//! One request, from its head to its response head: route it, admit it,
//! spawn its process, and turn what the process does into a status
//! (SERVING.md's outcome table). Every request ends in one access-log
//! line.

use std::time::Instant;

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use rusm_core::{Pid, SpawnOptions};
use rusm_wasm::{BodyError, ErrorCode, IncomingRequest};
use tokio::sync::oneshot;

use crate::admission::Pass;
use crate::body::{Capped, OverCap, Streamed};
use crate::router::Routed;
use crate::server::{ConnActivity, Shared};

/// The body of every response the server sends.
pub(crate) type ServeBody = UnsyncBoxBody<Bytes, BodyError>;

/// The `tracing` target of the access log.
pub const ACCESS_LOG_TARGET: &str = "rusm::http";

/// A request's process while the request is still the server's business:
/// it holds the request's places at the gates and, unless the handler's
/// response ran to its end, kills the process when dropped (the client
/// went away, the connection was closed, the server gave up on it).
pub(crate) struct InFlight {
    pid: Pid,
    armed: bool,
    _passes: (Pass, Option<Pass>),
    activity: ConnActivity,
}

impl InFlight {
    /// The response went out whole: the handler ends by itself.
    pub(crate) fn completed(mut self) {
        self.armed = false;
    }

    /// The connection it came on.
    pub(crate) fn connection(&self) -> &crate::server::ConnState {
        self.activity.state()
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if self.armed {
            // Gone already is fine: it ended as the client left.
            let _ = self.activity.state().shared.runtime.node().kill(self.pid);
        }
    }
}

/// The length a `content-length` header announces, if it is a number.
fn content_length(headers: &http::HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse().ok())
}

pub(crate) fn plain(status: StatusCode, text: &'static str) -> Response<ServeBody> {
    let mut response = Response::new(
        Full::new(Bytes::from_static(text.as_bytes()))
            .map_err(|never| match never {})
            .boxed_unsync(),
    );
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

pub(crate) fn busy() -> Response<ServeBody> {
    let mut response = plain(StatusCode::SERVICE_UNAVAILABLE, "busy: try again\n");
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    response
}

/// The access line's process column: `api#812`, or `-` where none was
/// spawned.
struct Who<'a>(Option<(&'a str, Pid)>);

impl std::fmt::Display for Who<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some((component, pid)) => write!(f, "{component}#{pid}"),
            None => f.write_str("-"),
        }
    }
}

/// Answer one request.
pub(crate) async fn serve(
    request: http::Request<Incoming>,
    https: bool,
    activity: ConnActivity,
) -> Result<Response<ServeBody>, std::convert::Infallible> {
    let start = Instant::now();
    // The connection's, not the server's `Arc`: see `ConnState::shared`.
    let connection = activity.state().clone();
    let shared = &*connection.shared;
    // What the access line needs of the request, kept only when it is
    // written (a `Uri` clone shares its bytes).
    let logged = tracing::enabled!(target: ACCESS_LOG_TARGET, tracing::Level::INFO)
        .then(|| (request.method().clone(), request.uri().clone()));
    let mut who = None;
    // Routed once, here: the answer follows the route, and the observer
    // counts by it.
    let routed = shared
        .router
        .route(request.method().as_str(), request.uri().path());
    let route_index = match routed {
        Routed::Route(i) => Some(i),
        _ => None,
    };
    let response = answer(shared, routed, request, https, activity, start, &mut who).await;
    let status = response.status().as_u16();
    if let Some((method, uri)) = logged {
        let who = Who(route_index
            .zip(who)
            .map(|(i, pid)| (&*shared.config.routes[i].component, pid)));
        let path = uri.path();
        let ms = start.elapsed().as_secs_f64() * 1000.0;
        // The fields are for `--log-format json`; the text line is the message.
        tracing::info!(
            target: ACCESS_LOG_TARGET,
            event = "access",
            method = %method,
            path = %path,
            status,
            ms,
            process = %who,
            "rusm http {method} {path} {status} {ms:.1}ms {who}",
        );
    }
    if let Some(observe) = &shared.config.on_request {
        // Labelled by the operator's route, never by the client's path:
        // a bounded set.
        let route = route_index.map_or("-", |i| shared.config.routes[i].path.as_str());
        (observe.0)(route, status);
    }
    Ok(response)
}

async fn answer(
    shared: &Shared,
    routed: Routed,
    request: http::Request<Incoming>,
    https: bool,
    activity: ConnActivity,
    start: Instant,
    who: &mut Option<Pid>,
) -> Response<ServeBody> {
    let index = match routed {
        Routed::Route(i) => i,
        Routed::BadPath => return plain(StatusCode::BAD_REQUEST, "bad path\n"),
        Routed::NotFound => return plain(StatusCode::NOT_FOUND, "not found\n"),
        Routed::MethodNotAllowed(allow) => {
            let mut response = plain(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
            if let Ok(allow) = HeaderValue::from_str(&allow) {
                response.headers_mut().insert(header::ALLOW, allow);
            }
            return response;
        }
    };
    let route = &shared.config.routes[index];
    if route.websocket {
        return crate::websocket::upgrade(shared, index, request, who).await;
    }
    let announced = content_length(request.headers());
    if announced.is_some_and(|n| n > shared.config.max_body_bytes) {
        return plain(StatusCode::PAYLOAD_TOO_LARGE, "request body too large\n");
    }
    let Some(node_pass) = shared.requests.enter() else {
        return busy();
    };
    let route_pass = match &shared.route_gates[index] {
        Some(gate) => match gate.enter() {
            Some(p) => Some(p),
            None => return busy(),
        },
        None => None,
    };

    let head = request.method() == http::Method::HEAD;
    let (respond, mut responded) = oneshot::channel();
    let (parts, body) = request.into_parts();
    // A request without a body (a GET, or `content-length: 0`) has
    // nothing to cap: no channel for going over, no wrapper to count.
    let (body, mut over_rx) = if hyper::body::Body::is_end_stream(&body) {
        (no_body(), OverCap::never())
    } else {
        let (over_tx, over_rx) = oneshot::channel();
        (
            Capped::boxed(body, shared.config.max_body_bytes, over_tx),
            OverCap::new(over_rx),
        )
    };
    let incoming = IncomingRequest {
        request: http::Request::from_parts(parts, body),
        https,
        respond,
    };
    let pid = match shared
        .runtime
        .spawn_request(&route.component, incoming, SpawnOptions::new())
    {
        Ok(pid) => pid,
        Err(rusm_core::Error::Limit) => return busy(),
        Err(e) => {
            tracing::warn!(component = %route.component, error = %e, "cannot spawn a request process");
            return plain(StatusCode::INTERNAL_SERVER_ERROR, "internal error\n");
        }
    };
    *who = Some(pid);
    let in_flight = InFlight {
        pid,
        armed: true,
        _passes: (node_pass, route_pass),
        activity,
    };
    // Past it, the server's sweeper kills the process: the response never
    // comes, and the deadline says why.
    let deadline = in_flight
        .activity
        .state()
        .deadline
        .watch(start + shared.config.request_timeout, pid);
    let answered = tokio::select! {
        biased;
        () = &mut over_rx => {
            return plain(StatusCode::PAYLOAD_TOO_LARGE, "request body too large\n");
        }
        answered = &mut responded => answered,
    };
    let timed_out = deadline.end();
    match answered {
        Ok(Ok(response)) => {
            let (parts, body) = response.into_parts();
            let length = if head
                || parts.status == StatusCode::NO_CONTENT
                || parts.status == StatusCode::NOT_MODIFIED
            {
                Some(0)
            } else {
                content_length(&parts.headers)
            };
            let body = Streamed::new(body, in_flight, over_rx, length);
            Response::from_parts(parts, body.boxed_unsync())
        }
        // The handler set an error instead of a response.
        Ok(Err(ErrorCode::HttpRequestBodySize(_))) => {
            plain(StatusCode::PAYLOAD_TOO_LARGE, "request body too large\n")
        }
        Ok(Err(_)) => plain(StatusCode::INTERNAL_SERVER_ERROR, "internal error\n"),
        Err(_) if timed_out => plain(StatusCode::GATEWAY_TIMEOUT, "the handler timed out\n"),
        // It ended without one: a trap, a memory breach, no response.
        Err(_) => plain(StatusCode::INTERNAL_SERVER_ERROR, "internal error\n"),
    }
}

/// The body of a request that has none.
fn no_body() -> rusm_wasm::HyperIncomingBody {
    // A zero-sized body: boxing it allocates nothing.
    http_body_util::Empty::new()
        .map_err(|never| match never {})
        .boxed_unsync()
}
