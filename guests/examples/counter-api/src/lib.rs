//! A JSON API over a count kept by a resident process: every request is a
//! process of this handler, which finds the resident by its name and
//! `call`s it. The count outlives every request; a request that crashes
//! takes nothing with it.
//!
//! - `GET /count` answers `{"count":N}`;
//! - `POST /count` adds 1, or `by` from a JSON body `{"by":K}`, and answers
//!   the new `{"count":N}`; a body that is not such an object gets 400.
//!
//! The resident (`resident/`, component `counter`) answers a `u64` to add
//! with the total: a GET adds 0.

use std::time::Duration;

use rusm_guest::http::{Request, Response};
use rusm_guest::{Error, call_typed, whereis};
use serde::Deserialize;

/// How long a request waits for the resident.
const CALL_TIMEOUT: Option<Duration> = Some(Duration::from_secs(2));

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Add {
    by: u64,
}

fn handle(mut request: Request) -> Response {
    let by = match request.method() {
        "GET" | "HEAD" => 0,
        "POST" => match added(&mut request) {
            Ok(by) => by,
            Err(why) => return error(400, &why),
        },
        _ => return error(405, "use GET or POST").header("allow", "GET, POST"),
    };
    let counter = match whereis("counter") {
        Ok(pid) => pid,
        Err(_) => return error(503, "the counter is not running").header("retry-after", "1"),
    };
    match call_typed::<u64, u64>(counter, &by, CALL_TIMEOUT) {
        Ok(count) => Response::json(200, format!("{{\"count\":{count}}}")),
        Err(Error::Timeout) => error(504, "the counter did not answer in time"),
        Err(e) => error(503, &format!("the counter failed: {e}")).header("retry-after", "1"),
    }
}

/// What a POST adds: its JSON body's `by`, or 1 for an empty body.
fn added(request: &mut Request) -> Result<u64, String> {
    let body = request.body().map_err(|e| e.to_string())?;
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(1);
    }
    serde_json::from_slice::<Add>(&body).map(|add| add.by).map_err(|e| format!("expected {{\"by\": <a count>}}: {e}"))
}

fn error(status: u16, why: &str) -> Response {
    Response::json(status, serde_json::json!({ "error": why }).to_string())
}

rusm_guest::http_main!(handle);
