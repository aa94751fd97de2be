//! A node's identity on the wire: QUIC's TLS 1.3 with certificates on both
//! sides, chained to the cluster's CA. The handshake proves "a node of this
//! cluster"; which node is proved afterwards, when the peer's hello claims a
//! name and the name must be one its certificate carries
//! ([`cert_names`]). A node does not know a peer's name when it joins
//! through a bare address, so the client-side check at the handshake is
//! the chain only (the name check follows, before anything else is
//! accepted from the connection).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::server::WebPkiClientVerifier;
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};

/// QUIC's application protocol name for node-to-node connections.
pub(crate) const ALPN: &[u8] = b"rusm-cluster/1";

/// Why a node's identity could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// A PEM file could not be read or holds nothing usable.
    #[error("{path}: {message}")]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// The node's own certificate does not carry its name.
    #[error("{cert} is a certificate for {names:?}, not for this node's name `{name}`")]
    WrongName {
        /// The certificate file.
        cert: PathBuf,
        /// The names it carries.
        names: Vec<String>,
        /// The node's name.
        name: String,
    },
    /// rustls refused the configuration.
    #[error("TLS: {0}")]
    Tls(#[from] rustls::Error),
}

/// This node's name, certificate chain and key, and the CA it trusts.
#[derive(Debug)]
pub struct Identity {
    pub(crate) name: String,
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    roots: Arc<RootCertStore>,
}

impl Identity {
    /// Loads the PEM files of `[cluster]`; the certificate must carry
    /// `name` (a node started with another node's files refuses to start).
    pub fn load(name: &str, ca: &Path, cert: &Path, key: &Path) -> Result<Identity, IdentityError> {
        Self::load_inner(name, ca, cert, key, false)
    }

    /// Loads `name`'s files from a directory `rusm cluster certs` wrote
    /// ([`crate::certs::node_files`]).
    pub fn from_dir(name: &str, dir: &Path) -> Result<Identity, IdentityError> {
        let (ca, cert, key) = crate::certs::node_files(dir, name);
        Self::load(name, &ca, &cert, &key)
    }

    /// Tests only: an identity that claims `name` whatever its certificate
    /// says, to show that the other nodes refuse it.
    #[doc(hidden)]
    pub fn load_claiming(
        name: &str,
        ca: &Path,
        cert: &Path,
        key: &Path,
    ) -> Result<Identity, IdentityError> {
        Self::load_inner(name, ca, cert, key, true)
    }

    fn load_inner(
        name: &str,
        ca: &Path,
        cert: &Path,
        key: &Path,
        lying: bool,
    ) -> Result<Identity, IdentityError> {
        let bad = |path: &Path, message: String| IdentityError::File {
            path: path.to_path_buf(),
            message,
        };
        let mut roots = RootCertStore::empty();
        let cas = CertificateDer::pem_file_iter(ca)
            .map_err(|e| bad(ca, e.to_string()))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| bad(ca, e.to_string()))?;
        if cas.is_empty() {
            return Err(bad(ca, "no certificate in it".into()));
        }
        for c in cas {
            roots.add(c).map_err(|e| bad(ca, e.to_string()))?;
        }
        let chain = CertificateDer::pem_file_iter(cert)
            .map_err(|e| bad(cert, e.to_string()))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| bad(cert, e.to_string()))?;
        let Some(leaf) = chain.first() else {
            return Err(bad(cert, "no certificate in it".into()));
        };
        let names = cert_names(leaf);
        if !names.iter().any(|n| n == name) && !lying {
            return Err(IdentityError::WrongName {
                cert: cert.to_path_buf(),
                names,
                name: name.to_owned(),
            });
        }
        let key = PrivateKeyDer::from_pem_file(key).map_err(|e| bad(key, e.to_string()))?;
        Ok(Identity {
            name: name.to_owned(),
            chain,
            key,
            roots: Arc::new(roots),
        })
    }

    /// The node's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    fn provider() -> Arc<CryptoProvider> {
        Arc::new(rustls::crypto::ring::default_provider())
    }

    /// The server half: TLS 1.3, a client certificate from the CA required.
    pub(crate) fn server_config(&self) -> Result<rustls::ServerConfig, IdentityError> {
        let provider = Self::provider();
        let clients =
            WebPkiClientVerifier::builder_with_provider(self.roots.clone(), provider.clone())
                .build()
                .map_err(|e| rustls::Error::General(e.to_string()))?;
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])?
            .with_client_cert_verifier(clients)
            .with_single_cert(self.chain.clone(), self.key.clone_key())?;
        config.alpn_protocols = vec![ALPN.to_vec()];
        Ok(config)
    }

    /// The client half: TLS 1.3, the server's chain checked against the
    /// CA (its name afterwards), this node's certificate presented.
    pub(crate) fn client_config(&self) -> Result<rustls::ClientConfig, IdentityError> {
        let provider = Self::provider();
        let inner =
            WebPkiServerVerifier::builder_with_provider(self.roots.clone(), provider.clone())
                .build()
                .map_err(|e| rustls::Error::General(e.to_string()))?;
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(ClusterCa { inner }))
            .with_client_auth_cert(self.chain.clone(), self.key.clone_key())?;
        config.alpn_protocols = vec![ALPN.to_vec()];
        Ok(config)
    }
}

/// The DNS names a certificate carries (its subject alternative names);
/// empty when it cannot be parsed.
pub fn cert_names(der: &CertificateDer<'_>) -> Vec<String> {
    use x509_parser::extensions::GeneralName;
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(der) else {
        return Vec::new();
    };
    let Ok(Some(san)) = cert.subject_alternative_name() else {
        return Vec::new();
    };
    san.value
        .general_names
        .iter()
        .filter_map(|n| match n {
            GeneralName::DNSName(d) => Some(d.to_ascii_lowercase()),
            _ => None,
        })
        .collect()
}

/// Checks a server's chain against the cluster CA for the name its own
/// certificate carries: everything webpki checks (chain, validity, usage)
/// except "is it the node I dialled", which the hello answers.
#[derive(Debug)]
struct ClusterCa {
    inner: Arc<WebPkiServerVerifier>,
}

impl ServerCertVerifier for ClusterCa {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let names = cert_names(end_entity);
        let name = names
            .first()
            .and_then(|n| ServerName::try_from(n.clone()).ok())
            .ok_or(rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForName,
            ))?;
        self.inner
            .verify_server_cert(end_entity, intermediates, &name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}
