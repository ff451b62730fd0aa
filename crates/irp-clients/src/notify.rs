//! The notification webhook: alerts posted as JSON to an operator's chat or incident tool.
//! The URL is treated as a secret (a Slack incoming-webhook URL is one): errors name its host
//! only.

use std::sync::Arc;
use std::time::Duration;

use reqwest::Client;
use serde_json::Value;

use crate::net::{self, NetPolicy, Redirects};

/// The URL's scheme and host, for messages (never its path or query, which hold the secret).
pub fn shown_host(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(u) => format!("{}://{}", u.scheme(), u.host_str().unwrap_or("?")),
        Err(_) => "(an unparsable URL)".into(),
    }
}

/// Post `body` to `url` under the process's [`NetPolicy::global`].
///
/// # Errors
/// A transport error, a refused address or a non-2xx answer, described without the URL's path.
pub async fn post(url: &str, body: &Value, timeout: Duration) -> Result<u16, String> {
    static CLIENT: std::sync::OnceLock<Result<(Client, Arc<NetPolicy>), String>> =
        std::sync::OnceLock::new();
    let (client, policy) = CLIENT
        .get_or_init(|| {
            let policy = NetPolicy::global().map_err(|e| e.to_string())?;
            Ok((new_client(Arc::clone(&policy))?, policy))
        })
        .clone()?;
    post_with(&client, &policy, url, body, timeout).await
}

/// [`post`] under `policy`, with a client of its own.
///
/// # Errors
/// As [`post`].
pub async fn post_with_policy(
    policy: Arc<NetPolicy>,
    url: &str,
    body: &Value,
    timeout: Duration,
) -> Result<u16, String> {
    let client = new_client(Arc::clone(&policy))?;
    post_with(&client, &policy, url, body, timeout).await
}

fn new_client(policy: Arc<NetPolicy>) -> Result<Client, String> {
    net::client_builder(policy, Redirects::None)
        .build()
        .map_err(|e| e.to_string())
}

async fn post_with(
    client: &Client,
    policy: &NetPolicy,
    url: &str,
    body: &Value,
    timeout: Duration,
) -> Result<u16, String> {
    let host = shown_host(url);
    let parsed =
        reqwest::Url::parse(url).map_err(|_| format!("posting to {host} failed: not a URL"))?;
    policy
        .check_url(&parsed)
        .map_err(|r| format!("posting to {host}: {r}"))?;
    let res = client
        .post(parsed)
        .json(body)
        .timeout(timeout)
        .send()
        .await
        .map_err(|e| {
            if let Some(r) = net::refusal(&e) {
                return format!("posting to {host}: {r}");
            }
            let kind = if e.is_timeout() {
                "timed out"
            } else if e.is_connect() {
                "could not connect"
            } else {
                "failed"
            };
            format!("posting to {host} {kind}")
        })?;
    let status = res.status().as_u16();
    if res.status().is_success() {
        Ok(status)
    } else {
        let text = match net::read_capped(res, net::NOTIFY_ANSWER_CAP).await {
            Ok(bytes) => String::from_utf8_lossy(&bytes).chars().take(200).collect(),
            Err(e @ net::ReadError::TooLarge { .. }) => format!("({e})"),
            Err(net::ReadError::Body(_)) => String::new(),
        };
        Err(format!("{host} answered {status}: {}", text.trim()))
    }
}
