//! What Kubernetes and load balancers see while the store comes and goes: `serve --no-migrate`
//! runs no DDL, and the gRPC health of `""` and every Cashflow service, and `/readyz`, turn
//! NOT_SERVING / 503 while the process cannot reach its database and back when it can.

mod support;

use sqlx::PgPool;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};
use support::{CASHFLOW, Namespace, SECRET, Server, run_cli};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tonic::transport::Channel;
use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient};

/// `""` and every service the API serves.
const SERVICES: [&str; 6] = [
    "",
    "cashflow.v1.LedgerService",
    "cashflow.v1.QueryService",
    "cashflow.v1.InvoiceService",
    "cashflow.v1.AuditService",
    "cashflow.v1.AuthService",
];

/// The check runs every 2 s with a 2 s timeout: a change shows well within this.
const FLIP_WITHIN: Duration = Duration::from_secs(20);

async fn status_code(addr: &str, path: &str) -> u16 {
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect to the metrics port");
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("send");
    let mut response = String::new();
    stream.read_to_string(&mut response).await.expect("read");
    response.split_whitespace().nth(1).and_then(|s| s.parse().ok()).expect("a status code")
}

async fn statuses(channel: &Channel) -> Vec<ServingStatus> {
    let mut health = HealthClient::new(channel.clone());
    let mut statuses = Vec::new();
    for service in SERVICES {
        let response = health
            .check(HealthCheckRequest { service: service.into() })
            .await
            .unwrap_or_else(|e| panic!("health of {service:?}: {e:?}"));
        statuses.push(response.into_inner().status());
    }
    statuses
}

/// Waits until every service reports `want` and `/readyz` answers `ready`.
async fn wait_for(channel: &Channel, metrics: &str, want: ServingStatus, ready: u16) {
    let start = Instant::now();
    loop {
        let now = statuses(channel).await;
        let code = status_code(metrics, "/readyz").await;
        if now.iter().all(|status| *status == want) && code == ready {
            return;
        }
        assert!(
            start.elapsed() < FLIP_WITHIN,
            "after {FLIP_WITHIN:?}: health {now:?}, /readyz {code}; want {want:?}, {ready}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// `cashflow serve --roles api <args>` in `namespace`, expected to exit on its own: killed
/// (and the test failed) if it is still running after 30 s.
fn serve_expecting_exit(namespace: &Namespace, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut child = Command::new(CASHFLOW)
        .args(["serve", "--roles", "api"])
        .args(args)
        .env("CASHFLOW_DATABASE_URL", namespace.database.url())
        .env("CASHFLOW_NATS_PREFIX", namespace.prefix())
        .env("CASHFLOW_BLOB_URL", namespace.blob_url())
        .env("CASHFLOW_JWT_SECRET", SECRET)
        .env("CASHFLOW_GRPC_ADDR", "127.0.0.1:0")
        .env("RUST_LOG", "warn")
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn cashflow");
    let start = Instant::now();
    while child.try_wait().expect("poll cashflow").is_none() {
        if start.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("cashflow serve {args:?} {env:?} kept running; it should have refused to start");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    child.wait_with_output().expect("cashflow's output")
}

/// A connection to the server's maintenance database, which the test's own database's
/// outage does not touch.
async fn admin() -> PgPool {
    cashflow_testkit::connect(&format!("{}postgres", cashflow_testkit::server_url()), 1).await
}

/// Lets no one connect to `database` (superusers included) and ends its sessions, or lets
/// them in again.
async fn set_reachable(admin: &PgPool, database: &str, reachable: bool) {
    let quoted = format!("\"{}\"", database.replace('"', "\"\""));
    let sql = format!("ALTER DATABASE {quoted} WITH ALLOW_CONNECTIONS {reachable}");
    sqlx::query(sqlx::AssertSqlSafe(sql)).execute(admin).await.expect("alter database");
    if !reachable {
        sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1")
            .bind(database)
            .execute(admin)
            .await
            .expect("end the database's sessions");
    }
}

#[tokio::test]
async fn no_migrate_runs_no_ddl_and_refuses_a_database_that_migrate_has_not_prepared() {
    let namespace = Namespace::new();
    cashflow_eventstore::postgres::create_database_if_missing(namespace.database.url()).await.expect("create");
    let output = serve_expecting_exit(&namespace, &["--no-migrate"], &[]);
    assert!(!output.status.success(), "serve --no-migrate started on an empty database");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("cashflow migrate"), "{stderr}");
    let pool = namespace.pool().await;
    let tables: i64 = sqlx::query_scalar("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
        .fetch_one(&pool)
        .await
        .expect("count tables");
    assert_eq!(tables, 0, "serve --no-migrate created tables");

    // CASHFLOW_NO_MIGRATE is the same switch; a value that is no boolean is refused.
    let output = serve_expecting_exit(&namespace, &[], &[("CASHFLOW_NO_MIGRATE", "perhaps")]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--no-migrate") && stderr.contains("perhaps"), "{stderr}");
}

#[tokio::test]
async fn health_and_readiness_follow_the_database() {
    let namespace = Namespace::new();
    let migrated = run_cli(CASHFLOW, &namespace, &["migrate"]);
    assert!(migrated.status.success(), "{}", String::from_utf8_lossy(&migrated.stderr));
    let server = Server::start_with(
        CASHFLOW,
        &namespace,
        "api",
        &[("CASHFLOW_NO_MIGRATE", "true"), ("CASHFLOW_METRICS_ADDR", "127.0.0.1:0")],
    );
    let metrics = server.metrics_addr.clone().expect("the metrics port");
    let channel = server.channel().await;
    wait_for(&channel, &metrics, ServingStatus::Serving, 200).await;

    let admin = admin().await;
    let database = namespace.database.name().to_owned();
    set_reachable(&admin, &database, false).await;
    let outage = std::panic::AssertUnwindSafe(async {
        wait_for(&channel, &metrics, ServingStatus::NotServing, 503).await;
        // Liveness is not readiness: the process still answers /healthz.
        assert_eq!(status_code(&metrics, "/healthz").await, 200);
    });
    let during = futures::FutureExt::catch_unwind(outage).await;
    set_reachable(&admin, &database, true).await;
    if let Err(panic) = during {
        std::panic::resume_unwind(panic);
    }
    wait_for(&channel, &metrics, ServingStatus::Serving, 200).await;
}
