//! Channel routes: the channels of every device, searchable and paged, and one channel by
//! ID. Names are stored as decoded from the device's charset and served as UTF-8 JSON.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use vigil_gb::DeviceId;

use super::devices::parse_id;
use super::{ApiError, ApiState};
use crate::store::channels::{ChannelQuery, ChannelRecord};

/// Default and largest page sizes.
const PER_PAGE: u32 = 100;
const MAX_PER_PAGE: u32 = 1000;

pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/api/v1/channels", get(all))
        .route("/api/v1/channels/{channel_id}", get(one))
}

/// `?q=&online=&page=&per_page=&device_id=&include_removed=`
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(super) struct ListParams {
    /// Substring of the name or the channel ID.
    q: Option<String>,
    online: Option<bool>,
    /// From 1.
    #[param(minimum = 1)]
    page: Option<u32>,
    /// 1 to 1000; 100 when absent.
    #[param(minimum = 1, maximum = 1000)]
    per_page: Option<u32>,
    /// Only this device's channels (20 digits).
    device_id: Option<String>,
    /// Also channels the device no longer reports.
    #[serde(default)]
    include_removed: bool,
}

pub(super) async fn list(
    s: &ApiState,
    p: ListParams,
    device: Option<DeviceId>,
) -> Result<Json<Value>, ApiError> {
    let device = match (device, p.device_id.as_deref()) {
        (Some(d), _) => Some(d),
        (None, Some(d)) => Some(parse_id("device_id", d)?),
        (None, None) => None,
    };
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
    let q = ChannelQuery {
        device_id: device.map(|d| d.to_string()),
        q: p.q.filter(|q| !q.is_empty()),
        online: p.online,
        include_removed: p.include_removed,
        page,
        per_page,
    };
    let (items, total) = s.store.list_channels(&q).await?;
    Ok(Json(json!({
        "items": items,
        "total": total,
        "page": page,
        "per_page": per_page,
    })))
}

/// Channels of every device, filtered and paged.
#[utoipa::path(get, path = "/api/v1/channels", tag = "channels", params(ListParams),
    responses((status = 200, description = "A page of channels", body = super::openapi::ChannelPage),
    (status = 400, description = "Bad input; the message names the field", body = super::openapi::ErrorBody)))]
pub(super) async fn all(
    State(s): State<ApiState>,
    params: Result<Query<ListParams>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(params) = params.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    list(&s, params, None).await
}

/// One channel.
#[utoipa::path(get, path = "/api/v1/channels/{channel_id}", tag = "channels", params(("channel_id" = String, Path, description = "2 to 20 digits")),
    responses((status = 200, description = "The channel", body = ChannelRecord), (status = 400, description = "Bad input; the message names the field", body = super::openapi::ErrorBody), (status = 404, description = "Not found", body = super::openapi::ErrorBody)))]
pub(super) async fn one(
    State(s): State<ApiState>,
    Path(channel_id): Path<String>,
) -> Result<Json<ChannelRecord>, ApiError> {
    // Catalog items are usually 20-digit IDs, but tree nodes from platforms may be civil
    // codes (2 to 8 digits): accept digits of any of those lengths.
    let id = channel_id.as_str();
    if !(2..=20).contains(&id.len()) || !id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ApiError::BadRequest(format!(
            "channel_id: {id:?} is not a GB28181 ID (2 to 20 digits)"
        )));
    }
    s.store
        .get_channel(id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("channel {id} not found")))
}
