//! Program-stream demuxer: push the payloads of RTP packets, pull elementary-stream frames.
//!
//! Shaped like retina's depacketizers. Headers may be split anywhere across pushes; PES
//! payload bytes are copied once, straight from the pushed slice into the frame being built.
//! A frame whose payload arrives in one piece of a [`PsDemuxer::push_bytes`] buffer is not
//! copied at all: it is a slice of that buffer.
//! Frame boundaries come from the PES PTS (a PES with a new PTS starts a frame, one without
//! PTS continues the current one), the RTP marker bit and RTP timestamp changes. PES lengths
//! are trusted over RTP boundaries; losses must be reported with [`PsDemuxer::lost`] (the
//! reorder buffer's gaps).

use super::{
    AUDIO_STREAM_ID, PACK_HEADER, PROGRAM_STREAM_MAP, PTS_MASK, SYSTEM_HEADER, StreamType,
    VIDEO_STREAM_ID, decode_timestamp,
};
use crate::codec::find_start_code;
use crate::ts::TimestampUnwrapper;
use bytes::{Bytes, BytesMut};
use std::collections::VecDeque;

/// Largest frame accepted by default; anything bigger is a broken or hostile stream.
pub const DEFAULT_MAX_FRAME_SIZE: usize = 4 << 20;
/// Frames and errors waiting in `pull` beyond this are dropped oldest first (by default).
const MAX_QUEUED: usize = 64;

/// Video or audio.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EsKind {
    Video,
    Audio,
}

/// One elementary-stream frame: a video access unit (Annex-B for H.264/H.265) or an audio
/// frame, with timestamps in 90 kHz units extended past the 33-bit wrap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PsFrame {
    pub kind: EsKind,
    /// PES stream id (0xE0.., 0xC0..).
    pub stream_id: u8,
    /// Stream type from the program stream map, `None` until a map is seen.
    pub stream_type: Option<StreamType>,
    pub pts: i64,
    pub dts: i64,
    /// True when the PES carried no PTS and `pts` was derived from the RTP timestamp.
    pub pts_from_rtp: bool,
    /// RTP timestamp of the packet that started the frame.
    pub rtp_timestamp: u32,
    pub data: Bytes,
}

impl PsFrame {
    /// The video codec: from the program stream map, else guessed from the NAL headers.
    pub fn video_codec(&self) -> Option<crate::VideoCodec> {
        if self.kind != EsKind::Video {
            return None;
        }
        match self.stream_type {
            Some(t) => t.video_codec(),
            None => crate::VideoCodec::sniff(&self.data),
        }
    }
}

/// A frame lost or a header rejected; the demuxer has already resynchronized.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PsError {
    #[error("frame of stream 0x{stream_id:02X} exceeds {max} bytes; dropped")]
    FrameTooLarge { stream_id: u8, max: usize },
    #[error("bad header after start code 00 00 01 {id:02X}: {reason}")]
    BadHeader { id: u8, reason: &'static str },
}

/// Counters for metrics and debugging.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PsStats {
    pub video_frames: u64,
    pub audio_frames: u64,
    /// Bytes skipped while looking for a start code.
    pub garbage_bytes: u64,
    pub dropped_frames: u64,
    pub bad_headers: u64,
    pub pack_headers: u64,
    pub stream_maps: u64,
    /// Frames or errors dropped because more than 64 waited in `pull` (the caller pushed
    /// too much at once without pulling).
    pub overflowed: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Video,
    Audio,
    Skip,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Expecting a start code at the current position.
    Header,
    /// Lost: searching for the next start code.
    Sync,
    /// Inside a PES (or skipped packet) payload.
    Payload { target: Target, remaining: usize },
}

/// What a complete header at the current position is.
enum Unit {
    Skip {
        header: usize,
        payload: usize,
    },
    Pack {
        len: usize,
    },
    Map {
        len: usize,
    },
    Pes {
        header: usize,
        payload: usize,
        pts: Option<u64>,
        dts: Option<u64>,
    },
}

type HeaderResult = Result<Option<Unit>, &'static str>;

fn be16(b: &[u8], at: usize) -> Option<usize> {
    Some(usize::from(u16::from_be_bytes([
        *b.get(at)?,
        *b.get(at + 1)?,
    ])))
}

fn ts_at(b: &[u8], at: usize) -> Option<u64> {
    let raw: &[u8; 5] = b.get(at..at + 5)?.try_into().ok()?;
    Some(decode_timestamp(raw))
}

/// Parses the unit starting at `b` (which begins `00 00 01 id`); `Ok(None)` means more bytes
/// are needed.
fn parse_unit(b: &[u8]) -> HeaderResult {
    let Some(&id) = b.get(3) else { return Ok(None) };
    match id {
        PACK_HEADER => {
            let Some(&first) = b.get(4) else {
                return Ok(None);
            };
            if first >> 6 == 0b01 {
                // MPEG-2: 14 bytes plus pack_stuffing_length.
                let Some(&stuffing) = b.get(13) else {
                    return Ok(None);
                };
                Ok(Some(Unit::Pack {
                    len: 14 + usize::from(stuffing & 7),
                }))
            } else if first >> 4 == 0b0010 {
                Ok(Some(Unit::Pack { len: 12 })) // MPEG-1
            } else {
                Err("neither MPEG-1 nor MPEG-2 pack header")
            }
        }
        0xB9 => Ok(Some(Unit::Skip {
            header: 4,
            payload: 0,
        })), // MPEG program end code
        SYSTEM_HEADER | PROGRAM_STREAM_MAP | 0xBD..=0xBF | 0xF0..=0xFF => {
            let Some(len) = be16(b, 4) else {
                return Ok(None);
            };
            if id == PROGRAM_STREAM_MAP {
                // Bounded by the 16-bit length; wait until all of it is here.
                Ok((b.len() >= 6 + len).then_some(Unit::Map { len: 6 + len }))
            } else {
                Ok(Some(Unit::Skip {
                    header: 6,
                    payload: len,
                }))
            }
        }
        0xC0..=0xEF => parse_pes_header(b),
        _ => Err("not a program stream start code"),
    }
}

fn parse_pes_header(b: &[u8]) -> HeaderResult {
    let Some(len) = be16(b, 4) else {
        return Ok(None);
    };
    if len == 0 {
        return Err("PES_packet_length 0 (unbounded PES) is not supported in PS");
    }
    let Some(&flags0) = b.get(6) else {
        return Ok(None);
    };
    let total = 6 + len;
    let (header, pts, dts) = if flags0 >> 6 == 0b10 {
        // MPEG-2 PES header.
        let (Some(&flags1), Some(&hdl)) = (b.get(7), b.get(8)) else {
            return Ok(None);
        };
        let header = 9 + usize::from(hdl);
        if b.len() < header {
            return Ok(None);
        }
        let (pts, dts) = match flags1 >> 6 {
            0b10 if hdl >= 5 => (ts_at(b, 9), None),
            0b11 if hdl >= 10 => (ts_at(b, 9), ts_at(b, 14)),
            0b00 => (None, None),
            _ => return Err("PTS_DTS_flags do not fit PES_header_data_length"),
        };
        (header, pts, dts)
    } else {
        // MPEG-1 PES header: stuffing, optional STD buffer, then timestamps.
        let mut pos = 6;
        while b.get(pos) == Some(&0xFF) {
            pos += 1;
            if pos > 6 + 16 {
                return Err("more than 16 MPEG-1 stuffing bytes");
            }
        }
        let Some(&c) = b.get(pos) else {
            return Ok(None);
        };
        if c >> 6 == 0b01 {
            pos += 2;
        }
        let Some(&c) = b.get(pos) else {
            return Ok(None);
        };
        let need = match c >> 4 {
            0b0010 => 5,
            0b0011 => 10,
            _ if c == 0x0F => 1,
            _ => return Err("bad MPEG-1 PES header"),
        };
        if b.len() < pos + need {
            return Ok(None);
        }
        let (pts, dts) = match need {
            5 => (ts_at(b, pos), None),
            10 => (ts_at(b, pos), ts_at(b, pos + 5)),
            _ => (None, None),
        };
        (pos + need, pts, dts)
    };
    if header > total {
        return Err("PES header longer than the packet");
    }
    Ok(Some(Unit::Pes {
        header,
        payload: total - header,
        pts,
        dts,
    }))
}

/// A frame being assembled.
#[derive(Debug)]
struct Assembly {
    /// Frames are split off the front; once the consumer has dropped them all, the same
    /// allocation is reused (`BytesMut` reclaims it), so a steady stream allocates nothing.
    data: BytesMut,
    /// The frame so far when it is one slice of a pushed `Bytes` (then `data` is empty).
    shared: Option<Bytes>,
    /// Size of the last frame: room reclaimed at the start of a frame so that its later PES
    /// packets do not have to move the bytes already there.
    last_size: usize,
    active: bool,
    stream_id: u8,
    pts_raw: Option<u64>,
    dts_raw: Option<u64>,
    rtp_timestamp: u32,
}

impl Assembly {
    fn new() -> Self {
        Self {
            data: BytesMut::new(),
            shared: None,
            last_size: 0,
            active: false,
            stream_id: 0,
            pts_raw: None,
            dts_raw: None,
            rtp_timestamp: 0,
        }
    }

    fn discard(&mut self) {
        self.data.clear();
        self.shared = None;
        self.active = false;
    }

    fn len(&self) -> usize {
        self.data.len() + self.shared.as_ref().map_or(0, Bytes::len)
    }

    /// Adds payload bytes found at `at` in the pushed input, which is `source` if the caller
    /// pushed `Bytes`.
    #[inline(always)]
    fn append(&mut self, chunk: &[u8], source: Option<&Bytes>, at: usize) {
        if self.data.is_empty() && (source.is_some() || self.shared.is_some()) {
            self.append_first(chunk, source, at);
        } else {
            self.data.extend_from_slice(chunk);
        }
    }

    /// The first piece of a frame pushed as `Bytes` is kept as a slice of it; a second piece
    /// makes the frame a copy after all.
    fn append_first(&mut self, chunk: &[u8], source: Option<&Bytes>, at: usize) {
        if let Some(first) = self.shared.take() {
            self.data.reserve(first.len() + chunk.len());
            self.data.extend_from_slice(&first);
        } else if let Some(b) = source {
            self.shared = Some(b.slice(at..at + chunk.len()));
            return;
        }
        self.data.extend_from_slice(chunk);
    }

    /// The frame's bytes; the assembly is empty afterwards.
    fn take(&mut self) -> Bytes {
        match self.shared.take() {
            Some(s) => s,
            None => self.data.split().freeze(),
        }
    }

    /// Starts a frame whose first PES carries `payload` bytes.
    fn begin(&mut self, payload: usize) {
        self.data.clear();
        self.shared = None;
        let want = payload.max(self.last_size);
        if self.data.capacity() < want {
            // Back to the start of the buffer if nothing else uses it; never allocates (if
            // it fails, `reserve` allocates as before).
            let _ = self.data.try_reclaim(want);
        }
    }
}

/// Per-stream timestamp state: 33-bit unwrap and the PTS↔RTP mapping for PES without PTS.
#[derive(Debug)]
struct Clock {
    unwrap: TimestampUnwrapper,
    last: Option<(u32, i64)>,
}

impl Clock {
    fn new() -> Self {
        Self {
            unwrap: TimestampUnwrapper::new(33),
            last: None,
        }
    }

    fn stamp(&mut self, a: &Assembly) -> (i64, i64, bool) {
        let (pts, dts, from_rtp) = match a.pts_raw {
            Some(raw) => {
                let pts = self.unwrap.unwrap(raw);
                let dts = match a.dts_raw {
                    Some(d) => {
                        let mut delta = (d as i64 - raw as i64).rem_euclid(1 << 33);
                        if delta >= 1 << 32 {
                            delta -= 1 << 33;
                        }
                        pts + delta
                    }
                    None => pts,
                };
                (pts, dts, false)
            }
            None => {
                let pts = match self.last {
                    Some((rtp, pts)) => pts + i64::from(a.rtp_timestamp.wrapping_sub(rtp) as i32),
                    None => i64::from(a.rtp_timestamp),
                };
                (pts, pts, true)
            }
        };
        self.last = Some((a.rtp_timestamp, pts));
        (pts, dts, from_rtp)
    }
}

/// MPEG-PS demuxer. Call [`PsDemuxer::push`] for each RTP payload in sequence order (and
/// [`PsDemuxer::lost`] where packets are missing), then drain [`PsDemuxer::pull`].
#[derive(Debug)]
pub struct PsDemuxer {
    state: State,
    /// Unparsed bytes kept across pushes (an incomplete header); empty most of the time.
    pending: BytesMut,
    stream_types: Vec<(u8, StreamType)>,
    video_id: Option<u8>,
    audio_id: Option<u8>,
    video: Assembly,
    audio: Assembly,
    video_clock: Clock,
    audio_clock: Clock,
    /// After a loss, video payload is dropped until a PES with a PTS starts a clean frame.
    video_broken: bool,
    end_of_frame: bool,
    rtp_timestamp: Option<u32>,
    /// The `Bytes` being pushed, during a `push_bytes`.
    source: Option<Bytes>,
    out: VecDeque<Result<PsFrame, PsError>>,
    max_queued: usize,
    max_frame_size: usize,
    stats: PsStats,
}

impl Default for PsDemuxer {
    fn default() -> Self {
        Self::new()
    }
}

impl PsDemuxer {
    pub fn new() -> Self {
        Self {
            state: State::Header,
            pending: BytesMut::new(),
            stream_types: Vec::new(),
            video_id: None,
            audio_id: None,
            video: Assembly::new(),
            audio: Assembly::new(),
            video_clock: Clock::new(),
            audio_clock: Clock::new(),
            video_broken: false,
            end_of_frame: false,
            rtp_timestamp: None,
            source: None,
            out: VecDeque::new(),
            max_queued: MAX_QUEUED,
            max_frame_size: DEFAULT_MAX_FRAME_SIZE,
            stats: PsStats::default(),
        }
    }

    /// Frames (video or audio) larger than this are dropped with [`PsError::FrameTooLarge`].
    pub fn with_max_frame_size(mut self, max: usize) -> Self {
        self.max_frame_size = max;
        self
    }

    /// Frames and errors kept for [`PsDemuxer::pull`] (64 by default; older ones are dropped
    /// and counted in [`PsStats::overflowed`]). A caller that pulls after every push and pushes
    /// large buffers (a file) can raise it.
    pub fn with_queue_limit(mut self, max: usize) -> Self {
        self.max_queued = max.max(1);
        self
    }

    pub fn stats(&self) -> PsStats {
        self.stats
    }

    /// Stream type of the video stream from the last program stream map.
    pub fn video_stream_type(&self) -> Option<StreamType> {
        self.stream_type(self.video_id.unwrap_or(VIDEO_STREAM_ID))
    }

    /// Stream type of the audio stream from the last program stream map.
    pub fn audio_stream_type(&self) -> Option<StreamType> {
        self.stream_type(self.audio_id.unwrap_or(AUDIO_STREAM_ID))
    }

    fn stream_type(&self, id: u8) -> Option<StreamType> {
        self.stream_types
            .iter()
            .find(|(i, _)| *i == id)
            .map(|(_, t)| *t)
    }

    /// Feeds one RTP packet's payload. `marker` ends the current video frame. Drain
    /// [`PsDemuxer::pull`] after each push: at most 64 frames and errors wait there (see
    /// [`PsDemuxer::with_queue_limit`]), older ones are dropped.
    pub fn push(&mut self, rtp_timestamp: u32, marker: bool, payload: &[u8]) {
        self.push_inner(rtp_timestamp, marker, payload);
    }

    /// [`PsDemuxer::push`] for a payload held in `Bytes` (an RTP packet's, a mapped file): a
    /// frame whose PES payload lies in one piece inside it comes out as a slice of it, not a
    /// copy.
    pub fn push_bytes(&mut self, rtp_timestamp: u32, marker: bool, payload: &Bytes) {
        self.source = Some(payload.clone());
        self.push_inner(rtp_timestamp, marker, payload);
        self.source = None;
    }

    fn push_inner(&mut self, rtp_timestamp: u32, marker: bool, payload: &[u8]) {
        if self.rtp_timestamp != Some(rtp_timestamp) {
            if self.rtp_timestamp.is_some() {
                self.timestamp_changed();
            }
            self.rtp_timestamp = Some(rtp_timestamp);
        }
        if self.pending.is_empty() {
            let used = self.parse(payload, true);
            self.pending.extend_from_slice(&payload[used..]);
        } else {
            let mut pending = std::mem::take(&mut self.pending);
            pending.extend_from_slice(payload);
            let used = self.parse(&pending, false);
            let _ = pending.split_to(used);
            self.pending = pending;
        }
        if marker {
            self.end_of_frame = true;
        }
        self.maybe_end_video_frame();
    }

    /// Tells the demuxer that packets were lost here: partial frames are dropped and parsing
    /// resumes at the next start code.
    pub fn lost(&mut self) {
        self.drop_partial(EsKind::Video);
        self.drop_partial(EsKind::Audio);
        self.pending.clear();
        self.state = State::Sync;
        self.video_broken = true;
        self.end_of_frame = false;
    }

    /// Next demuxed frame or error, oldest first.
    pub fn pull(&mut self) -> Option<Result<PsFrame, PsError>> {
        self.out.pop_front()
    }

    fn emit(&mut self, item: Result<PsFrame, PsError>) {
        if self.out.len() >= self.max_queued {
            self.out.pop_front();
            self.stats.overflowed += 1;
        }
        self.out.push_back(item);
    }

    /// A new RTP timestamp means the previous frame is complete. If a PES is still waiting
    /// for bytes, the sender cuts packets without regard to frames (some do): the PES length
    /// is trusted and the new PTS will end the frame. Real loss is signalled by `lost`.
    fn timestamp_changed(&mut self) {
        if matches!(self.state, State::Payload { remaining, .. } if remaining > 0) {
            return;
        }
        self.end_of_frame = true;
        self.maybe_end_video_frame();
    }

    fn maybe_end_video_frame(&mut self) {
        if !self.end_of_frame {
            return;
        }
        if let State::Payload {
            target: Target::Video,
            remaining,
        } = self.state
            && remaining > 0
        {
            return; // The PES is still arriving; end the frame when it completes.
        }
        self.end_of_frame = false;
        self.finish(EsKind::Video);
    }

    fn drop_partial(&mut self, kind: EsKind) {
        let a = match kind {
            EsKind::Video => &mut self.video,
            EsKind::Audio => &mut self.audio,
        };
        if a.active {
            a.discard();
            self.stats.dropped_frames += 1;
        }
    }

    fn finish(&mut self, kind: EsKind) {
        let (a, clock) = match kind {
            EsKind::Video => (&mut self.video, &mut self.video_clock),
            EsKind::Audio => (&mut self.audio, &mut self.audio_clock),
        };
        if !a.active {
            return;
        }
        a.active = false;
        if a.len() == 0 {
            return;
        }
        a.last_size = a.len();
        let (pts, dts, pts_from_rtp) = clock.stamp(a);
        let frame = PsFrame {
            kind,
            stream_id: a.stream_id,
            stream_type: None,
            pts,
            dts,
            pts_from_rtp,
            rtp_timestamp: a.rtp_timestamp,
            data: a.take(),
        };
        let frame = PsFrame {
            stream_type: self.stream_type(frame.stream_id),
            ..frame
        };
        match kind {
            EsKind::Video => self.stats.video_frames += 1,
            EsKind::Audio => self.stats.audio_frames += 1,
        }
        self.emit(Ok(frame));
    }

    /// Parses as much of `input` as possible; returns how many bytes were used. Unused bytes
    /// are an incomplete header (or a possible start-code prefix while syncing). `pushed`:
    /// `input` is what was pushed (so `source`, if set, is it), not the pending bytes.
    fn parse(&mut self, input: &[u8], pushed: bool) -> usize {
        let mut pos = 0;
        while pos < input.len() {
            match self.state {
                State::Payload { target, remaining } => {
                    let take = remaining.min(input.len() - pos);
                    let chunk = &input[pos..pos + take];
                    let source = if pushed { self.source.as_ref() } else { None };
                    match target {
                        Target::Video => self.video.append(chunk, source, pos),
                        Target::Audio => self.audio.append(chunk, source, pos),
                        Target::Skip => {}
                    }
                    pos += take;
                    let remaining = remaining - take;
                    self.state = State::Payload { target, remaining };
                    if remaining == 0 {
                        self.state = State::Header;
                        match target {
                            Target::Audio => self.finish(EsKind::Audio),
                            Target::Video => self.maybe_end_video_frame(),
                            Target::Skip => {}
                        }
                    }
                }
                State::Sync => {
                    match find_ps_start_code(input, pos) {
                        Some(at) => {
                            self.stats.garbage_bytes += (at - pos) as u64;
                            pos = at;
                            self.state = State::Header;
                        }
                        None => {
                            // Keep up to two trailing bytes: they may begin a start code.
                            let keep = input.len().saturating_sub(pos).min(2);
                            let end = input.len() - keep;
                            self.stats.garbage_bytes += (end - pos) as u64;
                            return end;
                        }
                    }
                }
                State::Header => {
                    let b = &input[pos..];
                    let prefix = b.len().min(3);
                    if b[..prefix] != [0, 0, 1][..prefix] {
                        self.state = State::Sync;
                        continue;
                    }
                    match parse_unit(b) {
                        Ok(None) => return pos,
                        Ok(Some(unit)) => pos += self.on_unit(b, unit),
                        Err(reason) => {
                            let id = b.get(3).copied().unwrap_or(0);
                            self.stats.bad_headers += 1;
                            self.emit(Err(PsError::BadHeader { id, reason }));
                            // Step over this start code and look for the next one.
                            self.stats.garbage_bytes += 1;
                            pos += 1;
                            self.state = State::Sync;
                        }
                    }
                }
            }
        }
        pos
    }

    /// Acts on a complete header at the start of `b`; returns the bytes consumed.
    fn on_unit(&mut self, b: &[u8], unit: Unit) -> usize {
        match unit {
            Unit::Pack { len } => {
                self.stats.pack_headers += 1;
                if b.len() < len {
                    // Stuffing bytes not all here yet: skip the rest as payload.
                    self.state = State::Payload {
                        target: Target::Skip,
                        remaining: len - b.len(),
                    };
                    return b.len();
                }
                len
            }
            Unit::Skip { header, payload } => {
                if payload > 0 {
                    self.state = State::Payload {
                        target: Target::Skip,
                        remaining: payload,
                    };
                }
                header
            }
            Unit::Map { len } => {
                self.on_stream_map(&b[..len]);
                len
            }
            Unit::Pes {
                header,
                payload,
                pts,
                dts,
            } => {
                let id = b[3];
                let target = self.start_pes(id, payload, pts, dts);
                self.state = State::Payload {
                    target,
                    remaining: payload,
                };
                if payload == 0 {
                    self.state = State::Header;
                    if target == Target::Audio {
                        self.finish(EsKind::Audio);
                    }
                }
                header
            }
        }
    }

    fn on_stream_map(&mut self, map: &[u8]) {
        self.stats.stream_maps += 1;
        // 6-byte start + length, 2 flag bytes, program_stream_info_length, descriptors,
        // elementary_stream_map_length, entries; the CRC is not checked (devices get it wrong).
        let Some(info_len) = be16(map, 8) else { return };
        let es_start = 10 + info_len;
        let Some(es_len) = be16(map, es_start) else {
            return;
        };
        let mut pos = es_start + 2;
        let end = (pos + es_len).min(map.len().saturating_sub(4));
        let mut types = Vec::new();
        while pos + 4 <= end {
            let (t, id) = (map[pos], map[pos + 1]);
            let Some(info) = be16(map, pos + 2) else {
                break;
            };
            types.push((id, StreamType::from_code(t)));
            pos += 4 + info;
        }
        if !types.is_empty() {
            self.stream_types = types;
        }
    }

    /// Decides where a PES's payload goes, finishing or starting frames as needed.
    fn start_pes(&mut self, id: u8, payload: usize, pts: Option<u64>, dts: Option<u64>) -> Target {
        let kind = match id {
            0xE0..=0xEF if *self.video_id.get_or_insert(id) == id => EsKind::Video,
            0xC0..=0xDF if *self.audio_id.get_or_insert(id) == id => EsKind::Audio,
            _ => return Target::Skip,
        };
        if kind == EsKind::Video {
            if self.video_broken {
                if pts.is_none() {
                    return Target::Skip;
                }
                self.video_broken = false;
            }
            if self.video.active && pts.is_some_and(|p| Some(p & PTS_MASK) != self.video.pts_raw) {
                self.finish(EsKind::Video);
            }
        } else {
            // Each audio PES is a frame of its own.
            self.finish(EsKind::Audio);
        }
        let rtp_timestamp = self.rtp_timestamp.unwrap_or(0);
        let max = self.max_frame_size;
        let a = match kind {
            EsKind::Video => &mut self.video,
            EsKind::Audio => &mut self.audio,
        };
        if !a.active {
            a.active = true;
            a.stream_id = id;
            a.pts_raw = pts.map(|p| p & PTS_MASK);
            a.dts_raw = dts.map(|d| d & PTS_MASK);
            a.rtp_timestamp = rtp_timestamp;
            a.begin(payload);
        }
        if a.len() + payload > max {
            a.discard();
            self.stats.dropped_frames += 1;
            self.emit(Err(PsError::FrameTooLarge { stream_id: id, max }));
            if kind == EsKind::Video {
                self.video_broken = true;
            }
            return Target::Skip;
        }
        a.data.reserve(payload);
        match kind {
            EsKind::Video => Target::Video,
            EsKind::Audio => Target::Audio,
        }
    }
}

/// Next `00 00 01 id` with an id that can start a program-stream unit (≥ 0xB9). Video NAL
/// start codes inside PES payloads have ids < 0x80 and are passed over.
fn find_ps_start_code(data: &[u8], mut from: usize) -> Option<usize> {
    loop {
        let at = find_start_code(data, from)?;
        match data.get(at + 3) {
            None => return Some(at),
            Some(&id) if id >= 0xB9 => return Some(at),
            Some(_) => from = at + 1,
        }
    }
}

#[cfg(test)]
#[path = "demux_tests.rs"]
mod tests;
