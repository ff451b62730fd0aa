//! The portal in a real browser: Debian's `chromium`, driven through `chromedriver` by
//! thirtyfour, against the real `irp serve` on a temp SQLite database.
//!
//! Every step takes a screenshot, and so does a failure, under
//! `target/browser-artifacts/<test>/` (with the server's and chromedriver's logs). The browser
//! and chromedriver come from `scripts/test` (`apt-get install chromium chromium-driver`);
//! without them the tests fail, they never skip.

#![allow(clippy::unwrap_used)] // a panic is how a test fails

use std::collections::{BTreeSet, HashSet, VecDeque};
use std::future::Future;
use std::io::{BufRead as _, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use thirtyfour::extensions::query::{ElementPollerWithTimeout, IntoElementPoller as _};
use thirtyfour::prelude::*;

mod common;
use common::{Irp, add_user, root, start_serve};

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";
/// How long an explicit wait (an element query, a URL) waits before it fails.
const WAIT: Duration = Duration::from_secs(15);
const POLL: Duration = Duration::from_millis(100);
/// How long chromedriver may take to start.
const START: Duration = Duration::from_secs(30);
/// How long a page is reloaded while waiting for the server's background work (the order
/// submitter, the monitor) to show.
const SETTLE: Duration = Duration::from_secs(20);

const OPERATOR: &str = "operator@example.test";
const OPERATOR_PASSWORD: &str = "operator-password-42";
const VIEWER: &str = "viewer@example.test";
const VIEWER_PASSWORD: &str = "viewer-password-42";

/// What a scenario returns: `?` on a WebDriver error fails the test like a panicking assert.
type Outcome = Result<(), Box<dyn std::error::Error + Send + Sync>>;

/// `$CARGO_TARGET_DIR/browser-artifacts/<test>`, or the workspace's `target/`; emptied first.
fn artifacts_dir(test: &str) -> PathBuf {
    let target = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(t) => root().join(t),
        None => root().join("target"),
    };
    let dir = target.join("browser-artifacts").join(test);
    if dir.exists() {
        std::fs::remove_dir_all(&dir).unwrap();
    }
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A child process that is killed when dropped.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_loopback_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// chromedriver on a free loopback port, once it says it is ready; returns it and its URL.
fn start_chromedriver(artifacts: &Path) -> (Killed, String) {
    for bin in [CHROMEDRIVER, CHROMIUM] {
        assert!(
            Path::new(bin).exists(),
            "{bin} is missing: the browser tests need Debian's `chromium` and `chromium-driver` \
             (the same version). Run scripts/test (as root or with sudo), which installs them, \
             or `apt-get install -y chromium chromium-driver`."
        );
    }
    let port = free_loopback_port();
    let mut child = Killed(
        Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .arg(format!(
                "--log-path={}",
                artifacts.join("chromedriver.log").display()
            ))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    // It prints "ChromeDriver was started successfully on port N." when it listens.
    let (tx, rx) = mpsc::channel();
    for out in [
        Box::new(child.0.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
        Box::new(child.0.stderr.take().unwrap()),
    ] {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
    }
    drop(tx);
    let deadline = Instant::now() + START;
    let mut said = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                let ready = line.contains("started successfully");
                said.push(line);
                if ready {
                    break;
                }
            }
            Err(e) => panic!("chromedriver did not start ({e}):\n{}", said.join("\n")),
        }
    }
    // Keep draining its output so it never blocks on a full pipe.
    std::thread::spawn(move || for _ in rx {});
    (child, format!("http://127.0.0.1:{port}"))
}

async fn start_browser(chromedriver: &str, profile: &Path) -> WebDriver {
    // It said it started; make sure it answers before the session is asked for.
    let status: serde_json::Value = reqwest::get(format!("{chromedriver}/status"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["value"]["ready"], true, "chromedriver: {status}");

    let mut caps = DesiredCapabilities::chrome();
    caps.set_binary(CHROMIUM).unwrap();
    for arg in [
        "--headless=new",
        // root (CI) cannot use the sandbox
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        // without these, Chromium keeps dialling out, which a closed network refuses
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--window-size=1440,900",
    ] {
        caps.add_arg(arg).unwrap();
    }
    caps.add_arg(&format!("--user-data-dir={}", profile.display()))
        .unwrap();
    let driver = WebDriver::new(chromedriver, caps).await.unwrap();
    driver.set_poller(Arc::new(ElementPollerWithTimeout::new(WAIT, POLL)));
    driver
}

/// The numbered screenshots of one test.
struct Shots {
    dir: PathBuf,
    n: AtomicUsize,
}

/// One browser session against one server, handed to a scenario (cheap to clone).
#[derive(Clone)]
struct Browser {
    driver: WebDriver,
    /// `http://127.0.0.1:PORT`, no trailing slash.
    base: String,
    shots: Arc<Shots>,
}

impl Browser {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The current page's path and query.
    async fn path(&self) -> WebDriverResult<String> {
        let url = self.driver.current_url().await?;
        Ok(match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        })
    }

    /// Waits until the current page's path (without the query) is `path`, polling like the
    /// element queries do.
    async fn wait_for_path(&self, path: &str) -> WebDriverResult<()> {
        let mut poller = ElementPollerWithTimeout::new(WAIT, POLL).start();
        loop {
            let url = self.driver.current_url().await?;
            if url.path() == path {
                return Ok(());
            }
            if !poller.tick().await {
                return Err(WebDriverError::Timeout(format!(
                    "still on {url} after {WAIT:?}, expected the path {path}"
                )));
            }
        }
    }

    /// Fills the login form, which must be on the page, and submits it.
    async fn log_in(&self, email: &str, password: &str) -> WebDriverResult<()> {
        let form = self
            .driver
            .query(By::Css(r#"form[action="/login"]"#))
            .first()
            .await?;
        let field = form.query(By::Css("input[name=email]")).first().await?;
        field.clear().await?;
        field.send_keys(email).await?;
        let field = form.query(By::Css("input[name=password]")).first().await?;
        field.clear().await?;
        field.send_keys(password).await?;
        form.query(By::Css("button[type=submit]"))
            .first()
            .await?
            .click()
            .await
    }
}

impl Browser {
    /// Opens `path` and waits for its body.
    async fn open(&self, path: &str) -> WebDriverResult<()> {
        self.driver.goto(self.url(path)).await?;
        self.driver.query(By::Css("body")).first().await?;
        Ok(())
    }

    /// The first element matching `css`, waiting for it like any query.
    async fn el(&self, css: &str) -> WebDriverResult<WebElement> {
        self.driver.query(By::Css(css)).first().await
    }

    /// The text of the first element matching `css`.
    async fn text(&self, css: &str) -> WebDriverResult<String> {
        self.el(css).await?.text().await
    }

    /// Whether an element matches `css` now (no waiting).
    async fn has(&self, css: &str) -> WebDriverResult<bool> {
        self.driver.query(By::Css(css)).nowait().exists().await
    }

    /// Clicks the button `css`, which submits a form (a whole page load), and waits until the
    /// next page is there: the old page is gone, the new one has a body.
    async fn submit(&self, css: &str) -> WebDriverResult<()> {
        let button = self.el(css).await?;
        let old = self.driver.find(By::Tag("html")).await?;
        // Centred first: at the top of the view it would be under the sticky header.
        button.scroll_into_view().await?;
        button.click().await?;
        let mut poller = ElementPollerWithTimeout::new(WAIT, POLL).start();
        // While the page changes, asking about the old one may also fail otherwise ("Node
        // with given id does not belong to the document"): gone as well.
        while matches!(old.is_present().await, Ok(true)) {
            if !poller.tick().await {
                return Err(WebDriverError::Timeout(format!(
                    "clicking {css} loaded no new page within {WAIT:?}"
                )));
            }
        }
        self.driver.query(By::Css("body")).first().await?;
        Ok(())
    }

    /// Waits until the current path starts with `prefix`; returns the path.
    async fn wait_for_path_prefix(&self, prefix: &str) -> WebDriverResult<String> {
        let mut poller = ElementPollerWithTimeout::new(WAIT, POLL).start();
        loop {
            let url = self.driver.current_url().await?;
            if url.path().starts_with(prefix) {
                return Ok(url.path().to_owned());
            }
            if !poller.tick().await {
                return Err(WebDriverError::Timeout(format!(
                    "still on {url} after {WAIT:?}, expected a path starting with {prefix}"
                )));
            }
        }
    }

    /// Reloads the page until an element matches `css` (the server's background work — the
    /// order submitter, the monitor — shows on the next load), for at most [`SETTLE`].
    async fn reload_until(&self, css: &str) -> WebDriverResult<WebElement> {
        let deadline = Instant::now() + SETTLE;
        loop {
            if let Some(e) = self.driver.query(By::Css(css)).nowait().first_opt().await? {
                return Ok(e);
            }
            if Instant::now() >= deadline {
                let url = self.driver.current_url().await?;
                return Err(WebDriverError::Timeout(format!(
                    "{url} still shows no {css} after reloading for {SETTLE:?}"
                )));
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
            self.driver.refresh().await?;
            self.driver.query(By::Css("body")).first().await?;
        }
    }

    /// Scrolls the first element matching `css` into view (for the next screenshot).
    async fn scroll_to(&self, css: &str) -> WebDriverResult<WebElement> {
        let e = self.el(css).await?;
        e.scroll_into_view().await?;
        Ok(e)
    }
}

/// Saves a screenshot as `<nn>-<name>.png` in the test's artifacts directory.
async fn shot(b: &Browser, name: &str) -> WebDriverResult<PathBuf> {
    let n = b.shots.n.fetch_add(1, Ordering::SeqCst) + 1;
    let file: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let path = b.shots.dir.join(format!("{n:02}-{file}.png"));
    b.driver.screenshot(&path).await?;
    Ok(path)
}

/// One browser test's database and artifacts; `run` starts the rest (killed on drop, also when
/// the test unwinds).
struct Harness {
    test: &'static str,
    irp: Irp,
    artifacts: PathBuf,
    apply: Vec<&'static str>,
    serve_args: Vec<String>,
}

impl Harness {
    /// A fresh database with an operator and a viewer account.
    fn new(test: &'static str, apply: &[&'static str]) -> Harness {
        let irp = Irp::sqlite();
        let feed_root = irp.data.path().join("feeds");
        let irp = irp
            // An environment variable documents may read (`IRP_REF_*`), a canary itself.
            .with_env("IRP_REF_CANARY", format!("{CANARY}-environment-value"))
            .with_env("IRP_FEED_ROOT", feed_root)
            .migrated();
        add_user(&irp, OPERATOR, OPERATOR_PASSWORD, "operator");
        add_user(&irp, VIEWER, VIEWER_PASSWORD, "viewer");
        Harness {
            test,
            irp,
            artifacts: artifacts_dir(test),
            apply: apply.to_vec(),
            serve_args: Vec::new(),
        }
    }

    /// More arguments for `irp serve` (`--monitor-tick-secs 1`).
    fn serve_args(mut self, args: &[&str]) -> Harness {
        self.serve_args.extend(args.iter().map(|a| (*a).to_owned()));
        self
    }

    /// Starts the server, chromedriver and a browser, runs `scenario`, then takes a last
    /// screenshot (`end`, or `failed` after a panic or an error) and quits the browser; a
    /// failure is then reported with the screenshot's path.
    async fn run<F, Fut>(self, scenario: F)
    where
        F: FnOnce(Browser) -> Fut,
        Fut: Future<Output = Outcome> + Send + 'static,
    {
        let mut args: Vec<&str> = self.serve_args.iter().map(String::as_str).collect();
        if !self.apply.is_empty() {
            args.push("--apply");
            args.extend_from_slice(&self.apply);
        }
        let serve = start_serve(&self.irp, &args, &[]);
        let (base, log) = (serve.base(), serve.log.clone());
        let (chromedriver, driver_url) = start_chromedriver(&self.artifacts);
        let profile = tempfile::tempdir().unwrap();
        let browser = Browser {
            driver: start_browser(&driver_url, profile.path()).await,
            base,
            shots: Arc::new(Shots {
                dir: self.artifacts.clone(),
                n: AtomicUsize::new(0),
            }),
        };

        // On its own task, so that a panicking assert comes back here as a JoinError.
        let outcome = tokio::spawn(scenario(browser.clone())).await;
        let failed = !matches!(outcome, Ok(Ok(())));
        let last = shot(&browser, if failed { "failed" } else { "end" }).await;
        let quit = browser.driver.quit().await;
        drop(chromedriver);
        drop(serve);
        let log = log.lock().unwrap().join("\n");
        std::fs::write(self.artifacts.join("serve.log"), &log).unwrap();

        let where_ = match &last {
            Ok(p) => format!("last screenshot: {}", p.display()),
            Err(e) => format!(
                "no last screenshot ({e}); artifacts in {}",
                self.artifacts.display()
            ),
        };
        match outcome {
            Ok(Ok(())) => {}
            Ok(Err(e)) => panic!("{}: {e}\n{where_}", self.test),
            Err(e) if e.is_panic() => {
                eprintln!("{}: {where_}", self.test);
                std::panic::resume_unwind(e.into_panic())
            }
            Err(e) => panic!("{}: {e}\n{where_}", self.test),
        }
        quit.unwrap();
    }
}

const APPLY: &[&str] = &[
    "config/refurbishers/flexit.json",
    "config/refurbishers/iused-stores.json",
    "config/channels.json",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_logs_in_sees_the_dashboard_and_logs_out() {
    let h = Harness::new("an_operator_logs_in_sees_the_dashboard_and_logs_out", APPLY);
    h.run(|b| async move {
        // Pages need a login: the browser is sent to the form.
        b.driver.goto(b.url("/")).await?;
        b.wait_for_path("/login").await?;
        b.driver
            .query(By::Css("input[name=password]"))
            .first()
            .await?;
        shot(&b, "login-form").await?;

        b.log_in(OPERATOR, OPERATOR_PASSWORD).await?;
        let whoami = b
            .driver
            .query(By::Css("header span.whoami"))
            .with_text(OPERATOR)
            .desc("the header naming the operator (logged in, on a portal page)")
            .first()
            .await?;
        assert_eq!(whoami.text().await?, OPERATOR);
        assert_eq!(b.path().await?, "/", "the dashboard is the home page");
        let table = b
            .driver
            .query(By::Css("table#refurbishers"))
            .first()
            .await?;
        for key in ["flexit", "iused-alumio"] {
            table
                .query(By::Css(format!(r#"tr[data-refurbisher="{key}"]"#)))
                .first()
                .await?;
        }
        let source = b.driver.source().await?;
        assert!(
            source.contains(&format!(r#"<span class="whoami">{OPERATOR}</span>"#)),
            "{source}"
        );
        shot(&b, "dashboard").await?;

        // Log out: the form again, and the portal needs a login again.
        b.driver
            .query(By::Css(r#"form[action="/logout"] button"#))
            .first()
            .await?
            .click()
            .await?;
        b.wait_for_path("/login").await?;
        b.driver
            .query(By::Css("input[name=password]"))
            .first()
            .await?;
        shot(&b, "logged-out").await?;
        b.driver.goto(b.url("/")).await?;
        b.wait_for_path("/login").await?;
        assert!(
            b.driver
                .query(By::Css("span.whoami"))
                .nowait()
                .not_exists()
                .await?,
            "still logged in after logging out"
        );

        // A wrong password: the form says so, and nobody is logged in.
        b.log_in(OPERATOR, "not the password").await?;
        b.driver
            .query(By::Css("p.error"))
            .with_text("The e-mail address or the password is wrong.")
            .desc("the message \"The e-mail address or the password is wrong.\"")
            .first()
            .await?;
        b.wait_for_path("/login").await?;
        assert!(
            b.driver
                .query(By::Css("span.whoami"))
                .nowait()
                .not_exists()
                .await?
        );
        shot(&b, "wrong-password").await?;
        Ok(())
    })
    .await;
}

/// A value every secret of the test contains; no page may ever show it.
const CANARY: &str = "CANARY-7f3a9c";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canary_secret_never_appears_in_any_page() {
    let h = Harness::new("a_canary_secret_never_appears_in_any_page", APPLY);
    // Every `${secret:…}` the applied connectors reference (config/refurbishers/*.json).
    for name in [
        "flexit.offers.auth.password",
        "flexit.order.auth.client_id",
        "flexit.order.auth.client_secret",
        "iused-alumio.offers.auth.token",
    ] {
        h.irp
            .secret_set(name, &format!("{CANARY}-secret-value-{name}"));
    }
    // A refurbisher whose file path holds its own secret and a readable variable: its failed
    // run's message names the references, never the values.
    let acme_token = format!("{CANARY}-secret-value-acme");
    h.irp.secret_set("acme.offers.auth.token", &acme_token);
    std::fs::create_dir_all(h.irp.data.path().join("feeds")).unwrap();
    let acme = h.irp.data.path().join("acme.json");
    std::fs::write(
        &acme,
        json!({"acme": {"name": "Acme", "refurbisher_id": 990, "default_margin": 10, "offers": {"connection": "file",
            "path": "acme/${secret:acme.offers.auth.token}/${env:IRP_REF_CANARY}.csv", "type": "csv",
            "mapping": {"sku": "a", "name": "b", "ean": "c", "stock_available": "d",
                "price_purchase_amount": "e", "price_consumer_amount": "f"}}}})
        .to_string(),
    )
    .unwrap();
    h.irp
        .run_ok(&["refurbisher", "apply", "-f", acme.to_str().unwrap()]);
    let out = h.irp.run_with_stdin(&["feed", "import", "acme"], "");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        said.contains("${secret:acme.offers.auth.token}") && !said.contains(CANARY),
        "{said}"
    );
    // The secret store's key is on no page either.
    let master_key = std::fs::read_to_string(h.irp.data.path().join("secret.key")).unwrap();
    let master_key = master_key.trim().to_owned();
    h.run(|b| async move {
        b.driver.goto(b.url("/login")).await?;
        b.log_in(OPERATOR, OPERATOR_PASSWORD).await?;
        b.driver
            .query(By::Css("span.whoami"))
            .with_text(OPERATOR)
            .desc("the header naming the operator (logged in)")
            .first()
            .await?;

        // Breadth first over every same-origin link, from the dashboard.
        let start = b.url("/");
        let mut queue = VecDeque::from([start.clone()]);
        let mut seen = HashSet::from([start]);
        let mut visited: Vec<String> = Vec::new();
        let mut shot_paths = BTreeSet::new();
        let origin = format!("{}/", b.base);
        while let Some(url) = queue.pop_front() {
            if visited.len() >= 200 {
                break;
            }
            b.driver.goto(&url).await?;
            b.driver.query(By::Css("body")).first().await?;
            let landed = b.driver.current_url().await?;
            assert_ne!(
                landed.path(),
                "/login",
                "{url} sent the logged-in browser to the login form"
            );
            let source = b.driver.source().await?;
            visited.push(url.clone());
            assert!(
                !source.contains(CANARY) && !source.contains(&master_key),
                "a secret is on {url} (page {} of the crawl):\n{source}",
                visited.len()
            );
            // A screenshot of the first page of each path.
            if shot_paths.insert(landed.path().to_owned()) {
                let name = match landed.path() {
                    "/" => "page-dashboard".to_owned(),
                    p => format!("page{p}"),
                };
                shot(&b, &name).await?;
            }
            let links = b
                .driver
                .execute(
                    "return Array.from(document.querySelectorAll('a[href]'), a => a.href);",
                    Vec::new(),
                )
                .await?;
            let links: Vec<String> = links.convert()?;
            for link in links {
                let link = link.split('#').next().unwrap_or_default().to_owned();
                if !link.starts_with(&origin) || link.starts_with(&b.url("/logout")) {
                    continue;
                }
                if seen.insert(link.clone()) {
                    queue.push_back(link);
                }
            }
        }

        let count = visited.len();
        let paths: Vec<&str> = visited
            .iter()
            .map(|u| u.strip_prefix(&b.base).unwrap_or(u))
            .collect();
        assert!(
            paths.contains(&"/"),
            "the dashboard was not visited ({count} pages: {paths:?})"
        );
        assert!(
            paths.iter().any(|p| {
                p.strip_prefix("/refurbishers/")
                    .is_some_and(|key| ["flexit", "iused-alumio"].contains(&key))
            }),
            "no refurbisher page was visited ({count} pages: {paths:?})"
        );
        assert!(
            paths.iter().any(|p| p.starts_with("/runs/")),
            "no feed run was visited ({count} pages: {paths:?})"
        );
        eprintln!("the canary is on none of {count} pages: {paths:#?}");
        Ok(())
    })
    .await;
}

/// Serves `app` on a free loopback port, on a thread and runtime of its own (so it answers
/// while the test blocks on a process); returns `http://127.0.0.1:PORT`.
fn serve_app(app: axum::Router) -> String {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
    });
    format!("http://{}", rx.recv().unwrap())
}

/// A refurbisher's offer feed: `GET /feed.csv` answers the CSV set last, or 500 while failing.
#[derive(Clone)]
struct FakeFeed {
    /// The feed's URL.
    url: String,
    failing: Arc<AtomicBool>,
    body: Arc<Mutex<String>>,
}

impl FakeFeed {
    fn start(csv: &str) -> FakeFeed {
        let failing = Arc::new(AtomicBool::new(false));
        let body = Arc::new(Mutex::new(csv.to_owned()));
        let (f, b) = (failing.clone(), body.clone());
        let app = axum::Router::new().route(
            "/feed.csv",
            axum::routing::get(move || {
                let (failing, body) = (f.clone(), b.clone());
                async move {
                    use axum::http::{StatusCode, header};
                    if failing.load(Ordering::SeqCst) {
                        (
                            StatusCode::INTERNAL_SERVER_ERROR,
                            [(header::CONTENT_TYPE, "text/plain")],
                            "the feed generator crashed".to_owned(),
                        )
                    } else {
                        (
                            StatusCode::OK,
                            [(header::CONTENT_TYPE, "text/csv; charset=utf-8")],
                            body.lock().unwrap().clone(),
                        )
                    }
                }
            }),
        );
        FakeFeed {
            url: format!("{}/feed.csv", serve_app(app)),
            failing,
            body,
        }
    }

    /// From now on the feed answers 500 (`true`) or its CSV (`false`).
    fn fail(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }

    /// From now on the feed is `csv`.
    fn set(&self, csv: &str) {
        *self.body.lock().unwrap() = csv.to_owned();
    }
}

/// A refurbisher's order API (`POST /order`, FlexIT's `client_secret` header): refuses the
/// first `refuse` orders with a 422, then answers 201 `{"OrderNumber": "FX-<yourReference>"}`.
/// Keeps every body it was sent.
struct FakeOrderApi {
    url: String,
    bodies: Arc<Mutex<Vec<Value>>>,
}

/// What [`FakeOrderApi`] answers a refused order.
const ORDER_REFUSAL: &str =
    r#"{"error": "customer 218535 may not drop-ship to NL this week", "code": "BLOCKED"}"#;

impl FakeOrderApi {
    fn start(refuse: usize) -> FakeOrderApi {
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let refuse = Arc::new(AtomicUsize::new(refuse));
        let kept = bodies.clone();
        let app = axum::Router::new().route(
            "/order",
            axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
                let (kept, refuse) = (kept.clone(), refuse.clone());
                async move {
                    use axum::http::StatusCode;
                    if headers.get("client_secret").and_then(|v| v.to_str().ok())
                        != Some("order-secret")
                    {
                        return (StatusCode::UNAUTHORIZED, "{}".to_owned());
                    }
                    let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
                    let reference = v["yourReference"].as_str().unwrap_or("").to_owned();
                    kept.lock().unwrap().push(v);
                    let refused = refuse
                        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                        .is_ok();
                    if refused {
                        (StatusCode::UNPROCESSABLE_ENTITY, ORDER_REFUSAL.to_owned())
                    } else {
                        (
                            StatusCode::CREATED,
                            json!({ "OrderNumber": format!("FX-{reference}") }).to_string(),
                        )
                    }
                }
            }),
        );
        FakeOrderApi {
            url: format!("{}/order", serve_app(app)),
            bodies,
        }
    }

    fn calls(&self) -> usize {
        self.bodies.lock().unwrap().len()
    }
}

/// A FlexIT-like feed (seed 001's columns, `;`, Dutch prices): three offers with valid EANs.
const ACME_FEED: &str = "Flex IT Part Number;Description;EAN;Stock Quantity;Sales Price;SRP\n\
ACME-IPH13-128;Apple iPhone 13 128GB Midnight;4006381333931;12;389,50;699,00\n\
ACME-MBP14-512;Apple MacBook Pro 14 M1 Pro 512GB;8712345678906;3;1.249,95;1.899,00\n\
ACME-SGS21-128;Samsung Galaxy S21 128GB Phantom Grey;5901234123457;7;249,00;449,00\n";

/// The same feed with one offer left: a run that would remove two of three offers (more than
/// `max_removal_ratio` 0.5) is quarantined.
const ACME_FEED_SHORT: &str = "Flex IT Part Number;Description;EAN;Stock Quantity;Sales Price;SRP\n\
ACME-IPH13-128;Apple iPhone 13 128GB Midnight;4006381333931;12;389,50;699,00\n";

const ACME: &str = "acme-refurb";

/// A connector document for a new refurbisher whose offers are the CSV at `endpoint` (an
/// HTTP GET without auth), prices written as `price_locale` says.
fn acme_document(endpoint: &str, price_locale: &str) -> String {
    format!(
        r#"{{
  "acme-refurb": {{
    "name": "Acme Refurb",
    "supplier_id": 77,
    "default_margin": 20,
    "approved_refurbished": true,
    "offers": {{
      "connection": "web",
      "endpoint": "{endpoint}",
      "type": "csv",
      "separator": ";",
      "heading": true,
      "price_locale": "{price_locale}",
      "mapping": {{
        "sku": "Flex IT Part Number",
        "name": "Description",
        "ean": "EAN",
        "stock_available": "Stock Quantity",
        "price_purchase_amount": "Sales Price",
        "price_consumer_amount": "SRP"
      }}
    }}
  }}
}}"#
    )
}

/// The texts of the cells of `css`'s rows (`tbody tr`).
async fn table_rows(b: &Browser, css: &str) -> WebDriverResult<Vec<String>> {
    let rows = b
        .driver
        .query(By::Css(format!("{css} tbody tr")))
        .all_from_selector_required()
        .await?;
    let mut out = Vec::new();
    for r in rows {
        out.push(r.text().await?);
    }
    Ok(out)
}

/// Whether `e` has the CSS class `class`.
async fn has_class(e: &WebElement, class: &str) -> WebDriverResult<bool> {
    Ok(e.class_name()
        .await?
        .unwrap_or_default()
        .split_whitespace()
        .any(|c| c == class))
}

/// The dashboard's row of `key`: its `data-health`, after opening the dashboard.
async fn dashboard_health(b: &Browser, key: &str) -> WebDriverResult<String> {
    b.open("/").await?;
    let row = b
        .el(&format!(
            r#"table#refurbishers tr[data-refurbisher="{key}"]"#
        ))
        .await?;
    Ok(row.attr("data-health").await?.unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_onboards_a_refurbisher_from_pasted_json_fixing_one_error() {
    let feed = FakeFeed::start(ACME_FEED);
    // No documents applied: a fresh installation.
    let h = Harness::new(
        "an_operator_onboards_a_refurbisher_from_pasted_json_fixing_one_error",
        &[],
    );
    h.run(move |b| async move {
        b.open("/").await?;
        b.wait_for_path("/login").await?;
        b.log_in(OPERATOR, OPERATOR_PASSWORD).await?;

        // An empty dashboard sends the operator to the onboarding page.
        let link = b
            .driver
            .query(By::LinkText("Onboard one"))
            .desc("the empty dashboard's link to the onboarding page")
            .first()
            .await?;
        shot(&b, "empty-dashboard").await?;
        link.click().await?;
        b.wait_for_path("/refurbishers/new").await?;

        // Paste a document with one mistake: a price locale IRP does not know.
        let broken = acme_document(&feed.url, "dutch");
        b.el("textarea[name=document]")
            .await?
            .send_keys(broken.as_str())
            .await?;
        shot(&b, "document-pasted").await?;
        b.submit("#check").await?;
        b.el("#check-result").await?;
        let errors = b
            .driver
            .query(By::Css("#check-result tr.problem-error"))
            .all_from_selector_required()
            .await?;
        assert_eq!(errors.len(), 1, "exactly the one mistake is an error");
        let path = errors[0].query(By::Css("code")).first().await?.text().await?;
        assert_eq!(path, "acme-refurb.offers.price_locale");
        let row = errors[0].text().await?;
        let line = broken
            .lines()
            .position(|l| l.contains("price_locale"))
            .unwrap()
            + 1;
        assert!(
            row.contains(&format!("line {line}, column")) && row.contains("\"dutch\""),
            "the error row names the line and the value: {row}"
        );
        assert!(b.text("#check-result h2").await?.contains("nothing was saved"));
        // The text is kept for the fix.
        let kept = b.el("textarea[name=document]").await?.value().await?;
        assert_eq!(kept.as_deref(), Some(broken.as_str()));
        b.scroll_to("#check-result").await?;
        shot(&b, "check-names-the-error").await?;

        // Fix it in the page: select all, type the corrected document.
        let fixed = acme_document(&feed.url, "nl_NL");
        let area = b.el("textarea[name=document]").await?;
        area.click().await?;
        area.send_keys(Key::Control + "a").await?;
        area.send_keys(fixed.as_str()).await?;
        assert_eq!(area.value().await?.as_deref(), Some(fixed.as_str()));
        b.submit("#check").await?;
        assert_eq!(b.text("#check-result h2 .badge").await?, "No errors");
        assert!(!b.has("#check-result tr.problem-error").await?);
        assert!(
            b.text("#check-result").await?.contains("Refurbisher acme-refurb (Acme Refurb): new"),
            "{}",
            b.text("#check-result").await?
        );
        shot(&b, "check-no-errors").await?;

        // Preview the feed: nothing written, the offers as IRP reads them.
        b.submit("#preview").await?;
        let result = b.scroll_to("#preview-result").await?;
        let summary = result.text().await?;
        assert!(
            summary.contains("3 rows read, 3 accepted, 0 rejected"),
            "{summary}"
        );
        let rows = table_rows(&b, "#preview-result table#preview-offers").await?;
        assert_eq!(rows.len(), 3, "{rows:?}");
        assert!(rows[0].contains("ACME-IPH13-128") && rows[0].contains("4006381333931"));
        // 1.249,95 read the Dutch way.
        assert!(rows[1].contains("ACME-MBP14-512") && rows[1].contains("1249.95"), "{rows:?}");
        shot(&b, "preview-before-saving").await?;
        assert!(b.has("#check-result").await?, "the check is shown with the preview");

        // Save: the refurbisher's page.
        b.submit("#save").await?;
        b.wait_for_path(&format!("/refurbishers/{ACME}")).await?;
        assert!(b.text("h1").await?.contains("Acme Refurb"));
        assert!(b.text("#webhook").await?.contains("Not configured"));
        assert!(b.driver.source().await?.contains("No feed runs yet."));
        shot(&b, "saved-refurbisher-page").await?;

        // The feed breaks: Import now makes a failed run, and the dashboard turns red.
        feed.fail(true);
        b.submit("#import-now").await?;
        let run_path = b.wait_for_path_prefix("/runs/").await?;
        assert_eq!(b.text("#run-status").await?, "failed", "{run_path}");
        let why = b.text("main p.error").await?;
        assert!(why.contains("answered HTTP 500"), "{why}");
        shot(&b, "failed-run").await?;
        assert_eq!(dashboard_health(&b, ACME).await?, "red");
        let row = format!(r#"tr[data-refurbisher="{ACME}"]"#);
        let failed = b.el(&format!(r#"{row} [data-metric="Feed failed"]"#)).await?;
        assert_eq!(failed.text().await?, "Feed failed: yes");
        assert!(has_class(&failed, "bad").await?);
        let http = b.text(&format!(r#"{row} [data-metric="Feed HTTP"]"#)).await?;
        assert_eq!(http, "Feed HTTP: 500");
        shot(&b, "dashboard-red").await?;
        // Preview feed (htmx) meanwhile says why, in place.
        b.open(&format!("/refurbishers/{ACME}")).await?;
        b.el("#preview-feed").await?.click().await?;
        let why = b.text("#preview p.error").await?;
        assert!(
            why.contains("could not be previewed") && why.contains("HTTP 500"),
            "{why}"
        );
        assert_eq!(b.path().await?, format!("/refurbishers/{ACME}"), "no page load");
        shot(&b, "preview-of-the-broken-feed").await?;

        // It is back: Import now succeeds, the dashboard is green again.
        feed.fail(false);
        b.open(&format!("/refurbishers/{ACME}")).await?;
        b.submit("#import-now").await?;
        b.wait_for_path_prefix("/runs/").await?;
        let status = b.text("#run-status").await?;
        assert!(
            ["succeeded", "partial"].contains(&status.as_str()),
            "{status}"
        );
        assert_eq!(b.text("#rows-read").await?, "3");
        shot(&b, "succeeded-run").await?;
        assert_eq!(dashboard_health(&b, ACME).await?, "green");
        let failed = b.el(&format!(r#"{row} [data-metric="Feed failed"]"#)).await?;
        assert!(has_class(&failed, "ok").await?, "{}", failed.text().await?);
        shot(&b, "dashboard-green").await?;

        // Preview feed on the refurbisher page: swapped in place by htmx.
        b.open(&format!("/refurbishers/{ACME}")).await?;
        assert!(!b.has("#preview-result").await?);
        b.el("#preview-feed").await?.click().await?;
        let result = b.el("#preview #preview-result").await?;
        result.scroll_into_view().await?;
        assert_eq!(b.path().await?, format!("/refurbishers/{ACME}"), "no page load");
        let rows = table_rows(&b, "#preview #preview-offers").await?;
        assert_eq!(rows.len(), 3, "{rows:?}");
        shot(&b, "preview-in-place").await?;

        // Rotate token: the new URL, once.
        b.submit("#rotate-token").await?;
        b.wait_for_path(&format!("/refurbishers/{ACME}/webhook-token")).await?;
        let url = b.text("pre#webhook-url").await?;
        let prefix = format!("{}/webhook/shipment/77/irpwh_", b.base);
        let token = url
            .strip_prefix(&prefix)
            .unwrap_or_else(|| panic!("{url} does not start with {prefix}"));
        assert!(
            token.len() == 64 && token.chars().all(|c| c.is_ascii_hexdigit()),
            "{url}"
        );
        shot(&b, "webhook-url-once").await?;
        // The URL takes shipments (this one matches no order: kept for review).
        let r = reqwest::Client::new()
            .post(&url)
            .json(&json!({"external_order_id": "NOPE-1", "track_and_trace": "3SACME0001", "serial_number": "C02XK1ABJHD5"}))
            .send()
            .await?;
        assert_eq!(r.status(), 202);
        b.driver
            .query(By::LinkText("Back to Acme Refurb"))
            .first()
            .await?
            .click()
            .await?;
        b.wait_for_path(&format!("/refurbishers/{ACME}")).await?;
        let webhook = b.scroll_to("#webhook").await?.text().await?;
        assert!(webhook.contains("Configured (token of"), "{webhook}");
        assert_eq!(b.text("#rotate-token").await?, "Rotate token");
        assert!(!b.driver.source().await?.contains(token), "the token is shown once");
        shot(&b, "webhook-configured").await?;
        Ok(())
    })
    .await;
}

/// A channel order of one FlexIT offer (EAN 8712345678906), as a shop's API client sends it.
fn order_doc(number: &str) -> Value {
    json!({
        "channel": "refurbished-direct",
        "order_number": number,
        "placed_at": "2026-11-23T10:00:00Z",
        "customer": {"email": "jan@example.nl"},
        "shipping_address": {"first_name": "Jan", "last_name": "de Vries", "street": "Damrak",
            "house_number": "1", "zipcode": "1012 LG", "city": "Amsterdam", "country": "NL"},
        "lines": [{"ean": "8712345678906", "quantity": 1, "unit_price_incl_vat": "160.23"}]
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_follows_an_order_to_its_shipment_and_retries_a_failed_one() {
    // FlexIT's seed document, its order API the fake, which refuses the first order (422).
    let api = FakeOrderApi::start(1);
    let h = Harness::new(
        "an_operator_follows_an_order_to_its_shipment_and_retries_a_failed_one",
        &[],
    );
    let dir = h.irp.data.path();
    let doc = std::fs::read_to_string(root().join("config/refurbishers/flexit.json"))
        .unwrap()
        .replace(
            "https://api.flexitdistribution.com/order/api/order",
            &api.url,
        );
    let doc_path = dir.join("flexit.json");
    std::fs::write(&doc_path, doc).unwrap();
    let feed = dir.join("flexit.csv");
    std::fs::write(
        &feed,
        "Flex IT Part Number;Description;Stock Quantity;EAN;Sales Price;SRP\n\
         FLX-IPH13-128;Apple iPhone 13 128GB;50;8712345678906;100,00;999,00\n",
    )
    .unwrap();
    h.irp
        .run_ok(&["refurbisher", "apply", "-f", doc_path.to_str().unwrap()]);
    h.irp
        .run_ok(&["channel", "apply", "-f", "config/channels.json"]);
    h.irp
        .run_ok(&["feed", "import", "flexit", "--file", feed.to_str().unwrap()]);
    h.irp.secret_set("flexit.order.auth.client_id", "order-id");
    h.irp
        .secret_set("flexit.order.auth.client_secret", "order-secret");
    let token = h.irp.run_ok(&["token", "create", "shop"]).trim().to_owned();
    assert!(token.starts_with("irp_"), "{token}");

    h.run(move |b| async move {
        // The shop sends an order by the REST API; the refurbisher refuses it.
        let client = reqwest::Client::new();
        let r = client
            .post(b.url("/api/v1/orders"))
            .bearer_auth(&token)
            .json(&order_doc("RD-1001"))
            .send()
            .await?;
        assert_eq!(r.status(), 201);
        let v: Value = r.json().await?;
        let order_id = v["order"]["id"].as_i64().unwrap();
        let so = v["supplier_orders"][0]["id"].as_i64().unwrap();

        b.open("/").await?;
        b.log_in(OPERATOR, OPERATOR_PASSWORD).await?;
        b.wait_for_path("/").await?;
        // The dashboard lists it under "Orders needing attention" once the submitter has
        // had its answer.
        let link = b
            .reload_until(&format!(r#"table#attention a[href="/orders/{order_id}"]"#))
            .await?;
        let row = b.text("table#attention tbody tr").await?;
        assert!(row.contains("flexit") && row.contains("failed"), "{row}");
        assert!(row.contains("422"), "the reason is shown: {row}");
        b.scroll_to("table#attention").await?;
        shot(&b, "dashboard-attention").await?;
        link.click().await?;
        b.wait_for_path(&format!("/orders/{order_id}")).await?;

        // The order page: the failed supplier order with its attempt, request and response.
        let block = format!("#supplier-order-{so}");
        let badge = b.el(&format!("{block} [data-status]")).await?;
        assert_eq!(badge.attr("data-status").await?.as_deref(), Some("failed"));
        let attempt = b.text(&format!("{block} details[open] summary")).await?;
        assert!(
            attempt.contains("Attempt 1") && attempt.contains("HTTP 422"),
            "{attempt}"
        );
        let pres = b
            .driver
            .query(By::Css(format!("{block} details[open] pre")))
            .all_from_selector_required()
            .await?;
        assert_eq!(pres.len(), 2, "request and response");
        let request = pres[0].text().await?;
        let response = pres[1].text().await?;
        assert!(
            request.contains("\"yourReference\": \"RD-1001\""),
            "{request}"
        );
        assert!(
            !request.contains("order-secret"),
            "a credential is shown: {request}"
        );
        assert!(response.contains("may not drop-ship"), "{response}");
        b.scroll_to(&block).await?;
        shot(&b, "order-failed-attempt").await?;

        // Retry: the submitter sends it again; reload until it is submitted.
        b.submit(&format!("#retry-{so}")).await?;
        b.wait_for_path(&format!("/orders/{order_id}")).await?;
        b.reload_until(&format!(r#"{block} [data-status="submitted"]"#))
            .await?;
        assert_eq!(api.calls(), 2, "sent once more");
        let kv = b.text(&format!("{block} dl.kv")).await?;
        assert!(kv.contains("FX-RD-1001"), "their reference: {kv}");
        assert!(
            !b.has(&format!("#retry-{so}")).await?,
            "no retry once placed"
        );
        let summaries = b
            .driver
            .query(By::Css(format!("{block} details summary")))
            .all_from_selector_required()
            .await?;
        assert_eq!(summaries.len(), 2, "both attempts are listed");
        b.scroll_to(&block).await?;
        shot(&b, "order-submitted").await?;
        b.open("/").await?;
        assert!(
            b.driver
                .source()
                .await?
                .contains("Nothing waits for an operator."),
            "the dashboard's attention list is empty again"
        );

        // The webhook URL, made on the refurbisher's page.
        b.open("/refurbishers/flexit").await?;
        b.submit("#rotate-token").await?;
        let url = b.text("pre#webhook-url").await?;
        assert!(
            url.starts_with(&format!("{}/webhook/shipment/10/irpwh_", b.base)),
            "{url}"
        );
        shot(&b, "webhook-url").await?;

        // FlexIT posts its shipment: two devices, the second IMEI with a wrong check digit.
        let r = client
            .post(&url)
            .json(&json!({
                "external_order_id": "FX-RD-1001", "track_and_trace": "3SFLX0001001",
                "carrier": "PostNL",
                "items": [{"imei": "490154203237518"},
                          {"imei": "356938035643808", "serial_number": "F2LXK1ABJHD5"}]
            }))
            .send()
            .await?;
        assert_eq!(r.status(), 200);
        let v: Value = r.json().await?;
        assert_eq!(v["status"], "shipped", "{v}");
        assert_eq!(v["imei_check_failed"], 1, "{v}");

        // The order page shows the shipment with its IMEIs.
        b.open(&format!("/orders/{order_id}")).await?;
        let badge = b.el(&format!("{block} [data-status]")).await?;
        assert_eq!(badge.attr("data-status").await?.as_deref(), Some("shipped"));
        let text = b.scroll_to(&format!("{block} table")).await?.text().await?;
        let units: Vec<&str> = text.lines().skip(1).collect();
        assert_eq!(units.len(), 2, "{text}");
        assert!(
            units[0].contains("490154203237518") && units[0].contains("valid"),
            "{text}"
        );
        assert!(
            units[1].contains("356938035643808")
                && units[1].contains("F2LXK1ABJHD5")
                && units[1].contains("check digit wrong"),
            "{text}"
        );
        let section = b.text(&block).await?;
        assert!(
            section.contains("3SFLX0001001") && section.contains("PostNL"),
            "{section}"
        );
        shot(&b, "order-shipped-with-imeis").await?;

        // And in the order list.
        b.open("/orders").await?;
        let rows = table_rows(&b, "table#orders").await?;
        assert!(rows.iter().any(|r| r.contains("RD-1001")), "{rows:?}");
        shot(&b, "orders-list").await?;
        Ok(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_acts_on_an_alert() {
    // A refurbisher whose feed has had one good run (three offers), and the monitor every
    // second.
    let feed = FakeFeed::start(ACME_FEED);
    let h =
        Harness::new("an_operator_acts_on_an_alert", &[]).serve_args(&["--monitor-tick-secs", "1"]);
    let doc_path = h.irp.data.path().join("acme.json");
    std::fs::write(&doc_path, acme_document(&feed.url, "nl_NL")).unwrap();
    h.irp
        .run_ok(&["refurbisher", "apply", "-f", doc_path.to_str().unwrap()]);
    let out = h.irp.run_ok(&["feed", "import", ACME]);
    assert!(out.contains("succeeded"), "{out}");

    h.run(move |b| async move {
        b.open("/login").await?;
        b.log_in(OPERATOR, OPERATOR_PASSWORD).await?;
        b.wait_for_path("/").await?;

        // Today's feed lost two of its three offers: Import now quarantines the run.
        feed.set(ACME_FEED_SHORT);
        b.open(&format!("/refurbishers/{ACME}")).await?;
        b.submit("#import-now").await?;
        let run_path = b.wait_for_path_prefix("/runs/").await?;
        assert_eq!(b.text("#run-status").await?, "quarantined");
        shot(&b, "quarantined-run").await?;

        // The alert is open at once; its link leads to where to act.
        b.open("/alerts").await?;
        let row = r#"table#alerts tr[data-metric="feed_quarantined"][data-open="yes"]"#;
        let text = b.text(row).await?;
        assert!(
            text.contains(ACME) && text.contains("quarantined"),
            "{text}"
        );
        shot(&b, "alert-open").await?;
        let act = b
            .driver
            .query(By::Css(format!("{row} a")))
            .with_text("Review the quarantined run")
            .first()
            .await?;
        act.click().await?;
        b.wait_for_path(&format!("/refurbishers/{ACME}")).await?;
        assert_eq!(
            b.driver.current_url().await?.fragment(),
            Some("quarantined")
        );
        let quarantined = b.scroll_to("#quarantined").await?.text().await?;
        let run_id = run_path.trim_start_matches("/runs/");
        assert!(
            quarantined.contains(&format!("run {run_id}")),
            "{quarantined}"
        );
        assert!(
            b.text("main").await?.contains("Alert:"),
            "the page names the alert"
        );
        shot(&b, "quarantined-on-the-refurbisher-page").await?;

        // Discard it: the offers stay as they were, and the alert resolves.
        b.submit("#quarantined button.danger").await?;
        b.wait_for_path(&run_path).await?;
        assert_eq!(b.text("#run-status").await?, "discarded");
        shot(&b, "run-discarded").await?;
        // Resolved, and none open. (A monitor tick that read the run as quarantined just
        // before the discard may open a second `feed_quarantined` alert after it, which the
        // next tick resolves: reloaded until that is over too.)
        b.open("/alerts?state=all").await?;
        let q = r#"tr[data-metric="feed_quarantined"]"#;
        b.reload_until(&format!(
            r#"main:has({q}[data-open="no"]):not(:has({q}[data-open="yes"]))"#
        ))
        .await?;
        let rows = table_rows(&b, "table#alerts").await?;
        assert!(rows.iter().all(|r| r.contains("resolved")), "{rows:?}");
        shot(&b, "quarantine-alert-resolved").await?;
        // The offers were kept: all three are still there.
        b.open("/products").await?;
        let products = b.text("main").await?;
        for sku_name in ["iPhone 13", "MacBook Pro 14", "Galaxy S21"] {
            assert!(
                products.contains(sku_name),
                "{sku_name} is gone:\n{products}"
            );
        }

        // The feed server breaks: the monitor opens `feed_failed` within a tick or two.
        feed.set(ACME_FEED);
        feed.fail(true);
        b.open(&format!("/refurbishers/{ACME}")).await?;
        b.submit("#import-now").await?;
        assert_eq!(b.text("#run-status").await?, "failed");
        b.open("/alerts").await?;
        let row = r#"table#alerts tr[data-metric="feed_failed"][data-open="yes"]"#;
        b.reload_until(row).await?;
        shot(&b, "feed-failed-alert-open").await?;
        b.driver
            .query(By::Css(format!("{row} a")))
            .with_text("See the feed runs")
            .first()
            .await?
            .click()
            .await?;
        b.wait_for_path(&format!("/refurbishers/{ACME}")).await?;
        b.scroll_to("#runs").await?;
        shot(&b, "feed-runs").await?;

        // Fixed at the refurbisher's end: Import now, and the monitor resolves the alert.
        feed.fail(false);
        b.submit("#import-now").await?;
        let status = b.text("#run-status").await?;
        assert!(
            ["succeeded", "unchanged"].contains(&status.as_str()),
            "{status}"
        );
        b.open("/alerts?state=all").await?;
        b.reload_until(r#"table#alerts tr[data-metric="feed_failed"][data-open="no"]"#)
            .await?;
        // Nothing is open any more (the HTTP status alert of the 500 resolved too).
        b.open("/alerts").await?;
        b.reload_until("main:not(:has(table#alerts))").await?;
        let open = b.text("main").await?;
        assert!(open.contains("No open alerts."), "{open}");
        b.open("/alerts?state=all").await?;
        shot(&b, "all-alerts-resolved").await?;
        Ok(())
    })
    .await;
}

/// Logs in with reqwest (no redirects followed); the session cookie (`irp_session=…`).
async fn api_login(base: &str, email: &str, password: &str) -> Result<String, reqwest::Error> {
    let r = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?
        .post(format!("{base}/login"))
        .form(&[("email", email), ("password", password)])
        .send()
        .await?;
    assert_eq!(r.status(), 303, "logging in as {email}");
    let cookie = r
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("irp_session="))
        .expect("a session cookie");
    Ok(cookie.split(';').next().unwrap().to_owned())
}

/// The CSRF token on a page's forms.
fn csrf_of(page: &str) -> String {
    let at = page
        .find(r#"name="csrf" value=""#)
        .expect("a form with a CSRF token")
        + r#"name="csrf" value=""#.len();
    page[at..].split('"').next().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_sees_no_action_buttons_and_forged_posts_are_refused() {
    let h = Harness::new(
        "a_viewer_sees_no_action_buttons_and_forged_posts_are_refused",
        APPLY,
    );
    h.run(|b| async move {
        // A viewer sees the pages, but none of the operator's buttons.
        b.open("/login").await?;
        b.log_in(VIEWER, VIEWER_PASSWORD).await?;
        b.wait_for_path("/").await?;
        assert_eq!(b.text("header .user .badge").await?, "viewer");
        b.el(r#"tr[data-refurbisher="flexit"]"#).await?;
        shot(&b, "viewer-dashboard").await?;
        b.open("/refurbishers/flexit").await?;
        assert!(b.text("h1").await?.contains("flexit"));
        b.el("#credentials").await?;
        b.el("#webhook").await?;
        for button in ["#import-now", "#preview-feed", "#rotate-token"] {
            assert!(!b.has(button).await?, "a viewer sees {button}");
        }
        assert!(
            !b.has(r#"form[action$="/credential"]"#).await?,
            "a viewer sees the Replace credential forms"
        );
        shot(&b, "viewer-refurbisher-page").await?;
        b.open("/refurbishers").await?;
        assert!(
            !b.has(r#"a[href="/refurbishers/new"]"#).await?,
            "a viewer is offered onboarding"
        );
        // No page shows a viewer a form that changes something. (The onboarding page, which
        // no link offers a viewer, still shows its Check / Preview / Save form: noted, not
        // failed; its POST is refused like any other.)
        for page in [
            "/",
            "/refurbishers",
            "/refurbishers/flexit",
            "/refurbishers/iused-alumio",
            "/refurbishers/new",
            "/products",
            "/orders",
            "/shipments",
            "/channels",
            "/alerts",
            "/audit",
        ] {
            b.open(page).await?;
            let actions: Vec<String> = b
                .driver
                .execute(
                    "return Array.from(document.querySelectorAll('main form[method=post]'), \
                     f => f.getAttribute('action'));",
                    Vec::new(),
                )
                .await?
                .convert()?;
            if page == "/refurbishers/new" {
                if !actions.is_empty() {
                    eprintln!("a viewer sees the onboarding form: {actions:?}");
                }
            } else {
                assert!(actions.is_empty(), "a viewer sees on {page}: {actions:?}");
            }
        }

        // A viewer's POST, with the viewer's own CSRF token: refused, nothing done.
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        let viewer = api_login(&b.base, VIEWER, VIEWER_PASSWORD).await?;
        let page = client
            .get(b.url("/refurbishers/flexit"))
            .header("Cookie", &viewer)
            .send()
            .await?
            .text()
            .await?;
        let r = client
            .post(b.url("/refurbishers/flexit/webhook-token"))
            .header("Cookie", &viewer)
            .form(&[("csrf", csrf_of(&page))])
            .send()
            .await?;
        assert_eq!(r.status(), 403);
        assert!(r.text().await?.contains("only operators change things"));

        // An operator's session without the CSRF token, with a wrong one, or from another
        // site: refused. The same request done right is taken (a check, which writes nothing).
        let operator = api_login(&b.base, OPERATOR, OPERATOR_PASSWORD).await?;
        let page = client
            .get(b.url("/refurbishers/new"))
            .header("Cookie", &operator)
            .send()
            .await?
            .text()
            .await?;
        let csrf = csrf_of(&page);
        let doc = std::fs::read_to_string(root().join("config/refurbishers/flexit.json"))?;
        let origin = b.base.clone();
        // (what, the token sent, the Origin)
        let forged = [
            ("no token", None, origin.as_str()),
            ("a wrong token", Some("0123456789abcdef"), origin.as_str()),
            ("another site", Some(csrf.as_str()), "http://evil.example"),
        ];
        for (what, token, from) in forged {
            let mut form = vec![("action", "check"), ("document", doc.as_str())];
            if let Some(t) = token {
                form.push(("csrf", t));
            }
            let r = client
                .post(b.url("/refurbishers/new"))
                .header("Cookie", &operator)
                .header("Origin", from)
                .form(&form)
                .send()
                .await?;
            assert_eq!(r.status(), 403, "{what}");
            assert!(
                r.text().await?.contains("CSRF token does not match"),
                "{what}"
            );
        }
        let r = client
            .post(b.url("/refurbishers/new"))
            .header("Cookie", &operator)
            .header("Origin", &origin)
            .form(&[
                ("csrf", csrf.as_str()),
                ("action", "check"),
                ("document", &doc),
            ])
            .send()
            .await?;
        assert_eq!(r.status(), 200, "the real form is taken");
        assert!(r.text().await?.contains("No errors"));

        // In the browser: another site's page with a form that rotates FlexIT's webhook
        // token. The operator, logged in, clicks its button: refused, nothing changed.
        b.open("/").await?;
        b.submit(r#"form[action="/logout"] button"#).await?;
        b.log_in(OPERATOR, OPERATOR_PASSWORD).await?;
        b.wait_for_path("/").await?;
        let target = b.url("/refurbishers/flexit/webhook-token");
        let evil = serve_app(axum::Router::new().route(
            "/",
            axum::routing::get(move || async move {
                axum::response::Html(format!(
                    r#"<!doctype html><title>Win</title><form method="post" action="{target}">
<input type="hidden" name="csrf" value="guessed"><button id="win">Claim your prize</button></form>"#
                ))
            }),
        ));
        b.driver.goto(&evil).await?;
        shot(&b, "another-site").await?;
        b.submit("#win").await?;
        let refused = b.text("main").await?;
        assert!(
            refused.contains("Not done") && refused.contains("CSRF token does not match"),
            "{refused}"
        );
        shot(&b, "forged-post-refused").await?;
        b.open("/refurbishers/flexit").await?;
        assert_eq!(b.text("#webhook p").await?, "Not configured");
        assert_eq!(b.text("#rotate-token").await?, "Make the webhook URL");
        shot(&b, "nothing-changed").await?;
        Ok(())
    })
    .await;
}

/// FlexIT's feed as its SFTP server holds it: the seed's column names, Dutch prices.
const FLEXIT_FEED: &str = "Flex IT Part Number;Description;EAN;Stock Quantity;Sales Price;SRP\r\n\
FLX-IPH13-128;Apple iPhone 13 128GB Midnight;4006381333931;6;412,50;699,00\r\n\
FLX-MBP14-512;Apple MacBook Pro 14 M1 Pro 512GB;8712345678906;3;1.249,95;1.899,00\r\n\
FLX-SGS21-128;Samsung Galaxy S21 128GB Phantom Grey;5901234123457;9;249,00;449,00\r\n";

/// Whether `ean` is 13 digits with a right check digit.
fn ean13_ok(ean: &str) -> bool {
    let d: Vec<u32> = ean.chars().filter_map(|c| c.to_digit(10)).collect();
    if d.len() != 13 || ean.len() != 13 {
        return false;
    }
    let sum: u32 = d[..12]
        .iter()
        .enumerate()
        .map(|(i, x)| if i % 2 == 0 { *x } else { x * 3 })
        .sum();
    (10 - sum % 10) % 10 == d[12]
}

/// The FlexIT seed's price incl. VAT, in cents, of a purchase price in cents: (purchase +
/// 3.18 home copy tax + 10.00 shipping) × 1.17 margin × 1.21 VAT, rounded half-up once.
fn flexit_price_incl_cents(purchase: i64) -> i64 {
    let exact = (purchase + 318 + 1000) * 117 * 121; // in 1/10,000 of a cent
    (exact + 5_000) / 10_000
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_operator_onboards_the_seed_flexit_connector_against_a_local_sftp_feed_and_sees_its_prices()
 {
    use irp_testkit::sshd::{PASSWORD, Sshd};

    let sshd = Sshd::start();
    let path = sshd.write("FlexIT_Feed.csv", FLEXIT_FEED.as_bytes());
    // The host key pinned, as an operator copies it from the refurbisher.
    let login = format!(
        r#""password": "${{secret:flexit.offers.auth.password}}", "host_key_fingerprint": "{}""#,
        sshd.host_fingerprint()
    );
    let document = sshd.flexit_document(&path, &login);
    assert!(!document.contains(PASSWORD));
    // Each line's SKU, EAN and purchase price in cents.
    let offers: Vec<(String, String, i64)> = FLEXIT_FEED
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(';').collect();
            let cents = f[4].replace(['.', ','], "").parse().unwrap();
            (f[0].to_owned(), f[2].to_owned(), cents)
        })
        .collect();
    assert_eq!(offers.len(), 3);
    for (_, ean, _) in &offers {
        assert!(ean13_ok(ean), "{ean} is no valid EAN-13");
    }
    assert_eq!(
        flexit_price_incl_cents(41_250),
        60_264,
        "the worked example"
    );

    // No documents applied: a fresh installation.
    let h = Harness::new(
        "a_new_operator_onboards_the_seed_flexit_connector_against_a_local_sftp_feed_and_sees_its_prices",
        &[],
    );
    h.run(move |b| async move {
        b.open("/").await?;
        b.wait_for_path("/login").await?;
        b.log_in(OPERATOR, OPERATOR_PASSWORD).await?;
        b.driver
            .query(By::LinkText("Onboard one"))
            .desc("the empty dashboard's link to the onboarding page")
            .first()
            .await?;
        shot(&b, "empty-dashboard").await?;

        // Paste the seed's document, its offers on the local SFTP server, its password a
        // secret reference.
        b.open("/refurbishers/new").await?;
        b.el("textarea[name=document]")
            .await?
            .send_keys(document.as_str())
            .await?;
        shot(&b, "document-pasted").await?;
        b.submit("#check").await?;
        assert_eq!(b.text("#check-result h2 .badge").await?, "No errors");
        assert!(!b.has("#check-result tr.problem-error").await?);
        b.scroll_to("#check-result").await?;
        shot(&b, "check-no-errors").await?;

        b.submit("#save").await?;
        b.wait_for_path("/refurbishers/flexit").await?;
        shot(&b, "saved").await?;

        // The password is a secret nobody stored yet: replace it in the page.
        let row = credential_row(&b, "offers.auth.password").await?;
        let stored_as = row
            .query(By::Css("td:nth-child(3)"))
            .first()
            .await?
            .text()
            .await?;
        assert!(
            stored_as.contains("flexit.offers.auth.password") && stored_as.contains("missing"),
            "{stored_as}"
        );
        row.scroll_into_view().await?;
        shot(&b, "password-missing").await?;
        row.query(By::Css("input[name=value]"))
            .first()
            .await?
            .send_keys(PASSWORD)
            .await?;
        b.submit(r#"#credentials input[name=path][value="offers.auth.password"] ~ button"#)
            .await?;
        b.wait_for_path("/refurbishers/flexit").await?;
        let stored_as = credential_row(&b, "offers.auth.password")
            .await?
            .query(By::Css("td:nth-child(3)"))
            .first()
            .await?
            .text()
            .await?;
        assert!(
            stored_as.contains("flexit.offers.auth.password") && stored_as.contains("stored"),
            "{stored_as}"
        );
        no_password(&b, PASSWORD).await?;
        b.scroll_to("#credentials").await?;
        shot(&b, "password-stored").await?;

        // Preview feed (htmx): the three offers, read over SFTP, in place.
        // (The page is scrolled to #credentials: the button is brought out from under the
        // sticky header first.)
        let preview = b.scroll_to("#preview-feed").await?;
        preview.click().await?;
        let result = b.el("#preview #preview-result").await?;
        result.scroll_into_view().await?;
        assert_eq!(b.path().await?, "/refurbishers/flexit", "no page load");
        let rows = table_rows(&b, "#preview #preview-offers").await?;
        assert_eq!(rows.len(), 3, "{rows:?}");
        for ((sku, ean, _), row) in offers.iter().zip(&rows) {
            assert!(
                row.contains(sku.as_str()) && row.contains(ean.as_str()),
                "{rows:?}"
            );
        }
        assert!(rows[1].contains("1249.95"), "Dutch prices read: {rows:?}");
        no_password(&b, PASSWORD).await?;
        shot(&b, "preview-over-sftp").await?;

        // Import now: a succeeded run.
        b.submit("#import-now").await?;
        let run_path = b.wait_for_path_prefix("/runs/").await?;
        assert_eq!(b.text("#run-status").await?, "succeeded", "{run_path}");
        assert_eq!(b.text("#rows-read").await?, "3");
        no_password(&b, PASSWORD).await?;
        shot(&b, "import-succeeded").await?;

        // The products list has the feed's EAN; its page prices FlexIT's offer as the
        // seed's settings say, and it is the best.
        let (sku, ean, purchase) = &offers[0];
        b.open("/products").await?;
        let link = b
            .driver
            .query(By::Css(format!(
                r#"table#products a[href="/products/{ean}"]"#
            )))
            .desc("the product's link in the products list")
            .first()
            .await?;
        no_password(&b, PASSWORD).await?;
        shot(&b, "products").await?;
        link.click().await?;
        b.wait_for_path(&format!("/products/{ean}")).await?;
        let offer = b.el("table#offers tbody tr").await?;
        let cells = offer
            .query(By::Css("td"))
            .all_from_selector_required()
            .await?;
        assert_eq!(
            cells[0]
                .query(By::Css("code"))
                .first()
                .await?
                .text()
                .await?,
            format!("flexit {sku}")
        );
        let cents = flexit_price_incl_cents(*purchase);
        let want = format!("{}.{:02}", cents / 100, cents % 100);
        let price = cells[1]
            .query(By::Css("strong"))
            .first()
            .await?
            .text()
            .await?;
        assert_eq!(
            price,
            format!("{want} EUR"),
            "the price incl. VAT the seed's settings give"
        );
        assert_eq!(offer.attr("data-verdict").await?.as_deref(), Some("best"));
        assert_eq!(
            cells[5]
                .query(By::Css(".badge"))
                .first()
                .await?
                .text()
                .await?,
            "best"
        );
        no_password(&b, PASSWORD).await?;
        b.scroll_to("table#offers").await?;
        shot(&b, "product-offer-best").await?;
        Ok(())
    })
    .await;
}

/// The row of `#credentials` whose credential is `path`.
async fn credential_row(b: &Browser, path: &str) -> WebDriverResult<WebElement> {
    b.el("#credentials").await?;
    for row in b
        .driver
        .query(By::Css("#credentials tbody tr"))
        .all_from_selector_required()
        .await?
    {
        if row.query(By::Css("td code")).first().await?.text().await? == path {
            return Ok(row);
        }
    }
    Err(WebDriverError::Timeout(format!(
        "no credential {path} in #credentials"
    )))
}

/// Fails when the current page's source contains `secret`.
async fn no_password(b: &Browser, secret: &str) -> WebDriverResult<()> {
    let source = b.driver.source().await?;
    let url = b.driver.current_url().await?;
    assert!(
        !source.contains(secret),
        "the password is on {url}:\n{source}"
    );
    Ok(())
}

/// The storefront channels in the portal: a channel's Shopware shop (the fake) gets the feed's prices by
/// itself; the Channels page shows the product its shop lacks; a Full resync from the page
/// pushes everything again and says what happened.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_resyncs_a_storefront_and_sees_what_its_shop_lacks() {
    use irp_testkit::fake_shopware::{FakeShopware, FakeShopwareConfig};
    const SOLD: &str = "8712345678906";
    const LACKING: &str = "8712345678913";
    let cfg = FakeShopwareConfig::default();
    let shop = FakeShopware::start(cfg.clone()).await;
    shop.add_product(SOLD, SOLD, 0, 1.0);
    let h = Harness::new(
        "an_operator_resyncs_a_storefront_and_sees_what_its_shop_lacks",
        &[],
    );
    let dir = h.irp.data.path();
    let channels = json!({"channels": {"refurbished-direct": {"name": "Refurbished Direct",
        "shopware": {"url": shop.url, "client_id": "${secret:channel.refurbished-direct.client_id}",
            "client_secret": "${secret:channel.refurbished-direct.client_secret}", "order_poll_secs": 0}}}});
    let channels_path = dir.join("channels.json");
    std::fs::write(&channels_path, channels.to_string()).unwrap();
    let feed = dir.join("flexit.csv");
    std::fs::write(
        &feed,
        format!(
            "Flex IT Part Number;Description;Stock Quantity;EAN;Sales Price;SRP\n\
             FLX-A;Apple iPhone 13;50;{SOLD};100,00;999,00\n\
             FLX-B;Apple iPhone 12;5;{LACKING};80,00;999,00\n"
        ),
    )
    .unwrap();
    h.irp
        .secret_set("channel.refurbished-direct.client_id", &cfg.client_id);
    h.irp.secret_set(
        "channel.refurbished-direct.client_secret",
        &cfg.client_secret,
    );
    h.irp.run_ok(&[
        "refurbisher",
        "apply",
        "-f",
        "config/refurbishers/flexit.json",
    ]);
    h.irp
        .run_ok(&["channel", "apply", "-f", channels_path.to_str().unwrap()]);
    h.irp
        .run_ok(&["feed", "import", "flexit", "--file", feed.to_str().unwrap()]);

    h.run(move |b| async move {
        b.open("/login").await?;
        b.log_in(OPERATOR, OPERATOR_PASSWORD).await?;
        b.wait_for_path("/").await?;
        // `serve` pushed by itself: the shop has the price, the page names the product the
        // shop lacks.
        let deadline = Instant::now() + Duration::from_secs(20);
        while shop.product(SOLD).is_none_or(|p| p["stock"] != 49) {
            assert!(Instant::now() < deadline, "the shop never got the price");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        assert_eq!(
            shop.product(SOLD).unwrap()["price"][0]["gross"],
            json!(160.23)
        );
        b.open("/channels").await?;
        let row = b
            .reload_until("table#problems-refurbished-direct tbody tr")
            .await?
            .text()
            .await?;
        assert!(
            row.contains(LACKING) && row.contains("unknown_product"),
            "{row}"
        );
        let summary = b
            .text(r#"table#channels tr[data-channel="refurbished-direct"]"#)
            .await?;
        assert!(summary.contains(&shop.url), "{summary}");
        shot(&b, "channels-after-the-feed-run").await?;

        // Full resync: every product again; the notice says what happened.
        shop.clear_requests();
        b.submit("#full-sync-refurbished-direct").await?;
        b.wait_for_path("/channels").await?;
        let notice = b.text("#sync-result").await?;
        assert!(
            notice.contains("1 pushed") && notice.contains("1 unknown to the shop"),
            "{notice}"
        );
        let synced: usize = shop
            .requests()
            .iter()
            .filter(|r| r.path == "/api/_action/sync" && r.status == 200)
            .map(|r| r.sync_rows)
            .sum();
        assert_eq!(synced, 1);
        shot(&b, "channels-full-resync").await?;
        Ok(())
    })
    .await;
}

/// The back office in the portal: an order with a FlexIT line and an iUsed Stores line; FlexIT's
/// product is missing in Odoo, so its purchase order fails and the order page says why; the
/// product is made in Odoo, the operator clicks Retry in Odoo, and the page shows the purchase
/// order's Odoo id and name beside the sales order's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_sees_the_odoo_documents_of_an_order_and_retries_a_failed_one() {
    use irp_testkit::fake_odoo::{FakeOdoo, FakeOdooConfig};
    const FLEX_EAN: &str = "8712345678906";
    const IUSED_EAN: &str = "8712345678913";
    let api = FakeOrderApi::start(0);
    let odoo_cfg = FakeOdooConfig::default();
    let odoo = FakeOdoo::start(odoo_cfg.clone()).await;
    odoo.add_proxy("odoo-jsonrpc", "/jsonrpc", &[]);
    odoo.add_partner_with_id(21469, "Flex IT Distribution");
    odoo.add_product("IU-12", IUSED_EAN, "Apple iPhone 12", 4.0);
    let h = Harness::new(
        "an_operator_sees_the_odoo_documents_of_an_order_and_retries_a_failed_one",
        &[],
    )
    .serve_args(&["--erp-tick-secs", "1"]);
    let dir = h.irp.data.path();
    let doc = std::fs::read_to_string(root().join("config/refurbishers/flexit.json"))
        .unwrap()
        .replace(
            "https://api.flexitdistribution.com/order/api/order",
            &api.url,
        );
    let doc_path = dir.join("flexit.json");
    std::fs::write(&doc_path, doc).unwrap();
    let erp = std::fs::read_to_string(root().join("config/erp.json"))
        .unwrap()
        .replace("https://flooris.alumio.com", &odoo.url)
        .replace(
            "\"confirm\": true",
            "\"confirm\": true, \"max_attempts\": 1",
        );
    let erp_path = dir.join("erp.json");
    std::fs::write(&erp_path, erp).unwrap();
    let flex_feed = dir.join("flexit.csv");
    std::fs::write(
        &flex_feed,
        format!("Flex IT Part Number;Description;Stock Quantity;EAN;Sales Price;SRP\nFLX-A;Apple iPhone 13;50;{FLEX_EAN};100,00;999,00\n"),
    )
    .unwrap();
    let iused_feed = dir.join("iused.json");
    std::fs::write(
        &iused_feed,
        json!({"offers": [{"description": "Apple iPhone 12", "sku": "IU-12", "quantity": 4, "ean": IUSED_EAN,
            "costPrice": "300.00", "priceConsumer": "999.00", "currencyIso": "EUR", "taxPercentage": "21"}]})
        .to_string(),
    )
    .unwrap();
    h.irp.secret_set("flexit.order.auth.client_id", "order-id");
    h.irp
        .secret_set("flexit.order.auth.client_secret", "order-secret");
    h.irp.secret_set("erp.api_key", &odoo_cfg.api_key);
    h.irp.secret_set("erp.alumio_auth", &odoo_cfg.alumio_token);
    h.irp.run_ok(&[
        "refurbisher",
        "apply",
        "-f",
        doc_path.to_str().unwrap(),
        "config/refurbishers/iused-stores.json",
    ]);
    h.irp
        .run_ok(&["channel", "apply", "-f", "config/channels.json"]);
    h.irp.run_ok(&[
        "feed",
        "import",
        "flexit",
        "--file",
        flex_feed.to_str().unwrap(),
    ]);
    h.irp.run_ok(&[
        "feed",
        "import",
        "iused-alumio",
        "--file",
        iused_feed.to_str().unwrap(),
    ]);
    h.irp
        .run_ok(&["erp", "apply", "-f", erp_path.to_str().unwrap()]);
    let order_path = dir.join("order.json");
    std::fs::write(
        &order_path,
        json!({"channel": "refurbished-direct", "order_number": "RD-77", "placed_at": "2026-12-03T10:00:00Z",
            "customer": {"email": "jan@example.nl"},
            "shipping_address": {"first_name": "Jan", "last_name": "de Vries", "street": "Damrak",
                "house_number": "1", "zipcode": "1012 LG", "city": "Amsterdam", "country": "NL"},
            "lines": [{"ean": FLEX_EAN, "quantity": 1, "unit_price_incl_vat": "160.23"},
                      {"ean": IUSED_EAN, "quantity": 1, "unit_price_incl_vat": "699.00"}]})
        .to_string(),
    )
    .unwrap();
    let taken = h.irp.run_ok(&[
        "orders",
        "create",
        "-f",
        order_path.to_str().unwrap(),
        "--json",
    ]);
    let taken: Value = serde_json::from_str(&taken).unwrap();
    let order_id = taken["order"]["id"].as_i64().unwrap();
    let sos: Vec<(i64, i64)> = taken["supplier_orders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["id"].as_i64().unwrap(),
                s["refurbisher_id"].as_i64().unwrap(),
            )
        })
        .collect();
    let flex_so = sos.iter().find(|s| s.1 == 15).unwrap().0;
    let iused_so = sos.iter().find(|s| s.1 == 1).unwrap().0;

    h.run(move |b| async move {
        b.open("/login").await?;
        b.log_in(OPERATOR, OPERATOR_PASSWORD).await?;
        b.wait_for_path("/").await?;
        b.open(&format!("/orders/{order_id}")).await?;
        // FlexIT's purchase order failed: the page says why and offers the retry.
        let failed = b
            .reload_until(&format!("#erp-{flex_so} [data-status=\"failed\"]"))
            .await?;
        let _ = failed;
        let why = b.text(&format!("#erp-{flex_so}")).await?;
        assert!(why.contains(FLEX_EAN) && why.contains("FLX-A"), "{why}");
        let sales = b
            .reload_until(&format!("#erp-{iused_so} [data-status=\"done\"]"))
            .await?;
        let _ = sales;
        let so_text = b.text(&format!("#erp-{iused_so}")).await?;
        assert!(
            so_text.contains("sale.order") && so_text.contains("S0000"),
            "{so_text}"
        );
        shot(&b, "order-odoo-failed").await?;

        // The product is made in Odoo; Retry in Odoo; the purchase order appears.
        odoo.add_product("FLX-A", FLEX_EAN, "Apple iPhone 13", 0.0);
        b.submit(&format!("#erp-retry-{flex_so}")).await?;
        b.reload_until(&format!("#erp-{flex_so} [data-status=\"done\"]"))
            .await?;
        let po_text = b.text(&format!("#erp-{flex_so}")).await?;
        let pos = odoo.records("purchase.order");
        assert_eq!(pos.len(), 1);
        assert_eq!(pos[0]["partner_id"], 21469);
        assert!(
            po_text.contains(&format!("purchase.order {}", pos[0]["id"]))
                && po_text.contains(pos[0]["name"].as_str().unwrap()),
            "{po_text}"
        );
        assert!(!b.has(&format!("#erp-retry-{flex_so}")).await?);
        shot(&b, "order-odoo-done").await?;
        Ok(())
    })
    .await;
}
