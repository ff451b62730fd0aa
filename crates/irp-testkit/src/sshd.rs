//! Test support: a real OpenSSH `sshd` on a free loopback port, with its own config, host key
//! and authorized key, serving the home directory of the login user `irptest` (password
//! `irptest-pw`), which is created when missing (root needed; `scripts/test` runs as root).

#![allow(clippy::unwrap_used, clippy::missing_panics_doc)] // test support: a panic is how a test fails

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use irp_core::config::{model::OffersConfig, parse_document};

/// The login user.
pub const USER: &str = "irptest";
/// Its password.
pub const PASSWORD: &str = "irptest-pw";

/// A running sshd, stopped (and its files removed) on drop.
pub struct Sshd {
    child: Child,
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// Its config and keys, and room for the test's own files.
    pub dir: tempfile::TempDir,
    /// Directory inside the user's home for this test's files.
    pub files: PathBuf,
    /// `files` relative to the user's home (what SFTP paths name).
    pub relative: String,
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.files);
    }
}

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn ensure_user() -> PathBuf {
    let home = PathBuf::from(format!("/home/{USER}"));
    let exists = || {
        Command::new("id")
            .arg(USER)
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if !exists() {
        // Test processes run in parallel: another may create the user between the check and
        // this; that is as good.
        let out = Command::new("useradd")
            .args(["-m", "-s", "/bin/sh", USER])
            .output()
            .unwrap();
        assert!(
            out.status.success() || exists(),
            "useradd {USER}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // Set the password every time: cheap, and independent of how the user came to be. Another
    // test process may hold the lock on /etc/shadow for a moment: try a few times.
    let mut ok = false;
    for attempt in 0..20 {
        let mut chpasswd = Command::new("chpasswd")
            .stdin(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("chpasswd (run the tests as root, as scripts/test does)");
        std::io::Write::write_all(
            &mut chpasswd.stdin.take().unwrap(),
            format!("{USER}:{PASSWORD}\n").as_bytes(),
        )
        .unwrap();
        if chpasswd.wait().unwrap().success() {
            ok = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50 * (attempt + 1)));
    }
    assert!(ok, "setting the test user's password failed");
    home
}

static N: AtomicUsize = AtomicUsize::new(0);

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Sshd {
    /// Start one.
    pub fn start() -> Sshd {
        let sshd = Path::new("/usr/sbin/sshd");
        assert!(
            sshd.exists(),
            "/usr/sbin/sshd is missing: install openssh-server (scripts/test does)"
        );
        let home = ensure_user();
        std::fs::create_dir_all("/run/sshd").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        run(Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(d.join("host_key")));
        run(Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(d.join("client_key")));
        std::fs::copy(d.join("client_key.pub"), d.join("authorized_keys")).unwrap();
        let port = free_port();
        std::fs::write(
            d.join("sshd_config"),
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {}\nPidFile {}\nAuthorizedKeysFile {}\nStrictModes no\n\
                 PasswordAuthentication yes\nKbdInteractiveAuthentication no\nUsePAM no\nPubkeyAuthentication yes\n\
                 Subsystem sftp internal-sftp\nLogLevel ERROR\n",
                d.join("host_key").display(),
                d.join("sshd.pid").display(),
                d.join("authorized_keys").display()
            ),
        )
        .unwrap();
        let child = Command::new(sshd)
            .args(["-D", "-e", "-f"])
            .arg(d.join("sshd_config"))
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "sshd did not start on port {port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let relative = format!(
            "irp-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let files = home.join(&relative);
        std::fs::create_dir_all(files.join("Outbound")).unwrap();
        Sshd {
            child,
            port,
            dir,
            files,
            relative,
        }
    }

    /// The host key fingerprint, as `ssh-keygen -l` prints it.
    pub fn host_fingerprint(&self) -> String {
        let out = Command::new("ssh-keygen")
            .arg("-lf")
            .arg(self.dir.path().join("host_key.pub"))
            .output()
            .unwrap();
        String::from_utf8(out.stdout)
            .unwrap()
            .split_whitespace()
            .nth(1)
            .unwrap()
            .to_owned()
    }

    /// A private key the server accepts for the user.
    pub fn client_key(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("client_key")).unwrap()
    }

    /// Put a file in `Outbound/`; returns its SFTP path.
    pub fn write(&self, name: &str, content: &[u8]) -> String {
        std::fs::write(self.files.join("Outbound").join(name), content).unwrap();
        format!("{}/Outbound/{name}", self.relative)
    }

    /// Keep appending `line` to `name` (as [`Sshd::write`] names it) every 5 ms until the
    /// returned guard is dropped: a feed the refurbisher is still writing.
    pub fn keep_appending(&self, name: &str, line: &'static [u8]) -> Appending {
        use std::io::Write as _;
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(self.files.join("Outbound").join(name))
            .unwrap();
        let writer = std::thread::spawn({
            let stop = Arc::clone(&stop);
            move || {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    f.write_all(line).unwrap();
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
            }
        });
        Appending {
            stop,
            writer: Some(writer),
        }
    }

    /// The FlexIT refurbisher document (the seed's values), its offers pointed at this server;
    /// `login` holds the auth keys to add (`"password": …` or `"private_key": …`).
    pub fn flexit_document(&self, path: &str, login: &str) -> String {
        format!(
            r#"{{ "flexit": {{ "refurbisher_id": 15, "supplier_id": 10, "default_margin": 17, "shipping_costs": "10.00",
"home_copy_tax": "3.18", "stock_threshold": 1, "approved_refurbished": true, "offers": {{
"connection": "sftp",
"auth": {{ "host": "127.0.0.1", "port": {}, "path": "{path}", "username": "{USER}", {login} }},
"type": "csv", "separator": ";", "heading": true, "price_locale": "nl_NL",
"mapping": {{ "name": "Description", "sku": "Flex IT Part Number", "stock_available": "Stock Quantity", "ean": "EAN",
  "price_purchase_amount": "Sales Price", "price_consumer_amount": "SRP" }} }} }} }}"#,
            self.port
        )
    }

    /// The FlexIT seed's offers block, pointed at this server.
    pub fn flexit(&self, path: &str, login: &str) -> OffersConfig {
        let d = parse_document(&self.flexit_document(path, login));
        assert!(d.is_ok(), "{:?}", d.diagnostics);
        d.refurbishers.into_iter().next().unwrap().offers.unwrap()
    }
}

/// Appends to a served file until dropped (see [`Sshd::keep_appending`]).
pub struct Appending {
    stop: Arc<std::sync::atomic::AtomicBool>,
    writer: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Appending {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(w) = self.writer.take()
            && let Err(panic) = w.join()
            && !std::thread::panicking()
        {
            std::panic::resume_unwind(panic);
        }
    }
}
