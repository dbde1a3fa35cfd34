//! The adapter contract, run against PostgreSQL: each case on a database of its own.

mod support;

use cashflow_eventstore::contract;

macro_rules! one_test_per_case {
    ($($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                support::with_store(contract::$case).await;
            }
        )*
    };
}

cashflow_eventstore::contract_cases!(one_test_per_case);
