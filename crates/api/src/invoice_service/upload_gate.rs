//! [`UploadGate`]: the unary `UploadInvoiceFile` carries the whole file in one message, which
//! tonic decodes before the handler runs. The streaming upload reserves its bytes of the
//! [`UploadBudget`] chunk by chunk as they arrive; a unary upload must hold its ticket before
//! its body is read, so the gate sits between the auth interceptor (which names the caller)
//! and the service, and takes the person's slot and the message's bytes first.

use super::{UploadBudget, UploadTicket};
use crate::auth::Caller;
use futures::future::BoxFuture;
use std::sync::Arc;
use std::task::{Context, Poll};
use tonic::Status;
use tonic::server::NamedService;
use tower::Service;

/// The unary upload's path.
pub const UPLOAD_FILE_PATH: &str = "/cashflow.v1.InvoiceService/UploadInvoiceFile";

/// Room beside the file in an `UploadInvoiceFile` message: its id, name, content type and
/// account, and protobuf's framing.
pub const UPLOAD_FILE_OVERHEAD: usize = 64 * 1024;

/// Wraps the invoice service; every other call passes untouched.
#[derive(Debug, Clone)]
pub struct UploadGate<S> {
    inner: S,
    budget: Arc<UploadBudget>,
    /// The largest message the unary upload may be: the file limit and its overhead.
    max_message: usize,
}

impl<S> UploadGate<S> {
    pub(crate) fn new(inner: S, budget: Arc<UploadBudget>, max_file_bytes: usize) -> Self {
        Self { inner, budget, max_message: max_file_bytes + UPLOAD_FILE_OVERHEAD }
    }

    /// The person's slot, and the bytes the message may hold: what its `content-length`
    /// declares when it declares less than the limit (hyper refuses a body longer than it
    /// said), else the limit.
    fn admit<B>(&self, request: &http::Request<B>) -> Result<UploadTicket, Status> {
        let caller = request.extensions().get::<Caller>().copied().ok_or_else(|| Status::unauthenticated(""))?;
        let declared = request
            .headers()
            .get(http::header::CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse::<usize>().ok());
        let bytes = declared.map_or(self.max_message, |declared| declared.min(self.max_message));
        let mut ticket = self.budget.begin(caller.user_id.as_uuid()).map_err(super::exhausted)?;
        ticket.reserve(bytes).map_err(super::exhausted)?;
        Ok(ticket)
    }
}

impl<S: NamedService> NamedService for UploadGate<S> {
    const NAME: &'static str = S::NAME;
}

impl<S, ReqBody> Service<http::Request<ReqBody>> for UploadGate<S>
where
    S: Service<http::Request<ReqBody>, Response = http::Response<tonic::body::Body>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<ReqBody>) -> Self::Future {
        if request.uri().path() != UPLOAD_FILE_PATH {
            return Box::pin(self.inner.call(request));
        }
        match self.admit(&request) {
            Ok(ticket) => {
                let response = self.inner.call(request);
                Box::pin(async move {
                    // Held while the message is decoded and handled; a unary answer is whole
                    // once this future resolves.
                    let response = response.await;
                    drop(ticket);
                    response
                })
            }
            Err(status) => {
                tracing::info!(code = ?status.code(), message = status.message(), "an upload refused before it was read");
                Box::pin(std::future::ready(Ok(status.into_http())))
            }
        }
    }
}
