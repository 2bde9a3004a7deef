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
    volume_linked(points, buckets, label, |_| None)
}

/// [`volume`] whose bars open `link(bucket start)`: a bar of the chart opens that hour's (or
/// day's) messages.
pub fn volume_linked(
    points: &[VolumePoint],
    buckets: &[DateTime<Utc>],
    label: impl Fn(DateTime<Utc>) -> String,
    link: impl Fn(DateTime<Utc>) -> Option<String>,
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
                    @let bars = html! {
                        @for (s, v) in values.iter().enumerate() {
                            @if *v > 0 {
                                @let bh = (*v as f64 * scale).max(1.0);
                                @let top = { y -= bh; y };
                                rect x=(format!("{x:.1}")) y=(format!("{top:.1}")) width=(format!("{bar:.1}")) height=(format!("{bh:.1}")) fill=(SERIES[s].1) {
                                    title { (label(*start)) " · " (SERIES[s].0) ": " (super::layout::count(*v)) }
                                }
                            }
                        }
                    };
                    @match link(*start).filter(|_| values.iter().any(|v| *v > 0)) {
                        Some(href) => a.bar href=(href) { (bars) },
                        None => (bars),
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

/// Colours of line series, in order.
const LINE_COLOURS: [&str; 8] = [
    "#1e88e5", "#43a047", "#e53935", "#fb8c00", "#8e24aa", "#00897b", "#6d4c41", "#90a4ae",
];

/// One line of [`lines`].
pub struct Line {
    pub name: String,
    pub points: Vec<(DateTime<Utc>, f64)>,
}

/// A line chart over time: one line per series (up to eight colours, then repeating), x by
/// time, y from zero to the largest value; `value` formats a y value (axis and tooltips),
/// `label` a time.
pub fn lines(
    series: &[Line],
    value: impl Fn(f64) -> String,
    label: impl Fn(DateTime<Utc>) -> String,
) -> Markup {
    let all = series.iter().flat_map(|s| s.points.iter());
    let (mut t0, mut t1, mut max) = (None::<DateTime<Utc>>, None::<DateTime<Utc>>, 0.0_f64);
    for (t, v) in all {
        t0 = Some(t0.map_or(*t, |a| a.min(*t)));
        t1 = Some(t1.map_or(*t, |a| a.max(*t)));
        max = max.max(*v);
    }
    let (Some(t0), Some(t1)) = (t0, t1) else {
        return html! { p.muted { "No data yet." } };
    };
    let max = if max > 0.0 { max } else { 1.0 };
    let (w, h, left, bottom) = (960.0_f64, 220.0_f64, 72.0_f64, 22.0_f64);
    let span = (t1 - t0).num_seconds().max(1) as f64;
    let x = |t: DateTime<Utc>| left + (t - t0).num_seconds() as f64 / span * (w - left - 8.0);
    let y = |v: f64| h - bottom - v / max * (h - bottom - 10.0);
    // Five time labels, or one when every point has the same time.
    let ticks: Vec<DateTime<Utc>> = if t1 > t0 {
        (0..=4)
            .map(|i| t0 + chrono::Duration::seconds((span * f64::from(i) / 4.0) as i64))
            .collect()
    } else {
        vec![t0]
    };
    let last = ticks.len() - 1;
    html! {
        div.chart {
            svg viewBox={ "0 0 " (w) " " (h) } role="img" aria-label="Values over time" {
                line x1=(left) y1=(h - bottom) x2=(w) y2=(h - bottom) stroke="#c3ccd6" {}
                text x=(left - 6.0) y="14" text-anchor="end" font-size="11" fill="#5c6b7a" { (value(max)) }
                text x=(left - 6.0) y=(h - bottom) text-anchor="end" font-size="11" fill="#5c6b7a" { "0" }
                @for (i, t) in ticks.iter().enumerate() {
                    // The last label ends at its tick so it stays inside the picture.
                    text x=(format!("{:.1}", x(*t))) y=(h - 6.0) text-anchor=(if i == last && last > 0 { "end" } else { "middle" }) font-size="11" fill="#5c6b7a" { (label(*t)) }
                }
                @for (i, s) in series.iter().enumerate() {
                    @let colour = LINE_COLOURS[i % LINE_COLOURS.len()];
                    @let path = s.points.iter().map(|(t, v)| format!("{:.1},{:.1}", x(*t), y(*v))).collect::<Vec<_>>().join(" ");
                    polyline points=(path) fill="none" stroke=(colour) stroke-width="2" {
                        title { (s.name) }
                    }
                    @for (t, v) in &s.points {
                        circle cx=(format!("{:.1}", x(*t))) cy=(format!("{:.1}", y(*v))) r="2.5" fill=(colour) {
                            title { (s.name) " · " (label(*t)) ": " (value(*v)) }
                        }
                    }
                }
            }
            div.legend {
                @for (i, s) in series.iter().enumerate() {
                    span {
                        svg width="10" height="10" aria-hidden="true" { rect width="10" height="10" rx="2" fill=(LINE_COLOURS[i % LINE_COLOURS.len()]) {} }
                        " " (s.name)
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
    fn lines_draw_one_polyline_per_series_and_escape_names() {
        let t0 = Utc.with_ymd_and_hms(2026, 11, 26, 8, 0, 0).unwrap();
        let t1 = Utc.with_ymd_and_hms(2026, 11, 26, 9, 0, 0).unwrap();
        let series = vec![
            Line {
                name: "<a>".into(),
                points: vec![(t0, 1.0), (t1, 3.0)],
            },
            Line {
                name: "b".into(),
                points: vec![(t1, 2.0)],
            },
        ];
        let svg = lines(&series, |v| format!("{v}"), |_| "t".into()).into_string();
        assert_eq!(svg.matches("<polyline").count(), 2, "{svg}");
        assert_eq!(svg.matches("<circle").count(), 3, "{svg}");
        assert!(!svg.contains("<a>"), "names are escaped");
        assert!(
            lines(&[], |v| format!("{v}"), |_| "t".into())
                .into_string()
                .contains("No data yet")
        );
    }

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
