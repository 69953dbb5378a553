//! HTTP middleware around every route: request logging (tower-http `TraceLayer`), CORS,
//! the request body limit and the request timeout, from `[http]` in the config.
//!
//! The timeout covers the wait for the response head only; live media under `/live/` is
//! exempt, since a viewer may wait for a camera's first key frame before the head goes out,
//! and its body streams for as long as anyone watches.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::HttpBody;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::trace::{DefaultOnFailure, TraceLayer};
use tracing::{Level, Span};

use super::ApiError;
use crate::config::HttpConfig;
use crate::metrics::Metrics;

/// Wraps `router` (all routes merged, state applied) in the middleware `http` asks for, and
/// counts requests into `metrics`.
pub fn apply(router: Router, http: &HttpConfig, metrics: Arc<Metrics>) -> Router {
    let limits = Limits {
        max_body: http.max_body,
        timeout: http.request_timeout,
    };
    let mut router = router
        .layer(middleware::from_fn_with_state(limits, guard))
        // Body extractors (Json, Bytes, String) read at most this much.
        .layer(DefaultBodyLimit::max(http.max_body));
    if let Some(cors) = cors(&http.cors_origins) {
        router = router.layer(cors);
    }
    router
        .layer(middleware::from_fn_with_state(
            metrics,
            super::metrics::count,
        ))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_span)
                .on_response(log_response)
                .on_failure(DefaultOnFailure::new().level(Level::WARN)),
        )
}

/// True for the live media routes, which the request timeout spares.
pub fn is_live_media(path: &str) -> bool {
    path.starts_with("/live/")
}

/// CORS for the configured origins; `None` (no CORS headers at all) when there are none.
fn cors(origins: &[String]) -> Option<CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    let allow = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        // Config::validate checked their form.
        AllowOrigin::list(origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()))
    };
    Some(
        CorsLayer::new()
            .allow_origin(allow)
            .allow_methods([
                Method::GET,
                Method::POST,
                Method::PUT,
                Method::PATCH,
                Method::DELETE,
            ])
            .allow_headers([AUTHORIZATION, CONTENT_TYPE])
            .max_age(Duration::from_secs(3600)),
    )
}

#[derive(Debug, Clone, Copy)]
struct Limits {
    max_body: usize,
    timeout: Duration,
}

/// 413 for a body known to be above the limit (its Content-Length); a body without a
/// length is cut by the extractors' limit, and their plain-text 413 becomes ours. 503 for a
/// request not answered in time.
async fn guard(State(limits): State<Limits>, req: Request, next: Next) -> Response {
    if req.body().size_hint().lower() > limits.max_body as u64 {
        return too_large(limits.max_body);
    }
    let resp = if is_live_media(req.uri().path()) {
        next.run(req).await
    } else {
        match tokio::time::timeout(limits.timeout, next.run(req)).await {
            Ok(resp) => resp,
            Err(_) => {
                return ApiError::Unavailable(format!(
                    "request not answered within {:?} (http.request_timeout)",
                    limits.timeout
                ))
                .into_response();
            }
        }
    };
    let json = resp
        .headers()
        .get(CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if resp.status() == StatusCode::PAYLOAD_TOO_LARGE && !json {
        return too_large(limits.max_body);
    }
    resp
}

fn too_large(max: usize) -> Response {
    let body = serde_json::json!({"error": {
        "code": "payload_too_large",
        "message": format!("request body is larger than {max} bytes (http.max_body)"),
    }});
    (StatusCode::PAYLOAD_TOO_LARGE, axum::Json(body)).into_response()
}

/// The span of one request: method, route pattern and path (never the query, which may
/// carry tokens). HLS segment polling and metric scrapes log at debug, the rest at info.
fn request_span(req: &Request) -> Span {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(MatchedPath::as_str);
    let path = req.uri().path();
    let quiet = path == "/metrics"
        || (is_live_media(path) && !path.ends_with(".mp4") && !path.ends_with("/ws"));
    if quiet {
        tracing::debug_span!("http", method = %req.method(), route, path)
    } else {
        tracing::info_span!("http", method = %req.method(), route, path)
    }
}

fn log_response<B>(resp: &axum::http::Response<B>, latency: Duration, span: &Span) {
    let status = resp.status().as_u16();
    let latency_ms = latency.as_secs_f64() * 1000.0;
    if span.metadata().is_some_and(|m| *m.level() == Level::INFO) {
        tracing::info!(status, latency_ms, "request");
    } else {
        tracing::debug!(status, latency_ms, "request");
    }
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::routing::{get, post};
    use tower::ServiceExt;

    use super::*;

    fn app(cors_origins: &[&str]) -> Router {
        let http = HttpConfig {
            cors_origins: cors_origins.iter().map(|s| s.to_string()).collect(),
            max_body: 16,
            request_timeout: Duration::from_millis(200),
            ..HttpConfig::default()
        };
        let slow = || async {
            tokio::time::sleep(Duration::from_millis(1500)).await;
            "late"
        };
        let router = Router::new()
            .route("/api/v1/fast", get(|| async { "ok" }))
            .route("/api/v1/slow", get(slow))
            .route("/live/{id}", get(slow))
            .route("/api/v1/echo", post(|body: String| async move { body }));
        apply(router, &http, Metrics::new())
    }

    async fn send(app: &Router, req: axum::http::Request<Body>) -> (StatusCode, String) {
        let resp = app.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .unwrap();
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    fn get_req(uri: &str) -> axum::http::Request<Body> {
        axum::http::Request::get(uri).body(Body::empty()).unwrap()
    }

    #[tokio::test]
    async fn slow_api_requests_get_503_but_live_media_is_not_timed_out() {
        let app = app(&[]);
        let started = std::time::Instant::now();
        let (status, body) = send(&app, get_req("/api/v1/slow")).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert!(body.contains("\"code\":\"unavailable\""), "{body}");
        assert!(started.elapsed() < Duration::from_millis(1000));
        let (status, body) = send(&app, get_req("/live/abc")).await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, "late"));
    }

    #[tokio::test]
    async fn bodies_over_max_body_get_413_in_the_api_error_format() {
        let app = app(&[]);
        let post = |body: &'static str| {
            axum::http::Request::post("/api/v1/echo")
                .header(CONTENT_TYPE, "text/plain")
                .body(Body::from(body))
                .unwrap()
        };
        assert_eq!(
            send(&app, post("sixteen bytes ok")).await,
            (StatusCode::OK, "sixteen bytes ok".to_owned())
        );
        let (status, body) = send(&app, post("seventeen bytes!!")).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["error"]["code"], "payload_too_large");
        // Without a Content-Length the extractor's limit cuts it.
        let chunked = axum::http::Request::post("/api/v1/echo")
            .body(Body::from_stream(futures_util::stream::iter([
                Ok::<_, std::io::Error>("0123456789"),
                Ok("0123456789"),
            ])))
            .unwrap();
        assert_eq!(send(&app, chunked).await.0, StatusCode::PAYLOAD_TOO_LARGE);
    }

    #[tokio::test]
    async fn cors_headers_only_for_configured_origins() {
        let preflight = |origin: &str| {
            axum::http::Request::builder()
                .method(Method::OPTIONS)
                .uri("/api/v1/echo")
                .header("Origin", origin)
                .header("Access-Control-Request-Method", "POST")
                .header(
                    "Access-Control-Request-Headers",
                    "authorization,content-type",
                )
                .body(Body::empty())
                .unwrap()
        };
        let allow_origin = |resp: &Response| {
            resp.headers()
                .get("access-control-allow-origin")
                .map(|v| v.to_str().unwrap().to_owned())
        };

        let none = app(&[]);
        let resp = none
            .clone()
            .oneshot(preflight("https://vms.example"))
            .await
            .unwrap();
        assert_eq!(allow_origin(&resp), None, "no CORS by default");

        let one = app(&["https://vms.example"]);
        let resp = one
            .clone()
            .oneshot(preflight("https://vms.example"))
            .await
            .unwrap();
        assert_eq!(allow_origin(&resp).as_deref(), Some("https://vms.example"));
        let methods = resp.headers()["access-control-allow-methods"]
            .to_str()
            .unwrap();
        assert!(
            methods.contains("POST") && methods.contains("DELETE"),
            "{methods}"
        );
        let resp = one
            .clone()
            .oneshot(preflight("https://evil.example"))
            .await
            .unwrap();
        assert_eq!(allow_origin(&resp), None);

        let any = app(&["*"]);
        let resp = any
            .oneshot(
                axum::http::Request::get("/api/v1/fast")
                    .header("Origin", "http://player.example")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(allow_origin(&resp).as_deref(), Some("*"));
    }
}
