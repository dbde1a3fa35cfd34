//! [`Outgoing`], the notification as it leaves the server, and its canonical JSON.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use std::collections::BTreeMap;
use uuid::Uuid;

/// One notification to deliver, as the caller read it from the notifications read model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    pub notification_id: Uuid,
    /// The `NotificationTopic` enum value's name, e.g. `NOTIFICATION_TOPIC_BUDGET_THRESHOLD`.
    pub topic: String,
    pub title: String,
    pub body: String,
    pub subject_id: String,
    pub created_at: DateTime<Utc>,
    pub read: bool,
    pub data: BTreeMap<String, String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CanonicalNotification<'a> {
    notification_id: &'a Uuid,
    topic: &'a str,
    title: &'a str,
    body: &'a str,
    subject_id: &'a str,
    created_at: String,
    read: bool,
    data: &'a BTreeMap<String, String>,
}

impl Outgoing {
    /// The notification in protobuf's canonical JSON mapping of the API's `Notification` message:
    /// camelCase keys, the topic as its enum name, `createdAt` as RFC 3339 in UTC with `Z` (0, 3, 6
    /// or 9 fractional digits, as the `Timestamp` mapping prints).
    ///
    /// Fields holding their default value (`read: false`, an empty `data`) are still printed, which
    /// the mapping allows, so a receiver always finds every key.
    pub fn canonical_json(&self) -> String {
        let canonical = CanonicalNotification {
            notification_id: &self.notification_id,
            topic: &self.topic,
            title: &self.title,
            body: &self.body,
            subject_id: &self.subject_id,
            created_at: self.created_at.to_rfc3339_opts(SecondsFormat::AutoSi, true),
            read: self.read,
            data: &self.data,
        };
        serde_json::to_string(&canonical).expect("a struct of strings and a bool always serialises")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn canonical_json_has_every_key_in_camel_case() {
        let message = Outgoing {
            notification_id: Uuid::parse_str("0190f5a4-7c1e-7a52-9a1e-3c5d2b7e8f01").unwrap(),
            topic: "NOTIFICATION_TOPIC_BUDGET_THRESHOLD".into(),
            title: "Groceries at 80%".into(),
            body: "You spent 400.00 EUR of 500.00 EUR".into(),
            subject_id: "budget-1".into(),
            created_at: Utc.with_ymd_and_hms(2026, 12, 2, 9, 30, 0).unwrap(),
            read: false,
            data: BTreeMap::from([("percent".into(), "80".into())]),
        };
        let value: serde_json::Value = serde_json::from_str(&message.canonical_json()).unwrap();
        assert_eq!(
            value,
            serde_json::json!({
                "notificationId": "0190f5a4-7c1e-7a52-9a1e-3c5d2b7e8f01",
                "topic": "NOTIFICATION_TOPIC_BUDGET_THRESHOLD",
                "title": "Groceries at 80%",
                "body": "You spent 400.00 EUR of 500.00 EUR",
                "subjectId": "budget-1",
                "createdAt": "2026-12-02T09:30:00Z",
                "read": false,
                "data": {"percent": "80"},
            })
        );
    }

    #[test]
    fn created_at_keeps_milliseconds_as_the_timestamp_mapping_prints_them() {
        let message = Outgoing {
            notification_id: Uuid::nil(),
            topic: String::new(),
            title: String::new(),
            body: String::new(),
            subject_id: String::new(),
            created_at: Utc.timestamp_millis_opt(1_764_667_800_123).unwrap(),
            read: true,
            data: BTreeMap::new(),
        };
        let value: serde_json::Value = serde_json::from_str(&message.canonical_json()).unwrap();
        assert_eq!(value["createdAt"], "2025-12-02T09:30:00.123Z");
        assert_eq!(value["data"], serde_json::json!({}));
    }
}
