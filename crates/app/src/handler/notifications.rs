//! Notification commands: a person's channels, preferences and read marks (the `notifier`
//! stream), and raising a notification once (its own stream, its id derived from its cause).

use super::{CommandHandler, Ran};
use crate::context::{CommandContext, derived_command_id};
use crate::error::AppError;
use crate::input;
use cashflow_domain::notification::{self, Notification, Notifier, NotifierCommand, NotifierEvent, Raised};
use cashflow_domain::{Aggregate, ChannelId, DomainError, DomainEvent, NotificationId, UserId};
use cashflow_eventstore::{ExpectedVersion, StoreError};
use tracing::field::Empty;

/// The id of the one notification a cause raises, e.g. `budget <id> 2026-11 80`: a redelivered
/// or replayed event raises the same notification, which exists already.
pub fn notification_id_for(owner: UserId, cause: &str) -> NotificationId {
    NotificationId::from_uuid(crate::context::derived_uuid(&[
        b"cashflow notification\0",
        owner.as_uuid().as_bytes(),
        cause.as_bytes(),
    ]))
}

/// The stream of a person's channels, preferences and read marks.
pub fn notifier_stream(owner: UserId) -> String {
    cashflow_domain::StreamId::new(Notifier::STREAM_CATEGORY, owner.as_uuid()).to_string()
}

/// A channel as added: the id, and for a webhook the key its POSTs are signed with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddedChannel {
    pub channel_id: ChannelId,
    pub signing_secret: Option<String>,
    pub position: u64,
}

/// A notification as raised, or found raised already.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RaisedOutcome {
    pub notification_id: NotificationId,
    /// False when it had been raised before (a redelivery, a replay): nothing was appended.
    pub new: bool,
    pub position: u64,
}

/// The notification commands.
#[derive(Clone, Debug)]
pub struct NotificationCommands {
    commands: CommandHandler,
}

impl NotificationCommands {
    pub fn new(commands: CommandHandler) -> Self {
        Self { commands }
    }

    #[tracing::instrument(name = "command.add_channel", skip_all, err(level = "info"),
        fields(owner = %ctx.owner, command_id = %ctx.command_id, kind = input.kind.as_str(),
            stream_id = Empty, expected_version = Empty, events_appended = Empty))]
    pub async fn add_channel(&self, ctx: &CommandContext, input: input::AddChannel) -> Result<AddedChannel, AppError> {
        let channel_id = ChannelId::new();
        let signing_secret = match input.kind {
            notification::ChannelKind::Webhook => Some(signing_secret()?),
            _ => None,
        };
        let command = || NotifierCommand::AddChannel {
            channel_id,
            owner: ctx.owner,
            kind: input.kind,
            target: input.target.clone(),
            topics: input.topics.clone(),
            signing_secret: signing_secret.clone(),
        };
        let ran = self.run_on_notifier(ctx, command).await?;
        if let Ran::Appended(outcome) = &ran {
            return Ok(AddedChannel { channel_id, signing_secret, position: outcome.position });
        }
        // A retried command answers what its first run added, found by its command id.
        let position = ran.outcome().position;
        let recorded = self.commands.store().read_stream(&notifier_stream(ctx.owner)).await?;
        let first = recorded.iter().filter(|e| e.command_id == ctx.command_id.as_uuid()).find_map(|e| {
            match NotifierEvent::decode(&e.event_type, e.schema_version, &e.payload) {
                Ok(NotifierEvent::ChannelAdded { channel_id, signing_secret, .. }) => {
                    Some((channel_id, signing_secret))
                }
                _ => None,
            }
        });
        match first {
            Some((channel_id, signing_secret)) => Ok(AddedChannel { channel_id, signing_secret, position }),
            None => {
                Err(cashflow_domain::ValidationError::new("command_id", "was already used for a different command")
                    .into())
            }
        }
    }

    #[tracing::instrument(name = "command.remove_channel", skip_all, err(level = "info"),
        fields(owner = %ctx.owner, command_id = %ctx.command_id, channel_id = %input.channel_id,
            stream_id = Empty, expected_version = Empty, events_appended = Empty))]
    pub async fn remove_channel(&self, ctx: &CommandContext, input: input::RemoveChannel) -> Result<u64, AppError> {
        let ran = self.run_on_notifier(ctx, || NotifierCommand::RemoveChannel { channel_id: input.channel_id }).await?;
        Ok(ran.outcome().position)
    }

    #[tracing::instrument(name = "command.set_preferences", skip_all, err(level = "info"),
        fields(owner = %ctx.owner, command_id = %ctx.command_id,
            stream_id = Empty, expected_version = Empty, events_appended = Empty))]
    pub async fn set_preferences(&self, ctx: &CommandContext, input: input::SetPreferences) -> Result<u64, AppError> {
        let ran = self.run_on_notifier(ctx, || NotifierCommand::SetPreferences(input.change.clone())).await?;
        Ok(ran.outcome().position)
    }

    /// Marks the person's notifications read; one that is not theirs (or does not exist) fails
    /// the whole command with NOT_FOUND.
    #[tracing::instrument(name = "command.mark_read", skip_all, err(level = "info"),
        fields(owner = %ctx.owner, command_id = %ctx.command_id, notifications = input.notification_ids.len(),
            stream_id = Empty, expected_version = Empty, events_appended = Empty))]
    pub async fn mark_read(&self, ctx: &CommandContext, input: input::MarkRead) -> Result<u64, AppError> {
        let mut ids = input.notification_ids;
        ids.sort_unstable();
        ids.dedup();
        // The domain's count limit, checked before any notification's stream is read.
        notification::decide_notifier(
            &Notifier::default(),
            NotifierCommand::MarkRead { notification_ids: ids.clone() },
        )?;
        for id in &ids {
            let loaded = self.commands.load::<Notification>(&id.stream_id()).await?;
            if loaded.state.raised.as_ref().is_none_or(|raised| raised.owner != ctx.owner) {
                return Err(DomainError::NotFound { what: "notification" }.into());
            }
        }
        let ran = self.run_on_notifier(ctx, || NotifierCommand::MarkRead { notification_ids: ids.clone() }).await?;
        Ok(ran.outcome().position)
    }

    /// Raises a notification once. `ctx` is the causing event's; the command id is derived from
    /// the notification's id, so every attempt at the same notification is the same command.
    #[tracing::instrument(name = "command.raise_notification", skip_all, err(level = "info"),
        fields(owner = %ctx.owner, notification_id = %notification_id, topic = raised.topic.as_str(),
            stream_id = Empty, expected_version = Empty, events_appended = Empty))]
    pub async fn raise(
        &self,
        ctx: &CommandContext,
        notification_id: NotificationId,
        raised: Raised,
    ) -> Result<RaisedOutcome, AppError> {
        let ctx = CommandContext { command_id: derived_command_id(notification_id.as_uuid(), "raise"), ..ctx.clone() };
        let stream_id = notification_id.stream_id();
        let attempt = self
            .commands
            .run(&ctx, false, || async {
                let loaded = self.commands.load::<Notification>(&stream_id).await?;
                let events = notification::decide_raise(&loaded.state, notification_id, raised.clone());
                self.commands.append(&ctx, stream_id.clone(), ExpectedVersion::NoStream, &events).await
            })
            .await;
        match attempt {
            Ok(Ran::Appended(outcome)) => {
                Ok(RaisedOutcome { notification_id, new: outcome.stream_version > 0, position: outcome.position })
            }
            Ok(Ran::Replayed(outcome)) => Ok(RaisedOutcome { notification_id, new: false, position: outcome.position }),
            // Raised by a concurrent attempt under the same id.
            Err(AppError::Store(StoreError::Conflict { .. })) => {
                let position = self.commands.store().head().await?;
                Ok(RaisedOutcome { notification_id, new: false, position })
            }
            Err(error) => Err(error),
        }
    }

    async fn run_on_notifier<F>(&self, ctx: &CommandContext, command: F) -> Result<Ran, AppError>
    where
        F: Fn() -> NotifierCommand,
    {
        let stream_id = notifier_stream(ctx.owner);
        self.commands
            .run(ctx, true, || async {
                let loaded = self.commands.load::<Notifier>(&stream_id).await?;
                let events = notification::decide_notifier(&loaded.state, command())?;
                self.commands.append(ctx, stream_id.clone(), ExpectedVersion::Exact(loaded.version), &events).await
            })
            .await
    }
}

/// A webhook's signing key: 32 random bytes, hex, with a prefix that says what it is.
fn signing_secret() -> Result<String, AppError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|error| AppError::internal(format!("no randomness: {error}")))?;
    Ok(format!("whsec_{}", hex::encode(bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cause_has_one_notification_id_per_person() {
        let (ana, ben) = (UserId::new(), UserId::new());
        assert_eq!(notification_id_for(ana, "movement x"), notification_id_for(ana, "movement x"));
        assert_ne!(notification_id_for(ana, "movement x"), notification_id_for(ana, "movement y"));
        assert_ne!(notification_id_for(ana, "movement x"), notification_id_for(ben, "movement x"));
    }

    #[test]
    fn signing_secrets_are_long_and_fresh() {
        let (a, b) = (signing_secret().unwrap(), signing_secret().unwrap());
        assert_eq!(a.len(), "whsec_".len() + 64);
        assert_ne!(a, b);
    }
}
