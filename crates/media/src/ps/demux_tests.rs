//! PS demuxer tests on hand-built streams (the whole-clip round trips are in tests/).

use super::*;
use crate::ps::{PsMuxer, PsMuxerConfig, encode_timestamp};

const IDR: &[u8] = &[
    0, 0, 0, 1, 0x67, 0x4D, 0x40, 0x1E, 0, 0, 0, 1, 0x68, 0xEE, 0, 0, 1, 0x65, 0x88, 0x84,
];
const P1: &[u8] = &[0, 0, 0, 1, 0x41, 0x9A, 0x02, 0x03];
const P2: &[u8] = &[0, 0, 0, 1, 0x41, 0x9A, 0x04, 0x05, 0x06];

/// Three frames of PS with PTS 3600·(i+1), the first a key frame, PES cut every 7 bytes.
fn three_frames(config: PsMuxerConfig) -> Vec<(u32, Vec<u8>)> {
    let mux = PsMuxer::new(config);
    [IDR, P1, P2]
        .iter()
        .enumerate()
        .map(|(i, au)| {
            let mut ps = Vec::new();
            let ts = 3600 * (i as u64 + 1);
            mux.write_video(&mut ps, au, ts, None, i == 0);
            (ts as u32, ps)
        })
        .collect()
}

fn small_pes() -> PsMuxerConfig {
    let mut c = PsMuxerConfig::new(StreamType::H264);
    c.max_pes_payload = 7;
    c
}

fn drain(d: &mut PsDemuxer) -> Vec<Result<PsFrame, PsError>> {
    std::iter::from_fn(|| d.pull()).collect()
}

fn video(d: &mut PsDemuxer) -> Vec<(i64, Vec<u8>)> {
    drain(d)
        .into_iter()
        .map(|r| r.unwrap())
        .map(|f| (f.pts, f.data.to_vec()))
        .collect()
}

fn expected() -> Vec<(i64, Vec<u8>)> {
    vec![
        (3600, IDR.to_vec()),
        (7200, P1.to_vec()),
        (10800, P2.to_vec()),
    ]
}

#[test]
fn frames_come_out_whole_with_stream_type_and_pts() {
    let mut d = PsDemuxer::new();
    for (ts, ps) in three_frames(small_pes()) {
        d.push(ts, true, &ps);
    }
    let frames: Vec<PsFrame> = drain(&mut d).into_iter().map(Result::unwrap).collect();
    assert_eq!(frames.len(), 3);
    assert_eq!(frames[0].stream_type, Some(StreamType::H264));
    assert_eq!(frames[0].kind, EsKind::Video);
    assert_eq!(frames[0].stream_id, 0xE0);
    assert!(!frames[0].pts_from_rtp);
    assert_eq!(&frames[0].data[..], IDR);
    assert_eq!((frames[2].pts, frames[2].dts), (10800, 10800));
    assert_eq!(d.video_stream_type(), Some(StreamType::H264));
    assert_eq!(d.stats().video_frames, 3);
    assert_eq!(d.stats().garbage_bytes, 0);
}

#[test]
fn same_frames_whatever_the_split_point_in_every_frame() {
    for config in [small_pes(), {
        let mut c = small_pes();
        c.pts_in_every_pes = true;
        c
    }] {
        let stream = three_frames(config);
        let longest = stream.iter().map(|(_, ps)| ps.len()).max().unwrap();
        for k in 0..=longest {
            let mut d = PsDemuxer::new();
            for (ts, ps) in &stream {
                let k = k.min(ps.len());
                d.push(*ts, false, &ps[..k]);
                d.push(*ts, true, &ps[k..]);
            }
            assert_eq!(video(&mut d), expected(), "split at {k}");
        }
    }
}

#[test]
fn one_byte_pushes_without_markers_end_frames_on_timestamp_change() {
    let mut d = PsDemuxer::new();
    for (ts, ps) in three_frames(small_pes()) {
        for b in &ps {
            d.push(ts, false, std::slice::from_ref(b));
        }
    }
    // The last frame ends only when something says so.
    assert_eq!(video(&mut d), expected()[..2].to_vec());
    d.push(14400, false, &[]);
    assert_eq!(video(&mut d), expected()[2..].to_vec());
}

#[test]
fn garbage_before_and_between_frames_is_skipped() {
    let stream = three_frames(small_pes());
    let mut d = PsDemuxer::new();
    let mut first = vec![0x12, 0x00, 0x00, 0x00, 0x01, 0x41, 0xFF, 0x00];
    first.extend_from_slice(&stream[0].1);
    d.push(stream[0].0, true, &first);
    let mut second = stream[1].1.clone();
    second.extend_from_slice(&[0xAB, 0xCD, 0x00, 0x00]);
    d.push(stream[1].0, true, &second);
    d.push(stream[2].0, true, &stream[2].1);
    assert_eq!(video(&mut d), expected());
    assert_eq!(d.stats().garbage_bytes, 8 + 4);
}

#[test]
fn loss_drops_the_partial_frame_and_resumes_at_the_next_frame() {
    let stream = three_frames(small_pes());
    let mut d = PsDemuxer::new();
    d.push(stream[0].0, true, &stream[0].1);
    // Frame 2 loses its first 20 bytes: the rest is a continuation PES without PTS.
    d.lost();
    d.push(stream[1].0, true, &stream[1].1[20..]);
    d.push(stream[2].0, true, &stream[2].1);
    let got = video(&mut d);
    assert_eq!(got, vec![expected()[0].clone(), expected()[2].clone()]);
}

#[test]
fn packets_cut_across_frames_trust_the_pes_length() {
    // A sender that cuts the PS byte stream without regard to frames: the tail of frame 1
    // travels with frame 2's timestamp.
    let stream = three_frames(PsMuxerConfig::new(StreamType::H264));
    let mut d = PsDemuxer::new();
    let cut = stream[0].1.len() - 3;
    d.push(stream[0].0, false, &stream[0].1[..cut]);
    let mut next = stream[0].1[cut..].to_vec();
    next.extend_from_slice(&stream[1].1);
    d.push(stream[1].0, true, &next);
    d.push(stream[2].0, true, &stream[2].1);
    assert_eq!(video(&mut d), expected());
}

/// Hand-built: MPEG-1 pack header, then PES with no PTS: the RTP timestamp is used.
#[test]
fn mpeg1_pack_header_and_pes_without_pts_use_rtp_time() {
    let mut ps = vec![
        0, 0, 1, 0xBA, 0x21, 0x00, 0x01, 0x00, 0x01, 0x80, 0x00, 0x01,
    ];
    ps.extend_from_slice(&[0, 0, 1, 0xE0, 0, 3 + P1.len() as u8, 0x80, 0x00, 0x00]);
    ps.extend_from_slice(P1);
    let mut d = PsDemuxer::new();
    d.push(1000, true, &ps);
    d.push(4600, true, &ps);
    let frames: Vec<PsFrame> = drain(&mut d).into_iter().map(Result::unwrap).collect();
    assert_eq!(frames.len(), 2);
    assert!(frames[0].pts_from_rtp);
    assert_eq!((frames[0].pts, frames[1].pts), (1000, 4600));
    assert_eq!(frames[0].stream_type, None);
    // No program stream map: the codec is guessed from the NAL header.
    assert_eq!(frames[0].video_codec(), Some(crate::VideoCodec::H264));
    assert_eq!(&frames[1].data[..], P1);
}

#[test]
fn pts_without_rtp_time_continues_from_the_last_pts() {
    let mut d = PsDemuxer::new();
    let mut with_pts = vec![0, 0, 1, 0xE0, 0, 8 + P1.len() as u8, 0x84, 0x80, 5];
    with_pts.extend_from_slice(&encode_timestamp(2, 90_000));
    with_pts.extend_from_slice(P1);
    let mut without = vec![0, 0, 1, 0xE0, 0, 3 + P2.len() as u8, 0x80, 0x00, 0x00];
    without.extend_from_slice(P2);
    d.push(500, true, &with_pts);
    d.push(500 + 3600, true, &without);
    let pts: Vec<i64> = video(&mut d).into_iter().map(|(p, _)| p).collect();
    assert_eq!(pts, vec![90_000, 93_600]);
}

#[test]
fn stream_map_audio_and_private_streams() {
    let mut config = PsMuxerConfig::new(StreamType::H265);
    config.audio = Some(StreamType::G711A);
    let mux = PsMuxer::new(config);
    let mut ps = Vec::new();
    mux.write_video(&mut ps, P1, 3600, Some(0), true);
    // A private stream 1 PES and padding between video and audio are skipped.
    ps.extend_from_slice(&[0, 0, 1, 0xBD, 0, 2, 0xAA, 0xBB, 0, 0, 1, 0xBE, 0, 1, 0xFF]);
    mux.write_audio(&mut ps, &[0xD5; 160], 3600);
    let mut d = PsDemuxer::new();
    d.push(3600, true, &ps);
    let frames: Vec<PsFrame> = drain(&mut d).into_iter().map(Result::unwrap).collect();
    assert_eq!(frames.len(), 2);
    let (a, v) = if frames[0].kind == EsKind::Audio {
        (&frames[0], &frames[1])
    } else {
        (&frames[1], &frames[0])
    };
    assert_eq!(v.stream_type, Some(StreamType::H265));
    assert_eq!((v.pts, v.dts), (3600, 0));
    assert_eq!(a.stream_type, Some(StreamType::G711A));
    assert_eq!(a.stream_id, 0xC0);
    assert_eq!(a.data.len(), 160);
    assert_eq!(d.audio_stream_type(), Some(StreamType::G711A));
}

#[test]
fn frames_over_the_size_limit_are_dropped() {
    let mut d = PsDemuxer::new().with_max_frame_size(10);
    let stream = three_frames(small_pes());
    for (ts, ps) in &stream {
        d.push(*ts, true, ps);
    }
    let out = drain(&mut d);
    assert_eq!(
        out[0],
        Err(PsError::FrameTooLarge {
            stream_id: 0xE0,
            max: 10
        })
    );
    // P1 (8 bytes) fits; P2 (9 bytes) fits.
    let ok: Vec<_> = out
        .into_iter()
        .filter_map(Result::ok)
        .map(|f| f.data.to_vec())
        .collect();
    assert_eq!(ok, vec![P1.to_vec(), P2.to_vec()]);
}

#[test]
fn bad_pes_header_is_reported_and_skipped() {
    let stream = three_frames(small_pes());
    let mut bad = vec![0, 0, 1, 0xE0, 0, 0]; // PES_packet_length 0
    bad.extend_from_slice(&stream[1].1);
    let mut d = PsDemuxer::new();
    d.push(stream[0].0, true, &stream[0].1);
    d.push(stream[1].0, true, &bad);
    let out = drain(&mut d);
    assert!(matches!(out[1], Err(PsError::BadHeader { id: 0xE0, .. })));
    assert_eq!(out[2].as_ref().unwrap().data[..], *P1);
}

#[test]
fn frames_not_pulled_beyond_the_queue_limit_are_counted_as_overflowed() {
    // A file pushed in one piece: 100 frames, one timestamp, ended by each new PTS.
    let mux = PsMuxer::new(PsMuxerConfig::new(StreamType::H264));
    let mut ps = Vec::new();
    for i in 0..100u64 {
        mux.write_video(&mut ps, P1, 3600 * (i + 1), None, i == 0);
    }
    let mut d = PsDemuxer::new();
    d.push(0, true, &ps);
    let out = video(&mut d);
    assert_eq!(out.len(), 64, "the newest 64 are kept");
    assert_eq!(out[0].0, 3600 * 37);
    assert_eq!(d.stats().overflowed, 36);
    assert_eq!(d.stats().video_frames, 100);
}
