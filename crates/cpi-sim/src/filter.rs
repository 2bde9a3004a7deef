//! A parser for the OData v2 `$filter` subset CPI clients send: comparisons of a property with a
//! literal, combined with `and`, `or`, `not` and parentheses. Functions, arithmetic and
//! property-to-property comparisons are rejected, as the tenant rejects what it does not support.
//! Which properties and operators are allowed is decided by the caller (see `query.rs`).

use std::fmt;

use chrono::NaiveDateTime;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

impl CmpOp {
    fn parse(s: &str) -> Option<CmpOp> {
        Some(match s {
            "eq" => CmpOp::Eq,
            "ne" => CmpOp::Ne,
            "gt" => CmpOp::Gt,
            "ge" => CmpOp::Ge,
            "lt" => CmpOp::Lt,
            "le" => CmpOp::Le,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            CmpOp::Eq => "eq",
            CmpOp::Ne => "ne",
            CmpOp::Gt => "gt",
            CmpOp::Ge => "ge",
            CmpOp::Lt => "lt",
            CmpOp::Le => "le",
        }
    }

    pub fn holds<T: Ord>(self, left: T, right: T) -> bool {
        match self {
            CmpOp::Eq => left == right,
            CmpOp::Ne => left != right,
            CmpOp::Gt => left > right,
            CmpOp::Ge => left >= right,
            CmpOp::Lt => left < right,
            CmpOp::Le => left <= right,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Literal {
    Str(String),
    /// `datetime'…'`, read as UTC, in epoch milliseconds.
    DateTime(i64),
    Int(i64),
    Bool(bool),
    Null,
}

impl fmt::Display for Literal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Literal::Str(s) => write!(f, "'{}'", s.replace('\'', "''")),
            Literal::DateTime(ms) => write!(f, "datetime'{ms}'"),
            Literal::Int(n) => write!(f, "{n}"),
            Literal::Bool(b) => write!(f, "{b}"),
            Literal::Null => f.write_str("null"),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    /// `<property path> <op> <literal>`; the path keeps its `/` (`IntegrationArtifact/Id`).
    Cmp {
        field: String,
        op: CmpOp,
        value: Literal,
    },
}

/// Why a filter was rejected; the text goes into the 400 error envelope.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct FilterError(pub String);

fn err<T>(msg: impl Into<String>) -> Result<T, FilterError> {
    Err(FilterError(msg.into()))
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Open,
    Close,
    Comma,
    Ident(String),
    Lit(Literal),
}

pub fn parse(input: &str) -> Result<Expr, FilterError> {
    let toks = tokenize(input)?;
    if toks.is_empty() {
        return err("Invalid filter expression: the expression is empty");
    }
    let mut p = Parser { toks, pos: 0 };
    let e = p.or_expr()?;
    if p.pos != p.toks.len() {
        return err(format!(
            "Invalid filter expression: unexpected token {} at the end",
            p.describe(p.pos)
        ));
    }
    Ok(e)
}

fn tokenize(s: &str) -> Result<Vec<Tok>, FilterError> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        match c {
            b' ' | b'\t' | b'\r' | b'\n' => i += 1,
            b'(' => {
                out.push(Tok::Open);
                i += 1;
            }
            b')' => {
                out.push(Tok::Close);
                i += 1;
            }
            b',' => {
                out.push(Tok::Comma);
                i += 1;
            }
            b'\'' => {
                let (text, next) = quoted(s, i)?;
                out.push(Tok::Lit(Literal::Str(text)));
                i = next;
            }
            b'-' | b'0'..=b'9' => {
                let start = i;
                i += 1;
                while i < b.len() && b[i].is_ascii_digit() {
                    i += 1;
                }
                // An `L` suffix marks an Int64 literal in OData v2.
                let digits = &s[start..i];
                if i < b.len() && (b[i] == b'L' || b[i] == b'l') {
                    i += 1;
                }
                let n: i64 = digits.parse().map_err(|_| {
                    FilterError(format!("Invalid filter expression: bad number '{digits}'"))
                })?;
                out.push(Tok::Lit(Literal::Int(n)));
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                let start = i;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b'/')
                {
                    i += 1;
                }
                let word = &s[start..i];
                if i < b.len() && b[i] == b'\'' {
                    // A typed literal: datetime'…', datetimeoffset'…', guid'…', …
                    let (text, next) = quoted(s, i)?;
                    i = next;
                    match word {
                        "datetime" => out.push(Tok::Lit(Literal::DateTime(parse_datetime(&text)?))),
                        _ => {
                            return err(format!(
                                "Invalid filter expression: literal type {word}'…' is not supported"
                            ));
                        }
                    }
                    continue;
                }
                match word {
                    "true" => out.push(Tok::Lit(Literal::Bool(true))),
                    "false" => out.push(Tok::Lit(Literal::Bool(false))),
                    "null" => out.push(Tok::Lit(Literal::Null)),
                    _ => out.push(Tok::Ident(word.to_string())),
                }
            }
            _ => {
                let ch = s[i..].chars().next().unwrap_or('?');
                return err(format!(
                    "Invalid filter expression: unexpected character '{ch}' at position {i}"
                ));
            }
        }
    }
    Ok(out)
}

/// A single-quoted string starting at `start`, with `''` standing for one quote.
fn quoted(s: &str, start: usize) -> Result<(String, usize), FilterError> {
    let b = s.as_bytes();
    let mut out = String::new();
    let mut i = start + 1;
    let mut seg = i;
    while i < b.len() {
        if b[i] == b'\'' {
            if i + 1 < b.len() && b[i + 1] == b'\'' {
                out.push_str(&s[seg..=i]);
                i += 2;
                seg = i;
                continue;
            }
            out.push_str(&s[seg..i]);
            return Ok((out, i + 1));
        }
        i += 1;
    }
    err("Invalid filter expression: unterminated string literal")
}

/// `YYYY-MM-DDTHH:MM[:SS[.fff]]`, UTC. The tenant does not accept a zone suffix, and neither do
/// we: a client that sends one must learn it here, not in production.
pub fn parse_datetime(text: &str) -> Result<i64, FilterError> {
    let t = text.trim();
    if let Some(pos) = t.find('T') {
        let time = &t[pos + 1..];
        if time.ends_with('Z') || time.ends_with('z') || time.contains('+') || time.contains('-') {
            return err(format!(
                "Invalid filter expression: datetime'{t}' has a time zone; datetime literals are UTC and take no zone designator"
            ));
        }
    }
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(dt) = NaiveDateTime::parse_from_str(t, fmt) {
            return Ok(dt.and_utc().timestamp_millis());
        }
    }
    err(format!(
        "Invalid filter expression: datetime'{t}' is not of the form yyyy-MM-ddTHH:mm:ss.SSS"
    ))
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
}

impl Parser {
    fn describe(&self, at: usize) -> String {
        match self.toks.get(at) {
            None => "end of input".into(),
            Some(Tok::Open) => "'('".into(),
            Some(Tok::Close) => "')'".into(),
            Some(Tok::Comma) => "','".into(),
            Some(Tok::Ident(w)) => format!("'{w}'"),
            Some(Tok::Lit(l)) => format!("{l}"),
        }
    }

    fn keyword(&mut self, kw: &str) -> bool {
        if matches!(self.toks.get(self.pos), Some(Tok::Ident(w)) if w == kw) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn or_expr(&mut self) -> Result<Expr, FilterError> {
        let mut left = self.and_expr()?;
        while self.keyword("or") {
            let right = self.and_expr()?;
            left = Expr::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and_expr(&mut self) -> Result<Expr, FilterError> {
        let mut left = self.unary()?;
        while self.keyword("and") {
            let right = self.unary()?;
            left = Expr::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expr, FilterError> {
        if self.keyword("not") {
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        if self.toks.get(self.pos) == Some(&Tok::Open) {
            self.pos += 1;
            let e = self.or_expr()?;
            if self.toks.get(self.pos) != Some(&Tok::Close) {
                return err(format!(
                    "Invalid filter expression: expected ')' but found {}",
                    self.describe(self.pos)
                ));
            }
            self.pos += 1;
            return Ok(e);
        }
        self.comparison()
    }

    fn comparison(&mut self) -> Result<Expr, FilterError> {
        let field = match self.toks.get(self.pos) {
            Some(Tok::Ident(w)) if !matches!(w.as_str(), "and" | "or") => w.clone(),
            _ => {
                return err(format!(
                    "Invalid filter expression: expected a property name but found {}",
                    self.describe(self.pos)
                ));
            }
        };
        self.pos += 1;
        if self.toks.get(self.pos) == Some(&Tok::Open) {
            return err(format!(
                "Invalid filter expression: function '{field}' is not supported"
            ));
        }
        let op = match self.toks.get(self.pos) {
            Some(Tok::Ident(w)) => CmpOp::parse(w),
            _ => None,
        };
        let Some(op) = op else {
            return err(format!(
                "Invalid filter expression: expected an operator (eq, ne, gt, ge, lt, le) after '{field}' but found {}",
                self.describe(self.pos)
            ));
        };
        self.pos += 1;
        let value = match self.toks.get(self.pos) {
            Some(Tok::Lit(l)) => l.clone(),
            _ => {
                return err(format!(
                    "Invalid filter expression: expected a literal after '{field} {}' but found {}",
                    op.as_str(),
                    self.describe(self.pos)
                ));
            }
        };
        self.pos += 1;
        Ok(Expr::Cmp { field, op, value })
    }
}

/// `filterCustomHeaderProperties='name' eq 'value'`, CPI's non-standard header search.
pub fn parse_custom_header_filter(input: &str) -> Result<(String, String), FilterError> {
    match parse_pair(input) {
        Some(pair) => Ok(pair),
        None => err(format!(
            "Invalid filterCustomHeaderProperties expression: expected 'name' eq 'value', got {input}"
        )),
    }
}

fn parse_pair(input: &str) -> Option<(String, String)> {
    let toks = tokenize(input).ok()?;
    match toks.as_slice() {
        [
            Tok::Lit(Literal::Str(name)),
            Tok::Ident(op),
            Tok::Lit(Literal::Str(value)),
        ] if op == "eq" => Some((name.clone(), value.clone())),
        _ => None,
    }
}

/// Evaluates a filter against an entity given as a property lookup, for the small collections
/// (runtime artifacts, packages, …). `lookup` returns `None` for an unknown property and
/// `Some(None)` for a null value. Only string equality and `and`/`or`/`not` are meaningful here.
pub fn eval_simple(
    e: &Expr,
    lookup: &dyn Fn(&str) -> Option<Option<String>>,
) -> Result<bool, FilterError> {
    Ok(match e {
        Expr::And(a, b) => eval_simple(a, lookup)? & eval_simple(b, lookup)?,
        Expr::Or(a, b) => eval_simple(a, lookup)? | eval_simple(b, lookup)?,
        Expr::Not(a) => !eval_simple(a, lookup)?,
        Expr::Cmp { field, op, value } => {
            let Some(actual) = lookup(field) else {
                return err(format!(
                    "Invalid filter expression: property '{field}' is not filterable"
                ));
            };
            let expected = match value {
                Literal::Str(s) => Some(s.clone()),
                Literal::Null => None,
                Literal::Bool(b) => Some(b.to_string()),
                Literal::Int(n) => Some(n.to_string()),
                Literal::DateTime(_) => {
                    return err(format!(
                        "Invalid filter expression: property '{field}' cannot be compared with a datetime"
                    ));
                }
            };
            match op {
                CmpOp::Eq => actual == expected,
                CmpOp::Ne => actual != expected,
                _ => {
                    return err(format!(
                        "Invalid filter expression: operator {} is not supported for '{field}'",
                        op.as_str()
                    ));
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmp(field: &str, op: CmpOp, value: Literal) -> Expr {
        Expr::Cmp {
            field: field.into(),
            op,
            value,
        }
    }

    #[test]
    fn parses_a_poller_window() {
        let e = parse(
            "LogEnd ge datetime'2025-06-01T10:00:00.000' and LogEnd lt datetime'2025-06-01T10:05:00'",
        )
        .unwrap();
        assert_eq!(
            e,
            Expr::And(
                Box::new(cmp(
                    "LogEnd",
                    CmpOp::Ge,
                    Literal::DateTime(1_748_772_000_000)
                )),
                Box::new(cmp(
                    "LogEnd",
                    CmpOp::Lt,
                    Literal::DateTime(1_748_772_300_000)
                )),
            )
        );
    }

    #[test]
    fn and_binds_tighter_than_or_and_parentheses_override() {
        let e = parse("Status eq 'A' or Status eq 'B' and LogLevel eq 'INFO'").unwrap();
        let Expr::Or(_, right) = e else {
            panic!("or at the top")
        };
        assert!(matches!(*right, Expr::And(_, _)));
        let e = parse("(Status eq 'A' or Status eq 'B') and LogLevel eq 'INFO'").unwrap();
        assert!(matches!(e, Expr::And(_, _)));
        let e = parse("not (Status eq 'A')").unwrap();
        assert!(matches!(e, Expr::Not(_)));
    }

    #[test]
    fn strings_keep_doubled_quotes_and_paths_keep_slashes() {
        let e = parse("IntegrationArtifact/Id eq 'it''s'").unwrap();
        assert_eq!(
            e,
            cmp(
                "IntegrationArtifact/Id",
                CmpOp::Eq,
                Literal::Str("it's".into())
            )
        );
    }

    #[test]
    fn datetime_literals_are_utc_and_reject_zones() {
        assert_eq!(
            parse_datetime("2021-02-01T00:00:00").unwrap(),
            1_612_137_600_000
        );
        assert_eq!(
            parse_datetime("2021-02-01T00:00:00.250").unwrap(),
            1_612_137_600_250
        );
        assert_eq!(
            parse_datetime("2021-02-01T00:00").unwrap(),
            1_612_137_600_000
        );
        for zoned in [
            "2021-02-01T00:00:00Z",
            "2021-02-01T00:00:00+01:00",
            "2021-02-01T00:00:00.000-05:00",
        ] {
            let e = parse_datetime(zoned).unwrap_err();
            assert!(e.0.contains("zone"), "{zoned}: {e}");
        }
        assert!(parse_datetime("yesterday").is_err());
    }

    #[test]
    fn rejects_what_the_subset_does_not_have() {
        for bad in [
            "",
            "Status eq",
            "Status 'x'",
            "Status eq 'x' and",
            "(Status eq 'x'",
            "Status eq 'x')",
            "substringof('x', Status)",
            "Status eq Status",
            "Status eq 'x' xor LogLevel eq 'y'",
            "Status eq 'unterminated",
            "Status eq guid'abc'",
            "Status = 'x'",
            "LogEnd ge datetime'2021-01-01T00:00:00Z'",
        ] {
            assert!(parse(bad).is_err(), "should reject: {bad:?}");
        }
    }

    #[test]
    fn custom_header_filter_is_a_name_value_pair() {
        assert_eq!(
            parse_custom_header_filter("'po_number' eq '12345'").unwrap(),
            ("po_number".to_string(), "12345".to_string())
        );
        assert!(parse_custom_header_filter("po_number eq '12345'").is_err());
        assert!(parse_custom_header_filter("'po_number' ne '12345'").is_err());
    }

    #[test]
    fn simple_evaluation_handles_unknown_properties() {
        let e = parse("Status eq 'ERROR' or Id eq 'a'").unwrap();
        let lookup = |f: &str| match f {
            "Status" => Some(Some("STARTED".to_string())),
            "Id" => Some(Some("a".to_string())),
            _ => None,
        };
        assert!(eval_simple(&e, &lookup).unwrap());
        let e = parse("Nope eq 'x'").unwrap();
        assert!(eval_simple(&e, &lookup).is_err());
    }
}
