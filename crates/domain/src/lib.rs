//! Domain types shared by every IntegraMon crate. No I/O lives here: no tokio, no database, no
//! HTTP, no AMQP.

pub mod alerts;
pub mod archive;
pub mod artifact;
pub mod collection;
pub mod errors;
pub mod job;
pub mod keystore;
pub mod limits;
pub mod message;
pub mod redacted;
pub mod resources;
pub mod secret;
pub mod setting;
pub mod status;
pub mod tenant;
pub mod user;

pub use redacted::Secret;
pub use status::MessageStatus;
