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
    /// Log format.
    #[arg(long, value_enum, default_value = "text")]
    log_format: LogFormat,
    /// Seconds between watch bookmarks.
    #[arg(long, default_value_t = 60, hide = true)]
    bookmark_interval_seconds: u64,
    /// Retained watch history in events (tests shrink it to exercise 410s).
    #[arg(long, hide = true)]
    watch_history_events: Option<usize>,
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

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour codes only help a human at a terminal; in a log file they
        // break grep.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => {
            init_logging(args.log_format);
            let mut opts = trellis_server::Options {
                data_dir: args.data_dir,
                address: args.address,
                port: args.port,
                tls_cert: args.tls_cert,
                tls_key: args.tls_key,
                ..Default::default()
            };
            opts.server.bookmark_interval =
                Duration::from_secs(args.bookmark_interval_seconds.max(1));
            opts.history_events = args.watch_history_events;
            trellis_server::run(opts, shutdown_signal())
                .await
                .context("trellis serve")?;
        }
    }
    Ok(())
}
