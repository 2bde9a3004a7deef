//! The tenant's static content: packages, integration flows (design time and runtime), value
//! mappings and keystore entries. Small, so it is built once at start from the seed.

use std::collections::HashMap;

use crate::generate::hash;

const T_CATALOG: u64 = 0x100;
const DAY_MS: i64 = 86_400_000;

const AREAS: [&str; 8] = [
    "OrderToCash",
    "ProcureToPay",
    "HireToRetire",
    "RecordToReport",
    "MasterData",
    "Logistics",
    "Banking",
    "CustomerService",
];
const SOURCES: [&str; 6] = [
    "S4HANA",
    "SuccessFactors",
    "Ariba",
    "Salesforce",
    "SFTP",
    "Concur",
];
const OBJECTS: [&str; 10] = [
    "SalesOrder",
    "Invoice",
    "Employee",
    "BusinessPartner",
    "PurchaseOrder",
    "Delivery",
    "CostCenter",
    "Material",
    "Payment",
    "ServiceTicket",
];
const TARGETS: [&str; 6] = ["Partner", "S4HANA", "DataLake", "Bank", "Coupa", "Workday"];

#[derive(Clone, Debug)]
pub(crate) struct IFlow {
    pub id: String,
    pub name: String,
    pub package: usize,
    pub version: String,
    pub description: String,
    pub sender: Option<&'static str>,
    pub receiver: Option<&'static str>,
    pub message_type: Option<&'static str>,
    /// `STARTED` or `ERROR`.
    pub runtime_status: &'static str,
    /// JSON text served as the runtime artifact's `ErrorInformation/$value`.
    pub runtime_error: Option<String>,
    pub deployed_on_ms: i64,
    pub deployed_by: &'static str,
    pub created_ms: i64,
    pub modified_ms: i64,
}

#[derive(Clone, Debug)]
pub(crate) struct Package {
    pub id: String,
    pub name: String,
    pub short_text: String,
    pub description: String,
    pub version: String,
    pub vendor: &'static str,
    pub mode: &'static str,
    pub created_ms: i64,
    pub modified_ms: i64,
    pub iflows: Vec<usize>,
    pub value_mappings: Vec<usize>,
}

#[derive(Clone, Debug)]
pub(crate) struct ValueMapping {
    pub id: String,
    pub version: String,
    pub package: usize,
    pub name: String,
    pub description: String,
}

#[derive(Clone, Debug)]
pub(crate) struct KeyEntry {
    pub alias: String,
    pub hexalias: String,
    pub key_type: &'static str,
    pub key_size: u32,
    pub not_before_ms: i64,
    pub not_after_ms: i64,
    pub serial: String,
    pub subject_dn: String,
    pub issuer_dn: String,
    /// `Certificate` or `Key Pair`.
    pub kind: &'static str,
    pub owner: &'static str,
    pub modified_by: &'static str,
    pub modified_ms: i64,
    pub created_ms: i64,
    pub fingerprints: [String; 3],
}

pub(crate) struct Catalog {
    pub iflows: Vec<IFlow>,
    pub packages: Vec<Package>,
    pub value_mappings: Vec<ValueMapping>,
    pub keystore: Vec<KeyEntry>,
    iflow_index: HashMap<String, usize>,
}

impl Catalog {
    /// `ref_ms` is the simulator's start: keystore validity is placed relative to it, so some
    /// certificates are always about to expire. `history_ms` is the start of message history.
    pub(crate) fn new(seed: u64, iflows: usize, ref_ms: i64, history_ms: i64) -> Catalog {
        let h = |i: u64| hash(seed, T_CATALOG, i);
        let package_count = iflows.div_ceil(5);
        let mut packages: Vec<Package> = (0..package_count)
            .map(|p| {
                let area = AREAS[p % AREAS.len()];
                let created = history_ms - (30 + (h(p as u64) % 300) as i64) * DAY_MS;
                Package {
                    id: format!("IntegraMonSim{area}{:02}", p + 1),
                    name: format!("Simulated {} Integration {}", split_camel(area), p + 1),
                    short_text: format!("Simulated {} interfaces", split_camel(area)),
                    description: format!(
                        "<p>Simulated package for <b>{}</b>.</p>",
                        split_camel(area)
                    ),
                    version: format!("1.{}.{}", p % 3, h(p as u64 + 77) % 10),
                    vendor: if p % 4 == 3 { "SAP" } else { "IntegraMon" },
                    mode: if p % 4 == 3 {
                        "READ_ONLY"
                    } else {
                        "EDIT_ALLOWED"
                    },
                    created_ms: created,
                    modified_ms: created + (h(p as u64 + 5) % 20) as i64 * DAY_MS,
                    iflows: Vec::new(),
                    value_mappings: Vec::new(),
                }
            })
            .collect();

        let flows: Vec<IFlow> = (0..iflows)
            .map(|f| {
                let hf = h(1000 + f as u64);
                let src = SOURCES[(hf % SOURCES.len() as u64) as usize];
                let obj = OBJECTS[((hf >> 8) % OBJECTS.len() as u64) as usize];
                let tgt = TARGETS[((hf >> 16) % TARGETS.len() as u64) as usize];
                let package = f / 5;
                // Roughly one flow in eight fails to deploy, at least one when there are three.
                let error = f % 8 == 2;
                let created = packages[package].created_ms + (hf >> 24) as i64 % (10 * DAY_MS);
                let deployed = history_ms - ((hf >> 32) % 20) as i64 * DAY_MS - 3_600_000;
                IFlow {
                    id: format!("{src}_{obj}_to_{tgt}_{:02}", f + 1),
                    name: format!("{} from {src} to {tgt} {}", split_camel(obj), f + 1),
                    package,
                    version: format!("1.0.{}", (hf >> 40) % 12),
                    description: format!("Replicates {} from {src} to {tgt}", split_camel(obj)),
                    sender: (f % 3 == 0).then_some(src),
                    receiver: (f % 3 == 0).then_some(tgt),
                    message_type: (f % 4 == 0).then_some(obj),
                    runtime_status: if error { "ERROR" } else { "STARTED" },
                    runtime_error: error.then(|| {
                        let alias = format!("{}_credentials", tgt.to_lowercase());
                        let text = match (hf >> 44) % 3 {
                            0 => format!(
                                "java.lang.IllegalStateException: No credentials for '{alias}' found"
                            ),
                            1 => format!(
                                "org.apache.camel.FailedToCreateRouteException: Failed to create route Process_1 at: >>> To[{}] <<< because of Keystore entry '{alias}' not found",
                                tgt.to_lowercase()
                            ),
                            _ => "com.sap.it.nm.NodeManagerException: Deployment of the artifact failed: unsupported adapter version".to_string(),
                        };
                        serde_json::json!({ "message": text }).to_string()
                    }),
                    deployed_on_ms: deployed,
                    deployed_by: if f % 2 == 0 { "sim.operator@example.com" } else { "ci-pipeline" },
                    created_ms: created,
                    modified_ms: deployed - 600_000,
                }
            })
            .collect();
        for (f, flow) in flows.iter().enumerate() {
            packages[flow.package].iflows.push(f);
        }

        let mut value_mappings = Vec::new();
        for (p, pkg) in packages.iter_mut().enumerate() {
            if p % 2 == 0 {
                let vm = value_mappings.len();
                value_mappings.push(ValueMapping {
                    id: format!("VM_{}_Codes_{:02}", AREAS[p % AREAS.len()], p + 1),
                    version: format!("1.0.{}", p % 4),
                    package: p,
                    name: format!("{} code lists", split_camel(AREAS[p % AREAS.len()])),
                    description: "Maps code values between sender and receiver".into(),
                });
                pkg.value_mappings.push(vm);
            }
        }

        let keystore = keystore(seed, ref_ms);
        let iflow_index = flows
            .iter()
            .enumerate()
            .map(|(i, f)| (f.id.clone(), i))
            .collect();
        Catalog {
            iflows: flows,
            packages,
            value_mappings,
            keystore,
            iflow_index,
        }
    }

    pub(crate) fn iflow_by_id(&self, id: &str) -> Option<usize> {
        self.iflow_index.get(id).copied()
    }

    pub(crate) fn package_by_id(&self, id: &str) -> Option<usize> {
        self.packages.iter().position(|p| p.id == id)
    }

    pub(crate) fn key_by_hexalias(&self, hex: &str) -> Option<&KeyEntry> {
        self.keystore
            .iter()
            .find(|k| k.hexalias.eq_ignore_ascii_case(hex))
    }
}

fn keystore(seed: u64, ref_ms: i64) -> Vec<KeyEntry> {
    // (alias, kind, owner, valid from (days relative to start), valid until (days)).
    let spec: [(&str, &str, &str, i64, i64); 9] = [
        (
            "sap_cloudintegrationcertificate",
            "Key Pair",
            "SAP",
            -300,
            65,
        ),
        (
            "s4_backend_client",
            "Key Pair",
            "Tenant Administrator",
            -30,
            700,
        ),
        (
            "partner_as2_signing",
            "Certificate",
            "Tenant Administrator",
            -700,
            12,
        ),
        (
            "sftp_partner_hostkey",
            "Certificate",
            "Tenant Administrator",
            -360,
            25,
        ),
        (
            "smtp.mail.example.com",
            "Certificate",
            "Tenant Administrator",
            -200,
            28,
        ),
        (
            "old_bank_certificate",
            "Certificate",
            "Tenant Administrator",
            -730,
            -3,
        ),
        (
            "legacy_partner_ca",
            "Certificate",
            "Tenant Administrator",
            -2000,
            -200,
        ),
        ("digicert_global_root_g2", "Certificate", "SAP", -3000, 1800),
        ("isrg_root_x1", "Certificate", "SAP", -2500, 1500),
    ];
    spec.iter()
        .enumerate()
        .map(|(n, (alias, kind, owner, from, until))| {
            let h = hash(seed, T_CATALOG + 1, n as u64);
            let fp = |len: usize, salt: u64| {
                let mut parts = Vec::with_capacity(len);
                for k in 0..len {
                    let v = hash(seed, salt, (n * 64 + k) as u64) as u8;
                    parts.push(format!("{v:02X}"));
                }
                parts.join(":")
            };
            let cn = alias.replace('_', "-");
            let self_signed = *owner == "Tenant Administrator" && n % 2 == 0;
            KeyEntry {
                alias: alias.to_string(),
                hexalias: hex::encode_upper(alias.as_bytes()),
                key_type: "RSA",
                key_size: if n % 3 == 0 { 4096 } else { 2048 },
                // Whole seconds, as certificates carry them.
                not_before_ms: (ref_ms + from * DAY_MS) / 1000 * 1000,
                not_after_ms: (ref_ms + until * DAY_MS) / 1000 * 1000,
                serial: format!("0x{:X}", h & 0xffff_ffff_ffff),
                subject_dn: format!("CN={cn}, OU=Integration, O=Example Corp, C=DE"),
                issuer_dn: if self_signed {
                    format!("CN={cn}, OU=Integration, O=Example Corp, C=DE")
                } else {
                    "CN=Example Issuing CA G2, O=Example Trust Services, C=US".to_string()
                },
                kind,
                owner,
                modified_by: if *owner == "SAP" {
                    "SAP"
                } else {
                    "sim.operator@example.com"
                },
                modified_ms: ref_ms + from * DAY_MS + 3_600_000,
                created_ms: ref_ms + from * DAY_MS + 3_600_000,
                fingerprints: [fp(20, 0x201), fp(32, 0x202), fp(64, 0x203)],
            }
        })
        .collect()
}

/// `OrderToCash` -> `Order To Cash`.
fn split_camel(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 4);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && c.is_ascii_uppercase() {
            out.push(' ');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_has_errors_and_expiring_certificates() {
        let now = 1_750_000_000_000;
        let c = Catalog::new(7, 20, now, now - 7 * DAY_MS);
        assert_eq!(c.packages.len(), 4);
        assert!(c.iflows.iter().any(|f| f.runtime_status == "ERROR"));
        assert!(c.iflows.iter().any(|f| f.runtime_status == "STARTED"));
        let ids: std::collections::HashSet<_> = c.iflows.iter().map(|f| &f.id).collect();
        assert_eq!(ids.len(), 20, "iflow ids are unique");
        let soon = c
            .keystore
            .iter()
            .filter(|k| k.not_after_ms > now && k.not_after_ms < now + 30 * DAY_MS)
            .count();
        let expired = c.keystore.iter().filter(|k| k.not_after_ms < now).count();
        let long = c
            .keystore
            .iter()
            .filter(|k| k.not_after_ms > now + 365 * DAY_MS)
            .count();
        assert!(soon >= 2 && expired >= 2 && long >= 2);
        let first = &c.keystore[0];
        assert_eq!(
            c.key_by_hexalias(&first.hexalias.to_lowercase())
                .map(|k| &k.alias),
            Some(&first.alias)
        );
        assert_eq!(split_camel("OrderToCash"), "Order To Cash");
    }
}
