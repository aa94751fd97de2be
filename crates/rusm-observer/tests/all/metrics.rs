//! `/metrics` parses as the Prometheus text format (with an independent
//! parser, `prometheus-parse`), and its counters move as processes spawn
//! and crash.

use std::collections::HashMap;

use rusm_core::{ExitReason, Pid, ProcessState, SpawnOptions};

use crate::{get, observed};

/// Every sample of a scrape, by name and sorted labels.
fn scrape(text: &str) -> HashMap<String, f64> {
    let lines = text.lines().map(|l| Ok(l.to_owned()));
    let parsed = prometheus_parse::Scrape::parse(lines).expect("valid Prometheus text");
    let mut out = HashMap::new();
    for s in parsed.samples {
        let mut labels: Vec<String> = s.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        labels.sort();
        let value = match s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            // Each bucket by its bound, cumulative as the format has them.
            prometheus_parse::Value::Histogram(buckets) => {
                for b in buckets {
                    labels.push(format!("le={}", b.less_than));
                    labels.sort();
                    out.insert(
                        format!("{}_bucket{{{}}}", s.metric, labels.join(",")),
                        b.count,
                    );
                    labels.retain(|l| !l.starts_with("le="));
                }
                continue;
            }
            other => panic!("unexpected sample {other:?}"),
        };
        out.insert(format!("{}{{{}}}", s.metric, labels.join(",")), value);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_parse_and_counters_move_with_spawns_and_crashes() {
    let o = observed().await;
    let before = get(&o, "/metrics").await;
    assert_eq!(before.status, 200);
    assert!(before.body.ends_with("# EOF\n"), "{}", before.body);
    let m = scrape(&before.body);
    assert_eq!(m["rusm_spawns_total{}"], 0.0);
    for class in [
        "normal",
        "killed",
        "crashed",
        "failed_to_start",
        "linked",
        "shutdown",
    ] {
        assert_eq!(
            m[&format!("rusm_exits_total{{reason={class}}}")],
            0.0,
            "{class}"
        );
    }

    let mut parked = Vec::new();
    for _ in 0..4 {
        parked.push(
            o.node
                .spawn(SpawnOptions::new().name("worker"), |ctx| async move {
                    ctx.receive(&[1], None).await.ok();
                })
                .unwrap(),
        );
    }
    for _ in 0..3 {
        let (_, exit) = o
            .node
            .spawn_watched(
                Pid::NODE,
                SpawnOptions::new().name("crasher"),
                |_ctx| async { Err::<(), _>("boom") },
            )
            .unwrap();
        assert!(matches!(exit.await, ExitReason::Crashed(_)));
    }
    o.node.send(Pid::NODE, parked[0], 9, vec![0; 10]).unwrap();
    o.node.send(Pid::NODE, parked[0], 9, vec![0; 10]).unwrap();
    // A worker is `waiting` once it has parked in its receive, which a
    // loaded machine may not have let it do yet.
    crate::eventually("every worker parked", async || {
        parked.iter().all(|&p| {
            o.node
                .info(p)
                .is_some_and(|i| i.state == ProcessState::Waiting)
        })
    })
    .await;

    let m = scrape(&get(&o, "/metrics").await.body);
    assert_eq!(m["rusm_spawns_total{}"], 7.0);
    assert_eq!(m["rusm_exits_total{reason=crashed}"], 3.0);
    assert_eq!(m["rusm_exits_total{reason=normal}"], 0.0);
    assert_eq!(m["rusm_processes{component=worker,state=waiting}"], 4.0);
    assert_eq!(m["rusm_processes_by_profile{profile=host}"], 4.0);
    assert_eq!(m["rusm_mailbox_messages{}"], 2.0);
    assert_eq!(m["rusm_mailbox_max_messages{}"], 2.0);
    assert!(
        !m.keys().any(|k| k.contains("crasher")),
        "no gauge for processes that are gone"
    );

    // Normal exits (derived from the spawn and live counts, not counted
    // one by one) show once the processes are gone, and never go back.
    for _ in 0..5 {
        let (_, exit) = o
            .node
            .spawn_watched(Pid::NODE, SpawnOptions::new(), |_ctx| async {})
            .unwrap();
        assert_eq!(exit.await, ExitReason::Normal);
    }
    crate::eventually("five normal exits in /metrics", async || {
        let m = scrape(&get(&o, "/metrics").await.body);
        assert!(m["rusm_exits_total{reason=normal}"] <= 5.0, "{m:?}");
        m["rusm_exits_total{reason=normal}"] == 5.0 && m["rusm_spawns_total{}"] == 12.0
    })
    .await;
    o.node.kill(parked[1]).unwrap();
    crate::eventually("a kill in /metrics", async || {
        let m = scrape(&get(&o, "/metrics").await.body);
        m["rusm_exits_total{reason=killed}"] == 1.0
    })
    .await;
    let m = scrape(&get(&o, "/metrics").await.body);
    assert_eq!(m["rusm_exits_total{reason=normal}"], 5.0);
    assert_eq!(m["rusm_exits_total{reason=crashed}"], 3.0);
}

/// With the node's store handed over, its commits and a histogram of the
/// time they took show in `/metrics`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_commits_and_their_time_are_in_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let kv = rusm_kv::Store::open(dir.path().join("s.redb")).unwrap();
    let hooks = rusm_observer::Hooks::new();
    let node = rusm_core::Node::new(rusm_core::NodeConfig::default());
    let mut config =
        rusm_observer::ObserverConfig::new("127.0.0.1:0".parse().unwrap(), crate::TOKEN.into());
    config.kv = Some(kv.clone());
    let observer = rusm_observer::start(node.clone(), hooks.clone(), config)
        .await
        .unwrap();
    let o = crate::Observed {
        node,
        hooks,
        observer,
    };
    let m = scrape(&get(&o, "/metrics").await.body);
    assert_eq!(m["rusm_kv_commits_total{}"], 0.0);
    for i in 0..3 {
        kv.set("b", &format!("k{i}"), vec![1]).await.unwrap();
    }
    let m = scrape(&get(&o, "/metrics").await.body);
    assert_eq!(m["rusm_kv_commits_total{}"], 3.0);
    assert_eq!(m["rusm_kv_writes_total{}"], 3.0);
    // A histogram: every commit in the +Inf bucket and the count, the
    // buckets cumulative, the sum the time they took.
    assert_eq!(m["rusm_kv_commit_seconds_count{}"], 3.0);
    assert!(m["rusm_kv_commit_seconds_sum{}"] > 0.0);
    assert_eq!(m["rusm_kv_commit_seconds_bucket{le=inf}"], 3.0);
    let bounds: Vec<f64> = rusm_kv::COMMIT_LATENCY_BOUNDS_MICROS
        .iter()
        .map(|&us| us as f64 / 1e6)
        .collect();
    // The store's own counts, one per commit in exactly one bucket, are
    // what the scrape shows, summed up bucket by bucket.
    let stats = kv.stats();
    assert_eq!(stats.commit_latency.iter().sum::<u64>(), 3);
    let mut cumulative = 0;
    for (i, b) in bounds.iter().enumerate() {
        cumulative += stats.commit_latency[i];
        assert_eq!(
            m[&format!("rusm_kv_commit_seconds_bucket{{le={b}}}")],
            cumulative as f64,
            "the bucket up to {b} s"
        );
    }
}
