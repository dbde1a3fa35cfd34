//! Budget commands: SetBudget, which reads the ledger for the currency a person's accounts share
//! when the request names none.

use super::{CommandHandler, Created, today};
use crate::context::CommandContext;
use crate::error::AppError;
use crate::input;
use crate::ports::LedgerLookups;
use cashflow_domain::account::Account;
use cashflow_domain::budget::{self, Budget, BudgetCommand, BudgetContext, BudgetPeriod};
use cashflow_domain::category::Category;
use cashflow_domain::{BudgetId, CategoryId, Currency, Month, UserId, ValidationError};
use cashflow_eventstore::ExpectedVersion;
use std::sync::Arc;
use tracing::field::Empty;

/// The one budget a person has for a category and period: setting it again changes it, decided
/// by the stream itself rather than by a lookup that could race.
pub fn budget_id_for(owner: UserId, category_id: CategoryId, period: BudgetPeriod) -> BudgetId {
    let period = match period {
        BudgetPeriod::Month(month) => format!("month {month}"),
        BudgetPeriod::From(month) => format!("from {month}"),
    };
    BudgetId::from_uuid(crate::context::derived_uuid(&[
        b"cashflow budget\0",
        owner.as_uuid().as_bytes(),
        category_id.as_uuid().as_bytes(),
        period.as_bytes(),
    ]))
}

/// The budget commands: they read the ledger for a default currency, so they take the ledger
/// lookups at construction.
#[derive(Clone)]
pub struct BudgetCommands {
    commands: CommandHandler,
    ledger: Arc<dyn LedgerLookups>,
}

impl std::fmt::Debug for BudgetCommands {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BudgetCommands").finish_non_exhaustive()
    }
}

impl BudgetCommands {
    pub fn new(commands: CommandHandler, ledger: Arc<dyn LedgerLookups>) -> Self {
        Self { commands, ledger }
    }

    /// Sets the budget of a category for a month, or, without a month, for every month from the
    /// current one on. In the currency asked, or the one all the person's accounts share.
    #[tracing::instrument(name = "command.set_budget", skip_all, err(level = "info"),
        fields(owner = %ctx.owner, command_id = %ctx.command_id, category_id = %input.category_id,
            stream_id = Empty, expected_version = Empty, events_appended = Empty))]
    pub async fn set_budget(
        &self,
        ctx: &CommandContext,
        input: input::SetBudget,
    ) -> Result<Created<BudgetId>, AppError> {
        let period = match input.month {
            Some(month) => BudgetPeriod::Month(month),
            None => BudgetPeriod::From(Month::of(today())),
        };
        let currency = match input.currency {
            Some(currency) => currency,
            None => self.shared_currency(ctx.owner).await?,
        };
        let budget_id = budget_id_for(ctx.owner, input.category_id, period);
        let stream_id = budget_id.stream_id();
        let ran = self
            .commands
            .run(ctx, true, || async {
                let category = self.commands.load::<Category>(&input.category_id.stream_id()).await?;
                let budget = self.commands.load::<Budget>(&stream_id).await?;
                let command = BudgetCommand::Set {
                    budget_id,
                    owner: ctx.owner,
                    category_id: input.category_id,
                    period,
                    amount: input.amount,
                    currency,
                    alert_thresholds: input.alert_thresholds.clone(),
                };
                let events = budget::decide(&budget.state, command, BudgetContext { category: Some(&category.state) })?;
                self.commands.append(ctx, stream_id.clone(), ExpectedVersion::Exact(budget.version), &events).await
            })
            .await?;
        Ok(Created { id: budget_id, position: ran.outcome().position })
    }

    /// The currency every account of `owner` has; an error naming `currency` when there is no
    /// account or more than one currency.
    async fn shared_currency(&self, owner: UserId) -> Result<Currency, AppError> {
        let mut currencies: Vec<Currency> = Vec::new();
        for account_id in self.ledger.account_ids(owner).await? {
            let account = self.commands.load::<Account>(&account_id.stream_id()).await?;
            if let Some(opened) = account.state.owned_by(owner)
                && !currencies.contains(&opened.currency)
            {
                currencies.push(opened.currency);
            }
        }
        match currencies.as_slice() {
            [only] => Ok(*only),
            [] => Err(ValidationError::new("currency", "is required: there is no account to take it from").into()),
            _ => Err(ValidationError::new("currency", "is required: the accounts have different currencies").into()),
        }
    }
}
