//! `KeystoreEntries` (key: the upper-case hex of the alias), with certificates that are valid for
//! long, about to expire and already expired, relative to the simulator's start.

use super::{count_reply, small_collection};
use crate::catalog::KeyEntry;
use crate::odata::{Obj, entity_uri};
use crate::query::QueryOptions;
use crate::reply::{ApiError, Reply};
use crate::tenant::{RequestCtx, Tenant};

fn write_entry(out: &mut Vec<u8>, root: &str, k: &KeyEntry) {
    let uri = entity_uri(root, "KeystoreEntries", &k.hexalias);
    let mut o = Obj::open(out);
    o.metadata(&uri, "com.sap.hci.api.KeystoreEntry");
    o.str("Hexalias", &k.hexalias);
    o.str("Alias", &k.alias);
    o.str("KeyType", k.key_type);
    o.int32("KeySize", i64::from(k.key_size));
    o.date("ValidNotBefore", k.not_before_ms);
    o.date("ValidNotAfter", k.not_after_ms);
    o.str("SerialNumber", &k.serial);
    o.str("SignatureAlgorithm", "SHA256withRSA");
    o.null("EllipticCurve");
    o.null("Validity");
    o.str("SubjectDN", &k.subject_dn);
    o.str("IssuerDN", &k.issuer_dn);
    o.int32("Version", 3);
    o.str("FingerprintSha1", &k.fingerprints[0]);
    o.str("FingerprintSha256", &k.fingerprints[1]);
    o.str("FingerprintSha512", &k.fingerprints[2]);
    o.str("Type", k.kind);
    o.str("Owner", k.owner);
    o.str("LastModifiedBy", k.modified_by);
    o.date("LastModifiedTime", k.modified_ms);
    o.str("CreatedBy", k.modified_by);
    o.date("CreatedTime", k.created_ms);
    o.str("Status", "unchanged");
    o.close();
}

/// The entries of the requested keystore: `system` (the default) holds them all; the backup and
/// key-renewal keystores are empty.
fn entries<'a>(t: &'a Tenant, q: &QueryOptions) -> Result<&'a [KeyEntry], ApiError> {
    match q.keystore_name.as_deref() {
        None | Some("system") => Ok(&t.catalog.keystore),
        Some("backup_admin_system") | Some("KeyRenewal") => Ok(&[]),
        Some(other) => Err(ApiError::not_found(format!("Keystore '{other}' not found"))),
    }
}

pub(crate) fn list(t: &Tenant, q: &QueryOptions, ctx: &RequestCtx<'_>) -> Result<Reply, ApiError> {
    let items = entries(t, q)?;
    Ok(small_collection(
        items,
        q,
        ctx,
        "KeystoreEntries",
        t.page_size,
        |out, k| write_entry(out, ctx.root, k),
    ))
}

pub(crate) fn count(t: &Tenant, q: &QueryOptions) -> Result<Reply, ApiError> {
    Ok(count_reply(entries(t, q)?.len(), q))
}

pub(crate) fn single(t: &Tenant, hex: &str, ctx: &RequestCtx<'_>) -> Result<Reply, ApiError> {
    let Some(k) = t.catalog.key_by_hexalias(hex) else {
        let alias = hex::decode(hex)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .unwrap_or_else(|| hex.to_string());
        return Err(ApiError::not_found(format!(
            "Alias '{alias}' not found in the keystore"
        )));
    };
    let mut out = Vec::with_capacity(1500);
    out.extend_from_slice(b"{\"d\":");
    write_entry(&mut out, ctx.root, k);
    out.push(b'}');
    Ok(Reply::json(out))
}
