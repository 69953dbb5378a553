//! Where responses go (RFC 3261 §18.2.2, RFC 3581 symmetric response routing) and the
//! `received`/`rport` stamping a server does on an incoming request's top Via (§18.2.1).

use std::net::{IpAddr, SocketAddr};

use bytestring::ByteString;

use crate::error::HeaderError;
use crate::header::{HeaderName, Via};
use crate::message::Request;
use crate::text::split_list;
use crate::uri::Host;

/// Address for a response sent over UDP, from the request's top Via (after [`stamp_received`])
/// and the packet's source address.
///
/// `maddr` wins; then `received` (else the sent-by IP); the port is `rport`'s value, the source
/// port when `rport` was asked for but not stamped, else the sent-by port or 5060. A sent-by
/// host name (which would need DNS) falls back to the source IP. Over TCP, answer on the
/// connection the request came on instead.
pub fn response_address(top_via: &Via, source: SocketAddr) -> SocketAddr {
    let default_port = top_via.port.unwrap_or(5060);
    if let Some(maddr) = top_via
        .maddr()
        .and_then(|m| m.trim_matches(['[', ']']).parse::<IpAddr>().ok())
    {
        return SocketAddr::new(maddr, default_port);
    }
    let ip = top_via
        .received()
        .or_else(|| top_via.host.ip())
        .unwrap_or(source.ip());
    let port = match top_via.rport() {
        Some(p) => p,
        None if top_via.has_rport() => source.port(),
        None => default_port,
    };
    SocketAddr::new(ip, port)
}

/// Stamp `received=` (when the sent-by host is not the source IP, or `rport` was asked for) and
/// `rport=<source port>` (when `rport` was asked for) onto the top Via of `req`.
pub fn stamp_received(req: &mut Request, source: SocketAddr) -> Result<(), HeaderError> {
    let Some(h) = req.headers.iter_mut().find(|h| h.name == HeaderName::Via) else {
        return Err(HeaderError::missing("Via"));
    };
    let line = h.value.clone();
    let mut parts = split_list(&line);
    let first = parts.next().unwrap_or("");
    let mut via = Via::parse_in(&line, first)?;
    let wants_rport = via.has_rport();
    let same_host = via.host.eq_ignore_case(&Host::from(source.ip()));
    if !same_host || wants_rport {
        via.params.set("received", Some(&source.ip().to_string()));
    }
    if wants_rport {
        via.params.set("rport", Some(&source.port().to_string()));
    }
    let mut value = via.to_string();
    for p in parts {
        value.push_str(", ");
        value.push_str(p);
    }
    h.value = ByteString::from(value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::method::Method;
    use crate::uri::Uri;

    fn request(via: &str) -> Request {
        let mut r = Request::new(Method::Register, Uri::parse("sip:a@b").unwrap());
        r.headers.push("Via", via);
        r
    }

    #[test]
    fn nat_device_with_rport_gets_answer_at_source() {
        let mut r = request(
            "SIP/2.0/UDP 192.168.1.64:5060;rport;branch=z9hG4bK1, SIP/2.0/UDP p;branch=z9hG4bK0",
        );
        let src: SocketAddr = "203.0.113.9:40123".parse().unwrap();
        stamp_received(&mut r, src).unwrap();
        assert_eq!(
            r.headers.get("Via"),
            Some(
                "SIP/2.0/UDP 192.168.1.64:5060;rport=40123;branch=z9hG4bK1;received=203.0.113.9, SIP/2.0/UDP p;branch=z9hG4bK0"
            )
        );
        assert_eq!(response_address(&r.headers.top_via().unwrap(), src), src);
    }

    #[test]
    fn without_rport_answer_goes_to_received_ip_and_via_port() {
        let mut r = request("SIP/2.0/UDP 192.168.1.64:5070;branch=z9hG4bK1");
        let src: SocketAddr = "203.0.113.9:40123".parse().unwrap();
        stamp_received(&mut r, src).unwrap();
        let via = r.headers.top_via().unwrap();
        assert_eq!(via.received(), Some("203.0.113.9".parse().unwrap()));
        assert_eq!(
            response_address(&via, src),
            "203.0.113.9:5070".parse().unwrap()
        );
    }

    #[test]
    fn same_host_without_rport_is_left_alone() {
        let mut r = request("SIP/2.0/UDP 10.0.0.5;branch=z9hG4bK1");
        let src: SocketAddr = "10.0.0.5:5060".parse().unwrap();
        stamp_received(&mut r, src).unwrap();
        assert_eq!(
            r.headers.get("Via"),
            Some("SIP/2.0/UDP 10.0.0.5;branch=z9hG4bK1")
        );
        assert_eq!(response_address(&r.headers.top_via().unwrap(), src), src);
    }

    #[test]
    fn host_name_without_received_falls_back_to_source_ip() {
        let via = Via::parse("SIP/2.0/UDP cam.example.com:5062;branch=z9hG4bK1").unwrap();
        let src: SocketAddr = "10.1.1.1:9999".parse().unwrap();
        assert_eq!(
            response_address(&via, src),
            "10.1.1.1:5062".parse().unwrap()
        );
    }

    #[test]
    fn maddr_wins() {
        let via = Via::parse("SIP/2.0/UDP h;maddr=239.1.1.1;branch=z9hG4bK1").unwrap();
        assert_eq!(
            response_address(&via, "10.1.1.1:9".parse().unwrap()),
            "239.1.1.1:5060".parse().unwrap()
        );
    }
}
