//! Live media against devices that misbehave and peers that attack, over real sockets:
//! garbage RTP, strangers' SSRCs and sequence jumps sprayed at a session while the camera
//! streams (the stream plays on, memory stays bounded); RTCP on the port after the RTP one
//! (sender reports counted, receiver reports sent back); TCP passive refusing every
//! address but the device's and a second connection; a camera that starts mid-GOP, asked
//! for a key frame (`IFameCmd`) so the first picture comes sooner.
//!
//! The tests run one at a time (`SERIAL`): one of them measures the heap of this process.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream, UdpSocket};
use tokio::time::{Instant, sleep, timeout};

use common::{Backend, Platform, TestDb, WAIT, config, init_logging, sim_config};
use vigil::platform::media::{
    Hub, HubItem, IngestConfig, IngestHandle, IngestSession, IngestTransport, RtpPorts,
};
use vigil::sim::{SimMedia, Simulator};
use vigil_media::VideoCodec;
use vigil_media::clip::{ClipStreamer, ClipStreamerConfig};
use vigil_media::rtp::{RtpHeader, frame_rfc4571, write_rtp};

/// Counts the bytes this process has allocated and not freed.
struct CountingAlloc;

static LIVE_BYTES: AtomicIsize = AtomicIsize::new(0);
static PEAK_BYTES: AtomicIsize = AtomicIsize::new(0);

fn note(delta: isize) {
    let now = LIVE_BYTES.fetch_add(delta, Ordering::Relaxed) + delta;
    PEAK_BYTES.fetch_max(now, Ordering::Relaxed);
}

// SAFETY: every call is forwarded to the system allocator unchanged; only counters are
// added around it.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract for `alloc` is passed on.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            note(layout.size() as isize);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract for `dealloc` is passed on.
        unsafe { System.dealloc(ptr, layout) };
        note(-(layout.size() as isize));
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller's contract for `realloc` is passed on.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            note(new_size as isize - layout.size() as isize);
        }
        p
    }
}

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

/// One test at a time: the heap figures must be this test's alone.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const SSRC: u32 = 200_000_042;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn ports() -> &'static RtpPorts {
    static PORTS: OnceLock<RtpPorts> = OnceLock::new();
    PORTS.get_or_init(|| RtpPorts::new(LOCALHOST, [41_000, 41_999]))
}

/// A simulated camera: the H.264 clip as PS over RTP/UDP from its own socket, in real time.
struct Camera {
    sock: UdpSocket,
    to: SocketAddr,
    clip: ClipStreamer,
    start: Instant,
    sent: u64,
}

impl Camera {
    async fn new(port: u16, ssrc: u32) -> Camera {
        let mut cfg = ClipStreamerConfig::new(ssrc);
        cfg.first_sequence = 65_000; // wraps during the test
        Camera {
            sock: UdpSocket::bind((LOCALHOST, 0)).await.unwrap(),
            to: SocketAddr::new(LOCALHOST, port),
            clip: ClipStreamer::from_testdata(VideoCodec::H264, cfg),
            start: Instant::now(),
            sent: 0,
        }
    }

    /// Sends the frames due by now.
    async fn send_due(&mut self) {
        while self.start + self.clip.next_send_at() <= Instant::now() {
            for p in self.clip.next_frame(|| 0).packets {
                self.sock.send_to(&p, self.to).await.unwrap();
                self.sent += 1;
            }
        }
    }

    /// Streams for `d`.
    async fn run_for(&mut self, d: Duration) {
        let end = Instant::now() + d;
        while Instant::now() < end {
            self.send_due().await;
            sleep(ms(5)).await;
        }
    }
}

fn rtp(ssrc: u32, sequence: u16, timestamp: u32, payload: &[u8]) -> Vec<u8> {
    let h = RtpHeader {
        marker: true,
        payload_type: 96,
        sequence,
        timestamp,
        ssrc,
    };
    let mut d = Vec::new();
    write_rtp(&mut d, &h, payload);
    d
}

/// Counts fragments (and key fragments) a viewer gets until the hub closes or `stop`.
fn count_fragments(hub: &Hub) -> tokio::task::JoinHandle<(u64, u64)> {
    let mut v = hub.subscribe();
    tokio::spawn(async move {
        let (mut all, mut keys) = (0, 0);
        while let Ok(Ok(item)) = timeout(ms(1500), v.next()).await {
            if let HubItem::Fragment(f) = item {
                all += 1;
                keys += u64::from(f.key);
            }
        }
        (all, keys)
    })
}

fn udp_session(port: vigil::platform::media::RtpPort, hub: &Hub) -> IngestHandle {
    let cfg = IngestConfig::new(IngestTransport::Udp, port, Duration::from_secs(5))
        .expected_ssrc(SSRC)
        .payload_type(96, vigil::platform::media::Payload::Ps);
    IngestSession::start(cfg, hub.clone()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_strangers_and_sequence_jumps_leave_the_stream_playing_in_bounded_memory() {
    let _one = SERIAL.lock().await;
    let port = ports().allocate().unwrap();
    let number = port.port();
    let hub = Hub::with_capacity(1024);
    let session = udp_session(port, &hub);
    let attacker = UdpSocket::bind((LOCALHOST, 0)).await.unwrap();
    let to = SocketAddr::new(LOCALHOST, number);
    // A stranger is first: its RTP (another SSRC) is taken until the camera shows up.
    for seq in 0..20u16 {
        let d = rtp(0xBAD, seq, 0, &[0, 0, 1, 0xBA, 1, 2, 3]);
        attacker.send_to(&d, to).await.unwrap();
    }
    let mut cam = Camera::new(number, SSRC).await;
    cam.run_for(ms(1200)).await;
    timeout(WAIT, session.first_keyframe())
        .await
        .unwrap()
        .unwrap();
    let viewer = count_fragments(&hub);
    let before = session.stats().stream;
    assert_eq!(before.ssrc, Some(SSRC), "the camera's y= SSRC took over");
    let base = LIVE_BYTES.load(Ordering::Relaxed);
    PEAK_BYTES.store(base, Ordering::Relaxed);

    // Three seconds of attack while the camera streams on: garbage, RTP of other SSRCs,
    // the camera's own SSRC with sequence numbers all over the place and the largest
    // datagrams a socket takes, fake RTCP.
    // About 25,000 datagrams a second, some 30 times the camera's packet rate: more would
    // only overflow the socket's kernel buffer, which drops the camera's packets too.
    let spray = tokio::spawn(async move {
        let big = vec![0x55u8; 20_000];
        let mut sent = 0u64;
        let end = Instant::now() + Duration::from_secs(3);
        let mut seq = 0u16;
        while Instant::now() < end {
            for _ in 0..5 {
                seq = seq.wrapping_add(7919);
                let junk: [&[u8]; 5] = [
                    &[0xFF; 40],
                    &rtp(rand::random(), seq, 0, &[0, 0, 1, 0xBA]),
                    &rtp(SSRC, seq, u32::from(seq) * 3600, &[0, 0, 1, 0xE0, 0, 0]),
                    &rtp(SSRC, seq.wrapping_add(1), 0, &big[..1400]),
                    &[0x80, 200, 0, 6, 0, 0, 0, 1, 9, 9, 9, 9],
                ];
                for d in junk {
                    if attacker.send_to(d, to).await.is_ok() {
                        sent += 1;
                    }
                }
            }
            // Larger than any RTP datagram kept (16 KiB).
            if attacker.send_to(&big, to).await.is_ok() {
                sent += 1;
            }
            sleep(ms(1)).await;
        }
        sent
    });
    cam.run_for(Duration::from_secs(3)).await;
    let sprayed = spray.await.unwrap();
    cam.run_for(ms(500)).await;
    let peak = PEAK_BYTES.load(Ordering::Relaxed) - base;
    let after = session.stats().stream;
    session.stop();
    let (fragments, keys) = viewer.await.unwrap();

    eprintln!(
        "sprayed {sprayed} datagrams; heap peak +{peak} bytes; {:?}",
        after
    );
    assert!(sprayed > 10_000, "sprayed {sprayed}");
    assert!(
        after.packets_other_source > sprayed * 9 / 10,
        "dropped as from elsewhere: {} of {sprayed}",
        after.packets_other_source
    );
    // The camera's stream went on untouched: nothing lost, every frame through.
    assert_eq!(after.packets_lost, 0, "{after:?}");
    assert_eq!(after.ssrc, Some(SSRC));
    // (Both snapshots may be up to 250 ms old.)
    let frames = after.frames - before.frames;
    assert!(
        (75..=100).contains(&frames),
        "3.5 s at 25 fps: {frames} frames"
    );
    assert!(
        fragments >= 75 && keys >= 3,
        "{fragments} fragments, {keys} key"
    );
    // What the attack could make the session hold: nothing close to the reorder window
    // full of 64 KiB datagrams (8 MiB) it could before.
    assert!(peak < 3 << 20, "heap grew by {peak} bytes at most");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rtcp_sender_reports_are_counted_and_answered_with_receiver_reports() {
    let _one = SERIAL.lock().await;
    let port = ports().allocate().unwrap();
    let number = port.port();
    let hub = Hub::new();
    let mut cfg =
        IngestConfig::new(IngestTransport::Udp, port, Duration::from_secs(5)).expected_ssrc(SSRC);
    cfg.report_interval = ms(200);
    let session = IngestSession::start(cfg, hub.clone()).unwrap();
    let mut cam = Camera::new(number, SSRC).await;
    // The camera's RTCP socket: a sender report to the RTP port + 1.
    let rtcp = UdpSocket::bind((LOCALHOST, 0)).await.unwrap();
    let mut sr = vec![0x80, 200, 0, 6];
    sr.extend_from_slice(&SSRC.to_be_bytes());
    sr.extend_from_slice(&0x0000_1234_5678_9ABCu64.to_be_bytes());
    sr.extend_from_slice(&[0; 12]);
    cam.run_for(ms(300)).await;
    rtcp.send_to(&sr, (LOCALHOST, number + 1)).await.unwrap();
    // RTCP mixed into the RTP port (rtcp-mux) is counted, not taken for RTP.
    cam.sock.send_to(&sr, (LOCALHOST, number)).await.unwrap();
    let mut buf = [0u8; 1500];
    let report = loop {
        cam.send_due().await;
        match timeout(ms(20), rtcp.recv_from(&mut buf)).await {
            Ok(Ok((n, _))) => break buf[..n].to_vec(),
            _ => assert!(cam.start.elapsed() < WAIT, "no receiver report"),
        }
    };
    assert_eq!(report[1], 201, "a receiver report: {report:02x?}");
    assert_eq!(&report[8..12], &SSRC.to_be_bytes(), "about the camera");
    assert_eq!(report[12], 0, "nothing lost");
    let highest = u32::from_be_bytes(report[16..20].try_into().unwrap());
    assert_eq!(highest >> 16, 0, "{highest:x}");
    assert!(highest as u16 >= 65_000 || (highest as u16) < 1000);
    assert_eq!(
        &report[24..28],
        &[0x12, 0x34, 0x56, 0x78],
        "LSR of our report"
    );
    assert_eq!(report[33], 202, "then SDES");
    let s = session.stats().stream;
    assert_eq!(s.rtcp_sender_reports, 2, "{s:?}");
    assert_eq!(s.rtcp_packets, 2);
    assert!(s.rtcp_receiver_reports >= 1);
    assert_eq!(s.packets_invalid, 0);
    assert_eq!(s.packets_other_ssrc, 0);
    assert!(s.jitter_ms.is_some());
}

/// Connects to `port` from `source` (any 127/8 address is local on Linux).
async fn connect_from(source: Ipv4Addr, port: u16) -> TcpStream {
    let s = TcpSocket::new_v4().unwrap();
    s.bind(SocketAddr::new(IpAddr::V4(source), 0)).unwrap();
    s.connect(SocketAddr::new(LOCALHOST, port)).await.unwrap()
}

/// Whether the platform closed `s` (reads end or fail within a second).
async fn closed(s: &mut TcpStream) -> bool {
    let mut b = [0u8; 16];
    matches!(
        timeout(Duration::from_secs(1), s.read(&mut b)).await,
        Ok(Ok(0) | Err(_))
    )
}

/// `frames` frames of `clip` over RFC 4571, in real time from `start`.
async fn send(clip: &mut ClipStreamer, cam: &mut TcpStream, start: Instant, frames: usize) {
    let mut framed = Vec::new();
    for _ in 0..frames {
        let f = clip.next_frame(|| 0);
        tokio::time::sleep_until(start + f.send_at).await;
        framed.clear();
        for p in &f.packets {
            frame_rfc4571(p, &mut framed).unwrap();
        }
        cam.write_all(&framed).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_passive_takes_only_the_devices_address_and_one_connection() {
    let _one = SERIAL.lock().await;
    let port = ports().allocate().unwrap();
    let number = port.port();
    let device = Ipv4Addr::new(127, 0, 0, 2);
    let hub = Hub::new();
    let cfg = IngestConfig::new(IngestTransport::TcpPassive, port, Duration::from_secs(5))
        .expected_ssrc(SSRC)
        .allow_peer(IpAddr::V4(device));
    let session = IngestSession::start(cfg, hub.clone()).unwrap();

    let mut stranger = connect_from(Ipv4Addr::LOCALHOST, number).await;
    assert!(closed(&mut stranger).await, "another address is refused");
    let mut cam = connect_from(device, number).await;
    let mut clip = ClipStreamer::from_testdata(VideoCodec::H264, ClipStreamerConfig::new(SSRC));
    let start = Instant::now();
    send(&mut clip, &mut cam, start, 10).await;
    timeout(WAIT, session.first_keyframe())
        .await
        .unwrap()
        .unwrap();
    // The device's own address, but a second connection while the first plays.
    let mut second = connect_from(device, number).await;
    send(&mut clip, &mut cam, start, 5).await;
    assert!(closed(&mut second).await, "a second connection is refused");
    send(&mut clip, &mut cam, start, 5).await;
    // The stats snapshot is refreshed every 250 ms while RTP flows: one more frame later.
    sleep(ms(300)).await;
    send(&mut clip, &mut cam, Instant::now(), 1).await;
    sleep(ms(100)).await;
    let stats = session.stats();
    assert_eq!(stats.tcp_refused, 2);
    assert_eq!(stats.remote.map(|r| r.ip()), Some(IpAddr::V4(device)));
    // The last frame ends only with the next one's pack header.
    assert_eq!(stats.stream.frames, 20, "{stats:?}");
    assert_eq!(stats.stream.packets_lost, 0);
}

/// A platform whose simulated camera starts each stream one frame after a key frame (the
/// next one is 24 frames, ~1 s, away): how long `POST .../live` takes, and how many
/// `IFameCmd` the camera got.
async fn first_frame_mid_gop(ask: bool) -> (Duration, u64) {
    init_logging();
    let db = TestDb::new(Backend::Sqlite).await;
    let mut c = config(&db);
    c.media.request_key_frame = ask;
    let p = Platform::start(c).await;
    let mut sc = sim_config(p.sip(), 1);
    sc.media = SimMedia {
        start_frame: 1,
        ..SimMedia::default()
    };
    let sim = Simulator::start(sc).await.unwrap();
    sim.wait_registered(1, WAIT).await.unwrap();
    let channel = sim.channel_id(0, 0).to_string();
    let store = &p.running().store;
    let deadline = Instant::now() + WAIT;
    while store.get_channel(&channel).await.unwrap().is_none() {
        assert!(Instant::now() < deadline, "catalog sync stored no channel");
        sleep(ms(20)).await;
    }
    let t = Instant::now();
    let r = p
        .http
        .post(p.api(&format!("/api/v1/channels/{channel}/live")))
        .send()
        .await
        .unwrap();
    let took = t.elapsed();
    let status = r.status();
    let body = r.text().await.unwrap();
    assert_eq!(status, 200, "{body}");
    let asked = sim.with_status(|s| {
        s.other_messages
            .get("Control/DeviceControl")
            .copied()
            .unwrap_or(0)
    });
    sim.stop().await;
    (took, asked)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_starting_mid_gop_gets_a_key_frame_on_request() {
    let _one = SERIAL.lock().await;
    let (asked_took, asked) = first_frame_mid_gop(true).await;
    let (waited_took, not_asked) = first_frame_mid_gop(false).await;
    eprintln!("first frame mid-GOP: {asked_took:?} with IFameCmd, {waited_took:?} without");
    assert_eq!(asked, 1, "one IFameCmd");
    assert_eq!(not_asked, 0);
    // Without asking, the first picture waits for the camera's next key frame, 24 frames
    // (960 ms) after the first one; asked, the key frame is the second frame sent.
    assert!(waited_took >= ms(900), "waited {waited_took:?}");
    assert!(
        asked_took + ms(600) < waited_took,
        "asked: {asked_took:?}, waited: {waited_took:?}"
    );
}
