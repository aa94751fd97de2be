//! What a call can fail with: the ABI's error codes, plus the failures the
//! library itself adds (a typed message that does not decode, a server that
//! died during a `call`, an HTTP body that could not be read or written).

use crate::Pid;
use core::fmt;

/// A failed call. The first eight variants are the ABI's codes -1..-8.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// -1: no live process with that pid.
    NoProcess,
    /// -2: this process's capabilities do not allow the call.
    Denied,
    /// -3: a malformed argument (for example a name that is not UTF-8).
    Invalid,
    /// -4: the deadline passed.
    Timeout,
    /// -5: storage is granted, but the node has no store.
    NoStore,
    /// -6: the name is taken.
    Exists,
    /// -7: no such component, name, timer or key.
    NotFound,
    /// -8: a resource limit was reached (message size, mailbox, process count).
    Limit,
    /// A negative code this version of the library does not know.
    Unknown(i32),
    /// A typed message's data did not decode as the expected type.
    Decode,
    /// The process a `call` waited on ended before it replied.
    Exited { pid: Pid, reason: String },
    /// An HTTP request or response failed on its way (the client went
    /// away, the host refused a header); the text says what. Only an HTTP
    /// handler (the `http` feature) meets it.
    Http(String),
}

impl Error {
    /// The error for a negative return code.
    pub fn from_code(code: i64) -> Error {
        match code {
            -1 => Error::NoProcess,
            -2 => Error::Denied,
            -3 => Error::Invalid,
            -4 => Error::Timeout,
            -5 => Error::NoStore,
            -6 => Error::Exists,
            -7 => Error::NotFound,
            -8 => Error::Limit,
            other => Error::Unknown(other as i32),
        }
    }

    /// The ABI code of this error, if it has one.
    pub fn code(&self) -> Option<i32> {
        Some(match self {
            Error::NoProcess => -1,
            Error::Denied => -2,
            Error::Invalid => -3,
            Error::Timeout => -4,
            Error::NoStore => -5,
            Error::Exists => -6,
            Error::NotFound => -7,
            Error::Limit => -8,
            Error::Unknown(code) => *code,
            Error::Decode | Error::Exited { .. } | Error::Http(_) => return None,
        })
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NoProcess => f.write_str("no process"),
            Error::Denied => f.write_str("denied"),
            Error::Invalid => f.write_str("invalid argument"),
            Error::Timeout => f.write_str("timeout"),
            Error::NoStore => f.write_str("no store"),
            Error::Exists => f.write_str("exists"),
            Error::NotFound => f.write_str("not found"),
            Error::Limit => f.write_str("limit"),
            Error::Unknown(code) => write!(f, "unknown error {code}"),
            Error::Decode => f.write_str("message data does not decode as the expected type"),
            Error::Exited { pid, reason } => write!(f, "process {pid} exited: {reason}"),
            Error::Http(what) => f.write_str(what),
        }
    }
}

impl std::error::Error for Error {}

pub type Result<T, E = Error> = core::result::Result<T, E>;
