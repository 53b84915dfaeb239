//! The `trellis` binary: parses flags, sets up logging, runs the server
//! until SIGINT or SIGTERM. Everything else lives in `trellis-server`.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Parser)]
#[command(
    name = "trellis",
    version,
    about = "A Kubernetes-compatible control plane with logical workspaces"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run the API server.
    Serve(ServeArgs),
}

#[derive(clap::Args)]
struct ServeArgs {
    /// Where data, certificates and the admin kubeconfig live.
    #[arg(long, default_value = ".trellis", env = "TRELLIS_DATA_DIR")]
    data_dir: PathBuf,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    address: IpAddr,
    /// Port to listen on (0 picks a free one).
    #[arg(long, default_value_t = 6443)]
    port: u16,
    /// Serving certificate (PEM); generated from the built-in CA if absent.
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// Key of --tls-cert (PEM).
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Serve plain HTTP instead of HTTPS. Unsafe: tokens and data cross the
    /// network in clear text, and client certificates cannot be used.
    #[arg(long, conflicts_with_all = ["tls_cert", "tls_key"])]
    insecure_http: bool,
    /// Log format.
    #[arg(long, value_enum, default_value = "text")]
    log_format: LogFormat,
    /// Seconds between watch bookmarks.
    #[arg(long, default_value_t = 60, hide = true)]
    bookmark_interval_seconds: u64,
    /// Retained watch history in events (tests shrink it to exercise 410s).
    #[arg(long, hide = true)]
    watch_history_events: Option<usize>,
    /// How many seconds of watch history to retain, on disk in the
    /// write-ahead log: how far back a watch (or a list at a past
    /// resourceVersion) can resume before it gets 410 Gone. Also capped by
    /// --watch-history-disk-mib.
    #[arg(long, default_value_t = 600, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    watch_history_retention_seconds: u64,
    /// MiB of write-ahead log kept on disk for watch history, whatever its
    /// age: under heavy writes this, not the retention time, bounds how far
    /// back a watch can resume (512 MiB holds about 230,000 creates of 1 KiB
    /// objects). Also caps the history at one event per 512 bytes of it
    /// (at least 1,000,000 events).
    #[arg(long, default_value_t = 512, value_parser = clap::value_parser!(u64).range(16..=1_048_576))]
    watch_history_disk_mib: u64,
    /// MiB of the newest watch history kept in memory; watches from older
    /// revisions read the rest back from disk.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u64).range(0..=65_536))]
    watch_history_memory_mib: u64,
    /// Append an audit record (one JSON line per request: user, verb,
    /// workspace, resource, name, decision, response code) to this file.
    #[arg(long)]
    audit_log_path: Option<PathBuf>,
    /// Networks (CIDR, comma-separated or repeated) admission webhooks may
    /// be called in although the default egress policy denies them:
    /// loopback, link-local (cloud metadata), private and other
    /// special-purpose ranges. The server's own port is never allowed.
    #[arg(long, value_delimiter = ',', value_parser = parse_network)]
    admission_webhook_allowed_networks: Vec<trellis_server::webhook::Network>,
    /// Most objects a workspace (logical cluster) may hold, kcp's flag: a
    /// create beyond it is refused with 403 (Events, LogicalClusters and the
    /// workspace-admin binding excepted). 0 disables the default; a
    /// LogicalCluster's `core.kcp.io/max-total-objects` annotation overrides
    /// it for that workspace (and is the only limit root and `system:`
    /// clusters get).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(i64).range(0..))]
    logical_cluster_total_object_limit: i64,
    // Each flattened group sets the help heading of every flag after it.
    #[command(flatten)]
    limits: LimitArgs,
    #[command(flatten)]
    auth: AuthArgs,
}

/// Connection limits (kube-apiserver's values by default) and per-tenant
/// shares of the server.
#[derive(clap::Args)]
#[command(next_help_heading = "Connections and fairness")]
struct LimitArgs {
    /// Connections open at once; further connections are closed at once.
    #[arg(long, default_value_t = 8192)]
    max_connections: usize,
    /// Time a client has to send an HTTP/1 request's headers (also how long
    /// an HTTP/1 connection may wait between requests).
    #[arg(long, default_value = "32s", value_parser = parse_duration)]
    request_header_timeout: Duration,
    /// A connection with no request in flight and no traffic for this long
    /// is closed.
    #[arg(long, default_value = "90s", value_parser = parse_duration)]
    idle_connection_timeout: Duration,
    /// Concurrent HTTP/2 streams per connection.
    #[arg(long, default_value_t = 100)]
    http2_max_streams_per_connection: u32,
    /// Requests (watches excepted) one user may have in flight; more wait
    /// briefly, then get 429. system:masters is exempt.
    #[arg(long, default_value_t = 32)]
    max_requests_inflight_per_user: usize,
    /// Requests (watches excepted) in flight per workspace.
    #[arg(long, default_value_t = 64)]
    max_requests_inflight_per_workspace: usize,
    /// LISTs one user may have running at once (default: the number of
    /// cores, so one tenant's LIST storm leaves the CPU's queue short for
    /// others); more wait briefly, then get 429.
    #[arg(long)]
    max_lists_inflight_per_user: Option<usize>,
    /// LISTs running at once per workspace (default: twice the cores).
    #[arg(long)]
    max_lists_inflight_per_workspace: Option<usize>,
    /// Watches one user may hold open.
    #[arg(long, default_value_t = 512)]
    max_watches_per_user: usize,
    /// Watches open per workspace.
    #[arg(long, default_value_t = 2048)]
    max_watches_per_workspace: usize,
    /// Niceness (0-19) of the threads that read and encode LISTs and
    /// watches' initial state: higher lets every other request preempt them
    /// sooner on a busy machine, at the price of slower LISTs while the
    /// cores are saturated by other work. 0 runs them like every thread.
    #[arg(long, default_value_t = trellis_server::bulk::DEFAULT_NICE,
          value_parser = clap::value_parser!(i32).range(0..=19))]
    bulk_nice: i32,
}

impl LimitArgs {
    fn fairness(&self) -> trellis_server::fairness::Limits {
        let default = trellis_server::fairness::Limits::default();
        trellis_server::fairness::Limits {
            lists_per_user: self
                .max_lists_inflight_per_user
                .unwrap_or(default.lists_per_user)
                .max(1),
            lists_per_workspace: self
                .max_lists_inflight_per_workspace
                .unwrap_or(default.lists_per_workspace)
                .max(1),
            requests_per_user: self.max_requests_inflight_per_user.max(1),
            requests_per_workspace: self.max_requests_inflight_per_workspace.max(1),
            watches_per_user: self.max_watches_per_user.max(1),
            watches_per_workspace: self.max_watches_per_workspace.max(1),
            ..default
        }
    }

    fn limits(&self) -> trellis_server::serve::Limits {
        trellis_server::serve::Limits {
            header_read_timeout: self.request_header_timeout,
            idle_timeout: self.idle_connection_timeout,
            max_connections: self.max_connections.max(1),
            max_streams: self.http2_max_streams_per_connection.max(1),
            // A client still in its TLS handshake is no better than one
            // slow to send its headers.
            handshake_timeout: self
                .request_header_timeout
                .min(trellis_server::serve::Limits::default().handshake_timeout),
        }
    }
}

/// Authentication flags (named as kube-apiserver's).
#[derive(clap::Args)]
#[command(next_help_heading = "Authentication")]
struct AuthArgs {
    /// Static bearer tokens, one per line: token,user,uid[,"group1,group2"].
    #[arg(long)]
    token_auth_file: Option<PathBuf>,
    /// Issuer (`iss`) of the ServiceAccount tokens this server signs and
    /// accepts.
    #[arg(long, default_value = trellis_server::auth::service_account::DEFAULT_ISSUER)]
    service_account_issuer: String,
    /// Audiences the server accepts in ServiceAccount tokens
    /// (comma-separated); default: the service account issuer.
    #[arg(long, value_delimiter = ',')]
    api_audiences: Vec<String>,
    /// Longest ServiceAccount token lifetime (e.g. 48h, 90m); longer
    /// requests are shortened. Default: no limit.
    #[arg(long, value_parser = parse_duration)]
    service_account_max_token_expiration: Option<Duration>,
    /// Accept OpenID Connect ID tokens from this issuer (https URL).
    #[arg(long, requires = "oidc_client_id")]
    oidc_issuer_url: Option<String>,
    /// The client id ID tokens must be issued for (their audience).
    #[arg(long, requires = "oidc_issuer_url")]
    oidc_client_id: Option<String>,
    /// ID token claim holding the user name.
    #[arg(long, default_value = "sub", requires = "oidc_issuer_url")]
    oidc_username_claim: String,
    /// Prefix for OIDC user names; default `<issuer-url>#` unless the claim
    /// is `email`; `-` for none.
    #[arg(long, requires = "oidc_issuer_url")]
    oidc_username_prefix: Option<String>,
    /// ID token claim holding the user's groups.
    #[arg(long, requires = "oidc_issuer_url")]
    oidc_groups_claim: Option<String>,
    /// Prefix for OIDC group names.
    #[arg(long, requires = "oidc_issuer_url")]
    oidc_groups_prefix: Option<String>,
    /// CA certificates (PEM) for the issuer's HTTPS; default: the host's.
    #[arg(long, requires = "oidc_issuer_url")]
    oidc_ca_file: Option<PathBuf>,
}

impl AuthArgs {
    fn options(self) -> trellis_server::auth::AuthOptions {
        use trellis_server::auth::{AuthOptions, OidcOptions, ServiceAccountOptions};
        AuthOptions {
            token_auth_file: self.token_auth_file,
            service_account: ServiceAccountOptions {
                issuer: self.service_account_issuer,
                audiences: self.api_audiences,
                max_expiration: self.service_account_max_token_expiration,
            },
            oidc: self.oidc_issuer_url.map(|issuer_url| OidcOptions {
                issuer_url,
                client_id: self.oidc_client_id.unwrap_or_default(),
                username_claim: self.oidc_username_claim,
                username_prefix: self.oidc_username_prefix,
                groups_claim: self.oidc_groups_claim,
                groups_prefix: self.oidc_groups_prefix,
                ca_file: self.oidc_ca_file,
            }),
        }
    }
}

fn parse_network(s: &str) -> Result<trellis_server::webhook::Network, String> {
    s.parse()
}

/// A duration as Go writes them: `90s`, `30m`, `48h`, `1h30m`; a bare
/// number is seconds.
fn parse_duration(s: &str) -> Result<Duration, String> {
    if let Ok(secs) = s.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    let mut total = 0u64;
    let mut num = String::new();
    for c in s.chars() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let unit = match c {
            'h' => 3600,
            'm' => 60,
            's' => 1,
            _ => {
                return Err(format!(
                    "invalid duration {s:?}: use e.g. 48h, 90m or 3600s"
                ));
            }
        };
        let n: u64 = num.parse().map_err(|_| format!("invalid duration {s:?}"))?;
        total = n
            .checked_mul(unit)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(|| format!("duration {s:?} is too long"))?;
        num.clear();
    }
    if !num.is_empty() || total == 0 {
        return Err(format!(
            "invalid duration {s:?}: use e.g. 48h, 90m or 3600s"
        ));
    }
    Ok(Duration::from_secs(total))
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}

/// Sets up logging to stderr through a background writer thread. The guard
/// flushes what is buffered when dropped, so `main` keeps it until exit.
fn init_logging(format: LogFormat) -> tracing_appender::non_blocking::WorkerGuard {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Lossless: a full buffer (128k lines) slows logging callers down rather
    // than dropping lines an operator may need.
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        .finish(std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        // Colour codes only help a human at a terminal; in a log file they
        // break grep.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
    guard
}

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => {
            let _log = init_logging(args.log_format);
            let mut opts = trellis_server::Options {
                data_dir: args.data_dir,
                address: args.address,
                port: args.port,
                tls_cert: args.tls_cert,
                tls_key: args.tls_key,
                insecure_http: args.insecure_http,
                limits: args.limits.limits(),
                auth: args.auth.options(),
                ..Default::default()
            };
            opts.server.fairness = args.limits.fairness();
            opts.server.total_object_limit = args.logical_cluster_total_object_limit;
            opts.server.bookmark_interval =
                Duration::from_secs(args.bookmark_interval_seconds.max(1));
            opts.history_events = args.watch_history_events;
            opts.history_retention =
                Some(Duration::from_secs(args.watch_history_retention_seconds));
            opts.history_memory_bytes = Some((args.watch_history_memory_mib as usize) << 20);
            opts.history_disk_bytes = Some((args.watch_history_disk_mib as usize) << 20);
            opts.audit_log = args.audit_log_path;
            opts.webhook_allowed_networks = args.admission_webhook_allowed_networks;
            trellis_server::bulk::set_nice(args.limits.bulk_nice);
            trellis_server::run(opts, shutdown_signal())
                .await
                .context("trellis serve")?;
        }
    }
    Ok(())
}
