//! Every page in a real headless Chromium, at a desktop (1440×900) and a phone (390×844)
//! viewport, against `integramon up` with its simulated demo tenant: no console error and no
//! Content-Security-Policy violation on any page, no page wider than the phone's screen, and a
//! screenshot of each (`target/screenshots/browser_every_page_…/`). Also what issue 17 found in
//! a browser: Apply keeps a relative range live, statuses are a multi-select, the back button
//! after signing out does not show a signed-in page, and at 1440 px no table of the users (edit
//! panel open), jobs (counters) and artifacts (a long package name) pages is clipped.

use std::time::{Duration, Instant};

use integramon_tests::Browser;
use integramon_tests::collect::Database;
use integramon_tests::web::{ADMIN, ADMIN_PASSWORD, Web};

const WAIT: Duration = Duration::from_secs(15);

/// The viewports every page is checked and photographed at.
const VIEWPORTS: [(&str, u32, u32, bool); 2] =
    [("desktop", 1440, 900, false), ("phone", 390, 844, true)];

/// Pages answered with an error status on purpose (422, 404).
const EXPECTED_ERRORS: [&str; 2] = ["messages-invalid-filter", "not-found"];

fn sign_in(b: &Browser, web: &Web) {
    b.goto(&format!("{}/login", web.url));
    b.fill("#username", ADMIN);
    b.fill("#password", ADMIN_PASSWORD);
    b.click("#sign-in");
    b.wait_for("#logout", WAIT);
}

/// Reload `url` until `css` is on the page.
fn reload_until(b: &Browser, url: &str, css: &str, secs: u64) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        b.goto(url);
        if b.exists(css) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{css} did not appear on {url} within {secs} s"
        );
        std::thread::sleep(Duration::from_secs(2));
    }
}

/// Tables cut by their box (wider than the box that scrolls or hides them), by id or class.
/// Before checking: every users edit panel open, and a long unbroken package name in the
/// artifacts table (the demo tenant's names are short).
fn clipped_tables(b: &Browser) -> Vec<String> {
    b.eval(
        "document.querySelectorAll('#users details').forEach(d => { d.open = true; });          const pkg = document.querySelector('td.pkg');          if (pkg) { pkg.textContent = 'com.example.integration.'.repeat(8) + 'OrderToCashReplication'; }",
    );
    let v = b.eval(
        "const out = [];          document.querySelectorAll('table').forEach(t => {            let box = t.parentElement;            while (box && box !== document.body) {              const o = getComputedStyle(box).overflowX;              if (o === 'auto' || o === 'scroll' || o === 'hidden') break;              box = box.parentElement; }            const own = getComputedStyle(t).overflowX;            const cut = (own === 'auto' || own === 'scroll' || own === 'hidden') ? t.scrollWidth - t.clientWidth              : t.getBoundingClientRect().right - (box || document.body).getBoundingClientRect().right;            const vw = document.documentElement.clientWidth;            const past = t.getBoundingClientRect().right - vw;            if (cut > 1 || past > 1) { out.push((t.id || t.className || 'table') + ': ' + Math.round(Math.max(cut, past)) + ' px'); } });          return out;",
    );
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// How much wider than the viewport the page is (0 when it fits), and the widest offender.
fn overflow(b: &Browser) -> (i64, String) {
    let v = b.eval(
        "const vw = document.documentElement.clientWidth; \
         const over = document.documentElement.scrollWidth - vw; \
         let worst = ''; let most = 0; \
         const scrolls = el => { for (let p = el.parentElement; p; p = p.parentElement) { \
             const o = getComputedStyle(p).overflowX; if (o === 'auto' || o === 'scroll' || o === 'hidden') return true; } \
           return false; }; \
         document.querySelectorAll('body *').forEach(el => { \
           if (scrolls(el)) return; \
           const r = el.getBoundingClientRect(); \
           if (r.right - vw > most) { most = r.right - vw; \
             worst = el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + \
               (el.className && el.className.baseVal === undefined ? '.' + el.className : ''); } }); \
         return [over, worst];",
    );
    (
        v[0].as_i64().unwrap_or(0),
        v[1].as_str().unwrap_or("").to_string(),
    )
}

#[test]
fn browser_every_page_fits_its_screen_without_console_errors() {
    let web = Web::up(Database::sqlite(), &[("DEMO", "true")]);
    let b = Browser::start();
    sign_in(&b, &web);
    reload_until(
        &b,
        &format!("{}/messages?range=24h", web.url),
        "#messages tbody tr",
        240,
    );
    let api = web.admin_token();
    let (_, tenants) = api.get_json("/api/tenants");
    let tenant = tenants[0]["id"].as_i64().expect("the demo tenant");
    let (_, list) = api.get_json("/api/messages?range=24h&limit=1&facets=false");
    let message = list["items"][0]["id"].as_i64().expect("a message");
    let guid = list["items"][0]["message_guid"]
        .as_str()
        .expect("its MessageGuid")
        .to_string();

    // Bug: Apply froze `range=24h` into `from=…&to=…`, so auto-refresh never showed new messages.
    b.goto(&format!("{}/messages?range=24h", web.url));
    b.eval("document.querySelector('#f-status input[value=COMPLETED]').checked = true;");
    b.click("#apply-filters");
    let url = b.wait_for_url("status=COMPLETED", WAIT);
    assert!(url.contains("range=24h"), "{url}");
    assert!(!url.contains("from=") && !url.contains("to="), "{url}");
    // Several statuses at once: both go in the address, the list holds only them.
    b.eval("document.querySelector('#f-status input[value=FAILED]').checked = true;");
    b.click("#apply-filters");
    let url = b.wait_for_url("status=COMPLETED&status=FAILED", WAIT);
    assert!(url.contains("range=24h"), "{url}");
    let statuses = b.eval(
        "return Array.from(document.querySelectorAll('#messages tbody tr')).map(r => r.dataset.status);",
    );
    assert!(
        statuses
            .as_array()
            .expect("rows")
            .iter()
            .all(|s| s == "COMPLETED" || s == "FAILED"),
        "{statuses:?}"
    );

    let pages: Vec<(String, String)> = [
        ("overview", "/".to_string()),
        ("messages", "/messages?range=24h".to_string()),
        (
            "messages-invalid-filter",
            "/messages?header_value=x".to_string(),
        ),
        ("message", format!("/messages/{message}")),
        ("message-by-guid", format!("/messages/{guid}")),
        ("artifacts", format!("/artifacts?tenant={tenant}")),
        ("keystore", format!("/keystore?tenant={tenant}")),
        ("jobs", "/jobs".to_string()),
        ("archives", "/archives".to_string()),
        ("storage", "/storage".to_string()),
        ("tenants", "/tenants".to_string()),
        ("tenant-edit", format!("/tenants/{tenant}")),
        ("tenant-new", "/tenants/new".to_string()),
        ("users", "/users".to_string()),
        ("audit", "/audit".to_string()),
        ("account", "/account".to_string()),
        ("not-found", "/no/such/page".to_string()),
    ]
    .into_iter()
    .map(|(n, p)| (n.to_string(), p))
    .collect();

    let mut problems = Vec::new();
    // Whatever the sign-in and the waits above logged is checked too.
    for p in b.console_problems() {
        problems.push(format!("before the walk: {p}"));
    }
    for (screen, width, height, mobile) in VIEWPORTS {
        b.set_viewport(width, height, mobile);
        for (name, path) in &pages {
            b.goto(&format!("{}{path}", web.url));
            b.wait_for("h1", WAIT);
            b.screenshot(&format!("{screen}-{name}"));
            for p in b.console_problems() {
                // An error page reports its own status as a failed load; that is the page
                // under test, not a problem of it.
                let own_status = p.contains("Failed to load resource")
                    && p.contains(&format!("{}{path} ", web.url))
                    && EXPECTED_ERRORS.contains(&name.as_str());
                if !own_status {
                    problems.push(format!("{screen} {path}: {p}"));
                }
            }
            if !mobile && ["users", "jobs", "artifacts"].contains(&name.as_str()) {
                for t in clipped_tables(&b) {
                    problems.push(format!("{screen} {path}: table clipped at {width} px: {t}"));
                }
                let (over, worst) = overflow(&b);
                if over > 0 {
                    problems.push(format!(
                        "{screen} {path}: {over} px wider than {width} px (widest: {worst})"
                    ));
                }
            }
            if mobile {
                if ["users", "artifacts"].contains(&name.as_str()) {
                    // The same content as at 1440 px: it must still fit (tables scroll inside).
                    clipped_tables(&b);
                }
                let (over, worst) = overflow(&b);
                if over > 0 {
                    problems.push(format!(
                        "{screen} {path}: {over} px wider than the {width} px screen (widest: {worst})"
                    ));
                }
            }
        }
    }
    // The sign-in page, signed out; then the back button must not show the signed-in page.
    b.set_viewport(1440, 900, false);
    b.goto(&format!("{}/messages?range=24h", web.url));
    b.wait_for("#logout", WAIT);
    b.click("#logout");
    b.wait_for("#sign-in", WAIT);
    // Back to the signed-in page in the history: the browser must ask the server again (which
    // sends the sign-in page), not show its cached copy.
    let c = b.client();
    b.block_on(c.back()).expect("back");
    std::thread::sleep(Duration::from_secs(1));
    b.wait_for("#sign-in", WAIT);
    assert!(
        !b.exists("#logout"),
        "the back button showed a signed-in page"
    );
    for (screen, width, height, mobile) in VIEWPORTS {
        b.set_viewport(width, height, mobile);
        b.goto(&format!("{}/login", web.url));
        b.wait_for("#sign-in", WAIT);
        b.screenshot(&format!("{screen}-login"));
        if mobile && overflow(&b).0 > 0 {
            problems.push(format!("{screen} /login is wider than the screen"));
        }
    }
    for p in b.console_problems() {
        problems.push(format!("/login: {p}"));
    }
    assert!(
        problems.is_empty(),
        "console errors, CSP violations or overflowing pages:\n{}",
        problems.join("\n")
    );
}
