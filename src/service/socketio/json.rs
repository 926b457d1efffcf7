//! Just enough JSON (RFC 8259) for Socket.IO payloads: check that a text is
//! one well-formed value, and find the elements of a top-level array.
//!
//! What it does not do: build values. The server never needs one: an
//! event's name is its first element's text, and everything it sends back
//! or on is the client's own bytes, cut at element boundaries. Nesting is
//! bounded ([`MAX_DEPTH`]), so a hostile `[[[[...` costs no stack.

use std::ops::Range;

/// Deepest nesting of arrays and objects accepted.
pub const MAX_DEPTH: usize = 32;

/// Why a text is not the JSON expected.
pub type Bad = &'static str;

/// The ranges of the elements of `text`, which must be exactly one JSON
/// array (whitespace around it allowed, RFC 8259 §2).
pub fn array_elements(text: &[u8]) -> Result<Vec<Range<usize>>, Bad> {
    let mut p = Parser { s: text, i: 0 };
    p.ws();
    if p.peek() != Some(b'[') {
        return Err("not a JSON array");
    }
    let mut elements = Vec::new();
    p.i += 1;
    p.ws();
    if p.peek() == Some(b']') {
        p.i += 1;
    } else {
        loop {
            p.ws();
            let start = p.i;
            p.value(1)?;
            elements.push(start..p.i);
            p.ws();
            match p.bump() {
                Some(b',') => {}
                Some(b']') => break,
                _ => return Err("expected , or ] in an array"),
            }
        }
    }
    p.end()?;
    Ok(elements)
}

/// Checks that `text` is exactly one JSON object.
pub fn object(text: &[u8]) -> Result<(), Bad> {
    let mut p = Parser { s: text, i: 0 };
    p.ws();
    if p.peek() != Some(b'{') {
        return Err("not a JSON object");
    }
    p.value(0)?;
    p.end()
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn bump(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.i += 1;
        Some(b)
    }

    /// RFC 8259 §2: the four whitespace characters.
    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    fn end(&mut self) -> Result<(), Bad> {
        self.ws();
        if self.i == self.s.len() {
            Ok(())
        } else {
            Err("text after the JSON value")
        }
    }

    /// RFC 8259 §3: one value, at nesting `depth`.
    fn value(&mut self, depth: usize) -> Result<(), Bad> {
        match self.peek() {
            Some(b'{' | b'[') if depth >= MAX_DEPTH => Err("JSON nested too deeply"),
            Some(b'{') => self.members(depth + 1),
            Some(b'[') => self.items(depth + 1),
            Some(b'"') => self.string(),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(b't') => self.word(b"true"),
            Some(b'f') => self.word(b"false"),
            Some(b'n') => self.word(b"null"),
            _ => Err("expected a JSON value"),
        }
    }

    fn word(&mut self, w: &[u8]) -> Result<(), Bad> {
        if self.s[self.i..].starts_with(w) {
            self.i += w.len();
            Ok(())
        } else {
            Err("expected true, false or null")
        }
    }

    /// RFC 8259 §5.
    fn items(&mut self, depth: usize) -> Result<(), Bad> {
        self.i += 1;
        self.ws();
        if self.peek() == Some(b']') {
            self.i += 1;
            return Ok(());
        }
        loop {
            self.ws();
            self.value(depth)?;
            self.ws();
            match self.bump() {
                Some(b',') => {}
                Some(b']') => return Ok(()),
                _ => return Err("expected , or ] in an array"),
            }
        }
    }

    /// RFC 8259 §4.
    fn members(&mut self, depth: usize) -> Result<(), Bad> {
        self.i += 1;
        self.ws();
        if self.peek() == Some(b'}') {
            self.i += 1;
            return Ok(());
        }
        loop {
            self.ws();
            if self.peek() != Some(b'"') {
                return Err("an object's name is a string");
            }
            self.string()?;
            self.ws();
            if self.bump() != Some(b':') {
                return Err("expected : in an object");
            }
            self.ws();
            self.value(depth)?;
            self.ws();
            match self.bump() {
                Some(b',') => {}
                Some(b'}') => return Ok(()),
                _ => return Err("expected , or } in an object"),
            }
        }
    }

    /// RFC 8259 §7: no raw control characters, known escapes only. The
    /// text arrived as a WebSocket text message, already checked UTF-8.
    fn string(&mut self) -> Result<(), Bad> {
        self.i += 1;
        loop {
            match self.bump() {
                None => return Err("unterminated string"),
                Some(b'"') => return Ok(()),
                Some(b'\\') => match self.bump() {
                    Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => {}
                    Some(b'u') => {
                        for _ in 0..4 {
                            if !self.bump().is_some_and(|b| b.is_ascii_hexdigit()) {
                                return Err("bad \\u escape");
                            }
                        }
                    }
                    _ => return Err("bad escape in a string"),
                },
                Some(0..=0x1F) => return Err("control character in a string"),
                Some(_) => {}
            }
        }
    }

    /// RFC 8259 §6: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
    fn number(&mut self) -> Result<(), Bad> {
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        match self.peek() {
            Some(b'0') => self.i += 1,
            Some(b'1'..=b'9') => self.digits(),
            _ => return Err("bad number"),
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            self.some_digits()?;
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.i += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.i += 1;
            }
            self.some_digits()?;
        }
        Ok(())
    }

    fn digits(&mut self) {
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.i += 1;
        }
    }

    fn some_digits(&mut self) -> Result<(), Bad> {
        let start = self.i;
        self.digits();
        if self.i == start {
            Err("bad number")
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(text: &str) -> Result<Vec<&str>, Bad> {
        let r = array_elements(text.as_bytes())?;
        Ok(r.into_iter().map(|r| &text[r]).collect())
    }

    #[test]
    fn finds_the_elements_of_an_array() {
        assert_eq!(parts(r#"["chat","hi"]"#), Ok(vec![r#""chat""#, r#""hi""#]));
        assert_eq!(
            parts(r#" [ "e" , {"a":[1,2.5e-3,null]}, true, -0 ] "#),
            Ok(vec![r#""e""#, r#"{"a":[1,2.5e-3,null]}"#, "true", "-0"])
        );
        assert_eq!(parts("[]"), Ok(vec![]));
        assert_eq!(parts(r#"["a\"b\\u00e9\u00e9"]"#).map(|v| v.len()), Ok(1));
    }

    #[test]
    fn refuses_what_is_not_json() {
        for bad in [
            "",
            "{}",
            "[",
            "[1,]",
            "[,1]",
            "[1 2]",
            "[01]",
            "[1.]",
            "[.5]",
            "[+1]",
            "[tru]",
            "[\"a]",
            "[\"\\x\"]",
            "[\"\\u12g4\"]",
            "[\"tab\there\"]",
            "[1] x",
            "[{1:2}]",
            "[{\"a\" 1}]",
            "[{\"a\":1,}]",
            "['a']",
        ] {
            assert!(array_elements(bad.as_bytes()).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn nesting_is_bounded() {
        let ok = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert!(array_elements(ok.as_bytes()).is_ok());
        let deep = format!("{}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
        assert_eq!(array_elements(deep.as_bytes()), Err("JSON nested too deeply"));
        let hostile = "[".repeat(1_000_000);
        assert!(array_elements(hostile.as_bytes()).is_err());
    }

    #[test]
    fn objects() {
        assert_eq!(object(br#"{"token":"123","n":[1]}"#), Ok(()));
        assert!(object(b"[1]").is_err());
        assert!(object(b"{} {}").is_err());
    }
}
