//! `dev-reload-http` (issue 16): how long from saving a source file of the
//! Rust `http` template to the first response from the new code, under
//! `rusm dev` (watch, `rusm build`, reload), over a number of edits; and,
//! as the baseline, how long `rusm build` alone takes after the same kind
//! of edit, measured in the same run on the same app. What `rusm dev`
//! adds is the difference: noticing the save, settling, reloading, and the
//! first request on the new code.
//!
//! It drives the real `rusm` binary (`--rusm`, default the workspace's
//! `target/debug/rusm`) and the real guest toolchain `rusm build` uses;
//! the build shares `guests/target` (CARGO_TARGET_DIR) so that Debian's
//! build-std compiles std once, as `guests/run-tests.sh` does. Builds are
//! warm: one build before anything is timed.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};

use crate::report::{Report, Target};

/// The greeting the template's handler answers with, which each edit
/// changes.
const GREETING: &str = "hello from web";

/// Runs the scenario: `edits` timed edits under `rusm dev`, `builds` timed
/// builds alone.
pub(crate) fn dev_reload_http(rusm: &Path, edits: usize, builds: usize) -> anyhow::Result<Report> {
    let dir = tempfile::tempdir()?;
    let app = dir.path().join("web");
    let target_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../guests/target");
    let status = Command::new(rusm)
        .args(["new", "web", "--template", "http"])
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .status()
        .with_context(|| format!("cannot run {}", rusm.display()))?;
    ensure!(status.success(), "rusm new failed");
    // A free port instead of the template's 8080.
    let manifest = app.join("rusm.toml");
    let text = std::fs::read_to_string(&manifest)?;
    std::fs::write(&manifest, text.replace("127.0.0.1:8080", "127.0.0.1:0"))?;
    let source = app.join("src/lib.rs");
    let build = |label: &str| -> anyhow::Result<Duration> {
        let start = Instant::now();
        let out = Command::new(rusm)
            .arg("build")
            .current_dir(&app)
            .env("CARGO_TARGET_DIR", &target_dir)
            .output()?;
        ensure!(
            out.status.success(),
            "rusm build ({label}) failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(start.elapsed())
    };
    build("warm-up")?;
    // The baseline: an edit, then `rusm build` alone; half of the builds
    // before the dev rounds and half after, so that a change in the
    // machine's load during the run touches both sides.
    let mut build_times = Vec::new();
    let timed_builds = |count: usize, times: &mut Vec<Duration>| -> anyhow::Result<()> {
        for _ in 0..count {
            edit(&source, &format!("build {}", times.len()))?;
            times.push(build("timed")?);
        }
        Ok(())
    };
    timed_builds(builds / 2, &mut build_times)?;
    edit(&source, "start")?;
    build("before dev")?;

    let mut dev = Dev::start(rusm, &app, &target_dir)?;
    let addr = dev.address()?;
    wait_for(&addr, "start", Duration::from_secs(30))?;
    let mut reload_times = Vec::new();
    for n in 0..edits {
        let version = format!("edit {n}");
        // Let the watcher settle after the last reload.
        std::thread::sleep(Duration::from_millis(300));
        let saved = Instant::now();
        edit(&source, &version)?;
        wait_for(&addr, &version, Duration::from_secs(60))?;
        reload_times.push(saved.elapsed());
    }
    dev.stop();
    timed_builds(builds - builds / 2, &mut build_times)?;

    let ms = |d: &Duration| d.as_secs_f64() * 1000.0;
    let mut reloads: Vec<f64> = reload_times.iter().map(ms).collect();
    let mut builds: Vec<f64> = build_times.iter().map(ms).collect();
    reloads.sort_by(f64::total_cmp);
    builds.sort_by(f64::total_cmp);
    let p50 = |v: &[f64]| v[v.len() / 2];
    Ok(Report::new(
        "dev-reload-http",
        "ms save to new response (p50)",
        p50(&reloads),
        false,
    )
    .baseline("rusm build alone after an edit (p50)", p50(&builds))
    .target(Target::AtMost(3000.0))
    .extra("edits", reloads.len() as f64)
    .extra("min_ms", reloads[0])
    .extra("max_ms", reloads[reloads.len() - 1])
    .extra("build_min_ms", builds[0])
    .extra("build_max_ms", builds[builds.len() - 1])
    .note(format!(
        "the Rust `http` template (rusm new --template http) under rusm dev: {} edits of src/lib.rs's greeting, each timed from the write to the first GET answering with it; baseline: {} edits each followed by rusm build alone, half before the dev rounds and half after; warm builds, guests/target shared",
        reloads.len(),
        builds.len()
    )))
}

/// Rewrites the handler's greeting to carry `version`, as an editor's save.
fn edit(source: &Path, version: &str) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(source)?;
    let start = text
        .find(GREETING)
        .context("the template's greeting is not in src/lib.rs")?;
    let end = start + text[start..].find(':').context("the greeting's colon")?;
    let edited = format!("{}{GREETING} ({version}){}", &text[..start], &text[end..]);
    std::fs::write(source, edited)?;
    Ok(())
}

/// Polls `GET /` until the answer carries `version`.
fn wait_for(addr: &str, version: &str, limit: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + limit;
    let want = format!("{GREETING} ({version}):");
    loop {
        if get(addr).is_some_and(|body| body.contains(&want)) {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("no answer with `{want}` within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A GET on a fresh connection: the whole answer, or `None` if it failed.
fn get(addr: &str) -> Option<String> {
    let mut stream = TcpStream::connect(addr).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET / HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\r\n"
    )
    .ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    Some(answer)
}

/// A running `rusm dev`, its stderr read line by line on a thread.
struct Dev {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Dev {
    fn start(rusm: &Path, app: &PathBuf, target_dir: &Path) -> anyhow::Result<Dev> {
        let mut child = Command::new(rusm)
            .arg("dev")
            .current_dir(app)
            .env("CARGO_TARGET_DIR", target_dir)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()?;
        let stderr = child.stderr.take().context("rusm dev's stderr")?;
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Ok(Dev { child, lines })
    }

    /// The address from the listening line.
    fn address(&mut self) -> anyhow::Result<String> {
        let deadline = Instant::now() + Duration::from_secs(120);
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            let line = self
                .lines
                .recv_timeout(left)
                .context("rusm dev ended or printed no listening line")?;
            if let Some(addr) = line.strip_prefix("rusm http listening on http://") {
                return Ok(addr.to_string());
            }
        }
        bail!("rusm dev printed no listening line within 120 s")
    }

    fn stop(mut self) {
        // SIGTERM through `kill`: the node drains and ends on its own.
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

impl Drop for Dev {
    fn drop(&mut self) {
        // Never leave a node behind when the scenario fails half-way.
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
