//! The store limiter behind `max-memory-mb`.
//!
//! Growing a memory or a table past the grant is an error, not a failed
//! `memory.grow`: the process traps with `memory limit exceeded (limit N
//! MiB)`, as the contract says, instead of limping on. A memory declared
//! larger than the grant fails the instantiation, so the process ends with
//! `failed to start`.

use rusm_core::Ctx;
use wasmtime::ResourceLimiter;

use crate::exit::LimitExceeded;

pub(crate) struct Limits {
    max_memory_bytes: usize,
    max_table_elements: usize,
    limit_mib: u64,
    /// Reports the current memory size to the node for `process_info`.
    ctx: Ctx,
}

impl Limits {
    pub(crate) fn new(max_memory_mb: u64, ctx: Ctx) -> Self {
        let max_memory_bytes =
            usize::try_from(max_memory_mb.saturating_mul(1 << 20)).unwrap_or(usize::MAX);
        Limits {
            max_memory_bytes,
            // A table element costs a pointer or more on the host; tie
            // tables to the same budget so a table bomb is bounded too.
            max_table_elements: (max_memory_bytes / 16).max(10_000),
            limit_mib: max_memory_mb,
            ctx,
        }
    }
}

impl ResourceLimiter for Limits {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.max_memory_bytes {
            return Err(LimitExceeded {
                what: "memory",
                limit_mib: self.limit_mib,
                elements: None,
            }
            .into());
        }
        self.ctx.set_memory_bytes(desired as u64);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
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
