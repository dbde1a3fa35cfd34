//! The adapter contract, run against the in-memory store, bare and under a key prefix.

use cashflow_blob::object_store::memory::InMemory;
use cashflow_blob::{BlobKey, BlobStore, ObjectStoreBlobs, contract, in_memory};
use std::sync::Arc;

macro_rules! one_test_per_case {
    ($($case:ident),* $(,)?) => {
        mod bare {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    contract::$case(in_memory()).await;
                }
            )*
        }

        mod prefixed {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    contract::$case(Arc::new(ObjectStoreBlobs::from_url("memory:///tenant-a/blobs").unwrap())).await;
                }
            )*
        }
    };
}

cashflow_blob::contract_cases!(one_test_per_case);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_all_runs_every_case() {
    contract::run_all(|| async { in_memory() }).await;
}

#[tokio::test]
async fn stores_under_different_prefixes_share_a_backend_without_colliding() {
    let backend = Arc::new(InMemory::new());
    let prefixed = |prefix: &str| ObjectStoreBlobs::new(backend.clone(), Some(BlobKey::parse(prefix).unwrap()));
    let (first, second, bare) = (prefixed("first"), prefixed("second"), ObjectStoreBlobs::new(backend.clone(), None));
    let key = contract::key("invoices/u/h");

    first.put(&key, "first".into()).await.unwrap();
    assert!(!second.exists(&key).await.unwrap());
    second.put(&key, "second".into()).await.unwrap();

    assert_eq!(first.get(&key).await.unwrap(), "first");
    assert_eq!(second.get(&key).await.unwrap(), "second");
    assert!(!bare.exists(&key).await.unwrap());
    assert_eq!(bare.get(&contract::key("first/invoices/u/h")).await.unwrap(), "first", "the prefix leads the path");
}
