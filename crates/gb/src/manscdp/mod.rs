//! MANSCDP, the XML command language of GB/T 28181: reading any message into the
//! [`Manscdp`] enum and printing it back.
//!
//! Reading is done by a small tolerant reader on quick-xml events (module `tree`) rather than
//! serde derive: devices send element names in any case (`<deviceid>`, `<Sn>`), and
//! quick-xml's serde support matches names exactly, so every field would need a list of
//! aliases. A tree walked with case-insensitive lookups also lets one malformed optional
//! field be kept as raw text instead of failing the whole message, and keeps unknown
//! fields for the store. The model types still derive serde, for JSON (API, store).

mod alarm;
mod catalog;
mod control;
mod device_info;
mod device_status;
mod error;
mod fields;
mod keepalive;
mod notify;
mod preset;
mod record;
mod tree;
mod write;

use std::fmt;

use serde::{Deserialize, Serialize};

pub use alarm::{Alarm, ResultResponse};
pub use catalog::{Catalog, CatalogEvent, CatalogItem, Password};
pub use control::DeviceControl;
pub use device_info::DeviceInfo;
pub use device_status::{AlarmStatusItem, DeviceStatus};
pub use error::XmlError;
pub use keepalive::Keepalive;
pub use notify::{MEDIA_STATUS_END_OF_FILE, MediaStatus, MobilePosition, MobilePositionQuery};
pub use preset::{Preset, PresetList};
pub use record::{RecordInfo, RecordInfoQuery, RecordItem};

use crate::charset::{self, Charset, CharsetError};
use crate::id::DeviceId;
use fields::{req_id, req_num, req_text};
use tree::{Element, short};
use write::XmlWriter;

/// The root element: which way a message goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Root {
    /// Platform asks a device (`<Query>`).
    Query,
    /// Answer to a query or control (`<Response>`).
    Response,
    /// Device reports on its own (`<Notify>`).
    Notify,
    /// Platform commands a device (`<Control>`).
    Control,
}

impl Root {
    /// The element name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Query => "Query",
            Self::Response => "Response",
            Self::Notify => "Notify",
            Self::Control => "Control",
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        [Self::Query, Self::Response, Self::Notify, Self::Control]
            .into_iter()
            .find(|r| r.as_str().eq_ignore_ascii_case(name))
    }
}

impl fmt::Display for Root {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A query that carries nothing but the header (Catalog, DeviceInfo, DeviceStatus,
/// PresetQuery queries).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BasicQuery {
    /// Sequence number; the response carries the same.
    pub sn: u32,
    /// The device (or channel) asked.
    pub device_id: DeviceId,
}

/// A message whose root/CmdType pair this crate does not model. Kept, not refused, so the
/// platform can still answer 200 OK and log it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unknown {
    /// The root element.
    pub root: Root,
    /// The CmdType as sent.
    pub cmd_type: String,
    /// Sequence number.
    pub sn: u32,
    /// The DeviceID of the message.
    pub device_id: DeviceId,
}

/// Any MANSCDP message. New CmdTypes may be added, hence `non_exhaustive`; anything not
/// modelled arrives as [`Manscdp::Unknown`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Manscdp {
    /// `Notify/Keepalive`.
    Keepalive(Keepalive),
    /// `Query/Catalog` (also the body of a catalog SUBSCRIBE).
    CatalogQuery(BasicQuery),
    /// `Response/Catalog`: one packet of a device's catalog.
    CatalogResponse(Catalog),
    /// `Notify/Catalog`: catalog changes for a subscription, with an Event per item.
    CatalogNotify(Catalog),
    /// `Query/DeviceInfo`.
    DeviceInfoQuery(BasicQuery),
    /// `Response/DeviceInfo`.
    DeviceInfoResponse(DeviceInfo),
    /// `Query/DeviceStatus`.
    DeviceStatusQuery(BasicQuery),
    /// `Response/DeviceStatus`.
    DeviceStatusResponse(DeviceStatus),
    /// `Query/RecordInfo`.
    RecordInfoQuery(RecordInfoQuery),
    /// `Response/RecordInfo`: one packet of the recording list.
    RecordInfoResponse(RecordInfo),
    /// `Notify/Alarm`.
    AlarmNotify(Alarm),
    /// `Response/Alarm`: the platform's acknowledgement.
    AlarmResponse(ResultResponse),
    /// `Control/DeviceControl`.
    DeviceControl(DeviceControl),
    /// `Response/DeviceControl`.
    DeviceControlResponse(ResultResponse),
    /// `Notify/MediaStatus`.
    MediaStatusNotify(MediaStatus),
    /// `Notify/MobilePosition`.
    MobilePositionNotify(MobilePosition),
    /// `Query/MobilePosition` (subscription body).
    MobilePositionQuery(MobilePositionQuery),
    /// `Query/PresetQuery`.
    PresetQuery(BasicQuery),
    /// `Response/PresetQuery`.
    PresetQueryResponse(PresetList),
    /// Any other root/CmdType pair.
    Unknown(Unknown),
}

impl Manscdp {
    /// The root element of this message.
    pub fn root(&self) -> Root {
        match self {
            Self::Keepalive(_)
            | Self::CatalogNotify(_)
            | Self::AlarmNotify(_)
            | Self::MediaStatusNotify(_)
            | Self::MobilePositionNotify(_) => Root::Notify,
            Self::CatalogQuery(_)
            | Self::DeviceInfoQuery(_)
            | Self::DeviceStatusQuery(_)
            | Self::RecordInfoQuery(_)
            | Self::MobilePositionQuery(_)
            | Self::PresetQuery(_) => Root::Query,
            Self::CatalogResponse(_)
            | Self::DeviceInfoResponse(_)
            | Self::DeviceStatusResponse(_)
            | Self::RecordInfoResponse(_)
            | Self::AlarmResponse(_)
            | Self::DeviceControlResponse(_)
            | Self::PresetQueryResponse(_) => Root::Response,
            Self::DeviceControl(_) => Root::Control,
            Self::Unknown(u) => u.root,
        }
    }

    /// The CmdType as printed.
    pub fn cmd_type(&self) -> &str {
        match self {
            Self::Keepalive(_) => "Keepalive",
            Self::CatalogQuery(_) | Self::CatalogResponse(_) | Self::CatalogNotify(_) => "Catalog",
            Self::DeviceInfoQuery(_) | Self::DeviceInfoResponse(_) => "DeviceInfo",
            Self::DeviceStatusQuery(_) | Self::DeviceStatusResponse(_) => "DeviceStatus",
            Self::RecordInfoQuery(_) | Self::RecordInfoResponse(_) => "RecordInfo",
            Self::AlarmNotify(_) | Self::AlarmResponse(_) => "Alarm",
            Self::DeviceControl(_) | Self::DeviceControlResponse(_) => "DeviceControl",
            Self::MediaStatusNotify(_) => "MediaStatus",
            Self::MobilePositionNotify(_) | Self::MobilePositionQuery(_) => "MobilePosition",
            Self::PresetQuery(_) | Self::PresetQueryResponse(_) => "PresetQuery",
            Self::Unknown(u) => &u.cmd_type,
        }
    }

    /// The sequence number.
    pub fn sn(&self) -> u32 {
        self.header().0
    }

    /// The message's DeviceID (the device that sends a Notify/Response, or is asked by a
    /// Query/Control).
    pub fn device_id(&self) -> DeviceId {
        self.header().1
    }

    fn header(&self) -> (u32, DeviceId) {
        match self {
            Self::Keepalive(m) => (m.sn, m.device_id),
            Self::CatalogQuery(q)
            | Self::DeviceInfoQuery(q)
            | Self::DeviceStatusQuery(q)
            | Self::PresetQuery(q) => (q.sn, q.device_id),
            Self::CatalogResponse(m) | Self::CatalogNotify(m) => (m.sn, m.device_id),
            Self::DeviceInfoResponse(m) => (m.sn, m.device_id),
            Self::DeviceStatusResponse(m) => (m.sn, m.device_id),
            Self::RecordInfoQuery(m) => (m.sn, m.device_id),
            Self::RecordInfoResponse(m) => (m.sn, m.device_id),
            Self::AlarmNotify(m) => (m.sn, m.device_id),
            Self::AlarmResponse(m) | Self::DeviceControlResponse(m) => (m.sn, m.device_id),
            Self::DeviceControl(m) => (m.sn, m.device_id),
            Self::MediaStatusNotify(m) => (m.sn, m.device_id),
            Self::MobilePositionNotify(m) => (m.sn, m.device_id),
            Self::MobilePositionQuery(m) => (m.sn, m.device_id),
            Self::PresetQueryResponse(m) => (m.sn, m.device_id),
            Self::Unknown(u) => (u.sn, u.device_id),
        }
    }

    /// Prints the message without an XML declaration; [`Manscdp::to_body`] adds one.
    pub fn to_xml(&self) -> String {
        let (sn, device_id) = self.header();
        let mut w = XmlWriter::new(self.root(), self.cmd_type(), sn, &device_id);
        match self {
            Self::Keepalive(m) => m.write(&mut w),
            Self::CatalogResponse(m) | Self::CatalogNotify(m) => m.write(&mut w),
            Self::DeviceInfoResponse(m) => m.write(&mut w),
            Self::DeviceStatusResponse(m) => m.write(&mut w),
            Self::RecordInfoQuery(m) => m.write(&mut w),
            Self::RecordInfoResponse(m) => m.write(&mut w),
            Self::AlarmNotify(m) => m.write(&mut w),
            Self::AlarmResponse(m) | Self::DeviceControlResponse(m) => m.write(&mut w),
            Self::DeviceControl(m) => m.write(&mut w),
            Self::MediaStatusNotify(m) => m.write(&mut w),
            Self::MobilePositionNotify(m) => m.write(&mut w),
            Self::MobilePositionQuery(m) => m.write(&mut w),
            Self::PresetQueryResponse(m) => m.write(&mut w),
            Self::CatalogQuery(_)
            | Self::DeviceInfoQuery(_)
            | Self::DeviceStatusQuery(_)
            | Self::PresetQuery(_)
            | Self::Unknown(_) => {}
        }
        w.finish()
    }

    /// The message as body bytes in `charset`, with a matching XML declaration.
    pub fn to_body(&self, charset: Charset) -> Vec<u8> {
        charset::encode_body(&self.to_xml(), charset)
    }
}

/// Reads a MANSCDP document (already decoded to text; see [`parse_body`] for bytes).
///
/// Tolerant of what devices send: element names in any case, unknown elements, empty
/// elements, no declaration, trailing NULs and whitespace. Requires the root, `CmdType`,
/// `SN` and a valid 20-digit `DeviceID`.
pub fn parse(xml: &str) -> Result<Manscdp, XmlError> {
    let xml = xml.trim_end_matches(['\0', ' ', '\t', '\r', '\n']);
    if xml.len() > charset::MAX_BODY_LEN {
        return Err(XmlError::TooLarge { len: xml.len() });
    }
    let root_el = tree::read_root(xml)?;
    let root = Root::from_name(&root_el.name).ok_or_else(|| XmlError::UnknownRoot {
        name: short(&root_el.name),
    })?;
    let at = root.as_str();
    let cmd_type = req_text(&root_el, "CmdType", at)?;
    let sn: u32 = req_num(&root_el, "SN", at)?;
    let device_id = req_id(&root_el, "DeviceID", at)?;
    read_message(root, cmd_type, sn, device_id, &root_el)
}

/// Decodes body bytes (see [`charset::decode_body`]) and reads the message. Returns the
/// charset too, so a reply can use the same.
pub fn parse_body(body: &[u8]) -> Result<(Manscdp, Charset), XmlError> {
    let (text, cs) = charset::decode_body(body).map_err(|e| match e {
        CharsetError::TooLarge { len, .. } => XmlError::TooLarge { len },
    })?;
    Ok((parse(&text)?, cs))
}

fn read_message(
    root: Root,
    cmd_type: &str,
    sn: u32,
    device_id: DeviceId,
    el: &Element,
) -> Result<Manscdp, XmlError> {
    let is = |name: &str| cmd_type.eq_ignore_ascii_case(name);
    let basic = || BasicQuery { sn, device_id };
    let msg = match root {
        Root::Notify if is("Keepalive") => Manscdp::Keepalive(Keepalive::read(el, sn, device_id)?),
        Root::Query if is("Catalog") => Manscdp::CatalogQuery(basic()),
        Root::Response if is("Catalog") => {
            Manscdp::CatalogResponse(Catalog::read(el, "Response", sn, device_id)?)
        }
        Root::Notify if is("Catalog") => {
            Manscdp::CatalogNotify(Catalog::read(el, "Notify", sn, device_id)?)
        }
        Root::Query if is("DeviceInfo") => Manscdp::DeviceInfoQuery(basic()),
        Root::Response if is("DeviceInfo") => {
            Manscdp::DeviceInfoResponse(DeviceInfo::read(el, sn, device_id))
        }
        Root::Query if is("DeviceStatus") => Manscdp::DeviceStatusQuery(basic()),
        Root::Response if is("DeviceStatus") => {
            Manscdp::DeviceStatusResponse(DeviceStatus::read(el, "Response", sn, device_id)?)
        }
        Root::Query if is("RecordInfo") => {
            Manscdp::RecordInfoQuery(RecordInfoQuery::read(el, sn, device_id))
        }
        Root::Response if is("RecordInfo") => {
            Manscdp::RecordInfoResponse(RecordInfo::read(el, "Response", sn, device_id)?)
        }
        Root::Notify if is("Alarm") => Manscdp::AlarmNotify(Alarm::read(el, sn, device_id)),
        Root::Response if is("Alarm") => {
            Manscdp::AlarmResponse(ResultResponse::read(el, sn, device_id))
        }
        Root::Control if is("DeviceControl") => {
            Manscdp::DeviceControl(DeviceControl::read(el, "Control", sn, device_id)?)
        }
        Root::Response if is("DeviceControl") => {
            Manscdp::DeviceControlResponse(ResultResponse::read(el, sn, device_id))
        }
        Root::Notify if is("MediaStatus") => {
            Manscdp::MediaStatusNotify(MediaStatus::read(el, sn, device_id))
        }
        Root::Notify if is("MobilePosition") => {
            Manscdp::MobilePositionNotify(MobilePosition::read(el, sn, device_id))
        }
        Root::Query if is("MobilePosition") => {
            Manscdp::MobilePositionQuery(MobilePositionQuery::read(el, sn, device_id))
        }
        Root::Query if is("PresetQuery") => Manscdp::PresetQuery(basic()),
        Root::Response if is("PresetQuery") => {
            Manscdp::PresetQueryResponse(PresetList::read(el, "Response", sn, device_id)?)
        }
        _ => Manscdp::Unknown(Unknown {
            root,
            cmd_type: cmd_type.to_owned(),
            sn,
            device_id,
        }),
    };
    Ok(msg)
}

#[cfg(test)]
mod tests;
