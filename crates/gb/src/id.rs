//! GB/T 28181 20-digit identities (`CCCCCCCC II TTT N SSSSSS`): validation, the parts
//! the platform reads (domain, type code) and the common device kinds.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Number of digits in a GB/T 28181 ID.
pub const DEVICE_ID_LEN: usize = 20;

/// A 20-digit GB/T 28181 ID of a device, channel, platform or organisation unit.
///
/// Stored as the ASCII digits themselves, so it is `Copy`, hashes cheaply and prints
/// without allocation. Construction guarantees exactly 20 ASCII digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DeviceId([u8; DEVICE_ID_LEN]);

/// Why a string is not a GB/T 28181 ID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// Not exactly 20 bytes long.
    #[error("device ID must be 20 digits, got {0} characters")]
    Length(usize),
    /// A byte that is not an ASCII digit, at this 0-based position.
    #[error("device ID has a non-digit at position {0}")]
    NotDigit(usize),
}

/// The type part (digits 11-13) of an ID, for the kinds the platform treats specially.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeviceKind {
    /// 111: digital video recorder.
    Dvr,
    /// 118: network video recorder.
    Nvr,
    /// 131: camera (a channel of a DVR/NVR or encoder).
    Camera,
    /// 132: IP camera.
    Ipc,
    /// 134: alarm input.
    AlarmInput,
    /// 200: SIP server (a platform).
    SipServer,
    /// 202: media server.
    MediaServer,
    /// 215: business group (catalog tree node).
    BusinessGroup,
    /// 216: virtual organisation (catalog tree node).
    VirtualOrganization,
    /// Any other type code.
    Other(u16),
}

impl DeviceKind {
    /// Kind for a 3-digit type code.
    pub fn from_code(code: u16) -> Self {
        match code {
            111 => Self::Dvr,
            118 => Self::Nvr,
            131 => Self::Camera,
            132 => Self::Ipc,
            134 => Self::AlarmInput,
            200 => Self::SipServer,
            202 => Self::MediaServer,
            215 => Self::BusinessGroup,
            216 => Self::VirtualOrganization,
            other => Self::Other(other),
        }
    }

    /// The 3-digit type code of this kind.
    pub fn code(self) -> u16 {
        match self {
            Self::Dvr => 111,
            Self::Nvr => 118,
            Self::Camera => 131,
            Self::Ipc => 132,
            Self::AlarmInput => 134,
            Self::SipServer => 200,
            Self::MediaServer => 202,
            Self::BusinessGroup => 215,
            Self::VirtualOrganization => 216,
            Self::Other(code) => code,
        }
    }

    /// True for the kinds that carry video (cameras and IPCs), i.e. what a live view asks for.
    pub fn is_video_channel(self) -> bool {
        matches!(self, Self::Camera | Self::Ipc)
    }
}

impl DeviceId {
    /// Validates `bytes` as exactly 20 ASCII digits.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, IdError> {
        let arr: [u8; DEVICE_ID_LEN] =
            bytes.try_into().map_err(|_| IdError::Length(bytes.len()))?;
        if let Some(pos) = arr.iter().position(|b| !b.is_ascii_digit()) {
            return Err(IdError::NotDigit(pos));
        }
        Ok(Self(arr))
    }

    /// Builds an ID from its parts: the 10-digit domain (centre code + industry),
    /// the 3-digit type, the network digit and the 6-digit serial.
    /// Returns `None` when a part is out of range.
    pub fn from_parts(domain: u64, type_code: u16, network: u8, serial: u32) -> Option<Self> {
        if domain > 9_999_999_999 || type_code > 999 || network > 9 || serial > 999_999 {
            return None;
        }
        let s = format!("{domain:010}{type_code:03}{network}{serial:06}");
        Self::from_bytes(s.as_bytes()).ok()
    }

    /// The ID as a string slice (always 20 ASCII digits).
    pub fn as_str(&self) -> &str {
        // Invariant: only ASCII digits are ever stored, so this cannot fail; the fallback
        // keeps the function total without a panic path.
        std::str::from_utf8(&self.0).unwrap_or("00000000000000000000")
    }

    /// The raw ASCII digits.
    pub fn as_bytes(&self) -> &[u8; DEVICE_ID_LEN] {
        &self.0
    }

    /// The first 10 digits (centre code + industry), which is the usual SIP domain and
    /// digest realm of a platform.
    pub fn domain(&self) -> &str {
        &self.as_str()[..10]
    }

    /// The 8-digit centre code (province, city, district, unit).
    pub fn center_code(&self) -> &str {
        &self.as_str()[..8]
    }

    /// The 2-digit industry code (digits 9-10).
    pub fn industry_code(&self) -> u8 {
        ((self.0[8] - b'0') * 10) + (self.0[9] - b'0')
    }

    /// The 3-digit type code (digits 11-13), e.g. 132 for an IPC.
    pub fn type_code(&self) -> u16 {
        self.0[10..13]
            .iter()
            .fold(0u16, |acc, d| acc * 10 + u16::from(d - b'0'))
    }

    /// The kind named by the type code.
    pub fn kind(&self) -> DeviceKind {
        DeviceKind::from_code(self.type_code())
    }

    /// The network digit (digit 14).
    pub fn network(&self) -> u8 {
        self.0[13] - b'0'
    }

    /// The 6-digit serial number (digits 15-20).
    pub fn serial(&self) -> u32 {
        self.0[14..]
            .iter()
            .fold(0u32, |acc, d| acc * 10 + u32::from(d - b'0'))
    }
}

impl FromStr for DeviceId {
    type Err = IdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_bytes(s.as_bytes())
    }
}

impl TryFrom<&str> for DeviceId {
    type Error = IdError;

    fn try_from(s: &str) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl fmt::Display for DeviceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for DeviceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DeviceId({})", self.as_str())
    }
}

impl AsRef<str> for DeviceId {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl Serialize for DeviceId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for DeviceId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_twenty_digits_and_reads_parts() {
        let id: DeviceId = "34020000001320000001".parse().unwrap();
        assert_eq!(id.as_str(), "34020000001320000001");
        assert_eq!(id.domain(), "3402000000");
        assert_eq!(id.center_code(), "34020000");
        assert_eq!(id.industry_code(), 0);
        assert_eq!(id.type_code(), 132);
        assert_eq!(id.kind(), DeviceKind::Ipc);
        assert_eq!(id.network(), 0);
        assert_eq!(id.serial(), 1);
        assert_eq!(id.to_string(), "34020000001320000001");
    }

    #[test]
    fn rejects_wrong_length() {
        assert_eq!(
            "3402000000132000000".parse::<DeviceId>(),
            Err(IdError::Length(19))
        );
        assert_eq!(
            "340200000013200000011".parse::<DeviceId>(),
            Err(IdError::Length(21))
        );
        assert_eq!("".parse::<DeviceId>(), Err(IdError::Length(0)));
    }

    #[test]
    fn rejects_non_digits_with_position() {
        assert_eq!(
            "3402000000132000000a".parse::<DeviceId>(),
            Err(IdError::NotDigit(19))
        );
        assert_eq!(
            " 4020000001320000001".parse::<DeviceId>(),
            Err(IdError::NotDigit(0))
        );
        // 20 bytes but non-ASCII: the length check is on bytes, the digit check catches it.
        assert_eq!(
            "中40200000013200000".parse::<DeviceId>(),
            Err(IdError::NotDigit(0))
        );
        // Unicode digits are not ASCII digits.
        assert!("٣4020000001320000001".parse::<DeviceId>().is_err());
    }

    #[test]
    fn kinds_map_both_ways() {
        for code in [111, 118, 131, 132, 134, 200, 202, 215, 216, 121, 0, 999] {
            assert_eq!(DeviceKind::from_code(code).code(), code);
        }
        assert_eq!(DeviceKind::from_code(200), DeviceKind::SipServer);
        assert_eq!(DeviceKind::from_code(121), DeviceKind::Other(121));
        assert!(DeviceKind::Camera.is_video_channel());
        assert!(!DeviceKind::Nvr.is_video_channel());
    }

    #[test]
    fn builds_from_parts() {
        let id = DeviceId::from_parts(3_402_000_000, 200, 0, 1).unwrap();
        assert_eq!(id.as_str(), "34020000002000000001");
        assert_eq!(
            DeviceId::from_parts(0, 131, 0, 7).unwrap().as_str(),
            "00000000001310000007"
        );
        assert!(DeviceId::from_parts(10_000_000_000, 131, 0, 0).is_none());
        assert!(DeviceId::from_parts(0, 1000, 0, 0).is_none());
        assert!(DeviceId::from_parts(0, 131, 10, 0).is_none());
        assert!(DeviceId::from_parts(0, 131, 0, 1_000_000).is_none());
    }

    #[test]
    fn serde_as_plain_string() {
        let id: DeviceId = "34020000001180000001".parse().unwrap();
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, "\"34020000001180000001\"");
        assert_eq!(serde_json::from_str::<DeviceId>(&json).unwrap(), id);
        assert!(serde_json::from_str::<DeviceId>("\"1234\"").is_err());
        assert!(serde_json::from_str::<DeviceId>("34020000001180000001").is_err());
    }

    #[test]
    fn debug_shows_digits() {
        let id: DeviceId = "34020000001180000001".parse().unwrap();
        assert_eq!(format!("{id:?}"), "DeviceId(34020000001180000001)");
    }
}
