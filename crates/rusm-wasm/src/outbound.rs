//! Outgoing HTTP (`wasi:http/outgoing-handler`): the hooks through which
//! every request a component sends leaves the node.
//!
//! The interface is linked for every component, granted or not, so one
//! component runs under any profile (CAPABILITIES.md, *Outbound network*);
//! what a process may reach is decided here, in `send_request`, and
//! nowhere else, by the process's [`Destinations`] (its
//! `rusm_caps::HostPolicy`). Wasmtime's own client would look names up and
//! connect by itself, out of sight of any check, so the node does both:
//!
//! 1. the request's host is checked *before* it is looked up (a name) or
//!    as it is (an address): an unlisted name is never resolved;
//! 2. a name is looked up by the node, bounded (`resolver.rs`, shared with
//!    socket lookups), and every address it resolved to is checked again,
//!    so a public name that resolves to an internal address (DNS
//!    rebinding) goes nowhere unless the name was listed exactly or the
//!    address is listed; the connection goes to one of the addresses that
//!    passed, never to a second lookup's answer;
//! 3. the TCP connect (and the TLS handshake) has a deadline
//!    (`[network] connect-timeout-seconds`); HTTPS trusts the system's
//!    roots plus `[network] extra-roots`, through rustls;
//! 4. at most `max-concurrent-requests` requests of one process are in
//!    flight at once: a permit is taken before connecting and held by the
//!    response body until it has been read to its end or dropped;
//!    `first-byte-timeout` and `between-bytes-timeout` of the request
//!    options are honoured (`connection-read-timeout`; after a
//!    between-bytes timeout the node closes the connection at once);
//! 5. bodies stream both ways through hyper: the response is read from the
//!    socket only as fast as the guest reads it (hyper's read buffer is
//!    capped), so a guest that never reads holds a few KiB, not the body.
//!
//! A refusal is `HTTP-request-denied` for the guest and a `rusm deny` line
//! in the lifecycle log.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use http::uri::Scheme;
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use rustls::RootCertStore;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use wasmtime_wasi_http::p2::bindings::http::types::ErrorCode;
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody, WasiHttpHooks};

use crate::destinations::Destinations;
use crate::pool::{Connection, Driven, Pool, PoolKey};
use crate::resolver::LookupError;

/// How the node makes outgoing HTTP requests for its processes
/// (`[network]` in the manifest).
#[derive(Clone, Debug)]
pub struct OutboundOptions {
    /// PEM files of CA certificates trusted for HTTPS besides the system's.
    pub extra_roots: Vec<PathBuf>,
    /// Deadline of a TCP connect, and again of a TLS handshake.
    pub connect_timeout: Duration,
    /// Outgoing requests one process may have in flight at once.
    pub max_concurrent_requests: usize,
    /// Idle HTTP/1.1 connections the node keeps for reuse, all processes
    /// together (0: a new connection for every request).
    pub max_idle_connections: usize,
}

impl Default for OutboundOptions {
    fn default() -> Self {
        OutboundOptions {
            extra_roots: Vec::new(),
            connect_timeout: Duration::from_secs(10),
            max_concurrent_requests: 32,
            max_idle_connections: 64,
        }
    }
}

/// Why the outbound client could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum OutboundError {
    /// An `extra-roots` file that cannot be read or holds no certificate.
    #[error("extra-roots `{}`: {reason}", path.display())]
    ExtraRoot {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
}

/// What every process's outgoing requests share: the TLS roots (the
/// system's are read on the first HTTPS request, not at boot) and the
/// limits.
pub(crate) struct HttpClient {
    extra_roots: Vec<CertificateDer<'static>>,
    tls: OnceLock<tokio_rustls::TlsConnector>,
    connect_timeout: Duration,
    max_concurrent: usize,
    pool: Arc<Pool>,
    /// Set once the deadline keeper runs (see [`HttpClient::keep_deadlines_quiet`]).
    keeper: OnceLock<()>,
}

impl HttpClient {
    pub(crate) fn new(options: &OutboundOptions) -> Result<Self, OutboundError> {
        let mut extra_roots = Vec::new();
        for path in &options.extra_roots {
            extra_roots.extend(read_pem(path)?);
        }
        Ok(HttpClient {
            extra_roots,
            tls: OnceLock::new(),
            connect_timeout: options.connect_timeout,
            max_concurrent: options.max_concurrent_requests.max(1),
            pool: Pool::new(options.max_idle_connections),
            keeper: OnceLock::new(),
        })
    }

    /// Keeps a timer of the node's pending at all times while this client
    /// lives, due sooner than a connect's deadline would be.
    ///
    /// Why: tokio wakes its timer driver (an eventfd write, and a parked
    /// worker thread up for nothing) whenever a timer is registered that is
    /// due before every timer pending when the driver last went to sleep,
    /// or when none was. Every new connection registers its connect
    /// deadline; with nothing else pending (no idle connection's sweep, no
    /// response body's timer, as wasmtime-wasi-http's own client keeps
    /// one) each connect paid that wake-up: about half a `write` and
    /// a third of a `futex` call more per request than raw Wasmtime, found
    /// with `strace -c` and gdb on `rusm-bench http-out-fresh --side`.
    /// Behind this keeper's timer, due within half a connect timeout, a
    /// connect's deadline is never the earliest, so registering it wakes
    /// no one; the keeper itself wakes once per half timeout (5 s), and
    /// ends with the client.
    fn keep_deadlines_quiet(self: &Arc<Self>) {
        self.keeper.get_or_init(|| {
            let client = Arc::downgrade(self);
            let period = (self.connect_timeout / 2).max(Duration::from_millis(10));
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(period);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tick.tick().await;
                    if client.strong_count() == 0 {
                        return;
                    }
                }
            });
        });
    }

    /// The deadline of a name lookup: the connect timeout (a lookup is
    /// the first step of a connect).
    pub(crate) fn lookup_timeout(&self) -> std::time::Duration {
        self.connect_timeout
    }

    fn tls(&self) -> &tokio_rustls::TlsConnector {
        self.tls.get_or_init(|| {
            let mut roots = RootCertStore::empty();
            let native = rustls_native_certs::load_native_certs();
            for e in &native.errors {
                tracing::warn!(error = %e, "could not read a system root certificate");
            }
            let (added, ignored) = roots.add_parsable_certificates(native.certs);
            tracing::debug!(added, ignored, "system root certificates");
            let (extra, _) = roots.add_parsable_certificates(self.extra_roots.iter().cloned());
            tracing::debug!(extra, "extra-roots certificates");
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let mut config = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .expect("ring supports the default protocol versions")
                .with_root_certificates(roots)
                .with_no_client_auth();
            config.alpn_protocols = vec![b"http/1.1".to_vec()];
            tokio_rustls::TlsConnector::from(Arc::new(config))
        })
    }
}

fn read_pem(path: &Path) -> Result<Vec<CertificateDer<'static>>, OutboundError> {
    let fail = |reason: String| OutboundError::ExtraRoot {
        path: path.to_path_buf(),
        reason,
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| fail(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| fail(e.to_string()))?;
    if certs.is_empty() {
        return Err(fail("no PEM certificate in it".into()));
    }
    Ok(certs)
}

/// The outbound-HTTP side of one process, made on its first `wasi:http`
/// call (most processes make none, so a spawn pays nothing for it).
pub(crate) struct Outbound {
    client: Arc<HttpClient>,
    destinations: Arc<Destinations>,
    /// `max-concurrent-requests` permits of this process, made on its
    /// first request: an HTTP handler gets an `Outbound` with each
    /// incoming request, and most never send one.
    permits: Option<Arc<Semaphore>>,
}

impl Outbound {
    pub(crate) fn new(client: Arc<HttpClient>, destinations: Arc<Destinations>) -> Self {
        Outbound {
            client,
            destinations,
            permits: None,
        }
    }
}

type IoFuture = Box<dyn Future<Output = Result<(), HttpError>> + Send>;

type ResponseFuture =
    Box<dyn Future<Output = Result<(http::Response<WasiBody>, IoFuture), HttpError>> + Send>;

impl WasiHttpHooks for Outbound {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: IoFuture,
    ) -> ResponseFuture {
        let client = self.client.clone();
        let destinations = self.destinations.clone();
        let max = self.client.max_concurrent;
        let permits = self
            .permits
            .get_or_insert_with(|| Arc::new(Semaphore::new(max)))
            .clone();
        Box::new(send(client, destinations, permits, request, options))
    }
}

/// Where a request goes: its host as written (for TLS), its port, and
/// whether it is HTTPS.
struct Target {
    host: String,
    port: u16,
    tls: bool,
}

fn target(uri: &http::Uri) -> Result<Target, HttpError> {
    let authority = uri.authority().ok_or(HttpError::HttpRequestUriInvalid)?;
    let tls = uri.scheme() == Some(&Scheme::HTTPS);
    let port = authority.port_u16().unwrap_or(if tls { 443 } else { 80 });
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    Ok(Target { host, port, tls })
}

/// The addresses the request may go to, checked: the host's own address,
/// or the permitted name's resolved addresses that pass the second check.
async fn destinations_of(
    dest: &Destinations,
    target: &Target,
) -> Result<Vec<SocketAddr>, HttpError> {
    let policy = dest.policy();
    if let Ok(ip) = target.host.parse::<IpAddr>() {
        let addr = SocketAddr::new(ip, target.port);
        if policy.check_addr(addr) {
            return Ok(vec![addr]);
        }
        dest.deny(&addr);
        return Err(HttpError::HttpRequestDenied);
    }
    let how = match policy.check_name(&target.host, target.port) {
        Ok(how) => how,
        Err(_) => {
            dest.deny(&format_args!("{}:{}", target.host, target.port));
            return Err(HttpError::HttpRequestDenied);
        }
    };
    // Checked above, so a name: lowercase, no trailing dot.
    let name =
        rusm_caps::destination_name(&target.host).map_err(|_| HttpError::HttpRequestUriInvalid)?;
    let resolved = match dest.resolver().lookup(&name).await {
        Ok(addrs) => addrs,
        Err(LookupError::Timeout) => return Err(HttpError::DnsTimeout),
        Err(e @ LookupError::Failed(_)) => {
            tracing::debug!(name, error = %e, "lookup failed");
            return Err(HttpError::DnsError {
                rcode: Some(e.to_string()),
                info_code: None,
            });
        }
    };
    let mut allowed = Vec::with_capacity(resolved.len());
    for ip in resolved {
        let addr = SocketAddr::new(ip, target.port);
        if policy.check_resolved(how, addr) {
            allowed.push(addr);
        } else {
            dest.deny(&addr);
        }
    }
    if allowed.is_empty() {
        return Err(HttpError::HttpRequestDenied);
    }
    Ok(allowed)
}

trait Stream: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Stream for T {}

/// A TCP connection to the first of `addrs` that answers, and that
/// address.
async fn connect(
    addrs: &[SocketAddr],
    timeout: Duration,
) -> Result<(TcpStream, SocketAddr), HttpError> {
    let mut last = HttpError::ConnectionRefused;
    for &addr in addrs {
        match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => {
                let _ = stream.set_nodelay(true);
                return Ok((stream, addr));
            }
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                last = HttpError::ConnectionRefused
            }
            Ok(Err(e)) => last = HttpError::Connect(e),
            Err(_) => last = HttpError::ConnectionTimeout,
        }
    }
    Err(last)
}

/// hyper's read buffer for a response: what the node may hold of a body
/// that the guest does not read (hyper's own default is about 400 KiB).
const READ_BUFFER: usize = 64 * 1024;

async fn send(
    client: Arc<HttpClient>,
    dest: Arc<Destinations>,
    permits: Arc<Semaphore>,
    mut request: http::Request<WasiBody>,
    options: Option<RequestOptions>,
) -> Result<(http::Response<WasiBody>, IoFuture), HttpError> {
    client.keep_deadlines_quiet();
    let target = target(request.uri())?;
    let connect_timeout = options
        .and_then(|o| o.connect_timeout)
        .map_or(client.connect_timeout, |t| t.min(client.connect_timeout));
    let addrs = destinations_of(&dest, &target).await?;
    let permit = permits
        .acquire_owned()
        .await
        .map_err(|_| HttpError::ConnectionLimitReached)?;
    // On the wire the request line has only the path (no proxy).
    let path = request
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    *request.uri_mut() = http::Uri::try_from(path).map_err(|_| HttpError::HttpRequestUriInvalid)?;

    let key = PoolKey {
        tls: target.tls,
        host: target.host.clone(),
        port: target.port,
    };
    let first_byte = options.and_then(|o| o.first_byte_timeout);
    // What drives the connection once the head is in, if wasmtime-wasi-http
    // is to run it (see `send_on_new`).
    let mut io: Option<IoFuture> = None;
    let (response, connection) = loop {
        let Some(mut idle) = client.pool.take(&key, &addrs) else {
            let opened = open(&client, &target, &addrs, connect_timeout).await?;
            let keep = client.pool.keeps_idle();
            let (response, connection, driver) =
                send_on_new(opened, request, first_byte, keep).await?;
            io = driver;
            break (response, connection);
        };
        // An idle connection is ready once its last exchange is wound up;
        // one the server closed meanwhile is dropped for the next.
        let ready = tokio::time::timeout(connect_timeout, idle.sender.ready()).await;
        if !matches!(ready, Ok(Ok(()))) {
            continue;
        }
        let sent = idle.sender.try_send_request(request);
        let result = match first_byte {
            Some(t) => tokio::time::timeout(t, sent)
                .await
                .map_err(|_| HttpError::ConnectionReadTimeout)?,
            None => sent.await,
        };
        match result {
            Ok(response) => break (response, idle),
            // Not sent: the reused connection was closing. The request
            // comes back whole, for another connection.
            Err(mut e) if e.message().is_some() => {
                request = e.take_message().expect("checked just above");
            }
            Err(e) => return Err(HttpError::from(e.into_error())),
        }
    };
    let between_bytes = options.and_then(|o| o.between_bytes_timeout);
    let pool = client.pool.clone();
    let response = response.map(move |body| {
        ResponseBody {
            incoming: Some(body),
            permit: Some(permit),
            connection: Some(connection),
            reuse: Some((pool, key)),
            between_bytes,
            stall: None,
        }
        .boxed_unsync()
    });
    // Otherwise the connection is its own task (see `send_on_new`), which
    // may outlive this request in the pool: nothing of this request is left
    // to wait for.
    let io = io.unwrap_or_else(|| Box::new(async { Ok(()) }));
    Ok((response, io))
}

/// The node's side of an HTTP/1.1 connection: what reads and writes the
/// socket for its [`SendRequest`](hyper::client::conn::http1::SendRequest).
type Driver = hyper::client::conn::http1::Connection<TokioIo<Box<dyn Stream>>, WasiBody>;

/// A connection just opened, not yet driven by anyone.
struct Opened {
    sender: hyper::client::conn::http1::SendRequest<WasiBody>,
    driver: Driver,
    peer: SocketAddr,
}

/// A new connection to the first of `addrs` that answers: TCP, TLS for
/// HTTPS, then the HTTP/1.1 handshake (nothing is sent yet).
async fn open(
    client: &HttpClient,
    target: &Target,
    addrs: &[SocketAddr],
    connect_timeout: Duration,
) -> Result<Opened, HttpError> {
    // The peer is the address connected to (no getpeername per request).
    let (tcp, peer) = connect(addrs, connect_timeout).await?;
    let stream: Box<dyn Stream> = if target.tls {
        let name = match target.host.parse::<IpAddr>() {
            Ok(ip) => ServerName::from(ip),
            Err(_) => ServerName::try_from(target.host.trim_end_matches('.').to_owned())
                .map_err(|_| HttpError::HttpRequestUriInvalid)?,
        };
        let handshake = client.tls().connect(name, tcp);
        match tokio::time::timeout(connect_timeout, handshake).await {
            Ok(Ok(tls)) => Box::new(tls),
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "TLS handshake failed");
                return Err(tls_error(&e));
            }
            Err(_) => return Err(HttpError::ConnectionTimeout),
        }
    } else {
        Box::new(tcp)
    };
    let (sender, driver) = hyper::client::conn::http1::Builder::new()
        .max_buf_size(READ_BUFFER)
        .handshake(TokioIo::new(stream))
        .await
        .map_err(HttpError::from)?;
    Ok(Opened {
        sender,
        driver,
        peer: SocketAddr::new(peer.ip().to_canonical(), peer.port()),
    })
}

/// Sends `request` as the first on a connection just opened.
///
/// Until the response head has arrived the connection is driven here, in
/// the request's own task, as wasmtime-wasi-http's default client does:
/// writing the request and reading the head then take no hand-over to
/// another task and back (two wake-ups, each a trip through the scheduler
/// and, on a busy host, a wait for a worker thread).
///
/// Then, if the node may `keep` it, the connection gets a task of its own,
/// which carries the body to the guest and may outlive the request in the
/// pool. If not, what drives it is returned as the response's I/O future,
/// which wasmtime-wasi-http runs as a task anyway (and ends when the guest
/// drops the body): a second task per request, spawned only to be idle,
/// would cost each request a wake-up of another worker thread.
async fn send_on_new(
    opened: Opened,
    request: http::Request<WasiBody>,
    first_byte: Option<Duration>,
    keep: bool,
) -> Result<
    (
        http::Response<hyper::body::Incoming>,
        Connection,
        Option<IoFuture>,
    ),
    HttpError,
> {
    let Opened {
        mut sender,
        driver,
        peer,
    } = opened;
    let mut driver = Some(driver);
    let mut sent = std::pin::pin!(sender.try_send_request(request));
    let head = std::future::poll_fn(|cx| {
        if let Poll::Ready(result) = sent.as_mut().poll(cx) {
            return Poll::Ready(result);
        }
        if let Some(d) = driver.as_mut()
            && let Poll::Ready(done) = Pin::new(d).poll(cx)
        {
            if let Err(e) = done {
                tracing::debug!(error = %e, "outgoing HTTP connection failed");
            }
            driver = None;
            // A connection that has ended has answered the request or
            // failed it, so its outcome is ready.
            return sent.as_mut().poll(cx);
        }
        Poll::Pending
    });
    let result = match first_byte {
        Some(t) => tokio::time::timeout(t, head)
            .await
            .map_err(|_| HttpError::ConnectionReadTimeout)?,
        None => head.await,
    };
    let response = result.map_err(|e| HttpError::from(e.into_error()))?;
    let (driven, io) = match driver {
        None => (Driven::Done, None),
        Some(driver) if keep => {
            let task = tokio::spawn(async move {
                if let Err(e) = driver.await {
                    tracing::debug!(error = %e, "outgoing HTTP connection failed");
                }
            });
            (Driven::Task(task.abort_handle()), None)
        }
        Some(driver) => {
            let (close, closed) = tokio::sync::oneshot::channel::<()>();
            let io: IoFuture = Box::new(async move {
                // Only a close sent by the node ends the connection early;
                // its sender dropped, hyper finishes as it would.
                let closed = async {
                    if closed.await.is_err() {
                        std::future::pending::<()>().await;
                    }
                };
                tokio::select! {
                    done = driver => {
                        if let Err(e) = done {
                            tracing::debug!(error = %e, "outgoing HTTP connection failed");
                        }
                    }
                    () = closed => {}
                }
                Ok(())
            });
            (Driven::Response(close), Some(io))
        }
    };
    Ok((
        response,
        Connection {
            sender,
            peer,
            driven,
        },
        io,
    ))
}

/// The body of a response, as the guest reads it: hyper's, plus what the
/// node holds for it until it ends.
///
/// - The request's slot (`max-concurrent-requests`) is given back when the
///   body has been read to its end, failed, or been dropped.
/// - With a `between-bytes-timeout` in the request options, a server that
///   sends nothing for that long while the guest waits ends the body with
///   `connection-read-timeout`, and the node lets go of everything at that
///   moment: the connection is closed and the slot given back, even if
///   the guest keeps the failed stream.
struct ResponseBody {
    /// `None` once the body has ended (or failed).
    incoming: Option<hyper::body::Incoming>,
    permit: Option<tokio::sync::OwnedSemaphorePermit>,
    /// The connection it arrives on: back to the pool when the body has
    /// been read to its end, closed otherwise (a failure, or the guest
    /// dropping the body before its end).
    connection: Option<Connection>,
    reuse: Option<(Arc<Pool>, PoolKey)>,
    between_bytes: Option<Duration>,
    /// Runs from the last frame (or the head) while the guest waits.
    stall: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl ResponseBody {
    /// Lets go of everything; `clean`: the body was read to its end, so
    /// the connection may serve another request.
    fn end(&mut self, clean: bool) {
        self.incoming = None;
        self.stall = None;
        let connection = self.connection.take();
        if let (true, Some(connection), Some((pool, key))) = (clean, connection, self.reuse.take())
        {
            pool.put(key, connection);
        }
        self.permit = None;
    }
}

/// What of a response body the node reads for a guest that dropped it
/// early, to keep its connection: a small remainder, quickly.
const DRAIN_LIMIT: u64 = 64 * 1024;
const DRAIN_TIME: Duration = Duration::from_secs(1);

impl Drop for ResponseBody {
    /// A guest that drops a response unread (it wanted the status) leaves
    /// the rest of the body on the connection. If that rest is known to be
    /// small, the node reads and discards it in the background and keeps
    /// the connection; otherwise the connection closes. The request's slot
    /// is given back at once either way.
    fn drop(&mut self) {
        self.permit = None;
        let (Some(mut incoming), Some(connection), Some((pool, key))) = (
            self.incoming.take(),
            self.connection.take(),
            self.reuse.take(),
        ) else {
            return;
        };
        let small = pool.keeps_idle()
            && hyper::body::Body::size_hint(&incoming)
                .upper()
                .is_some_and(|n| n <= DRAIN_LIMIT);
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if !small {
            return;
        }
        // Most often the rest has arrived with the head: read it now, so
        // the connection is back before the guest's next request.
        let mut cx = Context::from_waker(std::task::Waker::noop());
        loop {
            match hyper::body::Body::poll_frame(Pin::new(&mut incoming), &mut cx) {
                Poll::Ready(Some(Ok(_))) => {}
                Poll::Ready(Some(Err(_))) => return,
                Poll::Ready(None) => return pool.put(key, connection),
                Poll::Pending => break,
            }
        }
        runtime.spawn(async move {
            let drained = tokio::time::timeout(DRAIN_TIME, async {
                while let Some(frame) = incoming.frame().await {
                    if frame.is_err() {
                        return false;
                    }
                }
                true
            })
            .await;
            if drained == Ok(true) {
                pool.put(key, connection);
            }
        });
    }
}

impl hyper::body::Body for ResponseBody {
    type Data = bytes::Bytes;
    type Error = HttpError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        let this = &mut *self;
        let Some(incoming) = this.incoming.as_mut() else {
            return Poll::Ready(None);
        };
        match Pin::new(incoming).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                this.stall = None;
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => {
                this.end(false);
                Poll::Ready(Some(Err(HttpError::from(e))))
            }
            Poll::Ready(None) => {
                this.end(true);
                Poll::Ready(None)
            }
            Poll::Pending => {
                let Some(limit) = this.between_bytes else {
                    return Poll::Pending;
                };
                let stall = this
                    .stall
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
                match stall.as_mut().poll(cx) {
                    Poll::Pending => Poll::Pending,
                    Poll::Ready(()) => {
                        tracing::debug!(?limit, "between-bytes timeout");
                        if let Some(connection) = this.connection.take() {
                            connection.close();
                        }
                        this.end(false);
                        Poll::Ready(Some(Err(HttpError::ConnectionReadTimeout)))
                    }
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.incoming
            .as_ref()
            .is_none_or(hyper::body::Body::is_end_stream)
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        match &self.incoming {
            Some(body) => hyper::body::Body::size_hint(body),
            None => hyper::body::SizeHint::with_exact(0),
        }
    }
}

/// Links `wasi:http/types.http-error-code` over wasmtime-wasi-http's.
///
/// Why: wasmtime-wasi-http 48 stores a failed response body's error in the
/// guest's `io-error` as the hooks' error type, and its `http-error-code`
/// looks only for the WIT `error-code`, so a guest whose read failed (a
/// between-bytes timeout, a connection cut mid-body) would get `none`.
/// This one answers the same for the WIT type and also reads the hooks'
/// errors, so the guest learns the spec's code
/// (`connection-read-timeout`).
pub(crate) fn link_http_error_code<T: 'static>(
    linker: &mut wasmtime::component::Linker<T>,
    table: fn(&mut T) -> &mut wasmtime::component::ResourceTable,
) -> wasmtime::Result<()> {
    use wasmtime::component::Resource;
    use wasmtime_wasi::p2::bindings::io::error::Error as IoError;
    linker.allow_shadowing(true);
    let linked = linker
        .instance("wasi:http/types@0.2.12")
        .and_then(|mut types| {
            types.func_wrap(
                "http-error-code",
                move |mut store: wasmtime::StoreContextMut<'_, T>, (err,): (Resource<IoError>,)| {
                    let err = table(store.data_mut()).get(&err)?;
                    Ok((error_code(err),))
                },
            )
        });
    linker.allow_shadowing(false);
    linked
}

/// The `error-code` an `io-error` of `wasi:http` carries, if any.
fn error_code(err: &wasmtime::Error) -> Option<ErrorCode> {
    if let Some(code) = err.downcast_ref::<ErrorCode>() {
        return Some(code.clone());
    }
    let code = match err.downcast_ref::<HttpError>()? {
        HttpError::ConnectionReadTimeout => ErrorCode::ConnectionReadTimeout,
        HttpError::ConnectionTerminated => ErrorCode::ConnectionTerminated,
        HttpError::HttpResponseIncomplete => ErrorCode::HttpResponseIncomplete,
        HttpError::HttpResponseTimeout => ErrorCode::HttpResponseTimeout,
        HttpError::HttpProtocolError => ErrorCode::HttpProtocolError,
        HttpError::Hyper(e) => {
            let inner = std::error::Error::source(e).and_then(|c| c.downcast_ref::<ErrorCode>());
            match inner {
                Some(code) => code.clone(),
                None if e.is_incomplete_message() => ErrorCode::HttpResponseIncomplete,
                None if e.is_timeout() => ErrorCode::ConnectionReadTimeout,
                None => ErrorCode::HttpProtocolError,
            }
        }
        other => ErrorCode::InternalError(Some(other.to_string())),
    };
    Some(code)
}

/// A TLS failure as `wasi:http` names it: a certificate the node does not
/// trust is `TLS-certificate-error`.
fn tls_error(e: &std::io::Error) -> HttpError {
    let certificate = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        .is_some_and(|r| {
            matches!(
                r,
                rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented
            )
        });
    if certificate {
        HttpError::TlsCertificateError
    } else {
        HttpError::TlsProtocolError
    }
}
