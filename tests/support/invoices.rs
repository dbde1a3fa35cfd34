//! Uploading invoices as a mobile app does (a header, then the file in chunks), and the files
//! they leave in blob storage.

use super::{Authed, command_id};
use cashflow_proto::v1::invoice_service_client::InvoiceServiceClient;
use cashflow_proto::v1::upload_invoice_request::Part;
use cashflow_proto::v1::{UploadInvoiceFileRequest, UploadInvoiceHeader, UploadInvoiceRequest, UploadInvoiceResponse};
use std::path::{Path, PathBuf};

/// The file in a header message and chunks of at most 100 KiB.
pub fn upload_parts(
    filename: &str,
    content_type: &str,
    account_id: Option<String>,
    bytes: &[u8],
) -> Vec<UploadInvoiceRequest> {
    let header = UploadInvoiceHeader {
        command_id: command_id(),
        filename: filename.into(),
        content_type: content_type.into(),
        account_id,
    };
    let mut parts = vec![UploadInvoiceRequest { part: Some(Part::Header(header)) }];
    parts
        .extend(bytes.chunks(100 * 1024).map(|chunk| UploadInvoiceRequest { part: Some(Part::Chunk(chunk.to_vec())) }));
    parts
}

pub async fn upload(
    invoices: &mut InvoiceServiceClient<Authed>,
    parts: Vec<UploadInvoiceRequest>,
) -> Result<UploadInvoiceResponse, tonic::Status> {
    invoices.upload_invoice(tokio_stream::iter(parts)).await.map(|r| r.into_inner())
}

/// The file in one message, as the browser app sends it (`UploadInvoiceFile`).
pub fn file_request(filename: &str, content_type: &str, bytes: &[u8]) -> UploadInvoiceFileRequest {
    UploadInvoiceFileRequest {
        command_id: command_id(),
        filename: filename.into(),
        content_type: content_type.into(),
        account_id: None,
        content: bytes.to_vec(),
    }
}

pub async fn upload_file(
    invoices: &mut InvoiceServiceClient<Authed>,
    request: UploadInvoiceFileRequest,
) -> Result<UploadInvoiceResponse, tonic::Status> {
    invoices.upload_invoice_file(request).await.map(|r| r.into_inner())
}

/// Every file under `dir`, at any depth (none when it does not exist).
pub fn blob_files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    entries
        .flatten()
        .flat_map(|entry| if entry.path().is_dir() { blob_files(&entry.path()) } else { vec![entry.path()] })
        .collect()
}
