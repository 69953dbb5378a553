//! `Catalog`: the channel list a device reports (Response to a query, or Notify for a
//! subscription with a per-item Event), and its items with every standard field.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::error::XmlError;
use super::fields::{keep_extra, set_f64, set_parsed, set_text};
use super::tree::Element;
use super::write::XmlWriter;
use crate::id::DeviceId;

/// A Catalog response or notify packet. Devices split long catalogs over many packets:
/// `sum_num` is the total over all of them, `items` what this packet carries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Catalog {
    /// Sequence number (the query's SN for a response).
    pub sn: u32,
    /// The device whose catalog this is.
    pub device_id: DeviceId,
    /// Total number of items in the whole catalog. Defaults to this packet's item count
    /// when a device leaves it out.
    pub sum_num: u32,
    /// Items in this packet (`DeviceList/Item`).
    pub items: Vec<CatalogItem>,
}

/// What happened to an item, in a catalog Notify (subscription).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum CatalogEvent {
    /// `ADD`: new item.
    Add,
    /// `DEL`: item removed.
    Del,
    /// `UPDATE`: item changed.
    Update,
    /// `ON`: item online.
    On,
    /// `OFF`: item offline.
    Off,
    /// `VLOST`: video lost.
    Vlost,
    /// `DEFECT`: item faulty.
    Defect,
}

impl CatalogEvent {
    /// The wire text.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Add => "ADD",
            Self::Del => "DEL",
            Self::Update => "UPDATE",
            Self::On => "ON",
            Self::Off => "OFF",
            Self::Vlost => "VLOST",
            Self::Defect => "DEFECT",
        }
    }
}

impl FromStr for CatalogEvent {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        [
            Self::Add,
            Self::Del,
            Self::Update,
            Self::On,
            Self::Off,
            Self::Vlost,
            Self::Defect,
        ]
        .into_iter()
        .find(|e| e.as_str().eq_ignore_ascii_case(s))
        .ok_or(())
    }
}

impl fmt::Display for CatalogEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A credential that never reaches logs: `Debug` prints `***`.
#[derive(Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Password(pub String);

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// One catalog item: a channel, or a tree node (civil code, business group, virtual
/// organisation).
///
/// A typed field whose text does not parse (a `Port` of `abc`) is not an error: the raw
/// text goes to `extra` under its element name, so nothing is lost and one odd field does
/// not sink the packet. Unknown leaf elements also go to `extra`; unknown children of
/// `Info` to `info`. Unknown elements that have children of their own are dropped.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct CatalogItem {
    /// `DeviceID`. Usually a 20-digit ID, but tree nodes from platforms may be shorter
    /// civil codes, so kept as text; see [`CatalogItem::id`].
    pub device_id: String,
    /// `Event` (catalog Notify only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<CatalogEvent>,
    /// `Name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `Manufacturer`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manufacturer: Option<String>,
    /// `Model`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// `Owner`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// `CivilCode`: administrative region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub civil_code: Option<String>,
    /// `Block`: police area.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block: Option<String>,
    /// `Address`: installation address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// `Parental`: 1 if the item has children.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parental: Option<u8>,
    /// `ParentID`: parent device or tree node (some platforms send a `/`-separated path).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<String>,
    /// `SafetyWay`: 0 none, 2 S/MIME signature, 3 S/MIME encryption, 4 digest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub safety_way: Option<u8>,
    /// `RegisterWay`: 1 RFC 3261, 2 password, 3 certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub register_way: Option<u8>,
    /// `CertNum`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_num: Option<String>,
    /// `Certifiable`: 0/1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certifiable: Option<u8>,
    /// `ErrCode`: why the certificate is invalid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub err_code: Option<i32>,
    /// `EndTime`: certificate expiry, as sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_time: Option<String>,
    /// `Secrecy`: 0 not secret, 1 secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secrecy: Option<u8>,
    /// `IPAddress`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_address: Option<String>,
    /// `Port`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// `Password` (hidden from `Debug`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<Password>,
    /// `Status`: `ON`/`OFF` per the standard; `ONLINE`/`OFFLINE`/`OK` in the field. See
    /// [`CatalogItem::is_online`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// `Longitude`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub longitude: Option<f64>,
    /// `Latitude`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latitude: Option<f64>,
    /// `Info/PTZType` (also accepted directly under `Item`): 1 dome, 2 half-dome, 3 fixed
    /// box camera, 4 remote-controlled fixed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ptz_type: Option<u8>,
    /// Other `Info` children (`Resolution`, `DownloadSpeed`, `BusinessGroupID`, ...), raw.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub info: BTreeMap<String, String>,
    /// Other leaf elements of the item, and typed fields that did not parse, raw.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, String>,
}

impl CatalogItem {
    /// An item with only its DeviceID set.
    pub fn new(device_id: impl Into<String>) -> Self {
        Self {
            device_id: device_id.into(),
            ..Self::default()
        }
    }

    /// The DeviceID as a 20-digit ID, when it is one.
    pub fn id(&self) -> Option<DeviceId> {
        self.device_id.parse().ok()
    }

    /// `Some(true)` for `ON`/`ONLINE`/`OK`, `Some(false)` for `OFF`/`OFFLINE`, else `None`.
    pub fn is_online(&self) -> Option<bool> {
        let s = self.status.as_deref()?;
        if ["ON", "ONLINE", "OK"]
            .iter()
            .any(|v| s.eq_ignore_ascii_case(v))
        {
            Some(true)
        } else if ["OFF", "OFFLINE"].iter().any(|v| s.eq_ignore_ascii_case(v)) {
            Some(false)
        } else {
            None
        }
    }
}

impl Catalog {
    pub(crate) fn read(
        root: &Element,
        at: &str,
        sn: u32,
        device_id: DeviceId,
    ) -> Result<Self, XmlError> {
        let mut items = Vec::new();
        if let Some(list) = root.child("DeviceList") {
            for (i, el) in list.children.iter().filter(|c| c.is("Item")).enumerate() {
                let path = format!("{at}/DeviceList/Item[{}]", i + 1);
                items.push(read_item(el, &path)?);
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
            sum_num,
            items,
        })
    }

    pub(crate) fn write(&self, w: &mut XmlWriter) {
        w.leaf("SumNum", self.sum_num);
        w.start_list("DeviceList", self.items.len());
        for item in &self.items {
            write_item(item, w);
        }
        w.end("DeviceList");
    }
}

fn read_item(el: &Element, path: &str) -> Result<CatalogItem, XmlError> {
    let mut item = CatalogItem::default();
    let mut have_id = false;
    for child in &el.children {
        let t = child.text.as_str();
        let taken = match child.name.to_ascii_lowercase().as_str() {
            "deviceid" => {
                have_id = !t.is_empty();
                item.device_id = t.to_owned();
                true
            }
            "event" => set_parsed(&mut item.event, t),
            "name" => set_text(&mut item.name, t),
            "manufacturer" => set_text(&mut item.manufacturer, t),
            "model" => set_text(&mut item.model, t),
            "owner" => set_text(&mut item.owner, t),
            "civilcode" => set_text(&mut item.civil_code, t),
            "block" => set_text(&mut item.block, t),
            "address" => set_text(&mut item.address, t),
            "parental" => set_parsed(&mut item.parental, t),
            "parentid" => set_text(&mut item.parent_id, t),
            "safetyway" => set_parsed(&mut item.safety_way, t),
            "registerway" => set_parsed(&mut item.register_way, t),
            "certnum" => set_text(&mut item.cert_num, t),
            "certifiable" => set_parsed(&mut item.certifiable, t),
            "errcode" => set_parsed(&mut item.err_code, t),
            "endtime" => set_text(&mut item.end_time, t),
            "secrecy" => set_parsed(&mut item.secrecy, t),
            "ipaddress" => set_text(&mut item.ip_address, t),
            "port" => set_parsed(&mut item.port, t),
            "password" => {
                item.password = (!t.is_empty()).then(|| Password(t.to_owned()));
                true
            }
            "status" => set_text(&mut item.status, t),
            "longitude" => set_f64(&mut item.longitude, t),
            "latitude" => set_f64(&mut item.latitude, t),
            "ptztype" => set_parsed(&mut item.ptz_type, t),
            "info" => {
                for info in &child.children {
                    if info.is("PTZType") && set_parsed(&mut item.ptz_type, &info.text) {
                        continue;
                    }
                    keep_extra(&mut item.info, info);
                }
                true
            }
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

fn write_item(item: &CatalogItem, w: &mut XmlWriter) {
    w.start("Item");
    w.leaf("DeviceID", &item.device_id);
    w.opt("Event", item.event);
    w.opt("Name", item.name.as_deref());
    w.opt("Manufacturer", item.manufacturer.as_deref());
    w.opt("Model", item.model.as_deref());
    w.opt("Owner", item.owner.as_deref());
    w.opt("CivilCode", item.civil_code.as_deref());
    w.opt("Block", item.block.as_deref());
    w.opt("Address", item.address.as_deref());
    w.opt("Parental", item.parental);
    w.opt("ParentID", item.parent_id.as_deref());
    w.opt("SafetyWay", item.safety_way);
    w.opt("RegisterWay", item.register_way);
    w.opt("CertNum", item.cert_num.as_deref());
    w.opt("Certifiable", item.certifiable);
    w.opt("ErrCode", item.err_code);
    w.opt("EndTime", item.end_time.as_deref());
    w.opt("Secrecy", item.secrecy);
    w.opt("IPAddress", item.ip_address.as_deref());
    w.opt("Port", item.port);
    w.opt("Password", item.password.as_ref().map(|p| p.0.as_str()));
    w.opt("Status", item.status.as_deref());
    w.opt("Longitude", item.longitude);
    w.opt("Latitude", item.latitude);
    if item.ptz_type.is_some() || !item.info.is_empty() {
        w.start("Info");
        w.opt("PTZType", item.ptz_type);
        w.extras(&item.info);
        w.end("Info");
    }
    w.extras(&item.extra);
    w.end("Item");
}
