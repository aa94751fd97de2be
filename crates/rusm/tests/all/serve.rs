//! Serving (SERVING.md) end to end: the real `rusm` binary with an
//! `[http]` table, real requests over 127.0.0.1 from a hyper client (and
//! raw sockets for malformed and slow clients), one handler component
//! (rusm-wasm's `tests/all/fixtures/handler.component.wat`, built from
//! `handler.core.wat` by `build.sh` there), and
//! the lifecycle log and access log on stderr.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Frame;
use hyper_util::rt::TokioIo;

use crate::{App, Running, guest};

pub(crate) const HANDLER: &str =
    include_str!("../../../rusm-wasm/tests/all/fixtures/handler.component.wat");

/// A resident that answers every message with `count N` (N from 1), sent
/// to the pid in the message's first 8 bytes.
const COUNTER: &str = r#"
    (data (i32.const 1024) "counter")
    (func (export "run")
      (local $n i32) (local $len i32) (local $v i32) (local $i i32)
      (drop (call $register (i32.const 1024) (i32.const 7)))
      (loop $serve
        (drop (call $recv (i32.const 0) (i32.const 0) (i64.const -1)))
        (drop (call $msg_read (i32.const 2048) (i32.const 8)))
        (local.set $n (i32.add (local.get $n) (i32.const 1)))
        ;; "count " then the digits of $n, written backwards from 3100.
        (i64.store (i32.const 3000) (i64.const 0x20746e756f63))
        (local.set $v (local.get $n))
        (local.set $i (i32.const 3100))
        (loop $digits
          (local.set $i (i32.sub (local.get $i) (i32.const 1)))
          (i32.store8 (local.get $i) (i32.add (i32.const 48) (i32.rem_u (local.get $v) (i32.const 10))))
          (local.set $v (i32.div_u (local.get $v) (i32.const 10)))
          (br_if $digits (local.get $v)))
        (local.set $len (i32.sub (i32.const 3100) (local.get $i)))
        (memory.copy (i32.const 3006) (local.get $i) (local.get $len))
        (drop (call $send (i64.load (i32.const 2048)) (i64.const 1)
                          (i32.const 3000) (i32.add (i32.const 6) (local.get $len))))
        (br $serve)))"#;

/// An app serving the handler on a free port, with `http` appended to its
/// `[http]` table and `extra` to the manifest.
pub(crate) fn app(http: &str, extra: &str) -> App {
    let app = App::new();
    app.write(
        "rusm.toml",
        &format!(
            r#"
[log]
level = "info"

[capabilities.handler]
max-memory-mb = 16

[components.handler]
path = "handler.wat"
capability = "handler"
{extra}
[http]
listen = "127.0.0.1:0"
{http}
"#
        ),
    )
    .write("handler.wat", HANDLER);
    app
}

/// Start the node and wait for its listener; returns its address.
pub(crate) fn serve(app: &App) -> (Running, SocketAddr) {
    let mut running = app.start(&["run"]);
    running.wait_for_line("the listener", |l| l.starts_with("rusm http listening on "));
    let stderr = running.stderr_now();
    let addr = stderr
        .lines()
        .find_map(|l| l.strip_prefix("rusm http listening on http://"))
        .expect("the line waited for")
        .parse()
        .expect("an address");
    (running, addr)
}

/// What a request got.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) headers: hyper::HeaderMap,
    pub(crate) body: String,
}

/// One request on a new connection, with a hyper client.
pub(crate) async fn request(addr: SocketAddr, method: &str, path: &str, body: Vec<u8>) -> Reply {
    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    tokio::spawn(conn);
    let req = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header("host", addr.to_string())
        .body(Full::new(Bytes::from(body)))
        .expect("a request");
    let response = sender.send_request(req).await.expect("a response");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response
        .into_body()
        .collect()
        .await
        .map(|b| String::from_utf8_lossy(&b.to_bytes()).into_owned())
        .unwrap_or_else(|e| format!("<body error: {e}>"));
    Reply {
        status,
        headers,
        body,
    }
}

pub(crate) async fn get(addr: SocketAddr, path: &str) -> Reply {
    request(addr, "GET", path, Vec::new()).await
}

/// Send a raw request and read until the server closes or `within` passes.
pub(crate) fn raw(addr: SocketAddr, bytes: &[u8], within: Duration) -> String {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(within)).expect("a timeout");
    s.write_all(bytes).expect("write");
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

pub(crate) fn stop(running: Running) -> crate::Output {
    running.signal(libc::SIGTERM);
    running.finish(Duration::from_secs(20))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_row_of_the_outcome_table() {
    let app = app(
        r#"request-timeout-seconds = 1
max-body-mb = 1

[[http.route]]
path = "/h/*"
component = "handler"

[[http.route]]
path = "/get-only"
component = "handler"
methods = ["GET"]

[[http.route]]
path = "/capped/*"
component = "handler"
max-concurrent = 1
"#,
        "",
    );
    let (running, addr) = serve(&app);

    // A response: status, headers and body as the handler set them.
    let r = get(addr, "/h/hello").await;
    assert_eq!((r.status, r.body.as_str()), (200, "hello\n"));
    assert_eq!(r.headers["content-type"], "text/plain");
    // A trap, a memory breach, no response: 500.
    assert_eq!(get(addr, "/h/crash").await.status, 500);
    assert_eq!(get(addr, "/h/bomb").await.status, 500);
    assert_eq!(get(addr, "/h/none").await.status, 500);
    // Past the request timeout: 504, and the handler is killed.
    let start = Instant::now();
    assert_eq!(get(addr, "/h/loop").await.status, 504);
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "{:?}",
        start.elapsed()
    );
    // The router: 404, 405 with `allow`; a request body is streamed in.
    assert_eq!(get(addr, "/nowhere").await.status, 404);
    let r = request(addr, "POST", "/get-only", Vec::new()).await;
    assert_eq!(r.status, 405);
    assert_eq!(r.headers["allow"], "GET");
    let r = request(addr, "POST", "/h/echo", b"ping".to_vec()).await;
    assert_eq!((r.status, r.body.as_str()), (200, "ping"));
    // Over `max-body-mb`: 413, announced or streamed.
    let big = vec![b'x'; (1 << 20) + 1];
    // Announced: refused from the head alone. (Sent as a head only: a
    // client still writing the body when the 413 and the close come may
    // get a broken pipe before it reads the answer.)
    let reply = raw(
        addr,
        format!(
            "POST /h/echo HTTP/1.1\r\nhost: x\r\ncontent-length: {}\r\n\r\n",
            big.len()
        )
        .as_bytes(),
        Duration::from_secs(5),
    );
    assert!(reply.starts_with("HTTP/1.1 413"), "{reply}");
    assert_eq!(chunked_post(addr, "/h/drain", big.clone()).await, 413);
    // A handler that answered before the body went over the cap: its
    // response is cut off (no complete 200 body) and it is killed.
    assert!(chunked_echo_is_cut(addr, big).await);
    // Paths with dot segments, `//` or an encoded `/`: 400 before routing.
    for bad in ["/h/../x", "/h/./x", "/h//x", "/h/a%2Fb"] {
        let reply = raw(
            addr,
            format!("GET {bad} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").as_bytes(),
            Duration::from_secs(5),
        );
        assert!(reply.starts_with("HTTP/1.1 400"), "{bad}: {reply}");
    }
    // Over a route's `max-concurrent`: 503 with `retry-after: 1`, and no
    // process is spawned for it.
    // The slow request holds the one slot for about a second (it sleeps
    // 1.5 s, past this app's request timeout, so it ends 504). A loaded
    // machine may start it late, after its timeout, or while a quick
    // request holds the slot, so a round without a 503 is tried again.
    let mut refused = None;
    for _ in 0..5 {
        let slow = tokio::spawn(get(addr, "/capped/wait"));
        while !slow.is_finished() {
            let r = get(addr, "/capped/hello").await;
            if r.status == 503 {
                refused = Some(r);
                break;
            }
            assert_eq!(r.status, 200);
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
        // (504 if it held the slot; 503 if a quick one held it when the
        // slow one came.)
        let status = slow.await.expect("the slow request").status;
        assert!(status == 504 || status == 503, "{status}");
        if refused.is_some() {
            break;
        }
    }
    let r = refused.expect("no 503 while the slot was held, in 5 rounds");
    assert_eq!(r.headers["retry-after"], "1");

    let out = stop(running);
    out.assert_code(0);
    let lines = out.stderr_lines();
    let has = |want: &str| lines.iter().any(|l| l.starts_with(want));
    // Each request a process with its lifecycle line, and an access line.
    for (line, why) in [
        ("rusm http GET /h/hello 200 ", "access line"),
        ("rusm exit  handler#N normal", "a normal request"),
        ("rusm exit  handler#N crashed: unreachable", "a trap"),
        (
            "rusm exit  handler#N crashed: memory limit exceeded (limit 16 MiB)",
            "a bomb",
        ),
        (
            "rusm exit  handler#N crashed: the handler returned without a response",
            "no response",
        ),
        ("rusm exit  handler#N killed", "the timeout"),
        ("rusm http GET /nowhere 404 ", "404"),
        ("rusm http GET /capped/hello 503 ", "503"),
    ] {
        assert!(has(line), "no `{line}` ({why}) in:\n{}", out.stderr);
    }
    assert!(
        out.stderr
            .lines()
            .any(|l| l.starts_with("rusm http GET /h/hello 200 ") && l.contains("ms handler#")),
        "{}",
        out.stderr
    );
    // No process for a request refused at the route's cap.
    let refused: Vec<_> = lines
        .iter()
        .filter(|l| l.starts_with("rusm http GET /capped/hello 503 "))
        .collect();
    assert!(
        !refused.is_empty() && refused.iter().all(|l| l.ends_with(" -")),
        "{}",
        out.stderr
    );
}

/// A POST whose body streams in chunks (no content-length); its status.
async fn chunked_post(addr: SocketAddr, path: &str, body: Vec<u8>) -> u16 {
    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    tokio::spawn(conn);
    let chunks = body.chunks(64 * 1024).map(Bytes::copy_from_slice).collect();
    let req = hyper::Request::post(path)
        .header("host", addr.to_string())
        .body(Chunks(chunks))
        .expect("a request");
    match sender.send_request(req).await {
        Ok(r) => r.status().as_u16(),
        Err(e) => panic!("no response to a chunked POST: {e}"),
    }
}

/// A streamed echo of `body`: whether the response was cut off.
async fn chunked_echo_is_cut(addr: SocketAddr, body: Vec<u8>) -> bool {
    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    tokio::spawn(conn);
    let len = body.len();
    let chunks = body.chunks(64 * 1024).map(Bytes::copy_from_slice).collect();
    let req = hyper::Request::post("/h/echo")
        .header("host", addr.to_string())
        .body(Chunks(chunks))
        .expect("a request");
    match sender.send_request(req).await {
        Err(_) => true,
        Ok(r) if r.status() != 200 => true,
        Ok(r) => match r.into_body().collect().await {
            Err(_) => true,
            Ok(b) => b.to_bytes().len() != len,
        },
    }
}

/// A body sent as separate chunks, with no length announced.
struct Chunks(std::collections::VecDeque<Bytes>);

impl hyper::body::Body for Chunks {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        std::task::Poll::Ready(self.0.pop_front().map(|c| Ok(Frame::data(c))))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_chunks_reach_the_client_as_written() {
    let app = app(
        "[[http.route]]\npath = \"/*\"\ncomponent = \"handler\"\n",
        "",
    );
    let (running, addr) = serve(&app);
    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    tokio::spawn(conn);
    let start = Instant::now();
    let req = hyper::Request::get("/events/sse")
        .header("host", "x")
        .body(Full::new(Bytes::new()))
        .expect("a request");
    let response = sender.send_request(req).await.expect("a response");
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let mut body = response.into_body();
    let mut arrivals = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.expect("a frame");
        if let Some(data) = frame.data_ref() {
            arrivals.push((start.elapsed(), String::from_utf8_lossy(data).into_owned()));
        }
    }
    let text: String = arrivals.iter().map(|(_, t)| t.as_str()).collect();
    assert_eq!(text, "data: tick\n\n".repeat(3));
    // The handler sleeps 600 ms between events: streamed, the first is on
    // the wire long before the last (buffered, they would come together).
    let (first, last) = (arrivals[0].0, arrivals[arrivals.len() - 1].0);
    assert!(last - first >= Duration::from_millis(1000), "{arrivals:?}");
    stop(running).assert_code(0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_calls_a_resident_service() {
    let extra = "\n[components.counter]\npath = \"counter.wat\"\nresident = true\n";
    let app = app(
        "[[http.route]]\npath = \"/*\"\ncomponent = \"handler\"\n",
        extra,
    );
    app.write("counter.wat", &guest(COUNTER));
    let (running, addr) = serve(&app);
    for n in 1..=3 {
        let r = get(addr, "/count/r").await;
        assert_eq!((r.status, r.body), (200, format!("count {n}")));
    }
    stop(running).assert_code(0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_goes_away_gets_its_handler_killed() {
    let app = app(
        "[[http.route]]\npath = \"/*\"\ncomponent = \"handler\"\n",
        "",
    );
    let (running, addr) = serve(&app);
    // Before the head (a handler that loops) and while streaming (SSE).
    for path in ["/x/loop", "/x/sse"] {
        let mut s = TcpStream::connect(addr).expect("connect");
        s.write_all(format!("GET {path} HTTP/1.1\r\nhost: x\r\n\r\n").as_bytes())
            .expect("write");
        std::thread::sleep(Duration::from_millis(300));
        drop(s);
    }
    // The default request timeout is 30 s: a kill now is the disconnect's.
    let start = Instant::now();
    let kills = |text: &str| {
        text.lines()
            .filter(|l| crate::without_pids(l) == "rusm exit  handler#N killed")
            .count()
    };
    while kills(&running.stderr_now()) < 2 {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "not killed:\n{}",
            running.stderr_now()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop(running).assert_code(0);
}

/// A response whose `content-length` was sent whole is complete even
/// though hyper never polls its body to the end (nor at all for `HEAD`):
/// the client closing then must not kill a handler still at work after
/// its response.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_at_work_after_a_whole_response_is_not_killed() {
    let app = app(
        "[[http.route]]\npath = \"/*\"\ncomponent = \"handler\"\n",
        "",
    );
    let (running, addr) = serve(&app);
    for method in ["GET", "HEAD"] {
        // `raw` reads until the server closes, which it does once the
        // response is out (`connection: close`), 300 ms before the
        // handler is done.
        let reply = raw(
            addr,
            format!("{method} /x/after HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
                .as_bytes(),
            Duration::from_secs(5),
        );
        assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
        assert!(reply.contains("content-length: 6"), "{reply}");
        assert_eq!(reply.ends_with("hello\n"), method == "GET", "{reply}");
    }
    let ended = |text: &str| {
        text.lines()
            .filter(|l| crate::without_pids(l).starts_with("rusm exit  handler#N"))
            .count()
    };
    let start = Instant::now();
    while ended(&running.stderr_now()) < 2 {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "not ended:\n{}",
            running.stderr_now()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let out = stop(running);
    let normal = out
        .stderr_lines()
        .iter()
        .filter(|l| crate::without_pids(l) == "rusm exit  handler#N normal")
        .count();
    assert_eq!(normal, 2, "{}", out.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crashes_bombs_and_loops_among_hundreds_of_good_requests() {
    let app = app(
        "request-timeout-seconds = 1\n[[http.route]]\npath = \"/*\"\ncomponent = \"handler\"\n",
        "",
    );
    let (running, addr) = serve(&app);
    let mut tasks = Vec::new();
    for i in 0..300 {
        let path = match i % 100 {
            10 => "/x/crash",
            40 => "/x/bomb",
            70 => "/x/loop",
            _ => "/x/hello",
        };
        tasks.push((path, tokio::spawn(get(addr, path))));
    }
    let mut good = 0;
    for (path, task) in tasks {
        let r = task.await.expect("a request");
        if path == "/x/hello" {
            assert_eq!((r.status, r.body.as_str()), (200, "hello\n"));
            good += 1;
        } else {
            assert!(r.status == 500 || r.status == 504, "{path}: {r:?}");
        }
    }
    assert_eq!(good, 291);
    stop(running).assert_code(0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_requests_in_flight() {
    let app = app(
        "[[http.route]]\npath = \"/*\"\ncomponent = \"handler\"\n",
        "",
    );
    let (running, addr) = serve(&app);
    let slow = tokio::spawn(get(addr, "/x/wait"));
    tokio::time::sleep(Duration::from_millis(300)).await;
    running.signal(libc::SIGTERM);
    let r = slow.await.expect("the request");
    assert_eq!((r.status, r.body.as_str()), (200, "waited\n"));
    let out = running.finish(Duration::from_secs(20));
    out.assert_code(0);
    // The listener closed first: no new connection is accepted.
    assert!(TcpStream::connect(addr).is_err());
    assert!(
        out.stderr_lines()
            .iter()
            .any(|l| l == "rusm exit  handler#N normal"),
        "{}",
        out.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_client_is_cut_off_and_others_are_served() {
    let app = app(
        "header-timeout-seconds = 1\n[[http.route]]\npath = \"/*\"\ncomponent = \"handler\"\n",
        "",
    );
    let (running, addr) = serve(&app);
    // Slowloris: half a head, then nothing.
    let start = Instant::now();
    let slow = std::thread::spawn(move || {
        raw(
            addr,
            b"GET /x/hello HTTP/1.1\r\nhost: x\r\nx-slow:",
            Duration::from_secs(10),
        )
    });
    // Meanwhile others are served.
    assert_eq!(get(addr, "/x/hello").await.status, 200);
    let reply = slow.join().expect("the slow client");
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(4),
        "{took:?}"
    );
    assert!(!reply.contains("200"), "{reply}");
    // Malformed and oversized heads: a clear status or a closed connection.
    let reply = raw(addr, b"NOT HTTP AT ALL\r\n\r\n", Duration::from_secs(5));
    assert!(
        reply.is_empty() || reply.starts_with("HTTP/1.1 400"),
        "{reply}"
    );
    let huge = format!(
        "GET /x/hello HTTP/1.1\r\nhost: x\r\nx-big: {}\r\n\r\n",
        "a".repeat(1 << 20)
    );
    let reply = raw(addr, huge.as_bytes(), Duration::from_secs(5));
    assert!(
        reply.is_empty() || reply.starts_with("HTTP/1.1 431"),
        "{reply}"
    );
    assert_eq!(get(addr, "/x/hello").await.status, 200);
    stop(running).assert_code(0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_with_the_tls_files() {
    use rustls_pki_types::pem::PemObject;
    const CERT: &str = include_str!("fixtures/test-server.pem");
    const KEY: &str = include_str!("fixtures/test-server.key");
    let app = app(
        "tls = { cert = \"certs/server.pem\", key = \"certs/server.key\" }\n\
         [[http.route]]\npath = \"/*\"\ncomponent = \"handler\"\n",
        "",
    );
    app.write("certs/server.pem", CERT)
        .write("certs/server.key", KEY);
    let mut running = app.start(&["run"]);
    running.wait_for_line("the listener", |l| {
        l.starts_with("rusm http listening on https://")
    });
    let addr: SocketAddr = running
        .stderr_now()
        .lines()
        .find_map(|l| l.strip_prefix("rusm http listening on https://"))
        .expect("the line waited for")
        .parse()
        .expect("an address");

    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls_pki_types::CertificateDer::from_pem_slice(CERT.as_bytes()).expect("a PEM cert"))
        .expect("a root");
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let name = rustls_pki_types::ServerName::try_from("localhost").expect("a name");
    let tls = connector.connect(name, tcp).await.expect("a TLS handshake");
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .expect("handshake");
    tokio::spawn(conn);
    let req = hyper::Request::get("/x/hello")
        .header("host", "localhost")
        .body(Full::new(Bytes::new()))
        .expect("a request");
    let response = sender.send_request(req).await.expect("a response");
    assert_eq!(response.status(), 200);
    let body = response
        .into_body()
        .collect()
        .await
        .expect("a body")
        .to_bytes();
    assert_eq!(&body[..], b"hello\n");
    // Plain HTTP on the TLS port gets no answer.
    let reply = raw(
        addr,
        b"GET /x/hello HTTP/1.1\r\nhost: x\r\n\r\n",
        Duration::from_secs(5),
    );
    assert!(!reply.contains("200"), "{reply}");
    stop(running).assert_code(0);
}

/// The chat room: a resident registered as `room`. Tag 10 joins the
/// sender, 11 broadcasts the data to every member (tag 20), 12 leaves.
const ROOM: &str = r#"
    (data (i32.const 1024) "room")
    (global $members (mut i32) (i32.const 0))
    (func (export "run")
      (local $i i32) (local $len i32)
      (drop (call $register (i32.const 1024) (i32.const 4)))
      (loop $serve
        (drop (call $recv (i32.const 0) (i32.const 0) (i64.const -1)))
        (if (i64.eq (call $msg_tag) (i64.const 10))
          (then
            (i64.store (i32.add (i32.const 2048) (i32.shl (global.get $members) (i32.const 3)))
                       (call $msg_sender))
            (global.set $members (i32.add (global.get $members) (i32.const 1)))))
        (if (i64.eq (call $msg_tag) (i64.const 12))
          (then
            (local.set $i (i32.const 0))
            (loop $find
              (if (i32.lt_u (local.get $i) (global.get $members))
                (then
                  (if (i64.eq (i64.load (i32.add (i32.const 2048) (i32.shl (local.get $i) (i32.const 3))))
                              (call $msg_sender))
                    (then (i64.store (i32.add (i32.const 2048) (i32.shl (local.get $i) (i32.const 3)))
                                     (i64.const 0))))
                  (local.set $i (i32.add (local.get $i) (i32.const 1)))
                  (br $find))))))
        (if (i64.eq (call $msg_tag) (i64.const 11))
          (then
            (local.set $len (call $msg_len))
            (drop (call $msg_read (i32.const 8192) (local.get $len)))
            (local.set $i (i32.const 0))
            (loop $each
              (if (i32.lt_u (local.get $i) (global.get $members))
                (then
                  (drop (call $send (i64.load (i32.add (i32.const 2048) (i32.shl (local.get $i) (i32.const 3))))
                                    (i64.const 20) (i32.const 8192) (local.get $len)))
                  (local.set $i (i32.add (local.get $i) (i32.const 1)))
                  (br $each))))))
        (br $serve)))"#;

/// A connection process of the chat: joins the room on its first message
/// (from the socket), forwards the client's text frames to the room and
/// the room's broadcasts to its socket, leaves on close (tag 3).
const CHAT: &str = r#"
    (data (i32.const 1024) "room")
    (func (export "run")
      (local $socket i64) (local $room i64) (local $len i32)
      (drop (call $recv (i32.const 0) (i32.const 0) (i64.const -1)))
      (local.set $socket (call $msg_sender))
      (local.set $room (call $whereis (i32.const 1024) (i32.const 4)))
      (drop (call $send (local.get $room) (i64.const 10) (i32.const 0) (i32.const 0)))
      (block $closed
        (loop $serve
          (drop (call $recv (i32.const 0) (i32.const 0) (i64.const -1)))
          (local.set $len (call $msg_len))
          (drop (call $msg_read (i32.const 8192) (local.get $len)))
          (br_if $closed (i64.eq (call $msg_tag) (i64.const 3)))
          (if (i64.eq (call $msg_tag) (i64.const 1))
            (then (drop (call $send (local.get $room) (i64.const 11) (i32.const 8192) (local.get $len)))))
          (if (i64.eq (call $msg_tag) (i64.const 20))
            (then (drop (call $send (local.get $socket) (i64.const 1) (i32.const 8192) (local.get $len)))))
          (br $serve)))
      (drop (call $send (local.get $room) (i64.const 12) (i32.const 0) (i32.const 0))))"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_chat_with_three_clients() {
    use futures::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let extra = "\n[components.room]\npath = \"room.wat\"\nresident = true\n\n\
                 [components.chat]\npath = \"chat.wat\"\n";
    let app = app(
        "[[http.route]]\npath = \"/chat\"\ncomponent = \"chat\"\nwebsocket = true\n\
         origins = [\"https://app.example\"]\n",
        extra,
    );
    app.write("room.wat", &guest(ROOM))
        .write("chat.wat", &guest(CHAT));
    let (running, addr) = serve(&app);

    // Not an upgrade: 426. Another origin: 403.
    let r = get(addr, "/chat").await;
    assert_eq!(r.status, 426);
    let connect = |origin: &'static str| async move {
        let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let req = hyper::Request::get(format!("ws://{addr}/chat"))
            .header("host", addr.to_string())
            .header("origin", origin)
            .header("connection", "Upgrade")
            .header("upgrade", "websocket")
            .header("sec-websocket-version", "13")
            .header(
                "sec-websocket-key",
                tokio_tungstenite::tungstenite::handshake::client::generate_key(),
            )
            .body(())
            .expect("a request");
        tokio_tungstenite::client_async(req, stream).await
    };
    assert!(connect("https://evil.example").await.is_err());

    let mut clients = Vec::new();
    for _ in 0..3 {
        let (ws, response) = connect("https://app.example").await.expect("an upgrade");
        assert_eq!(response.status(), 101);
        clients.push(ws);
    }
    // Let the three join the room before anyone speaks.
    tokio::time::sleep(Duration::from_millis(300)).await;
    for (i, ws) in clients.iter_mut().enumerate() {
        ws.send(Message::text(format!("hi from {i}")))
            .await
            .expect("send");
    }
    for ws in &mut clients {
        let mut heard = Vec::new();
        while heard.len() < 3 {
            let m = tokio::time::timeout(Duration::from_secs(5), ws.next())
                .await
                .expect("a broadcast in time")
                .expect("open")
                .expect("a frame");
            if let Message::Text(t) = m {
                heard.push(t.to_string());
            }
        }
        heard.sort();
        assert_eq!(heard, ["hi from 0", "hi from 1", "hi from 2"]);
    }
    // A client's close reaches its process (tag 3), which leaves and ends.
    for mut ws in clients {
        ws.close(None).await.expect("close");
        while let Some(Ok(_)) = ws.next().await {}
    }
    let out = stop(running);
    out.assert_code(0);
    let normal = out
        .stderr_lines()
        .iter()
        .filter(|l| l.as_str() == "rusm exit  chat#N normal")
        .count();
    assert_eq!(normal, 3, "{}", out.stderr);
}

/// A connection process that writes its first message (the JSON) back as a
/// text frame, then ends `normal` on a frame starting with `b` (bye) and
/// crashes on any other.
const WS_FIRST: &str = r#"
    (func (export "run")
      (local $socket i64) (local $len i32)
      (drop (call $recv (i32.const 0) (i32.const 0) (i64.const -1)))
      (local.set $socket (call $msg_sender))
      (local.set $len (call $msg_len))
      (drop (call $msg_read (i32.const 4096) (local.get $len)))
      (drop (call $send (local.get $socket) (i64.const 1) (i32.const 4096) (local.get $len)))
      (drop (call $recv (i32.const 0) (i32.const 0) (i64.const -1)))
      (drop (call $msg_read (i32.const 4096) (i32.const 1)))
      (if (i32.ne (i32.load8_u (i32.const 4096)) (i32.const 98)) (then unreachable)))"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_first_message_and_close_codes() {
    use futures::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let app = App::new();
    app.write(
        "rusm.toml",
        r#"
max-message-mb = 1

[log]
level = "info"

[components.conn]
path = "conn.wat"

[http]
listen = "127.0.0.1:0"

[[http.route]]
path = "/ws"
component = "conn"
websocket = true
"#,
    )
    .write("conn.wat", &guest(WS_FIRST));
    let (running, addr) = serve(&app);
    let connect = || async move {
        let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let (ws, _) = tokio_tungstenite::client_async(format!("ws://{addr}/ws?room=7"), stream)
            .await
            .expect("an upgrade");
        ws
    };
    /// The close code the server ends the connection with.
    async fn close_code(
        ws: &mut tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>,
    ) -> Option<u16> {
        while let Some(m) = ws.next().await {
            match m {
                Ok(Message::Close(f)) => return f.map(|f| u16::from(f.code)),
                Ok(_) => {}
                Err(_) => return None,
            }
        }
        None
    }

    // The first message: the path, the query and the headers, as JSON.
    let mut ws = connect().await;
    let Some(Ok(Message::Text(first))) = ws.next().await else {
        panic!("no first message")
    };
    assert!(first.starts_with(r#"{"headers":[["#), "{first}");
    assert!(
        first.contains(r#""path":"/ws""#) && first.contains(r#""query":"room=7""#),
        "{first}"
    );
    assert!(first.contains(r#"["upgrade","websocket"]"#), "{first}");
    // The process ends `normal`: 1000.
    ws.send(Message::text("bye")).await.expect("send");
    assert_eq!(close_code(&mut ws).await, Some(1000));

    // It crashes: 1011.
    let mut ws = connect().await;
    let _ = ws.next().await;
    ws.send(Message::text("crash")).await.expect("send");
    assert_eq!(close_code(&mut ws).await, Some(1011));

    // A message over `max-message-mb`: 1009, and the process is told (tag
    // 3), then ends (here it crashes on the close message: not `b`).
    let mut ws = connect().await;
    let _ = ws.next().await;
    ws.send(Message::binary(vec![0u8; (1 << 20) + 1]))
        .await
        .expect("send");
    assert_eq!(close_code(&mut ws).await, Some(1009));
    // (The 1009 goes out before the process is told: wait for its end.)
    let start = Instant::now();
    let crashes = |text: &str| {
        text.lines()
            .filter(|l| crate::without_pids(l) == "rusm exit  conn#N crashed: unreachable")
            .count()
    };
    while crashes(&running.stderr_now()) < 2 {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{}",
            running.stderr_now()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let out = stop(running);
    out.assert_code(0);
    let lines = out.stderr_lines();
    assert!(
        lines.iter().any(|l| l == "rusm exit  conn#N normal"),
        "{}",
        out.stderr
    );
    let crashed = lines
        .iter()
        .filter(|l| l.as_str() == "rusm exit  conn#N crashed: unreachable")
        .count();
    assert_eq!(crashed, 2, "{}", out.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_wide_caps_on_requests_and_connections() {
    let app = app(
        "max-concurrent-requests = 2\nmax-connections = 3\n\
         [[http.route]]\npath = \"/*\"\ncomponent = \"handler\"\n",
        "",
    );
    let (running, addr) = serve(&app);
    // Two requests in flight node-wide; a third gets 503 and no process.
    let slow: Vec<_> = (0..2).map(|_| tokio::spawn(get(addr, "/x/wait"))).collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let r = get(addr, "/x/hello").await;
    assert_eq!(r.status, 503);
    assert_eq!(r.headers["retry-after"], "1");
    for s in slow {
        assert_eq!(s.await.expect("a slow request").status, 200);
    }
    assert_eq!(get(addr, "/x/hello").await.status, 200);

    // Three open connections; a fourth waits in the backlog until one closes.
    let held: Vec<TcpStream> = (0..3)
        .map(|_| {
            let mut s = TcpStream::connect(addr).expect("connect");
            s.write_all(b"GET /x/hello HTTP/1.1\r\nhost: x\r\n\r\n")
                .expect("write");
            let mut buf = [0u8; 12];
            s.read_exact(&mut buf).expect("a reply");
            assert_eq!(&buf, b"HTTP/1.1 200");
            s
        })
        .collect();
    let waiting = std::thread::spawn(move || {
        let start = Instant::now();
        let reply = raw(
            addr,
            b"GET /x/hello HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
            Duration::from_secs(10),
        );
        (start.elapsed(), reply)
    });
    std::thread::sleep(Duration::from_millis(700));
    drop(held);
    let (took, reply) = waiting.join().expect("the fourth client");
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert!(
        took >= Duration::from_millis(600),
        "answered before a slot was free: {took:?}"
    );

    // A body longer than announced: the extra bytes are not a request.
    let reply = raw(
        addr,
        b"POST /x/echo HTTP/1.1\r\nhost: x\r\ncontent-length: 4\r\n\r\npingEXTRA",
        // (The connection may stay open, waiting for the rest of `EXTRA`.)
        Duration::from_secs(2),
    );
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert!(reply.contains("\r\nping\r\n"), "{reply}");
    assert!(!reply.contains("EXTRA"), "{reply}");
    // A handler that never reads its body still answers.
    let r = request(addr, "POST", "/x/hello", vec![b'x'; 256 << 10]).await;
    assert_eq!((r.status, r.body.as_str()), (200, "hello\n"));
    stop(running).assert_code(0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_keep_alive_connection_is_closed() {
    let app = app(
        "idle-timeout-seconds = 1\n[[http.route]]\npath = \"/*\"\ncomponent = \"handler\"\n",
        "",
    );
    let (running, addr) = serve(&app);
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("a timeout");
    s.write_all(b"GET /x/hello HTTP/1.1\r\nhost: x\r\n\r\n")
        .expect("write");
    let start = Instant::now();
    // The response, then nothing until the server closes the connection.
    let mut all = Vec::new();
    let _ = s.read_to_end(&mut all);
    let took = start.elapsed();
    assert!(String::from_utf8_lossy(&all).starts_with("HTTP/1.1 200"));
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(4),
        "{took:?}"
    );
    stop(running).assert_code(0);
}

/// With `[observer]` too, every answered request is counted in `/metrics`
/// by the operator's route (never the client's path) and status.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_observer_counts_requests_by_route_and_status() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let app = app(
        "\n[[http.route]]\npath = \"/h/*\"\ncomponent = \"handler\"\n",
        &format!("\n[observer]\nlisten = \"127.0.0.1:{port}\"\ntoken-file = \"token\"\n"),
    );
    app.write("token", "requests-test-token\n");
    let (running, addr) = serve(&app);
    for _ in 0..3 {
        assert_eq!(get(addr, "/h/hello").await.status, 200);
    }
    assert_eq!(get(addr, "/h/crash").await.status, 500);
    assert_eq!(get(addr, "/nowhere/at/all").await.status, 404);
    let metrics = raw(
        format!("127.0.0.1:{port}").parse().expect("an address"),
        b"GET /metrics HTTP/1.1\r\nhost: x\r\nauthorization: Bearer requests-test-token\r\nconnection: close\r\n\r\n",
        Duration::from_secs(10),
    );
    let out = stop(running);
    let line = |route: &str, status: &str| {
        metrics
            .lines()
            .find(|l| {
                l.starts_with("rusm_http_requests_total{")
                    && l.contains(&format!("route=\"{route}\""))
                    && l.contains(&format!("status=\"{status}\""))
            })
            .and_then(|l| l.rsplit(' ').next())
            .map(str::to_string)
    };
    assert_eq!(
        line("/h/*", "200").as_deref(),
        Some("3"),
        "{metrics}\n{}",
        out.show()
    );
    assert_eq!(line("/h/*", "500").as_deref(), Some("1"), "{metrics}");
    assert_eq!(line("-", "404").as_deref(), Some("1"), "{metrics}");
    assert!(
        !metrics.contains("/nowhere"),
        "client paths never become labels"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_access_line_in_json_has_its_fields() {
    let app = app(
        r#"
[[http.route]]
path = "/h/*"
component = "handler"
"#,
        "",
    );
    let mut running = app.start(&["--log-format", "json", "run"]);
    running.wait_for_line("the listener", |l| {
        l.contains("rusm http listening on http://")
    });
    let addr: SocketAddr = running
        .stderr_now()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find_map(|o| {
            o["message"]
                .as_str()?
                .strip_prefix("rusm http listening on http://")
                .map(str::to_owned)
        })
        .expect("the listening line as JSON")
        .parse()
        .expect("an address");
    assert_eq!(get(addr, "/h/json?x=%3C1%3E").await.status, 200);
    assert_eq!(get(addr, "/nowhere").await.status, 404);
    let out = stop(running);
    let access: Vec<serde_json::Value> = out
        .stderr
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap_or_else(|e| panic!("{e}: {l}"))
        })
        .filter(|o| o["event"] == "access")
        .collect();
    assert_eq!(access.len(), 2, "{}", out.stderr);
    let ok = &access[0];
    assert_eq!(ok["level"], "INFO");
    assert_eq!(
        (ok["method"].as_str(), ok["path"].as_str()),
        (Some("GET"), Some("/h/json"))
    );
    assert_eq!(ok["status"], 200);
    assert!(ok["ms"].as_f64().is_some_and(|ms| ms >= 0.0), "{ok}");
    assert!(
        ok["process"].as_str().unwrap().starts_with("handler#"),
        "{ok}"
    );
    let missing = &access[1];
    assert_eq!(
        (missing["path"].as_str(), missing["status"].as_u64()),
        (Some("/nowhere"), Some(404))
    );
    assert_eq!(missing["process"], "-");
}
