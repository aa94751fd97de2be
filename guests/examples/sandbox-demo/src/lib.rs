//! What a sandboxed process may not do. `demo` spawns `jail` (the built-in
//! `sandboxed` profile plus stdio) and the jail tries calls its profile
//! denies, printing what each returned: denied calls answer `denied`, they
//! never trap or hang.

use rusm_guest::{Error, kv, receive, send, spawn};

const DONE: i64 = 1;

fn start() -> Result<(), Error> {
    match rusm_guest::own_component().as_deref() {
        Some("jail") => jail(),
        _ => demo(),
    }
}

fn demo() -> Result<(), Error> {
    let jail = spawn("jail", b"go", true)?;
    println!("sandbox-demo: spawned jail #{jail}");
    receive(&[DONE], None)?;
    println!("sandbox-demo: jail finished");
    Ok(())
}

fn jail() -> Result<(), Error> {
    // The spawn argument is the first message; its sender is the parent.
    let parent = receive(&[0], None)?.sender;
    report("list_processes", rusm_guest::processes().map(|p| p.len()));
    report("kill parent", rusm_guest::kill(parent));
    report("spawn", spawn("jail", &[], false));
    report("kv_get", kv::get("secrets", "key"));
    report("process_info parent", rusm_guest::info(parent).map(drop));
    report("process_info self", rusm_guest::info(rusm_guest::own_pid()).map(drop));
    report("send parent", send(parent, DONE, b"done"));
    Ok(())
}

fn report<T: core::fmt::Debug>(call: &str, result: Result<T, Error>) {
    match result {
        Ok(value) => println!("sandbox-demo: {call} -> ok {value:?}"),
        Err(error) => println!("sandbox-demo: {call} -> {error}"),
    }
}

rusm_guest::main!(start);
