//! `[http]` and `[[http.route]]` (SERVING.md): defaults, and every
//! mistake `rusm check` names with its place.

use std::time::Duration;

use crate::{App, lines};
use rusm_manifest::{check, load};

#[test]
fn defaults_and_routes() {
    let app = App::new();
    let path = app.manifest(
        r#"
[components.api]
[components.room]

[http]
listen = "127.0.0.1:8080"
max-body-mb = 2
request-timeout-seconds = 0.5

[[http.route]]
path = "/api/*"
component = "api"
methods = ["get", "POST"]
max-concurrent = 100

[[http.route]]
path = "/chat"
component = "room"
websocket = true
origins = ["https://app.example"]
"#,
    );
    let loaded = load(&path).expect("a valid manifest");
    let http = loaded.manifest.http.expect("[http]");
    assert_eq!(http.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(http.max_connections, 10_000);
    assert_eq!(http.max_concurrent_requests, 1000);
    assert_eq!(http.max_body_bytes, 2 << 20);
    assert_eq!(http.request_timeout, Duration::from_millis(500));
    assert_eq!(http.header_timeout, Duration::from_secs(10));
    assert_eq!(http.idle_timeout, Duration::from_secs(60));
    assert_eq!(http.tls, None);
    assert_eq!(http.routes.len(), 2);
    assert_eq!(http.routes[0].path, "/api/*");
    assert_eq!(
        http.routes[0].methods,
        Some(vec!["GET".to_string(), "POST".to_string()])
    );
    assert_eq!(http.routes[0].max_concurrent, Some(100));
    assert!(http.routes[1].websocket);
    assert_eq!(http.routes[1].origins, ["https://app.example"]);
}

#[test]
fn every_mistake_with_its_place() {
    let app = App::new();
    let path = app.manifest(
        r#"[components.api]
path = "api.wat"

[http]
listen = "localhost"
max-body-mb = 0
tls = { cert = "certs/server.pem", key = "certs/server.key" }
port = 80

[[http.route]]
path = "/api/*"
component = "api"

[[http.route]]
path = "/api/*"
component = "api"

[[http.route]]
path = "api"
component = "nobody"
"#,
    );
    app.file("api.wat", "(module)");
    assert_eq!(
        lines(&check(&path), &path),
        [
            "rusm.toml:5:10: error: `listen` = \"localhost\" is not an address and port, e.g. \
             \"127.0.0.1:8080\" or \"0.0.0.0:8080\"",
            "rusm.toml:6:15: error: `max-body-mb` must be a positive integer, not 0",
            "rusm.toml:7:16: error: TLS file `certs/server.pem` does not exist (or is not a file)",
            "rusm.toml:7:42: error: TLS file `certs/server.key` does not exist (or is not a file)",
            "rusm.toml:8:1: error: unknown key `port` in [http] (expected one of: listen, \
             max-connections, max-concurrent-requests, max-body-mb, request-timeout-seconds, \
             header-timeout-seconds, idle-timeout-seconds, tls, route)",
            "rusm.toml:12:13: error: `api` is a core module, and an HTTP handler must be a \
             component exporting `wasi:http/incoming-handler` (preview 1 has no HTTP)",
            "rusm.toml:15:8: error: duplicate route path `/api/*`: each path is routed once",
            "rusm.toml:19:8: error: route path `api` must start with `/` and may end in `/*` for \
             a prefix (no other `*`, no `.`/`..` segments, no `//`)",
        ]
    );
}

#[test]
fn a_route_to_an_undeclared_component_and_a_missing_listen() {
    let app = App::new();
    let path = app.manifest("[http]\n\n[[http.route]]\npath = \"/\"\ncomponent = \"ghost\"\n");
    assert_eq!(
        lines(&check(&path), &path),
        [
            "rusm.toml:1:2: error: [http] needs `listen`, the address to serve on, e.g. \
             \"127.0.0.1:8080\"",
            "rusm.toml:5:13: error: route to `ghost`, which is not a component of this \
             manifest: declare [components.ghost]",
        ]
    );
}

/// A route to a component that cannot serve it: an HTTP route needs a
/// `wasi:http/incoming-handler` component, a WebSocket route a `run`
/// entry. Read from the files' exports, text or binary.
#[test]
fn a_route_to_a_component_that_cannot_serve_it() {
    const FIXTURES: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../rusm-wasm/tests/all/fixtures"
    );
    let fixture = |name: &str| {
        std::fs::read_to_string(format!("{FIXTURES}/{name}")).expect("a rusm-wasm fixture")
    };
    let app = App::new();
    let path = app.manifest(
        r#"[components.actor]
path = "actor.wat"
[components.command]
path = "command.wasm"
[components.handler]
path = "handler.wat"
[components.module]
path = "module.wat"
[components.empty]
path = "empty.wat"

[http]
listen = "127.0.0.1:8080"

[[http.route]]
path = "/actor"
component = "actor"
[[http.route]]
path = "/command"
component = "command"
[[http.route]]
path = "/handler"
component = "handler"
[[http.route]]
path = "/ws/handler"
component = "handler"
websocket = true
[[http.route]]
path = "/ws/module"
component = "module"
websocket = true
[[http.route]]
path = "/ws/empty"
component = "empty"
websocket = true
[[http.route]]
path = "/ws/actor"
component = "actor"
websocket = true
"#,
    );
    app.file("actor.wat", &fixture("actor.component.wat"));
    let command = wat::parse_str(fixture("command.component.wat")).expect("a component");
    std::fs::write(app.path("command.wasm"), command).expect("write");
    app.file("handler.wat", &fixture("handler.component.wat"));
    app.file("module.wat", "(module (func (export \"run\")))");
    app.file("empty.wat", ";; nothing to run\n(module)");
    assert_eq!(
        lines(&check(&path), &path),
        [
            "rusm.toml:17:13: error: `actor` cannot serve HTTP: it is a component exporting \
             `run`, and an HTTP handler must be a component exporting \
             `wasi:http/incoming-handler` (the `wasi:http/proxy` world)",
            "rusm.toml:20:13: error: `command` cannot serve HTTP: it is a component exporting \
             `wasi:cli/run`, and an HTTP handler must be a component exporting \
             `wasi:http/incoming-handler` (the `wasi:http/proxy` world)",
            "rusm.toml:26:13: error: `handler` cannot be a WebSocket connection process: it is \
             a component exporting `wasi:http/incoming-handler`, and a connection process \
             needs a `run` entry (a core module's `run` or `_start`, a component's `run` or \
             `wasi:cli/run`)",
            "rusm.toml:34:13: error: `empty` cannot be a WebSocket connection process: it is \
             a core module with no entry point, and a connection process needs a `run` entry \
             (a core module's `run` or `_start`, a component's `run` or `wasi:cli/run`)",
        ]
    );
}
