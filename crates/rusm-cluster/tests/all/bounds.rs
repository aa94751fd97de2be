//! Bounds (issue 18): what other nodes can make a node hold. Remote
//! monitors are charged to their watchers and all let go with their node;
//! a peer's garbage, frames for pids that never existed and floods are
//! dropped (with a log line) or refused, never buffered without end, and
//! the node goes on answering. Real nodes (QUIC, certificates) in one
//! test process, native process bodies.

use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use rusm_cluster::{Event, SendError, certs};
use rusm_core::{Error, MessageKind, Node, NodeConfig, Pid, SpawnOptions};
use tokio::sync::mpsc;

use crate::dist::{Member, member_on};
use crate::membership::names;

/// A member without a spawner (nothing here spawns across nodes).
async fn member(dir: &Path, name: &str, join: &[&Member]) -> Member {
    member_on(
        Node::new(NodeConfig::default()),
        dir,
        name,
        join,
        None,
        rusm_cluster::DEFAULT_BUSY_WAIT,
    )
    .await
}

impl Member {
    fn spawn_echo(&self) -> Pid {
        self.node
            .spawn(SpawnOptions::new(), |ctx| async move {
                loop {
                    let m = ctx.receive_any().await;
                    let _ = ctx.send(m.sender, m.tag, m.data);
                }
            })
            .unwrap()
    }
}

/// Polls `done` every 5 ms for at most `limit`.
async fn until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

const WATCHERS: usize = 100;
const TARGETS: usize = 1_000;
/// The least a monitor reserves on its watcher: room for a `down` with
/// the longest reason (1 KiB; the core adds its per-message overhead).
const AT_LEAST_PER_MONITOR: usize = 1024;

/// `WATCHERS` processes on `on`, each monitoring every one of `targets`
/// (on another node) and then counting the `noconnection` downs they get;
/// started one after another, each once the targets' node holds the
/// previous one's monitors (`held` counts them there), so that the frames
/// never outrun the per-peer queue (a full queue would be an immediate
/// `noconnection`, not what is measured here).
async fn watch_all(
    on: &Member,
    targets: &Arc<Vec<Pid>>,
    held: impl Fn() -> usize,
    downs: &mpsc::UnboundedSender<(Pid, usize, usize)>,
) -> Vec<Pid> {
    let start = held();
    let mut watchers = Vec::with_capacity(WATCHERS);
    for i in 0..WATCHERS {
        let (targets, downs) = (targets.clone(), downs.clone());
        let max_queued = TARGETS * 2 * AT_LEAST_PER_MONITOR;
        let w = on
            .node
            .spawn(
                SpawnOptions::new().max_queued(Some(max_queued)),
                move |ctx| async move {
                    for &t in targets.iter() {
                        if ctx.monitor(t).is_err() {
                            return;
                        }
                    }
                    let (mut noconnection, mut other) = (0, 0);
                    while noconnection + other < targets.len() {
                        let m = ctx.receive_any().await;
                        if m.kind == MessageKind::Down && m.text() == "noconnection" {
                            noconnection += 1;
                        } else {
                            other += 1;
                        }
                    }
                    let _ = downs.send((ctx.pid(), noconnection, other));
                    let _ = ctx.receive(&[i64::MIN], None).await;
                },
            )
            .unwrap();
        watchers.push(w);
        until(
            "the other node holds the monitors",
            Duration::from_secs(10),
            || held() >= start + (i + 1) * TARGETS,
        )
        .await;
    }
    watchers
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_thousand_remote_monitors_are_charged_and_released_with_their_node() {
    let dir = tempfile::tempdir().unwrap();
    certs::make(dir.path(), &names(&["ma", "mb", "mc"])).unwrap();
    let mut a = member(dir.path(), "ma", &[]).await;
    let mut b = member(dir.path(), "mb", &[&a]).await;
    a.expect(Event::NodeUp("mb".into())).await;
    let mut c = member(dir.path(), "mc", &[&a]).await;
    a.expect(Event::NodeUp("mc".into())).await;
    // Each side's view, not only a's: c and b send to a below.
    b.expect(Event::NodeUp("ma".into())).await;
    c.expect(Event::NodeUp("ma".into())).await;
    let on_b: Arc<Vec<Pid>> = Arc::new((0..TARGETS).map(|_| b.spawn_parked()).collect());
    let on_a: Arc<Vec<Pid>> = Arc::new((0..TARGETS).map(|_| a.spawn_parked()).collect());
    let before = a.node.stats();
    assert_eq!(before.monitors, 0);
    let started = Instant::now();
    let (downs_tx, mut downs) = mpsc::unbounded_channel();
    // a's processes watch b's: 100,000 monitors, recorded on both sides.
    let watchers = watch_all(&a, &on_b, || b.node.stats().monitors, &downs_tx).await;
    // c's processes watch a's: 100,000 remote watchers held by a.
    let (c_downs_tx, _c_downs) = mpsc::unbounded_channel();
    watch_all(&c, &on_a, || a.node.stats().monitors, &c_downs_tx).await;
    eprintln!("200,000 remote monitors in {:?}", started.elapsed());
    assert_eq!(b.node.stats().monitors, WATCHERS * TARGETS);
    let held = a.node.stats();
    assert_eq!(held.monitors, WATCHERS * TARGETS);
    // Each of a's monitors is charged to its watcher: 100,000 x >= 1 KiB.
    assert!(
        held.queued_bytes >= WATCHERS * TARGETS * AT_LEAST_PER_MONITOR,
        "{} bytes charged",
        held.queued_bytes
    );
    let info = a.node.info(watchers[0]).unwrap();
    assert_eq!(info.monitors.len(), TARGETS);
    assert!(info.queued_bytes as usize >= TARGETS * AT_LEAST_PER_MONITOR);

    // A watcher with a small `max_queued` runs out: `Limit`, not memory.
    let small = 16 * AT_LEAST_PER_MONITOR;
    let (tx, rx) = tokio::sync::oneshot::channel();
    let targets = on_b.clone();
    a.node
        .spawn(
            SpawnOptions::new().max_queued(Some(small)),
            move |ctx| async move {
                let mut made = 0;
                let mut refused = None;
                for &t in targets.iter() {
                    match ctx.monitor(t) {
                        Ok(_) => made += 1,
                        Err(e) => {
                            refused = Some(e);
                            break;
                        }
                    }
                }
                let _ = tx.send((made, refused));
                let _ = ctx.receive(&[i64::MIN], None).await;
            },
        )
        .unwrap();
    let (made, refused) = rx.await.unwrap();
    assert_eq!(refused, Some(Error::Limit), "after {made} monitors");
    assert!(
        made > 0 && made * AT_LEAST_PER_MONITOR <= small,
        "{made} monitors under {small} bytes"
    );

    // b and c go down: every monitor either way is let go.
    let lost = Instant::now();
    drop(b);
    drop(c);
    let mut counted = 0;
    while counted < WATCHERS {
        let (pid, noconnection, other) =
            tokio::time::timeout(Duration::from_secs(10), downs.recv())
                .await
                .expect("every watcher gets its downs")
                .unwrap();
        assert_eq!((noconnection, other), (TARGETS, 0), "watcher {pid}");
        counted += 1;
    }
    eprintln!(
        "100,000 noconnection downs delivered {:?} after the loss",
        lost.elapsed()
    );
    // The downs were read: their reservations are gone with them; b's
    // watchers of a's processes are forgotten.
    until("a lets go of c's watchers", Duration::from_secs(5), || {
        a.node.stats().monitors == 0
    })
    .await;
    let after = a.node.stats();
    assert!(
        after.queued_bytes <= before.queued_bytes + small,
        "{} bytes still charged (before: {})",
        after.queued_bytes,
        before.queued_bytes
    );
    for w in &watchers {
        let info = a.node.info(*w).expect("the watcher lives on");
        assert!(info.monitors.is_empty());
        assert_eq!(info.queued_bytes, 0);
    }
}

/// Log lines at `warn` and above, from every thread of the runtime the
/// test runs on (a thread-local subscriber on each, so that no other
/// test's global one is in the way).
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Logs {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|p| p.into_inner())).into_owned()
    }

    fn install(&self) {
        let logs = self.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::WARN)
            .with_ansi(false)
            .with_writer(move || logs.clone())
            .finish();
        // For the thread's whole life: runtime threads only.
        std::mem::forget(tracing::subscriber::set_default(subscriber));
    }
}

/// A little-endian data frame as `Dist` lays it out: kind 0, sender,
/// receiver, tag, bytes.
fn data_frame(from: u64, to: u64, tag: i64, data: &[u8]) -> Vec<u8> {
    let mut f = vec![0u8];
    f.extend_from_slice(&from.to_le_bytes());
    f.extend_from_slice(&to.to_le_bytes());
    f.extend_from_slice(&tag.to_le_bytes());
    f.extend_from_slice(data);
    f
}

/// postcard's unsigned varint.
fn varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// A control frame (kind 1) of the postcard enum variant `variant` with
/// unsigned fields.
fn control_frame(variant: u64, fields: &[u64]) -> Vec<u8> {
    let mut f = vec![1u8];
    varint(variant, &mut f);
    for &x in fields {
        varint(x, &mut f);
    }
    f
}

/// xorshift64: random enough bytes, the same every run.
fn garbage(seed: &mut u64, len: usize) -> Vec<u8> {
    (0..len)
        .map(|_| {
            *seed ^= *seed << 13;
            *seed ^= *seed >> 7;
            *seed ^= *seed << 17;
            *seed as u8
        })
        .collect()
}

#[test]
fn garbage_unknown_pids_and_floods_are_dropped_and_the_node_still_answers() {
    let logs = Logs::default();
    let runtime = {
        let logs = logs.clone();
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .on_thread_start(move || logs.install())
            .build()
            .unwrap()
    };
    logs.install();
    runtime.block_on(garbage_and_floods(logs));
}

async fn garbage_and_floods(logs: Logs) {
    let dir = tempfile::tempdir().unwrap();
    certs::make(dir.path(), &names(&["ga", "gb"])).unwrap();
    let mut a = member(dir.path(), "ga", &[]).await;
    let mut b = member(dir.path(), "gb", &[&a]).await;
    a.expect(Event::NodeUp("gb".into())).await;
    b.expect(Event::NodeUp("ga".into())).await;
    let echo = a.spawn_echo();
    let from_b = b.cluster.as_ref().unwrap().handle();
    let a_id = u64::from(a.node.node_id());
    // A pid of a's that never existed: the last serial.
    let never = (a_id << Pid::SERIAL_BITS) | ((1 << Pid::SERIAL_BITS) - 1);
    let b_pid = b.spawn_parked().get();

    // Garbage: empty, random, every kind byte, truncated data frames.
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    let mut frames: Vec<Vec<u8>> = vec![Vec::new(), vec![0], vec![1], vec![9; 3]];
    for len in [1, 2, 7, 24, 25, 26, 100, 1000] {
        for kind in 0..3u8 {
            let mut f = garbage(&mut seed, len);
            f[0] = kind;
            frames.push(f);
        }
    }
    for _ in 0..200 {
        let len = (seed % 300) as usize;
        frames.push(garbage(&mut seed, len));
    }
    let whole = data_frame(b_pid, echo.get(), 7, b"hello");
    for cut in [1, 9, 17, 24] {
        frames.push(whole[..cut].to_vec());
    }
    // Frames for pids that never existed: a message, a link (a answers
    // `noproc`), a monitor, a kill, an answer to a call never made, and a
    // control frame whose fields stop short.
    frames.push(data_frame(b_pid, never, 1, b"to nobody"));
    frames.push(control_frame(0, &[b_pid, never]));
    frames.push(control_frame(3, &[b_pid, never, 42]));
    frames.push(control_frame(6, &[never]));
    frames.push(control_frame(9, &[u64::MAX >> 1, 0, 1]));
    frames.push(control_frame(3, &[b_pid]));
    for f in &frames {
        from_b.send("ga", Bytes::from(f.clone())).unwrap();
    }

    // A flood past the per-peer queue (64 MiB): refused with `Busy`, not
    // buffered. 1 MiB data frames for a pid that never existed.
    let big = Bytes::from(data_frame(b_pid, never, 1, &vec![0x5a; 1 << 20]));
    let (mut queued, mut busy) = (0usize, 0usize);
    for _ in 0..1_000 {
        match from_b.send("ga", big.clone()) {
            Ok(()) => queued += 1,
            Err(SendError::Busy) => busy += 1,
            Err(e) => panic!("{e}"),
        }
        if busy >= 100 {
            break;
        }
    }
    eprintln!("flood: {queued} MiB queued, {busy} refused");
    assert!(busy > 0, "1,000 MiB offered at once and never `Busy`");

    // A flood of a slow process: its `max_queued` drops what does not fit.
    let limit = 64 << 10;
    let slow = a
        .node
        .spawn(
            SpawnOptions::new().max_queued(Some(limit)),
            |ctx| async move {
                let _ = ctx.receive(&[i64::MIN], None).await;
            },
        )
        .unwrap();
    for i in 0..5_000u64 {
        let f = Bytes::from(data_frame(b_pid, slow.get(), i as i64, &[1; 1024]));
        while let Err(SendError::Busy) = from_b.send("ga", f.clone()) {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    // After all that, a still answers: a round trip from b to a's echo.
    let (tx, rx) = tokio::sync::oneshot::channel();
    b.node
        .spawn(SpawnOptions::new(), move |ctx| async move {
            ctx.send(echo, 77, b"still there?".to_vec()).unwrap();
            let m = ctx.receive(&[77], Some(Duration::from_secs(20))).await;
            let _ = tx.send(m.map(|m| (m.sender, m.data)));
        })
        .unwrap();
    let (sender, data) = rx.await.unwrap().expect("a answers after the garbage");
    assert_eq!(
        (sender, data.as_slice()),
        (echo, b"still there?".as_slice())
    );
    // The flood of the slow process was cut at its limit.
    let info = a.node.info(slow).unwrap();
    assert!(
        info.queued_bytes as usize <= limit && info.mailbox_len < 64,
        "{} bytes, {} messages queued",
        info.queued_bytes,
        info.mailbox_len
    );
    assert!(info.mailbox_len > 0, "nothing of the flood arrived");
    // The link and the monitor of a pid that never existed left nothing
    // behind on a.
    let stats = a.node.stats();
    assert_eq!((stats.links, stats.monitors), (0, 0));
    // b is still a member, the connection kept; and the garbage was logged.
    assert_eq!(a.dist.nodes(), names(&["ga", "gb"]));
    let text = logs.text();
    assert!(
        text.contains("gb sent a malformed frame"),
        "no log line for a malformed frame: {text}"
    );
    assert!(
        text.contains("gb sent a frame that does not decode"),
        "no log line for an undecodable control frame: {text}"
    );
    // Hundreds of refusals, ten lines: garbage cannot flood the log.
    let lines = text.lines().filter(|l| l.contains("gb sent ")).count();
    assert!(
        (2..=10).contains(&lines),
        "{lines} refusal lines for {} bad frames:\n{text}",
        frames.len()
    );
    drop(b);
}

/// A data frame is a claim by the peer: who sent it and for whom. A node
/// takes only messages for its own processes, from the peer's processes
/// (or the peer's host, `Pid::NODE`): a peer cannot pass a message off as
/// one of this node's own processes', nor have this node relay one to a
/// third node under its name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_cannot_claim_another_nodes_sender_nor_have_a_message_relayed() {
    let dir = tempfile::tempdir().unwrap();
    certs::make(dir.path(), &names(&["ra", "rb", "rc"])).unwrap();
    let mut a = member(dir.path(), "ra", &[]).await;
    let mut b = member(dir.path(), "rb", &[&a]).await;
    a.expect(Event::NodeUp("rb".into())).await;
    b.expect(Event::NodeUp("ra".into())).await;
    let mut c = member(dir.path(), "rc", &[&a]).await;
    a.expect(Event::NodeUp("rc".into())).await;
    c.expect(Event::NodeUp("rb".into())).await;
    // A process on a and one on c that report every message they get.
    let (tx, mut got) = mpsc::unbounded_channel::<(&str, Pid, i64)>();
    let report = |on: &Member, who: &'static str| {
        let tx = tx.clone();
        on.node
            .spawn(SpawnOptions::new(), move |ctx| async move {
                loop {
                    let m = ctx.receive_any().await;
                    let _ = tx.send((who, m.sender, m.tag));
                }
            })
            .unwrap()
    };
    let on_a = report(&a, "a");
    let on_c = report(&c, "c");
    let a_local = a.spawn_parked();
    let b_proc = b.spawn_parked();
    let from_b = b.cluster.as_ref().unwrap().handle();
    // Claims: from a's own process; from c's; for c's process through a.
    from_b
        .send(
            "ra",
            Bytes::from(data_frame(on_c.get(), on_a.get(), 5, b"")),
        )
        .unwrap();
    from_b
        .send(
            "ra",
            Bytes::from(data_frame(a_local.get(), on_a.get(), 1, b"")),
        )
        .unwrap();
    from_b
        .send(
            "ra",
            Bytes::from(data_frame(b_proc.get(), on_c.get(), 2, b"")),
        )
        .unwrap();
    // Then honest frames: from b's process, and from b's host.
    from_b
        .send(
            "ra",
            Bytes::from(data_frame(b_proc.get(), on_a.get(), 3, b"")),
        )
        .unwrap();
    from_b
        .send(
            "ra",
            Bytes::from(data_frame(Pid::NODE.get(), on_a.get(), 4, b"")),
        )
        .unwrap();
    // Frames from one peer are handled in order: once the honest ones are
    // in, the claims were refused (or are in too).
    let mut seen = Vec::new();
    while seen.len() < 2 {
        let m = tokio::time::timeout(Duration::from_secs(5), got.recv())
            .await
            .expect("the honest messages arrive")
            .unwrap();
        seen.push(m);
    }
    // Anything relayed to c would have left a before the honest frames
    // were handled; give it the time a round trip takes.
    tokio::time::sleep(Duration::from_millis(200)).await;
    while let Ok(m) = got.try_recv() {
        seen.push(m);
    }
    assert_eq!(
        seen,
        vec![("a", b_proc, 3), ("a", Pid::NODE, 4)],
        "a forged sender or a relayed message was delivered"
    );
}

/// The same for control frames: a peer's link, monitor or exit signal
/// names the peer's process on its side; one claiming a process of the
/// receiving node (or of a third node) is dropped, so it cannot plant
/// relations between this node's own processes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peers_control_frames_cannot_speak_for_another_nodes_process() {
    let dir = tempfile::tempdir().unwrap();
    certs::make(dir.path(), &names(&["ka", "kb"])).unwrap();
    let mut a = member(dir.path(), "ka", &[]).await;
    let mut b = member(dir.path(), "kb", &[&a]).await;
    a.expect(Event::NodeUp("kb".into())).await;
    // b sends below: it must see a up too (a loaded machine may tell it
    // later than a learns of b).
    b.expect(Event::NodeUp("ka".into())).await;
    let (x, y) = (a.spawn_parked(), a.spawn_parked());
    let b_proc = b.spawn_parked();
    let from_b = b.cluster.as_ref().unwrap().handle();
    // postcard variants: Link 0, Exit 2, Monitor 3.
    for frame in [
        control_frame(0, &[x.get(), y.get()]),
        control_frame(3, &[x.get(), y.get(), 84]),
        control_frame(2, &[x.get(), y.get(), 1, b'k' as u64]),
    ] {
        from_b.send("ka", Bytes::from(frame)).unwrap();
    }
    // An honest monitor after them: once a holds it, the others were
    // handled (frames from one peer are handled in order).
    from_b
        .send(
            "ka",
            Bytes::from(control_frame(3, &[b_proc.get(), y.get(), 86])),
        )
        .unwrap();
    until("a holds b's monitor", Duration::from_secs(5), || {
        a.node.info(y).is_none_or(|i| !i.monitored_by.is_empty())
    })
    .await;
    let y_info = a.node.info(y).expect("a forged exit signal was obeyed");
    assert_eq!(
        y_info.monitored_by,
        vec![b_proc],
        "a forged watcher was kept"
    );
    assert!(y_info.links.is_empty(), "a forged link was kept");
    assert!(a.node.info(x).unwrap().links.is_empty());
}
