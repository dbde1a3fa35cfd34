//! NotificationService's messages to the application's inputs, and the read model's rows back.

use super::{FromRequest, command_id, present};
use cashflow_app::input::{MarkRead, RemoveChannel, SetPreferences};
use cashflow_domain::notification::{ChannelKind, PreferencesChange, Topic, Topics};
use cashflow_domain::{Amount, ChannelId, NotificationId, ValidationError};
use cashflow_projection_notifications::{ChannelView, NotificationView};
use cashflow_proto::v1 as pb;

pub fn channel_kind(raw: i32) -> Result<ChannelKind, ValidationError> {
    match pb::ChannelKind::try_from(raw) {
        Ok(pb::ChannelKind::Email) => Ok(ChannelKind::Email),
        Ok(pb::ChannelKind::Webhook) => Ok(ChannelKind::Webhook),
        Ok(pb::ChannelKind::Push) => Ok(ChannelKind::Push),
        Ok(pb::ChannelKind::Sms) => Ok(ChannelKind::Sms),
        _ => Err(ValidationError::new("kind", "must be CHANNEL_KIND_EMAIL, _WEBHOOK, _PUSH or _SMS")),
    }
}

fn channel_kind_to_proto(kind: ChannelKind) -> pb::ChannelKind {
    match kind {
        ChannelKind::Email => pb::ChannelKind::Email,
        ChannelKind::Webhook => pb::ChannelKind::Webhook,
        ChannelKind::Push => pb::ChannelKind::Push,
        ChannelKind::Sms => pb::ChannelKind::Sms,
    }
}

pub fn topics(raw: &[i32]) -> Result<Topics, ValidationError> {
    let topic = |raw: &i32| match pb::NotificationTopic::try_from(*raw) {
        Ok(pb::NotificationTopic::BudgetThreshold) => Ok(Topic::BudgetThreshold),
        Ok(pb::NotificationTopic::LargeExpense) => Ok(Topic::LargeExpense),
        Ok(pb::NotificationTopic::InvoiceProcessed) => Ok(Topic::InvoiceProcessed),
        Ok(pb::NotificationTopic::ReportReady) => Ok(Topic::ReportReady),
        _ => Err(ValidationError::new("topics", format!("{raw} is not a NotificationTopic"))),
    };
    Ok(Topics::new(raw.iter().map(topic).collect::<Result<Vec<_>, _>>()?))
}

fn topic_to_proto(topic: Topic) -> pb::NotificationTopic {
    match topic {
        Topic::BudgetThreshold => pb::NotificationTopic::BudgetThreshold,
        Topic::LargeExpense => pb::NotificationTopic::LargeExpense,
        Topic::InvoiceProcessed => pb::NotificationTopic::InvoiceProcessed,
        Topic::ReportReady => pb::NotificationTopic::ReportReady,
    }
}

impl FromRequest<pb::RemoveChannelRequest> for RemoveChannel {
    fn from_request(request: pb::RemoveChannelRequest) -> Result<Self, ValidationError> {
        Ok(Self {
            command_id: command_id(&request.command_id)?,
            channel_id: ChannelId::parse("channel_id", &request.channel_id)?,
        })
    }
}

impl FromRequest<pb::SetPreferencesRequest> for SetPreferences {
    fn from_request(request: pb::SetPreferencesRequest) -> Result<Self, ValidationError> {
        const FIELD: &str = "large_expense_threshold";
        let large_expense_threshold = match request.large_expense_threshold.as_deref() {
            None => None,
            Some(raw) if present(Some(raw)).is_none() => Some(None),
            Some(raw) => match raw.trim().parse::<rust_decimal::Decimal>() {
                Ok(zero) if zero.is_zero() => Some(None),
                _ => Some(Some(Amount::parse(FIELD, raw)?)),
            },
        };
        Ok(Self {
            command_id: command_id(&request.command_id)?,
            change: PreferencesChange { large_expense_threshold, monthly_report: request.monthly_report },
        })
    }
}

impl FromRequest<pb::MarkReadRequest> for MarkRead {
    fn from_request(request: pb::MarkReadRequest) -> Result<Self, ValidationError> {
        let notification_ids = request
            .notification_ids
            .iter()
            .map(|raw| NotificationId::parse("notification_ids", raw))
            .collect::<Result<_, _>>()?;
        Ok(Self { command_id: command_id(&request.command_id)?, notification_ids })
    }
}

pub fn notification_to_proto(view: NotificationView) -> pb::Notification {
    pb::Notification {
        notification_id: view.notification_id.to_string(),
        topic: topic_to_proto(view.topic).into(),
        title: view.title,
        body: view.body,
        subject_id: view.subject_id,
        created_at: Some(super::timestamp(view.created_at)),
        read: view.read,
        data: view.data.into_iter().collect(),
    }
}

pub fn channel_to_proto(view: ChannelView) -> pb::Channel {
    pb::Channel {
        channel_id: view.channel_id.to_string(),
        kind: channel_kind_to_proto(view.kind).into(),
        target: view.target,
        topics: view.topics.into_iter().map(|t| topic_to_proto(t).into()).collect(),
        delivered: view.delivered,
        failed: view.failed,
        pending: view.pending,
        last_error: view.last_error.unwrap_or_default(),
    }
}
