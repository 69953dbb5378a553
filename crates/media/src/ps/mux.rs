//! Program-stream muxer shaped like real GB/T 28181 cameras: a pack header per frame, system
//! header and program stream map before key frames, frames split into PES packets.

use super::{
    AUDIO_STREAM_ID, PACK_HEADER, PROGRAM_STREAM_MAP, PTS_MASK, SYSTEM_HEADER, StreamType,
    VIDEO_STREAM_ID, crc32_mpeg2, encode_timestamp,
};
use bytes::BufMut;

/// How the muxer lays out its output.
#[derive(Debug, Clone)]
pub struct PsMuxerConfig {
    pub video: StreamType,
    /// Audio stream announced in the map (audio PES use stream id 0xC0).
    pub audio: Option<StreamType>,
    /// Largest PES payload; bigger frames are split. Clamped so `PES_packet_length` ≤ 65535.
    pub max_pes_payload: usize,
    /// Repeat the PTS in continuation PES packets (some cameras do, some do not).
    pub pts_in_every_pes: bool,
    /// `program_mux_rate` in units of 50 bytes/s.
    pub mux_rate: u32,
}

impl PsMuxerConfig {
    pub fn new(video: StreamType) -> Self {
        Self {
            video,
            audio: None,
            max_pes_payload: usize::from(u16::MAX),
            pts_in_every_pes: false,
            // 4 Mbit/s; decoders ignore it, it only has to be non-zero.
            mux_rate: 10_000,
        }
    }
}

/// Writes access units and audio frames as MPEG-2 program stream.
#[derive(Debug, Clone)]
pub struct PsMuxer {
    config: PsMuxerConfig,
}

impl PsMuxer {
    pub fn new(config: PsMuxerConfig) -> Self {
        Self { config }
    }

    pub fn config(&self) -> &PsMuxerConfig {
        &self.config
    }

    /// Appends one video access unit (Annex-B) with its 90 kHz timestamps (33-bit, wrapped
    /// here). `key` adds the system header and program stream map first, as cameras do.
    pub fn write_video(
        &self,
        out: &mut impl BufMut,
        access_unit: &[u8],
        pts: u64,
        dts: Option<u64>,
        key: bool,
    ) {
        let dts = dts.filter(|&d| d & PTS_MASK != pts & PTS_MASK);
        self.write_pack_header(out, dts.unwrap_or(pts));
        if key {
            self.write_system_header(out);
            self.write_program_stream_map(out);
        }
        self.write_pes(out, VIDEO_STREAM_ID, access_unit, pts, dts);
    }

    /// Appends one audio frame (for example 20 ms of G.711) with its 90 kHz PTS.
    pub fn write_audio(&self, out: &mut impl BufMut, frame: &[u8], pts: u64) {
        self.write_pack_header(out, pts);
        self.write_pes(out, AUDIO_STREAM_ID, frame, pts, None);
    }

    /// MPEG-2 pack header, 14 bytes, no stuffing.
    fn write_pack_header(&self, out: &mut impl BufMut, scr: u64) {
        let scr = scr & PTS_MASK;
        let ext = 0u16;
        let rate = self.config.mux_rate & 0x3F_FFFF;
        out.put_slice(&[0, 0, 1, PACK_HEADER]);
        out.put_slice(&[
            0x44 | ((scr >> 27) as u8 & 0x38) | ((scr >> 28) as u8 & 0x03),
            (scr >> 20) as u8,
            ((scr >> 12) as u8 & 0xF8) | 0x04 | ((scr >> 13) as u8 & 0x03),
            (scr >> 5) as u8,
            ((scr << 3) as u8 & 0xF8) | 0x04 | ((ext >> 7) as u8 & 0x03),
            ((ext << 1) as u8) | 0x01,
            (rate >> 14) as u8,
            (rate >> 6) as u8,
            ((rate << 2) as u8) | 0x03,
            0xF8,
        ]);
    }

    fn write_system_header(&self, out: &mut impl BufMut) {
        let streams = 1 + usize::from(self.config.audio.is_some());
        let rate = self.config.mux_rate & 0x3F_FFFF;
        out.put_slice(&[0, 0, 1, SYSTEM_HEADER]);
        out.put_u16((6 + 3 * streams) as u16);
        out.put_slice(&[
            0x80 | (rate >> 15) as u8,
            (rate >> 7) as u8,
            ((rate << 1) as u8) | 0x01,
            (u8::from(self.config.audio.is_some()) << 2), // audio_bound, not fixed, not CSPS
            0xE1, // audio and video locked, marker, video_bound 1
            0x7F, // no packet rate restriction
        ]);
        // P-STD buffer bounds: video 128 x 1024 bytes, audio 32 x 128 bytes.
        out.put_slice(&[VIDEO_STREAM_ID, 0xE0, 0x80]);
        if self.config.audio.is_some() {
            out.put_slice(&[AUDIO_STREAM_ID, 0xC0, 0x20]);
        }
    }

    fn write_program_stream_map(&self, out: &mut impl BufMut) {
        let mut psm = [0u8; 24];
        let mut es_map = 0usize;
        let mut add = |t: StreamType, id: u8| {
            let at = 12 + es_map;
            psm[at] = t.code();
            psm[at + 1] = id;
            // elementary_stream_info_length 0
            es_map += 4;
        };
        add(self.config.video, VIDEO_STREAM_ID);
        if let Some(a) = self.config.audio {
            add(a, AUDIO_STREAM_ID);
        }
        let total = 12 + es_map + 4;
        psm[..4].copy_from_slice(&[0, 0, 1, PROGRAM_STREAM_MAP]);
        psm[4..6].copy_from_slice(&((total - 6) as u16).to_be_bytes());
        psm[6] = 0xE0; // current_next_indicator, version 0
        psm[7] = 0xFF; // reserved, marker
        psm[8..10].copy_from_slice(&0u16.to_be_bytes()); // program_stream_info_length
        psm[10..12].copy_from_slice(&(es_map as u16).to_be_bytes());
        let crc = crc32_mpeg2(&psm[..12 + es_map]);
        psm[12 + es_map..total].copy_from_slice(&crc.to_be_bytes());
        out.put_slice(&psm[..total]);
    }

    fn write_pes(
        &self,
        out: &mut impl BufMut,
        stream_id: u8,
        mut data: &[u8],
        pts: u64,
        dts: Option<u64>,
    ) {
        let mut first = true;
        loop {
            let with_ts = first || self.config.pts_in_every_pes;
            let header_data_len = match (with_ts, dts) {
                (false, _) => 0,
                (true, None) => 5,
                (true, Some(_)) => 10,
            };
            let max = self
                .config
                .max_pes_payload
                .clamp(1, usize::from(u16::MAX) - 3 - header_data_len);
            let take = data.len().min(max);
            out.put_slice(&[0, 0, 1, stream_id]);
            out.put_u16((3 + header_data_len + take) as u16);
            // '10', not scrambled; data_alignment_indicator on the PES that starts the frame.
            out.put_u8(if first { 0x84 } else { 0x80 });
            match (with_ts, dts) {
                (false, _) => out.put_slice(&[0x00, 0]),
                (true, None) => {
                    out.put_slice(&[0x80, 5]);
                    out.put_slice(&encode_timestamp(0b0010, pts));
                }
                (true, Some(dts)) => {
                    out.put_slice(&[0xC0, 10]);
                    out.put_slice(&encode_timestamp(0b0011, pts));
                    out.put_slice(&encode_timestamp(0b0001, dts));
                }
            }
            out.put_slice(&data[..take]);
            data = &data[take..];
            first = false;
            if data.is_empty() {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_frame_layout_is_byte_exact() {
        let mux = PsMuxer::new(PsMuxerConfig::new(StreamType::H264));
        let mut out = Vec::new();
        mux.write_video(&mut out, &[0, 0, 0, 1, 0x65, 0xAA], 3600, None, true);
        let mut expected = vec![
            0, 0, 1, 0xBA, 0x44, 0x00, 0x04, 0x70, 0x84, 0x01, 0x00, 0x9C, 0x43, 0xF8, // pack
            0, 0, 1, 0xBB, 0, 9, 0x80, 0x4E, 0x21, 0x00, 0xE1, 0x7F, 0xE0, 0xE0,
            0x80, // system
            0, 0, 1, 0xBC, 0, 14, 0xE0, 0xFF, 0, 0, 0, 4, 0x1B, 0xE0, 0, 0, // psm without crc
        ];
        let crc = crc32_mpeg2(&expected[29..]);
        expected.extend_from_slice(&crc.to_be_bytes());
        expected.extend_from_slice(&[0, 0, 1, 0xE0, 0, 14, 0x84, 0x80, 5]);
        expected.extend_from_slice(&encode_timestamp(2, 3600));
        expected.extend_from_slice(&[0, 0, 0, 1, 0x65, 0xAA]);
        assert_eq!(out, expected);
    }

    #[test]
    fn large_frame_splits_into_pes_of_at_most_65535_bytes() {
        let mux = PsMuxer::new(PsMuxerConfig::new(StreamType::H265));
        let frame = vec![0x11u8; 150_000];
        let mut out = Vec::new();
        mux.write_video(&mut out, &frame, 0, None, false);
        // Walk the PES packets after the 14-byte pack header.
        let mut pos = 14;
        let mut payload = 0;
        let mut count = 0;
        while pos < out.len() {
            assert_eq!(&out[pos..pos + 4], &[0, 0, 1, 0xE0]);
            let len = usize::from(u16::from_be_bytes([out[pos + 4], out[pos + 5]]));
            let hdr = usize::from(out[pos + 8]);
            assert_eq!(hdr, if count == 0 { 5 } else { 0 });
            payload += len - 3 - hdr;
            pos += 6 + len;
            count += 1;
        }
        assert_eq!(pos, out.len());
        assert_eq!(payload, 150_000);
        assert_eq!(count, 3);
    }

    #[test]
    fn dts_is_written_only_when_it_differs() {
        let mux = PsMuxer::new(PsMuxerConfig::new(StreamType::H264));
        let mut out = Vec::new();
        mux.write_video(&mut out, &[1], 7200, Some(3600), false);
        assert_eq!(&out[14..23], &[0, 0, 1, 0xE0, 0, 14, 0x84, 0xC0, 10]);
        assert_eq!(&out[23..28], &encode_timestamp(3, 7200));
        assert_eq!(&out[28..33], &encode_timestamp(1, 3600));
        out.clear();
        mux.write_video(&mut out, &[1], 7200, Some(7200), false);
        assert_eq!(&out[14..23], &[0, 0, 1, 0xE0, 0, 9, 0x84, 0x80, 5]);
    }
}
