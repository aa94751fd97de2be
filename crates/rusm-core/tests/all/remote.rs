//! Pids of other nodes: two real nodes in one test, each with its own
//! node id, joined by a `Remote` that hands every operation straight to
//! the other node's `*_from_remote` entry point (what rusm-cluster does
//! over QUIC), and `node_down` as a lost connection.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use rusm_core::{Error, ExitReason, MessageKind, Node, Pid, Ref, Remote, SpawnOptions};

use crate::{TestNode, node, park, reason};

/// The other node, as seen through a link that can be cut.
struct Loopback {
    peer: OnceLock<Node>,
    up: AtomicBool,
}

impl Loopback {
    fn peer(&self) -> Result<&Node, Error> {
        match self.peer.get() {
            Some(p) if self.up.load(Ordering::SeqCst) => Ok(p),
            _ => Err(Error::NoProcess),
        }
    }
}

impl Remote for Loopback {
    fn send(&self, from: Pid, to: Pid, tag: i64, data: Vec<u8>) -> Result<(), Error> {
        // Delivery to a dead process is silent, as across a network.
        let _ = self.peer()?.send(from, to, tag, data);
        Ok(())
    }
    fn link(&self, from: Pid, to: Pid) -> Result<(), Error> {
        self.peer()?.link_from_remote(from, to);
        Ok(())
    }
    fn unlink(&self, from: Pid, to: Pid) {
        if let Ok(p) = self.peer() {
            p.unlink_from_remote(from, to);
        }
    }
    fn exit(&self, from: Pid, to: Pid, reason: &ExitReason) {
        if let Ok(p) = self.peer() {
            p.exit_from_remote(from, to, reason);
        }
    }
    fn monitor(&self, watcher: Pid, target: Pid, reference: Ref) -> Result<(), Error> {
        self.peer()?.monitor_from_remote(watcher, target, reference);
        Ok(())
    }
    fn demonitor(&self, watcher: Pid, target: Pid, reference: Ref) {
        if let Ok(p) = self.peer() {
            p.demonitor_from_remote(watcher, target, reference);
        }
    }
    fn down(&self, target: Pid, watcher: Pid, reference: Ref, reason: &ExitReason) {
        if let Ok(p) = self.peer() {
            p.down_from_remote(target, watcher, reference, &reason.to_string());
        }
    }
    fn kill(&self, _from: Pid, target: Pid) -> Result<(), Error> {
        let _ = self.peer()?.kill(target);
        Ok(())
    }
    fn stop(&self, from: Pid, target: Pid, reason: &ExitReason) -> Result<(), Error> {
        let _ = self.peer()?.stop(from, target, reason.clone());
        Ok(())
    }
}

struct Pair {
    a: TestNode,
    b: TestNode,
    a_to_b: Arc<Loopback>,
    b_to_a: Arc<Loopback>,
}

impl Pair {
    /// Cut the connection both ways and tell each node the other is down.
    fn cut(&self) {
        self.a_to_b.up.store(false, Ordering::SeqCst);
        self.b_to_a.up.store(false, Ordering::SeqCst);
        self.a.node_down(self.b.node_id());
        self.b.node_down(self.a.node_id());
    }
}

fn pair() -> Pair {
    let (a, b) = (node(), node());
    a.set_node_id(0x12_3401).unwrap();
    b.set_node_id(0x56_7802).unwrap();
    let link = |peer: &Node| {
        let l = Arc::new(Loopback {
            peer: OnceLock::new(),
            up: AtomicBool::new(true),
        });
        l.peer.set(peer.clone()).ok().unwrap();
        l
    };
    let (a_to_b, b_to_a) = (link(&b), link(&a));
    a.attach_remote(a_to_b.clone()).unwrap();
    b.attach_remote(b_to_a.clone()).unwrap();
    Pair {
        a,
        b,
        a_to_b,
        b_to_a,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pids_carry_their_node_and_messages_cross() {
    let p = pair();
    let echo =
        p.b.spawn(SpawnOptions::new(), |ctx| async move {
            let m = ctx.receive_any().await;
            ctx.send(m.sender, m.tag, m.data).unwrap();
        })
        .unwrap();
    assert_eq!(echo.node_id(), 0x56_7802);
    assert!(p.a.is_remote(echo) && !p.b.is_remote(echo));
    assert_eq!(p.b.spawned(), 1, "spawned counts this run's spawns only");
    let (tx, rx) = tokio::sync::oneshot::channel();
    let asker =
        p.a.spawn(SpawnOptions::new(), move |ctx| async move {
            ctx.send(echo, 7, b"hi".to_vec()).unwrap();
            let m = ctx.receive(&[7], None).await.unwrap();
            tx.send((m.sender, m.data)).unwrap();
        })
        .unwrap();
    assert_eq!(asker.node_id(), 0x12_3401);
    assert_eq!(rx.await.unwrap(), (echo, b"hi".to_vec()));
    // A pid of a node that is not attached (or not in the cluster).
    let stranger = Pid((0x99_9901u64 << Pid::SERIAL_BITS) + 1);
    assert!(p.a.is_remote(stranger));
    // The loopback answers for every other id; a node outside a cluster
    // has none to ask.
    let lone = node();
    assert_eq!(
        lone.send(Pid::NODE, stranger, 1, vec![]),
        Err(Error::NoProcess)
    );
    assert_eq!(lone.node_id(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_id_is_set_before_the_first_spawn_only() {
    let n = node();
    assert_eq!(n.set_node_id(0), Err(Error::Invalid));
    assert_eq!(n.set_node_id(Pid::MAX_NODE_ID + 1), Err(Error::Invalid));
    n.spawn(SpawnOptions::new(), |_| async {}).unwrap();
    assert_eq!(n.set_node_id(5), Err(Error::Invalid));
    let m = node();
    m.set_node_id(Pid::MAX_NODE_ID).unwrap();
    let pid = m.spawn(SpawnOptions::new(), |_| async {}).unwrap();
    assert_eq!(pid.node_id(), Pid::MAX_NODE_ID);
    assert!(i64::try_from(pid.get()).is_ok_and(|v| v > 0));
    assert_eq!(m.set_node_id(6), Err(Error::Invalid));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn links_across_nodes_fire_both_ways() {
    let p = pair();
    // b's process crashes: a's linked process follows it.
    let crasher =
        p.b.spawn(SpawnOptions::new(), |ctx| async move {
            ctx.receive(&[1], None).await.unwrap();
            Err::<(), _>("boom")
        })
        .unwrap();
    let follower =
        p.a.spawn(SpawnOptions::new(), move |ctx| async move {
            ctx.link(crasher).unwrap();
            ctx.send(crasher, 1, vec![]).unwrap();
            park(ctx).await;
        })
        .unwrap();
    assert_eq!(
        reason(&p.a, follower).await.to_string(),
        format!("linked: {crasher} crashed: boom")
    );
    // a's process crashes: b's trapping process gets an exit message.
    let (tx, rx) = tokio::sync::oneshot::channel();
    let trapper =
        p.b.spawn(SpawnOptions::new().trap_exit(true), move |ctx| async move {
            let m = ctx.receive_any().await;
            tx.send((m.kind, m.text())).unwrap();
        })
        .unwrap();
    p.a.spawn(SpawnOptions::new(), move |ctx| async move {
        ctx.link(trapper).unwrap();
        Err::<(), _>("gone")
    })
    .unwrap();
    assert_eq!(
        rx.await.unwrap(),
        (MessageKind::Exit, "crashed: gone".into())
    );
    // A normal exit only undoes the link; unlink undoes it too.
    let stays = p.b.spawn(SpawnOptions::new(), park).unwrap();
    let quits =
        p.a.spawn(SpawnOptions::new(), move |ctx| async move {
            ctx.link(stays).unwrap();
        })
        .unwrap();
    assert_eq!(reason(&p.a, quits).await, ExitReason::Normal);
    let unlinks =
        p.a.spawn(SpawnOptions::new(), move |ctx| async move {
            ctx.link(stays).unwrap();
            ctx.unlink(stays).unwrap();
            Err::<(), _>("after unlink")
        })
        .unwrap();
    reason(&p.a, unlinks).await;
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    assert!(p.b.is_alive(stays));
    assert_eq!(p.b.info(stays).map(|i| i.links.len()), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_to_a_dead_remote_pid_brings_noproc() {
    let p = pair();
    let dead = p.b.spawn(SpawnOptions::new(), |_| async {}).unwrap();
    reason(&p.b, dead).await;
    let (tx, rx) = tokio::sync::oneshot::channel();
    p.a.spawn(SpawnOptions::new().trap_exit(true), move |ctx| async move {
        ctx.link(dead).unwrap();
        let m = ctx.receive_any().await;
        tx.send((m.kind, m.sender, m.text())).unwrap();
    })
    .unwrap();
    assert_eq!(
        rx.await.unwrap(),
        (MessageKind::Exit, dead, "noproc".into())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monitors_across_nodes_and_demonitor() {
    let p = pair();
    let target =
        p.b.spawn(SpawnOptions::new(), |ctx| async move {
            ctx.receive(&[1], None).await.unwrap();
            Err::<(), _>("down it goes")
        })
        .unwrap();
    let quiet = p.b.spawn(SpawnOptions::new(), park).unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let watcher =
        p.a.spawn(SpawnOptions::new(), move |ctx| async move {
            // A monitor dropped before its target ends brings nothing.
            let dropped = ctx.monitor(quiet).unwrap();
            ctx.demonitor(dropped).unwrap();
            let r = ctx.monitor(target).unwrap();
            ctx.send(target, 1, vec![]).unwrap();
            let m = ctx.receive(&[r], None).await.unwrap();
            tx.send((m.kind, m.sender, m.text())).unwrap();
        })
        .unwrap();
    assert_eq!(
        rx.await.unwrap(),
        (MessageKind::Down, target, "crashed: down it goes".into())
    );
    reason(&p.a, watcher).await;
    assert_eq!(p.b.info(quiet).map(|i| i.monitored_by.len()), Some(0));
    // A dead target: `noproc` at once.
    let (tx, rx) = tokio::sync::oneshot::channel();
    p.a.spawn(SpawnOptions::new(), move |ctx| async move {
        let r = ctx.monitor(target).unwrap();
        let m = ctx.receive(&[r], None).await.unwrap();
        tx.send(m.text()).unwrap();
    })
    .unwrap();
    assert_eq!(rx.await.unwrap(), "noproc");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_node_fires_every_link_and_monitor_with_noconnection() {
    let p = pair();
    let remote = p.b.spawn(SpawnOptions::new(), park).unwrap();
    // b's side watches a's: forgotten when a is lost to b.
    let linked =
        p.a.spawn(SpawnOptions::new(), move |ctx| async move {
            ctx.link(remote).unwrap();
            park(ctx).await;
        })
        .unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<(MessageKind, String)>();
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    p.a.spawn(SpawnOptions::new(), move |ctx| async move {
        let r: Ref = ctx.monitor(remote).unwrap();
        ready_tx.send(()).unwrap();
        let m = ctx.receive(&[r], None).await.unwrap();
        tx.send((m.kind, m.text())).unwrap();
    })
    .unwrap();
    ready_rx.await.unwrap();
    crate::eventually(|| {
        p.b.info(remote)
            .is_some_and(|i| i.links.len() == 1 && i.monitored_by.len() == 1)
    })
    .await;
    p.cut();
    assert_eq!(
        rx.await.unwrap(),
        (MessageKind::Down, "noconnection".into())
    );
    assert_eq!(
        reason(&p.a, linked).await.to_string(),
        format!("linked: {remote} noconnection")
    );
    // b's process lost its link (an exit `noconnection` from a's pid, not
    // trapped: it follows) and its watcher.
    assert_eq!(
        reason(&p.b, remote).await.to_string(),
        format!("linked: {linked} noconnection")
    );
    // After the loss, the other node's pids answer `NoProcess`.
    assert_eq!(
        p.a.send(Pid::NODE, remote, 1, vec![]),
        Err(Error::NoProcess)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_child_spawned_for_a_remote_parent_is_linked_to_it() {
    let p = pair();
    let parent = p.a.spawn(SpawnOptions::new(), park).unwrap();
    // What `spawn_on` with link does: b spawns for a's process, and a
    // records its side.
    let child =
        p.b.spawn_from(parent, SpawnOptions::new().link(true), park)
            .unwrap();
    p.a.link_from_remote(child, parent);
    assert_eq!(p.b.parent_of(child), Some(parent));
    p.a.kill(parent).unwrap();
    assert_eq!(
        reason(&p.b, child).await.to_string(),
        format!("linked: {parent} killed")
    );
    // Kill across nodes.
    let victim = p.b.spawn(SpawnOptions::new(), park).unwrap();
    p.a.kill(victim).unwrap();
    assert_eq!(reason(&p.b, victim).await, ExitReason::Killed);
}
