//! The listener's bounds (`ListenerLimits`): a slowloris peer is cut off
//! while the page still answers others; connections past the cap are
//! closed and the cap frees up; idle connections close, live event
//! streams do not; event streams past their bound get 503.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rusm_observer::ListenerLimits;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::{TOKEN, eventually, get, observed_with};

fn limits(change: impl FnOnce(&mut ListenerLimits)) -> ListenerLimits {
    let mut l = ListenerLimits::default();
    change(&mut l);
    l
}

/// Wait up to `within` for the server to close `stream`: how long it
/// took, and the bytes it sent before closing.
async fn closed_within(stream: &mut TcpStream, within: Duration) -> Option<(Duration, Vec<u8>)> {
    let start = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let left = within.checked_sub(start.elapsed())?;
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some((start.elapsed(), got)),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
        }
    }
}

/// Read one response head (through the blank line) off `stream`.
async fn read_head(stream: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut byte))
            .await
            .expect("a response head within 5 s")
            .unwrap();
        assert_eq!(
            n,
            1,
            "closed before a whole head: {:?}",
            String::from_utf8_lossy(&head)
        );
        head.push(byte[0]);
    }
    String::from_utf8(head).unwrap()
}

/// A GET with the token on a kept-alive connection.
async fn send_get(stream: &mut TcpStream, addr: SocketAddr, path: &str) {
    let text =
        format!("GET {path} HTTP/1.1\r\nhost: {addr}\r\nauthorization: Bearer {TOKEN}\r\n\r\n");
    stream.write_all(text.as_bytes()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slowloris_client_is_cut_off_while_the_page_still_answers_others() {
    let o = observed_with(|c| {
        c.limits = limits(|l| l.header_timeout = Duration::from_millis(400));
    })
    .await;
    let addr = o.observer.local_addr();
    // One peer trickles a head, a header line every 50 ms, forever; one
    // connects and says nothing.
    let trickler = TcpStream::connect(addr).await.unwrap();
    let (mut reader, mut writer) = trickler.into_split();
    let trickling = tokio::spawn(async move {
        let _ = writer.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n").await;
        for i in 0.. {
            tokio::time::sleep(Duration::from_millis(50)).await;
            if writer
                .write_all(format!("x-slow-{i}: 1\r\n").as_bytes())
                .await
                .is_err()
            {
                return;
            }
        }
    });
    let mut silent = TcpStream::connect(addr).await.unwrap();
    let started = Instant::now();

    // Meanwhile, the page answers an operator.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let page = get(&o, "/").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("<html"), "{}", page.body);

    let mut cut = [0u8; 1];
    let trickler_cut = tokio::time::timeout(Duration::from_secs(5), reader.read(&mut cut))
        .await
        .expect("the trickling peer was never cut off");
    assert!(
        matches!(trickler_cut, Ok(0) | Err(_)),
        "it got an answer: {trickler_cut:?}"
    );
    let trickler_after = started.elapsed();
    let (_, sent) = closed_within(&mut silent, Duration::from_secs(5))
        .await
        .expect("the silent peer was never cut off");
    let silent_after = started.elapsed();
    assert!(sent.is_empty(), "the silent peer got {sent:?}");
    for after in [trickler_after, silent_after] {
        assert!(
            after >= Duration::from_millis(300) && after < Duration::from_secs(3),
            "cut off after {after:?} with a 400 ms header timeout"
        );
    }
    trickling.abort();
    // And the page still answers after them.
    assert_eq!(get(&o, "/metrics").await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_past_the_cap_are_closed_and_the_cap_frees_up() {
    let o = observed_with(|c| c.limits = limits(|l| l.max_connections = 3)).await;
    let addr = o.observer.local_addr();
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(TcpStream::connect(addr).await.unwrap());
    }
    // The three are accepted and hold every slot; a fourth is closed at
    // once (well before the 10 s header timeout), with nothing said.
    let mut fourth = TcpStream::connect(addr).await.unwrap();
    let (after, sent) = closed_within(&mut fourth, Duration::from_secs(3))
        .await
        .expect("a connection past the cap was left open");
    assert!(sent.is_empty());
    assert!(
        after < Duration::from_secs(2),
        "closed only after {after:?}"
    );
    // One that is in does get answers.
    send_get(&mut held[0], addr, "/api/processes").await;
    assert!(read_head(&mut held[0]).await.starts_with("HTTP/1.1 200"));
    // A peer leaves; its slot is free again.
    held.pop();
    eventually("a slot freed by a closed connection", async || {
        let mut s = TcpStream::connect(addr).await.unwrap();
        send_get(&mut s, addr, "/metrics").await;
        let mut buf = [0u8; 12];
        matches!(
            tokio::time::timeout(Duration::from_secs(1), s.read_exact(&mut buf)).await,
            Ok(Ok(_)) if &buf == b"HTTP/1.1 200"
        )
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_connection_is_closed_but_a_live_event_stream_is_not() {
    let o = observed_with(|c| {
        c.limits = limits(|l| l.idle_timeout = Duration::from_millis(500));
    })
    .await;
    let addr = o.observer.local_addr();
    let mut idle = TcpStream::connect(addr).await.unwrap();
    send_get(&mut idle, addr, "/metrics").await;
    let head = read_head(&mut idle).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    // The body follows; then the connection sits idle until closed.
    let (after, _) = closed_within(&mut idle, Duration::from_secs(5))
        .await
        .expect("an idle connection was never closed");
    assert!(
        after >= Duration::from_millis(400) && after < Duration::from_secs(3),
        "closed after {after:?} with a 500 ms idle timeout"
    );

    let mut events = TcpStream::connect(addr).await.unwrap();
    send_get(&mut events, addr, "/api/events").await;
    let head = read_head(&mut events).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    // Ticks keep coming long past the idle timeout: the stream is a
    // request in flight.
    let until = Instant::now() + Duration::from_millis(2500);
    let mut seen = String::new();
    let mut buf = [0u8; 4096];
    while Instant::now() < until {
        match tokio::time::timeout(Duration::from_millis(1500), events.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => seen.push_str(&String::from_utf8_lossy(&buf[..n])),
            other => panic!("the event stream stopped: {other:?} after {seen:?}"),
        }
    }
    assert!(seen.matches("event: tick").count() >= 2, "{seen}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_streams_past_their_bound_get_503_and_a_closed_page_frees_its_place() {
    let o = observed_with(|c| c.limits = limits(|l| l.max_event_streams = 2)).await;
    let addr = o.observer.local_addr();
    let mut open = Vec::new();
    for _ in 0..2 {
        let mut s = TcpStream::connect(addr).await.unwrap();
        send_get(&mut s, addr, "/api/events").await;
        let head = read_head(&mut s).await;
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        open.push(s);
    }
    let third = get(&o, "/api/events").await;
    assert_eq!(third.status, 503, "{third:?}");
    assert_eq!(third.header("retry-after"), Some("5"));
    // Other paths are not affected.
    assert_eq!(get(&o, "/api/processes").await.status, 200);
    // A page goes away: the server notices at its next tick, and the
    // place is free.
    open.pop();
    eventually("a stream's place freed by a closed page", async || {
        let mut s = TcpStream::connect(addr).await.unwrap();
        send_get(&mut s, addr, "/api/events").await;
        read_head(&mut s).await.starts_with("HTTP/1.1 200")
    })
    .await;
}
