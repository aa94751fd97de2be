//! Loading and validating `rusm.toml`, the app manifest of a RUSM node.
//!
//! A manifest declares the node's limits, its store, its lifecycle log
//! level, how resident components are supervised, custom capability
//! profiles, and the components it can spawn by name (see `MANIFEST.md`).
//! This crate turns the file into a [`Manifest`] in which every default is
//! filled in, every path is absolute and every component's profile is
//! already resolved to [`rusm_caps::Capabilities`], so the node never reads
//! TOML and never resolves a name.
//!
//! Two ideas shape it:
//!
//! - **Every problem at once, each with its place.** Reading does not stop at
//!   the first mistake: a wrong key becomes a [`Diagnostic`] in the compiler
//!   form `rusm.toml:2:1: error: ...`, the default stands in for it, and
//!   reading goes on. Positions come from `toml_edit`'s spans, so they
//!   point at the key (or, for a wrong value, at the value).
//! - **[`load`] is what `rusm run` needs, [`check`] is what `rusm check`
//!   needs.** `load` reads the file alone and fails only on errors in it; it
//!   does not touch the disk beyond picking `.wasm` or `.wat`, because a
//!   missing preopen folder must make one process fail to start, not stop the
//!   node. `check` also looks at every file and folder the manifest names.
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("rusm.toml");
//! std::fs::write(
//!     &path,
//!     r#"
//! [capabilities.worker]
//! allow-storage = true
//!
//! [components.counter]
//! capability = "worker"
//! resident = true
//!
//! [components.job]
//! capability = "admn"
//! "#,
//! )?;
//!
//! let loaded = rusm_manifest::load(&path).map_err(|errors| errors[0].to_string())?;
//! let counter = loaded.manifest.component("counter").ok_or("declared above")?;
//! assert_eq!(counter.caps.summary(), "storage mem=64M");
//! assert_eq!(counter.path, dir.path().join("wasm/counter.wasm"));
//!
//! // A misspelt profile loads, as `sandboxed`, with a warning.
//! let warning = &loaded.diagnostics[0];
//! assert_eq!((warning.line, warning.column), (10, 14));
//! assert!(warning.message.starts_with("unknown profile `admn`"));
//!
//! // `check` also finds that neither component has been built yet.
//! let findings = rusm_manifest::check(&path);
//! assert_eq!(findings.iter().filter(|d| d.is_error()).count(), 2);
//! # Ok(())
//! # }
//! ```

mod check;
mod cluster;
mod diagnostic;
mod entry;
mod http;
mod manifest;
mod read;

pub use cluster::{ClusterDecl, valid_node_name};
pub use diagnostic::{Diagnostic, Severity};
pub use http::{HttpDecl, RouteDecl};
pub use manifest::{
    ComponentDecl, DEFAULT_CONNECT_TIMEOUT, DEFAULT_MAX_CONCURRENT_REQUESTS,
    DEFAULT_MAX_MESSAGE_MB, DEFAULT_MAX_PROCESSES, DEFAULT_OBSERVER_LISTEN, DEFAULT_SHUTDOWN,
    LogLevel, Manifest, NetworkConfig, ObserverConfig, ObserverTls, Strategy, SupervisorConfig,
    UnknownLogLevel, UnknownStrategy,
};

use std::path::Path;

/// A manifest that has no errors, and the warnings found reading it.
#[derive(Clone, Debug, PartialEq)]
pub struct Loaded {
    /// The manifest, validated and with its paths resolved.
    pub manifest: Manifest,
    /// Warnings only (an unknown profile name, a profile inheriting a
    /// non-built-in), in file order.
    pub diagnostics: Vec<Diagnostic>,
}

/// Reads and type-checks the manifest at `path`.
///
/// On success the warnings come along in [`Loaded::diagnostics`]. On failure
/// the list holds every error found (and the warnings), in file order, each
/// naming `path` as it was given here.
pub fn load(path: &Path) -> Result<Loaded, Vec<Diagnostic>> {
    let outcome = read::read(path);
    let file = path.display().to_string();
    let mut diagnostics = outcome.diagnostics;
    diagnostics.extend(check::bad_inherits(
        &outcome.places,
        &file,
        Severity::Warning,
    ));
    diagnostic::sort(&mut diagnostics);
    match outcome.manifest {
        Some(manifest) if !diagnostics.iter().any(Diagnostic::is_error) => Ok(Loaded {
            manifest,
            diagnostics,
        }),
        _ => Err(diagnostics),
    }
}

/// Everything `rusm check` reports: what [`load`] finds, plus component
/// files that do not exist, preopen hosts that do not exist (warnings), a
/// store whose folder cannot be created, `allow-spawn` lists naming
/// undeclared components (warnings), and profiles inheriting something that
/// is not a built-in (errors). In file order; empty means clean.
///
/// The disk is checked even when the file has errors, as long as it parses
/// as TOML, so that one run shows every problem.
pub fn check(path: &Path) -> Vec<Diagnostic> {
    let outcome = read::read(path);
    let file = path.display().to_string();
    let mut diagnostics = outcome.diagnostics;
    if let Some(manifest) = &outcome.manifest {
        diagnostics.extend(check::bad_inherits(&outcome.places, &file, Severity::Error));
        diagnostics.extend(check::on_disk(manifest, &outcome.places, &file));
    }
    diagnostic::sort(&mut diagnostics);
    diagnostics
}
