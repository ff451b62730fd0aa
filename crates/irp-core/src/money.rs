//! Money: exact decimal amounts (never floats) and ISO 4217 currencies.

use rust_decimal::Decimal;

/// Active ISO 4217 currency codes.
const ISO_4217: &str = "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD \
BTN BWP BYN BZD CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP \
GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW \
KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD \
NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP \
SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD UYU UZS VES VND VUV \
WST XAF XCD XOF XPF YER ZAR ZMW ZWG";

/// Whether `code` is an active ISO 4217 currency code (upper case, as `EUR`).
pub fn is_currency(code: &str) -> bool {
    code.len() == 3 && ISO_4217.split_ascii_whitespace().any(|c| c == code)
}

/// How many decimals the currency's minor unit has (`EUR` 2, `JPY` 0, `KWD` 3).
pub fn minor_digits(code: &str) -> u32 {
    match code {
        "BIF" | "CLP" | "DJF" | "GNF" | "ISK" | "JPY" | "KMF" | "KRW" | "PYG" | "RWF" | "UGX"
        | "VND" | "VUV" | "XAF" | "XOF" | "XPF" => 0,
        "BHD" | "IQD" | "JOD" | "KWD" | "LYD" | "OMR" | "TND" => 3,
        _ => 2,
    }
}

/// Why a configured amount was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    /// Not a number or a decimal string.
    #[error("expected an amount as a decimal string like \"4.38\" or a number, got {0}")]
    NotAnAmount(String),
    /// Below zero.
    #[error("must not be negative, got {0}")]
    Negative(String),
    /// More decimals than the currency has.
    #[error("{value} has more decimals than {currency} has ({digits})")]
    TooPrecise {
        /// The amount as written.
        value: String,
        /// The currency.
        currency: String,
        /// The currency's number of decimals.
        digits: u32,
    },
}

/// Parse a decimal written with `.` as the decimal point and no grouping (`"4.38"`, `"10"`).
/// Exact: no rounding, no float.
pub fn parse_plain_decimal(s: &str) -> Option<Decimal> {
    let s = s.trim();
    let body = s.strip_prefix('-').unwrap_or(s);
    let (int, frac) = body.split_once('.').unwrap_or((body, ""));
    if int.is_empty() && frac.is_empty()
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
        || (body.contains('.') && frac.is_empty())
    {
        return None;
    }
    Decimal::from_str_exact(s).ok()
}

/// A configured amount (`"4.38"` or `4.38`): not negative, at most the currency's decimals.
///
/// # Errors
/// See [`AmountError`].
pub fn parse_config_amount(
    value: &serde_json::Value,
    currency: &str,
) -> Result<Decimal, AmountError> {
    let text = match value {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Number(n) => n.to_string(),
        other => return Err(AmountError::NotAnAmount(other.to_string())),
    };
    let d =
        parse_plain_decimal(&text).ok_or_else(|| AmountError::NotAnAmount(value.to_string()))?;
    if d.is_sign_negative() && !d.is_zero() {
        return Err(AmountError::Negative(text));
    }
    let digits = minor_digits(currency);
    if d.normalize().scale() > digits {
        return Err(AmountError::TooPrecise {
            value: text,
            currency: currency.to_owned(),
            digits,
        });
    }
    Ok(d)
}

/// `amount` in minor units of a currency with `digits` decimals, if exact and in range.
pub fn to_minor(amount: Decimal, digits: u32) -> Option<i64> {
    let scaled = amount.checked_mul(Decimal::from(10i64.checked_pow(digits)?))?;
    if scaled.fract() != Decimal::ZERO {
        return None;
    }
    i64::try_from(scaled).ok()
}

/// The decimal value of `minor` minor units with `digits` decimals.
pub fn from_minor(minor: i64, digits: u32) -> Decimal {
    Decimal::new(minor, digits)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn config_amounts_are_exact_and_checked() {
        assert_eq!(
            parse_config_amount(&json!("4.38"), "EUR")
                .unwrap()
                .to_string(),
            "4.38"
        );
        assert_eq!(
            parse_config_amount(&json!(10), "EUR").unwrap().to_string(),
            "10"
        );
        assert_eq!(
            parse_config_amount(&json!(3.18), "EUR")
                .unwrap()
                .to_string(),
            "3.18"
        );
        assert!(matches!(
            parse_config_amount(&json!("4,38"), "EUR"),
            Err(AmountError::NotAnAmount(_))
        ));
        assert!(matches!(
            parse_config_amount(&json!("-1"), "EUR"),
            Err(AmountError::Negative(_))
        ));
        assert!(matches!(
            parse_config_amount(&json!("1.005"), "EUR"),
            Err(AmountError::TooPrecise { .. })
        ));
        assert!(matches!(
            parse_config_amount(&json!("1.5"), "JPY"),
            Err(AmountError::TooPrecise { .. })
        ));
        assert!(matches!(
            parse_config_amount(&json!(true), "EUR"),
            Err(AmountError::NotAnAmount(_))
        ));
        assert!(matches!(
            parse_config_amount(&json!("1e3"), "EUR"),
            Err(AmountError::NotAnAmount(_))
        ));
        assert!(matches!(
            parse_config_amount(&json!("."), "EUR"),
            Err(AmountError::NotAnAmount(_))
        ));
    }

    #[test]
    fn minor_units_round_trip() {
        let d = parse_plain_decimal("4.38").unwrap();
        assert_eq!(to_minor(d, 2), Some(438));
        assert_eq!(from_minor(438, 2), d);
        assert_eq!(to_minor(parse_plain_decimal("4.385").unwrap(), 2), None);
    }

    #[test]
    fn currencies_are_iso_4217() {
        assert!(is_currency("EUR"));
        assert!(!is_currency("eur"));
        assert!(!is_currency("EURO"));
        assert_eq!(minor_digits("EUR"), 2);
    }
}
