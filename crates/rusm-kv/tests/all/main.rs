//! Integration tests of rusm-kv, against real redb files in temp dirs.
//!
//! One binary (STYLE.md), a module per topic. Tests that need a second
//! process (a node holding the file, a writer to kill) re-execute this very
//! binary on the ignored test `child::entry`; see `child.rs`.

mod child;
mod crash;
mod group_commit;
mod limits;
mod ops;
mod persistence;

use std::path::PathBuf;

use rusm_kv::Store;
use tempfile::TempDir;

/// A fresh store in its own temp dir; keep the dir alive as long as the store.
pub(crate) fn temp_store() -> (TempDir, Store) {
    let dir = tempfile::tempdir().expect("create a temp dir");
    let store = Store::open(store_path(&dir)).expect("open a fresh store");
    (dir, store)
}

pub(crate) fn store_path(dir: &TempDir) -> PathBuf {
    dir.path().join("store.redb")
}
