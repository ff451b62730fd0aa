//! IMEI numbers: 15 digits, the last a Luhn check digit over the first 14.

/// Whether `s` is a well-formed IMEI: exactly 15 ASCII digits whose last one is the Luhn
/// check digit of the first 14 (as on the device box and in `*#06#`).
pub fn is_valid(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 15 || !b.iter().all(u8::is_ascii_digit) {
        return false;
    }
    check_digit(&s[..14]) == Some(b[14] - b'0')
}

/// The Luhn check digit of a string of digits; `None` when it holds anything else.
pub fn check_digit(digits: &str) -> Option<u8> {
    let mut sum = 0u32;
    // From the right, every second digit (starting with the rightmost) is doubled, because
    // the check digit will sit right of it.
    for (i, c) in digits.bytes().rev().enumerate() {
        if !c.is_ascii_digit() {
            return None;
        }
        let mut d = u32::from(c - b'0');
        if i % 2 == 0 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
    }
    u8::try_from((10 - sum % 10) % 10).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_imeis_pass_and_one_wrong_digit_fails() {
        // The example IMEI of 3GPP TS 23.003 and a common test IMEI.
        assert!(is_valid("490154203237518"));
        assert!(is_valid("356938035643809"));
        assert!(!is_valid("490154203237519"));
        assert!(!is_valid("490154203237528"));
    }

    #[test]
    fn anything_but_fifteen_digits_fails() {
        assert!(!is_valid(""));
        assert!(!is_valid("49015420323751"));
        assert!(!is_valid("4901542032375180"));
        assert!(!is_valid("49015420323751a"));
        assert!(!is_valid("49015 420323751"));
    }

    #[test]
    fn the_check_digit_makes_any_fourteen_digits_valid() {
        for n in [0u64, 1, 35693803564380, 99999999999999, 12345678901234] {
            let body = format!("{n:014}");
            let Some(c) = check_digit(&body) else {
                panic!("no check digit for {body}");
            };
            assert!(is_valid(&format!("{body}{c}")), "{body}{c}");
        }
    }
}
