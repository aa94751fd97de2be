//! The raw `"rusm"` imports, exactly as ABI.md lists them.
//!
//! Off Wasm (host `cargo test`/`cargo doc`) every import is a stub that
//! panics: the pure parts of the library (encodings, error mapping) can be
//! tested on the host, and nothing pretends to be a runtime.

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
                #[allow(unused_variables, clippy::missing_safety_doc)]
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
}

/// Calls `fill(buf, cap)` (an import that writes at most `cap` bytes and
/// returns the full size, or a negative error code) until the buffer was
/// large enough, and returns the bytes.
pub(crate) fn read_sized(mut fill: impl FnMut(*mut u8, usize) -> i32) -> Result<Vec<u8>, i32> {
    let mut buf: Vec<u8> = Vec::with_capacity(256);
    loop {
        let cap = buf.capacity();
        let full = fill(buf.as_mut_ptr(), cap);
        if full < 0 {
            return Err(full);
        }
        let full = full as usize;
        if full <= cap {
            // SAFETY: the host wrote `full` (<= cap) initialised bytes.
            unsafe { buf.set_len(full) };
            return Ok(buf);
        }
        buf.reserve_exact(full);
    }
}
