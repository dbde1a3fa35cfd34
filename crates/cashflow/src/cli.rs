//! The command line: `serve`, `migrate`, `projections rebuild`, `audit verify`, `audit anchor`, `token`.

use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use uuid::Uuid;

#[derive(Debug, Parser)]
#[command(name = "cashflow", version, about = "Cashflow: event-sourced personal finance over gRPC")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the service's roles (all of them unless --roles picks some).
    Serve {
        /// Comma-separated roles to run in this process.
        #[arg(long, value_delimiter = ',', default_values_t = Role::ALL)]
        roles: Vec<Role>,
        /// Connect without creating the database or running migrations: `cashflow migrate`
        /// (a Kubernetes Job, a compose one-shot) is then the only DDL runner.
        #[arg(long, env = "CASHFLOW_NO_MIGRATE", value_parser = clap::builder::BoolishValueParser::new())]
        no_migrate: bool,
    },
    /// Create the database if needed and run every migration, then exit.
    Migrate,
    /// Read models.
    Projections {
        #[command(subcommand)]
        command: ProjectionsCommand,
    },
    /// The tamper-evident history.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Print a signed access token for a user (development and operations; uses CASHFLOW_JWT_SECRET).
    Token {
        /// The user id (`sub`).
        #[arg(long)]
        user: Uuid,
        /// Lifetime in seconds.
        #[arg(long, default_value_t = 3600)]
        ttl: u64,
    },
}

impl Command {
    /// The roles this invocation runs, for telemetry's resource (`cli` for a one-shot command).
    pub fn roles(&self) -> Vec<String> {
        match self {
            Command::Serve { roles, .. } => roles.iter().map(ToString::to_string).collect(),
            _ => vec!["cli".to_owned()],
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum ProjectionsCommand {
    /// Replay the whole event store into an emptied read model; the result equals the live one.
    Rebuild {
        /// The projection's name.
        name: ProjectionName,
    },
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the whole store (dense positions, the head, every stream's chain, the global
    /// chain, the `commands` rows); exits with status 1 when anything was altered.
    Verify {
        /// Check only this stream's chain (`movement-<uuid>`).
        #[arg(long, conflicts_with = "anchor")]
        stream: Option<String>,
        /// Also check every anchor in FILE (written by `audit anchor`, verified with the same
        /// key: CASHFLOW_AUDIT_KEY or CASHFLOW_AUDIT_KEY_FILE).
        #[arg(long, value_name = "FILE")]
        anchor: Option<PathBuf>,
    },
    /// Verify the whole store, then print its head position and global hash, HMAC-SHA256'd
    /// with CASHFLOW_AUDIT_KEY or CASHFLOW_AUDIT_KEY_FILE (a key kept outside the database).
    Anchor {
        /// Append the anchor to FILE (created if missing) instead of printing it.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProjectionName {
    Ledger,
    Invoices,
    Search,
    /// The inbox, channels and preferences; the delivery outbox is kept, and nothing is queued
    /// again.
    Notifications,
    /// Which reports exist and how far along they are; the files stay in blob storage.
    Reports,
}

/// A part of the service that can run in its own process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, ValueEnum)]
pub enum Role {
    /// The gRPC API: commands, queries, audit, health, reflection.
    Api,
    /// Publishes the event store to NATS JetStream in commit order.
    Relay,
    /// Consumes JetStream into the PostgreSQL read models.
    Projectors,
    /// Reads uploaded invoices (OCR), records their movements.
    Ocr,
    /// Assigns categories to new movements by the people's rules.
    Categoriser,
    /// Decides notifications (budget thresholds, large expenses, settled invoices) and
    /// delivers them to the people's channels.
    Notifications,
    /// Renders requested reports (PDF, CSV) from the event store into blob storage.
    Reports,
}

impl Role {
    pub const ALL: [Role; 7] =
        [Role::Api, Role::Relay, Role::Projectors, Role::Ocr, Role::Categoriser, Role::Notifications, Role::Reports];

    /// The roles that consume JetStream.
    pub fn uses_bus(self) -> bool {
        self != Role::Api
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Role::Api => "api",
            Role::Relay => "relay",
            Role::Projectors => "projectors",
            Role::Ocr => "ocr",
            Role::Categoriser => "categoriser",
            Role::Notifications => "notifications",
            Role::Reports => "reports",
        })
    }
}
