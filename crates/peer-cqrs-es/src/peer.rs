//! The cqrs-es + postgres-es peer: RecordMovement as a library call on an event-sourced account.

use crate::account::{Account, AccountCommand, AccountError, Direction, RecordMovement};
use crate::database::BenchDatabase;
use crate::load::{self, Outcome, Report, Rng};
use chrono::{Days, Utc};
use cqrs_es::AggregateError;
use postgres_es::{PostgresCqrs, postgres_cqrs};
use rust_decimal::Decimal;
use serde_json::json;
use sqlx::PgPool;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

/// postgres-es's events table, as its `db/init.sql` creates it (the snapshot and view tables are
/// left out: the peer uses neither).
const SCHEMA: &str = "CREATE TABLE events (
    aggregate_type text                         NOT NULL,
    aggregate_id   text                         NOT NULL,
    sequence       bigint CHECK (sequence >= 0) NOT NULL,
    event_type     text                         NOT NULL,
    event_version  text                         NOT NULL,
    payload        json                         NOT NULL,
    metadata       json                         NOT NULL,
    PRIMARY KEY (aggregate_type, aggregate_id, sequence)
)";

/// As the load generator's merchants: description and median amount in cents.
const MERCHANTS: [(&str, i64, bool); 6] = [
    ("Grocer", 4_500, false),
    ("Café", 450, false),
    ("Railway", 2_800, false),
    ("Pharmacy", 1_900, false),
    ("Employer", 250_000, true),
    ("Landlord", 95_000, false),
];

struct Opened {
    id: String,
    owner: Uuid,
}

pub async fn run(
    server: &str,
    duration: Duration,
    concurrency: usize,
    accounts: usize,
    pool_size: u32,
) -> Result<Report, sqlx::Error> {
    let database = BenchDatabase::create(server, "peer").await?;
    let result = measure(&database, duration, concurrency, accounts, pool_size).await;
    database.drop_database().await?;
    result
}

async fn measure(
    database: &BenchDatabase,
    duration: Duration,
    concurrency: usize,
    accounts: usize,
    pool_size: u32,
) -> Result<Report, sqlx::Error> {
    let pool = database.pool(pool_size).await?;
    sqlx::query(SCHEMA).execute(&pool).await?;
    let cqrs = Arc::new(postgres_cqrs::<Account>(pool.clone(), vec![], ()));

    // Set-up, not measured: the accounts, opened through the same framework.
    let opened = Arc::new(open_accounts(&cqrs, accounts, concurrency).await?);
    refuses_a_closed_account(&cqrs).await?;
    let events_before = count_events(&pool).await?;

    let today = Utc::now().date_naive();
    let mut report = load::run("peer", concurrency, pool.options().get_max_connections(), duration, {
        let (cqrs, opened) = (cqrs.clone(), opened.clone());
        move |task, n| {
            let (cqrs, opened) = (cqrs.clone(), opened.clone());
            async move {
                let mut rng = Rng::new(((task as u64) << 40) ^ n);
                let account = &opened[rng.below(opened.len() as u64) as usize];
                let (merchant, median, income) = MERCHANTS[rng.below(MERCHANTS.len() as u64) as usize];
                // Between a third of the median and twice it, to the cent.
                let cents = median / 3 + rng.below((median * 5 / 3) as u64) as i64;
                let record = RecordMovement {
                    owner: account.owner,
                    movement_id: Uuid::now_v7(),
                    direction: if income { Direction::Income } else { Direction::Expense },
                    amount: Decimal::new(cents.max(1), 2),
                    currency: "EUR".into(),
                    occurred_on: today - Days::new(rng.below(60)),
                    description: format!("{merchant} {}", 1000 + rng.below(9000)),
                };
                let metadata = HashMap::from([("command_id".to_owned(), Uuid::now_v7().to_string())]);
                let mut conflicts = 0;
                loop {
                    let command = AccountCommand::RecordMovement(record.clone());
                    match cqrs.execute_with_metadata(&account.id, command, metadata.clone()).await {
                        Ok(()) if conflicts == 0 => return Outcome::Ok,
                        Ok(()) => return Outcome::OkAfterConflicts(conflicts),
                        Err(AggregateError::AggregateConflict) => conflicts += 1,
                        Err(error) => return Outcome::Failed(error.to_string()),
                    }
                }
            }
        }
    })
    .await;
    let appended = count_events(&pool).await? - events_before;
    report.extra = json!({ "accounts": accounts, "events_appended": appended });
    pool.close().await;
    if appended != report.ok as i64 {
        eprintln!("peer: {appended} events appended for {} commands acknowledged", report.ok);
    }
    Ok(report)
}

async fn open_accounts(
    cqrs: &Arc<PostgresCqrs<Account>>,
    accounts: usize,
    concurrency: usize,
) -> Result<Vec<Opened>, sqlx::Error> {
    let opened: Vec<Opened> =
        (0..accounts).map(|_| Opened { id: Uuid::now_v7().to_string(), owner: Uuid::now_v7() }).collect();
    let opened = Arc::new(opened);
    let tasks: Vec<_> = (0..concurrency.min(accounts))
        .map(|task| {
            let (cqrs, opened) = (cqrs.clone(), opened.clone());
            tokio::spawn(async move {
                for (index, account) in opened.iter().enumerate().skip(task).step_by(concurrency) {
                    let command = AccountCommand::Open {
                        owner: account.owner,
                        name: if index % 2 == 0 { "Checking" } else { "Savings" }.into(),
                        currency: "EUR".into(),
                        opening_balance: Decimal::new(50_000 + index as i64, 2),
                    };
                    cqrs.execute(&account.id, command).await.map_err(|e| e.to_string())?;
                }
                Ok::<_, String>(())
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("an opening task panicked").map_err(sqlx::Error::Protocol)?;
    }
    Ok(Arc::into_inner(opened).expect("the opening tasks are done"))
}

/// A check through the framework before the load (not measured): an account that was closed
/// refuses a movement, and one in another currency is refused too.
async fn refuses_a_closed_account(cqrs: &PostgresCqrs<Account>) -> Result<(), sqlx::Error> {
    let (id, owner) = (Uuid::now_v7().to_string(), Uuid::now_v7());
    let open =
        AccountCommand::Open { owner, name: "Old".into(), currency: "EUR".into(), opening_balance: Decimal::ZERO };
    let record = |currency: &str| {
        AccountCommand::RecordMovement(RecordMovement {
            owner,
            movement_id: Uuid::now_v7(),
            direction: Direction::Expense,
            amount: Decimal::new(1250, 2),
            currency: currency.into(),
            occurred_on: Utc::now().date_naive(),
            description: "check".into(),
        })
    };
    let failed = |e: AggregateError<AccountError>| sqlx::Error::Protocol(format!("set-up check: {e}"));
    cqrs.execute(&id, open).await.map_err(failed)?;
    match cqrs.execute(&id, record("USD")).await {
        Err(AggregateError::UserError(AccountError::CurrencyMismatch { .. })) => {}
        other => {
            return Err(sqlx::Error::Protocol(format!("set-up check: a USD movement on a EUR account gave {other:?}")));
        }
    }
    cqrs.execute(&id, AccountCommand::Close { owner }).await.map_err(failed)?;
    match cqrs.execute(&id, record("EUR")).await {
        Err(AggregateError::UserError(AccountError::Closed)) => Ok(()),
        other => Err(sqlx::Error::Protocol(format!("set-up check: a movement on a closed account gave {other:?}"))),
    }
}

async fn count_events(pool: &PgPool) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT count(*) FROM events").fetch_one(pool).await
}
