//! `GET /api/v1/events`: the event bus as server-sent events. Each event is named by its
//! kind (`event: device_online`, `catalog_progress`, ...) and carries the event as JSON
//! (`{"at": ..., "type": ..., ...}`). A comment line keeps idle connections open through
//! proxies. A client too slow for the bus gets `event: lagged` with how many events it
//! missed, and the stream goes on with the newest ones.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::routing::get;
use futures_util::Stream;
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

use super::ApiState;
use crate::platform::events::Event;

/// Keep-alive comment interval.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

pub fn routes() -> Router<ApiState> {
    Router::new().route("/api/v1/events", get(events))
}

/// Server-sent events: each named by its kind (`device_online`, `device_offline`,
/// `catalog_changed`, `live_started`, ...) with the event as JSON.
#[utoipa::path(get, path = "/api/v1/events", tag = "system",
    responses((status = 200, description = "An endless event stream", content_type = "text/event-stream", body = String)))]
pub(super) async fn events(
    State(s): State<ApiState>,
) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    // Subscribed before the response starts: a client that has the headers sees every
    // event published after.
    let stream = event_stream(s.events.subscribe(), s.shutdown);
    Sse::new(stream).keep_alive(KeepAlive::new().interval(KEEP_ALIVE).text("keep-alive"))
}

/// Bus events as SSE events, until `stop` or the bus closes.
fn event_stream(
    rx: broadcast::Receiver<Arc<Event>>,
    stop: CancellationToken,
) -> impl Stream<Item = Result<SseEvent, Infallible>> {
    futures_util::stream::unfold((rx, stop), |(mut rx, stop)| async move {
        let item = tokio::select! {
            _ = stop.cancelled() => return None,
            r = rx.recv() => r,
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
        Some((Ok(ev), (rx, stop)))
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
        let stream = event_stream(bus.subscribe(), CancellationToken::new());
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
        let stream = event_stream(bus.subscribe(), stop.clone());
        stop.cancel();
        let body = Sse::new(stream).into_response().into_body();
        let bytes = axum::body::to_bytes(body, 1 << 16).await.unwrap();
        assert!(bytes.is_empty());
    }
}
