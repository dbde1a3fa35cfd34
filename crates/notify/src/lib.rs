//! Notifications: the worker that decides what to tell a person, and the dispatcher that
//! delivers it.
//!
//! # Layout
//!
//! - [`worker`]: [`NotifyWorker`], a `cashflow_app::Worker` on MovementRecorded,
//!   CategoryAssigned, BudgetSet and the invoice events that settle an invoice. It decides from
//!   the read models once they have applied the event, and raises each notification once, under
//!   an id derived from its cause.
//! - [`decide`]: the decisions as pure functions: budget thresholds, large expenses, invoices.
//! - [`lookups`]: [`NotifyLookups`], the port to the read models the worker decides from;
//!   [`read_models`]: [`ReadModels`], its implementation over them.
//! - [`dispatch`]: [`Dispatcher`], which works the delivery outbox the notifications read model
//!   queues, through the channel adapters of `cashflow-delivery`.
//!
//! Like every worker, it calls the application layer and never the gRPC edge (ADR 0011).
#![forbid(unsafe_code)]

pub mod decide;
pub mod dispatch;
pub mod lookups;
pub mod read_models;
pub mod worker;

pub use dispatch::{DispatchConfig, Dispatcher};
pub use lookups::{BudgetStanding, InvoiceStanding, NotifyLookups};
pub use read_models::ReadModels;
pub use worker::NotifyWorker;
