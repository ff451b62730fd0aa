//! `irp config check`: refurbisher, channels, ERP and PIM documents checked without touching
//! the network, every problem reported with file, line and JSON path.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use irp_core::config::{self, Diagnostic, Document, Refurbisher};
use irp_core::secret_ref::Provider;
use irp_store::Store;
use serde_json::{Value, json};

use super::{ConfigCommand, Global, plural};

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

/// One document read from a file.
pub(super) struct Loaded {
    /// The file's name as given.
    pub(super) file: String,
    /// The document, with its diagnostics.
    pub(super) doc: Document,
    /// Channel keys, for a channels document.
    pub(super) channels: Vec<String>,
    /// The PIM source, for a PIM document.
    pub(super) pim: Option<config::PimConfig>,
}

/// Read and check `files`, with the conflicts between them (the same key or id twice).
pub(super) fn load_documents(files: &[PathBuf]) -> Result<Vec<Loaded>> {
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

/// Print every document's diagnostics, to stderr or stdout.
pub(super) fn print_diagnostics(loaded: &[Loaded], to_stderr: bool) {
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
                        if s.secrets().info(&reference.name).await?.is_none() {
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
