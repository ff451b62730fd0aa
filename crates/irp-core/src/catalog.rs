//! The catalog (pure, no I/O): the offers of one product (EAN), each priced for the catalog or
//! for a channel, and which of them wins.
//!
//! A recompute step ([`step::decide`]) calls [`evaluate`] once for the catalog overview and once
//! per channel for every marked product, and keeps what changed; the store reads and writes
//! around it. The same function explains a product in `irp products show`, so what is shown is
//! what was computed.
//!
//! In a channel, an offer is priced with the channel's `margin_adjustment` added to its margin
//! (never below 0) and, when its feed states no VAT, the channel's `default_tax_percentage`;
//! offers of refurbishers the channel does not list, or in another currency, do not compete.

pub mod step;

use std::collections::HashMap;

use rust_decimal::Decimal;

use crate::config::model::{Channel, Refurbisher};
use crate::money;
use crate::pricing::{
    self, Breakdown, Candidate, MarginRule, OfferKeys, PriceInput, Rounding, Sourced, Verdict,
};

/// What pricing needs to know about one stored offer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfferFacts {
    /// The offer's id.
    pub offer_id: i64,
    /// Its refurbisher.
    pub refurbisher_id: i64,
    /// The refurbisher's SKU.
    pub sku: String,
    /// The EAN.
    pub ean: String,
    /// The feed's name.
    pub name: String,
    /// Whether the latest feed has it.
    pub active: bool,
    /// Stock the feed reports.
    pub stock_available: i64,
    /// The purchase price pricing uses, minor units: the feed's, or the last applied one while
    /// a change is held.
    pub purchase_minor: i64,
    /// The feed's purchase price when it differs from `purchase_minor` (a held change).
    pub held_purchase_minor: Option<i64>,
    /// The feed's consumer price excl. VAT, minor units.
    pub consumer_minor: Option<i64>,
    /// ISO 4217 currency.
    pub currency: String,
    /// VAT percentage from the feed.
    pub tax_percentage: Option<Decimal>,
    /// Brand (PIM, else the feed's `brand` attribute), for margin rules.
    pub brand: Option<String>,
    /// Category (PIM, else the feed's `category` attribute), for margin rules.
    pub category: Option<String>,
}

/// A refurbisher as pricing sees it, prepared once per recompute.
#[derive(Debug, Clone)]
pub struct Seller {
    /// Its settings.
    pub model: Refurbisher,
    /// Whether it is approved and enabled.
    pub may_sell: bool,
    rules: Vec<MarginRule>,
    rounding: Rounding,
}

impl Seller {
    /// Prepare `model` (its margin rules and rounding) for pricing.
    pub fn new(model: Refurbisher, may_sell: bool) -> Seller {
        let rules = model.margin_rules.iter().map(|m| m.to_rule()).collect();
        let rounding = Rounding::from_name(&model.price_rounding).unwrap_or_default();
        Seller {
            model,
            may_sell,
            rules,
            rounding,
        }
    }
}

/// Where prices are computed for: the catalog overview (refurbisher defaults, in the catalog
/// currency) or one channel.
#[derive(Debug, Clone, Copy)]
pub enum Scope<'a> {
    /// The catalog overview, comparing offers in this currency.
    Catalog(&'a str),
    /// A channel.
    Channel(&'a Channel),
}

impl Scope<'_> {
    fn currency(&self) -> &str {
        match self {
            Scope::Catalog(c) => c,
            Scope::Channel(ch) => &ch.currency,
        }
    }
}

/// One offer of a product, priced and judged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ranked {
    /// Selling price incl. VAT, minor units (0 when the refurbisher is unknown).
    pub price_incl_minor: i64,
    /// Selling price excl. VAT, minor units (half-up).
    pub price_excl_minor: i64,
    /// The VAT percentage used.
    pub vat: Decimal,
    /// Sellable stock.
    pub sellable: i64,
    /// Why it wins or not.
    pub verdict: Verdict,
    /// The feed's consumer price excl. VAT is below the computed selling price excl. VAT.
    pub consumer_below: bool,
}

/// The outcome for one product in one scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evaluation {
    /// Index of the best offer.
    pub best: Option<usize>,
    /// Every offer, in the order given.
    pub offers: Vec<Ranked>,
}

fn keys(o: &OfferFacts) -> OfferKeys<'_> {
    OfferKeys {
        ean: &o.ean,
        sku: &o.sku,
        brand: o.brand.as_deref(),
        category: o.category.as_deref(),
    }
}

fn channel_margin(base: Decimal, channel: &Channel) -> Decimal {
    (base + channel.margin_adjustment).max(Decimal::ZERO)
}

/// The price input of `offer` from `seller` in `scope`, each value with its source.
pub fn price_input(seller: &Seller, offer: &OfferFacts, scope: Scope<'_>) -> PriceInput {
    let digits = money::minor_digits(&offer.currency);
    let purchase = money::from_minor(offer.purchase_minor, digits);
    let mut input =
        pricing::offer_price_input(&seller.model, purchase, offer.tax_percentage, keys(offer));
    input.minor_digits = digits;
    if let Some(new) = offer.held_purchase_minor {
        input.purchase.source = format!(
            "last applied purchase price; the feed's {} is held for review",
            money::from_minor(new, digits)
        );
    }
    if let Scope::Channel(ch) = scope {
        if !ch.margin_adjustment.is_zero() {
            let adjusted = channel_margin(input.margin.value, ch);
            input.margin = Sourced::new(
                adjusted,
                format!(
                    "{} {:+} (channel {}: margin_adjustment){}",
                    input.margin.source,
                    ch.margin_adjustment.normalize(),
                    ch.key,
                    if adjusted.is_zero() {
                        ", not below 0"
                    } else {
                        ""
                    }
                ),
            );
        }
        if offer.tax_percentage.is_none() {
            input.vat = Sourced::new(
                ch.default_tax_percentage,
                format!("channel {}: default_tax_percentage", ch.key),
            );
        }
    }
    input
}

/// The full explanation of `offer`'s price in `scope`.
pub fn explain(seller: &Seller, offer: &OfferFacts, scope: Scope<'_>) -> Breakdown {
    pricing::price(&price_input(seller, offer, scope))
}

/// Price every offer of one product in `scope` and pick the best one (see
/// [`pricing::best_offer`]). `sellers` holds every refurbisher by refurbisher id; an offer of an
/// unknown one cannot be sold.
pub fn evaluate(
    offers: &[OfferFacts],
    sellers: &HashMap<i64, Seller>,
    scope: Scope<'_>,
) -> Evaluation {
    let mut ranked = Vec::with_capacity(offers.len());
    let mut candidates = Vec::with_capacity(offers.len());
    for o in offers {
        let seller = sellers.get(&o.refurbisher_id);
        let (incl, excl, vat, sellable) = match seller {
            Some(s) => {
                let digits = money::minor_digits(&o.currency);
                let rule = pricing::margin_rule(&s.rules, keys(o));
                let mut margin = rule.map_or(s.model.default_margin, |r| r.margin);
                let mut vat = o.tax_percentage.unwrap_or(s.model.default_tax_percentage);
                if let Scope::Channel(ch) = scope {
                    margin = channel_margin(margin, ch);
                    vat = o.tax_percentage.unwrap_or(ch.default_tax_percentage);
                }
                let (_, excl, _, incl) = pricing::amounts(
                    money::from_minor(o.purchase_minor, digits),
                    s.model.home_copy_tax,
                    s.model.shipping_costs,
                    margin,
                    vat,
                    s.rounding,
                    digits,
                );
                let minor = |d: Decimal| {
                    money::to_minor(
                        d.round_dp_with_strategy(
                            digits,
                            rust_decimal::RoundingStrategy::MidpointAwayFromZero,
                        ),
                        digits,
                    )
                    .unwrap_or(i64::MAX)
                };
                (
                    minor(incl),
                    minor(excl),
                    vat,
                    pricing::sellable(o.stock_available, s.model.stock_threshold),
                )
            }
            None => (0, 0, Decimal::ZERO, 0),
        };
        let excluded = if !o.active {
            Some(Verdict::Inactive)
        } else if !seller.is_some_and(|s| s.may_sell) {
            Some(Verdict::RefurbisherMayNotSell)
        } else if let Scope::Channel(ch) = scope
            && let Some(allowed) = &ch.refurbishers
            && !seller.is_some_and(|s| allowed.contains(&s.model.key))
        {
            Some(Verdict::NotInChannel)
        } else if o.currency != scope.currency() {
            Some(Verdict::OtherCurrency)
        } else {
            None
        };
        candidates.push(Candidate {
            offer_id: o.offer_id,
            refurbisher_id: o.refurbisher_id,
            sellable,
            price_incl_minor: incl,
            excluded,
        });
        ranked.push(Ranked {
            price_incl_minor: incl,
            price_excl_minor: excl,
            vat,
            sellable,
            verdict: Verdict::Outranked,
            consumer_below: o.consumer_minor.is_some_and(|c| c < excl),
        });
    }
    let (best, verdicts) = pricing::best_offer(&candidates);
    for (r, v) in ranked.iter_mut().zip(verdicts) {
        r.verdict = v;
    }
    Evaluation {
        best,
        offers: ranked,
    }
}

/// Why offer `i` of `e` has its verdict, in words; for an outranked offer, what the winner has
/// over it (`name` names an offer for the reader, e.g. `flexit FLX-1`).
pub fn reason(
    offers: &[OfferFacts],
    e: &Evaluation,
    i: usize,
    name: impl Fn(&OfferFacts) -> String,
) -> String {
    let r = &e.offers[i];
    match (r.verdict, e.best) {
        (Verdict::Outranked, Some(b)) => {
            let (w, wr) = (&offers[b], &e.offers[b]);
            let digits = money::minor_digits(&w.currency);
            let p = |m: i64| money::from_minor(m, digits);
            if wr.price_incl_minor < r.price_incl_minor {
                format!(
                    "outranked: {} is cheaper ({} vs {})",
                    name(w),
                    p(wr.price_incl_minor),
                    p(r.price_incl_minor)
                )
            } else if wr.sellable > r.sellable {
                format!(
                    "outranked: {} is as cheap with more sellable stock ({} vs {})",
                    name(w),
                    wr.sellable,
                    r.sellable
                )
            } else if w.refurbisher_id < offers[i].refurbisher_id {
                format!(
                    "outranked: {} is as cheap and as stocked, from a lower refurbisher id ({} vs {})",
                    name(w),
                    w.refurbisher_id,
                    offers[i].refurbisher_id
                )
            } else {
                format!(
                    "outranked: {} ties on everything and has the lower offer id",
                    name(w)
                )
            }
        }
        (v, _) => v.explain().to_owned(),
    }
}

#[cfg(test)]
// Amounts in cents read best as euros_cents: 160_23 is €160.23.
#[allow(clippy::inconsistent_digit_grouping)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    fn refurbisher(key: &str, margin: &str, shipping: &str, hct: &str, threshold: i64) -> Seller {
        let doc = format!(
            r#"{{"{key}": {{"default_margin": "{margin}", "shipping_costs": "{shipping}", "home_copy_tax": "{hct}",
                "stock_threshold": {threshold}, "approved_refurbished": true}}}}"#
        );
        let parsed = crate::config::parse_document(&doc);
        assert!(parsed.is_ok(), "{:?}", parsed.diagnostics);
        Seller::new(parsed.refurbishers[0].clone(), true)
    }

    fn offer(id: i64, refurbisher_id: i64, purchase: i64, stock: i64) -> OfferFacts {
        OfferFacts {
            offer_id: id,
            refurbisher_id,
            sku: format!("SKU-{id}"),
            ean: "8712345678906".into(),
            name: "Phone".into(),
            active: true,
            stock_available: stock,
            purchase_minor: purchase,
            held_purchase_minor: None,
            consumer_minor: None,
            currency: "EUR".into(),
            tax_percentage: None,
            brand: None,
            category: None,
        }
    }

    fn sellers() -> HashMap<i64, Seller> {
        HashMap::from([
            (15, refurbisher("flexit", "17", "10.00", "3.18", 1)),
            (12, refurbisher("iused-stores", "99", "0", "4.38", 0)),
        ])
    }

    #[test]
    fn the_seed_refurbishers_compete_on_price_incl_vat() {
        // FlexIT €100 → 160.23, iUsed €100 → 251.34 (the worked examples of pricing.rs).
        let offers = [offer(1, 15, 100_00, 2), offer(2, 12, 100_00, 5)];
        let e = evaluate(&offers, &sellers(), Scope::Catalog("EUR"));
        assert_eq!(e.best, Some(0));
        assert_eq!(e.offers[0].price_incl_minor, 160_23);
        assert_eq!(e.offers[1].price_incl_minor, 251_34);
        assert_eq!(e.offers[0].sellable, 1, "FlexIT holds one back");
        assert_eq!(e.offers[1].verdict, Verdict::Outranked);
        assert_eq!(
            reason(&offers, &e, 1, |o| o.sku.clone()),
            "outranked: SKU-1 is cheaper (160.23 vs 251.34)"
        );
        // FlexIT's only unit above its threshold is gone: iUsed wins.
        let offers = [offer(1, 15, 100_00, 1), offer(2, 12, 100_00, 5)];
        let e = evaluate(&offers, &sellers(), Scope::Catalog("EUR"));
        assert_eq!(e.best, Some(1));
        assert_eq!(e.offers[0].verdict, Verdict::NoSellableStock);
    }

    #[test]
    fn the_quick_arithmetic_matches_the_explained_one() {
        let s = sellers();
        let mut o = offer(1, 15, 123_45, 3);
        o.tax_percentage = Some(d("9"));
        let channel = Channel {
            key: "econocom".into(),
            name: "Econocom".into(),
            currency: "EUR".into(),
            default_tax_percentage: d("21"),
            refurbishers: None,
            margin_adjustment: d("-20"),
            shopware: None,
        };
        for scope in [Scope::Catalog("EUR"), Scope::Channel(&channel)] {
            let e = evaluate(std::slice::from_ref(&o), &s, scope);
            let b = explain(&s[&15], &o, scope);
            assert_eq!(
                Decimal::new(e.offers[0].price_incl_minor, 2),
                b.incl_vat,
                "{scope:?}"
            );
        }
        let b = explain(&s[&15], &o, Scope::Channel(&channel));
        assert_eq!(
            b.inputs[3].1.value,
            Decimal::ZERO,
            "17 - 20 is floored at 0"
        );
        assert!(b.inputs[3].1.source.contains("not below 0"), "{b:?}");
        assert_eq!(b.inputs[4].1.source, "feed: tax_percentage");
    }

    #[test]
    fn channels_sell_only_their_refurbishers_in_their_currency() {
        let channel = Channel {
            key: "econocom".into(),
            name: "Econocom".into(),
            currency: "EUR".into(),
            default_tax_percentage: d("21"),
            refurbishers: Some(vec!["iused-stores".into()]),
            margin_adjustment: d("2"),
            shopware: None,
        };
        let mut gbp = offer(3, 12, 10_00, 9);
        gbp.currency = "GBP".into();
        let offers = [offer(1, 15, 100_00, 2), offer(2, 12, 100_00, 5), gbp];
        let e = evaluate(&offers, &sellers(), Scope::Channel(&channel));
        assert_eq!(e.best, Some(1));
        assert_eq!(e.offers[0].verdict, Verdict::NotInChannel);
        assert_eq!(e.offers[2].verdict, Verdict::OtherCurrency);
        // iUsed at 99 % + 2 points: (100 + 4.38) × 2.01 × 1.21 = 253.86.
        assert_eq!(e.offers[1].price_incl_minor, 253_86);
    }

    #[test]
    fn a_consumer_price_below_the_selling_price_is_reported() {
        let mut o = offer(1, 15, 100_00, 2);
        o.consumer_minor = Some(130_00);
        let e = evaluate(std::slice::from_ref(&o), &sellers(), Scope::Catalog("EUR"));
        // 113.18 × 1.17 = 132.42 excl. VAT.
        assert_eq!(e.offers[0].price_excl_minor, 132_42);
        assert!(e.offers[0].consumer_below);
        o.consumer_minor = Some(140_00);
        let e = evaluate(std::slice::from_ref(&o), &sellers(), Scope::Catalog("EUR"));
        assert!(!e.offers[0].consumer_below);
    }

    #[test]
    fn unknown_or_unapproved_refurbishers_do_not_sell() {
        let mut s = sellers();
        s.get_mut(&12).unwrap().may_sell = false;
        let offers = [offer(1, 99, 1_00, 5), offer(2, 12, 1_00, 5)];
        let e = evaluate(&offers, &s, Scope::Catalog("EUR"));
        assert_eq!(e.best, None);
        assert_eq!(e.offers[0].verdict, Verdict::RefurbisherMayNotSell);
        assert_eq!(e.offers[1].verdict, Verdict::RefurbisherMayNotSell);
    }
}
