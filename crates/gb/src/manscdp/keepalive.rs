//! `Notify/Keepalive`: the device's heartbeat, with the channels the device reports faulty
//! (`<Info><DeviceID>...`, GB/T 28181-2016 A.2.5) when it lists any.

use serde::{Deserialize, Serialize};

use super::error::XmlError;
use super::fields::opt_text;
use super::tree::Element;
use super::write::XmlWriter;
use crate::id::DeviceId;

/// A device heartbeat (`<Notify><CmdType>Keepalive</CmdType>...`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Keepalive {
    /// Sequence number.
    pub sn: u32,
    /// The device sending it.
    pub device_id: DeviceId,
    /// `OK` normally, `ERROR` when the device reports a fault.
    pub status: Option<String>,
    /// `Info/DeviceID`: the channels the device says are faulty, in order, each once. An
    /// entry that is not a 20-digit ID is skipped rather than failing the heartbeat.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub faulty: Vec<DeviceId>,
}

impl Keepalive {
    /// True unless the device says it is in error (`Status` absent counts as OK, as many
    /// devices omit it).
    pub fn is_ok(&self) -> bool {
        self.status
            .as_deref()
            .is_none_or(|s| !s.eq_ignore_ascii_case("ERROR"))
    }

    pub(crate) fn read(root: &Element, sn: u32, device_id: DeviceId) -> Result<Self, XmlError> {
        let mut faulty: Vec<DeviceId> = Vec::new();
        for info in root.children.iter().filter(|c| c.is("Info")) {
            let ids = info.children.iter().filter(|c| c.is("DeviceID"));
            for id in ids.filter_map(|c| c.text.parse::<DeviceId>().ok()) {
                if !faulty.contains(&id) {
                    faulty.push(id);
                }
            }
        }
        Ok(Self {
            sn,
            device_id,
            status: opt_text(root, "Status"),
            faulty,
        })
    }

    pub(crate) fn write(&self, w: &mut XmlWriter) {
        w.opt("Status", self.status.as_deref());
        if !self.faulty.is_empty() {
            w.start("Info");
            for id in &self.faulty {
                w.leaf("DeviceID", id);
            }
            w.end("Info");
        }
    }
}
