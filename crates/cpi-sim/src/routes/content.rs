//! Integration content: packages, design-time integration flows and value mappings (with their
//! zip `$value`), and runtime artifacts (with the JSON error text of those in ERROR).

use super::{count_reply, small_collection};
use crate::catalog::{IFlow, Package, ValueMapping};
use crate::details;
use crate::filter;
use crate::odata::{Obj, entity_uri, push_key_escaped};
use crate::query::QueryOptions;
use crate::reply::{ApiError, Reply};
use crate::tenant::{RequestCtx, Tenant};

const OCTET: &str = "application/octet-stream";
const ZIP: &str = "application/zip";

/// Applies a `$filter` with string (in)equality to an in-memory collection.
fn filtered<'a, T>(
    items: impl Iterator<Item = &'a T>,
    q: &QueryOptions,
    lookup: impl Fn(&T, &str) -> Option<Option<String>>,
) -> Result<Vec<&'a T>, ApiError>
where
    T: 'a,
{
    let Some(text) = q.filter.as_deref() else {
        return Ok(items.collect());
    };
    let expr = filter::parse(text)?;
    let mut out = Vec::new();
    for item in items {
        if filter::eval_simple(&expr, &|f| lookup(item, f))? {
            out.push(item);
        }
    }
    Ok(out)
}

fn composite_uri(root: &str, set: &str, id: &str, version: &str) -> Vec<u8> {
    let mut uri = Vec::with_capacity(root.len() + set.len() + id.len() + 32);
    uri.extend_from_slice(root.as_bytes());
    uri.push(b'/');
    uri.extend_from_slice(set.as_bytes());
    uri.extend_from_slice(b"(Id='");
    push_key_escaped(&mut uri, id);
    uri.extend_from_slice(b"',Version='");
    push_key_escaped(&mut uri, version);
    uri.extend_from_slice(b"')");
    uri
}

fn single(write: impl FnOnce(&mut Vec<u8>)) -> Reply {
    let mut out = Vec::with_capacity(2048);
    out.extend_from_slice(b"{\"d\":");
    write(&mut out);
    out.push(b'}');
    Reply::json(out)
}

// ---- packages ---------------------------------------------------------------------------------

fn write_package(out: &mut Vec<u8>, root: &str, p: &Package) {
    let uri = entity_uri(root, "IntegrationPackages", &p.id);
    let mut o = Obj::open(out);
    o.media_metadata(&uri, "com.sap.hci.api.IntegrationPackage", OCTET);
    o.str("Id", &p.id);
    o.str("Name", &p.name);
    o.str(
        "ResourceId",
        &format!("{:032x}", crate::generate::mix64(p.created_ms as u64)),
    );
    o.str("Description", &p.description);
    o.str("ShortText", &p.short_text);
    o.str("Version", &p.version);
    o.str("Vendor", p.vendor);
    o.bool("PartnerContent", false);
    o.bool("UpdateAvailable", false);
    o.str("Mode", p.mode);
    o.str("SupportedPlatform", "[SAP Cloud Integration]");
    o.str("ModifiedBy", "sim.operator@example.com");
    o.str("CreationDate", &p.created_ms.to_string());
    o.str("ModifiedDate", &p.modified_ms.to_string());
    o.str("CreatedBy", "sim.operator@example.com");
    o.str("Products", "[SAP S/4HANA]");
    o.str("Keywords", "[IntegraMon, Simulated]");
    o.str("Countries", "[]");
    o.str("Industries", "[]");
    o.str("LineOfBusiness", "[]");
    o.deferred("IntegrationDesigntimeArtifacts", &uri);
    o.deferred("ValueMappingDesigntimeArtifacts", &uri);
    o.close();
}

fn package_lookup(p: &Package, f: &str) -> Option<Option<String>> {
    Some(Some(match f {
        "Id" => p.id.clone(),
        "Name" => p.name.clone(),
        "Vendor" => p.vendor.to_string(),
        "Mode" => p.mode.to_string(),
        "Version" => p.version.clone(),
        _ => return None,
    }))
}

fn find_package<'a>(t: &'a Tenant, id: &str) -> Result<&'a Package, ApiError> {
    t.catalog
        .package_by_id(id)
        .map(|p| &t.catalog.packages[p])
        .ok_or_else(|| ApiError::not_found(format!("Integration package '{id}' not found")))
}

pub(crate) fn packages(
    t: &Tenant,
    q: &QueryOptions,
    ctx: &RequestCtx<'_>,
) -> Result<Reply, ApiError> {
    let items = filtered(t.catalog.packages.iter(), q, package_lookup)?;
    Ok(small_collection(
        &items,
        q,
        ctx,
        "IntegrationPackages",
        t.page_size,
        |out, p| write_package(out, ctx.root, p),
    ))
}

pub(crate) fn package(t: &Tenant, id: &str, ctx: &RequestCtx<'_>) -> Result<Reply, ApiError> {
    let p = find_package(t, id)?;
    Ok(single(|out| write_package(out, ctx.root, p)))
}

pub(crate) fn package_value(t: &Tenant, id: &str) -> Result<Reply, ApiError> {
    let p = find_package(t, id)?;
    let pos = t.catalog.package_by_id(id).unwrap_or(0);
    if pos % 5 == 1 && p.mode == "EDIT_ALLOWED" {
        // Exercises the documented failure: export refuses packages with drafts.
        let draft = p
            .iflows
            .first()
            .map(|f| t.catalog.iflows[*f].name.clone())
            .unwrap_or_default();
        return Err(ApiError {
            status: 500,
            message: format!(
                "Package export failed. It contains the following artifacts are in draft state: [ {{Type=IFlow, Name={draft}}} ]."
            ),
        });
    }
    let mut files: Vec<(String, Vec<u8>)> = vec![(
        "contentmetadata.md".into(),
        format!("{}\n{}\n", p.id, p.name).into_bytes(),
    )];
    for f in &p.iflows {
        let flow = &t.catalog.iflows[*f];
        files.push((format!("{}_content", flow.id), iflow_zip(flow)));
    }
    let refs: Vec<(&str, Vec<u8>)> = files.iter().map(|(n, d)| (n.as_str(), d.clone())).collect();
    Ok(Reply::bytes(ZIP, details::zip(&refs)))
}

// ---- design-time integration flows ------------------------------------------------------------

fn write_designtime(out: &mut Vec<u8>, t: &Tenant, root: &str, f: &IFlow) {
    let uri = composite_uri(root, "IntegrationDesigntimeArtifacts", &f.id, &f.version);
    let mut o = Obj::open(out);
    o.media_metadata(&uri, "com.sap.hci.api.IntegrationDesigntimeArtifact", OCTET);
    o.str("Id", &f.id);
    o.str("Version", &f.version);
    o.str("PackageId", &t.catalog.packages[f.package].id);
    o.str("Name", &f.name);
    o.str("Description", &f.description);
    o.str("Sender", f.sender.unwrap_or(""));
    o.str("Receiver", f.receiver.unwrap_or(""));
    o.str("CreatedBy", "sim.operator@example.com");
    o.str("CreatedAt", &f.created_ms.to_string());
    o.str("ModifiedBy", f.deployed_by);
    o.str("ModifiedAt", &f.modified_ms.to_string());
    o.null("ArtifactContent");
    o.null("Comment");
    o.deferred("Configurations", &uri);
    o.deferred("Resources", &uri);
    o.close();
}

fn find_iflow<'a>(t: &'a Tenant, id: &str, version: &str) -> Result<&'a IFlow, ApiError> {
    t.catalog
        .iflow_by_id(id)
        .map(|f| &t.catalog.iflows[f])
        .filter(|f| version == "active" || f.version == version)
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "Integration design time artifact with Id '{id}' and version '{version}' not found"
            ))
        })
}

pub(crate) fn package_designtime(
    t: &Tenant,
    id: &str,
    q: &QueryOptions,
    ctx: &RequestCtx<'_>,
) -> Result<Reply, ApiError> {
    let p = find_package(t, id)?;
    let flows: Vec<&IFlow> = p.iflows.iter().map(|f| &t.catalog.iflows[*f]).collect();
    let path = format!(
        "IntegrationPackages('{}')/IntegrationDesigntimeArtifacts",
        crate::odata::key_escaped(id)
    );
    Ok(small_collection(
        &flows,
        q,
        ctx,
        &path,
        t.page_size,
        |out, f| write_designtime(out, t, ctx.root, f),
    ))
}

pub(crate) fn designtime(
    t: &Tenant,
    id: &str,
    version: &str,
    ctx: &RequestCtx<'_>,
) -> Result<Reply, ApiError> {
    let f = find_iflow(t, id, version)?;
    Ok(single(|out| write_designtime(out, t, ctx.root, f)))
}

fn iflow_zip(f: &IFlow) -> Vec<u8> {
    let manifest = format!(
        "Manifest-Version: 1.0\r\nBundle-ManifestVersion: 2\r\nBundle-Name: {}\r\nBundle-SymbolicName: {}; singleton:=true\r\nBundle-Version: {}\r\nSAP-BundleType: IntegrationFlow\r\n\r\n",
        f.name, f.id, f.version
    );
    let iflow = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<bpmn2:definitions xmlns:bpmn2=\"http://www.omg.org/spec/BPMN/20100524/MODEL\" id=\"Definitions_1\">\n  <bpmn2:collaboration id=\"Collaboration_1\" name=\"{}\"/>\n  <bpmn2:process id=\"Process_1\" name=\"Integration Process\"/>\n</bpmn2:definitions>\n",
        f.name
    );
    let params = format!(
        "Receiver_Address=https\\://{}.example.com/api\nCredential_Name={}_credentials\n",
        f.receiver.unwrap_or("backend").to_lowercase(),
        f.receiver.unwrap_or("backend").to_lowercase()
    );
    details::zip(&[
        ("META-INF/MANIFEST.MF", manifest.into_bytes()),
        (
            &format!(
                "src/main/resources/scenarioflows/integrationflow/{}.iflow",
                f.id
            ),
            iflow.into_bytes(),
        ),
        ("src/main/resources/parameters.prop", params.into_bytes()),
    ])
}

pub(crate) fn designtime_value(t: &Tenant, id: &str, version: &str) -> Result<Reply, ApiError> {
    let f = find_iflow(t, id, version)?;
    Ok(Reply::bytes(ZIP, iflow_zip(f)))
}

// ---- value mappings ---------------------------------------------------------------------------

fn write_value_mapping(out: &mut Vec<u8>, t: &Tenant, root: &str, v: &ValueMapping) {
    let uri = composite_uri(root, "ValueMappingDesigntimeArtifacts", &v.id, &v.version);
    let mut o = Obj::open(out);
    o.media_metadata(
        &uri,
        "com.sap.hci.api.ValueMappingDesigntimeArtifact",
        OCTET,
    );
    o.str("Id", &v.id);
    o.str("Version", &v.version);
    o.str("PackageId", &t.catalog.packages[v.package].id);
    o.str("Name", &v.name);
    o.str("Description", &v.description);
    o.null("ArtifactContent");
    o.deferred("ValMapSchema", &uri);
    o.close();
}

fn find_value_mapping<'a>(
    t: &'a Tenant,
    id: &str,
    version: &str,
) -> Result<&'a ValueMapping, ApiError> {
    t.catalog
        .value_mappings
        .iter()
        .find(|v| v.id == id && (version == "active" || v.version == version))
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "Value mapping design time artifact with Id '{id}' and version '{version}' not found"
            ))
        })
}

pub(crate) fn value_mappings(
    t: &Tenant,
    q: &QueryOptions,
    ctx: &RequestCtx<'_>,
) -> Result<Reply, ApiError> {
    let items: Vec<&ValueMapping> = t.catalog.value_mappings.iter().collect();
    Ok(small_collection(
        &items,
        q,
        ctx,
        "ValueMappingDesigntimeArtifacts",
        t.page_size,
        |out, v| write_value_mapping(out, t, ctx.root, v),
    ))
}

pub(crate) fn package_value_mappings(
    t: &Tenant,
    id: &str,
    q: &QueryOptions,
    ctx: &RequestCtx<'_>,
) -> Result<Reply, ApiError> {
    let p = find_package(t, id)?;
    let items: Vec<&ValueMapping> = p
        .value_mappings
        .iter()
        .map(|v| &t.catalog.value_mappings[*v])
        .collect();
    let path = format!(
        "IntegrationPackages('{}')/ValueMappingDesigntimeArtifacts",
        crate::odata::key_escaped(id)
    );
    Ok(small_collection(
        &items,
        q,
        ctx,
        &path,
        t.page_size,
        |out, v| write_value_mapping(out, t, ctx.root, v),
    ))
}

pub(crate) fn value_mapping(
    t: &Tenant,
    id: &str,
    version: &str,
    ctx: &RequestCtx<'_>,
) -> Result<Reply, ApiError> {
    let v = find_value_mapping(t, id, version)?;
    Ok(single(|out| write_value_mapping(out, t, ctx.root, v)))
}

pub(crate) fn value_mapping_value(t: &Tenant, id: &str, version: &str) -> Result<Reply, ApiError> {
    let v = find_value_mapping(t, id, version)?;
    let manifest = format!(
        "Manifest-Version: 1.0\r\nBundle-SymbolicName: {}\r\nBundle-Version: {}\r\nSAP-BundleType: ValueMapping\r\n\r\n",
        v.id, v.version
    );
    let body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<vm version=\"2.0\"><group id=\"1\"><entry><agency>S4</agency><schema>Country</schema><value>DE</value></entry><entry><agency>Partner</agency><schema>Country</schema><value>Germany</value></entry></group></vm>\n";
    Ok(Reply::bytes(
        ZIP,
        details::zip(&[
            ("META-INF/MANIFEST.MF", manifest.into_bytes()),
            ("value_mapping.xml", body.as_bytes().to_vec()),
        ]),
    ))
}

// ---- runtime artifacts ------------------------------------------------------------------------

fn write_runtime(out: &mut Vec<u8>, root: &str, f: &IFlow) {
    let uri = entity_uri(root, "IntegrationRuntimeArtifacts", &f.id);
    let mut o = Obj::open(out);
    o.media_metadata(&uri, "com.sap.hci.api.IntegrationRuntimeArtifact", ZIP);
    o.str("Id", &f.id);
    o.str("Version", &f.version);
    o.str("Name", &f.name);
    o.str("Type", "INTEGRATION_FLOW");
    o.str("DeployedBy", f.deployed_by);
    o.date("DeployedOn", f.deployed_on_ms);
    o.str("Status", f.runtime_status);
    o.deferred("ErrorInformation", &uri);
    o.close();
}

fn runtime_lookup(f: &IFlow, field: &str) -> Option<Option<String>> {
    Some(Some(match field {
        "Id" => f.id.clone(),
        "Name" => f.name.clone(),
        "Version" => f.version.clone(),
        "Type" => "INTEGRATION_FLOW".into(),
        "Status" => f.runtime_status.into(),
        "DeployedBy" => f.deployed_by.into(),
        _ => return None,
    }))
}

fn find_runtime<'a>(t: &'a Tenant, id: &str) -> Result<&'a IFlow, ApiError> {
    t.catalog
        .iflow_by_id(id)
        .map(|f| &t.catalog.iflows[f])
        .ok_or_else(|| {
            ApiError::not_found(format!("Integration runtime artifact '{id}' not found"))
        })
}

pub(crate) fn runtimes(
    t: &Tenant,
    q: &QueryOptions,
    ctx: &RequestCtx<'_>,
) -> Result<Reply, ApiError> {
    let items = filtered(t.catalog.iflows.iter(), q, runtime_lookup)?;
    Ok(small_collection(
        &items,
        q,
        ctx,
        "IntegrationRuntimeArtifacts",
        t.page_size,
        |out, f| write_runtime(out, ctx.root, f),
    ))
}

pub(crate) fn runtime_count(t: &Tenant, q: &QueryOptions) -> Result<Reply, ApiError> {
    let items = filtered(t.catalog.iflows.iter(), q, runtime_lookup)?;
    Ok(count_reply(items.len(), q))
}

pub(crate) fn runtime(t: &Tenant, id: &str, ctx: &RequestCtx<'_>) -> Result<Reply, ApiError> {
    let f = find_runtime(t, id)?;
    Ok(single(|out| write_runtime(out, ctx.root, f)))
}

fn no_runtime_error(id: &str) -> ApiError {
    ApiError::not_found(format!("No error information for runtime artifact '{id}'"))
}

pub(crate) fn runtime_error(t: &Tenant, id: &str, ctx: &RequestCtx<'_>) -> Result<Reply, ApiError> {
    let f = find_runtime(t, id)?;
    if f.runtime_error.is_none() {
        return Err(no_runtime_error(id));
    }
    let uri = entity_uri(ctx.root, "RuntimeArtifactErrorInformations", &f.id);
    Ok(single(|out| {
        let mut o = Obj::open(out);
        o.media_metadata(
            &uri,
            "com.sap.hci.api.RuntimeArtifactErrorInformation",
            OCTET,
        );
        o.str("Id", &f.id);
        o.close();
    }))
}

pub(crate) fn runtime_error_value(t: &Tenant, id: &str) -> Result<Reply, ApiError> {
    let f = find_runtime(t, id)?;
    let text = f
        .runtime_error
        .clone()
        .ok_or_else(|| no_runtime_error(id))?;
    Ok(Reply::bytes("application/json", text.into_bytes()))
}
