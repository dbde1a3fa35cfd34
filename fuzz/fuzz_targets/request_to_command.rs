//! Any bytes, decoded as any command or query request, convert to an application input or to a
//! validation error naming a field: never a panic.
#![no_main]

use cashflow_api::convert::{self, FromRequest};
use cashflow_app::input;
use cashflow_proto::v1 as pb;
use libfuzzer_sys::fuzz_target;
use prost::Message;

fn field_is_named(error: &cashflow_domain::ValidationError) {
    assert!(!error.field.is_empty(), "a validation error must name its field: {error:?}");
}

/// Decodes `bytes` as the request `M` and parses it into the command `I`.
fn command<M: Message + Default, I: FromRequest<M>>(bytes: &[u8]) {
    if let Ok(request) = M::decode(bytes) {
        if let Err(error) = I::from_request(request) {
            field_is_named(&error);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, bytes)) = data.split_first() else { return };
    match selector % 7 {
        0 => command::<pb::OpenAccountRequest, input::OpenAccount>(bytes),
        1 => command::<pb::RecordMovementRequest, input::RecordMovement>(bytes),
        2 => command::<pb::AssignCategoryRequest, input::AssignCategory>(bytes),
        3 => command::<pb::VoidMovementRequest, input::VoidMovement>(bytes),
        4 => command::<pb::CreateCategoryRequest, input::CreateCategory>(bytes),
        5 => {
            if let Ok(request) = pb::ListMovementsRequest::decode(bytes) {
                match convert::ListMovements::try_from(&request) {
                    Ok(parsed) => assert!(parsed.page_size >= 1, "page size {}", parsed.page_size),
                    Err(error) => field_is_named(&error),
                }
            }
        }
        _ => {
            if let Ok(request) = pb::GetCategorySummaryRequest::decode(bytes) {
                if let Err(error) = convert::SummaryRange::try_from(&request) {
                    field_is_named(&error);
                }
            }
        }
    }
});
