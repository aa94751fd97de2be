//! `tls = { cert, key }`: the observer speaks HTTPS, still behind the
//! token, and its session cookie is `Secure`. The certificate is made by
//! `openssl` for 127.0.0.1; the client is rustls trusting only it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rusm_core::{Node, NodeConfig};
use rusm_observer::{Hooks, ObserverConfig, TlsFiles};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::TOKEN;

async fn https(
    connector: &tokio_rustls::TlsConnector,
    addr: std::net::SocketAddr,
    request: String,
) -> String {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let name = ServerName::IpAddress(addr.ip().into());
    let mut tls = connector
        .connect(name, tcp)
        .await
        .expect("the TLS handshake");
    tls.write_all(request.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    let _ = tls.read_to_end(&mut out).await;
    String::from_utf8_lossy(&out).into_owned()
}

/// A self-signed certificate for 127.0.0.1 and its key, made by `openssl`
/// in `dir`.
pub(crate) fn certificate(dir: &Path) -> (PathBuf, PathBuf) {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let made = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=rusm-observer",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-addext",
            "basicConstraints=critical,CA:FALSE",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl runs");
    assert!(made.status.success(), "{made:?}");
    (cert, key)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_handshake_that_never_finishes_is_cut_off() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = certificate(dir.path());
    let o = crate::observed_with(|c| {
        c.tls = Some(TlsFiles { cert, key });
        c.limits.handshake_timeout = Duration::from_millis(400);
    })
    .await;
    let addr = o.observer.local_addr();
    // Half a ClientHello's record header, then nothing.
    let mut stalled = tokio::net::TcpStream::connect(addr).await.unwrap();
    stalled.write_all(&[0x16, 0x03, 0x01]).await.unwrap();
    let started = Instant::now();
    let mut buf = [0u8; 64];
    let read = tokio::time::timeout(Duration::from_secs(5), stalled.read(&mut buf))
        .await
        .expect("a stalled handshake was never cut off");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    let after = started.elapsed();
    assert!(
        after >= Duration::from_millis(300) && after < Duration::from_secs(3),
        "cut off after {after:?} with a 400 ms handshake timeout"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_with_the_token_and_401_without() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = certificate(dir.path());

    let hooks = Hooks::new();
    let node = Node::new(NodeConfig {
        lifecycle: Some(hooks.clone()),
        ..NodeConfig::default()
    });
    let mut config = ObserverConfig::new("127.0.0.1:0".parse().unwrap(), TOKEN.into());
    config.tls = Some(TlsFiles {
        cert: cert.clone(),
        key,
    });
    let observer = rusm_observer::start(node, hooks, config).await.unwrap();
    assert!(observer.url().starts_with("https://"));
    let addr = observer.local_addr();

    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(&cert).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let client = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client));

    let with = https(
        &connector,
        addr,
        format!("GET /api/processes HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {TOKEN}\r\nconnection: close\r\n\r\n"),
    )
    .await;
    assert!(with.starts_with("HTTP/1.1 200"), "{with}");
    let without = https(
        &connector,
        addr,
        "GET /metrics HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n".into(),
    )
    .await;
    assert!(without.starts_with("HTTP/1.1 401"), "{without}");
    let body = format!("token={TOKEN}");
    let signin = https(
        &connector,
        addr,
        format!("POST /signin HTTP/1.1\r\nhost: x\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len()),
    )
    .await;
    assert!(signin.starts_with("HTTP/1.1 303"), "{signin}");
    let cookie = signin
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("set-cookie:"))
        .expect("a cookie");
    assert!(cookie.contains("; Secure"), "{cookie}");
}
