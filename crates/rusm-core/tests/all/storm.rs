//! A million processes come and go; afterwards the node holds nothing.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use rusm_core::{Pid, SpawnOptions};

use crate::{eventually, node};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_million_processes_leave_every_table_empty() {
    let node = node();
    let done = Arc::new(AtomicU64::new(0));
    let anchor = node.spawn(SpawnOptions::new(), crate::park).unwrap();
    const TOTAL: u64 = 1_000_000;
    const WAVE: u64 = 10_000;
    for wave in 0..TOTAL / WAVE {
        for i in 0..WAVE {
            let done = done.clone();
            // Every tenth one uses a name, a link, a monitor and a message,
            // so each table is exercised, not just the process table.
            let busy = i % 10 == 0;
            node.spawn(SpawnOptions::new(), move |ctx| async move {
                if busy {
                    ctx.register(&format!("p{wave}-{i}")).unwrap();
                    ctx.link(anchor).unwrap();
                    ctx.monitor(anchor).unwrap();
                    ctx.send(ctx.pid(), 0, vec![0; 16]).unwrap();
                    let _ = ctx.receive_any().await;
                }
                done.fetch_add(1, Ordering::Relaxed);
            })
            .unwrap();
        }
        // Keep at most about one wave alive so the test measures churn.
        let target = (wave + 1) * WAVE;
        eventually(|| done.load(Ordering::Relaxed) >= target.saturating_sub(WAVE)).await;
    }
    eventually(|| done.load(Ordering::Relaxed) == TOTAL).await;
    eventually(|| node.live() == 1).await;
    let stats = node.stats();
    assert_eq!(stats.processes, 1);
    assert_eq!(stats.names, 0);
    assert_eq!(stats.links, 0);
    assert_eq!(stats.monitors, 0);
    assert_eq!(stats.timers, 0);
    assert!(
        stats.table_capacity < 64 * 512,
        "table kept {} slots",
        stats.table_capacity
    );
    assert!(node.info(anchor).unwrap().links.is_empty());
    node.kill(anchor).unwrap();
    eventually(|| node.live() == 0).await;
    assert_eq!(node.processes(), Vec::<Pid>::new());
}
