//! Alerting's persistence, split by concern:
//! - [`rules`]: alert rules by name (spec as written), the built-in watchdog rule;
//! - [`instances`]: applying an evaluation to one alert identity in one transaction (one open
//!   alert per identity, no double transitions with concurrent evaluators), acknowledging,
//!   listing;
//! - [`transitions`]: the append-only transition log the notifier reads;
//! - [`silences`]: silences and their expiry;
//! - [`facts`]: the evaluator's incremental readers (rollup, error groups, artifacts,
//!   keystore, dead-lettered jobs);
//! - [`evaluations`]: per-tenant evaluation state and the evaluator's memory.
//!
//! Labels on tenants, packages and iFlows are `repo::labels`.

pub mod evaluations;
pub mod facts;
pub mod instances;
pub mod rules;
pub mod silences;
pub mod transitions;
