//! One simulated GB28181 device as a state machine without I/O (str0m style): feed it
//! messages ([`Device::handle_message`]) and time ([`Device::handle_timeout`]), then drain
//! [`Device::poll_output`] for datagrams to send and events to count, and sleep until
//! [`Device::poll_timeout`]. It never reads a clock or touches a socket, so one driver task
//! runs thousands of them and unit tests step one through a conversation on a fake clock.
//!
//! What it does, like a camera or NVR in the field: REGISTER with digest authentication
//! (401 → credentials, `stale=true` → again with the new nonce, 403 and other refusals → back
//! off and retry), refresh at 80% of the granted Expires, keepalive MESSAGE every interval,
//! register again when a keepalive is refused, answer every MESSAGE with 200 OK and the
//! Catalog/DeviceInfo/DeviceStatus queries with result MESSAGEs. Client transactions over UDP
//! retransmit per RFC 3261 §17.1.2 (Timer E from T1 doubling to T2, Timer F = 64·T1);
//! retransmitted requests from the platform get the cached response again, not a second
//! result.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use vigil_gb::manscdp::Root;
use vigil_gb::{Charset, DeviceId, Manscdp};
use vigil_sip::digest::{self, Secret};
use vigil_sip::{Challenge, Message, Method, Request, Response, Uri, ids};

use super::answers;

#[path = "device_catalog.rs"]
mod catalog;
pub use catalog::{CatalogActivity, CatalogChange, CatalogCmd, CatalogStats};

#[path = "call.rs"]
mod call;
pub use call::{InviteAnswer, MediaRequest};

#[path = "device_ptz.rs"]
mod ptz;
pub use ptz::{PtzAnswer, PtzMotion, PtzPosition, PtzView};

/// RFC 3261 T1: first retransmission interval and RTT estimate.
pub const T1: Duration = Duration::from_millis(500);
/// RFC 3261 T2: retransmission interval cap for non-INVITE requests.
pub const T2: Duration = Duration::from_secs(4);
/// RFC 3261 Timer F (64·T1): a non-INVITE request without a final response has failed.
pub const TIMER_F: Duration = Duration::from_secs(32);
/// How long an answered request's response is replayed for retransmissions (Timer J).
const TIMER_J: Duration = Duration::from_secs(32);
/// 401s accepted in one registration attempt before the credentials count as refused.
const MAX_AUTH_TRIES: u32 = 3;
/// Keepalives without any answer (Timer F) before the device registers again.
const KEEPALIVE_TIMEOUTS_TO_REREGISTER: u32 = 3;
/// Keepalive transactions kept in flight; older ones are dropped unanswered.
const MAX_KEEPALIVES_IN_FLIGHT: usize = 4;
/// Answered platform requests remembered for retransmissions.
const MAX_SERVED: usize = 16;

/// SIP transport of the simulated devices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SimTransport {
    Udp,
    Tcp,
}

impl SimTransport {
    pub fn as_str(self) -> &'static str {
        match self {
            SimTransport::Udp => "udp",
            SimTransport::Tcp => "tcp",
        }
    }

    fn via_token(self) -> &'static str {
        match self {
            SimTransport::Udp => "UDP",
            SimTransport::Tcp => "TCP",
        }
    }
}

impl std::str::FromStr for SimTransport {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "udp" => Ok(SimTransport::Udp),
            "tcp" => Ok(SimTransport::Tcp),
            _ => Err(format!("unknown transport {s:?} (udp or tcp)")),
        }
    }
}

impl std::fmt::Display for SimTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What all devices of one simulation share.
#[derive(Debug, Clone)]
pub struct Profile {
    /// Where every request goes.
    pub server: SocketAddr,
    pub server_id: String,
    pub domain: String,
    pub transport: SimTransport,
    pub keepalive: Duration,
    /// Expires asked for in REGISTER, seconds.
    pub expires: u32,
    pub charset: Charset,
    pub catalog_page: usize,
    /// First back-off after a failed registration; doubles up to 8x.
    pub retry: Duration,
    /// How INVITEs to the channels are answered.
    pub invite: InviteAnswer,
    /// Answer with raw H.264 (PT 98) instead of PS (PT 96).
    pub raw_h264: bool,
    /// Ignore the first ACK of each call (as if lost).
    pub ignore_first_ack: bool,
    /// `sip:<server_id>@<domain>`: Request-URI of REGISTER and MESSAGE, and the digest uri.
    server_uri: Uri,
    server_uri_text: String,
}

impl Profile {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        server: SocketAddr,
        server_id: &str,
        domain: &str,
        transport: SimTransport,
        keepalive: Duration,
        expires: u32,
        charset: Charset,
        catalog_page: usize,
        retry: Duration,
    ) -> Result<Profile, String> {
        let text = format!("sip:{server_id}@{domain}");
        let server_uri =
            Uri::parse(&text).map_err(|e| format!("server URI {text:?}: {}", e.why))?;
        Ok(Profile {
            server,
            server_id: server_id.to_owned(),
            domain: domain.to_owned(),
            transport,
            keepalive,
            expires,
            charset,
            catalog_page: catalog_page.max(1),
            retry,
            invite: InviteAnswer::Stream,
            raw_h264: false,
            ignore_first_ack: false,
            server_uri,
            server_uri_text: text,
        })
    }
}

/// Where a device is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceState {
    /// Not started yet (waiting for its turn at the configured rate).
    Idle,
    /// REGISTER in flight (first time, or again after losing the registration).
    Registering,
    /// Registered; refreshes and keepalives run.
    Registered,
    /// Refused or unanswered; registers again after a back-off.
    Failed,
    /// REGISTER with Expires: 0 in flight.
    Unregistering,
    /// Unregistered on request; stays quiet until told to register.
    Unregistered,
    /// Sends nothing and answers nothing, as if unplugged.
    Unplugged,
}

/// Something the driver counts or shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    State {
        from: DeviceState,
        to: DeviceState,
    },
    /// A 200 OK to REGISTER (first or refresh) granting `expires` seconds.
    Registered {
        expires: u32,
    },
    /// A 401/407 answered with credentials.
    Challenged {
        stale: bool,
    },
    /// A final refusal of REGISTER (after the digest exchange).
    RegisterFailed {
        status: u16,
    },
    /// No final answer to REGISTER within Timer F, or the TCP connection failed.
    RegisterTimedOut,
    Unregistered,
    KeepaliveSent,
    KeepaliveAnswered {
        status: u16,
    },
    KeepaliveTimedOut,
    /// A MESSAGE from the platform (already answered 200 OK).
    MessageReceived {
        root: Root,
        cmd_type: String,
    },
    /// A result MESSAGE (catalog page, device info, ...) was sent.
    ReportSent,
    /// A result MESSAGE got a non-2xx answer (`Some`) or none (`None`).
    ReportFailed {
        status: Option<u16>,
    },
    /// Catalog subscription and change notifications.
    Catalog(CatalogActivity),
    /// An INVITE for `channel` (retransmissions not counted).
    InviteReceived {
        channel: DeviceId,
    },
    /// The final answer given to an INVITE.
    InviteAnswered {
        channel: DeviceId,
        status: u16,
    },
    /// The platform ACKed our 200: media starts.
    AckReceived {
        channel: DeviceId,
    },
    /// The platform hung up.
    ByeReceived {
        channel: DeviceId,
    },
    /// The device hung up.
    ByeSent {
        channel: DeviceId,
    },
    /// A PTZ command for `channel` was obeyed, refused or ignored; its state now.
    Ptz {
        channel: DeviceId,
        view: Box<PtzView>,
    },
}

/// What the driver must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Send these bytes (over TCP, on the device's connection, whatever `to` says).
    Transmit {
        to: SocketAddr,
        bytes: Bytes,
    },
    Event(Event),
    /// Open the media side of a call (bind or pick the address to answer with), then call
    /// [`Device::media_opened`].
    OpenMedia(MediaRequest),
    /// The call is confirmed: start streaming.
    StartMedia {
        call: u64,
    },
    /// The call ended: stop streaming and close its media.
    StopMedia {
        call: u64,
    },
    /// The platform asked for a key frame (`IFameCmd`): the call's stream sends one next.
    KeyFrame {
        call: u64,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TxKind {
    Register { expires: u32 },
    Keepalive,
    Report,
    Notify,
    Bye,
}

/// A client transaction (non-INVITE).
#[derive(Debug)]
struct ClientTx {
    branch: String,
    kind: TxKind,
    bytes: Bytes,
    interval: Duration,
    /// Timer E (UDP only).
    retransmit_at: Option<Instant>,
    /// Timer F.
    deadline: Instant,
}

/// A platform request already answered (for its retransmissions).
#[derive(Debug)]
struct Served {
    branch: String,
    method: Method,
    to: SocketAddr,
    bytes: Bytes,
    until: Instant,
}

/// Per-device setup.
#[derive(Debug, Clone)]
pub struct DeviceSetup {
    pub id: DeviceId,
    pub channels: Vec<DeviceId>,
    pub password: String,
    /// Address written into Via and Contact.
    pub local: SocketAddr,
    pub seed: u64,
}

/// One simulated device.
#[derive(Debug)]
pub struct Device {
    profile: Arc<Profile>,
    id: DeviceId,
    channels: Vec<DeviceId>,
    password: Secret,
    local: SocketAddr,
    rng: SmallRng,
    state: DeviceState,
    /// REGISTER Call-ID and From tag: kept across refreshes (RFC 3261 §10.2.4).
    reg_call_id: String,
    reg_from_tag: String,
    reg_cseq: u32,
    msg_cseq: u32,
    /// MANSCDP SN of our keepalives.
    sn: u32,
    challenge: Option<Challenge>,
    nc: u32,
    cnonce: String,
    auth_tries: u32,
    /// Consecutive failed registrations (back-off exponent).
    failures: u32,
    expires_at: Option<Instant>,
    refresh_at: Option<Instant>,
    retry_at: Option<Instant>,
    keepalives_on: bool,
    next_keepalive: Option<Instant>,
    keepalive_timeouts: u32,
    txs: Vec<ClientTx>,
    served: VecDeque<Served>,
    out: VecDeque<Output>,
    catalog: catalog::CatalogSide,
    calls: Vec<call::Call>,
    next_call: u64,
    ptz: ptz::PtzSide,
}

impl Device {
    pub fn new(profile: Arc<Profile>, setup: DeviceSetup) -> Device {
        let mut rng = SmallRng::seed_from_u64(setup.seed);
        let ip = setup.local.ip().to_string();
        let reg_call_id = ids::new_call_id(rng.random(), Some(&ip));
        let reg_from_tag = ids::new_tag(rng.random());
        let cnonce = ids::new_tag(rng.random());
        Device {
            profile,
            id: setup.id,
            channels: setup.channels,
            password: Secret::new(setup.password),
            local: setup.local,
            rng,
            state: DeviceState::Idle,
            reg_call_id,
            reg_from_tag,
            reg_cseq: 0,
            msg_cseq: 0,
            sn: 0,
            challenge: None,
            nc: 0,
            cnonce,
            auth_tries: 0,
            failures: 0,
            expires_at: None,
            refresh_at: None,
            retry_at: None,
            keepalives_on: true,
            next_keepalive: None,
            keepalive_timeouts: 0,
            txs: Vec::new(),
            served: VecDeque::new(),
            out: VecDeque::new(),
            catalog: catalog::CatalogSide::default(),
            calls: Vec::new(),
            next_call: 0,
            ptz: ptz::PtzSide::default(),
        }
    }

    pub fn id(&self) -> &DeviceId {
        &self.id
    }

    pub fn channels(&self) -> &[DeviceId] {
        &self.channels
    }

    pub fn state(&self) -> DeviceState {
        self.state
    }

    /// True when `id` is this device or one of its channels.
    pub fn owns(&self, id: &DeviceId) -> bool {
        self.id == *id || self.channels.contains(id)
    }

    /// Starts registering (also after `unregister` or `unplug`): a fresh REGISTER now.
    /// On a registered device this is an immediate refresh.
    pub fn register(&mut self, now: Instant) {
        self.retry_at = None;
        self.auth_tries = 0;
        if self.state != DeviceState::Registered {
            self.set_state(DeviceState::Registering);
        }
        self.send_register(now, self.profile.expires);
    }

    /// REGISTER with Expires: 0; keepalives and refreshes stop.
    pub fn unregister(&mut self, now: Instant) {
        if self.state == DeviceState::Unplugged {
            return;
        }
        self.registration_gone();
        self.retry_at = None;
        self.auth_tries = 0;
        self.set_state(DeviceState::Unregistering);
        self.send_register(now, 0);
    }

    /// Silence, as if the cable was pulled: nothing is sent or answered from now on, and
    /// nothing in flight is retransmitted. [`Device::register`] plugs it back in.
    pub fn unplug(&mut self) {
        self.txs.clear();
        self.served.clear();
        self.drop_calls();
        self.registration_gone();
        self.retry_at = None;
        self.set_state(DeviceState::Unplugged);
    }

    /// Stops (or resumes) keepalives only; registration refreshes go on. Stopped keepalives
    /// is how the platform's keepalive timeout is tested.
    pub fn set_keepalives(&mut self, on: bool, now: Instant) {
        self.keepalives_on = on;
        self.next_keepalive = match (on, self.state) {
            (true, DeviceState::Registered) => Some(now),
            _ => None,
        };
    }

    pub fn set_password(&mut self, password: &str) {
        self.password = Secret::new(password);
        self.challenge = None;
    }

    /// Sends a MANSCDP body of the caller's making (alarm, media status, ...) as a MESSAGE,
    /// when registered; its answer is reported like a query result's.
    pub fn send_manscdp(&mut self, now: Instant, body: Vec<u8>) {
        if self.state == DeviceState::Registered {
            self.send_message(now, TxKind::Report, body);
            self.event(Event::ReportSent);
        }
    }

    /// The address to put into Via and Contact (a TCP connection's local address).
    pub fn set_local(&mut self, local: SocketAddr) {
        self.local = local;
    }

    /// The TCP connection closed or could not be opened: what was in flight is lost. A
    /// device that was registered registers again after a back-off (on a new connection).
    pub fn connection_lost(&mut self, now: Instant) {
        let lost: Vec<TxKind> = self.txs.drain(..).map(|t| t.kind).collect();
        for kind in lost {
            self.on_tx_timeout(now, kind);
        }
        if self.state == DeviceState::Registered {
            self.fail(now, None, None);
        }
    }

    /// A message for this device from `from` (the platform).
    pub fn handle_message(&mut self, now: Instant, wall_ms: i64, msg: Message, from: SocketAddr) {
        if self.state == DeviceState::Unplugged {
            return;
        }
        match msg {
            Message::Response(resp) => self.on_response(now, &resp),
            Message::Request(req) => self.on_request(now, wall_ms, &req, from),
        }
    }

    /// Runs every timer that is due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.state == DeviceState::Unplugged {
            return;
        }
        let mut i = 0;
        while i < self.txs.len() {
            if self.txs[i].deadline <= now {
                let tx = self.txs.swap_remove(i);
                self.on_tx_timeout(now, tx.kind);
                continue;
            }
            let tx = &mut self.txs[i];
            if let Some(at) = tx.retransmit_at
                && at <= now
            {
                self.out.push_back(Output::Transmit {
                    to: self.profile.server,
                    bytes: tx.bytes.clone(),
                });
                tx.interval = (tx.interval * 2).min(T2);
                tx.retransmit_at = Some(now + tx.interval);
            }
            i += 1;
        }
        if due(self.retry_at, now) {
            self.retry_at = None;
            self.set_state(DeviceState::Registering);
            self.send_register(now, self.profile.expires);
        }
        if due(self.refresh_at, now) {
            self.refresh_at = None;
            self.send_register(now, self.profile.expires);
        }
        if due(self.expires_at, now) {
            // The refresh never got through: the registration lapsed.
            self.registration_gone();
            self.set_state(DeviceState::Registering);
            if !self.register_in_flight() {
                self.send_register(now, self.profile.expires);
            }
        }
        if due(self.next_keepalive, now) {
            self.next_keepalive = Some(now + self.profile.keepalive);
            self.send_keepalive(now);
        }
        self.call_timers(now);
        let cutoff = now;
        self.served.retain(|s| s.until > cutoff);
    }

    /// The next time [`Device::handle_timeout`] has work, if any.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.state == DeviceState::Unplugged {
            return None;
        }
        let txs = self
            .txs
            .iter()
            .map(|t| t.retransmit_at.map_or(t.deadline, |r| r.min(t.deadline)));
        txs.chain(self.retry_at)
            .chain(self.refresh_at)
            .chain(self.expires_at)
            .chain(self.next_keepalive)
            .chain(self.call_timeout())
            .min()
    }

    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    fn set_state(&mut self, to: DeviceState) {
        if self.state != to {
            let from = std::mem::replace(&mut self.state, to);
            self.event(Event::State { from, to });
        }
    }

    fn event(&mut self, e: Event) {
        self.out.push_back(Output::Event(e));
    }

    /// Forget the registration: no refresh, no keepalive.
    fn registration_gone(&mut self) {
        self.expires_at = None;
        self.refresh_at = None;
        self.next_keepalive = None;
        self.keepalive_timeouts = 0;
        self.txs
            .retain(|t| !matches!(t.kind, TxKind::Register { .. } | TxKind::Keepalive));
    }

    fn register_in_flight(&self) -> bool {
        self.txs
            .iter()
            .any(|t| matches!(t.kind, TxKind::Register { .. }))
    }

    fn branch(&mut self) -> String {
        ids::new_branch(self.rng.random())
    }

    fn via(&self, branch: &str) -> String {
        format!(
            "SIP/2.0/{} {};rport;branch={branch}",
            self.profile.transport.via_token(),
            self.local
        )
    }

    fn send_register(&mut self, now: Instant, expires: u32) {
        // One REGISTER at a time: a new one replaces what is in flight.
        self.txs
            .retain(|t| !matches!(t.kind, TxKind::Register { .. }));
        self.reg_cseq = self.reg_cseq.wrapping_add(1).max(1);
        let branch = self.branch();
        let p = self.profile.clone();
        let mut req = Request::new(Method::Register, p.server_uri.clone());
        let aor = format!("<sip:{}@{}>", self.id, p.domain);
        let h = &mut req.headers;
        h.push("Via", self.via(&branch));
        h.push("From", format!("{aor};tag={}", self.reg_from_tag));
        h.push("To", aor);
        h.push("Call-ID", self.reg_call_id.clone());
        h.push("CSeq", format!("{} REGISTER", self.reg_cseq));
        h.push("Contact", format!("<sip:{}@{}>", self.id, self.local));
        h.push("Max-Forwards", "70");
        h.push("User-Agent", USER_AGENT);
        h.push("Expires", expires.to_string());
        // Credentials from the last challenge go along with refreshes and unregisters, as
        // most devices do; a stale or foreign nonce just earns a new challenge.
        if let Some(ch) = self.challenge.clone() {
            self.nc += 1;
            match digest::authorize(
                &ch,
                "REGISTER",
                &p.server_uri_text,
                self.id.as_str(),
                &self.password,
                &self.cnonce,
                self.nc,
            ) {
                Ok(v) => req.headers.push("Authorization", v),
                Err(_) => self.challenge = None,
            }
        }
        self.start_tx(now, TxKind::Register { expires }, branch, req.to_bytes());
    }

    fn send_message(&mut self, now: Instant, kind: TxKind, body: Vec<u8>) {
        self.msg_cseq = self.msg_cseq.wrapping_add(1).max(1);
        let branch = self.branch();
        let p = self.profile.clone();
        let mut req = Request::new(Method::Message, p.server_uri.clone());
        let tag = ids::new_tag(self.rng.random());
        let call_id = ids::new_call_id(self.rng.random(), Some(&self.local.ip().to_string()));
        let h = &mut req.headers;
        h.push("Via", self.via(&branch));
        h.push("From", format!("<sip:{}@{}>;tag={tag}", self.id, p.domain));
        h.push("To", format!("<sip:{}@{}>", p.server_id, p.domain));
        h.push("Call-ID", call_id);
        h.push("CSeq", format!("{} MESSAGE", self.msg_cseq));
        h.push("Max-Forwards", "70");
        h.push("User-Agent", USER_AGENT);
        req.set_body("Application/MANSCDP+xml", body);
        self.start_tx(now, kind, branch, req.to_bytes());
    }

    fn send_keepalive(&mut self, now: Instant) {
        if !self.keepalives_on || self.state != DeviceState::Registered {
            return;
        }
        let in_flight = self
            .txs
            .iter()
            .filter(|t| t.kind == TxKind::Keepalive)
            .count();
        if in_flight >= MAX_KEEPALIVES_IN_FLIGHT
            && let Some(pos) = self.txs.iter().position(|t| t.kind == TxKind::Keepalive)
        {
            self.txs.remove(pos);
            self.on_tx_timeout(now, TxKind::Keepalive);
            if self.state != DeviceState::Registered {
                return;
            }
        }
        self.sn = self.sn.wrapping_add(1);
        let body = answers::keepalive_body(self.sn, &self.id, self.profile.charset);
        self.send_message(now, TxKind::Keepalive, body);
        self.event(Event::KeepaliveSent);
    }

    fn start_tx(&mut self, now: Instant, kind: TxKind, branch: String, bytes: Vec<u8>) {
        let bytes = Bytes::from(bytes);
        self.out.push_back(Output::Transmit {
            to: self.profile.server,
            bytes: bytes.clone(),
        });
        let udp = self.profile.transport == SimTransport::Udp;
        self.txs.push(ClientTx {
            branch,
            kind,
            bytes,
            interval: T1,
            retransmit_at: udp.then(|| now + T1),
            deadline: now + TIMER_F,
        });
    }

    fn on_response(&mut self, now: Instant, resp: &Response) {
        let Ok(via) = resp.headers.top_via() else {
            return;
        };
        let Some(pos) = via
            .branch()
            .and_then(|b| self.txs.iter().position(|t| t.branch == b))
        else {
            return; // late, retransmitted, or for a transaction we dropped
        };
        let code = resp.status.code();
        if code < 200 {
            // Proceeding: keep retransmitting, but only every T2 (§17.1.2.2).
            let tx = &mut self.txs[pos];
            tx.interval = T2;
            if tx.retransmit_at.is_some() {
                tx.retransmit_at = Some(now + T2);
            }
            return;
        }
        let tx = self.txs.swap_remove(pos);
        match tx.kind {
            TxKind::Register { expires } => self.on_register_response(now, expires, resp),
            TxKind::Keepalive => self.on_keepalive_response(now, code),
            TxKind::Notify => self.on_notify_response(code),
            TxKind::Report if code >= 300 => self.event(Event::ReportFailed { status: Some(code) }),
            TxKind::Report | TxKind::Bye => {}
        }
    }

    fn on_register_response(&mut self, now: Instant, asked: u32, resp: &Response) {
        let code = resp.status.code();
        match code {
            200..=299 => {
                self.auth_tries = 0;
                self.failures = 0;
                let granted = resp
                    .headers
                    .expires()
                    .or_else(|| resp.headers.contact().ok().flatten()?.expires())
                    .unwrap_or(asked);
                if asked == 0 || granted == 0 {
                    self.registration_gone();
                    self.set_state(DeviceState::Unregistered);
                    self.event(Event::Unregistered);
                    return;
                }
                let was_registered = self.state == DeviceState::Registered;
                let life = Duration::from_secs(granted.into());
                self.expires_at = Some(now + life);
                self.refresh_at = Some(now + life * 4 / 5);
                self.retry_at = None;
                self.set_state(DeviceState::Registered);
                self.event(Event::Registered { expires: granted });
                if !was_registered && self.keepalives_on {
                    // Devices announce themselves with a keepalive right after registering.
                    self.next_keepalive = Some(now);
                }
            }
            401 | 407 => {
                let challenge = if code == 401 {
                    resp.headers.www_authenticate()
                } else {
                    resp.headers.proxy_authenticate()
                };
                let Ok(Some(ch)) = challenge else {
                    return self.register_refused(now, asked, code, None);
                };
                self.auth_tries += 1;
                let stale = ch.stale();
                self.event(Event::Challenged { stale });
                if self.auth_tries > MAX_AUTH_TRIES {
                    return self.register_refused(now, asked, code, None);
                }
                self.challenge = Some(ch);
                self.nc = 0;
                self.cnonce = ids::new_tag(self.rng.random());
                self.send_register(now, asked);
            }
            423 => match resp
                .headers
                .get("Min-Expires")
                .and_then(|v| v.trim().parse::<u32>().ok())
            {
                Some(min) if min > asked => self.send_register(now, min),
                _ => self.register_refused(now, asked, code, None),
            },
            _ => {
                let retry_after = resp
                    .headers
                    .get("Retry-After")
                    .and_then(|v| v.split(';').next()?.trim().parse::<u64>().ok())
                    .map(Duration::from_secs);
                self.register_refused(now, asked, code, retry_after);
            }
        }
    }

    fn register_refused(&mut self, now: Instant, asked: u32, code: u16, retry: Option<Duration>) {
        if asked == 0 {
            // Refused to unregister: consider ourselves gone all the same.
            self.event(Event::RegisterFailed { status: code });
            self.set_state(DeviceState::Unregistered);
            return;
        }
        self.fail(now, Some(code), retry);
    }

    /// Registration failed: report, forget credentials, retry after a back-off.
    fn fail(&mut self, now: Instant, status: Option<u16>, retry_after: Option<Duration>) {
        self.failures = self.failures.saturating_add(1);
        self.challenge = None;
        self.auth_tries = 0;
        self.registration_gone();
        self.set_state(DeviceState::Failed);
        self.event(match status {
            Some(status) => Event::RegisterFailed { status },
            None => Event::RegisterTimedOut,
        });
        let backoff = retry_after.unwrap_or_else(|| {
            let factor = 1u32 << (self.failures - 1).min(3);
            // ±20% so a crowd refused together does not come back together.
            let jitter = self.rng.random_range(0.8..1.2);
            (self.profile.retry * factor).mul_f64(jitter)
        });
        self.retry_at = Some(now + backoff);
    }

    fn on_keepalive_response(&mut self, now: Instant, code: u16) {
        self.event(Event::KeepaliveAnswered { status: code });
        if (200..300).contains(&code) {
            self.keepalive_timeouts = 0;
        } else if matches!(code, 401 | 403 | 404) && self.state == DeviceState::Registered {
            // The platform does not know us (any more): register again at once.
            self.registration_gone();
            self.challenge = None;
            self.auth_tries = 0;
            self.set_state(DeviceState::Registering);
            self.send_register(now, self.profile.expires);
        }
    }

    fn on_tx_timeout(&mut self, now: Instant, kind: TxKind) {
        match kind {
            TxKind::Register { expires: 0 } => {
                self.event(Event::RegisterTimedOut);
                self.set_state(DeviceState::Unregistered);
            }
            TxKind::Register { .. } => self.fail(now, None, None),
            TxKind::Keepalive => {
                self.event(Event::KeepaliveTimedOut);
                self.keepalive_timeouts += 1;
                if self.keepalive_timeouts >= KEEPALIVE_TIMEOUTS_TO_REREGISTER
                    && self.state == DeviceState::Registered
                {
                    self.registration_gone();
                    self.set_state(DeviceState::Registering);
                    self.send_register(now, self.profile.expires);
                }
            }
            TxKind::Report => self.event(Event::ReportFailed { status: None }),
            TxKind::Notify => self.on_notify_timeout(),
            TxKind::Bye => {}
        }
    }

    fn on_request(&mut self, now: Instant, wall_ms: i64, req: &Request, from: SocketAddr) {
        let Ok(via) = req.headers.top_via() else {
            return; // no way to answer
        };
        let branch = via.branch().unwrap_or_default().to_owned();
        if let Some(s) = self
            .served
            .iter()
            .find(|s| !branch.is_empty() && s.branch == branch && s.method == req.method)
        {
            // A retransmission: the same answer again, and nothing done twice.
            self.out.push_back(Output::Transmit {
                to: s.to,
                bytes: s.bytes.clone(),
            });
            return;
        }
        let to = vigil_sip::routing::response_address(&via, from);
        match req.method {
            Method::Message => self.on_message(now, wall_ms, req, to, branch),
            Method::Options => self.respond(now, req, 200, "", to, branch),
            Method::Ack => self.on_ack(req),
            Method::Invite => self.on_invite(now, req, to, from, branch),
            Method::Bye => self.on_bye(now, req, to, branch),
            Method::Subscribe => self.on_subscribe(now, req, to, branch),
            _ => self.respond(now, req, 405, "", to, branch),
        }
    }

    fn respond(
        &mut self,
        now: Instant,
        req: &Request,
        code: u16,
        reason: &str,
        to: SocketAddr,
        branch: String,
    ) {
        let tag = ids::new_tag(self.rng.random());
        let mut resp = Response::for_request(req, code, reason).with_to_tag(&tag);
        resp.headers.push("User-Agent", USER_AGENT);
        if code == 405 {
            resp.headers
                .push("Allow", "MESSAGE, OPTIONS, INVITE, ACK, BYE");
        }
        let bytes = Bytes::from(resp.to_bytes());
        self.out.push_back(Output::Transmit {
            to,
            bytes: bytes.clone(),
        });
        if self.profile.transport == SimTransport::Udp && !branch.is_empty() {
            if self.served.len() >= MAX_SERVED {
                self.served.pop_front();
            }
            self.served.push_back(Served {
                branch,
                method: req.method.clone(),
                to,
                bytes,
                until: now + TIMER_J,
            });
        }
    }

    fn on_message(
        &mut self,
        now: Instant,
        wall_ms: i64,
        req: &Request,
        to: SocketAddr,
        branch: String,
    ) {
        let manscdp = req
            .headers
            .content_type()
            .ok()
            .flatten()
            .is_some_and(|ct| ct.is("application", "manscdp+xml"));
        if !manscdp {
            return self.respond(now, req, 415, "", to, branch);
        }
        let msg = match vigil_gb::parse_body(&req.body) {
            Ok((msg, _)) => msg,
            Err(vigil_gb::XmlError::Invalid { path, .. }) if path.ends_with("/PTZCmd") => {
                return self.respond(now, req, 400, "Bad PTZCmd", to, branch);
            }
            Err(_) => return self.respond(now, req, 400, "Bad MANSCDP body", to, branch),
        };
        if let Manscdp::DeviceControl(c) = &msg
            && let Some(cmd) = c.ptz_cmd
            && self.owns(&c.device_id)
        {
            return self.on_ptz(now, req, to, branch, c.device_id, cmd);
        }
        self.respond(now, req, 200, "", to, branch);
        self.event(Event::MessageReceived {
            root: msg.root(),
            cmd_type: msg.cmd_type().to_owned(),
        });
        let cs = self.profile.charset;
        let bodies = match msg {
            Manscdp::CatalogQuery(q) => self.catalog_answer(q.sn),
            Manscdp::DeviceInfoQuery(q) if self.owns(&q.device_id) => {
                vec![answers::device_info_body(
                    q.sn,
                    &q.device_id,
                    self.channels.len(),
                    cs,
                )]
            }
            Manscdp::DeviceStatusQuery(q) if self.owns(&q.device_id) => {
                let time = crate::platform::gb_date(wall_ms);
                let time = time.split('.').next().unwrap_or_default();
                vec![answers::device_status_body(q.sn, &q.device_id, time, cs)]
            }
            Manscdp::DeviceControl(c) if c.iframe_cmd.is_some() && self.owns(&c.device_id) => {
                self.key_frame_request(&c.device_id);
                Vec::new()
            }
            // Other controls and notifications are acknowledged; acting on them comes later.
            _ => Vec::new(),
        };
        let bodies = self.unless_muted(bodies);
        for body in bodies {
            self.send_message(now, TxKind::Report, body);
            self.event(Event::ReportSent);
        }
    }
}

const USER_AGENT: &str = concat!("vigil-sim/", env!("CARGO_PKG_VERSION"));

fn due(t: Option<Instant>, now: Instant) -> bool {
    t.is_some_and(|t| t <= now)
}

#[cfg(test)]
#[path = "device_tests.rs"]
mod tests;
