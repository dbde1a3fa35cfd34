//! A NATS prefix of a test's own, so tests share one NATS server without seeing each other.

use uuid::Uuid;

/// The NATS server tests use.
pub const NATS_URL: &str = "nats://127.0.0.1:4222";

/// A `CASHFLOW_NATS_PREFIX` no other test uses. Dropping it deletes its JetStream stream.
#[derive(Debug)]
pub struct NatsPrefix(String);

impl NatsPrefix {
    pub fn new() -> Self {
        Self(format!("t{}", Uuid::now_v7().simple()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `<PREFIX>_EVENTS`, the one stream `cashflow-bus` makes under a prefix.
    pub fn events_stream(&self) -> String {
        format!("{}_EVENTS", self.0.to_uppercase())
    }
}

impl Default for NatsPrefix {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for NatsPrefix {
    fn drop(&mut self) {
        let stream = self.events_stream();
        crate::clean_up(async move {
            // Best effort: no NATS, or no stream because nothing was relayed, leaves nothing to delete.
            if let Ok(client) = async_nats::connect(NATS_URL).await {
                let _ = async_nats::jetstream::new(client).delete_stream(&stream).await;
            }
        });
    }
}
