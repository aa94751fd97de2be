//! WebSocket routes (SERVING.md): one connection, one process.
//!
//! An upgrade spawns two processes: the **socket** (a host process that
//! owns the client connection and answers pings) and the route's
//! component as the **connection process**, whose parent is the socket,
//! so its first message (tag 0: the path, query and headers as JSON)
//! comes from the socket pid. Frames from the client become messages from
//! the socket pid (tag 1 text, 2 binary); the connection process's
//! `send(socket, 1 | 2, bytes)` writes frames; only it may (the runtime
//! answers anyone else `DENIED`). The socket monitors the connection
//! process and closes with 1000 / 1001 / 1011 when it ends (it traps
//! exits, so that a stopping node's `shutdown` lets it close with 1001
//! once its connection process has stopped); when the
//! client goes first, the connection process gets tag 3 (close code and
//! reason) and `shutdown-seconds` to end before it is killed.
//!
//! Backpressure both ways: frames are read only as fast as the
//! connection process's mailbox takes them (a full mailbox stops the
//! reading), and frames it queues for the client count against its
//! `max-queued-mb` (the socket's mailbox is bounded by it).

use std::time::Duration;

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use http::{HeaderValue, Response, StatusCode, header};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use rusm_core::{Ctx, Error, ExitReason, MessageKind, Pid, SpawnOptions};
use tokio::sync::oneshot;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message, Utf8Bytes};

use crate::request::{ServeBody, busy, plain};
use crate::server::Shared;

/// Tags of the socket's messages to its connection process.
const TEXT: i64 = 1;
const BINARY: i64 = 2;
const CLOSE: i64 = 3;

/// Answer a request on a WebSocket route: 101 and two processes, or why
/// not. The 101 waits until the connection process is instantiated, so
/// that one that cannot start (`failed to start: ...`) is refused 500
/// like a request (504 past the request timeout).
pub(crate) async fn upgrade(
    shared: &Shared,
    index: usize,
    mut request: http::Request<Incoming>,
    who: &mut Option<Pid>,
) -> Response<ServeBody> {
    let route = &shared.config.routes[index];
    let headers = request.headers();
    let has = |name: header::HeaderName, token: &str| {
        headers.get_all(name).iter().any(|v| {
            v.to_str()
                .is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
        })
    };
    let key = headers.get(header::SEC_WEBSOCKET_KEY).cloned();
    if request.method() != http::Method::GET
        || !has(header::UPGRADE, "websocket")
        || !has(header::CONNECTION, "upgrade")
        || key.is_none()
        || headers
            .get(header::SEC_WEBSOCKET_VERSION)
            .is_none_or(|v| v != "13")
    {
        let mut r = plain(
            StatusCode::UPGRADE_REQUIRED,
            "a WebSocket route: upgrade to websocket\n",
        );
        r.headers_mut()
            .insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        r.headers_mut().insert(
            header::SEC_WEBSOCKET_VERSION,
            HeaderValue::from_static("13"),
        );
        return r;
    }
    if !route.origins.is_empty() {
        let origin = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok());
        if !origin.is_some_and(|o| route.origins.iter().any(|a| a == o)) {
            return plain(StatusCode::FORBIDDEN, "origin not allowed\n");
        }
    }
    let first = first_message(&request);
    let caps = shared.runtime.component_caps(&route.component);
    let max_queued = caps
        .as_ref()
        .map(|c| usize::try_from(c.max_queued_mb.saturating_mul(1 << 20)).unwrap_or(usize::MAX));

    let runtime = shared.runtime.clone();
    let grace = shared.config.shutdown;
    let max_message = shared.config.max_message_bytes;
    let (setup_tx, setup_rx) = oneshot::channel();
    let node = runtime.node().clone();
    let socket = node.spawn(
        SpawnOptions::new().name("socket").max_queued(max_queued),
        move |ctx| socket(ctx, setup_rx, runtime, grace, max_message),
    );
    let socket = match socket {
        Ok(pid) => pid,
        Err(Error::Limit) => return busy(),
        Err(_) => return plain(StatusCode::INTERNAL_SERVER_ERROR, "internal error\n"),
    };
    let conn = shared.runtime.spawn_component_started(
        &route.component,
        socket,
        SpawnOptions::new().first_message(0, first),
    );
    let (conn, started) = match conn {
        Ok(spawned) => spawned,
        Err(e) => {
            let _ = node.kill(socket);
            return match e {
                Error::Limit => busy(),
                _ => plain(StatusCode::INTERNAL_SERVER_ERROR, "internal error\n"),
            };
        }
    };
    shared.runtime.own_socket(socket, conn);
    *who = Some(conn);
    // (The socket, waiting for its setup, ends with it if not sent.)
    match tokio::time::timeout(shared.config.request_timeout, started).await {
        Ok(Ok(())) => {}
        Ok(Err(_)) => {
            return plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the connection process could not start\n",
            );
        }
        Err(_) => {
            let _ = node.kill(conn);
            return plain(
                StatusCode::GATEWAY_TIMEOUT,
                "the connection process timed out\n",
            );
        }
    }
    let on_upgrade = hyper::upgrade::on(&mut request);
    tokio::spawn(async move {
        match on_upgrade.await {
            Ok(upgraded) => {
                let _ = setup_tx.send((conn, upgraded));
            }
            // The socket sees the channel close and ends both.
            Err(e) => tracing::debug!(error = %e, "WebSocket upgrade failed"),
        }
    });
    let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(
        key.expect("checked above").as_bytes(),
    );
    let mut r = plain(StatusCode::SWITCHING_PROTOCOLS, "");
    let h = r.headers_mut();
    h.remove(header::CONTENT_TYPE);
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    if let Ok(v) = HeaderValue::from_str(&accept) {
        h.insert(header::SEC_WEBSOCKET_ACCEPT, v);
    }
    r
}

/// `{"path": ..., "query": ..., "headers": [[name, value], ...]}`.
fn first_message(request: &http::Request<Incoming>) -> Vec<u8> {
    let headers: Vec<[String; 2]> = request
        .headers()
        .iter()
        .map(|(n, v)| {
            [
                n.to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            ]
        })
        .collect();
    let json = serde_json::json!({
        "path": request.uri().path(),
        "query": request.uri().query().unwrap_or(""),
        "headers": headers,
    });
    json.to_string().into_bytes()
}

/// The socket process: owns the connection until either side ends it.
async fn socket(
    ctx: Ctx,
    setup: oneshot::Receiver<(Pid, hyper::upgrade::Upgraded)>,
    runtime: rusm_wasm::WasmRuntime,
    grace: Duration,
    max_message: usize,
) -> ExitReason {
    let Ok((conn, upgraded)) = setup.await else {
        // The upgrade never happened: nothing to own.
        runtime.release_socket(ctx.pid());
        return ExitReason::Normal;
    };
    // The node's `shutdown` becomes a message, not an abort: the socket
    // stays to close with 1001 once its connection process has stopped.
    ctx.trap_exit(true);
    let mut stopping = false;
    let watch = ctx.monitor(conn);
    let config = WebSocketConfig::default()
        .max_message_size(Some(max_message))
        .max_frame_size(Some(max_message));
    let ws =
        WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, Some(config)).await;
    let (mut sink, mut frames) = ws.split();
    let close = |code: u16, reason: &'static str| {
        Message::Close(Some(CloseFrame {
            code: CloseCode::from(code),
            reason: Utf8Bytes::from_static(reason),
        }))
    };
    let watch = match watch {
        Ok(r) => r,
        Err(_) => {
            let _ = sink.send(close(1011, "")).await;
            runtime.release_socket(ctx.pid());
            return ExitReason::Normal;
        }
    };
    loop {
        tokio::select! {
            m = ctx.receive_any() => match m.kind {
                MessageKind::Down if m.tag == watch => {
                    // The connection process ended: close as its reason says.
                    let code = match m.data.as_slice() {
                        b"normal" if !stopping => 1000,
                        b"normal" | b"shutdown" => 1001,
                        _ => 1011,
                    };
                    let _ = sink.send(close(code, "")).await;
                    break;
                }
                MessageKind::Exit if m.sender == Pid::NODE => {
                    // The node is stopping (its connection process is
                    // stopped too): close when that one has ended, or
                    // now if it already has.
                    stopping = true;
                    if !ctx.is_alive(conn) {
                        let _ = sink.send(close(1001, "")).await;
                        break;
                    }
                }
                MessageKind::Data if m.sender == conn => {
                    let frame = match m.tag {
                        TEXT => match Utf8Bytes::try_from(m.data) {
                            Ok(t) => Message::Text(t),
                            Err(_) => {
                                tracing::debug!(%conn, "a text frame that is not UTF-8, dropped");
                                continue;
                            }
                        },
                        _ => Message::Binary(Bytes::from(m.data)),
                    };
                    if sink.send(frame).await.is_err() {
                        // The client is gone; its close arrives on `frames`.
                        continue;
                    }
                }
                _ => {}
            },
            frame = frames.next() => {
                let (tag, data) = match frame {
                    Some(Ok(Message::Text(t))) => (TEXT, t.as_bytes().to_vec()),
                    Some(Ok(Message::Binary(b))) => (BINARY, b.to_vec()),
                    Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {
                        // tungstenite queues the pong; a flush sends it.
                        let _ = sink.flush().await;
                        continue;
                    }
                    Some(Ok(Message::Close(frame))) => {
                        let (code, reason) = frame
                            .map_or((1005, String::new()), |f| (u16::from(f.code), f.reason.to_string()));
                        let _ = sink.flush().await;
                        client_closed(&ctx, conn, code, &reason, grace).await;
                        break;
                    }
                    Some(Err(e)) => {
                        let code = match e {
                            WsError::Capacity(_) => 1009,
                            WsError::Utf8(_) => 1007,
                            _ => 1002,
                        };
                        let _ = sink.send(close(code, "")).await;
                        client_closed(&ctx, conn, code, "", grace).await;
                        break;
                    }
                    None => {
                        client_closed(&ctx, conn, 1006, "", grace).await;
                        break;
                    }
                };
                deliver(&ctx, conn, tag, data).await;
            }
        }
    }
    runtime.release_socket(ctx.pid());
    if stopping {
        ExitReason::Shutdown
    } else {
        ExitReason::Normal
    }
}

/// Hand a frame to the connection process, waiting while its mailbox is
/// full (no frame is dropped; the socket reads nothing meanwhile).
async fn deliver(ctx: &Ctx, conn: Pid, tag: i64, data: Vec<u8>) {
    loop {
        match ctx.send(conn, tag, data.clone()) {
            Err(Error::Limit) if ctx.is_alive(conn) => {
                tokio::time::sleep(Duration::from_millis(2)).await
            }
            _ => return,
        }
    }
}

/// The client closed (or dropped) the connection: tell the connection
/// process (tag 3: the code big-endian, then the reason), give it
/// `grace` to end, then kill it.
async fn client_closed(ctx: &Ctx, conn: Pid, code: u16, reason: &str, grace: Duration) {
    let mut data = code.to_be_bytes().to_vec();
    data.extend_from_slice(reason.as_bytes());
    deliver(ctx, conn, CLOSE, data).await;
    let until = tokio::time::Instant::now() + grace;
    while ctx.is_alive(conn) {
        if tokio::time::Instant::now() >= until {
            let _ = ctx.kill(conn);
            return;
        }
        // Its `down` ends the wait early.
        let _ = ctx.receive(&[], Some(Duration::from_millis(20))).await;
    }
}
