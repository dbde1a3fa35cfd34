//! A request message over the size limit answers `RESOURCE_EXHAUSTED`, as the contract and
//! other gRPC implementations say; tonic's decoder answers `OUT_OF_RANGE`, so the status of
//! that one refusal is rewritten on its way out.

use futures::future::BoxFuture;
use http::HeaderValue;
use std::task::{Context, Poll};
use tonic::Code;
use tonic::server::NamedService;
use tower::Service;

/// What tonic's decoder says (percent-encoded) when a message exceeds the limit.
const TONIC_TOO_LARGE: &str = "Error,%20decoded%20message%20length%20too%20large";

/// Wraps one service; keeps its name for routing.
#[derive(Debug, Clone)]
pub struct TooLargeIsResourceExhausted<S>(pub S);

impl<S: NamedService> NamedService for TooLargeIsResourceExhausted<S> {
    const NAME: &'static str = S::NAME;
}

impl<S, ReqBody, ResBody> Service<http::Request<ReqBody>> for TooLargeIsResourceExhausted<S>
where
    S: Service<http::Request<ReqBody>, Response = http::Response<ResBody>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<ReqBody>) -> Self::Future {
        let response = self.0.call(request);
        Box::pin(async move {
            let mut response = response.await?;
            rewrite(response.headers_mut());
            Ok(response)
        })
    }
}

/// Only the decoder's refusal is touched: the handlers never answer `OUT_OF_RANGE`.
fn rewrite(headers: &mut http::HeaderMap) {
    let out_of_range = (Code::OutOfRange as i32).to_string();
    let is_out_of_range = headers.get("grpc-status").is_some_and(|v| v.as_bytes() == out_of_range.as_bytes());
    let too_large = headers.get("grpc-message").is_some_and(|v| v.as_bytes().starts_with(TONIC_TOO_LARGE.as_bytes()));
    if is_out_of_range && too_large {
        headers.insert("grpc-status", HeaderValue::from(Code::ResourceExhausted as i32));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(status: Code, message: &str) -> http::HeaderMap {
        let mut headers = http::HeaderMap::new();
        headers.insert("grpc-status", HeaderValue::from(status as i32));
        headers.insert("grpc-message", HeaderValue::from_str(message).unwrap());
        headers
    }

    #[test]
    fn the_decoders_size_refusal_becomes_resource_exhausted() {
        let mut refused = headers(Code::OutOfRange, &format!("{TONIC_TOO_LARGE}:%20found%205000000%20bytes"));
        rewrite(&mut refused);
        assert_eq!(refused["grpc-status"], "8");
    }

    #[test]
    fn other_statuses_are_left_alone() {
        for (code, message) in
            [(Code::OutOfRange, "page%20beyond%20the%20end"), (Code::InvalidArgument, TONIC_TOO_LARGE)]
        {
            let mut untouched = headers(code, message);
            rewrite(&mut untouched);
            assert_eq!(untouched["grpc-status"], (code as i32).to_string());
        }
    }
}
