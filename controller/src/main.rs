//! `fleet-controller`: see `fleet-controller --help`. All logic lives in the library.

use std::process::ExitCode;

use clap::Parser;
use fleet_controller::cli::{self, Cli};

#[tokio::main]
async fn main() -> ExitCode {
    cli::run(Cli::parse()).await
}
