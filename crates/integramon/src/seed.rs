//! `integramon db seed`: fill a tenant with generated messages for benchmarks of the message
//! monitor. Deterministic for a given `--seed` and start hour: the same run produces the same
//! messages, spread over the `--days` before the current hour. Messages are appended after the
//! tenant's existing ones (their GUIDs continue the numbering), then the tenant's rollup is
//! rebuilt.

use std::time::Instant;

use anyhow::Context as _;
use chrono::{DateTime, Duration, DurationRound as _, Utc};
use domain::MessageStatus;
use domain::message::{CustomHeader, Message};
use domain::tenant::{Auth, TenantSettings};
use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};
use runtime::Settings;
use store::repo::{monitor, seed, tenants};

/// Messages per transaction (about 10 MB of COPY data with four headers each).
const BATCH: u64 = 20_000;

#[derive(Debug, Clone)]
pub struct SeedArgs {
    pub tenant: String,
    pub messages: u64,
    pub days: u32,
    pub headers_per_message: u32,
    pub iflows: u32,
    pub failed_ratio: f64,
    pub seed: u64,
    /// Error groups to make over the seeded range (0: none).
    pub error_groups: u64,
}

const HEADER_NAMES: [&str; 8] = [
    "OrderId",
    "CustomerId",
    "DocumentType",
    "Region",
    "Channel",
    "Plant",
    "SalesOrg",
    "BatchId",
];
const DOC_TYPES: [&str; 5] = ["ORDERS05", "INVOIC02", "DESADV01", "MATMAS05", "DEBMAS07"];
const REGIONS: [&str; 6] = ["EMEA", "NA", "LATAM", "APJ", "MEA", "CN"];
const SYSTEMS: [&str; 6] = ["S4H_100", "ARIBA", "SFSF", "SALESFORCE", "EDI_VAN", "WMS"];

/// Generates message `n` of the run (deterministic given the RNG state).
struct Generator {
    rng: StdRng,
    start: DateTime<Utc>,
    span_ms: i64,
    args: SeedArgs,
}

impl Generator {
    /// Message `i` of `total` in this run, numbered `n` among the tenant's seeded messages.
    fn message(&mut self, i: u64, total: u64, n: u64) -> (Message, Vec<CustomHeader>) {
        let rng = &mut self.rng;
        // Evenly spread with jitter, so every hour has messages.
        let slot = self.span_ms / total.max(1) as i64;
        let offset = (i as i64) * slot + rng.random_range(0..slot.max(1));
        let end = self.start + Duration::milliseconds(offset);
        let status = if rng.random::<f64>() < self.args.failed_ratio {
            MessageStatus::Failed
        } else {
            match rng.random_range(0..1000) {
                0..10 => MessageStatus::Retry,
                10..15 => MessageStatus::Escalated,
                15..20 => MessageStatus::Processing,
                _ => MessageStatus::Completed,
            }
        };
        let mut m = Message::new(format!("SEED{:08X}{n:020X}", self.args.seed), status);
        // A few iFlows carry most traffic, as on real tenants.
        let k = self.args.iflows.max(1);
        let x: f64 = rng.random();
        let flow = ((x * x * x) * f64::from(k)) as u32 % k;
        let package = flow % (k / 5).max(1);
        m.iflow_id = Some(format!("IF_Seed_Flow_{flow:04}"));
        m.iflow_name = Some(format!("Seed flow {flow}"));
        m.artifact_type = Some("INTEGRATION_FLOW".into());
        m.package_id = Some(format!("SeedPackage{package:03}"));
        m.package_name = Some(format!("Seed package {package}"));
        m.log_start = Some(end - Duration::milliseconds(rng.random_range(20..8_000)));
        m.log_end = Some(end);
        m.correlation_id = Some(format!("COR{:08X}{:018X}", self.args.seed, n / 3));
        m.application_message_id = Some(format!("APP-{n:012}"));
        m.sender = Some(SYSTEMS[(flow as usize) % SYSTEMS.len()].into());
        m.receiver = Some(SYSTEMS[(flow as usize + 1) % SYSTEMS.len()].into());
        m.log_level = Some("INFO".into());
        m.alternate_web_link = Some(format!(
            "https://seed.example.com/itspaces/shell/monitoring/Messages/{}",
            m.guid
        ));
        let headers = (0..self.args.headers_per_message as usize)
            .map(|h| {
                let name = HEADER_NAMES[h % HEADER_NAMES.len()];
                let value = match name {
                    "OrderId" => format!("ORD-{n:010}"),
                    "CustomerId" => format!("C{:06}", rng.random_range(0..200_000)),
                    "DocumentType" => DOC_TYPES[rng.random_range(0..DOC_TYPES.len())].into(),
                    "Region" => REGIONS[rng.random_range(0..REGIONS.len())].into(),
                    _ => format!("{name}-{}", rng.random_range(0..10_000)),
                };
                let name = if h < HEADER_NAMES.len() {
                    name.to_owned()
                } else {
                    format!("{name}{}", h / HEADER_NAMES.len())
                };
                CustomHeader::new(name, value)
            })
            .collect();
        (m, headers)
    }
}

pub async fn run(settings: &Settings, args: SeedArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        (0.0..=1.0).contains(&args.failed_ratio),
        "--failed-ratio must be between 0 and 1"
    );
    anyhow::ensure!(args.days >= 1, "--days must be at least 1");
    let db = integramon_migrate::wait_for_database(settings).await?;
    let tenant = match tenants::get_by_name(&db, &args.tenant).await? {
        Some(t) => t,
        None => {
            let mut wanted = TenantSettings::new(
                &args.tenant,
                "https://seed.invalid",
                Auth::Basic {
                    username: "seed".into(),
                },
            );
            // Nothing to collect from: the tenant only holds generated data.
            wanted.collection.enabled = false;
            wanted
                .validate()
                .map_err(|e| anyhow::anyhow!("tenant {:?}: {e}", args.tenant))?;
            let t = tenants::create(&db, &wanted, None).await?;
            println!(
                "created tenant {:?} (id {}, disabled)",
                t.settings.name, t.id
            );
            t
        }
    };
    let existing = u64::try_from(seed::message_count(&db, tenant.id).await?).unwrap_or(0);
    let hour = Utc::now()
        .duration_trunc(Duration::hours(1))
        .context("current hour")?;
    let span = Duration::days(i64::from(args.days));
    let mut generator = Generator {
        // Mixed with the offset so an appending run continues rather than repeats.
        rng: StdRng::seed_from_u64(args.seed ^ existing.rotate_left(17)),
        start: hour - span,
        span_ms: span.num_milliseconds(),
        args: args.clone(),
    };
    let started = Instant::now();
    let mut done = 0u64;
    while done < args.messages {
        let n = BATCH.min(args.messages - done);
        let batch: Vec<(Message, Vec<CustomHeader>)> = (done..done + n)
            .map(|i| generator.message(i, args.messages, existing + i))
            .collect();
        seed::load_messages(&db, tenant.id, &batch).await?;
        done += n;
        let secs = started.elapsed().as_secs_f64().max(0.001);
        println!(
            "seeded {done}/{} messages ({:.0} messages/s, {:.0} rows/s with headers)",
            args.messages,
            done as f64 / secs,
            (done * (1 + u64::from(args.headers_per_message))) as f64 / secs,
        );
    }
    let load_secs = started.elapsed().as_secs_f64();
    let rollup_started = Instant::now();
    let rollup_rows = monitor::rebuild_counts(&db, tenant.id).await?;
    let rollup_secs = rollup_started.elapsed().as_secs_f64();
    seed::analyze(&db).await?;
    if args.error_groups > 0 {
        let groups_started = Instant::now();
        let made = store::repo::error_groups::seed_groups(
            &db,
            tenant.id,
            args.error_groups,
            args.iflows,
            hour - span,
            hour,
            args.seed,
        )
        .await?;
        println!(
            "made {} error groups with {} hourly counts, {} failed messages assigned, in {:.1}s",
            made.groups,
            made.hours,
            made.messages,
            groups_started.elapsed().as_secs_f64()
        );
    }
    println!(
        "loaded {done} messages with {} headers in {load_secs:.1}s; rebuilt message_counts \
         ({rollup_rows} rows) in {rollup_secs:.1}s; total {:.1}s",
        done * u64::from(args.headers_per_message),
        started.elapsed().as_secs_f64()
    );
    db.close().await;
    Ok(())
}
