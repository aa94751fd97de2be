//! End-to-end tests of the real `rusm` binary, against `MANIFEST.md`.
//!
//! Each test makes an app folder in a temp dir (a `rusm.toml` and `.wat`
//! guests written by the test), runs the built binary there with its own
//! compilation cache, and checks what a user sees: the exit status, stdout,
//! and the stderr lines (diagnostics, `rusm: <name>#<pid> <reason>`, the
//! lifecycle log). Pids are not fixed by the contract, so lines are compared
//! with every pid replaced by `N` (see [`Output::stderr_lines`]).
//!
//! Every run has a deadline: a hung node fails its test, with the output so
//! far, instead of hanging the suite.

mod caps;
mod cluster;
mod diagnostics;
mod example;
mod hostile;
mod network;
mod new;
mod observer;
mod reload;
mod residents;
mod run;
mod serve;
mod serve_input;
mod serve_ws;
mod signals;

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// How long any one run may take before the test calls it hung.
pub(crate) const DEADLINE: Duration = Duration::from_secs(60);

/// Every `rusm` import of the core-module ABI, the two WASI calls the tests
/// use, a memory, and `$print` (stdout, shown only under `allow-stdio`).
/// Bytes 0..64 of memory are scratch for `$print`; guests put their data
/// from 1024 up.
pub(crate) const PRELUDE: &str = r#"
  (import "rusm" "own_pid" (func $own_pid (result i64)))
  (import "rusm" "send" (func $send (param i64 i64 i32 i32) (result i32)))
  (import "rusm" "recv" (func $recv (param i32 i32 i64) (result i32)))
  (import "rusm" "msg_sender" (func $msg_sender (result i64)))
  (import "rusm" "msg_tag" (func $msg_tag (result i64)))
  (import "rusm" "msg_len" (func $msg_len (result i32)))
  (import "rusm" "msg_read" (func $msg_read (param i32 i32) (result i32)))
  (import "rusm" "make_ref" (func $make_ref (result i64)))
  (import "rusm" "sleep" (func $sleep (param i64)))
  (import "rusm" "spawn" (func $spawn (param i32 i32 i32 i32 i32) (result i64)))
  (import "rusm" "monitor" (func $monitor (param i64) (result i64)))
  (import "rusm" "trap_exit" (func $trap_exit (param i32) (result i32)))
  (import "rusm" "kill" (func $kill (param i64) (result i32)))
  (import "rusm" "exit" (func $exit (param i32 i32)))
  (import "rusm" "list_processes" (func $list_processes (param i32 i32) (result i32)))
  (import "rusm" "register" (func $register (param i32 i32) (result i32)))
  (import "rusm" "whereis" (func $whereis (param i32 i32) (result i64)))
  (import "rusm" "kv_get" (func $kv_get (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "rusm" "kv_set" (func $kv_set (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "rusm" "kv_delete" (func $kv_delete (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (import "wasi_snapshot_preview1" "args_sizes_get"
    (func $args_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_get" (func $args_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_sizes_get"
    (func $environ_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_get" (func $environ_get (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func $print (param $ptr i32) (param $len i32)
    (i32.store (i32.const 0) (local.get $ptr))
    (i32.store (i32.const 4) (local.get $len))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))
"#;

/// A core module: the [`PRELUDE`], then `items` (data segments, `run`, ...).
pub(crate) fn guest(items: &str) -> String {
    format!("(module\n{PRELUDE}\n{items}\n)\n")
}

/// A guest whose `run` is `body`.
pub(crate) fn guest_run(body: &str) -> String {
    guest(&format!("(func (export \"run\")\n{body})"))
}

/// A guest that prints `text` on stdout and returns.
pub(crate) fn guest_print(text: &str) -> String {
    guest(&format!(
        "(data (i32.const 1024) \"{}\")\n(func (export \"run\") (call $print (i32.const 1024) (i32.const {})))",
        wat_bytes(text),
        text.len()
    ))
}

/// `text` as the body of a WAT string literal.
pub(crate) fn wat_bytes(text: &str) -> String {
    text.bytes().map(|b| format!("\\{b:02x}")).collect()
}

/// An app folder, and a compilation cache of its own.
pub(crate) struct App {
    dir: TempDir,
    cache: TempDir,
}

impl Default for App {
    fn default() -> Self {
        App::new()
    }
}

impl App {
    pub(crate) fn new() -> App {
        App {
            dir: tempfile::tempdir().expect("a temp dir for the app"),
            cache: tempfile::tempdir().expect("a temp dir for the cache"),
        }
    }

    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes `text` to `rel` in the app folder, creating folders.
    pub(crate) fn write(&self, rel: &str, text: &str) -> &Self {
        let path = self.path().join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create the file's folder");
        }
        std::fs::write(&path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        self
    }

    /// `rusm ARGS` run in the app folder.
    pub(crate) fn command(&self, args: &[&str]) -> Command {
        self.command_in(self.path(), args)
    }

    /// `rusm ARGS` run in `cwd`, with this app's cache.
    pub(crate) fn command_in(&self, cwd: &Path, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_rusm"));
        cmd.args(args)
            .current_dir(cwd)
            .env("RUSM_CACHE_DIR", self.cache.path())
            .env_remove("RUST_LOG")
            .stdin(Stdio::null());
        cmd
    }

    /// Runs `rusm ARGS` in the app folder to its end.
    pub(crate) fn rusm(&self, args: &[&str]) -> Output {
        Running::start(self.command(args)).finish(DEADLINE)
    }

    /// Starts `rusm ARGS` in the app folder and returns at once.
    pub(crate) fn start(&self, args: &[&str]) -> Running {
        Running::start(self.command(args))
    }
}

/// What a finished run left.
#[derive(Debug)]
pub(crate) struct Output {
    pub(crate) status: ExitStatus,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl Output {
    /// The exit code; a run killed by a signal fails the test.
    pub(crate) fn code(&self) -> i32 {
        match self.status.code() {
            Some(code) => code,
            None => panic!("rusm was killed by a signal: {self:#?}"),
        }
    }

    /// Fails unless the exit code is `code`, showing the whole output.
    #[track_caller]
    pub(crate) fn assert_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code(),
            code,
            "exit status; the run was:\n{}",
            self.show()
        );
        self
    }

    /// stderr, one entry per line, with pids replaced by `N`.
    pub(crate) fn stderr_lines(&self) -> Vec<String> {
        self.stderr.lines().map(without_pids).collect()
    }

    /// stdout, one entry per line, with pids replaced by `N`.
    pub(crate) fn stdout_lines(&self) -> Vec<String> {
        self.stdout.lines().map(without_pids).collect()
    }

    /// The whole run, for failure messages.
    pub(crate) fn show(&self) -> String {
        format!(
            "status: {:?}\n--- stdout\n{}--- stderr\n{}---",
            self.status, self.stdout, self.stderr
        )
    }
}

/// `rusm exit  job#12 linked: 9 crashed: ...` becomes
/// `rusm exit  job#N linked: N crashed: ...`: the pid after a `#`, and the
/// pid a `linked:` reason names.
pub(crate) fn without_pids(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    loop {
        let hash = rest.find('#').map(|i| (i, i + 1));
        let linked = rest.find("linked: ").map(|i| (i, i + "linked: ".len()));
        let next = match (hash, linked) {
            (Some(h), Some(l)) => Some(if h.0 <= l.0 { h } else { l }),
            (h, l) => h.or(l),
        };
        let Some((_, pid_at)) = next else { break };
        out.push_str(&rest[..pid_at]);
        rest = &rest[pid_at..];
        let n = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if n > 0 {
            out.push('N');
            rest = &rest[n..];
        }
    }
    out.push_str(rest);
    out
}

/// The pids that lines `<prefix><name>#<pid>...` give for `name`, in order:
/// `pids_of(&lines, "rusm exit  ", "job")`.
pub(crate) fn pids_of(text: &str, prefix: &str, name: &str) -> Vec<u64> {
    let head = format!("{prefix}{name}#");
    text.lines()
        .filter_map(|l| l.strip_prefix(&head))
        .map(|rest| {
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            digits.parse().expect("a pid after `#`")
        })
        .collect()
}

/// A `rusm` process, with its stdout and stderr collected line by line as
/// they come, so a test can wait for "it is up" before poking it.
pub(crate) struct Running {
    child: Child,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
    readers: Vec<JoinHandle<()>>,
}

impl Running {
    pub(crate) fn start(mut cmd: Command) -> Running {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the rusm binary");
        let stdout = Arc::new(Mutex::new(String::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        let readers = vec![
            collect(child.stdout.take().expect("piped"), stdout.clone()),
            collect(child.stderr.take().expect("piped"), stderr.clone()),
        ];
        Running {
            child,
            stdout,
            stderr,
            readers,
        }
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// stdout so far.
    pub(crate) fn stdout(&self) -> String {
        self.stdout.lock().expect("not poisoned").clone()
    }

    /// Waits until stdout or stderr has a line for which `found` holds.
    #[track_caller]
    pub(crate) fn wait_for_line(&mut self, what: &str, found: impl Fn(&str) -> bool) {
        let start = Instant::now();
        loop {
            let seen = {
                let out = self.stdout.lock().expect("not poisoned");
                let err = self.stderr.lock().expect("not poisoned");
                out.lines().chain(err.lines()).any(&found)
            };
            if seen {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "rusm ended ({status}) before {what}:\n--- stdout\n{}--- stderr\n{}",
                    self.stdout.lock().expect("not poisoned"),
                    self.stderr.lock().expect("not poisoned")
                );
            }
            assert!(
                start.elapsed() < DEADLINE,
                "no {what} within {DEADLINE:?}; stderr so far:\n{}",
                self.stderr.lock().expect("not poisoned")
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// stderr so far.
    pub(crate) fn stderr_now(&self) -> String {
        self.stderr.lock().expect("not poisoned").clone()
    }

    /// Sends `signal` (`libc::SIGTERM`, ...) to the process.
    pub(crate) fn signal(&self, signal: i32) {
        let pid = libc::pid_t::try_from(self.pid()).expect("a pid fits pid_t");
        // SAFETY: kill(2) with a pid this test started and has not reaped.
        let rc = unsafe { libc::kill(pid, signal) };
        assert_eq!(rc, 0, "kill({pid}, {signal}) failed");
    }

    /// Waits for the end, at most `limit`; past it the process is killed
    /// and the test fails.
    #[track_caller]
    pub(crate) fn finish(mut self, limit: Duration) -> Output {
        let start = Instant::now();
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait for rusm") {
                break status;
            }
            if start.elapsed() > limit {
                let _ = self.child.kill();
                let _ = self.child.wait();
                for r in self.readers.drain(..) {
                    let _ = r.join();
                }
                panic!(
                    "rusm did not end within {limit:?}:\n--- stdout\n{}--- stderr\n{}",
                    self.stdout.lock().expect("not poisoned"),
                    self.stderr.lock().expect("not poisoned")
                );
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        for r in self.readers.drain(..) {
            r.join().expect("the reader thread does not panic");
        }
        let take = |s: &Arc<Mutex<String>>| std::mem::take(&mut *s.lock().expect("not poisoned"));
        Output {
            status,
            stdout: take(&self.stdout),
            stderr: take(&self.stderr),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // A test that failed half-way must not leave a node running.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn collect(stream: impl Read + Send + 'static, into: Arc<Mutex<String>>) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stream);
        let mut line = String::new();
        loop {
            line.clear();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => into.lock().expect("not poisoned").push_str(&line),
            }
        }
    })
}

/// The repository's `examples/` folder.
pub(crate) fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

#[test]
fn pids_are_masked_in_lines() {
    assert_eq!(
        without_pids("rusm exit  job#12 linked: 9 crashed: exit code 3"),
        "rusm exit  job#N linked: N crashed: exit code 3"
    );
    assert_eq!(without_pids("rusm: a#1 normal"), "rusm: a#N normal");
    assert_eq!(
        without_pids("rusm.toml:2:1: error: x"),
        "rusm.toml:2:1: error: x"
    );
    assert_eq!(
        pids_of(
            "rusm exit  a#3 normal\nrusm exit  ab#4 x\nrusm exit  a#15 y",
            "rusm exit  ",
            "a"
        ),
        [3, 15]
    );
}
