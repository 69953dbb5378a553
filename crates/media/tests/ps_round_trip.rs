//! Round trips of the shipped clips: access units → PS → RTP → PS demuxer → the same access
//! units, however the bytes are cut.

use bytes::Bytes;
use proptest::prelude::*;
use vigil_media::VideoCodec;
use vigil_media::clip::{AnnexBReader, ClipFrame, ClipStreamer, ClipStreamerConfig, testdata};
use vigil_media::ps::{PsDemuxer, PsFrame, PsMuxer, PsMuxerConfig, StreamType};
use vigil_media::rtp::RtpPacketRef;

fn clip(codec: VideoCodec) -> Vec<ClipFrame> {
    let data = match codec {
        VideoCodec::H264 => testdata::H264_640X360_25FPS,
        VideoCodec::H265 => testdata::H265_640X360_25FPS,
    };
    AnnexBReader::new(codec, Bytes::from_static(data)).collect()
}

fn drain(d: &mut PsDemuxer) -> Vec<PsFrame> {
    std::iter::from_fn(|| d.pull())
        .map(|r| r.expect("no demux errors"))
        .collect()
}

#[test]
fn clip_streamer_packets_demux_to_the_clip_access_units() {
    for codec in [VideoCodec::H264, VideoCodec::H265] {
        let frames = clip(codec);
        let mut cfg = ClipStreamerConfig::new(0x0200_0001);
        cfg.first_timestamp = u32::MAX - 90_000; // wraps during the second loop
        let mut streamer = ClipStreamer::from_testdata(codec, cfg);
        let mut demux = PsDemuxer::new();
        let mut got = Vec::new();
        for _ in 0..120 {
            for p in streamer.next_frame(|| 0).packets {
                let p = RtpPacketRef::parse(&p).unwrap();
                demux.push(p.header.timestamp, p.header.marker, p.payload);
            }
            got.extend(drain(&mut demux));
        }
        assert_eq!(got.len(), 120, "{codec:?}");
        for (i, f) in got.iter().enumerate() {
            assert_eq!(f.data, frames[i % 50].data, "{codec:?} frame {i}");
            assert_eq!(f.stream_type, Some(StreamType::from(codec)));
            // PTS continues across the RTP timestamp wrap and the clip loop.
            assert_eq!(f.pts, i64::from(u32::MAX - 90_000) + 3600 * i as i64);
        }
        assert_eq!(demux.stats().garbage_bytes, 0);
    }
}

/// PS of each clip frame with PTS 3600·i.
fn clip_ps(codec: VideoCodec, config: PsMuxerConfig) -> Vec<(u32, Vec<u8>)> {
    let mux = PsMuxer::new(config);
    clip(codec)
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let mut ps = Vec::new();
            mux.write_video(&mut ps, &f.data, 3600 * i as u64, None, f.key);
            (3600 * i as u32, ps)
        })
        .collect()
}

#[test]
fn split_points_across_headers_and_pes_boundaries_give_the_same_frames() {
    // Small PES (like cameras that cut at ~8 KB) put many headers in every frame.
    let mut config = PsMuxerConfig::new(StreamType::H264);
    config.max_pes_payload = 8000;
    let stream: Vec<_> = clip_ps(VideoCodec::H264, config)
        .into_iter()
        .take(3)
        .collect();
    let frames = clip(VideoCodec::H264);
    let key_len = stream[0].1.len();
    // Every offset in the headers of the key frame and around its first PES boundaries,
    // a stride elsewhere (every offset of a 60 KB frame would be 60 K full demuxes).
    let offsets = (0..200)
        .chain(8000..8100)
        .chain(16_000..16_100)
        .chain((0..key_len).step_by(211));
    for k in offsets {
        let mut d = PsDemuxer::new();
        for (ts, ps) in &stream {
            let k = k.min(ps.len());
            d.push(*ts, false, &ps[..k]);
            d.push(*ts, true, &ps[k..]);
        }
        let got = drain(&mut d);
        assert_eq!(got.len(), 3, "split at {k}");
        for (g, f) in got.iter().zip(&frames) {
            assert_eq!(g.data, f.data, "split at {k}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn random_cuts_give_the_same_frames(cuts in proptest::collection::vec(1usize..3000, 1..64), h265 in any::<bool>()) {
        let codec = if h265 { VideoCodec::H265 } else { VideoCodec::H264 };
        let stream: Vec<_> = clip_ps(codec, PsMuxerConfig::new(codec.into())).into_iter().take(4).collect();
        let frames = clip(codec);
        let mut d = PsDemuxer::new();
        let mut c = 0;
        for (ts, ps) in &stream {
            let mut rest = &ps[..];
            while !rest.is_empty() {
                let n = cuts[c % cuts.len()].min(rest.len());
                c += 1;
                d.push(*ts, n == rest.len(), &rest[..n]);
                rest = &rest[n..];
            }
        }
        let got = drain(&mut d);
        prop_assert_eq!(got.len(), 4);
        for (g, f) in got.iter().zip(&frames) {
            prop_assert_eq!(&g.data, &f.data);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..400), 0..20), seed in any::<u32>()) {
        let mut d = PsDemuxer::new().with_max_frame_size(100_000);
        for (i, c) in chunks.iter().enumerate() {
            // Salt the garbage with start codes so headers get parsed.
            let mut c = c.clone();
            if c.len() > 8 { c[..4].copy_from_slice(&[0, 0, 1, [0xBA, 0xBB, 0xBC, 0xE0, 0xC0][(seed as usize + i) % 5]]); }
            d.push(seed.wrapping_add((i / 3) as u32), i % 2 == 0, &c);
            if i % 7 == 6 { d.lost(); }
            while d.pull().is_some() {}
        }
    }
}
