//! The core-module shape of the contract: the flat `"rusm"` imports.
//!
//! Each import reads its arguments out of the guest's exported `memory`,
//! calls the shared [`Actor`] operation, and writes results back. A pointer
//! range outside the memory ends the process (`out of bounds` in its
//! reason); the host never touches memory outside the guest's.
//!
//! How a module is instantiated and run is its [`Shape`] (at the end).

use std::time::Duration;

use wasmtime::{
    Caller, Engine, Extern, InstancePre, Linker, Memory, Module, ModuleExport, Store, TypedFunc,
};
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::{WasiCtxBuilder, WasiView};

use crate::actor::{AbiError, Actor, Runtime};
use crate::engine::{EngineKind, Engines, PerEngine, Reach};
use crate::exit::{GuestFault, describe};
use crate::incoming::Pending;
use crate::info;
use crate::launch::Shape;

/// The store data of a core-module process.
pub(crate) struct ModuleState<R> {
    pub(crate) actor: Actor<R>,
    /// `None` for a guest that imports no WASI function.
    /// Boxed: the state is moved whole into its store at every spawn, and
    /// a WASI context is most of its size.
    pub(crate) wasi: Option<Box<WasiP1Ctx>>,
    /// The guest's exported `memory`, once it is instantiated: every call
    /// that passes a pointer uses it, and a lookup by name costs a string
    /// search per call.
    pub(crate) memory: Option<Memory>,
}

type Result<T> = wasmtime::Result<T>;
/// A host call's view of the calling guest (not rusm-core's `Ctx`).
type GuestCaller<'a, R> = Caller<'a, ModuleState<R>>;

const MODULE: &str = "rusm";

fn oob(call: &'static str) -> wasmtime::Error {
    GuestFault::OutOfBounds(call).into()
}

/// The guest's memory: cached after instantiation, looked up by name
/// before (an import called from a start function).
fn memory<R>(caller: &mut GuestCaller<'_, R>, call: &'static str) -> Result<Memory> {
    match caller.data().memory {
        Some(m) => Ok(m),
        None => caller
            .get_export("memory")
            .and_then(Extern::into_memory)
            .ok_or_else(|| oob(call)),
    }
}

/// The byte range `(ptr, len)` names; out of bounds if it overflows. (It is
/// checked against the memory where it is used.)
fn range(call: &'static str, ptr: i32, len: usize) -> Result<std::ops::Range<usize>> {
    let start = ptr as u32 as usize;
    let end = start.checked_add(len).ok_or_else(|| oob(call))?;
    Ok(start..end)
}

/// The guest's bytes at `(ptr, len)`, borrowed.
fn slice<'a, R>(
    caller: &'a mut GuestCaller<'_, R>,
    call: &'static str,
    ptr: i32,
    len: usize,
) -> Result<&'a [u8]> {
    let memory = memory(caller, call)?;
    memory
        .data(&*caller)
        .get(range(call, ptr, len)?)
        .ok_or_else(|| oob(call))
}

/// The guest's bytes at `(ptr, len)`, copied out.
fn read<R>(
    caller: &mut GuestCaller<'_, R>,
    call: &'static str,
    ptr: i32,
    len: i32,
) -> Result<Vec<u8>> {
    if len == 0 {
        return Ok(Vec::new());
    }
    Ok(slice(caller, call, ptr, len as u32 as usize)?.to_vec())
}

/// At most this many tags are read into the host call's own storage; a
/// longer list (rare: a request and its monitor are two) is allocated.
/// They are part of every `recv`'s future, which is boxed per call: 8
/// makes it 184 bytes. (4 made it 152, a size mimalloc's aligned
/// allocation served through its slow path at every call here: 340
/// instructions more per ping-pong round trip, by callgrind.)
const INLINE_TAGS: usize = 8;

/// The tags of a `recv`: `count` little-endian `i64`s at `ptr`.
enum Tags {
    Inline([i64; INLINE_TAGS], usize),
    Heap(Vec<i64>),
}

impl Tags {
    #[inline]
    fn read<R>(
        caller: &mut GuestCaller<'_, R>,
        call: &'static str,
        ptr: i32,
        count: i32,
    ) -> Result<Tags> {
        let count = count as u32 as usize;
        if count == 0 {
            return Ok(Tags::Inline([0; INLINE_TAGS], 0));
        }
        let bytes = slice(caller, call, ptr, count.saturating_mul(8))?;
        let tags = bytes
            .chunks_exact(8)
            .map(|b| i64::from_le_bytes(b.try_into().expect("chunks of 8")));
        if count <= INLINE_TAGS {
            let mut inline = [0; INLINE_TAGS];
            for (slot, tag) in inline.iter_mut().zip(tags) {
                *slot = tag;
            }
            Ok(Tags::Inline(inline, count))
        } else {
            Ok(Tags::Heap(tags.collect()))
        }
    }

    fn as_slice(&self) -> &[i64] {
        match self {
            Tags::Inline(tags, n) => &tags[..*n],
            Tags::Heap(tags) => tags,
        }
    }
}

/// UTF-8 text at `(ptr, len)`; `Err(Ok(INVALID))` for bad UTF-8.
fn read_str<R>(
    caller: &mut GuestCaller<'_, R>,
    call: &'static str,
    ptr: i32,
    len: i32,
) -> Result<std::result::Result<String, AbiError>> {
    let bytes = read(caller, call, ptr, len)?;
    Ok(String::from_utf8(bytes).map_err(|_| AbiError::Invalid))
}

/// Write at most `cap` bytes of `data` at `buf`.
fn write<R>(
    caller: &mut GuestCaller<'_, R>,
    call: &'static str,
    buf: i32,
    cap: i32,
    data: &[u8],
) -> Result<()> {
    let n = data.len().min(cap.max(0) as usize);
    if n == 0 {
        return Ok(());
    }
    let memory = memory(caller, call)?;
    let dest = memory
        .data_mut(&mut *caller)
        .get_mut(range(call, buf, n)?)
        .ok_or_else(|| oob(call))?;
    dest.copy_from_slice(&data[..n]);
    Ok(())
}

fn len_i32(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

fn code(r: std::result::Result<(), AbiError>) -> i32 {
    match r {
        Ok(()) => 0,
        Err(e) => e.code(),
    }
}

fn timeout(ms: i64) -> Option<Duration> {
    (ms >= 0).then(|| Duration::from_millis(ms as u64))
}

fn wasi_ctx<R>(s: &mut ModuleState<R>) -> &mut WasiP1Ctx {
    s.wasi
        .as_deref_mut()
        .expect("a WASI context is built for every guest that imports WASI")
}

/// A linker with WASI preview 1 and every `"rusm"` import, for processes
/// that start with this [`Reach`].
pub(crate) fn linker<R: Runtime>(engine: &Engine, reach: Reach) -> Result<Linker<ModuleState<R>>> {
    let mut l = Linker::new(engine);
    wasmtime_wasi::p1::add_to_linker_async(&mut l, wasi_ctx)?;

    l.func_wrap(MODULE, "own_pid", |c: GuestCaller<'_, R>| {
        c.data().actor.own_pid() as i64
    })?;
    l.func_wrap(
        MODULE,
        "send",
        |mut c: GuestCaller<'_, R>, to: i64, tag: i64, ptr: i32, len: i32| -> Result<i32> {
            let data = read(&mut c, "send", ptr, len)?;
            Ok(code(c.data_mut().actor.send(to as u64, tag, data)))
        },
    )?;
    l.func_wrap_async(
        MODULE,
        "recv",
        |mut c: GuestCaller<'_, R>, (tags_ptr, count, ms): (i32, i32, i64)| {
            Box::new(async move {
                // Checked before the tags are read: a huge count is a
                // malformed call, not a read of the whole memory.
                if count < 0 || count as usize > rusm_core::MAX_RECEIVE_TAGS {
                    return Ok(AbiError::Invalid.code());
                }
                let tags = Tags::read(&mut c, "recv", tags_ptr, count)?;
                let actor = &mut c.data_mut().actor;
                // The core's receive itself, not `Actor::take` around it:
                // one future less inside this one.
                Ok(
                    match actor.ctx.receive(tags.as_slice(), timeout(ms)).await {
                        Ok(m) => actor.current.insert(m).kind as i32,
                        Err(e) => AbiError::from(e).code(),
                    },
                )
            })
        },
    )?;
    l.func_wrap(MODULE, "msg_sender", |c: GuestCaller<'_, R>| {
        c.data()
            .actor
            .current
            .as_ref()
            .map_or(0, |m| m.sender.get() as i64)
    })?;
    l.func_wrap(MODULE, "msg_tag", |c: GuestCaller<'_, R>| {
        c.data().actor.current.as_ref().map_or(0, |m| m.tag)
    })?;
    l.func_wrap(MODULE, "msg_len", |c: GuestCaller<'_, R>| {
        c.data()
            .actor
            .current
            .as_ref()
            .map_or(0, |m| len_i32(m.data.len()))
    })?;
    l.func_wrap(
        MODULE,
        "msg_read",
        |mut c: GuestCaller<'_, R>, buf: i32, cap: i32| -> Result<i32> {
            let data = c
                .data_mut()
                .actor
                .current
                .as_mut()
                .map(|m| std::mem::take(&mut m.data))
                .unwrap_or_default();
            let r = write(&mut c, "msg_read", buf, cap, &data);
            // Put the data back: a guest may read the current message again
            // (with a bigger buffer).
            if let Some(m) = c.data_mut().actor.current.as_mut() {
                m.data = data;
            }
            r?;
            Ok(len_i32(
                c.data().actor.current.as_ref().map_or(0, |m| m.data.len()),
            ))
        },
    )?;
    l.func_wrap(MODULE, "make_ref", |c: GuestCaller<'_, R>| {
        c.data().actor.make_ref()
    })?;
    l.func_wrap_async(MODULE, "sleep", |c: GuestCaller<'_, R>, (ms,): (i64,)| {
        Box::new(async move { c.data().actor.sleep(ms.max(0) as u64).await })
    })?;
    l.func_wrap(
        MODULE,
        "send_after",
        |mut c: GuestCaller<'_, R>,
         to: i64,
         tag: i64,
         ptr: i32,
         len: i32,
         delay: i64|
         -> Result<i64> {
            let data = read(&mut c, "send_after", ptr, len)?;
            Ok(
                match c
                    .data()
                    .actor
                    .send_after(to as u64, tag, data, delay.max(0) as u64)
                {
                    Ok(id) => id,
                    Err(e) => e.code() as i64,
                },
            )
        },
    )?;
    l.func_wrap(MODULE, "cancel_timer", |c: GuestCaller<'_, R>, id: i64| {
        c.data().actor.cancel_timer(id) as i32
    })?;

    l.func_wrap(
        MODULE,
        "spawn",
        |mut c: GuestCaller<'_, R>,
         name_ptr: i32,
         name_len: i32,
         arg_ptr: i32,
         arg_len: i32,
         link: i32|
         -> Result<i64> {
            let name = match read_str(&mut c, "spawn", name_ptr, name_len)? {
                Ok(n) => n,
                Err(e) => return Ok(e.code() as i64),
            };
            let arg = read(&mut c, "spawn", arg_ptr, arg_len)?;
            Ok(match c.data().actor.spawn(&name, arg, link != 0) {
                Ok(pid) => pid as i64,
                Err(e) => e.code() as i64,
            })
        },
    )?;
    // Process control and liveness may ask another node about a remote
    // pid (`Actor::may_manage`), so these wait; a local pid never does.
    l.func_wrap_async(MODULE, "link", |c: GuestCaller<'_, R>, (pid,): (i64,)| {
        Box::new(async move { code(c.data().actor.link(pid as u64).await) })
    })?;
    l.func_wrap_async(MODULE, "unlink", |c: GuestCaller<'_, R>, (pid,): (i64,)| {
        Box::new(async move { code(c.data().actor.unlink(pid as u64).await) })
    })?;
    l.func_wrap(MODULE, "monitor", |c: GuestCaller<'_, R>, pid: i64| match c
        .data()
        .actor
        .monitor(pid as u64)
    {
        Ok(r) => r,
        Err(e) => e.code() as i64,
    })?;
    l.func_wrap(MODULE, "demonitor", |c: GuestCaller<'_, R>, r: i64| {
        code(c.data().actor.demonitor(r))
    })?;
    l.func_wrap(MODULE, "trap_exit", |c: GuestCaller<'_, R>, on: i32| {
        c.data().actor.trap_exit(on != 0) as i32
    })?;
    l.func_wrap_async(MODULE, "kill", |c: GuestCaller<'_, R>, (pid,): (i64,)| {
        Box::new(async move { code(c.data().actor.kill(pid as u64).await) })
    })?;
    l.func_wrap(
        MODULE,
        "exit",
        |mut c: GuestCaller<'_, R>, ptr: i32, len: i32| -> Result<()> {
            // The whole range must be the guest's, but a reason keeps at
            // most a kilobyte: no need to copy megabytes to cut them.
            let text = if len == 0 {
                &[][..]
            } else {
                slice(&mut c, "exit", ptr, len as u32 as usize)?
            };
            let text = &text[..text.len().min(rusm_core::MAX_REASON_BYTES * 4)];
            let reason = rusm_core::ExitReason::from_guest(&String::from_utf8_lossy(text));
            Err(GuestFault::Exit(reason).into())
        },
    )?;
    l.func_wrap_async(
        MODULE,
        "is_alive",
        |c: GuestCaller<'_, R>, (pid,): (i64,)| {
            Box::new(async move { c.data().actor.is_alive(pid as u64).await as i32 })
        },
    )?;
    l.func_wrap(
        MODULE,
        "list_processes",
        |mut c: GuestCaller<'_, R>, buf: i32, cap: i32| -> Result<i32> {
            let pids = match c.data().actor.processes() {
                Ok(p) => p,
                Err(e) => return Ok(e.code()),
            };
            let bytes: Vec<u8> = pids
                .iter()
                .take(cap.max(0) as usize)
                .flat_map(|p| (*p as i64).to_le_bytes())
                .collect();
            write(&mut c, "list_processes", buf, len_i32(bytes.len()), &bytes)?;
            Ok(len_i32(pids.len()))
        },
    )?;
    l.func_wrap_async(
        MODULE,
        "process_info",
        |mut c: GuestCaller<'_, R>, (pid, buf, cap): (i64, i32, i32)| {
            Box::new(async move {
                let json = match c.data().actor.info(pid as u64).await {
                    Ok(info) => info::to_json(&info),
                    Err(e) => return Ok(e.code()),
                };
                write(&mut c, "process_info", buf, cap, json.as_bytes())?;
                Ok(len_i32(json.len()))
            })
        },
    )?;
    l.func_wrap(
        MODULE,
        "register",
        |mut c: GuestCaller<'_, R>, ptr: i32, len: i32| -> Result<i32> {
            Ok(match read_str(&mut c, "register", ptr, len)? {
                Ok(name) => code(c.data().actor.register(&name)),
                Err(e) => e.code(),
            })
        },
    )?;
    l.func_wrap(
        MODULE,
        "unregister",
        |mut c: GuestCaller<'_, R>, ptr: i32, len: i32| -> Result<i32> {
            Ok(match read_str(&mut c, "unregister", ptr, len)? {
                Ok(name) => code(c.data().actor.unregister(&name)),
                Err(e) => e.code(),
            })
        },
    )?;
    l.func_wrap(
        MODULE,
        "whereis",
        |mut c: GuestCaller<'_, R>, ptr: i32, len: i32| -> Result<i64> {
            Ok(match read_str(&mut c, "whereis", ptr, len)? {
                Ok(name) => c
                    .data()
                    .actor
                    .whereis(&name)
                    .map_or(AbiError::NotFound.code() as i64, |p| p as i64),
                Err(e) => e.code() as i64,
            })
        },
    )?;
    l.func_wrap(
        MODULE,
        "set_label",
        |mut c: GuestCaller<'_, R>, ptr: i32, len: i32| -> Result<()> {
            let label = if len == 0 {
                String::new()
            } else {
                let bytes = slice(&mut c, "set_label", ptr, len as u32 as usize)?;
                let bytes = &bytes[..bytes.len().min(rusm_core::MAX_LABEL_BYTES)];
                String::from_utf8_lossy(bytes).into_owned()
            };
            c.data().actor.set_label(&label);
            Ok(())
        },
    )?;

    add_kv(&mut l)?;
    add_cluster(&mut l)?;
    if reach == Reach::Node {
        add_local_only(&mut l)?;
    }
    Ok(l)
}

/// On a node outside a cluster every pid is local: the imports that wait
/// for another node in a cluster are replaced by their synchronous local
/// forms, which cost what they did before clusters (an async import boxes
/// a future and blocks on it, about 40 ns more per call:
/// `rusm-bench is-alive`).
fn add_local_only<R: Runtime>(l: &mut Linker<ModuleState<R>>) -> Result<()> {
    l.allow_shadowing(true);
    l.func_wrap(MODULE, "link", |c: GuestCaller<'_, R>, pid: i64| {
        code(c.data().actor.link_here(pid as u64))
    })?;
    l.func_wrap(MODULE, "unlink", |c: GuestCaller<'_, R>, pid: i64| {
        code(c.data().actor.unlink_here(pid as u64))
    })?;
    l.func_wrap(MODULE, "kill", |c: GuestCaller<'_, R>, pid: i64| {
        code(c.data().actor.kill_here(pid as u64))
    })?;
    l.func_wrap(MODULE, "is_alive", |c: GuestCaller<'_, R>, pid: i64| {
        c.data().actor.is_alive_here(pid as u64) as i32
    })?;
    l.func_wrap(
        MODULE,
        "process_info",
        |mut c: GuestCaller<'_, R>, pid: i64, buf: i32, cap: i32| -> Result<i32> {
            let json = match c.data().actor.info_here(pid as u64) {
                Ok(info) => info::to_json(&info),
                Err(e) => return Ok(e.code()),
            };
            write(&mut c, "process_info", buf, cap, json.as_bytes())?;
            Ok(len_i32(json.len()))
        },
    )?;
    l.allow_shadowing(false);
    Ok(())
}

/// Names, counted and packed as `kv_keys` and `nodes` return them: each a
/// little-endian u32 length, then its bytes.
fn pack_names(names: &[String]) -> Vec<u8> {
    let mut out = Vec::with_capacity(names.iter().map(|n| 4 + n.len()).sum());
    for n in names {
        out.extend_from_slice(&(n.len() as u32).to_le_bytes());
        out.extend_from_slice(n.as_bytes());
    }
    out
}

/// The cluster calls (CLUSTER.md, *ABI additions*).
fn add_cluster<R: Runtime>(l: &mut Linker<ModuleState<R>>) -> Result<()> {
    l.func_wrap_async(
        MODULE,
        "spawn_on",
        |mut c: GuestCaller<'_, R>,
         (node_ptr, node_len, name_ptr, name_len, arg_ptr, arg_len, link): (
            i32,
            i32,
            i32,
            i32,
            i32,
            i32,
            i32,
        )| {
            Box::new(async move {
                let node = read_str(&mut c, "spawn_on", node_ptr, node_len)?;
                let name = read_str(&mut c, "spawn_on", name_ptr, name_len)?;
                let (node, name) = match node.and_then(|n| name.map(|m| (n, m))) {
                    Ok(both) => both,
                    Err(e) => return Ok(e.code() as i64),
                };
                let arg = read(&mut c, "spawn_on", arg_ptr, arg_len)?;
                Ok(
                    match c.data().actor.spawn_on(&node, &name, arg, link != 0).await {
                        Ok(pid) => pid as i64,
                        Err(e) => e.code() as i64,
                    },
                )
            })
        },
    )?;
    l.func_wrap_async(
        MODULE,
        "register_global",
        |mut c: GuestCaller<'_, R>, (ptr, len): (i32, i32)| {
            Box::new(async move {
                Ok(match read_str(&mut c, "register_global", ptr, len)? {
                    Ok(name) => code(c.data().actor.register_global(&name).await),
                    Err(e) => e.code(),
                })
            })
        },
    )?;
    l.func_wrap(
        MODULE,
        "whereis_global",
        |mut c: GuestCaller<'_, R>, ptr: i32, len: i32| -> Result<i64> {
            let found = read_str(&mut c, "whereis_global", ptr, len)?
                .and_then(|name| c.data().actor.whereis_global(&name));
            Ok(match found {
                Ok(Some(pid)) => pid as i64,
                Ok(None) => AbiError::NotFound.code() as i64,
                Err(e) => e.code() as i64,
            })
        },
    )?;
    l.func_wrap(
        MODULE,
        "nodes",
        |mut c: GuestCaller<'_, R>, buf: i32, cap: i32| -> Result<i32> {
            let packed = pack_names(&c.data().actor.nodes());
            write(&mut c, "nodes", buf, cap, &packed)?;
            Ok(len_i32(packed.len()))
        },
    )?;
    l.func_wrap(
        MODULE,
        "node_of",
        |mut c: GuestCaller<'_, R>, pid: i64, buf: i32, cap: i32| -> Result<i32> {
            match c.data().actor.node_of(pid as u64) {
                Ok(name) => {
                    write(&mut c, "node_of", buf, cap, name.as_bytes())?;
                    Ok(len_i32(name.len()))
                }
                Err(e) => Ok(e.code()),
            }
        },
    )?;
    Ok(())
}

/// Bucket and key of a storage call; `Err(Ok(code))` for bad UTF-8.
fn bucket_key<R>(
    c: &mut GuestCaller<'_, R>,
    call: &'static str,
    b: (i32, i32),
    k: (i32, i32),
) -> Result<std::result::Result<(String, String), AbiError>> {
    let bucket = read_str(c, call, b.0, b.1)?;
    let key = read_str(c, call, k.0, k.1)?;
    Ok(bucket.and_then(|b| key.map(|k| (b, k))))
}

fn add_kv<R: Runtime>(l: &mut Linker<ModuleState<R>>) -> Result<()> {
    l.func_wrap_async(
        MODULE,
        "kv_get",
        |mut c: GuestCaller<'_, R>, (bp, bl, kp, kl, buf, cap): (i32, i32, i32, i32, i32, i32)| {
            Box::new(async move {
                let (b, k) = match bucket_key(&mut c, "kv_get", (bp, bl), (kp, kl))? {
                    Ok(bk) => bk,
                    Err(e) => return Ok(e.code()),
                };
                match c.data().actor.kv_get(&b, &k).await {
                    Ok(Some(v)) => {
                        write(&mut c, "kv_get", buf, cap, &v)?;
                        Ok(len_i32(v.len()))
                    }
                    Ok(None) => Ok(AbiError::NotFound.code()),
                    Err(f) => Ok(f.into_trap()?.code()),
                }
            })
        },
    )?;
    l.func_wrap_async(
        MODULE,
        "kv_set",
        |mut c: GuestCaller<'_, R>, (bp, bl, kp, kl, vp, vl): (i32, i32, i32, i32, i32, i32)| {
            Box::new(async move {
                let (b, k) = match bucket_key(&mut c, "kv_set", (bp, bl), (kp, kl))? {
                    Ok(bk) => bk,
                    Err(e) => return Ok(e.code()),
                };
                let v = read(&mut c, "kv_set", vp, vl)?;
                match c.data().actor.kv_set(&b, &k, v).await {
                    Ok(()) => Ok(0),
                    Err(f) => Ok(f.into_trap()?.code()),
                }
            })
        },
    )?;
    l.func_wrap_async(
        MODULE,
        "kv_delete",
        |mut c: GuestCaller<'_, R>, (bp, bl, kp, kl): (i32, i32, i32, i32)| {
            Box::new(async move {
                let (b, k) = match bucket_key(&mut c, "kv_delete", (bp, bl), (kp, kl))? {
                    Ok(bk) => bk,
                    Err(e) => return Ok(e.code()),
                };
                match c.data().actor.kv_delete(&b, &k).await {
                    Ok(existed) => Ok(existed as i32),
                    Err(f) => Ok(f.into_trap()?.code()),
                }
            })
        },
    )?;
    l.func_wrap_async(
        MODULE,
        "kv_exists",
        |mut c: GuestCaller<'_, R>, (bp, bl, kp, kl): (i32, i32, i32, i32)| {
            Box::new(async move {
                let (b, k) = match bucket_key(&mut c, "kv_exists", (bp, bl), (kp, kl))? {
                    Ok(bk) => bk,
                    Err(e) => return Ok(e.code()),
                };
                match c.data().actor.kv_exists(&b, &k).await {
                    Ok(exists) => Ok(exists as i32),
                    Err(f) => Ok(f.into_trap()?.code()),
                }
            })
        },
    )?;
    l.func_wrap_async(
        MODULE,
        "kv_keys",
        |mut c: GuestCaller<'_, R>, (bp, bl, pp, pl, buf, cap): (i32, i32, i32, i32, i32, i32)| {
            Box::new(async move {
                let (b, prefix) = match bucket_key(&mut c, "kv_keys", (bp, bl), (pp, pl))? {
                    Ok(bk) => bk,
                    Err(e) => return Ok(e.code()),
                };
                match c.data().actor.kv_keys(&b, &prefix).await {
                    Ok(keys) => {
                        let out = pack_names(&keys);
                        write(&mut c, "kv_keys", buf, cap, &out)?;
                        Ok(len_i32(out.len()))
                    }
                    Err(f) => Ok(f.into_trap()?.code()),
                }
            })
        },
    )?;
    l.func_wrap_async(
        MODULE,
        "kv_cas",
        |mut c: GuestCaller<'_, R>,
         (bp, bl, kp, kl, ep, el, vp, vl): (i32, i32, i32, i32, i32, i32, i32, i32)| {
            Box::new(async move {
                let (b, k) = match bucket_key(&mut c, "kv_cas", (bp, bl), (kp, kl))? {
                    Ok(bk) => bk,
                    Err(e) => return Ok(e.code()),
                };
                let expected = if el == -1 {
                    None
                } else {
                    Some(read(&mut c, "kv_cas", ep, el)?)
                };
                let v = read(&mut c, "kv_cas", vp, vl)?;
                match c.data().actor.kv_cas(&b, &k, expected, v).await {
                    Ok(swapped) => Ok(swapped as i32),
                    Err(f) => Ok(f.into_trap()?.code()),
                }
            })
        },
    )?;
    Ok(())
}

/// A module's `InstancePre` and the exports every spawn looks up, resolved
/// once by index: a lookup by name costs a string-pool search per spawn.
pub(crate) struct ModuleEntry<R> {
    pre: InstancePre<ModuleState<R>>,
    memory: Option<ModuleExport>,
    initialize: Option<ModuleExport>,
    /// `run`, else `_start`.
    entry: ModuleExport,
}

impl<R: Runtime> ModuleEntry<R> {
    fn new(pre: InstancePre<ModuleState<R>>) -> std::result::Result<Self, String> {
        let module = pre.module();
        let func = |name: &str| {
            module
                .get_export(name)
                .is_some_and(|ty| {
                    ty.func()
                        .is_some_and(|f| f.params().len() == 0 && f.results().len() == 0)
                })
                .then(|| module.get_export_index(name))
                .flatten()
        };
        let entry = func("run")
            .or_else(|| func("_start"))
            .ok_or("no entry point: export `run` or `_start`")?;
        Ok(ModuleEntry {
            memory: module
                .get_export("memory")
                .is_some_and(|ty| ty.memory().is_some())
                .then(|| module.get_export_index("memory"))
                .flatten(),
            initialize: func("_initialize"),
            entry,
            pre,
        })
    }
}

/// A compiled core module, with its entry on each engine.
pub(crate) struct ModuleCode<R>(PerEngine<Module, ModuleEntry<R>>);

impl<R: Runtime> ModuleCode<R> {
    pub(crate) fn new(module: Module) -> Self {
        ModuleCode(PerEngine::new(module))
    }
}

impl<R: Runtime> Shape<R> for ModuleCode<R> {
    type Data = ModuleState<R>;
    type Linker = Linker<ModuleState<R>>;
    type Entry = ModuleEntry<R>;

    fn data(
        actor: Actor<R>,
        wasi: Option<&mut WasiCtxBuilder>,
        open_files: usize,
        request: Option<Box<Pending>>,
    ) -> Self::Data {
        debug_assert!(request.is_none(), "only components are HTTP handlers");
        ModuleState {
            actor,
            wasi: wasi.map(|b| {
                let mut p1 = b.build_p1();
                WasiView::ctx(&mut p1).table.set_max_capacity(open_files);
                Box::new(p1)
            }),
            memory: None,
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
    ) -> std::result::Result<&Self::Entry, &str> {
        self.0.pre(
            kind,
            reach,
            |m| move_to(m, engines.get(EngineKind::Pooled)),
            |m| ModuleEntry::new(linker.instantiate_pre(m).map_err(|e| describe(&e))?),
        )
    }

    fn engine(entry: &Self::Entry) -> &Engine {
        entry.pre.module().engine()
    }

    async fn run(entry: &Self::Entry, store: &mut Store<Self::Data>) -> Result<Result<bool>> {
        let instance = entry.pre.instantiate_async(&mut *store).await?;
        store.data_mut().actor.instantiated();
        if let Some(memory) = entry
            .memory
            .as_ref()
            .and_then(|m| instance.get_module_export(&mut *store, m))
            .and_then(Extern::into_memory)
        {
            // (Its size reached `process_info` through the limiter already.)
            store.data_mut().memory = Some(memory);
        }
        let func = |store: &mut Store<ModuleState<R>>, export| {
            let func = instance
                .get_module_export(&mut *store, export)
                .and_then(Extern::into_func)
                .expect("the export was found in this instance's module");
            // SAFETY: `ModuleEntry::new` only keeps exports of type `[] -> []`.
            unsafe { TypedFunc::<(), ()>::new_unchecked(&*store, func) }
        };
        if let Some(init) = &entry.initialize
            && let Err(e) = func(store, init).call_async(&mut *store, ()).await
        {
            return Ok(Err(e));
        }
        Ok(func(store, &entry.entry)
            .call_async(&mut *store, ())
            .await
            .map(|()| true))
    }
}

/// Move compiled code to the pooled engine: both engines share their
/// code-shaping settings, so this deserializes instead of compiling (and
/// checks that the module fits a pool slot).
fn move_to(module: &Module, to: &Engine) -> std::result::Result<Module, String> {
    let bytes = module.serialize().map_err(|e| e.to_string())?;
    // SAFETY: serialized just now by this process from a module of a
    // compatible engine.
    unsafe { Module::deserialize(to, &bytes) }.map_err(|e| e.to_string())
}
