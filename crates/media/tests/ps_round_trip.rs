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

#[test]
fn frames_pushed_whole_as_bytes_are_slices_of_them() {
    for codec in [VideoCodec::H264, VideoCodec::H265] {
        let frames = clip(codec);
        let mut d = PsDemuxer::new();
        let mut sliced = 0;
        for ((ts, ps), f) in clip_ps(codec, PsMuxerConfig::new(codec.into()))
            .into_iter()
            .zip(&frames)
        {
            let ps = Bytes::from(ps);
            d.push_bytes(ts, true, &ps);
            let got = drain(&mut d);
            assert_eq!(got.len(), 1);
            assert_eq!(got[0].data, f.data);
            let inside = ps.as_ptr_range().contains(&got[0].data.as_ptr());
            // One PES carries up to 64 KB: smaller frames are not copied.
            assert_eq!(inside, f.data.len() < 65_000, "{} bytes", f.data.len());
            sliced += usize::from(inside);
        }
        assert!(sliced > 40, "{sliced} of 50 frames sliced");
    }
}

#[test]
fn a_raised_queue_limit_keeps_every_frame_of_a_large_push() {
    for limit in [None, Some(1000)] {
        let mut file = Vec::new();
        for (_, ps) in clip_ps(VideoCodec::H264, PsMuxerConfig::new(StreamType::H264)) {
            file.extend_from_slice(&ps);
        }
        let mut d = PsDemuxer::new();
        if let Some(limit) = limit {
            d = d.with_queue_limit(limit);
        }
        // A file has one timestamp; each new PTS ends a frame, the marker the last one.
        for _ in 0..2 {
            d.push_bytes(0, false, &Bytes::from(file.clone()));
        }
        d.push(0, true, &[]);
        let got = drain(&mut d).len() as u64;
        assert_eq!(got + d.stats().overflowed, 100);
        assert_eq!(got, if limit.is_some() { 100 } else { 64 });
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
    fn random_cuts_give_the_same_frames(cuts in proptest::collection::vec((1usize..3000, any::<bool>()), 1..64), h265 in any::<bool>()) {
        let codec = if h265 { VideoCodec::H265 } else { VideoCodec::H264 };
        let stream: Vec<_> = clip_ps(codec, PsMuxerConfig::new(codec.into())).into_iter().take(4).collect();
        let frames = clip(codec);
        let mut d = PsDemuxer::new();
        let mut c = 0;
        for (ts, ps) in &stream {
            let mut rest = &ps[..];
            while !rest.is_empty() {
                let (n, as_bytes) = cuts[c % cuts.len()];
                let n = n.min(rest.len());
                c += 1;
                // Borrowed slices and `Bytes` (zero-copy frames) must give the same result.
                if as_bytes {
                    d.push_bytes(*ts, n == rest.len(), &Bytes::copy_from_slice(&rest[..n]));
                } else {
                    d.push(*ts, n == rest.len(), &rest[..n]);
                }
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
            if i % 3 == 1 {
                d.push_bytes(seed.wrapping_add((i / 3) as u32), i % 2 == 0, &Bytes::from(c));
            } else {
                d.push(seed.wrapping_add((i / 3) as u32), i % 2 == 0, &c);
            }
            if i % 7 == 6 { d.lost(); }
            while d.pull().is_some() {}
        }
    }
}
