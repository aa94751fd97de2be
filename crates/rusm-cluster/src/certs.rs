//! `rusm cluster certs DIR NAME...`: a cluster CA and one certificate per
//! node (rcgen). The CA is made once: run again with new names and the
//! existing `DIR/ca.pem` + `DIR/ca.key` sign them, so a node can be added
//! to a running cluster. A node's files are never overwritten (a new key
//! for a running node is a decision, not a side effect).

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
};

/// Why certificates could not be made.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
    /// rcgen refused (a bad name, an unreadable key or CA).
    #[error("{0}")]
    Rcgen(#[from] rcgen::Error),
    /// A node's certificate or key already exists.
    #[error("{0} already exists: remove it first to give that node a new key")]
    Exists(PathBuf),
    /// Only one of `ca.pem` and `ca.key` exists.
    #[error("{0} is missing while the other half of the CA exists")]
    HalfCa(PathBuf),
}

/// The files of a directory [`make`] wrote: the CA's certificate, and
/// `name`'s certificate and key (what `[cluster]`'s `ca`, `cert` and `key`
/// name, and what [`Identity::from_dir`](crate::Identity::from_dir) loads).
pub fn node_files(dir: &Path, name: &str) -> (PathBuf, PathBuf, PathBuf) {
    (
        dir.join("ca.pem"),
        dir.join(format!("{name}.pem")),
        dir.join(format!("{name}.key")),
    )
}

/// Writes `DIR/ca.pem` and `DIR/ca.key` (unless both exist: then they sign)
/// and `DIR/NAME.pem` + `DIR/NAME.key` for each name; returns the files
/// written. Keys are written readable by their owner only.
pub fn make(dir: &Path, names: &[String]) -> Result<Vec<PathBuf>, CertError> {
    std::fs::create_dir_all(dir).map_err(|source| CertError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    for name in names {
        let (_, pem, key) = node_files(dir, name);
        for path in [pem, key] {
            if path.exists() {
                return Err(CertError::Exists(path));
            }
        }
    }
    let (ca_pem, ca_key) = (dir.join("ca.pem"), dir.join("ca.key"));
    let mut written = Vec::new();
    let issuer = match (ca_pem.is_file(), ca_key.is_file()) {
        (true, true) => {
            let key = KeyPair::from_pem(&read(&ca_key)?)?;
            Issuer::from_ca_cert_pem(&read(&ca_pem)?, key)?
        }
        (false, false) => {
            let mut params = CertificateParams::new(Vec::<String>::new())?;
            params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
            params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
            let mut dn = DistinguishedName::new();
            dn.push(DnType::CommonName, "rusm cluster CA");
            params.distinguished_name = dn;
            let key = KeyPair::generate()?;
            let key_pem = key.serialize_pem();
            let ca = CertifiedIssuer::self_signed(params.clone(), key)?;
            write(&ca_pem, ca.pem().as_bytes(), false)?;
            write(&ca_key, key_pem.as_bytes(), true)?;
            written.extend([ca_pem.clone(), ca_key.clone()]);
            Issuer::new(params, KeyPair::from_pem(&key_pem)?)
        }
        (true, false) => return Err(CertError::HalfCa(ca_key)),
        (false, true) => return Err(CertError::HalfCa(ca_pem)),
    };
    for name in names {
        let mut params = CertificateParams::new(vec![name.clone()])?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, name.as_str());
        params.distinguished_name = dn;
        // Every node is both a QUIC server and a client of the others.
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &issuer)?;
        let (_, pem, key_file) = node_files(dir, name);
        write(&pem, cert.pem().as_bytes(), false)?;
        write(&key_file, key.serialize_pem().as_bytes(), true)?;
        written.extend([pem, key_file]);
    }
    Ok(written)
}

fn read(path: &Path) -> Result<String, CertError> {
    std::fs::read_to_string(path).map_err(|source| CertError::Io {
        path: path.to_path_buf(),
        source,
    })
}

fn write(path: &Path, bytes: &[u8], secret: bool) -> Result<(), CertError> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    options.mode(if secret { 0o600 } else { 0o644 });
    let _ = secret;
    let io = |source| CertError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut file = options.open(path).map_err(io)?;
    file.write_all(bytes).map_err(io)?;
    file.sync_all().map_err(io)
}
