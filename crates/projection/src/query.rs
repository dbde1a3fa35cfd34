//! What read models' queries share: their error, keyset pages, and reading unsigned columns.

use sqlx::postgres::PgRow;
use sqlx::{Encode, Postgres, QueryBuilder, Row, Type};
use thiserror::Error;
use uuid::Uuid;

/// The page size used when a request leaves it at 0.
pub const DEFAULT_PAGE_SIZE: u32 = 50;
/// The largest page served; a larger request gets this many.
pub const MAX_PAGE_SIZE: u32 = 500;

/// The page size served for a requested one: 0 means [`DEFAULT_PAGE_SIZE`]; above
/// [`MAX_PAGE_SIZE`] it is capped.
pub fn effective_page_size(requested: u32) -> u32 {
    match requested {
        0 => DEFAULT_PAGE_SIZE,
        n => n.min(MAX_PAGE_SIZE),
    }
}

/// Keyset pagination, newest first by `(key DESC, id DESC)`: appends to `query` (its `WHERE`
/// begun) the condition that rows sort strictly after `after`, the order, and a limit of one
/// row more than `page_size`, which tells [`split_page`] whether another page exists. The limit
/// is written in (a bounded integer, not input text) so that even a cached generic plan reads
/// a few rows in index order rather than sorting all of them.
pub fn push_page<K>(query: &mut QueryBuilder<Postgres>, key: &str, after: Option<(K, Uuid)>, page_size: usize)
where
    K: for<'t> Encode<'t, Postgres> + Type<Postgres>,
{
    if let Some((at, id)) = after {
        query.push(format_args!(" AND ({key}, id) < (")).push_bind(at);
        query.push(", ").push_bind(id).push(")");
    }
    query.push(format_args!(" ORDER BY {key} DESC, id DESC LIMIT ")).push(page_size + 1);
}

/// Keeps the page of what a [`push_page`] query returned, its first `page_size` items; when
/// there was one more, returns where the next page starts: `cursor` of the page's last item.
pub fn split_page<T, C>(items: &mut Vec<T>, page_size: usize, cursor: impl FnOnce(&T) -> C) -> Option<C> {
    if items.len() <= page_size {
        return None;
    }
    items.truncate(page_size);
    items.last().map(cursor)
}

/// Errors of a read model's queries, by how a caller should react.
#[derive(Debug, Error)]
pub enum QueryError {
    /// The database cannot be reached, is overloaded or refused the query: retry later,
    /// answer `UNAVAILABLE`.
    #[error("read model unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
    /// A stored row is not what the projection writes: an operator's problem, answer `INTERNAL`.
    #[error("read model data is corrupt: {0}")]
    Corrupt(String),
}

impl From<sqlx::Error> for QueryError {
    fn from(error: sqlx::Error) -> Self {
        match error {
            sqlx::Error::ColumnDecode { .. }
            | sqlx::Error::ColumnNotFound(_)
            | sqlx::Error::Decode(_)
            | sqlx::Error::TypeNotFound { .. } => Self::Corrupt(error.to_string()),
            other => Self::Unavailable(other),
        }
    }
}

/// A BIGINT column that holds a count, version or position, which is never negative.
pub fn unsigned(row: &PgRow, column: &str) -> Result<u64, QueryError> {
    let value: i64 = row.try_get(column)?;
    u64::try_from(value).map_err(|_| QueryError::Corrupt(format!("negative {column} {value}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_is_the_default_for_0_and_capped_above_the_maximum() {
        assert_eq!(effective_page_size(0), DEFAULT_PAGE_SIZE);
        assert_eq!(effective_page_size(1), 1);
        assert_eq!(effective_page_size(MAX_PAGE_SIZE), MAX_PAGE_SIZE);
        assert_eq!(effective_page_size(MAX_PAGE_SIZE + 1), MAX_PAGE_SIZE);
    }

    #[test]
    fn one_item_past_the_page_means_another_page_after_the_last_kept() {
        let mut items = vec![9, 8, 7];
        assert_eq!(split_page(&mut items, 2, |last| *last), Some(8));
        assert_eq!(items, [9, 8]);
        let mut items = vec![9, 8];
        assert_eq!(split_page(&mut items, 2, |last| *last), None, "a full last page");
        assert_eq!(items, [9, 8]);
    }

    #[test]
    fn a_page_query_asks_for_one_row_more_after_the_cursor() {
        let mut query = QueryBuilder::<Postgres>::new("SELECT * FROM t WHERE owner = 1");
        push_page(&mut query, "day", Some((3i64, Uuid::nil())), 50);
        assert_eq!(
            query.into_string(),
            "SELECT * FROM t WHERE owner = 1 AND (day, id) < ($1, $2) ORDER BY day DESC, id DESC LIMIT 51"
        );
        let mut query = QueryBuilder::<Postgres>::new("SELECT * FROM t WHERE owner = 1");
        push_page(&mut query, "day", None::<(i64, Uuid)>, 50);
        assert_eq!(query.into_string(), "SELECT * FROM t WHERE owner = 1 ORDER BY day DESC, id DESC LIMIT 51");
    }

    #[test]
    fn a_row_unlike_what_the_projection_writes_is_corrupt_and_the_rest_unavailable() {
        assert!(matches!(QueryError::from(sqlx::Error::ColumnNotFound("x".into())), QueryError::Corrupt(_)));
        assert!(matches!(QueryError::from(sqlx::Error::PoolTimedOut), QueryError::Unavailable(_)));
    }
}
