//! A reader for the trace's JSON lines: one flat object per line, as
//! `trace::json_line` writes them.
//!
//! It reads exactly what the trace needs, strings, numbers, `true`,
//! `false` and `null` as the values of one object, and refuses the rest
//! (arrays, nested objects) with the column where it stopped, so that a
//! damaged trace is reported, never half-drawn. Lines that do not start
//! with `{` are not events (`listening ...`, `stopped ...` share the
//! server's stdout with the trace) and are skipped.
//!
//! What it does not do: know what an event means; `model` does.

use std::fmt;

/// One value of a trace object.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// A string, escapes decoded.
    Str(String),
    /// A number, as written (the trace's are integers up to 2^53).
    Num(String),
    /// `true` or `false`.
    Bool(bool),
    /// `null`.
    Null,
}

/// One event: the object on line `line` of its file (counting from 1).
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    /// Line number in the file, for messages.
    pub line: usize,
    /// The fields in the order written.
    pub fields: Vec<(String, Value)>,
}

impl Record {
    fn get(&self, key: &str) -> Option<&Value> {
        self.fields.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// The string field `key`, if present and a string.
    pub fn str(&self, key: &str) -> Option<&str> {
        match self.get(key) {
            Some(Value::Str(s)) => Some(s),
            _ => None,
        }
    }

    /// The field `key` as an unsigned integer, if it is one.
    pub fn num(&self, key: &str) -> Option<u64> {
        match self.get(key) {
            Some(Value::Num(n)) => n.parse().ok(),
            _ => None,
        }
    }

    /// The boolean field `key`, if present.
    pub fn bool(&self, key: &str) -> Option<bool> {
        match self.get(key) {
            Some(Value::Bool(b)) => Some(*b),
            _ => None,
        }
    }
}

/// Why a line is not a JSON object, and where (column counted in
/// characters from 1, as an editor shows it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyntaxError {
    /// Column of the first character that could not be read.
    pub column: usize,
    /// What was expected there.
    pub reason: String,
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "malformed JSON at column {}: {}", self.column, self.reason)
    }
}

/// Reads every event of a trace: skips lines that are not objects, and
/// stops at the first object that does not parse, with its line number.
pub fn read_records(text: &str) -> Result<Vec<Record>, (usize, SyntaxError)> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if !line.starts_with('{') {
            continue;
        }
        let fields = parse_object(line).map_err(|e| (i + 1, e))?;
        out.push(Record { line: i + 1, fields });
    }
    Ok(out)
}

/// Parses one flat JSON object (surrounding whitespace allowed).
pub fn parse_object(line: &str) -> Result<Vec<(String, Value)>, SyntaxError> {
    let mut p = Parser { s: line.as_bytes(), at: 0, text: line };
    p.blank();
    p.eat(b'{', "'{'")?;
    let mut fields = Vec::new();
    p.blank();
    if p.peek() == Some(b'}') {
        p.at += 1;
    } else {
        loop {
            p.blank();
            if p.peek() != Some(b'"') {
                return Err(p.fail("a quoted key"));
            }
            let key = p.string()?;
            p.blank();
            p.eat(b':', "':' after the key")?;
            p.blank();
            let value = p.value()?;
            fields.push((key, value));
            p.blank();
            match p.peek() {
                Some(b',') => p.at += 1,
                Some(b'}') => {
                    p.at += 1;
                    break;
                }
                _ => return Err(p.fail("',' or '}'")),
            }
        }
    }
    p.blank();
    if p.at != p.s.len() {
        return Err(p.fail("the end of the line after '}'"));
    }
    Ok(fields)
}

struct Parser<'a> {
    s: &'a [u8],
    at: usize,
    text: &'a str,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.at).copied()
    }

    fn blank(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\r' | b'\n')) {
            self.at += 1;
        }
    }

    fn fail(&self, expected: &str) -> SyntaxError {
        // Columns in characters: a multi-byte character before the error
        // must not push the column an editor shows out of place.
        let column = self.text.get(..self.at).map_or(self.at, |t| t.chars().count()) + 1;
        let found = match self.text.get(self.at..).and_then(|t| t.chars().next()) {
            Some(c) => format!("'{}'", c.escape_default()),
            None => "the end of the line".to_string(),
        };
        SyntaxError { column, reason: format!("expected {expected}, found {found}") }
    }

    /// Consumes `byte` if it comes next; otherwise fails with `what` as
    /// the expected thing.
    fn eat(&mut self, byte: u8, what: &str) -> Result<(), SyntaxError> {
        if self.peek() == Some(byte) {
            self.at += 1;
            Ok(())
        } else {
            Err(self.fail(what))
        }
    }

    fn value(&mut self) -> Result<Value, SyntaxError> {
        match self.peek() {
            Some(b'"') => self.string().map(Value::Str),
            Some(b'-' | b'0'..=b'9') => self.number().map(Value::Num),
            Some(b't') => self.word("true", Value::Bool(true)),
            Some(b'f') => self.word("false", Value::Bool(false)),
            Some(b'n') => self.word("null", Value::Null),
            Some(b'[' | b'{') => {
                Err(self
                    .fail("a string, number, true, false or null (a trace event is a flat object)"))
            }
            _ => Err(self.fail("a value")),
        }
    }

    fn word(&mut self, word: &str, value: Value) -> Result<Value, SyntaxError> {
        if self.s[self.at..].starts_with(word.as_bytes()) {
            self.at += word.len();
            Ok(value)
        } else {
            Err(self.fail(word))
        }
    }

    /// RFC 8259 section 6: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
    fn number(&mut self) -> Result<String, SyntaxError> {
        let start = self.at;
        if self.peek() == Some(b'-') {
            self.at += 1;
        }
        match self.peek() {
            Some(b'0') => self.at += 1,
            Some(b'1'..=b'9') => self.digits(),
            _ => return Err(self.fail("a digit")),
        }
        if self.peek() == Some(b'.') {
            self.at += 1;
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(self.fail("a digit after '.'"));
            }
            self.digits();
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.at += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.at += 1;
            }
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(self.fail("a digit in the exponent"));
            }
            self.digits();
        }
        Ok(self.text[start..self.at].to_string())
    }

    fn digits(&mut self) {
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.at += 1;
        }
    }

    /// A quoted string, at its opening quote; RFC 8259 section 7.
    fn string(&mut self) -> Result<String, SyntaxError> {
        self.at += 1;
        let mut out = String::new();
        loop {
            // Copy runs of plain characters whole: the input is a &str, so
            // a run that stops at an ASCII quote or backslash is valid UTF-8.
            let run = self.at;
            while matches!(self.peek(), Some(c) if c != b'"' && c != b'\\' && c >= 0x20) {
                self.at += 1;
            }
            out.push_str(&self.text[run..self.at]);
            match self.peek() {
                Some(b'"') => {
                    self.at += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.at += 1;
                    let c = match self.peek() {
                        Some(b'"') => '"',
                        Some(b'\\') => '\\',
                        Some(b'/') => '/',
                        Some(b'b') => '\u{8}',
                        Some(b'f') => '\u{c}',
                        Some(b'n') => '\n',
                        Some(b'r') => '\r',
                        Some(b't') => '\t',
                        Some(b'u') => {
                            self.at += 1;
                            out.push(self.unicode()?);
                            continue;
                        }
                        _ => {
                            return Err(
                                self.fail("an escape (\\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX)")
                            )
                        }
                    };
                    self.at += 1;
                    out.push(c);
                }
                None => return Err(self.fail("'\"' to close the string")),
                Some(_) => return Err(self.fail("no control character inside a string")),
            }
        }
    }

    /// The `XXXX` of `\uXXXX`, and the low half of a surrogate pair after it.
    fn unicode(&mut self) -> Result<char, SyntaxError> {
        let high = self.hex4()?;
        if !(0xD800..0xDC00).contains(&high) {
            return char::from_u32(high)
                .ok_or_else(|| self.fail("a character, not a lone low surrogate"));
        }
        if !self.s[self.at..].starts_with(b"\\u") {
            return Err(self.fail("'\\u' with the low half of a surrogate pair"));
        }
        self.at += 2;
        let low = self.hex4()?;
        if !(0xDC00..0xE000).contains(&low) {
            return Err(self.fail("the low half of a surrogate pair"));
        }
        let c = 0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00);
        char::from_u32(c).ok_or_else(|| self.fail("a character"))
    }

    fn hex4(&mut self) -> Result<u32, SyntaxError> {
        let mut n = 0;
        for _ in 0..4 {
            let d = match self.peek() {
                Some(c @ b'0'..=b'9') => c - b'0',
                Some(c @ b'a'..=b'f') => c - b'a' + 10,
                Some(c @ b'A'..=b'F') => c - b'A' + 10,
                _ => return Err(self.fail("four hex digits after \\u")),
            };
            n = n * 16 + u32::from(d);
            self.at += 1;
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> Value {
        Value::Str(v.to_string())
    }

    #[test]
    fn reads_a_trace_line_as_the_trace_writes_it() -> Result<(), Box<dyn std::error::Error>> {
        let line = r#"{"ts_us":1795670417735940,"call":"read()","event":"read","conn":1,"bytes":5,"eof":false}"#;
        let f = parse_object(line).map_err(|e| format!("{line}: {e}"))?;
        assert_eq!(f[0], ("ts_us".to_string(), Value::Num("1795670417735940".into())));
        assert_eq!(f[1].1, s("read()"));
        assert_eq!(f[5].1, Value::Bool(false));
        let r = Record { line: 1, fields: f };
        assert_eq!(
            (r.num("bytes"), r.bool("eof"), r.str("event")),
            (Some(5), Some(false), Some("read"))
        );
        assert_eq!(r.num("call"), None, "a string is not a number");
        Ok(())
    }

    #[test]
    fn decodes_every_escape_the_trace_can_write() -> Result<(), Box<dyn std::error::Error>> {
        let line = r#" { "e" : "a\"b\\c\/d\n\r\t\b\f\u0001\u00e9\ud83d\ude00" , "n": null } "#;
        let f = parse_object(line).map_err(|e| format!("{line}: {e}"))?;
        assert_eq!(f[0].1, s("a\"b\\c/d\n\r\t\u{8}\u{c}\u{1}é😀"));
        assert_eq!(f[1].1, Value::Null);
        assert_eq!(parse_object("{}").map_err(|e| format!("{{}}: {e}"))?, vec![]);
        let line = r#"{"x":-1.5e+3,"y":0,"z":"ü"}"#;
        let f = parse_object(line).map_err(|e| format!("{line}: {e}"))?;
        assert_eq!(
            (&f[0].1, &f[1].1, &f[2].1),
            (&Value::Num("-1.5e+3".into()), &Value::Num("0".into()), &s("ü"))
        );
        Ok(())
    }

    #[test]
    fn refuses_damaged_lines_with_the_column() {
        let cases = [
            (r#"{"a":1"#, 7, "',' or '}'"),
            (r#"{"a" 1}"#, 6, "':'"),
            (r#"{"a":1,}"#, 8, "a quoted key"),
            (r#"{"a":[1]}"#, 6, "flat object"),
            (r#"{"a":{"b":1}}"#, 6, "flat object"),
            (r#"{"a":tru}"#, 6, "true"),
            (r#"{"a":01}"#, 7, "',' or '}'"),
            (r#"{"a":"x\q"}"#, 9, "an escape"),
            (r#"{"a":"x"} x"#, 11, "end of the line"),
            (r#"{"é":"x"#, 8, "close the string"),
            (r#"{"a":"\ud800"}"#, 13, "surrogate"),
            ("{\"a\":\"\t\"}", 7, "control character"),
        ];
        for (line, column, reason) in cases {
            let e = parse_object(line).unwrap_err();
            assert_eq!(e.column, column, "{line}: {e}");
            assert!(e.reason.contains(reason), "{line}: {e}");
        }
    }

    #[test]
    fn skips_lines_that_are_not_objects_and_counts_lines_from_one(
    ) -> Result<(), Box<dyn std::error::Error>> {
        let text = "listening tcp 127.0.0.1:4000 service=echo workers=1\n{\"event\":\"read\"}\n\n  {\"event\":\"write\"}\nstopped accepted=1\n";
        let r = read_records(text).map_err(|(line, e)| format!("line {line}: {e}"))?;
        assert_eq!(r.iter().map(|r| r.line).collect::<Vec<_>>(), vec![2, 4]);
        let (line, e) = read_records("x\n{\"event\":\"read\"}\n{\"event\":}\n").unwrap_err();
        assert_eq!((line, e.column), (3, 10));
        Ok(())
    }
}
