//! RUSM's durable key-value store: one [redb] file per node, holding named
//! buckets of `key → bytes`, behind an async API whose writes are on disk
//! before they are acknowledged.
//!
//! Guests reach it through the `kv` interface of `rusm.wit` and the `kv_*`
//! imports of `ABI.md`; that layer (in `rusm-wasm`) checks capabilities,
//! validates UTF-8 and maps [`KvError`] onto ABI codes. This crate knows
//! nothing of Wasm or of processes: it is a [`Store`] a node opens once and
//! clones into every host call.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), rusm_kv::KvError> {
//! # let dir = tempfile::tempdir().expect("a temp dir");
//! use rusm_kv::Store;
//!
//! let store = Store::open(dir.path().join("node-a/store.redb"))?;
//! store.set("users", "ada", b"lovelace".to_vec()).await?; // durable now
//! assert_eq!(store.get("users", "ada").await?, Some(b"lovelace".to_vec()));
//!
//! // Compare-and-swap: `None` expects the key to be absent.
//! assert!(!store.compare_and_swap("users", "ada", None, b"x".to_vec()).await?);
//! assert!(store.compare_and_swap("users", "ada", Some(b"lovelace".to_vec()), b"byron".to_vec()).await?);
//!
//! store.set("users", "alan", b"turing".to_vec()).await?;
//! assert_eq!(store.keys("users", "a").await?, ["ada", "alan"]);
//! assert!(store.delete("users", "ada").await?);
//! assert!(!store.exists("users", "ada").await?);
//! # Ok(())
//! # }
//! ```
//!
//! # The storage format
//!
//! This section is the only description of the format; the code that
//! implements it is the `layout` module.
//!
//! - **One redb file per node.** redb locks it, so a second node (process),
//!   or a second [`Store`] in the same process, cannot open it:
//!   [`KvError::InUse`].
//! - **Table `rusm-kv:meta`** (`&str → u64`) holds `"format" → 1`. It is
//!   written when the store is created and checked on every open: a file
//!   with another number is refused ([`KvError::UnsupportedFormat`]), and a
//!   redb file with no marker but other tables is some other program's
//!   database ([`KvError::NotAStore`]).
//! - **One table per bucket**, named `bucket:` followed by the bucket name,
//!   with `&str` keys and `&[u8]` values. The prefix keeps bucket names out
//!   of the metadata's way. redb orders `&str` keys by their UTF-8 bytes, so
//!   [`Store::keys`] is one range scan starting at the prefix. A bucket's
//!   table is created by the first write to it (a delete or a failed
//!   compare-and-swap may leave it empty); a bucket that was never written
//!   reads as empty.
//!
//! # Durability
//!
//! A write (set, delete, compare-and-swap) is acknowledged — its future
//! returns `Ok` — only after the redb write transaction that carries it has
//! committed with redb's default durability, `Durability::Immediate`: the
//! data and then the new root are fsync'd before `commit` returns. So every
//! acknowledged write survives a crash of the process or of the machine,
//! and redb repairs the file on the next open. A write whose future returned
//! an error, or was dropped before it returned, may or may not be on disk.
//! The crash test (`tests/all/crash.rs`) checks this promise by killing a
//! writing process with SIGKILL at random moments.
//!
//! Reads see every acknowledged write: each read opens a fresh redb read
//! transaction, which sees the latest commit.
//!
//! # Group commit
//!
//! One thread writes. Writes from all tasks go into one queue; the thread
//! takes everything queued, applies it in arrival order in **one** write
//! transaction, commits once (one fsync for the lot), and answers every
//! caller. The fsync dominates the cost of a commit, so throughput grows with
//! the number of concurrent writers instead of being capped at one write per
//! fsync. Nobody waits on a timer: while one commit runs, the next batch
//! piles up in the queue. A batch holds at most 1024 writes or 64 MiB of keys
//! and values. Arrival order inside one transaction keeps compare-and-swap
//! serializable. If a commit fails, every write of its batch gets the error
//! and none is acknowledged. A write whose future is dropped after it was
//! queued is still applied; only its answer is lost. [`Store::stats`] counts
//! commits and writes.
//!
//! Every commit rewrites the B-tree pages its writes touched, so the gain
//! depends on the keys as well as on the number of writers: writes to
//! neighbouring keys share pages, writes scattered over a bucket cost a
//! page (4 KiB) each. `rusm-bench`'s `kv_storm` measures both against raw
//! redb with one commit per key.
//!
//! # Reads
//!
//! Reads (get, exists, keys) run on the calling task's thread rather than in
//! `tokio::task::spawn_blocking`. Measured with `rusm-bench`'s `kv_reads`
//! (release build, 2 shared cores, a cached 100-byte value, 1 or 16 tasks):
//! 0.8–1.9 million gets per second read directly, against 44–120 thousand
//! through `spawn_blocking`, whose hand-off costs 11–31 times the read
//! itself. The price is that a large `keys` scan or a 16 MiB value
//! holds a runtime thread for as long as the copy takes; the caps in
//! [`limits`] bound it, and a read never waits for the writer or its fsync
//! (redb readers do not block on the writer).
//!
//! # Limits
//!
//! Bucket names are at most [`limits::MAX_BUCKET_LEN`] bytes and not empty,
//! keys at most [`limits::MAX_KEY_LEN`], values at most
//! [`limits::MAX_VALUE_LEN`]; see [`limits`] for why.
//!
//! # Errors and the guest ABI
//!
//! | [`KvError`] | ABI code (`kv_*` import) | WIT `error` |
//! | --- | --- | --- |
//! | `Invalid` | `INVALID` (-3) | `invalid` |
//! | `TooLarge` | `LIMIT` (-8) | `limit` |
//! | `Io`, `Storage`, `Stopped` | `NO_STORE` (-5): the store is unusable; log the error | `no-store` |
//! | `InUse`, `NotAStore`, `UnsupportedFormat` | — (only from [`Store::open`]: the node refuses to start and prints the message) | — |
//!
//! A missing key is not an error: `get` returns `None` (→ `NOT_FOUND` in the
//! core-module ABI), `delete` returns `false`.

mod error;
mod layout;
pub mod limits;
mod store;
mod writer;

pub use error::KvError;
pub use store::{Stats, Store};
pub use writer::COMMIT_LATENCY_BOUNDS_MICROS;
