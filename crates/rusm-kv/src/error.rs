//! The one error type of the store, [`KvError`].
//!
//! Each variant is one thing a caller can act on; the crate docs map them onto
//! the guest ABI's codes. Sources sit behind an `Arc` so that one failed
//! commit can be handed, unchanged, to every write that shared it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Everything that can go wrong in the store.
///
/// `Invalid` and `TooLarge` are the caller's mistake and leave the store
/// untouched. `InUse`, `NotAStore` and `UnsupportedFormat` come only from
/// [`Store::open`](crate::Store::open). `Io`, `Storage` and `Stopped` mean the
/// store itself failed: a write that returns one of them was not acknowledged
/// (it may or may not be on disk) and the message names the file.
///
/// `Io` and `Storage` carry their cause as [`std::error::Error::source`];
/// print the whole chain (`{:#}` with `anyhow`, or walk `source()`) to see it.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum KvError {
    /// A malformed argument, such as an empty bucket name.
    #[error("invalid argument: {0}")]
    Invalid(&'static str),

    /// An argument over one of the size caps in [`limits`](crate::limits).
    #[error("{what} is {len} bytes, over the store's limit of {limit} bytes")]
    TooLarge {
        /// Which argument: "bucket name", "key", "key prefix", "value" or
        /// "expected value".
        what: &'static str,
        /// Its length in bytes.
        len: usize,
        /// The cap it broke.
        limit: usize,
    },

    /// Another process (or another `Store` in this process) has the file open.
    #[error(
        "store file {} is already in use by another node; stop that node, or give this node a store file of its own",
        path.display()
    )]
    InUse {
        /// The store file.
        path: PathBuf,
    },

    /// The file exists but is not a redb database, or is a redb database that
    /// some other program wrote.
    #[error(
        "{} is not a RUSM store (redb) file; move it away or point the node at another store path",
        path.display()
    )]
    NotAStore {
        /// The offending file.
        path: PathBuf,
    },

    /// A RUSM store written in a layout this build does not know.
    #[error(
        "store file {} has RUSM store format {found}, but this build reads format {supported}; run the RUSM version that wrote it",
        path.display()
    )]
    UnsupportedFormat {
        /// The store file.
        path: PathBuf,
        /// The format number found in the file.
        found: u64,
        /// The format number this build writes and reads.
        supported: u64,
    },

    /// The operating system refused a file operation.
    #[error("store file {}: cannot {action}", path.display())]
    Io {
        /// The store file.
        path: PathBuf,
        /// What was being attempted, e.g. "create the folder that holds it".
        action: &'static str,
        /// The cause.
        #[source]
        source: Arc<std::io::Error>,
    },

    /// redb failed: an I/O error during a commit, a damaged file, ...
    #[error("store file {}: redb could not {action}", path.display())]
    Storage {
        /// The store file.
        path: PathBuf,
        /// What was being attempted, e.g. "commit a batch of writes".
        action: &'static str,
        /// The cause.
        #[source]
        source: Arc<redb::Error>,
    },

    /// The writer thread is gone (it can only stop by panicking), so no write
    /// can be made durable any more.
    #[error(
        "the writer thread of store file {} has stopped, so nothing more can be written; see the log and restart the node",
        path.display()
    )]
    Stopped {
        /// The store file.
        path: PathBuf,
    },
}

impl KvError {
    pub(crate) fn io(path: &Path, action: &'static str, source: std::io::Error) -> Self {
        KvError::Io {
            path: path.to_path_buf(),
            action,
            source: Arc::new(source),
        }
    }

    pub(crate) fn storage(
        path: &Path,
        action: &'static str,
        source: impl Into<redb::Error>,
    ) -> Self {
        KvError::Storage {
            path: path.to_path_buf(),
            action,
            source: Arc::new(source.into()),
        }
    }

    /// Sorts out why `redb` refused to open the file at `path`.
    pub(crate) fn from_open(path: &Path, err: redb::DatabaseError) -> Self {
        use redb::{DatabaseError, StorageError};
        match err {
            // LockProtocolMismatch is the same situation seen from a redb of
            // another generation: someone else holds the file.
            DatabaseError::DatabaseAlreadyOpen | DatabaseError::LockProtocolMismatch => {
                KvError::InUse {
                    path: path.to_path_buf(),
                }
            }
            // redb reports a wrong magic number (any file that is not redb,
            // including ones too short to hold the header) as InvalidData.
            DatabaseError::Storage(StorageError::Io(io))
                if io.kind() == std::io::ErrorKind::InvalidData =>
            {
                tracing::debug!(path = %path.display(), error = %io, "redb refused the file");
                KvError::NotAStore {
                    path: path.to_path_buf(),
                }
            }
            DatabaseError::Storage(StorageError::Io(io)) => KvError::io(path, "open it", io),
            other => KvError::storage(path, "open it", other),
        }
    }
}

/// Formats an error with its sources, for the log.
pub(crate) struct DisplayChain<'a>(pub(crate) &'a dyn std::error::Error);

impl std::fmt::Display for DisplayChain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(cause) = source {
            write!(f, ": {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}
