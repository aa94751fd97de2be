//! Manifest diagnostics in `file:line:column:` form, from `rusm run` (exit
//! 2 on errors) and `rusm check` (every finding at once; 0 clean, 1
//! warnings only, 2 errors).

use crate::{App, guest_run};

/// One mistake per kind, each at a known place.
const BROKEN: &str = r#"max-processes = "many"

[log]
level = "loud"

[capabilities.disk]
preopen = [{ host = "./data", guest = "/data" }]
allow-stdoi = true

[components.root]
pth = "wasm/root.wat"
capability = "admn"

[components.ghost]
resident = "yes"
"#;

/// `(line, column, severity, what the message must contain)`, in file
/// order, for the findings that need no disk.
const READ_FINDINGS: &[(usize, usize, &str, &str)] = &[
    (1, 17, "error", "`max-processes`"),
    (4, 9, "error", "`loud`"),
    (
        8,
        1,
        "error",
        "unknown key `allow-stdoi` in [capabilities.disk]",
    ),
    (
        11,
        1,
        "error",
        "unknown key `pth` in [components.root] (expected one of: path, capability, resident, remote)",
    ),
    (
        12,
        14,
        "warning",
        "unknown profile `admn`: the component runs as `sandboxed`",
    ),
    (15, 12, "error", "`resident`"),
];

/// What `rusm check` adds by looking at the disk.
const DISK_FINDINGS: &[(usize, usize, &str, &str)] = &[
    (
        7,
        12,
        "warning",
        "preopen host `./data` does not exist: processes under `disk` will fail to start",
    ),
    (14, 13, "error", "`ghost`"),
];

/// Splits `file:line:column: severity: message`.
fn parse(line: &str) -> Option<(&str, usize, usize, &str, &str)> {
    let mut parts = line.splitn(5, ": ");
    let place = parts.next()?;
    let severity = parts.next()?;
    let message = line.get(place.len() + severity.len() + 4..)?;
    let mut at = place.rsplitn(3, ':');
    let column = at.next()?.parse().ok()?;
    let line_no = at.next()?.parse().ok()?;
    let file = at.next()?;
    Some((file, line_no, column, severity, message))
}

/// Fails unless `lines` hold exactly the `expected` findings about `file`,
/// in order (lines that are not diagnostics are ignored).
#[track_caller]
fn assert_findings(text: &str, file: &str, expected: &[(usize, usize, &str, &str)]) {
    let found: Vec<_> = text.lines().filter_map(parse).collect();
    assert_eq!(
        found.len(),
        expected.len(),
        "findings:\n{text}\nexpected: {expected:#?}"
    );
    for (got, want) in found.iter().zip(expected) {
        let (f, line, column, severity, message) = *got;
        assert_eq!(
            (f, line, column, severity),
            (file, want.0, want.1, want.2),
            "in:\n{text}"
        );
        assert!(
            message.contains(want.3),
            "`{message}` should contain `{}`",
            want.3
        );
    }
}

fn sorted(
    mut findings: Vec<(usize, usize, &'static str, &'static str)>,
) -> Vec<(usize, usize, &'static str, &'static str)> {
    findings.sort_by_key(|f| (f.0, f.1));
    findings
}

#[test]
fn run_prints_every_error_of_the_manifest_and_exits_2() {
    let app = App::new();
    app.write("rusm.toml", BROKEN)
        .write("wasm/root.wat", &guest_run(""));
    let out = app.rusm(&["run", "root"]);
    out.assert_code(2);
    assert_eq!(out.stdout, "");
    assert_findings(&out.stderr, "rusm.toml", READ_FINDINGS);
    // Without a TARGET too.
    let out = app.rusm(&["run"]);
    out.assert_code(2);
    assert_findings(&out.stderr, "rusm.toml", READ_FINDINGS);
}

#[test]
fn check_reports_every_problem_at_once_and_exits_2() {
    let app = App::new();
    app.write("rusm.toml", BROKEN)
        .write("wasm/root.wat", &guest_run(""));
    let out = app.rusm(&["check"]);
    out.assert_code(2);
    let all = sorted(READ_FINDINGS.iter().chain(DISK_FINDINGS).copied().collect());
    assert_findings(&format!("{}{}", out.stdout, out.stderr), "rusm.toml", &all);
}

#[test]
fn diagnostics_name_the_manifest_as_given() {
    let app = App::new();
    app.write("sub/rusm.toml", BROKEN)
        .write("sub/wasm/root.wat", &guest_run(""));
    let out = app.rusm(&["--manifest", "sub/rusm.toml", "run", "root"]);
    out.assert_code(2);
    assert_findings(&out.stderr, "sub/rusm.toml", READ_FINDINGS);
    let out = app.rusm(&["--manifest", "sub/rusm.toml", "check"]);
    out.assert_code(2);
    let all = sorted(READ_FINDINGS.iter().chain(DISK_FINDINGS).copied().collect());
    assert_findings(
        &format!("{}{}", out.stdout, out.stderr),
        "sub/rusm.toml",
        &all,
    );
}

#[test]
fn check_exits_1_for_warnings_only() {
    let app = App::new();
    app.write(
        "rusm.toml",
        r#"[capabilities.disk]
preopen = [{ host = "./missing", guest = "/data" }]
allow-spawn = ["nobody"]

[components.root]
capability = "admn"
"#,
    )
    .write("wasm/root.wat", &guest_run(""));
    let out = app.rusm(&["check"]);
    out.assert_code(1);
    assert_findings(
        &format!("{}{}", out.stdout, out.stderr),
        "rusm.toml",
        &[
            (
                2,
                12,
                "warning",
                "preopen host `./missing` does not exist: processes under `disk` will fail to start",
            ),
            (3, 16, "warning", "`nobody`"),
            (
                6,
                14,
                "warning",
                "unknown profile `admn`: the component runs as `sandboxed`",
            ),
        ],
    );

    // `rusm run` is not stopped by warnings: it shows the manifest's and runs.
    let out = app.rusm(&["run", "root"]);
    out.assert_code(0);
    assert_findings(
        &out.stderr,
        "rusm.toml",
        &[(
            6,
            14,
            "warning",
            "unknown profile `admn`: the component runs as `sandboxed`",
        )],
    );
}

#[test]
fn check_exits_0_for_a_clean_manifest() {
    let app = App::new();
    app.write(
        "rusm.toml",
        r#"store = "data/app.redb"
max-processes = 100
max-message-mb = 4
shutdown-seconds = 2

[log]
level = "debug"

[supervisor]
strategy = "rest-for-one"
max-restarts = 5
max-seconds = 10

[capabilities.disk]
inherits = "network-client"
preopen = [{ host = "./files", guest = "/files", read-only = true }]
allow-spawn = ["job"]
env = ["HOME"]

[components.svc]
capability = "disk"
resident = true

[components.job]
path = "jobs/job.wat"
"#,
    )
    .write("wasm/svc.wat", &guest_run(""))
    .write("jobs/job.wat", &guest_run(""))
    .write("files/readme", "");
    let out = app.rusm(&["check"]);
    out.assert_code(0);
    assert_findings(&format!("{}{}", out.stdout, out.stderr), "rusm.toml", &[]);
    assert!(
        !app.path().join("data").exists(),
        "check does not create the store"
    );
}

#[test]
fn check_finds_a_store_that_cannot_be_created_and_bad_inherits() {
    let app = App::new();
    app.write(
        "rusm.toml",
        r#"store = "blocker/app.redb"

[capabilities.child]
inherits = "parent"

[capabilities.parent]
allow-storage = true
"#,
    )
    .write("blocker", "a file, not a folder");
    let out = app.rusm(&["check"]);
    out.assert_code(2);
    assert_findings(
        &format!("{}{}", out.stdout, out.stderr),
        "rusm.toml",
        &[
            (1, 9, "error", "`blocker/app.redb`"),
            (4, 12, "error", "`inherits = \"parent\"`"),
        ],
    );
}

#[test]
fn invalid_toml_is_a_positioned_error() {
    let app = App::new();
    app.write("rusm.toml", "[log]\nlevel = \"info\"\n[components.root\n");
    for args in [&["run"][..], &["check"][..]] {
        let out = app.rusm(args);
        out.assert_code(2);
        let text = format!("{}{}", out.stdout, out.stderr);
        let found: Vec<_> = text.lines().filter_map(parse).collect();
        assert_eq!(found.len(), 1, "{args:?}: {text}");
        let (file, line, _, severity, message) = found[0];
        assert_eq!((file, line, severity), ("rusm.toml", 3, "error"), "{text}");
        assert!(message.contains("TOML"), "{text}");
    }
}

#[test]
fn check_without_a_manifest_exits_2() {
    let app = App::new();
    let out = app.rusm(&["check"]);
    out.assert_code(2);
    assert!(
        format!("{}{}", out.stdout, out.stderr).contains("rusm.toml"),
        "{}",
        out.show()
    );
}

#[test]
fn run_reports_a_missing_component_file_like_check_does() {
    let app = App::new();
    app.write("rusm.toml", "[components.ghost]\n")
        .write("root.wat", &guest_run(""));
    let check = app.rusm(&["check"]);
    check.assert_code(2);
    assert_findings(
        &format!("{}{}", check.stdout, check.stderr),
        "rusm.toml",
        &[(1, 13, "error", "component `ghost` has no file")],
    );

    // The node cannot boot without it: a manifest error, exit 2, with a
    // message that says what to fix, once, at the place `check` names.
    let out = app.rusm(&["run", "root.wat"]);
    out.assert_code(2);
    assert!(
        out.stderr
            .lines()
            .any(|l| l.starts_with("rusm.toml:1:13: error: ") && l.contains("ghost")),
        "no positioned diagnostic:\n{}",
        out.show()
    );
    assert!(
        out.stderr.matches("No such file or directory").count() <= 1,
        "the cause is repeated:\n{}",
        out.show()
    );
}
