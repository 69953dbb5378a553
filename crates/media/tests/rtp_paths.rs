//! The other ways media arrives: UDP with reordering, duplicates and loss (reorder buffer in
//! front of the PS demuxer), TCP (RFC 4571) and raw H.264 (RFC 6184).

use bytes::Bytes;
use std::time::{Duration, Instant};
use vigil_media::VideoCodec;
use vigil_media::clip::{AnnexBReader, ClipFrame, ClipStreamer, ClipStreamerConfig, testdata};
use vigil_media::codec::nal_units;
use vigil_media::ps::PsDemuxer;
use vigil_media::rtp::{
    H264Depacketizer, ReorderBuffer, ReorderOutput, Rfc4571Deframer, RtpHeader, RtpPacket,
    frame_rfc4571, write_rtp,
};

fn h264_clip() -> Vec<ClipFrame> {
    AnnexBReader::new(
        VideoCodec::H264,
        Bytes::from_static(testdata::H264_640X360_25FPS),
    )
    .collect()
}

fn clip_packets(frames: usize) -> Vec<Bytes> {
    let mut s = ClipStreamer::from_testdata(VideoCodec::H264, ClipStreamerConfig::new(7));
    (0..frames)
        .flat_map(|_| s.next_frame(|| 0).packets)
        .collect()
}

fn demux_through_reorder(packets: &[Bytes], t0: Instant) -> (Vec<Bytes>, ReorderBuffer) {
    let mut reorder = ReorderBuffer::new(64, Duration::from_millis(40));
    let mut demux = PsDemuxer::new();
    let mut got = Vec::new();
    let handle = |o: ReorderOutput, demux: &mut PsDemuxer| match o {
        ReorderOutput::Packet(p) => demux.push(p.header.timestamp, p.header.marker, &p.payload),
        ReorderOutput::Gap { .. } => demux.lost(),
    };
    for (i, p) in packets.iter().enumerate() {
        let now = t0 + Duration::from_micros(500 * i as u64);
        reorder.push(now, RtpPacket::parse(p.clone()).unwrap());
        while let Some(o) = reorder.pull(now) {
            handle(o, &mut demux);
        }
        got.extend(
            std::iter::from_fn(|| demux.pull())
                .filter_map(Result::ok)
                .map(|f| f.data),
        );
    }
    let end = t0 + Duration::from_secs(3600);
    while let Some(o) = reorder.pull(end) {
        handle(o, &mut demux);
    }
    demux.push(u32::MAX, false, &[]); // a new timestamp ends the last frame
    got.extend(
        std::iter::from_fn(|| demux.pull())
            .filter_map(Result::ok)
            .map(|f| f.data),
    );
    (got, reorder)
}

#[test]
fn reordered_and_duplicated_udp_packets_give_the_clip_back() {
    let mut packets = clip_packets(50);
    // Swap neighbours every 5 packets, move every 37th packet 9 places later, duplicate some.
    for i in (0..packets.len() - 1).step_by(5) {
        packets.swap(i, i + 1);
    }
    for i in (0..packets.len() - 10).step_by(37) {
        let p = packets.remove(i);
        packets.insert(i + 9, p);
    }
    for i in (3..packets.len())
        .step_by(50)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
    {
        let dup = packets[i].clone();
        packets.insert(i + 2, dup);
    }
    let (got, reorder) = demux_through_reorder(&packets, Instant::now());
    let clip = h264_clip();
    assert_eq!(got.len(), 50);
    for (g, f) in got.iter().zip(&clip) {
        assert_eq!(g, &f.data);
    }
    let s = reorder.stats();
    assert_eq!(s.lost, 0);
    assert!(s.reordered > 50 && s.duplicates > 5, "{s:?}");
}

#[test]
fn lost_packet_costs_exactly_its_frame() {
    let packets = clip_packets(50);
    // Drop one packet in the middle of frame 30 (a P-frame).
    let frame_30: Vec<usize> = packets
        .iter()
        .enumerate()
        .filter(|(_, p)| RtpPacket::parse((*p).clone()).unwrap().header.timestamp == 30 * 3600)
        .map(|(i, _)| i)
        .collect();
    let victim = frame_30[frame_30.len() / 2];
    let mut lossy = packets.clone();
    lossy.remove(victim);
    let (got, reorder) = demux_through_reorder(&lossy, Instant::now());
    let clip = h264_clip();
    let expected: Vec<&Bytes> = clip
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 30)
        .map(|(_, f)| &f.data)
        .collect();
    assert_eq!(got.iter().collect::<Vec<_>>(), expected);
    assert_eq!(reorder.stats().lost, 1);
}

#[test]
fn rfc4571_tcp_stream_cut_anywhere_gives_the_clip_back() {
    let packets = clip_packets(10);
    let mut stream = Vec::new();
    for p in &packets {
        frame_rfc4571(p, &mut stream).unwrap();
    }
    let clip = h264_clip();
    for read_size in [1, 2, 3, 1399, 1414, 4096, 65_536] {
        let mut deframer = Rfc4571Deframer::new();
        let mut demux = PsDemuxer::new();
        for chunk in stream.chunks(read_size) {
            deframer.push(chunk);
            while let Some(datagram) = deframer.pull() {
                let p = RtpPacket::parse(datagram).unwrap();
                demux.push(p.header.timestamp, p.header.marker, &p.payload);
            }
        }
        let got: Vec<Bytes> = std::iter::from_fn(|| demux.pull())
            .map(|f| f.unwrap().data)
            .collect();
        assert_eq!(got.len(), 10, "read size {read_size}");
        for (g, f) in got.iter().zip(&clip) {
            assert_eq!(g, &f.data, "read size {read_size}");
        }
    }
}

/// Minimal RFC 6184 packetizer for the test: SPS+PPS in a STAP-A, small NALs single, large
/// NALs as FU-A, as devices sending PT 98 do.
fn rfc6184_packets(frames: &[ClipFrame]) -> Vec<Bytes> {
    let mut out = Vec::new();
    let mut seq = 0u16;
    let mut send = |payload: &[u8], ts: u32, marker: bool, out: &mut Vec<Bytes>| {
        let h = RtpHeader {
            marker,
            payload_type: 98,
            sequence: seq,
            timestamp: ts,
            ssrc: 1,
        };
        seq = seq.wrapping_add(1);
        let mut b = Vec::new();
        write_rtp(&mut b, &h, payload);
        out.push(Bytes::from(b));
    };
    for (i, f) in frames.iter().enumerate() {
        let ts = 3600 * i as u32;
        let nals: Vec<&[u8]> = nal_units(&f.data).collect();
        let mut k = 0;
        while k < nals.len() {
            let last = |k: usize| k + 1 == nals.len();
            let nal = nals[k];
            if nal[0] & 0x1F == 7 && k + 1 < nals.len() && nals[k + 1][0] & 0x1F == 8 {
                let mut stap = vec![0x78];
                for n in &nals[k..k + 2] {
                    stap.extend_from_slice(&(n.len() as u16).to_be_bytes());
                    stap.extend_from_slice(n);
                }
                send(&stap, ts, last(k + 1), &mut out);
                k += 2;
                continue;
            }
            if nal.len() <= 1400 {
                send(nal, ts, last(k), &mut out);
            } else {
                let chunks: Vec<&[u8]> = nal[1..].chunks(1398).collect();
                for (j, c) in chunks.iter().enumerate() {
                    let s = if j == 0 { 0x80 } else { 0 };
                    let e = if j + 1 == chunks.len() { 0x40 } else { 0 };
                    let mut fu = vec![(nal[0] & 0xE0) | 28, s | e | (nal[0] & 0x1F)];
                    fu.extend_from_slice(c);
                    send(&fu, ts, last(k) && e != 0, &mut out);
                }
            }
            k += 1;
        }
    }
    out
}

#[test]
fn raw_h264_over_rtp_gives_the_same_access_units_as_ps() {
    let clip = h264_clip();
    let mut d = H264Depacketizer::new();
    let mut got = Vec::new();
    for p in rfc6184_packets(&clip) {
        let p = RtpPacket::parse(p).unwrap();
        d.push(
            p.header.sequence,
            p.header.timestamp,
            p.header.marker,
            &p.payload,
        );
        got.extend(std::iter::from_fn(|| d.pull()).map(|r| r.unwrap()));
    }
    assert_eq!(got.len(), 50);
    for (i, (g, f)) in got.iter().zip(&clip).enumerate() {
        // Same NAL units (start-code lengths may differ from the file).
        let a: Vec<&[u8]> = nal_units(&g.data).collect();
        let b: Vec<&[u8]> = nal_units(&f.data).collect();
        assert_eq!(a, b, "frame {i}");
        assert_eq!(g.key, f.key);
        assert_eq!(g.pts, 3600 * i as i64);
    }
}
