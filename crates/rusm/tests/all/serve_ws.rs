//! WebSocket routes (SERVING.md) end to end, the cases `serve.rs` does not
//! cover: close codes 1007 (a text message that is not UTF-8) and 1001
//! (the node stops), `LIMIT` for a connection process that queues more
//! than its `max-queued-mb` for a client that does not read, reads paused
//! while the connection process's mailbox is full (no frame dropped), the
//! kill after the close grace period, and an upgrade refused with 503 at
//! a process cap or 500 when its process cannot start. The real `rusm` binary, tokio-tungstenite clients.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;

use crate::serve::{serve, stop};
use crate::{App, Running, guest, without_pids};

type Ws = WebSocketStream<TcpStream>;

/// An app whose `/ws` route is a WebSocket route to `conn.wat` (`guest`),
/// under capability `conn` with `grants`, and `top` at the manifest's top.
fn ws_app(conn: &str, grants: &str, top: &str) -> App {
    let app = App::new();
    app.write(
        "rusm.toml",
        &format!(
            r#"{top}
[log]
level = "info"

[capabilities.conn]
{grants}

[components.conn]
path = "conn.wat"
capability = "conn"

[http]
listen = "127.0.0.1:0"

[[http.route]]
path = "/ws"
component = "conn"
websocket = true
"#
        ),
    )
    .write("conn.wat", &guest(conn));
    app
}

/// Reads the `ready` of [`UNTIL_CLOSE`]: its process is running.
async fn ready(ws: &mut Ws) {
    let m = tokio::time::timeout(Duration::from_secs(10), ws.next())
        .await
        .expect("ready in time")
        .expect("open")
        .expect("a frame");
    assert_eq!(m, Message::text("ready"));
}

async fn connect(addr: SocketAddr) -> Result<Ws, tokio_tungstenite::tungstenite::Error> {
    let stream = TcpStream::connect(addr).await.expect("connect");
    tokio_tungstenite::client_async(format!("ws://{addr}/ws"), stream)
        .await
        .map(|(ws, _)| ws)
}

/// The close code the server ends the connection with (`None`: no close
/// frame), within 10 s.
async fn close_code(ws: &mut Ws) -> Option<u16> {
    let read = async {
        while let Some(m) = ws.next().await {
            match m {
                Ok(Message::Close(f)) => return f.map(|f| u16::from(f.code)),
                Ok(_) => {}
                Err(_) => return None,
            }
        }
        None
    };
    tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .expect("a close within 10 s")
}

/// Waits (at most 10 s) until stderr has `n` lines equal to `line` once
/// pids are masked; returns when the last one was first seen.
async fn wait_lines(running: &Running, line: &str, n: usize) -> Instant {
    let start = Instant::now();
    loop {
        let seen = running
            .stderr_now()
            .lines()
            .filter(|l| without_pids(l) == line)
            .count();
        if seen >= n {
            return Instant::now();
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "no {n} × `{line}`:\n{}",
            running.stderr_now()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Takes its first message and writes `ready`, then ends `normal` on the
/// close (tag 3) and ignores every other message.
const UNTIL_CLOSE: &str = r#"
    (data (i32.const 1024) "ready")
    (func (export "run")
      (drop (call $recv (i32.const 0) (i32.const 0) (i64.const -1)))
      (drop (call $send (call $msg_sender) (i64.const 1) (i32.const 1024) (i32.const 5)))
      (loop $wait
        (drop (call $recv (i32.const 0) (i32.const 0) (i64.const -1)))
        (br_if $wait (i64.ne (call $msg_tag) (i64.const 3)))))"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_text_message_that_is_not_utf8_closes_with_1007() {
    use tokio_tungstenite::tungstenite::protocol::frame::Frame;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
    let app = ws_app(UNTIL_CLOSE, "", "");
    let (running, addr) = serve(&app);
    let mut ws = connect(addr).await.expect("an upgrade");
    ready(&mut ws).await;
    // A text frame whose payload is not UTF-8 (a lone continuation byte).
    let bad = Frame::message(vec![b'o', b'k', 0x80, 0xff], OpCode::Data(Data::Text), true);
    ws.send(Message::Frame(bad)).await.expect("send");
    assert_eq!(close_code(&mut ws).await, Some(1007));
    // Its process is told (tag 3) and ends by itself.
    wait_lines(&running, "rusm exit  conn#N normal", 1).await;
    stop(running).assert_code(0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopping_node_closes_its_websockets_with_1001() {
    let app = ws_app(UNTIL_CLOSE, "", "");
    let (running, addr) = serve(&app);
    let mut clients = Vec::new();
    for _ in 0..2 {
        let mut ws = connect(addr).await.expect("an upgrade");
        ready(&mut ws).await;
        clients.push(ws);
    }
    running.signal(libc::SIGTERM);
    for ws in &mut clients {
        assert_eq!(close_code(ws).await, Some(1001));
    }
    let out = running.finish(Duration::from_secs(20));
    out.assert_code(0);
    let shutdowns = out
        .stderr_lines()
        .iter()
        .filter(|l| l.as_str() == "rusm exit  conn#N shutdown")
        .count();
    assert_eq!(shutdowns, 2, "{}", out.stderr);
}

/// Floods its socket with 32 KiB binary frames (at most 2,000); on `LIMIT`
/// it exits with the reason `got LIMIT`.
const FLOOD: &str = r#"
    (data (i32.const 1024) "got LIMIT")
    (func (export "run")
      (local $socket i64) (local $i i32)
      (drop (call $recv (i32.const 0) (i32.const 0) (i64.const -1)))
      (local.set $socket (call $msg_sender))
      (loop $flood
        (if (i32.eq (call $send (local.get $socket) (i64.const 2) (i32.const 16384) (i32.const 32768))
                    (i32.const -8))
          (then (call $exit (i32.const 1024) (i32.const 9))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $flood (i32.lt_u (local.get $i) (i32.const 2000)))))"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frames_queued_for_a_client_that_does_not_read_hit_limit() {
    let app = ws_app(FLOOD, "max-queued-mb = 1", "");
    let (running, addr) = serve(&app);
    // Connected, and never read: the socket's writes stop once the
    // kernel's buffers are full, and the frames queue in the node.
    let ws = connect(addr).await.expect("an upgrade");
    let limited = "rusm exit  conn#N crashed: got LIMIT";
    wait_lines(&running, limited, 1).await;
    drop(ws);
    let out = stop(running);
    out.assert_code(0);
    assert!(
        !out.stderr_lines()
            .iter()
            .any(|l| l == "rusm exit  conn#N normal"),
        "2,000 frames of 32 KiB queued without LIMIT:\n{}",
        out.stderr
    );
}

/// With a mailbox of 4: sleeps a second after its first message, then
/// takes 20 messages and writes their first bytes back as one text frame.
const SLOW_READER: &str = r#"
    (func (export "run")
      (local $socket i64) (local $i i32)
      (drop (call $recv (i32.const 0) (i32.const 0) (i64.const -1)))
      (local.set $socket (call $msg_sender))
      (call $sleep (i64.const 1000))
      (loop $take
        (drop (call $recv (i32.const 0) (i32.const 0) (i64.const -1)))
        (drop (call $msg_read (i32.add (i32.const 2048) (local.get $i)) (i32.const 1)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $take (i32.lt_u (local.get $i) (i32.const 20))))
      (drop (call $send (local.get $socket) (i64.const 1) (i32.const 2048) (i32.const 20)))
      (loop $wait
        (drop (call $recv (i32.const 0) (i32.const 0) (i64.const -1)))
        (br_if $wait (i64.ne (call $msg_tag) (i64.const 3)))))"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_mailbox_pauses_the_reads_and_drops_no_frame() {
    let app = ws_app(SLOW_READER, "mailbox-capacity = 4", "");
    let (running, addr) = serve(&app);
    let mut ws = connect(addr).await.expect("an upgrade");
    let start = Instant::now();
    let letters: Vec<String> = ('a'..='t').map(String::from).collect();
    for l in &letters {
        ws.send(Message::text(l.as_str())).await.expect("send");
    }
    // Five times the mailbox, sent while the process sleeps: the socket
    // held them back (reading no more) instead of dropping them.
    let reply = tokio::time::timeout(Duration::from_secs(10), ws.next())
        .await
        .expect("a reply in time")
        .expect("open")
        .expect("a frame");
    assert_eq!(reply, Message::text(letters.concat()));
    assert!(start.elapsed() >= Duration::from_millis(900));
    ws.close(None).await.expect("close");
    wait_lines(&running, "rusm exit  conn#N normal", 1).await;
    stop(running).assert_code(0);
}

/// Ignores everything, the close (tag 3) included.
const DEAF: &str = r#"
    (func (export "run")
      (loop $forever
        (drop (call $recv (i32.const 0) (i32.const 0) (i64.const -1)))
        (br $forever)))"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_process_that_outlives_its_close_is_killed_after_the_grace() {
    let app = ws_app(DEAF, "", "shutdown-seconds = 1");
    let (running, addr) = serve(&app);
    let mut ws = connect(addr).await.expect("an upgrade");
    let closed = Instant::now();
    ws.close(None).await.expect("close");
    let killed = wait_lines(&running, "rusm exit  conn#N killed", 1).await;
    let after = killed - closed;
    assert!(
        after >= Duration::from_millis(900) && after < Duration::from_secs(5),
        "killed {after:?} after the close"
    );
    stop(running).assert_code(0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upgrade_past_a_process_cap_gets_503() {
    let app = ws_app(UNTIL_CLOSE, "max-processes = 1", "");
    let (running, addr) = serve(&app);
    let mut first = connect(addr).await.expect("an upgrade");
    ready(&mut first).await;
    match connect(addr).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 503);
            assert_eq!(response.headers()["retry-after"], "1");
        }
        other => panic!("a second connection past max-processes = 1: {other:?}"),
    }
    // Once the first one's process is gone, there is room again.
    first.close(None).await.expect("close");
    wait_lines(&running, "rusm exit  conn#N normal", 1).await;
    let mut again = connect(addr).await.expect("an upgrade with room");
    ready(&mut again).await;
    again.close(None).await.expect("close");
    let out = stop(running);
    out.assert_code(0);
    assert!(
        out.stderr_lines()
            .iter()
            .any(|l| l.starts_with("rusm http GET /ws 503 ") && l.ends_with(" -")),
        "{}",
        out.stderr
    );
}

/// Has a `run`, but its start function traps: it never gets there.
const CANNOT_START: &str = r#"
    (func $boom unreachable)
    (start $boom)
    (func (export "run"))"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upgrade_whose_process_cannot_start_gets_500() {
    let app = ws_app(CANNOT_START, "", "");
    let (running, addr) = serve(&app);
    match connect(addr).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 500);
        }
        other => panic!("an upgrade to a process that cannot start: {other:?}"),
    }
    let out = stop(running);
    out.assert_code(0);
    let lines = out.stderr_lines();
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("rusm exit  conn#N failed to start: ")),
        "{}",
        out.stderr
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("rusm http GET /ws 500 ") && l.ends_with(" conn#N")),
        "{}",
        out.stderr
    );
}
