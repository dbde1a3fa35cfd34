//! Notifications read model: a person's inbox, channels and preferences, and the delivery outbox.
//!
//! # Layout
//!
//! - [`projection`]: [`NotificationsProjection`], which folds `notifier` and `notification`
//!   streams into the tables, and queues one delivery per notification and channel that takes
//!   its topic, in the same transaction (so a raised notification is never left undelivered).
//! - [`queries`]: [`NotificationQueries`], the owner-scoped reads: the inbox newest first with
//!   keyset pages, what arrived after a position (for WatchNotifications), channels with their
//!   delivery counts, and the preferences the notification worker decides with.
//! - [`deliveries`]: [`Deliveries`], the outbox the dispatcher claims, leases and settles.
//! - [`schema`]: [`migrate`], which applies `migrations/` (tracked in `_sqlx_migrations_notifications`).
//!
//! Every row carries its owner and every read filters by it: another user's ids find nothing.
#![forbid(unsafe_code)]

pub mod deliveries;
pub mod projection;
pub mod queries;
pub mod schema;

pub use deliveries::{Claimed, Deliveries, Settle};
pub use projection::NotificationsProjection;
pub use queries::{ChannelView, NotificationPage, NotificationQueries, NotificationView, Preferences};
pub use schema::{MIGRATIONS_TABLE, migrate};

/// The projection's name: its checkpoint's key, and the argument of `cashflow projections rebuild`.
pub const NAME: &str = "notifications";
