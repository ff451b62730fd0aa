//! Values for generated feeds (benchmarks and tests): valid EAN-13s and prices written the
//! way FlexIT's CSV writes them.

use irp_core::values::gtin::check_digit;

/// The `i`th of a run of valid EAN-13s: `871` (the Netherlands), `i` in nine digits, and its
/// check digit.
#[must_use]
pub fn ean(i: u64) -> String {
    let body: Vec<u8> = format!("871{:09}", i % 1_000_000_000)
        .bytes()
        .map(|b| b - b'0')
        .collect();
    let mut s: String = body.iter().map(|d| char::from(b'0' + d)).collect();
    s.push(char::from(b'0' + check_digit(&body)));
    s
}

/// `cents` in nl_NL notation: `1.234,56`.
#[must_use]
pub fn nl_price(cents: u64) -> String {
    let euros = cents / 100;
    let grouped = if euros >= 1000 {
        format!("{}.{:03}", euros / 1000, euros % 1000)
    } else {
        euros.to_string()
    };
    format!("{grouped},{:02}", cents % 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eans_are_valid_and_prices_dutch() {
        assert_eq!(ean(1), "8710000000017");
        assert!(irp_core::values::gtin::parse_gtin(&ean(123_456)).is_ok());
        assert_eq!(nl_price(123_456), "1.234,56");
        assert_eq!(nl_price(5_000), "50,00");
    }
}
