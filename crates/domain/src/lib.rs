//! Cashflow's pure domain: newtypes parsed at the edge, and the Account, Movement, Category and
//! Invoice aggregates as `decide` (every business rule) and `apply` (folding events).
//!
//! # Layout
//!
//! - [`money`], [`currency`], [`text`], [`ids`], [`date`]: values that are valid once built.
//! - [`account`], [`movement`], [`category`], [`invoice`], [`budget`], [`notification`], [`report`]: one aggregate each, with its commands and events.
//! - [`books`]: one person's ledger folded from all of their events up to a position, for
//!   reports and balances as of a day.
//! - [`rule`]: categorisation rules and how a movement matches one.
//! - [`aggregate`]: the trait every aggregate implements, and event (de)serialisation.
//! - [`error`]: validation errors (bad input, naming the field) and domain rejections.
//!
//! Nothing here does IO: the handler loads state, passes it to `decide` with whatever
//! context a rule needs (the account of a movement, today's date), and stores the events.
#![forbid(unsafe_code)]

pub mod account;
pub mod aggregate;
pub mod books;
pub mod budget;
pub mod category;
pub mod currency;
pub mod date;
pub mod error;
pub mod ids;
pub mod invoice;
pub mod money;
pub mod movement;
pub mod notification;
pub mod report;
pub mod rule;
pub mod text;

pub use aggregate::{Aggregate, DomainEvent, EventDecodeError, fold};
pub use currency::Currency;
pub use date::{Month, OccurredOn};
pub use error::{DomainError, ValidationError};
pub use ids::{
    AccountId, BudgetId, CategoryId, ChannelId, CommandId, InvoiceId, MovementId, NotificationId, ReportId, RuleId,
    StreamId, UserId,
};
pub use money::{Amount, SignedAmount};
pub use text::{Counterparty, Description, Name, Reason};
