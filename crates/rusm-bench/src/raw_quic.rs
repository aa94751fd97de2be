//! The floor under `cluster-ping-pong`: the same frames over a bare quinn
//! connection between the same two OS processes, with the same
//! certificates, QUIC version and cipher (TLS 1.3, ring), and no actor
//! core, distribution or frame queue in the way. A task writes a frame of
//! the size RUSM's data frame has (a 4-byte length, then the 25-byte
//! head of a message with no payload) on one bidirectional stream and reads
//! the echo back; the other side's task echoes on the same stream. What
//! RUSM's round trip costs above it is what the cluster adds to QUIC; what
//! this costs above the BEAM is the transport's own.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use rusm_cluster::certs::node_files;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// A length prefix and a data frame's head (kind, sender, receiver, tag).
const FRAME: usize = 4 + 1 + 8 + 8 + 8;

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Starts an echo server on 127.0.0.1 as node `name` (its certificate in
/// `certs`), for as long as the process lives.
pub(crate) fn echo_server(certs: &Path, name: &str) -> anyhow::Result<SocketAddr> {
    let (_, cert, key) = node_files(certs, name);
    let chain = CertificateDer::pem_file_iter(cert)?.collect::<Result<Vec<_>, _>>()?;
    let key = PrivateKeyDer::from_pem_file(key)?;
    let tls = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    let config = quinn::ServerConfig::with_crypto(Arc::new(QuicServerConfig::try_from(tls)?));
    let endpoint = quinn::Endpoint::server(config, "127.0.0.1:0".parse()?)?;
    let addr = endpoint.local_addr()?;
    tokio::spawn(async move {
        while let Some(incoming) = endpoint.accept().await {
            tokio::spawn(async move {
                let Ok(conn) = incoming.await else { return };
                while let Ok((mut send, mut recv)) = conn.accept_bi().await {
                    tokio::spawn(async move {
                        let mut buf = [0u8; FRAME];
                        while recv.read_exact(&mut buf).await.is_ok() {
                            if send.write_all(&buf).await.is_err() {
                                return;
                            }
                        }
                    });
                }
            });
        }
    });
    Ok(addr)
}

/// One stream to an [`echo_server`].
pub(crate) struct Client {
    send: quinn::SendStream,
    recv: quinn::RecvStream,
    // Kept: dropping the endpoint closes the connection.
    _endpoint: quinn::Endpoint,
    _conn: quinn::Connection,
}

/// Connects to node `name`'s echo server at `addr`, trusting the CA in
/// `certs`.
pub(crate) async fn connect(certs: &Path, name: &str, addr: SocketAddr) -> anyhow::Result<Client> {
    let mut roots = rustls::RootCertStore::empty();
    let (ca, _, _) = node_files(certs, name);
    for ca in CertificateDer::pem_file_iter(ca)? {
        roots.add(ca?)?;
    }
    let tls = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let config = quinn::ClientConfig::new(Arc::new(QuicClientConfig::try_from(tls)?));
    let mut endpoint = quinn::Endpoint::client("127.0.0.1:0".parse()?)?;
    endpoint.set_default_client_config(config);
    let conn = endpoint.connect(addr, name)?.await?;
    let (send, recv) = conn.open_bi().await?;
    Ok(Client {
        send,
        recv,
        _endpoint: endpoint,
        _conn: conn,
    })
}

impl Client {
    /// `rounds` round trips; how long they took and, if `timed`, each
    /// one's latency in nanoseconds.
    pub(crate) async fn round_trips(
        &mut self,
        rounds: u64,
        timed: bool,
    ) -> anyhow::Result<(Duration, Vec<u64>)> {
        let mut frame = [0u8; FRAME];
        frame[..4].copy_from_slice(&((FRAME - 4) as u32).to_le_bytes());
        let mut back = [0u8; FRAME];
        let mut latencies = Vec::with_capacity(if timed { rounds as usize } else { 0 });
        let start = Instant::now();
        for round in 0..rounds {
            let t = timed.then(Instant::now);
            frame[FRAME - 8..].copy_from_slice(&round.to_le_bytes());
            self.send.write_all(&frame).await?;
            self.recv.read_exact(&mut back).await?;
            anyhow::ensure!(back == frame, "the echo of round {round} differs");
            if let Some(t) = t {
                latencies.push(t.elapsed().as_nanos() as u64);
            }
        }
        Ok((start.elapsed(), latencies))
    }
}
