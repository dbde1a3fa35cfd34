//! Requests tonic refuses before a handler runs get the contract's codes: an oversized
//! message is `RESOURCE_EXHAUSTED` (tonic says `OUT_OF_RANGE`) and undecodable protobuf, such
//! as a string that is not UTF-8, is `INVALID_ARGUMENT` naming the field (tonic says
//! `INTERNAL`, which the contract keeps for our own faults).

use futures::future::BoxFuture;
use std::task::{Context, Poll};
use tonic::server::NamedService;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};
use tower::Service;

/// What tonic's decoder says when a message exceeds the limit.
const TOO_LARGE: &str = "Error, decoded message length too large";
/// How a prost decode error begins; `Message.field: ` pairs, then the reason, follow.
const UNDECODABLE: &str = "failed to decode Protobuf message: ";

/// Wraps one service; keeps its name for routing.
#[derive(Debug, Clone)]
pub struct DecodeStatus<S>(pub S);

impl<S: NamedService> NamedService for DecodeStatus<S> {
    const NAME: &'static str = S::NAME;
}

impl<S, ReqBody, ResBody> Service<http::Request<ReqBody>> for DecodeStatus<S>
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

/// A refused request is answered "trailers-only": its status is in the response headers.
/// Only the decoder's two refusals are touched; handlers never answer `OUT_OF_RANGE`, and
/// their `INTERNAL` says "internal error".
fn rewrite(headers: &mut http::HeaderMap) {
    let Some(status) = Status::from_header_map(headers) else { return };
    let replacement = match status.code() {
        Code::OutOfRange if status.message().starts_with(TOO_LARGE) => {
            Status::resource_exhausted(status.message().to_owned())
        }
        Code::Internal if status.message().starts_with(UNDECODABLE) => undecodable(status.message()),
        _ => return,
    };
    if let Err(error) = replacement.add_header(headers) {
        tracing::warn!(%error, "could not rewrite the status of a refused request");
    }
}

/// `INVALID_ARGUMENT`, with a `BadRequest` violation when the decoder named the field.
fn undecodable(message: &str) -> Status {
    let detail = &message[UNDECODABLE.len()..];
    // "OpenAccountRequest.name: invalid string value: data is not UTF-8 encoded"
    let field = detail.split_once(": ").and_then(|(path, _)| path.split_once('.')).map(|(_, field)| field);
    let message = format!("the request is not a valid message: {detail}");
    match field {
        Some(field) if !field.contains(' ') => Status::with_error_details(
            Code::InvalidArgument,
            message,
            ErrorDetails::with_bad_request_violation(field, "could not be decoded"),
        ),
        _ => Status::invalid_argument(message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers_of(status: Status) -> http::HeaderMap {
        let mut headers = http::HeaderMap::new();
        status.add_header(&mut headers).unwrap();
        headers
    }

    fn rewritten(status: Status) -> Status {
        let mut headers = headers_of(status);
        rewrite(&mut headers);
        Status::from_header_map(&headers).unwrap()
    }

    #[test]
    fn the_decoders_size_refusal_becomes_resource_exhausted() {
        let status =
            rewritten(Status::out_of_range(format!("{TOO_LARGE}: found 5000000 bytes, the limit is: 4194304 bytes")));
        assert_eq!(status.code(), Code::ResourceExhausted);
        assert!(status.message().contains("4194304"));
    }

    #[test]
    fn undecodable_protobuf_becomes_invalid_argument_naming_the_field() {
        let message = format!("{UNDECODABLE}OpenAccountRequest.name: invalid string value: data is not UTF-8 encoded");
        let status = rewritten(Status::internal(message));
        assert_eq!(status.code(), Code::InvalidArgument);
        assert_eq!(status.get_details_bad_request().unwrap().field_violations[0].field, "name");

        let status = rewritten(Status::internal(format!("{UNDECODABLE}invalid varint")));
        assert_eq!(status.code(), Code::InvalidArgument);
    }

    #[test]
    fn other_statuses_are_left_alone() {
        for status in [
            Status::out_of_range("page beyond the end"),
            Status::internal("internal error"),
            Status::invalid_argument(TOO_LARGE),
            Status::not_found("movement not found"),
        ] {
            let (code, message) = (status.code(), status.message().to_owned());
            let after = rewritten(status);
            assert_eq!((after.code(), after.message()), (code, message.as_str()));
        }
    }
}
