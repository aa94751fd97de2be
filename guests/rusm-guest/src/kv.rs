//! The node's durable key-value store (needs `allow-storage`, and a node
//! with a `store`). Buckets and keys are text, values are bytes; a call
//! returns once the change is durable.
//!
//! ```no_run
//! use rusm_guest::kv;
//! let hits = kv::get("app", "hits")?.map_or(0, |v| v.len());
//! kv::set("app", "hits", &vec![0; hits + 1])?;
//! # Ok::<(), rusm_guest::Error>(())
//! ```

use crate::error::Result;
use crate::sys;

/// The value of `key`, or `None` if it is not set.
pub fn get(bucket: &str, key: &str) -> Result<Option<Vec<u8>>> {
    sys::kv_get(bucket, key)
}

/// Sets `key` to `value`.
pub fn set(bucket: &str, key: &str, value: &[u8]) -> Result<()> {
    sys::kv_set(bucket, key, value)
}

/// Deletes `key`; `true` if it existed.
pub fn delete(bucket: &str, key: &str) -> Result<bool> {
    sys::kv_delete(bucket, key)
}

/// Whether `key` is set.
pub fn exists(bucket: &str, key: &str) -> Result<bool> {
    sys::kv_exists(bucket, key)
}

/// The keys of `bucket` that start with `prefix`, in order.
pub fn keys(bucket: &str, prefix: &str) -> Result<Vec<String>> {
    sys::kv_keys(bucket, prefix)
}

/// Sets `key` to `new` if its value is `expected` (`None`: if it is not
/// set); `true` if it swapped.
pub fn cas(bucket: &str, key: &str, expected: Option<&[u8]>, new: &[u8]) -> Result<bool> {
    sys::kv_cas(bucket, key, expected, new)
}

