//! Cashflow's gRPC edge: JWT auth, limits, and the services, a thin adapter over `cashflow-app` and the read models.
//!
//! # Layout
//!
//! - [`auth`]: bearer tokens (HS256, or JWKS keys), the interceptor that sets the [`auth::Caller`].
//! - [`auth_service`]: register, login, refresh, logout over [`cashflow_identity`].
//! - [`limits`]: rate limits and the other limits of [`limits::Limits`].
//! - [`client_addr`]: which client a call counts as (trusted proxies, IPv6 /64s).
//! - [`security_log`]: structured security events.
//! - [`context`]: what a request carries besides its message (correlation, trace, deadline).
//! - [`convert`]: proto ⇄ the application's inputs and the read models' views, parsed once here.
//! - [`ledger_service`], [`query_service`], [`invoice_service`], [`audit_service`],
//!   [`notification_service`], [`report_service`]: one file per service.
//! - [`error`]: the one mapping of every error to a `tonic::Status`.
//! - [`decode_status`]: requests tonic cannot decode get the contract's codes, not `INTERNAL`.
//! - [`trace_layer`]: the server span (continuing the caller's `traceparent`) and RPC metrics of every call.
//!
//! The binary calls [`build`] and serves [`Api::routes`] (or [`Api::into_router`]); on
//! shutdown it calls [`ApiHealth::drain`] before draining.
#![forbid(unsafe_code)]

pub mod audit_service;
pub mod auth;
pub mod auth_service;
pub mod client_addr;
pub mod context;
pub mod convert;
pub mod decode_status;
pub mod error;
pub mod invoice_service;
pub mod ledger_service;
pub mod limits;
pub mod notification_service;
pub mod query_service;
pub mod report_service;
pub mod security_log;
pub mod trace_layer;

use cashflow_app::{BudgetCommands, CommandHandler, InvoiceCommands, NotificationCommands, ReportCommands, RuleRunner};
use cashflow_blob::BlobStore;
use cashflow_eventstore::EventStore;
use cashflow_projection::CheckpointWatch;
use cashflow_projection_invoices::InvoiceQueries;
use cashflow_projection_ledger::LedgerQueries;
use cashflow_projection_notifications::NotificationQueries;
use cashflow_projection_reports::ReportQueries;
use cashflow_projection_search::SearchQueries;
use cashflow_proto::v1::audit_service_server::AuditServiceServer;
use cashflow_proto::v1::auth_service_server::AuthServiceServer;
use cashflow_proto::v1::invoice_service_server::InvoiceServiceServer;
use cashflow_proto::v1::ledger_service_server::LedgerServiceServer;
use cashflow_proto::v1::notification_service_server::NotificationServiceServer;
use cashflow_proto::v1::query_service_server::QueryServiceServer;
use cashflow_proto::v1::report_service_server::ReportServiceServer;
use decode_status::DecodeStatus;
use std::sync::Arc;
use std::time::Duration;
use thiserror::Error;
use tonic::server::NamedService;
use tonic::service::Routes;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Server;
use tonic::transport::server::Router;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

pub use audit_service::AuditApi;
pub use auth::{AuthInterceptor, Caller, JwtVerifier};
pub use auth_service::{AuthApi, AuthLimiters, DEFAULT_ACCESS_TOKEN_TTL};
pub use cashflow_identity::Identity;
pub use client_addr::TrustedProxies;
pub use error::ApiError;
pub use invoice_service::{InvoiceApi, UploadLimits};
pub use ledger_service::LedgerApi;
pub use limits::{Limits, RateLimit};
pub use notification_service::NotificationApi;
pub use query_service::{QueryApi, ReadGate, WaitLimits};
pub use report_service::ReportApi;

/// Largest request message accepted: far above any command, small enough that a
/// malicious client cannot make the server buffer much.
pub const MAX_DECODING_MESSAGE_SIZE: usize = limits::DEFAULT_MAX_MESSAGE_BYTES;

/// Tokens of an external identity provider: its public keys and the claims its tokens carry.
#[derive(Debug, Clone)]
pub struct JwksConfig {
    /// The JWKS document (`{"keys": [...]}`), e.g. the contents of `CASHFLOW_JWT_JWKS_FILE`.
    pub json: String,
    pub issuer: String,
    pub audience: String,
}

/// The API's settings.
#[derive(Clone)]
pub struct ApiConfig {
    /// HS256 key of access tokens (`CASHFLOW_JWT_SECRET`); must not be empty.
    pub jwt_secret: String,
    /// How long a query waits for `min_position` without a call deadline, and at most.
    pub wait: WaitLimits,
    /// Largest request message; `limits.max_message_bytes` unless set apart.
    pub max_decoding_message_size: usize,
    /// Public keys accepted besides the HS256 secret.
    pub jwks: Option<JwksConfig>,
    /// Lifetime of the access tokens Login and Refresh issue.
    pub access_token_ttl: Duration,
    pub limits: Limits,
    /// Proxies whose `x-forwarded-for` names the client of Login and Register (`CASHFLOW_TRUSTED_PROXIES`).
    pub trusted_proxies: TrustedProxies,
    /// Users and refresh tokens; AuthService is mounted only with it.
    pub identity: Option<Identity>,
    pub uploads: UploadLimits,
    /// `CASHFLOW_WEBHOOK_ALLOW_PRIVATE`: webhook and push channels may target loopback and
    /// private addresses (a test or a home network); refused otherwise.
    pub webhook_allow_private: bool,
}

impl ApiConfig {
    pub fn new(jwt_secret: impl Into<String>) -> Self {
        Self {
            jwt_secret: jwt_secret.into(),
            wait: WaitLimits::default(),
            max_decoding_message_size: MAX_DECODING_MESSAGE_SIZE,
            jwks: None,
            access_token_ttl: DEFAULT_ACCESS_TOKEN_TTL,
            limits: Limits::default(),
            trusted_proxies: TrustedProxies::default(),
            identity: None,
            uploads: UploadLimits::default(),
            webhook_allow_private: false,
        }
    }

    /// These limits, the message size included.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.max_decoding_message_size = limits.max_message_bytes;
        self.limits = limits;
        self
    }
}

impl std::fmt::Debug for ApiConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiConfig")
            .field("jwt_secret", &"<redacted>")
            .field("wait", &self.wait)
            .field("max_decoding_message_size", &self.max_decoding_message_size)
            .field("jwks", &self.jwks.as_ref().map(|jwks| (&jwks.issuer, &jwks.audience)))
            .field("access_token_ttl", &self.access_token_ttl)
            .field("limits", &self.limits)
            .field("trusted_proxies", &self.trusted_proxies)
            .field("uploads", &self.uploads)
            .field("webhook_allow_private", &self.webhook_allow_private)
            .finish()
    }
}

/// What the services run on, wired by the binary.
pub struct ApiState {
    pub store: Arc<dyn EventStore>,
    pub queries: LedgerQueries,
    /// The ledger read model's checkpoint.
    pub checkpoints: CheckpointWatch,
    pub invoices: InvoiceQueries,
    /// The invoices read model's checkpoint.
    pub invoice_checkpoints: CheckpointWatch,
    pub search: SearchQueries,
    /// The search view's checkpoint.
    pub search_checkpoints: CheckpointWatch,
    pub notifications: NotificationQueries,
    /// The notifications read model's checkpoint.
    pub notification_checkpoints: CheckpointWatch,
    pub reports: ReportQueries,
    /// The reports read model's checkpoint.
    pub report_checkpoints: CheckpointWatch,
    pub blobs: Arc<dyn BlobStore>,
    pub config: ApiConfig,
}

#[derive(Debug, Error)]
pub enum BuildError {
    #[error("authentication: {0}")]
    Auth(#[from] auth::AuthError),
    #[error("server reflection: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
}

/// The fully-qualified names of the Cashflow services, as health reports them.
pub const SERVICE_NAMES: [&str; 7] = [
    <LedgerServiceServer<LedgerApi> as NamedService>::NAME,
    <QueryServiceServer<QueryApi> as NamedService>::NAME,
    <InvoiceServiceServer<InvoiceApi> as NamedService>::NAME,
    <AuditServiceServer<AuditApi> as NamedService>::NAME,
    <NotificationServiceServer<NotificationApi> as NamedService>::NAME,
    <ReportServiceServer<ReportApi> as NamedService>::NAME,
    <AuthServiceServer<AuthApi> as NamedService>::NAME,
];

/// The health statuses the binary flips on shutdown, and the signal that ends open server
/// streams when it drains.
#[derive(Debug, Clone)]
pub struct ApiHealth {
    reporter: HealthReporter,
    draining: Arc<tokio::sync::watch::Sender<bool>>,
}

impl ApiHealth {
    pub fn reporter(&self) -> &HealthReporter {
        &self.reporter
    }

    pub async fn set_serving(&self) {
        self.set_all(ServingStatus::Serving).await;
    }

    /// Load balancers stop sending new calls; call before draining.
    pub async fn set_not_serving(&self) {
        self.set_all(ServingStatus::NotServing).await;
    }

    /// Shutting down: NOT_SERVING, and every open WatchNotifications ends with UNAVAILABLE, so
    /// its client reconnects elsewhere (listing what it missed) and the server's graceful
    /// shutdown is not held up by streams that would never end on their own.
    pub async fn drain(&self) {
        self.set_not_serving().await;
        self.draining.send_replace(true);
    }

    async fn set_all(&self, status: ServingStatus) {
        for name in std::iter::once("").chain(SERVICE_NAMES) {
            self.reporter.set_service_status(name, status).await;
        }
    }
}

/// The mounted services and the handle on their health.
#[derive(Debug)]
pub struct Api {
    /// Ledger, Query, Invoice, Notification, Report and Audit behind auth; health and reflection (v1 and v1alpha) without.
    pub routes: Routes,
    pub health: ApiHealth,
}

impl Api {
    /// The routes on a server with [`server`]'s limits, ready for `serve_with_shutdown`.
    pub fn into_router(self) -> (Router, ApiHealth) {
        (server().add_routes(self.routes), self.health)
    }
}

/// A tonic server with the limits the API is built for. The binary may add layers (tracing,
/// grpc-web) before adding [`Api::routes`].
pub fn server() -> Server {
    server_with(&Limits::default())
}

/// [`server`] with `limits`' per-call timeout and concurrency.
pub fn server_with(limits: &Limits) -> Server {
    let concurrent = limits.max_concurrent_calls.max(1);
    Server::builder()
        .tcp_nodelay(true)
        .http2_keepalive_interval(Some(Duration::from_secs(30)))
        .http2_keepalive_timeout(Some(Duration::from_secs(10)))
        .max_concurrent_streams(Some(u32::try_from(concurrent).unwrap_or(u32::MAX)))
        .concurrency_limit_per_connection(concurrent)
        .http2_max_header_list_size(Some(16 * 1024))
        // A backstop for handlers; queries wait at most `WaitLimits::max` on their own.
        .timeout(limits.call_timeout)
}

/// Builds every service over `state`, marks them SERVING and returns their routes.
pub async fn build(state: ApiState) -> Result<Api, BuildError> {
    let ApiState {
        store,
        queries,
        checkpoints,
        invoices,
        invoice_checkpoints,
        search,
        search_checkpoints,
        notifications,
        notification_checkpoints,
        reports,
        report_checkpoints,
        blobs,
        config,
    } = state;
    let mut verifier = JwtVerifier::new(&config.jwt_secret)?;
    if let Some(jwks) = &config.jwks {
        verifier = verifier.with_jwks(&jwks.json, &jwks.issuer, &jwks.audience)?;
    }
    let auth = AuthInterceptor::new(Arc::new(verifier));
    let command_auth =
        auth.clone().with_rate_limit("commands", Arc::new(limits::RateLimiter::new(config.limits.commands)));
    let query_auth = auth.with_rate_limit("queries", Arc::new(limits::RateLimiter::new(config.limits.queries)));
    let limit = config.max_decoding_message_size;

    let handler = CommandHandler::new(store.clone());
    let lookups = Arc::new(queries.clone());
    let rules = RuleRunner::new(handler.clone(), lookups.clone());
    let budgets = BudgetCommands::new(handler.clone(), lookups.clone());
    let ledger =
        LedgerServiceServer::new(LedgerApi::new(handler.clone(), rules, budgets)).max_decoding_message_size(limit);
    let (draining, drained) = tokio::sync::watch::channel(false);
    let notification_gate = ReadGate::new(store.clone(), Arc::new(notification_checkpoints.clone()), config.wait);
    let notification = NotificationServiceServer::new(NotificationApi::new(
        NotificationCommands::new(handler.clone()),
        notifications,
        notification_gate,
        notification_checkpoints,
        config.webhook_allow_private,
        drained,
    ))
    .max_decoding_message_size(limit);
    let report_gate = ReadGate::new(store.clone(), Arc::new(report_checkpoints), config.wait);
    let report = ReportServiceServer::new(ReportApi::new(
        ReportCommands::new(handler.clone()),
        reports,
        report_gate,
        blobs.clone(),
    ))
    .max_decoding_message_size(limit);
    let invoice_commands = InvoiceCommands::new(handler, blobs, lookups);
    let invoice_gate = ReadGate::new(store.clone(), Arc::new(invoice_checkpoints), config.wait);
    let invoice_api = InvoiceApi::new(invoice_commands, Arc::new(invoices), invoice_gate, config.uploads);
    // The unary upload carries the whole file, so this service decodes messages as large as
    // the file limit; its gate holds the upload budget's ticket before one is read.
    let invoice = invoice_api.gate(
        InvoiceServiceServer::new(invoice_api.clone())
            .max_decoding_message_size(limit.max(invoice_api.max_message_bytes())),
    );
    let ledger_gate = ReadGate::new(store.clone(), Arc::new(checkpoints), config.wait);
    let search_gate = ReadGate::new(store.clone(), Arc::new(search_checkpoints), config.wait);
    let query = QueryServiceServer::new(QueryApi::new(
        Arc::new(queries),
        ledger_gate,
        Arc::new(search),
        search_gate,
        store.clone(),
    ))
    .max_decoding_message_size(limit);
    let audit = AuditServiceServer::new(AuditApi::new(store)).max_decoding_message_size(limit);

    let (reporter, health_service) = tonic_health::server::health_reporter();
    let health = ApiHealth { reporter, draining: Arc::new(draining) };
    health.set_serving().await;

    let reflection_v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(cashflow_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    let reflection_v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(cashflow_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()?;

    // Auth runs before a message is decoded, so an anonymous caller cannot make us buffer one.
    let mut routes = Routes::new(DecodeStatus(InterceptedService::new(ledger, command_auth.clone())))
        .add_service(DecodeStatus(InterceptedService::new(query, query_auth.clone())))
        .add_service(DecodeStatus(InterceptedService::new(invoice, command_auth.clone())))
        .add_service(DecodeStatus(InterceptedService::new(notification, command_auth.clone())))
        .add_service(DecodeStatus(InterceptedService::new(report, command_auth.clone())))
        .add_service(DecodeStatus(InterceptedService::new(audit, query_auth)));
    if let Some(identity) = config.identity {
        let attempts = AuthLimiters::new(config.limits.login_address, config.limits.login)
            .trusting(config.trusted_proxies.clone());
        let auth_api = AuthApi::new(identity, &config.jwt_secret, config.access_token_ttl, Arc::new(attempts));
        routes = routes.add_service(DecodeStatus(AuthServiceServer::new(auth_api).max_decoding_message_size(limit)));
    }
    let routes = routes.add_service(health_service).add_service(reflection_v1).add_service(reflection_v1alpha);
    Ok(Api { routes: trace_layer::traced(routes), health })
}
