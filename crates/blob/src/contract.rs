//! The contract every [`BlobStore`] adapter must pass, whatever its storage.
//!
//! Each case takes a fresh, empty store and panics when the adapter breaks a guarantee.
//! Run them one test each (see this crate's `tests/contract_*.rs`), or all with [`run_all`].

use crate::{BlobError, BlobKey, BlobStore, CHUNK_SIZE};
use bytes::Bytes;
use futures::TryStreamExt;
use std::future::Future;
use std::sync::Arc;

/// Calls `$callback!` with the name of every contract case, so each adapter's test file and
/// [`run_all`] share this one list: a case added here runs against every adapter.
#[macro_export]
macro_rules! contract_cases {
    ($callback:ident) => {
        $callback!(
            put_then_get_returns_the_exact_bytes,
            an_empty_blob_round_trips,
            a_three_mebibyte_blob_round_trips,
            get_stream_yields_full_chunks_that_concatenate_to_the_blob,
            an_absent_blob_is_not_found,
            a_put_under_an_existing_key_replaces_the_whole_blob,
            exists_is_false_before_a_put_and_true_after,
            a_deleted_blob_is_gone,
            deleting_an_absent_blob_succeeds,
            keys_under_different_prefixes_do_not_collide,
            concurrent_puts_of_different_keys_all_land,
            readers_racing_an_overwrite_see_one_whole_blob,
            invalid_keys_are_refused_before_they_reach_a_store,
        );
    };
}

/// Runs every case, each on a store of its own from `make`.
pub async fn run_all<F, Fut>(make: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Arc<dyn BlobStore>>,
{
    macro_rules! run_each {
        ($($case:ident),* $(,)?) => {
            $($case(make().await).await;)*
        };
    }
    contract_cases!(run_each);
}

/// `key`, which must be valid.
pub fn key(key: &str) -> BlobKey {
    BlobKey::parse(key).unwrap()
}

/// `len` bytes of a pattern that differs per `seed` and never repeats at chunk boundaries, so a
/// dropped, doubled or reordered chunk shows.
pub fn blob(len: usize, seed: u64) -> Bytes {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            // xorshift64
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

fn assert_not_found<T: std::fmt::Debug>(result: Result<T, BlobError>, absent: &BlobKey) {
    match result {
        Err(BlobError::NotFound { key }) => assert_eq!(&key, absent, "NotFound names the key asked for"),
        other => panic!("expected NotFound for {absent}, got {other:?}"),
    }
}

async fn collect_stream(store: &dyn BlobStore, key: &BlobKey) -> Vec<Bytes> {
    store.get_stream(key).await.unwrap().try_collect().await.unwrap()
}

pub async fn put_then_get_returns_the_exact_bytes(store: Arc<dyn BlobStore>) {
    let invoice = key(
        "invoices/0190c1de-7b8a-7d41-9a51-0c2a3b4c5d6e/9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    );
    let bytes = Bytes::from_static(b"%PDF-1.7\n\x00\xff\r\n binary \x00 content");
    store.put(&invoice, bytes.clone()).await.unwrap();
    assert_eq!(store.get(&invoice).await.unwrap(), bytes);
}

pub async fn an_empty_blob_round_trips(store: Arc<dyn BlobStore>) {
    let empty = key("reports/empty.csv");
    store.put(&empty, Bytes::new()).await.unwrap();
    assert!(store.exists(&empty).await.unwrap());
    assert_eq!(store.get(&empty).await.unwrap(), Bytes::new());
    let chunks = collect_stream(&*store, &empty).await;
    assert!(chunks.iter().all(Bytes::is_empty), "an empty blob streams no bytes, got {} chunks", chunks.len());
}

pub async fn a_three_mebibyte_blob_round_trips(store: Arc<dyn BlobStore>) {
    let large = key("invoices/large/scan.tiff");
    let bytes = blob(3 * 1024 * 1024, 1);
    store.put(&large, bytes.clone()).await.unwrap();
    let read = store.get(&large).await.unwrap();
    assert_eq!(read.len(), bytes.len());
    assert!(read == bytes, "the 3 MiB blob reads back byte for byte");
}

pub async fn get_stream_yields_full_chunks_that_concatenate_to_the_blob(store: Arc<dyn BlobStore>) {
    let large = key("invoices/stream/scan.png");
    let bytes = blob(3 * 1024 * 1024 + 17, 2);
    store.put(&large, bytes.clone()).await.unwrap();

    let chunks = collect_stream(&*store, &large).await;
    assert_eq!(chunks.len(), bytes.len().div_ceil(CHUNK_SIZE));
    let (last, full) = chunks.split_last().unwrap();
    assert!(full.iter().all(|chunk| chunk.len() == CHUNK_SIZE), "every chunk but the last is CHUNK_SIZE");
    assert_eq!(last.len(), 17);
    assert!(chunks.concat() == bytes, "the chunks concatenate to the blob");

    let small = key("invoices/stream/small.txt");
    store.put(&small, Bytes::from_static(b"one chunk")).await.unwrap();
    assert_eq!(collect_stream(&*store, &small).await, vec![Bytes::from_static(b"one chunk")]);
}

pub async fn an_absent_blob_is_not_found(store: Arc<dyn BlobStore>) {
    let absent = key("invoices/absent/blob");
    assert_not_found(store.get(&absent).await, &absent);
    assert_not_found(store.get_stream(&absent).await.map(|_| ()), &absent);
    assert!(!store.exists(&absent).await.unwrap());
}

pub async fn a_put_under_an_existing_key_replaces_the_whole_blob(store: Arc<dyn BlobStore>) {
    let overwritten = key("invoices/u/h");
    store.put(&overwritten, blob(100_000, 3)).await.unwrap();
    // Shorter, so a write in place would leave the old tail behind.
    let replacement = Bytes::from_static(b"shorter");
    store.put(&overwritten, replacement.clone()).await.unwrap();
    assert_eq!(store.get(&overwritten).await.unwrap(), replacement);
    assert_eq!(collect_stream(&*store, &overwritten).await.concat(), replacement);
}

pub async fn exists_is_false_before_a_put_and_true_after(store: Arc<dyn BlobStore>) {
    let invoice = key("invoices/u/h");
    assert!(!store.exists(&invoice).await.unwrap());
    store.put(&invoice, Bytes::from_static(b"x")).await.unwrap();
    assert!(store.exists(&invoice).await.unwrap());
}

pub async fn a_deleted_blob_is_gone(store: Arc<dyn BlobStore>) {
    let invoice = key("invoices/u/h");
    let neighbour = key("invoices/u/other");
    store.put(&invoice, Bytes::from_static(b"x")).await.unwrap();
    store.put(&neighbour, Bytes::from_static(b"y")).await.unwrap();

    store.delete(&invoice).await.unwrap();
    assert_not_found(store.get(&invoice).await, &invoice);
    assert_not_found(store.get_stream(&invoice).await.map(|_| ()), &invoice);
    assert!(!store.exists(&invoice).await.unwrap());
    assert_eq!(store.get(&neighbour).await.unwrap(), Bytes::from_static(b"y"), "only the deleted key is gone");

    store.put(&invoice, Bytes::from_static(b"again")).await.unwrap();
    assert_eq!(store.get(&invoice).await.unwrap(), Bytes::from_static(b"again"), "a deleted key can be reused");
}

pub async fn deleting_an_absent_blob_succeeds(store: Arc<dyn BlobStore>) {
    let absent = key("invoices/never/stored");
    store.delete(&absent).await.unwrap();

    store.put(&absent, Bytes::from_static(b"x")).await.unwrap();
    store.delete(&absent).await.unwrap();
    store.delete(&absent).await.unwrap();
}

pub async fn keys_under_different_prefixes_do_not_collide(store: Arc<dyn BlobStore>) {
    let keys = [key("invoices/u/h"), key("reports/u/h"), key("invoices/v/h"), key("invoices/u/h2"), key("h")];
    for (seed, key) in keys.iter().enumerate() {
        store.put(key, blob(1000, seed as u64)).await.unwrap();
    }
    for (seed, key) in keys.iter().enumerate() {
        assert!(store.get(key).await.unwrap() == blob(1000, seed as u64), "{key} holds its own bytes");
    }
    // A key's parent is not itself a blob.
    let parent = self::key("invoices/u");
    assert!(!store.exists(&parent).await.unwrap());
    assert_not_found(store.get(&parent).await, &parent);
}

pub async fn concurrent_puts_of_different_keys_all_land(store: Arc<dyn BlobStore>) {
    let writers: Vec<_> = (0..32u64)
        .map(|writer| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let key = key(&format!("invoices/writer-{writer}/blob"));
                store.put(&key, blob(50_000 + writer as usize, writer)).await.unwrap();
            })
        })
        .collect();
    for writer in writers {
        writer.await.unwrap();
    }
    for writer in 0..32u64 {
        let key = key(&format!("invoices/writer-{writer}/blob"));
        assert!(store.get(&key).await.unwrap() == blob(50_000 + writer as usize, writer), "{key} holds its own bytes");
    }
}

pub async fn readers_racing_an_overwrite_see_one_whole_blob(store: Arc<dyn BlobStore>) {
    let contested = key("invoices/u/contested");
    let versions: Vec<Bytes> = (0..4).map(|seed| blob(256 * 1024 + seed as usize * 1000, seed)).collect();
    store.put(&contested, versions[0].clone()).await.unwrap();

    let writers: Vec<_> = versions
        .iter()
        .cloned()
        .map(|version| {
            let (store, contested) = (Arc::clone(&store), contested.clone());
            tokio::spawn(async move {
                for _ in 0..5 {
                    store.put(&contested, version.clone()).await.unwrap();
                }
            })
        })
        .collect();
    let readers: Vec<_> = (0..4)
        .map(|_| {
            let (store, contested) = (Arc::clone(&store), contested.clone());
            tokio::spawn(async move {
                let mut seen = Vec::new();
                for _ in 0..10 {
                    seen.push(store.get(&contested).await.unwrap());
                    seen.push(collect_stream(&*store, &contested).await.concat().into());
                }
                seen
            })
        })
        .collect();
    for writer in writers {
        writer.await.unwrap();
    }
    for reader in readers {
        for read in reader.await.unwrap() {
            assert!(versions.contains(&read), "a read of {} bytes is no whole version: a torn write", read.len());
        }
    }
}

pub async fn invalid_keys_are_refused_before_they_reach_a_store(store: Arc<dyn BlobStore>) {
    for invalid in
        ["", "/etc/passwd", "../outside", "invoices/../../outside", "invoices//h", "invoices/h/", "a b", "a\\b"]
    {
        assert!(matches!(BlobKey::parse(invalid), Err(BlobError::InvalidKey(_))), "{invalid:?} should be refused");
    }
    assert!(matches!(BlobKey::from_segments(["invoices", "..", "h"]), Err(BlobError::InvalidKey(_))));
    // The store itself still works for a valid neighbour.
    let valid = key("invoices/u/h");
    store.put(&valid, Bytes::from_static(b"x")).await.unwrap();
    assert!(store.exists(&valid).await.unwrap());
}
