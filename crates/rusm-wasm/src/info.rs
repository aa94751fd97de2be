//! `process_info`: one field set, two encodings.
//!
//! The field set is the WIT record `process-info` ([`ProcessInfo`]). The
//! component shape returns the record; the core-module ABI writes it as a
//! JSON object with the same fields in snake_case ([`to_json`]), which
//! destructures the record whole, so a field added to the WIT cannot be
//! missing from the JSON. The guest library (`guests/rusm-guest`) turns
//! the record back into this JSON byte for byte: keys sorted, compact.

pub(crate) use crate::bindings::rusm::runtime::types::ProcessInfo;

/// The contract's view of what rusm-core knows about a process.
/// `component` is the name it was spawned under; the caller keeps it only
/// when it names a registered component.
pub(crate) fn record(info: rusm_core::ProcessInfo) -> ProcessInfo {
    ProcessInfo {
        pid: info.pid.get(),
        component: info.name,
        label: info.label,
        names: info.names,
        links: info.links.iter().map(|p| p.get()).collect(),
        monitored_by: info.monitored_by.iter().map(|p| p.get()).collect(),
        mailbox_len: info.mailbox_len,
        trap_exit: info.trap_exit,
        memory_bytes: info.memory_bytes,
    }
}

/// The record as the core-module ABI's JSON object (ABI.md).
pub(crate) fn to_json(info: &ProcessInfo) -> String {
    let ProcessInfo {
        pid,
        component,
        label,
        names,
        links,
        monitored_by,
        mailbox_len,
        trap_exit,
        memory_bytes,
    } = info;
    serde_json::json!({
        "pid": pid,
        "component": component,
        "label": label,
        "names": names,
        "links": links,
        "monitored_by": monitored_by,
        "mailbox_len": mailbox_len,
        "trap_exit": trap_exit,
        "memory_bytes": memory_bytes,
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The guest library's `info_json` test expects this exact text for
    /// the same record: the two must not drift.
    #[test]
    fn json_is_what_the_guest_library_rebuilds() {
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
            to_json(&info),
            r#"{"component":"pong","label":null,"links":[1,2],"mailbox_len":3,"memory_bytes":65536,"monitored_by":[],"names":["a\"b","c\n"],"pid":4,"trap_exit":true}"#
        );
    }
}
