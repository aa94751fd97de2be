//! Per-process accounting: message counts, CPU time as a backend reports
//! it, states, and the final figures handed to the lifecycle hook.

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
async fn cpu_time_is_what_the_backend_reports_and_is_retired_with_the_rest() {
    let retired = Arc::new(Retired::default());
    let node = accounting_node(retired.clone());
    let (tx, rx) = tokio::sync::oneshot::channel();
    let (pid, exit) = node
        .spawn_watched(Pid::NODE, SpawnOptions::new(), |ctx| async move {
            // The core times nothing itself: a body that spins reports
            // nothing until its backend tells the total.
            let until = Instant::now() + Duration::from_millis(20);
            while Instant::now() < until {
                std::hint::spin_loop();
            }
            let _ = tx.send(());
            ctx.receive(&[1], None).await.ok();
            ctx.set_cpu_time(Duration::from_micros(42_900));
            ctx.receive(&[2], None).await.ok();
        })
        .unwrap();
    rx.await.unwrap();
    assert_eq!(node.info(pid).unwrap().usage.cpu_ms, 0);
    node.send(Pid::NODE, pid, 1, Vec::new()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while node.info(pid).unwrap().usage.cpu_ms != 42 {
        assert!(
            Instant::now() < deadline,
            "the reported CPU time never showed"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    node.send(Pid::NODE, pid, 2, Vec::new()).unwrap();
    assert_eq!(exit.await, ExitReason::Normal);
    let got = retired.0.lock().unwrap().clone();
    assert_eq!(got.len(), 1);
    assert_eq!((got[0].0, got[0].1.cpu_ms), (pid, 42));
}

#[tokio::test]
async fn without_accounting_nothing_is_retired_but_counts_are_kept() {
    let retired = Arc::new(Retired::default());
    let node = Node::new(NodeConfig {
        lifecycle: Some(retired.clone()),
        ..NodeConfig::default()
    });
    let sink = node
        .spawn(SpawnOptions::new(), |ctx| async move {
            ctx.receive_any().await;
            ctx.set_cpu_time(Duration::from_millis(7));
            ctx.receive(&[99], None).await.ok();
        })
        .unwrap();
    node.send(Pid::NODE, sink, 1, Vec::new()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let u = node.info(sink).unwrap().usage;
        if u.messages_received == 1 && u.cpu_ms == 7 {
            break;
        }
        assert!(Instant::now() < deadline, "counts never showed: {u:?}");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    assert!(!node.accounting());
    node.kill(sink).unwrap();
    assert_eq!(node.wait(sink).await, Some(ExitReason::Killed));
    assert!(retired.0.lock().unwrap().is_empty());
}
