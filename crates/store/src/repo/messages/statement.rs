//! The page upsert's statement: the message columns and, per backend, how a page is bound
//! (PostgreSQL: one JSON parameter through `json_to_recordset`; SQLite: multi-row `VALUES`).

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use domain::message::Message;
use sea_orm::{DbBackend, DbErr, Statement, Value};
use serde::Serialize;

use super::{pg_ts, status_text};
use crate::repo::{Bulk, Sql, clean_cow, distinct, opt, text};

/// `message_logs` columns a page writes, after `tenant_id` and before the timestamps, in
/// binding order. `message_guid` must stay first: the conflict target.
const MESSAGE_COLUMNS: [&str; 24] = [
    "message_guid",
    "correlation_id",
    "application_message_id",
    "application_message_type",
    "predecessor_message_guid",
    "log_start",
    "log_end",
    "sender",
    "receiver",
    "iflow_id",
    "iflow_name",
    "artifact_type",
    "package_id",
    "package_name",
    "status",
    "custom_status",
    "log_level",
    "alternate_web_link",
    "transaction_id",
    "archiving_status",
    "origin_component_name",
    "local_component_name",
    "previous_component_name",
    "duration_ms",
];

fn message_values(m: &Message) -> [Value; 24] {
    [
        text(Some(&m.guid)),
        text(m.correlation_id.as_deref()),
        text(m.application_message_id.as_deref()),
        text(m.application_message_type.as_deref()),
        text(m.predecessor_guid.as_deref()),
        opt(m.log_start),
        opt(m.log_end),
        text(m.sender.as_deref()),
        text(m.receiver.as_deref()),
        text(m.iflow_id.as_deref()),
        text(m.iflow_name.as_deref()),
        text(m.artifact_type.as_deref()),
        text(m.package_id.as_deref()),
        text(m.package_name.as_deref()),
        text(status_text(&m.status)),
        text(m.custom_status.as_deref()),
        text(m.log_level.as_deref()),
        text(m.alternate_web_link.as_deref()),
        text(m.transaction_id.as_deref()),
        text(m.archiving_status.as_deref()),
        text(m.origin_component_name.as_deref()),
        text(m.local_component_name.as_deref()),
        text(m.previous_component_name.as_deref()),
        opt(m.duration_ms()),
    ]
}

/// The `INSERT … ON CONFLICT … RETURNING` of a page: its head, the conflict clause (which ends
/// in the update's condition, so more can be added to it) and the `RETURNING` clause.
fn upsert_sql(backend: DbBackend) -> (String, String, String) {
    let cols = MESSAGE_COLUMNS.join(", ");
    let head = format!("INSERT INTO message_logs (tenant_id, {cols}, created_at, updated_at)");
    let set: Vec<String> = MESSAGE_COLUMNS[1..]
        .iter()
        .map(|c| format!("{c} = excluded.{c}"))
        .collect();
    let op = distinct(backend);
    let differs: Vec<String> = MESSAGE_COLUMNS[1..]
        .iter()
        .map(|c| format!("message_logs.{c} {op} excluded.{c}"))
        .collect();
    // xmax = 0 marks a row this statement inserted (not one it updated). It is exact under
    // concurrency, where the SELECT before the upsert may be stale. SQLite's write lock makes
    // that SELECT exact there.
    let returning = match backend {
        DbBackend::Postgres => "id, message_guid, (xmax = 0) AS inserted",
        _ => "id, message_guid, NULL AS inserted",
    };
    let conflict = format!(
        "ON CONFLICT (tenant_id, message_guid) DO UPDATE SET {set}, updated_at = excluded.updated_at \
         WHERE (message_logs.log_end IS NULL OR (excluded.log_end IS NOT NULL AND excluded.log_end >= message_logs.log_end)) \
         AND ({differs})",
        set = set.join(", "),
        differs = differs.join(" OR "),
    );
    (head, conflict, format!("RETURNING {returning}"))
}

/// The JSON key of the `i`th of [`MESSAGE_COLUMNS`] in a [`JsonMessage`].
fn json_key(i: usize) -> char {
    char::from(b'a' + u8::try_from(i).unwrap_or(u8::MAX - b'a'))
}

/// SQL type of each [`MESSAGE_COLUMNS`] entry in the PostgreSQL JSON record.
fn pg_type(col: &str) -> &'static str {
    match col {
        "log_start" | "log_end" => "timestamptz",
        "duration_ms" => "int8",
        _ => "text",
    }
}

pub(super) fn cow(s: Option<&str>) -> Option<Cow<'_, str>> {
    s.map(clean_cow)
}

/// One message as a JSON record for `json_to_recordset`. Its keys are one letter each, `a` for the
/// first of [`MESSAGE_COLUMNS`] onwards (see [`json_key`]), and absent values are left out: the
/// page's JSON is about half as long as with column names and nulls.
#[derive(Serialize)]
struct JsonMessage<'a> {
    #[serde(rename = "a")]
    message_guid: Cow<'a, str>,
    #[serde(rename = "b", skip_serializing_if = "Option::is_none")]
    correlation_id: Option<Cow<'a, str>>,
    #[serde(rename = "c", skip_serializing_if = "Option::is_none")]
    application_message_id: Option<Cow<'a, str>>,
    #[serde(rename = "d", skip_serializing_if = "Option::is_none")]
    application_message_type: Option<Cow<'a, str>>,
    #[serde(rename = "e", skip_serializing_if = "Option::is_none")]
    predecessor_message_guid: Option<Cow<'a, str>>,
    #[serde(rename = "f", skip_serializing_if = "Option::is_none")]
    log_start: Option<String>,
    #[serde(rename = "g", skip_serializing_if = "Option::is_none")]
    log_end: Option<String>,
    #[serde(rename = "h", skip_serializing_if = "Option::is_none")]
    sender: Option<Cow<'a, str>>,
    #[serde(rename = "i", skip_serializing_if = "Option::is_none")]
    receiver: Option<Cow<'a, str>>,
    #[serde(rename = "j", skip_serializing_if = "Option::is_none")]
    iflow_id: Option<Cow<'a, str>>,
    #[serde(rename = "k", skip_serializing_if = "Option::is_none")]
    iflow_name: Option<Cow<'a, str>>,
    #[serde(rename = "l", skip_serializing_if = "Option::is_none")]
    artifact_type: Option<Cow<'a, str>>,
    #[serde(rename = "m", skip_serializing_if = "Option::is_none")]
    package_id: Option<Cow<'a, str>>,
    #[serde(rename = "n", skip_serializing_if = "Option::is_none")]
    package_name: Option<Cow<'a, str>>,
    #[serde(rename = "o", skip_serializing_if = "Option::is_none")]
    status: Option<Cow<'a, str>>,
    #[serde(rename = "p", skip_serializing_if = "Option::is_none")]
    custom_status: Option<Cow<'a, str>>,
    #[serde(rename = "q", skip_serializing_if = "Option::is_none")]
    log_level: Option<Cow<'a, str>>,
    #[serde(rename = "r", skip_serializing_if = "Option::is_none")]
    alternate_web_link: Option<Cow<'a, str>>,
    #[serde(rename = "s", skip_serializing_if = "Option::is_none")]
    transaction_id: Option<Cow<'a, str>>,
    #[serde(rename = "t", skip_serializing_if = "Option::is_none")]
    archiving_status: Option<Cow<'a, str>>,
    #[serde(rename = "u", skip_serializing_if = "Option::is_none")]
    origin_component_name: Option<Cow<'a, str>>,
    #[serde(rename = "v", skip_serializing_if = "Option::is_none")]
    local_component_name: Option<Cow<'a, str>>,
    #[serde(rename = "w", skip_serializing_if = "Option::is_none")]
    previous_component_name: Option<Cow<'a, str>>,
    #[serde(rename = "x", skip_serializing_if = "Option::is_none")]
    duration_ms: Option<i64>,
}

impl<'a> JsonMessage<'a> {
    fn new(m: &'a Message) -> Self {
        Self {
            message_guid: clean_cow(&m.guid),
            correlation_id: cow(m.correlation_id.as_deref()),
            application_message_id: cow(m.application_message_id.as_deref()),
            application_message_type: cow(m.application_message_type.as_deref()),
            predecessor_message_guid: cow(m.predecessor_guid.as_deref()),
            log_start: pg_ts(m.log_start),
            log_end: pg_ts(m.log_end),
            sender: cow(m.sender.as_deref()),
            receiver: cow(m.receiver.as_deref()),
            iflow_id: cow(m.iflow_id.as_deref()),
            iflow_name: cow(m.iflow_name.as_deref()),
            artifact_type: cow(m.artifact_type.as_deref()),
            package_id: cow(m.package_id.as_deref()),
            package_name: cow(m.package_name.as_deref()),
            status: cow(status_text(&m.status)),
            custom_status: cow(m.custom_status.as_deref()),
            log_level: cow(m.log_level.as_deref()),
            alternate_web_link: cow(m.alternate_web_link.as_deref()),
            transaction_id: cow(m.transaction_id.as_deref()),
            archiving_status: cow(m.archiving_status.as_deref()),
            origin_component_name: cow(m.origin_component_name.as_deref()),
            local_component_name: cow(m.local_component_name.as_deref()),
            previous_component_name: cow(m.previous_component_name.as_deref()),
            duration_ms: m.duration_ms(),
        }
    }
}

/// The page's upsert statements. PostgreSQL gets one statement whatever the page size: the
/// rows travel as one JSON parameter read by `json_to_recordset`, which spares the server
/// parsing and planning tens of thousands of placeholders (a large share of the cost of a
/// multi-row VALUES). SQLite binds plain `VALUES` rows, which it handles fast.
pub(super) fn upsert_statements(
    backend: DbBackend,
    tenant_id: i64,
    now: DateTime<Utc>,
    rows: &[&Message],
    seen: &[i64],
) -> Result<Vec<Statement>, DbErr> {
    let (head, conflict, returning) = upsert_sql(backend);
    if backend == DbBackend::Postgres {
        let json: Vec<JsonMessage<'_>> = rows.iter().map(|m| JsonMessage::new(m)).collect();
        let json = serde_json::to_string(&json).map_err(|e| DbErr::Json(e.to_string()))?;
        let select: Vec<String> = (0..MESSAGE_COLUMNS.len())
            .map(|i| format!("x.{}", json_key(i)))
            .collect();
        let record: Vec<String> = MESSAGE_COLUMNS
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{} {}", json_key(i), pg_type(c)))
            .collect();
        let mut sql = Sql::new(backend);
        sql.push(&head)
            .push(" SELECT ")
            .bind(tenant_id)
            .push(", ")
            .push(&select.join(", "))
            .push(", ")
            .bind(now)
            // `now` again, as `updated_at`: it is `$2`, bound just above.
            .push(", $2 FROM json_to_recordset(")
            .bind(json)
            .push("::json) AS x(")
            .push(&record.join(", "))
            .push(") ")
            .push(&conflict)
            // Only rows the caller looked up (and locked) are updated.
            .push(" AND message_logs.id IN (SELECT json_array_elements_text(")
            .bind(serde_json::to_string(seen).map_err(|e| DbErr::Json(e.to_string()))?)
            .push("::json)::int8) ")
            .push(&returning);
        return Ok(vec![sql.statement()]);
    }
    // SQLite: the write transaction makes the caller's look-up exact; no row appears unseen.
    let _ = seen;
    let tail = format!("{conflict} {returning}");
    let bulk = Bulk {
        head: &head,
        tail: &tail,
        shared: vec![Value::from(tenant_id), Value::from(now)],
    };
    Ok(bulk.statements(backend, rows, |t, m| {
        t.shared(0);
        for v in message_values(m) {
            t.bind(v);
        }
        t.shared(1).shared(1);
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone as _;
    use std::collections::HashSet;

    use domain::MessageStatus;

    /// The one-letter keys of the PostgreSQL page upsert carry the values of the columns the
    /// statement names for them, in the order SQLite binds them.
    #[test]
    fn json_keys_match_the_column_order() {
        let mut m = Message::new("guid-1", MessageStatus::Failed);
        let text = |name: &str| Some(format!("value of {name}"));
        m.correlation_id = text("correlation_id");
        m.application_message_id = text("application_message_id");
        m.application_message_type = text("application_message_type");
        m.predecessor_guid = text("predecessor_guid");
        m.log_start = Some(Utc.with_ymd_and_hms(2026, 11, 26, 8, 0, 0).unwrap());
        m.log_end = Some(Utc.with_ymd_and_hms(2026, 11, 26, 8, 0, 7).unwrap());
        m.sender = text("sender");
        m.receiver = text("receiver");
        m.iflow_id = text("iflow_id");
        m.iflow_name = text("iflow_name");
        m.artifact_type = text("artifact_type");
        m.package_id = text("package_id");
        m.package_name = text("package_name");
        m.custom_status = text("custom_status");
        m.log_level = text("log_level");
        m.alternate_web_link = text("alternate_web_link");
        m.transaction_id = text("transaction_id");
        m.archiving_status = text("archiving_status");
        m.origin_component_name = text("origin_component_name");
        m.local_component_name = text("local_component_name");
        m.previous_component_name = text("previous_component_name");

        let json = serde_json::to_value(JsonMessage::new(&m)).unwrap();
        let values = message_values(&m);
        let mut distinct = HashSet::new();
        for (i, (column, value)) in MESSAGE_COLUMNS.iter().zip(values).enumerate() {
            let got = &json[json_key(i).to_string()];
            let want = match value {
                Value::String(Some(s)) => serde_json::json!(s),
                Value::ChronoDateTimeUtc(Some(t)) => serde_json::json!(pg_ts(Some(t))),
                Value::BigInt(Some(n)) => serde_json::json!(n),
                other => panic!("{column}: unexpected {other:?}"),
            };
            assert_eq!(got, &want, "{column} (key {})", json_key(i));
            assert!(
                distinct.insert(want.to_string()),
                "{column} is not distinct"
            );
        }
        assert_eq!(json.as_object().unwrap().len(), MESSAGE_COLUMNS.len());

        // Absent values are left out; PostgreSQL reads a missing key as NULL.
        let bare = serde_json::to_value(JsonMessage::new(&Message::new(
            "g",
            MessageStatus::Completed,
        )))
        .unwrap();
        assert_eq!(bare.as_object().unwrap().len(), 2, "{bare}");
    }
}
