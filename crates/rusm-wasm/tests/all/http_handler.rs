//! `WasmRuntime::spawn_request`: an HTTP handler component runs as one
//! process per request, through the one launch path (SERVING.md).

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use rusm_caps::Capabilities;
use rusm_core::{Error, ExitReason, SpawnOptions};
use rusm_wasm::{HandlerResponse, IncomingRequest};
use tokio::sync::oneshot;

use crate::{fixture, harness};

fn request(path: &str) -> (IncomingRequest, oneshot::Receiver<HandlerResponse>) {
    let (respond, answer) = oneshot::channel();
    let request = http::Request::get(path)
        .header("host", "test")
        .body(
            Empty::<Bytes>::new()
                .map_err(|never| match never {})
                .boxed_unsync(),
        )
        .expect("a request");
    let incoming = IncomingRequest {
        request,
        https: false,
        respond,
    };
    (incoming, answer)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_request_is_a_process_of_the_handler() {
    let h = harness();
    let handler = h.load("handler", &fixture("handler.component.wat"));
    h.rt.add_component("handler", handler, Some(Capabilities::sandboxed()));
    let mut pids = Vec::new();
    for _ in 0..3 {
        let (incoming, answer) = request("/x/hello");
        let (pid, exit) =
            h.rt.spawn_request("handler", incoming, SpawnOptions::new())
                .expect("a request process");
        let response = answer
            .await
            .expect("a response")
            .expect("not an error code");
        assert_eq!(response.status(), 200);
        let body = response
            .into_body()
            .collect()
            .await
            .expect("a body")
            .to_bytes();
        assert_eq!(&body[..], b"hello\n");
        assert_eq!(exit.await, ExitReason::Normal);
        pids.push(pid);
    }
    pids.dedup();
    assert_eq!(pids.len(), 3, "a new process each time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_a_handler_ends_in() {
    let h = harness();
    let handler = h.load("handler", &fixture("handler.component.wat"));
    let mut caps = Capabilities::sandboxed();
    caps.max_memory_mb = 8;
    h.rt.add_component("handler", handler, Some(caps));
    for (path, reason) in [
        ("/x/crash", "crashed: unreachable"),
        ("/x/bomb", "crashed: memory limit exceeded (limit 8 MiB)"),
        (
            "/x/none",
            "crashed: the handler returned without a response",
        ),
    ] {
        let (incoming, answer) = request(path);
        let (_, exit) =
            h.rt.spawn_request("handler", incoming, SpawnOptions::new())
                .expect("a request process");
        assert!(answer.await.is_err(), "{path}: no response");
        assert_eq!(exit.await.to_string(), reason, "{path}");
    }
    // A loop is stopped by a kill, at the next epoch tick.
    let (incoming, _answer) = request("/x/loop");
    let (pid, exit) =
        h.rt.spawn_request("handler", incoming, SpawnOptions::new())
            .expect("a request process");
    tokio::time::sleep(Duration::from_millis(50)).await;
    h.node.kill(pid).expect("alive");
    assert_eq!(exit.await, ExitReason::Killed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_handlers_take_requests_and_handlers_take_only_requests() {
    let h = harness();
    let handler = h.load("handler", &fixture("handler.component.wat"));
    let actor = h.load("actor", &fixture("minimal.component.wat"));
    let module = h.load("module", r#"(module (func (export "run")))"#);
    h.rt.add_component("handler", handler, Some(Capabilities::sandboxed()));
    h.rt.add_component("actor", actor, Some(Capabilities::sandboxed()));
    h.rt.add_component("module", module, Some(Capabilities::sandboxed()));

    // A core module cannot be an HTTP handler: refused, no process.
    let (incoming, _) = request("/");
    assert!(matches!(
        h.rt.spawn_request("module", incoming, SpawnOptions::new()),
        Err(Error::Invalid)
    ));
    // A component without the export gets a pid and fails to start.
    let (incoming, answer) = request("/");
    let (_, exit) =
        h.rt.spawn_request("actor", incoming, SpawnOptions::new())
            .expect("a pid");
    assert_eq!(
        exit.await.to_string(),
        "failed to start: not an HTTP handler: it exports no `wasi:http/incoming-handler`"
    );
    assert!(answer.await.is_err());
    // A handler spawned without a request fails to start.
    let pid =
        h.rt.spawn_component("handler", rusm_core::Pid::NODE, SpawnOptions::new())
            .expect("a pid");
    assert_eq!(
        h.reason(pid).await.to_string(),
        "failed to start: an HTTP handler runs once per request, not by spawn"
    );
}
