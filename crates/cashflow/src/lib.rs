//! The `cashflow` binary's wiring: configuration, database, roles and subcommands.
//!
//! # Layout
//!
//! - [`cli`]: the command line.
//! - [`config`]: configuration from `CASHFLOW_*` environment variables.
//! - [`database`]: the pool and every crate's migrations.
//! - [`health`]: the periodic database check the gRPC health and `/readyz` follow.
//! - [`serve`]: runs the chosen roles until SIGTERM/Ctrl-C, then drains.
//! - [`transport`]: grpc-web, CORS and TLS around the API.
//! - [`web`]: the browser app at `/` on the gRPC port, beside the RPCs.
//! - [`metrics`]: `/metrics`, `/healthz` and `/readyz` on `CASHFLOW_METRICS_ADDR`.
//! - [`maintenance`]: `projections rebuild`, `audit verify`, `audit anchor`, `token`.
#![forbid(unsafe_code)]

pub mod cli;
pub mod config;
pub mod database;
pub mod health;
pub mod maintenance;
pub mod metrics;
pub mod serve;
pub mod transport;
pub mod web;

use anyhow::Context;
use cli::{AuditCommand, Cli, Command, ProjectionsCommand};
use config::Config;
use std::process::ExitCode;

/// Runs one invocation of the binary.
pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let config = Config::from_env()?;
    match cli.command {
        Command::Serve { roles, no_migrate } => {
            let schema = if no_migrate { serve::Schema::Existing } else { serve::Schema::Migrate };
            serve::serve(config, &roles, schema, serve::shutdown_signal()).await?;
        }
        Command::Migrate => {
            database::prepare(&config).await.context("migrating the database")?;
            println!("cashflow: migrations applied");
        }
        Command::Projections { command: ProjectionsCommand::Rebuild { name } } => {
            maintenance::rebuild(&config, name).await?;
        }
        Command::Audit { command: AuditCommand::Verify { stream, anchor } } => {
            if !maintenance::verify(&config, stream.as_deref(), anchor.as_deref()).await? {
                return Ok(ExitCode::FAILURE);
            }
        }
        Command::Audit { command: AuditCommand::Anchor { out } } => {
            if !maintenance::anchor(&config, out.as_deref()).await? {
                return Ok(ExitCode::FAILURE);
            }
        }
        Command::Token { user, ttl } => {
            println!("{}", maintenance::token(&config, user, ttl));
        }
    }
    Ok(ExitCode::SUCCESS)
}
