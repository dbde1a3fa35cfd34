//! The oracle: each event applied on its own, in a statement or two of SQL that say directly
//! what the event does to the tables. The batch, which the runner calls, must leave the
//! tables exactly as this does (`tests/batch.rs` compares them); only tests enable it.

use super::LedgerProjection;
use super::fold::{check_rule, recorded_row, signed};
use super::sql::rule_json;
use crate::columns::{UNCATEGORISED, direction_text};
use cashflow_domain::account::AccountEvent;
use cashflow_domain::category::CategoryEvent;
use cashflow_domain::movement::MovementEvent;
use cashflow_domain::{AccountId, CategoryId, MovementId};
use cashflow_eventstore::RecordedEvent;
use cashflow_projection::ProjectionError;
use cashflow_projection::decode::{aggregate_id, decode, decode_error, to_bigint};
use sqlx::PgConnection;

impl LedgerProjection {
    /// The test oracle: applies one event in SQL of its own, with the effect `apply_batch` must
    /// have. Other aggregates' streams, and event types this projection does not know, are
    /// skipped; a known type that cannot be decoded is [`ProjectionError::Decode`].
    #[tracing::instrument(
        name = "ledger.apply",
        skip_all,
        fields(position = event.position, stream_id = %event.stream_id, event_type = %event.event_type),
        err
    )]
    pub async fn apply(&self, tx: &mut PgConnection, event: &RecordedEvent) -> Result<(), ProjectionError> {
        super::budgets::apply(tx, event).await?;
        match event.stream_category() {
            AccountId::STREAM_CATEGORY => {
                if let Some(decoded) = decode::<AccountEvent>(event)? {
                    apply_account(tx, event, decoded).await?;
                }
            }
            CategoryId::STREAM_CATEGORY => {
                if let Some(decoded) = decode::<CategoryEvent>(event)? {
                    apply_category(tx, event, decoded).await?;
                }
            }
            MovementId::STREAM_CATEGORY => {
                if let Some(decoded) = decode::<MovementEvent>(event)? {
                    apply_movement(tx, event, decoded).await?;
                }
            }
            _ => {}
        }
        Ok(())
    }
}

async fn apply_account(
    tx: &mut PgConnection,
    event: &RecordedEvent,
    decoded: AccountEvent,
) -> Result<(), ProjectionError> {
    let id = aggregate_id(event)?;
    let version = to_bigint(event, "version", event.version)?;
    let query = match &decoded {
        AccountEvent::AccountOpened { name, currency, opening_balance, .. } => sqlx::query(
            "INSERT INTO ledger_accounts (id, owner, name, currency, opening_balance, balance, closed, version)
             VALUES ($1, $2, $3, $4, $5, $5, false, $6)
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(id)
        .bind(event.owner)
        .bind(name.as_str())
        .bind(currency.code())
        .bind(opening_balance.value())
        .bind(version),
        AccountEvent::AccountRenamed { name } => sqlx::query(
            "UPDATE ledger_accounts SET name = $3, version = $4 WHERE id = $1 AND owner = $2 AND version < $4",
        )
        .bind(id)
        .bind(event.owner)
        .bind(name.as_str())
        .bind(version),
        AccountEvent::AccountClosed {} => sqlx::query(
            "UPDATE ledger_accounts SET closed = true, version = $3 WHERE id = $1 AND owner = $2 AND version < $3",
        )
        .bind(id)
        .bind(event.owner)
        .bind(version),
    };
    query.execute(&mut *tx).await?;
    Ok(())
}

async fn apply_category(
    tx: &mut PgConnection,
    event: &RecordedEvent,
    decoded: CategoryEvent,
) -> Result<(), ProjectionError> {
    let id = aggregate_id(event)?;
    let version = to_bigint(event, "version", event.version)?;
    let query = match &decoded {
        CategoryEvent::CategoryCreated { name, parent_id, .. } => sqlx::query(
            "INSERT INTO ledger_categories (id, owner, name, parent_id, version)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(id)
        .bind(event.owner)
        .bind(name.as_str())
        .bind(parent_id.map(|p| p.as_uuid()))
        .bind(version),
        CategoryEvent::CategoryRenamed { name } => sqlx::query(
            "UPDATE ledger_categories SET name = $3, version = $4 WHERE id = $1 AND owner = $2 AND version < $4",
        )
        .bind(id)
        .bind(event.owner)
        .bind(name.as_str())
        .bind(version),
        // Only on the owner's own category, as a rename: a rule under another owner's name is
        // dropped, never shown to either of them.
        CategoryEvent::CategorizationRuleAdded(rule) => {
            check_rule(event, id, rule)?;
            let json = rule_json(rule).map_err(|reason| decode_error(event, reason))?;
            sqlx::query(
                "INSERT INTO ledger_categorization_rules (rule_id, owner, category_id, priority, rule, added_position,
                                                          version)
                 SELECT $1, $2, $3, $4, $5, $6, $7
                 WHERE EXISTS (SELECT 1 FROM ledger_categories WHERE id = $3 AND owner = $2)
                 ON CONFLICT (rule_id) DO NOTHING",
            )
            .bind(rule.rule_id.as_uuid())
            .bind(event.owner)
            .bind(id)
            .bind(rule.priority)
            .bind(json)
            .bind(to_bigint(event, "position", event.position)?)
            .bind(version)
        }
    };
    query.execute(&mut *tx).await?;
    Ok(())
}

async fn apply_movement(
    tx: &mut PgConnection,
    event: &RecordedEvent,
    decoded: MovementEvent,
) -> Result<(), ProjectionError> {
    let id = aggregate_id(event)?;
    let version = to_bigint(event, "version", event.version)?;
    // Each statement changes the movement's row and queues the balance and total changes it
    // implies, in one round trip; nothing is queued when the row was not changed (an event
    // already applied, or another owner's). See migrations/0002 for why they are queued.
    let query = match &decoded {
        MovementEvent::MovementRecorded { .. } => {
            // Always a row: `decoded` is a MovementRecorded.
            let position = to_bigint(event, "position", event.position)?;
            let Some(row) = recorded_row(&decoded, event.owner, version, position) else { return Ok(()) };
            // Recorded uncategorised: a category comes with its own CategoryAssigned.
            sqlx::query(
                "WITH inserted AS (
                     INSERT INTO ledger_movements (id, owner, account_id, direction, amount, currency, occurred_on,
                                                   description, counterparty, category_id, voided, version,
                                                   recorded_position)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, NULL, false, $10, $11)
                     ON CONFLICT (id) DO NOTHING
                     RETURNING owner, account_id, direction, amount, currency, occurred_on
                 ), balance AS (
                     INSERT INTO ledger_pending_balances (account_id, owner, amount)
                     SELECT account_id, owner, $12 FROM inserted
                 ), fold AS (
                     INSERT INTO ledger_fold_requests (tx) SELECT pg_current_xact_id() FROM inserted
                     ON CONFLICT DO NOTHING
                 )
                 INSERT INTO ledger_pending_totals (owner, month, category_key, direction, currency, total, count)
                 SELECT owner, date_trunc('month', occurred_on)::date, $13, direction, currency, amount, 1
                 FROM inserted",
            )
            .bind(id)
            .bind(row.owner)
            .bind(row.account_id)
            .bind(direction_text(row.direction))
            .bind(row.amount)
            .bind(row.currency)
            .bind(row.occurred_on)
            .bind(row.description)
            .bind(row.counterparty)
            .bind(row.version)
            .bind(row.recorded_position)
            .bind(signed(row.direction, row.amount))
            .bind(UNCATEGORISED)
        }
        // The amount leaves its old category's bucket for the new one's. A voided movement is
        // in no bucket (and the domain refuses to recategorise one anyway). `previous` is read,
        // and locked, before the update, so it holds the old category.
        MovementEvent::CategoryAssigned { category_id, .. } => sqlx::query(
            "WITH changed AS (
                 UPDATE ledger_movements AS m SET category_id = $3, version = $4
                 FROM (SELECT id, category_id FROM ledger_movements WHERE id = $1 FOR UPDATE) AS previous
                 WHERE m.id = previous.id AND m.owner = $2 AND m.version < $4
                 RETURNING m.owner, previous.category_id AS previous_category, m.direction, m.amount, m.currency,
                           date_trunc('month', m.occurred_on)::date AS month, m.voided
             ), moved AS (
                 SELECT * FROM changed WHERE NOT voided AND previous_category IS DISTINCT FROM $3
             ), fold AS (
                 INSERT INTO ledger_fold_requests (tx) SELECT pg_current_xact_id() FROM moved
                 ON CONFLICT DO NOTHING
             )
             INSERT INTO ledger_pending_totals (owner, month, category_key, direction, currency, total, count)
             SELECT owner, month, coalesce(previous_category, $5), direction, currency, -amount, -1 FROM moved
             UNION ALL
             SELECT owner, month, $3, direction, currency, amount, 1 FROM moved",
        )
        .bind(id)
        .bind(event.owner)
        .bind(category_id.as_uuid())
        .bind(version)
        .bind(UNCATEGORISED),
        MovementEvent::MovementVoided { .. } => sqlx::query(
            "WITH voided AS (
                 UPDATE ledger_movements SET voided = true, version = $3
                 WHERE id = $1 AND owner = $2 AND version < $3 AND NOT voided
                 RETURNING owner, account_id, direction, amount, currency, occurred_on, category_id
             ), balance AS (
                 INSERT INTO ledger_pending_balances (account_id, owner, amount)
                 SELECT account_id, owner, CASE direction WHEN 'income' THEN -amount ELSE amount END FROM voided
             ), fold AS (
                 INSERT INTO ledger_fold_requests (tx) SELECT pg_current_xact_id() FROM voided
                 ON CONFLICT DO NOTHING
             )
             INSERT INTO ledger_pending_totals (owner, month, category_key, direction, currency, total, count)
             SELECT owner, date_trunc('month', occurred_on)::date, coalesce(category_id, $4), direction, currency,
                    -amount, -1
             FROM voided",
        )
        .bind(id)
        .bind(event.owner)
        .bind(version)
        .bind(UNCATEGORISED),
    };
    query.execute(&mut *tx).await?;
    Ok(())
}
