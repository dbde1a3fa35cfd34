//! [`ObjectStoreBlobs`]: the [`BlobStore`] adapter over `object_store`, for the local filesystem,
//! S3-compatible buckets and memory.

use crate::{BlobError, BlobKey, BlobStore};
use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use futures::stream::{self, BoxStream, StreamExt};
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use std::sync::Arc;
use url::Url;

/// The size of the chunks [`BlobStore::get_stream`] yields (the last one may be shorter).
pub const CHUNK_SIZE: usize = 64 * 1024;

/// Blobs in any `object_store` backend, optionally under a key prefix.
#[derive(Debug, Clone)]
pub struct ObjectStoreBlobs {
    store: Arc<dyn ObjectStore>,
    prefix: Option<BlobKey>,
}

impl ObjectStoreBlobs {
    /// Blobs in `store`, each under `prefix/` when a prefix is given: stores with different prefixes
    /// share a backend without seeing each other's blobs.
    pub fn new(store: Arc<dyn ObjectStore>, prefix: Option<BlobKey>) -> Self {
        Self { store, prefix }
    }

    /// The store a `CASHFLOW_BLOB_URL` names: `file:///absolute/dir`, `s3://bucket[/prefix]` (settings
    /// from the `AWS_*` environment variables) or `memory://` (see the crate docs).
    pub fn from_url(url: &str) -> Result<Self, BlobError> {
        Self::from_url_with_s3(url, AmazonS3Builder::from_env())
    }

    /// As [`from_url`](Self::from_url), with `s3` as the S3 settings the URL's bucket is added to.
    pub fn from_url_with_s3(url: &str, s3: AmazonS3Builder) -> Result<Self, BlobError> {
        let parsed = Url::parse(url).map_err(|error| config(format!("{url:?} is not a URL: {error}")))?;
        // Credentials belong in the environment, and an error message must not echo them.
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(config("the blob store URL must not contain credentials; use the AWS_* variables"));
        }
        if parsed.query().is_some() || parsed.fragment().is_some() {
            return Err(config(format!("{url:?}: a blob store URL takes no query or fragment")));
        }
        match parsed.scheme() {
            "file" => Self::local(local_dir(url, &parsed)?),
            "s3" => {
                let bucket = parsed.host_str().filter(|bucket| !bucket.is_empty());
                let bucket = bucket.ok_or_else(|| config(format!("{url:?} names no bucket (s3://bucket/prefix)")))?;
                let s3 = s3
                    .with_url(format!("s3://{bucket}"))
                    .build()
                    .map_err(|error| config(format!("S3 bucket {bucket:?}: {error}")))?;
                Ok(Self::new(Arc::new(s3), url_prefix(url, &parsed)?))
            }
            "memory" => Ok(Self::new(Arc::new(InMemory::new()), url_prefix(url, &parsed)?)),
            scheme => {
                Err(config(format!("unsupported blob store scheme {scheme:?} in {url:?}; use file, s3 or memory")))
            }
        }
    }

    /// Files under `dir`, created if missing. Writes are fsynced before they return, so a put that
    /// succeeded survives a crash.
    pub fn local(dir: impl AsRef<std::path::Path>) -> Result<Self, BlobError> {
        let dir = dir.as_ref();
        std::fs::create_dir_all(dir)
            .map_err(|error| config(format!("cannot create blob directory {}: {error}", dir.display())))?;
        let files = LocalFileSystem::new_with_prefix(dir)
            .map_err(|error| config(format!("blob directory {}: {error}", dir.display())))?
            .with_fsync(true);
        Ok(Self::new(Arc::new(files), None))
    }

    /// A fresh, empty in-memory store.
    pub fn in_memory() -> Self {
        Self::new(Arc::new(InMemory::new()), None)
    }

    fn location(&self, key: &BlobKey) -> Result<Path, BlobError> {
        let location = match &self.prefix {
            Some(prefix) => Path::parse(format!("{prefix}/{key}")),
            None => Path::parse(key.as_str()),
        };
        location.map_err(|error| BlobError::InvalidKey(error.to_string()))
    }
}

#[async_trait]
impl BlobStore for ObjectStoreBlobs {
    #[tracing::instrument(name = "blob.put", skip_all, fields(key = %key, bytes = bytes.len()))]
    async fn put(&self, key: &BlobKey, bytes: Bytes) -> Result<(), BlobError> {
        // Every backend publishes a put atomically: the filesystem writes a staging file
        // (`<name>#<n>`, a name no key can have) and renames it; S3 and memory replace the object whole.
        self.store.put(&self.location(key)?, PutPayload::from(bytes)).await.map_err(|error| failure(key, error))?;
        Ok(())
    }

    #[tracing::instrument(name = "blob.get", skip_all, fields(key = %key, bytes = tracing::field::Empty))]
    async fn get(&self, key: &BlobKey) -> Result<Bytes, BlobError> {
        let found = self.store.get(&self.location(key)?).await.map_err(|error| failure(key, error))?;
        let bytes = found.bytes().await.map_err(|error| failure(key, error))?;
        tracing::Span::current().record("bytes", bytes.len());
        Ok(bytes)
    }

    #[tracing::instrument(name = "blob.get_stream", skip_all, fields(key = %key, bytes = tracing::field::Empty))]
    async fn get_stream(&self, key: &BlobKey) -> Result<BoxStream<'static, Result<Bytes, BlobError>>, BlobError> {
        let found = self.store.get(&self.location(key)?).await.map_err(|error| failure(key, error))?;
        tracing::Span::current().record("bytes", found.meta.size);
        Ok(rechunk(found.into_stream(), key.clone()))
    }

    #[tracing::instrument(name = "blob.exists", skip_all, fields(key = %key))]
    async fn exists(&self, key: &BlobKey) -> Result<bool, BlobError> {
        match self.store.head(&self.location(key)?).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(error) => Err(failure(key, error)),
        }
    }

    #[tracing::instrument(name = "blob.delete", skip_all, fields(key = %key))]
    async fn delete(&self, key: &BlobKey) -> Result<(), BlobError> {
        match self.store.delete(&self.location(key)?).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(error) => Err(failure(key, error)),
        }
    }
}

fn config(message: impl Into<String>) -> BlobError {
    BlobError::Config(message.into())
}

fn failure(key: &BlobKey, error: object_store::Error) -> BlobError {
    match error {
        object_store::Error::NotFound { .. } => BlobError::NotFound { key: key.clone() },
        object_store::Error::InvalidPath { source } => BlobError::InvalidKey(source.to_string()),
        error => BlobError::Unavailable(error.to_string()),
    }
}

/// The directory of a `file:///absolute/dir` URL. `file:relative` parses as absolute, so the
/// three slashes are checked on the text.
fn local_dir(url: &str, parsed: &Url) -> Result<std::path::PathBuf, BlobError> {
    let absolute = url.as_bytes().get(..8).is_some_and(|start| start.eq_ignore_ascii_case(b"file:///"));
    let dir = parsed.to_file_path().ok().filter(|_| absolute);
    dir.ok_or_else(|| config(format!("{url:?}: a file URL must name an absolute directory, as file:///var/lib/blobs")))
}

/// The key prefix in a URL's path (`s3://bucket/this/prefix`), validated as a key.
fn url_prefix(url: &str, parsed: &Url) -> Result<Option<BlobKey>, BlobError> {
    let path = parsed.path().trim_matches('/');
    if path.is_empty() {
        return Ok(None);
    }
    BlobKey::parse(path).map(Some).map_err(|error| config(format!("{url:?}: bad key prefix: {error}")))
}

/// Re-cuts `chunks` into [`CHUNK_SIZE`] pieces: the filesystem reads 8 KiB at a time and memory
/// yields the whole blob at once.
fn rechunk(
    chunks: BoxStream<'static, object_store::Result<Bytes>>,
    key: BlobKey,
) -> BoxStream<'static, Result<Bytes, BlobError>> {
    struct State {
        chunks: BoxStream<'static, object_store::Result<Bytes>>,
        buffer: BytesMut,
        ended: bool,
        key: BlobKey,
    }
    let state = State { chunks, buffer: BytesMut::new(), ended: false, key };
    stream::try_unfold(state, |mut state| async move {
        loop {
            if state.buffer.len() >= CHUNK_SIZE {
                let chunk = state.buffer.split_to(CHUNK_SIZE).freeze();
                return Ok(Some((chunk, state)));
            }
            if state.ended {
                if state.buffer.is_empty() {
                    return Ok(None);
                }
                let chunk = state.buffer.split().freeze();
                return Ok(Some((chunk, state)));
            }
            match state.chunks.next().await {
                Some(Ok(chunk)) => state.buffer.extend_from_slice(&chunk),
                Some(Err(error)) => return Err(failure(&state.key, error)),
                None => state.ended = true,
            }
        }
    })
    .boxed()
}
