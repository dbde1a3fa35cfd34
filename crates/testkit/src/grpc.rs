//! Access tokens and authenticated clients of every gRPC service.

use cashflow_proto::v1::audit_service_client::AuditServiceClient;
use cashflow_proto::v1::invoice_service_client::InvoiceServiceClient;
use cashflow_proto::v1::ledger_service_client::LedgerServiceClient;
use cashflow_proto::v1::notification_service_client::NotificationServiceClient;
use cashflow_proto::v1::query_service_client::QueryServiceClient;
use cashflow_proto::v1::report_service_client::ReportServiceClient;
use cashflow_proto::v1::{OpenAccountRequest, OpenAccountResponse};
use std::time::Duration;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use uuid::Uuid;

/// The JWT secret a test server is given, and [`token`] signs with.
pub const SECRET: &str = "end-to-end-test-secret-0123456789abcdef";

/// A client channel that sends a bearer token on every call.
pub type Authed = InterceptedService<Channel, Bearer>;

/// Adds `authorization: Bearer <token>` to every call.
#[derive(Clone, Debug)]
pub struct Bearer(MetadataValue<Ascii>);

impl Bearer {
    /// Any token, a forged or malformed one included.
    pub fn new(token: &str) -> Self {
        Self(format!("Bearer {token}").parse().expect("an ASCII token"))
    }
}

impl Interceptor for Bearer {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        request.metadata_mut().insert("authorization", self.0.clone());
        Ok(request)
    }
}

/// An access token for `user` signed with [`SECRET`], valid for an hour.
pub fn token(user: Uuid) -> String {
    cashflow_identity::issue_token(SECRET, user, Duration::from_secs(3600))
}

/// [`Bearer`] of [`token`]`(user)`.
pub fn bearer(user: Uuid) -> Bearer {
    Bearer::new(&token(user))
}

/// A plaintext HTTP/2 channel to `addr` (`host:port`).
pub async fn channel(addr: &str) -> Channel {
    Channel::from_shared(format!("http://{addr}")).expect("a valid URI").connect().await.expect("connect to cashflow")
}

/// A client of each service on one channel, all calling as one bearer.
#[derive(Clone, Debug)]
pub struct Clients {
    pub ledger: LedgerServiceClient<Authed>,
    pub query: QueryServiceClient<Authed>,
    pub invoices: InvoiceServiceClient<Authed>,
    pub audit: AuditServiceClient<Authed>,
    pub notifications: NotificationServiceClient<Authed>,
    pub reports: ReportServiceClient<Authed>,
}

impl Clients {
    pub fn new(channel: Channel, bearer: Bearer) -> Self {
        Self {
            ledger: LedgerServiceClient::with_interceptor(channel.clone(), bearer.clone()),
            query: QueryServiceClient::with_interceptor(channel.clone(), bearer.clone()),
            invoices: InvoiceServiceClient::with_interceptor(channel.clone(), bearer.clone()),
            audit: AuditServiceClient::with_interceptor(channel.clone(), bearer.clone()),
            notifications: NotificationServiceClient::with_interceptor(channel.clone(), bearer.clone()),
            reports: ReportServiceClient::with_interceptor(channel, bearer),
        }
    }
}

/// A fresh command id.
pub fn command_id() -> String {
    Uuid::now_v7().to_string()
}

/// Opens an account named `name` in EUR with no opening balance; panics if it is refused.
pub async fn open_account(ledger: &mut LedgerServiceClient<Authed>, name: &str) -> OpenAccountResponse {
    let request = OpenAccountRequest {
        command_id: command_id(),
        name: name.into(),
        currency: "EUR".into(),
        opening_balance: None,
    };
    ledger.open_account(request).await.expect("open an account").into_inner()
}
