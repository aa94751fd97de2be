//! Let it crash: a supervisor runs jobs in linked workers, trapping exits.
//! Job 2 panics on its first attempt; the panic message becomes the
//! worker's exit reason, the supervisor sees it as an `exit` message and
//! runs the job again.

use rusm_guest::{EXIT_TAG, Error, Kind, receive, spawn};

const DONE: i64 = 1;
const MAX_ATTEMPTS: u32 = 3;

fn start() -> Result<(), Error> {
    match rusm_guest::own_component().as_deref() {
        Some("worker") => worker(),
        _ => supervisor(),
    }
}

fn supervisor() -> Result<(), Error> {
    rusm_guest::trap_exit(true);
    let mut restarts = 0;
    for job in 1..=3u32 {
        for attempt in 1..=MAX_ATTEMPTS {
            let worker = spawn("worker", &rusm_guest::encode(&(job, attempt))?, true)?;
            let outcome = receive(&[DONE, EXIT_TAG], None)?;
            match outcome.kind {
                Kind::Exit => {
                    println!("supervisor: job {job} worker #{worker} {}; restarting", outcome.text());
                    restarts += 1;
                }
                _ => {
                    let result: u64 = outcome.decode()?;
                    println!("supervisor: job {job} done by worker #{worker}: {result}");
                    break;
                }
            }
        }
    }
    println!("supervisor: 3 jobs done, {restarts} restart(s)");
    Ok(())
}

fn worker() -> Result<(), Error> {
    let start = receive(&[0], None)?;
    let (job, attempt): (u32, u32) = start.decode()?;
    if job == 2 && attempt == 1 {
        panic!("job {job} failed on purpose");
    }
    let result: u64 = (1..=u64::from(job) * 10).sum();
    rusm_guest::send_typed(start.sender, DONE, &result)
}


rusm_guest::main!(start);
