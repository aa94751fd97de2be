//! The size caps on what a caller may store, and the checks that enforce them.
//!
//! The caps exist because a guest chooses these sizes: without them one
//! process could pin gigabytes in the writer's queue and in a write
//! transaction that every other process's writes are waiting to share.
//! Every check runs in the caller's task, before anything is queued, so an
//! argument over a cap never delays anyone else.

use crate::KvError;

/// Longest bucket name, in bytes. A bucket is a name, not data; 255 is the
/// usual cap on a name (a file name on most file systems).
pub const MAX_BUCKET_LEN: usize = 255;

/// Longest key, in bytes. redb keeps keys in its 4 KiB B-tree pages, so
/// larger keys would cost every lookup in the bucket fan-out; a key that does
/// not fit here belongs in the value.
pub const MAX_KEY_LEN: usize = 4 * 1024;

/// Largest value, in bytes. A value is copied out of the guest, queued, and
/// held in the write transaction until the batch commits, so it delays the
/// other writes of its batch; 16 MiB keeps that delay to tens of
/// milliseconds on a disk, far below redb's own 3 GiB cap.
pub const MAX_VALUE_LEN: usize = 16 * 1024 * 1024;

pub(crate) fn check_bucket(bucket: &str) -> Result<(), KvError> {
    if bucket.is_empty() {
        return Err(KvError::Invalid("the bucket name is empty"));
    }
    check_len("bucket name", bucket.len(), MAX_BUCKET_LEN)
}

pub(crate) fn check_key(key: &str) -> Result<(), KvError> {
    check_len("key", key.len(), MAX_KEY_LEN)
}

/// A prefix longer than any key could only match nothing; refusing it keeps
/// the rule "no argument over a cap is accepted" without exceptions.
pub(crate) fn check_prefix(prefix: &str) -> Result<(), KvError> {
    check_len("key prefix", prefix.len(), MAX_KEY_LEN)
}

pub(crate) fn check_value(what: &'static str, value: &[u8]) -> Result<(), KvError> {
    check_len(what, value.len(), MAX_VALUE_LEN)
}

fn check_len(what: &'static str, len: usize, limit: usize) -> Result<(), KvError> {
    if len > limit {
        Err(KvError::TooLarge { what, len, limit })
    } else {
        Ok(())
    }
}
