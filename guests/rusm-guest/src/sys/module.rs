//! The core-module backend: the flat `"rusm"` imports of ABI.md, wrapped
//! into the safe internal calls `sys` promises.
//!
//! The ABI speaks in pointers, lengths and negative error codes; this file
//! is the only place that does, so every `unsafe` of the module shape lives
//! here. Off Wasm (host `cargo test`/`cargo doc`) every import is a stub
//! that panics: the pure parts of the library (encodings, error mapping)
//! can be tested on the host, and nothing pretends to be a runtime.

use crate::error::{Error, Result};
use crate::message::{Kind, Message};
use crate::process::Pid;

mod raw {
    macro_rules! imports {
        ($( fn $name:ident($($arg:ident: $ty:ty),*) $(-> $ret:ty)?; )*) => {
            #[cfg(target_arch = "wasm32")]
            #[link(wasm_import_module = "rusm")]
            unsafe extern "C" {
                $( pub fn $name($($arg: $ty),*) $(-> $ret)?; )*
            }

            #[cfg(not(target_arch = "wasm32"))]
            mod host {
                $(
                    #[allow(unused_variables, clippy::missing_safety_doc, clippy::too_many_arguments)]
                    pub unsafe fn $name($($arg: $ty),*) $(-> $ret)? {
                        unimplemented!(concat!("rusm::", stringify!($name), " exists only inside a RUSM process"))
                    }
                )*
            }
            #[cfg(not(target_arch = "wasm32"))]
            pub use host::*;
        };
    }

    imports! {
        fn own_pid() -> i64;
        fn send(to: i64, tag: i64, ptr: *const u8, len: usize) -> i32;
        fn recv(tags_ptr: *const i64, tags_count: usize, timeout_ms: i64) -> i32;
        fn msg_sender() -> i64;
        fn msg_tag() -> i64;
        fn msg_len() -> i32;
        fn msg_read(buf: *mut u8, cap: usize) -> i32;
        fn make_ref() -> i64;
        fn sleep(ms: i64);
        fn send_after(to: i64, tag: i64, ptr: *const u8, len: usize, delay_ms: i64) -> i64;
        fn cancel_timer(id: i64) -> i32;
        fn spawn(name_ptr: *const u8, name_len: usize, arg_ptr: *const u8, arg_len: usize, link: i32) -> i64;
        fn link(pid: i64) -> i32;
        fn unlink(pid: i64) -> i32;
        fn monitor(pid: i64) -> i64;
        fn demonitor(reference: i64) -> i32;
        fn trap_exit(on: i32) -> i32;
        fn kill(pid: i64) -> i32;
        fn exit(reason_ptr: *const u8, reason_len: usize);
        fn is_alive(pid: i64) -> i32;
        fn list_processes(buf: *mut i64, cap_count: usize) -> i32;
        fn process_info(pid: i64, buf: *mut u8, cap: usize) -> i32;
        fn register(name_ptr: *const u8, name_len: usize) -> i32;
        fn unregister(name_ptr: *const u8, name_len: usize) -> i32;
        fn whereis(name_ptr: *const u8, name_len: usize) -> i64;
        fn set_label(ptr: *const u8, len: usize);
        fn kv_get(b_ptr: *const u8, b_len: usize, k_ptr: *const u8, k_len: usize, buf: *mut u8, cap: usize) -> i32;
        fn kv_set(b_ptr: *const u8, b_len: usize, k_ptr: *const u8, k_len: usize, v_ptr: *const u8, v_len: usize) -> i32;
        fn kv_delete(b_ptr: *const u8, b_len: usize, k_ptr: *const u8, k_len: usize) -> i32;
        fn kv_exists(b_ptr: *const u8, b_len: usize, k_ptr: *const u8, k_len: usize) -> i32;
        fn kv_keys(b_ptr: *const u8, b_len: usize, p_ptr: *const u8, p_len: usize, buf: *mut u8, cap: usize) -> i32;
        fn kv_cas(b_ptr: *const u8, b_len: usize, k_ptr: *const u8, k_len: usize, e_ptr: *const u8, e_len: isize, v_ptr: *const u8, v_len: usize) -> i32;
        fn spawn_on(node_ptr: *const u8, node_len: usize, name_ptr: *const u8, name_len: usize, arg_ptr: *const u8, arg_len: usize, link: i32) -> i64;
        fn register_global(name_ptr: *const u8, name_len: usize) -> i32;
        fn whereis_global(name_ptr: *const u8, name_len: usize) -> i64;
        fn nodes(buf: *mut u8, cap: usize) -> i32;
        fn node_of(pid: i64, buf: *mut u8, cap: usize) -> i32;
    }
}

/// An ABI millisecond count: the ABI's durations are `i64`, so a longer
/// `u64` saturates (it is forever either way).
fn abi_ms(ms: u64) -> i64 {
    i64::try_from(ms).unwrap_or(i64::MAX)
}

/// `Ok(value)` for a non-negative return, else the error its code names.
fn check(ret: i64) -> Result<i64> {
    if ret < 0 { Err(Error::from_code(ret)) } else { Ok(ret) }
}

/// `Ok(())` for a 0 (or any non-negative) return, else the error.
fn done(ret: i32) -> Result<()> {
    check(ret.into()).map(drop)
}

/// `Ok(ret == 1)` for a boolean answer, else the error.
fn yes(ret: i32) -> Result<bool> {
    check(ret.into()).map(|answer| answer == 1)
}

pub(crate) fn own_pid() -> i64 {
    // SAFETY: no arguments.
    unsafe { raw::own_pid() }
}

pub(crate) fn send(to: i64, tag: i64, data: &[u8]) -> Result<()> {
    // SAFETY: the slice is valid for its length.
    done(unsafe { raw::send(to, tag, data.as_ptr(), data.len()) })
}

pub(crate) fn receive(tags: &[i64], timeout_ms: Option<u64>) -> Result<Message> {
    let timeout = timeout_ms.map_or(-1, abi_ms);
    // SAFETY: the slice is valid for its length; i64 is little-endian on Wasm.
    let kind = match check(unsafe { raw::recv(tags.as_ptr(), tags.len(), timeout) }.into())? {
        0 => Kind::Data,
        1 => Kind::Exit,
        2 => Kind::Down,
        other => return Err(Error::Unknown(other as i32)),
    };
    // SAFETY: these read the current message, which `recv` just set.
    let (sender, tag, len) = unsafe { (raw::msg_sender(), raw::msg_tag(), raw::msg_len()) };
    let mut data = vec![0u8; len.max(0) as usize];
    // An empty message (a bare signal, the common case in a protocol of
    // tags) needs no fourth host call.
    if !data.is_empty() {
        // SAFETY: the buffer is valid for its length.
        let full = unsafe { raw::msg_read(data.as_mut_ptr(), data.len()) };
        data.truncate(full.max(0) as usize);
    }
    Ok(Message { kind, sender: Pid::from_raw(sender), tag, data })
}

pub(crate) fn make_ref() -> i64 {
    // SAFETY: no arguments.
    unsafe { raw::make_ref() }
}

pub(crate) fn sleep(ms: u64) {
    // SAFETY: scalar arguments.
    unsafe { raw::sleep(abi_ms(ms)) }
}

pub(crate) fn send_after(to: i64, tag: i64, data: &[u8], delay_ms: u64) -> Result<i64> {
    // SAFETY: the slice is valid for its length.
    check(unsafe { raw::send_after(to, tag, data.as_ptr(), data.len(), abi_ms(delay_ms)) })
}

pub(crate) fn cancel_timer(id: i64) -> bool {
    // SAFETY: scalar arguments.
    unsafe { raw::cancel_timer(id) == 1 }
}

pub(crate) fn spawn(name: &str, arg: &[u8], link: bool) -> Result<i64> {
    // SAFETY: both slices are valid for their lengths.
    check(unsafe { raw::spawn(name.as_ptr(), name.len(), arg.as_ptr(), arg.len(), link as i32) })
}

pub(crate) fn link(pid: i64) -> Result<()> {
    // SAFETY: scalar arguments.
    done(unsafe { raw::link(pid) })
}

pub(crate) fn unlink(pid: i64) -> Result<()> {
    // SAFETY: scalar arguments.
    done(unsafe { raw::unlink(pid) })
}

pub(crate) fn monitor(pid: i64) -> Result<i64> {
    // SAFETY: scalar arguments.
    check(unsafe { raw::monitor(pid) })
}

pub(crate) fn demonitor(reference: i64) -> Result<()> {
    // SAFETY: scalar arguments.
    done(unsafe { raw::demonitor(reference) })
}

pub(crate) fn trap_exit(on: bool) -> bool {
    // SAFETY: scalar arguments.
    unsafe { raw::trap_exit(on as i32) != 0 }
}

pub(crate) fn kill(pid: i64) -> Result<()> {
    // SAFETY: scalar arguments.
    done(unsafe { raw::kill(pid) })
}

pub(crate) fn exit(reason: &str) -> ! {
    // SAFETY: the slice is valid for its length; the import does not return.
    unsafe { raw::exit(reason.as_ptr(), reason.len()) };
    unreachable!("rusm::exit returned")
}

pub(crate) fn is_alive(pid: i64) -> bool {
    // SAFETY: scalar arguments.
    unsafe { raw::is_alive(pid) == 1 }
}

pub(crate) fn processes() -> Result<Vec<i64>> {
    let mut pids: Vec<i64> = Vec::with_capacity(64);
    loop {
        let cap = pids.capacity();
        // SAFETY: the buffer holds `cap` i64s.
        let full = check(unsafe { raw::list_processes(pids.as_mut_ptr(), cap) }.into())? as usize;
        if full <= cap {
            // SAFETY: the host wrote `full` (<= cap) pids.
            unsafe { pids.set_len(full) };
            return Ok(pids);
        }
        pids.reserve_exact(full + 16);
    }
}

pub(crate) fn process_info(pid: i64) -> Result<String> {
    // SAFETY: `read_sized` passes a buffer valid for `cap` bytes.
    let json = read_sized(|buf, cap| unsafe { raw::process_info(pid, buf, cap) })?;
    String::from_utf8(json).map_err(|_| Error::Invalid)
}

pub(crate) fn register(name: &str) -> Result<()> {
    // SAFETY: the slice is valid for its length.
    done(unsafe { raw::register(name.as_ptr(), name.len()) })
}

pub(crate) fn unregister(name: &str) -> Result<()> {
    // SAFETY: the slice is valid for its length.
    done(unsafe { raw::unregister(name.as_ptr(), name.len()) })
}

pub(crate) fn whereis(name: &str) -> Result<i64> {
    // SAFETY: the slice is valid for its length.
    check(unsafe { raw::whereis(name.as_ptr(), name.len()) })
}

pub(crate) fn set_label(label: &str) {
    // SAFETY: the slice is valid for its length.
    unsafe { raw::set_label(label.as_ptr(), label.len()) }
}

pub(crate) fn kv_get(bucket: &str, key: &str) -> Result<Option<Vec<u8>>> {
    // SAFETY: the slices are valid for their lengths, `buf` for `cap` bytes.
    let value = read_sized(|buf, cap| unsafe {
        raw::kv_get(bucket.as_ptr(), bucket.len(), key.as_ptr(), key.len(), buf, cap)
    });
    match value {
        Ok(value) => Ok(Some(value)),
        Err(Error::NotFound) => Ok(None),
        Err(error) => Err(error),
    }
}

pub(crate) fn kv_set(bucket: &str, key: &str, value: &[u8]) -> Result<()> {
    // SAFETY: the slices are valid for their lengths.
    done(unsafe { raw::kv_set(bucket.as_ptr(), bucket.len(), key.as_ptr(), key.len(), value.as_ptr(), value.len()) })
}

pub(crate) fn kv_delete(bucket: &str, key: &str) -> Result<bool> {
    // SAFETY: the slices are valid for their lengths.
    yes(unsafe { raw::kv_delete(bucket.as_ptr(), bucket.len(), key.as_ptr(), key.len()) })
}

pub(crate) fn kv_exists(bucket: &str, key: &str) -> Result<bool> {
    // SAFETY: the slices are valid for their lengths.
    yes(unsafe { raw::kv_exists(bucket.as_ptr(), bucket.len(), key.as_ptr(), key.len()) })
}

pub(crate) fn kv_keys(bucket: &str, prefix: &str) -> Result<Vec<String>> {
    // SAFETY: the slices are valid for their lengths, `buf` for `cap` bytes.
    let packed = read_sized(|buf, cap| unsafe {
        raw::kv_keys(bucket.as_ptr(), bucket.len(), prefix.as_ptr(), prefix.len(), buf, cap)
    })?;
    unpack_keys(&packed)
}

pub(crate) fn kv_cas(bucket: &str, key: &str, expected: Option<&[u8]>, new: &[u8]) -> Result<bool> {
    let (e_ptr, e_len) = match expected {
        Some(e) => (e.as_ptr(), e.len() as isize),
        None => (core::ptr::null(), -1),
    };
    // SAFETY: the slices are valid for their lengths; a -1 length is not read.
    yes(unsafe {
        raw::kv_cas(bucket.as_ptr(), bucket.len(), key.as_ptr(), key.len(), e_ptr, e_len, new.as_ptr(), new.len())
    })
}

pub(crate) fn spawn_on(node: &str, name: &str, arg: &[u8], link: bool) -> Result<i64> {
    // SAFETY: the three slices are valid for their lengths.
    check(unsafe {
        raw::spawn_on(node.as_ptr(), node.len(), name.as_ptr(), name.len(), arg.as_ptr(), arg.len(), link as i32)
    })
}

pub(crate) fn register_global(name: &str) -> Result<()> {
    // SAFETY: the slice is valid for its length.
    done(unsafe { raw::register_global(name.as_ptr(), name.len()) })
}

pub(crate) fn whereis_global(name: &str) -> Result<i64> {
    // SAFETY: the slice is valid for its length.
    check(unsafe { raw::whereis_global(name.as_ptr(), name.len()) })
}

pub(crate) fn nodes() -> Vec<String> {
    // SAFETY: `read_sized` passes a buffer valid for `cap` bytes.
    let packed = read_sized(|buf, cap| unsafe { raw::nodes(buf, cap) });
    // `nodes` has no error case (the WIT's is a bare list): a node without
    // a cluster answers 0 bytes, and the host's packing is well formed.
    packed.and_then(|p| unpack_keys(&p)).unwrap_or_default()
}

pub(crate) fn node_of(pid: i64) -> Result<String> {
    // SAFETY: `read_sized` passes a buffer valid for `cap` bytes.
    let name = read_sized(|buf, cap| unsafe { raw::node_of(pid, buf, cap) })?;
    String::from_utf8(name).map_err(|_| Error::Invalid)
}

/// Calls `fill(buf, cap)` (an import that writes at most `cap` bytes and
/// returns the full size, or a negative error code) until the buffer was
/// large enough, and returns the bytes.
fn read_sized(mut fill: impl FnMut(*mut u8, usize) -> i32) -> Result<Vec<u8>> {
    let mut buf: Vec<u8> = Vec::with_capacity(256);
    loop {
        let cap = buf.capacity();
        let full = check(fill(buf.as_mut_ptr(), cap).into())? as usize;
        if full <= cap {
            // SAFETY: the host wrote `full` (<= cap) initialised bytes.
            unsafe { buf.set_len(full) };
            return Ok(buf);
        }
        buf.reserve_exact(full);
    }
}

/// The layout of `kv_keys` and `nodes`: each name as a little-endian u32
/// length, then its bytes.
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

    #[test]
    fn packed_node_names_unpack_as_the_host_packs_them() {
        // rusm-wasm's `nodes` for ["a", "b", "gamma"] (its test `cluster::`
        // checks the same bytes on the host side).
        let packed = b"\x01\0\0\0a\x01\0\0\0b\x05\0\0\0gamma";
        assert_eq!(unpack_keys(packed), Ok(vec!["a".to_owned(), "b".to_owned(), "gamma".to_owned()]));
        assert_eq!(unpack_keys(&packed[..7]), Err(Error::Invalid), "a cut list is not read as a shorter one");
    }

    #[test]
    fn long_durations_saturate_to_the_abi_range() {
        assert_eq!(abi_ms(1500), 1500);
        assert_eq!(abi_ms(u64::MAX), i64::MAX);
    }
}
