//! SIP and SIPS URIs (RFC 3261 §19.1): user, password, host (IPv4, IPv6 reference, name), port,
//! parameters and headers, plus the [`Params`] list shared with header parameters. Components keep
//! their escaped wire form; [`crate::percent_decode`] gives the decoded text.

use std::borrow::Cow;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use bytestring::ByteString;

use crate::text::{self, cut, escapes_ok, is_unreserved};

/// A malformed URI: why, and the byte offset inside the URI text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad URI: {why}")]
pub struct UriError {
    pub why: &'static str,
    pub offset: usize,
}

fn err(why: &'static str, offset: usize) -> UriError {
    UriError { why, offset }
}

/// URI scheme. Schemes compare case-insensitively on input and print in lowercase.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Scheme {
    Sip,
    Sips,
    /// Another absolute-URI scheme (`tel`, `urn`, ...), kept as received.
    Other(ByteString),
}

impl Scheme {
    pub fn as_str(&self) -> &str {
        match self {
            Scheme::Sip => "sip",
            Scheme::Sips => "sips",
            Scheme::Other(s) => s,
        }
    }
}

/// The host part of a URI or Via sent-by.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Host {
    /// A domain name (compare case-insensitively with [`Host::eq_ignore_case`]).
    Name(ByteString),
    V4(Ipv4Addr),
    V6(Ipv6Addr),
}

impl Host {
    /// Parse a host: `[v6]`, dotted IPv4 or a host name (alphanumerics, `-`, `.`, `_`).
    pub fn parse(s: &str) -> Result<Host, UriError> {
        parse_host(&ByteString::from(s), s, 0)
    }

    /// The address when the host is an IP literal.
    pub fn ip(&self) -> Option<IpAddr> {
        match self {
            Host::Name(_) => None,
            Host::V4(a) => Some(IpAddr::V4(*a)),
            Host::V6(a) => Some(IpAddr::V6(*a)),
        }
    }

    /// Equality with host names compared case-insensitively (RFC 3261 §19.1.4).
    pub fn eq_ignore_case(&self, other: &Host) -> bool {
        match (self, other) {
            (Host::Name(a), Host::Name(b)) => a.eq_ignore_ascii_case(b),
            (a, b) => a == b,
        }
    }
}

impl From<IpAddr> for Host {
    fn from(a: IpAddr) -> Self {
        match a {
            IpAddr::V4(a) => Host::V4(a),
            IpAddr::V6(a) => Host::V6(a),
        }
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Name(n) => f.write_str(n),
            Host::V4(a) => write!(f, "{a}"),
            Host::V6(a) => write!(f, "[{a}]"),
        }
    }
}

pub(crate) fn parse_host(owner: &ByteString, s: &str, base: usize) -> Result<Host, UriError> {
    if let Some(inner) = s.strip_prefix('[') {
        let inner = inner
            .strip_suffix(']')
            .ok_or_else(|| err("unterminated IPv6 reference", base))?;
        return Ipv6Addr::from_str(inner)
            .map(Host::V6)
            .map_err(|_| err("bad IPv6 address", base + 1));
    }
    if s.is_empty() {
        return Err(err("empty host", base));
    }
    if let Some(i) = s
        .bytes()
        .position(|b| !(b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_'))
    {
        return Err(err("bad character in host", base + i));
    }
    if s.bytes().filter(|&b| b == b'.').count() == 3
        && s.bytes().all(|b| b.is_ascii_digit() || b == b'.')
    {
        // Looks like a dotted quad, so it must be one. Other all-digit hosts are names:
        // GB28181 uses the 10-digit domain (`3402000000`) as a host.
        return Ipv4Addr::from_str(s)
            .map(Host::V4)
            .map_err(|_| err("bad IPv4 address", base));
    }
    Ok(Host::Name(cut(owner, s)))
}

/// One `;name[=value]` parameter. The value is kept as on the wire (quoted strings keep their quotes).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Param {
    pub name: ByteString,
    pub value: Option<ByteString>,
}

impl Param {
    /// The value with surrounding quotes and escapes removed.
    pub fn unquoted(&self) -> Option<Cow<'_, str>> {
        let v = self.value.as_deref()?;
        match v.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
            Some(inner) => Some(text::unescape_quoted(inner)),
            None => Some(Cow::Borrowed(v)),
        }
    }
}

/// An ordered parameter list; names compare case-insensitively.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Params(Vec<Param>);

impl Params {
    pub fn new() -> Self {
        Params(Vec::new())
    }
    /// The first parameter called `name`.
    pub fn get(&self, name: &str) -> Option<&Param> {
        self.0.iter().find(|p| p.name.eq_ignore_ascii_case(name))
    }
    /// The value of `name` (as on the wire); `None` when absent or a flag without value.
    pub fn value(&self, name: &str) -> Option<&str> {
        self.get(name)?.value.as_deref()
    }
    /// True when `name` is present, with or without value.
    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }
    /// Replace the value of `name` in place, or append it.
    pub fn set(&mut self, name: &str, value: Option<&str>) {
        let value = value.map(ByteString::from);
        match self
            .0
            .iter_mut()
            .find(|p| p.name.eq_ignore_ascii_case(name))
        {
            Some(p) => p.value = value,
            None => self.0.push(Param {
                name: ByteString::from(name),
                value,
            }),
        }
    }
    /// Append a parameter (no check for duplicates).
    pub fn push(&mut self, name: &str, value: Option<&str>) {
        self.0.push(Param {
            name: ByteString::from(name),
            value: value.map(ByteString::from),
        });
    }
    /// Remove every parameter called `name`.
    pub fn remove(&mut self, name: &str) {
        self.0.retain(|p| !p.name.eq_ignore_ascii_case(name));
    }
    pub fn iter(&self) -> std::slice::Iter<'_, Param> {
        self.0.iter()
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub(crate) fn push_param(&mut self, p: Param) {
        self.0.push(p);
    }
    /// Write `;name=value` for each parameter.
    pub(crate) fn write_semi(&self, f: &mut impl fmt::Write) -> fmt::Result {
        for p in &self.0 {
            f.write_char(';')?;
            f.write_str(&p.name)?;
            if let Some(v) = &p.value {
                f.write_char('=')?;
                f.write_str(v)?;
            }
        }
        Ok(())
    }
}

impl<'a> IntoIterator for &'a Params {
    type Item = &'a Param;
    type IntoIter = std::slice::Iter<'a, Param>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// A SIP/SIPS URI, or another absolute URI kept opaque.
///
/// Components keep their escaped wire form. For a non-SIP scheme (`tel:`, `urn:`, ...) everything
/// after the colon is kept verbatim in `host` as [`Host::Name`] and the other fields are empty.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Uri {
    pub scheme: Scheme,
    pub user: Option<ByteString>,
    pub password: Option<ByteString>,
    pub host: Host,
    pub port: Option<u16>,
    pub params: Params,
    /// URI headers (`?name=value&...`), kept as a list of name/value pairs.
    pub headers: Params,
}

impl Uri {
    /// `sip:host` with no user, port or parameters.
    pub fn sip(host: Host) -> Uri {
        Uri {
            scheme: Scheme::Sip,
            user: None,
            password: None,
            host,
            port: None,
            params: Params::new(),
            headers: Params::new(),
        }
    }

    /// Set the user part (must already be escaped where needed; GB28181 IDs are digits).
    pub fn with_user(mut self, user: &str) -> Uri {
        self.user = Some(ByteString::from(user));
        self
    }

    pub fn with_port(mut self, port: u16) -> Uri {
        self.port = Some(port);
        self
    }

    pub fn with_param(mut self, name: &str, value: Option<&str>) -> Uri {
        self.params.push(name, value);
        self
    }

    /// Parse a URI from text.
    pub fn parse(s: &str) -> Result<Uri, UriError> {
        let owner = ByteString::from(s);
        parse_uri(&owner, &owner)
    }

    /// True for `sip:` and `sips:`.
    pub fn is_sip(&self) -> bool {
        matches!(self.scheme, Scheme::Sip | Scheme::Sips)
    }

    /// The user part with `%HH` escapes decoded.
    pub fn user_decoded(&self) -> Option<Cow<'_, str>> {
        self.user.as_deref().map(text::percent_decode)
    }

    /// `transport` URI parameter.
    pub fn transport(&self) -> Option<&str> {
        self.params.value("transport")
    }
}

impl FromStr for Uri {
    type Err = UriError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uri::parse(s)
    }
}

impl fmt::Display for Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.scheme.as_str())?;
        f.write_str(":")?;
        if !self.is_sip()
            && let Host::Name(rest) = &self.host
        {
            return f.write_str(rest);
        }
        if let Some(u) = &self.user {
            f.write_str(u)?;
            if let Some(p) = &self.password {
                write!(f, ":{p}")?;
            }
            f.write_str("@")?;
        }
        write!(f, "{}", self.host)?;
        if let Some(p) = self.port {
            write!(f, ":{p}")?;
        }
        self.params.write_semi(f)?;
        for (i, h) in self.headers.iter().enumerate() {
            f.write_str(if i == 0 { "?" } else { "&" })?;
            f.write_str(&h.name)?;
            f.write_str("=")?;
            f.write_str(h.value.as_deref().unwrap_or(""))?;
        }
        Ok(())
    }
}

fn is_user_char(b: u8) -> bool {
    is_unreserved(b)
        || matches!(
            b,
            b'%' | b'&' | b'=' | b'+' | b'$' | b',' | b';' | b'?' | b'/'
        )
}
fn is_password_char(b: u8) -> bool {
    is_unreserved(b) || matches!(b, b'%' | b'&' | b'=' | b'+' | b'$' | b',')
}
fn is_param_char(b: u8) -> bool {
    is_unreserved(b) || matches!(b, b'%' | b'[' | b']' | b'/' | b':' | b'&' | b'+' | b'$')
}
fn is_hnv_char(b: u8) -> bool {
    is_unreserved(b) || matches!(b, b'%' | b'[' | b']' | b'/' | b'?' | b':' | b'+' | b'$')
}

fn offset_in(outer: &str, inner: &str) -> usize {
    (inner.as_ptr() as usize).saturating_sub(outer.as_ptr() as usize)
}

fn check_chars(
    all: &str,
    part: &str,
    ok: fn(u8) -> bool,
    why: &'static str,
) -> Result<(), UriError> {
    if let Some(i) = part.bytes().position(|b| !ok(b)) {
        return Err(err(why, offset_in(all, part) + i));
    }
    if !escapes_ok(part) {
        return Err(err("bad %-escape", offset_in(all, part)));
    }
    Ok(())
}

/// Parse the URI text `s`, a slice of `owner`, cutting components out of `owner`.
pub(crate) fn parse_uri(owner: &ByteString, s: &str) -> Result<Uri, UriError> {
    let colon = s.find(':').ok_or_else(|| err("no scheme", 0))?;
    let scheme_s = &s[..colon];
    let rest = &s[colon + 1..];
    let scheme = if scheme_s.eq_ignore_ascii_case("sip") {
        Scheme::Sip
    } else if scheme_s.eq_ignore_ascii_case("sips") {
        Scheme::Sips
    } else {
        let valid = scheme_s
            .as_bytes()
            .first()
            .is_some_and(u8::is_ascii_alphabetic)
            && scheme_s
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
        if !valid {
            return Err(err("bad scheme", 0));
        }
        if rest.is_empty() {
            return Err(err("empty URI", colon + 1));
        }
        if let Some(i) = rest
            .bytes()
            .position(|b| b <= b' ' || matches!(b, b'<' | b'>' | b'"'))
        {
            return Err(err("bad character", colon + 1 + i));
        }
        return Ok(Uri {
            scheme: Scheme::Other(cut(owner, scheme_s)),
            user: None,
            password: None,
            host: Host::Name(cut(owner, rest)),
            port: None,
            params: Params::new(),
            headers: Params::new(),
        });
    };

    // userinfo ends at the first '@' ('@' is not allowed unescaped anywhere else in a SIP URI).
    let (userinfo, hostpart) = match rest.find('@') {
        Some(at) => (Some(&rest[..at]), &rest[at + 1..]),
        None => (None, rest),
    };
    let (mut user, mut password) = (None, None);
    if let Some(ui) = userinfo {
        let (u, p) = match ui.find(':') {
            Some(c) => (&ui[..c], Some(&ui[c + 1..])),
            None => (ui, None),
        };
        if u.is_empty() {
            return Err(err("empty user", offset_in(s, u)));
        }
        check_chars(s, u, is_user_char, "bad character in user")?;
        user = Some(cut(owner, u));
        if let Some(p) = p {
            check_chars(s, p, is_password_char, "bad character in password")?;
            password = Some(cut(owner, p));
        }
    }

    // hostport, then ;params, then ?headers
    let hp_end = if hostpart.starts_with('[') {
        let close = hostpart
            .find(']')
            .ok_or_else(|| err("unterminated IPv6 reference", offset_in(s, hostpart)))?;
        close
            + 1
            + hostpart[close + 1..]
                .find([';', '?'])
                .unwrap_or(hostpart.len() - close - 1)
    } else {
        hostpart.find([';', '?']).unwrap_or(hostpart.len())
    };
    let hostport = &hostpart[..hp_end];
    let after = &hostpart[hp_end..];
    let (host_s, port_s) = if hostport.starts_with('[') {
        let close = hostport
            .find(']')
            .unwrap_or(hostport.len().saturating_sub(1));
        let tail = &hostport[close + 1..];
        match tail.strip_prefix(':') {
            Some(p) => (&hostport[..close + 1], Some(p)),
            None if tail.is_empty() => (hostport, None),
            None => return Err(err("junk after IPv6 reference", offset_in(s, tail))),
        }
    } else {
        match hostport.find(':') {
            Some(c) => (&hostport[..c], Some(&hostport[c + 1..])),
            None => (hostport, None),
        }
    };
    let host = parse_host(owner, host_s, offset_in(s, host_s))?;
    let port = match port_s {
        Some(p) => Some(parse_port(p).ok_or_else(|| err("bad port", offset_in(s, p)))?),
        None => None,
    };

    let (params_s, headers_s) = match after.find('?') {
        Some(q) => (&after[..q], Some(&after[q + 1..])),
        None => (after, None),
    };
    let mut params = Params::new();
    if !params_s.is_empty() {
        // params_s starts with ';'
        for p in params_s[1..].split(';') {
            if p.is_empty() {
                return Err(err("empty parameter", offset_in(s, p)));
            }
            let (n, v) = match p.find('=') {
                Some(e) => (&p[..e], Some(&p[e + 1..])),
                None => (p, None),
            };
            if n.is_empty() {
                return Err(err("empty parameter name", offset_in(s, n)));
            }
            check_chars(s, n, is_param_char, "bad character in parameter")?;
            if let Some(v) = v {
                check_chars(s, v, is_param_char, "bad character in parameter")?;
            }
            params.push_param(Param {
                name: cut(owner, n),
                value: v.map(|v| cut(owner, v)),
            });
        }
    }
    let mut headers = Params::new();
    if let Some(h) = headers_s {
        for kv in h.split('&') {
            let (n, v) = kv
                .split_once('=')
                .ok_or_else(|| err("URI header without '='", offset_in(s, kv)))?;
            if n.is_empty() {
                return Err(err("empty URI header name", offset_in(s, n)));
            }
            check_chars(s, n, is_hnv_char, "bad character in URI header")?;
            check_chars(s, v, is_hnv_char, "bad character in URI header")?;
            headers.push_param(Param {
                name: cut(owner, n),
                value: Some(cut(owner, v)),
            });
        }
    }
    Ok(Uri {
        scheme,
        user,
        password,
        host,
        port,
        params,
        headers,
    })
}

/// Decimal port 0..=65535, digits only.
pub(crate) fn parse_port(s: &str) -> Option<u16> {
    if s.is_empty() || s.len() > 5 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_gb28181_register_uri() {
        let u = Uri::parse("sip:34020000002000000001@3402000000").unwrap();
        assert_eq!(u.scheme, Scheme::Sip);
        assert_eq!(u.user.as_deref(), Some("34020000002000000001"));
        assert_eq!(u.host, Host::Name("3402000000".into()));
        assert_eq!(u.port, None);
    }

    #[test]
    fn parses_all_components() {
        let u = Uri::parse(
            "sips:alice:secret@[2001:db8::1]:5061;transport=tcp;lr?subject=hi&priority=urgent",
        )
        .unwrap();
        assert_eq!(u.scheme, Scheme::Sips);
        assert_eq!(u.user.as_deref(), Some("alice"));
        assert_eq!(u.password.as_deref(), Some("secret"));
        assert_eq!(u.host, Host::V6("2001:db8::1".parse().unwrap()));
        assert_eq!(u.port, Some(5061));
        assert_eq!(u.transport(), Some("tcp"));
        assert!(u.params.contains("LR"));
        assert_eq!(u.headers.value("priority"), Some("urgent"));
        assert_eq!(
            u.to_string(),
            "sips:alice:secret@[2001:db8::1]:5061;transport=tcp;lr?subject=hi&priority=urgent"
        );
    }

    #[test]
    fn ipv4_host_and_port() {
        let u = Uri::parse("sip:34020000001320000001@192.168.1.64:5060").unwrap();
        assert_eq!(u.host, Host::V4(Ipv4Addr::new(192, 168, 1, 64)));
        assert_eq!(u.port, Some(5060));
    }

    #[test]
    fn escaped_user_is_kept_and_decodable() {
        let u = Uri::parse("sip:sip%3Auser%40example.com@example.net").unwrap();
        assert_eq!(u.user.as_deref(), Some("sip%3Auser%40example.com"));
        assert_eq!(u.user_decoded().as_deref(), Some("sip:user@example.com"));
    }

    #[test]
    fn scheme_is_case_insensitive() {
        assert_eq!(Uri::parse("SIP:a@b").unwrap().scheme, Scheme::Sip);
    }

    #[test]
    fn other_scheme_is_kept_opaque() {
        let u = Uri::parse("tel:+1-800-555-0100").unwrap();
        assert_eq!(u.scheme, Scheme::Other("tel".into()));
        assert_eq!(u.to_string(), "tel:+1-800-555-0100");
    }

    #[test]
    fn rejects_bad_uris_with_reason() {
        assert_eq!(
            Uri::parse("sip:a b@c").unwrap_err().why,
            "bad character in user"
        );
        assert_eq!(Uri::parse("sip:a@host:99999").unwrap_err().why, "bad port");
        assert_eq!(
            Uri::parse("sip:a@[::1").unwrap_err().why,
            "unterminated IPv6 reference"
        );
        assert_eq!(Uri::parse("sip:a@").unwrap_err().why, "empty host");
        assert_eq!(Uri::parse("nocolon").unwrap_err().why, "no scheme");
        assert_eq!(Uri::parse("sip:a%zz@h").unwrap_err().why, "bad %-escape");
        assert_eq!(
            Uri::parse("sip:1.2.3.999").unwrap_err().why,
            "bad IPv4 address"
        );
    }
}
