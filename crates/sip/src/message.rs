//! The SIP message model (requests, responses, status codes), the printer, and response
//! construction per RFC 3261 §8.2.6.

use std::fmt;

use bytes::Bytes;
use bytestring::ByteString;

use crate::error::{HeaderError, ParseError};
use crate::header::{HeaderName, Headers, NameAddr};
use crate::method::Method;
use crate::uri::Uri;

/// A SIP status code (100..=699 on the wire; not checked on construction).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StatusCode(pub u16);

impl StatusCode {
    pub const TRYING: StatusCode = StatusCode(100);
    pub const RINGING: StatusCode = StatusCode(180);
    pub const OK: StatusCode = StatusCode(200);
    pub const BAD_REQUEST: StatusCode = StatusCode(400);
    pub const UNAUTHORIZED: StatusCode = StatusCode(401);
    pub const FORBIDDEN: StatusCode = StatusCode(403);
    pub const NOT_FOUND: StatusCode = StatusCode(404);
    pub const METHOD_NOT_ALLOWED: StatusCode = StatusCode(405);
    pub const PROXY_AUTHENTICATION_REQUIRED: StatusCode = StatusCode(407);
    pub const REQUEST_TIMEOUT: StatusCode = StatusCode(408);
    pub const UNSUPPORTED_MEDIA_TYPE: StatusCode = StatusCode(415);
    pub const UNSUPPORTED_URI_SCHEME: StatusCode = StatusCode(416);
    pub const INTERVAL_TOO_BRIEF: StatusCode = StatusCode(423);
    pub const CALL_DOES_NOT_EXIST: StatusCode = StatusCode(481);
    pub const TOO_MANY_HOPS: StatusCode = StatusCode(483);
    pub const BUSY_HERE: StatusCode = StatusCode(486);
    pub const REQUEST_TERMINATED: StatusCode = StatusCode(487);
    pub const SERVER_INTERNAL_ERROR: StatusCode = StatusCode(500);
    pub const NOT_IMPLEMENTED: StatusCode = StatusCode(501);
    pub const SERVICE_UNAVAILABLE: StatusCode = StatusCode(503);
    pub const VERSION_NOT_SUPPORTED: StatusCode = StatusCode(505);
    pub const MESSAGE_TOO_LARGE: StatusCode = StatusCode(513);

    pub fn code(self) -> u16 {
        self.0
    }
    /// 1xx.
    pub fn is_provisional(self) -> bool {
        self.0 < 200
    }
    /// 2xx.
    pub fn is_success(self) -> bool {
        (200..300).contains(&self.0)
    }
    /// 200..=699.
    pub fn is_final(self) -> bool {
        self.0 >= 200
    }

    /// The RFC 3261 reason phrase, or "Unknown".
    pub fn default_reason(self) -> &'static str {
        match self.0 {
            100 => "Trying",
            180 => "Ringing",
            181 => "Call Is Being Forwarded",
            182 => "Queued",
            183 => "Session Progress",
            200 => "OK",
            202 => "Accepted",
            300 => "Multiple Choices",
            301 => "Moved Permanently",
            302 => "Moved Temporarily",
            305 => "Use Proxy",
            380 => "Alternative Service",
            400 => "Bad Request",
            401 => "Unauthorized",
            402 => "Payment Required",
            403 => "Forbidden",
            404 => "Not Found",
            405 => "Method Not Allowed",
            406 => "Not Acceptable",
            407 => "Proxy Authentication Required",
            408 => "Request Timeout",
            410 => "Gone",
            413 => "Request Entity Too Large",
            414 => "Request-URI Too Long",
            415 => "Unsupported Media Type",
            416 => "Unsupported URI Scheme",
            420 => "Bad Extension",
            421 => "Extension Required",
            423 => "Interval Too Brief",
            480 => "Temporarily Unavailable",
            481 => "Call/Transaction Does Not Exist",
            482 => "Loop Detected",
            483 => "Too Many Hops",
            484 => "Address Incomplete",
            485 => "Ambiguous",
            486 => "Busy Here",
            487 => "Request Terminated",
            488 => "Not Acceptable Here",
            489 => "Bad Event",
            491 => "Request Pending",
            493 => "Undecipherable",
            500 => "Server Internal Error",
            501 => "Not Implemented",
            502 => "Bad Gateway",
            503 => "Service Unavailable",
            504 => "Server Time-out",
            505 => "Version Not Supported",
            513 => "Message Too Large",
            600 => "Busy Everywhere",
            603 => "Decline",
            604 => "Does Not Exist Anywhere",
            606 => "Not Acceptable",
            _ => "Unknown",
        }
    }
}

impl From<u16> for StatusCode {
    fn from(c: u16) -> Self {
        StatusCode(c)
    }
}

impl fmt::Display for StatusCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A SIP request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: Method,
    pub uri: Uri,
    pub headers: Headers,
    pub body: Bytes,
}

/// A SIP response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: StatusCode,
    pub reason: ByteString,
    pub headers: Headers,
    pub body: Bytes,
}

/// A request or a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    Request(Request),
    Response(Response),
}

impl Request {
    /// An empty request; add headers with `headers.push(..)`. The printer adds Content-Length.
    pub fn new(method: Method, uri: Uri) -> Request {
        Request {
            method,
            uri,
            headers: Headers::with_capacity(10),
            body: Bytes::new(),
        }
    }

    /// Parse one request (a datagram); a response is an error.
    pub fn parse(buf: &[u8]) -> Result<Request, ParseError> {
        match crate::parse(buf)? {
            Message::Request(r) => Ok(r),
            Message::Response(_) => Err(ParseError::new(
                crate::ErrorKind::RequestLine("not a request"),
                0,
            )),
        }
    }

    /// Set the body and its Content-Type.
    pub fn set_body(&mut self, content_type: &str, body: impl Into<Bytes>) {
        self.headers.set(HeaderName::ContentType, content_type);
        self.body = body.into();
    }

    /// Parse every header a UAS relies on (all Via entries, From, To, Call-ID, Contact,
    /// Max-Forwards, Expires, Content-Type), for a server that wants to answer 400 up front
    /// rather than meet a bad header later. [`crate::parse`] itself only checks the start line,
    /// header syntax, CSeq and Content-Length, so one odd header does not lose the message.
    pub fn validate(&self) -> Result<(), HeaderError> {
        let h = &self.headers;
        h.via()?;
        h.from()?;
        h.to()?;
        h.call_id()?;
        h.contacts()?;
        h.max_forwards()?;
        h.try_expires()?;
        h.content_type()?;
        Ok(())
    }

    /// Append the wire form to `out`.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        use std::io::Write;
        // Writing to a Vec cannot fail.
        let _ = write!(out, "{} {} SIP/2.0\r\n", self.method, self.uri);
        write_headers_and_body(&self.headers, &self.body, out);
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(512 + self.body.len());
        self.write_to(&mut out);
        out
    }
}

impl Response {
    /// A response with the default reason phrase and no headers.
    pub fn new(status: impl Into<StatusCode>) -> Response {
        let status = status.into();
        Response {
            status,
            reason: ByteString::from_static(status.default_reason()),
            headers: Headers::with_capacity(10),
            body: Bytes::new(),
        }
    }

    /// A response to `req` per RFC 3261 §8.2.6: copies every Via (in order), From, To, Call-ID and
    /// CSeq. An empty `reason` means the default phrase. Add a To tag with [`Response::with_to_tag`].
    pub fn for_request(req: &Request, status: impl Into<StatusCode>, reason: &str) -> Response {
        Response::answering(&req.headers, status.into(), reason, None)
    }

    /// Add `;tag=<tag>` to To unless it already has a tag (RFC 3261 §8.2.6.2).
    pub fn with_to_tag(mut self, tag: &str) -> Response {
        add_to_tag(&mut self.headers, tag);
        self
    }

    pub(crate) fn answering(
        req_headers: &Headers,
        status: StatusCode,
        reason: &str,
        to_tag: Option<&str>,
    ) -> Response {
        let mut headers = Headers::with_capacity(8);
        // Every Via in order; one each of the others even if the request repeated them.
        let mut seen = [false; 4];
        for h in req_headers.iter() {
            let slot = match h.name {
                HeaderName::Via => None,
                HeaderName::From => Some(0),
                HeaderName::To => Some(1),
                HeaderName::CallId => Some(2),
                HeaderName::CSeq => Some(3),
                _ => continue,
            };
            if let Some(i) = slot {
                if seen[i] {
                    continue;
                }
                seen[i] = true;
            }
            headers.push(h.name.clone(), h.value.clone());
        }
        if let Some(tag) = to_tag {
            add_to_tag(&mut headers, tag);
        }
        let reason = if reason.is_empty() {
            ByteString::from_static(status.default_reason())
        } else {
            // A reason phrase must not break the status line.
            ByteString::from(reason.replace(['\r', '\n'], " "))
        };
        Response {
            status,
            reason,
            headers,
            body: Bytes::new(),
        }
    }

    pub fn set_body(&mut self, content_type: &str, body: impl Into<Bytes>) {
        self.headers.set(HeaderName::ContentType, content_type);
        self.body = body.into();
    }

    pub fn write_to(&self, out: &mut Vec<u8>) {
        use std::io::Write;
        let _ = write!(out, "SIP/2.0 {:03} ", self.status.0);
        write_sanitized(out, self.reason.as_bytes());
        out.extend_from_slice(b"\r\n");
        write_headers_and_body(&self.headers, &self.body, out);
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(384 + self.body.len());
        self.write_to(&mut out);
        out
    }
}

fn add_to_tag(headers: &mut Headers, tag: &str) {
    for h in headers.iter_mut() {
        if h.name == HeaderName::To {
            let has_tag = match NameAddr::parse_in(&h.value, &h.value, "To") {
                Ok(n) => n.tag().is_some(),
                Err(_) => false,
            };
            if !has_tag {
                h.value = ByteString::from(format!("{};tag={}", h.value, tag));
            }
            return;
        }
    }
}

impl Message {
    /// Parse one datagram; same as [`crate::parse`].
    pub fn parse(buf: &[u8]) -> Result<Message, ParseError> {
        crate::parse(buf)
    }

    pub fn headers(&self) -> &Headers {
        match self {
            Message::Request(r) => &r.headers,
            Message::Response(r) => &r.headers,
        }
    }

    pub fn headers_mut(&mut self) -> &mut Headers {
        match self {
            Message::Request(r) => &mut r.headers,
            Message::Response(r) => &mut r.headers,
        }
    }

    pub fn body(&self) -> &Bytes {
        match self {
            Message::Request(r) => &r.body,
            Message::Response(r) => &r.body,
        }
    }

    pub fn is_request(&self) -> bool {
        matches!(self, Message::Request(_))
    }

    /// Append the wire form to `out`, with a Content-Length that matches the body.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        match self {
            Message::Request(r) => r.write_to(out),
            Message::Response(r) => r.write_to(out),
        }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        match self {
            Message::Request(r) => r.to_bytes(),
            Message::Response(r) => r.to_bytes(),
        }
    }
}

impl From<Request> for Message {
    fn from(r: Request) -> Self {
        Message::Request(r)
    }
}

impl From<Response> for Message {
    fn from(r: Response) -> Self {
        Message::Response(r)
    }
}

impl fmt::Display for Message {
    /// The wire form (lossy for a non-UTF-8 body); for logs and tests.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.to_bytes()))
    }
}

/// Write bytes with CR and LF replaced by spaces, so no value can inject a header line.
fn write_sanitized(out: &mut Vec<u8>, v: &[u8]) {
    if memchr::memchr2(b'\r', b'\n', v).is_none() {
        out.extend_from_slice(v);
    } else {
        out.extend(
            v.iter()
                .map(|&b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
        );
    }
}

/// Headers in order, Content-Length written once (where the first one was, else last) with the
/// body's real length, blank line, body.
fn write_headers_and_body(headers: &Headers, body: &[u8], out: &mut Vec<u8>) {
    let mut wrote_len = false;
    let write_len = |out: &mut Vec<u8>| {
        use std::io::Write;
        let _ = write!(out, "Content-Length: {}\r\n", body.len());
    };
    for h in headers.iter() {
        if h.name == HeaderName::ContentLength {
            if !wrote_len {
                write_len(out);
                wrote_len = true;
            }
            continue;
        }
        write_sanitized(out, h.name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        write_sanitized(out, h.value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if !wrote_len {
        write_len(out);
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::uri::Host;

    fn register() -> Request {
        let mut r = Request::new(
            Method::Register,
            Uri::sip(Host::Name("3402000000".into())).with_user("34020000002000000001"),
        );
        r.headers
            .push("Via", "SIP/2.0/UDP 192.168.1.64:5060;rport;branch=z9hG4bK1");
        r.headers
            .push("From", "<sip:34020000001320000001@3402000000>;tag=a");
        r.headers
            .push("To", "<sip:34020000001320000001@3402000000>");
        r.headers.push("Call-ID", "c1");
        r.headers.push("CSeq", "1 REGISTER");
        r.headers.push("Max-Forwards", "70");
        r.headers.push("Expires", "3600");
        r
    }

    #[test]
    fn printer_adds_content_length() {
        let bytes = register().to_bytes();
        assert_eq!(
            std::str::from_utf8(&bytes).unwrap(),
            "REGISTER sip:34020000002000000001@3402000000 SIP/2.0\r\n\
             Via: SIP/2.0/UDP 192.168.1.64:5060;rport;branch=z9hG4bK1\r\n\
             From: <sip:34020000001320000001@3402000000>;tag=a\r\n\
             To: <sip:34020000001320000001@3402000000>\r\n\
             Call-ID: c1\r\n\
             CSeq: 1 REGISTER\r\n\
             Max-Forwards: 70\r\n\
             Expires: 3600\r\n\
             Content-Length: 0\r\n\r\n"
        );
    }

    #[test]
    fn printer_corrects_a_wrong_content_length_in_place() {
        let mut r = register();
        r.headers.push("Content-Length", "999");
        r.headers.push("User-Agent", "x");
        r.set_body("Application/MANSCDP+xml", &b"<a/>"[..]);
        let s = String::from_utf8(r.to_bytes()).unwrap();
        assert!(s.contains("Content-Length: 4\r\nUser-Agent: x\r\nContent-Type: Application/MANSCDP+xml\r\n\r\n<a/>"), "{s}");
        assert_eq!(s.matches("Content-Length").count(), 1);
    }

    #[test]
    fn printer_neutralises_header_injection() {
        let mut r = register();
        r.headers.push("Subject", "x\r\nEvil: 1");
        let s = String::from_utf8(r.to_bytes()).unwrap();
        assert!(s.contains("Subject: x  Evil: 1\r\n"), "{s}");
    }

    #[test]
    fn response_for_request_copies_dialog_headers_and_adds_to_tag() {
        let mut req = register();
        req.headers
            .push("Via", "SIP/2.0/UDP proxy:5060;branch=z9hG4bK2");
        let resp = Response::for_request(&req, StatusCode::UNAUTHORIZED, "").with_to_tag("srv1");
        assert_eq!(resp.reason, "Unauthorized");
        assert_eq!(resp.headers.via().unwrap().len(), 2);
        assert_eq!(resp.headers.to().unwrap().tag(), Some("srv1"));
        assert_eq!(resp.headers.get("Call-ID"), Some("c1"));
        assert_eq!(resp.headers.get("Expires"), None);
        let s = String::from_utf8(resp.to_bytes()).unwrap();
        assert!(s.starts_with("SIP/2.0 401 Unauthorized\r\nVia: SIP/2.0/UDP 192.168.1.64:5060;rport;branch=z9hG4bK1\r\n"));
        // An existing To tag is kept.
        let again = resp.clone().with_to_tag("other");
        assert_eq!(again.headers.to().unwrap().tag(), Some("srv1"));
    }
}
