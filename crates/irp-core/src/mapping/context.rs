//! The supplier-order context: what paths in `order_object` and `item_object` can read.
//!
//! Names mirror the seeds (`orderShippingAddress`, `productVariant.refurbisherOffer`);
//! `docs/order-mapping.md` documents every field.

use crate::config::suggest::did_you_mean;

/// The type of a context field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ty {
    /// An integer.
    Int,
    /// An exact decimal (money, percentages).
    Decimal,
    /// A string.
    String,
    /// A boolean.
    Bool,
    /// A timestamp (RFC 3339 string).
    Timestamp,
    /// A country: `{iso_alpha2, iso_alpha3, name}`.
    Country,
    /// An object with named fields.
    Object(&'static [Field]),
    /// A list.
    Array(&'static [Field]),
}

impl Ty {
    /// Whether the type is a single JSON value (not an object or list).
    pub fn is_scalar(&self) -> bool {
        matches!(
            self,
            Ty::Int | Ty::Decimal | Ty::String | Ty::Bool | Ty::Timestamp
        )
    }

    /// "a number", "a string", … for messages.
    pub fn describe(&self) -> &'static str {
        match self {
            Ty::Int => "an integer",
            Ty::Decimal => "a decimal number",
            Ty::String => "a string",
            Ty::Bool => "a boolean",
            Ty::Timestamp => "a timestamp",
            Ty::Country => "a country object",
            Ty::Object(_) => "an object",
            Ty::Array(_) => "a list",
        }
    }
}

/// One named field of the context.
#[derive(Debug, PartialEq, Eq)]
pub struct Field {
    /// The name used in paths.
    pub name: &'static str,
    /// Its type.
    pub ty: Ty,
    /// What it holds.
    pub doc: &'static str,
}

const fn f(name: &'static str, ty: Ty, doc: &'static str) -> Field {
    Field { name, ty, doc }
}

/// Fields of a country object.
pub const COUNTRY: &[Field] = &[
    f("iso_alpha2", Ty::String, "ISO 3166-1 alpha-2 code, `NL`"),
    f("iso_alpha3", Ty::String, "ISO 3166-1 alpha-3 code, `NLD`"),
    f("name", Ty::String, "English short name, `Netherlands`"),
];

/// Fields of `orderShippingAddress` and `orderBillingAddress`.
pub const ADDRESS: &[Field] = &[
    f(
        "full_name",
        Ty::String,
        "first and last name joined by a space",
    ),
    f("first_name", Ty::String, "first name"),
    f("last_name", Ty::String, "last name"),
    f("company", Ty::String, "company name, empty when none"),
    f("street", Ty::String, "street name"),
    f("house_number", Ty::String, "house number"),
    f(
        "house_number_addition",
        Ty::String,
        "house number addition, empty when none",
    ),
    f(
        "full_address",
        Ty::String,
        "street, house number and addition: `Damrak 1 A`",
    ),
    f("zipcode", Ty::String, "postal code as given"),
    f("city", Ty::String, "city"),
    f("phone", Ty::String, "phone number, empty when none"),
    f("email", Ty::String, "the customer's e-mail address"),
    f(
        "country",
        Ty::Country,
        "the country; use `->getIsoAlpha2` or a field",
    ),
];

const OFFER: &[Field] = &[
    f(
        "sku",
        Ty::String,
        "the refurbisher's SKU of the offer the line was routed to",
    ),
    f("ean", Ty::String, "the offer's EAN"),
    f(
        "name",
        Ty::String,
        "the offer's name in the refurbisher's feed",
    ),
    f(
        "price_purchase_amount",
        Ty::Decimal,
        "the purchase price excl. VAT frozen on the line",
    ),
];

const VARIANT: &[Field] = &[
    f("ean", Ty::String, "the product's EAN"),
    f(
        "sku",
        Ty::String,
        "the product's SKU in IRP (products are keyed by EAN, so this is the EAN)",
    ),
    f("name", Ty::String, "the product's name"),
    f(
        "refurbisherOffer",
        Ty::Object(OFFER),
        "the refurbisher's offer the line was routed to",
    ),
];

/// Fields of one item (the scope of `item_object`).
pub const ITEM: &[Field] = &[
    f("id", Ty::Int, "the order line id"),
    f("quantity", Ty::Int, "number of units"),
    f(
        "unit_price_tax_excl",
        Ty::Decimal,
        "what IRP pays the refurbisher per unit, excl. VAT (the frozen purchase price)",
    ),
    f("unit_price_tax_incl", Ty::Decimal, "the same incl. VAT"),
    f("tax_percentage", Ty::Decimal, "the VAT percentage, `21`"),
    f("productVariant", Ty::Object(VARIANT), "the product sold"),
];

const ORDER: &[Field] = &[
    f("id", Ty::Int, "IRP's order id"),
    f("order_number", Ty::String, "the channel's order number"),
    f(
        "channel",
        Ty::String,
        "the channel key, `refurbished-direct`",
    ),
    f(
        "placed_at",
        Ty::Timestamp,
        "when the customer placed the order",
    ),
    f("email", Ty::String, "the customer's e-mail address"),
];

const REFURBISHER: &[Field] = &[
    f("key", Ty::String, "the connector key, `flexit`"),
    f("refurbisher_id", Ty::Int, "the refurbisher id"),
    f("supplier_id", Ty::Int, "the supplier id"),
    f("odoo_vendor_id", Ty::Int, "the Odoo vendor id"),
];

/// The top level of the context (the scope of `order_object`).
pub const SUPPLIER_ORDER: &[Field] = &[
    f("id", Ty::Int, "the supplier order id"),
    f("order", Ty::Object(ORDER), "the customer order"),
    f(
        "orderShippingAddress",
        Ty::Object(ADDRESS),
        "where the refurbisher ships to",
    ),
    f(
        "orderBillingAddress",
        Ty::Object(ADDRESS),
        "the billing address (the shipping address when none was given)",
    ),
    f(
        "refurbisher",
        Ty::Object(REFURBISHER),
        "the refurbisher the order is placed at",
    ),
    f(
        "items",
        Ty::Array(ITEM),
        "the items; send them with `%ITEMS%`",
    ),
];

/// Where a path starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The whole supplier order (`order_object`).
    SupplierOrder,
    /// One item (`item_object`).
    Item,
}

impl Scope {
    fn fields(self) -> &'static [Field] {
        match self {
            Scope::SupplierOrder => SUPPLIER_ORDER,
            Scope::Item => ITEM,
        }
    }
}

fn lookup(fields: &'static [Field], name: &str) -> Option<&'static Field> {
    fields.iter().find(|f| f.name == name)
}

/// The type at `path` within `scope`.
///
/// # Errors
/// A message naming the first unknown segment, with a suggestion.
pub fn resolve(scope: Scope, path: &[String]) -> Result<Ty, String> {
    let shown = path.join(".");
    let mut ty = Ty::Object(scope.fields());
    for (i, seg) in path.iter().enumerate() {
        let fields: &'static [Field] = match &ty {
            Ty::Object(fields) => fields,
            Ty::Country => COUNTRY,
            Ty::Array(item) if seg.bytes().all(|b| b.is_ascii_digit()) => {
                ty = Ty::Object(item);
                continue;
            }
            other => {
                return Err(format!(
                    "`{}` is {} and has no field `{seg}`",
                    path[..i].join("."),
                    other.describe()
                ));
            }
        };
        match lookup(fields, seg) {
            Some(field) => ty = field.ty.clone(),
            None => {
                let mut msg = if i == 0 {
                    format!(
                        "unknown field `{seg}` at the top of the {} context",
                        match scope {
                            Scope::SupplierOrder => "supplier-order",
                            Scope::Item => "item",
                        }
                    )
                } else {
                    format!("unknown field `{seg}` in `{shown}`")
                };
                if i == 0 && scope == Scope::SupplierOrder && lookup(ITEM, seg).is_some() {
                    msg.push_str("; it exists inside `item_object`");
                } else if i == 0 && scope == Scope::Item && lookup(SUPPLIER_ORDER, seg).is_some() {
                    msg.push_str("; paths in `item_object` start at one item");
                } else if let Some(s) = did_you_mean(seg, fields.iter().map(|f| f.name)) {
                    msg.push_str(&format!("; did you mean `{s}`?"));
                }
                return Err(msg);
            }
        }
    }
    Ok(ty)
}

/// Every path of a scope with its type and description, depth first (`order.order_number`,
/// `orderShippingAddress.country.iso_alpha2`, `items.*.quantity`): the source of the
/// reference in `docs/order-mapping.md`.
pub fn paths(scope: Scope) -> Vec<(String, &'static str, &'static str)> {
    fn walk(
        fields: &'static [Field],
        prefix: &str,
        out: &mut Vec<(String, &'static str, &'static str)>,
    ) {
        for f in fields {
            let path = if prefix.is_empty() {
                f.name.to_owned()
            } else {
                format!("{prefix}.{}", f.name)
            };
            out.push((path.clone(), f.ty.describe(), f.doc));
            match &f.ty {
                Ty::Object(inner) => walk(inner, &path, out),
                Ty::Country => walk(COUNTRY, &path, out),
                _ => {}
            }
        }
    }
    let mut out = Vec::new();
    walk(scope.fields(), "", &mut out);
    out
}

/// The supplier-order context as data: serialised, it has exactly the fields of
/// [`SUPPLIER_ORDER`] (a test keeps the two in step). Decimals serialise as strings.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SupplierOrderContext {
    /// The supplier order id.
    pub id: i64,
    /// The customer order.
    pub order: OrderContext,
    /// Where the refurbisher ships to.
    #[serde(rename = "orderShippingAddress")]
    pub shipping_address: AddressContext,
    /// The billing address (the shipping address when none was given).
    #[serde(rename = "orderBillingAddress")]
    pub billing_address: AddressContext,
    /// The refurbisher.
    pub refurbisher: RefurbisherContext,
    /// The items.
    pub items: Vec<ItemContext>,
}

/// `order`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct OrderContext {
    /// IRP's order id.
    pub id: i64,
    /// The channel's order number.
    pub order_number: String,
    /// The channel key.
    pub channel: String,
    /// RFC 3339.
    pub placed_at: String,
    /// The customer's e-mail address.
    pub email: String,
}

/// `orderShippingAddress` / `orderBillingAddress`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AddressContext {
    /// First and last name joined by a space.
    pub full_name: String,
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
    /// Company, empty when none.
    pub company: String,
    /// Street.
    pub street: String,
    /// House number.
    pub house_number: String,
    /// Addition, empty when none.
    pub house_number_addition: String,
    /// Street, number and addition.
    pub full_address: String,
    /// Postal code.
    pub zipcode: String,
    /// City.
    pub city: String,
    /// Phone, empty when none.
    pub phone: String,
    /// The customer's e-mail address.
    pub email: String,
    /// The country.
    pub country: CountryContext,
}

/// A country in the context.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CountryContext {
    /// `NL`.
    pub iso_alpha2: String,
    /// `NLD`.
    pub iso_alpha3: String,
    /// `Netherlands`.
    pub name: String,
}

/// `refurbisher`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RefurbisherContext {
    /// The connector key.
    pub key: String,
    /// The refurbisher id.
    pub refurbisher_id: i64,
    /// The supplier id, when set.
    pub supplier_id: Option<i64>,
    /// The Odoo vendor id, when set.
    pub odoo_vendor_id: Option<i64>,
}

/// One item of `items`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ItemContext {
    /// The order line id.
    pub id: i64,
    /// Units.
    pub quantity: i64,
    /// The frozen purchase price per unit, excl. VAT.
    pub unit_price_tax_excl: rust_decimal::Decimal,
    /// The same incl. VAT.
    pub unit_price_tax_incl: rust_decimal::Decimal,
    /// The VAT percentage.
    pub tax_percentage: rust_decimal::Decimal,
    /// The product sold.
    #[serde(rename = "productVariant")]
    pub product_variant: VariantContext,
}

/// `productVariant`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct VariantContext {
    /// The product's EAN.
    pub ean: String,
    /// The product's SKU in IRP.
    pub sku: String,
    /// The product's name.
    pub name: String,
    /// The offer the line was routed to.
    #[serde(rename = "refurbisherOffer")]
    pub refurbisher_offer: OfferContext,
}

/// `productVariant.refurbisherOffer`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct OfferContext {
    /// The refurbisher's SKU.
    pub sku: String,
    /// The offer's EAN.
    pub ean: String,
    /// The offer's feed name.
    pub name: String,
    /// The frozen purchase price excl. VAT.
    pub price_purchase_amount: rust_decimal::Decimal,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Vec<String> {
        s.split('.').map(str::to_owned).collect()
    }

    #[test]
    fn resolves_nested_fields() {
        assert_eq!(
            resolve(
                Scope::SupplierOrder,
                &p("orderShippingAddress.country.iso_alpha2")
            ),
            Ok(Ty::String)
        );
        assert_eq!(
            resolve(Scope::SupplierOrder, &p("items.0.quantity")),
            Ok(Ty::Int)
        );
        assert_eq!(
            resolve(
                Scope::Item,
                &p("productVariant.refurbisherOffer.price_purchase_amount")
            ),
            Ok(Ty::Decimal)
        );
        assert!(
            resolve(Scope::SupplierOrder, &p("id.x"))
                .unwrap_err()
                .contains("has no field")
        );
    }
}
