//! [`LedgerProjection`]: folds account, category (and categorisation rule) and movement events
//! into the `ledger_*` tables.
//!
//! Each effect is keyed by the event's stream version (an update applies only under the row's
//! owner and above its version, an insert only where no row has the id), so an event applied
//! twice changes nothing, and rows hold only values taken from events, so replaying the store
//! from position 0 writes identical tables. Sums are exact.
//!
//! Balance and monthly-total changes are queued in the transaction and folded into
//! `ledger_accounts` and `ledger_category_totals` when it commits (`migrations/0002`), so a
//! rebuild applying a million movements in one transaction stays linear. So within the
//! applying transaction those two tables lag; every other transaction sees them complete.
//!
//! A batch is written in a dozen set-based statements, however many events it holds:
//!
//! 1. the events the ledger uses are decoded (`fold::decode_all`);
//! 2. the rows they touch are read, and locked, in one statement per table, except rows that
//!    their first event in the batch creates, which are assumed new (`cache`, loaded by `sql`);
//! 3. each event is folded, in position order, into those rows in memory (`fold`), so a
//!    movement recorded, recategorised and voided within one batch is written once, in its
//!    final state;
//! 4. what is left is written (`sql`): new rows in one insert per table, changed stored rows
//!    in one update per table, new rules in one insert, and the balance and total changes,
//!    summed per account and per bucket, in one insert each into the pending tables. When an
//!    insert finds a row assumed new already stored (events applied again), the batch is
//!    folded again over every row as it was before the batch.
//!
//! Budget events are written one by one beside the batch (`budgets`): they are few.
//!
//! With the `oracle` feature, `LedgerProjection::apply` applies one event in a statement or
//! two of its own: the reference the tests compare the batch with, never what the runner calls.

use async_trait::async_trait;
use cashflow_eventstore::RecordedEvent;
use cashflow_projection::{Projection, ProjectionError};
use sqlx::PgConnection;

mod budgets;
mod cache;
mod fold;
#[cfg(feature = "oracle")]
mod oracle;
mod sql;

use cache::Tables;

/// The ledger read model's projection. Stateless: everything it knows is in the tables.
#[derive(Debug, Clone, Copy, Default)]
pub struct LedgerProjection;

#[async_trait]
impl Projection for LedgerProjection {
    fn name(&self) -> &'static str {
        crate::NAME
    }

    /// Other aggregates' streams, and event types this projection does not know (added to an
    /// aggregate later), are skipped; a known type that cannot be decoded is
    /// [`ProjectionError::Decode`], and the batch writes nothing, so the projector stops rather
    /// than silently diverge.
    #[tracing::instrument(name = "ledger.apply_batch", skip_all, fields(events = events.len()), err)]
    async fn apply_batch(&self, tx: &mut PgConnection, events: &[RecordedEvent]) -> Result<(), ProjectionError> {
        for event in events {
            budgets::apply(tx, event).await?;
        }
        let decoded = fold::decode_all(events)?;
        if decoded.is_empty() {
            return Ok(());
        }
        // A row whose first event in the batch creates it is almost always new (a rebuild, or the
        // live projector), so it is not read first: its insert says whether it was.
        let mut tables = Tables::named(&decoded, true);
        tables.load(tx).await?;
        let mut pending = fold::fold(&decoded, &mut tables);
        let inserted = tables.insert_new(tx).await?;
        if inserted.count() < tables.new_count() {
            // Some were stored already (events applied again): fold the batch again over every
            // row it names as it was before the batch. What it inserts is what was just inserted.
            let mut again = Tables::named(&decoded, false);
            again.load(tx).await?;
            again.forget(&inserted);
            pending = fold::fold(&decoded, &mut again);
            tables = again;
        }
        tables.update_changed(tx).await?;
        sql::insert_rules(tx, &pending.rules).await?;
        sql::write_pending(tx, &pending).await
    }

    /// Empties every ledger table, before a rebuild from position 0.
    #[tracing::instrument(name = "ledger.reset", skip_all, err)]
    async fn reset(&self, tx: &mut PgConnection) -> Result<(), ProjectionError> {
        // Not `ledger_fold_requests`: a fold this transaction already queued would block its
        // TRUNCATE; left alone, that fold runs at commit on the emptied pending tables.
        sqlx::query(
            "TRUNCATE ledger_accounts, ledger_categories, ledger_movements, ledger_category_totals,
                      ledger_pending_balances, ledger_pending_totals, ledger_categorization_rules, ledger_budgets",
        )
        .execute(&mut *tx)
        .await?;
        Ok(())
    }

    /// The movements' four page indexes: `apply_batch` finds movements by id alone.
    fn rebuild_deferred_index_tables(&self) -> &'static [&'static str] {
        &["ledger_movements"]
    }
}
