//! `/metrics`: the node in the Prometheus text format, through the
//! Prometheus project's Rust client (`prometheus-client`).
//!
//! The registry is built afresh at each scrape from what the node and the
//! hooks hold then: gauges are read, counters are the hooks' running
//! totals. Every label set is bounded: components (named in the manifest,
//! at most [`MAX_COMPONENTS`] distinct, the rest as `other`), profiles,
//! the three states, the six exit classes, and HTTP routes (the
//! manifest's).

use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use rusm_core::Node;

use crate::hooks::{ExitClass, Hooks};
use crate::table;

/// Distinct component labels at most; past it, `other`.
pub(crate) const MAX_COMPONENTS: usize = 200;

type Labels = Vec<(&'static str, String)>;

fn counter(value: u64) -> Counter<u64, AtomicU64> {
    let c = Counter::<u64, AtomicU64>::default();
    c.inc_by(value);
    c
}

fn gauge(value: u64) -> Gauge<i64> {
    let g = Gauge::<i64>::default();
    g.set(i64::try_from(value).unwrap_or(i64::MAX));
    g
}

/// The store's commit latency histogram, as the store counted it (its
/// buckets are `rusm_kv::COMMIT_LATENCY_BOUNDS_MICROS`): encoded from
/// those counts, since a scrape's registry is built afresh and a
/// `prometheus_client` histogram can only be fed one observation at a
/// time.
#[derive(Debug)]
struct CommitLatency(rusm_kv::Stats);

impl EncodeMetric for CommitLatency {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        let stats = &self.0;
        // The last bucket is past every bound: `+Inf` (the encoder's
        // spelling of it is `f64::MAX`, as its own histograms use).
        let bounds = rusm_kv::COMMIT_LATENCY_BOUNDS_MICROS
            .iter()
            .map(|&micros| micros as f64 / 1e6)
            .chain(std::iter::once(f64::MAX));
        let buckets: Vec<(f64, u64)> = bounds.zip(stats.commit_latency).collect();
        let count = stats.commit_latency.iter().sum();
        encoder.encode_histogram::<NoLabelSet>(
            stats.commit_micros as f64 / 1e6,
            count,
            &buckets,
            None,
        )
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Histogram
    }
}

/// The text of one scrape.
pub(crate) fn render(node: &Node, hooks: &Hooks, kv: Option<&rusm_kv::Store>) -> String {
    let rows = table::rows(node, hooks);
    let mut registry = Registry::default();

    let mut by_component_state: BTreeMap<(String, &'static str), u64> = BTreeMap::new();
    let mut by_profile: BTreeMap<String, u64> = BTreeMap::new();
    let (mut mailbox, mut mailbox_max, mut memory, mut queued, mut sent, mut cpu_ms) = (
        0u64,
        0u64,
        0u64,
        0u64,
        hooks.retired_sent.get(),
        hooks.retired_cpu_ms.get(),
    );
    let mut components_seen: BTreeMap<String, ()> = BTreeMap::new();
    for r in &rows {
        let s = &r.summary;
        let mut component = r.component().to_owned();
        if !components_seen.contains_key(&component) {
            if components_seen.len() >= MAX_COMPONENTS {
                component = "other".to_owned();
            } else {
                components_seen.insert(component.clone(), ());
            }
        }
        *by_component_state
            .entry((component, s.state.as_str()))
            .or_default() += 1;
        *by_profile.entry(r.profile.to_string()).or_default() += 1;
        mailbox += u64::from(s.mailbox_len);
        mailbox_max = mailbox_max.max(u64::from(s.mailbox_len));
        memory += s.memory_bytes;
        queued += s.queued_bytes;
        sent = sent.wrapping_add(s.usage.messages_sent);
        cpu_ms = cpu_ms.wrapping_add(s.usage.cpu_ms);
    }

    let processes = Family::<Labels, Gauge<i64>>::default();
    for ((component, state), n) in by_component_state {
        processes
            .get_or_create(&vec![("component", component), ("state", state.to_owned())])
            .set(i64::try_from(n).unwrap_or(i64::MAX));
    }
    registry.register(
        "rusm_processes",
        "Live processes by component and state",
        processes,
    );

    let profiles = Family::<Labels, Gauge<i64>>::default();
    for (profile, n) in by_profile {
        profiles
            .get_or_create(&vec![("profile", profile)])
            .set(i64::try_from(n).unwrap_or(i64::MAX));
    }
    registry.register(
        "rusm_processes_by_profile",
        "Live processes by capability profile",
        profiles,
    );

    registry.register("rusm_spawns", "Processes spawned", counter(hooks.spawns()));
    let exits = Family::<Labels, Counter<u64, AtomicU64>>::default();
    for class in ExitClass::ALL {
        exits
            .get_or_create(&vec![("reason", class.as_str().to_owned())])
            .inc_by(hooks.exits(class));
    }
    registry.register("rusm_exits", "Processes ended, by exit-reason class", exits);

    registry.register(
        "rusm_mailbox_messages",
        "Messages queued in all mailboxes",
        gauge(mailbox),
    );
    registry.register(
        "rusm_mailbox_max_messages",
        "The deepest mailbox, in messages",
        gauge(mailbox_max),
    );
    registry.register(
        "rusm_memory_bytes",
        "Linear memory of all live processes",
        gauge(memory),
    );
    registry.register(
        "rusm_queued_bytes",
        "Bytes the node holds for live processes (queued messages, timers, names, links)",
        gauge(queued),
    );
    registry.register(
        "rusm_messages_sent",
        "Messages sent by processes",
        counter(sent),
    );
    registry.register(
        "rusm_cpu_milliseconds",
        "CPU time used by Wasm process bodies, counted in epoch ticks (native bodies report none)",
        counter(cpu_ms),
    );

    let requests = Family::<Labels, Counter<u64, AtomicU64>>::default();
    for (route, status, n) in hooks.requests() {
        requests
            .get_or_create(&vec![
                ("route", route.to_string()),
                ("status", status.to_string()),
            ])
            .inc_by(n);
    }
    registry.register(
        "rusm_http_requests",
        "HTTP requests served, by route and status",
        requests,
    );

    if let Some(nodes) = hooks.cluster_nodes() {
        registry.register(
            "rusm_cluster_nodes",
            "Reachable nodes of the cluster, this one included",
            gauge(nodes),
        );
    }
    if let Some(dropped) = hooks.cluster_dropped() {
        registry.register(
            "rusm_cluster_dropped_messages",
            "Messages from other nodes dropped on arrival (receiver gone, or over its limits)",
            counter(dropped),
        );
    }

    if let Some(kv) = kv {
        let stats = kv.stats();
        registry.register(
            "rusm_kv_commits",
            "Store transactions committed (each fsync'd)",
            counter(stats.commits),
        );
        registry.register(
            "rusm_kv_writes",
            "Store writes acknowledged by those commits",
            counter(stats.ops),
        );
        registry.register(
            "rusm_kv_failed_commits",
            "Store commits that failed",
            counter(stats.failed_commits),
        );
        registry.register(
            "rusm_kv_commit_seconds",
            "Time each successful store commit took, fsync included",
            CommitLatency(stats),
        );
    }

    let mut text = String::new();
    encode(&mut text, &registry).expect("writing to a String cannot fail");
    text
}
