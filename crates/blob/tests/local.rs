//! What only the filesystem adapter can get wrong: files on disk, unusable directories, URLs.

use cashflow_blob::object_store::aws::AmazonS3Builder;
use cashflow_blob::{BlobError, BlobKey, BlobStore, ObjectStoreBlobs, contract};
use sha2::{Digest, Sha256};
use std::path::Path;
use url::Url;

fn file_url(dir: &Path) -> String {
    Url::from_directory_path(dir).unwrap().to_string()
}

fn invoice_key(bytes: &[u8]) -> BlobKey {
    BlobKey::from_segments(["invoices", &uuid::Uuid::now_v7().to_string(), &hex::encode(Sha256::digest(bytes))])
        .unwrap()
}

/// Every file under `dir`, relative to it.
fn files_under(dir: &Path) -> Vec<String> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(next) = pending.pop() {
        for entry in std::fs::read_dir(next).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                files.push(path.strip_prefix(dir).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    files.sort();
    files
}

#[tokio::test]
async fn a_put_leaves_only_the_blob_on_disk_under_its_key() {
    let dir = tempfile::tempdir().unwrap();
    let store = ObjectStoreBlobs::from_url(&file_url(dir.path())).unwrap();
    let bytes = contract::blob(200_000, 7);
    let key = invoice_key(&bytes);

    store.put(&key, bytes.clone()).await.unwrap();
    store.put(&key, bytes.clone()).await.unwrap();

    assert_eq!(files_under(dir.path()), vec![key.to_string()], "no staging file is left behind");
    assert_eq!(std::fs::read(dir.path().join(key.as_str())).unwrap(), bytes);
}

#[tokio::test]
async fn a_missing_directory_is_created() {
    let dir = tempfile::tempdir().unwrap();
    let nested = dir.path().join("data").join("blobs");
    let store = ObjectStoreBlobs::from_url(&file_url(&nested)).unwrap();
    store.put(&contract::key("a/b"), "x".into()).await.unwrap();
    assert_eq!(std::fs::read(nested.join("a/b")).unwrap(), b"x");
}

#[tokio::test]
async fn a_directory_under_a_regular_file_is_a_config_error() {
    // Tests run as root, where a 0o500 directory is still writable: a file as parent is not.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-directory");
    std::fs::write(&file, "x").unwrap();

    let error = ObjectStoreBlobs::from_url(&file_url(&file.join("blobs"))).unwrap_err();
    assert!(matches!(error, BlobError::Config(_)), "{error:?}");
    let error = ObjectStoreBlobs::local(&file).unwrap_err();
    assert!(matches!(error, BlobError::Config(_)), "{error:?}");
}

#[tokio::test]
async fn writing_where_the_directory_vanished_is_unavailable() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("blobs");
    let store = ObjectStoreBlobs::local(&root).unwrap();
    std::fs::remove_dir(&root).unwrap();
    std::fs::write(&root, "a regular file where the blob directory was").unwrap();

    let key = contract::key("invoices/u/h");
    let error = store.put(&key, "x".into()).await.unwrap_err();
    assert!(matches!(error, BlobError::Unavailable(_)), "{error:?}");
    assert!(matches!(store.get(&key).await, Err(BlobError::Unavailable(_) | BlobError::NotFound { .. })));
}

#[tokio::test]
async fn a_key_below_an_existing_blob_is_unavailable_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let store = ObjectStoreBlobs::local(dir.path()).unwrap();
    store.put(&contract::key("a"), "x".into()).await.unwrap();

    let error = store.put(&contract::key("a/b"), "y".into()).await.unwrap_err();
    assert!(matches!(error, BlobError::Unavailable(_)), "{error:?}");
    assert_eq!(store.get(&contract::key("a")).await.unwrap(), "x");
}

#[tokio::test]
async fn stores_in_different_directories_do_not_see_each_other() {
    let dir = tempfile::tempdir().unwrap();
    let first = ObjectStoreBlobs::from_url(&file_url(&dir.path().join("first"))).unwrap();
    let second = ObjectStoreBlobs::from_url(&file_url(&dir.path().join("second"))).unwrap();
    let key = contract::key("invoices/u/h");
    first.put(&key, "first".into()).await.unwrap();
    assert!(!second.exists(&key).await.unwrap());
}

#[test]
fn unsupported_schemes_and_malformed_urls_are_config_errors() {
    for url in [
        "http://example.com/blobs",
        "gs://bucket",
        "ftp://host/dir",
        "/var/lib/blobs",
        "blobs",
        "",
        "s3://",
        "s3://bucket/bad prefix",
        "s3://bucket/a%2Fb",
        "s3://key:secret@bucket",
        "memory://?x=1",
        "file:///tmp/blobs#fragment",
    ] {
        match ObjectStoreBlobs::from_url(url) {
            Err(BlobError::Config(message)) => assert!(!message.contains("secret"), "{message}"),
            other => panic!("{url:?}: expected a Config error, got {other:?}"),
        }
    }
    match ObjectStoreBlobs::from_url("gs://bucket") {
        Err(BlobError::Config(message)) => assert!(message.contains("\"gs\""), "the error names the scheme: {message}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn relative_file_urls_are_config_errors() {
    for url in ["file:relative/blobs", "file://relative/blobs", "file:./blobs", "file://"] {
        assert!(matches!(ObjectStoreBlobs::from_url(url), Err(BlobError::Config(_))), "{url:?} should be refused");
    }
}

/// No S3 here (no network, no MinIO): only that the URL builds a store, with the region given
/// through the builder rather than the process environment.
#[test]
fn an_s3_url_with_a_prefix_builds() {
    for url in ["s3://bucket", "s3://bucket/cashflow/blobs", "s3://bucket/cashflow/"] {
        let s3 = AmazonS3Builder::new().with_region("eu-west-1");
        ObjectStoreBlobs::from_url_with_s3(url, s3).unwrap();
    }
}
