//! Two processes bounce a message N times; `ping` times the round trips
//! with the WASI clock and prints the rate.
//!
//! One module, two components (`rusm.toml`): the process reads which
//! component it runs and takes that role.
//!
//! ```console
//! $ rusm run ping -- 200000
//! ping-pong: 200000 round trips in 812 ms (246305 round trips/s)
//! ```

use rusm_guest::{receive, send, spawn};
use std::time::Instant;

const PING: i64 = 1;
const STOP: i64 = 2;

fn start() -> Result<(), rusm_guest::Error> {
    match rusm_guest::own_component().as_deref() {
        Some("pong") => pong(),
        _ => ping(),
    }
}

fn ping() -> Result<(), rusm_guest::Error> {
    let rounds: u64 = std::env::args().nth(1).and_then(|n| n.parse().ok()).unwrap_or(10_000);
    let pong = spawn("pong", &[], true)?;
    let started = Instant::now();
    for _ in 0..rounds {
        send(pong, PING, &[])?;
        receive(&[PING], None)?;
    }
    let elapsed = started.elapsed();
    send(pong, STOP, &[])?;
    let rate = rounds as f64 / elapsed.as_secs_f64();
    println!("ping-pong: {rounds} round trips in {} ms ({rate:.0} round trips/s)", elapsed.as_millis());
    Ok(())
}

fn pong() -> Result<(), rusm_guest::Error> {
    loop {
        let message = receive(&[], None)?;
        if message.tag == STOP {
            return Ok(());
        }
        send(message.sender, message.tag, &[])?;
    }
}

rusm_guest::main!(start);
