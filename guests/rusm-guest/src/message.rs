//! Messages: send, selective receive, typed messages and request/reply.

use crate::error::{Error, Result};
use crate::process::{Pid, Ref, demonitor, make_ref, monitor};
use crate::sys;
use core::time::Duration;
use serde::{Serialize, de::DeserializeOwned};

/// What kind of message arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Sent by a process with [`send`].
    Data,
    /// A trapped link exit: tag -1, the dead process's reason as data.
    Exit,
    /// A monitor fired: the monitor reference as tag, the reason as data.
    Down,
}

/// A received message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub kind: Kind,
    pub sender: Pid,
    pub tag: i64,
    pub data: Vec<u8>,
}

impl Message {
    /// The data as text (lossy): exit reasons, or text payloads.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.data).into_owned()
    }

    /// The data decoded as a typed message (see [`send_typed`]).
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T> {
        decode(&self.data)
    }
}

/// The tag of a trapped link exit.
pub const EXIT_TAG: i64 = -1;

/// Enqueues `data` in the mailbox of `to`. Never blocks.
pub fn send(to: Pid, tag: i64, data: &[u8]) -> Result<()> {
    sys::send(to.raw(), tag, data)
}

/// Waits for the first message whose tag is in `tags` (empty: any message);
/// the others stay in the mailbox, in order. `None` waits forever;
/// `Some(Duration::ZERO)` only polls. `Err(Timeout)` when nothing matched.
pub fn receive(tags: &[i64], timeout: Option<Duration>) -> Result<Message> {
    sys::receive(tags, timeout.map(millis))
}

/// Sends `value` in the compact binary encoding ([postcard]).
pub fn send_typed<T: Serialize + ?Sized>(to: Pid, tag: i64, value: &T) -> Result<()> {
    send(to, tag, &encode(value)?)
}

/// Receives as [`receive`] does and decodes a data message's payload. An
/// `exit` or `down` message is returned as `Err(Exited)` with its reason.
pub fn receive_typed<T: DeserializeOwned>(tags: &[i64], timeout: Option<Duration>) -> Result<(Message, T)> {
    let message = receive(tags, timeout)?;
    if message.kind != Kind::Data {
        return Err(Error::Exited { pid: message.sender, reason: message.text() });
    }
    let value = message.decode()?;
    Ok((message, value))
}

/// The typed encoding of `value`.
pub fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>> {
    postcard::to_allocvec(value).map_err(|_| Error::Invalid)
}

/// Decodes bytes from [`encode`].
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    postcard::from_bytes(bytes).map_err(|_| Error::Decode)
}

/// Request/reply: sends `payload` to `server` tagged with a fresh reference
/// and waits for the reply with that tag, or for the server's death,
/// whichever comes first: a dead server is `Err(NoProcess)` (it was gone
/// already) or `Err(Exited { reason })`, never a hang. The server answers
/// with [`reply`]. Monitoring a process this one did not spawn needs
/// `allow-process-control`; without it the call is `Err(Denied)`.
pub fn call(server: Pid, payload: &[u8], timeout: Option<Duration>) -> Result<Vec<u8>> {
    let request = make_ref();
    let watch = monitor(server)?;
    if let Err(error) = send(server, request.tag(), payload) {
        forget(watch);
        return Err(error);
    }
    let answer = receive(&[request.tag(), watch.tag()], timeout);
    match answer {
        Ok(message) if message.kind == Kind::Down => {
            let reason = message.text();
            if reason == "noproc" {
                Err(Error::NoProcess)
            } else {
                Err(Error::Exited { pid: server, reason })
            }
        }
        Ok(message) => {
            forget(watch);
            Ok(message.data)
        }
        Err(error) => {
            forget(watch);
            Err(error)
        }
    }
}

/// [`call`] with typed request and reply.
pub fn call_typed<Req: Serialize + ?Sized, Resp: DeserializeOwned>(
    server: Pid,
    request: &Req,
    timeout: Option<Duration>,
) -> Result<Resp> {
    decode(&call(server, &encode(request)?, timeout)?)
}

/// Answers a request received from [`call`]: same tag, back to its sender.
pub fn reply(request: &Message, data: &[u8]) -> Result<()> {
    send(request.sender, request.tag, data)
}

/// Answers a request from [`call_typed`].
pub fn reply_typed<T: Serialize + ?Sized>(request: &Message, value: &T) -> Result<()> {
    reply(request, &encode(value)?)
}

/// Drops a monitor, and its `down` message if it fired meanwhile, so that
/// no stray message is left behind.
fn forget(watch: Ref) {
    if demonitor(watch).is_err() {
        let _ = receive(&[watch.tag()], Some(Duration::ZERO));
    }
}

/// A duration in the runtime's milliseconds. A partial millisecond rounds
/// up, so only zero means "poll"; past `u64::MAX` ms it saturates.
pub(crate) fn millis(d: Duration) -> u64 {
    let ms = d.as_millis() + u128::from(!d.subsec_nanos().is_multiple_of(1_000_000));
    u64::try_from(ms).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_milliseconds_round_up() {
        assert_eq!(millis(Duration::ZERO), 0);
        assert_eq!(millis(Duration::from_micros(1)), 1);
        assert_eq!(millis(Duration::from_millis(1500)), 1500);
        assert_eq!(millis(Duration::MAX), u64::MAX);
    }

    #[test]
    fn typed_round_trip_is_compact() {
        #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
        enum Req {
            Add(u32),
            Get,
        }
        let bytes = encode(&Req::Add(5)).expect("encodes");
        assert_eq!(bytes, [0, 5]);
        assert_eq!(decode::<Req>(&bytes), Ok(Req::Add(5)));
        assert_eq!(decode::<Req>(&[9]), Err(Error::Decode));
        assert_eq!(decode::<Req>(&encode(&Req::Get).expect("encodes")), Ok(Req::Get));
    }
}
