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
use std::io::{BufRead as _, BufReader, Write as _};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use thirtyfour::extensions::query::{ElementPollerWithTimeout, IntoElementPoller as _};
use thirtyfour::prelude::*;

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";
/// How long an explicit wait (an element query, a URL) waits before it fails.
const WAIT: Duration = Duration::from_secs(15);
const POLL: Duration = Duration::from_millis(100);
/// How long chromedriver and `irp serve` may take to start.
const START: Duration = Duration::from_secs(30);

const OPERATOR: &str = "operator@example.test";
const OPERATOR_PASSWORD: &str = "operator-password-42";
const VIEWER: &str = "viewer@example.test";
const VIEWER_PASSWORD: &str = "viewer-password-42";

/// What a scenario returns: `?` on a WebDriver error fails the test like a panicking assert.
type Outcome = Result<(), Box<dyn std::error::Error + Send + Sync>>;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

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

/// A command for the binary, run from the workspace root with its own data directory and a
/// SQLite database file in it (copied from cli.rs: each test file is its own crate).
struct Irp {
    db_url: String,
    data: tempfile::TempDir,
}

impl Irp {
    fn new() -> Irp {
        let data = tempfile::tempdir().unwrap();
        let db_url = format!("sqlite:{}", data.path().join("irp.db").display());
        let irp = Irp { db_url, data };
        irp.ok(&irp.run_with_stdin(&["migrate"], ""));
        irp
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_irp"));
        c.args(args)
            .current_dir(root())
            .env("IRP_DATABASE_URL", &self.db_url)
            .env("IRP_SECRET_KEY_FILE", self.data.path().join("secret.key"))
            .env_remove("IRP_SECRET_KEY")
            .env_remove("IRP_LISTEN")
            .env_remove("IRP_APPLY")
            .env_remove("IRP_POLL_TICK_SECS")
            .env_remove("IRP_PUBLIC_URL")
            .env_remove("IRP_NOTIFY_URL")
            .env_remove("IRP_WEBHOOK_RATE")
            .env_remove("IRP_MONITOR_TICK_SECS")
            .env_remove("IRP_SECURE_COOKIES")
            .env_remove("IRP_LOG");
        c
    }

    fn run_with_stdin(&self, args: &[&str], stdin: &str) -> Output {
        let mut child = self
            .cmd(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    }

    fn ok(&self, out: &Output) {
        assert!(
            out.status.success(),
            "irp failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// `irp user add EMAIL --role ROLE`, the password on stdin.
    fn user_add(&self, email: &str, role: &str, password: &str) {
        let out = self.run_with_stdin(
            &["user", "add", email, "--role", role],
            &format!("{password}\n"),
        );
        self.ok(&out);
    }

    /// `irp secret set NAME`, the value on stdin.
    fn secret_set(&self, name: &str, value: &str) {
        let out = self.run_with_stdin(&["secret", "set", name], &format!("{value}\n"));
        self.ok(&out);
    }
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

/// `irp serve` on a free port (polling off); drains its log into `log`; returns its base URL.
fn start_serve(irp: &Irp, apply: &[&str], log: Arc<Mutex<Vec<String>>>) -> (Killed, String) {
    let mut args = vec!["serve", "--listen", "127.0.0.1:0"];
    if !apply.is_empty() {
        args.push("--apply");
        args.extend_from_slice(apply);
    }
    let mut child = Killed(
        irp.cmd(&args)
            .env("IRP_POLL_TICK_SECS", "0")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let (tx, rx) = mpsc::channel();
    let stderr = child.0.stderr.take().unwrap();
    let kept = log.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(i) = line.find("listening on http://") {
                let addr = line[i + "listening on http://".len()..]
                    .split(['/', ' '])
                    .next()
                    .unwrap()
                    .to_owned();
                let _ = tx.send(addr);
            }
            kept.lock().unwrap().push(line);
        }
    });
    match rx.recv_timeout(START) {
        Ok(addr) => (child, format!("http://{addr}")),
        Err(e) => panic!(
            "irp serve did not start ({e}):\n{}",
            log.lock().unwrap().join("\n")
        ),
    }
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
}

impl Harness {
    /// A fresh database with an operator and a viewer account.
    fn new(test: &'static str, apply: &[&'static str]) -> Harness {
        let irp = Irp::new();
        irp.user_add(OPERATOR, "operator", OPERATOR_PASSWORD);
        irp.user_add(VIEWER, "viewer", VIEWER_PASSWORD);
        Harness {
            test,
            irp,
            artifacts: artifacts_dir(test),
            apply: apply.to_vec(),
        }
    }

    /// Starts the server, chromedriver and a browser, runs `scenario`, then takes a last
    /// screenshot (`end`, or `failed` after a panic or an error) and quits the browser; a
    /// failure is then reported with the screenshot's path.
    async fn run<F, Fut>(self, scenario: F)
    where
        F: FnOnce(Browser) -> Fut,
        Fut: Future<Output = Outcome> + Send + 'static,
    {
        let log = Arc::new(Mutex::new(Vec::new()));
        let (serve, base) = start_serve(&self.irp, &self.apply, log.clone());
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
                !source.contains(CANARY),
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
        eprintln!("the canary is on none of {count} pages: {paths:#?}");
        Ok(())
    })
    .await;
}
