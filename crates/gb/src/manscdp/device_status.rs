//! `Response/DeviceStatus`: whether a device is online, recording, encoding, and the
//! duty state of its alarm inputs.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::error::XmlError;
use super::fields::{keep_extra, req_text};
use super::tree::Element;
use super::write::XmlWriter;
use crate::id::DeviceId;

/// Answer to a DeviceStatus query.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceStatus {
    /// Sequence number of the query.
    pub sn: u32,
    /// The device.
    pub device_id: DeviceId,
    /// `Result`: `OK` or `ERROR`.
    pub result: Option<String>,
    /// `Online`: `ONLINE` or `OFFLINE`.
    pub online: Option<String>,
    /// `Status`: `OK` or `ERROR`.
    pub status: Option<String>,
    /// `Reason`: why not OK.
    pub reason: Option<String>,
    /// `Encode`: `ON`/`OFF`.
    pub encode: Option<String>,
    /// `Record`: `ON`/`OFF`.
    pub record: Option<String>,
    /// `DeviceTime`, as sent (`2026-11-26T10:15:30`).
    pub device_time: Option<String>,
    /// `Alarmstatus/Item` entries.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alarm_status: Vec<AlarmStatusItem>,
    /// Other leaf fields, raw.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, String>,
}

/// Duty state of one alarm input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlarmStatusItem {
    /// The alarm input's ID (kept as text, like catalog items).
    pub device_id: String,
    /// `DutyStatus`: `ONDUTY`, `OFFDUTY` or `ALARM`.
    pub duty_status: Option<String>,
}

impl DeviceStatus {
    /// An answer with only the header set.
    pub fn new(sn: u32, device_id: DeviceId) -> Self {
        Self {
            sn,
            device_id,
            result: None,
            online: None,
            status: None,
            reason: None,
            encode: None,
            record: None,
            device_time: None,
            alarm_status: Vec::new(),
            extra: BTreeMap::new(),
        }
    }

    /// `Some(true)` for `ONLINE`, `Some(false)` for `OFFLINE`, else `None`.
    pub fn is_online(&self) -> Option<bool> {
        match self.online.as_deref() {
            Some(s) if s.eq_ignore_ascii_case("ONLINE") => Some(true),
            Some(s) if s.eq_ignore_ascii_case("OFFLINE") => Some(false),
            _ => None,
        }
    }

    pub(crate) fn read(
        root: &Element,
        at: &str,
        sn: u32,
        device_id: DeviceId,
    ) -> Result<Self, XmlError> {
        let mut st = Self::new(sn, device_id);
        for child in &root.children {
            let t = child.text.as_str();
            let text = (!t.is_empty()).then(|| t.to_owned());
            match child.name.to_ascii_lowercase().as_str() {
                "cmdtype" | "sn" | "deviceid" => {}
                "result" => st.result = text,
                "online" => st.online = text,
                "status" => st.status = text,
                "reason" => st.reason = text,
                "encode" => st.encode = text,
                "record" => st.record = text,
                "devicetime" => st.device_time = text,
                "alarmstatus" => {
                    for (i, item) in child.children.iter().filter(|c| c.is("Item")).enumerate() {
                        let path = format!("{at}/Alarmstatus/Item[{}]", i + 1);
                        st.alarm_status.push(AlarmStatusItem {
                            device_id: req_text(item, "DeviceID", &path)?.to_owned(),
                            duty_status: item.child_text("DutyStatus").map(str::to_owned),
                        });
                    }
                }
                _ => keep_extra(&mut st.extra, child),
            }
        }
        Ok(st)
    }

    pub(crate) fn write(&self, w: &mut XmlWriter) {
        w.opt("Result", self.result.as_deref());
        w.opt("Online", self.online.as_deref());
        w.opt("Status", self.status.as_deref());
        w.opt("Reason", self.reason.as_deref());
        w.opt("Encode", self.encode.as_deref());
        w.opt("Record", self.record.as_deref());
        w.opt("DeviceTime", self.device_time.as_deref());
        if !self.alarm_status.is_empty() {
            w.start_list("Alarmstatus", self.alarm_status.len());
            for item in &self.alarm_status {
                w.start("Item");
                w.leaf("DeviceID", &item.device_id);
                w.opt("DutyStatus", item.duty_status.as_deref());
                w.end("Item");
            }
            w.end("Alarmstatus");
        }
        w.extras(&self.extra);
    }
}
