//! Live media end to end over real sockets: the test clips streamed in real time as PS over
//! RTP (UDP, TCP passive, TCP active) into an ingest session, served by the `/live` routes
//! on a real HTTP listener and checked with ffprobe, a WebSocket client and an HLS fetch.
//! The routes run here without the platform, so without authentication; tests/live_sessions.rs
//! plays them through the platform with auth on (signed URLs, API key).

#[path = "common/ffprobe.rs"]
mod ffprobe;

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::task::JoinHandle;
use tokio::time::{Instant, timeout};

use ffprobe::{ffmpeg_play, ffprobe};
use vigil::api::live;
use vigil::platform::media::{
    EndReason, Hub, HubItem, IngestConfig, IngestHandle, IngestSession, IngestTransport, RtpPorts,
    ViewerEnd,
};
use vigil::platform::media::{Fragment, MediaInfo};
use vigil_media::VideoCodec;
use vigil_media::clip::{AnnexBReader, ClipStreamer, ClipStreamerConfig, testdata};
use vigil_media::codec::ParameterSetTracker;
use vigil_media::fmp4::{Fragmenter, VideoFrame, init_segment};
use vigil_media::rtp::frame_rfc4571;

const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const SSRC: u32 = 200_000_001;
const RTP_TIMEOUT: Duration = Duration::from_secs(3);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// One allocator for the whole test binary, as in the application.
fn ports() -> &'static RtpPorts {
    static PORTS: OnceLock<RtpPorts> = OnceLock::new();
    PORTS.get_or_init(|| RtpPorts::new(LOCALHOST, [40_000, 40_999]))
}

/// The `/live` routes on a real listener, with a session table the tests fill.
struct Server {
    base: String,
    addr: SocketAddr,
    sessions: Arc<Mutex<HashMap<String, Hub>>>,
}

impl Server {
    async fn start() -> Self {
        let sessions: Arc<Mutex<HashMap<String, Hub>>> = Arc::default();
        let table = sessions.clone();
        let app: axum::Router =
            live::routes(move |id: &str| table.lock().unwrap().get(id).cloned());
        let listener = TcpListener::bind((LOCALHOST, 0)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self {
            base: format!("http://{addr}"),
            addr,
            sessions,
        }
    }

    fn add(&self, id: &str, hub: &Hub) {
        self.sessions
            .lock()
            .unwrap()
            .insert(id.to_owned(), hub.clone());
    }
}

/// Where the simulated camera sends.
enum Sink {
    Udp(UdpSocket, SocketAddr),
    Tcp(TcpStream),
}

impl Sink {
    async fn udp(port: u16) -> Self {
        let s = UdpSocket::bind((LOCALHOST, 0)).await.unwrap();
        Sink::Udp(s, SocketAddr::new(LOCALHOST, port))
    }

    async fn send(&mut self, packet: &[u8]) -> bool {
        match self {
            Sink::Udp(s, to) => s.send_to(packet, *to).await.is_ok(),
            Sink::Tcp(s) => {
                let mut framed = Vec::with_capacity(packet.len() + 2);
                frame_rfc4571(packet, &mut framed).unwrap();
                s.write_all(&framed).await.is_ok()
            }
        }
    }
}

/// Streams a clip in real time for `duration`; returns when done.
fn camera(
    mut sink: Sink,
    codec: VideoCodec,
    cfg: ClipStreamerConfig,
    duration: Duration,
) -> JoinHandle<Instant> {
    tokio::spawn(async move {
        let mut clip = ClipStreamer::from_testdata(codec, cfg);
        let start = Instant::now();
        while clip.next_send_at() < duration {
            // Simulated loss spares the very first key frame, so every run starts playing.
            let frame = if clip.next_send_at().is_zero() {
                clip.next_frame(|| u32::MAX)
            } else {
                clip.next_frame(rand::random::<u32>)
            };
            tokio::time::sleep_until(start + frame.send_at).await;
            for p in &frame.packets {
                if !sink.send(p).await {
                    return Instant::now();
                }
            }
        }
        Instant::now()
    })
}

/// An ingest session on a fresh port, registered with the server as `id`.
async fn ingest(
    server: &Server,
    id: &str,
    transport: impl FnOnce(u16) -> IngestTransport,
    rtp_timeout: Duration,
) -> (IngestHandle, u16) {
    let port = ports().allocate().unwrap();
    let number = port.port();
    let cfg = IngestConfig::new(transport(number), port, rtp_timeout).expected_ssrc(SSRC);
    let hub = Hub::new();
    server.add(id, &hub);
    (IngestSession::start(cfg, hub).unwrap(), number)
}

async fn udp_session(
    server: &Server,
    id: &str,
    codec: VideoCodec,
    cfg: ClipStreamerConfig,
    duration: Duration,
) -> (IngestHandle, JoinHandle<Instant>) {
    let (h, port) = ingest(server, id, |_| IngestTransport::Udp, RTP_TIMEOUT).await;
    let cam = camera(Sink::udp(port).await, codec, cfg, duration);
    playing(&h, Duration::from_secs(5)).await;
    (h, cam)
}

/// Waits for an ingest's first key frame: the stream plays from then on.
async fn playing(h: &IngestHandle, within: Duration) {
    timeout(within, h.first_keyframe())
        .await
        .unwrap_or_else(|_| panic!("first key frame within {within:?}"))
        .expect("session running");
}

/// A `/live` server with one ingest session `id` that a simulated camera streams into.
struct Served {
    server: Server,
    id: &'static str,
    h: IngestHandle,
    /// The camera task; it stops by itself after its duration.
    _camera: JoinHandle<Instant>,
}

impl Served {
    /// The test clip's H.264 over UDP for `duration`, playing once this returns.
    async fn udp(id: &'static str, duration: Duration) -> Self {
        Self::udp_clip(
            id,
            VideoCodec::H264,
            ClipStreamerConfig::new(SSRC),
            duration,
        )
        .await
    }

    /// `codec` over UDP with the camera settings `cfg`, playing once this returns.
    async fn udp_clip(
        id: &'static str,
        codec: VideoCodec,
        cfg: ClipStreamerConfig,
        duration: Duration,
    ) -> Self {
        let server = Server::start().await;
        let (h, camera) = udp_session(&server, id, codec, cfg, duration).await;
        Served {
            server,
            id,
            h,
            _camera: camera,
        }
    }

    /// The test clip's H.264 over RFC 4571 TCP for `duration`, on a connection `connect`
    /// makes from the session's port (the camera's, or ours in TCP active); playing once
    /// this returns.
    async fn tcp<F, Fut>(
        id: &'static str,
        transport: impl FnOnce(u16) -> IngestTransport,
        connect: F,
        duration: Duration,
    ) -> Self
    where
        F: FnOnce(u16) -> Fut,
        Fut: std::future::Future<Output = TcpStream>,
    {
        let server = Server::start().await;
        let (h, port) = ingest(&server, id, transport, RTP_TIMEOUT).await;
        let camera = camera(
            Sink::Tcp(connect(port).await),
            VideoCodec::H264,
            ClipStreamerConfig::new(SSRC),
            duration,
        );
        playing(&h, Duration::from_secs(3)).await;
        Served {
            server,
            id,
            h,
            _camera: camera,
        }
    }

    /// The session's URL: `{http}/live/{id}{rest}`.
    fn url(&self, rest: &str) -> String {
        format!("{}/live/{}{rest}", self.server.base, self.id)
    }
}

/// Status, content type and `duration` worth of a chunked HTTP body.
async fn read_for(url: &str, duration: Duration) -> (u16, String, Vec<u8>) {
    let mut r = reqwest::get(url).await.unwrap();
    let status = r.status().as_u16();
    let content_type = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let mut body = Vec::new();
    let end = Instant::now() + duration;
    while let Ok(Ok(Some(chunk))) = tokio::time::timeout_at(end, r.chunk()).await {
        body.extend_from_slice(&chunk);
    }
    (status, content_type, body)
}

fn box_type(b: &[u8]) -> &[u8] {
    b.get(4..8).unwrap_or_default()
}

/// Whether an fMP4 fragment's first sample is a sync sample (trun first sample flags).
fn fragment_is_key(f: &[u8]) -> bool {
    let trun = f.windows(4).position(|w| w == b"trun").unwrap();
    f[trun + 24..trun + 28] == [0x02, 0, 0, 0]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn udp_h264_plays_as_fragmented_mp4_over_http() {
    let live = Served::udp("mp4", Duration::from_secs(6)).await;
    let (status, content_type, body) = read_for(&live.url(".mp4"), ms(3000)).await;
    assert_eq!(status, 200);
    assert_eq!(content_type, "video/mp4");
    assert_eq!(box_type(&body), b"ftyp");
    let p = ffprobe(&body);
    assert_eq!((p.codec.as_str(), p.width, p.height), ("h264", 640, 360));
    // 3 s at 25 fps, plus up to one cached GOP at the start.
    assert!((60..=110).contains(&p.frames), "{p:?}");
    let info: serde_json::Value = reqwest::get(live.url("/info"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["mime"], "video/mp4; codecs=\"avc1.4d401e\"");
    assert_eq!(
        (info["width"].as_u64(), info["height"].as_u64()),
        (Some(640), Some(360))
    );
    let s = live.h.stats();
    assert_eq!(s.transport, IngestTransport::Udp);
    assert_eq!(s.stream.codec_string.as_deref(), Some("avc1.4d401e"));
    assert_eq!((s.stream.width, s.stream.height), (Some(640), Some(360)));
    assert!(s.stream.packets_received > 500, "{s:?}");
    assert_eq!(s.stream.packets_lost, 0);
    assert!(s.last_packet_at_ms.unwrap() >= s.started_at_ms);
    let fps = s.stream.fps.unwrap();
    assert!((23.0..=27.0).contains(&fps), "fps {fps}");
    assert!(
        (1_000_000..4_000_000).contains(&s.stream.bitrate_bps),
        "{}",
        s.stream.bitrate_bps
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ffmpeg_plays_the_live_mp4_url_like_a_player() {
    let live = Served::udp("player", Duration::from_secs(6)).await;
    let (frames, stderr) = ffmpeg_play(&live.url(".mp4"), 2).await;
    assert!((45..=55).contains(&frames), "{frames} frames decoded");
    assert!(stderr.is_empty(), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_sends_init_then_moof_fragments_from_a_key_frame() {
    let live = Served::udp("ws", Duration::from_secs(5)).await;
    let url = format!("ws://{}/live/ws/ws", live.server.addr);
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let mut messages = Vec::new();
    let end = Instant::now() + ms(2000);
    while let Ok(Some(Ok(m))) = tokio::time::timeout_at(end, ws.next()).await {
        if let tokio_tungstenite::tungstenite::Message::Binary(b) = m {
            messages.push(b);
        }
    }
    assert!(messages.len() > 40, "{} messages", messages.len());
    assert_eq!(box_type(&messages[0]), b"ftyp");
    for m in &messages[1..] {
        assert_eq!(box_type(m), b"moof");
    }
    assert!(
        fragment_is_key(&messages[1]),
        "first fragment is a key frame"
    );
    let p = ffprobe(&messages.concat());
    assert_eq!((p.codec.as_str(), p.width, p.height), ("h264", 640, 360));
    assert_eq!(p.frames as usize, messages.len() - 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hls_playlist_parses_and_its_segments_play() {
    let live = Served::udp("hls", Duration::from_secs(6)).await;
    let base = live.url("");
    let r = reqwest::get(format!("{base}/index.m3u8")).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/vnd.apple.mpegurl");
    let text = r.text().await.unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "#EXTM3U", "{text}");
    assert!(lines.contains(&"#EXT-X-MAP:URI=\"init-1.mp4\""), "{text}");
    let target: u64 = lines
        .iter()
        .find_map(|l| l.strip_prefix("#EXT-X-TARGETDURATION:"))
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&target), "{text}");
    let (extinf, segment) = lines
        .windows(2)
        .find_map(|w| Some((w[0].strip_prefix("#EXTINF:")?, w[1])))
        .expect("a segment");
    let seconds: f64 = extinf.trim_end_matches(',').parse().unwrap();
    assert!((0.9..=1.1).contains(&seconds), "{text}");
    assert!(live.h.hub().viewers() >= 1, "HLS counts as a viewer");

    let init = reqwest::get(format!("{base}/init-1.mp4")).await.unwrap();
    assert_eq!(init.status(), 200);
    let init = init.bytes().await.unwrap();
    let latest = reqwest::get(format!("{base}/init.mp4")).await.unwrap();
    assert_eq!(latest.bytes().await.unwrap(), init);
    let seg = reqwest::get(format!("{base}/{segment}")).await.unwrap();
    assert_eq!(seg.status(), 200);
    let seg = seg.bytes().await.unwrap();
    assert_eq!(box_type(&seg), b"moof");
    assert!(fragment_is_key(&seg), "segments start at a key frame");
    let p = ffprobe(&[&init[..], &seg[..]].concat());
    assert_eq!((p.codec.as_str(), p.width, p.height), ("h264", 640, 360));
    assert_eq!(p.frames, 25, "one 1 s GOP");

    let missing = reqwest::get(format!("{base}/seg-999999.m4s"))
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
}

/// Collects fragments from a new viewer for `duration`.
async fn fragments_for(hub: &Hub, duration: Duration) -> Vec<bool> {
    let mut v = hub.subscribe();
    let mut keys = Vec::new();
    let end = Instant::now() + duration;
    while let Ok(Ok(item)) = tokio::time::timeout_at(end, v.next()).await {
        if let HubItem::Fragment(f) = item {
            keys.push(f.key);
        }
    }
    keys
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_passive_ingest_delivers_frames() {
    let live = Served::tcp(
        "passive",
        |_| IngestTransport::TcpPassive,
        |port| async move { TcpStream::connect((LOCALHOST, port)).await.unwrap() },
        Duration::from_secs(4),
    )
    .await;
    let keys = fragments_for(live.h.hub(), ms(1500)).await;
    assert!(keys.len() >= 30, "{} fragments", keys.len());
    assert!(keys[0]);
    let s = live.h.stats();
    assert_eq!(s.transport, IngestTransport::TcpPassive);
    assert_eq!(s.remote.map(|r| r.ip()), Some(LOCALHOST));
    assert_eq!(s.stream.packets_lost, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_passive_survives_a_silent_first_connection_and_a_reconnect() {
    let server = Server::start().await;
    let (h, port) = ingest(
        &server,
        "reconnect",
        |_| IngestTransport::TcpPassive,
        RTP_TIMEOUT,
    )
    .await;
    // Something connects first and says nothing.
    let _silent = TcpStream::connect((LOCALHOST, port)).await.unwrap();
    tokio::time::sleep(ms(100)).await;
    let stream = TcpStream::connect((LOCALHOST, port)).await.unwrap();
    let cam = camera(
        Sink::Tcp(stream),
        VideoCodec::H264,
        ClipStreamerConfig::new(SSRC),
        ms(1500),
    );
    playing(&h, Duration::from_secs(3)).await;
    // The camera closes its connection, then comes back with a new one.
    cam.await.unwrap();
    tokio::time::sleep(ms(300)).await;
    let mut cfg = ClipStreamerConfig::new(SSRC);
    cfg.first_sequence = 5000;
    let stream = TcpStream::connect((LOCALHOST, port)).await.unwrap();
    let _cam = camera(Sink::Tcp(stream), VideoCodec::H264, cfg, ms(3000));
    let keys = fragments_for(h.hub(), ms(1500)).await;
    assert!(
        keys.len() >= 20,
        "{} fragments after reconnecting",
        keys.len()
    );
    assert!(!h.is_ended());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_active_ingest_connects_to_the_device_and_delivers_frames() {
    let device = TcpListener::bind((LOCALHOST, 0)).await.unwrap();
    let remote = device.local_addr().unwrap();
    let live = Served::tcp(
        "active",
        |_| IngestTransport::TcpActive { remote },
        |_| async move {
            let (stream, _) = timeout(Duration::from_secs(3), device.accept())
                .await
                .expect("the platform connects")
                .unwrap();
            stream
        },
        Duration::from_secs(4),
    )
    .await;
    let keys = fragments_for(live.h.hub(), ms(1500)).await;
    assert!(keys.len() >= 30, "{} fragments", keys.len());
    assert!(keys[0]);
    assert_eq!(live.h.stats().remote, Some(remote));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_active_to_a_dead_address_ends_with_connect_failed() {
    let server = Server::start().await;
    // A port nobody listens on: bound, then closed.
    let remote = TcpListener::bind((LOCALHOST, 0))
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let (h, _) = ingest(
        &server,
        "dead",
        |_| IngestTransport::TcpActive { remote },
        ms(1000),
    )
    .await;
    let reason = timeout(Duration::from_secs(3), h.ended()).await.unwrap();
    assert!(matches!(reason, EndReason::ConnectFailed(_)), "{reason:?}");
    assert_eq!(h.first_keyframe().await, Err(reason));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_percent_packet_loss_keeps_the_stream_going() {
    let mut cfg = ClipStreamerConfig::new(SSRC);
    cfg.drop_ppm = 50_000;
    let live = Served::udp_clip("lossy", VideoCodec::H264, cfg, Duration::from_secs(8)).await;
    let h = &live.h;
    let mut v = h.hub().subscribe();
    let start = Instant::now();
    let mut per_second = [0usize; 3];
    let mut keys = 0;
    while let Ok(Ok(item)) = tokio::time::timeout_at(start + ms(3000), v.next()).await {
        if let HubItem::Fragment(f) = item {
            let second = (start.elapsed().as_millis() / 1000).min(2) as usize;
            per_second[second] += 1;
            keys += usize::from(f.key);
        }
    }
    // Frames with a lost packet are dropped (about 30 % of them); the rest keep flowing.
    assert!(
        per_second.iter().all(|n| *n >= 5),
        "fragments per second {per_second:?}"
    );
    assert!(keys >= 1, "a key frame got through");
    let s = h.stats();
    assert!(s.stream.packets_lost > 5, "{s:?}");
    assert!(!h.is_ended());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_with_an_unexpected_ssrc_still_plays() {
    let live = Served::udp_clip(
        "ssrc",
        VideoCodec::H264,
        ClipStreamerConfig::new(0x1234_5678),
        Duration::from_secs(4),
    )
    .await;
    let (_, _, body) = read_for(&live.url(".mp4"), ms(1500)).await;
    let p = ffprobe(&body);
    assert_eq!(p.codec, "h264");
    assert!(p.frames >= 30, "{p:?}");
    let s = live.h.stats();
    assert_eq!(s.stream.ssrc, Some(0x1234_5678));
    assert!(s.stream.packets_unexpected_ssrc > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_viewers_share_one_ingest_and_leaving_makes_it_idle() {
    let live = Served::udp("shared", Duration::from_secs(5)).await;
    let (h, url) = (&live.h, live.url(".mp4"));
    let hub = h.hub().clone();
    let counted = tokio::spawn(async move {
        tokio::time::sleep(ms(1000)).await;
        hub.viewers()
    });
    let (a, b) = tokio::join!(read_for(&url, ms(2000)), read_for(&url, ms(2000)));
    assert_eq!(counted.await.unwrap(), 2);
    for (_, _, body) in [a, b] {
        let p = ffprobe(&body);
        assert_eq!(p.codec, "h264");
        // ~2 s at 25 fps; a busy 2-core machine may deliver a few frames late.
        assert!(p.frames >= 40, "{p:?}");
    }
    // Both responses are dropped: nobody watches any more.
    timeout(Duration::from_secs(2), h.hub().idle_for(ms(200)))
        .await
        .expect("idle notification");
    assert_eq!(h.hub().viewers(), 0);
    assert!(!h.is_ended(), "the ingest itself is not stopped by the hub");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_viewer_starts_at_the_cached_key_frame_at_once() {
    let live = Served::udp("join", Duration::from_secs(4)).await;
    let h = &live.h;
    // Join in the middle of a GOP.
    tokio::time::sleep(ms(500)).await;
    let cached = h.hub().cached_fragments();
    assert!(cached >= 5, "{cached} fragments cached");
    let mut v = h.hub().subscribe();
    let t = Instant::now();
    assert!(matches!(v.next().await.unwrap(), HubItem::Init(_)));
    let HubItem::Fragment(first) = v.next().await.unwrap() else {
        panic!("a fragment after the init")
    };
    assert!(first.key);
    for _ in 1..cached {
        assert!(matches!(v.next().await.unwrap(), HubItem::Fragment(_)));
    }
    // Live, these fragments would take 40 ms each.
    assert!(
        t.elapsed() < ms(100),
        "cached GOP delivered at once, took {:?}",
        t.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silence_for_rtp_timeout_ends_the_session_and_frees_the_port() {
    let server = Server::start().await;
    // A private one-port range, to see the port come back.
    let first = ports().allocate().unwrap();
    let number = first.port();
    drop(first);
    let own = RtpPorts::new(LOCALHOST, [number, number]);
    let port = own.allocate().unwrap();
    let hub = Hub::new();
    server.add("quiet", &hub);
    let cfg = IngestConfig::new(IngestTransport::Udp, port, ms(1000)).expected_ssrc(SSRC);
    let h = IngestSession::start(cfg, hub.clone()).unwrap();
    let cam = camera(
        Sink::udp(number).await,
        VideoCodec::H264,
        ClipStreamerConfig::new(SSRC),
        ms(1000),
    );
    h.first_keyframe().await.unwrap();
    let mut v = hub.subscribe();
    let stopped = cam.await.unwrap();
    let reason = timeout(Duration::from_secs(4), h.ended()).await.unwrap();
    let after = stopped.elapsed();
    assert_eq!(reason, EndReason::RtpTimeout(ms(1000)));
    assert!(
        (ms(800)..ms(2000)).contains(&after),
        "ended {after:?} after the last packet"
    );
    // Viewers see the end; the session is gone from the outputs; the port is free.
    let end = loop {
        match v.next().await {
            Ok(_) => continue,
            Err(e) => break e,
        }
    };
    assert_eq!(end, ViewerEnd::Closed);
    let r = reqwest::get(format!("{}/live/quiet.mp4", server.base))
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(own.in_use(), 0);
    assert_eq!(own.allocate().unwrap().port(), number);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h265_plays_as_hevc_over_http_mp4() {
    let live = Served::udp_clip(
        "hevc",
        VideoCodec::H265,
        ClipStreamerConfig::new(SSRC),
        Duration::from_secs(4),
    )
    .await;
    let (_, _, body) = read_for(&live.url(".mp4"), ms(2000)).await;
    let p = ffprobe(&body);
    assert_eq!((p.codec.as_str(), p.width, p.height), ("hevc", 640, 360));
    assert!(p.frames >= 45, "{p:?}");
    assert_eq!(live.h.stats().stream.codec.as_deref(), Some("H265"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_sessions_get_a_json_404() {
    let server = Server::start().await;
    for path in [
        "nope.mp4",
        "nope/index.m3u8",
        "nope/init.mp4",
        "nope/ws",
        "nope/info",
    ] {
        let r = reqwest::get(format!("{}/live/{path}", server.base))
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "{path}");
        let v: serde_json::Value = r.json().await.unwrap();
        assert_eq!(v["error"]["code"], "not_found", "{path}");
    }
}

/// The clip as an init segment and `n` fMP4 fragments (looping), made without sockets.
fn clip_fragments(n: usize) -> (Bytes, MediaInfo, Vec<Fragment>) {
    let frames: Vec<_> = AnnexBReader::new(
        VideoCodec::H264,
        Bytes::from_static(testdata::H264_640X360_25FPS),
    )
    .collect();
    let mut params = ParameterSetTracker::new(VideoCodec::H264);
    params.observe(&frames[0].data).unwrap();
    let p = params.params().unwrap().clone();
    let info = MediaInfo {
        codec: p.codec,
        codec_string: p.codec_string.clone(),
        width: p.width,
        height: p.height,
    };
    let mut fragmenter = Fragmenter::new(Some(25.0));
    let mut out = Vec::new();
    for (i, f) in frames.iter().cycle().take(n + 1).enumerate() {
        let ts = i as i64 * 3600;
        fragmenter.push(VideoFrame {
            pts: ts,
            dts: ts,
            key: f.key,
            data: f.data.clone(),
        });
        out.extend(std::iter::from_fn(|| fragmenter.pull()));
    }
    (init_segment(&p), info, out)
}

/// Top-level MP4 boxes of a byte stream: (type, start, size).
fn boxes(data: &[u8]) -> Vec<([u8; 4], usize, usize)> {
    let mut out = Vec::new();
    let mut at = 0;
    while at + 8 <= data.len() {
        let size = u32::from_be_bytes(data[at..at + 4].try_into().unwrap()) as usize;
        if size < 8 || at + size > data.len() {
            break;
        }
        out.push((data[at + 4..at + 8].try_into().unwrap(), at, size));
        at += size;
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_http_viewer_skips_to_key_frames_instead_of_buffering() {
    let server = Server::start().await;
    let hub = Hub::with_capacity(16);
    server.add("slow", &hub);
    let (init, info, fragments) = clip_fragments(3000);
    let published: usize = fragments.iter().map(|f| f.data.len()).sum();
    hub.publish_init(init, info);
    // A client that stops reading after the response starts.
    let mut r = reqwest::get(format!("{}/live/slow.mp4", server.base))
        .await
        .unwrap();
    let first = r.chunk().await.unwrap().unwrap();
    assert_eq!(box_type(&first), b"ftyp");
    // 2 minutes of video in 3 s, in bursts smaller than the queue.
    let publisher = tokio::spawn({
        let hub = hub.clone();
        async move {
            for chunk in fragments.chunks(8) {
                for f in chunk {
                    hub.publish(f.clone());
                }
                tokio::time::sleep(ms(8)).await;
            }
            hub.close();
        }
    });
    // The client reads nothing for 2 s (socket buffers fill, the viewer falls behind),
    // then everything.
    tokio::time::sleep(ms(2000)).await;
    let mut body = first.to_vec();
    while let Ok(Ok(Some(c))) = timeout(Duration::from_secs(5), r.chunk()).await {
        body.extend_from_slice(&c);
    }
    publisher.await.unwrap();
    // The stream stays well-formed: whole fragments, and after every jump a key frame.
    let moofs: Vec<(u32, bool)> = boxes(&body)
        .into_iter()
        .filter(|(t, ..)| t == b"moof")
        .map(|(_, at, size)| {
            let m = &body[at..at + size];
            let seq = u32::from_be_bytes(m[20..24].try_into().unwrap()); // mfhd
            (seq, fragment_is_key(m))
        })
        .collect();
    // About 400 fragments fit in the socket buffers; the rest of the 2 s pause is skipped.
    assert!(moofs.len() > 10);
    assert!(
        moofs.len() + 100 < 3000,
        "{} of 3000 fragments ({} of {published} bytes) reached the slow viewer",
        moofs.len(),
        body.len()
    );
    let jumps: Vec<&[(u32, bool)]> = moofs.windows(2).filter(|w| w[1].0 != w[0].0 + 1).collect();
    assert!(!jumps.is_empty(), "the viewer was skipped forward");
    for w in jumps {
        assert!(
            w[1].1,
            "skipped to fragment {} which is not a key frame",
            w[1].0
        );
    }
    assert_eq!(hub.viewers(), 0);
}
