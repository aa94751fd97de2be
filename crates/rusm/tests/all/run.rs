//! `rusm run TARGET`: the root's outcome becomes the exit status, the
//! `--capability` of a path target, WASI arguments, and what the node has
//! (store, components, limits) with and without a manifest.

use crate::{App, guest, guest_print, guest_run};

#[test]
fn a_root_that_returns_exits_0_and_prints_under_allow_stdio() {
    let app = App::new();
    app.write("hello.wat", &guest_print("hello\n"));

    let out = app.rusm(&["run", "hello.wat", "--capability", "trusted"]);
    out.assert_code(0);
    assert_eq!(out.stdout, "hello\n");
    assert_eq!(out.stderr, "", "a normal root prints nothing on stderr");

    // Without `allow-stdio` the output is dropped; the run is still fine.
    let out = app.rusm(&["run", "hello.wat"]);
    out.assert_code(0);
    assert_eq!(out.stdout, "");
    assert_eq!(out.stderr, "");
}

#[test]
fn proc_exit_n_is_the_exit_status() {
    let app = App::new();
    app.write("seven.wat", &guest_run("(call $proc_exit (i32.const 7))"))
        .write("zero.wat", &guest_run("(call $proc_exit (i32.const 0))"));

    let out = app.rusm(&["run", "seven.wat"]);
    out.assert_code(7);
    assert_eq!(out.stderr_lines(), ["rusm: seven#N crashed: exit code 7"]);

    let out = app.rusm(&["run", "zero.wat"]);
    out.assert_code(0);
    assert_eq!(out.stderr, "", "proc_exit(0) is a normal end");
}

#[test]
fn a_trapping_root_exits_1_with_its_reason() {
    let app = App::new();
    app.write("trap.wat", &guest_run("unreachable"))
        .write(
            "oob.wat",
            &guest_run("(drop (i32.load (i32.const 0x7fff0000)))"),
        )
        .write(
            "quit.wat",
            &guest(
                r#"(data (i32.const 1024) "gave up")
                   (func (export "run") (call $exit (i32.const 1024) (i32.const 7)))"#,
            ),
        )
        .write(
            "done.wat",
            &guest_run("(call $exit (i32.const 0) (i32.const 0))"),
        );

    let out = app.rusm(&["run", "trap.wat"]);
    out.assert_code(1);
    assert_eq!(out.stderr_lines(), ["rusm: trap#N crashed: unreachable"]);

    let out = app.rusm(&["run", "oob.wat"]);
    out.assert_code(1);
    let lines = out.stderr_lines();
    assert_eq!(lines.len(), 1, "{}", out.show());
    assert!(
        lines[0].starts_with("rusm: oob#N crashed: ") && lines[0].contains("out of bounds"),
        "{}",
        out.show()
    );

    // `exit(reason)`: a non-empty reason is a crash with that text...
    let out = app.rusm(&["run", "quit.wat"]);
    out.assert_code(1);
    assert_eq!(out.stderr_lines(), ["rusm: quit#N crashed: gave up"]);
    // ...and an empty one a normal end.
    app.rusm(&["run", "done.wat"]).assert_code(0);
}

#[test]
fn a_root_that_fails_to_start_exits_1() {
    let app = App::new();
    app.write(
        "bad.wat",
        r#"(module (import "nowhere" "nothing" (func)) (func (export "run")))"#,
    );
    let out = app.rusm(&["run", "bad.wat"]);
    out.assert_code(1);
    let lines = out.stderr_lines();
    assert_eq!(lines.len(), 1, "{}", out.show());
    assert!(
        lines[0].starts_with("rusm: bad#N failed to start: "),
        "{}",
        out.show()
    );
}

#[test]
fn a_root_taken_down_by_a_linked_crash_exits_1() {
    let app = App::new();
    app.write("rusm.toml", "[components.boom]\n")
        .write("wasm/boom.wat", &guest_run("unreachable"))
        .write(
            "root.wat",
            &guest(
                r#"(data (i32.const 1024) "boom")
                   (func (export "run")
                     (if (i64.lt_s (call $spawn (i32.const 1024) (i32.const 4)
                                                (i32.const 0) (i32.const 0) (i32.const 1))
                                   (i64.const 0))
                       (then (call $proc_exit (i32.const 9))))
                     (call $sleep (i64.const 30000)))"#,
            ),
        );
    let out = app.rusm(&[
        "--log",
        "warn",
        "run",
        "root.wat",
        "--capability",
        "trusted",
    ]);
    out.assert_code(1);
    assert_eq!(
        out.stderr_lines(),
        [
            "rusm exit  boom#N crashed: unreachable",
            "rusm exit  root#N linked: N crashed: unreachable",
            "rusm: root#N linked: N crashed: unreachable",
        ]
    );
    // The pid in `linked:` is the child's.
    let boom = crate::pids_of(&out.stderr, "rusm exit  ", "boom");
    let root_line = out.stderr.lines().last().expect("three lines");
    assert!(
        root_line.ends_with(&format!("linked: {} crashed: unreachable", boom[0])),
        "{}",
        out.show()
    );
}

#[test]
fn args_after_the_double_dash_are_the_roots_wasi_arguments() {
    let app = App::new();
    // Prints the argument buffer: every argument, NUL-terminated.
    app.write(
        "args.wat",
        &guest_run(
            "(drop (call $args_sizes_get (i32.const 16) (i32.const 20)))
             (drop (call $args_get (i32.const 64) (i32.const 2048)))
             (call $print (i32.const 2048) (i32.load (i32.const 20)))",
        ),
    );
    let out = app.rusm(&[
        "run",
        "args.wat",
        "--capability",
        "trusted",
        "--",
        "one",
        "two words",
        "--log",
    ]);
    out.assert_code(0);
    let args: Vec<&str> = out.stdout.split_terminator('\0').collect();
    assert!(
        args.ends_with(&["one", "two words", "--log"]),
        "arguments: {args:?}"
    );
    assert!(
        args.len() <= 4,
        "at most a program name before them: {args:?}"
    );
}

/// Exits 10 if `list_processes` works, 20 if it is denied.
const LIST_PROCESSES: &str = "
    (local $n i32)
    (local.set $n (call $list_processes (i32.const 1024) (i32.const 16)))
    (if (i32.eq (local.get $n) (i32.const -2)) (then (call $proc_exit (i32.const 20))))
    (if (i32.ge_s (local.get $n) (i32.const 1)) (then (call $proc_exit (i32.const 10))))
    (call $proc_exit (i32.const 30))";

#[test]
fn capability_flag_sets_a_path_targets_profile() {
    let app = App::new();
    app.write("lp.wat", &guest_run(LIST_PROCESSES));

    app.rusm(&["run", "lp.wat", "--capability", "trusted"])
        .assert_code(10);
    // The default is `sandboxed`: process control is denied, not a trap.
    app.rusm(&["run", "lp.wat"]).assert_code(20);
    app.rusm(&["run", "lp.wat", "--capability", "sandboxed"])
        .assert_code(20);
    app.rusm(&["run", "lp.wat", "--capability", "network-client"])
        .assert_code(20);

    // A custom profile of ./rusm.toml works for a path target too.
    app.write(
        "rusm.toml",
        "[capabilities.ops]\nallow-process-control = true\n",
    );
    app.rusm(&["run", "lp.wat", "--capability", "ops"])
        .assert_code(10);

    // An unknown profile falls back to the default-deny `sandboxed`, and
    // says so.
    let out = app.rusm(&["run", "lp.wat", "--capability", "admn"]);
    out.assert_code(20);
    assert!(
        out.stderr
            .lines()
            .any(|l| l.contains("warning") && l.contains("`admn`")),
        "{}",
        out.show()
    );
}

/// Exits 1x when there is no store (`NO_STORE`), 2x when the store answers
/// `NOT_FOUND`; x1 when `spawn("worker")` is `NOT_FOUND`, x2 when it spawns.
const STORE_AND_COMPONENTS: &str = r#"
    (data (i32.const 1024) "b")
    (data (i32.const 1032) "k")
    (data (i32.const 1040) "worker")
    (func (export "run")
      (local $kv i32) (local $pid i64) (local $code i32)
      (local.set $kv (call $kv_get (i32.const 1024) (i32.const 1) (i32.const 1032) (i32.const 1)
                                   (i32.const 2048) (i32.const 8)))
      (local.set $code (i32.const 90))
      (if (i32.eq (local.get $kv) (i32.const -5)) (then (local.set $code (i32.const 10))))
      (if (i32.eq (local.get $kv) (i32.const -7)) (then (local.set $code (i32.const 20))))
      (local.set $pid (call $spawn (i32.const 1040) (i32.const 6) (i32.const 0) (i32.const 0)
                                   (i32.const 0)))
      (if (i64.eq (local.get $pid) (i64.const -7))
        (then (local.set $code (i32.add (local.get $code) (i32.const 1)))))
      (if (i64.gt_s (local.get $pid) (i64.const 0))
        (then (local.set $code (i32.add (local.get $code) (i32.const 2)))))
      (call $proc_exit (local.get $code)))"#;

#[test]
fn a_path_target_without_a_manifest_has_no_store_and_no_components() {
    let app = App::new();
    app.write("probe.wat", &guest(STORE_AND_COMPONENTS));
    // Under `trusted`, so that what answers is the node, not a denial.
    app.rusm(&["run", "probe.wat", "--capability", "trusted"])
        .assert_code(11);
    let entries: Vec<_> = std::fs::read_dir(app.path())
        .expect("the app folder")
        .map(|e| e.expect("an entry").file_name())
        .collect();
    assert_eq!(entries, ["probe.wat"], "the run left nothing behind");

    // The same target next to a rusm.toml gets its store and components.
    app.write(
        "rusm.toml",
        "store = \"data/app.redb\"\n[components.worker]\n",
    )
    .write("wasm/worker.wat", &guest_run(""));
    app.rusm(&["run", "probe.wat", "--capability", "trusted"])
        .assert_code(22);
}

#[test]
fn a_missing_manifest_without_target_exits_2() {
    let app = App::new();
    let out = app.rusm(&["run"]);
    out.assert_code(2);
    assert!(out.stderr.contains("rusm.toml"), "{}", out.show());

    // An explicit --manifest must exist, even with a path target.
    app.write("ok.wat", &guest_run(""));
    let out = app.rusm(&["--manifest", "nope.toml", "run", "ok.wat"]);
    out.assert_code(2);
    assert!(out.stderr.contains("nope.toml"), "{}", out.show());
}

#[test]
fn unknown_targets_and_usage_errors_exit_2() {
    let app = App::new();
    app.write("rusm.toml", "[components.worker]\n")
        .write("wasm/worker.wat", &guest_run(""));

    let out = app.rusm(&["run", "nosuch"]);
    out.assert_code(2);
    assert!(out.stderr.contains("nosuch"), "{}", out.show());

    let out = app.rusm(&["run", "missing.wat"]);
    out.assert_code(2);
    assert!(out.stderr.contains("missing.wat"), "{}", out.show());

    app.rusm(&["run", "--bogus"]).assert_code(2);
    app.rusm(&["--log", "loud", "run", "worker"]).assert_code(2);
    app.rusm(&["frobnicate"]).assert_code(2);
}

/// A component that counts its runs in the store and exits 40 + the count.
const KEEPER: &str = r#"
    (data (i32.const 1024) "b")
    (data (i32.const 1032) "runs")
    (func (export "run")
      (local $n i32)
      (local.set $n (call $kv_get (i32.const 1024) (i32.const 1) (i32.const 1032) (i32.const 4)
                                  (i32.const 2048) (i32.const 8)))
      (if (i32.eq (local.get $n) (i32.const -7))
        (then (i64.store (i32.const 2048) (i64.const 0)))
        (else (if (i32.ne (local.get $n) (i32.const 8)) (then (call $proc_exit (i32.const 99))))))
      (i64.store (i32.const 2048) (i64.add (i64.load (i32.const 2048)) (i64.const 1)))
      (if (call $kv_set (i32.const 1024) (i32.const 1) (i32.const 1032) (i32.const 4)
                        (i32.const 2048) (i32.const 8))
        (then (call $proc_exit (i32.const 98))))
      (call $proc_exit (i32.add (i32.const 40) (i32.wrap_i64 (i64.load (i32.const 2048))))))"#;

#[test]
fn the_store_is_created_on_first_use_next_to_the_manifest_and_persists() {
    let app = App::new();
    app.write(
        "app/rusm.toml",
        r#"
store = "data/state/app.redb"

[capabilities.keeper]
allow-storage = true

[components.keeper]
capability = "keeper"
"#,
    )
    .write("app/wasm/keeper.wat", &guest(KEEPER));
    assert!(!app.path().join("app/data").exists());

    // Run from the folder above: paths are relative to the manifest.
    let out = app.rusm(&["--manifest", "app/rusm.toml", "run", "keeper"]);
    out.assert_code(41);
    assert_eq!(out.stderr_lines(), ["rusm: keeper#N crashed: exit code 41"]);
    assert!(app.path().join("app/data/state/app.redb").is_file());
    assert!(!app.path().join("data").exists());

    app.rusm(&["--manifest", "app/rusm.toml", "run", "keeper"])
        .assert_code(42);
}

#[test]
fn max_message_mb_refuses_larger_messages_with_limit() {
    let app = App::new();
    app.write("rusm.toml", "max-message-mb = 1\n").write(
        "big.wat",
        &guest_run(
            "(local $me i64)
             (local.set $me (call $own_pid))
             (drop (memory.grow (i32.const 40)))
             ;; 2 MiB: refused with LIMIT (-8)
             (if (i32.ne (call $send (local.get $me) (i64.const 1) (i32.const 0) (i32.const 0x200000))
                         (i32.const -8))
               (then (call $proc_exit (i32.const 3))))
             ;; 512 KiB: fine
             (if (i32.ne (call $send (local.get $me) (i64.const 1) (i32.const 0) (i32.const 0x80000))
                         (i32.const 0))
               (then (call $proc_exit (i32.const 4))))",
        ),
    );
    app.rusm(&["run", "big.wat", "--capability", "trusted"])
        .assert_code(0);
}

#[test]
fn max_processes_caps_the_whole_node() {
    let app = App::new();
    app.write(
        "rusm.toml",
        r#"
max-processes = 2

[capabilities.root]
allow-spawn = true

[components.root]
capability = "root"

[components.child]
"#,
    )
    .write("wasm/child.wat", &guest_run("(call $sleep (i64.const 2000))"))
    .write(
        "wasm/root.wat",
        &guest(
            r#"(data (i32.const 1024) "child")
               (func $child (result i64)
                 (call $spawn (i32.const 1024) (i32.const 5) (i32.const 0) (i32.const 0)
                              (i32.const 0)))
               (func (export "run")
                 ;; The root and one child are the two live processes.
                 (if (i64.le_s (call $child) (i64.const 0)) (then (call $proc_exit (i32.const 3))))
                 (if (i64.ne (call $child) (i64.const -8)) (then (call $proc_exit (i32.const 4)))))"#,
        ),
    );
    app.rusm(&["run", "root"]).assert_code(0);
}

#[test]
fn memory_limits_trap_or_refuse_to_start_only_that_process() {
    let app = App::new();
    app.write(
        "rusm.toml",
        "[capabilities.tiny]\nmax-memory-mb = 1\n\n[components.grower]\ncapability = \"tiny\"\n\n[components.big]\ncapability = \"tiny\"\n",
    )
    // 1 page is fine; growing by 16 more (1 MiB) passes the ceiling.
    .write(
        "wasm/grower.wat",
        &guest_run("(drop (memory.grow (i32.const 16)))"),
    )
    .write(
        "wasm/big.wat",
        r#"(module (memory (export "memory") 32) (func (export "run")))"#,
    );

    let out = app.rusm(&["run", "grower"]);
    out.assert_code(1);
    assert_eq!(
        out.stderr_lines(),
        ["rusm: grower#N crashed: memory limit exceeded (limit 1 MiB)"]
    );

    let out = app.rusm(&["run", "big"]);
    out.assert_code(1);
    let lines = out.stderr_lines();
    assert_eq!(lines.len(), 1, "{}", out.show());
    assert!(
        lines[0].starts_with("rusm: big#N failed to start: "),
        "{}",
        out.show()
    );
}

#[test]
fn a_grant_that_cannot_be_built_fails_that_process_not_the_node() {
    let app = App::new();
    app.write(
        "rusm.toml",
        r#"
[capabilities.disk]
preopen = [{ host = "./missing", guest = "/data" }]

[components.reader]
capability = "disk"
"#,
    )
    .write("wasm/reader.wat", &guest_run(""));
    let out = app.rusm(&["--log", "info", "run", "reader"]);
    out.assert_code(1);
    let lines = out.stderr_lines();
    assert_eq!(lines.len(), 2, "{}", out.show());
    assert!(
        lines[0].starts_with("rusm exit  reader#N failed to start: "),
        "{}",
        out.show()
    );
    assert!(
        lines[1].starts_with("rusm: reader#N failed to start: "),
        "{}",
        out.show()
    );
}

#[test]
fn env_grants_pass_named_keys_from_the_environment_then_dot_env() {
    let app = App::new();
    app.write(
        "rusm.toml",
        r#"
[capabilities.env]
allow-stdio = true
env = ["RUSM_TEST_REAL", "RUSM_TEST_DOTENV", "RUSM_TEST_BOTH"]

[components.printenv]
capability = "env"
"#,
    )
    .write(
        ".env",
        "RUSM_TEST_DOTENV=from-dotenv\nRUSM_TEST_BOTH=from-dotenv\nRUSM_TEST_HIDDEN=from-dotenv\n",
    )
    // Prints the environment buffer: `KEY=value`, NUL-terminated.
    .write(
        "wasm/printenv.wat",
        &guest_run(
            "(drop (call $environ_sizes_get (i32.const 16) (i32.const 20)))
             (drop (call $environ_get (i32.const 64) (i32.const 2048)))
             (call $print (i32.const 2048) (i32.load (i32.const 20)))",
        ),
    );
    let mut cmd = app.command(&["run", "printenv"]);
    cmd.env("RUSM_TEST_REAL", "from-env")
        .env("RUSM_TEST_BOTH", "from-env")
        .env("RUSM_TEST_UNGRANTED", "from-env");
    let out = crate::Running::start(cmd).finish(crate::DEADLINE);
    out.assert_code(0);
    let mut vars: Vec<&str> = out.stdout.split_terminator('\0').collect();
    vars.sort();
    assert_eq!(
        vars,
        [
            "RUSM_TEST_BOTH=from-env",
            "RUSM_TEST_DOTENV=from-dotenv",
            "RUSM_TEST_REAL=from-env",
        ],
        "the real environment wins; nothing ungranted leaks"
    );
}
