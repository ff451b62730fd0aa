//! EAN / GTIN-8, -12, -13 and -14 codes with their mod-10 check digit.

/// Why a code is not a valid GTIN.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GtinError {
    /// Something other than digits.
    #[error("expected only digits, got {0:?}")]
    NotDigits(String),
    /// Not 8, 12, 13 or 14 digits.
    #[error("expected 8, 12, 13 or 14 digits, got {0}")]
    Length(usize),
    /// The last digit does not match.
    #[error("check digit is {found}, expected {expected}")]
    CheckDigit {
        /// The check digit in the code.
        found: u8,
        /// The check digit the other digits call for.
        expected: u8,
    },
}

/// Validate a GTIN and return it as given (a string: leading zeros matter).
/// Surrounding whitespace is ignored.
///
/// # Errors
/// See [`GtinError`].
pub fn parse_gtin(raw: &str) -> Result<String, GtinError> {
    let code = raw.trim();
    if code.is_empty() || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(GtinError::NotDigits(code.to_owned()));
    }
    if !matches!(code.len(), 8 | 12 | 13 | 14) {
        return Err(GtinError::Length(code.len()));
    }
    let mut digits = [0u8; 14];
    for (d, b) in digits.iter_mut().zip(code.bytes()) {
        *d = b - b'0';
    }
    let (body, check) = digits[..code.len()].split_at(code.len() - 1);
    let expected = check_digit(body);
    if check[0] != expected {
        return Err(GtinError::CheckDigit {
            found: check[0],
            expected,
        });
    }
    Ok(code.to_owned())
}

/// The mod-10 check digit for the digits before it.
pub fn check_digit(body: &[u8]) -> u8 {
    let sum: u32 = body
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| u32::from(d) * if i % 2 == 0 { 3 } else { 1 })
        .sum();
    ((10 - sum % 10) % 10) as u8
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_codes() {
        assert_eq!(parse_gtin("4006381333931").unwrap(), "4006381333931");
        assert_eq!(parse_gtin(" 96385074 ").unwrap(), "96385074");
        assert_eq!(parse_gtin("036000291452").unwrap(), "036000291452");
        assert_eq!(parse_gtin("00012345600012").unwrap(), "00012345600012");
        assert_eq!(
            parse_gtin("4006381333932"),
            Err(GtinError::CheckDigit {
                found: 2,
                expected: 1
            })
        );
        assert_eq!(parse_gtin("12345"), Err(GtinError::Length(5)));
        assert!(matches!(
            parse_gtin("40063813339A1"),
            Err(GtinError::NotDigits(_))
        ));
        assert!(matches!(parse_gtin(""), Err(GtinError::NotDigits(_))));
    }

    proptest! {
        #[test]
        fn any_body_with_its_check_digit_is_valid(body in proptest::collection::vec(0u8..10, 12)) {
            let code: String = body.iter().chain(std::iter::once(&check_digit(&body))).map(|d| char::from(b'0' + d)).collect();
            prop_assert_eq!(parse_gtin(&code), Ok(code.clone()));
        }

        #[test]
        fn a_changed_check_digit_is_rejected(body in proptest::collection::vec(0u8..10, 12), delta in 1u8..10) {
            let wrong = (check_digit(&body) + delta) % 10;
            let code: String = body.iter().chain(std::iter::once(&wrong)).map(|d| char::from(b'0' + d)).collect();
            prop_assert!(parse_gtin(&code).is_err());
        }
    }
}
