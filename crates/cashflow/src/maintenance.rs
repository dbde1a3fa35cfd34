//! Operator subcommands: rebuild a projection, verify the audit chain, mint a token.

use crate::cli::ProjectionName;
use crate::config::Config;
use crate::database;
use anyhow::Context;
use cashflow_eventstore::{EventStore, PgEventStore, hash};
use indicatif::{ProgressBar, ProgressStyle};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// Events read per step when scanning the whole store.
const SCAN_BATCH: usize = 5_000;

/// Replays the store into the emptied read model, with a progress bar on stderr.
pub async fn rebuild(config: &Config, name: ProjectionName) -> anyhow::Result<()> {
    let pool = database::prepare(config).await?;
    let store = PgEventStore::new(pool.clone());
    let projection: Box<dyn cashflow_projection::Projection> = match name {
        ProjectionName::Ledger => Box::new(cashflow_projection_ledger::LedgerProjection),
        ProjectionName::Invoices => Box::new(cashflow_projection_invoices::InvoicesProjection),
    };
    let bar = ProgressBar::new(0).with_style(
        ProgressStyle::with_template("{spinner} rebuilding {msg} [{bar:40}] {pos}/{len} events ({per_sec}, eta {eta})")
            .context("progress bar template")?
            .progress_chars("=> "),
    );
    bar.set_message(projection.name());
    let started = Instant::now();
    let last = cashflow_projection::rebuild(&pool, &store, projection.as_ref(), |done, head| {
        bar.set_length(head);
        bar.set_position(done);
    })
    .await
    .context("rebuilding the projection")?;
    bar.finish_and_clear();
    let seconds = started.elapsed().as_secs_f64().max(f64::EPSILON);
    println!(
        "cashflow: rebuilt {} up to position {last} in {:.2} s ({:.0} events/s)",
        projection.name(),
        seconds,
        last as f64 / seconds
    );
    Ok(())
}

/// Recomputes the hash chain of one stream or of every stream. Returns whether all are intact;
/// each broken stream is printed with its first bad version.
pub async fn verify(config: &Config, stream: Option<&str>) -> anyhow::Result<bool> {
    let pool = database::connect(config).await?;
    let store = PgEventStore::new(pool);
    let streams = match stream {
        Some(stream) => BTreeSet::from([stream.to_owned()]),
        None => all_streams(&store).await?,
    };
    let (mut events_checked, mut broken) = (0u64, 0usize);
    for stream_id in &streams {
        let events = store.read_stream(stream_id).await.with_context(|| format!("reading {stream_id}"))?;
        let verification = hash::verify(&events);
        events_checked += verification.events_checked;
        if !verification.ok {
            broken += 1;
            let version = verification.first_bad_version.map_or_else(|| "?".into(), |v| v.to_string());
            println!("TAMPERED {stream_id}: first bad version {version}");
        }
    }
    println!("cashflow: {} streams, {events_checked} events checked, {broken} broken", streams.len());
    Ok(broken == 0)
}

async fn all_streams(store: &PgEventStore) -> anyhow::Result<BTreeSet<String>> {
    let mut streams = BTreeSet::new();
    let mut after = 0;
    loop {
        let events = store.read_all(after, SCAN_BATCH).await.context("reading the event store")?;
        let Some(last) = events.last() else { break };
        after = last.position;
        streams.extend(events.into_iter().map(|e| e.stream_id));
    }
    Ok(streams)
}

/// A signed access token for `user`, valid `ttl_seconds`.
pub fn token(config: &Config, user: Uuid, ttl_seconds: u64) -> String {
    cashflow_identity::issue_token(&config.jwt_secret, user, Duration::from_secs(ttl_seconds))
}
