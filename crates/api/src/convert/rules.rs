//! Categorisation rule requests, validated.

use super::{command_id, date_range, direction, present};
use cashflow_domain::date::parse_date;
use cashflow_domain::rule::{Criteria, TextPattern};
use cashflow_domain::{Amount, CategoryId, CommandId, ValidationError};
use cashflow_proto::v1 as pb;
use chrono::NaiveDate;

/// `AddCategorizationRule`, validated.
#[derive(Debug, Clone)]
pub struct AddRule {
    pub command_id: CommandId,
    pub category_id: CategoryId,
    pub criteria: Criteria,
    pub priority: i32,
}

/// `ApplyRules`, validated.
#[derive(Debug, Clone)]
pub struct ApplyRules {
    pub command_id: CommandId,
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
}

impl TryFrom<pb::AddCategorizationRuleRequest> for AddRule {
    type Error = ValidationError;

    fn try_from(request: pb::AddCategorizationRuleRequest) -> Result<Self, Self::Error> {
        let amount = |field, raw: Option<&str>| present(raw).map(|raw| Amount::parse(field, raw)).transpose();
        let pattern = |field, raw: Option<&str>| TextPattern::parse(field, raw.unwrap_or_default());
        let direction = match request.direction {
            None => None,
            Some(raw) if raw == pb::Direction::Unspecified as i32 => None,
            Some(raw) => Some(direction("direction", raw)?),
        };
        Ok(Self {
            command_id: command_id(&request.command_id)?,
            category_id: CategoryId::parse("category_id", &request.category_id)?,
            criteria: Criteria::new(
                pattern("description_pattern", request.description_pattern.as_deref())?,
                pattern("counterparty_pattern", request.counterparty_pattern.as_deref())?,
                amount("min_amount", request.min_amount.as_deref())?,
                amount("max_amount", request.max_amount.as_deref())?,
                direction,
            )?,
            priority: request.priority.unwrap_or(0),
        })
    }
}

impl TryFrom<pb::ApplyRulesRequest> for ApplyRules {
    type Error = ValidationError;

    fn try_from(request: pb::ApplyRulesRequest) -> Result<Self, Self::Error> {
        let from = present(request.from.as_deref()).map(|raw| parse_date("from", raw)).transpose()?;
        let to = present(request.to.as_deref()).map(|raw| parse_date("to", raw)).transpose()?;
        date_range(from, to)?;
        Ok(Self { command_id: command_id(&request.command_id)?, from, to })
    }
}
