//! The I/O side of catalog sync: queries and SUBSCRIBEs sent through the endpoint, and the
//! store writes (progress, channels, device info), each followed by its event. A sync's
//! worker writes in the order the owner decided, so the device row never shows an older
//! state after a newer one.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Semaphore, mpsc};
use vigil_gb::manscdp::{BasicQuery, DeviceInfo};
use vigil_gb::{Charset, DeviceId, Manscdp};
use vigil_sip::header::NameAddr;
use vigil_sip::{Method, Request, Uri};

use super::{Collected, Deps, Internal, QueryError};
use crate::config::SipConfig;
use crate::platform::endpoint::Endpoint;
use crate::platform::events::{CatalogSource, EventBus, EventKind};
use crate::platform::registry::{DeviceRoute, Registry};
use crate::platform::unix_ms;
use crate::store::channels::{CatalogDiff, CatalogState};
use crate::store::{Store, StoreError};

const MANSCDP: &str = "Application/MANSCDP+xml";
/// Least time between two progress writes of one sync.
const PROGRESS_EVERY: Duration = Duration::from_millis(250);
/// Attempts of one store write (SQLite answers "database is locked" under write bursts).
const STORE_ATTEMPTS: u32 = 5;

/// What workers share.
#[derive(Debug)]
pub(super) struct Ctx {
    pub config: Arc<SipConfig>,
    pub store: Store,
    pub endpoint: Endpoint,
    pub registry: Registry,
    pub events: EventBus,
    /// Catalog writes in flight at once: SQLite has one writer anyway, and concurrent
    /// transactions there only collide.
    lane: Semaphore,
}

impl Ctx {
    pub fn new(d: Deps) -> Ctx {
        let lanes = match d.store.backend_name() {
            "sqlite" => 1,
            _ => 4,
        };
        Ctx {
            config: d.config,
            store: d.store,
            endpoint: d.endpoint,
            registry: d.registry,
            events: d.events,
            lane: Semaphore::new(lanes),
        }
    }

    /// Runs a store write in the lane, retrying transient failures.
    pub async fn write<T, F, Fut>(&self, what: &str, device: &DeviceId, mut f: F) -> Option<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, StoreError>>,
    {
        let mut delay = Duration::from_millis(20);
        for attempt in 1..=STORE_ATTEMPTS {
            let result = {
                let _permit = self.lane.acquire().await.ok()?;
                f().await
            };
            match result {
                Ok(v) => return Some(v),
                Err(e) if attempt < STORE_ATTEMPTS => {
                    tracing::debug!(device_id = %device, what, attempt, error = %e, "store write failed; retrying");
                    tokio::time::sleep(delay).await;
                    delay *= 3;
                }
                Err(e) => {
                    tracing::error!(device_id = %device, what, error = %e, "store write failed");
                }
            }
        }
        None
    }

    async fn progress(&self, id: &DeviceId, state: CatalogState, received: u64, total: u64) {
        let now = unix_ms();
        let written = self
            .write("catalog progress", id, || {
                self.store.set_catalog_progress(
                    id.as_str(),
                    state,
                    received as i64,
                    total as i64,
                    now,
                )
            })
            .await;
        if written.is_some() {
            self.events.publish(
                now,
                EventKind::CatalogProgress {
                    device_id: id.to_string(),
                    state,
                    received,
                    total,
                },
            );
        }
    }

    /// Sends one MANSCDP MESSAGE to the device and waits for its final response.
    pub(super) async fn query(
        &self,
        route: &DeviceRoute,
        to: &DeviceId,
        msg: &Manscdp,
        charset: Charset,
    ) -> Result<(), QueryError> {
        let uri = device_uri(route, to, &self.config);
        let mut req = self
            .endpoint
            .new_request(Method::Message, uri, to, &route.peer);
        req.set_body(MANSCDP, msg.to_body(charset));
        check(self.endpoint.request(req, route.peer).await?)
    }
}

fn check(resp: vigil_sip::Response) -> Result<(), QueryError> {
    let code = resp.status.code();
    if (200..300).contains(&code) {
        Ok(())
    } else {
        Err(QueryError::Refused(code, resp.reason.to_string()))
    }
}

/// The Request-URI for a device: its registered Contact, else `sip:id@domain`.
fn device_uri(route: &DeviceRoute, id: &DeviceId, config: &SipConfig) -> Uri {
    NameAddr::parse(&route.contact)
        .ok()
        .map(|c| c.uri)
        .filter(|u| u.user.as_deref() == Some(id.as_str()))
        .or_else(|| Uri::parse(&format!("sip:{id}@{}", route.peer.remote)).ok())
        .or_else(|| Uri::parse(&format!("sip:{id}@{}", config.domain)).ok())
        .unwrap_or_else(|| Uri::parse("sip:invalid@invalid").expect("literal URI"))
}

/// Owner -> sync worker.
#[derive(Debug)]
pub(super) enum SyncCmd {
    Progress { received: u64, total: u64 },
    Finish(Collected),
    Fail(QueryError),
}

#[derive(Debug)]
pub(super) struct SyncJob {
    pub device_id: DeviceId,
    pub generation: u64,
    pub sn: u32,
    /// Also ask DeviceInfo, with this SN.
    pub info_sn: Option<u32>,
    pub charset: Charset,
}

/// One sync: sends the queries, writes progress as the owner reports it, then the result.
pub(super) async fn sync(
    ctx: Arc<Ctx>,
    job: SyncJob,
    mut rx: mpsc::UnboundedReceiver<SyncCmd>,
    internal: mpsc::UnboundedSender<Internal>,
) {
    let id = job.device_id;
    ctx.progress(&id, CatalogState::Running, 0, 0).await;
    let query = async {
        let route = ctx.registry.route(id).await.ok_or(QueryError::Offline)?;
        let info = async {
            let Some(sn) = job.info_sn else {
                return Ok(());
            };
            let q = Manscdp::DeviceInfoQuery(BasicQuery { sn, device_id: id });
            ctx.query(&route, &id, &q, job.charset).await
        };
        let q = Manscdp::CatalogQuery(BasicQuery {
            sn: job.sn,
            device_id: id,
        });
        let (info, catalog) = tokio::join!(info, ctx.query(&route, &id, &q, job.charset));
        if let Err(e) = info {
            tracing::info!(device_id = %id, error = %e, "DeviceInfo query failed");
        }
        catalog
    };
    tokio::pin!(query);
    let mut query_done = false;
    // Progress is written at most every PROGRESS_EVERY: a 2,000-channel catalog in
    // one-item packets is 2,000 packets, not 2,000 writes.
    let mut pending: Option<(u64, u64)> = None;
    let mut write_at = tokio::time::Instant::now();
    let end = loop {
        let due = pending.map(|_| write_at);
        tokio::select! {
            r = &mut query, if !query_done => {
                query_done = true;
                let _ = internal.send(Internal::QueryDone { device_id: id, generation: job.generation, result: r });
            }
            c = rx.recv() => match c {
                Some(SyncCmd::Progress { received, total }) => pending = Some((received, total)),
                Some(end) => break end,
                None => return, // the owner stopped
            },
            _ = sleep_until_opt(due) => {
                if let Some((received, total)) = pending.take() {
                    ctx.progress(&id, CatalogState::Running, received, total).await;
                    write_at = tokio::time::Instant::now() + PROGRESS_EVERY;
                }
            }
        }
    };
    let state = match end {
        SyncCmd::Finish(done) => store_catalog(&ctx, &id, done).await,
        SyncCmd::Fail(e) => {
            tracing::info!(device_id = %id, error = %e, "catalog sync failed");
            ctx.progress(&id, CatalogState::Failed, 0, 0).await;
            CatalogState::Failed
        }
        SyncCmd::Progress { .. } => CatalogState::Running,
    };
    let _ = internal.send(Internal::SyncDone {
        device_id: id,
        state,
    });
}

/// Writes a collected catalog: channels first, then the device's state, so a client that
/// sees `complete` finds every channel.
async fn store_catalog(ctx: &Ctx, id: &DeviceId, done: Collected) -> CatalogState {
    let now = unix_ms();
    let diff: Option<CatalogDiff> = ctx
        .write("catalog", id, || {
            ctx.store
                .apply_catalog(id.as_str(), &done.items, done.complete, now)
        })
        .await;
    let Some(diff) = diff else {
        ctx.progress(id, CatalogState::Failed, done.received, done.total)
            .await;
        return CatalogState::Failed;
    };
    ctx.events.publish(
        now,
        EventKind::CatalogChanged {
            device_id: id.to_string(),
            source: CatalogSource::Query,
            complete: done.complete,
            added: diff.added,
            updated: diff.updated,
            removed: diff.removed,
            channels: Vec::new(),
        },
    );
    let state = if done.complete {
        CatalogState::Complete
    } else {
        CatalogState::Partial
    };
    ctx.progress(id, state, done.received, done.total).await;
    state
}

pub(super) async fn store_device_info(ctx: Arc<Ctx>, info: DeviceInfo) {
    let id = info.device_id;
    let now = unix_ms();
    let written = ctx
        .write("device info", &id, || ctx.store.set_device_info(&info, now))
        .await;
    if written.is_some() {
        ctx.events.publish(
            now,
            EventKind::DeviceInfo {
                device_id: id.to_string(),
                name: info.device_name.clone(),
                manufacturer: info.manufacturer.clone(),
                model: info.model.clone(),
                firmware: info.firmware.clone(),
                channel_count: info.channel,
            },
        );
    }
}

/// Sends a DeviceStatus query; the answer comes back as a MESSAGE to the owner.
pub(super) async fn send_status_query(
    ctx: Arc<Ctx>,
    id: DeviceId,
    sn: u32,
    charset: Charset,
    internal: mpsc::UnboundedSender<Internal>,
) {
    let sent = async {
        let route = ctx.registry.route(id).await.ok_or(QueryError::Offline)?;
        let q = Manscdp::DeviceStatusQuery(BasicQuery { sn, device_id: id });
        ctx.query(&route, &id, &q, charset).await
    };
    if let Err(error) = sent.await {
        let _ = internal.send(Internal::StatusFailed {
            device_id: id,
            sn,
            error,
        });
    }
}

/// Reads who is online and what the store knows of their catalogs, for the owner.
pub(super) async fn restore(ctx: Arc<Ctx>, internal: mpsc::UnboundedSender<Internal>) {
    let online = ctx.registry.online().await;
    let states = match ctx.store.list_devices().await {
        Ok(rows) => rows
            .into_iter()
            .map(|d| (d.device_id, d.catalog_state))
            .collect::<std::collections::HashMap<_, _>>(),
        Err(e) => {
            tracing::error!(error = %e, "cannot read catalog states");
            Default::default()
        }
    };
    let list = online
        .into_iter()
        .map(|id| {
            let state = states.get(id.as_str()).map(|s| match s.as_str() {
                "complete" => CatalogState::Complete,
                "partial" => CatalogState::Partial,
                "failed" => CatalogState::Failed,
                "running" => CatalogState::Running,
                _ => CatalogState::Never,
            });
            (id, state)
        })
        .collect();
    let _ = internal.send(Internal::Online(list));
}

/// The dialog of a catalog subscription, for refreshes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct SubDialog {
    pub call_id: String,
    /// Our From (with our tag).
    pub from: String,
    /// The device's To (with its tag).
    pub to: String,
    pub cseq: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum SubscribeOutcome {
    /// Subscribed (or refreshed) for `expires` seconds.
    Active {
        dialog: SubDialog,
        expires: u64,
    },
    /// The device answered 481 to a refresh: it no longer knows the dialog.
    DialogGone,
    /// The device granted Expires: 0.
    Ended,
    Refused(u16),
    Failed(QueryError),
}

/// Sends a catalog SUBSCRIBE: a new one, or a refresh inside `dialog`.
pub(super) async fn subscribe(
    ctx: Arc<Ctx>,
    id: DeviceId,
    generation: u64,
    dialog: Option<SubDialog>,
    sn: u32,
    charset: Charset,
    internal: mpsc::UnboundedSender<Internal>,
) {
    let outcome = match ctx.registry.route(id).await {
        None => SubscribeOutcome::Failed(QueryError::Offline),
        Some(route) => subscribe_once(&ctx, &route, id, dialog, sn, charset).await,
    };
    let _ = internal.send(Internal::SubscribeDone {
        device_id: id,
        generation,
        outcome,
    });
}

async fn subscribe_once(
    ctx: &Ctx,
    route: &DeviceRoute,
    id: DeviceId,
    dialog: Option<SubDialog>,
    sn: u32,
    charset: Charset,
) -> SubscribeOutcome {
    let expires = ctx.config.catalog_subscription_expires.as_secs().max(1);
    let req = subscribe_request(
        &ctx.endpoint,
        route,
        id,
        dialog.as_ref(),
        sn,
        charset,
        expires,
        &ctx.config,
    );
    let refresh = dialog.is_some();
    let resp = match ctx.endpoint.request(req.clone(), route.peer).await {
        Ok(r) => r,
        Err(e) => return SubscribeOutcome::Failed(e.into()),
    };
    let code = resp.status.code();
    match code {
        200..=299 => {
            let granted = resp.headers.expires().map_or(expires, u64::from);
            if granted == 0 {
                return SubscribeOutcome::Ended;
            }
            let to = resp.headers.get("To").unwrap_or_default().to_owned();
            SubscribeOutcome::Active {
                dialog: SubDialog {
                    call_id: req.headers.call_id().unwrap_or_default().to_owned(),
                    from: req.headers.get("From").unwrap_or_default().to_owned(),
                    to,
                    cseq: req.headers.cseq().map(|c| c.seq).unwrap_or(1),
                },
                expires: granted,
            }
        }
        481 | 408 if refresh => SubscribeOutcome::DialogGone,
        _ => SubscribeOutcome::Refused(code),
    }
}

/// Ends a catalog subscription (SUBSCRIBE `Expires: 0` in its dialog) of a device being
/// removed; the answer is only logged.
pub(super) async fn unsubscribe(
    ctx: Arc<Ctx>,
    route: DeviceRoute,
    id: DeviceId,
    dialog: SubDialog,
    sn: u32,
    charset: Charset,
) {
    let req = subscribe_request(
        &ctx.endpoint,
        &route,
        id,
        Some(&dialog),
        sn,
        charset,
        0,
        &ctx.config,
    );
    match ctx.endpoint.request(req, route.peer).await {
        Ok(r) => {
            tracing::debug!(device_id = %id, status = r.status.code(), "catalog subscription cancelled")
        }
        Err(e) => {
            tracing::debug!(device_id = %id, error = %e, "catalog unsubscribe got no answer")
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn subscribe_request(
    endpoint: &Endpoint,
    route: &DeviceRoute,
    id: DeviceId,
    dialog: Option<&SubDialog>,
    sn: u32,
    charset: Charset,
    expires: u64,
    config: &SipConfig,
) -> Request {
    let uri = device_uri(route, &id, config);
    let mut req = endpoint.new_request(Method::Subscribe, uri, &id, &route.peer);
    if let Some(d) = dialog {
        req.headers.set("From", d.from.clone());
        req.headers.set("To", d.to.clone());
        req.headers.set("Call-ID", d.call_id.clone());
        req.headers
            .set("CSeq", format!("{} SUBSCRIBE", d.cseq.wrapping_add(1)));
    }
    req.headers.push("Contact", endpoint.contact(&route.peer));
    req.headers.push("Event", "Catalog");
    req.headers.push("Expires", expires.to_string());
    let q = Manscdp::CatalogQuery(BasicQuery { sn, device_id: id });
    req.set_body(MANSCDP, q.to_body(charset));
    req
}

async fn sleep_until_opt(t: Option<tokio::time::Instant>) {
    match t {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}
