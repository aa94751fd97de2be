//! The errors of actor operations. Each maps onto one ABI error code.

/// Why an actor operation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// No live process with that pid.
    #[error("no live process with that pid")]
    NoProcess,
    /// A malformed argument (an empty name, ...).
    #[error("malformed argument")]
    Invalid,
    /// A receive ran past its deadline.
    #[error("the deadline passed")]
    Timeout,
    /// The name is already registered.
    #[error("the name is already registered")]
    Exists,
    /// No such name, timer or monitor.
    #[error("not found")]
    NotFound,
    /// A resource limit was reached: the node's or a profile's process cap,
    /// the message size cap, a full bounded mailbox, or a node shutting down.
    #[error("a resource limit was reached")]
    Limit,
}
