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
    let out = app.rusm(&["new", "web", "--template", "cobol"]);
    out.assert_code(2);
    assert!(!app.path().join("web").exists());
}

#[test]
fn the_http_template_writes_a_served_app_on_the_guest_librarys_http_shape() {
    let app = App::new();
    let out = app.rusm(&["new", "web", "--template", "http"]);
    out.assert_code(0);
    // A served app has no root process: plain `rusm run` serves it.
    assert!(
        out.stdout.contains("`cd web && rusm build && rusm run`"),
        "{}",
        out.show()
    );
    let dir = app.path().join("web");
    let read =
        |rel: &str| std::fs::read_to_string(dir.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
    // The handler is a plain function on the library's HTTP shape, and the
    // crate turns the library's `http` feature on.
    let source = read("src/lib.rs");
    assert!(
        source.contains("fn handle(mut request: Request) -> Response")
            && source.contains("rusm_guest::http_main!(handle);"),
        "{source}"
    );
    assert!(
        read("Cargo.toml").contains(r#"rusm-guest = { path = "rusm-guest", features = ["http"] }"#)
    );
    assert!(read("rusm-guest/Cargo.toml").contains(r#"http = ["component"]"#));
    assert!(read("README.md").contains("curl localhost:8080/hello"));
    // The manifest names a component (which `rusm build` makes with the
    // adapter) and routes every path to it.
    let manifest = read("rusm.toml");
    assert!(
        manifest.contains(r#"path = "wasm/web.component.wasm""#),
        "{manifest}"
    );
    let check = crate::Running::start(app.command_in(&dir, &["check"])).finish(crate::DEADLINE);
    let errors: Vec<_> = check
        .stdout
        .lines()
        .chain(check.stderr.lines())
        .filter(|l| l.contains("error"))
        .collect();
    assert!(
        errors.len() == 1 && errors[0].contains("wasm/web.component.wasm"),
        "{}",
        check.show()
    );
}

#[test]
fn every_file_of_the_guest_library_is_in_the_apps_copy() {
    // A file added to guests/rusm-guest/src but not to the vendored list
    // would make every Rust app fail to build.
    let app = App::new();
    app.rusm(&["new", "lib-app"]).assert_code(0);
    let library =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../guests/rusm-guest/src");
    let mut dirs = vec![library.clone()];
    let mut checked = 0;
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("the guest library's sources") {
            let path = entry.expect("an entry").path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            let rel = path.strip_prefix(&library).expect("below the library");
            let copy = app.path().join("lib-app/rusm-guest/src").join(rel);
            let original = std::fs::read_to_string(&path).expect("a source");
            let copied = std::fs::read_to_string(&copy)
                .unwrap_or_else(|e| panic!("{} is not in the app's copy: {e}", rel.display()));
            // Only the WIT folder differs: next to the copy, not in this repo.
            assert_eq!(
                copied,
                original.replace("\"../../crates/rusm-wasm/wit\"", "\"wit\""),
                "{}",
                rel.display()
            );
            checked += 1;
        }
    }
    assert!(checked >= 13, "only {checked} files");
}

#[test]
fn the_http_templates_manifest_serves_a_handler() {
    // Without the guest toolchain the template's own handler cannot be
    // built here (guests/run-tests.sh builds and serves it); a stock
    // wasi:http handler (the serving tests' fixture) in its place shows
    // that the manifest as written serves every path.
    let app = App::new();
    app.rusm(&["new", "web", "--template", "http"])
        .assert_code(0);
    let dir = app.path().join("web");
    let manifest = std::fs::read_to_string(dir.join("rusm.toml")).expect("its manifest");
    // A free port instead of 8080, on a machine shared with other tests.
    let free = manifest.replace(r#"listen = "127.0.0.1:8080""#, r#"listen = "127.0.0.1:0""#);
    assert_ne!(free, manifest, "the template listens on 127.0.0.1:8080");
    std::fs::write(dir.join("rusm.toml"), free).expect("write");
    std::fs::create_dir_all(dir.join("wasm")).expect("mkdir");
    std::fs::write(
        dir.join("wasm/web.component.wasm"),
        include_str!("../../../rusm-wasm/tests/all/fixtures/handler.component.wat"),
    )
    .expect("write");
    let mut running = crate::Running::start(app.command_in(&dir, &["run"]));
    running.wait_for_line("the listener", |l| l.starts_with("rusm http listening on "));
    let addr = running
        .stderr_now()
        .lines()
        .find_map(|l| {
            l.strip_prefix("rusm http listening on http://")
                .map(str::to_owned)
        })
        .expect("the line waited for");
    for path in ["/hello", "/any/where/hello"] {
        let reply = http_get(&addr, path);
        let body = reply.split_once("\r\n\r\n").map_or("", |(_, body)| body);
        assert!(
            reply.starts_with("HTTP/1.1 200") && body.contains("hello"),
            "{path}: {reply}"
        );
    }
    running.signal(libc::SIGTERM);
    let out = running.finish(crate::DEADLINE);
    out.assert_code(0);
    assert!(
        out.stderr.contains("rusm http GET /any/where/hello 200"),
        "{}",
        out.show()
    );
}

/// A GET on a fresh connection, the whole answer as text.
fn http_get(addr: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .expect("a timeout");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\r\n"
    )
    .expect("send");
    let mut reply = String::new();
    stream.read_to_string(&mut reply).expect("read");
    reply
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
