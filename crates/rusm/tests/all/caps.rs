//! `rusm caps [NAME]`: the resolved grants of profiles and components, in
//! the words of the lifecycle log's spawn lines.

use crate::{App, guest_run};

const BUILTINS: [&str; 3] = [
    "profile sandboxed: mem=64M",
    "profile network-client: net mem=64M",
    "profile trusted: net listen spawn control storage stdio mem=1024M",
];

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

[capabilities.keeper]
allow-storage = true
allow-spawn = ["job"]

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
    assert_eq!(out.stdout_lines(), BUILTINS);
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
    let mut expected: Vec<String> = BUILTINS.iter().map(|s| s.to_string()).collect();
    expected.extend([
        "profile agent (inherits network-client): net spawn env=2 fs=1 mem=256M procs=10 mailbox=100"
            .to_string(),
        "profile keeper (inherits sandboxed): spawn=job storage mem=64M".to_string(),
        "component bot (agent, resident): net spawn env=2 fs=1 mem=256M procs=10 mailbox=100"
            .to_string(),
        format!("  fs {} -> /data (ro)", data.display()),
        "  env OPENAI_API_KEY HOME".to_string(),
        "component job (sandboxed): mem=64M".to_string(),
    ]);
    assert_eq!(out.stdout_lines(), expected);
}

#[test]
fn caps_name_prints_just_that_one() {
    let app = app_with_profiles();

    let out = app.rusm(&["caps", "trusted"]);
    out.assert_code(0);
    assert_eq!(out.stdout_lines(), [BUILTINS[2]]);

    let out = app.rusm(&["caps", "keeper"]);
    out.assert_code(0);
    assert_eq!(
        out.stdout_lines(),
        ["profile keeper (inherits sandboxed): spawn=job storage mem=64M"]
    );

    let out = app.rusm(&["caps", "job"]);
    out.assert_code(0);
    assert_eq!(out.stdout_lines(), ["component job (sandboxed): mem=64M"]);

    let out = app.rusm(&["caps", "bot"]);
    out.assert_code(0);
    let lines = out.stdout_lines();
    assert_eq!(
        lines[0],
        "component bot (agent, resident): net spawn env=2 fs=1 mem=256M procs=10 mailbox=100"
    );
    assert_eq!(
        lines.len(),
        3,
        "the component, its preopen, its env: {lines:?}"
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
    app.write("rusm.toml", "[capabilities.x]\nallow-stdoi = true\n");
    let out = app.rusm(&["caps"]);
    out.assert_code(2);
    assert!(
        out.stderr
            .lines()
            .any(|l| l.starts_with("rusm.toml:2:1: error: unknown key `allow-stdoi`")),
        "{}",
        out.show()
    );
}
