//! A compose file's stack brought up as local processes (no container engine here). What stands
//! in for the containers (nothing else of the file is changed):
//! - the images' binaries → the workspace binaries of the same names;
//! - service `postgres` (image `postgres:*`) → a PostgreSQL cluster of the test's own, created as
//!   the image's entrypoint would: `POSTGRES_USER` with the password read from
//!   `POSTGRES_PASSWORD_FILE` (or `POSTGRES_PASSWORD`), database `POSTGRES_DB`; password
//!   authentication over TCP, so a daemon with the wrong password is refused;
//! - service `rabbitmq` (image `rabbitmq:*`) → a RabbitMQ node of the test's own, configured with
//!   the `*.conf` files of the volume mounted at `/etc/rabbitmq/conf.d` (or
//!   `RABBITMQ_DEFAULT_USER`/`RABBITMQ_DEFAULT_PASS`): only that user gets in;
//! - each named volume → a temporary directory, substituted for its mount point in every value of
//!   every service that mounts it (`DATA_DIR`, `MIGRATE_MARKER`, `*_FILE`, …);
//! - each container's own network namespace → ports of its own: every `0.0.0.0:PORT` a service
//!   instance listens on (in its command and its environment alike), and `DB_PORT` of a service
//!   with its own PostgreSQL (`DB_LOCAL=true`), becomes a free loopback port of that instance;
//!   another service's `NAME:PORT` (`rabbitmq:5672` in `AMQP_URL`, `cpi-sim:8090`) becomes
//!   `127.0.0.1:` that service's local port, and a `*_HOST` variable naming a service
//!   (`DB_HOST: postgres`) becomes `127.0.0.1`.
//!
//! Services start in dependency order, each condition honoured (`service_completed_successfully`:
//! exit 0; `service_healthy`: its health check passes).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Command;

use integramon_tests::private_pg::{self, PrivateCluster};
use integramon_tests::private_rabbit::PrivateRabbit;
use integramon_tests::{Proc, bin, free_port, temp_dir, wait_for};

use crate::file::{self, Service};

/// One process of a service, as its container would run it.
pub struct Instance {
    pub service: String,
    /// `web`, `ingest-worker#2`, …
    pub label: String,
    pub program: PathBuf,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    /// Container port → local port of this instance.
    pub ports: BTreeMap<u16, u16>,
    pub healthcheck: Option<Vec<String>>,
    pub depends_on: BTreeMap<String, String>,
    pub proc: Option<Proc>,
}

impl Instance {
    pub fn output(&self) -> String {
        self.proc.as_ref().map(Proc::output).unwrap_or_default()
    }

    pub fn env(&self, key: &str) -> Option<&str> {
        self.env
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Run its health check as the container would (`CMD` form: a binary of the image).
    pub fn run_healthcheck(&self) -> Result<(), String> {
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
pub fn wildcard_ports(v: &str) -> Vec<u16> {
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

/// Rewrite a value for a local process (see the module documentation). `volumes` are
/// (mount point, local directory) pairs of the service.
pub fn localize(
    key: &str,
    v: &str,
    own: &BTreeMap<u16, u16>,
    others: &BTreeMap<(String, u16), u16>,
    volumes: &[(String, PathBuf)],
) -> String {
    let mut v = v.to_string();
    if key == "DB_PORT"
        && let Some(local) = v.parse::<u16>().ok().and_then(|p| own.get(&p))
    {
        return local.to_string();
    }
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
    // The longest mount point that contains the path.
    if let Some((mount, dir)) = volumes
        .iter()
        .filter(|(m, _)| v == *m || v.starts_with(&format!("{m}/")))
        .max_by_key(|(m, _)| m.len())
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
pub fn start_order(all: &[&Service]) -> Vec<String> {
    let mut order: Vec<String> = Vec::new();
    let mut left: Vec<&&Service> = all.iter().collect();
    while !left.is_empty() {
        let next = left
            .iter()
            .position(|s| s.depends_on().keys().all(|d| order.contains(d)))
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

/// What a stack is brought up with.
pub struct Options<'a> {
    pub file: &'a str,
    /// The test's `.env` (empty: a fresh clone).
    pub dotenv: BTreeMap<String, String>,
    pub profiles: &'a [&'a str],
    /// Instances per service (`--scale`); 1 unless named.
    pub scale: &'a [(&'a str, usize)],
    /// Added to every IntegraMon service's environment (e.g. `CPI_RATE_LIMITS=off`).
    pub extra_env: &'a [(&'a str, &'a str)],
}

/// A stack brought up as local processes.
pub struct Stack {
    pub file: String,
    pub instances: Vec<Instance>,
    /// Named volume → its directory.
    pub volumes: BTreeMap<String, PathBuf>,
    /// (service, container port) → local port.
    pub reach: BTreeMap<(String, u16), u16>,
    pub postgres: Option<PrivateCluster>,
    pub rabbitmq: Option<PrivateRabbit>,
    // Last: the directories outlive the processes using them.
    _volume_dirs: Vec<tempfile::TempDir>,
}

impl Stack {
    pub fn up(o: &Options) -> Self {
        let yaml = file::load(o.file);
        let all = file::services(&yaml);
        let active: Vec<&Service> = all
            .iter()
            .filter(|s| {
                let p = s.profiles();
                p.is_empty() || p.iter().any(|p| o.profiles.contains(&p.as_str()))
            })
            .collect();
        let vars = |k: &str| o.dotenv.get(k).cloned();
        let i = |name: &str, v: &str| {
            file::interpolate(v, &vars)
                .unwrap_or_else(|e| panic!("{}: {name}: interpolating {v:?}: {e}", o.file))
        };
        let mut stack = Stack {
            file: o.file.to_string(),
            instances: Vec::new(),
            volumes: BTreeMap::new(),
            reach: BTreeMap::new(),
            postgres: None,
            rabbitmq: None,
            _volume_dirs: Vec::new(),
        };
        let order = start_order(&active);
        // Every instance of ours, built first: then every port is known before anything runs.
        for name in &order {
            let s = active.iter().find(|s| &s.name == name).expect("service");
            if is_stand_in(s) {
                continue;
            }
            let scale = o
                .scale
                .iter()
                .find(|(n, _)| n == name)
                .map_or(1, |(_, n)| *n);
            let command: Vec<String> = s.command().iter().map(|a| i(name, a)).collect();
            let mut env: Vec<(String, String)> = s
                .environment()
                .iter()
                .map(|(k, v)| (k.clone(), i(name, v)))
                .collect();
            for (k, v) in o.extra_env {
                env.retain(|(ek, _)| ek != k);
                env.push((k.to_string(), v.to_string()));
            }
            for n in 1..=scale {
                // Ports are chosen just before the instance starts (a port found free long
                // before may be taken by then).
                let ports = BTreeMap::new();
                stack.instances.push(Instance {
                    service: name.clone(),
                    label: if scale == 1 {
                        name.clone()
                    } else {
                        format!("{name}#{n}")
                    },
                    program: bin(&command[0]),
                    args: command[1..].to_vec(),
                    env: env.clone(),
                    ports,
                    healthcheck: s
                        .healthcheck()
                        .map(|t| t.iter().map(|a| i(name, a)).collect()),
                    depends_on: s.depends_on(),
                    proc: None,
                });
            }
        }
        // Start in order. A stand-in's port is known once it runs, which is before anything
        // that depends on it is localized and started.
        let stand_ins: Vec<&Service> = active.iter().copied().filter(|s| is_stand_in(s)).collect();
        for name in &order {
            if let Some(s) = stand_ins.iter().find(|s| &s.name == name) {
                // Dependencies first (the secrets service), then the server itself.
                for (dep, cond) in s.depends_on() {
                    stack.satisfy(&dep, &cond);
                }
                let env: Vec<(String, String)> = s
                    .environment()
                    .iter()
                    .map(|(k, v)| (k.clone(), i(name, v)))
                    .collect();
                let mounts = stack.mounts(s);
                stack.start_stand_in(s, &env, &mounts);
                continue;
            }
            let idxs: Vec<usize> = (0..stack.instances.len())
                .filter(|&x| &stack.instances[x].service == name)
                .collect();
            let s = active.iter().find(|s| &s.name == name).expect("service");
            let mounts = stack.mounts(s);
            for idx in idxs {
                let deps = stack.instances[idx].depends_on.clone();
                for (dep, cond) in &deps {
                    stack.satisfy(dep, cond);
                }
                stack.assign_ports(idx);
                let reach = stack.reach.clone();
                let inst = &mut stack.instances[idx];
                // DB_PORT is the port of the service DB_HOST names.
                let db_host = inst.env("DB_HOST").map(String::from);
                if let Some(host) = db_host
                    && let Some(port) = inst.env("DB_PORT").and_then(|p| p.parse::<u16>().ok())
                    && let Some(local) = reach.get(&(host, port))
                {
                    let local = local.to_string();
                    for (k, v) in &mut inst.env {
                        if k == "DB_PORT" {
                            *v = local.clone();
                        }
                    }
                }
                let l = |k: &str, v: &str| localize(k, v, &inst.ports, &reach, &mounts);
                inst.args = inst.args.iter().map(|a| l("", a)).collect();
                inst.env = inst.env.iter().map(|(k, v)| (k.clone(), l(k, v))).collect();
                let args: Vec<&str> = inst.args.iter().map(String::as_str).collect();
                inst.proc = Some(Proc::spawn(&inst.program, &args, &inst.env));
            }
        }
        stack
    }

    /// Free local ports for every port the instance listens on: `0.0.0.0:PORT` in its command
    /// and environment, and its own PostgreSQL's `DB_PORT` (`DB_LOCAL=true`).
    fn assign_ports(&mut self, idx: usize) {
        let inst = &self.instances[idx];
        let mut ports = BTreeMap::new();
        for v in inst.args.iter().chain(inst.env.iter().map(|(_, v)| v)) {
            for p in wildcard_ports(v) {
                ports.entry(p).or_insert_with(free_port);
            }
        }
        if inst.env("DB_LOCAL") == Some("true") {
            let port = inst
                .env("DB_PORT")
                .and_then(|v| v.parse().ok())
                .unwrap_or(5432);
            ports.entry(port).or_insert_with(free_port);
        }
        let single = self
            .instances
            .iter()
            .filter(|i| i.service == inst.service)
            .count()
            == 1;
        if single {
            for (p, local) in &ports {
                self.reach.insert((inst.service.clone(), *p), *local);
            }
        }
        self.instances[idx].ports = ports;
    }

    /// The (mount point, directory) pairs of a service's named volumes, created on first use.
    fn mounts(&mut self, s: &Service) -> Vec<(String, PathBuf)> {
        let mut out = Vec::new();
        for (src, dst) in s.volumes() {
            if src.starts_with(['.', '/']) {
                continue;
            }
            if !self.volumes.contains_key(&src) {
                let dir = temp_dir();
                self.volumes.insert(src.clone(), dir.path().to_path_buf());
                self._volume_dirs.push(dir);
            }
            out.push((dst, self.volumes[&src].clone()));
        }
        out
    }

    /// Wait until the instances of `dep` meet `cond`.
    fn satisfy(&mut self, dep: &str, cond: &str) {
        if [Some("postgres"), Some("rabbitmq")].contains(&Some(dep)) {
            // A stand-in runs and answers once started (it is started in order).
            return;
        }
        for d in self.instances.iter_mut().filter(|i| i.service == dep) {
            match cond {
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
                        if let Some(p) = d.proc.as_mut() {
                            assert!(p.is_running(), "{} exited:\n{}", d.label, p.output());
                        }
                        d.run_healthcheck().ok()
                    });
                }
                "service_started" => {}
                other => panic!("{dep}: unknown condition {other}"),
            }
        }
    }

    fn start_stand_in(
        &mut self,
        s: &Service,
        env: &[(String, String)],
        mounts: &[(String, PathBuf)],
    ) {
        let get = |k: &str| {
            env.iter()
                .find(|(ek, _)| ek == k)
                .map(|(_, v)| localize(k, v, &BTreeMap::new(), &BTreeMap::new(), mounts))
        };
        let image = s.image().unwrap_or_default();
        if image.starts_with("postgres:") {
            let user = get("POSTGRES_USER").unwrap_or_else(|| "postgres".into());
            let db = get("POSTGRES_DB").unwrap_or_else(|| user.clone());
            assert_eq!(
                db,
                private_pg::DB_NAME,
                "the stand-in creates this database"
            );
            let password = match get("POSTGRES_PASSWORD_FILE") {
                Some(f) => std::fs::read_to_string(&f)
                    .unwrap_or_else(|e| panic!("{}: POSTGRES_PASSWORD_FILE {f}: {e}", s.name))
                    .trim_end_matches('\n')
                    .to_string(),
                None => get("POSTGRES_PASSWORD").expect("POSTGRES_PASSWORD(_FILE)"),
            };
            assert!(!password.is_empty(), "{}: an empty password", s.name);
            let cluster = PrivateCluster::start(private_pg::Options {
                scram_password_user: Some((user, password)),
                ..Default::default()
            });
            self.reach.insert((s.name.clone(), 5432), cluster.port());
            self.postgres = Some(cluster);
        } else if image.starts_with("rabbitmq:") {
            let mut conf = String::new();
            if let Some((_, dir)) = mounts.iter().find(|(m, _)| m == "/etc/rabbitmq/conf.d") {
                let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
                    .expect("conf.d")
                    .flatten()
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|e| e == "conf"))
                    .collect();
                files.sort();
                for f in files {
                    conf.push_str(&std::fs::read_to_string(&f).expect("a conf.d file"));
                    conf.push('\n');
                }
            }
            for (var, key) in [
                ("RABBITMQ_DEFAULT_USER", "default_user"),
                ("RABBITMQ_DEFAULT_PASS", "default_pass"),
            ] {
                if let Some(v) = get(var) {
                    conf.push_str(&format!("{key} = {v}\n"));
                }
            }
            assert!(
                conf.contains("default_pass"),
                "{}: no default user is configured",
                s.name
            );
            let rabbit = PrivateRabbit::start_with(&conf);
            self.reach.insert((s.name.clone(), 5672), rabbit.port());
            self.rabbitmq = Some(rabbit);
        } else {
            panic!("{}: no stand-in for image {image}", s.name);
        }
    }

    pub fn instance(&self, label: &str) -> &Instance {
        self.instances
            .iter()
            .find(|i| i.label == label)
            .unwrap_or_else(|| panic!("no instance {label}"))
    }

    pub fn instance_mut(&mut self, label: &str) -> &mut Instance {
        self.instances
            .iter_mut()
            .find(|i| i.label == label)
            .unwrap_or_else(|| panic!("no instance {label}"))
    }

    /// The last lines of every process, for a failure message.
    pub fn dump(&self) -> String {
        self.instances
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
    }

    /// Every long-running instance still runs.
    pub fn assert_running(&mut self) {
        for i in &mut self.instances {
            let one_shot = i.healthcheck.is_none() && i.service != "cpi-sim";
            if let Some(p) = i.proc.as_mut()
                && !one_shot
            {
                assert!(p.is_running(), "{} exited:\n{}", i.label, p.output());
            }
        }
    }

    /// The web UI's local address, where the file publishes it.
    pub fn published(&self, service: &str) -> String {
        let yaml = file::load(&self.file);
        let all = file::services(&yaml);
        let port = file::service(&all, service).published()[0];
        let inst = self
            .instances
            .iter()
            .find(|i| i.service == service)
            .expect("the service runs");
        format!("127.0.0.1:{}", inst.ports[&port])
    }
}

/// Services whose image is not ours: the database and the broker.
pub fn is_stand_in(s: &Service) -> bool {
    s.image()
        .is_some_and(|i| i.starts_with("postgres:") || i.starts_with("rabbitmq:"))
}

/// The password printed once for the generated admin.
pub fn printed_admin_password(output: &str) -> Option<String> {
    let marker = "Sign in as \"admin\" with the password ";
    let at = output.find(marker)? + marker.len();
    output[at..].split_whitespace().next().map(String::from)
}
