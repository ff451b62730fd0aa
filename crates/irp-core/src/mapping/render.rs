//! Building the request body: `order_object` (and `item_object` for `%ITEMS%`) applied to a
//! supplier-order context.
//!
//! The context is the JSON form of [`SupplierOrderContext`](super::context::SupplierOrderContext);
//! the type of every path comes from the context schema, so a decimal (sent as a string in the
//! context) becomes a JSON number, an integer stays an integer. Functions apply left to right,
//! then the cast. A `null` passes through functions and casts unchanged.

use std::fmt;

use rust_decimal::{Decimal, RoundingStrategy};
use serde_json::{Map, Number, Value};

use super::context::{self, Scope, Ty};
use super::expr::{self, Cast, Expr, Function};
use crate::config::model::OrderConfig;
use crate::money::parse_plain_decimal;
use crate::values::country;

/// Why a body could not be built: the mapping key, its expression and what went wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderError {
    /// `order_object.shipping.address.countryCode`, `item_object.unitPrice (item 2)`.
    pub key: String,
    /// The expression as configured.
    pub expr: String,
    /// What went wrong.
    pub message: String,
}

impl fmt::Display for RenderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {}: {}",
            self.key,
            Value::String(self.expr.clone()),
            self.message
        )
    }
}

impl std::error::Error for RenderError {}

/// The request body for the supplier order `ctx` (the JSON of a
/// [`SupplierOrderContext`](super::context::SupplierOrderContext)).
///
/// # Errors
/// The first mapping key whose value cannot be built.
pub fn render(order: &OrderConfig, ctx: &Value) -> Result<Value, RenderError> {
    let mut r = Renderer {
        items: order.item_object.as_ref(),
        ctx,
    };
    r.object(
        &order.order_object,
        Scope::SupplierOrder,
        ctx,
        "order_object",
        "",
    )
}

struct Renderer<'a> {
    items: Option<&'a Map<String, Value>>,
    ctx: &'a Value,
}

impl Renderer<'_> {
    fn object(
        &mut self,
        map: &Map<String, Value>,
        scope: Scope,
        at: &Value,
        root: &str,
        suffix: &str,
    ) -> Result<Value, RenderError> {
        let mut out = Map::new();
        self.fill(&mut out, map, scope, at, root, "", suffix)?;
        Ok(Value::Object(out))
    }

    #[allow(clippy::too_many_arguments)]
    fn fill(
        &mut self,
        out: &mut Map<String, Value>,
        map: &Map<String, Value>,
        scope: Scope,
        at: &Value,
        root: &str,
        prefix: &str,
        suffix: &str,
    ) -> Result<(), RenderError> {
        for (k, v) in map {
            let key = if prefix.is_empty() {
                k.clone()
            } else {
                format!("{prefix}.{k}")
            };
            let fail = |expr: &str, message: String| RenderError {
                key: format!("{root}.{key}{suffix}"),
                expr: expr.to_owned(),
                message,
            };
            let value = match v {
                Value::String(src) => {
                    let e = expr::parse(src).map_err(|m| fail(src, m))?;
                    if e == Expr::Items {
                        self.items_array().map_err(|m| fail(src, m))?
                    } else {
                        eval(&e, scope, at).map_err(|m| fail(src, m))?
                    }
                }
                Value::Object(inner) => {
                    let mut nested = Map::new();
                    self.fill(&mut nested, inner, scope, at, root, &key, suffix)?;
                    Value::Object(nested)
                }
                other => other.clone(),
            };
            put(out, k, value).map_err(|m| fail("", m))?;
        }
        Ok(())
    }

    fn items_array(&mut self) -> Result<Value, String> {
        let Some(item_object) = self.items else {
            return Err("`%ITEMS%` needs an `item_object`".into());
        };
        let items = match self.ctx.get("items") {
            Some(Value::Array(a)) => a.clone(),
            _ => Vec::new(),
        };
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let rendered = self
                .object(
                    item_object,
                    Scope::Item,
                    item,
                    "item_object",
                    &format!(" (item {})", i + 1),
                )
                .map_err(|e| e.to_string())?;
            out.push(rendered);
        }
        Ok(Value::Array(out))
    }
}

/// Put `value` at the dotted `key` of `out`, creating the objects on the way.
fn put(out: &mut Map<String, Value>, key: &str, value: Value) -> Result<(), String> {
    let mut segments = key.split('.').peekable();
    let mut cur = out;
    while let Some(seg) = segments.next() {
        if segments.peek().is_none() {
            if cur.contains_key(seg) {
                return Err(format!("`{seg}` is set twice"));
            }
            cur.insert(seg.to_owned(), value);
            return Ok(());
        }
        let slot = cur
            .entry(seg.to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
        cur = match slot {
            Value::Object(m) => m,
            _ => {
                return Err(format!(
                    "`{seg}` is already a value, it cannot hold `{key}`"
                ));
            }
        };
    }
    Ok(())
}

/// A value while an expression is evaluated.
#[derive(Debug, Clone, PartialEq)]
enum V {
    Null,
    Int(i64),
    Dec(Decimal),
    /// A `(float)` result: always a JSON number with a fraction (`123.0`).
    Float(Decimal),
    Str(String),
    Bool(bool),
    Country(country::Country),
}

impl V {
    fn shown(&self) -> String {
        match self {
            V::Null => "null".into(),
            V::Int(i) => i.to_string(),
            V::Dec(d) | V::Float(d) => d.to_string(),
            V::Str(s) => Value::String(s.clone()).to_string(),
            V::Bool(b) => b.to_string(),
            V::Country(c) => c.alpha2.to_owned(),
        }
    }

    fn text(&self) -> String {
        match self {
            V::Null => String::new(),
            V::Int(i) => i.to_string(),
            V::Dec(d) | V::Float(d) => d.to_string(),
            V::Str(s) => s.clone(),
            V::Bool(b) => b.to_string(),
            V::Country(c) => c.alpha2.to_owned(),
        }
    }

    fn into_json(self) -> Value {
        match self {
            V::Null => Value::Null,
            V::Int(i) => Value::from(i),
            V::Dec(d) => decimal_number(d),
            V::Float(d) => d
                .to_string()
                .parse::<f64>()
                .ok()
                .and_then(Number::from_f64)
                .map_or_else(|| Value::String(d.to_string()), Value::Number),
            V::Str(s) => Value::String(s),
            V::Bool(b) => Value::Bool(b),
            V::Country(c) => Value::String(c.alpha2.to_owned()),
        }
    }
}

/// A decimal as a JSON number (`123.45`; integral values as integers).
fn decimal_number(d: Decimal) -> Value {
    let n = d.normalize();
    if n.scale() == 0
        && let Ok(i) = i64::try_from(n.mantissa())
    {
        return Value::from(i);
    }
    n.to_string()
        .parse::<f64>()
        .ok()
        .and_then(Number::from_f64)
        .map_or_else(|| Value::String(n.to_string()), Value::Number)
}

/// The value of a context path, read as its schema type.
fn read(scope: Scope, path: &[String], at: &Value) -> Result<V, String> {
    let ty = context::resolve(scope, path)?;
    let mut cur = at;
    for seg in path {
        let next = match cur {
            Value::Object(m) => m.get(seg),
            Value::Array(a) => seg.parse::<usize>().ok().and_then(|i| a.get(i)),
            _ => None,
        };
        match next {
            Some(v) => cur = v,
            None => return Ok(V::Null),
        }
    }
    Ok(match (&ty, cur) {
        (_, Value::Null) => V::Null,
        (Ty::Int, Value::Number(n)) => n.as_i64().map_or(V::Null, V::Int),
        (Ty::Decimal, Value::String(s)) => parse_plain_decimal(s).map_or(V::Null, V::Dec),
        (Ty::Decimal, Value::Number(n)) => {
            parse_plain_decimal(&n.to_string()).map_or(V::Null, V::Dec)
        }
        (Ty::Bool, Value::Bool(b)) => V::Bool(*b),
        (Ty::String | Ty::Timestamp, Value::String(s)) => V::Str(s.clone()),
        (Ty::Country, Value::Object(m)) => m
            .get("iso_alpha2")
            .and_then(Value::as_str)
            .and_then(country::by_alpha2)
            .map_or(V::Null, V::Country),
        (Ty::Object(_) | Ty::Array(_), _) => {
            return Err(format!(
                "`{}` is {}, not a value",
                path.join("."),
                ty.describe()
            ));
        }
        (_, other) => {
            return Err(format!(
                "`{}` holds {other}, expected {}",
                path.join("."),
                ty.describe()
            ));
        }
    })
}

fn eval(e: &Expr, scope: Scope, at: &Value) -> Result<Value, String> {
    let (value, cast) = match e {
        Expr::Items => return Err("`%ITEMS%` is only valid as a whole value".into()),
        Expr::Literal { cast, text } => (V::Str(text.clone()), *cast),
        Expr::Path {
            cast,
            path,
            functions,
        } => {
            let mut v = read(scope, path, at)?;
            for f in functions {
                v = apply(*f, v)?;
            }
            (v, *cast)
        }
    };
    let value = match cast {
        None => value,
        Some(c) => cast_to(c, value)?,
    };
    if let V::Country(c) = value {
        return Err(format!(
            "a country object cannot be sent as it is ({}); apply `->getIsoAlpha2` or pick a field",
            c.name
        ));
    }
    Ok(value.into_json())
}

fn apply(f: Function, v: V) -> Result<V, String> {
    if v == V::Null {
        return Ok(V::Null);
    }
    Ok(match f {
        Function::GetIsoAlpha2 | Function::GetIsoAlpha3 => {
            let c = match &v {
                V::Country(c) => *c,
                V::Str(s) => country::lookup(s).ok_or_else(|| {
                    format!(
                        "`->{}`: {} is not a country (an ISO 3166-1 code or English name)",
                        f.name(),
                        v.shown()
                    )
                })?,
                other => {
                    return Err(format!(
                        "`->{}` takes a country, got {}",
                        f.name(),
                        other.shown()
                    ));
                }
            };
            V::Str(
                if f == Function::GetIsoAlpha2 {
                    c.alpha2
                } else {
                    c.alpha3
                }
                .to_owned(),
            )
        }
        Function::FormatByDecimal => {
            let d = match &v {
                V::Int(i) => Decimal::from(*i),
                V::Dec(d) | V::Float(d) => *d,
                V::Str(s) => parse_plain_decimal(s).ok_or_else(|| {
                    format!(
                        "`->formatByDecimal` takes a number, got {} (decimals with `.`, like 12.5)",
                        v.shown()
                    )
                })?,
                other => {
                    return Err(format!(
                        "`->formatByDecimal` takes a number, got {}",
                        other.shown()
                    ));
                }
            };
            let r = d.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero);
            V::Str(format!("{r:.2}"))
        }
        Function::Upper => V::Str(v.text().to_uppercase()),
        Function::Lower => V::Str(v.text().to_lowercase()),
        Function::Trim => V::Str(v.text().trim().to_owned()),
    })
}

fn cast_to(c: Cast, v: V) -> Result<V, String> {
    let fail = |v: &V, want: &str| {
        Err(format!(
            "{} cannot be cast to ({c}), expected {want}",
            v.shown()
        ))
    };
    Ok(match (c, &v) {
        (_, V::Null) => V::Null,
        (Cast::String, _) => V::Str(v.text()),
        (Cast::Int, V::Int(_)) => v,
        (Cast::Int, V::Dec(d) | V::Float(d)) if d.fract().is_zero() => match i64::try_from(*d) {
            Ok(i) => V::Int(i),
            Err(_) => return fail(&v, "an integer"),
        },
        (Cast::Int, V::Str(s)) => match s.trim().parse::<i64>() {
            Ok(i) => V::Int(i),
            Err(_) => return fail(&v, "an integer"),
        },
        (Cast::Int, V::Bool(b)) => V::Int(i64::from(*b)),
        (Cast::Int, _) => return fail(&v, "an integer"),
        (Cast::Float, V::Int(i)) => V::Float(Decimal::from(*i)),
        (Cast::Float, V::Dec(d) | V::Float(d)) => V::Float(*d),
        (Cast::Float, V::Str(s)) => match parse_plain_decimal(s) {
            Some(d) => V::Float(d),
            None => return fail(&v, "a number with `.` decimals"),
        },
        (Cast::Float, _) => return fail(&v, "a number"),
        (Cast::Bool, V::Bool(_)) => v,
        (Cast::Bool, V::Int(0)) => V::Bool(false),
        (Cast::Bool, V::Int(1)) => V::Bool(true),
        (Cast::Bool, V::Str(s)) => match s.trim() {
            "true" | "1" => V::Bool(true),
            "false" | "0" => V::Bool(false),
            _ => return fail(&v, "true, false, 1 or 0"),
        },
        (Cast::Bool, _) => return fail(&v, "true, false, 1 or 0"),
    })
}
