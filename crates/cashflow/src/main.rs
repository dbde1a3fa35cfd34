//! The `cashflow` binary: parse the command line, set up logging, run, exit with a status.
#![forbid(unsafe_code)]

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = cashflow::cli::Cli::parse();
    cashflow_telemetry::init(cashflow_telemetry::LogFormat::from_env(), "info");
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("cashflow: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(cashflow::run(cli)) {
        Ok(code) => code,
        Err(error) => {
            // `{:#}` prints the whole context chain on one line.
            eprintln!("cashflow: {error:#}");
            ExitCode::FAILURE
        }
    }
}
