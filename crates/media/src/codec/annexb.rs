//! Annex-B byte streams: start-code search, NAL iteration and access-unit splitting.

use super::VideoCodec;
use bytes::Bytes;
use memchr::memmem;
use std::sync::LazyLock;

/// SIMD substring search for the 3-byte start code, built once.
static START_CODE: LazyLock<memmem::Finder<'static>> =
    LazyLock::new(|| memmem::Finder::new(&[0, 0, 1]));

/// Position of the first `00 00 01` at or after `from`.
///
/// Emulation prevention keeps `00 00 01` out of NAL payloads, so in real video the search runs
/// over whole NAL units at memmem (SIMD) speed without false hits.
pub fn find_start_code(data: &[u8], from: usize) -> Option<usize> {
    let hay = data.get(from..)?;
    START_CODE.find(hay).map(|p| p + from)
}

/// Offsets just past each start code (where NAL headers are), without finding NAL ends.
/// Cheap when only the first few NAL units matter (parameter sets, key-frame check).
pub(crate) fn nal_starts(data: &[u8]) -> impl Iterator<Item = usize> + '_ {
    let mut from = 0;
    std::iter::from_fn(move || {
        let sc = find_start_code(data, from)?;
        from = sc + 3;
        Some(sc + 3)
    })
}

/// Iterator over the NAL units of Annex-B data: start codes removed, trailing zero bytes
/// (4-byte start codes, `trailing_zero_8bits`) trimmed, empty units skipped.
#[derive(Debug, Clone)]
pub struct NalUnits<'a> {
    data: &'a [u8],
    /// Start of the next NAL's payload (just past its start code), if any.
    next: Option<usize>,
}

/// NAL units of Annex-B `data`; bytes before the first start code are ignored.
pub fn nal_units(data: &[u8]) -> NalUnits<'_> {
    NalUnits {
        data,
        next: find_start_code(data, 0).map(|p| p + 3),
    }
}

impl<'a> NalUnits<'a> {
    /// Next NAL together with the offset where it ends (after trimming), for callers that
    /// cut the original buffer.
    fn next_with_end(&mut self) -> Option<(usize, &'a [u8])> {
        loop {
            let start = self.next?;
            let (mut end, next) = match find_start_code(self.data, start) {
                Some(sc) => (sc, Some(sc + 3)),
                None => (self.data.len(), None),
            };
            self.next = next;
            while end > start && self.data[end - 1] == 0 {
                end -= 1;
            }
            if end > start {
                return Some((end, &self.data[start..end]));
            }
        }
    }
}

impl<'a> Iterator for NalUnits<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        self.next_with_end().map(|(_, nal)| nal)
    }
}

/// Cuts a whole Annex-B stream (a file) into access units, zero-copy.
///
/// Each item is the Annex-B bytes of one access unit, start codes included, as a slice of
/// the input. Used to load test clips for the simulator.
#[derive(Debug, Clone)]
pub struct AccessUnitSplitter {
    codec: VideoCodec,
    data: Bytes,
    pos: usize,
}

impl AccessUnitSplitter {
    pub fn new(codec: VideoCodec, data: Bytes) -> Self {
        Self {
            codec,
            data,
            pos: 0,
        }
    }
}

impl Iterator for AccessUnitSplitter {
    type Item = Bytes;

    fn next(&mut self) -> Option<Bytes> {
        let rest = self.data.get(self.pos..)?;
        let mut nals = nal_units(rest);
        let mut seen_vcl = false;
        let mut au_end = None;
        let mut prev_end = 0;
        while let Some((end, nal)) = nals.next_with_end() {
            if seen_vcl && self.codec.starts_access_unit(nal) {
                au_end = Some(prev_end);
                break;
            }
            seen_vcl |= self.codec.is_vcl_nal(nal);
            prev_end = end;
        }
        if prev_end == 0 && au_end.is_none() {
            self.pos = self.data.len() + 1;
            return None;
        }
        // The last access unit runs to the end of the data.
        let end = au_end.unwrap_or(rest.len());
        let au = self.data.slice(self.pos..self.pos + end);
        self.pos = if au_end.is_some() {
            self.pos + end
        } else {
            self.data.len() + 1
        };
        Some(au)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_three_and_four_byte_start_codes() {
        let d = [0xAA, 0, 0, 0, 1, 0x67, 0, 0, 1, 0x68, 1, 0, 1];
        assert_eq!(find_start_code(&d, 0), Some(2));
        assert_eq!(find_start_code(&d, 3), Some(6));
        assert_eq!(find_start_code(&d, 7), None);
        assert_eq!(find_start_code(&[0, 0], 0), None);
        assert_eq!(find_start_code(&d, usize::MAX), None);
    }

    #[test]
    fn nal_units_trim_zeros_and_skip_empty() {
        let d = [
            0, 0, 0, 1, 0x67, 0x42, 0, 0, 1, 0, 0, 1, 0x68, 0xCE, 0, 0, 0, 0, 1, 0x65, 0x88, 0,
        ];
        let nals: Vec<&[u8]> = nal_units(&d).collect();
        assert_eq!(
            nals,
            vec![&[0x67, 0x42][..], &[0x68, 0xCE][..], &[0x65, 0x88][..]]
        );
        assert_eq!(nal_units(&[1, 2, 3]).count(), 0);
    }

    #[test]
    fn splitter_cuts_before_parameter_sets_and_first_slices() {
        // SPS PPS IDR(first_mb=0) IDR(second slice, first_mb!=0) | AUD P(first) | P(first)
        let d = [
            0, 0, 0, 1, 0x67, 0x4D, //
            0, 0, 0, 1, 0x68, 0xEE, //
            0, 0, 1, 0x65, 0x88, 0x10, //
            0, 0, 1, 0x65, 0x40, 0x20, //
            0, 0, 0, 1, 0x09, 0xF0, //
            0, 0, 1, 0x41, 0x9A, 0x30, //
            0, 0, 1, 0x41, 0x9A, 0x31,
        ];
        let aus: Vec<Bytes> =
            AccessUnitSplitter::new(VideoCodec::H264, Bytes::copy_from_slice(&d)).collect();
        assert_eq!(aus.len(), 3);
        assert_eq!(&aus[0][..], &d[..24]);
        assert_eq!(&aus[1][..], &d[24..36]);
        assert_eq!(&aus[2][..], &d[36..]);
        assert!(VideoCodec::H264.is_key_frame(&aus[0]));
        assert!(!VideoCodec::H264.is_key_frame(&aus[1]));
    }

    #[test]
    fn sniffs_codec_from_the_first_nal_header() {
        use crate::clip::{AnnexBReader, testdata};
        for (codec, data) in [
            (VideoCodec::H264, testdata::H264_640X360_25FPS),
            (VideoCodec::H265, testdata::H265_640X360_25FPS),
        ] {
            for f in AnnexBReader::new(codec, Bytes::from_static(data)) {
                assert_eq!(VideoCodec::sniff(&f.data), Some(codec));
            }
        }
        assert_eq!(
            VideoCodec::sniff(&[0, 0, 1, 0x09, 0xF0]),
            Some(VideoCodec::H264)
        );
        assert_eq!(
            VideoCodec::sniff(&[0, 0, 1, 0x46, 0x01, 0x50]),
            Some(VideoCodec::H265)
        );
        assert_eq!(VideoCodec::sniff(&[0, 0, 1, 0xFF]), None);
        assert_eq!(VideoCodec::sniff(&[1, 2, 3]), None);
    }

    #[test]
    fn h265_key_and_boundaries() {
        // VPS SPS PPS IDR_W_RADL(first) | TRAIL_R(first)
        let d = [
            0, 0, 0, 1, 0x40, 0x01, 0x0C, //
            0, 0, 0, 1, 0x42, 0x01, 0x01, //
            0, 0, 0, 1, 0x44, 0x01, 0xC1, //
            0, 0, 1, 0x26, 0x01, 0xAF, //
            0, 0, 1, 0x02, 0x01, 0xD0,
        ];
        let aus: Vec<Bytes> =
            AccessUnitSplitter::new(VideoCodec::H265, Bytes::copy_from_slice(&d)).collect();
        assert_eq!(aus.len(), 2);
        assert_eq!(&aus[1][..], &d[27..]);
        assert!(VideoCodec::H265.is_key_frame(&aus[0]));
        assert!(!VideoCodec::H265.is_key_frame(&aus[1]));
    }
}
