use std::time::Duration;

use rusm_core::{Error, ExitReason, SpawnOptions};

use crate::{node, park};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_ends_everyone_with_shutdown() {
    let node = node();
    let mut waits = Vec::new();
    for _ in 0..100 {
        let pid = node.spawn(SpawnOptions::new(), park).unwrap();
        waits.push(node.wait(pid));
    }
    // A trapping process that takes its time but complies.
    let slow = node
        .spawn(SpawnOptions::new().trap_exit(true), |ctx| async move {
            ctx.receive(&[-1], None).await.unwrap();
            tokio::time::sleep(Duration::from_millis(50)).await;
            ExitReason::Shutdown
        })
        .unwrap();
    waits.push(node.wait(slow));
    let killed = node.shutdown(Duration::from_secs(5)).await;
    assert_eq!(killed, 0);
    for w in waits {
        assert_eq!(w.await, Some(ExitReason::Shutdown));
    }
    assert_eq!(node.live(), 0);
    assert_eq!(
        node.spawn(SpawnOptions::new(), park).err(),
        Some(Error::Limit)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stubborn_processes_are_killed_at_the_deadline() {
    let node = node();
    let stubborn = node
        .spawn(SpawnOptions::new().trap_exit(true), |ctx| async move {
            loop {
                let _ = ctx.receive_any().await; // ignores the shutdown request
            }
        })
        .unwrap();
    let w = node.wait(stubborn);
    let t0 = std::time::Instant::now();
    let killed = node.shutdown(Duration::from_millis(100)).await;
    assert_eq!(killed, 1);
    assert!(t0.elapsed() < Duration::from_secs(2));
    assert_eq!(w.await, Some(ExitReason::Killed));
}
