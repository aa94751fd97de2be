//! http-out: GET requests per second from a component through
//! `wasi:http/outgoing-handler`, to a local native hyper server, beside the
//! same component on raw Wasmtime with `wasmtime-wasi-http`'s default
//! `send_request` (no destination checks, its own lookup and connect).
//!
//! The component is the rusm-wasm test fixture `http-get.component.wat`,
//! run as `guests` processes at once, each sending `per_guest` requests
//! one after another and dropping each response unread. The node reuses
//! its connections (the runtime's default), or not (`max_idle_connections`
//! 0, a second runtime); the baseline opens one per request. On the RUSM side
//! the profile lists the server (`allow-hosts = ["127.0.0.1:PORT"]`), so
//! every request goes through the checker, the node's connect and the
//! per-process request cap; the baseline does none of that.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use rusm_caps::{Capabilities, HostPattern};
use tokio::task::JoinSet;
use wasmtime::component::{Component, Linker};
use wasmtime_wasi_http::WasiHttpHooks;

use crate::http::RawState;
use crate::wasm::{Runtime, w};

const FIXTURE: &str = include_str!("../../rusm-wasm/tests/all/fixtures/http-get.component.wat");

/// The fixture sending `count` GETs to `http://addr/hello`.
pub(crate) fn component(addr: SocketAddr, count: u64) -> String {
    let authority = addr.to_string();
    let path = "/hello";
    FIXTURE
        .replace("{{SCHEME}}", "0")
        .replace("{{AUTHORITY_LEN}}", &authority.len().to_string())
        .replace("{{AUTHORITY}}", &authority)
        .replace("{{PATH_LEN}}", &path.len().to_string())
        .replace("{{PATH}}", path)
        .replace("{{HOLD_MS}}", "0")
        .replace("{{OVERLAP}}", "0")
        .replace("{{READ}}", "0")
        .replace("{{BETWEEN_MS}}", "0")
        .replace("{{COUNT}}", &count.to_string())
}

/// How long a side that opens a connection per request waits before it
/// starts, so that it finds the kernel's port table as the other side did.
///
/// Why: every connection the client closes leaves its local port in
/// TIME_WAIT for 60 s, and Linux picks a connect's port by walking the
/// ephemeral range (32768-60999, even ports first: about 14,000) from
/// where the last connect stopped. A port in TIME_WAIT is reused only once
/// it is older than `net.ipv4.tcp_tw_reuse_delay` (1 s; loopback only,
/// `tcp_tw_reuse = 2`). A side that starts right after the other's 8,000
/// connects walks into ports younger than that and searches, or waits,
/// for each connect: measured here, the side that ran first after a pause
/// made 21,500 requests/s and the one right behind it 11,000-16,000,
/// whichever it was. After this pause every port in TIME_WAIT is reusable
/// again, and one side's 8,000 connects never reach its own.
pub(crate) const SETTLE: std::time::Duration = std::time::Duration::from_millis(1_500);

/// A native HTTP/1 server on 127.0.0.1: `200 hello` to every request.
pub(crate) async fn server() -> anyhow::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let service = service_fn(|_req| async {
                    Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from_static(
                        b"hello",
                    ))))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok(addr)
}

/// Requests per second through RUSM: `guests` processes at once.
pub(crate) async fn rusm(
    r: &Runtime,
    wat: &str,
    addr: SocketAddr,
    guests: u64,
    per_guest: u64,
) -> anyhow::Result<f64> {
    let artifact = r.rt.load_bytes("http-out", wat.as_bytes())?;
    let pattern: HostPattern = addr.to_string().parse()?;
    let caps = Arc::new(
        Capabilities::builder(Capabilities::network_client())
            .allow_hosts(Some(vec![pattern]))
            .build(),
    );
    let start = Instant::now();
    let mut exits = Vec::new();
    for _ in 0..guests {
        let (_, exit) = r.rt.spawn_watched(
            &artifact,
            rusm_wasm::WasmSpawn {
                name: "http-out".into(),
                args: vec![],
                caps: caps.clone(),
                parent: rusm_core::Pid::NODE,
                options: rusm_core::SpawnOptions::new(),
            },
        )?;
        exits.push(exit);
    }
    for exit in exits {
        let reason = exit.await;
        anyhow::ensure!(reason.is_normal(), "http-out guest ended {reason}");
    }
    Ok((guests * per_guest) as f64 / start.elapsed().as_secs_f64())
}

/// The baseline's hooks: wasmtime-wasi-http's own, its default
/// `send_request` (no destination checks).
struct DefaultHooks;

impl WasiHttpHooks for DefaultHooks {}

/// The baseline's store data (the fixture's one `rusm` import, `exit`, is
/// linked below).
type Raw = RawState<DefaultHooks>;

/// Requests per second on raw Wasmtime + `wasmtime-wasi-http`, the same
/// guests at once, the same engine configuration as RUSM's pooled engine.
pub(crate) async fn raw(
    r: &Runtime,
    wat: &str,
    guests: u64,
    per_guest: u64,
) -> anyhow::Result<f64> {
    let engine = w(wasmtime::Engine::new(
        &r.config.wasmtime_config(rusm_wasm::EngineKind::Pooled),
    ))?;
    let ticking = crate::wasm::epoch_ticker(engine.clone());
    let component = w(Component::new(&engine, wat))?;
    let mut linker = Linker::<Raw>::new(&engine);
    w(wasmtime_wasi::p2::add_to_linker_async(&mut linker))?;
    w(wasmtime_wasi_http::p2::add_only_http_to_linker_async(
        &mut linker,
    ))?;
    w(linker
        .instance("rusm:runtime/process@0.1.0")
        .and_then(|mut i| {
            i.func_wrap("exit", |_, (reason,): (String,)| -> wasmtime::Result<()> {
                Err(wasmtime::format_err!("exit: {reason}"))
            })?;
            // Imported, never called here (the fixture sleeps only to hold
            // a response, which the benchmark does not).
            i.func_wrap("sleep", |_, (_ms,): (u64,)| -> wasmtime::Result<()> {
                Ok(())
            })
        }))?;
    let pre = w(linker.instantiate_pre(&component))?;
    let start = Instant::now();
    let mut set = JoinSet::new();
    for _ in 0..guests {
        let pre = pre.clone();
        set.spawn(async move {
            let data = Raw::new(DefaultHooks);
            let mut store = wasmtime::Store::new(pre.engine(), data);
            store.epoch_deadline_async_yield_and_update(1);
            // As RUSM does: a new store's deadline (epoch 0) is already past.
            store.set_epoch_deadline(1);
            let instance = pre.instantiate_async(&mut store).await?;
            let run = instance.get_typed_func::<(), ()>(&mut store, "run")?;
            run.call_async(&mut store, ()).await
        });
    }
    while let Some(done) = set.join_next().await {
        w(done?)?;
    }
    ticking.store(true, std::sync::atomic::Ordering::Relaxed);
    Ok((guests * per_guest) as f64 / start.elapsed().as_secs_f64())
}
