//! Integration tests of the actor core, one module per topic.

mod accounting;
mod limits;
mod links;
mod messaging;
mod monitors;
mod races;
mod registry;
mod remote;
mod shutdown;
mod storm;
mod supervisor;
mod timers;
mod watch;

use std::time::Duration;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use rusm_core::{ExitReason, Lifecycle, Node, NodeConfig, Pid};

/// Remembers every exit reason, so a test can ask for the reason of a
/// process that may already be gone.
#[derive(Default)]
pub(crate) struct Recorder(Mutex<HashMap<Pid, ExitReason>>);

impl Lifecycle for Recorder {
    fn exited(&self, pid: Pid, _name: Option<&str>, reason: &ExitReason) {
        self.0.lock().unwrap().insert(pid, reason.clone());
    }
}

pub(crate) struct TestNode {
    pub(crate) node: Node,
    pub(crate) exits: Arc<Recorder>,
}

impl std::ops::Deref for TestNode {
    type Target = Node;
    fn deref(&self) -> &Node {
        &self.node
    }
}

pub(crate) fn node() -> TestNode {
    let exits = Arc::new(Recorder::default());
    let node = Node::new(NodeConfig {
        lifecycle: Some(exits.clone()),
        ..NodeConfig::default()
    });
    TestNode { node, exits }
}

/// Wait for `pid`'s exit reason, failing the test rather than hanging.
pub(crate) async fn reason(node: &TestNode, pid: Pid) -> ExitReason {
    for _ in 0..2000 {
        if let Some(r) = node.exits.0.lock().unwrap().get(&pid) {
            return r.clone();
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("process {pid} did not exit within 10 s");
}

/// Poll until `f` holds (bookkeeping settles right after an exit).
pub(crate) async fn eventually(mut f: impl FnMut() -> bool) {
    for _ in 0..1000 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("condition never held");
}

/// A body that parks forever.
pub(crate) async fn park(ctx: rusm_core::Ctx) {
    ctx.receive(&[i64::MIN], None).await.ok();
}
