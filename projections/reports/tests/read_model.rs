//! The reports read model against a real PostgreSQL: a report's life (pending, then ready or
//! failed, settled once), owner scoping, keyset pages newest first, and a rebuild equal to live.

use cashflow_domain::report::{ReportEvent, ReportFormat, ReportPeriod, ReportStatus, ReportTrigger};
use cashflow_domain::{AccountId, ReportId, UserId};
use cashflow_eventstore::RecordedEvent;
use cashflow_projection::Projection;
use cashflow_projection::ProjectionError;
use cashflow_projection_reports::{ReportQueries, ReportsProjection, migrate};
use cashflow_testkit::Stamper;
use cashflow_testkit::projection::{ProjectionDb, ProjectionUnderTest};
use sqlx::{PgConnection, PgPool, Row};

struct Reports;

impl ProjectionUnderTest for Reports {
    type Projection = ReportsProjection;
    type Dump = Vec<String>;

    fn projection() -> ReportsProjection {
        ReportsProjection
    }

    async fn apply_one(
        projection: &ReportsProjection,
        tx: &mut PgConnection,
        event: &RecordedEvent,
    ) -> Result<(), ProjectionError> {
        projection.apply_batch(tx, std::slice::from_ref(event)).await
    }

    async fn migrate(pool: &PgPool) {
        migrate(pool).await.expect("migrate");
    }

    async fn dump(pool: &PgPool) -> Vec<String> {
        sqlx::query("SELECT t::text AS row FROM reports t ORDER BY t::text")
            .fetch_all(pool)
            .await
            .expect("dump")
            .iter()
            .map(|row| row.get("row"))
            .collect()
    }
}

fn requested(owner: UserId, report_id: ReportId, month: u32, format: ReportFormat) -> ReportEvent {
    let day = |d: u32| chrono::NaiveDate::from_ymd_opt(2026, month, d).expect("a day");
    ReportEvent::ReportRequested {
        report_id,
        owner,
        period: ReportPeriod::new(day(1), day(28), "to").expect("a period"),
        format,
        account_ids: vec![AccountId::new()],
        position: 40 + u64::from(month),
        trigger: ReportTrigger::Requested,
    }
}

#[tokio::test]
async fn reports_are_listed_newest_first_for_their_owner_and_settle_once() {
    let db = ProjectionDb::<Reports>::new().await;
    let (alice, bob) = (UserId::new(), UserId::new());
    let mut stamper = Stamper::new();
    let mut events = Vec::new();
    let mut alices = Vec::new();
    for month in 1..=5 {
        let id = ReportId::new();
        events.push(stamper.stamp(&id.stream_id(), alice, &requested(alice, id, month, ReportFormat::Pdf)));
        alices.push(id);
    }
    let bobs = ReportId::new();
    events.push(stamper.stamp(&bobs.stream_id(), bob, &requested(bob, bobs, 6, ReportFormat::Csv)));
    let generated = ReportEvent::ReportGenerated { size_bytes: 2048, sha256: "ab".repeat(32), blob_key: "k".into() };
    events.push(stamper.stamp(&alices[0].stream_id(), alice, &generated));
    let failed = ReportEvent::ReportFailed { reason: "could not".into() };
    events.push(stamper.stamp(&alices[1].stream_id(), alice, &failed));
    // A second settlement of a settled report changes nothing.
    events.push(stamper.stamp(&alices[0].stream_id(), alice, &failed));
    db.apply_batches(&events, 3).await;

    let queries = ReportQueries::new(db.pool.clone());
    let ready = queries.get(alice.as_uuid(), alices[0].as_uuid()).await.expect("get").expect("alice's report");
    assert_eq!(ready.status, ReportStatus::Ready);
    assert_eq!((ready.size_bytes, ready.sha256.as_deref()), (Some(2048), Some("ab".repeat(32).as_str())));
    assert!(ready.ready_at.is_some() && ready.failure_reason.is_none());
    assert_eq!(ready.as_of_position, 41);
    let failed = queries.get(alice.as_uuid(), alices[1].as_uuid()).await.expect("get").expect("alice's report");
    assert_eq!((failed.status, failed.failure_reason.as_deref()), (ReportStatus::Failed, Some("could not")));
    let pending = queries.get(alice.as_uuid(), alices[2].as_uuid()).await.expect("get").expect("alice's report");
    assert_eq!((pending.status, pending.size_bytes), (ReportStatus::Pending, None));
    assert!(queries.get(bob.as_uuid(), alices[0].as_uuid()).await.expect("get").is_none(), "bob sees none of hers");

    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = queries.list(alice.as_uuid(), 2, after).await.expect("a page");
        assert!(page.reports.len() <= 2);
        seen.extend(page.reports.iter().map(|r| r.report_id));
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    let newest_first: Vec<_> = alices.iter().rev().map(|id| id.as_uuid()).collect();
    assert_eq!(seen, newest_first, "every report once, newest first, none of bob's");

    let live = db.dump().await;
    db.reset().await;
    db.apply_batches(&events, 100).await;
    assert_eq!(db.dump().await, live, "a rebuild equals the live read model");
    db.drop().await;
}
