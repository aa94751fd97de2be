//! `rusm top [ADDR]`: the busiest processes of a running node, in the
//! terminal, refreshed each second, from the node's observer.
//!
//! It reads the observer's JSON API (`/api/processes`, sorted and cut to
//! one screen by the node) with the observer's token. Where the token
//! comes from, first found wins: `--token-file FILE`, the environment
//! variable `RUSM_OBSERVER_TOKEN`, the `[observer] token-file` of the
//! manifest (`./rusm.toml` or `--manifest`). ADDR defaults to the
//! manifest's `[observer] listen`, else `127.0.0.1:9400`.
//!
//! HTTPS when ADDR says `https://`, or when it has no scheme and the
//! manifest's `[observer]` has `tls`, or when `--ca` is given (`http://`
//! forces plain HTTP). The observer's certificate is checked, by rustls,
//! against `--ca FILE` (PEM: the CA that issued it, or the certificate
//! itself when it is self-signed), else against the manifest's own `tls`
//! certificate file when there is one (`rusm top` run beside the node),
//! and the system's roots in every case. The name checked is ADDR's host
//! (an IP address must be in the certificate's IP SANs).
//!
//! Keys: `c` CPU, `m` memory, `b` mailbox, `s` messages (the sort column),
//! `q` or Esc quits.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use ratatui::crossterm::event::{self, Event, KeyCode, KeyEventKind};
use ratatui::layout::{Constraint, Layout};
use ratatui::style::{Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, Paragraph, Row, Table};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use serde_json::Value;

/// The column the screen is sorted by.
#[derive(Clone, Copy, PartialEq, Eq)]
enum SortBy {
    Cpu,
    Memory,
    Mailbox,
    Messages,
}

impl SortBy {
    fn query(self) -> &'static str {
        match self {
            SortBy::Cpu => "cpu",
            SortBy::Memory => "memory",
            SortBy::Mailbox => "mailbox",
            SortBy::Messages => "messages",
        }
    }

    fn title(self) -> &'static str {
        match self {
            SortBy::Cpu => "CPU",
            SortBy::Memory => "memory",
            SortBy::Mailbox => "mailbox",
            SortBy::Messages => "messages",
        }
    }
}

/// Where to connect and with what.
pub(crate) struct Target {
    /// `host:port`, without a scheme.
    pub(crate) addr: String,
    pub(crate) token: String,
    /// Set for HTTPS: whom to trust, and the name to check.
    pub(crate) tls: Option<Tls>,
}

/// An HTTPS observer: the client's trust and the server's expected name.
pub(crate) struct Tls {
    config: Arc<rustls::ClientConfig>,
    name: ServerName<'static>,
}

/// ADDR and the token, from the arguments, the environment and the manifest.
pub(crate) fn target(
    addr: Option<String>,
    token_file: Option<&Path>,
    ca: Option<&Path>,
    manifest: Option<&rusm_manifest::Manifest>,
) -> anyhow::Result<Target> {
    let observer = manifest.and_then(|m| m.observer.as_ref());
    let addr = addr
        .or_else(|| observer.map(|o| o.listen.to_string()))
        .unwrap_or_else(|| rusm_manifest::DEFAULT_OBSERVER_LISTEN.to_owned());
    let manifest_cert = observer
        .and_then(|o| o.tls.as_ref())
        .map(|t| t.cert.as_path());
    let (https, addr) = if let Some(rest) = addr.strip_prefix("https://") {
        (true, rest)
    } else if let Some(rest) = addr.strip_prefix("http://") {
        (false, rest)
    } else {
        (manifest_cert.is_some() || ca.is_some(), addr.as_str())
    };
    let addr = addr.trim_end_matches('/').to_owned();
    let tls = if https {
        Some(client_tls(&addr, ca, manifest_cert)?)
    } else {
        None
    };
    let token = if let Some(file) = token_file {
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?
    } else if let Ok(t) = std::env::var("RUSM_OBSERVER_TOKEN") {
        t
    } else if let Some(o) = observer {
        std::fs::read_to_string(&o.token_file)
            .with_context(|| format!("cannot read {}", o.token_file.display()))?
    } else {
        bail!(
            "no observer token: pass --token-file FILE, set RUSM_OBSERVER_TOKEN, \
             or run where rusm.toml has [observer] token-file"
        );
    };
    let token = token.trim().to_owned();
    if token.is_empty() {
        bail!("the observer token is empty");
    }
    Ok(Target { addr, token, tls })
}

/// The rustls client for an HTTPS observer at `addr` (see the module docs
/// for whom it trusts).
fn client_tls(addr: &str, ca: Option<&Path>, manifest_cert: Option<&Path>) -> anyhow::Result<Tls> {
    let mut roots = rustls::RootCertStore::empty();
    // The system's roots, for an observer with a publicly issued
    // certificate; unreadable ones are skipped (rustls-native-certs
    // reports them, and a `--ca` may be all that is needed).
    for cert in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(cert);
    }
    for file in ca
        .into_iter()
        .chain(if ca.is_none() { manifest_cert } else { None })
    {
        let certs = CertificateDer::pem_file_iter(file)
            .with_context(|| format!("cannot read {}", file.display()))?
            .collect::<Result<Vec<_>, _>>()
            .with_context(|| format!("{} is not PEM certificates", file.display()))?;
        if certs.is_empty() {
            bail!("{} holds no certificate", file.display());
        }
        for cert in certs {
            roots
                .add(cert)
                .with_context(|| format!("{}: not a usable certificate", file.display()))?;
        }
    }
    let host = match addr.rsplit_once(':') {
        Some((host, port)) if port.parse::<u16>().is_ok() => host,
        _ => addr,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let name = ServerName::try_from(host.to_owned())
        .with_context(|| format!("`{host}` is not a host name or IP address to check"))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS setup")?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Tls {
        config: Arc::new(config),
        name,
    })
}

/// One GET of the observer's JSON API.
fn fetch(addr: SocketAddr, target: &Target, path: &str) -> anyhow::Result<Value> {
    let tcp = TcpStream::connect_timeout(&addr, Duration::from_secs(2))
        .with_context(|| format!("cannot connect to the observer at {addr}"))?;
    tcp.set_read_timeout(Some(Duration::from_secs(5)))?;
    tcp.set_write_timeout(Some(Duration::from_secs(5)))?;
    let request = format!(
        "GET {path} HTTP/1.1\r\nhost: {}\r\nauthorization: Bearer {}\r\nconnection: close\r\n\r\n",
        target.addr, target.token
    );
    let raw = match &target.tls {
        None => exchange(tcp, &request)?,
        Some(tls) => {
            let conn = rustls::ClientConnection::new(tls.config.clone(), tls.name.clone())
                .context("TLS setup")?;
            exchange(rustls::StreamOwned::new(conn, tcp), &request)
                .with_context(|| format!("HTTPS to the observer at {addr}"))?
        }
    };
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .context("the observer's answer has no header")?;
    let status = head.split(' ').nth(1).unwrap_or("");
    match status {
        "200" => {}
        "401" => bail!("the observer refused the token (401)"),
        other => bail!("the observer answered {other}"),
    }
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_owned()
    };
    Ok(serde_json::from_str(&body)?)
}

/// Send `request` and read the answer to its end. A peer that closes
/// without TLS's close_notify after a whole answer is no error here: the
/// answer's own framing is checked by the parse.
fn exchange(mut stream: impl Read + Write, request: &str) -> anyhow::Result<Vec<u8>> {
    stream.write_all(request.as_bytes())?;
    stream.flush()?;
    let mut raw = Vec::new();
    match stream.read_to_end(&mut raw) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !raw.is_empty() => {}
        Err(e) => return Err(e.into()),
    }
    Ok(raw)
}

fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    while let Some((size, tail)) = rest.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || tail.len() < n {
            break;
        }
        out.push_str(&tail[..n]);
        rest = tail.get(n + 2..).unwrap_or("");
    }
    out
}

fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut i = 0;
    while v >= 1024.0 && i < UNITS.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[i])
    }
}

/// Run the view until `q`.
pub(crate) fn run(target: Target) -> anyhow::Result<()> {
    let addr = target
        .addr
        .to_socket_addrs()
        .with_context(|| format!("`{}` is not an address", target.addr))?
        .next()
        .with_context(|| format!("`{}` resolves to nothing", target.addr))?;
    // Fail before taking the terminal over: a wrong token or address is
    // then an ordinary error message.
    fetch(addr, &target, "/api/processes?limit=1")?;
    let mut terminal = ratatui::init();
    let outcome = screen(&mut terminal, addr, &target);
    ratatui::restore();
    outcome
}

fn screen(
    terminal: &mut ratatui::DefaultTerminal,
    addr: SocketAddr,
    target: &Target,
) -> anyhow::Result<()> {
    let mut sort = SortBy::Cpu;
    let mut last: Option<Result<Value, String>> = None;
    let mut fetched_at = Instant::now() - Duration::from_secs(10);
    loop {
        if fetched_at.elapsed() >= Duration::from_secs(1) {
            let rows = terminal.size()?.height.saturating_sub(5).max(1);
            let path = format!(
                "/api/processes?sort={}&order=desc&limit={rows}",
                sort.query()
            );
            last = Some(fetch(addr, target, &path).map_err(|e| format!("{e:#}")));
            fetched_at = Instant::now();
        }
        terminal.draw(|f| {
            let [top, body, help] = Layout::vertical([
                Constraint::Length(1),
                Constraint::Min(1),
                Constraint::Length(1),
            ])
            .areas(f.area());
            let summary = match &last {
                Some(Ok(v)) => {
                    let states = v["by_state"]
                        .as_object()
                        .map(|m| {
                            m.iter()
                                .map(|(k, n)| format!("{k} {n}"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        })
                        .unwrap_or_default();
                    format!(
                        "rusm top  {addr}  {} processes ({states})  sorted by {}",
                        v["total"],
                        sort.title()
                    )
                }
                Some(Err(e)) => format!("rusm top  {addr}  error: {e}"),
                None => format!("rusm top  {addr}  connecting…"),
            };
            f.render_widget(Paragraph::new(Line::from(summary)), top);
            let header = Row::new([
                "PID",
                "COMPONENT",
                "PROFILE",
                "STATE",
                "MAILBOX",
                "MEMORY",
                "CPU",
                "SENT",
                "RECEIVED",
            ])
            .style(Style::default().add_modifier(Modifier::BOLD | Modifier::REVERSED));
            let rows: Vec<Row> = match &last {
                Some(Ok(v)) => v["rows"]
                    .as_array()
                    .map(|rows| {
                        rows.iter()
                            .map(|r| {
                                let n = |k: &str| r[k].as_u64().unwrap_or(0);
                                Row::new([
                                    n("pid").to_string(),
                                    // Guest-chosen text stays text: ratatui
                                    // draws it, the terminal never parses it.
                                    r["component"]
                                        .as_str()
                                        .unwrap_or("-")
                                        .chars()
                                        .filter(|c| !c.is_control())
                                        .collect(),
                                    r["profile"].as_str().unwrap_or("-").to_owned(),
                                    r["state"].as_str().unwrap_or("-").to_owned(),
                                    n("mailbox_len").to_string(),
                                    bytes(n("memory_bytes") + n("queued_bytes")),
                                    format!("{:.1}s", n("cpu_ms") as f64 / 1000.0),
                                    n("messages_sent").to_string(),
                                    n("messages_received").to_string(),
                                ])
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
                _ => Vec::new(),
            };
            let widths = [
                Constraint::Length(9),
                Constraint::Min(12),
                Constraint::Length(16),
                Constraint::Length(8),
                Constraint::Length(8),
                Constraint::Length(10),
                Constraint::Length(8),
                Constraint::Length(10),
                Constraint::Length(10),
            ];
            f.render_widget(
                Table::new(rows, widths)
                    .header(header)
                    .block(Block::default()),
                body,
            );
            f.render_widget(
                Paragraph::new("c CPU  m memory  b mailbox  s messages  q quit"),
                help,
            );
        })?;
        if event::poll(Duration::from_millis(200))?
            && let Event::Key(key) = event::read()?
            && key.kind == KeyEventKind::Press
        {
            let next = match key.code {
                KeyCode::Char('q') | KeyCode::Esc => return Ok(()),
                KeyCode::Char('c') => SortBy::Cpu,
                KeyCode::Char('m') => SortBy::Memory,
                KeyCode::Char('b') => SortBy::Mailbox,
                KeyCode::Char('s') => SortBy::Messages,
                _ => sort,
            };
            if next != sort {
                sort = next;
                fetched_at = Instant::now() - Duration::from_secs(10);
            }
        }
    }
}
