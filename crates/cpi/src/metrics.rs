//! CPI API calls and their failures, per tenant and API family, for `/metrics`. Counted in
//! [`crate::client::CpiClient`], so every call any daemon makes is seen. Labels stay bounded:
//! the tenant's name (or its API host when no name was given), the API family and an error
//! kind; never a URL, a message id or a credential.

use std::sync::LazyLock;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

use crate::error::CpiError;
use crate::limits::ApiFamily;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    tenant: String,
    api: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ErrorLabels {
    tenant: String,
    api: &'static str,
    kind: &'static str,
}

struct CpiMetrics {
    calls: Family<CallLabels, Counter>,
    errors: Family<ErrorLabels, Counter>,
}

static CPI: LazyLock<CpiMetrics> = LazyLock::new(|| CpiMetrics {
    calls: Family::default(),
    errors: Family::default(),
});

/// The family as a label value.
pub fn api_label(family: ApiFamily) -> &'static str {
    match family {
        ApiFamily::MessageProcessingLogs => "message_processing_logs",
        ApiFamily::Payloads => "payloads",
        ApiFamily::RuntimeArtifacts => "runtime_artifacts",
        ApiFamily::DesigntimeArtifacts => "designtime_artifacts",
        ApiFamily::SecurityContent => "security_content",
    }
}

pub(crate) fn record_call(tenant: &str, family: ApiFamily) {
    CPI.calls
        .get_or_create(&CallLabels {
            tenant: tenant.to_string(),
            api: api_label(family),
        })
        .inc();
}

pub(crate) fn record_error(tenant: &str, family: ApiFamily, error: &CpiError) {
    CPI.errors
        .get_or_create(&ErrorLabels {
            tenant: tenant.to_string(),
            api: api_label(family),
            kind: error.kind(),
        })
        .inc();
}

/// Add the CPI families to a registry (the daemons that call tenants: the ingest worker, and the
/// web for connection tests).
pub fn register(registry: &mut Registry) {
    registry.register(
        "integramon_cpi_requests",
        "HTTP requests sent to a tenant's CPI API (retries included, token requests not), by \
         tenant and API family",
        CPI.calls.clone(),
    );
    registry.register(
        "integramon_cpi_errors",
        "CPI API tries that failed, by tenant, API family and error kind",
        CPI.errors.clone(),
    );
}
