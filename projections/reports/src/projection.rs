//! [`ReportsProjection`]: folds `report` streams into the `reports` table.

use async_trait::async_trait;
use cashflow_domain::ReportId;
use cashflow_domain::report::ReportEvent;
use cashflow_eventstore::RecordedEvent;
use cashflow_projection::decode::{aggregate_id, decode, to_bigint};
use cashflow_projection::{Projection, ProjectionError};
use sqlx::PgConnection;

/// The reports read model's projection. Stateless: everything it knows is in the table.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReportsProjection;

#[async_trait]
impl Projection for ReportsProjection {
    fn name(&self) -> &'static str {
        crate::NAME
    }

    /// Reports are asked for a few times a month: each event in turn.
    #[tracing::instrument(name = "reports.apply_batch", skip_all, fields(events = events.len()), err)]
    async fn apply_batch(&self, tx: &mut PgConnection, events: &[RecordedEvent]) -> Result<(), ProjectionError> {
        for event in events.iter().filter(|e| e.stream_category() == ReportId::STREAM_CATEGORY) {
            if let Some(decoded) = decode::<ReportEvent>(event)? {
                apply(tx, event, decoded).await?;
            }
        }
        Ok(())
    }

    #[tracing::instrument(name = "reports.reset", skip_all, err)]
    async fn reset(&self, tx: &mut PgConnection) -> Result<(), ProjectionError> {
        sqlx::query("TRUNCATE reports").execute(&mut *tx).await?;
        Ok(())
    }
}

async fn apply(tx: &mut PgConnection, event: &RecordedEvent, decoded: ReportEvent) -> Result<(), ProjectionError> {
    let report_id = aggregate_id(event)?;
    match decoded {
        ReportEvent::ReportRequested { owner, period, format, account_ids, position, .. } => {
            let account_ids: Vec<uuid::Uuid> = account_ids.iter().map(|a| a.as_uuid()).collect();
            sqlx::query(
                "INSERT INTO reports (id, owner, status, format, period_from, period_to, account_ids, as_of_position,
                                      position, created_at)
                 VALUES ($1, $2, 'pending', $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (id) DO NOTHING",
            )
            .bind(report_id)
            .bind(owner.as_uuid())
            .bind(format.as_str())
            .bind(period.from())
            .bind(period.to())
            .bind(&account_ids)
            .bind(to_bigint(event, "as_of_position", position)?)
            .bind(to_bigint(event, "position", event.position)?)
            .bind(event.recorded_at)
            .execute(&mut *tx)
            .await?;
        }
        ReportEvent::ReportGenerated { size_bytes, sha256, blob_key } => {
            sqlx::query(
                "UPDATE reports SET status = 'ready', size_bytes = $2, sha256 = $3, blob_key = $4, ready_at = $5
                 WHERE id = $1 AND status = 'pending'",
            )
            .bind(report_id)
            .bind(to_bigint(event, "size_bytes", size_bytes)?)
            .bind(sha256)
            .bind(blob_key)
            .bind(event.recorded_at)
            .execute(&mut *tx)
            .await?;
        }
        ReportEvent::ReportFailed { reason } => {
            sqlx::query(
                "UPDATE reports SET status = 'failed', failure_reason = $2, ready_at = $3
                 WHERE id = $1 AND status = 'pending'",
            )
            .bind(report_id)
            .bind(reason)
            .bind(event.recorded_at)
            .execute(&mut *tx)
            .await?;
        }
    }
    Ok(())
}
