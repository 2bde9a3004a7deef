//! One example per rule (the ones in docs/errors.md), what is kept, and hostile inputs.

use super::*;

fn t(s: &str) -> String {
    normalise(s).template
}

/// Two texts of one problem normalise to the same template.
fn same(a: &str, b: &str) {
    assert_eq!(t(a), t(b), "\n{a}\n{b}");
}

// ---- replaced -----------------------------------------------------------------------------

#[test]
fn url_keeps_scheme_and_host_and_replaces_port_ids_and_query() {
    assert_eq!(
        t(
            "failed invoking https://ERP.example.com:44300/sap/opu/odata/sap/API_SALES_ORDER_SRV/A_SalesOrder('4500012345')/to_Item?sap-client=100&$top=5#frag now"
        ),
        "failed invoking https://erp.example.com:<port>/sap/opu/odata/sap/API_SALES_ORDER_SRV/A_SalesOrder('<value>')/to_Item?<query> now"
    );
    assert_eq!(
        t("GET http://10.1.2.3/api/v1/orders/12345/items/7."),
        "GET http://<ip>/api/v1/orders/<number>/items/<number>."
    );
}

#[test]
fn url_credentials_never_reach_the_template() {
    let n = t("connect sftp://cpi_user:S3cr3t!@sftp.partner.com:22/out/file.xml failed");
    assert_eq!(
        n,
        "connect sftp://<user>@sftp.partner.com:<port>/out/file.xml failed"
    );
    assert!(!n.contains("S3cr3t"));
}

#[test]
fn email_addresses() {
    assert_eq!(t("sent to jane.doe+ops@example.co.uk."), "sent to <email>.");
    // A Java object reference is not an e-mail address.
    assert_eq!(t("MyBean@5e2de80c"), "MyBean@<hex>");
}

#[test]
fn cpi_message_ids() {
    assert_eq!(
        t("The MPL ID for the failed message is : AGg9kjOD1kaVHGi_Sad5Im2-43ql"),
        "The MPL ID for the failed message is : <message-id>"
    );
    // 28 capitals are a word, not an id.
    assert_eq!(
        t("AGGREGATIONSTRATEGYEXCEPTION"),
        "AGGREGATIONSTRATEGYEXCEPTION"
    );
}

#[test]
fn uuids_and_guids() {
    assert_eq!(
        t("request 123e4567-E89B-12d3-a456-426614174000 failed"),
        "request <uuid> failed"
    );
}

#[test]
fn dates_and_times_in_every_format() {
    assert_eq!(t("at 2026-12-08T09:12:00.123+01:00 ok"), "at <datetime> ok");
    assert_eq!(t("at 2026-12-08 09:12:00 ok"), "at <datetime> ok");
    assert_eq!(t("at 2026-12-08T09:12Z ok"), "at <datetime> ok");
    assert_eq!(t("on 2026-12-08."), "on <date>.");
    assert_eq!(t("at 09:12:00,123 ok"), "at <time> ok");
    assert_eq!(t("on 08.12.2026 ok"), "on <date> ok");
    assert_eq!(t("Date: Tue, 08 Dec 2026 09:12:00 GMT"), "Date: <datetime>");
    assert_eq!(t("at Tue Dec 08 09:12:00 UTC 2026."), "at <datetime>.");
    // Epoch milliseconds are numbers.
    assert_eq!(t("timestamp 1765185120000"), "timestamp <number>");
}

#[test]
fn durations() {
    assert_eq!(t("timed out after 30000 ms"), "timed out after <duration>");
    assert_eq!(
        t("waited 5 minutes, then 30s"),
        "waited <duration>, then <duration>"
    );
    assert_eq!(t("timeout PT30S reached"), "timeout <duration> reached");
    // Not a unit: a number followed by a word.
    assert_eq!(t("3 messages"), "<number> messages");
}

#[test]
fn ip_addresses_and_ports() {
    assert_eq!(
        t("connect timed out to 10.0.3.17:8443"),
        "connect timed out to <ip>:<port>"
    );
    assert_eq!(t("from 192.168.0.1."), "from <ip>.");
    assert_eq!(t("host 2001:db8::8a2e:370:7334 down"), "host <ip> down");
    assert_eq!(t("host fe80::1 down"), "host <ip> down");
    assert_eq!(
        t("host 2001:0db8:85a3:0000:0000:8a2e:0370:7334 down"),
        "host <ip> down"
    );
    // A version with four parts is not an address when a fifth follows.
    assert_eq!(t("v 1.2.3.4.5"), "v <number>");
}

#[test]
fn hex_ids_and_hashes() {
    assert_eq!(t("object 0x7f3A12 freed"), "object <hex> freed");
    assert_eq!(
        t("sha1 da39a3ee5e6b4b0d3255bfef95601890afd80709 md5 d41d8cd98f00b204e9800998ecf8427e"),
        "sha1 <hex> md5 <hex>"
    );
    // A Java object reference is an address whatever its digits happen to be.
    same("MyBean@5e2de80c", "MyBean@12345678");
    assert_eq!(t("MyBean@12345678"), "MyBean@<hex>");
    // A hex-looking word without a digit is a word.
    assert_eq!(t("deadbeefcafe"), "deadbeefcafe");
}

#[test]
fn numbers_of_any_length() {
    assert_eq!(
        t("IDoc 0000000012345678 line 3 amount -12.50"),
        "IDoc <number> line <number> amount -<number>"
    );
}

#[test]
fn business_ids_and_opaque_ids_in_words() {
    assert_eq!(
        t("order PO4500012345 rejected"),
        "order PO<number> rejected"
    );
    assert_eq!(t("order ORD-2026-000123"), "order ORD-<number>-<number>");
    assert_eq!(t("file batch_17.csv"), "file batch_<number>.csv");
    assert_eq!(t("token x7Kp2Q9zL0aB3 expired"), "token <id> expired");
    assert_eq!(
        t("session QmFzZTY0ZW5jb2RlZA1x9 ended"),
        "session <id> ended"
    );
}

#[test]
fn quoted_values() {
    assert_eq!(
        t("Property 'SoldToParty' has invalid value \"0001234\""),
        "Property '<value>' has invalid value \"<value>\""
    );
    // A JSON key is kept; its value is replaced.
    assert_eq!(
        t(r#"{"code":"SY/530","message":"Order locked"}"#),
        r#"{"code":"<value>","message":"<value>"}"#
    );
    // An apostrophe inside a word opens nothing.
    assert_eq!(t("can't find 'x'"), "can't find '<value>'");
    // A long quoted sentence is text: normalised like the rest, not swallowed.
    let long = format!("\"{} 4711\"", "a sentence that goes on ".repeat(4));
    assert_eq!(
        t(&long),
        format!(
            "\"{} <number>\"",
            "a sentence that goes on ".repeat(4).trim_end()
        )
    );
}

#[test]
fn xpath_indexes() {
    assert_eq!(
        t("Cannot create target element /ns0:Order/Item[3]/Material[12]"),
        "Cannot create target element /ns0:Order/Item[<index>]/Material[<index>]"
    );
}

#[test]
fn file_paths_dated_and_numbered_segments() {
    assert_eq!(
        t("No such file /outbound/2026/12/08/ORDERS_000123.xml"),
        "No such file /outbound/<number>/<number>/<number>/ORDERS_<number>.xml"
    );
    assert_eq!(
        t("cannot cd to /in/2026-12-08/batch_7: 2: No such file"),
        "cannot cd to /in/<date>/batch_<number>: <number>: No such file"
    );
}

// ---- kept ---------------------------------------------------------------------------------

#[test]
fn http_status_codes_are_kept_in_every_form() {
    for (text, want) in [
        ("with statusCode: 401", "with statusCode: 401"),
        ("HTTP 404 Not Found", "HTTP 404 Not Found"),
        (
            "Bad Request : 400 : HTTP/1.1 400 Bad Request",
            "Bad Request : 400 : HTTP/1.1 400 Bad Request",
        ),
        ("HTTP Status Code: 503", "HTTP Status Code: 503"),
        ("status=502 from gateway", "status=502 from gateway"),
        ("the server returned 429", "the server returned 429"),
        ("response code \"403\"", "response code \"403\""),
    ] {
        assert_eq!(t(text), want);
    }
    // The same endpoint answering 401 and 500: two templates.
    let a = t(
        "HTTP operation failed invoking https://erp.example.com/api/orders/17 with statusCode: 401",
    );
    let b = t(
        "HTTP operation failed invoking https://erp.example.com/api/orders/18 with statusCode: 500",
    );
    assert_ne!(a, b);
    assert_eq!(a.replace("401", "500"), b);
    // Not a status: out of range, a line number, no keyword.
    assert_eq!(t("statusCode: 999"), "statusCode: <number>");
    assert_eq!(
        t("(HttpResponseHandler.java:135)"),
        "(HttpResponseHandler.java:<number>)"
    );
    assert_eq!(t("found 404 items"), "found <number> items");
}

#[test]
fn class_names_hosts_message_types_and_adapters_are_kept() {
    let text = "com.sap.it.rt.adapter.idoc.IDocException: IDoc (basic type ORDERS05, message type ORDERS, segment E1EDK01) to S4HCLNT100 via the SOAP adapter on erp.example.com in Script1.groovy";
    assert_eq!(t(text), text);
}

// ---- chains, length, title ----------------------------------------------------------------

#[test]
fn repeated_cause_chains_collapse() {
    let one = "X: boom 17";
    let three = "X: boom 17, cause: X: boom 18, cause: X: boom 19";
    same(one, three);
    assert_eq!(t(three), "X: boom <number>");
    // The outer text ending with the inner one.
    assert_eq!(
        t("A: B: boom, cause: B: boom\nCaused by: B: boom"),
        "A: B: boom"
    );
    // Different causes are kept, joined one way.
    assert_eq!(t("A: outer; cause: C: inner"), "A: outer, cause: C: inner");
}

#[test]
fn whitespace_collapses_and_lines_stay() {
    assert_eq!(t("  a \t b\r\n\r\n\tc  \n"), "a b\nc");
}

#[test]
fn only_the_first_few_kb_are_read_and_the_template_cut_stably() {
    // Two texts of one problem whose variable parts differ in length, with a long body:
    // the template is cut at the same place of the normalised text.
    let body = "x ".repeat(5000);
    let a = format!("E: order 1 failed {body}");
    let b = format!("E: order 123456789 failed {body}");
    same(&a, &b);
    assert!(t(&a).len() <= MAX_TEMPLATE_BYTES);
    // Text beyond the input window is not read.
    let far = format!("E: boom {} TAIL", "y".repeat(MAX_INPUT_BYTES));
    assert!(!t(&far).contains("TAIL"));
}

#[test]
fn title_is_the_first_line_with_readable_placeholders() {
    let n = normalise(
        "java.net.ConnectException: Connection refused to 10.0.0.7:443\n\tat a.b.C.d(C.java:12)",
    );
    assert_eq!(
        n.title,
        "java.net.ConnectException: Connection refused to <ip>:<port>"
    );
    assert_eq!(normalise("   \n \u{FFFD}\u{0}").title, EMPTY_TITLE);
}

#[test]
fn a_long_title_drops_url_paths_first_then_is_cut() {
    let path = "/segment".repeat(40);
    let n = normalise(&format!(
        "HttpResponseException: failed invoking https://erp.example.com{path}?a=1 with statusCode: 401"
    ));
    assert_eq!(
        n.title,
        "HttpResponseException: failed invoking https://erp.example.com/… with statusCode: 401"
    );
    let n = normalise(&"word ".repeat(100));
    assert_eq!(n.title.chars().count(), MAX_TITLE_CHARS);
    assert!(n.title.ends_with('…'));
}

// ---- hostile inputs -----------------------------------------------------------------------

#[test]
fn a_one_megabyte_text_is_read_in_its_first_kb() {
    let huge = "A".repeat(1 << 20);
    let n = normalise(&huge);
    assert!(n.template.len() <= MAX_TEMPLATE_BYTES);
    let digits = "9".repeat(1 << 20);
    assert_eq!(normalise(&digits).template, "<number>");
}

#[test]
fn binary_junk_decoded_lossily_is_whitespace() {
    let bytes: Vec<u8> = (0..=255u8).cycle().take(10_000).collect();
    let text = String::from_utf8_lossy(&bytes);
    let n = normalise(&text);
    assert!(!n.template.contains('\u{FFFD}'));
    assert!(!n.template.chars().any(|c| c.is_control() && c != '\n'));
    assert_eq!(n, normalise(&text));
    // Junk between words separates them like a space.
    assert_eq!(t("boom\u{0}\u{7}\u{FFFD}\u{FFFD}failed"), "boom failed");
}

#[test]
fn multibyte_text_is_kept_and_never_split() {
    assert_eq!(
        t("Größe 12 überschritten — 名前 'x'"),
        "Größe <number> überschritten — 名前 '<value>'"
    );
    // Cut inside a multi-byte character at the input window.
    let s = format!("{}é", "a".repeat(MAX_INPUT_BYTES - 1));
    let _ = normalise(&s);
    let s = format!("{}日本", "b ".repeat(MAX_TEMPLATE_BYTES / 2));
    let _ = normalise(&s);
}

#[test]
fn pathological_repetitions_finish_and_stay_linear() {
    // Inputs that make naive scanners rescan: long e-mail-like runs without `@`, unclosed
    // quotes, nested URLs, colons and brackets. The input window bounds the work; the point is
    // that each finishes and gives a stable result.
    for s in [
        "a.".repeat(1 << 18),
        "'".repeat(1 << 18),
        "\"a ".repeat(1 << 17),
        "http://a/".repeat(1 << 16),
        "a://a/b://c/".repeat(1 << 15),
        ":".repeat(1 << 18),
        "1:".repeat(1 << 18),
        "[1".repeat(1 << 18),
        "0x".repeat(1 << 18),
        ", cause: ".repeat(1 << 16),
        "AG".repeat(1 << 18),
        "1.".repeat(1 << 18),
        "P1".repeat(1 << 18),
    ] {
        let n = normalise(&s);
        assert!(n.template.len() <= MAX_TEMPLATE_BYTES, "{}", &s[..20]);
        assert_eq!(n, normalise(&s));
    }
}

#[test]
fn script_tags_are_plain_text_here() {
    // Escaping is the page's job; the normaliser keeps the text as text.
    assert_eq!(
        t("<script>alert(1)</script>"),
        "<script>alert(<number>)</script>"
    );
}

#[test]
fn the_scanner_itself_is_linear_on_large_inputs() {
    // Past the input window (256 KB), straight into the scanner and the chain collapse: a
    // quadratic rescan of any of these would take hours, a linear pass well under a second.
    for s in [
        "a.".repeat(1 << 17),
        "'x ".repeat(1 << 16),
        "a://a/b://c/".repeat(1 << 14),
        "1:2:".repeat(1 << 16),
        "AGg9kjOD1kaVHGi_Sad5Im2-43ql-".repeat(1 << 13),
        "x@".repeat(1 << 17),
        "ab12".repeat(1 << 16),
    ] {
        let out = super::scan::replace_variables(&s);
        assert!(!out.is_empty());
    }
    let chain = "E: boom, cause: ".repeat(1 << 16);
    assert_eq!(super::causes::collapse(chain), "E: boom");
}

#[test]
fn docs_examples_hold() {
    // docs/errors.md's table of rules: each row's example input normalises to its output.
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/errors.md");
    let doc = std::fs::read_to_string(path).expect("docs/errors.md");
    let section = doc
        .split("### The rules, in order")
        .nth(1)
        .expect("the rules section")
        .split("\n#")
        .next()
        .unwrap_or_default();
    let mut rows = 0;
    for line in section.lines() {
        let cells: Vec<&str> = line.split(" | ").collect();
        let numbered = cells
            .first()
            .is_some_and(|c| c.trim_start_matches('|').trim().parse::<u32>().is_ok());
        if !numbered || cells.len() != 4 {
            continue;
        }
        let unquote = |c: &str| {
            c.trim()
                .trim_end_matches('|')
                .trim()
                .trim_matches('`')
                .to_string()
        };
        let (input, output) = (unquote(cells[2]), unquote(cells[3]));
        assert_eq!(t(&input), output, "row: {line}");
        rows += 1;
    }
    assert_eq!(rows, 14, "every rule has its example");
}

#[test]
fn random_texts_of_tricky_fragments_never_panic_and_stay_in_bounds() {
    // A deterministic fuzz: texts glued from fragments that start recognisers and stop them
    // half-way, multi-byte characters, junk and separators.
    const FRAGMENTS: [&str; 40] = [
        "http",
        "://",
        "https://h.example.com:8",
        "/p/",
        "?q=1",
        "#f",
        "@",
        "a.b",
        "AG",
        "g9kjOD1k",
        "-",
        "_",
        "0x",
        "ff",
        "12",
        "2026-12-08",
        "T09:12",
        ":00",
        ".5",
        "Z",
        "+01:00",
        "Tue, ",
        "08 Dec ",
        "10.0.",
        "::",
        "[",
        "]",
        "3",
        "'",
        "\"",
        ":",
        " ",
        "\n",
        ", cause: ",
        "é",
        "日本",
        "\u{FFFD}",
        "\u{0}",
        "PT",
        "ms",
    ];
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for _ in 0..20_000 {
        let len = next() % 40;
        let text: String = (0..len)
            .map(|_| FRAGMENTS[(next() % FRAGMENTS.len() as u64) as usize])
            .collect();
        let n = normalise(&text);
        assert!(n.template.len() <= MAX_TEMPLATE_BYTES, "{text:?}");
        assert!(n.title.chars().count() <= MAX_TITLE_CHARS, "{text:?}");
        assert!(!n.title.is_empty());
        assert_eq!(n, normalise(&text), "{text:?}");
    }
}
