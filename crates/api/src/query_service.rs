//! `cashflow.v1.QueryService`: reads of the ledger read model and the search view, scoped to
//! the caller, after waiting for the read model to reach the client's `min_position`.

use crate::auth::Caller;
use crate::context::grpc_timeout;
use crate::convert::{self, ListMovements, SummaryRange};
use crate::error::{ApiError, invalid_argument, status};
use cashflow_app::history::load_books;
use cashflow_domain::ValidationError;
use cashflow_domain::date::parse_date;
use cashflow_eventstore::EventStore;
use cashflow_projection::CheckpointWatch;
use cashflow_projection_ledger::LedgerQueries;
use cashflow_projection_search::SearchQueries;
use cashflow_proto::v1 as pb;
use cashflow_proto::v1::query_service_server::QueryService;
use std::sync::Arc;
use std::time::Duration;
use tonic::{Request, Response, Status};

/// How long a query waits for `min_position` when the call sets no deadline, and at most.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaitLimits {
    pub default: Duration,
    pub max: Duration,
}

impl Default for WaitLimits {
    fn default() -> Self {
        Self { default: Duration::from_secs(5), max: Duration::from_secs(60) }
    }
}

#[derive(Clone)]
pub struct QueryApi {
    queries: Arc<LedgerQueries>,
    gate: ReadGate,
    search: Arc<SearchQueries>,
    /// On the search view's checkpoint: it applies events apart from the ledger.
    search_gate: ReadGate,
    /// For balances as of a day, folded from the store.
    store: Arc<dyn EventStore>,
}

impl std::fmt::Debug for QueryApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueryApi")
            .field("gate", &self.gate)
            .field("search_gate", &self.search_gate)
            .finish_non_exhaustive()
    }
}

impl QueryApi {
    pub fn new(
        queries: Arc<LedgerQueries>,
        gate: ReadGate,
        search: Arc<SearchQueries>,
        search_gate: ReadGate,
        store: Arc<dyn EventStore>,
    ) -> Self {
        Self { queries, gate, search, search_gate, store }
    }

    async fn caller_after<T>(&self, request: &Request<T>, min_position: Option<u64>) -> Result<Caller, Status> {
        self.gate.caller_after(request, min_position).await
    }
}

/// Answers a read only once a read model has applied the client's `min_position`.
#[derive(Clone)]
pub struct ReadGate {
    store: Arc<dyn EventStore>,
    checkpoints: Arc<CheckpointWatch>,
    limits: WaitLimits,
}

impl std::fmt::Debug for ReadGate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadGate").field("limits", &self.limits).finish_non_exhaustive()
    }
}

impl ReadGate {
    pub fn new(store: Arc<dyn EventStore>, checkpoints: Arc<CheckpointWatch>, limits: WaitLimits) -> Self {
        Self { store, checkpoints, limits }
    }

    /// The caller, once the read model has applied `min_position`.
    ///
    /// A position beyond the store's head was never handed out: INVALID_ARGUMENT rather than
    /// a wait that cannot end. Otherwise the wait ends a little before the call's deadline,
    /// so the client gets DEADLINE_EXCEEDED from us and not a cancelled stream.
    #[tracing::instrument(name = "query.wait_for_position", skip_all, err(level = "info"),
        fields(min_position = ?min_position))]
    pub async fn caller_after<T>(&self, request: &Request<T>, min_position: Option<u64>) -> Result<Caller, Status> {
        let caller = Caller::of(request)?;
        let Some(position) = min_position.filter(|p| *p > 0) else { return Ok(caller) };
        if self.checkpoints.current() >= position {
            return Ok(caller);
        }
        let head = self.store.head().await.map_err(status)?;
        if position > head {
            return Err(invalid_argument(&ValidationError::new(
                "min_position",
                format!("is beyond the last committed position ({head})"),
            )));
        }
        let deadline = grpc_timeout(request.metadata()).unwrap_or(self.limits.default).min(self.limits.max);
        // The client's clock started before ours (the request's trip, a busy scheduler): on a
        // loaded 2-core machine 100 ms was not always enough for our answer to arrive first.
        let margin = (deadline / 5).min(Duration::from_millis(250));
        if self.checkpoints.wait_for(position, deadline.saturating_sub(margin)).await {
            Ok(caller)
        } else {
            Err(ApiError::NotCaughtUp(position).into())
        }
    }
}

#[tonic::async_trait]
impl QueryService for QueryApi {
    #[tracing::instrument(name = "query.list_movements", skip_all, err(level = "info"))]
    async fn list_movements(
        &self,
        request: Request<pb::ListMovementsRequest>,
    ) -> Result<Response<pb::ListMovementsResponse>, Status> {
        let caller = Caller::of(&request)?;
        let input = ListMovements::try_from(request.get_ref()).map_err(status)?;
        self.caller_after(&request, request.get_ref().min_position).await?;
        let page = self
            .queries
            .list_movements(caller.user_id.as_uuid(), &input.filter, input.page_size, input.after.as_ref())
            .await
            .map_err(status)?;
        Ok(Response::new(pb::ListMovementsResponse {
            movements: page.movements.into_iter().map(convert::movement_to_proto).collect(),
            next_page_token: page.next.map(|cursor| cursor.encode()).unwrap_or_default(),
        }))
    }

    #[tracing::instrument(name = "query.get_movement", skip_all, err(level = "info"))]
    async fn get_movement(
        &self,
        request: Request<pb::GetMovementRequest>,
    ) -> Result<Response<pb::GetMovementResponse>, Status> {
        Caller::of(&request)?;
        let movement_id = convert::movement_id(&request.get_ref().movement_id).map_err(status)?;
        let caller = self.caller_after(&request, request.get_ref().min_position).await?;
        let movement = self
            .queries
            .get_movement(caller.user_id.as_uuid(), movement_id.as_uuid())
            .await
            .map_err(status)?
            .ok_or_else(|| Status::not_found("movement not found"))?;
        Ok(Response::new(pb::GetMovementResponse { movement: Some(convert::movement_to_proto(movement)) }))
    }

    #[tracing::instrument(name = "query.get_balances", skip_all, err(level = "info"))]
    async fn get_balances(
        &self,
        request: Request<pb::GetBalancesRequest>,
    ) -> Result<Response<pb::GetBalancesResponse>, Status> {
        Caller::of(&request)?;
        if let Some(raw) = request.get_ref().as_of.as_deref().filter(|raw| !raw.is_empty()) {
            let day = parse_date("as_of", raw).map_err(|error| invalid_argument(&error))?;
            // The store holds every committed position, so min_position is met already.
            let caller = self.caller_after(&request, None).await?;
            let head = self.store.head().await.map_err(status)?;
            let books = load_books(self.store.as_ref(), caller.user_id, head).await.map_err(status)?;
            return Ok(Response::new(pb::GetBalancesResponse {
                balances: books.balances_as_of(day).into_iter().map(convert::balance_as_of_to_proto).collect(),
            }));
        }
        let caller = self.caller_after(&request, request.get_ref().min_position).await?;
        let balances = self.queries.balances(caller.user_id.as_uuid()).await.map_err(status)?;
        Ok(Response::new(pb::GetBalancesResponse {
            balances: balances.into_iter().map(convert::balance_to_proto).collect(),
        }))
    }

    #[tracing::instrument(name = "query.get_category_summary", skip_all, err(level = "info"))]
    async fn get_category_summary(
        &self,
        request: Request<pb::GetCategorySummaryRequest>,
    ) -> Result<Response<pb::GetCategorySummaryResponse>, Status> {
        Caller::of(&request)?;
        let range = SummaryRange::try_from(request.get_ref()).map_err(status)?;
        let caller = self.caller_after(&request, request.get_ref().min_position).await?;
        let rows =
            self.queries.category_summary(caller.user_id.as_uuid(), range.from, range.to).await.map_err(status)?;
        Ok(Response::new(pb::GetCategorySummaryResponse {
            rows: rows.into_iter().map(convert::summary_row_to_proto).collect(),
        }))
    }

    #[tracing::instrument(name = "query.list_categories", skip_all, err(level = "info"))]
    async fn list_categories(
        &self,
        request: Request<pb::ListCategoriesRequest>,
    ) -> Result<Response<pb::ListCategoriesResponse>, Status> {
        let caller = self.caller_after(&request, request.get_ref().min_position).await?;
        let categories = self.queries.list_categories(caller.user_id.as_uuid()).await.map_err(status)?;
        Ok(Response::new(pb::ListCategoriesResponse {
            categories: categories.into_iter().map(convert::category_to_proto).collect(),
        }))
    }

    #[tracing::instrument(name = "query.get_budgets", skip_all, err(level = "info"))]
    async fn get_budgets(
        &self,
        request: Request<pb::GetBudgetsRequest>,
    ) -> Result<Response<pb::GetBudgetsResponse>, Status> {
        Caller::of(&request)?;
        let today = chrono::Utc::now().date_naive();
        let month = convert::budget_month(request.get_ref().month.as_deref(), today).map_err(status)?;
        let caller = self.caller_after(&request, request.get_ref().min_position).await?;
        let budgets = self.queries.budgets(caller.user_id.as_uuid(), month).await.map_err(status)?;
        Ok(Response::new(pb::GetBudgetsResponse {
            budgets: budgets.into_iter().map(convert::budget_to_proto).collect(),
        }))
    }

    #[tracing::instrument(name = "query.search_movements", skip_all, err(level = "info"))]
    async fn search_movements(
        &self,
        request: Request<pb::SearchMovementsRequest>,
    ) -> Result<Response<pb::SearchMovementsResponse>, Status> {
        Caller::of(&request)?;
        let search = convert::search_request(request.get_ref()).map_err(status)?;
        let caller = self.search_gate.caller_after(&request, request.get_ref().min_position).await?;
        let page = self.search.search(caller.user_id.as_uuid(), &search).await.map_err(status)?;
        Ok(Response::new(convert::search_page_to_proto(page)))
    }
}
