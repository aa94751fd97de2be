//! The one launch path of every Wasm process, whatever its shape and
//! engine: pick an engine, instantiate, call the entry point, and turn the
//! outcome into an exit reason.
//!
//! A process tries the pooled engine first (if its memory grant fits a
//! slot) and falls back to the on-demand engine when the guest has no
//! pooled copy or the pool is full. What differs between a core module and
//! a component (the store data, how to instantiate, what the entry point
//! is) is the [`Shape`] trait; [`launch`] is generic over it, so each shape
//! gets its own monomorphic copy and a spawn pays for no dispatch.

use std::future::Future;

use rusm_core::ExitReason;
use wasmtime::{PoolConcurrencyLimitError, Store};
use wasmtime_wasi::WasiCtxBuilder;

use crate::actor::{Actor, Runtime};
use crate::engine::{EngineKind, Engines, PerKind};
use crate::exit::{describe, exit_reason, too_many_resources};

/// One shape of guest as the launch path sees it, implemented by a shape's
/// compiled code (`ModuleCode`, `ComponentCode`).
pub(crate) trait Shape<R: Runtime>: Sync {
    /// The store data of a process of this shape.
    type Data: Send + 'static;
    /// What resolves the guest's imports, one per engine.
    type Linker: Sync;
    /// The guest pre-instantiated on one engine, with its entry point.
    type Entry: Sync;
    /// A live instance, ready for its entry point to be called.
    type Instance: Send;

    /// The store data of a new process: `wasi` is `Some` when the guest
    /// imports WASI or is granted preopens; `open_files` is the capacity of
    /// its WASI resource table (`max-open-files`).
    fn data(actor: Actor<R>, wasi: Option<&mut WasiCtxBuilder>, open_files: usize) -> Self::Data;

    /// The actor in the store data: the store's limiter.
    fn actor(data: &mut Self::Data) -> &mut Actor<R>;

    /// The guest's entry on `kind`, built on first use. `Err` is why the
    /// guest cannot start there.
    fn entry(
        &self,
        kind: EngineKind,
        engines: &Engines,
        linker: &Self::Linker,
    ) -> Result<&Self::Entry, &str>;

    /// Instantiate the guest in `store`.
    fn instantiate(
        entry: &Self::Entry,
        store: &mut Store<Self::Data>,
    ) -> impl Future<Output = wasmtime::Result<Self::Instance>> + Send;

    /// Call the entry point: `Ok(true)` for a normal end, `Ok(false)` for a
    /// command that reported failure.
    fn call(
        entry: &Self::Entry,
        instance: Self::Instance,
        store: &mut Store<Self::Data>,
    ) -> impl Future<Output = wasmtime::Result<bool>> + Send;
}

/// Run one process of shape `S` to its end. `data` comes from
/// [`Shape::data`]; `fits_pool` says whether its memory grant fits a pool
/// slot.
pub(crate) async fn launch<R: Runtime, S: Shape<R>>(
    code: &S,
    engines: &Engines,
    linkers: &PerKind<S::Linker>,
    mut data: S::Data,
    fits_pool: bool,
    open_files: usize,
) -> ExitReason {
    for &kind in EngineKind::to_try(fits_pool) {
        let pooled = kind == EngineKind::Pooled;
        let entry = match code.entry(kind, engines, linkers.get(kind)) {
            Ok(e) => e,
            // No pooled copy (it does not fit a slot): on demand.
            Err(_) if pooled => continue,
            Err(e) => return ExitReason::failed_to_start(e),
        };
        let mut store = Store::new(engines.get(kind), data);
        store.limiter(|data| S::actor(data));
        store.epoch_deadline_async_yield_and_update(1);
        let instance = match S::instantiate(entry, &mut store).await {
            Ok(i) => i,
            Err(e) if pooled && pool_exhausted(&e) => {
                data = store.into_data();
                continue;
            }
            // The guest never ran (or its start function trapped, which
            // is still "could not be built").
            Err(e) => return ExitReason::failed_to_start(describe(&e)),
        };
        return match S::call(entry, instance, &mut store).await {
            Ok(true) => ExitReason::Normal,
            Ok(false) => ExitReason::from_exit_code(1),
            Err(e) => too_many_resources(&e, open_files).unwrap_or_else(|| exit_reason(&e)),
        };
    }
    unreachable!("the on-demand engine is always tried last")
}

fn pool_exhausted(e: &wasmtime::Error) -> bool {
    e.chain().any(|c| c.is::<PoolConcurrencyLimitError>())
}
