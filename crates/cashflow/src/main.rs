//! The `cashflow` binary: parse the command line, set up logs and traces, run, flush, exit with a status.
#![forbid(unsafe_code)]

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = cashflow::cli::Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("cashflow: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let telemetry = match cashflow_telemetry::TelemetryConfig::from_env(cli.command.roles()) {
        // The OTLP exporter's channel is spawned on the runtime: build it inside.
        Ok(config) => runtime.block_on(async { cashflow_telemetry::init(&config) }),
        Err(error) => Err(error),
    };
    let telemetry = match telemetry {
        Ok(guard) => guard,
        Err(error) => {
            eprintln!("cashflow: {error}");
            return ExitCode::FAILURE;
        }
    };
    let code = match runtime.block_on(cashflow::run(cli)) {
        Ok(code) => code,
        Err(error) => {
            // `{:#}` prints the whole context chain on one line.
            eprintln!("cashflow: {error:#}");
            ExitCode::FAILURE
        }
    };
    // After draining: the last spans (the shutdown's own) are sent before the runtime goes.
    runtime.block_on(telemetry.shutdown());
    code
}
