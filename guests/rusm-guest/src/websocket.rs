//! WebSocket connections: one connection, one process (SERVING.md).
//!
//! On a `websocket = true` route the node spawns the route's component as
//! the connection's process, in either shape (this module is plain
//! messages, so it needs no feature). A host process, the **socket**, owns
//! the connection and speaks to it in messages: first an opening message
//! (tag 0) describing the request, then one message per frame from the
//! client (tag 1 text, 2 binary), and a close (tag 3) when the client goes.
//! Sending tag 1 or 2 to the socket writes a frame; only the connection
//! process may.
//!
//! ```no_run
//! use rusm_guest::websocket::{Frame, Socket};
//!
//! fn echo() -> Result<(), rusm_guest::Error> {
//!     let (socket, _request) = Socket::accept(None)?;
//!     loop {
//!         let message = rusm_guest::receive(&[], None)?;
//!         match socket.frame(&message) {
//!             Some(Frame::Text(text)) => socket.send_text(&text)?,
//!             Some(Frame::Close { .. }) => return Ok(()),
//!             _ => {}
//!         }
//!     }
//! }
//! rusm_guest::main!(echo);
//! ```
//!
//! Ending the process closes the connection: code 1000 after a normal end,
//! 1011 after a crash.

use core::time::Duration;

use crate::error::{Error, Result};
use crate::message::{Kind, Message, receive, send};
use crate::process::Pid;

/// The socket's first message: the upgrade request, as JSON.
pub const OPEN: i64 = 0;
/// A text frame, from the client or to it.
pub const TEXT: i64 = 1;
/// A binary frame, from the client or to it.
pub const BINARY: i64 = 2;
/// The client closed, or the connection dropped.
pub const CLOSE: i64 = 3;

/// The connection's socket: the host process to read frames from and
/// write frames to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Socket {
    pid: Pid,
}

/// What a message from the socket says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A text message (the node reassembles fragments and checks UTF-8).
    Text(String),
    /// A binary message.
    Binary(Vec<u8>),
    /// The client closed (`code` 1000 for a plain close), or the connection
    /// dropped; the process should end soon, or it is killed after the
    /// node's `shutdown-seconds`.
    Close { code: u16, reason: String },
}

impl Socket {
    /// Waits for the socket's opening message (at most `timeout`, `None`
    /// for ever) and returns the socket with the upgrade request: a JSON
    /// object `{"path": ..., "query": ..., "headers": [[name, value], ...]}`.
    /// Call it first: it is the first message of a connection process.
    pub fn accept(timeout: Option<Duration>) -> Result<(Socket, String)> {
        let open = receive(&[OPEN], timeout)?;
        if open.kind != Kind::Data {
            return Err(Error::Invalid);
        }
        Ok((Socket { pid: open.sender }, open.text()))
    }

    /// The socket of a known pid (the connection process's own socket, as
    /// another part of the program learned it).
    pub const fn from_pid(pid: Pid) -> Socket {
        Socket { pid }
    }

    /// The socket's pid.
    pub const fn pid(&self) -> Pid {
        self.pid
    }

    /// The frame `message` carries, if it is a message from this socket.
    pub fn frame(&self, message: &Message) -> Option<Frame> {
        if message.sender != self.pid || message.kind != Kind::Data {
            return None;
        }
        frame(message.tag, &message.data)
    }

    /// Writes a text frame to the client.
    pub fn send_text(&self, text: &str) -> Result<()> {
        send(self.pid, TEXT, text.as_bytes())
    }

    /// Writes a binary frame to the client.
    pub fn send_binary(&self, data: &[u8]) -> Result<()> {
        send(self.pid, BINARY, data)
    }
}

/// A socket message's frame from its tag and data.
fn frame(tag: i64, data: &[u8]) -> Option<Frame> {
    match tag {
        TEXT => Some(Frame::Text(String::from_utf8_lossy(data).into_owned())),
        BINARY => Some(Frame::Binary(data.to_vec())),
        CLOSE => {
            // The code as 2 bytes big-endian, then the reason; a drop
            // without a close frame may carry less.
            let (code, reason) = match data {
                [hi, lo, rest @ ..] => (u16::from_be_bytes([*hi, *lo]), String::from_utf8_lossy(rest).into_owned()),
                _ => (1005, String::new()),
            };
            Some(Frame::Close { code, reason })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_from_tags() {
        assert_eq!(frame(TEXT, b"hi"), Some(Frame::Text("hi".into())));
        assert_eq!(frame(BINARY, &[0, 1]), Some(Frame::Binary(vec![0, 1])));
        assert_eq!(
            frame(CLOSE, &[0x03, 0xe8, b'b', b'y', b'e']),
            Some(Frame::Close { code: 1000, reason: "bye".into() })
        );
        assert_eq!(frame(CLOSE, &[]), Some(Frame::Close { code: 1005, reason: String::new() }));
        assert_eq!(frame(OPEN, b"{}"), None);
        assert_eq!(frame(7, b""), None);
    }

    #[test]
    fn only_the_sockets_own_messages_are_frames() {
        let socket = Socket::from_pid(Pid::from_raw(5));
        let from = |sender, kind| Message { kind, sender: Pid::from_raw(sender), tag: TEXT, data: b"x".to_vec() };
        assert_eq!(socket.frame(&from(5, Kind::Data)), Some(Frame::Text("x".into())));
        assert_eq!(socket.frame(&from(6, Kind::Data)), None);
        assert_eq!(socket.frame(&from(5, Kind::Down)), None);
    }
}
