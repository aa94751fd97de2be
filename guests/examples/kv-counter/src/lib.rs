//! A durable visit counter: each run adds one to `visits` in the node's
//! store with compare-and-swap, so concurrent runs never lose a visit.

use rusm_guest::{Error, kv};

const BUCKET: &str = "kv-counter";

fn start() -> Result<(), Error> {
    let visits = loop {
        let current = kv::get(BUCKET, "visits")?;
        let next = match &current {
            Some(bytes) => decode(bytes)? + 1,
            None => 1,
        };
        if kv::cas(BUCKET, "visits", current.as_deref(), &next.to_le_bytes())? {
            break next;
        }
    };
    kv::set(BUCKET, "last-visitor", rusm_guest::own_pid().to_string().as_bytes())?;
    println!("kv-counter: visits={visits}");
    println!("kv-counter: keys={:?}", kv::keys(BUCKET, "")?);
    println!("kv-counter: scratch existed={}", kv::delete(BUCKET, "scratch")?);
    println!("kv-counter: last-visitor exists={}", kv::exists(BUCKET, "last-visitor")?);
    Ok(())
}

fn decode(bytes: &[u8]) -> Result<u64, Error> {
    Ok(u64::from_le_bytes(bytes.try_into().map_err(|_| Error::Decode)?))
}

rusm_guest::main!(start);
