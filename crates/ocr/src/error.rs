/// Why a reading failed, split by what the caller does next.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OcrError {
    /// The input will never yield text: corrupt or unsupported bytes, too many pixels, a bad or
    /// encrypted PDF, nothing legible. Record the failure at once; retrying gives the same answer.
    #[error("unreadable: {0}")]
    Unreadable(String),
    /// The engine could not run this time (failed to start, a helper program missing, the pool shut
    /// down). Retry later; the input may be fine.
    #[error("OCR engine unavailable: {0}")]
    Engine(String),
}

impl OcrError {
    /// Whether retrying the same input can never succeed.
    pub fn is_permanent(&self) -> bool {
        matches!(self, Self::Unreadable(_))
    }

    pub(crate) fn unreadable(reason: impl Into<String>) -> Self {
        Self::Unreadable(reason.into())
    }

    pub(crate) fn engine(reason: impl Into<String>) -> Self {
        Self::Engine(reason.into())
    }
}
