//! H.264/H.265 elementary streams: Annex-B NAL splitting, access-unit boundaries and key
//! frames, parameter sets (SPS parsing for size/profile/level), MSE codec strings and the
//! avcC/hvcC decoder configuration records that fMP4 needs.

mod annexb;
mod bits;
pub mod h264;
pub mod h265;
mod params;

pub use annexb::{AccessUnitSplitter, NalUnits, find_start_code, nal_units};
pub use bits::BitsError;
pub use params::{ParameterSetTracker, ParamsError, VideoParams};

/// The video codecs GB/T 28181 devices send and browsers can play.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VideoCodec {
    H264,
    H265,
}

impl VideoCodec {
    /// NAL unit type of a NAL (header included), or `None` if it is empty.
    pub fn nal_type(self, nal: &[u8]) -> Option<u8> {
        let first = *nal.first()?;
        Some(match self {
            VideoCodec::H264 => first & 0x1F,
            VideoCodec::H265 => (first >> 1) & 0x3F,
        })
    }

    /// Whether this NAL is a picture a decoder can start from (H.264 IDR, H.265 IRAP).
    pub fn is_key_nal(self, nal: &[u8]) -> bool {
        match (self, self.nal_type(nal)) {
            (VideoCodec::H264, Some(5)) => true,
            (VideoCodec::H265, Some(t)) => (16..=23).contains(&t),
            _ => false,
        }
    }

    /// Whether this NAL carries coded picture data (a slice).
    pub fn is_vcl_nal(self, nal: &[u8]) -> bool {
        match (self, self.nal_type(nal)) {
            (VideoCodec::H264, Some(t)) => (1..=5).contains(&t),
            (VideoCodec::H265, Some(t)) => t <= 31,
            _ => false,
        }
    }

    /// Whether this NAL, seen after a picture's slices, starts the next access unit
    /// (H.264 7.4.1.2.3, H.265 7.4.2.4.4). Only first slices of a picture qualify among VCL NALs.
    pub fn starts_access_unit(self, nal: &[u8]) -> bool {
        let Some(t) = self.nal_type(nal) else {
            return false;
        };
        match self {
            VideoCodec::H264 => match t {
                // first_mb_in_slice is ue(v); it is 0 exactly when its first bit is 1.
                1..=5 => nal.get(1).is_some_and(|b| b & 0x80 != 0),
                6..=9 | 14..=18 => true,
                _ => false,
            },
            VideoCodec::H265 => match t {
                // first_slice_segment_in_pic_flag is the first bit after the 2-byte header.
                0..=31 => nal.get(2).is_some_and(|b| b & 0x80 != 0),
                32..=35 | 39 | 41..=44 | 48..=55 => true,
                _ => false,
            },
        }
    }

    /// Guesses the codec of an Annex-B access unit from its first NAL header, for streams
    /// whose PS carries no program stream map. H.265 headers are two bytes and the second is
    /// `0x01` (layer 0, temporal id 0) in practice; H.264 second bytes are payload.
    pub fn sniff(annexb: &[u8]) -> Option<VideoCodec> {
        let at = annexb::nal_starts(annexb).next()?;
        let (&b0, b1) = (annexb.get(at)?, annexb.get(at + 1).copied());
        if b0 & 0x80 != 0 {
            return None;
        }
        let h265_type = (b0 >> 1) & 0x3F;
        if b1 == Some(0x01) && b0 & 1 == 0 && matches!(h265_type, 0..=9 | 16..=21 | 32..=40) {
            return Some(VideoCodec::H265);
        }
        matches!(b0 & 0x1F, 1..=9).then_some(VideoCodec::H264)
    }

    /// Whether an Annex-B access unit is a key picture, judged by its first slice (all slices
    /// of a picture share the type), so only the bytes up to that slice are scanned.
    pub fn is_key_frame(self, annexb: &[u8]) -> bool {
        annexb::nal_starts(annexb)
            .map(|at| &annexb[at..(at + 3).min(annexb.len())])
            .find(|header| self.is_vcl_nal(header))
            .is_some_and(|header| self.is_key_nal(header))
    }
}
