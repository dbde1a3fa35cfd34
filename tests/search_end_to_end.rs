//! SearchMovements end to end: the real binary, PostgreSQL and NATS, through the generated
//! clients. Read-your-writes, isolation, a rename followed, bad input, and a rebuild equal to
//! the live view.

mod support;

use cashflow_proto::v1::*;
use sqlx::Row;
use support::{CASHFLOW, Namespace, Server, command_id, open_account};
use tonic::Code;
use tonic_types::StatusExt;
use uuid::Uuid;

fn violated_field(status: &tonic::Status) -> String {
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    let details = status.get_error_details();
    let bad_request = details.bad_request().expect("a google.rpc.BadRequest detail");
    bad_request.field_violations.first().expect("a field violation").field.clone()
}

fn search(query: &str, min_position: u64) -> SearchMovementsRequest {
    SearchMovementsRequest { query: query.into(), min_position: Some(min_position), ..Default::default() }
}

fn descriptions(response: &SearchMovementsResponse) -> Vec<String> {
    response.hits.iter().map(|hit| hit.movement.as_ref().expect("a movement").description.clone()).collect()
}

/// Every row of the search view, ordered, as text.
async fn dump_search(pool: &sqlx::PgPool) -> Vec<String> {
    let mut dump = Vec::new();
    for table in ["search_documents", "search_categories", "search_invoices", "search_words"] {
        let sql = format!("SELECT t::text AS row FROM {table} t ORDER BY t::text");
        for row in sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_all(pool).await.expect("dump table") {
            dump.push(format!("{table}: {}", row.get::<String, _>("row")));
        }
    }
    dump
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_person_finds_what_they_recorded_and_nobody_else_does() {
    let namespace = Namespace::new();
    let server = Server::start(CASHFLOW, &namespace, "api,relay,projectors");
    let alice = Uuid::now_v7();
    let bob = Uuid::now_v7();
    let mut ledger = server.ledger(alice).await;
    let mut query = server.query(alice).await;

    let account = open_account(&mut ledger, "Main").await.account_id;
    let eating_out = ledger
        .create_category(CreateCategoryRequest {
            command_id: command_id(),
            name: "Restaurantes".into(),
            parent_id: None,
        })
        .await
        .expect("create category")
        .into_inner()
        .category_id;
    let mut position = 0;
    for (description, counterparty, amount) in [
        ("Café con leche", "Bar Sol", "3.20"),
        ("Groceries", "Mercadona", "45.10"),
        ("Menú del día", "Casa Pepe", "12.50"),
    ] {
        let recorded = ledger
            .record_movement(RecordMovementRequest {
                command_id: command_id(),
                account_id: account.clone(),
                direction: Direction::Expense.into(),
                amount: amount.into(),
                occurred_on: "2026-11-20".into(),
                description: description.into(),
                counterparty: Some(counterparty.into()),
                category_id: (description == "Menú del día").then(|| eating_out.clone()),
            })
            .await
            .expect("record")
            .into_inner();
        position = recorded.position;
    }

    // Read-your-writes: the position of the last command is enough.
    let found = query.search_movements(search("cafe", position)).await.expect("search").into_inner();
    assert_eq!(descriptions(&found), ["Café con leche"]);
    assert_eq!(found.total_hits, 1);
    assert_eq!(found.hits[0].highlights, ["<mark>Café</mark> con leche"]);
    assert!(found.hits[0].score > 0.0);
    let found = query.search_movements(search("groseries", position)).await.expect("search").into_inner();
    assert_eq!(descriptions(&found), ["Groceries"]);
    let found = query.search_movements(search("12.50", position)).await.expect("search").into_inner();
    assert_eq!(descriptions(&found), ["Menú del día"]);
    let found = query.search_movements(search("restaurante", position)).await.expect("search").into_inner();
    assert_eq!(descriptions(&found), ["Menú del día"]);
    let facets = found.facets.expect("facets");
    assert_eq!(facets.categories.len(), 1);
    assert_eq!((facets.categories[0].name.as_str(), facets.categories[0].count), ("Restaurantes", 1));
    assert_eq!(facets.months.iter().map(|m| (m.month.as_str(), m.count)).collect::<Vec<_>>(), [("2026-11", 1)]);

    // A rename is followed.
    let renamed = ledger
        .rename_category(RenameCategoryRequest {
            command_id: command_id(),
            category_id: eating_out.clone(),
            name: "Eating out".into(),
        })
        .await
        .expect("rename")
        .into_inner();
    let found = query.search_movements(search("eating", renamed.position)).await.expect("search").into_inner();
    assert_eq!(descriptions(&found), ["Menú del día"]);
    let found = query.search_movements(search("restaurantes", renamed.position)).await.expect("search").into_inner();
    assert!(found.hits.is_empty());

    // Bob finds nothing of Alice's.
    let mut bobs_query = server.query(bob).await;
    let found = bobs_query.search_movements(search("cafe", renamed.position)).await.expect("search").into_inner();
    assert!(found.hits.is_empty());
    assert_eq!(found.total_hits, 0);
    let found = bobs_query.search_movements(search("", renamed.position)).await.expect("search").into_inner();
    assert!(found.hits.is_empty(), "not even by the filters alone");

    // Bad input is refused naming the field, and punctuation alone finds nothing.
    for (request, field) in [
        (SearchMovementsRequest { query: "a".repeat(257), ..Default::default() }, "query"),
        (SearchMovementsRequest { page_size: 501, ..Default::default() }, "page_size"),
        (SearchMovementsRequest { account_id: Some("nope".into()), ..Default::default() }, "account_id"),
        (SearchMovementsRequest { min_amount: Some("1e9".into()), ..Default::default() }, "min_amount"),
        (SearchMovementsRequest { page_token: "not-a-token".into(), ..Default::default() }, "page_token"),
    ] {
        let status = query.search_movements(request).await.expect_err("refused");
        assert_eq!(violated_field(&status), field);
    }
    let found = query.search_movements(search("¿?!…", renamed.position)).await.expect("search").into_inner();
    assert!(found.hits.is_empty());

    // A rebuild from position 0 writes the live view again.
    let pool = namespace.pool().await;
    let live = dump_search(&pool).await;
    assert!(live.iter().any(|row| row.contains("Eating out")), "the view holds the rename");
    let output = support::run_cli(CASHFLOW, &namespace, &["projections", "rebuild", "search"]);
    assert!(output.status.success(), "rebuild failed: {}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(dump_search(&pool).await, live);

    assert!(server.terminate().success());
}
