//! `[cluster]` and `remote = true` (CLUSTER.md): what loads, and every
//! mistake with its place.

use crate::{App, lines};
use rusm_manifest::{check, load};

#[test]
fn a_cluster_member() {
    let app = App::new();
    let path = app.manifest(
        r#"
[components.worker]
remote = true
[components.local]

[cluster]
name = "node-a"
listen = "127.0.0.1:7400"
join = ["127.0.0.1:7401", "[::1]:7402", "b.example:7400"]
ca = "certs/ca.pem"
cert = "certs/node-a.pem"
key = "certs/node-a.key"
"#,
    );
    let m = load(&path).expect("a valid manifest").manifest;
    let c = m.cluster.expect("[cluster]");
    assert_eq!(c.name, "node-a");
    assert_eq!(c.listen.to_string(), "127.0.0.1:7400");
    assert_eq!(c.join, ["127.0.0.1:7401", "[::1]:7402", "b.example:7400"]);
    assert_eq!(c.ca, app.path("certs/ca.pem"));
    assert_eq!(c.cert, app.path("certs/node-a.pem"));
    assert_eq!(c.key, app.path("certs/node-a.key"));
    assert_eq!(c.busy_wait, None, "the cluster's default");
    assert!(m.components[0].remote);
    assert!(!m.components[1].remote);
}

#[test]
fn busy_waiting_is_set_in_microseconds_within_bounds() {
    let app = App::new();
    let member = |busy_wait: &str| {
        app.manifest(&format!(
            r#"[cluster]
name = "a"
listen = "127.0.0.1:7400"
ca = "ca.pem"
cert = "a.pem"
key = "a.key"
busy-wait-us = {busy_wait}
"#
        ))
    };
    for (written, micros) in [("0", 0), ("250", 250), ("10000", 10_000)] {
        let m = load(&member(written)).expect("a valid manifest").manifest;
        assert_eq!(
            m.cluster.expect("[cluster]").busy_wait,
            Some(std::time::Duration::from_micros(micros))
        );
    }
    for (written, says) in [
        (
            "10001",
            "rusm.toml:7:16: error: `busy-wait-us` = 10001 is more than 10000",
        ),
        (
            "-1",
            "rusm.toml:7:16: error: `busy-wait-us` must be an integer, 0 or more, not -1",
        ),
        (
            "\"100us\"",
            "rusm.toml:7:16: error: `busy-wait-us` must be an integer, 0 or more",
        ),
    ] {
        let path = member(written);
        let found = lines(&check(&path), &path);
        assert!(
            found.iter().any(|l| l.starts_with(says)),
            "{written}: expected {says:?} in {found:#?}"
        );
    }
}

#[test]
fn every_mistake_with_its_place() {
    let app = App::new();
    app.file("ca.pem", "");
    app.file("wasm/w.wat", "(module)");
    let path = app.manifest(
        r#"[components.w]
remote = "yes"

[cluster]
name = "Node_A"
listen = "127.0.0.1"
join = ["127.0.0.1", 7]
ca = "ca.pem"
cert = "missing.pem"
key = "missing.key"
gossip = 3
"#,
    );
    let found = lines(&check(&path), &path);
    let expected = [
        "rusm.toml:2:10: error: `remote` must be a boolean",
        // The wrong `name` and `listen` leave the table without them.
        "rusm.toml:4:2: error: [cluster] needs `name`, `listen` (",
        "rusm.toml:5:8: error: `name` = \"Node_A\" cannot name a node",
        "rusm.toml:6:10: error: `listen` = \"127.0.0.1\" is not an address and port",
        "rusm.toml:7:9: error: `join` entry \"127.0.0.1\" needs a port",
        "rusm.toml:7:22: error:",
        "rusm.toml:9:8: error: cluster file `missing.pem` does not exist",
        "rusm.toml:10:7: error: cluster file `missing.key` does not exist",
        "rusm.toml:11:1: error: unknown key `gossip` in [cluster]",
    ];
    assert_eq!(found.len(), expected.len(), "{found:#?}");
    for (want, got) in expected.iter().zip(&found) {
        assert!(
            got.starts_with(want),
            "expected {want:?}, got {got:?}\nall: {found:#?}"
        );
    }
}
