//! The component backend: the `rusm:runtime@0.1.0` world `actor`, bound by
//! wit-bindgen from the runtime's own `rusm.wit`, wrapped into the safe
//! internal calls `sys` promises.
//!
//! The canonical ABI already passes lists, strings and options, so this
//! backend has no `unsafe` and no buffer retries; what is left is mapping
//! the WIT's types onto the module ABI's terms the library is written in:
//! `u64` pids and timer ids to `i64`, the `error` enum to [`Error`],
//! `option<pid>` from `whereis` and `whereis-global` to `Err(NotFound)`,
//! and the `process-info` record to the JSON object the module ABI's
//! `process_info` returns.

use crate::error::{Error, Result};
use crate::message::{Kind, Message};
use crate::process::Pid;

/// The generated bindings. Public (through `__private`) because the
/// `run` export is generated in the guest's own crate by [`crate::main!`],
/// which names the `Guest` trait and the `export!` macro from here.
#[cfg(not(feature = "http"))]
pub mod bindings {
    wit_bindgen::generate!({
        // The runtime's copy of the contract (identical to shared/spec's):
        // one file, so guest and host cannot disagree on the world.
        path: "../../crates/rusm-wasm/wit",
        world: "actor",
        // `main!` runs in the guest's crate: the export macro must be
        // reachable from there, at a path `main!` can spell with `$crate`.
        pub_export_macro: true,
        export_macro_name: "export_actor",
        default_bindings_module: "rusm_guest::__private::bindings",
    });
}

/// With the `http` feature: the world `http-actor` (`process` and `kv`
/// plus `include wasi:http/proxy`), whose export is
/// `wasi:http/incoming-handler` instead of `run`; `http_main!` exports it.
/// The wasi:http WIT comes from the same folder's `deps/`.
#[cfg(feature = "http")]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../crates/rusm-wasm/wit",
        world: "http-actor",
        pub_export_macro: true,
        export_macro_name: "export_http_actor",
        // wasi:io, wasi:clocks, wasi:http ...: bound here too, nowhere else.
        generate_all,
        default_bindings_module: "rusm_guest::__private::bindings",
    });
}

use bindings::rusm::runtime::types::{Error as WitError, MessageKind, ProcessInfo};
use bindings::rusm::runtime::{cluster, kv, process};

impl From<WitError> for Error {
    fn from(error: WitError) -> Error {
        match error {
            WitError::NoProcess => Error::NoProcess,
            WitError::Denied => Error::Denied,
            WitError::Invalid => Error::Invalid,
            WitError::Timeout => Error::Timeout,
            WitError::NoStore => Error::NoStore,
            WitError::Exists => Error::Exists,
            WitError::NotFound => Error::NotFound,
            WitError::Limit => Error::Limit,
        }
    }
}

/// The WIT's `result<T, error>` as the library's `Result`.
fn lift<T>(result: core::result::Result<T, WitError>) -> Result<T> {
    result.map_err(Error::from)
}

/// Pids are `u64` in the WIT and `i64` in the module ABI and the public
/// API; both are always > 0, so the casts never change a real pid.
fn pid(raw: i64) -> u64 {
    raw as u64
}

pub(crate) fn own_pid() -> i64 {
    process::own_pid() as i64
}

pub(crate) fn send(to: i64, tag: i64, data: &[u8]) -> Result<()> {
    lift(process::send(pid(to), tag, data))
}

pub(crate) fn receive(tags: &[i64], timeout_ms: Option<u64>) -> Result<Message> {
    let message = lift(process::receive(tags, timeout_ms))?;
    let kind = match message.kind {
        MessageKind::Data => Kind::Data,
        MessageKind::Exit => Kind::Exit,
        MessageKind::Down => Kind::Down,
    };
    Ok(Message { kind, sender: Pid::from_raw(message.sender as i64), tag: message.tag, data: message.data })
}

pub(crate) fn make_ref() -> i64 {
    process::make_ref()
}

pub(crate) fn sleep(ms: u64) {
    process::sleep(ms)
}

pub(crate) fn send_after(to: i64, tag: i64, data: &[u8], delay_ms: u64) -> Result<i64> {
    // The WIT signature has no error case: the host refuses a message it
    // would refuse to `send` (over the size cap) by answering timer id 0,
    // which never fires. The module ABI says `LIMIT` there; so do we.
    match process::send_after(pid(to), tag, data, delay_ms) {
        0 => Err(Error::Limit),
        id => Ok(id as i64),
    }
}

pub(crate) fn cancel_timer(id: i64) -> bool {
    process::cancel_timer(id as u64)
}

pub(crate) fn spawn(name: &str, arg: &[u8], link: bool) -> Result<i64> {
    lift(process::spawn(name, arg, link)).map(|child| child as i64)
}

pub(crate) fn link(to: i64) -> Result<()> {
    lift(process::link(pid(to)))
}

pub(crate) fn unlink(to: i64) -> Result<()> {
    lift(process::unlink(pid(to)))
}

pub(crate) fn monitor(target: i64) -> Result<i64> {
    lift(process::monitor(pid(target)))
}

pub(crate) fn demonitor(reference: i64) -> Result<()> {
    lift(process::demonitor(reference))
}

pub(crate) fn trap_exit(on: bool) -> bool {
    process::trap_exit(on)
}

pub(crate) fn kill(target: i64) -> Result<()> {
    lift(process::kill(pid(target)))
}

pub(crate) fn exit(reason: &str) -> ! {
    // The host ends the process inside this call (a trap carrying the
    // reason), so control never comes back here.
    process::exit(reason);
    unreachable!("rusm:runtime/process.exit returned")
}

pub(crate) fn is_alive(target: i64) -> bool {
    process::is_alive(pid(target))
}

pub(crate) fn processes() -> Result<Vec<i64>> {
    lift(process::processes()).map(|pids| pids.into_iter().map(|p| p as i64).collect())
}

pub(crate) fn process_info(target: i64) -> Result<String> {
    lift(process::info(pid(target))).map(|info| info_json(&info))
}

pub(crate) fn register(name: &str) -> Result<()> {
    lift(process::register(name))
}

pub(crate) fn unregister(name: &str) -> Result<()> {
    lift(process::unregister(name))
}

pub(crate) fn whereis(name: &str) -> Result<i64> {
    process::whereis(name).map(|p| p as i64).ok_or(Error::NotFound)
}

pub(crate) fn set_label(label: &str) {
    process::set_label(label)
}

pub(crate) fn kv_get(bucket: &str, key: &str) -> Result<Option<Vec<u8>>> {
    lift(kv::get(bucket, key))
}

pub(crate) fn kv_set(bucket: &str, key: &str, value: &[u8]) -> Result<()> {
    lift(kv::set(bucket, key, value))
}

pub(crate) fn kv_delete(bucket: &str, key: &str) -> Result<bool> {
    lift(kv::delete(bucket, key))
}

pub(crate) fn kv_exists(bucket: &str, key: &str) -> Result<bool> {
    lift(kv::exists(bucket, key))
}

pub(crate) fn kv_keys(bucket: &str, prefix: &str) -> Result<Vec<String>> {
    lift(kv::keys(bucket, prefix))
}

pub(crate) fn kv_cas(bucket: &str, key: &str, expected: Option<&[u8]>, new: &[u8]) -> Result<bool> {
    lift(kv::compare_and_swap(bucket, key, expected, new))
}

pub(crate) fn spawn_on(node: &str, name: &str, arg: &[u8], link: bool) -> Result<i64> {
    lift(cluster::spawn_on(node, name, arg, link)).map(|child| child as i64)
}

pub(crate) fn register_global(name: &str) -> Result<()> {
    lift(cluster::register_global(name))
}

pub(crate) fn whereis_global(name: &str) -> Result<i64> {
    cluster::whereis_global(name).map(|p| p as i64).ok_or(Error::NotFound)
}

pub(crate) fn nodes() -> Vec<String> {
    cluster::nodes()
}

pub(crate) fn node_of(target: i64) -> Result<String> {
    lift(cluster::node_of(pid(target)))
}

/// The `process-info` record as the module ABI's `process_info` writes it:
/// the WIT's fields in snake_case, keys in sorted order, compact — the
/// host's JSON byte for byte, so [`crate::info`] means the same text in
/// both shapes.
fn info_json(info: &ProcessInfo) -> String {
    use core::fmt::Write;
    let mut json = String::with_capacity(192);
    let opt = |s: &Option<String>| s.as_deref().map_or_else(|| "null".to_owned(), json_string);
    let pids = |ps: &[u64]| ps.iter().map(u64::to_string).collect::<Vec<_>>().join(",");
    let names = info.names.iter().map(|n| json_string(n)).collect::<Vec<_>>().join(",");
    // Writing to a String cannot fail.
    let _ = write!(
        json,
        r#"{{"component":{},"label":{},"links":[{}],"mailbox_len":{},"memory_bytes":{},"monitored_by":[{}],"names":[{}],"pid":{},"trap_exit":{}}}"#,
        opt(&info.component),
        opt(&info.label),
        pids(&info.links),
        info.mailbox_len,
        info.memory_bytes,
        pids(&info.monitored_by),
        names,
        info.pid,
        info.trap_exit,
    );
    json
}

/// `text` as a JSON string, escaped as the host's serde_json escapes it.
fn json_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if c < ' ' => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_is_the_hosts_json() {
        let info = ProcessInfo {
            pid: 4,
            component: Some("pong".to_owned()),
            label: None,
            names: vec!["a\"b".to_owned(), "c\n".to_owned()],
            links: vec![1, 2],
            monitored_by: vec![],
            mailbox_len: 3,
            trap_exit: true,
            memory_bytes: 65536,
        };
        assert_eq!(
            info_json(&info),
            r#"{"component":"pong","label":null,"links":[1,2],"mailbox_len":3,"memory_bytes":65536,"monitored_by":[],"names":["a\"b","c\n"],"pid":4,"trap_exit":true}"#
        );
    }

    #[test]
    fn control_characters_are_escaped_like_serde_json() {
        assert_eq!(json_string("\u{1}\u{8}\u{c}\t\\é"), r#""\u0001\b\f\t\\é""#);
    }

    #[test]
    fn wit_errors_are_the_abi_errors() {
        assert_eq!(Error::from(WitError::NoProcess).code(), Some(-1));
        assert_eq!(Error::from(WitError::Limit).code(), Some(-8));
    }
}
