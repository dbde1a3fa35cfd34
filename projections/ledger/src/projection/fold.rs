//! The fold: each decoded event, in position order, applied to the batch's cached rows in
//! memory by the rules the SQL of one event would follow (an insert only where no row has the
//! id, an update only under the same owner and a lower version, a void only once), leaving
//! the balance and total changes to queue and the rules to insert.
//!
//! Sums in Rust are exact: amounts have at most 15 integer digits and 4 decimals, far inside a
//! `Decimal`; an addition that would not fit starts a second pending row instead. The fold at
//! commit stores `trim_scale` of the sums, so summing first changes nothing, and every key that
//! one event at a time would queue a row for gets one here too, even when it sums to zero.

use super::cache::{AccountRow, CategoryRow, MovementRow, Tables};
use crate::columns::{UNCATEGORISED, direction_text, first_of_month};
use cashflow_domain::account::AccountEvent;
use cashflow_domain::category::CategoryEvent;
use cashflow_domain::movement::{Direction, MovementEvent};
use cashflow_domain::rule::Rule;
use cashflow_domain::{AccountId, CategoryId, MovementId};
use cashflow_eventstore::RecordedEvent;
use cashflow_projection::ProjectionError;
use cashflow_projection::decode::{aggregate_id, decode, decode_error, to_bigint};
use chrono::NaiveDate;
use rust_decimal::Decimal;
use std::collections::{HashMap, HashSet};
use std::hash::Hash;
use uuid::Uuid;

/// One event this projection uses, decoded, with what its stream says about it.
pub(super) struct Decoded {
    pub(super) id: Uuid,
    pub(super) owner: Uuid,
    pub(super) version: i64,
    pub(super) position: i64,
    pub(super) event: Event,
}

pub(super) enum Event {
    Account(AccountEvent),
    Category(CategoryEvent),
    Movement(MovementEvent),
}

/// A `ledger_categorization_rules` row: written once, when its category is the owner's.
pub(super) struct RuleRow {
    pub(super) rule_id: Uuid,
    pub(super) owner: Uuid,
    pub(super) category_id: Uuid,
    pub(super) priority: i32,
    pub(super) rule: Rule,
    pub(super) added_position: i64,
    pub(super) version: i64,
}

/// Changes summed per key, exactly: an addition that would overflow starts another entry.
pub(super) struct Sums<K, V> {
    pub(super) entries: Vec<(K, V)>,
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
pub(super) type BalanceKey = (Uuid, Uuid);
/// (owner, month, category key, direction, currency).
pub(super) type TotalKey = (Uuid, NaiveDate, Uuid, &'static str, String);

/// What the fold leaves to write besides the rows it changed: the sums to queue, and the rules to insert.
pub(super) struct Pending {
    pub(super) balances: Sums<BalanceKey, Decimal>,
    pub(super) totals: Sums<TotalKey, (Decimal, i64)>,
    /// In event order, each rule id once: the first that would be inserted.
    pub(super) rules: Vec<RuleRow>,
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

/// Folds the events, in order, into the rows; the changes to queue.
pub(super) fn fold(decoded: &[Decoded], tables: &mut Tables) -> Pending {
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
            Event::Movement(recorded @ MovementEvent::MovementRecorded { .. }) => {
                if movements.is_missing(id)
                    && let Some(row) = recorded_row(recorded, owner, version, position)
                {
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

/// The row a `MovementRecorded` creates: uncategorised (a category comes with its own
/// `CategoryAssigned`) and not voided. `None` for the movement's other events.
pub(super) fn recorded_row(event: &MovementEvent, owner: Uuid, version: i64, position: i64) -> Option<MovementRow> {
    let MovementEvent::MovementRecorded {
        account_id,
        direction,
        amount,
        currency,
        occurred_on,
        description,
        counterparty,
        ..
    } = event
    else {
        return None;
    };
    Some(MovementRow {
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
    })
}

/// The amount as it moves the account's balance.
pub(super) fn signed(direction: Direction, amount: Decimal) -> Decimal {
    match direction {
        Direction::Income => amount,
        Direction::Expense => -amount,
    }
}

/// Decodes every event the ledger uses, in order; the first that cannot be decoded is the error.
pub(super) fn decode_all(events: &[RecordedEvent]) -> Result<Vec<Decoded>, ProjectionError> {
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
                version: to_bigint(event, "version", event.version)?,
                position: to_bigint(event, "position", event.position)?,
                event: inner,
            });
        }
    }
    Ok(decoded)
}

/// A rule naming another category than the stream it was added to is no event the domain
/// writes: a decode error, as a malformed payload is.
pub(super) fn check_rule(event: &RecordedEvent, category_id: Uuid, rule: &Rule) -> Result<(), ProjectionError> {
    if rule.category_id.as_uuid() == category_id {
        Ok(())
    } else {
        Err(decode_error(
            event,
            format!("the rule is for category {} but was added to {}", rule.category_id, event.stream_id),
        ))
    }
}
