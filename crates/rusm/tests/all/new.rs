//! `rusm new` and `rusm build` where no guest toolchain is needed: what
//! the templates write, the names and places refused, and a build that
//! names the tool it is missing. (Building and running each template for
//! real needs the wasm toolchains: `guests/run-tests.sh` does it.)

use crate::App;

#[test]
fn the_actor_template_writes_an_app_with_its_own_guest_library() {
    let app = App::new();
    let out = app.rusm(&["new", "hello-app"]);
    out.assert_code(0);
    let dir = app.path().join("hello-app");
    for file in [
        "rusm.toml",
        "README.md",
        "Cargo.toml",
        "src/lib.rs",
        "rusm-guest/Cargo.toml",
        "rusm-guest/src/lib.rs",
        "rusm-guest/src/sys/component.rs",
        "rusm-guest/wit/rusm.wit",
        "rusm-guest/wit/deps/http.wit",
    ] {
        assert!(dir.join(file).is_file(), "no {file}: {}", out.show());
    }
    // The library's copy finds the contract next to it, not in this repo.
    let bindings =
        std::fs::read_to_string(dir.join("rusm-guest/src/sys/component.rs")).expect("read");
    assert!(bindings.contains("path: \"wit\""), "{bindings}");
    assert!(!bindings.contains("crates/rusm-wasm"));
    // Its manifest is valid: the only error before a build is the missing
    // guest file, which `rusm build` makes.
    let check = app.command_in(&dir, &["check"]);
    let check = crate::Running::start(check).finish(crate::DEADLINE);
    let errors: Vec<_> = check
        .stdout
        .lines()
        .chain(check.stderr.lines())
        .filter(|l| l.contains("error"))
        .collect();
    assert!(
        errors.len() == 1 && errors[0].contains("wasm/hello-app.wasm"),
        "{}",
        check.show()
    );
    let caps =
        crate::Running::start(app.command_in(&dir, &["caps", "hello-app"])).finish(crate::DEADLINE);
    caps.assert_code(0);
    assert!(caps.stdout.contains("stdio"), "{}", caps.show());
}

#[test]
fn the_c_template_writes_its_source_and_header() {
    let app = App::new();
    app.rusm(&["new", "c-app", "--template", "c"])
        .assert_code(0);
    let dir = app.path().join("c-app");
    for file in ["rusm.toml", "README.md", "c-app.c", "include/rusm.h"] {
        assert!(dir.join(file).is_file(), "no {file}");
    }
}

#[test]
fn new_refuses_bad_names_existing_folders_and_the_missing_template() {
    let app = App::new();
    let out = app.rusm(&["new", "Bad Name"]);
    out.assert_code(2);
    assert!(out.stderr.contains("cannot name an app"), "{}", out.show());
    app.write("taken/keep.txt", "mine");
    let out = app.rusm(&["new", "taken"]);
    out.assert_code(2);
    assert!(out.stderr.contains("already exists"), "{}", out.show());
    assert_eq!(
        std::fs::read_to_string(app.path().join("taken/keep.txt")).expect("kept"),
        "mine"
    );
    let out = app.rusm(&["new", "web", "--template", "http"]);
    out.assert_code(2);
    assert!(out.stderr.contains("not available"), "{}", out.show());
    assert!(!app.path().join("web").exists());
}

#[test]
fn build_names_the_missing_tool_and_fails() {
    let app = App::new();
    app.rusm(&["new", "c-app", "--template", "c"])
        .assert_code(0);
    let dir = app.path().join("c-app");
    // No clang on this PATH (an empty folder).
    let empty = tempfile::tempdir().expect("a temp dir");
    let mut cmd = app.command_in(&dir, &["build"]);
    cmd.env("PATH", empty.path()).env_remove("CC");
    let out = crate::Running::start(cmd).finish(crate::DEADLINE);
    out.assert_code(1);
    assert!(
        out.stderr.contains("clang is missing") && out.stderr.contains("apt-get install clang"),
        "{}",
        out.show()
    );
    assert!(!dir.join("wasm/c-app.wasm").exists());
}

#[test]
fn build_leaves_components_without_source_alone() {
    let app = App::new();
    app.write(
        "rusm.toml",
        "[components.prebuilt]\npath = \"wasm/prebuilt.wat\"\n",
    )
    .write("wasm/prebuilt.wat", "(module (func (export \"run\")))");
    let out = app.rusm(&["build"]);
    out.assert_code(0);
    assert!(out.stderr.contains("prebuilt: no source"), "{}", out.show());
}
