//! `cashflow.v1.LedgerService`: parses each command at the edge and hands it to the
//! application's [`CommandHandler`] (and [`RuleRunner`] for ApplyRules).

use crate::auth::Caller;
use crate::context::command_context;
use crate::convert::FromRequest;
use crate::error::status;
use cashflow_app::input::{
    AddRule, ApplyRules, AssignCategory, Command, CreateCategory, OpenAccount, RecordMovement, RenameCategory,
    SetBudget, VoidMovement,
};
use cashflow_app::{BudgetCommands, CommandContext, CommandHandler, RuleRunner};
use cashflow_proto::v1 as pb;
use cashflow_proto::v1::ledger_service_server::LedgerService;
use tonic::{Request, Response, Status};

#[derive(Debug, Clone)]
pub struct LedgerApi {
    handler: CommandHandler,
    rules: RuleRunner,
    budgets: BudgetCommands,
}

impl LedgerApi {
    pub fn new(handler: CommandHandler, rules: RuleRunner, budgets: BudgetCommands) -> Self {
        Self { handler, rules, budgets }
    }
}

/// The validated input and the command's context, or the status that refuses the request.
/// The caller is checked first, so an anonymous request learns nothing about its fields.
pub(crate) fn accept<M, I>(request: Request<M>) -> Result<(CommandContext, I), Status>
where
    I: FromRequest<M> + Command,
{
    let caller = Caller::of(&request)?;
    let (metadata, _, message) = request.into_parts();
    let input = I::from_request(message).map_err(status)?;
    let context = command_context(caller, &metadata, input.command_id());
    Ok((context, input))
}

#[tonic::async_trait]
impl LedgerService for LedgerApi {
    async fn open_account(
        &self,
        request: Request<pb::OpenAccountRequest>,
    ) -> Result<Response<pb::OpenAccountResponse>, Status> {
        let (context, input) = accept::<_, OpenAccount>(request)?;
        let created = self.handler.open_account(&context, input).await.map_err(status)?;
        Ok(Response::new(pb::OpenAccountResponse { account_id: created.id.to_string(), position: created.position }))
    }

    async fn record_movement(
        &self,
        request: Request<pb::RecordMovementRequest>,
    ) -> Result<Response<pb::RecordMovementResponse>, Status> {
        let (context, input) = accept::<_, RecordMovement>(request)?;
        let created = self.handler.record_movement(&context, input).await.map_err(status)?;
        Ok(Response::new(pb::RecordMovementResponse {
            movement_id: created.id.to_string(),
            position: created.position,
        }))
    }

    async fn assign_category(
        &self,
        request: Request<pb::AssignCategoryRequest>,
    ) -> Result<Response<pb::AssignCategoryResponse>, Status> {
        let (context, input) = accept::<_, AssignCategory>(request)?;
        let position = self.handler.assign_category(&context, input).await.map_err(status)?;
        Ok(Response::new(pb::AssignCategoryResponse { position }))
    }

    async fn void_movement(
        &self,
        request: Request<pb::VoidMovementRequest>,
    ) -> Result<Response<pb::VoidMovementResponse>, Status> {
        let (context, input) = accept::<_, VoidMovement>(request)?;
        let position = self.handler.void_movement(&context, input).await.map_err(status)?;
        Ok(Response::new(pb::VoidMovementResponse { position }))
    }

    async fn create_category(
        &self,
        request: Request<pb::CreateCategoryRequest>,
    ) -> Result<Response<pb::CreateCategoryResponse>, Status> {
        let (context, input) = accept::<_, CreateCategory>(request)?;
        let created = self.handler.create_category(&context, input).await.map_err(status)?;
        Ok(Response::new(pb::CreateCategoryResponse {
            category_id: created.id.to_string(),
            position: created.position,
        }))
    }

    async fn rename_category(
        &self,
        request: Request<pb::RenameCategoryRequest>,
    ) -> Result<Response<pb::RenameCategoryResponse>, Status> {
        let (context, input) = accept::<_, RenameCategory>(request)?;
        let position = self.handler.rename_category(&context, input).await.map_err(status)?;
        Ok(Response::new(pb::RenameCategoryResponse { position }))
    }

    async fn set_budget(
        &self,
        request: Request<pb::SetBudgetRequest>,
    ) -> Result<Response<pb::SetBudgetResponse>, Status> {
        let (context, input) = accept::<_, SetBudget>(request)?;
        let created = self.budgets.set_budget(&context, input).await.map_err(status)?;
        Ok(Response::new(pb::SetBudgetResponse { budget_id: created.id.to_string(), position: created.position }))
    }

    async fn add_categorization_rule(
        &self,
        request: Request<pb::AddCategorizationRuleRequest>,
    ) -> Result<Response<pb::AddCategorizationRuleResponse>, Status> {
        let (context, input) = accept::<_, AddRule>(request)?;
        let created = self.rules.add_rule(&context, input).await.map_err(status)?;
        Ok(Response::new(pb::AddCategorizationRuleResponse {
            rule_id: created.id.to_string(),
            position: created.position,
        }))
    }

    async fn apply_rules(
        &self,
        request: Request<pb::ApplyRulesRequest>,
    ) -> Result<Response<pb::ApplyRulesResponse>, Status> {
        let (context, input) = accept::<_, ApplyRules>(request)?;
        let (movements_categorised, position) = self.rules.apply_rules(&context, input).await.map_err(status)?;
        Ok(Response::new(pb::ApplyRulesResponse { movements_categorised, position }))
    }
}

#[cfg(test)]
mod tests;
