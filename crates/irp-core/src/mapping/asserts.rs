//! Response asserts: `"status": "in:201"`, `"OrderNumber": "present|filled"`.
//!
//! The key `status` is the HTTP status; any other key is a dotted path into the JSON answer.

use serde_json::{Map, Value};

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

/// The value at a dotted path of a JSON answer (`data.order.id`, `lines.0.id`); `None` when
/// any segment is missing.
pub fn lookup<'a>(body: &'a Value, path: &str) -> Option<&'a Value> {
    let mut cur = body;
    for seg in path.split('.') {
        cur = match cur {
            Value::Object(m) => m.get(seg)?,
            Value::Array(a) => a.get(seg.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(cur)
}

fn filled(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::String(s) => !s.trim().is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(m) => !m.is_empty(),
        _ => true,
    }
}

/// How a value compares with the values of `in:` / `not_in:` (a string as it is, a number or
/// boolean as JSON writes it).
fn as_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Check `value` (`None`: the key is absent) against `rules`. As in Laravel's validation, which
/// the seed's rules come from, an absent key fails only `present` and `required`.
///
/// # Errors
/// The first rule that fails, with the value.
pub fn evaluate(rules: &[Rule], value: Option<&Value>) -> Result<(), String> {
    let shown = |v: &Value| {
        let t = v.to_string();
        if t.chars().count() > 80 {
            format!("{}…", t.chars().take(80).collect::<String>())
        } else {
            t
        }
    };
    for rule in rules {
        let Some(v) = value else {
            match rule {
                Rule::Present => return Err("`present`: the key is missing".into()),
                Rule::Required => return Err("`required`: the key is missing".into()),
                _ => continue,
            }
        };
        let (ok, name) = match rule {
            Rule::In(list) => (list.contains(&as_text(v)), format!("in:{}", list.join(","))),
            Rule::NotIn(list) => (
                !list.contains(&as_text(v)),
                format!("not_in:{}", list.join(",")),
            ),
            Rule::Present => (true, "present".into()),
            Rule::Filled => (filled(v), "filled".into()),
            Rule::Required => (filled(v), "required".into()),
            Rule::Numeric => (
                match v {
                    Value::Number(_) => true,
                    Value::String(s) => crate::money::parse_plain_decimal(s).is_some(),
                    _ => false,
                },
                "numeric".into(),
            ),
            Rule::Integer => (
                match v {
                    Value::Number(n) => n.is_i64() || n.is_u64(),
                    Value::String(s) => s.trim().parse::<i64>().is_ok(),
                    _ => false,
                },
                "integer".into(),
            ),
            Rule::String => (v.is_string(), "string".into()),
            Rule::Boolean => (v.is_boolean(), "boolean".into()),
        };
        if !ok {
            return Err(format!("`{name}` does not hold for {}", shown(v)));
        }
    }
    Ok(())
}

/// Check an answer against `response_object.asserts`: `status` against the HTTP status, every
/// other key against the JSON body (`None`: the body is not JSON, so every path is absent).
///
/// # Errors
/// Every assert that fails, as `key "rules": why`; a rule that does not parse (only possible
/// for a document that skipped `config check`) fails too.
pub fn check_response(
    asserts: &Map<String, Value>,
    status: u16,
    body: Option<&Value>,
) -> Result<(), Vec<String>> {
    let status_value = Value::from(status);
    let mut failures = Vec::new();
    for (key, rules) in asserts {
        let src = rules.as_str().unwrap_or_default();
        let outcome = parse_rules(src, key == "status").and_then(|rules| {
            let value = if key == "status" {
                Some(&status_value)
            } else {
                body.and_then(|b| lookup(b, key))
            };
            evaluate(&rules, value).map_err(|m| {
                if key != "status" && body.is_none() {
                    format!("{m} (the answer is not JSON)")
                } else {
                    m
                }
            })
        });
        if let Err(m) = outcome {
            failures.push(format!("{key} {}: {m}", Value::String(src.to_owned())));
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures)
    }
}

/// The values `response_object.fields` copies from an answer: field → text (a string as it is,
/// a number as JSON writes it; `None` when the path is absent or null).
pub fn response_fields(
    fields: &Map<String, Value>,
    body: Option<&Value>,
) -> Vec<(String, Option<String>)> {
    fields
        .iter()
        .map(|(field, path)| {
            let v = match (body, path.as_str()) {
                (Some(b), Some(p)) => lookup(b, p),
                _ => None,
            };
            let text = match v {
                None | Some(Value::Null) => None,
                Some(v) => Some(as_text(v)),
            };
            (field.clone(), text)
        })
        .collect()
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

    #[test]
    fn answers_are_checked_like_laravel_validation() {
        let asserts: Map<String, Value> = serde_json::from_str(
            r#"{"status": "in:201", "OrderNumber": "present|filled", "id": "integer"}"#,
        )
        .unwrap();
        let body = serde_json::json!({"OrderNumber": "SO-1", "id": "42"});
        assert_eq!(check_response(&asserts, 201, Some(&body)), Ok(()));
        assert_eq!(
            check_response(&asserts, 200, Some(&serde_json::json!({"OrderNumber": ""}))),
            Err(vec![
                "status \"in:201\": `in:201` does not hold for 200".to_owned(),
                "OrderNumber \"present|filled\": `filled` does not hold for \"\"".to_owned(),
            ])
        );
        assert_eq!(
            check_response(&asserts, 201, None),
            Err(vec![
                "OrderNumber \"present|filled\": `present`: the key is missing (the answer is not JSON)"
                    .to_owned()
            ])
        );
        // Absent keys fail only present and required.
        assert_eq!(evaluate(&[Rule::Filled, Rule::Integer], None), Ok(()));
        assert!(evaluate(&[Rule::Required], None).is_err());
        assert!(evaluate(&[Rule::Numeric], Some(&serde_json::json!("12,5"))).is_err());
        assert_eq!(
            evaluate(
                &[Rule::NotIn(vec!["0".into()])],
                Some(&serde_json::json!(0))
            ),
            Err("`not_in:0` does not hold for 0".into())
        );
        assert_eq!(
            lookup(
                &serde_json::json!({"data": {"lines": [{"id": 7}]}}),
                "data.lines.0.id"
            ),
            Some(&serde_json::json!(7))
        );
    }

    #[test]
    fn fields_copy_text() {
        let fields: Map<String, Value> =
            serde_json::from_str(r#"{"externalOrderReference": "OrderNumber"}"#).unwrap();
        assert_eq!(
            response_fields(&fields, Some(&serde_json::json!({"OrderNumber": 123}))),
            vec![("externalOrderReference".to_owned(), Some("123".to_owned()))]
        );
        assert_eq!(
            response_fields(&fields, None),
            vec![("externalOrderReference".to_owned(), None)]
        );
    }
}
