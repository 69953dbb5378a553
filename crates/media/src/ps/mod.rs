//! MPEG-2 Program Stream (ISO/IEC 13818-1 2.5) as GB/T 28181 devices send it over RTP:
//! the demuxer for ingest, and the muxer plus RTP packetizer the camera simulator uses.

mod demux;
mod mux;
mod packetizer;

pub use demux::{DEFAULT_MAX_FRAME_SIZE, EsKind, PsDemuxer, PsError, PsFrame, PsStats};
pub use mux::{PsMuxer, PsMuxerConfig};
pub use packetizer::PsRtpPacketizer;

/// Start code values (the byte after `00 00 01`).
pub(crate) const PACK_HEADER: u8 = 0xBA;
pub(crate) const SYSTEM_HEADER: u8 = 0xBB;
pub(crate) const PROGRAM_STREAM_MAP: u8 = 0xBC;
/// First video stream id; audio streams start at 0xC0.
pub(crate) const VIDEO_STREAM_ID: u8 = 0xE0;
pub(crate) const AUDIO_STREAM_ID: u8 = 0xC0;

/// Elementary stream types announced in the program stream map.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StreamType {
    /// 0x10
    Mpeg4Video,
    /// 0x1B
    H264,
    /// 0x24
    H265,
    /// 0x80: SVAC video (GB/T 25724), not decodable by browsers.
    Svac,
    /// 0x0F: AAC in ADTS.
    Aac,
    /// 0x90
    G711A,
    /// 0x91
    G711U,
    /// Anything else, kept so it can be reported.
    Other(u8),
}

impl StreamType {
    pub fn from_code(code: u8) -> Self {
        match code {
            0x10 => StreamType::Mpeg4Video,
            0x1B => StreamType::H264,
            0x24 => StreamType::H265,
            0x80 => StreamType::Svac,
            0x0F => StreamType::Aac,
            0x90 => StreamType::G711A,
            0x91 => StreamType::G711U,
            other => StreamType::Other(other),
        }
    }

    pub fn code(self) -> u8 {
        match self {
            StreamType::Mpeg4Video => 0x10,
            StreamType::H264 => 0x1B,
            StreamType::H265 => 0x24,
            StreamType::Svac => 0x80,
            StreamType::Aac => 0x0F,
            StreamType::G711A => 0x90,
            StreamType::G711U => 0x91,
            StreamType::Other(c) => c,
        }
    }

    /// The browser-playable video codec this stream type carries, if any.
    pub fn video_codec(self) -> Option<crate::VideoCodec> {
        match self {
            StreamType::H264 => Some(crate::VideoCodec::H264),
            StreamType::H265 => Some(crate::VideoCodec::H265),
            _ => None,
        }
    }
}

impl From<crate::VideoCodec> for StreamType {
    fn from(c: crate::VideoCodec) -> Self {
        match c {
            crate::VideoCodec::H264 => StreamType::H264,
            crate::VideoCodec::H265 => StreamType::H265,
        }
    }
}

/// Mask of a 33-bit PTS/DTS/SCR base.
pub const PTS_MASK: u64 = (1 << 33) - 1;

/// Encodes a 33-bit PTS or DTS into the 5-byte PES form with the given 4-bit prefix
/// (`0b0010` PTS only, `0b0011` PTS followed by DTS, `0b0001` that DTS).
pub(crate) fn encode_timestamp(prefix: u8, ts: u64) -> [u8; 5] {
    let ts = ts & PTS_MASK;
    [
        (prefix << 4) | ((ts >> 29) as u8 & 0x0E) | 1,
        (ts >> 22) as u8,
        ((ts >> 14) as u8 & 0xFE) | 1,
        (ts >> 7) as u8,
        ((ts << 1) as u8 & 0xFE) | 1,
    ]
}

/// Decodes the 5-byte PES timestamp form; marker bits are not checked (devices get them wrong).
pub(crate) fn decode_timestamp(b: &[u8; 5]) -> u64 {
    (u64::from(b[0] & 0x0E) << 29)
        | (u64::from(b[1]) << 22)
        | (u64::from(b[2] & 0xFE) << 14)
        | (u64::from(b[3]) << 7)
        | (u64::from(b[4]) >> 1)
}

/// CRC-32/MPEG-2 (poly 0x04C11DB7, init all ones, no reflection) over the program stream map.
pub(crate) fn crc32_mpeg2(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc ^= u32::from(b) << 24;
        for _ in 0..8 {
            crc = if crc & 0x8000_0000 != 0 {
                (crc << 1) ^ 0x04C1_1DB7
            } else {
                crc << 1
            };
        }
    }
    crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamp_round_trips_and_sets_markers() {
        let enc = encode_timestamp(0b0010, 0x1_2345_6789);
        assert_eq!(enc, [0x29, 0x8D, 0x15, 0xCF, 0x13]);
        assert_eq!(decode_timestamp(&enc), 0x1_2345_6789);
        assert_eq!(
            decode_timestamp(&encode_timestamp(0b0011, PTS_MASK)),
            PTS_MASK
        );
    }

    #[test]
    fn crc32_mpeg2_check_value() {
        assert_eq!(crc32_mpeg2(b"123456789"), 0x0376_E6E7);
    }
}
