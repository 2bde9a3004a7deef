//! Evaluates a plan at one instant and hands out ordered pages of the matching message indices.
//!
//! A result is split at the "frozen" boundary: messages that started more than `max_pending`
//! before a (minute-rounded) now can never change again, so their matches for a given plan are
//! computed once and cached; only the recent, still-moving part is evaluated per request. The two
//! sorted parts are merged lazily, so a deep `$skiptoken` costs a binary search, not a rescan.
//! Results are exact for the request's instant: nothing stale is ever served.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use crate::catalog::Catalog;
use crate::generate::Generator;
use crate::plan::{Msg, Plan, Ranges, eval};

/// Frozen boundaries move in steps of this, so a cached part stays usable for a while.
const FREEZE_STEP_MS: i64 = 60_000;
const CACHE_ENTRIES: usize = 16;
/// Indices held by the whole cache (8 bytes each: 128 MiB). Larger parts are not cached.
const CACHE_BUDGET: usize = 16_000_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Order {
    /// LogStart ascending (also the default order).
    StartAsc,
    StartDesc,
    EndAsc,
    EndDesc,
}

impl Order {
    pub(crate) fn parse(s: Option<&str>) -> Option<Order> {
        let Some(s) = s else {
            return Some(Order::StartAsc);
        };
        let words: Vec<&str> = s.split_whitespace().collect();
        Some(match words.as_slice() {
            ["LogStart"] | ["LogStart", "asc"] => Order::StartAsc,
            ["LogStart", "desc"] => Order::StartDesc,
            ["LogEnd"] | ["LogEnd", "asc"] => Order::EndAsc,
            ["LogEnd", "desc"] => Order::EndDesc,
            _ => return None,
        })
    }

    fn by_end(self) -> bool {
        matches!(self, Order::EndAsc | Order::EndDesc)
    }

    fn desc(self) -> bool {
        matches!(self, Order::StartDesc | Order::EndDesc)
    }
}

struct CacheEntry {
    key: String,
    by_end: bool,
    frozen_end: u64,
    data: Arc<Vec<u64>>,
}

pub(crate) struct Engine {
    cache: Mutex<VecDeque<CacheEntry>>,
}

/// The matches of a plan at one instant, in ascending order of the sort key, as two sorted parts.
pub(crate) struct ResultSet<'a> {
    traffic: &'a Generator,
    now: i64,
    order: Order,
    frozen: Arc<Vec<u64>>,
    live: Vec<u64>,
}

impl Engine {
    pub(crate) fn new() -> Engine {
        Engine {
            cache: Mutex::new(VecDeque::new()),
        }
    }

    pub(crate) fn run<'a>(
        &self,
        traffic: &'a Generator,
        catalog: &Catalog,
        plan: &Plan,
        order: Order,
        now: i64,
    ) -> ResultSet<'a> {
        let visible = Ranges::span(traffic.visible_from, traffic.end_index(now));
        let candidates = plan.ranges.intersect(&visible);
        let step = now.div_euclid(FREEZE_STEP_MS) * FREEZE_STEP_MS;
        let frozen_end = traffic
            .first_index_at_or_after(step - traffic.max_pending_ms)
            .min(traffic.end_index(now));
        let frozen_ranges = candidates.intersect(&Ranges::span(0, frozen_end));
        let live_ranges = candidates.intersect(&Ranges::span(frozen_end, u64::MAX));
        let by_end = order.by_end();

        let frozen = if frozen_ranges.0.is_empty() {
            Arc::new(Vec::new())
        } else if let Some(hit) = self.lookup(&plan.key, by_end, frozen_end) {
            hit
        } else {
            let data = Arc::new(collect(traffic, catalog, plan, &frozen_ranges, now, by_end));
            if data.len() <= CACHE_BUDGET / 2 {
                self.store(CacheEntry {
                    key: plan.key.clone(),
                    by_end,
                    frozen_end,
                    data: data.clone(),
                });
            }
            data
        };
        let live = collect(traffic, catalog, plan, &live_ranges, now, by_end);
        ResultSet {
            traffic,
            now,
            order,
            frozen,
            live,
        }
    }

    fn lookup(&self, key: &str, by_end: bool, frozen_end: u64) -> Option<Arc<Vec<u64>>> {
        let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache
            .iter()
            .find(|e| e.key == key && e.by_end == by_end && e.frozen_end == frozen_end)
            .map(|e| e.data.clone())
    }

    fn store(&self, entry: CacheEntry) {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        // A newer boundary for the same query replaces the older one.
        cache.retain(|e| !(e.key == entry.key && e.by_end == entry.by_end));
        let held = |c: &VecDeque<CacheEntry>| c.iter().map(|e| e.data.len()).sum::<usize>();
        while !cache.is_empty()
            && (cache.len() >= CACHE_ENTRIES || held(&cache) + entry.data.len() > CACHE_BUDGET)
        {
            cache.pop_front();
        }
        cache.push_back(entry);
    }
}

/// Matching indices in `ranges`, sorted by (LogEnd, index) when `by_end`, else by index.
fn collect(
    traffic: &Generator,
    catalog: &Catalog,
    plan: &Plan,
    ranges: &Ranges,
    now: i64,
    by_end: bool,
) -> Vec<u64> {
    let mut keyed: Vec<(i64, u64)> = Vec::new();
    let mut plain: Vec<u64> = Vec::new();
    for &(a, b) in &ranges.0 {
        for i in a..b {
            let core = traffic.core(i);
            let state = traffic.state(&core, now);
            let m = Msg {
                traffic,
                catalog,
                core,
                state,
            };
            if eval(&plan.pred, &m) {
                if by_end {
                    keyed.push((state.log_end, i));
                } else {
                    plain.push(i);
                }
            }
        }
    }
    if by_end {
        // Nearly sorted already (LogEnd stays close to LogStart): the stable sort finds the runs.
        keyed.sort();
        keyed.into_iter().map(|(_, i)| i).collect()
    } else {
        plain
    }
}

impl ResultSet<'_> {
    pub(crate) fn len(&self) -> usize {
        self.frozen.len() + self.live.len()
    }

    fn key(&self, i: u64) -> (i64, u64) {
        if self.order.by_end() {
            let core = self.traffic.core(i);
            (self.traffic.state(&core, self.now).log_end, i)
        } else {
            (0, i)
        }
    }

    /// Entries `[start, start + n)` of the result in the requested order.
    pub(crate) fn page(&self, start: usize, n: usize) -> Vec<u64> {
        let total = self.len();
        let start = start.min(total);
        let n = n.min(total - start);
        if self.order.desc() {
            // Descending position p is ascending position total - 1 - p.
            let mut v = self.asc_range(total - start - n, n);
            v.reverse();
            v
        } else {
            self.asc_range(start, n)
        }
    }

    fn asc_range(&self, start: usize, n: usize) -> Vec<u64> {
        let (f, l) = (&self.frozen[..], &self.live[..]);
        if !self.order.by_end() {
            // Frozen indices all precede live ones.
            return f
                .iter()
                .chain(l.iter())
                .skip(start)
                .take(n)
                .copied()
                .collect();
        }
        // How many of the first `start` merged entries come from the frozen part.
        let (mut lo, mut hi) = (start.saturating_sub(l.len()), start.min(f.len()));
        while lo < hi {
            let a = (lo + hi) / 2;
            // Too few frozen entries taken if the live entry we would take next-to-last is
            // larger than the frozen entry at `a`.
            if self.key(l[start - a - 1]) > self.key(f[a]) {
                lo = a + 1;
            } else {
                hi = a;
            }
        }
        let (mut i, mut j) = (lo, start - lo);
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            let take_frozen = match (f.get(i), l.get(j)) {
                (Some(&x), Some(&y)) => self.key(x) < self.key(y),
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (None, None) => break,
            };
            if take_frozen {
                out.push(f[i]);
                i += 1;
            } else {
                out.push(l[j]);
                j += 1;
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SimConfig;
    use crate::generate::EPOCH_MS;
    use std::time::Duration;

    fn setup() -> (Generator, Catalog, i64) {
        let now = EPOCH_MS + 500 * 86_400_000 + 12_345;
        let cfg = SimConfig::default()
            .with_rate(20.0)
            .with_history(Duration::from_secs(3 * 3600));
        let traffic = Generator::new(&cfg, now);
        let catalog = Catalog::new(1, 20, now, now - 3 * 3600 * 1000);
        (traffic, catalog, now)
    }

    /// The merged, paged result equals a brute-force evaluation over every visible message.
    #[test]
    fn pages_equal_a_brute_force_sort() {
        let (traffic, catalog, now) = setup();
        let engine = Engine::new();
        let plan = Plan::window(&traffic, true, now - 40 * 60_000, now + 1);
        for order in [
            Order::EndAsc,
            Order::EndDesc,
            Order::StartAsc,
            Order::StartDesc,
        ] {
            let rs = engine.run(&traffic, &catalog, &plan, order, now);
            let mut expect: Vec<(i64, u64)> = (traffic.visible_from..traffic.end_index(now))
                .filter_map(|i| {
                    let c = traffic.core(i);
                    let s = traffic.state(&c, now);
                    let key = if order.by_end() {
                        s.log_end
                    } else {
                        c.start_ms
                    };
                    (s.log_end >= now - 40 * 60_000 && s.log_end < now + 1).then_some((key, i))
                })
                .collect();
            expect.sort();
            if order.desc() {
                expect.reverse();
            }
            let expect: Vec<u64> = expect.into_iter().map(|(_, i)| i).collect();
            assert_eq!(rs.len(), expect.len());
            assert!(
                !rs.frozen.is_empty() && !rs.live.is_empty(),
                "both parts used"
            );
            let mut got = Vec::new();
            let mut pos = 0;
            while pos < rs.len() {
                got.extend(rs.page(pos, 777));
                pos += 777;
            }
            assert_eq!(got, expect, "{order:?}");
        }
    }

    #[test]
    fn frozen_parts_are_cached_and_reused() {
        let (traffic, catalog, now) = setup();
        let engine = Engine::new();
        let plan = Plan::window(&traffic, true, now - 3 * 3_600_000, now + 1);
        let a = engine.run(&traffic, &catalog, &plan, Order::EndAsc, now);
        let b = engine.run(&traffic, &catalog, &plan, Order::EndDesc, now + 10);
        assert!(Arc::ptr_eq(&a.frozen, &b.frozen));
    }

    #[test]
    fn orderby_accepts_only_the_tenant_forms() {
        assert_eq!(Order::parse(None), Some(Order::StartAsc));
        assert_eq!(Order::parse(Some("LogEnd desc")), Some(Order::EndDesc));
        assert_eq!(Order::parse(Some("LogStart")), Some(Order::StartAsc));
        assert_eq!(Order::parse(Some("Status")), None);
        assert_eq!(Order::parse(Some("LogEnd,LogStart")), None);
    }
}
