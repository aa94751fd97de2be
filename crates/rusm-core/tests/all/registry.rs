use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use rusm_core::{Error, SpawnOptions};

use crate::{eventually, node, park, reason};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_are_unique_and_released_on_exit() {
    let node = node();
    let a = node.spawn(SpawnOptions::new(), park).unwrap();
    let b = node.spawn(SpawnOptions::new(), park).unwrap();
    node.register("svc", a).unwrap();
    assert_eq!(node.register("svc", b), Err(Error::Exists));
    assert_eq!(node.register("", b), Err(Error::Invalid));
    assert_eq!(node.whereis("svc"), Some(a));
    node.kill(a).unwrap();
    reason(&node, a).await;
    assert_eq!(node.whereis("svc"), None);
    node.register("svc", b).unwrap();
    node.unregister("svc").unwrap();
    assert_eq!(node.unregister("svc"), Err(Error::NotFound));
    assert!(node.info(b).unwrap().names.is_empty());
}

/// Many processes race for one name: exactly one wins each name, and no
/// name outlives its holder.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_race() {
    let node = node();
    let winners = Arc::new(AtomicUsize::new(0));
    let tried = Arc::new(AtomicUsize::new(0));
    let mut pids = Vec::new();
    for round in 0..50 {
        for _ in 0..20 {
            let (winners, tried) = (winners.clone(), tried.clone());
            pids.push(
                node.spawn(SpawnOptions::new(), move |ctx| async move {
                    if ctx.register(&format!("name{round}")).is_ok() {
                        winners.fetch_add(1, Ordering::SeqCst);
                    }
                    tried.fetch_add(1, Ordering::SeqCst);
                    ctx.receive(&[1], None).await.unwrap();
                })
                .unwrap(),
            );
        }
    }
    eventually(|| tried.load(Ordering::SeqCst) == 1000).await;
    assert_eq!(winners.load(Ordering::SeqCst), 50);
    assert_eq!(node.stats().names, 50);
    for &pid in &pids {
        node.send(rusm_core::Pid::NODE, pid, 1, vec![]).unwrap();
    }
    for pid in pids {
        reason(&node, pid).await;
    }
    eventually(|| node.stats().names == 0).await;
}
