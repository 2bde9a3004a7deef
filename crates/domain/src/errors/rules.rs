//! Custom fingerprint rules: a manager's "these texts are one problem" (or two). A rule matches on
//! the iFlow, the package, the status (globs) and the error text (glob or regex); the first rule
//! that matches gives the group its fingerprint (and optionally its title). Regexes are the
//! `regex` crate's: finite automata, linear in the text, no look-around or back-references.

use regex::{Regex, RegexBuilder, RegexSet, RegexSetBuilder, SetMatches};
use thiserror::Error;

use super::fingerprint::{NO_TEXT_FINGERPRINT, NO_TEXT_TITLE, fingerprint, rule_fingerprint};
use super::normalise::{MAX_INPUT_BYTES, normalise};

/// `{{ default }}` in a rule's fingerprint is replaced by the default fingerprint, so a rule can
/// refine the default grouping (split by iFlow status, say) instead of replacing it.
pub const DEFAULT_PLACEHOLDER: &str = "{{ default }}";
/// Longest fingerprint value or title a rule may carry.
pub const MAX_RULE_VALUE: usize = 200;
/// Compiled size limit of one pattern: a huge pattern is refused with a clear error.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// A custom fingerprint rule, as a manager writes it. Every condition that is set must match.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FingerprintRule {
    pub id: i64,
    /// Glob on the iFlow (artifact) id: `*`, `?`, `[abc]`, `[!abc]`, `\*`.
    pub iflow: Option<String>,
    /// Glob on the package id; a message without a known package does not match.
    pub package: Option<String>,
    /// Glob on the status (`FAILED`, `RETRY`, `*`), case-insensitive.
    pub status: Option<String>,
    /// Glob on the error text (its first few KB), case-insensitive, matching the whole text:
    /// `*401*` for "contains 401".
    pub text_glob: Option<String>,
    /// Regex searched in the error text (its first few KB): `statusCode: 40[13]`.
    pub text_regex: Option<String>,
    /// The fixed fingerprint value; `{{ default }}` inside it stands for the default fingerprint.
    pub fingerprint: String,
    /// The group's title instead of the normalised first line.
    pub title: Option<String>,
}

/// Why a rule is refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RuleError {
    #[error("rule {rule}: the {field} glob {pattern:?} is invalid: {reason}")]
    BadGlob {
        rule: i64,
        field: &'static str,
        pattern: String,
        reason: String,
    },
    #[error("rule {rule}: the text regex {pattern:?} is invalid: {reason}")]
    BadRegex {
        rule: i64,
        pattern: String,
        reason: String,
    },
    #[error("rule {rule}: the fingerprint is empty")]
    EmptyFingerprint { rule: i64 },
    #[error("rule {rule}: the {field} is longer than {MAX_RULE_VALUE} characters")]
    TooLong { rule: i64, field: &'static str },
    #[error(
        "rule {rule}: no condition (set an iFlow, package, status, text glob or text regex; a rule matching everything would swallow every group)"
    )]
    NoCondition { rule: i64 },
}

impl FingerprintRule {
    /// Checks the rule can be used: its globs and regex compile, its fingerprint is set.
    pub fn validate(&self) -> Result<(), RuleError> {
        CompiledRule::compile(self).map(|_| ())
    }
}

/// What a rule is matched against.
#[derive(Debug, Clone, Copy)]
pub struct ErrorContext<'a> {
    pub iflow: &'a str,
    pub package: Option<&'a str>,
    pub status: &'a str,
    pub text: &'a str,
}

/// The group a message with an error text belongs to (within its tenant and iFlow).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupKey {
    pub fingerprint: String,
    pub title: String,
    pub template: String,
    /// The custom rule that decided the fingerprint, if any.
    pub rule_id: Option<i64>,
}

impl GroupKey {
    /// The key of a message whose error text has not arrived yet: its iFlow's
    /// "no error text yet" group.
    pub fn no_text() -> Self {
        Self {
            fingerprint: NO_TEXT_FINGERPRINT.to_string(),
            title: NO_TEXT_TITLE.to_string(),
            template: String::new(),
            rule_id: None,
        }
    }
}

/// The rules compiled once, in order: what a caller grouping many messages should keep.
#[derive(Debug, Clone, Default)]
pub struct RuleSet {
    rules: Vec<CompiledRule>,
    /// Every rule's text glob and regex in one set: one pass over the text answers all of them.
    /// `None` when there are none (or the set would be too large: then each rule scans).
    text_set: Option<RegexSet>,
}

impl RuleSet {
    /// Compiles the rules in order; the first invalid one is the error.
    pub fn compile(rules: &[FingerprintRule]) -> Result<Self, RuleError> {
        let rules = rules
            .iter()
            .map(CompiledRule::compile)
            .collect::<Result<_, _>>()?;
        Ok(Self::from_compiled(rules))
    }

    fn from_compiled(mut rules: Vec<CompiledRule>) -> Self {
        let mut patterns = Vec::new();
        for r in &mut rules {
            let texts = [r.text_glob.as_ref(), r.text_regex.as_ref()];
            for (slot, re) in r.text_slots.iter_mut().zip(texts) {
                if let Some(re) = re {
                    *slot = Some(patterns.len());
                    patterns.push(re.as_str().to_string());
                }
            }
        }
        let text_set = (!patterns.is_empty())
            .then(|| {
                RegexSetBuilder::new(&patterns)
                    .size_limit(REGEX_SIZE_LIMIT * 8)
                    .build()
                    .ok()
            })
            .flatten();
        Self { rules, text_set }
    }

    /// Compiles the valid rules and skips the invalid ones (with their errors), so one bad rule
    /// stored before validation existed cannot stop grouping.
    pub fn compile_lenient(rules: &[FingerprintRule]) -> (Self, Vec<RuleError>) {
        let mut errors = Vec::new();
        let mut compiled = Vec::with_capacity(rules.len());
        for r in rules {
            match CompiledRule::compile(r) {
                Ok(c) => compiled.push(c),
                Err(e) => errors.push(e),
            }
        }
        (Self::from_compiled(compiled), errors)
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The first matching rule decides; otherwise the default normalisation.
    pub fn group_key(&self, ctx: &ErrorContext) -> GroupKey {
        let n = normalise(ctx.text);
        let default_fp = fingerprint(&n.template);
        let text = prefix(ctx.text, MAX_INPUT_BYTES);
        // The set runs once, and only when a rule's other conditions hold.
        let mut hits: Option<SetMatches> = None;
        let mut text_ok = |r: &CompiledRule| match &self.text_set {
            Some(set) => {
                let hits = hits.get_or_insert_with(|| set.matches(text));
                r.text_slots.iter().flatten().all(|k| hits.matched(*k))
            }
            None => r.text_matches(text),
        };
        let found = self
            .rules
            .iter()
            .find(|r| r.meta_matches(ctx) && text_ok(r));
        match found {
            Some(rule) => GroupKey {
                fingerprint: rule_fingerprint(
                    &rule.fingerprint.replace(DEFAULT_PLACEHOLDER, &default_fp),
                ),
                title: rule.title.clone().unwrap_or(n.title),
                template: n.template,
                rule_id: Some(rule.id),
            },
            None => GroupKey {
                fingerprint: default_fp,
                title: n.title,
                template: n.template,
                rule_id: None,
            },
        }
    }
}

/// First matching rule wins; otherwise the default normalisation. Invalid rules are skipped
/// (validate them when they are saved); callers grouping many messages keep a [`RuleSet`].
pub fn group_key(rules: &[FingerprintRule], ctx: &ErrorContext) -> GroupKey {
    RuleSet::compile_lenient(rules).0.group_key(ctx)
}

#[derive(Debug, Clone)]
struct CompiledRule {
    id: i64,
    iflow: Option<Regex>,
    package: Option<Regex>,
    status: Option<Regex>,
    text_glob: Option<Regex>,
    text_regex: Option<Regex>,
    /// Indexes of `text_glob` and `text_regex` in the rule set's `RegexSet`.
    text_slots: [Option<usize>; 2],
    fingerprint: String,
    title: Option<String>,
}

impl CompiledRule {
    fn compile(r: &FingerprintRule) -> Result<Self, RuleError> {
        let rule = r.id;
        let fingerprint = r.fingerprint.trim();
        if fingerprint.is_empty() {
            return Err(RuleError::EmptyFingerprint { rule });
        }
        if fingerprint.chars().count() > MAX_RULE_VALUE {
            return Err(RuleError::TooLong {
                rule,
                field: "fingerprint",
            });
        }
        if r.title
            .as_ref()
            .is_some_and(|t| t.chars().count() > MAX_RULE_VALUE)
        {
            return Err(RuleError::TooLong {
                rule,
                field: "title",
            });
        }
        let glob = |field: &'static str, pattern: &Option<String>, case_insensitive: bool| {
            pattern
                .as_deref()
                .filter(|p| !p.is_empty())
                .map(|p| {
                    glob::compile(p, case_insensitive).map_err(|reason| RuleError::BadGlob {
                        rule,
                        field,
                        pattern: p.to_string(),
                        reason,
                    })
                })
                .transpose()
        };
        let text_regex = r
            .text_regex
            .as_deref()
            .filter(|p| !p.is_empty())
            .map(|p| {
                RegexBuilder::new(p)
                    .size_limit(REGEX_SIZE_LIMIT)
                    .build()
                    .map_err(|e| RuleError::BadRegex {
                        rule,
                        pattern: p.to_string(),
                        reason: e.to_string(),
                    })
            })
            .transpose()?;
        let compiled = Self {
            id: rule,
            iflow: glob("iFlow", &r.iflow, false)?,
            package: glob("package", &r.package, false)?,
            status: glob("status", &r.status, true)?,
            text_glob: glob("text", &r.text_glob, true)?,
            text_regex,
            text_slots: [None, None],
            fingerprint: fingerprint.to_string(),
            title: r.title.clone().filter(|t| !t.trim().is_empty()),
        };
        let any = compiled.iflow.is_some()
            || compiled.package.is_some()
            || compiled.status.is_some()
            || compiled.text_glob.is_some()
            || compiled.text_regex.is_some();
        if !any {
            return Err(RuleError::NoCondition { rule });
        }
        Ok(compiled)
    }

    /// The iFlow, package and status conditions.
    fn meta_matches(&self, ctx: &ErrorContext) -> bool {
        ok(&self.iflow, Some(ctx.iflow))
            && ok(&self.package, ctx.package)
            && ok(&self.status, Some(ctx.status))
    }

    /// The text conditions, one scan each (when the rule set has no `RegexSet`).
    fn text_matches(&self, text: &str) -> bool {
        ok(&self.text_glob, Some(text)) && ok(&self.text_regex, Some(text))
    }
}

/// An unset condition holds; a set one needs a value that matches.
fn ok(re: &Option<Regex>, value: Option<&str>) -> bool {
    match re {
        None => true,
        Some(re) => value.is_some_and(|v| re.is_match(v)),
    }
}

fn prefix(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Globs compiled to anchored regexes (so matching stays linear).
mod glob {
    use regex::{Regex, RegexBuilder};

    /// `*` any run (newlines too), `?` one character, `[abc]` / `[a-z]` / `[!abc]` a class,
    /// `\x` the character x. The whole value must match.
    pub(super) fn compile(glob: &str, case_insensitive: bool) -> Result<Regex, String> {
        let mut re = String::with_capacity(glob.len() * 2 + 8);
        // Flags inside the pattern (not on the builder), so the rule set's `RegexSet` built
        // from `Regex::as_str` matches the same way.
        re.push_str(if case_insensitive {
            "(?is)\\A"
        } else {
            "(?s)\\A"
        });
        let mut chars = glob.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '*' => {
                    while chars.peek() == Some(&'*') {
                        chars.next();
                    }
                    re.push_str(".*");
                }
                '?' => re.push('.'),
                '\\' => match chars.next() {
                    Some(e) => re.push_str(&regex::escape(&e.to_string())),
                    None => return Err("it ends with a lone `\\`".into()),
                },
                '[' => {
                    let mut class = String::new();
                    let mut closed = false;
                    let mut first = true;
                    if chars.peek() == Some(&'!') {
                        chars.next();
                        class.push('^');
                    }
                    while let Some(k) = chars.next() {
                        match k {
                            ']' if !first => {
                                closed = true;
                                break;
                            }
                            '-' if !first && chars.peek().is_some_and(|n| *n != ']') => {
                                class.push('-')
                            }
                            '\\' => match chars.next() {
                                Some(e) => class.push_str(&regex::escape(&e.to_string())),
                                None => return Err("it ends with a lone `\\`".into()),
                            },
                            other => class.push_str(&regex::escape(&other.to_string())),
                        }
                        first = false;
                    }
                    if !closed {
                        return Err("a `[` class is not closed by `]`".into());
                    }
                    re.push('[');
                    re.push_str(&class);
                    re.push(']');
                }
                other => re.push_str(&regex::escape(&other.to_string())),
            }
        }
        re.push_str("\\z");
        RegexBuilder::new(&re)
            .size_limit(super::REGEX_SIZE_LIMIT)
            .build()
            .map_err(|e| e.to_string())
    }
}

#[cfg(test)]
#[path = "rules_tests.rs"]
mod tests;
