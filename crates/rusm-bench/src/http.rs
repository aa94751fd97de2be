//! Serving benchmarks: `http-hello` (requests/s and latency of a hello
//! handler through rusm-serve, beside a raw wasmtime-wasi-http server that
//! does what `wasmtime serve` does, and a native hyper hello), and
//! `http-crash-load` (1 request in 100 to a crashing handler: every other
//! one must be 200, and the node's memory must stay flat).
//!
//! One load generator for every server: `connections` hyper HTTP/1.1
//! clients on keep-alive connections, each sending its next request as
//! soon as the last one is answered, for a fixed time. The servers and
//! the load share this machine's cores, the same way for each.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use rusm_caps::Capabilities;
use rusm_core::{Node, NodeConfig};
use rusm_wasm::{EngineKind, RuntimeOptions, WasmConfig, WasmRuntime};
use tokio::net::TcpListener;
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

/// The handler of the serving tests (its `hello` path answers "hello\n").
pub const HANDLER: &str = include_str!("../../rusm-wasm/tests/all/fixtures/handler.component.wat");

/// What one load run measured.
pub struct Load {
    pub requests_per_sec: f64,
    /// Good requests answered (crashing ones not counted).
    pub good: u64,
    /// Latencies of every 8th good request, in nanoseconds (sampled, so
    /// that the load generator's own memory stays small beside the
    /// server's: http-crash-load reads the process's RSS).
    pub latencies: Vec<u64>,
    /// Answers that were not 200 (or failed) among those that should be.
    pub bad: u64,
    /// Requests sent to the crashing path.
    pub crashes: u64,
}

/// `connections` keep-alive clients against `addr` for `duration`; every
/// `crash_every`-th request of each client (if set) goes to `crash_path`.
pub async fn load(
    addr: SocketAddr,
    path: &'static str,
    connections: usize,
    duration: Duration,
    crash: Option<(u64, &'static str)>,
) -> anyhow::Result<Load> {
    let stop = Arc::new(AtomicBool::new(false));
    let bad = Arc::new(AtomicU64::new(0));
    let crashes = Arc::new(AtomicU64::new(0));
    let mut clients = tokio::task::JoinSet::new();
    let start = Instant::now();
    for c in 0..connections {
        let (stop, bad, crashes) = (stop.clone(), bad.clone(), crashes.clone());
        clients.spawn(async move {
            let mut latencies = Vec::with_capacity(4096);
            let mut good = 0u64;
            let mut sender = None;
            let mut n = c as u64;
            while !stop.load(Ordering::Relaxed) {
                if sender.is_none() {
                    let stream = tokio::net::TcpStream::connect(addr).await?;
                    stream.set_nodelay(true)?;
                    let (s, conn) =
                        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
                    tokio::spawn(conn);
                    sender = Some(s);
                }
                let s = sender.as_mut().expect("connected above");
                n += 1;
                let crashing = crash.filter(|(every, _)| n.is_multiple_of(*every));
                let p = crashing.map_or(path, |(_, p)| p);
                let req = hyper::Request::get(p)
                    .header("host", "bench")
                    .body(Empty::<Bytes>::new())?;
                let t = Instant::now();
                let ok = match s.send_request(req).await {
                    Ok(r) => {
                        let status = r.status();
                        let body = r.into_body().collect().await;
                        status == 200 && body.is_ok()
                    }
                    Err(_) => {
                        sender = None;
                        false
                    }
                };
                if crashing.is_some() {
                    crashes.fetch_add(1, Ordering::Relaxed);
                    // A crash closes nothing: the connection is reused.
                    continue;
                }
                if good.is_multiple_of(8) {
                    latencies.push(t.elapsed().as_nanos() as u64);
                }
                good += 1;
                if !ok {
                    bad.fetch_add(1, Ordering::Relaxed);
                }
            }
            anyhow::Ok((good, latencies))
        });
    }
    tokio::time::sleep(duration).await;
    stop.store(true, Ordering::Relaxed);
    let (mut latencies, mut good) = (Vec::new(), 0);
    while let Some(r) = clients.join_next().await {
        let (n, l) = r??;
        good += n;
        latencies.extend(l);
    }
    let elapsed = start.elapsed().as_secs_f64();
    Ok(Load {
        requests_per_sec: good as f64 / elapsed,
        good,
        latencies,
        bad: bad.load(Ordering::Relaxed),
        crashes: crashes.load(Ordering::Relaxed),
    })
}

/// Exactly `total` GET requests of `path` over `connections` keep-alive
/// connections (for instruction counts, where a fixed amount of work
/// matters, not a rate); fails on any answer but 200.
pub async fn load_count(
    addr: SocketAddr,
    path: &'static str,
    connections: u64,
    total: u64,
) -> anyhow::Result<()> {
    let mut clients = tokio::task::JoinSet::new();
    for c in 0..connections {
        let n = total / connections + u64::from(c < total % connections);
        clients.spawn(async move {
            let stream = tokio::net::TcpStream::connect(addr).await?;
            stream.set_nodelay(true)?;
            let (mut sender, conn) =
                hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
            tokio::spawn(conn);
            for _ in 0..n {
                let req = hyper::Request::get(path)
                    .header("host", "bench")
                    .body(Empty::<Bytes>::new())?;
                let r = sender.send_request(req).await?;
                anyhow::ensure!(r.status() == 200, "answered {}", r.status());
                r.into_body().collect().await?;
            }
            anyhow::Ok(())
        });
    }
    while let Some(r) = clients.join_next().await {
        r??;
    }
    Ok(())
}

/// The hello handler served by rusm-serve on a runtime of `pool_slots`.
pub async fn rusm_server(
    pool_slots: u32,
) -> anyhow::Result<(rusm_serve::Server, WasmRuntime, WasmConfig)> {
    rusm_server_of(pool_slots, HANDLER.as_bytes()).await
}

/// `handler` (component text or binary) served by rusm-serve on every path,
/// on a runtime of `pool_slots`.
pub async fn rusm_server_of(
    pool_slots: u32,
    handler: &[u8],
) -> anyhow::Result<(rusm_serve::Server, WasmRuntime, WasmConfig)> {
    let node = Node::new(NodeConfig::default());
    let config = WasmConfig {
        pool_slots,
        ..WasmConfig::default()
    };
    let rt = WasmRuntime::new(node, config.clone(), RuntimeOptions::default())
        .map_err(|e| anyhow::anyhow!("{e:#}"))?;
    let handler = rt.load_bytes("hello", handler)?;
    rt.add_component("hello", handler, Some(Capabilities::sandboxed()));
    let mut serve = rusm_serve::ServeConfig::new(SocketAddr::from(([127, 0, 0, 1], 0)));
    serve.max_concurrent_requests = 100_000;
    serve.routes.push(rusm_serve::Route::new("/*", "hello"));
    let server = rusm_serve::Server::start(serve, rt.clone()).await?;
    Ok((server, rt, config))
}

/// The raw baselines' store data: what `wasmtime serve` gives a request,
/// with `hooks` deciding outgoing requests (refused here; wasmtime-wasi-
/// http's own `send_request` in http-out's baseline).
pub(crate) struct RawState<H> {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    hooks: H,
}

impl<H> RawState<H> {
    /// A fresh store's data, as each raw instance gets.
    pub(crate) fn new(hooks: H) -> Self {
        RawState {
            wasi: WasiCtx::builder().build(),
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            hooks,
        }
    }
}

/// Outgoing requests refused, as rusm-wasm's hooks refuse them today (the
/// hello path sends none).
struct NoOutbound;

type OutboundFuture = Box<
    dyn Future<
            Output = Result<
                (
                    http::Response<wasmtime_wasi_http::WasiBody>,
                    Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
                ),
                wasmtime_wasi_http::Error,
            >,
        > + Send,
>;

impl wasmtime_wasi_http::WasiHttpHooks for NoOutbound {
    fn send_request(
        &mut self,
        _request: http::Request<wasmtime_wasi_http::WasiBody>,
        _options: Option<wasmtime_wasi_http::RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
    ) -> OutboundFuture {
        Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestDenied) })
    }
}

impl<H: Send> WasiView for RawState<H> {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl<H: wasmtime_wasi_http::WasiHttpHooks> WasiHttpView for RawState<H> {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}

/// The raw baseline: hyper and a `ProxyPre`, a new store and instance per
/// request, on an engine with the runtime's pooled settings and its 1 ms
/// epoch tick (`wasmtime serve`'s design). The handler's `rusm:runtime`
/// imports, which the hello path never calls, trap.
/// Returns its address and a flag that stops its epoch ticker.
pub async fn raw_server(config: &WasmConfig) -> anyhow::Result<(SocketAddr, Arc<AtomicBool>)> {
    raw_server_of(config, HANDLER.as_bytes()).await
}

/// [`raw_server`] serving `handler` (component text or binary): every
/// function of the `rusm:runtime` interfaces it imports traps.
pub async fn raw_server_of(
    config: &WasmConfig,
    handler: &[u8],
) -> anyhow::Result<(SocketAddr, Arc<AtomicBool>)> {
    use wasmtime::component::types::ComponentItem;
    let w = |e: wasmtime::Error| anyhow::anyhow!("{e:#}");
    let engine = wasmtime::Engine::new(&config.wasmtime_config(EngineKind::Pooled)).map_err(w)?;
    let component = Component::new(&engine, handler).map_err(w)?;
    let mut linker = Linker::<RawState<NoOutbound>>::new(&engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(w)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker).map_err(w)?;
    // The handler's `rusm:runtime` imports, which a hello path never
    // calls: traps. (Only functions: these interfaces have no resources.)
    let ty = component.component_type();
    for (import, item) in ty.imports(&engine) {
        let ComponentItem::ComponentInstance(instance) = item.ty else {
            continue;
        };
        if !import.starts_with("rusm:runtime/") {
            continue;
        }
        let mut linked = linker.instance(import).map_err(w)?;
        for (name, export) in instance.exports(&engine) {
            if let ComponentItem::ComponentFunc(_) = export.ty {
                linked
                    .func_new(name, |_, _, _, _| {
                        Err(wasmtime::Error::msg("not linked in the raw baseline"))
                    })
                    .map_err(w)?;
            }
        }
    }
    let pre = ProxyPre::new(linker.instantiate_pre(&component).map_err(w)?).map_err(w)?;
    let stop = Arc::new(AtomicBool::new(false));
    {
        let (engine, stop) = (engine.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(1));
                engine.increment_epoch();
            }
        });
    }
    let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let _ = stream.set_nodelay(true);
            let pre = pre.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let pre = pre.clone();
                    async move { Ok::<_, Infallible>(raw_request(pre, req).await) }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok((addr, stop))
}

type RawResponse = hyper::Response<rusm_wasm::HyperOutgoingBody>;

/// One request on the raw baseline: a store, the request and outparam
/// resources, `handle` on a task of its own; 500 if it sets no response.
async fn raw_request(
    pre: ProxyPre<RawState<NoOutbound>>,
    req: hyper::Request<hyper::body::Incoming>,
) -> RawResponse {
    let failed = || {
        let mut r = hyper::Response::new(
            Empty::<Bytes>::new()
                .map_err(|never| match never {})
                .boxed_unsync(),
        );
        *r.status_mut() = hyper::StatusCode::INTERNAL_SERVER_ERROR;
        r
    };
    let mut store = wasmtime::Store::new(pre.engine(), RawState::new(NoOutbound));
    store.epoch_deadline_async_yield_and_update(1);
    // As RUSM does: a new store's deadline (epoch 0) is already past.
    store.set_epoch_deadline(1);
    let (tx, rx) = tokio::sync::oneshot::channel();
    let mut http = store.data_mut().http();
    let (Ok(req), Ok(out)) = (
        http.new_incoming_request(Scheme::Http, req),
        http.new_response_outparam(tx),
    ) else {
        return failed();
    };
    tokio::spawn(async move {
        let proxy = pre.instantiate_async(&mut store).await?;
        proxy
            .wasi_http_incoming_handler()
            .call_handle(&mut store, req, out)
            .await
    });
    match rx.await {
        Ok(Ok(resp)) => resp,
        _ => failed(),
    }
}

/// The ceiling: a native hyper server answering "hello\n".
pub async fn native_server() -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let service = service_fn(|_req| async {
                    let mut r = hyper::Response::new(Full::new(Bytes::from_static(b"hello\n")));
                    r.headers_mut()
                        .insert("content-type", http::HeaderValue::from_static("text/plain"));
                    Ok::<_, Infallible>(r)
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok(addr)
}

/// The hello server in a child process (`rusm-bench http-server`), so
/// that its memory is measured apart from the load generator's. Ends the
/// child when dropped.
pub struct ServerProcess {
    child: std::process::Child,
    pub addr: SocketAddr,
}

impl ServerProcess {
    pub fn start() -> anyhow::Result<Self> {
        use std::io::BufRead;
        use std::process::{Command, Stdio};
        let mut child = Command::new(std::env::current_exe()?)
            .arg("http-server")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()?;
        let stdout = child.stdout.take().expect("piped above");
        let mut line = String::new();
        std::io::BufReader::new(stdout).read_line(&mut line)?;
        let addr = line
            .trim()
            .parse()
            .map_err(|e| anyhow::anyhow!("the server printed {line:?}: {e}"))?;
        Ok(ServerProcess { child, addr })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn rss_mib(&self) -> f64 {
        rss_mib_of(self.pid())
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        // Closing its stdin stops it; a kill if it does not.
        drop(self.child.stdin.take());
        for _ in 0..100 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// This process's resident memory, in MiB.
pub fn rss_mib() -> f64 {
    rss_in("/proc/self/status")
}

/// Process `pid`'s resident memory, in MiB.
pub fn rss_mib_of(pid: u32) -> f64 {
    rss_in(&format!("/proc/{pid}/status"))
}

fn rss_in(path: &str) -> f64 {
    let Ok(status) = std::fs::read_to_string(path) else {
        return f64::NAN;
    };
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// A WebSocket connection process that echoes every frame to its socket
/// and ends when the client closes (tag 3).
pub const WS_ECHO: &str = r#"(module
  (import "rusm" "recv" (func $recv (param i32 i32 i64) (result i32)))
  (import "rusm" "msg_sender" (func $msg_sender (result i64)))
  (import "rusm" "msg_tag" (func $msg_tag (result i64)))
  (import "rusm" "msg_len" (func $msg_len (result i32)))
  (import "rusm" "msg_read" (func $msg_read (param i32 i32) (result i32)))
  (import "rusm" "send" (func $send (param i64 i64 i32 i32) (result i32)))
  (memory (export "memory") 2)
  (func (export "run")
    (local $socket i64) (local $len i32)
    (drop (call $recv (i32.const 0) (i32.const 0) (i64.const -1)))
    (local.set $socket (call $msg_sender))
    (loop $echo
      (drop (call $recv (i32.const 0) (i32.const 0) (i64.const -1)))
      (if (i64.eq (call $msg_tag) (i64.const 3)) (then (return)))
      (local.set $len (call $msg_read (i32.const 1024) (i32.const 65536)))
      (drop (call $send (local.get $socket) (call $msg_tag) (i32.const 1024)
                        (call $msg_len)))
      (br $echo))))"#;

/// rusm-serve with a WebSocket route `/echo` to [`WS_ECHO`].
pub async fn rusm_ws_server() -> anyhow::Result<rusm_serve::Server> {
    let node = Node::new(NodeConfig::default());
    let config = WasmConfig {
        pool_slots: 2_000,
        ..WasmConfig::default()
    };
    let rt = WasmRuntime::new(node, config, RuntimeOptions::default())
        .map_err(|e| anyhow::anyhow!("{e:#}"))?;
    let echo = rt.load_bytes("echo", WS_ECHO.as_bytes())?;
    rt.add_component("echo", echo, Some(Capabilities::sandboxed()));
    let mut serve = rusm_serve::ServeConfig::new(SocketAddr::from(([127, 0, 0, 1], 0)));
    let mut route = rusm_serve::Route::new("/echo", "echo");
    route.websocket = true;
    serve.routes.push(route);
    Ok(rusm_serve::Server::start(serve, rt).await?)
}

/// The baseline: a native tokio-tungstenite echo server.
pub async fn native_ws_server() -> anyhow::Result<SocketAddr> {
    use futures::{SinkExt, StreamExt};
    let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let Ok(mut ws) = tokio_tungstenite::accept_async(stream).await else {
                    return;
                };
                while let Some(Ok(m)) = ws.next().await {
                    if (m.is_text() || m.is_binary()) && ws.send(m).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    Ok(addr)
}

async fn ws_connect(
    addr: SocketAddr,
) -> anyhow::Result<tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>> {
    let stream = tokio::net::TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (ws, _) = tokio_tungstenite::client_async(format!("ws://{addr}/echo"), stream).await?;
    Ok(ws)
}

/// Round trips per second over `connections` WebSocket connections, each
/// sending its next text frame when the last one came back.
pub async fn ws_round_trips(
    addr: SocketAddr,
    connections: usize,
    duration: Duration,
) -> anyhow::Result<f64> {
    use futures::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let stop = Arc::new(AtomicBool::new(false));
    let mut clients = tokio::task::JoinSet::new();
    let start = Instant::now();
    for _ in 0..connections {
        let stop = stop.clone();
        let mut ws = ws_connect(addr).await?;
        clients.spawn(async move {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                ws.send(Message::text("ping")).await?;
                match ws.next().await {
                    Some(Ok(Message::Text(_))) => n += 1,
                    other => anyhow::bail!("no echo: {other:?}"),
                }
            }
            let _ = ws.close(None).await;
            anyhow::Ok(n)
        });
    }
    tokio::time::sleep(duration).await;
    stop.store(true, Ordering::Relaxed);
    let mut total = 0;
    while let Some(r) = clients.join_next().await {
        total += r??;
    }
    Ok(total as f64 / start.elapsed().as_secs_f64())
}

/// Connections opened (upgraded, one echo) and closed per second, by
/// `clients` clients in a loop.
pub async fn ws_churn(addr: SocketAddr, clients: usize, duration: Duration) -> anyhow::Result<f64> {
    use futures::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let stop = Arc::new(AtomicBool::new(false));
    let mut set = tokio::task::JoinSet::new();
    let start = Instant::now();
    for _ in 0..clients {
        let stop = stop.clone();
        set.spawn(async move {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let mut ws = ws_connect(addr).await?;
                ws.send(Message::text("hi")).await?;
                let _ = ws.next().await;
                ws.close(None).await?;
                while let Some(Ok(_)) = ws.next().await {}
                n += 1;
            }
            anyhow::Ok(n)
        });
    }
    tokio::time::sleep(duration).await;
    stop.store(true, Ordering::Relaxed);
    let mut total = 0;
    while let Some(r) = set.join_next().await {
        total += r??;
    }
    Ok(total as f64 / start.elapsed().as_secs_f64())
}

/// Events in one `/x/fanout` stream of the handler.
pub const FANOUT_EVENTS: u64 = 200;
const EVENT: &[u8] = b"data: tick\n\n";

/// The baseline: a native hyper server streaming the same 200 events, each
/// written through a channel into the response body as the handler writes
/// them.
pub async fn native_sse_server() -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let service = service_fn(|_req| async {
                    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(1);
                    tokio::spawn(async move {
                        for _ in 0..FANOUT_EVENTS {
                            if tx.send(Bytes::from_static(EVENT)).await.is_err() {
                                return;
                            }
                        }
                    });
                    let frames = futures::stream::unfold(rx, |mut rx| async move {
                        rx.recv()
                            .await
                            .map(|b| (Ok::<_, Infallible>(hyper::body::Frame::data(b)), rx))
                    });
                    let mut r = hyper::Response::new(http_body_util::StreamBody::new(frames));
                    r.headers_mut().insert(
                        "content-type",
                        http::HeaderValue::from_static("text/event-stream"),
                    );
                    Ok::<_, Infallible>(r)
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok(addr)
}

/// Events per second delivered to `subscribers` clients, each
/// subscribing again as soon as its stream ends.
pub async fn sse_fanout(
    addr: SocketAddr,
    subscribers: usize,
    duration: Duration,
) -> anyhow::Result<f64> {
    let stop = Arc::new(AtomicBool::new(false));
    let mut set = tokio::task::JoinSet::new();
    let start = Instant::now();
    for _ in 0..subscribers {
        let stop = stop.clone();
        set.spawn(async move {
            let stream = tokio::net::TcpStream::connect(addr).await?;
            stream.set_nodelay(true)?;
            let (mut sender, conn) =
                hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
            tokio::spawn(conn);
            let mut bytes = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let req = hyper::Request::get("/x/fanout")
                    .header("host", "bench")
                    .body(Empty::<Bytes>::new())?;
                let mut body = sender.send_request(req).await?.into_body();
                while let Some(frame) = body.frame().await {
                    if let Some(d) = frame?.data_ref() {
                        bytes += d.len() as u64;
                    }
                }
            }
            anyhow::Ok(bytes / EVENT.len() as u64)
        });
    }
    tokio::time::sleep(duration).await;
    stop.store(true, Ordering::Relaxed);
    let mut events = 0;
    while let Some(r) = set.join_next().await {
        events += r??;
    }
    Ok(events as f64 / start.elapsed().as_secs_f64())
}
