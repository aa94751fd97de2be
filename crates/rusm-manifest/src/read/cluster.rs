//! Reading `[cluster]` (CLUSTER.md). Every wrong key is a finding and
//! reading goes on; the PEM files' existence is for `check`.

use std::time::Duration;

use toml_edit::TableLike;

use super::{Reader, Span, resolve};
use crate::cluster::{ClusterDecl, MAX_BUSY_WAIT_US, valid_node_name};
use crate::diagnostic::Pos;

const CLUSTER_KEYS: &[&str] = &[
    "name",
    "listen",
    "join",
    "ca",
    "cert",
    "key",
    "busy-wait-us",
];

/// `ca`, `cert` and `key` as written, resolved, and where, for `check`.
pub(crate) type ClusterFiles = Vec<(String, std::path::PathBuf, Pos)>;

impl Reader<'_> {
    /// `[cluster]`; `None` (with errors) when a required key is missing.
    pub(super) fn cluster(&mut self, table: &dyn TableLike, header: Span) -> Option<ClusterDecl> {
        let mut name = None;
        let mut listen = None;
        let mut join = Vec::new();
        let (mut ca, mut cert, mut key) = (None, None, None);
        let mut busy_wait = None;
        for (k, item) in table.iter() {
            match k {
                "name" => {
                    if let Some(n) = self.string(k, item) {
                        if valid_node_name(n) {
                            name = Some(n.to_owned());
                        } else {
                            self.findings.error(
                                item.span(),
                                format!(
                                    "`name` = \"{n}\" cannot name a node: use 1 to 63 of \
                                     a-z, 0-9 and `-`, not starting or ending with `-`"
                                ),
                            );
                        }
                    }
                }
                "listen" => {
                    if let Some(text) = self.string(k, item) {
                        match text.parse() {
                            Ok(addr) => listen = Some(addr),
                            Err(_) => self.findings.error(
                                item.span(),
                                format!(
                                    "`listen` = \"{text}\" is not an address and port, \
                                     e.g. \"127.0.0.1:7400\" (UDP)"
                                ),
                            ),
                        }
                    }
                }
                "join" => {
                    let expected = "a list of members' addresses (\"HOST:PORT\")";
                    if let Some(entries) = self.spanned_strings(k, item, expected) {
                        for (text, span) in entries {
                            if has_port(&text) {
                                join.push(text);
                            } else {
                                self.findings.error(
                                    span,
                                    format!(
                                        "`join` entry \"{text}\" needs a port: \"HOST:PORT\", \
                                         e.g. \"127.0.0.1:7401\""
                                    ),
                                );
                            }
                        }
                    }
                }
                "ca" | "cert" | "key" => {
                    if let Some(written) = self.string(k, item) {
                        let path = resolve(&self.dir, written);
                        let at = self.findings.position_of(item.span());
                        self.places
                            .cluster_files
                            .push((written.to_owned(), path.clone(), at));
                        match k {
                            "ca" => ca = Some(path),
                            "cert" => cert = Some(path),
                            _ => key = Some(path),
                        }
                    }
                }
                "busy-wait-us" => {
                    if let Some(us) = self.integer::<u64>(k, item, 0) {
                        if us <= MAX_BUSY_WAIT_US {
                            busy_wait = Some(Duration::from_micros(us));
                        } else {
                            self.findings.error(
                                item.span(),
                                format!(
                                    "`busy-wait-us` = {us} is more than {MAX_BUSY_WAIT_US} \
                                     (microseconds; 0 turns busy-waiting off)"
                                ),
                            );
                        }
                    }
                }
                _ => self.unknown(table, k, "in [cluster]", CLUSTER_KEYS),
            }
        }
        let mut missing = Vec::new();
        if name.is_none() {
            missing.push("name");
        }
        if listen.is_none() {
            missing.push("listen");
        }
        if ca.is_none() {
            missing.push("ca");
        }
        if cert.is_none() {
            missing.push("cert");
        }
        if key.is_none() {
            missing.push("key");
        }
        if !missing.is_empty() {
            self.findings.error(
                header,
                format!(
                    "[cluster] needs {} (CLUSTER.md; `rusm cluster certs DIR NAME...` makes \
                     the certificates)",
                    missing
                        .iter()
                        .map(|m| format!("`{m}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            );
            return None;
        }
        Some(ClusterDecl {
            name: name?,
            listen: listen?,
            join,
            ca: ca?,
            cert: cert?,
            key: key?,
            busy_wait,
        })
    }
}

/// `HOST:PORT` or `[V6]:PORT` with a numeric port.
fn has_port(text: &str) -> bool {
    text.rsplit_once(':').is_some_and(|(host, port)| {
        !host.is_empty() && !port.is_empty() && port.parse::<u16>().is_ok()
    })
}
