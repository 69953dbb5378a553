//! H.265 parameter sets (ITU-T H.265 7.3.2.2): size, profile/tier/level; the `hvc1.…` codec
//! string (ISO/IEC 14496-15 E.3) and the hvcC record (14496-15 8.3.3.1).

use super::bits::{BitReader, BitsError, rbsp};

pub const NAL_VPS: u8 = 32;
pub const NAL_SPS: u8 = 33;
pub const NAL_PPS: u8 = 34;
pub const NAL_AUD: u8 = 35;

/// The parts of an H.265 SPS that the muxer and the UI need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sps {
    pub general_profile_space: u8,
    pub general_tier_flag: bool,
    pub general_profile_idc: u8,
    pub general_profile_compatibility_flags: u32,
    /// The 48 constraint-indicator bits, as 6 bytes.
    pub general_constraint_flags: [u8; 6],
    pub general_level_idc: u8,
    pub max_sub_layers: u8,
    pub temporal_id_nesting: bool,
    pub chroma_format_idc: u32,
    pub bit_depth_luma_minus8: u32,
    pub bit_depth_chroma_minus8: u32,
    /// Display size after the conformance window.
    pub width: u32,
    pub height: u32,
}

impl Sps {
    /// Parses an SPS NAL unit (2-byte header included).
    pub fn parse(nal: &[u8]) -> Result<Sps, BitsError> {
        let data = rbsp(nal);
        let mut r = BitReader::new(data.get(2..).ok_or(BitsError("empty SPS"))?);
        let _vps_id = r.bits(4)?;
        let max_sub_layers_minus1 = r.bits(3)? as u8;
        let temporal_id_nesting = r.flag()?;
        // profile_tier_level(1, max_sub_layers_minus1), general part.
        let general_profile_space = r.bits(2)? as u8;
        let general_tier_flag = r.flag()?;
        let general_profile_idc = r.bits(5)? as u8;
        let general_profile_compatibility_flags = r.bits(32)?;
        let mut general_constraint_flags = [0u8; 6];
        for b in &mut general_constraint_flags {
            *b = r.bits(8)? as u8;
        }
        let general_level_idc = r.bits(8)? as u8;
        let mut sub_profile = [false; 8];
        let mut sub_level = [false; 8];
        for i in 0..usize::from(max_sub_layers_minus1) {
            sub_profile[i] = r.flag()?;
            sub_level[i] = r.flag()?;
        }
        if max_sub_layers_minus1 > 0 {
            r.skip(2 * (8 - usize::from(max_sub_layers_minus1)))?;
        }
        for i in 0..usize::from(max_sub_layers_minus1) {
            if sub_profile[i] {
                r.skip(88)?;
            }
            if sub_level[i] {
                r.skip(8)?;
            }
        }
        let _sps_id = r.ue()?;
        let chroma_format_idc = r.ue()?;
        if chroma_format_idc > 3 {
            return Err(BitsError("chroma_format_idc > 3"));
        }
        let separate_colour_plane = chroma_format_idc == 3 && r.flag()?;
        let pic_width = u64::from(r.ue()?);
        let pic_height = u64::from(r.ue()?);
        let (mut left, mut right, mut top, mut bottom) = (0u64, 0u64, 0u64, 0u64);
        if r.flag()? {
            left = r.ue()?.into();
            right = r.ue()?.into();
            top = r.ue()?.into();
            bottom = r.ue()?.into();
        }
        let bit_depth_luma_minus8 = r.ue()?;
        let bit_depth_chroma_minus8 = r.ue()?;
        let chroma_array_type = if separate_colour_plane {
            0
        } else {
            chroma_format_idc
        };
        let (sub_w, sub_h) = match chroma_array_type {
            1 => (2, 2),
            2 => (2, 1),
            _ => (1, 1),
        };
        let width = pic_width
            .checked_sub(sub_w * (left + right))
            .filter(|&w| w > 0);
        let height = pic_height
            .checked_sub(sub_h * (top + bottom))
            .filter(|&h| h > 0);
        let (Some(width), Some(height)) = (width, height) else {
            return Err(BitsError("conformance window larger than the picture"));
        };
        if width > 16_384 || height > 16_384 {
            return Err(BitsError("picture larger than 16384 pixels"));
        }
        Ok(Sps {
            general_profile_space,
            general_tier_flag,
            general_profile_idc,
            general_profile_compatibility_flags,
            general_constraint_flags,
            general_level_idc,
            max_sub_layers: max_sub_layers_minus1 + 1,
            temporal_id_nesting,
            chroma_format_idc,
            bit_depth_luma_minus8,
            bit_depth_chroma_minus8,
            width: width as u32,
            height: height as u32,
        })
    }

    /// `hvc1.<space><profile>.<compat, bit-reversed hex>.<L|H><level>.<constraint bytes>`,
    /// for example `hvc1.1.6.L93.B0` (trailing zero constraint bytes are left out).
    pub fn codec_string(&self) -> String {
        let space = match self.general_profile_space {
            1 => "A",
            2 => "B",
            3 => "C",
            _ => "",
        };
        let mut s = format!(
            "hvc1.{space}{}.{:x}.{}{}",
            self.general_profile_idc,
            self.general_profile_compatibility_flags.reverse_bits(),
            if self.general_tier_flag { 'H' } else { 'L' },
            self.general_level_idc
        );
        let used = self
            .general_constraint_flags
            .iter()
            .rposition(|&b| b != 0)
            .map_or(0, |i| i + 1);
        for b in &self.general_constraint_flags[..used] {
            s.push_str(&format!(".{b:X}"));
        }
        s
    }
}

/// Builds the body of an `hvcC` box from VPS, SPS and PPS NAL units (headers included).
pub fn hevc_decoder_configuration(vps: &[u8], sps_nal: &[u8], pps: &[u8], sps: &Sps) -> Vec<u8> {
    let mut out = Vec::with_capacity(40 + vps.len() + sps_nal.len() + pps.len());
    out.push(1); // configurationVersion
    out.push(
        (sps.general_profile_space << 6)
            | (u8::from(sps.general_tier_flag) << 5)
            | (sps.general_profile_idc & 0x1F),
    );
    out.extend_from_slice(&sps.general_profile_compatibility_flags.to_be_bytes());
    out.extend_from_slice(&sps.general_constraint_flags);
    out.push(sps.general_level_idc);
    out.extend_from_slice(&[0xF0, 0x00]); // min_spatial_segmentation_idc 0
    out.push(0xFC); // parallelismType unknown
    out.push(0xFC | (sps.chroma_format_idc as u8 & 3));
    out.push(0xF8 | (sps.bit_depth_luma_minus8 as u8 & 7));
    out.push(0xF8 | (sps.bit_depth_chroma_minus8 as u8 & 7));
    out.extend_from_slice(&[0, 0]); // avgFrameRate unknown
    // constantFrameRate 0, numTemporalLayers, temporalIdNested, lengthSizeMinusOne 3.
    out.push(((sps.max_sub_layers & 7) << 3) | (u8::from(sps.temporal_id_nesting) << 2) | 3);
    out.push(3); // numOfArrays
    for (nal_type, nal) in [(NAL_VPS, vps), (NAL_SPS, sps_nal), (NAL_PPS, pps)] {
        out.push(0x80 | nal_type); // array_completeness
        out.extend_from_slice(&1u16.to_be_bytes());
        out.extend_from_slice(&(nal.len() as u16).to_be_bytes());
        out.extend_from_slice(nal);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SPS of testdata/clip_640x360_25fps.h265 (x265 Main, level 2.1, 640x368 coded, window 8 rows).
    const CLIP_SPS: &[u8] = &[
        0x42, 0x01, 0x01, 0x01, 0x60, 0x00, 0x00, 0x03, 0x00, 0x90, 0x00, 0x00, 0x03, 0x00, 0x00,
        0x03, 0x00, 0x3F, 0xA0, 0x05, 0x02, 0x01, 0x69, 0x65, 0x92, 0xA4, 0x93, 0x2B, 0xC0, 0x5A,
        0x02, 0x00, 0x00, 0x03, 0x00, 0x02, 0x00, 0x00, 0x03, 0x00, 0x32, 0x10,
    ];
    /// x265 Main 1920x1080, level 4.
    const HD_SPS: &[u8] = &[
        0x42, 0x01, 0x01, 0x01, 0x60, 0x00, 0x00, 0x03, 0x00, 0x90, 0x00, 0x00, 0x03, 0x00, 0x00,
        0x03, 0x00, 0x78, 0xA0, 0x03, 0xC0, 0x80, 0x10, 0xE5, 0x96, 0x56, 0x69, 0x24, 0xCA, 0xF0,
        0x16, 0x80, 0x80, 0x00, 0x00, 0x03, 0x00, 0x80, 0x00, 0x00, 0x0F, 0x04,
    ];

    #[test]
    fn parses_clip_sps_with_conformance_window() {
        let sps = Sps::parse(CLIP_SPS).unwrap();
        assert_eq!((sps.width, sps.height), (640, 360));
        assert_eq!((sps.general_profile_idc, sps.general_level_idc), (1, 63));
        assert_eq!(sps.codec_string(), "hvc1.1.6.L63.90");
    }

    #[test]
    fn parses_1080p_and_codec_string() {
        let sps = Sps::parse(HD_SPS).unwrap();
        assert_eq!((sps.width, sps.height), (1920, 1080));
        assert_eq!(sps.codec_string(), "hvc1.1.6.L120.90");
        assert_eq!(sps.max_sub_layers, 1);
    }

    #[test]
    fn truncated_sps_is_an_error_not_a_panic() {
        for n in 0..20 {
            assert!(Sps::parse(&CLIP_SPS[..n]).is_err(), "{n}");
        }
    }

    #[test]
    fn hvcc_header_fields() {
        let sps = Sps::parse(CLIP_SPS).unwrap();
        let hvcc = hevc_decoder_configuration(&[0x40, 0x01], CLIP_SPS, &[0x44, 0x01], &sps);
        assert_eq!(
            &hvcc[..23],
            &[
                1, 0x01, 0x60, 0, 0, 0, 0x90, 0, 0, 0, 0, 0, 63, 0xF0, 0, 0xFC, 0xFD, 0xF8, 0xF8,
                0, 0, 0x0F, 3
            ]
        );
        assert_eq!(&hvcc[23..28], &[0xA0, 0, 1, 0, 2]);
        assert_eq!(hvcc.len(), 23 + 3 * 5 + 2 + CLIP_SPS.len() + 2);
    }
}
