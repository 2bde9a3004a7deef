//! The traffic model. Message `i` is a pure function of `(seed, i)`: nothing is stored, so a week
//! of history at any rate costs no memory, and every id encodes the index it came from so a lookup
//! by id is O(1).
//!
//! Time: message `i` starts at `EPOCH + i * period + jitter(i)` with `jitter < period`, so LogStart
//! grows with `i` and the index range for a time range is found by arithmetic. The epoch is fixed
//! (not the simulator's start), so two simulators with the same seed and rate serve the same
//! messages at the same instants, whenever they were started. Every status change of message `i`
//! happens within `max_pending` after its LogStart: that bound is what lets a LogEnd window be
//! turned into an index range.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::config::{SimConfig, TrafficConfig};

/// 2020-01-01T00:00:00Z: message 0 starts here.
pub(crate) const EPOCH_MS: i64 = 1_577_836_800_000;
const NS_PER_MS: u128 = 1_000_000;

// Hash domains, so unrelated properties of one message are independent.
const T_JITTER: u64 = 0x01;
const T_FATE: u64 = 0x02;
const T_PARAM: u64 = 0x03;
const T_IFLOW: u64 = 0x04;
const T_MISC: u64 = 0x05;
const T_GUID: u64 = 0x06;
const T_CORR: u64 = 0x07;
const T_CORR_TAIL: u64 = 0x08;
const T_TX: u64 = 0x09;
const T_TX2: u64 = 0x0a;
const T_RUN: u64 = 0x0b;
const T_UUID: u64 = 0x0c;
const T_MASK: u64 = 0x0d;
const T_DETAIL: u64 = 0x0e;

/// splitmix64's finaliser: a cheap, well-mixed bijection on u64.
pub(crate) fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

pub(crate) fn hash(seed: u64, tag: u64, i: u64) -> u64 {
    mix64(
        seed ^ mix64(
            i.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ tag.wrapping_mul(0xd6e8_feb8_6659_fd93),
        ),
    )
}

/// Message status, as a small copyable code. `domain::MessageStatus` is used at the edges.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum St {
    Processing,
    Retry,
    Escalated,
    Failed,
    Completed,
    Cancelled,
    Discarded,
    Abandoned,
}

impl St {
    pub(crate) const ALL: [St; 8] = [
        St::Processing,
        St::Retry,
        St::Escalated,
        St::Failed,
        St::Completed,
        St::Cancelled,
        St::Discarded,
        St::Abandoned,
    ];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            St::Processing => "PROCESSING",
            St::Retry => "RETRY",
            St::Escalated => "ESCALATED",
            St::Failed => "FAILED",
            St::Completed => "COMPLETED",
            St::Cancelled => "CANCELLED",
            St::Discarded => "DISCARDED",
            St::Abandoned => "ABANDONED",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<St> {
        St::ALL.into_iter().find(|st| st.as_str() == s)
    }

    pub(crate) fn to_domain(self) -> domain::MessageStatus {
        domain::MessageStatus::parse(self.as_str())
    }

    /// Statuses that carry error information.
    pub(crate) fn has_error(self) -> bool {
        matches!(self, St::Failed | St::Retry | St::Escalated)
    }
}

/// What happens to a message over its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fate {
    /// PROCESSING for `dur` ms (at most ~5 s), then `end`.
    Quick { end: St, dur: u32 },
    /// PROCESSING for `dur` ms (up to `max_pending`), then `end`.
    Long { end: St, dur: u32 },
    /// First run fails after `first` ms (RETRY), then `retries` more runs `interval` ms apart;
    /// after the last one the message ends in `end` (which may be RETRY: it hangs there).
    Retry {
        first: u32,
        interval: u32,
        retries: u8,
        end: St,
    },
}

/// The cheap, time-independent part of a message.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Core {
    pub idx: u64,
    pub start_ms: i64,
    pub iflow: u32,
    pub fate: Fate,
    /// 0 INFO, 1 DEBUG, 2 TRACE.
    pub level: u8,
}

pub(crate) const LOG_LEVELS: [&str; 3] = ["INFO", "DEBUG", "TRACE"];

/// A message's status and LogEnd at some instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct State {
    pub status: St,
    pub log_end: i64,
    /// Runs started so far.
    pub runs: u8,
}

/// One run (one processing attempt) of a message, as of some instant.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RunInfo {
    pub no: u8,
    pub start: i64,
    /// None while the run is still going.
    pub stop: Option<i64>,
    pub state: St,
}

/// Correlation ids are shared by a group of four consecutive messages or owned by one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CorrKey {
    Group(u64),
    Single(u64),
}

pub(crate) struct Generator {
    pub seed: u64,
    period_ns: u128,
    pub max_pending_ms: i64,
    cum: [u32; 8],
    total_w: u32,
    iflow_table: Vec<u32>,
    pub headers: (u8, u8),
    pub payload_size: usize,
    pub attachment_size: usize,
    corr_permille: u64,
    large_permille: u64,
    /// First index that exists (the start of history).
    pub visible_from: u64,
    guid_mask: u64,
    corr_mask: u64,
    run_mask: u64,
    uuid_mask: u64,
    /// Worker node id in attachment / store ids (`sap-it-res:msg:<node>:<uuid>`).
    pub node: String,
}

impl Generator {
    pub(crate) fn new(cfg: &SimConfig, start_ms: i64) -> Self {
        let t: &TrafficConfig = &cfg.traffic;
        let seed = cfg.seed;
        let period_ns = ((1e9 / t.rate_per_sec).round() as u128).max(1);
        let weights = t.status_mix.weights();
        let mut cum = [0u32; 8];
        let mut acc = 0u32;
        for (c, w) in cum.iter_mut().zip(weights) {
            acc += w;
            *c = acc;
        }
        let iflows = t.iflows as u32;
        // Busy flows first: weight 1 / (1 + f/4), laid out in a lookup table so picking is O(1).
        let slots = (iflows as usize * 8).max(4096);
        let weights: Vec<f64> = (0..iflows).map(|f| 1.0 / (1.0 + f as f64 / 4.0)).collect();
        let total: f64 = weights.iter().sum();
        let mut iflow_table = Vec::with_capacity(slots);
        for (f, w) in weights.iter().enumerate() {
            let n = ((w / total) * slots as f64).floor().max(1.0) as usize;
            iflow_table.extend(std::iter::repeat_n(f as u32, n));
        }
        let max_pending_ms = t.max_pending.as_millis().min(i64::MAX as u128) as i64;
        let mut g = Generator {
            seed,
            period_ns,
            max_pending_ms,
            cum,
            total_w: acc,
            iflow_table,
            headers: t.headers_per_message,
            payload_size: t.payload_size,
            attachment_size: t.attachment_size,
            corr_permille: u64::from(t.correlated_permille),
            large_permille: u64::from(t.large_run_permille),
            visible_from: 0,
            guid_mask: hash(seed, T_MASK, 1),
            corr_mask: hash(seed, T_MASK, 2) >> 1,
            run_mask: hash(seed, T_MASK, 3),
            uuid_mask: hash(seed, T_MASK, 4),
            node: format!("{:09x}", hash(seed, T_MASK, 5) & 0xf_ffff_ffff),
        };
        let history_start = match t.history_start {
            Some(s) => s.timestamp_millis(),
            None => start_ms - t.history.as_millis().min(i64::MAX as u128) as i64,
        };
        g.visible_from = g.first_index_at_or_after(history_start);
        g
    }

    fn start_rel_ns(&self, i: u64) -> u128 {
        let jitter = u128::from(hash(self.seed, T_JITTER, i)) % self.period_ns;
        u128::from(i) * self.period_ns + jitter
    }

    /// LogStart of message `i`, epoch milliseconds. Non-decreasing in `i`.
    pub(crate) fn start_ms(&self, i: u64) -> i64 {
        EPOCH_MS + (self.start_rel_ns(i) / NS_PER_MS) as i64
    }

    /// The first index whose LogStart is `>= t_ms`.
    pub(crate) fn first_index_at_or_after(&self, t_ms: i64) -> u64 {
        if t_ms <= EPOCH_MS {
            return 0;
        }
        let target = (t_ms - EPOCH_MS) as u128 * NS_PER_MS;
        let i0 = target / self.period_ns;
        let i0 = u64::try_from(i0).unwrap_or(u64::MAX / 2);
        if self.start_rel_ns(i0) >= target {
            i0
        } else {
            i0 + 1
        }
    }

    /// One past the last message that exists at `now_ms` (LogStart <= now).
    pub(crate) fn end_index(&self, now_ms: i64) -> u64 {
        self.first_index_at_or_after(now_ms.saturating_add(1))
    }

    pub(crate) fn core(&self, i: u64) -> Core {
        let start_ms = self.start_ms(i);
        let hf = hash(self.seed, T_FATE, i);
        let hp = hash(self.seed, T_PARAM, i);
        let pick = (hf % u64::from(self.total_w)) as u32;
        let category = self.cum.iter().position(|c| pick < *c).unwrap_or(0);
        let quick = |end| Fate::Quick {
            end,
            dur: quick_duration(hp),
        };
        let fate = match category {
            0 => quick(St::Completed),
            1 => quick(St::Failed),
            2 => self.retry_fate(hp),
            3 => Fate::Long {
                end: if (hp >> 40) % 100 < 85 {
                    St::Completed
                } else {
                    St::Failed
                },
                dur: self.long_duration(hp),
            },
            4 => quick(St::Escalated),
            5 => quick(St::Discarded),
            6 => quick(St::Cancelled),
            _ => Fate::Long {
                end: St::Abandoned,
                dur: self.long_duration(hp),
            },
        };
        let hi = hash(self.seed, T_IFLOW, i);
        let iflow = self.iflow_table[(hi % self.iflow_table.len() as u64) as usize];
        let lv = (hi >> 32) % 100;
        let level = if lv < 1 {
            2
        } else if lv < 4 {
            1
        } else {
            0
        };
        Core {
            idx: i,
            start_ms,
            iflow,
            fate,
            level,
        }
    }

    fn long_duration(&self, hp: u64) -> u32 {
        let max = self.max_pending_ms;
        let lo = 20_000.min(max / 2);
        (lo + ((hp >> 16) % (max - lo + 1) as u64) as i64) as u32
    }

    fn retry_fate(&self, hp: u64) -> Fate {
        let first = 200 + (hp % 4800) as u32;
        let retries = 1 + ((hp >> 20) % 3) as u8;
        let budget = (self.max_pending_ms - i64::from(first) - 1).max(2) as u64;
        let max_int = (budget / u64::from(retries)).max(2);
        let interval = (max_int / 2 + (hp >> 32) % (max_int / 2 + 1)) as u32;
        let end = match (hp >> 48) % 10 {
            0..=5 => St::Completed,
            6 | 7 => St::Failed,
            _ => St::Retry,
        };
        Fate::Retry {
            first,
            interval,
            retries,
            end,
        }
    }

    /// Status, LogEnd and runs of `c` at `now` (which must be >= its LogStart).
    pub(crate) fn state(&self, c: &Core, now: i64) -> State {
        let s = c.start_ms;
        match c.fate {
            Fate::Quick { end, dur } | Fate::Long { end, dur } => {
                let done = s + i64::from(dur);
                if now < done {
                    State {
                        status: St::Processing,
                        log_end: s,
                        runs: 1,
                    }
                } else {
                    State {
                        status: end,
                        log_end: done,
                        runs: 1,
                    }
                }
            }
            Fate::Retry {
                first,
                interval,
                retries,
                end,
            } => {
                let t1 = s + i64::from(first);
                if now < t1 {
                    return State {
                        status: St::Processing,
                        log_end: s,
                        runs: 1,
                    };
                }
                let interval = i64::from(interval);
                let done = (now - t1) / interval;
                if done >= i64::from(retries) {
                    State {
                        status: end,
                        log_end: t1 + i64::from(retries) * interval,
                        runs: 1 + retries,
                    }
                } else {
                    State {
                        status: St::Retry,
                        log_end: t1 + done * interval,
                        runs: 1 + done as u8,
                    }
                }
            }
        }
    }

    /// The runs of a message as of `now`.
    pub(crate) fn runs(&self, c: &Core, now: i64) -> Vec<RunInfo> {
        let s = c.start_ms;
        match c.fate {
            Fate::Quick { end, dur } | Fate::Long { end, dur } => {
                let done = s + i64::from(dur);
                let finished = now >= done;
                vec![RunInfo {
                    no: 1,
                    start: s,
                    stop: finished.then_some(done),
                    state: if finished { end } else { St::Processing },
                }]
            }
            Fate::Retry {
                first,
                interval,
                retries,
                end,
            } => {
                let st = self.state(c, now);
                let t1 = s + i64::from(first);
                let mut runs = Vec::with_capacity(usize::from(st.runs));
                runs.push(RunInfo {
                    no: 1,
                    start: s,
                    stop: (now >= t1).then_some(t1),
                    state: if now >= t1 {
                        St::Failed
                    } else {
                        St::Processing
                    },
                });
                for r in 1..st.runs {
                    let stop = t1 + i64::from(r) * i64::from(interval);
                    let last = r == retries;
                    runs.push(RunInfo {
                        no: r + 1,
                        // Retries are short: they start a little before the instant they end.
                        start: stop - 150 - i64::from(r) * 37,
                        stop: Some(stop),
                        state: if last && end == St::Completed {
                            St::Completed
                        } else {
                            St::Failed
                        },
                    });
                }
                runs
            }
        }
    }

    // ---- details that do not change over time ----------------------------------------------

    pub(crate) fn detail_hash(&self, i: u64, k: u64) -> u64 {
        hash(self.seed, T_DETAIL ^ (k << 8), i)
    }

    pub(crate) fn header_count(&self, i: u64) -> usize {
        let (lo, hi) = self.headers;
        let span = u64::from(hi - lo) + 1;
        usize::from(lo) + (self.detail_hash(i, 1) % span) as usize
    }

    pub(crate) fn attachment_count(&self, i: u64) -> usize {
        let h = self.detail_hash(i, 2);
        if h % 100 < 12 {
            1 + ((h >> 8) % 2) as usize
        } else {
            0
        }
    }

    pub(crate) fn store_entry_count(&self, c: &Core) -> usize {
        if c.iflow % 4 == 1 {
            1 + ((self.detail_hash(c.idx, 3) >> 16) % 2) as usize
        } else {
            0
        }
    }

    pub(crate) fn adapter_attribute_count(&self, c: &Core) -> usize {
        if c.iflow % 5 == 2 { 2 } else { 0 }
    }

    /// Steps per run: a few, or more than 500 for the splitter-like share.
    pub(crate) fn step_count(&self, i: u64) -> u32 {
        let h = self.detail_hash(i, 4);
        if h % 1000 < self.large_permille {
            600 + ((h >> 12) % 600) as u32
        } else {
            4 + ((h >> 12) % 12) as u32
        }
    }

    pub(crate) fn has_app_id(&self, i: u64) -> bool {
        hash(self.seed, T_MISC, i) % 10 < 3
    }

    pub(crate) fn app_id(&self, i: u64) -> Option<u64> {
        self.has_app_id(i).then_some(APP_ID_BASE + i)
    }

    pub(crate) fn decode_app_id(&self, s: &str) -> Option<u64> {
        let v: u64 = s.parse().ok()?;
        let i = v.checked_sub(APP_ID_BASE)?;
        (self.has_app_id(i) && (APP_ID_BASE + i).to_string() == s).then_some(i)
    }

    // ---- ids ---------------------------------------------------------------------------------

    fn id28(&self, secs_from: i64, body: u64, tail: u64) -> [u8; 21] {
        let mut b = [0u8; 21];
        b[1..5].copy_from_slice(&((secs_from / 1000) as u32).to_be_bytes());
        b[5..13].copy_from_slice(&body.to_be_bytes());
        b[13..21].copy_from_slice(&tail.to_be_bytes());
        b
    }

    /// MessageGuid: 28 URL-safe base64 chars like the tenant's (a zero byte, LogStart seconds,
    /// then the masked index and a check value).
    pub(crate) fn guid_into(&self, c: &Core, out: &mut [u8; 28]) {
        let b = self.id28(
            c.start_ms,
            c.idx ^ self.guid_mask,
            hash(self.seed, T_GUID, c.idx),
        );
        encode28(&b, out);
    }

    pub(crate) fn guid(&self, c: &Core) -> String {
        let mut out = [0u8; 28];
        self.guid_into(c, &mut out);
        String::from_utf8_lossy(&out).into_owned()
    }

    pub(crate) fn decode_guid(&self, s: &str) -> Option<u64> {
        let b = decode28(s)?;
        let i = u64::from_be_bytes(b[5..13].try_into().ok()?) ^ self.guid_mask;
        (i < u64::MAX / 4 && self.guid(&self.core(i)) == s).then_some(i)
    }

    pub(crate) fn corr_key(&self, i: u64) -> CorrKey {
        let g = i / 4;
        if hash(self.seed, T_CORR, g) % 1000 < self.corr_permille {
            CorrKey::Group(g)
        } else {
            CorrKey::Single(i)
        }
    }

    pub(crate) fn corr_id_into(&self, key: CorrKey, out: &mut [u8; 28]) {
        let (first, body) = match key {
            CorrKey::Group(g) => (g * 4, (g | 1 << 63) ^ self.corr_mask),
            CorrKey::Single(i) => (i, i ^ self.corr_mask),
        };
        let b = self.id28(
            self.start_ms(first),
            body,
            hash(self.seed, T_CORR_TAIL, body),
        );
        encode28(&b, out);
    }

    pub(crate) fn corr_id(&self, key: CorrKey) -> String {
        let mut out = [0u8; 28];
        self.corr_id_into(key, &mut out);
        String::from_utf8_lossy(&out).into_owned()
    }

    /// The correlation key a CorrelationId names, if it is one this tenant hands out.
    pub(crate) fn decode_corr(&self, s: &str) -> Option<CorrKey> {
        let b = decode28(s)?;
        let body = u64::from_be_bytes(b[5..13].try_into().ok()?) ^ self.corr_mask;
        let key = if body >> 63 == 1 {
            CorrKey::Group(body & !(1 << 63))
        } else {
            CorrKey::Single(body)
        };
        let probe = match key {
            CorrKey::Group(g) => g.checked_mul(4)?,
            CorrKey::Single(i) => i,
        };
        (probe < u64::MAX / 4 && self.corr_key(probe) == key && self.corr_id(key) == s)
            .then_some(key)
    }

    /// Predecessor in a correlated group: the message before it in the group.
    pub(crate) fn predecessor(&self, i: u64) -> Option<u64> {
        match self.corr_key(i) {
            CorrKey::Group(_) if !i.is_multiple_of(4) => Some(i - 1),
            _ => None,
        }
    }

    pub(crate) fn transaction_id(&self, i: u64, out: &mut [u8; 32]) {
        let a = hash(self.seed, T_TX, i);
        let b = hash(self.seed, T_TX2, i);
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&a.to_be_bytes());
        bytes[8..].copy_from_slice(&b.to_be_bytes());
        hex_into(&bytes, out);
    }

    pub(crate) fn run_id(&self, c: &Core, run_no: u8) -> String {
        let mut b = self.id28(c.start_ms, c.idx ^ self.run_mask, 0);
        b[13] = run_no;
        let tail = hash(self.seed, T_RUN, c.idx ^ (u64::from(run_no) << 56)).to_be_bytes();
        b[14..21].copy_from_slice(&tail[..7]);
        let mut out = [0u8; 28];
        encode28(&b, &mut out);
        String::from_utf8_lossy(&out).into_owned()
    }

    /// (message index, run number) of a run id.
    pub(crate) fn decode_run_id(&self, s: &str) -> Option<(u64, u8)> {
        let b = decode28(s)?;
        let i = u64::from_be_bytes(b[5..13].try_into().ok()?) ^ self.run_mask;
        let no = b[13];
        (i < u64::MAX / 4 && no >= 1 && self.run_id(&self.core(i), no) == s).then_some((i, no))
    }

    /// Attachment (`kind` 0) and message-store (`kind` 1) ids:
    /// `sap-it-res:msg:<node>:<uuid>`, the uuid carrying the index.
    pub(crate) fn resource_id(&self, i: u64, kind: u8, k: u8) -> String {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&(i ^ self.uuid_mask).to_be_bytes());
        b[8] = kind << 4 | k;
        let tail = hash(self.seed, T_UUID, i ^ (u64::from(b[8]) << 56)).to_be_bytes();
        b[9..16].copy_from_slice(&tail[..7]);
        let mut hx = [0u8; 32];
        hex_into(&b, &mut hx);
        let h = std::str::from_utf8(&hx).unwrap_or_default();
        format!(
            "sap-it-res:msg:{}:{}-{}-{}-{}-{}",
            self.node,
            &h[0..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..32]
        )
    }

    /// (message index, kind, k) of an attachment or store-entry id.
    pub(crate) fn decode_resource_id(&self, s: &str) -> Option<(u64, u8, u8)> {
        let uuid = s.strip_prefix("sap-it-res:msg:")?.split(':').nth(1)?;
        let hx: String = uuid.chars().filter(|c| *c != '-').collect();
        let bytes = hex::decode(hx).ok()?;
        if bytes.len() != 16 {
            return None;
        }
        let i = u64::from_be_bytes(bytes[..8].try_into().ok()?) ^ self.uuid_mask;
        let (kind, k) = (bytes[8] >> 4, bytes[8] & 0x0f);
        (i < u64::MAX / 4 && self.resource_id(i, kind, k) == s).then_some((i, kind, k))
    }
}

pub(crate) const APP_ID_BASE: u64 = 4_500_000_000;

/// Quick durations: mostly tens to hundreds of ms, a tail up to ~5 s.
fn quick_duration(hp: u64) -> u32 {
    let r = (hp % 1000) as u32;
    15 + r * r / 200
}

fn encode28(b: &[u8; 21], out: &mut [u8; 28]) {
    // 21 bytes encode to exactly 28 characters without padding.
    let n = URL_SAFE_NO_PAD
        .encode_slice(b, &mut out[..])
        .unwrap_or_default();
    debug_assert_eq!(n, 28);
}

fn decode28(s: &str) -> Option<[u8; 21]> {
    if s.len() != 28 {
        return None;
    }
    let v = URL_SAFE_NO_PAD.decode(s).ok()?;
    v.try_into().ok()
}

pub(crate) fn hex_into(bytes: &[u8], out: &mut [u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for (i, b) in bytes.iter().enumerate() {
        out[2 * i] = HEX[usize::from(b >> 4)];
        out[2 * i + 1] = HEX[usize::from(b & 0x0f)];
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SimConfig;
    use std::time::Duration;

    fn gen_with(rate: f64) -> Generator {
        let cfg = SimConfig::default().with_rate(rate).with_seed(42);
        Generator::new(&cfg, EPOCH_MS + 400 * 86_400_000)
    }

    #[test]
    fn log_start_is_monotone_and_index_search_is_exact() {
        for rate in [0.3, 1.0, 7.0, 1000.0] {
            let g = gen_with(rate);
            let base = g.visible_from;
            let mut prev = g.start_ms(base);
            for i in base + 1..base + 3000 {
                let s = g.start_ms(i);
                assert!(s >= prev, "rate {rate}: start({i}) went back");
                prev = s;
            }
            for i in base..base + 3000 {
                let t = g.start_ms(i);
                let first = g.first_index_at_or_after(t);
                assert!(g.start_ms(first) >= t);
                assert!(first == 0 || g.start_ms(first - 1) < t, "rate {rate} i {i}");
                assert!(first <= i);
            }
        }
    }

    #[test]
    fn every_status_change_happens_within_max_pending() {
        let g = gen_with(5.0);
        for i in g.visible_from..g.visible_from + 20_000 {
            let c = g.core(i);
            let late = g.state(&c, c.start_ms + g.max_pending_ms);
            let later = g.state(&c, c.start_ms + g.max_pending_ms + 86_400_000);
            assert_eq!(late, later, "message {i} ({:?}) changed late", c.fate);
            assert!(late.log_end >= c.start_ms && late.log_end <= c.start_ms + g.max_pending_ms);
            for dt in [0, 10, 1000, 30_000, 200_000] {
                let st = g.state(&c, c.start_ms + dt);
                assert!(st.log_end >= c.start_ms && st.log_end <= c.start_ms + dt.max(0));
            }
        }
    }

    #[test]
    fn ids_decode_back_to_their_index() {
        let g = gen_with(3.0);
        for i in [g.visible_from, g.visible_from + 17, g.visible_from + 99_999] {
            let c = g.core(i);
            let guid = g.guid(&c);
            assert_eq!(guid.len(), 28);
            assert!(guid.starts_with('A'));
            assert_eq!(g.decode_guid(&guid), Some(i));
            let key = g.corr_key(i);
            assert_eq!(g.decode_corr(&g.corr_id(key)), Some(key));
            let run = g.run_id(&c, 2);
            assert_eq!(g.decode_run_id(&run), Some((i, 2)));
            let res = g.resource_id(i, 1, 3);
            assert_eq!(g.decode_resource_id(&res), Some((i, 1, 3)));
            if let Some(app) = g.app_id(i) {
                assert_eq!(g.decode_app_id(&app.to_string()), Some(i));
            }
        }
        assert_eq!(g.decode_guid("AGAS1GcWkfBv-ZtpS6j7TKjReO7t"), None);
        assert_eq!(g.decode_guid("short"), None);
    }

    #[test]
    fn status_mix_roughly_follows_the_weights() {
        let mut cfg = SimConfig::default().with_rate(10.0);
        cfg.traffic.max_pending = Duration::from_secs(600);
        let g = Generator::new(&cfg, EPOCH_MS + 400 * 86_400_000);
        let mut completed = 0;
        let n = 20_000;
        for i in 0..n {
            let c = g.core(i);
            if g.state(&c, c.start_ms + 3_600_000).status == St::Completed {
                completed += 1;
            }
        }
        let share = completed as f64 / n as f64;
        assert!((0.85..0.95).contains(&share), "completed share {share}");
    }
}
