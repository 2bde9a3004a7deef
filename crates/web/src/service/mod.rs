//! What the HTML pages (`pages`) and the JSON API (`api`) both do: validate input, check access,
//! read and write the store, publish jobs. Handlers parse the request, call a function here and
//! render its answer; `pages` and `api` never import each other.

pub mod archives;
pub mod audit;
pub mod catalog;
pub mod error_groups;
pub mod error_rules;
pub mod export;
pub mod jobs;
pub mod messages;
pub mod resources;
pub mod storage;
pub mod submit;
pub mod tenants;
pub mod users;
