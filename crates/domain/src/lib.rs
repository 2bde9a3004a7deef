//! Domain types shared by every IntegraMon crate. No I/O lives here: no tokio, no database, no
//! HTTP, no AMQP.

pub mod status;

pub use status::MessageStatus;
