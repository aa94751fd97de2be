//! The Wasm scenarios: each measured beside its baseline in the same run.
//!
//! - `module-storm`: spawn, run and exit of a trivial module, against raw
//!   Wasmtime (`InstancePre` instantiate + call + drop, one tokio task each)
//!   on an engine with the runtime's exact settings.
//! - `component-storm`: the same for a minimal component.
//! - `wasm-ping-pong`: round trips between two Wasm processes through the
//!   ABI, against two native processes.
//! - `wasm-idle-memory`: resident memory per Wasm process parked in `recv`,
//!   beside a native process parked the same way.
//! - `fairness`: round-trip latency of a Wasm ping-pong pair while four
//!   guests spin, beside the same pair on an idle node.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use std::path::Path;

use rusm_caps::{Capabilities, SpawnGrant};
use rusm_core::{ExitReason, ExitSet, Node, NodeConfig, Pid, SpawnOptions};
use rusm_wasm::{Artifact, EngineKind, RuntimeOptions, WasmConfig, WasmRuntime, WasmSpawn};
use tokio::task::JoinSet;

use crate::core::resident_bytes;

pub const TRIVIAL_MODULE: &str = r#"(module (memory (export "memory") 1) (func (export "run")))"#;

pub const TRIVIAL_COMPONENT: &str = r#"(component
  (core module $m (memory (export "memory") 1) (func (export "run")))
  (core instance $i (instantiate $m))
  (func (export "run") (canon lift (core func $i "run"))))"#;

/// Echoes every message back to its sender with the same tag, forever.
const PONG: &str = r#"(module
  (import "rusm" "recv" (func $recv (param i32 i32 i64) (result i32)))
  (import "rusm" "send" (func $send (param i64 i64 i32 i32) (result i32)))
  (import "rusm" "msg_sender" (func $msg_sender (result i64)))
  (import "rusm" "msg_tag" (func $msg_tag (result i64)))
  (memory (export "memory") 1)
  (func (export "run")
    (loop $l
      (drop (call $recv (i32.const 0) (i32.const 0) (i64.const -1)))
      (drop (call $send (call $msg_sender) (call $msg_tag) (i32.const 0) (i32.const 0)))
      (br $l))))"#;

/// First message: [pong pid, rounds, report-to pid, timed] as i64s. Does
/// `rounds` round trips with selective receive on the round's tag, then
/// sends report-to the round trips' nanosecond timings (WASI's monotonic
/// clock) if `timed` is not 0, or an empty message: throughput is measured
/// untimed, since two clock calls per round trip are work the native
/// baseline does not do.
const PING: &str = r#"(module
  (import "rusm" "recv" (func $recv (param i32 i32 i64) (result i32)))
  (import "rusm" "send" (func $send (param i64 i64 i32 i32) (result i32)))
  (import "rusm" "msg_read" (func $msg_read (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "clock_time_get" (func $now (param i32 i64 i32) (result i32)))
  (memory (export "memory") 64)
  (func $t (result i64) (drop (call $now (i32.const 1) (i64.const 1) (i32.const 64))) (i64.load (i32.const 64)))
  (func (export "run") (local $i i64) (local $n i64) (local $t0 i64) (local $p i32) (local $timed i32)
    (drop (call $recv (i32.const 0) (i32.const 0) (i64.const -1)))
    (drop (call $msg_read (i32.const 0) (i32.const 32)))
    (local.set $n (i64.load (i32.const 8)))
    (local.set $timed (i64.ne (i64.load (i32.const 24)) (i64.const 0)))
    (local.set $p (i32.const 1024))
    (block $done (loop $l
      (br_if $done (i64.ge_u (local.get $i) (local.get $n)))
      (if (local.get $timed) (then (local.set $t0 (call $t))))
      (i64.store (i32.const 32) (local.get $i))
      (drop (call $send (i64.load (i32.const 0)) (local.get $i) (i32.const 0) (i32.const 0)))
      (drop (call $recv (i32.const 32) (i32.const 1) (i64.const -1)))
      (if (local.get $timed) (then
        (i64.store (local.get $p) (i64.sub (call $t) (local.get $t0)))
        (local.set $p (i32.add (local.get $p) (i32.const 8)))))
      (local.set $i (i64.add (local.get $i) (i64.const 1)))
      (br $l)))
    (drop (call $send (i64.load (i32.const 16)) (i64.const 1) (i32.const 1024) (i32.sub (local.get $p) (i32.const 1024))))))"#;

const SPINNER: &str = r#"(module (func (export "run") (loop $l (br $l))))"#;

/// Parks in `recv` after telling the counter (its pid is the first
/// message's data) it is up.
const IDLE: &str = r#"(module
  (import "rusm" "recv" (func $recv (param i32 i32 i64) (result i32)))
  (import "rusm" "send" (func $send (param i64 i64 i32 i32) (result i32)))
  (import "rusm" "msg_read" (func $msg_read (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "run")
    (drop (call $recv (i32.const 0) (i32.const 0) (i64.const -1)))
    (drop (call $msg_read (i32.const 0) (i32.const 8)))
    (drop (call $send (i64.load (i32.const 0)) (i64.const 1) (i32.const 0) (i32.const 0)))
    (drop (call $recv (i32.const 0) (i32.const 0) (i64.const -1)))))"#;

/// Wasmtime's errors are not `std::error::Error`; carry their text.
pub(crate) fn w<T>(r: wasmtime::Result<T>) -> anyhow::Result<T> {
    r.map_err(|e| anyhow::anyhow!("{e:#}"))
}

pub struct Runtime {
    pub node: Node,
    pub rt: WasmRuntime,
    pub config: WasmConfig,
}

pub fn runtime(pool_slots: u32) -> anyhow::Result<Runtime> {
    runtime_with(pool_slots, RuntimeOptions::default())
}

/// A runtime with these options (http-out: outgoing connection reuse off).
pub fn runtime_with(pool_slots: u32, options: RuntimeOptions) -> anyhow::Result<Runtime> {
    let node = Node::new(NodeConfig::default());
    let config = WasmConfig {
        pool_slots,
        ..WasmConfig::default()
    };
    let rt = w(WasmRuntime::new(node.clone(), config.clone(), options))?;
    Ok(Runtime { node, rt, config })
}

fn spawn_args(name: &str) -> WasmSpawn {
    spawn_shared(&name.into(), &Arc::new(Capabilities::sandboxed()))
}

/// Spawn arguments sharing one name and one capability set, as a host
/// spawning many processes of one kind would.
fn spawn_shared(name: &Arc<str>, caps: &Arc<Capabilities>) -> WasmSpawn {
    WasmSpawn {
        name: name.clone(),
        args: vec![],
        caps: caps.clone(),
        parent: Pid::NODE,
        options: SpawnOptions::new(),
    }
}

/// Spawns per second through RUSM: `total` processes, at most `in_flight`
/// alive at once. Each process is one tokio task, as each raw instance is
/// in the baseline; the driver awaits the exit watches directly.
pub async fn rusm_storm(
    r: &Runtime,
    artifact: &Artifact,
    total: u64,
    in_flight: usize,
) -> anyhow::Result<f64> {
    let (name, caps) = ("storm".into(), Arc::new(Capabilities::sandboxed()));
    let check = |reason: ExitReason| assert!(reason.is_normal(), "storm process ended {reason}");
    let start = Instant::now();
    // As the raw side's `JoinSet`: one set for all the exits in flight.
    let mut running = ExitSet::new();
    for _ in 0..total {
        if running.len() >= in_flight
            && let Some((_, reason)) = running.next().await
        {
            check(reason);
        }
        r.rt.spawn_watched_in(&mut running, artifact, spawn_shared(&name, &caps))?;
    }
    while let Some((_, reason)) = running.next().await {
        check(reason);
    }
    Ok(total as f64 / start.elapsed().as_secs_f64())
}

/// The same storm on raw Wasmtime: a module `InstancePre`, one tokio task
/// per instance (new store, epoch deadline, instantiate, call, drop).
pub async fn raw_module_storm(
    config: &WasmConfig,
    wat: &str,
    total: u64,
    in_flight: usize,
) -> anyhow::Result<f64> {
    let engine = w(wasmtime::Engine::new(
        &config.wasmtime_config(EngineKind::Pooled),
    ))?;
    let module = w(wasmtime::Module::new(&engine, wat))?;
    let linker = wasmtime::Linker::<()>::new(&engine);
    let pre = w(linker.instantiate_pre(&module))?;
    windowed_rate(&engine, total, in_flight, move || {
        let pre = pre.clone();
        async move { raw_run(&pre, (), ()).await }
    })
    .await
}

/// The same storm for a component on raw Wasmtime.
pub async fn raw_component_storm(
    config: &WasmConfig,
    wat: &str,
    total: u64,
    in_flight: usize,
) -> anyhow::Result<f64> {
    let engine = w(wasmtime::Engine::new(
        &config.wasmtime_config(EngineKind::Pooled),
    ))?;
    let component = w(wasmtime::component::Component::new(&engine, wat))?;
    let linker = wasmtime::component::Linker::<()>::new(&engine);
    let pre = w(linker.instantiate_pre(&component))?;
    windowed_rate(&engine, total, in_flight, move || {
        let pre = pre.clone();
        async move {
            let mut store = wasmtime::Store::new(pre.engine(), ());
            store.epoch_deadline_async_yield_and_update(1);
            // As RUSM does: a new store's deadline (epoch 0) is already past.
            store.set_epoch_deadline(1);
            let instance = pre
                .instantiate_async(&mut store)
                .await
                .expect("instantiate");
            let run = instance
                .get_typed_func::<(), ()>(&mut store, "run")
                .expect("run export");
            run.call_async(&mut store, ()).await.expect("run");
        }
    })
    .await
}

/// One raw instance as the baselines run it: a store with the runtime's
/// epoch deadline, instantiate, call `run(arg)`, drop.
async fn raw_run<T: Send + 'static, P: wasmtime::WasmParams + Sync>(
    pre: &wasmtime::InstancePre<T>,
    data: T,
    arg: P,
) {
    let mut store = wasmtime::Store::new(pre.module().engine(), data);
    store.epoch_deadline_async_yield_and_update(1);
    // As RUSM does: a new store's deadline (epoch 0) is already past.
    store.set_epoch_deadline(1);
    let instance = pre
        .instantiate_async(&mut store)
        .await
        .expect("instantiate");
    let run = instance
        .get_typed_func::<P, ()>(&mut store, "run")
        .expect("run export");
    run.call_async(&mut store, arg).await.expect("run");
}

/// Instances per second: `total` runs of `one`, one tokio task each, at
/// most `in_flight` at once, with the engine's epoch ticking as in RUSM.
async fn windowed_rate<F, Fut>(
    engine: &wasmtime::Engine,
    total: u64,
    in_flight: usize,
    one: F,
) -> anyhow::Result<f64>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let ticker = epoch_ticker(engine.clone());
    let start = Instant::now();
    let mut running = JoinSet::new();
    for _ in 0..total {
        if running.len() >= in_flight {
            running.join_next().await;
        }
        running.spawn(one());
    }
    while running.join_next().await.is_some() {}
    let rate = total as f64 / start.elapsed().as_secs_f64();
    ticker.store(true, Ordering::Relaxed);
    Ok(rate)
}

/// Raw baselines tick their engine's epoch as the runtime does (1 ms).
pub fn epoch_ticker(engine: wasmtime::Engine) -> Arc<std::sync::atomic::AtomicBool> {
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let s = stop.clone();
    std::thread::spawn(move || {
        while !s.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(1));
            engine.increment_epoch();
        }
    });
    stop
}

/// Round trips of a Wasm ping-pong pair: (round trips per second, the
/// per-round-trip latencies in nanoseconds as the guest measured them if
/// `timed`, else none).
pub async fn wasm_ping_pong(
    r: &Runtime,
    rounds: u64,
    timed: bool,
) -> anyhow::Result<(f64, Vec<u64>)> {
    let pong = r.rt.load_bytes("pong", PONG.as_bytes())?;
    let ping = r.rt.load_bytes("ping", PING.as_bytes())?;
    let pong_pid = r.rt.spawn(&pong, spawn_args("pong"))?;
    let (tx, rx) = tokio::sync::oneshot::channel();
    let collector = r.node.spawn(SpawnOptions::new(), move |ctx| async move {
        let m = ctx.receive(&[1], None).await.expect("timings");
        let _ = tx.send(m.data);
    })?;
    let mut arg = Vec::new();
    for v in [pong_pid.get(), rounds, collector.get(), timed.into()] {
        arg.extend_from_slice(&v.to_le_bytes());
    }
    let start = Instant::now();
    let mut spawn = spawn_args("ping");
    spawn.options = SpawnOptions::new().first_message(0, arg);
    spawn.caps = Arc::new(
        Capabilities::builder(Capabilities::sandboxed())
            .max_memory_mb(64)
            .build(),
    );
    let (_, exit) = r.rt.spawn_watched(&ping, spawn)?;
    let reason = exit.await;
    let elapsed = start.elapsed();
    anyhow::ensure!(reason.is_normal(), "ping ended {reason}");
    let data = rx.await?;
    let _ = r.node.kill(pong_pid);
    let lat = data
        .chunks_exact(8)
        .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")))
        .collect();
    Ok((rounds as f64 / elapsed.as_secs_f64(), lat))
}

/// Round trips per second of the Rust `ping-pong` example of `guests/`
/// (one module, registered as `ping` and `pong`), timed from the host from
/// spawn to exit. The guest prints its own rate to stdout too.
pub async fn guest_ping_pong(r: &Runtime, path: &Path, rounds: u64) -> anyhow::Result<f64> {
    let artifact = r
        .rt
        .load_file(path)
        .map_err(|e| anyhow::anyhow!("{e} (build the guests first: scripts/build-guests.sh)"))?;
    r.rt.add_component("pong", artifact.clone(), None);
    let caps = Capabilities::builder(Capabilities::sandboxed())
        .allow_spawn(SpawnGrant::Only(vec!["pong".into()]))
        .allow_stdio(true)
        .build();
    r.rt.add_component("ping", artifact, Some(caps));
    let start = Instant::now();
    let (_, exit) =
        r.rt.spawn_component_watched("ping", vec![rounds.to_string()])?;
    let reason = exit.await;
    anyhow::ensure!(reason.is_normal(), "{} ended {reason}", path.display());
    Ok(rounds as f64 / start.elapsed().as_secs_f64())
}

/// The host calls a raw pair's guests make per message.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum RawCalls {
    /// The fewest: `recv` returns the tag, `send` takes it (the baseline).
    Two,
    /// The calls RUSM's WAT pair makes through the contract: ping stores
    /// the round's tag in memory and receives selectively on it (a tag
    /// list pointer and count); pong receives, then asks for the current
    /// message's sender and tag in two more calls before it sends; `send`
    /// takes a pid, a tag and a data pointer and length. The host side is
    /// still two channels: it ignores the pid, the data and the tag list.
    /// What this pair loses against `Two` is the contract's shape, not
    /// RUSM's mailbox.
    Contract,
}

/// The pair on raw Wasmtime, as the best a Wasm ping-pong can do on this
/// engine: two instances with the runtime's engine settings, each in its
/// own tokio task, bouncing tags through two tokio channels with one async
/// host import to wait (`recv`, which parks the fiber as RUSM's does) and
/// one to send (and, with [`RawCalls::Contract`], the other calls RUSM's
/// guests make). No pids, mailboxes or selective receive.
pub async fn raw_wasm_ping_pong(
    config: &WasmConfig,
    rounds: u64,
    calls: RawCalls,
) -> anyhow::Result<f64> {
    use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};
    struct Ends {
        inbox: UnboundedReceiver<i64>,
        peer: UnboundedSender<i64>,
        /// The tag of the last message received (`Contract`'s `msg_tag`).
        current: i64,
    }
    const RAW_PONG: &str = r#"(module
      (import "env" "recv" (func $recv (result i64)))
      (import "env" "send" (func $send (param i64)))
      (func (export "run") (param $unused i64) (local $t i64)
        (loop $l
          (local.set $t (call $recv))
          (call $send (local.get $t))
          (br_if $l (i64.ge_s (local.get $t) (i64.const 0))))))"#;
    const RAW_PING: &str = r#"(module
      (import "env" "recv" (func $recv (result i64)))
      (import "env" "send" (func $send (param i64)))
      (func (export "run") (param $n i64) (local $i i64)
        (block $done (loop $l
          (br_if $done (i64.ge_u (local.get $i) (local.get $n)))
          (call $send (local.get $i))
          (drop (call $recv))
          (local.set $i (i64.add (local.get $i) (i64.const 1)))
          (br $l)))
        (call $send (i64.const -1))))"#;
    // Contract: RUSM's own PONG (above), and RUSM's PING's loop with the
    // same calls (without its first message and timings); the imports are
    // the raw host's, under RUSM's module name. PONG never returns: it is
    // stopped once ping is done.
    const CONTRACT_PING: &str = r#"(module
      (import "rusm" "recv" (func $recv (param i32 i32 i64) (result i32)))
      (import "rusm" "send" (func $send (param i64 i64 i32 i32) (result i32)))
      (memory (export "memory") 1)
      (func (export "run") (param $n i64) (local $i i64)
        (block $done (loop $l
          (br_if $done (i64.ge_u (local.get $i) (local.get $n)))
          (i64.store (i32.const 32) (local.get $i))
          (drop (call $send (i64.const 1) (local.get $i) (i32.const 0) (i32.const 0)))
          (drop (call $recv (i32.const 32) (i32.const 1) (i64.const -1)))
          (local.set $i (i64.add (local.get $i) (i64.const 1)))
          (br $l)))))"#;
    let engine = w(wasmtime::Engine::new(
        &config.wasmtime_config(EngineKind::Pooled),
    ))?;
    let mut linker = wasmtime::Linker::<Ends>::new(&engine);
    let (pong, ping) = match calls {
        RawCalls::Two => {
            w(linker.func_wrap_async(
                "env",
                "recv",
                |mut c: wasmtime::Caller<'_, Ends>, (): ()| {
                    Box::new(async move { Ok(c.data_mut().inbox.recv().await.unwrap_or(-1)) })
                },
            ))?;
            w(
                linker.func_wrap("env", "send", |c: wasmtime::Caller<'_, Ends>, tag: i64| {
                    let _ = c.data().peer.send(tag);
                }),
            )?;
            (RAW_PONG, RAW_PING)
        }
        RawCalls::Contract => {
            w(linker.func_wrap_async(
                "rusm",
                "recv",
                |mut c: wasmtime::Caller<'_, Ends>, (_tags, _count, _ms): (i32, i32, i64)| {
                    Box::new(async move {
                        let ends = c.data_mut();
                        ends.current = ends.inbox.recv().await.unwrap_or(-1);
                        Ok(0i32)
                    })
                },
            ))?;
            w(linker.func_wrap(
                "rusm",
                "send",
                |c: wasmtime::Caller<'_, Ends>, _to: i64, tag: i64, _ptr: i32, _len: i32| {
                    let _ = c.data().peer.send(tag);
                    0i32
                },
            ))?;
            w(linker.func_wrap("rusm", "msg_sender", |_: wasmtime::Caller<'_, Ends>| 1i64))?;
            w(
                linker.func_wrap("rusm", "msg_tag", |c: wasmtime::Caller<'_, Ends>| {
                    c.data().current
                }),
            )?;
            (PONG, CONTRACT_PING)
        }
    };
    let pong = w(linker.instantiate_pre(&w(wasmtime::Module::new(&engine, pong))?))?;
    let ping = w(linker.instantiate_pre(&w(wasmtime::Module::new(&engine, ping))?))?;
    let (to_ping, ping_inbox) = unbounded_channel();
    let (to_pong, pong_inbox) = unbounded_channel();
    let ticker = epoch_ticker(engine.clone());
    // Each side in its own task, with `run(arg)`: the two-call pong
    // ignores its argument, RUSM's PONG takes none.
    let pong_ends = Ends {
        inbox: pong_inbox,
        peer: to_ping,
        current: 0,
    };
    let pong = match calls {
        RawCalls::Two => tokio::spawn(async move { raw_run(&pong, pong_ends, 0i64).await }),
        RawCalls::Contract => tokio::spawn(async move { raw_run(&pong, pong_ends, ()).await }),
    };
    let spawn = |pre: wasmtime::InstancePre<Ends>, ends: Ends, arg: i64| {
        tokio::spawn(async move { raw_run(&pre, ends, arg).await })
    };
    let start = Instant::now();
    let ping = spawn(
        ping,
        Ends {
            inbox: ping_inbox,
            peer: to_pong,
            current: 0,
        },
        rounds as i64,
    );
    ping.await?;
    let rate = rounds as f64 / start.elapsed().as_secs_f64();
    match calls {
        // The two-call pong ends on ping's last, negative, tag.
        RawCalls::Two => pong.await?,
        RawCalls::Contract => pong.abort(),
    }
    ticker.store(true, Ordering::Relaxed);
    Ok(rate)
}

/// A future that is pending once (waking itself at once) and then ready:
/// one park and one resume of whatever awaits it, with nothing else.
struct ParkOnce(bool);

impl std::future::Future for ParkOnce {
    type Output = ();
    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        if std::mem::replace(&mut self.0, true) {
            std::task::Poll::Ready(())
        } else {
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        }
    }
}

/// The floor under any Wasm wait on this engine, in nanoseconds per park:
/// (a raw Wasmtime guest calling an async import that parks once per call,
/// the same future awaited natively, with no fiber). Both are driven by
/// `block_on` on a current-thread runtime of their own, so no other worker
/// steals or is woken: the difference is the CPU one suspend and resume of
/// a Wasmtime fiber costs beyond a native park, which a Wasm message wait
/// pays every time.
pub fn park_floor_ns(config: &WasmConfig, parks: u64) -> anyhow::Result<(f64, f64)> {
    const PARKER: &str = r#"(module
      (import "env" "park" (func $park))
      (func (export "run") (param $n i64)
        (loop $l
          (call $park)
          (local.set $n (i64.sub (local.get $n) (i64.const 1)))
          (br_if $l (i64.gt_s (local.get $n) (i64.const 0))))))"#;
    let engine = w(wasmtime::Engine::new(
        &config.wasmtime_config(EngineKind::Pooled),
    ))?;
    let mut linker = wasmtime::Linker::<()>::new(&engine);
    w(linker.func_wrap_async("env", "park", |_, (): ()| Box::new(ParkOnce(false))))?;
    let pre = w(linker.instantiate_pre(&w(wasmtime::Module::new(&engine, PARKER))?))?;
    let ticker = epoch_ticker(engine.clone());
    let floor = std::thread::scope(|s| {
        s.spawn(|| {
            let rt = tokio::runtime::Builder::new_current_thread().build()?;
            let start = Instant::now();
            rt.block_on(raw_run(&pre, (), parks as i64));
            let wasm = start.elapsed().as_nanos() as f64 / parks as f64;
            let start = Instant::now();
            rt.block_on(async {
                for _ in 0..parks {
                    ParkOnce(false).await;
                }
            });
            let native = start.elapsed().as_nanos() as f64 / parks as f64;
            anyhow::Ok((wasm, native))
        })
        .join()
        .expect("park floor thread")
    });
    ticker.store(true, Ordering::Relaxed);
    floor
}

/// The same round trips between two native processes.
pub async fn native_ping_pong(node: &Node, rounds: u64) -> anyhow::Result<f64> {
    let pong = node.spawn(SpawnOptions::new(), |ctx| async move {
        loop {
            let m = ctx.receive_any().await;
            let _ = ctx.send(m.sender, m.tag, Vec::new());
        }
    })?;
    let start = Instant::now();
    let (_, exit) = node.spawn_watched(Pid::NODE, SpawnOptions::new(), move |ctx| async move {
        for i in 0..rounds as i64 {
            ctx.send(pong, i, Vec::new()).expect("pong alive");
            ctx.receive(&[i], None).await.expect("reply");
        }
    })?;
    exit.await;
    let rate = rounds as f64 / start.elapsed().as_secs_f64();
    let _ = node.kill(pong);
    Ok(rate)
}

/// Spin `n` guests in infinite loops; returns their pids.
pub fn spinners(r: &Runtime, n: usize) -> anyhow::Result<Vec<Pid>> {
    let spinner = r.rt.load_bytes("spinner", SPINNER.as_bytes())?;
    (0..n)
        .map(|_| Ok(r.rt.spawn(&spinner, spawn_args("spinner"))?))
        .collect()
}

/// Each live instance maps memory, and an on-demand one its own fiber
/// stack too; the default limit (65530) stops near 32,000 instances.
pub fn raise_map_count(needed: u64) -> String {
    let path = "/proc/sys/vm/max_map_count";
    let current: u64 = std::fs::read_to_string(path)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0);
    if current >= needed {
        return format!("vm.max_map_count = {current}");
    }
    match std::fs::write(path, needed.to_string()) {
        Ok(()) => format!("vm.max_map_count raised from {current} to {needed}"),
        Err(e) => format!(
            "vm.max_map_count = {current} (could not raise it to {needed}: {e}; run as root or `sysctl -w vm.max_map_count={needed}`)"
        ),
    }
}

/// Resident bytes per process with `n` Wasm processes parked in `recv`,
/// and the same for native processes.
pub async fn idle_memory(r: &Runtime, n: u64) -> anyhow::Result<(f64, f64)> {
    let idle = r.rt.load_bytes("idle", IDLE.as_bytes())?;
    let up = Arc::new(AtomicU64::new(0));
    let counter = {
        let up = up.clone();
        r.node.spawn(SpawnOptions::new(), move |ctx| async move {
            loop {
                ctx.receive_any().await;
                up.fetch_add(1, Ordering::Relaxed);
            }
        })?
    };
    // Warm up the pool and the allocator before the baseline reading.
    let arg = counter.get().to_le_bytes().to_vec();
    let warm = r.rt.spawn(
        &idle,
        WasmSpawn {
            options: SpawnOptions::new().first_message(0, arg.clone()),
            ..spawn_args("idle")
        },
    )?;
    wait_for(&up, 1).await;
    let _ = r.node.kill(warm);
    tokio::time::sleep(Duration::from_millis(200)).await;
    // Native processes parked the same way, measured first and kept
    // alive, so neither side reuses memory the other freed.
    let before = resident_bytes();
    let mut native = Vec::with_capacity(n as usize);
    for _ in 0..n {
        native.push(r.node.spawn(SpawnOptions::new(), |ctx| async move {
            ctx.receive(&[i64::MIN], None).await.ok();
        })?);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let native_per = (resident_bytes().saturating_sub(before)) as f64 / n as f64;

    let before = resident_bytes();
    let mut pids = Vec::with_capacity(n as usize);
    // More processes than `sandboxed`'s default cap (10,000), on purpose.
    let uncapped = Arc::new(
        Capabilities::builder(Capabilities::sandboxed())
            .max_processes(None)
            .build(),
    );
    for _ in 0..n {
        let mut s = spawn_shared(&"idle".into(), &uncapped);
        s.options = SpawnOptions::new().first_message(0, arg.clone());
        pids.push(r.rt.spawn(&idle, s)?);
    }
    wait_for(&up, n + 1).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let wasm_per = (resident_bytes().saturating_sub(before)) as f64 / n as f64;
    for p in pids.into_iter().chain(native) {
        let _ = r.node.kill(p);
    }
    Ok((wasm_per, native_per))
}

async fn wait_for(counter: &AtomicU64, n: u64) {
    while counter.load(Ordering::Relaxed) < n {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
