//! Routing an order: which offer each line goes to, what is reserved, which supplier orders
//! come of it — decided over plain data, without a database.
//!
//! The store reads what a decision needs inside the intake transaction (each line's candidate
//! offer, read locked, with its stock and what is reserved of it), [`route`] decides, and the
//! store writes the [`RoutePlan`] in the same transaction. The pipeline
//! (`irp_pipeline::orders::take_in`) does the three steps.

use rust_decimal::Decimal;
use sha2::{Digest, Sha256};

use super::status::{LineStatus, OrderStatus, SupplierOrderStatus};
use super::{Line, LineTarget, OrderDocument};
use crate::money;

/// The channel an order came from, as routing needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteChannel {
    /// The channel's key.
    pub key: String,
    /// The channel's currency (ISO 4217).
    pub currency: String,
    /// The VAT rate of a line routed by SKU whose offer names none.
    pub default_tax_percentage: Decimal,
}

/// A refurbisher, as routing needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteRefurbisher {
    /// Its id.
    pub id: i64,
    /// Its key.
    pub key: String,
    /// Units of an offer kept back from sale.
    pub stock_threshold: i64,
    /// `true` when it has an order connector (its supplier orders are placed at its API);
    /// `false` for one fulfilled internally.
    pub integrated: bool,
}

/// An offer a line may be routed to, as read for intake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// The offer's id.
    pub id: i64,
    /// Its refurbisher's id.
    pub refurbisher_id: i64,
    /// The refurbisher's SKU.
    pub sku: String,
    /// The offer's EAN.
    pub ean: Option<String>,
    /// The offer's name.
    pub name: String,
    /// In the refurbisher's latest feed.
    pub active: bool,
    /// The purchase price in use (the last applied one while a change is held).
    pub purchase_minor: i64,
    /// The purchase price's currency.
    pub currency: String,
    /// The offer's VAT rate, when its feed gives one.
    pub tax_percentage: Option<String>,
    /// Units in stock per the feed.
    pub stock_available: i64,
    /// Units reserved by orders taken in before this one.
    pub reserved: i64,
}

/// What the store found for one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// A line by EAN: the channel's best offer of that EAN, when the channel has a sellable
    /// one, and the channel row's VAT rate.
    Ean {
        /// The best offer (`None`: the channel has no active row with an offer).
        offer: Option<Candidate>,
        /// The channel row's VAT rate.
        tax_percentage: Option<String>,
    },
    /// A line by refurbisher and SKU: that offer, when the refurbisher has it.
    Offer(Option<Candidate>),
    /// Nothing was looked up (the line cannot be routed whatever is stored).
    Nothing,
}

/// One line as routed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutedLine {
    /// 1-based position in the order.
    pub line_number: i64,
    /// The EAN (the offer's, else the one asked for).
    pub ean: Option<String>,
    /// The refurbisher's SKU.
    pub sku: Option<String>,
    /// The offer's name.
    pub name: Option<String>,
    /// The offer it was routed to (`None`: the line needs attention).
    pub offer_id: Option<i64>,
    /// The refurbisher of that offer.
    pub refurbisher_id: Option<i64>,
    /// Units.
    pub quantity: i64,
    /// The price the customer paid per unit incl. VAT, in minor units of the channel's currency
    /// (0 when it does not fit).
    pub unit_price_incl_minor: i64,
    /// The purchase price frozen for the line.
    pub purchase_minor: Option<i64>,
    /// The purchase price's currency.
    pub purchase_currency: Option<String>,
    /// The VAT rate of the line.
    pub tax_percentage: Option<String>,
    /// Routed, or needs attention.
    pub status: LineStatus,
    /// Why it needs attention.
    pub reason: Option<String>,
    /// Units reserved of the offer for this line.
    pub reserved: i64,
}

/// One supplier order to create: the part of the order one refurbisher fulfils.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedSupplierOrder {
    /// The refurbisher.
    pub refurbisher_id: i64,
    /// `pending` (to be placed at its API) or `internal`.
    pub status: SupplierOrderStatus,
    /// The same for every attempt, different for every supplier order.
    pub idempotency_key: String,
}

/// What [`route`] decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutePlan {
    /// The lines, in the order's order.
    pub lines: Vec<RoutedLine>,
    /// One per refurbisher, in the order of their first line.
    pub supplier_orders: Vec<PlannedSupplierOrder>,
    /// `routed`, or `needs_attention` when a line could not be routed.
    pub status: OrderStatus,
}

impl RoutePlan {
    /// Lines that need attention.
    #[must_use]
    pub fn needs_attention(&self) -> usize {
        self.lines
            .iter()
            .filter(|l| l.status == LineStatus::NeedsAttention)
            .count()
    }

    /// `(offer id, units)` to reserve.
    pub fn reservations(&self) -> impl Iterator<Item = (i64, i64)> + '_ {
        self.lines
            .iter()
            .filter_map(|l| l.offer_id.map(|id| (id, l.reserved)))
    }

    /// The EANs whose sellable stock the reservations change.
    #[must_use]
    pub fn reserved_eans(&self) -> Vec<String> {
        self.lines
            .iter()
            .filter(|l| l.offer_id.is_some())
            .filter_map(|l| l.ean.clone())
            .collect()
    }
}

/// The idempotency key of the supplier order of `refurbisher_id` in an order: the same for
/// every attempt, different for every supplier order.
#[must_use]
pub fn idempotency_key(channel: &str, order_number: &str, refurbisher_id: i64) -> String {
    let mut h = Sha256::new();
    h.update(channel.as_bytes());
    h.update([0]);
    h.update(order_number.as_bytes());
    h.update([0]);
    h.update(refurbisher_id.to_string().as_bytes());
    let digest = h.finalize();
    let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!("irp-{hex}")
}

/// The purchase price pricing and orders use — the last applied one while a change is held
/// (`applied_minor`), else the feed's — and, while a change is held, the feed's new one.
#[must_use]
pub fn purchase_in_use(feed_minor: i64, applied_minor: Option<i64>) -> (i64, Option<i64>) {
    (
        applied_minor.unwrap_or(feed_minor),
        applied_minor.map(|_| feed_minor),
    )
}

/// Route an order: `found[i]` is what the store found for `doc.lines[i]`.
///
/// A line goes to its candidate when the candidate is active and sellable now: its stock, less
/// what earlier orders reserved, less what earlier lines of this order reserved of the same
/// offer, less its refurbisher's stock threshold, covers the quantity. Otherwise the line needs
/// attention with a reason an operator can act on. Every refurbisher with a routed line gets
/// one supplier order, `pending` when it has an order connector, else `internal`.
#[must_use]
pub fn route(
    doc: &OrderDocument,
    channel: &RouteChannel,
    refurbishers: &[RouteRefurbisher],
    found: &[Found],
) -> RoutePlan {
    let digits = money::minor_digits(&channel.currency);
    let refurbisher = |id: i64| refurbishers.iter().find(|r| r.id == id);
    let mut taken: Vec<(i64, i64)> = Vec::new(); // (offer id, units) reserved by earlier lines
    let mut lines = Vec::with_capacity(doc.lines.len());
    for (i, line) in doc.lines.iter().enumerate() {
        let found = found.get(i).unwrap_or(&Found::Nothing);
        let routed = route_line(
            i as i64 + 1,
            line,
            found,
            channel,
            digits,
            &refurbisher,
            &taken,
        );
        if let Some(id) = routed.offer_id {
            taken.push((id, routed.reserved));
        }
        lines.push(routed);
    }
    let mut supplier_orders: Vec<PlannedSupplierOrder> = Vec::new();
    for l in &lines {
        let Some(rid) = l.refurbisher_id.filter(|_| l.offer_id.is_some()) else {
            continue;
        };
        if supplier_orders.iter().any(|s| s.refurbisher_id == rid) {
            continue;
        }
        let integrated = refurbisher(rid).is_some_and(|r| r.integrated);
        supplier_orders.push(PlannedSupplierOrder {
            refurbisher_id: rid,
            status: if integrated {
                SupplierOrderStatus::Pending
            } else {
                SupplierOrderStatus::Internal
            },
            idempotency_key: idempotency_key(&doc.channel, &doc.order_number, rid),
        });
    }
    let status = if lines.iter().any(|l| l.status == LineStatus::NeedsAttention) {
        OrderStatus::NeedsAttention
    } else {
        OrderStatus::Routed
    };
    RoutePlan {
        lines,
        supplier_orders,
        status,
    }
}

fn route_line<'r>(
    line_number: i64,
    line: &Line,
    found: &Found,
    channel: &RouteChannel,
    digits: u32,
    refurbisher: &impl Fn(i64) -> Option<&'r RouteRefurbisher>,
    taken: &[(i64, i64)],
) -> RoutedLine {
    let unit_price = money::to_minor(line.unit_price_incl_vat, digits);
    let mut r = RoutedLine {
        line_number,
        ean: None,
        sku: None,
        name: None,
        offer_id: None,
        refurbisher_id: None,
        quantity: line.quantity,
        unit_price_incl_minor: unit_price.unwrap_or(0),
        purchase_minor: None,
        purchase_currency: None,
        tax_percentage: None,
        status: LineStatus::NeedsAttention,
        reason: None,
        reserved: 0,
    };
    let mut offer: Option<&Candidate> = None;
    match (&line.target, found) {
        _ if unit_price.is_none() => {
            r.reason = Some("the unit price does not fit".into());
        }
        (LineTarget::Ean { ean }, found) => {
            r.ean = Some(ean.clone());
            match found {
                Found::Ean {
                    offer: Some(o),
                    tax_percentage,
                } => {
                    offer = Some(o);
                    r.tax_percentage.clone_from(tax_percentage);
                }
                _ => {
                    r.reason = Some(format!(
                        "no sellable offer for EAN {ean} in channel `{}`",
                        channel.key
                    ));
                }
            }
        }
        (LineTarget::Offer { refurbisher, sku }, found) => {
            r.sku = Some(sku.clone());
            match found {
                Found::Offer(Some(o)) if o.active => {
                    r.tax_percentage = o
                        .tax_percentage
                        .clone()
                        .or_else(|| Some(channel.default_tax_percentage.normalize().to_string()));
                    offer = Some(o);
                }
                Found::Offer(Some(_)) => {
                    r.reason = Some(format!(
                        "{refurbisher}'s offer {sku} is no longer in its feed"
                    ));
                }
                Found::Offer(None) => {
                    r.reason = Some(format!("{refurbisher} has no offer {sku}"));
                }
                _ => {
                    r.reason = Some(format!("no refurbisher `{refurbisher}`"));
                }
            }
        }
    }
    // Sellable now, counting what earlier orders and lines reserved (the channel row may be a
    // moment behind the offer).
    if let Some(o) = offer {
        let seller = refurbisher(o.refurbisher_id);
        let threshold = seller.map_or(0, |x| x.stock_threshold);
        let earlier: i64 = taken
            .iter()
            .filter(|(id, _)| *id == o.id)
            .map(|(_, n)| n)
            .sum();
        let sellable = (o.stock_available - o.reserved - earlier - threshold).max(0);
        if sellable < line.quantity {
            r.reason = Some(format!(
                "only {sellable} sellable at {} (SKU {}), {} ordered",
                seller.map_or("the refurbisher", |x| x.key.as_str()),
                o.sku,
                line.quantity
            ));
            r.sku = Some(o.sku.clone());
            offer = None;
        }
    }
    match offer {
        Some(o) => {
            r.ean = o.ean.clone().or(r.ean.take());
            r.sku = Some(o.sku.clone());
            r.name = Some(o.name.clone());
            r.offer_id = Some(o.id);
            r.refurbisher_id = Some(o.refurbisher_id);
            r.purchase_minor = Some(o.purchase_minor);
            r.purchase_currency = Some(o.currency.clone());
            r.status = LineStatus::Routed;
            r.reserved = line.quantity;
        }
        None if r.reason.is_none() => {
            r.reason = Some("the offer it was routed to is gone".into());
        }
        None => {}
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::orders::Address;
    use proptest::prelude::*;

    fn doc(lines: Vec<Line>) -> OrderDocument {
        OrderDocument {
            channel: "refurbished-direct".into(),
            order_number: "RD-1".into(),
            placed_at: chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default(),
            email: "a@example.com".into(),
            shipping_address: Address {
                first_name: "Jan".into(),
                last_name: "de Vries".into(),
                company: String::new(),
                street: "Damrak".into(),
                house_number: "1".into(),
                house_number_addition: String::new(),
                zipcode: "1012 LG".into(),
                city: "Amsterdam".into(),
                country: "NL".into(),
                phone: String::new(),
            },
            billing_address: None,
            lines,
        }
    }

    fn channel() -> RouteChannel {
        RouteChannel {
            key: "refurbished-direct".into(),
            currency: "EUR".into(),
            default_tax_percentage: Decimal::new(21, 0),
        }
    }

    fn sellers() -> Vec<RouteRefurbisher> {
        vec![
            RouteRefurbisher {
                id: 1,
                key: "flexit".into(),
                stock_threshold: 1,
                integrated: true,
            },
            RouteRefurbisher {
                id: 2,
                key: "iused".into(),
                stock_threshold: 0,
                integrated: false,
            },
        ]
    }

    fn offer(id: i64, refurbisher_id: i64, stock: i64) -> Candidate {
        Candidate {
            id,
            refurbisher_id,
            sku: format!("SKU-{id}"),
            ean: Some("8712345678906".into()),
            name: format!("Phone {id}"),
            active: true,
            purchase_minor: 10_000,
            currency: "EUR".into(),
            tax_percentage: None,
            stock_available: stock,
            reserved: 0,
        }
    }

    fn by_ean(quantity: i64) -> Line {
        Line {
            target: LineTarget::Ean {
                ean: "8712345678906".into(),
            },
            quantity,
            unit_price_incl_vat: Decimal::new(65431, 2),
        }
    }

    fn by_sku(refurbisher: &str, sku: &str, quantity: i64) -> Line {
        Line {
            target: LineTarget::Offer {
                refurbisher: refurbisher.into(),
                sku: sku.into(),
            },
            quantity,
            unit_price_incl_vat: Decimal::new(10_000, 2),
        }
    }

    #[test]
    fn a_sellable_line_is_routed_reserved_and_priced() {
        let found = [Found::Ean {
            offer: Some(offer(7, 1, 5)),
            tax_percentage: Some("21".into()),
        }];
        let plan = route(&doc(vec![by_ean(2)]), &channel(), &sellers(), &found);
        assert_eq!(plan.status, OrderStatus::Routed);
        let l = &plan.lines[0];
        assert_eq!(
            (
                l.offer_id,
                l.reserved,
                l.unit_price_incl_minor,
                l.purchase_minor
            ),
            (Some(7), 2, 65_431, Some(10_000))
        );
        assert_eq!(l.status, LineStatus::Routed);
        assert_eq!(l.tax_percentage.as_deref(), Some("21"));
        assert_eq!(plan.supplier_orders.len(), 1);
        assert_eq!(plan.supplier_orders[0].status, SupplierOrderStatus::Pending);
        assert_eq!(plan.reserved_eans(), vec!["8712345678906".to_owned()]);
    }

    #[test]
    fn the_threshold_and_earlier_lines_count_against_stock() {
        // 5 in stock, threshold 1: 4 sellable; the first line takes 3, the second wants 2.
        let o = offer(7, 1, 5);
        let found = [
            Found::Ean {
                offer: Some(o.clone()),
                tax_percentage: None,
            },
            Found::Ean {
                offer: Some(o),
                tax_percentage: None,
            },
        ];
        let plan = route(
            &doc(vec![by_ean(3), by_ean(2)]),
            &channel(),
            &sellers(),
            &found,
        );
        assert_eq!(plan.lines[0].status, LineStatus::Routed);
        assert_eq!(plan.lines[1].status, LineStatus::NeedsAttention);
        assert_eq!(
            plan.lines[1].reason.as_deref(),
            Some("only 1 sellable at flexit (SKU SKU-7), 2 ordered")
        );
        assert_eq!(plan.status, OrderStatus::NeedsAttention);
        assert_eq!(plan.needs_attention(), 1);
    }

    #[test]
    fn every_unroutable_line_says_why() {
        let mut inactive = offer(9, 2, 3);
        inactive.active = false;
        let lines = vec![
            by_ean(1),
            by_sku("iused", "SKU-9", 1),
            by_sku("iused", "NOPE", 1),
            by_sku("ghost", "X", 1),
        ];
        let found = [
            Found::Ean {
                offer: None,
                tax_percentage: None,
            },
            Found::Offer(Some(inactive)),
            Found::Offer(None),
            Found::Nothing,
        ];
        let plan = route(&doc(lines), &channel(), &sellers(), &found);
        let reasons: Vec<_> = plan
            .lines
            .iter()
            .map(|l| l.reason.clone().unwrap_or_default())
            .collect();
        assert_eq!(
            reasons,
            [
                "no sellable offer for EAN 8712345678906 in channel `refurbished-direct`",
                "iused's offer SKU-9 is no longer in its feed",
                "iused has no offer NOPE",
                "no refurbisher `ghost`",
            ]
        );
        assert!(plan.supplier_orders.is_empty());
        assert_eq!(plan.reservations().count(), 0);
    }

    #[test]
    fn a_price_that_does_not_fit_needs_attention() {
        let mut line = by_ean(1);
        line.unit_price_incl_vat = Decimal::MAX;
        let found = [Found::Ean {
            offer: Some(offer(7, 1, 5)),
            tax_percentage: None,
        }];
        let plan = route(&doc(vec![line]), &channel(), &sellers(), &found);
        assert_eq!(
            plan.lines[0].reason.as_deref(),
            Some("the unit price does not fit")
        );
        assert_eq!(plan.lines[0].unit_price_incl_minor, 0);
    }

    #[test]
    fn one_supplier_order_per_refurbisher_internal_without_connector() {
        let found = [
            Found::Offer(Some(offer(9, 2, 3))),
            Found::Ean {
                offer: Some(offer(7, 1, 5)),
                tax_percentage: None,
            },
            Found::Offer(Some(offer(10, 2, 3))),
        ];
        let lines = vec![
            by_sku("iused", "SKU-9", 1),
            by_ean(1),
            by_sku("iused", "SKU-10", 1),
        ];
        let plan = route(&doc(lines), &channel(), &sellers(), &found);
        let planned: Vec<_> = plan
            .supplier_orders
            .iter()
            .map(|s| (s.refurbisher_id, s.status))
            .collect();
        assert_eq!(
            planned,
            [
                (2, SupplierOrderStatus::Internal),
                (1, SupplierOrderStatus::Pending)
            ]
        );
        // A line by SKU whose offer names no VAT gets the channel's default.
        assert_eq!(plan.lines[0].tax_percentage.as_deref(), Some("21"));
    }

    #[test]
    fn idempotency_keys_differ_per_supplier_order_and_repeat_per_order() {
        let a = idempotency_key("rd", "1", 1);
        assert_eq!(a, idempotency_key("rd", "1", 1));
        assert_ne!(a, idempotency_key("rd", "1", 2));
        assert_ne!(a, idempotency_key("rd", "11", 1));
        assert_ne!(
            idempotency_key("rd1", "1", 1),
            idempotency_key("rd", "11", 1)
        );
        assert!(a.starts_with("irp-") && a.len() == 36);
    }

    proptest! {
        /// Whatever the lines ask, no offer is reserved beyond what it can sell, and every line
        /// is either routed with its units reserved or needs attention with a reason.
        #[test]
        fn never_oversold(
            stock in 0i64..20,
            reserved in 0i64..20,
            quantities in proptest::collection::vec(1i64..8, 1..8),
        ) {
            let mut o = offer(7, 1, stock);
            o.reserved = reserved;
            let lines: Vec<Line> = quantities.iter().map(|q| by_ean(*q)).collect();
            let found: Vec<Found> = lines
                .iter()
                .map(|_| Found::Ean { offer: Some(o.clone()), tax_percentage: None })
                .collect();
            let plan = route(&doc(lines), &channel(), &sellers(), &found);
            let total: i64 = plan.reservations().map(|(_, n)| n).sum();
            prop_assert!(total <= (stock - reserved - 1).max(0));
            for l in &plan.lines {
                match l.status {
                    LineStatus::Routed => prop_assert!(l.reserved == l.quantity && l.reason.is_none()),
                    LineStatus::NeedsAttention => prop_assert!(l.reserved == 0 && l.reason.is_some()),
                }
            }
            prop_assert_eq!(plan.supplier_orders.len(), usize::from(total > 0));
        }
    }
}
