//! Integration tests of the Wasm backend: real Wasmtime instances running
//! WAT fixtures, on a real actor-core node.

mod adversarial;
mod cluster;
mod component;
mod cpu;
mod fuzz;
mod http_handler;
mod isolation;
mod module_abi;
mod network;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusm_caps::Capabilities;
use rusm_core::{ExitReason, Lifecycle, Node, NodeConfig, Pid, SpawnOptions};
use rusm_wasm::{Artifact, RuntimeOptions, WasmConfig, WasmRuntime, WasmSpawn};

/// Every exit reason, by pid, so a test can ask after the fact.
#[derive(Default)]
pub struct Exits(Mutex<HashMap<Pid, ExitReason>>);

impl Lifecycle for Exits {
    fn exited(&self, pid: Pid, _name: Option<&str>, reason: &ExitReason) {
        self.0.lock().unwrap().insert(pid, reason.clone());
    }
}

/// A node, a Wasm runtime on it, and the exit reason of every process.
pub struct Harness {
    /// The node.
    pub node: Node,
    /// The runtime under test, with a 200-slot pool.
    pub rt: WasmRuntime,
    /// Every exit reason, by pid.
    pub exits: Arc<Exits>,
}

/// A harness with default options.
pub fn harness() -> Harness {
    harness_with(RuntimeOptions::default(), NodeConfig::default())
}

/// A harness with these runtime options and node configuration.
pub fn harness_with(options: RuntimeOptions, config: NodeConfig) -> Harness {
    let exits = Arc::new(Exits::default());
    let node = Node::new(NodeConfig {
        lifecycle: Some(exits.clone()),
        ..config
    });
    let wasm = WasmConfig {
        pool_slots: 200,
        ..WasmConfig::default()
    };
    let rt = WasmRuntime::new(node.clone(), wasm, options).expect("runtime");
    Harness { node, rt, exits }
}

/// A harness whose node has a real store, in a temporary directory that
/// lives as long as the returned guard.
pub fn harness_with_store() -> (Harness, rusm_kv::Store, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let store = rusm_kv::Store::open(dir.path().join("kv.redb")).expect("store");
    let h = harness_with(
        RuntimeOptions {
            kv: Some(store.clone()),
            ..Default::default()
        },
        NodeConfig::default(),
    );
    (h, store, dir)
}

impl Harness {
    /// Load a guest from text; panics with the load error.
    pub fn load(&self, name: &str, wat: &str) -> Artifact {
        self.rt
            .load_bytes(name, wat.as_bytes())
            .unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    /// Spawn from the host under `caps`.
    pub fn spawn(&self, artifact: &Artifact, caps: Capabilities) -> Pid {
        self.spawn_with(artifact, caps, SpawnOptions::new())
    }

    /// Spawn from the host under `caps`, with spawn options.
    pub fn spawn_with(
        &self,
        artifact: &Artifact,
        caps: Capabilities,
        options: SpawnOptions,
    ) -> Pid {
        self.rt
            .spawn(
                artifact,
                WasmSpawn {
                    name: artifact.name().into(),
                    args: vec![],
                    caps: caps.into(),
                    parent: Pid::NODE,
                    options,
                },
            )
            .expect("spawn")
    }

    /// Run a guest to its end and return its reason.
    pub async fn run(&self, artifact: &Artifact, caps: Capabilities) -> ExitReason {
        let pid = self.spawn(artifact, caps);
        self.reason(pid).await
    }

    /// The exit reason of `pid`, waiting up to a few seconds for it.
    pub async fn reason(&self, pid: Pid) -> ExitReason {
        for _ in 0..3000 {
            if let Some(r) = self.exits.0.lock().unwrap().get(&pid) {
                return r.clone();
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        panic!("process {pid} did not exit within 15 s");
    }
}

/// A fixture file next to the tests.
pub fn fixture(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/all/fixtures")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The `trusted` profile.
pub fn trusted() -> Capabilities {
    Capabilities::trusted()
}

/// The `rusm deny` lines (and any other `warn` line) logged so far by every
/// test of this binary, captured through a `tracing` subscriber installed
/// on first use. Tests tell their lines apart by the process name.
pub fn warn_lines() -> Vec<String> {
    use std::sync::OnceLock;
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let _ = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::WARN)
            .with_writer(|| Capture)
            .with_ansi(false)
            .without_time()
            .with_level(false)
            .with_target(false)
            // The message alone, as `rusm`'s text log shows it (the
            // structured fields are for its JSON log).
            .fmt_fields(tracing_subscriber::fmt::format::debug_fn(
                |w, field, value| {
                    if field.name() == "message" {
                        write!(w, "{value:?}")
                    } else {
                        Ok(())
                    }
                },
            ))
            .try_init();
    });
    CAPTURED.lock().unwrap().clone()
}

static CAPTURED: Mutex<Vec<String>> = Mutex::new(Vec::new());

struct Capture;

impl std::io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        let mut lines = CAPTURED.lock().unwrap();
        lines.extend(text.lines().map(|l| l.trim().to_owned()));
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
