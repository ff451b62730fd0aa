//! SFTP feeds against a real OpenSSH server (Debian's openssh-server), started by each test on a
//! free loopback port (see `irp_testkit::sshd`).

#![allow(clippy::unwrap_used)] // a panic is how a test fails

use irp_clients::sftp::fetch;
use irp_testkit::sshd::{PASSWORD, Sshd, USER};

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
    let appending = sshd.keep_appending(
        "FlexIT_Feed.csv",
        b"FLX-late;Late;1;0194252707234;1,00;2,00\r\n",
    );
    let dest = sshd.dir.path().join("got.csv");
    let err = fetch(
        &sshd.flexit(&path, &format!(r#""password": "{PASSWORD}""#)),
        &dest,
        None,
    )
    .await
    .unwrap_err();
    drop(appending);
    assert!(
        err.to_string().contains("changed while it was read"),
        "{err}"
    );
}
