//! `check`: what `load` finds plus everything the manifest names on disk.

use crate::{App, lines};
use rusm_manifest::{Severity, check};

#[test]
fn the_spec_example_is_clean_once_its_components_are_built() {
    let app = App::new();
    let path = app.manifest(crate::load::SPEC_EXAMPLE);
    app.file("wasm/counter.wasm", "");
    app.file("wasm/job.wat", "(module)");
    assert_eq!(lines(&check(&path), &path), Vec::<String>::new());
}

#[test]
fn missing_component_files_are_errors() {
    let app = App::new();
    let path = app.manifest(
        "[components.given]\npath = \"build/given.wasm\"\n\n[components.job]\nresident = true\n",
    );
    assert_eq!(
        lines(&check(&path), &path),
        [
            "rusm.toml:2:8: error: component file `build/given.wasm` does not exist: build it, \
             or fix `path`",
            "rusm.toml:4:13: error: component `job` has no file: neither `wasm/job.wasm` nor \
             `wasm/job.wat` exists; build it there or set `path`",
        ]
    );
    std::fs::create_dir_all(app.path("build/given.wasm")).expect("a folder in the way");
    app.file("wasm/job.wat", "(module)");
    assert_eq!(
        lines(&check(&path), &path),
        [
            "rusm.toml:2:8: error: component file `build/given.wasm` is a folder, not a .wasm or \
          .wat file"
        ]
    );
}

#[test]
fn a_missing_preopen_host_is_a_warning() {
    let app = App::new();
    let path = app.manifest(
        "[capabilities.disk]\nallow-stdio = true\ninherits = \"sandboxed\"\n\
         preopen = [{ host = \"./data\", guest = \"/data\" }]\n",
    );
    let findings = check(&path);
    assert_eq!(
        lines(&findings, &path),
        [
            "rusm.toml:4:12: warning: preopen host `./data` does not exist: processes under `disk` \
          will fail to start"
        ]
    );
    assert_eq!(findings[0].severity, Severity::Warning);
    // `load` does not look at the disk: `rusm run` still boots.
    assert!(
        rusm_manifest::load(&path)
            .expect("valid")
            .diagnostics
            .is_empty()
    );

    app.file("data", "a file, not a folder");
    assert_eq!(
        lines(&check(&path), &path),
        [
            "rusm.toml:4:12: warning: preopen host `./data` is not a folder: processes under `disk` \
          will fail to start"
        ]
    );

    std::fs::remove_file(app.path("data")).expect("remove");
    std::fs::create_dir(app.path("data")).expect("create");
    assert!(check(&path).is_empty());
}

#[test]
fn an_unknown_profile_is_a_warning() {
    let app = App::new();
    app.file("wasm/root.wasm", "");
    let path = app.manifest("[components.root]\ncapability = \"admn\"\n");
    let findings = check(&path);
    assert_eq!(
        lines(&findings, &path),
        ["rusm.toml:2:14: warning: unknown profile `admn`: the component runs as `sandboxed`"]
    );
    assert_eq!(
        findings.iter().map(|d| d.severity).max(),
        Some(Severity::Warning)
    );
}

#[test]
fn inheriting_a_non_builtin_is_an_error() {
    let app = App::new();
    let path = app.manifest("[capabilities.a]\ninherits = \"admin\"\n");
    assert_eq!(
        lines(&check(&path), &path),
        [
            "rusm.toml:2:12: error: `inherits = \"admin\"` names no built-in profile (expected one \
          of: sandboxed, network-client, trusted): `a` starts from `sandboxed`"
        ]
    );
}

#[test]
fn the_store_folder_must_be_creatable() {
    let app = App::new();
    // Folders that do not exist yet are created on first use.
    let path = app.manifest("store = \"data/deep/app.redb\"\n");
    assert!(check(&path).is_empty());

    app.file("data", "a file where a folder should be");
    assert_eq!(
        lines(&check(&path), &path),
        [format!(
            "rusm.toml:1:9: error: store `data/deep/app.redb` cannot be created: `{}` is a file, \
             not a folder",
            app.path("data").display()
        )]
    );

    std::fs::create_dir(app.path("store")).expect("create");
    let path = app.manifest("store = \"store\"\n");
    assert_eq!(
        lines(&check(&path), &path),
        [
            "rusm.toml:1:9: error: store `store` is a folder: name a file in it, e.g. \
          \"store/app.redb\""
        ]
    );
}

#[test]
fn spawn_lists_naming_undeclared_components_are_warnings() {
    let app = App::new();
    app.file("wasm/job.wasm", "");
    let path = app
        .manifest("[capabilities.boss]\nallow-spawn = [\"job\", \"wrkr\"]\n\n[components.job]\n");
    assert_eq!(
        lines(&check(&path), &path),
        [
            "rusm.toml:2:23: warning: `allow-spawn` names `wrkr`, which is not a component of this \
          manifest: only a host registration can make it spawnable"
        ]
    );
}

#[test]
fn the_disk_is_checked_even_when_the_file_has_errors() {
    let app = App::new();
    let path = app.manifest(
        "[supervisor]\nstrategy = \"sometimes\"\n\n[components.root]\ncapability = \"admn\"\n",
    );
    assert_eq!(
        lines(&check(&path), &path),
        [
            "rusm.toml:2:12: error: unknown strategy `sometimes` (expected one of: one-for-one, \
             one-for-all, rest-for-one)",
            "rusm.toml:4:13: error: component `root` has no file: neither `wasm/root.wasm` nor \
             `wasm/root.wat` exists; build it there or set `path`",
            "rusm.toml:5:14: warning: unknown profile `admn`: the component runs as `sandboxed`",
        ]
    );
}

#[test]
fn a_syntax_error_stops_at_the_syntax_error() {
    let app = App::new();
    let path = app.manifest("[components.root\n");
    let findings = check(&path);
    assert_eq!(findings.len(), 1);
    assert!(findings[0].is_error());
    assert_eq!((findings[0].line, findings[0].column), (1, 17));
}

#[test]
fn a_missing_extra_root_is_an_error() {
    let app = App::new();
    let path = app.manifest("[network]\nextra-roots = [\"certs/ca.pem\", \"certs/here.pem\"]\n");
    app.file("certs/here.pem", "a PEM file");
    assert_eq!(
        lines(&check(&path), &path),
        [
            "rusm.toml:2:16: error: extra-roots file `certs/ca.pem` does not exist: outgoing \
          HTTPS cannot trust it"
        ]
    );
}
