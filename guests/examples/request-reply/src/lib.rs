//! Typed request/reply with `call`: a dead server is an error, not a hang.
//! `main` spawns an adder `server`, calls it, makes it crash mid-request,
//! and calls the dead server once more.

use rusm_guest::{Error, call_typed, receive, reply_typed, spawn};
use serde::{Deserialize, Serialize};
use std::time::Duration;

#[derive(Serialize, Deserialize, Debug)]
enum Request {
    Add(i64),
    Get,
    Crash,
}

const TIMEOUT: Option<Duration> = Some(Duration::from_secs(5));

fn start() -> Result<(), Error> {
    match rusm_guest::own_component().as_deref() {
        Some("server") => server(),
        _ => client(),
    }
}

fn client() -> Result<(), Error> {
    let server = spawn("server", &[], false)?;
    for n in [2, 40] {
        let total: i64 = call_typed(server, &Request::Add(n), TIMEOUT)?;
        println!("request-reply: add {n} -> {total}");
    }
    let total: i64 = call_typed(server, &Request::Get, TIMEOUT)?;
    println!("request-reply: get -> {total}");
    let crashed = call_typed::<_, i64>(server, &Request::Crash, TIMEOUT);
    println!("request-reply: crash -> {}", describe(crashed));
    let dead = call_typed::<_, i64>(server, &Request::Get, TIMEOUT);
    println!("request-reply: get after crash -> {}", describe(dead));
    Ok(())
}

fn describe(result: Result<i64, Error>) -> String {
    match result {
        Ok(total) => format!("ok {total}"),
        Err(error @ Error::Exited { .. }) => format!("error: exited ({error})"),
        Err(error) => format!("error: {error}"),
    }
}

fn server() -> Result<(), Error> {
    let mut total = 0i64;
    loop {
        let request = receive(&[], None)?;
        match request.decode::<Request>()? {
            Request::Add(n) => total += n,
            Request::Get => {}
            Request::Crash => panic!("asked to crash with total {total}"),
        }
        reply_typed(&request, &total)?;
    }
}

rusm_guest::main!(start);
