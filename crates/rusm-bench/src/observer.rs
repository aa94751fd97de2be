//! What the observer costs the hot paths: `spawn-storm` and `ping-pong`
//! with the observer on, beside the same scenario with it off, in the same
//! build and the same run, rounds interleaved (on, off, on, off...).
//!
//! "On" is what `[observer]` makes of a node: accounting on (the CPU
//! clock, two relaxed loads per poll), the observer's hooks in the
//! lifecycle (striped counters, the grants map on exit), and the observer
//! listening on 127.0.0.1 with its once-a-second sampler walking the
//! processes. Nobody requests a page during the run. "Off" is the node the
//! core scenarios use. The target is on/off ≥ 0.97.

use std::sync::Arc;

use rusm_core::{ExitReason, Lifecycle, Node, NodeConfig, Pid, Usage};
use rusm_observer::{Hooks, ObserverConfig, RunningObserver};

use crate::core::{ExitWindow, IN_FLIGHT, rusm_ping_pong_on, rusm_spawn_storm_on};

/// Rounds per side: more than the core scenarios' three, because the
/// difference sought (3%) is smaller than what a shared machine's noise
/// does to one round. Each round runs on, then off, back to back.
fn rounds(quick: bool) -> usize {
    if quick { 1 } else { 7 }
}

/// The median of the on/off ratios of each round's back-to-back pair:
/// a figure a burst of noise in one round does not move.
fn median_pair_ratio(pairs: &[(f64, f64)]) -> f64 {
    let mut r: Vec<f64> = pairs.iter().map(|(on, off)| on / off).collect();
    r.sort_by(f64::total_cmp);
    r[r.len() / 2]
}
use crate::report::{Report, Target};

/// The benchmark's exit counter, then the observer's hooks: what
/// rusm-node's lifecycle does with `[observer]` (its log, then the hooks).
struct Both {
    first: Arc<dyn Lifecycle>,
    hooks: Arc<Hooks>,
}

impl Lifecycle for Both {
    fn spawned(&self, pid: Pid, name: Option<&str>) {
        self.first.spawned(pid, name);
    }
    fn exited(&self, pid: Pid, name: Option<&str>, reason: &ExitReason) {
        self.hooks.exited(pid, name, reason);
        self.first.exited(pid, name, reason);
    }
    fn retired(&self, pid: Pid, usage: &Usage) {
        self.hooks.retired(pid, usage);
    }
}

/// A node with the observer on, and its running listener.
async fn observed_node(
    first: Option<Arc<dyn Lifecycle>>,
) -> anyhow::Result<(Node, RunningObserver)> {
    let hooks = Hooks::new();
    let lifecycle: Arc<dyn Lifecycle> = match first {
        Some(first) => Arc::new(Both {
            first,
            hooks: hooks.clone(),
        }),
        None => hooks.clone(),
    };
    let node = Node::new(NodeConfig {
        lifecycle: Some(lifecycle),
        accounting: true,
        ..NodeConfig::default()
    });
    let config = ObserverConfig::new("127.0.0.1:0".parse()?, "bench-token".into());
    let running = rusm_observer::start(node.clone(), hooks, config).await?;
    Ok((node, running))
}

pub(crate) async fn storm(quick: bool) -> anyhow::Result<Report> {
    let total: u64 = if quick { 50_000 } else { 1_000_000 };
    let (mut on, mut off, mut pairs) = (0f64, 0f64, Vec::new());
    for _ in 0..rounds(quick) {
        let window = Arc::new(ExitWindow::default());
        let (node, running) = observed_node(Some(window.clone())).await?;
        let a = rusm_spawn_storm_on(total, IN_FLIGHT, node, window).await;
        drop(running);
        let window = Arc::new(ExitWindow::default());
        let node = Node::new(NodeConfig {
            lifecycle: Some(window.clone()),
            ..NodeConfig::default()
        });
        let b = rusm_spawn_storm_on(total, IN_FLIGHT, node, window).await;
        (on, off) = (on.max(a), off.max(b));
        pairs.push((a, b));
    }
    Ok(Report::new("observer-storm", "processes/s", on, true)
        .baseline("observer off", off)
        .extra("median_pair_ratio", median_pair_ratio(&pairs))
        .target(Target::Ratio("observer off", 0.97))
        .note(format!(
            "spawn-storm ({total} empty processes, at most {IN_FLIGHT} alive) with the observer on: accounting, its lifecycle hooks, its listener and sampler; best of {} interleaved rounds (on, off); median_pair_ratio is the median of each round's on/off",
            rounds(quick)
        )))
}

pub(crate) async fn ping_pong(quick: bool) -> anyhow::Result<Report> {
    let n: u64 = if quick { 20_000 } else { 500_000 };
    let (mut on, mut off, mut pairs) = (0f64, 0f64, Vec::new());
    for _ in 0..rounds(quick) {
        let (node, running) = observed_node(None).await?;
        let a = rusm_ping_pong_on(node, n).await.0;
        drop(running);
        let b = rusm_ping_pong_on(Node::new(NodeConfig::default()), n)
            .await
            .0;
        (on, off) = (on.max(a), off.max(b));
        pairs.push((a, b));
    }
    Ok(Report::new("observer-ping-pong", "round trips/s", on, true)
        .baseline("observer off", off)
        .extra("median_pair_ratio", median_pair_ratio(&pairs))
        .target(Target::Ratio("observer off", 0.97))
        .note(format!(
            "ping-pong ({n} round trips, selective receive) with the observer on: messages counted on both ends, CPU time sampled per poll; best of {} interleaved rounds (on, off); median_pair_ratio is the median of each round's on/off",
            rounds(quick)
        )))
}
