//! RTP ingest of one live session: one tokio task owns the socket (UDP, TCP passive or TCP
//! active with RFC 4571 framing) and the stream [`Pipeline`], publishes to the [`Hub`],
//! reports "first key frame ready" (and "started mid-GOP", to ask the device for a key
//! frame) and ends after `rtp_timeout` without RTP. A UDP session also reads RTCP on the
//! next port and answers with receiver reports (a task of its own, off the RTP path).
//!
//! Untrusted input: over UDP the stream is tied to the address its played SSRC comes from,
//! and datagrams from elsewhere are dropped before they cost a copy (the expected SSRC may
//! still take over, and a source silent for [`SOURCE_SILENCE`] may be replaced, for
//! devices that restart or move behind NAT); over TCP passive only the device's addresses
//! may connect, one connection at a time. What one session holds is bounded: the reorder
//! window of 128 datagrams of at most 16 KiB, one demuxed frame, the hub's GOP cache.

use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use serde::Serialize;
use tokio::io::{AsyncReadExt, Interest};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use vigil_media::rtp::Rfc4571Deframer;

use super::hub::Hub;
use super::pipeline::{Payload, Pipeline, REORDER_DELAY, StreamStats};
use super::ports::RtpPort;
use super::rtcp::{self, LastSr, ReceptionSnapshot, ReportState};
use super::udp_batch::{self, RecvBatch};

/// Datagrams are copied into chunks of this size and handed on as `Bytes` slices of them:
/// one allocation per ~11 packets instead of one per packet.
const CHUNK: usize = 16 * 1024;
/// TCP read size.
const TCP_READ: usize = 16 * 1024;
/// How often the stats snapshot behind `IngestHandle::stats` is refreshed while RTP flows.
const STATS_EVERY: Duration = Duration::from_millis(250);
/// `recvmmsg` batches read per wake-up before yielding to the runtime (fairness).
const ROUNDS: usize = 4;
/// How often a TCP active session retries connecting to the device.
const CONNECT_RETRY: Duration = Duration::from_millis(300);
/// A UDP source silent this long may be replaced by another address.
pub const SOURCE_SILENCE: Duration = Duration::from_secs(2);
/// Refused TCP connections (wrong address, second connection) logged per session; later
/// ones are only counted, so a connection flood cannot flood the log.
const REFUSALS_LOGGED: u64 = 10;

/// How long the media thread sleeps between turns while sessions run (see
/// [`media_runtime`]).
const MEDIA_TICK: Duration = Duration::from_millis(1);

/// Session wake-ups by packets a second above which the media thread ticks, and below
/// which it parks again. Measured with `vigil sim` cameras (25 fps, ~3 packets a frame):
/// 100 streams wake sessions ~1,000 times a second, and ticking costs more than it saves
/// (+1 % of a core); 1,000 streams wake them 3,000-12,000 times a second, and ticking
/// saves a quarter of the ingest CPU.
const TICK_ABOVE: f64 = 4_000.0;
const PARK_BELOW: f64 = 2_000.0;
/// How often the media thread looks at the wake-up rate.
const MEDIA_WINDOW: Duration = Duration::from_millis(100);

/// Sessions running on the media thread, and a wake-up for it when the first one starts.
static MEDIA_SESSIONS: AtomicUsize = AtomicUsize::new(0);
static MEDIA_BUSY: tokio::sync::Notify = tokio::sync::Notify::const_new();
/// Session wake-ups by arriving packets (the media thread's load).
static MEDIA_WAKES: AtomicU64 = AtomicU64::new(0);

/// The runtime every ingest session (its sockets, timers and task) runs on: one thread of
/// its own, apart from the API and SIP. Cameras' packets arrive in thousands of small
/// bursts a second; woken by each, a thread spends most of its time going to sleep and
/// waking up (a quarter of the ingest CPU at 1,000 streams, measured). When packets wake
/// sessions more than [`TICK_ABOVE`] times a second, this thread instead sleeps
/// [`MEDIA_TICK`] between turns and takes whatever arrived meanwhile in one turn (one
/// `epoll_wait` without waiting, then every session that got packets), at most 1 ms later:
/// nothing next to the 50 ms reorder wait. Under lighter load it parks like any runtime.
pub fn media_runtime() -> tokio::runtime::Handle {
    static HANDLE: OnceLock<tokio::runtime::Handle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::Builder::new()
                .name("vigil-media".into())
                .spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .expect("media runtime");
                    let _ = tx.send(rt.handle().clone());
                    rt.block_on(async {
                        let mut ticking = false;
                        loop {
                            if MEDIA_SESSIONS.load(Ordering::Relaxed) == 0 {
                                ticking = false;
                                MEDIA_BUSY.notified().await;
                                continue;
                            }
                            let (start, wakes) =
                                (Instant::now(), MEDIA_WAKES.load(Ordering::Relaxed));
                            if ticking {
                                while start.elapsed() < MEDIA_WINDOW {
                                    // Blocking on purpose: the tasks run when this yields.
                                    std::thread::sleep(MEDIA_TICK);
                                    tokio::task::yield_now().await;
                                }
                            } else {
                                tokio::time::sleep(MEDIA_WINDOW).await;
                            }
                            let n = MEDIA_WAKES.load(Ordering::Relaxed) - wakes;
                            let rate = n as f64 / start.elapsed().as_secs_f64();
                            let tick = rate > if ticking { PARK_BELOW } else { TICK_ABOVE };
                            if tick != ticking {
                                tracing::debug!(rate, tick, "media thread switches its pace");
                            }
                            ticking = tick;
                        }
                    });
                })
                .expect("spawning the media thread");
            rx.recv().expect("the media runtime starts")
        })
        .clone()
}

thread_local! {
    /// Receive buffers of the worker thread running UDP sessions.
    static SCRATCH: std::cell::RefCell<RecvBatch> = std::cell::RefCell::new(RecvBatch::new());
}

/// How RTP reaches us.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum IngestTransport {
    /// RTP over UDP to our port.
    Udp,
    /// We listen on our port; the device connects (`a=setup:passive` in our offer).
    TcpPassive,
    /// We connect to the device's address from its SDP answer (`a=setup:active` offer).
    TcpActive { remote: SocketAddr },
}

/// What [`IngestSession::start`] needs.
#[derive(Debug)]
pub struct IngestConfig {
    pub transport: IngestTransport,
    /// From [`super::RtpPorts::allocate`]; freed when the session ends.
    pub port: RtpPort,
    /// The SSRC of the SDP `y=` line. A different one is played anyway (and counted).
    pub expected_ssrc: Option<u32>,
    /// `media.rtp_timeout`: no RTP for this long ends the session. TCP sessions also end
    /// when the device has not connected (or could not be reached) within it.
    pub rtp_timeout: Duration,
    /// From the SDP answer's `a=rtpmap` lines; PT 96 = PS and 98 = H.264 without them.
    pub payload_types: Vec<(u8, Payload)>,
    /// TCP passive: the addresses the device may connect from (its SIP source address,
    /// the SDP answer's `c=`); any address when empty.
    pub allowed_peers: Vec<IpAddr>,
    /// Mean interval of RTCP receiver reports ([`rtcp::REPORT_INTERVAL`]).
    pub report_interval: Duration,
}

impl IngestConfig {
    pub fn new(transport: IngestTransport, port: RtpPort, rtp_timeout: Duration) -> Self {
        Self {
            transport,
            port,
            expected_ssrc: None,
            rtp_timeout,
            payload_types: Vec::new(),
            allowed_peers: Vec::new(),
            report_interval: rtcp::REPORT_INTERVAL,
        }
    }

    /// TCP passive: accept connections from `ip` (and the other allowed ones) only.
    pub fn allow_peer(mut self, ip: IpAddr) -> Self {
        if !self.allowed_peers.contains(&ip) {
            self.allowed_peers.push(ip);
        }
        self
    }

    /// What a payload type carries, from `a=rtpmap:<pt> <encoding>/90000` (see
    /// [`Payload::from_encoding`]).
    pub fn payload_type(mut self, pt: u8, payload: Payload) -> Self {
        self.payload_types.push((pt, payload));
        self
    }

    pub fn expected_ssrc(mut self, ssrc: u32) -> Self {
        self.expected_ssrc = Some(ssrc);
        self
    }
}

/// Why a session ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(rename_all = "snake_case", tag = "reason", content = "detail")]
pub enum EndReason {
    #[error("stopped")]
    Stopped,
    #[error("no RTP for {0:?}")]
    RtpTimeout(Duration),
    /// TCP active only: a TCP passive session waits (within `rtp_timeout`) for the device
    /// to connect again.
    #[error("the device closed the TCP connection")]
    PeerClosed,
    #[error("could not connect to the device: {0}")]
    ConnectFailed(String),
    #[error("socket error: {0}")]
    Io(String),
}

/// Where a session is.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Phase {
    Waiting,
    Playing,
    Ended(EndReason),
}

/// A snapshot of a session's state for the API and metrics.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IngestStats {
    pub transport: IngestTransport,
    pub local_port: u16,
    /// The device's address, once it sent something (or we connected).
    pub remote: Option<SocketAddr>,
    /// Unix milliseconds.
    pub started_at_ms: i64,
    pub last_packet_at_ms: Option<i64>,
    /// TCP passive: connections refused (another address, or a second connection).
    pub tcp_refused: u64,
    #[serde(flatten)]
    pub stream: StreamStats,
}

/// The session's state shared with its handle; written every `STATS_EVERY`.
#[derive(Debug)]
struct Shared {
    stats: Mutex<IngestStats>,
    /// For receiver reports, refreshed with the stats.
    reception: Mutex<Option<ReceptionSnapshot>>,
    /// Kept by the RTCP task; added to the pipeline's counts in `stats()`.
    rtcp_packets: AtomicU64,
    rtcp_sender_reports: AtomicU64,
    rtcp_receiver_reports: AtomicU64,
}

/// Namespace for starting sessions.
#[derive(Debug)]
pub struct IngestSession;

impl IngestSession {
    /// Starts the session task on the port's bound socket (UDP) or listener (TCP passive);
    /// TCP active connects inside the task, retrying until `rtp_timeout`. Call it within
    /// the tokio runtime. When the session ends the hub is closed and the port freed.
    pub fn start(cfg: IngestConfig, hub: Hub) -> io::Result<IngestHandle> {
        let IngestConfig {
            transport,
            mut port,
            expected_ssrc,
            rtp_timeout,
            payload_types,
            allowed_peers,
            report_interval,
        } = cfg;
        // The sockets register with the media thread's runtime, which polls them.
        let media = media_runtime();
        let _in_media = media.enter();
        let mut rtcp_socket = None;
        let socket = match transport {
            IngestTransport::Udp => {
                let s = port
                    .take_udp()
                    .ok_or_else(|| io::Error::other("RTP port's UDP socket already used"))?;
                drop(port.take_tcp());
                if let Some(r) = port.take_rtcp() {
                    rtcp_socket = Some(UdpSocket::from_std(r)?);
                }
                Socket::Udp(UdpSocket::from_std(s)?)
            }
            IngestTransport::TcpPassive => {
                let l = port
                    .take_tcp()
                    .ok_or_else(|| io::Error::other("RTP port's TCP listener already used"))?;
                drop(port.take_udp());
                Socket::Listen(TcpListener::from_std(l)?)
            }
            IngestTransport::TcpActive { remote } => {
                drop(port.take_udp());
                drop(port.take_tcp());
                Socket::Connect(remote)
            }
        };
        let started_at_ms = crate::platform::unix_ms();
        let shared = Arc::new(Shared {
            stats: Mutex::new(IngestStats {
                transport,
                local_port: port.port(),
                remote: None,
                started_at_ms,
                last_packet_at_ms: None,
                tcp_refused: 0,
                stream: StreamStats::default(),
            }),
            reception: Mutex::new(None),
            rtcp_packets: AtomicU64::new(0),
            rtcp_sender_reports: AtomicU64::new(0),
            rtcp_receiver_reports: AtomicU64::new(0),
        });
        let (phase_tx, phase) = watch::channel(Phase::Waiting);
        let (wants_key_tx, wants_key) = watch::channel(false);
        let stop = CancellationToken::new();
        let rtcp = rtcp_socket.map(|s| {
            let stop = stop.child_token();
            let task = media.spawn(run_rtcp(s, shared.clone(), report_interval, stop.clone()));
            (stop, task)
        });
        let reorder_delay = match transport {
            IngestTransport::Udp => REORDER_DELAY,
            _ => Duration::ZERO,
        };
        let mut pipeline = Pipeline::new(hub.clone(), expected_ssrc, reorder_delay);
        for (pt, payload) in payload_types {
            pipeline.map_payload_type(pt, payload);
        }
        let driver = Driver {
            pipeline,
            shared: shared.clone(),
            phase: phase_tx,
            wants_key: wants_key_tx,
            stop: stop.clone(),
            rtcp,
            allowed_peers,
            source: None,
            refused: 0,
            rtp_timeout,
            started: Instant::now(),
            started_at_ms,
            last_packet: None,
            last_publish: Instant::now(),
        };
        tracing::info!(
            port = port.port(),
            ?transport,
            ?expected_ssrc,
            "RTP ingest started"
        );
        MEDIA_SESSIONS.fetch_add(1, Ordering::Relaxed);
        MEDIA_BUSY.notify_one();
        media.spawn(driver.run(socket, port));
        Ok(IngestHandle {
            shared,
            phase,
            wants_key,
            stop,
            hub,
        })
    }
}

/// The owner's handle of a running session. Dropping it stops the session.
#[derive(Debug)]
pub struct IngestHandle {
    shared: Arc<Shared>,
    phase: watch::Receiver<Phase>,
    wants_key: watch::Receiver<bool>,
    stop: CancellationToken,
    hub: Hub,
}

impl IngestHandle {
    /// Counters and stream facts (refreshed every 250 ms while RTP flows, and at the first
    /// key frame and the end; fps and bitrate are over the last second).
    pub fn stats(&self) -> IngestStats {
        let mut s = self
            .shared
            .stats
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let sh = &self.shared;
        s.stream.rtcp_packets += sh.rtcp_packets.load(Ordering::Relaxed);
        s.stream.rtcp_sender_reports += sh.rtcp_sender_reports.load(Ordering::Relaxed);
        s.stream.rtcp_receiver_reports += sh.rtcp_receiver_reports.load(Ordering::Relaxed);
        s
    }

    /// Resolves (once) when the stream started mid-GOP: frames arrive, none of them a key
    /// frame yet. The owner may ask the device for one (`IFameCmd`). Never resolves for a
    /// stream that starts with a key frame.
    pub fn key_frame_wanted(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut rx = self.wants_key.clone();
        async move {
            if rx.wait_for(|w| *w).await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }

    pub fn hub(&self) -> &Hub {
        &self.hub
    }

    /// Resolves when the first key frame is in the hub (viewers see a picture at once), or
    /// with the reason if the session ended first.
    pub fn first_keyframe(&self) -> impl Future<Output = Result<(), EndReason>> + Send + 'static {
        let mut rx = self.phase.clone();
        async move {
            let r = rx.wait_for(|p| *p != Phase::Waiting).await;
            match r.as_deref() {
                Ok(Phase::Playing) => Ok(()),
                Ok(Phase::Ended(e)) => Err(e.clone()),
                _ => Err(EndReason::Stopped),
            }
        }
    }

    /// Resolves when the session ended, with why.
    pub fn ended(&self) -> impl Future<Output = EndReason> + Send + 'static {
        let mut rx = self.phase.clone();
        async move {
            let r = rx.wait_for(|p| matches!(p, Phase::Ended(_))).await;
            match r.as_deref() {
                Ok(Phase::Ended(e)) => e.clone(),
                _ => EndReason::Stopped,
            }
        }
    }

    pub fn is_ended(&self) -> bool {
        matches!(*self.phase.borrow(), Phase::Ended(_))
    }

    /// Ends the session (the hub closes, the port is freed); `ended()` gives `Stopped`.
    pub fn stop(&self) {
        self.stop.cancel();
    }
}

impl Drop for IngestHandle {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

enum Socket {
    Udp(UdpSocket),
    Listen(TcpListener),
    Connect(SocketAddr),
}

/// The session task's state.
struct Driver {
    pipeline: Pipeline,
    shared: Arc<Shared>,
    phase: watch::Sender<Phase>,
    wants_key: watch::Sender<bool>,
    stop: CancellationToken,
    /// The RTCP task (UDP) and its stop.
    rtcp: Option<(CancellationToken, JoinHandle<()>)>,
    /// TCP passive: who may connect (anyone when empty).
    allowed_peers: Vec<IpAddr>,
    /// UDP: the address the played stream comes from, and when it last sent.
    source: Option<(SocketAddr, Instant)>,
    /// TCP connections refused so far.
    refused: u64,
    rtp_timeout: Duration,
    started: Instant,
    started_at_ms: i64,
    last_packet: Option<Instant>,
    last_publish: Instant,
}

impl Driver {
    async fn run(mut self, socket: Socket, port: RtpPort) {
        let reason = match socket {
            Socket::Udp(s) => self.run_udp(s).await,
            Socket::Listen(l) => self.run_passive(l).await,
            Socket::Connect(remote) => match self.connect(remote).await {
                Ok(stream) => self.run_tcp(stream, None).await,
                Err(reason) => reason,
            },
        };
        self.pipeline.finish();
        if let Some((stop, task)) = self.rtcp.take() {
            // Ended before the port is freed, so its RTCP socket goes with it.
            stop.cancel();
            let _ = task.await;
        }
        self.publish_stats();
        let s = self.pipeline.stats();
        tracing::info!(
            port = port.port(),
            %reason,
            received = s.packets_received,
            lost = s.packets_lost,
            frames = s.frames,
            "RTP ingest ended"
        );
        drop(port);
        self.phase.send_replace(Phase::Ended(reason));
        MEDIA_SESSIONS.fetch_sub(1, Ordering::Relaxed);
    }

    /// When the session times out without RTP.
    fn timeout_at(&self) -> Instant {
        self.last_packet.unwrap_or(self.started) + self.rtp_timeout
    }

    /// Handles one packet. Cheap: no clock calls or locks beyond the pipeline's, except
    /// once a second for the stats snapshot.
    fn packet(&mut self, now: Instant, datagram: Bytes) -> bool {
        self.last_packet = Some(now);
        let progress = self.pipeline.push(now.into_std(), datagram);
        if progress.key_frame_wanted {
            self.wants_key.send_replace(true);
        }
        if progress.first_key_frame {
            self.publish_stats();
            self.phase.send_replace(Phase::Playing);
        } else if now.duration_since(self.last_publish) >= STATS_EVERY {
            self.publish_stats();
        }
        progress.accepted
    }

    /// Whether a UDP datagram from `from` may reach the pipeline: anything while no source
    /// is known; then only the source's, unless it fell silent, or the datagram brings the
    /// expected SSRC the stream did not have (the device's real stream after a stray one).
    fn admit(&mut self, now: Instant, from: SocketAddr, datagram: &[u8]) -> bool {
        let Some((source, last)) = self.source else {
            return true;
        };
        if source == from || now.duration_since(last) >= SOURCE_SILENCE {
            return true;
        }
        let expected = self.pipeline.expected_ssrc();
        let ssrc = datagram
            .get(8..12)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
        if expected.is_some() && ssrc == expected && self.pipeline.ssrc() != expected {
            return true;
        }
        self.pipeline.count_other_source();
        false
    }

    /// Handles one UDP datagram from the receive batch.
    fn datagram(&mut self, now: Instant, chunk: &mut BytesMut, data: &[u8], from: SocketAddr) {
        if !self.admit(now, from, data) {
            return;
        }
        if self.packet(now, copy_into(chunk, data)) && self.source.is_none_or(|(s, _)| s != from) {
            if self.source.is_some() {
                tracing::info!(%from, "RTP source changed");
            }
            self.source = Some((from, now));
            self.set_remote(from);
        } else if let Some((s, at)) = &mut self.source
            && *s == from
        {
            *at = now;
        }
    }

    fn publish_stats(&mut self) {
        self.last_publish = Instant::now();
        let last_packet_at_ms = self
            .last_packet
            .map(|t| self.started_at_ms + t.duration_since(self.started).as_millis() as i64);
        {
            let mut s = self.shared.stats.lock().unwrap_or_else(|e| e.into_inner());
            s.stream = self.pipeline.stats();
            s.last_packet_at_ms = last_packet_at_ms;
            s.tcp_refused = self.refused;
        }
        if self.rtcp.is_some() {
            *self
                .shared
                .reception
                .lock()
                .unwrap_or_else(|e| e.into_inner()) = self.pipeline.reception();
        }
    }

    fn set_remote(&self, remote: SocketAddr) {
        let mut s = self.shared.stats.lock().unwrap_or_else(|e| e.into_inner());
        s.remote = Some(remote);
    }

    /// The next time the loop must wake without input: the RTP timeout or a reorder gap.
    fn wake_at(&self) -> Instant {
        let timeout = self.timeout_at();
        match self.pipeline.next_deadline() {
            Some(d) => timeout.min(Instant::from_std(d)),
            None => timeout,
        }
    }

    /// The timer fired: a gap may have timed out, or the stream stalled.
    fn on_wake(&mut self) -> Option<EndReason> {
        let now = Instant::now();
        if now >= self.timeout_at() {
            return Some(EndReason::RtpTimeout(self.rtp_timeout));
        }
        let progress = self.pipeline.on_timer(now.into_std());
        if progress.key_frame_wanted {
            self.wants_key.send_replace(true);
        }
        if progress.first_key_frame {
            self.publish_stats();
            self.phase.send_replace(Phase::Playing);
        }
        None
    }

    async fn run_udp(&mut self, sock: UdpSocket) -> EndReason {
        let mut chunk = BytesMut::with_capacity(CHUNK);
        let stop = self.stop.clone();
        // Created once: a fresh `cancelled()` per packet would register a waiter each time.
        let cancelled = stop.cancelled();
        tokio::pin!(cancelled);
        let timer = tokio::time::sleep_until(self.wake_at());
        tokio::pin!(timer);
        let mut armed = self.wake_at();
        loop {
            tokio::select! {
                biased;
                _ = &mut cancelled => return EndReason::Stopped,
                r = sock.readable() => {
                    if let Err(e) = r {
                        return EndReason::Io(e.to_string());
                    }
                    MEDIA_WAKES.fetch_add(1, Ordering::Relaxed);
                    let now = Instant::now();
                    // Drain what is queued (bounded, to stay fair to other sessions) with one
                    // system call per batch into the worker thread's buffers (shared by the
                    // thread's sessions; no borrow across an await).
                    for _ in 0..ROUNDS {
                        match SCRATCH.with_borrow_mut(|b| self.recv_batch(&sock, b, now, &mut chunk)) {
                            Ok(true) => {}
                            Ok(false) => break,
                            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                            // ICMP errors of earlier sends surface here on some systems.
                            Err(e) if is_transient(&e) => continue,
                            Err(e) => return EndReason::Io(e.to_string()),
                        }
                    }
                }
                _ = &mut timer => {
                    if let Some(reason) = self.on_wake() {
                        return reason;
                    }
                }
            }
            // Re-arming a timer per packet is costly; the RTP timeout is re-checked only when
            // the timer fires, so it only moves for an earlier reorder deadline or after firing.
            let want = self.wake_at();
            if want < armed || timer.is_elapsed() {
                armed = want;
                timer.as_mut().reset(want);
            }
        }
    }

    /// One `recvmmsg` and the datagrams it got; `Ok(true)` when the batch was full (more
    /// may be queued). A short batch means the socket was empty at the time of the call:
    /// the readiness is cleared then (by reporting `WouldBlock` to tokio), which saves the
    /// extra call that would only find the queue empty. A datagram arriving after the call
    /// raises readiness again (tokio clears it only if no new event came since).
    fn recv_batch(
        &mut self,
        sock: &UdpSocket,
        batch: &mut RecvBatch,
        now: Instant,
        chunk: &mut BytesMut,
    ) -> io::Result<bool> {
        let mut got = 0;
        let r = sock.try_io(Interest::READABLE, || {
            got = batch.recv(sock)?;
            if got < udp_batch::BATCH {
                Err(io::ErrorKind::WouldBlock.into())
            } else {
                Ok(())
            }
        });
        for i in 0..got {
            let (data, meta) = batch.datagram(i);
            match meta.from {
                Some(from) if meta.truncated => {
                    if self.admit(now, from, data) {
                        self.pipeline.count_invalid();
                    }
                }
                Some(from) => self.datagram(now, chunk, data, from),
                None => self.pipeline.count_invalid(),
            }
        }
        match r {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && got > 0 => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// TCP passive: the device connects, and may reconnect while `rtp_timeout` allows.
    async fn run_passive(&mut self, listener: TcpListener) -> EndReason {
        loop {
            let stream = match self.accept(&listener).await {
                Ok(s) => s,
                Err(reason) => return reason,
            };
            match self.run_tcp(stream, Some(&listener)).await {
                EndReason::PeerClosed => {
                    tracing::debug!(
                        "RTP TCP connection closed; waiting for the device to reconnect"
                    );
                }
                reason => return reason,
            }
        }
    }

    async fn accept(&mut self, listener: &TcpListener) -> Result<TcpStream, EndReason> {
        loop {
            tokio::select! {
                _ = self.stop.cancelled() => return Err(EndReason::Stopped),
                _ = tokio::time::sleep_until(self.timeout_at()) => return Err(EndReason::RtpTimeout(self.rtp_timeout)),
                r = listener.accept() => match r {
                    Ok((stream, remote)) => {
                        if !self.peer_allowed(remote) {
                            self.refuse(stream, remote, "not the device's address");
                            continue;
                        }
                        self.set_remote(remote);
                        let _ = stream.set_nodelay(true);
                        return Ok(stream);
                    }
                    // Per-connection failures (the peer gave up before the accept).
                    Err(e) if is_transient(&e) || e.kind() == io::ErrorKind::ConnectionAborted => continue,
                    Err(e) => return Err(EndReason::Io(e.to_string())),
                },
            }
        }
    }

    fn peer_allowed(&self, remote: SocketAddr) -> bool {
        let ip = remote.ip().to_canonical();
        self.allowed_peers.is_empty() || self.allowed_peers.iter().any(|a| a.to_canonical() == ip)
    }

    /// Closes a connection the session does not take, with a log line (the first few).
    fn refuse(&mut self, stream: TcpStream, remote: SocketAddr, why: &str) {
        drop(stream);
        self.refused += 1;
        if self.refused <= REFUSALS_LOGGED {
            tracing::warn!(%remote, allowed = ?self.allowed_peers, why, "RTP TCP connection refused");
        }
        self.publish_stats();
    }

    async fn connect(&mut self, remote: SocketAddr) -> Result<TcpStream, EndReason> {
        let mut last_error = String::from("timed out");
        loop {
            let attempt = tokio::time::timeout_at(self.timeout_at(), TcpStream::connect(remote));
            tokio::select! {
                _ = self.stop.cancelled() => return Err(EndReason::Stopped),
                r = attempt => match r {
                    Ok(Ok(stream)) => {
                        self.set_remote(remote);
                        let _ = stream.set_nodelay(true);
                        return Ok(stream);
                    }
                    Ok(Err(e)) => last_error = e.to_string(),
                    Err(_) => return Err(EndReason::ConnectFailed(last_error)),
                },
            }
            // The device may open its listener only after answering the INVITE.
            if Instant::now() + CONNECT_RETRY >= self.timeout_at() {
                return Err(EndReason::ConnectFailed(last_error));
            }
            tokio::select! {
                _ = self.stop.cancelled() => return Err(EndReason::Stopped),
                _ = tokio::time::sleep(CONNECT_RETRY) => {}
            }
        }
    }

    /// Reads RFC 4571 frames until the connection ends. With `listener` (TCP passive), a
    /// newer connection replaces one that has not delivered any RTP (a port scanner or a
    /// half-dead first attempt must not block the device).
    async fn run_tcp(
        &mut self,
        mut stream: TcpStream,
        listener: Option<&TcpListener>,
    ) -> EndReason {
        let mut scratch = BytesMut::with_capacity(TCP_READ);
        let mut deframer = Rfc4571Deframer::new();
        let mut received_before = self.pipeline.packets_received();
        let stop = self.stop.clone();
        let cancelled = stop.cancelled();
        tokio::pin!(cancelled);
        let timer = tokio::time::sleep_until(self.wake_at());
        tokio::pin!(timer);
        let mut armed = self.wake_at();
        loop {
            tokio::select! {
                biased;
                _ = &mut cancelled => return EndReason::Stopped,
                r = stream.read_buf(&mut scratch) => {
                    let n = match r {
                        Ok(0) => return EndReason::PeerClosed,
                        Ok(n) => n,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {
                            return EndReason::PeerClosed;
                        }
                        Err(e) => return EndReason::Io(e.to_string()),
                    };
                    MEDIA_WAKES.fetch_add(1, Ordering::Relaxed);
                    let now = Instant::now();
                    // Bounded: at most one partial 64 KiB frame stays buffered.
                    deframer.push(&scratch[..n]);
                    scratch.clear();
                    while let Some(packet) = deframer.pull() {
                        self.packet(now, packet);
                    }
                }
                r = accept_if(listener) => {
                    if let Ok((newer, remote)) = r {
                        if !self.peer_allowed(remote) {
                            self.refuse(newer, remote, "not the device's address");
                        } else if self.pipeline.packets_received() == received_before {
                            // A half-dead first attempt of the device must not block it.
                            tracing::debug!(%remote, "replacing a silent RTP TCP connection");
                            let _ = newer.set_nodelay(true);
                            self.set_remote(remote);
                            stream = newer;
                            deframer = Rfc4571Deframer::new();
                            received_before = self.pipeline.packets_received();
                        } else {
                            self.refuse(newer, remote, "the session has its connection");
                        }
                    }
                }
                _ = &mut timer => {
                    if let Some(reason) = self.on_wake() {
                        return reason;
                    }
                }
            }
            let want = self.wake_at();
            if want < armed || timer.is_elapsed() {
                armed = want;
                timer.as_mut().reset(want);
            }
        }
    }
}

/// The RTCP side of a UDP session: counts what arrives on port + 1 (remembering the last
/// sender report and where reports come from) and sends a receiver report there about every
/// `report_interval` (RFC 3550 6.2, randomized). No report goes out before the device sent
/// RTCP: its RTCP address is only known from that.
async fn run_rtcp(
    sock: UdpSocket,
    shared: Arc<Shared>,
    report_interval: Duration,
    stop: CancellationToken,
) {
    let own_ssrc: u32 = rand::random();
    let mut buf = vec![0u8; rtcp::MAX_RTCP];
    let mut out = Vec::with_capacity(64);
    let mut peer: Option<SocketAddr> = None;
    let mut last_sr: Option<LastSr> = None;
    let mut state = ReportState::default();
    let interval = || report_interval.mul_f64(0.5 + rand::random::<f64>());
    let mut next = Instant::now() + interval();
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            r = sock.recv_from(&mut buf) => match r {
                Ok((n, from)) => {
                    let Some(c) = rtcp::parse(&buf[..n]) else { continue };
                    shared.rtcp_packets.fetch_add(1, Ordering::Relaxed);
                    if let Some((_, lsr)) = c.sender_report {
                        shared.rtcp_sender_reports.fetch_add(1, Ordering::Relaxed);
                        last_sr = Some(LastSr { lsr, at: Instant::now().into_std() });
                    }
                    if c.bye {
                        tracing::debug!(%from, "RTCP BYE from the device");
                    }
                    peer = Some(from);
                }
                Err(e) if is_transient(&e) => continue,
                Err(e) => {
                    tracing::debug!(error = %e, "RTCP socket failed");
                    return;
                }
            },
            _ = tokio::time::sleep_until(next) => {
                next = Instant::now() + interval();
                let source = *shared.reception.lock().unwrap_or_else(|e| e.into_inner());
                let (Some(to), Some(source)) = (peer, source) else { continue };
                out.clear();
                rtcp::write_receiver_report(&mut out, own_ssrc, &source, &mut state, last_sr, Instant::now().into_std());
                if sock.send_to(&out, to).await.is_ok() {
                    shared.rtcp_receiver_reports.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }
}

/// Accepts on `listener`, or never.
async fn accept_if(listener: Option<&TcpListener>) -> io::Result<(TcpStream, SocketAddr)> {
    match listener {
        Some(l) => l.accept().await,
        None => std::future::pending().await,
    }
}

fn is_transient(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock
    )
}

/// Copies a datagram into the shared chunk and returns it as its own `Bytes`.
fn copy_into(chunk: &mut BytesMut, data: &[u8]) -> Bytes {
    if chunk.capacity() < data.len() {
        // The old chunk lives on while packets that point into it do.
        *chunk = BytesMut::with_capacity(CHUNK.max(data.len()));
    }
    chunk.extend_from_slice(data);
    chunk.split().freeze()
}
