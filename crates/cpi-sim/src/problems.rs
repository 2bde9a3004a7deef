//! Error texts from realistic CPI problem families. Each failed message of an iFlow has one of
//! the iFlow's four typical problems (the first most often); the text carries that problem's
//! variable parts (message ids, business ids, URLs with ids, dates, IPs, XPath indexes…) drawn
//! from the message's own hash, so the same message always says the same thing. The family is
//! the ground truth (`TruthMessage::error_family`): tests measure grouping quality against it.

use serde::Serialize;

use crate::generate::mix64;

/// A kind of problem. Two messages of one family and one iFlow are "the same problem"; any
/// two families are different problems (even `Http401` and `Http500`, which call the same
/// endpoint and differ only in the status code and body).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorFamily {
    Http401,
    Http500,
    ODataBadRequest,
    MappingMissingElement,
    SaxParse,
    GroovyScript,
    IdocPosting,
    SftpNoSuchFile,
    JmsQueueFull,
    DataStoreDuplicate,
    ConnectTimeout,
    SecureStoreCredentials,
    Http404,
    ReadTimeout,
}

impl ErrorFamily {
    /// In this order: an iFlow's four families are consecutive, so the HTTP receiver families
    /// share iFlows (a 401 and a 500 from the same endpoint).
    pub const ALL: [ErrorFamily; 14] = [
        Self::Http401,
        Self::Http500,
        Self::ODataBadRequest,
        Self::MappingMissingElement,
        Self::SaxParse,
        Self::GroovyScript,
        Self::IdocPosting,
        Self::SftpNoSuchFile,
        Self::JmsQueueFull,
        Self::DataStoreDuplicate,
        Self::ConnectTimeout,
        Self::SecureStoreCredentials,
        Self::Http404,
        Self::ReadTimeout,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Http401 => "http_401",
            Self::Http500 => "http_500",
            Self::ODataBadRequest => "odata_bad_request",
            Self::MappingMissingElement => "mapping_missing_element",
            Self::SaxParse => "sax_parse",
            Self::GroovyScript => "groovy_script",
            Self::IdocPosting => "idoc_posting",
            Self::SftpNoSuchFile => "sftp_no_such_file",
            Self::JmsQueueFull => "jms_queue_full",
            Self::DataStoreDuplicate => "data_store_duplicate",
            Self::ConnectTimeout => "connect_timeout",
            Self::SecureStoreCredentials => "secure_store_credentials",
            Self::Http404 => "http_404",
            Self::ReadTimeout => "read_timeout",
        }
    }
}

/// Families per iFlow.
pub const FAMILIES_PER_IFLOW: usize = 4;

/// The family of a failed message of iFlow number `iflow`, from the message's hash `h`:
/// the iFlow's first family half of the time, then 30 %, 10 %, 10 %.
pub fn family(iflow: u32, h: u64) -> ErrorFamily {
    let first = (iflow as usize * 3) % ErrorFamily::ALL.len();
    let pick = match h % 10 {
        0..=4 => 0,
        5..=7 => 1,
        8 => 2,
        _ => 3,
    };
    ErrorFamily::ALL[(first + pick) % ErrorFamily::ALL.len()]
}

/// What a message's error text is made from.
pub struct Occurrence<'a> {
    /// Index of the iFlow in the catalog (hosts, queues and partners depend on it).
    pub iflow: u32,
    /// The message's own id (CPI texts often quote it).
    pub message_guid: &'a str,
    /// LogStart, epoch ms (dates in the text are around it).
    pub start_ms: i64,
    /// The message's detail hash: every variable part is drawn from it.
    pub hash: u64,
}

/// Variable parts drawn one after another from the message's hash.
struct Draw {
    h: u64,
    k: u64,
}

impl Draw {
    fn next(&mut self) -> u64 {
        self.k += 1;
        mix64(self.h ^ self.k.wrapping_mul(0x9e37_79b9_7f4a_7c15))
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn uuid(&mut self) -> String {
        let (a, b) = (self.next(), self.next());
        format!(
            "{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            b >> 52,
            b & 0xffff_ffff_ffff
        )
    }
}

fn iso(ms: i64) -> String {
    crate::clock::ms_to_datetime(ms)
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

fn rfc822(ms: i64) -> String {
    crate::clock::ms_to_datetime(ms)
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string()
}

fn java_date(ms: i64) -> String {
    crate::clock::ms_to_datetime(ms)
        .format("%a %b %d %H:%M:%S UTC %Y")
        .to_string()
}

const HTTP_STACK: &str = "\tat com.sap.it.rt.adapter.http.common.HttpResponseHandler.handleResponse(HttpResponseHandler.java:135)\n\
    \tat com.sap.it.rt.adapter.http.producer.HttpProducer.process(HttpProducer.java:248)\n\
    \tat org.apache.camel.processor.SendProcessor.process(SendProcessor.java:172)";

/// A constant style sheet that makes the 500 page longer than the few KB normalisation reads.
fn error_page_filler() -> String {
    let mut s = String::with_capacity(5200);
    for k in 0..60 {
        s.push_str(&format!(
            ".gateway-error-{k} {{ margin: 0 auto; padding: 8px; font-family: Arial, sans-serif; color: #333; }}\n"
        ));
    }
    s
}

/// The error text of one failed message of `family`.
pub fn error_text(family: ErrorFamily, o: &Occurrence<'_>) -> String {
    let mut d = Draw { h: o.hash, k: 0 };
    let host = format!("erp{}.example.com", o.iflow % 5 + 1);
    let guid = o.message_guid;
    let at = o.start_ms + d.below(5_000) as i64;
    match family {
        ErrorFamily::Http401 | ErrorFamily::Http500 => {
            let (status, body) = if family == ErrorFamily::Http401 {
                (
                    401,
                    format!(
                        "{{\"error\":{{\"code\":\"UNAUTHORIZED\",\"message\":\"Token expired at {}\",\"request_id\":\"{}\"}}}}",
                        iso(at - 1000 * d.below(3600) as i64),
                        d.uuid()
                    ),
                )
            } else {
                (
                    500,
                    format!(
                        "<html><head><title>Error 500</title></head><body><h1>Internal Server Error</h1><p>Request {} on node app-{} failed at {}</p><style>{}</style></body></html>",
                        d.uuid(),
                        d.below(500),
                        rfc822(at),
                        error_page_filler()
                    ),
                )
            };
            format!(
                "com.sap.it.rt.adapter.http.api.exception.HttpResponseException: An internal server error occured: HTTP operation failed invoking https://{host}/sap/opu/odata/sap/API_SALES_ORDER_SRV/A_SalesOrder('45{:08}')/to_Item?sap-client=100&$top={} with statusCode: {status}\n\
                 The MPL ID for the failed message is : {guid}\n\
                 The HTTP Response Body: {body}\n{HTTP_STACK}",
                d.below(100_000_000),
                d.below(200) + 1
            )
        }
        ErrorFamily::Http404 => format!(
            "org.apache.camel.component.ahc.AhcOperationFailedException: HTTP operation failed invoking https://{host}/api/v2/customers/C{:06}/addresses/{} with statusCode: 404, cause: Customer C{:06} has no address {} (trace {:032x})\n{HTTP_STACK}",
            d.below(1_000_000),
            d.below(90) + 1,
            d.below(1_000_000),
            d.below(90) + 1,
            u128::from(d.next()) << 64 | u128::from(d.next())
        ),
        ErrorFamily::ODataBadRequest => format!(
            "com.sap.gateway.core.ip.component.odata.exception.OsciException: Bad Request : 400 : HTTP/1.1 , cause: com.sap.gateway.core.ip.component.odata.exception.OsciException: Property 'SoldToParty' has invalid value '{:07}' in A_SalesOrder(SalesOrder='{}') at offset {}\n\
             \tat com.sap.gateway.core.ip.component.odata.OdataProducer.process(OdataProducer.java:311)",
            d.below(10_000_000),
            d.below(100_000_000) + 1,
            d.below(4000)
        ),
        ErrorFamily::MappingMissingElement => {
            let item = d.below(40) + 1;
            let line = d.below(9) + 1;
            let cause = format!(
                "com.sap.aii.mappingtool.tf7.IllegalInstanceException: Cannot create target element /ns0:SalesOrderReplicate/SalesOrder[{line}]/Item[{item}]/Material. Values missing in queue context. Target XSD requires a value for this element, but the target-field mapping does not create one. Check whether the XML instance is valid for the source XSD, and whether the target-field mapping fulfils the requirement of the target XSD"
            );
            // Camel repeats the cause a varying number of times: the chain must collapse.
            let mut text = format!("com.sap.xi.mapping.camel.XiMappingException: {cause}");
            for _ in 0..=d.below(3) {
                text.push_str(", cause: ");
                text.push_str(&cause);
            }
            text
        }
        ErrorFamily::SaxParse => format!(
            "org.apache.camel.CamelExchangeException: Error during type conversion from type: java.lang.String to the required type: org.w3c.dom.Document with value <Order id=\"{}\"> due to org.xml.sax.SAXParseException; lineNumber: {}; columnNumber: {}; XML document structures must start and end within the same entity.",
            d.below(100_000),
            d.below(50) + 1,
            d.below(400) + 10
        ),
        ErrorFamily::GroovyScript => {
            let year = crate::clock::ms_to_datetime(at).format("%Y").to_string();
            format!(
                "javax.script.ScriptException: java.lang.IllegalStateException: Business partner BP{} is blocked for sales area {}/{:02}/00; order ORD-{year}-{:06} rejected\n\
                 \tat ValidatePartner.processData(ValidatePartner.groovy:42)\n\
                 \tat com.sap.gateway.ip.core.customdev.processor.IGWScriptProcessor.process(IGWScriptProcessor.groovy:161)",
                d.below(9_000_000) + 1_000_000,
                [1000, 1010, 2000][d.below(3) as usize],
                d.below(20) + 10,
                d.below(1_000_000)
            )
        }
        ErrorFamily::IdocPosting => format!(
            "com.sap.it.rt.adapter.idoc.IDocException: IDoc {:016} (basic type ORDERS05, message type ORDERS) could not be posted to logical system S4HCLNT100: EDI: partner profile LS SIM_PARTNER_{} inbound not maintained (status 56 at {})",
            d.below(10_000_000_000_000_000),
            o.iflow % 3 + 1,
            java_date(at)
        ),
        ErrorFamily::SftpNoSuchFile => {
            let day = crate::clock::ms_to_datetime(at)
                .format("%Y-%m-%d")
                .to_string();
            format!(
                "com.jcraft.jsch.SftpException: No such file, cause: cannot change directory to /outbound/{}/{day}/batch_{}: 2: No such file (sftp.partner{}.example.com:22, user {})",
                ["orders", "invoices", "deliveries"][(o.iflow % 3) as usize],
                d.below(500) + 1,
                o.iflow % 4 + 1,
                ["cpi_out", "sapcpi"][(o.iflow % 2) as usize]
            )
        }
        ErrorFamily::JmsQueueFull => format!(
            "com.sap.it.rt.adapter.jms.JmsException: Could not send message {guid} to queue 'JMS_{}': the queue is full ({} messages, {} MB of 95 MB used); alert sent to integration.ops{}@example.com",
            o.iflow,
            d.below(90_000) + 10_000,
            d.below(15) + 80,
            d.below(3) + 1
        ),
        ErrorFamily::DataStoreDuplicate => format!(
            "com.sap.it.api.asdk.datastore.DataStoreException: Entry 'ORD-{:07}' already exists in data store 'OrderStore' (created {} by message {})",
            d.below(10_000_000),
            iso(at - 60_000 * d.below(10_000) as i64),
            guid
        ),
        ErrorFamily::ConnectTimeout => format!(
            "java.net.SocketTimeoutException: connect timed out to 10.{}.{}.{}:{} after {} ms, cause: java.net.SocketTimeoutException: connect timed out",
            d.below(256),
            d.below(256),
            d.below(254) + 1,
            [8443, 443, 50001][(o.iflow % 3) as usize],
            [10_000, 30_000, 60_000][d.below(3) as usize]
        ),
        ErrorFamily::SecureStoreCredentials => format!(
            "com.sap.it.api.securestore.exception.SecureStoreException: Secure Parameter not available: No credentials for 'receiver_{}' found (requested {} by {})",
            o.iflow,
            java_date(at),
            d.uuid()
        ),
        ErrorFamily::ReadTimeout => format!(
            "java.net.SocketTimeoutException: Read timed out, cause: connection to https://{host}:443 idle for {} ms (request {})\n\
             \tat java.base/sun.nio.ch.NioSocketImpl.timedRead(NioSocketImpl.java:288)\n\
             \tat org.apache.http.impl.io.SessionInputBufferImpl.fillBuffer(SessionInputBufferImpl.java:153)",
            d.below(60_000) + 1000,
            d.uuid()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_iflow_has_four_consecutive_families() {
        for iflow in 0..20u32 {
            let mut seen: Vec<ErrorFamily> = (0..200u64).map(|h| family(iflow, h)).collect();
            seen.sort();
            seen.dedup();
            assert_eq!(seen.len(), FAMILIES_PER_IFLOW, "iflow {iflow}: {seen:?}");
        }
        // iFlow 0 calls one endpoint that answers both 401 and 500.
        let f0: Vec<ErrorFamily> = (0..10u64).map(|h| family(0, h)).collect();
        assert!(f0.contains(&ErrorFamily::Http401) && f0.contains(&ErrorFamily::Http500));
    }

    #[test]
    fn texts_vary_within_a_family_and_say_exception() {
        for f in ErrorFamily::ALL {
            let text = |h| {
                error_text(
                    f,
                    &Occurrence {
                        iflow: 3,
                        message_guid: "AGdZ3hV0h8nK2YqM1pQwErTyUiOp",
                        start_ms: 1_765_000_000_000,
                        hash: h,
                    },
                )
            };
            assert!(text(1).contains("Exception"), "{f:?}");
            assert_ne!(text(1), text(2), "{f:?} has no variable part");
            assert_eq!(text(1), text(1));
        }
    }
}
