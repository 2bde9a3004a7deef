//! Error normalisation throughput on one core, over the simulator's error corpus (issue 14).
//!
//! 1. `normalise`: the template and title of each text.
//! 2. `group_key` without rules: normalise + fingerprint (what the store calls per error text).
//! 3. `group_key` with 20 custom rules (globs and regexes, none matching: the worst case, every
//!    rule is tried) compiled once in a `RuleSet`.
//!
//! Each pass runs over the whole corpus; the best of 5 passes is reported, by wall time and by
//! the thread's own CPU time (the per-core figure on a machine shared with other work). The corpus is also
//! checked for grouping quality (every family one group per iFlow, no group mixing families),
//! so the numbers are for a normaliser that does its job.
//!
//! Run: `cargo bench -p cpi-sim --bench normalise` (options: `--hours H`, `--rate R`,
//! `--passes N`). Target: at least 50,000 texts/s per core.

use std::collections::{BTreeMap, BTreeSet};
use std::hint::black_box;
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use cpi_sim::{Clock, ErrorSample, SimConfig, Tenant};
use domain::errors::{ErrorContext, FingerprintRule, RuleSet, group_key, normalise};

struct Args {
    hours: u64,
    rate: f64,
    passes: usize,
}

fn args() -> Args {
    let mut a = Args {
        hours: 24,
        rate: 2.0,
        passes: 5,
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mut it = argv.iter();
    while let Some(k) = it.next() {
        let mut v = || it.next().expect("a value after the option").as_str();
        match k.as_str() {
            "--hours" => a.hours = v().parse().expect("--hours H"),
            "--rate" => a.rate = v().parse().expect("--rate R"),
            "--passes" => a.passes = v().parse().expect("--passes N"),
            // cargo bench passes `--bench`.
            _ => {}
        }
    }
    a
}

fn corpus(a: &Args) -> Vec<ErrorSample> {
    let now = Utc.with_ymd_and_hms(2025, 6, 2, 12, 0, 0).unwrap();
    let (clock, _) = Clock::manual(now);
    let cfg = SimConfig::default()
        .with_clock(clock)
        .with_rate(a.rate)
        .with_iflows(40)
        .with_history(Duration::from_secs(a.hours * 3600))
        .with_seed(11);
    let tenant = Tenant::new(&cfg, now.timestamp_millis()).expect("simulator config");
    tenant.error_samples(now, usize::MAX)
}

fn ctx(s: &ErrorSample) -> ErrorContext<'_> {
    ErrorContext {
        iflow: &s.integration_flow,
        package: Some("Package"),
        status: s.status.as_str(),
        text: &s.text,
    }
}

/// Every family one group per iFlow and no group mixing two: the normaliser is doing its job.
fn check_quality(samples: &[ErrorSample]) -> usize {
    let mut fps: BTreeMap<(&str, String), BTreeSet<cpi_sim::ErrorFamily>> = BTreeMap::new();
    let mut fams: BTreeMap<(&str, cpi_sim::ErrorFamily), BTreeSet<String>> = BTreeMap::new();
    for s in samples {
        let k = group_key(&[], &ctx(s));
        fps.entry((&s.integration_flow, k.fingerprint.clone()))
            .or_default()
            .insert(s.family);
        fams.entry((&s.integration_flow, s.family))
            .or_default()
            .insert(k.fingerprint);
    }
    assert!(fps.values().all(|f| f.len() == 1), "a group mixes families");
    assert!(fams.values().all(|f| f.len() == 1), "a family is split");
    fps.len()
}

fn rules() -> Vec<FingerprintRule> {
    (0..20)
        .map(|k| FingerprintRule {
            id: k,
            iflow: (k % 3 == 0).then(|| format!("NoSuchFlow_{k}_*")),
            text_glob: (k % 3 == 1).then(|| format!("*no such text {k}*")),
            text_regex: (k % 3 == 2).then(|| format!(r"statusCode: 9{k:02}\b|never-{k}")),
            fingerprint: format!("rule-{k}"),
            ..Default::default()
        })
        .collect()
}

/// Time this thread has spent on a CPU (Linux `/proc/thread-self/schedstat`), so a machine
/// shared with other work still gives texts per second *per core*; `None` elsewhere.
fn thread_cpu() -> Option<Duration> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: u64 = s.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}

fn run(name: &str, passes: usize, samples: &[ErrorSample], f: impl Fn(&ErrorSample) -> usize) {
    let bytes: usize = samples.iter().map(|s| s.text.len()).sum();
    let (mut best_wall, mut best_cpu) = (Duration::MAX, Duration::MAX);
    for _ in 0..passes {
        let cpu0 = thread_cpu();
        let start = Instant::now();
        let mut sink = 0usize;
        for s in samples {
            sink = sink.wrapping_add(f(s));
        }
        black_box(sink);
        best_wall = best_wall.min(start.elapsed());
        if let (Some(a), Some(b)) = (cpu0, thread_cpu()) {
            best_cpu = best_cpu.min(b.saturating_sub(a));
        }
    }
    let per_sec = |d: Duration| samples.len() as f64 / d.as_secs_f64();
    let cpu = if best_cpu == Duration::MAX {
        "n/a".to_string()
    } else {
        format!("{:.0}", per_sec(best_cpu))
    };
    println!(
        "{name:<22} {:>8.0} texts/s wall, {cpu:>8} texts/s of CPU time, {:>6.1} MB/s wall  ({} texts, best of {passes})",
        per_sec(best_wall),
        bytes as f64 / best_wall.as_secs_f64() / 1e6,
        samples.len(),
    );
}

fn main() {
    let a = args();
    let samples = corpus(&a);
    let bytes: usize = samples.iter().map(|s| s.text.len()).sum();
    let families: BTreeSet<_> = samples.iter().map(|s| s.family).collect();
    let groups = check_quality(&samples);
    println!(
        "corpus: {} error texts ({:.1} MB, mean {} bytes, max {} bytes), {} families, {} groups; one thread",
        samples.len(),
        bytes as f64 / 1e6,
        bytes / samples.len().max(1),
        samples.iter().map(|s| s.text.len()).max().unwrap_or(0),
        families.len(),
        groups
    );
    run("normalise", a.passes, &samples, |s| {
        normalise(&s.text).template.len()
    });
    run("group_key, no rules", a.passes, &samples, |s| {
        group_key(&[], &ctx(s)).fingerprint.len()
    });
    let set = RuleSet::compile(&rules()).expect("valid rules");
    run("group_key, 20 rules", a.passes, &samples, |s| {
        set.group_key(&ctx(s)).fingerprint.len()
    });
}
