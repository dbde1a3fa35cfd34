//! Any bytes, decoded as any command or query request, convert to a domain command or to a
//! validation error naming a field: never a panic.
#![no_main]

use cashflow_api::convert;
use cashflow_proto::v1 as pb;
use libfuzzer_sys::fuzz_target;
use prost::Message;

fn field_is_named(error: &cashflow_domain::ValidationError) {
    assert!(!error.field.is_empty(), "a validation error must name its field: {error:?}");
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, bytes)) = data.split_first() else { return };
    match selector % 7 {
        0 => {
            if let Ok(request) = pb::OpenAccountRequest::decode(bytes) {
                if let Err(error) = convert::OpenAccount::try_from(request) {
                    field_is_named(&error);
                }
            }
        }
        1 => {
            if let Ok(request) = pb::RecordMovementRequest::decode(bytes) {
                if let Err(error) = convert::RecordMovement::try_from(request) {
                    field_is_named(&error);
                }
            }
        }
        2 => {
            if let Ok(request) = pb::AssignCategoryRequest::decode(bytes) {
                if let Err(error) = convert::AssignCategory::try_from(request) {
                    field_is_named(&error);
                }
            }
        }
        3 => {
            if let Ok(request) = pb::VoidMovementRequest::decode(bytes) {
                if let Err(error) = convert::VoidMovement::try_from(request) {
                    field_is_named(&error);
                }
            }
        }
        4 => {
            if let Ok(request) = pb::CreateCategoryRequest::decode(bytes) {
                if let Err(error) = convert::CreateCategory::try_from(request) {
                    field_is_named(&error);
                }
            }
        }
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
