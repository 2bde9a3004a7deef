//! A child process whose output goes to a file (read it with [`Proc::output`]) and which is
//! killed when dropped, so a failing test leaves nothing running.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

pub struct Proc {
    pub name: String,
    child: Child,
    log: PathBuf,
    _log_dir: tempfile::TempDir,
}

impl Proc {
    pub fn spawn(program: &Path, args: &[&str], env: &[(String, String)]) -> Self {
        let log_dir = tempfile::tempdir().expect("log dir");
        let log = log_dir.path().join("output.log");
        let out = std::fs::File::create(&log).expect("log file");
        let err = out.try_clone().expect("log file");
        let child = Command::new(program)
            .args(args)
            // Settings from the developer's shell must not leak into a test.
            .env_remove("INTEGRAMON_CONFIG")
            .env_remove("CONFIG_JSON_B64")
            .env_remove("DB_BACKEND")
            .env_remove("DATA_DIR")
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("spawning {}: {e}", program.display()));
        Self {
            name: program
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            child,
            log,
            _log_dir: log_dir,
        }
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Everything the process printed so far.
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The last `n` lines of its output, headed by its name and pid: what a timed-out wait
    /// prints, so a failure in CI says what the process was doing.
    pub fn tail(&self, n: usize) -> String {
        let out = self.output();
        let lines: Vec<&str> = out.lines().collect();
        format!(
            "--- {} {} (last {n} lines)\n{}",
            self.name,
            self.pid(),
            lines[lines.len().saturating_sub(n)..].join("\n")
        )
    }

    pub fn signal(&self, sig: nix::sys::signal::Signal) {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.pid()), sig);
    }

    /// Wait for exit, at most `secs`; panics (with the output) if it does not exit.
    pub fn wait(&mut self, secs: u64) -> ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!(
                    "{} did not exit within {secs}s; output:\n{}",
                    self.name,
                    self.output()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Run to completion (at most `secs`): `(status, output)`.
pub fn run(
    program: &Path,
    args: &[&str],
    env: &[(String, String)],
    secs: u64,
) -> (ExitStatus, String) {
    let mut p = Proc::spawn(program, args, env);
    let status = p.wait(secs);
    (status, p.output())
}
