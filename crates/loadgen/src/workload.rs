//! What a simulated person does, with data shaped like a bank feed: merchants, log-normal
//! amounts in cents, recent dates, a share of categorisation, voids and reads.

use crate::report::{FRESHNESS, Recorder};
use crate::rng::Rng;
use anyhow::Context;
use cashflow_domain::UserId;
use cashflow_proto::v1::{
    AssignCategoryRequest, CreateCategoryRequest, Direction, GetBalancesRequest, GetCategorySummaryRequest,
    GetMovementRequest, ListMovementsRequest, OpenAccountRequest, RecordMovementRequest, VoidMovementRequest,
    ledger_service_client::LedgerServiceClient, query_service_client::QueryServiceClient,
};
use rust_decimal::Decimal;
use std::time::{Duration, Instant};
use tonic::metadata::{Ascii, MetadataValue};
use tonic::transport::Channel;
use uuid::Uuid;

const CATEGORIES: [&str; 6] = ["Groceries", "Rent", "Transport", "Restaurants", "Utilities", "Salary"];

/// Counterparty, index into [`CATEGORIES`], median amount in euros, whether it pays us.
const MERCHANTS: [(&str, usize, f64, bool); 14] = [
    ("Mercadona", 0, 38.0, false),
    ("Carrefour", 0, 52.0, false),
    ("Lidl", 0, 27.0, false),
    ("Fruteria Lopez", 0, 9.5, false),
    ("Inmobiliaria Sol", 1, 850.0, false),
    ("Renfe", 2, 14.0, false),
    ("Cabify", 2, 11.0, false),
    ("Repsol", 2, 55.0, false),
    ("La Tasca", 3, 31.0, false),
    ("Cafe Central", 3, 4.2, false),
    ("Iberdrola", 4, 64.0, false),
    ("Movistar", 4, 39.9, false),
    ("ACME Payroll", 5, 2350.0, true),
    ("Freelance client", 5, 420.0, true),
];

/// One simulated person: a token, accounts, categories, and the movements they can still change.
pub struct Person {
    authorization: MetadataValue<Ascii>,
    accounts: Vec<String>,
    categories: Vec<String>,
    movements: Vec<String>,
}

impl Person {
    /// Registers a new person's accounts and categories (not measured).
    pub async fn set_up(channel: Channel, jwt_secret: &str, seed: u64) -> anyhow::Result<Self> {
        let token = cashflow_identity::issue_token(jwt_secret, UserId::new().as_uuid(), Duration::from_secs(24 * 3600));
        let authorization = format!("Bearer {token}").parse().context("token is not ASCII")?;
        let mut person = Self { authorization, accounts: Vec::new(), categories: Vec::new(), movements: Vec::new() };
        let mut rng = Rng::new(seed);
        let mut ledger = LedgerServiceClient::new(channel);
        for name in ["Checking", "Savings"].iter().take(1 + rng.below(2)) {
            let opened = ledger
                .open_account(person.request(OpenAccountRequest {
                    command_id: Uuid::now_v7().to_string(),
                    name: (*name).into(),
                    currency: "EUR".into(),
                    opening_balance: Some(format!("{}.00", 500 + rng.below(5000))),
                }))
                .await
                .context("opening an account")?;
            person.accounts.push(opened.into_inner().account_id);
        }
        for name in CATEGORIES {
            let created = ledger
                .create_category(person.request(CreateCategoryRequest {
                    command_id: Uuid::now_v7().to_string(),
                    name: name.into(),
                    parent_id: None,
                }))
                .await
                .context("creating a category")?;
            person.categories.push(created.into_inner().category_id);
        }
        Ok(person)
    }

    fn request<T>(&self, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        request.metadata_mut().insert("authorization", self.authorization.clone());
        request
    }
}

/// One connection and the people whose actions it sends.
pub struct Client {
    ledger: LedgerServiceClient<Channel>,
    query: QueryServiceClient<Channel>,
    people: Vec<Person>,
    rng: Rng,
    freshness_every: u64,
    recorded: u64,
    /// Freshness probes in flight: each waits for its movement beside the client's loop, so a
    /// probe's wait (the projection lag) does not hold back the client's next command.
    probes: tokio::task::JoinSet<Result<Duration, tonic::Code>>,
}

impl Client {
    pub fn new(channel: Channel, people: Vec<Person>, seed: u64, freshness_every: u64) -> Self {
        Self {
            ledger: LedgerServiceClient::new(channel.clone()),
            query: QueryServiceClient::new(channel),
            people,
            rng: Rng::new(seed),
            freshness_every: freshness_every.max(1),
            recorded: 0,
            probes: tokio::task::JoinSet::new(),
        }
    }

    /// Sends operations until `deadline` or `max_operations`. With an `interval`, operation n is
    /// due at start + n × interval and its latency counts from then (open loop).
    pub async fn run(mut self, deadline: Instant, max_operations: Option<u64>, interval: Option<Duration>) -> Recorder {
        let mut recorder = Recorder::default();
        let start = tokio::time::Instant::now();
        let deadline = tokio::time::Instant::from_std(deadline);
        let mut sent = 0u64;
        while max_operations.is_none_or(|max| sent < max) {
            let intended = match interval {
                Some(interval) => start + interval.mul_f64(sent as f64),
                None => tokio::time::Instant::now(),
            };
            if intended >= deadline {
                break;
            }
            tokio::time::sleep_until(intended).await;
            sent += 1;
            self.step(intended.into_std(), &mut recorder).await;
        }
        while let Some(probe) = self.probes.join_next().await {
            match probe {
                Ok(Ok(latency)) => recorder.ok(FRESHNESS, latency),
                Ok(Err(code)) => recorder.error(FRESHNESS, code),
                Err(_) => recorder.error(FRESHNESS, tonic::Code::Internal),
            }
        }
        recorder
    }

    async fn step(&mut self, intended: Instant, recorder: &mut Recorder) {
        let who = self.rng.below(self.people.len());
        let has_movements = !self.people[who].movements.is_empty();
        match self.rng.below(100) {
            70..80 if has_movements => self.assign(who, intended, recorder).await,
            80..82 if has_movements => self.void(who, intended, recorder).await,
            82..92 => {
                let request = self.people[who].request(ListMovementsRequest { page_size: 20, ..Default::default() });
                let result = self.query.list_movements(request).await;
                record(recorder, "ListMovements", intended, result.map(|_| ()));
            }
            92..97 => {
                let request = self.people[who].request(GetBalancesRequest::default());
                let result = self.query.get_balances(request).await;
                record(recorder, "GetBalances", intended, result.map(|_| ()));
            }
            97.. => {
                let request = self.people[who].request(GetCategorySummaryRequest::default());
                let result = self.query.get_category_summary(request).await;
                record(recorder, "GetCategorySummary", intended, result.map(|_| ()));
            }
            _ => self.record_movement(who, intended, recorder).await,
        }
    }

    async fn record_movement(&mut self, who: usize, intended: Instant, recorder: &mut Recorder) {
        let (counterparty, category, median, income) = *self.rng.pick(&MERCHANTS);
        let cents = (self.rng.log_normal(median, 0.6) * 100.0).round().clamp(1.0, 1e11) as i64;
        let days_ago = self.rng.below(60) as u64;
        let occurred_on = chrono::Utc::now().date_naive() - chrono::Days::new(days_ago);
        let person = &self.people[who];
        let message = RecordMovementRequest {
            command_id: Uuid::now_v7().to_string(),
            account_id: self.rng.pick(&person.accounts).clone(),
            direction: if income { Direction::Income } else { Direction::Expense } as i32,
            amount: Decimal::new(cents, 2).to_string(),
            occurred_on: occurred_on.format("%Y-%m-%d").to_string(),
            description: format!("{counterparty} {}", 1000 + self.rng.below(9000)),
            counterparty: Some(counterparty.into()),
            // Four in ten arrive categorised; the rest are categorised later (or never).
            category_id: (self.rng.below(10) < 4).then(|| person.categories[category].clone()),
        };
        let request = person.request(message);
        let result = self.ledger.record_movement(request).await;
        let acknowledged = Instant::now();
        let Some(response) = record(recorder, "RecordMovement", intended, result) else { return };
        let response = response.into_inner();
        self.people[who].movements.push(response.movement_id.clone());
        self.recorded += 1;
        if self.recorded.is_multiple_of(self.freshness_every) {
            let request = self.people[who].request(GetMovementRequest {
                movement_id: response.movement_id,
                min_position: Some(response.position),
            });
            let mut query = self.query.clone();
            self.probes.spawn(async move {
                match query.get_movement(request).await {
                    Ok(_) => Ok(acknowledged.elapsed()),
                    Err(status) => Err(status.code()),
                }
            });
        }
    }

    async fn assign(&mut self, who: usize, intended: Instant, recorder: &mut Recorder) {
        let person = &self.people[who];
        let message = AssignCategoryRequest {
            command_id: Uuid::now_v7().to_string(),
            movement_id: self.rng.pick(&person.movements).clone(),
            category_id: self.rng.pick(&person.categories).clone(),
            expected_version: None,
        };
        let result = self.ledger.assign_category(person.request(message)).await;
        record(recorder, "AssignCategory", intended, result.map(|_| ()));
    }

    async fn void(&mut self, who: usize, intended: Instant, recorder: &mut Recorder) {
        let index = self.rng.below(self.people[who].movements.len());
        let movement_id = self.people[who].movements.swap_remove(index);
        let message = VoidMovementRequest {
            command_id: Uuid::now_v7().to_string(),
            movement_id,
            reason: "duplicate charge".into(),
        };
        let result = self.ledger.void_movement(self.people[who].request(message)).await;
        record(recorder, "VoidMovement", intended, result.map(|_| ()));
    }
}

/// Records the outcome of one call, its latency counted from `since`; the value if it succeeded.
fn record<T>(
    recorder: &mut Recorder,
    rpc: &'static str,
    since: Instant,
    result: Result<T, tonic::Status>,
) -> Option<T> {
    match result {
        Ok(value) => {
            recorder.ok(rpc, since.elapsed());
            Some(value)
        }
        Err(status) => {
            recorder.error(rpc, status.code());
            None
        }
    }
}
