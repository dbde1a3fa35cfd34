//! [`LedgerQueries`]: the ledger's reads, each scoped to one owner, so another user's ids
//! simply find nothing.

mod cursor;

pub use cashflow_projection::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, QueryError};
pub use cursor::PageCursor;

use crate::columns::{category_from_key, direction_text, first_of_month, parse_direction};
pub use cashflow_app::{RuleCandidate, RulesVersion};
use cashflow_domain::movement::Direction;
use cashflow_domain::rule::{CompiledRule, Rule};
use cashflow_projection::query::{effective_page_size, push_page, split_page, unsigned};
use chrono::NaiveDate;
use rust_decimal::Decimal;
use sqlx::postgres::PgRow;
use sqlx::{PgPool, Postgres, QueryBuilder, Row};
use uuid::Uuid;

/// Which movements to list; every field left `None` matches all. Dates are inclusive.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MovementFilter {
    pub account_id: Option<Uuid>,
    pub category_id: Option<Uuid>,
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    pub direction: Option<Direction>,
}

impl MovementFilter {
    /// Appends to `query` (its `WHERE` begun) a condition for each filter given, on the columns
    /// `account_id`, `category_id`, `direction`, `occurred_on` (as the ledger and the search view
    /// name them). Only the filters given are written, so each combination gets a plan on its
    /// own index rather than one generic plan of `$n IS NULL OR …`.
    pub fn push_to(&self, query: &mut QueryBuilder<Postgres>) {
        if let Some(account_id) = self.account_id {
            query.push(" AND account_id = ").push_bind(account_id);
        }
        if let Some(category_id) = self.category_id {
            query.push(" AND category_id = ").push_bind(category_id);
        }
        if let Some(direction) = self.direction {
            query.push(" AND direction = ").push_bind(direction_text(direction));
        }
        if let Some(from) = self.from {
            query.push(" AND occurred_on >= ").push_bind(from);
        }
        if let Some(to) = self.to {
            query.push(" AND occurred_on <= ").push_bind(to);
        }
    }
}

/// One page of movements, newest first.
#[derive(Debug, Clone, PartialEq)]
pub struct MovementPage {
    pub movements: Vec<MovementView>,
    /// Where the next page starts; `None` when this page is the last.
    pub next: Option<PageCursor>,
}

/// A movement as the ledger shows it. Voided movements are listed, flagged, and count in no
/// balance or total.
#[derive(Debug, Clone, PartialEq)]
pub struct MovementView {
    pub movement_id: Uuid,
    pub account_id: Uuid,
    pub direction: Direction,
    pub amount: Decimal,
    pub currency: String,
    pub occurred_on: NaiveDate,
    pub description: String,
    pub counterparty: Option<String>,
    pub category_id: Option<Uuid>,
    pub voided: bool,
    /// The movement stream's version, for an `expected_version` on the next command.
    pub version: u64,
}

/// An account's balance: opening balance plus income minus expense, voided movements left out.
/// Closed accounts are included.
#[derive(Debug, Clone, PartialEq)]
pub struct BalanceView {
    pub account_id: Uuid,
    pub name: String,
    pub currency: String,
    pub balance: Decimal,
}

/// The total and count of one month's movements of one category (or none), direction and currency.
#[derive(Debug, Clone, PartialEq)]
pub struct CategorySummaryRow {
    /// `None` for uncategorised movements.
    pub category_id: Option<Uuid>,
    pub category_name: Option<String>,
    /// The first day of the month.
    pub month: NaiveDate,
    pub direction: Direction,
    pub total: Decimal,
    pub count: u64,
    pub currency: String,
}

/// A budget as it stands in one month: what applies (that month's, else the latest recurring
/// one started by then) and what the category and its subcategories spent in its currency.
#[derive(Debug, Clone, PartialEq)]
pub struct BudgetView {
    pub budget_id: Uuid,
    pub category_id: Uuid,
    pub category_name: String,
    /// The first day of the month.
    pub month: NaiveDate,
    pub amount: Decimal,
    /// Expenses that are not voided; 0 when there are none.
    pub spent: Decimal,
    pub currency: String,
    /// Percents of `amount` at which the person is told, ascending.
    pub alert_thresholds: Vec<u32>,
}

impl BudgetView {
    /// What is left; negative once the budget is exceeded.
    pub fn remaining(&self) -> Decimal {
        self.amount - self.spent
    }

    /// `spent` as a percent of `amount`, to two decimal places (half away from zero).
    pub fn percent_used(&self) -> Decimal {
        (self.spent * Decimal::ONE_HUNDRED / self.amount)
            .round_dp_with_strategy(2, rust_decimal::RoundingStrategy::MidpointAwayFromZero)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CategoryView {
    pub category_id: Uuid,
    pub name: String,
    pub parent_id: Option<Uuid>,
}

/// The ledger's reads. Cheap to clone: the pool is shared.
#[derive(Debug, Clone)]
pub struct LedgerQueries {
    pool: PgPool,
}

impl LedgerQueries {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    /// A page of `owner`'s movements matching `filter`, newest first (`occurred_on DESC, id
    /// DESC`), starting after `after`. Keyset pagination: a deep page costs what the first does.
    /// `page_size` 0 means [`DEFAULT_PAGE_SIZE`]; above [`MAX_PAGE_SIZE`] it is capped.
    #[tracing::instrument(name = "ledger.list_movements", skip(self, filter, after), err)]
    pub async fn list_movements(
        &self,
        owner: Uuid,
        filter: &MovementFilter,
        page_size: u32,
        after: Option<&PageCursor>,
    ) -> Result<MovementPage, QueryError> {
        let page_size = effective_page_size(page_size) as usize;
        let mut query = QueryBuilder::<Postgres>::new(
            "SELECT id, account_id, direction, amount, currency, occurred_on, description, counterparty, category_id,
                    voided, version
             FROM ledger_movements WHERE owner = ",
        );
        query.push_bind(owner);
        filter.push_to(&mut query);
        push_page(&mut query, "occurred_on", after.map(|a| (a.occurred_on, a.movement_id)), page_size);
        let rows = query.build().fetch_all(&self.pool).await?;
        let mut movements = rows.iter().map(movement_view).collect::<Result<Vec<_>, _>>()?;
        let next = split_page(&mut movements, page_size, |m| PageCursor {
            occurred_on: m.occurred_on,
            movement_id: m.movement_id,
        });
        Ok(MovementPage { movements, next })
    }

    /// One of `owner`'s movements; `None` when it does not exist or is someone else's.
    #[tracing::instrument(name = "ledger.get_movement", skip(self), err)]
    pub async fn get_movement(&self, owner: Uuid, movement_id: Uuid) -> Result<Option<MovementView>, QueryError> {
        let row = sqlx::query(
            "SELECT id, account_id, direction, amount, currency, occurred_on, description, counterparty, category_id,
                    voided, version
             FROM ledger_movements WHERE id = $1 AND owner = $2",
        )
        .bind(movement_id)
        .bind(owner)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(movement_view).transpose()
    }

    /// `owner`'s budgets in the month starting `month` (its first day), by category name.
    #[tracing::instrument(name = "ledger.budgets", skip(self), err)]
    pub async fn budgets(&self, owner: Uuid, month: NaiveDate) -> Result<Vec<BudgetView>, QueryError> {
        let rows = sqlx::query(
            "WITH RECURSIVE applicable AS (
                 SELECT DISTINCT ON (category_id) id, category_id, amount, currency, alert_thresholds FROM ledger_budgets
                 WHERE owner = $1 AND ((NOT recurring AND month = $2) OR (recurring AND month <= $2))
                 ORDER BY category_id, recurring, month DESC),
             tree AS (
                 SELECT a.id AS budget_id, a.category_id FROM applicable AS a
                 UNION
                 SELECT tree.budget_id, c.id FROM tree JOIN ledger_categories AS c
                     ON c.parent_id = tree.category_id AND c.owner = $1),
             spent AS (
                 SELECT tree.budget_id, sum(m.amount) AS spent
                 FROM tree JOIN applicable AS a ON a.id = tree.budget_id
                 JOIN ledger_movements AS m ON m.owner = $1 AND m.category_id = tree.category_id
                     AND m.currency = a.currency AND m.direction = 'expense' AND NOT m.voided
                     AND m.occurred_on >= $2 AND m.occurred_on < ($2 + interval '1 month')
                 GROUP BY tree.budget_id)
             SELECT a.id, a.category_id, c.name, a.amount, a.currency, a.alert_thresholds, coalesce(s.spent, 0) AS spent
             FROM applicable AS a
             JOIN ledger_categories AS c ON c.id = a.category_id AND c.owner = $1
             LEFT JOIN spent AS s ON s.budget_id = a.id
             ORDER BY c.name, a.id",
        )
        .bind(owner)
        .bind(first_of_month(month))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let thresholds: Vec<i32> = row.try_get("alert_thresholds")?;
                Ok(BudgetView {
                    alert_thresholds: thresholds
                        .into_iter()
                        .map(|t| u32::try_from(t).map_err(|_| QueryError::Corrupt(format!("threshold {t}"))))
                        .collect::<Result<_, _>>()?,
                    budget_id: row.try_get("id")?,
                    category_id: row.try_get("category_id")?,
                    category_name: row.try_get("name")?,
                    month: first_of_month(month),
                    amount: row.try_get("amount")?,
                    spent: row.try_get("spent")?,
                    currency: row.try_get("currency")?,
                })
            })
            .collect()
    }

    /// Every account of `owner` with its balance, ordered by name, then id.
    #[tracing::instrument(name = "ledger.balances", skip(self), err)]
    pub async fn balances(&self, owner: Uuid) -> Result<Vec<BalanceView>, QueryError> {
        let rows =
            sqlx::query("SELECT id, name, currency, balance FROM ledger_accounts WHERE owner = $1 ORDER BY name, id")
                .bind(owner)
                .fetch_all(&self.pool)
                .await?;
        rows.iter()
            .map(|row| {
                Ok(BalanceView {
                    account_id: row.try_get("id")?,
                    name: row.try_get("name")?,
                    currency: row.try_get("currency")?,
                    balance: row.try_get("balance")?,
                })
            })
            .collect()
    }

    /// `owner`'s monthly totals per category, direction and currency, for the months from
    /// `from` to `to` inclusive (each may be any day of its month; `None` is unbounded).
    /// Ordered by month, category name (uncategorised last), direction (income first),
    /// then currency. Months with no movement left (all voided) have no row.
    #[tracing::instrument(name = "ledger.category_summary", skip(self), err)]
    pub async fn category_summary(
        &self,
        owner: Uuid,
        from: Option<NaiveDate>,
        to: Option<NaiveDate>,
    ) -> Result<Vec<CategorySummaryRow>, QueryError> {
        let rows = sqlx::query(
            "SELECT t.category_key, c.name AS category_name, t.month, t.direction, t.total, t.count, t.currency
             FROM ledger_category_totals AS t
             LEFT JOIN ledger_categories AS c ON c.id = t.category_key AND c.owner = t.owner
             WHERE t.owner = $1 AND t.count > 0
               AND ($2::date IS NULL OR t.month >= $2) AND ($3::date IS NULL OR t.month <= $3)
             ORDER BY t.month, c.name NULLS LAST, t.category_key,
                      CASE t.direction WHEN 'income' THEN 0 ELSE 1 END, t.currency",
        )
        .bind(owner)
        .bind(from.map(first_of_month))
        .bind(to.map(first_of_month))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(CategorySummaryRow {
                    category_id: category_from_key(row.try_get("category_key")?),
                    category_name: row.try_get("category_name")?,
                    month: row.try_get("month")?,
                    direction: direction(row)?,
                    total: row.try_get("total")?,
                    count: unsigned(row, "count")?,
                    currency: row.try_get("currency")?,
                })
            })
            .collect()
    }

    /// Every category of `owner`, ordered by name, then id.
    #[tracing::instrument(name = "ledger.list_categories", skip(self), err)]
    pub async fn list_categories(&self, owner: Uuid) -> Result<Vec<CategoryView>, QueryError> {
        let rows = sqlx::query("SELECT id, name, parent_id FROM ledger_categories WHERE owner = $1 ORDER BY name, id")
            .bind(owner)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| {
                Ok(CategoryView {
                    category_id: row.try_get("id")?,
                    name: row.try_get("name")?,
                    parent_id: row.try_get("parent_id")?,
                })
            })
            .collect()
    }

    /// Every categorisation rule of `owner`, in the order they are tried: highest priority
    /// first, then the oldest (rule ids are time-ordered), as [`best_match`] picks.
    ///
    /// [`best_match`]: cashflow_domain::rule::best_match
    #[tracing::instrument(name = "ledger.rules", skip(self), err)]
    pub async fn rules(&self, owner: Uuid) -> Result<Vec<Rule>, QueryError> {
        let rows = sqlx::query(
            "SELECT rule_id, rule FROM ledger_categorization_rules WHERE owner = $1 ORDER BY priority DESC, rule_id",
        )
        .bind(owner)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let rule_id: Uuid = row.try_get("rule_id")?;
                let json: serde_json::Value = row.try_get("rule")?;
                serde_json::from_value(json).map_err(|error| QueryError::Corrupt(format!("rule {rule_id}: {error}")))
            })
            .collect()
    }

    /// How many rules `owner` has and the position of the last one added: one index range of
    /// at most a few hundred rows, cheap enough to ask before every movement.
    #[tracing::instrument(name = "ledger.rules_version", skip(self), err)]
    pub async fn rules_version(&self, owner: Uuid) -> Result<RulesVersion, QueryError> {
        let row = sqlx::query(
            "SELECT count(*) AS count, COALESCE(MAX(added_position), 0) AS last_added
             FROM ledger_categorization_rules WHERE owner = $1",
        )
        .bind(owner)
        .fetch_one(&self.pool)
        .await?;
        Ok(RulesVersion { count: unsigned(&row, "count")?, last_added: unsigned(&row, "last_added")? })
    }

    /// [`rules`](Self::rules), compiled for matching many movements.
    pub async fn compiled_rules(&self, owner: Uuid) -> Result<Vec<CompiledRule>, QueryError> {
        self.rules(owner).await?.into_iter().map(|rule| CompiledRule::new(rule).map_err(QueryError::Corrupt)).collect()
    }

    /// Up to `limit` of `owner`'s movements that are not voided, dated from `from` to `to`
    /// inclusive (`None` is unbounded), newest first (by `occurred_on`, then id) after `after`:
    /// pass the last candidate's [`RuleCandidate::position`] to get the next page, until one
    /// comes back shorter than `limit`. One range scan of the page index, however deep. For
    /// applying rules to past movements in batches. `limit` 0 means [`DEFAULT_PAGE_SIZE`]; above
    /// [`MAX_PAGE_SIZE`] it is capped.
    #[tracing::instrument(name = "ledger.rule_candidates", skip(self), err)]
    pub async fn rule_candidates(
        &self,
        owner: Uuid,
        from: Option<NaiveDate>,
        to: Option<NaiveDate>,
        after: Option<(NaiveDate, Uuid)>,
        limit: u32,
    ) -> Result<Vec<RuleCandidate>, QueryError> {
        let limit = effective_page_size(limit);
        let rows = sqlx::query(
            "SELECT id, occurred_on, description, counterparty, amount, direction, category_id
             FROM ledger_movements
             WHERE owner = $1 AND NOT voided
               AND ($2::date IS NULL OR occurred_on >= $2) AND ($3::date IS NULL OR occurred_on <= $3)
               AND ($4::date IS NULL OR (occurred_on, id) < ($4, $5))
             ORDER BY occurred_on DESC, id DESC LIMIT $6",
        )
        .bind(owner)
        .bind(from)
        .bind(to)
        .bind(after.map(|(date, _)| date))
        .bind(after.map(|(_, id)| id))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(RuleCandidate {
                    movement_id: row.try_get("id")?,
                    occurred_on: row.try_get("occurred_on")?,
                    description: row.try_get("description")?,
                    counterparty: row.try_get("counterparty")?,
                    amount: row.try_get("amount")?,
                    direction: direction(row)?,
                    category_id: row.try_get("category_id")?,
                })
            })
            .collect()
    }
}

/// A `ledger_movements` row as shown; the batch's row cache reads stored movements with it too,
/// and the search view its documents, which have the same columns.
pub fn movement_view(row: &PgRow) -> Result<MovementView, QueryError> {
    Ok(MovementView {
        movement_id: row.try_get("id")?,
        account_id: row.try_get("account_id")?,
        direction: direction(row)?,
        amount: row.try_get("amount")?,
        currency: row.try_get("currency")?,
        occurred_on: row.try_get("occurred_on")?,
        description: row.try_get("description")?,
        counterparty: row.try_get("counterparty")?,
        category_id: row.try_get("category_id")?,
        voided: row.try_get("voided")?,
        version: unsigned(row, "version")?,
    })
}

fn direction(row: &PgRow) -> Result<Direction, QueryError> {
    let text: &str = row.try_get("direction")?;
    parse_direction(text).ok_or_else(|| QueryError::Corrupt(format!("unknown direction {text:?}")))
}
