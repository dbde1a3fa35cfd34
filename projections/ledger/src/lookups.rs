//! The application's ledger lookups, answered from this read model.

use crate::queries::{LedgerQueries, QueryError, RuleCandidate};
use cashflow_app::{LedgerLookups, PortError, RulesVersion};
use cashflow_domain::rule::CompiledRule;
use cashflow_domain::{AccountId, UserId};
use chrono::NaiveDate;
use uuid::Uuid;

/// Down is worth a retry; corrupt rows are not.
fn port_error(error: QueryError) -> PortError {
    match error {
        QueryError::Unavailable(_) => PortError::Unavailable(error.to_string()),
        QueryError::Corrupt(_) => PortError::Failed(error.to_string()),
    }
}

#[async_trait::async_trait]
impl LedgerLookups for LedgerQueries {
    async fn account_ids(&self, owner: UserId) -> Result<Vec<AccountId>, PortError> {
        let balances = self.balances(owner.as_uuid()).await.map_err(port_error)?;
        Ok(balances.into_iter().map(|account| AccountId::from_uuid(account.account_id)).collect())
    }

    async fn compiled_rules(&self, owner: UserId) -> Result<Vec<CompiledRule>, PortError> {
        LedgerQueries::compiled_rules(self, owner.as_uuid()).await.map_err(port_error)
    }

    async fn rules_version(&self, owner: UserId) -> Result<RulesVersion, PortError> {
        LedgerQueries::rules_version(self, owner.as_uuid()).await.map_err(port_error)
    }

    async fn rule_candidates(
        &self,
        owner: UserId,
        from: Option<NaiveDate>,
        to: Option<NaiveDate>,
        after: Option<(NaiveDate, Uuid)>,
        limit: u32,
    ) -> Result<Vec<RuleCandidate>, PortError> {
        LedgerQueries::rule_candidates(self, owner.as_uuid(), from, to, after, limit).await.map_err(port_error)
    }
}
