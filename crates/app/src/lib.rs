//! Cashflow's application layer: every edge (gRPC, workers, CLI) runs commands through it.
//!
//! # Layout
//!
//! - [`context`]: [`CommandContext`], who sent a command and how it ties into a trace, as
//!   plain fields; each edge builds it from what it has (request metadata, a causing event).
//! - [`input`]: the commands' inputs, built from domain newtypes: an edge parses once, then
//!   nothing here handles unvalidated data.
//! - [`handler`]: [`CommandHandler`] (load, pure `decide`, append with an expected version and
//!   the idempotency key), [`InvoiceCommands`], [`BudgetCommands`], [`NotificationCommands`], [`ReportCommands`] and [`RuleRunner`] for the commands that read
//!   across streams through a port, which they take at construction.
//! - [`cache`]: a bounded per-process cache of folded account and category states by stream and
//!   version, which the handler decides movements on, guarding its appends (ADR 0028), over a
//!   [`cache::BoundedMap`] that the edge's token cache shares.
//! - [`history`]: a person's books folded from the store up to a position ([`history::load_books`]),
//!   for reports and balances as of a day.
//! - [`ports`]: what commands read besides the event store: [`LedgerLookups`] (a read model)
//!   and the blob store ([`BlobStore`]).
//! - [`worker`]: the port an event-driven worker implements ([`Worker`]), which a bus adapter
//!   drives, and [`WorkError`].
//! - [`error`]: [`AppError`], one error for every use case, by layer.
//!
//! Dependencies run inward: this crate knows the domain and the ports, never a transport, a
//! broker or a read model's tables.
#![forbid(unsafe_code)]

pub mod cache;
pub mod context;
pub mod error;
pub mod handler;
pub mod history;
pub mod input;
pub mod ports;
pub mod worker;

pub use cashflow_blob::BlobStore;
pub use context::{CommandContext, derived_command_id};
pub use error::AppError;
pub use handler::{
    AddedChannel, Assigned, BudgetCommands, CACHED_STATES, CommandHandler, Created, InvoiceCommands, MAX_ATTEMPTS,
    NotificationCommands, RaisedOutcome, ReportCommands, RuleRunner, Settlement, notification_id_for, notifier_stream,
};
pub use ports::{LedgerLookups, PortError, RuleCandidate, RulesVersion};
pub use worker::{WorkError, Worker};
