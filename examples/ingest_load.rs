//! Load test of live ingest: N UDP ingest sessions on loopback fed by a sender in a child
//! process (the test clip as PS over RTP, each stream at `--fps`), optionally one in-process
//! viewer per stream. Reports this process's CPU (% of one core, µs per packet), RSS and loss.
//!
//! ```text
//! cargo run --release -p vigil --example ingest_load -- --streams 300 --viewers --seconds 20
//! ```

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use vigil::platform::media::{
    Hub, HubItem, IngestConfig, IngestHandle, IngestSession, IngestTransport, RtpPorts,
};
use vigil_media::VideoCodec;
use vigil_media::clip::{ClipStreamer, ClipStreamerConfig};

struct Args {
    streams: usize,
    fps: u32,
    seconds: u64,
    viewers: bool,
    first_port: u16,
    send_to: Option<Vec<u16>>,
}

fn args() -> Args {
    let mut a = Args {
        streams: 100,
        fps: 10,
        seconds: 20,
        viewers: false,
        first_port: 50_000,
        send_to: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let mut v = || it.next().expect("value after flag");
        match k.as_str() {
            "--streams" => a.streams = v().parse().unwrap(),
            "--fps" => a.fps = v().parse().unwrap(),
            "--seconds" => a.seconds = v().parse().unwrap(),
            "--first-port" => a.first_port = v().parse().unwrap(),
            "--viewers" => a.viewers = true,
            "--send-to" => {
                a.send_to = Some(v().split(',').map(|p| p.parse().unwrap()).collect());
            }
            other => panic!("unknown argument {other}"),
        }
    }
    a
}

/// CPU time of this process (user + system) from /proc, in seconds.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    // Fields after the command name (which is in parentheses).
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap();
    ticks as f64 / 100.0 // USER_HZ
}

fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    kib / 1024.0
}

/// The sender: every stream's frames, staggered over the frame interval, one socket.
fn send(ports: Vec<u16>, fps: u32, seconds: u64) {
    let sock = std::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let _ = socket2::SockRef::from(&sock).set_send_buffer_size(4 << 20);
    let n = ports.len();
    let mut clips: Vec<(SocketAddr, ClipStreamer)> = ports
        .iter()
        .enumerate()
        .map(|(i, &p)| {
            let mut cfg = ClipStreamerConfig::new(1_000 + i as u32);
            cfg.fps = fps;
            (
                SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), p),
                ClipStreamer::from_testdata(VideoCodec::H264, cfg),
            )
        })
        .collect();
    let interval = Duration::from_secs(1) / fps;
    let start = Instant::now();
    let end = start + Duration::from_secs(seconds);
    let mut sent = 0u64;
    while Instant::now() < end {
        for (i, (to, clip)) in clips.iter_mut().enumerate() {
            // Stream i sends at offset i/n of the frame interval.
            let due = start + clip.next_send_at() + interval * i as u32 / n as u32;
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
            for p in clip.next_frame(|| 0).packets {
                let _ = sock.send_to(&p, *to);
                sent += 1;
            }
        }
    }
    eprintln!("sender: {sent} packets in {seconds} s");
}

fn totals(handles: &[IngestHandle]) -> (u64, u64, u64) {
    handles.iter().fold((0, 0, 0), |(r, l, b), h| {
        let s = h.stats().stream;
        (
            r + s.packets_received,
            l + s.packets_lost,
            b + s.bytes_received,
        )
    })
}

#[tokio::main]
async fn main() {
    let a = args();
    if let Some(ports) = a.send_to {
        send(ports, a.fps, a.seconds);
        return;
    }
    let ports = RtpPorts::new(
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        [a.first_port, a.first_port + 3 * a.streams as u16],
    );
    let mut handles = Vec::new();
    let mut numbers = Vec::new();
    let mut consumed = Vec::new();
    for _ in 0..a.streams {
        let port = ports.allocate().expect("free port");
        numbers.push(port.port().to_string());
        let cfg = IngestConfig::new(IngestTransport::Udp, port, Duration::from_secs(10));
        let hub = Hub::new();
        if a.viewers {
            let mut v = hub.subscribe();
            consumed.push(tokio::spawn(async move {
                let mut bytes = 0usize;
                while let Ok(item) = v.next().await {
                    if let HubItem::Fragment(f) = item {
                        bytes += f.data.len();
                    }
                }
                bytes
            }));
        }
        handles.push(IngestSession::start(cfg, hub).unwrap());
    }
    let warmup = 3;
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--fps", &a.fps.to_string()])
        .args(["--seconds", &(a.seconds + warmup + 2).to_string()])
        .args(["--send-to", &numbers.join(",")])
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_secs(warmup)).await;
    let (r0, l0, b0) = totals(&handles);
    let (c0, t0) = (cpu_seconds(), Instant::now());
    tokio::time::sleep(Duration::from_secs(a.seconds)).await;
    let (c1, elapsed) = (cpu_seconds(), t0.elapsed().as_secs_f64());
    let (r1, l1, b1) = totals(&handles);
    let rss = rss_mib();
    let playing = handles
        .iter()
        .filter(|h| h.stats().stream.fragments > 0)
        .count();
    let _ = child.wait();
    let packets = (r1 - r0) as f64;
    let cpu = (c1 - c0) / elapsed;
    println!(
        "streams={} viewers={} fps={} packets/s={:.0} ({:.0} per stream) Mbit/s per stream={:.2}",
        a.streams,
        a.viewers,
        a.fps,
        packets / elapsed,
        packets / elapsed / a.streams as f64,
        (b1 - b0) as f64 * 8.0 / elapsed / a.streams as f64 / 1e6
    );
    println!(
        "cpu={:.1}% of one core total, {:.3}% per stream, {:.2} us per packet; rss={:.0} MiB; lost={} ({:.3}%); playing={}/{}",
        cpu * 100.0,
        cpu * 100.0 / a.streams as f64,
        cpu * 1e6 / (packets / elapsed),
        rss,
        l1 - l0,
        (l1 - l0) as f64 * 100.0 / packets.max(1.0),
        playing,
        a.streams
    );
    drop(handles);
    for c in consumed {
        let _ = c.await;
    }
}
