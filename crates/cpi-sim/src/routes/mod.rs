//! The OData resource paths under `/api/v1`: parsing `Set('key')/Nav/$value` paths into a
//! `Route`, the role each route needs, and dispatch to the modules that answer them.

mod children;
mod content;
mod keystore;
mod mpl;
mod resources;
mod service;

use crate::config::Role;
use crate::query::{self, QueryOptions};
use crate::reply::{ApiError, Reply};
use crate::tenant::{RequestCtx, Tenant};

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum MplNav {
    CustomHeaderProperties,
    Runs,
    ErrorInformation,
    Attachments,
    AdapterAttributes,
    MessageStoreEntries,
}

impl MplNav {
    fn parse(s: &str) -> Option<MplNav> {
        Some(match s {
            "CustomHeaderProperties" => MplNav::CustomHeaderProperties,
            "Runs" => MplNav::Runs,
            "ErrorInformation" => MplNav::ErrorInformation,
            "Attachments" => MplNav::Attachments,
            "AdapterAttributes" => MplNav::AdapterAttributes,
            "MessageStoreEntries" => MplNav::MessageStoreEntries,
            _ => return None,
        })
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Route {
    ServiceDocument,
    Metadata,
    MplList,
    MplCount,
    Mpl(String),
    MplNav(String, MplNav),
    MplErrorValue(String),
    Run(String),
    RunSteps(String),
    RunStep(String, u32),
    RunStepProperties(String, u32),
    Attachment(String),
    AttachmentValue(String),
    StoreEntry(String),
    StoreEntryValue(String),
    StoreEntryProperties(String),
    StoreEntryAttachments(String),
    Packages,
    Package(String),
    PackageValue(String),
    PackageDesigntime(String),
    PackageValueMappings(String),
    Designtime(String, String),
    DesigntimeValue(String, String),
    ValueMappings,
    ValueMapping(String, String),
    ValueMappingValue(String, String),
    Runtimes,
    RuntimeCount,
    Runtime(String),
    RuntimeError(String),
    RuntimeErrorValue(String),
    Keystore,
    KeystoreCount,
    KeyEntry(String),
    JmsBroker(String),
    DataStores,
}

impl Route {
    /// The role template a caller needs (CF names).
    pub(crate) fn role(&self) -> Role {
        use Route::*;
        match self {
            AttachmentValue(_)
            | StoreEntry(_)
            | StoreEntryValue(_)
            | StoreEntryProperties(_)
            | StoreEntryAttachments(_)
            | MplNav(_, self::MplNav::MessageStoreEntries) => Role::MessagePayloadsRead,
            Packages
            | Package(_)
            | PackageValue(_)
            | PackageDesigntime(_)
            | PackageValueMappings(_)
            | Designtime(..)
            | DesigntimeValue(..)
            | ValueMappings
            | ValueMapping(..)
            | ValueMappingValue(..) => Role::WorkspacePackagesRead,
            _ => Role::MonitoringDataRead,
        }
    }

    /// A short, key-free name for request counters.
    pub(crate) fn label(&self) -> &'static str {
        use Route::*;
        match self {
            ServiceDocument => "ServiceDocument",
            Metadata => "$metadata",
            MplList => "MessageProcessingLogs",
            MplCount => "MessageProcessingLogs/$count",
            Mpl(_) => "MessageProcessingLogs(key)",
            MplNav(_, nav) => match nav {
                self::MplNav::CustomHeaderProperties => {
                    "MessageProcessingLogs(key)/CustomHeaderProperties"
                }
                self::MplNav::Runs => "MessageProcessingLogs(key)/Runs",
                self::MplNav::ErrorInformation => "MessageProcessingLogs(key)/ErrorInformation",
                self::MplNav::Attachments => "MessageProcessingLogs(key)/Attachments",
                self::MplNav::AdapterAttributes => "MessageProcessingLogs(key)/AdapterAttributes",
                self::MplNav::MessageStoreEntries => {
                    "MessageProcessingLogs(key)/MessageStoreEntries"
                }
            },
            MplErrorValue(_) => "MessageProcessingLogs(key)/ErrorInformation/$value",
            Run(_) => "MessageProcessingLogRuns(key)",
            RunSteps(_) => "MessageProcessingLogRuns(key)/RunSteps",
            RunStep(..) => "MessageProcessingLogRunSteps(key)",
            RunStepProperties(..) => "MessageProcessingLogRunSteps(key)/RunStepProperties",
            Attachment(_) => "MessageProcessingLogAttachments(key)",
            AttachmentValue(_) => "MessageProcessingLogAttachments(key)/$value",
            StoreEntry(_) => "MessageStoreEntries(key)",
            StoreEntryValue(_) => "MessageStoreEntries(key)/$value",
            StoreEntryProperties(_) => "MessageStoreEntries(key)/Properties",
            StoreEntryAttachments(_) => "MessageStoreEntries(key)/Attachments",
            Packages => "IntegrationPackages",
            Package(_) => "IntegrationPackages(key)",
            PackageValue(_) => "IntegrationPackages(key)/$value",
            PackageDesigntime(_) => "IntegrationPackages(key)/IntegrationDesigntimeArtifacts",
            PackageValueMappings(_) => "IntegrationPackages(key)/ValueMappingDesigntimeArtifacts",
            Designtime(..) => "IntegrationDesigntimeArtifacts(key)",
            DesigntimeValue(..) => "IntegrationDesigntimeArtifacts(key)/$value",
            ValueMappings => "ValueMappingDesigntimeArtifacts",
            ValueMapping(..) => "ValueMappingDesigntimeArtifacts(key)",
            ValueMappingValue(..) => "ValueMappingDesigntimeArtifacts(key)/$value",
            Runtimes => "IntegrationRuntimeArtifacts",
            RuntimeCount => "IntegrationRuntimeArtifacts/$count",
            Runtime(_) => "IntegrationRuntimeArtifacts(key)",
            RuntimeError(_) => "IntegrationRuntimeArtifacts(key)/ErrorInformation",
            RuntimeErrorValue(_) => "IntegrationRuntimeArtifacts(key)/ErrorInformation/$value",
            Keystore => "KeystoreEntries",
            KeystoreCount => "KeystoreEntries/$count",
            KeyEntry(_) => "KeystoreEntries(key)",
            JmsBroker(_) => "JmsBrokers(key)",
            DataStores => "DataStores",
        }
    }
}

/// Every label `Route::label` can return (request counters are keyed by these).
pub(crate) const ROUTE_LABELS: [&str; 42] = [
    "ServiceDocument",
    "$metadata",
    "MessageProcessingLogs",
    "MessageProcessingLogs/$count",
    "MessageProcessingLogs(key)",
    "MessageProcessingLogs(key)/CustomHeaderProperties",
    "MessageProcessingLogs(key)/Runs",
    "MessageProcessingLogs(key)/ErrorInformation",
    "MessageProcessingLogs(key)/Attachments",
    "MessageProcessingLogs(key)/AdapterAttributes",
    "MessageProcessingLogs(key)/MessageStoreEntries",
    "MessageProcessingLogs(key)/ErrorInformation/$value",
    "MessageProcessingLogRuns(key)",
    "MessageProcessingLogRuns(key)/RunSteps",
    "MessageProcessingLogRunSteps(key)",
    "MessageProcessingLogRunSteps(key)/RunStepProperties",
    "MessageProcessingLogAttachments(key)",
    "MessageProcessingLogAttachments(key)/$value",
    "MessageStoreEntries(key)",
    "MessageStoreEntries(key)/$value",
    "MessageStoreEntries(key)/Properties",
    "MessageStoreEntries(key)/Attachments",
    "IntegrationPackages",
    "IntegrationPackages(key)",
    "IntegrationPackages(key)/$value",
    "IntegrationPackages(key)/IntegrationDesigntimeArtifacts",
    "IntegrationPackages(key)/ValueMappingDesigntimeArtifacts",
    "IntegrationDesigntimeArtifacts(key)",
    "IntegrationDesigntimeArtifacts(key)/$value",
    "ValueMappingDesigntimeArtifacts",
    "ValueMappingDesigntimeArtifacts(key)",
    "ValueMappingDesigntimeArtifacts(key)/$value",
    "IntegrationRuntimeArtifacts",
    "IntegrationRuntimeArtifacts/$count",
    "IntegrationRuntimeArtifacts(key)",
    "IntegrationRuntimeArtifacts(key)/ErrorInformation",
    "IntegrationRuntimeArtifacts(key)/ErrorInformation/$value",
    "KeystoreEntries",
    "KeystoreEntries/$count",
    "KeystoreEntries(key)",
    "JmsBrokers(key)",
    "DataStores",
];

#[derive(Clone, Debug, PartialEq, Eq)]
enum KeyVal {
    Str(String),
    Num(i64),
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Seg {
    name: String,
    key: Option<Vec<(Option<String>, KeyVal)>>,
}

fn percent_decode(s: &str) -> Result<String, ApiError> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz");
            if let Ok(v) = u8::from_str_radix(hex, 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8(out)
        .map_err(|_| ApiError::bad_request("The resource path is not valid UTF-8"))
}

/// `Name`, `Name('k')`, `Name(A='x',B=3)`.
fn parse_segment(raw: &str) -> Result<Seg, ApiError> {
    let s = percent_decode(raw)?;
    let Some(open) = s.find('(') else {
        return Ok(Seg { name: s, key: None });
    };
    if !s.ends_with(')') {
        return Err(ApiError::bad_request(format!(
            "Invalid key predicate in resource path segment '{s}'"
        )));
    }
    let name = s[..open].to_string();
    let inner = &s[open + 1..s.len() - 1];
    let bad = || ApiError::bad_request(format!("Invalid key predicate in '{s}'"));
    let mut parts = Vec::new();
    let b = inner.as_bytes();
    let mut i = 0;
    while i < b.len() {
        // Optional `Name=`.
        let mut key_name = None;
        let rest = &inner[i..];
        if let Some(eq) = rest.find('=')
            && !rest[..eq].contains('\'')
            && !rest[..eq].is_empty()
        {
            key_name = Some(rest[..eq].trim().to_string());
            i += eq + 1;
        }
        if i < b.len() && b[i] == b'\'' {
            let mut val = String::new();
            let mut j = i + 1;
            loop {
                if j >= b.len() {
                    return Err(bad());
                }
                if b[j] == b'\'' {
                    if j + 1 < b.len() && b[j + 1] == b'\'' {
                        val.push('\'');
                        j += 2;
                        continue;
                    }
                    break;
                }
                let ch = inner[j..].chars().next().ok_or_else(bad)?;
                val.push(ch);
                j += ch.len_utf8();
            }
            parts.push((key_name, KeyVal::Str(val)));
            i = j + 1;
        } else {
            let end = inner[i..].find(',').map(|p| i + p).unwrap_or(b.len());
            let lit = inner[i..end].trim().trim_end_matches(['L', 'l']);
            let n: i64 = lit.parse().map_err(|_| bad())?;
            parts.push((key_name, KeyVal::Num(n)));
            i = end;
        }
        if i < b.len() {
            if b[i] != b',' {
                return Err(bad());
            }
            i += 1;
        }
    }
    if parts.is_empty() {
        return Err(bad());
    }
    Ok(Seg {
        name,
        key: Some(parts),
    })
}

fn single_key(seg: &Seg) -> Result<String, ApiError> {
    match seg.key.as_deref() {
        Some([(None, KeyVal::Str(s))]) => Ok(s.clone()),
        Some([(Some(_), KeyVal::Str(s))]) => Ok(s.clone()),
        _ => Err(ApiError::bad_request(format!(
            "Invalid key predicate for {}: expected ('<key>')",
            seg.name
        ))),
    }
}

fn named_str(seg: &Seg, name: &str) -> Option<String> {
    seg.key.as_ref()?.iter().find_map(|(k, v)| match (k, v) {
        (Some(k), KeyVal::Str(s)) if k == name => Some(s.clone()),
        _ => None,
    })
}

fn named_num(seg: &Seg, name: &str) -> Option<i64> {
    seg.key.as_ref()?.iter().find_map(|(k, v)| match (k, v) {
        (Some(k), KeyVal::Num(n)) if k == name => Some(*n),
        (Some(k), KeyVal::Str(s)) if k == name => s.parse().ok(),
        _ => None,
    })
}

fn id_version(seg: &Seg) -> Result<(String, String), ApiError> {
    match (named_str(seg, "Id"), named_str(seg, "Version")) {
        (Some(id), Some(v)) => Ok((id, v)),
        _ => Err(ApiError::bad_request(format!(
            "Invalid key predicate for {}: expected (Id='…',Version='…')",
            seg.name
        ))),
    }
}

/// Parses a resource path relative to the service root (no leading `/api/v1`).
pub(crate) fn parse_route(path: &str) -> Result<Route, ApiError> {
    let trimmed = path.trim_matches('/');
    if trimmed.is_empty() {
        return Ok(Route::ServiceDocument);
    }
    let segs: Vec<Seg> = trimmed
        .split('/')
        .map(parse_segment)
        .collect::<Result<_, _>>()?;
    let names: Vec<&str> = segs.iter().map(|s| s.name.as_str()).collect();
    let keyed: Vec<bool> = segs.iter().map(|s| s.key.is_some()).collect();
    let not_found = || ApiError::not_found(format!("Resource not found for the segment '{path}'"));
    let k0 = || single_key(&segs[0]);
    use Route as R;
    Ok(match (names.as_slice(), keyed.as_slice()) {
        (["$metadata"], [false]) => R::Metadata,
        (["MessageProcessingLogs"], [false]) => R::MplList,
        (["MessageProcessingLogs", "$count"], [false, false]) => R::MplCount,
        (["MessageProcessingLogs"], [true]) => R::Mpl(k0()?),
        (["MessageProcessingLogs", "ErrorInformation", "$value"], [true, false, false]) => {
            R::MplErrorValue(k0()?)
        }
        (["MessageProcessingLogs", nav], [true, false]) => {
            R::MplNav(k0()?, MplNav::parse(nav).ok_or_else(not_found)?)
        }
        (["MessageProcessingLogErrorInformations"], [true]) => {
            R::MplNav(k0()?, MplNav::ErrorInformation)
        }
        (["MessageProcessingLogErrorInformations", "$value"], [true, false]) => {
            R::MplErrorValue(k0()?)
        }
        (["MessageProcessingLogRuns"], [true]) => R::Run(k0()?),
        (["MessageProcessingLogRuns", "RunSteps"], [true, false]) => R::RunSteps(k0()?),
        (["MessageProcessingLogRunSteps", rest @ ..], [true, ..]) => {
            let (Some(run), Some(n)) = (
                named_str(&segs[0], "RunId"),
                named_num(&segs[0], "ChildCount"),
            ) else {
                return Err(ApiError::bad_request(
                    "Invalid key predicate: expected (RunId='…',ChildCount=n)",
                ));
            };
            let n = u32::try_from(n).map_err(|_| not_found())?;
            match rest {
                [] => R::RunStep(run, n),
                ["RunStepProperties"] => R::RunStepProperties(run, n),
                _ => return Err(not_found()),
            }
        }
        (["MessageProcessingLogAttachments"], [true]) => R::Attachment(k0()?),
        (["MessageProcessingLogAttachments", "$value"], [true, false]) => R::AttachmentValue(k0()?),
        (["MessageStoreEntries"], [true]) => R::StoreEntry(k0()?),
        (["MessageStoreEntries", "$value"], [true, false]) => R::StoreEntryValue(k0()?),
        (["MessageStoreEntries", "Properties"], [true, false]) => R::StoreEntryProperties(k0()?),
        (["MessageStoreEntries", "Attachments"], [true, false]) => R::StoreEntryAttachments(k0()?),
        (["IntegrationPackages"], [false]) => R::Packages,
        (["IntegrationPackages"], [true]) => R::Package(k0()?),
        (["IntegrationPackages", "$value"], [true, false]) => R::PackageValue(k0()?),
        (["IntegrationPackages", "IntegrationDesigntimeArtifacts"], [true, false]) => {
            R::PackageDesigntime(k0()?)
        }
        (["IntegrationPackages", "ValueMappingDesigntimeArtifacts"], [true, false]) => {
            R::PackageValueMappings(k0()?)
        }
        (["IntegrationDesigntimeArtifacts"], [true]) => {
            let (id, v) = id_version(&segs[0])?;
            R::Designtime(id, v)
        }
        (["IntegrationDesigntimeArtifacts", "$value"], [true, false]) => {
            let (id, v) = id_version(&segs[0])?;
            R::DesigntimeValue(id, v)
        }
        (["ValueMappingDesigntimeArtifacts"], [false]) => R::ValueMappings,
        (["ValueMappingDesigntimeArtifacts"], [true]) => {
            let (id, v) = id_version(&segs[0])?;
            R::ValueMapping(id, v)
        }
        (["ValueMappingDesigntimeArtifacts", "$value"], [true, false]) => {
            let (id, v) = id_version(&segs[0])?;
            R::ValueMappingValue(id, v)
        }
        (["IntegrationRuntimeArtifacts"], [false]) => R::Runtimes,
        (["IntegrationRuntimeArtifacts", "$count"], [false, false]) => R::RuntimeCount,
        (["IntegrationRuntimeArtifacts"], [true]) => R::Runtime(k0()?),
        (["IntegrationRuntimeArtifacts", "ErrorInformation"], [true, false]) => {
            R::RuntimeError(k0()?)
        }
        (["IntegrationRuntimeArtifacts", "ErrorInformation", "$value"], [true, false, false]) => {
            R::RuntimeErrorValue(k0()?)
        }
        (["KeystoreEntries"], [false]) => R::Keystore,
        (["KeystoreEntries", "$count"], [false, false]) => R::KeystoreCount,
        (["KeystoreEntries"], [true]) => R::KeyEntry(k0()?),
        (["JmsBrokers"], [true]) => R::JmsBroker(k0()?),
        (["DataStores"], [false]) => R::DataStores,
        _ => return Err(not_found()),
    })
}

pub(crate) fn dispatch(
    t: &Tenant,
    route: &Route,
    q: &QueryOptions,
    ctx: &RequestCtx<'_>,
) -> Result<Reply, ApiError> {
    use Route as R;
    match route {
        R::ServiceDocument => Ok(service::service_document()),
        R::Metadata => Ok(service::metadata()),
        R::MplList => mpl::list(t, q, ctx),
        R::MplCount => mpl::count(t, q, ctx),
        R::Mpl(guid) => mpl::single(t, guid, q, ctx),
        R::MplNav(guid, nav) => children::mpl_nav(t, guid, nav, q, ctx),
        R::MplErrorValue(guid) => children::error_value(t, guid, ctx),
        R::Run(id) => children::run(t, id, ctx),
        R::RunSteps(id) => children::run_steps(t, id, q, ctx),
        R::RunStep(id, n) => children::run_step(t, id, *n, q, ctx),
        R::RunStepProperties(id, n) => children::run_step_properties(t, id, *n, ctx),
        R::Attachment(id) => children::attachment(t, id, ctx),
        R::AttachmentValue(id) => children::attachment_value(t, id, ctx),
        R::StoreEntry(id) => children::store_entry(t, id, ctx),
        R::StoreEntryValue(id) => children::store_entry_value(t, id, ctx),
        R::StoreEntryProperties(id) => children::store_entry_properties(t, id, ctx),
        R::StoreEntryAttachments(id) => children::store_entry_attachments(t, id, ctx),
        R::Packages => content::packages(t, q, ctx),
        R::Package(id) => content::package(t, id, ctx),
        R::PackageValue(id) => content::package_value(t, id),
        R::PackageDesigntime(id) => content::package_designtime(t, id, q, ctx),
        R::PackageValueMappings(id) => content::package_value_mappings(t, id, q, ctx),
        R::Designtime(id, v) => content::designtime(t, id, v, ctx),
        R::DesigntimeValue(id, v) => content::designtime_value(t, id, v),
        R::ValueMappings => content::value_mappings(t, q, ctx),
        R::ValueMapping(id, v) => content::value_mapping(t, id, v, ctx),
        R::ValueMappingValue(id, v) => content::value_mapping_value(t, id, v),
        R::Runtimes => content::runtimes(t, q, ctx),
        R::RuntimeCount => content::runtime_count(t, q),
        R::Runtime(id) => content::runtime(t, id, ctx),
        R::RuntimeError(id) => content::runtime_error(t, id, ctx),
        R::RuntimeErrorValue(id) => content::runtime_error_value(t, id),
        R::Keystore => keystore::list(t, q, ctx),
        R::KeystoreCount => keystore::count(t, q),
        R::KeyEntry(hex) => keystore::single(t, hex, ctx),
        R::JmsBroker(key) => resources::broker(t, key, q, ctx),
        R::DataStores => resources::data_stores(t, q, ctx),
    }
}

/// Writes a paged collection of small, in-memory items: `$top`, `$skip`, `$skiptoken`,
/// `$inlinecount` and `__next` behave as for MPLs.
pub(crate) fn small_collection<T>(
    items: &[T],
    q: &QueryOptions,
    ctx: &RequestCtx<'_>,
    resource_path: &str,
    page_size: usize,
    mut write: impl FnMut(&mut Vec<u8>, &T),
) -> Reply {
    let w = query::window(q, items.len(), page_size);
    let mut out = Vec::with_capacity(256 + w.len * 512);
    crate::odata::begin_collection(&mut out, q.inlinecount.then_some(items.len()));
    for (n, item) in items[w.start..w.start + w.len].iter().enumerate() {
        if n > 0 {
            out.push(b',');
        }
        write(&mut out, item);
    }
    let next = w
        .next_token
        .map(|tok| query::next_link(ctx.next_root(), resource_path, q, tok));
    crate::odata::end_collection(&mut out, next.as_deref());
    Reply::json(out)
}

/// `$count` of a small collection, as plain text.
pub(crate) fn count_reply(total: usize, q: &QueryOptions) -> Reply {
    let skip = q.skip.min(total);
    let n = q.top.map_or(total - skip, |t| t.min(total - skip));
    Reply::text(n.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_has_a_counted_label() {
        let paths = [
            "",
            "$metadata",
            "MessageProcessingLogs",
            "MessageProcessingLogs/$count",
            "MessageProcessingLogs('g')",
            "MessageProcessingLogs('g')/CustomHeaderProperties",
            "MessageProcessingLogs('g')/Runs",
            "MessageProcessingLogs('g')/ErrorInformation",
            "MessageProcessingLogs('g')/Attachments",
            "MessageProcessingLogs('g')/AdapterAttributes",
            "MessageProcessingLogs('g')/MessageStoreEntries",
            "MessageProcessingLogs('g')/ErrorInformation/$value",
            "MessageProcessingLogRuns('r')",
            "MessageProcessingLogRuns('r')/RunSteps",
            "MessageProcessingLogRunSteps(RunId='r',ChildCount=1)",
            "MessageProcessingLogRunSteps(RunId='r',ChildCount=1)/RunStepProperties",
            "MessageProcessingLogAttachments('a')",
            "MessageProcessingLogAttachments('a')/$value",
            "MessageStoreEntries('e')",
            "MessageStoreEntries('e')/$value",
            "MessageStoreEntries('e')/Properties",
            "MessageStoreEntries('e')/Attachments",
            "IntegrationPackages",
            "IntegrationPackages('p')",
            "IntegrationPackages('p')/$value",
            "IntegrationPackages('p')/IntegrationDesigntimeArtifacts",
            "IntegrationPackages('p')/ValueMappingDesigntimeArtifacts",
            "IntegrationDesigntimeArtifacts(Id='i',Version='1')",
            "IntegrationDesigntimeArtifacts(Id='i',Version='1')/$value",
            "ValueMappingDesigntimeArtifacts",
            "ValueMappingDesigntimeArtifacts(Id='v',Version='1')",
            "ValueMappingDesigntimeArtifacts(Id='v',Version='1')/$value",
            "IntegrationRuntimeArtifacts",
            "IntegrationRuntimeArtifacts/$count",
            "IntegrationRuntimeArtifacts('i')",
            "IntegrationRuntimeArtifacts('i')/ErrorInformation",
            "IntegrationRuntimeArtifacts('i')/ErrorInformation/$value",
            "KeystoreEntries",
            "KeystoreEntries/$count",
            "KeystoreEntries('6869')",
            "JmsBrokers('Broker1')",
            "DataStores",
        ];
        let mut seen = std::collections::HashSet::new();
        for p in paths {
            let label = parse_route(p).unwrap().label();
            assert!(ROUTE_LABELS.contains(&label), "{label} is not counted");
            seen.insert(label);
        }
        assert_eq!(seen.len(), ROUTE_LABELS.len(), "every label is reachable");
    }

    #[test]
    fn parses_the_tenant_paths() {
        assert_eq!(parse_route("").unwrap(), Route::ServiceDocument);
        assert_eq!(
            parse_route("MessageProcessingLogs").unwrap(),
            Route::MplList
        );
        assert_eq!(
            parse_route("MessageProcessingLogs('AGk_x')/ErrorInformation/$value").unwrap(),
            Route::MplErrorValue("AGk_x".into())
        );
        assert_eq!(
            parse_route("MessageStoreEntries('sap-it-res%3Amsg%3Aab%3A12')/$value").unwrap(),
            Route::StoreEntryValue("sap-it-res:msg:ab:12".into())
        );
        assert_eq!(
            parse_route("IntegrationDesigntimeArtifacts(Id='a.b',Version='1.0.0')/$value").unwrap(),
            Route::DesigntimeValue("a.b".into(), "1.0.0".into())
        );
        assert_eq!(
            parse_route("MessageProcessingLogRunSteps(RunId='R1',ChildCount=4)/RunStepProperties")
                .unwrap(),
            Route::RunStepProperties("R1".into(), 4)
        );
        assert_eq!(
            parse_route("IntegrationPackages('it''s')").unwrap(),
            Route::Package("it's".into())
        );
        assert_eq!(parse_route("Nope").unwrap_err().status, 404);
        assert_eq!(
            parse_route("MessageProcessingLogs('x')/Nope")
                .unwrap_err()
                .status,
            404
        );
        assert_eq!(
            parse_route("MessageProcessingLogs('x").unwrap_err().status,
            400
        );
    }
}
