//! Media fragments: `moof` (mfhd, traf with tfhd, tfdt, trun) + `mdat`, samples converted from
//! Annex-B to 4-byte length prefixes. [`Fragmenter`] turns a live frame sequence into one
//! fragment per frame with exact durations.

use super::TRACK_ID;
use super::boxes::{BoxOut, BoxWriter};
use crate::codec::nal_units;
use bytes::{Bytes, BytesMut};
use std::collections::VecDeque;
use std::ops::Range;

/// `sample_depends_on = 2` (an I-picture).
const SYNC_SAMPLE_FLAGS: u32 = 0x0200_0000;
/// `sample_depends_on = 1`, `sample_is_non_sync_sample`.
const NON_SYNC_SAMPLE_FLAGS: u32 = 0x0101_0000;
/// Decode-time steps beyond this (10 s) are taken as a discontinuity, not a long frame.
const MAX_FRAME_DURATION: i64 = 10 * 90_000;

/// One sample of a fragment.
#[derive(Debug, Clone, Copy)]
pub struct FragmentSample<'a> {
    /// Annex-B access unit.
    pub annexb: &'a [u8],
    /// In 90 kHz ticks.
    pub duration: u32,
    /// PTS − DTS in 90 kHz ticks.
    pub composition_offset: i32,
    pub key: bool,
}

/// Appends one `moof` + `mdat` holding `samples` to `out`.
pub fn write_fragment(
    out: &mut Vec<u8>,
    sequence: u32,
    base_decode_time: u64,
    samples: &[FragmentSample<'_>],
) {
    // NAL ranges are found once and reused for sizes and copying.
    let mut nals = Vec::with_capacity(samples.len() * 4);
    let mut sizes = Vec::with_capacity(samples.len());
    for (i, s) in samples.iter().enumerate() {
        sizes.push(nal_ranges(i, s.annexb, &mut nals));
    }
    let with_cto = samples.iter().any(|s| s.composition_offset != 0);
    let mdat: usize = sizes.iter().map(|&s| s as usize).sum();
    out.reserve(fragment_header_size(samples.len(), with_cto) + mdat);
    write_fragment_with(out, sequence, base_decode_time, samples, &sizes, &nals);
}

/// NAL unit `range` of sample `sample`.
type NalRange = (usize, Range<usize>);

/// Appends the ranges of the NAL units of sample `i`, `annexb`, to `nals`; returns the
/// sample's size in length-prefixed form.
fn nal_ranges(i: usize, annexb: &[u8], nals: &mut Vec<NalRange>) -> u32 {
    let base = annexb.as_ptr() as usize;
    let mut size = 0;
    for nal in nal_units(annexb) {
        size += 4 + nal.len();
        let start = nal.as_ptr() as usize - base;
        nals.push((i, start..start + nal.len()));
    }
    size as u32
}

/// Writes the fragment given each sample's size and its NAL ranges (in sample order);
/// returns the offset of the first sample's duration from the start of the fragment.
fn write_fragment_with<O: BoxOut>(
    out: &mut O,
    sequence: u32,
    base_decode_time: u64,
    samples: &[FragmentSample<'_>],
    sizes: &[u32],
    nals: &[NalRange],
) -> usize {
    let with_cto = samples.iter().any(|s| s.composition_offset != 0);
    let mdat_size: usize = 8 + sizes.iter().map(|&s| s as usize).sum::<usize>();
    let start = out.len();
    let mut w = BoxWriter::new(out);
    let moof = w.begin(b"moof");
    let mfhd = w.begin_full(b"mfhd", 0, 0);
    w.u32(sequence);
    w.end(mfhd);
    let traf = w.begin(b"traf");
    let tfhd = w.begin_full(b"tfhd", 0, 0x02_0000); // default-base-is-moof
    w.u32(TRACK_ID);
    w.end(tfhd);
    let tfdt = w.begin_full(b"tfdt", 1, 0);
    w.u64(base_decode_time);
    w.end(tfdt);
    // data_offset, duration, size, flags (+ composition offset, signed in version 1).
    let flags = 0x0001 | 0x0100 | 0x0200 | 0x0400 | if with_cto { 0x0800 } else { 0 };
    let trun = w.begin_full(b"trun", u8::from(with_cto), flags);
    w.u32(samples.len() as u32);
    let data_offset_at = w.out.len();
    w.u32(0);
    let duration_at = w.out.len();
    for (s, size) in samples.iter().zip(sizes) {
        w.u32(s.duration);
        w.u32(*size);
        w.u32(if s.key {
            SYNC_SAMPLE_FLAGS
        } else {
            NON_SYNC_SAMPLE_FLAGS
        });
        if with_cto {
            w.u32(s.composition_offset as u32);
        }
    }
    w.end(trun);
    w.end(traf);
    w.end(moof);
    let data_offset = (w.out.len() - start + 8) as u32;
    w.out[data_offset_at..data_offset_at + 4].copy_from_slice(&data_offset.to_be_bytes());
    w.u32(mdat_size as u32);
    w.bytes(b"mdat");
    for (i, range) in nals {
        let nal = &samples[*i].annexb[range.clone()];
        w.u32(nal.len() as u32);
        w.bytes(nal);
    }
    duration_at - start
}

/// Bytes of `moof` plus the `mdat` header.
fn fragment_header_size(samples: usize, with_cto: bool) -> usize {
    let per_sample = if with_cto { 16 } else { 12 };
    // moof 8, mfhd 16, traf 8, tfhd 16, tfdt 20, trun 20 + samples, mdat 8.
    8 + 16 + 8 + 16 + 20 + 20 + per_sample * samples + 8
}

/// A video frame for the fragmenter; timestamps in 90 kHz (extended, not wrapping).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoFrame {
    pub pts: i64,
    pub dts: i64,
    pub key: bool,
    /// Annex-B access unit.
    pub data: Bytes,
}

/// One `moof`+`mdat` ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fragment {
    pub sequence: u32,
    /// Decode time of the sample on the output timeline (starts at 0), 90 kHz.
    pub decode_time: u64,
    pub duration: u32,
    pub key: bool,
    pub data: Bytes,
}

/// The last frame pushed, already written at the end of the buffer; only its duration is
/// missing.
#[derive(Debug)]
struct Pending {
    dts: i64,
    key: bool,
    /// Offset of the sample duration in the written fragment.
    duration_at: usize,
}

/// Live fragmenter: push frames, pull fragments.
///
/// A frame's duration is the distance to the next frame's DTS, so each fragment is released
/// when the next frame arrives (one frame of latency); [`Fragmenter::flush`] releases the
/// last one with an estimated duration. The output timeline starts at 0 and stays continuous:
/// a DTS that goes back or jumps more than 10 s counts as one estimated frame.
///
/// A pushed frame is written at once and its duration filled in later, so the fragmenter
/// keeps no reference to the frame: a demuxer whose frames are all dropped can reuse its
/// buffer. Fragments are cut from shared buffers (`Bytes` slices), which a consumer that drops
/// them (a file writer) lets the fragmenter reuse as well.
pub struct Fragmenter {
    sequence: u32,
    decode_time: u64,
    pending: Option<Pending>,
    /// Duration used when it cannot be measured: last measured one, else from the fps hint.
    estimate: u32,
    out: VecDeque<Fragment>,
    /// Two buffers taking turns: the pending fragment is written into one while the fragment
    /// released just before may still be in use from the other, so a consumer that is done
    /// with each fragment before the next push lets both be reused without allocating.
    bufs: [BytesMut; 2],
    /// Which of `bufs` holds the pending fragment.
    current: usize,
    /// Scratch: NAL ranges of the frame being written.
    nals: Vec<NalRange>,
}

impl std::fmt::Debug for Fragmenter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fragmenter")
            .field("sequence", &self.sequence)
            .field("decode_time", &self.decode_time)
            .field("pending", &self.pending)
            .field("estimate", &self.estimate)
            .field("queued", &self.out.len())
            .finish_non_exhaustive()
    }
}

impl Fragmenter {
    /// `fps_hint` (from the SPS or the SDP) sets the first duration estimate; 25 fps without.
    pub fn new(fps_hint: Option<f64>) -> Self {
        let estimate = fps_hint
            .filter(|f| f.is_finite() && (1.0..=240.0).contains(f))
            .map_or(3600, |f| (90_000.0 / f).round() as u32);
        Self {
            sequence: 1,
            decode_time: 0,
            pending: None,
            estimate,
            out: VecDeque::new(),
            bufs: [BytesMut::new(), BytesMut::new()],
            current: 0,
            nals: Vec::new(),
        }
    }

    /// Adds the next frame (in decode order).
    pub fn push(&mut self, frame: VideoFrame) {
        if let Some(prev) = &self.pending {
            let delta = frame.dts - prev.dts;
            let duration = if (1..=MAX_FRAME_DURATION).contains(&delta) {
                self.estimate = delta as u32;
                delta as u32
            } else {
                self.estimate
            };
            self.release(duration);
        }
        self.write(&frame);
    }

    /// Releases the held-back frame with an estimated duration (end of stream).
    pub fn flush(&mut self) {
        if self.pending.is_some() {
            self.release(self.estimate);
        }
    }

    pub fn pull(&mut self) -> Option<Fragment> {
        self.out.pop_front()
    }

    /// Writes `frame` as the pending fragment (duration 0 for now) into the other buffer.
    fn write(&mut self, frame: &VideoFrame) {
        let cto = (frame.pts - frame.dts).clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32;
        let sample = FragmentSample {
            annexb: &frame.data,
            duration: 0,
            composition_offset: cto,
            key: frame.key,
        };
        self.nals.clear();
        let size = nal_ranges(0, &frame.data, &mut self.nals);
        self.current ^= 1;
        let buf = &mut self.bufs[self.current];
        // `reserve` reuses the buffer when every fragment cut from it was dropped; otherwise
        // (fragments held in a GOP cache) it allocates exactly this fragment, so a held
        // fragment never pins unused bytes.
        buf.reserve(fragment_header_size(1, cto != 0) + size as usize);
        let duration_at = write_fragment_with(
            buf,
            self.sequence,
            self.decode_time,
            &[sample],
            &[size],
            &self.nals,
        );
        self.pending = Some(Pending {
            dts: frame.dts,
            key: frame.key,
            duration_at,
        });
    }

    /// Fills in the pending fragment's duration and queues it.
    fn release(&mut self, duration: u32) {
        let Some(p) = self.pending.take() else {
            return;
        };
        let buf = &mut self.bufs[self.current];
        buf[p.duration_at..p.duration_at + 4].copy_from_slice(&duration.to_be_bytes());
        self.out.push_back(Fragment {
            sequence: self.sequence,
            decode_time: self.decode_time,
            duration,
            key: p.key,
            data: buf.split().freeze(),
        });
        self.sequence = self.sequence.wrapping_add(1);
        self.decode_time += u64::from(duration);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_sample_fragment_is_byte_exact() {
        let mut out = Vec::new();
        let au = [0, 0, 0, 1, 0x65, 0xAA, 0xBB, 0, 0, 1, 0x06, 0x05];
        let s = FragmentSample {
            annexb: &au,
            duration: 3600,
            composition_offset: 0,
            key: true,
        };
        write_fragment(&mut out, 7, 0x1_0000_0000, &[s]);
        #[rustfmt::skip]
        let expected: &[u8] = &[
            0, 0, 0, 100, b'm', b'o', b'o', b'f',
            0, 0, 0, 16, b'm', b'f', b'h', b'd', 0, 0, 0, 0, 0, 0, 0, 7,
            0, 0, 0, 76, b't', b'r', b'a', b'f',
            0, 0, 0, 16, b't', b'f', b'h', b'd', 0, 2, 0, 0, 0, 0, 0, 1,
            0, 0, 0, 20, b't', b'f', b'd', b't', 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0,
            0, 0, 0, 32, b't', b'r', b'u', b'n', 0, 0, 0x07, 0x01, 0, 0, 0, 1,
            0, 0, 0, 108, // data offset: 100 (moof) + 8 (mdat header)
            0, 0, 0x0E, 0x10, 0, 0, 0, 13, 0x02, 0, 0, 0,
            0, 0, 0, 21, b'm', b'd', b'a', b't',
            0, 0, 0, 3, 0x65, 0xAA, 0xBB, 0, 0, 0, 2, 0x06, 0x05,
        ];
        assert_eq!(out, expected);
    }

    #[test]
    fn composition_offsets_switch_trun_to_version_1() {
        let mut out = Vec::new();
        let au = [0, 0, 1, 0x41, 0x9A];
        let s = FragmentSample {
            annexb: &au,
            duration: 3600,
            composition_offset: -3600,
            key: false,
        };
        write_fragment(&mut out, 1, 0, &[s]);
        let trun = out.windows(4).position(|w| w == b"trun").unwrap();
        assert_eq!(&out[trun + 4..trun + 8], &[1, 0, 0x0F, 0x01]);
        // duration, size, flags, cto
        assert_eq!(
            &out[trun + 16..trun + 32],
            &[
                0, 0, 0x0E, 0x10, 0, 0, 0, 6, 0x01, 0x01, 0, 0, 0xFF, 0xFF, 0xF1, 0xF0
            ]
        );
    }

    fn frame(dts: i64, key: bool) -> VideoFrame {
        VideoFrame {
            pts: dts,
            dts,
            key,
            data: Bytes::from_static(&[0, 0, 1, 0x41, 0x9A]),
        }
    }

    #[test]
    fn durations_come_from_the_next_frame_and_jumps_are_smoothed() {
        let mut f = Fragmenter::new(Some(25.0));
        for dts in [1000, 4600, 8200, 7000, 10_000_000, 10_003_000] {
            f.push(frame(dts, dts == 1000));
        }
        f.flush();
        let got: Vec<(u32, u64, u32, bool)> = std::iter::from_fn(|| f.pull())
            .map(|g| (g.sequence, g.decode_time, g.duration, g.key))
            .collect();
        assert_eq!(
            got,
            vec![
                (1, 0, 3600, true),
                (2, 3600, 3600, false),
                (3, 7200, 3600, false),   // next DTS went back: estimate
                (4, 10_800, 3600, false), // jump of minutes: estimate
                (5, 14_400, 3000, false),
                (6, 17_400, 3000, false), // last: latest measured duration
            ]
        );
    }

    #[test]
    fn fragments_are_write_fragment_with_the_measured_duration() {
        let mut f = Fragmenter::new(None);
        let aus: [&[u8]; 3] = [
            &[0, 0, 0, 1, 0x67, 0x4D, 0, 0, 1, 0x65, 0x88, 0x84],
            &[0, 0, 1, 0x41, 0x9A, 0, 0, 0, 1, 0x41, 0x00, 0x01, 0],
            &[0, 0, 0, 1, 0x01, 0x9E],
        ];
        // DTS 0, 3000, 6600; PTS ahead of DTS on the second (composition offset).
        let times = [(0, 0), (6000, 3000), (6600, 6600)];
        for (au, (pts, dts)) in aus.iter().zip(times) {
            f.push(VideoFrame {
                pts,
                dts,
                key: dts == 0,
                data: Bytes::copy_from_slice(au),
            });
        }
        f.flush();
        let got: Vec<Fragment> = std::iter::from_fn(|| f.pull()).collect();
        let mut decode_time = 0;
        for (i, (g, au)) in got.iter().zip(aus).enumerate() {
            let duration = [3000, 3600, 3600][i];
            let mut expected = Vec::new();
            let sample = FragmentSample {
                annexb: au,
                duration,
                composition_offset: (times[i].0 - times[i].1) as i32,
                key: i == 0,
            };
            write_fragment(&mut expected, i as u32 + 1, decode_time, &[sample]);
            assert_eq!(g.data, expected, "fragment {i}");
            assert_eq!(
                (g.sequence, g.decode_time, g.duration),
                (i as u32 + 1, decode_time, duration)
            );
            decode_time += u64::from(duration);
        }
    }

    #[test]
    fn a_pushed_frame_is_not_kept() {
        // The demuxer reuses its frame buffer only if nothing holds the last frame.
        let mut f = Fragmenter::new(None);
        let data = Bytes::from(vec![0, 0, 1, 0x65, 0x88]);
        f.push(VideoFrame {
            pts: 0,
            dts: 0,
            key: true,
            data: data.clone(),
        });
        assert!(data.is_unique());
    }

    #[test]
    fn nothing_comes_out_until_the_next_frame_or_flush() {
        let mut f = Fragmenter::new(None);
        f.push(frame(0, true));
        assert!(f.pull().is_none());
        f.flush();
        assert_eq!(f.pull().unwrap().duration, 3600);
    }
}
