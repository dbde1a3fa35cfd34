//! Budget: how much a person means to spend in one category (its subcategories included), for
//! one month or every month from one on, and at what share of it they want to be told.
//!
//! A budget's id is derived from what it budgets (owner, category, period), so setting the same
//! budget again changes it rather than adding a second one; a recurring budget set from a later
//! month is a new budget that takes over from that month on.

use crate::aggregate::{Aggregate, DomainEvent};
use crate::category::Category;
use crate::error::{DomainError, ValidationError};
use crate::{Amount, BudgetId, CategoryId, Currency, Month, UserId};
use serde::{Deserialize, Serialize};

/// Which months a budget covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BudgetPeriod {
    /// That month only; it wins over a recurring budget for the same month.
    Month(Month),
    /// Every month from this one on, until a recurring budget from a later month takes over.
    From(Month),
}

/// The shares of a budget, in percent, at which a person is told: 1 to 1,000 each, at most 10,
/// ascending, each once; 80 and 100 unless chosen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AlertThresholds(Vec<u32>);

impl AlertThresholds {
    pub const DEFAULT: [u32; 2] = [80, 100];
    pub const MAX_COUNT: usize = 10;
    pub const MAX_PERCENT: u32 = 1000;

    pub fn parse(field: &'static str, raw: &[u32]) -> Result<Self, ValidationError> {
        if raw.is_empty() {
            return Ok(Self(Self::DEFAULT.to_vec()));
        }
        if raw.len() > Self::MAX_COUNT {
            return Err(ValidationError::new(field, format!("at most {} thresholds", Self::MAX_COUNT)));
        }
        if let Some(bad) = raw.iter().find(|p| !(1..=Self::MAX_PERCENT).contains(*p)) {
            return Err(ValidationError::new(field, format!("{bad} is not a percent from 1 to {}", Self::MAX_PERCENT)));
        }
        let mut percents = raw.to_vec();
        percents.sort_unstable();
        percents.dedup();
        Ok(Self(percents))
    }

    pub fn percents(&self) -> &[u32] {
        &self.0
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum BudgetEvent {
    /// The budget as it now is: set the first time, or changed.
    BudgetSet {
        budget_id: BudgetId,
        owner: UserId,
        category_id: CategoryId,
        period: BudgetPeriod,
        amount: Amount,
        currency: Currency,
        alert_thresholds: AlertThresholds,
    },
}

impl DomainEvent for BudgetEvent {
    const EVENT_TYPES: &'static [&'static str] = &["BudgetSet"];

    fn event_type(&self) -> &'static str {
        match self {
            Self::BudgetSet { .. } => "BudgetSet",
        }
    }
}

/// A budget as set.
#[derive(Debug, Clone, PartialEq)]
pub struct ExistingBudget {
    pub owner: UserId,
    pub category_id: CategoryId,
    pub period: BudgetPeriod,
    pub amount: Amount,
    pub currency: Currency,
    pub alert_thresholds: AlertThresholds,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Budget {
    pub set: Option<ExistingBudget>,
}

impl Aggregate for Budget {
    type Event = BudgetEvent;
    const STREAM_CATEGORY: &'static str = BudgetId::STREAM_CATEGORY;

    fn apply(&mut self, event: &BudgetEvent) {
        match event {
            BudgetEvent::BudgetSet { owner, category_id, period, amount, currency, alert_thresholds, .. } => {
                self.set = Some(ExistingBudget {
                    owner: *owner,
                    category_id: *category_id,
                    period: *period,
                    amount: *amount,
                    currency: *currency,
                    alert_thresholds: alert_thresholds.clone(),
                });
            }
        }
    }
}

#[derive(Debug, Clone)]
pub enum BudgetCommand {
    Set {
        budget_id: BudgetId,
        owner: UserId,
        category_id: CategoryId,
        period: BudgetPeriod,
        amount: Amount,
        currency: Currency,
        alert_thresholds: AlertThresholds,
    },
}

/// What `decide` needs beyond the budget: the category it budgets, as loaded.
#[derive(Debug, Default)]
pub struct BudgetContext<'a> {
    pub category: Option<&'a Category>,
}

pub fn decide(
    state: &Budget,
    command: BudgetCommand,
    context: BudgetContext<'_>,
) -> Result<Vec<BudgetEvent>, DomainError> {
    match command {
        BudgetCommand::Set { budget_id, owner, category_id, period, amount, currency, alert_thresholds } => {
            let category = context.category.and_then(|c| c.owned_by(owner));
            if category.map(|c| c.id) != Some(category_id) {
                return Err(DomainError::NotFound { what: "category" });
            }
            if let Some(set) = &state.set {
                if set.owner != owner || set.category_id != category_id || set.period != period {
                    return Err(DomainError::NotFound { what: "budget" });
                }
                if set.amount == amount && set.currency == currency && set.alert_thresholds == alert_thresholds {
                    return Ok(vec![]);
                }
            }
            Ok(vec![BudgetEvent::BudgetSet {
                budget_id,
                owner,
                category_id,
                period,
                amount,
                currency,
                alert_thresholds,
            }])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::fold;
    use crate::category::CategoryEvent;
    use crate::{Name, fold as fold_events};

    fn category(owner: UserId) -> (CategoryId, Category) {
        let category_id = CategoryId::new();
        let created = CategoryEvent::CategoryCreated {
            category_id,
            owner,
            name: Name::parse("name", "Food").unwrap(),
            parent_id: None,
        };
        (category_id, fold_events::<Category>([&created]))
    }

    fn set(owner: UserId, category_id: CategoryId, amount: &str, thresholds: &[u32]) -> BudgetCommand {
        BudgetCommand::Set {
            budget_id: BudgetId::new(),
            owner,
            category_id,
            period: BudgetPeriod::Month(Month::parse("month", "2026-11").unwrap()),
            amount: Amount::parse("amount", amount).unwrap(),
            currency: Currency::parse("currency", "EUR").unwrap(),
            alert_thresholds: AlertThresholds::parse("alert_thresholds", thresholds).unwrap(),
        }
    }

    #[test]
    fn a_budget_is_set_on_the_owners_category_only() {
        let (owner, someone) = (UserId::new(), UserId::new());
        let (food, state) = category(owner);
        let context = || BudgetContext { category: Some(&state) };
        let events = decide(&Budget::default(), set(owner, food, "300", &[]), context()).unwrap();
        assert_eq!(events.len(), 1);
        let error = decide(&Budget::default(), set(someone, food, "300", &[]), context()).unwrap_err();
        assert_eq!(error, DomainError::NotFound { what: "category" });
        let error = decide(&Budget::default(), set(owner, food, "300", &[]), BudgetContext::default()).unwrap_err();
        assert_eq!(error, DomainError::NotFound { what: "category" });
    }

    #[test]
    fn setting_a_budget_again_changes_it_and_the_same_values_change_nothing() {
        let owner = UserId::new();
        let (food, category) = category(owner);
        let context = || BudgetContext { category: Some(&category) };
        let first = decide(&Budget::default(), set(owner, food, "300", &[]), context()).unwrap();
        let state = fold::<Budget>(&first);
        assert!(decide(&state, set(owner, food, "300.00", &[100, 80]), context()).unwrap().is_empty());
        let changed = decide(&state, set(owner, food, "350", &[]), context()).unwrap();
        assert!(
            matches!(&changed[..], [BudgetEvent::BudgetSet { amount, .. }] if amount.value() == "350".parse().unwrap())
        );
    }

    #[test]
    fn thresholds_default_to_80_and_100_and_are_bounded() {
        assert_eq!(AlertThresholds::parse("t", &[]).unwrap().percents(), [80, 100]);
        assert_eq!(AlertThresholds::parse("t", &[100, 50, 100]).unwrap().percents(), [50, 100]);
        assert_eq!(AlertThresholds::parse("t", &[0]).unwrap_err().field, "t");
        assert_eq!(AlertThresholds::parse("t", &[1001]).unwrap_err().field, "t");
        assert_eq!(AlertThresholds::parse("t", &[1; 11]).unwrap_err().field, "t");
    }

    #[test]
    fn a_budget_set_round_trips_through_its_payload() {
        let owner = UserId::new();
        let event = BudgetEvent::BudgetSet {
            budget_id: BudgetId::new(),
            owner,
            category_id: CategoryId::new(),
            period: BudgetPeriod::From(Month::parse("month", "2026-01").unwrap()),
            amount: Amount::parse("amount", "12.5").unwrap(),
            currency: Currency::parse("currency", "EUR").unwrap(),
            alert_thresholds: AlertThresholds::parse("t", &[]).unwrap(),
        };
        let payload = event.payload().unwrap();
        assert_eq!(payload["period"], serde_json::json!({ "from": "2026-01" }));
        assert_eq!(BudgetEvent::decode("BudgetSet", 1, &payload).unwrap(), event);
    }
}
