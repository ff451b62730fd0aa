//! Running the binary: a data directory of its own, `irp serve` on a free loopback port, logins.

#![allow(dead_code)]

use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The workspace root (the binary runs from there, as the README's commands do).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// A command for the binary with its own data directory and database.
pub struct Irp {
    pub db_url: String,
    pub data: tempfile::TempDir,
}

impl Irp {
    pub fn new(db_url: &str) -> Irp {
        Irp {
            db_url: db_url.to_owned(),
            data: tempfile::tempdir().unwrap(),
        }
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
            .env_remove("IRP_LOG");
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
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A running `irp serve`: killed when dropped; its log lines kept as they come.
pub struct Serve {
    pub child: Child,
    /// `127.0.0.1:PORT`
    pub addr: String,
    pub log: Arc<Mutex<Vec<String>>>,
}

impl Serve {
    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn log_text(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `irp serve --listen 127.0.0.1:0` with `extra` arguments and environment.
pub fn start_serve(irp: &Irp, extra: &[&str], env: &[(&str, &str)]) -> Serve {
    let mut args = vec!["serve", "--listen", "127.0.0.1:0"];
    args.extend_from_slice(extra);
    let mut cmd = irp.cmd(&args);
    cmd.env("IRP_POLL_TICK_SECS", "0");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen = Vec::new();
    let addr = loop {
        assert!(Instant::now() < deadline, "serve did not start");
        let line = match lines.next() {
            Some(l) => l.unwrap(),
            None => panic!("serve exited:\n{}", seen.join("\n")),
        };
        if let Some(i) = line.find("listening on http://") {
            break line[i + "listening on http://".len()..]
                .split('/')
                .next()
                .unwrap()
                .to_owned();
        }
        seen.push(line);
    };
    let log = Arc::new(Mutex::new(seen));
    let kept = log.clone();
    std::thread::spawn(move || {
        for line in lines.by_ref().map_while(Result::ok) {
            kept.lock().unwrap().push(line);
        }
    });
    Serve { child, addr, log }
}

/// Adds a portal account (`irp user add`, operator unless `role` says otherwise).
pub fn add_user(irp: &Irp, email: &str, password: &str, role: &str) {
    let out = irp.run_with_stdin(
        &["user", "add", email, "--role", role],
        &format!("{password}\n"),
    );
    assert!(out.status.success(), "user add: {}", stderr(&out));
}

/// An API token (`irp token create NAME --role ROLE`), as printed once.
pub fn api_token(irp: &Irp, name: &str, role: &str) -> String {
    let out = irp.run(&["token", "create", name, "--role", role]);
    assert!(out.status.success(), "token create: {}", stderr(&out));
    stdout(&out)
        .split_whitespace()
        .find(|w| w.len() >= 20)
        .unwrap()
        .to_owned()
}

/// Waits up to `wait` for `check` to give a value.
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

/// A client that follows no redirects, connecting from `from` (any 127.0.0.0/8 address: on
/// Linux each is this machine, and the server sees it as the peer).
pub fn client_from(from: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .local_address(from.parse::<std::net::IpAddr>().unwrap())
        .build()
        .unwrap()
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
