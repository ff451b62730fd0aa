//! The security suite's helpers: the shared ones (running the binary, `irp serve`, logins) and
//! the suite's own (clients from other addresses, form fields, announced addresses).

#![allow(dead_code)]

pub use crate::common::*;

/// A client that follows no redirects, connecting from `from` (any 127.0.0.0/8 address: on
/// Linux each is this machine, and the server sees it as the peer).
pub fn client_from(from: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .local_address(from.parse::<std::net::IpAddr>().unwrap())
        .build()
        .unwrap()
}

/// The value of the hidden form field `name` in `html`.
pub fn hidden_field(html: &str, name: &str) -> String {
    html.split(&format!(r#"name="{name}" value=""#))
        .nth(1)
        .unwrap_or_else(|| panic!("no field {name} in {html}"))
        .split('"')
        .next()
        .unwrap()
        .to_owned()
}

/// The address a serve log line announces after `marker` (`Metrics listening on http://`).
pub fn announced(serve: &Serve, marker: &str) -> Option<String> {
    let log = serve.log_text();
    let i = log.find(marker)?;
    Some(
        log[i + marker.len()..]
            .split(['/', ' ', '"', '\n'])
            .next()?
            .to_owned(),
    )
}
