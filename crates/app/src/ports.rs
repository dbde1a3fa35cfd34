//! What commands read besides the event store, as ports an adapter implements: the ledger read
//! model answers [`LedgerLookups`], blob storage is [`cashflow_blob::BlobStore`]. A second storage
//! family (SQLite for a single binary) implements the same traits; nothing here changes.

use cashflow_domain::movement::Direction;
use cashflow_domain::rule::{CompiledRule, MovementFacts};
use cashflow_domain::{AccountId, UserId};
use chrono::NaiveDate;
use rust_decimal::Decimal;
use thiserror::Error;
use uuid::Uuid;

/// Why a port could not answer.
#[derive(Debug, Error)]
pub enum PortError {
    /// Down or overloaded: the same call may succeed later.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// Broken data or a bug behind the port: retrying will not help.
    #[error("{0}")]
    Failed(String),
}

/// The ledger read model's answers that commands need: an invoice's default account, the rules
/// and the movements a rules run goes over. Eventually consistent: a command must still let the
/// aggregate's `decide` have the last word.
#[async_trait::async_trait]
pub trait LedgerLookups: Send + Sync + 'static {
    /// The accounts `owner` has.
    async fn account_ids(&self, owner: UserId) -> Result<Vec<AccountId>, PortError>;
    /// `owner`'s categorisation rules, compiled, best first.
    async fn compiled_rules(&self, owner: UserId) -> Result<Vec<CompiledRule>, PortError>;
    /// How many rules `owner` has and where the last was added: one cheap read, for the cap on
    /// rules and for telling whether rules compiled earlier are still `owner`'s rules.
    async fn rules_version(&self, owner: UserId) -> Result<RulesVersion, PortError>;
    /// Up to `limit` of `owner`'s movements that are not voided, dated from `from` to `to`
    /// inclusive (`None` is unbounded), newest first after `after`: pass the last candidate's
    /// [`RuleCandidate::position`] for the next page, until one comes back shorter than `limit`.
    async fn rule_candidates(
        &self,
        owner: UserId,
        from: Option<NaiveDate>,
        to: Option<NaiveDate>,
        after: Option<(NaiveDate, Uuid)>,
        limit: u32,
    ) -> Result<Vec<RuleCandidate>, PortError>;
}

/// A person's rules as of one moment of the read model: it changes whenever a rule is added
/// (the count and the position grow) or removed (the count falls), so compiled rules cached with
/// it are current exactly while it is unchanged.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct RulesVersion {
    /// How many rules the person has, across all their categories.
    pub count: u64,
    /// The global position of the last CategorizationRuleAdded among them (0 when none).
    pub last_added: u64,
}

/// A movement that rules may categorise: one that is not voided, with the facts rules match on.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleCandidate {
    pub movement_id: Uuid,
    pub occurred_on: NaiveDate,
    pub description: String,
    pub counterparty: Option<String>,
    pub amount: Decimal,
    pub direction: Direction,
    /// Its category now, if any. Whether a person chose it is the movement aggregate's to
    /// know: its `decide` never lets a rule overwrite a person's choice.
    pub category_id: Option<Uuid>,
}

impl RuleCandidate {
    /// Where the next page of candidates starts: pass it as `after`.
    pub fn position(&self) -> (NaiveDate, Uuid) {
        (self.occurred_on, self.movement_id)
    }

    /// What a rule looks at, for [`CompiledRule::matches`].
    pub fn facts(&self) -> MovementFacts<'_> {
        MovementFacts {
            description: &self.description,
            counterparty: self.counterparty.as_deref(),
            amount: self.amount,
            direction: self.direction,
        }
    }
}
