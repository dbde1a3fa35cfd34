//! [`ReportQueries`]: the owner-scoped reads of the reports read model.

use cashflow_domain::report::{ReportFormat, ReportStatus};
use cashflow_projection::QueryError;
use cashflow_projection::page_token::PositionCursor;
use cashflow_projection::query::{effective_page_size, push_page, split_page, unsigned};
use chrono::{DateTime, NaiveDate, Utc};
use sqlx::postgres::PgRow;
use sqlx::{PgPool, Postgres, QueryBuilder, Row};
use uuid::Uuid;

/// A report as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportView {
    pub report_id: Uuid,
    pub status: ReportStatus,
    pub format: ReportFormat,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub account_ids: Vec<Uuid>,
    pub as_of_position: u64,
    pub size_bytes: Option<u64>,
    pub sha256: Option<String>,
    pub failure_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub ready_at: Option<DateTime<Utc>>,
    /// The position of its ReportRequested: the list's order.
    pub position: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportPage {
    pub reports: Vec<ReportView>,
    pub next: Option<PositionCursor>,
}

macro_rules! select_reports {
    () => {
        "SELECT id, status, format, period_from, period_to, account_ids, as_of_position, size_bytes, sha256,
                failure_reason, created_at, ready_at, position
         FROM reports "
    };
}

#[derive(Debug, Clone)]
pub struct ReportQueries {
    pool: PgPool,
}

impl ReportQueries {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    /// One of `owner`'s reports; another person's is `None`, like one that does not exist.
    #[tracing::instrument(name = "reports.get", skip(self), err)]
    pub async fn get(&self, owner: Uuid, report_id: Uuid) -> Result<Option<ReportView>, QueryError> {
        let row = sqlx::query(concat!(select_reports!(), "WHERE owner = $1 AND id = $2"))
            .bind(owner)
            .bind(report_id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(report_view).transpose()
    }

    /// A page of `owner`'s reports, newest first, after `after`.
    #[tracing::instrument(name = "reports.list", skip(self), err)]
    pub async fn list(
        &self,
        owner: Uuid,
        page_size: u32,
        after: Option<PositionCursor>,
    ) -> Result<ReportPage, QueryError> {
        let page_size = effective_page_size(page_size) as usize;
        let mut query = QueryBuilder::<Postgres>::new(concat!(select_reports!(), "WHERE owner = "));
        query.push_bind(owner);
        let after = after.map(|a| (a.position as i64, a.id));
        push_page(&mut query, "position", after, page_size);
        let rows = query.build().fetch_all(&self.pool).await?;
        let mut reports = rows.iter().map(report_view).collect::<Result<Vec<_>, _>>()?;
        let next = split_page(&mut reports, page_size, |r| PositionCursor { position: r.position, id: r.report_id });
        Ok(ReportPage { reports, next })
    }
}

fn report_view(row: &PgRow) -> Result<ReportView, QueryError> {
    let status = match row.try_get::<&str, _>("status")? {
        "pending" => ReportStatus::Pending,
        "ready" => ReportStatus::Ready,
        "failed" => ReportStatus::Failed,
        other => return Err(QueryError::Corrupt(format!("report status {other}"))),
    };
    let format = ReportFormat::parse("format", row.try_get("format")?)
        .map_err(|error| QueryError::Corrupt(format!("report {error}")))?;
    let size_bytes: Option<i64> = row.try_get("size_bytes")?;
    Ok(ReportView {
        report_id: row.try_get("id")?,
        status,
        format,
        from: row.try_get("period_from")?,
        to: row.try_get("period_to")?,
        account_ids: row.try_get("account_ids")?,
        as_of_position: unsigned(row, "as_of_position")?,
        size_bytes: size_bytes
            .map(|size| u64::try_from(size).map_err(|_| QueryError::Corrupt(format!("report size {size}"))))
            .transpose()?,
        sha256: row.try_get("sha256")?,
        failure_reason: row.try_get("failure_reason")?,
        created_at: row.try_get("created_at")?,
        ready_at: row.try_get("ready_at")?,
        position: unsigned(row, "position")?,
    })
}
