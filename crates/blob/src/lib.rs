//! Blob storage: the port invoice originals and reports are stored through, and its object_store adapter.
//!
//! # Layout
//!
//! - this file: the [`BlobStore`] port and [`in_memory`].
//! - [`key`]: [`BlobKey`], the validated relative key every blob is stored under.
//! - [`error`]: [`BlobError`], by how a caller should react.
//! - [`store`]: [`ObjectStoreBlobs`], the adapter over `object_store` (local filesystem, S3-compatible,
//!   in-memory), built from a URL.
//! - `contract`: the test suite every adapter must pass (behind the `contract` feature).
//!
//! # Configuration
//!
//! The binary reads the store's URL from `CASHFLOW_BLOB_URL` (its default, `file://<data dir>/blobs`, is
//! the binary's choice) and hands it to [`ObjectStoreBlobs::from_url`], which accepts:
//!
//! - `file:///absolute/dir`: files under that directory, created if missing; writes are fsynced.
//! - `s3://bucket` or `s3://bucket/key/prefix`: an S3-compatible bucket; credentials, region and
//!   endpoint come from the standard `AWS_*` variables (`AWS_ENDPOINT_URL` for MinIO, `AWS_ALLOW_HTTP=true`
//!   for a plain-HTTP endpoint).
//! - `memory://`: a fresh, empty in-memory store (tests, demos).
#![forbid(unsafe_code)]

pub mod error;
pub mod key;
pub mod store;

#[cfg(any(test, feature = "contract"))]
pub mod contract;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use std::sync::Arc;

pub use error::BlobError;
pub use key::BlobKey;
/// The `object_store` this crate builds on, for [`ObjectStoreBlobs::new`] and
/// [`ObjectStoreBlobs::from_url_with_s3`].
pub use object_store;
pub use store::{CHUNK_SIZE, ObjectStoreBlobs};

/// The blob storage port.
///
/// Every adapter guarantees:
///
/// - A put is atomic: a reader sees the whole old blob, the whole new one, or none, never a part,
///   even after a crash mid-write. A put under an existing key replaces it.
/// - Keys are exact: `a/b` and `a/c` are distinct blobs, and `a` is not a blob because `a/b` is.
///   Do not store both `a` and `a/b`: the filesystem adapter refuses the second with
///   [`BlobError::Unavailable`]. Keys of one fixed shape (`invoices/<uuid>/<sha256>`) never do.
/// - Absence is [`BlobError::NotFound`] for reads, `false` for [`exists`](Self::exists), and success
///   for [`delete`](Self::delete).
#[async_trait]
pub trait BlobStore: Send + Sync + 'static {
    /// Stores `bytes` under `key`, atomically.
    async fn put(&self, key: &BlobKey, bytes: Bytes) -> Result<(), BlobError>;

    /// The whole blob.
    async fn get(&self, key: &BlobKey) -> Result<Bytes, BlobError>;

    /// The blob as chunks of [`CHUNK_SIZE`] bytes (the last one shorter), for streaming it out.
    /// Absence is reported by this call, not by the stream; a failure mid-stream ends the stream
    /// with one `Err`.
    async fn get_stream(&self, key: &BlobKey) -> Result<BoxStream<'static, Result<Bytes, BlobError>>, BlobError>;

    async fn exists(&self, key: &BlobKey) -> Result<bool, BlobError>;

    /// Deletes the blob; deleting an absent blob succeeds.
    async fn delete(&self, key: &BlobKey) -> Result<(), BlobError>;
}

/// A fresh, empty in-memory store, for fast tests of the layers above.
pub fn in_memory() -> Arc<dyn BlobStore> {
    Arc::new(ObjectStoreBlobs::in_memory())
}
