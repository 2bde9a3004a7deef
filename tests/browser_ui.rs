//! The UI in a real headless Chromium against `integramon up` and a simulated tenant: sign in,
//! create a tenant with a passing connection test, see messages arrive, filter by status and by
//! custom header, open a failed message with its error text and payload, see the failures
//! grouped on the Errors page and resolve a group, see masking as a `user`, sign out. Screenshots of the main pages are saved as test artefacts
//! (`target/screenshots/browser_ui/…`).

use std::time::{Duration, Instant};

use integramon_tests::Browser;
use integramon_tests::collect::{Database, SIM_PASSWORD, SIM_USER, Sim, SimOptions};
use integramon_tests::web::{ADMIN, ADMIN_PASSWORD, Web};

const WAIT: Duration = Duration::from_secs(15);

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

fn sign_in(b: &Browser, web: &Web, user: &str, password: &str) {
    b.goto(&format!("{}/login", web.url));
    b.fill("#username", user);
    b.fill("#password", password);
    b.click("#sign-in");
    b.wait_for("#logout", WAIT);
}

#[test]
fn browser_walks_through_the_main_pages() {
    let sim = Sim::start(&SimOptions {
        history: "3h",
        ..SimOptions::default()
    });
    let web = Web::up(
        Database::sqlite(),
        &[("DEMO", "false"), ("WEB_MASK_ROLES", "user")],
    );
    let b = Browser::start();

    sign_in(&b, &web, ADMIN, ADMIN_PASSWORD);
    b.wait_for_text("h1", "Overview", WAIT);
    b.screenshot("01-overview-empty");

    // The wizard: connection test first (inline, without leaving the page), then save.
    b.goto(&format!("{}/tenants/new", web.url));
    b.fill("#name", "Simulated tenant");
    b.fill("#api_url", &sim.base_url());
    b.fill("#username", SIM_USER);
    b.fill("#password", SIM_PASSWORD);
    b.click("#test-connection");
    b.wait_for_text(
        "#conn-results",
        "Connection test passed",
        Duration::from_secs(60),
    );
    b.screenshot("02-tenant-wizard-tested");
    b.click("#save-tenant");
    b.wait_for_url("saved=1", WAIT);
    b.wait_for("#tenant-form", WAIT);

    // Messages arrive within a minute or two (the controller schedules the first runs).
    reload_until(
        &b,
        &format!("{}/messages?range=24h", web.url),
        "#messages tbody tr",
        180,
    );
    b.screenshot("03-messages");

    // Filter by status through the form.
    b.eval("document.querySelector('#f-status input[value=FAILED]').checked = true;");
    b.click("#apply-filters");
    b.wait_for_url("status=FAILED", WAIT);
    b.wait_for("#messages tbody tr", WAIT);
    let statuses = b.eval(
        "return Array.from(document.querySelectorAll('#messages tbody tr')).map(r => r.dataset.status);",
    );
    let statuses = statuses.as_array().expect("rows");
    assert!(!statuses.is_empty());
    assert!(statuses.iter().all(|s| s == "FAILED"), "{statuses:?}");
    b.screenshot("04-messages-failed");

    // Open a failed message that has a payload (found through the API: not every failed
    // message persists one): its error text and its payload.
    let api = web.admin_token();
    let (message_id, _) = api.failed_with_payload();
    let href = format!("/messages/{message_id}");
    b.goto(&format!("{}{href}", web.url));
    b.wait_for("#payloads a", WAIT);
    let error = b.text("#error-text");
    assert!(!error.trim().is_empty());
    b.screenshot("05-message-detail");
    // The most selective header: the simulator gives some names a value per message and
    // others one shared by many (a region, a batch of the hour), which could push this message
    // off the first page of results.
    let header = b.eval(
        "const rows = Array.from(document.querySelectorAll('#headers tbody tr')) \
           .map(r => Array.from(r.querySelectorAll('td')).map(td => td.textContent)) \
           .filter(c => c.length >= 2); \
         const own = ['po_number', 'document_id', 'customer_id', 'partner_id']; \
         return rows.find(c => own.includes(c[0])) || rows[0] || null;",
    );
    b.click("#payloads a");
    b.wait_for("#payload-text", WAIT);
    b.screenshot("06-payload");

    // Filter by a custom header of that message.
    if let Some(pair) = header.as_array() {
        let (name, value) = (pair[0].as_str().unwrap(), pair[1].as_str().unwrap());
        b.goto(&format!("{}/messages?range=24h", web.url));
        b.fill("#f-header-name", name);
        b.fill("#f-header-value", value);
        b.eval("document.querySelector('#f-status input[value=FAILED]').checked = true;");
        b.click("#apply-filters");
        b.wait_for_url("status=FAILED", WAIT);
        b.wait_for("#messages tbody tr", WAIT);
        let links = b.eval(
            // The path only: a row's link also carries the list it was opened from (`?back=`).
            "return Array.from(document.querySelectorAll('#messages td.mono a')).map(a => a.getAttribute('href').split('?')[0]);",
        );
        assert!(
            links
                .as_array()
                .unwrap()
                .iter()
                .any(|l| l.as_str() == Some(href.as_str())),
            "the header filter finds the message: {links}"
        );
        b.screenshot("07-messages-by-header");
    }

    // The Errors page groups the failures; a group's page shows its sample, template, chart and
    // history, and a manager resolves it with the form (post/redirect/get).
    reload_until(
        &b,
        &format!("{}/errors?range=24h", web.url),
        "#error-groups tbody tr",
        120,
    );
    b.screenshot("13-errors");
    b.click("#error-groups tbody tr td.group-title a");
    b.wait_for("#sample-text", WAIT);
    assert!(!b.text("#group-template").trim().is_empty());
    assert!(b.exists("#group-actions"), "the admin may act");
    b.screenshot("14-error-group");
    b.fill("#resolve-comment", "fixed in the browser walk-through");
    b.click("#resolve-submit");
    b.wait_for_url("done=resolved", WAIT);
    b.wait_for("#done", WAIT);
    assert!(
        b.text("#group-history")
            .contains("fixed in the browser walk-through")
    );
    b.screenshot("15-error-group-resolved");
    // Its affected messages: the monitor filtered to the group.
    b.click("#affected-messages");
    b.wait_for_url("error_group=", WAIT);
    b.wait_for("#messages tbody tr", WAIT);

    // Other pages render.
    for (page, shot) in [
        ("/tenants", "08-tenants"),
        ("/account", "09-account"),
        ("/", "10-overview"),
    ] {
        b.goto(&format!("{}{page}", web.url));
        b.wait_for("h1", WAIT);
        b.screenshot(shot);
    }
    // The storage page (managers and admins): the metrics daemon takes a snapshot at start.
    reload_until(&b, &format!("{}/storage", web.url), "#tables", 60);
    b.screenshot("12-storage");

    // As a `user`, header values and payloads are masked.
    let _ = web.user("ursula", "user", &[]);
    b.click("#logout");
    b.wait_for("#sign-in", WAIT);
    sign_in(&b, &web, "ursula", "ursula password 123");
    b.goto(&format!("{}{href}", web.url));
    b.wait_for("#masked-note", WAIT);
    let values = b.eval(
        "return Array.from(document.querySelectorAll('#headers tbody td:nth-child(2)')).map(td => td.textContent.trim());",
    );
    assert!(
        values.as_array().unwrap().iter().all(|v| v == "***"),
        "masked values: {values}"
    );
    assert!(
        !b.exists("#payloads a[href*='/api/payloads/']"),
        "no download link when masked"
    );
    b.screenshot("11-message-masked");

    // Sign out: back to the login page, and the pages need a new sign-in.
    b.click("#logout");
    b.wait_for("#sign-in", WAIT);
    b.goto(&format!("{}/messages", web.url));
    b.wait_for_url("/login", WAIT);
    b.wait_for("#sign-in", WAIT);
}
