//! The compose files, tested on a machine without a Docker engine.
//!
//! 1. Debian's `docker-compose` (v1, which resolves and validates a file against the compose
//!    schema without an engine) accepts every file. `compose.yaml` and `compose.local-db.yaml`
//!    need no `.env` at all (a fresh clone); the external-database variant needs `DB_HOST` and
//!    `DB_PASSWORD`. An `.env` made from `.env.example` is accepted too, and its values are used.
//! 2. Structural checks a wrong `compose.yaml` fails: one image; the one-shot `secrets` service
//!    first, `migrate` a one-shot the daemons wait for; PostgreSQL and RabbitMQ healthy first and
//!    reading their passwords from the secrets volume, as every daemon does; a scalable
//!    `ingest-worker`; health checks that run `<binary> healthcheck` against the address the
//!    daemon listens on; the demo tenant only under the `demo` profile; volumes for the
//!    database and `DATA_DIR`; no secret with a committed value; every variable a documented
//!    setting. The image's PostgreSQL tools match every bundled server.
//! 3. Every compose file's stack comes up as local processes ([`stack`] says what stands in for
//!    the containers): `compose.yaml` from a fresh clone (no `.env`) with two `ingest-worker`s
//!    and `cpi-sim` (profile `demo`) until the demo tenant's messages reach the web API and both
//!    workers took jobs; the external-database variant against a TLS PostgreSQL; the
//!    internal-PostgreSQL variant (`integramon up`, `DB_LOCAL=true`). In each, the admin signs in
//!    with the password printed once in the log and every health check passes.

#[path = "compose/file.rs"]
mod file;
#[path = "compose/stack.rs"]
mod stack;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use integramon_tests::collect::Database;
use integramon_tests::private_pg::{self, PrivateCluster};
use integramon_tests::web::{Client, Web};
use integramon_tests::{bin, workspace};
use reqwest::Method;
use serde_json::json;
use yaml_rust2::YamlLoader;

use file::{
    Service, env_example, file_references, interpolate, keys, merge_keys, references, scalar,
    service, services,
};
use stack::{Options, Stack, printed_admin_password};

/// The services that stand in for containers of other images, with their ports.
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
/// The volume the `secrets` service fills.
const SECRETS_VOLUME: &str = "integramon-secrets";

fn compose() -> yaml_rust2::Yaml {
    file::load("compose.yaml")
}

// ---- 1. docker-compose ---------------------------------------------------------------------

/// `docker-compose -f FILE ARGS` in `dir` (a copy of the files, and `.env` if the test wrote one).
fn docker_compose(dir: &Path, file: &str, args: &[&str]) -> (bool, String) {
    let mut cmd = Command::new("docker-compose");
    // Only the .env file sets the file's variables, not the shell running the test.
    for f in file::FILES {
        for (name, _) in file_references(f) {
            cmd.env_remove(name);
        }
    }
    let out = cmd
        .args(["--project-directory", ".", "-f", file])
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

fn copy_of_the_files() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    for f in file::FILES {
        std::fs::copy(workspace().join(f), dir.path().join(f)).expect("copy a compose file");
    }
    std::fs::create_dir_all(dir.path().join("docker")).expect("docker/");
    std::fs::copy(
        workspace().join("docker/Dockerfile"),
        dir.path().join("docker/Dockerfile"),
    )
    .expect("copy docker/Dockerfile");
    dir
}

#[test]
fn docker_compose_accepts_every_file_and_a_fresh_clone_needs_no_env_file() {
    let dir = copy_of_the_files();
    // A fresh clone: no .env.
    for f in ["compose.yaml", "compose.local-db.yaml"] {
        let (ok, out) = docker_compose(dir.path(), f, &["config", "-q"]);
        assert!(ok, "docker-compose refuses {f} without an .env:\n{out}");
    }
    let (ok, out) = docker_compose(
        dir.path(),
        "compose.yaml",
        &["--profile", "demo", "config", "-q"],
    );
    assert!(ok, "docker-compose --profile demo config:\n{out}");
    // An external database cannot be guessed.
    let (ok, out) = docker_compose(dir.path(), "compose.external-db.yaml", &["config", "-q"]);
    assert!(
        !ok && (out.contains("DB_HOST") || out.contains("DB_PASSWORD")),
        "an external database needs DB_HOST and DB_PASSWORD:\n{out}"
    );

    // With an .env made from .env.example, its values are used.
    let example = std::fs::read_to_string(workspace().join(".env.example")).expect(".env.example");
    std::fs::write(
        dir.path().join(".env"),
        format!(
            "{example}\nDB_PASSWORD=a-real-secret\nRABBITMQ_PASSWORD=another-secret\n\
             DB_HOST=db.example.com\n"
        ),
    )
    .expect(".env");
    for f in file::FILES {
        let (ok, out) = docker_compose(dir.path(), f, &["config", "-q"]);
        assert!(ok, "docker-compose config refuses {f}:\n{out}");
    }
    let (ok, resolved) =
        docker_compose(dir.path(), "compose.yaml", &["--profile", "demo", "config"]);
    assert!(ok, "{resolved}");
    assert!(
        resolved.contains("a-real-secret") && resolved.contains("another-secret"),
        "{resolved}"
    );
    let (ok, out) = docker_compose(dir.path(), "compose.external-db.yaml", &["config"]);
    assert!(ok, "{out}");
    assert!(
        out.contains("DB_SSLMODE: require"),
        "TLS by default:\n{out}"
    );
    assert!(
        !out.contains("image: postgres"),
        "no bundled database:\n{out}"
    );
    let (ok, out) = docker_compose(dir.path(), "compose.local-db.yaml", &["config"]);
    assert!(ok, "{out}");
    assert!(
        out.contains("DB_LOCAL: 'true'") || out.contains("DB_LOCAL: \"true\""),
        "{out}"
    );
    assert!(
        !out.contains("rabbitmq"),
        "the all-in-one container needs no broker:\n{out}"
    );

    // The services, the demo tenant among them. (docker-compose v1 lists services of every
    // profile here; that `cpi-sim` is under `demo` alone is checked by the structure test.)
    let (ok, out) = docker_compose(
        dir.path(),
        "compose.yaml",
        &["--profile", "demo", "config", "--services"],
    );
    assert!(ok, "{out}");
    let listed: BTreeSet<String> = out.lines().map(|l| l.trim().to_string()).collect();
    let expected: BTreeSet<String> = EXTERNAL
        .iter()
        .map(|(s, _)| *s)
        .chain(DAEMONS.iter().map(|(s, _)| *s))
        .chain(["secrets", "migrate", "cpi-sim"])
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
    let ours: Vec<&Service> = all.iter().filter(|s| !stack::is_stand_in(s)).collect();

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

    // Secrets: a fresh clone starts without any. The one-shot `secrets` service runs first and
    // fills the secrets volume; PostgreSQL, RabbitMQ and every daemon read from there.
    let secrets = service(&all, "secrets");
    assert_eq!(scalar(&secrets.y["restart"]).as_deref(), Some("no"));
    assert!(
        secrets.healthcheck().is_none(),
        "a one-shot has no health check"
    );
    let cmd = secrets.command();
    assert_eq!(cmd[..3], ["integramon", "secrets", "init"], "{cmd:?}");
    let arg = |flag: &str| {
        cmd.iter()
            .position(|a| a == flag)
            .map(|i| cmd[i + 1].clone())
            .unwrap_or_else(|| panic!("secrets: no {flag}"))
    };
    let (secrets_dir, conf_dir) = (arg("--dir"), arg("--rabbitmq-conf-dir"));
    let mounted = |s: &Service, target: &str| -> String {
        s.volumes()
            .into_iter()
            .find(|(_, dst)| dst == target)
            .map(|(src, _)| src)
            .unwrap_or_else(|| panic!("{}: nothing mounted at {target}", s.name))
    };
    assert_eq!(mounted(secrets, &secrets_dir), SECRETS_VOLUME);
    let conf_volume = mounted(secrets, &conf_dir);
    assert_eq!(
        mounted(secrets, &data_dir),
        data_volume,
        "secrets makes the key in the data volume"
    );
    for name in ["postgres", "rabbitmq"] {
        assert_eq!(
            service(&all, name)
                .depends_on()
                .get("secrets")
                .map(String::as_str),
            Some("service_completed_successfully"),
            "{name} waits for the secrets"
        );
    }
    let pg = service(&all, "postgres");
    assert_eq!(mounted(pg, &secrets_dir), SECRETS_VOLUME);
    assert_eq!(
        pg.env("POSTGRES_PASSWORD_FILE"),
        Some(format!("{secrets_dir}/db_password"))
    );
    assert_eq!(
        mounted(service(&all, "rabbitmq"), "/etc/rabbitmq/conf.d"),
        conf_volume,
        "RabbitMQ reads the conf.d file secrets writes"
    );
    let secret_var =
        |k: &str| k.contains("PASSWORD") || k.contains("SECRET") || k.ends_with("_PASS");
    for s in &all {
        let mut values: Vec<(String, String)> = s.environment();
        let cmd = s.command();
        for w in cmd.windows(2) {
            if w[0] == "--password" {
                values.push(("--password".into(), w[1].clone()));
            }
        }
        for (k, v) in values {
            if k.ends_with("_FILE") && secret_var(&k) {
                // A file of the secrets volume, mounted where the variable points.
                let (dir, _) = v.rsplit_once('/').unwrap_or_default();
                assert_eq!(
                    mounted(s, dir),
                    SECRETS_VOLUME,
                    "{}: {k}={v} is not in the secrets volume",
                    s.name
                );
                continue;
            }
            if k.ends_with("_URL") {
                // No password in a URL: it comes from a file.
                let resolved = interpolate(&v, &|_| None).unwrap_or_default();
                let userinfo = resolved
                    .split_once("://")
                    .and_then(|(_, r)| r.split_once('@'))
                    .map(|(u, _)| u.to_string())
                    .unwrap_or_default();
                assert!(
                    !userinfo.contains(':'),
                    "{}: {k} carries a password: {v:?}",
                    s.name
                );
                continue;
            }
            if !secret_var(&k) {
                continue;
            }
            // Anything else secret: from .env alone (an override), never with a committed value.
            let refs = references(&v);
            assert!(
                refs.len() == 1 && interpolate(&v, &|_| None).unwrap_or_default().is_empty()
                    || s.name == "cpi-sim",
                "{}: {k} has a committed value: {v:?}",
                s.name
            );
        }
    }
    // Nothing is required: `docker compose up` on a fresh clone.
    for (name, op) in file_references("compose.yaml") {
        assert!(
            !(op.starts_with(":?") || op.starts_with('?')),
            "compose.yaml requires {name}; a fresh clone has no .env"
        );
    }
    for s in ours
        .iter()
        .filter(|s| s.name != "secrets" && s.name != "cpi-sim")
    {
        for (var, file) in [
            ("DB_PASSWORD_FILE", "db_password"),
            ("AMQP_PASSWORD_FILE", "rabbitmq_password"),
        ] {
            assert_eq!(
                s.env(var),
                Some(format!("{secrets_dir}/{file}")),
                "{}: {var}",
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
    for (name, op) in file_references("compose.yaml") {
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

// ---- 3. every file's stack as local processes ----------------------------------------------

/// Sign in as the admin the web created with the password it printed once, and choose a new
/// password as the first sign-in asks.
fn first_admin<'a>(web: &'a Web, output: &dyn Fn() -> String) -> Client<'a> {
    let printed = integramon_tests::wait_for(60, "the first admin's password in the log", || {
        printed_admin_password(&output())
    });
    let client = web.client().login("admin", &printed);
    let new_password = format!("{printed}-changed");
    let (status, body) = client.json(
        Method::POST,
        "/api/me/password",
        Some(json!({"current": printed, "new_password": new_password})),
    );
    assert!(status < 300, "changing the first password: {status} {body}");
    web.client().login("admin", &new_password)
}

/// Every instance with a health check passes it.
fn all_healthy(stack: &Stack) {
    for i in &stack.instances {
        if i.healthcheck.is_some() {
            integramon_tests::wait_for(60, &format!("{} to be healthy", i.label), || {
                i.run_healthcheck().ok()
            });
        }
    }
}

#[test]
fn compose_yaml_comes_up_from_a_fresh_clone_and_collects_from_the_demo_tenant() {
    store::install_tls_provider();
    let mut stack = Stack::up(&Options {
        file: "compose.yaml",
        dotenv: BTreeMap::new(),
        profiles: &["demo"],
        scale: &[("ingest-worker", WORKERS)],
        extra_env: &[],
    });
    // The secrets were generated, and the servers got them: the daemons sign in to both.
    let secrets = stack.volumes[SECRETS_VOLUME].clone();
    for f in ["db_password", "rabbitmq_password"] {
        let text = std::fs::read_to_string(secrets.join(f)).expect("a generated secret");
        assert!(text.trim().len() >= 24, "{f} is too short");
    }
    let data_dir = stack.volumes["integramon-data"].clone();
    assert!(
        data_dir.join("secret.key").is_file(),
        "no secret key in the data volume"
    );

    let web_addr = stack.published("web");
    let web_proc = stack.instance_mut("web").proc.take().expect("web runs");
    let web = Web::attach(web_proc, &web_addr, "", Database::sqlite());
    let admin = first_admin(&web, &|| web.output());

    // The demo tenant, as an operator would enter it: the address compose gives it, the user
    // and password of its command line.
    let sim = stack.instance("cpi-sim");
    let sim_container_port = *sim.ports.keys().next().expect("cpi-sim port");
    let arg = |flag: &str| {
        sim.args
            .iter()
            .position(|a| a == flag)
            .map(|i| sim.args[i + 1].clone())
            .unwrap_or_else(|| panic!("cpi-sim has no {flag}"))
    };
    let api_url = stack::localize(
        "",
        &format!("http://cpi-sim:{sim_container_port}"),
        &BTreeMap::new(),
        &stack.reach,
        &[],
    );
    assert_eq!(
        api_url,
        format!("http://127.0.0.1:{}", sim.ports[&sim_container_port])
    );
    let (status, tenant) = admin.json(
        Method::POST,
        "/api/tenants",
        Some(json!({
            "name": "demo", "api_url": api_url,
            "auth": {"kind": "basic", "username": arg("--user")}, "secret": arg("--password"),
        })),
    );
    assert_eq!(status, 201, "creating the tenant: {tenant}");

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
        stack.assert_running();
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(
        seen > 0,
        "no messages after 240 s\n{}\n{}",
        stack.dump(),
        web.output()
    );

    // Both workers took jobs: runs name the worker as `<host>-<pid>`.
    let pids: Vec<(String, i32)> = stack
        .instances
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
            stack.dump()
        );
    }
    // Every daemon's health check passes, the web's included.
    all_healthy(&stack);
    // No secret in any log.
    let logs = format!("{}{}", stack.dump(), web.output());
    for f in ["db_password", "rabbitmq_password"] {
        let secret = std::fs::read_to_string(secrets.join(f)).unwrap();
        assert!(!logs.contains(secret.trim()), "{f} is in a log");
    }
}

#[test]
fn compose_external_db_yaml_comes_up_against_an_external_tls_database() {
    store::install_tls_provider();
    // The external database: TLS, a password user, its own CA (verify-full against it).
    let password = uuid::Uuid::new_v4().simple().to_string();
    let external = PrivateCluster::start(private_pg::Options {
        tls: true,
        scram_password_user: Some(("integramon".into(), password.clone())),
        hostssl_only: true,
    });
    let dotenv: BTreeMap<String, String> = [
        ("DB_HOST", "127.0.0.1".to_string()),
        ("DB_PORT", external.port().to_string()),
        ("DB_PASSWORD", password.clone()),
        ("DB_NAME", private_pg::DB_NAME.to_string()),
        ("DB_USER", "integramon".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let stack = Stack::up(&Options {
        file: "compose.external-db.yaml",
        dotenv,
        profiles: &[],
        scale: &[],
        extra_env: &[],
    });
    assert!(stack.postgres.is_none(), "no bundled database");
    all_healthy(&stack);
    let web_addr = stack.published("web");
    assert_eq!(stack.instance("web").env("DB_SSLMODE"), Some("require"));
    let mut stack = stack;
    let web_proc = stack.instance_mut("web").proc.take().expect("web runs");
    let web = Web::attach(web_proc, &web_addr, "", Database::sqlite());
    let admin = first_admin(&web, &|| web.output());
    let (status, body) = admin.get_json("/api/tenants");
    assert_eq!(status, 200, "{body}");
    // The connections were TLS: the server saw the application's sessions over SSL.
    let ssl = external.psql("SELECT count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE s.ssl AND a.usename = 'integramon'");
    assert!(ssl.trim() != "0", "no TLS session of the application");
}

#[test]
fn compose_local_db_yaml_comes_up_with_its_internal_postgresql() {
    store::install_tls_provider();
    let mut stack = Stack::up(&Options {
        file: "compose.local-db.yaml",
        dotenv: BTreeMap::new(),
        profiles: &[],
        scale: &[],
        extra_env: &[],
    });
    let data_dir = stack.volumes["integramon-data"].clone();
    let web_addr = stack.published("integramon");
    let up = stack
        .instance_mut("integramon")
        .proc
        .take()
        .expect("integramon up runs");
    let web = Web::attach(up, &web_addr, "", Database::sqlite());
    let admin = first_admin(&web, &|| web.output());
    let (status, body) = admin.get_json("/api/tenants");
    assert_eq!(status, 200, "{body}");
    all_healthy(&stack);
    assert!(
        data_dir.join("postgres").join("PG_VERSION").is_file(),
        "the cluster is not in the data volume"
    );
    let password = std::fs::read_to_string(data_dir.join("postgres.password"))
        .expect("the generated database password");
    assert!(
        !web.output().contains(password.trim()),
        "the password was logged"
    );
    let pid: i32 = std::fs::read_to_string(data_dir.join("postgres").join("postmaster.pid"))
        .expect("postmaster.pid")
        .lines()
        .next()
        .and_then(|l| l.trim().parse().ok())
        .expect("a pid");
    // `docker compose stop` sends SIGTERM: the cluster stops with the container's process.
    let mut web = web;
    web.proc.signal(nix::sys::signal::Signal::SIGTERM);
    let status = web.proc.wait(90);
    assert!(
        status.success(),
        "integramon up: {status}\n{}",
        web.output()
    );
    // Gone, or a zombie nobody has reaped yet (this machine's PID 1 may not reap).
    let running = std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit(')')
            .next()
            .is_some_and(|rest| !rest.trim_start().starts_with('Z'))
    });
    assert!(!running, "postgres {pid} still runs");
    assert!(
        !data_dir.join("postgres").join("postmaster.pid").exists(),
        "postmaster.pid is left behind"
    );
}

#[test]
fn the_secrets_service_keeps_what_it_generated_and_an_env_value_overrides_it() {
    let secrets = integramon_tests::temp_dir();
    let conf = integramon_tests::temp_dir();
    let data = integramon_tests::temp_dir();
    let run = |env: &[(&str, &str)]| {
        let mut all: Vec<(String, String)> =
            vec![("DATA_DIR".into(), data.path().display().to_string())];
        all.extend(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let dir = secrets.path().display().to_string();
        let conf_dir = conf.path().display().to_string();
        let (status, out) = integramon_tests::proc::run(
            &bin("integramon"),
            &[
                "secrets",
                "init",
                "--dir",
                &dir,
                "--rabbitmq-conf-dir",
                &conf_dir,
            ],
            &all,
            60,
        );
        assert!(status.success(), "{out}");
        out
    };
    let read = |f: &str| std::fs::read_to_string(secrets.path().join(f)).expect(f);
    let out = run(&[]);
    let (db, broker) = (read("db_password"), read("rabbitmq_password"));
    assert_ne!(db, broker);
    assert!(
        !out.contains(&db) && !out.contains(&broker),
        "a secret was printed:\n{out}"
    );
    let rabbit = std::fs::read_to_string(conf.path().join("20-integramon.conf")).unwrap();
    assert!(
        rabbit.contains(&format!("default_pass = {broker}")),
        "{rabbit}"
    );
    assert!(rabbit.contains("default_user = integramon"), "{rabbit}");
    let key = std::fs::read_to_string(data.path().join("secret.key")).expect("the key");
    // Again: nothing changes.
    run(&[]);
    assert_eq!(
        (read("db_password"), read("rabbitmq_password")),
        (db.clone(), broker)
    );
    assert_eq!(
        std::fs::read_to_string(data.path().join("secret.key")).unwrap(),
        key
    );
    // An .env value wins.
    run(&[
        ("DB_PASSWORD", "from-dot-env"),
        ("RABBITMQ_PASSWORD", "broker-from-env"),
    ]);
    assert_eq!(read("db_password"), "from-dot-env");
    let rabbit = std::fs::read_to_string(conf.path().join("20-integramon.conf")).unwrap();
    assert!(
        rabbit.contains("default_pass = broker-from-env"),
        "{rabbit}"
    );
    // Files are private to their readers.
    use std::os::unix::fs::PermissionsExt;
    for f in ["db_password", "rabbitmq_password"] {
        let mode = std::fs::metadata(secrets.path().join(f))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o007, 0, "{f} is readable by others: {mode:o}");
    }
}

/// The major version of the PostgreSQL client and server tools docker/Dockerfile installs:
/// `postgresql-client-NN` (and the server's `PG_BIN_DIR`), or Debian's default of its base image
/// for an unversioned `postgresql-client`.
fn image_postgres_major(dockerfile: &str) -> u32 {
    let versioned = |prefix: &str| -> Option<u32> {
        dockerfile.split(prefix).skip(1).find_map(|rest| {
            let n: String = rest.chars().take_while(char::is_ascii_digit).collect();
            n.parse().ok()
        })
    };
    if let Some(v) = versioned("postgresql-client-") {
        return v;
    }
    assert!(
        dockerfile.contains("postgresql-client"),
        "docker/Dockerfile installs no PostgreSQL client tools"
    );
    // Debian's default PostgreSQL per release.
    let base = dockerfile
        .lines()
        .rfind(|l| l.trim_start().starts_with("FROM "))
        .unwrap_or_default();
    [("bullseye", 13), ("bookworm", 15), ("trixie", 17)]
        .into_iter()
        .find(|(codename, _)| base.contains(codename))
        .map(|(_, v)| v)
        .unwrap_or_else(|| panic!("unknown Debian release in {base:?}"))
}

/// `integramon db backup` runs the image's `pg_dump` against the compose file's server, and
/// `DB_LOCAL=true` runs the image's own server: pg_dump refuses a server newer than itself, and a
/// cluster only opens with its own major. So every bundled server, the client tools and the
/// local server binaries share one major.
#[test]
fn the_image_postgresql_tools_match_every_bundled_server() {
    let dockerfile =
        std::fs::read_to_string(workspace().join("docker/Dockerfile")).expect("Dockerfile");
    let tools = image_postgres_major(&dockerfile);
    if let Some(v) = dockerfile.split("postgresql-").skip(1).find_map(|rest| {
        let n: String = rest.chars().take_while(char::is_ascii_digit).collect();
        (!n.is_empty() && !rest.starts_with("client")).then(|| n.parse::<u32>().ok())?
    }) {
        assert_eq!(
            v, tools,
            "server package postgresql-{v}, client tools {tools}"
        );
    }
    let bin_dir = dockerfile
        .split("PG_BIN_DIR=")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .expect("the image sets PG_BIN_DIR for DB_LOCAL=true");
    assert_eq!(
        bin_dir,
        format!("/usr/lib/postgresql/{tools}/bin"),
        "PG_BIN_DIR and the installed tools"
    );
    let mut servers = 0;
    for file in [
        "compose.yaml",
        "compose.external-db.yaml",
        "compose.local-db.yaml",
    ] {
        let text = std::fs::read_to_string(workspace().join(file)).expect("compose file");
        let doc = YamlLoader::load_from_str(&text).expect("YAML");
        let doc = merge_keys(doc.into_iter().next().expect("a document"));
        for s in services(&doc) {
            let Some(image) = s.image() else { continue };
            let Some(tag) = image.strip_prefix("postgres:") else {
                continue;
            };
            servers += 1;
            let major: u32 = tag
                .split(['.', '-'])
                .next()
                .and_then(|m| m.parse().ok())
                .unwrap_or_else(|| panic!("{file}: {}: pin a major version, not {image}", s.name));
            assert_eq!(
                major, tools,
                "{file}: service {} runs PostgreSQL {major}, the image's pg_dump is {tools}",
                s.name
            );
        }
    }
    assert!(
        servers > 0,
        "no bundled PostgreSQL found in the compose files"
    );
}
