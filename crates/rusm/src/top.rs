//! `rusm top [ADDR]`: the busiest processes of a running node, in the
//! terminal, refreshed each second, from the node's observer.
//!
//! It reads the observer's JSON API (`/api/processes`, sorted and cut to
//! one screen by the node) with the observer's token. Where the token
//! comes from, first found wins: `--token-file FILE`, the environment
//! variable `RUSM_OBSERVER_TOKEN`, the `[observer] token-file` of the
//! manifest (`./rusm.toml` or `--manifest`). ADDR defaults to the
//! manifest's `[observer] listen`, else `127.0.0.1:9400`. Plain HTTP only:
//! for an observer behind TLS, tunnel to it (`ssh -L`).
//!
//! Keys: `c` CPU, `m` memory, `b` mailbox, `s` messages (the sort column),
//! `q` or Esc quits.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use ratatui::crossterm::event::{self, Event, KeyCode, KeyEventKind};
use ratatui::layout::{Constraint, Layout};
use ratatui::style::{Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, Paragraph, Row, Table};
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
    pub(crate) addr: String,
    pub(crate) token: String,
}

/// ADDR and the token, from the arguments, the environment and the manifest.
pub(crate) fn target(
    addr: Option<String>,
    token_file: Option<&std::path::Path>,
    manifest: Option<&rusm_manifest::Manifest>,
) -> anyhow::Result<Target> {
    let observer = manifest.and_then(|m| m.observer.as_ref());
    let addr = addr
        .or_else(|| observer.map(|o| o.listen.to_string()))
        .unwrap_or_else(|| rusm_manifest::DEFAULT_OBSERVER_LISTEN.to_owned());
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
    Ok(Target { addr, token })
}

/// One GET of the observer's JSON API.
fn fetch(addr: SocketAddr, token: &str, path: &str) -> anyhow::Result<Value> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))
        .with_context(|| format!("cannot connect to the observer at {addr}"))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nhost: {addr}\r\nauthorization: Bearer {token}\r\nconnection: close\r\n\r\n"
    )?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
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
    fetch(addr, &target.token, "/api/processes?limit=1")?;
    let mut terminal = ratatui::init();
    let outcome = screen(&mut terminal, addr, &target.token);
    ratatui::restore();
    outcome
}

fn screen(
    terminal: &mut ratatui::DefaultTerminal,
    addr: SocketAddr,
    token: &str,
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
            last = Some(fetch(addr, token, &path).map_err(|e| format!("{e:#}")));
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
