//! Per-device catalog routes: a device's channels, catalog refresh (answered at once; the
//! progress shows on the device row as `catalog_state`, `catalog_received`,
//! `catalog_total`) and a live DeviceStatus query.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};
use vigil_gb::DeviceId;

use super::channels::{ListParams, list};
use super::{ApiError, ApiState};
use crate::platform::catalog::QueryError;
use crate::store::DeviceRecord;

pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/api/v1/devices/{device_id}/channels", get(channels))
        .route("/api/v1/devices/{device_id}/catalog/refresh", post(refresh))
        .route("/api/v1/devices/{device_id}/status", get(status))
}

/// A 20-digit ID from the path or query, or a 400 naming `field`.
pub(super) fn parse_id(field: &str, value: &str) -> Result<DeviceId, ApiError> {
    value
        .parse::<DeviceId>()
        .map_err(|e| ApiError::BadRequest(format!("{field}: {e}")))
}

async fn device(s: &ApiState, id: &DeviceId) -> Result<DeviceRecord, ApiError> {
    s.store
        .get_device(id.as_str())
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("device {id} not found")))
}

/// The device must be known (404) and registered (409) for anything sent to it.
async fn online_device(s: &ApiState, id: &DeviceId) -> Result<(), ApiError> {
    device(s, id).await?;
    if s.registry.route(*id).await.is_none() {
        return Err(ApiError::Conflict(format!("device {id} is offline")));
    }
    Ok(())
}

async fn channels(
    State(s): State<ApiState>,
    Path(device_id): Path<String>,
    params: Result<Query<ListParams>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id("device_id", &device_id)?;
    let Query(params) = params.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    device(&s, &id).await?;
    list(&s, params, Some(id)).await
}

async fn refresh(
    State(s): State<ApiState>,
    Path(device_id): Path<String>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let id = parse_id("device_id", &device_id)?;
    online_device(&s, &id).await?;
    let outcome = s.catalog.refresh(id).await.map_err(query_error)?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "device_id": id.as_str(), "sync": outcome })),
    ))
}

async fn status(
    State(s): State<ApiState>,
    Path(device_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id("device_id", &device_id)?;
    online_device(&s, &id).await?;
    let st = s.catalog.device_status(id).await.map_err(query_error)?;
    Ok(Json(json!({
        "device_id": st.device_id.as_str(),
        "result": st.result,
        "online": st.online,
        "status": st.status,
        "reason": st.reason,
        "encode": st.encode,
        "record": st.record,
        "device_time": st.device_time,
        "alarm_status": st.alarm_status,
        "extra": st.extra,
    })))
}

fn query_error(e: QueryError) -> ApiError {
    match e {
        QueryError::Offline => ApiError::Conflict(e.to_string()),
        QueryError::Timeout => ApiError::GatewayTimeout(e.to_string()),
        QueryError::Refused(..) | QueryError::Transport(_) => ApiError::BadGateway(e.to_string()),
        QueryError::Closed => ApiError::Unavailable(e.to_string()),
    }
}
