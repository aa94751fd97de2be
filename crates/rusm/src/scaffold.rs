//! `rusm new NAME --template actor|c`: an app that builds and runs as it
//! is (MANIFEST.md, *The `rusm` command*).
//!
//! A Rust app gets its own copy of the guest library (`rusm-guest/`, with
//! the contract's WIT), taken from this binary: the app then builds the
//! same way inside this repository or anywhere else, offline from the
//! repository, with nothing but crates.io for its dependencies. A C app
//! gets `include/rusm.h`.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

/// The kinds of app `rusm new` writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Template {
    /// A Rust actor (a core module on the guest library).
    Actor,
    /// An HTTP handler (a `wasi:http` component). Not built yet.
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
component = ["dep:wit-bindgen"]

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
    if template == Template::Http {
        bail!(
            "the `http` template is not available in this rusm yet: use `--template actor` or `--template c`"
        );
    }
    let dir = PathBuf::from(name);
    if dir.exists() {
        bail!("`{}` already exists: choose another name", dir.display());
    }
    let files = match template {
        Template::Actor => actor(name),
        Template::C => c(name),
        Template::Http => unreachable!("refused above"),
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
        (
            "Cargo.toml".to_string(),
            format!(
                r#"[package]
name = "{name}"
version = "0.1.0"
edition = "2024"
publish = false

[lib]
# A guest is a library the runtime calls (`run`), not a program.
crate-type = ["cdylib"]

[dependencies]
rusm-guest = {{ path = "rusm-guest" }}

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
            ),
        ),
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
    for (rel, text) in GUEST_LIBRARY {
        let text = text.replace(WIT_IN_REPO, WIT_IN_APP);
        files.push((format!("rusm-guest/{rel}"), text));
    }
    files.push((
        "rusm-guest/Cargo.toml".to_string(),
        GUEST_LIBRARY_MANIFEST.to_string(),
    ));
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
