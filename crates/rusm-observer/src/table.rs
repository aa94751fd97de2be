//! The process table as the views see it: every live process read once,
//! filtered, sorted and cut into one page on the server, with the counts
//! the page shows beside it (by profile, by state, by component).
//!
//! A node may hold 100,000 processes; a view gets one page of them. A walk
//! reads each process under its own lock, one at a time, and allocates one
//! row per process: a few milliseconds for 100,000, done when asked.

use std::collections::BTreeMap;
use std::sync::Arc;

use rusm_core::{Node, Pid, ProcessState, ProcessSummary};
use serde_json::{Value, json};

use crate::hooks::Hooks;

/// What processes without recorded grants (native ones: the supervisor,
/// host code) show as their profile.
pub(crate) const HOST_PROFILE: &str = "host";

/// The most rows one page holds.
pub(crate) const MAX_PAGE: usize = 500;

/// One process, as the table shows it.
pub(crate) struct Row {
    pub(crate) summary: ProcessSummary,
    pub(crate) profile: Arc<str>,
}

impl Row {
    pub(crate) fn component(&self) -> &str {
        self.summary.name.as_deref().unwrap_or("")
    }

    pub(crate) fn to_json(&self) -> Value {
        let s = &self.summary;
        json!({
            "pid": s.pid.get(),
            "parent": s.parent.get(),
            "component": s.name.as_deref(),
            "profile": &*self.profile,
            "state": s.state.as_str(),
            "mailbox_len": s.mailbox_len,
            "memory_bytes": s.memory_bytes,
            "queued_bytes": s.queued_bytes,
            "cpu_ms": s.usage.cpu_ms,
            "messages_sent": s.usage.messages_sent,
            "messages_received": s.usage.messages_received,
            "links": s.links,
        })
    }
}

/// Every live process, with its profile.
pub(crate) fn rows(node: &Node, hooks: &Hooks) -> Vec<Row> {
    let host: Arc<str> = HOST_PROFILE.into();
    // Profiles are few: share one `Arc<str>` per name instead of one
    // string per row.
    let mut profiles: BTreeMap<String, Arc<str>> = BTreeMap::new();
    let mut rows = Vec::with_capacity(node.live() as usize);
    node.for_each_process(|summary| {
        let profile = match hooks.grants(summary.pid) {
            Some(caps) => match profiles.get(caps.profile.as_str()) {
                Some(p) => p.clone(),
                None => {
                    let p: Arc<str> = caps.profile.as_str().into();
                    profiles.insert(caps.profile.clone(), p.clone());
                    p
                }
            },
            None => host.clone(),
        };
        rows.push(Row {
            summary: summary.clone(),
            profile,
        });
    });
    rows
}

/// What the table is asked for (`/api/processes`'s query).
#[derive(Debug, Default)]
pub(crate) struct Query {
    pub(crate) component: Option<String>,
    pub(crate) profile: Option<String>,
    pub(crate) state: Option<String>,
    pub(crate) parent: Option<u64>,
    pub(crate) sort: Sort,
    pub(crate) descending: bool,
    pub(crate) offset: usize,
    pub(crate) limit: usize,
}

/// The column a page is sorted by.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sort {
    #[default]
    Pid,
    Component,
    Profile,
    State,
    Mailbox,
    Memory,
    Cpu,
    Messages,
}

impl Sort {
    pub(crate) fn parse(s: &str) -> Option<Sort> {
        Some(match s {
            "pid" => Sort::Pid,
            "component" => Sort::Component,
            "profile" => Sort::Profile,
            "state" => Sort::State,
            "mailbox" | "mailbox_len" => Sort::Mailbox,
            "memory" | "memory_bytes" => Sort::Memory,
            "cpu" | "cpu_ms" => Sort::Cpu,
            "messages" => Sort::Messages,
            _ => return None,
        })
    }
}

impl Query {
    /// Read a query string (`component=api&sort=cpu&order=desc&offset=50`).
    /// Unknown keys are ignored; a bad value is an error naming the key.
    pub(crate) fn parse(query: Option<&str>) -> Result<Query, String> {
        let mut q = Query {
            limit: 50,
            ..Query::default()
        };
        for (key, value) in crate::api::pairs(query.unwrap_or("")) {
            let nonempty = (!value.is_empty()).then(|| value.clone());
            match key.as_str() {
                "component" => q.component = nonempty,
                "profile" => q.profile = nonempty,
                "state" => q.state = nonempty,
                "parent" if !value.is_empty() => {
                    q.parent = Some(value.parse().map_err(|_| "`parent` must be a pid")?)
                }
                "sort" => q.sort = Sort::parse(&value).ok_or("unknown `sort` column")?,
                "order" => q.descending = value == "desc",
                "offset" => q.offset = value.parse().map_err(|_| "`offset` must be a number")?,
                "limit" => {
                    q.limit = value
                        .parse::<usize>()
                        .map_err(|_| "`limit` must be a number")?
                        .min(MAX_PAGE)
                }
                _ => {}
            }
        }
        Ok(q)
    }

    fn keeps(&self, row: &Row) -> bool {
        self.component
            .as_deref()
            .is_none_or(|c| row.component() == c)
            && self.profile.as_deref().is_none_or(|p| &*row.profile == p)
            && self
                .state
                .as_deref()
                .is_none_or(|s| row.summary.state.as_str() == s)
            && self.parent.is_none_or(|p| row.summary.parent.get() == p)
    }
}

fn compare(sort: Sort, a: &Row, b: &Row) -> std::cmp::Ordering {
    let (x, y) = (&a.summary, &b.summary);
    let by = match sort {
        Sort::Pid => x.pid.cmp(&y.pid),
        Sort::Component => a.component().cmp(b.component()),
        Sort::Profile => a.profile.cmp(&b.profile),
        Sort::State => x.state.as_str().cmp(y.state.as_str()),
        Sort::Mailbox => x.mailbox_len.cmp(&y.mailbox_len),
        Sort::Memory => (x.memory_bytes + x.queued_bytes).cmp(&(y.memory_bytes + y.queued_bytes)),
        Sort::Cpu => x.usage.cpu_ms.cmp(&y.usage.cpu_ms),
        Sort::Messages => (x.usage.messages_sent + x.usage.messages_received)
            .cmp(&(y.usage.messages_sent + y.usage.messages_received)),
    };
    // Ties in pid order, so that a page is stable from one refresh to the next.
    by.then(x.pid.cmp(&y.pid))
}

/// One page of the table, with the counts over every live process.
pub(crate) fn page(node: &Node, hooks: &Hooks, q: &Query) -> Value {
    let rows = rows(node, hooks);
    let total = rows.len();
    let mut by_profile: BTreeMap<&str, u64> = BTreeMap::new();
    let mut by_state: BTreeMap<&str, u64> =
        ProcessState::ALL.iter().map(|s| (s.as_str(), 0)).collect();
    let mut by_component: BTreeMap<&str, u64> = BTreeMap::new();
    for r in &rows {
        *by_profile.entry(&r.profile).or_default() += 1;
        *by_state.entry(r.summary.state.as_str()).or_default() += 1;
        *by_component.entry(r.component()).or_default() += 1;
    }
    let mut kept: Vec<&Row> = rows.iter().filter(|r| q.keeps(r)).collect();
    let matched = kept.len();
    let end = q.offset.saturating_add(q.limit).min(matched);
    let start = q.offset.min(end);
    // Only the page needs ordering: select it, then sort just those rows.
    let order = |a: &&Row, b: &&Row| {
        let o = compare(q.sort, a, b);
        if q.descending { o.reverse() } else { o }
    };
    if end < matched && end > 0 {
        kept.select_nth_unstable_by(end - 1, order);
        kept.truncate(end);
    }
    kept.sort_unstable_by(order);
    let page: Vec<Value> = kept[start..end.min(kept.len())]
        .iter()
        .map(|r| r.to_json())
        .collect();
    let mut components: Vec<(&str, u64)> = by_component.into_iter().collect();
    components.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    components.truncate(100);
    json!({
        "total": total,
        "matched": matched,
        "offset": start,
        "limit": q.limit,
        "rows": page,
        "by_profile": by_profile,
        "by_state": by_state,
        "components": components
            .iter()
            .map(|(c, n)| json!({"component": c, "count": n}))
            .collect::<Vec<_>>(),
    })
}

/// The children of `parent` in the supervision tree (who spawned whom),
/// at most `limit` of them, each with how many children it has in turn.
pub(crate) fn children(node: &Node, hooks: &Hooks, parent: Pid, limit: usize) -> Value {
    let rows = rows(node, hooks);
    let mut counts: rustc_hash::FxHashMap<u64, u64> = rustc_hash::FxHashMap::default();
    for r in &rows {
        *counts.entry(r.summary.parent.get()).or_default() += 1;
    }
    // A process whose spawner has ended hangs off the root, not nowhere.
    let alive: rustc_hash::FxHashSet<u64> = rows.iter().map(|r| r.summary.pid.get()).collect();
    let under = |r: &Row| {
        r.summary.parent == parent
            || (parent == Pid::NODE && !alive.contains(&r.summary.parent.get()))
    };
    let mut kids: Vec<&Row> = rows.iter().filter(|r| under(r)).collect();
    kids.sort_unstable_by_key(|r| r.summary.pid);
    let total = kids.len();
    let listed: Vec<Value> = kids
        .iter()
        .take(limit)
        .map(|r| {
            let mut v = r.to_json();
            v["children"] = json!(counts.get(&r.summary.pid.get()).copied().unwrap_or(0));
            v
        })
        .collect();
    json!({ "parent": parent.get(), "total": total, "children": listed })
}
