//! HTTP API (axum): REST JSON under /api/v1. `router(state)` builds it; tests call it with
//! `oneshot`, the application serves it on `http.listen`.

pub mod auth;
pub mod channels;
pub mod devices;
pub mod error;
pub mod events;
pub mod json;
pub mod layers;
pub mod live;
pub mod metrics;
pub mod openapi;
pub mod ptz;
pub mod sessions;
pub mod web;

use std::time::Instant;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use crate::store::Store;
pub use error::ApiError;

/// What handlers share.
#[derive(Debug, Clone)]
pub struct ApiState {
    pub store: Store,
    pub started: Instant,
    pub config: std::sync::Arc<crate::config::Config>,
    pub events: crate::platform::events::EventBus,
    pub registry: crate::platform::registry::Registry,
    pub endpoint: crate::platform::endpoint::Endpoint,
    pub live: crate::platform::live::LiveSessions,
    pub metrics: std::sync::Arc<crate::metrics::Metrics>,
    pub catalog: crate::platform::catalog::CatalogSync,
    /// Cancelled at shutdown: endless responses (SSE) end with it.
    pub shutdown: tokio_util::sync::CancellationToken,
    /// Signs and checks `?token=` on live URLs.
    pub live_signer: crate::auth::LiveSigner,
    /// Login throttling and the auth failure metric.
    pub auth: auth::AuthGuard,
}

pub fn router(state: ApiState) -> Router {
    let (http, metrics) = (state.config.http.clone(), state.metrics.clone());
    let app = Router::new()
        .route("/api/v1/health", get(health))
        .merge(sessions::routes())
        .merge(live::routes(state.live.clone()))
        .merge(devices::routes())
        .merge(channels::routes())
        .merge(ptz::routes())
        .merge(events::routes())
        .merge(web::routes())
        .merge(metrics::routes())
        .merge(openapi::routes())
        .merge(auth::routes())
        .fallback(not_found);
    let app = if state.config.auth.enabled {
        app.layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::require_auth,
        ))
    } else {
        app
    };
    let app = app.with_state(state);
    layers::apply(app, &http, metrics)
}

async fn not_found() -> ApiError {
    ApiError::NotFound("no such route".into())
}

/// Liveness and the database's reachability.
#[utoipa::path(get, path = "/api/v1/health", tag = "system", responses(
    (status = 200, description = "Up", body = openapi::Health),
    (status = 503, description = "Database unreachable", body = openapi::ErrorBody)))]
async fn health(State(s): State<ApiState>) -> Result<Json<Value>, ApiError> {
    s.store
        .ping()
        .await
        .map_err(|e| ApiError::Unavailable(format!("database unreachable: {e}")))?;
    Ok(Json(json!({
        "status": "ok",
        "version": env!("CARGO_PKG_VERSION"),
        "database": s.store.backend_name(),
        "uptime_s": s.started.elapsed().as_secs(),
    })))
}
