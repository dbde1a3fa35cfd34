//! Categorisation rules: adding one to a category, and running a person's rules over their
//! past movements.

use super::{CommandHandler, Created, Ran};
use crate::context::CommandContext;
use crate::error::AppError;
use crate::input;
use crate::ports::LedgerLookups;
use cashflow_domain::category::{self, Category, CategoryCommand, CategoryContext, CategoryEvent};
use cashflow_domain::movement::AssignedBy;
use cashflow_domain::rule::{Rule, best_match};
use cashflow_domain::{DomainError, DomainEvent, MovementId, RuleId};
use cashflow_eventstore::ExpectedVersion;
use std::sync::Arc;

/// Movements read from the ledger per step of a rules run.
const RUN_BATCH: u32 = 500;

/// The rule commands that read the ledger read model, so take the lookups at construction:
/// adding a rule (the cap counts the person's rules there) and running a person's rules over
/// their past movements.
#[derive(Clone)]
pub struct RuleRunner {
    commands: CommandHandler,
    ledger: Arc<dyn LedgerLookups>,
}

impl std::fmt::Debug for RuleRunner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuleRunner").finish_non_exhaustive()
    }
}

impl RuleRunner {
    pub fn new(commands: CommandHandler, ledger: Arc<dyn LedgerLookups>) -> Self {
        Self { commands, ledger }
    }

    /// Adds a rule to one of the person's categories, unless they have
    /// [`MAX_RULES_PER_PERSON`](cashflow_domain::category::MAX_RULES_PER_PERSON) already. The
    /// count is the ledger's, read inside each attempt: it may miss rules added a moment ago
    /// (ADR 0015).
    #[tracing::instrument(name = "command.add_categorization_rule", skip_all, err(level = "info"),
        fields(owner = %ctx.owner, command_id = %ctx.command_id, category_id = %input.category_id,
            stream_id = tracing::field::Empty, expected_version = tracing::field::Empty,
            events_appended = tracing::field::Empty))]
    pub async fn add_rule(&self, ctx: &CommandContext, input: input::AddRule) -> Result<Created<RuleId>, AppError> {
        let commands = &self.commands;
        let rule_id = RuleId::new();
        let stream_id = input.category_id.stream_id();
        let ran = commands
            .run(ctx, true, || async {
                let loaded = commands.load::<Category>(&stream_id).await?;
                let rules_of_owner = self.ledger.rules_version(ctx.owner).await?.count;
                let rule = Rule {
                    rule_id,
                    category_id: input.category_id,
                    criteria: input.criteria.clone(),
                    priority: input.priority,
                };
                let command = CategoryCommand::AddRule { owner: ctx.owner, rule };
                let context = CategoryContext {
                    parent: None,
                    rules_of_owner: usize::try_from(rules_of_owner).unwrap_or(usize::MAX),
                };
                let events = category::decide(&loaded.state, command, context)?;
                commands.append(ctx, stream_id.clone(), ExpectedVersion::Exact(loaded.version), &events).await
            })
            .await?;
        let id = match &ran {
            Ran::Appended(_) => rule_id,
            // The rule id chosen the first time is in the event at the replayed position.
            Ran::Replayed(outcome) => {
                let events = commands.store.read_all(outcome.position.saturating_sub(1), 1).await?;
                events
                    .into_iter()
                    .find(|e| e.position == outcome.position && e.command_id == ctx.command_id.as_uuid())
                    .and_then(|e| CategoryEvent::decode(&e.event_type, e.schema_version, &e.payload).ok())
                    .and_then(|event| match event {
                        CategoryEvent::CategorizationRuleAdded(rule) => Some(rule.rule_id),
                        _ => None,
                    })
                    .ok_or_else(|| {
                        AppError::Validation(cashflow_domain::ValidationError::new(
                            "command_id",
                            "was already used for a different command",
                        ))
                    })?
            }
        };
        Ok(Created { id, position: ran.outcome().position })
    }

    /// Runs the person's rules over their movements dated within the range. Each change is its
    /// own AssignCategory by the rule, with a command id derived from this command and the
    /// movement, so retrying the run repeats nothing and answers the same count.
    #[tracing::instrument(name = "command.apply_rules", skip_all, err(level = "info"),
        fields(owner = %ctx.owner, command_id = %ctx.command_id, movements_categorised = tracing::field::Empty))]
    pub async fn apply_rules(&self, ctx: &CommandContext, input: input::ApplyRules) -> Result<(u32, u64), AppError> {
        let owner = ctx.owner;
        let ledger = &self.ledger;
        let rules = ledger.compiled_rules(owner).await?;
        let (mut categorised, mut position) = (0u32, 0u64);
        if rules.is_empty() {
            return Ok((0, self.commands.store.head().await?));
        }
        let mut after = None;
        loop {
            let candidates = ledger.rule_candidates(owner, input.from, input.to, after, RUN_BATCH).await?;
            let Some(last) = candidates.last() else { break };
            after = Some(last.position());
            for candidate in &candidates {
                let Some(rule) = best_match(&rules, &candidate.facts()) else { continue };
                if candidate.category_id == Some(rule.rule.category_id.as_uuid()) {
                    continue;
                }
                let movement_id = MovementId::from_uuid(candidate.movement_id);
                let step = ctx.step(&format!("apply rules to {movement_id}"));
                let assign = input::AssignCategory {
                    command_id: step.command_id,
                    movement_id,
                    category_id: rule.rule.category_id,
                    expected_version: None,
                };
                let assigned = match self
                    .commands
                    .assign_category_as(&step, assign, AssignedBy::Rule, Some(rule.rule.rule_id))
                    .await
                {
                    Ok(assigned) => assigned,
                    // Voided since the ledger was read: nothing to categorise.
                    Err(AppError::Domain(DomainError::FailedPrecondition(_))) => continue,
                    Err(error) => return Err(error),
                };
                if assigned.changed {
                    categorised += 1;
                    position = position.max(assigned.position);
                }
            }
            if candidates.len() < RUN_BATCH as usize {
                break;
            }
        }
        tracing::Span::current().record("movements_categorised", categorised);
        if position == 0 {
            position = self.commands.store.head().await?;
        }
        Ok((categorised, position))
    }
}
