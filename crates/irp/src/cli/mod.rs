//! The command line: the clap definitions ([`args`]: every setting is a flag with a matching
//! `IRP_*` environment variable) and one module per noun, each running its `irp <noun> …`
//! commands — `irp catalog` in [`catalog`], `irp monitor` and `irp alerts` in [`monitor`], and
//! so on. `irp serve` is the server ([`crate::server`]).
//!
//! The commands print text for people, or JSON with `--json`: where a command shows what the
//! REST API answers, the same view ([`crate::views`]). Work shared with the API and the pages
//! lives in [`crate::ops`].

use std::process::ExitCode;

use anyhow::{Context, Result};
use irp_store::Store;

mod args;
pub mod catalog;
pub mod channel;
pub mod config;
pub mod erp;
pub mod feed;
pub mod monitor;
pub mod offers;
pub mod orders;
pub mod pim;
pub mod prices;
pub mod products;
mod progress;
pub mod refurbisher;
pub mod secret;
pub mod shipments;
pub mod status;
pub mod token;
pub mod user;
pub mod webhook;

pub use args::*;

/// Runs `command` (any but `serve`): its exit code, or the error to print.
///
/// # Errors
/// The command failed (the database, a file, the network).
pub async fn run(global: &Global, command: Command) -> Result<ExitCode> {
    match command {
        Command::Serve(args) => crate::server::run(global, *args).await,
        Command::Migrate => migrate(global).await,
        Command::Config(c) => config::config(global, c).await,
        Command::Refurbisher(c) => refurbisher::refurbisher(global, c).await,
        Command::Secret(c) => secret::secret(global, c).await,
        Command::Feed(c) => feed::feed(global, c).await,
        Command::Offers(c) => offers::offers(global, c).await,
        Command::Products(c) => products::products(global, c).await,
        Command::Prices(c) => prices::prices(global, c).await,
        Command::Channel(c) => channel::channel(global, c).await,
        Command::Catalog(c) => catalog::catalog(global, c).await,
        Command::Pim(c) => pim::pim(global, c).await,
        Command::Erp(c) => erp::erp(global, c).await,
        Command::Orders(c) => orders::orders(global, c).await,
        Command::Token(c) => token::token(global, c).await,
        Command::Webhook(c) => webhook::webhook(global, c).await,
        Command::Shipments(c) => shipments::shipments(global, c).await,
        Command::Monitor(a) => monitor::monitor(global, a).await,
        Command::Alerts(c) => monitor::alerts(global, c).await,
        Command::User(c) => user::user(global, c).await,
        Command::Status(a) => status::status(global, a).await,
    }
}

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

/// `irp migrate`.
async fn migrate(global: &Global) -> Result<ExitCode> {
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

/// Print `rows` as pretty JSON, each as its view `V` (`irp … list --json`).
///
/// # Errors
/// A view cannot be serialized.
pub fn print_views<V: serde::Serialize + From<T>, T>(rows: Vec<T>) -> Result<()> {
    let views: Vec<V> = rows.into_iter().map(V::from).collect();
    outln!("{}", serde_json::to_string_pretty(&views)?);
    Ok(())
}

/// A time for people (`2026-11-23 10:00:00 UTC`), `-` for none.
pub fn time(t: Option<chrono::DateTime<chrono::Utc>>) -> String {
    t.map_or_else(
        || "-".to_owned(),
        |t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
    )
}

/// What a catalog recompute did, on one line.
pub fn catalog_line(c: &irp_store::catalog::RecomputeStats) -> String {
    format!(
        "catalog: {} product(s) recomputed, {} changed, {} channel row(s) to push",
        c.eans, c.products_changed, c.channel_rows_changed
    )
}

/// `n word`, with an `s` unless `n` is 1.
/// Read a document file and parse it, printing its diagnostics (each with the file's name) to
/// stderr; the parsed document and its error count.
///
/// # Errors
/// The file cannot be read.
pub fn read_document<D>(
    file: &std::path::Path,
    parse: impl FnOnce(&str) -> D,
    diagnostics: impl Fn(&D) -> &irp_core::config::Diagnostics,
) -> anyhow::Result<(D, usize)> {
    use anyhow::Context as _;
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let doc = parse(&text);
    let found = diagnostics(&doc);
    for d in found.iter() {
        eprintln!(
            "{}",
            irp_core::config::render(&file.display().to_string(), d)
        );
    }
    let errors = found.error_count();
    Ok((doc, errors))
}

/// Says on stderr that nothing was applied because of `errors` errors; `true` when there were
/// none.
pub fn no_errors(errors: usize) -> bool {
    if errors > 0 {
        eprintln!("{}; nothing was applied", plural(errors, "error"));
    }
    errors == 0
}

pub fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
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
