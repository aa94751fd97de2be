use rusm_core::{Error, ExitReason, MessageKind, Pid, SpawnOptions};

use crate::{node, park, reason};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abnormal_exit_propagates_over_links() {
    let node = node();
    let a = node.spawn(SpawnOptions::new(), park).unwrap();
    let b = node
        .spawn(SpawnOptions::new(), |ctx| async move {
            ctx.receive(&[1], None).await.unwrap();
            Err::<(), _>("b failed")
        })
        .unwrap();
    node.link(a, b).unwrap();
    assert_eq!(node.info(a).unwrap().links, vec![b]);
    node.send(Pid::NODE, b, 1, vec![]).unwrap();
    assert_eq!(reason(&node, b).await.to_string(), "crashed: b failed");
    assert_eq!(
        reason(&node, a).await.to_string(),
        format!("linked: {b} crashed: b failed")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn normal_exit_does_not_propagate() {
    let node = node();
    let a = node.spawn(SpawnOptions::new(), park).unwrap();
    let b = node
        .spawn(SpawnOptions::new(), |ctx| async move {
            ctx.receive(&[1], None).await.unwrap();
        })
        .unwrap();
    node.link(a, b).unwrap();
    node.send(Pid::NODE, b, 1, vec![]).unwrap();
    assert_eq!(reason(&node, b).await, ExitReason::Normal);
    crate::eventually(|| node.info(a).is_some_and(|i| i.links.is_empty())).await;
    assert!(node.is_alive(a));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trap_exit_turns_exits_into_messages() {
    let node = node();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let a = node
        .spawn(SpawnOptions::new(), |ctx| async move {
            assert!(!ctx.trap_exit(true));
            let child = ctx
                .spawn_link(SpawnOptions::new(), |_| async {
                    Err::<(), _>("child died")
                })
                .unwrap();
            let m = ctx.receive(&[-1], None).await.unwrap();
            tx.send((m.kind, m.sender == child, m.tag, m.text()))
                .unwrap();
        })
        .unwrap();
    let (kind, from_child, tag, text) = rx.await.unwrap();
    assert_eq!(kind, MessageKind::Exit);
    assert!(from_child);
    assert_eq!(tag, -1);
    assert_eq!(text, "crashed: child died");
    assert_eq!(reason(&node, a).await, ExitReason::Normal);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_is_not_trappable() {
    let node = node();
    let a = node
        .spawn(SpawnOptions::new().trap_exit(true), park)
        .unwrap();
    let b = node
        .spawn(SpawnOptions::new().trap_exit(true), park)
        .unwrap();
    node.link(a, b).unwrap();
    node.kill(a).unwrap();
    assert_eq!(reason(&node, a).await, ExitReason::Killed);
    // b traps, so it survives and holds an exit message saying `killed`.
    crate::eventually(|| node.info(b).is_some_and(|i| i.mailbox_len == 1)).await;
    assert!(node.is_alive(b));
    node.kill(b).unwrap();
    assert_eq!(reason(&node, b).await, ExitReason::Killed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn link_to_dead_is_no_process_and_unlink_works() {
    let node = node();
    let a = node.spawn(SpawnOptions::new(), park).unwrap();
    let dead = node.spawn(SpawnOptions::new(), |_| async {}).unwrap();
    reason(&node, dead).await;
    assert_eq!(node.link(a, dead), Err(Error::NoProcess));
    let b = node
        .spawn(SpawnOptions::new(), |ctx| async move {
            ctx.receive(&[1], None).await.unwrap();
            Err::<(), _>("x")
        })
        .unwrap();
    node.link(a, b).unwrap();
    node.unlink(a, b).unwrap();
    node.send(Pid::NODE, b, 1, vec![]).unwrap();
    reason(&node, b).await;
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    assert!(node.is_alive(a));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spawn_link_cascades_down_a_chain() {
    let node = node();
    // root -> c1 -> c2 -> c3, all linked; c3 crashes, all die.
    let (tx, rx) = tokio::sync::oneshot::channel();
    let root = node
        .spawn(SpawnOptions::new(), |ctx| async move {
            let c1 = ctx
                .spawn_link(SpawnOptions::new(), |ctx| async move {
                    let c2 = ctx
                        .spawn_link(SpawnOptions::new(), |ctx| async move {
                            ctx.spawn_link(SpawnOptions::new(), |_| async {
                                Err::<(), _>("bottom")
                            })
                            .unwrap();
                            park(ctx).await;
                        })
                        .unwrap();
                    let _ = c2;
                    park(ctx).await;
                })
                .unwrap();
            tx.send(c1).unwrap();
            park(ctx).await;
        })
        .unwrap();
    let c1 = rx.await.unwrap();
    let r = reason(&node, root).await.to_string();
    // A cascade's reason names the nearest link and the first cause.
    assert_eq!(r, format!("linked: {c1} crashed: bottom"));
}
