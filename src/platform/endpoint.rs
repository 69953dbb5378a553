//! The SIP endpoint: one task drives vigil-sip's sans-IO [`TransactionLayer`] with the
//! messages the transport delivers, the requests and responses the platform sends, and the
//! layer's timers. It routes new requests by method (REGISTER to the registry, MESSAGE by
//! MANSCDP command, in-dialog requests to whoever registered for them) and resolves the
//! platform's outgoing requests with their final response.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::task::Poll;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use vigil_gb::DeviceId;
use vigil_gb::charset::Charset;
use vigil_gb::manscdp::Manscdp;
use vigil_sip::transaction::{Timers, TransactionKey, TransactionLayer, TxEvent};
use vigil_sip::uri::Uri;
use vigil_sip::{Message, Method, Request, Response};

use super::registry::{KeepaliveVerdict, Registry};
use crate::config::SipConfig;
use crate::metrics::SipMetrics;
use crate::transport::udp::UdpReceiver;
use crate::transport::{Inbound, Peer, Proto, SipSender};

const ALLOW: &str = "REGISTER, MESSAGE, OPTIONS, INVITE, ACK, BYE, CANCEL, INFO, NOTIFY, SUBSCRIBE";

/// A MANSCDP message a device sent (other than Keepalive), already answered 200 OK.
#[derive(Debug, Clone)]
pub struct ManscdpInbound {
    pub device_id: DeviceId,
    pub msg: Manscdp,
    pub charset: Charset,
    pub peer: Peer,
}

/// A request for a component that registered for its method (BYE, INFO, NOTIFY ...). The
/// component must answer through `responder` (dropping it answers 500).
#[derive(Debug)]
pub struct InboundRequest {
    pub request: Request,
    pub peer: Peer,
    pub responder: Responder,
}

/// Answers one server transaction.
#[derive(Debug)]
pub struct Responder {
    key: TransactionKey,
    peer: Peer,
    tx: mpsc::Sender<Cmd>,
    /// Sent if the responder is dropped unanswered.
    fallback: Option<Response>,
    /// A REGISTER's: a 403 counts as an authentication failure.
    register: bool,
}

impl Responder {
    pub async fn respond(mut self, resp: Response) {
        self.fallback = None;
        let _ = self.tx.send(self.cmd(resp)).await;
    }

    fn cmd(&self, resp: Response) -> Cmd {
        Cmd::Respond {
            key: self.key,
            peer: self.peer,
            resp,
            register: self.register,
        }
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        if let Some(resp) = self.fallback.take() {
            // Best effort; the layer gives up on the transaction anyway after 64*T1.
            let _ = self.tx.try_send(self.cmd(resp));
        }
    }
}

/// Why an outgoing request got no final response.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum RequestError {
    #[error("no response from the device (timeout)")]
    Timeout,
    #[error("cannot reach the device: {0}")]
    Transport(String),
    #[error("request refused by the SIP layer: {0}")]
    Invalid(String),
    #[error("the SIP endpoint is shutting down")]
    Closed,
}

enum Cmd {
    Respond {
        key: TransactionKey,
        peer: Peer,
        resp: Response,
        register: bool,
    },
    Request {
        req: Request,
        peer: Peer,
        reply: oneshot::Sender<Result<Response, RequestError>>,
        /// For INVITE: every further 2xx retransmission goes here so the caller can re-ACK.
        provisional: Option<mpsc::Sender<Response>>,
    },
    Stateless {
        peer: Peer,
        msg: Message,
    },
    Cancel {
        invite: Box<Request>,
    },
}

impl std::fmt::Debug for Cmd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Cmd::Respond { .. } => "Respond",
            Cmd::Request { .. } => "Request",
            Cmd::Stateless { .. } => "Stateless",
            Cmd::Cancel { .. } => "Cancel",
        })
    }
}

type Routes = Arc<RwLock<HashMap<Method, mpsc::Sender<InboundRequest>>>>;

/// Handle to the endpoint task; cheap to clone.
#[derive(Debug, Clone)]
pub struct Endpoint {
    tx: mpsc::Sender<Cmd>,
    routes: Routes,
    manscdp: Arc<RwLock<Option<mpsc::Sender<ManscdpInbound>>>>,
    config: Arc<SipConfig>,
    pub sender: SipSender,
    /// Messages by method and status, auth failures (for /metrics).
    pub metrics: Arc<SipMetrics>,
}

impl Endpoint {
    /// Sends a request (a new client transaction) and waits for its final response.
    pub async fn request(&self, req: Request, peer: Peer) -> Result<Response, RequestError> {
        let (reply, wait) = oneshot::channel();
        self.tx
            .send(Cmd::Request {
                req,
                peer,
                reply,
                provisional: None,
            })
            .await
            .map_err(|_| RequestError::Closed)?;
        wait.await.map_err(|_| RequestError::Closed)?
    }

    /// Sends an INVITE; resolves with the final response, and afterwards passes every
    /// retransmitted 2xx to `retransmits` (re-ACK them through the dialog).
    pub async fn invite(
        &self,
        req: Request,
        peer: Peer,
        retransmits: mpsc::Sender<Response>,
    ) -> Result<Response, RequestError> {
        let (reply, wait) = oneshot::channel();
        self.tx
            .send(Cmd::Request {
                req,
                peer,
                reply,
                provisional: Some(retransmits),
            })
            .await
            .map_err(|_| RequestError::Closed)?;
        wait.await.map_err(|_| RequestError::Closed)?
    }

    /// Cancels an INVITE sent with [`Self::invite`] that has no final response yet: the
    /// platform gave up on it (RFC 3261 §9.1). The CANCEL goes out once the device has
    /// answered provisionally; `invite` then resolves with the final response, normally 487
    /// (ACKed here), or a 2xx that crossed the CANCEL, which the caller must ACK and BYE.
    pub async fn cancel(&self, invite: &Request) {
        let invite = Box::new(invite.clone());
        let _ = self.tx.send(Cmd::Cancel { invite }).await;
    }

    /// Sends a message outside any transaction (ACK for a 2xx).
    pub async fn send_stateless(&self, peer: Peer, msg: impl Into<Message>) {
        let _ = self
            .tx
            .send(Cmd::Stateless {
                peer,
                msg: msg.into(),
            })
            .await;
    }

    /// Routes new requests of `method` to `tx` (e.g. BYE to live sessions).
    pub fn route(&self, method: Method, tx: mpsc::Sender<InboundRequest>) {
        self.routes
            .write()
            .expect("routes poisoned")
            .insert(method, tx);
    }

    /// Routes MANSCDP messages from registered devices (catalog, device info ...) to `tx`.
    pub fn route_manscdp(&self, tx: mpsc::Sender<ManscdpInbound>) {
        *self.manscdp.write().expect("routes poisoned") = Some(tx);
    }

    /// A new out-of-dialog request from the platform to a device: Via from the address the
    /// device reached us on, From = the platform's ID with a new tag, To = `to`, new
    /// Call-ID, CSeq 1, Max-Forwards 70.
    pub fn new_request(
        &self,
        method: Method,
        request_uri: Uri,
        to: &DeviceId,
        peer: &Peer,
    ) -> Request {
        let c = &self.config;
        let mut req = Request::new(method.clone(), request_uri);
        let branch = vigil_sip::ids::new_branch(rand::random());
        req.headers.push(
            "Via",
            format!(
                "SIP/2.0/{} {};rport;branch={branch}",
                peer.proto.via_token(),
                peer.local
            ),
        );
        req.headers.push(
            "From",
            format!(
                "<sip:{}@{}>;tag={}",
                c.server_id,
                c.domain,
                vigil_sip::ids::new_tag(rand::random())
            ),
        );
        req.headers.push("To", format!("<sip:{to}@{}>", c.domain));
        req.headers.push(
            "Call-ID",
            vigil_sip::ids::new_call_id(rand::random(), Some(&peer.local.ip().to_string())),
        );
        req.headers.push("CSeq", format!("1 {}", method.as_str()));
        req.headers.push("Max-Forwards", "70");
        req.headers
            .push("User-Agent", concat!("vigil/", env!("CARGO_PKG_VERSION")));
        req
    }

    /// The platform's Contact URI as seen on `peer`'s local address.
    pub fn contact(&self, peer: &Peer) -> String {
        let t = match peer.proto {
            Proto::Udp => "",
            Proto::Tcp => ";transport=tcp",
        };
        format!("<sip:{}@{}{t}>", self.config.server_id, peer.local)
    }
}

struct Pending {
    reply: Option<oneshot::Sender<Result<Response, RequestError>>>,
    retransmits: Option<mpsc::Sender<Response>>,
}

/// Datagrams read per wake-up before commands, timers and the drain get a turn.
const UDP_BATCH: usize = 64;
/// Commands taken per wake-up, likewise.
const CMD_BATCH: usize = 64;

struct Task {
    layer: TransactionLayer<Peer>,
    sender: SipSender,
    /// The SIP UDP socket, read by this task itself: a datagram goes from the socket through
    /// the parser into the layer without a hop through another task.
    udp: Option<UdpReceiver>,
    registry: Registry,
    routes: Routes,
    manscdp: Arc<RwLock<Option<mpsc::Sender<ManscdpInbound>>>>,
    pending: HashMap<TransactionKey, Pending>,
    cmd_tx: mpsc::Sender<Cmd>,
    metrics: Arc<SipMetrics>,
}

/// Starts the endpoint task. It reads the UDP socket of `sender` itself; `inbound` brings
/// the messages of TCP connections.
pub fn spawn(
    config: Arc<SipConfig>,
    inbound: mpsc::Receiver<Inbound>,
    sender: SipSender,
    registry: Registry,
    stop: CancellationToken,
) -> Endpoint {
    let (cmd_tx, cmd_rx) = mpsc::channel(16_384);
    let routes: Routes = Arc::default();
    let manscdp = Arc::new(RwLock::new(None));
    let mut tx_config = vigil_sip::transaction::Config::new(Timers::default());
    tx_config.max_server_transactions = 200_000;
    let metrics = Arc::new(SipMetrics::default());
    let udp = sender
        .udp_socket()
        .and_then(|s| match UdpReceiver::new(s, sender.clone()) {
            Ok(r) => Some(r),
            Err(e) => {
                tracing::error!(error = %e, "SIP UDP socket unusable; UDP is off");
                None
            }
        });
    let task = Task {
        layer: TransactionLayer::with_config(tx_config),
        sender: sender.clone(),
        udp,
        registry,
        routes: routes.clone(),
        manscdp: manscdp.clone(),
        pending: HashMap::new(),
        cmd_tx: cmd_tx.clone(),
        metrics: metrics.clone(),
    };
    tokio::spawn(task.run(inbound, cmd_rx, stop));
    Endpoint {
        tx: cmd_tx,
        routes,
        manscdp,
        config,
        sender,
        metrics,
    }
}

impl Task {
    async fn run(
        mut self,
        mut inbound: mpsc::Receiver<Inbound>,
        mut cmds: mpsc::Receiver<Cmd>,
        stop: CancellationToken,
    ) {
        loop {
            let deadline = self.layer.poll_timeout();
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = udp_readable(self.udp.as_ref()) => self.read_udp(),
                Some(inb) = inbound.recv() => self.on_inbound(Instant::now().into_std(), inb),
                Some(cmd) = cmds.recv() => {
                    self.on_cmd(cmd);
                    for _ in 1..CMD_BATCH {
                        match cmds.try_recv() {
                            Ok(cmd) => self.on_cmd(cmd),
                            Err(_) => break,
                        }
                    }
                }
                _ = sleep_until_opt(deadline) => self.layer.handle_timeout(Instant::now().into_std()),
            }
            self.drain().await;
        }
    }

    /// Takes the datagrams waiting on the UDP socket, up to a batch.
    fn read_udp(&mut self) {
        let now = Instant::now().into_std();
        for _ in 0..UDP_BATCH {
            let Some(udp) = self.udp.as_mut() else {
                return;
            };
            match udp.try_recv() {
                Poll::Ready(Some(inb)) => self.on_inbound(now, inb),
                Poll::Ready(None) => {}
                Poll::Pending => return,
            }
        }
    }

    fn on_inbound(&mut self, now: std::time::Instant, inb: Inbound) {
        let reliable = inb.peer.proto == Proto::Tcp;
        self.metrics.received(&inb.msg);
        self.layer.handle_message(now, inb.msg, inb.peer, reliable);
    }

    fn on_cmd(&mut self, cmd: Cmd) {
        let now = Instant::now().into_std();
        match cmd {
            Cmd::Respond {
                key,
                peer,
                resp,
                register,
            } => {
                if register && resp.status.code() == 403 {
                    self.metrics.auth_failures.inc();
                }
                self.respond(key, peer, resp);
            }
            Cmd::Request {
                req,
                peer,
                reply,
                provisional,
            } => {
                let reliable = peer.proto == Proto::Tcp;
                match self.layer.send_request(now, req, peer, reliable) {
                    Ok(key) => {
                        self.pending.insert(
                            key,
                            Pending {
                                reply: Some(reply),
                                retransmits: provisional,
                            },
                        );
                    }
                    Err(e) => {
                        let _ = reply.send(Err(RequestError::Invalid(e.to_string())));
                    }
                }
            }
            Cmd::Stateless { peer, msg } => self.layer.send_stateless(peer, msg),
            Cmd::Cancel { invite } => {
                let cancelled = self
                    .layer
                    .client_transaction(&invite)
                    .ok_or("its transaction has ended")
                    .and_then(|key| {
                        self.layer
                            .cancel(now, key)
                            .map_err(|_| "it has its final response")
                    });
                if let Err(why) = cancelled {
                    tracing::debug!(why, "INVITE not cancelled");
                }
            }
        }
    }

    /// Answers server transaction `key` (from this task: no channel hop).
    fn respond(&mut self, key: TransactionKey, peer: Peer, resp: Response) {
        let to = response_peer(&resp, peer);
        if to != peer {
            let _ = self.layer.set_route(key, to);
        }
        if let Err(e) = self
            .layer
            .send_response(Instant::now().into_std(), key, resp)
        {
            tracing::debug!(error = %e, "response for a finished transaction dropped");
        }
    }

    async fn drain(&mut self) {
        loop {
            let mut progressed = false;
            while let Some(t) = self.layer.poll_transmit() {
                progressed = true;
                // Requests to a TCP device may need a new connection (it may have dropped).
                let connect = t.key.is_some_and(|k| self.pending.contains_key(&k));
                self.metrics.sent(&t.data);
                if let Err(e) = self.sender.send(&t.to, t.data, connect).await {
                    tracing::debug!(remote = %t.to.remote, error = %e, "SIP send failed");
                    if let Some(k) = t.key {
                        self.layer.transport_error(k);
                    }
                }
            }
            while let Some(ev) = self.layer.poll_event() {
                progressed = true;
                self.on_event(ev);
            }
            if !progressed {
                return;
            }
        }
    }

    fn on_event(&mut self, ev: TxEvent<Peer>) {
        match ev {
            TxEvent::NewRequest { key, request, from } => self.dispatch(key, request, from),
            TxEvent::Cancel {
                key,
                request,
                from,
                invite,
            } => {
                let status = if invite.is_some() { 200 } else { 481 };
                self.respond(key, from, Response::for_request(&request, status, ""));
            }
            TxEvent::Ack { .. } => {}
            // An INVITE's entry stays for its 2xx retransmissions until its transaction
            // ends (Timer M); without this every live session would leave one behind.
            TxEvent::Terminated { key } => {
                self.pending.remove(&key);
            }
            TxEvent::Response { key, response } => {
                if !response.status.is_final() {
                    return;
                }
                let Some(p) = self.pending.get_mut(&key) else {
                    return;
                };
                if let Some(reply) = p.reply.take() {
                    let _ = reply.send(Ok(response));
                } else if let Some(r) = &p.retransmits {
                    let _ = r.try_send(response);
                }
                if p.retransmits.is_none() {
                    self.pending.remove(&key);
                }
            }
            TxEvent::StrayResponse { response, from } => {
                tracing::debug!(status = response.status.code(), remote = %from.remote, "response matching no transaction");
            }
            TxEvent::Timeout { key, cause } => {
                if let Some(p) = self.pending.remove(&key)
                    && let Some(reply) = p.reply
                {
                    tracing::debug!(%key, ?cause, "request timed out");
                    let _ = reply.send(Err(RequestError::Timeout));
                }
            }
            TxEvent::TransportError { key } => {
                if let Some(p) = self.pending.remove(&key)
                    && let Some(reply) = p.reply
                {
                    let _ = reply.send(Err(RequestError::Transport("send failed".into())));
                }
            }
            TxEvent::Overloaded { request, from } => {
                let mut resp = Response::for_request(&request, 503, "Overloaded");
                resp.headers.push("Retry-After", "5");
                let to = response_peer(&resp, from);
                self.layer.send_stateless(to, resp);
            }
            TxEvent::BadRequest {
                request,
                from,
                error,
            } => {
                tracing::warn!(remote = %from.remote, header = error.name, why = error.why, "bad request");
                if request.method != Method::Ack && request.headers.contains("Via") {
                    let resp = Response::for_request(
                        &request,
                        400,
                        &format!("Bad {}: {}", error.name, error.why),
                    );
                    let to = response_peer(&resp, from);
                    self.layer.send_stateless(to, resp);
                }
            }
        }
    }

    fn responder(&self, key: TransactionKey, peer: Peer, fallback: Option<Response>) -> Responder {
        Responder {
            key,
            peer,
            tx: self.cmd_tx.clone(),
            fallback,
            register: false,
        }
    }

    fn dispatch(&mut self, key: TransactionKey, req: Request, peer: Peer) {
        match req.method {
            Method::Register => {
                // The registry answers through the responder, straight into our command
                // queue; it never makes this task wait.
                let mut responder = self.responder(key, peer, None);
                responder.register = true;
                if let Err(req) = self.registry.register(req, peer, responder) {
                    let mut resp = Response::for_request(&req, 503, "Busy");
                    resp.headers.push("Retry-After", "5");
                    self.respond(key, peer, resp);
                }
            }
            Method::Message => {
                let (sender, msg, charset) = match read_message(&req, &peer) {
                    Ok(m) => m,
                    Err(resp) => return self.respond(key, peer, resp),
                };
                if let Manscdp::Keepalive(k) = &msg {
                    // The bulk of a large site's traffic: like REGISTER, straight to the
                    // registry, which answers through the responder. The device is the From
                    // user; the body's DeviceID names the same device.
                    let id = sender.unwrap_or(k.device_id);
                    let responder = self.responder(key, peer, None);
                    if let Err(req) = self.registry.keepalive(id, req, peer, responder) {
                        let mut resp = Response::for_request(&req, 503, "Busy");
                        resp.headers.push("Retry-After", "5");
                        self.respond(key, peer, resp);
                    }
                    return;
                }
                let Some(id) = sender else {
                    let resp =
                        Response::for_request(&req, 400, "From user is not a GB28181 device ID");
                    return self.respond(key, peer, resp);
                };
                let registry = self.registry.clone();
                let manscdp = self.manscdp.read().expect("routes poisoned").clone();
                let responder = self.responder(key, peer, None);
                tokio::spawn(async move {
                    let resp = on_manscdp(&registry, manscdp, &req, peer, id, msg, charset).await;
                    responder.respond(resp).await;
                });
            }
            Method::Options => {
                let mut resp = Response::for_request(&req, 200, "OK");
                resp.headers.push("Allow", ALLOW);
                self.respond(key, peer, resp);
            }
            ref m => {
                let route = self.routes.read().expect("routes poisoned").get(m).cloned();
                match route {
                    Some(tx) => {
                        let fallback = Some(Response::for_request(&req, 500, "Unhandled"));
                        let inb = InboundRequest {
                            responder: self.responder(key, peer, fallback),
                            request: req,
                            peer,
                        };
                        if let Err(
                            mpsc::error::TrySendError::Full(inb)
                            | mpsc::error::TrySendError::Closed(inb),
                        ) = tx.try_send(inb)
                        {
                            let mut responder = inb.responder;
                            responder.fallback = None;
                            self.respond(
                                key,
                                peer,
                                Response::for_request(&inb.request, 503, "Busy"),
                            );
                        }
                    }
                    None => {
                        let (status, reason) = match m {
                            Method::Other(_) => (501, "Not Implemented"),
                            // In-dialog requests for dialogs we do not know (RFC 3261 §12.2.2).
                            Method::Bye | Method::Info | Method::Notify => {
                                (481, "Call/Transaction Does Not Exist")
                            }
                            _ => (405, "Method Not Allowed"),
                        };
                        tracing::debug!(method = %m.as_str(), remote = %peer.remote, status, "request not handled");
                        let mut resp = Response::for_request(&req, status, reason);
                        resp.headers.push("Allow", ALLOW);
                        self.respond(key, peer, resp);
                    }
                }
            }
        }
    }
}

async fn udp_readable(udp: Option<&UdpReceiver>) {
    match udp {
        Some(u) => {
            if let Err(e) = u.readable().await {
                tracing::error!(error = %e, "SIP UDP socket failed");
                std::future::pending::<()>().await;
            }
        }
        None => std::future::pending().await,
    }
}

/// Where a response goes: the same connection for TCP; for UDP the Via's received/rport
/// (RFC 3261 §18.2.2, RFC 3581), which for NATed devices is the packet's source.
fn response_peer(resp: &Response, peer: Peer) -> Peer {
    if peer.proto == Proto::Tcp {
        return peer;
    }
    match resp.headers.top_via() {
        Ok(via) => Peer {
            remote: vigil_sip::routing::response_address(&via, peer.remote),
            ..peer
        },
        Err(_) => peer,
    }
}

async fn sleep_until_opt(t: Option<std::time::Instant>) {
    match t {
        Some(t) => tokio::time::sleep_until(Instant::from_std(t)).await,
        None => std::future::pending().await,
    }
}

/// A MESSAGE from a device: MANSCDP in GB2312/GBK/GB18030/UTF-8, read in the endpoint's task.
/// `Err` is the answer when it cannot be taken (not MANSCDP, bad body).
fn read_message(
    req: &Request,
    peer: &Peer,
) -> Result<(Option<DeviceId>, Manscdp, Charset), Response> {
    let from_user = req
        .headers
        .from()
        .ok()
        .and_then(|f| f.uri.user.as_deref().map(str::to_owned));
    let is_manscdp = req
        .headers
        .content_type()
        .ok()
        .flatten()
        .is_some_and(|ct| ct.is("application", "manscdp+xml"));
    if !is_manscdp {
        return Err(Response::for_request(
            req,
            415,
            "Unsupported Media Type (expected Application/MANSCDP+xml)",
        ));
    }
    let (msg, charset) = match vigil_gb::parse_body(&req.body) {
        Ok(m) => m,
        Err(e) => {
            tracing::warn!(device = from_user.as_deref().unwrap_or("?"), remote = %peer.remote, error = %e, "bad MANSCDP body");
            return Err(Response::for_request(
                req,
                400,
                &format!("Bad MANSCDP: {}", e.reason_phrase()),
            ));
        }
    };
    let sender_id = from_user
        .as_deref()
        .and_then(|u| u.parse::<DeviceId>().ok());
    Ok((sender_id, msg, charset))
}

/// A MANSCDP MESSAGE other than a keepalive from device `id`: answered 200 once the catalog
/// component (or whoever took MANSCDP) has it.
async fn on_manscdp(
    registry: &Registry,
    manscdp: Option<mpsc::Sender<ManscdpInbound>>,
    req: &Request,
    peer: Peer,
    id: DeviceId,
    msg: Manscdp,
    charset: Charset,
) -> Response {
    match registry.seen(id, peer, false).await {
        KeepaliveVerdict::Ok => {
            match manscdp {
                Some(tx) => {
                    let inb = ManscdpInbound {
                        device_id: id,
                        msg,
                        charset,
                        peer,
                    };
                    if tx.send_timeout(inb, Duration::from_secs(2)).await.is_err() {
                        tracing::warn!(device_id = %id, "MANSCDP consumer is not keeping up");
                        return Response::for_request(req, 503, "Busy");
                    }
                }
                None => {
                    tracing::debug!(device_id = %id, cmd = msg.cmd_type(), "MANSCDP message not handled")
                }
            }
            Response::for_request(req, 200, "OK")
        }
        KeepaliveVerdict::NotRegistered => not_registered(req, &id, &peer),
    }
}

/// A MESSAGE from a device that is not registered gets 403: it tells the device we know
/// it and refuse until it registers (devices re-register on it), where 401 would ask it to
/// authenticate this MESSAGE and 404 reads as "wrong server".
pub(super) fn not_registered(req: &Request, id: &DeviceId, peer: &Peer) -> Response {
    tracing::info!(device_id = %id, remote = %peer.remote, "MESSAGE from a device that is not registered: 403");
    Response::for_request(req, 403, "Not registered")
}
