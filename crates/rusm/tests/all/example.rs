//! `examples/counter`, run as a user would: `rusm run main`, twice, in a
//! copy of the folder (so the repository stays clean).

use std::path::Path;

use crate::{App, examples_dir};

/// Copies `from` into `to`, leaving out `data/` (a store left by a local run).
fn copy_app(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create the copy's folder");
    for entry in std::fs::read_dir(from).expect("read the example") {
        let entry = entry.expect("an entry");
        let name = entry.file_name();
        let (src, dst) = (entry.path(), to.join(&name));
        if entry.file_type().expect("a file type").is_dir() {
            if name != "data" {
                copy_app(&src, &dst);
            }
        } else {
            std::fs::copy(&src, &dst).expect("copy a file");
        }
    }
}

/// `counter: total=T (this run +D; workers: W done, C crashed)` as
/// `(T, D, W, C)`.
fn parse_result(line: &str) -> Option<(u64, u64, u64, u64)> {
    let rest = line.strip_prefix("counter: total=")?;
    let (total, rest) = rest.split_once(" (this run +")?;
    let (delta, rest) = rest.split_once("; workers: ")?;
    let (done, rest) = rest.split_once(" done, ")?;
    let crashed = rest.strip_suffix(" crashed)")?;
    Some((
        total.parse().ok()?,
        delta.parse().ok()?,
        done.parse().ok()?,
        crashed.parse().ok()?,
    ))
}

#[test]
fn the_counter_example_runs_and_its_total_persists() {
    let app = App::new();
    let dir = app.path().join("counter");
    copy_app(&examples_dir().join("counter"), &dir);

    let check = app.command_in(&dir, &["check"]);
    let out = crate::Running::start(check).finish(crate::DEADLINE);
    out.assert_code(0);

    let mut totals = Vec::new();
    for _ in 0..2 {
        let out =
            crate::Running::start(app.command_in(&dir, &["run", "main"])).finish(crate::DEADLINE);
        out.assert_code(0);
        let lines: Vec<&str> = out.stdout.lines().collect();
        assert_eq!(lines.len(), 1, "{}", out.show());
        let (total, delta, done, crashed) =
            parse_result(lines[0]).unwrap_or_else(|| panic!("unexpected output:\n{}", out.show()));
        assert_eq!((delta, done, crashed), (80, 8, 2), "{}", out.show());
        totals.push(total);

        // The manifest's `[log] level = "info"`: the two crashes, reported
        // and survived; the counter stopped by the graceful shutdown.
        let log = out.stderr_lines();
        let crashes = log
            .iter()
            .filter(|l| *l == "rusm exit  worker#N crashed: unreachable")
            .count();
        assert_eq!(crashes, 2, "{}", out.show());
        assert!(
            log.iter().any(|l| l == "rusm exit  main#N normal"),
            "{}",
            out.show()
        );
        assert!(
            log.iter().any(|l| l == "rusm exit  counter#N shutdown"),
            "{}",
            out.show()
        );
    }
    assert_eq!(totals, [80, 160], "the total lives in the store");
    assert!(dir.join("data/counter.redb").is_file());
}

/// `GET path` on a new connection; the whole reply.
fn http_get(addr: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .expect("a timeout");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"
    )
    .expect("write");
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

#[test]
fn the_web_example_serves_its_api_and_calls_its_resident() {
    let app = App::new();
    let dir = app.path().join("web");
    copy_app(&examples_dir().join("web"), &dir);
    // Any free port instead of 8080.
    let manifest = dir.join("rusm.toml");
    let text = std::fs::read_to_string(&manifest).expect("the manifest");
    std::fs::write(&manifest, text.replace("127.0.0.1:8080", "127.0.0.1:0")).expect("write");

    let check = app.command_in(&dir, &["check"]);
    crate::Running::start(check)
        .finish(crate::DEADLINE)
        .assert_code(0);
    let mut running = crate::Running::start(app.command_in(&dir, &["run"]));
    running.wait_for_line("the listener", |l| l.starts_with("rusm http listening on "));
    let stderr = running.stderr_now();
    let addr = stderr
        .lines()
        .find_map(|l| l.strip_prefix("rusm http listening on http://"))
        .expect("the line waited for")
        .to_string();
    let hello = http_get(&addr, "/api/hello");
    // (Bodies come chunked: the handler streams them.)
    assert!(
        hello.starts_with("HTTP/1.1 200") && hello.contains("\r\nhello\n"),
        "{hello}"
    );
    for n in 1..=2 {
        let reply = http_get(&addr, "/api/resident");
        assert!(reply.contains(&format!("\r\ncount {n}\r\n")), "{reply}");
    }
    assert!(http_get(&addr, "/api/crash").starts_with("HTTP/1.1 500"));
    running.signal(libc::SIGTERM);
    let out = running.finish(crate::DEADLINE);
    out.assert_code(0);
    assert!(
        out.stderr_lines()
            .iter()
            .any(|l| l.starts_with("rusm http GET /api/hello 200 ") && l.ends_with(" api#N")),
        "{}",
        out.show()
    );
}

/// A stand-in for a chat-completion API on 127.0.0.1: checks each request
/// (the path, the bearer key, a JSON body with a model and messages) and
/// answers like the API, or `401`/`400` when the request is not what the
/// agent should send. Returns its port and the requests it saw.
fn chat_stand_in() -> (u16, std::sync::mpsc::Receiver<String>) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (seen, requests) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut data = Vec::new();
            let mut buf = [0u8; 4096];
            // Headers, then a body of content-length bytes.
            let (head, body) = loop {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break (String::new(), String::new()),
                    Ok(n) => data.extend_from_slice(&buf[..n]),
                }
                let text = String::from_utf8_lossy(&data).into_owned();
                if let Some((head, body)) = text.split_once("\r\n\r\n") {
                    let len = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().to_owned())
                        })
                        .and_then(|v| v.parse::<usize>().ok())
                        .unwrap_or(0);
                    if body.len() >= len {
                        break (head.to_owned(), body.to_owned());
                    }
                }
            };
            let lower = head.to_ascii_lowercase();
            let status = if !head.starts_with("POST /v1/chat/completions ") {
                "404 Not Found"
            } else if !lower.contains("\r\nauthorization: bearer test-key") {
                "401 Unauthorized"
            } else if !(body.contains("\"model\"") && body.contains("\"messages\"")) {
                "400 Bad Request"
            } else {
                "200 OK"
            };
            let answer = r#"{"choices":[{"message":{"role":"assistant","content":"Hello, RUSM, from the stand-in."}}]}"#;
            let _ = stream.write_all(
                format!(
                    "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}",
                    answer.len()
                )
                .as_bytes(),
            );
            let _ = seen.send(format!("{status} {body}"));
        }
    });
    (port, requests)
}

#[test]
fn the_agent_example_calls_the_api_it_lists_and_nothing_else() {
    let app = App::new();
    let dir = app.path().join("agent");
    copy_app(&examples_dir().join("agent"), &dir);
    let (port, requests) = chat_stand_in();
    // The copy lists the stand-in instead of api.openai.com.
    let manifest = dir.join("rusm.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    let listed = r#"allow-hosts = ["api.openai.com:443"]"#;
    assert!(text.contains(listed), "the example's allow-hosts changed");
    std::fs::write(
        &manifest,
        text.replace(listed, &format!(r#"allow-hosts = ["127.0.0.1:{port}"]"#)),
    )
    .unwrap();

    let out = crate::Running::start(app.command_in(&dir, &["check"])).finish(crate::DEADLINE);
    out.assert_code(0);

    let run = |host: &str| {
        let mut cmd = app.command_in(&dir, &["run", "agent"]);
        cmd.env("OPENAI_API_KEY", "test-key")
            .env("AGENT_API_HOST", host)
            .env("AGENT_API_INSECURE", "1");
        crate::Running::start(cmd).finish(crate::DEADLINE)
    };
    let out = run(&format!("127.0.0.1:{port}"));
    out.assert_code(0);
    assert_eq!(
        out.stdout.trim(),
        r#"{"choices":[{"message":{"role":"assistant","content":"Hello, RUSM, from the stand-in."}}]}"#,
        "{}",
        out.show()
    );
    let request = requests.recv_timeout(crate::DEADLINE).unwrap();
    assert!(request.starts_with("200 OK {\"model\":"), "{request}");

    // Anywhere else: refused before a packet leaves, and logged.
    let out = run("169.254.169.254:80");
    out.assert_code(1);
    assert_eq!(
        out.stderr_lines(),
        [
            "rusm deny agent#N connect 169.254.169.254:80",
            "rusm exit  agent#N crashed: agent: request refused",
            "rusm: agent#N crashed: agent: request refused",
        ]
    );
}
