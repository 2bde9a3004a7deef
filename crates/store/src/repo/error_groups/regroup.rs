//! `integramon errors regroup`: every stored message that has or had an error group, or could
//! have one, grouped again with the current grouping version and custom rules. A message whose
//! group changes moves (counted down in its old group's hour, up in the new one); one whose
//! group is unchanged is left alone, so a second run moves nothing. Batches of messages in id
//! order, one write transaction each, so ingest keeps running alongside.

use domain::errors::{GROUPING_VERSION, RuleSet};
use serde::{Deserialize, Serialize};

use super::assign::{ERROR_STATUSES, MSG_SELECT, Mode, Msg, Rules, assign, load_rules};
use crate::connect::Db;
use crate::error::StoreError;
use crate::repo::Sql;
use sea_orm::FromQueryResult;

/// Messages per transaction.
const BATCH: i64 = 500;

/// What [`regroup`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegroupReport {
    /// Messages looked at.
    pub messages: u64,
    /// Messages that changed group (or left one).
    pub moved: u64,
    /// The version the groups were made with.
    pub grouping_version: i16,
    /// Custom rules skipped because they no longer compile.
    pub rules_skipped: u64,
}

/// Regroup every stored message; `progress` gets the number of messages looked at so far
/// after each batch.
pub async fn regroup(db: &Db, mut progress: impl FnMut(u64)) -> Result<RegroupReport, StoreError> {
    let rules = load_rules(db.conn()).await?;
    let (set, errors) = RuleSet::compile_lenient(&rules);
    for e in &errors {
        tracing::warn!("error rule skipped: {e}");
    }
    let mut report = RegroupReport {
        grouping_version: GROUPING_VERSION,
        rules_skipped: errors.len() as u64,
        ..Default::default()
    };
    let mut last = 0i64;
    loop {
        let txn = db.begin_write().await?;
        let mut sql = Sql::new(db.db_backend());
        sql.push(MSG_SELECT)
            .push(" WHERE m.id > ")
            .bind(last)
            .push(" AND (m.error_group_id IS NOT NULL OR e.message_id IS NOT NULL OR m.status IN ")
            .bind_list(ERROR_STATUSES)
            .push(") ORDER BY m.id LIMIT ")
            .bind(BATCH);
        let msgs = Msg::find_by_statement(sql.statement()).all(&txn).await?;
        let Some(tail) = msgs.last() else {
            txn.commit().await?;
            break;
        };
        last = tail.id;
        report.moved += assign(&txn, &msgs, &mut Rules::with(set.clone()), Mode::Count).await?;
        txn.commit().await?;
        report.messages += msgs.len() as u64;
        progress(report.messages);
    }
    Ok(report)
}
