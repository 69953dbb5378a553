//! Heap allocations on the ingest path, counted per thread by a wrapping global allocator:
//! the server runs this path for every RTP packet of every stream, so what it allocates per
//! packet and per frame is pinned here (a regression shows up as a failing bound).
//!
//! Datagrams are slices of one shared buffer, as the server's receive loop hands them on, so
//! parsing them allocates nothing by itself.

use bytes::{Bytes, BytesMut};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::{Duration, Instant};
use vigil_media::VideoCodec;
use vigil_media::clip::{AnnexBReader, ClipStreamer, ClipStreamerConfig, testdata};
use vigil_media::codec::{ParameterSetTracker, nal_units};
use vigil_media::fmp4::{Fragmenter, VideoFrame};
use vigil_media::ps::PsDemuxer;
use vigil_media::rtp::{
    H264Depacketizer, ReorderBuffer, ReorderOutput, RtpHeader, RtpPacket, write_rtp,
};

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
    static ALLOCATED_BYTES: Cell<u64> = const { Cell::new(0) };
}

fn count(size: usize) {
    // `try_with`: the thread-local may already be gone while a thread exits.
    let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
    let _ = ALLOCATED_BYTES.try_with(|c| c.set(c.get() + size as u64));
}

// SAFETY: forwards every call to the system allocator unchanged; counting touches only
// const-initialized thread-locals, which never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(new_size);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations (calls, bytes) made by `f` on this thread.
fn allocations<T>(f: impl FnOnce() -> T) -> (T, u64, u64) {
    let (calls, bytes) = (ALLOCATIONS.get(), ALLOCATED_BYTES.get());
    let out = f();
    (
        out,
        ALLOCATIONS.get() - calls,
        ALLOCATED_BYTES.get() - bytes,
    )
}

/// Datagrams as slices of one buffer, like the server's receive chunks.
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

/// The shipped clip as PS over RTP, `loops` times round (50 frames each).
fn ps_packets(codec: VideoCodec, loops: usize) -> Vec<Bytes> {
    let mut s = ClipStreamer::from_testdata(codec, ClipStreamerConfig::new(1));
    let datagrams: Vec<Vec<u8>> = (0..50 * loops)
        .flat_map(|_| s.next_frame(|| 0).packets)
        .map(|p| p.to_vec())
        .collect();
    as_one_buffer(&datagrams)
}

/// What the fragments' consumer does with them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Consumer {
    /// Writes each one out and drops it (a file remux).
    Drops,
    /// Keeps the current GOP's fragments, as the server's hub does for joining viewers.
    KeepsGop,
}

/// What the server's pipeline does per stream: reorder → demux or depacketizer → parameter
/// sets and key frames → fragmenter → `consumer`. Returns the number of frames.
fn ingest(codec: VideoCodec, packets: &[Bytes], consumer: Consumer) -> u64 {
    let t0 = Instant::now();
    let mut reorder = ReorderBuffer::new(128, Duration::from_millis(50));
    let mut ps = PsDemuxer::new();
    let mut h264 = H264Depacketizer::new();
    let mut params = ParameterSetTracker::new(codec);
    let mut fragmenter = Fragmenter::new(Some(25.0));
    let mut frames = 0;
    let mut gop = Vec::new();
    let mut frame = |pts: i64, dts: i64, data: Bytes| {
        frames += 1;
        params.observe(&data).unwrap();
        let key = codec.is_key_frame(&data);
        fragmenter.push(VideoFrame {
            pts,
            dts,
            key,
            data,
        });
        while let Some(frag) = fragmenter.pull() {
            assert!(frag.data.len() > 100);
            if consumer == Consumer::KeepsGop {
                if frag.key {
                    gop.clear();
                }
                gop.push(frag);
            }
        }
    };
    for p in packets {
        reorder.push(t0, RtpPacket::parse(p.clone()).unwrap());
        while let Some(o) = reorder.pull(t0) {
            let ReorderOutput::Packet(p) = o else {
                panic!("no loss here");
            };
            let h = p.header;
            if h.payload_type == 98 {
                h264.push(h.sequence, h.timestamp, h.marker, &p.payload);
                while let Some(f) = h264.pull() {
                    let f = f.unwrap();
                    frame(f.pts, f.pts, f.data);
                }
            } else {
                ps.push(h.timestamp, h.marker, &p.payload);
                while let Some(f) = ps.pull() {
                    let f = f.unwrap();
                    frame(f.pts, f.dts, f.data);
                }
            }
        }
    }
    frames
}

struct Figures {
    packets: u64,
    frames: u64,
    calls: u64,
    bytes: u64,
    payload: u64,
}

impl Figures {
    /// Steady state: one pipeline runs the first `warm` packets, another all of them, and
    /// the difference is what the packets after `warm` cost (set-up and warm-up excluded).
    fn measure(codec: VideoCodec, packets: &[Bytes], warm: usize, consumer: Consumer) -> Figures {
        let (frames_warm, calls_warm, bytes_warm) =
            allocations(|| ingest(codec, &packets[..warm], consumer));
        let (frames_all, calls_all, bytes_all) = allocations(|| ingest(codec, packets, consumer));
        Figures {
            packets: (packets.len() - warm) as u64,
            frames: frames_all - frames_warm,
            calls: calls_all - calls_warm,
            bytes: bytes_all - bytes_warm,
            payload: packets[warm..].iter().map(|p| p.len() as u64 - 12).sum(),
        }
    }

    /// What the path may cost: with a consumer that drops fragments, no allocation per frame
    /// (the demuxer's and the fragmenter's buffers are reused); with one that keeps them, the
    /// fragment itself and its shared handle, sized exactly.
    fn check(&self, consumer: Consumer) {
        let per_frame = self.calls as f64 / self.frames as f64;
        let per_byte = self.bytes as f64 / self.payload as f64;
        match consumer {
            Consumer::Drops => assert!(per_frame <= 0.1, "{per_frame} allocations per frame"),
            Consumer::KeepsGop => {
                assert!(per_frame <= 2.1, "{per_frame} allocations per frame");
                assert!(
                    per_byte <= 1.1,
                    "{per_byte} bytes allocated per payload byte"
                );
            }
        }
    }

    fn print(&self, what: &str) {
        eprintln!(
            "{what}: {} packets, {} frames: {} allocations ({:.2} per frame, {:.3} per packet), \
             {:.2} bytes allocated per payload byte",
            self.packets,
            self.frames,
            self.calls,
            self.calls as f64 / self.frames as f64,
            self.calls as f64 / self.packets as f64,
            self.bytes as f64 / self.payload as f64,
        );
    }
}

#[test]
fn ps_ingest_allocations_per_frame() {
    for codec in [VideoCodec::H264, VideoCodec::H265] {
        let one = ps_packets(codec, 1).len();
        let packets = ps_packets(codec, 3);
        for consumer in [Consumer::Drops, Consumer::KeepsGop] {
            let f = Figures::measure(codec, &packets, one, consumer);
            f.print(&format!("PS {codec:?}, consumer {consumer:?}"));
            assert_eq!(f.frames, 100);
            f.check(consumer);
        }
    }
}

/// The clip as RFC 6184 packets (STAP-A for SPS+PPS, FU-A above 1,400 bytes).
fn rfc6184_packets(loops: usize) -> Vec<Bytes> {
    let clip: Vec<_> = AnnexBReader::new(
        VideoCodec::H264,
        Bytes::from_static(testdata::H264_640X360_25FPS),
    )
    .collect();
    let mut out = Vec::new();
    let mut seq = 0u16;
    for i in 0..50 * loops {
        let f = &clip[i % clip.len()];
        let ts = 3600 * i as u32;
        let nals: Vec<&[u8]> = nal_units(&f.data).collect();
        let mut payloads: Vec<Vec<u8>> = Vec::new();
        for nal in &nals {
            if nal.len() <= 1400 {
                payloads.push(nal.to_vec());
            } else {
                let chunks: Vec<&[u8]> = nal[1..].chunks(1398).collect();
                for (j, c) in chunks.iter().enumerate() {
                    let s = if j == 0 { 0x80 } else { 0 };
                    let e = if j + 1 == chunks.len() { 0x40 } else { 0 };
                    let mut fu = vec![(nal[0] & 0xE0) | 28, s | e | (nal[0] & 0x1F)];
                    fu.extend_from_slice(c);
                    payloads.push(fu);
                }
            }
        }
        let n = payloads.len();
        for (k, p) in payloads.into_iter().enumerate() {
            let h = RtpHeader {
                marker: k + 1 == n,
                payload_type: 98,
                sequence: seq,
                timestamp: ts,
                ssrc: 1,
            };
            seq = seq.wrapping_add(1);
            let mut b = Vec::new();
            write_rtp(&mut b, &h, &p);
            out.push(b);
        }
    }
    as_one_buffer(&out)
}

#[test]
fn rfc6184_ingest_allocations_per_frame() {
    let one = rfc6184_packets(1).len();
    let packets = rfc6184_packets(3);
    for consumer in [Consumer::Drops, Consumer::KeepsGop] {
        let f = Figures::measure(VideoCodec::H264, &packets, one, consumer);
        f.print(&format!("RFC 6184 H.264, consumer {consumer:?}"));
        assert_eq!(f.frames, 100);
        f.check(consumer);
    }
}
