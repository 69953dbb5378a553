//! One live session's task: INVITE through the device's route, ACK (again for every
//! retransmitted 2xx), the RTP ingest from the answer, and the end: BYE on stop, idle or
//! RTP loss; 200 to the device's BYE.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;
use vigil_gb::manscdp::DeviceControl;
use vigil_gb::sdp::{MediaTransport, Offer, Sdp, Ssrc};
use vigil_gb::{Charset, DeviceId, Manscdp};
use vigil_sip::header::NameAddr;
use vigil_sip::{Dialog, DialogError, Method, Request, Response, Uri};

use super::plan::{self, IngestPlan};
use super::{Inner, LiveError, Phase, route_ip, transport_name};
use crate::config::RtpTransport;
use crate::platform::endpoint::{InboundRequest, RequestError};
use crate::platform::events::{EventKind, LiveStopReason};
use crate::platform::media::{EndReason, Hub, IngestConfig, IngestHandle, IngestSession, RtpPort};
use crate::platform::registry::DeviceRoute;
use crate::platform::unix_ms;
use crate::transport::Peer;

/// How long a BYE may take to be answered before the session gives up on it.
const BYE_WAIT: Duration = Duration::from_secs(2);
/// How long a session whose start failed still waits for a late 2xx to hang it up.
const LATE_ANSWER_WAIT: Duration = Duration::from_secs(32);

/// What the session is told.
#[derive(Debug)]
pub(super) enum SessionCmd {
    /// End with a BYE; `done` fires when the BYE is answered (or given up on).
    Stop {
        reason: LiveStopReason,
        done: oneshot::Sender<()>,
    },
    /// The device's BYE for this session's dialog.
    DeviceBye(Box<InboundRequest>),
}

pub(super) struct Session {
    pub id: String,
    pub channel: DeviceId,
    pub device: DeviceId,
    pub transport: RtpTransport,
    pub ssrc: Ssrc,
    pub route: DeviceRoute,
    pub port: Option<RtpPort>,
    pub hub: Hub,
    pub inner: Arc<Inner>,
    pub phase: watch::Sender<Phase>,
    pub cmds: mpsc::Receiver<SessionCmd>,
    /// The SSRC went back to the pool (the session is over).
    pub released: bool,
}

impl Drop for Session {
    /// A session task that ends without cleaning up (a panic) must not leave its entry
    /// and SSRC behind; waiters see the phase sender go.
    fn drop(&mut self) {
        if !self.released {
            self.inner.remove(&self.id);
            self.hub.close();
            self.inner.release_ssrc(self.ssrc);
        }
    }
}

/// How the session ended, for the event and the BYE.
struct End {
    reason: LiveStopReason,
    detail: Option<String>,
    /// Send BYE (not when the device hung up).
    bye: bool,
    done: Option<oneshot::Sender<()>>,
}

/// The established call.
struct Call {
    dialog: Dialog,
    ack: Request,
    peer: Peer,
    retransmits: mpsc::Receiver<Response>,
}

impl Session {
    pub async fn run(mut self) {
        let started = Instant::now();
        let deadline = started + self.inner.config.media.invite_timeout;
        let (mut call, ingest) = match self.establish(deadline).await {
            Ok(x) => x,
            Err((error, call)) => {
                self.failed(&error);
                if let Some(mut call) = call {
                    let _ = self.bye(&mut call).await;
                }
                self.release();
                return;
            }
        };
        let playing_since = unix_ms();
        {
            let mut t = self.inner.lock();
            if let Some(e) = t.sessions.get_mut(&self.id) {
                e.playing_since = Some(playing_since);
            }
        }
        self.phase.send_replace(Phase::Playing);
        let stats = ingest.stats();
        tracing::info!(
            session = %self.id,
            channel = %self.channel,
            transport = transport_name(&stats.transport),
            ms = started.elapsed().as_millis() as u64,
            "live session playing"
        );
        self.inner.events.publish(
            playing_since,
            EventKind::LiveStarted {
                session_id: self.id.clone(),
                channel_id: self.channel.to_string(),
                device_id: self.device.to_string(),
                transport: transport_name(&stats.transport).to_owned(),
                ssrc: self.ssrc.to_string(),
            },
        );
        let end = self.play(&mut call, &ingest).await;
        ingest.stop();
        self.hub.close();
        self.inner.remove(&self.id);
        self.phase.send_replace(Phase::Ended);
        tracing::info!(session = %self.id, channel = %self.channel, reason = ?end.reason, detail = end.detail.as_deref().unwrap_or(""), "live session ended");
        self.inner.events.publish(
            unix_ms(),
            EventKind::LiveStopped {
                session_id: self.id.clone(),
                channel_id: self.channel.to_string(),
                device_id: self.device.to_string(),
                reason: end.reason,
                detail: end.detail,
            },
        );
        if end.bye {
            let _ = self.bye(&mut call).await;
        }
        if let Some(done) = end.done {
            let _ = done.send(());
        }
        self.release();
    }

    /// INVITE, 2xx, ACK, ingest, first key frame, all by `deadline`. On failure, the call to
    /// hang up if one was established.
    async fn establish(
        &mut self,
        deadline: Instant,
    ) -> Result<(Call, Arc<IngestHandle>), (LiveError, Option<Call>)> {
        let (invite, peer, offered) = self.invite_request().map_err(|e| (e, None))?;
        let (retx_tx, retransmits) = mpsc::channel(8);
        let endpoint = self.inner.endpoint.clone();
        let mut sent: LateAnswer = {
            let (endpoint, invite) = (endpoint.clone(), invite.clone());
            Box::pin(async move { endpoint.invite(invite, peer, retx_tx).await })
        };
        let answer = loop {
            tokio::select! {
                r = &mut sent => break r,
                _ = tokio::time::sleep_until(deadline) => {
                    hang_up_late(self.inner.clone(), sent, invite, peer);
                    return Err((LiveError::Timeout(self.inner.config.media.invite_timeout), None));
                }
                cmd = self.cmds.recv() => match cmd {
                    Some(SessionCmd::Stop { reason, done }) => {
                        hang_up_late(self.inner.clone(), sent, invite, peer);
                        let _ = done.send(());
                        return Err((stop_error(reason), None));
                    }
                    // No dialog yet, so no BYE can name it.
                    Some(SessionCmd::DeviceBye(inb)) => reject_bye(*inb).await,
                    None => {}
                },
            }
        };
        let ok = match answer {
            Ok(r) if r.status.is_success() => r,
            Ok(r) => {
                return Err((
                    LiveError::Refused {
                        status: r.status.code(),
                        reason: r.reason.to_string(),
                    },
                    None,
                ));
            }
            Err(RequestError::Timeout) => {
                return Err((
                    LiveError::Timeout(self.inner.config.media.invite_timeout),
                    None,
                ));
            }
            Err(RequestError::Closed) => return Err((LiveError::ShuttingDown, None)),
            Err(e) => return Err((LiveError::Unreachable(e.to_string()), None)),
        };
        let dialog = Dialog::uac(&invite, &ok)
            .map_err(|e| (LiveError::BadAnswer(format!("200 OK: {e}")), None))?;
        let ack = dialog.ack(&ok, &new_branch());
        endpoint.send_stateless(peer, ack.clone()).await;
        {
            let mut t = self.inner.lock();
            t.by_dialog.insert(dialog.id().clone(), self.id.clone());
        }
        let mut call = Call {
            dialog,
            ack,
            peer,
            retransmits,
        };
        let device_ip = self.route.peer.remote.ip();
        let (plan, answer_ip) = match Sdp::parse_bytes(&ok.body)
            .map_err(|e| e.to_string())
            .and_then(|sdp| {
                let ip = sdp.video_address().and_then(|a| a.parse::<IpAddr>().ok());
                plan::plan(offered, &sdp, device_ip).map(|p| (p, ip))
            }) {
            Ok(p) => p,
            Err(e) => return Err((LiveError::BadAnswer(e), Some(call))),
        };
        // TCP passive: the device connects from its SIP address or the one it answered.
        let peers = std::iter::once(device_ip)
            .chain(answer_ip.filter(|ip| !ip.is_unspecified()))
            .collect::<Vec<_>>();
        let ingest = match self.start_ingest(&plan, &peers) {
            Ok(i) => Arc::new(i),
            Err(e) => return Err((e, Some(call))),
        };
        {
            let mut t = self.inner.lock();
            if let Some(e) = t.sessions.get_mut(&self.id) {
                e.ingest = Some(ingest.clone());
            }
        }
        let first = ingest.first_keyframe();
        tokio::pin!(first);
        let wanted = ingest.key_frame_wanted();
        tokio::pin!(wanted);
        let mut ask_key_frame = self.inner.config.media.request_key_frame;
        loop {
            tokio::select! {
                // The stream started mid-GOP: ask for a key frame rather than wait for the
                // next one (up to a GOP, seconds on some cameras).
                () = &mut wanted, if ask_key_frame => {
                    ask_key_frame = false;
                    self.request_key_frame(call.peer);
                }
                r = &mut first => match r {
                    Ok(()) => return Ok((call, ingest)),
                    Err(reason) => {
                        return Err((LiveError::StreamFailed(reason.to_string()), Some(call)));
                    }
                },
                _ = tokio::time::sleep_until(deadline) => {
                    ingest.stop();
                    return Err((LiveError::Timeout(self.inner.config.media.invite_timeout), Some(call)));
                }
                Some(_) = call.retransmits.recv() => self.reack(&call).await,
                cmd = self.cmds.recv() => match cmd {
                    Some(SessionCmd::Stop { reason, done }) => {
                        ingest.stop();
                        let _ = self.bye(&mut call).await;
                        let _ = done.send(());
                        return Err((stop_error(reason), None));
                    }
                    Some(SessionCmd::DeviceBye(inb)) => {
                        ingest.stop();
                        answer_bye(&mut call.dialog, *inb).await;
                        return Err((LiveError::StreamFailed("the device hung up (BYE)".into()), None));
                    }
                    None => {}
                },
            }
        }
    }

    /// The INVITE for this session, the peer to send it to and the transport offered.
    fn invite_request(&mut self) -> Result<(Request, Peer, MediaTransport), LiveError> {
        let cfg = &self.inner.config;
        let mut peer = self.route.peer;
        if peer.local.ip().is_unspecified()
            && let Some(ip) = route_ip(peer.remote)
        {
            // Listening on a wildcard address: put the address that reaches the device
            // into Via and Contact.
            peer.local = SocketAddr::new(ip, peer.local.port());
        }
        let media_ip = match cfg.media.ip.trim() {
            "" => peer.local.ip(),
            ip => ip.parse::<IpAddr>().unwrap_or_else(|_| {
                tracing::warn!(
                    media_ip = ip,
                    "media.ip is not an IP address; using the SIP address"
                );
                peer.local.ip()
            }),
        };
        let server: DeviceId = cfg
            .sip
            .server_id
            .parse()
            .map_err(|_| LiveError::Internal("sip.server_id is not a GB ID".into()))?;
        let port = self
            .port
            .as_ref()
            .map(RtpPort::port)
            .ok_or_else(|| LiveError::Internal("RTP port already used".into()))?;
        let offered: MediaTransport = self.transport.into();
        let offer = Offer::play(server, media_ip, port, offered, self.ssrc);
        // Request-URI: the channel at the device's registered contact (its host and port);
        // the request itself goes to where the device registered from (NAT).
        let contact = NameAddr::parse(&self.route.contact).ok().map(|c| c.uri);
        let hostport = match &contact {
            Some(u) => match u.port {
                Some(p) => format!("{}:{p}", u.host),
                None => u.host.to_string(),
            },
            None => self.route.peer.remote.to_string(),
        };
        let uri = Uri::parse(&format!("sip:{}@{hostport}", self.channel))
            .or_else(|_| Uri::parse(&format!("sip:{}@{}", self.channel, peer.remote)))
            .map_err(|e| LiveError::Internal(format!("Request-URI: {}", e.why)))?;
        let endpoint = &self.inner.endpoint;
        let mut req = endpoint.new_request(Method::Invite, uri, &self.channel, &peer);
        req.headers.push("Contact", endpoint.contact(&peer));
        req.headers.push(
            "Subject",
            format!("{}:{},{}:0", self.channel, self.ssrc, cfg.sip.server_id),
        );
        req.set_body("APPLICATION/SDP", offer.to_sdp().to_string());
        Ok((req, peer, offered))
    }

    /// `IFameCmd` (sic, as the standard spells it) to the channel: a MESSAGE to the device
    /// over the call's route, in the background; a device that ignores or refuses it just
    /// delivers its next key frame in its own time.
    fn request_key_frame(&self, peer: Peer) {
        let endpoint = self.inner.endpoint.clone();
        let (device, channel, session) = (self.device, self.channel, self.id.clone());
        let hostport = NameAddr::parse(&self.route.contact)
            .ok()
            .and_then(|c| {
                let u = c.uri;
                (u.user.as_deref() == Some(device.as_str())).then(|| match u.port {
                    Some(p) => format!("{}:{p}", u.host),
                    None => u.host.to_string(),
                })
            })
            .unwrap_or_else(|| peer.remote.to_string());
        let Ok(uri) = Uri::parse(&format!("sip:{device}@{hostport}")) else {
            return;
        };
        let sn = rand::random::<u32>() % 1_000_000;
        let body =
            Manscdp::DeviceControl(DeviceControl::iframe(sn, channel)).to_body(Charset::Gb2312);
        let mut req = endpoint.new_request(Method::Message, uri, &device, &peer);
        req.set_body("Application/MANSCDP+xml", body);
        tracing::debug!(%session, %channel, "stream started mid-GOP: asking for a key frame (IFameCmd)");
        tokio::spawn(async move {
            match tokio::time::timeout(BYE_WAIT, endpoint.request(req, peer)).await {
                Ok(Ok(r)) if r.status.is_success() => {}
                Ok(Ok(r)) => {
                    tracing::debug!(%session, status = r.status.code(), "IFameCmd refused")
                }
                Ok(Err(e)) => tracing::debug!(%session, error = %e, "IFameCmd failed"),
                Err(_) => tracing::debug!(%session, "IFameCmd unanswered"),
            }
        });
    }

    fn start_ingest(
        &mut self,
        plan: &IngestPlan,
        peers: &[IpAddr],
    ) -> Result<IngestHandle, LiveError> {
        let port = self
            .port
            .take()
            .ok_or_else(|| LiveError::Internal("RTP port already used".into()))?;
        let mut cfg = IngestConfig::new(plan.transport, port, self.inner.config.media.rtp_timeout)
            .expected_ssrc(plan.ssrc.unwrap_or(self.ssrc.value()));
        for &(pt, payload) in &plan.payload_types {
            cfg = cfg.payload_type(pt, payload);
        }
        for &ip in peers {
            cfg = cfg.allow_peer(ip);
        }
        IngestSession::start(cfg, self.hub.clone())
            .map_err(|e| LiveError::Internal(format!("starting RTP ingest: {e}")))
    }

    /// Until the session ends: idle viewers, the ingest's end, the device's BYE, a stop.
    async fn play(&mut self, call: &mut Call, ingest: &IngestHandle) -> End {
        let idle = self.hub.idle_for(self.inner.config.media.idle_timeout);
        tokio::pin!(idle);
        let ended = ingest.ended();
        tokio::pin!(ended);
        let stop = self.inner.stop.clone();
        loop {
            tokio::select! {
                _ = &mut idle => return End {
                    reason: LiveStopReason::Idle,
                    detail: None,
                    bye: true,
                    done: None,
                },
                reason = &mut ended => {
                    let (reason, detail) = match reason {
                        EndReason::RtpTimeout(_) => (LiveStopReason::RtpTimeout, reason.to_string()),
                        EndReason::Stopped => (LiveStopReason::Stopped, reason.to_string()),
                        _ => (LiveStopReason::MediaError, reason.to_string()),
                    };
                    return End { reason, detail: Some(detail), bye: true, done: None };
                }
                Some(_) = call.retransmits.recv() => self.reack(call).await,
                cmd = self.cmds.recv() => match cmd {
                    Some(SessionCmd::Stop { reason, done }) => return End {
                        reason,
                        detail: None,
                        bye: true,
                        done: Some(done),
                    },
                    Some(SessionCmd::DeviceBye(inb)) => {
                        if answer_bye(&mut call.dialog, *inb).await {
                            return End {
                                reason: LiveStopReason::DeviceBye,
                                detail: None,
                                bye: false,
                                done: None,
                            };
                        }
                    }
                    None => return End {
                        reason: LiveStopReason::Stopped,
                        detail: None,
                        bye: true,
                        done: None,
                    },
                },
                _ = stop.cancelled() => return End {
                    reason: LiveStopReason::Shutdown,
                    detail: None,
                    bye: false,
                    done: None,
                },
            }
        }
    }

    /// A retransmitted 2xx: our ACK was lost; send it again.
    async fn reack(&self, call: &Call) {
        tracing::debug!(session = %self.id, "2xx retransmitted: ACK again");
        self.inner
            .endpoint
            .send_stateless(call.peer, call.ack.clone())
            .await;
    }

    /// BYE in the dialog, to the device's current route (it may have moved).
    async fn bye(&self, call: &mut Call) -> bool {
        if call.dialog.is_terminated() {
            return false;
        }
        let req = call.dialog.request(Method::Bye, &new_branch());
        let peer = match self.inner.registry.route(self.device).await {
            Some(r) if r.peer.proto == call.peer.proto => Peer {
                local: call.peer.local,
                ..r.peer
            },
            _ => call.peer,
        };
        match tokio::time::timeout(BYE_WAIT, self.inner.endpoint.request(req, peer)).await {
            Ok(Ok(r)) => {
                tracing::debug!(session = %self.id, status = r.status.code(), "BYE answered");
                r.status.is_success()
            }
            Ok(Err(e)) => {
                tracing::debug!(session = %self.id, error = %e, "BYE failed");
                false
            }
            Err(_) => {
                tracing::debug!(session = %self.id, "BYE unanswered");
                false
            }
        }
    }

    /// The start failed: tell waiters, forget the session, publish `live_failed`.
    fn failed(&self, error: &LiveError) {
        self.inner.remove(&self.id);
        self.hub.close();
        self.phase.send_replace(Phase::Failed(error.clone()));
        tracing::info!(session = %self.id, channel = %self.channel, %error, "live session failed");
        self.inner.events.publish(
            unix_ms(),
            EventKind::LiveFailed {
                session_id: self.id.clone(),
                channel_id: self.channel.to_string(),
                device_id: self.device.to_string(),
                error: error.to_string(),
                sip_status: error.sip_status(),
            },
        );
    }

    /// The SSRC goes back to the pool last: nothing of this session uses it any more.
    fn release(&mut self) {
        self.released = true;
        self.inner.release_ssrc(self.ssrc);
    }
}

fn stop_error(reason: LiveStopReason) -> LiveError {
    match reason {
        LiveStopReason::Shutdown => LiveError::ShuttingDown,
        _ => LiveError::Stopped,
    }
}

/// A BYE for a dialog that is not established yet.
async fn reject_bye(inb: InboundRequest) {
    let resp = Response::for_request(&inb.request, 481, "Call/Transaction Does Not Exist");
    inb.responder.respond(resp).await;
}

/// Answers the device's BYE; `true` when it ended the dialog.
async fn answer_bye(dialog: &mut Dialog, inb: InboundRequest) -> bool {
    let (status, reason, ended) = match dialog.handle_request(&inb.request) {
        Ok(()) => (200, "OK", true),
        Err(DialogError::OutOfOrder { .. }) => (500, "CSeq out of order", false),
        Err(_) => (481, "Call/Transaction Does Not Exist", false),
    };
    inb.responder
        .respond(Response::for_request(&inb.request, status, reason))
        .await;
    ended
}

fn new_branch() -> String {
    vigil_sip::ids::new_branch(rand::random())
}

/// The INVITE's final answer, still to come.
type LateAnswer =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<Response, RequestError>> + Send>>;

/// The session gave up before the INVITE was answered: CANCEL it, wait for the answer in
/// the background and hang up a 2xx that crossed the CANCEL (ACK, then BYE), so the device
/// does not stream to nobody.
fn hang_up_late(inner: Arc<Inner>, sent: LateAnswer, invite: Request, peer: Peer) {
    tokio::spawn(async move {
        inner.endpoint.cancel(&invite).await;
        let Ok(Ok(ok)) = tokio::time::timeout(LATE_ANSWER_WAIT, sent).await else {
            return;
        };
        if !ok.status.is_success() {
            return;
        }
        let Ok(mut dialog) = Dialog::uac(&invite, &ok) else {
            return;
        };
        tracing::info!(call_id = %dialog.id().call_id, "late 2xx to an abandoned INVITE: ACK and BYE");
        let endpoint = &inner.endpoint;
        endpoint
            .send_stateless(peer, dialog.ack(&ok, &new_branch()))
            .await;
        let bye = dialog.request(Method::Bye, &new_branch());
        let _ = tokio::time::timeout(BYE_WAIT, endpoint.request(bye, peer)).await;
    });
}
