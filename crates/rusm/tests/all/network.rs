//! Outbound network through the real binary: a component sending
//! `wasi:http` requests (the rusm-wasm test fixture) under a manifest's
//! `allow-hosts`, to a tiny HTTP server on 127.0.0.1; refusals show as
//! `rusm deny` lines in the lifecycle log at `warn`.

use std::io::{Read, Write};
use std::net::TcpListener;

use crate::App;

/// A one-thread HTTP/1.1 server answering `200` with an empty body to
/// each connection, for as long as the test runs.
fn tiny_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut buf = [0u8; 4096];
            let mut seen = Vec::new();
            while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => seen.extend_from_slice(&buf[..n]),
                }
            }
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
        }
    });
    port
}

/// The rusm-wasm fixture aimed at `http://authority/hello`.
fn http_get(authority: &str) -> String {
    let path = "/hello";
    include_str!("../../../rusm-wasm/tests/all/fixtures/http-get.component.wat")
        .replace("{{SCHEME}}", "0")
        .replace("{{AUTHORITY_LEN}}", &authority.len().to_string())
        .replace("{{AUTHORITY}}", authority)
        .replace("{{PATH_LEN}}", &path.len().to_string())
        .replace("{{PATH}}", path)
        .replace("{{HOLD_MS}}", "0")
        .replace("{{OVERLAP}}", "0")
        .replace("{{READ}}", "0")
        .replace("{{BETWEEN_MS}}", "0")
        .replace("{{COUNT}}", "1")
}

fn app(allow: &str, authority: &str) -> App {
    let app = App::new();
    app.write(
        "rusm.toml",
        &format!(
            r#"
[capabilities.agent]
inherits = "network-client"
allow-hosts = [{allow}]

[network]
connect-timeout-seconds = 2

[components.agent]
capability = "agent"
"#
        ),
    )
    .write("wasm/agent.wat", &http_get(authority));
    app
}

#[test]
fn a_listed_host_answers_through_rusm_run() {
    let port = tiny_server();
    let authority = format!("127.0.0.1:{port}");
    let app = app(&format!("\"{authority}\""), &authority);
    let out = app.rusm(&["--log", "warn", "run", "agent"]);
    out.assert_code(0);
    assert_eq!(out.stderr_lines(), Vec::<String>::new());
}

#[test]
fn a_refused_destination_is_a_deny_line() {
    let port = tiny_server();
    let app = app(&format!("\"127.0.0.1:{port}\""), "169.254.169.254:80");
    let out = app.rusm(&["--log", "warn", "run", "agent"]);
    out.assert_code(1);
    let lines = out.stderr_lines();
    assert!(
        lines.contains(&"rusm deny agent#N connect 169.254.169.254:80".to_owned()),
        "{lines:#?}"
    );
    assert!(
        lines.contains(&"rusm: agent#N crashed: error 15".to_owned()),
        "{lines:#?}"
    );
}

#[test]
fn a_deny_line_in_json_has_its_fields() {
    let port = tiny_server();
    let app = app(&format!("\"127.0.0.1:{port}\""), "169.254.169.254:80");
    let out = app.rusm(&["--log", "warn", "--log-format", "json", "run", "agent"]);
    out.assert_code(1);
    let deny: serde_json::Value = out
        .stderr
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap_or_else(|e| panic!("{e}: {l}"))
        })
        .find(|o| o["event"] == "deny")
        .unwrap_or_else(|| panic!("no deny object in:\n{}", out.stderr));
    assert_eq!(deny["level"], "WARN");
    assert_eq!(deny["destination"], "169.254.169.254:80");
    let process = deny["process"].as_str().unwrap();
    assert!(process.starts_with("agent#"), "{deny}");
    assert_eq!(
        deny["message"],
        format!("rusm deny {process} connect 169.254.169.254:80")
    );
}
