//! `RecordInfo`: asking a device for its recordings in a time range, and the list it
//! answers with (possibly over several packets, like Catalog).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::error::XmlError;
use super::fields::{keep_extra, set_parsed, set_text};
use super::tree::Element;
use super::write::XmlWriter;
use crate::id::DeviceId;

/// `Query/RecordInfo`. Times are kept as sent (`2026-11-26T10:15:30`, device local time).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordInfoQuery {
    /// Sequence number.
    pub sn: u32,
    /// The channel asked.
    pub device_id: DeviceId,
    /// `StartTime`.
    pub start_time: Option<String>,
    /// `EndTime`.
    pub end_time: Option<String>,
    /// `FilePath`.
    pub file_path: Option<String>,
    /// `Address`.
    pub address: Option<String>,
    /// `Secrecy`.
    pub secrecy: Option<u8>,
    /// `Type`: `all`, `time`, `alarm` or `manual`.
    pub record_type: Option<String>,
    /// `RecorderID`.
    pub recorder_id: Option<String>,
    /// `IndistinctQuery`: 1 for fuzzy matching.
    pub indistinct_query: Option<u8>,
    /// Other leaf fields, raw.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, String>,
}

/// `Response/RecordInfo`: one packet of the recording list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordInfo {
    /// Sequence number of the query.
    pub sn: u32,
    /// The channel.
    pub device_id: DeviceId,
    /// `Name` of the channel.
    pub name: Option<String>,
    /// Total number of records over all packets (this packet's count when absent).
    pub sum_num: u32,
    /// `RecordList/Item`s in this packet.
    pub items: Vec<RecordItem>,
}

/// One recording.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RecordItem {
    /// `DeviceID` of the channel that recorded.
    pub device_id: String,
    /// `Name`.
    pub name: Option<String>,
    /// `FilePath`.
    pub file_path: Option<String>,
    /// `Address`.
    pub address: Option<String>,
    /// `StartTime`, as sent.
    pub start_time: Option<String>,
    /// `EndTime`, as sent.
    pub end_time: Option<String>,
    /// `Secrecy`.
    pub secrecy: Option<u8>,
    /// `Type`: `time`, `alarm`, `manual`.
    pub record_type: Option<String>,
    /// `RecorderID`.
    pub recorder_id: Option<String>,
    /// `FileSize`, bytes.
    pub file_size: Option<u64>,
    /// Other leaf fields and unparsable typed ones, raw.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, String>,
}

impl RecordInfoQuery {
    /// A query for everything `device_id` recorded between `start_time` and `end_time`
    /// (`YYYY-MM-DDTHH:MM:SS`, device local time).
    pub fn new(sn: u32, device_id: DeviceId, start_time: &str, end_time: &str) -> Self {
        Self {
            sn,
            device_id,
            start_time: Some(start_time.to_owned()),
            end_time: Some(end_time.to_owned()),
            file_path: None,
            address: None,
            secrecy: Some(0),
            record_type: Some("all".to_owned()),
            recorder_id: None,
            indistinct_query: None,
            extra: BTreeMap::new(),
        }
    }

    pub(crate) fn read(root: &Element, sn: u32, device_id: DeviceId) -> Self {
        let mut q = Self::new(sn, device_id, "", "");
        q.start_time = None;
        q.end_time = None;
        q.secrecy = None;
        q.record_type = None;
        for child in &root.children {
            let t = child.text.as_str();
            let taken = match child.name.to_ascii_lowercase().as_str() {
                "cmdtype" | "sn" | "deviceid" => true,
                "starttime" => set_text(&mut q.start_time, t),
                "endtime" => set_text(&mut q.end_time, t),
                "filepath" => set_text(&mut q.file_path, t),
                "address" => set_text(&mut q.address, t),
                "secrecy" => set_parsed(&mut q.secrecy, t),
                "type" => set_text(&mut q.record_type, t),
                "recorderid" => set_text(&mut q.recorder_id, t),
                "indistinctquery" => set_parsed(&mut q.indistinct_query, t),
                _ => false,
            };
            if !taken {
                keep_extra(&mut q.extra, child);
            }
        }
        q
    }

    pub(crate) fn write(&self, w: &mut XmlWriter) {
        w.opt("StartTime", self.start_time.as_deref());
        w.opt("EndTime", self.end_time.as_deref());
        w.opt("FilePath", self.file_path.as_deref());
        w.opt("Address", self.address.as_deref());
        w.opt("Secrecy", self.secrecy);
        w.opt("Type", self.record_type.as_deref());
        w.opt("RecorderID", self.recorder_id.as_deref());
        w.opt("IndistinctQuery", self.indistinct_query);
        w.extras(&self.extra);
    }
}

impl RecordInfo {
    pub(crate) fn read(
        root: &Element,
        at: &str,
        sn: u32,
        device_id: DeviceId,
    ) -> Result<Self, XmlError> {
        let mut items = Vec::new();
        if let Some(list) = root.child("RecordList") {
            for (i, el) in list.children.iter().filter(|c| c.is("Item")).enumerate() {
                items.push(read_item(el, &format!("{at}/RecordList/Item[{}]", i + 1))?);
            }
        }
        let sum_num = match root.child_text("SumNum") {
            None => u32::try_from(items.len()).unwrap_or(u32::MAX),
            Some(t) => t.parse().map_err(|_| XmlError::Invalid {
                path: format!("{at}/SumNum"),
                reason: "not a number".into(),
            })?,
        };
        Ok(Self {
            sn,
            device_id,
            name: root.child_text("Name").map(str::to_owned),
            sum_num,
            items,
        })
    }

    pub(crate) fn write(&self, w: &mut XmlWriter) {
        w.opt("Name", self.name.as_deref());
        w.leaf("SumNum", self.sum_num);
        w.start_list("RecordList", self.items.len());
        for item in &self.items {
            w.start("Item");
            w.leaf("DeviceID", &item.device_id);
            w.opt("Name", item.name.as_deref());
            w.opt("FilePath", item.file_path.as_deref());
            w.opt("Address", item.address.as_deref());
            w.opt("StartTime", item.start_time.as_deref());
            w.opt("EndTime", item.end_time.as_deref());
            w.opt("Secrecy", item.secrecy);
            w.opt("Type", item.record_type.as_deref());
            w.opt("RecorderID", item.recorder_id.as_deref());
            w.opt("FileSize", item.file_size);
            w.extras(&item.extra);
            w.end("Item");
        }
        w.end("RecordList");
    }
}

fn read_item(el: &Element, path: &str) -> Result<RecordItem, XmlError> {
    let mut item = RecordItem::default();
    let mut have_id = false;
    for child in &el.children {
        let t = child.text.as_str();
        let taken = match child.name.to_ascii_lowercase().as_str() {
            "deviceid" => {
                have_id = !t.is_empty();
                item.device_id = t.to_owned();
                true
            }
            "name" => set_text(&mut item.name, t),
            "filepath" => set_text(&mut item.file_path, t),
            "address" => set_text(&mut item.address, t),
            "starttime" => set_text(&mut item.start_time, t),
            "endtime" => set_text(&mut item.end_time, t),
            "secrecy" => set_parsed(&mut item.secrecy, t),
            "type" => set_text(&mut item.record_type, t),
            "recorderid" => set_text(&mut item.recorder_id, t),
            "filesize" => set_parsed(&mut item.file_size, t),
            _ => false,
        };
        if !taken {
            keep_extra(&mut item.extra, child);
        }
    }
    if !have_id {
        return Err(XmlError::Missing {
            path: format!("{path}/DeviceID"),
        });
    }
    Ok(item)
}
