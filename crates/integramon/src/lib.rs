//! The `integramon` command: the all-in-one mode (every daemon in one process) and the admin
//! commands. It composes the daemons' libraries and the store; it has no logic of its own.

pub mod admin;
pub mod archive;
pub mod demo;
pub mod errors;
pub mod secrets;
pub mod seed;
pub mod settings;
pub mod up;
pub mod users;
