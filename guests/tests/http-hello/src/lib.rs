//! `rusm-bench guest-http-hello`'s handler: `hello`, on the guest library's
//! HTTP shape, with no actor call, so that the same component also runs
//! on a raw wasmtime-wasi-http server (what `wasmtime serve` does), which
//! links no `rusm:runtime` import (there they trap if called).

use rusm_guest::http::{Request, Response};

fn hello(_: Request) -> Response {
    Response::text(200, "hello")
}

rusm_guest::http_main!(hello);
