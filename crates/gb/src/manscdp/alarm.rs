//! `Notify/Alarm`: an alarm a device raises (motion, video loss, alarm input...), and the
//! `Response` with a Result that acknowledges it or a DeviceControl.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::fields::{keep_extra, set_f64, set_parsed, set_text};
use super::tree::Element;
use super::write::XmlWriter;
use crate::id::DeviceId;

/// An alarm notification.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alarm {
    /// Sequence number.
    pub sn: u32,
    /// The alarming device or channel.
    pub device_id: DeviceId,
    /// `AlarmPriority`: 1 highest .. 4 lowest.
    pub priority: Option<u8>,
    /// `AlarmMethod`: 1 phone, 2 device, 3 SMS, 4 GPS, 5 video, 6 device fault, 7 other.
    pub method: Option<u8>,
    /// `AlarmTime`, as sent.
    pub time: Option<String>,
    /// `AlarmDescription`.
    pub description: Option<String>,
    /// `Longitude`.
    pub longitude: Option<f64>,
    /// `Latitude`.
    pub latitude: Option<f64>,
    /// `Info/AlarmType`: meaning depends on the method (e.g. 2 = video loss for method 5).
    pub alarm_type: Option<String>,
    /// `Info/AlarmTypeParam/EventType`: 1 entering, 2 leaving an area.
    pub event_type: Option<String>,
    /// Other leaf fields and unparsable typed ones, raw.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, String>,
}

/// A Response that carries only a `Result` (to DeviceControl, Alarm, DeviceConfig).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResultResponse {
    /// Sequence number of what is answered.
    pub sn: u32,
    /// The device answering, or answered.
    pub device_id: DeviceId,
    /// `Result`: `OK` or `ERROR`.
    pub result: Option<String>,
}

impl ResultResponse {
    /// True when the result is `OK`.
    pub fn is_ok(&self) -> bool {
        self.result
            .as_deref()
            .is_some_and(|r| r.eq_ignore_ascii_case("OK"))
    }

    pub(crate) fn read(root: &Element, sn: u32, device_id: DeviceId) -> Self {
        Self {
            sn,
            device_id,
            result: root.child_text("Result").map(str::to_owned),
        }
    }

    pub(crate) fn write(&self, w: &mut XmlWriter) {
        w.opt("Result", self.result.as_deref());
    }
}

impl Alarm {
    /// An alarm with only the header set.
    pub fn new(sn: u32, device_id: DeviceId) -> Self {
        Self {
            sn,
            device_id,
            priority: None,
            method: None,
            time: None,
            description: None,
            longitude: None,
            latitude: None,
            alarm_type: None,
            event_type: None,
            extra: BTreeMap::new(),
        }
    }

    pub(crate) fn read(root: &Element, sn: u32, device_id: DeviceId) -> Self {
        let mut a = Self::new(sn, device_id);
        for child in &root.children {
            let t = child.text.as_str();
            let taken = match child.name.to_ascii_lowercase().as_str() {
                "cmdtype" | "sn" | "deviceid" => true,
                "alarmpriority" => set_parsed(&mut a.priority, t),
                "alarmmethod" => set_parsed(&mut a.method, t),
                "alarmtime" => set_text(&mut a.time, t),
                "alarmdescription" => set_text(&mut a.description, t),
                "longitude" => set_f64(&mut a.longitude, t),
                "latitude" => set_f64(&mut a.latitude, t),
                "info" => {
                    a.alarm_type = child.child_text("AlarmType").map(str::to_owned);
                    a.event_type = child
                        .child("AlarmTypeParam")
                        .and_then(|p| p.child_text("EventType"))
                        .map(str::to_owned);
                    true
                }
                _ => false,
            };
            if !taken {
                keep_extra(&mut a.extra, child);
            }
        }
        a
    }

    pub(crate) fn write(&self, w: &mut XmlWriter) {
        w.opt("AlarmPriority", self.priority);
        w.opt("AlarmMethod", self.method);
        w.opt("AlarmTime", self.time.as_deref());
        w.opt("AlarmDescription", self.description.as_deref());
        w.opt("Longitude", self.longitude);
        w.opt("Latitude", self.latitude);
        if self.alarm_type.is_some() || self.event_type.is_some() {
            w.start("Info");
            w.opt("AlarmType", self.alarm_type.as_deref());
            if let Some(e) = &self.event_type {
                w.start("AlarmTypeParam");
                w.leaf("EventType", e);
                w.end("AlarmTypeParam");
            }
            w.end("Info");
        }
        w.extras(&self.extra);
    }
}
