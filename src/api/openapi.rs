//! The OpenAPI 3 document, generated from the handlers' `#[utoipa::path]` attributes and the
//! types they take and answer, served at `GET /api/v1/openapi.json`, with Swagger UI (its
//! files are compiled in, so it works on a closed network) at `/api/docs/`.

use axum::Router;
use axum::routing::get;
use serde::Serialize;
use utoipa::{OpenApi, ToSchema};
use utoipa_swagger_ui::SwaggerUi;

use super::ApiState;
use crate::store::DeviceRecord;
use crate::store::channels::ChannelRecord;

#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "vigil",
        description = "GB/T 28181 video platform: devices, channels, live view, events. \
                       Errors are `{\"error\": {\"code\", \"message\"}}`."
    ),
    paths(
        super::health,
        super::devices::list_devices,
        super::devices::create,
        super::devices::get_device,
        super::devices::update,
        super::devices::remove,
        super::devices::channels,
        super::devices::refresh,
        super::devices::status,
        super::channels::all,
        super::channels::one,
        super::ptz::ptz,
        super::ptz::preset,
        super::sessions::start,
        super::sessions::list,
        super::sessions::one,
        super::sessions::stop,
        super::events::events,
        super::auth::login,
        super::auth::logout,
        super::auth::accounts::me,
        super::auth::accounts::list_keys,
        super::auth::accounts::create_key,
        super::auth::accounts::revoke_key,
        super::auth::accounts::list_users,
        super::auth::accounts::create_user,
        super::auth::accounts::update_user,
        super::auth::accounts::delete_user,
        openapi_json,
    ),
    components(schemas(ErrorBody, ErrorDetail)),
    tags(
        (name = "devices", description = "Cameras and NVRs"),
        (name = "channels", description = "What devices report in their catalogs"),
        (name = "live", description = "Live sessions; the video is under /live/{session_id}"),
        (name = "ptz", description = "Pan, tilt, zoom, focus, iris and presets of a channel (DeviceControl PTZCmd)"),
        (name = "auth", description = "Login, API keys (`Authorization: Bearer`), users"),
        (name = "system", description = "Health, events, this document"),
    )
)]
pub struct ApiDoc;

pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/api/v1/openapi.json", get(openapi_json))
        .merge(
            SwaggerUi::new("/api/docs")
                .config(utoipa_swagger_ui::Config::from("/api/v1/openapi.json")),
        )
}

/// This document.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "system",
    responses((status = 200, description = "OpenAPI 3 document", content_type = "application/json")))]
pub(super) async fn openapi_json() -> axum::Json<utoipa::openapi::OpenApi> {
    axum::Json(ApiDoc::openapi())
}

/// Every error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// `bad_request`, `unprocessable`, `unauthorized`, `forbidden`, `not_found`, `conflict`,
    /// `unavailable`, `bad_gateway`, `gateway_timeout`, `internal`
    pub code: String,
    /// What went wrong; for bad input it starts with the field's name.
    pub message: String,
}

/// A page of devices.
#[derive(Debug, Serialize, ToSchema)]
pub struct DevicePage {
    pub items: Vec<DeviceRecord>,
    /// Matching devices on every page.
    pub total: i64,
    pub page: u32,
    pub per_page: u32,
}

/// A page of channels.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChannelPage {
    pub items: Vec<ChannelRecord>,
    pub total: i64,
    pub page: u32,
    pub per_page: u32,
}

/// Running live sessions.
#[derive(Debug, Serialize, ToSchema)]
pub struct LiveList {
    pub items: Vec<crate::platform::live::LiveSessionInfo>,
    pub total: u64,
}

/// `GET /api/v1/health`
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok`
    pub status: String,
    pub version: String,
    /// `sqlite` or `postgres`
    pub database: String,
    pub uptime_s: u64,
}

/// A catalog refresh accepted.
#[derive(Debug, Serialize, ToSchema)]
pub struct RefreshAccepted {
    pub device_id: String,
    pub sync: crate::platform::catalog::RefreshOutcome,
}

/// A device's answer to a DeviceStatus query.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeviceStatusView {
    pub device_id: String,
    /// `OK` or `ERROR`
    pub result: Option<String>,
    /// `ONLINE` or `OFFLINE`
    pub online: Option<String>,
    pub status: Option<String>,
    pub reason: Option<String>,
    pub encode: Option<String>,
    pub record: Option<String>,
    pub device_time: Option<String>,
    /// `[{device_id, duty_status}]`
    #[schema(value_type = Vec<Object>)]
    pub alarm_status: Vec<serde_json::Value>,
    #[schema(value_type = Object)]
    pub extra: serde_json::Value,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every /api/v1 route the router serves is in the document (and nothing else).
    #[test]
    fn document_lists_every_api_route() {
        let doc = serde_json::to_value(ApiDoc::openapi()).unwrap();
        let mut paths: Vec<&str> = doc["paths"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        paths.sort();
        assert_eq!(
            paths,
            [
                "/api/v1/api-keys",
                "/api/v1/api-keys/{id}",
                "/api/v1/channels",
                "/api/v1/channels/{channel_id}",
                "/api/v1/channels/{channel_id}/live",
                "/api/v1/channels/{channel_id}/presets/{preset}",
                "/api/v1/channels/{channel_id}/ptz",
                "/api/v1/devices",
                "/api/v1/devices/{device_id}",
                "/api/v1/devices/{device_id}/catalog/refresh",
                "/api/v1/devices/{device_id}/channels",
                "/api/v1/devices/{device_id}/status",
                "/api/v1/events",
                "/api/v1/health",
                "/api/v1/live",
                "/api/v1/live/{session_id}",
                "/api/v1/login",
                "/api/v1/logout",
                "/api/v1/me",
                "/api/v1/openapi.json",
                "/api/v1/users",
                "/api/v1/users/{id}",
            ]
        );
    }
}
