//! A trap ends only its own process; spinning guests are preempted and
//! killable; messages are copies; a grant that cannot be built fails only
//! that process, before any of its code runs.

use std::time::{Duration, Instant};

use rusm_caps::{Capabilities, Preopen};
use rusm_core::{Ctx, ExitReason, Pid, SpawnOptions};

use crate::{fixture, harness};

pub(crate) async fn park(ctx: Ctx) {
    ctx.receive(&[i64::MIN], None).await.ok();
}

const HEALTHY: &str = r#"(module
  (import "rusm" "sleep" (func $sleep (param i64)))
  (import "rusm" "send" (func $send (param i64 i64 i32 i32) (result i32)))
  (import "rusm" "own_pid" (func $own_pid (result i64)))
  (memory (export "memory") 1)
  (func (export "run") (local $i i32)
    (call $sleep (i64.const 1))
    (loop $l
      (drop (call $send (call $own_pid) (i64.const 1) (i32.const 0) (i32.const 64)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const 50))))))"#;

const SPINNER: &str = r#"(module (func (export "run") (loop $l (br $l))))"#;

const MEMORY_BOMB: &str = r#"(module (memory 1)
  (func (export "run") (loop $l (br_if $l (i32.ne (memory.grow (i32.const 16)) (i32.const -1))))))"#;

const TABLE_BOMB: &str = r#"(module (table 1 funcref)
  (func (export "run") (loop $l (br_if $l (i32.ne (table.grow (ref.null func) (i32.const 100000)) (i32.const -1))))))"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_guests_among_a_thousand_healthy_ones() {
    let h = harness();
    let healthy = h.load("healthy", HEALTHY);
    let crasher = h.load("crasher", r#"(module (func (export "run") unreachable))"#);
    let bomb = h.load("bomb", MEMORY_BOMB);
    let tables = h.load("tables", TABLE_BOMB);
    let spinner = h.load("spinner", SPINNER);
    let small = Capabilities::builder(Capabilities::sandboxed())
        .max_memory_mb(1)
        .build();

    let spin = h.spawn(&spinner, Capabilities::sandboxed());
    let crash = h.spawn(&crasher, Capabilities::sandboxed());
    let oom = h.spawn(&bomb, small.clone());
    let tbl = h.spawn(&tables, small);
    let pids: Vec<Pid> = (0..1000)
        .map(|_| h.spawn(&healthy, Capabilities::sandboxed()))
        .collect();
    for pid in pids {
        assert_eq!(h.reason(pid).await, ExitReason::Normal);
    }
    assert_eq!(h.reason(crash).await.to_string(), "crashed: unreachable");
    assert_eq!(
        h.reason(oom).await.to_string(),
        "crashed: memory limit exceeded (limit 1 MiB)"
    );
    assert_eq!(
        h.reason(tbl).await.to_string(),
        "crashed: table limit exceeded (limit 65536 elements)"
    );
    assert!(
        h.node.is_alive(spin),
        "the spinner is still spinning, and did not stop the others"
    );
    h.node.kill(spin).unwrap();
    assert_eq!(h.reason(spin).await, ExitReason::Killed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spinning_guest_dies_within_a_few_epoch_ticks() {
    let h = harness();
    let spinner = h.load("spinner", SPINNER);
    let pids: Vec<Pid> = (0..4)
        .map(|_| h.spawn(&spinner, Capabilities::sandboxed()))
        .collect();
    tokio::time::sleep(Duration::from_millis(50)).await;
    for pid in pids {
        let t0 = Instant::now();
        h.node.kill(pid).unwrap();
        assert_eq!(h.reason(pid).await, ExitReason::Killed);
        // One tick is 1 ms and the reason poll sleeps 5 ms; the bound is loose
        // because the suite runs many tests at once on 2 cores (alone, a kill
        // takes a few ms).
        assert!(
            t0.elapsed() < Duration::from_millis(500),
            "kill took {:?}",
            t0.elapsed()
        );
    }
}

/// Ping-pong between a native process and a guest keeps going while four
/// guests spin on two cores.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spinners_do_not_starve_a_ping_pong() {
    let h = harness();
    let spinner = h.load("spinner", SPINNER);
    let spinners: Vec<Pid> = (0..4)
        .map(|_| h.spawn(&spinner, Capabilities::sandboxed()))
        .collect();
    let echo = h.load(
        "echo",
        &format!(
            r#"(module {}
              (func (export "run") (loop $l
                (drop (call $recv (i32.const 0) (i32.const 0) (i64.const -1)))
                (drop (call $send (call $msg_sender) (call $msg_tag) (i32.const 0) (i32.const 0)))
                (br $l))))"#,
            fixture("prelude.wat")
        ),
    );
    let echo_pid = h.spawn(&echo, Capabilities::sandboxed());
    let (tx, rx) = tokio::sync::oneshot::channel();
    h.node
        .spawn(SpawnOptions::new(), move |ctx| async move {
            let mut worst = Duration::ZERO;
            for i in 0..200 {
                let t = Instant::now();
                ctx.send(echo_pid, i, vec![]).unwrap();
                ctx.receive(&[i], Some(Duration::from_secs(5)))
                    .await
                    .unwrap();
                worst = worst.max(t.elapsed());
            }
            tx.send(worst).unwrap();
        })
        .unwrap();
    let worst = rx.await.unwrap();
    assert!(
        worst < Duration::from_millis(1000),
        "worst round trip {worst:?}"
    );
    for p in spinners.into_iter().chain([echo_pid]) {
        h.node.kill(p).unwrap();
    }
}

/// The sender overwrites its buffer right after `send`; the receiver still
/// gets what was sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_are_copies() {
    let h = harness();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let sink = h
        .node
        .spawn(SpawnOptions::new(), move |ctx| async move {
            let m = ctx.receive(&[3], None).await.unwrap();
            tx.send(m.data).unwrap();
        })
        .unwrap();
    let wat = format!(
        r#"(module {}
          (data (i32.const 0) "original")
          (func (export "run")
            (drop (call $send (i64.const {}) (i64.const 3) (i32.const 0) (i32.const 8)))
            (i64.store (i32.const 0) (i64.const 0))))"#,
        fixture("prelude.wat"),
        sink.get()
    );
    let guest = h.load("sender", &wat);
    assert_eq!(
        h.run(&guest, Capabilities::sandboxed()).await,
        ExitReason::Normal
    );
    assert_eq!(rx.await.unwrap(), b"original");
}

/// A preopen of a missing host path ends that process with `failed to
/// start` before its first instruction (which would send a message), while
/// its siblings run; links and monitors still see the exit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grant_that_cannot_be_built_fails_only_that_process() {
    let h = harness();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let sink = h
        .node
        .spawn(SpawnOptions::new(), move |ctx| async move {
            loop {
                let m = ctx.receive_any().await;
                let _ = tx.send(m.sender);
            }
        })
        .unwrap();
    let wat = format!(
        r#"(module {} (func (export "run") (drop (call $send (i64.const {}) (i64.const 1) (i32.const 0) (i32.const 0)))))"#,
        fixture("prelude.wat"),
        sink.get()
    );
    let guest = h.load("announcer", &wat);
    let broken = Capabilities::builder(Capabilities::sandboxed())
        .preopen(Preopen {
            host: "/no/such/dir/rusm".into(),
            guest: "/data".into(),
            read_only: false,
        })
        .build();
    let watcher_ref = h.node.make_ref();
    let _ = watcher_ref;
    let bad = h.spawn(&guest, broken);
    let good: Vec<Pid> = (0..5)
        .map(|_| h.spawn(&guest, Capabilities::sandboxed()))
        .collect();
    let r = h.reason(bad).await.to_string();
    assert!(
        r.starts_with("failed to start: preopen `/no/such/dir/rusm`"),
        "{r}"
    );
    for p in &good {
        assert_eq!(h.reason(*p).await, ExitReason::Normal);
    }
    let mut senders = Vec::new();
    while let Ok(Some(s)) = tokio::time::timeout(Duration::from_millis(200), rx.recv()).await {
        senders.push(s);
    }
    senders.sort();
    assert_eq!(
        senders, good,
        "the failed process never ran its first instruction"
    );
    h.node.kill(sink).unwrap();
}

/// `spawn_watched_in`: one `ExitSet` gives the exit of each Wasm process
/// spawned into it, a trap and a kill among normal ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exit_set_gives_each_wasm_exit() {
    let h = harness();
    let ok = h.load("ok", r#"(module (func (export "run")))"#);
    let trap = h.load("trap", r#"(module (func (export "run") unreachable))"#);
    let spin = h.load(
        "spin",
        r#"(module (func (export "run") (loop $l (br $l))))"#,
    );
    let spawn = |artifact: &rusm_wasm::Artifact| rusm_wasm::WasmSpawn {
        name: artifact.name().into(),
        args: vec![],
        caps: Capabilities::sandboxed().into(),
        parent: Pid::NODE,
        options: SpawnOptions::new(),
    };
    let mut set = rusm_core::ExitSet::new();
    let mut expected = std::collections::HashMap::new();
    for _ in 0..30 {
        let pid = h.rt.spawn_watched_in(&mut set, &ok, spawn(&ok)).unwrap();
        expected.insert(pid, ExitReason::Normal.to_string());
        let pid =
            h.rt.spawn_watched_in(&mut set, &trap, spawn(&trap))
                .unwrap();
        expected.insert(pid, "crashed: unreachable".to_string());
    }
    let spinner =
        h.rt.spawn_watched_in(&mut set, &spin, spawn(&spin))
            .unwrap();
    expected.insert(spinner, ExitReason::Killed.to_string());
    tokio::time::sleep(Duration::from_millis(20)).await;
    h.node.kill(spinner).unwrap();
    while let Some((pid, reason)) = tokio::time::timeout(Duration::from_secs(10), set.next())
        .await
        .expect("an exit never came")
    {
        assert_eq!(expected.remove(&pid), Some(reason.to_string()), "{pid}");
    }
    assert!(expected.is_empty(), "never given: {expected:?}");
}

/// Traps unless its memory and table are as the module declares them (two
/// pages, zero but for one data word; a table with `$f` at 0, null
/// after), and pages it grows read zero; then dirties `DIRTY` bytes of
/// memory, grown pages included, and every table entry.
const RESET_CHECKER: &str = r#"(module
  (memory 2 64)
  (data (i32.const 1024) "\01\02\03\04\05\06\07\08")
  (table 4 funcref)
  (elem (i32.const 0) $f)
  (func $f)
  (func $zero_from (param $a i32) (param $end i32)
    (loop $l
      (if (i32.lt_u (local.get $a) (local.get $end)) (then
        (if (i32.ne (local.get $a) (i32.const 1024)) (then
          (if (i64.ne (i64.load (local.get $a)) (i64.const 0)) (then unreachable))))
        (local.set $a (i32.add (local.get $a) (i32.const 8)))
        (br $l)))))
  (func (export "run") (local $a i32)
    (if (i32.ne (memory.size) (i32.const 2)) (then unreachable))
    (if (i64.ne (i64.load (i32.const 1024)) (i64.const 0x0807060504030201)) (then unreachable))
    (call $zero_from (i32.const 0) (i32.const 0x20000))
    (if (ref.is_null (table.get (i32.const 0))) (then unreachable))
    (if (i32.eqz (ref.is_null (table.get (i32.const 1)))) (then unreachable))
    (if (i32.ne (table.size) (i32.const 4)) (then unreachable))
    (if (i32.ne (memory.grow (i32.const 40)) (i32.const 2)) (then unreachable))
    (call $zero_from (i32.const 0x20000) (i32.const 0x2a0000))
    (loop $l
      (if (i32.lt_u (local.get $a) (i32.const DIRTY)) (then
        (i64.store (local.get $a) (i64.const -1))
        (local.set $a (i32.add (local.get $a) (i32.const 4096)))
        (br $l))))
    (i64.store (i32.const 1024) (i64.const -1))
    (table.set (i32.const 0) (ref.null func))
    (table.set (i32.const 1) (ref.func $f))
    (drop (table.grow (ref.func $f) (i32.const 8)))))"#;

/// A pool slot's next process sees nothing of the last one: its memory,
/// the pages it grew and its table are reset, whether the slot's pages
/// were few enough to be reset by hand (`keep_resident_bytes`) or more
/// (given back to the kernel). One slot, so every process reuses it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reused_pool_slot_holds_nothing_of_its_last_process() {
    let exits = std::sync::Arc::new(crate::Exits::default());
    let node = rusm_core::Node::new(rusm_core::NodeConfig {
        lifecycle: Some(exits.clone()),
        ..Default::default()
    });
    let config = rusm_wasm::WasmConfig {
        pool_slots: 1,
        ..Default::default()
    };
    let rt = rusm_wasm::WasmRuntime::new(node.clone(), config, Default::default()).unwrap();
    let h = crate::Harness { node, rt, exits };
    // Three pages (within the budget), then all 42 (past it).
    let few = h.load("few", &RESET_CHECKER.replace("DIRTY", "0x3000"));
    let all = h.load("all", &RESET_CHECKER.replace("DIRTY", "0x2a0000"));
    for artifact in [&few, &few, &few, &all, &all, &all, &few, &few] {
        assert_eq!(
            h.run(artifact, Capabilities::sandboxed()).await,
            ExitReason::Normal,
            "{}",
            artifact.name()
        );
    }
}
