//! ReportService: asking for a report, following it, and downloading its file.

use crate::auth::Caller;
use crate::context::command_context;
use crate::convert;
use crate::error::{ApiError, invalid_argument, status};
use crate::query_service::ReadGate;
use cashflow_app::ReportCommands;
use cashflow_app::input::RequestReport;
use cashflow_blob::{BlobKey, BlobStore};
use cashflow_domain::report::{ReportFormat, ReportPeriod, ReportStatus, ReportTrigger};
use cashflow_domain::{AccountId, ReportId, ValidationError, date::parse_date};
use cashflow_projection_reports::{ReportQueries, ReportView};
use cashflow_proto::v1 as pb;
use cashflow_proto::v1::report_service_server::ReportService;
use futures::{Stream, StreamExt};
use std::pin::Pin;
use std::sync::Arc;
use tonic::{Request, Response, Status};

type ChunkStream = Pin<Box<dyn Stream<Item = Result<pb::DownloadReportResponse, Status>> + Send>>;

#[derive(Clone)]
pub struct ReportApi {
    commands: ReportCommands,
    queries: ReportQueries,
    gate: ReadGate,
    blobs: Arc<dyn BlobStore>,
}

impl ReportApi {
    pub fn new(commands: ReportCommands, queries: ReportQueries, gate: ReadGate, blobs: Arc<dyn BlobStore>) -> Self {
        Self { commands, queries, gate, blobs }
    }
}

/// A RequestReport message as the command's input.
pub fn request_report_input(request: &pb::RequestReportRequest) -> Result<RequestReport, ValidationError> {
    let command_id = convert::command_id(&request.command_id)?;
    let from = parse_date("from", &request.from)?;
    let to = parse_date("to", &request.to)?;
    let period = ReportPeriod::new(from, to, "to")?;
    let format = match pb::ReportFormat::try_from(request.format) {
        Ok(pb::ReportFormat::Pdf) => ReportFormat::Pdf,
        Ok(pb::ReportFormat::Csv) => ReportFormat::Csv,
        _ => return Err(ValidationError::new("format", "must be REPORT_FORMAT_PDF or REPORT_FORMAT_CSV")),
    };
    let mut account_ids =
        request.account_ids.iter().map(|raw| AccountId::parse("account_ids", raw)).collect::<Result<Vec<_>, _>>()?;
    account_ids.sort();
    account_ids.dedup();
    Ok(RequestReport { command_id, report_id: None, period, format, account_ids })
}

fn report_id(raw: &str) -> Result<ReportId, Status> {
    ReportId::parse("report_id", raw).map_err(|error| invalid_argument(&error))
}

pub fn report_to_proto(view: ReportView) -> pb::Report {
    pb::Report {
        report_id: view.report_id.to_string(),
        status: match view.status {
            ReportStatus::Pending => pb::ReportStatus::Pending,
            ReportStatus::Ready => pb::ReportStatus::Ready,
            ReportStatus::Failed => pb::ReportStatus::Failed,
        } as i32,
        format: match view.format {
            ReportFormat::Pdf => pb::ReportFormat::Pdf,
            ReportFormat::Csv => pb::ReportFormat::Csv,
        } as i32,
        from: convert::date(view.from),
        to: convert::date(view.to),
        size_bytes: view.size_bytes.unwrap_or_default(),
        sha256: view.sha256.unwrap_or_default(),
        failure_reason: view.failure_reason.unwrap_or_default(),
        created_at: Some(convert::timestamp(view.created_at)),
        ready_at: view.ready_at.map(convert::timestamp),
        account_ids: view.account_ids.iter().map(ToString::to_string).collect(),
        as_of_position: view.as_of_position,
    }
}

#[tonic::async_trait]
impl ReportService for ReportApi {
    type DownloadReportStream = ChunkStream;

    #[tracing::instrument(name = "reports.request", skip_all, err(level = "info"))]
    async fn request_report(
        &self,
        request: Request<pb::RequestReportRequest>,
    ) -> Result<Response<pb::RequestReportResponse>, Status> {
        let caller = Caller::of(&request)?;
        let input = request_report_input(request.get_ref()).map_err(|error| invalid_argument(&error))?;
        let context = command_context(caller, request.metadata(), input.command_id);
        let created = self.commands.request_report(&context, input, ReportTrigger::Requested).await.map_err(status)?;
        Ok(Response::new(pb::RequestReportResponse { report_id: created.id.to_string(), position: created.position }))
    }

    #[tracing::instrument(name = "reports.get", skip_all, err(level = "info"))]
    async fn get_report(
        &self,
        request: Request<pb::GetReportRequest>,
    ) -> Result<Response<pb::GetReportResponse>, Status> {
        Caller::of(&request)?;
        let report_id = report_id(&request.get_ref().report_id)?;
        let caller = self.gate.caller_after(&request, request.get_ref().min_position).await?;
        let view = self
            .queries
            .get(caller.user_id.as_uuid(), report_id.as_uuid())
            .await
            .map_err(status)?
            .ok_or_else(|| Status::not_found("report not found"))?;
        Ok(Response::new(pb::GetReportResponse { report: Some(report_to_proto(view)) }))
    }

    #[tracing::instrument(name = "reports.list", skip_all, err(level = "info"))]
    async fn list_reports(
        &self,
        request: Request<pb::ListReportsRequest>,
    ) -> Result<Response<pb::ListReportsResponse>, Status> {
        Caller::of(&request)?;
        let message = request.get_ref();
        let page_size = convert::page_size(message.page_size).map_err(|e| invalid_argument(&e))?;
        let after = convert::position_page_token(&message.page_token).map_err(|e| invalid_argument(&e))?;
        let caller = self.gate.caller_after(&request, message.min_position).await?;
        let page = self.queries.list(caller.user_id.as_uuid(), page_size, after).await.map_err(status)?;
        Ok(Response::new(pb::ListReportsResponse {
            reports: page.reports.into_iter().map(report_to_proto).collect(),
            next_page_token: page.next.map(|cursor| cursor.encode()).unwrap_or_default(),
        }))
    }

    /// The file as stored, read from the report's own stream (not the read model), so a report
    /// is downloadable as soon as its ReportGenerated is appended.
    #[tracing::instrument(name = "reports.download", skip_all, err(level = "info"))]
    async fn download_report(
        &self,
        request: Request<pb::DownloadReportRequest>,
    ) -> Result<Response<Self::DownloadReportStream>, Status> {
        let caller = Caller::of(&request)?;
        let report_id = report_id(&request.get_ref().report_id)?;
        let generated = self.commands.generated_report(caller.user_id, report_id).await.map_err(status)?;
        let key = BlobKey::parse(&generated.blob_key).map_err(|e| status(ApiError::internal(e)))?;
        let chunks = self.blobs.get_stream(&key).await.map_err(|error| {
            tracing::error!(%key, %error, "a report's file cannot be read");
            Status::unavailable("the report's file cannot be read now")
        })?;
        let stream = chunks.map(|chunk| match chunk {
            Ok(chunk) => Ok(pb::DownloadReportResponse { chunk: chunk.to_vec() }),
            Err(error) => {
                tracing::error!(%error, "reading a report's file failed midway");
                Err(Status::unavailable("the report's file cannot be read now"))
            }
        });
        Ok(Response::new(Box::pin(stream)))
    }
}
