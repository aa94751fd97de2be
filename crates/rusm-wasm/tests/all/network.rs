//! Outbound destinations (`allow-hosts`, the public-only default) on the
//! socket path: a real component (`fixtures/tcp-connect.component.wat`)
//! connecting through `wasi:sockets` to real listeners on 127.0.0.1 and
//! ::1, or to addresses that the checker must refuse before any packet
//! leaves; and the same destinations through `wasi:http` with
//! `fixtures/http-get.component.wat` against a local hyper server (and a
//! rustls one). Each refusal is `access-denied` (sockets) or
//! `HTTP-request-denied` (HTTP) for the guest and a
//! `rusm deny <name>#<pid> connect <addr>` line at `warn`.

use std::net::{IpAddr, SocketAddr, TcpListener};
use std::sync::Arc;

use rusm_caps::{Capabilities, HostPattern};
use rusm_core::{ExitReason, NodeConfig};
use rusm_wasm::{OutboundOptions, RuntimeOptions, WasmRuntime};

use crate::{fixture, harness, warn_lines};

/// The tcp-connect fixture aimed at `addr` (IPv4 or IPv6).
fn tcp_connect_to(addr: SocketAddr) -> String {
    let template = fixture("tcp-connect.component.wat");
    let family = "(i32.const 0) ;;@family";
    let start = template
        .find("        (i32.const 0)\n        (i32.const 9) ;;@port")
        .expect("the ;;@port block");
    let end = template[start..].find(";;@addr").expect("the ;;@addr line") + start;
    let slots: Vec<u32> = match addr {
        SocketAddr::V4(a) => {
            let o = a.ip().octets();
            let mut v = vec![0, u32::from(a.port())];
            v.extend(o.iter().map(|&b| u32::from(b)));
            v.extend([0; 6]);
            v
        }
        SocketAddr::V6(a) => {
            let mut v = vec![1, u32::from(a.port()), 0];
            v.extend(a.ip().segments().iter().map(|&s| u32::from(s)));
            v.push(0);
            v
        }
    };
    assert_eq!(slots.len(), 12);
    let consts: Vec<String> = slots.iter().map(|n| format!("(i32.const {n})")).collect();
    let is_v6 = u32::from(addr.is_ipv6());
    let text = format!(
        "{}        {}{}",
        &template[..start],
        consts.join(" "),
        &template[end + ";;@addr".len()..]
    );
    assert!(text.contains(family));
    text.replace(family, &format!("(i32.const {is_v6})"))
}

fn hosts(list: &[&str]) -> Capabilities {
    let patterns: Vec<HostPattern> = list.iter().map(|p| p.parse().unwrap()).collect();
    Capabilities::builder(Capabilities::network_client())
        .allow_hosts(Some(patterns))
        .build()
}

/// Runs a connect to `addr` under `caps` as a process named `name`.
async fn connect(name: &str, addr: SocketAddr, caps: Capabilities) -> ExitReason {
    warn_lines();
    let h = harness();
    let guest = h.load(name, &tcp_connect_to(addr));
    h.run(&guest, caps).await
}

/// Asserts an `access-denied` refusal and its deny line.
async fn assert_denied(name: &str, addr: SocketAddr, caps: Capabilities) {
    match connect(name, addr, caps).await {
        ExitReason::Crashed(text) => {
            assert!(text.ends_with(": access-denied"), "{name}: {text}")
        }
        other => panic!("{name}: expected access-denied, got `{other}`"),
    }
    let want = format!(" connect {addr}");
    let lines = warn_lines();
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with(&format!("rusm deny {name}#")) && l.ends_with(&want)),
        "no deny line for {name} -> {addr} in {lines:#?}"
    );
}

fn listener(ip: &str) -> (TcpListener, SocketAddr) {
    let l = TcpListener::bind((ip.parse::<IpAddr>().unwrap(), 0)).unwrap();
    let addr = l.local_addr().unwrap();
    (l, addr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listed_address_answers() {
    let (_l, addr) = listener("127.0.0.1");
    let caps = hosts(&[&format!("127.0.0.1:{}", addr.port())]);
    assert_eq!(connect("sock-listed", addr, caps).await, ExitReason::Normal);
    let (_l6, addr6) = listener("::1");
    let caps = hosts(&[&format!("[::1]:{}", addr6.port())]);
    assert_eq!(
        connect("sock-listed6", addr6, caps).await,
        ExitReason::Normal
    );
    // A CIDR range lists it too.
    assert_eq!(
        connect("sock-cidr", addr, hosts(&["127.0.0.0/8"])).await,
        ExitReason::Normal
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unlisted_address_is_refused() {
    let (_l, addr) = listener("127.0.0.1");
    assert_denied(
        "sock-unlisted",
        addr,
        hosts(&["10.1.2.3", "api.example.com"]),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_port_outside_the_pattern_is_refused() {
    let (_l, addr) = listener("127.0.0.1");
    let other = addr.port().wrapping_add(1).max(1);
    assert_denied("sock-port", addr, hosts(&[&format!("127.0.0.1:{other}")])).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_refuses_internal_addresses() {
    let (_l, addr) = listener("127.0.0.1");
    let client = Capabilities::network_client;
    assert_denied("sock-loopback", addr, client()).await;
    let (_l6, addr6) = listener("::1");
    assert_denied("sock-loopback6", addr6, client()).await;
    // Refused by the check, before any connect: nothing leaves the machine.
    // (An IPv4-mapped address, `[::ffff:127.0.0.1]`, never reaches the
    // check on a socket: wasmtime-wasi refuses it as `invalid-argument`;
    // rusm-caps' tests judge it by its embedded address.)
    for (name, target) in [
        ("sock-private", "10.0.0.1:80"),
        ("sock-metadata", "169.254.169.254:80"),
        ("sock-ula", "[fd00::1]:80"),
    ] {
        assert_denied(name, target.parse().unwrap(), client()).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trusted_reaches_loopback() {
    let (_l, addr) = listener("127.0.0.1");
    assert_eq!(
        connect("sock-trusted", addr, Capabilities::trusted()).await,
        ExitReason::Normal
    );
    let (_l6, addr6) = listener("::1");
    assert_eq!(
        connect("sock-trusted6", addr6, Capabilities::trusted()).await,
        ExitReason::Normal
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ipv4_mapped_address_is_refused_by_wasmtime_before_the_check() {
    // wasmtime-wasi refuses an IPv4-mapped destination on a socket itself
    // (`invalid-argument`), before the address check runs: even where
    // 127.0.0.1 is allowed, and with no deny line, since the checker never
    // saw it. (Over HTTP the node judges it by its embedded address.)
    let (_l, addr) = listener("127.0.0.1");
    let mapped = SocketAddr::new(
        IpAddr::V6(std::net::Ipv4Addr::LOCALHOST.to_ipv6_mapped()),
        addr.port(),
    );
    for (name, caps) in [
        ("sock-mapped-trusted", Capabilities::trusted()),
        ("sock-mapped-listed", hosts(&["127.0.0.1"])),
        ("sock-mapped-default", Capabilities::network_client()),
    ] {
        assert_eq!(
            connect(name, mapped, caps).await.to_string(),
            "crashed: start-connect: invalid-argument",
            "{name}"
        );
        assert_no_deny_line(name);
    }
}

// ---------------------------------------------------------------------
// Names on the socket path: `fixtures/lookup-connect.component.wat` looks
// a name up through `wasi:sockets/ip-name-lookup` (answered by the node)
// and connects to the first address it gets. `localhost` and names under
// `.localhost` are loopback by the node's own rule (RFC 6761), so these
// run the same on every machine.

/// Looks `host` up and connects to its first address at `port`, as a
/// process named `name` under `caps`.
async fn lookup_connect(name: &str, host: &str, port: u16, caps: Capabilities) -> ExitReason {
    warn_lines();
    let h = harness();
    let wat = fixture("lookup-connect.component.wat")
        .replace("{{NAME_LEN}}", &host.len().to_string())
        .replace("{{NAME}}", host)
        .replace("{{PORT}}", &port.to_string());
    let guest = h.load(name, &wat);
    h.run(&guest, caps).await
}

/// Asserts that a `rusm deny` line of process `name` ends with `tail`.
fn assert_deny_line(name: &str, tail: &str) {
    let lines = warn_lines();
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with(&format!("rusm deny {name}#")) && l.ends_with(tail)),
        "no deny line for {name} ending `{tail}` in {lines:#?}"
    );
}

fn assert_no_deny_line(name: &str) {
    let lines = warn_lines();
    let prefix = format!("rusm deny {name}#");
    assert!(
        !lines.iter().any(|l| l.starts_with(&prefix)),
        "a deny line for {name} in {lines:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listed_name_is_looked_up_and_reached_over_a_socket() {
    let (_l, addr) = listener("127.0.0.1");
    let port = addr.port();
    // Listed exactly: looked up by the node, and the connect to what it
    // resolved to is allowed as the name's, loopback included.
    for (name, host) in [("look-listed", "localhost"), ("look-sub", "api.localhost")] {
        let caps = hosts(&[&format!("{host}:{port}")]);
        assert_eq!(
            lookup_connect(name, host, port, caps).await,
            ExitReason::Normal,
            "{name}"
        );
        assert_no_deny_line(name);
    }
    // Any case, and a trailing dot, are the same name.
    let caps = hosts(&[&format!("api.localhost:{port}")]);
    assert_eq!(
        lookup_connect("look-case", "API.LocalHost.", port, caps).await,
        ExitReason::Normal
    );
    // `trusted` looks anything up and reaches loopback.
    assert_eq!(
        lookup_connect("look-trusted", "localhost", port, Capabilities::trusted()).await,
        ExitReason::Normal
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resolved_name_is_reached_only_at_its_ports() {
    // The lookup is allowed (the name is listed at another port), the
    // connect to the address it gave is not: the connect asks again with
    // its port.
    let (_l, addr) = listener("127.0.0.1");
    let other = addr.port().wrapping_add(1).max(1);
    let caps = hosts(&[&format!("localhost:{other}")]);
    // wasmtime-wasi runs the address check as part of the connect, so the
    // refusal comes from `start-connect` or from `finish-connect`.
    let reason = lookup_connect("look-port", "localhost", addr.port(), caps)
        .await
        .to_string();
    assert!(
        reason == "crashed: start-connect: access-denied"
            || reason == "crashed: finish-connect: access-denied",
        "{reason}"
    );
    assert_deny_line("look-port", &format!(" connect {addr}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unlisted_name_is_refused_before_it_is_looked_up() {
    let (_l, addr) = listener("127.0.0.1");
    let caps = || hosts(&["api.example.com:443", "10.0.0.0/8"]);
    for (name, host) in [
        ("look-unlisted", "localhost"),
        ("look-unlisted-sub", "db.localhost"),
    ] {
        assert_eq!(
            lookup_connect(name, host, addr.port(), caps())
                .await
                .to_string(),
            "crashed: resolve-addresses: access-denied",
            "{name}"
        );
        assert_deny_line(name, &format!(" lookup {host}"));
    }
    // A number written as a host is never guessed at, even under `*`.
    for caps in [caps(), Capabilities::trusted()] {
        assert_eq!(
            lookup_connect("look-numeric", "2130706433", addr.port(), caps)
                .await
                .to_string(),
            "crashed: resolve-addresses: access-denied"
        );
        assert_deny_line("look-numeric", " lookup 2130706433");
    }
    // Without allow-network, the same refusal.
    assert_eq!(
        lookup_connect(
            "look-sandboxed",
            "localhost",
            addr.port(),
            Capabilities::sandboxed()
        )
        .await
        .to_string(),
        "crashed: resolve-addresses: access-denied"
    );
    assert_deny_line("look-sandboxed", " lookup localhost");
    // Text that is no host name is an invalid argument, as wasmtime-wasi
    // has it.
    assert_eq!(
        lookup_connect("look-invalid", "a b", addr.port(), Capabilities::trusted())
            .await
            .to_string(),
        "crashed: resolve-addresses: invalid-argument"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wildcard_name_resolving_to_loopback_is_refused() {
    // DNS rebinding on the socket path: a name allowed only by `*.suffix`
    // (or by the public-only default) that resolves to an internal address
    // gets none of it; each answer held back is a deny line.
    let (_l, addr) = listener("127.0.0.1");
    let port = addr.port();
    for (name, host, caps) in [
        ("look-wild", "api.localhost", hosts(&["*.localhost"])),
        ("look-default", "localhost", Capabilities::network_client()),
        (
            "look-default-sub",
            "api.localhost",
            Capabilities::network_client(),
        ),
    ] {
        assert_eq!(
            lookup_connect(name, host, port, caps).await.to_string(),
            "crashed: resolve-next-address: access-denied",
            "{name}"
        );
        assert_deny_line(name, &format!(" lookup {host} -> 127.0.0.1"));
        assert_deny_line(name, &format!(" lookup {host} -> ::1"));
    }
    // An answer that is listed itself is handed out (and only it): the
    // wildcard name reaches the listed address.
    let caps = hosts(&["*.localhost", &format!("127.0.0.1:{port}")]);
    assert_eq!(
        lookup_connect("look-wild-listed", "api.localhost", port, caps).await,
        ExitReason::Normal
    );
    assert_deny_line("look-wild-listed", " lookup api.localhost -> ::1");
}

// ---------------------------------------------------------------------
// The HTTP path: `fixtures/http-get.component.wat` through
// `wasi:http/outgoing-handler`, against a local hyper server.

pub(crate) mod server {
    //! A local HTTP/1 server (hyper) on an ephemeral port: `200 hello` to
    //! every request; with a TLS acceptor, HTTPS.

    use std::convert::Infallible;
    use std::net::SocketAddr;
    use std::sync::Arc;

    use bytes::Bytes;
    use http_body_util::Full;
    use hyper::service::service_fn;
    use hyper_util::rt::TokioIo;

    /// Arrival times of the requests a recording server answered.
    pub(crate) type Arrivals = Arc<std::sync::Mutex<Vec<std::time::Instant>>>;

    /// A plain HTTP server like [`start`]'s that records when each request
    /// arrived.
    pub(crate) async fn start_recording(ip: &str) -> (SocketAddr, Arrivals) {
        let (addr, arrivals, _) = start_counting(ip).await;
        (addr, arrivals)
    }

    /// The same, also counting the connections it accepted.
    pub(crate) async fn start_counting(
        ip: &str,
    ) -> (SocketAddr, Arrivals, Arc<std::sync::atomic::AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind((ip, 0)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let arrivals = Arrivals::default();
        let seen = arrivals.clone();
        let connections = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let accepted = connections.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                accepted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let seen = seen.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |_req| {
                        seen.lock().unwrap().push(std::time::Instant::now());
                        async {
                            Ok::<_, Infallible>(hyper::Response::new(Full::new(
                                Bytes::from_static(b"hello"),
                            )))
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        (addr, arrivals, connections)
    }

    /// Serves until dropped (the task ends with the runtime).
    pub(crate) async fn start(ip: &str, tls: Option<Arc<rustls::ServerConfig>>) -> SocketAddr {
        let listener = tokio::net::TcpListener::bind((ip, 0)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let service = service_fn(|_req| async {
                        Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from_static(
                            b"hello",
                        ))))
                    });
                    let http = hyper::server::conn::http1::Builder::new();
                    match acceptor {
                        Some(a) => {
                            if let Ok(tls) = a.accept(stream).await {
                                let _ = http.serve_connection(TokioIo::new(tls), service).await;
                            }
                        }
                        None => {
                            let _ = http.serve_connection(TokioIo::new(stream), service).await;
                        }
                    }
                });
            }
        });
        addr
    }
}

/// The http-get fixture for `scheme://authority/path`, `count` times.
pub(crate) fn http_get(https: bool, authority: &str, count: u32) -> String {
    http_get_held(https, authority, count, 0)
}

/// The same, each response held unread for `hold_ms` before it is dropped.
fn http_get_held(https: bool, authority: &str, count: u32, hold_ms: u64) -> String {
    http_get_with(https, authority, count, hold_ms, false, None)
}

/// The fixture in any of its modes (`overlap`: two requests, the second
/// sent while the first's response is held for `hold_ms`; `read`: one
/// request whose body is read, with this between-bytes timeout in ms).
fn http_get_with(
    https: bool,
    authority: &str,
    count: u32,
    hold_ms: u64,
    overlap: bool,
    read: Option<u64>,
) -> String {
    let path = "/hello";
    fixture("http-get.component.wat")
        .replace("{{SCHEME}}", if https { "1" } else { "0" })
        .replace("{{AUTHORITY_LEN}}", &authority.len().to_string())
        .replace("{{AUTHORITY}}", authority)
        .replace("{{PATH_LEN}}", &path.len().to_string())
        .replace("{{PATH}}", path)
        .replace("{{HOLD_MS}}", &hold_ms.to_string())
        .replace("{{OVERLAP}}", if overlap { "1" } else { "0" })
        .replace("{{READ}}", if read.is_some() { "1" } else { "0" })
        .replace("{{BETWEEN_MS}}", &read.unwrap_or(0).to_string())
        .replace("{{COUNT}}", &count.to_string())
}

async fn get(name: &str, authority: &str, caps: Capabilities) -> ExitReason {
    warn_lines();
    let h = harness();
    let guest = h.load(name, &http_get(false, authority, 1));
    h.run(&guest, caps).await
}

/// Asserts `HTTP-request-denied` (error-code case 15) and a deny line
/// naming `dest`.
async fn assert_http_denied(name: &str, authority: &str, caps: Capabilities, dest: &str) {
    assert_eq!(
        get(name, authority, caps).await.to_string(),
        "crashed: error 15",
        "{name}"
    );
    let lines = warn_lines();
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with(&format!("rusm deny {name}#"))
                && l.ends_with(&format!(" connect {dest}"))),
        "no deny line for {name} -> {dest} in {lines:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_to_a_listed_host_answers() {
    let addr = server::start("127.0.0.1", None).await;
    let caps = hosts(&[&format!("127.0.0.1:{}", addr.port())]);
    assert_eq!(
        get("http-listed", &addr.to_string(), caps).await,
        ExitReason::Normal
    );
    // A name listed exactly may go wherever it resolves, loopback included.
    let by_name = format!("localhost:{}", addr.port());
    let caps = hosts(&[&by_name]);
    assert_eq!(get("http-name", &by_name, caps).await, ExitReason::Normal);
    let addr6 = server::start("::1", None).await;
    let caps = hosts(&["::1"]);
    assert_eq!(
        get("http-listed6", &addr6.to_string(), caps).await,
        ExitReason::Normal
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_to_an_unlisted_host_is_denied() {
    let addr = server::start("127.0.0.1", None).await;
    let caps = || hosts(&["10.1.2.3", "api.example.com:443"]);
    assert_http_denied(
        "http-unlisted",
        &addr.to_string(),
        caps(),
        &addr.to_string(),
    )
    .await;
    // An unlisted name is refused before it is looked up.
    let name = format!("localhost:{}", addr.port());
    assert_http_denied("http-unlisted-name", &name, caps(), &name).await;
    // Numbers written as hosts are never guessed at.
    assert_http_denied(
        "http-numeric",
        "2130706433:80",
        a_name_list(),
        "2130706433:80",
    )
    .await;
}

fn a_name_list() -> Capabilities {
    hosts(&["api.example.com"])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_under_the_default_refuses_internal_addresses() {
    let addr = server::start("127.0.0.1", None).await;
    let client = Capabilities::network_client;
    assert_http_denied(
        "http-loopback",
        &addr.to_string(),
        client(),
        &addr.to_string(),
    )
    .await;
    // A name allowed only by the default (or a wildcard) that resolves to
    // loopback: DNS rebinding, refused at the resolved address.
    let name = format!("localhost:{}", addr.port());
    assert_http_denied("http-rebind", &name, client(), &addr.to_string()).await;
    for (name, target) in [
        ("http-metadata", "169.254.169.254:80"),
        ("http-private", "10.0.0.1:80"),
        ("http-mapped", "[::ffff:127.0.0.1]:80"),
    ] {
        let shown = target.parse::<SocketAddr>().unwrap().to_string();
        assert_http_denied(name, target, client(), &shown).await;
    }
    // Without allow-network at all, the same refusal.
    assert_http_denied(
        "http-sandboxed",
        &addr.to_string(),
        Capabilities::sandboxed(),
        &addr.to_string(),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_to_a_port_outside_the_pattern_is_denied() {
    let addr = server::start("127.0.0.1", None).await;
    let other = addr.port().wrapping_add(1).max(1);
    let caps = hosts(&[&format!("127.0.0.1:{other}")]);
    assert_http_denied("http-port", &addr.to_string(), caps, &addr.to_string()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_under_trusted_reaches_loopback() {
    let addr = server::start("127.0.0.1", None).await;
    assert_eq!(
        get("http-trusted", &addr.to_string(), Capabilities::trusted()).await,
        ExitReason::Normal
    );
}

/// A CA made here, and a `localhost` server certificate it signed: the
/// server's TLS config and the CA's PEM.
fn test_ca() -> (Arc<rustls::ServerConfig>, String) {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    let cert = params.signed_by(&key, &ca).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            rustls_pki_types::PrivateKeyDer::try_from(key.serialize_der()).unwrap(),
        )
        .unwrap();
    (Arc::new(config), ca.pem())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_trusts_extra_roots_and_only_them() {
    let (tls, ca_pem) = test_ca();
    let addr = server::start("127.0.0.1", Some(tls)).await;
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("test-ca.pem");
    std::fs::write(&ca_file, ca_pem).unwrap();
    let authority = format!("localhost:{}", addr.port());
    let caps = || hosts(&[&authority]);

    let with_ca = crate::harness_with(
        RuntimeOptions {
            outbound: OutboundOptions {
                extra_roots: vec![ca_file],
                ..OutboundOptions::default()
            },
            ..RuntimeOptions::default()
        },
        NodeConfig::default(),
    );
    let guest = with_ca.load("https-ok", &http_get(true, &authority, 1));
    assert_eq!(with_ca.run(&guest, caps()).await, ExitReason::Normal);

    // The same server without the CA among the roots: 13 is
    // `TLS-certificate-error`.
    let without = harness();
    let guest = without.load("https-untrusted", &http_get(true, &authority, 1));
    assert_eq!(
        without.run(&guest, caps()).await.to_string(),
        "crashed: error 13"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_extra_root_that_is_not_a_certificate_stops_the_runtime() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.pem");
    std::fs::write(&bad, "not a certificate").unwrap();
    let options = RuntimeOptions {
        outbound: OutboundOptions {
            extra_roots: vec![bad],
            ..OutboundOptions::default()
        },
        ..RuntimeOptions::default()
    };
    let node = rusm_core::Node::new(NodeConfig::default());
    let err = match WasmRuntime::new(node, rusm_wasm::WasmConfig::default(), options) {
        Ok(_) => panic!("a runtime with an unusable extra root"),
        Err(e) => format!("{e:#}"),
    };
    assert!(
        err.contains("bad.pem") && err.contains("no PEM certificate"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_response_gives_its_request_slot_back() {
    // One request in flight at most: each of the five sequential requests
    // needs the slot the previous response (dropped unread) held; a slot
    // that leaked would leave the guest waiting until the harness gives up.
    let addr = server::start("127.0.0.1", None).await;
    let h = crate::harness_with(
        RuntimeOptions {
            outbound: OutboundOptions {
                max_concurrent_requests: 1,
                ..OutboundOptions::default()
            },
            ..RuntimeOptions::default()
        },
        NodeConfig::default(),
    );
    let guest = h.load("http-slots", &http_get(false, &addr.to_string(), 5));
    let caps = hosts(&[&addr.to_string()]);
    assert_eq!(h.run(&guest, caps).await, ExitReason::Normal);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_past_the_cap_waits_until_a_response_is_dropped() {
    // The guest sends A, holds A's response for HOLD, and sends B in that
    // time. With one request in flight at most, B may start only once A's
    // response is dropped: the server sees it at least HOLD after A. With
    // two, B goes out at once (the control: the wait is the cap's).
    const HOLD_MS: u64 = 1000;
    for (cap, waits) in [(1, true), (2, false)] {
        let (addr, arrivals) = server::start_recording("127.0.0.1").await;
        let h = crate::harness_with(
            RuntimeOptions {
                outbound: OutboundOptions {
                    max_concurrent_requests: cap,
                    ..OutboundOptions::default()
                },
                ..RuntimeOptions::default()
            },
            NodeConfig::default(),
        );
        let name = format!("http-cap{cap}");
        let guest = h.load(
            &name,
            &http_get_with(false, &addr.to_string(), 1, HOLD_MS, true, None),
        );
        let caps = hosts(&[&addr.to_string()]);
        assert_eq!(h.run(&guest, caps).await, ExitReason::Normal, "{name}");
        let seen = arrivals.lock().unwrap().clone();
        assert_eq!(seen.len(), 2, "{name}: {seen:?}");
        let gap = seen[1] - seen[0];
        if waits {
            assert!(
                gap >= std::time::Duration::from_millis(HOLD_MS),
                "{name}: B started {gap:?} after A, while A's response was held"
            );
        } else {
            assert!(
                gap < std::time::Duration::from_millis(HOLD_MS * 9 / 10),
                "{name}: B waited {gap:?} under a cap it did not reach"
            );
        }
    }
}

/// The fixture reading one response's body, with a between-bytes timeout
/// of `between_ms` (0: none), holding a failed stream for `hold_ms`.
fn http_read(authority: &str, between_ms: u64, hold_ms: u64) -> String {
    http_get_with(false, authority, 1, hold_ms, false, Some(between_ms))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_body_ends_at_the_between_bytes_timeout() {
    // A server that sends the head and 5 bytes of a 1000-byte body, then
    // nothing. The guest asked for a 300 ms between-bytes timeout: its read
    // fails with `connection-read-timeout` (case 9), and the node closes
    // the connection then, while the guest still holds the failed stream
    // (for 1.5 s): the server sees its end of the connection close well
    // before the guest exits. The same whether the connection is driven by
    // a task of the node's (idle connections kept) or by the response's
    // I/O future (none kept).
    for max_idle in [64, 0] {
        stalled_body_case(pooled(max_idle)).await;
    }
}

async fn stalled_body_case(h: crate::Harness) {
    use std::io::{Read, Write};
    use std::time::{Duration, Instant};
    const BETWEEN_MS: u64 = 300;
    const HOLD_MS: u64 = 1500;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let Ok((mut stream, _)) = listener.accept() else {
            return;
        };
        let mut buf = [0u8; 4096];
        let _ = stream.read(&mut buf);
        let head = "HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\nhello";
        if stream.write_all(head.as_bytes()).is_err() {
            return;
        }
        let stalled = Instant::now();
        // Blocks until the node closes the connection.
        let n = stream.read(&mut buf).unwrap_or(0);
        let _ = tx.send((stalled, Instant::now(), n));
    });
    let guest = h.load(
        "http-stall",
        &http_read(&addr.to_string(), BETWEEN_MS, HOLD_MS),
    );
    let caps = hosts(&[&addr.to_string()]);
    assert_eq!(h.run(&guest, caps).await.to_string(), "crashed: read 9");
    let exited = Instant::now();
    let (stalled, closed, n) = rx
        .recv_timeout(Duration::from_secs(5))
        .expect("the node never closed the stalled connection");
    assert_eq!(n, 0, "the node sent more on the connection");
    assert!(
        closed - stalled >= Duration::from_millis(BETWEEN_MS),
        "closed {:?} into the stall, before the timeout",
        closed - stalled
    );
    assert!(
        exited - closed >= Duration::from_millis(HOLD_MS / 2),
        "the connection closed only {:?} before the guest exited: the node held it for the guest",
        exited - closed
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_keeps_coming_is_read_to_its_end_under_a_between_bytes_timeout() {
    let addr = server::start("127.0.0.1", None).await;
    let h = harness();
    let guest = h.load("http-read", &http_read(&addr.to_string(), 300, 0));
    let caps = hosts(&[&addr.to_string()]);
    assert_eq!(h.run(&guest, caps).await, ExitReason::Normal);
}

fn pooled(max_idle_connections: usize) -> crate::Harness {
    crate::harness_with(
        RuntimeOptions {
            outbound: OutboundOptions {
                max_idle_connections,
                ..OutboundOptions::default()
            },
            ..RuntimeOptions::default()
        },
        NodeConfig::default(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sequential_requests_reuse_one_connection() {
    use std::sync::atomic::Ordering;
    // Five GETs, each response dropped unread (its 5-byte rest is read by
    // the node): one connection. With no idle connections kept, five.
    for (max_idle, want) in [(64, 1), (0, 5)] {
        let (addr, arrivals, connections) = server::start_counting("127.0.0.1").await;
        let h = pooled(max_idle);
        let name = format!("http-pool{max_idle}");
        let guest = h.load(&name, &http_get(false, &addr.to_string(), 5));
        let caps = hosts(&[&addr.to_string()]);
        assert_eq!(h.run(&guest, caps).await, ExitReason::Normal, "{name}");
        assert_eq!(arrivals.lock().unwrap().len(), 5, "{name}");
        assert_eq!(connections.load(Ordering::SeqCst), want, "{name}");
    }
    // A body read to its end leaves its connection for the next request
    // too, from another process: one connection for both.
    let (addr, arrivals, connections) = server::start_counting("127.0.0.1").await;
    let h = pooled(64);
    for name in ["http-read-a", "http-read-b"] {
        let guest = h.load(name, &http_read(&addr.to_string(), 0, 0));
        let caps = hosts(&[&addr.to_string()]);
        assert_eq!(h.run(&guest, caps).await, ExitReason::Normal, "{name}");
    }
    assert_eq!(arrivals.lock().unwrap().len(), 2);
    assert_eq!(connections.load(Ordering::SeqCst), 1);
}

/// A server on 127.0.0.1 that answers each connection's first request
/// with `answer` (nothing if empty), then closes it; it counts the
/// connections it accepted.
fn closing_server(answer: &'static str) -> (SocketAddr, Arc<std::sync::atomic::AtomicUsize>) {
    use std::io::{Read, Write};
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let connections = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let accepted = connections.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            accepted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(answer.as_bytes());
            // Dropped: the server's end closes.
        }
    });
    (addr, connections)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_the_server_closes_after_its_response_is_not_reused() {
    use std::sync::atomic::Ordering;
    // Each answer says `connection: close` and has no body, so hyper is
    // done with a new connection as its response head arrives, while the
    // node still drives it in the request's task: the response still
    // reaches the guest (the request does not wait on a connection that
    // has ended), and each of three GETs, read or dropped unread, goes out
    // on a new connection.
    let answer = "HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";
    for (name, read) in [("close-unread", None), ("close-read", Some(0))] {
        let (addr, connections) = closing_server(answer);
        let h = pooled(64);
        let wat = http_get_with(false, &addr.to_string(), 3, 0, false, read);
        let guest = h.load(name, &wat);
        let caps = hosts(&[&addr.to_string()]);
        assert_eq!(h.run(&guest, caps).await, ExitReason::Normal, "{name}");
        assert_eq!(connections.load(Ordering::SeqCst), 3, "{name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_connection_closed_before_any_answer_fails_the_request() {
    // The server reads the request and hangs up without a word: the
    // guest's request fails at once, it does not wait for an answer that
    // cannot come (the connection ends while the node drives it in the
    // request's task). HTTP-protocol-error (case 35), as
    // wasmtime-wasi-http names a hyper failure.
    let (addr, connections) = closing_server("");
    let h = harness();
    let guest = h.load("hang-up", &http_get(false, &addr.to_string(), 1));
    let caps = hosts(&[&addr.to_string()]);
    let started = std::time::Instant::now();
    assert_eq!(h.run(&guest, caps).await.to_string(), "crashed: error 35");
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
    assert_eq!(connections.load(std::sync::atomic::Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_idle_connections_a_connection_closes_with_its_response() {
    // No idle connections kept: each request has a connection of its own,
    // open while the guest holds the response (300 ms, unread) and closed
    // when it drops it, neither before nor long after; a body read to its
    // end arrives whole the same way.
    use std::io::{Read, Write};
    use std::time::{Duration, Instant};
    const HOLD_MS: u64 = 300;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let tx = tx.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                let _ = stream.read(&mut buf);
                let answer = "HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello";
                if stream.write_all(answer.as_bytes()).is_err() {
                    return;
                }
                let sent = Instant::now();
                // Blocks until the node closes the connection.
                let n = stream.read(&mut buf).unwrap_or(0);
                let _ = tx.send((sent.elapsed(), n));
            });
        }
    });
    let h = pooled(0);
    let caps = || hosts(&[&addr.to_string()]);
    let held = h.load(
        "fresh-held",
        &http_get_held(false, &addr.to_string(), 2, HOLD_MS),
    );
    assert_eq!(h.run(&held, caps()).await, ExitReason::Normal);
    for _ in 0..2 {
        let (open, n) = rx
            .recv_timeout(Duration::from_secs(3))
            .expect("a connection the node never closed");
        assert_eq!(n, 0, "the node sent more on the connection");
        assert!(
            open >= Duration::from_millis(HOLD_MS - 50) && open < Duration::from_millis(1_300),
            "open {open:?} after its response, held {HOLD_MS} ms"
        );
    }
    let read = h.load("fresh-read", &http_read(&addr.to_string(), 0, 0));
    assert_eq!(h.run(&read, caps()).await, ExitReason::Normal);
    let (open, n) = rx
        .recv_timeout(Duration::from_secs(3))
        .expect("a connection the node never closed");
    assert_eq!((n, open < Duration::from_secs(1)), (0, true), "{open:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pooled_connection_serves_only_requests_the_checker_allows() {
    use std::sync::atomic::Ordering;
    // A trusted process leaves a connection to 127.0.0.1 in the pool; a
    // process under the public-only default asking for the same place is
    // still refused (the checker runs before the pool is asked), and its
    // request never reaches the server; a trusted one after it reuses the
    // connection.
    let (addr, arrivals, connections) = server::start_counting("127.0.0.1").await;
    let h = pooled(64);
    let guest = h.load("pool-first", &http_get(false, &addr.to_string(), 1));
    assert_eq!(
        h.run(&guest, Capabilities::trusted()).await,
        ExitReason::Normal
    );

    warn_lines();
    // The same code (the runtime loads it once, under its first name),
    // spawned under another name.
    let pid =
        h.rt.spawn(
            &guest,
            rusm_wasm::WasmSpawn {
                name: "pool-denied".into(),
                args: vec![],
                caps: Capabilities::network_client().into(),
                parent: rusm_core::Pid::NODE,
                options: rusm_core::SpawnOptions::new(),
            },
        )
        .expect("spawn");
    assert_eq!(h.reason(pid).await.to_string(), "crashed: error 15");
    assert_deny_line("pool-denied", &format!(" connect {addr}"));
    assert_eq!(
        arrivals.lock().unwrap().len(),
        1,
        "the refused request was sent"
    );

    assert_eq!(
        h.run(&guest, Capabilities::trusted()).await,
        ExitReason::Normal
    );
    assert_eq!(arrivals.lock().unwrap().len(), 2);
    assert_eq!(connections.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_response_the_guest_does_not_read_is_not_buffered_by_the_node() {
    // A server with a 1 GiB body, written as fast as the connection takes
    // it; the guest holds the response for a second without reading, then
    // drops it. On loopback a node that read ahead would take most of the
    // body in that second; one that streams takes what the socket buffers
    // and hyper's read buffer hold.
    use std::io::{Read, Write};
    use std::sync::atomic::{AtomicU64, Ordering};
    const BODY: u64 = 1 << 30;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let written = Arc::new(AtomicU64::new(0));
    let counter = written.clone();
    std::thread::spawn(move || {
        let Ok((mut stream, _)) = listener.accept() else {
            return;
        };
        let mut buf = [0u8; 4096];
        let _ = stream.read(&mut buf);
        let head = format!("HTTP/1.1 200 OK\r\ncontent-length: {BODY}\r\n\r\n");
        if stream.write_all(head.as_bytes()).is_err() {
            return;
        }
        let chunk = vec![b'x'; 64 * 1024];
        while counter.load(Ordering::Relaxed) < BODY {
            match stream.write(&chunk) {
                Ok(n) => counter.fetch_add(n as u64, Ordering::Relaxed),
                Err(_) => return,
            };
        }
    });
    let h = harness();
    let guest = h.load(
        "http-unread",
        &http_get_held(false, &addr.to_string(), 1, 1000),
    );
    let caps = hosts(&[&addr.to_string()]);
    assert_eq!(h.run(&guest, caps).await, ExitReason::Normal);
    let taken = written.load(Ordering::Relaxed);
    assert!(
        taken < 64 << 20,
        "the node took {} MiB of a body the guest never read",
        taken >> 20
    );
}
