//! Bad input (issue 14) end to end, one test each: malformed requests,
//! oversized heads, slowloris clients, a body longer or shorter than
//! announced, a handler that never reads its body, and a client that
//! never reads its response. Each gets a clear status or a closed
//! connection, never stalls the requests of others (a good request is
//! answered meanwhile), and costs bounded memory (the node's RSS is read
//! from /proc where it matters).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::serve::{app, get, raw, serve, stop};

const ROUTE: &str = "[[http.route]]\npath = \"/*\"\ncomponent = \"handler\"\n";

/// The node's resident memory, in MiB.
fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .expect("VmRSS")
        / 1024.0
}

/// Sends `bytes` (as far as the server takes them: it may close first)
/// and reads until the server closes or `within` passes.
fn send_head(addr: SocketAddr, bytes: &[u8], within: Duration) -> String {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(within)).expect("a timeout");
    let _ = s.write_all(bytes);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// A POST of `body` on a new connection: its status and body, or `None`
/// when the server closed the connection instead of answering.
async fn post(addr: SocketAddr, path: &str, body: Vec<u8>) -> Option<(u16, String)> {
    use http_body_util::{BodyExt, Full};
    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .expect("handshake");
    tokio::spawn(conn);
    let req = hyper::Request::post(path)
        .header("host", "x")
        .body(Full::new(bytes::Bytes::from(body)))
        .expect("a request");
    let response = sender.send_request(req).await.ok()?;
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.ok()?.to_bytes();
    Some((status, String::from_utf8_lossy(&body).into_owned()))
}

/// Whether a reply is `status`, or nothing (the server closed).
fn status_or_closed(reply: &str, status: &str) -> bool {
    reply.is_empty() || reply.starts_with(&format!("HTTP/1.1 {status}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_get_400_or_a_close() {
    let app = app(ROUTE, "");
    let (running, addr) = serve(&app);
    let within = Duration::from_secs(5);
    for bad in [
        &b"NOT HTTP AT ALL\r\n\r\n"[..],
        b"GET /x/hello HTTP/9.9\r\nhost: x\r\n\r\n",
        b"G@T /x/hello HTTP/1.1\r\nhost: x\r\n\r\n",
        b"GET /x/hello HTTP/1.1\r\nhost x\r\n\r\n",
        b"GET /x/hello HTTP/1.1\r\nhost: x\r\nbad\0name: 1\r\n\r\n",
        b"POST /x/echo HTTP/1.1\r\nhost: x\r\ncontent-length: ten\r\n\r\n",
        b"POST /x/echo HTTP/1.1\r\nhost: x\r\ncontent-length: 4\r\ncontent-length: 5\r\n\r\nping",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
    ] {
        let reply = raw(addr, bad, within);
        assert!(
            status_or_closed(&reply, "400"),
            "{:?}: {reply}",
            String::from_utf8_lossy(bad)
        );
        assert!(!reply.contains(" 200 "), "{reply}");
    }
    // A chunked body that breaks off in a bad chunk: the handler's read
    // fails (it traps: 500), or the connection closes; nothing else.
    let reply = raw(
        addr,
        b"POST /x/drain HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n4\r\nping\r\nzz\r\n",
        within,
    );
    assert!(status_or_closed(&reply, "500"), "{reply}");
    assert_eq!(get(addr, "/x/hello").await.status, 200);
    stop(running).assert_code(0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_heads_get_431_or_a_close() {
    let app = app(ROUTE, "");
    let (running, addr) = serve(&app);
    let within = Duration::from_secs(5);
    // (After a first request: the handler's code is made ready for the
    // pool on first use.)
    assert_eq!(get(addr, "/x/hello").await.status, 200);
    let rss = rss_mib(running.pid());
    // One 16 MiB header; 1,000 small headers; a 4 MiB request target.
    let big_header = format!(
        "GET /x/hello HTTP/1.1\r\nhost: x\r\nx-big: {}\r\n\r\n",
        "a".repeat(16 << 20)
    );
    let many_headers = format!(
        "GET /x/hello HTTP/1.1\r\nhost: x\r\n{}\r\n",
        (0..1000)
            .map(|i| format!("x-h{i}: v\r\n"))
            .collect::<String>()
    );
    let long_target = format!("GET /x/{} HTTP/1.1\r\nhost: x\r\n\r\n", "a".repeat(4 << 20));
    let mut clients = Vec::new();
    for head in [big_header, many_headers, long_target] {
        // Five of each at once.
        for _ in 0..5 {
            let head = head.clone();
            clients.push(std::thread::spawn(move || {
                send_head(addr, head.as_bytes(), within)
            }));
        }
    }
    // Meanwhile others are served.
    assert_eq!(get(addr, "/x/hello").await.status, 200);
    for c in clients {
        let reply = c.join().expect("a client");
        assert!(
            status_or_closed(&reply, "431") || status_or_closed(&reply, "414"),
            "{}",
            &reply[..reply.len().min(200)]
        );
    }
    // 105 MiB of heads were sent; the node reads at most hyper's buffer
    // (about 400 KiB) of each before it answers or closes.
    let grew = rss_mib(running.pid()) - rss;
    assert!(grew < 32.0, "the node grew by {grew:.1} MiB");
    assert_eq!(get(addr, "/x/hello").await.status, 200);
    stop(running).assert_code(0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_clients_are_cut_at_the_header_timeout() {
    let app = app(&format!("header-timeout-seconds = 1\n{ROUTE}"), "");
    let (running, addr) = serve(&app);
    // Twenty clients, each sending a head a byte at a time, 200 ms apart.
    let start = Instant::now();
    let slow: Vec<_> = (0..20)
        .map(|_| {
            std::thread::spawn(move || {
                let mut s = TcpStream::connect(addr).expect("connect");
                s.set_read_timeout(Some(Duration::from_millis(200)))
                    .expect("a timeout");
                let head = b"GET /x/hello HTTP/1.1\r\nhost: x\r\nx-slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
                let mut reply = Vec::new();
                for b in head {
                    if s.write_all(&[*b]).is_err() {
                        break;
                    }
                    let mut buf = [0u8; 512];
                    match s.read(&mut buf) {
                        Ok(0) => break,
                        Ok(n) => reply.extend_from_slice(&buf[..n]),
                        Err(_) => {}
                    }
                }
                (start.elapsed(), String::from_utf8_lossy(&reply).into_owned())
            })
        })
        .collect();
    // Meanwhile others are served, promptly.
    for _ in 0..5 {
        let t = Instant::now();
        assert_eq!(get(addr, "/x/hello").await.status, 200);
        assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    }
    for s in slow {
        let (took, reply) = s.join().expect("a slow client");
        // Cut after about a second, long before its head was complete
        // (about 16 s at this pace).
        assert!(
            took >= Duration::from_millis(900) && took < Duration::from_secs(5),
            "{took:?}"
        );
        assert!(!reply.contains(" 200 "), "{reply}");
    }
    stop(running).assert_code(0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_longer_or_shorter_than_announced() {
    let app = app(
        &format!("header-timeout-seconds = 1\nrequest-timeout-seconds = 1\n{ROUTE}"),
        "",
    );
    let (running, addr) = serve(&app);
    // Longer: the handler sees the announced 4 bytes; the rest is the
    // start of a next request that never completes, cut at the header
    // timeout.
    let start = Instant::now();
    let reply = raw(
        addr,
        b"POST /x/echo HTTP/1.1\r\nhost: x\r\ncontent-length: 4\r\n\r\npingEXTRA",
        Duration::from_secs(5),
    );
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert!(reply.contains("\r\nping\r\n"), "{reply}");
    assert!(!reply.contains("EXTRA"), "{reply}");
    assert!(
        start.elapsed() < Duration::from_secs(4),
        "{:?}",
        start.elapsed()
    );
    // Shorter, then silence: the handler waits on its body until the
    // request timeout: 504, and it is killed.
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("a timeout");
    s.write_all(b"POST /x/drain HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\nonly ten..")
        .expect("write");
    assert_eq!(get(addr, "/x/hello").await.status, 200);
    let mut reply = [0u8; 12];
    s.read_exact(&mut reply).expect("a reply");
    assert_eq!(&reply, b"HTTP/1.1 504");
    let out = stop(running);
    out.assert_code(0);
    assert!(
        out.stderr_lines()
            .iter()
            .any(|l| l == "rusm exit  handler#N killed"),
        "{}",
        out.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_that_never_reads_its_body() {
    let app = app(&format!("max-body-mb = 16\n{ROUTE}"), "");
    let (running, addr) = serve(&app);
    // (After a first request: the handler's code is made ready for the
    // pool on first use.)
    assert_eq!(get(addr, "/x/hello").await.status, 200);
    let rss = rss_mib(running.pid());
    // 8 MiB bodies to a handler that answers without reading them, four
    // at once: each answered (or, once answered, its connection closed
    // rather than the rest read), none of them buffered.
    let posts: Vec<_> = (0..4)
        .map(|_| tokio::spawn(post(addr, "/x/hello", vec![b'x'; 8 << 20])))
        .collect();
    assert_eq!(get(addr, "/x/hello").await.status, 200);
    let mut answered = 0;
    for p in posts {
        if let Some(reply) = p.await.expect("a post") {
            assert_eq!(reply, (200, "hello\n".to_string()));
            answered += 1;
        }
    }
    let grew = rss_mib(running.pid()) - rss;
    assert!(
        grew < 24.0,
        "the node grew by {grew:.1} MiB for 32 MiB unread"
    );
    assert_eq!(get(addr, "/x/hello").await.status, 200);
    let out = stop(running);
    out.assert_code(0);
    // Each handler ran and ended by itself.
    let normal = out
        .stderr_lines()
        .iter()
        .filter(|l| l.as_str() == "rusm exit  handler#N normal")
        .count();
    assert!(normal >= 6, "{answered} answered:\n{}", out.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_its_response_is_cut_off() {
    let app = app(&format!("idle-timeout-seconds = 2\n{ROUTE}"), "");
    let (running, addr) = serve(&app);
    // (After a first request: the handler's code is made ready for the
    // pool on first use.)
    assert_eq!(get(addr, "/x/hello").await.status, 200);
    let rss = rss_mib(running.pid());
    // Endless bodies (4 KiB chunks until the client goes away), each
    // read up to its head and then never again, by four clients.
    let start = Instant::now();
    let stalled: Vec<TcpStream> = (0..4)
        .map(|_| {
            let mut s = TcpStream::connect(addr).expect("connect");
            s.write_all(b"GET /x/giant HTTP/1.1\r\nhost: x\r\n\r\n")
                .expect("write");
            let mut head = [0u8; 12];
            s.read_exact(&mut head).expect("a head");
            assert_eq!(&head, b"HTTP/1.1 200");
            s
        })
        .collect();
    // The handlers block on their writes: others are served meanwhile,
    // and the node does not grow with what the clients leave unread.
    let mut peak = 0f64;
    while start.elapsed() < Duration::from_millis(1500) {
        assert_eq!(get(addr, "/x/hello").await.status, 200);
        peak = peak.max(rss_mib(running.pid()) - rss);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(peak < 32.0, "the node grew by {peak:.1} MiB");
    // After the idle timeout of reading nothing, each connection is
    // closed and its handler killed.
    let kills = |text: &str| {
        text.lines()
            .filter(|l| crate::without_pids(l) == "rusm exit  handler#N killed")
            .count()
    };
    while kills(&running.stderr_now()) < 4 {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "not cut off:\n{}",
            running.stderr_now()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        start.elapsed() >= Duration::from_millis(1900),
        "{:?}",
        start.elapsed()
    );
    for mut s in stalled {
        // What was in flight, then the end.
        s.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("a timeout");
        let mut rest = Vec::new();
        let _ = s.read_to_end(&mut rest);
    }
    let out = stop(running);
    out.assert_code(0);
    assert!(
        out.stderr
            .lines()
            .any(|l| l.contains("read nothing of its response")),
        "{}",
        out.stderr
    );
}
