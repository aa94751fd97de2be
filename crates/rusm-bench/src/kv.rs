//! The store under write load: durable writes per second through `rusm-kv`
//! from 1, 16, 256... concurrent writer tasks, beside the baseline measured
//! in the same run: raw redb, one write transaction and one commit per key.
//!
//! Every write counted here is durable (fsync'd) before it is counted, in
//! both columns, so the ratio is what group commit buys: one fsync shared by
//! every write waiting for it instead of one fsync each. The baseline has one
//! writer because redb runs one write transaction at a time; more threads
//! would only queue on its lock.
//!
//! Also here: the cost of a read on the caller's thread versus through
//! `spawn_blocking`, the measurement behind `rusm-kv`'s choice to read
//! directly (see its crate docs, "Reads").

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use rusm_kv::Store;

/// The value every benchmark write stores: small, so the figures measure
/// commits, not bandwidth.
const VALUE_LEN: usize = 100;

/// Which store a row measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KvStormStore {
    /// Raw redb, one write transaction + commit per key (the baseline).
    RawRedb,
    /// `rusm_kv::Store::set`, group-committed.
    RusmKv,
}

/// One measured point.
#[derive(Debug, Clone)]
pub(crate) struct KvStormRow {
    pub(crate) store: KvStormStore,
    /// The keys written (the baseline always writes them in sequence).
    pub(crate) keys: KeyOrder,
    /// Concurrent writers (tasks for rusm-kv, 1 thread for the baseline).
    pub(crate) writers: usize,
    /// Durable writes completed.
    pub(crate) writes: u64,
    /// Commits (fsyncs) that carried them.
    pub(crate) commits: u64,
    /// From the first write to the last acknowledgement.
    pub(crate) elapsed: Duration,
    pub(crate) writes_per_sec: f64,
    /// `writes_per_sec` over the baseline's, from the same run.
    pub(crate) vs_baseline: f64,
}

impl KvStormRow {
    pub(crate) fn label(&self) -> &'static str {
        match self.store {
            KvStormStore::RawRedb => "raw redb, 1 commit per key",
            KvStormStore::RusmKv => "rusm-kv group commit",
        }
    }

    pub(crate) fn writes_per_commit(&self) -> f64 {
        self.writes as f64 / self.commits.max(1) as f64
    }
}

/// Which keys the writers write, which decides how many B-tree pages each
/// commit rewrites.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyOrder {
    /// One sequence shared by all writers, as the baseline writes them: a
    /// batch's keys are neighbours, so a commit rewrites a few leaf pages.
    /// Same keys in the same order in both columns: only the commit
    /// strategy differs.
    Sequential,
    /// Each writer appends under its own prefix (`w007/...`): a batch of N
    /// writers touches about N leaf pages, so each commit writes N × 4 KiB
    /// and group commit gains less (the pages, not the fsync, become the
    /// cost).
    PerWriter,
}

/// Measures durable writes/second for each count in `writers` (each on a
/// fresh store in a temp dir) for about `duration` each, and the raw-redb
/// baseline on another fresh file. The baseline is the first row. Keys are
/// `keys`.
///
/// Needs a tokio runtime; a multi-threaded one lets the writer tasks queue
/// while a commit runs, as they would in a node.
pub(crate) async fn kv_storm_with(
    writers: &[usize],
    duration: Duration,
    keys: KeyOrder,
) -> anyhow::Result<Vec<KvStormRow>> {
    let baseline = tokio::task::spawn_blocking(move || raw_redb_baseline(duration))
        .await
        .context("the raw redb baseline panicked")??;
    let base_rate = baseline.writes_per_sec;
    let mut rows = vec![baseline];
    for &count in writers {
        let mut row = rusm_kv_point(count, duration, keys).await?;
        row.vs_baseline = row.writes_per_sec / base_rate;
        rows.push(row);
    }
    Ok(rows)
}

/// The n-th key of a run: zero-padded, so keys sort in the order written.
fn bench_key(n: u64) -> String {
    format!("{n:012}")
}

fn raw_redb_baseline(duration: Duration) -> anyhow::Result<KvStormRow> {
    const TABLE: redb::TableDefinition<&str, &[u8]> = redb::TableDefinition::new("bench");
    let dir = tempfile::tempdir().context("create a temp dir for the baseline")?;
    let db = redb::Database::create(dir.path().join("baseline.redb"))
        .context("create the baseline redb file")?;
    let value = vec![0xA5; VALUE_LEN];
    let started = Instant::now();
    let mut writes = 0u64;
    while started.elapsed() < duration {
        let key = bench_key(writes);
        let txn = db.begin_write()?;
        txn.open_table(TABLE)?
            .insert(key.as_str(), value.as_slice())?;
        txn.commit()?; // default durability: fsync'd before it returns
        writes += 1;
    }
    let elapsed = started.elapsed();
    Ok(KvStormRow {
        store: KvStormStore::RawRedb,
        keys: KeyOrder::Sequential,
        writers: 1,
        writes,
        commits: writes,
        elapsed,
        writes_per_sec: writes as f64 / elapsed.as_secs_f64(),
        vs_baseline: 1.0,
    })
}

async fn rusm_kv_point(
    writers: usize,
    duration: Duration,
    keys: KeyOrder,
) -> anyhow::Result<KvStormRow> {
    let dir = tempfile::tempdir().context("create a temp dir for the store")?;
    let store = Store::open(dir.path().join("store.redb"))?;
    // Keys are drawn from one sequence shared by all writers, so the store
    // sees the same keys in the same order as the baseline: only the commit
    // strategy differs between the columns.
    let next_key = Arc::new(AtomicU64::new(0));
    let writes = Arc::new(AtomicU64::new(0));
    let start = Arc::new(tokio::sync::Barrier::new(writers + 1));
    let mut tasks = Vec::with_capacity(writers);
    for w in 0..writers {
        let (store, next_key, writes, start) = (
            store.clone(),
            Arc::clone(&next_key),
            Arc::clone(&writes),
            Arc::clone(&start),
        );
        tasks.push(tokio::spawn(async move {
            let value = vec![0xA5; VALUE_LEN];
            start.wait().await;
            let deadline = Instant::now() + duration;
            let mut i = 0u64;
            while Instant::now() < deadline {
                let key = match keys {
                    KeyOrder::Sequential => bench_key(next_key.fetch_add(1, Ordering::Relaxed)),
                    KeyOrder::PerWriter => format!("w{w:03}/{}", bench_key(i)),
                };
                i += 1;
                store.set("bench", &key, value.clone()).await?;
                writes.fetch_add(1, Ordering::Relaxed);
            }
            anyhow::Ok(())
        }));
    }
    start.wait().await;
    let started = Instant::now();
    for task in tasks {
        task.await.context("a writer task panicked")??;
    }
    let elapsed = started.elapsed();
    let writes = writes.load(Ordering::Relaxed);
    let stats = store.stats();
    anyhow::ensure!(
        stats.ops == writes,
        "the store counted {} writes, the tasks {writes}",
        stats.ops
    );
    Ok(KvStormRow {
        store: KvStormStore::RusmKv,
        keys,
        writers,
        writes,
        commits: stats.commits,
        elapsed,
        writes_per_sec: writes as f64 / elapsed.as_secs_f64(),
        vs_baseline: f64::NAN, // filled in by kv_storm_with
    })
}

/// The cost of one `get` of a cached 100-byte value, run on the caller's
/// thread (as `rusm-kv` does) and handed to `spawn_blocking` (the
/// alternative), each from `tasks` concurrent tasks for about `duration`.
#[derive(Debug, Clone)]
pub(crate) struct KvReadRow {
    pub(crate) tasks: usize,
    pub(crate) direct_reads_per_sec: f64,
    pub(crate) spawn_blocking_reads_per_sec: f64,
}

pub(crate) async fn kv_reads(
    tasks: &[usize],
    duration: Duration,
) -> anyhow::Result<Vec<KvReadRow>> {
    let dir = tempfile::tempdir().context("create a temp dir for the store")?;
    let store = Store::open(dir.path().join("store.redb"))?;
    const KEYS: u64 = 1000;
    for i in 0..KEYS {
        store
            .set("bench", &format!("{i:06}"), vec![0xA5; VALUE_LEN])
            .await?;
    }
    let mut rows = Vec::new();
    for &count in tasks {
        rows.push(KvReadRow {
            tasks: count,
            direct_reads_per_sec: read_rate(&store, count, duration, false).await?,
            spawn_blocking_reads_per_sec: read_rate(&store, count, duration, true).await?,
        });
    }
    Ok(rows)
}

async fn read_rate(
    store: &Store,
    tasks: usize,
    duration: Duration,
    blocking_pool: bool,
) -> anyhow::Result<f64> {
    let started = Instant::now();
    let mut handles = Vec::with_capacity(tasks);
    for t in 0..tasks as u64 {
        let store = store.clone();
        handles.push(tokio::spawn(async move {
            let deadline = Instant::now() + duration;
            let mut reads = 0u64;
            while Instant::now() < deadline {
                let key = format!("{:06}", (reads * 7919 + t) % 1000);
                let value = if blocking_pool {
                    let (store, handle) = (store.clone(), tokio::runtime::Handle::current());
                    // `get` never waits when it reads directly, so block_on
                    // returns at once: this measures the hand-off alone.
                    tokio::task::spawn_blocking(move || handle.block_on(store.get("bench", &key)))
                        .await
                        .context("a blocking read panicked")??
                } else {
                    store.get("bench", &key).await?
                };
                anyhow::ensure!(value.is_some(), "a benchmark key is missing");
                reads += 1;
            }
            anyhow::Ok(reads)
        }));
    }
    let mut reads = 0;
    for handle in handles {
        reads += handle.await.context("a reader task panicked")??;
    }
    Ok(reads as f64 / started.elapsed().as_secs_f64())
}
