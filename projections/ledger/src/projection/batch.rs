//! The ledger's set-based `apply_batch`: the same effect as `apply` on each event in turn, in
//! a dozen statements per batch rather than one or more per event.
//!
//! The batch is decoded first; the rows it touches are read (and locked) in one statement per
//! table, except those its first event creates, which are assumed new (see `apply_batch`);
//! then each event is folded, in position order, into those rows in memory by exactly
//! the rules `apply`'s SQL follows (inserts only where no row has the id, updates only under
//! the same owner and a lower version, a void only once). So a movement recorded, recategorised
//! and voided within one batch is written once, in its final state, and events of the same row
//! keep their order. What is left is written set-based: new rows in one insert per table,
//! changed stored rows in one update per table, and the balance and total changes, summed per
//! account and per bucket, in one insert each into the pending tables that the commit folds.
//! Categorisation rules are only ever inserted: those whose category the fold finds to be their
//! owner's, once per rule id, in one insert.
//!
//! Sums in Rust are exact: amounts have at most 15 integer digits and 4 decimals, far inside a
//! `Decimal`; an addition that would not fit starts a second pending row instead. The fold
//! stores `trim_scale` of the sums, so summing first changes nothing, and every key that
//! `apply` would queue a row for gets one here too, even when it sums to zero.

use super::{aggregate_id, check_rule, decode, position, rule_json, stream_version};
use crate::columns::{UNCATEGORISED, direction_text, first_of_month, parse_direction};
use cashflow_bus::ProjectionError;
use cashflow_domain::account::AccountEvent;
use cashflow_domain::category::CategoryEvent;
use cashflow_domain::movement::{Direction, MovementEvent};
use cashflow_domain::rule::Rule;
use cashflow_domain::{AccountId, CategoryId, MovementId};
use cashflow_eventstore::RecordedEvent;
use chrono::NaiveDate;
use rust_decimal::Decimal;
use sqlx::{PgConnection, Row};
use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::hash::Hash;
use uuid::Uuid;

/// One event this projection uses, decoded, with what its stream says about it.
struct Decoded {
    id: Uuid,
    owner: Uuid,
    version: i64,
    position: i64,
    event: Event,
}

/// A `ledger_categorization_rules` row: written once, when its category is the owner's.
struct RuleRow {
    rule_id: Uuid,
    owner: Uuid,
    category_id: Uuid,
    priority: i32,
    rule: Rule,
    added_position: i64,
    version: i64,
}

enum Event {
    Account(AccountEvent),
    Category(CategoryEvent),
    Movement(MovementEvent),
}

struct AccountRow {
    owner: Uuid,
    name: String,
    currency: String,
    opening_balance: Decimal,
    closed: bool,
    version: i64,
}

struct CategoryRow {
    owner: Uuid,
    name: String,
    parent_id: Option<Uuid>,
    version: i64,
}

struct MovementRow {
    owner: Uuid,
    account_id: Uuid,
    direction: Direction,
    amount: Decimal,
    currency: String,
    occurred_on: NaiveDate,
    description: String,
    counterparty: Option<String>,
    category_id: Option<Uuid>,
    voided: bool,
    version: i64,
    recorded_position: i64,
}

/// A row as the batch sees it: absent, stored before the batch (and maybe changed), or new.
enum Slot<R> {
    Missing,
    Stored { row: R, changed: bool },
    New(R),
}

/// The rows of one table that a batch touches, in the order the batch first named them.
struct Rows<R> {
    ids: Vec<Uuid>,
    /// The ids to read before folding: all but those assumed new.
    read: Vec<Uuid>,
    slots: HashMap<Uuid, Slot<R>>,
}

impl<R> Rows<R> {
    fn new() -> Self {
        Self { ids: Vec::new(), read: Vec::new(), slots: HashMap::new() }
    }

    /// Names a row the batch touches; `assume_new` when its first event creates it.
    fn name(&mut self, id: Uuid, assume_new: bool) {
        if let Entry::Vacant(vacant) = self.slots.entry(id) {
            vacant.insert(Slot::Missing);
            self.ids.push(id);
            if !assume_new {
                self.read.push(id);
            }
        }
    }

    /// Takes the row read for `id` back to missing: the batch itself inserted it.
    fn forget(&mut self, id: Uuid) {
        if let Some(slot) = self.slots.get_mut(&id) {
            *slot = Slot::Missing;
        }
    }

    fn new_count(&self) -> usize {
        self.slots.values().filter(|slot| matches!(slot, Slot::New(_))).count()
    }

    fn is_missing(&self, id: Uuid) -> bool {
        matches!(self.slots.get(&id), Some(Slot::Missing))
    }

    /// The row as the fold has it so far, stored or new.
    fn get(&self, id: Uuid) -> Option<&R> {
        match self.slots.get(&id)? {
            Slot::Missing => None,
            Slot::Stored { row, .. } | Slot::New(row) => Some(row),
        }
    }

    fn stored(&mut self, id: Uuid, row: R) {
        self.slots.insert(id, Slot::Stored { row, changed: false });
    }

    /// Inserts `make()` if no row has the id, as `INSERT … ON CONFLICT (id) DO NOTHING`; whether it did.
    fn insert(&mut self, id: Uuid, make: impl FnOnce() -> R) -> bool {
        match self.slots.get_mut(&id) {
            Some(slot @ Slot::Missing) => {
                *slot = Slot::New(make());
                true
            }
            _ => false,
        }
    }

    /// The row to update, if there is one and `guard` lets the update through; marks it changed.
    fn update(&mut self, id: Uuid, guard: impl FnOnce(&R) -> bool) -> Option<&mut R> {
        match self.slots.get_mut(&id)? {
            Slot::Missing => None,
            Slot::Stored { row, changed } => guard(row).then(|| {
                *changed = true;
                row
            }),
            Slot::New(row) => guard(row).then_some(row),
        }
    }

    fn new_rows(&self) -> impl Iterator<Item = (Uuid, &R)> {
        self.ids.iter().filter_map(|id| match &self.slots[id] {
            Slot::New(row) => Some((*id, row)),
            _ => None,
        })
    }

    fn changed_rows(&self) -> impl Iterator<Item = (Uuid, &R)> {
        self.ids.iter().filter_map(|id| match &self.slots[id] {
            Slot::Stored { row, changed: true } => Some((*id, row)),
            _ => None,
        })
    }
}

/// Changes summed per key, exactly: an addition that would overflow starts another entry.
struct Sums<K, V> {
    entries: Vec<(K, V)>,
    index: HashMap<K, usize>,
}

impl<K: Eq + Hash + Clone, V: Copy> Sums<K, V> {
    fn new() -> Self {
        Self { entries: Vec::new(), index: HashMap::new() }
    }

    fn add(&mut self, key: K, value: V, plus: impl Fn(V, V) -> Option<V>) {
        if let Some(&at) = self.index.get(&key)
            && let Some(sum) = plus(self.entries[at].1, value)
        {
            self.entries[at].1 = sum;
            return;
        }
        self.index.insert(key.clone(), self.entries.len());
        self.entries.push((key, value));
    }
}

/// (account id, owner).
type BalanceKey = (Uuid, Uuid);
/// (owner, month, category key, direction, currency).
type TotalKey = (Uuid, NaiveDate, Uuid, &'static str, String);

/// What the fold leaves to write besides the rows it changed: the sums to queue, and the rules to insert.
struct Pending {
    balances: Sums<BalanceKey, Decimal>,
    totals: Sums<TotalKey, (Decimal, i64)>,
    /// In event order, each rule id once: the first that would be inserted.
    rules: Vec<RuleRow>,
}

impl Pending {
    fn balance(&mut self, account_id: Uuid, owner: Uuid, amount: Decimal) {
        self.balances.add((account_id, owner), amount, Decimal::checked_add);
    }

    fn total(&mut self, row: &MovementRow, category: Option<Uuid>, amount: Decimal, count: i64) {
        let month = first_of_month(row.occurred_on);
        let key =
            (row.owner, month, category.unwrap_or(UNCATEGORISED), direction_text(row.direction), row.currency.clone());
        self.totals.add(key, (amount, count), |(a, n), (b, m)| Some((a.checked_add(b)?, n.checked_add(m)?)));
    }
}

/// Applies `events` (in position order) with the effect of `apply` on each in turn.
pub(super) async fn apply_batch(tx: &mut PgConnection, events: &[RecordedEvent]) -> Result<(), ProjectionError> {
    let decoded = decode_all(events)?;
    if decoded.is_empty() {
        return Ok(());
    }
    // A row whose first event in the batch creates it is almost always new (a rebuild, or the
    // live projector), so it is not read first: its insert says whether it was.
    let mut tables = Tables::named(&decoded, true);
    tables.load(tx).await?;
    let mut pending = fold(&decoded, &mut tables);
    let inserted = tables.insert_new(tx).await?;
    if inserted.count() < tables.new_count() {
        // Some were stored already (events applied again): fold the batch again over every
        // row it names as it was before the batch. What it inserts is what was just inserted.
        let mut again = Tables::named(&decoded, false);
        again.load(tx).await?;
        again.forget(&inserted);
        pending = fold(&decoded, &mut again);
        tables = again;
    }
    tables.update_changed(tx).await?;
    insert_rules(tx, &pending.rules).await?;
    write_pending(tx, &pending).await
}

/// The ids of the rows an insert did insert, by table.
struct Inserted {
    accounts: Vec<Uuid>,
    categories: Vec<Uuid>,
    movements: Vec<Uuid>,
}

impl Inserted {
    fn count(&self) -> usize {
        self.accounts.len() + self.categories.len() + self.movements.len()
    }
}

/// The rows a batch touches, by table.
struct Tables {
    accounts: Rows<AccountRow>,
    categories: Rows<CategoryRow>,
    movements: Rows<MovementRow>,
}

impl Tables {
    fn named(decoded: &[Decoded], assume_created_new: bool) -> Self {
        let mut tables = Self { accounts: Rows::new(), categories: Rows::new(), movements: Rows::new() };
        for event in decoded {
            match &event.event {
                Event::Account(e) => tables
                    .accounts
                    .name(event.id, assume_created_new && matches!(e, AccountEvent::AccountOpened { .. })),
                // A rule is kept only on its owner's category, so the category is read too.
                Event::Category(CategoryEvent::CategorizationRuleAdded(_)) => tables.categories.name(event.id, false),
                Event::Category(e) => tables
                    .categories
                    .name(event.id, assume_created_new && matches!(e, CategoryEvent::CategoryCreated { .. })),
                Event::Movement(e) => tables
                    .movements
                    .name(event.id, assume_created_new && matches!(e, MovementEvent::MovementRecorded { .. })),
            }
        }
        tables
    }

    async fn load(&mut self, tx: &mut PgConnection) -> Result<(), ProjectionError> {
        load_accounts(tx, &mut self.accounts).await?;
        load_categories(tx, &mut self.categories).await?;
        load_movements(tx, &mut self.movements).await
    }

    fn new_count(&self) -> usize {
        self.accounts.new_count() + self.categories.new_count() + self.movements.new_count()
    }

    fn forget(&mut self, inserted: &Inserted) {
        inserted.accounts.iter().for_each(|id| self.accounts.forget(*id));
        inserted.categories.iter().for_each(|id| self.categories.forget(*id));
        inserted.movements.iter().for_each(|id| self.movements.forget(*id));
    }

    /// Inserts the new rows (`ON CONFLICT DO NOTHING`); the ids it did insert.
    async fn insert_new(&self, tx: &mut PgConnection) -> Result<Inserted, ProjectionError> {
        Ok(Inserted {
            accounts: insert_accounts(tx, &self.accounts).await?,
            categories: insert_categories(tx, &self.categories).await?,
            movements: insert_movements(tx, &self.movements).await?,
        })
    }

    async fn update_changed(&self, tx: &mut PgConnection) -> Result<(), ProjectionError> {
        update_accounts(tx, &self.accounts).await?;
        update_categories(tx, &self.categories).await?;
        update_movements(tx, &self.movements).await
    }
}

/// Folds the events, in order, into the rows by `apply`'s rules; the changes to queue.
fn fold(decoded: &[Decoded], tables: &mut Tables) -> Pending {
    let Tables { accounts, categories, movements } = tables;
    let mut pending = Pending { balances: Sums::new(), totals: Sums::new(), rules: Vec::new() };
    let mut rule_ids = HashSet::new();
    for event in decoded {
        let Decoded { id, owner, version, position, ref event } = *event;
        let guard = |row_owner: Uuid, row_version: i64| row_owner == owner && row_version < version;
        match event {
            Event::Account(AccountEvent::AccountOpened { name, currency, opening_balance, .. }) => {
                accounts.insert(id, || AccountRow {
                    owner,
                    name: name.as_str().to_owned(),
                    currency: currency.code().to_owned(),
                    opening_balance: opening_balance.value(),
                    closed: false,
                    version,
                });
            }
            Event::Account(AccountEvent::AccountRenamed { name }) => {
                if let Some(row) = accounts.update(id, |row| guard(row.owner, row.version)) {
                    row.name = name.as_str().to_owned();
                    row.version = version;
                }
            }
            Event::Account(AccountEvent::AccountClosed {}) => {
                if let Some(row) = accounts.update(id, |row| guard(row.owner, row.version)) {
                    row.closed = true;
                    row.version = version;
                }
            }
            Event::Category(CategoryEvent::CategoryCreated { name, parent_id, .. }) => {
                categories.insert(id, || CategoryRow {
                    owner,
                    name: name.as_str().to_owned(),
                    parent_id: parent_id.map(|p| p.as_uuid()),
                    version,
                });
            }
            Event::Category(CategoryEvent::CategoryRenamed { name }) => {
                if let Some(row) = categories.update(id, |row| guard(row.owner, row.version)) {
                    row.name = name.as_str().to_owned();
                    row.version = version;
                }
            }
            // A rule id already stored is refused by the insert's `ON CONFLICT DO NOTHING`.
            Event::Category(CategoryEvent::CategorizationRuleAdded(rule)) => {
                if categories.get(id).is_some_and(|row| row.owner == owner) && rule_ids.insert(rule.rule_id) {
                    pending.rules.push(RuleRow {
                        rule_id: rule.rule_id.as_uuid(),
                        owner,
                        category_id: id,
                        priority: rule.priority,
                        rule: rule.clone(),
                        added_position: position,
                        version,
                    });
                }
            }
            Event::Movement(MovementEvent::MovementRecorded {
                account_id,
                direction,
                amount,
                currency,
                occurred_on,
                description,
                counterparty,
                ..
            }) => {
                let row = MovementRow {
                    owner,
                    account_id: account_id.as_uuid(),
                    direction: *direction,
                    amount: amount.value(),
                    currency: currency.code().to_owned(),
                    occurred_on: occurred_on.date(),
                    description: description.as_str().to_owned(),
                    counterparty: counterparty.as_ref().map(|c| c.as_str().to_owned()),
                    category_id: None,
                    voided: false,
                    version,
                    recorded_position: position,
                };
                // Recorded uncategorised: a category comes with its own CategoryAssigned.
                if movements.is_missing(id) {
                    pending.balance(row.account_id, row.owner, signed(row.direction, row.amount));
                    pending.total(&row, None, row.amount, 1);
                    movements.insert(id, || row);
                }
            }
            Event::Movement(MovementEvent::CategoryAssigned { category_id, .. }) => {
                let category = Some(category_id.as_uuid());
                if let Some(row) = movements.update(id, |row| guard(row.owner, row.version)) {
                    let previous = row.category_id;
                    row.category_id = category;
                    row.version = version;
                    if !row.voided && previous != category {
                        pending.total(row, previous, -row.amount, -1);
                        pending.total(row, category, row.amount, 1);
                    }
                }
            }
            Event::Movement(MovementEvent::MovementVoided { .. }) => {
                if let Some(row) = movements.update(id, |row| guard(row.owner, row.version) && !row.voided) {
                    row.voided = true;
                    row.version = version;
                    pending.balance(row.account_id, row.owner, -signed(row.direction, row.amount));
                    pending.total(row, row.category_id, -row.amount, -1);
                }
            }
        }
    }

    pending
}

fn signed(direction: Direction, amount: Decimal) -> Decimal {
    match direction {
        Direction::Income => amount,
        Direction::Expense => -amount,
    }
}

/// Decodes every event the ledger uses, in order; the first that cannot be decoded is the error.
fn decode_all(events: &[RecordedEvent]) -> Result<Vec<Decoded>, ProjectionError> {
    let mut decoded = Vec::with_capacity(events.len());
    for event in events {
        let inner = match event.stream_category() {
            AccountId::STREAM_CATEGORY => decode::<AccountEvent>(event)?.map(Event::Account),
            CategoryId::STREAM_CATEGORY => decode::<CategoryEvent>(event)?.map(Event::Category),
            MovementId::STREAM_CATEGORY => decode::<MovementEvent>(event)?.map(Event::Movement),
            _ => None,
        };
        if let Some(inner) = inner {
            let id = aggregate_id(event)?;
            if let Event::Category(CategoryEvent::CategorizationRuleAdded(rule)) = &inner {
                check_rule(event, id, rule)?;
            }
            decoded.push(Decoded {
                id,
                owner: event.owner,
                version: stream_version(event)?,
                position: position(event)?,
                event: inner,
            });
        }
    }
    Ok(decoded)
}

fn corrupt(column: &str, value: &str) -> ProjectionError {
    ProjectionError::Database(sqlx::Error::Decode(format!("ledger_movements.{column} holds {value:?}").into()))
}

async fn load_accounts(tx: &mut PgConnection, rows: &mut Rows<AccountRow>) -> Result<(), ProjectionError> {
    if rows.read.is_empty() {
        return Ok(());
    }
    let stored = sqlx::query(
        "SELECT id, owner, name, currency, opening_balance, closed, version FROM ledger_accounts
         WHERE id = ANY($1) FOR UPDATE",
    )
    .bind(&rows.read)
    .fetch_all(&mut *tx)
    .await?;
    for row in stored {
        let account = AccountRow {
            owner: row.try_get("owner")?,
            name: row.try_get("name")?,
            currency: row.try_get("currency")?,
            opening_balance: row.try_get("opening_balance")?,
            closed: row.try_get("closed")?,
            version: row.try_get("version")?,
        };
        rows.stored(row.try_get("id")?, account);
    }
    Ok(())
}

async fn load_categories(tx: &mut PgConnection, rows: &mut Rows<CategoryRow>) -> Result<(), ProjectionError> {
    if rows.read.is_empty() {
        return Ok(());
    }
    let stored =
        sqlx::query("SELECT id, owner, name, parent_id, version FROM ledger_categories WHERE id = ANY($1) FOR UPDATE")
            .bind(&rows.read)
            .fetch_all(&mut *tx)
            .await?;
    for row in stored {
        let category = CategoryRow {
            owner: row.try_get("owner")?,
            name: row.try_get("name")?,
            parent_id: row.try_get("parent_id")?,
            version: row.try_get("version")?,
        };
        rows.stored(row.try_get("id")?, category);
    }
    Ok(())
}

async fn load_movements(tx: &mut PgConnection, rows: &mut Rows<MovementRow>) -> Result<(), ProjectionError> {
    if rows.read.is_empty() {
        return Ok(());
    }
    let stored = sqlx::query(
        "SELECT id, owner, account_id, direction, amount, currency, occurred_on, description, counterparty,
                category_id, voided, version, recorded_position
         FROM ledger_movements WHERE id = ANY($1) FOR UPDATE",
    )
    .bind(&rows.read)
    .fetch_all(&mut *tx)
    .await?;
    for row in stored {
        let direction: String = row.try_get("direction")?;
        let movement = MovementRow {
            owner: row.try_get("owner")?,
            account_id: row.try_get("account_id")?,
            direction: parse_direction(&direction).ok_or_else(|| corrupt("direction", &direction))?,
            amount: row.try_get("amount")?,
            currency: row.try_get("currency")?,
            occurred_on: row.try_get("occurred_on")?,
            description: row.try_get("description")?,
            counterparty: row.try_get("counterparty")?,
            category_id: row.try_get("category_id")?,
            voided: row.try_get("voided")?,
            version: row.try_get("version")?,
            recorded_position: row.try_get("recorded_position")?,
        };
        rows.stored(row.try_get("id")?, movement);
    }
    Ok(())
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
    if !ids.is_empty() {
        let rows = sqlx::query(
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
        return rows.iter().map(|row| row.try_get("id")).collect::<Result<_, _>>().map_err(Into::into);
    }
    Ok(Vec::new())
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
    if !ids.is_empty() {
        let rows = sqlx::query(
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
        return rows.iter().map(|row| row.try_get("id")).collect::<Result<_, _>>().map_err(Into::into);
    }
    Ok(Vec::new())
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
    if !new.ids.is_empty() {
        let rows = sqlx::query(
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
        return rows.iter().map(|row| row.try_get("id")).collect::<Result<_, _>>().map_err(Into::into);
    }
    Ok(Vec::new())
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

async fn insert_rules(tx: &mut PgConnection, rules: &[RuleRow]) -> Result<(), ProjectionError> {
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
async fn write_pending(tx: &mut PgConnection, pending: &Pending) -> Result<(), ProjectionError> {
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
