//! The actor-core scenarios, on native Rust bodies, each beside baselines
//! measured in the same run:
//!
//! - `spawn-storm`: processes spawned and exited per second, trivial
//!   bodies, a bounded window in flight; beside bare `tokio::spawn` + join
//!   and the BEAM.
//! - `ping-pong`: round trips per second between two processes (send +
//!   selective receive), with latency quantiles; beside a pair of tokio
//!   channels and the BEAM.
//! - `fault-recovery`: crashed-and-restarted children per second under a
//!   one-for-one supervisor; beside the same child spawned, crashed and
//!   waited for in a loop with no supervisor.
//! - `idle-memory`: resident bytes per process parked in receive; beside
//!   the BEAM and a bare tokio task parked the same way.
//!
//! Rates are best of three interleaved rounds (one with `--quick`): a noisy
//! neighbour on a shared machine then hurts every column alike instead of
//! whichever ran last.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rusm_core::{
    ChildSpec, Ctx, ExitReason, Lifecycle, Node, NodeConfig, Pid, Restart, SpawnOptions, Strategy,
    SupervisorSpec,
};
use tokio::sync::Notify;

use crate::report::{Report, Target, quantile_us};

/// Processes alive at once in a storm, on every side (BEAM included).
pub(crate) const IN_FLIGHT: u32 = 10_000;

/// A storm's driver waits for exits this many at a time, so that it is
/// woken once per batch rather than once per exit.
const BATCH: u32 = 500;

pub(crate) fn rounds(quick: bool) -> usize {
    if quick { 1 } else { 3 }
}

pub(crate) async fn spawn_storm(quick: bool) -> anyhow::Result<Report> {
    let total: u64 = if quick { 50_000 } else { 1_000_000 };
    let (mut ours, mut tokio, mut beam) = (0f64, 0f64, None);
    for _ in 0..rounds(quick) {
        ours = ours.max(rusm_spawn_storm(total, IN_FLIGHT).await);
        tokio = tokio.max(tokio_spawn_storm(total, IN_FLIGHT).await);
        beam = Some(best(
            beam,
            beam_figure(&["spawn-storm", &total.to_string(), &IN_FLIGHT.to_string()]),
        ));
    }
    let report =
        Report::new("spawn-storm", "processes/s", ours, true).baseline("tokio::spawn+join", tokio);
    Ok(with_beam(report, beam)
        .target(Target::Ratio("BEAM", 2.0))
        .note(format!(
            "{total} processes with empty bodies, at most {IN_FLIGHT} alive at once, counted when their exit procedure has run; best of {} interleaved rounds",
            rounds(quick)
        )))
}

pub(crate) async fn ping_pong(quick: bool) -> anyhow::Result<Report> {
    let n: u64 = if quick { 20_000 } else { 500_000 };
    let (mut ours, mut latencies, mut tokio, mut beam) = (0f64, Vec::new(), 0f64, None);
    for _ in 0..rounds(quick) {
        let (rate, l) = rusm_ping_pong(n).await;
        if rate > ours {
            (ours, latencies) = (rate, l);
        }
        tokio = tokio.max(tokio_ping_pong(n).await);
        beam = Some(best(beam, beam_figure(&["ping-pong", &n.to_string()])));
    }
    let report =
        Report::new("ping-pong", "round trips/s", ours, true).baseline("tokio mpsc pair", tokio);
    Ok(with_beam(report, beam)
        .extra("p50_us", quantile_us(&latencies, 0.50))
        .extra("p99_us", quantile_us(&latencies, 0.99))
        .target(Target::Ratio("BEAM", 1.2))
        .note(format!(
            "{n} round trips; each sends with the round's tag and waits for the reply with a selective receive on it; latencies of every {TIME_EVERY}th round trip of rusm's best round; best of {} interleaved rounds",
            rounds(quick)
        )))
}

pub(crate) async fn fault_recovery(quick: bool) -> anyhow::Result<Report> {
    let d = if quick {
        Duration::from_millis(500)
    } else {
        Duration::from_secs(2)
    };
    let (mut ours, mut base) = (0f64, 0f64);
    for _ in 0..rounds(quick) {
        ours = ours.max(supervised_restarts(d).await);
        base = base.max(unsupervised_crash_loop(d).await);
    }
    Ok(
        Report::new("fault-recovery", "restarts/s", ours, true)
            .baseline("unsupervised spawn+crash+down loop", base)
            .note("one child that crashes as soon as it runs, under a one-for-one supervisor whose intensity never runs out; a restart is counted when the crash's exit procedure has run")
            .note("the baseline is no supervision at all: one process spawns the same crashing child with a monitor and waits for its down, in a loop, so the ratio is what supervision costs")
            .note(format!("{:?} per side, best of {} interleaved rounds", d, rounds(quick))),
    )
}

pub(crate) async fn idle_memory(quick: bool) -> anyhow::Result<Report> {
    let n: u64 = if quick { 100_000 } else { 1_000_000 };
    let IdleMemory { per, alive, tokio } = measure_idle_memory(n).await?;
    let beam = beam_figures(&["idle-memory", &n.to_string()]);
    let mut report = Report::new("idle-memory", "bytes/process", per, false);
    match beam.and_then(|f| Ok((figure(&f, "value").map_err(|e| e.to_string())?, f))) {
        Ok((value, figures)) => {
            report = report.baseline("BEAM", value);
            if let Ok(rss) = figure(&figures, "rss") {
                report = report.row("BEAM, RSS delta instead", rss, "bytes/process");
            }
        }
        Err(why) => report = report.note(why),
    }
    Ok(report
        .baseline("bare tokio task parked on a Notify", tokio)
        .extra("processes_alive", alive as f64)
        .target(Target::AtMost(1024.0))
        .note(format!(
            "RSS delta (/proc/self/statm) with {n} processes alive at once, each parked in a selective receive; Node::live() = {alive}"
        ))
        .note("the BEAM figure is erlang:memory(total) before and after spawning as many processes parked in `receive` (erl +P 4000000)")
        .note("the tokio tasks are spawned and measured while the processes are still parked, so neither figure reuses memory the other freed"))
}

/// Counts exits, and wakes a storm's driver when a count it waits for is
/// reached: one atomic add and one load per exit, about what joining a
/// tokio task costs, so the measurement weighs on neither side.
#[derive(Default)]
pub(crate) struct ExitWindow {
    exits: AtomicU64,
    /// The count the driver waits for.
    target: AtomicU64,
    reached: Notify,
}

impl Lifecycle for ExitWindow {
    fn exited(&self, _pid: Pid, _name: Option<&str>, _reason: &ExitReason) {
        let n = self.exits.fetch_add(1, Ordering::SeqCst) + 1;
        if n == self.target.load(Ordering::SeqCst) {
            self.reached.notify_one();
        }
    }
}

impl ExitWindow {
    async fn wait_for_exits(&self, at_least: u64) {
        loop {
            // Publish the target before checking the count: either the
            // check sees the exit that reaches it, or that exit sees the
            // target and notifies (a stale notification only loops once).
            self.target.store(at_least, Ordering::SeqCst);
            let reached = self.reached.notified();
            tokio::pin!(reached);
            reached.as_mut().enable();
            if self.exits.load(Ordering::SeqCst) >= at_least {
                return;
            }
            reached.await;
        }
    }
}

/// Processes spawned and exited per second, at most `in_flight` alive.
pub(crate) async fn rusm_spawn_storm(total: u64, in_flight: u32) -> f64 {
    let window = Arc::new(ExitWindow::default());
    let node = Node::new(NodeConfig {
        lifecycle: Some(window.clone()),
        ..NodeConfig::default()
    });
    rusm_spawn_storm_on(total, in_flight, node, window).await
}

/// [`rusm_spawn_storm`] on `node`, whose lifecycle tells `window` of
/// every exit (the observer benchmark's node, with accounting and hooks).
pub(crate) async fn rusm_spawn_storm_on(
    total: u64,
    in_flight: u32,
    node: Node,
    window: Arc<ExitWindow>,
) -> f64 {
    let start = Instant::now();
    let mut spawned = 0;
    while spawned < total {
        let k = (total - spawned).min(u64::from(BATCH));
        window
            .wait_for_exits((spawned + k).saturating_sub(u64::from(in_flight)))
            .await;
        for _ in 0..k {
            node.spawn(SpawnOptions::new(), |_| async {})
                .expect("the node has no process limit");
        }
        spawned += k;
    }
    window.wait_for_exits(total).await;
    total as f64 / start.elapsed().as_secs_f64()
}

/// The same storm as bare `tokio::spawn`, joining the oldest handles as
/// the window fills.
pub(crate) async fn tokio_spawn_storm(total: u64, in_flight: u32) -> f64 {
    let mut running = VecDeque::with_capacity(in_flight as usize);
    let start = Instant::now();
    for _ in 0..total {
        if running.len() == in_flight as usize {
            for h in running.drain(..BATCH as usize) {
                let h: tokio::task::JoinHandle<()> = h;
                h.await.expect("an empty task cannot fail");
            }
        }
        running.push_back(tokio::spawn(async {}));
    }
    for h in running {
        h.await.expect("an empty task cannot fail");
    }
    total as f64 / start.elapsed().as_secs_f64()
}

/// Every this many round trips, one is timed: reading the clock twice a
/// round would cost a fifth of a same-worker round trip here, a cost the
/// baselines do not pay.
const TIME_EVERY: u64 = 16;

/// Round trips per second between two processes, and the latency in
/// nanoseconds of every `TIME_EVERY`-th round trip.
pub(crate) async fn rusm_ping_pong(rounds: u64) -> (f64, Vec<u64>) {
    rusm_ping_pong_on(Node::new(NodeConfig::default()), rounds).await
}

/// [`rusm_ping_pong`] on `node`.
pub(crate) async fn rusm_ping_pong_on(node: Node, rounds: u64) -> (f64, Vec<u64>) {
    let pong = node
        .spawn(SpawnOptions::new(), |ctx| async move {
            loop {
                let m = ctx.receive_any().await;
                let _ = ctx.send(m.sender, m.tag, Vec::new());
            }
        })
        .expect("the node has no process limit");
    let (tx, rx) = tokio::sync::oneshot::channel();
    let start = Instant::now();
    node.spawn(SpawnOptions::new(), move |ctx| async move {
        let mut latencies = Vec::with_capacity((rounds / TIME_EVERY + 1) as usize);
        for round in 0..rounds {
            let timed = round % TIME_EVERY == 0;
            let t = timed.then(Instant::now);
            let tag = round as i64;
            ctx.send(pong, tag, Vec::new())
                .expect("pong runs until killed");
            ctx.receive(&[tag], None).await.expect("no timeout was set");
            if let Some(t) = t {
                latencies.push(t.elapsed().as_nanos() as u64);
            }
        }
        let _ = tx.send(latencies);
    })
    .expect("the node has no process limit");
    let latencies = rx.await.expect("ping sends its latencies before it ends");
    let rate = rounds as f64 / start.elapsed().as_secs_f64();
    let _ = node.kill(pong);
    (rate, latencies)
}

/// The same round trips over a pair of unbounded tokio channels between
/// two tasks.
pub(crate) async fn tokio_ping_pong(rounds: u64) -> f64 {
    let (to_pong, mut pong_rx) = tokio::sync::mpsc::unbounded_channel::<u64>();
    let (to_ping, mut ping_rx) = tokio::sync::mpsc::unbounded_channel::<u64>();
    tokio::spawn(async move {
        while let Some(i) = pong_rx.recv().await {
            if to_ping.send(i).is_err() {
                break;
            }
        }
    });
    let start = Instant::now();
    let ping = tokio::spawn(async move {
        for i in 0..rounds {
            to_pong
                .send(i)
                .expect("pong runs while ping holds its sender");
            let reply = ping_rx.recv().await;
            assert_eq!(reply, Some(i), "pong answers in order");
        }
    });
    ping.await.expect("ping does not panic");
    rounds as f64 / start.elapsed().as_secs_f64()
}

/// Counts crashes, for the supervisor's restart rate.
#[derive(Default)]
struct CrashCounter {
    crashes: AtomicU64,
}

impl Lifecycle for CrashCounter {
    fn exited(&self, _pid: Pid, _name: Option<&str>, reason: &ExitReason) {
        if matches!(reason, ExitReason::Crashed(_)) {
            self.crashes.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Crashed-and-restarted children per second under a one-for-one
/// supervisor, over `duration`.
pub(crate) async fn supervised_restarts(duration: Duration) -> f64 {
    let counter = Arc::new(CrashCounter::default());
    let node = Node::new(NodeConfig {
        lifecycle: Some(counter.clone()),
        ..NodeConfig::default()
    });
    let spec = SupervisorSpec::new(Strategy::OneForOne, u32::MAX, Duration::from_secs(1)).child(
        ChildSpec::new("crasher", Restart::Permanent, |ctx: &Ctx, options| {
            ctx.spawn(options, |_| async { Err::<(), _>("on purpose") })
        }),
    );
    let sup = spec
        .spawn(&node, SpawnOptions::new())
        .expect("the node has no process limit");
    tokio::time::sleep(Duration::from_millis(50)).await;
    let c0 = counter.crashes.load(Ordering::Relaxed);
    let t0 = Instant::now();
    tokio::time::sleep(duration).await;
    let n = counter.crashes.load(Ordering::Relaxed) - c0;
    let rate = n as f64 / t0.elapsed().as_secs_f64();
    assert!(
        node.is_alive(sup),
        "the supervisor gave up despite its unbounded intensity"
    );
    node.shutdown(Duration::from_secs(5)).await;
    rate
}

/// The baseline: one parent spawning the same crashing child with a
/// monitor and waiting for its `down`, in a loop, with no supervisor.
pub(crate) async fn unsupervised_crash_loop(duration: Duration) -> f64 {
    let node = Node::new(NodeConfig::default());
    let (tx, rx) = tokio::sync::oneshot::channel();
    node.spawn(SpawnOptions::new(), move |ctx| async move {
        let t0 = Instant::now();
        let mut n = 0u64;
        while t0.elapsed() < duration {
            let r = ctx.make_ref();
            ctx.spawn(SpawnOptions::new().monitor(r), |_| async {
                Err::<(), _>("on purpose")
            })
            .expect("the node has no process limit");
            ctx.receive(&[r], None).await.expect("no timeout was set");
            n += 1;
        }
        let _ = tx.send(n as f64 / t0.elapsed().as_secs_f64());
    })
    .expect("the node has no process limit");
    rx.await.expect("the loop sends its rate before it ends")
}

/// Resident set size of this process, in bytes.
pub(crate) fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    // The kernel's page size on every machine these benchmarks run on;
    // asking sysconf would need libc for one constant.
    pages * 4096
}

/// Processes that have run into their receive, counted in a static so that
/// the count costs the parked processes no memory of their own.
static PARKED: AtomicU64 = AtomicU64::new(0);

async fn park(ctx: Ctx) {
    PARKED.fetch_add(1, Ordering::Relaxed);
    let _ = ctx.receive(&[i64::MIN], None).await;
}

/// Hand memory that glibc's malloc retains back to the kernel, so that an
/// RSS delta measures new pages rather than the reuse of retained ones.
/// (Rust's allocations go to the global allocator, mimalloc, whose freed
/// pages are purged on their own; this covers what still uses glibc.)
fn trim_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        unsafe extern "C" {
            // glibc: release free heap memory; callable at any time.
            safe fn malloc_trim(pad: usize) -> i32;
        }
        malloc_trim(0);
    }
}

async fn wait_for(counter: &AtomicU64, n: u64) {
    while counter.load(Ordering::Relaxed) < n {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

struct IdleMemory {
    /// Resident bytes per rusm process.
    per: f64,
    /// What the node counted alive while they were parked.
    alive: u64,
    /// Resident bytes per bare tokio task.
    tokio: f64,
}

/// Resident bytes per process with `n` processes parked in receive, then
/// per bare tokio task with `n` more parked on top of them. Both sets are
/// alive when the second is measured, so neither can reuse memory the
/// other freed, whatever the allocator keeps.
async fn measure_idle_memory(n: u64) -> anyhow::Result<IdleMemory> {
    // Warm the allocator, the runtime and the table first.
    let warm = Node::new(NodeConfig::default());
    for _ in 0..1000 {
        warm.spawn(SpawnOptions::new(), park)?;
    }
    warm.shutdown(Duration::from_secs(5)).await;

    let node = Node::new(NodeConfig::default());
    PARKED.store(0, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(200)).await;
    trim_heap();
    let before = resident_bytes();
    for _ in 0..n {
        node.spawn(SpawnOptions::new(), park)?;
    }
    wait_for(&PARKED, n).await;
    // The last ones finish the poll that parks them.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let with_processes = resident_bytes();
    let per = with_processes.saturating_sub(before) as f64 / n as f64;
    let alive = node.live();
    anyhow::ensure!(
        alive == n && node.stats().processes as u64 == n,
        "expected {n} processes alive, the node counts {alive} ({} in its table)",
        node.stats().processes
    );

    let parked = Arc::new(AtomicU64::new(0));
    let release = Arc::new(Notify::new());
    for _ in 0..n {
        let (parked, release) = (parked.clone(), release.clone());
        tokio::spawn(async move {
            let notified = release.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            parked.fetch_add(1, Ordering::Relaxed);
            notified.await;
        });
    }
    wait_for(&parked, n).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let tokio = resident_bytes().saturating_sub(with_processes) as f64 / n as f64;
    release.notify_waiters();

    let killed = node.shutdown(Duration::from_secs(60)).await;
    anyhow::ensure!(killed == 0, "{killed} parked processes ignored shutdown");
    Ok(IdleMemory { per, alive, tokio })
}

/// Our figure beside the BEAM's, or a note saying why the BEAM's is missing.
fn with_beam(report: Report, beam: Option<Result<f64, String>>) -> Report {
    match beam {
        Some(Ok(b)) => report.baseline("BEAM", b),
        Some(Err(why)) => report.note(why),
        None => report,
    }
}

/// The better of two rates, and any rate over a failure.
fn best(a: Option<Result<f64, String>>, b: Result<f64, String>) -> Result<f64, String> {
    match (a, b) {
        (Some(Ok(x)), Ok(y)) => Ok(x.max(y)),
        (Some(Ok(x)), Err(_)) | (_, Ok(x)) => Ok(x),
        (_, Err(e)) => Err(e),
    }
}

fn beam_figure(args: &[&str]) -> Result<f64, String> {
    let figures = beam_figures(args)?;
    figure(&figures, "value").map_err(|e| e.to_string())
}

fn figure(figures: &[(String, f64)], name: &str) -> anyhow::Result<f64> {
    figures
        .iter()
        .find(|(n, _)| n == name)
        .map(|&(_, v)| v)
        .ok_or_else(|| anyhow::anyhow!("the BEAM script printed no `{name}` figure"))
}

/// Run one scenario of `bench/beam/rusm_bench.escript` and read the
/// `name number` lines it prints. `Err` says why there is no BEAM figure.
fn beam_figures(args: &[&str]) -> Result<Vec<(String, f64)>, String> {
    if !on_path("erl") {
        return Err("the BEAM baseline was skipped: `erl` is not on PATH (install it with `apt-get install erlang-base`)".into());
    }
    let script = beam_script();
    let out = Command::new("escript")
        .arg(&script)
        .args(args)
        .output()
        .map_err(|e| {
            format!("the BEAM baseline was skipped: could not run `escript {}`: {e} (it comes with `apt-get install erlang-base`)", script.display())
        })?;
    if !out.status.success() {
        return Err(format!(
            "the BEAM baseline failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let figures: Vec<(String, f64)> = text
        .lines()
        .filter_map(|l| {
            let (name, v) = l.trim().split_once(' ')?;
            Some((name.to_string(), v.trim().parse().ok()?))
        })
        .collect();
    if figures.is_empty() {
        return Err(format!("the BEAM script printed no figure: {text}"));
    }
    Ok(figures)
}

/// `bench/beam/rusm_bench.escript` in the source tree this binary was built
/// from, unless `RUSM_BENCH_BEAM` names another copy.
fn beam_script() -> PathBuf {
    std::env::var_os("RUSM_BENCH_BEAM")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bench/beam/rusm_bench.escript")
        })
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}
