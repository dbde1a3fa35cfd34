//! Test harness: runs the real `cashflow` binary against the local PostgreSQL and NATS, on
//! its own database and NATS prefix, and hands out authenticated gRPC clients.
#![allow(dead_code)] // each test binary uses a different part of the harness

pub mod web;

use cashflow_proto::v1::{
    audit_service_client::AuditServiceClient, invoice_service_client::InvoiceServiceClient,
    ledger_service_client::LedgerServiceClient, query_service_client::QueryServiceClient,
};
use jsonwebtoken::{EncodingKey, Header};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use uuid::Uuid;

pub const SECRET: &str = "end-to-end-test-secret-0123456789abcdef";
pub const BASE_URL: &str = "postgres://postgres@127.0.0.1:5432";

pub type Authed = InterceptedService<Channel, Bearer>;

/// Adds `authorization: Bearer <token>` to every call.
#[derive(Clone)]
pub struct Bearer(tonic::metadata::MetadataValue<tonic::metadata::Ascii>);

impl tonic::service::Interceptor for Bearer {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        request.metadata_mut().insert("authorization", self.0.clone());
        Ok(request)
    }
}

/// A database, a NATS prefix and a blob directory of a test's own; dropped at the end.
pub struct Namespace {
    pub database_url: String,
    pub database: String,
    pub prefix: String,
    pub blobs: std::path::PathBuf,
}

impl Namespace {
    pub fn new() -> Self {
        let id = Uuid::now_v7().simple().to_string();
        let database = format!("cashflow_test_{id}");
        let blobs = std::env::temp_dir().join(format!("cashflow-test-blobs-{id}"));
        Self { database_url: format!("{BASE_URL}/{database}"), database, prefix: format!("t{id}"), blobs }
    }

    /// `CASHFLOW_BLOB_URL` of this namespace.
    pub fn blob_url(&self) -> String {
        format!("file://{}", self.blobs.display())
    }

    pub async fn pool(&self) -> sqlx::PgPool {
        sqlx::postgres::PgPoolOptions::new().max_connections(2).connect(&self.database_url).await.expect("connect")
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.blobs);
        let database = self.database.clone();
        let stream = format!("{}_EVENTS", self.prefix.to_uppercase());
        // Drop runs outside any runtime the test may still hold: clean up on a thread of its own.
        let _ = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
            runtime.block_on(async move {
                if let Ok(pool) = sqlx::PgPool::connect(&format!("{BASE_URL}/postgres")).await {
                    let sql = format!("DROP DATABASE IF EXISTS \"{database}\" WITH (FORCE)");
                    let _ = sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&pool).await;
                }
                if let Ok(client) = async_nats::connect("nats://127.0.0.1:4222").await {
                    let _ = async_nats::jetstream::new(client).delete_stream(&stream).await;
                }
            });
        })
        .join();
    }
}

/// A running `cashflow serve` child process.
pub struct Server {
    child: Child,
    pub addr: String,
    /// `cashflow: metrics listening on ADDR`, when `CASHFLOW_METRICS_ADDR` was set.
    pub metrics_addr: Option<String>,
    /// Every stderr line so far, when started with [`Server::start_capturing_logs`].
    logs: Option<std::sync::Arc<std::sync::Mutex<Vec<String>>>>,
}

impl Server {
    pub fn start(namespace: &Namespace, roles: &str) -> Self {
        Self::start_with(namespace, roles, &[])
    }

    /// [`Server::start`] with extra environment variables (limits, TLS, CORS, JWKS…).
    pub fn start_with(namespace: &Namespace, roles: &str, env: &[(&str, &str)]) -> Self {
        Self::launch(namespace, roles, env, false)
    }

    /// [`Server::start_with`], keeping the process's stderr (its logs) for [`Server::logs`].
    pub fn start_capturing_logs(namespace: &Namespace, roles: &str, env: &[(&str, &str)]) -> Self {
        Self::launch(namespace, roles, env, true)
    }

    fn launch(namespace: &Namespace, roles: &str, env: &[(&str, &str)], capture_logs: bool) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_cashflow"))
            .args(["serve", "--roles", roles])
            .env("CASHFLOW_DATABASE_URL", &namespace.database_url)
            .env("CASHFLOW_NATS_PREFIX", &namespace.prefix)
            .env("CASHFLOW_BLOB_URL", namespace.blob_url())
            .env("CASHFLOW_GRPC_ADDR", "127.0.0.1:0")
            .env("CASHFLOW_JWT_SECRET", SECRET)
            .env("CASHFLOW_DB_MAX_CONNECTIONS", "10")
            .env("RUST_LOG", std::env::var("TEST_LOG").unwrap_or_else(|_| "warn".into()))
            // After the defaults, so a test may override them.
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(if capture_logs { Stdio::piped() } else { Stdio::inherit() })
            .spawn()
            .expect("spawn cashflow");
        let logs = child.stderr.take().map(|stderr| {
            let logs = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
            let sink = logs.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    sink.lock().expect("log lines").push(line);
                }
            });
            logs
        });
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        // The binary prints "cashflow: grpc listening on ADDR" (with the API), "cashflow: metrics
        // listening on ADDR" (with CASHFLOW_METRICS_ADDR), then "cashflow: ready (...)".
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            let (mut addr, mut metrics_addr) = (String::new(), None);
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(found) = line.split("grpc listening on ").nth(1) {
                    addr = found.trim().to_owned();
                } else if let Some(found) = line.split("metrics listening on ").nth(1) {
                    metrics_addr = Some(found.trim().to_owned());
                } else if line.contains("ready")
                    && let Some(tx) = tx.take()
                {
                    let _ = tx.send((addr.clone(), metrics_addr.clone()));
                }
            }
        });
        let (addr, metrics_addr) =
            rx.recv_timeout(Duration::from_secs(60)).expect("cashflow did not become ready within 60 s");
        Self { child, addr, metrics_addr, logs }
    }

    /// The stderr lines so far (only with [`Server::start_capturing_logs`]).
    pub fn logs(&self) -> Vec<String> {
        self.logs.as_ref().map(|logs| logs.lock().expect("log lines").clone()).unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL: no chance to flush anything.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then waits for a graceful exit; returns the exit status.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        self.child.wait().expect("wait for cashflow")
    }

    pub async fn channel(&self) -> Channel {
        Channel::from_shared(format!("http://{}", self.addr))
            .expect("uri")
            .connect()
            .await
            .expect("connect to cashflow")
    }

    pub async fn ledger(&self, user: Uuid) -> LedgerServiceClient<Authed> {
        LedgerServiceClient::with_interceptor(self.channel().await, bearer(user))
    }

    pub async fn query(&self, user: Uuid) -> QueryServiceClient<Authed> {
        QueryServiceClient::with_interceptor(self.channel().await, bearer(user))
    }

    pub async fn invoices(&self, user: Uuid) -> InvoiceServiceClient<Authed> {
        InvoiceServiceClient::with_interceptor(self.channel().await, bearer(user))
    }

    pub async fn audit(&self, user: Uuid) -> AuditServiceClient<Authed> {
        AuditServiceClient::with_interceptor(self.channel().await, bearer(user))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs a `cashflow` subcommand to completion against the namespace.
pub fn run_cli(namespace: &Namespace, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_cashflow"))
        .args(args)
        .env("CASHFLOW_DATABASE_URL", &namespace.database_url)
        .env("CASHFLOW_NATS_PREFIX", &namespace.prefix)
        .env("CASHFLOW_BLOB_URL", namespace.blob_url())
        .env("CASHFLOW_JWT_SECRET", SECRET)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run cashflow")
}

#[derive(serde::Serialize)]
struct Claims {
    sub: String,
    iss: &'static str,
    aud: &'static str,
    iat: u64,
    exp: u64,
}

/// An HS256 access token for `user`, as the identity service will issue them.
pub fn token(user: Uuid) -> String {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_secs();
    let claims = Claims { sub: user.to_string(), iss: "cashflow", aud: "cashflow", iat: now, exp: now + 3600 };
    jsonwebtoken::encode(&Header::default(), &claims, &EncodingKey::from_secret(SECRET.as_bytes())).expect("sign")
}

pub fn bearer(user: Uuid) -> Bearer {
    Bearer(format!("Bearer {}", token(user)).parse().expect("ascii token"))
}

pub fn command_id() -> String {
    Uuid::now_v7().to_string()
}

/// Every row of the ledger read model, ordered, as text: two dumps are equal exactly when
/// the read models are.
pub async fn dump_ledger(pool: &sqlx::PgPool) -> Vec<String> {
    use sqlx::Row;
    let tables: Vec<String> = sqlx::query(
        "SELECT table_name::text AS name FROM information_schema.tables
         WHERE table_schema = 'public' AND table_name LIKE 'ledger\\_%' ORDER BY table_name",
    )
    .fetch_all(pool)
    .await
    .expect("list ledger tables")
    .iter()
    .map(|row| row.get("name"))
    .collect();
    assert!(!tables.is_empty(), "no ledger tables found");
    let mut dump = Vec::new();
    for table in tables {
        let sql = format!("SELECT t::text AS row FROM \"{table}\" t ORDER BY t::text");
        for row in sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_all(pool).await.expect("dump table") {
            dump.push(format!("{table}: {}", row.get::<String, _>("row")));
        }
    }
    dump
}
