//! `fleet-worker`: see `fleet-worker --help`. All logic lives in the library.

use std::process::ExitCode;

use clap::Parser;
use fleet_worker::cli::{self, Cli};

#[tokio::main]
async fn main() -> ExitCode {
    cli::run(Cli::parse()).await
}
