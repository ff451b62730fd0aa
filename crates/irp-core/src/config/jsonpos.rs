//! Where each value of a JSON document starts, by [`JsonPath`], and which keys appear twice.
//!
//! serde_json reports syntax errors with line and column but forgets positions once a document
//! has parsed, and silently keeps the last of two equal keys. This scanner runs over text that
//! serde_json has already accepted, so it only has to find positions, not report syntax errors.

use std::collections::HashMap;

use super::diag::JsonPath;

/// A 1-based line and column (columns count characters, not bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Position {
    /// Line number, starting at 1.
    pub line: usize,
    /// Column number, starting at 1.
    pub column: usize,
}

/// Positions of every value (and of every object key) in a document.
#[derive(Debug, Default)]
pub struct PositionIndex {
    values: HashMap<JsonPath, Position>,
    keys: HashMap<JsonPath, Position>,
    /// Keys that occur more than once in the same object, with the position of each repeat.
    pub duplicates: Vec<(JsonPath, Position)>,
}

impl PositionIndex {
    /// Index `text`, which must be JSON that serde_json accepted. On text that is not valid
    /// JSON the index is incomplete, never wrong about what it did find.
    pub fn build(text: &str) -> Self {
        let mut s = Scanner {
            chars: text.char_indices().peekable(),
            text,
            line: 1,
            col: 1,
            idx: PositionIndex::default(),
        };
        s.skip_ws();
        s.value(JsonPath::root());
        s.idx
    }

    /// Where the value at `path` starts; for a missing key, where its object starts.
    pub fn locate(&self, path: &JsonPath) -> Option<Position> {
        let mut p = path.clone();
        loop {
            if let Some(pos) = self.keys.get(&p).or_else(|| self.values.get(&p)) {
                return Some(*pos);
            }
            let mut segs = p.segments().to_vec();
            segs.pop()?;
            p = segs.into_iter().fold(JsonPath::root(), |acc, s| match s {
                super::diag::Segment::Key(k) => acc.key(&k),
                super::diag::Segment::Index(i) => acc.index(i),
            });
        }
    }
}

struct Scanner<'a> {
    chars: std::iter::Peekable<std::str::CharIndices<'a>>,
    text: &'a str,
    line: usize,
    col: usize,
    idx: PositionIndex,
}

impl Scanner<'_> {
    fn pos(&self) -> Position {
        Position {
            line: self.line,
            column: self.col,
        }
    }

    fn bump(&mut self) -> Option<(usize, char)> {
        let next = self.chars.next();
        if let Some((_, c)) = next {
            if c == '\n' {
                self.line += 1;
                self.col = 1;
            } else {
                self.col += 1;
            }
        }
        next
    }

    fn peek(&mut self) -> Option<char> {
        self.chars.peek().map(|&(_, c)| c)
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(' ' | '\t' | '\n' | '\r')) {
            self.bump();
        }
    }

    fn value(&mut self, path: JsonPath) {
        self.idx.values.insert(path.clone(), self.pos());
        match self.peek() {
            Some('{') => self.object(path),
            Some('[') => self.array(path),
            Some('"') => {
                self.string();
            }
            Some(_) => {
                while matches!(self.peek(), Some(c) if !matches!(c, ',' | '}' | ']' | ' ' | '\t' | '\n' | '\r'))
                {
                    self.bump();
                }
            }
            None => {}
        }
    }

    /// Consume a string token and return its decoded value.
    fn string(&mut self) -> Option<String> {
        let (start, _) = self.bump()?;
        let mut end = start + 1;
        let mut escaped = false;
        while let Some((i, c)) = self.bump() {
            end = i + c.len_utf8();
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                break;
            }
        }
        serde_json::from_str::<String>(self.text.get(start..end)?).ok()
    }

    fn object(&mut self, path: JsonPath) {
        self.bump();
        let mut seen = std::collections::HashSet::new();
        loop {
            self.skip_ws();
            match self.peek() {
                Some('}') | None => {
                    self.bump();
                    return;
                }
                Some(',') => {
                    self.bump();
                    continue;
                }
                Some('"') => {}
                Some(_) => return,
            }
            let key_pos = self.pos();
            let Some(key) = self.string() else { return };
            let child = path.key(&key);
            if !seen.insert(key) {
                self.idx.duplicates.push((child.clone(), key_pos));
            }
            self.idx.keys.insert(child.clone(), key_pos);
            self.skip_ws();
            if self.peek() == Some(':') {
                self.bump();
            }
            self.skip_ws();
            self.value(child);
        }
    }

    fn array(&mut self, path: JsonPath) {
        self.bump();
        let mut i = 0;
        loop {
            self.skip_ws();
            match self.peek() {
                Some(']') | None => {
                    self.bump();
                    return;
                }
                Some(',') => {
                    self.bump();
                    continue;
                }
                Some(_) => {}
            }
            self.value(path.index(i));
            i += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_point_at_keys_and_values() {
        let text = "{\n  \"a\": {\"b\": [1, {\"c\": \"x\\\"y\"}]},\n  \"é\": true\n}";
        let idx = PositionIndex::build(text);
        let at = |p: JsonPath| idx.locate(&p).map(|p| (p.line, p.column));
        assert_eq!(at(JsonPath::root().key("a")), Some((2, 3)));
        assert_eq!(at(JsonPath::root().key("a").key("b")), Some((2, 9)));
        assert_eq!(
            at(JsonPath::root().key("a").key("b").index(1).key("c")),
            Some((2, 19))
        );
        assert_eq!(at(JsonPath::root().key("é")), Some((3, 3)));
        // A key that does not exist falls back to its nearest ancestor.
        assert_eq!(at(JsonPath::root().key("a").key("missing")), Some((2, 3)));
    }

    #[test]
    fn duplicate_keys_are_found() {
        let text = r#"{"a": 1, "b": {"x": 1, "x": 2}, "a": 3}"#;
        let idx = PositionIndex::build(text);
        let dups: Vec<String> = idx
            .duplicates
            .iter()
            .map(|(p, pos)| format!("{p}@{}", pos.column))
            .collect();
        assert_eq!(dups, vec!["b.x@24", "a@33"]);
    }
}
