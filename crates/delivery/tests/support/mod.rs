//! The message and configuration the tests deliver with; the receivers they deliver to are the
//! test kit's.
#![allow(dead_code)] // each test binary uses part of it

use cashflow_delivery::{DeliveryConfig, Outgoing};
pub use cashflow_testkit::receivers::*;
use chrono::{TimeZone, Utc};
use std::collections::BTreeMap;
use std::time::Duration;
use uuid::Uuid;

pub fn message() -> Outgoing {
    Outgoing {
        notification_id: Uuid::parse_str("0190f5a4-7c1e-7a52-9a1e-3c5d2b7e8f01").unwrap(),
        topic: "NOTIFICATION_TOPIC_BUDGET_THRESHOLD".into(),
        title: "Groceries at 80%".into(),
        body: "You spent 400.00 EUR of your 500.00 EUR groceries budget for December.".into(),
        subject_id: "budget-0190f5a4".into(),
        created_at: Utc.with_ymd_and_hms(2026, 12, 2, 9, 30, 0).unwrap(),
        read: false,
        data: BTreeMap::from([("percent".into(), "80".into()), ("currency".into(), "EUR".into())]),
    }
}

/// A configuration with no channel set up and the guard on.
pub fn config() -> DeliveryConfig {
    DeliveryConfig {
        smtp_url: None,
        smtp_from: "Cashflow <cashflow@example.com>".into(),
        sms_api_url: None,
        sms_account_sid: None,
        sms_auth_token: None,
        sms_from: None,
        allow_private: false,
        timeout: Duration::from_secs(5),
    }
}
