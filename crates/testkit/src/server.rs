//! The real `cashflow` binary, serving some roles in a namespace of a test's own.

use crate::database::TestDatabase;
use crate::grpc::{Authed, Clients, SECRET, bearer};
use crate::nats::NatsPrefix;
use cashflow_proto::v1::audit_service_client::AuditServiceClient;
use cashflow_proto::v1::invoice_service_client::InvoiceServiceClient;
use cashflow_proto::v1::ledger_service_client::LedgerServiceClient;
use cashflow_proto::v1::notification_service_client::NotificationServiceClient;
use cashflow_proto::v1::query_service_client::QueryServiceClient;
use cashflow_proto::v1::report_service_client::ReportServiceClient;
use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tonic::transport::Channel;
use uuid::Uuid;

/// How long the binary may take to print `ready`.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A database, a NATS prefix and a blob directory of a test's own, all removed on drop.
#[derive(Debug)]
pub struct Namespace {
    /// Reserved, not created: the binary creates its database at start-up.
    pub database: TestDatabase,
    pub nats: NatsPrefix,
    pub blobs: PathBuf,
}

impl Namespace {
    pub fn new() -> Self {
        let blobs = std::env::temp_dir().join(format!("cashflow-test-blobs-{}", Uuid::now_v7().simple()));
        Self { database: TestDatabase::reserve(), nats: NatsPrefix::new(), blobs }
    }

    /// `CASHFLOW_NATS_PREFIX` of this namespace.
    pub fn prefix(&self) -> &str {
        self.nats.as_str()
    }

    /// `CASHFLOW_BLOB_URL` of this namespace.
    pub fn blob_url(&self) -> String {
        format!("file://{}", self.blobs.display())
    }

    /// A small pool on the database, once a server has created it.
    pub async fn pool(&self) -> sqlx::PgPool {
        self.database.pool(2).await
    }

    /// `binary` with this namespace's database, prefix, blob store and [`SECRET`].
    fn command(&self, binary: impl AsRef<OsStr>) -> Command {
        let mut command = Command::new(binary);
        command
            .env("CASHFLOW_DATABASE_URL", self.database.url())
            .env("CASHFLOW_NATS_PREFIX", self.prefix())
            .env("CASHFLOW_BLOB_URL", self.blob_url())
            .env("CASHFLOW_JWT_SECRET", SECRET);
        command
    }
}

impl Default for Namespace {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        // The database and the prefix clean up after themselves.
        let _ = std::fs::remove_dir_all(&self.blobs);
    }
}

/// A running `cashflow serve`, killed on drop. `binary` is the caller's
/// `env!("CARGO_BIN_EXE_cashflow")`: only the binary's own package's tests have it.
#[derive(Debug)]
pub struct Server {
    child: Child,
    /// `host:port` of the gRPC API, when the roles include it.
    pub addr: String,
    /// `cashflow: metrics listening on ADDR`, when `CASHFLOW_METRICS_ADDR` was set.
    pub metrics_addr: Option<String>,
    /// Every stderr line so far, when started with [`Server::start_capturing_logs`].
    logs: Option<Arc<Mutex<Vec<String>>>>,
}

impl Server {
    /// `binary serve --roles <roles>` in `namespace`, once it says it is ready.
    pub fn start(binary: impl AsRef<OsStr>, namespace: &Namespace, roles: &str) -> Self {
        Self::start_with(binary, namespace, roles, &[])
    }

    /// [`Server::start`] with extra environment variables (limits, TLS, CORS, JWKS…), which
    /// override the defaults.
    pub fn start_with(binary: impl AsRef<OsStr>, namespace: &Namespace, roles: &str, env: &[(&str, &str)]) -> Self {
        Self::launch(binary.as_ref(), namespace, roles, env, false)
    }

    /// [`Server::start_with`], keeping the process's stderr (its logs) for [`Server::logs`].
    pub fn start_capturing_logs(
        binary: impl AsRef<OsStr>,
        namespace: &Namespace,
        roles: &str,
        env: &[(&str, &str)],
    ) -> Self {
        Self::launch(binary.as_ref(), namespace, roles, env, true)
    }

    fn launch(binary: &OsStr, namespace: &Namespace, roles: &str, env: &[(&str, &str)], capture_logs: bool) -> Self {
        let mut child = namespace
            .command(binary)
            .args(["serve", "--roles", roles])
            .env("CASHFLOW_GRPC_ADDR", "127.0.0.1:0")
            .env("CASHFLOW_DB_MAX_CONNECTIONS", "10")
            .env("RUST_LOG", std::env::var("TEST_LOG").unwrap_or_else(|_| "warn".into()))
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(if capture_logs { Stdio::piped() } else { Stdio::inherit() })
            .spawn()
            .expect("spawn cashflow");
        let logs = child.stderr.take().map(|stderr| {
            let logs = Arc::new(Mutex::new(Vec::new()));
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
        let (addr, metrics_addr) = rx.recv_timeout(START_TIMEOUT).expect("cashflow did not become ready within 60 s");
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
    pub fn terminate(mut self) -> ExitStatus {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        self.child.wait().expect("wait for cashflow")
    }

    pub async fn channel(&self) -> Channel {
        crate::grpc::channel(&self.addr).await
    }

    /// A client of each service on one new channel, calling as `user`.
    pub async fn clients(&self, user: Uuid) -> Clients {
        Clients::new(self.channel().await, bearer(user))
    }

    pub async fn ledger(&self, user: Uuid) -> LedgerServiceClient<Authed> {
        self.clients(user).await.ledger
    }

    pub async fn query(&self, user: Uuid) -> QueryServiceClient<Authed> {
        self.clients(user).await.query
    }

    pub async fn invoices(&self, user: Uuid) -> InvoiceServiceClient<Authed> {
        self.clients(user).await.invoices
    }

    pub async fn audit(&self, user: Uuid) -> AuditServiceClient<Authed> {
        self.clients(user).await.audit
    }

    pub async fn notifications(&self, user: Uuid) -> NotificationServiceClient<Authed> {
        self.clients(user).await.notifications
    }

    pub async fn reports(&self, user: Uuid) -> ReportServiceClient<Authed> {
        self.clients(user).await.reports
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `binary <args>` to completion in `namespace`.
pub fn run_cli(binary: impl AsRef<OsStr>, namespace: &Namespace, args: &[&str]) -> Output {
    run_cli_with(binary, namespace, args, &[])
}

/// [`run_cli`] with more environment variables (e.g. a key the command needs).
pub fn run_cli_with(binary: impl AsRef<OsStr>, namespace: &Namespace, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = namespace.command(binary);
    command.args(args).env("RUST_LOG", "warn");
    for (name, value) in env {
        command.env(name, value);
    }
    command.output().expect("run cashflow")
}
