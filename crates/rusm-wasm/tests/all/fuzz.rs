//! Every `rusm` import called with random and extreme arguments, next to
//! healthy processes that must not notice.
//!
//! The guests are generated from a seed (printed; `RUSM_FUZZ_SEED=<n>`
//! reruns one) as straight-line WAT: 50–100 calls with constant arguments,
//! results dropped, over one page of memory that holds valid UTF-8, invalid
//! UTF-8, control and bidi characters, a tag list and a payload. Arguments
//! are drawn from the edges: the last byte of memory and one past it,
//! `i32::MIN`/`MAX` pointers, negative and huge lengths, tag counts 0, 64,
//! 65 and `i32::MAX`, dead and foreign pids, `i64::MIN`/`MAX` tags, tiny and
//! huge timeouts.
//!
//! What must hold, whatever the guests do:
//! - the host never panics (a panic hook counts them: the core turns a
//!   panic in a host call into `crashed: <panic text>`, which would
//!   otherwise pass for the guest's own crash);
//! - a guest ends `normal` or `crashed: ...` (privileged ones may also end
//!   `linked: ...`: they link to victims on purpose), or is still waiting
//!   at the deadline and then ends `killed` within a second of `kill`;
//!   never `failed to start`; every reason is one line, escaped, capped;
//! - every healthy neighbour (echo/ping pairs, number crunchers) ends
//!   `normal`;
//! - once everything has ended, the node's tables are empty;
//! - the node still runs a fresh guest.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rusm_caps::{Capabilities, SpawnGrant};
use rusm_core::{ExitReason, NodeStats, Pid, SpawnOptions};
use rusm_wasm::WasmSpawn;

use crate::{Harness, fixture, harness_with_store};

/// Fuzz guests under `sandboxed`.
const SANDBOXED_GUESTS: usize = 48;
/// Fuzz guests with spawn, process control and storage.
const PRIVILEGED_GUESTS: usize = 12;
/// Echo server + ping client pairs.
const PAIRS: usize = 20;
const ROUNDS: i64 = 400;
/// Guests that only compute and return.
const CRUNCHERS: usize = 8;
/// Native processes the privileged guests may kill and link to.
const VICTIMS: usize = 4;

/// How long the fuzz guests get before the survivors are killed.
const FUZZ_WINDOW: Duration = Duration::from_secs(5);
/// How long a killed guest may take to end.
const KILL_WITHIN: Duration = Duration::from_secs(1);
/// How long the healthy neighbours may take, from the start.
const HEALTHY_WINDOW: Duration = Duration::from_secs(30);
/// The whole test.
const TEST_BOUND: Duration = Duration::from_secs(60);

/// Tags the healthy processes use. The fuzz guests draw tags from a small
/// list of edges and from all of `i64`; hitting one of these by chance is a
/// 2^-60 event.
const GO: i64 = 0x6f5e_ed00_0000_0001;
const STOP: i64 = 0x6f5e_ed00_0000_0002;
const ROUND_BASE: i64 = 0x6f5e_ed01_0000_0000;

// Guest memory (one page, 65,536 bytes):
/// 0..1024: scratch the host writes into.
const SCRATCH: i64 = 0;
/// 1024..1600: 72 tags.
const TAGS: i64 = 1024;
const TAG_COUNT: i64 = 72;
/// 2048..: the texts below, one after another.
const TEXTS_AT: i64 = 2048;
/// 4096..8192: a payload (a pattern, then zeros).
const DATA: i64 = 4096;
/// The last 8 bytes hold one more tag, for tag lists at the very edge.
const LAST_TAG: i64 = 65528;
const PAGE: i64 = 65536;

/// Names, keys and reasons: valid UTF-8, hostile but valid text, and
/// invalid UTF-8.
fn texts() -> Vec<Vec<u8>> {
    let mut t: Vec<Vec<u8>> = [
        "fuzz-child",
        "fuzz-name",
        "bucket",
        "key-1",
        "",
        "名前-ü",
        "line\nbreak\r\x1b[2J\x07\x7f",
        "\u{202e}evil\u{2066}\u{2028}\u{85}x",
        "a\0b",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    t.push(vec![b'n'; 300]);
    for bad in [
        &[0xff, 0xfe, 0x41][..],
        &[0xc3, 0x28],
        &[0xed, 0xa0, 0x80],
        &[0xc0, 0xaf],
        &[0xf8, 0x88, 0x80, 0x80, 0x80],
        &[0xe2, 0x82],
    ] {
        t.push(bad.to_vec());
    }
    t
}

/// The tags at `TAGS`: edges first, then small numbers.
fn tag_values() -> Vec<i64> {
    let mut v = vec![0, 1, -1, i64::MIN, i64::MAX, 7, 42, -42];
    v.extend(8..TAG_COUNT);
    v
}

/// A small, seeded xorshift64*: the guests must be reproducible from the
/// printed seed, and no dependency is needed for that.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng((seed ^ 0x9e37_79b9_7f4a_7c15) | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn percent(&mut self, p: u64) -> bool {
        self.below(100) < p
    }

    fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len() as u64) as usize]
    }
}

fn seed() -> u64 {
    if let Ok(s) = std::env::var("RUSM_FUZZ_SEED") {
        let s = s.trim();
        let parsed = match s.strip_prefix("0x") {
            Some(hex) => u64::from_str_radix(hex, 16),
            None => s.parse(),
        };
        return parsed.unwrap_or_else(|e| panic!("RUSM_FUZZ_SEED={s}: {e}"));
    }
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64)
}

/// Who a generated guest may name.
struct Targets {
    /// Healthy processes: observed (send, monitor, info, ...) by everyone,
    /// killed or linked to only by sandboxed guests (who get `denied`).
    neighbours: Vec<Pid>,
    /// Native processes that privileged guests may kill and link to.
    victims: Vec<Pid>,
    /// A pid that was used and has ended.
    dead: Pid,
}

#[derive(Clone, Copy, PartialEq)]
enum PidUse {
    /// send, monitor, is_alive, process_info, unlink: harmless to the
    /// target whoever calls it.
    Observe,
    /// kill, link: the target may die of it.
    Control,
}

/// One generated guest.
struct Generator<'a> {
    rng: &'a mut Rng,
    targets: &'a Targets,
    texts: &'a [(i64, i64)],
    /// May pass pointer ranges outside memory (and crash of it).
    hostile: bool,
    /// Runs with spawn, process control and storage.
    privileged: bool,
}

const IMPORTS: &[&str] = &[
    "own_pid",
    "send",
    "recv",
    "msg_sender",
    "msg_tag",
    "msg_len",
    "msg_read",
    "make_ref",
    "sleep",
    "send_after",
    "cancel_timer",
    "spawn",
    "link",
    "unlink",
    "monitor",
    "demonitor",
    "trap_exit",
    "kill",
    "exit",
    "is_alive",
    "list_processes",
    "process_info",
    "register",
    "unregister",
    "whereis",
    "set_label",
    "kv_get",
    "kv_set",
    "kv_delete",
    "kv_exists",
    "kv_keys",
    "kv_cas",
    "spawn_on",
    "register_global",
    "whereis_global",
    "nodes",
    "node_of",
];

fn c32(v: i64) -> String {
    format!("(i32.const {})", v as i32)
}

fn c64(v: i64) -> String {
    format!("(i64.const {v})")
}

impl Generator<'_> {
    /// `(ptr, len)` at an edge: within memory for tame guests, anywhere for
    /// hostile ones (rarely, so that a hostile guest gets through a good
    /// part of its calls before its out-of-bounds crash).
    fn edge(&mut self) -> (i64, i64) {
        const TAME: &[(i64, i64)] = &[
            (PAGE - 1, 1),
            (PAGE, 0),
            (PAGE - 1, 0),
            (0, 0),
            (0, PAGE),
            (LAST_TAG, 8),
        ];
        const OUT: &[(i64, i64)] = &[
            (PAGE, 1),
            (PAGE - 1, 2),
            (i32::MAX as i64, 1),
            (i32::MIN as i64, 4),
            (0, -1),
            (0, i32::MIN as i64),
            (0, i32::MAX as i64),
            (100, -5),
            (-1, 1),
            (65000, 1000),
            (-8, 8),
            (PAGE, i32::MAX as i64),
        ];
        if self.hostile && self.rng.percent(12) {
            self.rng.pick(OUT)
        } else {
            self.rng.pick(TAME)
        }
    }

    fn pair(p: (i64, i64)) -> String {
        format!("{} {}", c32(p.0), c32(p.1))
    }

    /// Bytes to read: mostly the payload or a text, sometimes an edge.
    fn input(&mut self) -> String {
        let p = match self.rng.below(100) {
            0..50 => {
                let off = DATA + self.rng.below(256) as i64;
                let len = self.rng.pick(&[0, 1, 7, 8, 64, 1000, 3840]);
                (off, len)
            }
            50..75 => self.rng.pick(self.texts),
            _ => self.edge(),
        };
        Self::pair(p)
    }

    /// A buffer to write into.
    fn output(&mut self) -> String {
        let p = match self.rng.below(100) {
            0..60 => (SCRATCH, self.rng.pick(&[0, 1, 8, 100, 1024])),
            60..70 => (DATA, 4096),
            _ => self.edge(),
        };
        Self::pair(p)
    }

    /// A name, bucket or key.
    fn text(&mut self) -> String {
        let p = if self.rng.percent(85) {
            self.rng.pick(self.texts)
        } else {
            self.edge()
        };
        Self::pair(p)
    }

    fn tag(&mut self) -> String {
        match self.rng.below(100) {
            0..60 => c64(self.rng.pick(&tag_values())),
            60..80 => c64(self.rng.below(100) as i64),
            _ => c64(self.rng.next() as i64),
        }
    }

    /// A tag list for `recv`: `(ptr, count)`.
    fn tags(&mut self) -> String {
        let p = match self.rng.below(100) {
            0..70 => (
                TAGS,
                self.rng.pick(&[0, 0, 1, 2, 8, 9, 63, 64, 65, TAG_COUNT]),
            ),
            70..80 => (LAST_TAG, 1),
            80..90 => (
                TAGS,
                self.rng
                    .pick(&[-1, i32::MIN as i64, i32::MAX as i64, 1000, 8192]),
            ),
            _ => self.edge(),
        };
        Self::pair(p)
    }

    /// A wait in milliseconds: mostly short, sometimes forever.
    fn wait(&mut self) -> String {
        c64(match self.rng.below(100) {
            0..30 => 0,
            30..80 => self.rng.below(20) as i64 + 1,
            80..95 => self.rng.below(200) as i64 + 20,
            95 => -1,
            96 => i64::MIN,
            97 => i64::MAX,
            98 => 1 << 40,
            _ => i64::MAX - 1,
        })
    }

    /// A `send_after` delay: anything, huge included (a pending timer
    /// outlives no one: see the stats check).
    fn delay(&mut self) -> String {
        c64(match self.rng.below(100) {
            0..30 => 0,
            30..70 => self.rng.below(50) as i64,
            70..80 => -1,
            80..85 => i64::MIN,
            85..90 => i64::MAX,
            90..95 => 1 << 40,
            _ => 100_000,
        })
    }

    fn pid(&mut self, use_: PidUse) -> String {
        let t = self.targets;
        loop {
            match self.rng.below(100) {
                0..15 if use_ == PidUse::Control && self.privileged => {
                    return "(local.get $child)".into();
                }
                // Killing itself would end it `killed`, which only a
                // deadline may do.
                0..15 if use_ == PidUse::Observe => return "(call $own_pid)".into(),
                15..30 => {
                    return c64(self.rng.pick(&[
                        t.dead.get() as i64,
                        0,
                        -1,
                        i64::MIN,
                        i64::MAX,
                        999_999_999,
                    ]));
                }
                30..65 if use_ == PidUse::Observe || !self.privileged => {
                    return c64(self.rng.pick(&t.neighbours).get() as i64);
                }
                65..80 => return c64(self.rng.pick(&t.victims).get() as i64),
                // Any small pid, live or not; never for kill (it could be
                // the guest itself).
                80..90 if use_ == PidUse::Observe => {
                    return c64(self.rng.below(300) as i64 + 1);
                }
                90..100 if self.privileged => return "(local.get $child)".into(),
                _ => continue,
            }
        }
    }

    /// A timer id or monitor reference: the last one made, or a guess.
    fn reference(&mut self) -> String {
        if self.rng.percent(50) {
            "(local.get $ref)".into()
        } else {
            c64(self
                .rng
                .pick(&[0, 1, -1, i64::MIN, i64::MAX, 1 << 32, 12345]))
        }
    }

    fn flag(&mut self) -> String {
        c32(self
            .rng
            .pick(&[0, 1, 0, 1, -1, 2, i32::MAX as i64, i32::MIN as i64]))
    }

    /// `list_processes(buf, count)`.
    fn pid_buffer(&mut self) -> String {
        if self.rng.percent(75) {
            let count = self.rng.pick(&[0, 1, 8, 128, 8192]);
            Self::pair((SCRATCH, count))
        } else if self.hostile {
            let count = self.rng.pick(&[8193, -1, i32::MAX as i64, i32::MIN as i64]);
            Self::pair((self.rng.pick(&[0, PAGE - 8, PAGE]), count))
        } else {
            Self::pair((PAGE - 8, 1))
        }
    }

    /// One call, results dropped (or kept in `$ref` / `$child`).
    fn call(&mut self) -> String {
        let mut import = self.rng.pick(IMPORTS);
        // `exit` ends the guest: keep it rare.
        while import == "exit" && !self.rng.percent(10) {
            import = self.rng.pick(IMPORTS);
        }
        match import {
            "own_pid" | "msg_sender" | "msg_tag" | "msg_len" | "make_ref" => {
                if import == "make_ref" {
                    "(local.set $ref (call $make_ref))".into()
                } else {
                    format!("(drop (call ${import}))")
                }
            }
            "send" => format!(
                "(drop (call $send {} {} {}))",
                self.pid(PidUse::Observe),
                self.tag(),
                self.input()
            ),
            "recv" => format!("(drop (call $recv {} {}))", self.tags(), self.wait()),
            "msg_read" => format!("(drop (call $msg_read {}))", self.output()),
            "sleep" => format!("(call $sleep {})", self.wait()),
            "send_after" => format!(
                "(local.set $ref (call $send_after {} {} {} {}))",
                self.pid(PidUse::Observe),
                self.tag(),
                self.input(),
                self.delay()
            ),
            "cancel_timer" | "demonitor" => {
                format!("(drop (call ${import} {}))", self.reference())
            }
            "spawn" => format!(
                "(local.set $child (call $spawn {} {} {}))",
                self.text(),
                self.input(),
                self.flag()
            ),
            "link" | "kill" => format!("(drop (call ${import} {}))", self.pid(PidUse::Control)),
            "unlink" | "is_alive" => {
                format!("(drop (call ${import} {}))", self.pid(PidUse::Observe))
            }
            "monitor" => format!(
                "(local.set $ref (call $monitor {}))",
                self.pid(PidUse::Observe)
            ),
            "trap_exit" => format!("(drop (call $trap_exit {}))", self.flag()),
            "exit" => format!("(call $exit {})", self.text()),
            "list_processes" => format!("(drop (call $list_processes {}))", self.pid_buffer()),
            "process_info" => format!(
                "(drop (call $process_info {} {}))",
                self.pid(PidUse::Observe),
                self.output()
            ),
            "register" | "unregister" | "whereis" => {
                format!("(drop (call ${import} {}))", self.text())
            }
            "set_label" => format!("(call $set_label {})", self.input()),
            "kv_get" | "kv_keys" => format!(
                "(drop (call ${import} {} {} {}))",
                self.text(),
                self.text(),
                self.output()
            ),
            "kv_set" => format!(
                "(drop (call $kv_set {} {} {}))",
                self.text(),
                self.text(),
                self.input()
            ),
            "kv_delete" | "kv_exists" => {
                format!("(drop (call ${import} {} {}))", self.text(), self.text())
            }
            "kv_cas" => {
                let expected = if self.rng.percent(30) {
                    Self::pair((DATA, -1))
                } else {
                    self.input()
                };
                format!(
                    "(drop (call $kv_cas {} {} {expected} {}))",
                    self.text(),
                    self.text(),
                    self.input()
                )
            }
            // No cluster here: these answer as on a lone node, after
            // reading (and checking) every pointer they are given.
            "spawn_on" => format!(
                "(local.set $child (call $spawn_on {} {} {} {}))",
                self.text(),
                self.text(),
                self.input(),
                self.flag()
            ),
            "register_global" | "whereis_global" => {
                format!("(drop (call ${import} {}))", self.text())
            }
            "nodes" => format!("(drop (call $nodes {}))", self.output()),
            "node_of" => format!(
                "(drop (call $node_of {} {}))",
                self.pid(PidUse::Observe),
                self.output()
            ),
            other => unreachable!("no generator for {other}"),
        }
    }

    /// The guest's WAT and how many calls it makes.
    fn guest(&mut self) -> (String, usize) {
        let calls = 50 + self.rng.below(51) as usize;
        let mut body = String::new();
        for _ in 0..calls {
            body.push_str("    ");
            body.push_str(&self.call());
            body.push('\n');
        }
        (
            format!(
                "(module\n{}\n{}\n  (func (export \"run\") (local $ref i64) (local $child i64)\n{body}))",
                fixture("prelude.wat"),
                memory_image()
            ),
            calls,
        )
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("\\{b:02x}")).collect()
}

/// Every guest's data segments: tags, texts, payload, the last tag.
fn memory_image() -> String {
    let mut s = String::new();
    let tags: Vec<u8> = tag_values().iter().flat_map(|t| t.to_le_bytes()).collect();
    let _ = writeln!(s, "  (data (i32.const {TAGS}) \"{}\")", hex(&tags));
    let mut at = TEXTS_AT;
    for t in texts() {
        let _ = writeln!(s, "  (data (i32.const {at}) \"{}\")", hex(&t));
        at += t.len() as i64 + 1;
    }
    assert!(at < DATA, "the texts overflow into the payload");
    let pattern: Vec<u8> = (0..256u32).map(|i| (i * 7 + 3) as u8).collect();
    let _ = writeln!(s, "  (data (i32.const {DATA}) \"{}\")", hex(&pattern));
    let _ = writeln!(
        s,
        "  (data (i32.const {LAST_TAG}) \"{}\")",
        hex(&i64::MAX.to_le_bytes())
    );
    s
}

/// Where each text lands: `(ptr, len)`.
fn text_spans() -> Vec<(i64, i64)> {
    let mut at = TEXTS_AT;
    texts()
        .iter()
        .map(|t| {
            let span = (at, t.len() as i64);
            at += t.len() as i64 + 1;
            span
        })
        .collect()
}

/// Echoes each data message to its sender with its tag and (up to 4 KiB
/// of) its data, until `STOP`.
fn echo() -> String {
    format!(
        r#"(module {}
  (func (export "run") (local $k i32) (local $n i32)
    (loop $l
      (local.set $k (call $recv (i32.const 0) (i32.const 0) (i64.const -1)))
      (if (i32.eqz (local.get $k)) (then
        (if (i64.eq (call $msg_tag) (i64.const {STOP})) (then (return)))
        (local.set $n (call $msg_read (i32.const 1024) (i32.const 4096)))
        (if (i32.gt_u (local.get $n) (i32.const 4096)) (then (local.set $n (i32.const 4096))))
        (drop (call $send (call $msg_sender) (call $msg_tag) (i32.const 1024) (local.get $n)))))
      (br $l))))"#,
        fixture("prelude.wat")
    )
}

/// Waits for `GO` (data: the echo server's pid), then does `ROUNDS` round
/// trips, each checked (tag, sender, data), a short sleep between them,
/// then stops the echo server. Any failed check exits with its name.
fn ping() -> String {
    format!(
        r#"(module {}
  (data (i32.const 4096) "send failed")
  (data (i32.const 4112) "no reply")
  (data (i32.const 4128) "wrong sender")
  (data (i32.const 4144) "wrong data")
  (func (export "run") (local $i i64) (local $echo i64)
    (i64.store (i32.const 0) (i64.const {GO}))
    (drop (call $recv (i32.const 0) (i32.const 1) (i64.const -1)))
    (drop (call $msg_read (i32.const 8) (i32.const 8)))
    (local.set $echo (i64.load (i32.const 8)))
    (block $done (loop $l
      (br_if $done (i64.ge_s (local.get $i) (i64.const {ROUNDS})))
      (i64.store (i32.const 16) (i64.add (i64.const {ROUND_BASE}) (local.get $i)))
      (if (call $send (local.get $echo) (i64.load (i32.const 16)) (i32.const 16) (i32.const 8))
        (then (call $exit (i32.const 4096) (i32.const 11))))
      (if (i32.ne (call $recv (i32.const 16) (i32.const 1) (i64.const 10000)) (i32.const 0))
        (then (call $exit (i32.const 4112) (i32.const 8))))
      (if (i64.ne (call $msg_sender) (local.get $echo))
        (then (call $exit (i32.const 4128) (i32.const 12))))
      (if (i32.ne (call $msg_read (i32.const 24) (i32.const 8)) (i32.const 8))
        (then (call $exit (i32.const 4144) (i32.const 10))))
      (if (i64.ne (i64.load (i32.const 24)) (i64.load (i32.const 16)))
        (then (call $exit (i32.const 4144) (i32.const 10))))
      (call $sleep (i64.const 2))
      (local.set $i (i64.add (local.get $i) (i64.const 1)))
      (br $l)))
    (drop (call $send (local.get $echo) (i64.const {STOP}) (i32.const 0) (i32.const 0)))))"#,
        fixture("prelude.wat")
    )
}

/// Waits for `GO`, then steps an LCG 30 million times and returns.
fn cruncher() -> String {
    format!(
        r#"(module {}
  (func (export "run") (local $i i32) (local $x i64)
    (i64.store (i32.const 0) (i64.const {GO}))
    (drop (call $recv (i32.const 0) (i32.const 1) (i64.const -1)))
    (loop $l
      (local.set $x (i64.add (i64.mul (local.get $x) (i64.const 6364136223846793005)) (i64.const 1442695040888963407)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const 30000000))))
    (if (i64.eqz (local.get $x)) (then unreachable))))"#,
        fixture("prelude.wat")
    )
}

const TRIVIAL: &str = r#"(module (memory (export "memory") 1) (func (export "run")))"#;

/// Counts panics on the runtime's threads (ours are named `rusm-fuzz-*`;
/// the runtime's own are `rusm-epoch`, `rusm-kv-writer`) while installed,
/// and hands over to the previous hook, which still prints them.
struct PanicCounter {
    seen: Arc<Mutex<Vec<String>>>,
    previous: Arc<dyn Fn(&std::panic::PanicHookInfo<'_>) + Send + Sync>,
}

impl PanicCounter {
    fn install() -> Self {
        let previous: Arc<dyn Fn(&std::panic::PanicHookInfo<'_>) + Send + Sync> =
            Arc::from(std::panic::take_hook());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (s, p) = (seen.clone(), previous.clone());
        std::panic::set_hook(Box::new(move |info| {
            let thread = std::thread::current();
            let name = thread.name().unwrap_or("");
            if name.starts_with("rusm-") {
                let msg = info
                    .payload()
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| info.payload().downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                let at = info.location().map(|l| l.to_string()).unwrap_or_default();
                s.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(format!("[{name}] {msg} at {at}"));
            }
            p(info);
        }));
        PanicCounter { seen, previous }
    }

    /// Puts the previous hook back; returns the panics seen.
    fn restore(self) -> Vec<String> {
        let _ours = std::panic::take_hook();
        let previous = self.previous;
        std::panic::set_hook(Box::new(move |info| previous(info)));
        std::mem::take(&mut *self.seen.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

#[test]
fn fuzz_every_import_with_hostile_arguments() {
    let seed = seed();
    eprintln!("abi fuzz: seed {seed} (rerun with RUSM_FUZZ_SEED={seed})");
    let panics = PanicCounter::install();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("rusm-fuzz-worker")
        .enable_all()
        .build()
        .expect("tokio runtime");
    let outcome = runtime.block_on(async { tokio::time::timeout(TEST_BOUND, run(seed)).await });
    runtime.shutdown_timeout(Duration::from_secs(2));
    let panics = panics.restore();
    let mut failures = outcome.unwrap_or_else(|_| {
        vec![format!(
            "the test did not finish within {TEST_BOUND:?} (a wait blocked the node?)"
        )]
    });
    if !panics.is_empty() {
        failures.insert(
            0,
            format!("(a) {} host panic(s): {}", panics.len(), panics.join(" | ")),
        );
    }
    assert!(
        failures.is_empty(),
        "abi fuzz, seed {seed} (RUSM_FUZZ_SEED={seed}): {} failed check(s):\n  {}",
        failures.len(),
        failures.join("\n  ")
    );
}

fn reason_of(h: &Harness, pid: Pid) -> Option<ExitReason> {
    h.exits.0.lock().unwrap().get(&pid).cloned()
}

/// Waits until every pid in `pids` has ended or `until` passes.
async fn wait_ended(h: &Harness, pids: impl Iterator<Item = Pid> + Clone, until: Instant) {
    while Instant::now() < until && pids.clone().any(|p| reason_of(h, p).is_none()) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// What the contract says of every reason's text, whoever ended: one line,
/// control and bidi characters escaped, at most 1,024 bytes, and a
/// `linked:` reason never nests.
fn reason_shape(reason: &ExitReason) -> Result<(), String> {
    let text = match reason {
        ExitReason::Crashed(t) | ExitReason::FailedToStart(t) => t.as_str(),
        ExitReason::Linked(_, inner) => {
            if matches!(**inner, ExitReason::Linked(..)) {
                return Err("a nested `linked:` reason".into());
            }
            return reason_shape(inner);
        }
        _ => return Ok(()),
    };
    if text.len() > 1024 {
        return Err(format!(
            "{} bytes of reason text (at most 1,024)",
            text.len()
        ));
    }
    let forged = |c: char| {
        c.is_control()
            || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    };
    if let Some(c) = text.chars().find(|&c| forged(c)) {
        return Err(format!("unescaped {:?} in the reason text", c));
    }
    Ok(())
}

/// Short and printable, for the summary.
fn brief(reason: &ExitReason) -> String {
    let s = reason.to_string();
    let s: String = s.chars().take(48).collect();
    format!("{s:?}")
}

async fn run(seed: u64) -> Vec<String> {
    let mut failures = Vec::new();
    let (h, _store, _dir) = harness_with_store();
    let sandboxed = Capabilities::sandboxed();
    let mut privileged = Capabilities::builder(Capabilities::sandboxed())
        .allow_spawn(SpawnGrant::Any)
        .allow_process_control(true)
        .allow_storage(true)
        .max_processes(Some(1000))
        .build();
    privileged.profile = "fuzz-privileged".into();
    let child = h.load("fuzz-child", TRIVIAL);
    h.rt.add_component("fuzz-child", child, Some(Capabilities::sandboxed()));

    let dead = h
        .node
        .spawn(SpawnOptions::new(), |_ctx| async {})
        .expect("spawn");
    wait_ended(
        &h,
        [dead].into_iter(),
        Instant::now() + Duration::from_secs(5),
    )
    .await;

    // The healthy neighbours, waiting for GO.
    let (echo, ping, cruncher) = (
        h.load("fuzz-echo", &echo()),
        h.load("fuzz-ping", &ping()),
        h.load("fuzz-cruncher", &cruncher()),
    );
    let mut pairs = Vec::new();
    for _ in 0..PAIRS {
        pairs.push((
            h.spawn(&echo, sandboxed.clone()),
            h.spawn(&ping, sandboxed.clone()),
        ));
    }
    let crunchers: Vec<Pid> = (0..CRUNCHERS)
        .map(|_| h.spawn(&cruncher, sandboxed.clone()))
        .collect();
    let victims: Vec<Pid> = (0..VICTIMS)
        .map(|_| {
            h.node
                .spawn(SpawnOptions::new(), crate::isolation::park)
                .expect("spawn")
        })
        .collect();
    let healthy: Vec<Pid> = pairs
        .iter()
        .flat_map(|&(e, p)| [e, p])
        .chain(crunchers.iter().copied())
        .collect();
    let targets = Targets {
        neighbours: healthy.clone(),
        victims: victims.clone(),
        dead,
    };

    // The fuzz guests, generated and compiled before anything starts.
    let mut rng = Rng::new(seed);
    let spans = text_spans();
    let mut guests = Vec::new();
    let mut total_calls = 0;
    for i in 0..SANDBOXED_GUESTS + PRIVILEGED_GUESTS {
        let is_privileged = i >= SANDBOXED_GUESTS;
        let (wat, calls) = Generator {
            rng: &mut rng,
            targets: &targets,
            texts: &spans,
            hostile: i % 3 != 0,
            privileged: is_privileged,
        }
        .guest();
        total_calls += calls;
        let name = format!("fuzz-{i}");
        let artifact =
            h.rt.load_bytes(&name, wat.as_bytes())
                .unwrap_or_else(|e| panic!("generated guest {name} does not load: {e}\n{wat}"));
        guests.push((name, artifact, is_privileged));
    }

    // Go: neighbours first, then the fuzz guests among them.
    let start = Instant::now();
    for &(e, p) in &pairs {
        h.node
            .send(Pid::NODE, p, GO, (e.get() as i64).to_le_bytes().to_vec())
            .expect("ping alive");
    }
    for &c in &crunchers {
        h.node
            .send(Pid::NODE, c, GO, Vec::new())
            .expect("cruncher alive");
    }
    let mut fuzz = Vec::new();
    for (name, artifact, is_privileged) in &guests {
        let caps = if *is_privileged {
            privileged.clone()
        } else {
            sandboxed.clone()
        };
        let spawned = h.rt.spawn(
            artifact,
            WasmSpawn {
                name: name.as_str().into(),
                args: vec![],
                caps: caps.into(),
                parent: Pid::NODE,
                options: SpawnOptions::new(),
            },
        );
        match spawned {
            Ok(pid) => fuzz.push((name.clone(), pid, *is_privileged)),
            Err(e) => failures.push(format!("(b) {name}: the host refused to spawn it: {e}")),
        }
    }

    // (b) The fuzz guests: ended on their own, or killed at the deadline.
    wait_ended(&h, fuzz.iter().map(|f| f.1), start + FUZZ_WINDOW).await;
    let waiting: Vec<Pid> = fuzz
        .iter()
        .map(|f| f.1)
        .filter(|&p| reason_of(&h, p).is_none())
        .collect();
    let killed_at = Instant::now();
    for &p in &waiting {
        let _ = h.node.kill(p);
    }
    wait_ended(&h, waiting.iter().copied(), killed_at + KILL_WITHIN).await;
    let mut classes: BTreeMap<String, usize> = BTreeMap::new();
    for (name, pid, is_privileged) in &fuzz {
        let Some(reason) = reason_of(&h, *pid) else {
            failures.push(format!(
                "(b) {name} ({pid}) still alive {KILL_WITHIN:?} after kill: a wait blocks it"
            ));
            continue;
        };
        let was_waiting = waiting.contains(pid);
        let ok = match &reason {
            ExitReason::Normal | ExitReason::Crashed(_) | ExitReason::ExitCode(_) => true,
            ExitReason::Killed => was_waiting,
            ExitReason::Linked(..) => *is_privileged,
            ExitReason::FailedToStart(_)
            | ExitReason::Shutdown
            | ExitReason::NoConnection
            | ExitReason::NoProc => false,
        };
        if !ok {
            failures.push(format!("(b) {name} ({pid}) ended {}", brief(&reason)));
        }
        if let Err(e) = reason_shape(&reason) {
            failures.push(format!("(b) {name} ({pid}): {e}: {}", brief(&reason)));
        }
        let class = match &reason {
            ExitReason::Crashed(t) => {
                let t: String = t.chars().take(40).collect();
                format!("crashed: {t:?}")
            }
            ExitReason::Linked(..) => "linked".into(),
            other => other.to_string(),
        };
        *classes.entry(class).or_default() += 1;
    }

    // (c) The healthy neighbours.
    wait_ended(&h, healthy.iter().copied(), start + HEALTHY_WINDOW).await;
    for &p in &healthy {
        match reason_of(&h, p) {
            Some(ExitReason::Normal) => {}
            Some(r) => failures.push(format!("(c) healthy {p} ended {}", brief(&r))),
            None => failures.push(format!(
                "(c) healthy {p} not done within {HEALTHY_WINDOW:?}"
            )),
        }
    }
    let healthy_done = start.elapsed();

    // (d) Everything ended: the node's tables are empty.
    for &v in &victims {
        let _ = h.node.kill(v);
    }
    for p in h.node.processes() {
        // Whatever is left (healthy processes that failed above, children).
        let _ = h.node.kill(p);
    }
    let until = Instant::now() + Duration::from_secs(3);
    let empty = NodeStats {
        table_capacity: 0,
        ..NodeStats::default()
    };
    let mut stats = h.node.stats();
    while Instant::now() < until {
        stats = h.node.stats();
        stats.table_capacity = 0;
        if stats == empty {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    if stats != empty {
        failures.push(format!(
            "(d) 3 s after every process ended the node still holds {stats:?}"
        ));
    }

    // (e) The node still serves.
    let fresh = h.load("fuzz-fresh", TRIVIAL);
    let pid = h.spawn(&fresh, Capabilities::sandboxed());
    wait_ended(
        &h,
        [pid].into_iter(),
        Instant::now() + Duration::from_secs(5),
    )
    .await;
    match reason_of(&h, pid) {
        Some(ExitReason::Normal) => {}
        other => failures.push(format!("(e) a fresh guest afterwards ended {other:?}")),
    }

    eprintln!(
        "abi fuzz: seed {seed}: {} guests, {total_calls} calls generated; {} still waiting at {FUZZ_WINDOW:?} and killed; healthy neighbours checked at {healthy_done:.1?}",
        fuzz.len(),
        waiting.len()
    );
    for (class, n) in &classes {
        eprintln!("  {n:>3} {class}");
    }
    failures
}
