//! `rusm build`: compile every guest whose source sits next to the
//! manifest into the `path` its component names, with the toolchains
//! `scripts/build-guests.sh` knows. Nothing is installed: a missing tool is
//! named, with the command that installs it, and the build fails.
//!
//! A component's source is found by its name: a Cargo package called
//! `<name>` (the app's own `Cargo.toml`, or `<name>/Cargo.toml`), or a C
//! file `<name>.c` (or `src/<name>.c`). Rust builds for `wasm32-wasip1`
//! with rustup's target when it is installed, else with Debian's
//! `rustc-web` and `-Zbuild-std`; C with clang against wasi-libc.
//!
//! A component whose `path` ends in `.component.wasm` is built as a
//! component: the Rust package is compiled for `wasm32-wasip1` with the
//! guest library's `component` feature (when it depends on `rusm-guest`;
//! a handler crate turns on `http` itself), and the module is wrapped in
//! process by `wit-component` with the preview-1 *reactor* adapter of the
//! runtime's own wasmtime release, exactly what `scripts/build-guests.sh`
//! does with `wasm-tools component new --adapt`. No extra tool is needed.
//! C guests speak the flat `"rusm"` imports and are core modules only.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Context, bail};
use rusm_manifest::Manifest;

/// Why a guest could not be built.
#[derive(Debug, thiserror::Error)]
enum BuildError {
    #[error("{what} is missing: {install}")]
    Missing { what: String, install: &'static str },
    #[error("{0}")]
    Failed(String),
}

const RUST_INSTALL: &str = "install one of: `rustup target add wasm32-wasip1` (rustup), or on Debian 12 `apt-get install rustc-web cargo-web rust-web-src lld wasi-libc`";
const C_INSTALL: &str =
    "on Debian 12: `apt-get install clang lld wasi-libc libclang-rt-14-dev-wasm32`";

/// Build every guest of `manifest`; the status is 0 when all built.
pub(crate) fn build(manifest: &Manifest) -> anyhow::Result<ExitCode> {
    Ok(if build_all(manifest)? {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Build every guest of `manifest`; `true` when all built.
pub(crate) fn build_all(manifest: &Manifest) -> anyhow::Result<bool> {
    let app = manifest.dir.clone();
    let mut failed = 0;
    let mut built = 0;
    for c in &manifest.components {
        let Some(source) = Source::find(&app, &c.name)? else {
            eprintln!(
                "rusm build: {}: no source next to the manifest ({}.c, or a Cargo package `{}`); left as it is",
                c.name, c.name, c.name
            );
            continue;
        };
        let shape = Shape::of(&c.path);
        eprintln!(
            "rusm build: {} from {}{}",
            c.name,
            source.describe(&app),
            match shape {
                Shape::Module => "",
                Shape::Component => " (component)",
            }
        );
        match source.build(&app, &c.path, shape) {
            Ok(()) => {
                built += 1;
                eprintln!("rusm build: {} -> {}", c.name, c.path.display());
            }
            Err(e) => {
                failed += 1;
                eprintln!("rusm build: {}: {e}", c.name);
            }
        }
    }
    if failed > 0 {
        eprintln!("rusm build: {failed} guest(s) failed, {built} built");
        return Ok(false);
    }
    Ok(true)
}

/// What a component's `path` asks for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Shape {
    Module,
    Component,
}

impl Shape {
    /// `*.component.wasm` is a component, anything else a core module: the
    /// naming `scripts/build-guests.sh` and `rusm new` use.
    fn of(path: &Path) -> Shape {
        if path.to_string_lossy().ends_with(".component.wasm") {
            Shape::Component
        } else {
            Shape::Module
        }
    }
}

enum Source {
    /// A Cargo package: its manifest, its library's file name, and whether
    /// it depends on the guest library (whose `component` feature selects
    /// the component shape).
    Rust {
        manifest: PathBuf,
        lib: String,
        guest_library: bool,
    },
    C(PathBuf),
}

impl Source {
    fn find(app: &Path, name: &str) -> anyhow::Result<Option<Source>> {
        for manifest in [app.join("Cargo.toml"), app.join(name).join("Cargo.toml")] {
            if !manifest.is_file() {
                continue;
            }
            let package = Package::read(&manifest)?;
            if package.name.as_deref() == Some(name) {
                let lib = name.replace('-', "_");
                return Ok(Some(Source::Rust {
                    manifest,
                    lib,
                    guest_library: package.guest_library,
                }));
            }
        }
        for c in [
            app.join(format!("{name}.c")),
            app.join("src").join(format!("{name}.c")),
        ] {
            if c.is_file() {
                return Ok(Some(Source::C(c)));
            }
        }
        Ok(None)
    }

    fn describe(&self, app: &Path) -> String {
        let path = match self {
            Source::Rust { manifest, .. } => manifest,
            Source::C(file) => file,
        };
        path.strip_prefix(app).unwrap_or(path).display().to_string()
    }

    fn build(&self, app: &Path, out: &Path, shape: Shape) -> Result<(), BuildError> {
        if let Some(dir) = out.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| BuildError::Failed(format!("cannot create {}: {e}", dir.display())))?;
        }
        match (self, shape) {
            (Source::Rust { manifest, lib, .. }, Shape::Module) => {
                let module = build_rust(app, manifest, lib, false)?;
                write(out, &module)
            }
            (
                Source::Rust {
                    manifest,
                    lib,
                    guest_library,
                },
                Shape::Component,
            ) => {
                let module = build_rust(app, manifest, lib, *guest_library)?;
                write(out, &componentize(&module)?)
            }
            (Source::C(file), Shape::Module) => build_c(app, file, out),
            (Source::C(_), Shape::Component) => Err(BuildError::Failed(format!(
                "{} names a component, but a C guest is a core module (the flat \"rusm\" imports); name a `.wasm` path",
                out.display()
            ))),
        }
    }
}

/// What `rusm build` reads of a Cargo manifest, in one pass.
struct Package {
    /// `[package] name`, if it has one.
    name: Option<String>,
    /// Whether `[dependencies]` has `rusm-guest`.
    guest_library: bool,
}

impl Package {
    fn read(manifest: &Path) -> anyhow::Result<Package> {
        let text = std::fs::read_to_string(manifest)
            .with_context(|| format!("cannot read {}", manifest.display()))?;
        let doc: toml_edit::DocumentMut = match text.parse() {
            Ok(d) => d,
            Err(e) => bail!("{}: {e}", manifest.display()),
        };
        Ok(Package {
            name: doc
                .get("package")
                .and_then(|p| p.get("name"))
                .and_then(|n| n.as_str())
                .map(str::to_string),
            guest_library: doc
                .get("dependencies")
                .and_then(|d| d.get("rusm-guest"))
                .is_some(),
        })
    }
}

/// `program` on `PATH`, if it is there.
fn on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

fn rustup_has_wasip1() -> bool {
    on_path("rustup").is_some()
        && Command::new("rustup")
            .args(["target", "list", "--installed"])
            .output()
            .is_ok_and(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .lines()
                    .any(|l| l.trim() == "wasm32-wasip1")
            })
}

/// Wraps a `wasm32-wasip1` reactor module into a component: its preview-1
/// imports are satisfied by the adapter, its `rusm:runtime` / `wasi:http`
/// imports and exports (wit-bindgen's custom sections) become the
/// component's.
fn componentize(module: &[u8]) -> Result<Vec<u8>, BuildError> {
    use wasi_preview1_component_adapter_provider::{
        WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME, WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
    };
    let failed = |e: anyhow::Error| BuildError::Failed(format!("cannot make a component: {e:#}"));
    wit_component::ComponentEncoder::default()
        .validate(true)
        .module(module)
        .map_err(failed)?
        .adapter(
            WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME,
            WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
        )
        .map_err(failed)?
        .encode()
        .map_err(failed)
}

fn write(out: &Path, bytes: &[u8]) -> Result<(), BuildError> {
    std::fs::write(out, bytes)
        .map_err(|e| BuildError::Failed(format!("cannot write {}: {e}", out.display())))
}

/// Builds the package for `wasm32-wasip1`, with the guest library's
/// `component` feature when `component_feature`; returns the module's bytes.
fn build_rust(
    app: &Path,
    manifest: &Path,
    lib: &str,
    component_feature: bool,
) -> Result<Vec<u8>, BuildError> {
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| app.join("target"));
    let mut cmd;
    if rustup_has_wasip1() {
        cmd = Command::new("cargo");
        cmd.args(["build", "--release", "--target", "wasm32-wasip1"]);
    } else {
        // Debian's wasm toolchain: rustc-web builds std from rust-web-src
        // (build-std, hence RUSTC_BOOTSTRAP) and links with wasm-ld against
        // wasi-libc.
        let needed = [
            ("/usr/bin/cargo", "cargo (Debian's cargo-web)"),
            ("/usr/bin/rustc", "rustc (Debian's rustc-web)"),
            (
                "/usr/lib/rustlib/src/rust/library",
                "the Rust sources (rust-web-src)",
            ),
            ("/usr/lib/wasm32-wasi/libc.a", "wasi-libc"),
        ];
        for (path, what) in needed {
            if !Path::new(path).exists() {
                return Err(BuildError::Missing {
                    what: format!("a Rust toolchain for wasm32-wasip1 ({what}, {path})"),
                    install: RUST_INSTALL,
                });
            }
        }
        if on_path("wasm-ld").is_none() && !Path::new("/usr/bin/wasm-ld").exists() {
            return Err(BuildError::Missing {
                what: "wasm-ld (lld)".into(),
                install: RUST_INSTALL,
            });
        }
        cmd = Command::new("/usr/bin/cargo");
        let path = std::env::var_os("PATH").unwrap_or_default();
        let mut dirs = vec![PathBuf::from("/usr/bin")];
        dirs.extend(std::env::split_paths(&path));
        cmd.env("PATH", std::env::join_paths(dirs).unwrap_or(path))
            .env("RUSTC_BOOTSTRAP", "1")
            .env("CARGO_TARGET_WASM32_WASIP1_LINKER", "wasm-ld")
            .env(
                "RUSTFLAGS",
                "-L /usr/lib/wasm32-wasi -C link-self-contained=no",
            )
            .env_remove("RUSTC")
            .env_remove("RUSTUP_TOOLCHAIN");
        cmd.args([
            "build",
            "--release",
            "-Zbuild-std=std,panic_abort",
            "--target",
            "wasm32-wasip1",
        ]);
    }
    // The same target folder for both shapes: cargo keeps each feature
    // set's artifacts apart (and build-std's std is compiled once); only
    // the uplifted `<lib>.wasm` is shared, and it is read right below.
    if component_feature {
        cmd.args(["--features", "rusm-guest/component"]);
    }
    cmd.arg("--manifest-path")
        .arg(manifest)
        .arg("--target-dir")
        .arg(&target_dir);
    run(&mut cmd, "cargo")?;
    let built = target_dir
        .join("wasm32-wasip1")
        .join("release")
        .join(format!("{lib}.wasm"));
    std::fs::read(&built).map_err(|e| {
        BuildError::Failed(format!(
            "cargo built no {} ({e}): is the package a `cdylib`?",
            built.display()
        ))
    })
}

fn build_c(app: &Path, file: &Path, out: &Path) -> Result<(), BuildError> {
    let cc = std::env::var("CC").unwrap_or_else(|_| "clang".into());
    for tool in [cc.as_str(), "wasm-ld"] {
        if on_path(tool).is_none() && !Path::new(tool).is_file() {
            return Err(BuildError::Missing {
                what: tool.to_string(),
                install: C_INSTALL,
            });
        }
    }
    if !Path::new("/usr/lib/wasm32-wasi/libc.a").exists() {
        return Err(BuildError::Missing {
            what: "wasi-libc (/usr/lib/wasm32-wasi/libc.a)".into(),
            install: C_INSTALL,
        });
    }
    // As guests/c/build.sh: a reactor module exporting `run`, only
    // wasi-libc's and clang's own headers, the app's `include/`.
    let mut cmd = Command::new(&cc);
    cmd.args([
        "--target=wasm32-wasi",
        "--sysroot=/usr",
        "-nostdlibinc",
        "-isystem",
        "/usr/include/wasm32-wasi",
        "-O2",
        "-Wall",
        "-Wextra",
    ])
    .arg("-I")
    .arg(app.join("include"))
    .arg(file)
    .args([
        "-mexec-model=reactor",
        "-L",
        "/usr/lib/wasm32-wasi",
        "-s",
        "-o",
    ])
    .arg(out);
    run(&mut cmd, &cc)
}

fn run(cmd: &mut Command, name: &str) -> Result<(), BuildError> {
    let status = cmd
        .status()
        .map_err(|e| BuildError::Failed(format!("cannot run {name}: {e}")))?;
    if status.success() {
        Ok(())
    } else {
        Err(BuildError::Failed(format!("{name} failed ({status})")))
    }
}
