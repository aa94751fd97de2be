//! A WebSocket chat room: every connection is a process, and one resident
//! process, the room, broadcasts. The node starts the room with itself and
//! registers it under its component's name, `room`.
//!
//! One guest, two components (see `rusm.toml`), told apart by their
//! manifest name:
//!
//! - `room`: joins are `JOIN` messages; the room welcomes the new member
//!   (`* welcome #PID, N here`), tells the others, and monitors it, so a
//!   member that ends (its client left, or it crashed) is dropped from the
//!   room by the `down` message (`* #PID left`). A `SAY` from a member goes
//!   to every other member as `#PID: TEXT`.
//! - `chat`: the connection process of the `/chat` route. It joins the
//!   room, forwards each text frame from its socket to the room as `SAY`,
//!   and writes each `DELIVER` from the room to its socket. It watches the
//!   room: if the room dies, so does the connection (code 1011).

use std::collections::BTreeMap;

use rusm_guest::websocket::{Frame, Socket};
use rusm_guest::{Error, Kind, Pid, Ref, monitor, own_component, receive, send, whereis};

/// A connection process joins the room (no data).
const JOIN: i64 = 100;
/// A member says something (the text).
const SAY: i64 = 101;
/// The room passes a line on to a member (`#PID: TEXT`).
const DELIVER: i64 = 102;

fn start() -> Result<(), Error> {
    match own_component().as_deref() {
        Some("room") => room(),
        _ => connection(),
    }
}

fn room() -> Result<(), Error> {
    // Each member by the reference of the monitor on it.
    let mut members: BTreeMap<Ref, Pid> = BTreeMap::new();
    loop {
        let message = receive(&[], None)?;
        match (message.kind, message.tag) {
            (Kind::Data, JOIN) => {
                let joined = message.sender;
                let watch = monitor(joined)?;
                members.insert(watch, joined);
                // The welcome tells the client it is in: from now on it
                // hears everything said.
                let _ = send(joined, DELIVER, format!("* welcome #{joined}, {} here", members.len()).as_bytes());
                tell_others(&members, joined, &format!("* #{joined} joined"));
            }
            (Kind::Data, SAY) => {
                tell_others(&members, message.sender, &format!("#{}: {}", message.sender, message.text()));
            }
            (Kind::Down, _) => {
                let mut left = None;
                members.retain(|watch, &mut member| {
                    let gone = watch.tag() == message.tag;
                    if gone {
                        left = Some(member);
                    }
                    !gone
                });
                if let Some(member) = left {
                    tell_others(&members, member, &format!("* #{member} left"));
                }
            }
            _ => {}
        }
    }
}

/// Sends `line` to every member but `from`.
fn tell_others(members: &BTreeMap<Ref, Pid>, from: Pid, line: &str) {
    for &member in members.values().filter(|&&m| m != from) {
        // A member that ended meanwhile: its `down` follows.
        let _ = send(member, DELIVER, line.as_bytes());
    }
}

fn connection() -> Result<(), Error> {
    let (socket, _request) = Socket::accept(None)?;
    let room = whereis("room")?;
    let room_watch = monitor(room)?;
    send(room, JOIN, &[])?;
    loop {
        let message = receive(&[], None)?;
        if let Some(frame) = socket.frame(&message) {
            match frame {
                Frame::Text(text) => send(room, SAY, text.as_bytes())?,
                Frame::Binary(_) => socket.send_text("only text is relayed")?,
                // The client left: a normal end; the room sees it go.
                Frame::Close { .. } => return Ok(()),
            }
        } else if message.kind == Kind::Data && message.sender == room && message.tag == DELIVER {
            socket.send_text(&message.text())?;
        } else if message.kind == Kind::Down && message.tag == room_watch.tag() {
            return Err(Error::Exited { pid: room, reason: message.text() });
        }
    }
}

rusm_guest::main!(start);
