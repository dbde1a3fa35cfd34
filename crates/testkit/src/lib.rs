//! Test kit: throwaway databases and NATS prefixes, the real binary as a server, tokens and gRPC clients.
//!
//! A dev-dependency only. It knows nothing of `cashflow-api`: tests that serve the API in
//! process build it themselves and take the database, tokens and clients from here.
//!
//! # Layout
//! - [`database`]: [`TestDatabase`], a database of a test's own, dropped on drop; [`unreachable_pool`].
//! - [`nats`]: [`NatsPrefix`], a `CASHFLOW_NATS_PREFIX` of a test's own, its stream deleted on drop.
//! - [`server`]: [`Namespace`] (a database, a prefix and a blob directory), [`Server`] (the
//!   binary serving some roles in it, killed on drop), [`run_cli`] and [`run_cli_with`].
//! - [`grpc`]: [`SECRET`], [`token`], [`Bearer`], [`Clients`] and [`open_account`].
//! - [`events`]: [`recorded_event`], an event as the store hands it out, and [`Stamper`], which
//!   stamps domain events with positions and versions as the store would.
//! - `projection` (feature `projection`): `ProjectionDb`, a projection on a database of its own,
//!   described by a `ProjectionUnderTest`.
//! - `receivers` (feature `receivers`): an SMTP sink and HTTP receivers (fixed, scripted, slow,
//!   redirecting) that capture what they are sent.
//! - [`scale`]: the read-model benches' seeding of many people's history straight into the
//!   store, [`scale::Rng`] and [`scale::measure`].

pub mod database;
pub mod events;
pub mod grpc;
pub mod nats;
#[cfg(feature = "projection")]
pub mod projection;
#[cfg(feature = "receivers")]
pub mod receivers;
pub mod scale;
pub mod server;

pub use database::{TestDatabase, connect, server_url, unreachable_pool};
pub use events::{Stamper, recorded_event};
pub use grpc::{Authed, Bearer, Clients, SECRET, bearer, channel, command_id, open_account, token};
pub use nats::{NATS_URL, NatsPrefix};
#[cfg(feature = "projection")]
pub use projection::{ProjectionDb, ProjectionUnderTest};
pub use server::{Namespace, Server, run_cli, run_cli_with};

/// Runs clean-up from `Drop`, which may run inside a runtime that cannot block on itself (or
/// outside any): on a thread and a current-thread runtime of its own, waited for.
fn clean_up(work: impl Future<Output = ()> + Send + 'static) {
    let done = std::thread::spawn(move || match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime.block_on(work),
        Err(error) => eprintln!("testkit: no runtime for clean-up: {error}"),
    })
    .join();
    if done.is_err() {
        eprintln!("testkit: clean-up panicked");
    }
}
