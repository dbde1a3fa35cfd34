//! Notifications: what a person is told, and where.
//!
//! Two aggregates:
//! - [`Notifier`], one per person (stream `notifier-<user id>`): the channels notifications are
//!   delivered to, the person's preferences, and which notifications they have read.
//! - [`Notification`], one per thing said (stream `notification-<id>`). Its id derives from its
//!   cause (a budget's threshold in a month, a movement, an invoice), so raising it again, from
//!   a redelivered or replayed event, finds it raised and appends nothing.

use crate::aggregate::{Aggregate, DomainEvent};
use crate::error::{DomainError, ValidationError};
use crate::{Amount, ChannelId, NotificationId, UserId};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// How a notification reaches a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChannelKind {
    Email,
    Webhook,
    Push,
    Sms,
}

impl ChannelKind {
    pub const ALL: [ChannelKind; 4] = [Self::Email, Self::Webhook, Self::Push, Self::Sms];

    /// The name stored in read models and metrics' labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::Webhook => "webhook",
            Self::Push => "push",
            Self::Sms => "sms",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == name)
    }
}

/// What a notification is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Topic {
    BudgetThreshold,
    LargeExpense,
    InvoiceProcessed,
    ReportReady,
}

impl Topic {
    pub const ALL: [Topic; 4] = [Self::BudgetThreshold, Self::LargeExpense, Self::InvoiceProcessed, Self::ReportReady];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::BudgetThreshold => "budget_threshold",
            Self::LargeExpense => "large_expense",
            Self::InvoiceProcessed => "invoice_processed",
            Self::ReportReady => "report_ready",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|topic| topic.as_str() == name)
    }
}

/// The topics a channel receives: every topic when empty.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Topics(BTreeSet<Topic>);

impl Topics {
    pub fn new(topics: impl IntoIterator<Item = Topic>) -> Self {
        Self(topics.into_iter().collect())
    }

    pub fn includes(&self, topic: Topic) -> bool {
        self.0.is_empty() || self.0.contains(&topic)
    }

    /// As chosen: empty means every topic.
    pub fn chosen(&self) -> impl Iterator<Item = Topic> + '_ {
        self.0.iter().copied()
    }
}

/// Where one channel delivers, already checked by the edge for its kind (an email address, an
/// http(s) URL, an E.164 number): at most [`ChannelTarget::MAX_LEN`] characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ChannelTarget(String);

impl ChannelTarget {
    pub const MAX_LEN: usize = 2048;

    pub fn new(field: &'static str, target: String) -> Result<Self, ValidationError> {
        if target.is_empty() {
            return Err(ValidationError::new(field, "must not be empty"));
        }
        if target.chars().count() > Self::MAX_LEN {
            return Err(ValidationError::new(field, format!("at most {} characters", Self::MAX_LEN)));
        }
        Ok(Self(target))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum NotifierEvent {
    ChannelAdded {
        channel_id: ChannelId,
        owner: UserId,
        kind: ChannelKind,
        target: ChannelTarget,
        topics: Topics,
        /// Webhooks: the key their POSTs are signed with, which the person was given.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        signing_secret: Option<String>,
    },
    ChannelRemoved {
        channel_id: ChannelId,
    },
    /// The preferences as they now are.
    PreferencesSet {
        large_expense_threshold: Option<Amount>,
        monthly_report: bool,
    },
    NotificationsRead {
        notification_ids: Vec<NotificationId>,
    },
}

impl DomainEvent for NotifierEvent {
    const EVENT_TYPES: &'static [&'static str] =
        &["ChannelAdded", "ChannelRemoved", "PreferencesSet", "NotificationsRead"];

    fn event_type(&self) -> &'static str {
        match self {
            Self::ChannelAdded { .. } => "ChannelAdded",
            Self::ChannelRemoved { .. } => "ChannelRemoved",
            Self::PreferencesSet { .. } => "PreferencesSet",
            Self::NotificationsRead { .. } => "NotificationsRead",
        }
    }
}

/// A person's channels and preferences. Read marks are not kept: the read model keeps them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Notifier {
    pub channels: BTreeMap<ChannelId, (ChannelKind, ChannelTarget)>,
    pub large_expense_threshold: Option<Amount>,
    pub monthly_report: bool,
}

impl Notifier {
    /// Channels a person may have at once.
    pub const MAX_CHANNELS: usize = 20;
    /// Notifications one MarkRead may name.
    pub const MAX_READ_AT_ONCE: usize = 500;
}

impl Aggregate for Notifier {
    type Event = NotifierEvent;
    const STREAM_CATEGORY: &'static str = "notifier";

    fn apply(&mut self, event: &NotifierEvent) {
        match event {
            NotifierEvent::ChannelAdded { channel_id, kind, target, .. } => {
                self.channels.insert(*channel_id, (*kind, target.clone()));
            }
            NotifierEvent::ChannelRemoved { channel_id } => {
                self.channels.remove(channel_id);
            }
            NotifierEvent::PreferencesSet { large_expense_threshold, monthly_report } => {
                self.large_expense_threshold = *large_expense_threshold;
                self.monthly_report = *monthly_report;
            }
            NotifierEvent::NotificationsRead { .. } => {}
        }
    }
}

/// A change of preferences: `None` leaves a preference as it is.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PreferencesChange {
    /// `Some(None)` turns large expense notifications off.
    pub large_expense_threshold: Option<Option<Amount>>,
    pub monthly_report: Option<bool>,
}

#[derive(Debug, Clone)]
pub enum NotifierCommand {
    AddChannel {
        channel_id: ChannelId,
        owner: UserId,
        kind: ChannelKind,
        target: ChannelTarget,
        topics: Topics,
        signing_secret: Option<String>,
    },
    RemoveChannel {
        channel_id: ChannelId,
    },
    SetPreferences(PreferencesChange),
    /// Ids the caller has checked are the person's notifications.
    MarkRead {
        notification_ids: Vec<NotificationId>,
    },
}

pub fn decide_notifier(state: &Notifier, command: NotifierCommand) -> Result<Vec<NotifierEvent>, DomainError> {
    match command {
        NotifierCommand::AddChannel { channel_id, owner, kind, target, topics, signing_secret } => {
            if state.channels.values().any(|(k, t)| *k == kind && *t == target) {
                return Err(DomainError::AlreadyExists { what: "channel" });
            }
            if state.channels.len() >= Notifier::MAX_CHANNELS {
                return Err(DomainError::LimitReached { what: "channels", limit: Notifier::MAX_CHANNELS });
            }
            Ok(vec![NotifierEvent::ChannelAdded { channel_id, owner, kind, target, topics, signing_secret }])
        }
        NotifierCommand::RemoveChannel { channel_id } => {
            if !state.channels.contains_key(&channel_id) {
                return Err(DomainError::NotFound { what: "channel" });
            }
            Ok(vec![NotifierEvent::ChannelRemoved { channel_id }])
        }
        NotifierCommand::SetPreferences(change) => {
            let large_expense_threshold = change.large_expense_threshold.unwrap_or(state.large_expense_threshold);
            let monthly_report = change.monthly_report.unwrap_or(state.monthly_report);
            if large_expense_threshold == state.large_expense_threshold && monthly_report == state.monthly_report {
                return Ok(vec![]);
            }
            Ok(vec![NotifierEvent::PreferencesSet { large_expense_threshold, monthly_report }])
        }
        NotifierCommand::MarkRead { notification_ids } => {
            if notification_ids.is_empty() {
                return Err(ValidationError::new("notification_ids", "name at least one notification").into());
            }
            if notification_ids.len() > Notifier::MAX_READ_AT_ONCE {
                return Err(ValidationError::new(
                    "notification_ids",
                    format!("at most {} at once", Notifier::MAX_READ_AT_ONCE),
                )
                .into());
            }
            Ok(vec![NotifierEvent::NotificationsRead { notification_ids }])
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum NotificationEvent {
    NotificationRaised {
        notification_id: NotificationId,
        owner: UserId,
        topic: Topic,
        title: String,
        body: String,
        /// The budget, movement, invoice or report it is about.
        subject_id: String,
        data: BTreeMap<String, String>,
    },
}

impl DomainEvent for NotificationEvent {
    const EVENT_TYPES: &'static [&'static str] = &["NotificationRaised"];

    fn event_type(&self) -> &'static str {
        match self {
            Self::NotificationRaised { .. } => "NotificationRaised",
        }
    }
}

/// What a notification says, decided by the notification worker.
#[derive(Debug, Clone, PartialEq)]
pub struct Raised {
    pub owner: UserId,
    pub topic: Topic,
    pub title: String,
    pub body: String,
    pub subject_id: String,
    pub data: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Notification {
    pub raised: Option<Raised>,
}

impl Aggregate for Notification {
    type Event = NotificationEvent;
    const STREAM_CATEGORY: &'static str = NotificationId::STREAM_CATEGORY;

    fn apply(&mut self, event: &NotificationEvent) {
        match event {
            NotificationEvent::NotificationRaised { owner, topic, title, body, subject_id, data, .. } => {
                self.raised = Some(Raised {
                    owner: *owner,
                    topic: *topic,
                    title: title.clone(),
                    body: body.clone(),
                    subject_id: subject_id.clone(),
                    data: data.clone(),
                });
            }
        }
    }
}

/// Raises the notification once: raising it again (a redelivery, a replay) appends nothing.
pub fn decide_raise(state: &Notification, notification_id: NotificationId, raised: Raised) -> Vec<NotificationEvent> {
    if state.raised.is_some() {
        return vec![];
    }
    let Raised { owner, topic, title, body, subject_id, data } = raised;
    vec![NotificationEvent::NotificationRaised { notification_id, owner, topic, title, body, subject_id, data }]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::fold;

    fn add(kind: ChannelKind, target: &str) -> NotifierCommand {
        NotifierCommand::AddChannel {
            channel_id: ChannelId::new(),
            owner: UserId::new(),
            kind,
            target: ChannelTarget::new("target", target.into()).unwrap(),
            topics: Topics::default(),
            signing_secret: None,
        }
    }

    #[test]
    fn a_channel_is_added_once_and_removed_once() {
        let events = decide_notifier(&Notifier::default(), add(ChannelKind::Email, "ana@example.com")).unwrap();
        let state = fold::<Notifier>(&events);
        let again = decide_notifier(&state, add(ChannelKind::Email, "ana@example.com")).unwrap_err();
        assert_eq!(again, DomainError::AlreadyExists { what: "channel" });
        assert!(decide_notifier(&state, add(ChannelKind::Sms, "+34600111222")).is_ok());
        let channel_id = *state.channels.keys().next().unwrap();
        let removed = decide_notifier(&state, NotifierCommand::RemoveChannel { channel_id }).unwrap();
        let state = fold::<Notifier>(events.iter().chain(&removed));
        let error = decide_notifier(&state, NotifierCommand::RemoveChannel { channel_id }).unwrap_err();
        assert_eq!(error, DomainError::NotFound { what: "channel" });
    }

    #[test]
    fn channels_are_limited_per_person() {
        let mut events = Vec::new();
        for n in 0..Notifier::MAX_CHANNELS {
            let state = fold::<Notifier>(&events);
            events.extend(decide_notifier(&state, add(ChannelKind::Email, &format!("p{n}@example.com"))).unwrap());
        }
        let error = decide_notifier(&fold::<Notifier>(&events), add(ChannelKind::Email, "one@more.com")).unwrap_err();
        assert!(matches!(error, DomainError::LimitReached { what: "channels", .. }));
    }

    #[test]
    fn preferences_change_only_what_is_given() {
        let threshold = Amount::parse("large_expense_threshold", "500").unwrap();
        let change = PreferencesChange { large_expense_threshold: Some(Some(threshold)), monthly_report: None };
        let events = decide_notifier(&Notifier::default(), NotifierCommand::SetPreferences(change)).unwrap();
        let state = fold::<Notifier>(&events);
        assert_eq!((state.large_expense_threshold, state.monthly_report), (Some(threshold), false));
        let same = PreferencesChange { large_expense_threshold: None, monthly_report: Some(false) };
        assert!(decide_notifier(&state, NotifierCommand::SetPreferences(same)).unwrap().is_empty());
        let off = PreferencesChange { large_expense_threshold: Some(None), monthly_report: Some(true) };
        let events = decide_notifier(&state, NotifierCommand::SetPreferences(off)).unwrap();
        assert_eq!(events, [NotifierEvent::PreferencesSet { large_expense_threshold: None, monthly_report: true }]);
    }

    #[test]
    fn mark_read_names_between_one_and_the_limit() {
        let none = NotifierCommand::MarkRead { notification_ids: vec![] };
        let error = decide_notifier(&Notifier::default(), none).unwrap_err();
        assert!(matches!(error, DomainError::Invalid(ValidationError { field: "notification_ids", .. })));
        let many = NotifierCommand::MarkRead { notification_ids: vec![NotificationId::new(); 501] };
        assert!(decide_notifier(&Notifier::default(), many).is_err());
    }

    #[test]
    fn a_notification_is_raised_once() {
        let raised = Raised {
            owner: UserId::new(),
            topic: Topic::LargeExpense,
            title: "Large expense".into(),
            body: "600.00 EUR at Ikea".into(),
            subject_id: "m".into(),
            data: BTreeMap::new(),
        };
        let id = NotificationId::new();
        let events = decide_raise(&Notification::default(), id, raised.clone());
        assert_eq!(events.len(), 1);
        assert!(decide_raise(&fold::<Notification>(&events), id, raised).is_empty());
        let payload = events[0].payload().unwrap();
        assert_eq!(payload["topic"], "large_expense");
        assert_eq!(NotificationEvent::decode("NotificationRaised", 1, &payload).unwrap(), events[0]);
    }

    #[test]
    fn topic_and_kind_names_round_trip() {
        for topic in Topic::ALL {
            assert_eq!(Topic::from_name(topic.as_str()), Some(topic));
            assert_eq!(serde_json::to_value(topic).unwrap(), topic.as_str());
        }
        for kind in ChannelKind::ALL {
            assert_eq!(ChannelKind::from_name(kind.as_str()), Some(kind));
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.as_str());
        }
        assert!(Topics::default().includes(Topic::ReportReady));
        assert!(!Topics::new([Topic::LargeExpense]).includes(Topic::ReportReady));
    }
}
