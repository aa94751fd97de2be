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
//!
//! What a runtime keeps once per engine (the engines themselves, the
//! linkers, each artifact's compiled code and `InstancePre`) is indexed by
//! [`EngineKind`].

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use crate::cpu::EpochClock;

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
    /// Bytes of a freed pool slot's memory (and, separately, of its
    /// table) reset by hand for the slot's next process instead of given
    /// back to the kernel. With `PAGEMAP_SCAN` (Linux 6.7+) Wasmtime finds
    /// the pages the process dirtied and copies them back from the image,
    /// up to this budget; only the rest is `madvise`d away. An `madvise`
    /// of dirtied pages flushes the TLB of every core that ran the process
    /// (an IPI each), and the next process faults the pages in again: on a
    /// 2-vCPU Xeon that was 5.5 % and 2.2 % of all CPU in `http-hello`,
    /// and the default budget took it from 25,000 to 45,000 requests/s
    /// (bench/README.md, session 11); 64 KiB already covered that
    /// handler's pages. The cost is memory: a warm slot keeps up to this
    /// much resident until its next process, at most 1,000 warm slots'
    /// worth (128 MiB at the default) for memories and as much for tables.
    /// Without the ioctl, Wasmtime resets this many bytes at the bottom of
    /// memory by hand, a few microseconds a spawn. 0 is Wasmtime's
    /// default: everything dirtied is `madvise`d.
    pub keep_resident_bytes: usize,
}

impl Default for WasmConfig {
    fn default() -> Self {
        WasmConfig {
            pool_slots: 10_000,
            pool_memory_mb: 64,
            epoch_tick: Duration::from_millis(1),
            fiber_stack_bytes: 1 << 20,
            max_wasm_stack_bytes: 512 << 10,
            keep_resident_bytes: 128 << 10,
        }
    }
}

/// Which of a runtime's two engines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EngineKind {
    /// The pooling allocator: fixed slots, copy-on-write memory images,
    /// warm fiber stacks. Where processes go first.
    Pooled,
    /// Allocation on demand: any size, no limit on count. Where processes
    /// go when the pool is full or they may outgrow a slot.
    OnDemand,
}

impl EngineKind {
    /// The engines a process tries, in order: the pool first if its memory
    /// grant fits a slot, and always on demand last.
    #[inline]
    pub(crate) fn to_try(fits_pool: bool) -> &'static [EngineKind] {
        if fits_pool {
            &[EngineKind::Pooled, EngineKind::OnDemand]
        } else {
            &[EngineKind::OnDemand]
        }
    }
}

/// One `T` for each engine (a linker, say).
pub(crate) struct PerKind<T> {
    pooled: T,
    on_demand: T,
}

impl<T> PerKind<T> {
    pub(crate) fn new(
        mut make: impl FnMut(EngineKind) -> wasmtime::Result<T>,
    ) -> wasmtime::Result<Self> {
        Ok(PerKind {
            pooled: make(EngineKind::Pooled)?,
            on_demand: make(EngineKind::OnDemand)?,
        })
    }

    pub(crate) fn get(&self, kind: EngineKind) -> &T {
        match kind {
            EngineKind::Pooled => &self.pooled,
            EngineKind::OnDemand => &self.on_demand,
        }
    }
}

/// The two engines, and the ticker that bumps their epochs while they live.
pub(crate) struct Engines {
    engines: PerKind<Engine>,
    stop_ticker: Arc<AtomicBool>,
    /// The ticker's tick count, for the processes' CPU meters (`cpu.rs`).
    clock: Arc<EpochClock>,
}

impl Engines {
    pub(crate) fn new(config: &WasmConfig) -> wasmtime::Result<Self> {
        let engines = PerKind::new(|kind| Engine::new(&config.wasmtime_config(kind)))?;
        let stop_ticker = Arc::new(AtomicBool::new(false));
        let clock = Arc::new(EpochClock::new(config.epoch_tick));
        spawn_ticker(
            vec![
                engines.get(EngineKind::Pooled).clone(),
                engines.get(EngineKind::OnDemand).clone(),
            ],
            clock.clone(),
            stop_ticker.clone(),
        );
        Ok(Engines {
            engines,
            stop_ticker,
            clock,
        })
    }

    /// The ticker's tick count (`cpu.rs`).
    #[inline]
    pub(crate) fn clock(&self) -> &EpochClock {
        &self.clock
    }

    #[inline]
    pub(crate) fn get(&self, kind: EngineKind) -> &Engine {
        self.engines.get(kind)
    }
}

impl Drop for Engines {
    fn drop(&mut self) {
        self.stop_ticker.store(true, Ordering::Relaxed);
    }
}

impl WasmConfig {
    /// The exact Wasmtime settings of one of this runtime's engines, so a
    /// baseline can run raw Wasmtime on equal terms.
    pub fn wasmtime_config(&self, kind: EngineKind) -> Config {
        let mut c = base_config(self);
        if kind == EngineKind::Pooled {
            c.allocation_strategy(InstanceAllocationStrategy::Pooling(pool_config(self)));
        }
        c
    }
}

/// What a process's pids may name, which decides how a few imports are
/// linked. On a node outside a cluster (`Node`) every pid is local, so
/// `is_alive` and process control (`link`, `unlink`, `kill`, `info`) are
/// plain synchronous host calls, as cheap as they always were; in a
/// cluster (`Cluster`) they are async, since a remote pid is asked of its
/// node. A process is linked for what the runtime has when it starts
/// (`WasmRuntime::set_cluster`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Reach {
    Node = 0,
    Cluster = 1,
}

/// A guest's compiled code and its `InstancePre` (`P`) for each engine
/// and [`Reach`]. Code is compiled for the on-demand engine, which accepts
/// any module, and moved to the pooled engine on first use; code that does
/// not fit a pool slot (a huge initial memory) simply never gets a pooled
/// copy.
pub(crate) struct PerEngine<C, P> {
    pub(crate) on_demand: C,
    pooled: OnceLock<Result<C, String>>,
    /// By engine kind (pooled, on demand), then reach (node, cluster).
    pre: [OnceLock<Result<P, String>>; 4],
}

impl<C: Clone, P> PerEngine<C, P> {
    pub(crate) fn new(on_demand: C) -> Self {
        PerEngine {
            on_demand,
            pooled: OnceLock::new(),
            pre: Default::default(),
        }
    }

    /// The `InstancePre` for one engine and reach, built on first use and
    /// borrowed afterwards (a spawn clones nothing). `Err` is why the guest
    /// cannot start there (an unknown import, or no fit for the pool).
    pub(crate) fn pre(
        &self,
        kind: EngineKind,
        reach: Reach,
        move_to_pool: impl FnOnce(&C) -> Result<C, String>,
        link: impl FnOnce(&C) -> Result<P, String>,
    ) -> Result<&P, &str> {
        let slot = match kind {
            EngineKind::Pooled => 0,
            EngineKind::OnDemand => 2,
        } + (reach == Reach::Cluster) as usize;
        let pre = self.pre[slot].get_or_init(|| match kind {
            EngineKind::OnDemand => link(&self.on_demand),
            EngineKind::Pooled => {
                let code = self
                    .pooled
                    .get_or_init(|| move_to_pool(&self.on_demand))
                    .clone()?;
                link(&code)
            }
        });
        pre.as_ref().map_err(String::as_str)
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
        // to copy-on-write (and the pages kept resident, at most
        // `keep_resident_bytes`), and reuse avoids re-mapping.
        .max_unused_warm_slots(slots.min(1000))
        .linear_memory_keep_resident(config.keep_resident_bytes)
        .table_keep_resident(config.keep_resident_bytes)
        .pagemap_scan(Enabled::Auto);
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
/// The clock's count goes first: the callbacks an epoch bump triggers
/// read it.
fn spawn_ticker(engines: Vec<Engine>, clock: Arc<EpochClock>, stop: Arc<AtomicBool>) {
    std::thread::Builder::new()
        .name("rusm-epoch".into())
        .spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(clock.tick);
                clock.advance();
                for e in &engines {
                    e.increment_epoch();
                }
            }
        })
        .expect("spawning the epoch thread");
}
