//! `spawn_watched`: the watch gives the exit reason however the process
//! ends, and frees nothing early.

use std::time::Duration;

use rusm_core::{ExitReason, Pid, SpawnOptions};

use crate::{eventually, node, park};

async fn within<F: std::future::Future>(f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(10), f)
        .await
        .expect("the watch never resolved")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_gives_the_reason_of_every_way_to_end() {
    let node = node();
    let spawn = |body: fn(rusm_core::Ctx) -> futures::future::BoxFuture<'static, ()>| {
        node.spawn_watched(Pid::NODE, SpawnOptions::new(), body)
            .unwrap()
    };

    let (_, exit) = spawn(|_| Box::pin(async {}));
    assert_eq!(within(exit).await, ExitReason::Normal);

    let (_, exit) = spawn(|_| Box::pin(async { panic!("boom") }));
    assert_eq!(within(exit).await, ExitReason::crashed("boom"));

    // A body that panics as it is called, before it has a future to poll.
    let (_, exit) = spawn(|_| panic!("at the call"));
    assert_eq!(within(exit).await, ExitReason::crashed("at the call"));

    // Killed while it waits: the task is aborted, not returned from.
    let (pid, exit) = spawn(|ctx| Box::pin(park(ctx)));
    tokio::time::sleep(Duration::from_millis(20)).await;
    node.kill(pid).unwrap();
    assert_eq!(within(exit).await, ExitReason::Killed);

    // Stopped with a reason of the stopper's choosing.
    let (pid, exit) = spawn(|ctx| Box::pin(park(ctx)));
    let reason = ExitReason::crashed("told to stop");
    node.stop(Pid::NODE, pid, reason.clone()).unwrap();
    assert_eq!(within(exit).await, reason);

    // Killed before its task ever ran: the spawner's thread kills it at
    // once, and the exit procedure runs as the unpolled body is dropped.
    for _ in 0..100 {
        let (pid, exit) = spawn(|ctx| Box::pin(park(ctx)));
        let _ = node.kill(pid);
        assert_eq!(within(exit).await, ExitReason::Killed);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_dropped_early_or_awaited_late_loses_nothing() {
    let node = node();
    // Dropped before the process ends: the process runs on and exits.
    let (pid, exit) = node
        .spawn_watched(Pid::NODE, SpawnOptions::new(), park)
        .unwrap();
    drop(exit);
    assert!(node.is_alive(pid));
    node.kill(pid).unwrap();
    assert_eq!(crate::reason(&node, pid).await, ExitReason::Killed);
    // Awaited long after the process ended (and left the table): the
    // reason is still there.
    let (pid, exit) = node
        .spawn_watched(Pid::NODE, SpawnOptions::new(), |_| async {
            ExitReason::crashed("late")
        })
        .unwrap();
    crate::eventually(|| !node.is_alive(pid)).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(within(exit).await, ExitReason::crashed("late"));
}

/// An `ExitSet` gives each of its processes' exits once, whatever the way
/// it ended, and dropping it stops none of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exit_set_gives_every_exit_once() {
    use std::collections::HashMap;

    use rusm_core::ExitSet;

    let node = node();
    let mut set = ExitSet::new();
    assert!(set.is_empty());
    let mut expected = HashMap::new();
    let spawn =
        |set: &mut ExitSet, body: fn(rusm_core::Ctx) -> futures::future::BoxFuture<'static, ()>| {
            node.spawn_watched_in(set, Pid::NODE, SpawnOptions::new(), body)
                .unwrap()
        };
    for _ in 0..50 {
        expected.insert(spawn(&mut set, |_| Box::pin(async {})), ExitReason::Normal);
        expected.insert(
            spawn(&mut set, |_| Box::pin(async { panic!("boom") })),
            ExitReason::crashed("boom"),
        );
        // Killed before its task ran, and killed while it waits.
        let pid = spawn(&mut set, |ctx| Box::pin(park(ctx)));
        node.kill(pid).unwrap();
        expected.insert(pid, ExitReason::Killed);
    }
    let parked: Vec<Pid> = (0..20)
        .map(|_| spawn(&mut set, |ctx| Box::pin(park(ctx))))
        .collect();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let reason = ExitReason::crashed("told to stop");
    for &pid in &parked {
        node.stop(Pid::NODE, pid, reason.clone()).unwrap();
        expected.insert(pid, reason.clone());
    }
    assert_eq!(set.len(), expected.len());
    while let Some((pid, reason)) = within(set.next()).await {
        assert_eq!(
            expected.remove(&pid).as_ref(),
            Some(&reason),
            "{pid} given twice or wrongly"
        );
    }
    assert!(expected.is_empty(), "never given: {expected:?}");
    assert!(set.is_empty());

    // Dropped with a process in it: the process runs on.
    let pid = spawn(&mut set, |ctx| Box::pin(park(ctx)));
    drop(set);
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(node.is_alive(pid));
    node.kill(pid).unwrap();
    assert_eq!(crate::reason(&node, pid).await, ExitReason::Killed);
}

/// Tells `to` (tag 7) when it is dropped: a stand-in for what a body holds
/// (a Wasm store, a socket).
struct TellOnDrop {
    ctx: rusm_core::Ctx,
    to: Pid,
}

impl Drop for TellOnDrop {
    fn drop(&mut self) {
        let _ = self.ctx.send(self.to, 7, Vec::new());
    }
}

/// Whether it returns, panics or is killed, a process's body (and all it
/// holds) is gone before its exit is told: a monitor's `down` comes after
/// whatever the body's locals did as they were dropped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_is_gone_before_its_exit_is_told() {
    let node = node();
    for how in ["return", "panic", "kill"] {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let watcher = node
            .spawn(SpawnOptions::new(), move |ctx| async move {
                let me = ctx.pid();
                let child = ctx
                    .spawn(SpawnOptions::new(), move |ctx| async move {
                        let _held = TellOnDrop {
                            ctx: ctx.clone(),
                            to: me,
                        };
                        // Wait to be told how to end.
                        let m = ctx.receive(&[1], None).await.expect("told");
                        match m.data.as_slice() {
                            b"return" => {}
                            b"panic" => panic!("as told"),
                            _ => park(ctx.clone()).await,
                        }
                    })
                    .expect("spawned");
                let reference = ctx.monitor(child).expect("monitored");
                ctx.send(child, 1, how.as_bytes().to_vec()).expect("sent");
                if how == "kill" {
                    // Once the child is waiting, kill it.
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    ctx.kill(child).expect("killed");
                }
                let first = ctx.receive(&[7, reference], None).await.unwrap();
                let second = ctx.receive(&[7, reference], None).await.unwrap();
                let _ = tx.send((first.tag, second.tag, reference));
            })
            .expect("spawned");
        let (first, second, reference) = within(rx).await.expect("the watcher reported");
        assert_eq!(
            (first, second),
            (7, reference),
            "{how}: the body's drop must come before the `down`"
        );
        eventually(|| !node.is_alive(watcher)).await;
    }
}
