use std::time::Duration;

use rusm_core::{Error, ExitReason, MessageKind, Pid, SpawnOptions};

use crate::{node, park, reason};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pids_are_positive_and_never_reused() {
    let node = node();
    let mut last = 0;
    for _ in 0..100 {
        let pid = node.spawn(SpawnOptions::new(), |_| async {}).unwrap();
        assert!(pid.get() > last);
        last = pid.get();
        reason(&node, pid).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn selective_receive_keeps_the_others_in_order() {
    let node = node();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let pid = node
        .spawn(SpawnOptions::new(), |ctx| async move {
            // Wait until all four are queued so the selection is real.
            ctx.receive(&[99], None).await.unwrap();
            let third = ctx.receive(&[3], None).await.unwrap();
            let rest: Vec<i64> = [
                ctx.receive(&[], None).await.unwrap().tag,
                ctx.receive(&[], None).await.unwrap().tag,
                ctx.receive(&[], None).await.unwrap().tag,
            ]
            .into();
            tx.send((third.tag, rest)).unwrap();
        })
        .unwrap();
    for tag in [1, 2, 3, 4] {
        node.send(Pid::NODE, pid, tag, vec![]).unwrap();
    }
    node.send(Pid::NODE, pid, 99, vec![]).unwrap();
    let (third, rest) = rx.await.unwrap();
    assert_eq!(third, 3);
    assert_eq!(rest, vec![1, 2, 4]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receive_times_out_and_polls() {
    let node = node();
    let pid = node
        .spawn(SpawnOptions::new(), |ctx| async move {
            assert_eq!(
                ctx.receive(&[], Some(Duration::ZERO)).await,
                Err(Error::Timeout)
            );
            let t = std::time::Instant::now();
            assert_eq!(
                ctx.receive(&[5], Some(Duration::from_millis(50))).await,
                Err(Error::Timeout)
            );
            assert!(t.elapsed() >= Duration::from_millis(50));
            // A deadline that does not pass: the message that comes in
            // time ends the wait (queued before, or arriving during it).
            let me = ctx.pid();
            ctx.send(me, 6, vec![]).unwrap();
            assert_eq!(
                ctx.receive(&[6], Some(Duration::from_secs(10)))
                    .await
                    .map(|m| m.tag),
                Ok(6)
            );
            let node = ctx.node().clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(20)).await;
                node.send(Pid::NODE, me, 7, vec![]).unwrap();
            });
            let t = std::time::Instant::now();
            assert_eq!(
                ctx.receive(&[7], Some(Duration::from_secs(10)))
                    .await
                    .map(|m| m.tag),
                Ok(7)
            );
            assert!(t.elapsed() < Duration::from_secs(5));
        })
        .unwrap();
    assert_eq!(reason(&node, pid).await, ExitReason::Normal);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_to_a_dead_pid_is_no_process() {
    let node = node();
    let pid = node.spawn(SpawnOptions::new(), |_| async {}).unwrap();
    reason(&node, pid).await;
    assert_eq!(node.send(Pid::NODE, pid, 0, vec![]), Err(Error::NoProcess));
    assert_eq!(
        node.send(Pid::NODE, Pid(999_999), 0, vec![]),
        Err(Error::NoProcess)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn order_from_one_sender_is_preserved() {
    let node = node();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let receiver = node
        .spawn(SpawnOptions::new(), |ctx| async move {
            let mut got = Vec::new();
            for _ in 0..10_000 {
                got.push(ctx.receive_any().await.tag);
            }
            tx.send(got).unwrap();
        })
        .unwrap();
    node.spawn(SpawnOptions::new(), move |ctx| async move {
        for i in 0..10_000 {
            ctx.send(receiver, i, vec![]).unwrap();
            if i % 100 == 0 {
                tokio::task::yield_now().await;
            }
        }
    })
    .unwrap();
    let got = rx.await.unwrap();
    assert_eq!(got, (0..10_000).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_ends_only_that_process() {
    let node = node();
    let bystander = node.spawn(SpawnOptions::new(), park).unwrap();
    let pid = node
        .spawn(SpawnOptions::new(), |_| async {
            panic!("boom at line one");
        })
        .unwrap();
    assert_eq!(
        reason(&node, pid).await,
        ExitReason::Crashed("boom at line one".into())
    );
    assert!(node.is_alive(bystander));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_choose_their_exit_reason() {
    let node = node();
    let a = node
        .spawn(SpawnOptions::new(), |_| async { Err::<(), _>("bad input") })
        .unwrap();
    let b = node
        .spawn(SpawnOptions::new(), |ctx| async move {
            ctx.exit(ExitReason::from_guest("done for")).await;
        })
        .unwrap();
    let c = node
        .spawn(SpawnOptions::new(), |ctx| async move {
            ctx.exit(ExitReason::from_guest("")).await;
        })
        .unwrap();
    assert_eq!(reason(&node, a).await.to_string(), "crashed: bad input");
    assert_eq!(reason(&node, b).await.to_string(), "crashed: done for");
    assert_eq!(reason(&node, c).await, ExitReason::Normal);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bounded_mailbox_sheds_data_but_never_exit_or_down() {
    let node = node();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let target = node
        .spawn(
            SpawnOptions::new()
                .mailbox_capacity(Some(2))
                .trap_exit(true),
            |ctx| async move {
                let crasher = ctx
                    .spawn_link(SpawnOptions::new(), |c| async move {
                        c.receive(&[7], None).await.unwrap();
                        Err::<(), _>("told to crash")
                    })
                    .unwrap();
                let watched = ctx.spawn(SpawnOptions::new(), |c| async move {
                    c.receive(&[7], None).await.unwrap();
                });
                ctx.monitor(watched.unwrap()).unwrap();
                tx.send((crasher, watched.unwrap())).unwrap();
                // Do not read anything: the mailbox stays full.
                ctx.receive(&[i64::MIN], None).await.ok();
            },
        )
        .unwrap();
    let (crasher, watched) = rx.await.unwrap();
    node.send(Pid::NODE, target, 1, vec![]).unwrap();
    node.send(Pid::NODE, target, 2, vec![]).unwrap();
    assert_eq!(node.send(Pid::NODE, target, 3, vec![]), Err(Error::Limit));
    node.send(Pid::NODE, crasher, 7, vec![]).unwrap();
    node.send(Pid::NODE, watched, 7, vec![]).unwrap();
    crate::eventually(|| node.info(target).unwrap().mailbox_len == 4).await;
    assert!(
        node.is_alive(target),
        "a trapping process survives its linked crash"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_size_cap_is_enforced() {
    let node = rusm_core::Node::new(rusm_core::NodeConfig {
        max_message_bytes: 10,
        ..Default::default()
    });
    let pid = node.spawn(SpawnOptions::new(), park).unwrap();
    assert_eq!(node.send(Pid::NODE, pid, 0, vec![0; 11]), Err(Error::Limit));
    assert_eq!(node.send(Pid::NODE, pid, 0, vec![0; 10]), Ok(()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_message_comes_from_the_spawner() {
    let node = node();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let parent = node
        .spawn(SpawnOptions::new(), move |ctx| async move {
            let me = ctx.pid();
            ctx.spawn(
                SpawnOptions::new().first_message(0, b"arg".to_vec()),
                move |child| async move {
                    let m = child.receive_any().await;
                    tx.send((m.kind, m.sender == me, m.data)).unwrap();
                },
            )
            .unwrap();
            park(ctx).await;
        })
        .unwrap();
    let (kind, from_parent, data) = rx.await.unwrap();
    assert_eq!(kind, MessageKind::Data);
    assert!(from_parent);
    assert_eq!(data, b"arg");
    node.kill(parent).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn info_and_labels() {
    let node = node();
    let pid = node
        .spawn(SpawnOptions::new().name("worker"), park)
        .unwrap();
    node.set_label(pid, "the worker");
    node.register("w", pid).unwrap();
    node.send(Pid::NODE, pid, 1, vec![]).unwrap();
    let info = node.info(pid).unwrap();
    assert_eq!(info.name.as_deref(), Some("worker"));
    assert_eq!(info.label.as_deref(), Some("the worker"));
    assert_eq!(info.names, vec!["w".to_string()]);
    assert_eq!(info.mailbox_len, 1);
    assert!(!info.trap_exit);
    assert!(node.processes().contains(&pid));
    node.kill(pid).unwrap();
    assert_eq!(reason(&node, pid).await, ExitReason::Killed);
    assert!(node.info(pid).is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn process_quota_limits_spawns() {
    let node = node();
    let quota = rusm_core::ProcessQuota::new(2);
    let a = node
        .spawn(SpawnOptions::new().quota(Some(quota.clone())), park)
        .unwrap();
    let _b = node
        .spawn(SpawnOptions::new().quota(Some(quota.clone())), park)
        .unwrap();
    assert_eq!(
        node.spawn(SpawnOptions::new().quota(Some(quota.clone())), park)
            .err(),
        Some(Error::Limit)
    );
    node.kill(a).unwrap();
    reason(&node, a).await;
    crate::eventually(|| quota.live() == 1).await;
    assert!(
        node.spawn(SpawnOptions::new().quota(Some(quota.clone())), park)
            .is_ok()
    );

    let capped = rusm_core::Node::new(rusm_core::NodeConfig {
        max_processes: 1,
        ..Default::default()
    });
    capped.spawn(SpawnOptions::new(), park).unwrap();
    assert_eq!(
        capped.spawn(SpawnOptions::new(), park).err(),
        Some(Error::Limit)
    );
}

/// `send_with` keeps the last peer past the process table: same outcomes
/// as `send` (order, the size cap, a full mailbox, a peer that ended),
/// whether the peer is kept or not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sends_through_a_kept_peer_behave_as_sends() {
    use rusm_core::LastPeer;

    let node = rusm_core::Node::new(rusm_core::NodeConfig {
        max_message_bytes: 10,
        ..Default::default()
    });
    let a = node
        .spawn(SpawnOptions::new().mailbox_capacity(Some(50)), park)
        .unwrap();
    let b = node.spawn(SpawnOptions::new(), park).unwrap();
    let mut peer = LastPeer::default();
    // Alternating (nothing kept), then a run to one peer (kept from its
    // second send): every message arrives.
    for i in 0..10 {
        node.send_with(&mut peer, Pid::NODE, a, i, vec![]).unwrap();
        node.send_with(&mut peer, Pid::NODE, b, i, vec![]).unwrap();
    }
    for i in 10..40 {
        node.send_with(&mut peer, Pid::NODE, a, i, vec![]).unwrap();
    }
    // The size cap holds on the kept path too.
    assert_eq!(
        node.send_with(&mut peer, Pid::NODE, a, 0, vec![0; 11]),
        Err(Error::Limit)
    );
    // So does the mailbox bound: 50 queued, the 51st refused.
    for i in 40..50 {
        node.send_with(&mut peer, Pid::NODE, a, i, vec![]).unwrap();
    }
    assert_eq!(
        node.send_with(&mut peer, Pid::NODE, a, 50, vec![]),
        Err(Error::Limit)
    );
    assert_eq!(node.info(a).unwrap().mailbox_len, 50);
    // The kept peer ends: `NoProcess`, as a table miss gives.
    node.kill(a).unwrap();
    crate::eventually(|| !node.is_alive(a)).await;
    assert_eq!(
        node.send_with(&mut peer, Pid::NODE, a, 0, vec![]),
        Err(Error::NoProcess)
    );
    assert_eq!(
        node.send_with(&mut peer, Pid::NODE, a, 0, vec![]),
        Err(Error::NoProcess)
    );
    // And b still gets its own, kept or not.
    for i in 0..3 {
        node.send_with(&mut peer, Pid::NODE, b, 100 + i, vec![])
            .unwrap();
    }
    assert_eq!(node.info(b).unwrap().mailbox_len, 13);
}
