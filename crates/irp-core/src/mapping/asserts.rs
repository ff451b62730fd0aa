//! Response asserts: `"status": "in:201"`, `"OrderNumber": "present|filled"`.
//!
//! The key `status` is the HTTP status; any other key is a dotted path into the JSON answer.

use crate::config::suggest::did_you_mean;

/// One rule of an assert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rule {
    /// The value is one of these.
    In(Vec<String>),
    /// The value is none of these.
    NotIn(Vec<String>),
    /// The key exists (its value may be empty or null).
    Present,
    /// If the key exists, its value is not null, not `""`, not `[]` and not `{}`.
    Filled,
    /// The key exists and its value is filled.
    Required,
    /// A number, or a string holding one.
    Numeric,
    /// An integer, or a string holding one.
    Integer,
    /// A string.
    String,
    /// A boolean.
    Boolean,
}

/// Every rule name.
pub const RULE_NAMES: [&str; 9] = [
    "in", "not_in", "present", "filled", "required", "numeric", "integer", "string", "boolean",
];

/// Parse rules joined by `|`. For the `status` key, `in:`/`not_in:` values must be HTTP statuses.
///
/// # Errors
/// A message naming the rule that is unknown or malformed.
pub fn parse_rules(src: &str, is_status: bool) -> Result<Vec<Rule>, String> {
    let mut rules = Vec::new();
    for part in src.split('|') {
        let part = part.trim();
        let (name, args) = match part.split_once(':') {
            Some((n, a)) => (n.trim(), Some(a)),
            None => (part, None),
        };
        let list = |a: Option<&str>| -> Result<Vec<String>, String> {
            let values: Vec<String> = a
                .unwrap_or("")
                .split(',')
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
                .collect();
            if values.is_empty() {
                return Err(format!(
                    "rule `{name}` needs values, as in `{name}:201,202`"
                ));
            }
            if is_status
                && let Some(bad) = values
                    .iter()
                    .find(|v| !v.parse::<u16>().is_ok_and(|s| (100..=599).contains(&s)))
            {
                return Err(format!(
                    "`{bad}` in `{part}` is not an HTTP status (100-599)"
                ));
            }
            Ok(values)
        };
        let rule = match name {
            "in" => Rule::In(list(args)?),
            "not_in" => Rule::NotIn(list(args)?),
            "present" | "filled" | "required" | "numeric" | "integer" | "string" | "boolean"
                if args.is_some() =>
            {
                return Err(format!("rule `{name}` takes no values, got `{part}`"));
            }
            "present" => Rule::Present,
            "filled" => Rule::Filled,
            "required" => Rule::Required,
            "numeric" => Rule::Numeric,
            "integer" => Rule::Integer,
            "string" => Rule::String,
            "boolean" => Rule::Boolean,
            "" => return Err(format!("empty rule in `{src}`")),
            other => {
                let mut msg = format!(
                    "unknown rule `{other}`, expected one of {}",
                    RULE_NAMES.join(", ")
                );
                if let Some(s) = did_you_mean(other, RULE_NAMES) {
                    msg.push_str(&format!("; did you mean `{s}`?"));
                }
                return Err(msg);
            }
        };
        rules.push(rule);
    }
    Ok(rules)
}

/// Check a dotted path into a JSON answer (`OrderNumber`, `data.order.id`, `lines.0.id`).
///
/// # Errors
/// An empty path or segment.
pub fn check_response_path(path: &str) -> Result<(), String> {
    if path.is_empty() || path.split('.').any(str::is_empty) {
        return Err(format!(
            "`{path}` is not a dotted path into the response, like `data.OrderNumber`"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_rules_parse() {
        assert_eq!(
            parse_rules("in:201", true).unwrap(),
            vec![Rule::In(vec!["201".into()])]
        );
        assert_eq!(
            parse_rules("present|filled", false).unwrap(),
            vec![Rule::Present, Rule::Filled]
        );
        assert_eq!(
            parse_rules("required|not_in:0, -1", false).unwrap(),
            vec![Rule::Required, Rule::NotIn(vec!["0".into(), "-1".into()])]
        );
    }

    #[test]
    fn bad_rules_are_named() {
        assert_eq!(
            parse_rules("present|filed", false).unwrap_err(),
            "unknown rule `filed`, expected one of in, not_in, present, filled, required, numeric, integer, string, boolean; did you mean `filled`?"
        );
        assert_eq!(
            parse_rules("in:", true).unwrap_err(),
            "rule `in` needs values, as in `in:201,202`"
        );
        assert_eq!(
            parse_rules("in:2001", true).unwrap_err(),
            "`2001` in `in:2001` is not an HTTP status (100-599)"
        );
        assert_eq!(
            parse_rules("present:1", false).unwrap_err(),
            "rule `present` takes no values, got `present:1`"
        );
        assert!(parse_rules("present||filled", false).is_err());
    }
}
