//! The catalog: products with their best offer, every offer of a product priced with its
//! verdict, each channel's view, one offer's price breakdown, and held purchase prices.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use irp_core::catalog::{self, OfferFacts, Scope};
use irp_core::money;
use irp_core::pricing::Breakdown;
use irp_store::catalog::{CATALOG_CURRENCY, CatalogContext, StoredProduct};
use irp_store::offers::StoredOffer;
use irp_store::refurbishers::StoredRefurbisher;
use irp_store::{Store, StoreError};
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;
use utoipa::openapi::schema::{AnyOfBuilder, ObjectBuilder, Ref, Schema, Type};

/// A product with its best offer (as `irp products list --json`).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Product {
    /// EAN.
    pub ean: String,
    /// The PIM's name, else the best offer's feed name.
    pub name: String,
    /// Where `name` comes from: `pim` or `feed`.
    pub name_source: String,
    /// Brand from the PIM.
    pub brand: Option<String>,
    /// Model from the PIM.
    pub model: Option<String>,
    /// Category from the PIM.
    pub category: Option<String>,
    /// The best offer, if any.
    pub best_offer: Option<BestOffer>,
    /// Its price incl. VAT, a decimal as text.
    #[schema(value_type = Option<String>, example = "160.23")]
    pub price_incl_vat: Option<Decimal>,
    /// Its currency.
    pub currency_iso: Option<String>,
    /// Sellable units of the best offer.
    pub sellable: i64,
    /// Offers with this EAN (active or not).
    pub offers: i64,
    /// When the PIM data was imported.
    pub pim_synced_at: Option<DateTime<Utc>>,
    /// When the catalog last computed it.
    pub computed_at: Option<DateTime<Utc>>,
}

/// The best offer of a product.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BestOffer {
    /// Offer id.
    pub offer_id: i64,
    /// Its refurbisher's key.
    pub refurbisher: Option<String>,
    /// Its SKU.
    pub sku: Option<String>,
}

/// Refurbisher keys by refurbisher id: how the views name refurbishers.
pub fn refurbisher_keys(ctx: &CatalogContext) -> HashMap<i64, String> {
    ctx.sellers
        .iter()
        .map(|(id, s)| (*id, s.model.key.clone()))
        .collect()
}

impl Product {
    /// The product `p`; `keys` names its best offer's refurbisher.
    pub fn of(p: &StoredProduct, keys: &HashMap<i64, String>) -> Product {
        Product {
            ean: p.ean.clone(),
            name: p.display_name().to_owned(),
            name_source: if p.name.is_some() { "pim" } else { "feed" }.to_owned(),
            brand: p.brand.clone(),
            model: p.model.clone(),
            category: p.category.clone(),
            best_offer: p.best_offer_id.map(|offer_id| BestOffer {
                offer_id,
                refurbisher: p.best_refurbisher_id.and_then(|r| keys.get(&r).cloned()),
                sku: p.best_sku.clone(),
            }),
            price_incl_vat: p
                .price_incl_minor
                .zip(p.currency.as_deref())
                .map(|(m, c)| money::from_minor(m, money::minor_digits(c))),
            currency_iso: p.currency.clone(),
            sellable: p.sellable,
            offers: p.offers_count,
            pim_synced_at: p.pim_synced_at,
            computed_at: p.computed_at,
        }
    }

    /// Products matching `query` (an EAN prefix or part of the name), only those with a best
    /// offer when `sellable`, by EAN.
    ///
    /// # Errors
    /// The store fails.
    pub async fn list(
        store: &Store,
        query: Option<&str>,
        sellable: bool,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<Product>, StoreError> {
        let keys = refurbisher_keys(&store.catalog().context().await?);
        let rows = store
            .catalog()
            .products(query, sellable, limit, offset)
            .await?;
        Ok(rows.iter().map(|p| Product::of(p, &keys)).collect())
    }
}

/// A page of products.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ProductList {
    /// By EAN.
    pub products: Vec<Product>,
    /// The `offset` of the next page; `null` on the last page.
    #[schema(required = true)]
    pub next_offset: Option<i64>,
}

/// A product with every offer priced and each channel's view (as `irp products show EAN
/// --json`). A product known only from offers (not computed yet) has just `ean` and the lists.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ProductDetail {
    /// The product's fields as listed; only `ean` while it is not computed yet.
    #[serde(flatten)]
    #[schema(schema_with = product_or_ean)]
    pub product: ProductHead,
    /// Attributes from the PIM.
    #[schema(value_type = Object)]
    pub attributes: Map<String, Value>,
    /// Every offer with this EAN, priced for the catalog, with its verdict.
    pub offer_list: Vec<PricedOffer>,
    /// Each channel's view of the product.
    pub channels: Vec<ChannelView>,
}

/// The head of a [`ProductDetail`]: the computed product, or only its EAN.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum ProductHead {
    /// The product as the catalog computed it.
    Computed(Box<Product>),
    /// Known only from offers: not computed yet.
    NotComputed {
        /// EAN.
        ean: String,
    },
}

/// The schema of [`ProductHead`]: a [`Product`], or an object with only the `ean`.
fn product_or_ean() -> Schema {
    let either = AnyOfBuilder::new()
        .item(Ref::from_schema_name("Product"))
        .item(
            ObjectBuilder::new()
                .description(Some("A product not computed yet: only its EAN."))
                .property("ean", ObjectBuilder::new().schema_type(Type::String))
                .required("ean"),
        )
        .build();
    Schema::AnyOf(either)
}

impl ProductHead {
    /// The product, when computed.
    pub fn computed(&self) -> Option<&Product> {
        match self {
            ProductHead::Computed(p) => Some(p.as_ref()),
            ProductHead::NotComputed { .. } => None,
        }
    }
}

/// An offer priced for the catalog, with its verdict and price breakdown.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PricedOffer {
    /// Offer id.
    pub offer_id: i64,
    /// Refurbisher key.
    pub refurbisher: String,
    /// SKU.
    pub sku: String,
    /// The feed's name.
    pub name: String,
    /// Whether the latest feed has it.
    pub active: bool,
    /// Its currency.
    pub currency_iso: String,
    /// Selling price incl. VAT, a decimal as text.
    #[schema(value_type = String)]
    pub price_incl_vat: Decimal,
    /// Selling price excl. VAT, a decimal as text.
    #[schema(value_type = String)]
    pub price_excl_vat: Decimal,
    /// VAT percentage, a decimal as text.
    #[schema(value_type = String)]
    pub tax_percentage: Decimal,
    /// Sellable units.
    pub sellable: i64,
    /// `best`, `outranked`, `inactive`, `no_sellable_stock`, …
    pub verdict: String,
    /// Why, in words.
    pub reason: String,
    /// The feed's consumer price excl. VAT is below the selling price excl. VAT.
    pub consumer_price_below_selling_price: bool,
    /// `pending` or `rejected` while a purchase price change is held.
    pub price_hold: Option<String>,
    /// The price breakdown, a line per input and step (none for an unknown refurbisher).
    pub steps: Option<Vec<String>>,
}

/// What one channel sells of a product.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ChannelView {
    /// Channel key.
    pub channel: String,
    /// Channel name.
    pub name: String,
    /// What is stored for the channel (and last pushed), if anything.
    pub stored: Option<ChannelProduct>,
    /// Every offer priced for the channel.
    pub offers: Vec<ChannelOffer>,
    /// The product content IRP owns in the channel's shop, when it owns any.
    pub content: Option<ContentView>,
}

/// The product content IRP owns in a channel's shop: what was last pushed and what the next
/// push changes.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ContentView {
    /// The fields IRP owns there (`name`, `description`, `ean`).
    pub fields: Vec<String>,
    /// `up_to_date`, `waiting` (the next round pushes `changes`), `refused` (see `problem`),
    /// `not_in_shop` (the shop lacks the product), `no_pim_data`.
    pub state: String,
    /// When the content was last pushed.
    pub pushed_at: Option<DateTime<Utc>>,
    /// What the next push changes, field by field.
    pub changes: Vec<ContentChange>,
    /// Why the shop refused the content last sent.
    pub problem: Option<String>,
}

/// One field the next content push changes.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ContentChange {
    /// The field.
    pub field: String,
    /// What the shop has, as IRP last pushed it.
    #[schema(value_type = Option<Object>)]
    pub before: Option<Value>,
    /// What it gets.
    #[schema(value_type = Option<Object>)]
    pub after: Option<Value>,
}

/// An offer priced for one channel.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ChannelOffer {
    /// Offer id.
    pub offer_id: i64,
    /// Refurbisher key.
    pub refurbisher: String,
    /// SKU.
    pub sku: String,
    /// Selling price incl. VAT, a decimal as text.
    #[schema(value_type = String)]
    pub price_incl_vat: Decimal,
    /// Sellable units.
    pub sellable: i64,
    /// `best`, `outranked`, `not_in_channel`, …
    pub verdict: String,
    /// Why, in words.
    pub reason: String,
}

/// What a channel sells of a product, and what was last pushed to it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ChannelProduct {
    /// Channel key.
    pub channel: String,
    /// EAN.
    pub ean: String,
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
    /// Whether the channel sells it now.
    pub active: bool,
    /// +1 on every change of the values above.
    pub revision: i64,
    /// Changed since the last push.
    pub dirty: bool,
    /// The revision last pushed.
    pub pushed_revision: Option<i64>,
    /// The price last pushed.
    pub pushed_price_incl_minor: Option<i64>,
    /// The stock last pushed.
    pub pushed_stock: Option<i64>,
    /// The availability last pushed.
    pub pushed_active: Option<bool>,
    /// When it was last pushed.
    pub pushed_at: Option<DateTime<Utc>>,
}

impl From<irp_store::catalog::ChannelProduct> for ChannelProduct {
    fn from(c: irp_store::catalog::ChannelProduct) -> Self {
        ChannelProduct {
            channel: c.channel,
            ean: c.ean,
            offer_id: c.offer_id,
            refurbisher_id: c.refurbisher_id,
            price_incl_minor: c.price_incl_minor,
            tax_percentage: c.tax_percentage,
            purchase_minor: c.purchase_minor,
            currency: c.currency,
            stock: c.stock,
            active: c.active,
            revision: c.revision,
            dirty: c.dirty,
            pushed_revision: c.pushed_revision,
            pushed_price_incl_minor: c.pushed_price_incl_minor,
            pushed_stock: c.pushed_stock,
            pushed_active: c.pushed_active,
            pushed_at: c.pushed_at,
        }
    }
}

/// Everything a product's view is computed from: the catalog's refurbishers and channels, the
/// product row, its offers and their evaluation for the catalog, and what each channel stores.
/// `irp products show` prints it; [`ProductPricing::detail`] is the view.
pub struct ProductPricing {
    /// The EAN.
    pub ean: String,
    /// The refurbishers and channels.
    pub ctx: CatalogContext,
    /// Refurbisher keys by id.
    pub keys: HashMap<i64, String>,
    /// The product, once computed.
    pub product: Option<StoredProduct>,
    /// Its offers.
    pub stored: Vec<StoredOffer>,
    /// The offers as pricing sees them (in the order of `stored`).
    pub facts: Vec<OfferFacts>,
    /// Their evaluation for the catalog.
    pub overview: catalog::Evaluation,
    /// What each channel stores of it.
    pub channel_rows: Vec<irp_store::catalog::ChannelProduct>,
}

impl ProductPricing {
    /// The product with EAN `ean`; `None` when there is neither a product nor an offer.
    ///
    /// # Errors
    /// The store fails.
    pub async fn load(store: &Store, ean: &str) -> Result<Option<ProductPricing>, StoreError> {
        let ctx = store.catalog().context().await?;
        let keys = refurbisher_keys(&ctx);
        let product = store.catalog().product(ean).await?;
        let stored = store.offers().of_product(ean).await?;
        if product.is_none() && stored.is_empty() {
            return Ok(None);
        }
        let pim = product
            .as_ref()
            .map(|p| (p.brand.clone(), p.category.clone()));
        let facts: Vec<OfferFacts> = stored.iter().map(|o| o.facts(pim.clone())).collect();
        let overview = catalog::evaluate(&facts, &ctx.sellers, Scope::Catalog(CATALOG_CURRENCY));
        let channel_rows = store.catalog().channel_rows_of(ean).await?;
        Ok(Some(ProductPricing {
            ean: ean.to_owned(),
            ctx,
            keys,
            product,
            stored,
            facts,
            overview,
            channel_rows,
        }))
    }

    /// The content IRP owns of this product in channel `channel` (settings `cfg`): built from
    /// its PIM data now, against what was last pushed there.
    fn content_view(
        &self,
        cfg: &irp_core::shopware::content::ContentConfig,
        channel: &str,
        attributes: &Map<String, Value>,
        pushed: &[irp_store::channel_sync::PushedContent],
    ) -> ContentView {
        use irp_core::shopware::content as sc;
        let fields = cfg.fields.iter().map(|f| f.as_str().to_owned()).collect();
        let last = pushed.iter().find(|p| p.channel == channel);
        let pushed_at = last.and_then(|p| p.pushed_at);
        let problem = last.and_then(|p| p.problem.clone());
        let Some(p) = self.product.as_ref().filter(|p| p.pim_synced_at.is_some()) else {
            return ContentView {
                fields,
                state: "no_pim_data".into(),
                pushed_at,
                changes: Vec::new(),
                problem,
            };
        };
        let now = sc::content(
            &sc::PimFacts {
                ean: &self.ean,
                name: p.name.as_deref(),
                brand: p.brand.as_deref(),
                category: p.category.as_deref(),
                attributes,
            },
            cfg,
        );
        let before: Option<Value> = last
            .and_then(|p| p.content.as_deref())
            .and_then(|c| serde_json::from_str(c).ok());
        let changes: Vec<ContentChange> = sc::changes(before.as_ref(), &now)
            .into_iter()
            .map(|c| ContentChange {
                field: c.field,
                before: c.before,
                after: c.after,
            })
            .collect();
        let state = match last {
            Some(l) if l.problem.is_some() => "refused",
            Some(l) if l.hash.is_none() => "not_in_shop",
            Some(l) if l.hash.as_deref() == Some(now.hash().as_str()) => "up_to_date",
            _ => "waiting",
        };
        ContentView {
            fields,
            state: state.into(),
            pushed_at,
            changes,
            problem,
        }
    }

    /// The key of refurbisher `id` (its id when it is gone).
    pub fn key_of(&self, id: i64) -> String {
        self.keys
            .get(&id)
            .cloned()
            .unwrap_or_else(|| id.to_string())
    }

    /// The product's view: its fields, attributes, every offer priced with its breakdown and
    /// verdict, and each channel's view.
    ///
    /// # Errors
    /// The store fails (reading the attributes).
    pub async fn detail(&self, store: &Store) -> Result<ProductDetail, StoreError> {
        let name = |o: &OfferFacts| format!("{} {}", self.key_of(o.refurbisher_id), o.sku);
        let (stored, facts, ctx) = (&self.stored, &self.facts, &self.ctx);
        let e = &self.overview;
        let offer_list = stored
            .iter()
            .zip(facts)
            .zip(&e.offers)
            .enumerate()
            .map(|(i, ((o, f), r))| {
                let digits = money::minor_digits(&o.currency);
                let breakdown = ctx
                    .sellers
                    .get(&o.refurbisher_id)
                    .map(|s| catalog::explain(s, f, Scope::Catalog(CATALOG_CURRENCY)));
                PricedOffer {
                    offer_id: o.id,
                    refurbisher: self.key_of(o.refurbisher_id),
                    sku: o.sku.clone(),
                    name: o.name.clone(),
                    active: o.active,
                    currency_iso: o.currency.clone(),
                    price_incl_vat: money::from_minor(r.price_incl_minor, digits),
                    price_excl_vat: money::from_minor(r.price_excl_minor, digits),
                    tax_percentage: r.vat.normalize(),
                    sellable: r.sellable,
                    verdict: r.verdict.name().to_owned(),
                    reason: catalog::reason(facts, e, i, name),
                    consumer_price_below_selling_price: r.consumer_below,
                    price_hold: o.price_hold.clone(),
                    steps: breakdown.map(|b| b.lines()),
                }
            })
            .collect();
        let attributes = store.pim().product_attributes(&self.ean).await?;
        let pushed = store.channel_sync().content_of(&self.ean).await?;
        let channels = ctx
            .channels
            .iter()
            .map(|ch| {
                let content = ch
                    .shopware
                    .as_ref()
                    .map(|s| &s.content)
                    .filter(|c| !c.is_off())
                    .map(|cfg| self.content_view(cfg, &ch.key, &attributes, &pushed));
                let e = catalog::evaluate(facts, &ctx.sellers, Scope::Channel(ch));
                let row = self.channel_rows.iter().find(|r| r.channel == ch.key);
                ChannelView {
                    content,
                    channel: ch.key.clone(),
                    name: ch.name.clone(),
                    stored: row.cloned().map(Into::into),
                    offers: e
                        .offers
                        .iter()
                        .zip(stored)
                        .enumerate()
                        .map(|(i, (r, o))| ChannelOffer {
                            offer_id: o.id,
                            refurbisher: self.key_of(o.refurbisher_id),
                            sku: o.sku.clone(),
                            price_incl_vat: money::from_minor(
                                r.price_incl_minor,
                                money::minor_digits(&o.currency),
                            ),
                            sellable: r.sellable,
                            verdict: r.verdict.name().to_owned(),
                            reason: catalog::reason(facts, &e, i, name),
                        })
                        .collect(),
                }
            })
            .collect();
        let product = match &self.product {
            Some(p) => ProductHead::Computed(Box::new(Product::of(p, &self.keys))),
            None => ProductHead::NotComputed {
                ean: self.ean.clone(),
            },
        };
        Ok(ProductDetail {
            product,
            attributes,
            offer_list,
            channels,
        })
    }
}

impl ProductDetail {
    /// The view of the product with EAN `ean`; `None` when there is neither a product nor an
    /// offer.
    ///
    /// # Errors
    /// The store fails.
    pub async fn load(store: &Store, ean: &str) -> Result<Option<ProductDetail>, StoreError> {
        match ProductPricing::load(store, ean).await? {
            Some(p) => Ok(Some(p.detail(store).await?)),
            None => Ok(None),
        }
    }
}

/// An offer with its price breakdown (as `irp offers show KEY SKU --json`).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OfferDetail {
    /// Refurbisher key.
    pub refurbisher: String,
    /// SKU.
    pub sku: String,
    /// EAN.
    pub ean: Option<String>,
    /// The feed's name.
    pub name: String,
    /// Whether the latest feed has it.
    pub active: bool,
    /// Currency.
    pub currency_iso: String,
    /// Stock in the latest feed.
    pub stock_available: i64,
    /// The refurbisher's stock threshold.
    pub stock_threshold: i64,
    /// Sellable units (stock above the threshold).
    pub sellable: i64,
    /// `pending` or `rejected` while a purchase price change is held.
    pub price_hold: Option<String>,
    /// The feed's purchase price excl. VAT, a decimal as text.
    #[schema(value_type = String)]
    pub feed_purchase_price: Decimal,
    /// The selling price and how it was computed.
    pub price: OfferPrice,
}

/// A computed selling price with every input and step.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OfferPrice {
    /// Cost per unit excl. VAT, a decimal as text.
    #[schema(value_type = String)]
    pub cost: Decimal,
    /// Selling price excl. VAT (exact), a decimal as text.
    #[schema(value_type = String)]
    pub excl_vat: Decimal,
    /// Selling price incl. VAT, rounded, a decimal as text.
    #[schema(value_type = String, example = "160.23")]
    pub incl_vat: Decimal,
    /// Each input with its value and where it came from.
    pub inputs: Vec<PriceInput>,
    /// Each step.
    pub steps: Vec<PriceStep>,
}

/// An input of a price and where it came from.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PriceInput {
    /// What it is (`purchase`, `margin`, `vat`, …).
    pub name: String,
    /// Its value, a decimal as text.
    #[schema(value_type = String)]
    pub value: Decimal,
    /// Where it came from, like `refurbisher flexit: shipping_costs`.
    pub source: String,
}

/// One step of a computed price.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PriceStep {
    /// What the step is (`cost`, `excl. VAT`, …).
    pub label: String,
    /// How it is computed, with the values used.
    pub formula: String,
    /// The result, a decimal as text.
    #[schema(value_type = String)]
    pub value: Decimal,
}

impl From<&irp_core::pricing::Step> for PriceStep {
    fn from(s: &irp_core::pricing::Step) -> Self {
        PriceStep {
            label: s.label.to_owned(),
            formula: s.formula.clone(),
            value: s.value,
        }
    }
}

/// One offer priced for the catalog with its breakdown: what `irp offers show` prints and
/// [`OfferDetail`] is built from.
pub struct OfferPricing {
    /// Its refurbisher.
    pub refurbisher: StoredRefurbisher,
    /// The offer.
    pub offer: StoredOffer,
    /// How its selling price is computed.
    pub breakdown: Breakdown,
    /// Its sellable units.
    pub sellable: i64,
    /// Decimals of its currency.
    pub digits: u32,
}

impl OfferPricing {
    /// Offer `sku` of refurbisher `r`, priced; `None` when it has no such offer.
    ///
    /// # Errors
    /// The store fails.
    pub async fn load(
        store: &Store,
        r: StoredRefurbisher,
        sku: &str,
    ) -> Result<Option<OfferPricing>, StoreError> {
        let Some(o) = store.offers().get(r.id, sku).await? else {
            return Ok(None);
        };
        let digits = money::minor_digits(&o.currency);
        let pim = match o.ean.as_deref() {
            Some(ean) => store
                .catalog()
                .product(ean)
                .await?
                .map(|p| (p.brand, p.category)),
            None => None,
        };
        let may_sell = r.model.approved_refurbished && r.model.enabled;
        let seller = catalog::Seller::new(r.model.clone(), may_sell);
        let breakdown = catalog::explain(&seller, &o.facts(pim), Scope::Catalog(CATALOG_CURRENCY));
        let sellable = irp_core::pricing::sellable(o.stock_available, r.model.stock_threshold);
        Ok(Some(OfferPricing {
            refurbisher: r,
            offer: o,
            breakdown,
            sellable,
            digits,
        }))
    }
}

impl From<&OfferPricing> for OfferDetail {
    fn from(p: &OfferPricing) -> Self {
        let (o, b, digits) = (&p.offer, &p.breakdown, p.digits);
        OfferDetail {
            refurbisher: p.refurbisher.key.clone(),
            sku: o.sku.clone(),
            ean: o.ean.clone(),
            name: o.name.clone(),
            active: o.active,
            currency_iso: o.currency.clone(),
            stock_available: o.stock_available,
            stock_threshold: p.refurbisher.model.stock_threshold,
            sellable: p.sellable,
            price_hold: o.price_hold.clone(),
            feed_purchase_price: money::from_minor(o.price_purchase_minor, digits),
            price: OfferPrice {
                cost: b.cost.normalize(),
                excl_vat: b.excl_vat.normalize(),
                incl_vat: b.incl_vat.round_dp(digits),
                inputs: b
                    .inputs
                    .iter()
                    .map(|(name, s)| PriceInput {
                        name: (*name).to_owned(),
                        value: s.value.normalize(),
                        source: s.source.clone(),
                    })
                    .collect(),
                steps: b.steps.iter().map(Into::into).collect(),
            },
        }
    }
}

/// An offer as stored, with its held purchase price if any.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Offer {
    /// Offer id.
    pub id: i64,
    /// The refurbisher.
    pub refurbisher_id: i64,
    /// SKU.
    pub sku: String,
    /// EAN.
    pub ean: Option<String>,
    /// The feed's name.
    pub name: String,
    /// Stock in the refurbisher's latest applied feed.
    pub stock_available: i64,
    /// Units ordered from this offer since that feed (not sellable until the next one).
    pub reserved: i64,
    /// Purchase price excl. VAT, minor units.
    pub price_purchase_minor: i64,
    /// Consumer price excl. VAT, minor units.
    pub price_consumer_minor: Option<i64>,
    /// Currency.
    pub currency: String,
    /// VAT percentage, a decimal as text.
    pub tax_percentage: Option<String>,
    /// The feed's other columns.
    #[schema(value_type = Object)]
    pub attributes: Value,
    /// Whether the latest applied feed had it.
    pub active: bool,
    /// First seen.
    pub first_seen_at: DateTime<Utc>,
    /// When an applied feed last wrote this offer (created, changed or brought back).
    pub last_seen_at: DateTime<Utc>,
    /// Last changed.
    pub last_changed_at: DateTime<Utc>,
    /// While a purchase price change is held: the purchase price pricing still uses.
    pub applied_purchase_minor: Option<i64>,
    /// `pending` (held, waiting for an operator) or `rejected` (the old price stays).
    pub price_hold: Option<String>,
    /// When the change was held.
    pub price_held_at: Option<DateTime<Utc>>,
}

impl From<StoredOffer> for Offer {
    fn from(o: StoredOffer) -> Self {
        Offer {
            id: o.id,
            refurbisher_id: o.refurbisher_id,
            sku: o.sku,
            ean: o.ean,
            name: o.name,
            stock_available: o.stock_available,
            reserved: o.reserved,
            price_purchase_minor: o.price_purchase_minor,
            price_consumer_minor: o.price_consumer_minor,
            currency: o.currency,
            tax_percentage: o.tax_percentage,
            attributes: o.attributes.0,
            active: o.active,
            first_seen_at: o.first_seen_at,
            last_seen_at: o.last_seen_at,
            last_changed_at: o.last_changed_at,
            applied_purchase_minor: o.applied_purchase_minor,
            price_hold: o.price_hold,
            price_held_at: o.price_held_at,
        }
    }
}

/// The purchase price changes held for an operator.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct HeldPrices {
    /// Oldest first.
    pub held: Vec<Offer>,
}

/// An offer after its held purchase price was decided.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PriceDecided {
    /// The offer as it is now.
    pub offer: Offer,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use irp_store::channel_sync::ContentChecked;
    use irp_store::db_tests;
    use irp_store::testkit::TestDb;
    use serde_json::json;

    use super::*;

    const EAN: &str = "8712345678906";

    db_tests!(the_product_shows_the_content_each_shop_has_and_what_the_next_push_changes);

    /// A channel that owns names and EANs: before any push the content waits with every owned
    /// field new; once pushed it is up to date; a PIM rename shows the name before and after.
    async fn the_product_shows_the_content_each_shop_has_and_what_the_next_push_changes(
        db: TestDb,
    ) {
        let s = &db.store;
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
        let flexit =
            std::fs::read_to_string(format!("{root}/config/refurbishers/flexit.json")).unwrap();
        let parsed = irp_core::config::parse_document(&flexit);
        irp_pipeline::catalog::apply_refurbishers(s, &parsed.refurbishers, "test")
            .await
            .unwrap();
        let channels = json!({"channels": {"refurbished-direct": {"shopware": {
            "url": "https://shop.example", "client_id": "${secret:channel.refurbished-direct.id}",
            "client_secret": "${secret:channel.refurbished-direct.secret}",
            "content": {"fields": ["name", "ean"]}}}}});
        let parsed = irp_core::config::parse_channels(&channels.to_string());
        assert!(parsed.is_ok(), "{:?}", parsed.diagnostics);
        irp_pipeline::catalog::apply_channels(s, &parsed.channels, "test")
            .await
            .unwrap();
        let r = s.refurbishers().get("flexit").await.unwrap().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let feed = dir.path().join("feed.csv");
        std::fs::write(
            &feed,
            format!("Flex IT Part Number;Description;Stock Quantity;EAN;Sales Price;SRP\nFLX-1;Phone;10;{EAN};100,00;999,00\n"),
        )
        .unwrap();
        irp_pipeline::feed::import_file(s, &r, &feed, "manual")
            .await
            .unwrap();
        let pim = |name: &str| irp_core::pim::PimProduct {
            sku: "SKU-1".into(),
            ean: EAN.into(),
            name: Some(name.into()),
            brand: None,
            model: None,
            category: None,
            attributes: serde_json::Map::new(),
            edited_at: None,
        };
        s.pim()
            .write_products(&[pim("iPhone 13")], None)
            .await
            .unwrap();
        let content = |d: &ProductDetail| {
            d.channels
                .iter()
                .find(|c| c.channel == "refurbished-direct")
                .unwrap()
                .content
                .clone()
                .unwrap()
        };
        let v = content(&ProductDetail::load(s, EAN).await.unwrap().unwrap());
        assert_eq!(
            (v.state.as_str(), v.fields.clone()),
            ("waiting", vec!["name".to_owned(), "ean".to_owned()])
        );
        let fields: Vec<&str> = v.changes.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(fields, ["name", "ean"]);
        assert_eq!(v.changes[0].after, Some(json!("iPhone 13")));
        assert_eq!(v.changes[0].before, None);

        // Pushed as it is now: up to date, nothing would change.
        let cfg = &parsed.channels[0].shopware.as_ref().unwrap().content;
        let now = irp_core::shopware::content::content(
            &irp_core::shopware::content::PimFacts {
                ean: EAN,
                name: Some("iPhone 13"),
                brand: None,
                category: None,
                attributes: &serde_json::Map::new(),
            },
            cfg,
        );
        let product = s.catalog().product(EAN).await.unwrap().unwrap();
        s.channel_sync()
            .content_checked(
                "refurbished-direct",
                &cfg.fingerprint(),
                &[ContentChecked {
                    ean: EAN.into(),
                    hash: Some(now.hash()),
                    content: serde_json::to_string(&now).ok(),
                    pim_synced_at: product.pim_synced_at,
                    pushed: true,
                    problem: None,
                }],
            )
            .await
            .unwrap();
        let v = content(&ProductDetail::load(s, EAN).await.unwrap().unwrap());
        assert_eq!(v.state, "up_to_date");
        assert!(v.changes.is_empty(), "{:?}", v.changes);
        assert!(v.pushed_at.is_some());

        // Renamed in the PIM: the name waits, with what the shop has and what it gets.
        s.pim()
            .write_products(&[pim("iPhone 13 Pro")], None)
            .await
            .unwrap();
        let v = content(&ProductDetail::load(s, EAN).await.unwrap().unwrap());
        assert_eq!(v.state, "waiting");
        assert_eq!(v.changes.len(), 1, "{:?}", v.changes);
        assert_eq!(
            (v.changes[0].before.clone(), v.changes[0].after.clone()),
            (Some(json!("iPhone 13")), Some(json!("iPhone 13 Pro")))
        );
    }
}
