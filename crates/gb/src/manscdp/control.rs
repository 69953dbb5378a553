//! `Control/DeviceControl`: PTZ, reboot, record, guard, alarm reset and I-frame requests.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::error::XmlError;
use super::fields::{keep_extra, set_parsed, set_text};
use super::tree::Element;
use super::write::XmlWriter;
use crate::id::DeviceId;
use crate::ptz::PtzCmd;

/// A device control. Usually one command per message; all are optional.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceControl {
    /// Sequence number.
    pub sn: u32,
    /// The device or channel controlled.
    pub device_id: DeviceId,
    /// `PTZCmd`: 8 bytes as 16 hex digits. A malformed one fails the message: a control we
    /// cannot execute is refused, not ignored.
    #[serde(with = "ptz_hex", default, skip_serializing_if = "Option::is_none")]
    pub ptz_cmd: Option<PtzCmd>,
    /// `TeleBoot`: `Boot`.
    pub tele_boot: Option<String>,
    /// `RecordCmd`: `Record` or `StopRecord`.
    pub record_cmd: Option<String>,
    /// `GuardCmd`: `SetGuard` or `ResetGuard`.
    pub guard_cmd: Option<String>,
    /// `AlarmCmd`: `ResetAlarm`.
    pub alarm_cmd: Option<String>,
    /// `IFameCmd` (so spelled in the standard; `IFrameCmd` accepted): `Send`.
    pub iframe_cmd: Option<String>,
    /// `Info/ControlPriority`: 1 highest .. 5.
    pub control_priority: Option<u8>,
    /// Other leaf fields, raw.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, String>,
}

impl DeviceControl {
    /// A control with only the header set.
    pub fn new(sn: u32, device_id: DeviceId) -> Self {
        Self {
            sn,
            device_id,
            ptz_cmd: None,
            tele_boot: None,
            record_cmd: None,
            guard_cmd: None,
            alarm_cmd: None,
            iframe_cmd: None,
            control_priority: None,
            extra: BTreeMap::new(),
        }
    }

    /// A PTZ control.
    pub fn ptz(sn: u32, device_id: DeviceId, cmd: PtzCmd) -> Self {
        Self {
            ptz_cmd: Some(cmd),
            ..Self::new(sn, device_id)
        }
    }

    /// Ask for a key frame now (`IFameCmd` `Send`), used when a viewer joins.
    pub fn iframe(sn: u32, device_id: DeviceId) -> Self {
        Self {
            iframe_cmd: Some("Send".to_owned()),
            ..Self::new(sn, device_id)
        }
    }

    pub(crate) fn read(
        root: &Element,
        at: &str,
        sn: u32,
        device_id: DeviceId,
    ) -> Result<Self, XmlError> {
        let mut c = Self::new(sn, device_id);
        for child in &root.children {
            let t = child.text.as_str();
            let taken = match child.name.to_ascii_lowercase().as_str() {
                "cmdtype" | "sn" | "deviceid" => true,
                "ptzcmd" if t.is_empty() => true,
                "ptzcmd" => {
                    let cmd = PtzCmd::from_hex(t).map_err(|e| XmlError::Invalid {
                        path: format!("{at}/PTZCmd"),
                        reason: e.to_string(),
                    })?;
                    c.ptz_cmd = Some(cmd);
                    true
                }
                "teleboot" => set_text(&mut c.tele_boot, t),
                "recordcmd" => set_text(&mut c.record_cmd, t),
                "guardcmd" => set_text(&mut c.guard_cmd, t),
                "alarmcmd" => set_text(&mut c.alarm_cmd, t),
                "ifamecmd" | "iframecmd" => set_text(&mut c.iframe_cmd, t),
                "info" => {
                    for info in &child.children {
                        if !(info.is("ControlPriority")
                            && set_parsed(&mut c.control_priority, &info.text))
                        {
                            keep_extra(&mut c.extra, info);
                        }
                    }
                    true
                }
                _ => false,
            };
            if !taken {
                keep_extra(&mut c.extra, child);
            }
        }
        Ok(c)
    }

    pub(crate) fn write(&self, w: &mut XmlWriter) {
        w.opt("PTZCmd", self.ptz_cmd);
        w.opt("TeleBoot", self.tele_boot.as_deref());
        w.opt("RecordCmd", self.record_cmd.as_deref());
        w.opt("GuardCmd", self.guard_cmd.as_deref());
        w.opt("AlarmCmd", self.alarm_cmd.as_deref());
        w.opt("IFameCmd", self.iframe_cmd.as_deref());
        if let Some(p) = self.control_priority {
            w.start("Info");
            w.leaf("ControlPriority", p);
            w.end("Info");
        }
        w.extras(&self.extra);
    }
}

/// Serde for `Option<PtzCmd>` as its hex string.
mod ptz_hex {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::ptz::PtzCmd;

    pub fn serialize<S: Serializer>(v: &Option<PtzCmd>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(cmd) => s.serialize_some(&cmd.to_hex()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<PtzCmd>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|h| PtzCmd::from_hex(&h).map_err(serde::de::Error::custom))
            .transpose()
    }
}
