//! The adapter contract, run against the in-memory store.

use cashflow_eventstore::InMemoryEventStore;
use cashflow_eventstore::contract;

macro_rules! one_test_per_case {
    ($($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                contract::$case(InMemoryEventStore::new()).await;
            }
        )*
    };
}

cashflow_eventstore::contract_cases!(one_test_per_case);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_all_runs_every_case() {
    contract::run_all(|| async { InMemoryEventStore::new() }).await;
}
