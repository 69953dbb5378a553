//! The Via header (RFC 3261 §20.42) with `branch`, `received`, `rport` (RFC 3581) and `maddr`.

use std::fmt;
use std::net::IpAddr;

use bytestring::ByteString;

use super::typed::parse_header_params;
use crate::error::HeaderError;
use crate::text::{Cursor, cut};
use crate::uri::{Host, Params, parse_host, parse_port};

/// Transport named in a Via (`SIP/2.0/UDP`). Compared case-insensitively, printed in upper case.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Transport {
    Udp,
    Tcp,
    Tls,
    Sctp,
    Ws,
    Wss,
    Other(ByteString),
}

impl Transport {
    pub fn as_str(&self) -> &str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
            Transport::Tls => "TLS",
            Transport::Sctp => "SCTP",
            Transport::Ws => "WS",
            Transport::Wss => "WSS",
            Transport::Other(s) => s,
        }
    }

    fn from_token(owner: &ByteString, s: &str) -> Transport {
        for t in [
            Transport::Udp,
            Transport::Tcp,
            Transport::Tls,
            Transport::Sctp,
            Transport::Ws,
            Transport::Wss,
        ] {
            if s.eq_ignore_ascii_case(t.as_str()) {
                return t;
            }
        }
        Transport::Other(cut(owner, s))
    }

    /// Reliable transports carry responses on the connection the request came on (RFC 3261 §18.2.2).
    pub fn is_reliable(&self) -> bool {
        !matches!(self, Transport::Udp)
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One Via entry: `SIP/2.0/<transport> <host>[:<port>] *(;param)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Via {
    pub transport: Transport,
    pub host: Host,
    pub port: Option<u16>,
    pub params: Params,
}

const NAME: &str = "Via";

impl Via {
    /// A Via with a branch parameter (and `rport` requested when `rport` is true).
    pub fn new(
        transport: Transport,
        host: Host,
        port: Option<u16>,
        branch: &str,
        rport: bool,
    ) -> Via {
        let mut params = Params::new();
        params.push("branch", Some(branch));
        if rport {
            params.push("rport", None);
        }
        Via {
            transport,
            host,
            port,
            params,
        }
    }

    /// Parse one Via entry (not a comma list).
    pub fn parse(s: &str) -> Result<Via, HeaderError> {
        let owner = ByteString::from(s);
        Via::parse_in(&owner, &owner)
    }

    pub(crate) fn parse_in(owner: &ByteString, s: &str) -> Result<Via, HeaderError> {
        let mut c = Cursor::new(s);
        c.skip_ws();
        let proto = c.token();
        if !proto.eq_ignore_ascii_case("SIP") {
            return Err(HeaderError::new(NAME, "protocol is not SIP", 0));
        }
        if !c.eat(b'/') {
            return Err(HeaderError::new(NAME, "expected '/'", c.pos));
        }
        let ver_pos = c.pos;
        if c.token() != "2.0" {
            return Err(HeaderError::new(NAME, "version is not 2.0", ver_pos));
        }
        if !c.eat(b'/') {
            return Err(HeaderError::new(NAME, "expected '/'", c.pos));
        }
        let t = c.token();
        if t.is_empty() {
            return Err(HeaderError::new(NAME, "missing transport", c.pos));
        }
        let transport = Transport::from_token(owner, t);
        let before_ws = c.pos;
        c.skip_ws();
        if c.pos == before_ws {
            return Err(HeaderError::new(
                NAME,
                "expected space before sent-by",
                c.pos,
            ));
        }
        let host_pos = c.pos;
        let host_s = if c.peek() == Some(b'[') {
            c.take_while(|b| b != b']');
            if c.peek() != Some(b']') {
                return Err(HeaderError::new(
                    NAME,
                    "unterminated IPv6 reference",
                    host_pos,
                ));
            }
            c.pos += 1;
            s.get(host_pos..c.pos).unwrap_or("")
        } else {
            c.take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
        };
        let host = parse_host(owner, host_s, host_pos)
            .map_err(|e| HeaderError::new(NAME, e.why, e.offset))?;
        let mut port = None;
        if c.eat(b':') {
            let p_pos = c.pos;
            let p = c.take_while(|b| b.is_ascii_digit());
            port = Some(parse_port(p).ok_or(HeaderError::new(NAME, "bad port", p_pos))?);
        }
        let mut params = Params::new();
        parse_header_params(owner, &mut c, &mut params)
            .map_err(|(why, at)| HeaderError::new(NAME, why, at))?;
        c.skip_ws();
        if !c.at_end() {
            return Err(HeaderError::new(NAME, "unexpected text", c.pos));
        }
        Ok(Via {
            transport,
            host,
            port,
            params,
        })
    }

    /// The `branch` parameter.
    pub fn branch(&self) -> Option<&str> {
        self.params.value("branch")
    }

    /// `received` as an address; `None` when absent or not an IP.
    pub fn received(&self) -> Option<IpAddr> {
        let v = self.params.value("received")?;
        v.trim_start_matches('[').trim_end_matches(']').parse().ok()
    }

    /// True when `rport` is present (with or without a value).
    pub fn has_rport(&self) -> bool {
        self.params.contains("rport")
    }

    /// The `rport` value, once a server filled it in.
    pub fn rport(&self) -> Option<u16> {
        parse_port(self.params.value("rport")?)
    }

    /// `maddr` parameter.
    pub fn maddr(&self) -> Option<&str> {
        self.params.value("maddr")
    }

    /// RFC 3261 branch (starts with the magic cookie `z9hG4bK`); older RFC 2543 peers lack it.
    pub fn has_rfc3261_branch(&self) -> bool {
        self.branch()
            .is_some_and(|b| b.starts_with(crate::ids::BRANCH_COOKIE))
    }
}

impl fmt::Display for Via {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SIP/2.0/{} {}", self.transport, self.host)?;
        if let Some(p) = self.port {
            write!(f, ":{p}")?;
        }
        self.params.write_semi(f)
    }
}

impl std::str::FromStr for Via {
    type Err = HeaderError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Via::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn parses_gb28181_via_with_rport_flag() {
        let v = Via::parse("SIP/2.0/UDP 192.168.1.64:5060;rport;branch=z9hG4bK1491280923").unwrap();
        assert_eq!(v.transport, Transport::Udp);
        assert_eq!(v.host, Host::V4(Ipv4Addr::new(192, 168, 1, 64)));
        assert_eq!(v.port, Some(5060));
        assert!(v.has_rport());
        assert_eq!(v.rport(), None);
        assert_eq!(v.branch(), Some("z9hG4bK1491280923"));
        assert!(v.has_rfc3261_branch());
    }

    #[test]
    fn tolerates_whitespace_around_slashes_and_colon() {
        let v = Via::parse(
            "SIP  /  2.0 / tcp   host.example.com : 5070 ; received=10.0.0.1 ;rport=1234",
        )
        .unwrap();
        assert_eq!(v.transport, Transport::Tcp);
        assert_eq!(v.host, Host::Name("host.example.com".into()));
        assert_eq!(v.port, Some(5070));
        assert_eq!(v.received(), Some("10.0.0.1".parse().unwrap()));
        assert_eq!(v.rport(), Some(1234));
    }

    #[test]
    fn ipv6_sent_by() {
        let v = Via::parse("SIP/2.0/UDP [2001:db8::9:1]:5060;branch=z9hG4bKas3").unwrap();
        assert_eq!(v.host, Host::V6("2001:db8::9:1".parse().unwrap()));
        assert_eq!(
            v.to_string(),
            "SIP/2.0/UDP [2001:db8::9:1]:5060;branch=z9hG4bKas3"
        );
    }

    #[test]
    fn prints_what_it_parsed() {
        let s = "SIP/2.0/UDP 10.0.0.1:5060;rport;branch=z9hG4bKabc";
        assert_eq!(Via::parse(s).unwrap().to_string(), s);
    }

    #[test]
    fn rejects_wrong_version_and_missing_host() {
        assert_eq!(
            Via::parse("SIP/3.0/UDP h").unwrap_err().why,
            "version is not 2.0"
        );
        assert_eq!(
            Via::parse("SIP/2.0/UDP").unwrap_err().why,
            "expected space before sent-by"
        );
        assert_eq!(Via::parse("SIP/2.0/UDP h:abc").unwrap_err().why, "bad port");
        assert_eq!(
            Via::parse("SIP/2.0/UDP h;branch=\"x").unwrap_err().why,
            "unterminated quoted string"
        );
    }
}
