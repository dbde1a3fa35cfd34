//! The search view at scale, in one run on one database: seed the event store with N people's
//! history (default 1,000 × 1,000 movements, described in English and Spanish with merchants
//! and references), rebuild the ledger and the search view from it, then SearchMovements
//! latencies for a word, a typo, a prefix and an amount, beside ListMovements' first page.
//!
//! `cargo bench -p cashflow-projection-search --bench scale` (env: `CASHFLOW_BENCH_POSTGRES`,
//! a server URL ending in `/`; `CASHFLOW_BENCH_USERS`; `CASHFLOW_BENCH_MOVEMENTS_PER_USER`;
//! `CASHFLOW_BENCH_SAMPLES`, default 1,000). Prints a table and one JSON line.

use cashflow_eventstore::{EventStore, PgEventStore};
use cashflow_projection::Projection;
use cashflow_projection_ledger::{LedgerProjection, LedgerQueries, MovementFilter};
use cashflow_projection_search::{SearchProjection, SearchQueries, SearchRequest, SearchText};
use cashflow_testkit::scale::{Person, Rng, Scale, Words, bench_database, measure, seed};
use serde_json::json;
use sqlx::PgPool;
use std::time::Instant;

/// What people write: a purchase, where, sometimes a reference.
const WHAT: [&str; 24] = [
    "Groceries",
    "Compra semanal",
    "Coffee",
    "Café con leche",
    "Fuel",
    "Gasolina",
    "Train ticket",
    "Billete de tren",
    "Dinner",
    "Cena con amigos",
    "Lunch",
    "Menú del día",
    "Pharmacy",
    "Medicinas",
    "Rent",
    "Alquiler piso",
    "Electricity bill",
    "Factura de la luz",
    "Phone bill",
    "Recarga móvil",
    "Cinema tickets",
    "Entradas de cine",
    "Books",
    "Libros",
];
const WHERE: [&str; 16] = [
    "Mercadona",
    "Carrefour",
    "Lidl",
    "Starbucks",
    "Café Central",
    "Repsol",
    "Amazon",
    "Renfe",
    "Uber",
    "Iberdrola",
    "Movistar",
    "El Corte Inglés",
    "Farmacia López",
    "Panadería Hermanos",
    "Cines Yelmo",
    "Casa del Libro",
];

fn words(rng: &mut Rng, _: usize) -> Words {
    let what = rng.pick(&WHAT);
    let place = rng.pick(&WHERE);
    let description = match rng.below(5) {
        0 => format!("{what} ref {}", 1000 + rng.below(9000)),
        _ => format!("{what} {place}"),
    };
    Words { description, counterparty: Some((*place).to_owned()) }
}

#[tokio::main]
async fn main() {
    let Scale { users, per_user, samples } = Scale::from_env();
    let (_database, pool) = bench_database().await;
    cashflow_projection::migrate(&pool).await.expect("projection migrations");
    cashflow_projection_ledger::migrate(&pool).await.expect("ledger migrations");
    cashflow_projection_search::migrate(&pool).await.expect("search migrations");

    let started = Instant::now();
    let people = seed(&pool, users, per_user, words).await;
    let store = PgEventStore::new(pool.clone());
    let events = store.head().await.expect("head");
    println!("seeded {events} events for {users} users in {:.1} s", started.elapsed().as_secs_f64());

    let ledger_rate = rebuild(&pool, &store, &LedgerProjection, events).await;
    let search_rate = rebuild(&pool, &store, &SearchProjection, events).await;
    sqlx::query("VACUUM ANALYZE").execute(&pool).await.expect("vacuum analyze");
    let vocabulary: i64 =
        sqlx::query_scalar("SELECT count(*) FROM search_words").fetch_one(&pool).await.expect("vocabulary");
    println!("vocabulary: {vocabulary} words ({:.0} a person)", vocabulary as f64 / users.max(1) as f64);

    let search = SearchQueries::new(pool.clone());
    let ledger = LedgerQueries::new(pool.clone());
    let mut rng = Rng(0x5EED);
    let mut rows = Vec::new();
    for (name, query) in [
        ("SearchMovements word \"coffee\"", "coffee"),
        ("SearchMovements typo \"groseries\"", "groseries"),
        ("SearchMovements prefix \"merc\"", "merc"),
        ("SearchMovements stem \"compras\"", "compras"),
        ("SearchMovements amount \"12.50\"", "12.50"),
        ("SearchMovements two words", "cafe central"),
        ("SearchMovements empty (filters)", ""),
    ] {
        let text = SearchText::parse("query", query).expect("a query");
        let hits = std::cell::Cell::new(0u64);
        let latency = measure(samples, || {
            let person: &Person = rng.pick(&people);
            let request = SearchRequest { text: text.clone(), ..SearchRequest::default() };
            let (user, search) = (person.id.as_uuid(), search.clone());
            let hits = &hits;
            async move {
                hits.set(hits.get() + search.search(user, &request).await.expect("search").total_hits);
            }
        })
        .await;
        rows.push((name, latency, hits.get() / samples.max(1) as u64));
    }
    let first_page = measure(samples, || {
        let (user, ledger) = (rng.pick(&people).id.as_uuid(), ledger.clone());
        async move {
            ledger.list_movements(user, &MovementFilter::default(), 50, None).await.expect("first page");
        }
    })
    .await;
    rows.push(("ListMovements first page", first_page, per_user as u64));

    println!("{:<38} {:>9} {:>9} {:>12}", "query (page of 50, facets, highlights)", "p50 ms", "p99 ms", "hits/query");
    for (name, (p50, p99), hits) in &rows {
        println!("{name:<38} {p50:>9.2} {p99:>9.2} {hits:>12}");
    }
    let report = json!({
        "users": users,
        "movements": users * per_user,
        "events": events,
        "ledger_rebuild_events_per_second": ledger_rate,
        "search_rebuild_events_per_second": search_rate,
        "vocabulary_words": vocabulary,
        "queries_ms": rows.iter().map(|(name, (p50, p99), hits)| json!({ "query": name, "p50": p50, "p99": p99, "hits": hits })).collect::<Vec<_>>(),
    });
    println!("{report}");
    pool.close().await;
}

/// Rebuilds `projection` from the whole store; its rate in events per second.
async fn rebuild(pool: &PgPool, store: &PgEventStore, projection: &dyn Projection, events: u64) -> f64 {
    let started = Instant::now();
    cashflow_projection::rebuild(pool, store, projection, |_, _| {}).await.expect("rebuild");
    let seconds = started.elapsed().as_secs_f64();
    let rate = events as f64 / seconds;
    println!("rebuild {}: {events} events in {seconds:.1} s = {rate:.0} events/s", projection.name());
    rate
}
