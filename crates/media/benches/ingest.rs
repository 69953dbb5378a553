//! Ingest cost per RTP packet: PS demux alone, and the whole path (RTP parse → reorder →
//! PS demux → parameter sets/key frame → fMP4 fragment), over the shipped H.264 and H.265
//! clips; the same for raw H.264 (RFC 6184) instead of PS.
//!
//! `cargo bench -p vigil-media --bench ingest -- --warm-up-time 1 --measurement-time 3`

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use std::time::{Duration, Instant};
use vigil_media::VideoCodec;
use vigil_media::clip::{AnnexBReader, ClipStreamer, ClipStreamerConfig, testdata};
use vigil_media::codec::{ParameterSetTracker, nal_units};
use vigil_media::fmp4::{Fragmenter, VideoFrame};
use vigil_media::ps::PsDemuxer;
use vigil_media::rtp::{
    H264Depacketizer, ReorderBuffer, ReorderOutput, RtpHeader, RtpPacket, RtpPacketRef, write_rtp,
};

fn clip_packets(codec: VideoCodec) -> Vec<Bytes> {
    let mut s = ClipStreamer::from_testdata(codec, ClipStreamerConfig::new(1));
    (0..50).flat_map(|_| s.next_frame(|| 0).packets).collect()
}

fn demux_only(packets: &[Bytes]) -> usize {
    let mut demux = PsDemuxer::new();
    let mut bytes = 0;
    for p in packets {
        let p = RtpPacketRef::parse(p).unwrap();
        demux.push(p.header.timestamp, p.header.marker, p.payload);
        while let Some(f) = demux.pull() {
            bytes += f.unwrap().data.len();
        }
    }
    bytes
}

fn all_in(codec: VideoCodec, packets: &[Bytes], t0: Instant) -> usize {
    let mut reorder = ReorderBuffer::new(64, Duration::from_millis(40));
    let mut demux = PsDemuxer::new();
    let mut params = ParameterSetTracker::new(codec);
    let mut fragmenter = Fragmenter::new(Some(25.0));
    let mut out = 0;
    for p in packets {
        reorder.push(t0, RtpPacket::parse(p.clone()).unwrap());
        while let Some(o) = reorder.pull(t0) {
            match o {
                ReorderOutput::Packet(p) => {
                    demux.push(p.header.timestamp, p.header.marker, &p.payload)
                }
                ReorderOutput::Gap { .. } => demux.lost(),
            }
        }
        while let Some(f) = demux.pull() {
            let f = f.unwrap();
            params.observe(&f.data).unwrap();
            let key = codec.is_key_frame(&f.data);
            fragmenter.push(VideoFrame {
                pts: f.pts,
                dts: f.dts,
                key,
                data: f.data,
            });
            while let Some(frag) = fragmenter.pull() {
                out += frag.data.len();
            }
        }
    }
    out
}

/// The H.264 clip as RFC 6184 packets: single NAL units up to 1,400 bytes, FU-A above.
fn rfc6184_packets() -> Vec<Bytes> {
    let clip = AnnexBReader::new(
        VideoCodec::H264,
        Bytes::from_static(testdata::H264_640X360_25FPS),
    );
    let mut out = Vec::new();
    let mut sequence = 0u16;
    for (i, f) in clip.enumerate() {
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
            out.push(Bytes::from(b));
        }
    }
    out
}

fn rfc6184_all_in(packets: &[Bytes]) -> usize {
    let mut depacketizer = H264Depacketizer::new();
    let mut params = ParameterSetTracker::new(VideoCodec::H264);
    let mut fragmenter = Fragmenter::new(Some(25.0));
    let mut out = 0;
    for p in packets {
        let p = RtpPacket::parse(p.clone()).unwrap();
        let h = p.header;
        depacketizer.push(h.sequence, h.timestamp, h.marker, &p.payload);
        while let Some(f) = depacketizer.pull() {
            let f = f.unwrap();
            params.observe(&f.data).unwrap();
            fragmenter.push(VideoFrame {
                pts: f.pts,
                dts: f.pts,
                key: f.key,
                data: f.data,
            });
            while let Some(frag) = fragmenter.pull() {
                out += frag.data.len();
            }
        }
    }
    out
}

fn bench(c: &mut Criterion) {
    let t0 = Instant::now();
    for (name, codec) in [("h264", VideoCodec::H264), ("h265", VideoCodec::H265)] {
        let packets = clip_packets(codec);
        let mut g = c.benchmark_group(format!("ingest_{name}"));
        g.throughput(Throughput::Elements(packets.len() as u64));
        g.bench_function("ps_demux", |b| {
            b.iter(|| black_box(demux_only(black_box(&packets))))
        });
        g.bench_function("rtp_reorder_ps_demux_fmp4", |b| {
            b.iter(|| black_box(all_in(codec, black_box(&packets), t0)))
        });
        if codec == VideoCodec::H264 {
            let packets = rfc6184_packets();
            g.throughput(Throughput::Elements(packets.len() as u64));
            g.bench_function("rfc6184_fmp4", |b| {
                b.iter(|| black_box(rfc6184_all_in(black_box(&packets))))
            });
        }
        g.finish();
    }
    let mut g = c.benchmark_group("simulator");
    g.throughput(Throughput::Elements(50));
    g.bench_function("clip_streamer_frame", |b| {
        let mut s = ClipStreamer::from_testdata(VideoCodec::H264, ClipStreamerConfig::new(1));
        b.iter(|| {
            for _ in 0..50 {
                black_box(s.next_frame(|| 0));
            }
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
