//! The component shape of the contract: the `rusm:runtime@0.1.0` world,
//! bound with `bindgen!`, next to WASI preview 2.

use std::time::Duration;

use wasmtime::Engine;
use wasmtime::component::{HasSelf, Linker, ResourceTable};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::actor::{AbiError, Actor, KvFailure};
use crate::exit::GuestFault;
use crate::limits::Limits;

mod bindings {
    wasmtime::component::bindgen!({
        path: "wit/rusm.wit",
        world: "actor",
        // Only the calls that wait are async (they park the fiber); the
        // rest run as plain host calls, without a boxed future each.
        imports: {
            "rusm:runtime/process.receive": async | trappable,
            "rusm:runtime/process.sleep": async | trappable,
            "rusm:runtime/kv.get": async | trappable,
            "rusm:runtime/kv.set": async | trappable,
            "rusm:runtime/kv.delete": async | trappable,
            "rusm:runtime/kv.exists": async | trappable,
            "rusm:runtime/kv.keys": async | trappable,
            "rusm:runtime/kv.compare-and-swap": async | trappable,
            default: trappable,
        },
        exports: { default: async },
    });
}

pub(crate) use bindings::Actor as ActorWorld;
pub(crate) use bindings::ActorPre;

use bindings::rusm;
use bindings::rusm::runtime::types::{
    Error as WitError, Message as WitMessage, MessageKind, ProcessInfo,
};

/// The store data of a component process.
pub(crate) struct ComponentState {
    pub(crate) actor: Actor,
    /// `None` for a component that imports no WASI interface. Boxed, like
    /// the module's: the state is moved whole into its store, and most
    /// actors use no WASI.
    pub(crate) wasi: Option<Box<WasiCtx>>,
    pub(crate) table: ResourceTable,
    pub(crate) limits: Limits,
}

impl WasiView for ComponentState {
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

/// A linker with WASI preview 2 and the `rusm` world.
pub(crate) fn linker(engine: &Engine) -> wasmtime::Result<Linker<ComponentState>> {
    let mut l = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut l)?;
    ActorWorld::add_to_linker::<_, HasSelf<_>>(&mut l, |s| s)?;
    Ok(l)
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

impl rusm::runtime::types::Host for ComponentState {}

impl rusm::runtime::process::Host for ComponentState {
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

    fn link(&mut self, to: u64) -> Abi<()> {
        abi(self.actor.link(to))
    }

    fn unlink(&mut self, to: u64) -> Abi<()> {
        abi(self.actor.unlink(to))
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

    fn kill(&mut self, target: u64) -> Abi<()> {
        abi(self.actor.kill(target))
    }

    fn exit(&mut self, reason: String) -> wasmtime::Result<()> {
        Err(GuestFault::Exit(rusm_core::ExitReason::from_guest(&reason)).into())
    }

    fn is_alive(&mut self, target: u64) -> wasmtime::Result<bool> {
        Ok(self.actor.is_alive(target))
    }

    fn processes(&mut self) -> Abi<Vec<u64>> {
        abi(self.actor.processes())
    }

    fn info(&mut self, target: u64) -> Abi<ProcessInfo> {
        abi(self.actor.info(target).map(|i| ProcessInfo {
            pid: i.pid.get(),
            component: i.name,
            label: i.label,
            names: i.names,
            links: i.links.iter().map(|p| p.get()).collect(),
            monitored_by: i.monitored_by.iter().map(|p| p.get()).collect(),
            mailbox_len: i.mailbox_len,
            trap_exit: i.trap_exit,
            memory_bytes: i.memory_bytes,
        }))
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

impl rusm::runtime::kv::Host for ComponentState {
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
