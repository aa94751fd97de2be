//! `rusm dev`: `run`, and on every change of a guest's source, rebuild and
//! reload (MANIFEST.md). A build that fails is shown and changes nothing:
//! the node keeps running the code it has.
//!
//! The app's folder is watched (inotify, through `notify`); what the build
//! itself writes (`target/`, the component files, hidden files) does not
//! count as a change. Changes arriving together are built once: after the
//! first, the watcher waits until the folder has been quiet for a moment.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use notify::{RecursiveMode, Watcher};
use rusm_manifest::Manifest;
use rusm_node::Reloader;

/// How long the folder must be quiet before a rebuild: an editor's save is
/// often several writes.
const SETTLE: Duration = Duration::from_millis(150);

/// Watch `manifest`'s folder on a thread of its own for as long as the
/// process runs; each settled change rebuilds, and a good build reloads.
pub(crate) fn watch(manifest: Manifest, reloader: Reloader) -> anyhow::Result<()> {
    let (tx, rx) = mpsc::channel();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if let Ok(event) = event
            && event.kind.is_modify() | event.kind.is_create() | event.kind.is_remove()
        {
            let _ = tx.send(event.paths);
        }
    })?;
    watcher.watch(&manifest.dir, RecursiveMode::Recursive)?;
    let ignored = Ignored::new(&manifest);
    std::thread::Builder::new()
        .name("rusm-dev".into())
        .spawn(move || {
            // The watcher lives as long as this thread.
            let _watcher = watcher;
            while let Ok(paths) = rx.recv() {
                if paths.iter().all(|p| ignored.ignores(p)) {
                    continue;
                }
                // Let the burst of writes end; take what came with it.
                while rx.recv_timeout(SETTLE).is_ok() {}
                eprintln!("rusm dev: sources changed, rebuilding");
                match crate::toolchain::build_all(&manifest) {
                    Ok(true) => {
                        reloader.reload();
                    }
                    Ok(false) => {
                        eprintln!("rusm dev: the build failed; the old code keeps running")
                    }
                    Err(e) => eprintln!("rusm dev: {e:#}; the old code keeps running"),
                }
                // What the build wrote is not a change of its own.
                while rx.recv_timeout(SETTLE).is_ok() {}
            }
        })?;
    Ok(())
}

/// Paths whose changes are the build's own doing, not the user's.
struct Ignored {
    /// The app's folder: hidden names count below it only.
    app: PathBuf,
    target: PathBuf,
    outputs: Vec<PathBuf>,
}

impl Ignored {
    fn new(manifest: &Manifest) -> Self {
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| manifest.dir.join("target"));
        Ignored {
            app: manifest.dir.clone(),
            target,
            outputs: manifest.components.iter().map(|c| c.path.clone()).collect(),
        }
    }

    fn ignores(&self, path: &Path) -> bool {
        path.starts_with(&self.target)
            || self.outputs.iter().any(|o| o == path)
            // A hidden file or folder inside the app (an editor's swap
            // file, `.git`); an app that itself lives below a hidden folder
            // (`~/.local/...`, a temp dir) is watched all the same.
            || path
                .strip_prefix(&self.app)
                .unwrap_or(path)
                .components()
                .any(|c| c.as_os_str().to_string_lossy().starts_with('.'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hidden_names_count_inside_the_app_only() {
        let ignored = Ignored {
            app: PathBuf::from("/home/u/.cache/apps/web"),
            target: PathBuf::from("/home/u/.cache/apps/web/target"),
            outputs: vec![PathBuf::from("/home/u/.cache/apps/web/wasm/web.wasm")],
        };
        let ignores = |p: &str| ignored.ignores(Path::new(p));
        assert!(!ignores("/home/u/.cache/apps/web/src/lib.rs"));
        assert!(ignores("/home/u/.cache/apps/web/src/.lib.rs.swp"));
        assert!(ignores("/home/u/.cache/apps/web/.git/index"));
        assert!(ignores("/home/u/.cache/apps/web/target/release/web.wasm"));
        assert!(ignores("/home/u/.cache/apps/web/wasm/web.wasm"));
    }
}
