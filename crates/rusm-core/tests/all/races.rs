//! Races provoked on purpose, repeated, and checked for invariants.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use rusm_core::{ExitReason, MessageKind, Pid, SpawnOptions};

use crate::{eventually, node, park, reason};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_senders_one_receiver_lose_nothing_and_keep_per_sender_order() {
    let node = node();
    const SENDERS: usize = 64;
    const EACH: i64 = 500;
    let (tx, rx) = tokio::sync::oneshot::channel();
    let receiver = node
        .spawn(SpawnOptions::new(), |ctx| async move {
            let mut next = std::collections::HashMap::<Pid, i64>::new();
            for _ in 0..(SENDERS as i64 * EACH) {
                let m = ctx.receive_any().await;
                let expected = next.entry(m.sender).or_insert(0);
                assert_eq!(m.tag, *expected, "per-sender order");
                *expected += 1;
            }
            tx.send(next.len()).unwrap();
        })
        .unwrap();
    for _ in 0..SENDERS {
        node.spawn(SpawnOptions::new(), move |ctx| async move {
            for i in 0..EACH {
                ctx.send(receiver, i, vec![1, 2, 3]).unwrap();
                if i % 50 == 0 {
                    tokio::task::yield_now().await;
                }
            }
        })
        .unwrap();
    }
    assert_eq!(
        tokio::time::timeout(Duration::from_secs(30), rx)
            .await
            .unwrap()
            .unwrap(),
        SENDERS
    );
    assert_eq!(reason(&node, receiver).await, ExitReason::Normal);
}

/// Link to a process at the moment it dies: the linker either fails with
/// `NoProcess` or gets the exit. Never neither.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn link_during_exit_never_loses_the_exit() {
    let node = node();
    for _ in 0..2000 {
        let target = node
            .spawn(SpawnOptions::new(), |_| async { Err::<(), _>("dying") })
            .unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel();
        node.spawn(SpawnOptions::new().trap_exit(true), move |ctx| async move {
            let outcome = match ctx.link(target) {
                Err(_) => "noproc".to_string(),
                Ok(()) => ctx
                    .receive(&[-1], Some(Duration::from_secs(5)))
                    .await
                    .unwrap()
                    .text(),
            };
            tx.send(outcome).unwrap();
        })
        .unwrap();
        let outcome = rx.await.unwrap();
        assert!(
            outcome == "noproc" || outcome == "crashed: dying",
            "{outcome}"
        );
    }
    eventually(|| node.live() == 0).await;
    assert_eq!(node.stats().links, 0);
}

/// Monitor a process at the moment it dies: always exactly one `down`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monitor_during_exit_always_gets_one_down() {
    let node = node();
    for _ in 0..2000 {
        let target = node.spawn(SpawnOptions::new(), |_| async {}).unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel();
        node.spawn(SpawnOptions::new(), move |ctx| async move {
            let r = ctx.monitor(target).unwrap();
            let m = ctx
                .receive(&[r], Some(Duration::from_secs(5)))
                .await
                .unwrap();
            assert_eq!(m.kind, MessageKind::Down);
            let extra = ctx.receive(&[r], Some(Duration::from_millis(1))).await;
            tx.send((m.text(), extra.is_err())).unwrap();
        })
        .unwrap();
        let (text, only_one) = rx.await.unwrap();
        assert!(text == "normal" || text == "noproc", "{text}");
        assert!(only_one);
    }
    eventually(|| node.live() == 0).await;
    assert_eq!(
        node.stats(),
        rusm_core::NodeStats {
            table_capacity: node.stats().table_capacity,
            ..Default::default()
        }
    );
}

/// Kill processes while they are blocked in receive, and while messages
/// are being sent to them: each ends `killed`, senders never fail in any
/// way but `NoProcess`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_during_receive() {
    let node = node();
    let sent = Arc::new(AtomicUsize::new(0));
    for _ in 0..500 {
        let victim = node
            .spawn(SpawnOptions::new(), |ctx| async move {
                loop {
                    ctx.receive(&[42], Some(Duration::from_secs(10))).await.ok();
                }
            })
            .unwrap();
        let sent = sent.clone();
        node.spawn(SpawnOptions::new(), move |ctx| async move {
            for i in 0..20 {
                match ctx.send(victim, i % 43, vec![]) {
                    Ok(()) => {
                        sent.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => assert_eq!(e, rusm_core::Error::NoProcess),
                }
            }
        })
        .unwrap();
        node.kill(victim).unwrap();
        assert_eq!(reason(&node, victim).await, ExitReason::Killed);
    }
    eventually(|| node.live() == 0).await;
}

/// Two processes link to each other while both crash: no deadlock, both
/// die, nothing is left in the tables.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_link_and_exit_race() {
    let node = node();
    for _ in 0..1000 {
        let (txa, rxa) = tokio::sync::oneshot::channel::<Pid>();
        let (txb, rxb) = tokio::sync::oneshot::channel::<Pid>();
        let a = node
            .spawn(SpawnOptions::new(), |ctx| async move {
                let b = rxb.await.unwrap();
                let _ = ctx.link(b);
                Err::<(), _>("a")
            })
            .unwrap();
        let b = node
            .spawn(SpawnOptions::new(), |ctx| async move {
                let a = rxa.await.unwrap();
                let _ = ctx.link(a);
                Err::<(), _>("b")
            })
            .unwrap();
        // Either may already be dead (linked to the other) when its pid
        // arrives; that is part of the race.
        let _ = txa.send(a);
        let _ = txb.send(b);
        reason(&node, a).await;
        reason(&node, b).await;
    }
    eventually(|| node.live() == 0).await;
    assert_eq!(node.stats().links, 0);
    let _ = park;
}
