//! The tokio side of the simulator: one task owns every device machine, a timer heap with
//! one armed entry per device, the shared UDP sockets and a sender per TCP connection.
//! Readers (one task per UDP socket, one per TCP connection) parse what arrives and queue
//! it here; UDP messages are routed to a device by the IDs they carry (From user for
//! responses, Request-URI or To user for requests, channel IDs included).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, UdpSocket};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use vigil_gb::DeviceId;
use vigil_sip::stream::{Frame, KeepAlive, StreamFramer};
use vigil_sip::{Message, Method, Response};

use super::device::{Device, DeviceSetup, Output, Profile, SimTransport};
use super::media::{Media, MediaDown};
use super::status::SimStatus;
use super::{DeviceCmd, IdPlan, SimConfig, SimError, SimHandle};

/// Messages queued from readers to the driver before readers wait.
const INBOUND_QUEUE: usize = 16_384;
/// Messages queued per TCP connection before sends count as errors.
const TCP_QUEUE: usize = 64;
/// How long a TCP connect may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Inbound messages handled per wake-up before timers get a turn.
const INBOUND_BATCH: usize = 512;

#[derive(Debug)]
enum Inbound {
    Udp {
        sock: usize,
        msg: Message,
        from: SocketAddr,
    },
    Tcp {
        dev: usize,
        msg: Message,
        from: SocketAddr,
    },
    TcpUp {
        dev: usize,
        link: u64,
        local: SocketAddr,
    },
    TcpDown {
        dev: usize,
        link: u64,
    },
}

#[derive(Debug)]
struct Link {
    id: u64,
    tx: mpsc::Sender<Bytes>,
}

#[derive(Debug)]
struct Slot {
    /// The heap entry that counts for this device (others are stale).
    armed: Option<Instant>,
    started: bool,
    sock: usize,
    link: Option<Link>,
}

struct Driver {
    profile: Arc<Profile>,
    devices: Vec<Device>,
    slots: Vec<Slot>,
    heap: BinaryHeap<Reverse<(Instant, usize)>>,
    by_id: HashMap<DeviceId, usize>,
    udp: Vec<Arc<UdpSocket>>,
    bind_ip: IpAddr,
    inbound_tx: mpsc::Sender<Inbound>,
    status: watch::Sender<SimStatus>,
    pending: Vec<(usize, super::Event)>,
    send_errors: u64,
    next_link: u64,
    stop: CancellationToken,
    media: Media,
    /// When RTP counters were last published.
    media_published: Instant,
}

fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

pub(super) async fn start(config: SimConfig) -> Result<SimHandle, SimError> {
    if config.devices == 0 {
        return Err(SimError::Config("devices must be at least 1".into()));
    }
    if config.keepalive_interval.is_zero() {
        return Err(SimError::Config(
            "keepalive interval must be above 0".into(),
        ));
    }
    if config.rate.is_nan() || config.rate < 0.0 {
        return Err(SimError::Config(format!(
            "rate {} is not a number of devices per second",
            config.rate
        )));
    }
    let plan = IdPlan::new(
        &config.id_prefix,
        config.first_serial,
        config.devices,
        config.channels,
    )?;
    let mut profile = Profile::new(
        config.server,
        &config.server_id,
        &config.domain,
        config.transport,
        config.keepalive_interval,
        config.register_expires,
        config.charset,
        config.catalog_page,
        config.retry_interval,
    )
    .map_err(SimError::Config)?;
    profile.invite = config.media.invite;
    profile.ignore_first_ack = config.media.ignore_first_ack;
    profile.raw_h264 = config.media.raw_h264 && config.media.codec == vigil_media::VideoCodec::H264;
    let profile = Arc::new(profile);
    let frames = config
        .media
        .frames()
        .map_err(|e| SimError::Config(format!("media clip: {e}")))?;
    let ip = match config.bind_ip {
        Some(ip) if !ip.is_unspecified() => ip,
        _ => route_ip(config.server).map_err(|source| SimError::Io {
            what: format!("finding the local address that reaches {}", config.server),
            source,
        })?,
    };
    if config.transport == SimTransport::Tcp {
        check_fd_limit(config.devices)?;
    }

    let stop = CancellationToken::new();
    let (inbound_tx, inbound_rx) = mpsc::channel(INBOUND_QUEUE);
    let mut udp = Vec::new();
    if config.transport == SimTransport::Udp {
        let n = match config.udp_sockets {
            0 => config.devices.div_ceil(2500).clamp(1, 8),
            n => n.min(config.devices),
        };
        for k in 0..n {
            let sock = bind_udp(SocketAddr::new(ip, 0)).map_err(|source| SimError::Io {
                what: format!("binding a UDP socket on {ip}"),
                source,
            })?;
            let sock = Arc::new(sock);
            tokio::spawn(udp_reader(
                k,
                sock.clone(),
                inbound_tx.clone(),
                stop.clone(),
            ));
            udp.push(sock);
        }
    }
    let udp_local: Vec<SocketAddr> = udp.iter().filter_map(|s| s.local_addr().ok()).collect();

    let seed = config.seed.unwrap_or_else(rand::random);
    let rtp_sock = bind_udp(SocketAddr::new(ip, 0)).map_err(|source| SimError::Io {
        what: format!("binding the RTP socket on {ip}"),
        source,
    })?;
    let (down_tx, down_rx) = mpsc::channel(1024);
    let media = Media::new(
        config.media.clone(),
        frames,
        Arc::new(rtp_sock),
        ip,
        seed,
        down_tx,
        stop.clone(),
    );
    let mut devices = Vec::with_capacity(config.devices);
    let mut slots = Vec::with_capacity(config.devices);
    let mut by_id = HashMap::with_capacity(config.devices * (config.channels + 1));
    for i in 0..config.devices {
        let id = plan.device(i);
        let channels: Vec<DeviceId> = (0..config.channels).map(|j| plan.channel(i, j)).collect();
        by_id.insert(id, i);
        for c in &channels {
            by_id.insert(*c, i);
        }
        let sock = i % udp.len().max(1);
        // Over TCP the connection's own address replaces this once it is open.
        let local = udp_local
            .get(sock)
            .copied()
            .unwrap_or(SocketAddr::new(ip, 5060));
        let password = match &config.password_for {
            Some(f) => f(i, &id),
            None => config.password.clone(),
        };
        devices.push(Device::new(
            profile.clone(),
            DeviceSetup {
                id,
                channels,
                password,
                local,
                seed: seed ^ (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
            },
        ));
        slots.push(Slot {
            armed: None,
            started: false,
            sock,
            link: None,
        });
    }
    let (status_tx, status_rx) = watch::channel(SimStatus::new(devices.iter().map(|d| *d.id())));

    let mut driver = Driver {
        profile,
        devices,
        slots,
        heap: BinaryHeap::new(),
        by_id,
        udp,
        bind_ip: ip,
        inbound_tx,
        status: status_tx,
        pending: Vec::new(),
        send_errors: 0,
        next_link: 1,
        stop: stop.clone(),
        media,
        media_published: now(),
    };
    let t0 = now();
    for i in 0..config.devices {
        let at = if config.rate > 0.0 && config.rate.is_finite() {
            t0 + Duration::from_secs_f64(i as f64 / config.rate)
        } else {
            t0
        };
        driver.slots[i].armed = Some(at);
        driver.heap.push(Reverse((at, i)));
    }
    let (cmd_tx, cmd_rx) = mpsc::channel(1024);
    let task = tokio::spawn(driver.run(cmd_rx, inbound_rx, down_rx));
    tracing::info!(
        devices = config.devices,
        channels = config.channels,
        transport = %config.transport,
        server = %config.server,
        local = ?udp_local,
        "simulator started"
    );
    Ok(SimHandle {
        cmds: cmd_tx,
        status: status_rx,
        plan,
        devices: config.devices,
        udp_local,
        stop: stop.clone(),
        task,
        _guard: stop.drop_guard(),
    })
}

impl Driver {
    async fn run(
        mut self,
        mut cmds: mpsc::Receiver<(usize, DeviceCmd)>,
        mut inbound: mpsc::Receiver<Inbound>,
        mut media_down: mpsc::Receiver<MediaDown>,
    ) {
        loop {
            let devices = self.heap.peek().map(|Reverse((t, _))| *t);
            let next = match (devices, self.media.next_due()) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            tokio::select! {
                biased;
                _ = self.stop.cancelled() => break,
                Some((i, cmd)) = cmds.recv() => self.on_cmd(i, cmd).await,
                Some(down) = media_down.recv() => {
                    tracing::debug!(device = %self.devices[down.dev].id(), why = %down.why, "simulated stream failed; hanging up");
                    if let Some(ch) = self.media.stop(down.dev, down.call) {
                        let active = self.media.active();
                        self.status.send_modify(|s| {
                            let c = s.channel_mut(&ch);
                            c.streaming = c.streaming.saturating_sub(1);
                            s.streams = active;
                        });
                    }
                    self.devices[down.dev].media_failed(now(), down.call);
                    self.flush(down.dev).await;
                }
                Some(first) = inbound.recv() => {
                    self.on_inbound(first).await;
                    for _ in 0..INBOUND_BATCH {
                        match inbound.try_recv() {
                            Ok(m) => self.on_inbound(m).await,
                            Err(_) => break,
                        }
                    }
                }
                _ = sleep_until(next) => self.on_timers().await,
            }
            // Frames go out on time even while SIP keeps the loop busy.
            if self.media.next_due().is_some_and(|t| t <= now()) {
                self.media.on_timer(now());
            }
            self.publish();
        }
        // Dropping the links ends the TCP tasks; the UDP readers watch `stop`.
        self.stop.cancel();
    }

    fn publish(&mut self) {
        let media = self.media_published.elapsed() >= Duration::from_millis(250)
            && self.status.borrow().rtp_packets_sent != self.media.sent;
        if self.pending.is_empty() && self.send_errors == 0 && !media {
            return;
        }
        let events = std::mem::take(&mut self.pending);
        let errors = std::mem::take(&mut self.send_errors);
        let (sent, dropped) = (self.media.sent, self.media.dropped);
        self.media_published = now();
        self.status.send_modify(|s| {
            for (i, e) in &events {
                s.apply(*i, e);
            }
            s.send_errors += errors;
            s.rtp_packets_sent = sent;
            s.rtp_packets_dropped = dropped;
        });
    }

    async fn on_cmd(&mut self, i: usize, cmd: DeviceCmd) {
        let now = now();
        // Test hooks set up a device before it powers on.
        if !matches!(
            cmd,
            DeviceCmd::Catalog(_) | DeviceCmd::Send(_) | DeviceCmd::PtzAnswer(_)
        ) {
            self.slots[i].started = true;
        }
        let d = &mut self.devices[i];
        match cmd {
            DeviceCmd::Register => d.register(now),
            DeviceCmd::Unregister => d.unregister(now),
            DeviceCmd::Unplug => {
                d.unplug();
                // A pulled cable also drops the TCP connection.
                self.slots[i].link = None;
            }
            DeviceCmd::Keepalives(on) => d.set_keepalives(on, now),
            DeviceCmd::Password(p) => d.set_password(&p),
            DeviceCmd::Catalog(c) => d.catalog_cmd(now, c),
            DeviceCmd::Hangup(channel) => d.hangup(now, channel),
            DeviceCmd::Send(body) => d.send_manscdp(now, body),
            DeviceCmd::PtzAnswer(a) => d.set_ptz_answer(a),
        }
        self.flush(i).await;
    }

    async fn on_timers(&mut self) {
        let now = now();
        while let Some(&Reverse((t, i))) = self.heap.peek() {
            if t > now {
                break;
            }
            self.heap.pop();
            if self.slots[i].armed != Some(t) {
                continue; // superseded
            }
            self.slots[i].armed = None;
            if self.slots[i].started {
                self.devices[i].handle_timeout(now);
            } else {
                self.slots[i].started = true;
                self.devices[i].register(now);
            }
            self.flush(i).await;
        }
        self.media.on_timer(now);
    }

    async fn on_inbound(&mut self, inb: Inbound) {
        match inb {
            Inbound::Udp { sock, msg, from } => match self.route(&msg) {
                Some(i) => self.deliver(i, msg, from).await,
                None => self.not_found(sock, msg, from).await,
            },
            Inbound::Tcp { dev, msg, from } => self.deliver(dev, msg, from).await,
            Inbound::TcpUp { dev, link, local } => {
                if self.slots[dev].link.as_ref().is_some_and(|l| l.id == link) {
                    self.devices[dev].set_local(local);
                }
            }
            Inbound::TcpDown { dev, link } => {
                if self.slots[dev].link.as_ref().is_some_and(|l| l.id == link) {
                    self.slots[dev].link = None;
                    self.devices[dev].connection_lost(now());
                    self.flush(dev).await;
                }
            }
        }
    }

    async fn deliver(&mut self, i: usize, msg: Message, from: SocketAddr) {
        if !self.slots[i].started {
            return; // not powered on yet
        }
        let wall_ms = crate::platform::unix_ms();
        self.devices[i].handle_message(now(), wall_ms, msg, from);
        self.flush(i).await;
    }

    /// The device a UDP message is for.
    fn route(&self, msg: &Message) -> Option<usize> {
        let user = |u: Option<&str>| u.and_then(|u| u.parse::<DeviceId>().ok());
        let id = match msg {
            Message::Response(r) => user(r.headers.from().ok()?.uri.user.as_deref())?,
            Message::Request(r) => user(r.uri.user.as_deref())
                .filter(|id| self.by_id.contains_key(id))
                .or_else(|| user(r.headers.to().ok()?.uri.user.as_deref()))?,
        };
        self.by_id.get(&id).copied()
    }

    /// A request for a device we do not simulate: 404, so the platform stops retrying.
    async fn not_found(&mut self, sock: usize, msg: Message, from: SocketAddr) {
        let Message::Request(req) = msg else {
            return;
        };
        if req.method == Method::Ack {
            return;
        }
        let resp = Response::for_request(&req, 404, "No such device here").with_to_tag("sim404");
        let to = match req.headers.top_via() {
            Ok(via) => vigil_sip::routing::response_address(&via, from),
            Err(_) => from,
        };
        if self.udp[sock].send_to(&resp.to_bytes(), to).await.is_err() {
            self.send_errors += 1;
        }
    }

    /// Sends what device `i` produced, queues its events and re-arms its timer.
    async fn flush(&mut self, i: usize) {
        while let Some(out) = self.devices[i].poll_output() {
            match out {
                Output::Transmit { to, bytes } => self.transmit(i, to, bytes).await,
                Output::Event(e) => self.pending.push((i, e)),
                Output::OpenMedia(req) => {
                    let local = self.media.open(i, &req);
                    self.devices[i].media_opened(now(), req.call, local);
                }
                Output::StartMedia { call } => {
                    if let Some(ch) = self.media.start(i, call, now()) {
                        let active = self.media.active();
                        self.status.send_modify(|s| {
                            s.channel_mut(&ch).streaming += 1;
                            s.streams = active;
                        });
                    }
                }
                Output::KeyFrame { call } => self.media.key_frame(i, call),
                Output::StopMedia { call } => {
                    if let Some(ch) = self.media.stop(i, call) {
                        let active = self.media.active();
                        self.status.send_modify(|s| {
                            let c = s.channel_mut(&ch);
                            c.streaming = c.streaming.saturating_sub(1);
                            s.streams = active;
                        });
                    }
                }
            }
        }
        let next = self.devices[i].poll_timeout();
        let slot = &mut self.slots[i];
        if slot.started && next != slot.armed {
            slot.armed = next;
            if let Some(t) = next {
                self.heap.push(Reverse((t, i)));
            }
        }
    }

    async fn transmit(&mut self, i: usize, to: SocketAddr, bytes: Bytes) {
        match self.profile.transport {
            SimTransport::Udp => {
                let sock = &self.udp[self.slots[i].sock];
                if let Err(e) = sock.send_to(&bytes, to).await {
                    tracing::debug!(device = %self.devices[i].id(), %to, error = %e, "UDP send failed");
                    self.send_errors += 1;
                }
            }
            SimTransport::Tcp => {
                let mut bytes = bytes;
                if let Some(link) = &self.slots[i].link {
                    match link.tx.try_send(bytes) {
                        Ok(()) => return,
                        Err(mpsc::error::TrySendError::Full(_)) => {
                            self.send_errors += 1;
                            return;
                        }
                        Err(mpsc::error::TrySendError::Closed(b)) => bytes = b,
                    }
                }
                // No connection yet (or it closed): open one; the bytes wait in its queue.
                let (tx, rx) = mpsc::channel(TCP_QUEUE);
                let _ = tx.try_send(bytes);
                let id = self.next_link;
                self.next_link += 1;
                tokio::spawn(tcp_link(
                    i,
                    id,
                    self.profile.server,
                    self.bind_ip,
                    rx,
                    self.inbound_tx.clone(),
                    self.stop.clone(),
                ));
                self.slots[i].link = Some(Link { id, tx });
            }
        }
    }
}

async fn sleep_until(t: Option<Instant>) {
    match t {
        Some(t) => tokio::time::sleep_until(tokio::time::Instant::from_std(t)).await,
        None => std::future::pending().await,
    }
}

/// The local IP the OS would use to reach `server` (no packet is sent).
fn route_ip(server: SocketAddr) -> std::io::Result<IpAddr> {
    let any: SocketAddr = if server.is_ipv4() {
        (Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let s = std::net::UdpSocket::bind(any)?;
    s.connect(server)?;
    Ok(s.local_addr()?.ip())
}

fn bind_udp(addr: SocketAddr) -> std::io::Result<UdpSocket> {
    let domain = if addr.is_ipv4() {
        socket2::Domain::IPV4
    } else {
        socket2::Domain::IPV6
    };
    let s = socket2::Socket::new(domain, socket2::Type::DGRAM, Some(socket2::Protocol::UDP))?;
    // Thousands of devices share the socket: room for bursts (the kernel may cap it).
    let _ = s.set_recv_buffer_size(8 << 20);
    let _ = s.set_send_buffer_size(4 << 20);
    s.set_nonblocking(true)?;
    s.bind(&addr.into())?;
    UdpSocket::from_std(s.into())
}

/// One TCP connection per device: fails early with a clear message when the process may
/// not open that many files (Linux; elsewhere connects fail one by one instead).
fn check_fd_limit(devices: usize) -> Result<(), SimError> {
    let Ok(limits) = std::fs::read_to_string("/proc/self/limits") else {
        return Ok(());
    };
    let soft = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|v| v.parse::<u64>().ok());
    let needed = devices as u64 + 256;
    match soft {
        Some(limit) if limit < needed => Err(SimError::FdLimit {
            devices,
            needed,
            limit,
        }),
        _ => Ok(()),
    }
}

async fn udp_reader(
    sock_index: usize,
    sock: Arc<UdpSocket>,
    tx: mpsc::Sender<Inbound>,
    stop: CancellationToken,
) {
    let mut buf = vec![0u8; 65_535];
    loop {
        let (n, from) = tokio::select! {
            _ = stop.cancelled() => return,
            r = sock.recv_from(&mut buf) => match r {
                Ok(x) => x,
                // ICMP port unreachable (platform down) shows up here; not fatal.
                Err(_) => continue,
            },
        };
        let data = &buf[..n];
        if data.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match vigil_sip::parse_bytes(Bytes::copy_from_slice(data)) {
            Ok(msg) => {
                let inb = Inbound::Udp {
                    sock: sock_index,
                    msg,
                    from,
                };
                if tx.send(inb).await.is_err() {
                    return;
                }
            }
            Err(e) => tracing::debug!(%from, error = %e, "simulator got a malformed SIP datagram"),
        }
    }
}

/// One device's TCP connection: connects, writes what the driver queues, frames what
/// arrives. Reports up/down so the device knows its address and when it lost the link.
async fn tcp_link(
    dev: usize,
    link: u64,
    server: SocketAddr,
    bind_ip: IpAddr,
    mut rx: mpsc::Receiver<Bytes>,
    tx: mpsc::Sender<Inbound>,
    stop: CancellationToken,
) {
    let connect = async {
        let sock = if server.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        sock.bind(SocketAddr::new(bind_ip, 0))?;
        sock.connect(server).await
    };
    let stream = tokio::select! {
        _ = stop.cancelled() => return,
        r = tokio::time::timeout(CONNECT_TIMEOUT, connect) => match r {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                tracing::debug!(%server, error = %e, "simulator TCP connect failed");
                let _ = tx.send(Inbound::TcpDown { dev, link }).await;
                return;
            }
            Err(_) => {
                let _ = tx.send(Inbound::TcpDown { dev, link }).await;
                return;
            }
        },
    };
    let _ = stream.set_nodelay(true);
    if let Ok(local) = stream.local_addr() {
        let _ = tx.send(Inbound::TcpUp { dev, link, local }).await;
    }
    let (mut rd, mut wr) = stream.into_split();
    let mut framer = StreamFramer::new();
    let mut buf = vec![0u8; 4096];
    'conn: loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            out = rx.recv() => match out {
                Some(bytes) => {
                    if wr.write_all(&bytes).await.is_err() {
                        break;
                    }
                }
                None => return, // the driver dropped this link
            },
            r = rd.read(&mut buf) => {
                let n = match r {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                framer.push(&buf[..n]);
                while let Some(frame) = framer.next() {
                    match frame {
                        Ok(Frame::Message(msg)) => {
                            if tx.send(Inbound::Tcp { dev, msg, from: server }).await.is_err() {
                                return;
                            }
                        }
                        Ok(Frame::KeepAlive(KeepAlive::Ping)) => {
                            if wr.write_all(b"\r\n").await.is_err() {
                                break 'conn;
                            }
                        }
                        Ok(Frame::KeepAlive(KeepAlive::Pong)) => {}
                        Err(e) if e.is_fatal() => break 'conn,
                        Err(e) => tracing::debug!(%server, error = %e, "simulator got a malformed SIP message"),
                    }
                }
            }
        }
    }
    let _ = tx.send(Inbound::TcpDown { dev, link }).await;
}

#[cfg(test)]
#[path = "driver_tests.rs"]
mod tests;
