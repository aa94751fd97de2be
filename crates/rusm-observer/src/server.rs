//! The listener: accept connections (within the bounds of `conn.rs`),
//! speak HTTP/1.1 or HTTP/2 (over TLS when configured), hand each request
//! to the routes.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use rusm_core::Node;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

use crate::ObserverError;
use crate::auth::Auth;
use crate::conn::{self, ListenerLimits};
use crate::history::History;
use crate::hooks::Hooks;

/// How to run the observer.
#[derive(Clone, Debug)]
pub struct ObserverConfig {
    /// Where to listen (port 0: any free port; see
    /// [`RunningObserver::local_addr`]).
    pub listen: SocketAddr,
    /// The token every request must carry; surrounding whitespace is
    /// trimmed, and an empty token is refused.
    pub token: String,
    /// Serve HTTPS with these PEM files.
    pub tls: Option<TlsFiles>,
    /// The node's store, for its commit counts in `/metrics`.
    pub kv: Option<rusm_kv::Store>,
    /// The listener's bounds: connections, timeouts, event streams.
    pub limits: ListenerLimits,
}

impl ObserverConfig {
    /// Plain HTTP on `listen`, guarded by `token`.
    pub fn new(listen: SocketAddr, token: String) -> Self {
        ObserverConfig {
            listen,
            token,
            tls: None,
            kv: None,
            limits: ListenerLimits::default(),
        }
    }
}

/// A certificate chain and its private key, PEM files.
#[derive(Clone, Debug)]
pub struct TlsFiles {
    /// The certificate chain.
    pub cert: PathBuf,
    /// The private key.
    pub key: PathBuf,
}

/// What every request handler shares.
pub(crate) struct Shared {
    pub(crate) node: Node,
    pub(crate) hooks: Arc<Hooks>,
    pub(crate) auth: Auth,
    pub(crate) history: Arc<History>,
    /// Whether the listener speaks TLS (the cookie is then `Secure`).
    pub(crate) tls: bool,
    pub(crate) kv: Option<rusm_kv::Store>,
    pub(crate) limits: ListenerLimits,
    /// One permit per live event stream (`max_event_streams`).
    pub(crate) event_streams: Arc<Semaphore>,
}

/// A running observer. Dropping it stops the listener and the sampler.
pub struct RunningObserver {
    addr: SocketAddr,
    tls: bool,
    tasks: Vec<JoinHandle<()>>,
}

impl RunningObserver {
    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its URL (`http://` or `https://`).
    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }
}

impl Drop for RunningObserver {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

fn tls_acceptor(files: &TlsFiles) -> Result<TlsAcceptor, ObserverError> {
    let bad = |path: &PathBuf, why: String| ObserverError::Tls {
        path: path.clone(),
        why,
    };
    let certs = CertificateDer::pem_file_iter(&files.cert)
        .map_err(|e| bad(&files.cert, e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(&files.cert, e.to_string()))?;
    if certs.is_empty() {
        return Err(bad(&files.cert, "no certificate in it".into()));
    }
    let key =
        PrivateKeyDer::from_pem_file(&files.key).map_err(|e| bad(&files.key, e.to_string()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| bad(&files.cert, e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| bad(&files.key, e.to_string()))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Start the observer of `node` on the current tokio runtime: bind, then
/// serve and sample in tasks of their own until the returned handle is
/// dropped.
pub async fn start(
    node: Node,
    hooks: Arc<Hooks>,
    config: ObserverConfig,
) -> Result<RunningObserver, ObserverError> {
    let token = config.token.trim();
    if token.is_empty() {
        return Err(ObserverError::EmptyToken);
    }
    let acceptor = config.tls.as_ref().map(tls_acceptor).transpose()?;
    let listener =
        TcpListener::bind(config.listen)
            .await
            .map_err(|source| ObserverError::Listen {
                addr: config.listen,
                source,
            })?;
    let addr = listener
        .local_addr()
        .map_err(|source| ObserverError::Listen {
            addr: config.listen,
            source,
        })?;
    hooks.attach(&node);
    let history = Arc::new(History::default());
    let sampler = tokio::spawn(history.clone().run(node.clone(), hooks.clone()));
    let shared = Arc::new(Shared {
        node,
        hooks,
        auth: Auth::new(token),
        history,
        tls: acceptor.is_some(),
        kv: config.kv,
        event_streams: Arc::new(Semaphore::new(config.limits.max_event_streams)),
        limits: config.limits,
    });
    let tls = acceptor.is_some();
    let server = tokio::spawn(accept_loop(listener, acceptor, shared));
    Ok(RunningObserver {
        addr,
        tls,
        tasks: vec![sampler, server],
    })
}

async fn accept_loop(listener: TcpListener, acceptor: Option<TlsAcceptor>, shared: Arc<Shared>) {
    let slots = Arc::new(Semaphore::new(shared.limits.max_connections));
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                // Out of file descriptors, most likely: wait instead of
                // spinning on the error.
                tracing::warn!(target: "rusm::observer", error = %e, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        // Full: close it now rather than leave it waiting (see `conn.rs`).
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tracing::debug!(target: "rusm::observer", %peer, "connection refused: max connections reached");
            drop(stream);
            continue;
        };
        let shared = shared.clone();
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            match acceptor {
                Some(acceptor) => {
                    let handshake = tokio::time::timeout(
                        shared.limits.handshake_timeout,
                        acceptor.accept(stream),
                    );
                    match handshake.await {
                        Ok(Ok(tls)) => conn::serve(tls, peer, shared).await,
                        Ok(Err(e)) => {
                            tracing::debug!(target: "rusm::observer", %peer, error = %e, "TLS handshake failed");
                        }
                        Err(_) => {
                            tracing::debug!(target: "rusm::observer", %peer, "TLS handshake timed out");
                        }
                    }
                }
                None => conn::serve(stream, peer, shared).await,
            }
            drop(slot);
        });
    }
}
