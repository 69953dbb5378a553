//! Tracks the parameter sets of a live stream and derives what the fMP4 init segment and the
//! browser need: size, codec string, decoder configuration record.

use super::annexb::nal_starts;
use super::bits::BitsError;
use super::{VideoCodec, h264, h265, nal_units};
use bytes::Bytes;

/// A parameter set could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParamsError {
    #[error("bad {codec:?} SPS: {source}")]
    BadSps {
        codec: VideoCodec,
        source: BitsError,
    },
    #[error("parameter set of {0} bytes is larger than 65535")]
    TooLarge(usize),
}

/// Everything derived from one set of SPS/PPS (and VPS).
#[derive(Debug, Clone, PartialEq)]
pub struct VideoParams {
    pub codec: VideoCodec,
    pub width: u32,
    pub height: u32,
    /// MSE codec string, for example `avc1.4d401e` or `hvc1.1.6.L93.B0`.
    pub codec_string: String,
    /// Frames per second from the SPS VUI timing (H.264 only), if present.
    pub fps: Option<f64>,
    /// Body of the avcC or hvcC box.
    pub decoder_config: Bytes,
    pub vps: Option<Bytes>,
    pub sps: Bytes,
    pub pps: Bytes,
}

impl VideoParams {
    /// Builds parameters from raw NAL units (headers included). `vps` is needed for H.265.
    pub fn new(
        codec: VideoCodec,
        vps: Option<&[u8]>,
        sps: &[u8],
        pps: &[u8],
    ) -> Result<Self, ParamsError> {
        for n in [Some(sps), Some(pps), vps].into_iter().flatten() {
            if n.len() > usize::from(u16::MAX) {
                return Err(ParamsError::TooLarge(n.len()));
            }
        }
        let bad = |source| ParamsError::BadSps { codec, source };
        let (width, height, codec_string, fps, config) = match codec {
            VideoCodec::H264 => {
                let p = h264::Sps::parse(sps).map_err(bad)?;
                let cfg = h264::avc_decoder_configuration(sps, pps, &p);
                (p.width, p.height, p.codec_string(), p.fps(), cfg)
            }
            VideoCodec::H265 => {
                let p = h265::Sps::parse(sps).map_err(bad)?;
                let cfg = h265::hevc_decoder_configuration(vps.unwrap_or(&[]), sps, pps, &p);
                (p.width, p.height, p.codec_string(), None, cfg)
            }
        };
        Ok(Self {
            codec,
            width,
            height,
            codec_string,
            fps,
            decoder_config: config.into(),
            vps: vps.map(Bytes::copy_from_slice),
            sps: Bytes::copy_from_slice(sps),
            pps: Bytes::copy_from_slice(pps),
        })
    }
}

/// Watches access units for SPS/PPS/VPS and rebuilds [`VideoParams`] when they change
/// (a camera that changes resolution needs a new init segment).
#[derive(Debug)]
pub struct ParameterSetTracker {
    codec: VideoCodec,
    vps: Option<Bytes>,
    sps: Option<Bytes>,
    pps: Option<Bytes>,
    params: Option<VideoParams>,
}

impl ParameterSetTracker {
    pub fn new(codec: VideoCodec) -> Self {
        Self {
            codec,
            vps: None,
            sps: None,
            pps: None,
            params: None,
        }
    }

    pub fn codec(&self) -> VideoCodec {
        self.codec
    }

    /// Current parameters, once SPS and PPS (and VPS) have been seen.
    pub fn params(&self) -> Option<&VideoParams> {
        self.params.as_ref()
    }

    /// Looks at an Annex-B access unit. Returns `Ok(true)` when new parameters took effect.
    /// On an SPS that does not parse, the previous parameters stay.
    pub fn observe(&mut self, access_unit: &[u8]) -> Result<bool, ParamsError> {
        let mut changed = false;
        // Parameter sets precede the first slice; stop there without scanning the slice data.
        for at in nal_starts(access_unit) {
            let header = &access_unit[at..(at + 3).min(access_unit.len())];
            let slot = match (self.codec, self.codec.nal_type(header)) {
                (VideoCodec::H264, Some(h264::NAL_SPS))
                | (VideoCodec::H265, Some(h265::NAL_SPS)) => &mut self.sps,
                (VideoCodec::H264, Some(h264::NAL_PPS))
                | (VideoCodec::H265, Some(h265::NAL_PPS)) => &mut self.pps,
                (VideoCodec::H265, Some(h265::NAL_VPS)) => &mut self.vps,
                _ if self.codec.is_vcl_nal(header) => break,
                _ => continue,
            };
            let Some(nal) = nal_units(&access_unit[at - 3..]).next() else {
                continue;
            };
            if slot.as_deref() != Some(nal) {
                *slot = Some(Bytes::copy_from_slice(nal));
                changed = true;
            }
        }
        if !changed {
            return Ok(false);
        }
        let (Some(sps), Some(pps)) = (&self.sps, &self.pps) else {
            return Ok(false);
        };
        if self.codec == VideoCodec::H265 && self.vps.is_none() {
            return Ok(false);
        }
        let params = VideoParams::new(self.codec, self.vps.as_deref(), sps, pps)?;
        let new = self.params.as_ref() != Some(&params);
        self.params = Some(params);
        Ok(new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clip::{AnnexBReader, testdata};

    #[test]
    fn clip_parameters_are_found_once_and_stay() {
        for (codec, data, codec_string) in [
            (
                VideoCodec::H264,
                testdata::H264_640X360_25FPS,
                "avc1.4d401e",
            ),
            (
                VideoCodec::H265,
                testdata::H265_640X360_25FPS,
                "hvc1.1.6.L63.90",
            ),
        ] {
            let mut t = ParameterSetTracker::new(codec);
            let changes: Vec<bool> = AnnexBReader::new(codec, Bytes::from_static(data))
                .map(|f| t.observe(&f.data).unwrap())
                .collect();
            assert_eq!(changes.iter().filter(|c| **c).count(), 1, "{codec:?}");
            assert!(changes[0]);
            let p = t.params().unwrap();
            assert_eq!((p.width, p.height), (640, 360));
            assert_eq!(p.codec_string, codec_string);
        }
    }

    #[test]
    fn new_resolution_is_reported_as_a_change() {
        let mut t = ParameterSetTracker::new(VideoCodec::H264);
        let clip = AnnexBReader::new(
            VideoCodec::H264,
            Bytes::from_static(testdata::H264_640X360_25FPS),
        )
        .next()
        .unwrap();
        assert!(t.observe(&clip.data).unwrap());
        let hd = [
            &[0, 0, 0, 1][..],
            &[
                0x67, 0x64, 0x00, 0x28, 0xAC, 0xD9, 0x40, 0x78, 0x02, 0x27, 0xE5, 0xC0, 0x44, 0x00,
                0x00, 0x03, 0x00, 0x04, 0x00, 0x00, 0x03, 0x00, 0xC8, 0x3C, 0x60, 0xC6, 0x58,
            ],
            &[
                0, 0, 0, 1, 0x68, 0xEB, 0xE3, 0xCB, 0x22, 0xC0, 0, 0, 1, 0x65, 0x88,
            ],
        ]
        .concat();
        assert!(t.observe(&hd).unwrap());
        assert_eq!(t.params().unwrap().width, 1920);
        assert!(!t.observe(&hd).unwrap());
    }

    #[test]
    fn unparsable_sps_is_an_error() {
        let mut t = ParameterSetTracker::new(VideoCodec::H264);
        let au = [0, 0, 1, 0x67, 0x4D, 0, 0, 1, 0x68, 0xEE];
        assert!(matches!(t.observe(&au), Err(ParamsError::BadSps { .. })));
        assert!(t.params().is_none());
    }
}
