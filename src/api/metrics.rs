//! `GET /metrics` in the Prometheus text format, and the middleware that counts HTTP
//! requests by method, route pattern and status.
//!
//! Device and live session gauges are read from the registry, the store and the live
//! sessions at scrape time; counters come from the SIP endpoint and from [`Metrics`] (HTTP
//! counters and the components registered as sources, e.g. webhooks).

use std::sync::Arc;

use axum::Router;
use axum::body::{Body, HttpBody};
use axum::extract::{MatchedPath, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures_util::StreamExt;

use super::ApiState;
use crate::metrics::{Counter, Exposition, Kind, Label, MetricSource, Metrics, http_method_label};

/// The content type of the text exposition format.
pub const CONTENT_TYPE_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

pub fn routes() -> Router<ApiState> {
    Router::new().route("/metrics", get(scrape))
}

async fn scrape(State(s): State<ApiState>) -> Response {
    let mut out = Exposition::new();
    let online = s.registry.online().await.len();
    out.single(
        "vigil_devices_online",
        Kind::Gauge,
        "Devices registered and keeping alive.",
        online,
    );
    match s.store.list_devices().await {
        Ok(devices) => out.single(
            "vigil_devices_known",
            Kind::Gauge,
            "Devices in the store (provisioned, or registered at least once).",
            devices.len(),
        ),
        Err(e) => tracing::warn!(error = %e, "metrics: cannot count devices in the store"),
    }
    let t = &s.endpoint.sender.stats;
    let load = |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed);
    for (name, help, v) in [
        (
            "vigil_sip_transport_received_total",
            "SIP messages read from UDP and TCP (parsed).",
            load(&t.received),
        ),
        (
            "vigil_sip_transport_sent_total",
            "SIP messages written to UDP and TCP.",
            load(&t.sent),
        ),
        (
            "vigil_sip_transport_malformed_total",
            "SIP messages that did not parse.",
            load(&t.malformed),
        ),
        (
            "vigil_sip_transport_dropped_total",
            "SIP messages dropped because the platform was overloaded.",
            load(&t.dropped_overload),
        ),
        (
            "vigil_sip_transport_send_errors_total",
            "SIP sends that failed.",
            load(&t.send_errors),
        ),
    ] {
        out.single(name, Kind::Counter, help, v);
    }
    s.endpoint.metrics.render(&mut out);
    live(&s, &mut out);
    s.metrics.render(&mut out);
    out.single(
        "vigil_uptime_seconds",
        Kind::Gauge,
        "Seconds since the platform started.",
        s.started.elapsed().as_secs_f64(),
    );
    ([(CONTENT_TYPE, CONTENT_TYPE_TEXT)], out.finish()).into_response()
}

/// Live sessions, their viewers and RTP.
fn live(s: &ApiState, out: &mut Exposition) {
    let sessions = s.live.list();
    out.family(
        "vigil_live_sessions",
        Kind::Gauge,
        "Live sessions by state (starting: waiting for the first key frame).",
    );
    for state in ["starting", "playing"] {
        let n = sessions.iter().filter(|x| x.state == state).count();
        out.sample("vigil_live_sessions", &[("state", state)], n);
    }
    out.single(
        "vigil_live_viewers",
        Kind::Gauge,
        "Viewers of live sessions over HTTP and WebSocket (HLS players are not counted).",
        sessions.iter().map(|x| x.viewers).sum::<usize>(),
    );
    out.single(
        "vigil_live_ingest_bits_per_second",
        Kind::Gauge,
        "RTP arriving over all live sessions, bits per second over the last second.",
        sessions.iter().map(|x| x.bitrate_bps).sum::<u64>(),
    );
    let [received, lost] = s.metrics.live_rtp.update(
        sessions
            .iter()
            .map(|x| (x.session_id.clone(), [x.packets_received, x.packets_lost])),
    );
    out.single(
        "vigil_rtp_packets_received_total",
        Kind::Counter,
        "RTP packets received by live sessions (ended sessions as last scraped).",
        received,
    );
    out.single(
        "vigil_rtp_packets_lost_total",
        Kind::Counter,
        "RTP packets lost (sequence gaps) in live sessions (ended sessions as last scraped).",
        lost,
    );
}

/// Middleware (added with `Router::layer`, so the route pattern is known): counts the
/// request by method, route pattern (`unmatched` when no route matched) and status, and the
/// body bytes in and out.
pub async fn count(State(m): State<Arc<Metrics>>, req: Request, next: Next) -> Response {
    let method = http_method_label(req.method());
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or(Label::Borrowed("unmatched"), |p| {
            Label::Owned(p.as_str().to_owned())
        });
    let req = req.map(|b| counted(b, &m, |m| &m.http.request_bytes));
    let started = std::time::Instant::now();
    let resp = next.run(req).await;
    m.http
        .duration
        .observe(route.clone(), started.elapsed().as_secs_f64());
    let status = Label::Owned(resp.status().as_u16().to_string());
    m.http.requests.inc([method, route, status]);
    resp.map(|b| counted(b, &m, |m| &m.http.response_bytes))
}

/// A body whose bytes are added to a counter: at once when its length is known (keeping
/// the length for Content-Length), else as it streams.
fn counted(body: Body, m: &Arc<Metrics>, counter: fn(&Metrics) -> &Counter) -> Body {
    if let Some(n) = body.size_hint().exact() {
        counter(m).add(n);
        return body;
    }
    let m = m.clone();
    Body::from_stream(body.into_data_stream().inspect(move |chunk| {
        if let Ok(bytes) = chunk {
            counter(&m).add(bytes.len() as u64);
        }
    }))
}
