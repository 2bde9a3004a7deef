//! IntegraMon's schema migrations.
//!
//! Every migration runs unchanged on SQLite and PostgreSQL: tables, columns, foreign keys and
//! indexes are built with sea-query's schema builder, never with backend SQL. Rules for adding
//! one:
//! - one file per migration, `mYYYYMMDD_NNNNNN_<what>.rs`, appended to [`Migrator`] and to
//!   `VERSIONS` in order;
//! - never edit a migration that has shipped, nor the helpers it uses;
//! - on SQLite, one change per `alter_table`, and foreign keys only in `create_table`;
//! - every migration has a working `down`.

pub use sea_orm_migration::prelude::*;

mod helpers;
mod m20261126_000001_tenants;
mod m20261126_000002_messages;
mod m20261126_000003_packages_artifacts;
mod m20261126_000004_job_runs;
mod m20261126_000005_users;
mod m20261126_000006_collection;
mod m20261126_000007_message_counts;
mod m20261126_000008_archives;
mod m20261126_000009_snapshots;
mod m20261207_000011_message_limits;
mod m20261207_000012_login_attempts;
mod m20261207_000013_audit_log;
mod m20261208_000014_error_groups;
mod m20261208_000016_error_group_days;
mod m20261208_000017_error_group_sums;
mod m20261208_000018_alerts;
mod m20261208_000019_tenant_resources;
mod m20261208_000020_user_time_zone;

pub use m20261126_000002_messages::HEADER_VALUE_PREFIX_CHARS;

/// Every migration name, in the order they apply (which is also sorted order).
const VERSIONS: &[&str] = &[
    "m20261126_000001_tenants",
    "m20261126_000002_messages",
    "m20261126_000003_packages_artifacts",
    "m20261126_000004_job_runs",
    "m20261126_000005_users",
    "m20261126_000006_collection",
    "m20261126_000007_message_counts",
    "m20261126_000008_archives",
    "m20261126_000009_snapshots",
    "m20261207_000011_message_limits",
    "m20261207_000012_login_attempts",
    "m20261207_000013_audit_log",
    "m20261208_000014_error_groups",
    "m20261208_000016_error_group_days",
    "m20261208_000017_error_group_sums",
    "m20261208_000018_alerts",
    "m20261208_000019_tenant_resources",
    "m20261208_000020_user_time_zone",
];

pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261126_000001_tenants::Migration),
            Box::new(m20261126_000002_messages::Migration),
            Box::new(m20261126_000003_packages_artifacts::Migration),
            Box::new(m20261126_000004_job_runs::Migration),
            Box::new(m20261126_000005_users::Migration),
            Box::new(m20261126_000006_collection::Migration),
            Box::new(m20261126_000007_message_counts::Migration),
            Box::new(m20261126_000008_archives::Migration),
            Box::new(m20261126_000009_snapshots::Migration),
            Box::new(m20261207_000011_message_limits::Migration),
            Box::new(m20261207_000012_login_attempts::Migration),
            Box::new(m20261207_000013_audit_log::Migration),
            Box::new(m20261208_000014_error_groups::Migration),
            Box::new(m20261208_000016_error_group_days::Migration),
            Box::new(m20261208_000017_error_group_sums::Migration),
            Box::new(m20261208_000018_alerts::Migration),
            Box::new(m20261208_000019_tenant_resources::Migration),
            Box::new(m20261208_000020_user_time_zone::Migration),
        ]
    }
}

/// Name of the newest migration: the schema version a migrated database is at.
pub fn latest_version() -> &'static str {
    VERSIONS[VERSIONS.len() - 1]
}

/// Names of all migrations, sorted (and so in the order they apply).
pub fn all_versions() -> Vec<&'static str> {
    VERSIONS.to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tables() -> Vec<TableCreateStatement> {
        [
            m20261126_000001_tenants::tables(),
            m20261126_000002_messages::tables(),
            m20261126_000003_packages_artifacts::tables(),
            m20261126_000004_job_runs::tables(),
            m20261126_000005_users::tables(),
            m20261126_000006_collection::tables(),
            m20261126_000007_message_counts::tables(),
            m20261126_000008_archives::tables(),
            m20261126_000009_snapshots::tables(),
            m20261207_000011_message_limits::tables(),
            m20261207_000012_login_attempts::tables(),
            m20261207_000013_audit_log::tables(),
            m20261208_000014_error_groups::tables(),
            m20261208_000016_error_group_days::tables(),
            m20261208_000017_error_group_sums::tables(),
            m20261208_000018_alerts::tables(),
            m20261208_000019_tenant_resources::tables(),
        ]
        .concat()
    }

    fn indexes() -> Vec<IndexCreateStatement> {
        [
            m20261126_000001_tenants::indexes(),
            m20261126_000002_messages::indexes(),
            m20261126_000003_packages_artifacts::indexes(),
            m20261126_000004_job_runs::indexes(),
            m20261126_000005_users::indexes(),
            m20261126_000006_collection::indexes(),
            m20261126_000007_message_counts::indexes(),
            m20261126_000008_archives::indexes(),
            m20261126_000009_snapshots::indexes(),
            m20261207_000011_message_limits::indexes(),
            m20261207_000012_login_attempts::indexes(),
            m20261207_000013_audit_log::indexes(),
            m20261208_000014_error_groups::indexes(),
            m20261208_000016_error_group_days::indexes(),
            m20261208_000017_error_group_sums::indexes(),
            m20261208_000018_alerts::indexes(),
            m20261208_000019_tenant_resources::indexes(),
        ]
        .concat()
    }

    fn table_name(stmt: &TableCreateStatement) -> String {
        match stmt.get_table_name() {
            Some(TableRef::Table(TableName(_, name), _)) => name.to_string(),
            other => panic!("unexpected table ref {other:?}"),
        }
    }

    #[test]
    fn versions_match_the_migrator() {
        let names: Vec<String> = Migrator::migrations()
            .iter()
            .map(|m| m.name().to_owned())
            .collect();
        assert_eq!(names, all_versions());
        let mut sorted = all_versions();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted, all_versions(), "versions must be sorted and unique");
        assert_eq!(latest_version(), *VERSIONS.last().unwrap());
    }

    /// The surrogate keys: on SQLite the column must be the rowid alias (`integer PRIMARY KEY`,
    /// exactly that type name) with AUTOINCREMENT; on PostgreSQL a bigint identity.
    #[test]
    fn surrogate_keys_render_as_expected() {
        let mut seen = 0;
        for stmt in tables() {
            let sqlite = stmt.to_string(SqliteQueryBuilder);
            let pg = stmt.to_string(PostgresQueryBuilder);
            for col in stmt.get_columns() {
                if !col.get_column_spec().auto_increment {
                    continue;
                }
                seen += 1;
                let name = col.get_column_name();
                let want_sqlite = format!("\"{name}\" integer NOT NULL PRIMARY KEY AUTOINCREMENT");
                let want_pg = format!(
                    "\"{name}\" bigint GENERATED BY DEFAULT AS IDENTITY NOT NULL PRIMARY KEY"
                );
                assert!(sqlite.contains(&want_sqlite), "{sqlite}");
                assert!(pg.contains(&want_pg), "{pg}");
            }
        }
        // Every table but message_errors, sessions, message_detail_failures,
        // error_group_hours, error_group_days, error_group_sums and error_group_sum_windows,
        // whose keys are natural.
        assert_eq!(seen, tables().len() - 7);
    }

    /// PostgreSQL cuts identifiers at 63 bytes, and names must say what they are.
    #[test]
    fn constraint_and_index_names_are_explicit_and_short() {
        let mut names = Vec::new();
        for stmt in tables() {
            let table = table_name(&stmt);
            for fk in stmt.get_foreign_key_create_stmts() {
                let name = fk
                    .get_foreign_key()
                    .get_name()
                    .expect("named fk")
                    .to_owned();
                assert!(name.starts_with(&format!("fk_{table}_")), "{name}");
                names.push(name);
            }
        }
        for stmt in indexes() {
            let spec = stmt.get_index_spec();
            let name = spec.get_name().expect("named index").to_owned();
            let prefix = if stmt.is_unique_key() { "uq_" } else { "idx_" };
            assert!(name.starts_with(prefix), "{name}");
            names.push(name);
        }
        for name in &names {
            assert!(name.len() <= 63, "{name} is longer than 63 bytes");
        }
        let mut unique = names.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), names.len(), "duplicate names");
    }

    fn print_ddl_with<B: SchemaBuilder>(backend: &str, builder: impl Fn() -> B) {
        println!("-- {backend}");
        for stmt in tables() {
            println!("{};", stmt.to_string(builder()));
        }
        for stmt in indexes() {
            println!("{};", stmt.to_string(builder()));
        }
    }

    /// Prints the DDL for both backends (`cargo test -p integramon-migration print_ddl --
    /// --nocapture`), which also checks that both builders accept every statement.
    #[test]
    fn print_ddl() {
        print_ddl_with("sqlite", || SqliteQueryBuilder);
        print_ddl_with("postgres", || PostgresQueryBuilder);
    }
}
