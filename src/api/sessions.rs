//! Live session API: start (or join) live view of a channel, list, inspect and stop
//! sessions. The video itself is served by the `/live/...` routes (`api::live`).
//!
//! - `POST /api/v1/channels/{channel_id}/live`, optional body `{"transport": "udp" |
//!   "tcp_passive" | "tcp_active"}`: answers once the first key frame is ready with
//!   `{session_id, channel_id, device_id, transport, ssrc, joined, urls: {ws, mp4, hls}}`;
//!   404 unknown channel, 409 device offline, 502 device refused (its SIP status in the
//!   message) or answered badly, 504 no answer or no key frame within
//!   `media.invite_timeout`, 503 out of ports or SSRCs.
//! - `GET /api/v1/live`: `{items: [...], total}` with per-session stats.
//! - `GET /api/v1/live/{session_id}`, `DELETE /api/v1/live/{session_id}` (204; BYE).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ApiError, ApiState};
use crate::config::RtpTransport;
use crate::platform::live::{LiveError, LiveSessionInfo, LiveStarted};

pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/api/v1/channels/{channel_id}/live", post(start))
        .route("/api/v1/live", get(list))
        .route("/api/v1/live/{session_id}", get(one).delete(stop))
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct StartBody {
    transport: Option<RtpTransport>,
}

impl From<LiveError> for ApiError {
    fn from(e: LiveError) -> Self {
        let m = e.to_string();
        match e {
            LiveError::BadChannelId(_) => ApiError::BadRequest(m),
            LiveError::UnknownChannel(_) => ApiError::NotFound(m),
            LiveError::DeviceOffline { .. } => ApiError::Conflict(m),
            LiveError::Refused { .. }
            | LiveError::Unreachable(_)
            | LiveError::BadAnswer(_)
            | LiveError::StreamFailed(_) => ApiError::BadGateway(m),
            LiveError::Timeout(_) => ApiError::GatewayTimeout(m),
            LiveError::Exhausted(_) | LiveError::Stopped | LiveError::ShuttingDown => {
                ApiError::Unavailable(m)
            }
            LiveError::Internal(_) => ApiError::Internal(m),
        }
    }
}

/// Starts live view of a channel, or joins its running session; answers once the first
/// key frame is ready. The body is optional.
#[utoipa::path(post, path = "/api/v1/channels/{channel_id}/live", tag = "live", params(("channel_id" = String, Path, description = "2 to 20 digits")),
    request_body(content = Option<StartBody>, description = "How RTP should travel (default: `media.transport`)"),
    responses((status = 200, description = "Playing", body = LiveStarted),
    (status = 400, description = "Bad input; the message names the field", body = super::openapi::ErrorBody), (status = 404, description = "Unknown channel", body = super::openapi::ErrorBody), (status = 409, description = "Device offline", body = super::openapi::ErrorBody), (status = 502, description = "The device refused or answered badly", body = super::openapi::ErrorBody), (status = 503, description = "Out of ports or SSRCs", body = super::openapi::ErrorBody), (status = 504, description = "No answer or no key frame in time", body = super::openapi::ErrorBody)))]
pub(super) async fn start(
    State(s): State<ApiState>,
    Path(channel_id): Path<String>,
    body: Bytes,
) -> Result<Json<LiveStarted>, ApiError> {
    // The body is optional; an empty one (or none) means the configured transport.
    let body: StartBody = if body.iter().all(u8::is_ascii_whitespace) {
        StartBody::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::BadRequest(format!("request body: {e}")))?
    };
    let mut started = s.live.start_live(&channel_id, body.transport).await?;
    if s.config.auth.enabled {
        // A player without headers (ffplay, <video>) opens the URLs with this token.
        let ttl = s.config.auth.live_token_ttl.as_millis() as i64;
        let token = s
            .live_signer
            .sign(&started.session_id, crate::platform::unix_ms() + ttl);
        for url in [
            &mut started.urls.ws,
            &mut started.urls.mp4,
            &mut started.urls.hls,
        ] {
            url.push_str("?token=");
            url.push_str(&token);
        }
    }
    Ok(Json(started))
}

/// Live sessions with their stats.
#[utoipa::path(get, path = "/api/v1/live", tag = "live",
    responses((status = 200, description = "Every session", body = super::openapi::LiveList)))]
pub(super) async fn list(State(s): State<ApiState>) -> Json<Value> {
    let items = s.live.list();
    let total = items.len();
    Json(json!({ "items": items, "total": total }))
}

/// One live session.
#[utoipa::path(get, path = "/api/v1/live/{session_id}", tag = "live", params(("session_id" = String, Path, description = "Live session ID")),
    responses((status = 200, description = "The session", body = LiveSessionInfo), (status = 404, description = "Not found", body = super::openapi::ErrorBody)))]
pub(super) async fn one(
    State(s): State<ApiState>,
    Path(session_id): Path<String>,
) -> Result<Json<LiveSessionInfo>, ApiError> {
    s.live
        .get(&session_id)
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("live session {session_id} not found")))
}

/// Stops a session (BYE to the device); its viewers are told the stream ended.
#[utoipa::path(delete, path = "/api/v1/live/{session_id}", tag = "live", params(("session_id" = String, Path, description = "Live session ID")),
    responses((status = 204, description = "Stopped"), (status = 404, description = "Not found", body = super::openapi::ErrorBody)))]
pub(super) async fn stop(
    State(s): State<ApiState>,
    Path(session_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    if s.live.stop(&session_id).await {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound(format!(
            "live session {session_id} not found"
        )))
    }
}
