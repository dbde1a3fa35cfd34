//! `cashflow.v1.InvoiceService`: uploads streamed in and checked at the edge, reads of the
//! invoices read model, downloads streamed out of blob storage, and corrections.
//!
//! An upload is held whole in memory until it is stored, so uploads take a ticket of the
//! [`UploadBudget`]: a slot of the person's few, and the bytes they hold of the process's
//! budget, reserved as they arrive and given back when the call ends. The unary
//! `UploadInvoiceFile` (grpc-web has no client streaming) takes its ticket in the
//! [`UploadGate`] before its one message is read, and then goes through the same checks.

mod upload_budget;
mod upload_gate;

pub use upload_budget::{Exhausted, UploadBudget, UploadTicket};
pub use upload_gate::{UPLOAD_FILE_OVERHEAD, UploadGate};

use crate::auth::Caller;
use crate::context::command_context;
use crate::convert::{self, FromRequest};
use crate::error::{ApiError, invalid_argument, status};
use crate::ledger_service::accept;
use crate::query_service::ReadGate;
use cashflow_app::InvoiceCommands;
use cashflow_app::input::{CorrectInvoice, FileRefused, InvoiceFile, UploadInvoice};
use cashflow_blob::BlobKey;
use cashflow_domain::ValidationError;
use cashflow_projection_invoices::{InvoiceQueries, QueryError as InvoiceQueryError};
use cashflow_proto::v1 as pb;
use cashflow_proto::v1::invoice_service_server::InvoiceService;
use futures::{Stream, StreamExt};
use std::pin::Pin;
use std::sync::Arc;
use tonic::{Request, Response, Status, Streaming};

/// How large an upload may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UploadLimits {
    /// Largest file (`CASHFLOW_MAX_UPLOAD_BYTES`).
    pub max_bytes: usize,
    /// Most pixels an image may declare (`CASHFLOW_MAX_UPLOAD_PIXELS`): a small file can
    /// announce a huge image, and decoding it would take gigabytes.
    pub max_pixels: u64,
    /// Bytes all uploads in flight may hold together (`CASHFLOW_UPLOAD_BUFFER_BYTES`).
    pub buffer_bytes: usize,
    /// Uploads one person may have in flight at once (`CASHFLOW_UPLOADS_PER_USER`).
    pub per_user: usize,
}

impl Default for UploadLimits {
    fn default() -> Self {
        Self { max_bytes: 10 * 1024 * 1024, max_pixels: 40_000_000, buffer_bytes: 256 * 1024 * 1024, per_user: 4 }
    }
}

#[derive(Clone)]
pub struct InvoiceApi {
    handler: InvoiceCommands,
    queries: Arc<InvoiceQueries>,
    gate: ReadGate,
    limits: UploadLimits,
    budget: Arc<UploadBudget>,
}

impl std::fmt::Debug for InvoiceApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InvoiceApi").field("limits", &self.limits).finish_non_exhaustive()
    }
}

impl InvoiceApi {
    pub fn new(handler: InvoiceCommands, queries: Arc<InvoiceQueries>, gate: ReadGate, limits: UploadLimits) -> Self {
        let budget = UploadBudget::new(limits.buffer_bytes, limits.per_user);
        Self { handler, queries, gate, limits, budget }
    }

    /// The gate that holds a unary upload's ticket while its message is read: mount it
    /// around this service, inside the auth interceptor.
    pub fn gate<S>(&self, service: S) -> UploadGate<S> {
        UploadGate::new(service, self.budget.clone(), self.limits.max_bytes)
    }

    /// The largest message this service must decode: the unary upload's whole file.
    pub fn max_message_bytes(&self) -> usize {
        self.limits.max_bytes + UPLOAD_FILE_OVERHEAD
    }

    /// Checks the file against its header and the limits, then stores it and appends the
    /// upload: the same path for the stream and the unary call. A refusal of the bytes names
    /// `file_field`, where the call carried them (`chunk` or `content`).
    async fn accept_upload(
        &self,
        caller: Caller,
        metadata: &tonic::metadata::MetadataMap,
        header: pb::UploadInvoiceHeader,
        bytes: bytes::Bytes,
        file_field: &'static str,
    ) -> Result<pb::UploadInvoiceResponse, Status> {
        let input = UploadInvoice::from_request(header).map_err(status)?;
        let file =
            InvoiceFile::check(input.declared, bytes, self.limits.max_pixels).map_err(|refused| match refused {
                FileRefused::Invalid(error) if error.field == "chunk" => invalid_argument(&error.for_field(file_field)),
                FileRefused::Invalid(error) => invalid_argument(&error),
                FileRefused::TooManyPixels { width, height, max } => Status::resource_exhausted(format!(
                    "the image is {width}×{height} pixels; at most {max} are accepted"
                )),
            })?;
        let context = command_context(caller, metadata, input.command_id);
        let created = self.handler.upload_invoice(&context, input, file).await.map_err(status)?;
        Ok(pb::UploadInvoiceResponse { invoice_id: created.id.to_string(), position: created.position })
    }

    /// Reads the header and every chunk, refusing as soon as the file is too large or the
    /// budget cannot hold the next chunk. Chunks are kept as they came (each reserved before
    /// it is kept) and joined once at the end, the joined copy reserved before it is made.
    async fn receive(
        &self,
        mut parts: Streaming<pb::UploadInvoiceRequest>,
        ticket: &mut UploadTicket,
    ) -> Result<(pb::UploadInvoiceHeader, bytes::Bytes), Status> {
        use pb::upload_invoice_request::Part;
        let header = match parts.message().await? {
            Some(pb::UploadInvoiceRequest { part: Some(Part::Header(header)) }) => header,
            _ => {
                return Err(invalid_argument(&ValidationError::new(
                    "header",
                    "the first message must carry the header; the file's bytes follow in chunks",
                )));
            }
        };
        let mut chunks = Vec::new();
        let mut size = 0;
        while let Some(part) = parts.message().await? {
            match part.part {
                Some(Part::Chunk(chunk)) => {
                    if size + chunk.len() > self.limits.max_bytes {
                        return Err(too_large(self.limits.max_bytes));
                    }
                    ticket.reserve(chunk.len()).map_err(exhausted)?;
                    size += chunk.len();
                    chunks.push(chunk);
                }
                Some(Part::Header(_)) => {
                    return Err(invalid_argument(&ValidationError::new(
                        "header",
                        "only the first message is a header",
                    )));
                }
                None => {}
            }
        }
        let file = match chunks.len() {
            0 => bytes::Bytes::new(),
            1 => bytes::Bytes::from(chunks.pop().unwrap_or_default()),
            _ => {
                ticket.reserve(size).map_err(exhausted)?;
                let mut file = Vec::with_capacity(size);
                for chunk in chunks.drain(..) {
                    file.extend_from_slice(&chunk);
                }
                ticket.release(size);
                bytes::Bytes::from(file)
            }
        };
        Ok((header, file))
    }
}

fn too_large(max_bytes: usize) -> Status {
    Status::resource_exhausted(format!("the file is larger than the limit of {max_bytes} bytes"))
}

fn exhausted(why: Exhausted) -> Status {
    Status::resource_exhausted(why.to_string())
}

type ChunkStream = Pin<Box<dyn Stream<Item = Result<pb::DownloadInvoiceResponse, Status>> + Send>>;

#[tonic::async_trait]
impl InvoiceService for InvoiceApi {
    #[tracing::instrument(name = "invoice.upload", skip_all, err(level = "info"))]
    async fn upload_invoice(
        &self,
        request: Request<Streaming<pb::UploadInvoiceRequest>>,
    ) -> Result<Response<pb::UploadInvoiceResponse>, Status> {
        let caller = Caller::of(&request)?;
        // Held until this call returns, or is dropped with it: slot and bytes come back either way.
        let mut ticket = self.budget.begin(caller.user_id.as_uuid()).map_err(exhausted)?;
        let (metadata, _, parts) = request.into_parts();
        let (header, bytes) = self.receive(parts, &mut ticket).await?;
        Ok(Response::new(self.accept_upload(caller, &metadata, header, bytes, "chunk").await?))
    }

    /// The whole file in one message; its ticket was taken by the [`UploadGate`] before the
    /// message was read.
    #[tracing::instrument(name = "invoice.upload_file", skip_all, err(level = "info"))]
    async fn upload_invoice_file(
        &self,
        request: Request<pb::UploadInvoiceFileRequest>,
    ) -> Result<Response<pb::UploadInvoiceResponse>, Status> {
        let caller = Caller::of(&request)?;
        let (metadata, _, message) = request.into_parts();
        let pb::UploadInvoiceFileRequest { command_id, filename, content_type, account_id, content } = message;
        if content.len() > self.limits.max_bytes {
            return Err(too_large(self.limits.max_bytes));
        }
        let header = pb::UploadInvoiceHeader { command_id, filename, content_type, account_id };
        Ok(Response::new(self.accept_upload(caller, &metadata, header, bytes::Bytes::from(content), "content").await?))
    }

    #[tracing::instrument(name = "query.get_invoice", skip_all, err(level = "info"))]
    async fn get_invoice(
        &self,
        request: Request<pb::GetInvoiceRequest>,
    ) -> Result<Response<pb::GetInvoiceResponse>, Status> {
        let invoice_id = convert::invoice_id(&request.get_ref().invoice_id).map_err(status)?;
        let caller = self.gate.caller_after(&request, request.get_ref().min_position).await?;
        let view = self
            .queries
            .get(caller.user_id.as_uuid(), invoice_id.as_uuid())
            .await
            .map_err(query_status)?
            .ok_or_else(|| Status::not_found("invoice not found"))?;
        Ok(Response::new(pb::GetInvoiceResponse { invoice: Some(convert::invoice_to_proto(view)) }))
    }

    #[tracing::instrument(name = "query.list_invoices", skip_all, err(level = "info"))]
    async fn list_invoices(
        &self,
        request: Request<pb::ListInvoicesRequest>,
    ) -> Result<Response<pb::ListInvoicesResponse>, Status> {
        let page_size = convert::page_size(request.get_ref().page_size).map_err(status)?;
        let after = convert::invoice_page_token(&request.get_ref().page_token).map_err(status)?;
        let caller = self.gate.caller_after(&request, request.get_ref().min_position).await?;
        let page = self.queries.list(caller.user_id.as_uuid(), page_size, after).await.map_err(query_status)?;
        Ok(Response::new(pb::ListInvoicesResponse {
            invoices: page.invoices.into_iter().map(convert::invoice_to_proto).collect(),
            next_page_token: page.next.map(|cursor| cursor.encode()).unwrap_or_default(),
        }))
    }

    type DownloadInvoiceStream = ChunkStream;

    #[tracing::instrument(name = "invoice.download", skip_all, err(level = "info"))]
    async fn download_invoice(
        &self,
        request: Request<pb::DownloadInvoiceRequest>,
    ) -> Result<Response<Self::DownloadInvoiceStream>, Status> {
        let caller = Caller::of(&request)?;
        let invoice_id = convert::invoice_id(&request.get_ref().invoice_id).map_err(status)?;
        let invoice = self.handler.uploaded_invoice(caller.user_id, invoice_id).await.map_err(status)?;
        let key = BlobKey::parse(&invoice.blob_key).map_err(|e| status(ApiError::internal(e)))?;
        let blobs = self.handler.blobs();
        let chunks = blobs.get_stream(&key).await.map_err(|error| {
            tracing::error!(%key, %error, "an invoice's original cannot be read");
            Status::unavailable("the invoice's file cannot be read now")
        })?;
        let stream = chunks.map(|chunk| match chunk {
            Ok(chunk) => Ok(pb::DownloadInvoiceResponse { chunk: chunk.to_vec() }),
            Err(error) => {
                tracing::error!(%error, "reading an invoice's original failed midway");
                Err(Status::unavailable("the invoice's file cannot be read now"))
            }
        });
        Ok(Response::new(Box::pin(stream)))
    }

    async fn correct_invoice(
        &self,
        request: Request<pb::CorrectInvoiceRequest>,
    ) -> Result<Response<pb::CorrectInvoiceResponse>, Status> {
        let (context, input) = accept::<_, CorrectInvoice>(request)?;
        let position = self.handler.correct_invoice(&context, input).await.map_err(status)?;
        Ok(Response::new(pb::CorrectInvoiceResponse { position }))
    }
}

fn query_status(error: InvoiceQueryError) -> Status {
    match error {
        InvoiceQueryError::Unavailable(cause) => {
            tracing::warn!(error = %cause, "invoices read model unavailable");
            Status::unavailable("the read model is unavailable; retry later")
        }
        other => status(ApiError::internal(other)),
    }
}
