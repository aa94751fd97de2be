//! The actor-core scenarios, on native Rust bodies.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rusm_core::{
    ChildSpec, Ctx, ExitReason, Lifecycle, Node, NodeConfig, Pid, Restart, SpawnOptions, Strategy,
    SupervisorSpec,
};

/// Counts exits, so a storm can keep a bounded number in flight without
/// any per-process bookkeeping of its own.
#[derive(Default)]
pub struct ExitCounter {
    pub exits: AtomicU64,
    pub crashes: AtomicU64,
}

impl Lifecycle for ExitCounter {
    fn exited(&self, _pid: Pid, _name: Option<&str>, reason: &ExitReason) {
        if matches!(reason, ExitReason::Crashed(_)) {
            self.crashes.fetch_add(1, Ordering::Relaxed);
        }
        self.exits.fetch_add(1, Ordering::Relaxed);
    }
}

pub fn counted_node() -> (Node, Arc<ExitCounter>) {
    let counter = Arc::new(ExitCounter::default());
    let node = Node::new(NodeConfig {
        lifecycle: Some(counter.clone()),
        ..NodeConfig::default()
    });
    (node, counter)
}

async fn wait_until(counter: &AtomicU64, at_least: u64) {
    while counter.load(Ordering::Relaxed) < at_least {
        tokio::task::yield_now().await;
    }
}

/// Processes spawned and exited per second, at most `in_flight` alive.
pub async fn rusm_spawn_storm(total: u64, in_flight: u64) -> f64 {
    let (node, counter) = counted_node();
    let start = Instant::now();
    for i in 0..total {
        if i >= in_flight {
            wait_until(&counter.exits, i - in_flight).await;
        }
        node.spawn(SpawnOptions::new(), |_| async {})
            .expect("spawn");
    }
    wait_until(&counter.exits, total).await;
    total as f64 / start.elapsed().as_secs_f64()
}

/// The same storm as bare `tokio::spawn` + join.
pub async fn tokio_spawn_storm(total: u64, in_flight: u64) -> f64 {
    let done = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    for i in 0..total {
        if i >= in_flight {
            wait_until(&done, i - in_flight).await;
        }
        let done = done.clone();
        drop(tokio::spawn(async move {
            done.fetch_add(1, Ordering::Relaxed);
        }));
    }
    wait_until(&done, total).await;
    total as f64 / start.elapsed().as_secs_f64()
}

/// Round trips per second between two processes, and every round trip's
/// latency in nanoseconds.
pub async fn rusm_ping_pong(rounds: u64) -> (f64, Vec<u64>) {
    let node = Node::new(NodeConfig::default());
    let pong = node
        .spawn(SpawnOptions::new(), |ctx| async move {
            loop {
                let m = ctx.receive_any().await;
                let _ = ctx.send(m.sender, m.tag, Vec::new());
            }
        })
        .expect("spawn pong");
    let (tx, rx) = tokio::sync::oneshot::channel();
    let start = Instant::now();
    node.spawn(SpawnOptions::new(), move |ctx| async move {
        let mut lat = Vec::with_capacity(rounds as usize);
        for i in 0..rounds as i64 {
            let t = Instant::now();
            ctx.send(pong, i, Vec::new()).expect("pong alive");
            ctx.receive(&[i], None).await.expect("reply");
            lat.push(t.elapsed().as_nanos() as u64);
        }
        let _ = tx.send(lat);
    })
    .expect("spawn ping");
    let lat = rx.await.expect("latencies");
    let rate = rounds as f64 / start.elapsed().as_secs_f64();
    let _ = node.kill(pong);
    (rate, lat)
}

/// The same round trips over a pair of tokio channels.
pub async fn tokio_ping_pong(rounds: u64) -> f64 {
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
            to_pong.send(i).expect("pong alive");
            ping_rx.recv().await.expect("reply");
        }
    });
    ping.await.expect("ping");
    rounds as f64 / start.elapsed().as_secs_f64()
}

/// Crashed-and-restarted children per second under a one-for-one
/// supervisor, over `duration`.
pub async fn fault_recovery(duration: Duration) -> f64 {
    let (node, counter) = counted_node();
    let spec = SupervisorSpec::new(Strategy::OneForOne, u32::MAX, Duration::from_secs(1)).child(
        ChildSpec::new("crasher", Restart::Permanent, |ctx: &Ctx, options| {
            ctx.spawn(options, |_| async { Err::<(), _>("on purpose") })
        }),
    );
    let sup = spec.spawn(&node, SpawnOptions::new()).expect("supervisor");
    tokio::time::sleep(Duration::from_millis(50)).await;
    let c0 = counter.crashes.load(Ordering::Relaxed);
    let t0 = Instant::now();
    tokio::time::sleep(duration).await;
    let n = counter.crashes.load(Ordering::Relaxed) - c0;
    let rate = n as f64 / t0.elapsed().as_secs_f64();
    let _ = node.kill(sup);
    rate
}

/// The baseline: one parent spawning the same crashing child and waiting
/// for its exit, in a loop, with no supervisor.
pub async fn unsupervised_crash_loop(duration: Duration) -> f64 {
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
            .expect("spawn");
            ctx.receive(&[r], None).await.expect("down");
            n += 1;
        }
        let _ = tx.send(n as f64 / t0.elapsed().as_secs_f64());
    })
    .expect("spawn");
    rx.await.expect("rate")
}

pub fn resident_bytes() -> u64 {
    crate::wasm::resident_bytes()
}

/// Resident bytes per process with `n` processes parked in receive.
pub async fn idle_memory(n: u64) -> (f64, u64) {
    let node = Node::new(NodeConfig::default());
    // Warm the allocator and the runtime first.
    let warm: Vec<Pid> = (0..1000)
        .map(|_| node.spawn(SpawnOptions::new(), park).expect("spawn"))
        .collect();
    for p in warm {
        let _ = node.kill(p);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before = resident_bytes();
    for _ in 0..n {
        node.spawn(SpawnOptions::new(), park).expect("spawn");
    }
    // Let every one of them run into its receive.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let per = resident_bytes().saturating_sub(before) as f64 / n as f64;
    let alive = node.live();
    node.shutdown(Duration::from_secs(30)).await;
    (per, alive)
}

async fn park(ctx: Ctx) {
    let _ = ctx.receive(&[i64::MIN], None).await;
}

/// Run one BEAM scenario through the escript in `bench/beam`, if `escript`
/// is installed. `Err` says why it was skipped.
pub fn beam(scenario: &str, n: u64) -> Result<f64, String> {
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../bench/beam/rusm_bench.escript");
    let out = Command::new("escript")
        .arg(&script)
        .arg(scenario)
        .arg(n.to_string())
        .output()
        .map_err(|e| format!("the BEAM baseline was skipped: `escript` not found ({e}); install it with `apt-get install erlang-base`"))?;
    if !out.status.success() {
        return Err(format!(
            "the BEAM run failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    text.trim()
        .lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .ok_or_else(|| format!("unexpected BEAM output: {text}"))
}
