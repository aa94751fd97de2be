//! Standard WASI, cut down to a process's grants.
//!
//! Each grant maps onto a `WasiCtxBuilder` setting: preopens (none means no
//! filesystem at all), environment keys, stdio, and sockets through the
//! context's address check, which asks the process's `Destinations`
//! (`allow-hosts`, or public destinations only) and logs each refusal.
//! What is not granted is simply not configured,
//! and WASI's own defaults are closed: no preopens, no environment, empty
//! stdin, discarded output, no network.

use std::path::Path;
use std::sync::Arc;

use rusm_caps::Capabilities;
use wasmtime_wasi::sockets::SocketAddrUse;
use wasmtime_wasi::{FsPerms, WasiCtxBuilder};

use crate::destinations::Destinations;

/// A builder with exactly the grants of `caps`. `Err` is the reason the
/// process cannot start (a preopen whose host path is missing).
pub(crate) fn builder(
    caps: &Capabilities,
    args: &[String],
    env_dir: &Path,
    destinations: Option<&Arc<Destinations>>,
) -> Result<WasiCtxBuilder, String> {
    let mut b = WasiCtxBuilder::new();
    b.args(args);
    for p in &caps.preopens {
        let perms = if p.read_only {
            FsPerms::ReadOnly
        } else {
            FsPerms::ReadWrite
        };
        b.preopened_dir(&p.host, &p.guest, perms).map_err(|e| {
            format!(
                "preopen `{}` (as `{}`): {}",
                p.host.display(),
                p.guest,
                e.root_cause()
            )
        })?;
    }
    for (k, v) in rusm_caps::resolve_env(&caps.env, env_dir) {
        b.env(k, v);
    }
    if caps.allow_stdio {
        b.inherit_stdio();
    }
    if let Some(destinations) = destinations {
        let (net, listen) = (caps.allow_network, caps.allow_listen);
        let destinations = destinations.clone();
        b.inherit_network();
        // Sockets are off by default in wasmtime-wasi; the address check
        // below is what confines them to the grant.
        b.allow_tcp(true);
        b.allow_udp(true);
        // Name lookups are not wasmtime-wasi's (left off here): the node
        // answers them under the same destinations (`name_lookup.rs`), and
        // a connect to an address a permitted name resolved to is allowed
        // as that name's.
        b.socket_addr_check(move |addr, use_| {
            let allowed = match use_ {
                SocketAddrUse::TcpConnect | SocketAddrUse::UdpSend => {
                    destinations.check_connect(addr)
                }
                SocketAddrUse::TcpListen | SocketAddrUse::TcpAccept => listen,
                // A connect binds implicitly to a wildcard address with
                // port 0; an explicit bind to a port is listening.
                SocketAddrUse::TcpBind | SocketAddrUse::UdpBind => {
                    listen || (net && addr.port() == 0)
                }
                #[allow(unreachable_patterns)]
                _ => false,
            };
            Box::pin(async move { allowed })
        });
    }
    Ok(b)
}
