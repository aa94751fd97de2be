//! `soak`: hostile guests among healthy ones on one node, for minutes, with
//! the node's resident memory, its live processes and the healthy round
//! trips' p99 sampled over time.
//!
//! Hostile guests (each respawned as soon as the last one ended): a memory
//! bomb, an infinite loop (killed after a second), a mailbox flood to
//! itself with 1 MiB messages, `send_after` with 1 MiB payloads then exit,
//! thousands of long registered names, `monitor(self)` in a loop then
//! `process_info`, a spawn bomb (a registered component that spawns itself,
//! linked, under a profile capped at 1,000 processes; killed after two
//! seconds) and a `recv` with 64 tags over a long mailbox. Each has an
//! expected ending (`normal`, `crashed`, or `killed` by the driver at its
//! deadline); any other ending, or none by the deadline, is counted.
//!
//! Healthy guests, respawned likewise: ping-pong pairs and request/reply
//! clients (`make_ref` + `monitor` + `send` + `recv([ref, mon])`) of one
//! resident echo server. They time their round trips with WASI's
//! monotonic clock and send the timings to a collector; each must end
//! `normal`. The baseline is the first interval, before any hostile guest
//! starts.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rusm_caps::{Capabilities, SpawnGrant};
use rusm_core::{ExitReason, Pid, SpawnOptions};
use rusm_wasm::{Artifact, WasmSpawn};
use tokio::task::JoinSet;

use crate::core::resident_bytes;
use crate::report::{Report, quantile_us};
use crate::wasm::{Runtime, runtime};

/// The imports the soak's guests use.
const IMPORTS: &str = r#"
  (import "rusm" "own_pid" (func $own_pid (result i64)))
  (import "rusm" "send" (func $send (param i64 i64 i32 i32) (result i32)))
  (import "rusm" "recv" (func $recv (param i32 i32 i64) (result i32)))
  (import "rusm" "msg_sender" (func $msg_sender (result i64)))
  (import "rusm" "msg_tag" (func $msg_tag (result i64)))
  (import "rusm" "msg_read" (func $msg_read (param i32 i32) (result i32)))
  (import "rusm" "make_ref" (func $make_ref (result i64)))
  (import "rusm" "sleep" (func $sleep (param i64)))
  (import "rusm" "send_after" (func $send_after (param i64 i64 i32 i32 i64) (result i64)))
  (import "rusm" "spawn" (func $spawn (param i32 i32 i32 i32 i32) (result i64)))
  (import "rusm" "monitor" (func $monitor (param i64) (result i64)))
  (import "rusm" "demonitor" (func $demonitor (param i64) (result i32)))
  (import "rusm" "exit" (func $exit (param i32 i32)))
  (import "rusm" "process_info" (func $process_info (param i64 i32 i32) (result i32)))
  (import "rusm" "register" (func $register (param i32 i32) (result i32)))
  (import "rusm" "whereis" (func $whereis (param i32 i32) (result i64)))
  (import "wasi_snapshot_preview1" "clock_time_get" (func $clock (param i32 i64 i32) (result i32)))
"#;

/// Stops an echo server; no other sender uses this tag.
const STOP: i64 = 0x50a4_0000_0000_0001;
/// Round trips per healthy process.
const ROUNDS: i32 = 100;
/// The collector's tags for each healthy kind's timings.
const PING_PONG: i64 = 1;
const REQUEST_REPLY: i64 = 2;
/// The resident echo server's registered name.
const SERVER: &str = "soak-echo";

fn guest(body: &str) -> String {
    format!("(module {IMPORTS}\n{body})")
}

/// Echoes each data message to its sender with its tag and (up to 4 KiB
/// of) its data, until `STOP`.
fn echo() -> String {
    guest(&format!(
        r#"(memory (export "memory") 1)
  (func (export "run") (local $n i32)
    (loop $l
      (if (i32.eqz (call $recv (i32.const 0) (i32.const 0) (i64.const -1))) (then
        (if (i64.eq (call $msg_tag) (i64.const {STOP})) (then (return)))
        (local.set $n (call $msg_read (i32.const 1024) (i32.const 4096)))
        (if (i32.gt_u (local.get $n) (i32.const 4096)) (then (local.set $n (i32.const 4096))))
        (drop (call $send (call $msg_sender) (call $msg_tag) (i32.const 1024) (local.get $n)))))
      (br $l)))"#
    ))
}

/// The shared shape of a timed healthy guest: reads its first message
/// (collector pid, then the peer's pid; 0 = look up the resident server)
/// to 0..16, runs `round` `ROUNDS` times with a 1 ms pause, storing each
/// round trip's nanoseconds from 8192, then sends them to the collector
/// with tag `kind` and runs `end`. A failed check exits with its name.
fn timed(kind: i64, round: &str, end: &str) -> String {
    guest(&format!(
        r#"(memory (export "memory") 1)
  (data (i32.const 5000) "{SERVER}")
  (data (i32.const 5100) "no server")
  (data (i32.const 5120) "send failed")
  (data (i32.const 5140) "no reply")
  (data (i32.const 5160) "wrong reply")
  (func $now (result i64) (drop (call $clock (i32.const 1) (i64.const 1) (i32.const 4096))) (i64.load (i32.const 4096)))
  (func (export "run") (local $i i32) (local $t0 i64) (local $p i32) (local $peer i64) (local $ref i64) (local $mon i64)
    (drop (call $recv (i32.const 0) (i32.const 0) (i64.const -1)))
    (drop (call $msg_read (i32.const 0) (i32.const 16)))
    (local.set $peer (i64.load (i32.const 8)))
    (if (i64.eqz (local.get $peer)) (then
      (local.set $peer (call $whereis (i32.const 5000) (i32.const {server_len})))
      (if (i64.lt_s (local.get $peer) (i64.const 0)) (then (call $exit (i32.const 5100) (i32.const 9))))))
    (local.set $p (i32.const 8192))
    (block $done (loop $l
      (br_if $done (i32.ge_s (local.get $i) (i32.const {ROUNDS})))
      (local.set $t0 (call $now))
      {round}
      (i64.store (local.get $p) (i64.sub (call $now) (local.get $t0)))
      (local.set $p (i32.add (local.get $p) (i32.const 8)))
      (call $sleep (i64.const 1))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $l)))
    (drop (call $send (i64.load (i32.const 0)) (i64.const {kind}) (i32.const 8192) (i32.sub (local.get $p) (i32.const 8192))))
    {end})"#,
        server_len = SERVER.len()
    ))
}

/// A ping-pong round: tag `i + 1`, selective receive on it.
fn ping() -> String {
    timed(
        PING_PONG,
        r#"(i64.store (i32.const 16) (i64.extend_i32_u (i32.add (local.get $i) (i32.const 1))))
      (if (call $send (local.get $peer) (i64.load (i32.const 16)) (i32.const 16) (i32.const 8))
        (then (call $exit (i32.const 5120) (i32.const 11))))
      (if (i32.ne (call $recv (i32.const 16) (i32.const 1) (i64.const 5000)) (i32.const 0))
        (then (call $exit (i32.const 5140) (i32.const 8))))"#,
        &format!(
            "(drop (call $send (local.get $peer) (i64.const {STOP}) (i32.const 0) (i32.const 0)))"
        ),
    )
}

/// A request/reply call: `ref = make_ref()`, `mon = monitor(server)`,
/// `send(server, ref)`, `recv([ref, mon])`, `demonitor(mon)`.
fn client() -> String {
    timed(
        REQUEST_REPLY,
        r#"(local.set $ref (call $make_ref))
      (local.set $mon (call $monitor (local.get $peer)))
      (i64.store (i32.const 16) (local.get $ref))
      (i64.store (i32.const 24) (local.get $mon))
      (if (call $send (local.get $peer) (local.get $ref) (i32.const 16) (i32.const 8))
        (then (call $exit (i32.const 5120) (i32.const 11))))
      (if (i32.ne (call $recv (i32.const 16) (i32.const 2) (i64.const 5000)) (i32.const 0))
        (then (call $exit (i32.const 5140) (i32.const 8))))
      (if (i64.ne (call $msg_tag) (local.get $ref))
        (then (call $exit (i32.const 5160) (i32.const 11))))
      (drop (call $demonitor (local.get $mon)))"#,
        "",
    )
}

/// How a hostile guest is expected to end.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Expect {
    Normal,
    Crashed,
    /// The driver kills it at its deadline; it must then end `killed`
    /// within a second.
    KilledAtDeadline,
}

struct Hostile {
    name: &'static str,
    wat: String,
    /// `Some`: spawned by name as this registered component (its declared
    /// profile); `None`: spawned directly under `sandboxed`.
    component: Option<&'static str>,
    expect: Expect,
    deadline: Duration,
    /// Between one run's end and the next spawn.
    pause: Duration,
}

fn hostiles() -> Vec<Hostile> {
    let secs = Duration::from_secs;
    let ms = Duration::from_millis;
    vec![
        Hostile {
            name: "memory-bomb",
            // Grow 1 MiB at a time and touch every page of it, until the
            // heap limit traps it (or `memory.grow` fails: a crash too).
            wat: guest(
                r#"(memory (export "memory") 1)
  (func (export "run") (local $p i32) (local $end i32)
    (loop $l
      (if (i32.lt_s (memory.grow (i32.const 16)) (i32.const 0)) (then unreachable))
      (local.set $end (i32.mul (memory.size) (i32.const 65536)))
      (local.set $p (i32.sub (local.get $end) (i32.const 1048576)))
      (loop $t
        (i32.store8 (local.get $p) (i32.const 1))
        (local.set $p (i32.add (local.get $p) (i32.const 4096)))
        (br_if $t (i32.lt_u (local.get $p) (local.get $end))))
      (br $l)))"#,
            ),
            component: None,
            expect: Expect::Crashed,
            deadline: secs(10),
            pause: ms(100),
        },
        Hostile {
            name: "infinite-loop",
            wat: guest(r#"(memory (export "memory") 1) (func (export "run") (loop $l (br $l)))"#),
            component: None,
            expect: Expect::KilledAtDeadline,
            deadline: secs(1),
            pause: ms(100),
        },
        Hostile {
            name: "mailbox-flood",
            // Up to 200 messages of 1 MiB to itself, until `send` refuses.
            wat: guest(
                r#"(memory (export "memory") 17)
  (func (export "run") (local $i i32)
    (block $full (loop $l
      (br_if $full (call $send (call $own_pid) (i64.const 1) (i32.const 0) (i32.const 1048576)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const 200)))))
    (call $sleep (i64.const 200)))"#,
            ),
            component: None,
            expect: Expect::Normal,
            deadline: secs(20),
            pause: ms(100),
        },
        Hostile {
            name: "send-after-payloads",
            // 80 timers of 1 MiB each, due in 2 s, then exit.
            wat: guest(
                r#"(memory (export "memory") 17)
  (func (export "run") (local $i i32)
    (block $full (loop $l
      (br_if $full (i64.lt_s (call $send_after (call $own_pid) (i64.const 1) (i32.const 0) (i32.const 1048576) (i64.const 2000)) (i64.const 0)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const 80))))))"#,
            ),
            component: None,
            expect: Expect::Normal,
            deadline: secs(10),
            pause: ms(500),
        },
        Hostile {
            name: "long-names",
            // Up to 100,000 distinct 1,000-byte names, until `register`
            // refuses.
            wat: guest(
                r#"(memory (export "memory") 1)
  (func (export "run") (local $i i32) (local $j i32) (local $d i32)
    (memory.fill (i32.const 0) (i32.const 110) (i32.const 1000))
    (block $full (loop $l
      (local.set $j (local.get $i))
      (local.set $d (i32.const 0))
      (loop $digit
        (i32.store8 (local.get $d) (i32.add (i32.const 97) (i32.rem_u (local.get $j) (i32.const 26))))
        (local.set $j (i32.div_u (local.get $j) (i32.const 26)))
        (local.set $d (i32.add (local.get $d) (i32.const 1)))
        (br_if $digit (i32.lt_u (local.get $d) (i32.const 5))))
      (br_if $full (call $register (i32.const 0) (i32.const 1000)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const 100000))))))"#,
            ),
            component: None,
            expect: Expect::Normal,
            deadline: secs(30),
            pause: ms(100),
        },
        Hostile {
            name: "monitor-self",
            // 100,000 monitors of itself, then its info (all 64 KiB).
            wat: guest(
                r#"(memory (export "memory") 1)
  (func (export "run") (local $i i32)
    (block $full (loop $l
      (br_if $full (i64.lt_s (call $monitor (call $own_pid)) (i64.const 0)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const 100000)))))
    (drop (call $process_info (call $own_pid) (i32.const 0) (i32.const 65536))))"#,
            ),
            component: None,
            expect: Expect::Normal,
            deadline: secs(30),
            pause: ms(100),
        },
        Hostile {
            name: "spawn-bomb",
            // Spawns linked copies of itself until `spawn` refuses, then
            // waits; killing the first takes the tree down over the links.
            wat: guest(
                r#"(memory (export "memory") 1)
  (data (i32.const 100) "soak-bomb")
  (func (export "run")
    (block $stop (loop $l
      (br_if $stop (i64.lt_s (call $spawn (i32.const 100) (i32.const 9) (i32.const 0) (i32.const 0) (i32.const 1)) (i64.const 0)))
      (br $l)))
    (drop (call $recv (i32.const 0) (i32.const 0) (i64.const -1))))"#,
            ),
            component: Some("soak-bomb"),
            expect: Expect::KilledAtDeadline,
            deadline: secs(2),
            pause: ms(500),
        },
        Hostile {
            name: "recv-64-tags",
            // 100,000 messages to itself, then five 200 ms waits for any
            // of 64 tags that none of them has.
            wat: guest(
                r#"(memory (export "memory") 1)
  (func (export "run") (local $i i32)
    (loop $tags
      (i64.store (i32.shl (local.get $i) (i32.const 3)) (i64.extend_i32_u (i32.add (local.get $i) (i32.const 1000))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $tags (i32.lt_u (local.get $i) (i32.const 64))))
    (local.set $i (i32.const 0))
    (block $full (loop $l
      (br_if $full (call $send (call $own_pid) (i64.const 1) (i32.const 1024) (i32.const 16)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const 100000)))))
    (local.set $i (i32.const 0))
    (loop $wait
      (if (i32.ne (call $recv (i32.const 0) (i32.const 64) (i64.const 200)) (i32.const -4)) (then unreachable))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $wait (i32.lt_u (local.get $i) (i32.const 5)))))"#,
            ),
            component: None,
            expect: Expect::Normal,
            deadline: secs(30),
            pause: ms(100),
        },
    ]
}

/// Counts of one kind of guest.
#[derive(Default)]
struct Tally {
    runs: u64,
    unexpected: u64,
    /// The first few unexpected endings, for the notes.
    examples: Vec<String>,
}

impl Tally {
    fn record(&mut self, ok: bool, what: impl FnOnce() -> String) {
        self.runs += 1;
        if !ok {
            self.unexpected += 1;
            if self.examples.len() < 3 {
                self.examples.push(what());
            }
        }
    }
}

/// Round-trip timings (ns) of the current interval, by healthy kind.
#[derive(Default)]
struct Samples {
    ping_pong: Vec<u64>,
    request_reply: Vec<u64>,
}

struct Shared {
    stop: AtomicBool,
    samples: Mutex<Samples>,
    healthy: Mutex<Tally>,
    hostile: Mutex<Vec<(&'static str, Tally)>>,
}

fn spawn_args(name: &str, caps: &Arc<Capabilities>, options: SpawnOptions) -> WasmSpawn {
    WasmSpawn {
        name: name.into(),
        args: vec![],
        caps: caps.clone(),
        parent: Pid::NODE,
        options,
    }
}

/// Waits for `exit` until `deadline`; past it, kills `pid` and waits a
/// second more. Returns the reason (if any) and whether it was killed.
async fn end_of(
    r: &Runtime,
    pid: Pid,
    exit: rusm_core::ExitWatch,
    deadline: Duration,
) -> (Option<ExitReason>, bool) {
    tokio::pin!(exit);
    if let Ok(reason) = tokio::time::timeout(deadline, &mut exit).await {
        return (Some(reason), false);
    }
    let _ = r.node.kill(pid);
    (
        tokio::time::timeout(Duration::from_secs(1), &mut exit)
            .await
            .ok(),
        true,
    )
}

/// One hostile slot: runs its guest again and again until told to stop.
async fn hostile_slot(r: Arc<Runtime>, shared: Arc<Shared>, index: usize, h: Hostile) {
    let artifact =
        r.rt.load_bytes(h.name, h.wat.as_bytes())
            .unwrap_or_else(|e| panic!("{}: {e}", h.name));
    if let Some(component) = h.component {
        let mut caps = Capabilities::builder(Capabilities::sandboxed())
            .allow_spawn(SpawnGrant::Only(vec![component.into()]))
            .max_processes(Some(1000))
            .build();
        caps.profile = component.into();
        r.rt.add_component(component, artifact.clone(), Some(caps));
    }
    let sandboxed = Arc::new(Capabilities::sandboxed());
    while !shared.stop.load(Ordering::Relaxed) {
        let spawned = match h.component {
            Some(c) => r.rt.spawn_component_watched(c, vec![]),
            None => r.rt.spawn_watched(
                &artifact,
                spawn_args(h.name, &sandboxed, SpawnOptions::new()),
            ),
        };
        let (pid, exit) = match spawned {
            Ok(s) => s,
            Err(e) => {
                shared.hostile.lock().expect("tally")[index]
                    .1
                    .record(false, || format!("spawn refused: {e}"));
                tokio::time::sleep(h.pause).await;
                continue;
            }
        };
        let (reason, killed) = end_of(&r, pid, exit, h.deadline).await;
        let ok = matches!(
            (h.expect, &reason, killed),
            (Expect::Normal, Some(ExitReason::Normal), false)
                | (Expect::Crashed, Some(ExitReason::Crashed(_)), false)
                | (Expect::KilledAtDeadline, Some(ExitReason::Killed), true)
        );
        shared.hostile.lock().expect("tally")[index]
            .1
            .record(ok, || match &reason {
                Some(reason) if killed => format!("killed at its deadline, ended {reason}"),
                Some(reason) => format!("ended {reason}"),
                None => "still alive 1 s after kill".into(),
            });
        tokio::time::sleep(h.pause).await;
    }
}

/// One healthy slot: `wat` (and an echo peer for ping-pong) again and
/// again until told to stop.
async fn healthy_slot(
    r: Arc<Runtime>,
    shared: Arc<Shared>,
    artifact: Artifact,
    echo: Option<Artifact>,
    collector: Pid,
) {
    let caps = Arc::new(Capabilities::sandboxed());
    while !shared.stop.load(Ordering::Relaxed) {
        let peer = match &echo {
            Some(echo) => match r
                .rt
                .spawn_watched(echo, spawn_args("soak-pong", &caps, SpawnOptions::new()))
            {
                Ok(p) => Some(p),
                Err(e) => {
                    shared
                        .healthy
                        .lock()
                        .expect("tally")
                        .record(false, || format!("spawn refused: {e}"));
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            None => None,
        };
        let mut first = (collector.get() as i64).to_le_bytes().to_vec();
        first.extend_from_slice(&peer.as_ref().map_or(0, |p| p.0.get() as i64).to_le_bytes());
        let spawned = r.rt.spawn_watched(
            &artifact,
            spawn_args(
                artifact.name(),
                &caps,
                SpawnOptions::new().first_message(0, first),
            ),
        );
        let mut ends = Vec::new();
        match spawned {
            Ok((pid, exit)) => ends.push(end_of(&r, pid, exit, Duration::from_secs(30)).await),
            Err(e) => shared
                .healthy
                .lock()
                .expect("tally")
                .record(false, || format!("spawn refused: {e}")),
        }
        if let Some((pid, exit)) = peer {
            // A ping that failed leaves its pong waiting: end it the same
            // way, so it counts.
            ends.push(end_of(&r, pid, exit, Duration::from_secs(1)).await);
        }
        let mut tally = shared.healthy.lock().expect("tally");
        for (reason, killed) in ends {
            tally.record(
                reason == Some(ExitReason::Normal) && !killed,
                || match reason {
                    Some(reason) => format!("ended {reason}"),
                    None => "still alive 1 s after kill".into(),
                },
            );
        }
    }
}

/// One line of the table over time.
struct Sample {
    at: Duration,
    rss: u64,
    live: u64,
    ping_pong: Vec<u64>,
    request_reply: Vec<u64>,
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / (1 << 20) as f64
}

/// Runs the soak for `duration`, sampling every `every`.
pub async fn soak(duration: Duration, every: Duration) -> anyhow::Result<Report> {
    let r = Arc::new(runtime(2_000)?);
    let shared = Arc::new(Shared {
        stop: AtomicBool::new(false),
        samples: Mutex::new(Samples::default()),
        healthy: Mutex::new(Tally::default()),
        hostile: Mutex::new(
            hostiles()
                .iter()
                .map(|h| (h.name, Tally::default()))
                .collect(),
        ),
    });
    let collector = {
        let shared = shared.clone();
        r.node.spawn(SpawnOptions::new(), move |ctx| async move {
            loop {
                let m = ctx.receive_any().await;
                let times = m
                    .data
                    .chunks_exact(8)
                    .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")));
                let mut s = shared.samples.lock().expect("samples");
                match m.tag {
                    PING_PONG => s.ping_pong.extend(times),
                    REQUEST_REPLY => s.request_reply.extend(times),
                    _ => {}
                }
            }
        })?
    };
    let echo = r.rt.load_bytes("soak-echo", echo().as_bytes())?;
    let ping = r.rt.load_bytes("soak-ping", ping().as_bytes())?;
    let client = r.rt.load_bytes("soak-client", client().as_bytes())?;
    let caps = Arc::new(Capabilities::sandboxed());
    let (server, server_exit) =
        r.rt.spawn_watched(&echo, spawn_args(SERVER, &caps, SpawnOptions::new()))?;
    r.node.register(SERVER, server)?;

    let start = Instant::now();
    let mut slots = JoinSet::new();
    for _ in 0..4 {
        slots.spawn(healthy_slot(
            r.clone(),
            shared.clone(),
            ping.clone(),
            Some(echo.clone()),
            collector,
        ));
        slots.spawn(healthy_slot(
            r.clone(),
            shared.clone(),
            client.clone(),
            None,
            collector,
        ));
    }
    println!(
        "{:>8} {:>10} {:>8} {:>16} {:>16}  phase",
        "time", "rss MiB", "live", "ping-pong p99us", "req/reply p99us"
    );
    let mut samples: Vec<Sample> = Vec::new();
    let mut hostile_started = false;
    while start.elapsed() < duration {
        let next = every * (samples.len() as u32 + 1);
        tokio::time::sleep(next.saturating_sub(start.elapsed())).await;
        let taken = std::mem::take(&mut *shared.samples.lock().expect("samples"));
        let s = Sample {
            at: start.elapsed(),
            rss: resident_bytes(),
            live: r.node.live(),
            ping_pong: taken.ping_pong,
            request_reply: taken.request_reply,
        };
        println!(
            "{:>7.0}s {:>10.1} {:>8} {:>16.0} {:>16.0}  {}",
            s.at.as_secs_f64(),
            mb(s.rss),
            s.live,
            quantile_us(&s.ping_pong, 0.99),
            quantile_us(&s.request_reply, 0.99),
            if hostile_started {
                "hostile"
            } else {
                "baseline"
            }
        );
        samples.push(s);
        if !hostile_started {
            // The first interval is the baseline: healthy guests alone.
            hostile_started = true;
            // `RUSM_SOAK_ONLY=<name>,...` runs only those hostile kinds:
            // to find which one a healthy guest's latency suffers from.
            let only = std::env::var("RUSM_SOAK_ONLY").ok();
            for (i, h) in hostiles().into_iter().enumerate() {
                if only
                    .as_deref()
                    .is_some_and(|o| !o.split(',').any(|n| n == h.name))
                {
                    continue;
                }
                slots.spawn(hostile_slot(r.clone(), shared.clone(), i, h));
            }
        }
    }
    shared.stop.store(true, Ordering::Relaxed);
    while slots.join_next().await.is_some() {}
    let _ = r.node.send(Pid::NODE, server, STOP, Vec::new());
    let server_end = tokio::time::timeout(Duration::from_secs(5), server_exit).await;
    let _ = r.node.kill(collector);
    // Let the last timers fire and the spawn bomb's links settle.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let stats = r.node.stats();
    let rss_end = resident_bytes();

    let (baseline, loaded) = samples.split_first().expect("at least one interval");
    let all = |pick: fn(&Sample) -> &Vec<u64>| -> Vec<u64> {
        loaded
            .iter()
            .flat_map(|s| pick(s).iter().copied())
            .collect()
    };
    let worst = |pick: fn(&Sample) -> &Vec<u64>| {
        loaded
            .iter()
            .map(|s| quantile_us(pick(s), 0.99))
            .filter(|v| v.is_finite())
            .fold(f64::NAN, f64::max)
    };
    let (rr, pp) = (all(|s| &s.request_reply), all(|s| &s.ping_pong));
    let healthy = shared.healthy.lock().expect("tally");
    let hostile = shared.hostile.lock().expect("tally");
    let hostile_runs: u64 = hostile.iter().map(|(_, t)| t.runs).sum();
    let hostile_unexpected: u64 = hostile.iter().map(|(_, t)| t.unexpected).sum();
    let server_normal = matches!(server_end, Ok(ExitReason::Normal));
    let rss_peak = samples.iter().map(|s| s.rss).max().unwrap_or(0);
    let mut report = Report::new(
        "soak",
        "p99 request/reply round trip us",
        quantile_us(&rr, 0.99),
        false,
    )
    .baseline(
        "p99 on the same node before the hostile guests started",
        quantile_us(&baseline.request_reply, 0.99),
    )
    .extra("ping_pong_p99_us", quantile_us(&pp, 0.99))
    .extra(
        "ping_pong_p99_us_baseline",
        quantile_us(&baseline.ping_pong, 0.99),
    )
    .extra(
        "worst_interval_request_reply_p99_us",
        worst(|s| &s.request_reply),
    )
    .extra("worst_interval_ping_pong_p99_us", worst(|s| &s.ping_pong))
    .extra("healthy_runs", healthy.runs as f64)
    .extra("healthy_unexpected", healthy.unexpected as f64)
    .extra("hostile_runs", hostile_runs as f64)
    .extra("hostile_unexpected", hostile_unexpected as f64)
    .extra("resident_server_normal", f64::from(u8::from(server_normal)))
    .extra("rss_baseline_mb", mb(baseline.rss))
    .extra("rss_peak_mb", mb(rss_peak))
    .extra("rss_end_mb", mb(rss_end))
    .extra("live_after", stats.processes as f64)
    .extra("names_after", stats.names as f64)
    .extra("timers_after", stats.timers as f64)
    .extra("links_after", stats.links as f64)
    .extra("monitors_after", stats.monitors as f64);
    for (name, t) in hostile.iter() {
        report = report.row(
            format!("{name}: unexpected of {} runs", t.runs),
            t.unexpected as f64,
            "endings",
        );
    }
    let tallies =
        std::iter::once(("healthy", &*healthy)).chain(hostile.iter().map(|(n, t)| (*n, t)));
    for (name, t) in tallies {
        for e in &t.examples {
            report = report.note(format!("{name}: {e}"));
        }
    }
    if !server_normal {
        report = report.note(format!("the resident echo server ended {server_end:?}"));
    }
    Ok(report.note(format!(
        "{:.0?} of hostile guests among 4 ping-pong pairs and 4 request/reply clients of one resident server, all respawned; samples every {every:?}; the baseline is the first interval, healthy guests alone; *_after: the node's tables 3 s after everything stopped (all 0 when clean)",
        duration.saturating_sub(every)
    )))
}
