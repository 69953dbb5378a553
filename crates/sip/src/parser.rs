//! The message parser: start line, header lines (folding, compact names, repeated lines), the
//! mandatory headers every request must carry, and the body by Content-Length.
//!
//! The input is copied once into a `Bytes` buffer (or taken as is by [`parse_bytes`]); header
//! names, values and the body are slices of it. Typed headers are parsed later, on demand.

use bytes::Bytes;
use bytestring::ByteString;

use crate::error::{ErrorKind, ParseError};
use crate::header::{CSeq, HeaderName, Headers};
use crate::message::{Message, Request, Response, StatusCode};
use crate::method::Method;
use crate::text::{cut, is_token, is_ws, lines, trim_lws};
use crate::uri::{Uri, parse_uri};

/// Largest message accepted (head and body), on datagrams and streams alike.
pub const MAX_MESSAGE_SIZE: usize = 64 * 1024;

/// Bound on header lines, so a message of tiny headers cannot make a huge table.
pub const MAX_HEADERS: usize = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// UDP: Content-Length optional, body is the rest of the datagram when absent.
    Datagram,
    /// TCP: Content-Length required (RFC 3261 §18.3).
    Stream,
}

/// Parse one SIP message from a datagram. Copies `buf` once; see [`parse_bytes`] to avoid the copy.
pub fn parse(buf: &[u8]) -> Result<Message, ParseError> {
    if buf.len() > MAX_MESSAGE_SIZE {
        return Err(ParseError::new(ErrorKind::TooLarge, MAX_MESSAGE_SIZE));
    }
    parse_message(Bytes::copy_from_slice(buf), Framing::Datagram)
}

/// Parse one SIP message from a datagram already held in `Bytes` (no copy).
pub fn parse_bytes(buf: Bytes) -> Result<Message, ParseError> {
    if buf.len() > MAX_MESSAGE_SIZE {
        return Err(ParseError::new(ErrorKind::TooLarge, MAX_MESSAGE_SIZE));
    }
    parse_message(buf, Framing::Datagram)
}

/// Number of leading CRLF (or bare LF) bytes, which RFC 3261 §7.5 says to ignore.
pub(crate) fn leading_newlines(buf: &[u8]) -> usize {
    buf.iter()
        .take_while(|&&b| b == b'\r' || b == b'\n')
        .count()
}

/// Find the blank line ending the header section, searching from `from` (the start line).
/// Returns `(head_end, body_start)`: `head_end` is the index of the `\n` ending the last header
/// line. Accepts CRLF and bare LF line ends.
pub(crate) fn find_head_end(buf: &[u8], from: usize) -> Option<(usize, usize)> {
    let hay = buf.get(from..)?;
    for p in memchr::memchr_iter(b'\n', hay) {
        let p = from + p;
        match (buf.get(p + 1), buf.get(p + 2)) {
            (Some(b'\n'), _) => return Some((p, p + 2)),
            (Some(b'\r'), Some(b'\n')) => return Some((p, p + 3)),
            _ => {}
        }
    }
    None
}

/// Parse a Content-Length value: digits only (no sign), at most [`MAX_MESSAGE_SIZE`].
pub(crate) fn parse_content_length(v: &str) -> Result<usize, &'static str> {
    let v = trim_lws(v);
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err("not a number");
    }
    match v.parse::<usize>() {
        Ok(n) if n <= MAX_MESSAGE_SIZE => Ok(n),
        _ => Err("too large"),
    }
}

/// Quick scan of a raw header section for Content-Length (long or compact name), for the stream
/// framer, which must know the body length before a full parse. Folded values are not expected here.
pub(crate) fn scan_content_length(head: &[u8]) -> Result<Option<usize>, &'static str> {
    let mut found: Option<usize> = None;
    for line in head.split(|&b| b == b'\n').skip(1) {
        let Some(colon) = memchr::memchr(b':', line) else {
            continue;
        };
        let name = line[..colon].trim_ascii_end();
        if name.eq_ignore_ascii_case(b"content-length") || name.eq_ignore_ascii_case(b"l") {
            let v = std::str::from_utf8(&line[colon + 1..]).map_err(|_| "not a number")?;
            let n = parse_content_length(v)?;
            if found.is_some_and(|f| f != n) {
                return Err("conflicting values");
            }
            found = Some(n);
        }
    }
    Ok(found)
}

enum StartLine {
    Request {
        method: Method,
        uri: Result<Uri, ParseError>,
    },
    Response {
        status: StatusCode,
        reason: ByteString,
    },
}

pub(crate) fn parse_message(buf: Bytes, framing: Framing) -> Result<Message, ParseError> {
    let start = leading_newlines(&buf);
    if start >= buf.len() {
        return Err(ParseError::new(ErrorKind::Empty, start));
    }
    let (head_end, body_start) = find_head_end(&buf, start)
        .ok_or_else(|| ParseError::new(ErrorKind::Incomplete, buf.len()))?;
    let head = match ByteString::try_from(buf.slice(start..head_end)) {
        Ok(s) => s,
        // Some devices put GBK text in display names: keep going with U+FFFD rather than drop the message.
        Err(_) => ByteString::from(String::from_utf8_lossy(&buf[start..head_end]).into_owned()),
    };
    let s: &str = &head;
    // Absolute offset in the input of a slice of `s` (exact unless the lossy path changed lengths).
    let at = |part: &str| {
        start
            + (part.as_ptr() as usize)
                .saturating_sub(s.as_ptr() as usize)
                .min(s.len())
    };

    // A CR not ending a line could not be printed back faithfully; RFC 3261 has no place for it.
    // (The head ends just before the last line's LF, so a final CR is fine.)
    let hb = s.as_bytes();
    let bare_cr = memchr::memchr_iter(b'\r', hb).find(|&p| p + 1 < hb.len() && hb[p + 1] != b'\n');
    let mut lines = lines(s);
    let first = lines.next().unwrap_or("");
    if let Some(p) = bare_cr
        && p > first.len()
    {
        return Err(header_err("bare CR", start + p));
    }
    if let Some(i) = bare_cr.filter(|&p| p <= first.len()) {
        let is_status = first.len() >= 4 && first.as_bytes()[..4].eq_ignore_ascii_case(b"SIP/");
        let kind = if is_status {
            ErrorKind::StatusLine("bare CR")
        } else {
            ErrorKind::RequestLine("bare CR")
        };
        return Err(ParseError::new(kind, start + i));
    }
    let start_line = parse_start_line(&head, first, start)?;

    let mut headers = Headers::with_capacity(12);
    // (name, value start, value end, folded, line start) of the header being collected.
    let mut pending: Option<(HeaderName, usize, usize, bool)> = None;
    let base = s.as_ptr() as usize;
    for line in lines {
        let line_off = line.as_ptr() as usize - base;
        let line_end = line_off + line.len();
        if line.as_bytes().first().is_some_and(|&b| is_ws(b)) {
            match pending.as_mut() {
                Some(p) => {
                    p.2 = line_end;
                    p.3 = true;
                }
                None => {
                    return Err(header_err(
                        "continuation line without header",
                        start + line_off,
                    ));
                }
            }
            continue;
        }
        if let Some(p) = pending.take() {
            push_header(&mut headers, &head, p)?;
        }
        let Some(colon) = memchr::memchr(b':', line.as_bytes()) else {
            return Err(header_err("missing colon", start + line_off)
                .with_answerable(answerable_so_far(&start_line, &headers)));
        };
        let name = line[..colon].trim_end_matches([' ', '\t']);
        if !is_token(name) {
            return Err(header_err("bad header name", start + line_off)
                .with_answerable(answerable_so_far(&start_line, &headers)));
        }
        if headers.len() >= MAX_HEADERS {
            return Err(ParseError::new(ErrorKind::TooManyHeaders, start + line_off));
        }
        pending = Some((
            HeaderName::from_wire(&head, name),
            line_off + colon + 1,
            line_end,
            false,
        ));
    }
    if let Some(p) = pending.take() {
        push_header(&mut headers, &head, p)?;
    }

    let (method, uri, status) = match start_line {
        StartLine::Request { method, uri } => (Some(method), Some(uri), None),
        StartLine::Response { status, reason } => (None, None, Some((status, reason))),
    };
    // A request (other than ACK) with these headers can be answered with an error response.
    let answerable = |headers: &Headers| -> Option<Headers> {
        let m = method.as_ref()?;
        let complete = [
            HeaderName::Via,
            HeaderName::From,
            HeaderName::To,
            HeaderName::CallId,
            HeaderName::CSeq,
        ]
        .iter()
        .all(|n| headers.contains(n));
        (*m != Method::Ack && complete).then(|| headers.clone())
    };
    let fail = |kind: ErrorKind, offset: usize, headers: &Headers| {
        ParseError::new(kind, offset).with_answerable(answerable(headers))
    };

    let uri = match uri {
        Some(Err(e)) => return Err(e.with_answerable(answerable(&headers))),
        Some(Ok(u)) => Some(u),
        None => None,
    };
    // One pass over the headers: the essential ones present, the single-instance ones not
    // repeated (two different values cannot both be right, RFC 4475 multi01), CSeq and every
    // Content-Length read.
    const ESSENTIAL: [&str; 5] = ["Via", "From", "To", "Call-ID", "CSeq"];
    let mut count = [0u8; 5];
    let mut repeated: [Option<&str>; 5] = [None; 5];
    let mut cseq_raw = "";
    let mut content_length: Result<Option<usize>, (&'static str, &str)> = Ok(None);
    for h in headers.iter() {
        let slot = match h.name {
            HeaderName::Via => 0,
            HeaderName::From => 1,
            HeaderName::To => 2,
            HeaderName::CallId => 3,
            HeaderName::CSeq => 4,
            HeaderName::ContentLength => {
                if let Ok(prev) = content_length {
                    content_length = match parse_content_length(&h.value) {
                        Err(why) => Err((why, &h.value)),
                        Ok(n) if prev.is_some_and(|p| p != n) => {
                            Err(("conflicting values", &h.value))
                        }
                        Ok(n) => Ok(Some(n)),
                    };
                }
                continue;
            }
            _ => continue,
        };
        count[slot] = count[slot].saturating_add(1);
        match count[slot] {
            1 if slot == 4 => cseq_raw = &h.value,
            2 => repeated[slot] = Some(&h.value),
            _ => {}
        }
    }
    if let Some(i) = count.iter().position(|&c| c == 0) {
        let kind = ErrorKind::MissingHeader(ESSENTIAL[i]);
        return Err(fail(kind, start + s.len(), &headers));
    }
    if let Some((i, second)) = repeated
        .iter()
        .enumerate()
        .skip(1)
        .find_map(|(i, r)| r.map(|v| (i, v)))
    {
        let kind = ErrorKind::BadHeader {
            name: ESSENTIAL[i],
            why: "appears more than once",
        };
        return Err(fail(kind, at(second), &headers));
    }
    let cseq = CSeq::parse(cseq_raw).map_err(|e| {
        let kind = ErrorKind::BadHeader {
            name: "CSeq",
            why: e.why,
        };
        fail(kind, at(cseq_raw), &headers)
    })?;
    if let Some(m) = &method
        && cseq.method != *m
    {
        let kind = ErrorKind::BadHeader {
            name: "CSeq",
            why: "method mismatch",
        };
        return Err(fail(kind, at(cseq_raw), &headers));
    }
    let content_length = content_length.map_err(|(why, v)| {
        let kind = ErrorKind::BadHeader {
            name: "Content-Length",
            why,
        };
        fail(kind, at(v), &headers)
    })?;
    let available = buf.len() - body_start;
    let body = match (content_length, framing) {
        (Some(n), _) if n > available => {
            return Err(fail(
                ErrorKind::BodyTruncated {
                    declared: n,
                    actual: available,
                },
                buf.len(),
                &headers,
            ));
        }
        // Bytes beyond Content-Length in a datagram are discarded (RFC 3261 §18.3).
        (Some(n), _) => buf.slice(body_start..body_start + n),
        (None, Framing::Datagram) => buf.slice(body_start..),
        (None, Framing::Stream) => {
            return Err(fail(
                ErrorKind::MissingContentLength,
                start + s.len(),
                &headers,
            ));
        }
    };

    Ok(match (method, uri, status) {
        (Some(method), Some(uri), _) => Message::Request(Request {
            method,
            uri,
            headers,
            body,
        }),
        (_, _, Some((status, reason))) => Message::Response(Response {
            status,
            reason,
            headers,
            body,
        }),
        // Not reachable: a start line is either a request or a response.
        _ => return Err(ParseError::new(ErrorKind::StatusLine("unreadable"), start)),
    })
}

/// For a bad header line: the headers read before it, when they already make the request
/// answerable (a device's junk line after Via/From/To/Call-ID/CSeq still gets its 400).
fn answerable_so_far(start_line: &StartLine, headers: &Headers) -> Option<Headers> {
    let StartLine::Request { method, .. } = start_line else {
        return None;
    };
    let complete = [
        HeaderName::Via,
        HeaderName::From,
        HeaderName::To,
        HeaderName::CallId,
        HeaderName::CSeq,
    ]
    .iter()
    .all(|n| headers.contains(n));
    (*method != Method::Ack && complete).then(|| headers.clone())
}

fn header_err(why: &'static str, offset: usize) -> ParseError {
    ParseError::new(ErrorKind::HeaderLine(why), offset)
}

fn push_header(
    headers: &mut Headers,
    head: &ByteString,
    (name, vstart, vend, folded): (HeaderName, usize, usize, bool),
) -> Result<(), ParseError> {
    let raw = head.get(vstart..vend).unwrap_or("");
    let value = if folded {
        // Replace each line break and the whitespace around it with one SP (RFC 3261 §7.3.1).
        let mut out = String::with_capacity(raw.len());
        for (i, part) in raw.split('\n').enumerate() {
            let part = part.strip_suffix('\r').unwrap_or(part);
            let part = if i == 0 {
                part.trim_end_matches([' ', '\t'])
            } else {
                trim_lws(part)
            };
            if i > 0 && !out.is_empty() && !part.is_empty() {
                out.push(' ');
            }
            out.push_str(part);
        }
        ByteString::from(trim_lws(&out).to_owned())
    } else {
        cut(head, trim_lws(raw))
    };
    headers.push(name, value);
    Ok(())
}

fn parse_start_line(head: &ByteString, line: &str, offset: usize) -> Result<StartLine, ParseError> {
    if line.len() >= 4 && line.as_bytes()[..4].eq_ignore_ascii_case(b"SIP/") {
        return match start_line_status(line, head) {
            Some((status, reason)) => Ok(StartLine::Response { status, reason }),
            None => Err(status_line_error(line, offset)),
        };
    }
    let rl = |why| ParseError::new(ErrorKind::RequestLine(why), offset);
    let sp1 = line.find(' ').ok_or_else(|| rl("missing Request-URI"))?;
    let method_s = &line[..sp1];
    if !is_token(method_s) {
        return Err(rl("method is not a token"));
    }
    let rest = &line[sp1 + 1..];
    let sp2 = rest.rfind(' ').ok_or_else(|| rl("missing SIP version"))?;
    let version = &rest[sp2 + 1..];
    let uri_s = &rest[..sp2];
    let uri_off = offset + sp1 + 1;
    let uri = if !version.eq_ignore_ascii_case("SIP/2.0") {
        let kind = if version.len() > 4 && version.as_bytes()[..4].eq_ignore_ascii_case(b"SIP/") {
            ErrorKind::Version
        } else {
            ErrorKind::RequestLine("bad SIP version")
        };
        Err(ParseError::new(kind, uri_off + sp2 + 1))
    } else if uri_s.is_empty() {
        Err(ParseError::new(ErrorKind::RequestUri("empty"), uri_off))
    } else if let Some(i) = uri_s.bytes().position(|b| b <= b' ' || b == 0x7f) {
        Err(ParseError::new(
            ErrorKind::RequestUri("whitespace or control character"),
            uri_off + i,
        ))
    } else if uri_s.starts_with('<') {
        Err(ParseError::new(
            ErrorKind::RequestUri("enclosed in <>"),
            uri_off,
        ))
    } else {
        match parse_uri(head, uri_s) {
            // RFC 3261 §19.1.1: URI headers are not allowed in a Request-URI (RFC 4475 escruri).
            Ok(u) if !u.headers.is_empty() => Err(ParseError::new(
                ErrorKind::RequestUri("headers not allowed"),
                uri_off + uri_s.find('?').unwrap_or(0),
            )),
            Ok(u) => Ok(u),
            Err(e) => Err(ParseError::new(
                ErrorKind::RequestUri(e.why),
                uri_off + e.offset,
            )),
        }
    };
    Ok(StartLine::Request {
        method: Method::from_token(method_s),
        uri,
    })
}

/// `SIP/2.0 SP 3DIGIT SP reason` → status and reason; `None` when malformed.
fn start_line_status(line: &str, head: &ByteString) -> Option<(StatusCode, ByteString)> {
    let (ver, rest) = line.split_once(' ')?;
    if !ver.eq_ignore_ascii_case("SIP/2.0") {
        return None;
    }
    let code = rest.get(..3)?;
    if !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u16 = code.parse().ok()?;
    if !(100..=699).contains(&n) {
        return None;
    }
    let reason = match rest.get(3..)? {
        "" => "",
        r => r.strip_prefix(' ')?,
    };
    Some((StatusCode(n), cut(head, reason)))
}

fn status_line_error(line: &str, offset: usize) -> ParseError {
    let ver = line.split(' ').next().unwrap_or("");
    if !ver.eq_ignore_ascii_case("SIP/2.0") {
        return ParseError::new(ErrorKind::Version, offset);
    }
    ParseError::new(
        ErrorKind::StatusLine("bad status code"),
        offset + ver.len() + 1,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const REGISTER: &[u8] = b"REGISTER sip:34020000002000000001@3402000000 SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.168.1.64:5060;rport;branch=z9hG4bK1491280923\r\n\
From: <sip:34020000001320000001@3402000000>;tag=1876443237\r\n\
To: <sip:34020000001320000001@3402000000>\r\n\
Call-ID: 1390289454\r\n\
CSeq: 1 REGISTER\r\n\
Contact: <sip:34020000001320000001@192.168.1.64:5060>\r\n\
Max-Forwards: 70\r\n\
User-Agent: IP Camera\r\n\
Expires: 3600\r\n\
Content-Length: 0\r\n\r\n";

    fn req(m: Message) -> Request {
        match m {
            Message::Request(r) => r,
            Message::Response(_) => panic!("expected a request"),
        }
    }

    #[test]
    fn parses_gb28181_register() {
        let r = req(parse(REGISTER).unwrap());
        assert_eq!(r.method, Method::Register);
        assert_eq!(r.uri.user.as_deref(), Some("34020000002000000001"));
        assert_eq!(r.headers.len(), 10);
        assert_eq!(r.headers.cseq().unwrap(), CSeq::new(1, Method::Register));
        assert_eq!(r.headers.expires(), Some(3600));
        assert_eq!(r.headers.from().unwrap().tag(), Some("1876443237"));
        assert_eq!(r.headers.user_agent(), Some("IP Camera"));
        assert!(r.body.is_empty());
    }

    #[test]
    fn print_of_parsed_register_is_byte_exact() {
        assert_eq!(parse(REGISTER).unwrap().to_bytes(), REGISTER);
    }

    #[test]
    fn compact_names_folding_and_leading_crlf() {
        let m = b"\r\n\r\nMESSAGE sip:a@b SIP/2.0\r\nv: SIP/2.0/UDP h;branch=z9hG4bKx\r\nf: <sip:c@d>;tag=1\r\nt: <sip:a@b>\r\ni: cid\r\nCSeq: 2\r\n  MESSAGE\r\nSubject: a,\r\n\tb\r\nl: 3\r\nc: text/plain\r\n\r\nabc";
        let r = req(parse(m).unwrap());
        assert_eq!(r.method, Method::Message);
        assert_eq!(r.headers.call_id().unwrap(), "cid");
        assert_eq!(r.headers.cseq().unwrap().seq, 2);
        assert_eq!(r.headers.subject(), Some("a, b"));
        assert_eq!(&r.body[..], b"abc");
        assert!(
            r.headers
                .content_type()
                .unwrap()
                .unwrap()
                .is("text", "plain")
        );
    }

    #[test]
    fn body_without_content_length_is_rest_of_datagram() {
        let m = b"MESSAGE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h\r\nFrom: <sip:c@d>\r\nTo: <sip:a@b>\r\nCall-ID: x\r\nCSeq: 1 MESSAGE\r\n\r\nhello";
        assert_eq!(&req(parse(m).unwrap()).body[..], b"hello");
    }

    #[test]
    fn extra_bytes_after_content_length_are_discarded() {
        let m = b"MESSAGE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h\r\nFrom: <sip:c@d>\r\nTo: <sip:a@b>\r\nCall-ID: x\r\nCSeq: 1 MESSAGE\r\nContent-Length: 2\r\n\r\nhello";
        assert_eq!(&req(parse(m).unwrap()).body[..], b"he");
    }

    #[test]
    fn short_body_is_rejected_and_answerable() {
        let m = b"MESSAGE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:c@d>;tag=f\r\nTo: <sip:a@b>\r\nCall-ID: x\r\nCSeq: 1 MESSAGE\r\nContent-Length: 50\r\n\r\nhello";
        let e = parse(m).unwrap_err();
        assert_eq!(
            e.kind(),
            &ErrorKind::BodyTruncated {
                declared: 50,
                actual: 5
            }
        );
        assert_eq!(
            e.reason(),
            "body shorter than Content-Length (50 declared, 5 present)"
        );
        let resp = e.bad_request().unwrap();
        assert_eq!(resp.status, StatusCode::BAD_REQUEST);
        assert_eq!(resp.headers.get("Call-ID"), Some("x"));
        assert_eq!(
            resp.reason,
            "body shorter than Content-Length (50 declared, 5 present)"
        );
    }

    #[test]
    fn cseq_method_mismatch_is_rejected_with_offset() {
        let m = b"MESSAGE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h\r\nFrom: <sip:c@d>\r\nTo: <sip:a@b>\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\n\r\n";
        let e = parse(m).unwrap_err();
        assert_eq!(e.reason(), "bad CSeq header: method mismatch");
        assert_eq!(
            e.offset(),
            m.windows(8).position(|w| w == b"1 INVITE").unwrap()
        );
        assert!(e.bad_request().is_some());
    }

    #[test]
    fn other_versions_are_rejected() {
        let m = b"OPTIONS sip:a@b SIP/7.0\r\nVia: SIP/2.0/UDP h\r\nFrom: <sip:c@d>\r\nTo: <sip:a@b>\r\nCall-ID: x\r\nCSeq: 1 OPTIONS\r\n\r\n";
        let e = parse(m).unwrap_err();
        assert_eq!(e.kind(), &ErrorKind::Version);
        assert_eq!(
            e.bad_request().unwrap().status,
            StatusCode::VERSION_NOT_SUPPORTED
        );
        assert_eq!(
            parse(b"SIP/1.0 200 OK\r\n\r\n").unwrap_err().kind(),
            &ErrorKind::Version
        );
    }

    #[test]
    fn missing_header_is_named() {
        let m = b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h\r\nFrom: <sip:c@d>\r\nTo: <sip:a@b>\r\nCSeq: 1 OPTIONS\r\n\r\n";
        let e = parse(m).unwrap_err();
        assert_eq!(e.reason(), "missing Call-ID header");
        assert!(e.bad_request().is_none());
    }

    #[test]
    fn parses_response_with_empty_reason() {
        let m = b"SIP/2.0 200 \r\nVia: SIP/2.0/UDP h\r\nFrom: <sip:c@d>\r\nTo: <sip:a@b>\r\nCall-ID: x\r\nCSeq: 1 OPTIONS\r\n\r\n";
        match parse(m).unwrap() {
            Message::Response(r) => {
                assert_eq!(r.status.code(), 200);
                assert_eq!(r.reason, "");
            }
            Message::Request(_) => panic!("expected a response"),
        }
    }

    #[test]
    fn unknown_method_and_headers_are_kept() {
        let m = b"NEWMETHOD sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h\r\nFrom: <sip:c@d>\r\nTo: <sip:a@b>\r\nCall-ID: x\r\nCSeq: 1 NEWMETHOD\r\nX-GB-Ver: 3.0\r\n\r\n";
        let r = req(parse(m).unwrap());
        assert_eq!(r.method, Method::Other("NEWMETHOD".into()));
        assert_eq!(r.headers.get("x-gb-ver"), Some("3.0"));
    }

    #[test]
    fn junk_header_line_after_the_essentials_is_answered_with_400() {
        let e = parse(
            b"REGISTER sip:34020000002000000001@3402000000 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bK7\r\n\
From: <sip:34020000001320000001@3402000000>;tag=1\r\nTo: <sip:34020000001320000001@3402000000>\r\n\
Call-ID: c1\r\nCSeq: 1 REGISTER\r\ngarbage line\r\nContent-Length: 0\r\n\r\n",
        )
        .unwrap_err();
        assert_eq!(e.kind(), &ErrorKind::HeaderLine("missing colon"));
        let resp = e.bad_request().expect("answerable");
        assert_eq!(resp.status.code(), 400);
        assert_eq!(resp.headers.call_id().unwrap(), "c1");
        // Before the essentials were read there is nothing to answer with.
        let e = parse(b"REGISTER sip:a@b SIP/2.0\r\ngarbage\r\nVia: SIP/2.0/UDP h\r\n\r\n")
            .unwrap_err();
        assert!(e.bad_request().is_none());
    }

    #[test]
    fn structural_errors() {
        assert_eq!(parse(b"").unwrap_err().kind(), &ErrorKind::Empty);
        assert_eq!(parse(b"\r\n\r\n").unwrap_err().kind(), &ErrorKind::Empty);
        assert_eq!(
            parse(b"INVITE sip:a@b SIP/2.0\r\nVia: x\r\n")
                .unwrap_err()
                .kind(),
            &ErrorKind::Incomplete
        );
        assert_eq!(
            parse(b"INVITE sip:a@b SIP/2.0\r\nNoColon\r\n\r\n")
                .unwrap_err()
                .kind(),
            &ErrorKind::HeaderLine("missing colon")
        );
        assert_eq!(
            parse(b"INVITE  sip:a@b SIP/2.0\r\n\r\n")
                .unwrap_err()
                .kind(),
            &ErrorKind::RequestUri("whitespace or control character")
        );
        assert_eq!(
            parse(b"INVITE <sip:a@b> SIP/2.0\r\nVia: SIP/2.0/UDP h\r\nFrom: <sip:c@d>\r\nTo: <sip:a@b>\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\n\r\n")
                .unwrap_err()
                .kind(),
            &ErrorKind::RequestUri("enclosed in <>")
        );
        assert!(parse(&vec![b'a'; MAX_MESSAGE_SIZE + 1]).is_err());
    }

    #[test]
    fn non_utf8_header_text_is_replaced_not_fatal() {
        let mut m = b"MESSAGE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h\r\nFrom: \"".to_vec();
        m.extend_from_slice(&[0xC9, 0xE3]); // GBK
        m.extend_from_slice(
            b"\" <sip:c@d>\r\nTo: <sip:a@b>\r\nCall-ID: x\r\nCSeq: 1 MESSAGE\r\n\r\n",
        );
        let r = req(parse(&m).unwrap());
        assert_eq!(r.headers.from().unwrap().uri.user.as_deref(), Some("c"));
    }

    #[test]
    fn scan_content_length_finds_compact_form() {
        assert_eq!(
            scan_content_length(b"INVITE x SIP/2.0\r\nl: 12\r\n"),
            Ok(Some(12))
        );
        assert_eq!(
            scan_content_length(b"INVITE x SIP/2.0\r\nContent-Length: -1\r\n"),
            Err("not a number")
        );
        assert_eq!(
            scan_content_length(b"INVITE x SIP/2.0\r\nX: 1\r\n"),
            Ok(None)
        );
    }
}
