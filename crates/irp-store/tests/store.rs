//! The store on both backends: every test here runs once on SQLite and once on PostgreSQL.

#![allow(clippy::unwrap_used)] // a panic is how a test fails

use irp_core::config::{Refurbisher, parse_document};
use irp_core::secret_ref::EnvAllowList;
use irp_store::refurbishers::ApplyAction;
use irp_store::secrets::{Scope, SecretKey, SetOutcome};
use irp_store::testkit::TestDb;
use irp_store::{StoreError, db_tests};

fn shipped(name: &str) -> Vec<Refurbisher> {
    let path = format!(
        "{}/../../config/refurbishers/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let doc = parse_document(&std::fs::read_to_string(path).unwrap());
    assert!(doc.is_ok());
    doc.refurbishers
}

/// FlexIT's shipped document, applied; the stored refurbisher.
async fn flexit(s: &irp_store::Store) -> irp_store::refurbishers::StoredRefurbisher {
    s.refurbishers()
        .apply(&shipped("flexit.json"), "test")
        .await
        .unwrap();
    s.refurbishers().get("flexit").await.unwrap().unwrap()
}

fn doc(text: &str) -> Vec<Refurbisher> {
    let d = parse_document(text);
    assert!(d.is_ok(), "{:?}", d.diagnostics);
    d.refurbishers
}

db_tests!(
    migrations_are_all_applied_and_rerunning_them_is_a_no_op,
    apply_show_apply_round_trips_unchanged,
    a_changed_field_is_reported_and_versioned,
    a_missing_refurbisher_id_is_assigned_and_kept,
    ids_and_supplier_ids_cannot_be_taken_twice,
    a_failed_apply_changes_nothing,
    secrets_are_stored_sealed_and_listed_without_values,
    every_change_is_audited,
    concurrent_applies_get_distinct_ids,
    references_resolve_from_the_store_and_the_environment,
    a_document_resolves_only_its_own_secrets_and_allowed_variables,
    a_secret_goes_only_where_it_was_first_used_until_stored_again,
    operators_log_in_with_their_password_and_sessions_end,
    progress_is_recorded_while_another_writer_holds_the_database,
    runs_left_running_by_a_dead_process_are_closed_as_interrupted,
    one_instance_holds_a_job_lease_until_it_runs_out_or_is_released,
);

/// A job lease is held by one instance, renewed by it, taken over once it ran out, released
/// when its instance leaves; `claims` lists it, and the instance's feed poll claim with it.
async fn one_instance_holds_a_job_lease_until_it_runs_out_or_is_released(db: TestDb) {
    let s = &db.store;
    let r = flexit(s).await;
    let i = s.instances();
    let minute = chrono::TimeDelta::minutes(1);
    assert!(i.acquire("monitor", "a", minute).await.unwrap());
    // Renewed by its holder, refused to another.
    assert!(i.acquire("monitor", "a", minute).await.unwrap());
    assert!(!i.acquire("monitor", "b", minute).await.unwrap());
    let now = irp_store::now();
    let poll = s
        .refurbishers()
        .poll_claim("a", now, now + minute)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(poll.refurbisher_id, r.id);
    let held: Vec<(String, String)> = i
        .claims(Some("a"))
        .await
        .unwrap()
        .into_iter()
        .map(|c| (c.kind, c.what))
        .collect();
    assert_eq!(
        held,
        [
            ("feed_poll".into(), r.key.clone()),
            ("job".into(), "monitor".into())
        ]
    );
    assert!(i.claims(Some("b")).await.unwrap().is_empty());
    // Run out (its holder died): taken over.
    assert!(
        i.acquire("monitor", "a", chrono::TimeDelta::seconds(-1))
            .await
            .unwrap()
    );
    assert!(i.acquire("monitor", "b", minute).await.unwrap());
    assert!(!i.acquire("monitor", "a", minute).await.unwrap());
    // Leaving releases at once: the lease, and the feed poll (due again at once).
    i.heartbeat("b", "1", "127.0.0.1:1", "monitor", now)
        .await
        .unwrap();
    i.heartbeat("a", "1", "127.0.0.1:2", "feeds", now)
        .await
        .unwrap();
    assert_eq!(i.list(minute).await.unwrap().len(), 2);
    assert_eq!(i.leave("b").await.unwrap(), 1);
    assert_eq!(i.leave("a").await.unwrap(), 1);
    assert!(i.list(minute).await.unwrap().is_empty());
    assert!(i.claims(None).await.unwrap().is_empty());
    assert!(i.acquire("monitor", "a", minute).await.unwrap());
    let again = s
        .refurbishers()
        .poll_claim("c", now, now + minute)
        .await
        .unwrap();
    assert_eq!(again.map(|c| c.key), Some(r.key.clone()));
}

/// A run whose process stopped reporting is closed as `interrupted`; a run that reports, and
/// a run younger than the lease, are left running.
async fn runs_left_running_by_a_dead_process_are_closed_as_interrupted(db: TestDb) {
    use irp_core::feed::FeedRunStatus;
    use irp_store::progress::{WorkProgress, feed_run_work};
    let s = &db.store;
    let r = flexit(s).await;
    let dead = s.feed_runs().start(r.id, "schedule").await.unwrap();
    let live = s.feed_runs().start(r.id, "manual").await.unwrap();
    let at = irp_store::now() + chrono::TimeDelta::seconds(60);
    s.progress()
        .record(&WorkProgress {
            work: feed_run_work(live),
            phase: "reading".into(),
            done: 1,
            total: None,
            phase_started_at: at,
            updated_at: at,
        })
        .await
        .unwrap();
    // A lease of 30 s: both just started, neither is closed.
    let lease = chrono::TimeDelta::seconds(30);
    assert_eq!(
        s.feed_runs().close_interrupted(lease).await.unwrap(),
        Vec::<i64>::new()
    );
    // Past the lease, only the silent one is.
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let closed = s
        .feed_runs()
        .close_interrupted(chrono::TimeDelta::zero())
        .await
        .unwrap();
    assert_eq!(closed, vec![dead]);
    let run = s.feed_runs().get(dead).await.unwrap().unwrap();
    assert_eq!(run.status, FeedRunStatus::Interrupted);
    assert!(run.finished_at.is_some());
    assert!(
        run.message
            .as_deref()
            .is_some_and(|m| m.starts_with("interrupted: the process running it ended before it")),
        "{:?}",
        run.message
    );
    assert_eq!(
        s.feed_runs().get(live).await.unwrap().unwrap().status,
        FeedRunStatus::Running
    );
    // Closing again closes nothing more.
    assert_eq!(
        s.feed_runs()
            .close_interrupted(chrono::TimeDelta::zero())
            .await
            .unwrap(),
        Vec::<i64>::new()
    );
}

/// The progress board takes a running feed run's reports while that run's transaction holds
/// the database (on SQLite, its one write lock): the board is written, read back, replaced and
/// cleared within a second each.
async fn progress_is_recorded_while_another_writer_holds_the_database(db: TestDb) {
    use irp_store::progress::{WorkProgress, feed_run_work};
    use std::time::Duration;
    let s = &db.store;
    let r = flexit(s).await;
    let run = s.feed_runs().start(r.id, "manual").await.unwrap();
    // A feed run's apply transaction is open (on SQLite it holds the write lock).
    let version = s
        .feed_write()
        .offers_index(r.id, &mut |_, _, _| {})
        .await
        .unwrap();
    let held = s
        .feed_write()
        .start(r.id, run, version, 500_000)
        .await
        .unwrap();
    let work = feed_run_work(run);
    let at = irp_store::now();
    let mut entry = WorkProgress {
        work: work.clone(),
        phase: "reading".into(),
        done: 20_000,
        total: None,
        phase_started_at: at,
        updated_at: at,
    };
    let second = Duration::from_secs(1);
    tokio::time::timeout(second, s.progress().record(&entry))
        .await
        .unwrap()
        .unwrap();
    let got = tokio::time::timeout(second, s.progress().get(&work))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got, Some(entry.clone()));
    entry.phase = "pricing".into();
    entry.done = 5;
    entry.total = Some(1_000_000);
    tokio::time::timeout(second, s.progress().record(&entry))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(s.progress().get(&work).await.unwrap(), Some(entry));
    tokio::time::timeout(second, s.progress().clear(&work))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(s.progress().get(&work).await.unwrap(), None);
    held.rollback().await.unwrap();
}

async fn references_resolve_from_the_store_and_the_environment(db: TestDb) {
    let s = &db.store;
    let key = SecretKey::generate().unwrap();
    s.secrets()
        .set(&key, "flexit.offers.auth.password", "pw-9-long")
        .await
        .unwrap();
    // The variable name is unique to this process and never set.
    let var = format!("IRP_REF_TEST_HOST_{}", std::process::id());
    let env = EnvAllowList::parse("IRP_REF_*, HOME").unwrap();
    let scope = Scope {
        namespace: "flexit",
        env: &env,
        bind: true,
    };
    let doc = serde_json::json!({
        "auth": { "password": "${secret:flexit.offers.auth.password}", "host": format!("sftp.${{env:{var}}}.example"), "keep": "$${literal}" }
    });
    let err = s
        .secrets()
        .resolve_references(Some(&key), scope, &doc)
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("auth.host: environment variable `{var}` is not set")
    );

    let with_env = serde_json::json!({
        "auth": { "password": "${secret:flexit.offers.auth.password}", "home": "${env:HOME}", "keep": "$${literal}" }
    });
    let resolved = s
        .secrets()
        .resolve_references(Some(&key), scope, &with_env)
        .await
        .unwrap();
    assert_eq!(resolved.expose()["auth"]["password"], "pw-9-long");
    assert_eq!(
        resolved.expose()["auth"]["home"],
        std::env::var("HOME").unwrap()
    );
    assert_eq!(resolved.expose()["auth"]["keep"], "${literal}");
    assert_eq!(format!("{resolved:?}"), "Resolved(********)");
    assert_eq!(
        resolved
            .scrubber()
            .scrub("opening /x/pw-9-long: No such file or directory"),
        "opening /x/${secret:flexit.offers.auth.password}: No such file or directory"
    );

    let missing = serde_json::json!({ "a": "${secret:flexit.nope}", "b": "${secret:flexit.offers.auth.password}" });
    let err = s
        .secrets()
        .resolve_references(None, scope, &missing)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("a: ${secret:flexit.nope} needs the secret key"),
        "{err}"
    );
    let err = s
        .secrets()
        .resolve_references(Some(&key), scope, &missing)
        .await
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "a: secret `flexit.nope` is not in the secret store (run `irp secret set flexit.nope`)"
    );
    assert!(!err.contains("pw-9"));
}

/// An operator who may edit one document cannot make it reveal another document's credentials,
/// the secret store's key or the database URL.
async fn a_document_resolves_only_its_own_secrets_and_allowed_variables(db: TestDb) {
    let s = &db.store;
    let key = SecretKey::generate().unwrap();
    s.secrets()
        .set(&key, "flexit.offers.auth.password", "flexit-pw-1")
        .await
        .unwrap();
    s.secrets()
        .set(&key, "acme.token", "acme-token-1")
        .await
        .unwrap();
    let wide = EnvAllowList::parse("*").unwrap();
    let acme = Scope {
        namespace: "acme",
        env: &wide,
        bind: true,
    };
    let doc = serde_json::json!({
        "path": "/x/${env:IRP_SECRET_KEY}/${secret:flexit.offers.auth.password}/${env:IRP_DATABASE_URL}",
        "token": "${secret:acme.token}",
    });
    let err = s
        .secrets()
        .resolve_references(Some(&key), acme, &doc)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("path: environment variable `IRP_SECRET_KEY` may not be read by documents"),
        "{err}"
    );
    assert!(
        err.contains("path: ${secret:flexit.offers.auth.password} is not one of this document's secrets (only names under `acme.` are)"),
        "{err}"
    );
    assert!(
        err.contains("environment variable `IRP_DATABASE_URL` may not be read"),
        "{err}"
    );
    assert!(!err.contains("flexit-pw-1") && !err.contains(&key.to_base64()));

    // The default list allows `IRP_REF_*` only.
    let default = EnvAllowList::default();
    let err = s
        .secrets()
        .resolve_references(
            Some(&key),
            Scope {
                namespace: "acme",
                env: &default,
                bind: true,
            },
            &serde_json::json!({ "h": "${env:HOME}" }),
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("`HOME` may not be read by documents"), "{err}");

    // A secret too short to be kept out of messages is refused.
    let err = s.secrets().set(&key, "acme.pin", "123").await.unwrap_err();
    assert!(
        err.to_string().contains("shorter than 4 characters"),
        "{err}"
    );
}

/// An operator who changes where a connector points cannot have its stored credential sent
/// there: the secret is bound to the destinations of its first use after it was stored.
async fn a_secret_goes_only_where_it_was_first_used_until_stored_again(db: TestDb) {
    let s = &db.store;
    let key = SecretKey::generate().unwrap();
    let scope = Scope {
        namespace: "acme",
        env: &EnvAllowList::default(),
        bind: true,
    };
    s.secrets()
        .set(&key, "acme.offers.auth.token", "acme-token-1")
        .await
        .unwrap();
    let at = |endpoint: &str| {
        serde_json::json!({"acme": {"offers": {"endpoint": endpoint,
            "auth": {"type": "bearer", "token": "${secret:acme.offers.auth.token}"}}}})
    };
    // A preview without destinations (a file) binds nothing.
    let file = serde_json::json!({"acme": {"offers": {"path": "x.csv", "auth": {"token": "${secret:acme.offers.auth.token}"}}}});
    s.secrets()
        .resolve_references(Some(&key), scope, &file)
        .await
        .unwrap();
    // The first use binds; the same origin (another path, the default port) is fine.
    s.secrets()
        .resolve_references(Some(&key), scope, &at("https://feed.acme.example/a"))
        .await
        .unwrap();
    s.secrets()
        .resolve_references(
            Some(&key),
            scope,
            &at("https://FEED.acme.example:443/b?x=1"),
        )
        .await
        .unwrap();
    for elsewhere in [
        "https://attacker.example/feed",
        "http://feed.acme.example/a",
        "https://feed.acme.example:8443/a",
    ] {
        let err = s
            .secrets()
            .resolve_references(Some(&key), scope, &at(elsewhere))
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("${secret:acme.offers.auth.token} was stored for https://feed.acme.example:443 and would now be sent to"),
            "{elsewhere}: {err}"
        );
        assert!(!err.contains("acme-token-1"));
    }
    // A preview of an unsaved document neither binds nor goes elsewhere.
    let unsaved = Scope {
        bind: false,
        ..scope
    };
    s.secrets()
        .set(&key, "acme.other", "acme-other-1")
        .await
        .unwrap();
    let other = serde_json::json!({"acme": {"offers": {"endpoint": "https://feed.acme.example/",
        "auth": {"type": "bearer", "token": "${secret:acme.other}"}}}});
    let err = s
        .secrets()
        .resolve_references(Some(&key), unsaved, &other)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("has not been used since it was stored"),
        "{err}"
    );
    s.secrets()
        .resolve_references(Some(&key), unsaved, &at("https://feed.acme.example/c"))
        .await
        .unwrap();
    // A destination IRP cannot read is no destination a secret goes to.
    let odd = serde_json::json!({"acme": {"offers": {"endpoint": "mailto:feed@acme.example",
        "auth": {"type": "bearer", "token": "${secret:acme.offers.auth.token}"}}}});
    let err = s
        .secrets()
        .resolve_references(Some(&key), scope, &odd)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("destinations IRP can tell apart"), "{err}");
    // Stored again (by someone who knows it), it goes where it is used next.
    s.secrets()
        .set(&key, "acme.offers.auth.token", "acme-token-2")
        .await
        .unwrap();
    let r = s
        .secrets()
        .resolve_references(Some(&key), scope, &at("https://new-feed.acme.example/"))
        .await
        .unwrap();
    assert_eq!(
        r.expose()["acme"]["offers"]["auth"]["token"],
        "acme-token-2"
    );
    assert!(
        s.secrets()
            .resolve_references(Some(&key), scope, &at("https://feed.acme.example/a"))
            .await
            .is_err()
    );
}

async fn concurrent_applies_get_distinct_ids(db: TestDb) {
    let mut tasks = Vec::new();
    for i in 0..8 {
        let store = db.store.clone();
        tasks.push(tokio::spawn(async move {
            let r = doc(&format!(r#"{{ "r{i}": {{ "default_margin": 10 }} }}"#));
            store.refurbishers().apply(&r, "test").await.unwrap()[0].refurbisher_id
        }));
    }
    let mut ids = Vec::new();
    for t in tasks {
        ids.push(t.await.unwrap());
    }
    ids.sort_unstable();
    assert_eq!(ids, (1..=8).collect::<Vec<i64>>());
}

async fn migrations_are_all_applied_and_rerunning_them_is_a_no_op(db: TestDb) {
    let s = &db.store;
    assert_eq!(
        s.applied_migrations().await.unwrap(),
        s.embedded_migrations()
    );
    assert_eq!(s.migrate().await.unwrap(), Vec::<i64>::new());
    s.ping().await.unwrap();
}

async fn apply_show_apply_round_trips_unchanged(db: TestDb) {
    let s = &db.store;
    let mut all = shipped("flexit.json");
    all.extend(shipped("iused-stores.json"));

    let first = s.refurbishers().apply(&all, "test").await.unwrap();
    assert_eq!(
        first
            .iter()
            .map(|o| (o.key.as_str(), o.action))
            .collect::<Vec<_>>(),
        [
            ("flexit", ApplyAction::Created),
            ("iused-alumio", ApplyAction::Created)
        ]
    );

    let flexit = s
        .refurbishers()
        .get("flexit")
        .await
        .unwrap()
        .expect("stored");
    assert_eq!(flexit.id, 15);
    assert_eq!(flexit.version, 1);
    assert_eq!(flexit.model, all[0]);
    assert_eq!(flexit.document, all[0].to_canonical_json());

    let again = s.refurbishers().apply(&all, "test").await.unwrap();
    assert!(
        again
            .iter()
            .all(|o| o.action == ApplyAction::Unchanged && o.changes.is_empty())
    );
    assert_eq!(
        s.refurbishers()
            .get("flexit")
            .await
            .unwrap()
            .unwrap()
            .version,
        1
    );

    let listed: Vec<(i64, String)> = s
        .refurbishers()
        .list()
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.id, r.key))
        .collect();
    assert_eq!(
        listed,
        [(1, "iused-alumio".to_owned()), (15, "flexit".to_owned())]
    );
    assert!(s.refurbishers().get("nope").await.unwrap().is_none());
}

async fn a_changed_field_is_reported_and_versioned(db: TestDb) {
    let s = &db.store;
    s.refurbishers()
        .apply(&shipped("flexit.json"), "test")
        .await
        .unwrap();
    let mut changed = shipped("flexit.json");
    changed[0].default_margin = "18".parse().unwrap();
    changed[0].monitoring.open_order_days = 5;
    let out = s.refurbishers().apply(&changed, "test").await.unwrap();
    assert_eq!(out[0].action, ApplyAction::Updated);
    let paths: Vec<String> = out[0]
        .changes
        .iter()
        .map(|c| {
            format!(
                "{}: {} -> {}",
                c.path,
                c.old.as_ref().unwrap(),
                c.new.as_ref().unwrap()
            )
        })
        .collect();
    assert_eq!(
        paths,
        [
            r#"default_margin: "17" -> "18""#,
            "monitoring.open_order_days: 4 -> 5"
        ]
    );
    let stored = s.refurbishers().get("flexit").await.unwrap().unwrap();
    assert_eq!(stored.version, 2);
    assert_eq!(stored.model.default_margin.to_string(), "18");
    assert!(stored.updated_at >= stored.created_at);
}

async fn a_missing_refurbisher_id_is_assigned_and_kept(db: TestDb) {
    let s = &db.store;
    s.refurbishers()
        .apply(&shipped("flexit.json"), "test")
        .await
        .unwrap();
    // `new` has no id and comes first; `named` asks for 16. The assigned id must not take 16.
    let both = doc(
        r#"{ "new": { "default_margin": 10 }, "named": { "refurbisher_id": 16, "default_margin": 10 } }"#,
    );
    let out = s.refurbishers().apply(&both, "test").await.unwrap();
    assert_eq!(
        out.iter()
            .map(|o| (o.key.as_str(), o.refurbisher_id))
            .collect::<Vec<_>>(),
        [("new", 17), ("named", 16)]
    );
    // Applying the same id-less document again keeps the id it got.
    let out = s
        .refurbishers()
        .apply(&doc(r#"{ "new": { "default_margin": 10 } }"#), "test")
        .await
        .unwrap();
    assert_eq!(
        (out[0].refurbisher_id, out[0].action),
        (17, ApplyAction::Unchanged)
    );
}

async fn ids_and_supplier_ids_cannot_be_taken_twice(db: TestDb) {
    let s = &db.store;
    s.refurbishers()
        .apply(&shipped("flexit.json"), "test")
        .await
        .unwrap();
    let err = s
        .refurbishers()
        .apply(
            &doc(r#"{ "other": { "refurbisher_id": 15, "default_margin": 1 } }"#),
            "test",
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Conflict(m) if m == "refurbisher_id 15 of `other` already belongs to `flexit`"),
        "{err}"
    );
    let err = s
        .refurbishers()
        .apply(
            &doc(r#"{ "other": { "supplier_id": 10, "default_margin": 1 } }"#),
            "test",
        )
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "supplier_id 10 of `other` already belongs to `flexit`"
    );
    let mut moved = shipped("flexit.json");
    moved[0].refurbisher_id = Some(99);
    let err = s.refurbishers().apply(&moved, "test").await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "refurbisher `flexit` has refurbisher_id 15; the document says 99, but ids never change"
    );
}

async fn a_failed_apply_changes_nothing(db: TestDb) {
    let s = &db.store;
    s.refurbishers()
        .apply(&shipped("flexit.json"), "test")
        .await
        .unwrap();
    // The first refurbisher is fine, the second conflicts: neither may be stored.
    let text = r#"{ "fine": { "default_margin": 5 }, "clash": { "supplier_id": 10, "default_margin": 5 } }"#;
    assert!(s.refurbishers().apply(&doc(text), "test").await.is_err());
    assert!(s.refurbishers().get("fine").await.unwrap().is_none());
    assert_eq!(s.refurbishers().list().await.unwrap().len(), 1);
}

async fn secrets_are_stored_sealed_and_listed_without_values(db: TestDb) {
    let s = &db.store;
    let key = SecretKey::generate().unwrap();
    assert_eq!(
        s.secrets()
            .set(&key, "flexit.offers.auth.password", "pw-1")
            .await
            .unwrap(),
        SetOutcome::Created
    );
    assert_eq!(
        s.secrets()
            .set(&key, "flexit.offers.auth.password", "pw-2")
            .await
            .unwrap(),
        SetOutcome::Replaced
    );
    assert_eq!(
        s.secrets()
            .get(&key, "flexit.offers.auth.password")
            .await
            .unwrap()
            .as_deref(),
        Some("pw-2")
    );
    assert_eq!(s.secrets().get(&key, "missing").await.unwrap(), None);
    let listed = s.secrets().list().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert!(!format!("{listed:?}").contains("pw-2"));
    let wrong = SecretKey::generate().unwrap();
    assert!(matches!(
        s.secrets().get(&wrong, "flexit.offers.auth.password").await,
        Err(StoreError::Secret(_))
    ));
    assert!(s.secrets().set(&key, "bad name", "x").await.is_err());
    assert!(
        s.secrets()
            .delete("flexit.offers.auth.password")
            .await
            .unwrap()
    );
    assert!(
        !s.secrets()
            .delete("flexit.offers.auth.password")
            .await
            .unwrap()
    );
}

async fn every_change_is_audited(db: TestDb) {
    let s = &db.store;
    s.refurbishers()
        .apply(&shipped("flexit.json"), "cli:alice")
        .await
        .unwrap();
    s.refurbishers()
        .apply(&shipped("flexit.json"), "cli:alice")
        .await
        .unwrap();
    let log = s.audit_list(10).await.unwrap();
    assert_eq!(log.len(), 1, "an unchanged apply writes no audit entry");
    assert_eq!(
        (
            log[0].actor.as_str(),
            log[0].action.as_str(),
            log[0].target.as_str()
        ),
        ("cli:alice", "refurbisher.create", "flexit")
    );
    assert!(!log[0].details.0.to_string().contains("XXXXXXXXXXXXXXX"));
}

async fn operators_log_in_with_their_password_and_sessions_end(db: TestDb) {
    use irp_store::users::UserSet;
    let s = &db.store;
    let short = s
        .users()
        .set("anna@iused.nl", "short", "operator", "test")
        .await;
    assert!(short.unwrap_err().to_string().contains("at least 12"));
    assert!(
        s.users()
            .set("not-an-address", "long enough pw", "operator", "test")
            .await
            .is_err()
    );
    assert!(
        s.users()
            .set("anna@iused.nl", "long enough pw", "admin", "test")
            .await
            .is_err()
    );
    assert_eq!(
        s.users()
            .set(
                " Anna@IUsed.nl",
                "correct horse battery",
                "operator",
                "test"
            )
            .await
            .unwrap(),
        UserSet::Created
    );
    // Wrong password, unknown address: no session, alike.
    assert!(
        s.users()
            .login("anna@iused.nl", "wrong password!", None)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        s.users()
            .login("bob@iused.nl", "correct horse battery", None)
            .await
            .unwrap()
            .is_none()
    );
    let session = s
        .users()
        .login("ANNA@iused.nl", "correct horse battery", Some("127.0.0.1"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(session.user.email, "anna@iused.nl");
    assert!(session.token.starts_with("irps_"));
    let who = s
        .users()
        .session_user(&session.token)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (who.user.role.as_str(), who.csrf.as_str()),
        ("operator", session.csrf.as_str())
    );
    assert!(s.users().session_user("irps_nope").await.unwrap().is_none());
    // The cookie value is not stored, only its hash.
    let users = s.users().list().await.unwrap();
    assert_eq!(users.len(), 1);
    assert!(users[0].last_login_at.is_some());
    // Logout ends it.
    assert!(s.users().session_end(&session.token).await.unwrap());
    assert!(
        s.users()
            .session_user(&session.token)
            .await
            .unwrap()
            .is_none()
    );
    // A new password ends the sessions; so does disabling, which also stops logins.
    let second = s
        .users()
        .login("anna@iused.nl", "correct horse battery", None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        s.users()
            .set("anna@iused.nl", "another long password", "viewer", "test")
            .await
            .unwrap(),
        UserSet::Updated
    );
    assert!(
        s.users()
            .session_user(&second.token)
            .await
            .unwrap()
            .is_none()
    );
    let third = s
        .users()
        .login("anna@iused.nl", "another long password", None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(third.user.role, irp_store::tokens::Role::Viewer);
    assert!(s.users().disable("anna@iused.nl", "test").await.unwrap());
    assert!(
        s.users()
            .session_user(&third.token)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        s.users()
            .login("anna@iused.nl", "another long password", None)
            .await
            .unwrap()
            .is_none()
    );
    assert!(!s.users().disable("anna@iused.nl", "test").await.unwrap());
    let audit: Vec<String> = s
        .audit_list(100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    for action in ["user.create", "user.login", "user.update", "user.disable"] {
        assert!(audit.iter().any(|a| a == action), "{action} in {audit:?}");
    }
}
