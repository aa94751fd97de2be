//! Group commit: the one thread that writes to the store.
//!
//! An fsync costs milliseconds whatever it carries, so the writer makes every
//! write that is waiting share one. Callers queue a [`WriteOp`] and await a
//! oneshot; the thread takes the first queued op, then everything else
//! already queued (up to [`MAX_BATCH_OPS`] ops or [`MAX_BATCH_BYTES`]), applies
//! them in queue order inside one redb write transaction, commits, and only
//! then answers each caller. While one commit runs the next batch piles up in
//! the queue, so the more writers there are, the more each fsync carries;
//! nobody waits on a timer to make a batch bigger.
//!
//! Applying the ops one after another in arrival order inside one transaction
//! is what keeps compare-and-swap serializable: a CAS sees exactly the writes
//! queued before it, committed or not, and nothing queued after it.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;

use redb::{Database, ReadableTable, Table};
use tokio::sync::{mpsc, oneshot};

use crate::KvError;
use crate::error::DisplayChain;
use crate::layout::{self, BucketDef};

/// Most ops one commit carries. Bounds how long the first op of a batch waits
/// for the last one to be applied.
const MAX_BATCH_OPS: usize = 1024;

/// Most key and value bytes one commit carries (a batch always takes at least
/// one op, however large). Bounds the memory a write transaction holds.
const MAX_BATCH_BYTES: usize = 64 * 1024 * 1024;

/// Ops waiting for the writer. At most one per waiting caller in practice
/// (each awaits its answer); when full, callers wait asynchronously.
const QUEUE_CAPACITY: usize = 4096;

/// One write, as a caller asked for it. Arguments are already checked.
#[derive(Debug)]
pub(crate) enum WriteOp {
    Set {
        bucket: String,
        key: String,
        value: Vec<u8>,
    },
    Delete {
        bucket: String,
        key: String,
    },
    CompareAndSwap {
        bucket: String,
        key: String,
        expected: Option<Vec<u8>>,
        replacement: Vec<u8>,
    },
}

impl WriteOp {
    fn bucket(&self) -> &str {
        match self {
            WriteOp::Set { bucket, .. }
            | WriteOp::Delete { bucket, .. }
            | WriteOp::CompareAndSwap { bucket, .. } => bucket,
        }
    }

    /// Roughly what the op adds to a write transaction.
    fn weight(&self) -> usize {
        match self {
            WriteOp::Set { key, value, .. } => key.len() + value.len(),
            WriteOp::Delete { key, .. } => key.len(),
            WriteOp::CompareAndSwap {
                key,
                expected,
                replacement,
                ..
            } => key.len() + expected.as_ref().map_or(0, Vec::len) + replacement.len(),
        }
    }

    /// Applies the op. The answer is the op's boolean: `true` for a set,
    /// "it existed" for a delete, "it was swapped" for a CAS.
    fn apply(&self, table: &mut Table<&'static str, &'static [u8]>) -> Result<bool, redb::Error> {
        match self {
            WriteOp::Set { key, value, .. } => {
                table.insert(key.as_str(), value.as_slice())?;
                Ok(true)
            }
            WriteOp::Delete { key, .. } => Ok(table.remove(key.as_str())?.is_some()),
            WriteOp::CompareAndSwap {
                key,
                expected,
                replacement,
                ..
            } => {
                let matches = {
                    let current = table.get(key.as_str())?;
                    match (current, expected) {
                        (None, None) => true,
                        (Some(current), Some(expected)) => current.value() == expected.as_slice(),
                        _ => false,
                    }
                };
                if matches {
                    table.insert(key.as_str(), replacement.as_slice())?;
                }
                Ok(matches)
            }
        }
    }
}

struct Request {
    op: WriteOp,
    reply: oneshot::Sender<Result<bool, KvError>>,
}

/// What the writer has done since the store was opened.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) commits: AtomicU64,
    pub(crate) ops: AtomicU64,
    pub(crate) failed_commits: AtomicU64,
    /// Time spent in successful commits (fsync included), in microseconds:
    /// with `commits`, the mean commit latency (the observer's metrics).
    pub(crate) commit_micros: AtomicU64,
    /// Successful commits by latency: `[i]` counts those that took at most
    /// `COMMIT_LATENCY_BOUNDS_MICROS[i]` and more than the bound before;
    /// the last, those past every bound.
    pub(crate) commit_latency: [AtomicU64; COMMIT_LATENCY_BUCKETS],
}

/// The upper bounds of the commit latency histogram's buckets, in
/// microseconds: an fsync on a fast SSD takes tens of microseconds, on a
/// slow disk or a loaded network volume tens of milliseconds, and a
/// commit past a second is a store in trouble.
pub const COMMIT_LATENCY_BOUNDS_MICROS: [u64; 14] = [
    50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000,
    1_000_000,
];

/// The histogram's buckets: one per bound, and one past them all.
pub(crate) const COMMIT_LATENCY_BUCKETS: usize = COMMIT_LATENCY_BOUNDS_MICROS.len() + 1;

impl Counters {
    /// Count one successful commit that took `micros`: one more atomic add
    /// per commit, beside the fsync it measures.
    fn record_commit(&self, micros: u64) {
        let bucket = COMMIT_LATENCY_BOUNDS_MICROS
            .iter()
            .position(|&bound| micros <= bound)
            .unwrap_or(COMMIT_LATENCY_BOUNDS_MICROS.len());
        self.commit_latency[bucket].fetch_add(1, Ordering::Relaxed);
        self.commit_micros.fetch_add(micros, Ordering::Relaxed);
        self.commits.fetch_add(1, Ordering::Relaxed);
    }
}

/// The handle to the writer thread; dropping it drains the queue, commits
/// what was in it and joins the thread.
pub(crate) struct Writer {
    path: PathBuf,
    /// `None` only during drop, so the thread sees the queue close.
    queue: Option<mpsc::Sender<Request>>,
    thread: Option<JoinHandle<()>>,
}

impl Writer {
    pub(crate) fn spawn(
        path: PathBuf,
        db: Arc<Database>,
        counters: Arc<Counters>,
    ) -> Result<Writer, KvError> {
        let (queue, incoming) = mpsc::channel(QUEUE_CAPACITY);
        let thread_path = path.clone();
        let thread = std::thread::Builder::new()
            .name("rusm-kv-writer".into())
            .spawn(move || run(&thread_path, &db, &counters, incoming))
            .map_err(|e| KvError::io(&path, "start its writer thread", e))?;
        Ok(Writer {
            path,
            queue: Some(queue),
            thread: Some(thread),
        })
    }

    /// Queues `op` and waits until the batch that carries it is committed.
    ///
    /// If the caller drops this future after the op was queued, the op is
    /// still applied; only its answer is lost.
    pub(crate) async fn submit(&self, op: WriteOp) -> Result<bool, KvError> {
        let (reply, answer) = oneshot::channel();
        let queue = self
            .queue
            .as_ref()
            .expect("the queue is only taken in drop, and drop has the writer to itself");
        queue
            .send(Request { op, reply })
            .await
            .map_err(|_| self.stopped())?;
        answer.await.map_err(|_| self.stopped())?
    }

    fn stopped(&self) -> KvError {
        KvError::Stopped {
            path: self.path.clone(),
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        // Closing the queue is the shutdown signal: the thread drains what is
        // still queued, commits it, and returns. Joining here means that when
        // the last `Store` is gone the file is closed and can be reopened.
        drop(self.queue.take());
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!(path = %self.path.display(), "the store writer thread panicked");
        }
    }
}

fn run(
    path: &std::path::Path,
    db: &Database,
    counters: &Counters,
    mut incoming: mpsc::Receiver<Request>,
) {
    tracing::debug!(path = %path.display(), "store writer started");
    let mut batch: Vec<Request> = Vec::with_capacity(MAX_BATCH_OPS);
    while let Some(first) = incoming.blocking_recv() {
        let mut bytes = first.op.weight();
        batch.push(first);
        while batch.len() < MAX_BATCH_OPS && bytes < MAX_BATCH_BYTES {
            match incoming.try_recv() {
                Ok(next) => {
                    bytes += next.op.weight();
                    batch.push(next);
                }
                Err(_) => break, // empty (or closed: the outer loop sees that)
            }
        }

        let started = std::time::Instant::now();
        match commit_batch(db, &batch) {
            Ok(answers) => {
                let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
                counters.record_commit(micros);
                counters
                    .ops
                    .fetch_add(batch.len() as u64, Ordering::Relaxed);
                tracing::trace!(ops = batch.len(), bytes, "store batch committed");
                for (request, answer) in batch.drain(..).zip(answers) {
                    // A caller that gave up waiting is not an error.
                    let _ = request.reply.send(Ok(answer));
                }
            }
            Err(err) => {
                counters.failed_commits.fetch_add(1, Ordering::Relaxed);
                let err = KvError::storage(path, "commit a batch of writes", err);
                tracing::error!(
                    path = %path.display(),
                    ops = batch.len(),
                    error = %DisplayChain(&err),
                    "store commit failed; none of the batch's writes was acknowledged"
                );
                for request in batch.drain(..) {
                    let _ = request.reply.send(Err(err.clone()));
                }
            }
        }
    }
    tracing::debug!(path = %path.display(), "store writer stopped");
}

/// Applies every op of `batch` in order inside one write transaction and
/// commits it with redb's default durability (fsync before `commit` returns).
/// Any failure aborts the whole transaction, so either every op of the batch
/// is durable or none is acknowledged.
fn commit_batch(db: &Database, batch: &[Request]) -> Result<Vec<bool>, redb::Error> {
    let txn = db.begin_write()?;
    let mut answers = Vec::with_capacity(batch.len());
    {
        // A batch usually hits few buckets; open each table once per batch.
        let mut tables: HashMap<&str, Table<&'static str, &'static [u8]>> = HashMap::new();
        for request in batch {
            let bucket = request.op.bucket();
            let table = match tables.entry(bucket) {
                Entry::Occupied(open) => open.into_mut(),
                Entry::Vacant(slot) => {
                    let name = layout::bucket_table_name(bucket);
                    slot.insert(txn.open_table(BucketDef::new(&name))?)
                }
            };
            answers.push(request.op.apply(table)?);
        }
    }
    txn.commit()?;
    Ok(answers)
}
