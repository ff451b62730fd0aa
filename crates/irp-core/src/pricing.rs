//! Selling prices and stock from offers (pure, no I/O):
//!
//! - cost = purchase price + home copy tax + shipping costs (all excl. VAT, per unit);
//! - excl. VAT = cost × (1 + margin/100) — the margin is a markup on cost, in percent;
//! - incl. VAT = excl. VAT × (1 + VAT/100), rounded half-up to the currency's minor unit, then
//!   raised to the rounding rule's next price point (`.99`, `.95`, whole units);
//! - sellable stock = max(0, stock available − stock threshold).
//!
//! Every price carries its [`Breakdown`]: each step, the value it used, and where that value
//! came from, so that an operator can see why a product costs what it costs. Margins and
//! rounding never lower a price: with a margin ≥ 0 and VAT ≥ 0 the price incl. VAT is never
//! below cost.

pub mod guard;

use rust_decimal::{Decimal, RoundingStrategy};

/// How a price incl. VAT is rounded after the cents: always up, to the next price point at or
/// above it, so that rounding never sells below the computed price.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Rounding {
    /// The cents as computed.
    #[default]
    None,
    /// The next price ending in .99 (10.20 → 10.99, 10.99 → 10.99).
    Up99,
    /// The next price ending in .95 (10.20 → 10.95, 10.96 → 11.95).
    Up95,
    /// The next whole unit (10.20 → 11.00, 10.00 → 10.00).
    Whole,
}

impl Rounding {
    /// The rule called `name`: `none`, `.99`, `.95`, `whole`.
    pub fn from_name(name: &str) -> Option<Rounding> {
        match name {
            "none" => Some(Rounding::None),
            ".99" => Some(Rounding::Up99),
            ".95" => Some(Rounding::Up95),
            "whole" => Some(Rounding::Whole),
            _ => None,
        }
    }

    /// Every rule's name.
    pub const NAMES: [&'static str; 4] = ["none", ".99", ".95", "whole"];

    /// The rule's name, as configured.
    pub fn name(self) -> &'static str {
        match self {
            Rounding::None => "none",
            Rounding::Up99 => ".99",
            Rounding::Up95 => ".95",
            Rounding::Whole => "whole",
        }
    }

    fn apply(self, price: Decimal) -> Decimal {
        let point = |ending: Decimal| {
            // The smallest whole-units-plus-`ending` at or above `price`.
            let base = (price - ending).ceil();
            base + ending
        };
        match self {
            Rounding::None => price,
            Rounding::Up99 => point(Decimal::new(99, 2)),
            Rounding::Up95 => point(Decimal::new(95, 2)),
            Rounding::Whole => price.ceil(),
        }
    }
}

/// A value and where it came from (`refurbisher flexit: home_copy_tax`, `feed: tax_percentage`,
/// `margin rule ean 871…`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Sourced {
    /// The value.
    pub value: Decimal,
    /// Where it came from.
    pub source: String,
}

impl Sourced {
    /// `value` from `source`.
    pub fn new(value: Decimal, source: impl Into<String>) -> Sourced {
        Sourced {
            value,
            source: source.into(),
        }
    }
}

/// What a price is computed from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriceInput {
    /// Purchase price excl. VAT, per unit.
    pub purchase: Sourced,
    /// Home copy tax (thuiskopieheffing) per unit, excl. VAT.
    pub home_copy_tax: Sourced,
    /// Shipping costs per unit, excl. VAT.
    pub shipping: Sourced,
    /// Margin in percent of cost.
    pub margin: Sourced,
    /// VAT in percent.
    pub vat: Sourced,
    /// The rounding rule after the cents.
    pub rounding: Rounding,
    /// Decimals of the currency (2 for EUR).
    pub minor_digits: u32,
}

/// One step of a computed price.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Step {
    /// What the step is (`cost`, `excl. VAT`, …).
    pub label: &'static str,
    /// How it is computed, with the values used.
    pub formula: String,
    /// The result.
    pub value: Decimal,
}

/// A computed selling price with every step that led to it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Breakdown {
    /// Cost per unit, excl. VAT.
    pub cost: Decimal,
    /// Selling price excl. VAT (exact).
    pub excl_vat: Decimal,
    /// Selling price incl. VAT, rounded to cents and by the rounding rule.
    pub incl_vat: Decimal,
    /// The inputs, each with where it came from.
    pub inputs: Vec<(&'static str, Sourced)>,
    /// The steps.
    pub steps: Vec<Step>,
}

impl Breakdown {
    /// The explanation as lines of text, for the CLI.
    pub fn lines(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .inputs
            .iter()
            .map(|(name, s)| format!("{name:<14} {:>12}  ({})", s.value.normalize(), s.source))
            .collect();
        out.extend(self.steps.iter().map(|s| {
            format!(
                "{:<14} {:>12}  = {}",
                s.label,
                s.value.normalize(),
                s.formula
            )
        }));
        out
    }
}

/// The four amounts of a price: cost, excl. VAT (exact), incl. VAT rounded half-up to the minor
/// unit, and that after the rounding rule. The arithmetic of [`price`], without the explanation.
pub fn amounts(
    purchase: Decimal,
    home_copy_tax: Decimal,
    shipping: Decimal,
    margin: Decimal,
    vat: Decimal,
    rounding: Rounding,
    minor_digits: u32,
) -> (Decimal, Decimal, Decimal, Decimal) {
    let hundred = Decimal::ONE_HUNDRED;
    let cost = purchase + home_copy_tax + shipping;
    let excl = cost * (Decimal::ONE + margin / hundred);
    let incl_exact = excl * (Decimal::ONE + vat / hundred);
    let cents =
        incl_exact.round_dp_with_strategy(minor_digits, RoundingStrategy::MidpointAwayFromZero);
    (cost, excl, cents, rounding.apply(cents))
}

/// Compute the selling price of one offer.
pub fn price(input: &PriceInput) -> Breakdown {
    let (cost, excl, cents, incl) = amounts(
        input.purchase.value,
        input.home_copy_tax.value,
        input.shipping.value,
        input.margin.value,
        input.vat.value,
        input.rounding,
        input.minor_digits,
    );
    let n = |d: Decimal| d.normalize().to_string();
    let mut steps = vec![
        Step {
            label: "cost",
            formula: format!(
                "{} + {} + {} (purchase + home copy tax + shipping)",
                n(input.purchase.value),
                n(input.home_copy_tax.value),
                n(input.shipping.value)
            ),
            value: cost,
        },
        Step {
            label: "excl. VAT",
            formula: format!("{} × (1 + {}%) (margin)", n(cost), n(input.margin.value)),
            value: excl,
        },
        Step {
            label: "incl. VAT",
            formula: format!(
                "{} × (1 + {}%) (VAT), half-up to {} decimals",
                n(excl),
                n(input.vat.value),
                input.minor_digits
            ),
            value: cents,
        },
    ];
    if incl != cents {
        steps.push(Step {
            label: "rounded",
            formula: format!(
                "{} up to the next `{}` price point",
                n(cents),
                input.rounding.name()
            ),
            value: incl,
        });
    }
    Breakdown {
        cost,
        excl_vat: excl,
        incl_vat: incl,
        inputs: vec![
            ("purchase", input.purchase.clone()),
            ("home copy tax", input.home_copy_tax.clone()),
            ("shipping", input.shipping.clone()),
            ("margin %", input.margin.clone()),
            ("VAT %", input.vat.clone()),
        ],
        steps,
    }
}

/// The price input of one offer of refurbisher `r`: its purchase price, its VAT from the feed
/// (else the refurbisher's `default_tax_percentage`), and the refurbisher's home copy tax,
/// shipping costs, margin (rules, else `default_margin`) and rounding, each with its source.
pub fn offer_price_input(
    r: &crate::config::model::Refurbisher,
    purchase: Decimal,
    feed_tax_percentage: Option<Decimal>,
    keys: OfferKeys<'_>,
) -> PriceInput {
    let owner = format!("refurbisher {}", r.key);
    let rules: Vec<MarginRule> = r.margin_rules.iter().map(|m| m.to_rule()).collect();
    PriceInput {
        purchase: Sourced::new(purchase, "feed: price_purchase_amount"),
        home_copy_tax: Sourced::new(r.home_copy_tax, format!("{owner}: home_copy_tax")),
        shipping: Sourced::new(r.shipping_costs, format!("{owner}: shipping_costs")),
        margin: margin_for(&rules, r.default_margin, &owner, keys),
        vat: match feed_tax_percentage {
            Some(t) => Sourced::new(t, "feed: tax_percentage"),
            None => Sourced::new(
                r.default_tax_percentage,
                format!("{owner}: default_tax_percentage"),
            ),
        },
        rounding: Rounding::from_name(&r.price_rounding).unwrap_or_default(),
        minor_digits: crate::money::minor_digits(&r.currency),
    }
}

/// Stock the storefront may sell: what the refurbisher has above its threshold.
pub fn sellable(stock_available: i64, stock_threshold: i64) -> i64 {
    stock_available.saturating_sub(stock_threshold).max(0)
}

/// What a margin rule matches, most specific first: an EAN, then a SKU prefix (the longest
/// matching one), then a brand, then a category (brand and category ignore case).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MarginMatch {
    /// One EAN.
    Ean(String),
    /// SKUs starting with this.
    SkuPrefix(String),
    /// A brand.
    Brand(String),
    /// A category.
    Category(String),
}

/// A margin for the offers a rule matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarginRule {
    /// What it matches.
    pub matches: MarginMatch,
    /// Margin in percent.
    pub margin: Decimal,
}

/// What a margin rule is matched against.
#[derive(Debug, Clone, Copy)]
pub struct OfferKeys<'a> {
    /// The EAN.
    pub ean: &'a str,
    /// The refurbisher's SKU.
    pub sku: &'a str,
    /// The brand, when the offer has one.
    pub brand: Option<&'a str>,
    /// The category, when the offer has one.
    pub category: Option<&'a str>,
}

/// The most specific margin rule matching an offer, if any.
pub fn margin_rule<'r>(rules: &'r [MarginRule], offer: OfferKeys<'_>) -> Option<&'r MarginRule> {
    let same = |a: &str, b: Option<&str>| b.is_some_and(|b| a.eq_ignore_ascii_case(b.trim()));
    let by_ean = rules
        .iter()
        .find(|r| matches!(&r.matches, MarginMatch::Ean(e) if e == offer.ean));
    by_ean
        .or_else(|| {
            rules
                .iter()
                .filter_map(|r| match &r.matches {
                    MarginMatch::SkuPrefix(p) if offer.sku.starts_with(p.as_str()) => {
                        Some((p.len(), r))
                    }
                    _ => None,
                })
                .max_by_key(|(len, _)| *len)
                .map(|(_, r)| r)
        })
        .or_else(|| {
            rules
                .iter()
                .find(|r| matches!(&r.matches, MarginMatch::Brand(b) if same(b, offer.brand)))
        })
        .or_else(|| {
            rules
                .iter()
                .find(|r| matches!(&r.matches, MarginMatch::Category(c) if same(c, offer.category)))
        })
}

/// The margin for an offer: the most specific matching rule, else the refurbisher's default.
/// `owner` names where the rules and the default come from (`refurbisher flexit`).
pub fn margin_for(
    rules: &[MarginRule],
    default_margin: Decimal,
    owner: &str,
    offer: OfferKeys<'_>,
) -> Sourced {
    match margin_rule(rules, offer) {
        Some(r) => {
            let what = match &r.matches {
                MarginMatch::Ean(e) => format!("ean {e}"),
                MarginMatch::SkuPrefix(p) => format!("sku prefix {p}"),
                MarginMatch::Brand(b) => format!("brand {b}"),
                MarginMatch::Category(c) => format!("category {c}"),
            };
            Sourced::new(r.margin, format!("{owner}: margin rule {what}"))
        }
        None => Sourced::new(default_margin, format!("{owner}: default_margin")),
    }
}

/// One offer of a product competing to be its best offer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// The offer.
    pub offer_id: i64,
    /// Its refurbisher.
    pub refurbisher_id: i64,
    /// Sellable stock.
    pub sellable: i64,
    /// Selling price incl. VAT, minor units.
    pub price_incl_minor: i64,
    /// Why the offer may not compete at all (inactive, refurbisher not approved, not sold in
    /// the channel, …); `None` when it may.
    pub excluded: Option<Verdict>,
}

/// Why an offer is or is not a product's best offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The best offer.
    Best,
    /// Eligible, but another one wins (cheaper, or as cheap with more stock, or as cheap and
    /// as stocked from a lower refurbisher id).
    Outranked,
    /// Not in the refurbisher's latest feed.
    Inactive,
    /// No stock above the refurbisher's threshold.
    NoSellableStock,
    /// The refurbisher is not approved or not enabled.
    RefurbisherMayNotSell,
    /// The channel does not sell this refurbisher's offers.
    NotInChannel,
    /// The offer is in another currency than the channel (or catalog) sells in.
    OtherCurrency,
}

impl Verdict {
    /// Why, in words, for the CLI and the UI.
    pub fn explain(self) -> &'static str {
        match self {
            Verdict::Best => "best offer",
            Verdict::Outranked => {
                "outranked: another offer is cheaper, or as cheap with more stock, or from a lower refurbisher id"
            }
            Verdict::Inactive => "inactive: not in the refurbisher's latest feed",
            Verdict::NoSellableStock => "no sellable stock above the refurbisher's stock_threshold",
            Verdict::RefurbisherMayNotSell => "refurbisher not approved_refurbished or not enabled",
            Verdict::NotInChannel => "the channel does not sell this refurbisher",
            Verdict::OtherCurrency => "in another currency than the channel sells in",
        }
    }

    /// The verdict's stable name (`best`, `no_sellable_stock`, …).
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Best => "best",
            Verdict::Outranked => "outranked",
            Verdict::Inactive => "inactive",
            Verdict::NoSellableStock => "no_sellable_stock",
            Verdict::RefurbisherMayNotSell => "refurbisher_may_not_sell",
            Verdict::NotInChannel => "not_in_channel",
            Verdict::OtherCurrency => "other_currency",
        }
    }
}

/// The best offer of a product: not excluded (active, refurbisher approved and enabled, sold in
/// the channel), sellable stock > 0; the lowest price incl. VAT, then the most sellable stock,
/// then the lowest refurbisher id, then the lowest offer id — the same answer for the same
/// offers in any order. Returns the index of the best one and the verdict for every candidate,
/// in their order.
pub fn best_offer(candidates: &[Candidate]) -> (Option<usize>, Vec<Verdict>) {
    let eligible = |c: &Candidate| c.excluded.is_none() && c.sellable > 0;
    let best = candidates
        .iter()
        .enumerate()
        .filter(|(_, c)| eligible(c))
        .min_by_key(|(_, c)| {
            (
                c.price_incl_minor,
                std::cmp::Reverse(c.sellable),
                c.refurbisher_id,
                c.offer_id,
            )
        })
        .map(|(i, _)| i);
    let verdicts = candidates
        .iter()
        .enumerate()
        .map(|(i, c)| match c.excluded {
            Some(v) => v,
            None if c.sellable <= 0 => Verdict::NoSellableStock,
            None if Some(i) == best => Verdict::Best,
            None => Verdict::Outranked,
        })
        .collect();
    (best, verdicts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    fn input(purchase: &str, hct: &str, shipping: &str, margin: &str, vat: &str) -> PriceInput {
        PriceInput {
            purchase: Sourced::new(d(purchase), "feed: price_purchase_amount"),
            home_copy_tax: Sourced::new(d(hct), "refurbisher: home_copy_tax"),
            shipping: Sourced::new(d(shipping), "refurbisher: shipping_costs"),
            margin: Sourced::new(d(margin), "refurbisher: default_margin"),
            vat: Sourced::new(d(vat), "channel default VAT"),
            rounding: Rounding::None,
            minor_digits: 2,
        }
    }

    #[test]
    fn flexit_worked_example_from_the_seed_numbers() {
        // FlexIT: 17 % margin, €10.00 shipping, €3.18 home copy tax; a €100.00 device, 21 % VAT.
        let b = price(&input("100.00", "3.18", "10.00", "17", "21"));
        assert_eq!(b.cost, d("113.18"));
        assert_eq!(b.excl_vat, d("132.4206"));
        assert_eq!(b.incl_vat, d("160.23"), "160.228926 half-up");
        assert_eq!(
            b.lines(),
            [
                "purchase                100  (feed: price_purchase_amount)",
                "home copy tax          3.18  (refurbisher: home_copy_tax)",
                "shipping                 10  (refurbisher: shipping_costs)",
                "margin %                 17  (refurbisher: default_margin)",
                "VAT %                    21  (channel default VAT)",
                "cost                 113.18  = 100 + 3.18 + 10 (purchase + home copy tax + shipping)",
                "excl. VAT          132.4206  = 113.18 × (1 + 17%) (margin)",
                "incl. VAT            160.23  = 132.4206 × (1 + 21%) (VAT), half-up to 2 decimals",
            ]
        );
    }

    #[test]
    fn iused_worked_example_from_the_seed_numbers() {
        // iUsed: 99 % margin, €0.00 shipping, €4.38 home copy tax; a €100.00 device, 21 % VAT.
        let b = price(&input("100.00", "4.38", "0.00", "99", "21"));
        assert_eq!(b.cost, d("104.38"));
        assert_eq!(b.excl_vat, d("207.7162"));
        assert_eq!(b.incl_vat, d("251.34"), "251.336602 half-up");
    }

    #[test]
    fn half_cents_round_up_and_rules_round_to_the_next_price_point() {
        // An exact half cent (0 margin, 0 VAT): 0.125 → 0.13.
        let mut i = input("0.125", "0", "0", "0", "0");
        assert_eq!(price(&i).incl_vat, d("0.13"));
        i = input("10.20", "0", "0", "0", "0");
        for (rule, want) in [
            (Rounding::None, "10.20"),
            (Rounding::Up99, "10.99"),
            (Rounding::Up95, "10.95"),
            (Rounding::Whole, "11"),
        ] {
            i.rounding = rule;
            assert_eq!(price(&i).incl_vat, d(want), "{rule:?}");
        }
        for (p, rule, want) in [
            ("10.99", Rounding::Up99, "10.99"),
            ("10.96", Rounding::Up95, "11.95"),
            ("10.00", Rounding::Whole, "10"),
            ("0.50", Rounding::Up99, "0.99"),
        ] {
            let mut i = input(p, "0", "0", "0", "0");
            i.rounding = rule;
            assert_eq!(price(&i).incl_vat, d(want), "{p} {rule:?}");
        }
        assert_eq!(Rounding::from_name(".99"), Some(Rounding::Up99));
        i = input("10.20", "0", "0", "0", "0");
        i.rounding = Rounding::Up99;
        assert_eq!(
            price(&i).lines().last().unwrap(),
            "rounded               10.99  = 10.2 up to the next `.99` price point"
        );
        assert_eq!(Rounding::from_name("0.99"), None);
    }

    #[test]
    fn sellable_stock_is_what_is_above_the_threshold() {
        assert_eq!(sellable(5, 1), 4);
        assert_eq!(sellable(1, 1), 0);
        assert_eq!(sellable(0, 1), 0);
        assert_eq!(sellable(3, 0), 3);
    }

    #[test]
    fn the_most_specific_margin_rule_wins() {
        let rules = vec![
            MarginRule {
                matches: MarginMatch::Category("Smartphones".into()),
                margin: d("20"),
            },
            MarginRule {
                matches: MarginMatch::Brand("Apple".into()),
                margin: d("15"),
            },
            MarginRule {
                matches: MarginMatch::SkuPrefix("FLX-".into()),
                margin: d("14"),
            },
            MarginRule {
                matches: MarginMatch::SkuPrefix("FLX-IPH".into()),
                margin: d("13"),
            },
            MarginRule {
                matches: MarginMatch::Ean("0194252707234".into()),
                margin: d("12"),
            },
        ];
        let keys = |ean, sku, brand, category| OfferKeys {
            ean,
            sku,
            brand,
            category,
        };
        let m = |k| margin_for(&rules, d("17"), "refurbisher flexit", k);
        let phone = Some("smartphones");
        assert_eq!(
            m(keys("0194252707234", "FLX-IPH13", Some("Apple"), phone)),
            Sourced::new(d("12"), "refurbisher flexit: margin rule ean 0194252707234")
        );
        assert_eq!(
            m(keys("1", "FLX-IPH13", Some("Apple"), phone)).source,
            "refurbisher flexit: margin rule sku prefix FLX-IPH",
            "the longest prefix"
        );
        assert_eq!(m(keys("1", "FLX-S21", Some("Apple"), phone)).value, d("14"));
        assert_eq!(m(keys("1", "X", Some(" apple "), phone)).value, d("15"));
        assert_eq!(m(keys("1", "X", None, phone)).value, d("20"));
        assert_eq!(
            m(keys("1", "X", None, None)),
            Sourced::new(d("17"), "refurbisher flexit: default_margin")
        );
    }

    fn cand(offer_id: i64, refurbisher_id: i64, price: i64, sellable: i64) -> Candidate {
        Candidate {
            offer_id,
            refurbisher_id,
            sellable,
            price_incl_minor: price,
            excluded: None,
        }
    }

    #[test]
    fn the_best_offer_is_cheapest_then_most_stock_then_lowest_refurbisher() {
        let mut c = vec![
            cand(1, 15, 10_000, 1),
            cand(2, 12, 9_000, 0),
            cand(3, 20, 9_500, 2),
            cand(4, 11, 9_500, 2),
            cand(5, 9, 9_500, 1),
            Candidate {
                excluded: Some(Verdict::Inactive),
                ..cand(6, 1, 100, 5)
            },
            Candidate {
                excluded: Some(Verdict::RefurbisherMayNotSell),
                ..cand(7, 2, 100, 5)
            },
        ];
        let (best, verdicts) = best_offer(&c);
        assert_eq!(best, Some(3), "9,500 with 2 in stock from refurbisher 11");
        assert_eq!(
            verdicts,
            [
                Verdict::Outranked,
                Verdict::NoSellableStock,
                Verdict::Outranked,
                Verdict::Best,
                Verdict::Outranked,
                Verdict::Inactive,
                Verdict::RefurbisherMayNotSell,
            ]
        );
        c.reverse();
        let (best, _) = best_offer(&c);
        assert_eq!(c[best.unwrap()].offer_id, 4, "the order does not matter");
        assert_eq!(best_offer(&[cand(1, 1, 1, 0)]).0, None);
    }

    proptest! {
        #[test]
        fn incl_vat_is_never_below_cost(
            purchase in 0i64..10_000_000,
            hct in 0i64..10_000,
            shipping in 0i64..10_000,
            margin in 0i64..50_000,
            vat in 0i64..3_000,
            rule in 0usize..4,
        ) {
            let mut i = input("0", "0", "0", "0", "0");
            i.purchase.value = Decimal::new(purchase, 2);
            i.home_copy_tax.value = Decimal::new(hct, 2);
            i.shipping.value = Decimal::new(shipping, 2);
            i.margin.value = Decimal::new(margin, 2);
            i.vat.value = Decimal::new(vat, 2);
            i.rounding = Rounding::from_name(Rounding::NAMES[rule]).unwrap();
            let b = price(&i);
            prop_assert!(b.incl_vat >= b.cost, "{b:?}");
            prop_assert!(b.excl_vat >= b.cost);
            prop_assert_eq!(b.incl_vat.round_dp(2), b.incl_vat);
        }

        #[test]
        fn the_best_offer_does_not_depend_on_the_order(
            offers in proptest::collection::vec((0i64..5, 1i64..4, 0i64..3, any::<bool>()), 1..12),
            seed in any::<u64>(),
        ) {
            let cands: Vec<Candidate> = offers
                .iter()
                .enumerate()
                .map(|(i, &(price, refurbisher, stock, may))| Candidate {
                    excluded: (!may).then_some(Verdict::RefurbisherMayNotSell),
                    ..cand(i as i64, refurbisher, price, stock)
                })
                .collect();
            let mut shuffled = cands.clone();
            let n = shuffled.len();
            for k in 0..n {
                let j = ((seed >> (k % 60)) as usize + k * 7) % n;
                shuffled.swap(k, j);
            }
            let pick = |c: &[Candidate]| best_offer(c).0.map(|i| c[i].offer_id);
            prop_assert_eq!(pick(&cands), pick(&shuffled));
        }
    }
}
