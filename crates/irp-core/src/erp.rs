//! The back office (seed 003: Odoo, "kept in sync via Alumio") as IRP records supplier orders
//! in it: the reference that makes a retry find the document it created, the product lookup
//! by EAN or internal reference, and the values of a purchase order (drop-ship: bought from
//! the refurbisher's `odoo_vendor_id` at the frozen purchase price) or a sales order (internal
//! fulfilment: taken from Odoo's own stock). Pure: the client is `irp_clients::odoo`. Facts
//! and sources: `contracts/EXTERNAL-APIS.md` §3.

use rust_decimal::{Decimal, RoundingStrategy};

use crate::orders::status::status_enum;

status_enum! {
    /// Where the Odoo document of a supplier order stands.
    ErpStatus, "ERP document" {
        /// Waiting for its (next) attempt.
        Pending => "pending",
        /// An attempt is under way (leased by one instance).
        Working => "working",
        /// Created (and confirmed) in Odoo.
        Done => "done",
        /// The attempts ran out, or Odoo refused it; an operator may retry.
        Failed => "failed",
        /// The refurbisher gets no Odoo document (`none`).
        Skipped => "skipped",
    }
}
use serde_json::{Value, json};

/// The reference IRP writes on the Odoo document of supplier order `id` (a purchase order's
/// `partner_ref`, a sales order's `client_order_ref`), and searches for before creating one:
/// the installation's `reference_prefix` and the id.
pub fn reference(prefix: &str, supplier_order_id: i64) -> String {
    format!("{prefix}{supplier_order_id}")
}

/// One line of a supplier order, as the ERP document needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErpLine {
    /// The EAN (Odoo's `barcode`).
    pub ean: Option<String>,
    /// The refurbisher's SKU (Odoo's `default_code`, the internal reference).
    pub sku: Option<String>,
    /// Units.
    pub quantity: i64,
    /// The purchase price excl. VAT frozen at intake, minor units.
    pub purchase_price_minor: Option<i64>,
    /// What the customer paid per unit incl. VAT, minor units.
    pub unit_price_incl_minor: i64,
    /// The VAT percentage of that price.
    pub tax_percentage: Option<Decimal>,
}

/// The `product.product` domains finding a line's product, in order: by barcode (the EAN),
/// then by internal reference (the SKU) — a refurbisher's SKU may be another product's
/// internal reference, so the barcode decides when it finds one.
pub fn product_domains(line: &ErpLine) -> Vec<Value> {
    let mut out = Vec::new();
    if let Some(e) = &line.ean {
        out.push(json!([["barcode", "=", e]]));
    }
    if let Some(s) = &line.sku {
        out.push(json!([["default_code", "=", s]]));
    }
    out
}

fn number(d: Decimal) -> Value {
    d.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
        .normalize()
        .to_string()
        .parse::<serde_json::Number>()
        .map_or(Value::Null, Value::Number)
}

/// A purchase order's values for `purchase.order` `create`: the vendor, our reference, the
/// origin (channel and order number) and a line per item at the purchase price.
pub fn purchase_order_vals(
    vendor_id: i64,
    reference: &str,
    origin: &str,
    lines: &[(i64, &ErpLine)],
) -> Value {
    let order_line: Vec<Value> = lines
        .iter()
        .map(|(product_id, l)| {
            let mut vals = json!({"product_id": product_id, "product_qty": l.quantity});
            // Without a frozen purchase price Odoo takes the vendor's pricelist price (never 0).
            if let Some(p) = l.purchase_price_minor {
                vals["price_unit"] = number(Decimal::new(p, 2));
            }
            json!([0, 0, vals])
        })
        .collect();
    json!({"partner_id": vendor_id, "partner_ref": reference, "origin": origin, "order_line": order_line})
}

/// A sales order's values for `sale.order` `create`: the customer, our reference, the origin
/// and a line per item at the price the customer paid, excl. VAT.
pub fn sales_order_vals(
    partner_id: i64,
    reference: &str,
    origin: &str,
    lines: &[(i64, &ErpLine)],
) -> Value {
    let order_line: Vec<Value> = lines
        .iter()
        .map(|(product_id, l)| {
            let incl = Decimal::new(l.unit_price_incl_minor, 2);
            // Without a rate: the Dutch standard rate the channels default to.
            let tax = l.tax_percentage.unwrap_or(Decimal::from(21));
            let excl = incl / (Decimal::ONE + tax / Decimal::ONE_HUNDRED);
            json!([0, 0, {
                "product_id": product_id,
                "product_uom_qty": l.quantity,
                "price_unit": number(excl),
            }])
        })
        .collect();
    json!({"partner_id": partner_id, "client_order_ref": reference, "origin": origin, "order_line": order_line})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line() -> ErpLine {
        ErpLine {
            ean: Some("8712345678906".into()),
            sku: Some("FLX-A".into()),
            quantity: 2,
            purchase_price_minor: Some(10_000),
            unit_price_incl_minor: 16_023,
            tax_percentage: Some(Decimal::from(21)),
        }
    }

    #[test]
    fn documents_carry_the_reference_and_a_line_per_item() {
        let l = line();
        assert_eq!(reference("IRP-SO-", 12), "IRP-SO-12");
        assert_eq!(
            purchase_order_vals(21469, "IRP-SO-12", "refurbished-direct/10042", &[(7, &l)]),
            json!({"partner_id": 21469, "partner_ref": "IRP-SO-12", "origin": "refurbished-direct/10042",
                "order_line": [[0, 0, {"product_id": 7, "product_qty": 2, "price_unit": 100}]]})
        );
        let so = sales_order_vals(3, "IRP-SO-13", "econocom/E-7", &[(7, &l)]);
        assert_eq!(so["order_line"][0][2]["price_unit"], json!(132.42));
        assert_eq!(so["client_order_ref"], "IRP-SO-13");
        assert_eq!(
            product_domains(&l),
            vec![
                json!([["barcode", "=", "8712345678906"]]),
                json!([["default_code", "=", "FLX-A"]])
            ]
        );
        let unpriced = ErpLine {
            purchase_price_minor: None,
            ..l.clone()
        };
        let po = purchase_order_vals(1, "r", "o", &[(7, &unpriced)]);
        assert!(po["order_line"][0][2].get("price_unit").is_none(), "{po}");
        assert!(
            product_domains(&ErpLine {
                ean: None,
                sku: None,
                ..l
            })
            .is_empty()
        );
    }
}
