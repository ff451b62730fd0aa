//! `irp`, the Refurbisher Portal's one binary: CLI commands and the portal server.

/// `println!` that ends the process quietly when stdout is closed (`irp … | head`).
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = writeln!(std::io::stdout().lock(), $($arg)*) {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                std::process::exit(0);
            }
        }
    }};
}

mod catalog_cmd;
mod channel_cmd;
mod cli;
mod commands;
mod erp_cmd;
mod feed_cmd;
mod monitor_cmd;
mod ops;
mod orders_cmd;
mod pim_cmd;
mod secret_key;
mod server;
mod shipments_cmd;
mod token_cmd;
mod user_cmd;

use std::process::ExitCode;

use clap::Parser;

use cli::{Cli, Command, LogFormat};

fn init_tracing(format: LogFormat, filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let default_filter = if matches!(cli.command, Command::Serve(_)) {
        "info,sqlx=warn"
    } else {
        "warn"
    };
    init_tracing(
        cli.global.log_format,
        cli.global.log.as_deref().unwrap_or(default_filter),
    );
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => server::run(&cli.global, *args).await,
            Command::Migrate => commands::migrate(&cli.global).await,
            Command::Config(c) => commands::config(&cli.global, c).await,
            Command::Refurbisher(c) => commands::refurbisher(&cli.global, c).await,
            Command::Secret(c) => commands::secret(&cli.global, c).await,
            Command::Feed(c) => feed_cmd::feed(&cli.global, c).await,
            Command::Offers(c) => feed_cmd::offers(&cli.global, c).await,
            Command::Products(c) => catalog_cmd::products(&cli.global, c).await,
            Command::Prices(c) => catalog_cmd::prices(&cli.global, c).await,
            Command::Channel(c) => catalog_cmd::channel(&cli.global, c).await,
            Command::Catalog(c) => catalog_cmd::catalog_cmd(&cli.global, c).await,
            Command::Pim(c) => pim_cmd::pim(&cli.global, c).await,
            Command::Erp(c) => erp_cmd::erp(&cli.global, c).await,
            Command::Orders(c) => orders_cmd::orders(&cli.global, c).await,
            Command::Token(c) => token_cmd::token(&cli.global, c).await,
            Command::Webhook(c) => shipments_cmd::webhook(&cli.global, c).await,
            Command::Shipments(c) => shipments_cmd::shipments(&cli.global, c).await,
            Command::Monitor(a) => monitor_cmd::monitor(&cli.global, a).await,
            Command::Alerts(c) => monitor_cmd::alerts(&cli.global, c).await,
            Command::User(c) => user_cmd::user(&cli.global, c).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
