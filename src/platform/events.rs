//! The internal event bus: every change of device state (and later catalog and live
//! sessions) is published here once, by the component that owns that state; the API's SSE
//! stream, the dashboard and webhooks subscribe.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;
use tokio::sync::broadcast;

pub use crate::store::channels::CatalogState;

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
    /// A device's catalog sync moved on: queued/running with `received` of `total` items
    /// so far, or finished (complete, partial, failed).
    CatalogProgress {
        device_id: String,
        state: CatalogState,
        received: u64,
        total: u64,
    },
    /// Channels of a device changed, by a catalog query (`complete` says whether channels
    /// not reported were marked removed) or by catalog notifications (`channels` lists them).
    CatalogChanged {
        device_id: String,
        source: CatalogSource,
        complete: bool,
        added: u64,
        updated: u64,
        removed: u64,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        channels: Vec<ChannelChange>,
    },
    /// A device answered DeviceInfo; what it said is stored on the device.
    DeviceInfo {
        device_id: String,
        name: Option<String>,
        manufacturer: Option<String>,
        model: Option<String>,
        firmware: Option<String>,
        channel_count: Option<u32>,
    },
    /// The catalog subscription of a device started or was refreshed (`active`), was refused
    /// (`status` says how; it is not tried again until the device registers anew) or ended.
    CatalogSubscription {
        device_id: String,
        state: SubscriptionState,
        #[serde(skip_serializing_if = "Option::is_none")]
        expires: Option<u64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        status: Option<u16>,
    },
    /// A device raised an alarm (`Notify/Alarm`), with the fields as it sent them.
    Alarm {
        /// The registered device that sent it.
        device_id: String,
        /// The alarming channel or alarm input as the alarm's `DeviceID` names it (the
        /// device's own ID when the device itself alarms).
        channel_id: String,
        /// The alarm's `SN`.
        sn: u32,
        /// `AlarmPriority`: 1 (highest) to 4.
        priority: Option<u8>,
        /// `AlarmMethod`: 1 phone, 2 device, 3 SMS, 4 GPS, 5 video, 6 device fault, 7 other.
        method: Option<u8>,
        /// `Info/AlarmType`, whose meaning depends on the method (GB/T 28181-2016 A.2.5:
        /// method 2, type 1 is video loss; method 5, type 2 is motion detection).
        alarm_type: Option<String>,
        /// `Info/AlarmTypeParam/EventType`: 1 entering, 2 leaving an area.
        event_type: Option<String>,
        /// `AlarmTime` as sent (device local time, `2026-11-26T10:15:30`).
        time: Option<String>,
        /// `AlarmDescription`.
        description: Option<String>,
        longitude: Option<f64>,
        latitude: Option<f64>,
        /// Other fields the alarm carried (and typed ones that did not parse), raw.
        #[serde(skip_serializing_if = "BTreeMap::is_empty")]
        extra: BTreeMap<String, String>,
    },
    /// A device reported on a media stream (`Notify/MediaStatus`); `notify_type` `121`
    /// (`end_of_file`) says a playback or download reached the end of its file.
    MediaStatus {
        device_id: String,
        /// The channel whose stream it is (the notification's `DeviceID`).
        channel_id: String,
        notify_type: Option<String>,
        end_of_file: bool,
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
    /// `DELETE /api/v1/devices/{id}` removed the session's device.
    DeviceRemoved,
}

/// Where a catalog change came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CatalogSource {
    /// A Catalog query and its (possibly many) answers.
    Query,
    /// Catalog notifications (NOTIFY of a subscription, or a Notify MESSAGE).
    Notify,
}

/// One channel a catalog notification touched, with the device's event (`ADD`, `DEL`,
/// `UPDATE`, `ON`, `OFF`, `VLOST`, `DEFECT`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChannelChange {
    pub channel_id: String,
    pub event: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SubscriptionState {
    Active,
    Refused,
    Ended,
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
            EventKind::CatalogProgress { .. } => "catalog_progress",
            EventKind::CatalogChanged { .. } => "catalog_changed",
            EventKind::DeviceInfo { .. } => "device_info",
            EventKind::CatalogSubscription { .. } => "catalog_subscription",
            EventKind::Alarm { .. } => "alarm",
            EventKind::MediaStatus { .. } => "media_status",
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
        let e = Event {
            at: 6,
            kind: EventKind::CatalogProgress {
                device_id: "34020000001180000001".into(),
                state: CatalogState::Running,
                received: 16,
                total: 256,
            },
        };
        assert_eq!(e.kind.name(), "catalog_progress");
        assert_eq!(
            serde_json::to_string(&e).unwrap(),
            r#"{"at":6,"type":"catalog_progress","device_id":"34020000001180000001","state":"running","received":16,"total":256}"#
        );
    }
}
