//! What a guest file can be started as, read from its exports without
//! compiling it: `rusm check` uses it to say that a route's component
//! cannot serve the route (an HTTP route needs a
//! `wasi:http/incoming-handler` component, a WebSocket route a process
//! with a `run` entry), the same way the runtime will decide at spawn.
//!
//! Only the names of the top-level exports are read (no validation, no
//! types): a file that does not parse is not this check's business, the
//! runtime reports it when it loads the file.

use std::path::Path;

/// The entry points a guest exports, in the order the runtime picks them
/// (rusm-wasm's `ComponentEntry::new`: an actor's `run`, then
/// `wasi:cli/run`, then `wasi:http/incoming-handler`).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Entries {
    /// A component (else a core module).
    pub(crate) component: bool,
    /// `run` (a core module's `run` or `_start`, a component's `run`).
    pub(crate) run: bool,
    /// A component's `wasi:cli/run@0.2.*`.
    pub(crate) command: bool,
    /// A component's `wasi:http/incoming-handler@0.2.*`.
    pub(crate) handler: bool,
}

impl Entries {
    /// Whether a request process of it runs `handle`: the runtime takes a
    /// component's `run` or `wasi:cli/run` before its handler.
    pub(crate) fn serves_http(&self) -> bool {
        self.component && self.handler && !self.run && !self.command
    }

    /// Whether it can be a WebSocket connection process (a `run` entry).
    pub(crate) fn serves_websocket(&self) -> bool {
        self.run || self.command
    }

    /// What it exports, for a message: "exports only `wasi:http/...`".
    pub(crate) fn describe(&self) -> String {
        let mut names = Vec::new();
        if self.run {
            names.push(if self.component {
                "`run`"
            } else {
                "`run`/`_start`"
            });
        }
        if self.command {
            names.push("`wasi:cli/run`");
        }
        if self.handler {
            names.push("`wasi:http/incoming-handler`");
        }
        let shape = if self.component {
            "a component"
        } else {
            "a core module"
        };
        if names.is_empty() {
            format!("{shape} with no entry point")
        } else {
            format!("{shape} exporting {}", names.join(" and "))
        }
    }
}

/// The entries of the guest at `path` (`.wasm` or `.wat`); `None` when it
/// cannot be read or parsed (reported elsewhere, or when it is loaded).
pub(crate) fn read(path: &Path) -> Option<Entries> {
    let bytes = std::fs::read(path).ok()?;
    let binary = wat::parse_bytes(&bytes).ok()?;
    exports(&binary)
}

fn exports(binary: &[u8]) -> Option<Entries> {
    use wasmparser::{Encoding, ExternalKind, Parser, Payload};
    let mut entries = Entries::default();
    // Nested modules and components have exports of their own: only the
    // outermost one's count.
    let mut depth = 0usize;
    for payload in Parser::new(0).parse_all(binary) {
        match payload.ok()? {
            Payload::Version { encoding, .. } => {
                if depth == 0 {
                    entries.component = encoding == Encoding::Component;
                }
                depth += 1;
            }
            Payload::End(_) => depth = depth.saturating_sub(1),
            Payload::ExportSection(section) if depth == 1 => {
                for export in section {
                    let export = export.ok()?;
                    if export.kind == ExternalKind::Func
                        && (export.name == "run" || export.name == "_start")
                    {
                        entries.run = true;
                    }
                }
            }
            Payload::ComponentExportSection(section) if depth == 1 => {
                for export in section {
                    let name = export.ok()?.name.name;
                    let interface = |prefix: &str| {
                        name.strip_prefix(prefix)
                            .is_some_and(|v| v.is_empty() || v.starts_with("@0.2"))
                    };
                    if name == "run" {
                        entries.run = true;
                    } else if interface("wasi:cli/run") {
                        entries.command = true;
                    } else if interface("wasi:http/incoming-handler") {
                        entries.handler = true;
                    }
                }
            }
            _ => {}
        }
    }
    Some(entries)
}
