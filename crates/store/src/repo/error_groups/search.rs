//! The Errors list's text filter on PostgreSQL: the trigram indexes of migration
//! `m20261208_000017` (`pg_trgm` on `LOWER(title)` and `LOWER(iflow_id)`) find the groups that
//! contain a text, so a rare text does not walk the list's whole order testing every title.

use sea_orm::{ConnectionTrait, DbBackend, Statement};

use super::GroupQuery;
use super::query::like_escape;
use crate::connect::Db;
use crate::error::StoreError;
use crate::repo::{Sql, get as col};

/// Most groups the text search hands on as candidates; more matches and the list walks its
/// order instead (then at least this many of the tenant's groups match, so a page is found
/// after a short walk).
const TEXT_CANDIDATES: usize = 500;

/// On PostgreSQL with the trigram indexes: the ids of the visible groups whose title or iFlow
/// contains the search text, when there are at most [`TEXT_CANDIDATES`]; `None` otherwise (no
/// text, SQLite, no indexes, a text under three characters, or too many matches).
pub(super) async fn text_candidates(
    db: &Db,
    q: &GroupQuery,
    tenants: &[i64],
) -> Result<Option<Vec<i64>>, StoreError> {
    let Some(text) =
        q.q.as_deref()
            .map(str::trim)
            .filter(|s| s.chars().count() >= 3)
    else {
        return Ok(None);
    };
    if db.db_backend() != DbBackend::Postgres {
        return Ok(None);
    }
    let indexed = db
        .conn()
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT COUNT(*) AS n FROM pg_indexes WHERE indexname IN \
             ('idx_error_groups_title_trgm', 'idx_error_groups_iflow_id_trgm')",
        ))
        .await?
        .map(|r| col::<i64>(&r, "n"))
        .transpose()?
        == Some(2);
    if !indexed {
        return Ok(None);
    }
    let pattern = format!("%{}%", like_escape(&text.to_lowercase()));
    let mut sql = Sql::new(DbBackend::Postgres);
    sql.push("SELECT id FROM error_groups WHERE tenant_id IN ")
        .bind_list(tenants.iter().copied())
        .push(" AND (LOWER(title) LIKE ")
        .bind(pattern.clone())
        .push(" ESCAPE '\\' OR LOWER(iflow_id) LIKE ")
        .bind(pattern)
        .push(" ESCAPE '\\') LIMIT ")
        .bind(TEXT_CANDIDATES as i64 + 1);
    let rows = db.conn().query_all_raw(sql.statement()).await?;
    if rows.len() > TEXT_CANDIDATES {
        return Ok(None);
    }
    Ok(Some(
        rows.iter()
            .map(|r| col::<i64>(r, "id"))
            .collect::<Result<_, _>>()?,
    ))
}
