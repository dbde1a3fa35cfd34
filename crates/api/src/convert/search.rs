//! SearchMovements: the request parsed into the search view's [`SearchRequest`], and its page
//! as the response.

use super::{MovementFilterFields, movement_filter, movement_to_proto, present};
use cashflow_domain::{SignedAmount, ValidationError};
use cashflow_projection_search::{
    DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, SearchCursor, SearchFilter, SearchPage, SearchRequest, SearchText,
};
use cashflow_proto::v1 as pb;
use rust_decimal::Decimal;

/// The request, validated: each bad field is an error naming it.
pub fn search_request(request: &pb::SearchMovementsRequest) -> Result<SearchRequest, ValidationError> {
    let text = SearchText::parse("query", &request.query)?;
    let movements = movement_filter(MovementFilterFields {
        account_id: request.account_id.as_deref(),
        category_id: request.category_id.as_deref(),
        from: request.from.as_deref(),
        to: request.to.as_deref(),
        direction: request.direction,
    })?;
    let min_amount = amount_bound("min_amount", request.min_amount.as_deref())?;
    let max_amount = amount_bound("max_amount", request.max_amount.as_deref())?;
    if let (Some(min), Some(max)) = (min_amount, max_amount)
        && max < min
    {
        return Err(ValidationError::new("max_amount", "must not be below min_amount"));
    }
    let filter = SearchFilter { movements, min_amount, max_amount, include_voided: request.include_voided };
    Ok(SearchRequest {
        text,
        filter,
        page_size: page_size(request.page_size)?,
        after: page_token(&request.page_token)?,
    })
}

/// A search page: unlike ListMovements', too large a page is refused, not lowered, as the
/// search contract says.
fn page_size(raw: i32) -> Result<u32, ValidationError> {
    match u32::try_from(raw) {
        Err(_) => Err(ValidationError::new("page_size", "must not be negative")),
        Ok(0) => Ok(DEFAULT_PAGE_SIZE),
        Ok(size) if size > MAX_PAGE_SIZE => Err(ValidationError::new("page_size", format!("at most {MAX_PAGE_SIZE}"))),
        Ok(size) => Ok(size),
    }
}

fn page_token(raw: &str) -> Result<Option<SearchCursor>, ValidationError> {
    if raw.is_empty() {
        return Ok(None);
    }
    SearchCursor::decode(raw)
        .map(Some)
        .ok_or_else(|| ValidationError::new("page_token", "is not a token returned by SearchMovements"))
}

fn amount_bound(field: &'static str, raw: Option<&str>) -> Result<Option<Decimal>, ValidationError> {
    let Some(raw) = present(raw) else { return Ok(None) };
    let value = SignedAmount::parse(field, raw.trim())?.value();
    if value.is_sign_negative() && !value.is_zero() {
        return Err(ValidationError::new(field, "must not be negative"));
    }
    Ok(Some(value))
}

pub fn search_page_to_proto(page: SearchPage) -> pb::SearchMovementsResponse {
    pb::SearchMovementsResponse {
        hits: page
            .hits
            .into_iter()
            .map(|hit| pb::SearchHit {
                movement: Some(movement_to_proto(hit.movement)),
                score: f64::from(hit.score),
                highlights: hit.highlights,
            })
            .collect(),
        facets: Some(pb::SearchFacets {
            categories: page
                .categories
                .into_iter()
                .map(|facet| pb::CategoryFacet {
                    category_id: facet.category_id.to_string(),
                    name: facet.name,
                    count: facet.count,
                })
                .collect(),
            months: page
                .months
                .into_iter()
                .map(|facet| pb::MonthFacet { month: facet.month, count: facet.count })
                .collect(),
        }),
        total_hits: page.total_hits,
        next_page_token: page.next.map(|cursor| cursor.encode()).unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> pb::SearchMovementsRequest {
        pb::SearchMovementsRequest { query: "cafe".into(), ..pb::SearchMovementsRequest::default() }
    }

    fn refused(request: pb::SearchMovementsRequest) -> &'static str {
        search_request(&request).unwrap_err().field
    }

    #[test]
    fn each_bad_field_is_named() {
        assert_eq!(refused(pb::SearchMovementsRequest { query: "x".repeat(257), ..request() }), "query");
        assert_eq!(refused(pb::SearchMovementsRequest { page_size: 501, ..request() }), "page_size");
        assert_eq!(refused(pb::SearchMovementsRequest { page_size: -1, ..request() }), "page_size");
        assert_eq!(refused(pb::SearchMovementsRequest { page_token: "nope".into(), ..request() }), "page_token");
        assert_eq!(refused(pb::SearchMovementsRequest { account_id: Some("x".into()), ..request() }), "account_id");
        assert_eq!(refused(pb::SearchMovementsRequest { category_id: Some("x".into()), ..request() }), "category_id");
        assert_eq!(refused(pb::SearchMovementsRequest { from: Some("2026-13-01".into()), ..request() }), "from");
        assert_eq!(refused(pb::SearchMovementsRequest { direction: Some(7), ..request() }), "direction");
        assert_eq!(refused(pb::SearchMovementsRequest { min_amount: Some("1e3".into()), ..request() }), "min_amount");
        assert_eq!(refused(pb::SearchMovementsRequest { max_amount: Some("-2".into()), ..request() }), "max_amount");
        let inverted =
            pb::SearchMovementsRequest { min_amount: Some("10".into()), max_amount: Some("9.99".into()), ..request() };
        assert_eq!(refused(inverted), "max_amount");
        let backwards =
            pb::SearchMovementsRequest { from: Some("2026-02-01".into()), to: Some("2026-01-31".into()), ..request() };
        assert_eq!(refused(backwards), "to");
    }

    #[test]
    fn a_full_request_is_read_whole() {
        let parsed = search_request(&pb::SearchMovementsRequest {
            query: "Café 12,50".into(),
            min_amount: Some("0".into()),
            max_amount: Some("100.5".into()),
            include_voided: true,
            page_size: 500,
            direction: Some(pb::Direction::Unspecified as i32),
            ..request()
        })
        .unwrap();
        assert_eq!(parsed.text.words(), ["café"]);
        assert_eq!(parsed.text.amounts().len(), 1);
        assert_eq!(parsed.filter.min_amount, Some(Decimal::ZERO));
        assert_eq!(parsed.filter.max_amount, Some("100.5".parse().unwrap()));
        assert!(parsed.filter.include_voided);
        assert_eq!(parsed.filter.movements.direction, None);
        assert_eq!(parsed.page_size, 500);
        assert_eq!(search_request(&pb::SearchMovementsRequest::default()).unwrap().page_size, DEFAULT_PAGE_SIZE);
    }
}
