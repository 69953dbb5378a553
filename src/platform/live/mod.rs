//! Live sessions: one per channel being watched. A session owns its SIP dialog (INVITE to
//! the channel through its device's registered route, ACK, BYE), its RTP port and SSRC, the
//! ingest and the hub viewers read from. [`LiveSessions`] starts sessions (or joins the
//! running one of a channel), finds them for the `/live` routes and the API, stops them, and
//! hands the device's BYE to the session whose dialog it names.
//!
//! A session ends on `DELETE`, after `media.idle_timeout` without a viewer, on the device's
//! BYE, when RTP stops (`media.rtp_timeout`) or when its device is removed; each start, stop
//! and failure is an event.
//!
//! How a session reaches its device: the RTP transport is the request's, else the device's
//! transport preference (`devices.transport_pref`), else `media.transport`; the INVITE goes
//! the way the device registered unless its preference names the other SIP transport.

mod plan;
mod session;
pub mod ssrc;

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde::Serialize;
use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;
use vigil_gb::DeviceId;
use vigil_gb::sdp::Ssrc;
use vigil_sip::{DialogId, Method, Request, Response};

use super::endpoint::{Endpoint, InboundRequest};
use super::events::{EventBus, LiveStopReason};
use super::media::{Hub, IngestHandle, IngestTransport, RtpPorts};
use super::registry::{DeviceRoute, Registry};
use crate::config::{Config, RtpTransport};
use crate::store::{DeviceRecord, Store, TransportPref};
use crate::transport::{Peer, Proto};
use session::{Session, SessionCmd};
use ssrc::SsrcPool;

/// BYEs from devices waiting for their session.
const BYE_QUEUE: usize = 1024;
/// How long `shutdown` gives sessions to send their BYEs.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(2);
/// How long `stop_device` waits for its sessions' BYEs (each gives up after 2 s).
const STOP_DEVICE_WAIT: Duration = Duration::from_secs(5);
/// How long a SIP connection over TCP to a device that registered over UDP may take before
/// the INVITE goes over UDP after all.
const CONNECT_WAIT: Duration = Duration::from_secs(2);

/// Why a live session could not be started (or joined).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LiveError {
    #[error("{0} is not a 20-digit channel ID")]
    BadChannelId(String),
    #[error("channel {0} not found")]
    UnknownChannel(String),
    #[error("device {device_id} of channel {channel_id} is offline")]
    DeviceOffline {
        channel_id: String,
        device_id: String,
    },
    #[error("the device refused the INVITE: {status} {reason}")]
    Refused { status: u16, reason: String },
    #[error("cannot reach the device: {0}")]
    Unreachable(String),
    #[error("the device's answer is unusable: {0}")]
    BadAnswer(String),
    #[error("the stream ended before its first key frame: {0}")]
    StreamFailed(String),
    #[error("no answer and key frame from the device within {0:?}")]
    Timeout(Duration),
    #[error("no live session resources left: {0}")]
    Exhausted(String),
    #[error("the live session was stopped before it started")]
    Stopped,
    #[error("the platform is shutting down")]
    ShuttingDown,
    #[error("internal error: {0}")]
    Internal(String),
}

impl LiveError {
    /// The device's SIP status, when it refused.
    pub fn sip_status(&self) -> Option<u16> {
        match self {
            LiveError::Refused { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// Where a session's video is served (paths relative to the HTTP listener).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct LiveUrls {
    pub ws: String,
    pub mp4: String,
    pub hls: String,
}

impl LiveUrls {
    fn of(session_id: &str) -> Self {
        Self {
            ws: format!("/live/{session_id}/ws"),
            mp4: format!("/live/{session_id}.mp4"),
            hls: format!("/live/{session_id}/index.m3u8"),
        }
    }
}

/// A session that plays: what `POST /api/v1/channels/{id}/live` answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct LiveStarted {
    pub session_id: String,
    pub channel_id: String,
    pub device_id: String,
    pub transport: RtpTransport,
    /// Decimal, 10 digits.
    #[schema(value_type = String)]
    pub ssrc: Ssrc,
    /// The channel already had this session running (or starting).
    pub joined: bool,
    pub urls: LiveUrls,
}

/// One session for `GET /api/v1/live`.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct LiveSessionInfo {
    pub session_id: String,
    pub channel_id: String,
    pub device_id: String,
    /// `starting` until the first key frame, then `playing`.
    #[schema(value_type = String)]
    pub state: &'static str,
    /// As offered.
    pub transport: RtpTransport,
    /// How the INVITE went: `udp` or `tcp`.
    #[schema(value_type = String)]
    pub sip_transport: &'static str,
    /// Decimal, 10 digits.
    #[schema(value_type = String)]
    pub ssrc: Ssrc,
    /// Unix ms of the start request.
    pub started_at: i64,
    /// Unix ms of the first key frame.
    pub playing_since: Option<i64>,
    pub viewers: usize,
    pub codec: Option<String>,
    pub codec_string: Option<String>,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub fps: Option<f64>,
    pub bitrate_bps: u64,
    pub packets_received: u64,
    pub packets_lost: u64,
    /// The device's media address (`ip:port`), once known.
    #[schema(value_type = Option<String>)]
    pub remote: Option<SocketAddr>,
    /// The RTP port the stream arrives on.
    pub local_port: u16,
    pub urls: LiveUrls,
}

/// Where a session is.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Phase {
    Starting,
    Playing,
    Failed(LiveError),
    Ended,
}

struct Entry {
    id: String,
    channel_id: String,
    device_id: String,
    transport: RtpTransport,
    sip_transport: Proto,
    ssrc: Ssrc,
    local_port: u16,
    created_at: i64,
    playing_since: Option<i64>,
    hub: Hub,
    phase: watch::Receiver<Phase>,
    cmds: mpsc::Sender<SessionCmd>,
    /// Set once the device answered and media is expected.
    ingest: Option<Arc<IngestHandle>>,
}

#[derive(Default)]
struct Table {
    sessions: HashMap<String, Entry>,
    by_channel: HashMap<String, String>,
    by_dialog: HashMap<DialogId, String>,
}

/// What sessions share: configuration, the platform's handles and the session table.
struct Inner {
    config: Arc<Config>,
    store: Store,
    registry: Registry,
    endpoint: Endpoint,
    events: EventBus,
    ports: RtpPorts,
    ssrcs: Mutex<SsrcPool>,
    table: Mutex<Table>,
    stop: CancellationToken,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveSessions")
            .field("sessions", &self.lock().sessions.len())
            .finish_non_exhaustive()
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn release_ssrc(&self, ssrc: Ssrc) {
        self.ssrcs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .release(ssrc);
    }

    /// Forgets session `id` (its channel may start a new one from now on).
    fn remove(&self, id: &str) {
        let mut t = self.lock();
        if let Some(e) = t.sessions.remove(id) {
            if t.by_channel.get(&e.channel_id).is_some_and(|s| s == id) {
                t.by_channel.remove(&e.channel_id);
            }
            t.by_dialog.retain(|_, s| s != id);
        }
    }
}

/// Handle to the live sessions; cheap to clone.
#[derive(Debug, Clone)]
pub struct LiveSessions {
    inner: Arc<Inner>,
}

impl LiveSessions {
    /// Sets up the session table and takes the device's BYEs from the endpoint.
    pub fn start(
        config: Arc<Config>,
        store: Store,
        registry: Registry,
        endpoint: Endpoint,
        events: EventBus,
        stop: CancellationToken,
    ) -> LiveSessions {
        let ports = RtpPorts::from_config(&config.media);
        let ssrcs = SsrcPool::new(&config.sip.domain);
        let inner = Arc::new(Inner {
            config,
            store,
            registry,
            endpoint: endpoint.clone(),
            events,
            ports,
            ssrcs: Mutex::new(ssrcs),
            table: Mutex::default(),
            stop: stop.clone(),
        });
        let (bye_tx, bye_rx) = mpsc::channel(BYE_QUEUE);
        endpoint.route(Method::Bye, bye_tx);
        tokio::spawn(route_byes(inner.clone(), bye_rx, stop));
        LiveSessions { inner }
    }

    /// Starts live view of `channel_id` with `transport` (default `media.transport`), or
    /// joins the session the channel already has. Resolves once the first key frame is in
    /// the hub, or with why not.
    pub async fn start_live(
        &self,
        channel_id: &str,
        transport: Option<RtpTransport>,
    ) -> Result<LiveStarted, LiveError> {
        let channel: DeviceId = channel_id
            .parse()
            .map_err(|_| LiveError::BadChannelId(channel_id.to_owned()))?;
        if let Some(joined) = self.join(channel_id).await {
            return joined;
        }
        let row = self.device_of(channel_id).await?;
        let device: DeviceId = row
            .device_id
            .parse()
            .map_err(|_| LiveError::Internal(format!("stored device ID {:?}", row.device_id)))?;
        let route =
            self.inner
                .registry
                .route(device)
                .await
                .ok_or_else(|| LiveError::DeviceOffline {
                    channel_id: channel_id.to_owned(),
                    device_id: row.device_id.clone(),
                })?;
        if self.inner.stop.is_cancelled() {
            return Err(LiveError::ShuttingDown);
        }
        let pref = preference(&row);
        let transport = transport
            .or(pref.map(|p| p.1))
            .unwrap_or(self.inner.config.media.transport);
        let route = match pref {
            Some((sip, _)) => self.route_over(route, sip, &device).await,
            None => route,
        };
        let phase = {
            let mut t = self.inner.lock();
            // Another request may have started one since we looked.
            if t.by_channel.contains_key(channel_id) {
                None
            } else {
                Some(self.create(&mut t, channel, device, route, transport)?)
            }
        };
        match phase {
            Some((id, phase)) => self.wait_playing(&id, phase, false).await,
            None => match self.join(channel_id).await {
                Some(r) => r,
                None => Err(LiveError::Stopped),
            },
        }
    }

    /// Allocates the session's SSRC and port, enters it in the table and starts its task.
    fn create(
        &self,
        t: &mut Table,
        channel: DeviceId,
        device: DeviceId,
        route: DeviceRoute,
        transport: RtpTransport,
    ) -> Result<(String, watch::Receiver<Phase>), LiveError> {
        let inner = &self.inner;
        let port = inner
            .ports
            .allocate()
            .map_err(|e| LiveError::Exhausted(e.to_string()))?;
        let ssrc = inner
            .ssrcs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .allocate()
            .ok_or_else(|| LiveError::Exhausted("all 9,999 live SSRCs are in use".into()))?;
        let id = loop {
            let id = format!("{:016x}", rand::random::<u64>());
            if !t.sessions.contains_key(&id) {
                break id;
            }
        };
        let hub = Hub::new();
        let (phase_tx, phase_rx) = watch::channel(Phase::Starting);
        let (cmd_tx, cmd_rx) = mpsc::channel(8);
        let entry = Entry {
            id: id.clone(),
            channel_id: channel.to_string(),
            device_id: device.to_string(),
            transport,
            sip_transport: route.peer.proto,
            ssrc,
            local_port: port.port(),
            created_at: super::unix_ms(),
            playing_since: None,
            hub: hub.clone(),
            phase: phase_rx.clone(),
            cmds: cmd_tx,
            ingest: None,
        };
        t.by_channel.insert(entry.channel_id.clone(), id.clone());
        t.sessions.insert(id.clone(), entry);
        let session = Session {
            id: id.clone(),
            channel,
            device,
            transport,
            ssrc,
            route,
            port: Some(port),
            hub,
            inner: inner.clone(),
            phase: phase_tx,
            cmds: cmd_rx,
            released: false,
        };
        tokio::spawn(session.run());
        Ok((id, phase_rx))
    }

    /// Joins the channel's session if it has one: waits until it plays.
    async fn join(&self, channel_id: &str) -> Option<Result<LiveStarted, LiveError>> {
        let (id, phase) = {
            let t = self.inner.lock();
            let id = t.by_channel.get(channel_id)?;
            let e = t.sessions.get(id)?;
            (id.clone(), e.phase.clone())
        };
        Some(self.wait_playing(&id, phase, true).await)
    }

    async fn wait_playing(
        &self,
        id: &str,
        mut phase: watch::Receiver<Phase>,
        joined: bool,
    ) -> Result<LiveStarted, LiveError> {
        let p = phase
            .wait_for(|p| *p != Phase::Starting)
            .await
            .map(|p| p.clone())
            .unwrap_or(Phase::Ended);
        match p {
            Phase::Playing => {
                let t = self.inner.lock();
                let e = t.sessions.get(id).ok_or(LiveError::Stopped)?;
                Ok(LiveStarted {
                    session_id: e.id.clone(),
                    channel_id: e.channel_id.clone(),
                    device_id: e.device_id.clone(),
                    transport: e.transport,
                    ssrc: e.ssrc,
                    joined,
                    urls: LiveUrls::of(&e.id),
                })
            }
            Phase::Failed(e) => Err(e),
            Phase::Starting | Phase::Ended => Err(LiveError::Stopped),
        }
    }

    /// The device a channel belongs to: from the catalog, or the device itself when the
    /// ID is a device's (single-channel cameras are often asked by their own ID).
    async fn device_of(&self, channel_id: &str) -> Result<DeviceRecord, LiveError> {
        let store = &self.inner.store;
        let device_id = match store.get_channel(channel_id).await {
            Ok(Some(c)) if c.removed_at.is_none() => c.device_id,
            Ok(_) => channel_id.to_owned(),
            Err(e) => return Err(LiveError::Internal(e.to_string())),
        };
        match store.get_device(&device_id).await {
            Ok(Some(d)) => Ok(d),
            // Its device was removed since the channel was read.
            Ok(None) => Err(LiveError::UnknownChannel(channel_id.to_owned())),
            Err(e) => Err(LiveError::Internal(e.to_string())),
        }
    }

    /// The route for an INVITE over `proto`: the registered one when the device registered
    /// that way, else its registered address (at its Contact's port) over `proto`. Over TCP
    /// the connection is opened first, with a CRLF keep-alive (which SIP stacks skip before
    /// a message, RFC 5626 §4.4.1); a device that takes none is invited the way it
    /// registered. UDP cannot be tried first: it is used as preferred.
    async fn route_over(&self, route: DeviceRoute, proto: Proto, device: &DeviceId) -> DeviceRoute {
        if route.peer.proto == proto {
            return route;
        }
        let sender = &self.inner.endpoint.sender;
        let local = match proto {
            Proto::Udp => sender.udp_local(),
            Proto::Tcp => sender.tcp_local(),
        };
        let Some(local) = local else {
            tracing::warn!(device_id = %device, %proto, "the device prefers a SIP transport vigil does not listen on; inviting it the way it registered");
            return route;
        };
        let peer = Peer {
            proto,
            remote: contact_target(&route),
            local,
            conn: None,
        };
        if proto == Proto::Tcp {
            let probe = sender.send(&peer, bytes::Bytes::from_static(b"\r\n\r\n"), true);
            let failed = match tokio::time::timeout(CONNECT_WAIT, probe).await {
                Ok(Ok(())) => None,
                Ok(Err(e)) => Some(e.to_string()),
                Err(_) => Some(format!("no connection within {CONNECT_WAIT:?}")),
            };
            if let Some(why) = failed {
                tracing::warn!(device_id = %device, remote = %peer.remote, error = why, "the device prefers SIP over TCP but takes no connection; inviting it over UDP, as it registered");
                return route;
            }
        }
        DeviceRoute {
            peer,
            contact: route.contact,
        }
    }

    /// Stops session `id` (BYE to the device); `false` when there is no such session.
    /// Resolves once the session is gone and its BYE answered (or given up on).
    pub async fn stop(&self, id: &str) -> bool {
        let cmds = match self.inner.lock().sessions.get(id) {
            Some(e) => e.cmds.clone(),
            None => return false,
        };
        let (done, wait) = oneshot::channel();
        let cmd = SessionCmd::Stop {
            reason: LiveStopReason::Stopped,
            done,
        };
        if cmds.send(cmd).await.is_ok() {
            let _ = wait.await;
        }
        true
    }

    /// Ends every session with a BYE; for a clean shutdown, before the SIP endpoint stops.
    pub async fn shutdown(&self) {
        self.stop_where(|_| true, LiveStopReason::Shutdown, SHUTDOWN_WAIT)
            .await;
    }

    /// Ends every session of `device` (starting or playing) with a BYE and `reason`: its
    /// viewers see the stream end, its port and SSRC are freed. Resolves once they are out
    /// of the table (BYEs answered or given up on); the number of sessions stopped.
    pub async fn stop_device(&self, device: DeviceId, reason: LiveStopReason) -> usize {
        let device = device.to_string();
        let ids = self
            .stop_where(|e| e.device_id == device, reason, STOP_DEVICE_WAIT)
            .await;
        // A session stopped while starting tells its waiters before it leaves the table.
        for id in &ids {
            self.inner.remove(id);
        }
        ids.len()
    }

    /// Sends Stop to the sessions matching `pred` and waits up to `wait` for them; their IDs.
    async fn stop_where(
        &self,
        pred: impl Fn(&Entry) -> bool,
        reason: LiveStopReason,
        wait: Duration,
    ) -> Vec<String> {
        let matching: Vec<(String, mpsc::Sender<SessionCmd>)> = self
            .inner
            .lock()
            .sessions
            .values()
            .filter(|e| pred(e))
            .map(|e| (e.id.clone(), e.cmds.clone()))
            .collect();
        let mut ids = Vec::with_capacity(matching.len());
        let mut waits = Vec::with_capacity(matching.len());
        for (id, cmds) in matching {
            let (done, stopped) = oneshot::channel();
            if cmds.send(SessionCmd::Stop { reason, done }).await.is_ok() {
                waits.push(stopped);
            }
            ids.push(id);
        }
        let _ = tokio::time::timeout(wait, futures_util::future::join_all(waits)).await;
        ids
    }

    /// The hub of session `id` (for the `/live` routes).
    pub fn hub(&self, id: &str) -> Option<Hub> {
        self.inner.lock().sessions.get(id).map(|e| e.hub.clone())
    }

    /// Every session, oldest first.
    pub fn list(&self) -> Vec<LiveSessionInfo> {
        let t = self.inner.lock();
        let mut v: Vec<LiveSessionInfo> = t.sessions.values().map(info).collect();
        v.sort_by(|a, b| {
            a.started_at
                .cmp(&b.started_at)
                .then(a.session_id.cmp(&b.session_id))
        });
        v
    }

    /// One session.
    pub fn get(&self, id: &str) -> Option<LiveSessionInfo> {
        self.inner.lock().sessions.get(id).map(info)
    }

    /// Sessions in the table (starting or playing).
    pub fn len(&self) -> usize {
        self.inner.lock().sessions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl crate::api::live::LiveLookup for LiveSessions {
    fn hub(&self, session_id: &str) -> Option<Hub> {
        LiveSessions::hub(self, session_id)
    }
}

fn info(e: &Entry) -> LiveSessionInfo {
    let stats = e.ingest.as_ref().map(|i| i.stats());
    let s = stats.as_ref().map(|s| &s.stream);
    let playing = matches!(*e.phase.borrow(), Phase::Playing);
    LiveSessionInfo {
        session_id: e.id.clone(),
        channel_id: e.channel_id.clone(),
        device_id: e.device_id.clone(),
        state: if playing { "playing" } else { "starting" },
        transport: e.transport,
        sip_transport: e.sip_transport.as_str(),
        ssrc: e.ssrc,
        started_at: e.created_at,
        playing_since: e.playing_since,
        viewers: e.hub.viewers(),
        codec: s.and_then(|s| s.codec.clone()),
        codec_string: s.and_then(|s| s.codec_string.clone()),
        width: s.and_then(|s| s.width),
        height: s.and_then(|s| s.height),
        fps: s.and_then(|s| s.fps),
        bitrate_bps: s.map_or(0, |s| s.bitrate_bps),
        packets_received: s.map_or(0, |s| s.packets_received),
        packets_lost: s.map_or(0, |s| s.packets_lost),
        remote: stats.as_ref().and_then(|s| s.remote),
        local_port: e.local_port,
        urls: LiveUrls::of(&e.id),
    }
}

/// The dialog a request from the device belongs to (our tag is its To tag).
fn dialog_of(req: &Request) -> Option<DialogId> {
    let h = &req.headers;
    Some(DialogId {
        call_id: h.call_id().ok()?.to_owned(),
        local_tag: h.to().ok()?.tag()?.to_owned(),
        remote_tag: h.from().ok()?.tag().unwrap_or("").to_owned(),
    })
}

/// Hands each BYE from a device to the session of its dialog; 481 for unknown dialogs.
async fn route_byes(
    inner: Arc<Inner>,
    mut rx: mpsc::Receiver<InboundRequest>,
    stop: CancellationToken,
) {
    loop {
        let inb = tokio::select! {
            _ = stop.cancelled() => return,
            r = rx.recv() => match r {
                Some(r) => r,
                None => return,
            },
        };
        let cmds = dialog_of(&inb.request).and_then(|d| {
            let t = inner.lock();
            let id = t.by_dialog.get(&d)?;
            t.sessions.get(id).map(|e| e.cmds.clone())
        });
        let inb = match cmds {
            Some(cmds) => match cmds.try_send(SessionCmd::DeviceBye(Box::new(inb))) {
                Ok(()) => continue,
                Err(
                    mpsc::error::TrySendError::Full(SessionCmd::DeviceBye(inb))
                    | mpsc::error::TrySendError::Closed(SessionCmd::DeviceBye(inb)),
                ) => *inb,
                Err(_) => continue,
            },
            None => inb,
        };
        tracing::debug!(remote = %inb.peer.remote, "BYE for no live session: 481");
        let resp = Response::for_request(&inb.request, 481, "Call/Transaction Does Not Exist");
        inb.responder.respond(resp).await;
    }
}

/// What a device's transport preference asks of its live sessions: the SIP transport of the
/// INVITE and the RTP transport offered. `None` without one (or with one not understood).
fn preference(row: &DeviceRecord) -> Option<(Proto, RtpTransport)> {
    let stored = row.transport_pref.as_deref()?;
    let Some(pref) = TransportPref::parse(stored) else {
        tracing::warn!(
            device_id = row.device_id,
            transport = stored,
            "unknown transport preference stored; ignored"
        );
        return None;
    };
    Some(match pref {
        TransportPref::Udp => (Proto::Udp, RtpTransport::Udp),
        TransportPref::Tcp | TransportPref::TcpPassive => (Proto::Tcp, RtpTransport::TcpPassive),
        TransportPref::TcpActive => (Proto::Tcp, RtpTransport::TcpActive),
    })
}

/// Where to reach a device over the SIP transport it did not register with: the address it
/// registered from (past NAT, as for every request) at the port its Contact names, 5060
/// when it names none.
fn contact_target(route: &DeviceRoute) -> SocketAddr {
    let port = vigil_sip::header::NameAddr::parse(&route.contact)
        .ok()
        .and_then(|c| c.uri.port)
        .unwrap_or(5060);
    SocketAddr::new(route.peer.remote.ip(), port)
}

/// The local address that routes to `remote` (for SDP when we listen on a wildcard
/// address); no packet is sent.
fn route_ip(remote: SocketAddr) -> Option<IpAddr> {
    let any: SocketAddr = if remote.is_ipv4() {
        (Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let s = std::net::UdpSocket::bind(any).ok()?;
    s.connect(remote).ok()?;
    Some(s.local_addr().ok()?.ip())
}

/// How a session's media arrives, for logs and events.
fn transport_name(t: &IngestTransport) -> &'static str {
    match t {
        IngestTransport::Udp => "udp",
        IngestTransport::TcpPassive => "tcp_passive",
        IngestTransport::TcpActive { .. } => "tcp_active",
    }
}
