//! `Response/DeviceInfo`: a device's name, make, firmware and channel count.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::fields::keep_extra;
use super::tree::Element;
use super::write::XmlWriter;
use crate::id::DeviceId;

/// Answer to a DeviceInfo query.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceInfo {
    /// Sequence number of the query.
    pub sn: u32,
    /// The device.
    pub device_id: DeviceId,
    /// `DeviceName`.
    pub device_name: Option<String>,
    /// `Result`: `OK` or `ERROR`.
    pub result: Option<String>,
    /// `Manufacturer`.
    pub manufacturer: Option<String>,
    /// `Model`.
    pub model: Option<String>,
    /// `Firmware`.
    pub firmware: Option<String>,
    /// `Channel`: number of video channels.
    pub channel: Option<u32>,
    /// Other leaf fields (`DeviceType`, `MaxCamera`, `MaxAlarm`, `Reason`, ...) and a
    /// `Channel` that is not a number, raw.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, String>,
}

impl DeviceInfo {
    /// An answer with only the header set.
    pub fn new(sn: u32, device_id: DeviceId) -> Self {
        Self {
            sn,
            device_id,
            device_name: None,
            result: None,
            manufacturer: None,
            model: None,
            firmware: None,
            channel: None,
            extra: BTreeMap::new(),
        }
    }

    pub(crate) fn read(root: &Element, sn: u32, device_id: DeviceId) -> Self {
        let mut info = Self::new(sn, device_id);
        for child in &root.children {
            let t = child.text.as_str();
            let text = (!t.is_empty()).then(|| t.to_owned());
            match child.name.to_ascii_lowercase().as_str() {
                "cmdtype" | "sn" | "deviceid" => {}
                "devicename" => info.device_name = text,
                "result" => info.result = text,
                "manufacturer" => info.manufacturer = text,
                "model" => info.model = text,
                "firmware" => info.firmware = text,
                "channel" if t.is_empty() => info.channel = None,
                "channel" => match t.parse() {
                    Ok(n) => info.channel = Some(n),
                    Err(_) => keep_extra(&mut info.extra, child),
                },
                _ => keep_extra(&mut info.extra, child),
            }
        }
        info
    }

    pub(crate) fn write(&self, w: &mut XmlWriter) {
        w.opt("DeviceName", self.device_name.as_deref());
        w.opt("Result", self.result.as_deref());
        w.opt("Manufacturer", self.manufacturer.as_deref());
        w.opt("Model", self.model.as_deref());
        w.opt("Firmware", self.firmware.as_deref());
        w.opt("Channel", self.channel);
        w.extras(&self.extra);
    }
}
