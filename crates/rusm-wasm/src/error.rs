//! The contract's error codes, [`AbiError`]: what every call of both
//! shapes answers on failure (a negative ABI code in a core module, the
//! WIT `error` enum in a component). The cluster trait (`cluster.rs`)
//! answers in them too, so it sits below both.

/// The contract's error codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AbiError {
    /// `no-process`: the target is not alive.
    NoProcess,
    /// `denied`: a grant is missing.
    Denied,
    /// `invalid`: a malformed argument (bad UTF-8, an empty name...).
    Invalid,
    /// `timeout`: a `receive` timed out.
    Timeout,
    /// `no-store`: storage is granted but the node has no store.
    NoStore,
    /// `exists`: the name is taken.
    Exists,
    /// `not-found`: no such name, key or component.
    NotFound,
    /// `limit`: a size or count limit was reached.
    Limit,
}

impl AbiError {
    /// The negative return value of the core-module ABI.
    pub fn code(self) -> i32 {
        match self {
            AbiError::NoProcess => -1,
            AbiError::Denied => -2,
            AbiError::Invalid => -3,
            AbiError::Timeout => -4,
            AbiError::NoStore => -5,
            AbiError::Exists => -6,
            AbiError::NotFound => -7,
            AbiError::Limit => -8,
        }
    }
}

impl From<rusm_core::Error> for AbiError {
    fn from(e: rusm_core::Error) -> Self {
        match e {
            rusm_core::Error::NoProcess => AbiError::NoProcess,
            rusm_core::Error::Invalid => AbiError::Invalid,
            rusm_core::Error::Timeout => AbiError::Timeout,
            rusm_core::Error::Exists => AbiError::Exists,
            rusm_core::Error::NotFound => AbiError::NotFound,
            rusm_core::Error::Limit => AbiError::Limit,
        }
    }
}
