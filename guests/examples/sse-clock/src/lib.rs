//! A clock over server-sent events: `GET /clock` answers a
//! `text/event-stream` and writes one `tick` event per interval, each one
//! on the wire as it is written (nothing waits for the body to end).
//!
//! Query: `n` events (default 0: until the client leaves, when the node
//! kills the request's process), every `ms` milliseconds (default 1000, at
//! least 10). Each event's data is `{"n":K,"unix_ms":T}`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusm_guest::http::{Request, Response};
use rusm_guest::sleep;

fn clock(request: Request) -> Response {
    let param = |name, default| request.query_param(name).map_or(Ok(default), str::parse::<u64>);
    let (count, every) = match (param("n", 0), param("ms", 1000)) {
        (Ok(count), Ok(ms)) => (count, Duration::from_millis(ms.max(10))),
        _ => return Response::text(400, "n and ms are counts: /clock?n=5&ms=500\n"),
    };
    Response::stream(200, move |body| {
        let mut n = 0;
        while count == 0 || n < count {
            n += 1;
            let unix_ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |t| t.as_millis());
            body.event(Some("tick"), &format!("{{\"n\":{n},\"unix_ms\":{unix_ms}}}"))?;
            if n != count {
                // The process sleeps; the node's threads serve others.
                sleep(every);
            }
        }
        Ok(())
    })
    .header("content-type", "text/event-stream")
    .header("cache-control", "no-cache")
}

rusm_guest::http_main!(clock);
