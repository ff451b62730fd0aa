//! One step of a catalog recompute, decided without a database: for each marked EAN, the
//! product row and the channel rows its offers give, compared with what is stored, and only
//! what changed written.
//!
//! The store reads a step (the marked EANs' offers, product rows and channel rows), [`decide`]
//! computes, and the store writes [`StepWrites`]; `irp_pipeline::catalog::recompute` runs the
//! steps in one transaction.

use std::collections::{BTreeMap, HashMap};

use super::{Evaluation, OfferFacts, Scope, Seller, evaluate};
use crate::config::model::Channel;

/// The product row the catalog computes (compared with the stored one before writing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductValues {
    /// The best offer's feed name (while none sells: the first offer's).
    pub feed_name: Option<String>,
    /// The best offer.
    pub best_offer_id: Option<i64>,
    /// Its price incl. VAT, minor units.
    pub price_incl_minor: Option<i64>,
    /// Its currency.
    pub currency: Option<String>,
    /// Its sellable stock.
    pub sellable: i64,
    /// Offers with this EAN (active or not).
    pub offers_count: i64,
}

/// The channel row the catalog computes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelValues {
    /// The channel's best offer.
    pub offer_id: Option<i64>,
    /// Its refurbisher.
    pub refurbisher_id: Option<i64>,
    /// Price incl. VAT, minor units.
    pub price_incl_minor: Option<i64>,
    /// The VAT percentage of that price.
    pub tax_percentage: Option<String>,
    /// The refurbisher's purchase price, minor units.
    pub purchase_minor: Option<i64>,
    /// The channel's currency.
    pub currency: String,
    /// Sellable stock.
    pub stock: i64,
    /// Whether the channel sells it.
    pub active: bool,
}

/// What a step reads: the marked EANs, their offers, and the rows stored for them.
#[derive(Debug, Clone, Default)]
pub struct StepInput {
    /// The marked EANs, sorted.
    pub eans: Vec<String>,
    /// Their offers (active or not), by EAN, each list sorted by offer id.
    pub offers: BTreeMap<String, Vec<OfferFacts>>,
    /// The stored product rows, by EAN.
    pub products: HashMap<String, ProductValues>,
    /// The stored channel rows, by (channel key, EAN).
    pub channel_rows: HashMap<(String, String), ChannelValues>,
}

/// What a step writes: only rows that changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StepWrites {
    /// Product rows created or changed, by EAN.
    pub products: Vec<(String, ProductValues)>,
    /// Channel rows created or changed: (channel key, EAN, values).
    pub channel_rows: Vec<(String, String, ChannelValues)>,
    /// Offers whose feed consumer price is below the computed selling price (excl. VAT).
    pub consumer_below: u64,
}

fn channel_values(ch: &Channel, offers: &[OfferFacts], e: &Evaluation) -> ChannelValues {
    match e.best {
        Some(i) => {
            let (o, r) = (&offers[i], &e.offers[i]);
            ChannelValues {
                offer_id: Some(o.offer_id),
                refurbisher_id: Some(o.refurbisher_id),
                price_incl_minor: Some(r.price_incl_minor),
                tax_percentage: Some(r.vat.normalize().to_string()),
                purchase_minor: Some(o.purchase_minor),
                currency: ch.currency.clone(),
                stock: r.sellable,
                active: true,
            }
        }
        None => not_sold(&ch.currency),
    }
}

/// The channel row of a product no offer sells in the channel (in `currency`): no offer, no
/// price, stock 0, inactive.
#[must_use]
pub fn not_sold(currency: &str) -> ChannelValues {
    ChannelValues {
        offer_id: None,
        refurbisher_id: None,
        price_incl_minor: None,
        tax_percentage: None,
        purchase_minor: None,
        currency: currency.to_owned(),
        stock: 0,
        active: false,
    }
}

/// Decide a step: price every marked EAN's offers for the catalog (in `catalog_currency`) and
/// for each channel ([`evaluate`]), and keep the rows that differ from the stored ones. A
/// product without offers and without a stored row is not created; a channel row that would
/// be inactive and does not exist is not created.
#[must_use]
pub fn decide(
    sellers: &HashMap<i64, Seller>,
    channels: &[Channel],
    catalog_currency: &str,
    input: &StepInput,
) -> StepWrites {
    let mut out = StepWrites::default();
    let empty = Vec::new();
    for ean in &input.eans {
        let offers = input.offers.get(ean).unwrap_or(&empty);
        let e = evaluate(offers, sellers, Scope::Catalog(catalog_currency));
        out.consumer_below += e.offers.iter().filter(|r| r.consumer_below).count() as u64;
        let values = match e.best {
            Some(i) => ProductValues {
                feed_name: Some(offers[i].name.clone()),
                best_offer_id: Some(offers[i].offer_id),
                price_incl_minor: Some(e.offers[i].price_incl_minor),
                currency: Some(offers[i].currency.clone()),
                sellable: e.offers[i].sellable,
                offers_count: offers.len() as i64,
            },
            None => ProductValues {
                // Keep a name while no offer sells: the first offer's.
                feed_name: offers.first().map(|o| o.name.clone()),
                best_offer_id: None,
                price_incl_minor: None,
                currency: None,
                sellable: 0,
                offers_count: offers.len() as i64,
            },
        };
        let stored = input.products.get(ean);
        if (stored.is_some() || !offers.is_empty()) && stored != Some(&values) {
            out.products.push((ean.clone(), values));
        }
        for ch in channels {
            let ce = evaluate(offers, sellers, Scope::Channel(ch));
            let values = channel_values(ch, offers, &ce);
            let key = (ch.key.clone(), ean.clone());
            match input.channel_rows.get(&key) {
                Some(old) if *old == values => {}
                None if !values.active => {}
                _ => out.channel_rows.push((key.0, key.1, values)),
            }
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const EAN: &str = "8712345678906";

    fn seller(key: &str, margin: &str) -> Seller {
        let doc = format!(
            r#"{{"{key}": {{"default_margin": "{margin}", "shipping_costs": "10.00", "home_copy_tax": "3.18",
                "stock_threshold": 0, "approved_refurbished": true}}}}"#
        );
        let parsed = crate::config::parse_document(&doc);
        assert!(parsed.is_ok(), "{:?}", parsed.diagnostics);
        Seller::new(parsed.refurbishers[0].clone(), true)
    }

    fn offer(id: i64, refurbisher_id: i64, purchase: i64, stock: i64) -> OfferFacts {
        OfferFacts {
            offer_id: id,
            refurbisher_id,
            sku: format!("S{id}"),
            ean: EAN.into(),
            name: format!("Phone {id}"),
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
            (1, seller("flexit", "17")),
            (2, seller("iused-stores", "17")),
        ])
    }

    fn input(offers: Vec<OfferFacts>) -> StepInput {
        StepInput {
            eans: vec![EAN.into()],
            offers: [(EAN.to_owned(), offers)].into_iter().collect(),
            ..StepInput::default()
        }
    }

    #[test]
    fn the_cheaper_sellable_offer_wins_and_only_changes_are_written() {
        let first = decide(
            &sellers(),
            &[],
            "EUR",
            &input(vec![offer(1, 1, 10_000, 3), offer(2, 2, 9_000, 2)]),
        );
        assert_eq!(first.products.len(), 1);
        let (ean, values) = &first.products[0];
        assert_eq!((ean.as_str(), values.best_offer_id), (EAN, Some(2)));
        assert_eq!(values.offers_count, 2);
        // The same offers against what was just written: nothing to write.
        let mut again = input(vec![offer(1, 1, 10_000, 3), offer(2, 2, 9_000, 2)]);
        again.products.insert(EAN.into(), values.clone());
        assert_eq!(
            decide(&sellers(), &[], "EUR", &again),
            StepWrites::default()
        );
    }

    #[test]
    fn a_product_without_offers_is_not_created_but_an_existing_one_is_emptied() {
        assert_eq!(
            decide(&sellers(), &[], "EUR", &input(Vec::new())),
            StepWrites::default()
        );
        let mut gone = input(Vec::new());
        let stored = decide(&sellers(), &[], "EUR", &input(vec![offer(1, 1, 100, 1)]))
            .products
            .remove(0)
            .1;
        gone.products.insert(EAN.into(), stored);
        let w = decide(&sellers(), &[], "EUR", &gone);
        assert_eq!(w.products[0].1.best_offer_id, None);
        assert_eq!(w.products[0].1.offers_count, 0);
    }

    #[test]
    fn an_unsold_product_keeps_a_name() {
        let mut out_of_stock = offer(1, 1, 100, 0);
        out_of_stock.active = false;
        let w = decide(&sellers(), &[], "EUR", &input(vec![out_of_stock]));
        assert_eq!(w.products[0].1.feed_name.as_deref(), Some("Phone 1"));
        assert_eq!(w.products[0].1.best_offer_id, None);
    }
}
