//! Live view calls of a simulated device (sans-IO, part of [`Device`]): an INVITE to one of
//! its channels gets an SDP answer once the driver has opened the media side, a 200 OK that
//! is retransmitted over UDP until the ACK, and media starts on the ACK. BYE (either side)
//! ends the call; unplugging drops every call silently.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use bytes::Bytes;
use rand::Rng;
use vigil_gb::DeviceId;
use vigil_gb::sdp::{Answer, MediaTransport, PT_H264, RtpMap, Sdp};
use vigil_sip::header::Via;
use vigil_sip::{Dialog, Method, Request, Response, ids};

use super::{Device, Event, Output, T1, T2, TIMER_F, TxKind, USER_AGENT};

/// Calls one device keeps at once; more INVITEs get 486.
const MAX_CALLS: usize = 64;

/// How a device answers INVITE.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum InviteAnswer {
    /// SDP answer and a stream (PS over RTP, or raw H.264 when asked).
    #[default]
    Stream,
    /// A final refusal with this status (e.g. 486 Busy Here).
    Refuse(u16),
    /// No answer at all (the platform's INVITE times out).
    Ignore,
}

/// What the driver needs to open the media side of a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaRequest {
    pub call: u64,
    pub channel: DeviceId,
    /// The offer's transport, from the platform's side: `Udp` (send datagrams to `remote`),
    /// `TcpPassive` (the platform listens at `remote`: connect to it), `TcpActive` (the
    /// platform connects: listen).
    pub transport: MediaTransport,
    /// The offer's media address.
    pub remote: SocketAddr,
    /// The offer's `y=`.
    pub ssrc: Option<u32>,
}

/// Where a call is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CallState {
    /// Waiting for the driver to open the media side.
    Opening,
    /// 200 OK sent, waiting for the ACK.
    Answered,
    /// ACKed: media flows.
    Confirmed,
}

#[derive(Debug)]
pub(super) struct Call {
    id: u64,
    channel: DeviceId,
    /// The INVITE's top Via branch, to recognise its retransmissions.
    branch: String,
    invite: Request,
    offer: Sdp,
    /// Where responses go.
    to: SocketAddr,
    to_tag: String,
    state: CallState,
    ok: Option<Bytes>,
    dialog: Option<Dialog>,
    /// 200 OK retransmission (UDP) until the ACK, and the give-up time (64·T1).
    retransmit_at: Option<Instant>,
    interval: Duration,
    ack_deadline: Option<Instant>,
    /// An ACK was ignored on purpose ([`super::Profile::ignore_first_ack`]).
    ack_ignored: bool,
}

impl Device {
    /// An INVITE (not a retransmission of one we know).
    pub(super) fn on_invite(
        &mut self,
        now: Instant,
        req: &Request,
        to: SocketAddr,
        from: SocketAddr,
        branch: String,
    ) {
        if let Some(c) = self
            .calls
            .iter()
            .find(|c| !branch.is_empty() && c.branch == branch)
        {
            // A retransmission: the 200 again once we have one (UDP retransmits it anyway).
            if let Some(ok) = c.ok.clone() {
                let to = c.to;
                self.out.push_back(Output::Transmit { to, bytes: ok });
            }
            return;
        }
        let channel = req
            .uri
            .user
            .as_deref()
            .and_then(|u| u.parse::<DeviceId>().ok())
            .filter(|id| self.owns(id));
        let Some(channel) = channel else {
            return self.respond(now, req, 404, "No such channel", to, branch);
        };
        self.event(Event::InviteReceived { channel });
        match self.profile.invite {
            InviteAnswer::Stream => {}
            InviteAnswer::Refuse(code) => {
                self.event(Event::InviteAnswered {
                    channel,
                    status: code,
                });
                return self.respond(now, req, code, "", to, branch);
            }
            InviteAnswer::Ignore => return,
        }
        let offer = match Sdp::parse_bytes(&req.body) {
            Ok(o) if o.video().is_some() => o,
            _ => {
                self.event(Event::InviteAnswered {
                    channel,
                    status: 488,
                });
                return self.respond(now, req, 488, "No usable SDP offer", to, branch);
            }
        };
        if self.calls.len() >= MAX_CALLS {
            self.event(Event::InviteAnswered {
                channel,
                status: 486,
            });
            return self.respond(now, req, 486, "Too many streams", to, branch);
        }
        let video = offer.video().map(|m| m.port).unwrap_or(0);
        let ip = offer
            .video_address()
            .and_then(|a| a.parse::<IpAddr>().ok())
            .filter(|ip| !ip.is_unspecified())
            .unwrap_or(from.ip());
        self.next_call += 1;
        let id = self.next_call;
        let media = MediaRequest {
            call: id,
            channel,
            transport: offer.video_transport().unwrap_or(MediaTransport::Udp),
            remote: SocketAddr::new(ip, video),
            ssrc: offer.ssrc().map(|s| s.value()),
        };
        let to_tag = ids::new_tag(self.rng.random::<u64>());
        self.calls.push(Call {
            id,
            channel,
            branch,
            invite: req.clone(),
            offer,
            to,
            to_tag,
            state: CallState::Opening,
            ok: None,
            dialog: None,
            retransmit_at: None,
            interval: T1,
            ack_deadline: None,
            ack_ignored: false,
        });
        self.out.push_back(Output::OpenMedia(media));
    }

    /// The driver opened the media side of `call`: `local` is the address to answer with
    /// (where we listen for TCP active, send from for UDP), or why it failed.
    pub fn media_opened(&mut self, now: Instant, call: u64, local: Result<SocketAddr, String>) {
        let Some(pos) = self.calls.iter().position(|c| c.id == call) else {
            return;
        };
        if self.calls[pos].state != CallState::Opening {
            return;
        }
        let local = match local {
            Ok(a) => a,
            Err(why) => {
                let c = self.calls.remove(pos);
                tracing::debug!(channel = %c.channel, %why, "simulator could not open media");
                self.event(Event::InviteAnswered {
                    channel: c.channel,
                    status: 500,
                });
                return self.respond(now, &c.invite, 500, "Media unavailable", c.to, c.branch);
            }
        };
        let udp = self.profile.transport == super::SimTransport::Udp;
        let via_branch = ids::new_branch(self.rng.random::<u64>());
        let via = Via::parse(&self.via(&via_branch)).ok();
        let contact_host = self.local;
        let raw = self.profile.raw_h264;
        let c = &mut self.calls[pos];
        let mut answer = Answer::for_offer(&c.offer, c.channel, local.ip(), local.port());
        if raw {
            answer.rtpmap = RtpMap::video(PT_H264, "H264");
        }
        let mut ok = Response::for_request(&c.invite, 200, "OK").with_to_tag(&c.to_tag);
        ok.headers
            .push("Contact", format!("<sip:{}@{contact_host}>", c.channel));
        ok.headers.push("User-Agent", USER_AGENT);
        ok.set_body("APPLICATION/SDP", answer.to_sdp().to_string());
        c.dialog = via.and_then(|v| Dialog::uas(&c.invite, &ok, v).ok());
        let bytes = Bytes::from(ok.to_bytes());
        c.ok = Some(bytes.clone());
        c.state = CallState::Answered;
        c.interval = T1;
        c.retransmit_at = udp.then(|| now + T1);
        c.ack_deadline = Some(now + TIMER_F);
        let (to, channel) = (c.to, c.channel);
        self.out.push_back(Output::Transmit { to, bytes });
        self.event(Event::InviteAnswered {
            channel,
            status: 200,
        });
    }

    /// The ACK for one of our 2xx: media starts.
    pub(super) fn on_ack(&mut self, req: &Request) {
        let Some(c) = self.call_of(req) else {
            return;
        };
        let ignore = self.profile.ignore_first_ack;
        let c = &mut self.calls[c];
        if c.state != CallState::Answered {
            return;
        }
        if ignore && !c.ack_ignored {
            c.ack_ignored = true;
            return;
        }
        c.state = CallState::Confirmed;
        c.retransmit_at = None;
        c.ack_deadline = None;
        let (call, channel) = (c.id, c.channel);
        self.out.push_back(Output::StartMedia { call });
        self.event(Event::AckReceived { channel });
    }

    /// The platform's BYE: 200, media stops.
    pub(super) fn on_bye(&mut self, now: Instant, req: &Request, to: SocketAddr, branch: String) {
        let Some(pos) = self.call_of(req) else {
            return self.respond(now, req, 481, "", to, branch);
        };
        let c = self.calls.remove(pos);
        self.out.push_back(Output::StopMedia { call: c.id });
        self.event(Event::ByeReceived { channel: c.channel });
        self.respond(now, req, 200, "", to, branch);
    }

    /// The device hangs up the calls of `channel` (all calls with `None`): BYE, media stops.
    pub fn hangup(&mut self, now: Instant, channel: Option<DeviceId>) {
        let mut i = 0;
        while i < self.calls.len() {
            if channel.is_some_and(|ch| self.calls[i].channel != ch)
                || self.calls[i].state == CallState::Opening
            {
                i += 1;
                continue;
            }
            let c = self.calls.remove(i);
            self.end_call(now, c);
        }
    }

    /// The media side of `call` failed (a TCP connection could not be made or closed): the
    /// device hangs up, as cameras do.
    pub fn media_failed(&mut self, now: Instant, call: u64) {
        if let Some(pos) = self.calls.iter().position(|c| c.id == call) {
            let c = self.calls.remove(pos);
            self.end_call(now, c);
        }
    }

    /// `IFameCmd` for `target` (a channel, or the device for all its channels): each of its
    /// streams sends a key frame next.
    pub(super) fn key_frame_request(&mut self, target: &DeviceId) {
        for c in &self.calls {
            if c.state != CallState::Opening && (c.channel == *target || *target == self.id) {
                self.out.push_back(Output::KeyFrame { call: c.id });
            }
        }
    }

    /// Streams that have started and not ended (for tests of the machine).
    pub fn active_calls(&self) -> usize {
        self.calls
            .iter()
            .filter(|c| c.state == CallState::Confirmed)
            .count()
    }

    fn end_call(&mut self, now: Instant, c: Call) {
        self.out.push_back(Output::StopMedia { call: c.id });
        let Some(mut dialog) = c.dialog else {
            return;
        };
        let branch = ids::new_branch(self.rng.random::<u64>());
        let bye = dialog.request(Method::Bye, &branch);
        self.event(Event::ByeSent { channel: c.channel });
        self.start_tx(now, TxKind::Bye, branch, bye.to_bytes());
    }

    /// Every call goes, without a word (unplugged).
    pub(super) fn drop_calls(&mut self) {
        for c in std::mem::take(&mut self.calls) {
            self.out.push_back(Output::StopMedia { call: c.id });
        }
    }

    /// 200 OK retransmissions until the ACK; no ACK within 64·T1 ends the call with BYE
    /// (RFC 3261 §13.3.1.4).
    pub(super) fn call_timers(&mut self, now: Instant) {
        let mut i = 0;
        while i < self.calls.len() {
            let c = &mut self.calls[i];
            if c.ack_deadline.is_some_and(|t| t <= now) {
                let c = self.calls.remove(i);
                self.end_call(now, c);
                continue;
            }
            if let Some(at) = c.retransmit_at
                && at <= now
                && let Some(ok) = c.ok.clone()
            {
                c.interval = (c.interval * 2).min(T2);
                c.retransmit_at = Some(now + c.interval);
                let to = c.to;
                self.out.push_back(Output::Transmit { to, bytes: ok });
            }
            i += 1;
        }
    }

    pub(super) fn call_timeout(&self) -> Option<Instant> {
        self.calls
            .iter()
            .flat_map(|c| [c.retransmit_at, c.ack_deadline])
            .flatten()
            .min()
    }

    /// The call a request from the platform names (Call-ID, its From tag, our To tag).
    fn call_of(&self, req: &Request) -> Option<usize> {
        let call_id = req.headers.call_id().ok()?;
        let to_tag = req.headers.to().ok()?.tag().map(str::to_owned);
        self.calls.iter().position(|c| {
            c.invite.headers.call_id().ok() == Some(call_id)
                && to_tag.as_deref() == Some(c.to_tag.as_str())
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use vigil_gb::Charset;
    use vigil_gb::sdp::{Offer, Ssrc, StreamKind};
    use vigil_sip::{Message, Uri};

    use super::super::{DeviceSetup, Profile, SimTransport};
    use super::*;
    use crate::sim::plan::IdPlan;

    const PLATFORM: &str = "127.0.0.1:5060";

    fn device(invite: InviteAnswer) -> (Device, DeviceId) {
        let mut p = Profile::new(
            PLATFORM.parse().unwrap(),
            "34020000002000000001",
            "3402000000",
            SimTransport::Udp,
            Duration::from_secs(60),
            3600,
            Charset::Gb2312,
            1,
            Duration::from_secs(10),
        )
        .unwrap();
        p.invite = invite;
        let plan = IdPlan::new("3402000000132", 1, 1, 2).unwrap();
        let setup = DeviceSetup {
            id: plan.device(0),
            channels: vec![plan.channel(0, 0), plan.channel(0, 1)],
            password: "12345678".into(),
            local: "127.0.0.1:40000".parse().unwrap(),
            seed: 1,
        };
        (Device::new(Arc::new(p), setup), plan.channel(0, 0))
    }

    fn invite(channel: &DeviceId, transport: MediaTransport) -> Request {
        let ssrc = Ssrc::new(StreamKind::Live, "3402000000", 7).unwrap();
        let offer = Offer::play(
            "34020000002000000001".parse().unwrap(),
            "127.0.0.1".parse().unwrap(),
            30_000,
            transport,
            ssrc,
        );
        let uri = Uri::parse(&format!("sip:{channel}@127.0.0.1:40000")).unwrap();
        let mut r = Request::new(Method::Invite, uri);
        r.headers
            .push("Via", "SIP/2.0/UDP 127.0.0.1:5060;rport;branch=z9hG4bKinv1");
        r.headers
            .push("From", "<sip:34020000002000000001@3402000000>;tag=plat");
        r.headers.push("To", format!("<sip:{channel}@3402000000>"));
        r.headers.push("Call-ID", "call-1");
        r.headers.push("CSeq", "1 INVITE");
        r.headers
            .push("Contact", "<sip:34020000002000000001@127.0.0.1:5060>");
        r.set_body("APPLICATION/SDP", offer.to_sdp().to_string());
        r
    }

    /// Transmitted messages and other outputs.
    fn drain(d: &mut Device) -> (Vec<Message>, Vec<Output>) {
        let (mut sent, mut other) = (Vec::new(), Vec::new());
        while let Some(o) = d.poll_output() {
            match o {
                Output::Transmit { bytes, .. } => sent.push(vigil_sip::parse(&bytes).unwrap()),
                Output::Event(_) => {}
                o => other.push(o),
            }
        }
        (sent, other)
    }

    fn response(m: &Message) -> &Response {
        match m {
            Message::Response(r) => r,
            Message::Request(r) => panic!("expected a response, got {}", r.method.as_str()),
        }
    }

    fn from() -> SocketAddr {
        PLATFORM.parse().unwrap()
    }

    /// INVITE → OpenMedia → 200 OK with the answer; returns the 200.
    fn answered(d: &mut Device, ch: &DeviceId, t: MediaTransport, now: Instant) -> Response {
        let inv = invite(ch, t);
        d.handle_message(now, 0, Message::Request(inv), from());
        let (sent, other) = drain(d);
        assert!(
            sent.is_empty(),
            "nothing is answered before the media side is open"
        );
        let [Output::OpenMedia(req)] = &other[..] else {
            panic!("{other:?}")
        };
        assert_eq!(req.channel, *ch);
        assert_eq!(req.transport, t);
        assert_eq!(req.remote, "127.0.0.1:30000".parse().unwrap());
        assert_eq!(req.ssrc, Some(200_000_007));
        d.media_opened(now, req.call, Ok("127.0.0.1:41000".parse().unwrap()));
        let (sent, _) = drain(d);
        assert_eq!(sent.len(), 1);
        response(&sent[0]).clone()
    }

    fn ack_for(ok: &Response) -> Request {
        let mut ack = Request::new(
            Method::Ack,
            ok.headers.contact().unwrap().unwrap().uri.clone(),
        );
        ack.headers
            .push("Via", "SIP/2.0/UDP 127.0.0.1:5060;rport;branch=z9hG4bKack1");
        ack.headers
            .push("From", ok.headers.get("From").unwrap().to_owned());
        ack.headers
            .push("To", ok.headers.get("To").unwrap().to_owned());
        ack.headers.push("Call-ID", "call-1");
        ack.headers.push("CSeq", "1 ACK");
        ack
    }

    #[test]
    fn invite_is_answered_with_sdp_retransmitted_until_ack_and_media_starts_on_ack() {
        let (mut d, ch) = device(InviteAnswer::Stream);
        let t0 = Instant::now();
        let ok = answered(&mut d, &ch, MediaTransport::Udp, t0);
        assert_eq!(ok.status.code(), 200);
        assert!(ok.headers.to().unwrap().tag().is_some());
        let sdp = Sdp::parse_bytes(&ok.body).unwrap();
        assert_eq!(sdp.ssrc().map(|s| s.value()), Some(200_000_007));
        assert_eq!(sdp.video().unwrap().port, 41_000);
        assert_eq!(sdp.video_address(), Some("127.0.0.1"));
        // No ACK yet: the 200 is sent again after T1, then 2·T1.
        d.handle_timeout(t0 + T1);
        assert_eq!(drain(&mut d).0.len(), 1);
        assert_eq!(d.poll_timeout(), Some(t0 + T1 + 2 * T1));
        d.handle_message(t0 + T1, 0, Message::Request(ack_for(&ok)), from());
        let (sent, other) = drain(&mut d);
        assert!(sent.is_empty());
        assert!(
            matches!(other[..], [Output::StartMedia { .. }]),
            "{other:?}"
        );
        assert_eq!(d.active_calls(), 1);
        d.handle_timeout(t0 + 10 * T1);
        assert!(
            drain(&mut d).0.is_empty(),
            "no retransmission after the ACK"
        );
    }

    #[test]
    fn platform_bye_is_answered_and_stops_media() {
        let (mut d, ch) = device(InviteAnswer::Stream);
        let now = Instant::now();
        let ok = answered(&mut d, &ch, MediaTransport::TcpActive, now);
        d.handle_message(now, 0, Message::Request(ack_for(&ok)), from());
        drain(&mut d);
        let mut bye = ack_for(&ok);
        bye.method = Method::Bye;
        bye.headers.remove("Via");
        bye.headers.remove("CSeq");
        bye.headers
            .push("Via", "SIP/2.0/UDP 127.0.0.1:5060;rport;branch=z9hG4bKbye1");
        bye.headers.push("CSeq", "2 BYE");
        d.handle_message(now, 0, Message::Request(bye.clone()), from());
        let (sent, other) = drain(&mut d);
        assert_eq!(response(&sent[0]).status.code(), 200);
        assert!(matches!(other[..], [Output::StopMedia { .. }]), "{other:?}");
        assert_eq!(d.active_calls(), 0);
        // A BYE for a call that is gone: 481 (here: the retransmission gets the cached 200).
        bye.headers.remove("Via");
        bye.headers
            .push("Via", "SIP/2.0/UDP 127.0.0.1:5060;rport;branch=z9hG4bKbye2");
        d.handle_message(now, 0, Message::Request(bye), from());
        assert_eq!(response(&drain(&mut d).0[0]).status.code(), 481);
    }

    #[test]
    fn hangup_sends_bye_in_the_dialog() {
        let (mut d, ch) = device(InviteAnswer::Stream);
        let now = Instant::now();
        let ok = answered(&mut d, &ch, MediaTransport::Udp, now);
        d.handle_message(now, 0, Message::Request(ack_for(&ok)), from());
        drain(&mut d);
        d.hangup(now, Some(ch));
        let (sent, other) = drain(&mut d);
        let Message::Request(bye) = &sent[0] else {
            panic!("{sent:?}")
        };
        assert_eq!(bye.method, Method::Bye);
        assert_eq!(bye.headers.call_id().unwrap(), "call-1");
        assert_eq!(
            bye.headers.from().unwrap().tag(),
            ok.headers.to().unwrap().tag()
        );
        assert_eq!(bye.headers.to().unwrap().tag(), Some("plat"));
        assert_eq!(
            bye.uri.to_string(),
            "sip:34020000002000000001@127.0.0.1:5060"
        );
        assert!(matches!(other[..], [Output::StopMedia { .. }]), "{other:?}");
    }

    #[test]
    fn refusals_and_unknown_channels() {
        let (mut d, ch) = device(InviteAnswer::Refuse(486));
        let now = Instant::now();
        d.handle_message(
            now,
            0,
            Message::Request(invite(&ch, MediaTransport::Udp)),
            from(),
        );
        assert_eq!(response(&drain(&mut d).0[0]).status.code(), 486);

        let (mut d, _) = device(InviteAnswer::Stream);
        let other: DeviceId = "34020000001310009999".parse().unwrap();
        d.handle_message(
            now,
            0,
            Message::Request(invite(&other, MediaTransport::Udp)),
            from(),
        );
        assert_eq!(response(&drain(&mut d).0[0]).status.code(), 404);

        let (mut d, ch) = device(InviteAnswer::Ignore);
        d.handle_message(
            now,
            0,
            Message::Request(invite(&ch, MediaTransport::Udp)),
            from(),
        );
        assert!(drain(&mut d).0.is_empty());
    }

    #[test]
    fn no_ack_ends_the_call_with_bye() {
        let (mut d, ch) = device(InviteAnswer::Stream);
        let t0 = Instant::now();
        answered(&mut d, &ch, MediaTransport::Udp, t0);
        d.handle_timeout(t0 + TIMER_F);
        let (sent, other) = drain(&mut d);
        assert!(
            sent.iter()
                .any(|m| matches!(m, Message::Request(r) if r.method == Method::Bye))
        );
        assert!(matches!(other[..], [Output::StopMedia { .. }]), "{other:?}");
    }
}
