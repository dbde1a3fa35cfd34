//! The adapter contract, run against the local filesystem in a fresh temporary directory per case.

use cashflow_blob::{ObjectStoreBlobs, contract};
use std::sync::Arc;
use url::Url;

macro_rules! one_test_per_case {
    ($($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let dir = tempfile::tempdir().unwrap();
                let url = Url::from_directory_path(dir.path()).unwrap();
                contract::$case(Arc::new(ObjectStoreBlobs::from_url(url.as_str()).unwrap())).await;
            }
        )*
    };
}

cashflow_blob::contract_cases!(one_test_per_case);
