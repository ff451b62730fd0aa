//! The CLI commands other than `serve`.

use std::io::{IsTerminal as _, Read as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use irp_core::config::{self, Diagnostic, Document, Refurbisher};
use irp_core::secret_ref::Provider;
use irp_store::Store;
use irp_store::refurbishers::{ApplyAction, StoredRefurbisher};
use irp_store::secrets::SetOutcome;
use serde_json::{Value, json};

use crate::cli::{ConfigCommand, Global, RefurbisherCommand, SecretCommand};
use crate::secret_key;

/// Who the CLI acts as, for the audit log.
pub fn actor() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unknown".into());
    format!("cli:{user}")
}

/// Open the configured database and bring its schema up to date.
pub async fn open_store(global: &Global) -> Result<Store> {
    let store = Store::connect(&global.database_url).await?;
    store.migrate().await.context("migrating the database")?;
    Ok(store)
}

/// Open the configured database only if it already exists and is migrated.
async fn existing_store(global: &Global) -> Result<Store, String> {
    if let Some(path) = global.database_url.strip_prefix("sqlite:") {
        let path = path
            .trim_start_matches("//")
            .split('?')
            .next()
            .unwrap_or("");
        if !Path::new(path).exists() {
            return Err(format!(
                "the database {} does not exist yet",
                global.database_url
            ));
        }
    }
    let store = Store::connect(&global.database_url)
        .await
        .map_err(|e| e.to_string())?;
    store
        .applied_migrations()
        .await
        .map_err(|_| "the database is not migrated".to_owned())?;
    Ok(store)
}

/// `irp migrate`.
pub async fn migrate(global: &Global) -> Result<ExitCode> {
    let store = Store::connect(&global.database_url).await?;
    let applied = store.migrate().await?;
    let all = store.applied_migrations().await?;
    if applied.is_empty() {
        outln!("{}: up to date ({} migrations)", store.url(), all.len());
    } else {
        let list = applied
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        outln!("{}: applied migration(s) {list}", store.url());
    }
    Ok(ExitCode::SUCCESS)
}

/// One document read from a file.
struct Loaded {
    file: String,
    doc: Document,
    /// Channel keys, for a channels document.
    channels: Vec<String>,
    /// The PIM source, for a PIM document.
    pim: Option<config::PimConfig>,
}

fn load_documents(files: &[PathBuf]) -> Result<Vec<Loaded>> {
    let mut out = Vec::new();
    for f in files {
        let text =
            std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))?;
        // Channels and PIM documents are checked too (they are applied the same way).
        let positions =
            || config::PositionIndex::build(text.strip_prefix('\u{feff}').unwrap_or(&text));
        let loaded = if config::is_channels_document(&text) {
            let c = config::parse_channels(&text);
            Loaded {
                file: f.display().to_string(),
                channels: c.channels.iter().map(|c| c.key.clone()).collect(),
                doc: Document {
                    refurbishers: Vec::new(),
                    diagnostics: c.diagnostics,
                    positions: positions(),
                },
                pim: None,
            }
        } else if config::is_erp_document(&text) {
            let e = config::parse_erp(&text);
            Loaded {
                file: f.display().to_string(),
                channels: Vec::new(),
                doc: Document {
                    refurbishers: Vec::new(),
                    diagnostics: e.diagnostics,
                    positions: positions(),
                },
                pim: None,
            }
        } else if config::is_pim_document(&text) {
            let p = config::parse_pim(&text);
            Loaded {
                file: f.display().to_string(),
                channels: Vec::new(),
                doc: Document {
                    refurbishers: Vec::new(),
                    diagnostics: p.diagnostics,
                    positions: positions(),
                },
                pim: p.pim,
            }
        } else {
            Loaded {
                file: f.display().to_string(),
                doc: config::parse_document(&text),
                channels: Vec::new(),
                pim: None,
            }
        };
        out.push(loaded);
    }
    // Conflicts between files (the same key or id in two documents).
    let set: Vec<(usize, &Refurbisher)> = out
        .iter()
        .enumerate()
        .flat_map(|(i, l)| l.doc.refurbishers.iter().map(move |r| (i, r)))
        .collect();
    let mut extra: Vec<(usize, Diagnostic)> = if out.len() > 1 {
        config::conflicts(&set)
    } else {
        Vec::new()
    };
    for (i, d) in &mut extra {
        d.position = out[*i].doc.positions.locate(&d.path);
    }
    for (i, d) in extra {
        out[i].doc.diagnostics.push(d);
    }
    Ok(out)
}

fn print_diagnostics(loaded: &[Loaded], to_stderr: bool) {
    for l in loaded {
        for d in l.doc.diagnostics.iter() {
            let line = config::render(&l.file, d);
            if to_stderr {
                eprintln!("{line}");
            } else {
                outln!("{line}");
            }
        }
    }
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// `irp config …`.
pub async fn config(global: &Global, cmd: ConfigCommand) -> Result<ExitCode> {
    let ConfigCommand::Check { files, json } = cmd;
    let mut loaded = load_documents(&files)?;

    // References: environment variables must be set here; secrets must be in the store
    // (checked when the database exists).
    let store = existing_store(global).await;
    let mut notes = Vec::new();
    for l in &mut loaded {
        let mut found = Vec::new();
        for r in &l.doc.refurbishers {
            let doc = json!({ (r.key.clone()): r.to_canonical_json() });
            found.extend(config::references(&doc));
        }
        if let Some(p) = &l.pim {
            found.extend(config::references(&json!({ "pim": p })));
        }
        for (path, reference) in found {
            let mut diags = config::Diagnostics::new();
            match reference.provider {
                Provider::Env if std::env::var_os(&reference.name).is_none() => {
                    diags.warning(
                        &path,
                        format!("environment variable `{}` is not set here", reference.name),
                    );
                }
                Provider::Secret => match &store {
                    Ok(s) => {
                        if s.secret_info(&reference.name).await?.is_none() {
                            diags
                                .warning(
                                    &path,
                                    format!(
                                        "secret `{}` is not in the secret store",
                                        reference.name
                                    ),
                                )
                                .help(format!(
                                    "run `irp secret set {}` (it reads the value from stdin)",
                                    reference.name
                                ));
                        }
                    }
                    Err(why) => {
                        let note = format!("secret references were not checked: {why}");
                        if !notes.contains(&note) {
                            notes.push(note);
                        }
                    }
                },
                Provider::Env => {}
            }
            for mut d in diags.into_vec() {
                d.position = l.doc.positions.locate(&d.path);
                l.doc.diagnostics.push(d);
            }
        }
        l.doc.diagnostics.sort_by_position();
    }

    let errors: usize = loaded.iter().map(|l| l.doc.diagnostics.error_count()).sum();
    let warnings: usize = loaded
        .iter()
        .map(|l| l.doc.diagnostics.warning_count())
        .sum();
    let refurbishers: usize = loaded.iter().map(|l| l.doc.refurbishers.len()).sum();
    if json {
        let files: Vec<Value> = loaded
            .iter()
            .map(|l| {
                json!({
                    "file": l.file,
                    "refurbishers": l.doc.refurbishers.iter().map(|r| r.key.clone()).collect::<Vec<_>>(),
                    "channels": l.channels,
                    "pim": l.pim.is_some(),
                    "errors": l.doc.diagnostics.error_count(),
                    "warnings": l.doc.diagnostics.warning_count(),
                    "diagnostics": l.doc.diagnostics.iter().collect::<Vec<_>>(),
                })
            })
            .collect();
        outln!(
            "{}",
            serde_json::to_string_pretty(
                &json!({ "ok": errors == 0, "notes": notes, "files": files })
            )?
        );
    } else {
        print_diagnostics(&loaded, false);
        for n in &notes {
            outln!("note: {n}");
        }
        let channels: usize = loaded.iter().map(|l| l.channels.len()).sum();
        let pim = loaded.iter().filter(|l| l.pim.is_some()).count();
        let mut what = vec![plural(refurbishers, "refurbisher")];
        if channels > 0 {
            what.push(plural(channels, "channel"));
        }
        if pim > 0 {
            what.push(plural(pim, "PIM source"));
        }
        outln!(
            "{}, {}: {}, {}",
            plural(loaded.len(), "file"),
            what.join(", "),
            plural(errors, "error"),
            plural(warnings, "warning")
        );
    }
    Ok(if errors == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// What a catalog recompute did, on one line.
pub fn catalog_line(c: &irp_store::catalog::RecomputeStats) -> String {
    format!(
        "catalog: {} product(s) recomputed, {} changed, {} channel row(s) to push",
        c.eans, c.products_changed, c.channel_rows_changed
    )
}

fn show_value(v: &Option<Value>) -> String {
    match v {
        None => "(none)".into(),
        Some(v) => v.to_string(),
    }
}

/// Apply documents: validate all, then write all in one transaction. Prints diagnostics to
/// stderr; returns the outcomes, or `None` when the documents have errors.
pub async fn apply_files(
    store: &Store,
    files: &[PathBuf],
    actor: &str,
) -> Result<Option<Vec<irp_store::refurbishers::ApplyOutcome>>> {
    let loaded = load_documents(files)?;
    for l in &loaded {
        let other = if !l.channels.is_empty() {
            Some("a channels document: apply it with `irp channel apply -f`")
        } else if l.pim.is_some() {
            Some("a PIM document: apply it with `irp pim apply -f`")
        } else {
            None
        };
        if let Some(why) = other {
            eprintln!("{}: {why}; nothing was applied", l.file);
            return Ok(None);
        }
    }
    print_diagnostics(&loaded, true);
    let errors: usize = loaded.iter().map(|l| l.doc.diagnostics.error_count()).sum();
    if errors > 0 {
        eprintln!("{}; nothing was applied", plural(errors, "error"));
        return Ok(None);
    }
    let all: Vec<Refurbisher> = loaded
        .into_iter()
        .flat_map(|l| l.doc.refurbishers)
        .collect();
    Ok(Some(
        irp_pipeline::catalog::apply_refurbishers(store, &all, actor).await?,
    ))
}

fn status_json(r: &StoredRefurbisher, webhook: &irp_store::shipments::WebhookState) -> Value {
    let m = &r.model;
    json!({
        "refurbisher_id": r.id,
        "key": r.key,
        "name": m.name,
        "public_name": m.public_name,
        "supplier_id": m.supplier_id,
        "odoo_vendor_id": m.odoo_vendor_id,
        "enabled": m.enabled,
        "approved_refurbished": m.approved_refurbished,
        "internal": m.internal,
        "offer_connector": m.offer_connector_label(),
        "order_connector": m.order_connector_label(),
        "shipment_webhook": if webhook.token_created_at.is_some() { "Configured" } else { "Not configured" },
        "webhook_token_created_at": webhook.token_created_at,
        "webhook_previous_token_valid_until": webhook.previous_valid_until,
        "version": r.version,
        "updated_at": r.updated_at,
    })
}

/// Print rows as aligned columns.
pub fn table(headers: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, c) in row.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let s: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<w$}", w = widths[i]))
            .collect();
        outln!("{}", s.join("  ").trim_end());
    };
    line(headers.iter().map(|h| (*h).to_owned()).collect());
    for row in rows {
        line(row.clone());
    }
}

/// `irp refurbisher …`.
pub async fn refurbisher(global: &Global, cmd: RefurbisherCommand) -> Result<ExitCode> {
    match cmd {
        RefurbisherCommand::Apply { files, json } => {
            let store = open_store(global).await?;
            let Some(outcomes) = apply_files(&store, &files, &actor()).await? else {
                return Ok(ExitCode::FAILURE);
            };
            if json {
                outln!("{}", serde_json::to_string_pretty(&outcomes)?);
            } else {
                for o in &outcomes {
                    let verb = match o.action {
                        ApplyAction::Created => "created",
                        ApplyAction::Updated => "updated",
                        ApplyAction::Unchanged => "unchanged",
                    };
                    outln!("{verb} {} (refurbisher_id {})", o.key, o.refurbisher_id);
                    for c in &o.changes {
                        match (&c.old, &c.new) {
                            (None, new) => outln!("  + {}: {}", c.path, show_value(new)),
                            (old, None) => outln!("  - {}: {}", c.path, show_value(old)),
                            (old, new) => {
                                outln!("  ~ {}: {} -> {}", c.path, show_value(old), show_value(new))
                            }
                        }
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        RefurbisherCommand::List { json } => {
            let store = open_store(global).await?;
            let all = store.refurbisher_list().await?;
            let mut webhooks = Vec::with_capacity(all.len());
            for r in &all {
                webhooks.push(store.webhook_state(r.id).await?);
            }
            if json {
                let rows: Vec<Value> = all
                    .iter()
                    .zip(&webhooks)
                    .map(|(r, w)| status_json(r, w))
                    .collect();
                outln!("{}", serde_json::to_string_pretty(&rows)?);
            } else if all.is_empty() {
                outln!("no refurbishers yet: apply one with `irp refurbisher apply -f FILE`");
            } else {
                let rows: Vec<Vec<String>> = all
                    .iter()
                    .zip(&webhooks)
                    .map(|(r, w)| {
                        let m = &r.model;
                        vec![
                            r.id.to_string(),
                            r.key.clone(),
                            m.name.clone(),
                            m.supplier_id.map_or("-".into(), |s| s.to_string()),
                            m.odoo_vendor_id.map_or("-".into(), |s| s.to_string()),
                            if m.enabled { "yes" } else { "no" }.into(),
                            if m.approved_refurbished { "yes" } else { "no" }.into(),
                            m.offer_connector_label(),
                            m.order_connector_label(),
                            if w.token_created_at.is_some() {
                                "Configured"
                            } else {
                                "Not configured"
                            }
                            .into(),
                        ]
                    })
                    .collect();
                table(
                    &[
                        "ID",
                        "KEY",
                        "NAME",
                        "SUPPLIER",
                        "ODOO",
                        "ENABLED",
                        "APPROVED",
                        "OFFER CONNECTOR",
                        "ORDER CONNECTOR",
                        "SHIPMENT WEBHOOK",
                    ],
                    &rows,
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        RefurbisherCommand::Show { key, json } => {
            let store = open_store(global).await?;
            let r = refurbisher_or_hint(&store, &key).await?;
            let webhook = store.webhook_state(r.id).await?;
            let document = json!({ (r.key.clone()): config::redact(&r.document) });
            if json {
                let mut v = status_json(&r, &webhook);
                v["created_at"] = json!(r.created_at);
                v["document"] = document;
                outln!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                let m = &r.model;
                let rows = [
                    ("Refurbisher", format!("{} · ID {}", m.name, r.id)),
                    (
                        "Supplier",
                        m.supplier_id
                            .map_or("not set".into(), |s| format!("ID {s}")),
                    ),
                    (
                        "Odoo vendor",
                        m.odoo_vendor_id
                            .map_or("not set".into(), |s| format!("ID {s}")),
                    ),
                    ("Offer connector", m.offer_connector_label()),
                    ("Order connector", m.order_connector_label()),
                    ("Shipment webhook", {
                        let mut l = webhook.label();
                        if let Some(u) = webhook.previous_valid_until {
                            l.push_str(&format!(
                                "; the previous token works until {}",
                                u.format("%Y-%m-%d %H:%M UTC")
                            ));
                        }
                        l
                    }),
                    ("Enabled", if m.enabled { "yes" } else { "no" }.into()),
                    (
                        "Version",
                        format!(
                            "{} (updated {})",
                            r.version,
                            r.updated_at.format("%Y-%m-%d %H:%M:%S UTC")
                        ),
                    ),
                ];
                for (k, v) in rows {
                    outln!("{k:<17} {v}");
                }
                outln!();
                outln!("{}", serde_json::to_string_pretty(&document)?);
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The refurbisher `key`, or an error that suggests a close key.
pub async fn refurbisher_or_hint(store: &Store, key: &str) -> Result<StoredRefurbisher> {
    if let Some(r) = store.refurbisher_get(key).await? {
        return Ok(r);
    }
    let known: Vec<String> = store
        .refurbisher_list()
        .await?
        .into_iter()
        .map(|r| r.key)
        .collect();
    let hint = irp_core::config::suggest::did_you_mean(key, known.iter().map(String::as_str))
        .map(|s| format!("; did you mean `{s}`?"))
        .unwrap_or_else(|| {
            format!(
                "; known: {}",
                if known.is_empty() {
                    "none".into()
                } else {
                    known.join(", ")
                }
            )
        });
    bail!("no refurbisher `{key}`{hint}")
}

/// `irp secret …`.
pub async fn secret(global: &Global, cmd: SecretCommand) -> Result<ExitCode> {
    let store = open_store(global).await?;
    match cmd {
        SecretCommand::Set { name } => {
            if !irp_core::secret_ref::valid_name(&name) {
                bail!("invalid secret name `{name}`: use letters, digits, `_`, `-` and `.`");
            }
            let mut stdin = std::io::stdin();
            if stdin.is_terminal() {
                eprintln!("Enter the value of `{name}`, then press Enter and Ctrl-D:");
            }
            let mut value = String::new();
            stdin
                .read_to_string(&mut value)
                .context("reading the secret value from stdin")?;
            let value = value
                .strip_suffix('\n')
                .map(|v| v.strip_suffix('\r').unwrap_or(v))
                .unwrap_or(&value);
            if value.is_empty() {
                bail!("no value on stdin: pipe it in, e.g. `irp secret set {name} < file`");
            }
            let key = secret_key::load(&global.secret_key_file, true)?;
            let outcome = store.secret_set(&key, &name, value).await?;
            store
                .audit(
                    &actor(),
                    "secret.set",
                    &name,
                    json!({ "replaced": outcome == SetOutcome::Replaced }),
                )
                .await?;
            match outcome {
                SetOutcome::Created => {
                    outln!("stored secret `{name}`; reference it as \"${{secret:{name}}}\"")
                }
                SetOutcome::Replaced => outln!("replaced secret `{name}`"),
            }
            match crate::ops::bind_secret(&store, &key, &name).await? {
                Some(to) if !to.is_empty() => {
                    outln!("it is sent only to {}", to.join(", "));
                }
                _ => outln!(
                    "no stored document sends it anywhere yet: its first use binds it to where that document points (store credentials once their document is in place)"
                ),
            }
        }
        SecretCommand::List { json } => {
            let all = store.secret_list().await?;
            if json {
                outln!("{}", serde_json::to_string_pretty(&all)?);
            } else if all.is_empty() {
                outln!("no secrets yet: store one with `irp secret set NAME`");
            } else {
                let rows: Vec<Vec<String>> = all
                    .iter()
                    .map(|s| {
                        vec![
                            s.name.clone(),
                            s.updated_at.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
                        ]
                    })
                    .collect();
                table(&["NAME", "UPDATED"], &rows);
            }
        }
        SecretCommand::Delete { name } => {
            if !store.secret_delete(&name).await? {
                bail!("no secret `{name}`");
            }
            store
                .audit(&actor(), "secret.delete", &name, json!({}))
                .await?;
            outln!("deleted secret `{name}`");
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plural_counts() {
        assert_eq!(plural(1, "error"), "1 error");
        assert_eq!(plural(0, "warning"), "0 warnings");
    }
}
