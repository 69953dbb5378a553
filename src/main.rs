//! The `vigil` command: `serve`, `demo`, `sim`.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use vigil::config::{Config, LogConfig};

#[derive(Debug, Parser)]
#[command(
    name = "vigil",
    version,
    about = "GB/T 28181 video surveillance platform"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the platform.
    Serve {
        /// TOML config file (see config/vigil.toml); built-in defaults without it.
        #[arg(long, env = "VIGIL_CONFIG")]
        config: Option<PathBuf>,
    },
}

fn init_logging(log: &LogConfig) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&log.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    if log.format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

fn load_config(path: Option<&std::path::Path>) -> Config {
    match Config::load(path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("vigil: {e}");
            std::process::exit(2);
        }
    }
}

fn main() -> anyhow::Result<()> {
    // Must happen before any thread exists (see platform::init_local_offset).
    vigil::platform::init_local_offset();
    let cli = Cli::parse();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run(cli))
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve { config } => {
            let config = load_config(config.as_deref());
            init_logging(&config.log);
            let mut running = vigil::app::start(config).await?;
            tokio::select! {
                _ = shutdown_signal() => tracing::info!("shutting down"),
                _ = running.wait() => tracing::error!("a server task stopped unexpectedly; shutting down"),
            }
            running.shutdown().await;
        }
    }
    Ok(())
}
