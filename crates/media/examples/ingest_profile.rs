//! The server's per-stream ingest path (RTP parse → reorder → PS demux or RFC 6184 → parameter
//! sets and key frames → fragmenter → a GOP cache) over the shipped H.264 clip, a fixed number
//! of times, for profilers: instruction counts under callgrind are stable where timings on a
//! shared machine are not.
//!
//! ```text
//! cargo build --release -p vigil-media --example ingest_profile
//! valgrind --tool=callgrind --toggle-collect='ingest_profile::run*' \
//!     target/release/examples/ingest_profile ps 20
//! ```
//!
//! Inputs: `ps` (the simulator's PS: one PES per frame up to 64 KB), `ps-small-pes` (a PES
//! every 1,400 bytes, as some cameras cut them), `rfc6184` (raw H.264, FU-A).

use bytes::{Bytes, BytesMut};
use std::time::{Duration, Instant};
use vigil_media::VideoCodec;
use vigil_media::clip::{AnnexBReader, ClipFrame, testdata};
use vigil_media::codec::{ParameterSetTracker, nal_units};
use vigil_media::fmp4::{Fragment, Fragmenter, VideoFrame};
use vigil_media::ps::{PTS_MASK, PsDemuxer, PsMuxer, PsMuxerConfig, PsRtpPacketizer};
use vigil_media::rtp::{
    H264Depacketizer, ReorderBuffer, ReorderOutput, RtpHeader, RtpPacket, write_rtp,
};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let input = args.first().map_or("ps", String::as_str);
    let loops: usize = args.get(1).map_or(Ok(10), |s| s.parse())?;
    let clip: Vec<ClipFrame> = AnnexBReader::new(
        VideoCodec::H264,
        Bytes::from_static(testdata::H264_640X360_25FPS),
    )
    .collect();
    let frames = clip.len() * loops;
    let datagrams = match input {
        "ps" => ps_datagrams(&clip, frames, u16::MAX.into()),
        "ps-small-pes" => ps_datagrams(&clip, frames, 1400),
        "rfc6184" => rfc6184_datagrams(&clip, frames),
        other => return Err(format!("unknown input {other}: ps | ps-small-pes | rfc6184").into()),
    };
    let packets = as_one_buffer(&datagrams);
    let (out_frames, bytes) = run(&packets);
    println!(
        "{input}: {} packets, {out_frames} frames, {bytes} fragment bytes",
        packets.len()
    );
    Ok(())
}

/// Datagrams as slices of one buffer, as the server's receive loop hands them on.
fn as_one_buffer(datagrams: &[Vec<u8>]) -> Vec<Bytes> {
    let mut chunk = BytesMut::new();
    for d in datagrams {
        chunk.extend_from_slice(d);
    }
    let chunk = chunk.freeze();
    let mut at = 0;
    datagrams
        .iter()
        .map(|d| {
            at += d.len();
            chunk.slice(at - d.len()..at)
        })
        .collect()
}

fn ps_datagrams(clip: &[ClipFrame], frames: usize, max_pes_payload: usize) -> Vec<Vec<u8>> {
    let mut config = PsMuxerConfig::new(VideoCodec::H264.into());
    config.max_pes_payload = max_pes_payload;
    let muxer = PsMuxer::new(config);
    let mut packetizer = PsRtpPacketizer::new(1, 0).with_max_payload(1400);
    let mut packets = Vec::new();
    let mut ps = Vec::new();
    for i in 0..frames {
        let f = &clip[i % clip.len()];
        let ts = (i as u64 * 3600) & PTS_MASK;
        ps.clear();
        muxer.write_video(&mut ps, &f.data, ts, None, f.key);
        packetizer.packetize(&ps, ts as u32, &mut packets);
    }
    packets.iter().map(|p| p.to_vec()).collect()
}

fn rfc6184_datagrams(clip: &[ClipFrame], frames: usize) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut sequence = 0u16;
    for i in 0..frames {
        let f = &clip[i % clip.len()];
        let mut payloads: Vec<Vec<u8>> = Vec::new();
        for nal in nal_units(&f.data) {
            if nal.len() <= 1400 {
                payloads.push(nal.to_vec());
                continue;
            }
            let chunks: Vec<&[u8]> = nal[1..].chunks(1398).collect();
            for (j, c) in chunks.iter().enumerate() {
                let start = if j == 0 { 0x80 } else { 0 };
                let end = if j + 1 == chunks.len() { 0x40 } else { 0 };
                let mut fu = vec![(nal[0] & 0xE0) | 28, start | end | (nal[0] & 0x1F)];
                fu.extend_from_slice(c);
                payloads.push(fu);
            }
        }
        let n = payloads.len();
        for (k, p) in payloads.iter().enumerate() {
            let header = RtpHeader {
                marker: k + 1 == n,
                payload_type: 98,
                sequence,
                timestamp: 3600 * i as u32,
                ssrc: 1,
            };
            sequence = sequence.wrapping_add(1);
            let mut b = Vec::new();
            write_rtp(&mut b, &header, p);
            out.push(b);
        }
    }
    out
}

/// The measured part. Returns (frames, fragment bytes).
#[inline(never)]
fn run(packets: &[Bytes]) -> (u64, usize) {
    let t0 = Instant::now();
    let mut reorder = ReorderBuffer::new(128, Duration::from_millis(50));
    let mut ps = PsDemuxer::new();
    let mut h264 = H264Depacketizer::new();
    let mut params = ParameterSetTracker::new(VideoCodec::H264);
    let mut fragmenter = Fragmenter::new(Some(25.0));
    let mut gop: Vec<Fragment> = Vec::new();
    let (mut frames, mut bytes) = (0, 0);
    let mut frame = |pts: i64, dts: i64, data: Bytes| {
        frames += 1;
        params
            .observe(&data)
            .expect("the clip's parameter sets parse");
        let key = VideoCodec::H264.is_key_frame(&data);
        fragmenter.push(VideoFrame {
            pts,
            dts,
            key,
            data,
        });
        while let Some(f) = fragmenter.pull() {
            bytes += f.data.len();
            if f.key {
                gop.clear();
            }
            gop.push(f);
        }
    };
    for p in packets {
        let Ok(p) = RtpPacket::parse(p.clone()) else {
            continue;
        };
        reorder.push(t0, p);
        while let Some(o) = reorder.pull(t0) {
            let ReorderOutput::Packet(p) = o else {
                continue;
            };
            let h = p.header;
            if h.payload_type == 98 {
                h264.push(h.sequence, h.timestamp, h.marker, &p.payload);
                while let Some(f) = h264.pull() {
                    if let Ok(f) = f {
                        frame(f.pts, f.pts, f.data);
                    }
                }
            } else {
                ps.push(h.timestamp, h.marker, &p.payload);
                while let Some(f) = ps.pull() {
                    if let Ok(f) = f {
                        frame(f.pts, f.dts, f.data);
                    }
                }
            }
        }
    }
    (frames, bytes)
}
