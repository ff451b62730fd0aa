//! Secret references inside document strings: `${env:NAME}` and `${secret:NAME}`.
//!
//! Any string in a refurbisher document may hold references; `$${` stands for a literal `${`.
//! Parsing is pure; resolving a reference (reading the environment or the encrypted store)
//! happens at the edges, through a [`Resolver`].

use std::fmt;

/// Where a referenced value lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Provider {
    /// An environment variable of the IRP process.
    Env,
    /// IRP's encrypted secret store (`irp secret set NAME`).
    Secret,
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Provider::Env => "env",
            Provider::Secret => "secret",
        })
    }
}

/// One reference found in a string.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    /// Where the value lives.
    pub provider: Provider,
    /// Its name.
    pub name: String,
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "${{{}:{}}}", self.provider, self.name)
    }
}

/// A piece of a parsed template string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// Literal text.
    Text(String),
    /// A reference to resolve.
    Ref(Reference),
}

/// Why a string's references could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// `${` without a closing `}`.
    #[error("`${{` at character {0} is not closed by `}}` (write `$${{` for a literal `${{`)")]
    Unclosed(usize),
    /// A provider other than `env` or `secret`.
    #[error("unknown reference kind `{0}`, expected `env` or `secret` as in `${{secret:NAME}}`")]
    UnknownProvider(String),
    /// An empty or malformed name.
    #[error("invalid name `{0}` in reference, expected letters, digits, `_`, `-` or `.`")]
    BadName(String),
}

/// Whether `name` is a valid secret or environment variable name.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 200
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// Split a string into literal text and references.
///
/// # Errors
/// A `${` that is not a well-formed `${env:NAME}` or `${secret:NAME}`.
pub fn parse(s: &str) -> Result<Vec<Piece>, TemplateError> {
    let mut pieces = Vec::new();
    let mut text = String::new();
    let mut rest = s;
    let mut offset = 0;
    while let Some(i) = rest.find('$') {
        text.push_str(&rest[..i]);
        let after = &rest[i..];
        if let Some(after_escape) = after.strip_prefix("$${") {
            text.push_str("${");
            rest = after_escape;
            offset += i + 3;
        } else if let Some(body) = after.strip_prefix("${") {
            let close = body.find('}').ok_or(TemplateError::Unclosed(offset + i))?;
            let inner = &body[..close];
            let (kind, name) = inner.split_once(':').unwrap_or((inner, ""));
            let provider = match kind {
                "env" => Provider::Env,
                "secret" => Provider::Secret,
                other => return Err(TemplateError::UnknownProvider(other.to_owned())),
            };
            if !valid_name(name) {
                return Err(TemplateError::BadName(name.to_owned()));
            }
            if !text.is_empty() {
                pieces.push(Piece::Text(std::mem::take(&mut text)));
            }
            pieces.push(Piece::Ref(Reference {
                provider,
                name: name.to_owned(),
            }));
            rest = &body[close + 1..];
            offset += i + 2 + close + 1;
        } else {
            text.push('$');
            rest = &after[1..];
            offset += i + 1;
        }
    }
    text.push_str(rest);
    if !text.is_empty() {
        pieces.push(Piece::Text(text));
    }
    Ok(pieces)
}

/// Whether `s` contains at least one reference (false when it does not parse).
pub fn has_references(s: &str) -> bool {
    parse(s).is_ok_and(|p| p.iter().any(|p| matches!(p, Piece::Ref(_))))
}

/// Looks up referenced values. Implemented at the edges (environment, secret store).
pub trait Resolver {
    /// The value of `reference`.
    ///
    /// # Errors
    /// A message naming the reference (never a value) when it cannot be resolved.
    fn resolve(&self, reference: &Reference) -> Result<String, String>;
}

/// Replace every reference in `s` by its value.
///
/// # Errors
/// The template does not parse, or a reference cannot be resolved.
pub fn resolve(s: &str, resolver: &dyn Resolver) -> Result<String, String> {
    let mut out = String::new();
    for piece in parse(s).map_err(|e| e.to_string())? {
        match piece {
            Piece::Text(t) => out.push_str(&t),
            Piece::Ref(r) => out.push_str(&resolver.resolve(&r)?),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(provider: Provider, name: &str) -> Piece {
        Piece::Ref(Reference {
            provider,
            name: name.into(),
        })
    }

    #[test]
    fn parses_whole_and_embedded_references() {
        assert_eq!(
            parse("${secret:flexit.password}").unwrap(),
            vec![r(Provider::Secret, "flexit.password")]
        );
        assert_eq!(
            parse("https://${env:HOST}/feed?x=$1").unwrap(),
            vec![
                Piece::Text("https://".into()),
                r(Provider::Env, "HOST"),
                Piece::Text("/feed?x=$1".into())
            ]
        );
        assert_eq!(parse("a$${b}").unwrap(), vec![Piece::Text("a${b}".into())]);
        assert_eq!(parse("").unwrap(), vec![]);
    }

    #[test]
    fn rejects_malformed_references() {
        assert_eq!(parse("x${secret:a"), Err(TemplateError::Unclosed(1)));
        assert_eq!(
            parse("${vault:a}"),
            Err(TemplateError::UnknownProvider("vault".into()))
        );
        assert_eq!(parse("${secret:}"), Err(TemplateError::BadName("".into())));
        assert_eq!(
            parse("${secret:a b}"),
            Err(TemplateError::BadName("a b".into()))
        );
    }

    struct Fixed;
    impl Resolver for Fixed {
        fn resolve(&self, r: &Reference) -> Result<String, String> {
            match r.name.as_str() {
                "A" => Ok("1".into()),
                _ => Err(format!("{r} is not set")),
            }
        }
    }

    #[test]
    fn resolves_through_the_resolver() {
        assert_eq!(resolve("x${env:A}y", &Fixed).unwrap(), "x1y");
        assert_eq!(
            resolve("${secret:B}", &Fixed).unwrap_err(),
            "${secret:B} is not set"
        );
    }
}
