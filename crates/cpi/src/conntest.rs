//! The connection test run when a user adds or edits a tenant: one call per feature, each
//! reported in words the user can act on (which setting or role to fix).

use std::fmt;
use std::time::{Duration, Instant};

use crate::client::CpiClient;
use crate::config::{Auth, TenantConfig};
use crate::download::Collected;
use crate::error::{BadResponseKind, CpiError};
use crate::limits::ApiFamily;
use crate::model::{IntegrationPackage, IntegrationRuntimeArtifact, MessageProcessingLog};
use crate::retry::RetryPolicy;

/// What a check covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Check {
    /// OAuth token from the token URL (skipped for Basic auth).
    Credentials,
    MessageProcessingLogs,
    Payloads,
    RuntimeArtifacts,
    IntegrationPackages,
    Keystore,
}

impl Check {
    pub fn label(self) -> &'static str {
        match self {
            Self::Credentials => "Credentials",
            Self::MessageProcessingLogs => "Message processing logs",
            Self::Payloads => "Message payloads",
            Self::RuntimeArtifacts => "Deployed artifacts",
            Self::IntegrationPackages => "Integration packages",
            Self::Keystore => "Keystore",
        }
    }
}

#[derive(Debug, Clone)]
pub enum CheckOutcome {
    Ok(String),
    Failed { error: CpiError, advice: String },
    Skipped(String),
}

#[derive(Debug, Clone)]
pub struct CheckResult {
    pub check: Check,
    /// The call made, e.g. `GET /MessageProcessingLogs?$top=1`.
    pub call: String,
    pub outcome: CheckOutcome,
    pub elapsed: Duration,
}

#[derive(Debug, Clone)]
pub struct ConnectionReport {
    pub checks: Vec<CheckResult>,
}

impl ConnectionReport {
    /// No check failed (skipped ones allowed).
    pub fn all_ok(&self) -> bool {
        !self
            .checks
            .iter()
            .any(|c| matches!(c.outcome, CheckOutcome::Failed { .. }))
    }

    pub fn get(&self, check: Check) -> Option<&CheckResult> {
        self.checks.iter().find(|c| c.check == check)
    }
}

impl fmt::Display for ConnectionReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in &self.checks {
            let (mark, text) = match &c.outcome {
                CheckOutcome::Ok(t) => ("OK", t.clone()),
                CheckOutcome::Skipped(t) => ("SKIPPED", t.clone()),
                CheckOutcome::Failed { advice, .. } => ("FAILED", advice.clone()),
            };
            writeln!(f, "{mark:8} {}: {text} ({})", c.check.label(), c.call)?;
        }
        Ok(())
    }
}

/// What the user should do about an error, in plain words.
pub fn advice(err: &CpiError) -> String {
    match err {
        CpiError::Config(m) => format!("The tenant settings are invalid: {m}."),
        CpiError::Dns { .. } => "The host name could not be resolved (DNS). Check the host in the API URL (the service key's \"url\") and this server's DNS.".into(),
        CpiError::Tls { .. } => "The TLS connection failed: the server certificate is not trusted or the handshake was refused. If the tenant is behind a proxy with its own CA, add that CA certificate (PEM); turn verification off only for tests.".into(),
        CpiError::Connect { .. } => "Could not connect to the host. Check the URL and port, and any firewall or proxy between IntegraMon and the tenant.".into(),
        CpiError::Transport { .. } => "The connection broke while the answer was being read. Try again; if it persists, check proxies between IntegraMon and the tenant.".into(),
        CpiError::Timeout { after, .. } => format!("No answer within {} s. The tenant may be overloaded or the network slow; try again or raise the request timeout.", after.as_secs()),
        CpiError::Unauthorized { detail, .. } => {
            let mut s = "401 Unauthorized: the credentials were rejected. Check the user and password, or the service key's clientid/clientsecret (a key of the Process Integration Runtime, plan \"api\", for this tenant).".to_string();
            if let Some(d) = detail {
                s.push_str(&format!(" ({d})"));
            }
            s
        }
        CpiError::Forbidden { role, family, .. } => format!(
            "403 Forbidden: the credentials work but lack the role {role}, needed for {family} data. Assign the role template {role} to the user or to the service instance/key."
        ),
        CpiError::NotFound { .. } => "404 Not Found: the path does not exist. Check that the API URL is the tenant's API host (the service key's \"url\"), with /api/v1, and not the web UI host.".into(),
        CpiError::Throttled { .. } => "429 Too Many Requests: the tenant is throttling API calls. Try again later; IntegraMon slows down by itself while polling.".into(),
        CpiError::Server { status, .. } => format!("The tenant answered with server error {status}. Try again later; if it persists, check the tenant's health in SAP BTP."),
        CpiError::Http { status: 405, .. } => "405: this API is not part of the tenant's service plan.".into(),
        CpiError::Http { status, detail, .. } => format!(
            "The tenant refused the request with HTTP {status}{}.",
            detail.as_deref().map(|d| format!(": {d}")).unwrap_or_default()
        ),
        CpiError::BadResponse { kind: BadResponseKind::HtmlPage, .. } => "The server answered with an HTML page (usually a login page) instead of JSON: the URL points to the web UI, or the credentials are not accepted for the API. Use the API URL from the service key.".into(),
        CpiError::BadResponse { kind: BadResponseKind::Xml, .. } => "The server answered with XML instead of JSON: a proxy may be dropping the Accept header, or the URL is not the CPI OData API.".into(),
        CpiError::BadResponse { kind, .. } => format!("The server's answer could not be used ({kind}). Check that the URL is the CPI OData API (…/api/v1)."),
        CpiError::TooLarge { limit, .. } => format!("The answer was larger than {limit} bytes."),
        CpiError::Write { detail, .. } => format!("Could not store the downloaded data: {detail}."),
        CpiError::Refused { detail, .. } if detail.contains(crate::outbound::REDIRECT_MARKER) => "The server redirected to another host, which IntegraMon does not follow (credentials and answers stay with the configured host). Use the final API URL itself.".into(),
        CpiError::Refused { .. } => "The target is a private, loopback or link-local address, and this installation refuses those (OUTBOUND_DENY_PRIVATE=true). Use the tenant's public API host, or ask the operator.".into(),
    }
}

fn failed(err: CpiError) -> CheckOutcome {
    let advice = advice(&err);
    CheckOutcome::Failed { error: err, advice }
}

/// Recent messages whose store entries are looked at for a payload to test.
const PAYLOAD_CANDIDATES: usize = 5;

impl CpiClient {
    /// Runs every call a tenant needs and reports each one. Uses at most two tries per call so
    /// the user gets an answer quickly.
    pub async fn test_connection(&self) -> ConnectionReport {
        let quick_config = TenantConfig {
            retry: RetryPolicy {
                max_attempts: 2,
                base_delay: Duration::from_millis(300),
                max_delay: Duration::from_secs(5),
            },
            ..self.config().clone()
        };
        let quick = CpiClient::new(quick_config).unwrap_or_else(|_| self.clone());
        quick.run_connection_test().await
    }

    async fn run_connection_test(&self) -> ConnectionReport {
        let mut checks = Vec::new();

        // 1. Credentials: for OAuth, the token request alone tells "wrong key" from the rest.
        let auth_ok = match &self.config().auth {
            Auth::Basic { .. } => {
                checks.push(CheckResult {
                    check: Check::Credentials,
                    call: "Basic authentication".into(),
                    outcome: CheckOutcome::Skipped(
                        "checked by the calls below (Basic authentication)".into(),
                    ),
                    elapsed: Duration::ZERO,
                });
                true
            }
            Auth::OAuth2ClientCredentials { token_url, .. } => {
                let started = Instant::now();
                let r = self.check_credentials().await;
                let ok = r.is_ok();
                checks.push(CheckResult {
                    check: Check::Credentials,
                    call: format!("POST {token_url} (client credentials)"),
                    outcome: match r {
                        Ok(()) => CheckOutcome::Ok("token received".into()),
                        Err(e) => failed(e),
                    },
                    elapsed: started.elapsed(),
                });
                ok
            }
        };
        let skip_all = |checks: &mut Vec<CheckResult>, reason: &str| {
            for check in [
                Check::MessageProcessingLogs,
                Check::Payloads,
                Check::RuntimeArtifacts,
                Check::IntegrationPackages,
                Check::Keystore,
            ] {
                checks.push(CheckResult {
                    check,
                    call: String::new(),
                    outcome: CheckOutcome::Skipped(reason.to_string()),
                    elapsed: Duration::ZERO,
                });
            }
        };
        if !auth_ok {
            skip_all(&mut checks, "no token, so the API was not called");
            return ConnectionReport { checks };
        }

        // 2. MPL read.
        let started = Instant::now();
        let params = [
            ("$top", "1".to_string()),
            ("$inlinecount", "allpages".to_string()),
            ("$orderby", "LogEnd desc".to_string()),
            ("$select", "MessageGuid,LogEnd,Status".to_string()),
        ];
        let call = "GET /MessageProcessingLogs?$top=1&$inlinecount=allpages".to_string();
        let mpl_result = match self.url("MessageProcessingLogs", &params) {
            Ok(url) => {
                self.get_collection::<MessageProcessingLog>(ApiFamily::MessageProcessingLogs, &url)
                    .await
            }
            Err(e) => Err(e),
        };
        let mpl_ok = mpl_result.is_ok();
        let transport_down = matches!(
            mpl_result,
            Err(CpiError::Dns { .. } | CpiError::Tls { .. } | CpiError::Connect { .. })
        );
        checks.push(CheckResult {
            check: Check::MessageProcessingLogs,
            call,
            outcome: match mpl_result {
                Ok(page) => CheckOutcome::Ok(match page.count {
                    Some(n) => format!("readable; {n} messages in the tenant's log"),
                    None => format!("readable; {} message(s) returned", page.results.len()),
                }),
                Err(e) => failed(e),
            },
            elapsed: started.elapsed(),
        });
        if transport_down {
            // The host is unreachable: every other call would fail the same way.
            let reason = "the tenant could not be reached (see above)";
            for check in [
                Check::Payloads,
                Check::RuntimeArtifacts,
                Check::IntegrationPackages,
                Check::Keystore,
            ] {
                checks.push(CheckResult {
                    check,
                    call: String::new(),
                    outcome: CheckOutcome::Skipped(reason.into()),
                    elapsed: Duration::ZERO,
                });
            }
            return ConnectionReport { checks };
        }

        // 3. Payload read: a persisted payload of a recent message.
        let started = Instant::now();
        let (call, outcome) = if mpl_ok {
            self.check_payload().await
        } else {
            (
                "GET /MessageStoreEntries('…')/$value".to_string(),
                CheckOutcome::Skipped("needs the message list, which failed".into()),
            )
        };
        checks.push(CheckResult {
            check: Check::Payloads,
            call,
            outcome,
            elapsed: started.elapsed(),
        });

        // 4. Runtime artifacts.
        let started = Instant::now();
        let r = match self.url(
            "IntegrationRuntimeArtifacts",
            &[
                ("$top", "1".to_string()),
                ("$inlinecount", "allpages".to_string()),
            ],
        ) {
            Ok(url) => {
                self.get_collection::<IntegrationRuntimeArtifact>(ApiFamily::RuntimeArtifacts, &url)
                    .await
            }
            Err(e) => Err(e),
        };
        checks.push(CheckResult {
            check: Check::RuntimeArtifacts,
            call: "GET /IntegrationRuntimeArtifacts?$top=1&$inlinecount=allpages".into(),
            outcome: match r {
                Ok(page) => CheckOutcome::Ok(match page.count {
                    Some(n) => format!("readable; {n} deployed artifacts"),
                    None => format!("readable; {} artifact(s) returned", page.results.len()),
                }),
                Err(e) => failed(e),
            },
            elapsed: started.elapsed(),
        });

        // 5. Packages (design-time).
        let started = Instant::now();
        let r = match self.url("IntegrationPackages", &[("$top", "1".to_string())]) {
            Ok(url) => {
                self.get_collection::<IntegrationPackage>(ApiFamily::DesigntimeArtifacts, &url)
                    .await
            }
            Err(e) => Err(e),
        };
        checks.push(CheckResult {
            check: Check::IntegrationPackages,
            call: "GET /IntegrationPackages?$top=1".into(),
            outcome: match r {
                Ok(page) => CheckOutcome::Ok(format!(
                    "readable; {} package(s) returned",
                    page.results.len()
                )),
                Err(e) => failed(e),
            },
            elapsed: started.elapsed(),
        });

        // 6. Keystore.
        let started = Instant::now();
        let r = self.keystore_entries(None).await;
        checks.push(CheckResult {
            check: Check::Keystore,
            call: "GET /KeystoreEntries".into(),
            outcome: match r {
                Ok(entries) => CheckOutcome::Ok(format!("readable; {} entries", entries.len())),
                Err(e) => failed(e),
            },
            elapsed: started.elapsed(),
        });

        ConnectionReport { checks }
    }

    async fn check_payload(&self) -> (String, CheckOutcome) {
        let list_call = "GET /MessageProcessingLogs('…')/MessageStoreEntries".to_string();
        let params = [
            ("$top", PAYLOAD_CANDIDATES.to_string()),
            ("$orderby", "LogEnd desc".to_string()),
            ("$select", "MessageGuid".to_string()),
        ];
        let recent = match self.url("MessageProcessingLogs", &params) {
            Ok(url) => {
                self.get_collection::<MessageProcessingLog>(ApiFamily::MessageProcessingLogs, &url)
                    .await
            }
            Err(e) => Err(e),
        };
        let recent = match recent {
            Ok(page) => page.results,
            Err(e) => return (list_call, failed(e)),
        };
        for mpl in &recent {
            let entries = match self.mpl_message_store_entries(&mpl.message_guid).await {
                Ok(e) => e,
                Err(e) => return (list_call, failed(e)),
            };
            let Some(entry) = entries.first() else {
                continue;
            };
            let call = "GET /MessageStoreEntries('…')/$value".to_string();
            return match self.collect_message_store_entry(&entry.id, 4096).await {
                Ok(Collected::Complete { data, .. }) => (
                    call,
                    CheckOutcome::Ok(format!(
                        "readable; payload of message {} ({} bytes)",
                        mpl.message_guid,
                        data.len()
                    )),
                ),
                Ok(Collected::TooLarge { .. }) => (
                    call,
                    CheckOutcome::Ok(format!(
                        "readable; payload of message {} (larger than 4 KiB, not downloaded)",
                        mpl.message_guid
                    )),
                ),
                Err(e) => (call, failed(e)),
            };
        }
        (
            list_call,
            CheckOutcome::Skipped(format!(
                "no payload to test: none of the {} most recent messages has a persisted payload",
                recent.len()
            )),
        )
    }
}
