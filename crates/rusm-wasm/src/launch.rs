//! The one launch path of every Wasm process, whatever its shape and
//! engine: build the host side of its grants, pick an engine, instantiate,
//! call the entry point, and turn the outcome into an exit reason.
//!
//! A process tries the pooled engine first (if its memory grant fits a
//! slot) and falls back to the on-demand engine when the guest has no
//! pooled copy or the pool is full. What differs between a core module and
//! a component (the store data, how to instantiate, what the entry point
//! is) is the [`Shape`] trait; [`launch`] is generic over it, so each shape
//! gets its own monomorphic copy and a spawn pays for no dispatch.
//!
//! [`launch`] is a process's whole body, not a step awaited inside one:
//! every future awaited inside another is moved into it whole, and this
//! one holds Wasmtime's instantiate and call futures (about 2 KiB).

use std::future::Future;
use std::path::Path;
use std::sync::Arc;

use rusm_caps::Capabilities;
use rusm_core::{Ctx, ExitReason};
use wasmtime::{Engine, PoolConcurrencyLimitError, Store, StoreContextMut, UpdateDeadline};
use wasmtime_wasi::WasiCtxBuilder;

use crate::actor::{Actor, Runtime};
use crate::cpu::CpuMeter;
use crate::destinations::Destinations;
use crate::engine::{EngineKind, Engines, PerKind, Reach};
use crate::exit::{describe, exit_reason, too_many_resources};
use crate::incoming::Pending;
use crate::limits::Limits;
use crate::wasi;

/// One shape of guest as the launch path sees it, implemented by a shape's
/// compiled code (`ModuleCode`, `ComponentCode`).
pub(crate) trait Shape<R: Runtime>: Sync {
    /// The store data of a process of this shape.
    type Data: Send + 'static;
    /// What resolves the guest's imports, one per engine.
    type Linker: Sync;
    /// The guest pre-instantiated on one engine, with its entry point.
    type Entry: Sync;

    /// The store data of a new process: `wasi` is `Some` when the guest
    /// imports WASI or is granted preopens; `open_files` is the capacity of
    /// its WASI resource table (`max-open-files`); `request` is the HTTP
    /// request of a handler process (only components are spawned with
    /// one).
    fn data(
        actor: Actor<R>,
        wasi: Option<&mut WasiCtxBuilder>,
        open_files: usize,
        request: Option<Box<Pending>>,
    ) -> Self::Data;

    /// The actor in the store data: the store's limiter.
    fn actor(data: &mut Self::Data) -> &mut Actor<R>;

    /// The guest's entry on `kind`, built on first use. `Err` is why the
    /// guest cannot start there.
    fn entry(
        &self,
        kind: EngineKind,
        reach: Reach,
        engines: &Engines,
        linker: &Self::Linker,
    ) -> Result<&Self::Entry, &str>;

    /// The engine `entry` was built on.
    fn engine(entry: &Self::Entry) -> &Engine;

    /// Instantiate the guest in `store` and call its entry point. The
    /// outer `Err` is a failed instantiation (the guest never ran); the
    /// inner result is the entry call's: `Ok(true)` for a normal end,
    /// `Ok(false)` for a command that reported failure. One future for
    /// both steps: each future awaited inside another is moved into it.
    fn run(
        entry: &Self::Entry,
        store: &mut Store<Self::Data>,
    ) -> impl Future<Output = wasmtime::Result<wasmtime::Result<bool>>> + Send;
}

/// What the launch path needs of a runtime, for guests of shape `S`.
pub(crate) trait Launcher<S: Shape<Self>>: Runtime {
    fn engines(&self) -> &Engines;
    /// The linkers of shape `S` for `reach`, one per engine.
    fn linkers(&self, reach: Reach) -> &PerKind<S::Linker>;
    /// Where `./.env` is looked for (environment grants).
    fn env_dir(&self) -> &Path;
    /// The largest memory grant a pool slot holds.
    fn pool_memory_mb(&self) -> u64;
}

/// One process to launch: its guest (`A`, which holds the code of shape
/// `S`) and what it runs as.
pub(crate) struct Process<A> {
    pub(crate) artifact: A,
    /// Whether the guest imports WASI.
    pub(crate) uses_wasi: bool,
    pub(crate) caps: Arc<Capabilities>,
    /// Whether it runs a registered component, spawned by name.
    pub(crate) by_name: bool,
    /// WASI arguments after `argv[0]`.
    pub(crate) args: Vec<String>,
    /// The request of an HTTP handler process.
    pub(crate) request: Option<Box<Pending>>,
    /// Told once the guest is instantiated (see `Actor::started`).
    pub(crate) started: Option<tokio::sync::oneshot::Sender<()>>,
}

/// The body of every Wasm process of shape `S`: `code` finds the shape's
/// code in the process's artifact.
pub(crate) async fn launch<R, S, A>(
    rt: Arc<R>,
    ctx: Ctx,
    process: Process<A>,
    code: impl Fn(&A) -> &S,
) -> ExitReason
where
    R: Launcher<S>,
    // 'static for the epoch callback, which names the shape.
    S: Shape<R> + 'static,
{
    let Process {
        artifact,
        uses_wasi,
        caps,
        by_name,
        args,
        request,
        started,
    } = process;
    // `argv[0]` and the name in `deny` lines: the one the core keeps for
    // logs and `info` (set by `Quotas::spawn_options`), not a second copy.
    let name = ctx.name().map_or("", |n| &**n);
    // Made now only where its sockets need it (a guest that imports
    // WASI, with a network grant); HTTP and lookups make it on first use.
    let destinations = (uses_wasi && (caps.allow_network || caps.allow_listen)).then(|| {
        let timeout = rt.http_client().lookup_timeout();
        Destinations::new(&caps, name, ctx.pid(), timeout)
    });
    // A grant that cannot be built ends the process before any guest code,
    // whether or not the guest would have used it.
    let mut wasi = if uses_wasi || !caps.preopens.is_empty() {
        let mut argv = Vec::with_capacity(args.len() + 1);
        argv.push(name.to_string());
        argv.extend(args);
        match wasi::builder(&caps, &argv, rt.env_dir(), destinations.as_ref()) {
            Ok(b) => Some(b),
            Err(e) => return ExitReason::failed_to_start(e),
        }
    } else {
        None
    };
    // `max-open-files` is the capacity of the process's WASI resource table.
    let open_files = usize::try_from(caps.max_open_files).unwrap_or(usize::MAX);
    let fits_pool = caps.max_memory_mb <= rt.pool_memory_mb();
    let reach = if rt.cluster().is_some() {
        Reach::Cluster
    } else {
        Reach::Node
    };
    let actor = Actor {
        ctx,
        // Moved, not cloned: the runtime is reached through the actor from
        // here on. Every spawn on every core writes this `Arc`'s counts,
        // and a clone and its drop cost two trips of that cache line.
        runtime: rt,
        limits: Limits::new(caps.max_memory_mb),
        cpu: CpuMeter::default(),
        caps,
        by_name,
        current: None,
        destinations,
        started,
        peer: Default::default(),
    };
    let mut data = S::data(actor, wasi.as_mut(), open_files, request);
    let code = code(&artifact);
    for &kind in EngineKind::to_try(fits_pool) {
        let pooled = kind == EngineKind::Pooled;
        let rt = &*S::actor(&mut data).runtime;
        let entry = match code.entry(kind, reach, rt.engines(), rt.linkers(reach).get(kind)) {
            Ok(e) => e,
            // No pooled copy (it does not fit a slot): on demand.
            Err(_) if pooled => continue,
            Err(e) => return ExitReason::failed_to_start(e),
        };
        let mut store = Store::new(S::engine(entry), data);
        store.limiter(|data| S::actor(data));
        // Yield at every tick, as `epoch_deadline_async_yield_and_update`
        // would, and count the tick for the process's CPU time. The
        // callback captures nothing: boxing it allocates nothing.
        store.epoch_deadline_callback(on_epoch::<R, S>);
        // A new store's deadline is epoch 0, already past: without this the
        // guest would yield at its very first check, a wasted trip through
        // the scheduler for every process. It gets the rest of this tick.
        store.set_epoch_deadline(1);
        return match S::run(entry, &mut store).await {
            Err(e) if pooled && pool_exhausted(&e) => {
                data = store.into_data();
                continue;
            }
            // The guest never ran (or its start function trapped, which
            // is still "could not be built").
            Err(e) => ExitReason::failed_to_start(describe(&e)),
            Ok(Ok(true)) => ExitReason::Normal,
            Ok(Ok(false)) => ExitReason::from_exit_code(1),
            Ok(Err(e)) => too_many_resources(&e, open_files).unwrap_or_else(|| exit_reason(&e)),
        };
    }
    unreachable!("the on-demand engine is always tried last")
}

/// The epoch callback of every Wasm process: charge the tick (`cpu.rs`),
/// then yield to the executor and set the deadline one tick ahead.
fn on_epoch<R, S>(mut store: StoreContextMut<'_, S::Data>) -> wasmtime::Result<UpdateDeadline>
where
    R: Launcher<S>,
    S: Shape<R>,
{
    let actor = S::actor(store.data_mut());
    let clock = actor.runtime.engines().clock();
    actor.cpu.on_epoch(clock.now(), clock.tick, &actor.ctx);
    Ok(UpdateDeadline::Yield(1))
}

fn pool_exhausted(e: &wasmtime::Error) -> bool {
    e.chain().any(|c| c.is::<PoolConcurrencyLimitError>())
}
