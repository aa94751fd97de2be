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
            h.rt.spawn_request_watched("handler", incoming, SpawnOptions::new())
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
            h.rt.spawn_request_watched("handler", incoming, SpawnOptions::new())
                .expect("a request process");
        assert!(answer.await.is_err(), "{path}: no response");
        assert_eq!(exit.await.to_string(), reason, "{path}");
    }
    // A loop is stopped by a kill, at the next epoch tick.
    let (incoming, _answer) = request("/x/loop");
    let (pid, exit) =
        h.rt.spawn_request_watched("handler", incoming, SpawnOptions::new())
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
        h.rt.spawn_request_watched("module", incoming, SpawnOptions::new()),
        Err(Error::Invalid)
    ));
    // A component without the export gets a pid and fails to start.
    let (incoming, answer) = request("/");
    let (_, exit) =
        h.rt.spawn_request_watched("actor", incoming, SpawnOptions::new())
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

/// A guest that waits for the socket's pid (first message) and a go
/// (second), sends to it with tag 1 and tag 5, and exits with the two
/// results as its reason: `d` for 0, `b` for DENIED (-2), `a` for INVALID
/// (-3).
const SENDER: &str = r#"(module
  (import "rusm" "recv" (func $recv (param i32 i32 i64) (result i32)))
  (import "rusm" "msg_read" (func $msg_read (param i32 i32) (result i32)))
  (import "rusm" "send" (func $send (param i64 i64 i32 i32) (result i32)))
  (import "rusm" "exit" (func $exit (param i32 i32)))
  (memory (export "memory") 1)
  (func (export "run")
    (drop (call $recv (i32.const 0) (i32.const 0) (i64.const -1)))
    (drop (call $msg_read (i32.const 0) (i32.const 8)))
    (drop (call $recv (i32.const 0) (i32.const 0) (i64.const -1)))
    (i32.store8 (i32.const 16) (i32.add (i32.const 100)
      (call $send (i64.load (i32.const 0)) (i64.const 1) (i32.const 0) (i32.const 1))))
    (i32.store8 (i32.const 17) (i32.add (i32.const 100)
      (call $send (i64.load (i32.const 0)) (i64.const 5) (i32.const 0) (i32.const 1))))
    (call $exit (i32.const 16) (i32.const 2))))"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_its_owner_writes_to_a_socket_pid() {
    let h = harness();
    let guest = h.load("sender", SENDER);
    // A host process stands in for the socket.
    let socket = h
        .node
        .spawn(SpawnOptions::new(), |ctx| async move {
            let _ = ctx.receive(&[99], None).await;
        })
        .expect("a socket");
    let arg = socket.get().to_le_bytes().to_vec();
    let spawn = || {
        h.spawn_with(
            &guest,
            Capabilities::sandboxed(),
            SpawnOptions::new().first_message(0, arg.clone()),
        )
    };
    let (owner, stranger) = (spawn(), spawn());
    h.rt.own_socket(socket, owner);
    for pid in [owner, stranger] {
        h.node
            .send(rusm_core::Pid::NODE, pid, 1, Vec::new())
            .expect("go");
    }
    // The owner writes text (and binary); another tag is INVALID.
    assert_eq!(h.reason(owner).await.to_string(), "crashed: da");
    // Anyone else is DENIED, whatever the tag.
    assert_eq!(h.reason(stranger).await.to_string(), "crashed: bb");
    // Released (the socket closed): ordinary sends again.
    h.rt.release_socket(socket);
    let late = spawn();
    h.node
        .send(rusm_core::Pid::NODE, late, 1, Vec::new())
        .expect("go");
    assert_eq!(h.reason(late).await.to_string(), "crashed: dd");
}
