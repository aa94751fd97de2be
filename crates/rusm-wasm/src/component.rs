//! The component shape of the contract: the host side of the
//! `rusm:runtime@0.1.0` world (types from `bindings.rs`), next to WASI
//! preview 2, and how a component is instantiated and run (its
//! [`Shape`]).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
use wasmtime::{Engine, Store};
use wasmtime_wasi::p2::bindings::CommandPre;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::actor::{AbiError, Actor, KvFailure, Runtime};
use crate::bindings::rusm;
use crate::bindings::rusm::runtime::types::{
    Error as WitError, Message as WitMessage, MessageKind,
};
use crate::bindings::{Actor as ActorWorld, ActorPre};
use crate::destinations::Destinations;
use crate::engine::{EngineKind, Engines, PerEngine, Reach};
use crate::exit::{GuestFault, describe};
use crate::incoming::Pending;
use crate::info::ProcessInfo;
use crate::launch::Shape;
use crate::name_lookup::{self, LookupView};
use crate::outbound::Outbound;

/// The store data of a component process.
pub(crate) struct ComponentState<R> {
    pub(crate) actor: Actor<R>,
    /// `None` for a component that imports no WASI interface. Boxed, like
    /// the module's: the state is moved whole into its store, and most
    /// actors use no WASI.
    pub(crate) wasi: Option<Box<WasiCtx>>,
    /// Its WASI resources; its capacity is `max-open-files`.
    pub(crate) table: ResourceTable,
    /// `wasi:http`'s side, made on the first HTTP call.
    pub(crate) http: Option<Box<(WasiHttpCtx, Outbound)>>,
    /// The request of an HTTP handler process, until `handle` takes it.
    pub(crate) request: Option<Box<Pending>>,
}

impl<R: Runtime> WasiView for ComponentState<R> {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        let ctx = self
            .wasi
            .as_deref_mut()
            .expect("a WASI context is built for every component that imports WASI");
        WasiCtxView {
            ctx,
            table: &mut self.table,
        }
    }
}

impl<R: Runtime> ComponentState<R> {
    /// The process's destinations, made now if it has no network grant
    /// (it has one to refuse with).
    fn destinations(&mut self) -> &Arc<Destinations> {
        let actor = &mut self.actor;
        actor.destinations.get_or_insert_with(|| {
            let timeout = actor.runtime.http_client().lookup_timeout();
            Destinations::new(
                &actor.caps,
                actor.ctx.name().map_or("", |n| &**n),
                actor.ctx.pid(),
                timeout,
            )
        })
    }

    /// What `wasi:sockets/ip-name-lookup` sees (`name_lookup.rs`).
    fn name_lookup(&mut self) -> LookupView<'_> {
        self.destinations();
        LookupView {
            table: &mut self.table,
            destinations: self.actor.destinations.as_ref().expect("made just above"),
        }
    }
}

impl<R: Runtime> WasiHttpView for ComponentState<R> {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        if self.http.is_none() {
            let destinations = self.destinations().clone();
            let client = self.actor.runtime.http_client().clone();
            let outbound = Outbound::new(client, destinations);
            self.http = Some(Box::new((WasiHttpCtx::new(), outbound)));
        }
        let (ctx, hooks) = &mut **self.http.as_mut().expect("made just above");
        WasiHttpCtxView {
            ctx,
            table: &mut self.table,
            hooks,
        }
    }
}

/// A linker with WASI preview 2 (its name lookups answered by the node,
/// `name_lookup.rs`), `wasi:http` (types and the outgoing handler, whose
/// requests `outbound.rs` decides) and the `rusm` world, for processes
/// that start with this [`Reach`].
pub(crate) fn linker<R: Runtime>(
    engine: &Engine,
    reach: Reach,
) -> wasmtime::Result<Linker<ComponentState<R>>> {
    let mut l = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut l)?;
    name_lookup::add_to_linker(&mut l, ComponentState::<R>::name_lookup)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut l)?;
    crate::outbound::link_http_error_code(&mut l, |s: &mut ComponentState<R>| &mut s.table)?;
    ActorWorld::add_to_linker::<_, HasSelf<_>>(&mut l, |s| s)?;
    if reach == Reach::Node {
        add_local_only(&mut l)?;
    }
    Ok(l)
}

/// On a node outside a cluster every pid is local: `is-alive` and process
/// control are linked as synchronous calls (see `module::add_local_only`).
fn add_local_only<R: Runtime>(l: &mut Linker<ComponentState<R>>) -> wasmtime::Result<()> {
    type Cx<'a, R> = wasmtime::StoreContextMut<'a, ComponentState<R>>;
    l.allow_shadowing(true);
    let mut process = l.instance("rusm:runtime/process@0.1.0")?;
    process.func_wrap("is-alive", |s: Cx<'_, R>, (target,): (u64,)| {
        Ok((s.data().actor.is_alive_here(target),))
    })?;
    process.func_wrap("link", |s: Cx<'_, R>, (to,): (u64,)| {
        Ok((s.data().actor.link_here(to).map_err(WitError::from),))
    })?;
    process.func_wrap("unlink", |s: Cx<'_, R>, (to,): (u64,)| {
        Ok((s.data().actor.unlink_here(to).map_err(WitError::from),))
    })?;
    process.func_wrap("kill", |s: Cx<'_, R>, (target,): (u64,)| {
        Ok((s.data().actor.kill_here(target).map_err(WitError::from),))
    })?;
    process.func_wrap("info", |s: Cx<'_, R>, (target,): (u64,)| {
        Ok((s.data().actor.info_here(target).map_err(WitError::from),))
    })?;
    l.allow_shadowing(false);
    Ok(())
}

impl From<AbiError> for WitError {
    fn from(e: AbiError) -> Self {
        match e {
            AbiError::NoProcess => WitError::NoProcess,
            AbiError::Denied => WitError::Denied,
            AbiError::Invalid => WitError::Invalid,
            AbiError::Timeout => WitError::Timeout,
            AbiError::NoStore => WitError::NoStore,
            AbiError::Exists => WitError::Exists,
            AbiError::NotFound => WitError::NotFound,
            AbiError::Limit => WitError::Limit,
        }
    }
}

type Abi<T> = wasmtime::Result<Result<T, WitError>>;

fn abi<T>(r: Result<T, AbiError>) -> Abi<T> {
    Ok(r.map_err(WitError::from))
}

fn kv<T>(r: Result<T, KvFailure>) -> Abi<T> {
    match r {
        Ok(v) => Ok(Ok(v)),
        Err(f) => Ok(Err(f.into_trap()?.into())),
    }
}

impl<R: Runtime> rusm::runtime::types::Host for ComponentState<R> {}

impl<R: Runtime> rusm::runtime::process::Host for ComponentState<R> {
    fn own_pid(&mut self) -> wasmtime::Result<u64> {
        Ok(self.actor.own_pid())
    }

    fn send(&mut self, to: u64, tag: i64, data: Vec<u8>) -> Abi<()> {
        abi(self.actor.send(to, tag, data))
    }

    async fn receive(&mut self, tags: Vec<i64>, timeout_ms: Option<u64>) -> Abi<WitMessage> {
        let timeout = timeout_ms.map(Duration::from_millis);
        abi(self.actor.take(&tags, timeout).await.map(|m| WitMessage {
            kind: match m.kind {
                rusm_core::MessageKind::Data => MessageKind::Data,
                rusm_core::MessageKind::Exit => MessageKind::Exit,
                rusm_core::MessageKind::Down => MessageKind::Down,
            },
            sender: m.sender.get(),
            tag: m.tag,
            data: m.data,
        }))
    }

    fn make_ref(&mut self) -> wasmtime::Result<i64> {
        Ok(self.actor.make_ref())
    }

    async fn sleep(&mut self, ms: u64) -> wasmtime::Result<()> {
        self.actor.sleep(ms).await;
        Ok(())
    }

    fn send_after(
        &mut self,
        to: u64,
        tag: i64,
        data: Vec<u8>,
        delay_ms: u64,
    ) -> wasmtime::Result<u64> {
        // The WIT signature has no error case: an oversized message is
        // refused by handing back an id that never fires (0 is never an id).
        Ok(self
            .actor
            .send_after(to, tag, data, delay_ms)
            .map_or(0, |id| id as u64))
    }

    fn cancel_timer(&mut self, id: u64) -> wasmtime::Result<bool> {
        Ok(self.actor.cancel_timer(id as i64))
    }

    fn spawn(&mut self, component: String, arg: Vec<u8>, link: bool) -> Abi<u64> {
        abi(self.actor.spawn(&component, arg, link))
    }

    async fn link(&mut self, to: u64) -> Abi<()> {
        abi(self.actor.link(to).await)
    }

    async fn unlink(&mut self, to: u64) -> Abi<()> {
        abi(self.actor.unlink(to).await)
    }

    fn monitor(&mut self, target: u64) -> Abi<i64> {
        abi(self.actor.monitor(target))
    }

    fn demonitor(&mut self, reference: i64) -> Abi<()> {
        abi(self.actor.demonitor(reference))
    }

    fn trap_exit(&mut self, on: bool) -> wasmtime::Result<bool> {
        Ok(self.actor.trap_exit(on))
    }

    async fn kill(&mut self, target: u64) -> Abi<()> {
        abi(self.actor.kill(target).await)
    }

    fn exit(&mut self, reason: String) -> wasmtime::Result<()> {
        Err(GuestFault::Exit(rusm_core::ExitReason::from_guest(&reason)).into())
    }

    async fn is_alive(&mut self, target: u64) -> wasmtime::Result<bool> {
        Ok(self.actor.is_alive(target).await)
    }

    fn processes(&mut self) -> Abi<Vec<u64>> {
        abi(self.actor.processes())
    }

    async fn info(&mut self, target: u64) -> Abi<ProcessInfo> {
        abi(self.actor.info(target).await)
    }

    fn register(&mut self, name: String) -> Abi<()> {
        abi(self.actor.register(&name))
    }

    fn unregister(&mut self, name: String) -> Abi<()> {
        abi(self.actor.unregister(&name))
    }

    fn whereis(&mut self, name: String) -> wasmtime::Result<Option<u64>> {
        Ok(self.actor.whereis(&name))
    }

    fn set_label(&mut self, label: String) -> wasmtime::Result<()> {
        self.actor.set_label(&label);
        Ok(())
    }
}

impl<R: Runtime> rusm::runtime::kv::Host for ComponentState<R> {
    async fn get(&mut self, bucket: String, key: String) -> Abi<Option<Vec<u8>>> {
        kv(self.actor.kv_get(&bucket, &key).await)
    }

    async fn set(&mut self, bucket: String, key: String, value: Vec<u8>) -> Abi<()> {
        kv(self.actor.kv_set(&bucket, &key, value).await)
    }

    async fn delete(&mut self, bucket: String, key: String) -> Abi<bool> {
        kv(self.actor.kv_delete(&bucket, &key).await)
    }

    async fn exists(&mut self, bucket: String, key: String) -> Abi<bool> {
        kv(self.actor.kv_exists(&bucket, &key).await)
    }

    async fn keys(&mut self, bucket: String, prefix: String) -> Abi<Vec<String>> {
        kv(self.actor.kv_keys(&bucket, &prefix).await)
    }

    async fn compare_and_swap(
        &mut self,
        bucket: String,
        key: String,
        expected: Option<Vec<u8>>,
        replacement: Vec<u8>,
    ) -> Abi<bool> {
        kv(self
            .actor
            .kv_cas(&bucket, &key, expected, replacement)
            .await)
    }
}

impl<R: Runtime> rusm::runtime::cluster::Host for ComponentState<R> {
    async fn spawn_on(
        &mut self,
        node: String,
        component: String,
        arg: Vec<u8>,
        link: bool,
    ) -> Abi<u64> {
        abi(self.actor.spawn_on(&node, &component, arg, link).await)
    }

    async fn register_global(&mut self, name: String) -> Abi<()> {
        abi(self.actor.register_global(&name).await)
    }

    fn whereis_global(&mut self, name: String) -> wasmtime::Result<Option<u64>> {
        // The WIT has no error case here: an empty name holds nothing.
        Ok(self.actor.whereis_global(&name).unwrap_or(None))
    }

    fn nodes(&mut self) -> wasmtime::Result<Vec<String>> {
        Ok(self.actor.nodes())
    }

    fn node_of(&mut self, target: u64) -> Abi<String> {
        abi(self.actor.node_of(target))
    }
}

/// A component's pre-instantiated entry: the `actor` world's `run`, a
/// `wasi:cli/run` command, or an HTTP handler's
/// `wasi:http/incoming-handler` (run once per request, SERVING.md).
pub(crate) enum ComponentEntry<R: 'static> {
    Actor(ActorPre<ComponentState<R>>),
    Command(CommandPre<ComponentState<R>>),
    Handler(ProxyPre<ComponentState<R>>),
}

impl<R: Runtime> ComponentEntry<R> {
    fn new(linker: &Linker<ComponentState<R>>, component: &Component) -> Result<Self, String> {
        let pre = linker
            .instantiate_pre(component)
            .map_err(|e| describe(&e))?;
        if let Ok(actor) = ActorPre::new(pre.clone()) {
            return Ok(ComponentEntry::Actor(actor));
        }
        if let Ok(cmd) = CommandPre::new(pre.clone()) {
            return Ok(ComponentEntry::Command(cmd));
        }
        match ProxyPre::new(pre) {
            Ok(handler) => Ok(ComponentEntry::Handler(handler)),
            Err(_) => Err(
                "no entry point: export `run`, `wasi:cli/run` or `wasi:http/incoming-handler`"
                    .into(),
            ),
        }
    }
}

/// A compiled component, with its entry on each engine.
pub(crate) struct ComponentCode<R: 'static>(PerEngine<Component, ComponentEntry<R>>);

impl<R: Runtime> ComponentCode<R> {
    pub(crate) fn new(component: Component) -> Self {
        ComponentCode(PerEngine::new(component))
    }
}

impl<R: Runtime> Shape<R> for ComponentCode<R> {
    type Data = ComponentState<R>;
    type Linker = Linker<ComponentState<R>>;
    type Entry = ComponentEntry<R>;

    fn data(
        actor: Actor<R>,
        wasi: Option<&mut WasiCtxBuilder>,
        open_files: usize,
        request: Option<Box<Pending>>,
    ) -> Self::Data {
        let mut table = ResourceTable::new();
        table.set_max_capacity(open_files);
        ComponentState {
            actor,
            wasi: wasi.map(|b| Box::new(b.build())),
            table,
            http: None,
            request,
        }
    }

    fn actor(data: &mut Self::Data) -> &mut Actor<R> {
        &mut data.actor
    }

    fn entry(
        &self,
        kind: EngineKind,
        reach: Reach,
        engines: &Engines,
        linker: &Self::Linker,
    ) -> Result<&Self::Entry, &str> {
        self.0.pre(
            kind,
            reach,
            |c| move_to(c, engines.get(EngineKind::Pooled)),
            |c| ComponentEntry::new(linker, c),
        )
    }

    fn engine(entry: &Self::Entry) -> &Engine {
        match entry {
            ComponentEntry::Actor(pre) => pre.engine(),
            ComponentEntry::Command(pre) => pre.engine(),
            ComponentEntry::Handler(pre) => pre.engine(),
        }
    }

    async fn run(
        entry: &Self::Entry,
        store: &mut Store<Self::Data>,
    ) -> wasmtime::Result<wasmtime::Result<bool>> {
        // A request goes only to a handler, and a handler runs only for
        // one: either mismatch means the process could not start.
        // The request stays in the store until instantiation succeeds: a
        // full pool hands the store data back for the on-demand engine.
        let has_request = store.data().request.is_some();
        if has_request != matches!(entry, ComponentEntry::Handler(_)) {
            return Err(wasmtime::Error::msg(if has_request {
                "not an HTTP handler: it exports no `wasi:http/incoming-handler`"
            } else {
                "an HTTP handler runs once per request, not by spawn"
            }));
        }
        Ok(match entry {
            ComponentEntry::Handler(pre) => {
                let handler = pre.instantiate_async(&mut *store).await?;
                let Pending {
                    request,
                    scheme,
                    respond,
                    answered,
                } = *store.data_mut().request.take().expect("checked above");
                let mut http = store.data_mut().http();
                let request = http.new_incoming_request(scheme, request)?;
                let out = http.new_response_outparam_from_callback(Pending::responder(
                    respond,
                    answered.clone(),
                ))?;
                let handled = handler
                    .wasi_http_incoming_handler()
                    .call_handle(&mut *store, request, out)
                    .await;
                handled.and_then(|()| {
                    if answered.load(Ordering::Acquire) {
                        Ok(true)
                    } else {
                        Err(wasmtime::Error::msg(
                            "the handler returned without a response",
                        ))
                    }
                })
            }
            ComponentEntry::Actor(pre) => {
                let world = pre.instantiate_async(&mut *store).await?;
                store.data_mut().actor.instantiated();
                world.call_run(store).await.map(|()| true)
            }
            ComponentEntry::Command(pre) => {
                let cmd = pre.instantiate_async(&mut *store).await?;
                store.data_mut().actor.instantiated();
                cmd.wasi_cli_run().call_run(store).await.map(|r| r.is_ok())
            }
        })
    }
}

/// Move compiled code to the pooled engine (see `module::move_to`).
fn move_to(component: &Component, to: &Engine) -> Result<Component, String> {
    let bytes = component.serialize().map_err(|e| e.to_string())?;
    // SAFETY: serialized just now by this process from a component of a
    // compatible engine.
    unsafe { Component::deserialize(to, &bytes) }.map_err(|e| e.to_string())
}
