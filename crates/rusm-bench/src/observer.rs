//! What the observer costs the hot paths: `spawn-storm` and `ping-pong`
//! with the observer on, beside the same scenario with it off, in the same
//! build and the same run, rounds interleaved (on, off, on, off...).
//!
//! "On" is what `[observer]` makes of a node: accounting on (each exit's
//! usage retired into the totals), the observer's hooks in the lifecycle
//! (striped counters, the grants map on exit), and the observer listening
//! on 127.0.0.1 with its once-a-second sampler walking the processes.
//! Nobody requests a page during the run. "Off" is the node the core
//! scenarios use. The per-process figures (message counts, CPU time) are
//! the same on both: message counts are kept on every node, and CPU time
//! is counted by the Wasm backend's epoch callback, which runs with or
//! without an observer and not at all for these native bodies. The
//! target is on/off ≥ 0.97.
//!
//! The two sides of a round swap order from one round to the next (on
//! then off, off then on), so that neither always runs on a warmer (or
//! hotter) machine.

use std::sync::Arc;

use rusm_core::{ExitReason, Lifecycle, Node, NodeConfig, Pid, Usage};
use rusm_observer::{Hooks, ObserverConfig, RunningObserver};

use crate::core::{ExitWindow, IN_FLIGHT, rusm_ping_pong_on, rusm_spawn_storm_on};

/// Rounds per side: more than the core scenarios' three, because the
/// difference sought (3%) is smaller than what a shared machine's noise
/// does to one round. Each round runs both sides back to back.
fn rounds(quick: bool) -> usize {
    if quick { 1 } else { 9 }
}

/// The on/off ratios of each round's back-to-back pair, sorted.
fn pair_ratios(pairs: &[(f64, f64)]) -> Vec<f64> {
    let mut r: Vec<f64> = pairs.iter().map(|(on, off)| on / off).collect();
    r.sort_by(f64::total_cmp);
    r
}

/// The median of the paired ratios (a figure a burst of noise in one round
/// does not move) and their spread, lowest and highest.
fn with_pair_ratios(report: Report, pairs: &[(f64, f64)]) -> Report {
    let r = pair_ratios(pairs);
    report
        .extra("median_pair_ratio", r[r.len() / 2])
        .extra("min_pair_ratio", r[0])
        .extra("max_pair_ratio", r[r.len() - 1])
}

/// Run one round's two sides, `on` first in even rounds and `off` first in
/// odd ones; (on, off).
async fn pair<A, B>(round: usize, on: A, off: B) -> anyhow::Result<(f64, f64)>
where
    A: AsyncFnOnce() -> anyhow::Result<f64>,
    B: AsyncFnOnce() -> anyhow::Result<f64>,
{
    if round.is_multiple_of(2) {
        let a = on().await?;
        Ok((a, off().await?))
    } else {
        let b = off().await?;
        Ok((on().await?, b))
    }
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
    for round in 0..rounds(quick) {
        let observed = async || {
            let window = Arc::new(ExitWindow::default());
            let (node, running) = observed_node(Some(window.clone())).await?;
            let rate = rusm_spawn_storm_on(total, IN_FLIGHT, node, window).await;
            drop(running);
            Ok(rate)
        };
        let plain = async || {
            let window = Arc::new(ExitWindow::default());
            let node = Node::new(NodeConfig {
                lifecycle: Some(window.clone()),
                ..NodeConfig::default()
            });
            Ok(rusm_spawn_storm_on(total, IN_FLIGHT, node, window).await)
        };
        let (a, b) = pair(round, observed, plain).await?;
        (on, off) = (on.max(a), off.max(b));
        pairs.push((a, b));
    }
    let report = Report::new("observer-storm", "processes/s", on, true)
        .baseline("observer off", off)
        .target(Target::Ratio("observer off", 0.97))
        .note(format!(
            "spawn-storm ({total} empty processes, at most {IN_FLIGHT} alive) with the observer on: accounting, its lifecycle hooks, its listener and sampler; best of {} interleaved rounds (on, off, alternating which goes first); median/min/max_pair_ratio: each round's on/off",
            rounds(quick)
        ));
    Ok(with_pair_ratios(report, &pairs))
}

pub(crate) async fn ping_pong(quick: bool) -> anyhow::Result<Report> {
    let n: u64 = if quick { 20_000 } else { 500_000 };
    let (mut on, mut off, mut pairs) = (0f64, 0f64, Vec::new());
    for round in 0..rounds(quick) {
        let observed = async || {
            let (node, running) = observed_node(None).await?;
            let rate = rusm_ping_pong_on(node, n).await.0;
            drop(running);
            Ok(rate)
        };
        let plain = async || {
            Ok(rusm_ping_pong_on(Node::new(NodeConfig::default()), n)
                .await
                .0)
        };
        let (a, b) = pair(round, observed, plain).await?;
        (on, off) = (on.max(a), off.max(b));
        pairs.push((a, b));
    }
    let report = Report::new("observer-ping-pong", "round trips/s", on, true)
        .baseline("observer off", off)
        .target(Target::Ratio("observer off", 0.97))
        .note(format!(
            "ping-pong ({n} round trips, selective receive) with the observer on: accounting, hooks, listener and sampler (messages are counted on every node; no per-poll meter); best of {} interleaved rounds (on, off, alternating which goes first); median/min/max_pair_ratio: each round's on/off",
            rounds(quick)
        ));
    Ok(with_pair_ratios(report, &pairs))
}

/// One side alone, once (`--side on|off`): `n` processes of the storm or
/// `n` round trips of the ping-pong, for an instruction-level profiler
/// (bench/instructions.sh), which the noise of a shared host does not move.
/// Not a comparison. (`--side` exists with the `wasm` feature only.)
#[cfg(feature = "wasm")]
pub(crate) async fn one_side(storm: bool, on: bool, n: u64) -> anyhow::Result<Report> {
    let (name, unit) = if storm {
        ("observer-storm", "processes/s")
    } else {
        ("observer-ping-pong", "round trips/s")
    };
    let rate = if storm {
        let window = Arc::new(ExitWindow::default());
        if on {
            let (node, running) = observed_node(Some(window.clone())).await?;
            let rate = rusm_spawn_storm_on(n, IN_FLIGHT, node, window).await;
            drop(running);
            rate
        } else {
            let node = Node::new(NodeConfig {
                lifecycle: Some(window.clone()),
                ..NodeConfig::default()
            });
            rusm_spawn_storm_on(n, IN_FLIGHT, node, window).await
        }
    } else if on {
        let (node, running) = observed_node(None).await?;
        let rate = rusm_ping_pong_on(node, n).await.0;
        drop(running);
        rate
    } else {
        rusm_ping_pong_on(Node::new(NodeConfig::default()), n)
            .await
            .0
    };
    let side = if on { "on" } else { "off" };
    Ok(Report::new(name, unit, rate, true).note(format!(
        "--side {side} alone: {n} (processes or round trips); not a comparison"
    )))
}
