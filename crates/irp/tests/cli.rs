//! The `irp` binary, black-box: each test runs the real executable against a fresh database.
//! Tests that touch the database run once on SQLite and once on PostgreSQL.

#![allow(clippy::unwrap_used)] // a panic is how a test fails

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use irp_store::db_tests;
use irp_store::testkit::TestDb;
use serde_json::Value;

mod common;
use common::{Irp, eventually, login_cookie, root, start_serve, stderr, stdout};

/// An Irp on a SQLite file that does not exist yet (config check needs no database).
fn no_db() -> Irp {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("absent.db").display());
    let mut irp = Irp::new(&url);
    irp.data = dir;
    irp
}

#[test]
fn config_check_passes_the_shipped_configs_with_the_151_warning() {
    let out = no_db().run(&[
        "config",
        "check",
        "config/refurbishers/flexit.json",
        "config/refurbishers/iused-stores.json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let text = text
        .lines()
        .filter(|l| !l.starts_with("note:"))
        .collect::<Vec<_>>()
        .join("\n");
    insta::assert_snapshot!(text, @"
    config/refurbishers/iused-stores.json:20:7: warning: iused-alumio.monitoring.offers_endpoint_http_status: 151 is an informational HTTP status, never the final answer of a feed request, so this threshold would always alert
        help: the offers endpoint is expected to answer 200
    2 files, 2 refurbishers: 0 errors, 1 warning
    ");
}

#[test]
fn config_check_accepts_the_seed_blocks_verbatim_with_credential_warnings() {
    let out = no_db().run(&[
        "config",
        "check",
        "crates/irp-core/tests/fixtures/seed-flexit.json",
        "crates/irp-core/tests/fixtures/seed-iused-alumio.json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let text = stdout(&out);
    for field in [
        "flexit.offers.auth.password",
        "flexit.order.auth.client_id",
        "flexit.order.auth.client_secret",
        "iused-alumio.offers.auth.token",
    ] {
        assert!(
            text.contains(&format!("warning: {field}: `")),
            "no warning for {field} in:\n{text}"
        );
    }
    assert!(text.contains("irp secret set flexit.offers.auth.password"));
    assert!(
        text.ends_with("2 files, 2 refurbishers: 0 errors, 6 warnings\n"),
        "{text}"
    );
}

#[test]
fn config_check_fails_a_broken_document_naming_every_error_and_reports_json() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("broken.json");
    std::fs::write(
        &file,
        r#"{ "acme": { "currency": "EURO", "offers": { "connection": "web", "endpoint": "https://x", "type": "jsn",
             "mapping": { "sku": "id" } }, "order": { "connection": "web", "endpoint": "https://x/o",
             "order_object": { "lines": "%ITEMS%" } } } }"#,
    )
    .unwrap();
    let irp = no_db();
    let out = irp.run(&["config", "check", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    let file_name = file.display().to_string();
    for needle in [
        "acme.currency: unknown currency \"EURO\"",
        "acme.offers.type: unknown feed type \"jsn\"",
        "did you mean `json`?",
        "acme.offers.mapping: the mapping does not name a source for `name`, `ean`, `stock_available`, `price_purchase_amount`, `price_consumer_amount`",
        "acme.order.order_object: `%ITEMS%` is used, but there is no `item_object`",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
    assert!(
        text.lines()
            .filter(|l| l.contains(": error: "))
            .all(|l| l.starts_with(&format!("{file_name}:1:"))
                || l.starts_with(&format!("{file_name}:2:"))
                || l.starts_with(&format!("{file_name}:3:"))),
        "{text}"
    );

    let out = irp.run(&["config", "check", "--json", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["ok"], false);
    assert_eq!(v["files"][0]["errors"], 4);
    let currency = v["files"][0]["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["path"] == "acme.currency")
        .unwrap();
    assert_eq!(currency["severity"], "error");
    assert_eq!(currency["position"]["line"], 1);
    assert_eq!(currency["position"]["column"], 13);
}

#[test]
fn config_check_of_a_missing_file_names_it() {
    let out = no_db().run(&["config", "check", "nope.json"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).starts_with("error: reading nope.json: No such file"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn an_unsupported_database_url_lists_the_allowed_schemes() {
    let out = Irp::new("mysql://localhost/irp").run(&["migrate"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out).trim(),
        "error: unsupported database URL scheme in mysql://localhost/irp: expected sqlite:PATH, postgres://… or postgresql://…"
    );
}

db_tests!(
    apply_show_apply_round_trips_through_the_cli,
    a_document_with_errors_applies_nothing,
    secret_values_never_appear_in_any_output,
    serve_answers_health_metrics_and_home_and_stops_on_sigterm,
    a_feed_file_is_previewed_imported_and_listed,
    a_running_import_shows_where_it_stands_to_the_api_the_portal_and_the_cli,
    imports_killed_at_random_moments_never_leave_the_offers_stale,
    products_show_every_offer_ranked_and_held_prices_wait_for_an_operator,
    pim_apply_sync_show_and_products_carry_the_pim_data,
    orders_come_in_by_the_api_and_are_placed_once_across_crashes,
    a_refurbisher_posts_shipments_to_its_webhook_url_and_the_monitor_reports,
    an_operator_logs_in_and_out_and_failed_logins_are_throttled,
    two_storefronts_get_prices_send_orders_and_show_tracking,
    a_flexit_order_becomes_one_odoo_purchase_order_shown_on_the_order,
    a_name_fixed_in_the_pim_reaches_both_storefronts,
);

/// Seed 003's "synchronizes enriched product data to both Shopware instances", through the
/// binary: Ergonode has a product; after `irp pim sync` and `irp channel sync` both shops show
/// its PIM name and EAN (each channel owns them), Econocom's description (which it keeps) is
/// left alone while Refurbished Direct gets the PIM's; a name fixed in Ergonode reaches both
/// after the next sync, and nothing else is sent again.
async fn a_name_fixed_in_the_pim_reaches_both_storefronts(db: TestDb) {
    use irp_testkit::fake_ergonode::{FakeErgonode, FakeProduct, FakeValue};
    use irp_testkit::fake_shopware::{FakeShopware, FakeShopwareConfig};
    const EAN: &str = "0194252707227";
    let ergonode = FakeErgonode::start("ergo-7f3a9c").await;
    let product = |name: &str| {
        FakeProduct::simple(
            "IPH13-128",
            &["smartphones"],
            vec![
                FakeValue::local("name", &[("nl_NL", name)]),
                FakeValue::text("ean", EAN),
                FakeValue::text("description", "Refurbished, like new"),
            ],
        )
    };
    ergonode.put(product("iPhone 13 128 GB zwart"));
    let irp = std::sync::Arc::new(Irp::new(&db.url));
    let rd = FakeShopware::start(FakeShopwareConfig::default()).await;
    let eco = FakeShopware::start(FakeShopwareConfig {
        client_id: "SWIAECONOCOM00000000000001".into(),
        client_secret: "econocom-secret".into(),
        ..FakeShopwareConfig::default()
    })
    .await;
    rd.add_product(EAN, "", 0, 1.0);
    eco.add_product(&format!("ECO-{EAN}"), "", 0, 1.0);
    let defaults = FakeShopwareConfig::default();
    for (name, value) in [
        ("pim.api_key", "ergo-7f3a9c"),
        (
            "channel.refurbished-direct.client_id",
            defaults.client_id.as_str(),
        ),
        (
            "channel.refurbished-direct.client_secret",
            defaults.client_secret.as_str(),
        ),
        ("channel.econocom.client_id", "SWIAECONOCOM00000000000001"),
        ("channel.econocom.client_secret", "econocom-secret"),
    ] {
        let out = irp.run_with_stdin(&["secret", "set", name], value);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let pim = irp.data.path().join("pim.json");
    std::fs::write(
        &pim,
        std::fs::read_to_string(root().join("config/pim.json"))
            .unwrap()
            .replace(
                "https://refurbished.ergonode.app/api/graphql/",
                &ergonode.url,
            ),
    )
    .unwrap();
    let channels = serde_json::json!({"channels": {
        "refurbished-direct": {"name": "Refurbished Direct", "shopware": {
            "url": rd.url, "client_id": "${secret:channel.refurbished-direct.client_id}",
            "client_secret": "${secret:channel.refurbished-direct.client_secret}",
            "content": {"fields": ["name", "description", "ean"], "description_attribute": "description"}}},
        "econocom": {"name": "Econocom", "shopware": {
            "url": eco.url, "client_id": "${secret:channel.econocom.client_id}",
            "client_secret": "${secret:channel.econocom.client_secret}",
            "product_number_prefix": "ECO-", "content": {"fields": ["name", "ean"]}}}
    }});
    let channels_path = irp.data.path().join("channels.json");
    std::fs::write(&channels_path, channels.to_string()).unwrap();
    let feed = irp.data.path().join("flexit.csv");
    std::fs::write(
        &feed,
        format!("Flex IT Part Number;Description;Stock Quantity;EAN;Sales Price;SRP\nFLX-A;Apple iPhone 13;5;{EAN};400,00;999,00\n"),
    )
    .unwrap();
    for args in [
        vec![
            "refurbisher",
            "apply",
            "-f",
            "config/refurbishers/flexit.json",
        ],
        vec!["channel", "apply", "-f", channels_path.to_str().unwrap()],
        vec!["pim", "apply", "-f", pim.to_str().unwrap()],
        vec!["feed", "import", "flexit", "--file", feed.to_str().unwrap()],
    ] {
        let out = run_async(&irp, &args).await;
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    }
    let out = run_async(&irp, &["pim", "sync"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    // Before the sync: the content waits.
    let out = run_async(&irp, &["channel", "status", "econocom"]).await;
    assert!(
        stdout(&out).contains("econocom: content of 1 product(s) waiting"),
        "{}",
        stdout(&out)
    );
    for key in ["refurbished-direct", "econocom"] {
        let out = run_async(&irp, &["channel", "sync", key]).await;
        assert!(out.status.success(), "{key}: {}", stderr(&out));
        assert!(
            stdout(&out).contains("content: 1 product(s) checked, 1 pushed"),
            "{key}: {}",
            stdout(&out)
        );
    }
    let rd_product = rd.product(EAN).unwrap();
    assert_eq!(rd_product["name"], "iPhone 13 128 GB zwart");
    assert_eq!(rd_product["ean"], EAN);
    assert_eq!(rd_product["description"], "Refurbished, like new");
    let eco_product = eco.product(&format!("ECO-{EAN}")).unwrap();
    assert_eq!(eco_product["name"], "iPhone 13 128 GB zwart");
    assert_eq!(eco_product["ean"], EAN);
    assert!(
        eco_product["description"].is_null(),
        "Econocom keeps its own descriptions: {eco_product}"
    );

    // The name fixed in Ergonode: after the next PIM sync it reaches both shops.
    ergonode.put(product("iPhone 13 128 GB Midnight"));
    let out = run_async(&irp, &["pim", "sync"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    for key in ["refurbished-direct", "econocom"] {
        let out = run_async(&irp, &["channel", "sync", key, "--content"]).await;
        assert!(
            stdout(&out).contains("content: 1 product(s) checked, 1 pushed"),
            "{key}: {}",
            stdout(&out)
        );
    }
    assert_eq!(
        rd.product(EAN).unwrap()["name"],
        "iPhone 13 128 GB Midnight"
    );
    assert_eq!(
        eco.product(&format!("ECO-{EAN}")).unwrap()["name"],
        "iPhone 13 128 GB Midnight"
    );
    // Nothing changed since: nothing checked, nothing sent.
    let out = run_async(&irp, &["channel", "sync", "econocom", "--content"]).await;
    assert!(
        stdout(&out).contains("content: 0 product(s) checked, 0 pushed"),
        "{}",
        stdout(&out)
    );
}

/// Two instances on one PostgreSQL: `irp status` lists both and the monitor's lease held by
/// one; stopped with SIGTERM, that one releases it at once and the other takes it over well
/// before the lease (2 ticks + 10 s) would have run out.
#[tokio::test]
async fn instances_show_in_irp_status_and_a_stopping_one_hands_its_work_over() {
    let db = TestDb::new(irp_store::Backend::Postgres).await;
    let irp = Irp::new(&db.url);
    let mut serves = [
        start_serve(&irp, &["--monitor-tick-secs", "1"], &[]),
        start_serve(&irp, &["--monitor-tick-secs", "1"], &[]),
    ];
    let client = reqwest::Client::new();
    let mut ids = Vec::new();
    for s in &serves {
        let v: Value = client
            .get(format!("{}/healthz", s.base()))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        ids.push(v["instance"].as_str().unwrap().to_owned());
    }
    assert_ne!(ids[0], ids[1]);
    let status = || -> Value {
        let out = irp.run(&["status", "--json"]);
        assert!(out.status.success(), "{}", stderr(&out));
        serde_json::from_str(&stdout(&out)).unwrap()
    };
    let monitor_holder = |v: &Value| -> Option<String> {
        v["claims"].as_array().unwrap().iter().find_map(|c| {
            (c["kind"] == "job" && c["what"] == "monitor")
                .then(|| c["instance"].as_str().unwrap().to_owned())
        })
    };
    // Both say they are alive; one holds the monitor's lease.
    let holder = eventually(
        Duration::from_secs(20),
        "both instances and the monitor lease",
        || {
            let v = status();
            let running: Vec<String> = v["instances"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["instance"].as_str().unwrap().to_owned())
                .collect();
            (running.len() == 2).then_some(())?;
            monitor_holder(&v)
        },
    )
    .await;
    assert!(ids.contains(&holder), "{holder} is not one of {ids:?}");
    let text = stdout(&irp.run(&["status"]));
    assert!(
        text.contains("Instances on this database (postgres)"),
        "{text}"
    );
    assert!(text.contains(&holder) && text.contains("monitor"), "{text}");

    // The holder stops gracefully: it leaves, and the other takes the lease at its next tick.
    let i = ids.iter().position(|id| *id == holder).unwrap();
    let stopped = Instant::now();
    assert!(
        Command::new("kill")
            .args(["-TERM", &serves[i].id().to_string()])
            .status()
            .unwrap()
            .success()
    );
    assert!(serves[i].wait().unwrap().success());
    assert!(
        serves[i].log_text().contains("Left: claims released"),
        "{}",
        serves[i].log_text()
    );
    let other = ids[1 - i].clone();
    eventually(
        Duration::from_secs(20),
        "the other instance taking the lease",
        || (monitor_holder(&status()).as_deref() == Some(other.as_str())).then_some(()),
    )
    .await;
    let took = stopped.elapsed();
    assert!(
        took < Duration::from_secs(8),
        "the lease was taken over after {took:?}: released on leaving, it is taken at the next tick"
    );
    let v = status();
    let running: Vec<&str> = v["instances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["instance"].as_str().unwrap())
        .collect();
    assert_eq!(running, [other.as_str()]);
}

/// A rolling deploy on PostgreSQL: three instances take orders while each in turn is stopped
/// with SIGTERM (a load balancer sends the next request elsewhere) and started again. Every
/// order is taken in and placed at the refurbisher exactly once; none waits for a lease to run
/// out (a stopping instance finishes its calls and releases its claims).
#[tokio::test]
async fn a_rolling_restart_of_three_instances_while_orders_flow_loses_nothing() {
    const ORDERS: usize = 90;
    let db = TestDb::new(irp_store::Backend::Postgres).await;
    let irp = Irp::new(&db.url);
    let fake = FakeOrderApi::start();
    // Each call takes 300 ms: calls are under way when an instance is told to stop.
    fake.delay_ms
        .store(300, std::sync::atomic::Ordering::SeqCst);
    let doc = std::fs::read_to_string(root().join("config/refurbishers/flexit.json"))
        .unwrap()
        .replace(
            "https://api.flexitdistribution.com/order/api/order",
            &fake.url,
        );
    let doc_path = irp.data.path().join("flexit.json");
    std::fs::write(&doc_path, doc).unwrap();
    let feed = irp.data.path().join("flexit.csv");
    std::fs::write(&feed, "Flex IT Part Number;Description;Stock Quantity;EAN;Sales Price;SRP\nFLX-A;Apple iPhone 13;1000;8712345678906;100,00;999,00\n").unwrap();
    for args in [
        vec!["refurbisher", "apply", "-f", doc_path.to_str().unwrap()],
        vec!["channel", "apply", "-f", "config/channels.json"],
        vec!["feed", "import", "flexit", "--file", feed.to_str().unwrap()],
    ] {
        let out = irp.run(&args);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    }
    for (name, value) in [
        ("flexit.order.auth.client_id", "order-id"),
        ("flexit.order.auth.client_secret", "order-secret"),
    ] {
        let out = irp.run_with_stdin(&["secret", "set", name], value);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let token = stdout(&irp.run(&["token", "create", "shop"]))
        .trim()
        .to_owned();
    let mut serves: Vec<common::Serve> = (0..3).map(|_| start_serve(&irp, &[], &[])).collect();
    let bases = std::sync::Arc::new(std::sync::Mutex::new(
        serves.iter().map(common::Serve::base).collect::<Vec<_>>(),
    ));

    // The shop: an order every 150 ms, each to the next instance; one that cannot be reached
    // (stopping) is sent to the next, as a load balancer does.
    let shop = {
        let (bases, token) = (bases.clone(), token.clone());
        tokio::spawn(async move {
            let client = reqwest::Client::new();
            let mut sent = 0;
            for i in 0..ORDERS {
                let mut tries = 0;
                loop {
                    let base = {
                        let b = bases.lock().unwrap();
                        b[(i + tries) % b.len()].clone()
                    };
                    let r = client
                        .post(format!("{base}/api/v1/orders"))
                        .bearer_auth(&token)
                        .json(&order_doc(&format!("RR-{i}")))
                        .send()
                        .await;
                    match r {
                        Ok(r) if r.status() == 201 => break,
                        Ok(r) => panic!("order RR-{i}: {} {}", r.status(), r.text().await.unwrap()),
                        Err(_) => {
                            tries += 1;
                            assert!(tries < 50, "order RR-{i} reached no instance");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                    }
                }
                sent += 1;
                tokio::time::sleep(Duration::from_millis(150)).await;
            }
            sent
        })
    };

    // The roll: each instance in turn drained (SIGTERM, exit 0) and replaced by a new one.
    for (i, serve) in serves.iter_mut().enumerate() {
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert!(
            Command::new("kill")
                .args(["-TERM", &serve.id().to_string()])
                .status()
                .unwrap()
                .success()
        );
        let stopped = serve.wait().unwrap();
        assert!(
            stopped.success(),
            "instance {i} exited with {stopped}:\n{}",
            serve.log_text()
        );
        assert!(serve.log_text().contains("Left: claims released"));
        *serve = start_serve(&irp, &[], &[]);
        bases.lock().unwrap()[i] = serve.base();
    }
    let sent = shop.await.unwrap();
    assert_eq!(sent, ORDERS);

    // Every order placed once, soon (no lease had to run out).
    eventually(Duration::from_secs(20), "every order placed", || {
        let seen = fake.seen.lock().unwrap().len();
        (seen >= ORDERS).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    for i in 0..ORDERS {
        assert_eq!(
            fake.count(&format!("RR-{i}")),
            1,
            "order RR-{i} placed not once"
        );
    }
    let out = irp.run(&["orders", "supplier", "--limit", "1000", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let supplier: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let submitted = supplier
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["status"] == "submitted")
        .count();
    assert_eq!(submitted, ORDERS, "{supplier:#}");
}

async fn apply_show_apply_round_trips_through_the_cli(db: TestDb) {
    let irp = Irp::new(&db.url);
    let files = [
        "refurbisher",
        "apply",
        "-f",
        "config/refurbishers/flexit.json",
        "config/refurbishers/iused-stores.json",
    ];
    let out = irp.run(&files);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("created flexit (refurbisher_id 15)\n"),
        "{text}"
    );
    assert!(text.contains("  + default_margin: \"17\"\n"), "{text}");
    assert!(
        text.contains("created iused-alumio (refurbisher_id 1)\n"),
        "{text}"
    );

    let out = irp.run(&["refurbisher", "show", "flexit", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let shown: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(shown["refurbisher_id"], 15);
    assert_eq!(shown["supplier_id"], 10);
    assert_eq!(shown["odoo_vendor_id"], 21469);
    assert_eq!(shown["offer_connector"], "SFTP · CSV · SFTP credentials");
    assert_eq!(shown["order_connector"], "Web POST · Client credentials");
    assert_eq!(shown["shipment_webhook"], "Not configured");
    let doc = &shown["document"]["flexit"];
    assert_eq!(doc["home_copy_tax"], "3.18");
    assert_eq!(doc["monitoring"]["open_order_days"], 4);
    assert_eq!(
        doc["order"]["order_object"]["shipping.isBlindShip"],
        "!(bool)true"
    );

    // What `show` prints applies back unchanged.
    let dir = tempfile::tempdir().unwrap();
    let shown_file = dir.path().join("shown.json");
    std::fs::write(
        &shown_file,
        serde_json::to_string_pretty(&shown["document"]).unwrap(),
    )
    .unwrap();
    let out = irp.run(&[
        "refurbisher",
        "apply",
        "--json",
        "-f",
        shown_file.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let outcome: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(outcome[0]["action"], "unchanged");

    let out = irp.run(&files);
    assert_eq!(
        stdout(&out),
        "unchanged flexit (refurbisher_id 15)\nunchanged iused-alumio (refurbisher_id 1)\n"
    );

    // A change is reported field by field.
    let changed = std::fs::read_to_string(root().join("config/refurbishers/flexit.json"))
        .unwrap()
        .replace("\"default_margin\": 17", "\"default_margin\": 18");
    let changed_file = dir.path().join("flexit.json");
    std::fs::write(&changed_file, changed).unwrap();
    let out = irp.run(&["refurbisher", "apply", "-f", changed_file.to_str().unwrap()]);
    assert_eq!(
        stdout(&out),
        "updated flexit (refurbisher_id 15)\n  ~ default_margin: \"17\" -> \"18\"\n"
    );

    let out = irp.run(&["refurbisher", "list", "--json"]);
    let list: Value = serde_json::from_slice(&out.stdout).unwrap();
    let keys: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["iused-alumio", "flexit"]);
    assert_eq!(list[1]["version"], 2);

    let out = irp.run(&["refurbisher", "list"]);
    let text = stdout(&out);
    assert!(text.starts_with("ID  KEY"), "{text}");
    assert!(text.contains("Web POST · JSON · Bearer token"), "{text}");

    let out = irp.run(&["refurbisher", "show", "flexi"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out).trim(),
        "error: no refurbisher `flexi`; did you mean `flexit`?"
    );
}

async fn a_document_with_errors_applies_nothing(db: TestDb) {
    let irp = Irp::new(&db.url);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("two.json");
    std::fs::write(
        &file,
        r#"{ "good": { "default_margin": 10 }, "bad": { "stock_threshold": -2 } }"#,
    )
    .unwrap();
    let out = irp.run(&["refurbisher", "apply", "-f", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("bad.stock_threshold: must be between 0 and 1000000, got -2"),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("1 error; nothing was applied"));
    assert!(db.store.refurbishers().list().await.unwrap().is_empty());
}

async fn secret_values_never_appear_in_any_output(db: TestDb) {
    let irp = Irp::new(&db.url);
    let canary = "canary-7Hq2-secret-value";
    let out = irp.run_with_stdin(
        &["secret", "set", "flexit.offers.auth.password"],
        &format!("{canary}\n"),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("created a new secret key in"),
        "{}",
        stderr(&out)
    );
    let mut seen = vec![out];
    let out = irp.run_with_stdin(&["secret", "set", "flexit.offers.auth.password"], canary);
    assert_eq!(
        stdout(&out),
        "replaced secret `flexit.offers.auth.password`\n\
         no stored document sends it anywhere yet: its first use binds it to where that document points (store credentials once their document is in place)\n"
    );
    seen.push(out);
    seen.push(irp.run(&["secret", "list"]));
    seen.push(irp.run(&["secret", "list", "--json"]));
    seen.push(irp.run(&[
        "refurbisher",
        "apply",
        "-f",
        "config/refurbishers/flexit.json",
    ]));
    seen.push(irp.run(&["refurbisher", "show", "flexit"]));
    seen.push(irp.run(&["refurbisher", "show", "flexit", "--json"]));
    seen.push(irp.run(&["config", "check", "config/refurbishers/flexit.json"]));
    for o in &seen {
        assert!(
            !stdout(o).contains(canary) && !stderr(o).contains(canary),
            "the secret leaked:\n{}\n{}",
            stdout(o),
            stderr(o)
        );
    }
    let list: Value = serde_json::from_slice(&seen[3].stdout).unwrap();
    assert_eq!(list[0]["name"], "flexit.offers.auth.password");
    // The stored secret is found by config check; the two order secrets are not.
    let check = stdout(&seen[7]);
    assert!(
        !check.contains("secret `flexit.offers.auth.password` is not in the secret store"),
        "{check}"
    );
    assert!(
        check.contains("secret `flexit.order.auth.client_id` is not in the secret store"),
        "{check}"
    );
    // And it is stored sealed: the value is not in the database either.
    let key = irp_store::secrets::SecretKey::from_base64(
        &std::fs::read_to_string(irp.data.path().join("secret.key")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        db.store
            .secrets()
            .get(&key, "flexit.offers.auth.password")
            .await
            .unwrap()
            .as_deref(),
        Some(canary)
    );
    let out = irp.run_with_stdin(&["secret", "set", "empty"], "");
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("no value on stdin"));
}

async fn serve_answers_health_metrics_and_home_and_stops_on_sigterm(db: TestDb) {
    let irp = Irp::new(&db.url);
    let mut child = irp
        .cmd(&[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--apply",
            "config/refurbishers/flexit.json",
            "config/refurbishers/iused-stores.json",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut startup = Vec::new();
    let addr = loop {
        assert!(Instant::now() < deadline, "serve did not start");
        let line = lines.next().expect("serve exited").unwrap();
        startup.push(line.clone());
        if let Some(i) = line.find("listening on http://") {
            break line[i + "listening on http://".len()..]
                .split('/')
                .next()
                .unwrap()
                .to_owned();
        }
    };
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let health: Value = client
        .get(format!("http://{addr}/healthz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "ok");
    assert_eq!(health["database"], db.store.backend().to_string());

    // Pages need a login: without one, the browser is sent to the form (and back afterwards).
    let home = client
        .get(format!("http://{addr}/refurbishers/flexit"))
        .send()
        .await
        .unwrap();
    assert_eq!(home.status(), 303);
    assert_eq!(
        home.headers()["location"],
        "/login?next=/refurbishers/flexit"
    );
    // A first start made an operator account; its password is in a file only this user can
    // read, never in the log, and the login form says where.
    let file = irp.data.path().join("initial-admin-password");
    let password = std::fs::read_to_string(&file).unwrap().trim().to_owned();
    assert_eq!(password.len(), 32);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    assert!(
        startup.iter().all(|l| !l.contains(&password)),
        "{startup:?}"
    );
    assert!(
        startup.iter().any(|l| l.contains("admin@irp.local")),
        "{startup:?}"
    );
    let form = client
        .get(format!("http://{addr}/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        form.contains("First start: log in as admin@irp.local"),
        "{form}"
    );
    let r = client
        .post(format!("http://{addr}/login"))
        .form(&[
            ("email", "admin@irp.local"),
            ("password", password.as_str()),
            ("next", "/refurbishers/flexit"),
        ])
        .send()
        .await
        .unwrap();
    // The first login asks for a new password first (and then goes on to the page), and the
    // password file has served its purpose.
    assert_eq!(r.status(), 303);
    assert_eq!(
        r.headers()["location"],
        "/account/password?next=/refurbishers/flexit"
    );
    assert!(!file.exists(), "the first start's password file is removed");
    let cookie = r.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let home = client
        .get(format!("http://{addr}/"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(home.status(), 303);
    assert_eq!(home.headers()["location"], "/account/password");
    let form = client
        .get(format!(
            "http://{addr}/account/password?next=/refurbishers/flexit"
        ))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = form
        .split(r#"name="csrf" value=""#)
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let r = client
        .post(format!("http://{addr}/account/password"))
        .header("cookie", &cookie)
        .form(&[
            ("csrf", csrf.as_str()),
            ("current", password.as_str()),
            ("new", "a new password of my own"),
            ("confirm", "a new password of my own"),
            ("next", "/refurbishers/flexit"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/refurbishers/flexit");
    let home = client
        .get(format!("http://{addr}/"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(home.status(), 200);
    assert_eq!(home.headers()["x-frame-options"], "DENY");
    let html = home.text().await.unwrap();
    assert!(
        html.contains("iUsed via Alumio") && html.contains("SFTP · CSV · SFTP credentials"),
        "{html}"
    );
    // Once it has logged in, the login form no longer points at the file.
    let form = client
        .get(format!("http://{addr}/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!form.contains("First start"), "{form}");

    let metrics = client
        .get(format!("http://{addr}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    // Every series carries the instance's id, as /healthz says it.
    let instance = client
        .get(format!("http://{addr}/healthz"))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap()["instance"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        metrics.contains(&format!(
            "irp_refurbishers{{irp_instance=\"{instance}\",state=\"enabled\"}} 2"
        )),
        "{metrics}"
    );
    let metrics = common::without_instance(&metrics);
    assert!(
        metrics.contains(
            "irp_http_requests_total{method=\"GET\",route=\"/healthz\",status=\"200\"} 1"
        ),
        "{metrics}"
    );

    let missing = client
        .get(format!("http://{addr}/nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);

    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = child.wait().unwrap();
    assert!(status.success(), "serve exited with {status}");
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(
        rest.iter()
            .any(|l| l.contains("SIGTERM received, shutting down")),
        "{rest:?}"
    );
}

async fn a_feed_file_is_previewed_imported_and_listed(db: TestDb) {
    let irp = Irp::new(&db.url);
    assert!(
        irp.run(&[
            "refurbisher",
            "apply",
            "-f",
            "config/refurbishers/flexit.json"
        ])
        .status
        .success()
    );
    let dir = tempfile::tempdir().unwrap();
    let feed = dir.path().join("FlexIT_Feed.csv");
    std::fs::write(
        &feed,
        "Flex IT Part Number;Description;Stock Quantity;EAN;Sales Price;SRP\r\n\
         FLX-1;iPhone 13 128GB;5;0194252707234;1.234,56;1.499,00\r\n\
         FLX-2;\"Galaxy; S21\";2;4006381333931;99,5;149\r\n\
         FLX-3;Pixel;1;123;12,50;20,00\r\n",
    )
    .unwrap();
    let file = feed.to_str().unwrap();

    // Without --file the feed is fetched over SFTP, which needs the password from the secret
    // store: without it, the preview says so and the import is a failed run that says so.
    let out = irp.run(&["feed", "preview", "flexit"]);
    assert_eq!(out.status.code(), Some(1));
    let needs_key =
        "flexit.offers.auth.password: ${secret:flexit.offers.auth.password} needs the secret key";
    assert!(stderr(&out).contains(needs_key), "{}", stderr(&out));
    let out = irp.run(&["feed", "import", "flexit"]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    let first: Vec<&str> = text.lines().take(2).collect();
    assert_eq!(first[0], "run 1 of flexit: failed");
    assert!(
        first[1].starts_with(&format!("  cannot fetch the feed: {needs_key}")),
        "{text}"
    );

    let out = irp.run(&["feed", "preview", "flexit", "--file", file]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("3 rows read, 2 accepted, 1 rejected (nothing was written)"),
        "{}",
        stdout(&out)
    );
    assert_eq!(
        db.store.feed_runs().list(15, 10).await.unwrap().len(),
        1,
        "preview writes nothing (the one run is the failed import)"
    );

    let out = irp.run(&["feed", "import", "flexit", "--file", file, "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let rep: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rep["status"], "partial");
    assert_eq!(rep["http_status"], Value::Null);
    assert_eq!(
        (
            rep["rows_read"].as_u64(),
            rep["rows_accepted"].as_u64(),
            rep["rows_rejected"].as_u64()
        ),
        (Some(3), Some(2), Some(1))
    );
    assert_eq!(
        (
            rep["created"].as_i64(),
            rep["updated"].as_i64(),
            rep["unchanged"].as_i64(),
            rep["removed"].as_i64()
        ),
        (Some(2), Some(0), Some(0), Some(0))
    );
    assert_eq!(
        rep["errors"][0],
        serde_json::json!({"row": 4, "field": "ean", "value": "123", "message": "not a valid EAN/GTIN: expected 8, 12, 13 or 14 digits, got 3"})
    );

    let out = irp.run(&["offers", "list", "flexit", "--json"]);
    let offers: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(offers[0]["sku"], "FLX-1");
    assert_eq!(offers[0]["price_purchase_amount"], "1234.56");
    assert_eq!(offers[1]["price_consumer_amount"], "149.00");

    // The selling price explains itself: FlexIT's 17 % margin, €10.00 shipping, €3.18 home copy
    // tax, 21 % VAT (the feed states none), stock threshold 1.
    let out = irp.run(&["offers", "show", "flexit", "FLX-1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        concat!(
            "FLX-1 of flexit: iPhone 13 128GB\n",
            "  EAN 0194252707234\n",
            "  stock 5 − stock_threshold 1 = 4 sellable\n",
            "  selling price incl. VAT: 1766.43 EUR\n",
            "    purchase            1234.56  (feed: price_purchase_amount)\n",
            "    home copy tax          3.18  (refurbisher flexit: home_copy_tax)\n",
            "    shipping                 10  (refurbisher flexit: shipping_costs)\n",
            "    margin %                 17  (refurbisher flexit: default_margin)\n",
            "    VAT %                    21  (refurbisher flexit: default_tax_percentage)\n",
            "    cost                1247.74  = 1234.56 + 3.18 + 10 (purchase + home copy tax + shipping)\n",
            "    excl. VAT         1459.8558  = 1247.74 × (1 + 17%) (margin)\n",
            "    incl. VAT           1766.43  = 1459.8558 × (1 + 21%) (VAT), half-up to 2 decimals\n",
        )
    );
    let out = irp.run(&["offers", "show", "flexit", "FLX-1", "--json"]);
    let shown: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(shown["price"]["incl_vat"], "1766.43");
    assert_eq!(shown["sellable"], 4);
    assert_eq!(
        shown["price"]["inputs"][3]["source"],
        "refurbisher flexit: default_margin"
    );
    let out = irp.run(&["offers", "show", "flexit", "NOPE"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        "error: `flexit` has no offer with SKU \"NOPE\"; see `irp offers list flexit --all`\n"
    );

    let out = irp.run(&["feed", "import", "flexit", "--file", file]);
    assert_eq!(
        stdout(&out).lines().next(),
        Some(
            format!(
                "run {} of flexit: unchanged",
                rep["run_id"].as_i64().unwrap() + 1
            )
            .as_str()
        )
    );

    // A header-only feed is quarantined (exit 1) and applied only on purpose.
    std::fs::write(
        &feed,
        "Flex IT Part Number;Description;Stock Quantity;EAN;Sales Price;SRP\r\n",
    )
    .unwrap();
    let out = irp.run(&["feed", "import", "flexit", "--file", file, "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let rep: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rep["status"], "quarantined");
    assert_eq!(
        db.store
            .offers()
            .list(15, false, 10, 0)
            .await
            .unwrap()
            .len(),
        2
    );
    let run = rep["run_id"].as_i64().unwrap().to_string();
    let out = irp.run(&["feed", "apply", &run]);
    assert_eq!(
        stdout(&out),
        format!(
            "applied run {run}: 0 created, 0 updated, 0 unchanged, 2 removed\n\
             catalog: 2 product(s) recomputed, 2 changed, 0 channel row(s) to push\n"
        )
    );
    assert!(
        db.store
            .offers()
            .list(15, false, 10, 0)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        db.store.monitor().alerts_open(15).await.unwrap().is_empty(),
        "applying resolves the quarantine alert"
    );

    let out = irp.run(&["feed", "runs", "flexit", "--json"]);
    let runs: Value = serde_json::from_slice(&out.stdout).unwrap();
    let statuses: Vec<&str> = runs
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["succeeded", "unchanged", "partial", "failed"]);
}

/// A run that takes a while says where it stands — to the API, the portal and the CLI, all in
/// other processes than the `irp feed import` running it — and says nothing more once it ended.
async fn a_running_import_shows_where_it_stands_to_the_api_the_portal_and_the_cli(db: TestDb) {
    use irp_testkit::hostile::{Answer, Hostile};
    let irp = Irp::new(&db.url).with_env("IRP_ALLOW_PRIVATE_NETWORKS", "127.0.0.0/8,::1/128");
    let release = std::sync::Arc::new(tokio::sync::Notify::new());
    let feed = r#"{"offers":[{"sku":"A-1","name":"iPad 9","ean":"4006381333931","stock":3,"buy":199.95,"sell":329}]}"#;
    let server = Hostile::start({
        let release = release.clone();
        move |_| Answer::Stalled(feed.to_owned(), release.clone())
    });
    let doc = serde_json::json!({"acme": {"name": "Acme", "default_margin": 10, "offers": {
        "connection": "web", "endpoint": server.url("/feed"), "type": "json",
        "offer_location": "offers", "price_locale": "en_US",
        "mapping": {"sku": "sku", "name": "name", "ean": "ean", "stock_available": "stock",
            "price_purchase_amount": "buy", "price_consumer_amount": "sell"}}}});
    let path = irp.data.path().join("acme.json");
    std::fs::write(&path, doc.to_string()).unwrap();
    irp.run_ok(&["refurbisher", "apply", "-f", path.to_str().unwrap()]);
    let token = common::api_token(&irp, "watcher", "viewer");
    common::add_user(&irp, "ops@iused.nl", "correct horse battery", "viewer");
    let serve = start_serve(&irp, &[], &[]);
    let base = serve.base();
    let client = reqwest::Client::new();
    let get_run = || {
        let (client, url, token) = (
            client.clone(),
            format!("{base}/api/v1/runs/1"),
            token.clone(),
        );
        async move {
            let r = client.get(url).bearer_auth(token).send().await.unwrap();
            (r.status(), r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };

    // The download stalls half-way: the run is under way for as long as the test wants.
    let mut import = irp
        .cmd(&["feed", "import", "acme", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let shown = loop {
        let (status, v) = get_run().await;
        if status == reqwest::StatusCode::OK && !v["progress"].is_null() {
            break v;
        }
        assert!(Instant::now() < deadline, "no progress shown: {v}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(shown["run"]["status"], "running", "{shown}");
    assert_eq!(shown["progress"]["phase"], "downloading", "{shown}");
    assert!(shown["progress"]["updated_at"].is_string(), "{shown}");

    let out = irp.run(&["feed", "show", "1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("\n  now downloading (reported "),
        "{}",
        stdout(&out)
    );

    let cookie = login_cookie(&base, "ops@iused.nl", "correct horse battery").await;
    let page = |path: &str| {
        let (client, url, cookie) = (client.clone(), format!("{base}{path}"), cookie.clone());
        async move {
            client
                .get(url)
                .header("cookie", cookie)
                .send()
                .await
                .unwrap()
        }
    };
    let html = page("/runs/1").await.text().await.unwrap();
    assert!(html.contains("<h2>Running now</h2>"), "{html}");
    assert!(html.contains(r#"hx-get="/runs/1/progress""#), "{html}");
    let fragment = page("/runs/1/progress").await;
    assert!(fragment.headers().get("hx-refresh").is_none());
    let text = fragment.text().await.unwrap();
    assert!(
        text.contains(r#"<p id="run-progress-line">downloading</p>"#),
        "{text}"
    );

    release.notify_one();
    let out = tokio::task::spawn_blocking(move || {
        let status = import.wait().unwrap();
        let mut text = String::new();
        std::io::Read::read_to_string(import.stdout.as_mut().unwrap(), &mut text).unwrap();
        (status, text)
    })
    .await
    .unwrap();
    assert!(out.0.success(), "{}", out.1);
    let (_, done) = get_run().await;
    assert_eq!(done["run"]["status"], "succeeded", "{done}");
    assert!(
        done["progress"].is_null(),
        "an ended run shows no progress: {done}"
    );
    // The page's poll, once the run has ended, reloads the page, which shows the report.
    let fragment = page("/runs/1/progress").await;
    assert_eq!(fragment.headers()["hx-refresh"], "true");
    let html = page("/runs/1").await.text().await.unwrap();
    assert!(!html.contains("Running now"), "{html}");
    let out = irp.run(&["feed", "show", "1"]);
    assert!(!stdout(&out).contains("\n  now "), "{}", stdout(&out));
    drop(serve);
}

/// A FlexIT feed of `rows` rows, every 100th purchase price one cent higher when `changed`;
/// the file and what it holds: SKU → (purchase price in cents, stock).
fn flexit_feed(
    dir: &std::path::Path,
    name: &str,
    rows: u64,
    changed: bool,
) -> (
    std::path::PathBuf,
    std::collections::BTreeMap<String, (i64, i64)>,
) {
    use irp_testkit::feeds::{ean, nl_price};
    let mut text =
        String::from("Flex IT Part Number;Description;Stock Quantity;EAN;Sales Price;SRP\r\n");
    let mut snapshot = std::collections::BTreeMap::new();
    for i in 0..rows {
        let cents = 10_000 + (i % 5_000) * 7 + u64::from(changed && i % 100 == 0);
        let stock = 1 + i % 9;
        let sku = format!("FLX-{i:07}");
        text.push_str(&format!(
            "{sku};Device {i};{stock};{};{};{}\r\n",
            ean(i),
            nl_price(cents),
            nl_price(cents * 2)
        ));
        snapshot.insert(
            sku,
            (i64::try_from(cents).unwrap(), i64::try_from(stock).unwrap()),
        );
    }
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    (path, snapshot)
}

/// Imports killed with SIGKILL at random moments (alternating two files that differ in 1 % of
/// their prices) never leave IRP stale: each later clean import of either file leaves exactly
/// that file's offers stored — never an `unchanged` shortcut taken against content the offers
/// were not built from.
async fn imports_killed_at_random_moments_never_leave_the_offers_stale(db: TestDb) {
    let irp = Irp::new(&db.url);
    irp.run_ok(&[
        "refurbisher",
        "apply",
        "-f",
        "config/refurbishers/flexit.json",
    ]);
    let r = db
        .store
        .refurbishers()
        .get("flexit")
        .await
        .unwrap()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    const ROWS: u64 = 10_000;
    let (a, snap_a) = flexit_feed(dir.path(), "a.csv", ROWS, false);
    let (b, snap_b) = flexit_feed(dir.path(), "b.csv", ROWS, true);
    let stored = || async {
        db.store
            .offers()
            .list(r.id, false, i64::try_from(ROWS).unwrap() + 10, 0)
            .await
            .unwrap()
            .into_iter()
            .map(|o| (o.sku, (o.price_purchase_minor, o.stock_available)))
            .collect::<std::collections::BTreeMap<_, _>>()
    };
    let import = |path: &std::path::Path| {
        let out = irp.run(&["feed", "import", "flexit", "--file", path.to_str().unwrap()]);
        assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
        stdout(&out)
    };
    import(&a);
    assert!(stored().await == snap_a, "the first import stores file a");
    let t = Instant::now();
    import(&b);
    let took = t.elapsed();
    assert!(stored().await == snap_b);

    let seed = u64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
            % 1_000_000_007,
    )
    .unwrap();
    let mut rng = seed;
    let mut next = move || {
        rng = rng
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        rng >> 33
    };
    // Each round: the stored offers are file p's; an import of the other file x is killed at
    // a random moment (before, during or after its commit, or not at all); then clean imports
    // of p and of x must each leave exactly that file stored. The dangerous moment is a kill
    // between x's commit and the end of its run: p's content hash is then the latest recorded,
    // while the offers are x's.
    let files = [(&a, &snap_a, "a"), (&b, &snap_b, "b")];
    let mut kills = Vec::new();
    for k in 0..8 {
        let (x, _, x_name) = files[k % 2];
        let (p, snap_p, p_name) = files[(k + 1) % 2];
        let mut child = irp
            .cmd(&["feed", "import", "flexit", "--file", x.to_str().unwrap()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Every other round anywhere from the start to a little past a whole import, the
        // others in its second half, where the commit and the catalog recompute are.
        let whole = u64::try_from(took.as_millis()).unwrap();
        let wait_ms = if k % 4 < 2 {
            next() % (whole * 6 / 5 + 1)
        } else {
            whole / 2 + next() % (whole * 3 / 5 + 1)
        };
        std::thread::sleep(Duration::from_millis(wait_ms));
        child.kill().unwrap();
        child.wait().unwrap();
        kills.push(wait_ms);
        for (file, snapshot, name) in [(p, snap_p, p_name), (x, files[k % 2].1, x_name)] {
            let said = import(file);
            let now = stored().await;
            let differ = snapshot
                .iter()
                .filter(|(sku, v)| now.get(*sku) != Some(v))
                .count();
            assert!(
                differ == 0 && now.len() == snapshot.len(),
                "after a clean import of file {name}, {differ} offer(s) differ from it \
                 ({} stored; seed {seed}, kills after {kills:?} ms, a clean import takes {took:?}); it said: {said}",
                now.len()
            );
        }
    }
    // Every killed run is closed or still running; none claims an outcome it did not apply.
    for run in db.store.feed_runs().list(r.id, 50).await.unwrap() {
        if run.status == irp_core::feed::FeedRunStatus::Succeeded {
            assert!(
                run.applied_at.is_some(),
                "run {} succeeded unapplied",
                run.id
            );
            assert_eq!(
                run.rows_read,
                i64::try_from(ROWS).unwrap(),
                "run {} succeeded without its counts",
                run.id
            );
        }
    }
}

async fn products_show_every_offer_ranked_and_held_prices_wait_for_an_operator(db: TestDb) {
    let irp = Irp::new(&db.url);
    let out = irp.run(&[
        "refurbisher",
        "apply",
        "-f",
        "config/refurbishers/flexit.json",
        "config/refurbishers/iused-stores.json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = irp.run(&["channel", "apply", "-f", "config/channels.json"]);
    assert_eq!(
        stdout(&out),
        "created refurbished-direct\ncreated econocom\n"
    );
    let dir = tempfile::tempdir().unwrap();
    let flexit = dir.path().join("flexit.csv");
    let csv = |price: &str| {
        format!(
            "Flex IT Part Number;Description;Stock Quantity;EAN;Sales Price;SRP\n\
             FLX-1;Galaxy S21;2;4006381333931;{price};100,00\n"
        )
    };
    std::fs::write(&flexit, csv("99,50")).unwrap();
    let iused = dir.path().join("iused.json");
    std::fs::write(
        &iused,
        r#"{"offers":[{"description":"Galaxy S21 (iUsed)","sku":"IU-1","quantity":3,"ean":"4006381333931",
            "costPrice":60.00,"priceConsumer":329,"currencyIso":"EUR","taxPercentage":21}]}"#,
    )
    .unwrap();
    let out = irp.run(&[
        "feed",
        "import",
        "flexit",
        "--file",
        flexit.to_str().unwrap(),
    ]);
    assert!(
        stdout(&out)
            .contains("  catalog: 1 product(s) recomputed, 1 changed, 2 channel row(s) to push"),
        "{}",
        stdout(&out)
    );
    let out = irp.run(&[
        "feed",
        "import",
        "iused-alumio",
        "--file",
        iused.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));

    let out = irp.run(&["products", "list"]);
    assert_eq!(
        stdout(&out),
        "EAN            NAME                BEST OFFER         PRICE INCL. VAT  SELLABLE  OFFERS\n\
         4006381333931  Galaxy S21 (iUsed)  iused-alumio IU-1  155.02 EUR       3         2\n"
    );
    let out = irp.run(&["products", "show", "4006381333931"]);
    assert_eq!(
        stdout(&out),
        "4006381333931  Galaxy S21 (iUsed) (name from the best offer's feed)\n\
         \x20 best offer: iused-alumio IU-1 at 155.02 EUR incl. VAT, 3 sellable\n\
         \n\
         offers (catalog, in EUR):\n\
         REFURBISHER   SKU    PRICE INCL. VAT  SELLABLE  VERDICT\n\
         flexit        FLX-1  159.52 EUR       1         outranked: iused-alumio IU-1 is cheaper (155.02 vs 159.52)\n\
         iused-alumio  IU-1   155.02 EUR       3         best offer\n\
         \x20 note: flexit FLX-1: the feed's consumer price 100.00 EUR excl. VAT is below the selling price 131.84 EUR excl. VAT\n\
         \n\
         channels:\n\
         CHANNEL             BEST OFFER         PRICE INCL. VAT  STOCK  STATE\n\
         econocom            iused-alumio IU-1  155.02 EUR       3      active, revision 2, never pushed\n\
         refurbished-direct  iused-alumio IU-1  155.02 EUR       3      active, revision 2, never pushed\n"
    );
    let out = irp.run(&["products", "show", "4006381333931", "--json"]);
    let shown: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(shown["best_offer"]["refurbisher"], "iused-alumio");
    assert_eq!(shown["offer_list"][0]["verdict"], "outranked");
    assert_eq!(
        shown["offer_list"][0]["consumer_price_below_selling_price"],
        true
    );
    assert_eq!(shown["channels"][0]["stored"]["dirty"], true);
    let out = irp.run(&["products", "show", "1234567890128"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("no product with EAN"),
        "{}",
        stderr(&out)
    );

    // A price ten times too high (a digit too many, or a point taken for a thousands
    // separator): 9.950 is 9,950.00 in nl_NL, and is held.
    std::fs::write(&flexit, csv("9.950")).unwrap();
    let out = irp.run(&[
        "feed",
        "import",
        "flexit",
        "--file",
        flexit.to_str().unwrap(),
    ]);
    assert!(
        stdout(&out).contains(
            "  prices: 1 purchase price change(s) beyond max_price_change_ratio held; see `irp prices held flexit`"
        ),
        "{}",
        stdout(&out)
    );
    let out = irp.run(&["prices", "held", "--json"]);
    let held: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(held[0]["sku"], "FLX-1");
    assert_eq!(held[0]["applied_purchase_price"], "99.50");
    assert_eq!(held[0]["feed_purchase_price"], "9950.00");
    let out = irp.run(&["prices", "reject", "flexit", "FLX-1"]);
    assert_eq!(
        stdout(&out),
        "rejected: flexit FLX-1 keeps the purchase price 99.50 EUR until its feed sends another price than 9950.00 EUR\n"
    );
    let out = irp.run(&["prices", "reject", "flexit", "FLX-1"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        "error: flexit: offer \"FLX-1\" has no pending price change to reject; see `irp prices held flexit --all`\n"
    );
    let out = irp.run(&["prices", "accept", "flexit", "FLX-1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = irp.run(&["offers", "show", "flexit", "FLX-1", "--json"]);
    let shown: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(shown["price_hold"], Value::Null);
    // (9950 + 13.18) × 1.17 × 1.21 = 14,104.87.
    assert_eq!(shown["price"]["incl_vat"], "14104.87");
}

/// Run the binary on a blocking thread, so servers of the test (the fake Ergonode) keep
/// answering meanwhile.
async fn run_async(irp: &std::sync::Arc<Irp>, args: &[&str]) -> Output {
    let irp = irp.clone();
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        irp.run(&args)
    })
    .await
    .unwrap()
}

async fn pim_apply_sync_show_and_products_carry_the_pim_data(db: TestDb) {
    use irp_testkit::fake_ergonode::{FakeErgonode, FakeProduct, FakeValue};
    let fake = FakeErgonode::start("ergo-7f3a9c").await;
    fake.put(FakeProduct::simple(
        "IPH13-128",
        &["smartphones"],
        vec![
            FakeValue::local(
                "name",
                &[("en_GB", "iPhone 13"), ("nl_NL", "iPhone 13 128 GB zwart")],
            ),
            FakeValue::text("ean", "0194252707227"),
            FakeValue::Select {
                code: "brand".into(),
                option: "apple".into(),
                names: vec![("en_GB".into(), "Apple".into())],
            },
            FakeValue::Number {
                code: "storage_gb".into(),
                value: 128.0,
            },
        ],
    ));
    fake.put(FakeProduct::simple("CASE-01", &["accessories"], vec![]));
    let irp = std::sync::Arc::new(Irp::new(&db.url));
    let out = irp.run(&["pim", "sync"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        "error: no PIM source is configured: apply a PIM document with `irp pim apply -f config/pim.json`\n"
    );
    let out = irp.run_with_stdin(&["secret", "set", "pim.api_key"], "ergo-7f3a9c\n");
    assert!(out.status.success(), "{}", stderr(&out));
    let dir = tempfile::tempdir().unwrap();
    let doc = dir.path().join("pim.json");
    std::fs::write(
        &doc,
        std::fs::read_to_string(root().join("config/pim.json"))
            .unwrap()
            .replace("https://refurbished.ergonode.app/api/graphql/", &fake.url),
    )
    .unwrap();
    let doc = doc.to_str().unwrap();
    // A PIM document is not a refurbisher document: said so, nothing applied.
    let out = irp.run(&["refurbisher", "apply", "-f", doc]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        format!("{doc}: a PIM document: apply it with `irp pim apply -f`; nothing was applied\n")
    );
    let out = irp.run(&["pim", "apply", "-f", doc]);
    assert_eq!(
        stdout(&out),
        "created pim source ergonode\nsync now with `irp pim sync`; `irp serve` syncs on its schedule\n"
    );
    let out = irp.run(&["pim", "apply", "-f", doc]);
    assert_eq!(stdout(&out), "unchanged pim source ergonode\n");

    let out = run_async(&irp, &["pim", "sync"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.starts_with("PIM sync partial: 2 read (1 created, 0 updated, 0 unchanged), 1 skipped; 0 deleted in Ergonode; 0 cleared; 2 pages, 2 requests, "),
        "{text}"
    );
    assert!(
        text.contains("    CASE-01: no EAN: the product has no `ean` attribute value and its SKU is not a GTIN\n"),
        "{text}"
    );

    let out = irp.run(&["products", "show", "0194252707227"]);
    let text = stdout(&out);
    assert!(
        text.starts_with("0194252707227  iPhone 13 128 GB zwart (name from the PIM)\n  brand: Apple\n  category: smartphones\n  attributes: storage_gb=128\n  PIM data from "),
        "{text}"
    );

    let out = irp.run(&["pim", "show"]);
    let text = stdout(&out);
    assert!(
        text.contains(&format!(
            "ergonode at {}\n  api_key: ${{secret:pim.api_key}}\n",
            fake.url
        )),
        "{text}"
    );
    assert!(
        text.contains(
            "  fields: ean=ean name=name brand=brand model=model category=(first category)\n"
        ),
        "{text}"
    );
    assert!(text.contains("(partial)"), "{text}");

    // A wrong key: exit 1, said plainly, the key never printed.
    let out = irp.run_with_stdin(&["secret", "set", "pim.api_key"], "wrong-4d2e\n");
    assert!(out.status.success());
    let out = run_async(&irp, &["pim", "sync", "--json"]).await;
    assert_eq!(out.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["status"], "failed");
    assert_eq!(
        report["error"],
        "Ergonode refused the API key (HTTP 401): check `api_key` (System Settings → API keys in Ergonode)"
    );
    let out = irp.run(&["pim", "show", "--json"]);
    let all = format!("{}{}", stdout(&out), stderr(&out));
    assert!(
        !all.contains("wrong-4d2e") && !all.contains("ergo-7f3a9c"),
        "{all}"
    );
}

/// A refurbisher order API on its own thread (the test blocks on processes meanwhile): answers
/// 201 `{"OrderNumber": "SO-<n>"}` after `delay`, records each order's `yourReference` and when
/// it arrived, and tells `arrived` about each.
struct FakeOrderApi {
    url: String,
    seen: std::sync::Arc<std::sync::Mutex<Vec<(String, Instant)>>>,
    delay_ms: std::sync::Arc<std::sync::atomic::AtomicU64>,
    arrived: std::sync::mpsc::Receiver<String>,
}

impl FakeOrderApi {
    fn start() -> FakeOrderApi {
        use std::sync::atomic::{AtomicU64, Ordering};
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let delay_ms = std::sync::Arc::new(AtomicU64::new(0));
        let (tx, arrived) = std::sync::mpsc::channel();
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (seen2, delay2) = (seen.clone(), delay_ms.clone());
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let app = axum::Router::new().route(
                    "/order",
                    axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
                        let (seen, delay, tx) = (seen2.clone(), delay2.clone(), tx.clone());
                        async move {
                            let ok = headers.get("client_secret").and_then(|v| v.to_str().ok())
                                == Some("order-secret");
                            if !ok {
                                return (axum::http::StatusCode::UNAUTHORIZED, "{}".to_owned());
                            }
                            let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
                            let reference = v["yourReference"].as_str().unwrap_or("").to_owned();
                            let n = {
                                let mut s = seen.lock().unwrap();
                                s.push((reference.clone(), Instant::now()));
                                s.len()
                            };
                            let _ = tx.send(reference);
                            let ms = delay.load(Ordering::SeqCst);
                            if ms > 0 {
                                tokio::time::sleep(Duration::from_millis(ms)).await;
                            }
                            (
                                axum::http::StatusCode::CREATED,
                                format!("{{\"OrderNumber\": \"SO-{n}\"}}"),
                            )
                        }
                    }),
                );
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                addr_tx.send(listener.local_addr().unwrap()).unwrap();
                axum::serve(listener, app).await.unwrap();
            });
        });
        let addr = addr_rx.recv().unwrap();
        FakeOrderApi {
            url: format!("http://{addr}/order"),
            seen,
            delay_ms,
            arrived,
        }
    }

    fn count(&self, reference: &str) -> usize {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|(r, _)| r == reference)
            .count()
    }

    fn arrived_at(&self, reference: &str) -> Option<Instant> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .find(|(r, _)| r == reference)
            .map(|(_, t)| *t)
    }
}

fn order_doc(number: &str) -> Value {
    serde_json::json!({
        "channel": "refurbished-direct",
        "order_number": number,
        "placed_at": "2026-11-23T10:00:00Z",
        "customer": {"email": "jan@example.nl"},
        "shipping_address": {"first_name": "Jan", "last_name": "de Vries", "street": "Damrak",
            "house_number": "1", "zipcode": "1012 LG", "city": "Amsterdam", "country": "NL"},
        "lines": [{"ean": "8712345678906", "quantity": 1, "unit_price_incl_vat": "160.23"}]
    })
}

/// The supplier order status of an order, as the API shows it, once it is not `pending` or
/// `submitting` (or after `wait`).
async fn settled_status(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    id: i64,
    wait: Duration,
) -> String {
    let deadline = Instant::now() + wait;
    loop {
        let v: Value = client
            .get(format!("{base}/api/v1/orders/{id}"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let status = v["supplier_orders"][0]["status"]
            .as_str()
            .unwrap_or("")
            .to_owned();
        if !matches!(status.as_str(), "pending" | "submitting") || Instant::now() > deadline {
            return status;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn orders_come_in_by_the_api_and_are_placed_once_across_crashes(db: TestDb) {
    let irp = Irp::new(&db.url);
    let fake = FakeOrderApi::start();
    // FlexIT's seed config, its order endpoint at the fake, calls timing out after 1 s.
    let doc = std::fs::read_to_string(root().join("config/refurbishers/flexit.json"))
        .unwrap()
        .replace(
            "https://api.flexitdistribution.com/order/api/order",
            &fake.url,
        )
        .replace(
            "\"connection\": \"web\",",
            "\"connection\": \"web\", \"timeout_secs\": 1,",
        );
    let doc_path = irp.data.path().join("flexit.json");
    std::fs::write(&doc_path, doc).unwrap();
    let feed = irp.data.path().join("flexit.csv");
    std::fs::write(&feed, "Flex IT Part Number;Description;Stock Quantity;EAN;Sales Price;SRP\nFLX-A;Apple iPhone 13;50;8712345678906;100,00;999,00\n").unwrap();
    for args in [
        vec!["refurbisher", "apply", "-f", doc_path.to_str().unwrap()],
        vec!["channel", "apply", "-f", "config/channels.json"],
        vec!["feed", "import", "flexit", "--file", feed.to_str().unwrap()],
    ] {
        let out = irp.run(&args);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    }
    for (name, value) in [
        ("flexit.order.auth.client_id", "order-id"),
        ("flexit.order.auth.client_secret", "order-secret"),
    ] {
        let out = irp.run_with_stdin(&["secret", "set", name], value);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let out = irp.run(&["token", "create", "shop"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let token = stdout(&out).trim().to_owned();
    assert!(token.starts_with("irp_"), "{token}");

    let mut serve = start_serve(&irp, &[], &[]);
    let addr = serve.addr.clone();
    let base = format!("http://{addr}");
    let client = reqwest::Client::new();

    // No token, a wrong token: 401. A bad document: 422 naming each field.
    let r = client
        .post(format!("{base}/api/v1/orders"))
        .json(&order_doc("X"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = client
        .post(format!("{base}/api/v1/orders"))
        .bearer_auth("irp_nope")
        .json(&order_doc("X"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let mut bad = order_doc("BAD-1");
    bad["shipping_address"]["country"] = serde_json::json!("Nederland");
    bad["lines"][0]["quantity"] = serde_json::json!(-1);
    let r = client
        .post(format!("{base}/api/v1/orders"))
        .bearer_auth(&token)
        .json(&bad)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let v: Value = r.json().await.unwrap();
    let fields: Vec<&str> = v["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        vec!["shipping_address.country", "lines[0].quantity"],
        "{v}"
    );

    // An order by the API is placed at once, exactly once; a repeat changes nothing.
    let posted = Instant::now();
    let r = client
        .post(format!("{base}/api/v1/orders"))
        .bearer_auth(&token)
        .json(&order_doc("RD-1"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let v: Value = r.json().await.unwrap();
    let id = v["order"]["id"].as_i64().unwrap();
    assert_eq!(
        settled_status(&client, &base, &token, id, Duration::from_secs(10)).await,
        "submitted"
    );
    let latency = fake.arrived_at("RD-1").unwrap() - posted;
    assert!(
        latency < Duration::from_secs(1),
        "sent {latency:?} after intake"
    );
    let r = client
        .post(format!("{base}/api/v1/orders"))
        .bearer_auth(&token)
        .json(&order_doc("RD-1"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["created"], false);
    assert_eq!(v["supplier_orders"][0]["external_order_reference"], "SO-1");
    assert_eq!(fake.count("RD-1"), 1);

    // Killed between intake and submission (the order was taken in by a process that is gone
    // before it sent anything): the restarted serve places it, once.
    serve.kill().unwrap();
    serve.wait().unwrap();
    let path = irp.data.path().join("rd-2.json");
    std::fs::write(&path, order_doc("RD-2").to_string()).unwrap();
    let out = irp.run(&["orders", "create", "-f", path.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let mut serve = start_serve(&irp, &[], &[]);
    let addr = serve.addr.clone();
    let base = format!("http://{addr}");
    let id2 = db
        .store
        .orders()
        .by_number("refurbished-direct", "RD-2")
        .await
        .unwrap()
        .unwrap()
        .id;
    assert_eq!(
        settled_status(&client, &base, &token, id2, Duration::from_secs(10)).await,
        "submitted"
    );
    assert_eq!(fake.count("RD-2"), 1);

    // Killed while the refurbisher has the order but before IRP recorded the answer: after
    // the claim's lease (4 × timeout_secs + 15 s) the order waits for an operator in
    // needs_attention — it is never sent twice.
    while fake.arrived.try_recv().is_ok() {}
    fake.delay_ms
        .store(500, std::sync::atomic::Ordering::SeqCst);
    let r = client
        .post(format!("{base}/api/v1/orders"))
        .bearer_auth(&token)
        .json(&order_doc("RD-3"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let id3 = r.json::<Value>().await.unwrap()["order"]["id"]
        .as_i64()
        .unwrap();
    let got = fake.arrived.recv_timeout(Duration::from_secs(5)).unwrap();
    assert_eq!(got, "RD-3");
    serve.kill().unwrap();
    serve.wait().unwrap();
    fake.delay_ms.store(0, std::sync::atomic::Ordering::SeqCst);
    let mut serve = start_serve(&irp, &[], &[]);
    let addr = serve.addr.clone();
    let base = format!("http://{addr}");
    assert_eq!(
        settled_status(&client, &base, &token, id3, Duration::from_secs(45)).await,
        "needs_attention"
    );
    assert_eq!(fake.count("RD-3"), 1);
    let v: Value = client
        .get(format!("{base}/api/v1/orders/{id3}"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        v["supplier_orders"][0]["attempts_made"][0]["outcome"], "unknown",
        "{v}"
    );

    // Killed in the middle of a burst: orders taken in, some sent, some under way, some not
    // claimed yet. After the restart (and the lease) every order the API accepted is placed
    // exactly once or waits in needs_attention, having reached the refurbisher at most once.
    let posts: Vec<_> = (0..30)
        .map(|i| {
            let req = client
                .post(format!("{base}/api/v1/orders"))
                .bearer_auth(&token)
                .json(&order_doc(&format!("BURST-{i:02}")));
            tokio::spawn(async move { req.send().await.map(|r| r.status().as_u16()) })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(150)).await;
    serve.kill().unwrap();
    serve.wait().unwrap();
    let mut accepted = Vec::new();
    for (i, p) in posts.into_iter().enumerate() {
        if let Ok(Ok(201)) = p.await {
            accepted.push(format!("BURST-{i:02}"));
        }
    }
    let mut serve = start_serve(&irp, &[], &[]);
    let addr = serve.addr.clone();
    let base = format!("http://{addr}");
    for number in &accepted {
        let id = db
            .store
            .orders()
            .by_number("refurbished-direct", number)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{number} was accepted but is lost"))
            .id;
        let status = settled_status(&client, &base, &token, id, Duration::from_secs(45)).await;
        let sent = fake.count(number);
        assert!(
            (status == "submitted" && sent == 1) || (status == "needs_attention" && sent <= 1),
            "{number}: {status}, reached the refurbisher {sent} times"
        );
    }
    // Orders whose answer was lost with the process may still have been taken in: none of
    // them reached the refurbisher twice either.
    for i in 0..30 {
        let number = format!("BURST-{i:02}");
        assert!(fake.count(&number) <= 1, "{number} was placed twice");
    }

    let pid = serve.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    assert!(serve.wait().unwrap().success());
}

async fn a_refurbisher_posts_shipments_to_its_webhook_url_and_the_monitor_reports(db: TestDb) {
    let irp = Irp::new(&db.url);
    let fake = FakeOrderApi::start();
    let doc = std::fs::read_to_string(root().join("config/refurbishers/flexit.json"))
        .unwrap()
        .replace(
            "https://api.flexitdistribution.com/order/api/order",
            &fake.url,
        );
    let doc_path = irp.data.path().join("flexit.json");
    std::fs::write(&doc_path, doc).unwrap();
    let feed = irp.data.path().join("flexit.csv");
    std::fs::write(&feed, "Flex IT Part Number;Description;Stock Quantity;EAN;Sales Price;SRP\nFLX-A;Apple iPhone 13;50;8712345678906;100,00;999,00\n").unwrap();
    for args in [
        vec!["refurbisher", "apply", "-f", doc_path.to_str().unwrap()],
        vec!["channel", "apply", "-f", "config/channels.json"],
        vec!["feed", "import", "flexit", "--file", feed.to_str().unwrap()],
    ] {
        let out = irp.run(&args);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    }
    for (name, value) in [
        ("flexit.order.auth.client_id", "order-id"),
        ("flexit.order.auth.client_secret", "order-secret"),
    ] {
        let out = irp.run_with_stdin(&["secret", "set", name], value);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let out = irp.run(&["token", "create", "shop"]);
    let api_token = stdout(&out).trim().to_owned();

    // Not configured until a token is made; the URL is printed once, with the base URL.
    let out = irp.run(&["refurbisher", "show", "flexit"]);
    assert!(
        stdout(&out).contains("Shipment webhook  Not configured"),
        "{}",
        stdout(&out)
    );
    let out = irp.run(&[
        "webhook",
        "token",
        "flexit",
        "--base-url",
        "https://portal.example.nl/",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let url = text
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("https://portal.example.nl/webhook/shipment/10/irpwh_"))
        .unwrap_or_else(|| panic!("{text}"))
        .to_owned();
    let token = url.rsplit('/').next().unwrap().to_owned();
    let out = irp.run(&["refurbisher", "show", "flexit"]);
    assert!(
        stdout(&out).contains("Shipment webhook  Configured"),
        "{}",
        stdout(&out)
    );
    assert!(!stdout(&out).contains(&token));
    // Without a supplier id there is no URL to make.
    let out = irp.run(&["webhook", "token", "nope"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("no refurbisher `nope`"),
        "{}",
        stderr(&out)
    );

    let out = irp.run_with_stdin(&["user", "add", "ops@iused.nl"], "correct horse battery\n");
    assert!(out.status.success(), "{}", stderr(&out));
    let mut serve = start_serve(
        &irp,
        &[],
        &[
            ("IRP_LOG", "debug,sqlx=warn,hyper=info"),
            ("IRP_WEBHOOK_RATE", "20"),
            ("IRP_MONITOR_TICK_SECS", "1"),
        ],
    );
    let addr = serve.addr.clone();
    let base = format!("http://{addr}");
    let hook = url.replace("https://portal.example.nl", &base);
    let client = reqwest::Client::new();
    // The dashboard's status table says so too.
    let cookie = login_cookie(&base, "ops@iused.nl", "correct horse battery").await;
    let home = client
        .get(&base)
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        home.contains(r#"<span class="badge yes">Configured</span>"#),
        "{home}"
    );
    assert!(!home.contains(&token));
    let r = client
        .post(format!("{base}/api/v1/orders"))
        .bearer_auth(&api_token)
        .json(&order_doc("RD-1"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let order_id = r.json::<Value>().await.unwrap()["order"]["id"]
        .as_i64()
        .unwrap();
    assert_eq!(
        settled_status(
            &client,
            &base,
            &api_token,
            order_id,
            Duration::from_secs(10)
        )
        .await,
        "submitted"
    );

    // The refurbisher posts its shipment: 200, the supplier order shipped; PUT of the same
    // shipment is a repeat, stored once.
    let body = serde_json::json!({"external_order_id": "SO-1", "track_and_trace": "3SABC1234567",
        "carrier": "PostNL", "imei": "490154203237518"});
    let r = client.post(&hook).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["status"], "shipped", "{v}");
    let r = client.put(&hook).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "repeat");
    assert_eq!(
        settled_status(&client, &base, &api_token, order_id, Duration::from_secs(1)).await,
        "shipped"
    );

    // Unknown supplier, wrong token, a supplier id that is no number: the same 404.
    let mut answers = Vec::new();
    for wrong in [
        hook.replace("/shipment/10/", "/shipment/11/"),
        format!("{hook}x"),
        hook.replace("/shipment/10/", "/shipment/ten/"),
    ] {
        let r = client.post(&wrong).json(&body).send().await.unwrap();
        answers.push((r.status().as_u16(), r.text().await.unwrap()));
    }
    assert_eq!(answers[0], (404, r#"{"error":"not found"}"#.to_owned()));
    assert!(answers.iter().all(|a| *a == answers[0]), "{answers:?}");

    // Another method: 405.
    let r = client.get(&hook).send().await.unwrap();
    assert_eq!(r.status(), 405);

    // A bad body: 422 naming every field, kept in the inbox. Not JSON: 422 too.
    let r = client
        .patch(&hook)
        .json(&serde_json::json!({"track_and_trace": "", "items": [{"imei": true}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let v: Value = r.json().await.unwrap();
    let fields: Vec<&str> = v["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        vec!["external_order_id", "track_and_trace", "items.0.imei"],
        "{v}"
    );
    let r = client.post(&hook).body("track=1").send().await.unwrap();
    assert_eq!(r.status(), 422);
    let out = irp.run(&["shipments", "inbox"]);
    assert!(
        stdout(&out).contains("items.0.imei: got true, expected a string"),
        "{}",
        stdout(&out)
    );
    // Too large: 413.
    let big = serde_json::json!({"external_order_id": "SO-1", "track_and_trace": "T", "imei": "1", "pad": "x".repeat(300 * 1024)});
    let r = client.post(&hook).json(&big).send().await.unwrap();
    assert_eq!(r.status(), 413);
    // No order with that id: 202, stored for review.
    let r = client
        .post(&hook)
        .json(&serde_json::json!({"external_order_id": "SO-999", "track_and_trace": "T9", "serial_number": "C02"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let out = irp.run(&["shipments", "list", "--status", "unmatched"]);
    assert!(stdout(&out).contains("SO-999"), "{}", stdout(&out));
    let out = irp.run(&["shipments", "list", "--json"]);
    let list: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(
        list.as_array().unwrap().len(),
        2,
        "the repeat is stored once: {list}"
    );

    // Over the rate limit (20/s, bursts of 40): 429 with Retry-After.
    let mut limited = None;
    for _ in 0..80 {
        let r = client.post(&hook).json(&body).send().await.unwrap();
        if r.status() == 429 {
            limited = Some(r.headers()["retry-after"].to_str().unwrap().to_owned());
            break;
        }
    }
    assert_eq!(limited.as_deref(), Some("1"));

    // A breach: FlexIT refuses an order (a wrong secret → 401 → failed). Within a monitor tick
    // an alert opens; `irp monitor` says BREACH and exits 2; /metrics shows it.
    let out = irp.run_with_stdin(
        &["secret", "set", "flexit.order.auth.client_secret"],
        "wrong",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let r = client
        .post(format!("{base}/api/v1/orders"))
        .bearer_auth(&api_token)
        .json(&order_doc("RD-2"))
        .send()
        .await
        .unwrap();
    let id2 = r.json::<Value>().await.unwrap()["order"]["id"]
        .as_i64()
        .unwrap();
    assert_eq!(
        settled_status(&client, &base, &api_token, id2, Duration::from_secs(10)).await,
        "failed"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let out = irp.run(&["alerts", "list"]);
        if stdout(&out).contains("orders_need_attention") {
            break;
        }
        assert!(Instant::now() < deadline, "no alert: {}", stdout(&out));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let out = irp.run(&["monitor", "--refurbisher", "flexit"]);
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    let text = stdout(&out);
    assert!(
        text.lines()
            .any(|l| l.contains("orders_need_attention") && l.contains("BREACH")),
        "{text}"
    );
    assert!(text.contains("Open alerts:"), "{text}");

    // /metrics: webhook outcomes, the monitor's gauges, totals from the database.
    let metrics = client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let metrics = common::without_instance(&metrics);
    for needle in [
        r#"irp_shipment_webhooks_total{outcome="matched"} 1"#,
        r#"irp_shipment_webhooks_total{outcome="not_found"} 3"#,
        r#"irp_shipment_webhooks_total{outcome="rejected"} 2"#,
        r#"irp_shipment_webhooks_total{outcome="too_large"} 1"#,
        r#"irp_shipment_webhooks_total{outcome="unmatched"} 1"#,
        r#"irp_monitor_threshold{refurbisher="flexit",metric="latest_order_hours"} 48"#,
        r#"irp_monitor_breach{refurbisher="flexit",metric="latest_order_hours"} 0"#,
        r#"irp_orders_total{channel="refurbished-direct"} 2"#,
        r#"irp_monitor_breach{refurbisher="flexit",metric="orders_need_attention"} 1"#,
        r#"irp_alerts_open{refurbisher="flexit",metric="orders_need_attention"} 1"#,
        r#"irp_shipments{refurbisher="flexit",status="matched"} 1"#,
        r#"irp_alerts_open{refurbisher="flexit",metric="latest_order_hours"} 0"#,
        r#"irp_feed_runs_total{refurbisher="flexit",status="succeeded"} 1"#,
    ] {
        assert!(metrics.contains(needle), "{needle} not in\n{metrics}");
    }
    // The API: shipments (with the order's), alerts, the monitor.
    let v: Value = client
        .get(format!("{base}/api/v1/shipments?status=unmatched"))
        .bearer_auth(&api_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["shipments"][0]["external_order_id"], "SO-999", "{v}");
    let id = v["shipments"][0]["id"].as_i64().unwrap();
    let r = client
        .post(format!("{base}/api/v1/shipments/{id}/dismiss"))
        .bearer_auth(&api_token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = client
        .get(format!("{base}/api/v1/orders/{order_id}"))
        .bearer_auth(&api_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        v["supplier_orders"][0]["shipments"][0]["track_and_trace"],
        "3SABC1234567"
    );
    let v: Value = client
        .get(format!("{base}/api/v1/monitor"))
        .bearer_auth(&api_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["refurbishers"][0]["key"], "flexit", "{v}");
    // The catalog in the API: a product's offers with their price breakdown, an offer's.
    let v: Value = client
        .get(format!("{base}/api/v1/products/8712345678906"))
        .bearer_auth(&api_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["offer_list"][0]["sku"], "FLX-A", "{v}");
    assert!(
        !v["offer_list"][0]["steps"].as_array().unwrap().is_empty(),
        "{v}"
    );
    let v: Value = client
        .get(format!("{base}/api/v1/offers/flexit/FLX-A"))
        .bearer_auth(&api_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let sources: Vec<&str> = v["price"]["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["source"].as_str().unwrap())
        .collect();
    assert!(
        sources.contains(&"refurbisher flexit: shipping_costs"),
        "{v}"
    );
    assert_eq!(v["price"]["incl_vat"], "160.23", "{v}");
    let r = client
        .get(format!("{base}/api/v1/offers/flexit/NOPE"))
        .bearer_auth(&api_token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let v: Value = client
        .get(format!("{base}/api/v1/products?query=iPhone"))
        .bearer_auth(&api_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["products"][0]["ean"], "8712345678906", "{v}");
    serve.kill().unwrap();
    serve.wait().unwrap();
    // The token never reached the log, though every request was logged at debug level.
    let log = serve.log_text();
    assert!(log.contains("/webhook/shipment/10/***"), "{log}");
    assert!(!log.contains(&token), "the token leaked into the log");

    // `irp monitor`: a table per refurbisher, every metric with its threshold and state.
    let out = irp.run(&["monitor"]);
    let text = stdout(&out);
    assert!(text.contains("flexit (refurbisher 15)"), "{text}");
    assert!(
        text.lines()
            .any(|l| l.contains("latest_order_hours") && l.contains("48") && l.contains("OK")),
        "{text}"
    );
    let out = irp.run(&["monitor", "--json"]);
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(
        v["refurbishers"][0]["readings"][0]["metric"],
        "latest_order_hours"
    );
}

async fn an_operator_logs_in_and_out_and_failed_logins_are_throttled(db: TestDb) {
    let irp = Irp::new(&db.url);
    let out = irp.run_with_stdin(&["user", "add", "Anna@iUsed.nl"], "short\n");
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("at least 12 are needed"),
        "{}",
        stderr(&out)
    );
    let out = irp.run_with_stdin(&["user", "add", "Anna@iUsed.nl"], "correct horse battery\n");
    assert!(out.status.success(), "{}", stderr(&out));
    let out = irp.run(&["user", "list"]);
    assert!(
        stdout(&out).contains("anna@iused.nl  operator"),
        "{}",
        stdout(&out)
    );

    let mut serve = start_serve(&irp, &[], &[]);
    let addr = serve.addr.clone();
    let base = format!("http://{addr}");
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = client.get(format!("{base}/login")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains(r#"name="password""#));
    let login = |email: &'static str, password: &'static str| {
        let client = client.clone();
        let url = format!("{base}/login");
        async move {
            client
                .post(url)
                .form(&[("email", email), ("password", password)])
                .send()
                .await
                .unwrap()
        }
    };
    // Wrong password: 401 with the form again, no cookie.
    let r = login("anna@iused.nl", "wrong password!").await;
    assert_eq!(r.status(), 401);
    assert!(r.headers().get("set-cookie").is_none());
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("The e-mail address or the password is wrong.")
    );
    // Right password: 303 to the portal with a session cookie the page script cannot read.
    let r = login("ANNA@iused.nl", "correct horse battery").await;
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/");
    let set = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(set.starts_with("irp_session=irps_"), "{set}");
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Strict"),
        "{set}"
    );
    let cookie = set.split(';').next().unwrap().to_owned();
    let home = client
        .get(&base)
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        home.contains(r#"<span class="whoami">anna@iused.nl</span>"#),
        "{home}"
    );
    let csrf = home
        .split(r#"name="csrf" value=""#)
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    // Logout needs the session's CSRF token; a form from another site is refused.
    let r = client
        .post(format!("{base}/logout"))
        .header("cookie", &cookie)
        .form(&[("csrf", "forged")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = client
        .post(format!("{base}/logout"))
        .header("cookie", &cookie)
        .header("origin", "https://evil.example")
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = client
        .post(format!("{base}/logout"))
        .header("cookie", &cookie)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert!(
        r.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    let home = client
        .get(&base)
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(home.status(), 303, "the session ended");
    assert_eq!(home.headers()["location"], "/login");

    // Five failures from one address within 15 minutes (the one before the login counts: a
    // success forgets the account's failures, not the address's): then every try is refused,
    // even with the right password.
    let mut refused_at = None;
    for i in 1..=6 {
        let status = login("anna@iused.nl", "wrong password!").await.status();
        if status == 429 {
            refused_at = Some(i);
            break;
        }
        assert_eq!(status, 401);
    }
    assert_eq!(refused_at, Some(5));
    let r = login("anna@iused.nl", "correct horse battery").await;
    assert_eq!(r.status(), 429);
    assert!(r.headers().get("retry-after").is_some());
    assert!(r.text().await.unwrap().contains("Too many failed logins"));
    serve.kill().unwrap();
    serve.wait().unwrap();

    // Disabled: no more logins.
    let out = irp.run(&["user", "disable", "anna@iused.nl"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = irp.run(&["user", "list", "--json"]);
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert!(v[0]["disabled_at"].is_string(), "{v}");
    assert!(
        !stdout(&out).contains("argon2") && !stdout(&out).contains("password_hash"),
        "no hash in the listing"
    );
    assert_eq!(v[0]["must_change_password"], false, "{v}");
}

/// The storefront channels end to end: a feed run reaches both fake Shopware shops within seconds; an order
/// placed in one shop (webhook) and one in the other (found by the poll) reach FlexIT's order
/// API; FlexIT's shipment ends up as the tracking code on the shop's delivery, shipped.
async fn two_storefronts_get_prices_send_orders_and_show_tracking(db: TestDb) {
    use irp_testkit::fake_shopware::{FakeOrder, FakeShopware, FakeShopwareConfig};
    const EAN: &str = "8712345678906";
    let irp = Irp::new(&db.url);
    let rd = FakeShopware::start(FakeShopwareConfig::default()).await;
    let eco = FakeShopware::start(FakeShopwareConfig {
        client_id: "SWIAECONOCOM00000000000001".into(),
        client_secret: "econocom-secret".into(),
        shop_secret: "econocom-shop-secret-0123456789-0123456789-0123456789".into(),
        ..FakeShopwareConfig::default()
    })
    .await;
    rd.add_product(EAN, EAN, 0, 1.0);
    eco.add_product(&format!("ECO-{EAN}"), EAN, 0, 1.0);
    // A product Refurbished Direct sells but its shop lacks: reported, the rest goes through.
    rd.add_product("0000000000000", "0000000000000", 0, 1.0);
    let flexit = FakeOrderApi::start();
    let doc = std::fs::read_to_string(root().join("config/refurbishers/flexit.json"))
        .unwrap()
        .replace(
            "https://api.flexitdistribution.com/order/api/order",
            &flexit.url,
        );
    let doc_path = irp.data.path().join("flexit.json");
    std::fs::write(&doc_path, doc).unwrap();
    let channels = serde_json::json!({"channels": {
        "refurbished-direct": {"name": "Refurbished Direct", "shopware": {
            "url": rd.url, "client_id": "${secret:channel.refurbished-direct.client_id}", "client_secret": "${secret:channel.refurbished-direct.client_secret}",
            "shop_secret": "${secret:channel.refurbished-direct.shop_secret}", "order_poll_secs": 1}},
        "econocom": {"name": "Econocom", "shopware": {
            "url": eco.url, "client_id": "${secret:channel.econocom.client_id}", "client_secret": "${secret:channel.econocom.client_secret}",
            "product_number_prefix": "ECO-", "order_poll_secs": 1, "batch_size": 2}}
    }});
    let channels_path = irp.data.path().join("channels.json");
    std::fs::write(&channels_path, channels.to_string()).unwrap();
    let defaults = FakeShopwareConfig::default();
    for (name, value) in [
        ("flexit.order.auth.client_id", "order-id"),
        ("flexit.order.auth.client_secret", "order-secret"),
        (
            "channel.refurbished-direct.client_id",
            defaults.client_id.as_str(),
        ),
        (
            "channel.refurbished-direct.client_secret",
            defaults.client_secret.as_str(),
        ),
        (
            "channel.refurbished-direct.shop_secret",
            defaults.shop_secret.as_str(),
        ),
        ("channel.econocom.client_id", "SWIAECONOCOM00000000000001"),
        ("channel.econocom.client_secret", "econocom-secret"),
    ] {
        let out = irp.run_with_stdin(&["secret", "set", name], value);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    for args in [
        vec!["refurbisher", "apply", "-f", doc_path.to_str().unwrap()],
        vec!["channel", "apply", "-f", channels_path.to_str().unwrap()],
    ] {
        let out = irp.run(&args);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    }
    let out = irp.run(&["channel", "check", "econocom"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = irp.run(&["channel", "list", "--json"]);
    assert!(
        !stdout(&out).contains("econocom-secret"),
        "{}",
        stdout(&out)
    );

    let mut serve = start_serve(&irp, &[], &[("IRP_CHANNEL_TICK_SECS", "1")]);
    let addr = serve.addr.clone();
    let base = format!("http://{addr}");

    // A feed run: both shops show the price (100 + 3.18 + 10, +17 %, +21 % VAT) and the
    // sellable stock (50 − threshold 1) within seconds.
    let feed = irp.data.path().join("flexit.csv");
    std::fs::write(&feed, format!("Flex IT Part Number;Description;Stock Quantity;EAN;Sales Price;SRP\nFLX-A;Apple iPhone 13;50;{EAN};100,00;999,00\nFLX-B;Nokia 3310;5;0000000000000;10,00;20,00\n")).unwrap();
    let out = irp.run(&["feed", "import", "flexit", "--file", feed.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let fed = Instant::now();
    for (shop, number) in [(&rd, EAN.to_owned()), (&eco, format!("ECO-{EAN}"))] {
        let p = eventually(Duration::from_secs(15), "the price in the shop", || {
            shop.product(&number).filter(|p| p["stock"] == 49)
        })
        .await;
        assert_eq!(p["price"][0]["gross"], serde_json::json!(160.23), "{p}");
        assert_eq!(p["price"][0]["net"], serde_json::json!(132.42), "{p}");
        assert_eq!(p["price"][0]["linked"], true, "{p}");
        assert_eq!(p["active"], true, "{p}");
        assert_eq!(p["purchasePrices"][0]["net"], serde_json::json!(100), "{p}");
    }
    eprintln!("feed run to both shops: {} ms", fed.elapsed().as_millis());
    assert_eq!(
        rd.last_sync_headers()
            .get("indexing-behavior")
            .map(String::as_str),
        Some("use-queue-indexing")
    );
    // Econocom's shop lacks the Nokia: reported by `irp channel status`, not pushed again.
    let status = eventually(
        Duration::from_secs(10),
        "the unknown product reported",
        || {
            let out = irp.run(&["channel", "status", "econocom", "--json"]);
            let v: Value = serde_json::from_slice(&out.stdout).ok()?;
            (v[0]["problems"].as_array()?.len() == 1).then_some(v)
        },
    )
    .await;
    assert_eq!(status[0]["problems"][0]["ean"], "0000000000000");
    assert_eq!(status[0]["problems"][0]["kind"], "unknown_product");
    assert!(eco.product("ECO-0000000000000").is_none());
    let nokia = rd.product("0000000000000").unwrap();
    assert_eq!(nokia["stock"], 4, "{nokia}");

    // An order placed in Refurbished Direct's shop arrives by its webhook and is placed at
    // FlexIT; a badly signed copy is refused.
    let hook = format!("{base}/webhook/shopware/refurbished-direct");
    let (rd_order, rd_delivery) = rd.place_order(&FakeOrder {
        order_number: "10042".into(),
        email: "jan@example.nl".into(),
        first_name: "Jan".into(),
        last_name: "de Vries".into(),
        street: "Damrak 1A".into(),
        zipcode: "1012 LG".into(),
        city: "Amsterdam".into(),
        country_iso: "NL".into(),
        phone: Some("0612345678".into()),
        lines: vec![(EAN.into(), 1, 160.23)],
        placed_at: chrono::Utc::now(),
        sales_channel_id: None,
    });
    assert_eq!(
        rd.send_order_placed_badly_signed(&rd_order, &hook).await,
        401
    );
    assert_eq!(rd.send_order_placed(&rd_order, &hook).await, 200);
    assert_eq!(
        rd.send_order_placed(&rd_order, &hook).await,
        200,
        "a repeat"
    );
    eventually(Duration::from_secs(15), "the order at FlexIT", || {
        (flexit.count("10042") == 1).then_some(())
    })
    .await;
    // An order in Econocom's shop, which sends no webhook: the poll finds it.
    eco.place_order(&FakeOrder {
        order_number: "E-7".into(),
        email: "piet@example.nl".into(),
        first_name: "Piet".into(),
        last_name: "Jansen".into(),
        street: "Kalverstraat 92-2".into(),
        zipcode: "1012 PH".into(),
        city: "Amsterdam".into(),
        country_iso: "NL".into(),
        phone: None,
        lines: vec![(format!("ECO-{EAN}"), 2, 160.23)],
        placed_at: chrono::Utc::now(),
        sales_channel_id: None,
    });
    eventually(
        Duration::from_secs(15),
        "the polled order at FlexIT",
        || (flexit.count("E-7") == 1).then_some(()),
    )
    .await;

    // FlexIT ships the webhook order: the tracking code lands on the shop's delivery, shipped.
    let out = irp.run(&["webhook", "token", "flexit", "--base-url", &base]);
    assert!(out.status.success(), "{}", stderr(&out));
    let shipment_hook = stdout(&out)
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with(&format!("{base}/webhook/shipment/10/")))
        .unwrap()
        .to_owned();
    let reference = eventually(Duration::from_secs(15), "FlexIT's order reference", || {
        let out = irp.run(&["orders", "show", "refurbished-direct/10042", "--json"]);
        let v: Value = serde_json::from_slice(&out.stdout).ok()?;
        v["supplier_orders"][0]["external_order_reference"]
            .as_str()
            .map(str::to_owned)
    })
    .await;
    let client = reqwest::Client::new();
    let r = client
        .post(&shipment_hook)
        .json(
            &serde_json::json!({"external_order_id": reference, "track_and_trace": "3SRDX0000001",
            "carrier": "PostNL", "imei": "490154203237518"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let delivery = eventually(Duration::from_secs(15), "tracking on the delivery", || {
        rd.delivery(&rd_delivery)
            .filter(|d| d["stateMachineState"]["technicalName"] == "shipped")
    })
    .await;
    assert_eq!(
        delivery["trackingCodes"],
        serde_json::json!(["3SRDX0000001"])
    );

    let out = irp.run(&["channel", "status"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("refurbished-direct") && text.contains("econocom"),
        "{text}"
    );
    let _ = serve.kill();
    let _ = serve.wait();
}

/// The back office end to end: `serve` with the ERP document applied records a FlexIT order placed
/// through the API as exactly one purchase order at vendor 21469 in the fake Odoo (through its
/// fake Alumio), also across a restart; `irp orders show` and the API show its Odoo id.
async fn a_flexit_order_becomes_one_odoo_purchase_order_shown_on_the_order(db: TestDb) {
    use irp_testkit::fake_odoo::{FakeOdoo, FakeOdooConfig};
    let irp = Irp::new(&db.url);
    let fake = FakeOrderApi::start();
    let odoo_cfg = FakeOdooConfig::default();
    let odoo = FakeOdoo::start(odoo_cfg.clone()).await;
    odoo.add_proxy("odoo-jsonrpc", "/jsonrpc", &[]);
    odoo.add_partner_with_id(21469, "Flex IT Distribution");
    odoo.add_product("FLX-A", "8712345678906", "Apple iPhone 13", 0.0);
    let doc = std::fs::read_to_string(root().join("config/refurbishers/flexit.json"))
        .unwrap()
        .replace(
            "https://api.flexitdistribution.com/order/api/order",
            &fake.url,
        );
    let doc_path = irp.data.path().join("flexit.json");
    std::fs::write(&doc_path, doc).unwrap();
    let erp = std::fs::read_to_string(root().join("config/erp.json"))
        .unwrap()
        .replace("https://flooris.alumio.com", &odoo.url);
    let erp_path = irp.data.path().join("erp.json");
    std::fs::write(&erp_path, erp).unwrap();
    let feed = irp.data.path().join("flexit.csv");
    std::fs::write(&feed, "Flex IT Part Number;Description;Stock Quantity;EAN;Sales Price;SRP\nFLX-A;Apple iPhone 13;50;8712345678906;100,00;999,00\n").unwrap();
    for (name, value) in [
        ("flexit.order.auth.client_id", "order-id"),
        ("flexit.order.auth.client_secret", "order-secret"),
        ("erp.api_key", odoo_cfg.api_key.as_str()),
        ("erp.alumio_auth", odoo_cfg.alumio_token.as_str()),
    ] {
        let out = irp.run_with_stdin(&["secret", "set", name], value);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    for args in [
        vec!["refurbisher", "apply", "-f", doc_path.to_str().unwrap()],
        vec!["channel", "apply", "-f", "config/channels.json"],
        vec!["feed", "import", "flexit", "--file", feed.to_str().unwrap()],
        vec!["erp", "apply", "-f", erp_path.to_str().unwrap()],
        vec!["erp", "check"],
    ] {
        let out = irp.run(&args);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    }
    let out = irp.run(&["erp", "show", "--json"]);
    assert!(
        !stdout(&out).contains(&odoo_cfg.api_key),
        "{}",
        stdout(&out)
    );
    let out = irp.run(&["token", "create", "shop"]);
    let token = stdout(&out).trim().to_owned();

    let mut serve = start_serve(&irp, &[], &[("IRP_ERP_TICK_SECS", "1")]);
    let addr = serve.addr.clone();
    let base = format!("http://{addr}");
    let client = reqwest::Client::new();
    let r = client
        .post(format!("{base}/api/v1/orders"))
        .bearer_auth(&token)
        .json(&order_doc("RD-900"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let order: Value = r.json().await.unwrap();
    let order_id = order["order"]["id"].as_i64().unwrap();
    let shown = eventually(
        Duration::from_secs(20),
        "the purchase order in Odoo",
        || {
            let out = irp.run(&["orders", "show", "refurbished-direct/RD-900", "--json"]);
            let v: Value = serde_json::from_slice(&out.stdout).ok()?;
            (v["supplier_orders"][0]["erp"]["status"] == "done").then_some(v)
        },
    )
    .await;
    let erp_doc = &shown["supplier_orders"][0]["erp"];
    let pos = odoo.records("purchase.order");
    assert_eq!(pos.len(), 1);
    assert_eq!(pos[0]["partner_id"], 21469);
    assert_eq!(pos[0]["state"], "purchase");
    assert_eq!(erp_doc["odoo_id"], pos[0]["id"]);
    assert_eq!(erp_doc["odoo_name"], pos[0]["name"]);
    assert_eq!(erp_doc["kind"], "purchase_order");
    let text = stdout(&irp.run(&["orders", "show", "refurbished-direct/RD-900"]));
    assert!(
        text.contains(&format!("purchase.order {}", pos[0]["id"])),
        "{text}"
    );
    let r = client
        .get(format!("{base}/api/v1/orders/{order_id}"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["supplier_orders"][0]["erp"]["odoo_id"], pos[0]["id"]);

    // A restart changes nothing: still one purchase order.
    let _ = serve.kill();
    let _ = serve.wait();
    let mut serve = start_serve(&irp, &[], &[("IRP_ERP_TICK_SECS", "1")]);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(odoo.records("purchase.order").len(), 1);
    let out = irp.run(&["erp", "list"]);
    assert!(stdout(&out).contains("done"), "{}", stdout(&out));
    let _ = serve.kill();
    let _ = serve.wait();
}
