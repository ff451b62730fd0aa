//! The portal and its server under abuse: password guessing (a parallel burst, a hammered
//! account, more logins than hashes), slow and numerous connections, a forged `next=`, pages
//! without security headers, probing the Shopware webhook, an open `/metrics`, an expired API
//! token, the first start's password file, a common password.

use std::time::{Duration, Instant};

use irp_store::db_tests;
use irp_store::testkit::TestDb;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::harness::*;

const EMAIL: &str = "anna@iused.nl";
const PASSWORD: &str = "correct horse battery";

db_tests!(
    a_parallel_burst_of_guesses_gets_no_more_checks_than_the_limit,
    the_owner_gets_in_from_another_address_while_the_account_is_guessed_at,
    logins_beyond_the_hashes_at_once_are_answered_503_at_once,
    a_slow_loris_is_cut_off_and_idle_connections_do_not_block_others,
    a_forged_next_goes_home,
    every_answer_carries_the_security_headers,
    the_secure_cookie_is_a_host_cookie_and_the_other_name_is_ignored,
    the_shopware_webhook_answers_an_unknown_channel_like_a_bad_signature,
    metrics_need_the_token_or_their_own_listener,
    an_expired_api_token_is_refused,
    the_first_start_password_file_is_private_gone_after_login_and_must_be_changed,
    a_common_password_is_refused,
);

/// 50 wrong passwords at once from one address: at most five are checked (401); the rest are
/// refused before their password is looked at (429, or 503 while the hashes are busy). The
/// address stays refused, the right password too.
async fn a_parallel_burst_of_guesses_gets_no_more_checks_than_the_limit(db: TestDb) {
    let irp = Irp::new(&db.url);
    add_user(&irp, EMAIL, PASSWORD, "operator");
    let serve = start_serve(&irp, &[], &[]);
    let base = serve.base();
    let client = client_from("127.0.0.1");
    let burst = (0..50).map(|i| {
        let (client, base) = (client.clone(), base.clone());
        async move {
            post_login(&client, &base, EMAIL, &format!("wrong password {i}"), None)
                .await
                .status()
                .as_u16()
        }
    });
    let statuses = futures_util::future::join_all(burst).await;
    let checked = statuses.iter().filter(|s| **s == 401).count();
    assert!(
        checked <= 5,
        "{checked} wrong passwords were checked: {statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| [401, 429, 503].contains(s)),
        "{statuses:?}"
    );
    // Whatever the burst left (a 503 was never checked, so it does not count): at most five
    // checks from this address in all.
    let mut total = checked;
    loop {
        let s = post_login(&client, &base, EMAIL, "still wrong!", None)
            .await
            .status()
            .as_u16();
        match s {
            401 => total += 1,
            429 => break,
            503 => tokio::time::sleep(Duration::from_millis(100)).await,
            other => panic!("{other}"),
        }
        assert!(total <= 5, "more than five checks from one address");
    }
    assert_eq!(total, 5);
    let r = post_login(&client, &base, EMAIL, PASSWORD, None).await;
    assert_eq!(
        r.status(),
        429,
        "the address is refused, the right password too"
    );
    assert!(r.headers().get("retry-after").is_some());
}

/// Two addresses use up their guesses on the account; the owner, from a third, still logs in
/// (after a delay of a few seconds at most).
async fn the_owner_gets_in_from_another_address_while_the_account_is_guessed_at(db: TestDb) {
    let irp = Irp::new(&db.url);
    add_user(&irp, EMAIL, PASSWORD, "operator");
    let serve = start_serve(&irp, &[], &[]);
    let base = serve.base();
    // Two addresses guess at once, each until it is refused.
    let guessers = ["127.0.0.2", "127.0.0.3"].map(|from| {
        let base = base.clone();
        async move {
            let attacker = client_from(from);
            for _ in 0..10 {
                let s = post_login(&attacker, &base, EMAIL, "a guess at it", None)
                    .await
                    .status()
                    .as_u16();
                if s == 429 {
                    break;
                }
                assert!([401, 503].contains(&s), "{s}");
            }
        }
    });
    futures_util::future::join_all(guessers).await;
    let owner = client_from("127.0.0.1");
    let started = Instant::now();
    let r = post_login(&owner, &base, EMAIL, PASSWORD, Some("/orders")).await;
    let took = started.elapsed();
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
    assert_eq!(r.headers()["location"], "/orders");
    // Slowed down (ten recent failures), not locked out.
    assert!(took >= Duration::from_secs(1), "{took:?}");
    assert!(took < Duration::from_secs(8), "{took:?}");
    // A success forgets the account's failures: the next login is quick.
    let started = Instant::now();
    let r = post_login(&owner, &base, EMAIL, PASSWORD, None).await;
    assert_eq!(r.status(), 303);
    assert!(started.elapsed() < Duration::from_secs(1));
}

/// With one hash at a time, 30 logins at once from 30 addresses: those that find the hash
/// busy are answered 503 with `Retry-After` at once, not queued.
async fn logins_beyond_the_hashes_at_once_are_answered_503_at_once(db: TestDb) {
    let irp = Irp::new(&db.url);
    let serve = start_serve(&irp, &[], &[("IRP_LOGIN_CONCURRENCY", "1")]);
    let base = serve.base();
    let logins = (0..30).map(|i| {
        let base = base.clone();
        async move {
            let client = client_from(&format!("127.0.1.{}", i + 1));
            let started = Instant::now();
            let r = post_login(
                &client,
                &base,
                &format!("nobody{i}@iused.nl"),
                "a password of nobody",
                None,
            )
            .await;
            (
                r.status().as_u16(),
                r.headers().contains_key("retry-after"),
                started.elapsed(),
            )
        }
    });
    let answers = futures_util::future::join_all(logins).await;
    let busy: Vec<_> = answers.iter().filter(|a| a.0 == 503).collect();
    assert!(!busy.is_empty(), "{answers:?}");
    assert!(
        busy.iter().all(|a| a.1),
        "503 says when to retry: {answers:?}"
    );
    assert!(
        answers.iter().all(|a| a.0 == 401 || a.0 == 503),
        "{answers:?}"
    );
}

/// A client that sends its headers a byte at a time is disconnected once the header timeout
/// passes; one address's idle connections beyond its cap are closed at once, and a request
/// from elsewhere is answered meanwhile.
async fn a_slow_loris_is_cut_off_and_idle_connections_do_not_block_others(db: TestDb) {
    let irp = Irp::new(&db.url);
    let serve = start_serve(
        &irp,
        &[],
        &[
            ("IRP_HEADER_TIMEOUT_SECS", "3"),
            ("IRP_MAX_CONNECTIONS_PER_ADDRESS", "10"),
        ],
    );
    let addr: std::net::SocketAddr = serve.addr.parse().unwrap();
    // The slow loris: a byte every 300 ms, never the blank line that ends the headers.
    let mut loris = tokio::net::TcpStream::connect(addr).await.unwrap();
    let started = Instant::now();
    let header = b"GET / HTTP/1.1\r\nHost: irp\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    let mut cut_off = None;
    for b in header.iter().cycle().take(100) {
        if loris.write_all(&[*b]).await.is_err() {
            cut_off = Some(started.elapsed());
            break;
        }
        let mut buf = [0u8; 256];
        // A 408 before closing is read past; the end of the stream is the cut-off.
        if let Ok(Ok(0) | Err(_)) =
            tokio::time::timeout(Duration::from_millis(300), loris.read(&mut buf)).await
        {
            cut_off = Some(started.elapsed());
            break;
        }
    }
    let cut_off = cut_off.expect("the slow client was never disconnected");
    assert!(cut_off < Duration::from_secs(7), "{cut_off:?}");

    // Twenty idle connections from 127.0.0.2: the ten beyond its cap are closed at once.
    let mut idle = Vec::new();
    for _ in 0..20 {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind("127.0.0.2:0".parse().unwrap()).unwrap();
        idle.push(socket.connect(addr).await.unwrap());
    }
    // Read every one at once, well within the header timeout.
    let reads = idle.iter_mut().map(|c| async move {
        let mut buf = [0u8; 16];
        matches!(
            tokio::time::timeout(Duration::from_millis(700), c.read(&mut buf)).await,
            Ok(Ok(0) | Err(_))
        )
    });
    let closed = futures_util::future::join_all(reads)
        .await
        .into_iter()
        .filter(|c| *c)
        .count();
    assert_eq!(
        closed, 10,
        "the connections beyond the address's cap are closed"
    );
    // Meanwhile a request from another address is answered at once.
    let started = Instant::now();
    let r = client_from("127.0.0.1")
        .get(format!("{}/healthz", serve.base()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(started.elapsed() < Duration::from_secs(2));
    // And the idle ones are closed by the header timeout too.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let mut buf = [0u8; 16];
    let first = idle.first_mut().unwrap();
    assert!(matches!(
        tokio::time::timeout(Duration::from_secs(2), first.read(&mut buf)).await,
        Ok(Ok(0) | Err(_))
    ));
}

/// After a login, `next=` leads to a path of the portal only: anything a browser could read
/// as another site, a scheme or a header goes home.
async fn a_forged_next_goes_home(db: TestDb) {
    let irp = Irp::new(&db.url);
    add_user(&irp, EMAIL, PASSWORD, "operator");
    let serve = start_serve(&irp, &[], &[]);
    let base = serve.base();
    let client = client_from("127.0.0.1");
    for forged in [
        "//evil.example",
        "/\\evil.example",
        "/%2F%2Fevil.example",
        "/%2f%5cevil.example",
        "javascript:alert(document.cookie)",
        "https://evil.example/",
        "/\r\nSet-Cookie: x=y",
        "/\t/evil.example",
    ] {
        let r = post_login(&client, &base, EMAIL, PASSWORD, Some(forged)).await;
        assert_eq!(r.status(), 303, "{forged:?}");
        assert_eq!(r.headers()["location"], "/", "{forged:?}");
        let query = serde_urlencoded::to_string([("next", forged)]).unwrap();
        let form = client
            .get(format!("{base}/login?{query}"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(hidden_field(&form, "next"), "/", "{forged:?}");
    }
    let r = post_login(
        &client,
        &base,
        EMAIL,
        PASSWORD,
        Some("/orders?status=failed"),
    )
    .await;
    assert_eq!(r.headers()["location"], "/orders?status=failed");
}

fn assert_security_headers(r: &reqwest::Response, what: &str) {
    let h = r.headers();
    let csp = h
        .get("content-security-policy")
        .unwrap_or_else(|| panic!("{what}: no CSP"))
        .to_str()
        .unwrap();
    for part in [
        "default-src 'self'",
        "script-src 'self'",
        "frame-ancestors 'none'",
        "form-action 'self'",
        "base-uri 'none'",
        "object-src 'none'",
    ] {
        assert!(csp.contains(part), "{what}: {csp}");
    }
    assert!(!csp.contains("unsafe-eval"), "{what}: {csp}");
    assert!(
        !csp.contains("script-src 'self' 'unsafe-inline'"),
        "{what}: {csp}"
    );
    assert_eq!(h["x-frame-options"], "DENY", "{what}");
    assert_eq!(h["x-content-type-options"], "nosniff", "{what}");
    assert_eq!(h["referrer-policy"], "same-origin", "{what}");
}

/// The login form, a 404, a static file and the pages all carry the security headers; pages
/// and the login form are never stored by a cache.
async fn every_answer_carries_the_security_headers(db: TestDb) {
    let irp = Irp::new(&db.url);
    add_user(&irp, EMAIL, PASSWORD, "operator");
    let serve = start_serve(&irp, &[], &[]);
    let base = serve.base();
    let client = client_from("127.0.0.1");
    let cookie = session_cookie(&post_login(&client, &base, EMAIL, PASSWORD, None).await);
    for (path, signed_in, status) in [
        ("/login", false, 200),
        ("/no/such/page", false, 404),
        ("/static/irp.css", false, 200),
        ("/static/htmx-4.0.1.min.js", false, 200),
        ("/", true, 200),
        ("/refurbishers", true, 200),
        ("/account/password", true, 200),
        ("/no/such/page", true, 404),
        ("/healthz", false, 200),
    ] {
        let mut req = client.get(format!("{base}{path}"));
        if signed_in {
            req = req.header("cookie", &cookie);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), status, "{path}");
        assert_security_headers(&r, path);
        let cache = r.headers()["cache-control"].to_str().unwrap().to_owned();
        if path.starts_with("/static/") {
            assert!(cache.starts_with("public"), "{path}: {cache}");
        } else {
            assert_eq!(cache, "no-store", "{path}");
        }
    }
    // Over plain HTTP on loopback: no HSTS, the plain cookie name.
    let r = client.get(format!("{base}/login")).send().await.unwrap();
    assert!(r.headers().get("strict-transport-security").is_none());
    assert!(cookie.starts_with("irp_session="), "{cookie}");
}

/// With `IRP_SECURE_COOKIES=true` the cookie is `__Host-irp_session` (`Secure`, `Path=/`, no
/// `Domain`), HSTS is sent, and a cookie under the other name is no session.
async fn the_secure_cookie_is_a_host_cookie_and_the_other_name_is_ignored(db: TestDb) {
    let irp = Irp::new(&db.url);
    add_user(&irp, EMAIL, PASSWORD, "operator");
    let serve = start_serve(&irp, &[], &[("IRP_SECURE_COOKIES", "true")]);
    let base = serve.base();
    let client = client_from("127.0.0.1");
    let r = post_login(&client, &base, EMAIL, PASSWORD, None).await;
    assert_eq!(r.status(), 303);
    let set = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(set.starts_with("__Host-irp_session=irps_"), "{set}");
    for part in ["Secure", "HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(set.contains(part), "{set}");
    }
    assert!(!set.contains("Domain"), "{set}");
    assert!(
        r.headers()["strict-transport-security"]
            .to_str()
            .unwrap()
            .starts_with("max-age=")
    );
    let cookie = session_cookie(&r);
    let token = cookie.split_once('=').unwrap().1;
    let home = client
        .get(&base)
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(home.status(), 200);
    let home = client
        .get(&base)
        .header("cookie", format!("irp_session={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(home.status(), 303, "the plain name is not read when secure");
}

/// An unknown channel, a channel without a shop secret, a missing and a wrong signature: one
/// answer, so a caller cannot find out which channels exist.
async fn the_shopware_webhook_answers_an_unknown_channel_like_a_bad_signature(db: TestDb) {
    let irp = Irp::new(&db.url);
    for (name, value) in [
        (
            "channel.refurbished-direct.shopware.client_id",
            "SWIAREFURBISHEDDIRECT0001",
        ),
        (
            "channel.refurbished-direct.shopware.client_secret",
            "rd-client-secret",
        ),
        (
            "channel.refurbished-direct.shopware.shop_secret",
            "rd-shop-secret-0123456789-0123456789-0123456789",
        ),
        (
            "channel.econocom.shopware.client_id",
            "SWIAECONOCOM00000000000001",
        ),
        ("channel.econocom.shopware.client_secret", "econocom-secret"),
    ] {
        let out = irp.run_with_stdin(&["secret", "set", name], value);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let channels = serde_json::json!({"channels": {
        "refurbished-direct": {"name": "Refurbished Direct", "shopware": {
            "url": "http://127.0.0.1:9",
            "client_id": "${secret:channel.refurbished-direct.shopware.client_id}",
            "client_secret": "${secret:channel.refurbished-direct.shopware.client_secret}",
            "shop_secret": "${secret:channel.refurbished-direct.shopware.shop_secret}"}},
        "econocom": {"name": "Econocom", "shopware": {
            "url": "http://127.0.0.1:9",
            "client_id": "${secret:channel.econocom.shopware.client_id}",
            "client_secret": "${secret:channel.econocom.shopware.client_secret}"}}
    }});
    let path = irp.data.path().join("channels.json");
    std::fs::write(&path, channels.to_string()).unwrap();
    let out = irp.run(&["channel", "apply", "-f", path.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let serve = start_serve(&irp, &[], &[("IRP_CHANNEL_TICK_SECS", "0")]);
    let client = client_from("127.0.0.1");
    let body =
        r#"{"data": {"event": "checkout.order.placed", "payload": {"order": {"id": "0123"}}}}"#;
    let wrong = irp_core::shopware::sign(body.as_bytes(), "not the shop secret");
    let mut answers = Vec::new();
    for (channel, signature) in [
        ("refurbished-direct", Some(wrong.as_str())),
        ("refurbished-direct", None),
        ("no-such-channel", Some(wrong.as_str())),
        ("no-such-channel", None),
        ("econocom", Some(wrong.as_str())),
    ] {
        let mut req = client
            .post(format!("{}/webhook/shopware/{channel}", serve.base()))
            .header("content-type", "application/json")
            .body(body);
        if let Some(s) = signature {
            req = req.header("shopware-shop-signature", s);
        }
        let r = req.send().await.unwrap();
        answers.push((channel, r.status().as_u16(), r.text().await.unwrap()));
    }
    let (_, status, text) = &answers[0];
    assert_eq!(*status, 401);
    for a in &answers {
        assert_eq!((a.1, &a.2), (*status, text), "{answers:?}");
    }
}

/// `IRP_METRICS_TOKEN`: `/metrics` without it (or with another) is refused; with
/// `IRP_METRICS_LISTEN` it is served there only.
async fn metrics_need_the_token_or_their_own_listener(db: TestDb) {
    let irp = Irp::new(&db.url);
    let serve = start_serve(
        &irp,
        &[],
        &[
            ("IRP_METRICS_TOKEN", "metrics-token-0123456789"),
            ("IRP_METRICS_LISTEN", "127.0.0.1:0"),
        ],
    );
    let client = client_from("127.0.0.1");
    let on_main = client
        .get(format!("{}/metrics", serve.base()))
        .bearer_auth("metrics-token-0123456789")
        .send()
        .await
        .unwrap();
    assert_eq!(on_main.status(), 404, "not on the portal's listener");
    let metrics_addr = eventually(Duration::from_secs(5), "the metrics address", || {
        announced(&serve, "/metrics served at http://")
    })
    .await;
    let url = format!("http://{metrics_addr}/metrics");
    let r = client.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert!(!r.text().await.unwrap().contains("irp_build_info"));
    let r = client.get(&url).bearer_auth("guess").send().await.unwrap();
    assert_eq!(r.status(), 401);
    let r = client
        .get(&url)
        .bearer_auth("metrics-token-0123456789")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("irp_build_info"));
    assert!(!serve.log_text().contains("metrics-token-0123456789"));
    drop(serve);

    // The token alone: /metrics on the portal's listener, refused without it.
    let serve = start_serve(
        &irp,
        &[],
        &[("IRP_METRICS_TOKEN", "metrics-token-0123456789")],
    );
    let url = format!("{}/metrics", serve.base());
    assert_eq!(client.get(&url).send().await.unwrap().status(), 401);
    let r = client
        .get(&url)
        .bearer_auth("metrics-token-0123456789")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

/// A token past its expiry is refused like an unknown one (401); the listing shows expiries.
async fn an_expired_api_token_is_refused(db: TestDb) {
    let irp = Irp::new(&db.url);
    // Long enough for the setup below on a loaded machine, short enough to wait for.
    let expiry = chrono::Utc::now() + chrono::TimeDelta::seconds(20);
    let soon = expiry.to_rfc3339();
    let out = irp.run(&[
        "token",
        "create",
        "short-lived",
        "--role",
        "viewer",
        "--expires",
        &soon,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let short = stdout(&out).trim().to_owned();
    let out = irp.run(&[
        "token",
        "create",
        "quarterly",
        "--role",
        "viewer",
        "--expires",
        "90d",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let quarterly = stdout(&out).trim().to_owned();
    for bad in ["0d", "yesterday", "2020-01-01T00:00:00Z", "5m"] {
        let out = irp.run(&["token", "create", "bad", "--expires", bad]);
        assert!(!out.status.success(), "{bad}");
        assert!(stderr(&out).contains("--expires"), "{}", stderr(&out));
    }
    let out = irp.run(&["token", "list", "--json"]);
    let list: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .all(|t| t["expires_at"].is_string()),
        "{list}"
    );
    let serve = start_serve(&irp, &[], &[]);
    let client = client_from("127.0.0.1");
    let orders = format!("{}/api/v1/orders", serve.base());
    let r = client
        .get(&orders)
        .bearer_auth(&short)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let left = (expiry - chrono::Utc::now()).to_std().unwrap_or_default();
    tokio::time::sleep(left + Duration::from_secs(1)).await;
    let expired = client
        .get(&orders)
        .bearer_auth(&short)
        .send()
        .await
        .unwrap();
    let unknown = client
        .get(&orders)
        .bearer_auth("irp_000000000000000000000000000000000000000000000000")
        .send()
        .await
        .unwrap();
    assert_eq!(expired.status(), 401);
    assert_eq!(unknown.status(), 401);
    assert_eq!(
        expired.text().await.unwrap(),
        unknown.text().await.unwrap(),
        "an expired token is answered as an unknown one"
    );
    let r = client
        .get(&orders)
        .bearer_auth(&quarterly)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let out = irp.run(&["token", "list"]);
    let text = stdout(&out);
    assert!(
        text.lines()
            .any(|l| l.starts_with("short-lived") && l.contains("EXPIRED")),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("quarterly") && l.contains("expires ")),
        "{text}"
    );
}

/// The first start's password file: made new with mode 0600 (a file already there is never
/// overwritten), removed at the first login, which must choose a new password — not a common
/// one — before any other page.
async fn the_first_start_password_file_is_private_gone_after_login_and_must_be_changed(db: TestDb) {
    let irp = Irp::new(&db.url);
    let serve = start_serve(&irp, &[], &[]);
    let base = serve.base();
    let file = irp.data.path().join("initial-admin-password");
    let password = std::fs::read_to_string(&file).unwrap().trim().to_owned();
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let client = client_from("127.0.0.1");
    let r = post_login(
        &client,
        &base,
        "admin@irp.local",
        &password,
        Some("/orders"),
    )
    .await;
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/account/password?next=/orders");
    assert!(
        !file.exists(),
        "the password file is gone after the first login"
    );
    let cookie = session_cookie(&r);
    // Every page leads to the password form until the password is changed.
    for path in ["/", "/orders", "/refurbishers/flexit"] {
        let r = client
            .get(format!("{base}{path}"))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303, "{path}");
        assert!(
            r.headers()["location"]
                .to_str()
                .unwrap()
                .starts_with("/account/password"),
            "{path}"
        );
    }
    let form = client
        .get(format!("{base}/account/password?next=/orders"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(form.contains("Choose a new password"), "{form}");
    let csrf = hidden_field(&form, "csrf");
    let change = |current: String, new: &'static str, confirm: &'static str, csrf: String| {
        let (client, base, cookie) = (client.clone(), base.clone(), cookie.clone());
        async move {
            client
                .post(format!("{base}/account/password"))
                .header("cookie", &cookie)
                .form(&[
                    ("csrf", csrf.as_str()),
                    ("current", current.as_str()),
                    ("new", new),
                    ("confirm", confirm),
                    ("next", "/orders"),
                ])
                .send()
                .await
                .unwrap()
        }
    };
    let r = change(
        password.clone(),
        "qwerty123456",
        "qwerty123456",
        csrf.clone(),
    )
    .await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("common passwords"));
    let r = change(
        password.clone(),
        "my own long password",
        "my own long passwort",
        csrf.clone(),
    )
    .await;
    assert_eq!(r.status(), 422);
    let r = change(
        password.clone(),
        "my own long password",
        "my own long password",
        "forged".into(),
    )
    .await;
    assert_eq!(r.status(), 403);
    let r = change(
        "not the password".into(),
        "my own long password",
        "my own long password",
        csrf.clone(),
    )
    .await;
    assert_eq!(r.status(), 401);
    let r = change(
        password.clone(),
        "my own long password",
        "my own long password",
        csrf.clone(),
    )
    .await;
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/orders");
    let r = client
        .get(format!("{base}/orders"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "the session goes on with the new password");
    let r = post_login(&client, &base, "admin@irp.local", &password, None).await;
    assert_eq!(r.status(), 401, "the first password no longer works");
    let r = post_login(
        &client,
        &base,
        "admin@irp.local",
        "my own long password",
        None,
    )
    .await;
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/");
    drop(serve);

    // A file already at that place (planted, or left from an earlier database) is never
    // overwritten or followed.
    let fresh = TestDb::new(if db.url.starts_with("postgres") {
        irp_store::Backend::Postgres
    } else {
        irp_store::Backend::Sqlite
    })
    .await;
    let irp = Irp::new(&fresh.url);
    let planted = irp.data.path().join("initial-admin-password");
    std::fs::write(&planted, "planted\n").unwrap();
    let serve = start_serve(&irp, &[], &[]);
    assert_eq!(std::fs::read_to_string(&planted).unwrap(), "planted\n");
    let log = serve.log_text();
    assert!(log.contains("is never overwritten"), "{log}");
}

/// `irp user add` refuses a common password (case aside) and a short one, saying why.
async fn a_common_password_is_refused(db: TestDb) {
    let irp = Irp::new(&db.url);
    for common in ["password1234", "Password1234", "qwerty123456"] {
        let out = irp.run_with_stdin(&["user", "add", EMAIL], &format!("{common}\n"));
        assert!(!out.status.success(), "{common}");
        assert!(
            stderr(&out).contains("common passwords"),
            "{}",
            stderr(&out)
        );
    }
    let out = irp.run_with_stdin(&["user", "add", EMAIL], "short\n");
    assert!(stderr(&out).contains("at least 12"), "{}", stderr(&out));
    let out = irp.run(&["user", "list", "--json"]);
    assert_eq!(stdout(&out).trim(), "[]", "no account was made");
    add_user(&irp, EMAIL, PASSWORD, "viewer");
}
