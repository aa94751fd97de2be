//! Processes across nodes: real actor-core nodes, each with its own QUIC
//! endpoint and certificate, joined into a cluster in one test process;
//! native process bodies (the Wasm side is tested with the real `rusm`
//! binary in the `rusm` crate).

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rusm_cluster::{
    CallError, Cluster, ClusterConfig, DEFAULT_BUSY_WAIT, Dist, Event, Identity, Spawner, Timing,
    certs, node_id,
};
use rusm_core::{ExitReason, MessageKind, Node, NodeConfig, Pid, SpawnOptions};
use tokio::sync::mpsc;

use crate::membership::names;

/// A cluster member in the test process: a core node, its distribution,
/// its QUIC endpoint, and the events it saw.
pub(crate) struct Member {
    pub(crate) name: String,
    pub(crate) node: Node,
    pub(crate) dist: Dist,
    pub(crate) cluster: Option<Cluster>,
    events: mpsc::UnboundedReceiver<Event>,
}

/// Spawns for other nodes: `echo` (sends its first message back to its
/// parent, then waits), `private` (refused), anything else unknown.
struct TestSpawns(Node);

impl Spawner for TestSpawns {
    fn spawn_for(
        &self,
        parent: Pid,
        component: &str,
        arg: Vec<u8>,
        link: bool,
    ) -> Result<Pid, CallError> {
        match component {
            "echo" => self
                .0
                .spawn_from(
                    parent,
                    SpawnOptions::new().link(link).first_message(0, arg),
                    |ctx| async move {
                        let m = ctx.receive_any().await;
                        let _ = ctx.send(ctx.parent(), 1, m.data);
                        let _ = ctx.receive(&[i64::MIN], None).await;
                    },
                )
                .map_err(CallError::from),
            "private" => Err(CallError::Denied),
            _ => Err(CallError::NotFound),
        }
    }
}

async fn member(dir: &Path, name: &str, join: &[&Member]) -> Member {
    let node = Node::new(NodeConfig::default());
    let spawns: Arc<dyn Spawner> = Arc::new(TestSpawns(node.clone()));
    member_on(node, dir, name, join, Some(spawns), DEFAULT_BUSY_WAIT).await
}

/// `node` joined to the cluster of `join` as `name` (certificates in
/// `dir`), answering other nodes' spawns with `spawner`.
pub(crate) async fn member_on(
    node: Node,
    dir: &Path,
    name: &str,
    join: &[&Member],
    spawner: Option<Arc<dyn Spawner>>,
    busy_wait: Duration,
) -> Member {
    let identity = Identity::from_dir(name, dir).expect("the identity loads");
    let creation = rusm_cluster::unix_nanos();
    node.set_node_id(node_id(name, creation)).unwrap();
    let dist = Dist::new(node.clone(), name, spawner);
    let (tx, rx) = mpsc::unbounded_channel();
    let config = ClusterConfig {
        identity,
        listen: "127.0.0.1:0".parse().unwrap(),
        join: join
            .iter()
            .filter_map(|m| m.cluster.as_ref())
            .map(|c| c.local_addr().to_string())
            .collect(),
        timing: Timing::default(),
        inbound: Some(dist.inbound()),
        creation: Some(creation),
        busy_wait,
    };
    let cluster = Cluster::start(config, tx).await.expect("the node starts");
    dist.attach(cluster.handle()).unwrap();
    let events = dist.follow(rx);
    Member {
        name: name.to_owned(),
        node,
        dist,
        cluster: Some(cluster),
        events,
    }
}

impl Member {
    pub(crate) async fn expect(&mut self, event: Event) -> Duration {
        let start = Instant::now();
        let limit = Duration::from_secs(5);
        loop {
            let left = limit.saturating_sub(start.elapsed());
            match tokio::time::timeout(left, self.events.recv()).await {
                Ok(Some(e)) if e == event => return start.elapsed(),
                Ok(Some(_)) => {}
                _ => panic!("{}: no {event:?} within {limit:?}", self.name),
            }
        }
    }

    pub(crate) fn spawn_parked(&self) -> Pid {
        self.node
            .spawn(SpawnOptions::new(), |ctx| async move {
                let _ = ctx.receive(&[i64::MIN], None).await;
            })
            .unwrap()
    }
}

/// Waits until `m` sees every node of `all` up (its own view: each node
/// learns of the others at its own pace).
async fn sees(m: &Member, all: &[&str]) {
    let start = Instant::now();
    while m.dist.nodes() != names(all) {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{} sees {:?}",
            m.name,
            m.dist.nodes()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn two(dir: &Path) -> (Member, Member) {
    certs::make(dir, &names(&["a", "b", "c"])).unwrap();
    let mut a = member(dir, "a", &[]).await;
    let mut b = member(dir, "b", &[&a]).await;
    a.expect(Event::NodeUp("b".into())).await;
    b.expect(Event::NodeUp("a".into())).await;
    (a, b)
}

/// Waits for `pid`'s exit reason (it must be alive when called).
async fn exit_of(node: &Node, pid: Pid) -> ExitReason {
    tokio::time::timeout(Duration::from_secs(5), node.wait(pid))
        .await
        .expect("it ends within 5 s")
        .unwrap_or(ExitReason::NoProc)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_cross_both_ways_in_order_under_concurrency() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = two(dir.path()).await;
    const SENDERS: u64 = 8;
    const EACH: u64 = 500;
    // A sink on each node counts each sender's messages, which must come
    // in order, then reports to the test.
    let sink = |on: &Member| {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let pid = on
            .node
            .spawn(SpawnOptions::new(), move |ctx| async move {
                let mut next = std::collections::HashMap::<Pid, u64>::new();
                let mut ok = true;
                for _ in 0..SENDERS * EACH {
                    let m = ctx.receive_any().await;
                    let n = u64::from_le_bytes(m.data[..8].try_into().unwrap());
                    let want = next.entry(m.sender).or_insert(0);
                    ok &= n == *want;
                    *want += 1;
                }
                tx.send((ok, next.len())).unwrap();
            })
            .unwrap();
        (pid, rx)
    };
    let (sink_b, on_b) = sink(&b);
    let (sink_a, on_a) = sink(&a);
    for (from, to) in [(&a, sink_b), (&b, sink_a)] {
        for _ in 0..SENDERS {
            from.node
                .spawn(SpawnOptions::new(), move |ctx| async move {
                    for n in 0..EACH {
                        let mut data = n.to_le_bytes().to_vec();
                        data.resize(64, 0);
                        // A full queue is `Limit`: wait and go on (the
                        // test sends faster than QUIC drains).
                        while ctx.send(to, 5, data.clone()).is_err() {
                            tokio::time::sleep(Duration::from_millis(1)).await;
                        }
                        if n % 64 == 0 {
                            tokio::task::yield_now().await;
                        }
                    }
                })
                .unwrap();
        }
    }
    for rx in [on_b, on_a] {
        let (ok, senders) = tokio::time::timeout(Duration::from_secs(20), rx)
            .await
            .expect("every message arrives")
            .unwrap();
        assert!(ok, "a sender's messages came out of order");
        assert_eq!(senders as u64, SENDERS);
    }
    // The node the pid names; a pid of no node.
    assert_eq!(a.dist.node_of(sink_b).as_deref(), Some("b"));
    assert_eq!(a.dist.node_of(sink_a).as_deref(), Some("a"));
    assert_eq!(a.dist.node_of(Pid(1)), None);
    assert_eq!(a.dist.nodes(), names(&["a", "b"]));
    // A message for a pid of b that never existed: queued (0), dropped on
    // arrival, and counted there.
    let never = Pid(sink_b.get() + 1_000_000);
    assert_eq!(b.dist.dropped_messages(), 0);
    a.node.send(Pid::NODE, never, 1, vec![1]).unwrap();
    let start = Instant::now();
    while b.dist.dropped_messages() == 0 {
        assert!(start.elapsed() < Duration::from_secs(5), "not counted");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(b.dist.dropped_messages(), 1);
}

/// With busy-waiting on, a node that sent a message spins for the answer
/// and reads it at once: a ping-pong between two nodes is answered while
/// spinning, and every round trip completes. (The spins may last 20 ms
/// here, so that a loaded test machine's late answers still come within
/// them.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ping_pong_is_answered_while_busy_waiting() {
    let dir = tempfile::tempdir().unwrap();
    certs::make(dir.path(), &names(&["a", "b"])).unwrap();
    let spin = Duration::from_millis(20);
    let node = || Node::new(NodeConfig::default());
    let mut a = member_on(node(), dir.path(), "a", &[], None, spin).await;
    let mut b = member_on(node(), dir.path(), "b", &[&a], None, spin).await;
    a.expect(Event::NodeUp("b".into())).await;
    b.expect(Event::NodeUp("a".into())).await;
    const ROUNDS: i64 = 500;
    let pong = b
        .node
        .spawn(SpawnOptions::new(), |ctx| async move {
            loop {
                let m = ctx.receive_any().await;
                let _ = ctx.send(m.sender, m.tag, m.data);
            }
        })
        .unwrap();
    let (tx, done) = tokio::sync::oneshot::channel();
    a.node
        .spawn(SpawnOptions::new(), move |ctx| async move {
            for round in 0..ROUNDS {
                ctx.send(pong, round, vec![7; 16]).unwrap();
                let m = ctx.receive(&[round], None).await.unwrap();
                assert_eq!(m.data, vec![7; 16]);
            }
            tx.send(()).unwrap();
        })
        .unwrap();
    tokio::time::timeout(Duration::from_secs(20), done)
        .await
        .expect("every round trip completes")
        .unwrap();
    let stats = |m: &Member| m.cluster.as_ref().unwrap().busy_wait_stats();
    let ((spins_a, answered_a, direct_a), (spins_b, answered_b, direct_b)) = (stats(&a), stats(&b));
    eprintln!(
        "spins, answered, read at once: a {:?}, b {:?}",
        stats(&a),
        stats(&b)
    );
    assert!(answered_a <= spins_a && answered_b <= spins_b);
    assert!(answered_a + answered_b > 0, "no spin was answered");
    assert!(direct_a + direct_b > 0, "no datagram was read at once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn links_and_monitors_across_nodes_on_crash_and_normal_exit() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = two(dir.path()).await;
    // A crash on b stops a's linked process.
    let crasher = b
        .node
        .spawn(SpawnOptions::new(), |ctx| async move {
            ctx.receive(&[1], None).await.unwrap();
            Err::<(), _>("boom")
        })
        .unwrap();
    let (linked_tx, linked_rx) = tokio::sync::oneshot::channel();
    let follower = a
        .node
        .spawn(SpawnOptions::new(), move |ctx| async move {
            ctx.link(crasher).unwrap();
            let r = ctx.monitor(crasher).unwrap();
            linked_tx.send(r).unwrap();
            let _ = ctx.receive(&[i64::MIN], None).await;
        })
        .unwrap();
    let follower_exit = a.node.wait(follower);
    linked_rx.await.unwrap();
    // The link reached b before the crash is asked for (frames to one
    // node are ordered: the link was queued before this message).
    a.node.send(Pid::NODE, crasher, 1, vec![]).unwrap();
    let reason = tokio::time::timeout(Duration::from_secs(5), follower_exit)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        reason.to_string(),
        format!("linked: {crasher} crashed: boom")
    );
    // A normal exit: a monitor's `down` says `normal`, a link does nothing.
    let quitter = b
        .node
        .spawn(SpawnOptions::new(), |ctx| async move {
            ctx.receive(&[1], None).await.unwrap();
        })
        .unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let watcher = a
        .node
        .spawn(SpawnOptions::new(), move |ctx| async move {
            ctx.link(quitter).unwrap();
            let r = ctx.monitor(quitter).unwrap();
            ctx.send(quitter, 1, vec![]).unwrap();
            let m = ctx.receive(&[r], None).await.unwrap();
            tx.send((m.kind, m.sender, m.text())).unwrap();
            let _ = ctx.receive(&[i64::MIN], None).await;
        })
        .unwrap();
    let (kind, sender, text) = tokio::time::timeout(Duration::from_secs(5), rx)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (kind, sender, text.as_str()),
        (MessageKind::Down, quitter, "normal")
    );
    assert!(a.node.is_alive(watcher));
    // Liveness across nodes.
    let parked = b.spawn_parked();
    assert!(a.dist.is_alive(parked).await);
    assert!(!a.dist.is_alive(quitter).await);
    // Kill across nodes.
    a.node.kill(parked).unwrap();
    assert_eq!(exit_of(&b.node, parked).await, ExitReason::Killed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_node_fires_noconnection_within_a_second() {
    let dir = tempfile::tempdir().unwrap();
    let (mut a, mut b) = two(dir.path()).await;
    let c = member(dir.path(), "c", &[&a]).await;
    a.expect(Event::NodeUp("c".into())).await;
    b.expect(Event::NodeUp("c".into())).await;
    sees(&c, &["a", "b", "c"]).await;
    let on_c = c.spawn_parked();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    a.node
        .spawn(SpawnOptions::new(), move |ctx| async move {
            let r = ctx.monitor(on_c).unwrap();
            ready_tx.send(()).unwrap();
            let m = ctx.receive(&[r], None).await.unwrap();
            tx.send((m.sender, m.text(), Instant::now())).unwrap();
        })
        .unwrap();
    let linked = b
        .node
        .spawn(SpawnOptions::new(), move |ctx| async move {
            ctx.link(on_c).unwrap();
            let _ = ctx.receive(&[i64::MIN], None).await;
        })
        .unwrap();
    let linked_exit = b.node.wait(linked);
    ready_rx.await.unwrap();
    // Until c has both relations (frames are ordered, but the test cannot
    // see c's side: ask c's node).
    let start = Instant::now();
    while c
        .node
        .info(on_c)
        .is_none_or(|i| i.links.len() + i.monitored_by.len() < 2)
    {
        assert!(start.elapsed() < Duration::from_secs(5));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // A crash, as the others see it: c stops answering at once.
    let lost = Instant::now();
    drop(c);
    let (sender, text, at) = tokio::time::timeout(Duration::from_secs(3), rx)
        .await
        .expect("a down within 3 s")
        .unwrap();
    assert_eq!((sender, text.as_str()), (on_c, "noconnection"));
    let took = at - lost;
    eprintln!("noconnection after {took:?}");
    // The contract's figure is 1 s (`rusm-bench node-down` measures it:
    // max 554 ms over 20 trials); a CI machine running the rest of the
    // suite beside this test gets half a second more before it fails.
    assert!(took < Duration::from_millis(1500), "{took:?}");
    let reason = tokio::time::timeout(Duration::from_secs(3), linked_exit)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(reason.to_string(), format!("linked: {on_c} noconnection"));
    // Its pids now name no node.
    assert_eq!(
        a.node.send(Pid::NODE, on_c, 1, vec![]),
        Err(rusm_core::Error::NoProcess)
    );
    assert_eq!(a.dist.node_of(on_c), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spawn_on_another_node_allowed_denied_unknown() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = two(dir.path()).await;
    let caller = a.spawn_parked();
    let child = a
        .dist
        .spawn_on(caller, "b", "echo", b"hello".to_vec(), true)
        .await
        .expect("echo may be spawned");
    assert_eq!(a.dist.node_of(child).as_deref(), Some("b"));
    assert_eq!(b.node.parent_of(child), Some(caller));
    assert_eq!(a.dist.parent_of(child).await, Some(caller));
    assert_eq!(
        a.dist.spawn_on(caller, "b", "private", vec![], false).await,
        Err(CallError::Denied)
    );
    assert_eq!(
        a.dist.spawn_on(caller, "b", "nothing", vec![], false).await,
        Err(CallError::NotFound)
    );
    assert_eq!(
        a.dist.spawn_on(caller, "zz", "echo", vec![], false).await,
        Err(CallError::NoProcess)
    );
    // The echo answered its parent across the nodes.
    let (tx, rx) = tokio::sync::oneshot::channel();
    let asker = a
        .node
        .spawn(SpawnOptions::new(), move |ctx| async move {
            let m = ctx.receive(&[1], None).await.unwrap();
            tx.send((m.sender, m.data)).unwrap();
        })
        .unwrap();
    let second = a
        .dist
        .spawn_on(asker, "b", "echo", b"again".to_vec(), false)
        .await
        .unwrap();
    let (sender, data) = tokio::time::timeout(Duration::from_secs(5), rx)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((sender, data.as_slice()), (second, b"again".as_slice()));
    // Linked at birth: the caller's end takes the child with it.
    let child_exit = b.node.wait(child);
    a.node.kill(caller).unwrap();
    let reason = tokio::time::timeout(Duration::from_secs(5), child_exit)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(reason.to_string(), format!("linked: {caller} killed"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn global_names_register_lookup_release_and_node_loss() {
    let dir = tempfile::tempdir().unwrap();
    let (a, mut b) = two(dir.path()).await;
    let holder = a.spawn_parked();
    a.dist.register_global(holder, "svc").await.unwrap();
    assert_eq!(a.dist.whereis_global("svc"), Some(holder));
    assert_eq!(b.dist.whereis_global("svc"), Some(holder));
    let rival = b.spawn_parked();
    assert_eq!(
        b.dist.register_global(rival, "svc").await,
        Err(CallError::Exists)
    );
    assert_eq!(
        a.dist.register_global(holder, "").await,
        Err(CallError::Invalid)
    );
    // The holder's exit frees it everywhere.
    a.node.kill(holder).unwrap();
    let start = Instant::now();
    while a.dist.whereis_global("svc").is_some() || b.dist.whereis_global("svc").is_some() {
        assert!(start.elapsed() < Duration::from_secs(5), "not released");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    b.dist.register_global(rival, "svc").await.unwrap();
    assert_eq!(a.dist.whereis_global("svc"), Some(rival));
    // A name held on a node that is lost is free on the others.
    let c = member(dir.path(), "c", &[&a]).await;
    sees(&c, &["a", "b", "c"]).await;
    sees(&a, &["a", "b", "c"]).await;
    sees(&b, &["a", "b", "c"]).await;
    let on_c = c.spawn_parked();
    c.dist.register_global(on_c, "on-c").await.unwrap();
    assert_eq!(b.dist.whereis_global("on-c"), Some(on_c));
    drop(c);
    b.expect(Event::NodeDown("c".into())).await;
    assert_eq!(b.dist.whereis_global("on-c"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_partition_the_earlier_registration_keeps_the_name() {
    let dir = tempfile::tempdir().unwrap();
    let (mut a, mut b) = two(dir.path()).await;
    let cut = |a: &Member, b: &Member, on: bool| {
        a.cluster.as_ref().unwrap().cut("b", on);
        b.cluster.as_ref().unwrap().cut("a", on);
    };
    cut(&a, &b, true);
    a.expect(Event::NodeDown("b".into())).await;
    b.expect(Event::NodeDown("a".into())).await;
    // Both sides take the name; a's first.
    let first = a.spawn_parked();
    a.dist.register_global(first, "leader").await.unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await;
    let (tx, rx) = tokio::sync::oneshot::channel();
    let second = b
        .node
        .spawn(SpawnOptions::new().trap_exit(true), move |ctx| async move {
            let m = ctx.receive_any().await;
            tx.send((m.kind, m.text())).unwrap();
        })
        .unwrap();
    b.dist.register_global(second, "leader").await.unwrap();
    cut(&a, &b, false);
    a.expect(Event::NodeUp("b".into())).await;
    b.expect(Event::NodeUp("a".into())).await;
    // The later holder loses the name: trapping exits, it is told.
    let (kind, text) = tokio::time::timeout(Duration::from_secs(5), rx)
        .await
        .expect("the loser is told")
        .unwrap();
    assert_eq!(
        (kind, text.as_str()),
        (MessageKind::Exit, "crashed: global name conflict: leader")
    );
    let start = Instant::now();
    while b.dist.whereis_global("leader") != Some(first) {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "b never took a's holder"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(a.dist.whereis_global("leader"), Some(first));
    assert!(a.node.is_alive(first));
}
