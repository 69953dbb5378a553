//! `GET /api/v1/events`: the event bus as server-sent events. Each event is named by its
//! kind (`event: device_online`, `catalog_progress`, ...) and carries the event as JSON
//! (`{"at": ..., "type": ..., ...}`). A comment line keeps idle connections open through
//! proxies. A client too slow for the bus gets `event: lagged` with how many events it
//! missed, and the stream goes on with the newest ones. When the session or API key the
//! stream was opened with ends (logout, expiry, revocation, ...; see [`super::auth::watch`])
//! the last event is `event: credentials_ended` with `{"reason": ...}` and the stream ends.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::routing::get;
use axum::{Extension, Router};
use futures_util::Stream;
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

use super::ApiState;
use super::auth::watch::Ended;
use super::auth::{CredentialWatch, StreamAuth};
use crate::platform::events::Event;

/// Keep-alive comment interval.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

pub fn routes() -> Router<ApiState> {
    Router::new().route("/api/v1/events", get(events))
}

/// Server-sent events: each named by its kind (`device_online`, `device_offline`,
/// `catalog_changed`, `alarm`, `live_started`, ...) with the event as JSON. Ends with
/// `credentials_ended` when the session or API key it was opened with ends.
#[utoipa::path(get, path = "/api/v1/events", tag = "system",
    responses((status = 200, description = "An endless event stream", content_type = "text/event-stream", body = String),
    (status = 401, description = "No or wrong credentials", body = super::openapi::ErrorBody),
    (status = 403, description = "A revoked API key", body = super::openapi::ErrorBody)))]
pub(super) async fn events(
    State(s): State<ApiState>,
    auth: Option<Extension<StreamAuth>>,
) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    // Subscribed before the response starts: a client that has the headers sees every
    // event published after.
    let watch = CredentialWatch::of(auth.as_deref());
    let stream = event_stream(s.events.subscribe(), s.shutdown, watch);
    Sse::new(stream).keep_alive(KeepAlive::new().interval(KEEP_ALIVE).text("keep-alive"))
}

/// Where [`event_stream`] is.
struct Feed {
    rx: broadcast::Receiver<Arc<Event>>,
    stop: CancellationToken,
    /// `None` once it completed: the `credentials_ended` event was the last.
    ended: Option<Pin<Box<dyn Future<Output = Ended> + Send>>>,
}

/// Bus events as SSE events, until `stop`, the bus closes or `watch` says the credentials
/// ended.
fn event_stream(
    rx: broadcast::Receiver<Arc<Event>>,
    stop: CancellationToken,
    watch: CredentialWatch,
) -> impl Stream<Item = Result<SseEvent, Infallible>> {
    let feed = Feed {
        rx,
        stop,
        ended: Some(Box::pin(watch.ended())),
    };
    futures_util::stream::unfold(feed, |mut f| async move {
        let ended = f.ended.as_mut()?;
        let item = tokio::select! {
            _ = f.stop.cancelled() => return None,
            why = ended => {
                f.ended = None;
                let data = serde_json::json!({"reason": why.reason(), "message": why.message()});
                let ev = SseEvent::default().event("credentials_ended").data(data.to_string());
                return Some((Ok(ev), f));
            }
            r = f.rx.recv() => r,
        };
        let ev = match item {
            Ok(ev) => {
                let data = serde_json::to_string(&*ev).unwrap_or_else(|_| "{}".into());
                SseEvent::default().event(ev.kind.name()).data(data)
            }
            Err(RecvError::Lagged(n)) => SseEvent::default()
                .event("lagged")
                .data(format!("{{\"missed\":{n}}}")),
            Err(RecvError::Closed) => return None,
        };
        Some((Ok(ev), f))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::events::{EventBus, EventKind, OfflineReason};
    use axum::response::IntoResponse;

    fn offline(n: u32) -> EventKind {
        EventKind::DeviceOffline {
            device_id: format!("3402000000132000000{n}"),
            reason: OfflineReason::Unregistered,
        }
    }

    #[tokio::test]
    async fn a_lagging_client_is_told_how_many_it_missed_and_goes_on() {
        let bus = EventBus::new(2);
        let stream = event_stream(
            bus.subscribe(),
            CancellationToken::new(),
            CredentialWatch::unbounded(),
        );
        for n in 1..=5 {
            bus.publish(i64::from(n), offline(n));
        }
        drop(bus); // the stream ends once it has read what is left
        let body = Sse::new(stream).into_response().into_body();
        let bytes = axum::body::to_bytes(body, 1 << 16).await.unwrap();
        assert_eq!(
            std::str::from_utf8(&bytes).unwrap(),
            "event: lagged\ndata: {\"missed\":3}\n\n\
             event: device_offline\ndata: {\"at\":4,\"type\":\"device_offline\",\"device_id\":\"34020000001320000004\",\"reason\":\"unregistered\"}\n\n\
             event: device_offline\ndata: {\"at\":5,\"type\":\"device_offline\",\"device_id\":\"34020000001320000005\",\"reason\":\"unregistered\"}\n\n"
        );
    }

    #[tokio::test]
    async fn the_stream_ends_at_shutdown() {
        let bus = EventBus::default();
        let stop = CancellationToken::new();
        let stream = event_stream(bus.subscribe(), stop.clone(), CredentialWatch::unbounded());
        stop.cancel();
        let body = Sse::new(stream).into_response().into_body();
        let bytes = axum::body::to_bytes(body, 1 << 16).await.unwrap();
        assert!(bytes.is_empty());
    }
}
