//! Small typed headers (CSeq, Content-Type, numbers) and the typed accessors on [`Headers`].
//! Everything is parsed on demand from the raw values; an error names the header and the offset.

use std::fmt;

use bytestring::ByteString;

use super::{Authorization, Challenge, Contact, HeaderName, Headers, NameAddr, Via};
use crate::error::HeaderError;
use crate::method::Method;
use crate::text::{Cursor, cut, is_gen_value_char, is_token, split_list, trim_lws};
use crate::uri::{Param, Params};

/// Parse `*( ";" name [ "=" value ] )` at the cursor into `params`. Stops (Ok) at anything other
/// than `;`. Errors carry a reason and the offset in the cursor's text.
pub(crate) fn parse_header_params(
    owner: &ByteString,
    c: &mut Cursor<'_>,
    params: &mut Params,
) -> Result<(), (&'static str, usize)> {
    while c.eat(b';') {
        let npos = c.pos;
        let name = c.token();
        if name.is_empty() {
            return Err(("empty parameter name", npos));
        }
        let mut value = None;
        if c.eat(b'=') {
            let vpos = c.pos;
            let v = if c.peek() == Some(b'"') {
                c.quoted().ok_or(("unterminated quoted string", vpos))?
            } else {
                c.take_while(is_gen_value_char)
            };
            if v.is_empty() {
                return Err(("empty parameter value", vpos));
            }
            value = Some(cut(owner, v));
        }
        params.push_param(Param {
            name: cut(owner, name),
            value,
        });
    }
    Ok(())
}

/// `CSeq: <seq> <method>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CSeq {
    pub seq: u32,
    pub method: Method,
}

impl CSeq {
    pub fn new(seq: u32, method: Method) -> CSeq {
        CSeq { seq, method }
    }

    pub fn parse(s: &str) -> Result<CSeq, HeaderError> {
        const N: &str = "CSeq";
        let mut c = Cursor::new(s);
        c.skip_ws();
        let num_pos = c.pos;
        let num = c.take_while(|b| b.is_ascii_digit());
        if num.is_empty() {
            return Err(HeaderError::new(N, "missing sequence number", num_pos));
        }
        let seq: u32 = num
            .parse()
            .map_err(|_| HeaderError::new(N, "sequence number too large", num_pos))?;
        let before = c.pos;
        c.skip_ws();
        if c.pos == before {
            return Err(HeaderError::new(N, "expected space after number", c.pos));
        }
        let m_pos = c.pos;
        let m = c.token();
        if m.is_empty() {
            return Err(HeaderError::new(N, "missing method", m_pos));
        }
        c.skip_ws();
        if !c.at_end() {
            return Err(HeaderError::new(N, "unexpected text", c.pos));
        }
        Ok(CSeq {
            seq,
            method: Method::from_token(m),
        })
    }
}

impl fmt::Display for CSeq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.seq, self.method)
    }
}

/// `Content-Type: type/subtype *(;param)`; compare with [`MediaType::is`] (case-insensitive).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaType {
    pub kind: ByteString,
    pub subtype: ByteString,
    pub params: Params,
}

impl MediaType {
    pub fn parse(s: &str) -> Result<MediaType, HeaderError> {
        let owner = ByteString::from(s);
        MediaType::parse_in(&owner, &owner)
    }

    pub(crate) fn parse_in(owner: &ByteString, s: &str) -> Result<MediaType, HeaderError> {
        const N: &str = "Content-Type";
        let mut c = Cursor::new(s);
        c.skip_ws();
        let kind = c.token();
        if kind.is_empty() {
            return Err(HeaderError::new(N, "missing type", c.pos));
        }
        if !c.eat(b'/') {
            return Err(HeaderError::new(N, "expected '/'", c.pos));
        }
        let sub = c.token();
        if sub.is_empty() {
            return Err(HeaderError::new(N, "missing subtype", c.pos));
        }
        let mut params = Params::new();
        parse_header_params(owner, &mut c, &mut params)
            .map_err(|(w, at)| HeaderError::new(N, w, at))?;
        c.skip_ws();
        if !c.at_end() {
            return Err(HeaderError::new(N, "unexpected text", c.pos));
        }
        Ok(MediaType {
            kind: cut(owner, kind),
            subtype: cut(owner, sub),
            params,
        })
    }

    /// Case-insensitive match, e.g. `is("application", "manscdp+xml")`.
    pub fn is(&self, kind: &str, subtype: &str) -> bool {
        self.kind.eq_ignore_ascii_case(kind) && self.subtype.eq_ignore_ascii_case(subtype)
    }
}

impl fmt::Display for MediaType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.kind, self.subtype)?;
        self.params.write_semi(f)
    }
}

/// Parse a decimal number made only of digits; values above `u32::MAX` saturate (RFC 3261 delta-seconds).
fn parse_delta(name: &'static str, s: &str) -> Result<u32, HeaderError> {
    let s = trim_lws(s);
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(HeaderError::new(name, "not a number", 0));
    }
    Ok(s.parse::<u32>().unwrap_or(u32::MAX))
}

/// Typed, on-demand accessors. Each parses the raw value when called; nothing is cached.
impl Headers {
    /// Every Via entry, top first (comma lists and repeated lines flattened).
    pub fn via(&self) -> Result<Vec<Via>, HeaderError> {
        let mut out = Vec::new();
        for line in self.get_all_shared(HeaderName::Via) {
            for part in split_list(line) {
                if part.is_empty() {
                    return Err(HeaderError::new("Via", "empty list element", 0));
                }
                out.push(Via::parse_in(line, part)?);
            }
        }
        Ok(out)
    }

    /// The topmost Via entry.
    pub fn top_via(&self) -> Result<Via, HeaderError> {
        let line = self
            .get_shared(HeaderName::Via)
            .ok_or(HeaderError::missing("Via"))?;
        let part = split_list(line).next().unwrap_or("");
        Via::parse_in(line, part)
    }

    /// `From`, with its tag in `params`.
    pub fn from(&self) -> Result<NameAddr, HeaderError> {
        let v = self
            .get_shared(HeaderName::From)
            .ok_or(HeaderError::missing("From"))?;
        NameAddr::parse_in(v, v, "From")
    }

    /// `To`, with its tag (if any) in `params`.
    pub fn to(&self) -> Result<NameAddr, HeaderError> {
        let v = self
            .get_shared(HeaderName::To)
            .ok_or(HeaderError::missing("To"))?;
        NameAddr::parse_in(v, v, "To")
    }

    /// `Call-ID`: a non-empty word without whitespace.
    pub fn call_id(&self) -> Result<&str, HeaderError> {
        let v = self
            .get(HeaderName::CallId)
            .ok_or(HeaderError::missing("Call-ID"))?;
        if v.is_empty() {
            return Err(HeaderError::new("Call-ID", "empty", 0));
        }
        if let Some(i) = v.bytes().position(|b| b <= b' ' || b == 0x7f) {
            return Err(HeaderError::new(
                "Call-ID",
                "whitespace or control character",
                i,
            ));
        }
        Ok(v)
    }

    pub fn cseq(&self) -> Result<CSeq, HeaderError> {
        CSeq::parse(
            self.get(HeaderName::CSeq)
                .ok_or(HeaderError::missing("CSeq"))?,
        )
    }

    /// All Contact values (or the `*` wildcard); an empty list when absent.
    pub fn contacts(&self) -> Result<Contact, HeaderError> {
        let mut out = Vec::new();
        for line in self.get_all_shared(HeaderName::Contact) {
            if trim_lws(line) == "*" {
                return Ok(Contact::Wildcard);
            }
            for part in split_list(line) {
                if part.is_empty() {
                    return Err(HeaderError::new("Contact", "empty list element", 0));
                }
                out.push(NameAddr::parse_in(line, part, "Contact")?);
            }
        }
        Ok(Contact::List(out))
    }

    /// The first Contact address (`None` when absent or `*`).
    pub fn contact(&self) -> Result<Option<NameAddr>, HeaderError> {
        let Some(line) = self.get_shared(HeaderName::Contact) else {
            return Ok(None);
        };
        if trim_lws(line) == "*" {
            return Ok(None);
        }
        let part = split_list(line).next().unwrap_or("");
        NameAddr::parse_in(line, part, "Contact").map(Some)
    }

    /// `Expires` in seconds; `None` when absent or malformed (see [`Headers::try_expires`]).
    pub fn expires(&self) -> Option<u32> {
        self.try_expires().ok().flatten()
    }

    /// `Expires` in seconds, with an error for a malformed value. Huge values saturate at `u32::MAX`.
    pub fn try_expires(&self) -> Result<Option<u32>, HeaderError> {
        self.get(HeaderName::Expires)
            .map(|v| parse_delta("Expires", v))
            .transpose()
    }

    pub fn max_forwards(&self) -> Result<Option<u32>, HeaderError> {
        self.get(HeaderName::MaxForwards)
            .map(|v| parse_delta("Max-Forwards", v))
            .transpose()
    }

    pub fn content_length(&self) -> Result<Option<usize>, HeaderError> {
        match self.get(HeaderName::ContentLength) {
            None => Ok(None),
            Some(v) => crate::parser::parse_content_length(v)
                .map(Some)
                .map_err(|why| HeaderError::new("Content-Length", why, 0)),
        }
    }

    pub fn content_type(&self) -> Result<Option<MediaType>, HeaderError> {
        self.get_shared(HeaderName::ContentType)
            .map(|v| MediaType::parse_in(v, v))
            .transpose()
    }

    /// The first `Authorization` header.
    pub fn authorization(&self) -> Result<Option<Authorization>, HeaderError> {
        self.get_shared(HeaderName::Authorization)
            .map(|v| Authorization::parse_in(v, "Authorization"))
            .transpose()
    }

    /// Every `Authorization` header (a request may carry one per realm).
    pub fn authorizations(&self) -> Result<Vec<Authorization>, HeaderError> {
        self.get_all_shared(HeaderName::Authorization)
            .map(|v| Authorization::parse_in(v, "Authorization"))
            .collect()
    }

    pub fn proxy_authorization(&self) -> Result<Option<Authorization>, HeaderError> {
        self.get_shared(HeaderName::ProxyAuthorization)
            .map(|v| Authorization::parse_in(v, "Proxy-Authorization"))
            .transpose()
    }

    /// The first `WWW-Authenticate` challenge.
    pub fn www_authenticate(&self) -> Result<Option<Challenge>, HeaderError> {
        self.get_shared(HeaderName::WwwAuthenticate)
            .map(|v| Challenge::parse_in(v, "WWW-Authenticate"))
            .transpose()
    }

    pub fn proxy_authenticate(&self) -> Result<Option<Challenge>, HeaderError> {
        self.get_shared(HeaderName::ProxyAuthenticate)
            .map(|v| Challenge::parse_in(v, "Proxy-Authenticate"))
            .transpose()
    }

    pub fn subject(&self) -> Option<&str> {
        self.get(HeaderName::Subject)
    }

    /// `Date` as written (GB28181 uses `2026-11-26T10:15:30.123`, not RFC 1123).
    pub fn date(&self) -> Option<&str> {
        self.get(HeaderName::Date)
    }

    pub fn user_agent(&self) -> Option<&str> {
        self.get(HeaderName::UserAgent)
    }

    /// Comma-separated tokens of e.g. `Allow`, `Supported`, `Require`.
    pub fn tokens<'a>(&'a self, name: HeaderName) -> impl Iterator<Item = &'a str> + 'a {
        self.get_all(name)
            .flat_map(split_list)
            .filter(|t| is_token(t))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cseq_parses_and_prints() {
        let c = CSeq::parse("  20 REGISTER ").unwrap();
        assert_eq!(c, CSeq::new(20, Method::Register));
        assert_eq!(c.to_string(), "20 REGISTER");
    }

    #[test]
    fn cseq_rejections_say_why() {
        assert_eq!(
            CSeq::parse("REGISTER").unwrap_err().why,
            "missing sequence number"
        );
        assert_eq!(
            CSeq::parse("99999999999 INVITE").unwrap_err().why,
            "sequence number too large"
        );
        assert_eq!(
            CSeq::parse("1").unwrap_err().why,
            "expected space after number"
        );
        assert_eq!(
            CSeq::parse("1 INVITE x").unwrap_err().why,
            "unexpected text"
        );
    }

    #[test]
    fn content_type_case_insensitive_match() {
        let m = MediaType::parse("Application/MANSCDP+xml").unwrap();
        assert!(m.is("application", "manscdp+xml"));
        let m = MediaType::parse("text/plain ; charset=\"gb2312\"").unwrap();
        assert_eq!(
            m.params.get("charset").unwrap().unquoted().unwrap(),
            "gb2312"
        );
        assert_eq!(m.to_string(), "text/plain;charset=\"gb2312\"");
    }

    #[test]
    fn expires_saturates_and_rejects_garbage() {
        let mut h = Headers::new();
        h.push("Expires", "10000000000000000000");
        assert_eq!(h.expires(), Some(u32::MAX));
        h.set("Expires", "soon");
        assert_eq!(h.expires(), None);
        assert_eq!(h.try_expires().unwrap_err().why, "not a number");
    }

    #[test]
    fn via_list_flattens_lines_and_commas() {
        let mut h = Headers::new();
        h.push(
            "Via",
            "SIP/2.0/UDP a;branch=z9hG4bK1, SIP/2.0/TCP b:5061;branch=z9hG4bK2",
        );
        h.push("v", "SIP/2.0/UDP c;branch=z9hG4bK3");
        let v = h.via().unwrap();
        assert_eq!(v.len(), 3);
        assert_eq!(v[1].port, Some(5061));
        assert_eq!(v[2].branch(), Some("z9hG4bK3"));
        assert_eq!(h.top_via().unwrap().branch(), Some("z9hG4bK1"));
    }

    #[test]
    fn call_id_rejects_whitespace() {
        let mut h = Headers::new();
        h.push("Call-ID", "a b");
        assert_eq!(
            h.call_id().unwrap_err().why,
            "whitespace or control character"
        );
    }
}
