//! The guest side of clusters (CLUSTER.md, *ABI additions*), in both
//! shapes: what each call answers on a node without a cluster, how names,
//! lists and pids cross to and from a [`ClusterCalls`], and the grants the
//! caller's node checks before the cluster is asked at all.
//!
//! The cluster here is a real struct of the test ([`TestCluster`]), not the
//! network: a fixed node list, a map of global names, and spawns that run
//! on this node. Its pids say where they live, so that remote pids can be
//! exercised without another node:
//!
//! - below 2^50: this node's (`a`);
//! - 2^50 + p: a live process of node `b` whose parent is `p`;
//! - 2^51 up to 2^60: a dead process of node `b`;
//! - 2^60 and above: no node of the cluster.
//!
//! Every method counts its calls, so a test can say that a call the
//! caller's grants refuse never reached the cluster. The real protocol
//! between nodes is tested with real nodes where it is built.

use std::collections::HashMap;
use std::future::ready;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use rusm_caps::{Capabilities, SpawnGrant};
use rusm_core::{ExitReason, NodeConfig, Pid, SpawnOptions};
use rusm_wasm::{AbiError, BoxFuture, ClusterCalls, RuntimeOptions, WasmRuntime};

use crate::component::{
    AFTER_CASE, AT_4, AT_8, DENIED, EXISTS, Guest as ComponentGuest, INVALID, MSG_DATA, MSG_SENDER,
    MSG_TAG, NO_PROCESS, i32_at, i64_at, receive, u8_at,
};
use crate::module_abi::Guest;
use crate::{Harness, harness, harness_with, trusted};

/// 2^50 + parent: a live process of node `b`.
const CHILD_OF: u64 = 1 << 50;
/// From here: dead processes of node `b`.
const DEAD_REMOTE: u64 = 1 << 51;
/// From here: no node of the cluster.
const NOWHERE: u64 = 1 << 60;

/// Calls counted per method.
#[derive(Default)]
struct Counts {
    spawn_on: AtomicUsize,
    register_global: AtomicUsize,
    whereis_global: AtomicUsize,
    nodes: AtomicUsize,
    node_of: AtomicUsize,
    is_remote: AtomicUsize,
    is_alive: AtomicUsize,
    parent_of: AtomicUsize,
}

fn count(c: &AtomicUsize) -> usize {
    c.load(Ordering::SeqCst)
}

/// A spawn the cluster was asked for: caller, node, component, arg, link.
type SpawnCall = (Pid, String, String, Vec<u8>, bool);

/// A cluster of the nodes `a` (this one), `b` and `gamma`.
struct TestCluster {
    /// To spawn "remote" processes on this node; emptied when the test
    /// ends (the runtime holds the cluster, and this would hold it back).
    rt: Mutex<Option<WasmRuntime>>,
    names: Mutex<HashMap<String, Pid>>,
    spawns: Mutex<Vec<SpawnCall>>,
    counts: Counts,
}

impl TestCluster {
    /// A cluster given to `h`'s runtime.
    fn join(h: &Harness) -> Arc<TestCluster> {
        let cluster = Arc::new(TestCluster {
            rt: Mutex::new(Some(h.rt.clone())),
            names: Mutex::new(HashMap::new()),
            spawns: Mutex::new(Vec::new()),
            counts: Counts::default(),
        });
        assert!(
            h.rt.set_cluster(cluster.clone()),
            "the first cluster is kept"
        );
        cluster
    }

    fn leave(&self) {
        self.rt.lock().unwrap().take();
    }
}

impl ClusterCalls for TestCluster {
    fn nodes(&self) -> Vec<String> {
        self.counts.nodes.fetch_add(1, Ordering::SeqCst);
        vec!["a".into(), "b".into(), "gamma".into()]
    }

    fn node_of(&self, pid: Pid) -> Option<String> {
        self.counts.node_of.fetch_add(1, Ordering::SeqCst);
        match pid.get() {
            p if p < CHILD_OF => Some("a".into()),
            p if p < NOWHERE => Some("b".into()),
            _ => None,
        }
    }

    fn is_remote(&self, pid: Pid) -> bool {
        self.counts.is_remote.fetch_add(1, Ordering::SeqCst);
        pid.get() >= CHILD_OF
    }

    fn is_alive(&self, pid: Pid) -> BoxFuture<'static, bool> {
        self.counts.is_alive.fetch_add(1, Ordering::SeqCst);
        Box::pin(ready((CHILD_OF..DEAD_REMOTE).contains(&pid.get())))
    }

    fn parent_of(&self, pid: Pid) -> BoxFuture<'static, Option<Pid>> {
        self.counts.parent_of.fetch_add(1, Ordering::SeqCst);
        let p = pid.get();
        Box::pin(ready(
            (CHILD_OF..DEAD_REMOTE)
                .contains(&p)
                .then(|| Pid(p - CHILD_OF)),
        ))
    }

    fn spawn_on(
        &self,
        caller: Pid,
        node: &str,
        component: &str,
        arg: Vec<u8>,
        link: bool,
    ) -> BoxFuture<'static, Result<Pid, AbiError>> {
        self.counts.spawn_on.fetch_add(1, Ordering::SeqCst);
        self.spawns.lock().unwrap().push((
            caller,
            node.into(),
            component.into(),
            arg.clone(),
            link,
        ));
        let spawned = if !["a", "b", "gamma"].contains(&node) {
            Err(AbiError::NoProcess)
        } else {
            let rt = self
                .rt
                .lock()
                .unwrap()
                .clone()
                .expect("the test is running");
            let mut options = SpawnOptions::new().link(link);
            if !arg.is_empty() {
                options = options.first_message(0, arg);
            }
            rt.spawn_component(component, caller, options)
                .map_err(AbiError::from)
        };
        Box::pin(ready(spawned))
    }

    fn register_global(&self, holder: Pid, name: &str) -> BoxFuture<'static, Result<(), AbiError>> {
        self.counts.register_global.fetch_add(1, Ordering::SeqCst);
        let mut names = self.names.lock().unwrap();
        let answer = if names.contains_key(name) {
            Err(AbiError::Exists)
        } else {
            names.insert(name.into(), holder);
            Ok(())
        };
        Box::pin(ready(answer))
    }

    fn whereis_global(&self, name: &str) -> Option<Pid> {
        self.counts.whereis_global.fetch_add(1, Ordering::SeqCst);
        self.names.lock().unwrap().get(name).copied()
    }
}

/// `trusted` without process control: remote pids are then judged by
/// their parent.
fn trusted_without_control() -> Capabilities {
    let mut caps = trusted();
    caps.allow_process_control = false;
    caps
}

/// A core module that answers its first message to its sender, tag 77.
const ECHO: &str = r#"(module
  (import "rusm" "recv" (func $recv (param i32 i32 i64) (result i32)))
  (import "rusm" "msg_sender" (func $msg_sender (result i64)))
  (import "rusm" "msg_read" (func $msg_read (param i32 i32) (result i32)))
  (import "rusm" "send" (func $send (param i64 i64 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "run") (local $n i32)
    (drop (call $recv (i32.const 0) (i32.const 0) (i64.const -1)))
    (local.set $n (call $msg_read (i32.const 0) (i32.const 1024)))
    (drop (call $send (call $msg_sender) (i64.const 77) (i32.const 0) (local.get $n)))))"#;

/// Checks that the bytes at `at` are `expected`, one byte at a time.
fn bytes_at(g: &mut Guest, at: u32, expected: &[u8], name: &str) {
    for (i, b) in expected.iter().enumerate() {
        let at = at + i as u32;
        g.check(
            &format!("(i32.eq (i32.load8_u (i32.const {at})) (i32.const {b}))"),
            &format!("{name}: byte {i}"),
        );
    }
}

/// `nodes`' packing of `a`, `b`, `gamma`.
const PACKED_NODES: &[u8] = b"\x01\0\0\0a\x01\0\0\0b\x05\0\0\0gamma";

// ---------------------------------------------------------------------
// Core modules

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_cluster_module_calls_answer_as_a_lone_node() {
    let h = harness();
    h.rt.add_component("echo", h.load("echo", ECHO), None);
    let mut g = Guest::new();
    let (node, echo, hi, svc) = (g.s("a"), g.s("echo"), g.s("hi"), g.s("svc"));
    g.local("me", "i64")
        .code("(local.set $me (call $own_pid))")
        .check(
            &format!("(i64.eq (call $spawn_on {node} {echo} {hi} (i32.const 1)) (i64.const -1))"),
            "spawn_on -> NO_PROCESS",
        )
        .check(
            &format!("(i32.eq (call $register_global {svc}) (i32.const -1))"),
            "register_global -> NO_PROCESS",
        )
        .check(
            &format!("(i64.eq (call $whereis_global {svc}) (i64.const -7))"),
            "whereis_global -> NOT_FOUND",
        )
        .code("(i32.store (i32.const 100) (i32.const 0x5a5a5a5a))")
        .check("(i32.eqz (call $nodes (i32.const 100) (i32.const 64)))", "nodes: none")
        .check("(i32.eq (i32.load (i32.const 100)) (i32.const 0x5a5a5a5a))", "nodes wrote nothing")
        .check(
            "(i32.eq (call $node_of (local.get $me) (i32.const 100) (i32.const 64)) (i32.const -1))",
            "node_of -> NO_PROCESS",
        )
        .check("(i32.eq (call $is_alive (local.get $me)) (i32.const 1))", "is_alive self")
        .check(&format!("(i32.eqz (call $is_alive (i64.const {CHILD_OF})))"), "a big pid is dead");
    let guest = h.load("lone", &g.wat());
    assert_eq!(h.run(&guest, trusted()).await, ExitReason::Normal);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn module_calls_marshal_names_lists_and_pids() {
    let h = harness();
    h.rt.add_component("echo", h.load("echo", ECHO), None);
    let cluster = TestCluster::join(&h);
    let mut g = Guest::new();
    let (a, zz, echo, nope, hi) = (g.s("a"), g.s("zz"), g.s("echo"), g.s("nope"), g.s("hi"));
    let (svc, nobody) = (g.s("svc"), g.s("nobody"));
    g.local("me", "i64").local("child", "i64");
    g.code("(local.set $me (call $own_pid))")
        // The list, whole, then cut at 7 bytes: the full size either way,
        // nothing written past `cap`.
        .code("(memory.fill (i32.const 100) (i32.const 0xaa) (i32.const 64))")
        .check(
            "(i32.eq (call $nodes (i32.const 100) (i32.const 64)) (i32.const 19))",
            "nodes: full size",
        );
    bytes_at(&mut g, 100, PACKED_NODES, "nodes");
    bytes_at(&mut g, 119, &[0xaa], "nodes: past the list");
    g.code("(memory.fill (i32.const 200) (i32.const 0xaa) (i32.const 64))")
        .check(
            "(i32.eq (call $nodes (i32.const 200) (i32.const 7)) (i32.const 19))",
            "nodes: a small cap",
        );
    bytes_at(&mut g, 200, &PACKED_NODES[..7], "nodes cut");
    bytes_at(&mut g, 207, &[0xaa, 0xaa], "nodes: past cap");
    g.check(
        "(i32.eq (call $nodes (i32.const 0) (i32.const 0)) (i32.const 19))",
        "nodes: cap 0",
    )
    // node_of a local pid, a remote one, none's; with a cap of 0.
    .code("(memory.fill (i32.const 300) (i32.const 0xaa) (i32.const 16))")
    .check(
        "(i32.eq (call $node_of (local.get $me) (i32.const 300) (i32.const 16)) (i32.const 1))",
        "node_of me",
    );
    bytes_at(&mut g, 300, b"a\xaa", "node_of me");
    g.check(
        &format!(
            "(i32.eq (call $node_of (i64.const {}) (i32.const 300) (i32.const 0)) (i32.const 1))",
            CHILD_OF + 3
        ),
        "node_of remote, cap 0",
    );
    bytes_at(&mut g, 300, b"a", "node_of wrote nothing at cap 0");
    g.check(
        &format!(
            "(i32.eq (call $node_of (i64.const {}) (i32.const 300) (i32.const 16)) (i32.const 1))",
            CHILD_OF + 3
        ),
        "node_of remote",
    );
    bytes_at(&mut g, 300, b"b", "node_of remote");
    g.check(
        &format!("(i32.eq (call $node_of (i64.const {NOWHERE}) (i32.const 300) (i32.const 16)) (i32.const -1))"),
        "node_of nowhere -> NO_PROCESS",
    )
    // Global names.
    .check(&format!("(i32.eqz (call $register_global {svc}))"), "register_global")
    .check(&format!("(i64.eq (call $whereis_global {svc}) (local.get $me))"), "whereis_global")
    .check(&format!("(i32.eq (call $register_global {svc}) (i32.const -6))"), "register_global again -> EXISTS")
    .check(&format!("(i64.eq (call $whereis_global {nobody}) (i64.const -7))"), "whereis_global -> NOT_FOUND")
    // A spawn whose arg comes back from the child.
    .code(&format!("(local.set $child (call $spawn_on {a} {echo} {hi} (i32.const 1)))"))
    .check("(i64.gt_s (local.get $child) (i64.const 0))", "spawn_on -> a pid")
    .check("(i32.eqz (call $recv (i32.const 0) (i32.const 0) (i64.const 5000)))", "the child answers")
    .check("(i64.eq (call $msg_sender) (local.get $child))", "from the child")
    .check("(i64.eq (call $msg_tag) (i64.const 77))", "tag 77")
    .check("(i32.eq (call $msg_read (i32.const 400) (i32.const 16)) (i32.const 2))", "the arg's length");
    bytes_at(&mut g, 400, b"hi", "the arg");
    g.check(&format!("(i64.eq (call $spawn_on {zz} {echo} {hi} (i32.const 0)) (i64.const -1))"), "unknown node -> NO_PROCESS")
        .check(&format!("(i64.eq (call $spawn_on {a} {nope} (i32.const 0) (i32.const 0) (i32.const 0)) (i64.const -7))"), "unknown component -> NOT_FOUND");
    let guest = h.load("marshal", &g.wat());
    let pid = h.spawn(&guest, trusted());
    assert_eq!(h.reason(pid).await, ExitReason::Normal);
    let spawns = cluster.spawns.lock().unwrap().clone();
    assert_eq!(
        spawns,
        vec![
            (pid, "a".into(), "echo".into(), b"hi".to_vec(), true),
            (pid, "zz".into(), "echo".into(), b"hi".to_vec(), false),
            (pid, "a".into(), "nope".into(), vec![], false),
        ]
    );
    assert_eq!(
        cluster.names.lock().unwrap().get("svc"),
        Some(&pid),
        "the holder is the caller"
    );
    cluster.leave();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grants_are_checked_before_the_cluster_is_asked() {
    let h = harness();
    h.rt.add_component("echo", h.load("echo", ECHO), None);
    let cluster = TestCluster::join(&h);

    let mut g = Guest::new();
    let (a, echo, svc) = (g.s("a"), g.s("echo"), g.s("svc"));
    g.check(&format!("(i64.eq (call $spawn_on {a} {echo} (i32.const 0) (i32.const 0) (i32.const 0)) (i64.const -2))"), "spawn_on -> DENIED")
        .check(&format!("(i32.eq (call $register_global {svc}) (i32.const -2))"), "register_global -> DENIED")
        // What needs no grant still answers.
        .check(&format!("(i64.eq (call $whereis_global {svc}) (i64.const -7))"), "whereis_global open to all")
        .check("(i32.eq (call $nodes (i32.const 0) (i32.const 0)) (i32.const 19))", "nodes open to all");
    let guest = h.load("sandboxed", &g.wat());
    assert_eq!(
        h.run(&guest, Capabilities::sandboxed()).await,
        ExitReason::Normal
    );

    // allow-spawn for other names only.
    let mut caps = trusted();
    caps.allow_spawn = SpawnGrant::Only(vec!["other".into()]);
    let mut g = Guest::new();
    let (a, echo) = (g.s("a"), g.s("echo"));
    g.check(&format!("(i64.eq (call $spawn_on {a} {echo} (i32.const 0) (i32.const 0) (i32.const 0)) (i64.const -2))"), "not on the list -> DENIED");
    let guest = h.load("listed", &g.wat());
    assert_eq!(h.run(&guest, caps).await, ExitReason::Normal);

    // A declared component's name is its own processes' only.
    let mut g = Guest::new();
    let own = g.s("registrar");
    g.check(
        &format!("(i32.eqz (call $register_global {own}))"),
        "its own name",
    );
    let registrar = h.load("registrar", &g.wat());
    h.rt.add_component("registrar", registrar.clone(), Some(trusted()));
    let mut g = Guest::new();
    let theirs = g.s("registrar");
    g.check(
        &format!("(i32.eq (call $register_global {theirs}) (i32.const -2))"),
        "a component's name -> DENIED",
    );
    let guest = h.load("squatter", &g.wat());
    assert_eq!(h.run(&guest, trusted()).await, ExitReason::Normal);
    assert_eq!(
        count(&cluster.counts.spawn_on),
        0,
        "no refused spawn reached the cluster"
    );
    assert_eq!(
        count(&cluster.counts.register_global),
        0,
        "no refused name reached the cluster"
    );

    let (pid, exit) =
        h.rt.spawn_component_watched("registrar", vec![])
            .expect("spawn");
    assert_eq!(exit.await, ExitReason::Normal);
    assert_eq!(cluster.names.lock().unwrap().get("registrar"), Some(&pid));
    assert_eq!(count(&cluster.counts.register_global), 1);
    cluster.leave();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_names_and_oversized_args_never_reach_the_cluster() {
    let h = harness_with(
        RuntimeOptions::default(),
        NodeConfig {
            max_message_bytes: 4,
            ..NodeConfig::default()
        },
    );
    h.rt.add_component("echo", h.load("echo", ECHO), None);
    let cluster = TestCluster::join(&h);
    let mut g = Guest::new();
    let (a, echo, empty, bad, big) = (
        g.s("a"),
        g.s("echo"),
        g.s(""),
        g.bytes(b"\xff\xfe"),
        g.s("hello"),
    );
    for (node, name, what) in [
        (&empty, &echo, "empty node"),
        (&a, &empty, "empty component"),
        (&bad, &echo, "non-UTF-8 node"),
        (&a, &bad, "non-UTF-8 component"),
    ] {
        g.check(&format!("(i64.eq (call $spawn_on {node} {name} (i32.const 0) (i32.const 0) (i32.const 0)) (i64.const -3))"), &format!("spawn_on, {what} -> INVALID"));
    }
    g.check(
        &format!("(i64.eq (call $spawn_on {a} {echo} {big} (i32.const 0)) (i64.const -8))"),
        "an arg over the message cap -> LIMIT",
    );
    for (name, what) in [(&empty, "empty"), (&bad, "non-UTF-8")] {
        g.check(
            &format!("(i32.eq (call $register_global {name}) (i32.const -3))"),
            &format!("register_global, {what} -> INVALID"),
        )
        .check(
            &format!("(i64.eq (call $whereis_global {name}) (i64.const -3))"),
            &format!("whereis_global, {what} -> INVALID"),
        );
    }
    let guest = h.load("bad-names", &g.wat());
    assert_eq!(h.run(&guest, trusted()).await, ExitReason::Normal);
    assert_eq!(count(&cluster.counts.spawn_on), 0);
    assert_eq!(count(&cluster.counts.register_global), 0);
    assert_eq!(count(&cluster.counts.whereis_global), 0);
    cluster.leave();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_pids_in_liveness_and_process_control() {
    let h = harness();
    let cluster = TestCluster::join(&h);
    let mut g = Guest::new();
    g.local("me", "i64").local("mine", "i64");
    let stranger = CHILD_OF + 999_999;
    let dead = DEAD_REMOTE + 5;
    g.code("(local.set $me (call $own_pid))")
        .code(&format!("(local.set $mine (i64.add (local.get $me) (i64.const {CHILD_OF})))"))
        .check("(i32.eq (call $is_alive (local.get $mine)) (i32.const 1))", "is_alive remote: live")
        .check(&format!("(i32.eqz (call $is_alive (i64.const {dead})))"), "is_alive remote: dead")
        .check(&format!("(i32.eqz (call $is_alive (i64.const {NOWHERE})))"), "is_alive nowhere")
        .check(&format!("(i32.eq (call $kill (i64.const {stranger})) (i32.const -2))"), "kill a remote stranger -> DENIED")
        .check(&format!("(i32.eq (call $link (i64.const {stranger})) (i32.const -2))"), "link a remote stranger -> DENIED")
        .check(&format!("(i32.eq (call $unlink (i64.const {dead})) (i32.const -1))"), "unlink a dead remote -> NO_PROCESS")
        .check(&format!("(i32.eq (call $process_info (i64.const {stranger}) (i32.const 0) (i32.const 0)) (i32.const -2))"), "info of a remote stranger -> DENIED")
        // Its own remote child: allowed (then up to the node's core).
        .check("(i32.ne (call $kill (local.get $mine)) (i32.const -2))", "kill my remote child: not DENIED")
        .check("(i32.eq (call $process_info (local.get $mine) (i32.const 0) (i32.const 0)) (i32.const -1))", "info of a remote child -> NO_PROCESS")
        .check("(i32.eq (call $kill (i64.const 999999)) (i32.const -1))", "kill a dead local -> NO_PROCESS");
    let guest = h.load("remote", &g.wat());
    assert_eq!(
        h.run(&guest, trusted_without_control()).await,
        ExitReason::Normal
    );
    assert!(count(&cluster.counts.parent_of) >= 5, "parents were asked");

    // With process control, or over a local pid, the cluster is not
    // asked who the parent is.
    let parents = count(&cluster.counts.parent_of);
    let remote_checks = count(&cluster.counts.is_remote);
    let mut g = Guest::new();
    g.check(
        &format!("(i32.ne (call $kill (i64.const {stranger})) (i32.const -2))"),
        "with process control: not DENIED",
    )
    .check(
        "(i32.eq (call $is_alive (call $own_pid)) (i32.const 1))",
        "is_alive self",
    );
    let guest = h.load("controller", &g.wat());
    assert_eq!(h.run(&guest, trusted()).await, ExitReason::Normal);
    assert_eq!(count(&cluster.counts.parent_of), parents);
    assert_eq!(
        count(&cluster.counts.is_remote),
        remote_checks,
        "neither a granted kill nor a live local pid asks the cluster"
    );
    cluster.leave();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runtime_keeps_its_first_cluster() {
    let h = harness();
    let first = TestCluster::join(&h);
    let second = Arc::new(TestCluster {
        rt: Mutex::new(None),
        names: Mutex::new(HashMap::new()),
        spawns: Mutex::new(Vec::new()),
        counts: Counts::default(),
    });
    assert!(!h.rt.set_cluster(second.clone()));
    let mut g = Guest::new();
    g.check(
        "(i32.eq (call $nodes (i32.const 0) (i32.const 0)) (i32.const 19))",
        "nodes",
    );
    let guest = h.load("first", &g.wat());
    assert_eq!(h.run(&guest, trusted()).await, ExitReason::Normal);
    assert_eq!(count(&first.counts.nodes), 1);
    assert_eq!(count(&second.counts.nodes), 0);
    first.leave();
}

// ---------------------------------------------------------------------
// Components

/// `spawn-on(node, component, arg, link)`, its result at 0.
fn spawn_on(node: &str, component: &str, arg: &str, link: bool) -> String {
    format!(
        "(call $spawn-on {node} {component} {arg} (i32.const {}) (i32.const 0))",
        link as i32
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_cluster_component_calls_answer_as_a_lone_node() {
    let h = harness();
    h.rt.add_component("echo", h.load("echo", ECHO), None);
    let mut g = ComponentGuest::new();
    let (a, echo, hi, svc) = (g.s("a"), g.s("echo"), g.s("hi"), g.s("svc"));
    g.err(
        &spawn_on(&a, &echo, &hi, true),
        AT_8,
        NO_PROCESS,
        "spawn-on -> no-process",
    )
    .err(
        &format!("(call $register-global {svc} (i32.const 0))"),
        AFTER_CASE,
        NO_PROCESS,
        "register-global -> no-process",
    )
    .code(&format!("(call $whereis-global {svc} (i32.const 0))"))
    .check(&format!("(i32.eqz {})", u8_at(0)), "whereis-global -> none")
    .code("(call $nodes (i32.const 0))")
    .check(
        &format!("(i32.eqz {})", i32_at(AT_4)),
        "nodes: an empty list",
    )
    .err(
        "(call $node-of (call $own-pid) (i32.const 0))",
        AT_4,
        NO_PROCESS,
        "node-of -> no-process",
    );
    let guest = h.load("lone", &g.wat());
    assert_eq!(h.run(&guest, trusted()).await, ExitReason::Normal);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn component_calls_marshal_names_lists_and_pids() {
    let h = harness();
    h.rt.add_component("echo", h.load("echo", ECHO), None);
    let cluster = TestCluster::join(&h);
    let mut g = ComponentGuest::new();
    let (a, echo, hi, svc, nobody) = (g.s("a"), g.s("echo"), g.s("hi"), g.s("svc"), g.s("nobody"));
    g.local("list", "i32").local("child", "i64");
    // nodes: a list<string> at (ptr, len) = (0, 4), each element a
    // (ptr, len) pair of 8 bytes.
    g.code("(call $nodes (i32.const 0))")
        .check(
            &format!("(i32.eq {} (i32.const 3))", i32_at(AT_4)),
            "nodes: 3",
        )
        .code(&format!("(local.set $list {})", i32_at(0)));
    for (i, name) in ["a", "b", "gamma"].iter().enumerate() {
        let ptr = format!(
            "(i32.load (i32.add (local.get $list) (i32.const {})))",
            8 * i
        );
        let len = format!(
            "(i32.load (i32.add (local.get $list) (i32.const {})))",
            8 * i + 4
        );
        let cond = g.bytes_eq(&ptr, &len, name);
        g.check(&cond, &format!("nodes[{i}]"));
    }
    let cond = g.list_at_eq(AT_4, "a");
    g.ok(
        "(call $node-of (call $own-pid) (i32.const 0))",
        "node-of me",
    )
    .check(&cond, "node-of me: a");
    let cond = g.list_at_eq(AT_4, "b");
    g.ok(
        &format!("(call $node-of (i64.const {}) (i32.const 0))", CHILD_OF + 1),
        "node-of remote",
    )
    .check(&cond, "node-of remote: b")
    .err(
        &format!("(call $node-of (i64.const {NOWHERE}) (i32.const 0))"),
        AT_4,
        NO_PROCESS,
        "node-of nowhere",
    )
    .ok(
        &format!("(call $register-global {svc} (i32.const 0))"),
        "register-global",
    )
    .err(
        &format!("(call $register-global {svc} (i32.const 0))"),
        AFTER_CASE,
        EXISTS,
        "register-global again -> exists",
    )
    .code(&format!("(call $whereis-global {svc} (i32.const 0))"))
    .check(
        &format!(
            "(i32.and (i32.eq {} (i32.const 1)) (i64.eq {} (call $own-pid)))",
            u8_at(0),
            i64_at(AT_8)
        ),
        "whereis-global -> me",
    )
    .code(&format!("(call $whereis-global {nobody} (i32.const 0))"))
    .check(&format!("(i32.eqz {})", u8_at(0)), "whereis-global -> none")
    .ok(&spawn_on(&a, &echo, &hi, false), "spawn-on")
    .code(&format!("(local.set $child {})", i64_at(AT_8)))
    .ok(
        &receive("(i32.const 0) (i32.const 0)", Some(5000)),
        "the child answers",
    )
    .check(
        &format!("(i64.eq {} (local.get $child))", i64_at(MSG_SENDER)),
        "from the child",
    )
    .check(
        &format!("(i64.eq {} (i64.const 77))", i64_at(MSG_TAG)),
        "tag 77",
    );
    let cond = g.list_at_eq(MSG_DATA, "hi");
    g.check(&cond, "the arg came back");
    let guest = h.load("marshal", &g.wat());
    let pid = h.spawn(&guest, trusted());
    assert_eq!(h.reason(pid).await, ExitReason::Normal);
    assert_eq!(
        cluster.spawns.lock().unwrap().clone(),
        vec![(pid, "a".into(), "echo".into(), b"hi".to_vec(), false)]
    );
    cluster.leave();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn component_grants_names_and_remote_pids() {
    let h = harness();
    h.rt.add_component("echo", h.load("echo", ECHO), None);
    let cluster = TestCluster::join(&h);
    let mut g = ComponentGuest::new();
    let (a, echo, empty, svc) = (g.s("a"), g.s("echo"), g.s(""), g.s("svc"));
    g.err(
        &spawn_on(&a, &echo, &empty, false),
        AT_8,
        DENIED,
        "spawn-on without allow-spawn",
    )
    .err(
        &format!("(call $register-global {svc} (i32.const 0))"),
        AFTER_CASE,
        DENIED,
        "register-global without the grant",
    );
    let guest = h.load("sandboxed", &g.wat());
    assert_eq!(
        h.run(&guest, Capabilities::sandboxed()).await,
        ExitReason::Normal
    );

    let mut g = ComponentGuest::new();
    let (a, echo, empty) = (g.s("a"), g.s("echo"), g.s(""));
    g.local("mine", "i64")
        .err(
            &spawn_on(&empty, &echo, &empty, false),
            AT_8,
            INVALID,
            "spawn-on, empty node",
        )
        .err(
            &spawn_on(&a, &empty, &empty, false),
            AT_8,
            INVALID,
            "spawn-on, empty component",
        )
        .err(
            &format!("(call $register-global {empty} (i32.const 0))"),
            AFTER_CASE,
            INVALID,
            "register-global, empty",
        )
        .code(&format!("(call $whereis-global {empty} (i32.const 0))"))
        .check(
            &format!("(i32.eqz {})", u8_at(0)),
            "whereis-global, empty -> none",
        )
        .code(&format!(
            "(local.set $mine (i64.add (call $own-pid) (i64.const {CHILD_OF})))"
        ))
        .check("(call $is-alive (local.get $mine))", "is-alive remote")
        .check(
            &format!("(i32.eqz (call $is-alive (i64.const {})))", DEAD_REMOTE + 1),
            "is-alive dead remote",
        )
        .err(
            &format!(
                "(call $kill (i64.const {}) (i32.const 0))",
                CHILD_OF + 999_999
            ),
            AFTER_CASE,
            DENIED,
            "kill a remote stranger",
        )
        .code("(call $kill (local.get $mine) (i32.const 0))")
        .check(
            &format!(
                "(i32.eqz (i32.and (i32.eq {} (i32.const 1)) (i32.eq {} (i32.const {DENIED}))))",
                u8_at(0),
                u8_at(AFTER_CASE)
            ),
            "kill my remote child: not denied",
        );
    let guest = h.load("checks", &g.wat());
    assert_eq!(
        h.run(&guest, trusted_without_control()).await,
        ExitReason::Normal
    );
    assert_eq!(count(&cluster.counts.spawn_on), 0);
    assert_eq!(count(&cluster.counts.register_global), 0);
    assert_eq!(count(&cluster.counts.whereis_global), 0);
    cluster.leave();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_bounds_pointers_crash_the_caller() {
    let h = harness();
    let cluster = TestCluster::join(&h);
    // Memory is one page: 65,536 bytes. Each range below ends past it.
    let calls = [
        (
            "spawn_on",
            "(drop (call $spawn_on (i32.const 65535) (i32.const 2) (i32.const 0) (i32.const 1) (i32.const 0) (i32.const 0) (i32.const 0)))",
        ),
        (
            "spawn_on",
            "(drop (call $spawn_on (i32.const 0) (i32.const 1) (i32.const 65535) (i32.const 2) (i32.const 0) (i32.const 0) (i32.const 0)))",
        ),
        (
            "spawn_on",
            "(drop (call $spawn_on (i32.const 0) (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 65535) (i32.const 2) (i32.const 0)))",
        ),
        (
            "register_global",
            "(drop (call $register_global (i32.const 65535) (i32.const 2)))",
        ),
        (
            "whereis_global",
            "(drop (call $whereis_global (i32.const -1) (i32.const 1)))",
        ),
        (
            "nodes",
            "(drop (call $nodes (i32.const 65530) (i32.const 100)))",
        ),
        (
            "node_of",
            "(drop (call $node_of (call $own_pid) (i32.const 65536) (i32.const 1)))",
        ),
    ];
    for (i, (import, call)) in calls.iter().enumerate() {
        let wat = format!(
            "(module {} (func (export \"run\") {call}))",
            crate::fixture("prelude.wat")
        );
        let guest = h.load(&format!("oob{i}"), &wat);
        let reason = h.run(&guest, trusted()).await.to_string();
        assert_eq!(
            reason,
            format!("crashed: out of bounds pointer passed to `{import}`"),
            "{call}"
        );
    }
    assert_eq!(count(&cluster.counts.spawn_on), 0);
    assert_eq!(count(&cluster.counts.register_global), 0);
    assert_eq!(count(&cluster.counts.whereis_global), 0);
    cluster.leave();
}

/// A process is linked for what its runtime has when it is instantiated:
/// one that started before the node joined keeps the synchronous local-only imports
/// (every pid it has seen is local), one started after asks the cluster.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processes_started_before_the_node_joined_see_only_local_pids() {
    let h = harness();
    // Waits for a go, then reports `is_alive` of its own remote child (1
    // when it asks the cluster) to the sender, tag 5.
    let wat = format!(
        r#"(module
  (import "rusm" "recv" (func $recv (param i32 i32 i64) (result i32)))
  (import "rusm" "msg_sender" (func $msg_sender (result i64)))
  (import "rusm" "own_pid" (func $own_pid (result i64)))
  (import "rusm" "is_alive" (func $is_alive (param i64) (result i32)))
  (import "rusm" "send" (func $send (param i64 i64 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "run")
    (drop (call $recv (i32.const 0) (i32.const 0) (i64.const -1)))
    (i32.store8 (i32.const 0) (call $is_alive (i64.add (call $own_pid) (i64.const {CHILD_OF}))))
    (drop (call $send (call $msg_sender) (i64.const 5) (i32.const 0) (i32.const 1)))))"#
    );
    // Linked when it is instantiated, which a spawn only schedules: wait
    // for it before the node joins.
    h.rt.add_component("reach", h.load("reach", &wat), None);
    let (before, started) =
        h.rt.spawn_component_started("reach", Pid::NODE, SpawnOptions::new())
            .expect("spawn");
    started.await.expect("instantiated");
    let cluster = TestCluster::join(&h);
    let (after, _) =
        h.rt.spawn_component_started("reach", Pid::NODE, SpawnOptions::new())
            .expect("spawn");
    // The host asks through a process of its own, which hears the answers.
    let answers = Arc::new(Mutex::new(Vec::new()));
    let heard = answers.clone();
    h.node
        .spawn(SpawnOptions::new(), move |ctx| async move {
            for pid in [before, after] {
                ctx.send(pid, 0, vec![]).expect("the guest waits");
                let m = ctx
                    .receive(&[5], Some(std::time::Duration::from_secs(10)))
                    .await
                    .expect("an answer");
                heard.lock().unwrap().push((m.sender, m.data));
            }
            ExitReason::Normal
        })
        .expect("spawn");
    assert_eq!(h.reason(after).await, ExitReason::Normal);
    for _ in 0..1000 {
        if answers.lock().unwrap().len() == 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    assert_eq!(
        *answers.lock().unwrap(),
        vec![(before, vec![0]), (after, vec![1])]
    );
    assert_eq!(
        count(&cluster.counts.is_alive),
        1,
        "only the later process asked"
    );
    cluster.leave();
}
