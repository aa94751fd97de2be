//! Guests that try to break out. For each: the attacker ends or gets
//! `denied`, every other process goes on, and the node keeps serving.
//! (More of the suite lives beside the feature it attacks: memory, table
//! and loop bombs in `isolation.rs`, out-of-bounds pointers and denied
//! calls in `module_abi.rs`, network and storage on components in
//! `component.rs`.) docs/adversarial.md lists every case and its outcome.

use std::time::Duration;

use rusm_caps::{Capabilities, Preopen, SpawnGrant};
use rusm_core::{ExitReason, NodeConfig, Pid, SpawnOptions};
use rusm_wasm::RuntimeOptions;

use crate::{fixture, harness, harness_with};

const WASI: &str = r#"
  (import "wasi_snapshot_preview1" "path_open" (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_sizes_get" (func $environ_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
"#;

/// A guest that opens `path` under the first preopen (fd 3) with `oflags`
/// and rights, and exits with the errno (0 would mean it got in).
fn opener(path: &str, oflags: i32, rights: i64) -> String {
    format!(
        r#"(module {WASI} (memory (export "memory") 1)
          (data (i32.const 100) "{path}")
          (func (export "_start")
            (call $proc_exit (call $path_open (i32.const 3) (i32.const 1) (i32.const 100) (i32.const {len})
              (i32.const {oflags}) (i64.const {rights}) (i64.const {rights}) (i32.const 0) (i32.const 0)))))"#,
        len = path.len()
    )
}

/// The node still serves: a fresh guest runs to a normal end.
async fn node_still_serves(h: &crate::Harness) {
    let ok = h.load("still-ok", r#"(module (func (export "run")))"#);
    assert_eq!(
        h.run(&ok, Capabilities::sandboxed()).await,
        ExitReason::Normal
    );
}

fn exit_code(r: &ExitReason) -> i32 {
    r.exit_code()
        .unwrap_or_else(|| panic!("expected an exit code, got {r}"))
}

const READ: i64 = 2; // fd_read
const WRITE: i64 = 64; // fd_write
const CREAT: i32 = 1;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paths_cannot_leave_a_preopen() {
    let h = harness();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret"), "s3cret").unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("inside"), "fine").unwrap();
    std::os::unix::fs::symlink(outside.path(), dir.path().join("escape")).unwrap();
    let caps = Capabilities::builder(Capabilities::sandboxed())
        .preopen(Preopen {
            host: dir.path().into(),
            guest: "/data".into(),
            read_only: false,
        })
        .build();

    // The control: a file inside opens.
    let inside = h.load("inside", &opener("inside", 0, READ));
    assert_eq!(h.run(&inside, caps.clone()).await, ExitReason::Normal);

    let outside_rel = format!(
        "../{}/secret",
        outside.path().file_name().unwrap().to_str().unwrap()
    );
    for (name, path) in [
        ("dotdot", outside_rel.as_str()),
        ("dotdot-root", "../../../../etc/passwd"),
        ("absolute", "/etc/passwd"),
        ("symlink", "escape/secret"),
    ] {
        let guest = h.load(name, &opener(path, 0, READ));
        let r = h.run(&guest, caps.clone()).await;
        assert!(exit_code(&r) != 0, "{name}: `{path}` was opened");
    }
    // No preopen at all: no filesystem.
    let guest = h.load("nofs", &opener("inside", 0, READ));
    let r = h.run(&guest, Capabilities::sandboxed()).await;
    assert!(exit_code(&r) != 0, "opened a file without any preopen");
    node_still_serves(&h).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_preopen_refuses_writes() {
    let h = harness();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("existing"), "old").unwrap();
    let ro = Capabilities::builder(Capabilities::sandboxed())
        .preopen(Preopen {
            host: dir.path().into(),
            guest: "/ro".into(),
            read_only: true,
        })
        .build();
    let create = h.load("create", &opener("new-file", CREAT, WRITE));
    assert!(
        exit_code(&h.run(&create, ro.clone()).await) != 0,
        "created a file in a read-only preopen"
    );
    let write = h.load("write", &opener("existing", 0, WRITE));
    assert!(
        exit_code(&h.run(&write, ro.clone()).await) != 0,
        "opened a file for writing in a read-only preopen"
    );
    assert!(!dir.path().join("new-file").exists());
    assert_eq!(
        std::fs::read_to_string(dir.path().join("existing")).unwrap(),
        "old"
    );
    // Reading is fine.
    let read = h.load("read", &opener("existing", 0, READ));
    assert_eq!(h.run(&read, ro).await, ExitReason::Normal);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_granted_environment_keys_are_visible() {
    // SAFETY: set before any thread of this test reads the environment;
    // the keys are unique to this test.
    unsafe {
        std::env::set_var("RUSM_ADV_GRANTED", "yes");
        std::env::set_var("RUSM_ADV_SECRET", "no");
    }
    let h = harness();
    let counter = format!(
        r#"(module {WASI} (memory (export "memory") 1)
          (func (export "_start")
            (drop (call $environ_sizes_get (i32.const 0) (i32.const 4)))
            (call $proc_exit (i32.add (i32.const 100) (i32.load (i32.const 0))))))"#
    );
    let guest = h.load("env", &counter);
    let none = h.run(&guest, Capabilities::sandboxed()).await;
    assert_eq!(exit_code(&none), 100, "no environment without a grant");
    let one = Capabilities::builder(Capabilities::sandboxed())
        .env(["RUSM_ADV_GRANTED".to_string()])
        .build();
    assert_eq!(
        exit_code(&h.run(&guest, one).await),
        101,
        "exactly the granted key"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spawn_bomb_stops_at_its_profile_cap() {
    let h = harness();
    // Each bomb spawns copies of itself until `spawn` says LIMIT, then parks.
    let bomb = format!(
        r#"(module {}
          (data (i32.const 5000) "bomb")
          (func (export "run")
            (block $stop (loop $l
              (br_if $stop (i64.lt_s (call $spawn (i32.const 5000) (i32.const 4) (i32.const 0) (i32.const 0) (i32.const 0)) (i64.const 0)))
              (br $l)))
            (drop (call $recv (i32.const 0) (i32.const 0) (i64.const -1)))))"#,
        fixture("prelude.wat")
    );
    let artifact = h.load("bomb", &bomb);
    let mut caps = Capabilities::builder(Capabilities::sandboxed())
        .allow_spawn(SpawnGrant::Any)
        .max_processes(Some(50))
        .build();
    caps.profile = "bomber".into();
    // Ad hoc: the copies inherit the spawner's capabilities, cap included.
    h.rt.add_component("bomb", artifact.clone(), None);
    let first = h.spawn(&artifact, caps);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(h.node.is_alive(first));
    let bombs = h.node.processes().len();
    assert!(bombs <= 50, "{bombs} bombs alive, cap is 50");
    node_still_serves(&h).await;
    for p in h.node.processes() {
        let _ = h.node.kill(p);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flooding_a_bounded_mailbox_is_refused_not_fatal() {
    let h = harness();
    let slow = h
        .node
        .spawn(
            SpawnOptions::new().mailbox_capacity(Some(100)),
            crate::isolation::park,
        )
        .unwrap();
    let flood = format!(
        r#"(module {}
          (func (export "run") (local $i i32) (local $ok i32)
            (loop $l
              (if (i32.eqz (call $send (i64.const {}) (i64.const 1) (i32.const 0) (i32.const 16)))
                (then (local.set $ok (i32.add (local.get $ok) (i32.const 1)))))
              (local.set $i (i32.add (local.get $i) (i32.const 1)))
              (br_if $l (i32.lt_u (local.get $i) (i32.const 10000))))
            (if (i32.ne (local.get $ok) (i32.const 100)) (then unreachable))))"#,
        fixture("prelude.wat"),
        slow.get()
    );
    let guest = h.load("flood", &flood);
    assert_eq!(
        h.run(&guest, Capabilities::sandboxed()).await,
        ExitReason::Normal,
        "exactly 100 got in"
    );
    assert_eq!(h.node.info(slow).unwrap().mailbox_len, 100);
    node_still_serves(&h).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_message_is_refused_with_limit() {
    let h = harness_with(
        RuntimeOptions::default(),
        NodeConfig {
            max_message_bytes: 1 << 20,
            ..Default::default()
        },
    );
    let sink = h
        .node
        .spawn(SpawnOptions::new(), crate::isolation::park)
        .unwrap();
    let huge = format!(
        r#"(module {}
          (func (export "run")
            (drop (memory.grow (i32.const 40)))
            (if (i32.ne (call $send (i64.const {pid}) (i64.const 1) (i32.const 0) (i32.const 2097152)) (i32.const -8)) (then unreachable))
            (if (i32.ne (call $send (i64.const {pid}) (i64.const 1) (i32.const 0) (i32.const 1048576)) (i32.const 0)) (then unreachable))))"#,
        fixture("prelude.wat"),
        pid = sink.get()
    );
    let guest = h.load("huge", &huge);
    assert_eq!(
        h.run(&guest, Capabilities::sandboxed()).await,
        ExitReason::Normal
    );
    assert_eq!(h.node.info(sink).unwrap().mailbox_len, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resident_name_and_its_supervisor_are_out_of_reach() {
    let h = harness();
    // A declared component "svc", running and registered under its name,
    // under a native supervisor.
    let svc = h.load("svc", r#"(module (import "rusm" "recv" (func $recv (param i32 i32 i64) (result i32)))
        (memory (export "memory") 1) (func (export "run") (drop (call $recv (i32.const 0) (i32.const 0) (i64.const -1)))))"#);
    h.rt.add_component("svc", svc, Some(Capabilities::sandboxed()));
    let start = h.rt.start_fn("svc");
    let spec =
        rusm_core::SupervisorSpec::new(rusm_core::Strategy::OneForOne, 3, Duration::from_secs(5))
            .child(rusm_core::ChildSpec::new(
                "svc",
                rusm_core::Restart::Transient,
                move |ctx: &rusm_core::Ctx, o| {
                    let pid = start(ctx, o)?;
                    let _ = ctx.node().register("svc", pid);
                    Ok(pid)
                },
            ));
    let sup = spec
        .spawn(&h.node, SpawnOptions::new().name("supervisor"))
        .unwrap();
    let mut svc_pid = None;
    for _ in 0..200 {
        svc_pid = h.node.whereis("svc");
        if svc_pid.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let svc_pid = svc_pid.expect("svc registered");
    let attacker = format!(
        r#"(module {}
          (data (i32.const 5000) "svc")
          (func (export "run")
            (if (i32.ne (call $register (i32.const 5000) (i32.const 3)) (i32.const -2)) (then unreachable))
            (if (i32.ne (call $unregister (i32.const 5000) (i32.const 3)) (i32.const -2)) (then unreachable))
            (if (i32.ne (call $kill (i64.const {sup})) (i32.const -2)) (then unreachable))
            (if (i32.ne (call $kill (i64.const {svc})) (i32.const -2)) (then unreachable))
            (if (i32.ne (call $link (i64.const {svc})) (i32.const -2)) (then unreachable))))"#,
        fixture("prelude.wat"),
        sup = sup.get(),
        svc = svc_pid.get()
    );
    let guest = h.load("attacker", &attacker);
    assert_eq!(
        h.run(&guest, Capabilities::sandboxed()).await,
        ExitReason::Normal
    );
    assert_eq!(h.node.whereis("svc"), Some(svc_pid));
    assert!(h.node.is_alive(sup));
    let _ = Pid::NODE;
}

/// Opens `inside` under fd 3, keeping every descriptor, until an open
/// fails (it returns that errno as its exit code) or 100,000 succeed.
const FD_BOMB: &str = r#"(module
  (import "wasi_snapshot_preview1" "path_open" (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 100) "inside")
  (func (export "_start") (local $n i32) (local $e i32)
    (block $done (loop $again
      (local.set $e (call $path_open (i32.const 3) (i32.const 1) (i32.const 100) (i32.const 6)
        (i32.const 0) (i64.const 2) (i64.const 2) (i32.const 0) (i32.const 0)))
      (br_if $done (local.get $e))
      (local.set $n (i32.add (local.get $n) (i32.const 1)))
      (br_if $again (i32.lt_u (local.get $n) (i32.const 100000)))))
    (call $proc_exit (local.get $e))))"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opening_files_stops_at_max_open_files() {
    // Through a read-only preopen, each guest opens one file over and
    // over, keeping every descriptor: it ends at its own `max-open-files`
    // (preview 1 has no way to refuse one open here, see
    // docs/contract-notes.md), and the node's descriptors, and its
    // neighbours', are untouched. Forty of them hold 40 x 256 descriptors
    // at most; without the limit each would hold 100,000 and the node's
    // whole `RLIMIT_NOFILE` would be gone.
    let h = harness();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("inside"), "fine").unwrap();
    let preopen = Preopen {
        host: dir.path().into(),
        guest: "/data".into(),
        read_only: true,
    };
    let default = Capabilities::builder(Capabilities::sandboxed())
        .preopen(preopen.clone())
        .build();
    assert_eq!(default.max_open_files, 256);
    let small = Capabilities::builder(Capabilities::sandboxed())
        .preopen(preopen)
        .max_open_files(40)
        .build();
    let bomb = h.load("fd-bomb", FD_BOMB);
    let bombs: Vec<_> = (0..20)
        .map(|_| (h.spawn(&bomb, default.clone()), 256))
        .chain((0..20).map(|_| (h.spawn(&bomb, small.clone()), 40)))
        .collect();
    // A neighbour with the same grant opens its file while they hold theirs.
    let reader = h.load("reader", &opener("inside", 0, READ));
    assert_eq!(h.run(&reader, default.clone()).await, ExitReason::Normal);
    for (pid, limit) in bombs {
        assert_eq!(
            h.reason(pid).await.to_string(),
            format!("crashed: too many open resources (limit {limit})")
        );
    }
    node_still_serves(&h).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memories_and_tables_are_limited_together() {
    // `max-memory-mb` bounds all of a process's memories together: ten
    // memories of 1 MiB each do not get ten times a 4 MiB grant.
    let h = harness();
    let four = Capabilities::builder(Capabilities::sandboxed())
        .max_memory_mb(4)
        .build();
    let memories: String = (0..10).map(|_| "(memory 0)").collect();
    let grows: String = (0..10)
        .map(|i| {
            format!(
                "(if (i32.eq (memory.grow {i} (i32.const 16)) (i32.const -1)) (then unreachable))"
            )
        })
        .collect();
    let many = h.load(
        "many-memories",
        &format!(r#"(module {memories} (func (export "run") {grows}))"#),
    );
    assert_eq!(
        h.run(&many, four.clone()).await.to_string(),
        "crashed: memory limit exceeded (limit 4 MiB)"
    );
    // Four memories of 1 MiB fit exactly.
    let fits = h.load(
        "four-memories",
        &format!(
            r#"(module {} (func (export "run") {}))"#,
            "(memory 0)".repeat(4),
            (0..4)
                .map(|i| format!("(drop (memory.grow {i} (i32.const 16)))"))
                .collect::<String>()
        ),
    );
    assert_eq!(h.run(&fits, four.clone()).await, ExitReason::Normal);
    // Declared sizes count together too: 3 x 2 MiB cannot start.
    let declared = h.load(
        "declared-memories",
        &format!(
            r#"(module {} (func (export "run")))"#,
            "(memory 32)".repeat(3)
        ),
    );
    assert_eq!(
        h.run(&declared, four.clone()).await.to_string(),
        "failed to start: memory limit exceeded (limit 4 MiB)"
    );
    // And so do tables' elements (the budget is 65,536 at 1 MiB... here
    // 4 MiB / 16 = 262,144): two tables of 200,000 are refused.
    let tables = h.load(
        "two-tables",
        r#"(module (table 0 funcref) (table 0 funcref)
             (func (export "run")
               (drop (table.grow 0 (ref.null func) (i32.const 200000)))
               (drop (table.grow 1 (ref.null func) (i32.const 200000)))))"#,
    );
    assert_eq!(
        h.run(&tables, four.clone()).await.to_string(),
        "crashed: table limit exceeded (limit 262144 elements)"
    );
    // A module that declares 99 memories does not get 99 reservations.
    let ninety_nine = h.load(
        "ninety-nine",
        &format!(
            r#"(module {} (func (export "run")))"#,
            "(memory 0)".repeat(99)
        ),
    );
    let r = h.run(&ninety_nine, Capabilities::sandboxed()).await;
    assert!(
        matches!(r, ExitReason::FailedToStart(_)),
        "99 memories: {r}"
    );
    node_still_serves(&h).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn references_cannot_be_predicted() {
    // A guest sees its own references; they tell it nothing about the
    // next one anybody gets (no two consecutive ones are within 2^32).
    let h = harness();
    let guest = h.load(
        "refs",
        r#"(module
          (import "rusm" "make_ref" (func $make_ref (result i64)))
          (func (export "run") (local $a i64) (local $b i64) (local $i i32)
            (loop $l
              (local.set $a (call $make_ref))
              (local.set $b (call $make_ref))
              (if (i64.le_s (local.get $a) (i64.const 0xffffffff)) (then unreachable))
              (if (i64.lt_u (i64.sub (local.get $b) (local.get $a)) (i64.const 0x100000000))
                (then unreachable))
              (if (i64.lt_u (i64.sub (local.get $a) (local.get $b)) (i64.const 0x100000000))
                (then unreachable))
              (local.set $i (i32.add (local.get $i) (i32.const 1)))
              (br_if $l (i32.lt_u (local.get $i) (i32.const 1000))))))"#,
    );
    assert_eq!(
        h.run(&guest, Capabilities::sandboxed()).await,
        ExitReason::Normal
    );
}
