//! Per-process accounting: message counts, sampled CPU time, states, and
//! the final figures handed to the lifecycle hook.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rusm_core::{ExitReason, Lifecycle, Node, NodeConfig, Pid, ProcessState, SpawnOptions, Usage};

#[derive(Default)]
struct Retired(Mutex<Vec<(Pid, Usage)>>);

impl Lifecycle for Retired {
    fn retired(&self, pid: Pid, usage: &Usage) {
        self.0.lock().unwrap().push((pid, *usage));
    }
}

fn accounting_node(retired: Arc<Retired>) -> Node {
    Node::new(NodeConfig {
        lifecycle: Some(retired),
        accounting: true,
        ..NodeConfig::default()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_are_counted_on_both_ends_and_retired_at_exit() {
    let retired = Arc::new(Retired::default());
    let node = accounting_node(retired.clone());
    let sink = node
        .spawn(SpawnOptions::new(), |ctx| async move {
            for _ in 0..5 {
                ctx.receive_any().await;
            }
            // Parked: seen as waiting from outside.
            ctx.receive(&[99], None).await.ok();
        })
        .unwrap();
    let source = node
        .spawn(SpawnOptions::new(), move |ctx| async move {
            for i in 0..7 {
                ctx.send(sink, i, vec![1, 2, 3]).unwrap();
            }
            ctx.receive(&[42], None).await.ok();
        })
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let s = node.info(source).unwrap();
        let k = node.info(sink).unwrap();
        if s.usage.messages_sent == 7 && k.usage.messages_received == 5 && k.mailbox_len == 2 {
            assert_eq!(k.usage.messages_sent, 0);
            assert_eq!(k.state, ProcessState::Waiting);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "counts never reached 7/5: {s:?} {k:?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut seen = Vec::new();
    node.for_each_process(|p| seen.push((p.pid, p.usage.messages_sent, p.mailbox_len)));
    seen.sort();
    assert_eq!(seen, vec![(sink, 0, 2), (source, 7, 0)]);

    node.kill(source).unwrap();
    let done = node.wait(source).await;
    assert_eq!(done, Some(ExitReason::Killed));
    let got = retired.0.lock().unwrap().clone();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].0, source);
    assert_eq!(got[0].1.messages_sent, 7);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cpu_time_is_sampled_for_a_busy_body_and_not_for_an_idle_one() {
    let node = accounting_node(Arc::new(Retired::default()));
    let busy = node
        .spawn(SpawnOptions::new(), |_ctx| async move {
            // Spin for 300 ms in slices of 5 ms, yielding between them.
            let until = Instant::now() + Duration::from_millis(300);
            while Instant::now() < until {
                let slice = Instant::now() + Duration::from_millis(5);
                while Instant::now() < slice {
                    std::hint::spin_loop();
                }
                tokio::task::yield_now().await;
            }
            std::future::pending::<()>().await;
        })
        .unwrap();
    let idle = node
        .spawn(SpawnOptions::new(), |_ctx| async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            std::future::pending::<()>().await;
        })
        .unwrap();
    tokio::time::sleep(Duration::from_millis(450)).await;
    let busy_ms = node.info(busy).unwrap().usage.cpu_ms;
    let idle_ms = node.info(idle).unwrap().usage.cpu_ms;
    // A shared machine may take the CPU away from the spinner; what it
    // spun is still at least half of 300 ms, and at most the wall time.
    assert!((150..=450).contains(&busy_ms), "busy body: {busy_ms} ms");
    assert!(idle_ms <= 5, "idle body: {idle_ms} ms");
}

#[tokio::test]
async fn without_accounting_cpu_time_stays_zero() {
    let node = Node::new(NodeConfig::default());
    let busy = node
        .spawn(SpawnOptions::new(), |_ctx| async move {
            let until = Instant::now() + Duration::from_millis(30);
            while Instant::now() < until {
                std::hint::spin_loop();
            }
            std::future::pending::<()>().await;
        })
        .unwrap();
    tokio::time::sleep(Duration::from_millis(60)).await;
    assert!(!node.accounting());
    assert_eq!(node.info(busy).unwrap().usage.cpu_ms, 0);
}
