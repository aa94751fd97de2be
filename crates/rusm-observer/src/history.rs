//! The charts' data: one sample per second of what happened in it, for the
//! last ten minutes.
//!
//! A task wakes each second, reads the counters the hooks keep and the
//! message counts of the live processes, and pushes the differences into a
//! ring. The page draws from the ring; the live updates (SSE) send the
//! newest sample with the totals.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;
use rusm_core::{Node, ProcessState};
use serde_json::{Value, json};

use crate::hooks::{ExitClass, Hooks};

/// Seconds kept.
const KEEP: usize = 600;

/// What one second saw.
#[derive(Clone, Debug, Default)]
pub(crate) struct Sample {
    /// Unix time at its end, in seconds.
    pub(crate) at: u64,
    pub(crate) spawns: u64,
    pub(crate) exits: [u64; 6],
    pub(crate) messages: u64,
    pub(crate) requests: u64,
    /// Live processes at its end, and how many in each state.
    pub(crate) live: u64,
    pub(crate) states: [u64; 3],
}

impl Sample {
    pub(crate) fn to_json(&self) -> Value {
        let exits: serde_json::Map<String, Value> = ExitClass::ALL
            .iter()
            .zip(self.exits)
            .map(|(c, n)| (c.as_str().to_owned(), json!(n)))
            .collect();
        let states: serde_json::Map<String, Value> = ProcessState::ALL
            .iter()
            .zip(self.states)
            .map(|(s, n)| (s.as_str().to_owned(), json!(n)))
            .collect();
        json!({
            "at": self.at,
            "spawns": self.spawns,
            "exits": exits,
            "messages": self.messages,
            "requests": self.requests,
            "live": self.live,
            "states": states,
        })
    }
}

/// Running totals, to take the next second's differences from.
#[derive(Default, Clone, Copy)]
struct Totals {
    spawns: u64,
    exits: [u64; 6],
    messages: u64,
    requests: u64,
}

/// The ring of samples.
#[derive(Default)]
pub(crate) struct History {
    samples: Mutex<VecDeque<Sample>>,
}

/// Messages sent by every process so far: those that ended, plus the live
/// ones' counts; and the live processes by state.
pub(crate) fn messages_and_states(node: &Node, hooks: &Hooks) -> (u64, u64, [u64; 3]) {
    let mut messages = hooks.retired_sent.get();
    let mut live = 0;
    let mut states = [0u64; 3];
    node.for_each_process(|p| {
        messages = messages.wrapping_add(p.usage.messages_sent);
        live += 1;
        let i = ProcessState::ALL
            .iter()
            .position(|s| *s == p.state)
            .expect("ALL lists every state");
        states[i] += 1;
    });
    (messages, live, states)
}

impl History {
    /// The newest sample, if a second has passed.
    pub(crate) fn latest(&self) -> Option<Sample> {
        self.samples.lock().back().cloned()
    }

    /// Every sample, oldest first.
    pub(crate) fn to_json(&self) -> Value {
        let samples = self.samples.lock();
        json!({
            "interval_seconds": 1,
            "samples": samples.iter().map(Sample::to_json).collect::<Vec<_>>(),
        })
    }

    /// Sample once a second until the node is gone.
    pub(crate) async fn run(self: Arc<Self>, node: Node, hooks: Arc<Hooks>) {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last = None::<Totals>;
        loop {
            tick.tick().await;
            let (messages, live, states) = messages_and_states(&node, &hooks);
            let now = Totals {
                spawns: hooks.spawns(),
                exits: ExitClass::ALL.map(|c| hooks.exits(c)),
                messages,
                requests: hooks.requests_total(),
            };
            if let Some(before) = last {
                let at = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs());
                let mut exits = [0; 6];
                for (i, e) in exits.iter_mut().enumerate() {
                    *e = now.exits[i].saturating_sub(before.exits[i]);
                }
                let sample = Sample {
                    at,
                    spawns: now.spawns.saturating_sub(before.spawns),
                    exits,
                    messages: now.messages.saturating_sub(before.messages),
                    requests: now.requests.saturating_sub(before.requests),
                    live,
                    states,
                };
                let mut samples = self.samples.lock();
                if samples.len() == KEEP {
                    samples.pop_front();
                }
                samples.push_back(sample);
            }
            last = Some(now);
        }
    }
}
