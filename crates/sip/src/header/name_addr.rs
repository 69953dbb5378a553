//! name-addr / addr-spec values with header parameters: From, To, Contact (RFC 3261 §20.10, §20.20, §20.39).

use std::borrow::Cow;
use std::fmt;

use bytestring::ByteString;

use super::typed::parse_header_params;
use crate::error::HeaderError;
use crate::text::{
    Cursor, cut, is_token_char, is_ws, quoted_len, trim_lws, unescape_quoted, write_quoted,
};
use crate::uri::{Params, Uri, parse_uri};

/// `[display-name] <uri> *(;param)` or `uri *(;param)`. `params` are the header parameters
/// (`tag`, `expires`, `q`, ...), not the URI's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameAddr {
    /// Display name, quotes and escapes removed.
    pub display_name: Option<ByteString>,
    pub uri: Uri,
    pub params: Params,
}

/// The Contact header: `*` or a list of addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Contact {
    Wildcard,
    List(Vec<NameAddr>),
}

impl NameAddr {
    pub fn new(uri: Uri) -> NameAddr {
        NameAddr {
            display_name: None,
            uri,
            params: Params::new(),
        }
    }

    /// Set the `tag` parameter.
    pub fn with_tag(mut self, tag: &str) -> NameAddr {
        self.params.set("tag", Some(tag));
        self
    }

    pub fn tag(&self) -> Option<&str> {
        self.params.value("tag")
    }

    /// `expires` parameter of a Contact, saturating at `u32::MAX`; `None` when absent or not a number.
    pub fn expires(&self) -> Option<u32> {
        let v = self.params.value("expires")?;
        if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        Some(v.parse().unwrap_or(u32::MAX))
    }

    /// The display name, if any.
    pub fn display(&self) -> Option<Cow<'_, str>> {
        self.display_name.as_deref().map(Cow::Borrowed)
    }

    /// Parse a single name-addr or addr-spec with parameters.
    pub fn parse(s: &str) -> Result<NameAddr, HeaderError> {
        let owner = ByteString::from(s);
        NameAddr::parse_in(&owner, &owner, "name-addr")
    }

    pub(crate) fn parse_in(
        owner: &ByteString,
        s: &str,
        name: &'static str,
    ) -> Result<NameAddr, HeaderError> {
        let e = |why, at| HeaderError::new(name, why, at);
        let mut c = Cursor::new(s);
        c.skip_ws();
        let mut display_name = None;
        let uri;
        let start = c.pos;
        if c.peek() == Some(b'"') {
            let n = quoted_len(c.rest()).ok_or(e("unterminated quoted string", start))?;
            let inner = s.get(start + 1..start + n - 1).unwrap_or("");
            display_name = Some(match unescape_quoted(inner) {
                Cow::Borrowed(b) => cut(owner, b),
                Cow::Owned(o) => ByteString::from(o),
            });
            c.pos += n;
            c.skip_ws();
            if c.peek() != Some(b'<') {
                return Err(e("expected '<' after display name", c.pos));
            }
        }
        if c.peek() != Some(b'<') {
            // Either `tokens <uri>` or a bare addr-spec.
            let rest = c.rest();
            let is_display = rest
                .bytes()
                .take_while(|&b| b != b'<')
                .all(|b| is_token_char(b) || is_ws(b))
                && rest.contains('<');
            if is_display {
                let lt = rest.find('<').unwrap_or(0);
                let d = trim_lws(&rest[..lt]);
                if !d.is_empty() {
                    display_name = Some(cut(owner, d));
                }
                c.pos += lt;
            }
        }
        if c.peek() == Some(b'<') {
            let open = c.pos;
            let rest = c.rest();
            let close = rest.find('>').ok_or(e("missing '>'", open))?;
            let u = &rest[1..close];
            uri = parse_uri(owner, u).map_err(|er| e(er.why, open + 1 + er.offset))?;
            c.pos += close + 1;
        } else {
            // addr-spec: the URI ends at the first ';' (header params follow), whitespace or ','.
            let upos = c.pos;
            let u = c.take_while(|b| b != b';' && b != b',' && !is_ws(b));
            if u.is_empty() {
                return Err(e("missing URI", upos));
            }
            // RFC 3261 §20.10: a URI with '?' (or ',' or ';') must be in <> (RFC 4475 regbadct).
            if let Some(q) = u.find('?') {
                return Err(e("URI with '?' must be enclosed in <>", upos + q));
            }
            uri = parse_uri(owner, u).map_err(|er| e(er.why, upos + er.offset))?;
        }
        let mut params = Params::new();
        parse_header_params(owner, &mut c, &mut params).map_err(|(why, at)| e(why, at))?;
        c.skip_ws();
        if !c.at_end() {
            return Err(e("unexpected text", c.pos));
        }
        Ok(NameAddr {
            display_name,
            uri,
            params,
        })
    }
}

impl fmt::Display for NameAddr {
    /// Always prints the `<uri>` form (safe for URIs with `;`, `?` or `,`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(d) = &self.display_name {
            let mut q = String::with_capacity(d.len() + 2);
            write_quoted(&mut q, d);
            write!(f, "{q} ")?;
        }
        write!(f, "<{}>", self.uri)?;
        self.params.write_semi(f)
    }
}

impl std::str::FromStr for NameAddr {
    type Err = HeaderError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        NameAddr::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::uri::Host;

    #[test]
    fn gb28181_from_with_tag() {
        let n = NameAddr::parse("<sip:34020000001320000001@3402000000>;tag=1876443237").unwrap();
        assert_eq!(n.display_name, None);
        assert_eq!(n.uri.user.as_deref(), Some("34020000001320000001"));
        assert_eq!(n.tag(), Some("1876443237"));
        assert_eq!(
            n.to_string(),
            "<sip:34020000001320000001@3402000000>;tag=1876443237"
        );
    }

    #[test]
    fn quoted_display_name_with_escapes() {
        let n = NameAddr::parse(
            r#""Bob \"the\" \\ builder" <sip:bob@biloxi.com;transport=udp>;tag=a48s"#,
        )
        .unwrap();
        assert_eq!(n.display_name.as_deref(), Some(r#"Bob "the" \ builder"#));
        assert_eq!(n.uri.transport(), Some("udp"));
        assert_eq!(n.tag(), Some("a48s"));
        assert_eq!(NameAddr::parse(&n.to_string()).unwrap(), n);
    }

    #[test]
    fn token_display_name() {
        let n = NameAddr::parse("Alice Smith <sip:alice@atlanta.com>").unwrap();
        assert_eq!(n.display_name.as_deref(), Some("Alice Smith"));
    }

    #[test]
    fn addr_spec_params_belong_to_header() {
        let n = NameAddr::parse("sip:alice@atlanta.com;tag=88sja8x").unwrap();
        assert!(n.uri.params.is_empty());
        assert_eq!(n.tag(), Some("88sja8x"));
        assert_eq!(n.uri.host, Host::Name("atlanta.com".into()));
    }

    #[test]
    fn contact_expires_param() {
        let n =
            NameAddr::parse("<sip:34020000001320000001@192.168.1.64:5060>;expires=3600").unwrap();
        assert_eq!(n.expires(), Some(3600));
    }

    #[test]
    fn rejections_say_why() {
        assert_eq!(
            NameAddr::parse("\"unterminated <sip:a@b>").unwrap_err().why,
            "unterminated quoted string"
        );
        assert_eq!(NameAddr::parse("<sip:a@b").unwrap_err().why, "missing '>'");
        assert_eq!(
            NameAddr::parse("<sip:a@b> junk").unwrap_err().why,
            "unexpected text"
        );
        assert_eq!(
            NameAddr::parse("\"x\" sip:a@b").unwrap_err().why,
            "expected '<' after display name"
        );
    }
}
