//! `is-alive`: what `is_alive` of a local pid costs, on a node outside a
//! cluster and on one in a cluster.
//!
//! Issue 18 lets a pid name a process of another node, whose liveness is
//! a round trip: in a cluster, `is_alive` (and process control) are async
//! imports, which box a future and block on it even for a local pid. On a
//! node outside a cluster they stay the synchronous calls they were. This
//! measures `is_alive(own pid)` in a tight guest loop on both kinds of
//! runtime, beside `cancel_timer`, a synchronous import of the same shape
//! (`i64 -> i32`, one table lookup), and `own_pid`, the cheapest import
//! there is; and the same for a component (`is-alive` beside
//! `cancel-timer`, both `u64 -> bool`).

use std::sync::Arc;
use std::time::Instant;

use rusm_core::Pid;
use rusm_wasm::{AbiError, BoxFuture, ClusterCalls};

use crate::wasm::{Runtime, runtime};

/// A guest calling `call` (an import `(param i64) (result i32)` fed its
/// own pid, or `own_pid` itself) `n` times.
fn looping(call: &str, n: u64) -> String {
    let (import, body) = match call {
        "own_pid" => (String::new(), "(drop (call $own_pid))".to_owned()),
        other => (
            format!(r#"(import "rusm" "{other}" (func $f (param i64) (result i32)))"#),
            "(drop (call $f (local.get $me)))".to_owned(),
        ),
    };
    format!(
        r#"(module
  (import "rusm" "own_pid" (func $own_pid (result i64)))
  {import}
  (memory (export "memory") 1)
  (func (export "run") (local $i i64) (local $me i64)
    (local.set $me (call $own_pid))
    (loop $l
      {body}
      (local.set $i (i64.add (local.get $i) (i64.const 1)))
      (br_if $l (i64.lt_u (local.get $i) (i64.const {n}))))))"#
    )
}

/// The same loop as a component: `call` is `is-alive` or `cancel-timer`
/// of `rusm:runtime/process` (both `u64 -> bool`), fed its own pid.
fn looping_component(call: &str, n: u64) -> String {
    format!(
        r#"(component
  (import "rusm:runtime/process@0.1.0" (instance $p
    (export "own-pid" (func (result u64)))
    (export "{call}" (func (param "x" u64) (result bool)))))
  (core func $own (canon lower (func $p "own-pid")))
  (core func $f (canon lower (func $p "{call}")))
  (core instance $imports (export "own-pid" (func $own)) (export "f" (func $f)))
  (core module $m
    (import "p" "own-pid" (func $own_pid (result i64)))
    (import "p" "f" (func $f (param i64) (result i32)))
    (func (export "run") (local $i i64) (local $me i64)
      (local.set $me (call $own_pid))
      (loop $l
        (drop (call $f (local.get $me)))
        (local.set $i (i64.add (local.get $i) (i64.const 1)))
        (br_if $l (i64.lt_u (local.get $i) (i64.const {n}))))))
  (core instance $i (instantiate $m (with "p" (instance $imports))))
  (func (export "run") (canon lift (core func $i "run"))))"#
    )
}

/// Nanoseconds per call of one guest loop, spawn to exit.
async fn ns_per_call(r: &Runtime, wat: &str, n: u64) -> anyhow::Result<f64> {
    let artifact = r.rt.load_bytes("host-calls", wat.as_bytes())?;
    let spawn = rusm_wasm::WasmSpawn {
        name: "host-calls".into(),
        args: vec![],
        caps: Arc::new(rusm_caps::Capabilities::sandboxed()),
        parent: Pid::NODE,
        options: rusm_core::SpawnOptions::new(),
    };
    let start = Instant::now();
    let (_, exit) = r.rt.spawn_watched(&artifact, spawn)?;
    let reason = exit.await;
    anyhow::ensure!(reason.is_normal(), "the loop ended {reason}");
    Ok(start.elapsed().as_nanos() as f64 / n as f64)
}

/// A cluster of one other node that holds nothing: only `is_remote` is
/// ever asked, and never for a live local pid (the local table answers
/// first).
struct Elsewhere;

impl ClusterCalls for Elsewhere {
    fn nodes(&self) -> Vec<String> {
        vec!["a".into(), "b".into()]
    }
    fn node_of(&self, _: Pid) -> Option<String> {
        None
    }
    fn is_remote(&self, pid: Pid) -> bool {
        pid.get() >= 1 << 50
    }
    fn is_alive(&self, _: Pid) -> BoxFuture<'static, bool> {
        Box::pin(std::future::ready(false))
    }
    fn parent_of(&self, _: Pid) -> BoxFuture<'static, Option<Pid>> {
        Box::pin(std::future::ready(None))
    }
    fn spawn_on(
        &self,
        _: Pid,
        _: &str,
        _: &str,
        _: Vec<u8>,
        _: bool,
    ) -> BoxFuture<'static, Result<Pid, AbiError>> {
        Box::pin(std::future::ready(Err(AbiError::NoProcess)))
    }
    fn register_global(&self, _: Pid, _: &str) -> BoxFuture<'static, Result<(), AbiError>> {
        Box::pin(std::future::ready(Err(AbiError::NoProcess)))
    }
    fn whereis_global(&self, _: &str) -> Option<Pid> {
        None
    }
}

/// Best (lowest) ns per call of each loop over interleaved rounds:
/// `[is_alive, is_alive in a cluster, cancel_timer, own_pid, component
/// is-alive, component is-alive in a cluster, component cancel-timer]`.
pub(crate) async fn is_alive(n: u64, rounds: usize) -> anyhow::Result<[f64; 7]> {
    let lone = runtime(10)?;
    let clustered = runtime(10)?;
    clustered.rt.set_cluster(Arc::new(Elsewhere));
    let loops = [
        looping("is_alive", n),
        looping("cancel_timer", n),
        looping("own_pid", n),
        looping_component("is-alive", n),
        looping_component("cancel-timer", n),
    ];
    // Warm: compile each loop once on each runtime (the loop count is in
    // the code, so a short warm-up loop would be other code).
    for wat in &loops {
        ns_per_call(&lone, wat, n).await?;
        ns_per_call(&clustered, wat, n).await?;
    }
    let mut best = [f64::MAX; 7];
    for _ in 0..rounds {
        let figures = [
            ns_per_call(&lone, &loops[0], n).await?,
            ns_per_call(&clustered, &loops[0], n).await?,
            ns_per_call(&lone, &loops[1], n).await?,
            ns_per_call(&lone, &loops[2], n).await?,
            ns_per_call(&lone, &loops[3], n).await?,
            ns_per_call(&clustered, &loops[3], n).await?,
            ns_per_call(&lone, &loops[4], n).await?,
        ];
        for (b, f) in best.iter_mut().zip(figures) {
            *b = b.min(f);
        }
    }
    Ok(best)
}
