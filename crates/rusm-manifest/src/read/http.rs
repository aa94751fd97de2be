//! Reading `[http]` and its `[[http.route]]` entries (SERVING.md). Like
//! the rest of the reader, every wrong key is a finding and reading goes
//! on; a route whose component is not declared is an error here (the
//! components are known by then), a TLS file that does not exist is one
//! for `check` (it looks at the disk).

use std::net::SocketAddr;
use std::time::Duration;

use toml_edit::{Item, TableLike};

use super::{Reader, Span, mb_to_bytes, resolve};
use crate::diagnostic::Pos;
use crate::http::{HttpDecl, RouteDecl};

const HTTP_KEYS: &[&str] = &[
    "listen",
    "max-connections",
    "max-concurrent-requests",
    "max-body-mb",
    "request-timeout-seconds",
    "header-timeout-seconds",
    "idle-timeout-seconds",
    "tls",
    "route",
];
const TLS_KEYS: &[&str] = &["cert", "key"];
const ROUTE_KEYS: &[&str] = &[
    "path",
    "component",
    "methods",
    "max-concurrent",
    "websocket",
    "origins",
];

/// Where `[http]` names files and components, for `check`.
#[derive(Debug, Default)]
pub(crate) struct HttpPlaces {
    /// `tls.cert` and `tls.key`: as written, resolved, where.
    pub files: Vec<(String, std::path::PathBuf, Pos)>,
    /// Each route's (declared) component, where it is named, and whether
    /// the route is a WebSocket route.
    pub components: Vec<(String, Pos, bool)>,
}

/// A route's component, for the check once every component is read.
pub(crate) struct RouteComponent {
    pub name: String,
    pub at: Span,
    pub websocket: bool,
}

impl Reader<'_> {
    pub(super) fn http(
        &mut self,
        table: &dyn TableLike,
        header_span: Span,
    ) -> (Option<HttpDecl>, Vec<RouteComponent>) {
        let mut listen = None;
        let mut decl = HttpDecl {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            max_connections: 10_000,
            max_concurrent_requests: 1000,
            max_body_bytes: 16 << 20,
            request_timeout: Duration::from_secs(30),
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            tls: None,
            routes: Vec::new(),
        };
        let mut components = Vec::new();
        for (key, item) in table.iter() {
            match key {
                "listen" => {
                    if let Some(s) = self.string(key, item) {
                        match s.parse::<SocketAddr>() {
                            Ok(a) => listen = Some(a),
                            Err(_) => self.findings.error(
                                item.span(),
                                format!(
                                    "`listen` = \"{s}\" is not an address and port, \
                                     e.g. \"127.0.0.1:8080\" or \"0.0.0.0:8080\""
                                ),
                            ),
                        }
                    } else {
                        listen = Some(decl.listen);
                    }
                }
                "max-connections" => {
                    if let Some(n) = self.integer(key, item, 1) {
                        decl.max_connections = n;
                    }
                }
                "max-concurrent-requests" => {
                    if let Some(n) = self.integer(key, item, 1) {
                        decl.max_concurrent_requests = n;
                    }
                }
                "max-body-mb" => {
                    if let Some(mb) = self.integer::<u64>(key, item, 1) {
                        match mb_to_bytes(mb) {
                            Some(b) => decl.max_body_bytes = b as u64,
                            None => self.findings.error(
                                item.span(),
                                format!("`max-body-mb` = {mb} is too large for this machine"),
                            ),
                        }
                    }
                }
                "request-timeout-seconds" => {
                    if let Some(d) = self.seconds(key, item, false) {
                        decl.request_timeout = d;
                    }
                }
                "header-timeout-seconds" => {
                    if let Some(d) = self.seconds(key, item, false) {
                        decl.header_timeout = d;
                    }
                }
                "idle-timeout-seconds" => {
                    if let Some(d) = self.seconds(key, item, false) {
                        decl.idle_timeout = d;
                    }
                }
                "tls" => {
                    if let Some(t) =
                        self.table(key, item, "tls = { cert = \"...\", key = \"...\" }")
                    {
                        decl.tls = self.tls(t, item.span());
                    }
                }
                "route" => match item {
                    Item::ArrayOfTables(routes) => {
                        for route in routes.iter() {
                            if let Some((r, c)) = self.route(route, route.span(), &decl.routes) {
                                decl.routes.push(r);
                                components.push(c);
                            }
                        }
                    }
                    _ => self.type_error(key, item, "one [[http.route]] table per route"),
                },
                _ => self.unknown(table, key, "in [http]", HTTP_KEYS),
            }
        }
        if listen.is_none() && table.get("listen").is_none() {
            self.findings.error(
                header_span,
                "[http] needs `listen`, the address to serve on, e.g. \"127.0.0.1:8080\"",
            );
            return (None, components);
        }
        decl.listen = listen.unwrap_or(decl.listen);
        (Some(decl), components)
    }

    fn tls(
        &mut self,
        table: &dyn TableLike,
        span: Span,
    ) -> Option<(std::path::PathBuf, std::path::PathBuf)> {
        let (mut cert, mut key) = (None, None);
        for (k, item) in table.iter() {
            let slot = match k {
                "cert" => &mut cert,
                "key" => &mut key,
                _ => {
                    self.unknown(table, k, "in `tls`", TLS_KEYS);
                    continue;
                }
            };
            if let Some(s) = self.string(k, item) {
                let resolved = resolve(&self.dir, s);
                let at = self.findings.position_of(item.span());
                self.places
                    .http
                    .files
                    .push((s.to_owned(), resolved.clone(), at));
                *slot = Some(resolved);
            }
        }
        if cert.is_none() || key.is_none() {
            self.findings.error(
                span,
                "`tls` needs both `cert` and `key` (PEM files), e.g. \
                 { cert = \"certs/server.pem\", key = \"certs/server.key\" }",
            );
            return None;
        }
        cert.zip(key)
    }

    fn route(
        &mut self,
        table: &dyn TableLike,
        span: Span,
        earlier: &[RouteDecl],
    ) -> Option<(RouteDecl, RouteComponent)> {
        let mut path = None;
        let mut component = None;
        let mut route = RouteDecl {
            path: String::new(),
            component: String::new(),
            methods: None,
            max_concurrent: None,
            websocket: false,
            origins: Vec::new(),
        };
        let mut ok = true;
        for (key, item) in table.iter() {
            match key {
                "path" => match self.string(key, item) {
                    Some(p) if route_path_ok(p) => {
                        if earlier.iter().any(|r| r.path == p) {
                            self.findings.error(
                                item.span(),
                                format!("duplicate route path `{p}`: each path is routed once"),
                            );
                            ok = false;
                        }
                        path = Some(p.to_owned());
                    }
                    Some(p) => {
                        self.findings.error(
                            item.span(),
                            format!(
                                "route path `{p}` must start with `/` and may end in `/*` \
                                 for a prefix (no other `*`, no `.`/`..` segments, no `//`)"
                            ),
                        );
                        ok = false;
                    }
                    None => ok = false,
                },
                "component" => match self.string(key, item) {
                    Some(c) => {
                        component = Some(RouteComponent {
                            name: c.to_owned(),
                            at: item.span(),
                            websocket: false,
                        })
                    }
                    None => ok = false,
                },
                "methods" => {
                    let names = self.strings(key, item, "a list of HTTP methods, e.g. [\"GET\"]");
                    if let Some(names) = names {
                        let mut methods = Vec::new();
                        for m in names {
                            if m.is_empty() || !m.bytes().all(|b| b.is_ascii_alphabetic()) {
                                self.findings
                                    .error(item.span(), format!("`{m}` is not an HTTP method"));
                                ok = false;
                            } else {
                                methods.push(m.to_ascii_uppercase());
                            }
                        }
                        route.methods = Some(methods);
                    } else {
                        ok = false;
                    }
                }
                "max-concurrent" => route.max_concurrent = self.integer(key, item, 1),
                "websocket" => route.websocket = self.boolean(key, item).unwrap_or(false),
                "origins" => {
                    route.origins = self
                        .strings(
                            key,
                            item,
                            "a list of origins, e.g. [\"https://app.example\"]",
                        )
                        .unwrap_or_default()
                }
                _ => self.unknown(table, key, "in [[http.route]]", ROUTE_KEYS),
            }
        }
        if path.is_none() && table.get("path").is_none() {
            self.findings.error(
                span.clone(),
                "a [[http.route]] needs `path`, e.g. \"/api/*\"",
            );
        }
        if component.is_none() && table.get("component").is_none() {
            self.findings.error(
                span,
                "a [[http.route]] needs `component`, a [components.<name>] entry",
            );
        }
        let (path, mut component) = (path?, component?);
        if !ok {
            return None;
        }
        component.websocket = route.websocket;
        route.path = path;
        route.component = component.name.clone();
        Some((route, component))
    }
}

/// `/`, `/a/b`, `/api/*`: absolute, `*` only as a final `/*`, no empty,
/// `.` or `..` segment.
fn route_path_ok(path: &str) -> bool {
    let Some(rest) = path.strip_prefix('/') else {
        return false;
    };
    let rest = rest
        .strip_suffix("/*")
        .or_else(|| (rest == "*").then_some(""))
        .unwrap_or(rest);
    if rest.is_empty() {
        return true;
    }
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    rest.split('/')
        .all(|s| !s.is_empty() && s != "." && s != ".." && !s.contains('*'))
}

pub(super) fn unknown_route_components(
    reader: &mut Reader<'_>,
    routes: &[RouteComponent],
    declared: &[String],
) {
    for r in routes {
        if !declared.contains(&r.name) {
            reader.findings.error(
                r.at.clone(),
                format!(
                    "route to `{}`, which is not a component of this manifest: \
                     declare [components.{}]",
                    r.name, r.name
                ),
            );
        } else {
            let at = reader.findings.position_of(r.at.clone());
            reader
                .places
                .http
                .components
                .push((r.name.clone(), at, r.websocket));
        }
    }
}
