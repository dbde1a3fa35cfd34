//! The audit service over the in-memory store.

use super::*;
use async_trait::async_trait;
use cashflow_domain::UserId;
use cashflow_eventstore::{
    AppendOutcome, AppendRequest, CommandMetadata, ExpectedVersion, InMemoryEventStore, NewEvent, StoreError,
};
use futures::TryStreamExt;
use serde_json::json;
use std::time::Duration;
use tonic::Code;
use tonic_types::StatusExt;
use uuid::Uuid;

const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

fn as_user<T>(user: UserId, message: T) -> Request<T> {
    let mut request = Request::new(message);
    request.extensions_mut().insert(Caller { user_id: user });
    request
}

/// Appends a two-event movement stream owned by `owner`; returns its id.
async fn movement_stream(store: &dyn EventStore, owner: UserId) -> (String, Uuid) {
    let stream_id = format!("movement-{}", Uuid::now_v7());
    let command_id = Uuid::now_v7();
    let event = |event_type: &str, payload| NewEvent {
        event_id: Uuid::now_v7(),
        event_type: event_type.into(),
        schema_version: 1,
        payload,
    };
    let request = AppendRequest {
        stream_id: stream_id.clone(),
        expected_version: ExpectedVersion::NoStream,
        metadata: CommandMetadata {
            owner: owner.as_uuid(),
            command_id,
            correlation_id: command_id,
            causation_id: None,
            traceparent: Some(TRACEPARENT.into()),
        },
        guards: Vec::new(),
        events: vec![
            event("MovementRecorded", json!({ "note": "not decoded by the audit" })),
            event("MovementVoided", json!({ "reason": "duplicate" })),
        ],
    };
    store.append(request).await.unwrap();
    (stream_id, command_id)
}

async fn read(api: &AuditApi, user: UserId, stream_id: &str) -> Result<Vec<pb::AuditEvent>, Status> {
    let request = as_user(user, pb::ReadStreamRequest { stream_id: stream_id.into() });
    api.read_stream(request).await?.into_inner().try_collect().await
}

async fn verify(api: &AuditApi, user: UserId, stream_id: &str) -> Result<pb::VerifyStreamResponse, Status> {
    let request = as_user(user, pb::VerifyStreamRequest { stream_id: stream_id.into() });
    Ok(api.verify_stream(request).await?.into_inner())
}

#[tokio::test]
async fn the_owner_reads_every_stored_field() {
    let store = Arc::new(InMemoryEventStore::new());
    let user = UserId::new();
    let (stream_id, command_id) = movement_stream(store.as_ref(), user).await;
    let api = AuditApi::new(store.clone());
    let events = read(&api, user, &stream_id).await.unwrap();
    let stored = store.read_stream(&stream_id).await.unwrap();
    assert_eq!(events.len(), 2);
    for (event, stored) in events.iter().zip(&stored) {
        assert_eq!(event.event_id, stored.event_id.to_string());
        assert_eq!(event.stream_id, stream_id);
        assert_eq!(event.version, stored.version);
        assert_eq!(event.position, stored.position);
        assert_eq!(event.event_type, stored.event_type);
        let recorded_at = event.recorded_at.unwrap();
        assert_eq!(recorded_at.seconds, stored.recorded_at.timestamp());
        assert_eq!(recorded_at.nanos as u32, stored.recorded_at.timestamp_subsec_nanos());
        assert_eq!(serde_json::from_str::<serde_json::Value>(&event.payload_json).unwrap(), stored.payload);
        assert_eq!(event.user_id, user.to_string());
        assert_eq!(event.command_id, command_id.to_string());
        assert_eq!(event.correlation_id, command_id.to_string());
        assert_eq!(event.causation_id, "");
        assert_eq!(event.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(event.hash, hex::encode(stored.hash));
        assert_eq!(event.schema_version, 1);
    }
    assert_eq!(events[1].version, 2);
}

#[tokio::test]
async fn another_users_or_a_missing_stream_is_not_found() {
    let store = Arc::new(InMemoryEventStore::new());
    let (alice, mallory) = (UserId::new(), UserId::new());
    let (stream_id, _) = movement_stream(store.as_ref(), alice).await;
    let api = AuditApi::new(store);
    assert_eq!(read(&api, mallory, &stream_id).await.unwrap_err().code(), Code::NotFound);
    assert_eq!(verify(&api, mallory, &stream_id).await.unwrap_err().code(), Code::NotFound);
    let missing = format!("movement-{}", Uuid::now_v7());
    assert_eq!(read(&api, alice, &missing).await.unwrap_err().code(), Code::NotFound);
    assert_eq!(verify(&api, alice, &missing).await.unwrap_err().code(), Code::NotFound);
}

#[tokio::test]
async fn a_malformed_stream_id_is_invalid_argument() {
    let api = AuditApi::new(Arc::new(InMemoryEventStore::new()));
    let status = read(&api, UserId::new(), "movement-42").await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(status.get_details_bad_request().unwrap().field_violations[0].field, "stream_id");
}

#[tokio::test]
async fn an_intact_stream_verifies() {
    let store = Arc::new(InMemoryEventStore::new());
    let user = UserId::new();
    let (stream_id, _) = movement_stream(store.as_ref(), user).await;
    let response = verify(&AuditApi::new(store), user, &stream_id).await.unwrap();
    assert_eq!(response, pb::VerifyStreamResponse { ok: true, events_checked: 2, first_bad_version: 0 });
}

/// Serves a stream whose second event's payload was edited after it was stored.
struct TamperedStore(InMemoryEventStore);

#[async_trait]
impl EventStore for TamperedStore {
    async fn append(&self, request: AppendRequest) -> Result<AppendOutcome, StoreError> {
        self.0.append(request).await
    }

    async fn find_command(&self, owner: Uuid, command_id: Uuid) -> Result<Option<AppendOutcome>, StoreError> {
        self.0.find_command(owner, command_id).await
    }

    async fn read_stream(&self, stream_id: &str) -> Result<Vec<RecordedEvent>, StoreError> {
        let mut events = self.0.read_stream(stream_id).await?;
        if let Some(event) = events.get_mut(1) {
            event.payload = json!({ "reason": "nothing to see here" });
        }
        Ok(events)
    }

    async fn read_all(&self, after: u64, limit: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        self.0.read_all(after, limit).await
    }

    async fn head(&self) -> Result<u64, StoreError> {
        self.0.head().await
    }

    async fn wait_for_events(&self, after: u64, timeout: Duration) -> Result<u64, StoreError> {
        self.0.wait_for_events(after, timeout).await
    }
}

#[tokio::test]
async fn a_tampered_stream_reports_its_first_bad_version() {
    let store = Arc::new(TamperedStore(InMemoryEventStore::new()));
    let user = UserId::new();
    let (stream_id, _) = movement_stream(store.as_ref(), user).await;
    let response = verify(&AuditApi::new(store), user, &stream_id).await.unwrap();
    assert_eq!(response, pb::VerifyStreamResponse { ok: false, events_checked: 2, first_bad_version: 2 });
}
