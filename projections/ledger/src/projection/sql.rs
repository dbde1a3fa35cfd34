//! The batch's SQL: reading (and locking) the rows the fold starts from, then writing what it
//! left, each table in one statement over `unnest`ed columns.

use super::cache::{AccountRow, CategoryRow, Inserted, MovementRow, Rows, Tables};
use super::fold::{Pending, RuleRow};
use crate::columns::direction_text;
use crate::queries::movement_view;
use cashflow_domain::rule::Rule;
use cashflow_projection::{ProjectionError, QueryError};
use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde_json::Value;
use sqlx::postgres::PgRow;
use sqlx::{FromRow, PgConnection, Row};
use uuid::Uuid;

impl Tables {
    /// Reads, and locks, the stored rows the batch names and does not assume new.
    pub(super) async fn load(&mut self, tx: &mut PgConnection) -> Result<(), ProjectionError> {
        let select = "SELECT id, owner, name, currency, opening_balance, closed, version FROM ledger_accounts
                      WHERE id = ANY($1) FOR UPDATE";
        for row in read(tx, &self.accounts, select).await? {
            let (id, owner, name, currency, opening_balance, closed, version) = FromRow::from_row(&row)?;
            self.accounts.stored(id, AccountRow { owner, name, currency, opening_balance, closed, version });
        }
        let select = "SELECT id, owner, name, parent_id, version FROM ledger_categories WHERE id = ANY($1) FOR UPDATE";
        for row in read(tx, &self.categories, select).await? {
            let (id, owner, name, parent_id, version) = FromRow::from_row(&row)?;
            self.categories.stored(id, CategoryRow { owner, name, parent_id, version });
        }
        let select = "SELECT id, owner, account_id, direction, amount, currency, occurred_on, description,
                             counterparty, category_id, voided, version, recorded_position
                      FROM ledger_movements WHERE id = ANY($1) FOR UPDATE";
        for row in read(tx, &self.movements, select).await? {
            self.movements.stored(row.try_get("id")?, movement_row(&row)?);
        }
        Ok(())
    }

    /// Inserts the new rows (`ON CONFLICT DO NOTHING`); the ids it did insert.
    pub(super) async fn insert_new(&self, tx: &mut PgConnection) -> Result<Inserted, ProjectionError> {
        Ok(Inserted {
            accounts: insert_accounts(tx, &self.accounts).await?,
            categories: insert_categories(tx, &self.categories).await?,
            movements: insert_movements(tx, &self.movements).await?,
        })
    }

    pub(super) async fn update_changed(&self, tx: &mut PgConnection) -> Result<(), ProjectionError> {
        update_accounts(tx, &self.accounts).await?;
        update_categories(tx, &self.categories).await?;
        update_movements(tx, &self.movements).await
    }
}

/// The stored rows of `rows`' ids to read, read and locked by `select` (`… WHERE id = ANY($1) FOR UPDATE`).
async fn read<R>(tx: &mut PgConnection, rows: &Rows<R>, select: &'static str) -> Result<Vec<PgRow>, sqlx::Error> {
    if rows.read.is_empty() {
        return Ok(Vec::new());
    }
    sqlx::query(select).bind(&rows.read).fetch_all(&mut *tx).await
}

/// A stored movement: its columns read as the queries read them, and those only the
/// projection uses.
fn movement_row(row: &PgRow) -> Result<MovementRow, ProjectionError> {
    let view = movement_view(row).map_err(|error| match error {
        QueryError::Unavailable(error) => ProjectionError::Database(error),
        QueryError::Corrupt(reason) => ProjectionError::Database(sqlx::Error::Decode(reason.into())),
    })?;
    Ok(MovementRow {
        owner: row.try_get("owner")?,
        account_id: view.account_id,
        direction: view.direction,
        amount: view.amount,
        currency: view.currency,
        occurred_on: view.occurred_on,
        description: view.description,
        counterparty: view.counterparty,
        category_id: view.category_id,
        voided: view.voided,
        version: row.try_get("version")?,
        recorded_position: row.try_get("recorded_position")?,
    })
}

/// The ids an `INSERT … RETURNING id` returned.
fn returned_ids(rows: &[PgRow]) -> Result<Vec<Uuid>, ProjectionError> {
    rows.iter().map(|row| row.try_get("id")).collect::<Result<_, _>>().map_err(Into::into)
}

/// The rule as stored in `ledger_categorization_rules.rule`, read back by `LedgerQueries::rules`.
pub(super) fn rule_json(rule: &Rule) -> Result<Value, String> {
    serde_json::to_value(rule).map_err(|error| format!("cannot serialize rule {}: {error}", rule.rule_id))
}

async fn insert_accounts(tx: &mut PgConnection, rows: &Rows<AccountRow>) -> Result<Vec<Uuid>, ProjectionError> {
    let (mut ids, mut owners, mut names, mut currencies, mut openings, mut closed, mut versions) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (id, row) in rows.new_rows() {
        ids.push(id);
        owners.push(row.owner);
        names.push(row.name.as_str());
        currencies.push(row.currency.as_str());
        openings.push(row.opening_balance);
        closed.push(row.closed);
        versions.push(row.version);
    }
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let inserted = sqlx::query(
        "INSERT INTO ledger_accounts (id, owner, name, currency, opening_balance, balance, closed, version)
         SELECT id, owner, name, currency, opening_balance, opening_balance, closed, version
         FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::numeric[], $6::bool[], $7::int8[])
              AS u(id, owner, name, currency, opening_balance, closed, version)
         ON CONFLICT (id) DO NOTHING
         RETURNING id",
    )
    .bind(&ids)
    .bind(&owners)
    .bind(&names)
    .bind(&currencies)
    .bind(&openings)
    .bind(&closed)
    .bind(&versions)
    .fetch_all(&mut *tx)
    .await?;
    returned_ids(&inserted)
}

async fn update_accounts(tx: &mut PgConnection, rows: &Rows<AccountRow>) -> Result<(), ProjectionError> {
    let (mut ids, mut names, mut closed, mut versions) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (id, row) in rows.changed_rows() {
        ids.push(id);
        names.push(row.name.as_str());
        closed.push(row.closed);
        versions.push(row.version);
    }
    if !ids.is_empty() {
        sqlx::query(
            "UPDATE ledger_accounts AS a SET name = u.name, closed = u.closed, version = u.version
             FROM unnest($1::uuid[], $2::text[], $3::bool[], $4::int8[]) AS u(id, name, closed, version)
             WHERE a.id = u.id",
        )
        .bind(&ids)
        .bind(&names)
        .bind(&closed)
        .bind(&versions)
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

async fn insert_categories(tx: &mut PgConnection, rows: &Rows<CategoryRow>) -> Result<Vec<Uuid>, ProjectionError> {
    let (mut ids, mut owners, mut names, mut parents, mut versions) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (id, row) in rows.new_rows() {
        ids.push(id);
        owners.push(row.owner);
        names.push(row.name.as_str());
        parents.push(row.parent_id);
        versions.push(row.version);
    }
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let inserted = sqlx::query(
        "INSERT INTO ledger_categories (id, owner, name, parent_id, version)
         SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::uuid[], $5::int8[])
         ON CONFLICT (id) DO NOTHING
         RETURNING id",
    )
    .bind(&ids)
    .bind(&owners)
    .bind(&names)
    .bind(&parents)
    .bind(&versions)
    .fetch_all(&mut *tx)
    .await?;
    returned_ids(&inserted)
}

async fn update_categories(tx: &mut PgConnection, rows: &Rows<CategoryRow>) -> Result<(), ProjectionError> {
    let (mut ids, mut names, mut versions) = (Vec::new(), Vec::new(), Vec::new());
    for (id, row) in rows.changed_rows() {
        ids.push(id);
        names.push(row.name.as_str());
        versions.push(row.version);
    }
    if !ids.is_empty() {
        sqlx::query(
            "UPDATE ledger_categories AS c SET name = u.name, version = u.version
             FROM unnest($1::uuid[], $2::text[], $3::int8[]) AS u(id, name, version)
             WHERE c.id = u.id",
        )
        .bind(&ids)
        .bind(&names)
        .bind(&versions)
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

/// Columns of `ledger_movements`, one vector each, for an `unnest` insert.
#[derive(Default)]
struct MovementColumns<'a> {
    ids: Vec<Uuid>,
    owners: Vec<Uuid>,
    accounts: Vec<Uuid>,
    directions: Vec<&'static str>,
    amounts: Vec<Decimal>,
    currencies: Vec<&'a str>,
    dates: Vec<NaiveDate>,
    descriptions: Vec<&'a str>,
    counterparties: Vec<Option<&'a str>>,
    categories: Vec<Option<Uuid>>,
    voided: Vec<bool>,
    versions: Vec<i64>,
    positions: Vec<i64>,
}

async fn insert_movements(tx: &mut PgConnection, rows: &Rows<MovementRow>) -> Result<Vec<Uuid>, ProjectionError> {
    let mut new = MovementColumns::default();
    for (id, row) in rows.new_rows() {
        new.ids.push(id);
        new.owners.push(row.owner);
        new.accounts.push(row.account_id);
        new.directions.push(direction_text(row.direction));
        new.amounts.push(row.amount);
        new.currencies.push(&row.currency);
        new.dates.push(row.occurred_on);
        new.descriptions.push(&row.description);
        new.counterparties.push(row.counterparty.as_deref());
        new.categories.push(row.category_id);
        new.voided.push(row.voided);
        new.versions.push(row.version);
        new.positions.push(row.recorded_position);
    }
    if new.ids.is_empty() {
        return Ok(Vec::new());
    }
    let inserted = sqlx::query(
        "INSERT INTO ledger_movements (id, owner, account_id, direction, amount, currency, occurred_on, description,
                                      counterparty, category_id, voided, version, recorded_position)
         SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::numeric[], $6::text[],
                              $7::date[], $8::text[], $9::text[], $10::uuid[], $11::bool[], $12::int8[],
                              $13::int8[])
         ON CONFLICT (id) DO NOTHING
         RETURNING id",
    )
    .bind(&new.ids)
    .bind(&new.owners)
    .bind(&new.accounts)
    .bind(&new.directions)
    .bind(&new.amounts)
    .bind(&new.currencies)
    .bind(&new.dates)
    .bind(&new.descriptions)
    .bind(&new.counterparties)
    .bind(&new.categories)
    .bind(&new.voided)
    .bind(&new.versions)
    .bind(&new.positions)
    .fetch_all(&mut *tx)
    .await?;
    returned_ids(&inserted)
}

async fn update_movements(tx: &mut PgConnection, rows: &Rows<MovementRow>) -> Result<(), ProjectionError> {
    let mut changed = MovementColumns::default();
    for (id, row) in rows.changed_rows() {
        changed.ids.push(id);
        changed.categories.push(row.category_id);
        changed.voided.push(row.voided);
        changed.versions.push(row.version);
    }
    if !changed.ids.is_empty() {
        sqlx::query(
            "UPDATE ledger_movements AS m SET category_id = u.category_id, voided = u.voided, version = u.version
             FROM unnest($1::uuid[], $2::uuid[], $3::bool[], $4::int8[]) AS u(id, category_id, voided, version)
             WHERE m.id = u.id",
        )
        .bind(&changed.ids)
        .bind(&changed.categories)
        .bind(&changed.voided)
        .bind(&changed.versions)
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

pub(super) async fn insert_rules(tx: &mut PgConnection, rules: &[RuleRow]) -> Result<(), ProjectionError> {
    if rules.is_empty() {
        return Ok(());
    }
    let mut columns = (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for row in rules {
        let json = rule_json(&row.rule).map_err(|reason| ProjectionError::Decode {
            event_type: "CategorizationRuleAdded".to_owned(),
            position: row.added_position.unsigned_abs(),
            reason,
        })?;
        columns.0.push(row.rule_id);
        columns.1.push(row.owner);
        columns.2.push(row.category_id);
        columns.3.push(row.priority);
        columns.4.push(json);
        columns.5.push(row.added_position);
        columns.6.push(row.version);
    }
    sqlx::query(
        "INSERT INTO ledger_categorization_rules (rule_id, owner, category_id, priority, rule, added_position, version)
         SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::int4[], $5::jsonb[], $6::int8[], $7::int8[])
         ON CONFLICT (rule_id) DO NOTHING",
    )
    .bind(&columns.0)
    .bind(&columns.1)
    .bind(&columns.2)
    .bind(&columns.3)
    .bind(&columns.4)
    .bind(&columns.5)
    .bind(&columns.6)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Queues the batch's balance and total changes for the fold at commit (migrations/0002).
pub(super) async fn write_pending(tx: &mut PgConnection, pending: &Pending) -> Result<(), ProjectionError> {
    let balances = &pending.balances.entries;
    if !balances.is_empty() {
        let accounts: Vec<Uuid> = balances.iter().map(|((account, _), _)| *account).collect();
        let owners: Vec<Uuid> = balances.iter().map(|((_, owner), _)| *owner).collect();
        let amounts: Vec<Decimal> = balances.iter().map(|(_, amount)| *amount).collect();
        sqlx::query(
            "INSERT INTO ledger_pending_balances (account_id, owner, amount)
             SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::numeric[])",
        )
        .bind(&accounts)
        .bind(&owners)
        .bind(&amounts)
        .execute(&mut *tx)
        .await?;
    }
    let totals = &pending.totals.entries;
    if !totals.is_empty() {
        let mut columns = (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for ((owner, month, category, direction, currency), (total, count)) in totals {
            columns.0.push(*owner);
            columns.1.push(*month);
            columns.2.push(*category);
            columns.3.push(*direction);
            columns.4.push(currency.as_str());
            columns.5.push(*total);
            columns.6.push(*count);
        }
        sqlx::query(
            "INSERT INTO ledger_pending_totals (owner, month, category_key, direction, currency, total, count)
             SELECT * FROM unnest($1::uuid[], $2::date[], $3::uuid[], $4::text[], $5::text[], $6::numeric[],
                                  $7::int8[])",
        )
        .bind(&columns.0)
        .bind(&columns.1)
        .bind(&columns.2)
        .bind(&columns.3)
        .bind(&columns.4)
        .bind(&columns.5)
        .bind(&columns.6)
        .execute(&mut *tx)
        .await?;
    }
    if !balances.is_empty() || !totals.is_empty() {
        sqlx::query("INSERT INTO ledger_fold_requests (tx) VALUES (pg_current_xact_id()) ON CONFLICT DO NOTHING")
            .execute(&mut *tx)
            .await?;
    }
    Ok(())
}
