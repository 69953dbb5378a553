//! `Response/PresetQuery`: the PTZ presets a camera has stored.

use serde::{Deserialize, Serialize};

use super::error::XmlError;
use super::fields::req_text;
use super::tree::Element;
use super::write::XmlWriter;
use crate::id::DeviceId;

/// The preset list of a channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PresetList {
    /// Sequence number of the query.
    pub sn: u32,
    /// The channel.
    pub device_id: DeviceId,
    /// `PresetList/Item`s.
    pub presets: Vec<Preset>,
}

/// One stored preset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Preset {
    /// `PresetID` (a number 1-255 in practice; kept as sent).
    pub id: String,
    /// `PresetName`.
    pub name: Option<String>,
}

impl PresetList {
    pub(crate) fn read(
        root: &Element,
        at: &str,
        sn: u32,
        device_id: DeviceId,
    ) -> Result<Self, XmlError> {
        let mut presets = Vec::new();
        if let Some(list) = root.child("PresetList") {
            for (i, item) in list.children.iter().filter(|c| c.is("Item")).enumerate() {
                let path = format!("{at}/PresetList/Item[{}]", i + 1);
                presets.push(Preset {
                    id: req_text(item, "PresetID", &path)?.to_owned(),
                    name: item.child_text("PresetName").map(str::to_owned),
                });
            }
        }
        Ok(Self {
            sn,
            device_id,
            presets,
        })
    }

    pub(crate) fn write(&self, w: &mut XmlWriter) {
        w.start_list("PresetList", self.presets.len());
        for p in &self.presets {
            w.start("Item");
            w.leaf("PresetID", &p.id);
            w.opt("PresetName", p.name.as_deref());
            w.end("Item");
        }
        w.end("PresetList");
    }
}
