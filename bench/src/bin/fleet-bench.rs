//! `fleet-bench`: see `fleet-bench --help`. All logic lives in the library.

use std::process::ExitCode;

use clap::Parser;
use fleet_bench::cli::{self, Cli};

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    // Dropping the benchmark's future on Ctrl-C / SIGTERM runs its guards: redis-servers, git
    // daemons and worker processes are killed, containers and temp dirs removed.
    let outcome = tokio::select! {
        outcome = cli::run(Cli::parse()) => outcome,
        () = shutdown_signal() => {
            eprintln!("interrupted; cleaned up");
            return ExitCode::from(130);
        }
    };
    match outcome {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("fleet-bench: a target was missed");
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("fleet-bench: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

async fn shutdown_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(term) => term,
        Err(_) => return std::future::pending().await,
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
