//! Test support for IRP, used only by tests, examples and benches (`[dev-dependencies]`), never
//! by the binary: remote servers that behave as the real ones do, so a test fails when IRP sends
//! what they would reject.
//!
//! - [`fake_shopware`]: Shopware 6's Admin API and its app webhooks, every request checked
//!   against Shopware's published OpenAPI document ([`shopware_schema`]).
//! - [`fake_odoo`]: Odoo 17 (JSON-RPC and JSON-2) behind Alumio's HTTP proxies.
//! - [`fake_ergonode`]: Ergonode's GraphQL API (the PIM).
//! - [`sshd`]: a real OpenSSH `sshd` serving SFTP on loopback.
//! - [`hostile`]: a server that misbehaves (gzip bombs, redirects elsewhere), recording what it
//!   is sent.

pub mod fake_ergonode;
pub mod fake_odoo;
pub mod fake_shopware;
pub mod feeds;
pub mod hostile;
pub mod shopware_schema;
pub mod sshd;

/// Serves `app` on a free loopback port from a thread and runtime of its own (a test may block
/// its own runtime, running the CLI say, while IRP talks to the fake); `name` names the thread.
/// Returns the port and the sender that stops it (dropping the sender stops it too).
#[allow(clippy::unwrap_used, clippy::missing_panics_doc)] // test support: a panic is how a test fails
pub fn serve_on_own_thread(
    name: &str,
    app: axum::Router,
) -> (u16, tokio::sync::oneshot::Sender<()>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    std::thread::Builder::new()
        .name(format!("{name}-{port}"))
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let _ = axum::serve(listener, app)
                    .with_graceful_shutdown(async move {
                        let _ = stopped.await;
                    })
                    .await;
            });
        })
        .unwrap();
    (port, stop)
}
