//! Ordered frames between nodes, both ways at once.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rusm_cluster::{Identity, SendError, certs};
use tokio::sync::mpsc;

use crate::membership::{names, start_with};

fn identity(dir: &std::path::Path, name: &str) -> Identity {
    Identity::from_dir(name, dir).unwrap()
}

/// An inbound that forwards (from, frame) to a channel.
fn collector() -> (
    rusm_cluster::Inbound,
    mpsc::UnboundedReceiver<(String, Bytes)>,
) {
    let (tx, rx) = mpsc::unbounded_channel();
    let inbound: rusm_cluster::Inbound = Arc::new(move |from: &str, frame: Bytes| {
        let _ = tx.send((from.to_owned(), frame));
    });
    (inbound, rx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frames_arrive_in_order_both_ways_under_load() {
    let dir = tempfile::tempdir().unwrap();
    certs::make(dir.path(), &names(&["a", "b"])).unwrap();
    let (in_a, mut got_a) = collector();
    let (in_b, mut got_b) = collector();
    let mut a = start_with(identity(dir.path(), "a"), &[], Some(in_a)).await;
    let mut b = start_with(identity(dir.path(), "b"), &[&a], Some(in_b)).await;
    a.expect(
        rusm_cluster::Event::NodeUp("b".into()),
        Duration::from_secs(5),
    )
    .await;
    b.expect(
        rusm_cluster::Event::NodeUp("a".into()),
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(
        a.cluster.send("nobody", Bytes::from_static(b"x")),
        Err(SendError::Unreachable)
    );

    const N: u32 = 20_000;
    let start = Instant::now();
    // Both ways, interleaved; a full queue is retried (the peer is
    // catching up). The sender pauses every 1,000 frames: this test checks
    // order, not how SWIM fares against a thread that never lets go of a
    // core (on a loaded two-core machine that starved the probes and got a
    // live node declared down, which loses what was in flight).
    let send = |from: &crate::membership::Node, to: &'static str, i: u32| {
        let mut frame = i.to_le_bytes().to_vec();
        frame.resize(4 + (i as usize % 200), 7);
        loop {
            match from.cluster.send(to, Bytes::from(frame.clone())) {
                Ok(()) => break,
                Err(SendError::Busy) => std::thread::yield_now(),
                Err(e) => panic!("frame {i} to {to}: {e}"),
            }
        }
    };
    for i in 0..N {
        send(&a, "b", i);
        send(&b, "a", i);
        if i % 1000 == 999 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    for (who, got, from) in [("b", &mut got_b, "a"), ("a", &mut got_a, "b")] {
        for i in 0..N {
            let (sender, frame) = tokio::time::timeout(Duration::from_secs(10), got.recv())
                .await
                .unwrap_or_else(|_| panic!("{who}: frame {i} never came"))
                .expect("the node is up");
            assert_eq!(sender, from);
            let n = u32::from_le_bytes(frame[..4].try_into().unwrap());
            assert_eq!(n, i, "{who}: frames out of order");
            assert_eq!(frame.len(), 4 + (i as usize % 200));
        }
    }
    eprintln!("{} frames each way in {:?}", N, start.elapsed());
}
