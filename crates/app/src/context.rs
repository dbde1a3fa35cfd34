//! Who sent a command and how it ties into a trace: becomes each event's metadata.

use cashflow_domain::{CommandId, UserId};
use cashflow_eventstore::{CommandMetadata, RecordedEvent};
use uuid::Uuid;

/// A command's context, as plain fields. The gRPC edge fills it from the caller and the request
/// metadata, a worker from the event it answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandContext {
    pub owner: UserId,
    pub command_id: CommandId,
    pub correlation_id: Uuid,
    /// The caller's W3C `traceparent`, if well-formed. With tracing on, the handler stores the
    /// command span's own context instead (a child of this one, so the same trace).
    pub traceparent: Option<String>,
    /// The event or command this one answers: set for a worker's commands and for the steps
    /// a command takes on other streams.
    pub causation_id: Option<Uuid>,
}

impl CommandContext {
    /// A person's command. It correlates to itself unless the caller named a correlation id.
    pub fn new(
        owner: UserId,
        command_id: CommandId,
        correlation_id: Option<Uuid>,
        traceparent: Option<String>,
    ) -> Self {
        Self {
            owner,
            command_id,
            correlation_id: correlation_id.unwrap_or_else(|| command_id.as_uuid()),
            traceparent,
            causation_id: None,
        }
    }

    /// The context of a worker's command answering `event`: the event's owner and trace, and a
    /// command id derived from the event and `purpose`, so a redelivered event repeats the same
    /// command (which the store answers with its first outcome) instead of doubling its effect.
    pub fn caused_by(event: &RecordedEvent, purpose: &str) -> Self {
        Self {
            owner: UserId::from_uuid(event.owner),
            command_id: derived_command_id(event.event_id, purpose),
            correlation_id: event.correlation_id,
            traceparent: event.traceparent.clone(),
            causation_id: Some(event.event_id),
        }
    }

    /// The context of one step of this command on another stream (the movement a correction
    /// re-records, one movement of a rules run): same owner and correlation, a command id
    /// derived from this one's and `purpose`, so a retried command repeats only missing steps.
    pub fn step(&self, purpose: &str) -> Self {
        Self {
            owner: self.owner,
            command_id: derived_command_id(self.command_id.as_uuid(), purpose),
            correlation_id: self.correlation_id,
            traceparent: self.traceparent.clone(),
            causation_id: Some(self.command_id.as_uuid()),
        }
    }

    pub fn metadata(&self) -> CommandMetadata {
        CommandMetadata {
            owner: self.owner.as_uuid(),
            command_id: self.command_id.as_uuid(),
            correlation_id: self.correlation_id,
            causation_id: self.causation_id,
            traceparent: self.traceparent.clone(),
        }
    }
}

/// A UUID (version 8, "custom") from SHA-256 of the cause and the purpose: the same inputs
/// always give the same id, different ones practically never collide.
pub fn derived_command_id(cause: Uuid, purpose: &str) -> CommandId {
    CommandId::from_uuid(derived_uuid(&[cause.as_bytes(), purpose.as_bytes()]))
}

/// A UUID (version 8, "custom") from SHA-256 of `parts` one after the other: the ids that
/// replicas, redeliveries and replays must agree on without asking each other (a person's
/// budget for a period, a cause's notification, a month's report). Stored ids depend on these
/// bytes: a caller's parts never change.
pub fn derived_uuid(parts: &[&[u8]]) -> Uuid {
    use sha2::{Digest, Sha256};
    let digest = parts.iter().fold(Sha256::new(), |hash, part| hash.chain_update(part)).finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_custom_bytes(bytes).into_uuid()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_ids_are_sha256_of_their_parts_in_order() {
        // Ids already stored were made this way; the helper must give them again.
        use sha2::{Digest, Sha256};
        let (a, b) = (Uuid::now_v7(), "purpose");
        let digest = Sha256::new().chain_update(a.as_bytes()).chain_update(b.as_bytes()).finalize();
        let expected = uuid::Builder::from_custom_bytes(digest[..16].try_into().unwrap()).into_uuid();
        assert_eq!(derived_uuid(&[a.as_bytes(), b.as_bytes()]), expected);
        assert_eq!(derived_command_id(a, b).as_uuid(), expected);
        assert_ne!(derived_uuid(&[b.as_bytes(), a.as_bytes()]), expected);
    }

    #[test]
    fn a_command_correlates_to_itself_unless_the_caller_says_otherwise() {
        let user = UserId::new();
        let command_id = CommandId::new();
        let context = CommandContext::new(user, command_id, None, None);
        assert_eq!(context.correlation_id, command_id.as_uuid());
        assert_eq!(context.metadata().owner, user.as_uuid());
        assert_eq!(context.metadata().command_id, command_id.as_uuid());

        let correlation = Uuid::now_v7();
        let context = CommandContext::new(user, command_id, Some(correlation), None);
        assert_eq!(context.correlation_id, correlation);
    }

    #[test]
    fn derived_command_ids_are_stable_and_distinct() {
        let cause = Uuid::now_v7();
        assert_eq!(derived_command_id(cause, "scan"), derived_command_id(cause, "scan"));
        assert_ne!(derived_command_id(cause, "scan"), derived_command_id(cause, "link"));
        assert_ne!(derived_command_id(cause, "scan"), derived_command_id(Uuid::now_v7(), "scan"));
        assert_eq!(derived_command_id(cause, "scan").as_uuid().get_version_num(), 8);
    }

    #[test]
    fn a_step_keeps_the_owner_and_correlation_and_is_caused_by_its_command() {
        let context = CommandContext::new(UserId::new(), CommandId::new(), None, Some("00-ab".into()));
        let step = context.step("void");
        assert_eq!((step.owner, step.correlation_id), (context.owner, context.correlation_id));
        assert_eq!(step.causation_id, Some(context.command_id.as_uuid()));
        assert_eq!(step.command_id, derived_command_id(context.command_id.as_uuid(), "void"));
        assert_eq!(step.traceparent, context.traceparent);
    }
}
