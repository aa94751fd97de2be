//! The observer from the real binary: `[observer]` in a manifest, the page
//! in a real browser, `--log-format json`, and `rusm check` on the token.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use crate::{App, DEADLINE, Running, guest_run};

const FOREVER: &str = "(drop (call $recv (i32.const 0) (i32.const 0) (i64.const -1)))";
const TOKEN: &str = "observer-test-token-7f3a";

/// What `alpha` calls itself: markup, which the page must show as text.
const HOSTILE_LABEL: &str = "<img src=x onerror=alert(1)>";

/// Labels itself with [`HOSTILE_LABEL`], then waits forever.
fn labelled_guest() -> String {
    format!(
        r#"(module
  (import "rusm" "set_label" (func $set_label (param i32 i32)))
  (import "rusm" "recv" (func $recv (param i32 i32 i64) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 1024) "{HOSTILE_LABEL}")
  (func (export "run")
    (call $set_label (i32.const 1024) (i32.const {}))
    (drop (call $recv (i32.const 0) (i32.const 0) (i64.const -1)))))
"#,
        HOSTILE_LABEL.len()
    )
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    l.local_addr().expect("its address").port()
}

/// An app with two resident components (`alpha`, `beta`) and `[observer]`.
fn observed_app(port: u16) -> App {
    let app = App::new();
    app.write(
        "rusm.toml",
        &format!(
            r#"
[observer]
listen = "127.0.0.1:{port}"
token-file = "secrets/observer-token"

[components.alpha]
path = "wasm/alpha.wat"
resident = true

[components.beta]
path = "wasm/beta.wat"
resident = true
"#
        ),
    )
    .write("secrets/observer-token", &format!("{TOKEN}\n"))
    .write("wasm/alpha.wat", &labelled_guest())
    .write("wasm/beta.wat", &guest_run(FOREVER));
    app
}

/// Where test artifacts go: `target/test-artifacts/`.
fn artifacts() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/test-artifacts");
    std::fs::create_dir_all(&dir).expect("create target/test-artifacts");
    dir
}

#[test]
fn the_page_in_a_real_browser_filters_opens_and_kills() {
    let port = free_port();
    let app = observed_app(port);
    let mut running = app.start(&["--log", "info", "run"]);
    running.wait_for_line("the observer's address", |l| {
        l.starts_with("rusm observer http://")
    });
    let url = format!("http://127.0.0.1:{port}/");
    let shot = artifacts().join("observer-page.png");
    let _ = std::fs::remove_file(&shot);
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/all/observer_browser.py");
    let browser = Command::new("python3")
        .arg(&script)
        .args([url.as_str(), TOKEN, "alpha", HOSTILE_LABEL])
        .arg(&shot)
        .output()
        .expect(
            "python3 runs (the browser test needs chromium and Playwright: \
             `apt-get install -y chromium && pip install playwright`, as .ci/run does)",
        );
    running.signal(libc::SIGTERM);
    let out = running.finish(DEADLINE);
    let stdout = String::from_utf8_lossy(&browser.stdout);
    assert!(
        browser.status.success(),
        "the browser script failed:\n{}\n{}\nrusm:\n{}",
        stdout,
        String::from_utf8_lossy(&browser.stderr),
        out.show()
    );
    let result: serde_json::Value = serde_json::from_str(stdout.trim()).expect("one JSON line");
    let pid = result["killed"].as_u64().expect("the killed pid");
    // The lifecycle log says the pid the page killed ended `killed`, and
    // the supervisor restarted alpha.
    let line = format!("rusm exit  alpha#{pid} killed");
    assert!(
        out.stderr.lines().any(|l| l == line),
        "no `{line}` in:\n{}",
        out.show()
    );
    assert!(shot.metadata().expect("the screenshot").len() > 10_000);
    out.assert_code(0);
}

#[test]
fn log_format_json_writes_one_object_per_lifecycle_line() {
    let app = App::new();
    app.write("boom.wat", &guest_run("unreachable"));
    let out = app.rusm(&["--log", "debug", "--log-format", "json", "run", "boom.wat"]);
    out.assert_code(1);
    let objects: Vec<serde_json::Value> = out
        .stderr
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let spawn = objects
        .iter()
        .find(|o| o["event"] == "spawn")
        .expect("a spawn line");
    assert_eq!(spawn["component"], "boom");
    assert_eq!(spawn["profile"], "sandboxed");
    assert_eq!(spawn["level"], "DEBUG");
    let exit = objects
        .iter()
        .find(|o| o["event"] == "exit")
        .expect("an exit line");
    assert_eq!(exit["component"], "boom");
    assert_eq!(exit["class"], "crashed");
    assert_eq!(exit["level"], "ERROR");
    assert_eq!(exit["pid"], spawn["pid"]);
    assert!(exit["reason"].as_str().unwrap().starts_with("crashed: "));
    assert!(
        exit["message"]
            .as_str()
            .unwrap()
            .starts_with("rusm exit  boom#")
    );
    assert!(exit["timestamp"].is_string());
    // And the text format is unchanged: the message alone.
    let text = app.rusm(&["--log", "info", "run", "boom.wat"]);
    assert!(
        text.stderr_lines()
            .iter()
            .any(|l| l.starts_with("rusm exit  boom#N crashed: ")),
        "{}",
        text.show()
    );
}

#[test]
fn check_refuses_an_empty_or_missing_token_file() {
    let app = observed_app(free_port());
    app.write("secrets/observer-token", "  \n");
    let out = app.rusm(&["check"]);
    out.assert_code(2);
    assert!(
        out.stdout
            .contains("observer token file `secrets/observer-token` is empty"),
        "{}",
        out.show()
    );
    std::fs::remove_file(app.path().join("secrets/observer-token")).unwrap();
    let out = app.rusm(&["check"]);
    out.assert_code(2);
    assert!(out.stdout.contains("does not exist"), "{}", out.show());
    // `run` refuses too: no token, no observer, no node.
    let out = app.rusm(&["run"]);
    out.assert_code(2);
}

#[test]
fn an_observer_keeps_a_node_without_residents_up_until_sigterm() {
    let port = free_port();
    let app = App::new();
    app.write(
        "rusm.toml",
        &format!("[observer]\nlisten = \"127.0.0.1:{port}\"\ntoken-file = \"t\"\n"),
    )
    .write("t", TOKEN);
    let mut running = app.start(&["--log", "info", "run"]);
    running.wait_for_line("the observer's address", |l| {
        l.starts_with("rusm observer http://")
    });
    std::thread::sleep(Duration::from_millis(200));
    running.signal(libc::SIGTERM);
    running.finish(DEADLINE).assert_code(0);
}

/// A tmux session running one command, killed when dropped (a failing
/// test must not leave its session behind).
struct Tmux(String);

impl Tmux {
    fn run(args: &[&str]) -> std::process::Output {
        Command::new("tmux")
            .args(args)
            .output()
            .expect("tmux runs (apt-get install -y tmux, as .ci/run does)")
    }

    /// `command` in a new 150x30 session, in `cwd`.
    fn start(name: &str, cwd: &std::path::Path, command: &str) -> Tmux {
        let session = format!("{name}-{}", std::process::id());
        let cwd = cwd.display().to_string();
        let started = Tmux::run(&[
            "new-session",
            "-d",
            "-s",
            &session,
            "-x",
            "150",
            "-y",
            "30",
            "-c",
            &cwd,
            command,
        ]);
        assert!(started.status.success(), "{started:?}");
        Tmux(session)
    }

    fn capture(&self) -> String {
        String::from_utf8_lossy(&Tmux::run(&["capture-pane", "-p", "-t", &self.0]).stdout)
            .into_owned()
    }

    /// The screen, once `check` holds for it (within 15 s).
    fn wait_for(&self, what: &str, check: impl Fn(&str) -> bool) -> String {
        let until = std::time::Instant::now() + Duration::from_secs(15);
        loop {
            let screen = self.capture();
            if check(&screen) {
                return screen;
            }
            assert!(
                std::time::Instant::now() < until,
                "no {what} on the screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn keys(&self, keys: &str) {
        Tmux::run(&["send-keys", "-t", &self.0, keys]);
    }

    /// Wait (10 s at most) for the command to end and its session with it.
    fn wait_gone(&self, what: &str) {
        let until = std::time::Instant::now() + Duration::from_secs(10);
        while Tmux::run(&["has-session", "-t", &self.0]).status.success() {
            assert!(std::time::Instant::now() < until, "{what}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Tmux::run(&["kill-session", "-t", &self.0]);
    }
}

/// `rusm top` in a real terminal: tmux runs it against a node with an
/// observer; the screen shows the node's processes, a key changes the
/// sort, `q` ends it.
#[test]
fn rusm_top_in_tmux_shows_the_processes_and_sorts_by_key() {
    let port = free_port();
    let app = observed_app(port);
    let mut running = app.start(&["--log", "info", "run"]);
    running.wait_for_line("the observer's address", |l| {
        l.starts_with("rusm observer http://")
    });
    let top = format!(
        "{} top 127.0.0.1:{port} --token-file {}",
        env!("CARGO_BIN_EXE_rusm"),
        app.path().join("secrets/observer-token").display()
    );
    let tmux = Tmux::start("rusm-top", app.path(), &top);
    let screen = tmux.wait_for("process rows", |s| {
        s.contains("PID")
            && s.contains("alpha")
            && s.contains("beta")
            && s.contains("sorted by CPU")
    });
    assert!(screen.contains("supervisor"), "{screen}");
    tmux.keys("m");
    tmux.wait_for("the memory sort", |s| s.contains("sorted by memory"));
    tmux.keys("q");
    tmux.wait_gone("rusm top did not quit on `q`");
    running.signal(libc::SIGTERM);
    running.finish(DEADLINE).assert_code(0);
}

/// A self-signed certificate for 127.0.0.1 and its key, made by `openssl`
/// (as `.ci/run` installs it) at `cert` and `key`.
fn make_certificate(cert: &std::path::Path, key: &std::path::Path) {
    let made = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=rusm-observer",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-addext",
            "basicConstraints=critical,CA:FALSE",
        ])
        .arg("-keyout")
        .arg(key)
        .arg("-out")
        .arg(cert)
        .output()
        .expect("openssl runs");
    assert!(made.status.success(), "{made:?}");
}

/// `rusm top` against an HTTPS observer: refused without a way to trust
/// its self-signed certificate; with `--ca` it shows the processes; run
/// beside the node's manifest it trusts the manifest's own certificate.
#[test]
fn rusm_top_over_https_trusts_the_ca_flag_or_the_manifest_and_nothing_else() {
    let port = free_port();
    let app = observed_app(port);
    let manifest = std::fs::read_to_string(app.path().join("rusm.toml")).unwrap();
    let manifest = manifest.replace(
        "token-file = \"secrets/observer-token\"\n",
        "token-file = \"secrets/observer-token\"\ntls = { cert = \"secrets/cert.pem\", key = \"secrets/key.pem\" }\n",
    );
    app.write("rusm.toml", &manifest);
    let (cert, key) = (
        app.path().join("secrets/cert.pem"),
        app.path().join("secrets/key.pem"),
    );
    make_certificate(&cert, &key);
    let mut running = app.start(&["--log", "info", "run"]);
    running.wait_for_line("the observer's address", |l| {
        l.starts_with("rusm observer https://")
    });
    let token_file = app.path().join("secrets/observer-token");
    let url = format!("https://127.0.0.1:{port}");

    // From elsewhere, with no `--ca`: the certificate is nobody's the
    // client trusts. It fails before taking the terminal over.
    let elsewhere = tempfile::tempdir().unwrap();
    let refused = Running::start(app.command_in(
        elsewhere.path(),
        &[
            "top",
            &url,
            "--token-file",
            &token_file.display().to_string(),
        ],
    ))
    .finish(DEADLINE);
    refused.assert_code(2);
    assert!(
        refused.stderr.contains("certificate") && refused.stderr.contains("UnknownIssuer"),
        "{}",
        refused.stderr
    );
    // Plain HTTP to it is no answer either.
    let plain = Running::start(app.command_in(
        elsewhere.path(),
        &[
            "top",
            &format!("http://127.0.0.1:{port}"),
            "--token-file",
            &token_file.display().to_string(),
        ],
    ))
    .finish(DEADLINE);
    plain.assert_code(2);

    // `--ca` with the certificate: the view, from anywhere.
    let top = format!(
        "{} top {url} --ca {} --token-file {}",
        env!("CARGO_BIN_EXE_rusm"),
        cert.display(),
        token_file.display()
    );
    let tmux = Tmux::start("rusm-top-ca", elsewhere.path(), &top);
    tmux.wait_for("process rows over HTTPS", |s| {
        s.contains("PID") && s.contains("alpha") && s.contains("beta")
    });
    tmux.keys("q");
    tmux.wait_gone("rusm top did not quit on `q`");
    drop(tmux);

    // Beside the manifest, no arguments at all: its address, its token,
    // HTTPS because it has `tls`, and its certificate trusted.
    let top = format!("{} top", env!("CARGO_BIN_EXE_rusm"));
    let tmux = Tmux::start("rusm-top-manifest", app.path(), &top);
    tmux.wait_for("process rows over HTTPS", |s| {
        s.contains("PID") && s.contains("alpha") && s.contains("sorted by CPU")
    });
    tmux.keys("q");
    tmux.wait_gone("rusm top did not quit on `q`");

    running.signal(libc::SIGTERM);
    running.finish(DEADLINE).assert_code(0);
}
