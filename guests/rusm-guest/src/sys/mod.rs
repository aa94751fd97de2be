//! The backend boundary: the one place that knows which shape of the
//! runtime contract this guest is built for.
//!
//! - `module`: a core module calling the flat `"rusm"` imports (ABI.md),
//!   with pointers, lengths and negative error codes.
//! - `component`: a component of the `rusm:runtime@0.1.0` world `actor`,
//!   calling the wit-bindgen bindings of `rusm.wit` with lists, strings,
//!   options and `result<_, error>`; with the `http` feature, of the world
//!   `http-actor` instead, and `http` wraps its `wasi:http` half.
//!
//! The component backend is chosen by the `component` feature, or by the
//! target itself on wasm32-wasip2 (`target_env = "p2"`), where the linker
//! produces a component whatever the features say; otherwise the module
//! backend is. Both export the same safe internal calls, in the runtime's
//! own terms (raw `i64` pids and references, millisecond counts, the
//! library's [`Error`](crate::Error)); the public modules are written once
//! against those. `CONTRACT` below spells the calls out and makes the
//! compiler check that the selected backend has each one with the right
//! signature, so the two cannot drift apart silently.

#[cfg(not(any(feature = "component", target_env = "p2")))]
mod module;
#[cfg(not(any(feature = "component", target_env = "p2")))]
pub(crate) use module::*;

#[cfg(any(feature = "component", target_env = "p2"))]
mod component;
#[cfg(any(feature = "component", target_env = "p2"))]
pub(crate) use component::*;
#[cfg(any(feature = "component", target_env = "p2"))]
pub use component::bindings;
// HTTP exists only in the component shape (preview 1 has no HTTP), so its
// glue is a part of the component backend, behind the `http` feature.
#[cfg(feature = "http")]
pub(crate) mod http;

use crate::error::Result;
use crate::message::Message;

/// The internal calls every backend provides, as function pointer types.
/// Never called: its only job is to fail the build when a backend's
/// signature differs from the other's.
#[allow(clippy::type_complexity, dead_code)]
const CONTRACT: (
    fn() -> i64,                                           // own_pid
    fn(i64, i64, &[u8]) -> Result<()>,                     // send(to, tag, data)
    fn(&[i64], Option<u64>) -> Result<Message>,            // receive(tags, timeout_ms: None = forever)
    fn() -> i64,                                           // make_ref
    fn(u64),                                               // sleep(ms)
    fn(i64, i64, &[u8], u64) -> Result<i64>,               // send_after(to, tag, data, delay_ms) -> timer id
    fn(i64) -> bool,                                       // cancel_timer(id)
    fn(&str, &[u8], bool) -> Result<i64>,                  // spawn(name, arg, link) -> pid
    fn(i64) -> Result<()>,                                 // link(pid)
    fn(i64) -> Result<()>,                                 // unlink(pid)
    fn(i64) -> Result<i64>,                                // monitor(pid) -> reference
    fn(i64) -> Result<()>,                                 // demonitor(reference)
    fn(bool) -> bool,                                      // trap_exit(on) -> previous
    fn(i64) -> Result<()>,                                 // kill(pid)
    fn(&str) -> !,                                         // exit(reason)
    fn(i64) -> bool,                                       // is_alive(pid)
    fn() -> Result<Vec<i64>>,                              // processes
    fn(i64) -> Result<String>,                             // process_info(pid) as ABI.md's JSON
    fn(&str) -> Result<()>,                                // register(name)
    fn(&str) -> Result<()>,                                // unregister(name)
    fn(&str) -> Result<i64>,                               // whereis(name), Err(NotFound) if unnamed
    fn(&str),                                              // set_label(label)
    fn(&str, &str) -> Result<Option<Vec<u8>>>,             // kv_get(bucket, key)
    fn(&str, &str, &[u8]) -> Result<()>,                   // kv_set(bucket, key, value)
    fn(&str, &str) -> Result<bool>,                        // kv_delete(bucket, key) -> existed
    fn(&str, &str) -> Result<bool>,                        // kv_exists(bucket, key)
    fn(&str, &str) -> Result<Vec<String>>,                 // kv_keys(bucket, prefix)
    fn(&str, &str, Option<&[u8]>, &[u8]) -> Result<bool>,  // kv_cas(bucket, key, expected, new) -> swapped
    fn(&str, &str, &[u8], bool) -> Result<i64>,            // spawn_on(node, name, arg, link) -> pid
    fn(&str) -> Result<()>,                                // register_global(name)
    fn(&str) -> Result<i64>,                               // whereis_global(name), Err(NotFound) if unnamed
    fn() -> Vec<String>,                                   // nodes
    fn(i64) -> Result<String>,                             // node_of(pid)
) = (
    own_pid,
    send,
    receive,
    make_ref,
    sleep,
    send_after,
    cancel_timer,
    spawn,
    link,
    unlink,
    monitor,
    demonitor,
    trap_exit,
    kill,
    exit,
    is_alive,
    processes,
    process_info,
    register,
    unregister,
    whereis,
    set_label,
    kv_get,
    kv_set,
    kv_delete,
    kv_exists,
    kv_keys,
    kv_cas,
    spawn_on,
    register_global,
    whereis_global,
    nodes,
    node_of,
);
