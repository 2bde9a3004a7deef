//! TLS to PostgreSQL with the real binaries against private clusters: every binary makes rustls
//! connections (one crypto provider, no panic), `sslmode` and the neon default are enforced,
//! `DB_CHANNEL_BINDING=require` is refused before connecting, and `verify-full` checks the
//! server's certificate.

use std::time::{Duration, Instant};

use integramon_tests::private_pg::{DAEMONS, Options, PrivateCluster, failure_line, make_ca, set};
use integramon_tests::proc::run;
use integramon_tests::{Proc, bin, free_port, http_get, temp_dir, wait_for};

const MIGRATE: &str = "integramon-migrate";

fn tls_cluster() -> PrivateCluster {
    PrivateCluster::start(Options {
        tls: true,
        ..Options::default()
    })
}

fn plain_cluster() -> PrivateCluster {
    let pg = PrivateCluster::start(Options::default());
    assert_eq!(pg.psql("SHOW ssl"), "off");
    pg
}

/// Start a daemon on a free port and wait until `/readyz` answers 200; panics with its output if
/// it exits or stays unready.
fn ready_daemon(name: &str, env: &[(String, String)]) -> (Proc, String) {
    let addr = format!("127.0.0.1:{}", free_port());
    let mut p = Proc::spawn(&bin(name), &["--listen", &addr], env);
    wait_for(60, &format!("{name} /readyz 200"), || {
        assert!(p.is_running(), "{name} exited:\n{}", p.output());
        match http_get(&addr, "/readyz") {
            Some((200, _)) => Some(()),
            _ => None,
        }
    });
    (p, addr)
}

#[test]
fn every_binary_connects_over_tls_with_one_crypto_provider() {
    let pg = tls_cluster();
    let data = temp_dir();
    let mut env = pg.env(data.path());
    set(&mut env, "DB_SSLMODE", "require");

    let (status, out) = run(&bin(MIGRATE), &[], &env, 60);
    assert!(status.success(), "migrate over TLS failed:\n{out}");

    // Started together so their connections can be seen side by side.
    let mut daemons = Vec::new();
    for name in DAEMONS {
        let addr = format!("127.0.0.1:{}", free_port());
        daemons.push((
            *name,
            Proc::spawn(&bin(name), &["--listen", &addr], &env),
            addr,
        ));
    }
    for (name, p, addr) in &mut daemons {
        wait_for(60, &format!("{name} /readyz 200"), || {
            // Two crypto providers would make rustls panic at the first handshake.
            assert!(p.is_running(), "{name} exited:\n{}", p.output());
            match http_get(addr, "/readyz") {
                Some((200, _)) => Some(()),
                _ => None,
            }
        });
    }

    // Each daemon's pool keeps the connection its readiness check used, so there is at least one
    // per daemon, and with sslmode=require none may be plain text (the cluster would allow it).
    let (tls, plain) = pg.integramon_backends();
    assert!(
        tls >= DAEMONS.len() as u32,
        "expected at least {} TLS connections from the daemons, found {tls}",
        DAEMONS.len()
    );
    assert_eq!(plain, 0, "integramon connections without TLS");
    for (name, p, _) in &mut daemons {
        assert!(p.is_running(), "{name} stopped:\n{}", p.output());
        let out = p.output();
        assert!(!out.contains("panicked"), "{name} panicked:\n{out}");
    }
}

#[test]
fn sslmode_require_fails_clearly_against_a_server_without_tls() {
    let pg = plain_cluster();
    let data = temp_dir();
    let mut env = pg.env(data.path());
    set(&mut env, "DB_SSLMODE", "require");
    set(&mut env, "DB_WAIT_TIMEOUT", "3");

    let (status, out) = run(&bin(MIGRATE), &[], &env, 60);
    assert!(!status.success(), "migrate succeeded without TLS:\n{out}");
    let line = failure_line(&out, MIGRATE);
    assert!(line.contains("DB_WAIT_TIMEOUT"), "{line}");
    assert!(line.contains("TLS"), "the failure should name TLS: {line}");

    // The same settings with sslmode=prefer work: TLS was the only problem.
    set(&mut env, "DB_SSLMODE", "prefer");
    let (status, out) = run(&bin(MIGRATE), &[], &env, 60);
    assert!(
        status.success(),
        "migrate with sslmode=prefer failed:\n{out}"
    );
}

#[test]
fn neon_backend_requires_tls_by_default() {
    let pg = tls_cluster();
    let data = temp_dir();
    let mut env = pg.env(data.path());
    set(&mut env, "DB_BACKEND", "neon");

    let (status, out) = run(&bin(MIGRATE), &[], &env, 60);
    assert!(
        status.success(),
        "migrate with DB_BACKEND=neon failed:\n{out}"
    );
    assert!(out.contains("sslmode=require"), "{out}");

    let (_web, _) = ready_daemon("integramon-web", &env);
    let (tls, plain) = pg.integramon_backends();
    assert!(tls > 0, "no TLS connection from the neon daemon");
    assert_eq!(plain, 0, "neon daemon connected without TLS");

    // `prefer` would fall back to plain text here; neon's default must not.
    let plain_pg = plain_cluster();
    let data = temp_dir();
    let mut env = plain_pg.env(data.path());
    set(&mut env, "DB_BACKEND", "neon");
    set(&mut env, "DB_WAIT_TIMEOUT", "3");
    let (status, out) = run(&bin(MIGRATE), &[], &env, 60);
    assert!(
        !status.success(),
        "neon connected to a server without TLS:\n{out}"
    );
    assert!(failure_line(&out, MIGRATE).contains("TLS"), "{out}");
}

#[test]
fn channel_binding_require_is_refused_not_ignored() {
    let pg = PrivateCluster::start(Options {
        tls: true,
        scram_password_user: Some(("im_app".into(), "s3cret 'pass'".into())),
        hostssl_only: true,
    });
    let data = temp_dir();
    let mut env = pg.env(data.path());
    set(&mut env, "DB_CHANNEL_BINDING", "require");
    // Long, so that a binary that tried to connect and failed could not pass for a quick refusal.
    set(&mut env, "DB_WAIT_TIMEOUT", "60");

    // Built before the clock starts: only the binaries' own time counts.
    let migrate = bin(MIGRATE);
    let daemons: Vec<_> = DAEMONS.iter().map(|name| bin(name)).collect();
    let started = Instant::now();
    let mut procs: Vec<Proc> = std::iter::once(Proc::spawn(&migrate, &[], &env))
        .chain(daemons.iter().map(|daemon| {
            let addr = format!("127.0.0.1:{}", free_port());
            Proc::spawn(daemon, &["--listen", &addr], &env)
        }))
        .collect();
    for p in &mut procs {
        let status = p.wait(30);
        let out = p.output();
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{} took {:?} to refuse:\n{out}",
            p.name,
            started.elapsed()
        );
        assert!(
            !status.success(),
            "{} accepted channel binding require:\n{out}",
            p.name
        );
        if p.name != MIGRATE {
            assert_eq!(status.code(), Some(2), "{} should exit 2:\n{out}", p.name);
        }
        let line = failure_line(&out, &p.name);
        assert!(
            line.contains("DB_CHANNEL_BINDING") && line.contains("SCRAM-SHA-256-PLUS"),
            "{}: {line}",
            p.name
        );
    }
    // Refused before connecting: the server saw no TCP connection (the test's own psql uses the
    // Unix socket), and nothing was migrated.
    let log = pg.log();
    assert!(
        !log.contains("connection received: host=127.0.0.1"),
        "a binary connected despite the refusal:\n{log}"
    );
    assert_eq!(
        pg.psql("SELECT to_regclass('seaql_migrations') IS NULL"),
        "t"
    );

    // `prefer` connects: SCRAM-SHA-256 over TLS (the only thing pg_hba.conf allows).
    set(&mut env, "DB_CHANNEL_BINDING", "prefer");
    let (status, out) = run(&bin(MIGRATE), &[], &env, 60);
    assert!(
        status.success(),
        "migrate with channel binding prefer failed:\n{out}"
    );
    let log = pg.log();
    assert!(
        log.contains("method=scram-sha-256") && log.contains("SSL enabled"),
        "expected a SCRAM login over TLS in the server log:\n{log}"
    );
    assert_ne!(pg.psql("SELECT count(*) FROM seaql_migrations"), "0");

    // And the password is really checked.
    let data = temp_dir();
    let mut env = pg.env(data.path());
    set(&mut env, "DB_CHANNEL_BINDING", "prefer");
    set(&mut env, "DB_PASSWORD", "wrong");
    set(&mut env, "DB_WAIT_TIMEOUT", "3");
    let (status, out) = run(&bin(MIGRATE), &[], &env, 60);
    assert!(!status.success(), "a wrong password was accepted:\n{out}");
    assert!(
        failure_line(&out, MIGRATE).contains("password authentication failed"),
        "{out}"
    );
}

#[test]
fn verify_full_checks_the_server_certificate() {
    let pg = tls_cluster();
    let data = temp_dir();
    let mut env = pg.env(data.path());
    set(&mut env, "DB_SSLMODE", "verify-full");
    set(
        &mut env,
        "DB_SSLROOTCERT",
        &pg.ca_cert_path().display().to_string(),
    );
    let (status, out) = run(&bin(MIGRATE), &[], &env, 60);
    assert!(
        status.success(),
        "verify-full with the right CA failed:\n{out}"
    );

    // A CA that did not sign the server's certificate.
    let other = temp_dir();
    let (key, crt) = (other.path().join("ca.key"), other.path().join("ca.crt"));
    make_ca(&key, &crt, "Some other CA");
    let data = temp_dir();
    let mut env = pg.env(data.path());
    set(&mut env, "DB_SSLMODE", "verify-full");
    set(&mut env, "DB_SSLROOTCERT", &crt.display().to_string());
    set(&mut env, "DB_WAIT_TIMEOUT", "3");
    let (status, out) = run(&bin(MIGRATE), &[], &env, 60);
    assert!(
        !status.success(),
        "verify-full accepted an unknown issuer:\n{out}"
    );
    let line = failure_line(&out, MIGRATE);
    assert!(line.to_lowercase().contains("certificate"), "{line}");
    assert!(
        !data.path().join("run").join("migrate.done").exists(),
        "a failed migrate wrote the marker"
    );
}
