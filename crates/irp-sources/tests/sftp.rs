//! SFTP feeds against a real OpenSSH server (Debian's openssh-server), started by the test on a
//! free loopback port with its own config, host key and authorized key. The login user
//! `irptest` (password `irptest-pw`) is created when missing; `scripts/test` does the same.

#![allow(clippy::unwrap_used)] // a panic is how a test fails

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use irp_core::config::{model::OffersConfig, parse_document};
use irp_sources::sftp::fetch;

const USER: &str = "irptest";
const PASSWORD: &str = "irptest-pw";

struct Sshd {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
    /// Directory inside the user's home for this test's files, and its path relative to home.
    files: PathBuf,
    relative: String,
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
    let exists = Command::new("id")
        .arg(USER)
        .output()
        .is_ok_and(|o| o.status.success());
    if !exists {
        run(Command::new("useradd").args(["-m", "-s", "/bin/sh", USER]));
    }
    // (Re)set the password every time: cheap, and makes the test independent of how the user came to be.
    let mut chpasswd = Command::new("chpasswd")
        .stdin(Stdio::piped())
        .spawn()
        .expect("chpasswd (run the tests as root, or via scripts/test)");
    std::io::Write::write_all(
        &mut chpasswd.stdin.take().unwrap(),
        format!("{USER}:{PASSWORD}\n").as_bytes(),
    )
    .unwrap();
    assert!(
        chpasswd.wait().unwrap().success(),
        "setting the test user's password failed"
    );
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
    fn start() -> Sshd {
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

    fn host_fingerprint(&self) -> String {
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

    fn client_key(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("client_key")).unwrap()
    }

    fn write(&self, name: &str, content: &[u8]) -> String {
        std::fs::write(self.files.join("Outbound").join(name), content).unwrap();
        format!("{}/Outbound/{name}", self.relative)
    }

    /// The FlexIT seed's offers block, pointed at this server.
    fn flexit(&self, path: &str, login: &str) -> OffersConfig {
        let doc = format!(
            r#"{{ "flexit": {{ "default_margin": 17, "offers": {{
"connection": "sftp",
"auth": {{ "host": "127.0.0.1", "port": {}, "path": "{path}", "username": "{USER}", {login} }},
"type": "csv", "separator": ";", "heading": true, "price_locale": "nl_NL",
"mapping": {{ "name": "Description", "sku": "Flex IT Part Number", "stock_available": "Stock Quantity", "ean": "EAN",
  "price_purchase_amount": "Sales Price", "price_consumer_amount": "SRP" }} }} }} }}"#,
            self.port
        );
        let d = parse_document(&doc);
        assert!(d.is_ok(), "{:?}", d.diagnostics);
        d.refurbishers.into_iter().next().unwrap().offers.unwrap()
    }
}

const FEED: &str = "Flex IT Part Number;Description;Stock Quantity;EAN;Sales Price;SRP\r\nFLX-1;iPhone 13;5;0194252707234;1.234,56;1.499,00\r\n";

#[tokio::test]
async fn a_feed_is_downloaded_with_a_password_and_its_host_key_recorded() {
    let sshd = Sshd::start();
    let path = sshd.write("FlexIT_Feed.csv", FEED.as_bytes());
    let dest = sshd.dir.path().join("got.csv");
    let got = fetch(
        &sshd.flexit(&path, &format!(r#""password": "{PASSWORD}""#)),
        &dest,
        None,
    )
    .await
    .unwrap();
    assert_eq!(std::fs::read_to_string(&dest).unwrap(), FEED);
    assert_eq!(got.record.bytes, FEED.len() as u64);
    assert_eq!(got.fingerprint, sshd.host_fingerprint());

    // With the recorded key it connects again; with another one it refuses.
    fetch(
        &sshd.flexit(&path, &format!(r#""password": "{PASSWORD}""#)),
        &dest,
        Some(&got.fingerprint),
    )
    .await
    .unwrap();
    let wrong = "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    let err = fetch(
        &sshd.flexit(&path, &format!(r#""password": "{PASSWORD}""#)),
        &dest,
        Some(wrong),
    )
    .await
    .unwrap_err();
    assert!(
        err.to_string()
            .contains(&format!("is {}, but {wrong} is pinned", got.fingerprint)),
        "{err}"
    );
}

#[tokio::test]
async fn a_pinned_host_key_in_the_config_is_checked() {
    let sshd = Sshd::start();
    let path = sshd.write("FlexIT_Feed.csv", FEED.as_bytes());
    let dest = sshd.dir.path().join("got.csv");
    let pinned = format!(
        r#""password": "{PASSWORD}", "host_key_fingerprint": "{}""#,
        sshd.host_fingerprint()
    );
    fetch(&sshd.flexit(&path, &pinned), &dest, None)
        .await
        .unwrap();
    let other = format!(
        r#""password": "{PASSWORD}", "host_key_fingerprint": "SHA256:BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB""#
    );
    let err = fetch(&sshd.flexit(&path, &other), &dest, None)
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains(
            "is pinned; if the server's key really changed, update `host_key_fingerprint`"
        ),
        "{err}"
    );
}

#[tokio::test]
async fn a_private_key_logs_in() {
    let sshd = Sshd::start();
    let path = sshd.write("FlexIT_Feed.csv", FEED.as_bytes());
    let dest = sshd.dir.path().join("got.csv");
    let key = serde_json::to_string(&sshd.client_key()).unwrap();
    fetch(
        &sshd.flexit(&path, &format!(r#""private_key": {key}"#)),
        &dest,
        None,
    )
    .await
    .unwrap();
    assert_eq!(std::fs::read_to_string(&dest).unwrap(), FEED);
}

#[tokio::test]
async fn a_wrong_password_and_a_missing_file_are_named() {
    let sshd = Sshd::start();
    let path = sshd.write("FlexIT_Feed.csv", FEED.as_bytes());
    let dest = sshd.dir.path().join("got.csv");
    let err = fetch(&sshd.flexit(&path, r#""password": "wrong""#), &dest, None)
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("127.0.0.1:{} refused the login of `{USER}`", sshd.port)
    );
    assert!(!err.to_string().contains("wrong\""));
    let missing = format!("{}/Outbound/Nope.csv", sshd.relative);
    let err = fetch(
        &sshd.flexit(&missing, &format!(r#""password": "{PASSWORD}""#)),
        &dest,
        None,
    )
    .await
    .unwrap_err();
    assert!(
        err.to_string()
            .starts_with(&format!("`{missing}` on 127.0.0.1:{}", sshd.port)),
        "{err}"
    );
}

#[tokio::test]
async fn a_file_still_growing_on_the_server_is_not_taken() {
    let sshd = Sshd::start();
    let mut big = FEED.as_bytes().to_vec();
    for i in 0..300_000 {
        big.extend_from_slice(
            format!("FLX-{i};Device {i};1;0194252707234;1,00;2,00\r\n").as_bytes(),
        );
    }
    let path = sshd.write("FlexIT_Feed.csv", &big);
    let local = sshd.files.join("Outbound").join("FlexIT_Feed.csv");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            use std::io::Write as _;
            let mut f = std::fs::OpenOptions::new()
                .append(true)
                .open(local)
                .unwrap();
            while !stop.load(Ordering::Relaxed) {
                f.write_all(b"FLX-late;Late;1;0194252707234;1,00;2,00\r\n")
                    .unwrap();
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };
    let dest = sshd.dir.path().join("got.csv");
    let err = fetch(
        &sshd.flexit(&path, &format!(r#""password": "{PASSWORD}""#)),
        &dest,
        None,
    )
    .await
    .unwrap_err();
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    assert!(
        err.to_string().contains("changed while it was read"),
        "{err}"
    );
}
