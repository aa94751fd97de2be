//! The bounds of the observer's listener, and one connection's life.
//!
//! The observer listens on a port an operator may expose, and everything
//! below the token check is reachable by anyone who can connect, so the
//! listener bounds what an unauthenticated peer can hold:
//!
//! - **Connections**: at most `max_connections` at once; past it a new
//!   connection is closed as soon as it is accepted (rather than left in
//!   the kernel's backlog, where it would wait behind the very peers that
//!   fill the listener).
//! - **The TLS handshake** must finish within `handshake_timeout`.
//! - **The first request's head** must arrive within `header_timeout` of
//!   the connection opening (a slowloris peer that trickles a head, or an
//!   HTTP/2 preface, byte by byte, is cut off); later heads on a kept-alive
//!   HTTP/1 connection are bounded by hyper's own header read timeout, set
//!   to the same value.
//! - **Idle connections** (no request in flight) are closed after
//!   `idle_timeout`. A request is in flight until its response body ends,
//!   so a live event stream keeps its connection.
//! - **Event streams** (`/api/events`, which live as long as a page is
//!   open) are bounded apart by `max_event_streams` (`api.rs`).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use http::{Request, Response};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use parking_lot::Mutex;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::api::{self, Body};
use crate::server::Shared;

/// The bounds of the observer's listener (see the module docs). The
/// defaults suit a few operators' browsers and a Prometheus scraper.
#[derive(Clone, Debug)]
pub struct ListenerLimits {
    /// Connections at once; past it, new ones are closed on accept.
    pub max_connections: usize,
    /// How long a peer has to send a request's head (from the connection's
    /// opening, for the first request).
    pub header_timeout: Duration,
    /// How long a connection may stay without a request in flight.
    pub idle_timeout: Duration,
    /// How long the TLS handshake may take.
    pub handshake_timeout: Duration,
    /// Live-update streams (`/api/events`) at once; past it they get 503.
    pub max_event_streams: usize,
    /// HTTP/2 streams per connection.
    pub max_streams_per_connection: u32,
}

impl Default for ListenerLimits {
    fn default() -> Self {
        ListenerLimits {
            max_connections: 128,
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            handshake_timeout: Duration::from_secs(10),
            max_event_streams: 32,
            max_streams_per_connection: 32,
        }
    }
}

/// Requests in flight on one connection and when the last one ended.
struct Activity {
    in_flight: AtomicUsize,
    /// When the last request's response ended; `None` before any.
    last_end: Mutex<Option<Instant>>,
}

/// One request in flight, until its response body is dropped.
struct InFlight(Arc<Activity>);

impl InFlight {
    fn new(activity: &Arc<Activity>) -> Self {
        activity.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlight(activity.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        *self.0.last_end.lock() = Some(Instant::now());
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// What a connection without a request in flight has waited too long for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Overdue {
    /// Nothing: it is within its bounds.
    No,
    /// Its first request's head did not come within `header_timeout`.
    FirstRequest,
    /// No request came within `idle_timeout` of the last one's end.
    Idle,
}

impl Activity {
    fn overdue(&self, opened: Instant, limits: &ListenerLimits) -> Overdue {
        if self.in_flight.load(Ordering::Acquire) != 0 {
            return Overdue::No;
        }
        match *self.last_end.lock() {
            None if opened.elapsed() >= limits.header_timeout => Overdue::FirstRequest,
            Some(t) if t.elapsed() >= limits.idle_timeout => Overdue::Idle,
            _ => Overdue::No,
        }
    }
}

/// Serve one accepted connection (TLS already done) until it ends or a
/// bound closes it.
pub(crate) async fn serve<I>(io: I, peer: std::net::SocketAddr, shared: Arc<Shared>)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let limits = shared.limits.clone();
    let opened = Instant::now();
    let activity = Arc::new(Activity {
        in_flight: AtomicUsize::new(0),
        last_end: Mutex::new(None),
    });
    let service = {
        let activity = activity.clone();
        service_fn(move |req: Request<Incoming>| {
            let shared = shared.clone();
            let in_flight = InFlight::new(&activity);
            async move {
                let response = api::handle(shared, req).await;
                Ok::<_, std::convert::Infallible>(hold_until_sent(response, in_flight))
            }
        })
    };
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(limits.max_streams_per_connection);
    let conn = builder.serve_connection(TokioIo::new(io), service);
    let mut conn = std::pin::pin!(conn);
    // Checked a few times per bound: a peer is cut off at most a quarter
    // of the bound late.
    let check = (limits.header_timeout.min(limits.idle_timeout) / 4)
        .clamp(Duration::from_millis(10), Duration::from_secs(1));
    // When an idle connection was asked to close.
    let mut closing: Option<Instant> = None;
    loop {
        tokio::select! {
            served = conn.as_mut() => {
                if let Err(e) = served {
                    tracing::debug!(target: "rusm::observer", %peer, error = %e, "connection ended");
                }
                return;
            }
            () = tokio::time::sleep(check) => {
                match (activity.overdue(opened, &limits), closing) {
                    (Overdue::No, _) => {}
                    // Nothing to say to a peer that never sent a request
                    // (or is still trickling its head): drop it.
                    (Overdue::FirstRequest, _) => {
                        tracing::debug!(target: "rusm::observer", %peer, "no request head in time: connection dropped");
                        return;
                    }
                    (Overdue::Idle, None) => {
                        tracing::debug!(target: "rusm::observer", %peer, "idle connection closed");
                        closing = Some(Instant::now());
                        conn.as_mut().graceful_shutdown();
                    }
                    // A peer that does not let an idle connection close
                    // (one sending a head it never finishes) is dropped.
                    (Overdue::Idle, Some(t)) if t.elapsed() >= check * 4 => return,
                    (Overdue::Idle, Some(_)) => {}
                }
            }
        }
    }
}

/// The response, with `in_flight` released only when its body is done or
/// dropped (an event stream holds it for as long as the page is open).
fn hold_until_sent(response: Response<Body>, in_flight: InFlight) -> Response<Body> {
    response.map(|body| {
        body.map_frame(move |frame| {
            let _ = &in_flight;
            frame
        })
        .boxed()
    })
}
