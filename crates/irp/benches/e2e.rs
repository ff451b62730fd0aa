//! End-to-end benchmark: what an operator meets running the `irp` binary (a process of its own
//! per step) on a FlexIT feed of `IRP_BENCH_ROWS` rows (default 1,000,000), on a fresh SQLite
//! file and on a fresh PostgreSQL database. Each round: the store is created and migrated
//! (`irp migrate`), FlexIT (`config/refurbishers/flexit.json`) and both storefront channels
//! (`config/channels.json`) are applied — none of this timed — then, timed, each with the
//! child's peak RSS:
//!
//! 1. **full import**: `irp feed import flexit --file F.csv` into the empty store, the catalog
//!    recompute (products and both channels' rows) included;
//! 2. **1 % re-import**: the same file with 1 % of the rows' purchase prices changed (all of them
//!    sellable, so each changes its product's two channel rows), right after;
//! 3. **margin change**: `irp refurbisher apply -f` of FlexIT's document with `default_margin`
//!    17 → 20, which marks every FlexIT product and recomputes them: timed until every product
//!    and channel row is repriced and marked for the channel sync. No shop is pushed to in
//!    between (the channels have none), so the rows are still waiting from the import then.
//!
//! References, in the same run on the same file: `sqlite3 .import` (`.mode csv`, `.separator ;`,
//! `--skip 1`) and PostgreSQL `\copy … (FORMAT csv, DELIMITER ';', HEADER)` into a plain
//! 6-column table. Every step runs `IRP_BENCH_ROUNDS` rounds (default 3; a fresh store each);
//! the table gives each round, the median, and the median's ratio to the reference's median.
//! The catalog and channel rows are checked after each step; the bench fails loudly when a step
//! did not do what it is timed for.
//!
//! ```sh
//! cargo bench -p irp --bench e2e            # IRP_BENCH_ROWS=1000000, IRP_BENCH_ROUNDS=3
//! ```
//! PostgreSQL from IRP_TEST_PG_URL or 127.0.0.1:5432 (a database per round, dropped after);
//! IRP_BENCH_ONLY=sqlite|postgres runs one store. Needs `sqlite3`, `psql` and GNU time
//! (`/usr/bin/time`, Debian package `time`) for the children's peak RSS. The children log
//! their phases (`IRP_LOG`, default `warn,irp_pipeline=debug,irp_store=debug`, as JSON); the
//! bench prints where the time went below the table.

#![allow(clippy::unwrap_used, clippy::print_stdout, clippy::print_stderr)] // a benchmark program

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use irp_store::Backend;
use irp_store::testkit::{pg_server_url, with_database};
use irp_testkit::feeds::{ean, nl_price as price};
use serde_json::Value;

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
const GNU_TIME: &str = "/usr/bin/time";

/// Stock of row `i`: 0–49, so 96 % of the rows are sellable (stock above FlexIT's
/// `stock_threshold` of 1).
fn stock(i: u64) -> u64 {
    i % 50
}

/// Whether the 1 % re-import changes row `i`: every hundredth row, all of them sellable (the
/// rows `i % 100 == 0` of `feed_bench` have no stock, so they change no channel row).
fn changed(i: u64) -> bool {
    i % 100 == 17
}

/// A FlexIT feed of `rows` rows (as `irp-pipeline`'s `feed_bench`); with `delta`, the purchase
/// price of the [`changed`] rows is one euro higher.
fn generate(path: &Path, rows: u64, delta: bool) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    writeln!(
        f,
        "Flex IT Part Number;Description;Stock Quantity;EAN;Sales Price;SRP"
    )
    .unwrap();
    for i in 0..rows {
        let mut buy = 5_000 + (i * 7919) % 150_000;
        if delta && changed(i) {
            buy += 100;
        }
        writeln!(
            f,
            "FLX-{i:07};Refurbished smartphone model {} 128GB Grade A;{};{};{};{}",
            i % 5000,
            stock(i),
            ean(i),
            price(buy),
            price(buy * 13 / 10)
        )
        .unwrap();
    }
    f.flush().unwrap();
}

/// Run `cmd`; its stdout, or a panic with its stderr.
fn check(cmd: &mut Command) -> String {
    let out = cmd.stdin(Stdio::null()).output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Seconds `cmd` took (it must succeed).
fn timed(cmd: &mut Command) -> f64 {
    let t = Instant::now();
    check(cmd);
    t.elapsed().as_secs_f64()
}

fn psql(url: &str, sql: &str) -> Command {
    let mut c = Command::new("psql");
    c.arg(url)
        .args(["-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-c"])
        .arg(sql);
    c
}

/// A log field as a number: `as_millis()` values (u128) are logged as strings.
fn num(v: &Value) -> Option<f64> {
    v.as_f64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
}

/// One `irp` step: wall time, the child's peak RSS, its output and its log events.
struct Step {
    secs: f64,
    rss_mib: f64,
    stdout: String,
    log: Vec<Value>,
}

impl Step {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.stdout))
    }

    /// The log events with this message.
    fn events<'a>(&'a self, message: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
        self.log
            .iter()
            .filter(move |e| e["fields"]["message"] == message)
    }

    /// Field `field` of the first event `message`, in seconds (the field is in ms).
    fn ms(&self, message: &str, field: &str) -> Option<f64> {
        self.events(message)
            .next()
            .and_then(|e| num(&e["fields"][field]))
            .map(|v| v / 1000.0)
    }

    /// Field `field` summed over the events `message`, in seconds.
    fn ms_sum(&self, message: &str, field: &str) -> f64 {
        self.events(message)
            .filter_map(|e| num(&e["fields"][field]))
            .sum::<f64>()
            / 1000.0
    }
}

/// One round's store: a fresh SQLite file or PostgreSQL database.
struct Store {
    backend: Backend,
    dir: tempfile::TempDir,
    url: String,
    /// PostgreSQL: (server URL, database), dropped with the store.
    pg: Option<(String, String)>,
}

impl Store {
    /// A new, empty store (not yet migrated: `irp migrate` does that, as for a user).
    fn create(backend: Backend, round: usize) -> Store {
        let dir = tempfile::tempdir().unwrap();
        match backend {
            Backend::Sqlite => {
                let url = format!("sqlite:{}", dir.path().join("irp.db").display());
                Store {
                    backend,
                    dir,
                    url,
                    pg: None,
                }
            }
            Backend::Postgres => {
                let server = pg_server_url();
                let name = format!("irp_e2e_{}_{round}", std::process::id());
                check(&mut psql(
                    &server,
                    &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
                ));
                check(&mut psql(&server, &format!("CREATE DATABASE {name}")));
                Store {
                    backend,
                    dir,
                    url: with_database(&server, &name),
                    pg: Some((server, name)),
                }
            }
        }
    }

    fn irp_cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(GNU_TIME);
        c.arg("-f")
            .arg("%M")
            .arg("-o")
            .arg(self.dir.path().join("rss"))
            .arg(env!("CARGO_BIN_EXE_irp"))
            .args(args)
            .current_dir(ROOT)
            .env("IRP_DATABASE_URL", &self.url)
            .env("IRP_SECRET_KEY_FILE", self.dir.path().join("secret.key"))
            .env("IRP_LOG_FORMAT", "json")
            .env(
                "IRP_LOG",
                std::env::var("IRP_LOG")
                    .unwrap_or_else(|_| "warn,irp_pipeline=debug,irp_store=debug".into()),
            )
            .env("IRP_ALLOW_PRIVATE_NETWORKS", "127.0.0.0/8,::1/128")
            .env_remove("IRP_SECRET_KEY")
            .stdin(Stdio::null());
        c
    }

    /// Run `irp ARGS` under GNU time: its wall time (as the parent sees it) and peak RSS.
    fn irp(&self, args: &[&str]) -> Step {
        let t = Instant::now();
        let out = self.irp_cmd(args).output().unwrap();
        let secs = t.elapsed().as_secs_f64();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(
            out.status.success(),
            "irp {args:?} failed ({}): {}{stderr}",
            out.status,
            String::from_utf8_lossy(&out.stdout)
        );
        let rss = std::fs::read_to_string(self.dir.path().join("rss")).unwrap();
        let kib: f64 = rss
            .lines()
            .last()
            .and_then(|l| l.trim().parse().ok())
            .unwrap_or_else(|| panic!("GNU time wrote no peak RSS: {rss:?}"));
        let log = stderr
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .collect();
        for l in stderr
            .lines()
            .filter(|l| serde_json::from_str::<Value>(l).is_err())
        {
            eprintln!("  irp {}: {l}", args.first().unwrap_or(&""));
        }
        Step {
            secs,
            rss_mib: kib / 1024.0,
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            log,
        }
    }

    /// A query's single-column rows, through `sqlite3` or `psql`.
    fn query(&self, sql: &str) -> Vec<String> {
        let out = match self.backend {
            Backend::Sqlite => check(
                Command::new("sqlite3")
                    .arg(self.url.trim_start_matches("sqlite:"))
                    .arg(sql),
            ),
            Backend::Postgres => check(&mut psql(&self.url, sql)),
        };
        out.lines().map(str::to_owned).collect()
    }

    fn count(&self, sql: &str) -> u64 {
        let rows = self.query(sql);
        rows.first()
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("{sql}: {rows:?}"))
    }

    /// Active channel rows by channel.
    fn channel_rows(&self) -> BTreeMap<String, u64> {
        self.query(
            "SELECT channel || ' ' || count(*) FROM channel_products WHERE active GROUP BY channel",
        )
        .iter()
        .map(|l| {
            let (k, n) = l.rsplit_once(' ').unwrap();
            (k.to_owned(), n.parse().unwrap())
        })
        .collect()
    }

    /// The sum of the channels' selling prices, to see a repricing.
    fn price_sum(&self) -> String {
        self.query("SELECT sum(price_incl_minor) FROM channel_products WHERE active")
            .concat()
    }

    /// Products waiting for a recompute.
    fn marked(&self) -> u64 {
        self.count("SELECT count(*) FROM catalog_dirty")
    }

    /// Channel rows waiting to be pushed, as `irp channel status` reports them.
    fn waiting_rows(&self) -> BTreeMap<String, u64> {
        let status = self.irp(&["channel", "status", "--json"]).json();
        status
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    c["channel"].as_str().unwrap().to_owned(),
                    c["waiting_rows"].as_u64().unwrap(),
                )
            })
            .collect()
    }

    /// The reference: the same file into a plain 6-column table by the database's own loader.
    fn reference(&self, file: &Path, rows: u64) -> f64 {
        const TABLE: &str =
            "CREATE TABLE t(sku TEXT, name TEXT, stock TEXT, ean TEXT, buy TEXT, srp TEXT)";
        match self.backend {
            Backend::Sqlite => {
                let db = self.dir.path().join("reference.db");
                check(Command::new("sqlite3").arg(&db).arg(TABLE));
                // `.import --csv` would set the separator back to `,`: `.mode csv` and
                // `.separator ;` read the feed as it is.
                let secs = timed(
                    Command::new("sqlite3")
                        .arg(&db)
                        .arg(".mode csv")
                        .arg(".separator ;")
                        .arg(format!(".import --skip 1 {} t", file.display())),
                );
                let n = check(
                    Command::new("sqlite3")
                        .arg(&db)
                        .arg("SELECT count(*) FROM t WHERE srp IS NOT NULL"),
                );
                assert_eq!(n.trim(), rows.to_string(), "sqlite3 .import");
                std::fs::remove_file(&db).unwrap();
                secs
            }
            Backend::Postgres => {
                let (server, name) = self.pg.as_ref().unwrap();
                let refdb = format!("{name}_ref");
                check(&mut psql(server, &format!("CREATE DATABASE {refdb}")));
                let url = with_database(server, &refdb);
                check(&mut psql(&url, TABLE));
                let secs = timed(&mut psql(
                    &url,
                    &format!(
                        "\\copy t FROM '{}' (FORMAT csv, DELIMITER ';', HEADER)",
                        file.display()
                    ),
                ));
                let n = check(&mut psql(
                    &url,
                    "SELECT count(*) FROM t WHERE srp IS NOT NULL",
                ));
                assert_eq!(n.trim(), rows.to_string(), "psql \\copy");
                check(&mut psql(
                    server,
                    &format!("DROP DATABASE {refdb} WITH (FORCE)"),
                ));
                secs
            }
        }
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        if let Some((server, name)) = &self.pg {
            let _ = psql(
                server,
                &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            )
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        }
    }
}

/// The round's figures.
#[derive(Default)]
struct Round {
    reference: f64,
    full: (f64, f64),
    delta: (f64, f64),
    margin: (f64, f64),
    notes: Vec<String>,
}

fn secs(s: f64) -> String {
    format!("{s:.2} s")
}

/// Where an import's time went, from its report and its log.
fn import_phases(step: &Step) -> String {
    let rep = step.json();
    // The run's duration includes the recompute after it.
    let run = rep["duration_ms"].as_f64().unwrap_or(0.0) / 1000.0;
    let catalog = rep["catalog"]["ms"].as_f64().unwrap_or(0.0) / 1000.0;
    let feed = run - catalog;
    let mut parts = vec![format!("wall {}", secs(step.secs))];
    // The run's marks, in seconds since it started.
    let marks = [
        ("Stored offers indexed", "index_ms", "offers indexed"),
        ("Feed read", "read_ms", "feed read (rows written meanwhile)"),
        ("Feed applied", "applied_ms", "applied and recomputed"),
    ];
    let at: Vec<String> = marks
        .iter()
        .filter_map(|(m, f, label)| step.ms(m, f).map(|s| format!("{label} {}", secs(s))))
        .collect();
    if !at.is_empty() {
        parts.push(format!("run marks: {}", at.join(", ")));
    }
    if let Some(s) = step.ms("Run committed", "total_ms") {
        parts.push(format!("apply statements + commit {}", secs(s)));
    }
    parts.push(format!("feed run without the recompute {}", secs(feed)));
    parts.push(format!(
        "catalog {} (steps read {} / write {}; commit {})",
        secs(catalog),
        secs(step.ms_sum("Catalog step read", "read_ms")),
        secs(step.ms_sum("Catalog step written", "write_ms")),
        secs(step.ms("Catalog recomputed", "commit_ms").unwrap_or(0.0)),
    ));
    parts.push(format!(
        "rest (start, migrate check, audit, exit) {}",
        secs(step.secs - run)
    ));
    parts.join(", ")
}

fn round(backend: Backend, n: usize, rows: u64, files: &[PathBuf; 2], margin_doc: &Path) -> Round {
    let store = Store::create(backend, n);
    let mut r = Round {
        reference: store.reference(&files[0], rows),
        ..Round::default()
    };

    // Setup, as a user does it.
    store.irp(&["migrate"]);
    store.irp(&[
        "refurbisher",
        "apply",
        "-f",
        "config/refurbishers/flexit.json",
    ]);
    store.irp(&["channel", "apply", "-f", "config/channels.json"]);
    let channels = store.irp(&["channel", "list", "--json"]).json();
    assert_eq!(channels.as_array().unwrap().len(), 2, "{channels}");

    let sellable = (0..rows).filter(|&i| stock(i) > 1).count() as u64;
    let file = |i: usize| files[i].to_str().unwrap().to_owned();

    // 1. The full import.
    let full = store.irp(&["feed", "import", "flexit", "--file", &file(0), "--json"]);
    let rep = full.json();
    assert_eq!(rep["status"], "succeeded", "full import: {rep}");
    assert_eq!(rep["created"], rows, "full import: {rep}");
    assert_eq!(
        rep["catalog"]["eans"], rows,
        "full import recomputed: {rep}"
    );
    let products = store.count("SELECT count(*) FROM products WHERE best_offer_id IS NOT NULL");
    let channel_rows = store.channel_rows();
    let waiting = store.waiting_rows();
    assert_eq!(
        products, sellable,
        "sellable products after the full import"
    );
    assert_eq!(channel_rows.len(), 2, "channels selling: {channel_rows:?}");
    for (c, k) in &channel_rows {
        assert_eq!(
            *k, sellable,
            "{c}: active channel rows after the full import"
        );
        assert!(
            waiting[c] >= *k,
            "{c}: {} rows waiting to be pushed, {k} active",
            waiting[c]
        );
    }
    assert_eq!(
        store.marked(),
        0,
        "products still marked after the full import"
    );
    r.notes.push(format!(
        "full import: {} offers, {products} sellable products, channel rows {channel_rows:?}, waiting to be pushed {waiting:?}; {}",
        rep["created"],
        import_phases(&full)
    ));
    r.full = (full.secs, full.rss_mib);

    // 2. The 1 % re-import.
    let delta = store.irp(&["feed", "import", "flexit", "--file", &file(1), "--json"]);
    let rep = delta.json();
    let n_changed = (0..rows).filter(|&i| changed(i)).count() as u64;
    assert_eq!(rep["status"], "succeeded", "1 % re-import: {rep}");
    assert_eq!(rep["updated"], n_changed, "1 % re-import: {rep}");
    assert_eq!(rep["price_holds"], 0, "1 % re-import: {rep}");
    assert!(
        rep["catalog"]["eans"].as_u64().unwrap() >= n_changed,
        "1 % re-import recomputed: {rep}"
    );
    assert_eq!(
        rep["catalog"]["channel_rows_changed"],
        2 * n_changed,
        "1 % re-import: channel rows repriced: {rep}"
    );
    assert_eq!(
        store.marked(),
        0,
        "products still marked after the re-import"
    );
    r.notes.push(format!(
        "1 % re-import: {} offers updated, catalog {} products / {} channel rows changed; {}",
        rep["updated"],
        rep["catalog"]["products_changed"],
        rep["catalog"]["channel_rows_changed"],
        import_phases(&delta)
    ));
    r.delta = (delta.secs, delta.rss_mib);

    // 3. The margin change: FlexIT's document with another default_margin, applied.
    let before = store.price_sum();
    let margin = store.irp(&["refurbisher", "apply", "-f", margin_doc.to_str().unwrap()]);
    assert!(
        margin.stdout.contains("default_margin"),
        "the margin change was not applied: {}",
        margin.stdout
    );
    let recomputed = margin
        .events("Catalog recomputed")
        .next()
        .unwrap_or_else(|| {
            panic!(
                "`refurbisher apply` logged no catalog recompute: {:?}",
                margin.log
            )
        })["fields"]
        .clone();
    assert_eq!(
        recomputed["eans"], rows,
        "margin change recomputed: {recomputed}"
    );
    assert_eq!(
        recomputed["channel_rows"],
        2 * sellable,
        "margin change: channel rows repriced: {recomputed}"
    );
    assert_eq!(
        store.marked(),
        0,
        "products still marked after the margin change"
    );
    let after = store.price_sum();
    assert_ne!(before, after, "the margin change changed no price");
    let rest = store.irp(&["catalog", "recompute", "--json"]).json();
    assert_eq!(rest["eans"], 0, "left for `irp catalog recompute`: {rest}");
    r.notes.push(format!(
        "margin change: {} products, {} channel rows repriced; wall {}, recompute {} (steps read {} / write {}; commit {})",
        recomputed["products"],
        recomputed["channel_rows"],
        secs(margin.secs),
        secs(num(&recomputed["ms"]).unwrap_or(0.0) / 1000.0),
        secs(margin.ms_sum("Catalog step read", "read_ms")),
        secs(margin.ms_sum("Catalog step written", "write_ms")),
        secs(num(&recomputed["commit_ms"]).unwrap_or(0.0) / 1000.0),
    ));
    r.margin = (margin.secs, margin.rss_mib);
    r
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let m = s.len() / 2;
    if s.len() % 2 == 1 {
        s[m]
    } else {
        f64::midpoint(s[m - 1], s[m])
    }
}

fn list(v: &[f64], f: impl Fn(f64) -> String) -> String {
    v.iter().map(|x| f(*x)).collect::<Vec<_>>().join(" / ")
}

fn version(cmd: &str, arg: &str) -> String {
    Command::new(cmd)
        .arg(arg)
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|_| "missing".into())
}

fn main() {
    let rows: u64 = std::env::var("IRP_BENCH_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let rounds: usize = std::env::var("IRP_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let only = std::env::var("IRP_BENCH_ONLY").ok();
    assert!(
        Path::new(GNU_TIME).exists(),
        "{GNU_TIME} is missing: apt-get install time (GNU time measures the children's peak RSS)"
    );

    let dir = tempfile::tempdir().unwrap();
    let files = [
        dir.path().join("feed.csv"),
        dir.path().join("feed-1pct.csv"),
    ];
    let t = Instant::now();
    generate(&files[0], rows, false);
    generate(&files[1], rows, true);
    let size = std::fs::metadata(&files[0]).unwrap().len();
    eprintln!(
        "generated 2 × {rows} rows, {:.1} MB each, in {}",
        size as f64 / 1e6,
        secs(t.elapsed().as_secs_f64())
    );
    // FlexIT's document with another margin: what an operator edits and applies.
    let mut doc: Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{ROOT}/config/refurbishers/flexit.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(doc["flexit"]["default_margin"], 17, "flexit.json changed");
    doc["flexit"]["default_margin"] = 20.into();
    let margin_doc = dir.path().join("flexit-margin-20.json");
    std::fs::write(&margin_doc, serde_json::to_string_pretty(&doc).unwrap()).unwrap();

    let mut results = Vec::new();
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let name = format!("{backend:?}").to_lowercase();
        if only.as_deref().is_some_and(|o| o != name) {
            continue;
        }
        let mut all = Vec::new();
        for n in 1..=rounds {
            let r = round(backend, n, rows, &files, &margin_doc);
            eprintln!(
                "{name} round {n}: reference {}, full import {} ({:.0} MiB), 1 % re-import {} ({:.0} MiB), margin change {} ({:.0} MiB)",
                secs(r.reference),
                secs(r.full.0),
                r.full.1,
                secs(r.delta.0),
                r.delta.1,
                secs(r.margin.0),
                r.margin.1
            );
            for note in &r.notes {
                eprintln!("  {note}");
            }
            all.push(r);
        }
        results.push((backend, all));
    }

    let commit = Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(ROOT)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    let dirty = Command::new("git")
        .args(["status", "--porcelain", "--untracked-files=no"])
        .current_dir(ROOT)
        .output()
        .is_ok_and(|o| !o.stdout.is_empty());
    let nproc = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    println!();
    println!(
        "Commit {commit}{}; {nproc} cores (nproc); {rows} rows ({:.1} MB), {rounds} round(s); {}, {}, {}.",
        if dirty {
            " (with uncommitted changes)"
        } else {
            ""
        },
        size as f64 / 1e6,
        version("sqlite3", "--version")
            .split_whitespace()
            .next()
            .map_or("sqlite3 ?".into(), |v| format!("sqlite3 {v}")),
        version("psql", "--version"),
        chrono::Utc::now().format("%Y-%m-%d"),
    );
    println!();
    println!(
        "| Store | step | rounds | median | ratio to the reference (median / median; per round) | peak RSS (rounds) |"
    );
    println!("|---|---|---|---|---|---|");
    for (backend, all) in &results {
        let (store, refname) = match backend {
            Backend::Sqlite => ("SQLite", "`sqlite3 .import`"),
            Backend::Postgres => ("PostgreSQL", "`\\copy`"),
        };
        let reference: Vec<f64> = all.iter().map(|r| r.reference).collect();
        let ref_median = median(&reference);
        println!(
            "| {store} | reference: {refname} | {} | {} | 1 | — |",
            list(&reference, secs),
            secs(ref_median)
        );
        let steps = [
            "full import (catalog and channel rows included)",
            "1 % re-import",
            "margin change (every product repriced)",
        ];
        for (i, label) in steps.into_iter().enumerate() {
            let pick = |r: &Round| [r.full, r.delta, r.margin][i];
            let t: Vec<f64> = all.iter().map(|r| pick(r).0).collect();
            let rss: Vec<f64> = all.iter().map(|r| pick(r).1).collect();
            let per_round: Vec<f64> = all.iter().map(|r| pick(r).0 / r.reference).collect();
            println!(
                "| {store} | {label} | {} | {} | **{:.1}×** ({}) | {} |",
                list(&t, secs),
                secs(median(&t)),
                median(&t) / ref_median,
                list(&per_round, |x| format!("{x:.1}×")),
                list(&rss, |m| format!("{m:.0} MiB")),
            );
        }
    }
}
