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
