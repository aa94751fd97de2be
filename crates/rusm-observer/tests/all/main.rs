//! Integration tests of the observer, one module per topic: a real node,
//! the real listener on 127.0.0.1, real HTTP requests.

mod api;
mod auth;
mod limits;
mod metrics;
mod tls;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use rusm_core::{Node, NodeConfig};
use rusm_observer::{Hooks, ObserverConfig, RunningObserver};

pub(crate) const TOKEN: &str = "test-token-0123456789";

pub(crate) struct Observed {
    pub(crate) node: Node,
    pub(crate) hooks: Arc<Hooks>,
    pub(crate) observer: RunningObserver,
}

/// A node with accounting on, and its observer on a free port.
pub(crate) async fn observed() -> Observed {
    observed_with(|_| {}).await
}

/// [`observed`], with `change` applied to the observer's configuration.
pub(crate) async fn observed_with(change: impl FnOnce(&mut ObserverConfig)) -> Observed {
    let hooks = Hooks::new();
    let node = Node::new(NodeConfig {
        lifecycle: Some(hooks.clone()),
        accounting: true,
        ..NodeConfig::default()
    });
    let mut config = ObserverConfig::new("127.0.0.1:0".parse().unwrap(), format!("  {TOKEN}\n"));
    change(&mut config);
    let observer = rusm_observer::start(node.clone(), hooks.clone(), config)
        .await
        .unwrap();
    Observed {
        node,
        hooks,
        observer,
    }
}

/// An HTTP/1.1 answer: status, headers (lower-case names), body.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: String,
}

impl Answer {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

/// One request over a fresh connection (`Connection: close`), on a
/// blocking thread so that the node's runtime keeps running.
pub(crate) async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Answer {
    let mut text = format!("{method} {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n");
    for (n, v) in headers {
        text.push_str(&format!("{n}: {v}\r\n"));
    }
    text.push_str(&format!("content-length: {}\r\n\r\n{body}", body.len()));
    tokio::task::spawn_blocking(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(text.as_bytes()).unwrap();
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).unwrap();
        parse(&raw)
    })
    .await
    .unwrap()
}

fn parse(raw: &[u8]) -> Answer {
    let text = String::from_utf8_lossy(raw);
    let (head, rest) = text.split_once("\r\n\r\n").expect("a full response head");
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.contains("chunked"));
    let body = if chunked {
        dechunk(rest)
    } else {
        rest.to_owned()
    };
    Answer {
        status,
        headers,
        body,
    }
}

fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    while let Some((size, tail)) = rest.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&tail[..n]);
        rest = &tail[n + 2..];
    }
    out
}

/// A GET with the bearer token.
pub(crate) async fn get(o: &Observed, path: &str) -> Answer {
    let auth = format!("Bearer {TOKEN}");
    request(
        o.observer.local_addr(),
        "GET",
        path,
        &[("authorization", &auth)],
        "",
    )
    .await
}

/// Wait until `f` holds, failing the test after 5 s.
pub(crate) async fn eventually(what: &str, mut f: impl AsyncFnMut() -> bool) {
    for _ in 0..500 {
        if f().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("never happened: {what}");
}
