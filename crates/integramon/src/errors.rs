//! `integramon errors …`: error-group administration.

use std::io::Write as _;

use runtime::Settings;

/// Regroup every stored message with the current grouping version and custom rules, printing
/// progress. Idempotent: a second run moves nothing.
pub async fn regroup(settings: &Settings) -> anyhow::Result<()> {
    let db = integramon_migrate::wait_for_database(settings).await?;
    let started = std::time::Instant::now();
    let result = store::repo::error_groups::regroup(&db, |n| {
        eprint!("\rregrouping: {n} messages looked at");
        let _ = std::io::stderr().flush();
    })
    .await;
    eprintln!();
    db.close().await;
    let report = result?;
    if report.rules_skipped > 0 {
        println!(
            "{} custom rules skipped: they no longer compile (see the log, fix them under /api/error-rules)",
            report.rules_skipped
        );
    }
    println!(
        "regrouped with grouping version {}: {} messages looked at, {} moved, in {:.1}s",
        report.grouping_version,
        report.messages,
        report.moved,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
