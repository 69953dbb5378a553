//! The media side of the simulator, driven by the one driver task: per confirmed call a
//! clip streamer (the shipped H.264/H.265 clip, or one given, as PS over RTP or raw H.264),
//! a frame timer in one heap for all streams, RTP over the shared UDP socket or over TCP
//! (RFC 4571) with a writer task per TCP stream (connecting to the platform, or accepting
//! its connection).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use vigil_gb::DeviceId;
use vigil_gb::sdp::MediaTransport;
use vigil_media::VideoCodec;
use vigil_media::clip::{AnnexBReader, ClipFrame, ClipStreamer, ClipStreamerConfig};
use vigil_media::codec::nal_units;
use vigil_media::rtp::{RtpHeader, frame_rfc4571, write_rtp};

use super::device::{InviteAnswer, MediaRequest};

/// Frames queued for one TCP stream's writer; a stream further behind loses frames.
const TCP_QUEUE_FRAMES: usize = 64;
/// How long a TCP stream waits for the platform to connect (TCP active offers), or to
/// accept our connection (TCP passive).
const TCP_WAIT: Duration = Duration::from_secs(10);
/// Largest RTP payload, as cameras send.
const MAX_PAYLOAD: usize = 1400;

/// Live view settings of a simulation.
#[derive(Debug, Clone)]
pub struct SimMedia {
    /// How INVITEs are answered (stream, refuse, ignore).
    pub invite: InviteAnswer,
    /// Codec of the shipped clip streamed (640x360, 25 fps, 1 s GOP, ~2 Mbit/s).
    pub codec: VideoCodec,
    /// Frames per second the clip is sent at (its own rate is 25; 10 gives ~0.8 Mbit/s at
    /// ~70 packets/s, like a sub-stream).
    pub fps: u32,
    /// RTP packets dropped at random, in percent (never of a stream's first key frame, so
    /// every stream starts).
    pub loss_percent: f64,
    /// Send RTP with another SSRC than the offer's `y=` (which the answer still echoes).
    pub ssrc_mismatch: bool,
    /// Raw H.264 over RTP (RFC 6184, PT 98) instead of PS (PT 96); H.264 only.
    pub raw_h264: bool,
    /// An Annex-B clip of `codec` to stream instead of the shipped one (must start with a
    /// key frame).
    pub clip: Option<Bytes>,
    /// Ignore the first ACK of each call, as if it was lost: over UDP the 200 OK is sent
    /// again and the platform must ACK again before media starts.
    pub ignore_first_ack: bool,
    /// Clip frame each stream starts at: 0 starts with a key frame; others start mid-GOP,
    /// as some cameras do (the shipped clips have a key frame every 25 frames). A stream
    /// asked for a key frame (`IFameCmd`) sends the clip's next key frame next.
    pub start_frame: usize,
}

impl Default for SimMedia {
    fn default() -> Self {
        Self {
            invite: InviteAnswer::Stream,
            codec: VideoCodec::H264,
            fps: 25,
            loss_percent: 0.0,
            ssrc_mismatch: false,
            raw_h264: false,
            clip: None,
            ignore_first_ack: false,
            start_frame: 0,
        }
    }
}

impl SimMedia {
    /// The clip's access units; an error names what is wrong with a given clip.
    pub(super) fn frames(&self) -> Result<Vec<ClipFrame>, String> {
        let data = match &self.clip {
            Some(c) => c.clone(),
            None => Bytes::from_static(match self.codec {
                VideoCodec::H264 => vigil_media::clip::testdata::H264_640X360_25FPS,
                VideoCodec::H265 => vigil_media::clip::testdata::H265_640X360_25FPS,
            }),
        };
        let frames: Vec<ClipFrame> = AnnexBReader::new(self.codec, data).collect();
        match frames.first() {
            None => Err("the clip has no access units".into()),
            Some(f) if !f.key => Err("the clip does not start with a key frame".into()),
            Some(_) if self.fps == 0 => Err("fps must be at least 1".into()),
            Some(_) => Ok(frames),
        }
    }
}

/// What TCP writer tasks tell the driver.
#[derive(Debug)]
pub(super) struct MediaDown {
    pub dev: usize,
    pub call: u64,
    pub why: String,
}

/// Where a stream's packets go.
enum Sink {
    Udp(SocketAddr),
    /// RFC 4571 frames to the writer task (spawned when the stream starts for TCP passive
    /// offers, at once for TCP active ones so the platform can connect).
    Tcp(mpsc::Sender<Bytes>),
    /// TCP passive offer: connect to the platform's address when the stream starts.
    TcpConnect(SocketAddr, mpsc::Sender<Bytes>, mpsc::Receiver<Bytes>),
}

/// Frames of a stream.
enum Source {
    Ps(Box<ClipStreamer>),
    Raw(RawH264),
}

impl Source {
    fn next_send_at(&self) -> Duration {
        match self {
            Source::Ps(s) => s.next_send_at(),
            Source::Raw(s) => s.next_send_at(),
        }
    }

    fn key_frame_next(&mut self) {
        match self {
            Source::Ps(s) => s.key_frame_next(),
            Source::Raw(s) => s.key_frame_next(),
        }
    }

    fn next_frame(&mut self, random: &mut SmallRng, spare: bool) -> (Vec<Bytes>, u32) {
        let mut r = || if spare { u32::MAX } else { random.random() };
        match self {
            Source::Ps(s) => {
                let f = s.next_frame(&mut r);
                (f.packets, f.dropped)
            }
            Source::Raw(s) => s.next_frame(&mut r),
        }
    }
}

struct Stream {
    channel: DeviceId,
    source: Source,
    sink: Sink,
    /// When the stream started (on the ACK); `None` before.
    start: Option<Instant>,
    /// Frames sent, so the first key frame is spared from simulated loss.
    frames: u64,
}

/// All streams of the simulation.
pub(super) struct Media {
    config: SimMedia,
    frames: Vec<ClipFrame>,
    udp: Arc<UdpSocket>,
    ip: IpAddr,
    streams: HashMap<(usize, u64), Stream>,
    heap: BinaryHeap<Reverse<(Instant, usize, u64)>>,
    rng: SmallRng,
    down_tx: mpsc::Sender<MediaDown>,
    stop: CancellationToken,
    tcp_frame: BytesMut,
    pub sent: u64,
    pub dropped: u64,
}

impl Media {
    pub fn new(
        config: SimMedia,
        frames: Vec<ClipFrame>,
        udp: Arc<UdpSocket>,
        ip: IpAddr,
        seed: u64,
        down_tx: mpsc::Sender<MediaDown>,
        stop: CancellationToken,
    ) -> Self {
        Self {
            config,
            frames,
            udp,
            ip,
            streams: HashMap::new(),
            heap: BinaryHeap::new(),
            rng: SmallRng::seed_from_u64(seed),
            down_tx,
            stop,
            tcp_frame: BytesMut::new(),
            sent: 0,
            dropped: 0,
        }
    }

    /// Streams sending now.
    pub fn active(&self) -> usize {
        self.streams.values().filter(|s| s.start.is_some()).count()
    }

    /// Prepares the media side of a call; the address to answer with.
    pub fn open(&mut self, dev: usize, req: &MediaRequest) -> Result<SocketAddr, String> {
        let offered = req.ssrc.unwrap_or_else(|| self.rng.random());
        let ssrc = if self.config.ssrc_mismatch {
            offered.wrapping_add(1)
        } else {
            offered
        };
        let first_sequence = self.rng.random();
        let first_timestamp = self.rng.random();
        let source = if self.config.raw_h264 && self.config.codec == VideoCodec::H264 {
            Source::Raw(RawH264 {
                frames: self.frames.clone(),
                index: 0,
                offset: self.config.start_frame as u64,
                fps: self.config.fps,
                ssrc,
                sequence: first_sequence,
                first_timestamp,
                drop_ppm: self.drop_ppm(),
            })
        } else {
            let mut cfg = ClipStreamerConfig::new(ssrc);
            cfg.first_sequence = first_sequence;
            cfg.first_timestamp = first_timestamp;
            cfg.fps = self.config.fps;
            cfg.max_payload = MAX_PAYLOAD;
            cfg.drop_ppm = self.drop_ppm();
            let mut s = ClipStreamer::new(self.config.codec, self.frames.clone(), cfg)
                .map_err(|e| e.to_string())?;
            s.seek(self.config.start_frame);
            Source::Ps(Box::new(s))
        };
        let (sink, local) = match req.transport {
            MediaTransport::Udp => {
                let local = self.udp.local_addr().map_err(|e| e.to_string())?;
                (Sink::Udp(req.remote), local)
            }
            MediaTransport::TcpPassive => {
                // The platform listens: we connect once the call is confirmed. Port 9 is
                // the RFC 4145 placeholder of the active side.
                let (tx, rx) = mpsc::channel(TCP_QUEUE_FRAMES);
                (
                    Sink::TcpConnect(req.remote, tx, rx),
                    SocketAddr::new(self.ip, 9),
                )
            }
            MediaTransport::TcpActive => {
                let listener = std::net::TcpListener::bind((self.ip, 0))
                    .and_then(|l| l.set_nonblocking(true).map(|()| l))
                    .and_then(TcpListener::from_std)
                    .map_err(|e| format!("binding a media listener: {e}"))?;
                let local = listener.local_addr().map_err(|e| e.to_string())?;
                let (tx, rx) = mpsc::channel(TCP_QUEUE_FRAMES);
                tokio::spawn(tcp_writer(
                    TcpSide::Accept(listener),
                    rx,
                    dev,
                    req.call,
                    self.down_tx.clone(),
                    self.stop.clone(),
                ));
                (Sink::Tcp(tx), local)
            }
        };
        self.streams.insert(
            (dev, req.call),
            Stream {
                channel: req.channel,
                source,
                sink,
                start: None,
                frames: 0,
            },
        );
        Ok(local)
    }

    fn drop_ppm(&self) -> u32 {
        (self.config.loss_percent.clamp(0.0, 100.0) * 10_000.0) as u32
    }

    /// The call is confirmed: the first frame goes out now. Returns the channel.
    pub fn start(&mut self, dev: usize, call: u64, now: Instant) -> Option<DeviceId> {
        let s = self.streams.get_mut(&(dev, call))?;
        if s.start.is_some() {
            return None;
        }
        s.start = Some(now);
        if let Sink::TcpConnect(..) = s.sink {
            let Sink::TcpConnect(remote, tx, rx) =
                std::mem::replace(&mut s.sink, Sink::Udp(SocketAddr::new(self.ip, 0)))
            else {
                return None;
            };
            tokio::spawn(tcp_writer(
                TcpSide::Connect(remote),
                rx,
                dev,
                call,
                self.down_tx.clone(),
                self.stop.clone(),
            ));
            s.sink = Sink::Tcp(tx);
        }
        self.heap.push(Reverse((now, dev, call)));
        Some(s.channel)
    }

    /// The call ended: the stream stops (its TCP writer ends with the queue). Returns the
    /// channel when the stream was sending.
    pub fn stop(&mut self, dev: usize, call: u64) -> Option<DeviceId> {
        let s = self.streams.remove(&(dev, call))?;
        s.start.map(|_| s.channel)
    }

    /// The platform asked for a key frame (`IFameCmd`): the stream sends one next.
    pub fn key_frame(&mut self, dev: usize, call: u64) {
        if let Some(s) = self.streams.get_mut(&(dev, call)) {
            s.source.key_frame_next();
        }
    }

    /// When the next frame is due.
    pub fn next_due(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((t, _, _))| *t)
    }

    /// Sends every frame due by `now`.
    pub fn on_timer(&mut self, now: Instant) {
        while let Some(&Reverse((t, dev, call))) = self.heap.peek() {
            if t > now {
                break;
            }
            self.heap.pop();
            let Some(s) = self.streams.get_mut(&(dev, call)) else {
                continue; // stopped
            };
            let Some(start) = s.start else { continue };
            let spare = s.frames == 0;
            let (packets, lost) = s.source.next_frame(&mut self.rng, spare);
            s.frames += 1;
            self.dropped += u64::from(lost);
            match &s.sink {
                Sink::Udp(to) => {
                    for p in &packets {
                        match self.udp.try_send_to(p, *to) {
                            Ok(_) => self.sent += 1,
                            Err(_) => self.dropped += 1,
                        }
                    }
                }
                Sink::Tcp(tx) => {
                    let buf = &mut self.tcp_frame;
                    for p in &packets {
                        let _ = frame_rfc4571(p, buf);
                    }
                    let n = packets.len() as u64;
                    match tx.try_send(buf.split().freeze()) {
                        Ok(()) => self.sent += n,
                        Err(_) => self.dropped += n,
                    }
                }
                Sink::TcpConnect(..) => {}
            }
            self.heap
                .push(Reverse((start + s.source.next_send_at(), dev, call)));
        }
    }
}

enum TcpSide {
    Connect(SocketAddr),
    Accept(TcpListener),
}

/// One TCP stream: connect (or accept the platform's connection), then write the frames
/// the driver queues until the queue closes (the call ended) or the connection fails (the
/// driver is told, and the device hangs up).
async fn tcp_writer(
    side: TcpSide,
    mut rx: mpsc::Receiver<Bytes>,
    dev: usize,
    call: u64,
    down: mpsc::Sender<MediaDown>,
    stop: CancellationToken,
) {
    let open = async {
        match side {
            TcpSide::Connect(to) => TcpStream::connect(to).await,
            TcpSide::Accept(l) => l.accept().await.map(|(s, _)| s),
        }
    };
    let report = |why: String| {
        let down = down.clone();
        async move {
            let _ = down.send(MediaDown { dev, call, why }).await;
        }
    };
    let mut stream = tokio::select! {
        _ = stop.cancelled() => return,
        r = tokio::time::timeout(TCP_WAIT, open) => match r {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => return report(format!("RTP over TCP: {e}")).await,
            Err(_) => return report("RTP over TCP: no connection".into()).await,
        },
    };
    let _ = stream.set_nodelay(true);
    loop {
        let frame = tokio::select! {
            _ = stop.cancelled() => return,
            f = rx.recv() => match f {
                Some(f) => f,
                None => return, // the call ended
            },
        };
        if let Err(e) = stream.write_all(&frame).await {
            return report(format!("RTP over TCP: {e}")).await;
        }
    }
}

/// Raw H.264 over RTP (RFC 6184 non-interleaved: single NAL units, FU-A for large ones),
/// looping the clip with continuous sequence numbers and timestamps.
struct RawH264 {
    frames: Vec<ClipFrame>,
    index: u64,
    /// Clip frame of index 0 (see `ClipStreamer::seek`).
    offset: u64,
    fps: u32,
    ssrc: u32,
    sequence: u16,
    first_timestamp: u32,
    drop_ppm: u32,
}

impl RawH264 {
    fn next_send_at(&self) -> Duration {
        let nanos = u128::from(self.index) * 1_000_000_000 / u128::from(self.fps.max(1));
        Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }

    fn key_frame_next(&mut self) {
        let len = self.frames.len() as u64;
        let at = (self.index + self.offset) % len;
        if let Some(d) = (0..len).find(|d| self.frames[((at + d) % len) as usize].key) {
            self.offset = (self.offset + d) % len;
        }
    }

    fn next_frame(&mut self, mut random: impl FnMut() -> u32) -> (Vec<Bytes>, u32) {
        let len = self.frames.len() as u64;
        let frame = &self.frames[((self.index + self.offset) % len) as usize];
        let ticks = u128::from(self.index) * 90_000 / u128::from(self.fps.max(1));
        let timestamp = self.first_timestamp.wrapping_add(ticks as u32);
        self.index += 1;
        let mut payloads: Vec<Vec<u8>> = Vec::new();
        for nal in nal_units(&frame.data) {
            if nal.len() <= MAX_PAYLOAD {
                payloads.push(nal.to_vec());
                continue;
            }
            let (header, body) = (nal[0], &nal[1..]);
            let chunks: Vec<&[u8]> = body.chunks(MAX_PAYLOAD - 2).collect();
            let last = chunks.len() - 1;
            for (i, chunk) in chunks.into_iter().enumerate() {
                let mut fu = Vec::with_capacity(chunk.len() + 2);
                fu.push((header & 0xE0) | 28);
                let se = match i {
                    0 => 0x80,
                    i if i == last => 0x40,
                    _ => 0,
                };
                fu.push(se | (header & 0x1F));
                fu.extend_from_slice(chunk);
                payloads.push(fu);
            }
        }
        let n = payloads.len();
        let mut packets = Vec::with_capacity(n);
        let mut dropped = 0;
        let threshold = u64::from(self.drop_ppm.min(1_000_000));
        for (i, p) in payloads.iter().enumerate() {
            let header = RtpHeader {
                marker: i + 1 == n,
                payload_type: vigil_gb::sdp::PT_H264,
                sequence: self.sequence,
                timestamp,
                ssrc: self.ssrc,
            };
            self.sequence = self.sequence.wrapping_add(1);
            if threshold > 0 && (u64::from(random()) * 1_000_000) >> 32 < threshold {
                dropped += 1;
                continue;
            }
            let mut buf = Vec::with_capacity(12 + p.len());
            write_rtp(&mut buf, &header, p);
            packets.push(Bytes::from(buf));
        }
        (packets, dropped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_media::rtp::{H264Depacketizer, RtpPacketRef};

    #[test]
    fn raw_h264_packets_depacketize_into_the_clips_frames() {
        let frames = SimMedia::default().frames().unwrap();
        let mut raw = RawH264 {
            frames: frames.clone(),
            index: 0,
            offset: 0,
            fps: 25,
            ssrc: 7,
            sequence: 65_530,
            first_timestamp: 0,
            drop_ppm: 0,
        };
        let mut d = H264Depacketizer::new();
        let mut got = 0;
        for i in 0..frames.len() {
            let (packets, dropped) = raw.next_frame(|| unreachable!("no loss"));
            assert_eq!(dropped, 0);
            for (j, p) in packets.iter().enumerate() {
                let p = RtpPacketRef::parse(p).unwrap();
                assert_eq!(p.header.payload_type, 98);
                assert_eq!(p.header.marker, j + 1 == packets.len());
                assert!(p.payload.len() <= MAX_PAYLOAD);
                assert_eq!(p.header.timestamp, 3600 * i as u32);
                d.push(
                    p.header.sequence,
                    p.header.timestamp,
                    p.header.marker,
                    p.payload,
                );
            }
            while let Some(f) = d.pull() {
                f.unwrap();
                got += 1;
            }
        }
        assert_eq!(got, frames.len());
        assert_eq!(raw.next_send_at(), Duration::from_secs(2));
    }

    #[test]
    fn a_clip_must_start_with_a_key_frame() {
        let frames = SimMedia::default().frames().unwrap();
        let mut tail = Vec::new();
        for f in &frames[1..3] {
            tail.extend_from_slice(&f.data);
        }
        let m = SimMedia {
            clip: Some(Bytes::from(tail)),
            ..SimMedia::default()
        };
        assert!(m.frames().unwrap_err().contains("key frame"));
    }
}
