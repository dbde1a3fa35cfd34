//! [`SearchQueries`]: SearchMovements over one person's documents.
//!
//! A search runs in one read-only transaction, in two statements:
//!
//! 1. **Widening.** Each query word is normalised as the documents were (lower case, no
//!    accents) and looked up in the person's vocabulary (`search_words`): the words sharing its
//!    English or Spanish stem (`compras` → `compra`), and for a word of five letters or more,
//!    those one typo away (`groseries` → `groceries`: trigram candidates from a GIN index,
//!    confirmed by [`within_one_typo`]).
//! 2. **Matching.** Every word must match, as a prefix of a document word or as one of its
//!    widenings, and every amount must be the movement's amount or a number in its text. The
//!    hits are ranked (exact words and stems above prefixes and typos, the description above
//!    the receipt's text), then newest first; one keyset page is read with its highlights, and
//!    the facets and total count every hit.
//!
//! A search reads one person's documents (through the `(owner, occurred_on, id)` index) and
//! matches each: it costs what one person's history costs, whatever the number of people. A
//! GIN index over everyone's words, intersected with the owner, was 25 times slower at a
//! million documents (ADR 0018).

mod cursor;

pub use cashflow_projection::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, QueryError};
pub use cursor::SearchCursor;

use crate::text::{
    ANGLE_CLOSE, ANGLE_OPEN, MARK_END, MARK_START, SearchText, may_be_mistyped, quote_lexeme, render_highlight,
    within_one_typo,
};
use cashflow_projection::query::{effective_page_size, split_page};
use cashflow_projection_ledger::{MovementFilter, MovementView, movement_view};
use rust_decimal::Decimal;
use serde_json::Value;
use sqlx::postgres::PgRow;
use sqlx::{PgPool, Postgres, QueryBuilder, Row};
use std::collections::BTreeMap;
use uuid::Uuid;

/// What narrows a search besides its text: ListMovements' filters, and amounts; every field
/// left `None` matches all. Amounts are inclusive. Voided movements are left out unless
/// `include_voided`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchFilter {
    pub movements: MovementFilter,
    pub min_amount: Option<Decimal>,
    pub max_amount: Option<Decimal>,
    pub include_voided: bool,
}

/// One search: the text, the filters, and which page.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SearchRequest {
    pub text: SearchText,
    pub filter: SearchFilter,
    /// 0 means [`DEFAULT_PAGE_SIZE`]; at most [`MAX_PAGE_SIZE`].
    pub page_size: u32,
    pub after: Option<SearchCursor>,
}

/// A page of hits, best first, with what all the hits add up to.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SearchPage {
    pub hits: Vec<SearchHit>,
    /// The hits per category, most first; uncategorised hits are in no category facet.
    pub categories: Vec<CategoryFacet>,
    /// The hits per month of `occurred_on`, newest first.
    pub months: Vec<MonthFacet>,
    pub total_hits: u64,
    /// Where the next page starts; `None` when this page is the last.
    pub next: Option<SearchCursor>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SearchHit {
    pub movement: MovementView,
    /// Higher is better; 0 when the query had no words.
    pub score: f32,
    /// The document's fields that matched, as HTML: text escaped, matched words in `<mark>`.
    pub highlights: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CategoryFacet {
    pub category_id: Uuid,
    pub name: String,
    pub count: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonthFacet {
    /// `YYYY-MM`.
    pub month: String,
    pub count: u64,
}

/// A word's alternatives in the person's vocabulary.
#[derive(Debug, Default)]
struct Widened {
    /// The word normalised, matched as a prefix.
    word: String,
    /// Words sharing its stem in either language, and the word itself: ranked as exact.
    stems: Vec<String>,
    /// Words one typo away.
    typos: Vec<String>,
}

/// The tsqueries a search's words become.
struct WordQueries {
    /// Every word matches: `('groc':* | 'grocery') & (…)`.
    matching: String,
    /// Any exact word or stem: what ranks a hit above a prefix or a typo.
    strong: String,
    /// Everything that may have matched, amounts' numbers included: what is highlighted.
    highlight: String,
}

/// Most of a receipt's text that highlighting reads: fragments come from its beginning.
const HIGHLIGHT_TEXT_CHARS: i32 = 8000;
/// Separates a receipt's fragments in ts_headline's answer.
const FRAGMENT_SEPARATOR: char = '\u{E002}';
/// How similar (pg_trgm) a vocabulary word must be to a query word to be checked for a typo:
/// a swap of two letters in a five-letter word leaves 0.2.
const TYPO_CANDIDATE_SIMILARITY: &str = "0.2";

/// The search view's reads. Cheap to clone: the pool is shared.
#[derive(Debug, Clone)]
pub struct SearchQueries {
    pool: PgPool,
}

impl SearchQueries {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    /// `owner`'s movements matching `request`, a page at a time (module docs).
    #[tracing::instrument(name = "search.search", skip_all, err,
        fields(words = request.text.words().len(), amounts = request.text.amounts().len()))]
    pub async fn search(&self, owner: Uuid, request: &SearchRequest) -> Result<SearchPage, QueryError> {
        if request.text.matches_nothing() {
            return Ok(SearchPage::default());
        }
        let mut tx = self.pool.begin().await?;
        sqlx::query("SET TRANSACTION READ ONLY").execute(&mut *tx).await?;
        let words = if request.text.words().is_empty() {
            None
        } else {
            let widened = widen(&mut tx, owner, &request.text).await?;
            Some(word_queries(&widened, &request.text))
        };
        let page_size = effective_page_size(request.page_size) as usize;
        let rows = search_query(owner, request, words.as_ref(), page_size).build().fetch_all(&mut *tx).await?;
        tx.commit().await?;
        read_page(&rows, page_size)
    }
}

/// Each query word with its stems and typos in `owner`'s vocabulary (module docs, step 1).
async fn widen(tx: &mut sqlx::PgConnection, owner: Uuid, text: &SearchText) -> Result<Vec<Widened>, QueryError> {
    let mistyped: Vec<i64> =
        (1..).zip(text.words()).filter(|(_, word)| may_be_mistyped(word)).map(|(ordinal, _)| ordinal).collect();
    if !mistyped.is_empty() {
        sqlx::query("SELECT set_config('pg_trgm.similarity_threshold', $1, true)")
            .bind(TYPO_CANDIDATE_SIMILARITY)
            .execute(&mut *tx)
            .await?;
    }
    let rows = sqlx::query(
        "WITH terms AS (
             SELECT t.ordinal, lower(unaccent(t.word)) AS word
             FROM unnest($2::text[]) WITH ORDINALITY AS t(word, ordinal)),
         stems AS (
             SELECT ordinal, (ts_lexize('english_stem', word))[1] AS en, (ts_lexize('spanish_stem', word))[1] AS es
             FROM terms)
         SELECT ordinal, word, 'self' AS how FROM terms
         UNION ALL
         SELECT s.ordinal, w.word, 'stem' FROM stems AS s JOIN search_words AS w ON w.owner = $1 AND w.stem_en = s.en
         UNION ALL
         SELECT s.ordinal, w.word, 'stem' FROM stems AS s JOIN search_words AS w ON w.owner = $1 AND w.stem_es = s.es
         UNION ALL
         SELECT t.ordinal, w.word, 'typo' FROM terms AS t JOIN search_words AS w ON w.owner = $1 AND w.word % t.word
         WHERE t.ordinal = ANY($3)",
    )
    .bind(owner)
    .bind(text.words())
    .bind(&mistyped)
    .fetch_all(&mut *tx)
    .await?;
    let mut widened: BTreeMap<i64, Widened> = BTreeMap::new();
    for row in &rows {
        let ordinal: i64 = row.try_get("ordinal")?;
        let word: String = row.try_get("word")?;
        let how: &str = row.try_get("how")?;
        let entry = widened.entry(ordinal).or_default();
        match how {
            "self" => entry.word = word,
            "stem" => entry.stems.push(word),
            _ => entry.typos.push(word),
        }
    }
    let mut widened: Vec<Widened> = widened.into_values().filter(|w| !w.word.is_empty()).collect();
    for entry in &mut widened {
        entry.stems.push(entry.word.clone());
        entry.stems.sort_unstable();
        entry.stems.dedup();
        let Widened { word, stems, typos } = entry;
        typos.retain(|typo| within_one_typo(word, typo) && !stems.contains(typo));
        typos.sort_unstable();
        typos.dedup();
    }
    Ok(widened)
}

fn word_queries(widened: &[Widened], text: &SearchText) -> WordQueries {
    let alternatives = |w: &Widened| {
        std::iter::once(format!("{}:*", quote_lexeme(&w.word)))
            .chain(w.stems.iter().chain(&w.typos).map(|word| quote_lexeme(word)))
            .collect::<Vec<_>>()
            .join(" | ")
    };
    let matching = widened.iter().map(|w| format!("({})", alternatives(w))).collect::<Vec<_>>().join(" & ");
    let strong = widened.iter().flat_map(|w| &w.stems).map(|word| quote_lexeme(word)).collect::<Vec<_>>().join(" | ");
    let highlight = widened
        .iter()
        .map(alternatives)
        .chain(text.amounts().iter().map(|amount| amount.text_query()))
        .collect::<Vec<_>>()
        .join(" | ");
    WordQueries { matching, strong, highlight }
}

/// The statement of step 2: one row per hit of the page, each with the total and the facets,
/// or a single row of those alone when the page is empty.
fn search_query(
    owner: Uuid,
    request: &SearchRequest,
    words: Option<&WordQueries>,
    page_size: usize,
) -> QueryBuilder<Postgres> {
    // The person's documents first, filtered, then each matched in turn: a materialised CTE, so
    // the planner cannot trade the owner's index for a scan of everyone's words (module docs).
    let mut query = QueryBuilder::<Postgres>::new(
        "WITH mine AS MATERIALIZED (SELECT movement_id, category_id, category_name, occurred_on, amount, document
                                    FROM search_documents WHERE owner = ",
    );
    query.push_bind(owner);
    push_filter(&mut query, &request.filter);
    query.push("), hits AS MATERIALIZED (SELECT movement_id, category_id, category_name, occurred_on, ");
    match words {
        // The description and counterparty weigh most (A), then category and merchant (B),
        // then the receipt's text (D); an exact word or stem counts twice more than a prefix.
        Some(words) => {
            query.push("(ts_rank(document, ").push_bind(words.matching.clone());
            query.push("::tsquery) + 2 * ts_rank(document, ").push_bind(words.strong.clone());
            query.push("::tsquery))::real AS score");
        }
        None => {
            query.push("0::real AS score");
        }
    }
    query.push(" FROM mine WHERE true");
    if let Some(words) = words {
        query.push(" AND document @@ ").push_bind(words.matching.clone()).push("::tsquery");
    }
    for amount in request.text.amounts() {
        query.push(" AND (amount = ").push_bind(amount.value);
        query.push(" OR document @@ ").push_bind(amount.text_query()).push("::tsquery)");
    }
    query.push("), page AS (SELECT movement_id, score FROM hits");
    if let Some(after) = &request.after {
        query.push(" WHERE (score, occurred_on, movement_id) < (").push_bind(after.score);
        query.push(", ").push_bind(after.occurred_on).push(", ").push_bind(after.movement_id).push(")");
    }
    query.push(" ORDER BY score DESC, occurred_on DESC, movement_id DESC LIMIT ").push(page_size + 1);
    query.push(
        ")
        SELECT totals.total, totals.categories, totals.months, page.score,
               d.movement_id AS id, d.account_id, d.direction, d.amount, d.currency, d.occurred_on, d.description,
               d.counterparty, d.category_id, d.voided, d.version, ",
    );
    match words {
        Some(words) => push_highlights(&mut query, &words.highlight),
        None => {
            query.push("ARRAY[]::text[]");
        }
    }
    query.push(
        " AS highlights
        FROM (SELECT (SELECT count(*) FROM hits) AS total,
                     (SELECT coalesce(json_agg(json_build_array(category_id, name, n) ORDER BY n DESC, name, category_id),
                                      '[]')
                      FROM (SELECT category_id, coalesce(max(category_name), '') AS name, count(*) AS n FROM hits
                            WHERE category_id IS NOT NULL GROUP BY category_id) AS c) AS categories,
                     (SELECT coalesce(json_agg(json_build_array(month, n) ORDER BY month DESC), '[]')
                      FROM (SELECT to_char(occurred_on, 'YYYY-MM') AS month, count(*) AS n FROM hits
                            GROUP BY 1) AS m) AS months) AS totals
        LEFT JOIN page ON true
        LEFT JOIN search_documents AS d ON d.movement_id = page.movement_id
        ORDER BY page.score DESC, d.occurred_on DESC, d.movement_id DESC",
    );
    query
}

fn push_filter(query: &mut QueryBuilder<Postgres>, filter: &SearchFilter) {
    filter.movements.push_to(query);
    if let Some(min) = filter.min_amount {
        query.push(" AND amount >= ").push_bind(min);
    }
    if let Some(max) = filter.max_amount {
        query.push(" AND amount <= ").push_bind(max);
    }
    if !filter.include_voided {
        query.push(" AND NOT voided");
    }
}

/// The page's highlights: each short field whole, and up to two fragments of the receipt's
/// text, with [`MARK_START`]/[`MARK_END`] around the matched words (removed from the text
/// first, so it cannot forge them). `<` and `>` are read as [`ANGLE_OPEN`]/[`ANGLE_CLOSE`],
/// which the parser takes for spaces as the documents took theirs (ADR 0031), and which
/// [`render_highlight`] turns back into brackets.
fn push_highlights(query: &mut QueryBuilder<Postgres>, highlight: &str) {
    let whole = format!("StartSel=\"{MARK_START}\", StopSel=\"{MARK_END}\", HighlightAll=true");
    let fragments = format!(
        "StartSel=\"{MARK_START}\", StopSel=\"{MARK_END}\", MaxFragments=2, MaxWords=12, MinWords=4, \
         FragmentDelimiter=\"{FRAGMENT_SEPARATOR}\""
    );
    let marks = format!("{MARK_START}{MARK_END}{FRAGMENT_SEPARATOR}{ANGLE_OPEN}{ANGLE_CLOSE}");
    let angles = format!("{ANGLE_OPEN}{ANGLE_CLOSE}");
    // The field without the marks, then its brackets as ANGLE_OPEN and ANGLE_CLOSE.
    let text = |query: &mut QueryBuilder<Postgres>, field: &str| {
        query.push("translate(translate(").push(field).push(", ").push_bind(marks.clone());
        query.push(", ''), '<>', ").push_bind(angles.clone()).push(")");
    };
    query.push("ARRAY[");
    for (i, field) in ["d.description", "d.counterparty", "d.category_name", "d.merchant"].into_iter().enumerate() {
        if i > 0 {
            query.push(", ");
        }
        query.push("ts_headline('cashflow_words', ");
        text(query, field);
        query.push(", ").push_bind(highlight.to_owned()).push("::tsquery, ");
        query.push_bind(whole.clone()).push(")");
    }
    query.push(", ts_headline('cashflow_words', ");
    text(query, &format!("left(d.invoice_text, {HIGHLIGHT_TEXT_CHARS})"));
    query.push(", ").push_bind(highlight.to_owned()).push("::tsquery, ");
    query.push_bind(fragments).push(")]");
}

fn read_page(rows: &[PgRow], page_size: usize) -> Result<SearchPage, QueryError> {
    let Some(first) = rows.first() else {
        return Err(QueryError::Corrupt("a search returned no row".into()));
    };
    let total: i64 = first.try_get("total")?;
    let categories: Value = first.try_get("categories")?;
    let months: Value = first.try_get("months")?;
    let mut hits = Vec::with_capacity(rows.len());
    for row in rows {
        let id: Option<Uuid> = row.try_get("id")?;
        if id.is_none() {
            continue;
        }
        let fields: Vec<Option<String>> = row.try_get("highlights")?;
        let highlights = fields
            .iter()
            .flatten()
            .flat_map(|field| field.split(FRAGMENT_SEPARATOR))
            .filter_map(render_highlight)
            .collect();
        hits.push(SearchHit { movement: movement_view(row)?, score: row.try_get("score")?, highlights });
    }
    let next = split_page(&mut hits, page_size, |hit| SearchCursor {
        score: hit.score,
        occurred_on: hit.movement.occurred_on,
        movement_id: hit.movement.movement_id,
    });
    Ok(SearchPage {
        hits,
        categories: facets(&categories, |item| {
            Some(CategoryFacet {
                category_id: item.first()?.as_str()?.parse().ok()?,
                name: item.get(1)?.as_str()?.to_owned(),
                count: item.get(2)?.as_u64()?,
            })
        })?,
        months: facets(&months, |item| {
            Some(MonthFacet { month: item.first()?.as_str()?.to_owned(), count: item.get(1)?.as_u64()? })
        })?,
        total_hits: u64::try_from(total).map_err(|_| QueryError::Corrupt(format!("negative count {total}")))?,
        next,
    })
}

/// The facets in a JSON array of `[key…, count]` arrays, each read by `read`.
fn facets<T>(json: &Value, read: impl Fn(&[Value]) -> Option<T>) -> Result<Vec<T>, QueryError> {
    let corrupt = || QueryError::Corrupt(format!("facets unlike what the search writes: {json}"));
    json.as_array()
        .ok_or_else(corrupt)?
        .iter()
        .map(|item| item.as_array().and_then(|item| read(item)).ok_or_else(corrupt))
        .collect()
}
