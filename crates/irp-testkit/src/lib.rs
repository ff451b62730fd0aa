//! Test support for IRP, used only by tests, examples and benches (`[dev-dependencies]`), never
//! by the binary: remote servers that behave as the real ones do, so a test fails when IRP sends
//! what they would reject.
//!
//! - [`fake_shopware`]: Shopware 6's Admin API and its app webhooks.
//! - [`fake_odoo`]: Odoo 17 (JSON-RPC and JSON-2) behind Alumio's HTTP proxies.
//! - [`fake_ergonode`]: Ergonode's GraphQL API (the PIM).
//! - [`sshd`]: a real OpenSSH `sshd` serving SFTP on loopback.
//! - [`hostile`]: a server that misbehaves (gzip bombs, redirects elsewhere), recording what it
//!   is sent.

pub mod fake_ergonode;
pub mod fake_odoo;
pub mod fake_shopware;
pub mod hostile;
pub mod sshd;
