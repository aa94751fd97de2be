//! Who is in the cluster: foca's SWIM, run by one task that owns the foca
//! state. Everything reaches foca as a command on one channel (a datagram
//! from a peer, a timer that fired, an announce to a node just dialled, a
//! leave), and after each command the task carries out what foca asked for:
//! packets to send, timers to set, members that came up or went down.
//!
//! The timing is tuned for the contract's promise, a `kill -9`'d node
//! declared down within a second on loopback, while a live node that is
//! merely slow refutes its suspicion instead of being declared down:
//! a probe every 150 ms with a 60 ms round trip, then 250 ms of suspicion
//! during which the node's own gossip can clear it. Each member probes one
//! other per period, so with three nodes a dead one waits at most about
//! two periods to be probed: 2 × 150 + 150 + 250 ms ≈ 700 ms, with room
//! left for a busy machine.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::num::{NonZeroU8, NonZeroUsize};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use foca::{AccumulatingRuntime, Foca, OwnedNotification, PeriodicParams, PostcardCodec, Timer};
use rand::SeedableRng;
use rand::rngs::SmallRng;
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

use crate::transport::Inner;

/// A node as SWIM knows it: its name (the member's address in foca's
/// terms: one live identity per name), where it listens, and which run of
/// it this is. `creation` changes each time the node starts, so a
/// restarted node is a new member; `bump` changes when the node renews its
/// identity after being declared down while alive.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub(crate) struct NodeId {
    pub(crate) name: String,
    pub(crate) addr: SocketAddr,
    pub(crate) creation: u64,
    pub(crate) bump: u16,
}

impl foca::Identity for NodeId {
    type Addr = String;

    fn renew(&self) -> Option<Self> {
        Some(NodeId {
            bump: self.bump.wrapping_add(1),
            ..self.clone()
        })
    }

    fn addr(&self) -> String {
        self.name.clone()
    }

    fn win_addr_conflict(&self, adversary: &Self) -> bool {
        (self.creation, self.bump) > (adversary.creation, adversary.bump)
    }
}

/// How fast failures are detected.
#[derive(Clone, Copy, Debug)]
pub struct Timing {
    /// How often a member is probed.
    pub probe_period: Duration,
    /// How long a direct probe may take before indirect ones are sent.
    pub probe_rtt: Duration,
    /// How long a suspected member has to refute before it is down.
    pub suspect_to_down: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            probe_period: Duration::from_millis(150),
            probe_rtt: Duration::from_millis(60),
            suspect_to_down: Duration::from_millis(250),
        }
    }
}

/// What the membership task is asked to do.
pub(crate) enum Cmd {
    /// A SWIM packet from a peer.
    Data(Bytes),
    /// A timer foca set has fired.
    Timer(Timer<NodeId>),
    /// A node was dialled (a `join` address): introduce ourselves.
    Announce(NodeId),
    /// Leave the cluster; answered once the goodbye is sent.
    Leave(oneshot::Sender<()>),
}

/// The largest SWIM packet: under QUIC's smallest datagram room (1200-byte
/// packets less headers), so no packet is ever too big to send.
const MAX_PACKET: usize = 1000;

fn config(timing: Timing) -> foca::Config {
    let mut c = foca::Config::new_lan(std::num::NonZeroU32::new(8).expect("8 > 0"));
    c.probe_period = timing.probe_period;
    c.probe_rtt = timing.probe_rtt;
    c.suspect_to_down_after = timing.suspect_to_down;
    c.num_indirect_probes = NonZeroUsize::new(2).expect("2 > 0");
    c.max_transmissions = NonZeroU8::new(8).expect("8 > 0");
    c.max_packet_size = NonZeroUsize::new(MAX_PACKET).expect("> 0");
    c.remove_down_after = Some(Duration::from_secs(30));
    // Announcing now and then is how two halves of a healed partition, or
    // a node that was declared down while alive, find each other again.
    c.periodic_announce = Some(PeriodicParams {
        frequency: Duration::from_secs(2),
        num_members: NonZeroUsize::new(1).expect("1 > 0"),
    });
    c.periodic_announce_to_down_members = Some(PeriodicParams {
        frequency: Duration::from_secs(1),
        num_members: NonZeroUsize::new(2).expect("2 > 0"),
    });
    c
}

/// Runs SWIM for `me` until the command channel closes.
pub(crate) async fn run(
    inner: Arc<Inner>,
    me: NodeId,
    timing: Timing,
    mut commands: mpsc::Receiver<Cmd>,
) {
    let seed = me.creation ^ u64::from(std::process::id()).rotate_left(32);
    let mut foca = Foca::new(
        me,
        config(timing),
        SmallRng::seed_from_u64(seed),
        PostcardCodec,
    );
    let mut rt = AccumulatingRuntime::new();
    // foca stops its own timers when no member is left alive (two halves
    // of a partition would then never look for each other again): while
    // this node is alone, it announces itself to the members it lost.
    let mut lost: HashMap<String, NodeId> = HashMap::new();
    let mut alone = true;
    let mut retry = tokio::time::interval(Duration::from_secs(1));
    retry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let cmd = tokio::select! {
            cmd = commands.recv() => match cmd {
                Some(cmd) => cmd,
                None => return,
            },
            _ = retry.tick() => {
                if alone {
                    for id in lost.values() {
                        let _ = foca.announce(id.clone(), &mut rt);
                    }
                    carry_out(&inner, &mut rt, &mut lost, &mut alone);
                }
                continue;
            }
        };
        let result = match cmd {
            Cmd::Data(data) => foca.handle_data(&data, &mut rt),
            Cmd::Timer(timer) => foca.handle_timer(timer, &mut rt),
            Cmd::Announce(to) => foca.announce(to, &mut rt),
            Cmd::Leave(done) => {
                let result = foca.leave_cluster(&mut rt);
                carry_out(&inner, &mut rt, &mut lost, &mut alone);
                let _ = done.send(());
                if let Err(e) = result {
                    tracing::debug!(target: "rusm::cluster", "leave: {e}");
                }
                return;
            }
        };
        if let Err(e) = result {
            // A malformed or stale packet: SWIM shrugs it off, and so do we.
            tracing::debug!(target: "rusm::cluster", "membership: {e}");
        }
        carry_out(&inner, &mut rt, &mut lost, &mut alone);
    }
}

/// Does what foca asked for; keeps `lost` (members down, by name) and
/// `alone` (no member alive) up to date.
fn carry_out(
    inner: &Arc<Inner>,
    rt: &mut AccumulatingRuntime<NodeId>,
    lost: &mut HashMap<String, NodeId>,
    alone: &mut bool,
) {
    while let Some((to, data)) = rt.to_send() {
        inner.send_packet(&to, data);
    }
    while let Some((after, timer)) = rt.to_schedule() {
        let commands = inner.commands.clone();
        tokio::spawn(async move {
            tokio::time::sleep(after).await;
            // Never dropped: a lost timer would stop foca's probe cycle.
            let _ = commands.send(Cmd::Timer(timer)).await;
        });
    }
    while let Some(n) = rt.to_notify() {
        match n {
            OwnedNotification::MemberUp(id) => {
                lost.remove(&id.name);
                inner.member_up(&id);
            }
            OwnedNotification::MemberDown(id) => {
                inner.member_down(&id);
                // Bounded: one entry per node name ever seen down.
                lost.insert(id.name.clone(), id);
            }
            OwnedNotification::Rename(old, new) => {
                lost.remove(&new.name);
                inner.member_renamed(&old, &new);
            }
            OwnedNotification::Active => *alone = false,
            OwnedNotification::Idle => *alone = true,
            OwnedNotification::Defunct => {
                tracing::warn!(target: "rusm::cluster", "this node was declared down by the cluster")
            }
            _ => {}
        }
    }
}
