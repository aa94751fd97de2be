//! The RUSM actor core: Erlang-style processes on tokio, with no WebAssembly
//! in sight.
//!
//! A [`Node`] runs *processes*. Each is one tokio task running an async
//! body, with a pid that is never reused, a mailbox, and relations to other
//! processes. Everything RUSM does with WebAssembly is one more kind of body
//! plugged in from another crate; native Rust bodies behave exactly the same
//! way, which is what this crate's tests check.
//!
//! The ideas a reader needs:
//!
//! - **Messages** are `(kind, sender, tag, data)`. `send` never blocks.
//!   [`Ctx::receive`] is a *selective* receive: it waits for the first
//!   message whose tag is in a set and leaves the others queued, in order.
//! - **Exits.** Every process ends with exactly one [`ExitReason`]. A body
//!   that returns, panics, or is stopped by a signal all go through one exit
//!   procedure, which marks the process dead under its lock and then tells
//!   its links and monitors. Because "dead" and "linked/monitored" are both
//!   decided under that lock, linking to or monitoring a dying process yields
//!   either its exit or `noproc`, never silence.
//! - **Signals stop bodies by aborting their task.** `kill`, a linked
//!   process's crash, or a `shutdown` record the reason and abort the tokio
//!   task; the body is dropped at its next await point. A body that traps
//!   exits gets `exit` messages instead (except for `kill`).
//! - **Supervisors** ([`SupervisorSpec`]) are ordinary processes built on
//!   links, monitors and `trap_exit`.
//! - **Host code learns an exit** from [`Node::spawn_watched`] (one
//!   process, an [`ExitWatch`]) or [`Node::spawn_watched_in`] (many, an
//!   [`ExitSet`] that gives each exit as it happens).
//!
//! ```
//! use rusm_core::{Node, NodeConfig, SpawnOptions, ExitReason};
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let node = Node::new(NodeConfig::default());
//! let echo = node.spawn(SpawnOptions::new().name("echo"), |ctx| async move {
//!     let m = ctx.receive_any().await;
//!     ctx.send(m.sender, m.tag, m.data).unwrap();
//! }).unwrap();
//! let done = node.wait(echo);
//! let asker = node.spawn(SpawnOptions::new(), move |ctx| async move {
//!     ctx.send(echo, 7, b"hi".to_vec()).unwrap();
//!     let reply = ctx.receive(&[7], None).await.unwrap();
//!     assert_eq!(reply.data, b"hi");
//! }).unwrap();
//! assert_eq!(done.await, Some(ExitReason::Normal));
//! assert_eq!(node.wait(asker).await.unwrap_or(ExitReason::Normal), ExitReason::Normal);
//! # });
//! ```

mod context;
mod error;
mod exit;
mod finish;
mod info;
mod links;
mod message;
mod node;
mod pid;
mod process;
mod receive;
mod reference;
mod registry;
mod remote;
mod spawn;
mod supervisor;
mod table;
mod timer;
mod usage;

pub use context::{Ctx, MAX_RECEIVE_TAGS};
pub use error::Error;
pub use exit::{ExitReason, IntoExitReason, MAX_REASON_BYTES, ParseExitReasonError, ReasonText};
pub use info::{
    INFO_LIST_LIMIT, MAX_LABEL_BYTES, NodeStats, ProcessInfo, ProcessState, ProcessSummary,
};
pub use message::{EXIT_TAG, Message, MessageKind};
pub use node::{LastPeer, Lifecycle, Node, NodeConfig};
pub use pid::{Pid, Ref};
pub use receive::Receive;
pub use reference::FIRST_REF;
pub use remote::Remote;
pub use spawn::{ExitSet, ExitWatch, ProcessQuota, SpawnOptions};
pub use supervisor::{ChildSpec, Restart, StartFn, Strategy, SupervisorSpec, replace_child};
pub use usage::Usage;
