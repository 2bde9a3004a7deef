//! The browser harness itself, in a real headless Chromium: a page with a form and a script,
//! served by a local actix-web server, is filled in and clicked, the script's answer is waited
//! for, a screenshot is saved, a failed wait names what it waited for and where the page was, and
//! no Chromium process outlives its `Browser`, even when the test panics.

use std::collections::HashMap;
use std::time::Duration;

use actix_web::{App, HttpResponse, HttpServer, web};
use integramon_tests::Browser;
use integramon_tests::browser::{WINDOW, processes_using};

const INDEX: &str = r#"<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Browser smoke</title><script src="/app.js" defer></script></head>
<body>
  <h1>Browser smoke</h1>
  <form id="greet">
    <label>Name <input id="name" name="name" autocomplete="off"></label>
    <button id="go" type="submit">Greet</button>
  </form>
  <p id="out">waiting</p>
</body>
</html>
"#;

/// Asks the server and writes its answer a little later, so the test has to wait for it.
const APP_JS: &str = r#"
document.getElementById('greet').addEventListener('submit', async (event) => {
  event.preventDefault();
  const name = document.getElementById('name').value;
  const response = await fetch('/api/greet?name=' + encodeURIComponent(name));
  const text = await response.text();
  setTimeout(() => { document.getElementById('out').textContent = text; }, 300);
});
"#;

async fn greet(q: web::Query<HashMap<String, String>>) -> HttpResponse {
    let name = q.get("name").map(String::as_str).unwrap_or("nobody");
    HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .body(format!("Hello, {name}!"))
}

/// Serve the page on 127.0.0.1 (port 0) from a thread of its own; returns its base URL.
fn serve() -> String {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let server = HttpServer::new(|| {
                App::new()
                    .route(
                        "/",
                        web::get().to(|| async {
                            HttpResponse::Ok()
                                .content_type("text/html; charset=utf-8")
                                .body(INDEX)
                        }),
                    )
                    .route(
                        "/app.js",
                        web::get().to(|| async {
                            HttpResponse::Ok()
                                .content_type("text/javascript; charset=utf-8")
                                .body(APP_JS)
                        }),
                    )
                    .route("/api/greet", web::get().to(greet))
            })
            .workers(1)
            .bind(("127.0.0.1", 0))
            .expect("binding the page server");
            let addr = server.addrs()[0];
            let server = server.run();
            tx.send(addr).expect("sending the address");
            server.await
        })
    });
    let addr = rx.recv().expect("the page server's address");
    format!("http://{addr}/")
}

#[test]
fn browser_fills_a_form_waits_for_the_script_and_saves_a_screenshot() {
    let base = serve();
    let b = Browser::start();
    b.goto(&base);
    assert_eq!(b.current_url(), base);
    assert_eq!(b.text("h1"), "Browser smoke");
    assert_eq!(
        b.eval("return window.innerWidth"),
        serde_json::json!(WINDOW.0),
        "the window is {}x{}",
        WINDOW.0,
        WINDOW.1
    );

    b.fill("#name", "IntegraMon");
    b.click("#go");
    let text = b.wait_for_text("#out", "Hello, IntegraMon!", Duration::from_secs(10));
    assert_eq!(text, "Hello, IntegraMon!");

    let shot = b.screenshot("greeted");
    assert!(
        shot.ends_with(format!("screenshots/{}/greeted.png", b.test_name())),
        "{}",
        shot.display()
    );
    let png = std::fs::read(&shot).expect("the screenshot file");
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n"),
        "{} is not a PNG",
        shot.display()
    );
    // IHDR: the width is the window's.
    let width = u32::from_be_bytes(png[16..20].try_into().expect("IHDR width"));
    assert_eq!(width, WINDOW.0, "screenshot width");

    // A failed wait names the selector, the page's URL and its text.
    let failed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        b.wait_for("#never-there", Duration::from_millis(500))
    }))
    .expect_err("waiting for a missing element fails");
    let message = failed.downcast_ref::<String>().cloned().unwrap_or_default();
    for part in ["#never-there", base.as_str(), "Hello, IntegraMon!"] {
        assert!(message.contains(part), "{part:?} missing from: {message}");
    }

    // Dropping the browser leaves no Chromium behind.
    let profile = b.profile_dir().to_path_buf();
    assert!(
        !processes_using(&profile).is_empty(),
        "chromium runs with its profile in {}",
        profile.display()
    );
    drop(b);
    assert_eq!(processes_using(&profile), Vec::<i32>::new(), "left running");
    assert_eq!(chromium_zombies(), Vec::<String>::new(), "left unreaped");
}

/// This process's exited but unreaped Chromium children.
fn chromium_zombies() -> Vec<String> {
    let me = std::process::id().to_string();
    std::fs::read_dir("/proc")
        .expect("/proc")
        .flatten()
        .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
        .filter(|stat| {
            let comm_end = stat.rfind(')').unwrap_or(0);
            let fields: Vec<&str> = stat[comm_end + 1..].split_whitespace().collect();
            stat.contains("(chrom")
                && fields.first() == Some(&"Z")
                && fields.get(1) == Some(&me.as_str())
        })
        .collect()
}

#[test]
fn browser_processes_are_killed_when_the_test_panics() {
    let base = serve();
    let (tx, rx) = std::sync::mpsc::channel();
    let outcome = std::thread::spawn(move || {
        let b = Browser::start();
        b.goto(&base);
        tx.send(b.profile_dir().to_path_buf()).expect("sending");
        b.wait_for("#never-there", Duration::from_millis(200));
    })
    .join();
    assert!(outcome.is_err(), "the test thread panicked");
    let profile = rx.recv().expect("the profile directory");
    assert_eq!(processes_using(&profile), Vec::<i32>::new(), "left running");
    assert_eq!(chromium_zombies(), Vec::<String>::new(), "left unreaped");
}
