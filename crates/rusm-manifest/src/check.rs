//! What `rusm check` adds to reading: looking at everything the manifest
//! names. Files and folders are checked here rather than while reading,
//! because `rusm run` must boot even when, say, a preopen host is missing
//! (that one process fails to start instead), while `rusm check` should
//! say so up front.

use crate::diagnostic::{Diagnostic, Severity};
use crate::manifest::Manifest;
use crate::read::Places;
use rusm_caps::BUILTIN_PROFILES;
use std::path::Path;

/// Custom profiles whose `inherits` is not a built-in. Loading reports them
/// as warnings (the profile starts from `sandboxed`, the node still boots),
/// checking as errors, since the manifest does not say what it means.
pub(crate) fn bad_inherits(places: &Places, file: &str, severity: Severity) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for profile in &places.profiles {
        let Some((base, at)) = &profile.bad_inherits else {
            continue;
        };
        let chained = places.profiles.iter().any(|p| p.name == *base);
        let mut message = format!(
            "`inherits = \"{base}\"` names no built-in profile (expected one of: {}): \
             `{}` starts from `sandboxed`",
            BUILTIN_PROFILES.join(", "),
            profile.name
        );
        if chained {
            message.push_str(&format!(
                "; custom profiles cannot be inherited, copy the grants of `{base}` instead"
            ));
        }
        out.push(Diagnostic::at(severity, file, *at, message));
    }
    out
}

/// Every finding about files, folders and names that reading alone cannot
/// make.
pub(crate) fn on_disk(manifest: &Manifest, places: &Places, file: &str) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let mut push = |severity, at, message| out.push(Diagnostic::at(severity, file, at, message));

    for (component, place) in manifest.components.iter().zip(&places.components) {
        let path = &component.path;
        if path.is_dir() {
            push(
                Severity::Error,
                place.at,
                format!(
                    "component file `{}` is a folder, not a .wasm or .wat file",
                    place.written
                ),
            );
        } else if !path.exists() {
            let message = if place.defaulted {
                format!(
                    "component `{}` has no file: neither `wasm/{name}.wasm` nor `wasm/{name}.wat` \
                     exists; build it there or set `path`",
                    component.name,
                    name = component.name
                )
            } else {
                format!(
                    "component file `{}` does not exist: build it, or fix `path`",
                    place.written
                )
            };
            push(Severity::Error, place.at, message);
        }
    }

    for (written, path, at) in &places.extra_roots {
        if !path.is_file() {
            push(
                Severity::Error,
                *at,
                format!(
                    "extra-roots file `{written}` does not exist: outgoing HTTPS cannot trust it"
                ),
            );
        }
    }

    for profile in &places.profiles {
        for (written, host, at) in &profile.preopens {
            let problem = if !host.exists() {
                "does not exist"
            } else if !host.is_dir() {
                "is not a folder"
            } else {
                continue;
            };
            push(
                Severity::Warning,
                *at,
                format!(
                    "preopen host `{written}` {problem}: processes under `{}` will fail to start",
                    profile.name
                ),
            );
        }
        for (name, at) in &profile.spawn_names {
            if manifest.component(name).is_none() {
                push(
                    Severity::Warning,
                    *at,
                    format!(
                        "`allow-spawn` names `{name}`, which is not a component of this \
                         manifest: only a host registration can make it spawnable"
                    ),
                );
            }
        }
    }

    for (written, path, at) in &places.http.files {
        if !path.is_file() {
            push(
                Severity::Error,
                *at,
                format!("TLS file `{written}` does not exist (or is not a file)"),
            );
        }
    }
    // A route to a component that cannot serve it: the runtime would
    // answer every request 500 (`failed to start`); say so now.
    for (name, at, websocket) in &places.http.components {
        let Some(c) = manifest.component(name) else {
            continue;
        };
        let Some(entries) = crate::entry::read(&c.path) else {
            continue;
        };
        let message = if *websocket {
            (!entries.serves_websocket()).then(|| {
                format!(
                    "`{name}` cannot be a WebSocket connection process: it is {}, and a \
                     connection process needs a `run` entry (a core module's `run` or \
                     `_start`, a component's `run` or `wasi:cli/run`)",
                    entries.describe()
                )
            })
        } else if !entries.component {
            Some(format!(
                "`{name}` is a core module, and an HTTP handler must be a component \
                 exporting `wasi:http/incoming-handler` (preview 1 has no HTTP)"
            ))
        } else if !entries.serves_http() {
            let why = if entries.handler {
                "; its `run` entry is started instead, so a request never reaches `handle`"
            } else {
                ""
            };
            Some(format!(
                "`{name}` cannot serve HTTP: it is {}, and an HTTP handler must be a \
                 component exporting `wasi:http/incoming-handler` (the `wasi:http/proxy` \
                 world){why}",
                entries.describe()
            ))
        } else {
            None
        };
        if let Some(message) = message {
            push(Severity::Error, *at, message);
        }
    }
    for (written, path, at) in &places.cluster_files {
        if !path.is_file() {
            push(
                Severity::Error,
                *at,
                format!(
                    "cluster file `{written}` does not exist (or is not a file): \
                     `rusm cluster certs DIR NAME...` makes a CA and node certificates"
                ),
            );
        }
    }
    if let Some((written, path, at)) = &places.observer_token {
        let problem = match std::fs::read_to_string(path) {
            Ok(token) if token.trim().is_empty() => Some("is empty"),
            Ok(_) => None,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Some("does not exist"),
            Err(_) => Some("cannot be read"),
        };
        if let Some(problem) = problem {
            push(
                Severity::Error,
                *at,
                format!(
                    "observer token file `{written}` {problem}: put a long random token in it \
                     (e.g. `head -c 32 /dev/urandom | base64 > {written}`)"
                ),
            );
        }
    }

    if let (Some(store), Some((written, at))) = (&manifest.store, &places.store)
        && let Some(message) = store_problem(store, written)
    {
        push(Severity::Error, *at, message);
    }
    out
}

/// Why the store file could not be created (with its folders) on first use.
fn store_problem(store: &Path, written: &str) -> Option<String> {
    if store.is_dir() {
        return Some(format!(
            "store `{written}` is a folder: name a file in it, e.g. \"{}/app.redb\"",
            written.trim_end_matches('/')
        ));
    }
    if store.exists() {
        return None;
    }
    // The nearest ancestor that exists must be a folder to create the rest in.
    let existing = store.ancestors().skip(1).find(|a| a.exists())?;
    if existing.is_dir() {
        None
    } else {
        Some(format!(
            "store `{written}` cannot be created: `{}` is a file, not a folder",
            existing.display()
        ))
    }
}
