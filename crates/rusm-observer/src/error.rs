//! What can go wrong starting the observer.

use std::path::PathBuf;

/// Why the observer could not start.
#[derive(Debug, thiserror::Error)]
pub enum ObserverError {
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source} (is another node or observer using it?)")]
    Listen {
        /// The address asked for.
        addr: std::net::SocketAddr,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The token is empty: an observer without a token would serve anyone.
    #[error("the observer token is empty: put a long random token in the token file")]
    EmptyToken,
    /// A TLS file could not be read or holds no usable PEM.
    #[error("observer TLS: cannot use {path}: {why}")]
    Tls {
        /// The certificate or key file.
        path: PathBuf,
        /// What is wrong with it.
        why: String,
    },
}
