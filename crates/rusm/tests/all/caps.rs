//! `rusm caps [NAME]`: the resolved grants of profiles and components, in
//! the words of the lifecycle log's spawn lines, then each in full.

use crate::{App, guest_run};

const SANDBOXED_LIMITS: &str = "  limits queued=64M procs=10000 mailbox=unbounded files=256";

const TRUSTED: [&str; 4] = [
    "profile trusted: net listen spawn control storage stdio mem=1024M",
    "  hosts *",
    "  global-names",
    "  limits queued=1024M procs=node-cap mailbox=unbounded files=4096",
];

fn builtins() -> Vec<String> {
    let mut lines = vec![
        "profile sandboxed: mem=64M",
        SANDBOXED_LIMITS,
        "profile network-client: net mem=64M",
        "  hosts public",
        SANDBOXED_LIMITS,
    ];
    lines.extend(TRUSTED);
    lines.into_iter().map(str::to_owned).collect()
}

fn app_with_profiles() -> App {
    let app = App::new();
    app.write(
        "rusm.toml",
        r#"
[capabilities.agent]
inherits = "network-client"
allow-spawn = true
max-memory-mb = 256
env = ["OPENAI_API_KEY", "HOME"]
preopen = [{ host = "./data", guest = "/data", read-only = true }]
max-processes = 10
mailbox-capacity = 100
max-open-files = 64

[capabilities.keeper]
allow-storage = true
allow-spawn = ["job"]
allow-global-names = true
max-queued-mb = 8

[capabilities.root]
inherits = "trusted"
max-open-files = 1024

[components.bot]
capability = "agent"
resident = true

[components.job]
"#,
    )
    .write("wasm/bot.wat", &guest_run(""))
    .write("wasm/job.wat", &guest_run(""));
    app
}

#[test]
fn caps_without_a_manifest_lists_the_builtin_profiles() {
    let app = App::new();
    let out = app.rusm(&["caps"]);
    out.assert_code(0);
    assert_eq!(out.stdout_lines(), builtins());
    assert_eq!(out.stderr, "");
}

#[test]
fn caps_lists_custom_profiles_and_components() {
    let app = app_with_profiles();
    let out = app.rusm(&["caps"]);
    out.assert_code(0);
    // The host path is absolute, from the working directory as the OS sees it.
    let data = app
        .path()
        .canonicalize()
        .expect("the app folder")
        .join("data");
    let agent = "net spawn env=2 fs=1 mem=256M procs=10 mailbox=100 files=64";
    let agent_details = [
        "  hosts public".to_string(),
        format!("  fs {} -> /data (ro)", data.display()),
        "  env OPENAI_API_KEY HOME".to_string(),
        "  limits queued=64M procs=10 mailbox=100 files=64".to_string(),
    ];
    let mut expected = builtins();
    expected.push(format!("profile agent (inherits network-client): {agent}"));
    expected.extend(agent_details.clone());
    expected.extend([
        "profile keeper (inherits sandboxed): spawn=job storage global-names mem=64M queued=8M"
            .to_string(),
        "  global-names".to_string(),
        "  limits queued=8M procs=10000 mailbox=unbounded files=256".to_string(),
        // A custom profile's line is compared with sandboxed, so trusted's
        // larger limits show on it.
        "profile root (inherits trusted): net=* listen spawn control storage stdio global-names \
         mem=1024M queued=1024M procs=node-cap files=1024"
            .to_string(),
        "  hosts *".to_string(),
        "  global-names".to_string(),
        "  limits queued=1024M procs=node-cap mailbox=unbounded files=1024".to_string(),
    ]);
    expected.push(format!("component bot (agent, resident): {agent}"));
    expected.extend(agent_details);
    expected.extend([
        "component job (sandboxed): mem=64M".to_string(),
        SANDBOXED_LIMITS.to_string(),
    ]);
    assert_eq!(out.stdout_lines(), expected);
}

#[test]
fn caps_name_prints_just_that_one() {
    let app = app_with_profiles();

    let out = app.rusm(&["caps", "trusted"]);
    out.assert_code(0);
    assert_eq!(out.stdout_lines(), TRUSTED);

    let out = app.rusm(&["caps", "keeper"]);
    out.assert_code(0);
    assert_eq!(
        out.stdout_lines(),
        [
            "profile keeper (inherits sandboxed): spawn=job storage global-names mem=64M queued=8M",
            "  global-names",
            "  limits queued=8M procs=10000 mailbox=unbounded files=256",
        ]
    );

    let out = app.rusm(&["caps", "job"]);
    out.assert_code(0);
    assert_eq!(
        out.stdout_lines(),
        ["component job (sandboxed): mem=64M", SANDBOXED_LIMITS]
    );

    let out = app.rusm(&["caps", "bot"]);
    out.assert_code(0);
    let lines = out.stdout_lines();
    assert_eq!(
        lines[0],
        "component bot (agent, resident): net spawn env=2 fs=1 mem=256M procs=10 mailbox=100 files=64"
    );
    assert_eq!(
        lines.len(),
        5,
        "the component, its hosts, its preopen, its env, its limits: {lines:?}"
    );
}

#[test]
fn caps_of_an_unknown_name_exits_2() {
    let app = app_with_profiles();
    let out = app.rusm(&["caps", "nosuch"]);
    out.assert_code(2);
    assert_eq!(out.stdout, "");
    assert!(out.stderr.contains("nosuch"), "{}", out.show());

    let out = App::new().rusm(&["caps", "agent"]);
    out.assert_code(2);
}

#[test]
fn caps_with_a_broken_manifest_exits_2_with_its_diagnostics() {
    let app = App::new();
    app.write(
        "rusm.toml",
        "[capabilities.x]\nallow-stdoi = true\nmax-open-files = \"many\"\n",
    );
    let out = app.rusm(&["caps"]);
    out.assert_code(2);
    let stderr: Vec<&str> = out.stderr.lines().collect();
    assert!(
        stderr
            .iter()
            .any(|l| l.starts_with("rusm.toml:2:1: error: unknown key `allow-stdoi`")),
        "{}",
        out.show()
    );
    assert!(
        stderr.contains(
            &"rusm.toml:3:18: error: `max-open-files` must be a positive integer, not a string"
        ),
        "{}",
        out.show()
    );
}

#[test]
fn caps_shows_the_hosts_a_profile_may_reach() {
    let app = App::new();
    app.write(
        "rusm.toml",
        r#"
[capabilities.agent]
inherits = "network-client"
allow-hosts = ["api.openai.com:443", "127.0.0.1:8080"]
"#,
    );
    let out = app.rusm(&["caps", "agent"]);
    out.assert_code(0);
    assert_eq!(
        out.stdout_lines(),
        [
            "profile agent (inherits network-client): net=api.openai.com:443,127.0.0.1:8080 mem=64M",
            "  hosts api.openai.com:443 127.0.0.1:8080",
            SANDBOXED_LIMITS,
        ]
    );
}

#[test]
fn check_reports_a_malformed_host_pattern_with_its_position() {
    let app = App::new();
    app.write(
        "rusm.toml",
        "[capabilities.agent]\nallow-network = true\nallow-hosts = [\"0x7f.1:80\"]\n",
    );
    let out = app.rusm(&["check"]);
    assert_ne!(out.code(), 0, "{}", out.show());
    assert!(
        (out.stdout.clone() + &out.stderr).contains(
            "rusm.toml:3:16: error: bad `allow-hosts` entry \"0x7f.1:80\": `0x7f.1` is a numeric host"
        ),
        "{}",
        out.stderr
    );
}
