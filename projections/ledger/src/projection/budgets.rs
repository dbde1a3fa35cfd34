//! Budget events, each written on its own: people set budgets a few times a month, so neither
//! the batch's fold nor its cache needs to know them. A row depends only on its budget's own
//! events, so where they fall in a batch does not matter.

use cashflow_domain::budget::{BudgetEvent, BudgetPeriod};
use cashflow_eventstore::RecordedEvent;
use cashflow_projection::ProjectionError;
use cashflow_projection::decode::{aggregate_id, decode, to_bigint};
use sqlx::PgConnection;

/// Writes `event` if it is a budget's; an insert the first time, then updates under the owner and
/// above the row's version, so an event applied twice changes nothing.
pub(super) async fn apply(tx: &mut PgConnection, event: &RecordedEvent) -> Result<(), ProjectionError> {
    if event.stream_category() != cashflow_domain::BudgetId::STREAM_CATEGORY {
        return Ok(());
    }
    let Some(BudgetEvent::BudgetSet { category_id, period, amount, currency, alert_thresholds, .. }) =
        decode::<BudgetEvent>(event)?
    else {
        return Ok(());
    };
    let (month, recurring) = match period {
        BudgetPeriod::Month(month) => (month.first_day(), false),
        BudgetPeriod::From(month) => (month.first_day(), true),
    };
    let thresholds: Vec<i32> = alert_thresholds.percents().iter().map(|p| *p as i32).collect();
    sqlx::query(
        "INSERT INTO ledger_budgets (id, owner, category_id, month, recurring, amount, currency, alert_thresholds, version)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         ON CONFLICT (id) DO UPDATE SET amount = excluded.amount, currency = excluded.currency,
             alert_thresholds = excluded.alert_thresholds, version = excluded.version
         WHERE ledger_budgets.owner = excluded.owner AND ledger_budgets.version < excluded.version",
    )
    .bind(aggregate_id(event)?)
    .bind(event.owner)
    .bind(category_id.as_uuid())
    .bind(month)
    .bind(recurring)
    .bind(amount.value())
    .bind(currency.code())
    .bind(thresholds)
    .bind(to_bigint(event, "version", event.version)?)
    .execute(&mut *tx)
    .await?;
    Ok(())
}
