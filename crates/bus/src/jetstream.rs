//! Connecting to NATS and declaring the events stream.

use crate::error::BusError;
use crate::names::BusNames;
use async_nats::jetstream::{self, stream};
use std::time::Duration;

/// How long JetStream remembers a `Nats-Msg-Id`: a re-publish after a relay crash within this
/// window is dropped by the server. Beyond it the relay's expected-last guards still refuse it.
pub const DUPLICATE_WINDOW: Duration = Duration::from_secs(120);

/// Connects to NATS and returns a JetStream context; the plain client is `context.client()`.
#[tracing::instrument(name = "nats.connect", err)]
pub async fn connect(url: &str) -> Result<jetstream::Context, BusError> {
    let client = async_nats::connect(url).await.map_err(|err| BusError::nats("connecting", err))?;
    Ok(jetstream::new(client))
}

/// The events stream's configuration: file storage, kept forever (limits retention, no max
/// age), duplicates remembered for [`DUPLICATE_WINDOW`].
pub fn events_stream_config(names: &BusNames) -> stream::Config {
    stream::Config {
        name: names.events_stream(),
        description: Some("Cashflow events in commit order, published by the relay".into()),
        subjects: vec![names.events_filter()],
        storage: stream::StorageType::File,
        retention: stream::RetentionPolicy::Limits,
        max_age: Duration::ZERO,
        duplicate_window: DUPLICATE_WINDOW,
        allow_direct: true,
        ..Default::default()
    }
}

/// Creates the events stream, or updates it to [`events_stream_config`]. Idempotent, so every
/// process that needs the stream may call it at start-up.
#[tracing::instrument(name = "nats.ensure_events_stream", skip(jetstream), fields(stream = %names.events_stream()), err)]
pub async fn ensure_events_stream(jetstream: &jetstream::Context, names: &BusNames) -> Result<stream::Info, BusError> {
    jetstream
        .create_or_update_stream(events_stream_config(names))
        .await
        .map_err(|err| BusError::nats("creating or updating the events stream", err))
}
