//! H.264 sequence parameter sets (ITU-T H.264 7.3.2.1.1): size, profile, level, frame rate;
//! the `avc1.PPCCLL` codec string and the avcC record (ISO/IEC 14496-15 5.3.3.1).

use super::bits::{BitReader, BitsError, rbsp};

pub const NAL_SLICE: u8 = 1;
pub const NAL_IDR: u8 = 5;
pub const NAL_SEI: u8 = 6;
pub const NAL_SPS: u8 = 7;
pub const NAL_PPS: u8 = 8;
pub const NAL_AUD: u8 = 9;

/// The parts of an H.264 SPS that the muxer and the UI need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sps {
    pub profile_idc: u8,
    pub constraint_flags: u8,
    pub level_idc: u8,
    pub chroma_format_idc: u32,
    pub bit_depth_luma_minus8: u32,
    pub bit_depth_chroma_minus8: u32,
    /// Display size after frame cropping.
    pub width: u32,
    pub height: u32,
    /// VUI timing as (time_scale, num_units_in_tick), if present.
    pub timing: Option<(u32, u32)>,
}

impl Sps {
    /// Parses an SPS NAL unit (header byte included).
    pub fn parse(nal: &[u8]) -> Result<Sps, BitsError> {
        let data = rbsp(nal);
        let mut r = BitReader::new(data.get(1..).ok_or(BitsError("empty SPS"))?);
        let profile_idc = r.bits(8)? as u8;
        let constraint_flags = r.bits(8)? as u8;
        let level_idc = r.bits(8)? as u8;
        let _sps_id = r.ue()?;
        let (mut chroma_format_idc, mut depth_luma, mut depth_chroma) = (1, 0, 0);
        let mut separate_colour_plane = false;
        if matches!(
            profile_idc,
            100 | 110 | 122 | 244 | 44 | 83 | 86 | 118 | 128 | 138 | 139 | 134 | 135
        ) {
            chroma_format_idc = r.ue()?;
            if chroma_format_idc > 3 {
                return Err(BitsError("chroma_format_idc > 3"));
            }
            if chroma_format_idc == 3 {
                separate_colour_plane = r.flag()?;
            }
            depth_luma = r.ue()?;
            depth_chroma = r.ue()?;
            let _qpprime_y_zero_transform_bypass = r.flag()?;
            if r.flag()? {
                let lists = if chroma_format_idc == 3 { 12 } else { 8 };
                for i in 0..lists {
                    if r.flag()? {
                        skip_scaling_list(&mut r, if i < 6 { 16 } else { 64 })?;
                    }
                }
            }
        }
        let _log2_max_frame_num_minus4 = r.ue()?;
        match r.ue()? {
            0 => {
                let _log2_max_poc_lsb_minus4 = r.ue()?;
            }
            1 => {
                let _delta_pic_order_always_zero = r.flag()?;
                let _offset_for_non_ref_pic = r.se()?;
                let _offset_for_top_to_bottom_field = r.se()?;
                let cycle = r.ue()?;
                if cycle > 255 {
                    return Err(BitsError("num_ref_frames_in_pic_order_cnt_cycle > 255"));
                }
                for _ in 0..cycle {
                    r.se()?;
                }
            }
            2 => {}
            _ => return Err(BitsError("pic_order_cnt_type > 2")),
        }
        let _max_num_ref_frames = r.ue()?;
        let _gaps_in_frame_num_allowed = r.flag()?;
        let width_mbs = u64::from(r.ue()?) + 1;
        let height_map_units = u64::from(r.ue()?) + 1;
        let frame_mbs_only = r.flag()?;
        if !frame_mbs_only {
            let _mb_adaptive_frame_field = r.flag()?;
        }
        let _direct_8x8_inference = r.flag()?;
        let (mut left, mut right, mut top, mut bottom) = (0u64, 0u64, 0u64, 0u64);
        if r.flag()? {
            left = r.ue()?.into();
            right = r.ue()?.into();
            top = r.ue()?.into();
            bottom = r.ue()?.into();
        }
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
        let field_factor = if frame_mbs_only { 1 } else { 2 };
        let (crop_x, crop_y) = if chroma_array_type == 0 {
            (1, field_factor)
        } else {
            (sub_w, sub_h * field_factor)
        };
        let full_w = width_mbs * 16;
        let full_h = height_map_units * 16 * field_factor;
        let width = full_w
            .checked_sub(crop_x * (left + right))
            .filter(|&w| w > 0);
        let height = full_h
            .checked_sub(crop_y * (top + bottom))
            .filter(|&h| h > 0);
        let (Some(width), Some(height)) = (width, height) else {
            return Err(BitsError("cropping larger than the picture"));
        };
        if width > 16_384 || height > 16_384 {
            return Err(BitsError("picture larger than 16384 pixels"));
        }
        let timing = if r.flag()? {
            vui_timing(&mut r).unwrap_or(None)
        } else {
            None
        };
        Ok(Sps {
            profile_idc,
            constraint_flags,
            level_idc,
            chroma_format_idc,
            bit_depth_luma_minus8: depth_luma,
            bit_depth_chroma_minus8: depth_chroma,
            width: width as u32,
            height: height as u32,
            timing,
        })
    }

    /// `avc1.PPCCLL` for Media Source Extensions.
    pub fn codec_string(&self) -> String {
        format!(
            "avc1.{:02x}{:02x}{:02x}",
            self.profile_idc, self.constraint_flags, self.level_idc
        )
    }

    /// Frames per second from VUI timing (H.264 counts fields: two ticks per frame).
    pub fn fps(&self) -> Option<f64> {
        let (scale, units) = self.timing?;
        (units > 0 && scale > 0).then(|| f64::from(scale) / (2.0 * f64::from(units)))
    }
}

fn skip_scaling_list(r: &mut BitReader<'_>, size: usize) -> Result<(), BitsError> {
    let (mut last, mut next) = (8i32, 8i32);
    for _ in 0..size {
        if next != 0 {
            let delta = r.se()?;
            next = (last + delta + 256).rem_euclid(256);
        }
        last = if next == 0 { last } else { next };
    }
    Ok(())
}

/// Reads the VUI up to timing_info. A VUI cut short yields `Ok(None)`.
fn vui_timing(r: &mut BitReader<'_>) -> Result<Option<(u32, u32)>, BitsError> {
    if r.flag()? {
        // aspect_ratio_info
        if r.bits(8)? == 255 {
            r.skip(32)?;
        }
    }
    if r.flag()? {
        r.skip(1)?; // overscan_appropriate
    }
    if r.flag()? {
        r.skip(4)?; // video_format, full_range
        if r.flag()? {
            r.skip(24)?; // colour description
        }
    }
    if r.flag()? {
        r.ue()?;
        r.ue()?;
    }
    if r.flag()? {
        let units = r.bits(32)?;
        let scale = r.bits(32)?;
        return Ok(Some((scale, units)));
    }
    Ok(None)
}

/// Builds the body of an `avcC` box from one SPS and one PPS (NAL units, headers included).
pub fn avc_decoder_configuration(sps_nal: &[u8], pps_nal: &[u8], sps: &Sps) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + sps_nal.len() + pps_nal.len());
    out.push(1); // configurationVersion
    out.push(sps.profile_idc);
    out.push(sps.constraint_flags);
    out.push(sps.level_idc);
    out.push(0xFF); // lengthSizeMinusOne = 3
    out.push(0xE1); // one SPS
    out.extend_from_slice(&(sps_nal.len() as u16).to_be_bytes());
    out.extend_from_slice(sps_nal);
    out.push(1); // one PPS
    out.extend_from_slice(&(pps_nal.len() as u16).to_be_bytes());
    out.extend_from_slice(pps_nal);
    if matches!(sps.profile_idc, 100 | 110 | 122 | 144) {
        out.push(0xFC | (sps.chroma_format_idc as u8 & 3));
        out.push(0xF8 | (sps.bit_depth_luma_minus8 as u8 & 7));
        out.push(0xF8 | (sps.bit_depth_chroma_minus8 as u8 & 7));
        out.push(0); // no SPS extensions
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SPS of testdata/clip_640x360_25fps.h264 (x264, Main 3.0, VUI timing 50/1).
    const CLIP_SPS: &[u8] = &[
        0x67, 0x4D, 0x40, 0x1E, 0xD9, 0x00, 0xA0, 0x2F, 0xF9, 0x70, 0x11, 0x00, 0x00, 0x03, 0x00,
        0x01, 0x00, 0x00, 0x03, 0x00, 0x32, 0x0F, 0x16, 0x2E, 0x48,
    ];

    #[test]
    fn parses_clip_sps_with_cropping_and_timing() {
        let sps = Sps::parse(CLIP_SPS).unwrap();
        assert_eq!((sps.width, sps.height), (640, 360));
        assert_eq!(
            (sps.profile_idc, sps.constraint_flags, sps.level_idc),
            (77, 0x40, 30)
        );
        assert_eq!(sps.codec_string(), "avc1.4d401e");
        assert_eq!(sps.timing, Some((50, 1)));
        assert_eq!(sps.fps(), Some(25.0));
    }

    /// x264 High 4.0 1920x1080: 68 macroblock rows (1088) cropped by 8, VUI timing 50/1.
    const HD_SPS: &[u8] = &[
        0x67, 0x64, 0x00, 0x28, 0xAC, 0xD9, 0x40, 0x78, 0x02, 0x27, 0xE5, 0xC0, 0x44, 0x00, 0x00,
        0x03, 0x00, 0x04, 0x00, 0x00, 0x03, 0x00, 0xC8, 0x3C, 0x60, 0xC6, 0x58,
    ];

    #[test]
    fn parses_high_profile_1080p_with_cropping() {
        let sps = Sps::parse(HD_SPS).unwrap();
        assert_eq!((sps.width, sps.height), (1920, 1080));
        assert_eq!(sps.codec_string(), "avc1.640028");
        assert_eq!(sps.chroma_format_idc, 1);
        let avcc = avc_decoder_configuration(HD_SPS, &[0x68, 0xEB], &sps);
        // High profile appends chroma format and bit depths.
        assert_eq!(&avcc[avcc.len() - 4..], &[0xFD, 0xF8, 0xF8, 0]);
    }

    #[test]
    fn truncated_sps_is_an_error_not_a_panic() {
        for n in 0..9 {
            assert!(Sps::parse(&CLIP_SPS[..n]).is_err(), "{n}");
        }
    }

    #[test]
    fn avcc_layout() {
        let sps = Sps::parse(CLIP_SPS).unwrap();
        let avcc = avc_decoder_configuration(CLIP_SPS, &[0x68, 0xEB, 0xCC, 0xB2], &sps);
        let mut expected = vec![1, 0x4D, 0x40, 0x1E, 0xFF, 0xE1, 0, 25];
        expected.extend_from_slice(CLIP_SPS);
        expected.extend_from_slice(&[1, 0, 4, 0x68, 0xEB, 0xCC, 0xB2]);
        assert_eq!(avcc, expected);
    }
}
