//! Name lookups done by the node for one process, bounded.
//!
//! Both outbound paths that take a name (`wasi:sockets/ip-name-lookup` in
//! `name_lookup.rs`, outgoing HTTP in `outbound.rs`) look it up here, after
//! `Destinations` has checked the name and before it checks every answer
//! again. What the bounds are for: a lookup runs the system resolver
//! (`getaddrinfo`) on a blocking thread, which nothing can cancel, and the
//! node's blocking threads are shared by every process. So:
//!
//! - at most [`MAX_LOOKUPS_IN_FLIGHT`] lookups of one process run at once;
//!   the next waits for a slot. The slot is held by the blocking call
//!   itself, not by the future waiting on it, so a guest that starts a
//!   lookup and drops it at once still cannot have more than that many
//!   threads working for it;
//! - a lookup that has not answered within the deadline (`[network]
//!   connect-timeout-seconds`) is a timeout for the guest (the thread
//!   finishes on its own, still holding the slot);
//! - at most [`MAX_ADDRESSES`] addresses of an answer are kept.
//!
//! `localhost` and every name under `.localhost` are loopback without
//! asking the system (RFC 6761, section 6.3): such a name never leaves the
//! machine as a DNS query, and answers the same on every machine.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, ToSocketAddrs};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::sync::Semaphore;

/// Lookups of one process that may be running at once.
pub(crate) const MAX_LOOKUPS_IN_FLIGHT: usize = 4;

/// Addresses of one answer kept (the rest are dropped).
pub(crate) const MAX_ADDRESSES: usize = 32;

/// Why a lookup gave no address.
#[derive(Debug, thiserror::Error)]
pub(crate) enum LookupError {
    /// No answer within the deadline.
    #[error("name lookup timed out")]
    Timeout,
    /// The resolver answered with an error (no such name, no address).
    #[error("name lookup failed: {0}")]
    Failed(String),
}

/// The lookups of one process.
#[derive(Debug)]
pub(crate) struct Resolver {
    /// Made on the first lookup: most processes never look a name up, and
    /// an HTTP handler makes its destinations (and so this) per request.
    slots: OnceLock<Arc<Semaphore>>,
    timeout: Duration,
}

impl Resolver {
    pub(crate) fn new(timeout: Duration) -> Self {
        Resolver {
            slots: OnceLock::new(),
            timeout,
        }
    }

    /// The addresses of `name` (already checked and normalized: lowercase
    /// A-labels, no trailing dot), canonical (an IPv4-mapped answer is its
    /// IPv4 address), without duplicates, in the resolver's order.
    pub(crate) async fn lookup(&self, name: &str) -> Result<Vec<IpAddr>, LookupError> {
        if name == "localhost" || name.ends_with(".localhost") {
            return Ok(vec![
                IpAddr::V4(Ipv4Addr::LOCALHOST),
                IpAddr::V6(Ipv6Addr::LOCALHOST),
            ]);
        }
        let work = async {
            let slot = self
                .slots
                .get_or_init(|| Arc::new(Semaphore::new(MAX_LOOKUPS_IN_FLIGHT)))
                .clone()
                .acquire_owned()
                .await
                .expect("the semaphore is never closed");
            let query = name.to_owned();
            tokio::task::spawn_blocking(move || {
                let _slot = slot;
                (query.as_str(), 0)
                    .to_socket_addrs()
                    .map(|addrs| addrs.map(|a| a.ip().to_canonical()).collect::<Vec<_>>())
            })
            .await
        };
        match tokio::time::timeout(self.timeout, work).await {
            Err(_) => Err(LookupError::Timeout),
            Ok(Err(join)) => Err(LookupError::Failed(join.to_string())),
            Ok(Ok(Err(e))) => Err(LookupError::Failed(e.to_string())),
            Ok(Ok(Ok(all))) => {
                let mut addrs = Vec::with_capacity(all.len().min(MAX_ADDRESSES));
                for ip in all {
                    if addrs.len() == MAX_ADDRESSES {
                        break;
                    }
                    if !addrs.contains(&ip) {
                        addrs.push(ip);
                    }
                }
                if addrs.is_empty() {
                    return Err(LookupError::Failed("no address".into()));
                }
                Ok(addrs)
            }
        }
    }
}
