//! What the store's benchmarks share: where PostgreSQL is and how to reach a database on it.

use store::{DbSettings, SslMode};

/// The maintenance database URL: `TEST_POSTGRES_URL`, or the machine's PostgreSQL.
pub fn admin_url() -> String {
    std::env::var("TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// Settings for database `name` on the server of [`admin_url`], without TLS.
pub fn pg_settings(name: &str) -> DbSettings {
    let url = url::Url::parse(&admin_url()).expect("TEST_POSTGRES_URL is a URL");
    let user = if url.username().is_empty() {
        "postgres"
    } else {
        url.username()
    };
    let mut s = DbSettings::postgres(
        url.host_str().unwrap_or("127.0.0.1"),
        url.port().unwrap_or(5432),
        name,
        user,
    );
    s.password = url.password().map(str::to_owned);
    s.sslmode = SslMode::Disable;
    s
}
