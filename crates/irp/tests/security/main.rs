//! The security suite: each attack an operator token, an anonymous client or a hostile remote
//! server could try, against the real `irp` binary. Tests that touch the database run on
//! SQLite and on PostgreSQL. `docs/operations.md` ("Security model") says what each defends.

#![allow(clippy::unwrap_used)] // a panic is how a test fails

#[path = "../common/mod.rs"]
mod common;
mod harness;

mod outbound;
mod secrets;
mod server;
