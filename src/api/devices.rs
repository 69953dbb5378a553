//! Device routes: the devices resource (list with filters, order and pages; provision,
//! change, remove) and per-device catalog routes: a device's channels, catalog refresh
//! (answered at once; the progress shows on the device row as `catalog_state`,
//! `catalog_received`, `catalog_total`) and a live DeviceStatus query.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::http::header::LOCATION;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use vigil_gb::DeviceId;

use super::channels::{ListParams, list};
use super::json::{ApiJson, nullable};
use super::{ApiError, ApiState};
use crate::platform::catalog::QueryError;
use crate::platform::events::LiveStopReason;
use crate::store::{
    DevicePatch, DeviceQuery, DeviceRecord, DeviceSort, NewDevice, StoredPassword, TransportPref,
};

/// Default and largest page sizes (as for channels).
const PER_PAGE: u32 = 100;
const MAX_PER_PAGE: u32 = 1000;
/// Longest name and password accepted (characters).
const MAX_NAME: usize = 128;
const MAX_PASSWORD: usize = 64;

pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/api/v1/devices", get(list_devices).post(create))
        .route(
            "/api/v1/devices/{device_id}",
            get(get_device).patch(update).delete(remove),
        )
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

/// `?q=&online=&sort=&page=&per_page=`
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(super) struct DeviceListParams {
    /// Substring of the name or the device ID.
    q: Option<String>,
    online: Option<bool>,
    /// `device_id`, `name` or `last_seen`; a leading `-` sorts descending.
    #[param(pattern = "^-?(device_id|name|last_seen)$")]
    sort: Option<String>,
    /// From 1.
    #[param(minimum = 1)]
    page: Option<u32>,
    /// 1 to 1000; 100 when absent.
    #[param(minimum = 1, maximum = 1000)]
    per_page: Option<u32>,
}

/// A device password from a request body; never printed.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub(super) struct Secret(String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

/// `POST /api/v1/devices`
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct CreateDevice {
    /// 20 digits.
    #[schema(pattern = "^[0-9]{20}$")]
    device_id: String,
    /// At most 128 characters.
    name: Option<String>,
    /// Digest password for this device (1 to 64 characters); without it the server's
    /// `sip.password` applies.
    #[schema(value_type = Option<String>, format = Password)]
    password: Option<Secret>,
    /// How live view reaches the device (SIP transport of the INVITE and RTP transport
    /// offered); absent or `null`: as the device registered, RTP by `media.transport`.
    transport: Option<TransportPref>,
}

/// `PATCH /api/v1/devices/{device_id}`: absent fields stay, `null` clears.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct UpdateDevice {
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    name: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, format = Password)]
    password: Option<Option<Secret>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<TransportPref>)]
    transport: Option<Option<TransportPref>>,
}

fn check_name(name: Option<&String>) -> Result<(), ApiError> {
    match name {
        Some(n) if n.chars().count() > MAX_NAME => Err(ApiError::BadRequest(format!(
            "name: at most {MAX_NAME} characters"
        ))),
        Some(n) if n.chars().any(char::is_control) => {
            Err(ApiError::BadRequest("name: no control characters".into()))
        }
        _ => Ok(()),
    }
}

fn check_password(p: Option<&Secret>) -> Result<Option<StoredPassword>, ApiError> {
    match p {
        None => Ok(None),
        Some(Secret(p)) if p.is_empty() || p.chars().count() > MAX_PASSWORD => Err(
            ApiError::BadRequest(format!("password: 1 to {MAX_PASSWORD} characters")),
        ),
        Some(Secret(p)) if p.chars().any(char::is_control) => Err(ApiError::BadRequest(
            "password: no control characters".into(),
        )),
        Some(Secret(p)) => Ok(Some(StoredPassword(p.clone()))),
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Devices, filtered, sorted and paged.
#[utoipa::path(get, path = "/api/v1/devices", tag = "devices", params(DeviceListParams),
    responses((status = 200, description = "A page of devices", body = super::openapi::DevicePage),
    (status = 400, description = "Bad input; the message names the field", body = super::openapi::ErrorBody)))]
pub(super) async fn list_devices(
    State(s): State<ApiState>,
    params: Result<Query<DeviceListParams>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(p) = params.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let page = p.page.unwrap_or(1);
    if page == 0 {
        return Err(ApiError::BadRequest("page: starts at 1".into()));
    }
    let per_page = p.per_page.unwrap_or(PER_PAGE);
    if !(1..=MAX_PER_PAGE).contains(&per_page) {
        return Err(ApiError::BadRequest(format!(
            "per_page: between 1 and {MAX_PER_PAGE}"
        )));
    }
    let sort = p.sort.as_deref().unwrap_or("device_id");
    let (descending, key) = match sort.strip_prefix('-') {
        Some(k) => (true, k),
        None => (false, sort),
    };
    let sort = match key {
        "device_id" => DeviceSort::DeviceId,
        "name" => DeviceSort::Name,
        "last_seen" => DeviceSort::LastSeen,
        _ => {
            return Err(ApiError::BadRequest(format!(
                "sort: {sort:?} is not one of device_id, name, last_seen (with - for descending)"
            )));
        }
    };
    let q = DeviceQuery {
        q: p.q.filter(|q| !q.is_empty()),
        online: p.online,
        sort,
        descending,
        page,
        per_page,
    };
    let (items, total) = s.store.list_devices_page(&q).await?;
    Ok(Json(json!({
        "items": items,
        "total": total,
        "page": page,
        "per_page": per_page,
    })))
}

/// One device.
#[utoipa::path(get, path = "/api/v1/devices/{device_id}", tag = "devices", params(("device_id" = String, Path, description = "20-digit device ID")),
    responses((status = 200, description = "The device", body = DeviceRecord), (status = 400, description = "Bad input; the message names the field", body = super::openapi::ErrorBody), (status = 404, description = "Not found", body = super::openapi::ErrorBody)))]
pub(super) async fn get_device(
    State(s): State<ApiState>,
    Path(device_id): Path<String>,
) -> Result<Json<DeviceRecord>, ApiError> {
    let id = parse_id("device_id", &device_id)?;
    device(&s, &id).await.map(Json)
}

/// Provisions a device before it registers (its own password, name, transport).
#[utoipa::path(post, path = "/api/v1/devices", tag = "devices", request_body = CreateDevice,
    responses((status = 201, description = "Created", body = DeviceRecord),
    (status = 400, description = "Bad input; the message names the field", body = super::openapi::ErrorBody), (status = 409, description = "The device exists", body = super::openapi::ErrorBody), (status = 422, description = "JSON of the wrong shape; the message names the field", body = super::openapi::ErrorBody)))]
pub(super) async fn create(
    State(s): State<ApiState>,
    ApiJson(body): ApiJson<CreateDevice>,
) -> Result<
    (
        StatusCode,
        [(axum::http::HeaderName, String); 1],
        Json<DeviceRecord>,
    ),
    ApiError,
> {
    let id = parse_id("device_id", &body.device_id)?;
    check_name(body.name.as_ref())?;
    let password = check_password(body.password.as_ref())?;
    let new = NewDevice {
        device_id: id.to_string(),
        name: body.name.filter(|n| !n.is_empty()),
        password,
        transport_pref: body.transport,
    };
    let row = s
        .store
        .insert_device(&new, now_ms())
        .await
        .map_err(|e| match e {
            crate::store::StoreError::Conflict(_) => {
                ApiError::Conflict(format!("device_id: device {id} already exists"))
            }
            other => other.into(),
        })?;
    // The registry takes the password (and knows the device) from now on.
    s.registry.reload(id).await;
    tracing::info!(device_id = %id, "device provisioned through the API");
    Ok((
        StatusCode::CREATED,
        [(LOCATION, format!("/api/v1/devices/{id}"))],
        Json(row),
    ))
}

/// Changes a device; absent fields stay, `null` clears.
#[utoipa::path(patch, path = "/api/v1/devices/{device_id}", tag = "devices", params(("device_id" = String, Path, description = "20-digit device ID")),
    request_body = UpdateDevice,
    responses((status = 200, description = "The changed device", body = DeviceRecord),
    (status = 400, description = "Bad input; the message names the field", body = super::openapi::ErrorBody), (status = 404, description = "Not found", body = super::openapi::ErrorBody), (status = 422, description = "JSON of the wrong shape; the message names the field", body = super::openapi::ErrorBody)))]
pub(super) async fn update(
    State(s): State<ApiState>,
    Path(device_id): Path<String>,
    ApiJson(body): ApiJson<UpdateDevice>,
) -> Result<Json<DeviceRecord>, ApiError> {
    let id = parse_id("device_id", &device_id)?;
    if let Some(name) = &body.name {
        check_name(name.as_ref())?;
    }
    let password = match &body.password {
        Some(p) => Some(check_password(p.as_ref())?),
        None => None,
    };
    let patch = DevicePatch {
        name: body.name.map(|n| n.filter(|n| !n.is_empty())),
        password,
        transport_pref: body.transport,
    };
    let row = s
        .store
        .update_device(id.as_str(), &patch, now_ms())
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("device {id} not found")))?;
    s.registry.reload(id).await;
    Ok(Json(row))
}

/// Unregisters and removes a device: its live sessions end (BYE; viewers see the stream
/// end), its catalog subscription is cancelled (SUBSCRIBE with `Expires: 0`), the registry
/// forgets it (its keepalives and MESSAGEs get 403 until it registers again, which an
/// unknown device may only with `sip.allow_unknown_devices`), and its row and channels are
/// deleted. Other devices are not touched.
#[utoipa::path(delete, path = "/api/v1/devices/{device_id}", tag = "devices", params(("device_id" = String, Path, description = "20-digit device ID")),
    responses((status = 204, description = "Removed with its channels: live sessions stopped, catalog subscription cancelled, the device unregistered"),
    (status = 400, description = "Bad input; the message names the field", body = super::openapi::ErrorBody), (status = 404, description = "Not found", body = super::openapi::ErrorBody)))]
pub(super) async fn remove(
    State(s): State<ApiState>,
    Path(device_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = parse_id("device_id", &device_id)?;
    device(&s, &id).await?;
    // Everything that talks to the device goes first, while its route is still known:
    // the unsubscribe and the BYEs travel on it.
    let route = s.registry.route(id).await;
    let unsubscribed = s.catalog.remove(id, route).await;
    let stopped = s.live.stop_device(id, LiveStopReason::DeviceRemoved).await;
    let removed = s.registry.remove(id).await?;
    // A session that took the device's route just before the registry forgot it.
    let late = s.live.stop_device(id, LiveStopReason::DeviceRemoved).await;
    if !removed {
        // Removed by a concurrent DELETE.
        return Err(ApiError::NotFound(format!("device {id} not found")));
    }
    tracing::info!(device_id = %id, live_sessions = stopped + late, unsubscribed, "device removed through the API");
    Ok(StatusCode::NO_CONTENT)
}

/// A device's channels, filtered and paged.
#[utoipa::path(get, path = "/api/v1/devices/{device_id}/channels", tag = "channels",
    params(("device_id" = String, Path, description = "20-digit device ID"), ListParams),
    responses((status = 200, description = "A page of channels", body = super::openapi::ChannelPage),
    (status = 400, description = "Bad input; the message names the field", body = super::openapi::ErrorBody), (status = 404, description = "Not found", body = super::openapi::ErrorBody)))]
pub(super) async fn channels(
    State(s): State<ApiState>,
    Path(device_id): Path<String>,
    params: Result<Query<ListParams>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id("device_id", &device_id)?;
    let Query(params) = params.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    device(&s, &id).await?;
    list(&s, params, Some(id)).await
}

/// Asks the device for its catalog again; progress shows on the device.
#[utoipa::path(post, path = "/api/v1/devices/{device_id}/catalog/refresh", tag = "devices",
    params(("device_id" = String, Path, description = "20-digit device ID")),
    responses((status = 202, description = "Queued or running", body = super::openapi::RefreshAccepted),
    (status = 400, description = "Bad input; the message names the field", body = super::openapi::ErrorBody), (status = 404, description = "Not found", body = super::openapi::ErrorBody), (status = 409, description = "Device offline", body = super::openapi::ErrorBody), (status = 502, description = "The device refused", body = super::openapi::ErrorBody), (status = 504, description = "The device did not answer", body = super::openapi::ErrorBody), (status = 503, description = "Shutting down", body = super::openapi::ErrorBody)))]
pub(super) async fn refresh(
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

/// Asks the device for its status (DeviceStatus query).
#[utoipa::path(get, path = "/api/v1/devices/{device_id}/status", tag = "devices", params(("device_id" = String, Path, description = "20-digit device ID")),
    responses((status = 200, description = "The device's answer", body = super::openapi::DeviceStatusView),
    (status = 400, description = "Bad input; the message names the field", body = super::openapi::ErrorBody), (status = 404, description = "Not found", body = super::openapi::ErrorBody), (status = 409, description = "Device offline", body = super::openapi::ErrorBody), (status = 502, description = "The device refused", body = super::openapi::ErrorBody), (status = 504, description = "The device did not answer", body = super::openapi::ErrorBody), (status = 503, description = "Shutting down", body = super::openapi::ErrorBody)))]
pub(super) async fn status(
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
