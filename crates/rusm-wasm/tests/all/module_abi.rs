//! Every import of the core-module ABI, with its results and error codes.
//!
//! Each guest runs a list of checks; a failed check calls `exit` with the
//! check's name, so a test passes only when the process ends `normal`.

use std::fmt::Write;

use rusm_caps::{Capabilities, SpawnGrant};
use rusm_core::{ExitReason, Pid, SpawnOptions};

use crate::{fixture, harness, harness_with_store, trusted};

/// Builds a checking guest: the prelude's imports, string constants in
/// data segments from offset 4096, scratch memory below that.
#[derive(Default)]
pub(crate) struct Guest {
    body: String,
    data: String,
    next: u32,
    locals: String,
}

impl Guest {
    pub(crate) fn new() -> Self {
        Guest {
            next: 4096,
            ..Default::default()
        }
    }

    /// A string constant: `(i32.const off) (i32.const len)`.
    pub(crate) fn s(&mut self, text: &str) -> String {
        self.bytes(text.as_bytes())
    }

    /// A byte-string constant (not necessarily UTF-8), as `s` gives.
    pub(crate) fn bytes(&mut self, bytes: &[u8]) -> String {
        let off = self.next;
        self.next += bytes.len() as u32 + 1;
        let escaped: String = bytes.iter().map(|b| format!("\\{b:02x}")).collect();
        writeln!(self.data, "  (data (i32.const {off}) \"{escaped}\")").unwrap();
        format!("(i32.const {off}) (i32.const {})", bytes.len())
    }

    pub(crate) fn local(&mut self, name: &str, ty: &str) -> &mut Self {
        write!(self.locals, "(local ${name} {ty}) ").unwrap();
        self
    }

    pub(crate) fn code(&mut self, wat: &str) -> &mut Self {
        self.body.push_str(wat);
        self.body.push('\n');
        self
    }

    /// Fail with `name` unless `cond` (an i32 expression) holds.
    pub(crate) fn check(&mut self, cond: &str, name: &str) -> &mut Self {
        let msg = self.s(name);
        writeln!(self.body, "(if (i32.eqz {cond}) (then (call $exit {msg})))").unwrap();
        self
    }

    pub(crate) fn wat(&self) -> String {
        format!(
            "(module\n{}\n{}\n  (func (export \"run\") {}\n{}))",
            fixture("prelude.wat"),
            self.data,
            self.locals,
            self.body
        )
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identity_messages_and_timers() {
    let h = harness();
    let mut g = Guest::new();
    let hello = g.s("hello");
    g.local("me", "i64").local("r", "i64").local("t", "i64");
    g.code("(local.set $me (call $own_pid))")
        .check("(i64.gt_s (local.get $me) (i64.const 0))", "own_pid > 0")
        .check(&format!("(i32.eqz (call $send (local.get $me) (i64.const 5) {hello}))"), "send to self")
        // tags at 0: [5]
        .code("(i64.store (i32.const 0) (i64.const 5))")
        .check("(i32.eq (call $recv (i32.const 0) (i32.const 1) (i64.const -1)) (i32.const 0))", "recv kind data")
        .check("(i64.eq (call $msg_sender) (local.get $me))", "msg_sender")
        .check("(i64.eq (call $msg_tag) (i64.const 5))", "msg_tag")
        .check("(i32.eq (call $msg_len) (i32.const 5))", "msg_len")
        .check("(i32.eq (call $msg_read (i32.const 100) (i32.const 2)) (i32.const 5))", "msg_read full length")
        .check("(i32.eq (i32.load16_u (i32.const 100)) (i32.const 0x6568))", "msg_read wrote he")
        .check("(i32.eq (i32.load8_u (i32.const 102)) (i32.const 0))", "msg_read respects cap")
        .check("(i32.eq (call $recv (i32.const 0) (i32.const 0) (i64.const 0)) (i32.const -4))", "poll empty -> TIMEOUT")
        // selective: tag 7 queued, wait for 5 times out, then any gets 7
        .check(&format!("(i32.eqz (call $send (local.get $me) (i64.const 7) {hello}))"), "send tag 7")
        .check("(i32.eq (call $recv (i32.const 0) (i32.const 1) (i64.const 20)) (i32.const -4))", "selective timeout")
        .check("(i32.eq (call $recv (i32.const 0) (i32.const 0) (i64.const -1)) (i32.const 0))", "recv any")
        .check("(i64.eq (call $msg_tag) (i64.const 7))", "tag 7 stayed queued")
        // Tag lists past the host's inline storage (8) and within it: tags
        // 100..=111 at 200, the match last in the list and last in line.
        .code("(local.set $r (i64.const 0)) (block $b (loop $l (i64.store (i32.add (i32.const 200) (i32.wrap_i64 (i64.mul (local.get $r) (i64.const 8)))) (i64.add (i64.const 100) (local.get $r))) (local.set $r (i64.add (local.get $r) (i64.const 1))) (br_if $l (i64.lt_u (local.get $r) (i64.const 12)))))")
        .check(&format!("(i32.eqz (call $send (local.get $me) (i64.const 3) {hello}))"), "send tag 3")
        .check(&format!("(i32.eqz (call $send (local.get $me) (i64.const 111) {hello}))"), "send tag 111")
        .check(&format!("(i32.eqz (call $send (local.get $me) (i64.const 107) {hello}))"), "send tag 107")
        .check("(i32.eq (call $recv (i32.const 200) (i32.const 12) (i64.const 0)) (i32.const 0))", "recv among 12 tags")
        .check("(i64.eq (call $msg_tag) (i64.const 111))", "the first queued match of 12 tags")
        .check("(i32.eq (call $recv (i32.const 200) (i32.const 8) (i64.const 0)) (i32.const 0))", "recv among 8 tags")
        .check("(i64.eq (call $msg_tag) (i64.const 107))", "the 8th tag matched")
        .check("(i32.eq (call $recv (i32.const 200) (i32.const 12) (i64.const 0)) (i32.const -4))", "tag 3 is in neither list")
        .check("(i32.eq (call $recv (i32.const 0) (i32.const 0) (i64.const 0)) (i32.const 0))", "recv any takes tag 3")
        .check("(i32.eq (call $send (i64.const 999999) (i64.const 0) (i32.const 0) (i32.const 0)) (i32.const -1))", "send to dead -> NO_PROCESS")
        .code("(local.set $r (call $make_ref))")
        .check("(i64.gt_s (local.get $r) (i64.const 0))", "make_ref > 0")
        .check("(i64.ne (call $make_ref) (local.get $r))", "make_ref unique")
        .code("(local.set $t (call $send_after (local.get $me) (i64.const 9) (i32.const 0) (i32.const 0) (i64.const 5)))")
        .check("(i64.gt_s (local.get $t) (i64.const 0))", "send_after id")
        .code("(i64.store (i32.const 0) (i64.const 9))")
        .check("(i32.eq (call $recv (i32.const 0) (i32.const 1) (i64.const 5000)) (i32.const 0))", "timer fired")
        .check("(i32.eqz (call $cancel_timer (local.get $t)))", "fired timer not pending")
        .code("(local.set $t (call $send_after (local.get $me) (i64.const 9) (i32.const 0) (i32.const 0) (i64.const 100000)))")
        .check("(i32.eq (call $cancel_timer (local.get $t)) (i32.const 1))", "cancel pending timer")
        .code("(call $sleep (i64.const 5))")
        .check("(i32.eq (call $is_alive (local.get $me)) (i32.const 1))", "is_alive self")
        .check("(i32.eqz (call $is_alive (i64.const 999999)))", "is_alive dead");
    let guest = h.load("identity", &g.wat());
    assert_eq!(
        h.run(&guest, Capabilities::sandboxed()).await,
        ExitReason::Normal
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_check_really_fails() {
    let h = harness();
    let mut g = Guest::new();
    g.check(
        "(i64.eq (call $own_pid) (i64.const -5))",
        "deliberately wrong",
    );
    let guest = h.load("wrong", &g.wat());
    assert_eq!(
        h.run(&guest, Capabilities::sandboxed()).await.to_string(),
        "crashed: deliberately wrong"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_info_and_labels_with_process_control() {
    let h = harness();
    let mut g = Guest::new();
    let name = g.s("abi-test");
    let label = g.s("the label");
    let bad = "(i32.const 3000) (i32.const 2)";
    g.local("me", "i64").local("n", "i32");
    g.code("(local.set $me (call $own_pid))")
        .code("(i32.store16 (i32.const 3000) (i32.const 0xffff))")
        .check(&format!("(i32.eqz (call $register {name}))"), "register")
        .check(&format!("(i32.eq (call $register {name}) (i32.const -6))"), "register twice -> EXISTS")
        .check(&format!("(i32.eq (call $register {bad}) (i32.const -3))"), "bad utf-8 -> INVALID")
        .check(&format!("(i64.eq (call $whereis {name}) (local.get $me))"), "whereis")
        .code(&format!("(call $set_label {label})"))
        .code("(local.set $n (call $list_processes (i32.const 0) (i32.const 64)))")
        .check("(i32.ge_s (local.get $n) (i32.const 1))", "list_processes count")
        .code("(local.set $n (call $process_info (local.get $me) (i32.const 0) (i32.const 2048)))")
        .check("(i32.gt_s (local.get $n) (i32.const 20))", "process_info length")
        .check("(i32.eq (i32.load8_u (i32.const 0)) (i32.const 123))", "process_info is a JSON object")
        .check(&format!("(i32.eqz (call $unregister {name}))"), "unregister")
        .check(&format!("(i32.eq (call $unregister {name}) (i32.const -7))"), "unregister again -> NOT_FOUND")
        .check(&format!("(i64.eq (call $whereis {name}) (i64.const -7))"), "whereis gone -> NOT_FOUND")
        .check("(i32.eqz (call $trap_exit (i32.const 1)))", "trap_exit previous off")
        .check("(i32.eq (call $trap_exit (i32.const 0)) (i32.const 1))", "trap_exit previous on")
        .check("(i32.eq (call $kill (i64.const 999999)) (i32.const -1))", "kill dead -> NO_PROCESS")
        .check("(i32.eq (call $link (i64.const 999999)) (i32.const -1))", "link dead -> NO_PROCESS")
        .check(&format!("(i64.eq (call $spawn {name} (i32.const 0) (i32.const 0) (i32.const 0)) (i64.const -7))"), "unknown component -> NOT_FOUND");
    let guest = h.load("registry", &g.wat());
    let pid = h.spawn(&guest, trusted());
    let r = h.reason(pid).await;
    assert_eq!(r, ExitReason::Normal);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn process_info_json_has_the_wit_fields() {
    let h = harness();
    // Report our info to the host: read it into memory and send it to the
    // pid in our first message.
    let wat = format!(
        r#"(module {}
          (func (export "run") (local $n i32)
            (drop (call $recv (i32.const 0) (i32.const 0) (i64.const -1)))
            (drop (call $msg_read (i32.const 0) (i32.const 8)))
            (call $set_label (i32.const 5000) (i32.const 3))
            (local.set $n (call $process_info (call $own_pid) (i32.const 100) (i32.const 4000)))
            (drop (call $send (i64.load (i32.const 0)) (i64.const 1) (i32.const 100) (local.get $n)))
            (drop (call $recv (i32.const 0) (i32.const 0) (i64.const -1))))
          (data (i32.const 5000) "lbl"))"#,
        fixture("prelude.wat")
    );
    let guest = h.load("info", &wat);
    let (tx, rx) = tokio::sync::oneshot::channel();
    let reporter = h
        .node
        .spawn(SpawnOptions::new(), move |ctx| async move {
            let m = ctx.receive(&[1], None).await.unwrap();
            tx.send(m.data).unwrap();
        })
        .unwrap();
    let pid = h.spawn_with(
        &guest,
        Capabilities::sandboxed(),
        SpawnOptions::new().first_message(0, (reporter.get() as i64).to_le_bytes().to_vec()),
    );
    let json: serde_json::Value = serde_json::from_slice(&rx.await.unwrap()).unwrap();
    assert_eq!(json["pid"], pid.get());
    assert_eq!(json["label"], "lbl");
    assert_eq!(
        json["component"],
        serde_json::Value::Null,
        "not spawned as a registered component"
    );
    for field in [
        "names",
        "links",
        "monitored_by",
        "mailbox_len",
        "trap_exit",
        "memory_bytes",
    ] {
        assert!(json.get(field).is_some(), "{field} missing in {json}");
    }
    assert_eq!(json["memory_bytes"], 65536);
    h.node.kill(pid).unwrap();
}

/// The host sends the guest a live pid that is not its own, as the data
/// of its first message; denied calls are checked against it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sandboxed_denials_and_own_management() {
    let h = harness();
    let other = h
        .node
        .spawn(SpawnOptions::new(), crate::isolation::park)
        .unwrap();
    let mut g = Guest::new();
    let b = g.s("bucket");
    let k = g.s("key");
    let child = g.s("child");
    g.local("o", "i64").local("me", "i64");
    g.code("(drop (call $recv (i32.const 0) (i32.const 0) (i64.const -1)))")
        .code("(drop (call $msg_read (i32.const 0) (i32.const 8)))")
        .code("(local.set $o (i64.load (i32.const 0)))")
        .code("(local.set $me (call $own_pid))")
        .check("(i32.eq (call $list_processes (i32.const 0) (i32.const 8)) (i32.const -2))", "list_processes denied")
        .check("(i32.eq (call $process_info (local.get $o) (i32.const 0) (i32.const 100)) (i32.const -2))", "process_info other denied")
        .check("(i32.gt_s (call $process_info (local.get $me) (i32.const 0) (i32.const 100)) (i32.const 0))", "process_info self allowed")
        .check("(i32.eq (call $kill (local.get $o)) (i32.const -2))", "kill other denied")
        .check("(i32.eq (call $link (local.get $o)) (i32.const -2))", "link other denied")
        .check("(i64.gt_s (call $monitor (local.get $o)) (i64.const 0))", "monitor other needs no grant")
        .check("(i32.eq (call $unlink (local.get $o)) (i32.const -2))", "unlink other denied")
        .check("(i32.eqz (call $link (local.get $me)))", "link self allowed")
        .check(&format!("(i64.eq (call $spawn {child} (i32.const 0) (i32.const 0) (i32.const 0)) (i64.const -2))"), "spawn denied")
        .check(&format!("(i32.eq (call $kv_get {b} {k} (i32.const 0) (i32.const 10)) (i32.const -2))"), "kv_get denied")
        .check(&format!("(i32.eq (call $kv_set {b} {k} (i32.const 0) (i32.const 1)) (i32.const -2))"), "kv_set denied")
        .check(&format!("(i32.eq (call $kv_exists {b} {k}) (i32.const -2))"), "kv_exists denied")
        .check(&format!("(i32.eq (call $kv_delete {b} {k}) (i32.const -2))"), "kv_delete denied")
        .check(&format!("(i32.eq (call $kv_keys {b} {k} (i32.const 0) (i32.const 10)) (i32.const -2))"), "kv_keys denied")
        .check(&format!("(i32.eq (call $kv_cas {b} {k} (i32.const 0) (i32.const -1) (i32.const 0) (i32.const 1)) (i32.const -2))"), "kv_cas denied")
        .check("(i32.eq (call $send (local.get $o) (i64.const 1) (i32.const 0) (i32.const 0)) (i32.const 0))", "send is always allowed")
        .check("(i32.eq (call $is_alive (local.get $o)) (i32.const 1))", "is_alive is always allowed");
    let guest = h.load("denials", &g.wat());
    let pid = h.spawn_with(
        &guest,
        Capabilities::sandboxed(),
        SpawnOptions::new().first_message(0, (other.get() as i64).to_le_bytes().to_vec()),
    );
    assert_eq!(h.reason(pid).await, ExitReason::Normal);
    assert!(h.node.is_alive(other), "the denied kill did not happen");
}

const CHILD_REPLIES_THEN_CRASHES: &str = r#"(module
  (import "rusm" "recv" (func $recv (param i32 i32 i64) (result i32)))
  (import "rusm" "msg_sender" (func $msg_sender (result i64)))
  (import "rusm" "msg_read" (func $msg_read (param i32 i32) (result i32)))
  (import "rusm" "send" (func $send (param i64 i64 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "run")
    (drop (call $recv (i32.const 0) (i32.const 0) (i64.const -1)))
    (drop (call $msg_read (i32.const 16) (i32.const 16)))
    (drop (call $send (call $msg_sender) (i64.const 42) (i32.const 16) (i32.const 3)))
    ;; crash only if the argument starts with "die"
    (if (i32.eq (i32.load8_u (i32.const 16)) (i32.const 100)) (then unreachable))))"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spawn_by_name_with_argument_link_and_monitor() {
    let h = harness();
    let child = h.load("child", CHILD_REPLIES_THEN_CRASHES);
    // Ad hoc: the child inherits the spawner's capabilities.
    h.rt.add_component("child", child, None);
    let mut g = Guest::new();
    let name = g.s("child");
    let nope = g.s("nope");
    let ok = g.s("ok!");
    let die = g.s("die");
    g.local("c", "i64").local("m", "i64");
    g.code(&format!(
        "(local.set $c (call $spawn {name} {ok} (i32.const 0)))"
    ))
    .check(
        "(i64.gt_s (local.get $c) (i64.const 0))",
        "spawn returns pid",
    )
    .code("(i64.store (i32.const 0) (i64.const 42))")
    .check(
        "(i32.eqz (call $recv (i32.const 0) (i32.const 1) (i64.const 5000)))",
        "reply from child",
    )
    .check(
        "(i64.eq (call $msg_sender) (local.get $c))",
        "reply sender is child",
    )
    .check(
        "(i32.eq (call $msg_read (i32.const 200) (i32.const 3)) (i32.const 3))",
        "reply length",
    )
    .check(
        "(i32.eq (i32.load8_u (i32.const 200)) (i32.const 111))",
        "reply echoes arg",
    )
    .check(
        &format!(
            "(i64.eq (call $spawn {nope} (i32.const 0) (i32.const 0) (i32.const 0)) (i64.const -2))"
        ),
        "unlisted component -> DENIED",
    )
    // linked + trapping: the crash arrives as an exit message, tag -1
    .check("(i32.eqz (call $trap_exit (i32.const 1)))", "trap on")
    .code(&format!(
        "(local.set $c (call $spawn {name} {die} (i32.const 1)))"
    ))
    .code("(i64.store (i32.const 0) (i64.const -1))")
    .check(
        "(i32.eq (call $recv (i32.const 0) (i32.const 1) (i64.const 5000)) (i32.const 1))",
        "exit message kind 1",
    )
    .check("(i64.eq (call $msg_sender) (local.get $c))", "exit sender")
    .check(
        "(i32.eq (call $msg_read (i32.const 300) (i32.const 64)) (i32.const 20))",
        "exit data is the reason",
    )
    // monitor a fresh child: down with our reference
    .code(&format!(
        "(local.set $c (call $spawn {name} {ok} (i32.const 0)))"
    ))
    .code("(local.set $m (call $monitor (local.get $c)))")
    .check(
        "(i64.gt_s (local.get $m) (i64.const 0))",
        "monitor own child allowed",
    )
    .code("(i64.store (i32.const 0) (local.get $m))")
    .check(
        "(i32.eq (call $recv (i32.const 0) (i32.const 1) (i64.const 5000)) (i32.const 2))",
        "down kind 2",
    )
    .check(
        "(i64.eq (call $msg_tag) (local.get $m))",
        "down tag is the reference",
    )
    // monitor a dead pid: immediate noproc
    .code("(local.set $m (call $monitor (i64.const 999999)))")
    .code("(i64.store (i32.const 0) (local.get $m))")
    .check(
        "(i32.eq (call $recv (i32.const 0) (i32.const 1) (i64.const 0)) (i32.const 2))",
        "noproc down at once",
    )
    .check(
        "(i32.eq (call $msg_read (i32.const 400) (i32.const 16)) (i32.const 6))",
        "noproc text",
    )
    .check(
        "(i32.eq (call $demonitor (i64.const 12345678)) (i32.const -7))",
        "demonitor unknown -> NOT_FOUND",
    );
    let parent = h.load("parent", &g.wat());
    let caps = Capabilities::builder(Capabilities::sandboxed())
        .allow_spawn(SpawnGrant::Only(vec!["child".into()]))
        .build();
    let pid = h.spawn(&parent, caps);
    assert_eq!(h.reason(pid).await, ExitReason::Normal);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storage_calls_on_the_module_path() {
    let (h, store, _dir) = harness_with_store();
    let mut g = Guest::new();
    let b = g.s("bucket");
    let k1 = g.s("a1");
    let k2 = g.s("a2");
    let k3 = g.s("b1");
    let pre = g.s("a");
    let v = g.s("value");
    let w = g.s("other");
    g.check(
        &format!("(i32.eq (call $kv_get {b} {k1} (i32.const 0) (i32.const 10)) (i32.const -7))"),
        "get missing -> NOT_FOUND",
    )
    .check(&format!("(i32.eqz (call $kv_set {b} {k1} {v}))"), "set a1")
    .check(&format!("(i32.eqz (call $kv_set {b} {k3} {v}))"), "set b1")
    .check(
        &format!("(i32.eq (call $kv_get {b} {k1} (i32.const 0) (i32.const 3)) (i32.const 5))"),
        "get full length",
    )
    .check(
        "(i32.eq (i32.load8_u (i32.const 2)) (i32.const 108))",
        "get wrote val",
    )
    .check(
        &format!("(i32.eq (call $kv_exists {b} {k1}) (i32.const 1))"),
        "exists",
    )
    .check(
        &format!("(i32.eqz (call $kv_exists {b} {k2}))"),
        "not exists",
    )
    .check(
        &format!("(i32.eq (call $kv_cas {b} {k2} (i32.const 0) (i32.const -1) {v}) (i32.const 1))"),
        "cas absent -> swapped",
    )
    .check(
        &format!("(i32.eqz (call $kv_cas {b} {k2} {w} {w}))"),
        "cas wrong expected",
    )
    .check(
        &format!("(i32.eq (call $kv_cas {b} {k2} {v} {w}) (i32.const 1))"),
        "cas right expected",
    )
    // keys with prefix "a": a1, a2 => (4+2)*2 = 12 bytes
    .check(
        &format!("(i32.eq (call $kv_keys {b} {pre} (i32.const 0) (i32.const 100)) (i32.const 12))"),
        "keys size",
    )
    .check(
        "(i32.eq (i32.load (i32.const 0)) (i32.const 2))",
        "keys first length",
    )
    .check(
        "(i32.eq (i32.load16_u (i32.const 10)) (i32.const 0x3261))",
        "keys second is a2",
    )
    .check(
        &format!("(i32.eq (call $kv_delete {b} {k1}) (i32.const 1))"),
        "delete existed",
    )
    .check(
        &format!("(i32.eqz (call $kv_delete {b} {k1}))"),
        "delete again",
    );
    let guest = h.load("kv", &g.wat());
    let caps = Capabilities::builder(Capabilities::sandboxed())
        .allow_storage(true)
        .build();
    assert_eq!(h.run(&guest, caps.clone()).await, ExitReason::Normal);
    // Durable and visible to the host.
    assert_eq!(
        store.get("bucket", "a2").await.unwrap().as_deref(),
        Some(&b"other"[..])
    );

    // Granted, but the node has no store.
    let h2 = harness();
    let mut g = Guest::new();
    let b = g.s("bucket");
    let k = g.s("k");
    g.check(
        &format!("(i32.eq (call $kv_exists {b} {k}) (i32.const -5))"),
        "NO_STORE",
    );
    let guest = h2.load("nostore", &g.wat());
    assert_eq!(h2.run(&guest, caps).await, ExitReason::Normal);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_reasons_follow_the_contract() {
    let h = harness();
    let cases: &[(&str, &str)] = &[
        (r#"(module (func (export "run")))"#, "normal"),
        (
            r#"(module (func (export "run") unreachable))"#,
            "crashed: unreachable",
        ),
        (
            r#"(module (memory 1) (func (export "run") (drop (i32.load (i32.const 70000)))))"#,
            "crashed: out of bounds memory access",
        ),
        (
            r#"(module (func $f (export "run") (call $f)))"#,
            "crashed: stack overflow",
        ),
        (
            r#"(module (func (export "run") (drop (i32.div_s (i32.const 1) (i32.const 0)))))"#,
            "crashed: integer divide by zero",
        ),
        (
            r#"(module (import "wasi_snapshot_preview1" "proc_exit" (func $pe (param i32)))
                 (memory (export "memory") 1) (func (export "_start") (call $pe (i32.const 0))))"#,
            "normal",
        ),
        (
            r#"(module (import "wasi_snapshot_preview1" "proc_exit" (func $pe (param i32)))
                 (memory (export "memory") 1) (func (export "_start") (call $pe (i32.const 3))))"#,
            "crashed: exit code 3",
        ),
        (
            r#"(module (import "rusm" "exit" (func $exit (param i32 i32))) (memory (export "memory") 1)
                 (data (i32.const 0) "bye") (func (export "run") (call $exit (i32.const 0) (i32.const 3))))"#,
            "crashed: bye",
        ),
        (
            r#"(module (import "rusm" "exit" (func $exit (param i32 i32))) (memory (export "memory") 1)
                 (func (export "run") (call $exit (i32.const 0) (i32.const 0)) unreachable))"#,
            "normal",
        ),
        (
            r#"(module (import "rusm" "send" (func $send (param i64 i64 i32 i32) (result i32))) (memory (export "memory") 1)
                 (func (export "run") (drop (call $send (i64.const 1) (i64.const 0) (i32.const 65530) (i32.const 100)))))"#,
            "crashed: out of bounds pointer passed to `send`",
        ),
        (
            r#"(module (import "env" "nothing" (func)) (func (export "run")))"#,
            "failed to start: unknown import: `env::nothing` has not been defined",
        ),
        (
            r#"(module (func (export "other")))"#,
            "failed to start: no entry point: export `run` or `_start`",
        ),
        (
            r#"(module (memory 2000) (func (export "run")))"#,
            "failed to start: memory limit exceeded (limit 64 MiB)",
        ),
        // A reactor's _initialize runs before run: it stores 7, run checks it.
        (
            r#"(module (memory 1) (global $g (mut i32) (i32.const 0))
                 (func (export "_initialize") (global.set $g (i32.const 7)))
                 (func (export "run") (if (i32.ne (global.get $g) (i32.const 7)) (then unreachable))))"#,
            "normal",
        ),
    ];
    for (i, (wat, expected)) in cases.iter().enumerate() {
        let guest = h.load(&format!("case{i}"), wat);
        let r = h.run(&guest, Capabilities::sandboxed()).await;
        assert_eq!(r.to_string(), *expected, "case {i}: {wat}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_bounds_pointers_crash_every_call_that_takes_one() {
    let h = harness();
    let calls = [
        "(drop (call $send (i64.const 1) (i64.const 0) (i32.const -8) (i32.const 16)))",
        "(drop (call $recv (i32.const 65535) (i32.const 4) (i64.const 0)))",
        "(drop (call $send_after (i64.const 1) (i64.const 0) (i32.const 65536) (i32.const 1) (i64.const 1)))",
        "(drop (call $spawn (i32.const 70000) (i32.const 4) (i32.const 0) (i32.const 0) (i32.const 0)))",
        "(drop (call $register (i32.const 65535) (i32.const 2)))",
        "(drop (call $unregister (i32.const 65535) (i32.const 2)))",
        "(drop (call $whereis (i32.const 65535) (i32.const 2)))",
        "(call $set_label (i32.const 65535) (i32.const 2))",
        "(call $exit (i32.const 65535) (i32.const 2))",
        "(drop (call $process_info (call $own_pid) (i32.const 65530) (i32.const 100)))",
        "(drop (call $kv_get (i32.const 65535) (i32.const 2) (i32.const 0) (i32.const 1) (i32.const 0) (i32.const 0)))",
        "(drop (call $kv_set (i32.const 0) (i32.const 1) (i32.const 65535) (i32.const 2) (i32.const 0) (i32.const 0)))",
        "(drop (call $kv_exists (i32.const 65535) (i32.const 2) (i32.const 0) (i32.const 1)))",
        "(drop (call $kv_delete (i32.const 65535) (i32.const 2) (i32.const 0) (i32.const 1)))",
        "(drop (call $kv_keys (i32.const 65535) (i32.const 2) (i32.const 0) (i32.const 1) (i32.const 0) (i32.const 0)))",
        "(drop (call $kv_cas (i32.const 65535) (i32.const 2) (i32.const 0) (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 0) (i32.const 1)))",
        // msg_read into a buffer past the end, with a current message
        "(drop (call $send (call $own_pid) (i64.const 0) (i32.const 0) (i32.const 8))) (drop (call $recv (i32.const 0) (i32.const 0) (i64.const -1))) (drop (call $msg_read (i32.const 65535) (i32.const 8)))",
    ];
    let caps = Capabilities::trusted();
    for (i, call) in calls.iter().enumerate() {
        let wat = format!(
            "(module {} (func (export \"run\") {call}))",
            fixture("prelude.wat")
        );
        let guest = h.load(&format!("oob{i}"), &wat);
        let r = h.run(&guest, caps.clone()).await.to_string();
        assert!(
            r.starts_with("crashed: out of bounds"),
            "call {i} `{call}` ended `{r}`"
        );
    }
    let _ = Pid::NODE;
}
