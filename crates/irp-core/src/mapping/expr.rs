//! Value expressions of `order_object` / `item_object`.
//!
//! ```text
//! expr     := "%ITEMS%" | "!" [cast] text | [cast] path ("->" function)*
//! cast     := "(int)" | "(float)" | "(string)" | "(bool)"
//! path     := segment ("." segment)*
//! ```
//! `!text` is the literal `text`, a string unless cast; a path reads the supplier-order
//! context; functions apply left to right, then the cast.

use std::fmt;

use super::context::{self, Scope, Ty};
use crate::config::suggest::did_you_mean;

/// A type conversion applied last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cast {
    /// A JSON integer.
    Int,
    /// A JSON number with decimals.
    Float,
    /// A JSON string.
    String,
    /// A JSON boolean.
    Bool,
}

impl Cast {
    /// Every cast name.
    pub const NAMES: [&'static str; 4] = ["int", "float", "string", "bool"];

    fn from_name(name: &str) -> Option<Cast> {
        Some(match name {
            "int" => Cast::Int,
            "float" => Cast::Float,
            "string" => Cast::String,
            "bool" => Cast::Bool,
            _ => return None,
        })
    }
}

impl fmt::Display for Cast {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Cast::Int => "int",
            Cast::Float => "float",
            Cast::String => "string",
            Cast::Bool => "bool",
        })
    }
}

/// A named function applied with `->`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    /// Country (object or name/code) → ISO 3166 alpha-2 code (`NL`).
    GetIsoAlpha2,
    /// Country (object or name/code) → ISO 3166 alpha-3 code (`NLD`).
    GetIsoAlpha3,
    /// Number → string with exactly two decimals and `.` (`123.45`).
    FormatByDecimal,
    /// String → upper case.
    Upper,
    /// String → lower case.
    Lower,
    /// String → without surrounding whitespace.
    Trim,
}

impl Function {
    /// Every function, with its name.
    pub const ALL: [(&'static str, Function); 6] = [
        ("getIsoAlpha2", Function::GetIsoAlpha2),
        ("getIsoAlpha3", Function::GetIsoAlpha3),
        ("formatByDecimal", Function::FormatByDecimal),
        ("upper", Function::Upper),
        ("lower", Function::Lower),
        ("trim", Function::Trim),
    ];

    /// The function's name as written after `->`.
    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, f)| *f == self)
            .map_or("?", |(n, _)| n)
    }

    fn from_name(name: &str) -> Option<Function> {
        Self::ALL.iter().find(|(n, _)| *n == name).map(|(_, f)| *f)
    }

    /// The result type for an input type, or why the input does not fit.
    fn apply(self, input: &Ty) -> Result<Ty, String> {
        let ok = match self {
            Function::GetIsoAlpha2 | Function::GetIsoAlpha3 => {
                matches!(input, Ty::Country | Ty::String)
            }
            Function::FormatByDecimal => matches!(input, Ty::Int | Ty::Decimal | Ty::String),
            Function::Upper | Function::Lower | Function::Trim => input.is_scalar(),
        };
        if ok {
            Ok(Ty::String)
        } else {
            Err(format!(
                "`->{}` cannot take {}",
                self.name(),
                input.describe()
            ))
        }
    }
}

/// A parsed expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    /// `%ITEMS%`: the array built by applying `item_object` to every item.
    Items,
    /// `!text`, optionally cast.
    Literal {
        /// Cast applied to the text.
        cast: Option<Cast>,
        /// The text after `!` and the cast.
        text: String,
    },
    /// A context path with functions and an optional cast.
    Path {
        /// Cast applied last.
        cast: Option<Cast>,
        /// Path segments.
        path: Vec<String>,
        /// Functions, applied left to right.
        functions: Vec<Function>,
    },
}

fn split_cast(s: &str) -> Result<(Option<Cast>, &str), String> {
    let Some(rest) = s.strip_prefix('(') else {
        return Ok((None, s));
    };
    let Some(end) = rest.find(')') else {
        return Err(format!(
            "`(` opens a cast that is not closed, expected one of {}",
            cast_list()
        ));
    };
    let name = &rest[..end];
    match Cast::from_name(name) {
        Some(c) => Ok((Some(c), &rest[end + 1..])),
        None => {
            let mut msg = format!("unknown cast `({name})`, expected one of {}", cast_list());
            if let Some(s) = did_you_mean(name, Cast::NAMES) {
                msg.push_str(&format!("; did you mean `({s})`?"));
            }
            Err(msg)
        }
    }
}

fn cast_list() -> String {
    Cast::NAMES.map(|n| format!("`({n})`")).join(", ")
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Parse an expression (syntax only; see [`check`] for paths and types).
///
/// # Errors
/// A message naming what is malformed.
pub fn parse(src: &str) -> Result<Expr, String> {
    if src == "%ITEMS%" {
        return Ok(Expr::Items);
    }
    if let Some(lit) = src.strip_prefix('!') {
        let (cast, text) = split_cast(lit)?;
        check_literal(cast, text)?;
        return Ok(Expr::Literal {
            cast,
            text: text.to_owned(),
        });
    }
    let trimmed = src.trim();
    if trimmed.is_empty() {
        return Err("empty expression: write a context path, `!literal` or `%ITEMS%`".into());
    }
    if trimmed.starts_with('%') {
        return Err(format!(
            "unknown placeholder `{trimmed}`, the only one is `%ITEMS%`"
        ));
    }
    let (cast, rest) = split_cast(trimmed)?;
    let mut parts = rest.split("->");
    let path_text = parts.next().unwrap_or_default().trim();
    if path_text.is_empty() {
        return Err("missing path before `->`".into());
    }
    let path: Vec<String> = path_text.split('.').map(str::to_owned).collect();
    for seg in &path {
        if !is_identifier(seg) && !seg.bytes().all(|b| b.is_ascii_digit()) || seg.is_empty() {
            return Err(format!(
                "`{path_text}` is not a path (segments of letters, digits and `_` joined by `.`); \
                 for a literal text write `!{src}`"
            ));
        }
    }
    let mut functions = Vec::new();
    for name in parts {
        let name = name.trim();
        match Function::from_name(name) {
            Some(f) => functions.push(f),
            None => {
                let names = Function::ALL.map(|(n, _)| n);
                let mut msg = format!(
                    "unknown function `->{name}`, expected one of {}",
                    names.join(", ")
                );
                if let Some(s) = did_you_mean(name, names) {
                    msg.push_str(&format!("; did you mean `->{s}`?"));
                }
                return Err(msg);
            }
        }
    }
    Ok(Expr::Path {
        cast,
        path,
        functions,
    })
}

fn check_literal(cast: Option<Cast>, text: &str) -> Result<(), String> {
    let ok = match cast {
        None | Some(Cast::String) => true,
        Some(Cast::Int) => text.parse::<i64>().is_ok(),
        Some(Cast::Float) => crate::money::parse_plain_decimal(text).is_some(),
        Some(Cast::Bool) => matches!(text, "true" | "false" | "1" | "0"),
    };
    if ok {
        Ok(())
    } else {
        let want = match cast {
            Some(Cast::Int) => "an integer",
            Some(Cast::Float) => "a decimal number like 12.5",
            _ => "true, false, 1 or 0",
        };
        Err(format!(
            "`{text}` cannot be cast to ({}), expected {want}",
            cast.map_or(String::new(), |c| c.to_string())
        ))
    }
}

fn cast_accepts(cast: Cast, ty: &Ty) -> bool {
    match cast {
        Cast::String => ty.is_scalar(),
        Cast::Int | Cast::Float => matches!(ty, Ty::Int | Ty::Decimal | Ty::String | Ty::Bool),
        Cast::Bool => matches!(ty, Ty::Bool | Ty::Int | Ty::String),
    }
}

/// Check an expression against a scope of the supplier-order context: every path segment
/// exists, every function takes what it is given, the cast fits, and the result is a value
/// (not an object or array).
///
/// # Errors
/// A message naming the offending part, with a suggestion where one is close.
pub fn check(expr: &Expr, scope: Scope) -> Result<(), String> {
    let Expr::Path {
        cast,
        path,
        functions,
    } = expr
    else {
        return Ok(());
    };
    let mut ty = context::resolve(scope, path)?;
    for f in functions {
        ty = f.apply(&ty)?;
    }
    let shown = path.join(".");
    if let Some(c) = cast {
        if !cast_accepts(*c, &ty) {
            return Err(format!(
                "`{shown}` is {}, which cannot be cast to ({c})",
                ty.describe()
            ));
        }
        return Ok(());
    }
    match ty {
        Ty::Country => Err(format!(
            "`{shown}` is a country object; pick `{shown}.iso_alpha2`, `.iso_alpha3`, `.name`, or apply `->getIsoAlpha2`"
        )),
        Ty::Object(_) => Err(format!("`{shown}` is an object; pick one of its fields")),
        Ty::Array(_) => Err(format!(
            "`{shown}` is a list; use `%ITEMS%` with an `item_object` to send the items"
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(src: &str, scope: Scope) {
        let e = parse(src).unwrap_or_else(|e| panic!("{src}: {e}"));
        check(&e, scope).unwrap_or_else(|e| panic!("{src}: {e}"));
    }

    fn err(src: &str, scope: Scope) -> String {
        match parse(src) {
            Err(e) => e,
            Ok(e) => check(&e, scope).expect_err(src),
        }
    }

    #[test]
    fn every_expression_of_the_flexit_seed_is_valid() {
        for src in [
            "!(int)218535",
            "order.order_number",
            "(string)id",
            "!EUR",
            "!(bool)true",
            "orderShippingAddress.full_name",
            "!no-reply@iused.nl",
            "!0612345678",
            "orderShippingAddress.zipcode",
            "orderShippingAddress.country->getIsoAlpha2",
            "orderShippingAddress.city",
            "orderShippingAddress.full_address",
            "%ITEMS%",
        ] {
            ok(src, Scope::SupplierOrder);
        }
        for src in [
            "productVariant.refurbisherOffer.sku",
            "quantity",
            "(float)unit_price_tax_excl->formatByDecimal",
        ] {
            ok(src, Scope::Item);
        }
    }

    #[test]
    fn parses_the_parts() {
        assert_eq!(
            parse("(float)unit_price_tax_excl->formatByDecimal").unwrap(),
            Expr::Path {
                cast: Some(Cast::Float),
                path: vec!["unit_price_tax_excl".into()],
                functions: vec![Function::FormatByDecimal]
            }
        );
        assert_eq!(
            parse("!0612345678").unwrap(),
            Expr::Literal {
                cast: None,
                text: "0612345678".into()
            }
        );
        assert_eq!(
            parse("! spaced ").unwrap(),
            Expr::Literal {
                cast: None,
                text: " spaced ".into()
            }
        );
    }

    #[test]
    fn mistakes_are_named() {
        assert_eq!(
            err("orderShippingAddress.zipcod", Scope::SupplierOrder),
            "unknown field `zipcod` in `orderShippingAddress.zipcod`; did you mean `zipcode`?"
        );
        assert_eq!(
            err(
                "orderShippingAddress.country->getIsoAlpha",
                Scope::SupplierOrder
            ),
            "unknown function `->getIsoAlpha`, expected one of getIsoAlpha2, getIsoAlpha3, formatByDecimal, upper, lower, trim; did you mean `->getIsoAlpha2`?"
        );
        assert_eq!(
            err("(integer)id", Scope::SupplierOrder),
            "unknown cast `(integer)`, expected one of `(int)`, `(float)`, `(string)`, `(bool)`"
        );
        assert_eq!(
            err("!(int)12a", Scope::SupplierOrder),
            "`12a` cannot be cast to (int), expected an integer"
        );
        assert_eq!(
            err("quantity", Scope::SupplierOrder),
            "unknown field `quantity` at the top of the supplier-order context; it exists inside `item_object`"
        );
        assert!(
            err("orderShippingAddress.country", Scope::SupplierOrder).contains("country object")
        );
        assert!(err("items", Scope::SupplierOrder).contains("%ITEMS%"));
        assert!(err("%ITEM%", Scope::SupplierOrder).contains("%ITEMS%"));
        assert!(err("EUR price", Scope::SupplierOrder).contains("!EUR price"));
        assert!(
            err("order.placed_at->formatByDecimal", Scope::SupplierOrder).contains("cannot take")
        );
    }
}
