//! What a message is matched on: §17.1.3 for responses, §17.2.3 for requests (RFC 3261 branch
//! with sent-by and method, else the RFC 2543 fields), and the dialog fields an ACK for a 2xx
//! carries (§13.2.2.4; its branch is new, so only these find the INVITE).

use crate::error::HeaderError;
use crate::header::{CSeq, Transport, Via};
use crate::message::{Request, Response};
use crate::method::Method;

/// Every live transaction has one in the layer's index and keeps a copy to remove it, so the
/// common variants are kept small (boxed strings, the rare RFC 2543 one behind a box).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) enum MatchKey {
    /// Our request: responses carry our branch back, CSeq says which method (CANCEL shares the
    /// INVITE's branch).
    Client { branch: Box<str>, method: Method },
    /// A request from an RFC 3261 peer. `method` is INVITE for an ACK.
    Server {
        branch: Box<str>,
        sent_by: Box<str>,
        method: Method,
    },
    /// A request without the magic cookie.
    Rfc2543(Box<Rfc2543Key>),
}

/// Request-URI, From tag, Call-ID, CSeq and top Via of a request without the magic cookie.
/// The To tag is checked apart, because an ACK carries the tag of our response.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct Rfc2543Key {
    uri: String,
    from_tag: String,
    call_id: String,
    cseq: u32,
    method: Method,
    via: String,
}

impl MatchKey {
    pub(super) fn is_rfc2543(&self) -> bool {
        matches!(self, MatchKey::Rfc2543(_))
    }
}

/// ACK for a 2xx, matched by dialog fields and the INVITE's CSeq number.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct AckKey {
    call_id: String,
    cseq: u32,
    from_tag: String,
}

impl AckKey {
    pub(super) fn of(req: &Request, cseq: u32) -> Result<AckKey, HeaderError> {
        Ok(AckKey {
            call_id: req.headers.call_id()?.to_owned(),
            cseq,
            from_tag: req.headers.from()?.tag().unwrap_or("").to_owned(),
        })
    }
}

pub(super) fn client_key(via: &Via, method: &Method) -> Option<MatchKey> {
    Some(MatchKey::Client {
        branch: via.branch()?.into(),
        method: method.clone(),
    })
}

pub(super) fn response_key(resp: &Response) -> Option<MatchKey> {
    let via = resp.headers.top_via().ok()?;
    let cseq = resp.headers.cseq().ok()?;
    client_key(&via, &cseq.method)
}

/// The server key of `req` (top Via `via`, CSeq `cseq`) as if its method were `method`.
pub(super) fn server_key(
    req: &Request,
    via: &Via,
    cseq: &CSeq,
    method: Method,
) -> Result<MatchKey, HeaderError> {
    if via.has_rfc3261_branch() {
        return Ok(MatchKey::Server {
            branch: via.branch().unwrap_or("").into(),
            sent_by: sent_by(via),
            method,
        });
    }
    Ok(MatchKey::Rfc2543(Box::new(Rfc2543Key {
        uri: req.uri.to_string(),
        from_tag: req.headers.from()?.tag().unwrap_or("").to_owned(),
        call_id: req.headers.call_id()?.to_owned(),
        cseq: cseq.seq,
        method,
        via: via.to_string(),
    })))
}

/// The method a request is matched under: an ACK belongs to the INVITE transaction.
pub(super) fn match_method(m: &Method) -> Method {
    if *m == Method::Ack {
        Method::Invite
    } else {
        m.clone()
    }
}

/// `host:port`, host in lower case, default port filled in, so `A.example` and `a.example:5060`
/// are the same sent-by.
fn sent_by(via: &Via) -> Box<str> {
    use std::fmt::Write;
    let default = if via.transport == Transport::Tls {
        5061
    } else {
        5060
    };
    let mut s = String::with_capacity(32);
    let _ = write!(s, "{}:{}", via.host, via.port.unwrap_or(default));
    s.make_ascii_lowercase();
    s.into_boxed_str()
}

/// The To tag, `None` when absent or unreadable.
pub(super) fn to_tag(headers: &crate::Headers) -> Option<Box<str>> {
    headers.to().ok()?.tag().map(Box::from)
}
