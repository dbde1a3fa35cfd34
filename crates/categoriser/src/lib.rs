//! Rule categorisation: the worker that assigns categories to new movements matching a person's rules.
//!
//! The [`Categoriser`] consumes MovementRecorded. For a movement its person did not
//! categorise, it finds the person's best matching rule (highest priority, then oldest) and
//! assigns that rule's category, as the rule. The command id derives from the event, so a
//! redelivery assigns nothing twice; and the domain never lets a rule replace a person's
//! choice, even one made after the movement was recorded.
//!
//! Rules are read from the ledger read model, so a rule added a moment before a movement may
//! not be seen yet; `LedgerService.ApplyRules` runs the rules over past movements. They are
//! compiled once per person and kept ([`cache`]) while the ledger's [`RulesVersion`] of that
//! person, one cheap read per movement, stays the same: a rule added moves it.
#![forbid(unsafe_code)]

pub mod cache;

use cache::RuleCache;
use cashflow_app::input::AssignCategory;
use cashflow_app::{AppError, CommandContext, CommandHandler, LedgerLookups, RulesVersion, WorkError, Worker};
use cashflow_domain::movement::{AssignedBy, MovementEvent};
use cashflow_domain::rule::{CompiledRule, MovementFacts, best_match};
use cashflow_domain::{DomainError, DomainEvent, MovementId, UserId};
use cashflow_eventstore::RecordedEvent;
use std::sync::Arc;

/// The worker's name: its durable consumer.
pub const NAME: &str = "categoriser";

pub struct Categoriser {
    handler: CommandHandler,
    ledger: Arc<dyn LedgerLookups>,
    cache: RuleCache,
}

impl Categoriser {
    pub fn new(handler: CommandHandler, ledger: Arc<dyn LedgerLookups>) -> Self {
        Self { handler, ledger, cache: RuleCache::default() }
    }

    /// `owner`'s rules, compiled: from the cache while their version is unchanged. Empty when
    /// they have none, without compiling anything.
    async fn rules(&self, owner: UserId) -> Result<Arc<[CompiledRule]>, WorkError> {
        let port = |error| WorkError::from(AppError::from(error));
        let version: RulesVersion = self.ledger.rules_version(owner).await.map_err(port)?;
        if version.count == 0 {
            return Ok(Arc::from([]));
        }
        if let Some(rules) = self.cache.get(owner, version) {
            return Ok(rules);
        }
        // Read after the version, so these rules are at least as new as it: at worst a rule
        // added in between is compiled again on the next movement.
        let rules: Arc<[CompiledRule]> = self.ledger.compiled_rules(owner).await.map_err(port)?.into();
        tracing::debug!(%owner, rules = rules.len(), "compiled a person's rules");
        self.cache.put(owner, version, rules.clone());
        Ok(rules)
    }
}

#[async_trait::async_trait]
impl Worker for Categoriser {
    fn name(&self) -> &'static str {
        NAME
    }

    fn events(&self) -> &'static [(&'static str, &'static str)] {
        &[(MovementId::STREAM_CATEGORY, "MovementRecorded")]
    }

    async fn handle(&self, event: &RecordedEvent) -> Result<(), WorkError> {
        let decoded = MovementEvent::decode(&event.event_type, event.schema_version, &event.payload)
            .map_err(|error| WorkError::Permanent(error.to_string()))?;
        let MovementEvent::MovementRecorded {
            movement_id, owner, amount, direction, description, counterparty, ..
        } = decoded
        else {
            return Ok(());
        };
        let rules = self.rules(owner).await?;
        if rules.is_empty() {
            return Ok(());
        }
        let facts = MovementFacts {
            description: description.as_str(),
            counterparty: counterparty.as_ref().map(|c| c.as_str()),
            amount: amount.value(),
            direction,
        };
        let Some(rule) = best_match(&rules, &facts) else {
            return Ok(());
        };
        let ctx = CommandContext::caused_by(event, "categorise by rules");
        let assign = AssignCategory {
            command_id: ctx.command_id,
            movement_id,
            category_id: rule.rule.category_id,
            expected_version: None,
        };
        match self.handler.assign_category_as(&ctx, assign, AssignedBy::Rule, Some(rule.rule.rule_id)).await {
            Ok(assigned) => {
                tracing::debug!(%movement_id, rule_id = %rule.rule.rule_id, changed = assigned.changed, "categorised by rule");
                Ok(())
            }
            // Voided meanwhile: nothing to categorise.
            Err(AppError::Domain(DomainError::FailedPrecondition(_))) => Ok(()),
            Err(error) => Err(error.into()),
        }
    }

    async fn give_up(&self, event: &RecordedEvent, reason: &str) -> Result<(), WorkError> {
        // Nothing to record: the movement simply stays uncategorised, as if no rule matched.
        tracing::warn!(event_id = %event.event_id, stream_id = %event.stream_id, %reason, "movement left uncategorised");
        Ok(())
    }
}

#[cfg(test)]
mod tests;
