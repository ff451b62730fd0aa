//! Running the binary in the integration tests: a command with a data directory and a database
//! of its own, `irp serve` on a free loopback port with its log kept, logins, tokens.
//!
//! Each test binary (`cli`, `browser`, `openapi`, `security`) compiles this module on its own
//! and uses only part of it.

#![allow(dead_code)]

use std::ffi::OsString;
use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

/// The workspace root (the binary runs from there, as the README's commands do).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// A command for the binary, run from the workspace root with its own data directory and
/// database; the environment variables that change what it does are removed.
pub struct Irp {
    pub db_url: String,
    pub data: tempfile::TempDir,
    /// Set for every command (after the removals).
    env: Vec<(OsString, OsString)>,
}

impl Irp {
    /// On the database at `db_url`.
    pub fn new(db_url: &str) -> Irp {
        Irp {
            db_url: db_url.to_owned(),
            data: tempfile::tempdir().unwrap(),
            env: Vec::new(),
        }
    }

    /// On a SQLite file `irp.db` in its data directory, not created yet (see [`Irp::migrated`]).
    pub fn sqlite() -> Irp {
        let data = tempfile::tempdir().unwrap();
        let db_url = format!("sqlite:{}", data.path().join("irp.db").display());
        Irp {
            db_url,
            data,
            env: Vec::new(),
        }
    }

    /// Sets `key` to `value` in every command.
    pub fn with_env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Irp {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Runs `irp migrate`, which must succeed.
    pub fn migrated(self) -> Irp {
        self.run_ok(&["migrate"]);
        self
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
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
        for (k, v) in &self.env {
            c.env(k, v);
        }
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    pub fn run_with_stdin(&self, args: &[&str], stdin: &str) -> Output {
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

    /// Asserts that `out` is a success, showing its output otherwise.
    pub fn ok(&self, out: &Output) {
        assert!(
            out.status.success(),
            "irp failed:\n{}\n{}",
            stdout(out),
            stderr(out)
        );
    }

    /// Runs `irp ARGS` (empty stdin), which must succeed; its stdout.
    pub fn run_ok(&self, args: &[&str]) -> String {
        let out = self.run_with_stdin(args, "");
        self.ok(&out);
        stdout(&out)
    }

    /// `irp secret set NAME`, the value on stdin.
    pub fn secret_set(&self, name: &str, value: &str) {
        let out = self.run_with_stdin(&["secret", "set", name], &format!("{value}\n"));
        self.ok(&out);
    }
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Adds a portal account (`irp user add EMAIL --role ROLE`, the password on stdin).
pub fn add_user(irp: &Irp, email: &str, password: &str, role: &str) {
    let out = irp.run_with_stdin(
        &["user", "add", email, "--role", role],
        &format!("{password}\n"),
    );
    assert!(
        out.status.success(),
        "user add: {}\n{}",
        stdout(&out),
        stderr(&out)
    );
}

/// An API token (`irp token create NAME --role ROLE`), as printed once.
pub fn api_token(irp: &Irp, name: &str, role: &str) -> String {
    let out = irp.run(&["token", "create", name, "--role", role]);
    assert!(out.status.success(), "token create: {}", stderr(&out));
    let token = stdout(&out).trim().to_owned();
    assert!(token.starts_with("irp_"), "{token}");
    token
}

/// How long `irp serve` may take to say where it listens.
const SERVE_START: Duration = Duration::from_secs(30);

/// A running `irp serve`: killed when dropped (also when a test fails half-way); its log lines
/// kept as they come (drained, so it never blocks on a full pipe).
pub struct Serve {
    pub child: Child,
    /// `127.0.0.1:PORT`
    pub addr: String,
    pub log: Arc<Mutex<Vec<String>>>,
}

impl Serve {
    /// `http://127.0.0.1:PORT`, no trailing slash.
    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn log_text(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    pub fn id(&self) -> u32 {
        self.child.id()
    }

    pub fn kill(&mut self) -> std::io::Result<()> {
        self.child.kill()
    }

    pub fn wait(&mut self) -> std::io::Result<ExitStatus> {
        self.child.wait()
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `irp serve --listen 127.0.0.1:0 EXTRA…` with polling off (unless `env` says otherwise) and
/// `env`, once it says where it listens.
pub fn start_serve(irp: &Irp, extra: &[&str], env: &[(&str, &str)]) -> Serve {
    let mut args = vec!["serve", "--listen", "127.0.0.1:0"];
    args.extend_from_slice(extra);
    let mut cmd = irp.cmd(&args);
    cmd.env("IRP_POLL_TICK_SECS", "0");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let log = Arc::new(Mutex::new(Vec::new()));
    let kept = log.clone();
    let (tx, rx) = mpsc::channel();
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
    // Dropped (killed) if it does not start.
    let mut serve = Serve {
        child,
        addr: String::new(),
        log,
    };
    match rx.recv_timeout(SERVE_START) {
        Ok(addr) => serve.addr = addr,
        Err(e) => panic!("irp serve did not start ({e}):\n{}", serve.log_text()),
    }
    serve
}

/// Waits until `check` returns `Some`, polling every 100 ms, for at most `wait`.
pub async fn eventually<T>(wait: Duration, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + wait;
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `POST /login` with `email`, `password` and `next` (when given).
pub async fn post_login(
    client: &reqwest::Client,
    base: &str,
    email: &str,
    password: &str,
    next: Option<&str>,
) -> reqwest::Response {
    let mut form = vec![("email", email), ("password", password)];
    if let Some(n) = next {
        form.push(("next", n));
    }
    client
        .post(format!("{base}/login"))
        .form(&form)
        .send()
        .await
        .unwrap()
}

/// The `name=value` of a response's `Set-Cookie`.
pub fn session_cookie(r: &reqwest::Response) -> String {
    r.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned()
}

/// Logs in to the portal at `base`; the session cookie (`irp_session=…`).
pub async fn login_cookie(base: &str, email: &str, password: &str) -> String {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = post_login(&client, base, email, password, None).await;
    assert_eq!(r.status(), 303, "logging in as {email}");
    session_cookie(&r)
}

/// `/metrics` text with the `irp_instance` label taken out of every series (each instance's
/// own id), so tests match `name{labels} value` as written.
pub fn without_instance(metrics: &str) -> String {
    const LABEL: &str = "irp_instance=\"";
    metrics
        .lines()
        .map(|line| {
            let Some(i) = line.find(LABEL) else {
                return line.to_owned();
            };
            let value = &line[i + LABEL.len()..];
            let end = i + LABEL.len() + value.find('"').map_or(value.len(), |e| e + 1);
            format!("{}{}", &line[..i], &line[end..])
                .replace("{,", "{")
                .replace(",}", "}")
                .replace("{}", "")
        })
        .collect::<Vec<_>>()
        .join("\n")
}
