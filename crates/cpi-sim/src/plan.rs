//! Turns a parsed MessageProcessingLogs `$filter` into a predicate over generated messages plus
//! the index ranges that can possibly match, so a LogEnd window or a MessageGuid lookup touches
//! only the messages it needs instead of the whole history.

use crate::catalog::Catalog;
use crate::details;
use crate::filter::{CmpOp, Expr, Literal};
use crate::generate::{Core, CorrKey, Generator, St, State};
use crate::reply::ApiError;

/// Sorted, disjoint half-open index ranges.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Ranges(pub Vec<(u64, u64)>);

impl Ranges {
    pub(crate) fn all() -> Ranges {
        Ranges(vec![(0, u64::MAX)])
    }

    pub(crate) fn none() -> Ranges {
        Ranges(Vec::new())
    }

    pub(crate) fn span(a: u64, b: u64) -> Ranges {
        if a < b {
            Ranges(vec![(a, b)])
        } else {
            Ranges::none()
        }
    }

    pub(crate) fn intersect(&self, other: &Ranges) -> Ranges {
        let (mut i, mut j) = (0, 0);
        let mut out = Vec::new();
        while i < self.0.len() && j < other.0.len() {
            let (a0, a1) = self.0[i];
            let (b0, b1) = other.0[j];
            let (lo, hi) = (a0.max(b0), a1.min(b1));
            if lo < hi {
                out.push((lo, hi));
            }
            if a1 < b1 {
                i += 1;
            } else {
                j += 1;
            }
        }
        Ranges(out)
    }

    pub(crate) fn union(&self, other: &Ranges) -> Ranges {
        let mut all: Vec<(u64, u64)> = self.0.iter().chain(other.0.iter()).copied().collect();
        all.sort_unstable();
        let mut out: Vec<(u64, u64)> = Vec::with_capacity(all.len());
        for (a, b) in all {
            match out.last_mut() {
                Some(last) if a <= last.1 => last.1 = last.1.max(b),
                _ => out.push((a, b)),
            }
        }
        Ranges(out)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TextField {
    Sender,
    Receiver,
    MessageType,
}

#[derive(Clone, Debug)]
pub(crate) enum Pred {
    True,
    And(Vec<Pred>),
    Or(Vec<Pred>),
    Not(Box<Pred>),
    LogStart(CmpOp, i64),
    LogEnd(CmpOp, i64),
    /// `st` is None for a status the simulator never produces.
    Status(CmpOp, Option<St>),
    Index(Option<u64>),
    Corr(Option<CorrKey>),
    AppId(Option<u64>),
    Iflow(Option<u32>),
    Level(CmpOp, Option<u8>),
    Text(TextField, CmpOp, Option<String>),
    Header(String, String),
}

/// A compiled query: what matches and which indices to look at.
#[derive(Clone, Debug)]
pub(crate) struct Plan {
    pub pred: Pred,
    pub ranges: Ranges,
    /// Identifies the plan in the result cache (same text, same result).
    pub key: String,
}

impl Plan {
    pub(crate) fn new(
        filter: Option<&Expr>,
        header: Option<(String, String)>,
        traffic: &Generator,
        catalog: &Catalog,
        key: String,
    ) -> Result<Plan, ApiError> {
        let mut pred = match filter {
            Some(e) => compile(e, traffic, catalog)?,
            None => Pred::True,
        };
        if let Some((name, value)) = header {
            pred = Pred::And(vec![pred, Pred::Header(name, value)]);
        }
        let ranges = ranges(&pred, traffic);
        Ok(Plan { pred, ranges, key })
    }

    /// A LogEnd (or LogStart) window `[from, to)`, as ground truth and tests ask for it.
    pub(crate) fn window(traffic: &Generator, on_log_end: bool, from: i64, to: i64) -> Plan {
        let (a, b) = if on_log_end {
            (Pred::LogEnd(CmpOp::Ge, from), Pred::LogEnd(CmpOp::Lt, to))
        } else {
            (
                Pred::LogStart(CmpOp::Ge, from),
                Pred::LogStart(CmpOp::Lt, to),
            )
        };
        let pred = Pred::And(vec![a, b]);
        let ranges = ranges(&pred, traffic);
        Plan {
            pred,
            ranges,
            key: format!("window:{on_log_end}:{from}:{to}"),
        }
    }
}

fn want_str<'a>(field: &str, v: &'a Literal) -> Result<&'a str, ApiError> {
    match v {
        Literal::Str(s) => Ok(s),
        other => Err(ApiError::bad_request(format!(
            "Invalid filter expression: property '{field}' must be compared with a string literal, not {other}"
        ))),
    }
}

fn eq_only(field: &str, op: CmpOp) -> Result<(), ApiError> {
    if op == CmpOp::Eq {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "Invalid filter expression: only 'eq' is supported for '{field}', not '{}'",
            op.as_str()
        )))
    }
}

fn eq_ne(field: &str, op: CmpOp) -> Result<(), ApiError> {
    if matches!(op, CmpOp::Eq | CmpOp::Ne) {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "Invalid filter expression: operator '{}' is not supported for '{field}'",
            op.as_str()
        )))
    }
}

fn compile(e: &Expr, traffic: &Generator, catalog: &Catalog) -> Result<Pred, ApiError> {
    Ok(match e {
        Expr::And(a, b) => Pred::And(vec![
            compile(a, traffic, catalog)?,
            compile(b, traffic, catalog)?,
        ]),
        Expr::Or(a, b) => Pred::Or(vec![
            compile(a, traffic, catalog)?,
            compile(b, traffic, catalog)?,
        ]),
        Expr::Not(a) => Pred::Not(Box::new(compile(a, traffic, catalog)?)),
        Expr::Cmp { field, op, value } => {
            let op = *op;
            match field.as_str() {
                "LogStart" | "LogEnd" => {
                    let Literal::DateTime(ms) = value else {
                        return Err(ApiError::bad_request(format!(
                            "Invalid filter expression: property '{field}' must be compared with a datetime'yyyy-MM-ddTHH:mm:ss' literal"
                        )));
                    };
                    if field == "LogStart" {
                        Pred::LogStart(op, *ms)
                    } else {
                        Pred::LogEnd(op, *ms)
                    }
                }
                "Status" | "CustomStatus" => {
                    eq_ne(field, op)?;
                    Pred::Status(op, St::parse(want_str(field, value)?))
                }
                "LogLevel" => {
                    eq_ne(field, op)?;
                    let v = want_str(field, value)?;
                    let level = crate::generate::LOG_LEVELS
                        .iter()
                        .position(|l| *l == v)
                        .map(|p| p as u8);
                    Pred::Level(op, level)
                }
                "MessageGuid" => {
                    eq_only(field, op)?;
                    Pred::Index(traffic.decode_guid(want_str(field, value)?))
                }
                "CorrelationId" => {
                    eq_only(field, op)?;
                    Pred::Corr(traffic.decode_corr(want_str(field, value)?))
                }
                "ApplicationMessageId" => {
                    eq_only(field, op)?;
                    Pred::AppId(traffic.decode_app_id(want_str(field, value)?))
                }
                // The tenant rewrites IntegrationFlowName filters to the artifact id.
                "IntegrationArtifact/Id" | "IntegrationFlowName" => {
                    eq_only(field, op)?;
                    Pred::Iflow(
                        catalog
                            .iflow_by_id(want_str(field, value)?)
                            .map(|f| f as u32),
                    )
                }
                "Sender" | "Receiver" | "ApplicationMessageType" => {
                    eq_ne(field, op)?;
                    let which = match field.as_str() {
                        "Sender" => TextField::Sender,
                        "Receiver" => TextField::Receiver,
                        _ => TextField::MessageType,
                    };
                    let v = match value {
                        Literal::Null => None,
                        other => Some(want_str(field, other)?.to_string()),
                    };
                    Pred::Text(which, op, v)
                }
                _ => {
                    return Err(ApiError::bad_request(format!(
                        "Invalid filter expression: property '{field}' cannot be used in $filter"
                    )));
                }
            }
        }
    })
}

/// Indices that can match `p`. Over-approximates (never misses a match).
fn ranges(p: &Pred, traffic: &Generator) -> Ranges {
    let first = |t: i64| traffic.first_index_at_or_after(t);
    let l = traffic.max_pending_ms;
    match p {
        Pred::And(ps) => ps
            .iter()
            .fold(Ranges::all(), |acc, p| acc.intersect(&ranges(p, traffic))),
        Pred::Or(ps) => ps
            .iter()
            .fold(Ranges::none(), |acc, p| acc.union(&ranges(p, traffic))),
        // LogStart is non-decreasing in the index: exact ranges.
        Pred::LogStart(op, t) => match op {
            CmpOp::Ge => Ranges::span(first(*t), u64::MAX),
            CmpOp::Gt => Ranges::span(first(t.saturating_add(1)), u64::MAX),
            CmpOp::Lt => Ranges::span(0, first(*t)),
            CmpOp::Le => Ranges::span(0, first(t.saturating_add(1))),
            CmpOp::Eq => Ranges::span(first(*t), first(t.saturating_add(1))),
            CmpOp::Ne => Ranges::all(),
        },
        // LogStart <= LogEnd <= LogStart + max_pending.
        Pred::LogEnd(op, t) => match op {
            CmpOp::Ge | CmpOp::Gt => Ranges::span(first(t.saturating_sub(l)), u64::MAX),
            CmpOp::Lt => Ranges::span(0, first(*t)),
            CmpOp::Le => Ranges::span(0, first(t.saturating_add(1))),
            CmpOp::Eq => Ranges::span(first(t.saturating_sub(l)), first(t.saturating_add(1))),
            CmpOp::Ne => Ranges::all(),
        },
        Pred::Index(Some(i)) => Ranges::span(*i, i + 1),
        Pred::Index(None) | Pred::Corr(None) | Pred::AppId(None) | Pred::Iflow(None) => {
            Ranges::none()
        }
        Pred::Corr(Some(CorrKey::Group(g))) => Ranges::span(g * 4, g * 4 + 4),
        Pred::Corr(Some(CorrKey::Single(i))) => Ranges::span(*i, i + 1),
        Pred::AppId(Some(i)) => Ranges::span(*i, i + 1),
        _ => Ranges::all(),
    }
}

/// One message under evaluation: the core plus its state at the request's instant.
pub(crate) struct Msg<'a> {
    pub traffic: &'a Generator,
    pub catalog: &'a Catalog,
    pub core: Core,
    pub state: State,
}

pub(crate) fn eval(p: &Pred, m: &Msg<'_>) -> bool {
    match p {
        Pred::True => true,
        Pred::And(ps) => ps.iter().all(|p| eval(p, m)),
        Pred::Or(ps) => ps.iter().any(|p| eval(p, m)),
        Pred::Not(p) => !eval(p, m),
        Pred::LogStart(op, t) => op.holds(m.core.start_ms, *t),
        Pred::LogEnd(op, t) => op.holds(m.state.log_end, *t),
        Pred::Status(op, st) => match (op, st) {
            (CmpOp::Eq, Some(st)) => m.state.status == *st,
            (CmpOp::Ne, Some(st)) => m.state.status != *st,
            (CmpOp::Ne, None) => true,
            _ => false,
        },
        Pred::Index(i) => *i == Some(m.core.idx),
        Pred::Corr(key) => *key == Some(m.traffic.corr_key(m.core.idx)),
        Pred::AppId(i) => *i == Some(m.core.idx) && m.traffic.has_app_id(m.core.idx),
        Pred::Iflow(f) => *f == Some(m.core.iflow),
        Pred::Level(op, level) => match (op, level) {
            (CmpOp::Eq, Some(l)) => m.core.level == *l,
            (CmpOp::Ne, Some(l)) => m.core.level != *l,
            (CmpOp::Ne, None) => true,
            _ => false,
        },
        Pred::Text(field, op, v) => {
            let flow = &m.catalog.iflows[m.core.iflow as usize];
            let actual = match field {
                TextField::Sender => flow.sender,
                TextField::Receiver => flow.receiver,
                TextField::MessageType => flow.message_type,
            };
            let same = actual == v.as_deref();
            if *op == CmpOp::Eq { same } else { !same }
        }
        Pred::Header(name, value) => {
            details::headers(m.traffic, &m.core).any(|(n, v)| n == name.as_str() && v == *value)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_algebra() {
        let a = Ranges(vec![(0, 10), (20, 30)]);
        let b = Ranges(vec![(5, 25)]);
        assert_eq!(a.intersect(&b), Ranges(vec![(5, 10), (20, 25)]));
        assert_eq!(a.union(&b), Ranges(vec![(0, 30)]));
        assert_eq!(a.intersect(&Ranges::none()), Ranges::none());
        assert_eq!(Ranges::span(5, 5), Ranges::none());
    }
}
