//! PTZ routes: pan, tilt, zoom, focus and iris of a channel, and its presets. Each request
//! becomes one `Control/DeviceControl` with a `PTZCmd` (GB/T 28181 A.3), sent as a SIP
//! MESSAGE over the route the owning device registered on, with the channel's ID as the
//! XML `DeviceID`; the answer is the device's final response to that MESSAGE (PTZ has no
//! result message of its own).
//!
//! Motion runs until a `stop` (pan/tilt/zoom) or `lens_stop` (focus/iris), as on every GB
//! device: a dashboard sends the direction on press and the stop on release.

use axum::Router;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::post;
use serde::Deserialize;
use vigil_gb::manscdp::DeviceControl;
use vigil_gb::ptz::{Focus, Iris, Pan, PresetOp, Tilt, Zoom};
use vigil_gb::{Charset, DeviceId, Manscdp, PtzCmd, PtzInstruction};
use vigil_sip::header::NameAddr;
use vigil_sip::{Method, Uri};

use super::devices::parse_id;
use super::json::ApiJson;
use super::{ApiError, ApiState};
use crate::config::SipConfig;
use crate::platform::endpoint::RequestError;
use crate::platform::registry::DeviceRoute;

/// Speed when the body gives none: half of the 0-255 range.
const DEFAULT_SPEED: u8 = 128;
/// The PTZ address byte: GB devices are addressed by the XML `DeviceID`, and send and
/// expect 1 here (WVP, Hikvision and Dahua platforms do the same).
const PTZ_ADDRESS: u16 = 1;
/// `Info/ControlPriority` (1 highest .. 5), as WVP and the standard's example send it.
const CONTROL_PRIORITY: u8 = 5;

pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/api/v1/channels/{channel_id}/ptz", post(ptz))
        .route(
            "/api/v1/channels/{channel_id}/presets/{preset}",
            post(preset),
        )
}

/// What the camera should do: move, zoom, focus, open or close the iris, or stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub(super) enum PtzAction {
    Left,
    Right,
    Up,
    Down,
    UpLeft,
    UpRight,
    DownLeft,
    DownRight,
    ZoomIn,
    ZoomOut,
    FocusNear,
    FocusFar,
    IrisOpen,
    IrisClose,
    /// Stops pan, tilt and zoom.
    Stop,
    /// Stops focus and iris.
    LensStop,
}

impl PtzAction {
    fn name(self) -> &'static str {
        match self {
            PtzAction::Left => "left",
            PtzAction::Right => "right",
            PtzAction::Up => "up",
            PtzAction::Down => "down",
            PtzAction::UpLeft => "up_left",
            PtzAction::UpRight => "up_right",
            PtzAction::DownLeft => "down_left",
            PtzAction::DownRight => "down_right",
            PtzAction::ZoomIn => "zoom_in",
            PtzAction::ZoomOut => "zoom_out",
            PtzAction::FocusNear => "focus_near",
            PtzAction::FocusFar => "focus_far",
            PtzAction::IrisOpen => "iris_open",
            PtzAction::IrisClose => "iris_close",
            PtzAction::Stop => "stop",
            PtzAction::LensStop => "lens_stop",
        }
    }

    /// The instruction at `speed` (0-255): pan and tilt speeds are the byte itself; zoom
    /// has 4 bits, so it gets the high nibble (at least 1 unless the speed is 0).
    fn instruction(self, speed: u8) -> PtzInstruction {
        let zoom_speed = (speed >> 4).max(u8::from(speed > 0));
        let ptz = |pan, tilt, zoom| PtzInstruction::Ptz {
            pan,
            tilt,
            zoom,
            pan_speed: if pan.is_some() { speed } else { 0 },
            tilt_speed: if tilt.is_some() { speed } else { 0 },
            zoom_speed: if zoom.is_some() { zoom_speed } else { 0 },
        };
        let lens = |focus, iris| PtzInstruction::FocusIris {
            focus,
            iris,
            focus_speed: if focus.is_some() { speed } else { 0 },
            iris_speed: if iris.is_some() { speed } else { 0 },
        };
        use PtzAction as A;
        match self {
            A::Left => ptz(Some(Pan::Left), None, None),
            A::Right => ptz(Some(Pan::Right), None, None),
            A::Up => ptz(None, Some(Tilt::Up), None),
            A::Down => ptz(None, Some(Tilt::Down), None),
            A::UpLeft => ptz(Some(Pan::Left), Some(Tilt::Up), None),
            A::UpRight => ptz(Some(Pan::Right), Some(Tilt::Up), None),
            A::DownLeft => ptz(Some(Pan::Left), Some(Tilt::Down), None),
            A::DownRight => ptz(Some(Pan::Right), Some(Tilt::Down), None),
            A::ZoomIn => ptz(None, None, Some(Zoom::In)),
            A::ZoomOut => ptz(None, None, Some(Zoom::Out)),
            A::FocusNear => lens(Some(Focus::Near), None),
            A::FocusFar => lens(Some(Focus::Far), None),
            A::IrisOpen => lens(None, Some(Iris::Open)),
            A::IrisClose => lens(None, Some(Iris::Close)),
            A::Stop => PtzInstruction::STOP,
            A::LensStop => lens(None, None),
        }
    }
}

/// `POST /api/v1/channels/{channel_id}/ptz`
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct PtzBody {
    action: PtzAction,
    /// 0 to 255 (128 when absent): pan/tilt speed, focus/iris speed; zoom uses its high
    /// 4 bits (zoom speed is 0-15 in the command). Ignored by `stop` and `lens_stop`.
    #[schema(minimum = 0, maximum = 255, default = 128)]
    speed: Option<i64>,
}

/// What to do with a preset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub(super) enum PresetAction {
    /// Store the current position under this number.
    Set,
    /// Move to it.
    Goto,
    /// Forget it.
    Delete,
}

/// `POST /api/v1/channels/{channel_id}/presets/{preset}`
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct PresetBody {
    action: PresetAction,
}

/// Moves a channel's camera (pan, tilt, zoom, focus, iris) or stops it.
#[utoipa::path(post, path = "/api/v1/channels/{channel_id}/ptz", tag = "ptz",
    params(("channel_id" = String, Path, description = "20-digit channel ID (or the ID of a single-channel device)")),
    request_body = PtzBody,
    responses((status = 204, description = "The device accepted the command (200 OK to the MESSAGE)"),
    (status = 400, description = "Bad input; the message names the field", body = super::openapi::ErrorBody),
    (status = 404, description = "Unknown channel", body = super::openapi::ErrorBody),
    (status = 409, description = "Device offline", body = super::openapi::ErrorBody),
    (status = 422, description = "JSON of the wrong shape or a speed out of range; the message names the field", body = super::openapi::ErrorBody),
    (status = 502, description = "The device refused (its SIP status in the message)", body = super::openapi::ErrorBody),
    (status = 503, description = "Shutting down", body = super::openapi::ErrorBody),
    (status = 504, description = "The device did not answer within `sip.query_timeout`", body = super::openapi::ErrorBody)))]
pub(super) async fn ptz(
    State(s): State<ApiState>,
    Path(channel_id): Path<String>,
    ApiJson(body): ApiJson<PtzBody>,
) -> Result<StatusCode, ApiError> {
    let speed = match body.speed {
        None => DEFAULT_SPEED,
        Some(v) => u8::try_from(v)
            .map_err(|_| ApiError::Unprocessable(format!("speed: 0 to 255, got {v}")))?,
    };
    let action = body.action;
    send(&s, &channel_id, action.name(), action.instruction(speed)).await
}

/// Stores, calls or deletes a preset of a channel's camera.
#[utoipa::path(post, path = "/api/v1/channels/{channel_id}/presets/{preset}", tag = "ptz",
    params(("channel_id" = String, Path, description = "20-digit channel ID (or the ID of a single-channel device)"),
        ("preset" = u8, Path, minimum = 1, maximum = 255, description = "Preset number, 1 to 255")),
    request_body = PresetBody,
    responses((status = 204, description = "The device accepted the command (200 OK to the MESSAGE)"),
    (status = 400, description = "Bad input; the message names the field", body = super::openapi::ErrorBody),
    (status = 404, description = "Unknown channel", body = super::openapi::ErrorBody),
    (status = 409, description = "Device offline", body = super::openapi::ErrorBody),
    (status = 422, description = "JSON of the wrong shape; the message names the field", body = super::openapi::ErrorBody),
    (status = 502, description = "The device refused (its SIP status in the message)", body = super::openapi::ErrorBody),
    (status = 503, description = "Shutting down", body = super::openapi::ErrorBody),
    (status = 504, description = "The device did not answer within `sip.query_timeout`", body = super::openapi::ErrorBody)))]
pub(super) async fn preset(
    State(s): State<ApiState>,
    path: Result<Path<(String, String)>, PathRejection>,
    ApiJson(body): ApiJson<PresetBody>,
) -> Result<StatusCode, ApiError> {
    let Path((channel_id, preset)) = path.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let index = preset
        .parse::<u8>()
        .ok()
        .filter(|n| *n >= 1)
        .ok_or_else(|| {
            ApiError::BadRequest(format!("preset: a number from 1 to 255, got {preset:?}"))
        })?;
    let (op, what) = match body.action {
        PresetAction::Set => (PresetOp::Set, "preset set"),
        PresetAction::Goto => (PresetOp::Goto, "preset goto"),
        PresetAction::Delete => (PresetOp::Delete, "preset delete"),
    };
    send(&s, &channel_id, what, PtzInstruction::Preset { op, index }).await
}

/// Sends `instruction` to the channel and maps the device's answer to the HTTP status.
async fn send(
    s: &ApiState,
    channel_id: &str,
    what: &str,
    instruction: PtzInstruction,
) -> Result<StatusCode, ApiError> {
    let channel = parse_id("channel_id", channel_id)?;
    let device = owner(s, &channel).await?;
    let route = s.registry.route(device).await.ok_or_else(|| {
        ApiError::Conflict(format!("device {device} of channel {channel} is offline"))
    })?;
    let cmd = PtzCmd::new(PTZ_ADDRESS, instruction);
    let sn = rand::random::<u32>() % 1_000_000;
    let mut control = DeviceControl::ptz(sn, channel, cmd);
    control.control_priority = Some(CONTROL_PRIORITY);
    let uri = device_uri(&route, &device, &s.config.sip);
    let mut req = s
        .endpoint
        .new_request(Method::Message, uri, &device, &route.peer);
    req.set_body(
        "Application/MANSCDP+xml",
        Manscdp::DeviceControl(control).to_body(Charset::Gb2312),
    );
    let waited = s.config.sip.query_timeout;
    let answer = tokio::time::timeout(waited, s.endpoint.request(req, route.peer)).await;
    let fail = |e: ApiError| {
        tracing::warn!(%channel, %device, what, ptz_cmd = %cmd, error = %e, "PTZ command failed");
        Err(e)
    };
    match answer {
        Ok(Ok(resp)) if resp.status.is_success() => {
            tracing::info!(%channel, %device, what, ptz_cmd = %cmd, "PTZ command accepted");
            Ok(StatusCode::NO_CONTENT)
        }
        Ok(Ok(resp)) => fail(ApiError::BadGateway(format!(
            "device {device} refused {what} on channel {channel}: {} {}",
            resp.status.code(),
            resp.reason
        ))),
        Ok(Err(RequestError::Timeout)) | Err(_) => fail(ApiError::GatewayTimeout(format!(
            "device {device} did not answer {what} on channel {channel} within {waited:?}"
        ))),
        Ok(Err(RequestError::Closed)) => fail(ApiError::Unavailable(
            "the SIP endpoint is shutting down".into(),
        )),
        Ok(Err(e @ (RequestError::Transport(_) | RequestError::Invalid(_)))) => {
            fail(ApiError::BadGateway(format!("device {device}: {e}")))
        }
    }
}

/// The device that owns `channel`: from the catalog, or the device itself when the ID is a
/// device's (single-channel cameras are often controlled by their own ID).
async fn owner(s: &ApiState, channel: &DeviceId) -> Result<DeviceId, ApiError> {
    match s.store.get_channel(channel.as_str()).await? {
        Some(c) if c.removed_at.is_none() => c.device_id.parse().map_err(|_| {
            ApiError::Internal(format!(
                "stored device ID {:?} of channel {channel}",
                c.device_id
            ))
        }),
        Some(c) => Err(ApiError::NotFound(format!(
            "channel {channel} is no longer in the catalog of device {}",
            c.device_id
        ))),
        None if s.store.get_device(channel.as_str()).await?.is_some() => Ok(*channel),
        None => Err(ApiError::NotFound(format!("channel {channel} not found"))),
    }
}

/// The Request-URI for a device, as catalog queries use it: its registered Contact, else
/// `sip:id@address`, else `sip:id@domain`.
fn device_uri(route: &DeviceRoute, id: &DeviceId, config: &SipConfig) -> Uri {
    NameAddr::parse(&route.contact)
        .ok()
        .map(|c| c.uri)
        .filter(|u| u.user.as_deref() == Some(id.as_str()))
        .or_else(|| Uri::parse(&format!("sip:{id}@{}", route.peer.remote)).ok())
        .or_else(|| Uri::parse(&format!("sip:{id}@{}", config.domain)).ok())
        .unwrap_or_else(|| Uri::parse("sip:invalid@invalid").expect("literal URI"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What each action puts on the wire at speed 0x80 (zoom: 8), byte for byte.
    #[test]
    fn actions_encode_to_the_standard_bytes() {
        let cases = [
            (PtzAction::Left, "A50F010280000037"),
            (PtzAction::Right, "A50F010180000036"),
            (PtzAction::Up, "A50F01080080003D"),
            (PtzAction::Down, "A50F010400800039"),
            (PtzAction::UpLeft, "A50F010A808000BF"),
            (PtzAction::UpRight, "A50F0109808000BE"),
            (PtzAction::DownLeft, "A50F0106808000BB"),
            (PtzAction::DownRight, "A50F0105808000BA"),
            (PtzAction::ZoomIn, "A50F011000008045"),
            (PtzAction::ZoomOut, "A50F012000008055"),
            (PtzAction::FocusNear, "A50F014280000077"),
            (PtzAction::FocusFar, "A50F014180000076"),
            (PtzAction::IrisOpen, "A50F014400800079"),
            (PtzAction::IrisClose, "A50F01480080007D"),
            (PtzAction::Stop, "A50F0100000000B5"),
            (PtzAction::LensStop, "A50F0140000000F5"),
        ];
        for (action, hex) in cases {
            let cmd = PtzCmd::new(PTZ_ADDRESS, action.instruction(0x80));
            assert_eq!(cmd.to_hex(), hex, "{action:?}");
            let json = format!("{{\"action\":\"{}\"}}", action.name());
            let body: PtzBody = serde_json::from_str(&json).unwrap();
            assert_eq!(body.action, action);
        }
    }

    #[test]
    fn zoom_speed_keeps_the_high_nibble_and_never_rounds_to_still() {
        let zoom = |speed| match PtzAction::ZoomIn.instruction(speed) {
            PtzInstruction::Ptz { zoom_speed, .. } => zoom_speed,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            [zoom(0), zoom(1), zoom(16), zoom(128), zoom(255)],
            [0, 1, 1, 8, 15]
        );
    }
}
