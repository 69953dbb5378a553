//! `GET /api/v1/events`: the event bus as server-sent events. Each event is named by its
//! kind (`event: device_online`, `catalog_progress`, ...) and carries the event as JSON
//! (`{"at": ..., "type": ..., ...}`). A comment line keeps idle connections open through
//! proxies. A client too slow for the bus gets `event: lagged` with how many events it
//! missed, and the stream goes on with the newest ones.

use std::convert::Infallible;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::routing::get;
use futures_util::Stream;
use tokio::sync::broadcast::error::RecvError;

use super::ApiState;

/// Keep-alive comment interval.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

pub fn routes() -> Router<ApiState> {
    Router::new().route("/api/v1/events", get(events))
}

async fn events(
    State(s): State<ApiState>,
) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    // Subscribed before the response starts: a client that has the headers sees every
    // event published after.
    let rx = s.events.subscribe();
    let stream = futures_util::stream::unfold((rx, s.shutdown), |(mut rx, stop)| async move {
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
    });
    Sse::new(stream).keep_alive(KeepAlive::new().interval(KEEP_ALIVE).text("keep-alive"))
}
