//! Valid manifests: values, defaults, path and profile resolution.

use crate::{App, lines};
use rusm_caps::{Capabilities, Preopen, SpawnGrant};
use rusm_manifest::{LogLevel, Strategy, SupervisorConfig, load};
use std::time::Duration;

/// The whole manifest of MANIFEST.md, comments included.
pub const SPEC_EXAMPLE: &str = r#"store = "data/app.redb"        # optional: the node's durable key-value store (one redb file)
max-processes = 1000000        # node-wide cap on live processes (default 1,000,000)
max-message-mb = 16            # a larger message is refused with `limit` (default 16)
shutdown-seconds = 5           # graceful shutdown: how long processes get before they are killed (default 5)

[log]
level = "info"                 # off | error | warn | info | debug (default off)

[supervisor]                   # how resident components are restarted
strategy = "one-for-one"       # one-for-one | one-for-all | rest-for-one
max-restarts = 5               # within...
max-seconds = 10               # ...this window; past it the node gives up and stops

[capabilities.worker]          # custom profiles: see CAPABILITIES.md
inherits = "sandboxed"
allow-storage = true

[components.counter]
path = "wasm/counter.wasm"     # default: wasm/<name>.wasm, then wasm/<name>.wat
capability = "worker"          # a built-in or custom profile; default "sandboxed" (a missing key is still a declaration)
resident = true                # boot it with the node and restart it when it crashes

[components.job]               # not resident: spawned by name, on demand
capability = "sandboxed"
"#;

#[test]
fn the_spec_example_loads_completely() {
    let app = App::new();
    let path = app.manifest(SPEC_EXAMPLE);
    let loaded = load(&path).expect("the spec example is valid");
    assert!(loaded.diagnostics.is_empty(), "{:?}", loaded.diagnostics);
    let m = loaded.manifest;

    assert_eq!(m.path, path);
    assert_eq!(m.dir, app.dir.path());
    assert_eq!(m.store, Some(app.path("data/app.redb")));
    assert_eq!(m.max_processes, 1_000_000);
    assert_eq!(m.max_message_bytes, 16 * 1024 * 1024);
    assert_eq!(m.shutdown, Duration::from_secs(5));
    assert_eq!(m.log_level, LogLevel::Info);
    assert_eq!(
        m.supervisor,
        SupervisorConfig {
            strategy: Strategy::OneForOne,
            max_restarts: 5,
            max_seconds: 10.0
        }
    );
    assert_eq!(m.profiles.names().collect::<Vec<_>>(), ["worker"]);

    let names: Vec<&str> = m.components.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["counter", "job"]);

    let counter = m.component("counter").expect("declared");
    assert_eq!(counter.path, app.path("wasm/counter.wasm"));
    assert_eq!(counter.capability, "worker");
    assert!(counter.resident);
    assert_eq!(counter.caps.profile, "worker");
    assert_eq!(counter.caps.summary(), "storage mem=64M");

    let job = m.component("job").expect("declared");
    assert_eq!(job.path, app.path("wasm/job.wasm"));
    assert_eq!(job.capability, "sandboxed");
    assert!(!job.resident);
    assert_eq!(job.caps, Capabilities::sandboxed());

    assert!(m.component("nope").is_none());
}

#[test]
fn an_empty_manifest_is_all_defaults() {
    let app = App::new();
    let loaded = load(&app.manifest("# nothing yet\n")).expect("empty is valid");
    let m = loaded.manifest;
    assert!(loaded.diagnostics.is_empty());
    assert_eq!(m.store, None);
    assert_eq!(m.max_processes, 1_000_000);
    assert_eq!(m.max_message_bytes, 16 << 20);
    assert_eq!(m.shutdown, Duration::from_secs(5));
    assert_eq!(m.log_level, LogLevel::Off);
    assert_eq!(
        m.supervisor,
        SupervisorConfig {
            strategy: Strategy::OneForOne,
            max_restarts: 3,
            max_seconds: 5.0
        }
    );
    assert!(m.profiles.is_empty());
    assert!(m.components.is_empty());
}

#[test]
fn numbers_take_their_units() {
    let app = App::new();
    let path = app.manifest(
        "max-processes = 10\nmax-message-mb = 1\nshutdown-seconds = 0.25\n\
         [supervisor]\nstrategy = \"rest-for-one\"\nmax-restarts = 0\nmax-seconds = 0.5\n",
    );
    let m = load(&path).expect("valid").manifest;
    assert_eq!(m.max_processes, 10);
    assert_eq!(m.max_message_bytes, 1 << 20);
    assert_eq!(m.shutdown, Duration::from_millis(250));
    assert_eq!(m.supervisor.strategy, Strategy::RestForOne);
    assert_eq!(m.supervisor.max_restarts, 0);
    assert_eq!(m.supervisor.max_seconds, 0.5);

    let path = app.manifest("shutdown-seconds = 0\n[supervisor]\nstrategy = \"one-for-all\"\n");
    let m = load(&path).expect("valid").manifest;
    assert_eq!(m.shutdown, Duration::ZERO);
    assert_eq!(m.supervisor.strategy, Strategy::OneForAll);
}

#[test]
fn every_log_level_parses() {
    for level in LogLevel::ALL {
        let app = App::new();
        let path = app.manifest(&format!("[log]\nlevel = \"{level}\"\n"));
        assert_eq!(load(&path).expect("valid").manifest.log_level, level);
        assert_eq!(level.as_str().parse::<LogLevel>(), Ok(level));
    }
    let err = "verbose".parse::<LogLevel>().expect_err("not a level");
    assert_eq!(
        err.to_string(),
        "unknown log level `verbose` (expected one of: off, error, warn, info, debug)"
    );
}

#[test]
fn component_paths_default_to_wasm_then_wat() {
    let app = App::new();
    app.file("wasm/both.wasm", "");
    app.file("wasm/both.wat", "(module)");
    app.file("wasm/text.wat", "(module)");
    let abs = app.file("elsewhere/abs.wasm", "");
    let path = app.manifest(&format!(
        "[components.both]\n\
         [components.text]\n\
         [components.none]\n\
         [components.given]\npath = \"build/given.wasm\"\n\
         [components.dotted]\npath = \"./wasm/../wasm/d.wat\"\n\
         [components.absolute]\npath = {:?}\n",
        abs.display().to_string()
    ));
    let m = load(&path).expect("valid").manifest;
    let path_of = |name: &str| m.component(name).expect("declared").path.clone();
    assert_eq!(
        path_of("both"),
        app.path("wasm/both.wasm"),
        ".wasm wins when both exist"
    );
    assert_eq!(
        path_of("text"),
        app.path("wasm/text.wat"),
        ".wat when only it exists"
    );
    assert_eq!(
        path_of("none"),
        app.path("wasm/none.wasm"),
        ".wasm when neither does"
    );
    assert_eq!(path_of("given"), app.path("build/given.wasm"));
    assert_eq!(path_of("dotted"), app.dir.path().join("wasm/../wasm/d.wat"));
    assert_eq!(path_of("absolute"), abs);
    assert!(m.components.iter().all(|c| c.path.is_absolute()));
}

#[test]
fn components_keep_file_order() {
    let app = App::new();
    let path = app.manifest(
        "[components.zeta]\n[components.alpha]\n[components.mid]\nresident = true\n\
         [components]\nomega = { resident = true }\nbeta.capability = \"trusted\"\n",
    );
    let m = load(&path).expect("valid").manifest;
    let names: Vec<&str> = m.components.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["zeta", "alpha", "mid", "omega", "beta"]);
    assert!(m.component("omega").expect("inline table").resident);
    assert_eq!(
        m.component("beta").expect("dotted key").caps,
        Capabilities::trusted()
    );
}

#[test]
fn tables_may_be_inline_or_dotted() {
    let app = App::new();
    let path = app.manifest(
        "log.level = \"debug\"\nsupervisor = { strategy = \"one-for-all\" }\n\
         capabilities.quick = { allow-stdio = true }\n",
    );
    let m = load(&path).expect("valid").manifest;
    assert_eq!(m.log_level, LogLevel::Debug);
    assert_eq!(m.supervisor.strategy, Strategy::OneForAll);
    assert_eq!(m.profiles.resolve("quick").caps.summary(), "stdio mem=64M");
}

#[test]
fn a_custom_profile_inherits_network_client() {
    // The example of CAPABILITIES.md.
    let app = App::new();
    let path = app.manifest(
        r#"[capabilities.agent]
inherits = "network-client"   # a built-in base; default "sandboxed"
allow-spawn = true
max-memory-mb = 256
env = ["OPENAI_API_KEY"]
preopen = [{ host = "./data", guest = "/data", read-only = false }]

[components.agent]
capability = "agent"
"#,
    );
    let loaded = load(&path).expect("valid");
    assert!(
        loaded.diagnostics.is_empty(),
        "{:?}",
        lines(&loaded.diagnostics, &path)
    );
    let caps = &loaded.manifest.component("agent").expect("declared").caps;
    let declared = Capabilities {
        profile: "agent".into(),
        preopens: vec![Preopen {
            host: app.path("data"),
            guest: "/data".into(),
            read_only: false,
        }],
        allow_network: true,
        allow_listen: false,
        env: vec!["OPENAI_API_KEY".into()],
        allow_stdio: false,
        max_memory_mb: 256,
        allow_process_control: false,
        allow_spawn: SpawnGrant::Any,
        allow_storage: false,
        max_processes: None,
        mailbox_capacity: None,
    };
    assert_eq!(*caps, declared);
    assert_eq!(caps.summary(), "net spawn env=1 fs=1 mem=256M");
    assert!(caps.is_within(&declared) && declared.is_within(caps));
}

#[test]
fn every_grant_key_is_read() {
    let app = App::new();
    let path = app.manifest(
        r#"[capabilities.everything]
inherits = "trusted"
allow-network = false
allow-listen = false
allow-stdio = false
allow-process-control = false
allow-storage = false
allow-spawn = ["job", "worker"]
max-memory-mb = 32
max-processes = 100
mailbox-capacity = 1000
env = ["A", "B"]

[[capabilities.everything.preopen]]
host = "/srv/www"
guest = "/www"
read-only = true
"#,
    );
    let loaded = load(&path).expect("valid");
    let caps = loaded.manifest.profiles.resolve("everything").caps;
    assert_eq!(
        caps.summary(),
        "spawn=job,worker env=2 fs=1 mem=32M procs=100 mailbox=1000"
    );
    assert_eq!(
        caps.preopens,
        [Preopen {
            host: "/srv/www".into(),
            guest: "/www".into(),
            read_only: true
        }]
    );
    assert!(caps.allow_spawn.allows("worker") && !caps.allow_spawn.allows("other"));
}

#[test]
fn the_file_is_named_as_given() {
    // The only test that changes the working directory; every other test
    // uses absolute paths, which do not depend on it.
    let app = App::new();
    app.file("rusm.toml", "[components.root]\npth = \"x\"\n");
    app.file("app/rusm.toml", "[log]\nlevel = \"loud\"\n");
    let before = std::env::current_dir().expect("a working directory");
    std::env::set_current_dir(app.dir.path()).expect("enter the app folder");
    let here = load(std::path::Path::new("rusm.toml"));
    let nested = load(std::path::Path::new("app/rusm.toml"));
    let nested_ok = {
        std::fs::write("app/rusm.toml", "").expect("rewrite");
        load(std::path::Path::new("app/rusm.toml"))
    };
    std::env::set_current_dir(before).expect("leave the app folder");

    let here = here.expect_err("unknown key");
    assert_eq!(
        here[0].to_string(),
        "rusm.toml:2:1: error: unknown key `pth` in [components.root] \
         (expected one of: path, capability, resident)"
    );
    let nested = nested.expect_err("bad level");
    assert_eq!(
        nested[0].to_string(),
        "app/rusm.toml:2:9: error: unknown log level `loud` \
         (expected one of: off, error, warn, info, debug)"
    );
    let m = nested_ok.expect("empty is valid").manifest;
    assert_eq!(m.path, std::path::Path::new("app/rusm.toml"));
    assert_eq!(m.dir, app.path("app"));
}
