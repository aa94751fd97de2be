//! CPU time per Wasm process, counted from the epoch ticks it ran through
//! (`cpu.rs` in the crate): a spinning guest is charged about its running
//! time, a parked one nothing, and one woken often for a few microseconds
//! of work nothing either (a wake-up after a wait is not a tick of work).

use std::time::{Duration, Instant};

use rusm_caps::Capabilities;
use rusm_core::{ExitReason, Pid};

use crate::{fixture, harness};

const WALL: Duration = Duration::from_millis(300);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spinning_guest_is_charged_its_running_time_and_an_idle_one_nothing() {
    let h = harness();
    let spin = h.load(
        "spin",
        r#"(module (memory (export "memory") 1) (func (export "run") (loop $l (br $l))))"#,
    );
    let idle = h.load(
        "idle",
        &format!(
            r#"(module {} (func (export "run") (drop (call $recv (i32.const 0) (i32.const 0) (i64.const -1)))))"#,
            fixture("prelude.wat")
        ),
    );
    let started = Instant::now();
    let spinner = h.spawn(&spin, Capabilities::sandboxed());
    let parked = h.spawn(&idle, Capabilities::sandboxed());
    tokio::time::sleep(WALL).await;
    let spun = h.node.info(spinner).unwrap().usage.cpu_ms;
    let wall = started.elapsed().as_millis() as u64;
    let slept = h.node.info(parked).unwrap().usage.cpu_ms;
    // The spinner has a worker of its own most of the time; a shared
    // machine may take some of it away, never more than the wall time
    // (plus a tick).
    assert!(
        (wall / 4..=wall + 2).contains(&spun),
        "spinner: {spun} ms of CPU in {wall} ms"
    );
    assert_eq!(slept, 0, "a parked guest used no CPU");
    h.node.kill(spinner).unwrap();
    assert_eq!(h.reason(spinner).await, ExitReason::Killed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guest_woken_often_for_a_moment_is_charged_almost_nothing() {
    let h = harness();
    // Receives forever; each message costs it a few instructions.
    let echo = h.load(
        "echo",
        &format!(
            r#"(module {} (func (export "run")
                 (loop $l (drop (call $recv (i32.const 0) (i32.const 0) (i64.const -1))) (br $l))))"#,
            fixture("prelude.wat")
        ),
    );
    let pid = h.spawn(&echo, Capabilities::sandboxed());
    // Woken every 3 ms: each time its deadline (one tick after its last
    // run) has long passed, so its first epoch check runs the callback;
    // none of those ticks was spent running.
    let until = Instant::now() + WALL;
    let mut sent = 0;
    while Instant::now() < until {
        h.node.send(Pid::NODE, pid, 1, Vec::new()).unwrap();
        sent += 1;
        tokio::time::sleep(Duration::from_millis(3)).await;
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while h.node.info(pid).unwrap().usage.messages_received < sent {
        assert!(Instant::now() < deadline, "the guest stopped receiving");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let cpu = h.node.info(pid).unwrap().usage.cpu_ms;
    assert!(
        cpu <= 10,
        "{cpu} ms charged for {sent} wake-ups of a few microseconds each"
    );
    h.node.kill(pid).unwrap();
}
