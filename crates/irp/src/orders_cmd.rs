//! `irp orders …`: take an order in, look at orders and supplier orders, render, submit, retry
//! and cancel.

use std::process::ExitCode;

use anyhow::{Context, Result};
use irp_core::money;
use irp_store::Store;
use irp_store::orders::{StoredLine, StoredOrder, StoredSupplierOrder};
use serde_json::{Value, json};

use crate::cli::{Global, OrdersCommand, TokenCommand, UserCommand};
use crate::commands::{actor, open_store};

fn amount(minor: Option<i64>, currency: Option<&str>) -> String {
    match (minor, currency) {
        (Some(m), Some(c)) => format!("{} {c}", money::from_minor(m, money::minor_digits(c))),
        (Some(m), None) => m.to_string(),
        _ => "-".into(),
    }
}

/// A time for people (`2026-11-23 10:00:00 UTC`), `-` for none.
pub(crate) fn time(t: Option<chrono::DateTime<chrono::Utc>>) -> String {
    t.map_or_else(
        || "-".to_owned(),
        |t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
    )
}

async fn find_order(store: &Store, which: &str) -> Result<Option<StoredOrder>> {
    if let Ok(id) = which.parse::<i64>() {
        return Ok(store.order_get(id).await?);
    }
    match which.split_once('/') {
        Some((channel, number)) => Ok(store.order_by_number(channel, number).await?),
        None => anyhow::bail!("`{which}` is neither an order id nor CHANNEL/ORDER_NUMBER"),
    }
}

fn print_order_line(o: &StoredOrder) {
    outln!(
        "{:>6}  {:<20} {:<24} {:<16} {}",
        o.id,
        o.channel,
        o.order_number,
        o.status,
        o.placed_at.format("%Y-%m-%d %H:%M")
    );
}

fn print_supplier_order(so: &StoredSupplierOrder, key: &str) {
    outln!(
        "  supplier order {} at {key}: {} (attempts {}{}){}{}",
        so.id,
        so.status,
        so.attempts,
        so.next_attempt_at
            .filter(|_| so.status == "pending")
            .map(|t| format!(", next {}", time(Some(t))))
            .unwrap_or_default(),
        so.external_order_reference
            .as_deref()
            .map(|r| format!(", their order {r}"))
            .unwrap_or_default(),
        so.last_error
            .as_deref()
            .map(|e| format!("\n    last error: {e}"))
            .unwrap_or_default()
    );
}

fn line_text(l: &StoredLine) -> String {
    format!(
        "  line {}: {} × {} ({}) at {} incl. VAT → {}",
        l.line_number,
        l.quantity,
        l.ean.as_deref().unwrap_or("-"),
        l.name.as_deref().unwrap_or("-"),
        amount(Some(l.unit_price_incl_minor), Some(&l.currency)),
        match (&l.sku, l.refurbisher_id, &l.attention_reason) {
            (Some(sku), Some(r), None) => format!(
                "refurbisher {r} SKU {sku}, purchase {} excl. VAT",
                amount(l.purchase_price_minor, l.purchase_currency.as_deref())
            ),
            (_, _, Some(why)) => format!("NEEDS ATTENTION: {why}"),
            _ => "-".into(),
        }
    )
}

/// `irp orders …`.
///
/// # Errors
/// The store fails; a file cannot be read.
pub async fn orders(global: &Global, cmd: OrdersCommand) -> Result<ExitCode> {
    let store = open_store(global).await?;
    let keys: Vec<(i64, String)> = store
        .refurbisher_list()
        .await?
        .into_iter()
        .map(|r| (r.id, r.key))
        .collect();
    let key_of = |id: i64| {
        keys.iter()
            .find(|(i, _)| *i == id)
            .map_or_else(|| id.to_string(), |(_, k)| k.clone())
    };
    match cmd {
        OrdersCommand::Create { file, json } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            let raw: Value = match serde_json::from_str(&text) {
                Ok(v) => v,
                Err(e) => {
                    eprintln!(
                        "{}:{}:{}: error: not JSON: {e}",
                        file.display(),
                        e.line(),
                        e.column()
                    );
                    return Ok(ExitCode::FAILURE);
                }
            };
            let refused = |errors: Vec<irp_core::orders::FieldError>| {
                for e in &errors {
                    eprintln!("{}: error: {e}", file.display());
                }
                eprintln!(
                    "{} error{}; the order was not taken in",
                    errors.len(),
                    if errors.len() == 1 { "" } else { "s" }
                );
                ExitCode::FAILURE
            };
            let doc = match irp_core::orders::parse_order(&raw) {
                Ok(d) => d,
                Err(errors) => return Ok(refused(errors)),
            };
            let intake = match store.order_create(&doc, &raw, &actor()).await {
                Ok(i) => i,
                Err(irp_store::StoreError::Invalid(errors)) => return Ok(refused(errors)),
                Err(e) => return Err(e.into()),
            };
            // The reserved units leave the sellable stock now (serve would do it in the
            // background).
            store.catalog_recompute().await?;
            let lines = store.order_lines(intake.order.id).await?;
            let sos = store.supplier_orders_of(intake.order.id).await?;
            if json {
                outln!(
                    "{}",
                    serde_json::to_string_pretty(&json!({
                        "created": intake.created,
                        "order": intake.order,
                        "lines": lines,
                        "supplier_orders": sos,
                    }))?
                );
            } else {
                outln!(
                    "{} order {} ({}/{}): {}",
                    if intake.created {
                        "Took in"
                    } else {
                        "Already have"
                    },
                    intake.order.id,
                    intake.order.channel,
                    intake.order.order_number,
                    intake.order.status
                );
                for l in &lines {
                    outln!("{}", line_text(l));
                }
                for so in &sos {
                    print_supplier_order(so, &key_of(so.refurbisher_id));
                }
                if sos.iter().any(|s| s.status == "pending") {
                    outln!(
                        "`irp serve` places the pending supplier orders; or run `irp orders submit`."
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        OrdersCommand::List {
            status,
            limit,
            json,
        } => {
            let list = store.orders_list(status.as_deref(), limit).await?;
            if json {
                outln!("{}", serde_json::to_string_pretty(&list)?);
            } else if list.is_empty() {
                outln!("No orders.");
            } else {
                outln!(
                    "{:>6}  {:<20} {:<24} {:<16} placed",
                    "id",
                    "channel",
                    "order number",
                    "status"
                );
                for o in &list {
                    print_order_line(o);
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        OrdersCommand::Show { order, json } => {
            let Some(o) = find_order(&store, &order).await? else {
                eprintln!("error: no order {order}");
                return Ok(ExitCode::FAILURE);
            };
            let lines = store.order_lines(o.id).await?;
            let sos = store.supplier_orders_of(o.id).await?;
            let mut attempts = Vec::new();
            let mut erp = Vec::new();
            for so in &sos {
                attempts.push(store.supplier_order_attempts(so.id).await?);
                erp.push(store.erp_document(so.id).await?);
            }
            if json {
                let sos: Vec<Value> = sos
                    .iter()
                    .zip(&attempts)
                    .zip(&erp)
                    .map(|((so, a), e)| {
                        let mut v = serde_json::to_value(so).unwrap_or(Value::Null);
                        v["attempts_made"] = serde_json::to_value(a).unwrap_or(Value::Null);
                        v["erp"] = serde_json::to_value(e).unwrap_or(Value::Null);
                        v
                    })
                    .collect();
                outln!(
                    "{}",
                    serde_json::to_string_pretty(
                        &json!({"order": o, "lines": lines, "supplier_orders": sos})
                    )?
                );
                return Ok(ExitCode::SUCCESS);
            }
            outln!(
                "Order {} ({}/{}): {}, placed {}, taken in {}",
                o.id,
                o.channel,
                o.order_number,
                o.status,
                time(Some(o.placed_at)),
                time(Some(o.created_at))
            );
            outln!("  customer {}", o.customer_email);
            for l in &lines {
                outln!("{}", line_text(l));
            }
            for ((so, tries), e) in sos.iter().zip(&attempts).zip(&erp) {
                print_supplier_order(so, &key_of(so.refurbisher_id));
                if let Some(e) = e {
                    outln!(
                        "    Odoo {}: {}{}{}",
                        e.kind.replace('_', " "),
                        e.status,
                        match (&e.odoo_model, e.odoo_id) {
                            (Some(m), Some(id)) => format!(
                                ", {m} {id}{}",
                                e.odoo_name
                                    .as_deref()
                                    .map(|n| format!(" ({n})"))
                                    .unwrap_or_default()
                            ),
                            _ => String::new(),
                        },
                        e.last_error
                            .as_deref()
                            .map(|x| format!(" — {x}"))
                            .unwrap_or_default()
                    );
                }
                for a in tries {
                    outln!(
                        "    attempt {} at {}: {}{}{}",
                        a.attempt_number,
                        time(Some(a.started_at)),
                        a.outcome,
                        a.response_status
                            .map(|s| format!(", HTTP {s}"))
                            .unwrap_or_default(),
                        a.error
                            .as_deref()
                            .map(|e| format!(" — {e}"))
                            .unwrap_or_default()
                    );
                }
                for sh in store.shipments_of(so.id).await? {
                    outln!(
                        "    shipment {} received {}: {}{} (irp shipments show {})",
                        sh.id,
                        time(Some(sh.received_at)),
                        sh.track_and_trace.as_deref().unwrap_or("-"),
                        sh.carrier
                            .as_deref()
                            .map(|c| format!(" by {c}"))
                            .unwrap_or_default(),
                        sh.id
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        OrdersCommand::Supplier {
            status,
            limit,
            json,
        } => {
            let list = store.supplier_orders_list(status.as_deref(), limit).await?;
            if json {
                outln!("{}", serde_json::to_string_pretty(&list)?);
            } else if list.is_empty() {
                outln!("No supplier orders.");
            } else {
                for so in &list {
                    outln!("order {}:", so.order_id);
                    print_supplier_order(so, &key_of(so.refurbisher_id));
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        OrdersCommand::Render { supplier_order } => {
            match irp_pipeline::orders::render_supplier_order(&store, supplier_order).await {
                Ok((r, body)) => {
                    if let Some(o) = &r.model.order {
                        eprintln!(
                            "{} {} (not sent)",
                            match o.method {
                                irp_core::config::model::Method::Post => "POST",
                                irp_core::config::model::Method::Put => "PUT",
                                irp_core::config::model::Method::Patch => "PATCH",
                            },
                            o.endpoint
                        );
                    }
                    outln!("{}", serde_json::to_string_pretty(&body)?);
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    Ok(ExitCode::FAILURE)
                }
            }
        }
        OrdersCommand::Submit { json } => {
            let secret_key = crate::secret_key::load(&global.secret_key_file, false).ok();
            let owner = format!("{}:{}", actor(), std::process::id());
            irp_pipeline::orders::recover(&store).await?;
            let mut done = Vec::new();
            while let Some(s) =
                irp_pipeline::orders::submit_one(&store, secret_key.as_ref(), &owner).await?
            {
                done.push(s);
            }
            if json {
                outln!("{}", serde_json::to_string_pretty(&done)?);
            } else if done.is_empty() {
                outln!("No supplier order is due.");
            } else {
                for s in &done {
                    outln!(
                        "supplier order {} attempt {}: {}{}{}",
                        s.supplier_order_id,
                        s.attempt,
                        s.outcome,
                        s.external_order_reference
                            .as_deref()
                            .map(|r| format!(", their order {r}"))
                            .unwrap_or_default(),
                        s.error
                            .as_deref()
                            .map(|e| format!(" — {e}"))
                            .unwrap_or_default()
                    );
                }
            }
            Ok(
                if done
                    .iter()
                    .any(|s| matches!(s.outcome, "failed" | "needs_attention"))
                {
                    ExitCode::FAILURE
                } else {
                    ExitCode::SUCCESS
                },
            )
        }
        OrdersCommand::Retry { supplier_order } | OrdersCommand::Cancel { supplier_order } => {
            let retry = matches!(cmd, OrdersCommand::Retry { .. });
            let result = if retry {
                store.supplier_order_retry(supplier_order, &actor()).await
            } else {
                store.supplier_order_cancel(supplier_order, &actor()).await
            };
            match result {
                Ok(so) => {
                    store.catalog_recompute().await?;
                    outln!(
                        "Supplier order {} is {}{}",
                        so.id,
                        so.status,
                        if retry {
                            "; `irp serve` (or `irp orders submit`) sends it"
                        } else {
                            ""
                        }
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Err(
                    e @ (irp_store::StoreError::Conflict(_) | irp_store::StoreError::NotFound(_)),
                ) => {
                    eprintln!("error: {e}");
                    Ok(ExitCode::FAILURE)
                }
                Err(e) => Err(e.into()),
            }
        }
    }
}

/// `irp token …`.
///
/// # Errors
/// The store fails.
pub async fn token(global: &Global, cmd: TokenCommand) -> Result<ExitCode> {
    let store = open_store(global).await?;
    match cmd {
        TokenCommand::Create {
            name,
            role,
            expires,
        } => {
            let expires_at = match expires
                .as_deref()
                .map(|w| parse_expiry(w, chrono::Utc::now()))
            {
                None => None,
                Some(Ok(at)) => Some(at),
                Some(Err(why)) => {
                    eprintln!("error: {why}");
                    return Ok(ExitCode::FAILURE);
                }
            };
            match store.token_create(&name, &role, expires_at, &actor()).await {
                Ok(token) => {
                    outln!("{token}");
                    if let Some(at) = expires_at {
                        eprintln!("It works until {} (UTC).", time(Some(at)));
                    }
                    eprintln!(
                        "This is the only time the token is shown: store it where the caller keeps secrets. \
                     Send it as `Authorization: Bearer <token>`."
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Err(irp_store::StoreError::Conflict(why)) => {
                    eprintln!("error: {why}");
                    Ok(ExitCode::FAILURE)
                }
                Err(e) => Err(e.into()),
            }
        }
        TokenCommand::List { json } => {
            let list = store.token_list().await?;
            if json {
                outln!("{}", serde_json::to_string_pretty(&list)?);
            } else if list.is_empty() {
                outln!("No tokens. Make one with `irp token create NAME`.");
            } else {
                let now = chrono::Utc::now();
                for t in &list {
                    outln!(
                        "{:<32} {:<9} {}…  created {}, last used {}, {}{}",
                        t.name,
                        t.role,
                        t.prefix.as_deref().unwrap_or("irp_"),
                        time(Some(t.created_at)),
                        time(t.last_used_at),
                        match t.expires_at {
                            None => "never expires".to_owned(),
                            Some(e) if e <= now => format!("EXPIRED {}", time(Some(e))),
                            Some(e) => format!("expires {}", time(Some(e))),
                        },
                        t.revoked_at
                            .map(|r| format!(", REVOKED {}", time(Some(r))))
                            .unwrap_or_default()
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        TokenCommand::Revoke { name } => {
            if store.token_revoke(&name, &actor()).await? {
                outln!("Revoked token `{name}`.");
                Ok(ExitCode::SUCCESS)
            } else {
                eprintln!("error: no token named `{name}`");
                Ok(ExitCode::FAILURE)
            }
        }
    }
}

/// `irp user …`: operator accounts for the portal.
///
/// # Errors
/// The database fails, or the address, role or password is refused.
pub async fn user(global: &Global, cmd: UserCommand) -> Result<ExitCode> {
    use std::io::{IsTerminal as _, Read as _};
    let store = open_store(global).await?;
    match cmd {
        UserCommand::Add { email, role } => {
            let mut stdin = std::io::stdin();
            if stdin.is_terminal() {
                eprintln!(
                    "Type the password (at least {} characters), then Enter and Ctrl-D. It shows as you type; \
                     to avoid that, pipe it in: `irp user add {email} < file`",
                    irp_store::users::MIN_PASSWORD_CHARS
                );
            }
            let mut password = String::new();
            stdin
                .read_to_string(&mut password)
                .context("reading the password from stdin")?;
            let password = password
                .strip_suffix('\n')
                .map(|v| v.strip_suffix('\r').unwrap_or(v))
                .unwrap_or(&password);
            if let Some(why) = crate::server::auth::password_refused(password, &email) {
                anyhow::bail!("{why}");
            }
            match store.user_set(&email, password, &role, &actor()).await {
                Ok(irp_store::users::UserSet::Created) => {
                    outln!("made account {} ({role})", email.trim().to_lowercase());
                }
                Ok(irp_store::users::UserSet::Updated) => {
                    outln!(
                        "account {} has a new password and role {role}; its sessions ended",
                        email.trim().to_lowercase()
                    );
                }
                Err(irp_store::StoreError::Conflict(m)) => anyhow::bail!("{m}"),
                Err(e) => return Err(e.into()),
            }
        }
        UserCommand::List { json } => {
            let users = store.user_list().await?;
            if json {
                outln!("{}", serde_json::to_string_pretty(&users)?);
            } else if users.is_empty() {
                outln!("no accounts yet: `irp user add EMAIL` makes one");
            } else {
                let rows: Vec<Vec<String>> = users
                    .iter()
                    .map(|u| {
                        vec![
                            u.email.clone(),
                            u.role.clone(),
                            time(u.last_login_at),
                            u.disabled_at.map_or_else(String::new, |t| {
                                format!("disabled {}", time(Some(t)))
                            }),
                        ]
                    })
                    .collect();
                crate::commands::table(&["EMAIL", "ROLE", "LAST LOGIN", "STATE"], &rows);
            }
        }
        UserCommand::Disable { email } => {
            if store.user_disable(&email, &actor()).await? {
                outln!("account {email} disabled; its sessions ended");
            } else {
                eprintln!("error: no enabled account {email}");
                return Ok(ExitCode::FAILURE);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// When a token made at `now` expires: a duration (`12h`, `90d`, `4w`) from `now`, or an RFC 3339
/// time (`2027-06-30T00:00:00Z`), in the future either way.
///
/// # Errors
/// A text that is neither, or a time not after `now`.
pub(crate) fn parse_expiry(
    text: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> std::result::Result<chrono::DateTime<chrono::Utc>, String> {
    let text = text.trim();
    let expected = "expected a duration such as 12h, 90d or 4w, or an RFC 3339 time such as 2027-06-30T00:00:00Z";
    let at = if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
        t.with_timezone(&chrono::Utc)
    } else {
        let split = text.len().saturating_sub(1);
        let (number, unit) = (
            text.get(..split).unwrap_or(""),
            text.get(split..).unwrap_or(""),
        );
        let n: i64 = number
            .parse()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| format!("--expires {text:?}: {expected}"))?;
        let span = match unit {
            "h" => chrono::TimeDelta::try_hours(n),
            "d" => chrono::TimeDelta::try_days(n),
            "w" => chrono::TimeDelta::try_weeks(n),
            _ => None,
        }
        .ok_or_else(|| format!("--expires {text:?}: {expected}"))?;
        now.checked_add_signed(span)
            .ok_or_else(|| format!("--expires {text:?} is too far away"))?
    };
    if at <= now {
        return Err(format!("--expires {text:?} is not in the future"));
    }
    Ok(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiries_are_durations_or_rfc_3339_times() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-12-01T00:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        let at = |s: &str| parse_expiry(s, now).map(|t| t.to_rfc3339());
        assert_eq!(at("12h").unwrap(), "2026-12-01T12:00:00+00:00");
        assert_eq!(at("90d").unwrap(), "2027-03-01T00:00:00+00:00");
        assert_eq!(at("2w").unwrap(), "2026-12-15T00:00:00+00:00");
        assert_eq!(
            at("2027-06-30T00:00:00+02:00").unwrap(),
            "2027-06-29T22:00:00+00:00"
        );
        for bad in [
            "",
            "d",
            "0d",
            "-1d",
            "10m",
            "90 days",
            "2020-01-01T00:00:00Z",
            "1x",
        ] {
            assert!(at(bad).is_err(), "{bad:?}");
        }
    }
}
