//! What an outbound connection may reach, and how much of an answer is read.
//!
//! Every URL IRP calls is set by an operator (a feed, an OAuth token endpoint, an order API,
//! Shopware, Ergonode, Odoo or Alumio, the notifier) and every answer comes from a server IRP
//! does not control. Three rules hold for all of them, and every HTTP client of this crate is
//! made by [`client_builder`] so that none can forget one:
//!
//! - **No private networks unless allowed.** An address that is loopback (`127.0.0.0/8`,
//!   `::1`), link-local (`169.254.0.0/16` with the clouds' metadata endpoint, `fe80::/10`),
//!   private (`10.0.0.0/8`, `172.16.0.0/12`, `192.168.0.0/16`, `fc00::/7`), shared (CGNAT,
//!   `100.64.0.0/10`), unspecified, multicast, broadcast or reserved — also inside an
//!   IPv4-mapped IPv6 address — is refused unless `IRP_ALLOW_PRIVATE_NETWORKS` (a
//!   comma-separated list of CIDRs) holds it. The check is on the **resolved** address: the
//!   clients resolve names with [`PolicyResolver`], which hands the connector only the
//!   addresses it checked, so a name that resolves to `127.0.0.1` is refused and there is no
//!   second lookup an attacker's DNS could answer differently. A host written as an IP address
//!   never reaches a resolver: [`NetPolicy::check_url`] checks it before every request and the
//!   redirect policy on every hop. SFTP hosts go through [`NetPolicy::resolve`]. The system's
//!   proxy variables (`HTTPS_PROXY`…) are not used: through a proxy, the address connected to
//!   would be the proxy's, not the one checked.
//! - **Credentials never follow a redirect elsewhere.** A client that sends credentials
//!   follows a redirect only within the same origin (scheme, host and port); a redirect to
//!   another origin is refused with an error, never followed with the credentials stripped —
//!   simpler to reason about than a list of headers to remove (`Authorization`, a configured
//!   `auth.header`, client id and secret headers, API keys, a query-string credential, a POST
//!   body holding a client secret). No client follows a redirect from `https` to `http`.
//! - **Every answer is read with a cap counted after decompression** ([`read_capped`],
//!   [`Capped`]), so a small gzip answer that inflates to gigabytes is refused after the cap,
//!   never held in memory. The caps are the constants below.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::str::FromStr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use ipnet::IpNet;
use reqwest::{Response, Url};

/// The environment variable listing the private networks outbound requests may reach.
pub const ALLOW_VAR: &str = "IRP_ALLOW_PRIVATE_NETWORKS";

/// Redirects followed per request, at most.
pub const MAX_REDIRECTS: usize = 3;

/// The most of an error answer that is read (only its start is ever shown).
pub const ERROR_BODY_CAP: usize = 64 * 1024;
/// The most of an OAuth2 token endpoint's answer that is read.
pub const TOKEN_ANSWER_CAP: usize = 64 * 1024;
/// The most of a notifier's answer that is read.
pub const NOTIFY_ANSWER_CAP: usize = 64 * 1024;
/// The most of one page of a paginated feed that is read (the page is held in memory to be
/// parsed; the whole feed is still capped by the feed's `max_bytes`).
pub const FEED_PAGE_CAP: usize = 64 * 1024 * 1024;
/// The most of an Odoo (or Alumio) answer that is read: IRP's searches ask for a few records.
pub const ODOO_ANSWER_CAP: usize = 16 * 1024 * 1024;

/// Why an outbound request was refused before it was sent (or before a redirect was followed).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// A name resolved only to addresses that are not allowed.
    #[error(
        "refused: {host} resolves to {ip}, a {kind} address; allow it with {ALLOW_VAR}={allow}"
    )]
    Resolved {
        /// The name.
        host: String,
        /// The (first) address it resolved to.
        ip: IpAddr,
        /// What kind of address (`private`, `loopback`…).
        kind: &'static str,
        /// The network to allow.
        allow: IpNet,
    },
    /// A host written as an address that is not allowed.
    #[error("refused: {ip} is a {kind} address; allow it with {ALLOW_VAR}={allow}")]
    Address {
        /// The address.
        ip: IpAddr,
        /// What kind of address.
        kind: &'static str,
        /// The network to allow.
        allow: IpNet,
    },
    /// A redirect that is not followed.
    #[error("refused to follow the redirect from {from} to {to}: {why}")]
    Redirect {
        /// Where the redirect came from (without query string).
        from: String,
        /// Where it led (without query string).
        to: String,
        /// Why not.
        why: String,
    },
    /// `IRP_ALLOW_PRIVATE_NETWORKS` cannot be read.
    #[error("{0}")]
    AllowList(String),
}

/// Which addresses outbound connections may reach: every public address, and the private
/// networks of an allow list. Production uses [`NetPolicy::global`], read once from
/// `IRP_ALLOW_PRIVATE_NETWORKS`; tests build their own with [`NetPolicy::from_list`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetPolicy {
    allowed: Vec<IpNet>,
}

impl NetPolicy {
    /// No private network allowed.
    pub fn none() -> NetPolicy {
        NetPolicy::default()
    }

    /// A policy allowing the comma-separated CIDRs of `list` (a bare address is one host;
    /// blanks are ignored), as `IRP_ALLOW_PRIVATE_NETWORKS` holds them.
    ///
    /// # Errors
    /// [`Refused::AllowList`] naming the variable, its value and the entry that is not a CIDR.
    pub fn from_list(list: &str) -> Result<NetPolicy, Refused> {
        let mut allowed = Vec::new();
        for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let net = IpNet::from_str(entry)
                .or_else(|e| IpAddr::from_str(entry).map(IpNet::from).map_err(|_| e))
                .map_err(|e| {
                    Refused::AllowList(format!(
                        "{ALLOW_VAR}={list:?}: `{entry}` is not a CIDR such as 10.0.0.0/8 or fd00::/8 ({e})"
                    ))
                })?;
            allowed.push(net.trunc());
        }
        Ok(NetPolicy { allowed })
    }

    /// The policy of this process: `IRP_ALLOW_PRIVATE_NETWORKS`, read once (unset or empty:
    /// no private network).
    ///
    /// # Errors
    /// The variable holds something that is not a list of CIDRs (the same error every time).
    pub fn global() -> Result<Arc<NetPolicy>, Refused> {
        static GLOBAL: OnceLock<Result<Arc<NetPolicy>, Refused>> = OnceLock::new();
        GLOBAL
            .get_or_init(|| match std::env::var(ALLOW_VAR) {
                Ok(v) => NetPolicy::from_list(&v).map(Arc::new),
                Err(std::env::VarError::NotPresent) => Ok(Arc::new(NetPolicy::none())),
                Err(std::env::VarError::NotUnicode(_)) => Err(Refused::AllowList(format!(
                    "{ALLOW_VAR} is not valid UTF-8"
                ))),
            })
            .clone()
    }

    /// The networks allowed besides the public ones.
    pub fn allowed(&self) -> &[IpNet] {
        &self.allowed
    }

    fn allows(&self, ip: IpAddr) -> Result<(), (&'static str, IpNet)> {
        let Some((kind, allow)) = classify(ip) else {
            return Ok(());
        };
        let embedded = embedded_v4(ip).map(IpAddr::V4);
        let listed = |a: IpAddr| self.allowed.iter().any(|n| n.contains(&a));
        if listed(ip) || embedded.is_some_and(listed) {
            Ok(())
        } else {
            Err((kind, allow))
        }
    }

    /// Whether `ip` may be connected to.
    ///
    /// # Errors
    /// [`Refused::Address`] naming the address, its kind and the network to allow.
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), Refused> {
        self.allows(ip)
            .map_err(|(kind, allow)| Refused::Address { ip, kind, allow })
    }

    /// Check a URL whose host is an address (a name is checked when it is resolved).
    ///
    /// # Errors
    /// [`Refused::Address`].
    pub fn check_url(&self, url: &Url) -> Result<(), Refused> {
        let host = url.host_str().unwrap_or_default();
        match IpAddr::from_str(host.trim_start_matches('[').trim_end_matches(']')) {
            Ok(ip) => self.check_ip(ip),
            Err(_) => Ok(()),
        }
    }

    /// Resolve `host` (a name or an address) and keep the addresses that may be connected to.
    ///
    /// # Errors
    /// The name does not resolve (an I/O error), or [`Refused`] when every address it resolves
    /// to is refused.
    pub async fn resolve(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, ResolveError> {
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = IpAddr::from_str(bare) {
            self.check_ip(ip)?;
            return Ok(vec![SocketAddr::new(ip, port)]);
        }
        let found: Vec<SocketAddr> = tokio::net::lookup_host((host, port)).await?.collect();
        self.filter(host, found)
    }

    fn filter(&self, host: &str, found: Vec<SocketAddr>) -> Result<Vec<SocketAddr>, ResolveError> {
        let mut first_refused = None;
        let mut kept = Vec::with_capacity(found.len());
        for a in found {
            match self.allows(a.ip()) {
                Ok(()) => kept.push(a),
                Err((kind, allow)) => {
                    first_refused.get_or_insert(Refused::Resolved {
                        host: host.to_owned(),
                        ip: a.ip(),
                        kind,
                        allow,
                    });
                }
            }
        }
        match (kept.is_empty(), first_refused) {
            (true, Some(r)) => Err(ResolveError::Refused(r)),
            (true, None) => Err(ResolveError::Io(std::io::Error::other(format!(
                "{host} resolves to no address"
            )))),
            (false, _) => Ok(kept),
        }
    }
}

/// Why [`NetPolicy::resolve`] gave no address.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// Every address is refused.
    #[error(transparent)]
    Refused(#[from] Refused),
    /// The lookup failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// The IPv4 address inside an IPv4-mapped (`::ffff:a.b.c.d`) or NAT64 (`64:ff9b::a.b.c.d`)
/// IPv6 address.
fn embedded_v4(ip: IpAddr) -> Option<Ipv4Addr> {
    match ip {
        IpAddr::V4(_) => None,
        IpAddr::V6(v6) => v6.to_ipv4_mapped().or_else(|| {
            let s = v6.segments();
            (s[..6] == [0x64, 0xff9b, 0, 0, 0, 0]).then(|| {
                let o = v6.octets();
                Ipv4Addr::new(o[12], o[13], o[14], o[15])
            })
        }),
    }
}

fn net(ip: IpAddr, prefix: u8) -> IpNet {
    IpNet::new(ip, prefix).map_or_else(|_| IpNet::from(ip), |n| n.trunc())
}

/// What kind of non-public address `ip` is, and the network an operator would allow for it;
/// `None` for a public address.
pub fn classify(ip: IpAddr) -> Option<(&'static str, IpNet)> {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = embedded_v4(ip) {
                return classify_v4(v4);
            }
            let s = v6.segments();
            let a = IpAddr::V6(v6);
            if v6.is_unspecified() {
                Some(("unspecified", net(a, 128)))
            } else if v6.is_loopback() {
                Some(("loopback", net(a, 128)))
            } else if s[0] & 0xffc0 == 0xfe80 {
                Some(("link-local", net(a, 10)))
            } else if s[0] & 0xffc0 == 0xfec0 || s[0] & 0xfe00 == 0xfc00 {
                Some((
                    "private",
                    net(a, if s[0] & 0xfe00 == 0xfc00 { 7 } else { 10 }),
                ))
            } else if v6.is_multicast() {
                Some(("multicast", net(a, 8)))
            } else if s[..6] == [0; 6] {
                // ::a.b.c.d (IPv4-compatible, deprecated): nothing public lives there.
                Some(("reserved", net(a, 96)))
            } else {
                None
            }
        }
    }
}

fn classify_v4(v4: Ipv4Addr) -> Option<(&'static str, IpNet)> {
    let o = v4.octets();
    let a = IpAddr::V4(v4);
    Some(match o {
        [0, ..] => ("unspecified", net(a, 8)),
        [127, ..] => ("loopback", net(a, 8)),
        [10, ..] => ("private", net(a, 8)),
        [172, b, ..] if b & 0xf0 == 16 => ("private", net(a, 12)),
        [192, 168, ..] => ("private", net(a, 16)),
        [169, 254, ..] => ("link-local", net(a, 16)),
        [100, b, ..] if b & 0xc0 == 64 => ("shared (CGNAT)", net(a, 10)),
        [255, 255, 255, 255] => ("broadcast", net(a, 32)),
        [224..=239, ..] => ("multicast", net(a, 4)),
        [240..=255, ..] => ("reserved", net(a, 4)),
        _ => return None,
    })
}

/// The resolver of every client: resolves with the system's resolver and hands the connector
/// only the addresses the policy allows.
#[derive(Debug, Clone)]
pub struct PolicyResolver(pub Arc<NetPolicy>);

impl reqwest::dns::Resolve for PolicyResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = Arc::clone(&self.0);
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            match policy.filter(&host, found) {
                Ok(kept) => Ok(Box::new(kept.into_iter()) as reqwest::dns::Addrs),
                Err(ResolveError::Refused(r)) => Err(Box::new(r) as _),
                Err(ResolveError::Io(e)) => Err(Box::new(e) as _),
            }
        })
    }
}

/// Which redirects a client follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Redirects {
    /// None: a 3xx is the answer.
    None,
    /// Up to [`MAX_REDIRECTS`], within the same origin only: for requests with credentials.
    SameOrigin,
    /// Up to [`MAX_REDIRECTS`], to any origin: only for requests without credentials.
    Any,
}

/// The origin of a URL as a redirect check compares it: scheme, host and port.
fn origin(u: &Url) -> (String, Option<String>, Option<u16>) {
    (
        u.scheme().to_owned(),
        u.host_str().map(str::to_ascii_lowercase),
        u.port_or_known_default(),
    )
}

/// Whether a client following `redirects` may follow a redirect to `next` after `previous`
/// (the first is the URL asked for). Checked on every hop: the number of hops, the scheme (never
/// from `https` to `http`), the origin (for [`Redirects::SameOrigin`]) and an address host.
///
/// # Errors
/// [`Refused::Redirect`] naming both URLs without query string, or [`Refused::Address`].
pub fn check_redirect(
    policy: &NetPolicy,
    redirects: Redirects,
    previous: &[Url],
    next: &Url,
) -> Result<(), Refused> {
    let Some(last) = previous.last() else {
        return Ok(());
    };
    let refuse = |why: &str| Refused::Redirect {
        from: crate::http::shown_url(last),
        to: crate::http::shown_url(next),
        why: why.to_owned(),
    };
    match redirects {
        Redirects::None => return Err(refuse("redirects are not followed")),
        _ if previous.len() > MAX_REDIRECTS => {
            return Err(refuse(&format!("more than {MAX_REDIRECTS} redirects")));
        }
        _ => {}
    }
    if !matches!(next.scheme(), "http" | "https") {
        return Err(refuse("only http and https are followed"));
    }
    if previous
        .iter()
        .any(|p| p.scheme() == "https" && next.scheme() == "http")
    {
        return Err(refuse("it leaves https for plain http"));
    }
    if redirects == Redirects::SameOrigin && origin(next) != origin(last) {
        let why = "it leads to another origin (scheme, host and port) and the request carries credentials, which are never sent elsewhere";
        if last.scheme() == "http" && next.scheme() == "https" && last.host_str() == next.host_str()
        {
            return Err(refuse(&format!(
                "{why}; if the server only moved to https, configure the https:// URL"
            )));
        }
        return Err(refuse(why));
    }
    policy.check_url(next)
}

/// A client builder with the policy's resolver, the redirect rules of `redirects`, no system
/// proxy, no `Referer`, IRP's user agent and a 10 s connect timeout. Every client of this crate starts here.
pub fn client_builder(policy: Arc<NetPolicy>, redirects: Redirects) -> reqwest::ClientBuilder {
    let for_redirects = Arc::clone(&policy);
    let redirect = match redirects {
        Redirects::None => reqwest::redirect::Policy::none(),
        r => reqwest::redirect::Policy::custom(move |attempt| {
            match check_redirect(&for_redirects, r, attempt.previous(), attempt.url()) {
                Ok(()) => attempt.follow(),
                Err(e) => attempt.error(e),
            }
        }),
    };
    reqwest::Client::builder()
        .dns_resolver(PolicyResolver(policy))
        .no_proxy()
        .redirect(redirect)
        // A `Referer` would carry the previous URL, query string (and its key) included.
        .referer(false)
        .connect_timeout(Duration::from_secs(10))
        .user_agent(concat!("IRP/", env!("CARGO_PKG_VERSION")))
}

/// The refusal in a request's error, when the policy refused it (a resolved address, or a
/// redirect). A refusal is not retried: asking again gets the same answer.
pub fn refusal(e: &reqwest::Error) -> Option<Refused> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if let Some(r) = s.downcast_ref::<Refused>() {
            return Some(r.clone());
        }
        source = s.source();
    }
    None
}

/// Reading an answer failed.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The answer is larger than the cap (counted after decompression).
    #[error("answer larger than {cap} bytes after decompression")]
    TooLarge {
        /// The cap.
        cap: u64,
    },
    /// The connection failed while reading.
    #[error("{}", crate::http::without_url(.0))]
    Body(#[from] reqwest::Error),
}

/// An answer's body, read chunk by chunk with a cap on the bytes after decompression.
pub struct Capped {
    resp: Response,
    cap: u64,
    read: u64,
}

impl fmt::Debug for Capped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Capped")
            .field("cap", &self.cap)
            .field("read", &self.read)
            .finish_non_exhaustive()
    }
}

impl Capped {
    /// Read `resp` with at most `cap` bytes.
    ///
    /// # Errors
    /// [`ReadError::TooLarge`] at once when the answer announces more (`Content-Length` of an
    /// answer that is not compressed).
    pub fn new(resp: Response, cap: u64) -> Result<Capped, ReadError> {
        if resp.content_length().is_some_and(|n| n > cap) {
            return Err(ReadError::TooLarge { cap });
        }
        Ok(Capped { resp, cap, read: 0 })
    }

    /// The next chunk, `None` at the end.
    ///
    /// # Errors
    /// [`ReadError::TooLarge`] once the bytes read pass the cap (the chunk that passes it is
    /// not returned), or the connection failed.
    pub async fn chunk(&mut self) -> Result<Option<Vec<u8>>, ReadError> {
        match self.resp.chunk().await? {
            None => Ok(None),
            Some(c) => {
                self.read += c.len() as u64;
                if self.read > self.cap {
                    Err(ReadError::TooLarge { cap: self.cap })
                } else {
                    Ok(Some(c.to_vec()))
                }
            }
        }
    }

    /// Bytes read so far (after decompression).
    pub fn read(&self) -> u64 {
        self.read
    }
}

/// The whole body of `resp`, refused once it passes `cap` bytes after decompression.
///
/// # Errors
/// See [`ReadError`].
pub async fn read_capped(resp: Response, cap: usize) -> Result<Vec<u8>, ReadError> {
    let mut body = Capped::new(resp, cap as u64)?;
    let mut out = Vec::new();
    while let Some(c) = body.chunk().await? {
        out.extend_from_slice(&c);
    }
    Ok(out)
}

/// The start of an error answer for a message: at most 300 bytes, whitespace folded; an
/// answer larger than [`ERROR_BODY_CAP`] is not read and says so.
pub async fn excerpt(resp: Response) -> String {
    match read_capped(resp, ERROR_BODY_CAP).await {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes[..bytes.len().min(300)]);
            text.split_whitespace().collect::<Vec<_>>().join(" ")
        }
        Err(e @ ReadError::TooLarge { .. }) => format!("({e})"),
        Err(ReadError::Body(_)) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn non_public_addresses_are_classified_with_the_network_to_allow() {
        for (addr, kind, allow) in [
            ("127.0.0.1", "loopback", "127.0.0.0/8"),
            ("10.0.0.5", "private", "10.0.0.0/8"),
            ("172.20.1.1", "private", "172.16.0.0/12"),
            ("192.168.1.1", "private", "192.168.0.0/16"),
            ("169.254.169.254", "link-local", "169.254.0.0/16"),
            ("100.100.1.1", "shared (CGNAT)", "100.64.0.0/10"),
            ("0.0.0.0", "unspecified", "0.0.0.0/8"),
            ("224.0.0.1", "multicast", "224.0.0.0/4"),
            ("255.255.255.255", "broadcast", "255.255.255.255/32"),
            ("::1", "loopback", "::1/128"),
            ("::", "unspecified", "::/128"),
            ("fe80::1", "link-local", "fe80::/10"),
            ("fd12:3456::1", "private", "fc00::/7"),
            ("ff02::1", "multicast", "ff00::/8"),
            ("::ffff:127.0.0.1", "loopback", "127.0.0.0/8"),
            ("::ffff:10.1.2.3", "private", "10.0.0.0/8"),
            ("64:ff9b::a9fe:a9fe", "link-local", "169.254.0.0/16"),
        ] {
            let got = classify(ip(addr)).unwrap_or_else(|| panic!("{addr} is public?"));
            assert_eq!(
                (got.0, got.1.to_string()),
                (kind, allow.to_owned()),
                "{addr}"
            );
        }
        for public in [
            "1.1.1.1",
            "172.32.0.1",
            "100.128.0.1",
            "2a00:1450::1",
            "::ffff:8.8.8.8",
        ] {
            assert_eq!(classify(ip(public)), None, "{public}");
        }
    }

    #[test]
    fn the_allow_list_allows_its_networks_and_mapped_addresses() {
        let p = NetPolicy::from_list(" 127.0.0.0/8, ::1/128,10.1.2.3 ,").unwrap();
        assert!(p.check_ip(ip("127.0.0.1")).is_ok());
        assert!(p.check_ip(ip("::1")).is_ok());
        assert!(p.check_ip(ip("::ffff:127.0.0.1")).is_ok());
        assert!(p.check_ip(ip("10.1.2.3")).is_ok());
        assert!(p.check_ip(ip("8.8.8.8")).is_ok());
        assert_eq!(
            p.check_ip(ip("10.1.2.4")).unwrap_err().to_string(),
            "refused: 10.1.2.4 is a private address; allow it with IRP_ALLOW_PRIVATE_NETWORKS=10.0.0.0/8"
        );
        let none = NetPolicy::none();
        assert_eq!(
            none.check_ip(ip("::ffff:169.254.169.254"))
                .unwrap_err()
                .to_string(),
            "refused: ::ffff:169.254.169.254 is a link-local address; allow it with IRP_ALLOW_PRIVATE_NETWORKS=169.254.0.0/16"
        );
        assert_eq!(NetPolicy::from_list("").unwrap(), NetPolicy::none());
    }

    #[test]
    fn a_malformed_allow_list_names_the_variable_and_the_entry() {
        assert_eq!(
            NetPolicy::from_list("127.0.0.0/8,10.0.0.0/33")
                .unwrap_err()
                .to_string(),
            "IRP_ALLOW_PRIVATE_NETWORKS=\"127.0.0.0/8,10.0.0.0/33\": `10.0.0.0/33` is not a CIDR such as 10.0.0.0/8 or fd00::/8 (invalid IP address syntax)"
        );
        assert!(NetPolicy::from_list("localhost").is_err());
    }

    #[test]
    fn an_address_host_is_checked_and_a_name_left_to_the_resolver() {
        let none = NetPolicy::none();
        let u = |s: &str| Url::parse(s).unwrap();
        assert!(none.check_url(&u("http://127.0.0.1:8080/x")).is_err());
        assert!(none.check_url(&u("http://[::1]/x")).is_err());
        assert!(
            none.check_url(&u("http://2130706433/x")).is_err(),
            "127.0.0.1 in decimal"
        );
        assert!(none.check_url(&u("http://0x7f.1/x")).is_err());
        assert!(none.check_url(&u("http://localhost/x")).is_ok());
        assert!(none.check_url(&u("https://93.184.215.14/x")).is_ok());
    }

    #[test]
    fn redirects_keep_their_origin_and_never_leave_https() {
        let none = NetPolicy::none();
        let u = |s: &str| Url::parse(s).unwrap();
        let from = [u("https://feed.example/offers?api_key=s3cret")];
        let same = u("https://feed.example/v2/offers?api_key=s3cret");
        assert!(check_redirect(&none, Redirects::SameOrigin, &from, &same).is_ok());
        let err = check_redirect(
            &none,
            Redirects::Any,
            &from,
            &u("http://feed.example/offers?api_key=s3cret"),
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "refused to follow the redirect from https://feed.example/offers to http://feed.example/offers: it leaves https for plain http"
        );
        for other in [
            "https://cdn.example/offers",
            "https://feed.example:8443/offers",
            "http://feed.example/offers",
        ] {
            assert!(
                check_redirect(&none, Redirects::SameOrigin, &from, &u(other)).is_err(),
                "{other}"
            );
        }
        let plain = [u("http://feed.example/offers")];
        assert!(
            check_redirect(
                &none,
                Redirects::SameOrigin,
                &plain,
                &u("https://feed.example/offers")
            )
            .unwrap_err()
            .to_string()
            .ends_with("; if the server only moved to https, configure the https:// URL")
        );
        let err = check_redirect(
            &none,
            Redirects::SameOrigin,
            &from,
            &u("https://cdn.example/offers?sig=1"),
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "refused to follow the redirect from https://feed.example/offers to https://cdn.example/offers: it leads to another origin (scheme, host and port) and the request carries credentials, which are never sent elsewhere"
        );
        assert!(check_redirect(&none, Redirects::Any, &from, &u("https://cdn.example/o")).is_ok());
        // An address host is checked on the hop: the resolver never sees it.
        assert_eq!(
            check_redirect(
                &none,
                Redirects::Any,
                &from,
                &u("https://169.254.169.254/latest")
            )
            .unwrap_err()
            .to_string(),
            "refused: 169.254.169.254 is a link-local address; allow it with IRP_ALLOW_PRIVATE_NETWORKS=169.254.0.0/16"
        );
        let four = [
            u("https://a.example/1"),
            u("https://a.example/2"),
            u("https://a.example/3"),
            u("https://a.example/4"),
        ];
        assert!(check_redirect(&none, Redirects::Any, &four, &u("https://a.example/5")).is_err());
        assert!(
            check_redirect(&none, Redirects::Any, &four[..3], &u("https://a.example/5")).is_ok()
        );
        assert!(check_redirect(&none, Redirects::Any, &from, &u("ftp://a.example/5")).is_err());
    }

    #[tokio::test]
    async fn names_are_checked_once_resolved() {
        let none = NetPolicy::none();
        let err = none.resolve("localhost", 22).await.unwrap_err();
        assert!(
            err.to_string()
                .starts_with("refused: localhost resolves to "),
            "{err}"
        );
        let err = none.resolve("127.0.0.1", 22).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "refused: 127.0.0.1 is a loopback address; allow it with IRP_ALLOW_PRIVATE_NETWORKS=127.0.0.0/8"
        );
        let allowed = NetPolicy::from_list("127.0.0.0/8,::1/128").unwrap();
        let addrs = allowed.resolve("localhost", 22).await.unwrap();
        assert!(addrs.iter().all(|a| a.ip().is_loopback() && a.port() == 22));
        let only_v4 = NetPolicy::from_list("127.0.0.0/8").unwrap();
        let addrs = only_v4.resolve("localhost", 22).await.unwrap();
        assert!(addrs.iter().all(|a| a.ip() == ip("127.0.0.1")), "{addrs:?}");
    }
}
