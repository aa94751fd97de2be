//! Resident components: registered under their names, restarted by the
//! supervisor, the restart intensity, `rusm run` without a TARGET, and the
//! lifecycle log's levels.

use std::time::{Duration, Instant};

use crate::{App, guest, guest_run, pids_of};

/// A resident that waits for messages forever.
const FOREVER: &str = "(drop (call $recv (i32.const 0) (i32.const 0) (i64.const -1)))";

/// A resident that crashes on its first run and ends normally on the next:
/// the first run leaves a mark in the store.
const CRASH_ONCE: &str = r#"
    (data (i32.const 1024) "flaky")
    (data (i32.const 1032) "crashed")
    (func (export "run")
      (if (i32.eq (call $kv_get (i32.const 1024) (i32.const 5) (i32.const 1032) (i32.const 7)
                                (i32.const 2048) (i32.const 8))
                  (i32.const -7))
        (then
          (drop (call $kv_set (i32.const 1024) (i32.const 5) (i32.const 1032) (i32.const 7)
                              (i32.const 2048) (i32.const 1)))
          unreachable)))"#;

fn crash_once_app() -> App {
    let app = App::new();
    app.write(
        "rusm.toml",
        r#"
store = "data/app.redb"

[log]
level = "info"

[supervisor]
max-restarts = 3
max-seconds = 10

[capabilities.service]
allow-storage = true

[components.flaky]
capability = "service"
resident = true
"#,
    )
    .write("wasm/flaky.wat", &guest(CRASH_ONCE));
    app
}

/// The `rusm exit  flaky#...` lines, pids masked.
fn lines_about(lines: &[String], name: &str) -> Vec<String> {
    lines
        .iter()
        .filter(|l| {
            l.starts_with(&format!("rusm exit  {name}#"))
                || l.starts_with(&format!("rusm spawn {name}#"))
        })
        .cloned()
        .collect()
}

#[test]
fn a_crashing_resident_is_restarted_under_a_new_pid() {
    let app = crash_once_app();
    // No TARGET: the node runs until no resident is left, here after the
    // restarted `flaky` ends normally.
    let out = app.rusm(&["run"]);
    out.assert_code(0);
    let lines = out.stderr_lines();
    assert_eq!(
        lines_about(&lines, "flaky"),
        [
            "rusm exit  flaky#N crashed: unreachable",
            "rusm exit  flaky#N normal"
        ],
        "{}",
        out.show()
    );
    assert!(
        !lines.iter().any(|l| l.starts_with("rusm spawn")),
        "spawns are logged at debug, not info: {}",
        out.show()
    );
    let pids = pids_of(&out.stderr, "rusm exit  ", "flaky");
    assert_ne!(pids[0], pids[1], "a restart has a new pid");
}

#[test]
fn at_debug_the_log_shows_each_spawn_with_its_capabilities() {
    let app = crash_once_app();
    let out = app.rusm(&["--log", "debug", "run"]);
    out.assert_code(0);
    assert_eq!(
        lines_about(&out.stderr_lines(), "flaky"),
        [
            "rusm spawn flaky#N storage mem=64M",
            "rusm exit  flaky#N crashed: unreachable",
            "rusm spawn flaky#N storage mem=64M",
            "rusm exit  flaky#N normal",
        ],
        "{}",
        out.show()
    );
    let spawned = pids_of(&out.stderr, "rusm spawn ", "flaky");
    let exited = pids_of(&out.stderr, "rusm exit  ", "flaky");
    assert_eq!(spawned, exited, "each exit is of the pid spawned before it");
    assert_ne!(spawned[0], spawned[1]);
}

#[test]
fn past_the_restart_intensity_the_node_gives_up_and_exits_1() {
    let app = App::new();
    app.write(
        "rusm.toml",
        r#"
[supervisor]
max-restarts = 2
max-seconds = 30

[components.flaky]
resident = true
"#,
    )
    .write("wasm/flaky.wat", &guest_run("unreachable"));
    let out = app.rusm(&["--log", "error", "run"]);
    out.assert_code(1);
    let crashes = lines_about(&out.stderr_lines(), "flaky");
    assert_eq!(
        crashes,
        ["rusm exit  flaky#N crashed: unreachable"; 3],
        "the first run and two restarts: {}",
        out.show()
    );
    let pids = pids_of(&out.stderr, "rusm exit  ", "flaky");
    assert!(
        pids[0] != pids[1] && pids[1] != pids[2] && pids[0] != pids[2],
        "{pids:?}"
    );
}

#[test]
fn past_the_restart_intensity_a_node_with_a_target_stops_too() {
    // MANIFEST.md: "max-restarts ... within max-seconds; past it the node
    // gives up and stops". With a TARGET the root must not outlive that.
    let app = App::new();
    app.write(
        "rusm.toml",
        r#"
[supervisor]
max-restarts = 1

[components.flaky]
resident = true

[components.root]
"#,
    )
    .write("wasm/flaky.wat", &guest_run("unreachable"))
    .write(
        "wasm/root.wat",
        &guest_run("(call $sleep (i64.const 20000))"),
    );
    let start = Instant::now();
    let out = app.rusm(&["--log", "info", "run", "root"]);
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "the node ran on for {:?} after giving up:\n{}",
        start.elapsed(),
        out.show()
    );
    // The node failed: the status must not say success.
    out.assert_code(1);
}

#[test]
fn without_a_target_residents_that_finish_end_the_run_with_0() {
    let app = App::new();
    app.write(
        "rusm.toml",
        r#"
[components.a]
resident = true

[components.b]
path = "wasm/a.wat"
resident = true
"#,
    )
    .write("wasm/a.wat", &guest_run("(call $sleep (i64.const 50))"));
    let out = app.rusm(&["--log", "info", "run"]);
    out.assert_code(0);
    let lines = out.stderr_lines();
    assert_eq!(lines_about(&lines, "a"), ["rusm exit  a#N normal"]);
    assert_eq!(lines_about(&lines, "b"), ["rusm exit  b#N normal"]);
    assert!(!out.stderr.contains("crashed"), "{}", out.show());
}

#[test]
fn without_a_target_or_residents_there_is_nothing_to_run() {
    let app = App::new();
    app.write("rusm.toml", "[components.job]\n")
        .write("wasm/job.wat", &guest_run(""));
    let out = app.rusm(&["run"]);
    out.assert_code(0);
}

#[test]
fn a_resident_is_registered_under_its_name() {
    let app = App::new();
    app.write(
        "rusm.toml",
        r#"
[log]
level = "info"

[components.svc]
resident = true

[components.root]
"#,
    )
    .write("wasm/svc.wat", &guest_run(FOREVER))
    .write(
        "wasm/root.wat",
        &guest(
            r#"(data (i32.const 1024) "svc")
               (func (export "run")
                 (local $tries i32)
                 ;; The resident may not be registered yet: retry for ~2 s.
                 (loop $again
                   (if (i64.gt_s (call $whereis (i32.const 1024) (i32.const 3)) (i64.const 0))
                     (then
                       ;; The name belongs to the component: nobody else may take it.
                       (if (i32.ne (call $register (i32.const 1024) (i32.const 3)) (i32.const -2))
                         (then (call $proc_exit (i32.const 4))))
                       (return)))
                   (call $sleep (i64.const 20))
                   (local.set $tries (i32.add (local.get $tries) (i32.const 1)))
                   (br_if $again (i32.lt_u (local.get $tries) (i32.const 100))))
                 (call $proc_exit (i32.const 3)))"#,
        ),
    );
    let out = app.rusm(&["run", "root"]);
    out.assert_code(0);
    // The root ends, then the graceful shutdown stops the resident.
    let lines = out.stderr_lines();
    let root = lines.iter().position(|l| l == "rusm exit  root#N normal");
    let svc = lines.iter().position(|l| l == "rusm exit  svc#N shutdown");
    assert!(
        matches!((root, svc), (Some(r), Some(s)) if r < s),
        "{}",
        out.show()
    );
    assert!(!out.stderr.contains("crashed"), "{}", out.show());
}

#[test]
fn log_levels_show_crashes_then_kills_then_exits_then_spawns() {
    let app = App::new();
    app.write(
        "rusm.toml",
        r#"
[log]
level = "info"

[components.ok]

[components.bad]

[components.sleeper]
"#,
    )
    .write("wasm/ok.wat", &guest_run(""))
    .write("wasm/bad.wat", &guest_run("unreachable"))
    .write("wasm/sleeper.wat", &guest_run("(call $sleep (i64.const 30000))"))
    .write(
        "root.wat",
        &guest(
            r#"(data (i32.const 1024) "ok")
               (data (i32.const 1032) "bad")
               (data (i32.const 1040) "sleeper")
               (func $start (param $name i32) (param $len i32) (result i64)
                 (local $pid i64)
                 (local.set $pid (call $spawn (local.get $name) (local.get $len)
                                              (i32.const 0) (i32.const 0) (i32.const 0)))
                 (if (i64.le_s (local.get $pid) (i64.const 0)) (then (call $proc_exit (i32.const 3))))
                 (drop (call $monitor (local.get $pid)))
                 (local.get $pid))
               (func (export "run")
                 (local $ended i32)
                 (drop (call $start (i32.const 1024) (i32.const 2)))
                 (drop (call $start (i32.const 1032) (i32.const 3)))
                 (drop (call $kill (call $start (i32.const 1040) (i32.const 7))))
                 ;; Three `down`s.
                 (loop $wait
                   (if (i32.ne (call $recv (i32.const 0) (i32.const 0) (i64.const 10000)) (i32.const 2))
                     (then (call $proc_exit (i32.const 4))))
                   (local.set $ended (i32.add (local.get $ended) (i32.const 1)))
                   (br_if $wait (i32.lt_u (local.get $ended) (i32.const 3)))))"#,
        ),
    );
    let run = |level: Option<&str>| {
        let mut args = vec![];
        if let Some(level) = level {
            args.extend(["--log", level]);
        }
        args.extend(["run", "root.wat", "--capability", "trusted"]);
        let out = app.rusm(&args);
        out.assert_code(0);
        let mut lines = out.stderr_lines();
        lines.sort();
        lines
    };
    let crash = "rusm exit  bad#N crashed: unreachable";
    let kill = "rusm exit  sleeper#N killed";
    let exits = ["rusm exit  ok#N normal", "rusm exit  root#N normal"];
    let spawns = [
        "rusm spawn bad#N mem=64M",
        "rusm spawn ok#N mem=64M",
        "rusm spawn root#N net listen spawn control storage stdio mem=1024M",
        "rusm spawn sleeper#N mem=64M",
    ];

    assert_eq!(
        run(Some("off")),
        Vec::<String>::new(),
        "--log overrides [log]"
    );
    assert_eq!(run(Some("error")), [crash]);
    assert_eq!(run(Some("warn")), [crash, kill]);
    let mut info = vec![crash, kill, exits[0], exits[1]];
    info.sort();
    assert_eq!(run(None), info, "[log] level = \"info\"");
    assert_eq!(run(Some("info")), info);
    let mut debug = info.clone();
    debug.extend(spawns);
    debug.sort();
    assert_eq!(run(Some("debug")), debug);
}
