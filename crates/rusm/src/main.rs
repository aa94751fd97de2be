//! The `rusm` command: `run`, `dev`, `check`, `caps`, `new`, `build` and
//! `top` over a `rusm.toml`.
//!
//! This binary only composes: the manifest crate reads and checks the file,
//! the node crate boots and stops the node, and this file maps their
//! outcomes onto exit statuses and stderr lines exactly as MANIFEST.md
//! says. Usage and manifest errors exit 2.

mod caps;
mod dev;
mod scaffold;
mod toolchain;
mod top;

/// Processes allocate and free small objects from every worker thread at
/// once; glibc's arenas contend on that (it showed in spawn profiles).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use rusm_core::ExitReason;
use rusm_manifest::{Diagnostic, LogLevel, Manifest, Severity};
use rusm_node::{Residents, RusmNode};

#[derive(Parser)]
#[command(
    name = "rusm",
    version,
    about = "Run WebAssembly processes the Erlang way"
)]
struct Cli {
    /// The manifest to use (default: ./rusm.toml).
    #[arg(long, global = true, value_name = "FILE")]
    manifest: Option<PathBuf>,
    /// Lifecycle log level, overriding `[log] level`: off, error, warn, info, debug.
    #[arg(long, global = true, value_name = "LEVEL")]
    log: Option<LogLevel>,
    /// The lifecycle log's format: `text` lines (default) or one `json`
    /// object per line.
    #[arg(long, global = true, value_name = "FORMAT", default_value = "text")]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

/// How log lines are written (`--log-format`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    /// One line of text per event, as MANIFEST.md shows them.
    Text,
    /// One JSON object per line: `timestamp`, `level`, `target`, `message`
    /// and the event's fields (`event`, `pid`, `component`, `reason`, ...).
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Boot a node; with TARGET, run it as the root process and exit with its outcome.
    Run {
        /// A component name, or a path to a .wasm or .wat file.
        target: Option<String>,
        /// The profile a path TARGET runs under.
        #[arg(long, value_name = "PROFILE", default_value = "sandboxed")]
        capability: String,
        /// The root's WASI arguments.
        #[arg(last = true)]
        args: Vec<String>,
    },
    /// `build`, then `run`; on every change of a guest's source, rebuild and reload it.
    Dev {
        /// A component name, or a path to a .wasm or .wat file.
        target: Option<String>,
        /// The profile a path TARGET runs under.
        #[arg(long, value_name = "PROFILE", default_value = "sandboxed")]
        capability: String,
        /// The root's WASI arguments.
        #[arg(last = true)]
        args: Vec<String>,
    },
    /// Validate the manifest and everything it names.
    Check,
    /// Print the resolved grants of every profile and component, or of one.
    Caps { name: Option<String> },
    /// Create an app folder NAME that builds and runs as it is.
    New {
        /// The app's name: its folder, component and package.
        name: String,
        /// What kind of guest it starts with.
        #[arg(long, value_enum, default_value = "actor")]
        template: scaffold::Template,
    },
    /// Build every guest whose source is next to the manifest into the path its component names.
    Build,
    /// A live terminal view of a running node's processes, from its observer.
    ///
    /// The token comes from --token-file, else $RUSM_OBSERVER_TOKEN, else the
    /// manifest's `[observer] token-file`; ADDR from the manifest's
    /// `[observer] listen`, else 127.0.0.1:9400. HTTPS for `https://ADDR`, or
    /// when the manifest's `[observer]` has `tls`, or with --ca.
    Top {
        /// The observer's address (host:port, or https://host:port).
        addr: Option<String>,
        /// A file holding the observer's token.
        #[arg(long, value_name = "FILE")]
        token_file: Option<PathBuf>,
        /// Trust the certificates in this PEM file (the CA that issued the
        /// observer's certificate, or that certificate itself) besides the
        /// system's roots; implies HTTPS.
        #[arg(long, value_name = "FILE")]
        ca: Option<PathBuf>,
    },
    /// Cluster tools (CLUSTER.md).
    #[command(subcommand)]
    Cluster(ClusterCommand),
}

#[derive(Subcommand)]
enum ClusterCommand {
    /// Write DIR/ca.pem and DIR/ca.key (or sign with them when they exist), and DIR/NAME.pem + DIR/NAME.key per node.
    Certs {
        /// The folder to write to.
        dir: PathBuf,
        /// The nodes' names (`[cluster] name`).
        #[arg(required = true)]
        names: Vec<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match real_main(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("rusm: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn real_main(cli: Cli) -> anyhow::Result<ExitCode> {
    let explicit = cli.manifest.is_some();
    let manifest_path = cli
        .manifest
        .clone()
        .unwrap_or_else(|| PathBuf::from("rusm.toml"));
    match cli.command {
        Command::Check => Ok(check(&manifest_path)),
        Command::New { name, template } => {
            let dir = scaffold::new(&name, template)?;
            // A served app runs without a root process: `rusm run` serves.
            let run = match template {
                scaffold::Template::Http => "rusm run".to_string(),
                _ => format!("rusm run {name}"),
            };
            println!(
                "created {}: `cd {} && rusm build && {run}`",
                dir.display(),
                dir.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Build => {
            let manifest =
                load(&manifest_path, true, false)?.context("`rusm build` needs a manifest")?;
            toolchain::build(&manifest)
        }
        Command::Top {
            addr,
            token_file,
            ca,
        } => {
            let manifest = if token_file.is_some() && addr.is_some() {
                None
            } else {
                load(&manifest_path, explicit || manifest_path.exists(), false)?
            };
            let target = top::target(
                addr,
                token_file.as_deref(),
                ca.as_deref(),
                manifest.as_ref(),
            )?;
            top::run(target)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Cluster(ClusterCommand::Certs { dir, names }) => {
            if let Some(bad) = names.iter().find(|n| !rusm_manifest::valid_node_name(n)) {
                anyhow::bail!(
                    "`{bad}` cannot name a node: use 1 to 63 of a-z, 0-9 and `-`, not starting or ending with `-`"
                );
            }
            for file in rusm_cluster::certs::make(&dir, &names)? {
                println!("{}", file.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Caps { name } => {
            let manifest = load(&manifest_path, explicit || manifest_path.exists(), false)?;
            caps::print(manifest.as_ref(), name.as_deref())
        }
        Command::Run {
            target,
            capability,
            args,
        } => run_command(
            (cli.log, cli.log_format),
            &manifest_path,
            explicit,
            target,
            capability,
            args,
            false,
        ),
        Command::Dev {
            target,
            capability,
            args,
        } => run_command(
            (cli.log, cli.log_format),
            &manifest_path,
            explicit,
            target,
            capability,
            args,
            true,
        ),
    }
}

/// `run`, and `dev` (`run` with a build first and a watcher).
fn run_command(
    (log, log_format): (Option<LogLevel>, LogFormat),
    manifest_path: &Path,
    explicit: bool,
    target: Option<String>,
    capability: String,
    args: Vec<String>,
    dev: bool,
) -> anyhow::Result<ExitCode> {
    let manifest_path = manifest_path.to_path_buf();
    if dev {
        // The app's guests are built before the node checks for them.
        let manifest = load(&manifest_path, true, false)?.context("`rusm dev` needs a manifest")?;
        if !toolchain::build_all(&manifest)? {
            eprintln!("rusm dev: the first build failed; starting with what is there");
        }
    }
    // Without a target the manifest is the whole program.
    let required = explicit || target.is_none();
    let manifest = load(&manifest_path, required || manifest_path.exists(), true)?;
    init_log(
        log.or(manifest.as_ref().map(|m| m.log_level))
            .unwrap_or(LogLevel::Off),
        log_format,
    );
    // What `rusm check` calls an error (a missing component file,
    // ...) stops `run` too, with the same positioned message.
    if manifest.is_some() {
        let errors: Vec<Diagnostic> = rusm_manifest::check(&manifest_path)
            .into_iter()
            .filter(|d| d.severity == Severity::Error)
            .collect();
        if !errors.is_empty() {
            for d in &errors {
                eprintln!("{d}");
            }
            anyhow::bail!("{} has {} error(s)", manifest_path.display(), errors.len());
        }
    }
    if let Some(m) = &manifest
        && let Some(t) = &target
        && !m.components.iter().any(|c| &c.name == t)
        && m.profiles.resolve(&capability).fell_back
        && rusm_caps::Capabilities::builtin(&capability).is_none()
    {
        eprintln!("rusm: warning: unknown profile `{capability}`: {t} runs as `sandboxed`");
    } else if manifest.is_none() && rusm_caps::Capabilities::builtin(&capability).is_none() {
        eprintln!("rusm: warning: unknown profile `{capability}`: it runs as `sandboxed`");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run(manifest, target, capability, args, dev))
}

/// Load the manifest if it is `required` (or present). Errors are printed
/// as diagnostics and end the command with status 2.
fn load(path: &Path, required: bool, print_warnings: bool) -> anyhow::Result<Option<Manifest>> {
    if !required {
        return Ok(None);
    }
    if !path.exists() {
        anyhow::bail!(
            "no manifest at {} (create one, or pass --manifest FILE)",
            path.display()
        );
    }
    match rusm_manifest::load(path) {
        Ok(loaded) => {
            if print_warnings {
                for d in &loaded.diagnostics {
                    eprintln!("{d}");
                }
            }
            Ok(Some(loaded.manifest))
        }
        Err(diagnostics) => {
            for d in &diagnostics {
                eprintln!("{d}");
            }
            let errors = diagnostics
                .iter()
                .filter(|d| d.severity == Severity::Error)
                .count();
            anyhow::bail!("{} has {errors} error(s)", path.display())
        }
    }
}

fn check(path: &Path) -> ExitCode {
    let findings: Vec<Diagnostic> = rusm_manifest::check(path);
    for d in &findings {
        println!("{d}");
    }
    match findings.iter().map(|d| d.severity).max() {
        None => {
            println!("{}: ok", path.display());
            ExitCode::SUCCESS
        }
        Some(Severity::Warning) => ExitCode::from(1),
        Some(Severity::Error) => ExitCode::from(2),
    }
}

/// Route the lifecycle log to stderr at `level`; everything else stays
/// quiet unless `RUST_LOG` asks for it. As text, a line is the event's
/// message alone (the contract's `rusm exit  job#9 crashed: ...`); as JSON,
/// the message with the event's fields beside it, through `tracing`'s JSON
/// formatter.
fn init_log(level: LogLevel, format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    use tracing_subscriber::fmt::format::debug_fn;
    let lifecycle = match level {
        LogLevel::Off => "off",
        LogLevel::Error => "error",
        LogLevel::Warn => "warn",
        LogLevel::Info => "info",
        LogLevel::Debug => "debug",
    };
    let mut filter = format!(
        "off,{}={lifecycle},{}={lifecycle}",
        rusm_node::LIFECYCLE_TARGET,
        rusm_node::ACCESS_LOG_TARGET
    );
    if let Ok(extra) = std::env::var("RUST_LOG") {
        filter.push(',');
        filter.push_str(&extra);
    }
    let filter = EnvFilter::new(filter);
    let _ = match format {
        LogFormat::Text => tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .without_time()
            .with_level(false)
            .with_target(false)
            // The message only: the fields are there for JSON.
            .fmt_fields(debug_fn(|w, field, value| {
                if field.name() == "message" {
                    write!(w, "{value:?}")
                } else {
                    Ok(())
                }
            }))
            .try_init(),
        LogFormat::Json => tracing_subscriber::fmt()
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .try_init(),
    };
}

async fn run(
    manifest: Option<Manifest>,
    target: Option<String>,
    capability: String,
    args: Vec<String>,
    dev: bool,
) -> anyhow::Result<ExitCode> {
    // Handlers first: a signal during boot must still mean a graceful stop.
    let mut signals = Signals::new()?;
    let mut node = RusmNode::boot(manifest.as_ref()).context("cannot boot the node")?;
    reload_on_hangup(signals.hangup.take(), node.reloader());
    if dev && let Some(m) = &manifest {
        dev::watch(m.clone(), node.reloader()).context("cannot watch the app's sources")?;
    }
    if let Some(m) = &manifest {
        node.serve(m).await.context("cannot serve [http]")?;
        node.join_cluster(m)
            .await
            .context("cannot join [cluster]")?;
    }
    node.start_observer()
        .await
        .context("cannot start the observer")?;
    match target {
        Some(target) => {
            let root = node.start_root(&target, &capability, args)?;
            let (name, pid) = (root.name.clone(), root.pid);
            let mut wait = std::pin::pin!(root.wait());
            let reason = tokio::select! {
                r = &mut wait => r,
                Residents::GaveUp(why) = node.residents(), if node.has_residents() => {
                    // The supervisor gave up: the node stops, root and all.
                    eprintln!("rusm: the supervisor gave up: {why}");
                    node.shutdown().await;
                    let _ = wait.await;
                    return Ok(ExitCode::from(1));
                }
                () = signals.next() => {
                    // The graceful shutdown stops the root too; its reason
                    // (normally `shutdown`) decides the status.
                    let stop = node.shutdown();
                    let (r, ()) = tokio::join!(wait, stop);
                    return Ok(root_status(&name, pid, &r));
                }
            };
            node.shutdown().await;
            Ok(root_status(&name, pid, &reason))
        }
        None => {
            if node.is_serving() || node.in_cluster() {
                // A server or a cluster member runs until it is stopped; a
                // resident giving up stops it too.
                let outcome = tokio::select! {
                    Residents::GaveUp(r) = node.residents(), if node.has_residents() => Some(r),
                    () = signals.next() => None,
                };
                node.shutdown().await;
                if let Some(reason) = outcome {
                    eprintln!("rusm: the supervisor gave up: {reason}");
                    return Ok(ExitCode::from(1));
                }
                return Ok(ExitCode::SUCCESS);
            }
            if !node.has_residents() && !node.has_observer() {
                eprintln!(
                    "rusm: no resident components to run (mark one `resident = true`, or pass a TARGET)"
                );
                node.shutdown().await;
                return Ok(ExitCode::SUCCESS);
            }
            let has_residents = node.has_residents();
            let mut outcome = tokio::select! {
                r = node.residents(), if has_residents => Some(r),
                () = signals.next() => None,
            };
            // An observer keeps the node up after its residents are done:
            // an operator is looking at it.
            if node.has_observer() && matches!(outcome, Some(Residents::Finished)) {
                signals.next().await;
                outcome = None;
            }
            node.shutdown().await;
            Ok(match outcome {
                Some(Residents::GaveUp(reason)) => {
                    eprintln!("rusm: the supervisor gave up: {reason}");
                    ExitCode::from(1)
                }
                _ => ExitCode::SUCCESS,
            })
        }
    }
}

/// 0 for `normal` (and `shutdown`), the guest's own code after
/// `proc_exit(n)`, 1 otherwise, with the reason on stderr.
fn root_status(name: &str, pid: rusm_core::Pid, reason: &ExitReason) -> ExitCode {
    if reason.is_normal() {
        return ExitCode::SUCCESS;
    }
    eprintln!("rusm: {name}#{pid} {reason}");
    match reason.exit_code() {
        Some(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        None => ExitCode::from(1),
    }
}

/// SIGHUP reloads the components whose files changed (MANIFEST.md,
/// *Reloading code*). Loading compiles, so it runs off the async workers.
fn reload_on_hangup(hangup: Option<tokio::signal::unix::Signal>, reloader: rusm_node::Reloader) {
    let Some(mut hangup) = hangup else { return };
    tokio::spawn(async move {
        while hangup.recv().await.is_some() {
            let r = reloader.clone();
            let _ = tokio::task::spawn_blocking(move || r.reload()).await;
        }
    });
}

/// SIGINT and SIGTERM, as one stream of "stop now"; and SIGHUP, caught
/// from the start (its default action would end the node) and handed to
/// [`reload_on_hangup`] once the node is up.
struct Signals {
    int: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
    hangup: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    fn new() -> anyhow::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Signals {
            int: signal(SignalKind::interrupt())?,
            term: signal(SignalKind::terminate())?,
            hangup: Some(signal(SignalKind::hangup())?),
        })
    }

    async fn next(&mut self) {
        tokio::select! {
            _ = self.int.recv() => {}
            _ = self.term.recv() => {}
        }
    }
}
