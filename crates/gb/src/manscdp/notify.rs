//! Small device notifications: `MediaStatus` (a playback or download reached its end) and
//! `MobilePosition` (GPS position of a mobile device), plus the MobilePosition
//! subscription query.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::fields::{keep_extra, set_f64, set_parsed, set_text};
use super::tree::Element;
use super::write::XmlWriter;
use crate::id::DeviceId;

/// `NotifyType` of a MediaStatus that means "file ended".
pub const MEDIA_STATUS_END_OF_FILE: &str = "121";

/// `Notify/MediaStatus`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediaStatus {
    /// Sequence number.
    pub sn: u32,
    /// The channel whose playback ended.
    pub device_id: DeviceId,
    /// `NotifyType`: `121` for end of file.
    pub notify_type: Option<String>,
}

impl MediaStatus {
    /// True for the end-of-file notification, after which the platform sends BYE.
    pub fn is_end_of_file(&self) -> bool {
        self.notify_type.as_deref() == Some(MEDIA_STATUS_END_OF_FILE)
    }

    pub(crate) fn read(root: &Element, sn: u32, device_id: DeviceId) -> Self {
        Self {
            sn,
            device_id,
            notify_type: root.child_text("NotifyType").map(str::to_owned),
        }
    }

    pub(crate) fn write(&self, w: &mut XmlWriter) {
        w.opt("NotifyType", self.notify_type.as_deref());
    }
}

/// `Notify/MobilePosition`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MobilePosition {
    /// Sequence number.
    pub sn: u32,
    /// The mobile device.
    pub device_id: DeviceId,
    /// `Time`, as sent.
    pub time: Option<String>,
    /// `Longitude`, degrees.
    pub longitude: Option<f64>,
    /// `Latitude`, degrees.
    pub latitude: Option<f64>,
    /// `Speed`, km/h.
    pub speed: Option<f64>,
    /// `Direction`, degrees from north.
    pub direction: Option<f64>,
    /// `Altitude`, metres.
    pub altitude: Option<f64>,
    /// Other leaf fields and unparsable typed ones, raw.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, String>,
}

impl MobilePosition {
    /// A position with only the header set.
    pub fn new(sn: u32, device_id: DeviceId) -> Self {
        Self {
            sn,
            device_id,
            time: None,
            longitude: None,
            latitude: None,
            speed: None,
            direction: None,
            altitude: None,
            extra: BTreeMap::new(),
        }
    }

    pub(crate) fn read(root: &Element, sn: u32, device_id: DeviceId) -> Self {
        let mut p = Self::new(sn, device_id);
        for child in &root.children {
            let t = child.text.as_str();
            let taken = match child.name.to_ascii_lowercase().as_str() {
                "cmdtype" | "sn" | "deviceid" => true,
                "time" => set_text(&mut p.time, t),
                "longitude" => set_f64(&mut p.longitude, t),
                "latitude" => set_f64(&mut p.latitude, t),
                "speed" => set_f64(&mut p.speed, t),
                "direction" => set_f64(&mut p.direction, t),
                "altitude" => set_f64(&mut p.altitude, t),
                _ => false,
            };
            if !taken {
                keep_extra(&mut p.extra, child);
            }
        }
        p
    }

    pub(crate) fn write(&self, w: &mut XmlWriter) {
        w.opt("Time", self.time.as_deref());
        w.opt("Longitude", self.longitude);
        w.opt("Latitude", self.latitude);
        w.opt("Speed", self.speed);
        w.opt("Direction", self.direction);
        w.opt("Altitude", self.altitude);
        w.extras(&self.extra);
    }
}

/// `Query/MobilePosition` (the body of a MobilePosition SUBSCRIBE).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MobilePositionQuery {
    /// Sequence number.
    pub sn: u32,
    /// The device asked.
    pub device_id: DeviceId,
    /// `Interval`: seconds between reports.
    pub interval: Option<u32>,
    /// Other leaf fields and an unparsable `Interval`, raw.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, String>,
}

impl MobilePositionQuery {
    pub(crate) fn read(root: &Element, sn: u32, device_id: DeviceId) -> Self {
        let mut q = Self {
            sn,
            device_id,
            interval: None,
            extra: BTreeMap::new(),
        };
        for child in &root.children {
            let taken = match child.name.to_ascii_lowercase().as_str() {
                "cmdtype" | "sn" | "deviceid" => true,
                "interval" => set_parsed(&mut q.interval, &child.text),
                _ => false,
            };
            if !taken {
                keep_extra(&mut q.extra, child);
            }
        }
        q
    }

    pub(crate) fn write(&self, w: &mut XmlWriter) {
        w.opt("Interval", self.interval);
        w.extras(&self.extra);
    }
}
