//! Messages: `(kind, sender, tag, data)`, as the guest contract defines them.

use crate::{ExitReason, Pid, Ref};

/// The three kinds of message a mailbox holds. The numbers are the ABI's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum MessageKind {
    /// An ordinary message from a process (or a spawner's first argument).
    Data = 0,
    /// A linked process ended abnormally and the receiver traps exits; or a
    /// trappable stop signal (`shutdown`) arrived. Tag -1, data = the reason.
    Exit = 1,
    /// A monitored process ended. Tag = the monitor reference, data = the
    /// reason (`noproc` if it was already dead).
    Down = 2,
}

/// The tag every `exit` message carries.
pub const EXIT_TAG: i64 = -1;

/// One message in a mailbox.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// Data, or a signal turned into a message (`exit`, `down`).
    pub kind: MessageKind,
    /// Who sent it: the dying process for `exit` and `down`, the spawner
    /// for a first message, [`Pid::NODE`] for the host.
    pub sender: Pid,
    /// What a selective receive matches on: chosen by the sender for data,
    /// [`EXIT_TAG`] for `exit`, the monitor reference for `down`.
    pub tag: i64,
    /// The payload: opaque bytes for data, the reason's text for signals.
    pub data: Vec<u8>,
}

impl Message {
    /// An ordinary message.
    pub fn data(sender: Pid, tag: i64, data: Vec<u8>) -> Self {
        Message {
            kind: MessageKind::Data,
            sender,
            tag,
            data,
        }
    }

    pub(crate) fn exit(from: Pid, reason: &ExitReason) -> Self {
        Message {
            kind: MessageKind::Exit,
            sender: from,
            tag: EXIT_TAG,
            data: reason.to_string().into_bytes(),
        }
    }

    pub(crate) fn down(from: Pid, reference: Ref, reason: &str) -> Self {
        Message {
            kind: MessageKind::Down,
            sender: from,
            tag: reference,
            data: reason.as_bytes().to_vec(),
        }
    }

    /// The data as text (exit reasons in `exit` and `down` messages).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.data).into_owned()
    }

    /// Whether a full bounded mailbox may refuse this message.
    pub(crate) fn is_droppable(&self) -> bool {
        // Only user data may be shed by a bounded mailbox: losing an exit or
        // down message would leave a supervisor or a caller waiting forever.
        self.kind == MessageKind::Data
    }
}
