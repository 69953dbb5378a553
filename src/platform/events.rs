//! The internal event bus: every change of device state (and later catalog and live
//! sessions) is published here once, by the component that owns that state; the API's SSE
//! stream, the dashboard and webhooks subscribe.

use std::sync::Arc;

use serde::Serialize;
use tokio::sync::broadcast;

/// One event, stamped with Unix milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    pub at: i64,
    #[serde(flatten)]
    pub kind: EventKind,
}

/// What happened. Serialized as `{"type": "device_online", ...}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventKind {
    /// A device registered (first time, or after being offline).
    DeviceOnline {
        device_id: String,
        transport: String,
        address: String,
    },
    /// A registered device registered again (refresh); `address_changed` when it moved.
    DeviceReregistered {
        device_id: String,
        address: String,
        address_changed: bool,
    },
    /// A device is offline: unregistered, registration expired, or keepalives missed.
    DeviceOffline {
        device_id: String,
        reason: OfflineReason,
    },
    /// A live session delivers video (its first key frame is in the hub).
    LiveStarted {
        session_id: String,
        channel_id: String,
        device_id: String,
        transport: String,
        ssrc: String,
    },
    /// A running live session ended.
    LiveStopped {
        session_id: String,
        channel_id: String,
        device_id: String,
        reason: LiveStopReason,
        #[serde(skip_serializing_if = "Option::is_none")]
        detail: Option<String>,
    },
    /// A live session could not start; `sip_status` when the device refused the INVITE.
    LiveFailed {
        session_id: String,
        channel_id: String,
        device_id: String,
        error: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        sip_status: Option<u16>,
    },
}

/// Why a live session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LiveStopReason {
    /// `DELETE /api/v1/live/{id}`.
    Stopped,
    /// Nobody watched for `media.idle_timeout`.
    Idle,
    /// The device sent BYE.
    DeviceBye,
    /// No RTP for `media.rtp_timeout`.
    RtpTimeout,
    /// The media connection failed or the device closed it.
    MediaError,
    /// The platform is shutting down.
    Shutdown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OfflineReason {
    Unregistered,
    RegistrationExpired,
    KeepaliveTimeout,
    Removed,
}

impl EventKind {
    /// The SSE `event:` name.
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::DeviceOnline { .. } => "device_online",
            EventKind::DeviceReregistered { .. } => "device_reregistered",
            EventKind::DeviceOffline { .. } => "device_offline",
            EventKind::LiveStarted { .. } => "live_started",
            EventKind::LiveStopped { .. } => "live_stopped",
            EventKind::LiveFailed { .. } => "live_failed",
        }
    }
}

/// Publish/subscribe handle; cheap to clone. Slow subscribers lose old events (they are
/// told by `RecvError::Lagged`) rather than slowing the publisher.
#[derive(Debug, Clone)]
pub struct EventBus {
    tx: broadcast::Sender<Arc<Event>>,
}

impl Default for EventBus {
    fn default() -> Self {
        EventBus::new(4096)
    }
}

impl EventBus {
    pub fn new(capacity: usize) -> EventBus {
        EventBus {
            tx: broadcast::channel(capacity).0,
        }
    }

    pub fn publish(&self, at: i64, kind: EventKind) {
        tracing::debug!(event = kind.name(), ?kind, "event");
        // No subscribers is fine.
        let _ = self.tx.send(Arc::new(Event { at, kind }));
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.tx.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_serialize_with_a_type_tag() {
        let e = Event {
            at: 5,
            kind: EventKind::DeviceOffline {
                device_id: "34020000001320000001".into(),
                reason: OfflineReason::KeepaliveTimeout,
            },
        };
        assert_eq!(
            serde_json::to_string(&e).unwrap(),
            r#"{"at":5,"type":"device_offline","device_id":"34020000001320000001","reason":"keepalive_timeout"}"#
        );
    }
}
