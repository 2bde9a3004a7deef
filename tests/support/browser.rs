//! A real headless Chromium, driven over WebDriver, for tests of the web UI.
//!
//! [`Browser::start`] runs Debian's `/usr/bin/chromedriver` on a free loopback port and opens a
//! session of `/usr/bin/chromium` (headless, 1366x900, a fresh profile in a temporary directory).
//! Its methods block (the WebDriver client runs on a runtime of its own), so tests stay plain
//! `#[test]` functions; do not call them from inside an async runtime. Every method panics with
//! what it was doing or waiting for, the page's current URL and a snippet of its text, and saves
//! a screenshot named `failure`. Dropping the `Browser` (also while a test panics) kills
//! chromedriver and every Chromium process of its profile.
//!
//! Name browser tests `browser_*` (or their test binary `browser_*`): nextest runs them one at a
//! time with a longer timeout (`.config/nextest.toml`).

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::wd::TimeoutConfiguration;
use fantoccini::{Client, ClientBuilder, Locator};

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// How long `fill`, `click` and `text` wait for their element.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// The browser window's size in CSS pixels, so screenshots are comparable. The page's viewport
/// (and a screenshot) is as wide but lower: Chromium 156 headless keeps 143 px for its toolbar.
pub const WINDOW: (u32, u32) = (1366, 900);

/// Chromium's arguments besides the profile directory and the window size.
const CHROMIUM_ARGS: &[&str] = &[
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
];

pub struct Browser {
    client: Option<Client>,
    rt: tokio::runtime::Runtime,
    driver: Child,
    /// chromedriver's port, for its commands fantoccini has no method for (browser log, CDP).
    driver_port: u16,
    driver_log: PathBuf,
    profile: PathBuf,
    test: String,
    /// Holds the profile and chromedriver's log; removed last.
    _dir: tempfile::TempDir,
}

impl Browser {
    /// Start chromedriver and a headless Chromium. Panics (telling to run `scripts/test-deps`)
    /// when either is not installed.
    pub fn start() -> Self {
        for (path, package) in [(CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")] {
            assert!(
                Path::new(path).is_file(),
                "{path} is not installed: the browser tests need Debian's {package}. \
                 Run scripts/test-deps (as root) to install chromium and chromium-driver."
            );
        }
        // Chromium's helpers are orphaned when it stops; as their reaper, this process can
        // collect them (see `reap_chromium_zombies`) instead of leaving zombies under an init
        // that may not reap.
        let _ = nix::sys::prctl::set_child_subreaper(true);
        let test = test_name();
        let dir = tempfile::Builder::new()
            .prefix("im-browser-")
            .tempdir()
            .expect("temp dir for the browser");
        let profile = dir.path().join("profile");
        std::fs::create_dir(&profile).expect("browser profile directory");
        let driver_log = dir.path().join("chromedriver.log");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime for the WebDriver client");

        let started = Instant::now();
        // A port taken between `free_port` and chromedriver's bind makes it exit; try again.
        let mut attempt = 0;
        let (driver, port) = loop {
            attempt += 1;
            let port = crate::free_port();
            let mut driver = spawn_driver(port, &driver_log);
            match wait_for_driver(&mut driver, port) {
                Ok(()) => break (driver, port),
                Err(why) => {
                    let timed_out = driver.try_wait().ok().flatten().is_none();
                    kill_group(&mut driver);
                    let log = std::fs::read_to_string(&driver_log).unwrap_or_default();
                    assert!(
                        attempt < 3 && !timed_out,
                        "chromedriver on 127.0.0.1:{port} {why}; its output:\n{}",
                        snippet(&log, 3000)
                    );
                }
            }
        };
        // From here on, Drop cleans up whatever happens.
        let mut browser = Self {
            client: None,
            rt,
            driver,
            driver_port: port,
            driver_log,
            profile,
            test,
            _dir: dir,
        };
        browser.connect(port);
        eprintln!(
            "browser: chromium ready after {:.1}s (chromedriver on 127.0.0.1:{port}, test {})",
            started.elapsed().as_secs_f64(),
            browser.test
        );
        browser
    }

    fn connect(&mut self, port: u16) {
        let mut args: Vec<String> = CHROMIUM_ARGS.iter().map(|a| a.to_string()).collect();
        args.push(format!("--user-data-dir={}", self.profile.display()));
        args.push(format!("--window-size={},{}", WINDOW.0, WINDOW.1));
        let mut caps = serde_json::Map::new();
        caps.insert("browserName".into(), "chrome".into());
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({ "binary": CHROMIUM, "args": args }),
        );
        // The console (errors, CSP violations) is read back by `console_problems`.
        caps.insert(
            "goog:loggingPrefs".into(),
            serde_json::json!({ "browser": "ALL" }),
        );
        let url = format!("http://127.0.0.1:{port}");
        let connected = self.rt.block_on(async {
            let mut builder = ClientBuilder::rustls().map_err(|e| e.to_string())?;
            let client = tokio::time::timeout(
                Duration::from_secs(60),
                builder.capabilities(caps).connect(&url),
            )
            .await
            .map_err(|_| "no session within 60s".to_string())?
            .map_err(|e| e.to_string())?;
            // A page that never finishes loading fails the test instead of hanging it.
            client
                .update_timeouts(TimeoutConfiguration::new(
                    Some(Duration::from_secs(30)),
                    Some(Duration::from_secs(30)),
                    Some(Duration::ZERO),
                ))
                .await
                .map_err(|e| e.to_string())?;
            Ok::<_, String>(client)
        });
        match connected {
            Ok(client) => self.client = Some(client),
            Err(e) => panic!(
                "starting a Chromium session through chromedriver at {url}: {e}\n\
                 chromedriver's output:\n{}",
                self.driver_output()
            ),
        }
    }

    /// The WebDriver client, for what the helpers do not cover; run its futures with
    /// [`Browser::block_on`].
    pub fn client(&self) -> Client {
        self.client.clone().expect("browser session")
    }

    /// Run a future (of [`Browser::client`]'s calls) to completion.
    pub fn block_on<F: Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }

    /// The test's name as used for its screenshot directory.
    pub fn test_name(&self) -> &str {
        &self.test
    }

    /// Chromium's profile directory (every Chromium process of this browser names it).
    pub fn profile_dir(&self) -> &Path {
        &self.profile
    }

    /// Everything chromedriver printed so far.
    pub fn driver_output(&self) -> String {
        std::fs::read_to_string(&self.driver_log).unwrap_or_default()
    }

    /// Load `url` and wait for its `load` event (at most 30s).
    pub fn goto(&self, url: &str) {
        let c = self.client();
        if let Err(e) = self.rt.block_on(c.goto(url)) {
            self.fail(&format!("loading {url}: {e}"));
        }
    }

    pub fn current_url(&self) -> String {
        let c = self.client();
        match self.rt.block_on(c.current_url()) {
            Ok(u) => u.to_string(),
            Err(e) => self.fail(&format!("reading the current URL: {e}")),
        }
    }

    /// Wait until the address bar holds `needle`: after a click that submits a form, the old
    /// page can still answer element lookups, so only the URL tells the navigation is done.
    pub fn wait_for_url(&self, needle: &str, timeout: Duration) -> String {
        let mut last = String::new();
        let found = self.try_poll(timeout, || {
            last = self.current_url();
            last.contains(needle).then(|| last.clone())
        });
        found.unwrap_or_else(|| {
            self.fail(&format!(
                "timed out after {timeout:?} waiting for the URL to contain {needle:?} (it is {last})"
            ))
        })
    }

    /// Whether an element matches `css` right now.
    pub fn exists(&self, css: &str) -> bool {
        let c = self.client();
        match self.rt.block_on(c.find_all(Locator::Css(css))) {
            Ok(found) => !found.is_empty(),
            Err(e) => self.fail(&format!("looking for `{css}`: {e}")),
        }
    }

    /// Wait until an element matches `css`.
    pub fn wait_for(&self, css: &str, timeout: Duration) {
        self.poll(timeout, &format!("an element matching `{css}`"), || {
            self.exists(css).then_some(())
        });
    }

    /// Wait until the first element matching `css` shows text containing `needle`; returns its
    /// whole text.
    pub fn wait_for_text(&self, css: &str, needle: &str, timeout: Duration) -> String {
        let mut last = None;
        let what = format!("`{css}` to show text containing {needle:?}");
        let found = self.try_poll(timeout, || {
            let text = self.try_text(css)?;
            let hit = text.contains(needle);
            last = Some(text.clone());
            hit.then_some(text)
        });
        found.unwrap_or_else(|| {
            let seen = match last {
                Some(t) => format!("it showed {:?}", snippet(&t, 300)),
                None => "no element matched".to_string(),
            };
            self.fail(&format!(
                "timed out after {timeout:?} waiting for {what} ({seen})"
            ))
        })
    }

    /// Type `text` into the (cleared) field matching `css`, once it exists.
    pub fn fill(&self, css: &str, text: &str) {
        self.wait_for(css, DEFAULT_TIMEOUT);
        let c = self.client();
        let done = self.rt.block_on(async {
            let el = c.find(Locator::Css(css)).await?;
            el.clear().await?;
            el.send_keys(text).await
        });
        if let Err(e) = done {
            self.fail(&format!("filling `{css}` with {text:?}: {e}"));
        }
    }

    /// Click the element matching `css`, once it exists.
    pub fn click(&self, css: &str) {
        self.wait_for(css, DEFAULT_TIMEOUT);
        let c = self.client();
        let done = self
            .rt
            .block_on(async { c.find(Locator::Css(css)).await?.click().await });
        if let Err(e) = done {
            self.fail(&format!("clicking `{css}`: {e}"));
        }
    }

    /// The rendered text of the element matching `css`, once it exists.
    pub fn text(&self, css: &str) -> String {
        self.wait_for(css, DEFAULT_TIMEOUT);
        self.try_text(css)
            .unwrap_or_else(|| self.fail(&format!("reading the text of `{css}`")))
    }

    /// Run JavaScript in the page (`return …` gives a value back).
    pub fn eval(&self, js: &str) -> serde_json::Value {
        let c = self.client();
        match self.rt.block_on(c.execute(js, vec![])) {
            Ok(v) => v,
            Err(e) => self.fail(&format!("running script {:?}: {e}", snippet(js, 200))),
        }
    }

    /// A chromedriver command on this session that fantoccini does not offer: `POST
    /// /session/{id}/{path}` with `body`; returns the answer's `value`.
    fn driver_post(
        &self,
        path: &str,
        body: serde_json::Value,
    ) -> Result<serde_json::Value, String> {
        let c = self.client();
        let port = self.driver_port;
        self.rt.block_on(async move {
            let id = c
                .session_id()
                .await
                .map_err(|e| e.to_string())?
                .ok_or_else(|| "no session id".to_string())?;
            let url = format!("http://127.0.0.1:{port}/session/{id}/{path}");
            let res = reqwest::Client::new()
                .post(&url)
                .json(&body)
                .timeout(Duration::from_secs(20))
                .send()
                .await
                .map_err(|e| format!("{url}: {e}"))?;
            let status = res.status();
            let v: serde_json::Value = res.json().await.map_err(|e| format!("{url}: {e}"))?;
            if !status.is_success() {
                return Err(format!("{url}: {status} {v}"));
            }
            Ok(v["value"].clone())
        })
    }

    /// Console errors and Content-Security-Policy violations the browser reported since the
    /// last call (chromedriver's browser log drains as it is read), one line each. Warnings
    /// that are not CSP reports are left out.
    pub fn console_problems(&self) -> Vec<String> {
        let entries = self
            .driver_post("se/log", serde_json::json!({ "type": "browser" }))
            .unwrap_or_else(|e| self.fail(&format!("reading the browser's console: {e}")));
        entries
            .as_array()
            .map(|a| a.as_slice())
            .unwrap_or_default()
            .iter()
            .filter_map(|e| {
                let level = e["level"].as_str().unwrap_or("");
                let message = e["message"].as_str().unwrap_or("");
                let csp = message.contains("Content Security Policy");
                (level == "SEVERE" || csp).then(|| format!("{level}: {message}"))
            })
            .collect()
    }

    /// Make the page's viewport `width`×`height` CSS pixels (a phone when `mobile`), whatever
    /// the window's toolbars take: screenshots and layout checks see exactly that size.
    pub fn set_viewport(&self, width: u32, height: u32, mobile: bool) {
        let params = serde_json::json!({
            "cmd": "Emulation.setDeviceMetricsOverride",
            "params": { "width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile }
        });
        if let Err(e) = self.driver_post("goog/cdp/execute", params) {
            self.fail(&format!("setting the viewport to {width}x{height}: {e}"));
        }
    }

    /// Save the page as `<target dir>/screenshots/<test>/<name>.png` and print its path.
    pub fn screenshot(&self, name: &str) -> PathBuf {
        self.try_screenshot(name)
            .unwrap_or_else(|e| self.fail(&format!("taking screenshot {name:?}: {e}")))
    }

    fn try_screenshot(&self, name: &str) -> Result<PathBuf, String> {
        let c = self.client();
        let png = self
            .rt
            .block_on(async { tokio::time::timeout(Duration::from_secs(20), c.screenshot()).await })
            .map_err(|_| "no screenshot within 20s".to_string())?
            .map_err(|e| e.to_string())?;
        let dir = screenshots_dir().join(&self.test);
        std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        let path = dir.join(format!("{}.png", sanitize(name)));
        std::fs::write(&path, png).map_err(|e| format!("writing {}: {e}", path.display()))?;
        eprintln!("browser: screenshot {}", path.display());
        Ok(path)
    }

    fn try_text(&self, css: &str) -> Option<String> {
        let c = self.client();
        self.rt
            .block_on(async { c.find(Locator::Css(css)).await?.text().await })
            .ok()
    }

    fn poll(&self, timeout: Duration, what: &str, f: impl FnMut() -> Option<()>) {
        if self.try_poll(timeout, f).is_none() {
            self.fail(&format!("timed out after {timeout:?} waiting for {what}"));
        }
    }

    fn try_poll<T>(&self, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(v) = f() {
                return Some(v);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Panic with `what`, the page's URL and text, and a screenshot of it.
    fn fail(&self, what: &str) -> ! {
        let (url, text) = self.page_state();
        let shot = match self.try_screenshot("failure") {
            Ok(p) => p.display().to_string(),
            Err(e) => format!("none ({e})"),
        };
        panic!("browser: {what}\n  page URL: {url}\n  page text: {text}\n  screenshot: {shot}");
    }

    /// The current URL and the start of the page's text, bounded in time; never panics.
    fn page_state(&self) -> (String, String) {
        let Some(c) = self.client.clone() else {
            return ("(no session)".into(), String::new());
        };
        self.rt.block_on(async {
            let limit = Duration::from_secs(5);
            let url = match tokio::time::timeout(limit, c.current_url()).await {
                Ok(Ok(u)) => u.to_string(),
                Ok(Err(e)) => format!("(unknown: {e})"),
                Err(_) => "(unknown: no answer within 5s)".into(),
            };
            let text = match tokio::time::timeout(
                limit,
                c.execute(
                    "return document.body ? document.body.innerText : ''",
                    vec![],
                ),
            )
            .await
            {
                Ok(Ok(serde_json::Value::String(t))) => format!("{:?}", snippet(&t, 500)),
                Ok(Ok(v)) => format!("(not text: {v})"),
                Ok(Err(e)) => format!("(unknown: {e})"),
                Err(_) => "(unknown: no answer within 5s)".into(),
            };
            (url, text)
        })
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Ask chromedriver to close Chromium, then kill whatever is left.
        if let Some(c) = self.client.take() {
            let _ = self
                .rt
                .block_on(async { tokio::time::timeout(Duration::from_secs(5), c.close()).await });
        }
        kill_group(&mut self.driver);
        for _ in 0..20 {
            let left = processes_using(&self.profile);
            for &pid in &left {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            if reap_chromium_zombies() == 0 && left.is_empty() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// Reap this process's exited Chromium children (orphans it adopted as their subreaper); only
/// those, so the `Child` handles of other processes keep their exit status. Returns how many.
fn reap_chromium_zombies() -> usize {
    let me = std::process::id().to_string();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    let mut reaped = 0;
    for pid in entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
    {
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // "pid (comm) state ppid …"; comm may hold spaces and parentheses.
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let comm = &stat[open + 1..close];
        let mut rest = stat[close + 1..].split_whitespace();
        let (state, ppid) = (rest.next(), rest.next());
        if state == Some("Z")
            && ppid == Some(me.as_str())
            && comm.starts_with("chrom")
            && comm != "chromedriver"
        {
            let _ = nix::sys::wait::waitpid(
                nix::unistd::Pid::from_raw(pid),
                Some(nix::sys::wait::WaitPidFlag::WNOHANG),
            );
            reaped += 1;
        }
    }
    reaped
}

/// Live processes whose command line mentions `path` (Chromium's processes all name their
/// profile directory).
pub fn processes_using(path: &Path) -> Vec<i32> {
    let needle = path.to_string_lossy().into_owned();
    let me = std::process::id() as i32;
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| pid != me)
        .filter(|pid| {
            // A zombie has an empty command line and holds nothing.
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| String::from_utf8_lossy(&c).contains(&needle))
                .unwrap_or(false)
        })
        .collect()
}

/// Where screenshots go: `${CARGO_TARGET_DIR:-target}/screenshots`, the target directory being
/// the one this test executable was built in.
pub fn screenshots_dir() -> PathBuf {
    let target = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(d) if !d.is_empty() => crate::workspace().join(d),
        _ => std::env::current_exe()
            .ok()
            // target/<profile>/deps/<test> → target
            .and_then(|exe| Some(exe.parent()?.parent()?.parent()?.to_path_buf()))
            .unwrap_or_else(|| crate::workspace().join("target")),
    };
    target.join("screenshots")
}

fn spawn_driver(port: u16, log: &Path) -> Child {
    use std::os::unix::process::CommandExt;
    let out = std::fs::File::create(log).expect("chromedriver log file");
    let err = out.try_clone().expect("chromedriver log file");
    Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        // Its own process group, so Drop can kill it together with the Chromium it started.
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .unwrap_or_else(|e| panic!("spawning {CHROMEDRIVER}: {e}; run scripts/test-deps"))
}

/// Wait until chromedriver answers `/status` as ready.
fn wait_for_driver(driver: &mut Child, port: u16) -> Result<(), String> {
    let addr = format!("127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if status_ready(&addr) {
            return Ok(());
        }
        if let Ok(Some(status)) = driver.try_wait() {
            return Err(format!("exited ({status}) before answering /status"));
        }
        if Instant::now() >= deadline {
            return Err("did not answer /status as ready within 30s".into());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Whether chromedriver at `addr` answers `GET /status` with `"ready": true`. Not
/// [`crate::http_get`]: chromedriver refuses HTTP/1.0 and keeps the connection open after its
/// answer, so the body is read by its `Content-Length`.
fn status_ready(addr: &str) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(addr) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let request = format!("GET /status HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    if s.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut response = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let text = String::from_utf8_lossy(&response).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head.lines().find_map(|l| {
                let (name, value) = l.split_once(':')?;
                name.trim()
                    .eq_ignore_ascii_case("content-length")
                    .then(|| value.trim().parse::<usize>().ok())?
            });
            if length.is_some_and(|n| body.len() >= n) {
                return head.starts_with("HTTP/1.1 200")
                    && body.replace(' ', "").contains("\"ready\":true");
            }
        }
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return false,
            Ok(n) => response.extend_from_slice(&buf[..n]),
        }
    }
}

fn kill_group(driver: &mut Child) {
    let pgid = nix::unistd::Pid::from_raw(driver.id() as i32);
    let _ = nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGKILL);
    let _ = driver.kill();
    let _ = driver.wait();
}

/// The running test's name (libtest names each test's thread after it), else the executable's.
fn test_name() -> String {
    let name = match std::thread::current().name() {
        Some(n) if n != "main" => n.to_string(),
        _ => std::env::current_exe()
            .ok()
            .and_then(|p| Some(p.file_stem()?.to_string_lossy().into_owned()))
            .map(|s| match s.rsplit_once('-') {
                Some((stem, hash)) if hash.chars().all(|c| c.is_ascii_hexdigit()) => stem.into(),
                _ => s,
            })
            .unwrap_or_else(|| "browser".into()),
    };
    sanitize(&name.replace("::", "-"))
}

fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn snippet(text: &str, max: usize) -> String {
    let text = text.trim();
    match text.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_string(),
    }
}
