//! `rusm new NAME --template actor|http|c`: an app that builds and runs
//! as it is (MANIFEST.md, *The `rusm` command*).
//!
//! A Rust app gets its own copy of the guest library (`rusm-guest/`, with
//! the contract's WIT), taken from this binary: the app then builds the
//! same way inside this repository or anywhere else, offline from the
//! repository, with nothing but crates.io for its dependencies. A C app
//! gets `include/rusm.h`.
//!
//! The `http` app is a served one (SERVING.md): an `[http]` table routing
//! every path to one handler, a Rust function on the guest library's HTTP
//! shape (its `http` feature). A handler is a component, never a core
//! module, so its manifest `path` ends in `.component.wasm`, which tells
//! `rusm build` to make a component.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

/// The kinds of app `rusm new` writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Template {
    /// A Rust actor (a core module on the guest library).
    Actor,
    /// A served app: an HTTP handler (a `wasi:http` component) in Rust.
    Http,
    /// A C actor on `rusm.h`.
    C,
}

/// The guest library's sources, as the app's `rusm-guest/` gets them.
const GUEST_LIBRARY: &[(&str, &str)] = &[
    (
        "src/lib.rs",
        include_str!("../../../guests/rusm-guest/src/lib.rs"),
    ),
    (
        "src/cluster.rs",
        include_str!("../../../guests/rusm-guest/src/cluster.rs"),
    ),
    (
        "src/error.rs",
        include_str!("../../../guests/rusm-guest/src/error.rs"),
    ),
    (
        "src/kv.rs",
        include_str!("../../../guests/rusm-guest/src/kv.rs"),
    ),
    (
        "src/message.rs",
        include_str!("../../../guests/rusm-guest/src/message.rs"),
    ),
    (
        "src/process.rs",
        include_str!("../../../guests/rusm-guest/src/process.rs"),
    ),
    (
        "src/registry.rs",
        include_str!("../../../guests/rusm-guest/src/registry.rs"),
    ),
    (
        "src/timer.rs",
        include_str!("../../../guests/rusm-guest/src/timer.rs"),
    ),
    (
        "src/sys/mod.rs",
        include_str!("../../../guests/rusm-guest/src/sys/mod.rs"),
    ),
    (
        "src/sys/module.rs",
        include_str!("../../../guests/rusm-guest/src/sys/module.rs"),
    ),
    (
        "src/sys/component.rs",
        include_str!("../../../guests/rusm-guest/src/sys/component.rs"),
    ),
    (
        "src/sys/http.rs",
        include_str!("../../../guests/rusm-guest/src/sys/http.rs"),
    ),
    (
        "src/http.rs",
        include_str!("../../../guests/rusm-guest/src/http.rs"),
    ),
    (
        "src/websocket.rs",
        include_str!("../../../guests/rusm-guest/src/websocket.rs"),
    ),
    ("wit/rusm.wit", include_str!("../../rusm-wasm/wit/rusm.wit")),
    (
        "wit/deps/cli.wit",
        include_str!("../../rusm-wasm/wit/deps/cli.wit"),
    ),
    (
        "wit/deps/clocks.wit",
        include_str!("../../rusm-wasm/wit/deps/clocks.wit"),
    ),
    (
        "wit/deps/filesystem.wit",
        include_str!("../../rusm-wasm/wit/deps/filesystem.wit"),
    ),
    (
        "wit/deps/http.wit",
        include_str!("../../rusm-wasm/wit/deps/http.wit"),
    ),
    (
        "wit/deps/io.wit",
        include_str!("../../rusm-wasm/wit/deps/io.wit"),
    ),
    (
        "wit/deps/random.wit",
        include_str!("../../rusm-wasm/wit/deps/random.wit"),
    ),
    (
        "wit/deps/sockets.wit",
        include_str!("../../rusm-wasm/wit/deps/sockets.wit"),
    ),
];

/// Where the guest library's sources find the WIT inside this repository,
/// and where the app's copy finds it.
const WIT_IN_REPO: &str = "\"../../crates/rusm-wasm/wit\"";
const WIT_IN_APP: &str = "\"wit\"";

const GUEST_LIBRARY_MANIFEST: &str = r#"# The RUSM guest library, copied here by `rusm new` (from the rusm that
# made this app): one API over the core-module imports and the component
# world. Replace it with a newer copy from a newer `rusm new` when you
# upgrade the runtime.
[package]
name = "rusm-guest"
version = "0.1.0"
edition = "2024"
publish = false

[features]
# The component shape (world `actor`) instead of the core-module imports.
component = ["dep:wit-bindgen"]
# An HTTP handler (world `http-actor`): the `http` module and `http_main!`.
http = ["component"]

[dependencies]
serde = { version = "1", default-features = false, features = ["derive", "alloc"] }
postcard = { version = "1", default-features = false, features = ["alloc"] }
wit-bindgen = { version = "0.63", default-features = false, features = ["macros", "realloc", "std"], optional = true }

[target.'cfg(target_env = "p2")'.dependencies]
wit-bindgen = { version = "0.63", default-features = false, features = ["macros", "realloc", "std"] }
"#;

const C_HEADER: &str = include_str!("../../../guests/c/include/rusm.h");

/// Writes the app `name` into `./name` (which must not exist yet) and
/// returns its folder.
pub(crate) fn new(name: &str, template: Template) -> anyhow::Result<PathBuf> {
    check_name(name)?;
    let dir = PathBuf::from(name);
    if dir.exists() {
        bail!("`{}` already exists: choose another name", dir.display());
    }
    let files = match template {
        Template::Actor => actor(name),
        Template::Http => http(name),
        Template::C => c(name),
    };
    for (rel, text) in files {
        write(&dir, &rel, &text)?;
    }
    Ok(dir)
}

/// A name that is a component name, a crate name and a file name at once.
fn check_name(name: &str) -> anyhow::Result<()> {
    let ok = name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if !ok {
        bail!(
            "`{name}` cannot name an app: use lowercase letters, digits, `-` and `_`, starting with a letter"
        );
    }
    Ok(())
}

fn write(dir: &Path, rel: &str, text: &str) -> anyhow::Result<()> {
    let path = dir.join(rel);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))
}

fn manifest(name: &str, source: &str) -> String {
    format!(
        r#"# {name}: a RUSM app. `rusm build` compiles {source} into wasm/{name}.wasm;
# `rusm run {name}` runs it as the root process.

[capabilities.app]
allow-stdio = true      # its output reaches the terminal
allow-spawn = ["{name}"] # it may start more processes of itself

[components.{name}]
path = "wasm/{name}.wasm"
capability = "app"
"#
    )
}

fn readme(name: &str, build_needs: &str) -> String {
    format!(
        r#"# {name}

A RUSM app: every process is an isolated WebAssembly instance.

```sh
rusm build        # compiles the guest into wasm/{name}.wasm
rusm run {name}   # runs it as the root process; exit status = its outcome
rusm dev {name}   # run, rebuild and reload on every change (when available)
```

`rusm build` needs {build_needs}; when something is missing it says what
to install and installs nothing itself. `rusm.toml` declares the component
and the capabilities its processes get (see CAPABILITIES.md): here stdout,
and spawning more of itself, nothing else.
"#
    )
}

fn actor(name: &str) -> Vec<(String, String)> {
    let crate_name = name.replace('-', "_");
    let mut files = vec![
        ("rusm.toml".to_string(), manifest(name, "src/lib.rs")),
        (
            "README.md".to_string(),
            readme(
                name,
                "a Rust toolchain for `wasm32-wasip1`: `rustup target add wasm32-wasip1`, or on Debian 12 `apt-get install rustc-web cargo-web rust-web-src lld wasi-libc`",
            ),
        ),
        (".gitignore".to_string(), "/target\n/wasm\n".to_string()),
        ("Cargo.toml".to_string(), cargo_manifest(name, "")),
        (
            "src/lib.rs".to_string(),
            format!(
                r#"//! {name}: the root process asks a worker, a second process of this
//! same component, to greet, and waits for the answer.

use std::time::Duration;

use rusm_guest::{{Error, own_pid, receive, reply, spawn}};

fn start() -> Result<(), Error> {{
    // A spawned worker gets a first message (tag 0) from its spawner.
    if let Ok(request) = receive(&[0], Some(Duration::ZERO)) {{
        let greeting = format!("hello, {{}}, from #{{}}", request.text(), own_pid());
        return reply(&request, greeting.as_bytes());
    }}
    let worker = spawn("{name}", b"world", false)?;
    let answer = receive(&[], Some(Duration::from_secs(5)))?;
    println!("{{}} (asked by #{{}}, worker #{{}})", answer.text(), own_pid(), worker);
    Ok(())
}}

rusm_guest::main!(start);

// The crate name, for tools that look for it: {crate_name}.
"#
            ),
        ),
    ];
    files.extend(guest_library());
    files
}

/// The app's `Cargo.toml`: a `cdylib` on its copy of the guest library,
/// with `features` (a TOML list's items, or nothing) turned on.
fn cargo_manifest(name: &str, features: &str) -> String {
    let features = if features.is_empty() {
        String::new()
    } else {
        format!(", features = [{features}]")
    };
    format!(
        r#"[package]
name = "{name}"
version = "0.1.0"
edition = "2024"
publish = false

[lib]
# A guest is a library the runtime calls, not a program.
crate-type = ["cdylib"]

[dependencies]
rusm-guest = {{ path = "rusm-guest"{features} }}

# The app is a workspace of its own, with the guest library in it.
[workspace]
members = [".", "rusm-guest"]

# Guests ship as .wasm files: small beats fast to build.
[profile.release]
opt-level = "s"
lto = true
codegen-units = 1
panic = "abort"
strip = true
"#
    )
}

/// The app's copy of the guest library, finding its WIT next to it.
fn guest_library() -> Vec<(String, String)> {
    let mut files: Vec<(String, String)> = GUEST_LIBRARY
        .iter()
        .map(|(rel, text)| {
            (
                format!("rusm-guest/{rel}"),
                text.replace(WIT_IN_REPO, WIT_IN_APP),
            )
        })
        .collect();
    files.push((
        "rusm-guest/Cargo.toml".to_string(),
        GUEST_LIBRARY_MANIFEST.to_string(),
    ));
    files
}

fn http(name: &str) -> Vec<(String, String)> {
    let mut files = vec![
        (
            "rusm.toml".to_string(),
            format!(
                r#"# {name}: a served RUSM app. `rusm build` compiles src/lib.rs into
# wasm/{name}.component.wasm, an HTTP handler (a wasi:http component);
# `rusm run` serves it: every request is a new process of it.

shutdown-seconds = 2          # on Ctrl-C, requests in flight get this long

[log]
level = "info"                # one access-log line per request on stderr

# What each request's process may do: here, nothing but compute in at most
# 32 MiB (add grants as the handler needs them: CAPABILITIES.md).
[capabilities.handler]
max-memory-mb = 32

[components.{name}]
path = "wasm/{name}.component.wasm"
capability = "handler"

[http]
listen = "127.0.0.1:8080"
request-timeout-seconds = 10

[[http.route]]
path = "/*"                   # every path
component = "{name}"
"#
            ),
        ),
        (
            "README.md".to_string(),
            format!(
                r#"# {name}

A served RUSM app: every HTTP request is a new, isolated WebAssembly
process running `handle` in `src/lib.rs`.

```sh
rusm build        # compiles the handler into wasm/{name}.component.wasm
rusm run          # serves http://127.0.0.1:8080 until Ctrl-C
rusm dev          # serves, rebuilds and reloads on every change (when available)
```

Then:

```console
$ curl localhost:8080/hello
hello from {name}: GET /hello (process #3)
$ curl --data 'echo me' localhost:8080/echo
echo me
```

`rusm build` needs a Rust toolchain for `wasm32-wasip1` (`rustup target
add wasm32-wasip1`, or on Debian 12 `apt-get install rustc-web cargo-web
rust-web-src lld wasi-libc`); it turns the module into a component itself
(the path ends in `.component.wasm`). When something is missing it says
what to install and installs nothing itself.

The handler is a plain function, `fn handle(Request) -> Response`, named
with `rusm_guest::http_main!`. Inside it every actor call of the guest
library works (find a resident process with `whereis`, `call` it, `spawn`,
the `kv` store with `allow-storage`); `Response::stream` writes a body in
pieces (server-sent events). The crate depends on the guest library in
`rusm-guest/` with its `http` feature; `rusm.toml` routes every path to
the handler and says what its processes may do.
"#
            ),
        ),
        (".gitignore".to_string(), "/target\n/wasm\n".to_string()),
        ("Cargo.toml".to_string(), cargo_manifest(name, "\"http\"")),
        (
            "src/lib.rs".to_string(),
            format!(
                r#"//! {name}: an HTTP handler. The node runs a new process of it for every
//! request and calls `handle` once; a panic ends only that process (the
//! client gets a 500).

use rusm_guest::http::{{Request, Response}};
use rusm_guest::own_pid;

fn handle(mut request: Request) -> Response {{
    // POST /echo: the body back, as it came.
    if request.method() == "POST" && request.path() == "/echo" {{
        return match request.body() {{
            Ok(body) => Response::new(200).with_body(body),
            Err(error) => Response::text(400, format!("cannot read the body: {{error}}\n")),
        }};
    }}
    let greeting = format!(
        "hello from {name}: {{}} {{}} (process #{{}})\n",
        request.method(),
        request.path(),
        own_pid()
    );
    Response::text(200, greeting)
}}

rusm_guest::http_main!(handle);
"#
            ),
        ),
    ];
    files.extend(guest_library());
    files
}

fn c(name: &str) -> Vec<(String, String)> {
    vec![
        (
            "rusm.toml".to_string(),
            manifest(name, &format!("{name}.c")),
        ),
        (
            "README.md".to_string(),
            readme(
                name,
                "clang with the wasm32 target, wasm-ld and wasi-libc: on Debian 12 `apt-get install clang lld wasi-libc libclang-rt-14-dev-wasm32`",
            ),
        ),
        (".gitignore".to_string(), "/wasm\n".to_string()),
        ("include/rusm.h".to_string(), C_HEADER.to_string()),
        (
            format!("{name}.c"),
            r#"/* A RUSM process in C: print a line with its own pid, then end normally.
 * `run` is the entry point the runtime calls (a reactor module: its
 * constructors run first); returning ends the process `normal`. No atexit
 * handler runs, so stdout is flushed here. */
#include <stdio.h>
#include "rusm.h"

__attribute__((export_name("run"))) void run(void) {
    printf("hello from #%lld\n", (long long)rusm_own_pid());
    fflush(stdout);
}
"#
            .to_string(),
        ),
    ]
}
