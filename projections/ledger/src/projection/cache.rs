//! The batch's row cache: the stored rows a batch touches, read once, then changed in memory
//! by the fold, and the rows it creates.

use super::fold::{Decoded, Event};
use cashflow_domain::account::AccountEvent;
use cashflow_domain::category::CategoryEvent;
use cashflow_domain::movement::{Direction, MovementEvent};
use chrono::NaiveDate;
use rust_decimal::Decimal;
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use uuid::Uuid;

pub(super) struct AccountRow {
    pub(super) owner: Uuid,
    pub(super) name: String,
    pub(super) currency: String,
    pub(super) opening_balance: Decimal,
    pub(super) closed: bool,
    pub(super) version: i64,
}

pub(super) struct CategoryRow {
    pub(super) owner: Uuid,
    pub(super) name: String,
    pub(super) parent_id: Option<Uuid>,
    pub(super) version: i64,
}

pub(super) struct MovementRow {
    pub(super) owner: Uuid,
    pub(super) account_id: Uuid,
    pub(super) direction: Direction,
    pub(super) amount: Decimal,
    pub(super) currency: String,
    pub(super) occurred_on: NaiveDate,
    pub(super) description: String,
    pub(super) counterparty: Option<String>,
    pub(super) category_id: Option<Uuid>,
    pub(super) voided: bool,
    pub(super) version: i64,
    pub(super) recorded_position: i64,
}

/// A row as the batch sees it: absent, stored before the batch (and maybe changed), or new.
enum Slot<R> {
    Missing,
    Stored { row: R, changed: bool },
    New(R),
}

/// The rows of one table that a batch touches, in the order the batch first named them.
pub(super) struct Rows<R> {
    ids: Vec<Uuid>,
    /// The ids to read before folding: all but those assumed new.
    pub(super) read: Vec<Uuid>,
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

    pub(super) fn is_missing(&self, id: Uuid) -> bool {
        matches!(self.slots.get(&id), Some(Slot::Missing))
    }

    /// The row as the fold has it so far, stored or new.
    pub(super) fn get(&self, id: Uuid) -> Option<&R> {
        match self.slots.get(&id)? {
            Slot::Missing => None,
            Slot::Stored { row, .. } | Slot::New(row) => Some(row),
        }
    }

    /// The row as read from the table, before the batch.
    pub(super) fn stored(&mut self, id: Uuid, row: R) {
        self.slots.insert(id, Slot::Stored { row, changed: false });
    }

    /// Inserts `make()` if no row has the id, as `INSERT … ON CONFLICT (id) DO NOTHING`; whether it did.
    pub(super) fn insert(&mut self, id: Uuid, make: impl FnOnce() -> R) -> bool {
        match self.slots.get_mut(&id) {
            Some(slot @ Slot::Missing) => {
                *slot = Slot::New(make());
                true
            }
            _ => false,
        }
    }

    /// The row to update, if there is one and `guard` lets the update through; marks it changed.
    pub(super) fn update(&mut self, id: Uuid, guard: impl FnOnce(&R) -> bool) -> Option<&mut R> {
        match self.slots.get_mut(&id)? {
            Slot::Missing => None,
            Slot::Stored { row, changed } => guard(row).then(|| {
                *changed = true;
                row
            }),
            Slot::New(row) => guard(row).then_some(row),
        }
    }

    pub(super) fn new_rows(&self) -> impl Iterator<Item = (Uuid, &R)> {
        self.ids.iter().filter_map(|id| match &self.slots[id] {
            Slot::New(row) => Some((*id, row)),
            _ => None,
        })
    }

    pub(super) fn changed_rows(&self) -> impl Iterator<Item = (Uuid, &R)> {
        self.ids.iter().filter_map(|id| match &self.slots[id] {
            Slot::Stored { row, changed: true } => Some((*id, row)),
            _ => None,
        })
    }
}

/// The rows a batch touches, by table.
pub(super) struct Tables {
    pub(super) accounts: Rows<AccountRow>,
    pub(super) categories: Rows<CategoryRow>,
    pub(super) movements: Rows<MovementRow>,
}

/// The ids of the rows an insert did insert, by table.
pub(super) struct Inserted {
    pub(super) accounts: Vec<Uuid>,
    pub(super) categories: Vec<Uuid>,
    pub(super) movements: Vec<Uuid>,
}

impl Inserted {
    pub(super) fn count(&self) -> usize {
        self.accounts.len() + self.categories.len() + self.movements.len()
    }
}

impl Tables {
    /// The rows `decoded` touches, none read yet; with `assume_created_new`, those whose first
    /// event in the batch creates them are not to be read.
    pub(super) fn named(decoded: &[Decoded], assume_created_new: bool) -> Self {
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

    pub(super) fn new_count(&self) -> usize {
        self.accounts.new_count() + self.categories.new_count() + self.movements.new_count()
    }

    /// Takes the rows the batch itself inserted back to missing.
    pub(super) fn forget(&mut self, inserted: &Inserted) {
        inserted.accounts.iter().for_each(|id| self.accounts.forget(*id));
        inserted.categories.iter().for_each(|id| self.categories.forget(*id));
        inserted.movements.iter().for_each(|id| self.movements.forget(*id));
    }
}
