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
