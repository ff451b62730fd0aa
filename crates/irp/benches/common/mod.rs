//! What the benchmarks that drive `irp serve` over HTTP share: the `irp` binary with a
//! database and a key of its own, and an `ANALYZE` of PostgreSQL before a load.

#![allow(dead_code)] // each benchmark uses what it needs

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};

/// The `irp` binary on a database of its own (polling off, loopback allowed, no rate limit).
pub struct Irp {
    /// The database.
    pub db_url: String,
    /// Its data directory (the secret key, files the bench writes).
    pub dir: tempfile::TempDir,
}

impl Irp {
    /// `irp ARGS` with the bench's environment.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_irp"));
        c.args(args)
            .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
            .env("IRP_DATABASE_URL", &self.db_url)
            .env("IRP_SECRET_KEY_FILE", self.dir.path().join("secret.key"))
            .env("IRP_POLL_TICK_SECS", "0")
            // Whatever the bench serves IRP runs on this machine.
            .env("IRP_ALLOW_PRIVATE_NETWORKS", "127.0.0.0/8,::1/128")
            .env("IRP_WEBHOOK_RATE", "0")
            .env_remove("IRP_SECRET_KEY")
            .env_remove("IRP_LOG");
        c
    }

    /// `irp ARGS`, which must succeed: its stdout.
    pub fn run(&self, args: &[&str]) -> String {
        let out = self.cmd(args).output().unwrap();
        assert!(
            out.status.success(),
            "irp {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `irp serve` on a free loopback port: the child and its base URL.
    pub fn serve(&self) -> (Child, String) {
        let mut child = self
            .cmd(&["serve", "--listen", "127.0.0.1:0"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let addr = loop {
            let line = lines.next().expect("serve exited").unwrap();
            if let Some(i) = line.find("listening on http://") {
                break line[i + 20..].split('/').next().unwrap().to_owned();
            }
        };
        std::thread::spawn(move || for _ in lines.by_ref() {});
        (child, format!("http://{addr}"))
    }
}

/// `ANALYZE` the database at `url` with `psql`; tried again when it meets autovacuum analyzing
/// the same table (`tuple concurrently updated`).
pub fn analyze(url: &str) {
    for attempt in 1..=5 {
        let status = Command::new("psql")
            .args([url, "-qc", "ANALYZE"])
            .status()
            .expect("psql is not installed: apt-get install postgresql-client");
        if status.success() {
            return;
        }
        eprintln!("ANALYZE failed (attempt {attempt}); trying again");
        std::thread::sleep(std::time::Duration::from_secs(1));
    }
    panic!("ANALYZE kept failing");
}
