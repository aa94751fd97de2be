//! Manifests that must not load: each diagnostic's exact text and place.

use crate::{App, lines, load_errors};
use rusm_manifest::{Severity, load};

/// The errors of a one-off manifest.
fn errors_of(text: &str) -> Vec<String> {
    let app = App::new();
    load_errors(&app.manifest(text))
}

fn one_error(text: &str) -> String {
    let mut errors = errors_of(text);
    assert_eq!(errors.len(), 1, "{errors:#?}");
    errors.remove(0)
}

#[test]
fn unknown_component_key_names_the_expected_ones() {
    assert_eq!(
        one_error("[components.root]\npth = \"wasm/root.wasm\"\n"),
        "rusm.toml:2:1: error: unknown key `pth` in [components.root] \
         (expected one of: path, capability, resident, remote)"
    );
}

#[test]
fn unknown_keys_everywhere() {
    assert_eq!(
        one_error("store = \"s.redb\"\nmax-procs = 3\n"),
        "rusm.toml:2:1: error: unknown key `max-procs` at the top level (expected one of: \
         store, max-processes, max-message-mb, shutdown-seconds, log, supervisor, \
         capabilities, components, http, network, observer, cluster)"
    );
    assert_eq!(
        one_error("[log]\nlevel = \"info\"\n  format = \"json\"\n"),
        "rusm.toml:3:3: error: unknown key `format` in [log] (expected one of: level)"
    );
    assert_eq!(
        one_error("[supervisor]\nmax-restart = 3\n"),
        "rusm.toml:2:1: error: unknown key `max-restart` in [supervisor] \
         (expected one of: strategy, max-restarts, max-seconds)"
    );
    assert_eq!(
        one_error("[capabilities.agent]\nallow-net = true\n"),
        "rusm.toml:2:1: error: unknown key `allow-net` in [capabilities.agent] (expected one of: \
         inherits, preopen, allow-network, allow-hosts, allow-listen, env, allow-stdio, max-memory-mb, \
         allow-process-control, allow-spawn, allow-storage, max-processes, mailbox-capacity, \
         allow-global-names, max-queued-mb, max-open-files)"
    );
    assert_eq!(
        one_error(
            "[capabilities.disk]\npreopen = [{ host = \"/d\", guest = \"/d\", ro = true }]\n"
        ),
        "rusm.toml:2:41: error: unknown key `ro` in a `preopen` entry of [capabilities.disk] \
         (expected one of: host, guest, read-only)"
    );
    assert_eq!(
        one_error("[components.\"a.b\"]\nfile = \"x\"\n"),
        "rusm.toml:2:1: error: unknown key `file` in [components.\"a.b\"] \
         (expected one of: path, capability, resident, remote)"
    );
}

#[test]
fn a_bad_strategy_lists_the_three() {
    assert_eq!(
        one_error("[supervisor]\nstrategy = \"all-for-one\"\n"),
        "rusm.toml:2:12: error: unknown strategy `all-for-one` \
         (expected one of: one-for-one, one-for-all, rest-for-one)"
    );
}

#[test]
fn wrong_types_say_what_was_expected() {
    let cases = [
        (
            "[components.root]\nresident = \"yes\"\n",
            "2:12",
            "`resident` must be a boolean, not a string",
        ),
        (
            "[components.root]\npath = 3\n",
            "2:8",
            "`path` must be a string, not an integer",
        ),
        (
            "[components.root]\ncapability = true\n",
            "2:14",
            "`capability` must be a string, not a boolean",
        ),
        (
            "store = 1.5\n",
            "1:9",
            "`store` must be a string, not a float",
        ),
        (
            "max-processes = \"many\"\n",
            "1:17",
            "`max-processes` must be a positive integer, not a string",
        ),
        (
            "max-processes = 0\n",
            "1:17",
            "`max-processes` must be a positive integer, not 0",
        ),
        (
            "max-message-mb = -1\n",
            "1:18",
            "`max-message-mb` must be a positive integer, not -1",
        ),
        (
            "shutdown-seconds = -1.5\n",
            "1:20",
            "`shutdown-seconds` must be a number of seconds, 0 or more, not -1.5",
        ),
        (
            "shutdown-seconds = \"5s\"\n",
            "1:20",
            "`shutdown-seconds` must be a number of seconds, 0 or more, not a string",
        ),
        (
            "[supervisor]\nmax-restarts = -1\n",
            "2:16",
            "`max-restarts` must be an integer, 0 or more, not -1",
        ),
        (
            "[supervisor]\nmax-restarts = 5000000000\n",
            "2:16",
            "`max-restarts` = 5000000000 is too large",
        ),
        (
            "[supervisor]\nmax-seconds = 0\n",
            "2:15",
            "`max-seconds` must be a positive number of seconds, not 0",
        ),
        (
            "[log]\nlevel = 3\n",
            "2:9",
            "`level` must be a string, not an integer",
        ),
        (
            "log = \"info\"\n",
            "1:7",
            "`log` must be a table ([log]), not a string",
        ),
        (
            "components = [\"a\"]\n",
            "1:14",
            "`components` must be a table (one [components.<name>] per component), not an array",
        ),
        (
            "[components]\nroot = \"wasm/root.wasm\"\n",
            "2:8",
            "`root` must be a table ([components.root]), not a string",
        ),
        (
            "[capabilities.a]\nallow-network = \"yes\"\n",
            "2:17",
            "`allow-network` must be a boolean, not a string",
        ),
        (
            "[capabilities.a]\nenv = \"HOME\"\n",
            "2:7",
            "`env` must be a list of environment variable names, not a string",
        ),
        (
            "[capabilities.a]\nenv = [\"HOME\", 3]\n",
            "2:16",
            "each entry of `env` must be a string, not an integer",
        ),
        (
            "[capabilities.a]\nallow-spawn = \"job\"\n",
            "2:15",
            "`allow-spawn` must be a boolean or a list of component names, not a string",
        ),
        (
            "[capabilities.a]\nmax-memory-mb = 0\n",
            "2:17",
            "`max-memory-mb` must be a positive integer, not 0",
        ),
        (
            "[capabilities.a]\nmailbox-capacity = 1.0\n",
            "2:20",
            "`mailbox-capacity` must be a positive integer, not a float",
        ),
        (
            "[capabilities.a]\nallow-global-names = 1\n",
            "2:22",
            "`allow-global-names` must be a boolean, not an integer",
        ),
        (
            "[capabilities.a]\nmax-queued-mb = \"64M\"\n",
            "2:17",
            "`max-queued-mb` must be a positive integer, not a string",
        ),
        (
            "[capabilities.a]\nmax-queued-mb = 0\n",
            "2:17",
            "`max-queued-mb` must be a positive integer, not 0",
        ),
        (
            "[capabilities.a]\nmax-open-files = -3\n",
            "2:18",
            "`max-open-files` must be a positive integer, not -3",
        ),
        (
            "[capabilities.a]\nmax-open-files = 256.0\n",
            "2:18",
            "`max-open-files` must be a positive integer, not a float",
        ),
        (
            "[capabilities.a]\nmax-processes = true\n",
            "2:17",
            "`max-processes` must be a positive integer, not a boolean",
        ),
        (
            "[capabilities.a]\ninherits = false\n",
            "2:12",
            "`inherits` must be a string, not a boolean",
        ),
        (
            "[capabilities.a]\npreopen = \"/data\"\n",
            "2:11",
            "`preopen` must be a list of tables like [{ host = \"./data\", guest = \"/data\" }], not a string",
        ),
        (
            "[capabilities.a]\npreopen = [\"/data\"]\n",
            "2:12",
            "each `preopen` entry must be a table like { host = \"./data\", guest = \"/data\" }, not a string",
        ),
        (
            "[capabilities.a]\npreopen = [{ host = \"/d\", guest = \"/d\", read-only = 1 }]\n",
            "2:53",
            "`read-only` must be a boolean, not an integer",
        ),
        (
            "[capabilities.a]\npreopen = [{ guest = \"/d\" }]\n",
            "2:12",
            "a `preopen` entry needs `host`, the folder on this machine to share",
        ),
        (
            "[capabilities.a]\npreopen = [{ host = \"/d\" }]\n",
            "2:12",
            "a `preopen` entry needs `guest`, where the guest sees the folder (e.g. \"/data\")",
        ),
    ];
    for (text, at, message) in cases {
        assert_eq!(
            one_error(text),
            format!("rusm.toml:{at}: error: {message}"),
            "for {text:?}"
        );
    }
}

#[test]
fn builtin_profiles_cannot_be_redefined() {
    assert_eq!(
        one_error("[capabilities.trusted]\nallow-stdio = false\n"),
        "rusm.toml:1:15: error: [capabilities.trusted] would redefine the built-in profile \
         `trusted`: choose another name, with `inherits = \"trusted\"` to start from it"
    );
}

#[test]
fn every_error_is_reported_at_once_in_file_order() {
    let errors = errors_of(
        r#"max-processes = "lots"
shutdown-seconds = -1

[log]
level = "chatty"

[capabilities.agent]
allow-netwrok = true
env = ["A", 1]

[components.root]
pth = "root.wasm"
resident = "yes"
capability = "admn"
"#,
    );
    assert_eq!(
        errors,
        [
            "rusm.toml:1:17: error: `max-processes` must be a positive integer, not a string",
            "rusm.toml:2:20: error: `shutdown-seconds` must be a number of seconds, 0 or more, not -1",
            "rusm.toml:5:9: error: unknown log level `chatty` (expected one of: off, error, warn, info, debug)",
            "rusm.toml:8:1: error: unknown key `allow-netwrok` in [capabilities.agent] (expected one of: \
             inherits, preopen, allow-network, allow-hosts, allow-listen, env, allow-stdio, max-memory-mb, \
             allow-process-control, allow-spawn, allow-storage, max-processes, mailbox-capacity, \
             allow-global-names, max-queued-mb, max-open-files)",
            "rusm.toml:9:13: error: each entry of `env` must be a string, not an integer",
            "rusm.toml:12:1: error: unknown key `pth` in [components.root] (expected one of: path, capability, resident, remote)",
            "rusm.toml:13:12: error: `resident` must be a boolean, not a string",
            // Warnings come along with the errors.
            "rusm.toml:14:14: warning: unknown profile `admn`: the component runs as `sandboxed`",
        ]
    );
}

#[test]
fn toml_syntax_errors_have_a_position() {
    assert_eq!(
        one_error("store = \"x\"\n[log]\nlevel = \n"),
        "rusm.toml:3:9: error: invalid TOML: string values must be quoted, expected literal string"
    );
    assert_eq!(
        one_error("[components.a]\nresident = true\nresident = false\n"),
        "rusm.toml:3:1: error: invalid TOML: duplicate key `resident`"
    );
    assert_eq!(
        one_error("[components.a]\n[components.a]\n"),
        "rusm.toml:2:13: error: invalid TOML: duplicate key `a`"
    );
    let unterminated = one_error("store = \"data\n");
    assert!(
        unterminated.starts_with("rusm.toml:1:14: error: invalid TOML: "),
        "{unterminated}"
    );
}

#[test]
fn an_unreadable_file_is_one_error_without_position() {
    let app = App::new();
    let missing = app.path("rusm.toml");
    let errors = load(&missing).expect_err("no such file");
    assert_eq!(errors.len(), 1);
    assert_eq!((errors[0].line, errors[0].column), (0, 0));
    assert!(
        errors[0].to_string().starts_with(&format!(
            "{}: error: cannot read the manifest: ",
            missing.display()
        )),
        "{}",
        errors[0]
    );

    let path = app.path("rusm.toml");
    std::fs::write(&path, b"[log]\nlevel = \"\xff\"\n").expect("write");
    assert_eq!(
        lines(&load(&path).expect_err("not UTF-8"), &path),
        ["rusm.toml:2:10: error: the manifest is not UTF-8 text"]
    );
}

#[test]
fn an_unknown_profile_loads_as_sandboxed_with_a_warning() {
    let app = App::new();
    let path = app.manifest(
        "[capabilities.admin]\nallow-stdio = true\n\n[components.root]\n\n\n\n\ncapability = \"admn\"\n",
    );
    let loaded = load(&path).expect("a warning does not stop loading");
    assert_eq!(
        lines(&loaded.diagnostics, &path),
        ["rusm.toml:9:14: warning: unknown profile `admn`: the component runs as `sandboxed`"]
    );
    assert_eq!(loaded.diagnostics[0].severity, Severity::Warning);
    let root = loaded.manifest.component("root").expect("declared");
    assert_eq!(root.capability, "admn");
    assert_eq!(root.caps, rusm_caps::Capabilities::sandboxed());
}

#[test]
fn inheriting_a_non_builtin_loads_with_a_warning() {
    let app = App::new();
    let path = app.manifest(
        "[capabilities.base]\nallow-storage = true\n\n[capabilities.derived]\ninherits = \"base\"\n\
         allow-stdio = true\n",
    );
    let loaded = load(&path).expect("loads, on a sandboxed base");
    assert_eq!(
        lines(&loaded.diagnostics, &path),
        [
            "rusm.toml:5:12: warning: `inherits = \"base\"` names no built-in profile (expected one of: \
          sandboxed, network-client, trusted): `derived` starts from `sandboxed`; custom profiles \
          cannot be inherited, copy the grants of `base` instead"
        ]
    );
    assert_eq!(
        loaded.manifest.profiles.resolve("derived").caps.summary(),
        "stdio mem=64M"
    );
}

#[test]
fn a_malformed_allow_hosts_entry_is_reported_at_its_position() {
    let errors = errors_of(
        "[capabilities.agent]\nallow-network = true\n\
         allow-hosts = [\"api.example.com:443\", \"2130706433\",\n  \"x.example:http\", \"ok.example\"]\n",
    );
    assert_eq!(
        errors,
        vec![
            "rusm.toml:3:39: error: bad `allow-hosts` entry \"2130706433\": `2130706433` is a \
             numeric host that is not a dotted-quad IPv4 address (write the address as a.b.c.d)"
                .to_owned(),
            "rusm.toml:4:3: error: bad `allow-hosts` entry \"x.example:http\": bad port `http` \
             (expected a number from 1 to 65535, or `*`)"
                .to_owned(),
        ]
    );
    assert_eq!(
        one_error("[capabilities.a]\nallow-hosts = \"*\"\n"),
        "rusm.toml:2:15: error: `allow-hosts` must be a list of destinations (\"HOST[:PORT]\", \
         \"*.suffix\", an IP, a CIDR range, \"*\"), not a string"
    );
}

#[test]
fn network_keys_are_checked() {
    assert_eq!(
        one_error("[network]\nextra-root = []\n"),
        "rusm.toml:2:1: error: unknown key `extra-root` in [network] (expected one of: \
         extra-roots, connect-timeout-seconds, max-concurrent-requests)"
    );
    assert_eq!(
        one_error("[network]\nconnect-timeout-seconds = 0\n"),
        "rusm.toml:2:27: error: `connect-timeout-seconds` must be a positive number of seconds, not 0"
    );
}
