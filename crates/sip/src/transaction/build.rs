//! Requests a transaction derives from another: the ACK for a non-2xx final response
//! (§17.1.1.3) and CANCEL (§9.1). Both reuse the INVITE's top Via, so they carry its branch.

use crate::error::HeaderError;
use crate::header::HeaderName;
use crate::message::{Request, Response};
use crate::method::Method;

/// ACK for a 300-699 response to `invite`: same Request-URI, Call-ID, From, CSeq number, top Via
/// and Route as the INVITE, To (with tag) from the response.
pub(super) fn ack_for_non_2xx(invite: &Request, resp: &Response) -> Result<Request, HeaderError> {
    let cseq = invite.headers.cseq()?;
    let mut ack = Request::new(Method::Ack, invite.uri.clone());
    ack.headers
        .push(HeaderName::Via, invite.headers.top_via()?.to_string());
    ack.headers.push(HeaderName::MaxForwards, "70");
    copy(&mut ack, &invite.headers, HeaderName::From);
    copy(&mut ack, &resp.headers, HeaderName::To);
    copy(&mut ack, &invite.headers, HeaderName::CallId);
    ack.headers
        .push(HeaderName::CSeq, format!("{} ACK", cseq.seq));
    copy(&mut ack, &invite.headers, HeaderName::Route);
    Ok(ack)
}

/// The CANCEL for a pending `invite` we sent (RFC 3261 §9.1): same Request-URI, Call-ID, From,
/// To, CSeq number, top Via (hence branch) and Route. Send it with
/// [`super::TransactionLayer::send_request`] once the INVITE got a provisional response.
pub fn cancel_for(invite: &Request) -> Result<Request, HeaderError> {
    let cseq = invite.headers.cseq()?;
    let mut cancel = Request::new(Method::Cancel, invite.uri.clone());
    cancel
        .headers
        .push(HeaderName::Via, invite.headers.top_via()?.to_string());
    cancel.headers.push(HeaderName::MaxForwards, "70");
    copy(&mut cancel, &invite.headers, HeaderName::From);
    copy(&mut cancel, &invite.headers, HeaderName::To);
    copy(&mut cancel, &invite.headers, HeaderName::CallId);
    cancel
        .headers
        .push(HeaderName::CSeq, format!("{} CANCEL", cseq.seq));
    copy(&mut cancel, &invite.headers, HeaderName::Route);
    Ok(cancel)
}

/// Append every `name` line of `from` to `to`.
fn copy(to: &mut Request, from: &crate::Headers, name: HeaderName) {
    for v in from.get_all(&name) {
        to.headers.push(name.clone(), v.to_owned());
    }
}
