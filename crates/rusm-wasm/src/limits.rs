//! The store limiter behind `max-memory-mb`.
//!
//! Growing a memory or a table past the grant is an error, not a failed
//! `memory.grow`: the process traps with `memory limit exceeded (limit N
//! MiB)`, as the contract says, instead of limping on. A memory declared
//! larger than the grant fails the instantiation, so the process ends with
//! `failed to start`.

use rusm_core::Ctx;
use wasmtime::ResourceLimiter;

use crate::component::ComponentState;
use crate::exit::LimitExceeded;
use crate::module::ModuleState;

pub(crate) struct Limits {
    max_memory_bytes: usize,
    max_table_elements: usize,
    limit_mib: u64,
}

impl Limits {
    pub(crate) fn new(max_memory_mb: u64) -> Self {
        let max_memory_bytes =
            usize::try_from(max_memory_mb.saturating_mul(1 << 20)).unwrap_or(usize::MAX);
        Limits {
            max_memory_bytes,
            // A table element costs a pointer or more on the host; tie
            // tables to the same budget so a table bomb is bounded too.
            max_table_elements: (max_memory_bytes / 16).max(10_000),
            limit_mib: max_memory_mb,
        }
    }

    /// A memory growing to `desired` bytes; `ctx` hears the new size (for
    /// `process_info`).
    fn memory_growing(&self, ctx: &Ctx, desired: usize) -> wasmtime::Result<bool> {
        if desired > self.max_memory_bytes {
            return Err(LimitExceeded {
                what: "memory",
                limit_mib: self.limit_mib,
                elements: None,
            }
            .into());
        }
        ctx.set_memory_bytes(desired as u64);
        Ok(true)
    }

    fn table_growing(&self, desired: usize) -> wasmtime::Result<bool> {
        if desired > self.max_table_elements {
            return Err(LimitExceeded {
                what: "table",
                limit_mib: self.limit_mib,
                elements: Some(self.max_table_elements),
            }
            .into());
        }
        Ok(true)
    }
}

// The store data of each shape is its own limiter: the limits need the
// process's context, and the data already holds it (a second handle per
// process would be two more shared reference counts per spawn).
macro_rules! limited_by_actor {
    ($($state:ty),*) => {$(
        impl ResourceLimiter for $state {
            fn memory_growing(
                &mut self,
                _current: usize,
                desired: usize,
                _maximum: Option<usize>,
            ) -> wasmtime::Result<bool> {
                self.limits.memory_growing(&self.actor.ctx, desired)
            }

            fn table_growing(
                &mut self,
                _current: usize,
                desired: usize,
                _maximum: Option<usize>,
            ) -> wasmtime::Result<bool> {
                self.limits.table_growing(desired)
            }
        }
    )*};
}

limited_by_actor!(ModuleState, ComponentState);
