//! Operations shared by the command line, the REST API and the portal's pages, so the three
//! do exactly the same: importing and previewing a feed, applying a quarantined run, replacing
//! a credential.
//! Each returns data; the caller prints, answers JSON (a view of [`crate::views`]) or renders a
//! page.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use irp_core::config::model::Connection;
use irp_core::feed::{Offer, RowError};
use irp_pipeline::{ReadStats, RowOutcome, read_offers};
use irp_store::Store;
use irp_store::refurbishers::StoredRefurbisher;
use serde_json::json;

/// A local copy of the feed to read: a given file, a `file` connection's path, or a fresh
/// download of an HTTP/SFTP feed (kept in `_dir` while it is read).
pub struct LocalFeed {
    /// Where the bytes are.
    pub path: PathBuf,
    /// The offer location a download found (JSON feeds), overriding the configured one.
    pub offer_location: Option<String>,
    /// Shown to people: the file, or `KEY (fetched)`.
    pub shown: String,
    /// Hides the connector's credentials (and shows references instead of resolved values) in
    /// messages about this feed.
    pub scrubber: irp_core::secret_ref::Scrubber,
    _dir: Option<tempfile::TempDir>,
}

/// The feed of `r` as a local file: `file` when given, else the configured connection's
/// (fetched now; nothing is written to the database). `r` is a stored (`saved`) refurbisher, or
/// an unsaved document (onboarding), which uses only secrets already bound to where it points.
///
/// # Errors
/// No offers connector; an upload connection without a file; the fetch fails (the message is
/// scrubbed of credentials).
async fn local_feed(
    store: &Store,
    secret_key_file: &Path,
    r: &StoredRefurbisher,
    file: Option<PathBuf>,
    saved: bool,
) -> Result<LocalFeed> {
    if let Some(path) = file {
        return Ok(LocalFeed {
            shown: path.display().to_string(),
            path,
            offer_location: None,
            scrubber: irp_core::secret_ref::Scrubber::default(),
            _dir: None,
        });
    }
    let Some(offers) = &r.model.offers else {
        bail!(
            "refurbisher `{}` has no `offers` connector; read a file with --file PATH",
            r.key
        );
    };
    if offers.connection == Connection::Upload {
        bail!(
            "`{}` receives its offers by upload: read a file with --file PATH",
            r.key
        );
    }
    let key = crate::secret_key::load(secret_key_file, false).ok();
    let resolved = irp_pipeline::feed::resolved_offers_as(store, r, key.as_ref(), saved).await?;
    let scrubber = resolved.scrubber.clone();
    if offers.connection == Connection::File {
        // Only below the feed root: a saved document cannot read the key file or /proc.
        let path = irp_pipeline::feed::confined_file(offers, &resolved.model)
            .map_err(|e| anyhow::anyhow!("{}", scrubber.scrub(&e.to_string())))?;
        return Ok(LocalFeed {
            shown: offers.path.clone().unwrap_or_default(),
            path,
            offer_location: None,
            scrubber,
            _dir: None,
        });
    }
    let dir = tempfile::tempdir().context("creating a temporary directory")?;
    let path = dir.path().join("feed");
    let downloaded = irp_pipeline::feed::download(store, &resolved.model, &path, false)
        .await?
        .map_err(|f| anyhow::anyhow!("{}", resolved.scrub(&f.to_string())))?;
    Ok(LocalFeed {
        path,
        offer_location: downloaded.offer_location,
        shown: format!("{} (fetched)", r.key),
        scrubber,
        _dir: Some(dir),
    })
}

/// What a feed would give, without writing anything.
#[derive(Debug, serde::Serialize)]
pub struct Preview {
    /// The file read, or `KEY (fetched)`.
    pub file: String,
    /// Why the feed as a whole cannot be read, if so.
    pub error: Option<String>,
    /// Records read.
    pub rows_read: u64,
    /// Records that would become offers.
    pub rows_accepted: u64,
    /// Records rejected.
    pub rows_rejected: u64,
    /// The first offers, with their record numbers.
    pub offers: Vec<PreviewOffer>,
    /// The row errors (at most 1,000).
    pub errors: Vec<RowError>,
}

/// One previewed offer.
#[derive(Debug, serde::Serialize)]
pub struct PreviewOffer {
    /// Record number.
    pub row: u64,
    /// The offer as read.
    pub offer: Offer,
}

/// Reads the feed of `r` (`file`, or fetched) as an import would, keeping the first `limit`
/// offers and up to 1,000 row errors. Writes nothing.
///
/// # Errors
/// As [`local_feed`]; the file cannot be opened.
pub async fn preview(
    store: &Store,
    secret_key_file: &Path,
    r: &StoredRefurbisher,
    file: Option<PathBuf>,
    limit: usize,
) -> Result<Preview> {
    preview_as(store, secret_key_file, r, file, limit, true).await
}

async fn preview_as(
    store: &Store,
    secret_key_file: &Path,
    r: &StoredRefurbisher,
    file: Option<PathBuf>,
    limit: usize,
    saved: bool,
) -> Result<Preview> {
    let local = local_feed(store, secret_key_file, r, file, saved).await?;
    let scrubber = local.scrubber.clone();
    preview_local(r, local, limit)
        .await
        .map(|mut p| {
            p.error = p.error.map(|e| scrubber.scrub(&e));
            p
        })
        .map_err(|e| anyhow::anyhow!("{}", scrubber.scrub(&format!("{e:#}"))))
}

async fn preview_local(r: &StoredRefurbisher, local: LocalFeed, limit: usize) -> Result<Preview> {
    let Some(mut offers) = r.model.offers.clone() else {
        bail!("refurbisher `{}` has no `offers` connector", r.key)
    };
    if let Some(loc) = &local.offer_location {
        offers.offer_location = Some(loc.clone());
    }
    let currency = r.model.currency.clone();
    let path = local.path.clone();
    let (stats, shown, errors, read_error) = tokio::task::spawn_blocking(move || {
        let mut shown = Vec::new();
        let mut errors: Vec<RowError> = Vec::new();
        let file =
            std::fs::File::open(&path).with_context(|| format!("opening {}", path.display()))?;
        let result = read_offers(
            &offers,
            &currency,
            std::io::BufReader::new(file),
            &mut |o| match o {
                RowOutcome::Offer { row, offer } => {
                    if shown.len() < limit {
                        shown.push(PreviewOffer { row, offer });
                    }
                }
                RowOutcome::Rejected(e) => {
                    if errors.len() < 1000 {
                        errors.extend(e);
                    }
                }
            },
        );
        let (stats, read_error) = match result {
            Ok(s) => (s, None),
            Err(e) => (ReadStats::default(), Some(e.to_string())),
        };
        anyhow::Ok((stats, shown, errors, read_error))
    })
    .await??;
    Ok(Preview {
        file: local.shown.clone(),
        error: read_error,
        rows_read: stats.rows_read,
        rows_accepted: stats.rows_accepted,
        rows_rejected: stats.rows_rejected,
        offers: shown,
        errors,
    })
}

/// What applying a quarantined run did.
#[derive(Debug, serde::Serialize)]
pub struct Applied {
    /// The run.
    pub run_id: i64,
    /// The refurbisher's key.
    pub refurbisher: String,
    /// Offers created, updated, unchanged, removed.
    pub diff: irp_store::offers::SnapshotDiff,
    /// Purchase price changes held for review.
    pub price_holds: u64,
    /// The catalog recompute, or why it failed (its marks stay for the next one).
    pub catalog: std::result::Result<irp_store::catalog::RecomputeStats, String>,
}

/// An operator applies a quarantined run: its staged offers become the refurbisher's offers,
/// the quarantine alert is resolved, the catalog is recomputed; audited as `actor`.
///
/// # Errors
/// No such run; not quarantined; its refurbisher is gone; the store fails.
pub async fn apply_quarantined(store: &Store, run_id: i64, actor: &str) -> Result<Applied> {
    let Some(run) = store.feed_runs().get(run_id).await? else {
        bail!("no feed run {run_id}")
    };
    if run.status != "quarantined" {
        bail!(
            "feed run {run_id} is {}, not quarantined; only quarantined runs are applied by hand",
            run.status
        );
    }
    let status = if run.rows_rejected > 0 {
        "partial"
    } else {
        "succeeded"
    };
    let Some(r) = store
        .refurbishers()
        .list()
        .await?
        .into_iter()
        .find(|r| r.id == run.refurbisher_id)
    else {
        bail!("feed run {run_id} belongs to no registered refurbisher")
    };
    let ppm = irp_pipeline::feed::price_change_ppm(&r.model);
    let (diff, applied) = store
        .feed_runs()
        .apply(run.refurbisher_id, run_id, status, ppm)
        .await?;
    // The operator has decided: the quarantine alert is dealt with.
    store
        .monitor()
        .alerts_resolve(
            run.refurbisher_id,
            irp_core::monitoring::Metric::FeedQuarantined,
        )
        .await?;
    store
        .audit(
            actor,
            "feed.apply",
            &run_id.to_string(),
            json!({ "refurbisher_id": run.refurbisher_id, "diff": diff }),
        )
        .await?;
    // The run is applied; a failing recompute leaves its marks for the next one.
    let catalog =
        irp_pipeline::feed::after_apply(store, r.id, &r.key, run_id, applied.price_holds, None)
            .await
            .map_err(|e| e.to_string());
    Ok(Applied {
        run_id,
        refurbisher: r.key,
        diff,
        price_holds: applied.price_holds,
        catalog,
    })
}

/// Binds secret `name`, just stored, to the destinations of the stored document it belongs to
/// (`flexit.…` the refurbisher `flexit`, `channel.KEY.…` the channel, `pim.…`, `erp.…`) by
/// resolving that document now, so no later change of the document can send it elsewhere.
/// Returns where it may go, or `None` when no stored document uses it yet (its first use will
/// bind it) or the document cannot be resolved yet (another of its secrets is missing).
///
/// # Errors
/// The store fails.
pub async fn bind_secret(
    store: &Store,
    secret_key: &irp_store::secrets::SecretKey,
    name: &str,
) -> Result<Option<Vec<String>>> {
    let key = Some(secret_key);
    if let Some(rest) = name.strip_prefix("channel.") {
        let channel = rest.split('.').next().unwrap_or_default();
        let _ = irp_pipeline::channel::connect(store, key, channel).await;
    } else if name.starts_with("pim.") {
        if let Some(stored) = store.pim().get().await? {
            let _ = irp_pipeline::pim::resolved_source(store, key, &stored).await;
        }
    } else if name.starts_with("erp.") {
        let _ = irp_pipeline::erp::connect(store, key).await;
    } else {
        let refurbisher = name.split('.').next().unwrap_or_default();
        if let Some(r) = store.refurbishers().get(refurbisher).await? {
            let reference = format!("${{secret:{name}}}");
            if r.document["offers"].to_string().contains(&reference) {
                let _ = irp_pipeline::feed::resolved_offers(store, &r, key).await;
            }
            if r.document["order"].to_string().contains(&reference) {
                let _ = irp_pipeline::orders::resolved_order(store, &r, key).await;
            }
        }
    }
    Ok(store.secrets().destinations(name).await?)
}

/// Why a credential was not replaced.
#[derive(Debug)]
pub enum CredentialError {
    /// The refurbisher has no credential at that path.
    NoSuch(String),
    /// The value is empty, or the document would no longer check.
    Invalid(String),
    /// The store or the secret key failed.
    Failed(anyhow::Error),
}

/// A new value for the credential at `path` (`offers.auth.password`) of `r`: stored in the
/// encrypted secret store under the name the document references, or `KEY.PATH` for a literal
/// — which then becomes a `${secret:…}` reference (the document is applied again). Audited
/// without the value. Returns the secret's name.
///
/// # Errors
/// See [`CredentialError`].
pub async fn replace_credential(
    store: &Store,
    secret_key_file: &Path,
    r: &StoredRefurbisher,
    path: &str,
    value: &str,
    actor: &str,
) -> std::result::Result<String, CredentialError> {
    let Some((path, reference)) = crate::server::pages::refurbishers::credentials(&r.document)
        .into_iter()
        .find(|(p, _)| p == path)
    else {
        return Err(CredentialError::NoSuch(format!(
            "`{}` has no credential at {path:?}",
            r.key
        )));
    };
    let value = value.trim_end_matches(['\r', '\n']);
    if value.is_empty() {
        return Err(CredentialError::Invalid(
            "the new value is empty; give the credential to store".into(),
        ));
    }
    let name = reference
        .clone()
        .unwrap_or_else(|| format!("{}.{path}", r.key));
    let secret_key =
        crate::secret_key::load(secret_key_file, true).map_err(CredentialError::Failed)?;
    let outcome = store
        .secrets()
        .set(&secret_key, &name, value)
        .await
        .map_err(|e| CredentialError::Failed(e.into()))?;
    // Bound at once to where the stored document sends it.
    bind_secret(store, &secret_key, &name)
        .await
        .map_err(CredentialError::Failed)?;
    store
        .audit(
            actor,
            "secret.set",
            &name,
            json!({ "replaced": outcome == irp_store::secrets::SetOutcome::Replaced, "refurbisher": r.key, "path": path }),
        )
        .await
        .map_err(|e| CredentialError::Failed(e.into()))?;
    if reference.is_none() {
        // The literal becomes a reference to the stored secret.
        let mut doc = r.document.clone();
        let mut at = &mut doc;
        for part in path.split('.') {
            at = &mut at[part];
        }
        *at = serde_json::Value::String(format!("${{secret:{name}}}"));
        let text = json!({ (r.key.clone()): doc }).to_string();
        let parsed = irp_core::config::parse_document(&text);
        if parsed.diagnostics.error_count() > 0 || parsed.refurbishers.is_empty() {
            return Err(CredentialError::Invalid(
                "the secret was stored, but the document no longer checks with the reference; fix it with `irp refurbisher apply`".into(),
            ));
        }
        irp_pipeline::catalog::apply_refurbishers(store, &parsed.refurbishers, actor)
            .await
            .map_err(|e| CredentialError::Failed(e.into()))?;
    }
    Ok(name)
}

/// [`preview`] of a document that is not saved (onboarding): its first refurbisher with an
/// `offers` connector, read as if it were registered. `doc` is `text` parsed, without errors.
///
/// # Errors
/// No refurbisher with an offers connector; as [`preview`].
pub async fn preview_unsaved(
    store: &Store,
    secret_key_file: &Path,
    text: &str,
    doc: &irp_core::config::Document,
) -> Result<Preview> {
    let raw: serde_json::Value = serde_json::from_str(text.trim_start_matches('\u{feff}'))
        .context("the document is not JSON")?;
    let Some(r) = doc.refurbishers.iter().find(|r| r.offers.is_some()) else {
        bail!("no refurbisher in the document has an `offers` connector")
    };
    let now = irp_store::now();
    let unsaved = StoredRefurbisher {
        id: 0,
        key: r.key.clone(),
        version: 0,
        document: raw.get(&r.key).cloned().unwrap_or_default(),
        model: r.clone(),
        created_at: now,
        updated_at: now,
    };
    preview_as(store, secret_key_file, &unsaved, None, 50, false).await
}

/// Where an import reads the feed.
pub enum FeedSource<'a> {
    /// Fetched over the refurbisher's connection now.
    Fetch,
    /// A file (an upload); `shown` names it in the audit log.
    File {
        /// The file.
        path: &'a Path,
        /// How the audit log names it (`upload: FlexIT_Feed.csv`).
        shown: String,
    },
}

/// Why an import did not run.
#[derive(Debug, thiserror::Error)]
pub enum ImportRefused {
    /// The run could not start (no offers connector, the file cannot be opened, …).
    #[error("the import of `{key}` did not start: {why}")]
    NotStarted {
        /// The refurbisher.
        key: String,
        /// Why.
        why: String,
    },
    /// The audit log could not be written (the run itself happened).
    #[error(transparent)]
    Store(#[from] irp_store::StoreError),
}

/// One feed run of `r` now, from `source`, started by `trigger` (`manual`, `upload`, `api`)
/// and audited as `actor`; `progress` follows its phases and counts as they come. The run's report says
/// how it went (it may have failed or been quarantined).
///
/// # Errors
/// See [`ImportRefused`].
pub async fn import(
    store: &Store,
    secret_key_file: &Path,
    r: &StoredRefurbisher,
    source: FeedSource<'_>,
    trigger: &str,
    actor: &str,
    progress: Option<&irp_pipeline::progress::Progress>,
) -> std::result::Result<irp_pipeline::feed::ImportReport, ImportRefused> {
    use irp_pipeline::feed::{import_fetched_counting, import_file_counting};
    let (result, shown) = match source {
        // A fetch of a refurbisher whose offers come by upload is a failed run saying so.
        FeedSource::Fetch => {
            let secret_key = crate::secret_key::load(secret_key_file, false).ok();
            let result =
                import_fetched_counting(store, r, trigger, secret_key.as_ref(), progress).await;
            (result, "fetched".to_owned())
        }
        FeedSource::File { path, shown } => (
            import_file_counting(store, r, path, trigger, progress).await,
            shown,
        ),
    };
    let rep = result.map_err(|e| ImportRefused::NotStarted {
        key: r.key.clone(),
        why: e.to_string(),
    })?;
    store
        .audit(
            actor,
            "feed.import",
            &r.key,
            json!({ "run_id": rep.run_id, "status": rep.status.as_str(), "source": shown }),
        )
        .await?;
    Ok(rep)
}

/// What a channel sync run by hand did (`irp channel sync`, `POST /api/v1/channels/{key}/sync`).
#[derive(Debug, serde::Serialize)]
pub struct ChannelSyncNow {
    /// The push of prices and stock.
    pub push: irp_pipeline::channel::PushReport,
    /// The order poll.
    pub orders: irp_pipeline::channel::PollReport,
    /// Why the order poll failed, when it did.
    pub orders_error: Option<String>,
    /// Tracking delivered.
    pub tracking: irp_pipeline::channel::TrackingReport,
    /// Cancellations reported to the shop.
    pub cancellations_reported: u64,
    /// The push of product content.
    pub content: irp_pipeline::channel::ContentReport,
}

/// Why a channel sync could not run now.
#[derive(Debug, thiserror::Error)]
pub enum ChannelSyncNowError {
    /// Another instance syncs the channel right now.
    #[error(
        "channel `{key}` is being synced by {owner} right now (until {until}); it pushes the changes itself — try again then"
    )]
    Busy {
        /// Channel key.
        key: String,
        /// Who holds the claim.
        owner: String,
        /// Until when.
        until: String,
    },
    /// The sync failed (unknown channel, no shop, a reference, the store).
    #[error(transparent)]
    Sync(#[from] irp_pipeline::channel::ChannelSyncError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] irp_store::StoreError),
}

/// Sync channel `key` with its shop now, as `owner`: push (every product with `full`), poll
/// orders, deliver tracking and cancellations. Refused while another instance holds the
/// channel's claim.
///
/// # Errors
/// See [`ChannelSyncNowError`]; a push or poll the shop failed is reported in the answer.
pub async fn channel_sync_now(
    store: &Store,
    secret_key_file: &Path,
    key: &str,
    full: bool,
    content_only: bool,
    owner: &str,
    progress: Option<&irp_pipeline::progress::Progress>,
) -> Result<ChannelSyncNow, ChannelSyncNowError> {
    use irp_pipeline::channel as cs;
    let secret_key = crate::secret_key::load(secret_key_file, false).ok();
    let shop = cs::connect(store, secret_key.as_ref(), key).await?;
    // Each invocation its own claim: a double click or a retried API call waits its turn.
    let owner = &format!(
        "{owner}#{:x}",
        std::hash::BuildHasher::hash_one(
            &std::hash::RandomState::new(),
            std::time::SystemTime::now()
        )
    );
    shop.hold(Some(owner));
    if !store
        .channel_sync()
        .claim(key, owner, irp_store::now() + cs::LEASE)
        .await?
    {
        let state = store.channel_sync().state(key).await?;
        return Err(ChannelSyncNowError::Busy {
            key: key.to_owned(),
            owner: state
                .lease_owner
                .unwrap_or_else(|| "another instance".into()),
            until: state
                .lease_until
                .map_or_else(String::new, |t| t.format("%H:%M:%S UTC").to_string()),
        });
    }
    let result = async {
        if content_only {
            let content = cs::push_content(store, &shop, full).await?;
            return Ok::<_, cs::ChannelSyncError>(ChannelSyncNow {
                push: cs::PushReport {
                    channel: key.to_owned(),
                    ..cs::PushReport::default()
                },
                orders: cs::PollReport::default(),
                orders_error: None,
                tracking: cs::TrackingReport::default(),
                cancellations_reported: 0,
                content,
            });
        }
        let push = cs::push_with(store, &shop, full, progress).await?;
        let content = cs::push_content(store, &shop, false).await?;
        let orders = cs::poll_orders(store, &shop).await;
        let tracking = cs::push_tracking(store, &shop).await?;
        let cancellations_reported = cs::report_cancellations(store, &shop).await?;
        let orders_error = orders.as_ref().err().map(ToString::to_string);
        Ok::<_, cs::ChannelSyncError>(ChannelSyncNow {
            push,
            orders: orders.unwrap_or_default(),
            orders_error,
            tracking,
            cancellations_reported,
            content,
        })
    }
    .await;
    store.channel_sync().release(key, owner).await?;
    Ok(result?)
}
