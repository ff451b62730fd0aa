//! Countries by ISO 3166-1: alpha-2 and alpha-3 codes and English short names.

use isocountry::CountryCode;

/// A country.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Country {
    /// ISO 3166-1 alpha-2 code, `NL`.
    pub alpha2: &'static str,
    /// ISO 3166-1 alpha-3 code, `NLD`.
    pub alpha3: &'static str,
    /// English short name as ISO 3166-1 gives it, `Netherlands`.
    pub name: &'static str,
}

impl From<CountryCode> for Country {
    fn from(c: CountryCode) -> Self {
        Country {
            alpha2: c.alpha2(),
            alpha3: c.alpha3(),
            name: c.name(),
        }
    }
}

/// The country with this ISO 3166-1 alpha-2 code (exact, upper case: `NL`).
pub fn by_alpha2(code: &str) -> Option<Country> {
    CountryCode::for_alpha2(code).ok().map(Country::from)
}

/// The country a text names: an alpha-2 or alpha-3 code or the English short name, in any case
/// and with surrounding whitespace (`nl`, `NLD`, `Netherlands`; also `The Netherlands`).
pub fn lookup(text: &str) -> Option<Country> {
    let t = text.trim();
    match t.len() {
        2 => return CountryCode::for_alpha2_caseless(t).ok().map(Country::from),
        3 => return CountryCode::for_alpha3_caseless(t).ok().map(Country::from),
        _ => {}
    }
    let lower = t.to_lowercase();
    let bare = lower.strip_prefix("the ").unwrap_or(&lower);
    CountryCode::iter()
        .find(|c| c.name().to_lowercase() == bare)
        .map(|c| Country::from(*c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_names_find_the_country() {
        let nl = by_alpha2("NL");
        assert_eq!(
            nl,
            Some(Country {
                alpha2: "NL",
                alpha3: "NLD",
                name: "Netherlands"
            })
        );
        for t in ["nl", " NLD ", "Netherlands", "the netherlands"] {
            assert_eq!(lookup(t), nl, "{t}");
        }
        assert_eq!(lookup("BE").map(|c| c.alpha3), Some("BEL"));
        assert_eq!(by_alpha2("nl"), None);
        assert_eq!(lookup("XX"), None);
        assert_eq!(lookup("Neverland"), None);
    }
}
