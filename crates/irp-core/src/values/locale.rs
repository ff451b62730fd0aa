//! Prices as feeds write them: `1,234.56` (`en_US`), `1.234,56` (`nl_NL`, `de_DE`),
//! `1 234,56` (`fr_FR`, also with a no-break space), or plain `1234.56`.
//!
//! Grouping is checked, not just stripped: in `en_US`, `12,50` is an error rather than 1250,
//! which is how a decimal-comma feed configured with the wrong locale is caught.

use rust_decimal::Decimal;
use std::fmt;

/// How a locale writes numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PriceLocale {
    name: &'static str,
    decimal: char,
    groups: &'static [char],
}

const NBSP: char = '\u{a0}';
const NNBSP: char = '\u{202f}';

/// Every supported `price_locale`, by name.
pub const LOCALES: &[PriceLocale] = &[
    PriceLocale {
        name: "plain",
        decimal: '.',
        groups: &[],
    },
    PriceLocale {
        name: "en_US",
        decimal: '.',
        groups: &[','],
    },
    PriceLocale {
        name: "en_GB",
        decimal: '.',
        groups: &[','],
    },
    PriceLocale {
        name: "en_IE",
        decimal: '.',
        groups: &[','],
    },
    PriceLocale {
        name: "nl_NL",
        decimal: ',',
        groups: &['.'],
    },
    PriceLocale {
        name: "nl_BE",
        decimal: ',',
        groups: &['.'],
    },
    PriceLocale {
        name: "de_DE",
        decimal: ',',
        groups: &['.'],
    },
    PriceLocale {
        name: "de_AT",
        decimal: ',',
        groups: &['.', NBSP, ' '],
    },
    PriceLocale {
        name: "de_CH",
        decimal: '.',
        groups: &['\'', '\u{2019}'],
    },
    PriceLocale {
        name: "it_IT",
        decimal: ',',
        groups: &['.'],
    },
    PriceLocale {
        name: "es_ES",
        decimal: ',',
        groups: &['.'],
    },
    PriceLocale {
        name: "pt_PT",
        decimal: ',',
        groups: &[' ', NBSP, NNBSP],
    },
    PriceLocale {
        name: "da_DK",
        decimal: ',',
        groups: &['.'],
    },
    PriceLocale {
        name: "fr_FR",
        decimal: ',',
        groups: &[' ', NBSP, NNBSP],
    },
    PriceLocale {
        name: "fr_BE",
        decimal: ',',
        groups: &[' ', NBSP, NNBSP],
    },
    PriceLocale {
        name: "sv_SE",
        decimal: ',',
        groups: &[' ', NBSP, NNBSP],
    },
    PriceLocale {
        name: "fi_FI",
        decimal: ',',
        groups: &[' ', NBSP, NNBSP],
    },
    PriceLocale {
        name: "nb_NO",
        decimal: ',',
        groups: &[' ', NBSP, NNBSP],
    },
    PriceLocale {
        name: "pl_PL",
        decimal: ',',
        groups: &[' ', NBSP, NNBSP],
    },
    PriceLocale {
        name: "cs_CZ",
        decimal: ',',
        groups: &[' ', NBSP, NNBSP],
    },
];

impl PriceLocale {
    /// The locale called `name` (`nl_NL`; `nl-NL` is accepted too).
    pub fn from_name(name: &str) -> Option<PriceLocale> {
        let name = name.replace('-', "_");
        LOCALES.iter().copied().find(|l| l.name == name)
    }

    /// The locale's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Every supported name.
    pub fn names() -> impl Iterator<Item = &'static str> {
        LOCALES.iter().map(|l| l.name)
    }

    /// Parse a price written in this locale. Currency symbols (`€ $ £`) and codes (`EUR`) and
    /// surrounding spaces are tolerated; the result is exact and may be negative (callers
    /// decide whether that is allowed).
    ///
    /// # Errors
    /// A message saying what was expected.
    pub fn parse(&self, raw: &str) -> Result<Decimal, String> {
        let expected = || {
            format!(
                "expected a price written as in {} (like {})",
                self.name,
                self.example()
            )
        };
        let mut s = strip_currency(raw.trim());
        let negative = s.starts_with('-');
        if negative {
            s = strip_currency(s[1..].trim_start());
        }
        if s.is_empty() {
            return Err(expected());
        }
        let (int, frac) = match s.rfind(self.decimal) {
            Some(i) => (&s[..i], Some(&s[i + self.decimal.len_utf8()..])),
            None => (s, None),
        };
        if let Some(f) = frac
            && (f.is_empty() || !f.chars().all(|c| c.is_ascii_digit()))
        {
            return Err(expected());
        }
        let mut text = String::with_capacity(s.len() + 1);
        if negative {
            text.push('-');
        }
        if !self.ungroup_into(int, &mut text) {
            return Err(expected());
        }
        if let Some(f) = frac {
            text.push('.');
            text.push_str(f);
        }
        Decimal::from_str_exact(&text).map_err(|_| expected())
    }

    /// Append the integer part without its group separators to `out`, checking that groups
    /// after the first have exactly three digits. False when it is not a grouped number.
    fn ungroup_into(&self, int: &str, out: &mut String) -> bool {
        if int.is_empty() {
            out.push('0');
            return true;
        }
        let mut count = 0usize;
        let mut long_first = false;
        for (i, part) in int.split(|c| self.groups.contains(&c)).enumerate() {
            let digits = !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
            if !digits || (i > 0 && part.len() != 3) {
                return false;
            }
            long_first |= i == 0 && part.len() > 3;
            count += 1;
            out.push_str(part);
        }
        // `12345.678` is not a grouped number: a first group is at most three digits long.
        !(long_first && count > 1)
    }

    fn example(&self) -> String {
        match self.groups.first() {
            None => format!("1234{}56", self.decimal),
            Some(g) => format!("1{}234{}56", g, self.decimal),
        }
    }
}

impl fmt::Display for PriceLocale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}

fn strip_currency(s: &str) -> &str {
    let symbols: &[char] = &['€', '$', '£', '¥', ' ', NBSP, NNBSP];
    let mut s = s.trim_matches(symbols);
    for code in [
        "EUR", "USD", "GBP", "CHF", "SEK", "DKK", "NOK", "PLN", "CZK",
    ] {
        if let Some(rest) = s.strip_prefix(code).or_else(|| s.strip_suffix(code)) {
            s = rest.trim_matches(symbols);
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse(locale: &str, s: &str) -> Result<String, String> {
        PriceLocale::from_name(locale)
            .unwrap()
            .parse(s)
            .map(|d| d.to_string())
    }

    #[test]
    fn each_locale_reads_its_own_notation() {
        assert_eq!(parse("en_US", "1,234.56").unwrap(), "1234.56");
        assert_eq!(parse("nl_NL", "1.234,56").unwrap(), "1234.56");
        assert_eq!(parse("de_DE", "1.234,56").unwrap(), "1234.56");
        assert_eq!(parse("fr_FR", "1 234,56").unwrap(), "1234.56");
        assert_eq!(parse("fr_FR", "1\u{a0}234,56").unwrap(), "1234.56");
        assert_eq!(parse("fr_FR", "1\u{202f}234,56").unwrap(), "1234.56");
        assert_eq!(parse("plain", "1234.56").unwrap(), "1234.56");
        assert_eq!(parse("de_CH", "1'234.56").unwrap(), "1234.56");
        assert_eq!(parse("nl_NL", "€ 12,50").unwrap(), "12.50");
        assert_eq!(parse("nl_NL", "12,50 EUR").unwrap(), "12.50");
        assert_eq!(parse("en_US", "$1,000,000").unwrap(), "1000000");
        assert_eq!(parse("en_US", "-3.5").unwrap(), "-3.5");
        assert_eq!(parse("nl_NL", "0,99").unwrap(), "0.99");
        assert_eq!(parse("nl_NL", ",99").unwrap(), "0.99");
        assert_eq!(parse("nl-NL", "123").unwrap(), "123");
    }

    #[test]
    fn the_wrong_locale_is_an_error_not_a_different_number() {
        assert!(parse("en_US", "12,50").is_err());
        assert!(parse("nl_NL", "19.99").is_err());
        assert!(parse("en_US", "1,23,456.00").is_err());
        assert!(parse("nl_NL", "1,2,3").is_err());
        assert!(parse("en_US", "").is_err());
        assert!(parse("en_US", "abc").is_err());
        assert!(parse("en_US", "1.").is_err());
        assert!(parse("plain", "1,234.56").is_err());
        assert_eq!(
            parse("nl_NL", "19.99").unwrap_err(),
            "expected a price written as in nl_NL (like 1.234,56)"
        );
    }

    proptest! {
        #[test]
        fn formatted_values_parse_back_exactly(cents in 0i64..10_000_000_000, idx in 0usize..LOCALES.len()) {
            let l = LOCALES[idx];
            let int = (cents / 100).to_string();
            let mut grouped = String::new();
            for (i, c) in int.chars().enumerate() {
                if i > 0 && (int.len() - i) % 3 == 0 && let Some(g) = l.groups.first() {
                    grouped.push(*g);
                }
                grouped.push(c);
            }
            let text = format!("{grouped}{}{:02}", l.decimal, cents % 100);
            prop_assert_eq!(l.parse(&text).unwrap(), Decimal::new(cents, 2));
        }

        #[test]
        fn never_panics(s in "\\PC*", idx in 0usize..LOCALES.len()) {
            let _ = LOCALES[idx].parse(&s);
        }
    }
}
