//! The links between nodes: one QUIC connection per pair of nodes, on one
//! UDP socket per node that both accepts and dials. A new connection is
//! trusted only after two checks: the TLS handshake (both certificates
//! chain to the cluster CA) and the hello, in which each side claims a
//! name and a run (`creation`) and the claim must be a name its
//! certificate carries.
//!
//! When both nodes of a pair dial each other at once, the connection
//! dialled by the node with the smaller name is kept and the other closed,
//! so both ends settle on the same one. A peer that restarted (a new
//! `creation`) always replaces its old connection.
//!
//! SWIM packets travel as QUIC datagrams on these connections: unreliable
//! and unordered, which is what SWIM is built for, while the connection's
//! streams stay free for ordered traffic between processes.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::frames::{self, Inbound};
use crate::lock;
use crate::membership::{self, Cmd, NodeId, Timing};
use crate::quic_task::QuicTask;
use crate::tls::{Identity, IdentityError, cert_names};

/// What a cluster node is told to be.
pub struct ClusterConfig {
    /// Its name and certificates.
    pub identity: Identity,
    /// The UDP address to listen on.
    pub listen: SocketAddr,
    /// Members to join through, `HOST:PORT`.
    pub join: Vec<String>,
    /// Failure detection timing.
    pub timing: Timing,
    /// Where frames from other nodes go ([`Cluster::send`]); `None` drops
    /// them.
    pub inbound: Option<Inbound>,
    /// This run's creation (see [`Cluster::creation`]); `None`: the time
    /// the node starts, in nanoseconds. A node whose pids must carry its
    /// creation before it joins chooses it itself.
    pub creation: Option<u64>,
    /// How long the node's QUIC task may spin, after it sent a packet,
    /// for the answer before its thread sleeps ([`DEFAULT_BUSY_WAIT`];
    /// zero: never). Trades a little CPU for latency, as the BEAM's
    /// scheduler busy-wait does.
    pub busy_wait: Duration,
}

/// [`ClusterConfig::busy_wait`] unless the manifest says otherwise: long
/// enough for a peer on the same network to answer a message.
pub const DEFAULT_BUSY_WAIT: Duration = Duration::from_micros(100);

/// Something that happened to the cluster, as this node sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A node became reachable.
    NodeUp(String),
    /// A node became unreachable (declared down, or it left).
    NodeDown(String),
}

/// Why a frame was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// The node is not reachable (unknown, down, or not yet connected).
    #[error("node unreachable")]
    Unreachable,
    /// Its queue is full: the peer is not keeping up.
    #[error("the node's queue is full")]
    Busy,
    /// Larger than any frame a node accepts.
    #[error("frame too large")]
    TooLarge,
}

/// Why a node could not join.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// The certificates could not be made into TLS configurations.
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// The UDP socket could not be bound.
    #[error("cannot listen on {addr} (UDP): {source}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

/// This node's membership of a cluster: started with [`Cluster::start`],
/// left with [`Cluster::leave`] (or by dropping it, which is what a crash
/// looks like to the others).
pub struct Cluster {
    inner: Arc<Inner>,
    tasks: Vec<JoinHandle<()>>,
}

/// QUIC application error codes.
const CLOSE_DUPLICATE: u32 = 1;
const CLOSE_REFUSED: u32 = 2;
const CLOSE_LEAVING: u32 = 3;
const CLOSE_DOWN: u32 = 4;

/// The error of a handshake refused because the other side's own
/// connection wins (see `Inner::own_connection_wins`).
const DUPLICATE: &str = "duplicate connection";

/// Whether the peer closed `conn` as a duplicate.
fn closed_as_duplicate(conn: &quinn::Connection) -> bool {
    matches!(
        conn.close_reason(),
        Some(quinn::ConnectionError::ApplicationClosed(ref c)) if c.error_code == CLOSE_DUPLICATE.into()
    )
}

/// The hello protocol's version.
const PROTOCOL: u16 = 1;
/// The largest hello accepted.
const MAX_HELLO: usize = 4096;
/// How long dialling plus the hello may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// Incoming connections being verified at once.
const MAX_HANDSHAKES: usize = 64;
/// Frames queued for one peer.
const FRAME_QUEUE: usize = 65_536;
/// Bytes queued for one peer: past it a send is refused (`Busy`), so a
/// peer that does not keep up cannot make this node buffer without end.
const QUEUED_BYTES: usize = 64 << 20;
/// Commands waiting for the membership task.
const COMMAND_QUEUE: usize = 1024;
/// Packets held for a node while its connection is being made.
const MAX_PENDING: usize = 32;

#[derive(Serialize, Deserialize)]
struct Hello {
    protocol: u16,
    id: NodeId,
}

struct Peer {
    conn: quinn::Connection,
    /// Frames for this peer, written in order by one task (`frames.rs`).
    frames: mpsc::Sender<Bytes>,
    /// The bytes of the frames in `frames`.
    queued: Arc<AtomicUsize>,
    /// Who dialled it.
    initiator: String,
    id: NodeId,
}

pub(crate) struct Inner {
    me: NodeId,
    endpoint: quinn::Endpoint,
    /// Runs the endpoint's drivers and every peer's frame reader and
    /// writer (see `quic_task.rs`).
    quic: QuicTask,
    peers: Mutex<HashMap<String, Peer>>,
    /// Packets waiting for a connection being made, by node name.
    pending: Mutex<HashMap<String, Vec<Bytes>>>,
    /// The reachable nodes.
    up: Mutex<BTreeMap<String, NodeId>>,
    /// Frames for reachable nodes with no connection yet (known through
    /// another member's gossip), with their bytes: sent once it is made.
    /// Locked only under `peers`, so a frame cannot slip between a
    /// connection's registration and the hand-over of what waited for it.
    waiting: Mutex<HashMap<String, (Vec<Bytes>, usize)>>,
    /// Nodes being dialled.
    dialling: Mutex<HashSet<String>>,
    events: mpsc::UnboundedSender<Event>,
    /// Bounded: a peer's datagrams beyond it are dropped (SWIM is built
    /// for lost packets), so no peer can make this node queue without end.
    pub(crate) commands: mpsc::Sender<Cmd>,
    /// Test switch: nodes whose traffic is dropped both ways.
    cut: Mutex<HashSet<String>>,
    inbound: Option<Inbound>,
}

impl Cluster {
    /// Binds the endpoint, starts SWIM and dials the `join` members (again
    /// and again, backing off, until some member is reachable). Events go to
    /// `events`.
    pub async fn start(
        config: ClusterConfig,
        events: mpsc::UnboundedSender<Event>,
    ) -> Result<Cluster, ClusterError> {
        let mut transport = quinn::TransportConfig::default();
        // One stream of frames per direction is all a node opens (frames.rs);
        // a peer opening more could make this node read (and buffer a
        // frame on) each of them.
        transport
            .max_concurrent_uni_streams(1u32.into())
            .max_concurrent_bidi_streams(1u32.into());
        transport
            .max_idle_timeout(Some(
                quinn::IdleTimeout::try_from(Duration::from_secs(10)).expect("10 s fits"),
            ))
            .keep_alive_interval(Some(Duration::from_secs(1)))
            .datagram_receive_buffer_size(Some(1 << 20));
        let transport = Arc::new(transport);
        let server_tls = QuicServerConfig::try_from(config.identity.server_config()?)
            .map_err(|e| IdentityError::Tls(rustls::Error::General(e.to_string())))?;
        let mut server = quinn::ServerConfig::with_crypto(Arc::new(server_tls));
        server.transport_config(transport.clone());
        let client_tls = QuicClientConfig::try_from(config.identity.client_config()?)
            .map_err(|e| IdentityError::Tls(rustls::Error::General(e.to_string())))?;
        let mut client = quinn::ClientConfig::new(Arc::new(client_tls));
        client.transport_config(transport);
        let quic = QuicTask::start(config.busy_wait);
        let listen = config.listen;
        let listen_error = move |source| ClusterError::Listen {
            addr: listen,
            source,
        };
        let socket = std::net::UdpSocket::bind(listen).map_err(listen_error)?;
        let mut endpoint = quinn::Endpoint::new(
            quinn::EndpointConfig::default(),
            Some(server),
            socket,
            Arc::new(quic.clone()),
        )
        .map_err(listen_error)?;
        endpoint.set_default_client_config(client);
        let addr = endpoint.local_addr().unwrap_or(config.listen);
        let creation = config.creation.unwrap_or_else(unix_nanos);
        let me = NodeId {
            name: config.identity.name.clone(),
            addr,
            creation,
            bump: 0,
        };
        let (commands, command_rx) = mpsc::channel(COMMAND_QUEUE);
        let inner = Arc::new(Inner {
            me: me.clone(),
            endpoint,
            quic,
            peers: Mutex::new(HashMap::new()),
            pending: Mutex::new(HashMap::new()),
            up: Mutex::new(BTreeMap::new()),
            waiting: Mutex::new(HashMap::new()),
            dialling: Mutex::new(HashSet::new()),
            events,
            commands,
            cut: Mutex::new(HashSet::new()),
            inbound: config.inbound,
        });
        let mut tasks = vec![
            tokio::spawn(membership::run(
                inner.clone(),
                me,
                config.timing,
                command_rx,
            )),
            tokio::spawn(accept(inner.clone())),
        ];
        for target in config.join {
            tasks.push(tokio::spawn(join(inner.clone(), target)));
        }
        Ok(Cluster { inner, tasks })
    }

    /// This node's name.
    pub fn name(&self) -> &str {
        &self.inner.me.name
    }

    /// This run of the node: changes every time it starts.
    pub fn creation(&self) -> u64 {
        self.inner.me.creation
    }

    /// The UDP address the node listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.inner.me.addr
    }

    /// The reachable nodes, this one included, sorted.
    pub fn nodes(&self) -> Vec<String> {
        self.handle().nodes()
    }

    /// A handle to send frames and read the membership with, for as long
    /// as the node is in the cluster.
    pub fn handle(&self) -> Handle {
        Handle(self.inner.clone())
    }

    /// Queues `frame` for `node` (see [`Handle::send`]).
    pub fn send(&self, node: &str, frame: Bytes) -> Result<(), SendError> {
        self.handle().send(node, frame)
    }

    /// Leaves the cluster: the others see this node down at once rather
    /// than after failure detection.
    pub async fn leave(self) {
        let (done, answered) = oneshot::channel();
        if self.inner.commands.send(Cmd::Leave(done)).await.is_ok() {
            let _ = tokio::time::timeout(Duration::from_secs(1), answered).await;
        }
        // Let the goodbye datagrams go out before the connections close.
        tokio::time::sleep(Duration::from_millis(50)).await;
        self.inner.endpoint.close(CLOSE_LEAVING.into(), b"leaving");
        let _ = tokio::time::timeout(Duration::from_secs(1), self.inner.endpoint.wait_idle()).await;
    }

    /// What busy-waiting (`ClusterConfig::busy_wait`) did so far: spins
    /// begun, spins that saw an answer come, and datagrams read at once
    /// after one.
    #[doc(hidden)]
    pub fn busy_wait_stats(&self) -> (u64, u64, u64) {
        self.inner.quic.busy_wait_stats()
    }

    /// Test-only partition switch: drop all traffic with `node` (both
    /// ways) while `cut` is true. The connection stays; SWIM sees silence.
    #[doc(hidden)]
    pub fn cut(&self, node: &str, cut: bool) {
        let mut set = lock(&self.inner.cut);
        if cut {
            set.insert(node.to_owned());
        } else {
            set.remove(node);
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Nanoseconds since the Unix epoch (1 if the clock is before it): a run's
/// creation, which must grow from one run of a node to the next (SWIM
/// takes the larger as the newer run), and a global name's registration
/// time.
pub fn unix_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64)
}

/// What the rest of a node holds of its cluster membership: sending
/// frames to other nodes and reading who is up. Cheap to clone; after the
/// node left, every send answers `Unreachable`.
#[derive(Clone)]
pub struct Handle(Arc<Inner>);

impl Handle {
    /// The reachable nodes, this one included, sorted.
    pub fn nodes(&self) -> Vec<String> {
        let mut nodes: BTreeSet<String> = lock(&self.0.up).keys().cloned().collect();
        nodes.insert(self.0.me.name.clone());
        nodes.into_iter().collect()
    }

    /// The creation of a reachable node (this one's too).
    pub fn creation_of(&self, node: &str) -> Option<u64> {
        if node == self.0.me.name {
            return Some(self.0.me.creation);
        }
        lock(&self.0.up).get(node).map(|id| id.creation)
    }

    /// Queues `frame` for `node`: frames to one node arrive in the order
    /// they were queued, at most once (a connection lost with frames in
    /// flight loses them).
    pub fn send(&self, node: &str, frame: Bytes) -> Result<(), SendError> {
        if frame.len() > frames::MAX_FRAME {
            return Err(SendError::TooLarge);
        }
        if self.0.is_cut(node) {
            // A partition loses traffic; it does not refuse it.
            return Ok(());
        }
        let peers = lock(&self.0.peers);
        let len = frame.len();
        let Some(peer) = peers.get(node) else {
            // Up (through someone's gossip) but not connected yet: the
            // frame waits for the connection, which is dialled now.
            let to = lock(&self.0.up)
                .get(node)
                .cloned()
                .ok_or(SendError::Unreachable)?;
            let mut waiting = lock(&self.0.waiting);
            let (frames, bytes) = waiting.entry(node.to_owned()).or_default();
            if *bytes + len > QUEUED_BYTES || frames.len() >= FRAME_QUEUE {
                return Err(SendError::Busy);
            }
            *bytes += len;
            frames.push(frame);
            drop(waiting);
            drop(peers);
            self.0.dial_if_needed(&to);
            return Ok(());
        };
        if !lock(&self.0.up).contains_key(node) {
            return Err(SendError::Unreachable);
        }
        if peer.queued.fetch_add(len, Ordering::AcqRel) + len > QUEUED_BYTES {
            peer.queued.fetch_sub(len, Ordering::AcqRel);
            return Err(SendError::Busy);
        }
        peer.frames.try_send(frame).map_err(|e| {
            peer.queued.fetch_sub(len, Ordering::AcqRel);
            match e {
                mpsc::error::TrySendError::Full(_) => SendError::Busy,
                mpsc::error::TrySendError::Closed(_) => SendError::Unreachable,
            }
        })
    }
}

impl Inner {
    fn is_cut(&self, name: &str) -> bool {
        lock(&self.cut).contains(name)
    }

    /// Sends a SWIM packet to `to`, dialling it first if there is no
    /// connection yet (the packet waits for it, within a bound).
    pub(crate) fn send_packet(self: &Arc<Self>, to: &NodeId, data: Bytes) {
        if self.is_cut(&to.name) {
            return;
        }
        let conn = lock(&self.peers).get(&to.name).map(|p| p.conn.clone());
        if let Some(conn) = conn
            && conn.close_reason().is_none()
        {
            let _ = conn.send_datagram(data);
            return;
        }
        let mut pending = lock(&self.pending);
        let queue = pending.entry(to.name.clone()).or_default();
        if queue.len() < MAX_PENDING {
            queue.push(data);
        }
        drop(pending);
        self.dial_if_needed(to);
    }

    /// Dials `to` unless a dial is under way (an entry in `pending` marks
    /// one). What waits for the connection is dropped if it fails.
    fn dial_if_needed(self: &Arc<Self>, to: &NodeId) {
        {
            let mut dialling = lock(&self.dialling);
            if !dialling.insert(to.name.clone()) {
                return;
            }
        }
        let inner = self.clone();
        let to = to.clone();
        tokio::spawn(async move {
            let result = dial(&inner, to.addr, Some(&to.name)).await;
            lock(&inner.dialling).remove(&to.name);
            // Refused because the peer's own connection to this node wins:
            // what waits goes on that one, as it registers (or went
            // already).
            if let Err(e) = result
                && e != DUPLICATE
            {
                tracing::debug!(target: "rusm::cluster", "dial {} at {}: {e}", to.name, to.addr);
                lock(&inner.pending).remove(&to.name);
                lock(&inner.waiting).remove(&to.name);
            }
        });
    }

    /// Whether a connection `id` dials in would lose to this node's own:
    /// `register` keeps the one that the node with the smaller name
    /// opened, so when that is this node and its own connection to `id`
    /// exists or is being made, the incoming one is refused during its
    /// handshake, before anyone sends a frame on it. (Refused later, by
    /// `register`, frames already sent on it would be lost.)
    fn own_connection_wins(&self, id: &NodeId) -> bool {
        if self.me.name >= id.name {
            return false;
        }
        let peers = lock(&self.peers);
        let connected = peers.get(&id.name).is_some_and(|p| {
            p.initiator == self.me.name
                && p.conn.close_reason().is_none()
                && p.id.creation == id.creation
        });
        drop(peers);
        connected || lock(&self.dialling).contains(&id.name)
    }

    pub(crate) fn member_up(&self, id: &NodeId) {
        if id.name != self.me.name && lock(&self.up).insert(id.name.clone(), id.clone()).is_none() {
            let _ = self.events.send(Event::NodeUp(id.name.clone()));
        }
    }

    pub(crate) fn member_down(&self, id: &NodeId) {
        if lock(&self.up).remove(&id.name).is_some() {
            let _ = self.events.send(Event::NodeDown(id.name.clone()));
        }
        if let Some(peer) = lock(&self.peers).remove(&id.name) {
            peer.conn.close(CLOSE_DOWN.into(), b"declared down");
        }
        lock(&self.waiting).remove(&id.name);
    }

    /// A node came back as a new run (or renewed itself): for its old
    /// processes it went down, and it is up again.
    pub(crate) fn member_renamed(&self, old: &NodeId, new: &NodeId) {
        if old.creation != new.creation
            && let Some(known) = lock(&self.up).get_mut(&new.name)
        {
            *known = new.clone();
            let _ = self.events.send(Event::NodeDown(new.name.clone()));
            let _ = self.events.send(Event::NodeUp(new.name.clone()));
        }
    }

    /// Keeps `conn` as the connection to `id` unless a better one exists;
    /// `false` when it was closed instead.
    fn register(&self, conn: &quinn::Connection, id: &NodeId, initiator: &str) -> bool {
        let mut peers = lock(&self.peers);
        if let Some(old) = peers.get(&id.name)
            && old.conn.close_reason().is_none()
            && old.conn.stable_id() != conn.stable_id()
            && old.id.creation == id.creation
            && old.initiator != initiator
        {
            let preferred = self.me.name.as_str().min(id.name.as_str());
            if old.initiator == preferred {
                conn.close(CLOSE_DUPLICATE.into(), b"duplicate");
                return false;
            }
        }
        let (frames, queue) = mpsc::channel(FRAME_QUEUE);
        let queued = Arc::new(AtomicUsize::new(0));
        self.quic
            .spawn(frames::write(conn.clone(), queue, queued.clone()));
        // What waited for this connection goes first, in order.
        if let Some((waiting, bytes)) = lock(&self.waiting).remove(&id.name) {
            queued.fetch_add(bytes, Ordering::AcqRel);
            for frame in waiting {
                if let Err(e) = frames.try_send(frame) {
                    queued.fetch_sub(e.into_inner().len(), Ordering::AcqRel);
                }
            }
        }
        let replaced = peers.insert(
            id.name.clone(),
            Peer {
                conn: conn.clone(),
                frames,
                queued,
                initiator: initiator.to_owned(),
                id: id.clone(),
            },
        );
        drop(peers);
        if let Some(old) = replaced
            && old.conn.stable_id() != conn.stable_id()
        {
            old.conn.close(CLOSE_DUPLICATE.into(), b"replaced");
        }
        let waiting = lock(&self.pending).remove(&id.name).unwrap_or_default();
        for data in waiting {
            let _ = conn.send_datagram(data);
        }
        true
    }
}

/// Accepts connections for as long as the endpoint is open. At most
/// [`MAX_HANDSHAKES`] are being verified at once; more are refused, so
/// strangers dialling in cannot make the node hold unbounded state.
async fn accept(inner: Arc<Inner>) {
    let handshakes = Arc::new(tokio::sync::Semaphore::new(MAX_HANDSHAKES));
    while let Some(incoming) = inner.endpoint.accept().await {
        let Ok(permit) = handshakes.clone().try_acquire_owned() else {
            incoming.refuse();
            continue;
        };
        let inner = inner.clone();
        tokio::spawn(async move {
            let remote = incoming.remote_address();
            let result = tokio::time::timeout(HANDSHAKE_TIMEOUT, async {
                let conn = incoming.await.map_err(|e| e.to_string())?;
                let (mut send, mut recv) = conn.accept_bi().await.map_err(|e| e.to_string())?;
                let hello = read_hello(&mut recv).await?;
                let id = check_claim(&inner, &conn, hello, None)?;
                if inner.own_connection_wins(&id) {
                    // Refused before the hello's answer: the dialler has
                    // sent nothing on it, and keeps what waits for this
                    // node until this node's own connection arrives.
                    conn.close(CLOSE_DUPLICATE.into(), b"duplicate");
                    return Err(DUPLICATE.to_string());
                }
                write_hello(&mut send, &inner.me).await?;
                Ok::<_, String>((conn, id))
            })
            .await
            .unwrap_or_else(|_| Err("handshake timed out".into()));
            drop(permit);
            match result {
                Ok((conn, id)) => {
                    let initiator = id.name.clone();
                    if inner.register(&conn, &id, &initiator) {
                        receive(inner, conn, id).await;
                    }
                }
                Err(e) if e == DUPLICATE => {}
                Err(e) => {
                    tracing::warn!(target: "rusm::cluster", "refused a node at {remote}: {e}")
                }
            }
        });
    }
}

/// Dials `addr` (expecting `name` when known), says hello, and starts
/// receiving from it; returns the peer's identity once connected.
async fn dial(inner: &Arc<Inner>, addr: SocketAddr, name: Option<&str>) -> Result<NodeId, String> {
    let (conn, id) = tokio::time::timeout(HANDSHAKE_TIMEOUT, async {
        // The server name is not what is checked (see tls.rs): the hello's
        // claim against the certificate is.
        let connecting = inner
            .endpoint
            .connect(addr, name.unwrap_or("rusm-node"))
            .map_err(|e| e.to_string())?;
        let conn = connecting.await.map_err(|e| e.to_string())?;
        let (mut send, mut recv) = conn.open_bi().await.map_err(|e| e.to_string())?;
        write_hello(&mut send, &inner.me).await?;
        let hello = match read_hello(&mut recv).await {
            Ok(hello) => hello,
            Err(_) if closed_as_duplicate(&conn) => return Err(DUPLICATE.to_string()),
            Err(e) => return Err(e),
        };
        let id = check_claim(inner, &conn, hello, name)?;
        Ok::<_, String>((conn, id))
    })
    .await
    .unwrap_or_else(|_| Err("handshake timed out".into()))?;
    let me = inner.me.name.clone();
    if inner.register(&conn, &id, &me) {
        let (inner, conn, peer) = (inner.clone(), conn, id.clone());
        tokio::spawn(receive(inner, conn, peer));
    }
    Ok(id)
}

/// Dials a `join` member until it answers, backing off up to 5 s between
/// tries, then introduces this node to it. Gives up once any member is
/// reachable through someone else.
async fn join(inner: Arc<Inner>, target: String) {
    let mut wait = Duration::from_millis(100);
    loop {
        let addrs: Vec<SocketAddr> = match tokio::net::lookup_host(&target).await {
            Ok(a) => a.collect(),
            Err(e) => {
                tracing::debug!(target: "rusm::cluster", "join {target}: {e}");
                Vec::new()
            }
        };
        for addr in addrs {
            if addr == inner.me.addr {
                return;
            }
            match dial(&inner, addr, None).await {
                Ok(id) => {
                    let _ = inner.commands.send(Cmd::Announce(id)).await;
                    return;
                }
                Err(e) => tracing::debug!(target: "rusm::cluster", "join {target} ({addr}): {e}"),
            }
        }
        if !lock(&inner.up).is_empty() {
            return;
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(Duration::from_secs(5));
    }
}

/// Hands the peer's SWIM datagrams to the membership task until the
/// connection ends.
async fn receive(inner: Arc<Inner>, conn: quinn::Connection, peer: NodeId) {
    if let Some(inbound) = inner.inbound.clone() {
        let (conn, from, inner) = (conn.clone(), peer.name.clone(), inner.clone());
        tokio::spawn(async move {
            while let Ok(stream) = conn.accept_uni().await {
                if inner.is_cut(&from) {
                    continue;
                }
                inner.quic.spawn(frames::read(
                    conn.clone(),
                    stream,
                    from.clone(),
                    inbound.clone(),
                    inner.quic.clone(),
                ));
            }
        });
    }
    while let Ok(data) = conn.read_datagram().await {
        if inner.is_cut(&peer.name) {
            continue;
        }
        match inner.commands.try_send(Cmd::Data(data)) {
            Ok(()) | Err(mpsc::error::TrySendError::Full(_)) => {}
            Err(mpsc::error::TrySendError::Closed(_)) => break,
        }
    }
    let mut peers = lock(&inner.peers);
    if peers
        .get(&peer.name)
        .is_some_and(|p| p.conn.stable_id() == conn.stable_id())
    {
        peers.remove(&peer.name);
    }
}

/// The peer's claimed identity, if its certificate carries the claimed
/// name (and it is the node we meant to reach, when we knew).
fn check_claim(
    inner: &Inner,
    conn: &quinn::Connection,
    hello: Hello,
    expected: Option<&str>,
) -> Result<NodeId, String> {
    let refuse = |why: String| {
        conn.close(CLOSE_REFUSED.into(), why.as_bytes());
        Err(why)
    };
    if hello.protocol != PROTOCOL {
        return refuse(format!(
            "speaks cluster protocol {}, not {PROTOCOL}",
            hello.protocol
        ));
    }
    let names = conn
        .peer_identity()
        .and_then(|i| {
            i.downcast::<Vec<rustls_pki_types::CertificateDer<'static>>>()
                .ok()
        })
        .and_then(|chain| chain.first().map(cert_names))
        .unwrap_or_default();
    let claimed = &hello.id.name;
    if !names.iter().any(|n| n == claimed) {
        return refuse(format!(
            "claims to be `{claimed}` with a certificate for {names:?}"
        ));
    }
    if let Some(expected) = expected
        && expected != claimed
    {
        return refuse(format!("is `{claimed}`, not `{expected}`"));
    }
    if *claimed == inner.me.name {
        return refuse(format!("claims this node's own name `{claimed}`"));
    }
    let mut id = hello.id;
    // A node listening on an unspecified address is reached where its
    // packets come from.
    if id.addr.ip().is_unspecified() {
        id.addr = SocketAddr::new(conn.remote_address().ip(), id.addr.port());
    }
    Ok(id)
}

async fn write_hello(send: &mut quinn::SendStream, me: &NodeId) -> Result<(), String> {
    let bytes = postcard::to_allocvec(&Hello {
        protocol: PROTOCOL,
        id: me.clone(),
    })
    .map_err(|e| e.to_string())?;
    let len = u32::try_from(bytes.len()).map_err(|e| e.to_string())?;
    send.write_all(&len.to_le_bytes())
        .await
        .map_err(|e| e.to_string())?;
    send.write_all(&bytes).await.map_err(|e| e.to_string())?;
    send.finish().map_err(|e| e.to_string())?;
    Ok(())
}

async fn read_hello(recv: &mut quinn::RecvStream) -> Result<Hello, String> {
    let mut len = [0u8; 4];
    recv.read_exact(&mut len).await.map_err(|e| e.to_string())?;
    let len = u32::from_le_bytes(len) as usize;
    if len > MAX_HELLO {
        return Err(format!("a hello of {len} bytes"));
    }
    let mut buf = vec![0; len];
    recv.read_exact(&mut buf).await.map_err(|e| e.to_string())?;
    postcard::from_bytes(&buf).map_err(|e| format!("a malformed hello: {e}"))
}
