//! Property tests: whatever bytes come back, the parser never panics and answers with either
//! data or a typed error; a cut page is never taken for a shorter page.

use cpi::model::{
    IntegrationPackage, IntegrationRuntimeArtifact, KeystoreEntry, MessageProcessingLog,
    MplAttachment, MplRunStep,
};
use cpi::odata::{parse_collection, parse_entity, parse_error_body, sniff};
use cpi::{BadResponseKind, RuntimeArtifactErrorInfo};
use proptest::prelude::*;
use serde_json::Value;

const SHARED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/cpi-api");

fn fixture(rel: &str) -> Vec<u8> {
    let path = format!("{SHARED}/{rel}");
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!("fixture {path} missing ({e}): shared/cpi-api must sit beside the repository")
    })
}

fn pages() -> Vec<Vec<u8>> {
    [
        "examples/MessageProcessingLogs_GET_MessageProcessingLogs_200.json",
        "recorded/piper_MessageProcessingLogs_top1.json",
        "examples/MessageProcessingLogs_GET_MessageProcessingLogs_id_Attachments_200.json",
        "examples/SecurityContent_GET_KeystoreEntries_200.json",
        "examples/IntegrationContent_GET_IntegrationPackages_200.json",
        "examples/IntegrationContent_GET_IntegrationRuntimeArtifacts_200.json",
    ]
    .iter()
    .map(|p| fixture(p))
    .collect()
}

/// Runs every parser over `body`. The return types make "typed error" a compile-time fact;
/// what is checked here is that nothing panics.
fn parse_all(body: &[u8]) {
    let _ = sniff(body, None);
    let _ = sniff(body, Some("text/html"));
    let _ = parse_collection::<MessageProcessingLog>(body);
    let _ = parse_entity::<MessageProcessingLog>(body);
    let _ = parse_collection::<MplAttachment>(body);
    let _ = parse_collection::<KeystoreEntry>(body);
    let _ = parse_collection::<IntegrationPackage>(body);
    let _ = parse_collection::<IntegrationRuntimeArtifact>(body);
    let _ = parse_entity::<MplRunStep>(body);
    let _ = parse_error_body(body);
    let _ = RuntimeArtifactErrorInfo::parse(body);
}

/// Replaces the value at a pseudo-random position of the JSON tree by a value of another type.
fn mutate(v: &mut Value, path_seed: &[usize], replacement: &Value) {
    let Some((&first, rest)) = path_seed.split_first() else {
        *v = replacement.clone();
        return;
    };
    match v {
        Value::Object(map) if !map.is_empty() => {
            let idx = first % map.len();
            let key = map.keys().nth(idx).cloned();
            if let Some(k) = key
                && let Some(child) = map.get_mut(&k)
            {
                mutate(child, rest, replacement);
            }
        }
        Value::Array(items) if !items.is_empty() => {
            let idx = first % items.len();
            mutate(&mut items[idx], rest, replacement);
        }
        other => *other = replacement.clone(),
    }
}

fn any_json() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f)
            .map(Value::Number)
            .unwrap_or(Value::Null)),
        ".{0,12}".prop_map(Value::String),
        Just(Value::String("/Date(abc)/".into())),
        Just(Value::String("/Date(99999999999999999999)/".into())),
        Just(Value::Array(vec![])),
        Just(serde_json::json!({"__deferred": {"uri": 1}})),
        Just(serde_json::json!({"results": "x"})),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..2048)) {
        parse_all(&body);
    }

    #[test]
    fn json_looking_noise_never_panics(body in "[\\{\\}\\[\\]\",:0-9a-zA-Z_ /()\\\\]{0,300}") {
        parse_all(body.as_bytes());
        let wrapped = format!("{{\"d\":{{\"results\":[{body}]}}}}");
        parse_all(wrapped.as_bytes());
    }

    #[test]
    fn truncated_pages_are_errors_never_shorter_pages(which in 0usize..6, cut_permille in 0usize..1000) {
        let pages = pages();
        let page = &pages[which % pages.len()];
        let trimmed_len = page.iter().rposition(|b| !b.is_ascii_whitespace()).map_or(0, |p| p + 1);
        let cut = trimmed_len * cut_permille / 1000;
        let body = &page[..cut];
        parse_all(body);
        let err = parse_collection::<MessageProcessingLog>(body);
        prop_assert!(err.is_err(), "a page cut at {cut} of {trimmed_len} bytes parsed as Ok");
        if let Err(e) = err {
            prop_assert!(matches!(
                e.kind,
                BadResponseKind::Truncated | BadResponseKind::Empty | BadResponseKind::Malformed
                    | BadResponseKind::UnexpectedShape | BadResponseKind::WrongEntityType
            ), "{e:?}");
        }
    }

    #[test]
    fn byte_flips_never_panic(which in 0usize..6, flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8)) {
        let pages = pages();
        let mut body = pages[which % pages.len()].clone();
        for (pos, byte) in flips {
            let len = body.len();
            if len > 0 {
                body[pos % len] = byte;
            }
        }
        parse_all(&body);
    }

    #[test]
    fn type_changes_never_panic(which in 0usize..6,
                                path in proptest::collection::vec(any::<usize>(), 0..7),
                                replacement in any_json()) {
        let pages = pages();
        let mut value: Value = serde_json::from_slice(&pages[which % pages.len()]).expect("fixture is JSON");
        mutate(&mut value, &path, &replacement);
        let body = serde_json::to_vec(&value).expect("serialize");
        parse_all(&body);
    }

    #[test]
    fn string_scalars_turned_into_numbers_or_bools_still_parse(flag in any::<bool>(), n in any::<i32>()) {
        // Leniency: a string property sent as a number or a boolean is kept as text.
        let body = serde_json::json!({"d": {"results": [{
            "MessageGuid": "G", "Sender": if flag { Value::from(n) } else { Value::Bool(flag) },
            "LogEnd": "/Date(1600000000000)/", "Status": "COMPLETED"
        }]}});
        let page = parse_collection::<MessageProcessingLog>(body.to_string().as_bytes());
        prop_assert!(page.is_ok(), "{page:?}");
    }
}
