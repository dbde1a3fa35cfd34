//! Categorisation rule commands.

use cashflow_domain::rule::Criteria;
use cashflow_domain::{CategoryId, CommandId};
use chrono::NaiveDate;

/// Add a categorisation rule to a category.
#[derive(Debug, Clone)]
pub struct AddRule {
    pub command_id: CommandId,
    pub category_id: CategoryId,
    pub criteria: Criteria,
    pub priority: i32,
}

/// Run a person's rules over their movements dated within the range.
#[derive(Debug, Clone)]
pub struct ApplyRules {
    pub command_id: CommandId,
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
}
