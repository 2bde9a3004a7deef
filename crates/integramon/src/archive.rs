//! `integramon archive …`: one-shot archive runs, restoring a file, reading a file.

use std::io::Write as _;
use std::path::Path;

use chrono::NaiveDate;
use integramon_archiver::Archiver;
use integramon_archiver::restore::{self, ReadWhat};
use runtime::Settings;

/// Archive a tenant now (every due day, or one), printing what each day did.
pub async fn run(settings: &Settings, tenant: &str, day: Option<NaiveDate>) -> anyhow::Result<()> {
    let db = integramon_migrate::wait_for_database(settings).await?;
    let archiver = Archiver::from_settings(db.clone(), settings)?;
    let t = archiver
        .tenant(&domain::job::TenantRef::Name(tenant.to_string()))
        .await?;
    let result = archiver.run_tenant(&t, day).await;
    db.close().await;
    let report = result?;
    match report.cutoff {
        Some(c) => println!("tenant {}: days before {c} are due", report.tenant),
        None => println!("tenant {}", report.tenant),
    }
    for d in &report.days {
        println!(
            "{}  {:<9} {:>9} in file  {:>9} deleted{}{}",
            d.day,
            d.outcome,
            d.archived,
            d.deleted,
            if d.changed > 0 {
                format!("  {} changed since (left for the next run)", d.changed)
            } else {
                String::new()
            },
            d.file
                .as_deref()
                .map(|f| format!("  {f}"))
                .unwrap_or_default()
        );
    }
    if report.days.is_empty() {
        println!("nothing to archive");
    }
    if report.files_deleted > 0 {
        println!("{} archive files deleted (retention)", report.files_deleted);
    }
    if let Some(c) = &report.cleanup {
        println!(
            "cleanup: {} (database {} -> {} bytes)",
            c.steps.join("; "),
            c.size_before,
            c.size_after
        );
    }
    Ok(())
}

/// Import an archive file into the configured database.
pub async fn restore_file(
    settings: &Settings,
    file: &Path,
    tenant: Option<&str>,
) -> anyhow::Result<()> {
    let db = integramon_migrate::wait_for_database(settings).await?;
    let started = std::time::Instant::now();
    let mut last = started;
    let result = restore::restore(&db, file, tenant, |done, total| {
        if last.elapsed().as_secs() >= 5 {
            last = std::time::Instant::now();
            let rate = done as f64 / started.elapsed().as_secs_f64().max(0.001);
            eprintln!("restoring: {done} of {total} messages ({rate:.0}/s)");
        }
    })
    .await;
    db.close().await;
    let r = result?;
    println!(
        "restored {} ({} day {}): {} messages, {} inserted, {} already in the database",
        r.file, r.tenant, r.day, r.messages, r.inserted, r.existing
    );
    Ok(())
}

/// Print a file (checked completely first) without importing it.
pub fn read(file: &Path, message: Option<&str>, summary: bool) -> anyhow::Result<()> {
    let what = match (message, summary) {
        (Some(guid), _) => ReadWhat::Message(guid),
        (None, true) => ReadWhat::Summary,
        (None, false) => ReadWhat::All,
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    restore::read(file, what, &mut out)?;
    out.flush()?;
    Ok(())
}
