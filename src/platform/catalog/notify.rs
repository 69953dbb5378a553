//! Catalog notifications: NOTIFY requests with `Event: Catalog` (a subscription's changes)
//! and `Notify/Catalog` MESSAGEs (what devices without a subscription send). One task
//! applies them one after the other, so an ADD and the DEL that follows it land in order.

use std::sync::Arc;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use vigil_gb::manscdp::{Catalog, CatalogEvent};
use vigil_gb::{DeviceId, Manscdp};
use vigil_sip::{Request, Response};

use super::Internal;
use super::worker::Ctx;
use crate::platform::endpoint::InboundRequest;
use crate::platform::events::{CatalogSource, ChannelChange, EventKind};
use crate::platform::unix_ms;

pub(super) async fn run(
    ctx: Arc<Ctx>,
    mut sip: mpsc::Receiver<InboundRequest>,
    mut messages: mpsc::Receiver<(DeviceId, Catalog)>,
    internal: mpsc::UnboundedSender<Internal>,
    stop: CancellationToken,
) {
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            Some(inb) = sip.recv() => {
                let (resp, applied) = on_notify(&ctx, &inb.request, &internal).await;
                inb.responder.respond(resp).await;
                if let Some((id, catalog)) = applied {
                    publish(&ctx, &id, &catalog);
                }
            }
            Some((id, catalog)) = messages.recv() => {
                if apply(&ctx, &id, &catalog).await {
                    publish(&ctx, &id, &catalog);
                }
            }
            else => return,
        }
    }
}

/// Checks and applies one NOTIFY; returns the response and what to publish once answered.
async fn on_notify(
    ctx: &Ctx,
    req: &Request,
    internal: &mpsc::UnboundedSender<Internal>,
) -> (Response, Option<(DeviceId, Catalog)>) {
    let answer = |code: u16, reason: &str| (Response::for_request(req, code, reason), None);
    let event = req.headers.get("Event").unwrap_or_default();
    let package = event.split(';').next().unwrap_or_default().trim();
    if !package.eq_ignore_ascii_case("Catalog") {
        // Only catalog subscriptions are ours (RFC 6665 §8.2.1: 489 for an unknown package).
        return answer(489, "Bad Event");
    }
    let Some(id) = req.headers.from().ok().and_then(|f| {
        f.uri
            .user
            .as_deref()
            .and_then(|u| u.parse::<DeviceId>().ok())
    }) else {
        return answer(400, "From user is not a GB28181 device ID");
    };
    if ctx.registry.route(id).await.is_none() {
        return answer(481, "Subscription does not exist");
    }
    let terminated = req.headers.get("Subscription-State").is_some_and(|s| {
        s.trim_start()
            .to_ascii_lowercase()
            .starts_with("terminated")
    });
    if terminated {
        let _ = internal.send(Internal::SubscriptionEnded { device_id: id });
    }
    if req.body.is_empty() {
        return answer(200, "OK");
    }
    let catalog = match vigil_gb::parse_body(&req.body) {
        Ok((Manscdp::CatalogNotify(c) | Manscdp::CatalogResponse(c), _)) => c,
        Ok((other, _)) => {
            tracing::debug!(device_id = %id, cmd = other.cmd_type(), "catalog NOTIFY with another command ignored");
            return answer(200, "OK");
        }
        Err(e) => {
            tracing::warn!(device_id = %id, error = %e, "bad MANSCDP body in catalog NOTIFY");
            return answer(400, &format!("Bad MANSCDP: {}", e.reason_phrase()));
        }
    };
    if apply(ctx, &id, &catalog).await {
        (Response::for_request(req, 200, "OK"), Some((id, catalog)))
    } else {
        // The device retries; that beats a change silently lost.
        answer(500, "Cannot store the change")
    }
}

/// Applies every item in order; false when the store failed.
async fn apply(ctx: &Ctx, id: &DeviceId, catalog: &Catalog) -> bool {
    let now = unix_ms();
    for item in &catalog.items {
        let ok = ctx
            .write("catalog event", id, || {
                ctx.store.apply_catalog_event(id.as_str(), item, now)
            })
            .await;
        if ok.is_none() {
            return false;
        }
    }
    tracing::debug!(device_id = %id, items = catalog.items.len(), "catalog notification applied");
    true
}

fn publish(ctx: &Ctx, id: &DeviceId, catalog: &Catalog) {
    if catalog.items.is_empty() {
        return;
    }
    let (mut added, mut updated, mut removed) = (0, 0, 0);
    let channels = catalog
        .items
        .iter()
        .map(|i| {
            match i.event {
                Some(CatalogEvent::Add) => added += 1,
                Some(CatalogEvent::Del) => removed += 1,
                _ => updated += 1,
            }
            ChannelChange {
                channel_id: i.device_id.clone(),
                event: i.event.map_or("UPDATE", |e| e.as_str()).to_owned(),
            }
        })
        .collect();
    ctx.events.publish(
        unix_ms(),
        EventKind::CatalogChanged {
            device_id: id.to_string(),
            source: CatalogSource::Notify,
            complete: false,
            added,
            updated,
            removed,
            channels,
        },
    );
}
