//! `Notify/Keepalive`: the device's heartbeat.

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
        Ok(Self {
            sn,
            device_id,
            status: opt_text(root, "Status"),
        })
    }

    pub(crate) fn write(&self, w: &mut XmlWriter) {
        w.opt("Status", self.status.as_deref());
    }
}
