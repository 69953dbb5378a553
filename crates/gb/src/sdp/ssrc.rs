//! The GB/T 28181 SSRC: a 10-digit decimal number carried in SDP `y=` and in every RTP
//! header of the stream, used to match incoming media to its session.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An SSRC as GB/T 28181 writes it: `y=` with 10 decimal digits, zero-padded.
///
/// Layout of the digits: 1st is 0 for live, 1 for history (playback/download); 2nd-6th
/// are digits 4-8 of the SIP domain ID; 7th-10th a sequence within the domain.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ssrc(pub u32);

/// Why a `y=` value is not an SSRC.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SsrcError {
    /// Empty, longer than 10 characters, or not all ASCII digits.
    #[error("SSRC must be 1 to 10 decimal digits")]
    Format,
    /// More than fits an RTP SSRC field (4294967295).
    #[error("SSRC does not fit 32 bits")]
    Range,
}

/// Whether a stream is live or from a recording.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StreamKind {
    /// Live view (first digit 0).
    Live,
    /// Playback or download of a recording (first digit 1).
    History,
}

impl Ssrc {
    /// Builds an SSRC from its parts: `domain` is the 10-digit SIP domain (or the 20-digit
    /// server ID that starts with it), of which digits 4-8 are used; `sequence` is 0..=9999.
    /// Returns `None` when `domain` has fewer than 8 leading digits or `sequence` > 9999.
    pub fn new(kind: StreamKind, domain: &str, sequence: u16) -> Option<Self> {
        let part = domain.as_bytes().get(3..8)?;
        if !part.iter().all(u8::is_ascii_digit) || sequence > 9999 {
            return None;
        }
        let domain_part = part
            .iter()
            .fold(0u32, |acc, d| acc * 10 + u32::from(d - b'0'));
        let first = match kind {
            StreamKind::Live => 0,
            StreamKind::History => 1_000_000_000,
        };
        Some(Self(first + domain_part * 10_000 + u32::from(sequence)))
    }

    /// The numeric value, as in the RTP header.
    pub fn value(self) -> u32 {
        self.0
    }

    /// First digit 0: a live stream.
    pub fn is_live(self) -> bool {
        self.0 < 1_000_000_000
    }

    /// First digit 1: playback or download.
    pub fn is_history(self) -> bool {
        (1_000_000_000..2_000_000_000).contains(&self.0)
    }

    /// Live or history, or `None` when the first digit is neither 0 nor 1.
    pub fn kind(self) -> Option<StreamKind> {
        if self.is_live() {
            Some(StreamKind::Live)
        } else if self.is_history() {
            Some(StreamKind::History)
        } else {
            None
        }
    }

    /// Digits 2-6: the domain part.
    pub fn domain_part(self) -> u32 {
        (self.0 / 10_000) % 100_000
    }

    /// Digits 7-10: the sequence within the domain.
    pub fn sequence(self) -> u16 {
        // < 10_000, always fits.
        u16::try_from(self.0 % 10_000).unwrap_or(0)
    }
}

impl FromStr for Ssrc {
    type Err = SsrcError;

    /// Accepts 1 to 10 digits (some devices drop leading zeros).
    fn from_str(s: &str) -> Result<Self, SsrcError> {
        if s.is_empty() || s.len() > 10 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(SsrcError::Format);
        }
        s.parse::<u32>().map(Self).map_err(|_| SsrcError::Range)
    }
}

impl fmt::Display for Ssrc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:010}", self.0)
    }
}

impl fmt::Debug for Ssrc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Ssrc({:010})", self.0)
    }
}

impl Serialize for Ssrc {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Ssrc {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_ten_digits_zero_padded() {
        assert_eq!(Ssrc(200000001).to_string(), "0200000001");
        assert_eq!(Ssrc(0).to_string(), "0000000000");
        assert_eq!(Ssrc(1_020_000_042).to_string(), "1020000042");
    }

    #[test]
    fn parses_with_or_without_leading_zeros() {
        assert_eq!("0200000001".parse(), Ok(Ssrc(200_000_001)));
        assert_eq!("200000001".parse(), Ok(Ssrc(200_000_001)));
        assert_eq!("4294967295".parse(), Ok(Ssrc(u32::MAX)));
        assert_eq!("4294967296".parse::<Ssrc>(), Err(SsrcError::Range));
        assert_eq!("12345678901".parse::<Ssrc>(), Err(SsrcError::Format));
        assert_eq!("".parse::<Ssrc>(), Err(SsrcError::Format));
        assert_eq!("+123".parse::<Ssrc>(), Err(SsrcError::Format));
        assert_eq!("0x10".parse::<Ssrc>(), Err(SsrcError::Format));
    }

    #[test]
    fn builds_from_domain_and_sequence() {
        let live = Ssrc::new(StreamKind::Live, "3402000000", 1).unwrap();
        assert_eq!(live.to_string(), "0200000001");
        assert!(live.is_live());
        assert_eq!(live.kind(), Some(StreamKind::Live));
        assert_eq!((live.domain_part(), live.sequence()), (20000, 1));

        let hist = Ssrc::new(StreamKind::History, "34020000002000000001", 9999).unwrap();
        assert_eq!(hist.to_string(), "1200009999");
        assert!(hist.is_history() && !hist.is_live());

        let other = Ssrc::new(StreamKind::Live, "4401234567", 42).unwrap();
        assert_eq!(other.to_string(), "0123450042");
    }

    #[test]
    fn refuses_bad_parts() {
        assert_eq!(Ssrc::new(StreamKind::Live, "3402000", 1), None);
        assert_eq!(Ssrc::new(StreamKind::Live, "340x000000", 1), None);
        assert_eq!(Ssrc::new(StreamKind::Live, "3402000000", 10_000), None);
    }

    #[test]
    fn first_digit_above_one_is_neither() {
        let s = Ssrc(2_000_000_000);
        assert!(!s.is_live() && !s.is_history());
        assert_eq!(s.kind(), None);
    }

    #[test]
    fn serde_as_ten_digit_string() {
        let json = serde_json::to_string(&Ssrc(200000001)).unwrap();
        assert_eq!(json, "\"0200000001\"");
        assert_eq!(
            serde_json::from_str::<Ssrc>(&json).unwrap(),
            Ssrc(200000001)
        );
    }
}
