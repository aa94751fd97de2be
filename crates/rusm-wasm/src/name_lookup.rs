//! `wasi:sockets/ip-name-lookup`, answered by the node under the
//! process's destinations.
//!
//! wasmtime-wasi's own `resolve-addresses` looks any name up and hands
//! every answer to the guest; its only switch is all or nothing. This
//! module links its own implementation of the interface over it (the
//! linker allows shadowing for just that call, see [`add_to_linker`]), so
//! a socket lookup goes through the same checker as a connect and an HTTP
//! request (CAPABILITIES.md, *Outbound network*):
//!
//! 1. the name is checked before anything is looked up
//!    (`HostPolicy::check_lookup`): an unlisted or numeric name is
//!    `access-denied` at once, with a `rusm deny <who> lookup <name>` line,
//!    and no DNS query leaves the node; an address written as text is its
//!    own answer (the connect checks it);
//! 2. the node looks the name up itself, bounded (`resolver.rs`);
//! 3. every answer is checked again (`HostPolicy::may_resolve_to`): an
//!    address the name may not go to (a wildcard or default match that
//!    resolved to an internal address: DNS rebinding) is not handed to the
//!    guest, and is logged (`rusm deny <who> lookup <name> -> <ip>`); an
//!    answer with nothing left is `access-denied`;
//! 4. the addresses handed out are remembered with the name, so that the
//!    connect to one of them is allowed as that name's, at the ports the
//!    name is allowed (`Destinations::check_connect`).
//!
//! Errors as wasmtime-wasi gives them otherwise: `invalid-argument` for a
//! text that is no host name, `name-unresolvable` when the resolver finds
//! nothing, `temporary-resolver-failure` for a lookup past its deadline.
//! Core modules (preview 1) have no lookup call; this is for components.

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use rusm_caps::{HostDenied, HostPatternError, NameMatch};
use wasmtime::component::{HasData, Linker, Resource, ResourceTable};
use wasmtime_wasi::p2::bindings::sockets::network::{self, ErrorCode, IpAddress};
use wasmtime_wasi::p2::{DynPollable, Network, Pollable, SocketError, subscribe};
use wasmtime_wasi::runtime::AbortOnDropJoinHandle;

use crate::destinations::Destinations;
use crate::resolver::LookupError;

mod generated {
    // Generated code: its items are as public as the generator makes them.
    #![allow(missing_docs, unreachable_pub)]

    wasmtime::component::bindgen!({
        path: "wit",
        interfaces: "import wasi:sockets/ip-name-lookup@0.2.12;",
        imports: { default: trappable },
        trappable_error_type: {
            "wasi:sockets/network.error-code" => wasmtime_wasi::p2::SocketError,
        },
        with: {
            "wasi:io/poll": wasmtime_wasi::p2::bindings::io::poll,
            "wasi:sockets/network": wasmtime_wasi::p2::bindings::sockets::network,
            "wasi:sockets/ip-name-lookup.resolve-address-stream": super::ResolveAddressStream,
        },
    });
}

use generated::wasi::sockets::ip_name_lookup::{Host, HostResolveAddressStream};

/// What a lookup's stream hands out.
type Answer = Result<std::vec::IntoIter<IpAddr>, ErrorCode>;

/// The `resolve-address-stream` resource: a lookup under way, then its
/// checked answer.
// `pub`: the generated bindings re-export it (the crate does not).
#[allow(unreachable_pub)]
pub struct ResolveAddressStream(Lookup);

enum Lookup {
    /// The lookup task; dropping the stream aborts it.
    Running(AbortOnDropJoinHandle<Result<Vec<IpAddr>, ErrorCode>>),
    Done(Answer),
}

impl ResolveAddressStream {
    fn done(answer: Result<Vec<IpAddr>, ErrorCode>) -> Self {
        ResolveAddressStream(Lookup::Done(answer.map(Vec::into_iter)))
    }

    /// The answer, if the lookup has finished (polled without a waker:
    /// the guest waits through `subscribe`).
    fn answer(&mut self) -> Option<&mut Answer> {
        if let Lookup::Running(task) = &mut self.0 {
            let mut cx = Context::from_waker(Waker::noop());
            match Pin::new(task).poll(&mut cx) {
                Poll::Ready(result) => *self = Self::done(result),
                Poll::Pending => return None,
            }
        }
        match &mut self.0 {
            Lookup::Done(answer) => Some(answer),
            Lookup::Running(_) => None,
        }
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for ResolveAddressStream {
    async fn ready(&mut self) {
        if let Lookup::Running(task) = &mut self.0 {
            let result = task.await;
            *self = Self::done(result);
        }
    }
}

/// What the interface's host calls see of a component's store: its
/// resource table and its destinations.
pub(crate) struct LookupView<'a> {
    pub(crate) table: &'a mut ResourceTable,
    pub(crate) destinations: &'a Arc<Destinations>,
}

struct NameLookup;

impl HasData for NameLookup {
    type Data<'a> = LookupView<'a>;
}

/// Links this module's `wasi:sockets/ip-name-lookup` into `linker`, over
/// the one wasmtime-wasi added before (which must have been added: the
/// interface's types come from it).
pub(crate) fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    view: fn(&mut T) -> LookupView<'_>,
) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    let linked =
        generated::wasi::sockets::ip_name_lookup::add_to_linker::<T, NameLookup>(linker, view);
    linker.allow_shadowing(false);
    linked
}

/// An address written as text (`10.0.0.1`, `::1`, `[::1]`): its own
/// answer. Numbers that are not dotted quads are not addresses here.
fn literal(name: &str) -> Option<IpAddr> {
    let bare = name
        .strip_prefix('[')
        .and_then(|n| n.strip_suffix(']'))
        .unwrap_or(name);
    bare.parse().ok()
}

impl Host for LookupView<'_> {
    fn resolve_addresses(
        &mut self,
        network: Resource<Network>,
        name: String,
    ) -> Result<Resource<ResolveAddressStream>, SocketError> {
        // The network resource is the capability to call this; it must be
        // a live one, though nothing else of it is used.
        self.table.get(&network)?;
        let dest = self.destinations.clone();
        let policy = dest.policy();
        let denied = |shown: &str| {
            dest.deny_lookup(shown, None);
            SocketError::from(ErrorCode::AccessDenied)
        };
        if !policy.allows_network() {
            return Err(denied(&name.escape_debug().to_string()));
        }
        if let Some(ip) = literal(&name) {
            return Ok(self.table.push(ResolveAddressStream::done(Ok(vec![ip])))?);
        }
        let name = match rusm_caps::destination_name(&name) {
            Ok(n) => n,
            Err(HostPatternError::NumericHost(_)) => {
                return Err(denied(&name.escape_debug().to_string()));
            }
            Err(_) => return Err(ErrorCode::InvalidArgument.into()),
        };
        let how = match policy.check_lookup(&name) {
            Ok(how) => how,
            Err(HostDenied::BadName(_)) => return Err(ErrorCode::InvalidArgument.into()),
            Err(HostDenied::NoNetwork | HostDenied::Unlisted) => return Err(denied(&name)),
        };
        let task = wasmtime_wasi::runtime::spawn(resolve(dest, name, how));
        Ok(self
            .table
            .push(ResolveAddressStream(Lookup::Running(task)))?)
    }
}

/// Steps 2 to 4 of the module docs.
async fn resolve(
    dest: Arc<Destinations>,
    name: String,
    how: NameMatch,
) -> Result<Vec<IpAddr>, ErrorCode> {
    let answer = dest.resolver().lookup(&name).await.map_err(|e| {
        tracing::debug!(name, error = %e, "socket lookup failed");
        match e {
            LookupError::Timeout => ErrorCode::TemporaryResolverFailure,
            LookupError::Failed(_) => ErrorCode::NameUnresolvable,
        }
    })?;
    let mut allowed = Vec::with_capacity(answer.len());
    for ip in answer {
        if dest.policy().may_resolve_to(how, ip) {
            allowed.push(ip);
        } else {
            dest.deny_lookup(&name, Some(ip));
        }
    }
    if allowed.is_empty() {
        return Err(ErrorCode::AccessDenied);
    }
    dest.remember(name, &allowed);
    Ok(allowed)
}

/// The generated traits need `wasi:sockets/network`'s host side for their
/// error type; the interface's own functions are wasmtime-wasi's (linked
/// by it), so this is only the conversion, as wasmtime-wasi does it.
impl network::Host for LookupView<'_> {
    fn convert_error_code(&mut self, error: SocketError) -> wasmtime::Result<ErrorCode> {
        error.downcast()
    }

    fn network_error_code(
        &mut self,
        err: Resource<wasmtime_wasi::p2::bindings::io::error::Error>,
    ) -> wasmtime::Result<Option<ErrorCode>> {
        let err = self.table.get(&err)?;
        Ok(err.downcast_ref::<std::io::Error>().map(ErrorCode::from))
    }
}

impl network::HostNetwork for LookupView<'_> {
    fn drop(&mut self, this: Resource<Network>) -> wasmtime::Result<()> {
        self.table.delete(this)?;
        Ok(())
    }
}

impl HostResolveAddressStream for LookupView<'_> {
    fn resolve_next_address(
        &mut self,
        stream: Resource<ResolveAddressStream>,
    ) -> Result<Option<IpAddress>, SocketError> {
        let stream = self.table.get_mut(&stream)?;
        match stream.answer() {
            None => Err(ErrorCode::WouldBlock.into()),
            Some(Ok(addrs)) => Ok(addrs.next().map(IpAddress::from)),
            Some(Err(code)) => Err((*code).into()),
        }
    }

    fn subscribe(
        &mut self,
        stream: Resource<ResolveAddressStream>,
    ) -> wasmtime::Result<Resource<DynPollable>> {
        subscribe(self.table, stream)
    }

    fn drop(&mut self, stream: Resource<ResolveAddressStream>) -> wasmtime::Result<()> {
        self.table.delete(stream)?;
        Ok(())
    }
}
