//! Authentication headers (RFC 3261 §20.7, §20.44; RFC 2617/7616 syntax): `WWW-Authenticate`,
//! `Proxy-Authenticate` challenges and `Authorization`, `Proxy-Authorization` credentials.
//! The digest computations live in [`crate::digest`].

use std::borrow::Cow;
use std::fmt;

use bytestring::ByteString;

use crate::error::HeaderError;
use crate::text::{Cursor, cut, is_ws, unescape_quoted, write_quoted};

/// One `name=value` auth parameter; `value` has quotes and escapes removed.
#[derive(Clone, PartialEq, Eq)]
pub struct AuthParam {
    pub name: ByteString,
    pub value: ByteString,
    /// Whether to print the value as a quoted-string.
    pub quoted: bool,
}

impl fmt::Debug for AuthParam {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let value: &str = if self.name.eq_ignore_ascii_case("response") {
            "***"
        } else {
            &self.value
        };
        write!(f, "{}={:?}", self.name, value)
    }
}

/// `scheme name=value, name="value", ...`, names case-insensitive.
#[derive(Clone, PartialEq, Eq)]
pub struct AuthParams {
    pub scheme: ByteString,
    pub params: Vec<AuthParam>,
}

impl AuthParams {
    pub fn new(scheme: &str) -> AuthParams {
        AuthParams {
            scheme: ByteString::from(scheme),
            params: Vec::new(),
        }
    }

    /// Value of the first parameter called `name` (unquoted).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|p| p.name.eq_ignore_ascii_case(name))
            .map(|p| &*p.value)
    }

    /// Append a parameter; `quoted` chooses quoted-string or token form on output.
    pub fn push(&mut self, name: &str, value: &str, quoted: bool) {
        self.params.push(AuthParam {
            name: ByteString::from(name),
            value: ByteString::from(value),
            quoted,
        });
    }

    fn parse_in(v: &ByteString, header: &'static str) -> Result<AuthParams, HeaderError> {
        let e = |why, at| HeaderError::new(header, why, at);
        let mut c = Cursor::new(v);
        c.skip_ws();
        let scheme = c.token();
        if scheme.is_empty() {
            return Err(e("missing scheme", c.pos));
        }
        let mut params = Vec::new();
        c.skip_ws();
        while !c.at_end() {
            let npos = c.pos;
            let name = c.token();
            if name.is_empty() {
                return Err(e("expected parameter name", npos));
            }
            if !c.eat(b'=') {
                return Err(e("expected '='", c.pos));
            }
            let vpos = c.pos;
            let (value, quoted) = if c.peek() == Some(b'"') {
                let q = c.quoted().ok_or(e("unterminated quoted string", vpos))?;
                let inner = q.get(1..q.len() - 1).unwrap_or("");
                let value = match unescape_quoted(inner) {
                    Cow::Borrowed(b) => cut(v, b),
                    Cow::Owned(o) => ByteString::from(o),
                };
                (value, true)
            } else {
                // Lenient: some devices send `uri=sip:...` unquoted; take up to the next comma.
                let t = c.take_while(|b| b != b',' && !is_ws(b));
                (cut(v, t), false)
            };
            params.push(AuthParam {
                name: cut(v, name),
                value,
                quoted,
            });
            c.skip_ws();
            if c.at_end() {
                break;
            }
            if !c.eat(b',') {
                return Err(e("expected ','", c.pos));
            }
        }
        Ok(AuthParams {
            scheme: cut(v, scheme),
            params,
        })
    }

    fn is_digest(&self) -> bool {
        self.scheme.eq_ignore_ascii_case("Digest")
    }
}

impl fmt::Display for AuthParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.scheme)?;
        let mut buf = String::new();
        for (i, p) in self.params.iter().enumerate() {
            f.write_str(if i == 0 { " " } else { ", " })?;
            write!(f, "{}=", p.name)?;
            if p.quoted {
                buf.clear();
                write_quoted(&mut buf, &p.value);
                f.write_str(&buf)?;
            } else {
                f.write_str(&p.value)?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for AuthParams {
    /// Prints `response` as `***`: the digest is as good as a password for replays within a nonce.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut m = f.debug_map();
        m.entry(&"scheme", &&*self.scheme);
        for p in &self.params {
            if p.name.eq_ignore_ascii_case("response") {
                m.entry(&&*p.name, &"***");
            } else {
                m.entry(&&*p.name, &&*p.value);
            }
        }
        m.finish()
    }
}

macro_rules! accessors {
    ($($fn:ident => $name:literal),* $(,)?) => {
        $(
            #[doc = concat!("The `", $name, "` parameter.")]
            pub fn $fn(&self) -> Option<&str> { self.0.get($name) }
        )*
    };
}

/// Credentials from `Authorization` / `Proxy-Authorization`.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Authorization(pub AuthParams);

impl Authorization {
    pub fn parse(s: &str) -> Result<Authorization, HeaderError> {
        Authorization::parse_in(&ByteString::from(s), "Authorization")
    }
    pub(crate) fn parse_in(
        v: &ByteString,
        header: &'static str,
    ) -> Result<Authorization, HeaderError> {
        AuthParams::parse_in(v, header).map(Authorization)
    }
    /// True for the `Digest` scheme (any case).
    pub fn is_digest(&self) -> bool {
        self.0.is_digest()
    }
    accessors! {
        username => "username", realm => "realm", nonce => "nonce", uri => "uri",
        response => "response", algorithm => "algorithm", cnonce => "cnonce",
        opaque => "opaque", qop => "qop", nc => "nc",
    }
}

impl fmt::Display for Authorization {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A challenge from `WWW-Authenticate` / `Proxy-Authenticate`.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Challenge(pub AuthParams);

/// The challenge type under the name of its header.
pub type WwwAuthenticate = Challenge;

impl Challenge {
    pub fn parse(s: &str) -> Result<Challenge, HeaderError> {
        Challenge::parse_in(&ByteString::from(s), "WWW-Authenticate")
    }
    pub(crate) fn parse_in(v: &ByteString, header: &'static str) -> Result<Challenge, HeaderError> {
        AuthParams::parse_in(v, header).map(Challenge)
    }
    pub fn is_digest(&self) -> bool {
        self.0.is_digest()
    }
    /// `stale=true` (case-insensitive).
    pub fn stale(&self) -> bool {
        self.0
            .get("stale")
            .is_some_and(|s| s.eq_ignore_ascii_case("true"))
    }
    accessors! {
        realm => "realm", nonce => "nonce", algorithm => "algorithm", qop => "qop",
        opaque => "opaque", domain => "domain",
    }
}

impl fmt::Display for Challenge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GB_AUTH: &str = r#"Digest username="34020000001320000001", realm="3402000000", nonce="44f1c2a9", uri="sip:34020000002000000001@3402000000", response="4b1ef4d5a0a3bb6b8be2ea4d3c5e8f4a", algorithm=MD5"#;

    #[test]
    fn parses_gb28181_authorization() {
        let a = Authorization::parse(GB_AUTH).unwrap();
        assert!(a.is_digest());
        assert_eq!(a.username(), Some("34020000001320000001"));
        assert_eq!(a.realm(), Some("3402000000"));
        assert_eq!(a.uri(), Some("sip:34020000002000000001@3402000000"));
        assert_eq!(a.algorithm(), Some("MD5"));
        assert_eq!(a.qop(), None);
        assert_eq!(a.to_string(), GB_AUTH);
    }

    #[test]
    fn debug_hides_response() {
        let a = Authorization::parse(GB_AUTH).unwrap();
        let d = format!("{a:?}");
        assert!(!d.contains("4b1ef4d5"), "{d}");
        assert!(d.contains("***"));
    }

    #[test]
    fn challenge_with_qop_and_stale() {
        let c = Challenge::parse(
            r#"Digest realm="3402000000",nonce="abc",qop="auth",stale=TRUE,algorithm=md5"#,
        )
        .unwrap();
        assert_eq!(c.realm(), Some("3402000000"));
        assert_eq!(c.qop(), Some("auth"));
        assert!(c.stale());
        assert_eq!(c.algorithm(), Some("md5"));
    }

    #[test]
    fn rejections_say_why() {
        assert_eq!(Authorization::parse("").unwrap_err().why, "missing scheme");
        assert_eq!(
            Authorization::parse("Digest realm").unwrap_err().why,
            "expected '='"
        );
        assert_eq!(
            Authorization::parse("Digest realm=\"x").unwrap_err().why,
            "unterminated quoted string"
        );
        assert_eq!(
            Authorization::parse("Digest a=b c=d").unwrap_err().why,
            "expected ','"
        );
    }
}
