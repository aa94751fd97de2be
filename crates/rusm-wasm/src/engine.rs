//! The two Wasmtime engines a runtime keeps, and the epoch ticker.
//!
//! Processes are instantiated in the **pooled** engine: a pooling allocator
//! with copy-on-write memory images, so a spawn maps no memory of its own
//! and reuses warm slots and fiber stacks. The pool has a fixed number of
//! slots; when they are all taken, or a process may grow past a slot's size,
//! the process goes to the **on-demand** engine instead. The allocation
//! strategy is a per-`Engine` setting, hence two engines. Both share every
//! setting that shapes compiled code, so an artifact compiled for one is
//! deserialized into the other rather than compiled twice.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// How the Wasm backend is set up. The defaults suit a node that runs many
/// small processes.
#[derive(Clone, Debug)]
pub struct WasmConfig {
    /// Slots in the pooling allocator: processes that can live in the pool
    /// at once. Past it, processes are allocated on demand.
    pub pool_slots: u32,
    /// The largest linear memory a pool slot holds. Processes whose
    /// profile allows more are always allocated on demand.
    pub pool_memory_mb: u64,
    /// How often every running guest is interrupted to yield.
    pub epoch_tick: Duration,
    /// Native stack for each process's fiber (host calls run on it too).
    pub fiber_stack_bytes: usize,
    /// The guest's own stack limit, within the fiber stack.
    pub max_wasm_stack_bytes: usize,
}

impl Default for WasmConfig {
    fn default() -> Self {
        WasmConfig {
            pool_slots: 10_000,
            pool_memory_mb: 64,
            epoch_tick: Duration::from_millis(1),
            fiber_stack_bytes: 1 << 20,
            max_wasm_stack_bytes: 512 << 10,
        }
    }
}

pub(crate) struct Engines {
    pub(crate) pooled: Engine,
    pub(crate) on_demand: Engine,
    stop_ticker: Arc<AtomicBool>,
}

impl Engines {
    pub(crate) fn new(config: &WasmConfig) -> wasmtime::Result<Self> {
        let pooled = Engine::new(&config.wasmtime_config(true))?;
        let on_demand = Engine::new(&config.wasmtime_config(false))?;
        let stop_ticker = Arc::new(AtomicBool::new(false));
        spawn_ticker(
            vec![pooled.clone(), on_demand.clone()],
            config.epoch_tick,
            stop_ticker.clone(),
        );
        Ok(Engines {
            pooled,
            on_demand,
            stop_ticker,
        })
    }
}

impl Drop for Engines {
    fn drop(&mut self) {
        self.stop_ticker.store(true, Ordering::Relaxed);
    }
}

impl WasmConfig {
    /// The exact Wasmtime settings of this runtime's pooled (or on-demand)
    /// engine, so a baseline can run raw Wasmtime on equal terms.
    pub fn wasmtime_config(&self, pooled: bool) -> Config {
        let mut c = base_config(self);
        if pooled {
            c.allocation_strategy(InstanceAllocationStrategy::Pooling(pool_config(self)));
        }
        c
    }
}

fn pool_config(config: &WasmConfig) -> PoolingAllocationConfig {
    let mut pool = PoolingAllocationConfig::default();
    let slots = config.pool_slots.max(1);
    pool.total_core_instances(slots)
        .total_component_instances(slots)
        .total_memories(slots)
        .total_tables(slots)
        .total_stacks(slots)
        .max_memory_size((config.pool_memory_mb as usize) << 20)
        // Keep slots warm for reuse: an idle slot costs little thanks
        // to copy-on-write, and reuse avoids re-mapping.
        .max_unused_warm_slots(slots.min(1000));
    pool
}

/// Everything that shapes compiled code; shared by both engines so a
/// compiled artifact moves between them.
fn base_config(config: &WasmConfig) -> Config {
    let mut c = Config::new();
    c.epoch_interruption(true)
        .wasm_component_model(true)
        .memory_init_cow(true)
        // Reserve only what a pool slot holds; bigger memories move when
        // they grow (on the on-demand engine only).
        .memory_reservation(config.pool_memory_mb << 20)
        .memory_guard_size(64 << 10)
        .async_stack_size(config.fiber_stack_bytes)
        .max_wasm_stack(config.max_wasm_stack_bytes)
        .parallel_compilation(true);
    c
}

/// One thread bumps every engine's epoch; each store yields at the next
/// epoch, so a guest in a tight loop still gives up its worker thread.
fn spawn_ticker(engines: Vec<Engine>, tick: Duration, stop: Arc<AtomicBool>) {
    std::thread::Builder::new()
        .name("rusm-epoch".into())
        .spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(tick);
                for e in &engines {
                    e.increment_epoch();
                }
            }
        })
        .expect("spawning the epoch thread");
}
