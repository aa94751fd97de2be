//! What a process can make the node hold is charged to it and bounded
//! (`max_queued`); a selective receive over a huge mailbox never blocks a
//! worker; a cascade of links, however long, leaves a flat reason.

use std::time::{Duration, Instant};

use rusm_core::{Error, ExitReason, MessageKind, Pid, SpawnOptions};

use crate::{eventually, node, park, reason};

const MIB: usize = 1 << 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_messages_are_charged_to_the_receiver_and_refunded_on_receive() {
    let node = node();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let pid = node
        .spawn(
            SpawnOptions::new().max_queued(Some(MIB)),
            |ctx| async move {
                let me = ctx.pid();
                let mut sent = 0;
                while ctx.send(me, 0, vec![0; 100_000]).is_ok() {
                    sent += 1;
                }
                let refused = ctx.send(me, 0, vec![0; 100_000]);
                let during = ctx.info(me).unwrap().queued_bytes;
                // Receiving one makes room for one more.
                ctx.receive_any().await;
                let again = ctx.send(me, 0, vec![0; 100_000]);
                // An empty message still costs its overhead: a flood of them
                // is bounded too.
                let mut empties = 0;
                while ctx.send(me, 0, Vec::new()).is_ok() {
                    empties += 1;
                }
                tx.send((sent, refused, during, again, empties)).unwrap();
            },
        )
        .unwrap();
    let (sent, refused, during, again, empties) = rx.await.unwrap();
    assert_eq!(sent, 10, "1 MiB holds ten 100 kB messages");
    assert_eq!(refused, Err(Error::Limit));
    assert!(during <= MIB as u64 && during > 900_000, "{during}");
    assert_eq!(again, Ok(()));
    assert!(empties < 2_000, "{empties} empty messages fit in the rest");
    assert_eq!(reason(&node, pid).await, ExitReason::Normal);
    assert_eq!(node.stats().queued_bytes, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monitors_links_names_and_timers_are_charged_and_bounded() {
    let node = node();
    let dead = node.spawn(SpawnOptions::new(), |_| async {}).unwrap();
    reason(&node, dead).await;
    let (tx, rx) = tokio::sync::oneshot::channel();
    let pid = node
        .spawn(
            SpawnOptions::new().max_queued(Some(MIB)),
            move |ctx| async move {
                // Each monitor of a dead pid queues a `noproc` down at once:
                // not free, and not unbounded.
                let mut monitors = 0;
                while ctx.monitor(dead).is_ok() {
                    monitors += 1;
                }
                while ctx.receive(&[], Some(Duration::ZERO)).await.is_ok() {}
                let mut names = 0;
                while ctx.register(&format!("{:0>1000}", names)).is_ok() {
                    names += 1;
                }
                for i in 0..names {
                    ctx.unregister(&format!("{:0>1000}", i)).unwrap();
                }
                let after_names = ctx.info(ctx.pid()).unwrap().queued_bytes;
                assert_eq!(after_names, 0, "unregistering refunds");
                ctx.register("keeper").unwrap();
                let mut timers = 0;
                while ctx
                    .send_after(ctx.pid(), 1, vec![0; 10_000], Duration::from_secs(3600))
                    .is_ok()
                {
                    timers += 1;
                }
                tx.send((monitors, names, timers)).unwrap();
                park(ctx).await;
            },
        )
        .unwrap();
    let (monitors, names, timers) = rx.await.unwrap();
    assert!((500..1000).contains(&monitors), "{monitors} monitors");
    assert!((500..1000).contains(&names), "{names} names");
    assert!((80..100).contains(&timers), "{timers} timers");
    let stats = node.stats();
    assert_eq!(stats.timers, timers);
    assert!(stats.queued_bytes <= MIB, "{}", stats.queued_bytes);
    // Timers belong to their setter: its exit cancels them, names go too.
    node.kill(pid).unwrap();
    reason(&node, pid).await;
    eventually(|| node.stats().processes == 0).await;
    let stats = node.stats();
    assert_eq!((stats.timers, stats.names, stats.queued_bytes), (0, 0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signals_are_reserved_so_a_full_process_still_gets_them() {
    let node = node();
    let (tx, rx) = tokio::sync::oneshot::channel();
    node.spawn(
        SpawnOptions::new().max_queued(Some(MIB)).trap_exit(true),
        move |ctx| async move {
            let child = ctx
                .spawn_link(SpawnOptions::new(), |c| async move {
                    c.receive(&[9], None).await.unwrap();
                    Err::<(), _>("asked to crash")
                })
                .unwrap();
            let watched = ctx.monitor(child).unwrap();
            // Fill every byte left with data messages to itself.
            while ctx.send(ctx.pid(), 0, vec![0; 1000]).is_ok() {}
            while ctx.send(ctx.pid(), 0, Vec::new()).is_ok() {}
            // Linking or monitoring more is refused now...
            let more_monitors = ctx.monitor(child);
            ctx.send(child, 9, Vec::new()).unwrap();
            // ...but the exit and the down the link and the monitor
            // reserved room for both arrive.
            let exit = ctx.receive(&[-1], Some(Duration::from_secs(5))).await;
            let down = ctx.receive(&[watched], Some(Duration::from_secs(5))).await;
            tx.send((more_monitors, exit.map(|m| m.kind), down.map(|m| m.text())))
                .unwrap();
        },
    )
    .unwrap();
    let (more, exit, down) = rx.await.unwrap();
    assert_eq!(more, Err(Error::Limit));
    assert_eq!(exit, Ok(MessageKind::Exit));
    assert_eq!(down.unwrap(), "crashed: asked to crash");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_thousand_links_cascade_to_one_flat_reason() {
    // Each process spawns the next, linked, and the last one crashes: the
    // cascade's reasons used to nest one level per link, and dropping or
    // printing them overflowed a worker's stack.
    const CHAIN: u32 = 100_000;
    let node = node();
    let bystander = node.spawn(SpawnOptions::new(), park).unwrap();
    fn link_next(ctx: rusm_core::Ctx, left: u32) -> futures::future::BoxFuture<'static, ()> {
        Box::pin(async move {
            if left == 0 {
                panic!("the end of the chain");
            }
            ctx.spawn_link(SpawnOptions::new(), move |c| link_next(c, left - 1))
                .unwrap();
            park(ctx).await;
        })
    }
    let head = node
        .spawn(SpawnOptions::new(), |ctx| link_next(ctx, CHAIN))
        .unwrap();
    let r = tokio::time::timeout(Duration::from_secs(60), node.wait(head))
        .await
        .expect("the cascade reaches the head")
        .expect("the head was alive");
    match &r {
        ExitReason::Linked(Pid(next), cause) => {
            assert_eq!(*next, head.get() + 1);
            assert_eq!(**cause, ExitReason::crashed("the end of the chain"));
        }
        other => panic!("{other}"),
    }
    assert!(node.is_alive(bystander));
    eventually(|| node.live() == 1).await;
}

#[tokio::test(flavor = "current_thread")]
async fn a_selective_receive_over_a_huge_mailbox_never_blocks_the_worker() {
    // One worker thread: if a scan held it, the ticker below would be late
    // by the scan's whole length (tens of milliseconds per pass).
    let node = node();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let scanner = node
        .spawn(SpawnOptions::new(), move |ctx| async move {
            for i in 0..500_000 {
                ctx.send(ctx.pid(), i % 1000, Vec::new()).unwrap();
            }
            let tags: Vec<i64> = (-64..0).collect();
            assert_eq!(
                ctx.receive(&(0..65).collect::<Vec<_>>(), None).await.err(),
                Some(Error::Invalid),
                "more than 64 tags"
            );
            tx.send(()).unwrap();
            // Poll the whole mailbox again and again: never a match.
            loop {
                let _ = ctx.receive(&tags, Some(Duration::ZERO)).await;
                tokio::task::yield_now().await;
            }
        })
        .unwrap();
    rx.await.unwrap();
    let mut late = Vec::new();
    for _ in 0..50 {
        let t = Instant::now();
        tokio::time::sleep(Duration::from_millis(2)).await;
        late.push(t.elapsed().saturating_sub(Duration::from_millis(2)));
    }
    // The median: the machine may deschedule this one thread now and
    // then (the suite runs tests in parallel on two cores); a scan that
    // held the worker would make every sleep late by a whole pass.
    late.sort();
    let median = late[late.len() / 2];
    let t = Instant::now();
    node.kill(scanner).unwrap();
    assert_eq!(reason(&node, scanner).await, ExitReason::Killed);
    let kill_took = t.elapsed();
    assert!(
        median < Duration::from_millis(40),
        "a 2 ms sleep was {median:?} late (median)"
    );
    assert!(
        kill_took < Duration::from_millis(100),
        "kill took {kill_took:?}"
    );
}
