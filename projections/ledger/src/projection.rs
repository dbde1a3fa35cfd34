//! [`LedgerProjection`]: folds account, category (and categorisation rule) and movement events
//! into the `ledger_*` tables.
//!
//! Each effect is keyed by the event's stream version (`version < $event_version` guards
//! every update, inserts are `ON CONFLICT DO NOTHING`), so an event applied twice changes
//! nothing, and rows hold only values taken from events, so replaying the store from
//! position 0 writes identical tables. Sums are exact NUMERIC, computed by PostgreSQL.
//!
//! Balance and monthly-total changes are queued in the transaction and folded into
//! `ledger_accounts` and `ledger_category_totals` when it commits (`migrations/0002`), so a
//! rebuild applying a million movements in one transaction stays linear. So within the
//! applying transaction those two tables lag; every other transaction sees them complete.
//!
//! [`apply_batch`](Projection::apply_batch), which the projector and the rebuild call, has the
//! same effect as `apply` on each event in turn, in a few set-based statements per batch
//! (`projection/batch.rs`); `apply` stays the one-event reference it is tested against.

use crate::columns::{UNCATEGORISED, direction_text};
use async_trait::async_trait;
use cashflow_bus::{Projection, ProjectionError};
use cashflow_domain::account::AccountEvent;
use cashflow_domain::category::CategoryEvent;
use cashflow_domain::movement::{Direction, MovementEvent};
use cashflow_domain::rule::Rule;
use cashflow_domain::{AccountId, CategoryId, DomainEvent, EventDecodeError, MovementId};
use cashflow_eventstore::RecordedEvent;
use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

mod batch;

/// The ledger read model's projection. Stateless: everything it knows is in the tables.
#[derive(Debug, Clone, Copy, Default)]
pub struct LedgerProjection;

#[async_trait]
impl Projection for LedgerProjection {
    fn name(&self) -> &'static str {
        crate::NAME
    }

    /// Applies one event. Other aggregates' streams, and event types this projection does not
    /// know (added to an aggregate later), are skipped; a known type that cannot be decoded is
    /// [`ProjectionError::Decode`], so the projector stops rather than silently diverge.
    #[tracing::instrument(
        name = "ledger.apply",
        skip_all,
        fields(position = event.position, stream_id = %event.stream_id, event_type = %event.event_type),
        err
    )]
    async fn apply(&self, tx: &mut PgConnection, event: &RecordedEvent) -> Result<(), ProjectionError> {
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

    /// Applies events with the effect of [`apply`](Self::apply) on each in turn, in a few
    /// set-based statements per batch (see `projection/batch.rs`).
    #[tracing::instrument(name = "ledger.apply_batch", skip_all, fields(events = events.len()), err)]
    async fn apply_batch(&self, tx: &mut PgConnection, events: &[RecordedEvent]) -> Result<(), ProjectionError> {
        batch::apply_batch(tx, events).await
    }

    /// Empties every ledger table, before a rebuild from position 0.
    #[tracing::instrument(name = "ledger.reset", skip_all, err)]
    async fn reset(&self, tx: &mut PgConnection) -> Result<(), ProjectionError> {
        // Not `ledger_fold_requests`: a fold this transaction already queued would block its
        // TRUNCATE; left alone, that fold runs at commit on the emptied pending tables.
        sqlx::query(
            "TRUNCATE ledger_accounts, ledger_categories, ledger_movements, ledger_category_totals,
                      ledger_pending_balances, ledger_pending_totals, ledger_categorization_rules",
        )
        .execute(&mut *tx)
        .await?;
        Ok(())
    }
}

/// The domain event, or `None` for an event type the aggregate does not (yet) have.
fn decode<E: DomainEvent>(event: &RecordedEvent) -> Result<Option<E>, ProjectionError> {
    match E::decode(&event.event_type, event.schema_version, event.payload.clone()) {
        Ok(decoded) => Ok(Some(decoded)),
        // `Unknown` also means "a schema version with no upcast" for a type we do know; probing
        // the type at today's version tells the two apart, and only the unknown type is skipped.
        Err(EventDecodeError::Unknown { .. }) if !is_known_type::<E>(&event.event_type) => {
            tracing::debug!(event_type = %event.event_type, "event type unknown to the ledger; skipped");
            Ok(None)
        }
        Err(error) => Err(decode_error(event, error.to_string())),
    }
}

fn is_known_type<E: DomainEvent>(event_type: &str) -> bool {
    !matches!(E::decode(event_type, E::SCHEMA_VERSION, Value::Null), Err(EventDecodeError::Unknown { .. }))
}

fn decode_error(event: &RecordedEvent, reason: String) -> ProjectionError {
    ProjectionError::Decode { event_type: event.event_type.clone(), position: event.position, reason }
}

/// The aggregate id: the `<uuid>` of the event's `<category>-<uuid>` stream.
fn aggregate_id(event: &RecordedEvent) -> Result<Uuid, ProjectionError> {
    event
        .stream_id
        .split_once('-')
        .and_then(|(_, id)| Uuid::parse_str(id).ok())
        .ok_or_else(|| decode_error(event, format!("stream id {} does not end in a UUID", event.stream_id)))
}

fn stream_version(event: &RecordedEvent) -> Result<i64, ProjectionError> {
    i64::try_from(event.version).map_err(|_| decode_error(event, format!("version {} overflows BIGINT", event.version)))
}

fn position(event: &RecordedEvent) -> Result<i64, ProjectionError> {
    i64::try_from(event.position)
        .map_err(|_| decode_error(event, format!("position {} overflows BIGINT", event.position)))
}

async fn apply_account(
    tx: &mut PgConnection,
    event: &RecordedEvent,
    decoded: AccountEvent,
) -> Result<(), ProjectionError> {
    let id = aggregate_id(event)?;
    let version = stream_version(event)?;
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
    let version = stream_version(event)?;
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
            .bind(position(event)?)
            .bind(version)
        }
    };
    query.execute(&mut *tx).await?;
    Ok(())
}

/// A rule naming another category than the stream it was added to is no event the domain
/// writes: a decode error, as a malformed payload is.
fn check_rule(event: &RecordedEvent, category_id: Uuid, rule: &Rule) -> Result<(), ProjectionError> {
    if rule.category_id.as_uuid() == category_id {
        Ok(())
    } else {
        Err(decode_error(
            event,
            format!("the rule is for category {} but was added to {}", rule.category_id, event.stream_id),
        ))
    }
}

/// The rule as stored in `ledger_categorization_rules.rule`, read back by `LedgerQueries::rules`.
fn rule_json(rule: &Rule) -> Result<Value, String> {
    serde_json::to_value(rule).map_err(|error| format!("cannot serialize rule {}: {error}", rule.rule_id))
}

async fn apply_movement(
    tx: &mut PgConnection,
    event: &RecordedEvent,
    decoded: MovementEvent,
) -> Result<(), ProjectionError> {
    let id = aggregate_id(event)?;
    let version = stream_version(event)?;
    // Each statement changes the movement's row and queues the balance and total changes it
    // implies, in one round trip; nothing is queued when the row was not changed (an event
    // already applied, or another owner's). See migrations/0002 for why they are queued.
    let query = match decoded {
        MovementEvent::MovementRecorded {
            account_id,
            direction,
            amount,
            currency,
            occurred_on,
            description,
            counterparty,
            ..
        } => {
            let amount = amount.value();
            let signed = match direction {
                Direction::Income => amount,
                Direction::Expense => -amount,
            };
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
            .bind(event.owner)
            .bind(account_id.as_uuid())
            .bind(direction_text(direction))
            .bind(amount)
            .bind(currency.code())
            .bind(occurred_on.date())
            .bind(description.as_str())
            .bind(counterparty.as_ref().map(|c| c.as_str()))
            .bind(version)
            .bind(position(event)?)
            .bind(signed)
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

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    fn recorded(stream_id: &str, event_type: &str, schema_version: u32, payload: Value) -> RecordedEvent {
        RecordedEvent {
            event_id: Uuid::now_v7(),
            stream_id: stream_id.to_owned(),
            version: 1,
            position: 7,
            event_type: event_type.to_owned(),
            schema_version,
            payload,
            owner: Uuid::now_v7(),
            command_id: Uuid::now_v7(),
            correlation_id: Uuid::now_v7(),
            causation_id: None,
            traceparent: None,
            recorded_at: Utc.timestamp_opt(0, 0).unwrap(),
            hash: [0; 32],
        }
    }

    #[test]
    fn an_event_type_the_aggregate_does_not_have_is_skipped() {
        let event = recorded("category-x", "CategoryArchived", 1, serde_json::json!({"pattern": "x"}));
        assert!(decode::<CategoryEvent>(&event).unwrap().is_none());
    }

    #[test]
    fn a_malformed_payload_of_a_known_type_is_a_decode_error() {
        let event = recorded("account-x", "AccountRenamed", 1, serde_json::json!({"title": 3}));
        let error = decode::<AccountEvent>(&event).unwrap_err();
        assert!(
            matches!(&error, ProjectionError::Decode { event_type, position: 7, .. } if event_type == "AccountRenamed"),
            "{error:?}"
        );
    }

    #[test]
    fn a_known_type_at_a_schema_version_without_upcast_is_a_decode_error() {
        let event = recorded("account-x", "AccountRenamed", 99, serde_json::json!({"name": "Main"}));
        assert!(matches!(decode::<AccountEvent>(&event), Err(ProjectionError::Decode { .. })));
    }

    #[test]
    fn the_aggregate_id_is_the_uuid_after_the_category() {
        let id = Uuid::now_v7();
        let event = recorded(&format!("movement-{id}"), "MovementVoided", 1, Value::Null);
        assert_eq!(aggregate_id(&event).unwrap(), id);
        let event = recorded("movement-nope", "MovementVoided", 1, Value::Null);
        assert!(matches!(aggregate_id(&event), Err(ProjectionError::Decode { .. })));
    }
}
