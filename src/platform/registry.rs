//! The device registry: the one owner of registration and online state.
//!
//! One task handles REGISTER (digest challenge, verification, expiry clamping, failure
//! blocking), keepalives and the deadlines that take devices offline (registration expiry,
//! missed keepalives). Every change is written to the store (registrations durably, before
//! the 200 OK goes out) and published on the event bus. Others ask it through [`Registry`];
//! the endpoint hands it REGISTERs without waiting, and it answers them through their
//! [`Responder`].

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use vigil_gb::DeviceId;
use vigil_sip::digest::{Credential, DigestServer, Verdict};
use vigil_sip::{Request, Response};

use super::endpoint::Responder;
use super::events::{EventBus, EventKind, OfflineReason};
use super::{gb_date, unix_ms};
use crate::config::SipConfig;
use crate::store::writer::{StateWrite, StoreWriter};
use crate::store::{DeviceRecord, RegistrationRow, Store};
use crate::transport::{Peer, Proto};

/// Where and how to reach a registered device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceRoute {
    pub peer: Peer,
    /// The Contact URI of its registration.
    pub contact: String,
}

/// What the registry says about a MESSAGE's sender.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeepaliveVerdict {
    /// Registered; last-seen updated.
    Ok,
    /// Not registered (never, or its registration lapsed): the device must register again.
    NotRegistered,
}

enum Cmd {
    Register {
        req: Box<Request>,
        peer: Peer,
        responder: Responder,
    },
    Seen {
        device_id: DeviceId,
        peer: Peer,
        keepalive: bool,
        reply: oneshot::Sender<KeepaliveVerdict>,
    },
    Keepalive {
        device_id: DeviceId,
        req: Box<Request>,
        peer: Peer,
        responder: Responder,
    },
    Route {
        device_id: DeviceId,
        reply: oneshot::Sender<Option<DeviceRoute>>,
    },
    Reload {
        device_id: DeviceId,
        reply: oneshot::Sender<()>,
    },
    Online {
        reply: oneshot::Sender<Vec<DeviceId>>,
    },
    Remove {
        device_id: DeviceId,
        reply: oneshot::Sender<Result<bool, crate::store::StoreError>>,
    },
}

/// Handle to the registry task; cheap to clone.
#[derive(Debug, Clone)]
pub struct Registry {
    tx: mpsc::Sender<Cmd>,
}

impl std::fmt::Debug for Cmd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Cmd::Register { .. } => "Register",
            Cmd::Seen { .. } => "Seen",
            Cmd::Keepalive { .. } => "Keepalive",
            Cmd::Route { .. } => "Route",
            Cmd::Reload { .. } => "Reload",
            Cmd::Online { .. } => "Online",
            Cmd::Remove { .. } => "Remove",
        })
    }
}

impl Registry {
    /// Loads devices from the store, reconciles their state and starts the task.
    pub async fn start(
        config: Arc<SipConfig>,
        store: Store,
        writer: StoreWriter,
        events: EventBus,
        stop: CancellationToken,
    ) -> Result<Registry, crate::store::StoreError> {
        let mut state = State::new(config, store.clone(), writer, events);
        let rows = store.list_devices().await?;
        state.restore(rows, Instant::now(), unix_ms()).await;
        let (tx, rx) = mpsc::channel(8192);
        tokio::spawn(state.run(rx, stop));
        Ok(Registry { tx })
    }

    /// Hands a REGISTER to the registry, which answers it through `responder` (a successful
    /// registration once it is durably stored). Never waits: when the registry's queue is
    /// full, or the registry stopped, the request comes back to be answered 503.
    pub fn register(
        &self,
        req: Request,
        peer: Peer,
        responder: Responder,
    ) -> Result<(), Box<Request>> {
        let cmd = Cmd::Register {
            req: Box::new(req),
            peer,
            responder,
        };
        match self.tx.try_send(cmd) {
            Ok(()) => Ok(()),
            Err(
                mpsc::error::TrySendError::Full(Cmd::Register { req, .. })
                | mpsc::error::TrySendError::Closed(Cmd::Register { req, .. }),
            ) => Err(req),
            Err(_) => unreachable!("the command sent was a Register"),
        }
    }

    /// Hands a keepalive MESSAGE from `device_id` to the registry, which answers it through
    /// `responder` (200, or 403 when the device is not registered). Never waits: when the
    /// registry's queue is full, or the registry stopped, the request comes back for a 503.
    pub fn keepalive(
        &self,
        device_id: DeviceId,
        req: Request,
        peer: Peer,
        responder: Responder,
    ) -> Result<(), Box<Request>> {
        let cmd = Cmd::Keepalive {
            device_id,
            req: Box::new(req),
            peer,
            responder,
        };
        match self.tx.try_send(cmd) {
            Ok(()) => Ok(()),
            Err(
                mpsc::error::TrySendError::Full(Cmd::Keepalive { req, .. })
                | mpsc::error::TrySendError::Closed(Cmd::Keepalive { req, .. }),
            ) => Err(req),
            Err(_) => unreachable!("the command sent was a Keepalive"),
        }
    }

    /// A keepalive (or, with `keepalive == false`, any other MESSAGE) from `device_id`.
    pub async fn seen(&self, device_id: DeviceId, peer: Peer, keepalive: bool) -> KeepaliveVerdict {
        let (reply, wait) = oneshot::channel();
        let cmd = Cmd::Seen {
            device_id,
            peer,
            keepalive,
            reply,
        };
        if self.tx.send(cmd).await.is_err() {
            return KeepaliveVerdict::NotRegistered;
        }
        wait.await.unwrap_or(KeepaliveVerdict::NotRegistered)
    }

    /// How to reach a registered device, if it is.
    pub async fn route(&self, device_id: DeviceId) -> Option<DeviceRoute> {
        let (reply, wait) = oneshot::channel();
        self.tx.send(Cmd::Route { device_id, reply }).await.ok()?;
        wait.await.ok().flatten()
    }

    /// Re-reads one device from the store (after the API created, changed or removed it).
    pub async fn reload(&self, device_id: DeviceId) {
        let (reply, wait) = oneshot::channel();
        if self.tx.send(Cmd::Reload { device_id, reply }).await.is_ok() {
            let _ = wait.await;
        }
    }

    /// Removes a device for good: offline (`device_offline`, reason `removed`), forgotten,
    /// and deleted from the store with its channels, in the registry's order of events, so
    /// a REGISTER handled before is not written back after the delete and one handled after
    /// is a new device's. `Ok(false)` when the store did not have it.
    pub async fn remove(&self, device_id: DeviceId) -> Result<bool, crate::store::StoreError> {
        let (reply, wait) = oneshot::channel();
        self.tx
            .send(Cmd::Remove { device_id, reply })
            .await
            .map_err(|_| crate::store::StoreError::WriterGone)?;
        wait.await
            .map_err(|_| crate::store::StoreError::WriterGone)?
    }

    /// The devices online right now.
    pub async fn online(&self) -> Vec<DeviceId> {
        let (reply, wait) = oneshot::channel();
        if self.tx.send(Cmd::Online { reply }).await.is_err() {
            return Vec::new();
        }
        wait.await.unwrap_or_default()
    }
}

#[derive(Debug)]
struct Registration {
    peer: Peer,
    contact: String,
    call_id: String,
    expires_at: Instant,
    /// Which REGISTER made it (0 for one restored from the store).
    seq: u64,
}

#[derive(Debug, Default)]
struct Device {
    /// Present in the store (provisioned or registered before).
    known: bool,
    password: Option<String>,
    online: bool,
    /// `DeviceOnline` was published and no `DeviceOffline` since. A registration is online
    /// at once (keepalives, routes) but announced only once it is durably stored, so whoever
    /// reacts to `DeviceOnline` finds the device's row.
    announced: bool,
    reg: Option<Registration>,
    /// Offline when no keepalive by then.
    keepalive_deadline: Option<Instant>,
    /// Bumped on every change; heap entries with an older generation are stale.
    generation: u64,
}

#[derive(Debug, Default)]
struct Failures {
    window_start: Option<Instant>,
    count: u32,
    blocked_until: Option<Instant>,
}

/// Keys failed authentications are counted by.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum FailKey {
    Device(DeviceId),
    Addr(IpAddr),
}

/// A registration on its way to the store, with its answer.
type Commit = Pin<Box<dyn Future<Output = Committed> + Send>>;

struct Committed {
    result: Result<(), crate::store::StoreError>,
    resp: Response,
    responder: Responder,
    announce: Announce,
}

/// An authenticated registration, applied in memory, to be stored and then announced.
struct Accepted {
    row: RegistrationRow,
    announce: Announce,
}

struct Announce {
    id: DeviceId,
    seq: u64,
    /// `DeviceOnline` or `DeviceReregistered`, as the device stood when it registered.
    event: EventKind,
}

struct State {
    config: Arc<SipConfig>,
    digest: DigestServer,
    store: Store,
    writer: StoreWriter,
    events: EventBus,
    devices: HashMap<DeviceId, Device>,
    deadlines: BinaryHeap<Reverse<(Instant, u64, DeviceId)>>,
    failures: HashMap<FailKey, Failures>,
    last_prune: Instant,
    /// Registrations being written; each is answered and announced when its write is durable.
    committing: FuturesUnordered<Commit>,
    /// Numbers registrations, so a failed write undoes only its own.
    registrations: u64,
}

/// Upper bound on tracked failure counters (a spray of random IDs cannot grow memory).
const MAX_FAILURE_ENTRIES: usize = 100_000;

impl State {
    fn new(config: Arc<SipConfig>, store: Store, writer: StoreWriter, events: EventBus) -> State {
        let secret: [u8; 32] = rand::random();
        let digest = DigestServer::new(&secret, config.realm(), config.nonce_ttl);
        State {
            config,
            digest,
            store,
            writer,
            events,
            devices: HashMap::new(),
            deadlines: BinaryHeap::new(),
            failures: HashMap::new(),
            last_prune: Instant::now(),
            committing: FuturesUnordered::new(),
            registrations: 0,
        }
    }

    /// Rebuilds the cache from the store. A device still within its registration stays
    /// online and gets one keepalive period of grace to prove it; the rest go offline now.
    async fn restore(&mut self, rows: Vec<DeviceRecord>, now: Instant, now_ms: i64) {
        let (mut kept, mut dropped) = (0usize, 0usize);
        for row in rows {
            let Ok(id) = row.device_id.parse::<DeviceId>() else {
                tracing::warn!(
                    device_id = row.device_id,
                    "store holds a malformed device ID; ignored"
                );
                continue;
            };
            let mut dev = Device {
                known: true,
                password: row.password.as_ref().map(|p| p.0.clone()),
                ..Device::default()
            };
            let expires_ms = row
                .registered_at
                .zip(row.expires)
                .map(|(at, e)| at + e * 1000);
            let route = (|| {
                let proto = match row.transport.as_deref()? {
                    "tcp" => Proto::Tcp,
                    _ => Proto::Udp,
                };
                Some(Peer {
                    proto,
                    remote: row.source_addr.as_deref()?.parse().ok()?,
                    local: row.local_addr.as_deref()?.parse().ok()?,
                    conn: None,
                })
            })();
            match (row.online, expires_ms, route) {
                (true, Some(until), Some(peer)) if until > now_ms => {
                    dev.online = true;
                    // Online before the restart; its DeviceOffline is due when it goes.
                    dev.announced = true;
                    dev.reg = Some(Registration {
                        peer,
                        contact: row.contact.clone().unwrap_or_default(),
                        call_id: String::new(),
                        expires_at: now + Duration::from_millis((until - now_ms) as u64),
                        seq: 0,
                    });
                    dev.keepalive_deadline = Some(now + self.config.keepalive_deadline());
                    kept += 1;
                }
                (true, ..) => {
                    let _ = self
                        .writer
                        .write(StateWrite::Offline {
                            device_id: row.device_id.clone(),
                            at: now_ms,
                        })
                        .await;
                    self.events.publish(
                        now_ms,
                        EventKind::DeviceOffline {
                            device_id: row.device_id.clone(),
                            reason: OfflineReason::RegistrationExpired,
                        },
                    );
                    dropped += 1;
                }
                _ => {}
            }
            self.devices.insert(id, dev);
            self.schedule(id);
        }
        tracing::info!(
            devices = self.devices.len(),
            still_registered = kept,
            expired = dropped,
            "device registry restored"
        );
    }

    async fn run(mut self, mut rx: mpsc::Receiver<Cmd>, stop: CancellationToken) {
        loop {
            let next = self.deadlines.peek().map(|Reverse((t, _, _))| *t);
            tokio::select! {
                _ = stop.cancelled() => return,
                cmd = rx.recv() => match cmd {
                    Some(cmd) => self.handle(cmd).await,
                    None => return,
                },
                Some(done) = self.committing.next(), if !self.committing.is_empty() => {
                    self.committed(done).await;
                }
                _ = sleep_until_opt(next) => self.expire(Instant::now()).await,
            }
        }
    }

    /// A registration's write finished: it is announced and its 200 OK goes out now, or a 500
    /// if it could not be stored (the device will retry; it must not believe it is
    /// registered, and a device never announced goes back offline).
    async fn committed(&mut self, done: Committed) {
        let Committed {
            result,
            resp,
            responder,
            announce,
        } = done;
        match result {
            Ok(()) => {
                self.announce(announce);
                responder.respond(resp).await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot store registration; answering 500");
                let id = announce.id;
                if let Some(d) = self.devices.get_mut(&id)
                    && !d.announced
                    && d.reg.as_ref().is_some_and(|r| r.seq == announce.seq)
                {
                    d.online = false;
                    d.reg = None;
                    d.keepalive_deadline = None;
                    self.schedule(id);
                }
                let mut err = resp;
                err.status = 500.into();
                err.reason = "Database unavailable".into();
                err.headers.remove("Expires");
                responder.respond(err).await;
            }
        }
    }

    /// Publishes a stored registration: `DeviceOnline` if the device is not announced yet
    /// (whatever it was when it registered: an earlier registration's write may have failed),
    /// `DeviceReregistered` if it is; nothing if it went offline or was removed meanwhile.
    fn announce(&mut self, announce: Announce) {
        let Announce { id, event, .. } = announce;
        let Some(d) = self.devices.get_mut(&id) else {
            return;
        };
        let Some(reg) = d.reg.as_ref().filter(|_| d.online) else {
            return;
        };
        let event = if !d.announced {
            d.announced = true;
            EventKind::DeviceOnline {
                device_id: id.to_string(),
                transport: reg.peer.proto.to_string(),
                address: reg.peer.remote.to_string(),
            }
        } else if matches!(event, EventKind::DeviceReregistered { .. }) {
            event
        } else {
            return;
        };
        self.events.publish(unix_ms(), event);
    }

    async fn handle(&mut self, cmd: Cmd) {
        match cmd {
            Cmd::Register {
                req,
                peer,
                responder,
            } => {
                let (resp, accepted) = self.register(*req, peer).await;
                let Some(Accepted { row, announce }) = accepted else {
                    responder.respond(resp).await;
                    return;
                };
                let writer = self.writer.clone();
                let mut commit: Commit = Box::pin(async move {
                    let result = writer.write_durable(StateWrite::Registered(row)).await;
                    Committed {
                        result,
                        resp,
                        responder,
                        announce,
                    }
                });
                // Polled once now, so the write is queued in the order commands are handled
                // (a later write for the same device must not overtake it); the rest of the
                // wait runs in `run`'s loop, not in a task of its own.
                match poll_once(&mut commit).await {
                    Poll::Ready(done) => self.committed(done).await,
                    Poll::Pending => self.committing.push(commit),
                }
            }
            Cmd::Seen {
                device_id,
                peer,
                keepalive,
                reply,
            } => {
                let v = self.seen(device_id, peer, keepalive).await;
                let _ = reply.send(v);
            }
            Cmd::Keepalive {
                device_id,
                req,
                peer,
                responder,
            } => {
                let resp = match self.seen(device_id, peer, true).await {
                    KeepaliveVerdict::Ok => Response::for_request(&req, 200, "OK"),
                    KeepaliveVerdict::NotRegistered => {
                        super::endpoint::not_registered(&req, &device_id, &peer)
                    }
                };
                responder.respond(resp).await;
            }
            Cmd::Route { device_id, reply } => {
                let r = self.devices.get(&device_id).and_then(|d| {
                    let reg = d.reg.as_ref().filter(|_| d.online)?;
                    Some(DeviceRoute {
                        peer: reg.peer,
                        contact: reg.contact.clone(),
                    })
                });
                let _ = reply.send(r);
            }
            Cmd::Reload { device_id, reply } => {
                self.reload(device_id).await;
                let _ = reply.send(());
            }
            Cmd::Online { reply } => {
                let ids = self
                    .devices
                    .iter()
                    .filter(|(_, d)| d.online)
                    .map(|(id, _)| *id)
                    .collect();
                let _ = reply.send(ids);
            }
            Cmd::Remove { device_id, reply } => {
                self.set_offline(device_id, OfflineReason::Removed).await;
                self.devices.remove(&device_id);
                // Registrations queued before must land before the delete, not after it.
                let removed = match self.writer.flush().await {
                    Ok(()) => self.store.delete_device(device_id.as_str()).await,
                    Err(e) => Err(e),
                };
                let _ = reply.send(removed);
            }
        }
    }

    /// Pushes the device's next deadline on the heap.
    fn schedule(&mut self, id: DeviceId) {
        let Some(d) = self.devices.get_mut(&id) else {
            return;
        };
        d.generation += 1;
        if !d.online {
            return;
        }
        let reg_deadline = d.reg.as_ref().map(|r| r.expires_at);
        let deadline = match (reg_deadline, d.keepalive_deadline) {
            (Some(a), Some(b)) => a.min(b),
            (a, b) => match a.or(b) {
                Some(t) => t,
                None => return,
            },
        };
        self.deadlines.push(Reverse((deadline, d.generation, id)));
    }

    async fn expire(&mut self, now: Instant) {
        while let Some(Reverse((t, generation, id))) = self.deadlines.peek().copied() {
            if t > now {
                break;
            }
            self.deadlines.pop();
            let Some(d) = self.devices.get(&id) else {
                continue;
            };
            if d.generation != generation || !d.online {
                continue;
            }
            let reason = match &d.reg {
                Some(r) if r.expires_at <= now => OfflineReason::RegistrationExpired,
                _ => OfflineReason::KeepaliveTimeout,
            };
            self.set_offline(id, reason).await;
        }
        if now.duration_since(self.last_prune) > Duration::from_secs(30) {
            self.prune_failures(now);
        }
    }

    async fn set_offline(&mut self, id: DeviceId, reason: OfflineReason) {
        let Some(d) = self.devices.get_mut(&id) else {
            return;
        };
        let was_online = d.online;
        // A registration still on its way to the store was never announced: no
        // DeviceOffline without a DeviceOnline before it.
        let announced = std::mem::take(&mut d.announced);
        d.online = false;
        if reason != OfflineReason::KeepaliveTimeout {
            d.reg = None;
        }
        d.keepalive_deadline = None;
        self.schedule(id);
        if !was_online {
            return;
        }
        let now_ms = unix_ms();
        tracing::info!(device_id = %id, ?reason, "device offline");
        let _ = self
            .writer
            .write(StateWrite::Offline {
                device_id: id.to_string(),
                at: now_ms,
            })
            .await;
        if announced {
            self.events.publish(
                now_ms,
                EventKind::DeviceOffline {
                    device_id: id.to_string(),
                    reason,
                },
            );
        }
    }

    /// The API created, changed or deleted the device: take its password and existence
    /// from the store; a deleted device goes offline.
    async fn reload(&mut self, id: DeviceId) {
        let _ = self.writer.flush().await;
        match self.store.get_device(id.as_str()).await {
            Ok(Some(row)) => {
                let d = self.devices.entry(id).or_default();
                d.known = true;
                d.password = row.password.map(|p| p.0);
            }
            Ok(None) => {
                self.set_offline(id, OfflineReason::Removed).await;
                self.devices.remove(&id);
            }
            Err(e) => tracing::error!(device_id = %id, error = %e, "cannot reload device"),
        }
    }

    async fn seen(&mut self, id: DeviceId, peer: Peer, keepalive: bool) -> KeepaliveVerdict {
        let now = Instant::now();
        let deadline = self.config.keepalive_deadline();
        let Some(d) = self.devices.get_mut(&id) else {
            return KeepaliveVerdict::NotRegistered;
        };
        let Some(reg) = d.reg.as_mut().filter(|r| r.expires_at > now) else {
            return KeepaliveVerdict::NotRegistered;
        };
        // A TCP device's MESSAGE may come on a new connection: follow it.
        if peer.proto == reg.peer.proto {
            reg.peer.conn = peer.conn.or(reg.peer.conn);
        }
        if keepalive {
            d.keepalive_deadline = Some(now + deadline);
        }
        let revived = !d.online;
        d.online = true;
        d.announced |= revived;
        self.schedule(id);
        let now_ms = unix_ms();
        self.writer.last_seen(id.as_str(), now_ms);
        if revived {
            // Registration still valid, keepalives resumed after a timeout.
            tracing::info!(device_id = %id, "device back online (keepalive)");
            let _ = self
                .writer
                .write(StateWrite::Online {
                    device_id: id.to_string(),
                    at: now_ms,
                })
                .await;
            self.events.publish(
                now_ms,
                EventKind::DeviceOnline {
                    device_id: id.to_string(),
                    transport: peer.proto.to_string(),
                    address: peer.remote.to_string(),
                },
            );
        }
        KeepaliveVerdict::Ok
    }

    fn blocked(&self, id: &DeviceId, ip: IpAddr, now: Instant) -> bool {
        [FailKey::Device(*id), FailKey::Addr(ip)].iter().any(|k| {
            self.failures
                .get(k)
                .and_then(|f| f.blocked_until)
                .is_some_and(|until| until > now)
        })
    }

    fn record_failure(&mut self, id: DeviceId, ip: IpAddr, now: Instant) {
        if self.failures.len() >= MAX_FAILURE_ENTRIES {
            self.prune_failures(now);
        }
        let (window, block) = (self.config.auth_fail_window, self.config.auth_block);
        for key in [FailKey::Device(id), FailKey::Addr(ip)] {
            let limit = match key {
                FailKey::Device(_) => self.config.auth_fail_limit.max(1),
                FailKey::Addr(_) => self.config.auth_fail_limit_address.max(1),
            };
            if self.failures.len() >= MAX_FAILURE_ENTRIES && !self.failures.contains_key(&key) {
                continue;
            }
            let f = self.failures.entry(key.clone()).or_default();
            if f.window_start
                .is_none_or(|s| now.duration_since(s) > window)
            {
                f.window_start = Some(now);
                f.count = 0;
            }
            f.count += 1;
            if f.count >= limit && f.blocked_until.is_none_or(|u| u <= now) {
                f.blocked_until = Some(now + block);
                tracing::warn!(key = ?key, failures = f.count, block_s = block.as_secs(), "authentication failures: blocking");
            }
        }
    }

    fn prune_failures(&mut self, now: Instant) {
        let window = self.config.auth_fail_window;
        self.failures.retain(|_, f| {
            f.blocked_until.is_some_and(|u| u > now)
                || f.window_start
                    .is_some_and(|s| now.duration_since(s) <= window)
        });
        self.last_prune = now;
    }

    /// Answers a REGISTER. An authenticated one is applied in memory at once and comes back
    /// as [`Accepted`] with its 200 OK, which goes out (and is announced) once stored.
    async fn register(&mut self, req: Request, peer: Peer) -> (Response, Option<Accepted>) {
        let now = Instant::now();
        let now_ms = unix_ms();
        let aor = match req.headers.to() {
            Ok(to) => to.uri.user.as_deref().map(str::to_owned),
            Err(e) => {
                return (
                    Response::for_request(&req, 400, &format!("Bad To: {}", e.why)),
                    None,
                );
            }
        };
        let Some(id) = aor.as_deref().and_then(|u| u.parse::<DeviceId>().ok()) else {
            tracing::info!(remote = %peer.remote, aor = ?aor, "REGISTER with a To user that is not a 20-digit device ID");
            return (
                Response::for_request(&req, 400, "To user is not a GB28181 device ID"),
                None,
            );
        };
        if self.blocked(&id, peer.remote.ip(), now) {
            tracing::debug!(device_id = %id, remote = %peer.remote, "REGISTER refused: blocked after failures");
            return (
                Response::for_request(&req, 403, "Blocked after repeated authentication failures"),
                None,
            );
        }
        let known = self.devices.get(&id).is_some_and(|d| d.known);
        if !known && !self.config.allow_unknown_devices {
            tracing::warn!(device_id = %id, remote = %peer.remote, "REGISTER from a device not in the store refused (allow_unknown_devices = false)");
            self.record_failure(id, peer.remote.ip(), now);
            return (Response::for_request(&req, 403, "Unknown device"), None);
        }
        let auth = match req.headers.authorization() {
            Ok(a) => a,
            Err(e) => {
                return (
                    Response::for_request(&req, 400, &format!("Bad Authorization: {}", e.why)),
                    None,
                );
            }
        };
        let Some(auth) = auth else {
            return (self.challenge(&req, now_ms, false), None);
        };
        if auth.username() != Some(id.as_str()) {
            tracing::warn!(device_id = %id, username = ?auth.username(), remote = %peer.remote, "REGISTER credentials for another user");
            self.record_failure(id, peer.remote.ip(), now);
            return (
                Response::for_request(&req, 403, "Username does not match the device ID"),
                None,
            );
        }
        let password = self
            .devices
            .get(&id)
            .and_then(|d| d.password.clone())
            .unwrap_or_else(|| self.config.password.expose().to_owned());
        match self.digest.verify(
            &auth,
            req.method.as_str(),
            Credential::Password(&password),
            now_ms as u64,
        ) {
            Verdict::Ok => {}
            Verdict::Stale => return (self.challenge(&req, now_ms, true), None),
            Verdict::Invalid(why) => {
                use vigil_sip::digest::Rejection;
                if matches!(why, Rejection::BadNonce | Rejection::WrongRealm) {
                    // Not our nonce (e.g. from before a restart): challenge again.
                    return (self.challenge(&req, now_ms, false), None);
                }
                tracing::warn!(device_id = %id, remote = %peer.remote, reason = %why, "REGISTER authentication failed");
                self.record_failure(id, peer.remote.ip(), now);
                return (Response::for_request(&req, 403, "Wrong credentials"), None);
            }
        }

        // Authenticated.
        let contact = req.headers.contact().ok().flatten();
        let requested = req
            .headers
            .expires()
            .or_else(|| contact.as_ref().and_then(|c| c.expires()));
        let contact_s = req.headers.get("Contact").unwrap_or_default().to_owned();
        let call_id = req.headers.call_id().unwrap_or_default().to_owned();
        if requested == Some(0) {
            self.set_offline(id, OfflineReason::Unregistered).await;
            if let Err(e) = self.writer.flush().await {
                tracing::error!(error = %e, "store unavailable while unregistering");
            }
            let mut resp = Response::for_request(&req, 200, "OK").with_to_tag(&tag());
            resp.headers.push("Expires", "0");
            resp.headers.push("Date", gb_date(now_ms));
            tracing::info!(device_id = %id, remote = %peer.remote, "device unregistered");
            return (resp, None);
        }
        let granted = requested
            .map(|s| Duration::from_secs(s.into()))
            .unwrap_or(self.config.register_expires_default)
            .clamp(
                self.config.register_expires_min,
                self.config.register_expires_max,
            );

        let deadline = self.config.keepalive_deadline();
        let dev = self.devices.entry(id).or_default();
        let was_online = dev.online;
        let address_changed = dev
            .reg
            .as_ref()
            .is_some_and(|r| r.peer.remote != peer.remote);
        let reboot = dev.reg.as_ref().is_some_and(|r| r.call_id != call_id);
        dev.online = true;
        dev.known = true;
        self.registrations += 1;
        let seq = self.registrations;
        dev.reg = Some(Registration {
            peer,
            contact: contact_s.clone(),
            call_id,
            expires_at: now + granted,
            seq,
        });
        dev.keepalive_deadline = Some(now + deadline);
        self.schedule(id);

        let row = RegistrationRow {
            device_id: id.to_string(),
            transport: peer.proto.to_string(),
            contact: contact_s,
            source_addr: peer.remote.to_string(),
            local_addr: peer.local.to_string(),
            expires: granted.as_secs() as i64,
            registered_at: now_ms,
        };
        let (event, log_first) = if !was_online {
            (
                EventKind::DeviceOnline {
                    device_id: id.to_string(),
                    transport: peer.proto.to_string(),
                    address: peer.remote.to_string(),
                },
                true,
            )
        } else {
            (
                EventKind::DeviceReregistered {
                    device_id: id.to_string(),
                    address: peer.remote.to_string(),
                    address_changed,
                },
                address_changed || reboot,
            )
        };
        if log_first {
            tracing::info!(device_id = %id, remote = %peer.remote, proto = %peer.proto, expires = granted.as_secs(), address_changed, "device registered");
        }

        let mut resp = Response::for_request(&req, 200, "OK").with_to_tag(&tag());
        if let Some(c) = req.headers.get("Contact") {
            resp.headers.push("Contact", c.to_owned());
        }
        resp.headers.push("Expires", granted.as_secs().to_string());
        resp.headers.push("Date", gb_date(now_ms));
        // Durable before the 200 and the event (see `handle`): a device told it is
        // registered is registered after a crash, and DeviceOnline finds its row.
        let announce = Announce { id, seq, event };
        (resp, Some(Accepted { row, announce }))
    }

    fn challenge(&self, req: &Request, now_ms: i64, stale: bool) -> Response {
        let mut resp = Response::for_request(req, 401, "Unauthorized").with_to_tag(&tag());
        resp.headers.push(
            "WWW-Authenticate",
            self.digest.challenge(now_ms as u64, stale),
        );
        resp
    }
}

fn tag() -> String {
    vigil_sip::ids::new_tag(rand::random())
}

/// Polls `fut` once in the current task.
async fn poll_once<F: Future + Unpin>(fut: &mut F) -> Poll<F::Output> {
    std::future::poll_fn(|cx| Poll::Ready(Pin::new(&mut *fut).poll(cx))).await
}

async fn sleep_until_opt(t: Option<Instant>) {
    match t {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}
