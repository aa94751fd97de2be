//! The store limiter behind `max-memory-mb`.
//!
//! The grant bounds a process's linear memories **together**, and its
//! tables' elements together: a module that declares ten memories gets
//! the same budget as one that declares one. Growing past it is an error,
//! not a failed `memory.grow`: the process traps with `memory limit
//! exceeded (limit N MiB)`, as the contract says, instead of limping on.
//! A memory declared larger than the grant fails the instantiation, so the
//! process ends with `failed to start`. How many memories, tables and
//! instances one process may have is bounded too: each memory reserves
//! address space and memory maps on the host even while it is empty.
//!
//! Each process's [`Limits`] are owned by its `Actor`, which is the store's
//! `ResourceLimiter` in both shapes and hands every request to them.

use rusm_core::Ctx;

use crate::exit::LimitExceeded;

/// Linear memories per process. Toolchains emit one (a component with the
/// preview-1 adapter, a few); anything near this is an attack on the
/// host's address space.
pub(crate) const MAX_MEMORIES: usize = 16;
/// Tables per process.
pub(crate) const MAX_TABLES: usize = 64;
/// Core instances per process (a component is several).
pub(crate) const MAX_INSTANCES: usize = 64;

/// One process's memory and table budget, and what it has used.
pub(crate) struct Limits {
    max_memory_bytes: usize,
    max_table_elements: usize,
    limit_mib: u64,
    /// Bytes of all memories together, as granted so far.
    memory_bytes: usize,
    /// Elements of all tables together, as granted so far.
    table_elements: usize,
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
            memory_bytes: 0,
            table_elements: 0,
        }
    }

    /// One memory growing from `current` to `desired` bytes; `ctx` hears
    /// the new total (for `process_info`).
    ///
    /// Past the grant, the process traps. A growth within it that
    /// Wasmtime will refuse anyway (past the memory's declared maximum, or
    /// a pool slot's) fails as `memory.grow` fails, without being counted.
    /// One it refuses after this check for another reason (the host is out of memory)
    /// stays counted: the total can only err on the strict side.
    pub(crate) fn memory_growing(
        &mut self,
        ctx: &Ctx,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let total = self
            .memory_bytes
            .saturating_sub(current)
            .saturating_add(desired);
        if total > self.max_memory_bytes {
            return Err(LimitExceeded {
                what: "memory",
                limit_mib: self.limit_mib,
                elements: None,
            }
            .into());
        }
        if maximum.is_some_and(|max| desired > max) {
            return Ok(false);
        }
        self.memory_bytes = total;
        ctx.set_memory_bytes(total as u64);
        Ok(true)
    }

    /// Like [`Limits::memory_growing`], for table elements.
    pub(crate) fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let total = self
            .table_elements
            .saturating_sub(current)
            .saturating_add(desired);
        if total > self.max_table_elements {
            return Err(LimitExceeded {
                what: "table",
                limit_mib: self.limit_mib,
                elements: Some(self.max_table_elements),
            }
            .into());
        }
        if maximum.is_some_and(|max| desired > max) {
            return Ok(false);
        }
        self.table_elements = total;
        Ok(true)
    }
}
