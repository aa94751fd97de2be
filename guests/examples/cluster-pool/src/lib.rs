//! A worker pool spread over a cluster, and a boss that restarts the work
//! of a node that was lost on a node that is still there.
//!
//! The boss (node `a`, resident) waits for the other nodes, then starts
//! six jobs with `spawn_on`, round-robin over them, each worker linked to
//! it. It traps exits: a worker that finishes sends its result and ends
//! `normal` (a link brings nothing then); a worker whose node is killed
//! brings an `exit` message with reason `noconnection`, and the boss starts
//! that job again on a node that is still reachable.

use std::collections::HashMap;

use std::time::Duration;

use rusm_guest::{EXIT_TAG, Error, Kind, Pid, receive, send_typed, sleep};

const DONE: i64 = 1;
const JOBS: u32 = 6;
/// How long a job works: time enough to lose a node under it.
const JOB_MS: u64 = 1500;

fn start() -> Result<(), Error> {
    match rusm_guest::own_component().as_deref() {
        Some("worker") => worker(),
        _ => boss(),
    }
}

/// The other reachable nodes, waiting up to 30 s for `want` of them.
fn others(want: usize) -> Result<Vec<String>, Error> {
    let here = rusm_guest::node_of(rusm_guest::own_pid())?;
    for _ in 0..300 {
        let others: Vec<String> = rusm_guest::nodes().into_iter().filter(|n| *n != here).collect();
        if others.len() >= want {
            return Ok(others);
        }
        sleep(Duration::from_millis(100));
    }
    Err(Error::Timeout)
}

fn boss() -> Result<(), Error> {
    rusm_guest::trap_exit(true);
    let nodes = others(2)?;
    println!("boss: workers go to {}", nodes.join(", "));
    let mut running: HashMap<Pid, (u32, String)> = HashMap::new();
    for job in 1..=JOBS {
        let node = &nodes[job as usize % nodes.len()];
        let pid = rusm_guest::spawn_on(node, "worker", &rusm_guest::encode(&job)?, true)?;
        println!("boss: job {job} on {node}");
        running.insert(pid, (job, node.clone()));
    }
    println!("boss: {JOBS} jobs started");
    let (mut done, mut restarted) = (0, 0);
    while done < JOBS {
        let m = receive(&[DONE, EXIT_TAG], None)?;
        match m.kind {
            Kind::Exit => {
                let Some((job, lost)) = running.remove(&m.sender) else {
                    continue;
                };
                // Anywhere but where it was: the first node still there.
                let survivors = others(1)?;
                let Some(node) = survivors.iter().find(|n| **n != lost) else {
                    return Err(Error::NoProcess);
                };
                let pid = rusm_guest::spawn_on(node, "worker", &rusm_guest::encode(&job)?, true)?;
                println!("boss: job {job} lost with {lost} ({}); restarted on {node}", m.text());
                running.insert(pid, (job, node.clone()));
                restarted += 1;
            }
            _ => {
                let (job, result): (u32, u64) = m.decode()?;
                if let Some((_, node)) = running.remove(&m.sender) {
                    println!("boss: job {job} done on {node}: {result}");
                    done += 1;
                }
            }
        }
    }
    println!("boss: all {JOBS} jobs done, {restarted} restarted");
    Ok(())
}

fn worker() -> Result<(), Error> {
    let start = receive(&[0], None)?;
    let job: u32 = start.decode()?;
    sleep(Duration::from_millis(JOB_MS));
    let result: u64 = (1..=u64::from(job) * 1000).sum();
    send_typed(start.sender, DONE, &(job, result))
}

rusm_guest::main!(start);
