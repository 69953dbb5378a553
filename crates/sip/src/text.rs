//! Lexical helpers shared by the parsers: RFC 3261 character classes, a small cursor over header text,
//! quoted strings, comma lists and percent-escapes. Everything here works on `&str` slices of one
//! [`ByteString`] so results can be cut out of the shared buffer without copying.

use std::borrow::Cow;

use bytestring::ByteString;

/// Cut `part` out of `owner` without copying when `part` lies inside it; otherwise copy.
///
/// `ByteString::slice_ref` panics on a foreign slice, so check first: the parser must never panic.
pub(crate) fn cut(owner: &ByteString, part: &str) -> ByteString {
    let base = owner.as_ptr() as usize;
    let start = part.as_ptr() as usize;
    if start >= base && start + part.len() <= base + owner.len() {
        owner.slice_ref(part)
    } else {
        ByteString::from(part)
    }
}

/// RFC 3261 `token` characters as a lookup table (the parser's hottest predicate).
const TOKEN: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        t[i] = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~'
            );
        i += 1;
    }
    t
};

/// RFC 3261 `token` character.
#[inline]
pub(crate) fn is_token_char(b: u8) -> bool {
    TOKEN[usize::from(b)]
}

/// True when `s` is a non-empty RFC 3261 token.
pub(crate) fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_token_char)
}

/// RFC 3261 `unreserved` = alphanum / mark.
pub(crate) fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'_' | b'.' | b'!' | b'~' | b'*' | b'\'' | b'(' | b')'
        )
}

pub(crate) fn is_ws(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// Trim SP/HTAB (and any CR/LF left by folding) at both ends.
pub(crate) fn trim_lws(s: &str) -> &str {
    let b = s.as_bytes();
    let lws = |c: u8| matches!(c, b' ' | b'\t' | b'\r' | b'\n');
    let mut start = 0;
    let mut end = b.len();
    while start < end && lws(b[start]) {
        start += 1;
    }
    while end > start && lws(b[end - 1]) {
        end -= 1;
    }
    // Cuts fall next to ASCII bytes, so on char boundaries.
    s.get(start..end).unwrap_or("")
}

/// Lines of `s` split at LF with a trailing CR removed, like `split('\n')` but with SIMD memchr.
pub(crate) fn lines(s: &str) -> impl Iterator<Item = &str> {
    let mut start = 0;
    let mut ends = memchr::memchr_iter(b'\n', s.as_bytes());
    std::iter::from_fn(move || {
        if start > s.len() {
            return None;
        }
        let end = ends.next().unwrap_or(s.len());
        let line = s.get(start..end).unwrap_or("");
        start = end + 1;
        Some(line.strip_suffix('\r').unwrap_or(line))
    })
}

/// Check `%HH` escapes are well formed: every `%` is followed by two hex digits.
pub(crate) fn escapes_ok(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            match (b.get(i + 1), b.get(i + 2)) {
                (Some(h), Some(l)) if h.is_ascii_hexdigit() && l.is_ascii_hexdigit() => i += 3,
                _ => return false,
            }
        } else {
            i += 1;
        }
    }
    true
}

fn hex_val(b: u8) -> u8 {
    match b {
        b'0'..=b'9' => b - b'0',
        b'a'..=b'f' => b - b'a' + 10,
        b'A'..=b'F' => b - b'A' + 10,
        _ => 0,
    }
}

/// Decode `%HH` escapes. Malformed escapes are kept literally; invalid UTF-8 becomes U+FFFD.
pub fn percent_decode(s: &str) -> Cow<'_, str> {
    if !s.contains('%') {
        return Cow::Borrowed(s);
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match (b[i], b.get(i + 1), b.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) if h.is_ascii_hexdigit() && l.is_ascii_hexdigit() => {
                out.push(hex_val(h) << 4 | hex_val(l));
                i += 3;
            }
            (c, _, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    match String::from_utf8(out) {
        Ok(s) => Cow::Owned(s),
        Err(e) => Cow::Owned(String::from_utf8_lossy(e.as_bytes()).into_owned()),
    }
}

/// Escape `s` for use inside a quoted-string (backslash before `"` and `\`).
pub(crate) fn write_quoted(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
}

/// Remove the quotes and backslash escapes of a quoted-string body (`inner` excludes the quotes).
pub(crate) fn unescape_quoted(inner: &str) -> Cow<'_, str> {
    if !inner.contains('\\') {
        return Cow::Borrowed(inner);
    }
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Length in bytes of the quoted-string starting at `s[0] == '"'`, quotes included;
/// `None` when it is not terminated.
pub(crate) fn quoted_len(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    if b.first() != Some(&b'"') {
        return None;
    }
    let mut i = 1;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'"' => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

/// Split a header value at top-level commas (outside quoted strings and `<...>`), trimming each part.
/// Empty parts are kept so callers can reject them. An unterminated quote or bracket swallows the rest.
pub(crate) fn split_list(value: &str) -> ListIter<'_> {
    ListIter { rest: Some(value) }
}

pub(crate) struct ListIter<'a> {
    rest: Option<&'a str>,
}

impl<'a> Iterator for ListIter<'a> {
    type Item = &'a str;
    fn next(&mut self) -> Option<&'a str> {
        let s = self.rest?;
        let b = s.as_bytes();
        let mut i = 0;
        let mut in_angle = false;
        while i < b.len() {
            match b[i] {
                b'"' => match quoted_len(&s[i..]) {
                    Some(n) => {
                        i += n;
                        continue;
                    }
                    None => break,
                },
                b'<' => in_angle = true,
                b'>' => in_angle = false,
                b',' if !in_angle => {
                    self.rest = Some(&s[i + 1..]);
                    return Some(trim_lws(&s[..i]));
                }
                _ => {}
            }
            i += 1;
        }
        self.rest = None;
        Some(trim_lws(s))
    }
}

/// A cursor over header text used by the typed header parsers.
#[derive(Debug, Clone)]
pub(crate) struct Cursor<'a> {
    pub s: &'a str,
    pub pos: usize,
}

impl<'a> Cursor<'a> {
    pub fn new(s: &'a str) -> Self {
        Cursor { s, pos: 0 }
    }
    pub fn rest(&self) -> &'a str {
        self.s.get(self.pos..).unwrap_or("")
    }
    pub fn peek(&self) -> Option<u8> {
        self.s.as_bytes().get(self.pos).copied()
    }
    pub fn at_end(&self) -> bool {
        self.pos >= self.s.len()
    }
    pub fn skip_ws(&mut self) {
        while let Some(b) = self.peek() {
            if is_ws(b) || b == b'\r' || b == b'\n' {
                self.pos += 1;
            } else {
                break;
            }
        }
    }
    /// Consume `c` (after optional whitespace on both sides) if it is next.
    pub fn eat(&mut self, c: u8) -> bool {
        let save = self.pos;
        self.skip_ws();
        if self.peek() == Some(c) {
            self.pos += 1;
            self.skip_ws();
            true
        } else {
            self.pos = save;
            false
        }
    }
    /// Consume bytes while `f` holds; returns the consumed slice.
    pub fn take_while(&mut self, f: impl Fn(u8) -> bool) -> &'a str {
        let start = self.pos;
        let b = self.s.as_bytes();
        while self.pos < b.len() && f(b[self.pos]) {
            self.pos += 1;
        }
        // Only ASCII predicates are used, so the cut is on a char boundary; fall back to "" anyway.
        self.s.get(start..self.pos).unwrap_or("")
    }
    pub fn token(&mut self) -> &'a str {
        self.take_while(is_token_char)
    }
    /// A quoted string including its quotes, or `None` (cursor unchanged) when not at a terminated one.
    pub fn quoted(&mut self) -> Option<&'a str> {
        let n = quoted_len(self.rest())?;
        let q = self.s.get(self.pos..self.pos + n)?;
        self.pos += n;
        Some(q)
    }
}

/// Character allowed in a header parameter value that is not quoted (token / host / IPv6 reference).
pub(crate) fn is_gen_value_char(b: u8) -> bool {
    is_token_char(b) || matches!(b, b':' | b'[' | b']')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_list_respects_quotes_and_angle_brackets() {
        let parts: Vec<_> = split_list(r#""a, b" <sip:x@y;p=1,2>;q=1 , <sip:z> ,"#).collect();
        assert_eq!(parts, vec![r#""a, b" <sip:x@y;p=1,2>;q=1"#, "<sip:z>", ""]);
    }

    #[test]
    fn quoted_len_handles_escaped_quote() {
        assert_eq!(quoted_len(r#""a\"b" rest"#), Some(6));
        assert_eq!(quoted_len(r#""unterminated"#), None);
        assert_eq!(quoted_len("\"ends in backslash\\"), None);
    }

    #[test]
    fn percent_decode_decodes_and_keeps_bad_escapes() {
        assert_eq!(percent_decode("a%20b%2"), "a b%2");
        assert_eq!(percent_decode("%41%42"), "AB");
    }

    #[test]
    fn unescape_quoted_removes_backslashes() {
        assert_eq!(unescape_quoted(r#"a\"b\\c"#), r#"a"b\c"#);
    }

    #[test]
    fn cut_copies_foreign_slices_instead_of_panicking() {
        let owner = ByteString::from("hello world");
        let inside = cut(&owner, &owner[6..]);
        assert_eq!(&*inside, "world");
        let foreign = cut(&owner, "zzz");
        assert_eq!(&*foreign, "zzz");
    }
}
