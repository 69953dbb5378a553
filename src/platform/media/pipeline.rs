//! One stream's media path without I/O: RTP datagrams in (with their arrival time), fMP4
//! init segments and fragments out to the hub. RTP → SSRC check → reorder buffer (loss
//! accounting) → PS demux or RFC 6184 depacketizer → parameter sets → fragmenter → hub.
//! RTCP that shares the RTP port or TCP connection is counted and set aside.

use std::time::{Duration, Instant};

use bytes::Bytes;
use serde::Serialize;
use vigil_media::VideoCodec;
use vigil_media::codec::ParameterSetTracker;
use vigil_media::fmp4::{Fragmenter, VideoFrame, init_segment};
use vigil_media::ps::{EsKind, PsDemuxer};
use vigil_media::rtp::{H264Depacketizer, ReorderBuffer, ReorderOutput, RtpPacket, RtpStats};

use super::hub::{Hub, MediaInfo};
use super::rtcp::{self, Reception, ReceptionSnapshot};

/// Payload type GB/T 28181 uses for MPEG-PS.
pub const PT_PS: u8 = 96;
/// Payload type for raw H.264 (RFC 6184).
pub const PT_H264: u8 = 98;
/// Reorder window in packets and the longest wait for a missing UDP packet.
const REORDER_SLOTS: usize = 128;
pub const REORDER_DELAY: Duration = Duration::from_millis(50);

/// How the RTP payload is carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Payload {
    /// MPEG-2 program stream (PT 96).
    Ps,
    /// RFC 6184 H.264 (PT 98).
    H264,
}

impl Payload {
    /// From the encoding name of an `a=rtpmap` line (`PS`, `MP2P`, `H264`); `None` for
    /// encodings the ingest cannot play.
    pub fn from_encoding(name: &str) -> Option<Self> {
        if name.eq_ignore_ascii_case("PS") || name.eq_ignore_ascii_case("MP2P") {
            Some(Payload::Ps)
        } else if name.eq_ignore_ascii_case("H264") {
            Some(Payload::H264)
        } else {
            None
        }
    }
}

/// Counters and what the stream is; a snapshot, see `IngestHandle::stats`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct StreamStats {
    pub payload: Option<Payload>,
    /// `H264` or `H265`, once a video frame was seen.
    pub codec: Option<String>,
    /// MSE codec string, once parameter sets were seen.
    pub codec_string: Option<String>,
    pub width: Option<u32>,
    pub height: Option<u32>,
    /// Frames per second over the last second.
    pub fps: Option<f64>,
    /// Bits per second of RTP (headers included) over the last second.
    pub bitrate_bps: u64,
    pub ssrc: Option<u32>,
    pub packets_received: u64,
    pub packets_lost: u64,
    pub packets_reordered: u64,
    pub packets_duplicate: u64,
    /// Datagrams that are not RTP, or carry an undecidable payload.
    pub packets_invalid: u64,
    /// Packets whose SSRC is not the expected one (still played).
    pub packets_unexpected_ssrc: u64,
    /// Packets of another SSRC than the one being played (dropped).
    pub packets_other_ssrc: u64,
    pub bytes_received: u64,
    pub frames: u64,
    pub key_frames: u64,
    /// Frames dropped before the first key frame or for lack of parameter sets.
    pub frames_skipped: u64,
    pub fragments: u64,
    pub demux_errors: u64,
    /// UDP datagrams from another address than the one the stream comes from (dropped).
    pub packets_other_source: u64,
    /// RTCP packets (compound) received, on the RTCP port or mixed into the RTP flow.
    pub rtcp_packets: u64,
    /// RTCP sender reports among them.
    pub rtcp_sender_reports: u64,
    /// RTCP receiver reports we sent.
    pub rtcp_receiver_reports: u64,
    /// Interarrival jitter (RFC 3550) of the stream, in milliseconds.
    pub jitter_ms: Option<f64>,
}

enum Depacketizer {
    Undecided,
    Ps(Box<PsDemuxer>),
    H264(H264Depacketizer),
}

impl std::fmt::Debug for Depacketizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Depacketizer::Undecided => "Undecided",
            Depacketizer::Ps(_) => "Ps",
            Depacketizer::H264(_) => "H264",
        })
    }
}

/// What the depacketizer handed out.
enum Out {
    Frame(VideoCodec, i64, i64, Bytes),
    /// A video frame of a codec that could not be told.
    Unknown,
    Error,
}

/// What a push changed that the driver acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Progress {
    /// The first key frame went to the hub: there is something to show.
    pub first_key_frame: bool,
    /// The datagram was RTP of the SSRC being played (for the driver's source address).
    pub accepted: bool,
    /// The stream started mid-GOP: video frames arrive but none was a key frame yet (said
    /// once), so it is worth asking the device for one.
    pub key_frame_wanted: bool,
}

/// The sans-IO stream pipeline.
#[derive(Debug)]
pub struct Pipeline {
    hub: Hub,
    expected_ssrc: Option<u32>,
    /// Payload types from the SDP answer's `a=rtpmap` lines.
    pt_map: Vec<(u8, Payload)>,
    /// SSRC being played.
    ssrc: Option<u32>,
    warned_ssrc: bool,
    reorder: ReorderBuffer,
    reorder_delay: Duration,
    depacketizer: Depacketizer,
    params: Option<ParameterSetTracker>,
    fragmenter: Option<Fragmenter>,
    /// A key frame reached the fragmenter (frames before it are skipped).
    started: bool,
    published_key: bool,
    reported_key: bool,
    /// A frame was skipped while waiting for the first key frame, and whether that was
    /// reported.
    wants_key: bool,
    reported_wants_key: bool,
    reception: Reception,
    /// Reorder counters of earlier senders (SSRC switches).
    earlier: RtpStats,
    stats: StreamStats,
    window_start: Option<Instant>,
    window_bytes: u64,
    window_frames: u64,
    /// First and last DTS (90 kHz) of the window's frames: fps is the stream's own rate,
    /// not the arrival rate, which bursts when the machine is busy.
    window_dts: Option<(i64, i64)>,
}

impl Pipeline {
    /// `reorder_delay`: how long to wait for a missing packet (zero for TCP, which does not
    /// reorder).
    pub fn new(hub: Hub, expected_ssrc: Option<u32>, reorder_delay: Duration) -> Self {
        Self {
            hub,
            expected_ssrc,
            pt_map: Vec::new(),
            ssrc: None,
            warned_ssrc: false,
            reorder: ReorderBuffer::new(REORDER_SLOTS, reorder_delay),
            reorder_delay,
            depacketizer: Depacketizer::Undecided,
            params: None,
            fragmenter: None,
            started: false,
            published_key: false,
            reported_key: false,
            wants_key: false,
            reported_wants_key: false,
            reception: Reception::default(),
            earlier: RtpStats::default(),
            stats: StreamStats::default(),
            window_start: None,
            window_bytes: 0,
            window_frames: 0,
            window_dts: None,
        }
    }

    pub fn hub(&self) -> &Hub {
        &self.hub
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> StreamStats {
        let (r, e) = (self.reorder.stats(), self.earlier);
        let mut s = self.stats.clone();
        s.packets_received = r.received + e.received;
        s.packets_lost = r.lost + e.lost;
        s.packets_reordered = r.reordered + e.reordered;
        s.packets_duplicate = r.duplicates + r.late + e.duplicates + e.late;
        s.jitter_ms = self
            .reception
            .snapshot()
            .map(|r| (f64::from(r.jitter) / 90.0 * 100.0).round() / 100.0);
        s
    }

    /// What a receiver report says about the stream; `None` before its first packet.
    pub fn reception(&self) -> Option<ReceptionSnapshot> {
        self.reception.snapshot()
    }

    /// The SSRC being played.
    pub fn ssrc(&self) -> Option<u32> {
        self.ssrc
    }

    pub fn expected_ssrc(&self) -> Option<u32> {
        self.expected_ssrc
    }

    /// A datagram from another address than the stream's was dropped by the driver.
    pub fn count_other_source(&mut self) {
        self.stats.packets_other_source += 1;
    }

    /// RTCP read on the RTCP port: counted with the in-band ones.
    pub fn count_rtcp(&mut self, compound: &rtcp::Compound) {
        self.stats.rtcp_packets += 1;
        if compound.sender_report.is_some() {
            self.stats.rtcp_sender_reports += 1;
        }
    }

    pub fn count_receiver_report(&mut self) {
        self.stats.rtcp_receiver_reports += 1;
    }

    /// A datagram too large for the receive buffer (cut short by the kernel) was dropped.
    pub fn count_invalid(&mut self) {
        self.stats.packets_invalid += 1;
    }

    /// RTP packets accepted so far (cheap, for connection bookkeeping).
    pub fn packets_received(&self) -> u64 {
        self.reorder.stats().received + self.earlier.received
    }

    /// Feeds one datagram (one RFC 4571 frame over TCP) that arrived at `now`.
    pub fn push(&mut self, now: Instant, datagram: Bytes) -> Progress {
        let len = datagram.len() as u64;
        self.stats.bytes_received += len;
        self.window_bytes += len;
        self.roll_window(now);
        if rtcp::is_rtcp(&datagram) {
            match rtcp::parse(&datagram) {
                Some(c) => self.count_rtcp(&c),
                None => self.stats.packets_invalid += 1,
            }
            return Progress::default();
        }
        let packet = match RtpPacket::parse(datagram) {
            Ok(p) => p,
            Err(_) => {
                self.stats.packets_invalid += 1;
                return Progress::default();
            }
        };
        let h = &packet.header;
        if !self.accept_ssrc(h.ssrc) {
            return Progress::default();
        }
        self.reception
            .on_packet(now, h.ssrc, h.sequence, h.timestamp);
        self.reorder.push(now, packet);
        let mut progress = self.drain(now);
        progress.accepted = true;
        progress
    }

    /// When [`Pipeline::on_timer`] has work (a reorder gap timing out).
    pub fn next_deadline(&self) -> Option<Instant> {
        self.reorder.next_deadline()
    }

    pub fn on_timer(&mut self, now: Instant) -> Progress {
        self.roll_window(now);
        self.drain(now)
    }

    /// End of stream: the held-back last frame goes out and the hub closes.
    pub fn finish(&mut self) {
        if let Some(f) = &mut self.fragmenter {
            f.flush();
        }
        self.publish_fragments();
        self.hub.close();
    }

    /// Plays the expected SSRC; otherwise locks onto the first one seen (devices often
    /// ignore `y=`), switching to the expected one if it shows up later.
    fn accept_ssrc(&mut self, ssrc: u32) -> bool {
        match self.ssrc {
            Some(s) if s == ssrc => {}
            None => {
                self.ssrc = Some(ssrc);
                self.stats.ssrc = Some(ssrc);
            }
            Some(_) if Some(ssrc) == self.expected_ssrc => {
                tracing::warn!(ssrc, "expected SSRC appeared; switching to it");
                self.ssrc = Some(ssrc);
                self.stats.ssrc = Some(ssrc);
                self.restart();
            }
            Some(_) => {
                self.stats.packets_other_ssrc += 1;
                return false;
            }
        }
        if self.expected_ssrc.is_some_and(|e| e != ssrc) {
            self.stats.packets_unexpected_ssrc += 1;
            if !self.warned_ssrc {
                self.warned_ssrc = true;
                tracing::warn!(
                    ssrc,
                    expected = self.expected_ssrc,
                    "RTP SSRC differs from the SDP y= line; playing it anyway"
                );
            }
        }
        true
    }

    /// A new sender: sequence numbers and PS state start over.
    fn restart(&mut self) {
        let old = std::mem::replace(
            &mut self.reorder,
            ReorderBuffer::new(REORDER_SLOTS, self.reorder_delay),
        );
        let o = old.stats();
        let e = &mut self.earlier;
        e.received += o.received;
        e.lost += o.lost;
        e.reordered += o.reordered;
        e.duplicates += o.duplicates;
        e.late += o.late;
        self.depacketizer = Depacketizer::Undecided;
        self.started = false;
    }

    fn drain(&mut self, now: Instant) -> Progress {
        let mut progress = Progress::default();
        while let Some(out) = self.reorder.pull(now) {
            match out {
                ReorderOutput::Packet(p) => self.depacketize(&p),
                ReorderOutput::Gap { .. } => match &mut self.depacketizer {
                    Depacketizer::Ps(d) => d.lost(),
                    Depacketizer::H264(d) => d.lost(),
                    Depacketizer::Undecided => {}
                },
            }
        }
        // Reported once, by the push that published it.
        if self.published_key && !self.reported_key {
            self.reported_key = true;
            progress.first_key_frame = true;
        }
        if self.wants_key && !self.reported_wants_key && !self.published_key {
            self.reported_wants_key = true;
            progress.key_frame_wanted = true;
        }
        progress
    }

    /// The SDP's `a=rtpmap` says what a payload type carries (`96 PS`, `98 H264`, or a
    /// device's own numbering); without it PT 96 is PS and PT 98 is H.264.
    pub fn map_payload_type(&mut self, pt: u8, payload: Payload) {
        self.pt_map.retain(|(p, _)| *p != pt);
        self.pt_map.push((pt, payload));
    }

    /// What the payload type maps to, unless the payload says otherwise: PS starts with a
    /// pack header at frame starts, which no RFC 6184 payload does.
    fn decide(&self, pt: u8, payload: &[u8]) -> Option<Payload> {
        let ps_start = payload.starts_with(&[0, 0, 1, 0xBA]);
        let mapped = self.pt_map.iter().find(|(p, _)| *p == pt).map(|(_, m)| *m);
        match pt {
            _ if ps_start => Some(Payload::Ps),
            _ if mapped.is_some() => mapped,
            PT_PS => Some(Payload::Ps),
            PT_H264 => Some(Payload::H264),
            // Static types (MPEG-TS is 33) are not ours.
            _ if pt < 96 => None,
            // Unknown dynamic type: H.264 when the packet starts an SPS, a STAP-A or an FU-A.
            _ => match payload.first().map(|b| (b & 0x80, b & 0x1F)) {
                Some((0, 7 | 24)) => Some(Payload::H264),
                Some((0, 28)) if payload.get(1).is_some_and(|fu| fu & 0x80 != 0) => {
                    Some(Payload::H264)
                }
                _ => None,
            },
        }
    }

    fn depacketize(&mut self, p: &RtpPacket) {
        if let Depacketizer::Undecided = self.depacketizer {
            match self.decide(p.header.payload_type, &p.payload) {
                Some(Payload::Ps) => {
                    self.depacketizer = Depacketizer::Ps(Box::new(PsDemuxer::new()))
                }
                Some(Payload::H264) => {
                    self.depacketizer = Depacketizer::H264(H264Depacketizer::new())
                }
                None => {
                    self.stats.packets_invalid += 1;
                    return;
                }
            }
            self.stats.payload = match self.depacketizer {
                Depacketizer::Ps(_) => Some(Payload::Ps),
                _ => Some(Payload::H264),
            };
        }
        let h = &p.header;
        match &mut self.depacketizer {
            Depacketizer::Ps(d) => d.push(h.timestamp, h.marker, &p.payload),
            Depacketizer::H264(d) => d.push(h.sequence, h.timestamp, h.marker, &p.payload),
            Depacketizer::Undecided => {}
        }
        loop {
            let out = match &mut self.depacketizer {
                Depacketizer::Ps(d) => match d.pull() {
                    None => break,
                    // A program stream map names the codec. Without one it is sniffed, but
                    // only until a codec works: an H.264 SEI can look like an H.265 header.
                    Some(Ok(f)) if f.kind == EsKind::Video => {
                        match f.stream_type.map(|t| t.video_codec()).unwrap_or_else(|| {
                            self.params
                                .as_ref()
                                .map(|t| t.codec())
                                .or_else(|| f.video_codec())
                        }) {
                            Some(codec) => Out::Frame(codec, f.pts, f.dts, f.data),
                            None => Out::Unknown,
                        }
                    }
                    Some(Ok(_)) => continue, // audio is not served yet
                    Some(Err(_)) => Out::Error,
                },
                Depacketizer::H264(d) => match d.pull() {
                    None => break,
                    Some(Ok(f)) => Out::Frame(VideoCodec::H264, f.pts, f.pts, f.data),
                    Some(Err(_)) => Out::Error,
                },
                Depacketizer::Undecided => break,
            };
            match out {
                Out::Frame(codec, pts, dts, data) => self.frame(codec, pts, dts, data),
                Out::Unknown => self.stats.frames_skipped += 1,
                Out::Error => self.stats.demux_errors += 1,
            }
        }
    }

    fn frame(&mut self, codec: VideoCodec, pts: i64, dts: i64, data: Bytes) {
        self.stats.frames += 1;
        self.window_frames += 1;
        self.window_dts = Some(match self.window_dts {
            Some((first, _)) => (first, dts),
            None => (dts, dts),
        });
        if self.params.as_ref().is_none_or(|t| t.codec() != codec) {
            self.params = Some(ParameterSetTracker::new(codec));
            self.stats.codec = Some(format!("{codec:?}"));
            self.started = false;
        }
        let Some(tracker) = self.params.as_mut() else {
            return;
        };
        match tracker.observe(&data) {
            Ok(true) => {
                if let Some(p) = tracker.params().cloned() {
                    self.new_params(&p);
                }
            }
            Ok(false) => {}
            Err(e) => {
                self.stats.demux_errors += 1;
                tracing::debug!(error = %e, "bad parameter set");
            }
        }
        let key = codec.is_key_frame(&data);
        if key {
            self.stats.key_frames += 1;
        }
        let Some(fragmenter) = self.fragmenter.as_mut() else {
            self.stats.frames_skipped += 1;
            self.wants_key |= !key;
            return;
        };
        if !self.started && !key {
            self.stats.frames_skipped += 1;
            self.wants_key = true;
            return;
        }
        self.started = true;
        fragmenter.push(VideoFrame {
            pts,
            dts,
            key,
            data,
        });
        self.publish_fragments();
    }

    /// New parameter sets: what is held back goes out under the old init segment first.
    fn new_params(&mut self, p: &vigil_media::codec::VideoParams) {
        if let Some(f) = &mut self.fragmenter {
            f.flush();
        }
        self.publish_fragments();
        self.stats.codec_string = Some(p.codec_string.clone());
        self.stats.width = Some(p.width);
        self.stats.height = Some(p.height);
        let info = MediaInfo {
            codec: p.codec,
            codec_string: p.codec_string.clone(),
            width: p.width,
            height: p.height,
        };
        self.hub.publish_init(init_segment(p), info);
        if self.fragmenter.is_none() {
            self.fragmenter = Some(Fragmenter::new(p.fps));
        }
        // The next fragment must be a key frame for the new init segment.
        self.started = false;
    }

    fn publish_fragments(&mut self) {
        let Some(f) = &mut self.fragmenter else {
            return;
        };
        while let Some(fragment) = f.pull() {
            self.stats.fragments += 1;
            if fragment.key {
                self.published_key = true;
            }
            self.hub.publish(fragment);
        }
    }

    fn roll_window(&mut self, now: Instant) {
        let start = *self.window_start.get_or_insert(now);
        let elapsed = now.saturating_duration_since(start);
        if elapsed >= Duration::from_secs(1) {
            let secs = elapsed.as_secs_f64();
            self.stats.bitrate_bps = (self.window_bytes as f64 * 8.0 / secs) as u64;
            let fps = match self.window_dts {
                // Frames after the first over the time they span, by their timestamps.
                Some((first, last)) if last > first && self.window_frames >= 2 => {
                    (self.window_frames - 1) as f64 * 90_000.0 / (last - first) as f64
                }
                _ => self.window_frames as f64 / secs,
            };
            self.stats.fps = Some((fps * 100.0).round() / 100.0);
            self.window_start = Some(now);
            self.window_bytes = 0;
            self.window_frames = 0;
            self.window_dts = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::media::hub::HubItem;
    use vigil_media::clip::{ClipStreamer, ClipStreamerConfig, testdata};
    use vigil_media::codec::AccessUnitSplitter;
    use vigil_media::rtp::{RtpHeader, write_rtp};

    /// Runs `frames` frames of the clip through a pipeline, 40 ms apart.
    fn play(p: &mut Pipeline, cfg: ClipStreamerConfig, codec: VideoCodec, frames: usize) {
        let mut camera = ClipStreamer::from_testdata(codec, cfg);
        let t0 = Instant::now();
        let mut seed = 0x1234_5678u32;
        for _ in 0..frames {
            let f = camera.next_frame(|| {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                seed
            });
            let now = t0 + f.send_at;
            for d in f.packets {
                p.push(now, d);
            }
            p.on_timer(now + REORDER_DELAY);
        }
    }

    /// Everything a viewer subscribed before the stream got.
    async fn drain(v: &mut crate::platform::media::Viewer) -> Vec<HubItem> {
        let mut out = Vec::new();
        while let Ok(Ok(item)) = tokio::time::timeout(Duration::from_millis(5), v.next()).await {
            out.push(item);
        }
        out
    }

    fn keys(items: &[HubItem]) -> Vec<bool> {
        items
            .iter()
            .filter_map(|i| match i {
                HubItem::Fragment(f) => Some(f.key),
                HubItem::Init(_) => None,
            })
            .collect()
    }

    #[tokio::test]
    async fn ps_clip_becomes_init_and_one_fragment_per_frame() {
        let hub = Hub::new();
        let mut v = hub.subscribe();
        let mut p = Pipeline::new(hub.clone(), Some(200_000_001), REORDER_DELAY);
        play(
            &mut p,
            ClipStreamerConfig::new(200_000_001),
            VideoCodec::H264,
            60,
        );
        let items = drain(&mut v).await;
        assert!(matches!(items[0], HubItem::Init(ref i) if &i.data[4..8] == b"ftyp"));
        let k = keys(&items);
        assert_eq!(k.len(), 59, "one frame is held back for its duration");
        assert_eq!(k.iter().filter(|k| **k).count(), 3, "key frames 0, 25, 50");
        assert!(k[0] && k[25] && k[50]);
        let s = p.stats();
        assert_eq!(s.payload, Some(Payload::Ps));
        assert_eq!(s.codec.as_deref(), Some("H264"));
        assert_eq!(s.codec_string.as_deref(), Some("avc1.4d401e"));
        assert_eq!((s.width, s.height), (Some(640), Some(360)));
        assert_eq!(s.packets_lost, 0);
        assert_eq!(s.packets_unexpected_ssrc, 0);
        assert_eq!(s.fps, Some(25.0));
        assert!(s.bitrate_bps > 500_000, "{}", s.bitrate_bps);
        let info = hub.info().unwrap();
        assert_eq!(info.mime(), "video/mp4; codecs=\"avc1.4d401e\"");
    }

    #[tokio::test]
    async fn first_key_frame_is_reported_once() {
        let hub = Hub::new();
        let mut p = Pipeline::new(hub, None, REORDER_DELAY);
        let mut camera = ClipStreamer::from_testdata(VideoCodec::H265, ClipStreamerConfig::new(7));
        let t0 = Instant::now();
        let mut reports = Vec::new();
        for i in 0..30 {
            let f = camera.next_frame(|| 0);
            for d in f.packets {
                if p.push(t0 + f.send_at, d).first_key_frame {
                    reports.push(i);
                }
            }
        }
        // Frame 0 goes out when frame 1 gives its duration.
        assert_eq!(reports, [1]);
        assert_eq!(p.stats().codec.as_deref(), Some("H265"));
    }

    #[tokio::test]
    async fn a_stream_starting_mid_gop_wants_a_key_frame_once() {
        let run = |start: usize| {
            let mut p = Pipeline::new(Hub::new(), None, Duration::ZERO);
            let mut camera =
                ClipStreamer::from_testdata(VideoCodec::H264, ClipStreamerConfig::new(7));
            camera.seek(start);
            let t0 = Instant::now();
            let mut wanted = Vec::new();
            for i in 0..30 {
                let f = camera.next_frame(|| 0);
                for d in f.packets {
                    if p.push(t0 + f.send_at, d).key_frame_wanted {
                        wanted.push(i);
                    }
                }
            }
            (wanted, p.stats().key_frames)
        };
        assert_eq!(
            run(0),
            (vec![], 2),
            "starts with a key frame: nothing to ask"
        );
        // Clip frame 20 first (a P-frame): asked at once, the key frame 5 frames later.
        assert_eq!(run(20), (vec![0], 1));
    }

    #[tokio::test]
    async fn rtcp_on_the_rtp_port_is_counted_not_played() {
        let mut p = Pipeline::new(Hub::new(), None, REORDER_DELAY);
        let mut sr = vec![0x80, 200, 0, 6];
        sr.extend_from_slice(&[0; 24]);
        let progress = p.push(Instant::now(), Bytes::from(sr));
        assert!(!progress.accepted);
        let s = p.stats();
        assert_eq!((s.rtcp_packets, s.rtcp_sender_reports), (1, 1));
        assert_eq!(
            (s.ssrc, s.packets_invalid, s.packets_received),
            (None, 0, 0)
        );
    }

    #[tokio::test]
    async fn an_unexpected_ssrc_is_played_and_counted() {
        let hub = Hub::new();
        let mut v = hub.subscribe();
        let mut p = Pipeline::new(hub, Some(100), REORDER_DELAY);
        play(&mut p, ClipStreamerConfig::new(555), VideoCodec::H264, 10);
        let s = p.stats();
        assert_eq!(s.ssrc, Some(555));
        assert_eq!(s.packets_unexpected_ssrc, s.packets_received);
        assert_eq!(keys(&drain(&mut v).await).len(), 9);
    }

    #[tokio::test]
    async fn a_second_sender_is_ignored_but_the_expected_one_wins() {
        let hub = Hub::new();
        let mut p = Pipeline::new(hub, Some(100), REORDER_DELAY);
        let mut stray = ClipStreamer::from_testdata(VideoCodec::H264, ClipStreamerConfig::new(9));
        let mut cfg = ClipStreamerConfig::new(100);
        cfg.first_sequence = 30_000;
        let mut right = ClipStreamer::from_testdata(VideoCodec::H264, cfg);
        let t0 = Instant::now();
        for d in stray.next_frame(|| 0).packets {
            p.push(t0, d);
        }
        assert_eq!(p.stats().ssrc, Some(9));
        for i in 0..5 {
            let now = t0 + Duration::from_millis(40 * i);
            for d in stray.next_frame(|| 0).packets {
                p.push(now, d);
            }
            for d in right.next_frame(|| 0).packets {
                p.push(now, d);
            }
        }
        let s = p.stats();
        assert_eq!(s.ssrc, Some(100), "switched to the y= SSRC");
        assert!(s.packets_other_ssrc > 0);
        assert_eq!(s.packets_lost, 0, "the switch is not a loss");
    }

    #[tokio::test]
    async fn five_percent_loss_keeps_fragments_and_key_frames_coming() {
        let hub = Hub::with_capacity(1024); // the viewer reads only at the end
        let mut v = hub.subscribe();
        let mut p = Pipeline::new(hub, None, REORDER_DELAY);
        let mut cfg = ClipStreamerConfig::new(1);
        cfg.drop_ppm = 50_000;
        play(&mut p, cfg, VideoCodec::H264, 250);
        let s = p.stats();
        assert!(s.packets_lost > 50, "lost {}", s.packets_lost);
        let k = keys(&drain(&mut v).await);
        assert!(k.len() > 100, "{} fragments {s:?}", k.len());
        assert!(k.iter().filter(|k| **k).count() >= 3);
        assert!(k[0]);
    }

    #[tokio::test]
    async fn garbage_datagrams_are_counted_not_fatal() {
        let mut p = Pipeline::new(Hub::new(), None, REORDER_DELAY);
        let now = Instant::now();
        for junk in [&b""[..], &[0x80; 11], &[0x40; 40], &[0xFF; 1500]] {
            p.push(now, Bytes::copy_from_slice(junk));
        }
        // Valid RTP with an unknown payload type and an undecidable payload.
        let mut d = Vec::new();
        let h = RtpHeader {
            payload_type: 33,
            ..RtpHeader::default()
        };
        write_rtp(&mut d, &h, &[0x47, 1, 2, 3]); // MPEG-TS (PT 33) looks like an H.264 SPS
        p.push(now, d.into());
        assert_eq!(p.stats().packets_invalid, 5);
        assert_eq!(p.stats().payload, None);
    }

    /// Raw RFC 6184 H.264: single NAL units, FU-A for large ones.
    fn h264_rtp(ssrc: u32, frames: usize) -> Vec<(u32, Vec<Bytes>)> {
        let clip = Bytes::from_static(testdata::H264_640X360_25FPS);
        let mut seq = 0u16;
        let mut out = Vec::new();
        for (i, au) in AccessUnitSplitter::new(VideoCodec::H264, clip)
            .take(frames)
            .enumerate()
        {
            let ts = i as u32 * 3600;
            let nals: Vec<&[u8]> = vigil_media::codec::nal_units(&au).collect();
            let mut packets = Vec::new();
            for (j, nal) in nals.iter().enumerate() {
                let last_nal = j + 1 == nals.len();
                let mut payloads = Vec::new();
                if nal.len() <= 1200 {
                    payloads.push(nal.to_vec());
                } else {
                    let chunks: Vec<&[u8]> = nal[1..].chunks(1200).collect();
                    for (k, c) in chunks.iter().enumerate() {
                        let fu_header = (u8::from(k == 0) << 7)
                            | (u8::from(k + 1 == chunks.len()) << 6)
                            | (nal[0] & 0x1F);
                        let mut pl = vec![(nal[0] & 0xE0) | 28, fu_header];
                        pl.extend_from_slice(c);
                        payloads.push(pl);
                    }
                }
                let n = payloads.len();
                for (k, pl) in payloads.into_iter().enumerate() {
                    let h = RtpHeader {
                        marker: last_nal && k + 1 == n,
                        payload_type: PT_H264,
                        sequence: seq,
                        timestamp: ts,
                        ssrc,
                    };
                    seq = seq.wrapping_add(1);
                    let mut d = Vec::new();
                    write_rtp(&mut d, &h, &pl);
                    packets.push(Bytes::from(d));
                }
            }
            out.push((ts, packets));
        }
        out
    }

    #[tokio::test]
    async fn rtpmap_can_say_pt_96_is_h264() {
        let hub = Hub::new();
        let mut p = Pipeline::new(hub, None, REORDER_DELAY);
        p.map_payload_type(96, Payload::from_encoding("h264").unwrap());
        let now = Instant::now();
        for (_, packets) in h264_rtp(3, 5) {
            for d in packets {
                let mut d = d.to_vec();
                d[1] = (d[1] & 0x80) | 96;
                p.push(now, d.into());
            }
        }
        assert_eq!(p.stats().payload, Some(Payload::H264));
        assert_eq!(p.stats().fragments, 4);
        assert_eq!(Payload::from_encoding("MP2P"), Some(Payload::Ps));
        assert_eq!(Payload::from_encoding("H265"), None);
    }

    #[tokio::test]
    async fn raw_h264_on_pt_98_plays() {
        let hub = Hub::new();
        let mut v = hub.subscribe();
        let mut p = Pipeline::new(hub, None, REORDER_DELAY);
        let now = Instant::now();
        for (_, packets) in h264_rtp(3, 30) {
            for d in packets {
                p.push(now, d);
            }
        }
        let s = p.stats();
        assert_eq!(s.payload, Some(Payload::H264));
        assert_eq!(s.codec_string.as_deref(), Some("avc1.4d401e"));
        let items = drain(&mut v).await;
        let k = keys(&items);
        assert_eq!(k.len(), 29);
        assert!(k[0] && k[25]);
    }
}
