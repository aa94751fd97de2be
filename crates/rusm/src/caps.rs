//! `rusm caps`: the resolved grants of profiles and components.

use std::process::ExitCode;

use rusm_caps::{BUILTIN_PROFILES, Capabilities};
use rusm_manifest::Manifest;

/// One line per profile and component in the words of the lifecycle log's
/// spawn lines, then its grants in full, indented:
///
/// ```text
/// profile trusted: net listen spawn control storage stdio mem=1024M
///   hosts *
///   global-names
///   limits queued=1024M procs=node-cap mailbox=unbounded files=4096
/// ```
///
/// The first line leaves out what its profile has by default (see
/// `Capabilities::summary`); the indented lines do not, so that every grant
/// shows here even where the log line is short.
pub(crate) fn print(manifest: Option<&Manifest>, name: Option<&str>) -> anyhow::Result<ExitCode> {
    let mut lines = Vec::new();
    for builtin in BUILTIN_PROFILES {
        let caps = Capabilities::builtin(builtin).expect("a built-in profile");
        lines.push((
            builtin.to_string(),
            format!("profile {builtin}: {}", caps.summary()),
        ));
        push_details(&mut lines, builtin, &caps);
    }
    if let Some(m) = manifest {
        for p in m.profiles.names() {
            let r = m.profiles.resolve(p);
            let base = m
                .profiles
                .get(p)
                .and_then(|o| o.inherits.clone())
                .unwrap_or_else(|| "sandboxed".into());
            lines.push((
                p.to_string(),
                format!("profile {p} (inherits {base}): {}", r.caps.summary()),
            ));
            push_details(&mut lines, p, &r.caps);
        }
        for c in &m.components {
            let resident = if c.resident { ", resident" } else { "" };
            lines.push((
                c.name.clone(),
                format!(
                    "component {} ({}{resident}): {}",
                    c.name,
                    c.capability,
                    c.caps.summary()
                ),
            ));
            push_details(&mut lines, &c.name, &c.caps);
        }
    }
    let selected: Vec<&String> = lines
        .iter()
        .filter(|(n, _)| name.is_none_or(|want| want == n))
        .map(|(_, l)| l)
        .collect();
    if selected.is_empty() {
        let name = name.unwrap_or_default();
        anyhow::bail!("no profile or component named `{name}` (see `rusm caps` for all of them)");
    }
    for l in selected {
        println!("{l}");
    }
    Ok(ExitCode::SUCCESS)
}

/// The indented lines under a profile or component: the hosts it may
/// reach, each preopen, the
/// environment keys, global names when granted, and every limit with its
/// value, defaults included.
fn push_details(lines: &mut Vec<(String, String)>, name: &str, caps: &Capabilities) {
    let mut push = |line: String| lines.push((name.to_owned(), line));
    if caps.allow_network {
        // Where `net` may go, in full: `public` (the default: no internal
        // address), `*`, or the `allow-hosts` entries.
        push(format!(
            "  hosts {}",
            caps.host_policy().describe().replace(',', " ")
        ));
    }
    for p in &caps.preopens {
        let mode = if p.read_only { "ro" } else { "rw" };
        push(format!("  fs {} -> {} ({mode})", p.host.display(), p.guest));
    }
    if !caps.env.is_empty() {
        push(format!("  env {}", caps.env.join(" ")));
    }
    if caps.allow_global_names {
        push("  global-names".to_owned());
    }
    // The same words as the summary's, so a line of the log reads the same.
    let procs = caps
        .max_processes
        .map_or_else(|| "node-cap".to_owned(), |n| n.to_string());
    let mailbox = caps
        .mailbox_capacity
        .map_or_else(|| "unbounded".to_owned(), |n| n.to_string());
    push(format!(
        "  limits queued={}M procs={procs} mailbox={mailbox} files={}",
        caps.max_queued_mb, caps.max_open_files
    ));
}
