//! Dialogs (RFC 3261 §12): the state an INVITE and its 2xx establish between two UAs (Call-ID,
//! tags, URIs, remote target, route set, CSeq counters), and the requests built inside one:
//! the ACK for a 2xx (§13.2.2.4), BYE/INFO/MESSAGE (§12.2.1.1), and checks on the peer's
//! requests (§12.2.2). Plain data: no timers, no I/O.
//!
//! ```
//! use vigil_sip::dialog::Dialog;
//! use vigil_sip::{Method, Request, Response, Uri};
//!
//! let mut invite = Request::new(Method::Invite, Uri::parse("sip:34020000001310000001@192.168.1.64:5060").unwrap());
//! invite.headers.push("Via", "SIP/2.0/UDP 192.168.1.10:5060;rport;branch=z9hG4bK1");
//! invite.headers.push("From", "<sip:34020000002000000001@3402000000>;tag=p1");
//! invite.headers.push("To", "<sip:34020000001310000001@3402000000>");
//! invite.headers.push("Call-ID", "c1");
//! invite.headers.push("CSeq", "1 INVITE");
//! let mut ok = Response::for_request(&invite, 200, "").with_to_tag("cam");
//! ok.headers.push("Contact", "<sip:34020000001310000001@192.168.1.64:5060>");
//!
//! let mut dialog = Dialog::uac(&invite, &ok).unwrap();
//! let ack = dialog.ack(&ok, "z9hG4bK2");       // send with TransactionLayer::send_stateless
//! assert_eq!(ack.headers.get("CSeq"), Some("1 ACK"));
//! let bye = dialog.request(Method::Bye, "z9hG4bK3"); // send with TransactionLayer::send_request
//! assert_eq!(bye.headers.get("CSeq"), Some("2 BYE"));
//! assert_eq!(bye.uri.to_string(), "sip:34020000001310000001@192.168.1.64:5060");
//! ```

use std::fmt;

use crate::error::HeaderError;
use crate::header::{HeaderName, Headers, NameAddr, Via};
use crate::message::{Message, Request, Response, StatusCode};
use crate::method::Method;
use crate::text::split_list;
use crate::uri::Uri;

/// What identifies a dialog from our side (§12): Call-ID, our tag, the peer's tag. A peer that
/// sent no tag (RFC 2543) has the empty tag.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DialogId {
    pub call_id: String,
    pub local_tag: String,
    pub remote_tag: String,
}

impl DialogId {
    /// The dialog a message we received belongs to: for a request, our tag is its To tag and the
    /// peer's its From tag; for a response (to our request) it is the other way round.
    pub fn of_incoming(msg: &Message) -> Result<DialogId, HeaderError> {
        DialogId::of_headers(msg.headers(), msg.is_request())
    }

    fn of_headers(h: &Headers, request: bool) -> Result<DialogId, HeaderError> {
        let from = h.from()?;
        let to = h.to()?;
        let (local, remote) = if request { (to, from) } else { (from, to) };
        Ok(DialogId {
            call_id: h.call_id()?.to_owned(),
            local_tag: local.tag().unwrap_or("").to_owned(),
            remote_tag: remote.tag().unwrap_or("").to_owned(),
        })
    }
}

impl fmt::Display for DialogId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{};{};{}", self.call_id, self.local_tag, self.remote_tag)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DialogState {
    Confirmed,
    /// A BYE was sent or received, or an in-dialog request got 481/408 (§12.2.1.2).
    Terminated,
}

/// Why a dialog could not be made, or refused a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DialogError {
    #[error("a dialog is made by an INVITE, not {0}")]
    NotInvite(Method),
    #[error("a dialog is made by a 2xx, not {0}")]
    NotSuccess(StatusCode),
    #[error("{0} has no tag")]
    MissingTag(&'static str),
    #[error("the message belongs to another dialog")]
    OtherDialog,
    /// The peer's CSeq went backwards (§12.2.2): answer 500.
    #[error("CSeq {got} is lower than {last}, the peer's last")]
    OutOfOrder { got: u32, last: u32 },
    /// The dialog has ended: answer 481.
    #[error("the dialog has ended")]
    Terminated,
    #[error(transparent)]
    Header(#[from] HeaderError),
}

/// One confirmed dialog, from the UAC side ([`Dialog::uac`]) or the UAS side ([`Dialog::uas`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dialog {
    id: DialogId,
    /// Our address with our tag: From of our requests.
    local: NameAddr,
    /// The peer's address with its tag: To of our requests.
    remote: NameAddr,
    remote_target: Uri,
    route_set: Vec<NameAddr>,
    local_cseq: u32,
    remote_cseq: Option<u32>,
    /// CSeq of the INVITE whose 2xx we ACK.
    invite_cseq: u32,
    /// Our Via; its branch is replaced per request.
    local_via: Via,
    local_contact: Option<NameAddr>,
    /// The INVITE's Authorization/Proxy-Authorization, repeated in the ACK (§13.2.2.4).
    credentials: Vec<(HeaderName, String)>,
    state: DialogState,
}

impl Dialog {
    /// The dialog of an INVITE we sent and a 2xx we received. The remote target is the 2xx's
    /// Contact (the INVITE's Request-URI when a camera leaves it out); the route set is the
    /// 2xx's Record-Route, reversed; the local Via of later requests is the INVITE's.
    pub fn uac(invite: &Request, response: &Response) -> Result<Dialog, DialogError> {
        check_establishing(invite, response)?;
        let local = invite.headers.from()?;
        let local_tag = local.tag().ok_or(DialogError::MissingTag("From"))?;
        let remote = response.headers.to()?;
        let call_id = invite.headers.call_id()?;
        if response.headers.call_id()? != call_id
            || response.headers.from()?.tag() != Some(local_tag)
        {
            return Err(DialogError::OtherDialog);
        }
        let remote_target = match response.headers.contact()? {
            Some(c) => c.uri,
            None => invite.uri.clone(),
        };
        let mut route_set = record_route(&response.headers)?;
        route_set.reverse();
        let cseq = invite.headers.cseq()?.seq;
        Ok(Dialog {
            id: DialogId {
                call_id: call_id.to_owned(),
                local_tag: local_tag.to_owned(),
                remote_tag: remote.tag().unwrap_or("").to_owned(),
            },
            local_via: invite.headers.top_via()?,
            local_contact: invite.headers.contact()?,
            credentials: credentials(&invite.headers),
            local,
            remote,
            remote_target,
            route_set,
            local_cseq: cseq,
            remote_cseq: None,
            invite_cseq: cseq,
            state: DialogState::Confirmed,
        })
    }

    /// The dialog of an INVITE we received and the 2xx we answered it with (which must carry
    /// our To tag). `local_via` is the Via our requests in this dialog will carry (any branch).
    /// The remote target is the INVITE's Contact (its From URI when absent); the route set is
    /// its Record-Route in order.
    pub fn uas(
        invite: &Request,
        response: &Response,
        local_via: Via,
    ) -> Result<Dialog, DialogError> {
        check_establishing(invite, response)?;
        let local = response.headers.to()?;
        let local_tag = local.tag().ok_or(DialogError::MissingTag("To"))?;
        let remote = invite.headers.from()?;
        let call_id = invite.headers.call_id()?;
        if response.headers.call_id()? != call_id {
            return Err(DialogError::OtherDialog);
        }
        let remote_target = match invite.headers.contact()? {
            Some(c) => c.uri,
            None => remote.uri.clone(),
        };
        let cseq = invite.headers.cseq()?.seq;
        Ok(Dialog {
            id: DialogId {
                call_id: call_id.to_owned(),
                local_tag: local_tag.to_owned(),
                remote_tag: remote.tag().unwrap_or("").to_owned(),
            },
            local_via,
            local_contact: response.headers.contact()?,
            credentials: Vec::new(),
            route_set: record_route(&invite.headers)?,
            local,
            remote,
            remote_target,
            // Our first request gets CSeq 1.
            local_cseq: 0,
            remote_cseq: Some(cseq),
            invite_cseq: cseq,
            state: DialogState::Confirmed,
        })
    }

    pub fn id(&self) -> &DialogId {
        &self.id
    }

    pub fn state(&self) -> DialogState {
        self.state
    }

    pub fn is_terminated(&self) -> bool {
        self.state == DialogState::Terminated
    }

    /// Where in-dialog requests go (the peer's Contact).
    pub fn remote_target(&self) -> &Uri {
        &self.remote_target
    }

    /// The Route entries of our requests, first hop first.
    pub fn route_set(&self) -> &[NameAddr] {
        &self.route_set
    }

    /// The CSeq number of our last request.
    pub fn local_cseq(&self) -> u32 {
        self.local_cseq
    }

    /// The CSeq number of the peer's last request, if any.
    pub fn remote_cseq(&self) -> Option<u32> {
        self.remote_cseq
    }

    /// Does `msg`, received from the network, belong to this dialog?
    pub fn matches(&self, msg: &Message) -> bool {
        DialogId::of_incoming(msg).is_ok_and(|id| id == self.id)
    }

    /// The ACK for `for_2xx` (§13.2.2.4): the CSeq number of the INVITE it answers, method ACK,
    /// our Via with the fresh `branch`, to the remote target along the route set, with the
    /// INVITE's credentials. Send it outside any transaction (and again for each retransmitted
    /// 2xx).
    pub fn ack(&self, for_2xx: &Response, branch: &str) -> Request {
        let seq = for_2xx
            .headers
            .cseq()
            .map(|c| c.seq)
            .unwrap_or(self.invite_cseq);
        let mut ack = self.build(Method::Ack, seq, branch);
        for (name, value) in &self.credentials {
            ack.headers.push(name.clone(), value.clone());
        }
        ack
    }

    /// A new request in the dialog (BYE, INFO, MESSAGE, re-INVITE ...) with the next local CSeq
    /// and our Via with the fresh `branch`. Sending BYE ends the dialog (§15.1.1). An ACK is
    /// built as [`Dialog::ack`] does, without credentials and without a new CSeq.
    pub fn request(&mut self, method: Method, branch: &str) -> Request {
        if method == Method::Ack {
            return self.build(Method::Ack, self.invite_cseq, branch);
        }
        // The first CSeq is below 2^31 (§8.1.1.5), so this cannot wrap in practice.
        self.local_cseq = self.local_cseq.saturating_add(1);
        if method == Method::Invite {
            self.invite_cseq = self.local_cseq;
        }
        if method == Method::Bye {
            self.state = DialogState::Terminated;
        }
        self.build(method, self.local_cseq, branch)
    }

    /// Check a request the peer sent in this dialog and update the state (§12.2.2): its CSeq
    /// must not go backwards (ACK and CANCEL reuse the INVITE's number and are not checked); a
    /// BYE ends the dialog; a re-INVITE or UPDATE with a Contact moves the remote target.
    /// On an error answer 481 ([`DialogError::OtherDialog`], [`DialogError::Terminated`]) or
    /// 500 ([`DialogError::OutOfOrder`]).
    pub fn handle_request(&mut self, req: &Request) -> Result<(), DialogError> {
        let id = DialogId::of_headers(&req.headers, true)?;
        if id != self.id {
            return Err(DialogError::OtherDialog);
        }
        let cseq = req.headers.cseq()?;
        if matches!(req.method, Method::Ack | Method::Cancel) {
            return Ok(());
        }
        if self.state == DialogState::Terminated {
            return Err(DialogError::Terminated);
        }
        if let Some(last) = self.remote_cseq
            && cseq.seq < last
        {
            return Err(DialogError::OutOfOrder {
                got: cseq.seq,
                last,
            });
        }
        self.remote_cseq = Some(cseq.seq);
        match req.method {
            Method::Bye => self.state = DialogState::Terminated,
            Method::Invite | Method::Update => {
                if let Some(c) = req.headers.contact()? {
                    self.remote_target = c.uri;
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// A response to one of our in-dialog requests: 481 or 408 end the dialog (§12.2.1.2); a 2xx
    /// to a re-INVITE or UPDATE with a Contact moves the remote target.
    pub fn handle_response(&mut self, resp: &Response) {
        match resp.status.code() {
            481 | 408 => self.state = DialogState::Terminated,
            200..=299 => {
                let refresh = resp
                    .headers
                    .cseq()
                    .is_ok_and(|c| matches!(c.method, Method::Invite | Method::Update));
                if refresh && let Ok(Some(c)) = resp.headers.contact() {
                    self.remote_target = c.uri;
                }
            }
            _ => {}
        }
    }

    /// Request-URI and Route per §12.2.1.1: a loose first hop (`;lr`) keeps the remote target
    /// as Request-URI; a strict one becomes the Request-URI and the target goes last in Route.
    fn build(&self, method: Method, seq: u32, branch: &str) -> Request {
        let (uri, routes): (Uri, Vec<String>) = match self.route_set.split_first() {
            None => (self.remote_target.clone(), Vec::new()),
            Some((first, _)) if first.uri.params.contains("lr") => (
                self.remote_target.clone(),
                self.route_set.iter().map(|r| r.to_string()).collect(),
            ),
            Some((first, rest)) => {
                let mut routes: Vec<String> = rest.iter().map(|r| r.to_string()).collect();
                routes.push(format!("<{}>", self.remote_target));
                (first.uri.clone(), routes)
            }
        };
        let mut via = self.local_via.clone();
        via.params.set("branch", Some(branch));
        via.params.remove("received");
        if via.params.contains("rport") {
            via.params.set("rport", None);
        }
        let mut req = Request::new(method.clone(), uri);
        let h = &mut req.headers;
        h.push(HeaderName::Via, via.to_string());
        h.push(HeaderName::MaxForwards, "70");
        h.push(HeaderName::From, self.local.to_string());
        h.push(HeaderName::To, self.remote.to_string());
        h.push(HeaderName::CallId, self.id.call_id.clone());
        h.push(HeaderName::CSeq, format!("{seq} {method}"));
        for r in routes {
            h.push(HeaderName::Route, r);
        }
        let refresh = matches!(
            method,
            Method::Invite | Method::Update | Method::Subscribe | Method::Notify | Method::Refer
        );
        if refresh && let Some(c) = &self.local_contact {
            h.push(HeaderName::Contact, c.to_string());
        }
        req
    }
}

fn check_establishing(invite: &Request, response: &Response) -> Result<(), DialogError> {
    if invite.method != Method::Invite {
        return Err(DialogError::NotInvite(invite.method.clone()));
    }
    if !response.status.is_success() {
        return Err(DialogError::NotSuccess(response.status));
    }
    Ok(())
}

/// Every Record-Route entry in order (comma lists and repeated lines flattened).
fn record_route(headers: &Headers) -> Result<Vec<NameAddr>, HeaderError> {
    let mut out = Vec::new();
    for line in headers.get_all(HeaderName::RecordRoute) {
        for part in split_list(line) {
            out.push(NameAddr::parse(part)?);
        }
    }
    Ok(out)
}

fn credentials(headers: &Headers) -> Vec<(HeaderName, String)> {
    headers
        .iter()
        .filter(|h| {
            matches!(
                h.name,
                HeaderName::Authorization | HeaderName::ProxyAuthorization
            )
        })
        .map(|h| (h.name.clone(), h.value.to_string()))
        .collect()
}
