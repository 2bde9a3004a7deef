//! IntegraMon persistence: the one crate that knows SeaORM. It opens the database, owns the
//! entities, reads and writes the migration marker, checks the schema, and runs backend-specific
//! maintenance and backups. It knows nothing about HTTP or AMQP.

pub mod backup;
pub mod connect;
pub mod entity;
pub mod error;
pub mod lock;
pub mod maintenance;
pub mod marker;
mod nodelay;
pub mod pg_local;
pub mod repo;
pub mod schema;
pub mod settings;
#[cfg(feature = "testing")]
pub mod testing;

pub use connect::{Db, PoolStats, connect};
pub use error::StoreError;
pub use settings::{Backend, ChannelBinding, DbSettings, PoolSettings, Source, SslMode};

/// Install the one rustls crypto provider every IntegraMon binary uses (aws-lc-rs). Called first
/// thing by each binary; harmless if it was already installed.
pub fn install_tls_provider() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}
