//! The search contract on real PostgreSQL: each matching rule, ranking, facets, paging,
//! filters, isolation, and the documents following renames, invoices and voids.

mod common;

use cashflow_domain::AccountId;
use cashflow_domain::movement::Direction;
use cashflow_projection_ledger::MovementFilter;
use cashflow_projection_search::{SearchFilter, SearchQueries, SearchRequest};
use common::*;
use std::collections::HashSet;

/// `world`'s events applied, as the projector applies them, on a database of their own.
async fn projected(world: &World) -> TestDb {
    let db = TestDb::new().await;
    db.apply_batches(&world.events, 64).await;
    db
}

#[tokio::test]
async fn accents_and_case_do_not_matter() {
    let mut world = World::new();
    let me = World::person();
    world.record(me, Spec::new("Café con leche"));
    world.record(me, Spec::new("CAFE DE OLLA"));
    world.record(me, Spec::new("Tea"));
    let db = projected(&world).await;

    let mut found = descriptions(&search(&db.pool, me, "cafe").await);
    found.sort();
    assert_eq!(found, ["CAFE DE OLLA", "Café con leche"]);
    assert_eq!(search(&db.pool, me, "CAFÉ").await.total_hits, 2);
    db.drop().await;
}

#[tokio::test]
async fn a_word_finds_the_words_it_begins() {
    let mut world = World::new();
    let me = World::person();
    world.record(me, Spec::new("Groceries for the week"));
    world.record(me, Spec::new("Rent"));
    let db = projected(&world).await;

    assert_eq!(descriptions(&search(&db.pool, me, "groc").await), ["Groceries for the week"]);
    assert_eq!(descriptions(&search(&db.pool, me, "gro wee").await), ["Groceries for the week"], "every word");
    assert!(search(&db.pool, me, "ceries").await.hits.is_empty(), "a prefix, not any substring");
    db.drop().await;
}

#[tokio::test]
async fn one_typo_in_a_word_of_five_letters_or_more_still_finds_it() {
    let mut world = World::new();
    let me = World::person();
    world.record(me, Spec::new("Groceries"));
    world.record(me, Spec::new("Mango juice"));
    world.record(me, Spec::new("Rent"));
    let db = projected(&world).await;

    assert_eq!(descriptions(&search(&db.pool, me, "groseries").await), ["Groceries"], "a letter changed");
    assert_eq!(descriptions(&search(&db.pool, me, "grocceries").await), ["Groceries"], "a letter added");
    assert_eq!(descriptions(&search(&db.pool, me, "grocries").await), ["Groceries"], "a letter dropped");
    assert_eq!(descriptions(&search(&db.pool, me, "mnago").await), ["Mango juice"], "two letters swapped");
    assert!(search(&db.pool, me, "grosseries").await.hits.is_empty(), "two typos are too many");
    assert!(search(&db.pool, me, "renr").await.hits.is_empty(), "a four-letter word must be exact");
    db.drop().await;
}

#[tokio::test]
async fn english_and_spanish_stems_find_each_other() {
    let mut world = World::new();
    let me = World::person();
    world.record(me, Spec::new("Compra semanal"));
    world.record(me, Spec::new("Running shoes"));
    world.record(me, Spec::new("Electricity bill"));
    let db = projected(&world).await;

    assert_eq!(descriptions(&search(&db.pool, me, "compras").await), ["Compra semanal"]);
    assert_eq!(descriptions(&search(&db.pool, me, "semanales").await), ["Compra semanal"]);
    assert_eq!(descriptions(&search(&db.pool, me, "runs shoe").await), ["Running shoes"]);
    assert_eq!(descriptions(&search(&db.pool, me, "bills").await), ["Electricity bill"]);
    db.drop().await;
}

#[tokio::test]
async fn an_amount_finds_the_movements_of_that_amount_and_the_receipts_that_print_it() {
    let mut world = World::new();
    let me = World::person();
    world.record(me, Spec::new("Lunch").amount("12.50"));
    world.record(me, Spec::new("Dinner").amount("12.5"));
    world.record(me, Spec::new("Taxi").amount("125"));
    let paid = world.record(me, Spec::new("Hardware store").amount("30"));
    world.invoice(me, paid, "Leroy", "CLAVOS 17,50\nTOTAL 30,00");
    let db = projected(&world).await;

    let mut found = descriptions(&search(&db.pool, me, "12.50").await);
    found.sort();
    assert_eq!(found, ["Dinner", "Lunch"], "the value, however many decimals");
    assert_eq!(search(&db.pool, me, "12,50").await.total_hits, 2);
    assert_eq!(descriptions(&search(&db.pool, me, "€125").await), ["Taxi"]);
    assert_eq!(descriptions(&search(&db.pool, me, "17.50").await), ["Hardware store"], "printed on the receipt");
    assert_eq!(descriptions(&search(&db.pool, me, "lunch 12.50").await), ["Lunch"], "words and amounts together");
    assert!(search(&db.pool, me, "taxi 12.50").await.hits.is_empty());
    db.drop().await;
}

#[tokio::test]
async fn a_category_name_finds_its_movements_and_follows_a_rename() {
    let mut world = World::new();
    let me = World::person();
    let eating_out = world.create_category(me, "Restaurantes");
    let lunch = world.record(me, Spec::new("Menu del dia"));
    world.assign(me, lunch, eating_out);
    world.record(me, Spec::new("Groceries"));
    let db = projected(&world).await;
    assert_eq!(descriptions(&search(&db.pool, me, "restaurante").await), ["Menu del dia"]);

    let before = world.events.len();
    world.rename_category(me, eating_out, "Eating out");
    db.apply_batches(&world.events[before..], 64).await;
    assert!(search(&db.pool, me, "restaurantes").await.hits.is_empty(), "the old name is gone");
    let page = search(&db.pool, me, "eating").await;
    assert_eq!(descriptions(&page), ["Menu del dia"]);
    assert_eq!(page.hits[0].highlights, ["<mark>Eating</mark> out"]);
    assert_eq!(page.categories[0].name, "Eating out", "and the facet");
    db.drop().await;
}

#[tokio::test]
async fn a_linked_invoices_merchant_and_text_find_its_movement() {
    let mut world = World::new();
    let me = World::person();
    let shopping = world.record(me, Spec::new("Weekly shop"));
    world.invoice(me, shopping, "Mercadona S.A.", "MERCADONA\nAGUACATES 3,20\nLECHE ENTERA 1,10\nTOTAL 4,30");
    world.record(me, Spec::new("Avocado toast"));
    let db = projected(&world).await;

    assert_eq!(descriptions(&search(&db.pool, me, "mercadona").await), ["Weekly shop"]);
    let page = search(&db.pool, me, "aguacate").await;
    assert_eq!(descriptions(&page), ["Weekly shop"], "a word of the receipt, by its stem");
    assert!(
        page.hits[0].highlights.iter().any(|h| h.contains("<mark>AGUACATES</mark>")),
        "{:?}",
        page.hits[0].highlights
    );
    db.drop().await;
}

#[tokio::test]
async fn an_exact_word_ranks_above_a_typo_and_ties_go_to_the_newest() {
    let mut world = World::new();
    let me = World::person();
    world.record(me, Spec::new("Mercadona").on("2026-01-01"));
    world.record(me, Spec::new("Mercadnoa typo").on("2026-06-01"));
    world.record(me, Spec::new("Mercadona again").on("2026-03-01"));
    let db = projected(&world).await;

    let page = search(&db.pool, me, "mercadona").await;
    assert_eq!(descriptions(&page), ["Mercadona again", "Mercadona", "Mercadnoa typo"]);
    assert!(page.hits[1].score > page.hits[2].score, "{:?}", page.hits);
    db.drop().await;
}

#[tokio::test]
async fn pages_hold_every_hit_once_and_the_facets_count_all_of_them() {
    let mut world = World::new();
    let me = World::person();
    let food = world.create_category(me, "Food");
    let fun = world.create_category(me, "Fun");
    let mut expected = HashSet::new();
    for i in 0..130 {
        // Scores tie in groups, and so do dates: the id breaks the ties.
        let description = if i % 3 == 0 { "coffee beans" } else { "coffee" };
        let on = format!("2026-{:02}-{:02}", 1 + i % 4, 1 + i % 7);
        let id = world.record(me, Spec::new(description).on(&on));
        match i % 5 {
            0 => world.assign(me, id, food),
            1 => world.assign(me, id, fun),
            _ => {}
        }
        expected.insert(id.as_uuid());
    }
    world.record(me, Spec::new("tea"));
    let db = projected(&world).await;

    let queries = SearchQueries::new(db.pool.clone());
    let mut request = SearchRequest { text: text("coffee"), page_size: 7, ..SearchRequest::default() };
    let mut seen = Vec::new();
    let first = queries.search(me.as_uuid(), &request).await.unwrap();
    let mut page = first.clone();
    loop {
        assert_eq!(page.total_hits, 130, "every page counts every hit");
        assert!(page.hits.len() <= 7);
        seen.extend(page.hits.iter().map(|hit| hit.movement.movement_id));
        let Some(next) = page.next else { break };
        request.after = Some(next);
        page = queries.search(me.as_uuid(), &request).await.unwrap();
    }
    assert_eq!(seen.len(), 130, "no hit twice");
    assert_eq!(seen.iter().copied().collect::<HashSet<_>>(), expected, "and none left out");

    let by_category: u64 = first.categories.iter().map(|facet| facet.count).sum();
    assert_eq!(first.categories.len(), 2);
    assert_eq!(by_category, 26 + 26, "uncategorised hits are in no category facet");
    assert_eq!(first.categories.iter().find(|f| f.name == "Food").map(|f| f.count), Some(26));
    assert_eq!(first.months.iter().map(|facet| facet.count).sum::<u64>(), 130);
    let months: Vec<&str> = first.months.iter().map(|facet| facet.month.as_str()).collect();
    assert_eq!(months, ["2026-04", "2026-03", "2026-02", "2026-01"]);
    db.drop().await;
}

#[tokio::test]
async fn one_person_never_finds_anothers_movements_or_words() {
    let mut world = World::new();
    let me = World::person();
    let someone = World::person();
    world.record(me, Spec::new("Groceries"));
    world.record(someone, Spec::new("Groceries secret"));
    world.record(someone, Spec::new("Mercadona"));
    let db = projected(&world).await;

    assert_eq!(descriptions(&search(&db.pool, me, "groceries").await), ["Groceries"]);
    assert!(search(&db.pool, me, "secret").await.hits.is_empty());
    assert!(search(&db.pool, me, "mercadnoa").await.hits.is_empty(), "not even through their vocabulary");
    assert_eq!(search(&db.pool, me, "").await.total_hits, 1);
    db.drop().await;
}

#[tokio::test]
async fn filters_narrow_a_search_and_a_blank_query_lists_what_they_select() {
    let mut world = World::new();
    let me = World::person();
    let card = AccountId::new();
    world.record_in(me, card, Spec::new("Salary").income().amount("2000").on("2026-10-31"));
    world.record_in(me, card, Spec::new("Rent").amount("900").on("2026-11-01"));
    world.record(me, Spec::new("Rent deposit").amount("1800").on("2026-09-01"));
    let voided = world.record(me, Spec::new("Rent twice").amount("900").on("2026-11-02"));
    world.void(me, voided);
    let db = projected(&world).await;
    let queries = SearchQueries::new(db.pool.clone());
    let run = |query: &str, filter: SearchFilter| {
        let request = SearchRequest { text: text(query), filter, ..SearchRequest::default() };
        let queries = queries.clone();
        async move { descriptions(&queries.search(me.as_uuid(), &request).await.unwrap()) }
    };

    assert_eq!(run("", SearchFilter::default()).await, ["Rent", "Salary", "Rent deposit"], "newest first");
    let movements = |filter: MovementFilter| SearchFilter { movements: filter, ..SearchFilter::default() };
    let card_only = MovementFilter { account_id: Some(card.as_uuid()), ..MovementFilter::default() };
    assert_eq!(run("rent", movements(card_only)).await, ["Rent"]);
    let income = MovementFilter { direction: Some(Direction::Income), ..MovementFilter::default() };
    assert_eq!(run("", movements(income)).await, ["Salary"]);
    let range = movements(MovementFilter {
        from: Some(chrono::NaiveDate::from_ymd_opt(2026, 10, 1).unwrap()),
        to: Some(chrono::NaiveDate::from_ymd_opt(2026, 10, 31).unwrap()),
        ..MovementFilter::default()
    });
    assert_eq!(run("", range).await, ["Salary"]);
    let amounts =
        SearchFilter { min_amount: Some(dec("900")), max_amount: Some(dec("1800")), ..SearchFilter::default() };
    assert_eq!(run("rent", amounts).await, ["Rent", "Rent deposit"]);
    let everything = SearchFilter { include_voided: true, ..SearchFilter::default() };
    assert_eq!(run("rent", everything).await, ["Rent twice", "Rent", "Rent deposit"], "voided only on request");
    db.drop().await;
}

#[tokio::test]
async fn punctuation_alone_finds_nothing_and_highlights_are_escaped() {
    let mut world = World::new();
    let me = World::person();
    world.record(me, Spec::new("Fish & chips <b>").counterparty("Café \"Sol\""));
    let db = projected(&world).await;

    let nothing = search(&db.pool, me, "?! -- ...").await;
    assert!(nothing.hits.is_empty());
    assert_eq!(nothing.total_hits, 0);
    let page = search(&db.pool, me, "chips cafe").await;
    assert_eq!(
        page.hits[0].highlights,
        ["Fish &amp; <mark>chips</mark> &lt;b&gt;", "<mark>Café</mark> &quot;Sol&quot;"]
    );
    db.drop().await;
}

/// PostgreSQL's parser reads `<cake>` as an XML tag and drops it: the view replaces `<` and `>`
/// before indexing (ADR 0031), and a query is cut at them, so `cake` and `<cake>` both find it.
#[tokio::test]
async fn words_in_angle_brackets_are_indexed_and_found_with_or_without_them() {
    let mut world = World::new();
    let me = World::person();
    world.record(me, Spec::new("Tea & <cake>"));
    world.record(me, Spec::new("Stationery").counterparty("<b>Bold</b> <Papers>"));
    let treats = world.create_category(me, "<Treats>");
    let sweets = world.record(me, Spec::new("Sweets"));
    world.assign(me, sweets, treats);
    world.record(me, Spec::new("Tea"));
    let db = projected(&world).await;

    assert_eq!(descriptions(&search(&db.pool, me, "cake").await), ["Tea & <cake>"]);
    assert_eq!(descriptions(&search(&db.pool, me, "<cake>").await), ["Tea & <cake>"]);
    assert_eq!(descriptions(&search(&db.pool, me, "tea <cake>").await), ["Tea & <cake>"]);
    assert_eq!(descriptions(&search(&db.pool, me, "cakes").await), ["Tea & <cake>"], "its stem, from the vocabulary");
    assert_eq!(descriptions(&search(&db.pool, me, "bold").await), ["Stationery"]);
    assert_eq!(descriptions(&search(&db.pool, me, "<b>bold</b>").await), ["Stationery"]);
    assert_eq!(descriptions(&search(&db.pool, me, "papers").await), ["Stationery"]);
    assert_eq!(descriptions(&search(&db.pool, me, "<paper>").await), ["Stationery"], "a prefix, in brackets");
    assert_eq!(descriptions(&search(&db.pool, me, "treats").await), ["Sweets"], "a category name");
    assert_eq!(descriptions(&search(&db.pool, me, "treets").await), ["Sweets"], "a typo, from the vocabulary");
    assert_eq!(
        search(&db.pool, me, "<cake>").await.hits[0].highlights,
        ["Tea &amp; &lt;<mark>cake</mark>&gt;"],
        "highlighted, the brackets shown as written"
    );
    assert_eq!(
        search(&db.pool, me, "bold").await.hits[0].highlights,
        ["&lt;b&gt;<mark>Bold</mark>&lt;/b&gt; &lt;Papers&gt;"]
    );
    db.drop().await;
}

#[tokio::test]
async fn voids_and_invoices_linked_later_are_followed_and_a_rebuild_writes_the_same_view() {
    let mut world = World::new();
    let me = World::person();
    let someone = World::person();
    let food = world.create_category(me, "Comida");
    for i in 0..40 {
        let owner = if i % 4 == 0 { someone } else { me };
        let description = format!("Compra {i} en el mercado");
        let id = world.record(owner, Spec::new(&description).amount(&format!("{}.25", i + 1)));
        if owner == me && i % 3 == 0 {
            world.assign(me, id, food);
        }
        if i % 7 == 0 {
            world.void(owner, id);
        }
        if i % 5 == 1 {
            world.invoice(owner, id, "Mercadona", &format!("TICKET {i}\nFRUTA {i},10"));
        }
    }
    world.rename_category(me, food, "Alimentación");

    let live = TestDb::new().await;
    live.apply_batches(&world.events, 13).await;
    let one_by_one = TestDb::new().await;
    one_by_one.apply(&world.events).await;
    assert_eq!(live.dump().await, one_by_one.dump().await, "batches write what events one by one write");

    // Applied again (a redelivery): nothing changes.
    let before = live.dump().await;
    live.apply_batches(&world.events, 29).await;
    assert_eq!(live.dump().await, before);

    live.reset().await;
    live.apply_batches(&world.events, 500).await;
    assert_eq!(live.dump().await, before, "rebuilt from position 0");
    assert_eq!(
        search(&live.pool, me, "alimentacion").await.total_hits,
        9,
        "ten of mine in the category, one of them voided"
    );
    live.drop().await;
    one_by_one.drop().await;
}
