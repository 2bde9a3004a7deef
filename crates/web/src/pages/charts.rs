//! Charts as server-rendered SVG: no script, no library, nothing fetched. Colours follow the
//! status badges.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use maud::{Markup, html};
use store::repo::monitor::VolumePoint;

/// Status groups stacked bottom to top, with their colour.
const SERIES: [(&str, &str, &[&str]); 4] = [
    ("Completed", "#43a047", &["COMPLETED"]),
    ("Failed", "#e53935", &["FAILED", "ESCALATED"]),
    ("Retry", "#fb8c00", &["RETRY"]),
    ("Other", "#90a4ae", &[]),
];

fn series_of(status: &str) -> usize {
    SERIES
        .iter()
        .position(|(_, _, members)| members.contains(&status))
        .unwrap_or(SERIES.len() - 1)
}

/// A stacked bar chart of messages per bucket. `buckets` are the bucket starts to draw (so
/// empty buckets show as gaps), `label` formats a bucket start for the axis.
pub fn volume(
    points: &[VolumePoint],
    buckets: &[DateTime<Utc>],
    label: impl Fn(DateTime<Utc>) -> String,
) -> Markup {
    let mut by_bucket: BTreeMap<DateTime<Utc>, [i64; 4]> =
        buckets.iter().map(|b| (*b, [0; 4])).collect();
    for p in points {
        if let Some(v) = by_bucket.get_mut(&p.bucket_start) {
            v[series_of(&p.status)] += p.count;
        }
    }
    let max = by_bucket
        .values()
        .map(|v| v.iter().sum::<i64>())
        .max()
        .unwrap_or(0)
        .max(1);
    let (w, h, left, bottom) = (960.0_f64, 200.0_f64, 48.0_f64, 22.0_f64);
    let n = by_bucket.len().max(1) as f64;
    let slot = (w - left) / n;
    let bar = (slot * 0.8).max(1.0);
    let scale = (h - bottom - 8.0) / max as f64;
    let every = (by_bucket.len() / 8).max(1);
    html! {
        div.chart {
            svg viewBox={ "0 0 " (w) " " (h) } role="img" aria-label="Messages over time by status" {
                line x1=(left) y1=(h - bottom) x2=(w) y2=(h - bottom) stroke="#c3ccd6" {}
                text x=(left - 6.0) y="14" text-anchor="end" font-size="11" fill="#5c6b7a" { (super::layout::count(max)) }
                text x=(left - 6.0) y=(h - bottom) text-anchor="end" font-size="11" fill="#5c6b7a" { "0" }
                @for (i, (start, values)) in by_bucket.iter().enumerate() {
                    @let x = left + i as f64 * slot + (slot - bar) / 2.0;
                    @let mut y = h - bottom;
                    @for (s, v) in values.iter().enumerate() {
                        @if *v > 0 {
                            @let bh = (*v as f64 * scale).max(1.0);
                            @let top = { y -= bh; y };
                            rect x=(format!("{x:.1}")) y=(format!("{top:.1}")) width=(format!("{bar:.1}")) height=(format!("{bh:.1}")) fill=(SERIES[s].1) {
                                title { (label(*start)) " · " (SERIES[s].0) ": " (super::layout::count(*v)) }
                            }
                        }
                    }
                    @if i % every == 0 {
                        text x=(format!("{:.1}", x + bar / 2.0)) y=(h - 6.0) text-anchor="middle" font-size="11" fill="#5c6b7a" { (label(*start)) }
                    }
                }
            }
            div.legend {
                @for (name, colour, _) in SERIES {
                    span {
                        svg width="10" height="10" aria-hidden="true" { rect width="10" height="10" rx="2" fill=(colour) {} }
                        " " (name)
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn bars_stack_by_status_group_and_escape_labels() {
        let t0 = Utc.with_ymd_and_hms(2026, 11, 26, 8, 0, 0).unwrap();
        let t1 = Utc.with_ymd_and_hms(2026, 11, 26, 9, 0, 0).unwrap();
        let pts = vec![
            VolumePoint {
                bucket_start: t0,
                status: "COMPLETED".into(),
                count: 10,
            },
            VolumePoint {
                bucket_start: t0,
                status: "FAILED".into(),
                count: 2,
            },
            VolumePoint {
                bucket_start: t1,
                status: "WEIRD".into(),
                count: 3,
            },
        ];
        let svg = volume(&pts, &[t0, t1], |_| "<b>".into()).into_string();
        assert_eq!(
            svg.matches("<title>").count(),
            3,
            "one bar per non-empty status group: {svg}"
        );
        assert!(svg.contains("Completed: 10"));
        assert!(svg.contains("Failed: 2"));
        assert!(svg.contains("Other: 3"));
        assert!(!svg.contains("<b>"), "labels are escaped");
    }
}
