//! From the text of `rusm.toml` to a [`Manifest`]: parse, type-check every
//! key, fill defaults, resolve paths and profiles.
//!
//! Reading never stops at the first problem. Each key that is wrong becomes
//! a finding and the default stands in for it, so one pass reports
//! everything; the caller decides whether errors make the result unusable.
//! The reader also remembers where the things that name files and profiles
//! were written ([`Places`]), so that `check` can point at them after it has
//! looked at the disk.

use crate::diagnostic::{Diagnostic, Findings, Pos};
use crate::manifest::{
    ComponentDecl, DEFAULT_MAX_MESSAGE_MB, DEFAULT_MAX_PROCESSES, DEFAULT_OBSERVER_LISTEN,
    DEFAULT_SHUTDOWN, LogLevel, Manifest, NetworkConfig, ObserverConfig, ObserverTls, Strategy,
    SupervisorConfig,
};
use rusm_caps::{
    BUILTIN_PROFILES, Capabilities, HostPattern, Preopen, ProfileOverrides, Profiles, SpawnGrant,
};
use std::ops::Range;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;
use toml_edit::{Document, Item, TableLike, Value};

mod cluster;
mod http;

type Span = Option<Range<usize>>;

const ROOT_KEYS: &[&str] = &[
    "store",
    "max-processes",
    "max-message-mb",
    "shutdown-seconds",
    "log",
    "supervisor",
    "capabilities",
    "components",
    "http",
    "network",
    "observer",
    "cluster",
];
const NETWORK_KEYS: &[&str] = &[
    "extra-roots",
    "connect-timeout-seconds",
    "max-concurrent-requests",
];
const OBSERVER_KEYS: &[&str] = &["listen", "token-file", "tls"];
const OBSERVER_TLS_KEYS: &[&str] = &["cert", "key"];
const LOG_KEYS: &[&str] = &["level"];
const SUPERVISOR_KEYS: &[&str] = &["strategy", "max-restarts", "max-seconds"];
const PROFILE_KEYS: &[&str] = &[
    "inherits",
    "preopen",
    "allow-network",
    "allow-hosts",
    "allow-listen",
    "env",
    "allow-stdio",
    "max-memory-mb",
    "allow-process-control",
    "allow-spawn",
    "allow-storage",
    "max-processes",
    "mailbox-capacity",
    "allow-global-names",
    "max-queued-mb",
    "max-open-files",
];
const PREOPEN_KEYS: &[&str] = &["host", "guest", "read-only"];
const COMPONENT_KEYS: &[&str] = &["path", "capability", "resident", "remote"];

/// Where the manifest names things on disk or other profiles.
#[derive(Debug, Default)]
pub(crate) struct Places {
    /// `store`, as written, and where.
    pub store: Option<(String, Pos)>,
    /// One per [`Manifest::components`] entry, same order.
    pub components: Vec<ComponentPlace>,
    /// One per custom profile, in file order.
    pub profiles: Vec<ProfilePlace>,
    /// What `[http]` names.
    pub http: http::HttpPlaces,
    /// Each `[network] extra-roots` entry: as written, resolved, where.
    pub extra_roots: Vec<(String, PathBuf, Pos)>,
    /// `[observer] token-file` as written, resolved, and where.
    pub observer_token: Option<(String, PathBuf, Pos)>,
    /// `[observer]` itself, for a missing `token-file`.
    pub observer_at: Option<Pos>,
    /// `[cluster]`'s `ca`, `cert` and `key`.
    pub cluster_files: cluster::ClusterFiles,
}

#[derive(Debug)]
pub(crate) struct ComponentPlace {
    /// `path` as written, or the default relative path it was given.
    pub written: String,
    /// Whether `path` was left to its default (so `.wat` was tried too).
    pub defaulted: bool,
    /// The `path` value, or the component's name in its header.
    pub at: Pos,
}

#[derive(Debug)]
pub(crate) struct ProfilePlace {
    pub name: String,
    /// `inherits`, when it names something that is not a built-in.
    pub bad_inherits: Option<(String, Pos)>,
    /// Each preopen: host as written, host resolved, the entry's position.
    pub preopens: Vec<(String, PathBuf, Pos)>,
    /// The names an `allow-spawn` list gives.
    pub spawn_names: Vec<(String, Pos)>,
}

/// What reading a manifest produced.
pub(crate) struct Outcome {
    /// `None` when the file could not be read or is not TOML; otherwise a
    /// manifest with defaults standing in for every key that was wrong.
    pub manifest: Option<Manifest>,
    pub places: Places,
    pub diagnostics: Vec<Diagnostic>,
}

pub(crate) fn read(path: &Path) -> Outcome {
    let file = path.display().to_string();
    let fail = |diagnostics| Outcome {
        manifest: None,
        places: Places::default(),
        diagnostics,
    };

    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) => {
            let mut findings = Findings::new(file, "");
            findings.push_whole_file(format!("cannot read the manifest: {e}"));
            return fail(findings.list);
        }
    };
    let text = match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => {
            let valid = e.utf8_error().valid_up_to();
            let prefix = String::from_utf8_lossy(&e.as_bytes()[..valid]).into_owned();
            let mut findings = Findings::new(file, &prefix);
            findings.error(Some(valid..valid), "the manifest is not UTF-8 text");
            return fail(findings.list);
        }
    };
    let mut findings = Findings::new(file, &text);
    let doc = match Document::parse(text.as_str()) {
        Ok(doc) => doc,
        Err(e) => {
            let span = e.span();
            let mut message = e.message().to_owned();
            if let Some(s) = span.clone().filter(|s| !s.is_empty())
                && let Some(what) = text.get(s)
                && message == "duplicate key"
            {
                message = format!("duplicate key `{what}`");
            }
            findings.error(span, format!("invalid TOML: {message}"));
            return fail(findings.list);
        }
    };

    let dir = match std::path::absolute(path) {
        Ok(abs) => abs.parent().map(Path::to_path_buf).unwrap_or(abs),
        // Only when the working directory is gone: keep relative paths.
        Err(_) => path.parent().map(Path::to_path_buf).unwrap_or_default(),
    };
    let mut reader = Reader {
        findings,
        dir,
        places: Places::default(),
    };
    let manifest = reader.root(path, doc.as_table());
    Outcome {
        manifest: Some(manifest),
        places: reader.places,
        diagnostics: reader.findings.list,
    }
}

struct Reader<'a> {
    findings: Findings<'a>,
    dir: PathBuf,
    places: Places,
}

/// A component as read, before its profile can be resolved.
struct ComponentRead {
    name: String,
    path: PathBuf,
    capability: String,
    capability_at: Span,
    resident: bool,
    remote: bool,
}

impl<'a> Reader<'a> {
    fn root(&mut self, path: &Path, root: &dyn TableLike) -> Manifest {
        let mut manifest = Manifest {
            path: path.to_path_buf(),
            dir: self.dir.clone(),
            store: None,
            max_processes: DEFAULT_MAX_PROCESSES,
            max_message_bytes: mb_to_bytes(DEFAULT_MAX_MESSAGE_MB).expect("16 MiB fits in usize"),
            shutdown: DEFAULT_SHUTDOWN,
            log_level: LogLevel::default(),
            supervisor: SupervisorConfig::default(),
            profiles: Profiles::default(),
            components: Vec::new(),
            http: None,
            network: NetworkConfig::default(),
            observer: None,
            cluster: None,
        };
        let mut components = Vec::new();
        let mut route_components = Vec::new();
        for (key, item) in root.iter() {
            match key {
                "store" => {
                    if let Some(store) = self.string(key, item) {
                        if store.is_empty() {
                            self.findings.error(
                                item.span(),
                                "`store` must name a file, e.g. \"data/app.redb\"; \
                                 leave it out for a node without a store",
                            );
                        } else {
                            let at = self.findings.position_of(item.span());
                            self.places.store = Some((store.to_owned(), at));
                            manifest.store = Some(resolve(&self.dir, store));
                        }
                    }
                }
                "max-processes" => {
                    if let Some(n) = self.integer(key, item, 1) {
                        manifest.max_processes = n;
                    }
                }
                "max-message-mb" => {
                    if let Some(mb) = self.integer(key, item, 1) {
                        match mb_to_bytes(mb) {
                            Some(bytes) => manifest.max_message_bytes = bytes,
                            None => self.findings.error(
                                item.span(),
                                format!("`max-message-mb` = {mb} is too large for this machine"),
                            ),
                        }
                    }
                }
                "shutdown-seconds" => {
                    if let Some(s) = self.seconds(key, item, true) {
                        manifest.shutdown = s;
                    }
                }
                "log" => {
                    if let Some(table) = self.table(key, item, "[log]") {
                        self.log(table, &mut manifest.log_level);
                    }
                }
                "supervisor" => {
                    if let Some(table) = self.table(key, item, "[supervisor]") {
                        self.supervisor(table, &mut manifest.supervisor);
                    }
                }
                "capabilities" => {
                    if let Some(table) =
                        self.table(key, item, "one [capabilities.<name>] per profile")
                    {
                        self.profiles(table, &mut manifest.profiles);
                    }
                }
                "components" => {
                    if let Some(table) =
                        self.table(key, item, "one [components.<name>] per component")
                    {
                        components = self.components(table);
                    }
                }
                "http" => {
                    if let Some(table) = self.table(key, item, "[http]") {
                        let (decl, routes) = self.http(table, key_span(root, key));
                        manifest.http = decl;
                        route_components = routes;
                    }
                }
                "network" => {
                    if let Some(table) = self.table(key, item, "[network]") {
                        self.network(table, &mut manifest.network);
                    }
                }
                "observer" => {
                    if let Some(table) = self.table(key, item, "[observer]") {
                        manifest.observer = self.observer(table, item.span());
                    }
                }
                "cluster" => {
                    if let Some(table) = self.table(key, item, "[cluster]") {
                        manifest.cluster = self.cluster(table, key_span(root, key));
                    }
                }
                _ => self.unknown(root, key, "at the top level", ROOT_KEYS),
            }
        }
        let declared: Vec<String> = components.iter().map(|c| c.name.clone()).collect();
        http::unknown_route_components(self, &route_components, &declared);
        for c in components {
            let resolved = manifest.profiles.resolve(&c.capability);
            if resolved.fell_back {
                self.findings.warning(
                    c.capability_at,
                    format!(
                        "unknown profile `{}`: the component runs as `sandboxed`",
                        c.capability
                    ),
                );
            }
            manifest.components.push(ComponentDecl {
                name: c.name,
                path: c.path,
                capability: c.capability,
                resident: c.resident,
                remote: c.remote,
                caps: resolved.caps,
            });
        }
        manifest
    }

    fn network(&mut self, table: &dyn TableLike, config: &mut NetworkConfig) {
        for (key, item) in table.iter() {
            match key {
                "extra-roots" => {
                    let expected = "a list of PEM files of CA certificates";
                    if let Some(files) = self.spanned_strings(key, item, expected) {
                        for (written, span) in files {
                            let path = resolve(&self.dir, &written);
                            let at = self.findings.position_of(span);
                            self.places.extra_roots.push((written, path.clone(), at));
                            config.extra_roots.push(path);
                        }
                    }
                }
                "connect-timeout-seconds" => {
                    if let Some(d) = self.seconds(key, item, false) {
                        config.connect_timeout = d;
                    }
                }
                "max-concurrent-requests" => {
                    if let Some(n) = self.integer(key, item, 1) {
                        config.max_concurrent_requests = n;
                    }
                }
                _ => self.unknown(table, key, "in [network]", NETWORK_KEYS),
            }
        }
    }

    /// `allow-hosts`: each entry parsed; a malformed one is reported at
    /// its own position and left out (which can only take a destination
    /// away).
    fn allow_hosts(&mut self, key: &str, item: &Item) -> Option<Vec<HostPattern>> {
        let expected =
            "a list of destinations (\"HOST[:PORT]\", \"*.suffix\", an IP, a CIDR range, \"*\")";
        let entries = self.spanned_strings(key, item, expected)?;
        let mut out = Vec::with_capacity(entries.len());
        for (text, span) in entries {
            match text.parse::<HostPattern>() {
                Ok(p) => out.push(p),
                Err(e) => self
                    .findings
                    .error(span, format!("bad `allow-hosts` entry \"{text}\": {e}")),
            }
        }
        Some(out)
    }

    /// `[observer]`; `None` (with an error) when it names no token file.
    fn observer(&mut self, table: &dyn TableLike, span: Span) -> Option<ObserverConfig> {
        let mut listen = DEFAULT_OBSERVER_LISTEN
            .parse()
            .expect("the default address parses");
        let mut token_file = None;
        let mut tls = None;
        for (key, item) in table.iter() {
            match key {
                "listen" => {
                    if let Some(text) = self.string(key, item) {
                        match text.parse() {
                            Ok(addr) => listen = addr,
                            Err(_) => self.findings.error(
                                item.span(),
                                format!(
                                    "`listen` = \"{text}\" is not an address and port, \
                                     e.g. \"127.0.0.1:9400\""
                                ),
                            ),
                        }
                    }
                }
                "token-file" => {
                    if let Some(written) = self.string(key, item) {
                        let path = resolve(&self.dir, written);
                        let at = self.findings.position_of(item.span());
                        self.places.observer_token = Some((written.to_owned(), path.clone(), at));
                        token_file = Some(path);
                    }
                }
                "tls" => {
                    let Some(t) = self.table(key, item, "tls = { cert, key }") else {
                        continue;
                    };
                    let (mut cert, mut tls_key) = (None, None);
                    for (k, v) in t.iter() {
                        match k {
                            "cert" => cert = self.string(k, v).map(|c| resolve(&self.dir, c)),
                            "key" => tls_key = self.string(k, v).map(|c| resolve(&self.dir, c)),
                            _ => self.unknown(t, k, "in [observer] tls", OBSERVER_TLS_KEYS),
                        }
                    }
                    match (cert, tls_key) {
                        (Some(cert), Some(key)) => tls = Some(ObserverTls { cert, key }),
                        _ => self
                            .findings
                            .error(item.span(), "`tls` needs both `cert` and `key` (PEM files)"),
                    }
                }
                _ => self.unknown(table, key, "in [observer]", OBSERVER_KEYS),
            }
        }
        let at = self.findings.position_of(span.clone());
        self.places.observer_at = Some(at);
        let Some(token_file) = token_file else {
            self.findings.error(
                span,
                "[observer] needs `token-file`: a file holding the token that every \
                 request must carry (no token, no observer)",
            );
            return None;
        };
        Some(ObserverConfig {
            listen,
            token_file,
            tls,
        })
    }

    fn log(&mut self, table: &dyn TableLike, level: &mut LogLevel) {
        for (key, item) in table.iter() {
            match key {
                "level" => {
                    if let Some(name) = self.string(key, item) {
                        match name.parse() {
                            Ok(l) => *level = l,
                            Err(e) => self.findings.error(item.span(), e.to_string()),
                        }
                    }
                }
                _ => self.unknown(table, key, "in [log]", LOG_KEYS),
            }
        }
    }

    fn supervisor(&mut self, table: &dyn TableLike, config: &mut SupervisorConfig) {
        for (key, item) in table.iter() {
            match key {
                "strategy" => {
                    if let Some(name) = self.string(key, item) {
                        match name.parse::<Strategy>() {
                            Ok(s) => config.strategy = s,
                            Err(e) => self.findings.error(item.span(), e.to_string()),
                        }
                    }
                }
                "max-restarts" => {
                    if let Some(n) = self.integer(key, item, 0) {
                        config.max_restarts = n;
                    }
                }
                "max-seconds" => {
                    if let Some(s) = self.seconds(key, item, false) {
                        config.max_seconds = s.as_secs_f64();
                    }
                }
                _ => self.unknown(table, key, "in [supervisor]", SUPERVISOR_KEYS),
            }
        }
    }

    fn profiles(&mut self, table: &dyn TableLike, profiles: &mut Profiles) {
        for (name, item) in table.iter() {
            let header = header("capabilities", name);
            let name_at = key_span(table, name);
            let Some(body) = self.table(name, item, &header) else {
                continue;
            };
            let mut place = ProfilePlace {
                name: name.to_owned(),
                bad_inherits: None,
                preopens: Vec::new(),
                spawn_names: Vec::new(),
            };
            let overrides = self.profile(&header, body, &mut place);
            if name.is_empty() {
                self.findings
                    .error(name_at, "a profile name must not be empty");
            } else if BUILTIN_PROFILES.contains(&name) {
                self.findings.error(
                    name_at,
                    format!(
                        "{header} would redefine the built-in profile `{name}`: \
                         choose another name, with `inherits = \"{name}\"` to start from it"
                    ),
                );
            } else {
                profiles.insert(name.to_owned(), overrides);
                self.places.profiles.push(place);
            }
        }
    }

    fn profile(
        &mut self,
        header: &str,
        table: &dyn TableLike,
        place: &mut ProfilePlace,
    ) -> ProfileOverrides {
        let mut o = ProfileOverrides::default();
        for (key, item) in table.iter() {
            match key {
                "inherits" => {
                    if let Some(base) = self.string(key, item) {
                        if Capabilities::builtin(base).is_none() {
                            let at = self.findings.position_of(item.span());
                            place.bad_inherits = Some((base.to_owned(), at));
                        }
                        o.inherits = Some(base.to_owned());
                    }
                }
                "preopen" => o.preopens = Some(self.preopens(header, item, place)),
                "allow-network" => o.allow_network = self.boolean(key, item),
                "allow-hosts" => o.allow_hosts = self.allow_hosts(key, item),
                "allow-listen" => o.allow_listen = self.boolean(key, item),
                "env" => o.env = self.strings(key, item, "a list of environment variable names"),
                "allow-stdio" => o.allow_stdio = self.boolean(key, item),
                "max-memory-mb" => o.max_memory_mb = self.integer(key, item, 1),
                "allow-process-control" => o.allow_process_control = self.boolean(key, item),
                "allow-spawn" => o.allow_spawn = self.spawn_grant(key, item, place),
                "allow-storage" => o.allow_storage = self.boolean(key, item),
                "max-processes" => o.max_processes = self.integer(key, item, 1),
                "mailbox-capacity" => o.mailbox_capacity = self.integer(key, item, 1),
                "allow-global-names" => o.allow_global_names = self.boolean(key, item),
                "max-queued-mb" => o.max_queued_mb = self.integer(key, item, 1),
                "max-open-files" => o.max_open_files = self.integer(key, item, 1),
                _ => self.unknown(table, key, &format!("in {header}"), PROFILE_KEYS),
            }
        }
        o
    }

    fn spawn_grant(
        &mut self,
        key: &str,
        item: &Item,
        place: &mut ProfilePlace,
    ) -> Option<SpawnGrant> {
        const EXPECTED: &str = "a boolean or a list of component names";
        if let Some(b) = item.as_bool() {
            return Some(if b { SpawnGrant::Any } else { SpawnGrant::None });
        }
        let names = self.spanned_strings(key, item, EXPECTED)?;
        let mut out = Vec::with_capacity(names.len());
        for (name, span) in names {
            let at = self.findings.position_of(span);
            place.spawn_names.push((name.clone(), at));
            out.push(name);
        }
        Some(SpawnGrant::Only(out))
    }

    fn preopens(&mut self, header: &str, item: &Item, place: &mut ProfilePlace) -> Vec<Preopen> {
        let context = format!("in a `preopen` entry of {header}");
        let mut out = Vec::new();
        match item {
            Item::Value(Value::Array(entries)) => {
                for entry in entries.iter() {
                    match entry.as_inline_table() {
                        Some(t) => out.extend(self.preopen(t, entry.span(), &context, place)),
                        None => self.findings.error(
                            entry.span(),
                            format!(
                                "each `preopen` entry must be a table like \
                                 {{ host = \"./data\", guest = \"/data\" }}, not {}",
                                value_kind(entry)
                            ),
                        ),
                    }
                }
            }
            Item::ArrayOfTables(tables) => {
                for t in tables.iter() {
                    out.extend(self.preopen(t, t.span(), &context, place));
                }
            }
            _ => self.type_error(
                "preopen",
                item,
                "a list of tables like [{ host = \"./data\", guest = \"/data\" }]",
            ),
        }
        out
    }

    fn preopen(
        &mut self,
        table: &dyn TableLike,
        span: Span,
        context: &str,
        place: &mut ProfilePlace,
    ) -> Option<Preopen> {
        let (mut host, mut guest, mut read_only) = (None, None, false);
        let mut complete = true;
        for (key, item) in table.iter() {
            match key {
                "host" => match self.string(key, item) {
                    Some("") => {
                        self.findings.error(
                            item.span(),
                            "`host` must name a folder; use \".\" for the manifest's folder",
                        );
                        complete = false;
                    }
                    Some(h) => host = Some(h.to_owned()),
                    None => complete = false,
                },
                "guest" => match self.string(key, item) {
                    Some("") => {
                        self.findings.error(
                            item.span(),
                            "`guest` must name the path the guest sees, e.g. \"/data\"",
                        );
                        complete = false;
                    }
                    Some(g) => guest = Some(g.to_owned()),
                    None => complete = false,
                },
                "read-only" => match self.boolean(key, item) {
                    Some(b) => read_only = b,
                    None => complete = false,
                },
                _ => self.unknown(table, key, context, PREOPEN_KEYS),
            }
        }
        if host.is_none() && table.get("host").is_none() {
            self.findings.error(
                span.clone(),
                "a `preopen` entry needs `host`, the folder on this machine to share",
            );
        }
        if guest.is_none() && table.get("guest").is_none() {
            self.findings.error(
                span.clone(),
                "a `preopen` entry needs `guest`, where the guest sees the folder (e.g. \"/data\")",
            );
        }
        let (host, guest) = (host?, guest?);
        if !complete {
            return None;
        }
        let resolved = resolve(&self.dir, &host);
        let at = self.findings.position_of(span);
        place.preopens.push((host, resolved.clone(), at));
        Some(Preopen {
            host: resolved,
            guest,
            read_only,
        })
    }

    fn components(&mut self, table: &dyn TableLike) -> Vec<ComponentRead> {
        let mut out = Vec::new();
        for (name, item) in table.iter() {
            let header = header("components", name);
            let name_at = key_span(table, name);
            let Some(body) = self.table(name, item, &header) else {
                continue;
            };
            if name.is_empty() {
                self.findings
                    .error(name_at.clone(), "a component name must not be empty");
            }
            let mut path = None;
            let mut capability = None;
            let mut resident = false;
            let mut remote = false;
            for (key, item) in body.iter() {
                match key {
                    "path" => {
                        if let Some(p) = self.string(key, item) {
                            if p.is_empty() {
                                self.findings.error(
                                    item.span(),
                                    format!(
                                        "`path` must name a .wasm or .wat file; leave it out \
                                         for wasm/{name}.wasm"
                                    ),
                                );
                            } else {
                                path = Some((p.to_owned(), item.span()));
                            }
                        }
                    }
                    "capability" => {
                        if let Some(c) = self.string(key, item) {
                            capability = Some((c.to_owned(), item.span()));
                        }
                    }
                    "resident" => {
                        if let Some(r) = self.boolean(key, item) {
                            resident = r;
                        }
                    }
                    "remote" => {
                        if let Some(r) = self.boolean(key, item) {
                            remote = r;
                        }
                    }
                    _ => self.unknown(body, key, &format!("in {header}"), COMPONENT_KEYS),
                }
            }
            let (resolved, place) = match path {
                Some((written, span)) => (
                    resolve(&self.dir, &written),
                    ComponentPlace {
                        written,
                        defaulted: false,
                        at: self.findings.position_of(span),
                    },
                ),
                None => {
                    let (resolved, written) = default_component_path(&self.dir, name);
                    let at = self.findings.position_of(name_at);
                    (
                        resolved,
                        ComponentPlace {
                            written,
                            defaulted: true,
                            at,
                        },
                    )
                }
            };
            let (capability, capability_at) =
                capability.unwrap_or_else(|| ("sandboxed".to_owned(), None));
            self.places.components.push(place);
            out.push(ComponentRead {
                name: name.to_owned(),
                path: resolved,
                capability,
                capability_at,
                resident,
                remote,
            });
        }
        out
    }

    // ---- typed access: each reports a wrong type and returns None ----

    fn table<'t>(&mut self, key: &str, item: &'t Item, shape: &str) -> Option<&'t dyn TableLike> {
        let table = item.as_table_like();
        if table.is_none() {
            self.type_error(key, item, &format!("a table ({shape})"));
        }
        table
    }

    fn string<'t>(&mut self, key: &str, item: &'t Item) -> Option<&'t str> {
        let s = item.as_str();
        if s.is_none() {
            self.type_error(key, item, "a string");
        }
        s
    }

    fn boolean(&mut self, key: &str, item: &Item) -> Option<bool> {
        let b = item.as_bool();
        if b.is_none() {
            self.type_error(key, item, "a boolean");
        }
        b
    }

    /// An integer of at least `min` (0 or 1) that fits `T`.
    fn integer<T: TryFrom<i64>>(&mut self, key: &str, item: &Item, min: i64) -> Option<T> {
        let expected = if min > 0 {
            "a positive integer"
        } else {
            "an integer, 0 or more"
        };
        let Some(n) = item.as_integer() else {
            self.type_error(key, item, expected);
            return None;
        };
        if n < min {
            self.findings
                .error(item.span(), format!("`{key}` must be {expected}, not {n}"));
            return None;
        }
        match T::try_from(n) {
            Ok(v) => Some(v),
            Err(_) => {
                self.findings
                    .error(item.span(), format!("`{key}` = {n} is too large"));
                None
            }
        }
    }

    /// A number of seconds, integer or float; zero only if `zero_ok`.
    fn seconds(&mut self, key: &str, item: &Item, zero_ok: bool) -> Option<Duration> {
        let expected = if zero_ok {
            "a number of seconds, 0 or more"
        } else {
            "a positive number of seconds"
        };
        let value = item
            .as_float()
            .or_else(|| item.as_integer().map(|i| i as f64));
        let Some(secs) = value else {
            self.type_error(key, item, expected);
            return None;
        };
        match Duration::try_from_secs_f64(secs) {
            Ok(d) if zero_ok || !d.is_zero() => Some(d),
            _ => {
                self.findings.error(
                    item.span(),
                    format!("`{key}` must be {expected}, not {secs}"),
                );
                None
            }
        }
    }

    /// An array of strings; a wrong entry is reported and left out.
    fn strings(&mut self, key: &str, item: &Item, expected: &str) -> Option<Vec<String>> {
        let strings = self.spanned_strings(key, item, expected)?;
        Some(strings.into_iter().map(|(s, _)| s).collect())
    }

    fn spanned_strings(
        &mut self,
        key: &str,
        item: &Item,
        expected: &str,
    ) -> Option<Vec<(String, Span)>> {
        let Some(array) = item.as_array() else {
            self.type_error(key, item, expected);
            return None;
        };
        let mut out = Vec::with_capacity(array.len());
        for value in array.iter() {
            match value.as_str() {
                Some(s) => out.push((s.to_owned(), value.span())),
                None => self.findings.error(
                    value.span(),
                    format!(
                        "each entry of `{key}` must be a string, not {}",
                        value_kind(value)
                    ),
                ),
            }
        }
        Some(out)
    }

    fn type_error(&mut self, key: &str, item: &Item, expected: &str) {
        self.findings.error(
            item.span(),
            format!("`{key}` must be {expected}, not {}", kind(item)),
        );
    }

    fn unknown(&mut self, table: &dyn TableLike, key: &str, context: &str, expected: &[&str]) {
        self.findings.error(
            key_span(table, key),
            format!(
                "unknown key `{key}` {context} (expected one of: {})",
                expected.join(", ")
            ),
        );
    }
}

fn key_span(table: &dyn TableLike, key: &str) -> Span {
    table.key(key).and_then(|k| k.span())
}

/// `[components.root]`, quoting a name that is not a bare TOML key.
fn header(section: &str, name: &str) -> String {
    let bare = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if bare {
        format!("[{section}.{name}]")
    } else {
        format!("[{section}.{name:?}]")
    }
}

fn kind(item: &Item) -> &'static str {
    match item {
        Item::Value(v) => value_kind(v),
        Item::Table(_) => "a table",
        Item::ArrayOfTables(_) => "an array of tables",
        Item::None => "nothing",
    }
}

fn value_kind(value: &Value) -> &'static str {
    match value {
        Value::String(_) => "a string",
        Value::Integer(_) => "an integer",
        Value::Float(_) => "a float",
        Value::Boolean(_) => "a boolean",
        Value::Datetime(_) => "a date-time",
        Value::Array(_) => "an array",
        Value::InlineTable(_) => "a table",
    }
}

fn mb_to_bytes(mb: u64) -> Option<usize> {
    usize::try_from(mb).ok()?.checked_mul(1024 * 1024)
}

/// `written` against the manifest's folder; an absolute path stays as is.
/// `.` components are dropped so that logs show `dir/wasm/x.wasm`, not
/// `dir/./wasm/x.wasm`; `..` is kept, since resolving it needs the disk.
pub(crate) fn resolve(dir: &Path, written: &str) -> PathBuf {
    dir.join(written)
        .components()
        .filter(|c| *c != Component::CurDir)
        .collect()
}

/// `wasm/<name>.wasm`, unless only `wasm/<name>.wat` exists. Returns the
/// resolved path and the relative form used in messages.
fn default_component_path(dir: &Path, name: &str) -> (PathBuf, String) {
    let wasm = format!("wasm/{name}.wasm");
    let wat = format!("wasm/{name}.wat");
    let wasm_path = resolve(dir, &wasm);
    if !wasm_path.exists() {
        let wat_path = resolve(dir, &wat);
        if wat_path.exists() {
            return (wat_path, wat);
        }
    }
    (wasm_path, wasm)
}
