//! A hostile or misconfigured remote server, met by `irp feed import`: a feed that redirects to
//! another origin never hands it the credential, a gzip bomb fails the run without the process
//! growing, and a feed on a private network is refused unless `IRP_ALLOW_PRIVATE_NETWORKS`
//! allows it.

use std::io::Read as _;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use irp_store::db_tests;
use irp_store::testkit::TestDb;
use irp_testkit::hostile::{Answer, Hostile};
use serde_json::Value;

use crate::harness::{Irp, stderr, stdout};

const LOOPBACK: &str = "127.0.0.0/8,::1/128";
const FEED: &str = r#"{"offers":[{"sku":"A-1","name":"iPad 9","ean":"4006381333931","stock":3,"buy":199.95,"sell":329}]}"#;
const MAPPING: &str = r#""mapping": {"sku": "sku", "name": "name", "ean": "ean", "stock_available": "stock",
    "price_purchase_amount": "buy", "price_consumer_amount": "sell"}"#;
/// What every bomb inflates to.
const GIB: u64 = 1 << 30;

/// A refurbisher `acme` whose `web` feed is at `endpoint`, with `extra` keys (auth, caps).
fn acme_web(endpoint: &str, extra: &str) -> String {
    format!(
        r#"{{"acme": {{"name": "Acme", "default_margin": 10, "offers": {{"connection": "web", "endpoint": {}, {extra} "type": "json", "offer_location": "offers", "price_locale": "en_US", {MAPPING}}}}}}}"#,
        Value::String(endpoint.to_owned())
    )
}

/// `irp` with loopback allowed, as the fake servers need.
fn run(irp: &Irp, args: &[&str]) -> Output {
    irp.cmd(args)
        .env("IRP_ALLOW_PRIVATE_NETWORKS", LOOPBACK)
        .output()
        .unwrap()
}

fn apply(irp: &Irp, doc: &str) {
    let path = irp.data.path().join("acme.json");
    std::fs::write(&path, doc).unwrap();
    let out = run(irp, &["refurbisher", "apply", "-f", path.to_str().unwrap()]);
    assert!(out.status.success(), "apply: {}", stderr(&out));
}

fn set_secret(irp: &Irp, name: &str, value: &str) {
    let out = irp.run_with_stdin(&["secret", "set", name], value);
    assert!(out.status.success(), "secret set: {}", stderr(&out));
}

/// Runs `cmd` to its end, sampling its peak resident memory (`VmHWM`) every few milliseconds:
/// the output and the largest peak seen.
fn run_measured(mut cmd: Command) -> (Output, u64) {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out_pipe = child.stdout.take().unwrap();
    let mut err_pipe = child.stderr.take().unwrap();
    let out_reader = std::thread::spawn(move || {
        let mut b = Vec::new();
        out_pipe.read_to_end(&mut b).unwrap();
        b
    });
    let err_reader = std::thread::spawn(move || {
        let mut b = Vec::new();
        err_pipe.read_to_end(&mut b).unwrap();
        b
    });
    let status_file = format!("/proc/{}/status", child.id());
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut peak = 0u64;
    let status = loop {
        if let Some(kb) = std::fs::read_to_string(&status_file).ok().and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        }) {
            peak = peak.max(kb * 1024);
        }
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "the command did not end");
        std::thread::sleep(Duration::from_millis(2));
    };
    let output = Output {
        status,
        stdout: out_reader.join().unwrap(),
        stderr: err_reader.join().unwrap(),
    };
    (output, peak)
}

db_tests!(
    a_feed_redirecting_elsewhere_never_hands_over_its_credential,
    a_gzip_bomb_fails_the_run_and_the_memory_stays_bounded,
    a_feed_on_a_private_network_is_refused_unless_allowed,
);

/// The feed's server answers 302 to a server on another port: the run fails naming the refused
/// target (without its query string), and the other server never hears of the credential.
async fn a_feed_redirecting_elsewhere_never_hands_over_its_credential(db: TestDb) {
    let irp = Irp::new(&db.url);
    let elsewhere = Hostile::start(|_| Answer::Json(200, FEED.into()));
    let origin = Hostile::start({
        let to = elsewhere.url("/collect?from=irp");
        move |_| Answer::Redirect(302, to.clone())
    });
    set_secret(&irp, "acme.offers.auth.token", "e2e-bearer-secret-1");
    set_secret(&irp, "acme.offers.auth.value", "e2e-header-secret-2");
    for (run_no, auth) in [
        r#""auth": {"type": "bearer", "token": "${secret:acme.offers.auth.token}"},"#,
        r#""auth": {"type": "header", "name": "X-Api-Key", "value": "${secret:acme.offers.auth.value}"},"#,
    ]
    .into_iter()
    .enumerate()
    {
        apply(&irp, &acme_web(&origin.url("/feed"), auth));
        let out = run(&irp, &["feed", "import", "acme"]);
        assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
        let text = stdout(&out);
        assert!(
            text.starts_with(&format!("run {} of acme: failed", run_no + 1)),
            "{text}"
        );
        assert!(
            text.contains(&format!(
                "refused to follow the redirect from {} to {}: it leads to another origin (scheme, host and port) and the request carries credentials, which are never sent elsewhere",
                origin.url("/feed"),
                elsewhere.url("/collect")
            )),
            "{text}"
        );
        assert!(!text.contains("e2e-"), "{text}");
        assert!(!stderr(&out).contains("e2e-"), "{}", stderr(&out));
    }
    let at_origin = origin.seen();
    assert!(
        at_origin[0].contains("e2e-bearer-secret-1"),
        "{at_origin:?}"
    );
    assert!(
        at_origin[1].contains("e2e-header-secret-2"),
        "{at_origin:?}"
    );
    assert!(
        elsewhere.seen().is_empty(),
        "the other server was reached: {:?}",
        elsewhere.seen()
    );
}

/// A feed that inflates to 1 GiB: as the feed it stops at `max_bytes`, as an error answer at
/// 64 KiB; either way the process stays far below the bomb.
async fn a_gzip_bomb_fails_the_run_and_the_memory_stays_bounded(db: TestDb) {
    let irp = Irp::new(&db.url);
    let bomb = Hostile::start(|req| {
        if req.target.starts_with("/error") {
            Answer::GzipBomb(400, GIB)
        } else {
            Answer::GzipBomb(200, GIB)
        }
    });
    for (path, extra, expected) in [
        (
            "/feed",
            r#""max_bytes": 50000000,"#,
            "the feed is larger than max_bytes (50000000 bytes after decompression)",
        ),
        (
            "/error",
            "",
            "the feed endpoint answered HTTP 400: (answer larger than 65536 bytes after decompression)",
        ),
    ] {
        apply(&irp, &acme_web(&bomb.url(path), extra));
        let mut cmd = irp.cmd(&["feed", "import", "acme"]);
        cmd.env("IRP_ALLOW_PRIVATE_NETWORKS", LOOPBACK);
        let (out, peak) = run_measured(cmd);
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        assert!(stdout(&out).contains(expected), "{}", stdout(&out));
        eprintln!("{path}: peak resident memory {} MiB", peak >> 20);
        assert!(
            peak < 256 << 20,
            "{path}: irp used {} MiB reading a 1 GiB bomb",
            peak >> 20
        );
    }
}

/// Without `IRP_ALLOW_PRIVATE_NETWORKS` a feed on loopback is refused, by address and by name,
/// before anything is sent; a malformed value names itself; with it, the feed is imported.
async fn a_feed_on_a_private_network_is_refused_unless_allowed(db: TestDb) {
    let irp = Irp::new(&db.url);
    let server = Hostile::start(|_| Answer::Json(200, FEED.into()));
    let port = server.base.rsplit(':').next().unwrap().to_owned();

    apply(&irp, &acme_web(&server.url("/feed"), ""));
    let out = irp
        .cmd(&["feed", "import", "acme"])
        .env_remove("IRP_ALLOW_PRIVATE_NETWORKS")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("refused: 127.0.0.1 is a loopback address; allow it with IRP_ALLOW_PRIVATE_NETWORKS=127.0.0.0/8"),
        "{}",
        stdout(&out)
    );

    apply(
        &irp,
        &acme_web(&format!("http://localhost:{port}/feed"), ""),
    );
    let out = irp
        .cmd(&["feed", "import", "acme"])
        .env_remove("IRP_ALLOW_PRIVATE_NETWORKS")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("refused: localhost resolves to ")
            && stdout(&out)
                .contains("a loopback address; allow it with IRP_ALLOW_PRIVATE_NETWORKS="),
        "{}",
        stdout(&out)
    );
    assert!(server.seen().is_empty(), "{:?}", server.seen());

    let out = irp
        .cmd(&["feed", "import", "acme"])
        .env("IRP_ALLOW_PRIVATE_NETWORKS", "127.0.0.0/33")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stdout(&out).contains(
            "IRP_ALLOW_PRIVATE_NETWORKS=\"127.0.0.0/33\": `127.0.0.0/33` is not a CIDR such as 10.0.0.0/8 or fd00::/8"
        ),
        "{}",
        stdout(&out)
    );

    let out = run(&irp, &["feed", "import", "acme"]);
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    assert_eq!(server.seen().len(), 1);
}
