//! Domain types shared by every IntegraMon crate. No I/O lives here: no tokio, no database, no
//! HTTP, no AMQP.

pub mod archive;
pub mod artifact;
pub mod job;
pub mod keystore;
pub mod message;
pub mod secret;
pub mod status;
pub mod tenant;
pub mod user;

pub use status::MessageStatus;
