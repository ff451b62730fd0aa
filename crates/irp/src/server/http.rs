//! The HTTP/1.1 accept loop of `serve` ([`serve_http`]) with its limits ([`Limits`]), and the
//! signals that stop it ([`shutdown_signal`]).

use std::time::Instant;

use axum::Router;

use super::webhook;

/// How [`serve_http`] holds back slow and numerous clients.
#[derive(Debug, Clone)]
pub struct Limits {
    /// A request's headers must arrive within this (also the most an idle kept-alive
    /// connection waits for its next request).
    pub header_timeout: std::time::Duration,
    /// Open connections at most; the next is accepted when one closes.
    pub max_connections: usize,
    /// Open connections at most from one address (trusted proxies excepted); more are closed
    /// at once.
    pub max_per_address: usize,
    /// Proxies, which carry many clients' connections.
    pub trusted_proxies: Vec<webhook::IpRange>,
}

/// The open connections per client address.
type PerAddress =
    std::sync::Arc<std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, usize>>>;

/// One connection's place in [`PerAddress`], given back when it closes.
struct AddressSlot {
    map: PerAddress,
    ip: Option<std::net::IpAddr>,
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        if let Some(ip) = self.ip
            && let Ok(mut m) = self.map.lock()
            && let Some(n) = m.get_mut(&ip)
        {
            *n = n.saturating_sub(1);
            if *n == 0 {
                m.remove(&ip);
            }
        }
    }
}

/// Serves `app` over HTTP/1.1 on `listener` until `stop` turns true; then accepts nothing
/// more, lets requests in flight finish (at most 30 s) and returns. Handlers see the peer as
/// `ConnectInfo<SocketAddr>`.
pub async fn serve_http(
    listener: tokio::net::TcpListener,
    app: Router,
    limits: Limits,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    use hyper_util::rt::{TokioIo, TokioTimer};
    use tower::ServiceExt as _;
    let open = std::sync::Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
    let per_address: PerAddress = std::sync::Arc::default();
    // Every connection task holds a receiver; all are gone once every connection closed.
    let (closed_tx, closed_rx) = tokio::sync::watch::channel(());
    let mut refused_logged = Instant::now()
        .checked_sub(std::time::Duration::from_secs(60))
        .unwrap_or_else(Instant::now);
    loop {
        if *stop.borrow() {
            break;
        }
        let permit = tokio::select! {
            p = open.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            _ = stop.changed() => break,
        };
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    // Out of file descriptors and the like: wait a little, do not spin.
                    tracing::warn!(error = %e, "Accepting a connection failed");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = stop.changed() => break,
        };
        let ip = peer.ip().to_canonical();
        let counted = !limits.trusted_proxies.iter().any(|r| r.contains(ip));
        let slot = {
            let Ok(mut m) = per_address.lock() else {
                continue;
            };
            if counted {
                let n = m.entry(ip).or_insert(0);
                if *n >= limits.max_per_address {
                    drop(m);
                    if refused_logged.elapsed() > std::time::Duration::from_secs(10) {
                        refused_logged = Instant::now();
                        tracing::warn!(%ip, limit = limits.max_per_address, "Too many connections from one address; closing the new ones (IRP_MAX_CONNECTIONS_PER_ADDRESS)");
                    }
                    drop(stream);
                    continue;
                }
                *n += 1;
            }
            AddressSlot {
                map: per_address.clone(),
                ip: counted.then_some(ip),
            }
        };
        let _ = stream.set_nodelay(true);
        let service =
            app.clone()
                .map_request(move |req: axum::http::Request<hyper::body::Incoming>| {
                    let mut req = req.map(axum::body::Body::new);
                    req.extensions_mut()
                        .insert(axum::extract::ConnectInfo(peer));
                    req
                });
        let header_timeout = limits.header_timeout;
        let mut stop = stop.clone();
        let closed = closed_rx.clone();
        tokio::spawn(async move {
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(header_timeout)
                .keep_alive(true);
            let conn = builder.serve_connection(
                TokioIo::new(stream),
                hyper_util::service::TowerToHyperService::new(service),
            );
            let mut conn = std::pin::pin!(conn);
            let mut stopping = false;
            loop {
                tokio::select! {
                    r = conn.as_mut() => {
                        if let Err(e) = r {
                            tracing::debug!(error = %e, "A connection ended with an error");
                        }
                        break;
                    }
                    _ = stop.changed(), if !stopping => {
                        stopping = true;
                        conn.as_mut().graceful_shutdown();
                    }
                }
            }
            drop(slot);
            drop(permit);
            drop(closed);
        });
    }
    drop(listener);
    drop(closed_rx);
    if tokio::time::timeout(std::time::Duration::from_secs(30), closed_tx.closed())
        .await
        .is_err()
    {
        tracing::warn!("Connections still open 30 s after the stop; closing them");
    }
}

/// Waits for Ctrl-C or SIGTERM. The handlers are installed when this is called, not when the
/// future is first polled: a SIGTERM right after "listening" must shut down gracefully too,
/// not kill the process.
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate());
    #[cfg(unix)]
    let interrupt = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt());
    async move {
        #[cfg(unix)]
        {
            let term = async {
                match terminate {
                    Ok(mut s) => {
                        s.recv().await;
                    }
                    Err(_) => std::future::pending::<()>().await,
                }
            };
            let int = async {
                match interrupt {
                    Ok(mut s) => {
                        s.recv().await;
                    }
                    Err(_) => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                () = int => tracing::info!("Interrupted, shutting down"),
                () = term => tracing::info!("SIGTERM received, shutting down"),
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            tracing::info!("Interrupted, shutting down");
        }
    }
}
