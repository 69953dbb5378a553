//! Catalog sync: the one owner of every device's catalog collection and catalog
//! subscription.
//!
//! One task ([`Owner`]) holds the state: the [`Collector`]s of running syncs, the queue of
//! devices waiting for a sync slot (at most `sip.catalog_concurrency` run at once, so a
//! thousand devices registering together do not flood anyone), the subscriptions and their
//! refresh times, and the callers waiting for a DeviceStatus answer. It never waits on the
//! network or the database: each running sync has a worker task (`worker`) that sends the
//! queries and writes progress and results in order, and catalog notifications are applied
//! one after the other by the `notify` task.
//!
//! Triggers: a device coming online (the `DeviceOnline` event, first time or after being
//! offline) gets DeviceInfo and Catalog queries; the API asks for refreshes and DeviceStatus.
//! After its first catalog a device gets a SUBSCRIBE with `Event: Catalog`, refreshed
//! before it expires; a device that refuses is not asked again until it re-registers.
//!
//! Being the one consumer of the endpoint's MANSCDP messages, it also hands alarms and media
//! status notifications to `alarms`, which publishes them as events, and marks channels a
//! keepalive lists as faulty OFF (`faults`).

mod alarms;
mod collector;
mod faults;
mod notify;
mod worker;

pub use collector::{Collected, Collector, MAX_ITEMS, Pushed};

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use vigil_gb::manscdp::{Catalog, DeviceStatus};
use vigil_gb::{Charset, DeviceId, Manscdp};
use vigil_sip::Method;

use super::endpoint::{Endpoint, ManscdpInbound, RequestError};
use super::events::{Event, EventBus, EventKind, SubscriptionState};
use super::registry::{DeviceRoute, Registry};
use super::unix_ms;
use crate::config::SipConfig;
use crate::store::Store;
use crate::store::channels::CatalogState;
use crate::store::writer::StoreWriter;
use worker::{Ctx, SubDialog, SubscribeOutcome, SyncCmd, SyncJob};

/// Why a query to a device got no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    #[error("the device is not online")]
    Offline,
    #[error("the device refused the query: {0} {1}")]
    Refused(u16, String),
    #[error("no answer from the device")]
    Timeout,
    #[error("cannot reach the device: {0}")]
    Transport(String),
    #[error("the catalog service is shutting down")]
    Closed,
}

impl From<RequestError> for QueryError {
    fn from(e: RequestError) -> Self {
        match e {
            RequestError::Timeout => QueryError::Timeout,
            RequestError::Transport(m) | RequestError::Invalid(m) => QueryError::Transport(m),
            RequestError::Closed => QueryError::Closed,
        }
    }
}

/// What a refresh request found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RefreshOutcome {
    /// Waiting for a sync slot (or starting now).
    Queued,
    /// A sync of this device is running already; its result will do.
    Running,
}

enum Cmd {
    Refresh {
        device_id: DeviceId,
        reply: oneshot::Sender<RefreshOutcome>,
    },
    Status {
        device_id: DeviceId,
        reply: oneshot::Sender<Result<DeviceStatus, QueryError>>,
    },
    Remove {
        device_id: DeviceId,
        route: Option<DeviceRoute>,
        reply: oneshot::Sender<bool>,
    },
}

/// Handle to the catalog task; cheap to clone.
#[derive(Debug, Clone)]
pub struct CatalogSync {
    tx: mpsc::Sender<Cmd>,
    query_timeout: Duration,
}

impl std::fmt::Debug for Cmd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Cmd::Refresh { device_id, .. } => write!(f, "Refresh({device_id})"),
            Cmd::Status { device_id, .. } => write!(f, "Status({device_id})"),
            Cmd::Remove { device_id, .. } => write!(f, "Remove({device_id})"),
        }
    }
}

impl CatalogSync {
    /// Queues a catalog sync of `device_id` (which the caller knows to be online).
    pub async fn refresh(&self, device_id: DeviceId) -> Result<RefreshOutcome, QueryError> {
        let (reply, wait) = oneshot::channel();
        self.tx
            .send(Cmd::Refresh { device_id, reply })
            .await
            .map_err(|_| QueryError::Closed)?;
        wait.await.map_err(|_| QueryError::Closed)
    }

    /// Asks the device for its DeviceStatus and waits up to `sip.query_timeout` for the
    /// answer.
    pub async fn device_status(&self, device_id: DeviceId) -> Result<DeviceStatus, QueryError> {
        let (reply, wait) = oneshot::channel();
        self.tx
            .send(Cmd::Status { device_id, reply })
            .await
            .map_err(|_| QueryError::Closed)?;
        match tokio::time::timeout(self.query_timeout, wait).await {
            Ok(Ok(r)) => r,
            Ok(Err(_)) => Err(QueryError::Closed),
            Err(_) => Err(QueryError::Timeout),
        }
    }
}

impl CatalogSync {
    /// Forgets a device that is being removed: its running or queued sync is dropped (no
    /// more writes for it), open DeviceStatus questions fail, and its catalog subscription
    /// is cancelled with a SUBSCRIBE `Expires: 0` over `route` (its route before removal),
    /// answered or not. True when there was a subscription to cancel.
    pub async fn remove(&self, device_id: DeviceId, route: Option<DeviceRoute>) -> bool {
        let (reply, wait) = oneshot::channel();
        let cmd = Cmd::Remove {
            device_id,
            route,
            reply,
        };
        if self.tx.send(cmd).await.is_err() {
            return false;
        }
        wait.await.unwrap_or(false)
    }
}

/// Everything the catalog component talks to.
#[derive(Debug, Clone)]
pub struct Deps {
    pub config: Arc<SipConfig>,
    pub store: Store,
    pub writer: StoreWriter,
    pub endpoint: Endpoint,
    pub registry: Registry,
    pub events: EventBus,
}

/// Starts the catalog task, the NOTIFY handler, and takes over the endpoint's MANSCDP and
/// NOTIFY routes.
pub fn start(deps: Deps, stop: CancellationToken) -> CatalogSync {
    let bus = deps.events.subscribe();
    let (tx, cmds) = mpsc::channel(1024);
    // MESSAGEs wait up to 2 s for room here before the endpoint answers 503; the owner never
    // blocks, so this only fills when the machine is overloaded.
    let (manscdp_tx, manscdp) = mpsc::channel(16_384);
    deps.endpoint.route_manscdp(manscdp_tx);
    let (notify_sip_tx, notify_sip) = mpsc::channel(1024);
    deps.endpoint.route(Method::Notify, notify_sip_tx);
    let (internal_tx, internal) = mpsc::unbounded_channel();
    let query_timeout = deps.config.query_timeout;
    let ctx = Arc::new(Ctx::new(deps));
    let (notify_msg_tx, notify_msg) = mpsc::channel(1024);
    tokio::spawn(notify::run(
        ctx.clone(),
        notify_sip,
        notify_msg,
        internal_tx.clone(),
        stop.clone(),
    ));
    let owner = Owner::new(ctx.clone(), internal_tx.clone(), notify_msg_tx);
    // The devices online before we subscribed to the bus (a restart, or a fast REGISTER).
    tokio::spawn(worker::restore(ctx, internal_tx));
    tokio::spawn(owner.run(cmds, manscdp, bus, internal, stop));
    CatalogSync { tx, query_timeout }
}

/// Messages from workers and helper tasks to the owner.
#[derive(Debug)]
enum Internal {
    /// The Catalog query of sync `generation` got its final response (or none).
    QueryDone {
        device_id: DeviceId,
        generation: u64,
        result: Result<(), QueryError>,
    },
    /// The sync's worker wrote the result and ended.
    SyncDone {
        device_id: DeviceId,
        state: CatalogState,
    },
    SubscribeDone {
        device_id: DeviceId,
        generation: u64,
        outcome: SubscribeOutcome,
    },
    /// A DeviceStatus query could not be delivered.
    StatusFailed {
        device_id: DeviceId,
        sn: u32,
        error: QueryError,
    },
    /// Devices online now, with their stored catalog state (start-up, or after the event
    /// bus lagged).
    Online(Vec<(DeviceId, Option<CatalogState>)>),
    /// The device ended its catalog subscription (NOTIFY with Subscription-State: terminated).
    SubscriptionEnded { device_id: DeviceId },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum JobKind {
    /// Catalog query, with DeviceInfo too when `info`.
    Sync {
        info: bool,
    },
    Subscribe,
}

#[derive(Debug)]
struct Running {
    generation: u64,
    collector: Collector,
    worker: mpsc::UnboundedSender<SyncCmd>,
    /// The query got its 200 OK (until then an empty collection is a failure, not a
    /// partial catalog).
    query_ok: bool,
}

#[derive(Debug)]
struct Subscription {
    dialog: Option<SubDialog>,
    generation: u64,
    /// A SUBSCRIBE for it is queued or in flight.
    busy: bool,
}

struct Owner {
    ctx: Arc<Ctx>,
    internal_tx: mpsc::UnboundedSender<Internal>,
    notify_msg: mpsc::Sender<(DeviceId, Catalog)>,
    limit: usize,
    /// Jobs started and not yet reported done.
    active: usize,
    queue: VecDeque<(DeviceId, JobKind)>,
    queued: HashSet<(DeviceId, JobKind)>,
    syncs: HashMap<DeviceId, Running>,
    subs: HashMap<DeviceId, Subscription>,
    /// Refresh times of subscriptions; entries whose generation moved on are stale.
    refresh_at: BinaryHeap<Reverse<(Instant, u64, DeviceId)>>,
    /// Refused a SUBSCRIBE; not asked again until it comes online anew.
    refused: HashSet<DeviceId>,
    online: HashSet<DeviceId>,
    /// Came online again while a sync was running: sync once more when it ends.
    again: HashSet<DeviceId>,
    /// The charset each device last wrote in; queries go out in the same.
    charsets: HashMap<DeviceId, Charset>,
    status_waiters: HashMap<(DeviceId, u32), oneshot::Sender<Result<DeviceStatus, QueryError>>>,
    alarms: alarms::Alarms,
    faults: faults::Faults,
    next_generation: u64,
    next_sn: u32,
}

impl Owner {
    fn new(
        ctx: Arc<Ctx>,
        internal_tx: mpsc::UnboundedSender<Internal>,
        notify_msg: mpsc::Sender<(DeviceId, Catalog)>,
    ) -> Owner {
        Owner {
            limit: ctx.config.catalog_concurrency.max(1),
            ctx,
            internal_tx,
            notify_msg,
            active: 0,
            queue: VecDeque::new(),
            queued: HashSet::new(),
            syncs: HashMap::new(),
            subs: HashMap::new(),
            refresh_at: BinaryHeap::new(),
            refused: HashSet::new(),
            online: HashSet::new(),
            again: HashSet::new(),
            charsets: HashMap::new(),
            status_waiters: HashMap::new(),
            alarms: alarms::Alarms::new(),
            faults: faults::Faults::default(),
            next_generation: 1,
            // Devices match answers by SN; start somewhere a restart is unlikely to repeat.
            next_sn: rand::random::<u32>() % 1_000_000 + 1,
        }
    }

    async fn run(
        mut self,
        mut cmds: mpsc::Receiver<Cmd>,
        mut manscdp: mpsc::Receiver<ManscdpInbound>,
        mut bus: broadcast::Receiver<Arc<Event>>,
        mut internal: mpsc::UnboundedReceiver<Internal>,
        stop: CancellationToken,
    ) {
        loop {
            let deadline = self.next_deadline();
            tokio::select! {
                _ = stop.cancelled() => return,
                Some(cmd) = cmds.recv() => self.on_cmd(cmd),
                Some(inb) = manscdp.recv() => self.on_manscdp(inb),
                Some(msg) = internal.recv() => self.on_internal(msg),
                ev = bus.recv() => match ev {
                    Ok(ev) => self.on_event(&ev.kind),
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        tracing::warn!(missed = n, "catalog sync lagged behind the event bus; re-reading who is online");
                        tokio::spawn(worker::restore(self.ctx.clone(), self.internal_tx.clone()));
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                _ = sleep_until_opt(deadline) => self.on_timeout(Instant::now()),
            }
            self.start_jobs();
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        let collect = self
            .syncs
            .values()
            .map(|r| Instant::from_std(r.collector.deadline()))
            .min();
        let refresh = self.refresh_at.peek().map(|Reverse((t, _, _))| *t);
        match (collect, refresh) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn sn(&mut self) -> u32 {
        let sn = self.next_sn;
        self.next_sn = self.next_sn.wrapping_add(1).max(1);
        sn
    }

    fn generation(&mut self) -> u64 {
        self.next_generation += 1;
        self.next_generation
    }

    fn charset(&self, id: &DeviceId) -> Charset {
        self.charsets.get(id).copied().unwrap_or(Charset::Gb2312)
    }

    fn enqueue(&mut self, id: DeviceId, kind: JobKind) {
        if self.queued.insert((id, kind)) {
            self.queue.push_back((id, kind));
        }
    }

    fn on_cmd(&mut self, cmd: Cmd) {
        match cmd {
            Cmd::Refresh { device_id, reply } => {
                let outcome = if self.syncs.contains_key(&device_id) {
                    RefreshOutcome::Running
                } else {
                    let info = self
                        .queued
                        .contains(&(device_id, JobKind::Sync { info: true }));
                    if !info {
                        self.enqueue(device_id, JobKind::Sync { info: false });
                    }
                    RefreshOutcome::Queued
                };
                let _ = reply.send(outcome);
            }
            Cmd::Status { device_id, reply } => {
                let sn = self.sn();
                // Callers that gave up (timeout) leave closed senders behind.
                self.status_waiters.retain(|_, w| !w.is_closed());
                self.status_waiters.insert((device_id, sn), reply);
                tokio::spawn(worker::send_status_query(
                    self.ctx.clone(),
                    device_id,
                    sn,
                    self.charset(&device_id),
                    self.internal_tx.clone(),
                ));
            }
            Cmd::Remove {
                device_id,
                route,
                reply,
            } => {
                let _ = reply.send(self.remove(device_id, route));
            }
        }
    }

    /// Drops everything about `id` (see [`CatalogSync::remove`]); true when an unsubscribe
    /// went out.
    fn remove(&mut self, id: DeviceId, route: Option<DeviceRoute>) -> bool {
        self.online.remove(&id);
        self.again.remove(&id);
        self.refused.remove(&id);
        self.queue.retain(|(d, _)| *d != id);
        self.queued.retain(|(d, _)| *d != id);
        if self.syncs.remove(&id).is_some() {
            // Its worker sees the channel close and ends without writing or reporting.
            self.active = self.active.saturating_sub(1);
        }
        let asked: Vec<(DeviceId, u32)> = self
            .status_waiters
            .keys()
            .filter(|(d, _)| *d == id)
            .copied()
            .collect();
        for key in asked {
            if let Some(w) = self.status_waiters.remove(&key) {
                let _ = w.send(Err(QueryError::Offline));
            }
        }
        let charset = self.charset(&id);
        self.charsets.remove(&id);
        let Some(sub) = self.subs.remove(&id) else {
            return false;
        };
        // A SUBSCRIBE in flight finds no entry when it returns and is left to expire.
        self.publish_subscription(id, SubscriptionState::Ended, Some(0), None);
        match (sub.dialog, route) {
            (Some(dialog), Some(route)) => {
                tokio::spawn(worker::unsubscribe(
                    self.ctx.clone(),
                    route,
                    id,
                    dialog,
                    self.sn(),
                    charset,
                ));
                true
            }
            _ => false,
        }
    }

    fn on_event(&mut self, kind: &EventKind) {
        match kind {
            EventKind::DeviceOnline { device_id, .. } => {
                let Ok(id) = device_id.parse::<DeviceId>() else {
                    return;
                };
                self.came_online(id, None);
            }
            EventKind::DeviceOffline { device_id, .. } => {
                let Ok(id) = device_id.parse::<DeviceId>() else {
                    return;
                };
                self.online.remove(&id);
                // No refresh for a device that is gone; it subscribes anew when back.
                self.subs.remove(&id);
                self.faults.forget(&id);
            }
            _ => {}
        }
    }

    /// A device (re)registered after being offline, or was found online at start with
    /// `stored` catalog state.
    fn came_online(&mut self, id: DeviceId, stored: Option<CatalogState>) {
        let fresh = self.online.insert(id);
        match stored {
            // Found online at start (or after a lag): only what is missing.
            Some(CatalogState::Complete | CatalogState::Partial) => {
                if !self.subs.contains_key(&id) && !self.refused.contains(&id) {
                    self.subscribe(id);
                }
            }
            Some(_) => {
                if !self.syncs.contains_key(&id) {
                    self.enqueue(id, JobKind::Sync { info: true });
                }
            }
            None => {
                if !fresh && self.syncs.contains_key(&id) {
                    return;
                }
                // Registered anew: whatever it refused before may work now, and its old
                // subscription died with its registration.
                self.refused.remove(&id);
                self.subs.remove(&id);
                if self.syncs.contains_key(&id) {
                    // That sync asked the device's old registration: ask again after it.
                    self.again.insert(id);
                } else {
                    self.enqueue(id, JobKind::Sync { info: true });
                }
            }
        }
    }

    fn subscribe(&mut self, id: DeviceId) {
        let generation = self.generation();
        let sub = self.subs.entry(id).or_insert(Subscription {
            dialog: None,
            generation,
            busy: false,
        });
        if sub.busy {
            return;
        }
        sub.busy = true;
        sub.generation = generation;
        self.enqueue(id, JobKind::Subscribe);
    }

    fn start_jobs(&mut self) {
        while self.active < self.limit {
            let Some((id, kind)) = self.queue.pop_front() else {
                return;
            };
            self.queued.remove(&(id, kind));
            match kind {
                JobKind::Sync { info } => {
                    if self.syncs.contains_key(&id) {
                        continue;
                    }
                    self.start_sync(id, info);
                }
                JobKind::Subscribe => {
                    let Some(sub) = self.subs.get(&id) else {
                        continue; // went offline meanwhile
                    };
                    self.active += 1;
                    tokio::spawn(worker::subscribe(
                        self.ctx.clone(),
                        id,
                        sub.generation,
                        sub.dialog.clone(),
                        self.sn(),
                        self.charset(&id),
                        self.internal_tx.clone(),
                    ));
                }
            }
        }
    }

    fn start_sync(&mut self, id: DeviceId, info: bool) {
        self.active += 1;
        let generation = self.generation();
        let sn = self.sn();
        let info_sn = info.then(|| self.sn());
        let (worker_tx, worker_rx) = mpsc::unbounded_channel();
        let collector = Collector::new(
            sn,
            Instant::now().into_std(),
            self.ctx.config.catalog_timeout,
        );
        self.syncs.insert(
            id,
            Running {
                generation,
                collector,
                worker: worker_tx,
                query_ok: false,
            },
        );
        tracing::debug!(device_id = %id, sn, info, "catalog sync starts");
        tokio::spawn(worker::sync(
            self.ctx.clone(),
            SyncJob {
                device_id: id,
                generation,
                sn,
                info_sn,
                charset: self.charset(&id),
            },
            worker_rx,
            self.internal_tx.clone(),
        ));
    }

    fn on_manscdp(&mut self, inb: ManscdpInbound) {
        let id = inb.device_id;
        self.charsets.insert(id, inb.charset);
        match inb.msg {
            Manscdp::CatalogResponse(c) => self.on_catalog_packet(id, &c),
            Manscdp::CatalogNotify(c) => {
                // Changes sent as MESSAGE (devices without a subscription do this): applied
                // in order with the NOTIFYs.
                if self.notify_msg.try_send((id, c)).is_err() {
                    tracing::warn!(device_id = %id, "catalog notification dropped: the notify queue is full");
                }
            }
            Manscdp::DeviceInfoResponse(info) => {
                if info.device_id != id {
                    tracing::debug!(device_id = %id, about = %info.device_id, "DeviceInfo about another device ignored");
                    return;
                }
                tokio::spawn(worker::store_device_info(self.ctx.clone(), info));
            }
            Manscdp::DeviceStatusResponse(st) => {
                let key = (id, st.sn);
                let waiter = self.status_waiters.remove(&key).or_else(|| {
                    // Some devices answer with their own SN: take the oldest open question.
                    let k = *self
                        .status_waiters
                        .keys()
                        .filter(|(d, _)| *d == id)
                        .min_by_key(|(_, sn)| *sn)?;
                    self.status_waiters.remove(&k)
                });
                match waiter {
                    Some(w) => {
                        let _ = w.send(Ok(st));
                    }
                    None => {
                        tracing::debug!(device_id = %id, sn = st.sn, "DeviceStatus nobody asked for")
                    }
                }
            }
            Manscdp::AlarmNotify(alarm) => {
                self.alarms.on_alarm(&self.ctx, id, alarm, inb.charset);
            }
            Manscdp::MediaStatusNotify(status) => {
                self.alarms.on_media_status(&self.ctx, id, &status);
            }
            Manscdp::Keepalive(k) => {
                let Some(change) = self.faults.on_keepalive(id, &k.faulty) else {
                    return;
                };
                tracing::info!(device_id = %id, faulty = k.faulty.len(), "channel faults in keepalive changed");
                if self.notify_msg.try_send((id, change)).is_err() {
                    // Taken as new on the next keepalive.
                    self.faults.forget(&id);
                    tracing::warn!(device_id = %id, "keepalive channel faults dropped: the notify queue is full");
                }
            }
            other => {
                tracing::debug!(device_id = %id, cmd = other.cmd_type(), root = %other.root(), "MANSCDP message not handled");
            }
        }
    }

    fn on_catalog_packet(&mut self, id: DeviceId, packet: &Catalog) {
        let Some(run) = self.syncs.get_mut(&id) else {
            tracing::debug!(device_id = %id, sn = packet.sn, "catalog packet without a running query ignored");
            return;
        };
        if packet.sn != run.collector.sn() {
            // Late packets of an earlier query carry the same channels; devices that answer
            // with an SN of their own are common enough to accept rather than lose.
            tracing::debug!(device_id = %id, sn = packet.sn, want = run.collector.sn(), "catalog packet with another SN taken");
        }
        let now = Instant::now().into_std();
        match run.collector.push(now, packet) {
            Pushed::Complete => self.finish(id),
            Pushed::Progress => {
                let cmd = SyncCmd::Progress {
                    received: run.collector.received(),
                    total: run.collector.total(),
                };
                let _ = run.worker.send(cmd);
            }
            Pushed::Nothing => {}
        }
    }

    /// Ends the collection of `id`'s running sync and hands the result to its worker.
    fn finish(&mut self, id: DeviceId) {
        let Some(run) = self.syncs.remove(&id) else {
            return;
        };
        let (packets, repeats) = run.collector.packets();
        let done = run.collector.finish();
        let cmd = if done.received == 0 && !done.complete && !run.query_ok {
            SyncCmd::Fail(QueryError::Timeout)
        } else {
            tracing::info!(
                device_id = %id,
                received = done.received,
                total = done.total,
                complete = done.complete,
                packets,
                repeats,
                "catalog collected"
            );
            SyncCmd::Finish(done)
        };
        let _ = run.worker.send(cmd);
    }

    fn on_timeout(&mut self, now: Instant) {
        let expired: Vec<DeviceId> = self
            .syncs
            .iter()
            .filter(|(_, r)| r.collector.is_expired(now.into_std()))
            .map(|(id, _)| *id)
            .collect();
        for id in expired {
            self.finish(id);
        }
        while let Some(Reverse((t, generation, id))) = self.refresh_at.peek().copied() {
            if t > now {
                break;
            }
            self.refresh_at.pop();
            let due = self
                .subs
                .get(&id)
                .is_some_and(|s| s.generation == generation);
            if due && self.online.contains(&id) {
                self.subscribe(id);
            }
        }
    }

    fn on_internal(&mut self, msg: Internal) {
        match msg {
            Internal::QueryDone {
                device_id,
                generation,
                result,
            } => {
                let Some(run) = self
                    .syncs
                    .get_mut(&device_id)
                    .filter(|r| r.generation == generation)
                else {
                    return;
                };
                match result {
                    Ok(()) => run.query_ok = true,
                    Err(e) => {
                        tracing::info!(device_id = %device_id, error = %e, "catalog query failed");
                        if run.collector.received() > 0 {
                            self.finish(device_id);
                        } else if let Some(run) = self.syncs.remove(&device_id) {
                            let _ = run.worker.send(SyncCmd::Fail(e));
                        }
                    }
                }
            }
            Internal::SyncDone { device_id, state } => {
                self.active = self.active.saturating_sub(1);
                if self.again.remove(&device_id) && self.online.contains(&device_id) {
                    self.enqueue(device_id, JobKind::Sync { info: true });
                    return;
                }
                let subscribable = matches!(state, CatalogState::Complete | CatalogState::Partial);
                if subscribable
                    && self.online.contains(&device_id)
                    && !self.refused.contains(&device_id)
                    && !self.subs.contains_key(&device_id)
                {
                    self.subscribe(device_id);
                }
            }
            Internal::SubscribeDone {
                device_id,
                generation,
                outcome,
            } => {
                self.active = self.active.saturating_sub(1);
                self.on_subscribed(device_id, generation, outcome);
            }
            Internal::StatusFailed {
                device_id,
                sn,
                error,
            } => {
                if let Some(w) = self.status_waiters.remove(&(device_id, sn)) {
                    let _ = w.send(Err(error));
                }
            }
            Internal::Online(list) => {
                let now_online: HashSet<DeviceId> = list.iter().map(|(id, _)| *id).collect();
                let gone: Vec<DeviceId> = self
                    .online
                    .iter()
                    .filter(|id| !now_online.contains(id))
                    .copied()
                    .collect();
                for id in gone {
                    self.online.remove(&id);
                    self.subs.remove(&id);
                    self.faults.forget(&id);
                }
                for (id, stored) in list {
                    if !self.online.contains(&id) {
                        self.came_online(id, Some(stored.unwrap_or(CatalogState::Never)));
                    }
                }
            }
            Internal::SubscriptionEnded { device_id } => {
                if self.subs.remove(&device_id).is_some() {
                    self.publish_subscription(device_id, SubscriptionState::Ended, None, None);
                }
            }
        }
    }

    fn on_subscribed(&mut self, id: DeviceId, generation: u64, outcome: SubscribeOutcome) {
        let Some(sub) = self
            .subs
            .get_mut(&id)
            .filter(|s| s.generation == generation)
        else {
            return; // offline or re-registered meanwhile
        };
        sub.busy = false;
        match outcome {
            SubscribeOutcome::Active { dialog, expires } => {
                sub.dialog = Some(dialog);
                let secs = expires.max(1);
                // Refresh at 4/5 of the lifetime: early enough for retransmissions.
                let at = Instant::now() + Duration::from_millis(secs * 800);
                self.refresh_at.push(Reverse((at, generation, id)));
                self.publish_subscription(id, SubscriptionState::Active, Some(secs), None);
            }
            SubscribeOutcome::DialogGone => {
                // The device forgot the subscription (rebooted): start a new one.
                tracing::info!(device_id = %id, "catalog subscription unknown to the device; subscribing anew");
                sub.dialog = None;
                self.subscribe(id);
            }
            SubscribeOutcome::Ended => {
                self.subs.remove(&id);
                self.publish_subscription(id, SubscriptionState::Ended, Some(0), None);
            }
            SubscribeOutcome::Refused(status) => {
                tracing::info!(device_id = %id, status, "catalog SUBSCRIBE refused; not asked again until it re-registers");
                self.subs.remove(&id);
                self.refused.insert(id);
                self.publish_subscription(id, SubscriptionState::Refused, None, Some(status));
            }
            SubscribeOutcome::Failed(e) => {
                tracing::info!(device_id = %id, error = %e, "catalog SUBSCRIBE got no answer");
                self.subs.remove(&id);
                self.publish_subscription(id, SubscriptionState::Ended, None, None);
            }
        }
    }

    fn publish_subscription(
        &self,
        id: DeviceId,
        state: SubscriptionState,
        expires: Option<u64>,
        status: Option<u16>,
    ) {
        self.ctx.events.publish(
            unix_ms(),
            EventKind::CatalogSubscription {
                device_id: id.to_string(),
                state,
                expires,
                status,
            },
        );
    }
}

async fn sleep_until_opt(t: Option<Instant>) {
    match t {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}
