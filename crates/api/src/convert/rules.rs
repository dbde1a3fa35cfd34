//! Categorisation rule requests parsed into the application's inputs.

use super::{FromRequest, command_id, date_range, direction, present};
use cashflow_app::input::{AddRule, ApplyRules};
use cashflow_domain::date::parse_date;
use cashflow_domain::rule::{Criteria, TextPattern};
use cashflow_domain::{Amount, CategoryId, ValidationError};
use cashflow_proto::v1 as pb;

impl FromRequest<pb::AddCategorizationRuleRequest> for AddRule {
    fn from_request(request: pb::AddCategorizationRuleRequest) -> Result<Self, ValidationError> {
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

impl FromRequest<pb::ApplyRulesRequest> for ApplyRules {
    fn from_request(request: pb::ApplyRulesRequest) -> Result<Self, ValidationError> {
        let from = present(request.from.as_deref()).map(|raw| parse_date("from", raw)).transpose()?;
        let to = present(request.to.as_deref()).map(|raw| parse_date("to", raw)).transpose()?;
        date_range(from, to)?;
        Ok(Self { command_id: command_id(&request.command_id)?, from, to })
    }
}
