//! Diagnostics: what `irp config check` reports, each pointing at a JSON path.
//!
//! Validation never stops at the first problem: every check pushes into a [`Diagnostics`]
//! collector and the caller decides what to do once everything has been looked at.

use std::fmt;

/// How bad a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The document is usable, but something looks wrong or unsafe.
    Warning,
    /// The document cannot be used.
    Error,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Warning => "warning",
            Severity::Error => "error",
        })
    }
}

/// One segment of a [`JsonPath`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Segment {
    /// An object key.
    Key(String),
    /// An array index.
    Index(usize),
}

/// A path into a JSON document, rendered as `flexit.offers.auth.password`, `lines[0]` or
/// `order_object["shipping.isBlindShip"]` when a key holds characters that would be ambiguous.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct JsonPath(Vec<Segment>);

impl JsonPath {
    /// The document root.
    pub fn root() -> Self {
        Self::default()
    }

    /// This path extended by an object key.
    pub fn key(&self, key: &str) -> Self {
        let mut s = self.0.clone();
        s.push(Segment::Key(key.to_owned()));
        Self(s)
    }

    /// This path extended by an array index.
    pub fn index(&self, index: usize) -> Self {
        let mut s = self.0.clone();
        s.push(Segment::Index(index));
        Self(s)
    }

    /// The segments, outermost first.
    pub fn segments(&self) -> &[Segment] {
        &self.0
    }

    /// The last key of the path, if it ends in a key.
    pub fn last_key(&self) -> Option<&str> {
        match self.0.last() {
            Some(Segment::Key(k)) => Some(k),
            _ => None,
        }
    }
}

fn plain_key(key: &str) -> bool {
    !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

impl fmt::Display for JsonPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("(document)");
        }
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                Segment::Key(k) if plain_key(k) => {
                    if i > 0 {
                        f.write_str(".")?;
                    }
                    f.write_str(k)?;
                }
                Segment::Key(k) => write!(f, "[{}]", serde_json::Value::String(k.clone()))?,
                Segment::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

/// One finding about a document.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// Where in the document, rendered like `flexit.offers.separator`.
    #[serde(serialize_with = "ser_path")]
    pub path: JsonPath,
    /// What is wrong and what was expected: a lowercase phrase without a trailing period.
    pub message: String,
    /// How to fix it, when there is something concrete to say.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
    /// Line and column in the file, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub position: Option<super::jsonpos::Position>,
}

fn ser_path<S: serde::Serializer>(p: &JsonPath, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(p)
}

impl Diagnostic {
    /// Attach a help line.
    pub fn help(&mut self, help: impl Into<String>) -> &mut Self {
        self.help = Some(help.into());
        self
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: {}", self.severity, self.path, self.message)?;
        if let Some(help) = &self.help {
            write!(f, " (help: {help})")?;
        }
        Ok(())
    }
}

/// A collector of diagnostics.
#[derive(Debug, Default, Clone)]
pub struct Diagnostics(Vec<Diagnostic>);

impl Diagnostics {
    /// An empty collector.
    pub fn new() -> Self {
        Self::default()
    }

    /// Record an error at `path` and return it for an optional `.with_help`.
    pub fn error(&mut self, path: &JsonPath, message: impl Into<String>) -> &mut Diagnostic {
        self.record(Severity::Error, path, message.into())
    }

    /// Record a warning at `path`.
    pub fn warning(&mut self, path: &JsonPath, message: impl Into<String>) -> &mut Diagnostic {
        self.record(Severity::Warning, path, message.into())
    }

    fn record(&mut self, severity: Severity, path: &JsonPath, message: String) -> &mut Diagnostic {
        self.0.push(Diagnostic {
            severity,
            path: path.clone(),
            message,
            help: None,
            position: None,
        });
        let last = self.0.len() - 1;
        &mut self.0[last]
    }

    /// Whether any error was recorded.
    pub fn has_errors(&self) -> bool {
        self.0.iter().any(|d| d.severity == Severity::Error)
    }

    /// Number of errors.
    pub fn error_count(&self) -> usize {
        self.0
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .count()
    }

    /// Number of warnings.
    pub fn warning_count(&self) -> usize {
        self.0
            .iter()
            .filter(|d| d.severity == Severity::Warning)
            .count()
    }

    /// All diagnostics in the order they were found.
    pub fn iter(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter()
    }

    /// Take all diagnostics out.
    pub fn into_vec(self) -> Vec<Diagnostic> {
        self.0
    }

    /// Mutable access, to fill in positions.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut Diagnostic> {
        self.0.iter_mut()
    }

    /// Order diagnostics by line and column, as a compiler would (stable: equal positions
    /// keep the order they were found in; those without a position come first).
    pub fn sort_by_position(&mut self) {
        self.0
            .sort_by_key(|d| d.position.map(|p| (p.line, p.column)));
    }

    /// Append one diagnostic.
    pub fn push(&mut self, diag: Diagnostic) {
        self.0.push(diag);
    }

    /// Append another collector's diagnostics.
    pub fn extend(&mut self, other: Diagnostics) {
        self.0.extend(other.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_render_dotted_and_quote_ambiguous_keys() {
        let p = JsonPath::root()
            .key("flexit")
            .key("order")
            .key("order_object")
            .key("shipping.isBlindShip");
        assert_eq!(
            p.to_string(),
            r#"flexit.order.order_object["shipping.isBlindShip"]"#
        );
        assert_eq!(
            JsonPath::root().key("a").index(3).key("b").to_string(),
            "a[3].b"
        );
        assert_eq!(JsonPath::root().to_string(), "(document)");
    }
}
