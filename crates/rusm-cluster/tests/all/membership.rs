//! Forming a cluster, detecting a lost node, refusing strangers.

use std::path::Path;
use std::time::{Duration, Instant};

use rusm_cluster::{Cluster, ClusterConfig, Event, Identity, Timing, certs};
use tokio::sync::mpsc;

pub(crate) struct Node {
    pub(crate) cluster: Cluster,
    events: mpsc::UnboundedReceiver<Event>,
}

async fn start(dir: &Path, name: &str, join: &[&Node]) -> Node {
    let identity = Identity::from_dir(name, dir).expect("the identity loads");
    start_as(identity, join).await
}

async fn start_as(identity: Identity, join: &[&Node]) -> Node {
    start_with(identity, join, None).await
}

pub(crate) async fn start_with(
    identity: Identity,
    join: &[&Node],
    inbound: Option<rusm_cluster::Inbound>,
) -> Node {
    let (tx, events) = mpsc::unbounded_channel();
    let config = ClusterConfig {
        identity,
        listen: "127.0.0.1:0".parse().unwrap(),
        join: join
            .iter()
            .map(|n| n.cluster.local_addr().to_string())
            .collect(),
        timing: Timing::default(),
        inbound,
        creation: None,
        // Membership needs no busy-waiting: these nodes run without it (the
        // distribution's tests run with it).
        busy_wait: std::time::Duration::ZERO,
    };
    let cluster = Cluster::start(config, tx).await.expect("the node starts");
    Node { cluster, events }
}

impl Node {
    /// Waits for `event`, at most `limit`; returns how long it took.
    pub(crate) async fn expect(&mut self, event: Event, limit: Duration) -> Duration {
        let start = Instant::now();
        loop {
            let left = limit.saturating_sub(start.elapsed());
            match tokio::time::timeout(left, self.events.recv()).await {
                Ok(Some(e)) if e == event => return start.elapsed(),
                Ok(Some(_)) => {}
                _ => panic!(
                    "{}: no {event:?} within {limit:?} (nodes: {:?})",
                    self.cluster.name(),
                    self.cluster.nodes()
                ),
            }
        }
    }
}

fn up(name: &str) -> Event {
    Event::NodeUp(name.into())
}

fn down(name: &str) -> Event {
    Event::NodeDown(name.into())
}

pub(crate) fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_form_a_cluster_and_a_lost_one_is_down_within_a_second() {
    let dir = tempfile::tempdir().unwrap();
    certs::make(dir.path(), &names(&["a", "b", "c"])).unwrap();
    let mut a = start(dir.path(), "a", &[]).await;
    let mut b = start(dir.path(), "b", &[&a]).await;
    // c knows only b, and learns of a through SWIM.
    let mut c = start(dir.path(), "c", &[&b]).await;
    let limit = Duration::from_secs(5);
    a.expect(up("b"), limit).await;
    a.expect(up("c"), limit).await;
    b.expect(up("a"), limit).await;
    c.expect(up("a"), limit).await;
    assert_eq!(a.cluster.nodes(), names(&["a", "b", "c"]));
    // A crash, as the others see it: the node stops answering.
    drop(c);
    let took_a = a.expect(down("c"), Duration::from_secs(3)).await;
    let took_b = b.expect(down("c"), Duration::from_secs(3)).await;
    eprintln!("c declared down after {took_a:?} (a) and {took_b:?} (b)");
    assert!(took_a < Duration::from_secs(1) && took_b < Duration::from_secs(1));
    assert_eq!(a.cluster.nodes(), names(&["a", "b"]));
    assert_eq!(
        a.cluster.busy_wait_stats(),
        (0, 0, 0),
        "busy-waiting is off"
    );
    // A node that leaves is down for the others at once.
    let start = Instant::now();
    b.cluster.leave().await;
    a.expect(down("b"), Duration::from_secs(1)).await;
    eprintln!("b's leave seen after {:?}", start.elapsed());
    assert_eq!(a.cluster.nodes(), names(&["a"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_of_another_ca_or_under_a_false_name_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let other = tempfile::tempdir().unwrap();
    certs::make(dir.path(), &names(&["a", "b"])).unwrap();
    certs::make(other.path(), &names(&["x"])).unwrap();
    let mut a = start(dir.path(), "a", &[]).await;
    // Another CA: the handshake fails both ways.
    let stranger = Identity::from_dir("x", other.path()).unwrap();
    let x = start_as(stranger, &[&a]).await;
    // b's certificate, claiming to be `c`.
    let liar = Identity::load_claiming(
        "c",
        &dir.path().join("ca.pem"),
        &dir.path().join("b.pem"),
        &dir.path().join("b.key"),
    )
    .unwrap();
    let liar = start_as(liar, &[&a]).await;
    // b itself is welcome.
    let b = start(dir.path(), "b", &[&a]).await;
    a.expect(up("b"), Duration::from_secs(5)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(a.cluster.nodes(), names(&["a", "b"]));
    assert_eq!(x.cluster.nodes(), names(&["x"]));
    assert_eq!(liar.cluster.nodes(), names(&["c"]));
    drop(b);
    // A node started with another node's files refuses to start.
    let err = Identity::load(
        "c",
        &dir.path().join("ca.pem"),
        &dir.path().join("b.pem"),
        &dir.path().join("b.key"),
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("not for this node's name `c`"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_heals() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter("rusm::cluster=debug,foca=debug")
        .with_test_writer()
        .try_init();
    let dir = tempfile::tempdir().unwrap();
    certs::make(dir.path(), &names(&["a", "b"])).unwrap();
    let mut a = start(dir.path(), "a", &[]).await;
    let mut b = start(dir.path(), "b", &[&a]).await;
    a.expect(up("b"), Duration::from_secs(5)).await;
    b.expect(up("a"), Duration::from_secs(5)).await;
    a.cluster.cut("b", true);
    b.cluster.cut("a", true);
    a.expect(down("b"), Duration::from_secs(2)).await;
    b.expect(down("a"), Duration::from_secs(2)).await;
    a.cluster.cut("b", false);
    b.cluster.cut("a", false);
    let took = a.expect(up("b"), Duration::from_secs(20)).await;
    b.expect(up("a"), Duration::from_secs(20)).await;
    eprintln!("healed after {took:?}");
}

#[test]
fn certs_add_nodes_to_an_existing_ca_and_never_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    certs::make(dir.path(), &names(&["a"])).unwrap();
    let ca = std::fs::read(dir.path().join("ca.pem")).unwrap();
    let written = certs::make(dir.path(), &names(&["b"])).unwrap();
    assert_eq!(written.len(), 2, "only b's files: {written:?}");
    assert_eq!(std::fs::read(dir.path().join("ca.pem")).unwrap(), ca);
    // b's certificate chains to the same CA.
    Identity::from_dir("b", dir.path()).unwrap();
    let err = certs::make(dir.path(), &names(&["a"])).unwrap_err();
    assert!(err.to_string().contains("already exists"), "{err}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("b.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "a key readable by others: {mode:o}");
    }
}
