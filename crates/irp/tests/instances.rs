//! Several `irp serve` on one PostgreSQL database, as production runs them: every piece of
//! background work is done once, by one of them, and an instance killed (SIGKILL) in the middle
//! of any kind of work leaves it to another, which finishes it — nothing done twice, nothing
//! lost.
//!
//! Three real processes of the real binary, configured once through the CLI. FlexIT's feed
//! comes from a real OpenSSH sshd, through a TCP gate of this file that can stall a transfer
//! half-way; its order API is a fake of this file that can hold a call; the Shopware shop and
//! Odoo are the testkit's fakes, behind proxies of this file that record what the shop was
//! sent and can hold the answer to an Odoo create. Which instance made a call is read from the
//! kernel — the process owning the TCP connection it came over (`/proc`) — and checked against
//! the claims IRP recorded.
//!
//! 1. A normal day: orders posted to every instance (some to two at once), the feed imported
//!    whenever it is due (FlexIT's interval cannot be below 60 s, so a test-sized run makes it
//!    due by changing FlexIT's document, which makes it due at once) with new prices each
//!    time, and once missing (an alert opens and resolves), shipments posted to every instance
//!    (some to two at once, some twice), Odoo purchase orders, pushes to the shop.
//! 2. Kills, each of the instance doing the work, restarted at once: during an order call,
//!    during an Odoo create, during a channel push, during a feed download. Then the work
//!    must be finished by another instance within what docs/operations.md promises.
//! 3. Counts, from the fakes and the database: each order placed once, each Odoo document made
//!    once, no product row pushed twice, each shipment stored once, one alert per breach and
//!    one notification per alert event, scheduled imports one per due time, every intake
//!    audited.
//!
//! Every finding is collected and reported together, naming what was doubled, lost or late.
//! PostgreSQL only (SQLite takes one instance), on the server of `IRP_TEST_PG_URL`: as the
//! PostgreSQL variants of `cli.rs`, the test fails when no server answers, it never skips.

#![allow(clippy::unwrap_used)] // a panic is how a test fails

use std::collections::{BTreeMap, HashSet};
use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, TimeDelta, Utc};
use irp_store::testkit::TestDb;
use irp_store::{Backend, Store};
use irp_testkit::fake_odoo::{FakeOdoo, FakeOdooConfig};
use irp_testkit::fake_shopware::{FakeShopware, FakeShopwareConfig};
use irp_testkit::feeds::{ean, nl_price};
use irp_testkit::sshd::{self, Sshd};
use serde_json::{Value, json};
use tokio::sync::Notify;

mod common;
use common::{Irp, Serve, api_token, root, start_serve};

/// The instances on the one database.
const INSTANCES: usize = 3;
/// FlexIT, as the seed document numbers it.
const FLEXIT: i64 = 15;
/// The one storefront channel, at the fake shop.
const CHANNEL: &str = "refurbished-direct";
/// Products in FlexIT's feed (and in the shop, and in Odoo).
const PRODUCTS: u64 = 20;
/// The feed's file name on the SFTP server.
const FEED_FILE: &str = "FlexIT_Feed.csv";
/// FlexIT's feed interval: the smallest the product takes (a document with less is refused).
const POLL_INTERVAL_SECS: i64 = 60;
/// FlexIT's order connector timeout: a held call is killed well within it.
const ORDER_TIMEOUT_SECS: i64 = 5;
/// How soon after a kill the work the killed instance was doing must be finished by another,
/// as docs/operations.md ("Several instances") promises: a feed poll, a channel round and an
/// Odoo document are claimed for 60 s (renewed while the work runs), so another instance takes
/// the work over within a minute; an order call's claim holds 4 × its connector's timeout +
/// 15 s (35 s here). Plus 15 s for the work itself (an import, a push, an Odoo round) and ticks.
const TAKEOVER: Duration = Duration::from_secs(75);
/// What an SFTP session sends before the feed's content (banner, key exchange, login, the
/// file's attributes and handle), about: the gate stalls a transfer this much past it.
const HANDSHAKE_BYTES: u64 = 8 * 1024;
/// The ERP connector's timeout: its claims hold 3 × this + 15 s, at least 60 s (60 s here).
const ERP_TIMEOUT_SECS: i64 = 10;
/// How much longer the test watches work that is late, to say when it finished after all.
const OVERTIME: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_instances_on_one_postgresql_do_each_thing_once_and_survive_kills() {
    let t0 = Instant::now();
    let db = TestDb::new(Backend::Postgres).await;
    let store = &db.store;
    let irp = Irp::new(&db.url).with_env("IRP_ALLOW_PRIVATE_NETWORKS", "127.0.0.0/8,::1/128");
    // Everything that was done twice, lost or late: collected, and reported together at the end.
    let mut problems: Vec<String> = Vec::new();

    // The refurbisher's systems: the feed over SFTP, the order API.
    let sshd = Sshd::start();
    let feed_path = sshd.write(FEED_FILE, feed_csv(0).as_bytes());
    let feed_file = sshd.files.join("Outbound").join(FEED_FILE);
    // IRP reaches it through a gate of this test that can stall a transfer half-way.
    let gate = SftpGate::start(sshd.port);
    let order_api = OrderApi::start();
    // The shop, behind a proxy that records every `_action/sync` with its rows and its sender.
    let shop = Arc::new(FakeShopware::start(FakeShopwareConfig::default()).await);
    for i in 0..PRODUCTS {
        shop.add_product(&ean(i), &ean(i), 0, 1.0);
    }
    let shop_proxy = ShopProxy::start(&shop.url);
    // Odoo with its Alumio proxy, behind a proxy that can hold the answer to a purchase order's
    // creation (the order is created in Odoo; its caller never hears so).
    let odoo_cfg = FakeOdooConfig::default();
    let odoo = FakeOdoo::start(odoo_cfg.clone()).await;
    odoo.add_proxy("odoo-jsonrpc", "/jsonrpc", &[]);
    odoo.add_partner_with_id(21469, "Flex IT Distribution");
    for i in 0..PRODUCTS {
        odoo.add_product(&sku(i), &ean(i), &format!("Device {i}"), 0.0);
    }
    let odoo_proxy = OdooProxy::start(&odoo.url);
    let notifications = Notifications::start();

    // Configured once, through the CLI: FlexIT's seed document with its feed at the sshd (host
    // key pinned), its orders at the fake API; one channel at the shop; the ERP at Odoo.
    let mut flexit: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("config/refurbishers/flexit.json")).unwrap(),
    )
    .unwrap();
    {
        let f = &mut flexit["flexit"];
        f["poll_interval_secs"] = json!(POLL_INTERVAL_SECS);
        f["offers"]["auth"] = json!({"host": "127.0.0.1", "port": gate.port, "path": feed_path,
            "username": sshd::USER, "password": "${secret:flexit.offers.auth.password}",
            "host_key_fingerprint": sshd.host_fingerprint()});
        f["order"]["endpoint"] = json!(order_api.url);
        f["order"]["timeout_secs"] = json!(ORDER_TIMEOUT_SECS);
    }
    let mut applies = vec![apply_flexit(&irp, &mut flexit, 0)];
    let channels = json!({"channels": {"refurbished-direct": {"name": "Refurbished Direct",
        "currency": "EUR", "default_tax_percentage": 21, "shopware": {"url": shop_proxy.url,
            "client_id": "${secret:channel.refurbished-direct.client_id}",
            "client_secret": "${secret:channel.refurbished-direct.client_secret}",
            "order_poll_secs": 0, "batch_size": 5}}}});
    let channels_path = irp.data.path().join("channels.json");
    std::fs::write(&channels_path, channels.to_string()).unwrap();
    let mut erp: Value =
        serde_json::from_str(&std::fs::read_to_string(root().join("config/erp.json")).unwrap())
            .unwrap();
    erp["erp"]["url"] = json!(odoo_proxy.url);
    erp["erp"]["timeout_secs"] = json!(ERP_TIMEOUT_SECS);
    let erp_path = irp.data.path().join("erp.json");
    std::fs::write(&erp_path, erp.to_string()).unwrap();
    irp.run_ok(&["channel", "apply", "-f", channels_path.to_str().unwrap()]);
    irp.run_ok(&["erp", "apply", "-f", erp_path.to_str().unwrap()]);
    let shop_cfg = FakeShopwareConfig::default();
    for (name, value) in [
        ("flexit.offers.auth.password", sshd::PASSWORD),
        ("flexit.order.auth.client_id", "order-id"),
        ("flexit.order.auth.client_secret", "order-secret"),
        (
            "channel.refurbished-direct.client_id",
            shop_cfg.client_id.as_str(),
        ),
        (
            "channel.refurbished-direct.client_secret",
            shop_cfg.client_secret.as_str(),
        ),
        ("erp.api_key", odoo_cfg.api_key.as_str()),
        ("erp.alumio_auth", odoo_cfg.alumio_token.as_str()),
    ] {
        irp.secret_set(name, value);
    }
    let token = api_token(&irp, "shop", "operator");
    let out = irp.run_ok(&[
        "webhook",
        "token",
        "flexit",
        "--base-url",
        "http://irp.invalid",
    ]);
    let hook_path = out
        .lines()
        .map(str::trim)
        .find_map(|l| l.strip_prefix("http://irp.invalid"))
        .filter(|p| p.starts_with("/webhook/shipment/10/"))
        .unwrap_or_else(|| panic!("no webhook URL in:\n{out}"))
        .to_owned();

    // Three instances, every job ticking every second.
    let env: Vec<(String, String)> = [
        ("IRP_POLL_TICK_SECS", "1"),
        ("IRP_CHANNEL_TICK_SECS", "1"),
        ("IRP_ERP_TICK_SECS", "1"),
        ("IRP_MONITOR_TICK_SECS", "1"),
        ("IRP_NOTIFY_URL", notifications.url.as_str()),
        ("IRP_WEBHOOK_RATE", "0"),
        ("IRP_LOG", "info,sqlx=warn"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    let mut cluster = Cluster::start(&irp, env);
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    for s in &cluster.serves {
        let line = wait_for(Duration::from_secs(10), || async {
            s.log_text()
                .lines()
                .find(|l| l.contains("Background jobs started"))
                .map(str::to_owned)
        })
        .await
        .unwrap_or_else(|| panic!("an instance never started its jobs:\n{}", s.log_text()));
        for job in ["\"feeds\"", "\"channels\"", "\"erp\"", "\"monitor\""] {
            assert!(line.contains(job), "the job {job} does not run: {line}");
        }
    }
    eprintln!("[{:>5.1}s] three instances up", t0.elapsed().as_secs_f64());

    // ---------------------------------------------------------------------------------------
    // Phase 1: the work of a normal day, spread over the three instances.

    // The feed is due at once: one instance imports it, and the shop gets every price.
    wait_for(Duration::from_secs(30), || async {
        shop_shows(&shop, &[0]).then_some(())
    })
    .await
    .unwrap_or_else(|| {
        panic!(
            "the first feed never reached the shop: {:?}\n{}",
            shop_prices(&shop),
            cluster.logs()
        )
    });
    eprintln!("[{:>5.1}s] feed v0 in the shop", t0.elapsed().as_secs_f64());

    // Orders at every instance, round robin; every fourth one posted to two instances at once.
    let mut orders: Vec<(String, u64)> = Vec::new();
    let mut answers: BTreeMap<String, Vec<Result<u16, String>>> = BTreeMap::new();
    let batch: Vec<(String, u64, bool)> = (0..24u64)
        .map(|k| (format!("RD-{k:03}"), k % PRODUCTS, k % 4 == 0))
        .collect();
    post_orders(
        &client,
        &cluster.bases(),
        &token,
        &batch,
        &mut orders,
        &mut answers,
    )
    .await;
    // Each reaches FlexIT once and is `submitted`.
    let placed = wait_for(Duration::from_secs(30), || async {
        for (number, _) in &orders {
            let so = supplier_order(store, number).await?;
            (order_api.count(number) >= 1 && so.status.as_str() == "submitted").then_some(())?;
        }
        Some(())
    })
    .await;
    assert!(
        placed.is_some(),
        "the first orders were not all placed: {:?}\n{}",
        order_api.references(),
        cluster.logs()
    );
    eprintln!("[{:>5.1}s] 24 orders placed", t0.elapsed().as_secs_f64());

    // FlexIT ships half of them: posted to the instances round robin, every third one to two
    // instances at once, every fourth one again afterwards.
    let mut shipments: ShipmentAnswers = BTreeMap::new();
    post_shipments(&client, &cluster.bases(), &hook_path, 0..12, &mut shipments).await;

    // Every supplier order gets its Odoo purchase order.
    let erp_done = wait_for(Duration::from_secs(40), || async {
        let done = store.erp().documents(Some("done"), 1000).await.unwrap();
        (done.len() >= orders.len()).then_some(())
    })
    .await;
    assert!(
        erp_done.is_some(),
        "the orders were not all recorded in Odoo: {:?}\n{}",
        store.erp().status_counts().await.unwrap(),
        cluster.logs()
    );
    eprintln!(
        "[{:>5.1}s] 24 purchase orders in Odoo",
        t0.elapsed().as_secs_f64()
    );

    // A new feed version (every price one euro up); the changed document makes it due now.
    write_feed(&feed_file, 1);
    wait_feed_idle(store).await;
    applies.push(apply_flexit(&irp, &mut flexit, 1));
    wait_for(Duration::from_secs(30), || async {
        shop_shows(&shop, &[1]).then_some(())
    })
    .await
    .unwrap_or_else(|| {
        panic!(
            "feed v1 never reached the shop: {:?}\n{}",
            shop_prices(&shop),
            cluster.logs()
        )
    });
    eprintln!("[{:>5.1}s] feed v1 in the shop", t0.elapsed().as_secs_f64());

    // A breach: the feed file is gone; the run fails, and one `feed_failed` alert opens. The
    // file comes back (v2), the next run succeeds, the alert resolves.
    std::fs::remove_file(&feed_file).unwrap();
    wait_feed_idle(store).await;
    applies.push(apply_flexit(&irp, &mut flexit, 2));
    let opened = wait_for(Duration::from_secs(30), || async {
        let open = store
            .monitor()
            .alerts_list(true, Some(FLEXIT), 50)
            .await
            .unwrap();
        open.iter()
            .any(|a| a.metric.as_str() == "feed_failed")
            .then_some(())
    })
    .await;
    assert!(
        opened.is_some(),
        "no feed_failed alert opened for a missing feed file: runs {:?}\n{}",
        runs_summary(store).await,
        cluster.logs()
    );
    write_feed(&feed_file, 2);
    wait_feed_idle(store).await;
    applies.push(apply_flexit(&irp, &mut flexit, 3));
    let recovered = wait_for(Duration::from_secs(30), || async {
        let open = store
            .monitor()
            .alerts_list(true, Some(FLEXIT), 50)
            .await
            .unwrap();
        (shop_shows(&shop, &[2]) && !open.iter().any(|a| a.metric.as_str() == "feed_failed"))
            .then_some(())
    })
    .await;
    assert!(
        recovered.is_some(),
        "feed v2 did not reach the shop, or feed_failed stayed open: {:?}\n{}",
        runs_summary(store).await,
        cluster.logs()
    );
    eprintln!(
        "[{:>5.1}s] feed failed, alert opened, v2 in the shop, alert resolved",
        t0.elapsed().as_secs_f64()
    );

    // ---------------------------------------------------------------------------------------
    // Phase 2: an instance killed in the middle of each kind of work, each time the one doing
    // it; it is restarted at once, so three keep running. The kills come one after another; a
    // watcher times each recovery from its kill, and they are awaited together afterwards.

    // (1) A submission: FlexIT's API holds the call of order HOLD-1; the instance that made it
    // is killed. It must not be sent again: after its lease it waits in needs_attention.
    order_api.hold("HOLD-1");
    let bases = cluster.bases();
    post_orders(
        &client,
        &bases[..1],
        &token,
        &[("HOLD-1".to_owned(), 1, false)],
        &mut orders,
        &mut answers,
    )
    .await;
    let call = wait_for(Duration::from_secs(15), || async {
        order_api.call_of("HOLD-1")
    })
    .await
    .unwrap_or_else(|| panic!("HOLD-1 never reached FlexIT\n{}", cluster.logs()));
    let pid = cluster
        .caller(call.peer, order_api.port)
        .unwrap_or_else(|| {
            panic!(
                "no instance owns the connection {} the order call came over",
                call.peer
            )
        });
    let so = supplier_order(store, "HOLD-1").await.unwrap();
    if !so
        .lease_owner
        .as_deref()
        .is_some_and(|o| o.contains(&format!(":{pid}:")))
    {
        problems.push(format!(
            "HOLD-1's call came from process {pid}, but its supplier order is {} leased to {:?}",
            so.status.as_str(),
            so.lease_owner
        ));
    }
    // From here on a watcher notes when each killed instance's work is finished.
    let recoveries = Arc::new(Mutex::new(Recoveries::default()));
    let watcher = watch(store.clone(), shop.clone(), recoveries.clone());
    let mut exempt_syncs: HashSet<usize> = HashSet::new();
    before_kill(&cluster, store, &shop_proxy, pid, &mut exempt_syncs).await;
    let k1 = cluster.kill(pid, "in the middle of HOLD-1's order call");
    recoveries.lock().unwrap().killed[0] = Some(k1);
    eprintln!(
        "[{:>5.1}s] killed {pid} during an order call",
        t0.elapsed().as_secs_f64()
    );

    // (2) An ERP round: Odoo creates ERP-1's purchase order, but the answer is held; the
    // instance that asked is killed. The next finds it by its reference instead of creating a
    // second one.
    wait_for(TAKEOVER, || async {
        let all = store.erp().documents(None, 1000).await.unwrap();
        all.iter()
            .all(|d| matches!(d.status.as_str(), "done" | "skipped"))
            .then_some(())
    })
    .await
    .unwrap_or_else(|| {
        panic!(
            "the ERP queue never emptied before the ERP kill\n{}",
            cluster.logs()
        )
    });
    odoo_proxy.arm();
    let bases = cluster.bases();
    post_orders(
        &client,
        &bases[1..2],
        &token,
        &[("ERP-1".to_owned(), 2, false)],
        &mut orders,
        &mut answers,
    )
    .await;
    let held = wait_for(Duration::from_secs(20), || async { odoo_proxy.held() })
        .await
        .unwrap_or_else(|| {
            panic!(
                "no purchase order creation reached Odoo for ERP-1\n{}",
                cluster.logs()
            )
        });
    let pid = cluster
        .caller(held.peer, odoo_proxy.port)
        .unwrap_or_else(|| {
            panic!(
                "no instance owns the connection {} Odoo's create came over",
                held.peer
            )
        });
    let held_reference = held.reference.clone();
    if let Err(e) = holds(store, pid, "erp_document", None).await {
        problems.push(format!("the held Odoo create of {held_reference}: {e}"));
    }
    before_kill(&cluster, store, &shop_proxy, pid, &mut exempt_syncs).await;
    recoveries.lock().unwrap().held_reference = Some(held_reference.clone());
    let k2 = cluster.kill(pid, "in the middle of an ERP document");
    recoveries.lock().unwrap().killed[1] = Some(k2);
    eprintln!(
        "[{:>5.1}s] killed {pid} during the Odoo create of {held_reference}",
        t0.elapsed().as_secs_f64()
    );

    // (3) A channel push: feed v3 changes all 20 prices, pushed in batches of 5; the shop takes
    // the first batch and holds the second; the instance pushing is killed. The next instance
    // pushes what is left (the held batch again: its answer was lost), nothing else twice.
    let clean = wait_for(TAKEOVER, || async {
        (store.channel_sync().dirty_count(CHANNEL).await.unwrap() == 0).then_some(())
    })
    .await;
    if clean.is_none() {
        panic!(
            "the channel never got clean before the push kill: {:?}\n{}",
            store.channel_sync().state(CHANNEL).await.unwrap(),
            cluster.logs()
        );
    }
    let release_syncs = Arc::new(Notify::new());
    shop.hold_syncs(Some(release_syncs.clone()));
    release_syncs.notify_one();
    let armed_at = shop_proxy.count();
    write_feed(&feed_file, 3);
    wait_feed_idle(store).await;
    applies.push(apply_flexit(&irp, &mut flexit, 4));
    let (held_sync, peer) = wait_for(Duration::from_secs(30), || async {
        shop_proxy.held_since(armed_at, Duration::from_millis(500))
    })
    .await
    .unwrap_or_else(|| {
        panic!(
            "no push of feed v3 was held by the shop: {} syncs\n{}",
            shop_proxy.count(),
            cluster.logs()
        )
    });
    let pid = cluster
        .caller(peer, shop_proxy.port)
        .unwrap_or_else(|| panic!("no instance owns the connection {peer} the push came over"));
    if let Err(e) = holds(store, pid, "channel_round", Some(CHANNEL)).await {
        problems.push(format!("the held push: {e}"));
    }
    before_kill(&cluster, store, &shop_proxy, pid, &mut exempt_syncs).await;
    exempt_syncs.insert(held_sync);
    let k3 = cluster.kill(pid, "in the middle of a channel push");
    recoveries.lock().unwrap().killed[2] = Some(k3);
    shop.hold_syncs(None);
    release_syncs.notify_waiters();
    eprintln!(
        "[{:>5.1}s] killed {pid} during a channel push (sync {held_sync})",
        t0.elapsed().as_secs_f64()
    );

    // (4) An import: the SFTP gate passes the server's bytes of the next connection up to half
    // of feed v4, then stalls (the refurbisher's line hangs mid-file). The instance whose
    // connection stalled is killed. Its run is closed `interrupted`, and after the lease
    // another instance imports v4 (the gate lets it through).
    let idle = wait_for(TAKEOVER, || async {
        let runs = store.feed_runs().list(FLEXIT, 5).await.unwrap();
        runs.iter()
            .all(|r| r.status.as_str() != "running")
            .then_some(())
    })
    .await;
    assert!(
        idle.is_some(),
        "a feed run kept running before the import kill: {:?}",
        runs_summary(store).await
    );
    write_feed(&feed_file, 4);
    gate.stall_next_after(HANDSHAKE_BYTES + feed_csv(4).len() as u64 / 2);
    wait_feed_idle(store).await;
    applies.push(apply_flexit(&irp, &mut flexit, 5));
    let Some(peer) = wait_for(Duration::from_secs(20), || async { gate.stalled() }).await else {
        panic!(
            "no import stalled at the gate: {:?}\n{}",
            runs_summary(store).await,
            cluster.logs()
        );
    };
    let Some(stalled_run) = wait_for(Duration::from_secs(10), || async {
        let runs = store.feed_runs().list(FLEXIT, 1).await.unwrap();
        runs.first()
            .filter(|r| r.status.as_str() == "running")
            .map(|r| r.id)
    })
    .await
    else {
        panic!(
            "the stalled import has no running run: {:?}",
            runs_summary(store).await
        );
    };
    let pid = cluster.caller(peer, gate.port).unwrap_or_else(|| {
        panic!("no instance owns the connection {peer} the stalled download came over")
    });
    if let Err(e) = holds(store, pid, "feed_poll", Some("flexit")).await {
        problems.push(format!("the stalled download: {e}"));
    }
    before_kill(&cluster, store, &shop_proxy, pid, &mut exempt_syncs).await;
    recoveries.lock().unwrap().stalled_run = Some(stalled_run);
    let k4 = cluster.kill(pid, "in the middle of a feed import");
    recoveries.lock().unwrap().killed[3] = Some(k4);
    eprintln!(
        "[{:>5.1}s] killed {pid} during run {stalled_run}'s download",
        t0.elapsed().as_secs_f64()
    );

    // Meanwhile orders and shipments keep coming, at every instance, and are placed at once.
    let late: Vec<(String, u64, bool)> = (0..6u64)
        .map(|k| (format!("LATE-{k}"), (k * 3) % PRODUCTS, k % 3 == 0))
        .collect();
    post_orders(
        &client,
        &cluster.bases(),
        &token,
        &late,
        &mut orders,
        &mut answers,
    )
    .await;
    post_shipments(
        &client,
        &cluster.bases(),
        &hook_path,
        12..18,
        &mut shipments,
    )
    .await;

    // The recoveries: awaited together, each timed by the watcher from its kill.
    let deadline = Instant::now().max(k4 + TAKEOVER + OVERTIME);
    let late_from = Instant::now();
    let mut late_placed: Option<Instant> = None;
    loop {
        if late_placed.is_none() && late.iter().all(|(n, _, _)| order_api.count(n) >= 1) {
            late_placed = Some(Instant::now());
        }
        let all = recoveries.lock().unwrap().done.iter().all(Option::is_some);
        if (all && late_placed.is_some()) || Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let done = recoveries.lock().unwrap().done;
    if watcher.is_finished() {
        problems.push("the watcher of the recoveries stopped (it panicked)".to_owned());
    }
    watcher.abort();
    let kills = [
        (k1, "HOLD-1's order call: moved to needs_attention"),
        (k2, "the ERP document whose Odoo create was held: done"),
        (k3, "the held channel push: feed v3 (or v4) in the shop"),
        (
            k4,
            "the stalled import: its run interrupted, feed v4 in the shop",
        ),
    ];
    for ((killed, what), finished) in kills.iter().zip(done) {
        match finished {
            Some(t) if t - *killed <= TAKEOVER => eprintln!(
                "  taken over {:>5.1}s after the kill: {what}",
                (t - *killed).as_secs_f64()
            ),
            Some(t) => problems.push(format!(
                "late: {what} — finished {:.1} s after the kill, more than the {} s a takeover may take",
                (t - *killed).as_secs_f64(),
                TAKEOVER.as_secs()
            )),
            None => problems.push(format!(
                "lost: {what} — not finished {:.0} s after the kill",
                (Instant::now() - *killed).as_secs_f64()
            )),
        }
    }
    match late_placed {
        Some(t) if t - late_from <= Duration::from_secs(10) => {}
        Some(t) => problems.push(format!(
            "orders taken in while leases of dead instances ran were placed only after {:.1} s",
            (t - late_from).as_secs_f64()
        )),
        None => problems.push("orders taken in after the kills were never placed".to_owned()),
    }
    if done[0].is_none() || done[1].is_none() || done[2].is_none() || done[3].is_none() {
        problems.push(format!(
            "who held what when the recoveries were given up: channel {:?}; runs {:?}; ERP {:?}",
            store
                .channel_sync()
                .state(CHANNEL)
                .await
                .map(|s| (s.lease_owner, s.lease_until)),
            runs_summary(store).await,
            store.erp().status_counts().await
        ));
    }
    eprintln!("[{:>5.1}s] recoveries awaited", t0.elapsed().as_secs_f64());

    // ---------------------------------------------------------------------------------------
    // Phase 3: everything settles, then every count is checked.

    // The last orders in Odoo, the channel clean, the shop as IRP computed it, and every alert
    // notified as far as it went.
    let settled = wait_for(Duration::from_secs(30), || async {
        let open = store.erp().documents(None, 1000).await.unwrap();
        let erp_open = open
            .iter()
            .any(|d| !matches!(d.status.as_str(), "done" | "skipped" | "failed"));
        let dirty = store.channel_sync().dirty_count(CHANNEL).await.unwrap();
        let alerts = store
            .monitor()
            .alerts_list(false, Some(FLEXIT), 100)
            .await
            .unwrap();
        let notified = alerts.iter().all(|a| {
            notifications.count(a.id, "opened") >= 1
                && (a.resolved_at.is_none() || notifications.count(a.id, "resolved") >= 1)
        });
        (!erp_open && dirty == 0 && notified && channel_matches_shop(store, &shop).await.is_empty())
            .then_some(())
    })
    .await;
    if settled.is_none() {
        problems.push(format!(
            "never settled: ERP {:?}, {} dirty channel row(s), shop differs at {:?}, notifications {:?}",
            store.erp().status_counts().await,
            store.channel_sync().dirty_count(CHANNEL).await.unwrap_or(-1),
            channel_matches_shop(store, &shop).await,
            notifications.events()
        ));
    }
    eprintln!("[{:>5.1}s] settled", t0.elapsed().as_secs_f64());

    check_orders(store, &order_api, &orders, &answers, &mut problems).await;
    check_erp(store, &odoo, &held_reference, &mut problems).await;
    check_pushes(&shop_proxy, &shop, &exempt_syncs, held_sync, &mut problems);
    check_shipments(store, &shipments, &mut problems).await;
    check_alerts(store, &notifications, &mut problems).await;
    check_feed_runs(store, &applies, stalled_run, &mut problems).await;
    check_audit(store, &orders, &mut problems).await;
    for (what, log) in cluster.all_logs() {
        for bad in [
            "panicked",
            "A background job stopped",
            "leaked",
            "Placing a supplier order failed",
        ] {
            if log.contains(bad) {
                problems.push(format!("the log of {what} says {bad:?}"));
            }
        }
    }

    order_api.release();
    odoo_proxy.release();
    eprintln!(
        "[{:>5.1}s] done: {} orders, {} shipments, {} feed runs, {} syncs, {} kills",
        t0.elapsed().as_secs_f64(),
        orders.len(),
        shipments.len(),
        store.feed_runs().list(FLEXIT, 1000).await.unwrap().len(),
        shop_proxy.count(),
        cluster.killed.len()
    );
    // Each problem on a line of its own (long ones cut), the first 40 of them.
    let shown: Vec<String> = problems
        .iter()
        .take(40)
        .map(|p| match p.char_indices().nth(1500) {
            Some((cut, _)) => format!("{}…", &p[..cut]),
            None => p.clone(),
        })
        .collect();
    assert!(
        problems.is_empty(),
        "{} problem(s) with three instances on one database:\n- {}{}\n\n{}",
        problems.len(),
        shown.join("\n- "),
        if problems.len() > shown.len() {
            format!("\n- … and {} more", problems.len() - shown.len())
        } else {
            String::new()
        },
        cluster.logs()
    );
}

// -------------------------------------------------------------------------------------------
// The checks of the end: each adds what it finds doubled, lost or wrong to `problems`.

/// Every order taken in once (one `201` among the answers, the rest repeats), placed at FlexIT
/// once (HOLD-1, whose call was cut by a kill, waits in needs_attention, sent once), nothing
/// placed that was not ordered.
async fn check_orders(
    store: &Store,
    api: &OrderApi,
    orders: &[(String, u64)],
    answers: &BTreeMap<String, Vec<Result<u16, String>>>,
    problems: &mut Vec<String>,
) {
    for (number, _) in orders {
        let got = &answers[number];
        let created = got.iter().filter(|a| matches!(a, Ok(201))).count();
        if created != 1 || got.iter().any(|a| !matches!(a, Ok(200 | 201))) {
            problems.push(format!(
                "order {number} posted {} time(s) was answered {got:?} (expected one 201, the rest 200)",
                got.len()
            ));
        }
        let sent = api.count(number);
        match supplier_order(store, number).await {
            None => problems.push(format!("order {number} was accepted but is lost")),
            Some(so) if number == "HOLD-1" => {
                let why = so.last_error.as_deref().unwrap_or("");
                if so.status.as_str() != "needs_attention"
                    || sent != 1
                    || !why.contains("the process stopped during the call")
                {
                    problems.push(format!(
                        "HOLD-1 (its call killed) is {} after {sent} call(s), last error {why:?}: \
                         expected needs_attention after one call, recovered from the dead process",
                        so.status.as_str()
                    ));
                }
            }
            Some(so) => {
                if !matches!(so.status.as_str(), "submitted" | "shipped") || sent != 1 {
                    problems.push(format!(
                        "order {number} is {} and reached FlexIT {sent} time(s) (expected once)",
                        so.status.as_str()
                    ));
                }
            }
        }
    }
    let ordered: HashSet<&str> = orders.iter().map(|(n, _)| n.as_str()).collect();
    for r in api.references() {
        if !ordered.contains(r.as_str()) {
            problems.push(format!("FlexIT got an order nobody placed: {r:?}"));
        }
    }
}

/// Every placed supplier order has one Odoo purchase order, with its reference, and the
/// document says so; Odoo holds no other. The one whose create was cut by a kill too.
async fn check_erp(
    store: &Store,
    odoo: &FakeOdoo,
    held_reference: &str,
    problems: &mut Vec<String>,
) {
    let docs = store.erp().documents(None, 1000).await.unwrap();
    let pos = odoo.records("purchase.order");
    let mut referenced = 0;
    for d in &docs {
        let same: Vec<&Value> = pos
            .iter()
            .filter(|p| p["partner_ref"].as_str() == Some(d.reference.as_str()))
            .collect();
        referenced += same.len();
        if d.status.as_str() != "done" || same.len() != 1 {
            problems.push(format!(
                "{} ({}): ERP document {}, {} purchase order(s) in Odoo (expected done and one)",
                d.reference,
                d.order_number,
                d.status.as_str(),
                same.len()
            ));
        } else if d.odoo_id != same[0]["id"].as_i64() {
            problems.push(format!(
                "{}: the document records Odoo id {:?}, Odoo has {}",
                d.reference, d.odoo_id, same[0]["id"]
            ));
        }
    }
    if referenced != pos.len() {
        problems.push(format!(
            "Odoo holds {} purchase order(s), {referenced} of them of an ERP document",
            pos.len()
        ));
    }
    if !docs.iter().any(|d| d.reference == held_reference) {
        problems.push(format!(
            "{held_reference}, whose create was cut by a kill, has no ERP document"
        ));
    }
    // Every placed supplier order has its document.
    for so in store
        .supplier_orders()
        .list(None, 1000)
        .await
        .unwrap()
        .iter()
        .filter(|so| matches!(so.status.as_str(), "submitted" | "shipped"))
    {
        if !docs.iter().any(|d| d.supplier_order_id == so.id) {
            problems.push(format!(
                "supplier order {} ({}) has no ERP document",
                so.id,
                so.status.as_str()
            ));
        }
    }
}

/// No product sent to the shop twice with the same values one after the other — a row pushed
/// twice, by two instances or one — except the rows of a sync whose answer a kill cut (the
/// next instance must push those again, and did). Every feed version's price reached the shop
/// (v3's may be overtaken by v4 where its push was cut). The rows counted here are the rows
/// the fake shop counted itself.
fn check_pushes(
    proxy: &ShopProxy,
    shop: &FakeShopware,
    exempt: &HashSet<usize>,
    held: usize,
    problems: &mut Vec<String>,
) {
    let syncs = proxy.syncs.lock().unwrap().clone();
    // The proxy read the rows the shop got: the shop's own count lies between the rows of the
    // syncs it answered and all rows sent (a held sync whose caller died may never be counted).
    let counted: usize = shop
        .requests()
        .iter()
        .filter(|r| r.path == "/api/_action/sync")
        .map(|r| r.sync_rows)
        .sum();
    let answered: usize = syncs
        .iter()
        .filter(|s| s.answered.is_some())
        .map(|s| s.rows.len())
        .sum();
    let sent: usize = syncs.iter().map(|s| s.rows.len()).sum();
    if counted < answered || counted > sent || sent < 5 * PRODUCTS as usize {
        problems.push(format!(
            "the shop counted {counted} pushed rows, the proxy read {answered} answered of {sent} sent (at least {} expected)",
            5 * PRODUCTS
        ));
    }
    // Every product's prices, in the order pushed: each version's, v3's unless overtaken.
    for i in 0..PRODUCTS {
        let pushed: Vec<Option<i64>> = syncs
            .iter()
            .flat_map(|s| &s.rows)
            .filter(|r| r.number == ean(i))
            .map(|r| r.gross_cents)
            .collect();
        let mut at = 0;
        for v in 0..=4u32 {
            match pushed[at..]
                .iter()
                .position(|g| *g == Some(gross_cents(v, i)))
            {
                Some(p) => at += p,
                None if v == 3 => {}
                None => problems.push(format!(
                    "{}: the price of feed v{v} ({} cents) was never pushed after the earlier ones: {pushed:?}",
                    ean(i),
                    gross_cents(v, i)
                )),
            }
        }
    }
    // The batch whose answer the kill cut was pushed again, afterwards.
    for row in &syncs[held].rows {
        if !syncs[held + 1..]
            .iter()
            .any(|s| s.answered == Some(200) && s.rows.iter().any(|r| r.number == row.number))
        {
            problems.push(format!(
                "{} was in the push cut by the kill (sync {held}) and never pushed again",
                row.number
            ));
        }
    }
    if syncs[held].rows.is_empty() {
        problems.push(format!("the held sync {held} carried no product rows"));
    }
    let mut last: BTreeMap<String, (usize, PushedRow)> = BTreeMap::new();
    let mut doubled = Vec::new();
    for (i, s) in syncs.iter().enumerate() {
        for row in &s.rows {
            if let Some((j, prev)) = last.get(&row.number)
                && prev == row
                && !exempt.contains(j)
                && syncs[*j].answered == Some(200)
            {
                doubled.push(format!(
                    "{} (gross {:?} cents, stock {}) in syncs {j} and {i}",
                    row.number, row.gross_cents, row.stock
                ));
            }
            last.insert(row.number.clone(), (i, row.clone()));
        }
    }
    if !doubled.is_empty() {
        problems.push(format!(
            "{} product row(s) pushed twice with the same values: {}",
            doubled.len(),
            doubled.join("; ")
        ));
    }
    let refused: Vec<(usize, Option<u16>)> = syncs
        .iter()
        .enumerate()
        .filter(|(i, s)| s.answered != Some(200) && !exempt.contains(i))
        .map(|(i, s)| (i, s.answered))
        .collect();
    if !refused.is_empty() {
        problems.push(format!("syncs not answered 200 by the shop: {refused:?}"));
    }
}

/// Each shipment stored once and matched, whichever instances it was posted to and how often:
/// one `shipped` answer, the others `repeat`.
async fn check_shipments(store: &Store, posted: &ShipmentAnswers, problems: &mut Vec<String>) {
    for (code, got) in posted {
        let shipped = got
            .iter()
            .filter(|a| matches!(a, Ok((200, s)) if s == "shipped"))
            .count();
        let repeats = got
            .iter()
            .filter(|a| matches!(a, Ok((200, s)) if s == "repeat"))
            .count();
        if shipped != 1 || shipped + repeats != got.len() {
            problems.push(format!(
                "shipment {code} posted {} time(s) was answered {got:?} (expected one shipped, the rest repeat)",
                got.len()
            ));
        }
    }
    let stored = store
        .shipments()
        .list(Some(FLEXIT), None, 1000)
        .await
        .unwrap();
    for code in posted.keys() {
        let same: Vec<_> = stored
            .iter()
            .filter(|s| s.track_and_trace.as_deref() == Some(code.as_str()))
            .collect();
        if same.len() != 1 || same[0].status.as_str() != "matched" {
            problems.push(format!(
                "shipment {code} is stored {} time(s) ({:?}); expected once, matched",
                same.len(),
                same.iter().map(|s| s.status.as_str()).collect::<Vec<_>>()
            ));
        }
    }
    if stored.len() != posted.len() {
        problems.push(format!(
            "{} shipments stored for {} sent",
            stored.len(),
            posted.len()
        ));
    }
}

/// One alert per breach: `feed_failed` once per stretch of failed runs, `orders_need_attention`
/// once (HOLD-1 still waits), no other; never two of one metric open at once; each opening and
/// each resolution notified once, by whichever instance.
async fn check_alerts(store: &Store, notes: &Notifications, problems: &mut Vec<String>) {
    let alerts = store
        .monitor()
        .alerts_list(false, Some(FLEXIT), 1000)
        .await
        .unwrap();
    // The stretches of failed runs, in the order the runs ended (their ids: one run at a time).
    let mut runs = store.feed_runs().list(FLEXIT, 1000).await.unwrap();
    runs.sort_by_key(|r| r.id);
    let mut stretches = 0;
    let mut in_failure = false;
    for r in runs.iter().filter(|r| r.finished_at.is_some()) {
        let failed = r.status.as_str() == "failed";
        if failed && !in_failure {
            stretches += 1;
        }
        in_failure = failed;
    }
    let failed = alerts_of(&alerts, "feed_failed");
    if stretches == 0 || failed.len() != stretches {
        problems.push(format!(
            "{} feed_failed alert(s) for {stretches} stretch(es) of failed runs: {:?}",
            failed.len(),
            failed
                .iter()
                .map(|a| (a.id, a.opened_at, a.resolved_at))
                .collect::<Vec<_>>()
        ));
    }
    let attention = alerts_of(&alerts, "orders_need_attention");
    if attention.len() != 1 || attention[0].resolved_at.is_some() {
        problems.push(format!(
            "{} orders_need_attention alert(s) for one order waiting since the kill (expected one, open): {:?}",
            attention.len(),
            attention
                .iter()
                .map(|a| (a.id, a.opened_at, a.resolved_at))
                .collect::<Vec<_>>()
        ));
    }
    for a in &alerts {
        let metric = a.metric.as_str();
        if !matches!(metric, "feed_failed" | "orders_need_attention") {
            problems.push(format!(
                "an alert nobody caused: {metric} {:?} ({})",
                a.value, a.message
            ));
        }
        // Never two of one metric open at once.
        for b in alerts
            .iter()
            .filter(|b| b.id > a.id && b.metric.as_str() == metric)
        {
            let a_end = a.resolved_at.unwrap_or(DateTime::<Utc>::MAX_UTC);
            let b_end = b.resolved_at.unwrap_or(DateTime::<Utc>::MAX_UTC);
            if a.opened_at < b_end && b.opened_at < a_end {
                problems.push(format!(
                    "alerts {} and {} of {metric} were open at the same time",
                    a.id, b.id
                ));
            }
        }
        let opened = notes.count(a.id, "opened");
        let resolved = notes.count(a.id, "resolved");
        if opened != 1 || resolved != usize::from(a.resolved_at.is_some()) {
            problems.push(format!(
                "alert {} ({metric}) notified opened {opened} time(s), resolved {resolved} time(s)",
                a.id
            ));
        }
    }
}

fn alerts_of<'a>(
    alerts: &'a [irp_store::monitor::Alert],
    metric: &str,
) -> Vec<&'a irp_store::monitor::Alert> {
    alerts
        .iter()
        .filter(|a| a.metric.as_str() == metric)
        .collect()
}

/// Scheduled runs one at a time, each for its own due time: a run starts after the one before
/// it ended, and only once the feed was due again — its interval passed (−10 % jitter), or the
/// document changed (`applies`) — except the run that takes over from a killed one. Every due
/// time made by a change is imported. The killed run ends `interrupted`.
async fn check_feed_runs(
    store: &Store,
    applies: &[DateTime<Utc>],
    stalled_run: i64,
    problems: &mut Vec<String>,
) {
    let mut runs = store.feed_runs().list(FLEXIT, 1000).await.unwrap();
    runs.sort_by_key(|r| r.id);
    if let Some(other) = runs.iter().find(|r| r.triggered_by != "schedule") {
        problems.push(format!(
            "run {} was triggered by {:?}: nothing but the schedule imports here",
            other.id, other.triggered_by
        ));
    }
    let interval_min = TimeDelta::seconds(POLL_INTERVAL_SECS * 9 / 10);
    for pair in runs.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        let Some(a_end) = a.finished_at else {
            problems.push(format!(
                "run {} is still {} while run {} started after it",
                a.id,
                a.status.as_str(),
                b.id
            ));
            continue;
        };
        if b.started_at < a_end {
            problems.push(format!(
                "runs {} and {} overlap: {} started at {}, before {} ended at {a_end}",
                a.id, b.id, b.id, b.started_at, a.id
            ));
        }
        let due_again = b.started_at - a_end >= interval_min
            || applies.iter().any(|t| a_end <= *t && *t <= b.started_at);
        if a.status.as_str() != "interrupted" && !due_again {
            problems.push(format!(
                "run {} started {:.1} s after run {} ended, and the feed was not due again: \
                 two imports for one due time",
                b.id,
                (b.started_at - a_end).num_milliseconds() as f64 / 1000.0,
                a.id
            ));
        }
    }
    // Each change of the document made the feed due: a run started after it (before the next).
    for (n, t) in applies.iter().enumerate() {
        let next = applies
            .get(n + 1)
            .copied()
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        if !runs
            .iter()
            .any(|r| r.started_at >= *t && r.started_at < next)
        {
            problems.push(format!(
                "the feed was made due at {t} (document change {n}) but no run started until the next change"
            ));
        }
    }
    match runs.iter().find(|r| r.id == stalled_run) {
        Some(r) if r.status.as_str() == "interrupted" && r.applied_at.is_none() => {}
        Some(r) => problems.push(format!(
            "run {stalled_run}, killed in its download, ended {} (applied {:?}): expected interrupted, nothing applied",
            r.status.as_str(),
            r.applied_at
        )),
        None => problems.push(format!("run {stalled_run} is gone")),
    }
}

/// Every order taken in is in the audit log, once.
async fn check_audit(store: &Store, orders: &[(String, u64)], problems: &mut Vec<String>) {
    let entries = store
        .audit_search(Some("order.create"), 10_000, 0)
        .await
        .unwrap();
    let mut per_target: BTreeMap<String, usize> = BTreeMap::new();
    for e in entries.iter().filter(|e| e.action == "order.create") {
        *per_target.entry(e.target.clone()).or_default() += 1;
    }
    for (number, _) in orders {
        let n = per_target
            .get(&format!("{CHANNEL}/{number}"))
            .copied()
            .unwrap_or(0);
        if n != 1 {
            problems.push(format!(
                "order {number} has {n} order.create audit entries (expected one)"
            ));
        }
    }
    if per_target.len() != orders.len() {
        problems.push(format!(
            "{} orders audited for {} taken in",
            per_target.len(),
            orders.len()
        ));
    }
}

// -------------------------------------------------------------------------------------------
// The instances.

/// The `irp serve` instances on the one database, and the logs of those killed.
struct Cluster<'a> {
    irp: &'a Irp,
    env: Vec<(String, String)>,
    serves: Vec<Serve>,
    /// (why it was killed, its log) of each instance killed.
    killed: Vec<(String, String)>,
}

impl<'a> Cluster<'a> {
    fn start(irp: &'a Irp, env: Vec<(String, String)>) -> Cluster<'a> {
        let serves = (0..INSTANCES).map(|_| spawn(irp, &env)).collect();
        Cluster {
            irp,
            env,
            serves,
            killed: Vec::new(),
        }
    }

    /// Each instance's `http://127.0.0.1:PORT`.
    fn bases(&self) -> Vec<String> {
        self.serves.iter().map(Serve::base).collect()
    }

    fn pids(&self) -> Vec<u32> {
        self.serves.iter().map(Serve::id).collect()
    }

    /// The instance owning the client end of the connection from `peer` to our server on
    /// `server_port`: the one that made the call.
    fn caller(&self, peer: SocketAddr, server_port: u16) -> Option<u32> {
        let sockets = tcp_sockets(|local, remote| local == peer.port() && remote == server_port);
        holders(&self.pids(), &sockets).first().copied()
    }

    /// The local ports of instance `pid`'s connections to `remote_port`.
    fn local_ports(&self, pid: u32, remote_port: u16) -> HashSet<u16> {
        let own = socket_inodes(pid);
        tcp_entries()
            .into_iter()
            .filter(|(_, remote, inode)| *remote == remote_port && own.contains(inode))
            .map(|(local, _, _)| local)
            .collect()
    }

    /// Kills instance `pid` with SIGKILL and starts another in its place; when it died.
    fn kill(&mut self, pid: u32, why: &str) -> Instant {
        let slot = self
            .serves
            .iter()
            .position(|s| s.id() == pid)
            .unwrap_or_else(|| panic!("{pid} is none of the instances"));
        tokio::task::block_in_place(|| {
            self.serves[slot].kill().unwrap();
            self.serves[slot].wait().unwrap();
        });
        let at = Instant::now();
        let fresh = tokio::task::block_in_place(|| spawn(self.irp, &self.env));
        let dead = std::mem::replace(&mut self.serves[slot], fresh);
        self.killed
            .push((format!("{pid} (killed {why})"), dead.log_text()));
        at
    }

    /// Every instance's log, the killed ones' too, with who it was.
    fn all_logs(&self) -> Vec<(String, String)> {
        let mut all: Vec<(String, String)> = self
            .serves
            .iter()
            .map(|s| (format!("{} (running)", s.id()), s.log_text()))
            .collect();
        all.extend(self.killed.iter().cloned());
        all
    }

    /// The warnings and errors of every log (for a failure message).
    fn logs(&self) -> String {
        let mut out = String::new();
        for (who, log) in self.all_logs() {
            out.push_str(&format!("--- instance {who}:\n"));
            let lines: Vec<&str> = log
                .lines()
                .filter(|l| l.contains("WARN") || l.contains("ERROR") || l.contains("panic"))
                .collect();
            for l in &lines[lines.len().saturating_sub(30)..] {
                out.push_str(l);
                out.push('\n');
            }
        }
        out
    }
}

fn spawn(irp: &Irp, env: &[(String, String)]) -> Serve {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    start_serve(irp, &[], &env)
}

/// Every TCP socket of the machine (IPv4 and IPv6): local port, remote port, inode.
fn tcp_entries() -> Vec<(u16, u16, u64)> {
    let port = |addr: &str| {
        addr.rsplit(':')
            .next()
            .and_then(|p| u16::from_str_radix(p, 16).ok())
    };
    let mut out = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 10 {
                continue;
            }
            if let (Some(local), Some(remote), Ok(inode)) = (port(f[1]), port(f[2]), f[9].parse())
                && inode != 0
            {
                out.push((local, remote, inode));
            }
        }
    }
    out
}

/// The inodes of the TCP sockets whose local and remote ports pass `keep`.
fn tcp_sockets(keep: impl Fn(u16, u16) -> bool) -> HashSet<u64> {
    tcp_entries()
        .into_iter()
        .filter(|(local, remote, _)| keep(*local, *remote))
        .map(|(_, _, inode)| inode)
        .collect()
}

/// The inodes of the sockets process `pid` has open.
fn socket_inodes(pid: u32) -> HashSet<u64> {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| std::fs::read_link(e.path()).ok())
        .filter_map(|l| {
            l.to_str()?
                .strip_prefix("socket:[")?
                .strip_suffix(']')?
                .parse::<u64>()
                .ok()
        })
        .collect()
}

/// Which of `pids` have one of the sockets `inodes` open.
fn holders(pids: &[u32], inodes: &HashSet<u64>) -> Vec<u32> {
    pids.iter()
        .copied()
        .filter(|pid| !socket_inodes(*pid).is_disjoint(inodes))
        .collect()
}

// -------------------------------------------------------------------------------------------
// Clients: orders and shipments at the instances.

/// Per tracking code, the webhook's answers to each post of the shipment: the status and the
/// body's `status` (`shipped`, `repeat`), or why there was none.
type ShipmentAnswers = BTreeMap<String, Vec<Result<(u16, String), String>>>;

/// Posts `batch` (order number, product, also to the next instance at the same time) to the
/// instances round robin, all at once; the answers' statuses are kept per order number.
async fn post_orders(
    client: &reqwest::Client,
    bases: &[String],
    token: &str,
    batch: &[(String, u64, bool)],
    orders: &mut Vec<(String, u64)>,
    answers: &mut BTreeMap<String, Vec<Result<u16, String>>>,
) {
    let mut posts = Vec::new();
    for (k, (number, product, twice)) in batch.iter().enumerate() {
        orders.push((number.clone(), *product));
        let doc = order_doc(number, *product);
        let targets = if *twice { 2 } else { 1 };
        for t in 0..targets {
            let url = format!("{}/api/v1/orders", bases[(k + t) % bases.len()]);
            let req = client.post(url).bearer_auth(token).json(&doc);
            posts.push(async move {
                (
                    number.clone(),
                    req.send()
                        .await
                        .map(|r| r.status().as_u16())
                        .map_err(|e| e.to_string()),
                )
            });
        }
    }
    for (number, status) in futures_util::future::join_all(posts).await {
        answers.entry(number).or_default().push(status);
    }
}

/// FlexIT's shipments of the orders `RD-<k>` for `ks`, posted to its webhook at the instances
/// round robin, every third one to two instances at once, every fourth one once more
/// afterwards; the answers (status and the body's `status`) kept per tracking code.
async fn post_shipments(
    client: &reqwest::Client,
    bases: &[String],
    hook_path: &str,
    ks: std::ops::Range<usize>,
    out: &mut ShipmentAnswers,
) {
    let post = |base: &str, body: Value| {
        let req = client.post(format!("{base}{hook_path}")).json(&body);
        async move {
            let r = req.send().await.map_err(|e| e.to_string())?;
            let status = r.status().as_u16();
            let v: Value = r.json().await.unwrap_or(Value::Null);
            Ok::<_, String>((status, v["status"].as_str().unwrap_or("").to_owned()))
        }
    };
    let body = |k: usize| {
        json!({"external_order_id": format!("FX-RD-{k:03}"), "track_and_trace": format!("3SIRP{k:06}"),
            "carrier": "PostNL", "serial_number": format!("SN-{k:06}")})
    };
    let n = bases.len();
    let mut posts = Vec::new();
    for k in ks.clone() {
        let targets = if k % 3 == 0 { 2 } else { 1 };
        for t in 0..targets {
            let answer = post(&bases[(k + t) % n], body(k));
            posts.push(async move { (k, answer.await) });
        }
    }
    let results = futures_util::future::join_all(posts).await;
    for (k, r) in results {
        out.entry(format!("3SIRP{k:06}")).or_default().push(r);
    }
    for k in ks.filter(|k| k % 4 == 1) {
        let r = post(&bases[(k + 2) % bases.len()], body(k)).await;
        out.entry(format!("3SIRP{k:06}")).or_default().push(r);
    }
}

fn order_doc(number: &str, product: u64) -> Value {
    json!({
        "channel": CHANNEL,
        "order_number": number,
        "placed_at": "2026-11-23T10:00:00Z",
        "customer": {"email": "jan@example.nl"},
        "shipping_address": {"first_name": "Jan", "last_name": "de Vries", "street": "Damrak",
            "house_number": "1", "zipcode": "1012 LG", "city": "Amsterdam", "country": "NL"},
        "lines": [{"ean": ean(product), "quantity": 1, "unit_price_incl_vat": "160.23"}]
    })
}

/// When each kill happened, and when the work the killed instance was doing was first seen
/// finished (by another instance): 0 the held order call, 1 the held Odoo create, 2 the held
/// push, 3 the stalled download.
#[derive(Default)]
struct Recoveries {
    killed: [Option<Instant>; 4],
    done: [Option<Instant>; 4],
    /// The reference of the ERP document whose Odoo create was held.
    held_reference: Option<String>,
    /// The run whose download stalled.
    stalled_run: Option<i64>,
}

/// Looks every 200 ms whether the work of each kill so far is finished, noting when.
fn watch(
    store: Store,
    shop: Arc<FakeShopware>,
    rec: Arc<Mutex<Recoveries>>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let (killed, done, reference, run) = {
                let r = rec.lock().unwrap();
                (r.killed, r.done, r.held_reference.clone(), r.stalled_run)
            };
            for i in 0..4 {
                if killed[i].is_none() || done[i].is_some() {
                    continue;
                }
                let finished = match i {
                    0 => supplier_order(&store, "HOLD-1")
                        .await
                        .is_some_and(|so| so.status.as_str() == "needs_attention"),
                    1 => {
                        let docs = store.erp().documents(Some("done"), 1000).await.unwrap();
                        docs.iter()
                            .any(|d| Some(&d.reference) == reference.as_ref())
                    }
                    2 => shop_shows(&shop, &[3, 4]),
                    _ => {
                        let run = match run {
                            Some(id) => store.feed_runs().get(id).await.unwrap(),
                            None => None,
                        };
                        shop_shows(&shop, &[4])
                            && run.is_some_and(|r| r.status.as_str() == "interrupted")
                    }
                };
                if finished {
                    rec.lock().unwrap().done[i] = Some(Instant::now());
                }
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
}

/// Just before instance `pid` is killed: says what it holds besides the work it is killed in
/// (that work stalls too, until its claim runs out), and exempts from the double-push check
/// the pushes whose answer it may not have recorded: those in flight, and its last one (the
/// shop answered, the process may die before it wrote that down; the next instance then sends
/// those rows again, as docs/operations.md says).
async fn before_kill(
    cluster: &Cluster<'_>,
    store: &Store,
    proxy: &ShopProxy,
    pid: u32,
    exempt: &mut HashSet<usize>,
) {
    let claims: Vec<(String, String)> = store
        .instances()
        .claims(None)
        .await
        .unwrap()
        .into_iter()
        .filter(|c| c.owner.contains(&format!(":{pid}:")))
        .map(|c| (c.kind, c.what))
        .collect();
    eprintln!("  {pid} holds {claims:?} when it is killed");
    exempt.extend(proxy.in_flight());
    let ports = cluster.local_ports(pid, proxy.port);
    if let Some(last) = proxy.last_from(&ports) {
        exempt.insert(last);
    }
}

/// Whether instance `pid` holds a claim of `kind` on `what` (any, when `None`), as IRP
/// records it (`irp status`); the claims held, to say otherwise.
async fn holds(store: &Store, pid: u32, kind: &str, what: Option<&str>) -> Result<(), String> {
    let claims = store.instances().claims(None).await.unwrap();
    let held = claims.iter().any(|c| {
        c.kind == kind && what.is_none_or(|w| c.what == w) && c.owner.contains(&format!(":{pid}:"))
    });
    if held {
        Ok(())
    } else {
        Err(format!(
            "process {pid} made the call, but IRP's claims say otherwise: {:?}",
            claims
                .iter()
                .map(|c| (&c.kind, &c.what, &c.owner))
                .collect::<Vec<_>>()
        ))
    }
}

/// Waits until no instance holds FlexIT's feed poll. (A document applied while an import runs
/// is not due at once: the import's end sets the next poll an interval on. The test applies
/// its documents between imports.)
async fn wait_feed_idle(store: &Store) {
    let idle = wait_for(TAKEOVER, || async {
        let claims = store.instances().claims(None).await.unwrap();
        (!claims.iter().any(|c| c.kind == "feed_poll")).then_some(())
    })
    .await;
    assert!(
        idle.is_some(),
        "FlexIT's feed poll stayed claimed: {:?}",
        runs_summary(store).await
    );
}

/// The (first) supplier order of the order `number`.
async fn supplier_order(
    store: &Store,
    number: &str,
) -> Option<irp_store::orders::StoredSupplierOrder> {
    let order = store.orders().by_number(CHANNEL, number).await.unwrap()?;
    store
        .orders()
        .supplier_orders_of(order.id)
        .await
        .unwrap()
        .into_iter()
        .next()
}

/// Waits until `check` answers `Some`, looking every 100 ms, for at most `wait`.
async fn wait_for<T, F: Future<Output = Option<T>>>(
    wait: Duration,
    mut check: impl FnMut() -> F,
) -> Option<T> {
    let deadline = Instant::now() + wait;
    loop {
        if let Some(v) = check().await {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

// -------------------------------------------------------------------------------------------
// The feed and its prices.

fn sku(i: u64) -> String {
    format!("FLX-{i:03}")
}

/// Product `i`'s purchase price in feed version `v`: a euro more each version.
fn purchase_cents(v: u32, i: u64) -> u64 {
    10_000 + 100 * i + 100 * u64::from(v)
}

/// What the shop must show for it: (purchase + €3.18 home copy tax + €10 shipping) × 1.17
/// (FlexIT's margin) × 1.21 (VAT), half-up to cents.
fn gross_cents(v: u32, i: u64) -> i64 {
    let cost = i64::try_from(purchase_cents(v, i)).unwrap() + 318 + 1000;
    (cost * 14_157 + 5_000) / 10_000
}

/// FlexIT's feed, version `v`: every product with a stock of 30 and more, and remarks IRP
/// does not read (they make the file large enough that most of a transfer is its content).
fn feed_csv(v: u32) -> String {
    let mut text = String::from(
        "Flex IT Part Number;Description;Stock Quantity;EAN;Sales Price;SRP;Remarks\r\n",
    );
    for i in 0..PRODUCTS {
        text.push_str(&format!(
            "{};Device {i};{};{};{};{};{}\r\n",
            sku(i),
            30 + i,
            ean(i),
            nl_price(purchase_cents(v, i)),
            nl_price(2 * purchase_cents(v, i)),
            "refurbished grade A ".repeat(400)
        ));
    }
    text
}

fn write_feed(path: &Path, v: u32) {
    std::fs::write(path, feed_csv(v)).unwrap();
}

/// Applies FlexIT's document with `latest_order_hours` 48 + `bump`: a change, so the feed is
/// due at once, that changes no price. When the apply started.
fn apply_flexit(irp: &Irp, doc: &mut Value, bump: i64) -> DateTime<Utc> {
    doc["flexit"]["monitoring"]["latest_order_hours"] = json!(48 + bump);
    let path = irp.data.path().join("flexit.json");
    std::fs::write(&path, serde_json::to_string_pretty(doc).unwrap()).unwrap();
    let at = Utc::now();
    tokio::task::block_in_place(|| {
        irp.run_ok(&["refurbisher", "apply", "-f", path.to_str().unwrap()])
    });
    at
}

/// The shop's gross price of each product, in cents.
fn shop_prices(shop: &FakeShopware) -> Vec<Option<i64>> {
    (0..PRODUCTS)
        .map(|i| {
            shop.product(&ean(i))
                .and_then(|p| p["price"][0]["gross"].as_f64())
                .map(|g| (g * 100.0).round() as i64)
        })
        .collect()
}

/// Whether the shop shows, for every product, its price of one of the feed `versions`.
fn shop_shows(shop: &FakeShopware, versions: &[u32]) -> bool {
    shop_prices(shop)
        .iter()
        .zip(0..PRODUCTS)
        .all(|(got, i)| versions.iter().any(|v| *got == Some(gross_cents(*v, i))))
}

/// The products whose shop price or stock differs from IRP's channel row, or whose row is not
/// pushed at its revision.
async fn channel_matches_shop(store: &Store, shop: &FakeShopware) -> Vec<String> {
    let mut differ = Vec::new();
    for i in 0..PRODUCTS {
        let rows = store.catalog().channel_rows_of(&ean(i)).await.unwrap();
        let Some(row) = rows.iter().find(|r| r.channel == CHANNEL) else {
            differ.push(format!("{}: no channel row", ean(i)));
            continue;
        };
        let p = shop.product(&ean(i)).unwrap_or(Value::Null);
        let gross = p["price"][0]["gross"]
            .as_f64()
            .map(|g| (g * 100.0).round() as i64);
        if row.dirty
            || row.pushed_revision != Some(row.revision)
            || gross != row.price_incl_minor
            || p["stock"].as_i64() != Some(row.stock)
        {
            differ.push(format!(
                "{}: IRP {:?} cents, stock {}, revision {} (pushed {:?}, dirty {}); shop {gross:?}, stock {}",
                ean(i),
                row.price_incl_minor,
                row.stock,
                row.revision,
                row.pushed_revision,
                row.dirty,
                p["stock"]
            ));
        }
    }
    differ
}

/// FlexIT's runs, oldest first: (id, status, started, finished, message).
type RunSummary = (i64, String, String, Option<String>, Option<String>);
async fn runs_summary(store: &Store) -> Vec<RunSummary> {
    let mut runs = store.feed_runs().list(FLEXIT, 1000).await.unwrap();
    runs.sort_by_key(|r| r.id);
    runs.iter()
        .map(|r| {
            (
                r.id,
                r.status.as_str().to_owned(),
                r.started_at.format("%H:%M:%S%.3f").to_string(),
                r.finished_at.map(|t| t.format("%H:%M:%S%.3f").to_string()),
                r.message.clone(),
            )
        })
        .collect()
}

// -------------------------------------------------------------------------------------------
// The fakes and proxies of this test. Each runs on a thread and runtime of its own (the test
// blocks its own runtime while it starts and kills processes) and knows each caller's address.

/// Serves `app` on a free loopback port, telling handlers the caller's address; its port.
fn serve_app(name: &str, app: axum::Router) -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::Builder::new()
        .name(format!("{name}-{port}"))
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                axum::serve(
                    listener,
                    app.into_make_service_with_connect_info::<SocketAddr>(),
                )
                .await
                .unwrap();
            });
        })
        .unwrap();
    port
}

/// A client for the proxies: no redirects followed, nothing decompressed.
fn proxy_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_gzip()
        .build()
        .unwrap()
}

/// Sends a request on to `upstream` (a base URL) as it came; the answer.
async fn forward(
    client: &reqwest::Client,
    upstream: &str,
    method: Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: Bytes,
) -> (StatusCode, HeaderMap, Bytes) {
    let target = format!(
        "{upstream}{}",
        uri.path_and_query().map_or(uri.path(), |p| p.as_str())
    );
    let mut req = client.request(method, target).body(body);
    for (name, value) in headers {
        if !matches!(
            name.as_str(),
            "host" | "content-length" | "connection" | "transfer-encoding"
        ) {
            req = req.header(name.clone(), value.clone());
        }
    }
    match req.send().await {
        Ok(r) => {
            let status = r.status();
            let mut h = r.headers().clone();
            for name in ["content-length", "transfer-encoding", "connection"] {
                h.remove(name);
            }
            (status, h, r.bytes().await.unwrap_or_default())
        }
        Err(e) => (
            StatusCode::BAD_GATEWAY,
            HeaderMap::new(),
            e.to_string().into(),
        ),
    }
}

fn respond(status: StatusCode, headers: HeaderMap, body: Bytes) -> Response {
    let mut r = (status, body).into_response();
    r.headers_mut().extend(headers);
    r
}

/// One order call FlexIT's API got.
#[derive(Debug, Clone)]
struct OrderCall {
    reference: String,
    peer: SocketAddr,
}

/// FlexIT's order API: answers 201 `{"OrderNumber": "FX-<yourReference>"}`, records each call
/// and who made it, and holds the call of one reference until released.
struct OrderApi {
    url: String,
    port: u16,
    calls: Arc<Mutex<Vec<OrderCall>>>,
    hold: Arc<Mutex<Option<String>>>,
    release: Arc<Notify>,
}

impl OrderApi {
    fn start() -> OrderApi {
        let calls = Arc::new(Mutex::new(Vec::new()));
        let hold: Arc<Mutex<Option<String>>> = Arc::new(Mutex::new(None));
        let release = Arc::new(Notify::new());
        let (kept, held, released) = (calls.clone(), hold.clone(), release.clone());
        let app = axum::Router::new().route(
            "/order",
            axum::routing::post(
                move |ConnectInfo(peer): ConnectInfo<SocketAddr>,
                      headers: HeaderMap,
                      body: String| {
                    let (calls, hold, release) = (kept.clone(), held.clone(), released.clone());
                    async move {
                        if headers.get("client_secret").and_then(|v| v.to_str().ok())
                            != Some("order-secret")
                        {
                            return (StatusCode::UNAUTHORIZED, "{}".to_owned());
                        }
                        let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
                        let reference = v["yourReference"].as_str().unwrap_or("").to_owned();
                        calls.lock().unwrap().push(OrderCall {
                            reference: reference.clone(),
                            peer,
                        });
                        let held = hold.lock().unwrap().as_deref() == Some(reference.as_str());
                        if held {
                            tokio::select! {
                                () = release.notified() => {}
                                () = tokio::time::sleep(Duration::from_secs(300)) => {}
                            }
                        }
                        (
                            StatusCode::CREATED,
                            json!({"OrderNumber": format!("FX-{reference}")}).to_string(),
                        )
                    }
                },
            ),
        );
        let port = serve_app("order-api", app);
        OrderApi {
            url: format!("http://127.0.0.1:{port}/order"),
            port,
            calls,
            hold,
            release,
        }
    }

    /// Hold the calls of the order `reference` (until [`OrderApi::release`]).
    fn hold(&self, reference: &str) {
        *self.hold.lock().unwrap() = Some(reference.to_owned());
    }

    fn release(&self) {
        *self.hold.lock().unwrap() = None;
        self.release.notify_waiters();
    }

    fn count(&self, reference: &str) -> usize {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .filter(|c| c.reference == reference)
            .count()
    }

    fn call_of(&self, reference: &str) -> Option<OrderCall> {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .find(|c| c.reference == reference)
            .cloned()
    }

    fn references(&self) -> Vec<String> {
        let mut r: Vec<String> = self
            .calls
            .lock()
            .unwrap()
            .iter()
            .map(|c| c.reference.clone())
            .collect();
        r.sort();
        r
    }
}

/// A product row of an `_action/sync` upsert.
#[derive(Debug, Clone, PartialEq, Eq)]
struct PushedRow {
    number: String,
    gross_cents: Option<i64>,
    stock: i64,
    active: bool,
}

/// An `_action/sync` the shop got: from where, its product rows, and the shop's answer (none
/// while it is held).
#[derive(Debug, Clone)]
struct SyncSeen {
    peer: SocketAddr,
    at: Instant,
    rows: Vec<PushedRow>,
    answered: Option<u16>,
}

/// The shop behind a proxy that records every `_action/sync`.
struct ShopProxy {
    url: String,
    port: u16,
    syncs: Arc<Mutex<Vec<SyncSeen>>>,
}

impl ShopProxy {
    fn start(upstream: &str) -> ShopProxy {
        let syncs = Arc::new(Mutex::new(Vec::new()));
        let (kept, upstream, client) = (syncs.clone(), upstream.to_owned(), proxy_client());
        let app = axum::Router::new().fallback(
            move |ConnectInfo(peer): ConnectInfo<SocketAddr>,
                  method: Method,
                  uri: Uri,
                  headers: HeaderMap,
                  body: Bytes| {
                let (kept, upstream, client) = (kept.clone(), upstream.clone(), client.clone());
                async move {
                    let seen = (uri.path() == "/api/_action/sync").then(|| {
                        let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                        let mut s = kept.lock().unwrap();
                        s.push(SyncSeen {
                            peer,
                            at: Instant::now(),
                            rows: product_rows(&v),
                            answered: None,
                        });
                        s.len() - 1
                    });
                    let (status, h, b) =
                        forward(&client, &upstream, method, &uri, &headers, body).await;
                    if let Some(i) = seen {
                        kept.lock().unwrap()[i].answered = Some(status.as_u16());
                    }
                    respond(status, h, b)
                }
            },
        );
        let port = serve_app("shop-proxy", app);
        ShopProxy {
            url: format!("http://127.0.0.1:{port}"),
            port,
            syncs,
        }
    }

    fn count(&self) -> usize {
        self.syncs.lock().unwrap().len()
    }

    /// The syncs not answered yet.
    fn in_flight(&self) -> Vec<usize> {
        self.syncs
            .lock()
            .unwrap()
            .iter()
            .enumerate()
            .filter(|(_, s)| s.answered.is_none())
            .map(|(i, _)| i)
            .collect()
    }

    /// The last sync that came over a connection from one of `ports`.
    fn last_from(&self, ports: &HashSet<u16>) -> Option<usize> {
        self.syncs
            .lock()
            .unwrap()
            .iter()
            .rposition(|s| ports.contains(&s.peer.port()))
    }

    /// A sync from `from` on that has waited for its answer at least `for_at_least`: held.
    fn held_since(&self, from: usize, for_at_least: Duration) -> Option<(usize, SocketAddr)> {
        self.syncs
            .lock()
            .unwrap()
            .iter()
            .enumerate()
            .skip(from)
            .find(|(_, s)| s.answered.is_none() && s.at.elapsed() >= for_at_least)
            .map(|(i, s)| (i, s.peer))
    }
}

/// The product rows of an `_action/sync` payload (operations keyed or in an array).
fn product_rows(payload: &Value) -> Vec<PushedRow> {
    let ops: Vec<&Value> = match payload {
        Value::Object(m) => m.values().collect(),
        Value::Array(a) => a.iter().collect(),
        _ => Vec::new(),
    };
    ops.into_iter()
        .filter(|op| op["entity"] == "product" && op["action"] == "upsert")
        .filter_map(|op| op["payload"].as_array())
        .flatten()
        .map(|row| PushedRow {
            number: row["id"]["value"]
                .as_str()
                .or_else(|| row["productNumber"].as_str())
                .unwrap_or("?")
                .to_owned(),
            gross_cents: row["price"][0]["gross"]
                .as_f64()
                .map(|g| (g * 100.0).round() as i64),
            stock: row["stock"].as_i64().unwrap_or(-1),
            active: row["active"].as_bool().unwrap_or(false),
        })
        .collect()
}

/// A purchase order creation Odoo did, whose answer is held.
#[derive(Debug, Clone)]
struct HeldCreate {
    reference: String,
    peer: SocketAddr,
}

/// Odoo (behind its Alumio) behind a proxy that, when armed, lets the next purchase order
/// creation through to Odoo and holds its answer until released.
struct OdooProxy {
    url: String,
    port: u16,
    armed: Arc<AtomicBool>,
    held: Arc<Mutex<Option<HeldCreate>>>,
    release: Arc<Notify>,
}

impl OdooProxy {
    fn start(upstream: &str) -> OdooProxy {
        let armed = Arc::new(AtomicBool::new(false));
        let held = Arc::new(Mutex::new(None));
        let release = Arc::new(Notify::new());
        let (a, h, r) = (armed.clone(), held.clone(), release.clone());
        let (upstream, client) = (upstream.to_owned(), proxy_client());
        let app = axum::Router::new().fallback(
            move |ConnectInfo(peer): ConnectInfo<SocketAddr>,
                  method: Method,
                  uri: Uri,
                  headers: HeaderMap,
                  body: Bytes| {
                let (armed, held, release) = (a.clone(), h.clone(), r.clone());
                let (upstream, client) = (upstream.clone(), client.clone());
                async move {
                    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    let args = &v["params"]["args"];
                    let create = args[3] == "purchase.order" && args[4] == "create";
                    let hold = create && armed.swap(false, Ordering::SeqCst);
                    let reference = find_key(&v, "partner_ref").unwrap_or_default();
                    let (status, hs, b) =
                        forward(&client, &upstream, method, &uri, &headers, body).await;
                    if hold {
                        *held.lock().unwrap() = Some(HeldCreate { reference, peer });
                        tokio::select! {
                            () = release.notified() => {}
                            () = tokio::time::sleep(Duration::from_secs(300)) => {}
                        }
                    }
                    respond(status, hs, b)
                }
            },
        );
        let port = serve_app("odoo-proxy", app);
        OdooProxy {
            url: format!("http://127.0.0.1:{port}"),
            port,
            armed,
            held,
            release,
        }
    }

    fn arm(&self) {
        self.armed.store(true, Ordering::SeqCst);
    }

    /// The creation whose answer is held, once there is one.
    fn held(&self) -> Option<HeldCreate> {
        self.held.lock().unwrap().clone()
    }

    fn release(&self) {
        self.release.notify_waiters();
    }
}

/// The first string value of `key` anywhere in `v`.
fn find_key(v: &Value, key: &str) -> Option<String> {
    match v {
        Value::Object(m) => m
            .get(key)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .or_else(|| m.values().find_map(|x| find_key(x, key))),
        Value::Array(a) => a.iter().find_map(|x| find_key(x, key)),
        _ => None,
    }
}

/// The notification webhook (`IRP_NOTIFY_URL`): records every post.
struct Notifications {
    url: String,
    posts: Arc<Mutex<Vec<Value>>>,
}

impl Notifications {
    fn start() -> Notifications {
        let posts = Arc::new(Mutex::new(Vec::new()));
        let kept = posts.clone();
        let app = axum::Router::new().route(
            "/notify",
            axum::routing::post(move |body: Bytes| {
                let kept = kept.clone();
                async move {
                    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    kept.lock().unwrap().push(v);
                    StatusCode::OK
                }
            }),
        );
        let port = serve_app("notify", app);
        Notifications {
            url: format!("http://127.0.0.1:{port}/notify"),
            posts,
        }
    }

    /// How often alert `id`'s `event` (`opened`, `resolved`) was posted.
    fn count(&self, id: i64, event: &str) -> usize {
        self.posts
            .lock()
            .unwrap()
            .iter()
            .filter(|p| p["event"] == event && p["alert"]["id"].as_i64() == Some(id))
            .count()
    }

    /// (alert id, event) of every post.
    fn events(&self) -> Vec<(i64, String)> {
        self.posts
            .lock()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p["alert"]["id"].as_i64().unwrap_or(0),
                    p["event"].as_str().unwrap_or("").to_owned(),
                )
            })
            .collect()
    }
}

/// A TCP gate in front of the sshd: passes every connection through, except that the next
/// connection after [`SftpGate::stall_next_after`] gets only that many bytes from the server;
/// then nothing more, until its client goes (a line that hangs in the middle of a download).
struct SftpGate {
    port: u16,
    budget: Arc<Mutex<Option<u64>>>,
    stalled: Arc<Mutex<Option<SocketAddr>>>,
}

impl SftpGate {
    fn start(upstream: u16) -> SftpGate {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let budget: Arc<Mutex<Option<u64>>> = Arc::new(Mutex::new(None));
        let stalled: Arc<Mutex<Option<SocketAddr>>> = Arc::new(Mutex::new(None));
        let (armed, seen) = (budget.clone(), stalled.clone());
        std::thread::Builder::new()
            .name(format!("sftp-gate-{port}"))
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async move {
                    let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                    while let Ok((client, peer)) = listener.accept().await {
                        let mut left = armed.lock().unwrap().take();
                        let seen = seen.clone();
                        tokio::spawn(async move {
                            let Ok(server) =
                                tokio::net::TcpStream::connect(("127.0.0.1", upstream)).await
                            else {
                                return;
                            };
                            let (mut from_client, mut to_client) = client.into_split();
                            let (mut from_server, mut to_server) = server.into_split();
                            let up = tokio::spawn(async move {
                                let _ = tokio::io::copy(&mut from_client, &mut to_server).await;
                                let _ = to_server.shutdown().await;
                            });
                            let mut buf = vec![0u8; 16 * 1024];
                            loop {
                                let n = match from_server.read(&mut buf).await {
                                    Ok(0) | Err(_) => break,
                                    Ok(n) => n,
                                };
                                let pass = left.map_or(n, |l| n.min(usize::try_from(l).unwrap()));
                                if to_client.write_all(&buf[..pass]).await.is_err() {
                                    break;
                                }
                                if let Some(l) = left.as_mut() {
                                    *l -= pass as u64;
                                    if *l == 0 {
                                        // Stalled: nothing more from the server until the
                                        // client goes.
                                        *seen.lock().unwrap() = Some(peer);
                                        let _ = up.await;
                                        return;
                                    }
                                }
                            }
                            let _ = to_client.shutdown().await;
                        });
                    }
                });
            })
            .unwrap();
        SftpGate {
            port,
            budget,
            stalled,
        }
    }

    /// The next connection gets `bytes` from the server, then stalls.
    fn stall_next_after(&self, bytes: u64) {
        *self.stalled.lock().unwrap() = None;
        *self.budget.lock().unwrap() = Some(bytes);
    }

    /// The client address of the connection that stalled, once one did.
    fn stalled(&self) -> Option<SocketAddr> {
        *self.stalled.lock().unwrap()
    }
}
