//! Integration tests of rusm-manifest: real files in temporary folders.
//! One binary, one module per topic.

mod check;
mod cluster;
mod diagnostics;
mod http;
mod load;

use rusm_manifest::Diagnostic;
use std::path::{Path, PathBuf};

/// A temporary app folder.
pub(crate) struct App {
    pub(crate) dir: tempfile::TempDir,
}

impl Default for App {
    fn default() -> Self {
        App {
            dir: tempfile::tempdir().expect("a temporary folder"),
        }
    }
}

impl App {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Writes `rusm.toml` and returns its (absolute) path.
    pub(crate) fn manifest(&self, text: &str) -> PathBuf {
        self.file("rusm.toml", text)
    }

    /// Writes a file under the app folder, creating its folders.
    pub(crate) fn file(&self, relative: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create folders");
        }
        std::fs::write(&path, text).expect("write file");
        path
    }

    pub(crate) fn path(&self, relative: &str) -> PathBuf {
        self.dir.path().join(relative)
    }
}

/// Diagnostics as `rusm.toml:L:C: severity: message` lines, after checking
/// that each names the path it was given.
pub(crate) fn lines(diags: &[Diagnostic], given: &Path) -> Vec<String> {
    diags
        .iter()
        .map(|d| {
            assert_eq!(d.file, given.display().to_string(), "the file as given");
            Diagnostic {
                file: "rusm.toml".into(),
                ..d.clone()
            }
            .to_string()
        })
        .collect()
}

/// The errors of a manifest that must not load.
pub(crate) fn load_errors(path: &Path) -> Vec<String> {
    match rusm_manifest::load(path) {
        Ok(loaded) => panic!("expected errors, loaded {:?}", loaded.manifest),
        Err(diags) => lines(&diags, path),
    }
}
