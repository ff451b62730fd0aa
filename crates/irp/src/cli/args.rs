//! The clap definitions of every command: every setting is a flag with a matching `IRP_*`
//! environment variable.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// IRP, the Refurbisher Portal: refurbisher registry, offer feeds, pricing, orders and shipments.
#[derive(Debug, Parser)]
#[command(name = "irp", version, about, max_term_width = 100)]
pub struct Cli {
    /// Settings shared by every command.
    #[command(flatten)]
    pub global: Global,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Settings shared by every command.
#[derive(Debug, Args)]
pub struct Global {
    /// Database: `sqlite:PATH` (created if missing) or `postgres://USER@HOST/DB`.
    #[arg(
        long,
        env = "IRP_DATABASE_URL",
        default_value = "sqlite:data/irp.db",
        global = true
    )]
    pub database_url: String,

    /// File holding the base64 key of the secret store; created on first use when
    /// IRP_SECRET_KEY is not set.
    #[arg(
        long,
        env = "IRP_SECRET_KEY_FILE",
        default_value = "data/secret.key",
        global = true
    )]
    pub secret_key_file: PathBuf,

    /// Log format.
    #[arg(long, env = "IRP_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,

    /// Log filter, e.g. `info` or `irp=debug,sqlx=warn`. Default: `info,sqlx=warn` for `serve`,
    /// `warn` for the other commands (their results are printed, not logged).
    #[arg(long, env = "IRP_LOG", global = true)]
    pub log: Option<String>,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start the portal: web pages, API, /healthz and /metrics.
    Serve(Box<ServeArgs>),
    /// Create or upgrade the database schema.
    Migrate,
    /// Check refurbisher, channels and PIM documents without touching the network.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// The refurbisher registry.
    #[command(subcommand)]
    Refurbisher(RefurbisherCommand),
    /// The encrypted secret store (values referenced as `${secret:NAME}`).
    #[command(subcommand)]
    Secret(SecretCommand),
    /// Offer feeds: preview, import, runs.
    #[command(subcommand)]
    Feed(FeedCommand),
    /// Stored offers.
    #[command(subcommand)]
    Offers(OffersCommand),
    /// Products (by EAN): their offers priced and ranked, and what each channel sells.
    #[command(subcommand)]
    Products(ProductsCommand),
    /// Purchase price changes held by the price guard (`max_price_change_ratio`).
    #[command(subcommand)]
    Prices(PricesCommand),
    /// Storefront channels (Refurbished Direct, Econocom).
    #[command(subcommand)]
    Channel(ChannelCommand),
    /// The catalog: recompute products.
    #[command(subcommand)]
    Catalog(CatalogCommand),
    /// Product data from the PIM (Ergonode): name, brand, model, category, attributes.
    #[command(subcommand)]
    Pim(PimCommand),
    /// The back office (Odoo, through Alumio): purchase orders for drop-ship supplier orders,
    /// sales orders for internal ones.
    #[command(subcommand)]
    Erp(ErpCommand),
    /// Customer orders and the supplier orders placed at refurbishers.
    #[command(subcommand)]
    Orders(OrdersCommand),
    /// API tokens for the REST API (`Authorization: Bearer <token>`).
    #[command(subcommand)]
    Token(TokenCommand),
    /// The shipment webhook refurbishers post to.
    #[command(subcommand)]
    Webhook(WebhookCommand),
    /// Shipments received by the webhook: matched, and kept for review.
    #[command(subcommand)]
    Shipments(ShipmentsCommand),
    /// Every refurbisher's monitoring metrics against its thresholds, and the open alerts.
    ///
    /// Exits 0 when nothing breaches, 2 when something does.
    Monitor(MonitorArgs),
    /// Alerts opened by the monitor, the feed guards and the price guard.
    #[command(subcommand)]
    Alerts(AlertsCommand),
    /// Operator accounts for the portal (e-mail and password).
    #[command(subcommand)]
    User(UserCommand),
    /// The `irp serve` instances running on this database, and the claims each holds (which
    /// feed it imports, which channel it syncs, the monitor's lease, …).
    Status(StatusArgs),
}

/// `irp status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}

/// `irp user …`.
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Make an account, or give an existing one a new password and role (its sessions end).
    /// The password is read from stdin, at least 12 characters; only an argon2id hash is kept.
    Add {
        /// The e-mail address it logs in with.
        email: String,
        /// `operator` (changes things) or `viewer` (reads only).
        #[arg(long, default_value = "operator")]
        role: String,
    },
    /// The accounts (e-mail, role, last login, disabled).
    List {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Disable an account: it cannot log in, its sessions end. `add` enables it again.
    Disable {
        /// Its e-mail address.
        email: String,
    },
}

/// `irp webhook …`.
#[derive(Debug, Subcommand)]
pub enum WebhookCommand {
    /// Make (or rotate) a refurbisher's webhook token and print its full URL, once. Only a hash
    /// is stored; the previous token keeps working for the grace period.
    Token {
        /// The refurbisher's connector key (it needs a `supplier_id`).
        key: String,
        /// Where refurbishers reach IRP, e.g. https://portal.iused.nl.
        #[arg(long, env = "IRP_PUBLIC_URL")]
        base_url: Option<String>,
        /// Hours the previous token keeps working (0: it stops now). Default: the
        /// refurbisher's `shipment.token_grace_hours` (24).
        #[arg(long)]
        grace_hours: Option<i64>,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
}

/// `irp shipments …`.
#[derive(Debug, Subcommand)]
pub enum ShipmentsCommand {
    /// Shipments, newest first.
    List {
        /// Only this refurbisher's.
        #[arg(long)]
        refurbisher: Option<String>,
        /// Only `matched`, `unmatched` (waiting for review) or `dismissed` ones.
        #[arg(long)]
        status: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: i64,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// One shipment: its units (serial, IMEI and its check), why it is unmatched, the payload.
    Show {
        /// Shipment id.
        id: i64,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Link an unmatched shipment to its supplier order (which becomes `shipped`).
    Match {
        /// Shipment id.
        id: i64,
        /// The supplier order (`irp orders supplier` lists them).
        #[arg(long)]
        supplier_order: i64,
    },
    /// Set an unmatched shipment aside; it stays stored.
    Dismiss {
        /// Shipment id.
        id: i64,
    },
    /// Webhook requests of known refurbishers that were refused (bad body), newest first.
    Inbox {
        /// Only this refurbisher's.
        #[arg(long)]
        refurbisher: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: i64,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
}

/// `irp monitor`.
#[derive(Debug, Args)]
pub struct MonitorArgs {
    /// Only this refurbisher.
    #[arg(long)]
    pub refurbisher: Option<String>,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}

/// `irp alerts …`.
#[derive(Debug, Subcommand)]
pub enum AlertsCommand {
    /// Open alerts (with `--all`, resolved ones too), newest first.
    List {
        /// Resolved alerts too.
        #[arg(long)]
        all: bool,
        /// Only this refurbisher's.
        #[arg(long)]
        refurbisher: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: i64,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Make a token; it is printed once and only its hash is stored.
    Create {
        /// What the token is for (`shopware-refurbished-direct`).
        name: String,
        /// `operator` (takes orders in, retries, cancels) or `viewer` (reads only).
        #[arg(long, default_value = "operator")]
        role: String,
        /// When it stops working: a duration from now (`12h`, `90d`, `4w`) or an RFC 3339 time
        /// (`2027-06-30T00:00:00Z`). Default: never (until revoked).
        #[arg(long, value_name = "WHEN")]
        expires: Option<String>,
    },
    /// The tokens (names, first characters, last use, expiry).
    List {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a token: requests with it are refused from now on.
    Revoke {
        /// Its name.
        name: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum OrdersCommand {
    /// Take in an order document (idempotent on channel + order number). `irp serve` places its
    /// supplier orders; without it, `irp orders submit` does.
    ///
    /// Exits 0 when taken in (also a repeat), 1 when the document is refused.
    Create {
        #[arg(short = 'f', long = "file", value_name = "FILE")]
        file: PathBuf,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// The newest orders.
    List {
        /// Only orders with this status (`routed`, `needs_attention`).
        #[arg(long)]
        status: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: i64,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// An order: its lines, what each was routed to, its supplier orders and their attempts.
    Show {
        /// The order id, or CHANNEL/ORDER_NUMBER.
        order: String,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Supplier orders (the outbox and what became of it), newest first.
    Supplier {
        /// Only those with this status (`pending`, `submitted`, `failed`, `needs_attention`, …).
        #[arg(long)]
        status: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: i64,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Print the request a supplier order's next attempt would send, without sending it.
    Render {
        /// The supplier order id.
        supplier_order: i64,
    },
    /// Send the supplier orders that are due now (what `irp serve` does continuously).
    Submit {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Send a `failed` or `needs_attention` supplier order again.
    Retry {
        /// The supplier order id.
        supplier_order: i64,
    },
    /// Cancel a supplier order that is not under way or placed (its units are released).
    Cancel {
        /// The supplier order id.
        supplier_order: i64,
    },
}

#[derive(Debug, Subcommand)]
pub enum ErpCommand {
    /// Store the ERP connector from an ERP document (`{"erp": {"system": "odoo", …}}`).
    Apply {
        #[arg(short = 'f', long = "file", value_name = "FILE")]
        file: PathBuf,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// The ERP connector (credentials redacted) and its documents by status.
    Show {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Check the connector: Odoo (through Alumio) accepts its credentials.
    Check,
    /// Record what is due in Odoo now (`serve` does this continuously).
    ///
    /// Exits 0 when nothing failed, 1 when a document failed.
    Sync {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// The Odoo documents of supplier orders, newest first.
    List {
        /// Only this status: pending, working, done, failed, skipped.
        #[arg(long)]
        status: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: i64,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Try a failed document again (after fixing what Odoo refused), by supplier order id.
    Retry {
        /// The supplier order.
        supplier_order: i64,
    },
}

#[derive(Debug, Subcommand)]
pub enum PimCommand {
    /// Store the PIM source from a PIM document (`{"pim": {"source": "ergonode", …}}`).
    Apply {
        #[arg(short = 'f', long = "file", value_name = "FILE")]
        file: PathBuf,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// The PIM source, where its streams were read up to and how the last sync went.
    Show {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Sync product data now, from where the last sync stopped.
    ///
    /// Exits 0 when the sync succeeded (also with skipped products), 1 when it failed.
    Sync {
        /// Read every product again, from the start of Ergonode's streams.
        #[arg(long)]
        full: bool,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum ProductsCommand {
    /// List products with their best offer, price incl. VAT and sellable stock.
    List {
        /// Only EANs starting with this, or names containing it (any case).
        #[arg(long, short = 'q')]
        query: Option<String>,
        /// Only products that have a best offer (sold now).
        #[arg(long)]
        sellable: bool,
        #[arg(long, default_value_t = 100)]
        limit: i64,
        #[arg(long, default_value_t = 0)]
        offset: i64,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Every offer of a product priced, which one wins and why; the same per channel.
    Show {
        /// The product's EAN.
        ean: String,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum PricesCommand {
    /// Offers whose new purchase price is held, oldest first.
    Held {
        /// Only this refurbisher's.
        key: Option<String>,
        /// Rejected ones too.
        #[arg(long)]
        all: bool,
        #[arg(long, default_value_t = 100)]
        limit: i64,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Accept a held purchase price: the offer is priced from it.
    Accept {
        /// The refurbisher's connector key.
        key: String,
        /// The offer's SKU.
        sku: String,
    },
    /// Reject a held purchase price: the old one stays until the feed sends another price.
    Reject {
        /// The refurbisher's connector key.
        key: String,
        /// The offer's SKU.
        sku: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum ChannelCommand {
    /// Apply channels documents (`{"channels": {"<key>": {…}}}`); changes recompute the catalog.
    Apply {
        #[arg(short = 'f', long = "file", required = true, value_name = "FILE", num_args = 1..)]
        files: Vec<PathBuf>,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// List the channels.
    List {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Sync a channel with its Shopware shop now: push changed prices and stock (every product
    /// with --full), take in new orders, deliver tracking and cancellations.
    Sync {
        /// Channel key.
        key: String,
        /// Push every product, not only the changed ones (after a change in Shopware, or to
        /// repair); also retries the products the shop did not take.
        #[arg(long)]
        full: bool,
        /// Only the product content the channel leaves to IRP (`shopware.content`): what
        /// changed, or with --full every product's content again.
        #[arg(long)]
        content: bool,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Show how each channel's Shopware sync stands: last push, waiting rows, products the
    /// shop did not take, orders that could not be taken in, the last error.
    Status {
        /// Only this channel.
        key: Option<String>,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Check a channel's Shopware credentials (fetches a token).
    Check {
        /// Channel key.
        key: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum CatalogCommand {
    /// Recompute the products marked as changed (feed runs do this themselves).
    Recompute {
        /// Every product, not only the marked ones.
        #[arg(long)]
        all: bool,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
}

/// `irp feed …`.
#[derive(Debug, Subcommand)]
pub enum FeedCommand {
    /// Read a feed and show what it would give, without writing anything.
    Preview {
        /// Connector key.
        key: String,
        /// Read this file instead of fetching the feed.
        #[arg(long, value_name = "PATH")]
        file: Option<PathBuf>,
        /// How many offers to show.
        #[arg(long, default_value_t = 20)]
        limit: usize,
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Import a feed now: one run, applied atomically unless it fails or is quarantined.
    ///
    /// Exits 0 when the run succeeded, was partial or unchanged; 1 when it failed or was
    /// quarantined.
    Import {
        /// Connector key.
        key: String,
        /// Import this file (a manual upload) instead of fetching the feed.
        #[arg(long, value_name = "PATH")]
        file: Option<PathBuf>,
        /// Print the run report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// The latest runs of a refurbisher.
    Runs {
        /// Connector key.
        key: String,
        /// How many runs.
        #[arg(long, default_value_t = 20)]
        limit: i64,
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
    /// One run with its row errors.
    Show {
        /// Run id.
        run_id: i64,
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Apply a quarantined run on purpose.
    Apply {
        /// Run id.
        run_id: i64,
    },
    /// Discard a quarantined run: its rows are dropped, the offers stay as they were.
    Discard {
        /// Run id.
        run_id: i64,
    },
}

/// `irp offers …`.
#[derive(Debug, Subcommand)]
pub enum OffersCommand {
    /// One offer with its selling price explained step by step, and its sellable stock.
    Show {
        /// Connector key.
        key: String,
        /// The refurbisher's SKU.
        sku: String,
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
    /// A refurbisher's offers, by SKU (prices as decimal strings).
    List {
        /// Connector key.
        key: String,
        /// Include offers the latest feed no longer has.
        #[arg(long)]
        all: bool,
        /// How many offers.
        #[arg(long, default_value_t = 100)]
        limit: i64,
        /// Skip this many.
        #[arg(long, default_value_t = 0)]
        offset: i64,
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `irp serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "IRP_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Seconds between checks for due feeds and a due PIM sync; 0 disables both in this
    /// instance.
    #[arg(long, env = "IRP_POLL_TICK_SECS", default_value_t = 5)]
    pub poll_tick_secs: u64,
    /// Seconds between rounds of the channels' Shopware sync (a recompute or a shipment starts
    /// one at once); 0 disables the sync in this instance.
    #[arg(long, env = "IRP_CHANNEL_TICK_SECS", default_value_t = 5)]
    pub channel_tick_secs: u64,
    /// Seconds between rounds recording supplier orders in the ERP (Odoo); 0 disables it in
    /// this instance.
    #[arg(long, env = "IRP_ERP_TICK_SECS", default_value_t = 5)]
    pub erp_tick_secs: u64,
    /// Documents to apply at start (idempotent): refurbisher documents, channels documents and
    /// a PIM document, e.g. config/refurbishers/*.json config/channels.json.
    #[arg(long, value_name = "FILE", num_args = 1.., env = "IRP_APPLY", value_delimiter = ',')]
    pub apply: Vec<PathBuf>,
    /// Seconds between monitor evaluations (thresholds → alerts); 0 disables the monitor in
    /// this instance.
    #[arg(long, env = "IRP_MONITOR_TICK_SECS", default_value_t = 60)]
    pub monitor_tick_secs: u64,
    /// Where alerts are posted when they open and resolve (JSON with a Slack-compatible
    /// `text`). Treated as a secret: never printed.
    #[arg(long, env = "IRP_NOTIFY_URL", hide_env_values = true)]
    pub notify_url: Option<String>,
    /// Shipment webhook requests a second per sender address (bursts of twice that); 0: no
    /// limit.
    #[arg(long, env = "IRP_WEBHOOK_RATE", default_value_t = 50)]
    pub webhook_rate: u32,
    /// Behind a proxy: the header naming the client's address (`X-Forwarded-For`), for the
    /// webhooks' rate limit and the login throttle. Read only from a peer in
    /// `--trusted-proxies`.
    #[arg(long, env = "IRP_WEBHOOK_CLIENT_IP_HEADER")]
    pub webhook_client_ip_header: Option<String>,
    /// The proxies whose client-IP header is believed: addresses or CIDR ranges,
    /// comma-separated.
    #[arg(
        long,
        env = "IRP_TRUSTED_PROXIES",
        value_delimiter = ',',
        default_value = "127.0.0.1/32,::1/128"
    )]
    pub trusted_proxies: Vec<String>,
    /// Mark the portal's session cookie `Secure` (sent over HTTPS only; then named
    /// `__Host-irp_session`) and send `Strict-Transport-Security`. Default: on, unless
    /// `--listen` is a loopback address.
    #[arg(
        long,
        env = "IRP_SECURE_COOKIES",
        num_args = 0..=1,
        default_missing_value = "true",
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub secure_cookies: Option<bool>,
    /// Seconds a client has to send a request's headers; a slower one is disconnected.
    #[arg(long, env = "IRP_HEADER_TIMEOUT_SECS", default_value_t = 10)]
    pub header_timeout_secs: u64,
    /// Seconds a request's body may stall (no bytes arriving) before the request fails; an
    /// upload that keeps sending is not cut off.
    #[arg(long, env = "IRP_BODY_TIMEOUT_SECS", default_value_t = 30)]
    pub body_timeout_secs: u64,
    /// Open connections at most; more wait to be accepted.
    #[arg(long, env = "IRP_MAX_CONNECTIONS", default_value_t = 1024)]
    pub max_connections: usize,
    /// Open connections at most from one client address (trusted proxies excepted); more
    /// are closed at once.
    #[arg(long, env = "IRP_MAX_CONNECTIONS_PER_ADDRESS", default_value_t = 64)]
    pub max_connections_per_address: usize,
    /// Password hashes (logins, password changes) computed at once; a login beyond that is
    /// answered 503 with `Retry-After`.
    #[arg(long, env = "IRP_LOGIN_CONCURRENCY", default_value_t = 4)]
    pub login_concurrency: usize,
    /// Serve `/metrics` on this address only (e.g. 127.0.0.1:9090), not on `--listen`.
    #[arg(long, env = "IRP_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,
    /// `/metrics` needs `Authorization: Bearer <this>`. Treated as a secret: never printed.
    #[arg(long, env = "IRP_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<String>,
    /// The address refurbishers and browsers reach IRP at (`https://irp.example.com`), for the
    /// webhook URLs the portal shows; default: the address the browser used.
    #[arg(long, env = "IRP_PUBLIC_URL")]
    pub public_url: Option<String>,
}

/// `irp config …`.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate refurbisher, channels and PIM documents and report every problem with file,
    /// line and JSON path.
    ///
    /// Exits 0 when there are no errors (warnings are printed), 1 otherwise.
    Check {
        /// Documents to check.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `irp refurbisher …`.
#[derive(Debug, Subcommand)]
pub enum RefurbisherCommand {
    /// Create or update refurbishers from documents; prints what changed, field by field.
    Apply {
        /// Documents to apply (all in one transaction).
        #[arg(short = 'f', long = "file", required = true, value_name = "FILE", num_args = 1..)]
        files: Vec<PathBuf>,
        /// Print the outcome as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List refurbishers with their status.
    List {
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show one refurbisher: status, settings and connector config (credentials redacted).
    Show {
        /// Connector key, e.g. `flexit`.
        key: String,
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `irp secret …`.
#[derive(Debug, Subcommand)]
pub enum SecretCommand {
    /// Store a secret; the value is read from stdin (one trailing newline is dropped).
    Set {
        /// Secret name, e.g. `flexit.offers.auth.password`.
        name: String,
    },
    /// List stored secrets (names and dates, never values).
    List {
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Delete a secret.
    Delete {
        /// Secret name.
        name: String,
    },
}
