//! Header storage: an ordered multimap of raw values that keeps unknown headers in order, treats
//! names case-insensitively and compact forms as their long names. Typed values are parsed on
//! demand by the accessors in the submodules, so one odd header does not fail the whole message.

mod auth;
mod name_addr;
mod typed;
mod via;

use std::fmt;

use bytestring::ByteString;

pub use auth::{AuthParam, AuthParams, Authorization, Challenge, WwwAuthenticate};
pub use name_addr::{Contact, NameAddr};
pub use typed::{CSeq, MediaType};
pub use via::{Transport, Via};

macro_rules! header_names {
    ($( $variant:ident => $canon:literal, $($lower:literal)|+ ; )*) => {
        /// A header name. Well-known names are variants (compact forms map to them);
        /// anything else is kept as written.
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum HeaderName {
            $( $variant, )*
            /// An unknown header, name as received.
            Other(ByteString),
        }

        impl HeaderName {
            /// The canonical (long) name.
            pub fn as_str(&self) -> &str {
                match self {
                    $( HeaderName::$variant => $canon, )*
                    HeaderName::Other(s) => s,
                }
            }

            /// Lower-case the name on the stack and match it: a handful of comparisons per header
            /// instead of one per known name.
            fn known(name: &str) -> Option<HeaderName> {
                let b = name.as_bytes();
                let mut buf = [0u8; 24];
                let lower = buf.get_mut(..b.len())?;
                for (d, s) in lower.iter_mut().zip(b) {
                    *d = s.to_ascii_lowercase();
                }
                match &*lower {
                    $( $( $lower )|+ => Some(HeaderName::$variant), )*
                    _ => None,
                }
            }
        }
    };
}

// Ordered roughly by how often they occur in GB28181 traffic: lookup is a linear scan.
header_names! {
    Via => "Via", b"via" | b"v";
    From => "From", b"from" | b"f";
    To => "To", b"to" | b"t";
    CallId => "Call-ID", b"call-id" | b"i";
    CSeq => "CSeq", b"cseq";
    Contact => "Contact", b"contact" | b"m";
    MaxForwards => "Max-Forwards", b"max-forwards";
    Expires => "Expires", b"expires";
    ContentType => "Content-Type", b"content-type" | b"c";
    ContentLength => "Content-Length", b"content-length" | b"l";
    Authorization => "Authorization", b"authorization";
    WwwAuthenticate => "WWW-Authenticate", b"www-authenticate";
    UserAgent => "User-Agent", b"user-agent";
    Date => "Date", b"date";
    Subject => "Subject", b"subject" | b"s";
    Route => "Route", b"route";
    RecordRoute => "Record-Route", b"record-route";
    ProxyAuthenticate => "Proxy-Authenticate", b"proxy-authenticate";
    ProxyAuthorization => "Proxy-Authorization", b"proxy-authorization";
    Allow => "Allow", b"allow";
    Supported => "Supported", b"supported" | b"k";
    Require => "Require", b"require";
    ProxyRequire => "Proxy-Require", b"proxy-require";
    Unsupported => "Unsupported", b"unsupported";
    ContentEncoding => "Content-Encoding", b"content-encoding" | b"e";
    Event => "Event", b"event" | b"o";
    AllowEvents => "Allow-Events", b"allow-events" | b"u";
    SubscriptionState => "Subscription-State", b"subscription-state";
    ReferTo => "Refer-To", b"refer-to" | b"r";
    ReferredBy => "Referred-By", b"referred-by" | b"b";
    Server => "Server", b"server";
    Accept => "Accept", b"accept";
    Warning => "Warning", b"warning";
    MinExpires => "Min-Expires", b"min-expires";
    RetryAfter => "Retry-After", b"retry-after";
    Timestamp => "Timestamp", b"timestamp";
}

impl HeaderName {
    /// Map a name as written (any case, compact or long) to a `HeaderName`.
    pub fn new(name: &str) -> HeaderName {
        HeaderName::known(name).unwrap_or_else(|| HeaderName::Other(ByteString::from(name)))
    }

    pub(crate) fn from_wire(owner: &ByteString, name: &str) -> HeaderName {
        HeaderName::known(name).unwrap_or_else(|| HeaderName::Other(crate::text::cut(owner, name)))
    }

    /// Does this name denote `name` (any case, compact or long form)?
    pub fn matches(&self, name: &str) -> bool {
        match HeaderName::known(name) {
            Some(k) => *self == k,
            None => matches!(self, HeaderName::Other(s) if s.eq_ignore_ascii_case(name)),
        }
    }

    fn same(&self, other: &HeaderName) -> bool {
        match (self, other) {
            (HeaderName::Other(a), HeaderName::Other(b)) => a.eq_ignore_ascii_case(b),
            (a, b) => a == b,
        }
    }
}

impl From<&str> for HeaderName {
    fn from(s: &str) -> Self {
        HeaderName::new(s)
    }
}

impl fmt::Display for HeaderName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One header line: name and raw value (folding replaced by a space, ends trimmed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub name: HeaderName,
    pub value: ByteString,
}

/// Ordered header multimap. Several values in one line stay one entry; typed accessors split lists.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers(Vec<Header>);

/// Something that names a header: a `&str` (any case, compact or long) or a [`HeaderName`].
/// It is resolved once per lookup, not once per header line.
pub trait AsHeaderName<'a> {
    #[doc(hidden)]
    fn into_key(self) -> NameKey<'a>;
}

/// A header name resolved for comparison against many header lines.
#[doc(hidden)]
#[derive(Debug)]
pub enum NameKey<'a> {
    Known(HeaderName),
    Other(&'a str),
    OtherOwned(ByteString),
}

impl NameKey<'_> {
    fn is(&self, h: &HeaderName) -> bool {
        let other = match self {
            NameKey::Known(k) => return k == h,
            NameKey::Other(s) => *s,
            NameKey::OtherOwned(s) => &**s,
        };
        matches!(h, HeaderName::Other(o) if o.eq_ignore_ascii_case(other))
    }
}

impl<'a> AsHeaderName<'a> for &'a str {
    fn into_key(self) -> NameKey<'a> {
        match HeaderName::known(self) {
            Some(k) => NameKey::Known(k),
            None => NameKey::Other(self),
        }
    }
}

impl<'a> AsHeaderName<'a> for HeaderName {
    fn into_key(self) -> NameKey<'a> {
        match self {
            HeaderName::Other(s) => NameKey::OtherOwned(s),
            k => NameKey::Known(k),
        }
    }
}

impl<'a> AsHeaderName<'a> for &'a HeaderName {
    fn into_key(self) -> NameKey<'a> {
        match self {
            HeaderName::Other(s) => NameKey::Other(s),
            k => NameKey::Known(k.clone()),
        }
    }
}

impl Headers {
    pub fn new() -> Self {
        Headers(Vec::new())
    }

    pub fn with_capacity(n: usize) -> Self {
        Headers(Vec::with_capacity(n))
    }

    /// First value of `name`.
    pub fn get<'a>(&self, name: impl AsHeaderName<'a>) -> Option<&str> {
        let key = name.into_key();
        self.0.iter().find(|h| key.is(&h.name)).map(|h| &*h.value)
    }

    /// First value of `name` as the shared string (cheap clone of the message buffer).
    pub fn get_shared<'a>(&self, name: impl AsHeaderName<'a>) -> Option<&ByteString> {
        let key = name.into_key();
        self.0.iter().find(|h| key.is(&h.name)).map(|h| &h.value)
    }

    /// Every value of `name`, one per header line, in order.
    pub fn get_all<'a, N: AsHeaderName<'a>>(
        &'a self,
        name: N,
    ) -> impl Iterator<Item = &'a str> + 'a {
        let key = name.into_key();
        self.0
            .iter()
            .filter(move |h| key.is(&h.name))
            .map(|h| &*h.value)
    }

    pub(crate) fn get_all_shared<'a, N: AsHeaderName<'a>>(
        &'a self,
        name: N,
    ) -> impl Iterator<Item = &'a ByteString> + 'a {
        let key = name.into_key();
        self.0
            .iter()
            .filter(move |h| key.is(&h.name))
            .map(|h| &h.value)
    }

    /// True when at least one `name` header is present.
    pub fn contains<'a>(&self, name: impl AsHeaderName<'a>) -> bool {
        let key = name.into_key();
        self.0.iter().any(|h| key.is(&h.name))
    }

    /// Append a header line.
    pub fn push(&mut self, name: impl Into<HeaderName>, value: impl Into<ByteString>) {
        self.0.push(Header {
            name: name.into(),
            value: value.into(),
        });
    }

    /// Replace the first `name` line in place (dropping later ones), or append when absent.
    pub fn set(&mut self, name: impl Into<HeaderName>, value: impl Into<ByteString>) {
        let name = name.into();
        let value = value.into();
        match self.0.iter().position(|h| h.name.same(&name)) {
            Some(i) => {
                self.0[i].value = value;
                let mut idx = 0;
                self.0.retain(|h| {
                    let keep = idx <= i || !h.name.same(&name);
                    idx += 1;
                    keep
                });
            }
            None => self.0.push(Header { name, value }),
        }
    }

    /// Insert a header line before all others (e.g. a new top Via).
    pub fn push_front(&mut self, name: impl Into<HeaderName>, value: impl Into<ByteString>) {
        self.0.insert(
            0,
            Header {
                name: name.into(),
                value: value.into(),
            },
        );
    }

    /// Remove every `name` line; returns how many were removed.
    pub fn remove<'a>(&mut self, name: impl AsHeaderName<'a>) -> usize {
        let key = name.into_key();
        let before = self.0.len();
        self.0.retain(|h| !key.is(&h.name));
        before - self.0.len()
    }

    /// All header lines in order.
    pub fn iter(&self) -> std::slice::Iter<'_, Header> {
        self.0.iter()
    }

    /// Mutable access to the lines (for rewriting values in place).
    pub fn iter_mut(&mut self) -> std::slice::IterMut<'_, Header> {
        self.0.iter_mut()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<'a> IntoIterator for &'a Headers {
    type Item = &'a Header;
    type IntoIter = std::slice::Iter<'a, Header>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_and_long_names_are_the_same_header() {
        let mut h = Headers::new();
        h.push("i", "abc@host");
        h.push("l", "0");
        assert_eq!(h.get("Call-ID"), Some("abc@host"));
        assert_eq!(h.get("call-id"), Some("abc@host"));
        assert_eq!(h.get(HeaderName::ContentLength), Some("0"));
        assert_eq!(h.iter().next().unwrap().name.as_str(), "Call-ID");
    }

    #[test]
    fn unknown_headers_kept_in_order_case_insensitive() {
        let mut h = Headers::new();
        h.push("X-GB-Ver", "3.0");
        h.push("Via", "SIP/2.0/UDP a");
        h.push("x-gb-ver", "2.0");
        assert_eq!(
            h.get_all("X-GB-VER").collect::<Vec<_>>(),
            vec!["3.0", "2.0"]
        );
        let names: Vec<_> = h.iter().map(|h| h.name.as_str()).collect();
        assert_eq!(names, vec!["X-GB-Ver", "Via", "x-gb-ver"]);
    }

    #[test]
    fn set_replaces_first_and_drops_the_rest() {
        let mut h = Headers::new();
        h.push("Expires", "1");
        h.push("To", "<sip:a@b>");
        h.push("Expires", "2");
        h.set("expires", "3600");
        assert_eq!(h.get_all("Expires").collect::<Vec<_>>(), vec!["3600"]);
        assert_eq!(h.iter().next().unwrap().name, HeaderName::Expires);
        h.set("Subject", "x");
        assert_eq!(h.get("s"), Some("x"));
        assert_eq!(h.remove("EXPIRES"), 1);
        assert_eq!(h.len(), 2);
    }
}
