//! The counter-api example's resident: the process that keeps the count
//! for every request process. The node starts it (`resident = true`) and
//! registers it under its component's name, `counter`, where the handler
//! finds it. Each request `call`s it with a `u64` to add and gets the new
//! total back.

use rusm_guest::{Error, Kind, receive, reply_typed};

fn counter() -> Result<(), Error> {
    let mut count: u64 = 0;
    loop {
        let request = receive(&[], None)?;
        if request.kind != Kind::Data {
            continue;
        }
        // A message that is not a count is someone else's mistake: it is
        // not answered, and the count lives on.
        let Ok(by) = request.decode::<u64>() else { continue };
        count = count.saturating_add(by);
        // The caller may be gone already (its client left): not our end.
        let _ = reply_typed(&request, &count);
    }
}

rusm_guest::main!(counter);
