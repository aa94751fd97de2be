//! A test handler for `guests/run-tests.sh`: one request makes every kind
//! of actor call of the library from inside an HTTP handler's process
//! (the component shape through the `http-actor` world) and answers one
//! line per call, `NAME: ok DETAIL` or `NAME: FAILED WHY`.
//!
//! It spawns `server` (the request-reply example's adder), calls it, links
//! and unlinks, monitors it and kills it, uses the store, the registry,
//! timers and `info`. The request's status is 200 when every call did what
//! it should, 500 otherwise.
//!
//! `/calls/panic` panics and `/calls/err` returns an `Err`: both end the
//! process with their reason, and the node answers 500.

use std::fmt::Write;
use std::time::Duration;

use rusm_guest::http::{Request, Response};
use rusm_guest::{
    Error, Kind, call_typed, cancel_timer, info, is_alive, kill, kv, link, monitor, own_pid, receive, register,
    send, send_after, sleep, spawn, unlink, unregister, whereis,
};
use serde::{Deserialize, Serialize};

/// The request-reply example's protocol (its `server`).
#[derive(Serialize, Deserialize)]
enum Adder {
    Add(i64),
    Get,
    Crash,
}

const TIMEOUT: Option<Duration> = Some(Duration::from_secs(5));

fn handle(request: Request) -> Result<Response, String> {
    match request.path() {
        "/calls/panic" => panic!("asked to panic"),
        "/calls/err" => Err("asked to fail".into()),
        _ => Ok(calls()),
    }
}

fn calls() -> Response {
    let mut report = String::new();
    let mut failed = 0;
    let mut line = |name: &str, outcome: Result<String, String>| {
        let _ = match outcome {
            Ok(detail) => writeln!(report, "{name}: ok {detail}"),
            Err(why) => {
                failed += 1;
                writeln!(report, "{name}: FAILED {why}")
            }
        };
    };
    let me = own_pid();
    line("own_pid", Ok(format!("#{me}")));
    line("info", info(me).map_err(|e| e.to_string()).and_then(|json| expect(json.contains("\"component\":\"calls\""), json)));

    let server = spawn("server", &[], false);
    line("spawn", server.as_ref().map(|pid| format!("#{pid}")).map_err(Error::to_string));
    let Ok(server) = server else {
        return Response::text(500, report);
    };
    let total = call_typed::<_, i64>(server, &Adder::Add(2), TIMEOUT)
        .and_then(|_| call_typed::<_, i64>(server, &Adder::Add(40), TIMEOUT))
        .and_then(|_| call_typed::<_, i64>(server, &Adder::Get, TIMEOUT));
    line("call", total.map_err(|e| e.to_string()).and_then(|t| expect(t == 42, t)));
    line("link", link(server).and_then(|()| unlink(server)).map(|()| "and unlink".into()).map_err(|e| e.to_string()));

    // A call to a server that dies mid-request: an error, not a hang.
    let crashed = call_typed::<_, i64>(server, &Adder::Crash, TIMEOUT);
    line(
        "call a crashing server",
        match crashed {
            Err(Error::Exited { reason, .. }) if reason.contains("asked to crash") => Ok(reason),
            other => Err(format!("{other:?}")),
        },
    );
    line("is_alive", expect(!is_alive(server), "a dead server is not alive"));

    // A monitor's `down` when a process this one spawned is killed.
    let second = spawn("server", &[], false).map_err(|e| e.to_string());
    line(
        "monitor and kill",
        second.and_then(|pid| {
            let watch = monitor(pid).map_err(|e| e.to_string())?;
            kill(pid).map_err(|e| e.to_string())?;
            let down = receive(&[watch.tag()], TIMEOUT).map_err(|e| e.to_string())?;
            expect(down.kind == Kind::Down && down.text() == "killed", format!("down: {}", down.text()))
        }),
    );

    // Messages to itself, by a timer and directly.
    line(
        "send_after and receive",
        send_after(me, 9, b"tick", Duration::from_millis(20)).map_err(|e| e.to_string()).and_then(|_| {
            let message = receive(&[9], TIMEOUT).map_err(|e| e.to_string())?;
            expect(message.data == b"tick", message.text())
        }),
    );
    line(
        "cancel_timer",
        send_after(me, 10, b"never", Duration::from_secs(60))
            .map_err(|e| e.to_string())
            .and_then(|timer| expect(cancel_timer(timer), "cancelled")),
    );
    line(
        "send",
        send(me, 11, b"to myself").map_err(|e| e.to_string()).and_then(|()| {
            let message = receive(&[11], Some(Duration::ZERO)).map_err(|e| e.to_string())?;
            expect(message.sender == me, message.text())
        }),
    );
    let before = std::time::Instant::now();
    sleep(Duration::from_millis(20));
    line("sleep", expect(before.elapsed() >= Duration::from_millis(20), format!("{:?}", before.elapsed())));

    // The registry: a name for this request's process while it lives.
    let name = format!("request-{me}");
    line(
        "register and whereis",
        register(&name)
            .and_then(|()| whereis(&name))
            .and_then(|found| unregister(&name).map(|()| found))
            .map_err(|e| e.to_string())
            .and_then(|found| expect(found == me, format!("{name} -> #{found}"))),
    );

    // The store, under the handler's `allow-storage`.
    line(
        "kv",
        (|| {
            kv::set("http", "a", b"1")?;
            let swapped = kv::cas("http", "a", Some(b"1"), b"2")?;
            let value = kv::get("http", "a")?;
            let keys = kv::keys("http", "")?;
            let existed = kv::delete("http", "a")?;
            Ok::<_, Error>((swapped, value, keys, existed))
        })()
        .map_err(|e| e.to_string())
        .and_then(|(swapped, value, keys, existed)| {
            let detail = format!("cas {swapped}, get {value:?}, keys {keys:?}, delete {existed}");
            expect(swapped && value.as_deref() == Some(b"2".as_slice()) && keys == ["a"] && existed, detail)
        }),
    );

    let status = if failed == 0 { 200 } else { 500 };
    Response::text(status, report)
}

/// `Ok(detail)` when `ok`, else `Err(detail)`.
fn expect(ok: bool, detail: impl std::fmt::Debug) -> Result<String, String> {
    let detail = format!("{detail:?}");
    if ok { Ok(detail) } else { Err(detail) }
}

rusm_guest::http_main!(handle);
