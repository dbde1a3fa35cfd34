//! `cashflow.v1.AuditService`: a stream's stored history and its hash-chain check, for the
//! stream's owner only. Another user's stream and a missing one are the same NOT_FOUND.

use crate::auth::Caller;
use crate::context::trace_id;
use crate::error::status;
use cashflow_domain::StreamId;
use cashflow_eventstore::{EventStore, RecordedEvent, hash};
use cashflow_proto::v1 as pb;
use cashflow_proto::v1::audit_service_server::AuditService;
use futures::Stream;
use std::pin::Pin;
use std::sync::Arc;
use tonic::{Request, Response, Status};

#[derive(Clone)]
pub struct AuditApi {
    store: Arc<dyn EventStore>,
}

impl std::fmt::Debug for AuditApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditApi").finish_non_exhaustive()
    }
}

impl AuditApi {
    pub fn new(store: Arc<dyn EventStore>) -> Self {
        Self { store }
    }

    /// The stream's events, when it exists and every event is the caller's.
    async fn owned_stream(&self, caller: Caller, stream_id: &str) -> Result<Vec<RecordedEvent>, Status> {
        // The shape is checked first, so junk never reaches the store or the logs: the span
        // records the id only once it is one (a request may carry megabytes of anything).
        let stream_id = StreamId::parse(stream_id).map_err(status)?.to_string();
        tracing::Span::current().record("stream_id", stream_id.as_str());
        let events = self.store.read_stream(&stream_id).await.map_err(status)?;
        let owner = caller.user_id.as_uuid();
        if events.is_empty() || events.iter().any(|e| e.owner != owner) {
            return Err(Status::not_found("stream not found"));
        }
        Ok(events)
    }
}

/// An event as auditors see it: every stored field, the payload as JSON text.
pub fn audit_event(event: RecordedEvent) -> pb::AuditEvent {
    let trace_id = event.traceparent.as_deref().and_then(trace_id).unwrap_or_default().to_owned();
    pb::AuditEvent {
        event_id: event.event_id.to_string(),
        stream_id: event.stream_id,
        version: event.version,
        position: event.position,
        event_type: event.event_type,
        recorded_at: Some(prost_types::Timestamp {
            seconds: event.recorded_at.timestamp(),
            // Below 2e9 by construction; saturate rather than panic.
            nanos: i32::try_from(event.recorded_at.timestamp_subsec_nanos()).unwrap_or(i32::MAX),
        }),
        payload_json: event.payload.to_string(),
        user_id: event.owner.to_string(),
        command_id: event.command_id.to_string(),
        correlation_id: event.correlation_id.to_string(),
        causation_id: event.causation_id.map(|id| id.to_string()).unwrap_or_default(),
        trace_id,
        hash: hex::encode(event.hash),
        schema_version: event.schema_version,
    }
}

type AuditEventStream = Pin<Box<dyn Stream<Item = Result<pb::AuditEvent, Status>> + Send>>;

#[tonic::async_trait]
impl AuditService for AuditApi {
    type ReadStreamStream = AuditEventStream;

    #[tracing::instrument(name = "audit.read_stream", skip_all, err(level = "info"),
        fields(stream_id = tracing::field::Empty))]
    async fn read_stream(
        &self,
        request: Request<pb::ReadStreamRequest>,
    ) -> Result<Response<Self::ReadStreamStream>, Status> {
        let caller = Caller::of(&request)?;
        let events = self.owned_stream(caller, &request.get_ref().stream_id).await?;
        let stream = futures::stream::iter(events.into_iter().map(|event| Ok(audit_event(event))));
        Ok(Response::new(Box::pin(stream)))
    }

    #[tracing::instrument(name = "audit.verify_stream", skip_all, err(level = "info"),
        fields(stream_id = tracing::field::Empty))]
    async fn verify_stream(
        &self,
        request: Request<pb::VerifyStreamRequest>,
    ) -> Result<Response<pb::VerifyStreamResponse>, Status> {
        let caller = Caller::of(&request)?;
        let events = self.owned_stream(caller, &request.get_ref().stream_id).await?;
        let verification = hash::verify(&events);
        if !verification.ok {
            // The span carries the (validated) stream id.
            tracing::warn!(first_bad_version = ?verification.first_bad_version, "hash chain broken");
        }
        Ok(Response::new(pb::VerifyStreamResponse {
            ok: verification.ok,
            events_checked: verification.events_checked,
            first_bad_version: verification.first_bad_version.unwrap_or(0),
        }))
    }
}

#[cfg(test)]
mod tests;
