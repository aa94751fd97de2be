//! A second process for the tests that need one: this test binary,
//! re-executed on the ignored test `child::entry`, which does what the
//! `RUSM_KV_CHILD` variable says.
//!
//! - `hold`: opens the store, prints `ready`, and sleeps (a node that holds
//!   the file until it is killed).
//! - `crash-writer`: opens the store, prints `ready`, then writes from
//!   several tasks forever, printing one line per acknowledged write (see
//!   `crash.rs`).
//!
//! Each line is written with one `write` to a pipe, shorter than PIPE_BUF, so
//! a SIGKILL can cut the stream between lines but never inside one.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use rusm_kv::Store;

const MODE: &str = "RUSM_KV_CHILD";
const PATH: &str = "RUSM_KV_CHILD_PATH";
const ROUND: &str = "RUSM_KV_CHILD_ROUND";

/// The crash writer's concurrent tasks; each has at most one write in flight.
pub(crate) const CRASH_TASKS: u64 = 8;
pub(crate) const DATA_BUCKET: &str = "data";
pub(crate) const COUNTER_BUCKET: &str = "counter";
pub(crate) const COUNTER_KEY: &str = "n";

/// A running child and its stdout, line by line.
///
/// A thread reads the pipe as the child writes, so the child never blocks on
/// a full pipe (which would stall its writers and blunt the test).
pub(crate) struct ChildProcess {
    pub(crate) child: Child,
    lines: mpsc::Receiver<String>,
    stderr_file: PathBuf,
}

impl ChildProcess {
    /// Starts `mode` on the store at `path` and waits for its `ready` line.
    pub(crate) fn start(mode: &str, path: &Path, round: u64) -> ChildProcess {
        let folder = path.parent().expect("the store path has a folder");
        std::fs::create_dir_all(folder).expect("create the store's folder");
        let stderr_file = path.with_extension(format!("child-{round}.stderr"));
        let stderr = std::fs::File::create(&stderr_file).expect("create the child's stderr file");
        let mut child = Command::new(std::env::current_exe().expect("the test binary's path"))
            // --quiet: otherwise libtest prints "test child::entry ... " with no
            // newline, and our first line would be glued to it.
            .args([
                "--exact",
                "child::entry",
                "--ignored",
                "--nocapture",
                "--quiet",
            ])
            .env(MODE, mode)
            .env(PATH, path)
            .env(ROUND, round.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("spawn the child test process");
        let stdout = child.stdout.take().expect("stdout is piped");
        let (send, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if send.send(line).is_err() {
                    break;
                }
            }
        });
        let process = ChildProcess {
            child,
            lines,
            stderr_file,
        };
        // libtest prints its own lines first; ours start at "ready".
        loop {
            match process.lines.recv_timeout(Duration::from_secs(30)) {
                Ok(line) if line == "ready" => return process,
                Ok(_) => continue,
                Err(_) => panic!(
                    "child `{mode}` did not get ready; its stderr:\n{}",
                    process.stderr()
                ),
            }
        }
    }

    /// Everything the child printed after `ready`, up to its end. Call only
    /// once the child is dead, or this waits for it.
    pub(crate) fn remaining_lines(&self) -> Vec<String> {
        self.lines.iter().collect()
    }

    /// Kills the child with SIGKILL: no destructor, no flush, no goodbye.
    pub(crate) fn sigkill(&mut self) {
        let pid = libc::pid_t::try_from(self.child.id()).expect("pids fit in pid_t");
        // SAFETY: plain syscall on a pid we spawned and have not reaped yet
        // (so it cannot have been reused).
        let rc = unsafe { libc::kill(pid, libc::SIGKILL) };
        assert_eq!(rc, 0, "kill -9 {pid}: {}", std::io::Error::last_os_error());
        let status = self.child.wait().expect("reap the child");
        assert!(
            !status.success(),
            "the child cannot have finished on its own: {status}"
        );
    }

    pub(crate) fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_file).unwrap_or_default()
    }
}

/// The value the crash writer stores under `key`: derived from the key, so
/// the checker can recompute it; some are large enough to span pages.
pub(crate) fn crash_value(key: &str, i: u64) -> Vec<u8> {
    let repeat = if i % 16 == 5 {
        8192 / key.len() + 1
    } else {
        (i % 4 + 1) as usize
    };
    key.as_bytes().repeat(repeat)
}

pub(crate) fn crash_key(round: u64, task: u64, i: u64) -> String {
    format!("r{round:02}/t{task}/{i:06}")
}

#[test]
#[ignore = "run by other tests as a child process"]
fn entry() {
    let Ok(mode) = std::env::var(MODE) else {
        return; // someone ran the ignored tests by hand: nothing to do
    };
    let path = PathBuf::from(std::env::var(PATH).expect("RUSM_KV_CHILD_PATH is set"));
    let round: u64 = std::env::var(ROUND)
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(0);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("build a runtime");
    runtime.block_on(async {
        let store = Store::open(&path).expect("the child opens the store");
        say("ready".to_string());
        match mode.as_str() {
            "hold" => tokio::time::sleep(Duration::from_secs(60)).await,
            "crash-writer" => crash_writer(store, round).await,
            other => panic!("unknown child mode {other}"),
        }
    });
}

fn say(mut line: String) {
    line.push('\n');
    let mut out = std::io::stdout().lock();
    out.write_all(line.as_bytes()).expect("write to the parent");
    out.flush().expect("flush to the parent");
}

/// Writes until killed: each task sets fresh keys, deletes one of its own
/// older keys every fourth step, and increments a shared counter with CAS.
/// Every line printed is a promise the checker holds the store to.
async fn crash_writer(store: Store, round: u64) {
    let mut tasks = Vec::new();
    for task in 0..CRASH_TASKS {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            // Stop on our own if the parent never kills us.
            let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
            for i in 0.. {
                if tokio::time::Instant::now() > deadline {
                    break;
                }
                let key = crash_key(round, task, i);
                store
                    .set(DATA_BUCKET, &key, crash_value(&key, i))
                    .await
                    .expect("set");
                say(format!("set {key}"));

                if i % 4 == 3 {
                    let old = crash_key(round, task, i - 2);
                    say(format!("del? {old}"));
                    assert!(
                        store.delete(DATA_BUCKET, &old).await.expect("delete"),
                        "{old} was set"
                    );
                    say(format!("del {old}"));
                }

                let current = store.get(COUNTER_BUCKET, COUNTER_KEY).await.expect("get");
                let next = current.as_deref().map_or(0, decode_counter) + 1;
                if store
                    .compare_and_swap(
                        COUNTER_BUCKET,
                        COUNTER_KEY,
                        current,
                        next.to_le_bytes().to_vec(),
                    )
                    .await
                    .expect("cas")
                {
                    say(format!("cnt {next}"));
                }
            }
        }));
    }
    for task in tasks {
        task.await.expect("writer task");
    }
}

pub(crate) fn decode_counter(bytes: &[u8]) -> u64 {
    u64::from_le_bytes(bytes.try_into().expect("the counter is 8 bytes"))
}
