//! Error groups: the pure logic. A failed message's error text is normalised (the parts that vary
//! between occurrences of one problem replaced by placeholders), fingerprinted, and the group's
//! lifecycle (resolve, ignore, regress, escalate) is decided from counts the store keeps. No I/O.
//! The rules, in order, with an example each: `docs/errors.md`.

pub mod escalation;
pub mod fingerprint;
pub mod lifecycle;
pub mod normalise;
pub mod rules;

pub use escalation::{hourly_limit, is_escalating, limit_from_buckets};
pub use fingerprint::{GROUPING_VERSION, NO_TEXT_FINGERPRINT, NO_TEXT_TITLE, fingerprint};
pub use lifecycle::{
    Facts, GroupState, IgnoreUntil, Lifecycle, LifecycleError, Occurrence, Reason, ResolveMode,
    Transition,
};
pub use normalise::{Normalised, normalise};
pub use rules::{ErrorContext, FingerprintRule, GroupKey, RuleError, RuleSet, group_key};
