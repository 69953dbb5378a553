//! Body charsets of MANSCDP messages: finding the XML declaration's encoding, decoding
//! GB2312/GBK/GB18030/UTF-8 bodies to `String` and encoding replies with a matching
//! declaration.
//!
//! Devices mislabel their bodies freely (GBK text declared as GB2312, a few GBK-only
//! characters in a "GB2312" camera name), so every GB label is decoded as GB18030, which
//! is a superset of both. Malformed byte sequences become U+FFFD rather than failing the
//! whole message: one bad byte in a camera name must not lose a catalog.

use std::fmt;

use encoding_rs::{Encoding, GB18030, GBK, UTF_8};

/// Largest body we decode. MANSCDP bodies are a few KiB; a catalog over TCP may be larger,
/// but nothing legitimate comes near this.
pub const MAX_BODY_LEN: usize = 1024 * 1024;

/// The charset a body was declared (or detected) with; also what to reply with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Charset {
    /// `GB2312`: what most devices declare, and what we write by default.
    #[default]
    Gb2312,
    /// `GBK`.
    Gbk,
    /// `GB18030`.
    Gb18030,
    /// `UTF-8`.
    Utf8,
}

impl Charset {
    /// The label written in the XML declaration.
    pub fn label(self) -> &'static str {
        match self {
            Self::Gb2312 => "GB2312",
            Self::Gbk => "GBK",
            Self::Gb18030 => "GB18030",
            Self::Utf8 => "UTF-8",
        }
    }

    /// Recognises a declared encoding name, case-insensitively, including the aliases
    /// known to the Encoding Standard (`gb_2312`, `cp936`, `x-gbk`, `utf8`, ...).
    pub fn from_label(label: &str) -> Option<Self> {
        let label = label.trim();
        // encoding_rs folds GB2312 into GBK; keep the distinction so replies echo it.
        if label.eq_ignore_ascii_case("gb2312") || label.eq_ignore_ascii_case("gb_2312") {
            return Some(Self::Gb2312);
        }
        // Windows' name for GBK, which the Encoding Standard does not list.
        if label.eq_ignore_ascii_case("cp936") {
            return Some(Self::Gbk);
        }
        let enc = Encoding::for_label_no_replacement(label.as_bytes())?;
        if enc == GBK {
            Some(Self::Gbk)
        } else if enc == GB18030 {
            Some(Self::Gb18030)
        } else if enc == UTF_8 {
            Some(Self::Utf8)
        } else {
            None
        }
    }

    /// The encoding used for this charset. All GB labels map to GB18030 because it is a
    /// superset of GB2312 and GBK, and devices put GBK characters into "GB2312" bodies.
    fn encoding(self) -> &'static Encoding {
        match self {
            Self::Utf8 => UTF_8,
            Self::Gb2312 | Self::Gbk | Self::Gb18030 => GB18030,
        }
    }
}

impl fmt::Display for Charset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// Why a body could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CharsetError {
    /// The body is larger than [`MAX_BODY_LEN`].
    #[error("body too large: {len} bytes (max {max})")]
    TooLarge {
        /// Length of the body.
        len: usize,
        /// The limit.
        max: usize,
    },
}

/// Decodes a MANSCDP body to text.
///
/// Honours the XML declaration's `encoding` (GB2312, GBK, GB18030, UTF-8, any case).
/// Without a usable declaration the body is UTF-8 if it is valid UTF-8, else GB18030.
/// A body declared UTF-8 that is not valid UTF-8 is decoded as GB18030 (devices that
/// write GBK text under a UTF-8 declaration exist) and reported as [`Charset::Gb18030`].
/// Trailing NULs and whitespace (some firmware pads its buffers) and a UTF-8 BOM are
/// stripped. Returns the text and the charset used, which is also what to reply with.
pub fn decode_body(bytes: &[u8]) -> Result<(String, Charset), CharsetError> {
    if bytes.len() > MAX_BODY_LEN {
        return Err(CharsetError::TooLarge {
            len: bytes.len(),
            max: MAX_BODY_LEN,
        });
    }
    let mut bytes = trim_trailing_padding(bytes);
    let had_bom = bytes.starts_with(b"\xEF\xBB\xBF");
    if had_bom {
        bytes = &bytes[3..];
    }
    let declared = declared_encoding(bytes).and_then(Charset::from_label);
    let utf8 = std::str::from_utf8(bytes).ok();
    let text_and_charset = match (declared, utf8) {
        (Some(Charset::Utf8), Some(s)) => (s.to_owned(), Charset::Utf8),
        (Some(Charset::Utf8), None) => (decode_gb18030(bytes), Charset::Gb18030),
        (Some(cs), _) => (decode_gb18030(bytes), cs),
        (None, Some(s)) => (s.to_owned(), Charset::Utf8),
        (None, None) if had_bom => (String::from_utf8_lossy(bytes).into_owned(), Charset::Utf8),
        (None, None) => (decode_gb18030(bytes), Charset::Gb18030),
    };
    Ok(text_and_charset)
}

/// Encodes `xml` for sending, with an XML declaration naming `charset`.
///
/// A declaration already at the start of `xml` is replaced, so the label always matches
/// the bytes. GB labels are written with the GB18030 encoder: characters in GB2312 get
/// their GB2312 bytes, GBK characters their GBK bytes, and anything else the GB18030
/// four-byte form, so nothing is lost and our own decoder round-trips it.
pub fn encode_body(xml: &str, charset: Charset) -> Vec<u8> {
    let body = strip_declaration(xml);
    let mut out = Vec::with_capacity(body.len() + 48);
    out.extend_from_slice(b"<?xml version=\"1.0\" encoding=\"");
    out.extend_from_slice(charset.label().as_bytes());
    out.extend_from_slice(b"\"?>\r\n");
    match charset {
        Charset::Utf8 => out.extend_from_slice(body.as_bytes()),
        _ => {
            // GB18030 can encode every Unicode scalar value, so there are no unmappables.
            let (bytes, _, _) = charset.encoding().encode(body);
            out.extend_from_slice(&bytes);
        }
    }
    out
}

fn decode_gb18030(bytes: &[u8]) -> String {
    let (text, _had_errors) = GB18030.decode_without_bom_handling(bytes);
    text.into_owned()
}

fn trim_trailing_padding(bytes: &[u8]) -> &[u8] {
    let end = bytes
        .iter()
        .rposition(|b| !matches!(b, 0 | b' ' | b'\t' | b'\r' | b'\n'))
        .map_or(0, |p| p + 1);
    &bytes[..end]
}

/// Removes a leading `<?xml ...?>` declaration (after optional whitespace) and the line
/// break after it.
fn strip_declaration(xml: &str) -> &str {
    let trimmed = xml.trim_start_matches(['\u{feff}', ' ', '\t', '\r', '\n']);
    if trimmed.starts_with("<?xml")
        && let Some(end) = trimmed.find("?>")
    {
        return trimmed[end + 2..].trim_start_matches(['\r', '\n']);
    }
    xml
}

/// The `encoding` pseudo-attribute of a leading XML declaration, read from raw bytes
/// (the declaration is ASCII in every charset we accept).
fn declared_encoding(bytes: &[u8]) -> Option<&str> {
    let start = bytes.iter().position(|b| !b.is_ascii_whitespace())?;
    let rest = &bytes[start..];
    if !rest.starts_with(b"<?xml") {
        return None;
    }
    // A declaration is short; do not scan a whole body looking for `?>`.
    let window = &rest[..rest.len().min(256)];
    let end = window.windows(2).position(|w| w == b"?>")?;
    let decl = std::str::from_utf8(window.get(5..end)?).ok()?;
    pseudo_attribute(decl, "encoding")
}

/// Finds `name = "value"` or `name='value'` in a declaration, `name` case-insensitive.
fn pseudo_attribute<'a>(decl: &'a str, name: &str) -> Option<&'a str> {
    let lower = decl.to_ascii_lowercase();
    let mut search_from = 0;
    while let Some(found) = lower[search_from..].find(name) {
        let at = search_from + found;
        search_from = at + name.len();
        let after = decl[search_from..].trim_start();
        let Some(after_eq) = after.strip_prefix('=') else {
            continue;
        };
        let after_eq = after_eq.trim_start();
        let quote = after_eq.chars().next()?;
        if quote != '"' && quote != '\'' {
            // Unquoted values happen in sloppy firmware: take up to whitespace.
            let value = after_eq.split_whitespace().next()?;
            return Some(value.trim_end_matches('?'));
        }
        let inner = &after_eq[1..];
        let close = inner.find(quote)?;
        return Some(&inner[..close]);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    // "中文" in GB2312: D6 D0 CE C4.
    const GB2312_ZHONGWEN: &[u8] = b"\xD6\xD0\xCE\xC4";
    // U+9394 鎔 is in GBK but not GB2312: E6 67 (trail byte below 0xA1).
    const GBK_RONG: &[u8] = b"\xE6\x67";
    // U+3400 㐀 is only in GB18030 (four-byte form): 81 39 EE 39.
    const GB18030_U3400: &[u8] = b"\x81\x39\xEE\x39";

    fn body(decl: &str, name: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(decl.as_bytes());
        v.extend_from_slice(b"<Notify><Name>");
        v.extend_from_slice(name);
        v.extend_from_slice(b"</Name></Notify>");
        v
    }

    #[test]
    fn declared_gb2312_decodes_hanzi() {
        let b = body(
            "<?xml version=\"1.0\" encoding=\"GB2312\"?>\r\n",
            GB2312_ZHONGWEN,
        );
        let (text, cs) = decode_body(&b).unwrap();
        assert_eq!(cs, Charset::Gb2312);
        assert!(
            text.ends_with("<Notify><Name>中文</Name></Notify>"),
            "{text}"
        );
    }

    #[test]
    fn gbk_only_character_declared_gb2312_survives() {
        let b = body("<?xml version=\"1.0\" encoding=\"gb2312\"?>", GBK_RONG);
        let (text, cs) = decode_body(&b).unwrap();
        assert_eq!(cs, Charset::Gb2312);
        assert!(text.contains("<Name>鎔</Name>"), "{text}");
    }

    #[test]
    fn gb18030_four_byte_character_declared_gb2312_survives() {
        let b = body("<?xml version='1.0' encoding='GB2312'?>", GB18030_U3400);
        let (text, _) = decode_body(&b).unwrap();
        assert!(text.contains("<Name>\u{3400}</Name>"), "{text}");
    }

    #[test]
    fn declared_gbk_and_gb18030_are_reported_as_declared() {
        let (t, cs) =
            decode_body(&body("<?xml version=\"1.0\" encoding=\"GBK\"?>", GBK_RONG)).unwrap();
        assert_eq!((cs, t.contains("鎔")), (Charset::Gbk, true));
        let (t, cs) = decode_body(&body(
            "<?xml version=\"1.0\" encoding=\"gb18030\"?>",
            GB18030_U3400,
        ))
        .unwrap();
        assert_eq!((cs, t.contains('\u{3400}')), (Charset::Gb18030, true));
    }

    #[test]
    fn declared_utf8_decodes_utf8() {
        let b = body(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>",
            "中文".as_bytes(),
        );
        let (text, cs) = decode_body(&b).unwrap();
        assert_eq!(cs, Charset::Utf8);
        assert!(text.contains("<Name>中文</Name>"));
    }

    #[test]
    fn declared_utf8_but_gbk_bytes_falls_back_to_gb18030() {
        let b = body(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>",
            GB2312_ZHONGWEN,
        );
        let (text, cs) = decode_body(&b).unwrap();
        assert_eq!(cs, Charset::Gb18030);
        assert!(text.contains("<Name>中文</Name>"));
    }

    #[test]
    fn undeclared_valid_utf8_is_utf8() {
        let (text, cs) = decode_body(&body("", "中文".as_bytes())).unwrap();
        assert_eq!(cs, Charset::Utf8);
        assert_eq!(text, "<Notify><Name>中文</Name></Notify>");
    }

    #[test]
    fn undeclared_invalid_utf8_is_gb18030() {
        let (text, cs) = decode_body(&body("", GB2312_ZHONGWEN)).unwrap();
        assert_eq!(cs, Charset::Gb18030);
        assert_eq!(text, "<Notify><Name>中文</Name></Notify>");
    }

    #[test]
    fn declaration_without_encoding_detects() {
        let (_, cs) = decode_body(&body("<?xml version=\"1.0\"?>", GB2312_ZHONGWEN)).unwrap();
        assert_eq!(cs, Charset::Gb18030);
    }

    #[test]
    fn unknown_declared_encoding_detects() {
        let (text, cs) =
            decode_body(&body("<?xml version=\"1.0\" encoding=\"bogus\"?>", b"ab")).unwrap();
        assert_eq!(cs, Charset::Utf8);
        assert!(text.contains("<Name>ab</Name>"));
    }

    #[test]
    fn trailing_nuls_and_whitespace_are_stripped() {
        let mut b = body(
            "<?xml version=\"1.0\" encoding=\"GB2312\"?>",
            GB2312_ZHONGWEN,
        );
        b.extend_from_slice(b"\r\n\0\0\0 \n\0");
        let (text, _) = decode_body(&b).unwrap();
        assert!(text.ends_with("</Notify>"), "{text:?}");
    }

    #[test]
    fn all_padding_is_empty() {
        assert_eq!(
            decode_body(b"\0\0\r\n").unwrap(),
            (String::new(), Charset::Utf8)
        );
    }

    #[test]
    fn utf8_bom_is_stripped() {
        let (text, cs) = decode_body(b"\xEF\xBB\xBF<a/>").unwrap();
        assert_eq!((text.as_str(), cs), ("<a/>", Charset::Utf8));
    }

    #[test]
    fn malformed_gb_bytes_become_replacement_characters() {
        let b = body(
            "<?xml version=\"1.0\" encoding=\"GB2312\"?>",
            b"\xD6\xD0\xFF",
        );
        let (text, _) = decode_body(&b).unwrap();
        assert!(text.contains("<Name>中\u{FFFD}</Name>"), "{text}");
    }

    #[test]
    fn too_large_body_is_refused() {
        let big = vec![b' '; MAX_BODY_LEN + 1];
        assert_eq!(
            decode_body(&big),
            Err(CharsetError::TooLarge {
                len: MAX_BODY_LEN + 1,
                max: MAX_BODY_LEN
            })
        );
    }

    #[test]
    fn encode_writes_matching_declaration_and_gb_bytes() {
        let out = encode_body("<Name>中文</Name>", Charset::Gb2312);
        let mut expected = b"<?xml version=\"1.0\" encoding=\"GB2312\"?>\r\n<Name>".to_vec();
        expected.extend_from_slice(GB2312_ZHONGWEN);
        expected.extend_from_slice(b"</Name>");
        assert_eq!(out, expected);
    }

    #[test]
    fn encode_replaces_existing_declaration() {
        let out = encode_body(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<a>x</a>",
            Charset::Gbk,
        );
        assert_eq!(out, b"<?xml version=\"1.0\" encoding=\"GBK\"?>\r\n<a>x</a>");
        let out = encode_body("<a>中</a>", Charset::Utf8);
        assert_eq!(
            out,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n<a>中</a>".as_bytes()
        );
    }

    #[test]
    fn characters_outside_gb2312_round_trip_when_declared_gb2312() {
        let xml = "<Name>中文 鎔 \u{3400} \u{20000} €</Name>";
        let bytes = encode_body(xml, Charset::Gb2312);
        // GBK and four-byte bytes are really in there, not NCRs or '?'.
        assert!(bytes.windows(2).any(|w| w == GBK_RONG));
        assert!(bytes.windows(4).any(|w| w == GB18030_U3400));
        let (text, cs) = decode_body(&bytes).unwrap();
        assert_eq!(cs, Charset::Gb2312);
        assert_eq!(strip_declaration(&text), xml);
    }

    #[test]
    fn labels_are_case_insensitive_with_aliases() {
        assert_eq!(Charset::from_label("gb2312"), Some(Charset::Gb2312));
        assert_eq!(Charset::from_label("GB_2312"), Some(Charset::Gb2312));
        assert_eq!(Charset::from_label("Gbk"), Some(Charset::Gbk));
        assert_eq!(Charset::from_label("x-gbk"), Some(Charset::Gbk));
        assert_eq!(Charset::from_label("CP936"), Some(Charset::Gbk));
        assert_eq!(Charset::from_label("gb18030"), Some(Charset::Gb18030));
        assert_eq!(Charset::from_label("utf8"), Some(Charset::Utf8));
        assert_eq!(Charset::from_label("ISO-8859-1"), None);
    }

    #[test]
    fn reads_unquoted_and_spaced_encoding_attributes() {
        assert_eq!(
            declared_encoding(b"<?xml version=\"1.0\" encoding = \"GBK\" ?>"),
            Some("GBK")
        );
        assert_eq!(
            declared_encoding(b"  <?xml version=1.0 encoding=GBK?><a/>"),
            Some("GBK")
        );
        assert_eq!(declared_encoding(b"<?xml version=\"1.0\"?>"), None);
        assert_eq!(declared_encoding(b"<?xml encoding=\"GBK\""), None);
        assert_eq!(declared_encoding(b"<a/>"), None);
    }
}
