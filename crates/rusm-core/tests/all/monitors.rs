use rusm_core::{Error, MessageKind, Pid, SpawnOptions};

use crate::{node, park, reason};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn down_carries_the_reference_and_reason() {
    let node = node();
    let target = node
        .spawn(SpawnOptions::new(), |ctx| async move {
            ctx.receive(&[1], None).await.unwrap();
            Err::<(), _>("gone")
        })
        .unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let watcher = node
        .spawn(SpawnOptions::new(), move |ctx| async move {
            let r = ctx.monitor(target).unwrap();
            ctx.send(target, 1, vec![]).unwrap();
            let m = ctx.receive(&[r], None).await.unwrap();
            tx.send((m.kind, m.sender, m.tag == r, m.text())).unwrap();
        })
        .unwrap();
    let (kind, sender, tag_ok, text) = rx.await.unwrap();
    assert_eq!(kind, MessageKind::Down);
    assert_eq!(sender, target);
    assert!(tag_ok);
    assert_eq!(text, "crashed: gone");
    reason(&node, watcher).await;
    assert_eq!(node.stats().monitors, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monitoring_a_dead_pid_gives_noproc_at_once() {
    let node = node();
    let dead = node.spawn(SpawnOptions::new(), |_| async {}).unwrap();
    reason(&node, dead).await;
    let (tx, rx) = tokio::sync::oneshot::channel();
    node.spawn(SpawnOptions::new(), move |ctx| async move {
        let r = ctx.monitor(dead).unwrap();
        let m = ctx
            .receive(&[r], Some(std::time::Duration::from_secs(1)))
            .await
            .unwrap();
        tx.send(m.text()).unwrap();
    })
    .unwrap();
    assert_eq!(rx.await.unwrap(), "noproc");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demonitor_stops_the_down_and_cleans_both_sides() {
    let node = node();
    let target = node.spawn(SpawnOptions::new(), park).unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let watcher = node
        .spawn(SpawnOptions::new(), move |ctx| async move {
            let r = ctx.monitor(target).unwrap();
            ctx.demonitor(r).unwrap();
            let again = ctx.demonitor(r);
            tx.send(again).unwrap();
            park(ctx).await;
        })
        .unwrap();
    assert_eq!(rx.await.unwrap(), Err(Error::NotFound));
    assert!(node.info(target).unwrap().monitored_by.is_empty());
    node.kill(target).unwrap();
    reason(&node, target).await;
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    assert_eq!(node.info(watcher).unwrap().mailbox_len, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_watcher_leaves_no_monitor_behind() {
    let node = node();
    let target = node.spawn(SpawnOptions::new(), park).unwrap();
    for _ in 0..100 {
        let w = node
            .spawn(SpawnOptions::new(), move |ctx| async move {
                ctx.monitor(target).unwrap();
            })
            .unwrap();
        reason(&node, w).await;
    }
    assert!(node.info(target).unwrap().monitored_by.is_empty());
    let _ = Pid::NODE;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn references_never_equal_a_hand_picked_tag() {
    // A protocol's constants (1, 2, 100, ...) and references share the tag
    // space of a selective receive; a down tagged 1 would be taken for a
    // reply tagged 1.
    let node = node();
    let target = node.spawn(SpawnOptions::new(), |_| async {}).unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel();
    node.spawn(SpawnOptions::new(), move |ctx| async move {
        let refs = [ctx.make_ref(), ctx.monitor(target).unwrap(), ctx.make_ref()];
        let first_tags = ctx
            .receive(&[1, 2, 100], Some(std::time::Duration::from_millis(50)))
            .await;
        tx.send((refs, first_tags.is_err())).unwrap();
    })
    .unwrap();
    let (refs, nothing_matched) = rx.await.unwrap();
    for r in refs {
        assert!(
            r >= rusm_core::FIRST_REF && r > i64::from(u32::MAX),
            "reference {r}"
        );
    }
    assert!(
        nothing_matched,
        "the down message matched a small constant tag"
    );
}
