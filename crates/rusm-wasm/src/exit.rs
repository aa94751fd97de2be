//! How a guest's end becomes an exit reason.

use std::fmt;

use rusm_core::ExitReason;
use wasmtime::Trap;
use wasmtime::component::ResourceTableError;
use wasmtime_wasi::I32Exit;

/// A guest misused the ABI in a way that ends it (an out-of-bounds pointer,
/// `exit`). Raised from host functions as a trap.
#[derive(Debug)]
pub(crate) enum GuestFault {
    /// A `(ptr, len)` outside the guest's memory, or no exported memory.
    OutOfBounds(&'static str),
    /// The guest called `exit(reason)`.
    Exit(ExitReason),
}

impl fmt::Display for GuestFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GuestFault::OutOfBounds(call) => write!(f, "out of bounds pointer passed to `{call}`"),
            GuestFault::Exit(reason) => write!(f, "exit: {reason}"),
        }
    }
}

impl std::error::Error for GuestFault {}

/// The store limiter refused to grow a memory or table.
#[derive(Debug)]
pub(crate) struct LimitExceeded {
    pub(crate) what: &'static str,
    pub(crate) limit_mib: u64,
    pub(crate) elements: Option<usize>,
}

impl fmt::Display for LimitExceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.elements {
            Some(n) => write!(f, "{} limit exceeded (limit {n} elements)", self.what),
            None => write!(
                f,
                "{} limit exceeded (limit {} MiB)",
                self.what, self.limit_mib
            ),
        }
    }
}

impl std::error::Error for LimitExceeded {}

/// The one-line root cause of a failed guest call, without backtraces.
pub(crate) fn describe(error: &wasmtime::Error) -> String {
    if let Some(limit) = error.downcast_ref::<LimitExceeded>() {
        return limit.to_string();
    }
    if let Some(fault) = error.downcast_ref::<GuestFault>() {
        return fault.to_string();
    }
    if let Some(trap) = error.downcast_ref::<Trap>() {
        return trap_name(*trap);
    }
    let root = error.root_cause().to_string();
    root.lines().next().unwrap_or("unknown error").to_string()
}

/// The contract names traps by their cause, shortly.
fn trap_name(trap: Trap) -> String {
    match trap {
        Trap::StackOverflow => "stack overflow".into(),
        Trap::UnreachableCodeReached => "unreachable".into(),
        Trap::MemoryOutOfBounds => "out of bounds memory access".into(),
        Trap::TableOutOfBounds => "out of bounds table access".into(),
        Trap::IndirectCallToNull => "uninitialized element".into(),
        Trap::BadSignature => "indirect call type mismatch".into(),
        Trap::IntegerOverflow => "integer overflow".into(),
        Trap::IntegerDivisionByZero => "integer divide by zero".into(),
        Trap::BadConversionToInteger => "invalid conversion to integer".into(),
        other => other.to_string(),
    }
}

/// A process whose WASI resource table is full (`max-open-files`) ends
/// with a reason that says so: preview 2 has no error code for it.
pub(crate) fn too_many_resources(error: &wasmtime::Error, limit: usize) -> Option<ExitReason> {
    error
        .chain()
        .any(|c| matches!(c.downcast_ref(), Some(ResourceTableError::Full)))
        .then(|| ExitReason::crashed(format!("too many open resources (limit {limit})")))
}

/// The exit reason of a guest's entry call that returned an error.
pub(crate) fn exit_reason(error: &wasmtime::Error) -> ExitReason {
    if let Some(exit) = error.downcast_ref::<I32Exit>() {
        return ExitReason::from_exit_code(exit.0);
    }
    if let Some(GuestFault::Exit(reason)) = error.downcast_ref::<GuestFault>() {
        return reason.clone();
    }
    tracing::debug!(error = ?error, "guest trapped");
    ExitReason::crashed(describe(error))
}
