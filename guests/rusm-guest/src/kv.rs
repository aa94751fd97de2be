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

use crate::error::{Error, Result, check};
use crate::sys;

/// The value of `key`, or `None` if it is not set.
pub fn get(bucket: &str, key: &str) -> Result<Option<Vec<u8>>> {
    // SAFETY: the slices are valid for their lengths, `buf` for `cap` bytes.
    let value = sys::read_sized(|buf, cap| unsafe {
        sys::kv_get(bucket.as_ptr(), bucket.len(), key.as_ptr(), key.len(), buf, cap)
    });
    match value {
        Ok(value) => Ok(Some(value)),
        Err(code) if Error::from_code(code.into()) == Error::NotFound => Ok(None),
        Err(code) => Err(Error::from_code(code.into())),
    }
}

/// Sets `key` to `value`.
pub fn set(bucket: &str, key: &str, value: &[u8]) -> Result<()> {
    // SAFETY: the slices are valid for their lengths.
    let ret = unsafe {
        sys::kv_set(bucket.as_ptr(), bucket.len(), key.as_ptr(), key.len(), value.as_ptr(), value.len())
    };
    check(ret.into()).map(drop)
}

/// Deletes `key`; `true` if it existed.
pub fn delete(bucket: &str, key: &str) -> Result<bool> {
    // SAFETY: the slices are valid for their lengths.
    let ret = unsafe { sys::kv_delete(bucket.as_ptr(), bucket.len(), key.as_ptr(), key.len()) };
    check(ret.into()).map(|existed| existed == 1)
}

/// Whether `key` is set.
pub fn exists(bucket: &str, key: &str) -> Result<bool> {
    // SAFETY: the slices are valid for their lengths.
    let ret = unsafe { sys::kv_exists(bucket.as_ptr(), bucket.len(), key.as_ptr(), key.len()) };
    check(ret.into()).map(|set| set == 1)
}

/// The keys of `bucket` that start with `prefix`, in order.
pub fn keys(bucket: &str, prefix: &str) -> Result<Vec<String>> {
    // SAFETY: the slices are valid for their lengths, `buf` for `cap` bytes.
    let packed = sys::read_sized(|buf, cap| unsafe {
        sys::kv_keys(bucket.as_ptr(), bucket.len(), prefix.as_ptr(), prefix.len(), buf, cap)
    })
    .map_err(|code| Error::from_code(code.into()))?;
    unpack_keys(&packed)
}

/// Sets `key` to `new` if its value is `expected` (`None`: if it is not
/// set); `true` if it swapped.
pub fn cas(bucket: &str, key: &str, expected: Option<&[u8]>, new: &[u8]) -> Result<bool> {
    let (e_ptr, e_len) = match expected {
        Some(e) => (e.as_ptr(), e.len() as isize),
        None => (core::ptr::null(), -1),
    };
    // SAFETY: the slices are valid for their lengths; a -1 length is not read.
    let ret = unsafe {
        sys::kv_cas(bucket.as_ptr(), bucket.len(), key.as_ptr(), key.len(), e_ptr, e_len, new.as_ptr(), new.len())
    };
    check(ret.into()).map(|swapped| swapped == 1)
}

/// The `kv_keys` layout: each key as a little-endian u32 length, then its bytes.
fn unpack_keys(mut packed: &[u8]) -> Result<Vec<String>> {
    let mut keys = Vec::new();
    while !packed.is_empty() {
        let (len, rest) = packed.split_first_chunk::<4>().ok_or(Error::Invalid)?;
        let len = u32::from_le_bytes(*len) as usize;
        let key = rest.get(..len).ok_or(Error::Invalid)?;
        keys.push(String::from_utf8(key.to_vec()).map_err(|_| Error::Invalid)?);
        packed = &rest[len..];
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_keys_unpack_in_order() {
        let packed = [1, 0, 0, 0, b'a', 2, 0, 0, 0, b'b', b'c'];
        assert_eq!(unpack_keys(&packed), Ok(vec!["a".to_owned(), "bc".to_owned()]));
        assert_eq!(unpack_keys(&[]), Ok(vec![]));
        assert_eq!(unpack_keys(&[5, 0, 0, 0, b'a']), Err(Error::Invalid));
    }
}
