//! A RabbitMQ node of the test's own, for what the machine's shared broker must never be used
//! for: being stopped and started. It runs as the `rabbitmq` OS user (the `rabbitmq-server`
//! wrapper drops to it) with its own node name, ports, data and log directories, config and
//! plugin list, so it clashes with nothing; it is stopped and removed when dropped. Every
//! failure panics with the command's output: tests fail, never skip.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const OS_USER: &str = "rabbitmq";
const START_TIMEOUT: Duration = Duration::from_secs(120);

pub struct PrivateRabbit {
    node: String,
    port: u16,
    dist_port: u16,
    dir: PathBuf,
    running: bool,
}

impl PrivateRabbit {
    pub fn start() -> Self {
        Self::start_with("")
    }

    /// Start a node with `extra` appended to its `rabbitmq.conf` (e.g. a `conf.d` file's
    /// `default_user`/`default_pass`, which take effect as the node's data is created).
    pub fn start_with(extra: &str) -> Self {
        // Under /tmp, not TMPDIR: the rabbitmq user must be able to reach it.
        let dir = tempfile::Builder::new()
            .prefix("im-rabbit")
            .tempdir_in("/tmp")
            .expect("temp dir")
            .keep();
        let node = format!(
            "imtest{}x{}@localhost",
            std::process::id(),
            &uuid::Uuid::new_v4().simple().to_string()[..6]
        );
        for sub in ["mnesia", "log"] {
            std::fs::create_dir_all(dir.join(sub)).expect("node directories");
        }
        let port = free_port();
        // No plugins: the management plugin would want port 15672, which may be taken.
        std::fs::write(dir.join("enabled_plugins"), "[].\n").expect("plugins file");
        std::fs::write(
            dir.join("rabbitmq.conf"),
            format!("listeners.tcp.local = 127.0.0.1:{port}\n{extra}\n"),
        )
        .expect("config file");
        // Our own env file, so the machine's (which names the shared node) is not read.
        std::fs::write(
            dir.join("rabbitmq-env.conf"),
            "ERL_EPMD_ADDRESS=127.0.0.1\n",
        )
        .expect("env file");
        chown_tree(&dir);
        let mut rabbit = Self {
            node,
            port,
            dist_port: free_port(),
            dir,
            running: false,
        };
        rabbit.start_node();
        rabbit
    }

    pub fn url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:{}/%2f", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stop the node (clients see their connections close), keeping its data.
    pub fn stop(&mut self) {
        let out = self
            .ctl()
            .args(["stop", &path(&self.dir.join("pid"))])
            .output()
            .expect("rabbitmqctl stop");
        check(&out, "rabbitmqctl stop");
        self.running = false;
        let port = self.port;
        wait_until(
            "the private RabbitMQ port to close",
            Duration::from_secs(30),
            || std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
            String::new,
        );
    }

    /// Start it again after [`stop`](Self::stop): same node, port and data.
    pub fn start_again(&mut self) {
        self.start_node();
    }

    fn start_node(&mut self) {
        let out = self
            .env(Command::new("rabbitmq-server"))
            .arg("-detached")
            .output()
            .expect("rabbitmq-server -detached (is the rabbitmq-server package installed?)");
        check(&out, "rabbitmq-server -detached");
        self.running = true;
        // -detached returns at once: wait for the listener, then for the app to be up.
        let port = self.port;
        let log = self.dir.join("log");
        wait_until(
            "the private RabbitMQ node to listen",
            START_TIMEOUT,
            || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok(),
            || logs(&log),
        );
        let out = self
            .ctl()
            .args(["await_startup", "--timeout", "60"])
            .output()
            .expect("rabbitmqctl await_startup");
        check(&out, "rabbitmqctl await_startup");
    }

    fn env(&self, mut cmd: Command) -> Command {
        cmd.env("RABBITMQ_NODENAME", &self.node)
            .env("RABBITMQ_NODE_IP_ADDRESS", "127.0.0.1")
            .env("RABBITMQ_NODE_PORT", self.port.to_string())
            .env("RABBITMQ_DIST_PORT", self.dist_port.to_string())
            .env("RABBITMQ_MNESIA_BASE", self.dir.join("mnesia"))
            .env("RABBITMQ_LOG_BASE", self.dir.join("log"))
            .env("RABBITMQ_PID_FILE", self.dir.join("pid"))
            .env(
                "RABBITMQ_ENABLED_PLUGINS_FILE",
                self.dir.join("enabled_plugins"),
            )
            .env("RABBITMQ_CONFIG_FILE", self.dir.join("rabbitmq.conf"))
            .env("RABBITMQ_CONF_ENV_FILE", self.dir.join("rabbitmq-env.conf"))
            .stdin(std::process::Stdio::null());
        cmd
    }

    fn ctl(&self) -> Command {
        let mut cmd = self.env(Command::new("rabbitmqctl"));
        cmd.args(["-n", &self.node]);
        cmd
    }
}

impl Drop for PrivateRabbit {
    fn drop(&mut self) {
        if self.running {
            let _ = self
                .ctl()
                .args(["stop", &path(&self.dir.join("pid"))])
                .output();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn path(p: &Path) -> String {
    p.display().to_string()
}

fn chown_tree(dir: &Path) {
    let out = Command::new("chown")
        .args(["-R", &format!("{OS_USER}:{OS_USER}"), &path(dir)])
        .output()
        .expect("chown");
    check(&out, &format!("chown -R {OS_USER} (tests run as root)"));
}

fn check(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The last lines of every log file of the node, for a failed start.
fn logs(dir: &Path) -> String {
    let mut all = String::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let text = std::fs::read_to_string(e.path()).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(30).collect();
        all.push_str(&format!("== {}\n", e.path().display()));
        for line in tail.into_iter().rev() {
            all.push_str(line);
            all.push('\n');
        }
    }
    all
}

fn wait_until(
    what: &str,
    timeout: Duration,
    mut cond: impl FnMut() -> bool,
    context: impl Fn() -> String,
) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}\n{}",
            context()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A port free a moment ago. (Own copy: this file is also compiled into the queue crate's
/// tests, which cannot use this crate.)
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}
