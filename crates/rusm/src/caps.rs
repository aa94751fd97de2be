//! `rusm caps`: the resolved grants of profiles and components.

use std::process::ExitCode;

use rusm_caps::{BUILTIN_PROFILES, Capabilities};
use rusm_manifest::Manifest;

/// One line per profile and component:
/// `profile trusted: net listen spawn control storage stdio mem=1024M`.
pub fn print(manifest: Option<&Manifest>, name: Option<&str>) -> anyhow::Result<ExitCode> {
    let mut lines = Vec::new();
    for builtin in BUILTIN_PROFILES {
        let caps = Capabilities::builtin(builtin).expect("a built-in profile");
        lines.push((
            builtin.to_string(),
            format!("profile {builtin}: {}", caps.summary()),
        ));
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
            for p in &c.caps.preopens {
                let mode = if p.read_only { "ro" } else { "rw" };
                lines.push((
                    c.name.clone(),
                    format!("  fs {} -> {} ({mode})", p.host.display(), p.guest),
                ));
            }
            if !c.caps.env.is_empty() {
                lines.push((c.name.clone(), format!("  env {}", c.caps.env.join(" "))));
            }
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
