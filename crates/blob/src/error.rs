//! Errors of a blob store, by how a caller should react.

use crate::BlobKey;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum BlobError {
    /// No blob under this key: answer `NOT_FOUND`; when an event names the key, the blob was lost,
    /// an operator's problem.
    #[error("no blob under key {key}")]
    NotFound { key: BlobKey },
    /// Not a valid key (see [`BlobKey`]): bad input or a caller bug; answer `INVALID_ARGUMENT`, never retry.
    #[error("invalid blob key: {0}")]
    InvalidKey(String),
    /// The storage failed or cannot be reached (IO, network, permissions, a full disk): retry later or
    /// answer `UNAVAILABLE`. The text is for logs, not for clients.
    #[error("blob store unavailable: {0}")]
    Unavailable(String),
    /// The store's URL or set-up is wrong: fail at start-up, an operator's problem.
    #[error("blob store configuration: {0}")]
    Config(String),
}
