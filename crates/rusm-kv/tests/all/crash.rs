//! The durability promise, tested the only honest way: a child process
//! writes and reports each acknowledged write, is killed with SIGKILL at a
//! random moment, and the store it leaves behind must hold every write it
//! acknowledged. Repeated over many rounds on the same file, so each round
//! also starts from a file repaired after the previous kill.

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime};

use rusm_kv::Store;

use crate::child::{
    COUNTER_BUCKET, COUNTER_KEY, CRASH_TASKS, ChildProcess, DATA_BUCKET, crash_value,
    decode_counter,
};

const ROUNDS: u64 = 20;

/// What the acknowledgements say about one key.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Promise {
    /// Set and acknowledged; no delete of it was started.
    Present,
    /// Set; a delete was started but not acknowledged: either is fine.
    MaybeDeleted,
    /// The delete was acknowledged.
    Deleted,
}

/// xorshift64*, so the test needs no dependency; the seed is printed on
/// failure and can be replayed with `RUSM_KV_CRASH_SEED`.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_sigkill() {
    let seed = std::env::var("RUSM_KV_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .expect("clock after 1970")
                .as_nanos() as u64
                | 1
        });
    let mut rng = Rng(seed);
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("crash/store.redb");
    let started = Instant::now();

    let mut promises: HashMap<String, Promise> = HashMap::new();
    let mut counter_floor = 0u64; // the counter can never go below this
    let mut acked_total = 0usize;

    for round in 0..ROUNDS {
        let mut child = ChildProcess::start("crash-writer", &path, round);
        // Kill anywhere from "before the first commit" to well into the run.
        let delay = Duration::from_millis(rng.below(300));
        tokio::time::sleep(delay).await;
        child.sigkill();

        // The child is dead: whatever it printed is all it ever acknowledged.
        let mut acked_counter = counter_floor;
        for line in child.remaining_lines() {
            if let Some(key) = line.strip_prefix("set ") {
                acked_total += 1;
                let old = promises.insert(key.to_owned(), Promise::Present);
                assert_eq!(old, None, "seed {seed}: {key} set twice");
            } else if let Some(key) = line.strip_prefix("del? ") {
                promises.insert(key.to_owned(), Promise::MaybeDeleted);
            } else if let Some(key) = line.strip_prefix("del ") {
                promises.insert(key.to_owned(), Promise::Deleted);
            } else if let Some(n) = line.strip_prefix("cnt ") {
                let n: u64 = n.parse().expect("a counter value");
                acked_counter = acked_counter.max(n);
            }
        }

        let store = match Store::open(&path) {
            Ok(store) => store,
            Err(err) => panic!(
                "seed {seed}, round {round}: reopening after SIGKILL failed: {err:?}\nchild stderr:\n{}",
                child.stderr()
            ),
        };
        for (key, promise) in &promises {
            let value = store.get(DATA_BUCKET, key).await.expect("get");
            match promise {
                Promise::Present => assert!(
                    value.as_deref() == Some(expected_value(key).as_slice()),
                    "seed {seed}, round {round}: acknowledged set of {key} lost or torn \
                     (found {:?} bytes)",
                    value.map(|v| v.len())
                ),
                Promise::Deleted => assert!(
                    value.is_none(),
                    "seed {seed}, round {round}: acknowledged delete of {key} undone"
                ),
                Promise::MaybeDeleted => {}
            }
        }
        // Writes that were in flight may have landed; if so, whole.
        for key in store.keys(DATA_BUCKET, "").await.expect("keys") {
            let value = store.get(DATA_BUCKET, &key).await.expect("get");
            assert!(
                value.as_deref() == Some(expected_value(&key).as_slice()),
                "seed {seed}, round {round}: {key} holds a value no one wrote"
            );
        }
        // Each task has at most one CAS in flight when it dies.
        let counter = store
            .get(COUNTER_BUCKET, COUNTER_KEY)
            .await
            .expect("get")
            .map_or(0, |v| decode_counter(&v));
        assert!(
            (acked_counter..=acked_counter + CRASH_TASKS).contains(&counter),
            "seed {seed}, round {round}: counter {counter}, acknowledged up to {acked_counter}"
        );
        counter_floor = counter;
        drop(store); // the next child needs the file
    }

    let elapsed = started.elapsed();
    eprintln!(
        "crash test: seed {seed}, {ROUNDS} rounds, {acked_total} acknowledged sets checked, {} keys tracked, {elapsed:?}",
        promises.len()
    );
    assert!(
        acked_total >= 100,
        "seed {seed}: only {acked_total} acknowledged sets in {ROUNDS} rounds; the test did not exercise much"
    );
}

/// Recomputes what the writer stored under `key` (`r<round>/t<task>/<i>`).
fn expected_value(key: &str) -> Vec<u8> {
    let i: u64 = key
        .rsplit('/')
        .next()
        .and_then(|i| i.parse().ok())
        .unwrap_or_else(|| panic!("{key} is not a crash-writer key"));
    crash_value(key, i)
}
