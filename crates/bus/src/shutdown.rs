//! A shutdown future that can be checked without blocking and awaited many times.

use futures::FutureExt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

pub(crate) struct Shutdown<F> {
    future: Pin<Box<F>>,
    fired: bool,
}

impl<F: Future<Output = ()>> Shutdown<F> {
    pub(crate) fn new(future: F) -> Self {
        Self { future: Box::pin(future), fired: false }
    }

    /// True once shutdown was requested; polls the future once, never blocks.
    pub(crate) fn requested(&mut self) -> bool {
        if !self.fired && self.future.as_mut().now_or_never().is_some() {
            self.fired = true;
        }
        self.fired
    }

    /// Resolves when shutdown is requested (at once if it already was).
    pub(crate) async fn wait(&mut self) {
        if !self.fired {
            self.future.as_mut().await;
            self.fired = true;
        }
    }

    /// Sleeps for `delay` unless shutdown comes first; returns true when it did.
    pub(crate) async fn sleep(&mut self, delay: Duration) -> bool {
        tokio::select! {
            () = self.wait() => true,
            () = tokio::time::sleep(delay) => false,
        }
    }
}
