use super::*;
use cashflow_proto::v1 as pb;

const ID: &str = "0190f5c2-7a1b-7c3d-8e4f-123456789abc";

fn record() -> pb::RecordMovementRequest {
    pb::RecordMovementRequest {
        command_id: ID.into(),
        account_id: ID.into(),
        direction: pb::Direction::Expense.into(),
        amount: "12.50".into(),
        occurred_on: "2026-11-20".into(),
        description: "Groceries".into(),
        counterparty: Some("Market".into()),
        category_id: Some(ID.into()),
    }
}

fn field<T: std::fmt::Debug>(result: Result<T, ValidationError>) -> &'static str {
    result.expect_err("should be refused").field
}

#[test]
fn a_valid_record_movement_request_parses_into_domain_values() {
    let parsed = RecordMovement::from_request(record()).unwrap();
    assert_eq!(parsed.amount.value(), Decimal::new(125, 1));
    assert_eq!(parsed.direction, Direction::Expense);
    assert_eq!(parsed.occurred_on.to_string(), "2026-11-20");
    assert_eq!(parsed.counterparty.unwrap().as_str(), "Market");
    assert_eq!(parsed.category_id.unwrap().to_string(), ID);
}

#[test]
fn every_bad_record_movement_field_is_named() {
    type Edit = fn(&mut pb::RecordMovementRequest);
    let cases: [(&str, Edit); 11] = [
        ("command_id", |r| r.command_id = String::new()),
        ("command_id", |r| r.command_id = "retry-1".into()),
        ("account_id", |r| r.account_id = "acc".into()),
        ("direction", |r| r.direction = pb::Direction::Unspecified.into()),
        ("direction", |r| r.direction = 42),
        ("amount", |r| r.amount = "-3".into()),
        ("amount", |r| r.amount = "1.23456".into()),
        ("occurred_on", |r| r.occurred_on = "20/11/2026".into()),
        ("description", |r| r.description = "x".repeat(501)),
        ("counterparty", |r| r.counterparty = Some("a\u{0}b".into())),
        ("category_id", |r| r.category_id = Some("food".into())),
    ];
    for (expected, edit) in cases {
        let mut request = record();
        edit(&mut request);
        assert_eq!(field(RecordMovement::from_request(request)), expected);
    }
}

#[test]
fn empty_optional_fields_are_absent() {
    let mut request = record();
    request.counterparty = Some(String::new());
    request.category_id = Some(String::new());
    let parsed = RecordMovement::from_request(request).unwrap();
    assert!(parsed.counterparty.is_none() && parsed.category_id.is_none());
}

#[test]
fn open_account_defaults_the_opening_balance_and_names_bad_fields() {
    let request = |name: &str, currency: &str, balance: Option<&str>| pb::OpenAccountRequest {
        command_id: ID.into(),
        name: name.into(),
        currency: currency.into(),
        opening_balance: balance.map(Into::into),
    };
    let parsed = OpenAccount::from_request(request("Main", "eur", None)).unwrap();
    assert_eq!(parsed.opening_balance, SignedAmount::ZERO);
    assert_eq!(parsed.currency.code(), "EUR");
    let overdrawn = OpenAccount::from_request(request("Main", "EUR", Some("-20.5"))).unwrap();
    assert_eq!(overdrawn.opening_balance.value(), Decimal::new(-205, 1));
    assert_eq!(field(OpenAccount::from_request(request(" ", "EUR", None))), "name");
    assert_eq!(field(OpenAccount::from_request(request("Main", "EURO", None))), "currency");
    assert_eq!(field(OpenAccount::from_request(request("Main", "EUR", Some("1e3")))), "opening_balance");
}

#[test]
fn assign_void_and_create_name_their_bad_fields() {
    let assign = |movement: &str, category: &str| pb::AssignCategoryRequest {
        command_id: ID.into(),
        movement_id: movement.into(),
        category_id: category.into(),
        expected_version: Some(3),
    };
    assert_eq!(AssignCategory::from_request(assign(ID, ID)).unwrap().expected_version, Some(3));
    assert_eq!(field(AssignCategory::from_request(assign("m", ID))), "movement_id");
    assert_eq!(field(AssignCategory::from_request(assign(ID, ""))), "category_id");

    let void =
        |reason: &str| pb::VoidMovementRequest { command_id: ID.into(), movement_id: ID.into(), reason: reason.into() };
    assert!(VoidMovement::from_request(void("duplicate")).is_ok());
    assert_eq!(field(VoidMovement::from_request(void(""))), "reason");

    let create = |name: &str, parent: Option<&str>| pb::CreateCategoryRequest {
        command_id: ID.into(),
        name: name.into(),
        parent_id: parent.map(Into::into),
    };
    assert_eq!(CreateCategory::from_request(create("Food", Some(ID))).unwrap().parent_id.unwrap().to_string(), ID);
    assert_eq!(field(CreateCategory::from_request(create("", None))), "name");
    assert_eq!(field(CreateCategory::from_request(create("Food", Some("root")))), "parent_id");
}

#[test]
fn list_movements_filters_parse_and_name_bad_fields() {
    let parsed = ListMovements::try_from(&pb::ListMovementsRequest {
        account_id: Some(ID.into()),
        from: Some("2026-01-01".into()),
        to: Some("2026-01-31".into()),
        direction: Some(pb::Direction::Income.into()),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(parsed.filter.account_id.unwrap().to_string(), ID);
    assert_eq!(parsed.filter.direction, Some(Direction::Income));
    assert_eq!(parsed.filter.from, NaiveDate::from_ymd_opt(2026, 1, 1));
    assert_eq!(parsed.page_size, DEFAULT_PAGE_SIZE);
    assert!(parsed.after.is_none());

    type Edit = fn(&mut pb::ListMovementsRequest);
    let cases: [(&str, Edit); 8] = [
        ("account_id", |r| r.account_id = Some("a".into())),
        ("category_id", |r| r.category_id = Some("c".into())),
        ("from", |r| r.from = Some("2026-02-30".into())),
        ("to", |r| r.to = Some("yesterday".into())),
        ("to", |r| (r.from, r.to) = (Some("2026-02-01".into()), Some("2026-01-01".into()))),
        ("direction", |r| r.direction = Some(9)),
        ("page_size", |r| r.page_size = -1),
        ("page_token", |r| r.page_token = "definitely-not-a-cursor".into()),
    ];
    for (expected, edit) in cases {
        let mut request = pb::ListMovementsRequest::default();
        edit(&mut request);
        assert_eq!(field(ListMovements::try_from(&request)), expected);
    }
}

#[test]
fn page_sizes_default_and_cap() {
    assert_eq!(page_size(0), Ok(DEFAULT_PAGE_SIZE));
    assert_eq!(page_size(7), Ok(7));
    assert_eq!(page_size(10_000), Ok(MAX_PAGE_SIZE));
    assert_eq!(page_size(-5).unwrap_err().field, "page_size");
}

#[test]
fn summary_months_become_first_days() {
    let range = SummaryRange::try_from(&pb::GetCategorySummaryRequest {
        from: Some("2026-02".into()),
        to: Some("2026-03".into()),
        min_position: None,
    })
    .unwrap();
    assert_eq!(range.from, NaiveDate::from_ymd_opt(2026, 2, 1));
    assert_eq!(range.to, NaiveDate::from_ymd_opt(2026, 3, 1));
    let bad = |from: &str, to: &str| {
        SummaryRange::try_from(&pb::GetCategorySummaryRequest {
            from: Some(from.into()),
            to: Some(to.into()),
            min_position: None,
        })
    };
    assert_eq!(field(bad("2026-2", "2026-03")), "from");
    assert_eq!(field(bad("2026-02", "2026-13")), "to");
    assert_eq!(field(bad("2026-04", "2026-03")), "to");
}

#[test]
fn read_values_print_as_the_contract_says() {
    assert_eq!(money(Decimal::new(125_000, 4), "EUR"), "12.50");
    assert_eq!(money(Decimal::new(-2000, 2), "EUR"), "-20.00");
    assert_eq!(money(Decimal::new(1234, 4), "EUR"), "0.1234");
    assert_eq!(money(Decimal::new(-0, 2), "EUR"), "0.00");
    assert_eq!(money(Decimal::new(1200, 0), "JPY"), "1200");
    assert_eq!(money(Decimal::new(15, 1), "KWD"), "1.500");
    assert_eq!(date(NaiveDate::from_ymd_opt(2026, 3, 4).unwrap()), "2026-03-04");
    assert_eq!(month(NaiveDate::from_ymd_opt(2026, 3, 1).unwrap()), "2026-03");
}
