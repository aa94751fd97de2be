//! Ordered traffic between two nodes: each node writes to each peer on one
//! QUIC unidirectional stream of its connection, so whatever one node sends
//! another arrives in the order it was sent (what the contract promises
//! between one sender and one receiver, and more). A frame is a
//! little-endian `u32` length and that many bytes; what they mean is the
//! caller's ([`Inbound`]).
//!
//! Under load the writer takes every frame queued at that moment and hands
//! them to QUIC in one call, so many small messages share packets instead
//! of one write each. Readers and writers run on the node's QUIC task
//! (`quic_task.rs`), beside the connection that carries them.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use tokio::sync::mpsc;

use crate::quic_task::QuicTask;

/// Receives every frame a peer sent, with the peer's node name. Called on
/// the node's QUIC task, which drives every connection of the node: it
/// must hand the frame on, not work on it (all of the node's QUIC traffic
/// waits while it runs).
pub type Inbound = Arc<dyn Fn(&str, Bytes) + Send + Sync>;

/// The largest frame accepted from a peer (a message of the largest size a
/// manifest allows, with room for its head): a peer is a certified node,
/// but a bug on its side must not make this one allocate without end. With
/// one frame stream per connection (see `transport.rs`), a peer makes this
/// node hold at most one such frame at a time.
pub(crate) const MAX_FRAME: usize = 64 << 20;
/// The QUIC application error code for a peer that broke the framing.
pub(crate) const CLOSE_PROTOCOL: u32 = 5;
/// Frames handed to QUIC in one write, at most.
const BATCH: usize = 256;
/// A writer that writes one frame at a time still waits before one write
/// in this many, to see whether others would join it.
const PROBE: u32 = 16;

/// Writes the frames queued for one peer on a stream of `conn`, until the
/// queue closes (the connection was replaced or the node leaves) or the
/// connection fails. Frames queued when it fails are lost: delivery is at
/// most once.
pub(crate) async fn write(
    conn: quinn::Connection,
    mut queue: mpsc::Receiver<Bytes>,
    queued: Arc<AtomicUsize>,
) {
    let Ok(mut stream) = conn.open_uni().await else {
        return;
    };
    let mut chunks: Vec<Bytes> = Vec::with_capacity(2 * BATCH);
    // Whether the last write that could tell carried several frames: then
    // the next one waits for more before it goes (see below).
    let mut batching = false;
    let mut writes: u32 = 0;
    while let Some(first) = queue.recv().await {
        writes = writes.wrapping_add(1);
        // Under load, let the worker first run the other tasks that are
        // ready (processes answering the same packet, say), so that their
        // frames share this write: the wake of a yield comes once the
        // worker has nothing else to run, and wakes no other worker. A
        // lone frame goes at once, for latency; every PROBE-th write waits
        // anyway, to find out whether waiting gathers more.
        let waited = batching || writes.is_multiple_of(PROBE);
        if waited {
            tokio::task::yield_now().await;
        }
        let mut next = Some(first);
        while let Some(frame) = next {
            let Ok(len) = u32::try_from(frame.len()) else {
                // Refused by `Cluster::send` already; never on the wire.
                break;
            };
            queued.fetch_sub(frame.len(), Ordering::AcqRel);
            chunks.push(Bytes::copy_from_slice(&len.to_le_bytes()));
            chunks.push(frame);
            next = if chunks.len() < 2 * BATCH {
                queue.try_recv().ok()
            } else {
                None
            };
        }
        if waited || chunks.len() > 2 {
            batching = chunks.len() > 2;
        }
        if stream.write_all_chunks(&mut chunks).await.is_err() {
            return;
        }
        chunks.clear();
    }
    let _ = stream.finish();
}

/// Reads frames from one of a peer's streams and hands each to `inbound`,
/// until the stream ends. A frame longer than [`MAX_FRAME`] closes the
/// connection: the peer is broken, and its next connection starts clean.
pub(crate) async fn read(
    conn: quinn::Connection,
    mut stream: quinn::RecvStream,
    from: String,
    inbound: Inbound,
    quic: QuicTask,
) {
    loop {
        let mut len = [0u8; 4];
        if stream.read_exact(&mut len).await.is_err() {
            return;
        }
        let len = u32::from_le_bytes(len) as usize;
        if len > MAX_FRAME {
            tracing::warn!(target: "rusm::cluster", "{from} sent a frame of {len} bytes (at most {MAX_FRAME}); connection closed");
            conn.close(CLOSE_PROTOCOL.into(), b"frame too large");
            return;
        }
        let mut frame = vec![0; len];
        if stream.read_exact(&mut frame).await.is_err() {
            return;
        }
        inbound(&from, Bytes::from(frame));
        quic.delivered();
    }
}
