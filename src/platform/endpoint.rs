//! The SIP endpoint: takes every inbound message from the transport, absorbs retransmitted
//! requests (the server side of RFC 3261 §17.2: the cached final response is sent again,
//! the application sees the request once), and routes requests by method and MANSCDP
//! command to the registry and, later, catalog and live sessions.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use vigil_gb::manscdp::Manscdp;
use vigil_sip::{Message, Method, Request, Response};

use super::registry::{KeepaliveVerdict, Registry};
use crate::config::SipConfig;
use crate::transport::{Inbound, Peer, Proto, SipSender};

/// How long a final response is kept for retransmitted requests (Timer J, 64*T1).
const ABSORB_UDP: Duration = Duration::from_secs(32);
/// Entries in the absorption table before new requests are refused with 503.
const MAX_SERVER_TRANSACTIONS: usize = 200_000;

/// Identifies a server transaction (RFC 3261 §17.2.3; RFC 2543 fallback when the branch
/// lacks the magic cookie).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum ServerKey {
    Branch {
        branch: String,
        sent_by: String,
        method: Method,
    },
    Legacy {
        call_id: String,
        cseq: String,
        from_tag: String,
        via: String,
    },
}

fn server_key(req: &Request) -> Option<ServerKey> {
    let via = req.headers.top_via().ok()?;
    // ACK for a non-2xx belongs to the INVITE's transaction; CANCEL has its own.
    let method = match req.method {
        Method::Ack => Method::Invite,
        ref m => m.clone(),
    };
    match via.branch() {
        Some(b) if via.has_rfc3261_branch() => Some(ServerKey::Branch {
            branch: b.to_owned(),
            sent_by: format!("{}:{}", via.host, via.port.unwrap_or(5060)),
            method,
        }),
        _ => Some(ServerKey::Legacy {
            call_id: req.headers.call_id().ok()?.to_owned(),
            cseq: req.headers.get("CSeq")?.to_owned(),
            from_tag: req
                .headers
                .from()
                .ok()?
                .tag()
                .unwrap_or_default()
                .to_owned(),
            via: req.headers.get("Via")?.to_owned(),
        }),
    }
}

enum Absorb {
    /// Being handled; a retransmission is dropped.
    InProgress,
    /// Answered; a retransmission gets these bytes again.
    Completed { bytes: Bytes, until: Instant },
}

/// Handle for sending requests to devices (catalog queries, INVITE) lands here later.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub sender: SipSender,
}

struct Task {
    config: Arc<SipConfig>,
    sender: SipSender,
    registry: Registry,
    absorb: HashMap<ServerKey, Absorb>,
    done_tx: mpsc::Sender<(ServerKey, Peer, Response)>,
}

/// Starts the endpoint task.
pub fn spawn(
    config: Arc<SipConfig>,
    inbound: mpsc::Receiver<Inbound>,
    sender: SipSender,
    registry: Registry,
    stop: CancellationToken,
) -> Endpoint {
    let (done_tx, done_rx) = mpsc::channel(8192);
    let task = Task {
        config,
        sender: sender.clone(),
        registry,
        absorb: HashMap::new(),
        done_tx,
    };
    tokio::spawn(task.run(inbound, done_rx, stop));
    Endpoint { sender }
}

impl Task {
    async fn run(
        mut self,
        mut inbound: mpsc::Receiver<Inbound>,
        mut done: mpsc::Receiver<(ServerKey, Peer, Response)>,
        stop: CancellationToken,
    ) {
        let mut prune = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                Some(inb) = inbound.recv() => self.on_inbound(inb).await,
                Some((key, peer, resp)) = done.recv() => self.complete(key, peer, resp).await,
                _ = prune.tick() => {
                    let now = Instant::now();
                    self.absorb.retain(|_, a| match a {
                        Absorb::InProgress => true,
                        Absorb::Completed { until, .. } => *until > now,
                    });
                }
            }
        }
    }

    async fn on_inbound(&mut self, inb: Inbound) {
        match inb.msg {
            Message::Request(req) => self.on_request(req, inb.peer).await,
            Message::Response(resp) => {
                tracing::debug!(status = resp.status.code(), remote = %inb.peer.remote, "response with no client transaction");
            }
        }
    }

    async fn on_request(&mut self, req: Request, peer: Peer) {
        let Some(key) = server_key(&req) else {
            // parse() guarantees Via/CSeq/Call-ID; this is unreachable in practice.
            return;
        };
        match self.absorb.get(&key) {
            Some(Absorb::InProgress) => return,
            Some(Absorb::Completed { bytes, .. }) => {
                if req.method != Method::Ack {
                    let bytes = bytes.clone();
                    let to = response_peer(&req, peer);
                    let _ = self.sender.send(&to, bytes, false).await;
                }
                return;
            }
            None => {}
        }
        if req.method == Method::Ack {
            return; // ACK for a 2xx we never sent, or after the transaction ended.
        }
        if self.absorb.len() >= MAX_SERVER_TRANSACTIONS {
            let mut resp = Response::for_request(&req, 503, "Overloaded");
            resp.headers.push("Retry-After", "5");
            self.send_response(&req, peer, resp).await;
            return;
        }
        self.absorb.insert(key.clone(), Absorb::InProgress);
        let done = self.done_tx.clone();
        match req.method {
            Method::Register => {
                let registry = self.registry.clone();
                tokio::spawn(async move {
                    let resp = registry
                        .register(req.clone(), peer)
                        .await
                        .unwrap_or_else(|| Response::for_request(&req, 503, "Shutting down"));
                    let _ = done.send((key, response_peer(&req, peer), resp)).await;
                });
            }
            Method::Message => {
                let registry = self.registry.clone();
                let config = self.config.clone();
                tokio::spawn(async move {
                    let resp = on_message(&config, &registry, &req, peer).await;
                    let _ = done.send((key, response_peer(&req, peer), resp)).await;
                });
            }
            Method::Options => {
                let mut resp = Response::for_request(&req, 200, "OK");
                resp.headers.push(
                    "Allow",
                    "REGISTER, MESSAGE, OPTIONS, ACK, BYE, INFO, NOTIFY",
                );
                self.complete(key, response_peer(&req, peer), resp).await;
            }
            Method::Other(ref m) => {
                tracing::debug!(method = m, remote = %peer.remote, "unknown SIP method");
                let mut resp = Response::for_request(&req, 501, "Not Implemented");
                resp.headers.push(
                    "Allow",
                    "REGISTER, MESSAGE, OPTIONS, ACK, BYE, INFO, NOTIFY",
                );
                self.complete(key, response_peer(&req, peer), resp).await;
            }
            _ => {
                tracing::debug!(method = %req.method.as_str(), remote = %peer.remote, "SIP method not handled yet");
                let mut resp = Response::for_request(&req, 405, "Method Not Allowed");
                resp.headers.push(
                    "Allow",
                    "REGISTER, MESSAGE, OPTIONS, ACK, BYE, INFO, NOTIFY",
                );
                self.complete(key, response_peer(&req, peer), resp).await;
            }
        }
    }

    async fn complete(&mut self, key: ServerKey, to: Peer, resp: Response) {
        let bytes = Bytes::from(resp.to_bytes());
        if resp.status.is_final() {
            let keep = if to.proto == Proto::Udp {
                ABSORB_UDP
            } else {
                Duration::ZERO
            };
            if keep.is_zero() {
                self.absorb.remove(&key);
            } else {
                self.absorb.insert(
                    key,
                    Absorb::Completed {
                        bytes: bytes.clone(),
                        until: Instant::now() + keep,
                    },
                );
            }
        }
        if let Err(e) = self.sender.send(&to, bytes, false).await {
            tracing::debug!(remote = %to.remote, error = %e, "cannot send response");
        }
    }

    async fn send_response(&mut self, req: &Request, peer: Peer, resp: Response) {
        let to = response_peer(req, peer);
        let _ = self
            .sender
            .send(&to, Bytes::from(resp.to_bytes()), false)
            .await;
    }
}

/// Where a response goes: the same connection for TCP; for UDP the Via's received/rport
/// (RFC 3261 §18.2.2, RFC 3581), which for NATed devices is the packet's source.
fn response_peer(req: &Request, peer: Peer) -> Peer {
    if peer.proto == Proto::Tcp {
        return peer;
    }
    match req.headers.top_via() {
        Ok(via) => Peer {
            remote: vigil_sip::routing::response_address(&via, peer.remote),
            ..peer
        },
        Err(_) => peer,
    }
}

/// A MESSAGE from a device: MANSCDP in GB2312/GBK/GB18030/UTF-8.
async fn on_message(
    _config: &SipConfig,
    registry: &Registry,
    req: &Request,
    peer: Peer,
) -> Response {
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
        return Response::for_request(
            req,
            415,
            "Unsupported Media Type (expected Application/MANSCDP+xml)",
        );
    }
    let (msg, _charset) = match vigil_gb::parse_body(&req.body) {
        Ok(m) => m,
        Err(e) => {
            tracing::warn!(device = from_user.as_deref().unwrap_or("?"), remote = %peer.remote, error = %e, "bad MANSCDP body");
            return Response::for_request(req, 400, &format!("Bad MANSCDP: {e}"));
        }
    };
    let sender_id = from_user
        .as_deref()
        .and_then(|u| u.parse::<vigil_gb::DeviceId>().ok());
    match msg {
        Manscdp::Keepalive(k) => {
            // The device is the From user; the body's DeviceID names the same device.
            let id = sender_id.unwrap_or(k.device_id);
            match registry.seen(id, peer, true).await {
                KeepaliveVerdict::Ok => Response::for_request(req, 200, "OK"),
                KeepaliveVerdict::NotRegistered => not_registered(req, &id, &peer),
            }
        }
        other => {
            let Some(id) = sender_id else {
                return Response::for_request(req, 400, "From user is not a GB28181 device ID");
            };
            match registry.seen(id, peer, false).await {
                KeepaliveVerdict::Ok => {
                    tracing::debug!(device_id = %id, msg = ?std::mem::discriminant(&other), "MANSCDP message not handled yet");
                    Response::for_request(req, 200, "OK")
                }
                KeepaliveVerdict::NotRegistered => not_registered(req, &id, &peer),
            }
        }
    }
}

/// A MESSAGE from a device that is not registered gets 403: it tells the device we know
/// it and refuse until it registers (devices re-register on it), where 401 would ask it to
/// authenticate this MESSAGE and 404 reads as "wrong server".
fn not_registered(req: &Request, id: &vigil_gb::DeviceId, peer: &Peer) -> Response {
    tracing::info!(device_id = %id, remote = %peer.remote, "MESSAGE from a device that is not registered: 403");
    Response::for_request(req, 403, "Not registered")
}
