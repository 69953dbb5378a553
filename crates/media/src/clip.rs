//! Test clips and the sans-IO clip streamer the camera simulator uses: Annex-B file → access
//! units → PS → RTP packets with send times, looping with continuous sequence numbers and
//! timestamps.

use crate::VideoCodec;
use crate::codec::AccessUnitSplitter;
use crate::ps::{PTS_MASK, PsMuxer, PsMuxerConfig, PsRtpPacketizer};
use bytes::Bytes;
use std::time::Duration;

/// The clips shipped in `testdata/` (see its README): 640x360, 25 fps, 50 frames, GOP 25.
pub mod testdata {
    /// H.264 Main profile, Annex-B.
    pub static H264_640X360_25FPS: &[u8] = include_bytes!("../testdata/clip_640x360_25fps.h264");
    /// H.265 Main profile, Annex-B.
    pub static H265_640X360_25FPS: &[u8] = include_bytes!("../testdata/clip_640x360_25fps.h265");
}

/// One access unit of a clip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClipFrame {
    /// Annex-B bytes, parameter sets included where the encoder put them.
    pub data: Bytes,
    pub key: bool,
}

/// Splits a whole Annex-B file into access units (zero-copy slices of `data`).
#[derive(Debug, Clone)]
pub struct AnnexBReader {
    codec: VideoCodec,
    inner: AccessUnitSplitter,
}

impl AnnexBReader {
    pub fn new(codec: VideoCodec, data: impl Into<Bytes>) -> Self {
        Self {
            codec,
            inner: AccessUnitSplitter::new(codec, data.into()),
        }
    }
}

impl Iterator for AnnexBReader {
    type Item = ClipFrame;

    fn next(&mut self) -> Option<ClipFrame> {
        let data = self.inner.next()?;
        let key = self.codec.is_key_frame(&data);
        Some(ClipFrame { data, key })
    }
}

/// Why a clip cannot be streamed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClipError {
    #[error("clip has no access units")]
    Empty,
    #[error("clip does not start with a key frame, so it cannot loop")]
    NoLeadingKeyFrame,
    #[error("frame rate must be at least 1")]
    ZeroFps,
}

/// Settings of one simulated camera stream.
#[derive(Debug, Clone)]
pub struct ClipStreamerConfig {
    pub ssrc: u32,
    pub first_sequence: u16,
    pub first_timestamp: u32,
    pub fps: u32,
    pub payload_type: u8,
    /// Largest RTP payload.
    pub max_payload: usize,
    /// Simulated loss: each packet is dropped with probability `drop_ppm` / 1,000,000.
    pub drop_ppm: u32,
}

impl ClipStreamerConfig {
    /// PT 96, 1400-byte payloads, 25 fps, no loss.
    pub fn new(ssrc: u32) -> Self {
        Self {
            ssrc,
            first_sequence: 0,
            first_timestamp: 0,
            fps: 25,
            payload_type: 96,
            max_payload: 1400,
            drop_ppm: 0,
        }
    }
}

/// The RTP packets of one frame and when to send them.
#[derive(Debug, Clone)]
pub struct StreamedFrame {
    /// Frames sent so far on this stream (keeps counting across loops).
    pub index: u64,
    /// When to send, as an offset from the stream's start.
    pub send_at: Duration,
    pub rtp_timestamp: u32,
    pub key: bool,
    /// Whole RTP datagrams, in order; dropped ones are missing (their sequence numbers are used).
    pub packets: Vec<Bytes>,
    pub dropped: u32,
}

/// Streams a clip as PS over RTP forever: the simulator calls [`ClipStreamer::next_frame`],
/// sleeps until `send_at`, and sends the packets.
#[derive(Debug)]
pub struct ClipStreamer {
    frames: Vec<ClipFrame>,
    muxer: PsMuxer,
    packetizer: PsRtpPacketizer,
    config: ClipStreamerConfig,
    index: u64,
    /// Clip frame of index 0: moved by [`ClipStreamer::seek`] and
    /// [`ClipStreamer::key_frame_next`] (timing and sequence numbers run on regardless).
    offset: u64,
    ps: Vec<u8>,
}

impl ClipStreamer {
    pub fn new(
        codec: VideoCodec,
        frames: Vec<ClipFrame>,
        config: ClipStreamerConfig,
    ) -> Result<Self, ClipError> {
        match frames.first() {
            None => return Err(ClipError::Empty),
            Some(f) if !f.key => return Err(ClipError::NoLeadingKeyFrame),
            Some(_) => {}
        }
        if config.fps == 0 {
            return Err(ClipError::ZeroFps);
        }
        let packetizer = PsRtpPacketizer::new(config.ssrc, config.first_sequence)
            .with_payload_type(config.payload_type)
            .with_max_payload(config.max_payload);
        Ok(Self {
            frames,
            muxer: PsMuxer::new(PsMuxerConfig::new(codec.into())),
            packetizer,
            config,
            index: 0,
            offset: 0,
            ps: Vec::new(),
        })
    }

    /// The next frame sent is clip frame `frame` (modulo the clip's length): a stream can
    /// start mid-GOP, as some cameras' do.
    pub fn seek(&mut self, frame: usize) {
        let len = self.frames.len() as u64;
        let at = (self.index + self.offset) % len;
        self.offset = (self.offset + len + frame as u64 % len - at) % len;
    }

    /// The next frame sent is the clip's next key frame, as a camera does when asked for
    /// one (frames in between are skipped; timestamps and sequence numbers stay continuous).
    pub fn key_frame_next(&mut self) {
        let len = self.frames.len();
        let at = ((self.index + self.offset) % len as u64) as usize;
        if let Some(k) = (0..len)
            .map(|d| (at + d) % len)
            .find(|&i| self.frames[i].key)
        {
            self.seek(k);
        }
    }

    /// Streams one of the shipped test clips.
    pub fn from_testdata(codec: VideoCodec, config: ClipStreamerConfig) -> Self {
        let data = match codec {
            VideoCodec::H264 => testdata::H264_640X360_25FPS,
            VideoCodec::H265 => testdata::H265_640X360_25FPS,
        };
        let frames = AnnexBReader::new(codec, Bytes::from_static(data)).collect();
        Self::new(codec, frames, config).expect("shipped clips start with a key frame")
    }

    /// When the next frame is due, as an offset from the stream's start.
    pub fn next_send_at(&self) -> Duration {
        self.send_at(self.index)
    }

    fn send_at(&self, index: u64) -> Duration {
        let nanos = u128::from(index) * 1_000_000_000 / u128::from(self.config.fps);
        Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }

    /// Produces the next frame's packets. `random` supplies uniform `u32`s and is called once
    /// per packet only when `drop_ppm` is non-zero.
    pub fn next_frame(&mut self, mut random: impl FnMut() -> u32) -> StreamedFrame {
        let index = self.index;
        let frame = &self.frames[((index + self.offset) % self.frames.len() as u64) as usize];
        // Computed from the index, not accumulated, so non-divisible rates do not drift.
        let ticks = u128::from(index) * 90_000 / u128::from(self.config.fps);
        let pts = (u128::from(self.config.first_timestamp) + ticks) as u64 & PTS_MASK;
        let rtp_timestamp = self.config.first_timestamp.wrapping_add(ticks as u32);
        self.ps.clear();
        self.muxer
            .write_video(&mut self.ps, &frame.data, pts, None, frame.key);
        let mut packets = Vec::with_capacity(self.ps.len() / self.config.max_payload.max(1) + 1);
        self.packetizer
            .packetize(&self.ps, rtp_timestamp, &mut packets);
        let mut dropped = 0;
        if self.config.drop_ppm > 0 {
            let threshold = u64::from(self.config.drop_ppm.min(1_000_000));
            packets.retain(|_| {
                let keep = (u64::from(random()) * 1_000_000) >> 32 >= threshold;
                dropped += u32::from(!keep);
                keep
            });
        }
        let key = frame.key;
        self.index += 1;
        StreamedFrame {
            index,
            send_at: self.send_at(index),
            rtp_timestamp,
            key,
            packets,
            dropped,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rtp::RtpPacketRef;

    #[test]
    fn shipped_clips_have_50_frames_with_key_frames_each_second() {
        for codec in [VideoCodec::H264, VideoCodec::H265] {
            let data = match codec {
                VideoCodec::H264 => testdata::H264_640X360_25FPS,
                VideoCodec::H265 => testdata::H265_640X360_25FPS,
            };
            let frames: Vec<ClipFrame> =
                AnnexBReader::new(codec, Bytes::from_static(data)).collect();
            assert_eq!(frames.len(), 50, "{codec:?}");
            let keys: Vec<usize> = frames
                .iter()
                .enumerate()
                .filter(|(_, f)| f.key)
                .map(|(i, _)| i)
                .collect();
            assert_eq!(keys, vec![0, 25], "{codec:?}");
            let total: usize = frames.iter().map(|f| f.data.len()).sum();
            assert_eq!(total, data.len());
        }
    }

    #[test]
    fn streamer_can_start_mid_gop_and_jump_to_the_next_key_frame() {
        let mut s = ClipStreamer::from_testdata(VideoCodec::H264, ClipStreamerConfig::new(1));
        s.seek(5);
        let keys: Vec<bool> = (0..21).map(|_| s.next_frame(|| 0).key).collect();
        assert_eq!(
            keys.iter().position(|k| *k),
            Some(20),
            "clip frame 25 is the next key"
        );
        s.key_frame_next(); // at clip frame 26: the next key is frame 0 of the loop
        let f = s.next_frame(|| 0);
        assert!(f.key);
        assert_eq!(f.index, 21, "timing runs on");
        assert!(!s.next_frame(|| 0).key);
        s.key_frame_next();
        s.key_frame_next(); // already at a key frame: stays there
        assert!(s.next_frame(|| 0).key);
    }

    #[test]
    fn streamer_loops_with_continuous_sequence_and_timestamps() {
        let mut cfg = ClipStreamerConfig::new(0x0100_0001);
        cfg.first_sequence = 65_000;
        cfg.first_timestamp = u32::MAX - 3600 * 10;
        let mut s = ClipStreamer::from_testdata(VideoCodec::H264, cfg);
        let mut expected_seq = 65_000u16;
        for i in 0..120u64 {
            let f = s.next_frame(|| unreachable!("no loss configured"));
            assert_eq!(f.index, i);
            assert_eq!(f.send_at, Duration::from_millis(40 * i));
            assert_eq!(
                f.rtp_timestamp,
                (u32::MAX - 36_000).wrapping_add(3600 * i as u32)
            );
            assert_eq!(f.key, i % 25 == 0);
            let n = f.packets.len();
            for (j, p) in f.packets.iter().enumerate() {
                let p = RtpPacketRef::parse(p).unwrap();
                assert_eq!(p.header.sequence, expected_seq);
                assert_eq!(p.header.marker, j + 1 == n);
                assert_eq!(p.header.payload_type, 96);
                assert_eq!(p.header.ssrc, 0x0100_0001);
                assert!(p.payload.len() <= 1400);
                expected_seq = expected_seq.wrapping_add(1);
            }
        }
        assert_eq!(s.next_send_at(), Duration::from_millis(4800));
    }

    #[test]
    fn drop_ppm_drops_packets_but_consumes_their_sequence_numbers() {
        let mut cfg = ClipStreamerConfig::new(1);
        cfg.drop_ppm = 500_000;
        let mut s = ClipStreamer::from_testdata(VideoCodec::H265, cfg);
        // Alternate "drop" (0) and "keep" (u32::MAX).
        let mut flip = false;
        let f = s.next_frame(|| {
            flip = !flip;
            if flip { 0 } else { u32::MAX }
        });
        assert!(f.dropped > 0);
        let seqs: Vec<u16> = f
            .packets
            .iter()
            .map(|p| RtpPacketRef::parse(p).unwrap().header.sequence)
            .collect();
        assert!(seqs.iter().all(|s| s % 2 == 1), "{seqs:?}");
        let next = s.next_frame(|| u32::MAX);
        let first = RtpPacketRef::parse(&next.packets[0])
            .unwrap()
            .header
            .sequence;
        assert_eq!(usize::from(first), f.packets.len() + f.dropped as usize);
    }

    #[test]
    fn rejects_clips_that_cannot_loop() {
        let p = ClipFrame {
            data: Bytes::from_static(&[0, 0, 1, 0x41, 0x80]),
            key: false,
        };
        let cfg = ClipStreamerConfig::new(1);
        assert_eq!(
            ClipStreamer::new(VideoCodec::H264, vec![p], cfg.clone()).unwrap_err(),
            ClipError::NoLeadingKeyFrame
        );
        assert_eq!(
            ClipStreamer::new(VideoCodec::H264, vec![], cfg).unwrap_err(),
            ClipError::Empty
        );
    }
}
