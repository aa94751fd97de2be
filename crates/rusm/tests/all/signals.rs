//! SIGTERM and SIGINT: a graceful shutdown, and exit 0.

use std::time::{Duration, Instant};

use crate::{App, Output, Running, guest, guest_run};

/// How long a graceful shutdown may take here: the node's default
/// `shutdown-seconds` is 5, and these processes stop at once.
const STOP_WITHIN: Duration = Duration::from_secs(4);

/// Prints `ready`, then `tail` (waits forever in some way).
fn ready_then(tail: &str) -> String {
    guest(&format!(
        r#"(data (i32.const 1024) "ready\n")
           (func (export "run")
             (call $print (i32.const 1024) (i32.const 6))
             {tail})"#
    ))
}

/// Run `name`.wat (`code` after printing `ready`) as a trusted root, send
/// SIGTERM once it is ready, and check it stops in time with exit 0 and
/// one lifecycle line: the root ended `shutdown`, which counts as normal.
fn sigterm_stops_root(name: &str, code: &str) -> Output {
    let app = App::new();
    app.write(&format!("{name}.wat"), &ready_then(code));
    let mut running = app.start(&[
        "--log",
        "info",
        "run",
        &format!("{name}.wat"),
        "--capability",
        "trusted",
    ]);
    running.wait_for_line("`ready`", |l| l == "ready");
    let start = Instant::now();
    running.signal(libc::SIGTERM);
    let out = running.finish(STOP_WITHIN * 2);
    assert!(start.elapsed() < STOP_WITHIN, "took {:?}", start.elapsed());
    out.assert_code(0);
    assert_eq!(
        out.stderr_lines(),
        [format!("rusm exit  {name}#N shutdown")]
    );
    out
}

#[test]
fn sigterm_stops_a_waiting_root_gracefully() {
    let out = sigterm_stops_root(
        "hang",
        "(drop (call $recv (i32.const 0) (i32.const 0) (i64.const -1)))",
    );
    assert_eq!(out.stdout, "ready\n");
}

#[test]
fn sigterm_stops_a_busy_root_too() {
    sigterm_stops_root("spin", "(loop $forever (br $forever))");
}

/// A node of two residents that wait forever, started without a TARGET,
/// once both have spawned (seen in the `--log debug` lines).
fn start_residents(app: &App) -> Running {
    app.write(
        "rusm.toml",
        "[components.svc]\nresident = true\n\n[components.other]\npath = \"wasm/svc.wat\"\nresident = true\n",
    )
    .write(
        "wasm/svc.wat",
        &guest_run("(drop (call $recv (i32.const 0) (i32.const 0) (i64.const -1)))"),
    );
    let mut running = app.start(&["--log", "debug", "run"]);
    running.wait_for_line("svc's spawn line", |l| l.starts_with("rusm spawn svc#"));
    running.wait_for_line("other's spawn line", |l| l.starts_with("rusm spawn other#"));
    running
}

/// Stops `running` with `signal` and checks the graceful end.
fn assert_graceful_stop(running: Running, signal: i32) {
    let start = Instant::now();
    running.signal(signal);
    let out = running.finish(STOP_WITHIN * 2);
    assert!(start.elapsed() < STOP_WITHIN, "took {:?}", start.elapsed());
    out.assert_code(0);
    let lines = out.stderr_lines();
    for expected in ["rusm exit  svc#N shutdown", "rusm exit  other#N shutdown"] {
        assert!(
            lines.iter().any(|l| l == expected),
            "signal {signal}: no `{expected}`:\n{}",
            out.show()
        );
    }
    assert!(
        !out.stderr.contains("killed") && !out.stderr.contains("crashed"),
        "signal {signal}: {}",
        out.show()
    );
}

#[test]
fn sigint_and_sigterm_stop_a_node_without_target() {
    for signal in [libc::SIGINT, libc::SIGTERM] {
        let app = App::new();
        let running = start_residents(&app);
        // Give `rusm` a moment past the spawn lines: it installs its signal
        // handlers only after boot (see the ignored test below).
        std::thread::sleep(Duration::from_millis(300));
        assert_graceful_stop(running, signal);
    }
}

#[test]
fn a_signal_as_soon_as_the_residents_are_up_is_graceful() {
    // `rusm run` boots the node (starting the residents) and only then
    // installs its SIGINT/SIGTERM handlers: a signal in between kills the
    // process outright (status: killed by signal), with no shutdown.
    for _ in 0..10 {
        let app = App::new();
        let running = start_residents(&app);
        assert_graceful_stop(running, libc::SIGTERM);
    }
}
