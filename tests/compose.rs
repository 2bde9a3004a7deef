//! `compose.yaml`, tested on a machine without a Docker engine.
//!
//! 1. Debian's `docker-compose` (v1, which resolves and validates a file against the compose
//!    schema without an engine) accepts the file with an `.env` made from `.env.example`, and
//!    refuses it without one (the secrets are required, none is committed).
//! 2. Structural checks a wrong file fails: one image; `migrate` a one-shot the daemons wait for;
//!    PostgreSQL and RabbitMQ healthy first; a scalable `ingest-worker`; health checks that run
//!    `<binary> healthcheck` against the address the daemon listens on; the demo tenant only under
//!    the `demo` profile; volumes for the database and `DATA_DIR`; secrets from the env file; every
//!    variable a documented setting.
//! 3. Every service's command runs as a local process with the service's environment from the
//!    file, interpolated from a test `.env`, in dependency order (`migrate` first, exit 0), with
//!    two `ingest-worker`s (the scale) and `cpi-sim` (profile `demo`). A tenant pointing at the
//!    simulator is created through the web API, its messages must reach `GET /api/messages`, both
//!    workers must take jobs, and every daemon's health check must pass.
//!
//! What stands in for the containers in 3 (nothing else of the file is changed):
//! - the images' binaries → the workspace binaries of the same names ([`bin`]);
//! - service `postgres` → the machine's PostgreSQL on 127.0.0.1:5432 with a fresh database of the
//!   test's own (its name is the test's `DB_NAME`, `DB_USER` is `postgres`; the server trusts local
//!   connections, so `DB_PASSWORD` is set but not checked);
//! - service `rabbitmq` → the machine's RabbitMQ on 127.0.0.1:5672 as guest/guest (the test's
//!   `RABBITMQ_USER`/`RABBITMQ_PASSWORD`). The one variable the test adds to every service is
//!   `AMQP_PREFIX`, unique per run, so that parallel tests do not share queues;
//! - the volume mounted at `DATA_DIR` (`/app/data`) → one temporary directory shared by all
//!   processes, substituted for the mount point in every value (so `MIGRATE_MARKER` too);
//! - each container's own network namespace → ports of its own: every `0.0.0.0:PORT` a service
//!   instance listens on (in its command and its environment alike) becomes `127.0.0.1:FREE`, a
//!   free loopback port of that instance (each of the two workers gets its own); another service's
//!   `NAME:PORT` (`rabbitmq:5672` in `AMQP_URL`, `cpi-sim:8090` as the tenant URL) becomes
//!   `127.0.0.1:` that service's local port, and a `*_HOST` variable naming a service
//!   (`DB_HOST: postgres`) becomes `127.0.0.1`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use integramon_tests::collect::Database;
use integramon_tests::web::Web;
use integramon_tests::{Proc, Target, bin, free_port, wait_for, workspace};
use reqwest::Method;
use serde_json::json;
use yaml_rust2::{Yaml, YamlLoader};

/// The services that are the machine's own servers in this test, with their ports.
const EXTERNAL: [(&str, u16); 2] = [("postgres", 5432), ("rabbitmq", 5672)];
/// The IntegraMon daemons and the binary each runs.
const DAEMONS: [(&str, &str); 5] = [
    ("web", "integramon-web"),
    ("ingest-worker", "integramon-ingest-worker"),
    ("controller", "integramon-controller"),
    ("archiver", "integramon-archiver"),
    ("metrics", "integramon-metrics"),
];
/// `ingest-worker` runs this many times, as `docker compose up --scale ingest-worker=2` would.
const WORKERS: usize = 2;

// ---- reading the file ----------------------------------------------------------------------

fn compose_text() -> String {
    std::fs::read_to_string(workspace().join("compose.yaml")).expect("compose.yaml")
}

/// compose.yaml with its anchors resolved (the reader does that) and its merge keys (`<<:`)
/// applied, as compose does.
fn compose() -> Yaml {
    let mut docs = YamlLoader::load_from_str(&compose_text()).expect("compose.yaml is YAML");
    assert_eq!(docs.len(), 1, "one YAML document");
    merge_keys(docs.remove(0))
}

fn merge_keys(y: Yaml) -> Yaml {
    match y {
        Yaml::Hash(h) => {
            let mut own = yaml_rust2::yaml::Hash::new();
            let mut merged = Vec::new();
            for (k, v) in h {
                if k.as_str() == Some("<<") {
                    match merge_keys(v) {
                        Yaml::Array(list) => merged.extend(list),
                        other => merged.push(other),
                    }
                } else {
                    own.insert(k, merge_keys(v));
                }
            }
            // Own keys win, then the merged maps in order.
            for m in merged {
                let Yaml::Hash(m) = m else {
                    panic!("`<<` merges a map, not {m:?}")
                };
                for (k, v) in m {
                    own.entry(k).or_insert(v);
                }
            }
            Yaml::Hash(own)
        }
        Yaml::Array(a) => Yaml::Array(a.into_iter().map(merge_keys).collect()),
        other => other,
    }
}

fn scalar(y: &Yaml) -> Option<String> {
    match y {
        Yaml::String(s) | Yaml::Real(s) => Some(s.clone()),
        Yaml::Integer(i) => Some(i.to_string()),
        Yaml::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A list of strings, or a string split at blanks (compose's short form of a command).
fn strings(y: &Yaml) -> Vec<String> {
    match y {
        Yaml::Array(a) => a
            .iter()
            .map(|v| scalar(v).unwrap_or_else(|| panic!("not a string: {v:?}")))
            .collect(),
        Yaml::BadValue | Yaml::Null => Vec::new(),
        other => scalar(other)
            .unwrap_or_default()
            .split_whitespace()
            .map(String::from)
            .collect(),
    }
}

fn keys(y: &Yaml) -> Vec<String> {
    y.as_hash()
        .map(|h| h.keys().filter_map(scalar).collect())
        .unwrap_or_default()
}

/// One service of the file, raw (not interpolated).
struct Service<'a> {
    name: String,
    y: &'a Yaml,
}

impl Service<'_> {
    fn image(&self) -> Option<String> {
        scalar(&self.y["image"])
    }

    fn command(&self) -> Vec<String> {
        let mut c = strings(&self.y["entrypoint"]);
        c.extend(strings(&self.y["command"]));
        c
    }

    /// `environment:` as a map or as a list of `KEY=value`.
    fn environment(&self) -> Vec<(String, String)> {
        match &self.y["environment"] {
            Yaml::Hash(h) => h
                .iter()
                .map(|(k, v)| {
                    let k = scalar(k).expect("variable name");
                    (k, scalar(v).unwrap_or_default())
                })
                .collect(),
            Yaml::Array(a) => a
                .iter()
                .filter_map(scalar)
                .map(|kv| match kv.split_once('=') {
                    Some((k, v)) => (k.to_string(), v.to_string()),
                    None => (kv, String::new()),
                })
                .collect(),
            _ => Vec::new(),
        }
    }

    fn env(&self, key: &str) -> Option<String> {
        self.environment()
            .into_iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }

    /// `depends_on:` as service → condition.
    fn depends_on(&self) -> BTreeMap<String, String> {
        match &self.y["depends_on"] {
            Yaml::Hash(h) => h
                .iter()
                .map(|(k, v)| {
                    let cond = scalar(&v["condition"]).unwrap_or_else(|| "service_started".into());
                    (scalar(k).expect("service name"), cond)
                })
                .collect(),
            Yaml::Array(a) => a
                .iter()
                .filter_map(scalar)
                .map(|s| (s, "service_started".to_string()))
                .collect(),
            _ => BTreeMap::new(),
        }
    }

    /// The health check's `test`, unless there is none or it is disabled.
    fn healthcheck(&self) -> Option<Vec<String>> {
        let h = &self.y["healthcheck"];
        if h.is_badvalue() || h["disable"].as_bool() == Some(true) {
            return None;
        }
        let test = match &h["test"] {
            Yaml::String(s) => vec!["CMD-SHELL".to_string(), s.clone()],
            other => strings(other),
        };
        (!test.is_empty() && test[0] != "NONE").then_some(test)
    }

    fn profiles(&self) -> Vec<String> {
        strings(&self.y["profiles"])
    }

    /// `volumes:` as (source, target) pairs.
    fn volumes(&self) -> Vec<(String, String)> {
        strings(&self.y["volumes"])
            .into_iter()
            .map(|v| {
                let mut parts = v.split(':');
                let src = parts.next().unwrap_or_default().to_string();
                let dst = parts.next().unwrap_or_default().to_string();
                (src, dst)
            })
            .collect()
    }

    /// The target ports of `ports:` (`"host:container"` or `"container"`).
    fn published(&self) -> Vec<u16> {
        strings(&self.y["ports"])
            .iter()
            .map(|p| {
                let target = p.rsplit(':').next().unwrap_or(p);
                target
                    .split('/')
                    .next()
                    .and_then(|t| t.parse().ok())
                    .unwrap_or_else(|| panic!("{}: cannot read port {p:?}", self.name))
            })
            .collect()
    }
}

fn services(file: &Yaml) -> Vec<Service<'_>> {
    let h = file["services"].as_hash().expect("services");
    h.iter()
        .map(|(k, v)| Service {
            name: scalar(k).expect("service name"),
            y: v,
        })
        .collect()
}

fn service<'a>(all: &'a [Service<'a>], name: &str) -> &'a Service<'a> {
    all.iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("compose.yaml has no service {name}"))
}

// ---- interpolation -------------------------------------------------------------------------

/// Compose's interpolation: `$$`, `$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR-default}`,
/// `${VAR:?error}`, `${VAR?error}`, `${VAR:+alt}`, `${VAR+alt}`.
fn interpolate(s: &str, vars: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = s;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        rest = &rest[at + 1..];
        if let Some(r) = rest.strip_prefix('$') {
            out.push('$');
            rest = r;
        } else if let Some(r) = rest.strip_prefix('{') {
            let end = r
                .find('}')
                .ok_or_else(|| format!("unclosed ${{ in {s:?}"))?;
            let expr = &r[..end];
            rest = &r[end + 1..];
            let name_len = expr
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(expr.len());
            let (name, op) = expr.split_at(name_len);
            let value = vars(name);
            let set = value.is_some();
            let nonempty = value.as_deref().is_some_and(|v| !v.is_empty());
            let text = if op.is_empty() {
                value.unwrap_or_default()
            } else if let Some(d) = op.strip_prefix(":-") {
                if nonempty {
                    value.unwrap_or_default()
                } else {
                    d.to_string()
                }
            } else if let Some(d) = op.strip_prefix('-') {
                if set {
                    value.unwrap_or_default()
                } else {
                    d.to_string()
                }
            } else if let Some(e) = op.strip_prefix(":?") {
                if !nonempty {
                    return Err(format!("{name}: {e}"));
                }
                value.unwrap_or_default()
            } else if let Some(e) = op.strip_prefix('?') {
                if !set {
                    return Err(format!("{name}: {e}"));
                }
                value.unwrap_or_default()
            } else if let Some(a) = op.strip_prefix(":+") {
                if nonempty {
                    a.to_string()
                } else {
                    String::new()
                }
            } else if let Some(a) = op.strip_prefix('+') {
                if set { a.to_string() } else { String::new() }
            } else {
                return Err(format!("invalid interpolation ${{{expr}}} in {s:?}"));
            };
            out.push_str(&text);
        } else {
            let name_len = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            if name_len == 0 {
                return Err(format!("a lone $ in {s:?} (write $$)"));
            }
            out.push_str(&vars(&rest[..name_len]).unwrap_or_default());
            rest = &rest[name_len..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// The variables a string interpolates, with their operator and argument
/// (`${DB_PASSWORD:?msg}` → `("DB_PASSWORD", ":?msg")`).
fn references(s: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut rest = s;
    while let Some(at) = rest.find('$') {
        rest = &rest[at + 1..];
        if let Some(r) = rest.strip_prefix('$') {
            rest = r;
        } else if let Some(r) = rest.strip_prefix('{') {
            let end = r.find('}').unwrap_or(r.len());
            let expr = &r[..end];
            let n = expr
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(expr.len());
            found.push((expr[..n].to_string(), expr[n..].to_string()));
            rest = &r[end.min(r.len())..];
        } else {
            let n = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            found.push((rest[..n].to_string(), String::new()));
            rest = &rest[n..];
        }
    }
    found
}

/// Every variable compose.yaml interpolates, with how.
fn file_references() -> Vec<(String, String)> {
    references(&compose_text())
        .into_iter()
        .filter(|(name, _)| !name.is_empty())
        .collect()
}

/// Variables `.env.example` names, set or commented out (`# NAME=`).
fn env_example() -> BTreeMap<String, String> {
    std::fs::read_to_string(workspace().join(".env.example"))
        .expect(".env.example")
        .lines()
        .filter_map(|l| {
            let l = l.trim().trim_start_matches('#').trim();
            let (k, v) = l.split_once('=')?;
            (!k.is_empty()
                && k.chars()
                    .all(|c| c.is_ascii_uppercase() || c == '_' || c.is_ascii_digit()))
            .then(|| (k.to_string(), v.to_string()))
        })
        .collect()
}

// ---- 1. docker-compose ---------------------------------------------------------------------

/// `docker-compose ARGS` in `dir` (a copy of the file, and `.env` if the test wrote one).
fn docker_compose(dir: &Path, args: &[&str]) -> (bool, String) {
    let mut cmd = Command::new("docker-compose");
    // Only the .env file sets the file's variables, not the shell running the test.
    for (name, _) in file_references() {
        cmd.env_remove(name);
    }
    let out = cmd
        .args(["--project-directory", ".", "-f", "compose.yaml"])
        .args(args)
        .current_dir(dir)
        // No engine is asked for `config`; make sure none is tried either.
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .env_remove("COMPOSE_PROFILES")
        .env_remove("COMPOSE_FILE")
        .output()
        .expect("docker-compose must be installed (scripts/test-deps installs Debian's)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn copy_of_the_file() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::copy(
        workspace().join("compose.yaml"),
        dir.path().join("compose.yaml"),
    )
    .expect("copy compose.yaml");
    std::fs::create_dir_all(dir.path().join("docker")).expect("docker/");
    std::fs::copy(
        workspace().join("docker/Dockerfile"),
        dir.path().join("docker/Dockerfile"),
    )
    .expect("copy docker/Dockerfile");
    dir
}

#[test]
fn docker_compose_accepts_the_file_with_an_env_file_and_refuses_it_without() {
    let dir = copy_of_the_file();
    // Without .env the required secrets are missing: compose must refuse to start anything.
    let (ok, out) = docker_compose(dir.path(), &["config", "-q"]);
    assert!(!ok, "compose.yaml works without DB_PASSWORD:\n{out}");
    assert!(out.contains("DB_PASSWORD"), "{out}");

    // As the README says: cp .env.example .env, then set the passwords.
    let example = std::fs::read_to_string(workspace().join(".env.example")).expect(".env.example");
    std::fs::write(
        dir.path().join(".env"),
        example.replace("change-me", "a-real-secret"),
    )
    .expect(".env");
    let (ok, out) = docker_compose(dir.path(), &["config", "-q"]);
    assert!(ok, "docker-compose config refuses compose.yaml:\n{out}");
    let (ok, out) = docker_compose(dir.path(), &["--profile", "demo", "config", "-q"]);
    assert!(ok, "docker-compose --profile demo config:\n{out}");

    // The resolved file: the secrets of the env file are used, none other is in it.
    let (ok, resolved) = docker_compose(dir.path(), &["--profile", "demo", "config"]);
    assert!(ok, "{resolved}");
    assert!(resolved.contains("a-real-secret"), "{resolved}");
    assert!(!resolved.contains("change-me"), "{resolved}");

    // The services, the demo tenant among them. (docker-compose v1 lists services of every
    // profile here; that `cpi-sim` is under `demo` alone is checked by the structure test.)
    let (ok, out) = docker_compose(dir.path(), &["--profile", "demo", "config", "--services"]);
    assert!(ok, "{out}");
    let listed: BTreeSet<String> = out.lines().map(|l| l.trim().to_string()).collect();
    let expected: BTreeSet<String> = EXTERNAL
        .iter()
        .map(|(s, _)| *s)
        .chain(DAEMONS.iter().map(|(s, _)| *s))
        .chain(["migrate", "cpi-sim"])
        .map(String::from)
        .collect();
    assert_eq!(listed, expected, "the services of compose.yaml");
}

// ---- 2. structure --------------------------------------------------------------------------

/// The settings docs/configuration.md documents (names in backticks in a table's first column).
fn documented_settings() -> BTreeSet<String> {
    let doc = std::fs::read_to_string(workspace().join("docs/configuration.md"))
        .expect("docs/configuration.md");
    doc.lines()
        .filter_map(|l| l.strip_prefix("| "))
        .filter_map(|l| l.split(" |").next())
        .flat_map(|cell| {
            cell.split('`')
                .skip(1)
                .step_by(2)
                .map(String::from)
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The binaries docker/Dockerfile installs: `integramon`, `integramon-*`, `cpi-sim`, less the
/// ones it removes. Checked against its copy line, so a change there shows up here.
fn image_has(binary: &str) -> bool {
    let dockerfile =
        std::fs::read_to_string(workspace().join("docker/Dockerfile")).expect("Dockerfile");
    assert!(
        dockerfile.contains(
            "cp target/release/integramon target/release/integramon-* target/release/cpi-sim /out/"
        ),
        "docker/Dockerfile installs other binaries than this test knows"
    );
    assert!(dockerfile.contains("rm -f /out/*.d /out/integramon-sqlite-load"));
    (binary == "integramon" || binary.starts_with("integramon-") || binary == "cpi-sim")
        && binary != "integramon-sqlite-load"
}

#[test]
fn the_file_has_the_shape_production_needs() {
    let file = compose();
    let all = services(&file);
    let ours: Vec<&Service> = all
        .iter()
        .filter(|s| !EXTERNAL.iter().any(|(e, _)| *e == s.name))
        .collect();

    // One image for everything of ours, built from docker/Dockerfile.
    for s in &ours {
        assert_eq!(
            s.image().as_deref(),
            Some("integramon:latest"),
            "{}",
            s.name
        );
        assert_eq!(
            scalar(&s.y["build"]["dockerfile"]).as_deref(),
            Some("docker/Dockerfile"),
            "{}",
            s.name
        );
        let cmd = s.command();
        assert!(!cmd.is_empty(), "{}: no command", s.name);
        assert!(
            image_has(&cmd[0]),
            "{}: the image has no {}",
            s.name,
            cmd[0]
        );
    }

    // PostgreSQL and RabbitMQ: health checks, their data on volumes.
    for (name, data) in [
        ("postgres", "/var/lib/postgresql/data"),
        ("rabbitmq", "/var/lib/rabbitmq"),
    ] {
        let s = service(&all, name);
        assert!(s.healthcheck().is_some(), "{name} has no health check");
        assert!(
            s.volumes()
                .iter()
                .any(|(src, dst)| dst == data && !src.starts_with(['.', '/'])),
            "{name} keeps {data} on a named volume"
        );
    }

    // migrate: a one-shot after a healthy database.
    let migrate = service(&all, "migrate");
    assert_eq!(migrate.command(), ["integramon-migrate"]);
    assert_eq!(scalar(&migrate.y["restart"]).as_deref(), Some("no"));
    assert_eq!(
        migrate.depends_on().get("postgres").map(String::as_str),
        Some("service_healthy")
    );
    assert!(
        migrate.healthcheck().is_none(),
        "a one-shot has no health check"
    );

    let data_dir = migrate.env("DATA_DIR").expect("DATA_DIR");
    let data_volume = migrate
        .volumes()
        .into_iter()
        .find(|(_, dst)| *dst == data_dir)
        .map(|(src, _)| src)
        .unwrap_or_else(|| panic!("migrate has no volume at DATA_DIR {data_dir}"));
    let declared = keys(&file["volumes"]);
    for s in &all {
        for (src, _) in s.volumes() {
            if !src.starts_with(['.', '/']) {
                assert!(
                    declared.contains(&src),
                    "{}: volume {src} is not declared",
                    s.name
                );
            }
        }
    }

    let documented = documented_settings();
    for (name, binary) in DAEMONS {
        let s = service(&all, name);
        let cmd = s.command();
        assert_eq!(cmd[0], binary, "{name} runs {binary}");
        let deps = s.depends_on();
        for (dep, cond) in [
            ("migrate", "service_completed_successfully"),
            ("postgres", "service_healthy"),
            ("rabbitmq", "service_healthy"),
        ] {
            assert_eq!(
                deps.get(dep).map(String::as_str),
                Some(cond),
                "{name} depends on {dep} with condition {cond}"
            );
        }
        // The health check is the daemon's own subcommand, and it probes the address the
        // daemon listens on: `--listen` and the variable the subcommand reads agree.
        assert_eq!(
            s.healthcheck(),
            Some(vec![
                "CMD".to_string(),
                binary.to_string(),
                "healthcheck".into()
            ]),
            "{name}'s health check"
        );
        let listen_var = format!("{}_LISTEN", name.to_uppercase().replace('-', "_"));
        let listen_env = s
            .env(&listen_var)
            .unwrap_or_else(|| panic!("{name} sets no {listen_var}"));
        let flag = cmd
            .iter()
            .position(|a| a == "--listen")
            .map(|i| cmd[i + 1].clone());
        if let Some(flag) = flag {
            assert_eq!(flag, listen_env, "{name}: --listen and {listen_var} differ");
        }
        assert!(
            listen_env.starts_with("0.0.0.0:") || listen_env.starts_with("[::]:"),
            "{name} must listen on all interfaces of its container, not {listen_env}"
        );
        // All of them share the data volume at DATA_DIR (marker, secret key, archives).
        assert_eq!(
            s.env("DATA_DIR").as_deref(),
            Some(data_dir.as_str()),
            "{name}"
        );
        assert!(
            s.volumes()
                .contains(&(data_volume.clone(), data_dir.clone())),
            "{name} mounts {data_volume} at {data_dir}"
        );
        // Every variable is a setting IntegraMon knows, and hosts are services of the file.
        for (k, v) in s.environment() {
            assert!(
                documented.contains(&k),
                "{name}: {k} is not a documented setting"
            );
            if k.ends_with("_HOST") {
                assert!(
                    all.iter().any(|o| o.name == v),
                    "{name}: {k}={v} is no service"
                );
            }
        }
        let amqp = s
            .env("AMQP_URL")
            .unwrap_or_else(|| panic!("{name} sets no AMQP_URL"));
        let broker = amqp.rsplit_once('@').map(|(_, h)| h).unwrap_or_default();
        assert!(
            broker.starts_with("rabbitmq:5672/"),
            "{name}: AMQP_URL host {broker:?}"
        );
        assert!(
            s.profiles().is_empty(),
            "{name} must start without a profile"
        );
    }
    for (k, _) in migrate.environment() {
        assert!(
            documented.contains(&k),
            "migrate: {k} is not a documented setting"
        );
    }

    // The worker scales: nothing that names or binds one container.
    let worker = service(&all, "ingest-worker");
    assert!(
        worker.y["container_name"].is_badvalue(),
        "ingest-worker has a container_name"
    );
    assert!(
        worker.y["ports"].is_badvalue(),
        "ingest-worker publishes host ports"
    );
    assert!(
        worker.y["hostname"].is_badvalue(),
        "ingest-worker has a fixed hostname"
    );

    // The web UI is published on the port it listens on.
    let web = service(&all, "web");
    let web_port: u16 = web
        .env("WEB_LISTEN")
        .and_then(|l| l.rsplit(':').next()?.parse().ok())
        .expect("WEB_LISTEN port");
    assert_eq!(web.published(), [web_port], "web publishes its listen port");

    // The simulated tenant only with --profile demo.
    let sim = service(&all, "cpi-sim");
    assert_eq!(sim.profiles(), ["demo"]);
    assert_eq!(sim.command()[0], "cpi-sim");
    for s in &all {
        if s.name != "cpi-sim" {
            assert!(s.profiles().is_empty(), "{} is under a profile", s.name);
        }
    }

    // Secrets: every password and key comes from the env file, with no default (the demo
    // tenant's own password excepted), and .env is never committed.
    for s in &all {
        let mut values: Vec<(String, String)> = s.environment();
        let cmd = s.command();
        for w in cmd.windows(2) {
            if w[0] == "--password" {
                values.push(("--password".into(), w[1].clone()));
            }
        }
        for (k, v) in values {
            let url = k.ends_with("_URL");
            if !(url || k.contains("PASSWORD") || k.contains("SECRET") || k.ends_with("_PASS")) {
                continue;
            }
            // Every variable set, each marked, so the secret's part shows where it comes from.
            let marked = interpolate(&v, &|name| Some(format!("\u{1}{name}\u{2}")))
                .unwrap_or_else(|e| panic!("{}: {k}: {e}", s.name));
            let secret = if url {
                // scheme://user:password@host
                match marked
                    .split_once("://")
                    .and_then(|(_, r)| r.split_once('@'))
                {
                    Some((userinfo, _)) => userinfo
                        .split_once(':')
                        .map(|(_, p)| p.to_string())
                        .unwrap_or_default(),
                    None => continue,
                }
            } else {
                marked
            };
            let from = secret
                .strip_prefix('\u{1}')
                .and_then(|r| r.strip_suffix('\u{2}'))
                .filter(|n| !n.contains(['\u{1}', '\u{2}']))
                .unwrap_or_else(|| {
                    panic!(
                        "{}: {k} must come from the env file alone, not {v:?}",
                        s.name
                    )
                });
            let op = references(&v)
                .into_iter()
                .find(|(n, _)| n == from)
                .map(|(_, op)| op)
                .unwrap_or_default();
            let no_default =
                op.is_empty() || op.starts_with(":?") || op.starts_with('?') || op == ":-";
            assert!(
                no_default || s.name == "cpi-sim",
                "{}: {k} has a committed default: {v:?}",
                s.name
            );
        }
    }
    let gitignore = std::fs::read_to_string(workspace().join(".gitignore")).expect(".gitignore");
    assert!(
        gitignore.lines().any(|l| l.trim() == ".env"),
        ".env must be git-ignored"
    );
    let tracked = Command::new("git")
        .args(["ls-files", "--error-unmatch", ".env"])
        .current_dir(workspace())
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(!tracked, ".env is committed");

    // Every variable the file reads is in .env.example (set, or commented out with its default),
    // and the required ones are set there.
    let example = env_example();
    for (name, op) in file_references() {
        if ["POSTGRES_USER", "POSTGRES_DB"].contains(&name.as_str()) {
            continue; // `$${…}`: the container's own variables, for its shell
        }
        assert!(
            example.contains_key(&name),
            ".env.example does not mention {name}"
        );
        if op.starts_with(":?") || op.starts_with('?') {
            assert!(
                !example[&name].is_empty(),
                ".env.example must set the required {name}"
            );
        }
    }
}

#[test]
fn interpolation_follows_compose() {
    let vars = |k: &str| match k {
        "SET" => Some("v".to_string()),
        "EMPTY" => Some(String::new()),
        _ => None,
    };
    let i = |s: &str| interpolate(s, &vars);
    assert_eq!(i("a${SET}b$SET.$$x").unwrap(), "avbv.$x");
    assert_eq!(
        i("${EMPTY:-d} ${EMPTY-d} ${UNSET-d} ${UNSET:-d}").unwrap(),
        "d  d d"
    );
    assert_eq!(i("${SET:+alt}${EMPTY:+alt}").unwrap(), "alt");
    assert!(i("${EMPTY:?needed}").unwrap_err().contains("needed"));
    assert_eq!(i("${EMPTY?needed}").unwrap(), "");
    assert!(i("${UNSET?needed}").is_err());
    assert_eq!(
        references("x ${A:?m} $B $${C}"),
        [
            ("A".to_string(), ":?m".to_string()),
            ("B".into(), String::new())
        ]
    );
}

// ---- 3. the services as local processes ----------------------------------------------------

/// One process of a service, as its container would run it.
struct Instance {
    service: String,
    /// `web`, `ingest-worker#2`, …
    label: String,
    program: PathBuf,
    args: Vec<String>,
    env: Vec<(String, String)>,
    /// Container port → local port of this instance.
    ports: BTreeMap<u16, u16>,
    healthcheck: Option<Vec<String>>,
    proc: Option<Proc>,
}

impl Instance {
    fn output(&self) -> String {
        self.proc.as_ref().map(Proc::output).unwrap_or_default()
    }

    /// Run its health check as the container would (`CMD` form: a binary of the image).
    fn run_healthcheck(&self) -> Result<(), String> {
        let test = self
            .healthcheck
            .as_ref()
            .ok_or_else(|| format!("{} has no health check", self.label))?;
        assert_eq!(test[0], "CMD", "{}: health check {test:?}", self.label);
        let out = Command::new(bin(&test[1]))
            .args(&test[2..])
            .env_remove("INTEGRAMON_CONFIG")
            .env_remove("CONFIG_JSON_B64")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .output()
            .expect("running the health check");
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{}: `{}` exited {}: {}{}",
                self.label,
                test[1..].join(" "),
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }
}

/// Listen addresses on all interfaces in a value: `0.0.0.0:PORT` (and `[::]:PORT`).
fn wildcard_ports(v: &str) -> Vec<u16> {
    let mut ports = Vec::new();
    for prefix in ["0.0.0.0:", "[::]:"] {
        let mut rest = v;
        while let Some(at) = rest.find(prefix) {
            rest = &rest[at + prefix.len()..];
            let n = rest
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(rest.len());
            if let Ok(p) = rest[..n].parse() {
                ports.push(p);
            }
        }
    }
    ports
}

/// Rewrite a value for a local process (see the module documentation).
fn localize(
    key: &str,
    v: &str,
    own: &BTreeMap<u16, u16>,
    others: &BTreeMap<(String, u16), u16>,
    volume: Option<(&str, &Path)>,
) -> String {
    let mut v = v.to_string();
    for (from, to) in own {
        for prefix in ["0.0.0.0:", "[::]:"] {
            v = replace_port(&v, &format!("{prefix}{from}"), &format!("127.0.0.1:{to}"));
        }
    }
    let names: BTreeSet<&String> = others.keys().map(|(s, _)| s).collect();
    if key.ends_with("_HOST") && names.contains(&v) {
        return "127.0.0.1".into();
    }
    for ((svc, port), local) in others {
        for before in ["//", "@"] {
            v = replace_port(
                &v,
                &format!("{before}{svc}:{port}"),
                &format!("{before}127.0.0.1:{local}"),
            );
        }
        if v.starts_with(&format!("{svc}:{port}")) {
            v = format!(
                "127.0.0.1:{local}{}",
                &v[svc.len() + 1 + port.to_string().len()..]
            );
        }
    }
    if let Some((mount, dir)) = volume
        && (v == mount || v.starts_with(&format!("{mount}/")))
    {
        v = format!("{}{}", dir.display(), &v[mount.len()..]);
    }
    v
}

/// Replace `from` (ending in a port) where no further digit follows.
fn replace_port(v: &str, from: &str, to: &str) -> String {
    let mut out = String::new();
    let mut rest = v;
    while let Some(at) = rest.find(from) {
        let after = &rest[at + from.len()..];
        out.push_str(&rest[..at]);
        if after.starts_with(|c: char| c.is_ascii_digit()) {
            out.push_str(from);
        } else {
            out.push_str(to);
        }
        rest = after;
    }
    out.push_str(rest);
    out
}

/// Dependency order: a service after everything it depends on (the file's order otherwise).
fn start_order(all: &[Service], skip: &[&str]) -> Vec<String> {
    let mut order: Vec<String> = Vec::new();
    let mut left: Vec<&Service> = all
        .iter()
        .filter(|s| !skip.contains(&s.name.as_str()))
        .collect();
    while !left.is_empty() {
        let next = left
            .iter()
            .position(|s| {
                s.depends_on()
                    .keys()
                    .all(|d| skip.contains(&d.as_str()) || order.contains(d))
            })
            .unwrap_or_else(|| {
                panic!(
                    "a dependency cycle or an unknown dependency among {:?}",
                    left.iter().map(|s| &s.name).collect::<Vec<_>>()
                )
            });
        order.push(left.remove(next).name.clone());
    }
    order
}

/// Deletes the test's queues at the end, whatever happened.
struct Queues(Vec<(String, String)>);

impl Drop for Queues {
    fn drop(&mut self) {
        let env: HashMap<String, String> = self.0.iter().cloned().collect();
        let Ok(config) = queue::QueueConfig::from_lookup(|k| env.get(k).cloned()) else {
            return;
        };
        let Ok(q) = queue::AmqpQueue::new(config) else {
            return;
        };
        if let Ok(rt) = tokio::runtime::Runtime::new() {
            rt.block_on(async {
                let _ = tokio::time::timeout(Duration::from_secs(15), q.delete_topology()).await;
                q.close().await;
            });
        }
    }
}

#[test]
fn the_services_run_as_compose_runs_them_and_collect_from_the_demo_tenant() {
    store::install_tls_provider();
    let database = Database::postgres();
    let (db_name, data_dir) = match &database {
        Database::Target(Target::Postgres { db, data }) => {
            (db.name.clone(), data.path().to_path_buf())
        }
        _ => unreachable!("a PostgreSQL database"),
    };
    let token = || uuid::Uuid::new_v4().simple().to_string();
    // The test's .env.
    let dotenv: BTreeMap<&str, String> = BTreeMap::from([
        ("DB_NAME", db_name.clone()),
        ("DB_USER", "postgres".to_string()),
        ("DB_PASSWORD", token()),
        ("RABBITMQ_USER", "guest".to_string()),
        ("RABBITMQ_PASSWORD", "guest".to_string()),
        // Empty as in .env.example: the key file is made in the shared data volume.
        ("SECRET_KEY", String::new()),
        ("WEB_ADMIN_USER", "admin".to_string()),
        ("WEB_ADMIN_PASSWORD", token()),
        ("CPI_SIM_PASSWORD", token()),
    ]);
    let vars = |k: &str| dotenv.get(k).cloned();
    let prefix = format!("imt-compose-{}", &token()[..12]);

    let file = compose();
    let all = services(&file);
    let external: Vec<&str> = EXTERNAL.iter().map(|(s, _)| *s).collect();
    // Where the other services are reached: the machine's servers, and each single-instance
    // service of ours on a port of its own.
    let mut reach: BTreeMap<(String, u16), u16> = EXTERNAL
        .iter()
        .map(|(s, p)| ((s.to_string(), *p), *p))
        .collect();

    // Build every instance: command, environment, ports.
    let order = start_order(&all, &external);
    let mut instances: Vec<Instance> = Vec::new();
    for name in &order {
        let s = service(&all, name);
        let scale = if name == "ingest-worker" { WORKERS } else { 1 };
        let i = |v: &str| {
            interpolate(v, &vars).unwrap_or_else(|e| panic!("{name}: interpolating {v:?}: {e}"))
        };
        let command: Vec<String> = s.command().iter().map(|a| i(a)).collect();
        let env: Vec<(String, String)> = s
            .environment()
            .iter()
            .map(|(k, v)| (k.clone(), i(v)))
            .collect();
        let mount = env
            .iter()
            .find(|(k, _)| k == "DATA_DIR")
            .map(|(_, v)| v.clone());
        if let Some(m) = &mount {
            assert!(
                s.volumes().iter().any(|(_, dst)| dst == m),
                "{name}: DATA_DIR {m} is not on a volume"
            );
        }
        for n in 1..=scale {
            let mut ports = BTreeMap::new();
            for v in command.iter().chain(env.iter().map(|(_, v)| v)) {
                for p in wildcard_ports(v) {
                    ports.entry(p).or_insert_with(free_port);
                }
            }
            if scale == 1 {
                for (p, local) in &ports {
                    reach.insert((name.clone(), *p), *local);
                }
            }
            instances.push(Instance {
                service: name.clone(),
                label: if scale == 1 {
                    name.clone()
                } else {
                    format!("{name}#{n}")
                },
                program: {
                    assert!(
                        image_has(&command[0]),
                        "{name}: the image has no {}",
                        command[0]
                    );
                    bin(&command[0])
                },
                args: command[1..].to_vec(),
                env: env.clone(),
                ports,
                healthcheck: s.healthcheck().map(|t| t.iter().map(|a| i(a)).collect()),
                proc: None,
            });
        }
    }
    // Values rewritten for local processes now that every port is known.
    for inst in &mut instances {
        let mount = inst
            .env
            .iter()
            .find(|(k, _)| k == "DATA_DIR")
            .map(|(_, v)| v.clone());
        let volume = mount.as_deref().map(|m| (m, data_dir.as_path()));
        let l = |k: &str, v: &str| localize(k, v, &inst.ports, &reach, volume);
        inst.args = inst.args.iter().map(|a| l("", a)).collect();
        inst.env = inst.env.iter().map(|(k, v)| (k.clone(), l(k, v))).collect();
        inst.env.push(("AMQP_PREFIX".into(), prefix.clone()));
    }
    let amqp_env = instances
        .iter()
        .find(|i| i.service == "migrate")
        .map(|i| i.env.clone())
        .expect("migrate");
    let _queues = Queues(amqp_env);

    // Start in dependency order, honouring each condition.
    for idx in 0..instances.len() {
        let name = instances[idx].service.clone();
        for (dep, cond) in service(&all, &name).depends_on() {
            if external.contains(&dep.as_str()) {
                continue; // the machine's servers run and answer (scripts/test-deps)
            }
            for d in instances.iter_mut().filter(|i| i.service == dep) {
                match cond.as_str() {
                    "service_completed_successfully" => {
                        let p = d.proc.as_mut().expect("started");
                        let status = p.wait(180);
                        assert!(
                            status.success(),
                            "{} exited {status}:\n{}",
                            d.label,
                            p.output()
                        );
                    }
                    "service_healthy" => {
                        wait_for(120, &format!("{} to be healthy", d.label), || {
                            d.run_healthcheck().ok()
                        });
                    }
                    "service_started" => {}
                    other => panic!("{name}: unknown condition {other}"),
                }
            }
        }
        let inst = &mut instances[idx];
        let args: Vec<&str> = inst.args.iter().map(String::as_str).collect();
        inst.proc = Some(Proc::spawn(&inst.program, &args, &inst.env));
    }

    // The web API, where compose publishes it.
    let web_idx = instances
        .iter()
        .position(|i| i.service == "web")
        .expect("web");
    let web_svc = service(&all, "web");
    let published = web_svc.published()[0];
    let web_port = instances[web_idx].ports[&published];
    let base_path = instances[web_idx]
        .env
        .iter()
        .find(|(k, _)| k == "APP_BASE_PATH")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let web_proc = instances[web_idx].proc.take().expect("web runs");
    let web = Web::attach(
        web_proc,
        &format!("127.0.0.1:{web_port}"),
        &base_path,
        database,
    );
    let (admin_user, admin_password) = (
        dotenv["WEB_ADMIN_USER"].clone(),
        dotenv["WEB_ADMIN_PASSWORD"].clone(),
    );
    wait_for(60, "the admin from WEB_ADMIN_USER", || {
        web.client().try_login(&admin_user, &admin_password).ok()
    });
    let admin = web.client().login(&admin_user, &admin_password);

    // The demo tenant, as an operator would enter it: the address compose gives it, the user
    // and password of its command line.
    let sim = instances
        .iter()
        .find(|i| i.service == "cpi-sim")
        .expect("cpi-sim");
    let sim_port = *sim.ports.values().next().expect("cpi-sim listens");
    let sim_container_port = *sim.ports.keys().next().expect("cpi-sim port");
    let arg = |flag: &str| {
        sim.args
            .iter()
            .position(|a| a == flag)
            .map(|i| sim.args[i + 1].clone())
            .unwrap_or_else(|| panic!("cpi-sim has no {flag}"))
    };
    let api_url = localize(
        "",
        &format!("http://cpi-sim:{sim_container_port}"),
        &BTreeMap::new(),
        &reach,
        None,
    );
    assert_eq!(api_url, format!("http://127.0.0.1:{sim_port}"));
    let (status, tenant) = admin.json(
        Method::POST,
        "/api/tenants",
        Some(json!({
            "name": "demo", "api_url": api_url,
            "auth": {"kind": "basic", "username": arg("--user")}, "secret": arg("--password"),
        })),
    );
    assert_eq!(status, 201, "creating the tenant: {tenant}");

    let dump = |instances: &[Instance]| -> String {
        instances
            .iter()
            .map(|i| {
                let out = i.output();
                let lines: Vec<&str> = out.lines().collect();
                format!(
                    "--- {} (last 30 lines)\n{}",
                    i.label,
                    lines[lines.len().saturating_sub(30)..].join("\n")
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    };

    // Messages flow from the simulator through the workers into the database and the API.
    let mut seen = 0;
    for _ in 0..(240 * 2) {
        let (s, list) = admin.get_json("/api/messages?range=24h&limit=10&facets=false");
        seen = if s == 200 {
            list["items"].as_array().map_or(0, Vec::len)
        } else {
            0
        };
        if seen > 0 {
            break;
        }
        for i in instances.iter_mut().filter(|i| i.service != "migrate") {
            if let Some(p) = i.proc.as_mut() {
                assert!(p.is_running(), "{} exited:\n{}", i.label, p.output());
            }
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(
        seen > 0,
        "no messages after 240 s\n{}\n{}",
        dump(&instances),
        web.output()
    );

    // Both workers took jobs: runs name the worker as `<host>-<pid>`.
    let pids: Vec<(String, i32)> = instances
        .iter()
        .filter(|i| i.service == "ingest-worker")
        .map(|i| (i.label.clone(), i.proc.as_ref().expect("runs").pid()))
        .collect();
    assert_eq!(pids.len(), WORKERS);
    let mut workers_seen = BTreeSet::new();
    for _ in 0..(180 * 2) {
        let (s, runs) = admin.get_json("/api/jobs/runs?limit=1000");
        assert_eq!(s, 200, "{runs}");
        workers_seen = runs
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r["worker"].as_str().map(String::from))
            .collect();
        if pids
            .iter()
            .all(|(_, pid)| workers_seen.iter().any(|w| w.ends_with(&format!("-{pid}"))))
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    for (label, pid) in &pids {
        assert!(
            workers_seen.iter().any(|w| w.ends_with(&format!("-{pid}"))),
            "{label} (pid {pid}) ran no job; runs were taken by {workers_seen:?}\n{}",
            dump(&instances)
        );
    }

    // Every daemon's health check passes, the web's included.
    let web_inst = &instances[web_idx];
    web_inst
        .run_healthcheck()
        .unwrap_or_else(|e| panic!("{e}\n{}", web.output()));
    for i in &instances {
        if i.service == "migrate" || i.service == "web" {
            continue;
        }
        match &i.healthcheck {
            Some(_) => i
                .run_healthcheck()
                .unwrap_or_else(|e| panic!("{e}\n{}", i.output())),
            None => assert_eq!(i.service, "cpi-sim", "{} has no health check", i.label),
        }
    }
    // Each daemon was ready on the port its compose listen address maps to, and a secret key
    // file was made once, in the shared volume.
    assert!(
        data_dir.join("secret.key").is_file(),
        "no secret key in the data volume"
    );
    drop(instances);
}

/// The variants: an external PostgreSQL (TLS by default, the host required) and one container
/// with its internal PostgreSQL (`DB_LOCAL=true`, `integramon up`, no broker).
#[test]
fn the_external_and_internal_postgresql_variants_are_valid() {
    let dir = tempfile::tempdir().expect("temp dir");
    for f in ["compose.external-db.yaml", "compose.local-db.yaml"] {
        std::fs::copy(workspace().join(f), dir.path().join(f)).expect("copy variant");
    }
    std::fs::create_dir_all(dir.path().join("docker")).expect("docker/");
    let example = std::fs::read_to_string(workspace().join(".env.example")).expect(".env.example");
    let env = example.replace("change-me", "a-real-secret");
    let config = |file: &str, extra_env: &str| {
        std::fs::write(dir.path().join(".env"), format!("{env}\n{extra_env}\n")).expect(".env");
        let out = Command::new("docker-compose")
            .args(["--project-directory", ".", "-f", file, "config"])
            .current_dir(dir.path())
            .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
            .env_remove("DB_HOST")
            .env_remove("COMPOSE_FILE")
            .output()
            .expect("docker-compose must be installed (scripts/test-deps installs Debian's)");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    };
    let (ok, out) = config("compose.external-db.yaml", "");
    assert!(
        !ok && out.contains("DB_HOST"),
        "an external database needs DB_HOST:\n{out}"
    );
    let (ok, out) = config("compose.external-db.yaml", "DB_HOST=db.example.com");
    assert!(ok, "{out}");
    assert!(
        out.contains("DB_SSLMODE: require"),
        "TLS by default:\n{out}"
    );
    assert!(!out.contains("postgres:17"), "no bundled database:\n{out}");
    let (ok, out) = config("compose.local-db.yaml", "");
    assert!(ok, "{out}");
    assert!(
        out.contains("DB_LOCAL: 'true'") || out.contains("DB_LOCAL: \"true\""),
        "{out}"
    );
    assert!(
        !out.contains("rabbitmq"),
        "the all-in-one container needs no broker:\n{out}"
    );
}
