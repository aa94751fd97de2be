//! The routes: which path does what, for a request that passed the token
//! check (or the sign-in form, which is the only thing served before it).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, Limited, StreamBody};
use hyper::body::{Frame, Incoming};
use rusm_core::Pid;
use serde_json::{Value, json};

use crate::server::Shared;
use crate::{metrics, page, table};

pub(crate) type Body = BoxBody<Bytes, Infallible>;

fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).boxed()
}

fn respond(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Response<Body> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, content_type)
        .header(header::CACHE_CONTROL, "no-store")
        .header("x-content-type-options", "nosniff")
        .header(
            header::CONTENT_SECURITY_POLICY,
            "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'",
        )
        .body(full(body))
        .expect("a response from fixed parts")
}

fn json_response(status: StatusCode, value: &Value) -> Response<Body> {
    respond(status, "application/json", value.to_string())
}

fn error(status: StatusCode, message: &str) -> Response<Body> {
    json_response(status, &json!({ "error": message }))
}

/// `application/x-www-form-urlencoded` pairs (a query string or a form),
/// decoded.
pub(crate) fn pairs(text: &str) -> Vec<(String, String)> {
    text.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The answer to one request.
pub(crate) async fn handle(shared: Arc<Shared>, req: Request<Incoming>) -> Response<Body> {
    let path = req.uri().path().to_owned();
    let method = req.method().clone();
    if method == Method::POST && path == "/signin" {
        return sign_in(&shared, req).await;
    }
    if !shared.auth.allows(req.headers()) {
        tracing::debug!(target: "rusm::observer", %method, path, "refused: no valid token");
        return unauthorized(&path);
    }
    let query = req.uri().query().map(str::to_owned);
    let node = &shared.node;
    let hooks = &shared.hooks;
    match (method, path.as_str()) {
        (Method::GET, "/") => respond(StatusCode::OK, "text/html; charset=utf-8", page::INDEX),
        (Method::GET, "/app.js") => respond(
            StatusCode::OK,
            "text/javascript; charset=utf-8",
            page::SCRIPT,
        ),
        (Method::GET, "/app.css") => {
            respond(StatusCode::OK, "text/css; charset=utf-8", page::STYLE)
        }
        (Method::GET, "/metrics") => respond(
            StatusCode::OK,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            metrics::render(node, hooks, shared.kv.as_ref()),
        ),
        (Method::GET, "/api/processes") => match table::Query::parse(query.as_deref()) {
            Ok(q) => json_response(StatusCode::OK, &table::page(node, hooks, &q)),
            Err(why) => error(StatusCode::BAD_REQUEST, &why),
        },
        (Method::GET, "/api/tree") => {
            let parent = pairs(query.as_deref().unwrap_or(""))
                .into_iter()
                .find(|(k, _)| k == "parent")
                .map_or(Ok(0), |(_, v)| v.parse::<u64>());
            match parent {
                Ok(p) => json_response(StatusCode::OK, &table::children(node, hooks, Pid(p), 200)),
                Err(_) => error(StatusCode::BAD_REQUEST, "`parent` must be a pid"),
            }
        }
        (Method::GET, "/api/history") => json_response(StatusCode::OK, &shared.history.to_json()),
        (Method::GET, "/api/events") => events(shared.clone()),
        (method, p) if p.starts_with("/api/processes/") => {
            let rest = &p["/api/processes/".len()..];
            let (pid, action) = rest.split_once('/').unwrap_or((rest, ""));
            let Ok(pid) = pid.parse::<u64>() else {
                return error(StatusCode::NOT_FOUND, "no such process");
            };
            let pid = Pid(pid);
            match (method, action) {
                (Method::GET, "") => match detail(&shared, pid) {
                    Some(v) => json_response(StatusCode::OK, &v),
                    None => error(StatusCode::NOT_FOUND, "no such process"),
                },
                (Method::POST, "kill") => match node.kill(pid) {
                    Ok(()) => {
                        tracing::info!(target: "rusm::observer", pid = pid.get(), "killed through the observer");
                        json_response(StatusCode::OK, &json!({ "pid": pid.get(), "killed": true }))
                    }
                    Err(_) => error(StatusCode::NOT_FOUND, "no such process"),
                },
                (_, "") | (_, "kill") => {
                    error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed")
                }
                _ => error(StatusCode::NOT_FOUND, "no such path"),
            }
        }
        _ => error(StatusCode::NOT_FOUND, "no such path"),
    }
}

fn unauthorized(path: &str) -> Response<Body> {
    let mut response = if path == "/" {
        respond(
            StatusCode::UNAUTHORIZED,
            "text/html; charset=utf-8",
            page::SIGN_IN,
        )
    } else {
        error(
            StatusCode::UNAUTHORIZED,
            "this observer needs `authorization: Bearer <token>` (the token file's content)",
        )
    };
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        http::HeaderValue::from_static("Bearer"),
    );
    response
}

/// The sign-in form's POST: the right token sets the session cookie.
async fn sign_in(shared: &Shared, req: Request<Incoming>) -> Response<Body> {
    // A token is short; a form larger than this is not a sign-in.
    let body = match Limited::new(req.into_body(), 4096).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return unauthorized("/"),
    };
    let form = pairs(&String::from_utf8_lossy(&body));
    let token = form
        .iter()
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.trim())
        .unwrap_or("");
    if !shared.auth.is_token(token) {
        tracing::debug!(target: "rusm::observer", "sign-in refused: wrong token");
        return unauthorized("/");
    }
    Response::builder()
        .status(StatusCode::SEE_OTHER)
        .header(header::LOCATION, "/")
        .header(header::SET_COOKIE, shared.auth.cookie(shared.tls))
        .header(header::CACHE_CONTROL, "no-store")
        .body(full(Bytes::new()))
        .expect("a response from fixed parts")
}

/// A process's detail: what `info` says, with its grants and children.
fn detail(shared: &Shared, pid: Pid) -> Option<Value> {
    let info = shared.node.info(pid)?;
    let grants = shared.hooks.grants(pid);
    let mut children = Vec::new();
    let mut child_count = 0u64;
    shared.node.for_each_process(|p| {
        if p.parent == pid {
            child_count += 1;
            if children.len() < 100 {
                children.push(p.pid.get());
            }
        }
    });
    children.sort_unstable();
    let pids = |v: &[Pid]| v.iter().map(|p| p.get()).collect::<Vec<_>>();
    Some(json!({
        "pid": pid.get(),
        "parent": info.parent.get(),
        "component": info.name,
        "label": info.label,
        "names": info.names,
        "profile": grants.as_ref().map_or(table::HOST_PROFILE, |c| c.profile.as_str()),
        "capabilities": grants.as_ref().map(|c| c.summary()),
        "state": info.state.as_str(),
        "trap_exit": info.trap_exit,
        "links": pids(&info.links),
        "monitors": pids(&info.monitors),
        "monitored_by": pids(&info.monitored_by),
        "mailbox_len": info.mailbox_len,
        "memory_bytes": info.memory_bytes,
        "queued_bytes": info.queued_bytes,
        "cpu_ms": info.usage.cpu_ms,
        "messages_sent": info.usage.messages_sent,
        "messages_received": info.usage.messages_received,
        "children": children,
        "child_count": child_count,
    }))
}

/// Live updates: one `tick` event a second with the newest sample, until
/// the browser goes away.
fn events(shared: Arc<Shared>) -> Response<Body> {
    // Each open page holds one stream for as long as it is open: bounded
    // apart from connections (see `conn.rs`). The permit lives in the
    // stream, so a page that goes away frees its place.
    let Ok(permit) = shared.event_streams.clone().try_acquire_owned() else {
        let mut response = error(
            StatusCode::SERVICE_UNAVAILABLE,
            "too many live-update streams are open; close a page",
        );
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from_static("5"));
        return response;
    };
    let ticks = tokio_stream_interval(Duration::from_secs(1)).map(move |()| {
        let _ = &permit;
        let sample = shared.history.latest().map(|s| s.to_json());
        let data = json!({ "live": shared.node.live(), "sample": sample });
        Ok::<_, Infallible>(Frame::data(Bytes::from(format!(
            "event: tick\ndata: {data}\n\n"
        ))))
    });
    let first = futures::stream::once(async {
        Ok::<_, Infallible>(Frame::data(Bytes::from_static(b": rusm observer\n\n")))
    });
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "text/event-stream")
        .header(header::CACHE_CONTROL, "no-store")
        .body(BodyExt::boxed(StreamBody::new(first.chain(ticks))))
        .expect("a response from fixed parts")
}

fn tokio_stream_interval(period: Duration) -> impl futures::Stream<Item = ()> + Send {
    futures::stream::unfold(tokio::time::interval(period), |mut i| async move {
        i.tick().await;
        Some(((), i))
    })
}
