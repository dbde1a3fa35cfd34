//! Categorisation rules: "a movement whose description contains MERCADONA goes to Groceries".
//!
//! A rule matches on any of description text, counterparty text, an amount range and a
//! direction; every criterion given must hold. Text patterns are a case-insensitive
//! substring, or a regular expression written between slashes (`/^uber\s+eats/`). When several
//! rules match, the highest priority wins, then the oldest rule.

use crate::error::ValidationError;
use crate::movement::Direction;
use crate::{Amount, CategoryId, RuleId};
use regex::{Regex, RegexBuilder};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::cmp::Reverse;

/// Longest pattern accepted, in characters.
pub const MAX_PATTERN_CHARS: usize = 200;
/// A compiled regular expression may take at most this much memory: the regex engine runs in
/// linear time, and this bounds its size, so no pattern can make matching expensive.
const REGEX_SIZE_LIMIT: usize = 256 * 1024;

/// How a rule matches text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TextPattern {
    /// Case-insensitive substring.
    Contains(String),
    /// Case-insensitive regular expression (Rust `regex` syntax).
    Regex(String),
}

impl TextPattern {
    /// `/…/` is a regular expression, anything else a substring; blank is `None`.
    pub fn parse(field: &'static str, raw: &str) -> Result<Option<Self>, ValidationError> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Ok(None);
        }
        if raw.chars().count() > MAX_PATTERN_CHARS {
            return Err(ValidationError::new(field, format!("at most {MAX_PATTERN_CHARS} characters")));
        }
        if raw.chars().any(char::is_control) {
            return Err(ValidationError::new(field, "must not contain control characters"));
        }
        let pattern = match raw.strip_prefix('/').and_then(|r| r.strip_suffix('/')) {
            Some(regex) if !regex.is_empty() => Self::Regex(regex.to_owned()),
            _ => Self::Contains(raw.to_owned()),
        };
        pattern.compile().map_err(|error| ValidationError::new(field, error))?;
        Ok(Some(pattern))
    }

    fn compile(&self) -> Result<Regex, String> {
        let source = match self {
            Self::Contains(text) => regex::escape(text),
            Self::Regex(regex) => regex.clone(),
        };
        RegexBuilder::new(&source)
            .case_insensitive(true)
            .size_limit(REGEX_SIZE_LIMIT)
            .build()
            .map_err(|error| format!("is not a valid regular expression: {error}"))
    }
}

/// What a movement must look like for a rule to match; at least one criterion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Criteria {
    pub description: Option<TextPattern>,
    pub counterparty: Option<TextPattern>,
    pub min_amount: Option<Amount>,
    pub max_amount: Option<Amount>,
    pub direction: Option<Direction>,
}

impl Criteria {
    pub fn new(
        description: Option<TextPattern>,
        counterparty: Option<TextPattern>,
        min_amount: Option<Amount>,
        max_amount: Option<Amount>,
        direction: Option<Direction>,
    ) -> Result<Self, ValidationError> {
        if description.is_none() && counterparty.is_none() && min_amount.is_none() && max_amount.is_none() {
            return Err(ValidationError::new(
                "description_pattern",
                "a rule needs a description or counterparty pattern, or an amount range",
            ));
        }
        if let (Some(min), Some(max)) = (min_amount, max_amount)
            && min.value() > max.value()
        {
            return Err(ValidationError::new("max_amount", "must not be less than min_amount"));
        }
        Ok(Self { description, counterparty, min_amount, max_amount, direction })
    }
}

/// A person's rule: movements matching `criteria` go to `category_id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    pub rule_id: RuleId,
    pub category_id: CategoryId,
    pub criteria: Criteria,
    /// Higher wins when several rules match.
    pub priority: i32,
}

/// The facts of a movement a rule looks at.
#[derive(Debug, Clone, Copy)]
pub struct MovementFacts<'a> {
    pub description: &'a str,
    pub counterparty: Option<&'a str>,
    pub amount: Decimal,
    pub direction: Direction,
}

/// A rule with its patterns compiled, ready to match many movements.
#[derive(Debug, Clone)]
pub struct CompiledRule {
    pub rule: Rule,
    description: Option<Regex>,
    counterparty: Option<Regex>,
}

impl CompiledRule {
    /// Compiles a stored rule. Patterns were checked when the rule was added, so an error here
    /// means a stored pattern the regex engine no longer accepts.
    pub fn new(rule: Rule) -> Result<Self, String> {
        let description = rule.criteria.description.as_ref().map(TextPattern::compile).transpose()?;
        let counterparty = rule.criteria.counterparty.as_ref().map(TextPattern::compile).transpose()?;
        Ok(Self { rule, description, counterparty })
    }

    pub fn matches(&self, facts: &MovementFacts<'_>) -> bool {
        let criteria = &self.rule.criteria;
        self.description.as_ref().is_none_or(|re| re.is_match(facts.description))
            && self.counterparty.as_ref().is_none_or(|re| facts.counterparty.is_some_and(|c| re.is_match(c)))
            && criteria.min_amount.is_none_or(|min| facts.amount >= min.value())
            && criteria.max_amount.is_none_or(|max| facts.amount <= max.value())
            && criteria.direction.is_none_or(|d| d == facts.direction)
    }
}

/// The rule that decides a movement's category: the matching rule of highest priority, and
/// of those the oldest (rule ids are time-ordered).
pub fn best_match<'r>(rules: &'r [CompiledRule], facts: &MovementFacts<'_>) -> Option<&'r CompiledRule> {
    rules.iter().filter(|r| r.matches(facts)).min_by_key(|r| (Reverse(r.rule.priority), r.rule.rule_id))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(priority: i32, description: &str) -> CompiledRule {
        let criteria = Criteria::new(TextPattern::parse("d", description).unwrap(), None, None, None, None).unwrap();
        CompiledRule::new(Rule { rule_id: RuleId::new(), category_id: CategoryId::new(), criteria, priority }).unwrap()
    }

    fn facts(description: &str) -> MovementFacts<'_> {
        MovementFacts { description, counterparty: None, amount: Decimal::new(1250, 2), direction: Direction::Expense }
    }

    #[test]
    fn a_substring_matches_in_any_case() {
        let lidl = rule(0, "lidl");
        assert!(lidl.matches(&facts("COMPRA LIDL MADRID")));
        assert!(!lidl.matches(&facts("Mercadona")));
    }

    #[test]
    fn a_substring_with_regex_characters_is_taken_literally() {
        let dots = rule(0, "a.b (c)");
        assert!(dots.matches(&facts("pay A.B (C) ltd")));
        assert!(!dots.matches(&facts("aXb (c)")));
    }

    #[test]
    fn a_pattern_between_slashes_is_a_regular_expression() {
        let uber = rule(0, r"/^uber\s+eats/");
        assert!(uber.matches(&facts("Uber   Eats order 12")));
        assert!(!uber.matches(&facts("my uber eats")));
    }

    #[test]
    fn an_invalid_regular_expression_names_its_field() {
        let error = TextPattern::parse("description_pattern", "/(unclosed/").unwrap_err();
        assert_eq!(error.field, "description_pattern");
    }

    #[test]
    fn a_huge_regular_expression_is_refused() {
        assert!(TextPattern::parse("description_pattern", "/(a{1000}){1000}/").is_err());
    }

    #[test]
    fn a_rule_needs_a_criterion() {
        let error = Criteria::new(None, None, None, None, Some(Direction::Expense)).unwrap_err();
        assert_eq!(error.field, "description_pattern");
    }

    #[test]
    fn an_amount_range_must_not_be_upside_down() {
        let amount = |raw| Some(Amount::parse("a", raw).unwrap());
        let error = Criteria::new(None, None, amount("10"), amount("5"), None).unwrap_err();
        assert_eq!(error.field, "max_amount");
    }

    #[test]
    fn every_criterion_given_must_hold() {
        let amount = |raw| Some(Amount::parse("a", raw).unwrap());
        let criteria = Criteria::new(
            TextPattern::parse("d", "taxi").unwrap(),
            TextPattern::parse("c", "cabify").unwrap(),
            amount("5"),
            amount("50"),
            Some(Direction::Expense),
        )
        .unwrap();
        let rule =
            CompiledRule::new(Rule { rule_id: RuleId::new(), category_id: CategoryId::new(), criteria, priority: 0 })
                .unwrap();
        let mut movement = MovementFacts { counterparty: Some("Cabify SL"), ..facts("Taxi to airport") };
        assert!(rule.matches(&movement));
        movement.amount = Decimal::new(5001, 2);
        assert!(!rule.matches(&movement));
        movement.amount = Decimal::new(500, 2);
        assert!(rule.matches(&movement));
        movement.direction = Direction::Income;
        assert!(!rule.matches(&movement));
        movement.direction = Direction::Expense;
        movement.counterparty = None;
        assert!(!rule.matches(&movement));
    }

    #[test]
    fn the_highest_priority_wins_then_the_oldest_rule() {
        let older = rule(1, "shop");
        let newer = rule(1, "shop");
        let urgent = rule(5, "special shop");
        let rules = [newer.clone(), older.clone(), urgent.clone()];
        assert_eq!(best_match(&rules, &facts("corner shop")).map(|r| r.rule.rule_id), Some(older.rule.rule_id));
        assert_eq!(best_match(&rules, &facts("a special shop")).map(|r| r.rule.rule_id), Some(urgent.rule.rule_id));
        assert!(best_match(&rules, &facts("nothing")).is_none());
    }
}
