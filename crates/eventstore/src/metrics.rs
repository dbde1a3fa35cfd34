//! The event store's Prometheus metrics. Recorded through the `metrics` facade, so they cost
//! nothing until the binary installs a recorder.

use crate::{AppendOutcome, AppendRequest, StoreError};
use std::time::Duration;

/// Seconds per append (one transaction, retries of `ExpectedVersion::Any` included), by outcome.
pub const APPEND_DURATION: &str = "cashflow_eventstore_append_duration_seconds";
/// Appends refused because the stream was not at the expected version.
pub const APPEND_CONFLICTS: &str = "cashflow_eventstore_append_conflicts_total";
/// Events stored, by event type (replayed commands store none).
pub const EVENTS_APPENDED: &str = "cashflow_events_appended_total";
/// Appends per group commit (one batch of the PostgreSQL store's writer).
pub const BATCH_REQUESTS: &str = "cashflow_eventstore_batch_requests";
/// Seconds per group commit: its read, its write and its commit.
pub const BATCH_DURATION: &str = "cashflow_eventstore_batch_duration_seconds";

/// Describes the metrics, so an exporter shows their help text before the first append.
pub fn describe() {
    metrics::describe_histogram!(APPEND_DURATION, metrics::Unit::Seconds, "Event store append latency, by outcome");
    metrics::describe_counter!(APPEND_CONFLICTS, "Appends refused by the expected-version check");
    metrics::describe_counter!(EVENTS_APPENDED, "Events stored, by event type");
    metrics::describe_histogram!(BATCH_REQUESTS, "Appends sharing one group commit");
    metrics::describe_histogram!(BATCH_DURATION, metrics::Unit::Seconds, "Group commit latency: read, write, commit");
    // Present at 0 from the start, so a rate over it is defined before the first conflict.
    metrics::counter!(APPEND_CONFLICTS).absolute(0);
}

pub(crate) fn record_batch(requests: usize, took: Duration) {
    metrics::histogram!(BATCH_REQUESTS).record(requests as f64);
    metrics::histogram!(BATCH_DURATION).record(took.as_secs_f64());
}

pub(crate) fn record_append(request: &AppendRequest, result: &Result<AppendOutcome, StoreError>, took: Duration) {
    let outcome = match result {
        Ok(outcome) if outcome.replayed => "replayed",
        Ok(_) => "ok",
        Err(StoreError::Conflict { .. }) => "conflict",
        Err(_) => "error",
    };
    metrics::histogram!(APPEND_DURATION, "outcome" => outcome).record(took.as_secs_f64());
    match result {
        Ok(outcome) if !outcome.replayed => {
            for event in &request.events {
                metrics::counter!(EVENTS_APPENDED, "event_type" => event.event_type.clone()).increment(1);
            }
        }
        Err(StoreError::Conflict { .. }) => metrics::counter!(APPEND_CONFLICTS).increment(1),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ExpectedVersion;
    use crate::contract::new_request;
    use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};
    use std::collections::BTreeMap;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::{Arc, Mutex};

    /// Counts every counter increment and histogram sample, by name and labels.
    #[derive(Default)]
    struct Counting {
        counters: Mutex<BTreeMap<String, Arc<AtomicU64>>>,
        samples: Mutex<BTreeMap<String, Arc<Samples>>>,
    }

    #[derive(Default)]
    struct Samples(AtomicU64);

    impl metrics::HistogramFn for Samples {
        fn record(&self, _value: f64) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn name(key: &Key) -> String {
        let labels: Vec<String> = key.labels().map(|l| format!("{}={}", l.key(), l.value())).collect();
        format!("{}{{{}}}", key.name(), labels.join(","))
    }

    impl Recorder for Counting {
        fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
            Counter::from_arc(self.counters.lock().unwrap().entry(name(key)).or_default().clone())
        }
        fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
            Gauge::noop()
        }
        fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
            Histogram::from_arc(self.samples.lock().unwrap().entry(name(key)).or_default().clone())
        }
    }

    impl Counting {
        fn counter(&self, name: &str) -> u64 {
            self.counters.lock().unwrap().get(name).map_or(0, |c| c.load(Ordering::Relaxed))
        }
        fn samples(&self, name: &str) -> u64 {
            self.samples.lock().unwrap().get(name).map_or(0, |s| s.0.load(Ordering::Relaxed))
        }
    }

    #[test]
    fn appends_are_counted_by_outcome_and_event_type() {
        let recorder = Counting::default();
        let request = new_request("account-x", ExpectedVersion::NoStream, 3);
        let event_type = request.events[0].event_type.clone();
        let stored = AppendOutcome { stream_id: "account-x".into(), stream_version: 3, position: 3, replayed: false };
        let conflict =
            StoreError::Conflict { stream_id: "account-x".into(), expected: ExpectedVersion::NoStream, actual: 3 };
        metrics::with_local_recorder(&recorder, || {
            describe();
            record_append(&request, &Ok(stored.clone()), Duration::from_millis(2));
            record_append(&request, &Ok(AppendOutcome { replayed: true, ..stored }), Duration::from_millis(1));
            record_append(&request, &Err(conflict), Duration::from_millis(1));
            record_append(&request, &Err(StoreError::Unavailable("down".into())), Duration::from_millis(1));
        });
        // A replay stores nothing, so only the first append's events count.
        let same_type = request.events.iter().filter(|e| e.event_type == event_type).count() as u64;
        assert_eq!(recorder.counter(&format!("{EVENTS_APPENDED}{{event_type={event_type}}}")), same_type);
        assert_eq!(recorder.counter(&format!("{APPEND_CONFLICTS}{{}}")), 1);
        for outcome in ["ok", "replayed", "conflict", "error"] {
            assert_eq!(recorder.samples(&format!("{APPEND_DURATION}{{outcome={outcome}}}")), 1, "{outcome}");
        }
    }
}
