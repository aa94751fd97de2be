//! [`Store`]: the handle a node holds on its store file.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use redb::{Database, ReadOnlyTable, ReadableDatabase, TableError};

use crate::KvError;
use crate::layout::{self, BucketDef};
use crate::limits::{check_bucket, check_key, check_prefix, check_value};
use crate::writer::{COMMIT_LATENCY_BOUNDS_MICROS, Counters, WriteOp, Writer};

/// A node's durable key-value store: one redb file, many buckets.
///
/// Cheap to clone (an `Arc` inside); all clones share one file and one writer
/// thread. When the last clone is dropped, the writer commits whatever is
/// still queued, its thread is joined and the file is closed, so the same
/// path can be opened again right away. That drop blocks for at most one
/// commit.
///
/// See the crate docs for the storage format, the durability promise and
/// group commit.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    // Field order is drop order: the writer (which joins its thread, and with
    // it the thread's handle on the database) goes before `db`, so the file
    // is closed when `Inner` is gone.
    writer: Writer,
    db: Arc<Database>,
    counters: Arc<Counters>,
    path: PathBuf,
}

/// What the store's writer has done since [`Store::open`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Write transactions committed (each one fsync'd).
    pub commits: u64,
    /// Writes (set, delete, compare-and-swap) acknowledged by those commits.
    pub ops: u64,
    /// Commits that failed; none of their writes was acknowledged.
    pub failed_commits: u64,
    /// Time the successful commits took, fsync included, in microseconds.
    pub commit_micros: u64,
    /// The successful commits by how long each took: `[i]` counts those
    /// that took at most [`COMMIT_LATENCY_BOUNDS_MICROS`]`[i]` (and more
    /// than the bound before it); the last, those past every bound. Not
    /// cumulative.
    pub commit_latency: [u64; COMMIT_LATENCY_BOUNDS_MICROS.len() + 1],
}

impl Store {
    /// Opens the store file at `path`, creating it (and its parent folders)
    /// if it does not exist.
    ///
    /// After a crash, redb repairs the file here (this can take a while on a
    /// large file); every write acknowledged before the crash is kept. This
    /// blocks on file I/O: call it when the node starts, or from
    /// `spawn_blocking`.
    ///
    /// # Errors
    ///
    /// [`KvError::InUse`] if another node (process) or another `Store` in
    /// this process has the file open, [`KvError::NotAStore`] if the file is
    /// not a RUSM store, [`KvError::UnsupportedFormat`] if it is one of an
    /// unknown format, [`KvError::Io`] or [`KvError::Storage`] otherwise.
    pub fn open(path: impl AsRef<Path>) -> Result<Store, KvError> {
        let path = path.as_ref().to_path_buf();
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .map_err(|e| KvError::io(&path, "create the folder that holds it", e))?;
        }
        let db = Database::create(&path).map_err(|e| KvError::from_open(&path, e))?;
        layout::check_or_stamp(&path, &db)?;

        let db = Arc::new(db);
        let counters = Arc::new(Counters::default());
        let writer = Writer::spawn(path.clone(), Arc::clone(&db), Arc::clone(&counters))?;
        tracing::debug!(path = %path.display(), "store opened");
        Ok(Store {
            inner: Arc::new(Inner {
                writer,
                db,
                counters,
                path,
            }),
        })
    }

    /// The store file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Counters of the writer's work, for tests and benchmarks.
    pub fn stats(&self) -> Stats {
        let c = &self.inner.counters;
        Stats {
            commits: c.commits.load(Ordering::Relaxed),
            ops: c.ops.load(Ordering::Relaxed),
            failed_commits: c.failed_commits.load(Ordering::Relaxed),
            commit_micros: c.commit_micros.load(Ordering::Relaxed),
            commit_latency: std::array::from_fn(|i| c.commit_latency[i].load(Ordering::Relaxed)),
        }
    }

    /// The value of `key` in `bucket`, or `None`.
    pub async fn get(&self, bucket: &str, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        check_bucket(bucket)?;
        check_key(key)?;
        self.read(bucket, None, |table| {
            Ok(table.get(key)?.map(|value| value.value().to_vec()))
        })
    }

    /// Whether `bucket` holds `key`.
    pub async fn exists(&self, bucket: &str, key: &str) -> Result<bool, KvError> {
        check_bucket(bucket)?;
        check_key(key)?;
        self.read(bucket, false, |table| Ok(table.get(key)?.is_some()))
    }

    /// The keys of `bucket` that start with `prefix` (`""` for all), in
    /// ascending byte order of their UTF-8.
    pub async fn keys(&self, bucket: &str, prefix: &str) -> Result<Vec<String>, KvError> {
        check_bucket(bucket)?;
        check_prefix(prefix)?;
        self.read(bucket, Vec::new(), |table| {
            let mut keys = Vec::new();
            // Every key with the prefix sorts at or after the prefix itself,
            // and they are contiguous: stop at the first one without it.
            for entry in table.range::<&str>(prefix..)? {
                let (key, _) = entry?;
                let key = key.value();
                if !key.starts_with(prefix) {
                    break;
                }
                keys.push(key.to_owned());
            }
            Ok(keys)
        })
    }

    /// Sets `key` in `bucket` to `value`. Returns once the write is durable.
    pub async fn set(&self, bucket: &str, key: &str, value: Vec<u8>) -> Result<(), KvError> {
        check_bucket(bucket)?;
        check_key(key)?;
        check_value("value", &value)?;
        self.inner
            .writer
            .submit(WriteOp::Set {
                bucket: bucket.to_owned(),
                key: key.to_owned(),
                value,
            })
            .await
            .map(drop)
    }

    /// Removes `key` from `bucket`; `true` if it was there. Returns once the
    /// removal is durable.
    pub async fn delete(&self, bucket: &str, key: &str) -> Result<bool, KvError> {
        check_bucket(bucket)?;
        check_key(key)?;
        self.inner
            .writer
            .submit(WriteOp::Delete {
                bucket: bucket.to_owned(),
                key: key.to_owned(),
            })
            .await
    }

    /// Sets `key` to `replacement` only if its value is still `expected`
    /// (`None`: only if the key is absent). `true` if it was swapped, in
    /// which case the swap is durable when this returns.
    pub async fn compare_and_swap(
        &self,
        bucket: &str,
        key: &str,
        expected: Option<Vec<u8>>,
        replacement: Vec<u8>,
    ) -> Result<bool, KvError> {
        check_bucket(bucket)?;
        check_key(key)?;
        if let Some(expected) = &expected {
            check_value("expected value", expected)?;
        }
        check_value("value", &replacement)?;
        self.inner
            .writer
            .submit(WriteOp::CompareAndSwap {
                bucket: bucket.to_owned(),
                key: key.to_owned(),
                expected,
                replacement,
            })
            .await
    }

    /// Runs `f` on `bucket`'s table in a fresh read transaction, which sees
    /// every write acknowledged so far. A bucket that was never written reads
    /// as `absent`.
    ///
    /// Runs on the caller's thread, not `spawn_blocking`: see "Reads" in the
    /// crate docs for the measurement behind that.
    fn read<T>(
        &self,
        bucket: &str,
        absent: T,
        f: impl FnOnce(&ReadOnlyTable<&'static str, &'static [u8]>) -> Result<T, redb::StorageError>,
    ) -> Result<T, KvError> {
        let path = &self.inner.path;
        let txn = self
            .inner
            .db
            .begin_read()
            .map_err(|e| KvError::storage(path, "begin a read", e))?;
        let name = layout::bucket_table_name(bucket);
        match txn.open_table(BucketDef::new(&name)) {
            Ok(table) => f(&table).map_err(|e| KvError::storage(path, "read a bucket", e)),
            Err(TableError::TableDoesNotExist(_)) => Ok(absent),
            Err(e) => Err(KvError::storage(path, "open a bucket for reading", e)),
        }
    }
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.inner.path)
            .field("stats", &self.stats())
            .finish()
    }
}
