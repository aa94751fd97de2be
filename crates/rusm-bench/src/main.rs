//! `rusm-bench`: RUSM's benchmarks, each printed beside baselines measured
//! in the same run, with the ratio, and ending with one JSON line.
//!
//! Not part of the test suite. `rusm-bench <scenario>` runs one scenario
//! alone, `rusm-bench all` every one in turn; `--quick` shrinks them to a
//! smoke run. Build with `--profile bench`; bench/README.md has the
//! figures and what each baseline is.
//!
//! A scenario is a variant of [`Scenario`] and an arm of [`run`] calling
//! into the module that measures it (`core` for the actor core, `kv` for
//! the store, `wasm` and `soak` behind the `wasm` feature): adding a module of
//! scenarios touches this file in those two places only.

mod cluster;
mod core;
mod dev;
#[cfg(feature = "wasm")]
mod host_calls;
mod kv;
mod observer;
mod raw_quic;
mod report;
// `pub` items in these two are crate-private in fact; they are left as
// they are while the rusm-wasm API they call is renamed on another branch
// (issue 13), so that the two changes do not collide. Tighten them after.
#[cfg(feature = "wasm")]
#[allow(unreachable_pub)]
mod http;
#[cfg(feature = "wasm")]
mod http_out;
#[cfg(feature = "wasm")]
#[allow(unreachable_pub)]
mod soak;
#[cfg(feature = "wasm")]
#[allow(unreachable_pub)]
mod wasm;

use std::time::Duration;

use clap::{Parser, ValueEnum};
use report::Report;

/// The allocator the `rusm` binary runs on, so that the figures are the
/// runtime's as shipped. (Under glibc's malloc, frees from the worker that
/// did not allocate cost the spawn storm half its rate: bench/README.md.)
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Scenario {
    /// Every scenario below, in turn.
    All,
    /// Processes spawned and exited per second (tokio::spawn, BEAM).
    SpawnStorm,
    /// Round trips per second between two processes (tokio mpsc, BEAM).
    PingPong,
    /// Crashed-and-restarted children per second under a supervisor.
    FaultRecovery,
    /// Resident bytes per idle process, a million alive (BEAM, tokio task).
    IdleMemory,
    /// Durable writes per second through rusm-kv (raw redb).
    KvStorm,
    /// Reads per second on the caller's thread (spawn_blocking).
    KvReads,
    /// spawn-storm with the observer on (accounting, hooks, listener)
    /// beside the same storm with it off, same build, same run.
    ObserverStorm,
    /// ping-pong with the observer on beside it off.
    ObserverPingPong,
    /// Issue 18: round trips/s and p50/p99 between two processes on two
    /// nodes (two OS processes, QUIC on loopback), and messages/s with 100
    /// pairs, beside the same on one node and the BEAM's distribution
    /// (cluster.rs).
    ClusterPingPong,
    /// Issue 18: 20 trials of `kill -9` of a node: time to the
    /// `noconnection` down on the survivor, p50 and max (cluster.rs).
    NodeDown,
    /// A cluster node in a process of its own, for the cluster scenarios:
    /// joins `--cluster-join`, starts `--cluster-echoes` echo processes,
    /// prints their pids, and ends when its stdin closes. Not in `all`.
    #[value(hide = true)]
    ClusterNode,
    #[cfg(feature = "wasm")]
    ModuleStorm,
    #[cfg(feature = "wasm")]
    ComponentStorm,
    #[cfg(feature = "wasm")]
    WasmPingPong,
    #[cfg(feature = "wasm")]
    WasmIdleMemory,
    #[cfg(feature = "wasm")]
    Fairness,
    /// ns per `is_alive` of a local pid on a node outside a cluster (a
    /// sync import) and in one (async since issue 18), beside
    /// `cancel_timer`, a sync import of the same shape (host_calls.rs).
    #[cfg(feature = "wasm")]
    IsAlive,
    /// GET requests per second from a component through wasi:http to a
    /// local server (raw wasmtime-wasi-http's default send_request).
    #[cfg(feature = "wasm")]
    HttpOut,
    /// http-out like for like without reuse: RUSM opening a new connection
    /// per request (`max_idle_connections` 0) beside raw
    /// wasmtime-wasi-http, rounds in alternating order. `--side rusm|raw
    /// --spawns N` runs one side alone for callgrind.
    #[cfg(feature = "wasm")]
    HttpOutFresh,
    /// The Rust ping-pong example (guests/, built by
    /// scripts/build-guests.sh) beside the WAT wasm-ping-pong. Not in `all`.
    #[cfg(feature = "wasm")]
    GuestPingPong,
    /// Issue 16: save to first response from the new code under `rusm dev`
    /// for the Rust `http` template (p50 over 10 edits), beside `rusm
    /// build` alone after an edit; drives the real `rusm` binary and guest
    /// toolchain (dev.rs). Not in `all`.
    DevReloadHttp,
    /// The guest library's HTTP shape: a Rust hello handler
    /// (guests/tests/http-hello, built by scripts/build-guests.sh) through
    /// rusm-serve, beside the same component on a raw wasmtime-wasi-http
    /// server and the WAT hello handler through rusm-serve. Not in `all`.
    #[cfg(feature = "wasm")]
    GuestHttpHello,
    /// Requests/s and p50/p99 of a hello handler through rusm-serve at 64
    /// and 256 connections, beside a raw wasmtime-wasi-http server (a new
    /// instance per request) and a native hyper hello (http.rs).
    #[cfg(feature = "wasm")]
    HttpHello,
    /// WebSocket round trips/s over 1 and 100 connections, and connections
    /// opened and closed per second, beside a native tokio-tungstenite
    /// echo server (http.rs).
    #[cfg(feature = "wasm")]
    WsEcho,
    /// SSE events/s delivered to 100 subscribers (each a handler process
    /// writing 200 events back to back), beside native hyper (http.rs).
    #[cfg(feature = "wasm")]
    SseFanout,
    /// The hello handler with 1 request in 100 to a crashing one, for 30 s
    /// (`--quick`: 5 s): every other answer 200, RSS at start and end,
    /// beside the same load without crashes. Not in `all`.
    #[cfg(feature = "wasm")]
    HttpCrashLoad,
    /// http-crash-load's server, in a process of its own so that its RSS
    /// is the server's alone: serves the hello handler, prints its
    /// address, and ends when its stdin closes. Not in `all`.
    #[cfg(feature = "wasm")]
    #[value(hide = true)]
    HttpServer,
    /// Hostile guests among healthy ones for `--minutes` (default 10;
    /// `--quick`: 20 s): resident memory, live processes and round-trip
    /// p99 over time (soak.rs). Not in `all`.
    #[cfg(feature = "wasm")]
    Soak,
}

#[derive(Parser)]
#[command(
    name = "rusm-bench",
    about = "RUSM benchmarks, each beside baselines measured in the same run"
)]
struct Args {
    scenario: Scenario,
    /// Small sizes and one round: a smoke run, not a result.
    #[arg(long)]
    quick: bool,
    /// Storms, http-hello, http-out-fresh and wasm-ping-pong only: run one
    /// side alone, once, with a small pool, and print its rate (http-hello:
    /// `--spawns` requests; wasm-ping-pong: `--spawns` round trips). For instruction-level profilers (bench/instructions.sh
    /// runs callgrind this way): they cannot reserve the full pool and
    /// should see one side only. Not a comparison.
    #[cfg(feature = "wasm")]
    #[arg(long, value_enum)]
    side: Option<Side>,
    /// Spawns (or observer-ping-pong and wasm-ping-pong round trips) in a
    /// `--side` run.
    #[cfg(feature = "wasm")]
    #[arg(long, default_value_t = 20_000)]
    spawns: u64,
    /// Storms' `--side` runs: at most this many processes alive (the
    /// official run's figure is at 1,000; valgrind cannot reserve the pool
    /// slots for more than a few hundred).
    #[cfg(feature = "wasm")]
    #[arg(long, default_value_t = 100)]
    window: usize,
    /// `dev-reload-http` only: the `rusm` binary to drive (default: this
    /// workspace's target/debug/rusm).
    #[arg(long)]
    rusm: Option<std::path::PathBuf>,
    /// `soak` only: how long it runs (`--quick`: 20 seconds).
    #[cfg(feature = "wasm")]
    #[arg(long, default_value_t = 10)]
    minutes: u64,
    /// Tokio worker threads (default: one per core). The cluster scenarios
    /// give the second node (and the BEAM's nodes, `+S N:N`) as many.
    #[arg(long)]
    workers: Option<usize>,
    /// `cluster-node` only: the directory of the certificates.
    #[arg(long, hide = true)]
    cluster_certs: Option<std::path::PathBuf>,
    /// `cluster-node` only: the node's name.
    #[arg(long, hide = true)]
    cluster_name: Option<String>,
    /// `cluster-node` only: the member to join through.
    #[arg(long, hide = true)]
    cluster_join: Option<String>,
    /// `cluster-node` only: echo processes to start.
    #[arg(long, hide = true, default_value_t = 1)]
    cluster_echoes: usize,
    /// Cluster scenarios: how long each node's QUIC task busy-waits for an
    /// answer, in microseconds (the manifest's `busy-wait-us`; 0: off).
    /// Default: the cluster's default.
    #[arg(long)]
    cluster_busy_wait_us: Option<u64>,
}

/// One side of a storm, for `--side`.
#[cfg(feature = "wasm")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Side {
    Rusm,
    Raw,
    /// observer-storm, observer-ping-pong: the observer on.
    On,
    /// observer-storm, observer-ping-pong: the observer off.
    Off,
}

#[cfg(feature = "wasm")]
impl Side {
    /// For the scenarios that compare RUSM with raw Wasmtime: whether this
    /// is RUSM's side (`on`/`off` belong to the observer scenarios).
    fn is_rusm(self) -> anyhow::Result<bool> {
        match self {
            Side::Rusm => Ok(true),
            Side::Raw => Ok(false),
            Side::On | Side::Off => anyhow::bail!("--side on|off is for the observer scenarios"),
        }
    }
}

/// What a scenario run is asked for, beyond its name.
#[derive(Clone, Copy)]
struct RunOptions {
    quick: bool,
    /// `--workers`, for the processes a scenario starts.
    workers: Option<usize>,
    /// The `rusm` binary for dev-reload-http.
    rusm: &'static std::path::Path,
    #[cfg(feature = "wasm")]
    side: Option<(Side, u64)>,
    /// `--window`, for a storm's `--side` run.
    #[cfg(feature = "wasm")]
    window: usize,
    #[cfg(feature = "wasm")]
    minutes: u64,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let cores = args.workers.unwrap_or(cores).max(1);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cores)
        .enable_all()
        .build()?;
    let list: Vec<Scenario> = if args.scenario == Scenario::All {
        Scenario::value_variants()
            .iter()
            .copied()
            .filter(|&s| s != Scenario::All && s.in_all())
            .collect()
    } else {
        vec![args.scenario]
    };
    // Drive the scenarios from a worker thread, as a process or a task
    // would be: spawns then go to that worker's own queue, not through the
    // runtime's injection queue from an outside thread.
    let rusm = args.rusm.clone().unwrap_or_else(|| {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/debug/rusm")
    });
    if let Some(us) = args.cluster_busy_wait_us {
        cluster::set_busy_wait(std::time::Duration::from_micros(us));
    }
    if args.scenario == Scenario::ClusterNode {
        let (Some(certs), Some(name), Some(join)) =
            (args.cluster_certs, args.cluster_name, args.cluster_join)
        else {
            anyhow::bail!("cluster-node needs --cluster-certs, --cluster-name and --cluster-join");
        };
        let node = cluster::NodeArgs {
            certs,
            name,
            join,
            echoes: args.cluster_echoes,
        };
        return runtime.block_on(async move {
            tokio::spawn(cluster::node_main(node)).await??;
            Ok(())
        });
    }
    let opts = RunOptions {
        quick: args.quick,
        workers: args.workers,
        // Lives as long as the program; the options are `Copy`.
        rusm: Box::leak(rusm.into_boxed_path()),
        #[cfg(feature = "wasm")]
        side: args.side.map(|side| (side, args.spawns)),
        #[cfg(feature = "wasm")]
        window: args.window,
        #[cfg(feature = "wasm")]
        minutes: args.minutes,
    };
    runtime.block_on(async move {
        tokio::spawn(async move {
            for s in list {
                run(s, opts).await?.print();
            }
            anyhow::Ok(())
        })
        .await?
    })
}

impl Scenario {
    /// Whether `all` runs it: not the scenarios that need guests that
    /// `scripts/build-guests.sh` builds, nor the minutes-long soak.
    fn in_all(self) -> bool {
        #[cfg(feature = "wasm")]
        if matches!(
            self,
            Scenario::GuestPingPong
                | Scenario::GuestHttpHello
                | Scenario::Soak
                | Scenario::HttpCrashLoad
                | Scenario::HttpServer
        ) {
            return false;
        }
        !matches!(self, Scenario::DevReloadHttp | Scenario::ClusterNode)
    }
}

async fn run(scenario: Scenario, opts: RunOptions) -> anyhow::Result<Report> {
    let quick = opts.quick;
    match scenario {
        Scenario::SpawnStorm => core::spawn_storm(quick).await,
        Scenario::PingPong => core::ping_pong(quick).await,
        Scenario::FaultRecovery => core::fault_recovery(quick).await,
        Scenario::IdleMemory => core::idle_memory(quick).await,
        Scenario::KvStorm => kv_storm(quick).await,
        Scenario::ClusterPingPong => cluster::cluster_ping_pong(quick, opts.workers).await,
        Scenario::NodeDown => cluster::node_down(quick, opts.workers).await,
        Scenario::ClusterNode => anyhow::bail!("cluster-node is run by main"),
        Scenario::KvReads => kv_reads(quick).await,
        #[cfg(feature = "wasm")]
        Scenario::ObserverStorm | Scenario::ObserverPingPong
            if matches!(opts.side, Some((Side::On | Side::Off, _))) =>
        {
            let Some((side, n)) = opts.side else {
                unreachable!("matched above")
            };
            observer::one_side(scenario == Scenario::ObserverStorm, side == Side::On, n).await
        }
        Scenario::ObserverStorm => observer::storm(quick).await,
        Scenario::ObserverPingPong => observer::ping_pong(quick).await,
        Scenario::DevReloadHttp => {
            let (edits, builds) = if quick { (3, 2) } else { (10, 5) };
            let rusm = opts.rusm;
            tokio::task::spawn_blocking(move || dev::dev_reload_http(rusm, edits, builds)).await?
        }
        #[cfg(feature = "wasm")]
        s @ (Scenario::ModuleStorm
        | Scenario::ComponentStorm
        | Scenario::WasmPingPong
        | Scenario::WasmIdleMemory
        | Scenario::Fairness
        | Scenario::GuestPingPong) => wasm_scenario(s, opts).await,
        #[cfg(feature = "wasm")]
        Scenario::HttpHello => match opts.side {
            Some((side, n)) => http_hello_side(side, n).await,
            None => http_hello(quick).await,
        },
        #[cfg(feature = "wasm")]
        Scenario::IsAlive => is_alive(quick).await,
        #[cfg(feature = "wasm")]
        Scenario::GuestHttpHello => guest_http_hello(quick).await,
        #[cfg(feature = "wasm")]
        Scenario::HttpCrashLoad => http_crash_load(quick).await,
        #[cfg(feature = "wasm")]
        Scenario::HttpServer => http_server().await,
        #[cfg(feature = "wasm")]
        Scenario::WsEcho => ws_echo(quick).await,
        #[cfg(feature = "wasm")]
        Scenario::HttpOut => http_out(quick).await,
        #[cfg(feature = "wasm")]
        Scenario::HttpOutFresh => match opts.side {
            Some((side, n)) => http_out_fresh_side(side, n).await,
            None => http_out_fresh(quick).await,
        },
        #[cfg(feature = "wasm")]
        Scenario::SseFanout => sse_fanout(quick).await,
        #[cfg(feature = "wasm")]
        Scenario::Soak => {
            let (duration, every) = if quick {
                (Duration::from_secs(20), Duration::from_secs(2))
            } else {
                (
                    Duration::from_secs(opts.minutes.max(1) * 60),
                    Duration::from_secs(10),
                )
            };
            soak::soak(duration, every).await
        }
        Scenario::All => unreachable!("`all` is expanded by main"),
    }
}

/// is-alive: the cost of an async import for a local pid (host_calls.rs).
#[cfg(feature = "wasm")]
async fn is_alive(quick: bool) -> anyhow::Result<Report> {
    let (n, rounds) = if quick { (200_000, 1) } else { (5_000_000, 5) };
    let [ours, clustered, sync, own_pid, c_ours, c_clustered, c_sync] =
        host_calls::is_alive(n, rounds).await?;
    Ok(Report::new("is-alive", "ns per call", ours, false)
        .baseline("cancel_timer (a sync import of the same shape)", sync)
        .baseline("is_alive in a cluster (async import)", clustered)
        .extra("own_pid_ns", own_pid)
        .extra("component_is_alive_ns", c_ours)
        .extra("component_is_alive_in_cluster_ns", c_clustered)
        .extra("component_cancel_timer_ns", c_sync)
        .extra("component_ratio", c_ours / c_sync)
        .note(format!(
            "best of {rounds} interleaved rounds of {n} calls in a guest loop, spawn to exit; is_alive of the caller's own pid on a node outside a cluster (a sync import) and in one (an async import); a module (component_*: the same loops as a component)"
        )))
}

/// kv-storm: rusm-kv's group commit at 1, 16 and 256 writers, beside raw
/// redb committing every key (kv.rs). The headline is 256 writers on
/// sequential keys; the other points are table rows.
async fn kv_storm(quick: bool) -> anyhow::Result<Report> {
    let d = Duration::from_secs(if quick { 1 } else { 3 });
    let sequential = kv::kv_storm_with(&[1, 16, 256], d, kv::KeyOrder::Sequential).await?;
    let per_writer = kv::kv_storm_with(&[256], d, kv::KeyOrder::PerWriter).await?;
    let (base, points) = sequential
        .split_first()
        .expect("kv_storm_with returns the baseline first");
    let head = points.last().expect("three writer counts were measured");
    let mut report = Report::new("kv-storm", "durable writes/s", head.writes_per_sec, true)
        .baseline(base.label(), base.writes_per_sec)
        .extra("writers", head.writers as f64)
        .extra("writes_per_commit", head.writes_per_commit());
    for row in points.iter().chain(per_writer.iter().skip(1)) {
        report = report
            .row(
                format!("{} writers, {:?} keys", row.writers, row.keys),
                row.writes_per_sec,
                "durable writes/s",
            )
            .row(
                format!("  ({} writes in {:.1?})", row.writes, row.elapsed),
                row.writes_per_commit(),
                "writes/commit",
            );
    }
    Ok(report
        .row(
            "raw redb again, beside the PerWriter point",
            per_writer[0].writes_per_sec,
            "durable writes/s",
        )
        .note(format!(
            "{} with {} writers on sequential keys; every write is fsync'd before it counts, in both columns; {d:?} per point",
            head.label(),
            head.writers
        )))
}

/// kv-reads: a cached read on the caller's thread, beside the same read
/// handed to `spawn_blocking` (kv.rs).
async fn kv_reads(quick: bool) -> anyhow::Result<Report> {
    let d = Duration::from_secs(if quick { 1 } else { 2 });
    let rows = kv::kv_reads(&[1, 16], d).await?;
    let head = rows.last().expect("two task counts were measured");
    let mut report = Report::new("kv-reads", "reads/s", head.direct_reads_per_sec, true)
        .baseline(
            "the same reads through spawn_blocking",
            head.spawn_blocking_reads_per_sec,
        )
        .extra("tasks", head.tasks as f64);
    for row in &rows[..rows.len() - 1] {
        report = report
            .row(
                format!("{} task(s), direct", row.tasks),
                row.direct_reads_per_sec,
                "reads/s",
            )
            .row(
                format!("{} task(s), spawn_blocking", row.tasks),
                row.spawn_blocking_reads_per_sec,
                "reads/s",
            );
    }
    Ok(report.note(format!(
        "{} tasks reading cached 100-byte values; why rusm-kv reads on the caller's thread",
        head.tasks
    )))
}

/// http-hello: the same load generator against rusm-serve, a raw
/// wasmtime-wasi-http server and native hyper, in interleaved rounds (the
/// best round of each side counts: this machine is shared).
#[cfg(feature = "wasm")]
async fn http_hello(quick: bool) -> anyhow::Result<Report> {
    use report::{Target, quantile_us};
    let (d, rounds) = if quick {
        (Duration::from_secs(1), 1)
    } else {
        (Duration::from_secs(4), 3)
    };
    let (server, _rt, config) = http::rusm_server(2_000).await?;
    let rusm_addr = server.local_addr();
    let (raw_addr, raw_ticker) = http::raw_server(&config).await?;
    // Raw again with Wasmtime's default reset of a freed slot (every
    // dirtied page `madvise`d): what RUSM's `keep_resident_bytes` is worth.
    let stock = rusm_wasm::WasmConfig {
        keep_resident_bytes: 0,
        ..config.clone()
    };
    let (stock_addr, stock_ticker) = http::raw_server(&stock).await?;
    let native_addr = http::native_server().await?;
    let mut report = None;
    for conns in [64, 256] {
        let mut best: [Option<http::Load>; 4] = [None, None, None, None];
        for _ in 0..rounds {
            for (i, addr) in [rusm_addr, raw_addr, native_addr, stock_addr]
                .into_iter()
                .enumerate()
            {
                let l = http::load(addr, "/x/hello", conns, d, None).await?;
                anyhow::ensure!(l.bad == 0, "{} bad answers from server {i}", l.bad);
                if best[i]
                    .as_ref()
                    .is_none_or(|b| l.requests_per_sec > b.requests_per_sec)
                {
                    best[i] = Some(l);
                }
            }
        }
        let [Some(rusm), Some(raw), Some(native), Some(stock)] = best else {
            unreachable!("every side ran at least once")
        };
        let p = |l: &http::Load, q| quantile_us(&l.latencies, q);
        if report.is_none() {
            report = Some(
                Report::new("http-hello", "requests/s", rusm.requests_per_sec, true)
                    .baseline("raw wasmtime-wasi-http", raw.requests_per_sec)
                    .baseline("native hyper", native.requests_per_sec)
                    .baseline(
                        "raw wasmtime-wasi-http, Wasmtime's default slot reset",
                        stock.requests_per_sec,
                    )
                    .target(Target::Ratio("raw wasmtime-wasi-http", 0.9))
                    .extra("connections", conns as f64)
                    .extra("p50_us", p(&rusm, 0.5))
                    .extra("p99_us", p(&rusm, 0.99))
                    .extra("raw_p50_us", p(&raw, 0.5))
                    .extra("raw_p99_us", p(&raw, 0.99))
                    .extra("native_p99_us", p(&native, 0.99))
                    .extra("p99_over_raw_p99", p(&rusm, 0.99) / p(&raw, 0.99)),
            );
        } else if let Some(r) = report.take() {
            report = Some(
                r.row(
                    format!("{conns} connections: rusm"),
                    rusm.requests_per_sec,
                    "requests/s",
                )
                .row(
                    format!("{conns} connections: raw"),
                    raw.requests_per_sec,
                    "requests/s",
                )
                .row(
                    format!("{conns} connections: native"),
                    native.requests_per_sec,
                    "requests/s",
                )
                .row(
                    format!("{conns} connections: raw, Wasmtime's default reset"),
                    stock.requests_per_sec,
                    "requests/s",
                )
                .row(
                    format!("{conns} connections: rusm p99"),
                    p(&rusm, 0.99),
                    "us",
                )
                .row(format!("{conns} connections: raw p99"), p(&raw, 0.99), "us")
                .row(
                    format!("{conns} connections: native p99"),
                    p(&native, 0.99),
                    "us",
                )
                // In the JSON line too (the second count is 256): its
                // targets are the first's.
                .extra("c256_ratio", rusm.requests_per_sec / raw.requests_per_sec)
                .extra(
                    "c256_ratio_stock_reset",
                    rusm.requests_per_sec / stock.requests_per_sec,
                )
                .extra("c256_p99_over_raw_p99", p(&rusm, 0.99) / p(&raw, 0.99)),
            );
        }
    }
    raw_ticker.store(true, std::sync::atomic::Ordering::Relaxed);
    stock_ticker.store(true, std::sync::atomic::Ordering::Relaxed);
    server.shutdown().await;
    Ok(report
        .expect("two connection counts ran")
        .note(format!(
            "hello handler (a wasi:http component), HTTP/1.1 keep-alive, in-repo hyper load generator on the same machine; best of {rounds} interleaved {d:?} rounds per side; raw: the same engine settings as RUSM's; raw with Wasmtime's default slot reset: the same with keep_resident_bytes 0 (Wasmtime's default: every page a handler dirtied is madvised); p99 target: rusm p99 <= 1.5x raw p99"
        )))
}

/// guest-http-hello: the Rust hello handler (the guest library's HTTP
/// shape) through rusm-serve, beside the same component on the raw
/// wasmtime-wasi-http server (which shows it is a stock incoming-handler)
/// and the WAT hello handler through rusm-serve (what the library and the
/// Rust toolchain add), 64 connections, interleaved rounds, best of each.
#[cfg(feature = "wasm")]
async fn guest_http_hello(quick: bool) -> anyhow::Result<Report> {
    use report::quantile_us;
    let (d, rounds) = if quick {
        (Duration::from_secs(1), 1)
    } else {
        (Duration::from_secs(4), 3)
    };
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../guests/wasm/http-hello.component.wasm");
    let rust = std::fs::read(&path).map_err(|e| {
        anyhow::anyhow!(
            "{}: {e} (build the guests first: scripts/build-guests.sh)",
            path.display()
        )
    })?;
    let (server, _rt, config) = http::rusm_server_of(2_000, &rust).await?;
    let (raw_addr, raw_ticker) = http::raw_server_of(&config, &rust).await?;
    let (wat_server, _wat_rt, _) = http::rusm_server(2_000).await?;
    let sides = [server.local_addr(), raw_addr, wat_server.local_addr()];
    let conns = 64;
    let mut best: [Option<http::Load>; 3] = [None, None, None];
    for _ in 0..rounds {
        for (i, addr) in sides.into_iter().enumerate() {
            let l = http::load(addr, "/x/hello", conns, d, None).await?;
            anyhow::ensure!(l.bad == 0, "{} bad answers from server {i}", l.bad);
            if best[i]
                .as_ref()
                .is_none_or(|b| l.requests_per_sec > b.requests_per_sec)
            {
                best[i] = Some(l);
            }
        }
    }
    raw_ticker.store(true, std::sync::atomic::Ordering::Relaxed);
    server.shutdown().await;
    wat_server.shutdown().await;
    let [Some(rusm), Some(raw), Some(wat)] = best else {
        unreachable!("every side ran at least once")
    };
    let p = |l: &http::Load, q| quantile_us(&l.latencies, q);
    Ok(
        Report::new("guest-http-hello", "requests/s", rusm.requests_per_sec, true)
            .baseline("raw wasmtime-wasi-http, same component", raw.requests_per_sec)
            .baseline("WAT hello handler through rusm", wat.requests_per_sec)
            .extra("connections", conns as f64)
            .extra("p50_us", p(&rusm, 0.5))
            .extra("p99_us", p(&rusm, 0.99))
            .extra("raw_p99_us", p(&raw, 0.99))
            .extra("wat_p99_us", p(&wat, 0.99))
            .extra("component_bytes", rust.len() as f64)
            .note(format!(
                "guests/tests/http-hello (Rust, rusm_guest::http_main!, built for wasm32-wasip1 and wrapped with the reactor adapter), HTTP/1.1 keep-alive, in-repo hyper load generator; best of {rounds} interleaved {d:?} rounds per side"
            )),
    )
}

/// http-hello `--side rusm|raw --spawns N`: one server alone, warmed by
/// 2,000 requests, then `n` requests over 8 keep-alive connections, for
/// callgrind (bench/instructions.sh `http-hello`): the difference between
/// two sizes is the cost of one more request, load generator included
/// (the same on both sides).
#[cfg(feature = "wasm")]
async fn http_hello_side(side: Side, n: u64) -> anyhow::Result<Report> {
    // (A profiler under valgrind cannot reserve 2,000 slots.)
    let (server, _rt, config) = http::rusm_server(100).await?;
    let addr = if side.is_rusm()? {
        server.local_addr()
    } else {
        http::raw_server(&config).await?.0
    };
    http::load_count(addr, "/x/hello", 8, 2_000).await?;
    let start = std::time::Instant::now();
    http::load_count(addr, "/x/hello", 8, n).await?;
    let rate = n as f64 / start.elapsed().as_secs_f64();
    Ok(
        Report::new("http-hello", "requests/s", rate, true).note(format!(
            "--side {side:?} alone: {n} requests over 8 connections; not a comparison"
        )),
    )
}

/// ws-echo: the same WebSocket clients against rusm-serve (a connection
/// process per connection, echoing) and a native tokio-tungstenite echo
/// server, in interleaved rounds (best of each side).
#[cfg(feature = "wasm")]
async fn ws_echo(quick: bool) -> anyhow::Result<Report> {
    let (d, rounds) = if quick {
        (Duration::from_secs(1), 1)
    } else {
        (Duration::from_secs(3), 3)
    };
    let server = http::rusm_ws_server().await?;
    let rusm = server.local_addr();
    let native = http::native_ws_server().await?;
    let mut best = [[0f64; 3]; 2];
    for _ in 0..rounds {
        for (side, addr) in [rusm, native].into_iter().enumerate() {
            let figures = [
                http::ws_round_trips(addr, 100, d).await?,
                http::ws_round_trips(addr, 1, d).await?,
                http::ws_churn(addr, 16, d).await?,
            ];
            for (b, f) in best[side].iter_mut().zip(figures) {
                *b = b.max(f);
            }
        }
    }
    server.shutdown().await;
    let [r, n] = best;
    Ok(
        Report::new("ws-echo", "round trips/s (100 connections)", r[0], true)
            .baseline("native tokio-tungstenite echo", n[0])
            .row("1 connection: rusm", r[1], "round trips/s")
            .row("1 connection: native", n[1], "round trips/s")
            .row("1 connection: rusm/native", r[1] / n[1], "x")
            .row("connections opened+closed: rusm", r[2], "per s")
            .row("connections opened+closed: native", n[2], "per s")
            .row("connections opened+closed: rusm/native", r[2] / n[2], "x")
            .note(format!(
                "text frames of 4 bytes, one in flight per connection; churn: 16 clients each connecting, one echo, closing; best of {rounds} interleaved {d:?} rounds per side"
            )),
    )
}

/// sse-fanout: 100 subscribers, each streaming 200 events per request,
/// from rusm-serve (a handler process per stream) and from native hyper,
/// interleaved (best round of each side).
#[cfg(feature = "wasm")]
async fn sse_fanout(quick: bool) -> anyhow::Result<Report> {
    let (d, rounds) = if quick {
        (Duration::from_secs(1), 1)
    } else {
        (Duration::from_secs(3), 3)
    };
    let (server, _rt, _) = http::rusm_server(2_000).await?;
    let rusm = server.local_addr();
    let native = http::native_sse_server().await?;
    let (mut r, mut n) = (0f64, 0f64);
    for _ in 0..rounds {
        r = r.max(http::sse_fanout(rusm, 100, d).await?);
        n = n.max(http::sse_fanout(native, 100, d).await?);
    }
    server.shutdown().await;
    Ok(Report::new("sse-fanout", "events/s", r, true)
        .baseline("native hyper", n)
        .extra("subscribers", 100.0)
        .note(format!(
            "100 keep-alive subscribers; each stream is {} events of 12 bytes, each written and flushed as its own chunk, then the subscriber asks again; best of {rounds} interleaved {d:?} rounds",
            http::FANOUT_EVENTS
        )))
}

/// http-crash-load: 1 request in 100 to a trapping handler; every other
/// answer must be 200; RSS at start and end, beside the same load without
/// crashes.
#[cfg(feature = "wasm")]
async fn http_crash_load(quick: bool) -> anyhow::Result<Report> {
    use report::quantile_us;
    let d = Duration::from_secs(if quick { 5 } else { 30 });
    let server = http::ServerProcess::start()?;
    let addr = server.addr;
    // Warm up (compile caches, pool slots), then measure RSS from there.
    http::load(addr, "/x/hello", 64, Duration::from_secs(1), None).await?;
    let rss_start = server.rss_mib();
    let bench_start = http::rss_mib();
    // RSS every tenth of the run, to tell levelling off from a leak.
    let pid = server.pid();
    let sampler = tokio::spawn(async move {
        let mut curve = Vec::new();
        for _ in 0..10 {
            tokio::time::sleep(d / 10).await;
            curve.push(http::rss_mib_of(pid));
        }
        curve
    });
    let crashing = http::load(addr, "/x/hello", 64, d, Some((100, "/x/crash"))).await?;
    let rss_end = server.rss_mib();
    let bench_end = http::rss_mib();
    let curve = sampler.await?;
    let clean = http::load(addr, "/x/hello", 64, Duration::from_secs(5).min(d), None).await?;
    let rss_after_clean = server.rss_mib();
    drop(server);
    anyhow::ensure!(
        crashing.bad == 0,
        "{} good requests were not answered 200",
        crashing.bad
    );
    Ok(Report::new(
        "http-crash-load",
        "requests/s",
        crashing.requests_per_sec,
        true,
    )
    .baseline("the same load without crashes", clean.requests_per_sec)
    .extra("good_requests", crashing.good as f64)
    .extra("bad_answers", crashing.bad as f64)
    .extra("crashing_requests", crashing.crashes as f64)
    .extra("rss_start_mib", rss_start)
    .extra("rss_end_mib", rss_end)
    .extra("rss_after_clean_mib", rss_after_clean)
    .extra("load_generator_rss_start_mib", bench_start)
    .extra("load_generator_rss_end_mib", bench_end)
    .extra("p99_us", quantile_us(&crashing.latencies, 0.99))
    .row(
        format!(
            "server RSS every {:?}: {}",
            d / 10,
            curve
                .iter()
                .map(|m| format!("{m:.1}"))
                .collect::<Vec<_>>()
                .join(" ")
        ),
        rss_end,
        "MiB at the end",
    )
    .note(format!(
        "64 keep-alive connections for {d:?}; every 100th request of each connection traps (500); good requests counted only if 200; RSS of the server alone (its own process: `rusm-bench http-server`), the load generator's beside it"
    )))
}

/// http-crash-load's server process (see [`Scenario::HttpServer`]).
#[cfg(feature = "wasm")]
async fn http_server() -> anyhow::Result<Report> {
    use tokio::io::AsyncReadExt;
    let (server, _rt, _) = http::rusm_server(2_000).await?;
    println!("{}", server.local_addr());
    // Until the parent closes our stdin (or goes away).
    let mut sink = Vec::new();
    tokio::io::stdin().read_to_end(&mut sink).await?;
    server.shutdown().await;
    std::process::exit(0)
}

/// http-out: interleaved rounds of RUSM (reusing connections, and with
/// reuse off) and raw wasmtime-wasi-http, best of each (http_out.rs).
#[cfg(feature = "wasm")]
async fn http_out(quick: bool) -> anyhow::Result<Report> {
    let (guests, per_guest, rounds) = if quick { (2, 200, 1) } else { (4, 2_000, 3) };
    let r = wasm::runtime(100)?;
    let no_reuse = no_reuse_runtime()?;
    let addr = http_out::server().await?;
    let wat = http_out::component(addr, per_guest);
    // Warm every side (compilation, the server's first connections).
    let warm = http_out::component(addr, 20);
    http_out::rusm(&r, &warm, addr, 1, 20).await?;
    http_out::rusm(&no_reuse, &warm, addr, 1, 20).await?;
    http_out::raw(&r, &warm, 1, 20).await?;
    let (mut ours, mut unpooled, mut raw) = (0f64, 0f64, 0f64);
    let mut rows = Vec::new();
    for round in 1..=rounds {
        // The two sides that open a connection per request each start on
        // a settled port table (http_out::SETTLE); the reusing side opens
        // a handful and needs no pause.
        let a = http_out::rusm(&r, &wat, addr, guests, per_guest).await?;
        tokio::time::sleep(http_out::SETTLE).await;
        let b = http_out::raw(&r, &wat, guests, per_guest).await?;
        tokio::time::sleep(http_out::SETTLE).await;
        let c = http_out::rusm(&no_reuse, &wat, addr, guests, per_guest).await?;
        rows.push((round, a, b, c));
        ours = ours.max(a);
        raw = raw.max(b);
        unpooled = unpooled.max(c);
    }
    let base = "raw wasmtime-wasi-http, default send_request";
    let mut report = Report::new("http-out", "requests/s", ours, true)
        .baseline(base, raw)
        .baseline("rusm, a new connection per request", unpooled)
        .target(report::Target::Ratio(base, 0.9))
        .extra("guests", guests as f64)
        .extra("requests_per_guest", per_guest as f64);
    for (round, a, b, c) in rows {
        report = report
            .row(format!("round {round}, rusm"), a, "requests/s")
            .row(format!("round {round}, raw"), b, "requests/s")
            .row(
                format!("round {round}, rusm without reuse"),
                c,
                "requests/s",
            );
    }
    Ok(report.note(format!(
        "{guests} components at once, each {per_guest} sequential GETs to a local hyper server, \
         each response dropped unread; rusm reuses connections (the node reads the 5-byte rest), \
         the raw baseline and 'rusm without reuse' open a new one per request, each starting \
         {settle:?} after the side before (http_out::SETTLE); interleaved rounds, best of each",
        settle = http_out::SETTLE
    )))
}

/// The runtime http-out's "without reuse" side runs on: outgoing
/// connection reuse off, a new connection per request, as the baseline.
#[cfg(feature = "wasm")]
fn no_reuse_runtime() -> anyhow::Result<wasm::Runtime> {
    wasm::runtime_with(
        100,
        rusm_wasm::RuntimeOptions {
            outbound: rusm_wasm::OutboundOptions {
                max_idle_connections: 0,
                ..rusm_wasm::OutboundOptions::default()
            },
            ..rusm_wasm::RuntimeOptions::default()
        },
    )
}

/// http-out-fresh: RUSM with connection reuse off beside raw
/// wasmtime-wasi-http (which never reuses), both a new TCP connection per
/// request. Rounds alternate which side goes first: every connection
/// leaves a client port in TIME_WAIT for 60 s, and a side that runs after
/// the other's 8,000 connects finds the kernel's port search slower, so a
/// fixed order would charge it to one side. Best of each, and the median
/// of the rounds' ratios.
#[cfg(feature = "wasm")]
async fn http_out_fresh(quick: bool) -> anyhow::Result<Report> {
    let (guests, per_guest, rounds) = if quick { (2, 200, 2) } else { (4, 2_000, 6) };
    let r = wasm::runtime(100)?;
    let no_reuse = no_reuse_runtime()?;
    let addr = http_out::server().await?;
    let wat = http_out::component(addr, per_guest);
    let warm = http_out::component(addr, 20);
    http_out::rusm(&no_reuse, &warm, addr, 1, 20).await?;
    http_out::raw(&r, &warm, 1, 20).await?;
    let (mut ours, mut raw) = (0f64, 0f64);
    let mut rows = Vec::new();
    for round in 1..=rounds {
        let rusm_side = async {
            tokio::time::sleep(http_out::SETTLE).await;
            http_out::rusm(&no_reuse, &wat, addr, guests, per_guest).await
        };
        let raw_side = async {
            tokio::time::sleep(http_out::SETTLE).await;
            http_out::raw(&r, &wat, guests, per_guest).await
        };
        let (a, b) = if round % 2 == 1 {
            let a = rusm_side.await?;
            (a, raw_side.await?)
        } else {
            let b = raw_side.await?;
            (rusm_side.await?, b)
        };
        rows.push((round, a, b));
        ours = ours.max(a);
        raw = raw.max(b);
    }
    let mut ratios: Vec<f64> = rows.iter().map(|(_, a, b)| a / b).collect();
    ratios.sort_by(f64::total_cmp);
    let median = ratios[ratios.len() / 2];
    let base = "raw wasmtime-wasi-http, default send_request";
    let mut report = Report::new("http-out-fresh", "requests/s", ours, true)
        .baseline(base, raw)
        .target(report::Target::Ratio(base, 0.9))
        .extra("median_round_ratio", (median * 1000.0).round() / 1000.0)
        .extra("guests", guests as f64)
        .extra("requests_per_guest", per_guest as f64);
    for (round, a, b) in rows {
        let first = if round % 2 == 1 {
            "rusm first"
        } else {
            "raw first"
        };
        report = report
            .row(format!("round {round} ({first}), rusm"), a, "requests/s")
            .row(format!("round {round} ({first}), raw"), b, "requests/s");
    }
    Ok(report.note(format!(
        "{guests} components at once, each {per_guest} sequential GETs to a local hyper server, \
         each response dropped unread; a new connection per request on both sides (rusm: \
         max_idle_connections 0); each side starts {settle:?} after the other, when every \
         client port in TIME_WAIT is reusable again (http_out::SETTLE), and rounds alternate \
         which side goes first; best of each",
        settle = http_out::SETTLE
    )))
}

/// http-out-fresh `--side rusm|raw --spawns N`: one side alone, warmed by
/// 80 requests, then N requests (4 components at once), for callgrind
/// (bench/instructions.sh `http-out-fresh`): the difference between two
/// sizes is the cost of one more request, the server included (the same
/// on both sides).
#[cfg(feature = "wasm")]
async fn http_out_fresh_side(side: Side, n: u64) -> anyhow::Result<Report> {
    let guests = 4;
    let per_guest = (n / guests).max(1);
    let addr = http_out::server().await?;
    let warm = http_out::component(addr, 20);
    let wat = http_out::component(addr, per_guest);
    let rate = if side.is_rusm()? {
        let r = no_reuse_runtime()?;
        http_out::rusm(&r, &warm, addr, guests, 20).await?;
        http_out::rusm(&r, &wat, addr, guests, per_guest).await?
    } else {
        let r = wasm::runtime(100)?;
        http_out::raw(&r, &warm, guests, 20).await?;
        http_out::raw(&r, &wat, guests, per_guest).await?
    };
    Ok(
        Report::new("http-out-fresh", "requests/s", rate, true).note(format!(
            "--side {side:?} alone: {guests} components, {per_guest} requests each, a new \
             connection per request; not a comparison"
        )),
    )
}

#[cfg(feature = "wasm")]
async fn wasm_scenario(scenario: Scenario, opts: RunOptions) -> anyhow::Result<Report> {
    use report::quantile_us;
    let quick = opts.quick;
    let q = |full: u64, small: u64| if quick { small } else { full };
    Ok(match scenario {
        Scenario::ModuleStorm | Scenario::ComponentStorm => {
            // Interleaved rounds, best of each side: this machine's speed
            // drifts by tens of percent within a minute, and a single
            // round of each would measure the drift as much as the code.
            // Two windows of live processes: 1,000 (the figure) and 100
            // (an extra), since the gap to the baseline grows with the
            // memory in flight on a busy host.
            let (n, rounds) = if quick { (10_000, 1) } else { (100_000, 3) };
            // (A profiler under valgrind cannot reserve 2,000 slots.)
            let r = wasm::runtime(if opts.side.is_some() {
                opts.window as u32 + 200
            } else {
                2_000
            })?;
            let component = scenario == Scenario::ComponentStorm;
            let (name, wat) = if component {
                ("component-storm", wasm::TRIVIAL_COMPONENT)
            } else {
                ("module-storm", wasm::TRIVIAL_MODULE)
            };
            let artifact = r.rt.load_bytes(name, wat.as_bytes())?;
            let raw_storm = |n, window| {
                let config = r.config.clone();
                async move {
                    if component {
                        wasm::raw_component_storm(&config, wat, n, window).await
                    } else {
                        wasm::raw_module_storm(&config, wat, n, window).await
                    }
                }
            };
            if let Some((side, n)) = opts.side {
                // Warmed as below, then one run of `n` with `--window` alive.
                let window = opts.window;
                let rate = if side.is_rusm()? {
                    wasm::rusm_storm(&r, &artifact, 2_000, window).await?;
                    wasm::rusm_storm(&r, &artifact, n, window).await?
                } else {
                    raw_storm(2_000, window).await?;
                    raw_storm(n, window).await?
                };
                return Ok(Report::new(name, "processes/s", rate, true).note(format!(
                    "--side {side:?} alone: {n} spawns, at most {window} alive; not a comparison"
                )));
            }
            // Warm both sides once (pool slots, lazily built InstancePre).
            wasm::rusm_storm(&r, &artifact, 2_000, 1_000).await?;
            raw_storm(2_000, 1_000).await?;
            let mut best = [[0f64; 2]; 2];
            for _ in 0..rounds {
                for (w, window) in [1_000, 100].into_iter().enumerate() {
                    let raw = raw_storm(n, window).await?;
                    let ours = wasm::rusm_storm(&r, &artifact, n, window).await?;
                    best[w][0] = best[w][0].max(ours);
                    best[w][1] = best[w][1].max(raw);
                }
            }
            let [[ours, raw], [ours_100, raw_100]] = best;
            Report::new(name, "processes/s", ours, true)
                .baseline("raw wasmtime (InstancePre, same engine settings)", raw)
                .extra("window_100_rusm", ours_100)
                .extra("window_100_raw", raw_100)
                .extra("window_100_ratio", ours_100 / raw_100)
                .note(format!(
                    "best of {rounds} interleaved rounds of {n} spawns, at most 1,000 alive (extras: 100 alive); each RUSM process also gets a pid, a mailbox and an exit watch"
                ))
        }
        Scenario::WasmPingPong => {
            // Best of interleaved rounds, as for the storms; latencies from
            // one more, timed, run.
            let (n, rounds) = if quick { (10_000, 1) } else { (200_000, 3) };
            let r = wasm::runtime(100)?;
            if let Some((side, n)) = opts.side {
                // One pair alone, after one warm-up round, for callgrind.
                let rate = if side.is_rusm()? {
                    wasm::wasm_ping_pong(&r, 1_000, false).await?;
                    wasm::wasm_ping_pong(&r, n, false).await?.0
                } else {
                    wasm::raw_wasm_ping_pong(&r.config, 1_000, wasm::RawCalls::Two).await?;
                    wasm::raw_wasm_ping_pong(&r.config, n, wasm::RawCalls::Two).await?
                };
                return Ok(
                    Report::new("wasm-ping-pong", "round trips/s", rate, true).note(format!(
                        "--side {side:?} alone: {n} round trips; not a comparison"
                    )),
                );
            }
            let (mut ours, mut native, mut raw, mut raw_contract) = (0f64, 0f64, 0f64, 0f64);
            for _ in 0..rounds {
                ours = ours.max(wasm::wasm_ping_pong(&r, n, false).await?.0);
                native = native.max(wasm::native_ping_pong(&r.node, n).await?);
                raw = raw.max(wasm::raw_wasm_ping_pong(&r.config, n, wasm::RawCalls::Two).await?);
                raw_contract = raw_contract
                    .max(wasm::raw_wasm_ping_pong(&r.config, n, wasm::RawCalls::Contract).await?);
            }
            let (_, lat) = wasm::wasm_ping_pong(&r, n, true).await?;
            let (mut fiber_park, mut native_park) = (f64::MAX, f64::MAX);
            for _ in 0..rounds {
                let (f, t) = wasm::park_floor_ns(&r.config, n)?;
                fiber_park = fiber_park.min(f);
                native_park = native_park.min(t);
            }
            Report::new("wasm-ping-pong", "round trips/s", ours, true)
                .baseline("native ping-pong", native)
                .baseline("raw wasmtime pair over tokio channels", raw)
                // Not a baseline: what the raw pair makes when its guests
                // make the host calls RUSM's guests make (the contract's
                // shape), to tell that cost from the mailbox's.
                .extra("raw_pair_contract_calls", raw_contract)
                .extra("ratio_raw_pair_contract_calls", ours / raw_contract)
                .extra("p50_us", quantile_us(&lat, 0.50))
                .extra("p99_us", quantile_us(&lat, 0.99))
                .extra("wasmtime_fiber_park_ns", fiber_park)
                .extra("native_park_ns", native_park)
                // A round trip is two waits, so no Wasm pair on these fibers
                // can beat native by less than two fiber surcharges, even
                // with free host calls and a free actor core.
                .extra(
                    "fiber_ceiling_ratio",
                    (1e9 / native) / (1e9 / native + 2.0 * (fiber_park - native_park)),
                )
                .note(format!(
                    "best of {rounds} interleaved rounds of {n} round trips between two Wasm processes through the ABI; latencies from a timed run; *_park_ns: one park and resume of a raw Wasmtime guest in an async import vs the same future awaited natively (best of {rounds}), the floor under every Wasm wait; fiber_ceiling_ratio: native's round trip over native's plus two fiber surcharges (fiber - native park), the best ratio any Wasm pair on these fibers could reach; raw_pair_contract_calls: the raw pair with its guests making the host calls RUSM's make (pong: recv, msg_tag, msg_sender, send; ping's recv on a tag list in memory), still over two channels"
                ))
        }
        Scenario::WasmIdleMemory => {
            let n = q(100_000, 10_000);
            let maps = wasm::raise_map_count(4 * n + 100_000);
            let r = wasm::runtime(n as u32 + 10)?;
            let (ours, native) = wasm::idle_memory(&r, n).await?;
            Report::new("wasm-idle-memory", "bytes/process", ours, false)
                .baseline("native process parked the same way", native)
                .note(format!(
                    "RSS delta with {n} Wasm processes parked in recv; {maps}"
                ))
        }
        Scenario::Fairness => {
            let n = q(20_000, 2_000);
            let r = wasm::runtime(100)?;
            let (_, idle) = wasm::wasm_ping_pong(&r, n, true).await?;
            let spin = wasm::spinners(&r, 4)?;
            tokio::time::sleep(Duration::from_millis(100)).await;
            let (_, loaded) = wasm::wasm_ping_pong(&r, n, true).await?;
            for p in spin {
                let _ = r.node.kill(p);
            }
            Report::new(
                "fairness",
                "p99 round trip us",
                quantile_us(&loaded, 0.99),
                false,
            )
            .baseline("p99 on an idle node", quantile_us(&idle, 0.99))
            .extra("p50_us_loaded", quantile_us(&loaded, 0.50))
            .extra("max_us_loaded", quantile_us(&loaded, 1.0))
            .note(format!(
                "{n} Wasm round trips while 4 guests spin in infinite loops"
            ))
        }
        Scenario::GuestPingPong => {
            let (n, rounds) = if quick { (10_000, 1) } else { (200_000, 3) };
            let guests = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../guests/wasm");
            let (module, component) = (
                guests.join("ping-pong.wasm"),
                guests.join("ping-pong.component.wasm"),
            );
            let (mut wat, mut rust, mut rust_component) = (0f64, 0f64, 0f64);
            for _ in 0..rounds {
                // A runtime per round: the guests register `ping` and `pong`.
                let r = wasm::runtime(100)?;
                wat = wat.max(wasm::wasm_ping_pong(&r, n, false).await?.0);
                rust = rust.max(wasm::guest_ping_pong(&r, &module, n).await?);
                let r = wasm::runtime(100)?;
                rust_component =
                    rust_component.max(wasm::guest_ping_pong(&r, &component, n).await?);
            }
            Report::new("guest-ping-pong", "round trips/s", rust, true)
                .baseline("WAT wasm-ping-pong", wat)
                .extra("component_round_trips_per_s", rust_component)
                .extra("component_vs_wat", rust_component / wat)
                .note(format!(
                    "best of {rounds} interleaved rounds of {n} round trips of the Rust ping-pong example (module; the component in the extras), timed spawn to exit"
                ))
        }
        _ => unreachable!("only Wasm scenarios are routed here"),
    })
}
