//! The notification webhook: alerts posted as JSON to an operator's chat or incident tool.
//! The URL is treated as a secret (a Slack incoming-webhook URL is one): errors name its host
//! only.

use std::time::Duration;

use reqwest::Client;
use serde_json::Value;

/// The URL's scheme and host, for messages (never its path or query, which hold the secret).
pub fn shown_host(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(u) => format!("{}://{}", u.scheme(), u.host_str().unwrap_or("?")),
        Err(_) => "(an unparsable URL)".into(),
    }
}

/// Post `body` to `url`.
///
/// # Errors
/// A transport error or a non-2xx answer, described without the URL's path.
pub async fn post(url: &str, body: &Value, timeout: Duration) -> Result<u16, String> {
    static CLIENT: std::sync::OnceLock<Result<Client, String>> = std::sync::OnceLock::new();
    let client = CLIENT
        .get_or_init(|| {
            Client::builder()
                .connect_timeout(Duration::from_secs(10))
                .redirect(reqwest::redirect::Policy::none())
                .user_agent(concat!("IRP/", env!("CARGO_PKG_VERSION")))
                .build()
                .map_err(|e| e.to_string())
        })
        .clone()?;
    let host = shown_host(url);
    let res = client
        .post(url)
        .json(body)
        .timeout(timeout)
        .send()
        .await
        .map_err(|e| {
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
        let text = res.text().await.unwrap_or_default();
        let text: String = text.chars().take(200).collect();
        Err(format!("{host} answered {status}: {}", text.trim()))
    }
}
