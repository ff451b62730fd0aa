//! `irp orders …`: take an order in, look at orders and supplier orders, render, submit, retry
//! and cancel.

use std::process::ExitCode;

use anyhow::{Context, Result};
use irp_core::money;
use irp_store::Store;
use irp_store::orders::{StoredLine, StoredOrder, StoredSupplierOrder};
use serde_json::{Value, json};

use super::{Global, OrdersCommand, actor, open_store, print_views, time};
use crate::views;

fn amount(minor: Option<i64>, currency: Option<&str>) -> String {
    match (minor, currency) {
        (Some(m), Some(c)) => format!("{} {c}", money::from_minor(m, money::minor_digits(c))),
        (Some(m), None) => m.to_string(),
        _ => "-".into(),
    }
}

async fn find_order(store: &Store, which: &str) -> Result<Option<StoredOrder>> {
    if let Ok(id) = which.parse::<i64>() {
        return Ok(store.orders().get(id).await?);
    }
    match which.split_once('/') {
        Some((channel, number)) => Ok(store.orders().by_number(channel, number).await?),
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
        .refurbishers()
        .list()
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
            let intake = match irp_pipeline::orders::take_in(&store, &doc, &raw, &actor()).await {
                Ok(i) => i,
                Err(irp_store::StoreError::Invalid(errors)) => return Ok(refused(errors)),
                Err(e) => return Err(e.into()),
            };
            // The reserved units leave the sellable stock now (serve would do it in the
            // background).
            irp_pipeline::catalog::recompute(&store).await?;
            let lines = store.orders().lines(intake.order.id).await?;
            let sos = store.orders().supplier_orders_of(intake.order.id).await?;
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
            let list = store.orders().list(status.as_deref(), limit).await?;
            if json {
                print_views::<views::Order, _>(list)?;
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
            let lines = store.orders().lines(o.id).await?;
            let sos = store.orders().supplier_orders_of(o.id).await?;
            let mut attempts = Vec::new();
            let mut erp = Vec::new();
            for so in &sos {
                attempts.push(store.supplier_orders().attempts(so.id).await?);
                erp.push(store.erp().document(so.id).await?);
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
                for sh in store.shipments().of_supplier_order(so.id).await? {
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
            let list = store
                .supplier_orders()
                .list(status.as_deref(), limit)
                .await?;
            if json {
                print_views::<views::SupplierOrder, _>(list)?;
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
            Ok(if done.iter().any(|s| s.outcome.is_failure()) {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            })
        }
        OrdersCommand::Retry { supplier_order } | OrdersCommand::Cancel { supplier_order } => {
            let retry = matches!(cmd, OrdersCommand::Retry { .. });
            let result = if retry {
                store
                    .supplier_orders()
                    .retry(supplier_order, &actor())
                    .await
            } else {
                store
                    .supplier_orders()
                    .cancel(supplier_order, &actor())
                    .await
            };
            match result {
                Ok(so) => {
                    irp_pipeline::catalog::recompute(&store).await?;
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
