//! Hostile guests against the real `rusm` binary, each among healthy
//! neighbours that must finish: what the review of issue 12 found a
//! sandboxed guest could do to the node (crash it, freeze it, make it hold
//! gigabytes, fill the terminal with escape sequences), and what happens
//! now. Each test checks the node's own figures: it does not die, its RSS
//! stays under a stated bound, a neighbour's latency stays within a stated
//! factor, SIGTERM still stops it on time. docs/adversarial.md lists them.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::{App, wat_bytes};

/// The imports the hostile guests use, a memory, and helpers:
/// `$fail(ptr, len)` crashes with the text at `ptr`, `$first` waits for
/// the first message and returns its sender, `$park` waits forever.
const PRELUDE: &str = r#"
  (import "rusm" "own_pid" (func $own_pid (result i64)))
  (import "rusm" "send" (func $send (param i64 i64 i32 i32) (result i32)))
  (import "rusm" "recv" (func $recv (param i32 i32 i64) (result i32)))
  (import "rusm" "msg_sender" (func $msg_sender (result i64)))
  (import "rusm" "msg_read" (func $msg_read (param i32 i32) (result i32)))
  (import "rusm" "sleep" (func $sleep (param i64)))
  (import "rusm" "send_after" (func $send_after (param i64 i64 i32 i32 i64) (result i64)))
  (import "rusm" "spawn" (func $spawn (param i32 i32 i32 i32 i32) (result i64)))
  (import "rusm" "monitor" (func $monitor (param i64) (result i64)))
  (import "rusm" "exit" (func $exit (param i32 i32)))
  (import "rusm" "list_processes" (func $list_processes (param i32 i32) (result i32)))
  (import "rusm" "process_info" (func $process_info (param i64 i32 i32) (result i32)))
  (import "rusm" "register" (func $register (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "clock_time_get"
    (func $clock_time_get (param i32 i64 i32) (result i32)))
  (memory (export "memory") 1)
  (func $print (param $ptr i32) (param $len i32)
    (i32.store (i32.const 0) (local.get $ptr))
    (i32.store (i32.const 4) (local.get $len))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))
  (func $fail (param $ptr i32) (param $len i32) (call $exit (local.get $ptr) (local.get $len)))
  (func $first (result i64)
    (drop (call $recv (i32.const 0) (i32.const 0) (i64.const -1)))
    (call $msg_sender))
  (func $park
    (i64.store (i32.const 16) (i64.const 999))
    (drop (call $recv (i32.const 16) (i32.const 1) (i64.const -1))))
  (func $now_ms (result i64)
    (drop (call $clock_time_get (i32.const 1) (i64.const 1000) (i32.const 24)))
    (i64.div_u (i64.load (i32.const 24)) (i64.const 1000000)))
"#;

/// A module: the [`PRELUDE`], then `items`. Text for the guest's own use
/// goes from byte 1024 up; 0..64 is scratch.
fn module(items: &str) -> String {
    format!("(module\n{PRELUDE}\n{items}\n)\n")
}

/// `(data (i32.const at) "text")` and the text's length.
fn text_at(at: u32, text: &str) -> (String, usize) {
    (
        format!("(data (i32.const {at}) \"{}\")", wat_bytes(text)),
        text.len(),
    )
}

/// The peak resident set of a process, sampled every 20 ms until stopped.
struct RssWatch {
    peak_kib: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl RssWatch {
    fn start(pid: u32) -> RssWatch {
        let peak_kib = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (peak_kib, stop) = (peak_kib.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
                        return;
                    };
                    if let Some(kib) = status
                        .lines()
                        .find_map(|l| l.strip_prefix("VmRSS:"))
                        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
                    {
                        peak_kib.fetch_max(kib, Ordering::Relaxed);
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
            })
        };
        RssWatch {
            peak_kib,
            stop,
            thread: Some(thread),
        }
    }

    /// The peak so far, in MiB.
    fn peak_mib(&self) -> u64 {
        self.peak_kib.load(Ordering::Relaxed) / 1024
    }
}

impl Drop for RssWatch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Runs `rusm ARGS` to its end, with its peak RSS in MiB.
fn run_measured(app: &App, args: &[&str]) -> (crate::Output, u64, Duration) {
    let start = Instant::now();
    let running = app.start(args);
    let rss = RssWatch::start(running.pid());
    let out = running.finish(crate::DEADLINE);
    let took = start.elapsed();
    let peak = rss.peak_mib();
    (out, peak, took)
}

#[test]
fn a_thirty_thousand_long_link_chain_ends_in_one_flat_reason() {
    // 30,000 processes linked in a chain, the last one traps. The
    // cascade's reason used to nest one level per link, and 30,000 levels
    // overflowed a worker's stack: the whole node aborted. Now every
    // process of the chain, and the root linked to its head, ends with
    // the same flat reason.
    //
    // The root spawns them and tells each its predecessor (as the tag of
    // an empty message); each links to it. Chain processes have no memory,
    // so that 30,000 fit in the default `vm.max_map_count` (an instance's
    // memory costs maps of its own).
    const CHAIN: u32 = 30_000;
    let app = App::new();
    let (name, len) = text_at(1024, "chain");
    app.write(
        "rusm.toml",
        &format!(
            r#"
[capabilities.chainer]
allow-process-control = true
max-processes = {}

[capabilities.root]
inherits = "trusted"

[components.top]
capability = "root"

[components.chain]
capability = "chainer"
"#,
            CHAIN + 100
        ),
    )
    .write(
        "wasm/chain.wat",
        r#"(module
          (import "rusm" "recv" (func $recv (param i32 i32 i64) (result i32)))
          (import "rusm" "msg_tag" (func $msg_tag (result i64)))
          (import "rusm" "msg_sender" (func $msg_sender (result i64)))
          (import "rusm" "send" (func $send (param i64 i64 i32 i32) (result i32)))
          (import "rusm" "link" (func $link (param i64) (result i32)))
          (func (export "run")
            (drop (call $recv (i32.const 0) (i32.const 0) (i64.const -1)))
            (if (i64.gt_s (call $msg_tag) (i64.const 0))
              (then (if (call $link (call $msg_tag)) (then unreachable))))
            (drop (call $send (call $msg_sender) (i64.const 1) (i32.const 0) (i32.const 0)))
            ;; The next message is the order to trap.
            (drop (call $recv (i32.const 0) (i32.const 0) (i64.const -1)))
            unreachable))"#,
    )
    .write(
        "wasm/top.wat",
        &module(&format!(
            r#"{name}
            (func (export "run") (local $i i32) (local $prev i64) (local $pid i64)
              (loop $spawn
                (local.set $pid (call $spawn (i32.const 1024) (i32.const {len}) (i32.const 0) (i32.const 0)
                                             (i32.eqz (local.get $i))))
                (if (i64.lt_s (local.get $pid) (i64.const 0)) (then unreachable))
                (drop (call $send (local.get $pid) (local.get $prev) (i32.const 0) (i32.const 0)))
                (local.set $prev (local.get $pid))
                (local.set $i (i32.add (local.get $i) (i32.const 1)))
                (br_if $spawn (i32.lt_u (local.get $i) (i32.const {CHAIN}))))
              ;; Every link is in place once every process has answered.
              (i64.store (i32.const 40) (i64.const 1))
              (local.set $i (i32.const 0))
              (loop $ack
                (drop (call $recv (i32.const 40) (i32.const 1) (i64.const -1)))
                (local.set $i (i32.add (local.get $i) (i32.const 1)))
                (br_if $ack (i32.lt_u (local.get $i) (i32.const {CHAIN}))))
              (drop (call $send (local.get $prev) (i64.const 2) (i32.const 0) (i32.const 0)))
              (call $park))"#
        )),
    );
    let (out, peak, took) = run_measured(&app, &["run", "top"]);
    out.assert_code(1);
    assert_eq!(
        out.stderr_lines(),
        ["rusm: top#N linked: N crashed: unreachable"],
        "{}",
        out.show()
    );
    eprintln!("chain of {CHAIN}: {took:?}, peak RSS {peak} MiB");
}

#[test]
fn a_selective_receive_over_a_huge_mailbox_does_not_freeze_the_node() {
    // Two residents each queue 50,000 messages to themselves and then
    // poll them with 64 tags that never match, over and over; a third asks
    // for 65 tags. A neighbour's ten 100 ms sleeps must not take more than
    // twice as long as they do on a quiet node, and SIGTERM must stop it.
    let app = App::new();
    let scanner = module(
        r#"(func (export "run") (local $i i32)
          (block $full (loop $fill
            (br_if $full (call $send (call $own_pid) (i64.extend_i32_u (local.get $i)) (i32.const 0) (i32.const 0)))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br_if $fill (i32.lt_u (local.get $i) (i32.const 50000)))))
          ;; 64 tags that no queued message carries: -1000 .. -937.
          (local.set $i (i32.const 0))
          (loop $tags
            (i64.store (i32.add (i32.const 4096) (i32.shl (local.get $i) (i32.const 3)))
                       (i64.sub (i64.const -1000) (i64.extend_i32_u (local.get $i))))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br_if $tags (i32.lt_u (local.get $i) (i32.const 65))))
          ;; 65 tags are malformed.
          (if (i32.ne (call $recv (i32.const 4096) (i32.const 65) (i64.const 0)) (i32.const -3))
            (then unreachable))
          (loop $scan
            (drop (call $recv (i32.const 4096) (i32.const 64) (i64.const 0)))
            (br $scan)))"#,
    );
    let (done, done_len) = text_at(2048, "neighbour done\n");
    let (slow, slow_len) = text_at(2100, "the neighbour was slowed down");
    let neighbour = module(&format!(
        r#"{done} {slow}
        (func (export "run") (local $t i64) (local $i i32)
          (local.set $t (call $now_ms))
          (loop $nap
            (call $sleep (i64.const 100))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br_if $nap (i32.lt_u (local.get $i) (i32.const 10))))
          ;; Ten 100 ms sleeps: within twice a quiet node's second.
          (if (i64.gt_u (i64.sub (call $now_ms) (local.get $t)) (i64.const 2000))
            (then (call $fail (i32.const 2100) (i32.const {slow_len}))))
          (call $print (i32.const 2048) (i32.const {done_len})))"#
    ));
    let manifest = |residents: bool| {
        format!(
            r#"
shutdown-seconds = 2

[capabilities.root]
inherits = "trusted"

[components.neighbour]
capability = "root"

[components.scan-a]
path = "wasm/scanner.wat"
resident = {residents}

[components.scan-b]
path = "wasm/scanner.wat"
resident = {residents}
"#
        )
    };
    app.write("wasm/scanner.wat", &scanner)
        .write("wasm/neighbour.wat", &neighbour);

    app.write("rusm.toml", &manifest(false));
    let (quiet, _, quiet_took) = run_measured(&app, &["run", "neighbour"]);
    quiet.assert_code(0);

    app.write("rusm.toml", &manifest(true));
    let (busy, peak, busy_took) = run_measured(&app, &["run", "neighbour"]);
    busy.assert_code(0);
    assert_eq!(busy.stdout, "neighbour done\n");
    eprintln!(
        "neighbour: {quiet_took:?} alone, {busy_took:?} beside two scanners; peak RSS {peak} MiB"
    );
    assert!(
        busy_took < quiet_took * 2 + Duration::from_secs(2),
        "{busy_took:?} vs {quiet_took:?} (shutdown included)"
    );

    // Without a root the scanners run until a signal: SIGTERM stops them
    // within `shutdown-seconds`.
    let mut node = app.start(&["--log", "debug", "run"]);
    node.wait_for_line("both scanners spawned", |l| l.contains("scan-b#"));
    std::thread::sleep(Duration::from_millis(500));
    let t = Instant::now();
    node.signal(libc::SIGTERM);
    let out = node.finish(Duration::from_secs(10));
    let stop_took = t.elapsed();
    out.assert_code(0);
    assert!(
        stop_took < Duration::from_secs(4),
        "SIGTERM took {stop_took:?}"
    );
}

/// The hoarders of [`what_a_guest_makes_the_node_hold_is_bounded`]: each
/// takes its first message (from the root), piles up what it can until a
/// call answers `LIMIT` (-8), checks how many it got, tells the root, and
/// keeps it all.
fn hoarder(setup: &str, step: &str, expect: u32, cap: u32) -> String {
    let (no_limit, no_limit_len) = text_at(1024, "no limit reached");
    let (wrong, wrong_len) = text_at(1100, &format!("expected {expect} before the limit"));
    module(&format!(
        r#"{no_limit} {wrong}
        (func (export "run") (local $root i64) (local $n i32) (local $r i64)
          (local.set $root (call $first))
          {setup}
          (block $limit (loop $more
            (local.set $r {step})
            (br_if $limit (i64.eq (local.get $r) (i64.const -8)))
            (if (i64.lt_s (local.get $r) (i64.const 0)) (then unreachable))
            (local.set $n (i32.add (local.get $n) (i32.const 1)))
            (if (i32.ge_u (local.get $n) (i32.const {cap}))
              (then (call $fail (i32.const 1024) (i32.const {no_limit_len}))))
            (br $more)))
          (if (i32.ne (local.get $n) (i32.const {expect}))
            (then (call $fail (i32.const 1100) (i32.const {wrong_len}))))
          (drop (call $send (local.get $root) (i64.const 1) (i32.const 0) (i32.const 0)))
          (call $park))"#
    ))
}

#[test]
fn what_a_guest_makes_the_node_hold_is_bounded() {
    // Five ways a sandboxed guest (64 MiB heap) used to make the node hold
    // about a gigabyte each: 16 MiB messages to itself, 1 MiB names, a
    // million `noproc` downs, `monitor(self)` then `process_info`, and far
    // timers with 1 MiB payloads left behind by a process that exits.
    // Each now stops at `max-queued-mb` (64): the flood after 3 messages,
    // the names after 63, the timers after 63, the monitors after 61,679
    // (each reserves room for a down with the longest reason, 1,088 bytes,
    // and the link to the root reserves one more). The node's
    // peak RSS stays under 512 MiB with four hoarders at their limit and
    // twenty timer-setters come and gone; before, it was gigabytes.
    let app = App::new();
    const MIB: u32 = 1 << 20;
    let grow_17 = "(drop (memory.grow (i32.const 17)))";
    app.write(
        "wasm/flood.wat",
        &hoarder(
            "(drop (memory.grow (i32.const 256)))",
            &format!(
                "(i64.extend_i32_s (call $send (call $own_pid) (i64.const 7) (i32.const 65536) (i32.const {})))",
                16 * MIB
            ),
            3,
            20,
        ),
    )
    .write(
        "wasm/names.wat",
        &hoarder(
            grow_17,
            &format!(
                "(i32.store (i32.const 65536) (local.get $n))
                 (i64.extend_i32_s (call $register (i32.const 65536) (i32.const {MIB})))"
            ),
            63,
            200,
        ),
    )
    .write(
        "wasm/downs.wat",
        &hoarder("", "(call $monitor (i64.const 0x10000000000))", 61_679, 1_000_000),
    )
    .write(
        "wasm/selfmon.wat",
        &hoarder(
            "",
            "(call $monitor (call $own_pid))",
            61_679,
            1_000_000,
        )
        .replace(
            "(drop (call $send (local.get $root)",
            // The info of a process monitored 61,679 times is built in one
            // call: it lists at most 10,000 watchers, well under 1 MiB.
            "(if (i32.gt_u (call $process_info (call $own_pid) (i32.const 0) (i32.const 0)) (i32.const 1048576))
               (then unreachable))
             (drop (call $send (local.get $root)",
        ),
    );
    let (timers_ok, _) = text_at(1200, "timers counted");
    app.write(
        "wasm/timers.wat",
        &module(&format!(
            r#"{timers_ok}
            (func (export "run") (local $n i32) (local $root i64)
              (local.set $root (call $first))
              {grow_17}
              (block $limit (loop $more
                (br_if $limit (i64.eq (call $send_after (local.get $root) (i64.const 5) (i32.const 65536)
                                        (i32.const {MIB}) (i64.const 1000000000))
                                      (i64.const -8)))
                (local.set $n (i32.add (local.get $n) (i32.const 1)))
                (br_if $more (i32.lt_u (local.get $n) (i32.const 200)))))
              ;; 63 fit in 64 MiB; then it exits and its timers go with it.
              (if (i32.ne (local.get $n) (i32.const 63)) (then unreachable)))"#
        )),
    );
    let names = ["flood", "names", "downs", "selfmon"];
    let mut data = String::new();
    let mut spawns = String::new();
    for (i, n) in names.iter().enumerate() {
        let at = 1024 + 32 * i as u32;
        data.push_str(&text_at(at, n).0);
        spawns.push_str(&format!(
            "(if (i64.lt_s (call $spawn (i32.const {at}) (i32.const {}) (i32.const 1500) (i32.const 2) (i32.const 1)) (i64.const 0)) (then unreachable))\n",
            n.len()
        ));
    }
    let (timers, _) = text_at(1400, "timers");
    let (ready, ready_len) = text_at(1600, "hoarders at their limits\n");
    let (gone, gone_len) = text_at(1700, "timer setters came and went\n");
    app.write(
        "wasm/root.wat",
        &module(&format!(
            r#"{data} {timers} {ready} {gone} (data (i32.const 1500) "go")
            (func (export "run") (local $i i32) (local $pid i64)
              {spawns}
              ;; Four `ready` messages, tag 1.
              (i64.store (i32.const 40) (i64.const 1))
              (loop $wait
                (drop (call $recv (i32.const 40) (i32.const 1) (i64.const -1)))
                (local.set $i (i32.add (local.get $i) (i32.const 1)))
                (br_if $wait (i32.lt_u (local.get $i) (i32.const 4))))
              (call $print (i32.const 1600) (i32.const {ready_len}))
              ;; Twenty timer setters, one after another.
              (local.set $i (i32.const 0))
              (loop $again
                (local.set $pid (call $spawn (i32.const 1400) (i32.const 6) (i32.const 1500) (i32.const 2) (i32.const 1)))
                (i64.store (i32.const 48) (call $monitor (local.get $pid)))
                (drop (call $recv (i32.const 48) (i32.const 1) (i64.const -1)))
                (local.set $i (i32.add (local.get $i) (i32.const 1)))
                (br_if $again (i32.lt_u (local.get $i) (i32.const 20))))
              (call $print (i32.const 1700) (i32.const {gone_len})))"#
        )),
    )
    .write(
        "rusm.toml",
        r#"
[capabilities.root]
inherits = "trusted"

[components.root]
capability = "root"

[components.flood]
[components.names]
[components.downs]
[components.selfmon]
[components.timers]
"#,
    );
    let (out, peak, took) = run_measured(&app, &["run", "root"]);
    out.assert_code(0);
    assert_eq!(
        out.stdout,
        "hoarders at their limits\ntimer setters came and went\n",
        "{}",
        out.show()
    );
    eprintln!("hoarders: {took:?}, peak RSS {peak} MiB");
    assert!(peak < 512, "peak RSS {peak} MiB");
}

#[test]
fn a_spawn_bomb_stops_at_the_default_cap_and_the_node_serves() {
    // A sandboxed profile that may spawn only its own component, with no
    // `max-processes` of its own: the default cap (10,000) stops it. Then
    // a process of another profile still starts, runs and ends normally.
    let app = App::new();
    let (bomb, bomb_len) = text_at(1024, "bomb");
    let (ok, ok_len) = text_at(1100, "ok");
    let (line, line_len) = text_at(1200, "the node still spawns\n");
    app.write(
        "rusm.toml",
        r#"
[capabilities.bomber]
allow-spawn = ["bomb"]

[capabilities.root]
inherits = "trusted"

[components.root]
capability = "root"

[components.bomb]
capability = "bomber"

[components.ok]
"#,
    )
    .write(
        "wasm/bomb.wat",
        &module(&format!(
            r#"{bomb}
            (func (export "run")
              (block $cap (loop $more
                (br_if $cap (i64.lt_s (call $spawn (i32.const 1024) (i32.const {bomb_len}) (i32.const 0) (i32.const 0) (i32.const 0))
                                      (i64.const 0)))
                (br $more)))
              (call $park))"#
        )),
    )
    .write("wasm/ok.wat", "(module (func (export \"run\")))")
    .write(
        "wasm/root.wat",
        &module(&format!(
            r#"{bomb} {ok} {line}
            (func (export "run") (local $pid i64)
              (drop (call $spawn (i32.const 1024) (i32.const {bomb_len}) (i32.const 0) (i32.const 0) (i32.const 0)))
              ;; Until the bombs stop growing: 10,000 of them, plus this root.
              (loop $wait
                (call $sleep (i64.const 50))
                (br_if $wait (i32.lt_u (call $list_processes (i32.const 0) (i32.const 0)) (i32.const 10001))))
              (call $sleep (i64.const 200))
              (if (i32.ne (call $list_processes (i32.const 0) (i32.const 0)) (i32.const 10001))
                (then unreachable))
              (local.set $pid (call $spawn (i32.const 1100) (i32.const {ok_len}) (i32.const 0) (i32.const 0) (i32.const 0)))
              (if (i64.lt_s (local.get $pid) (i64.const 0)) (then unreachable))
              (i64.store (i32.const 48) (call $monitor (local.get $pid)))
              (drop (call $recv (i32.const 48) (i32.const 1) (i64.const -1)))
              (call $print (i32.const 1200) (i32.const {line_len})))"#
        )),
    );
    let (out, peak, took) = run_measured(&app, &["run", "root"]);
    out.assert_code(0);
    assert_eq!(out.stdout, "the node still spawns\n", "{}", out.show());
    eprintln!("spawn bomb: {took:?}, peak RSS {peak} MiB");
}

#[test]
fn a_reason_cannot_move_the_terminal_cursor_or_forge_a_log_line() {
    let app = App::new();
    let reason = "a\rb\x1b[2Jc\u{2028}d\u{202e}e\nrusm exit  root#1 normal";
    let (data, len) = text_at(1024, reason);
    app.write(
        "evil.wat",
        &module(&format!(
            r#"{data} (func (export "run") (call $fail (i32.const 1024) (i32.const {len})))"#
        )),
    );
    let out = app.rusm(&["--log", "info", "run", "evil.wat"]);
    out.assert_code(1);
    let escaped = r"crashed: a\x0db\x1b[2Jc\u{2028}d\u{202e}e; rusm exit  root#1 normal";
    assert_eq!(
        out.stderr_lines(),
        [
            format!("rusm exit  evil#N {escaped}"),
            format!("rusm: evil#N {escaped}")
        ]
        .map(|l| crate::without_pids(&l)),
        "{}",
        out.show()
    );
    assert!(
        !out.stderr.contains(['\r', '\x1b', '\u{2028}', '\u{202e}']),
        "raw control characters on stderr"
    );
}

#[test]
fn the_node_raises_its_open_file_limit_to_the_hard_limit() {
    // Started with a low soft limit (as a shell's default often is), the
    // node raises it to the hard limit at boot, so that only each
    // process's own `max-open-files` bounds a guest.
    use std::os::unix::process::CommandExt;
    let app = App::new();
    app.write(
        "nap.wat",
        &module("(func (export \"run\") (call $sleep (i64.const 3000)))"),
    );
    let mut cmd = app.command(&["run", "nap.wat"]);
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            let mut limit = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            limit.rlim_cur = limit.rlim_max.min(256);
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let running = crate::Running::start(cmd);
    let limits = |pid: u32| -> Option<(String, String)> {
        let text = std::fs::read_to_string(format!("/proc/{pid}/limits")).ok()?;
        let line = text.lines().find(|l| l.starts_with("Max open files"))?;
        let mut fields = line["Max open files".len()..].split_whitespace();
        Some((fields.next()?.to_string(), fields.next()?.to_string()))
    };
    // The boot happens at once; give it a moment, well within the nap.
    let start = Instant::now();
    let (soft, hard) = loop {
        let (soft, hard) = limits(running.pid()).expect("the node's /proc limits");
        if soft == hard || start.elapsed() > Duration::from_secs(2) {
            break (soft, hard);
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(soft, hard, "the soft open-file limit was not raised");
    running.finish(crate::DEADLINE).assert_code(0);
}
