//! Valid manifests: values, defaults, path and profile resolution.

use crate::{App, lines};
use rusm_caps::{Capabilities, Preopen, SpawnGrant};
use rusm_manifest::{LogLevel, Strategy, SupervisorConfig, load};
use std::time::Duration;

/// The whole manifest of MANIFEST.md, comments included.
pub(crate) const SPEC_EXAMPLE: &str = r#"store = "data/app.redb"        # optional: the node's durable key-value store (one redb file)
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
        allow_hosts: None,
        allow_listen: false,
        env: vec!["OPENAI_API_KEY".into()],
        allow_stdio: false,
        max_memory_mb: 256,
        allow_process_control: false,
        allow_spawn: SpawnGrant::Any,
        allow_storage: false,
        max_processes: Some(10_000),
        mailbox_capacity: None,
        allow_global_names: false,
        max_queued_mb: 64,
        max_open_files: 256,
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
allow-global-names = false
max-queued-mb = 32
max-open-files = 64
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
        "spawn=job,worker env=2 fs=1 mem=32M queued=32M procs=100 mailbox=1000 files=64"
    );
    assert!(!caps.allow_global_names);
    assert_eq!((caps.max_queued_mb, caps.max_open_files), (32, 64));
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
fn the_limits_default_to_the_base_profile() {
    let app = App::new();
    let path = app.manifest(
        "[capabilities.plain]\nallow-storage = true\n\
         [capabilities.client]\ninherits = \"network-client\"\n\
         [capabilities.root]\ninherits = \"trusted\"\nallow-stdio = false\n",
    );
    let m = load(&path).expect("valid").manifest;

    for name in ["plain", "client"] {
        let caps = m.profiles.resolve(name).caps;
        assert_eq!(caps.max_processes, Some(10_000), "{name}");
        assert_eq!(caps.max_queued_mb, 64, "{name}");
        assert_eq!(caps.max_open_files, 256, "{name}");
        assert!(!caps.allow_global_names, "{name}");
    }

    let root = m.profiles.resolve("root").caps;
    assert_eq!(root.max_processes, None, "only the node's cap");
    assert_eq!((root.max_queued_mb, root.max_open_files), (1024, 4096));
    assert!(root.allow_global_names);
    // Compared with sandboxed, as every custom profile is.
    assert_eq!(
        root.summary(),
        "net=* listen spawn control storage global-names mem=1024M \
         queued=1024M procs=node-cap files=4096"
    );
}

#[test]
fn a_profile_inheriting_trusted_overrides_its_limits() {
    let app = App::new();
    let path = app.manifest(
        r#"[capabilities.registry]
inherits = "trusted"
allow-global-names = false
max-queued-mb = 256
max-open-files = 512
max-processes = 50

[capabilities.named]
allow-global-names = true
max-queued-mb = 2048
max-open-files = 8192

[components.registry]
capability = "registry"
"#,
    );
    let loaded = load(&path).expect("valid");
    assert!(
        loaded.diagnostics.is_empty(),
        "{:?}",
        lines(&loaded.diagnostics, &path)
    );
    let m = loaded.manifest;

    let registry = &m.component("registry").expect("declared").caps;
    assert!(!registry.allow_global_names);
    assert_eq!(registry.max_queued_mb, 256);
    assert_eq!(registry.max_open_files, 512);
    assert_eq!(registry.max_processes, Some(50));
    assert!(registry.allow_stdio, "the rest is trusted's");
    assert!(registry.is_within(&Capabilities::trusted()));
    assert_eq!(
        registry.summary(),
        "net=* listen spawn control storage stdio mem=1024M queued=256M procs=50 files=512"
    );

    // A sandboxed base may be given more than trusted's limits: they are
    // the operator's to choose.
    let named = m.profiles.resolve("named").caps;
    assert!(named.allow_global_names);
    assert_eq!((named.max_queued_mb, named.max_open_files), (2048, 8192));
    assert_eq!(named.max_processes, Some(10_000));
    assert_eq!(
        named.summary(),
        "global-names mem=64M queued=2048M files=8192"
    );
    assert!(!named.is_within(&Capabilities::trusted()));
}

#[test]
fn the_node_wide_process_cap_defaults_to_a_million() {
    // MANIFEST.md: `max-processes = 1000000 # ... (default 1,000,000)`,
    // separate from the 10,000 of each sandboxed profile.
    assert_eq!(rusm_manifest::DEFAULT_MAX_PROCESSES, 1_000_000);
    let app = App::new();
    let m = load(&app.manifest("[capabilities.a]\nmax-processes = 5\n"))
        .expect("valid")
        .manifest;
    assert_eq!(m.max_processes, 1_000_000);
    assert_eq!(m.profiles.resolve("a").caps.max_processes, Some(5));
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
         (expected one of: path, capability, resident, remote)"
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

#[test]
fn allow_hosts_and_network_are_read() {
    let app = App::new();
    app.file("certs/test-ca.pem", "not checked here");
    let path = app.manifest(
        r#"
[capabilities.agent]
inherits = "network-client"
allow-hosts = ["API.example.com:443", "*.internal.example:*", "10.0.0.0/8", "[::1]:8080"]

[network]
extra-roots = ["certs/test-ca.pem"]
connect-timeout-seconds = 2.5
max-concurrent-requests = 4
"#,
    );
    let loaded = load(&path).expect("valid");
    let caps = loaded.manifest.profiles.resolve("agent").caps;
    assert_eq!(
        caps.summary(),
        "net=api.example.com:443,*.internal.example,10.0.0.0/8,[::1]:8080 mem=64M"
    );
    let net = &loaded.manifest.network;
    assert_eq!(net.extra_roots, vec![app.path("certs/test-ca.pem")]);
    assert_eq!(net.connect_timeout, std::time::Duration::from_millis(2500));
    assert_eq!(net.max_concurrent_requests, 4);

    let policy = caps.host_policy();
    assert!(policy.check_addr("[::1]:8080".parse().unwrap()));
    assert!(!policy.check_addr("127.0.0.1:8080".parse().unwrap()));
}

#[test]
fn network_defaults() {
    let app = App::new();
    let loaded = load(&app.manifest("")).expect("valid");
    assert_eq!(
        loaded.manifest.network,
        rusm_manifest::NetworkConfig::default()
    );
    assert_eq!(
        loaded.manifest.network.connect_timeout,
        rusm_manifest::DEFAULT_CONNECT_TIMEOUT
    );
}
