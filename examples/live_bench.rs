//! Live view figures against a running platform (`vigil serve`) whose devices are simulated
//! by `vigil sim` (one channel each), for docs/BENCHMARKS.md:
//!
//! - `first-frame`: time from `POST /api/v1/channels/{id}/live` to the first complete fMP4
//!   media fragment (`moof`+`mdat`) read from `/live/{id}.mp4`, cold (a new INVITE) and
//!   joining the running session.
//! - `load`: live sessions on every channel, optionally one `.mp4` viewer each; the server's
//!   CPU (% of one core, per stream), RSS and RTP loss over a window.
//!
//! ```text
//! cargo run --release -p vigil --example live_bench -- first-frame --api http://127.0.0.1:8080 --channels 20
//! cargo run --release -p vigil --example live_bench -- load --api http://127.0.0.1:8080 --channels 300 --pid $(pidof vigil) [--viewers] [--seconds 20]
//! ```
//! Channel IDs are `--channel-prefix` (default `3402000000131`, what `vigil sim` gives with
//! one channel per device) plus serials 1..=N. With authentication on (the default), pass an
//! API key in `VIGIL_API_KEY` (or run the server with `VIGIL_AUTH__ENABLED=false`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

struct Args {
    mode: String,
    api: String,
    channels: usize,
    prefix: String,
    pid: Option<u32>,
    viewers: bool,
    seconds: u64,
    warmup: u64,
}

fn args() -> Args {
    let mut it = std::env::args().skip(1);
    let mut a = Args {
        mode: it.next().unwrap_or_default(),
        api: "http://127.0.0.1:8080".into(),
        channels: 10,
        prefix: "3402000000131".into(),
        pid: None,
        viewers: false,
        seconds: 20,
        warmup: 5,
    };
    while let Some(k) = it.next() {
        let mut v = || it.next().expect("value after flag");
        match k.as_str() {
            "--api" => a.api = v(),
            "--channels" => a.channels = v().parse().unwrap(),
            "--channel-prefix" => a.prefix = v(),
            "--pid" => a.pid = Some(v().parse().unwrap()),
            "--viewers" => a.viewers = true,
            "--seconds" => a.seconds = v().parse().unwrap(),
            "--warmup" => a.warmup = v().parse().unwrap(),
            other => panic!("unknown argument {other}"),
        }
    }
    a
}

fn channel(a: &Args, k: usize) -> String {
    let width = 20 - a.prefix.len();
    format!("{}{:0width$}", a.prefix, k + 1)
}

#[tokio::main]
async fn main() -> Result<()> {
    let a = args();
    // With auth on (the default) the platform wants an API key: VIGIL_API_KEY=vgl_...
    let mut headers = reqwest::header::HeaderMap::new();
    if let Ok(key) = std::env::var("VIGIL_API_KEY") {
        headers.insert(
            reqwest::header::AUTHORIZATION,
            format!("Bearer {key}").parse()?,
        );
    }
    let http = reqwest::Client::builder()
        .default_headers(headers)
        .timeout(Duration::from_secs(3600))
        .pool_max_idle_per_host(64)
        .build()?;
    wait_channels(&http, &a).await?;
    match a.mode.as_str() {
        "first-frame" => first_frame(&http, &a).await,
        "load" => load(&http, &a).await,
        _ => Err("mode: first-frame or load".into()),
    }
}

/// Waits until the platform knows every channel (catalog sync after registration).
async fn wait_channels(http: &reqwest::Client, a: &Args) -> Result<()> {
    let start = Instant::now();
    for k in 0..a.channels {
        let url = format!("{}/api/v1/channels/{}", a.api, channel(a, k));
        while http.get(&url).send().await?.status() != 200 {
            if start.elapsed() > Duration::from_secs(120) {
                return Err(format!("channel {} never appeared", channel(a, k)).into());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    Ok(())
}

async fn post_live(http: &reqwest::Client, a: &Args, ch: &str) -> Result<Value> {
    let r = http
        .post(format!("{}/api/v1/channels/{ch}/live", a.api))
        .send()
        .await?;
    let status = r.status();
    let v: Value = r.json().await?;
    if status != 200 {
        return Err(format!("POST live {ch}: {status} {v}").into());
    }
    Ok(v)
}

/// Reads `/live/{id}.mp4` until the first whole media fragment (after `moof`, its `mdat`);
/// returns the response so a caller may keep reading.
async fn first_fragment(http: &reqwest::Client, a: &Args, mp4: &str) -> Result<reqwest::Response> {
    let mut r = http.get(format!("{}{mp4}", a.api)).send().await?;
    let mut buf: Vec<u8> = Vec::new();
    let mut seen_moof = false;
    loop {
        let chunk = r.chunk().await?.ok_or("stream ended")?;
        buf.extend_from_slice(&chunk);
        // Walk whole top-level boxes.
        loop {
            if buf.len() < 8 {
                break;
            }
            let size = u32::from_be_bytes(buf[0..4].try_into()?) as usize;
            if size < 8 || buf.len() < size {
                break;
            }
            match &buf[4..8] {
                b"moof" => seen_moof = true,
                b"mdat" if seen_moof => return Ok(r),
                _ => {}
            }
            buf.drain(..size);
        }
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn summary(name: &str, mut v: Vec<f64>) {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let p = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
    println!(
        "{name}: n={} min {:.1} ms, median {:.1} ms, p90 {:.1} ms, max {:.1} ms",
        v.len(),
        v[0],
        p(0.5),
        p(0.9),
        v[v.len() - 1]
    );
}

async fn first_frame(http: &reqwest::Client, a: &Args) -> Result<()> {
    let (mut cold, mut join) = (Vec::new(), Vec::new());
    for k in 0..a.channels {
        let ch = channel(a, k);
        let t0 = Instant::now();
        let v = post_live(http, a, &ch).await?;
        let mp4 = v["urls"]["mp4"].as_str().ok_or("urls.mp4")?.to_owned();
        let first = first_fragment(http, a, &mp4).await?;
        cold.push(ms(t0.elapsed()));
        // Join while the first viewer stays.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let t1 = Instant::now();
        let v2 = post_live(http, a, &ch).await?;
        assert_eq!(v2["joined"], true);
        let second = first_fragment(http, a, &mp4).await?;
        join.push(ms(t1.elapsed()));
        drop((first, second));
        let id = v["session_id"].as_str().ok_or("session_id")?;
        http.delete(format!("{}/api/v1/live/{id}", a.api))
            .send()
            .await?;
    }
    summary("cold (INVITE) to first fragment", cold);
    summary("join to first fragment", join);
    Ok(())
}

/// utime + stime of `pid` in seconds, and its RSS in MiB.
fn proc_cpu_rss(pid: u32) -> (f64, f64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let rest = &stat[stat.rfind(')').map_or(0, |i| i + 2)..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0.0)
        + f.get(12).and_then(|v| v.parse().ok()).unwrap_or(0.0);
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let rss_kb: f64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0.0);
    (ticks / 100.0, rss_kb / 1024.0)
}

/// Sums of (packets received, packets lost, sessions playing) over `GET /api/v1/live`.
async fn rtp_totals(http: &reqwest::Client, a: &Args) -> Result<(u64, u64, usize)> {
    let v: Value = http
        .get(format!("{}/api/v1/live", a.api))
        .send()
        .await?
        .json()
        .await?;
    let items = v["items"].as_array().cloned().unwrap_or_default();
    let sum = |k: &str| {
        items
            .iter()
            .map(|s| s[k].as_u64().unwrap_or(0))
            .sum::<u64>()
    };
    let playing = items.iter().filter(|s| s["state"] == "playing").count();
    Ok((sum("packets_received"), sum("packets_lost"), playing))
}

async fn load(http: &reqwest::Client, a: &Args) -> Result<()> {
    let pid = a.pid.ok_or("--pid of the vigil server")?;
    let started = Instant::now();
    let sem = Arc::new(tokio::sync::Semaphore::new(32));
    let mut starts = tokio::task::JoinSet::new();
    for k in 0..a.channels {
        let (http, sem, ch) = (http.clone(), sem.clone(), channel(a, k));
        let api = a.api.clone();
        starts.spawn(async move {
            let _permit = sem.acquire().await;
            let r = http
                .post(format!("{api}/api/v1/channels/{ch}/live"))
                .send()
                .await?;
            let v: Value = r.json().await?;
            Ok::<Value, reqwest::Error>(v)
        });
    }
    let mut mp4s = Vec::new();
    while let Some(r) = starts.join_next().await {
        let v = r??;
        match v["urls"]["mp4"].as_str() {
            Some(u) => mp4s.push(u.to_owned()),
            None => eprintln!("start failed: {v}"),
        }
    }
    println!(
        "{} of {} sessions playing after {:.1} s",
        mp4s.len(),
        a.channels,
        started.elapsed().as_secs_f64()
    );
    let bytes = Arc::new(AtomicU64::new(0));
    if a.viewers {
        for mp4 in &mp4s {
            let (http, url, bytes) = (http.clone(), format!("{}{mp4}", a.api), bytes.clone());
            tokio::spawn(async move {
                let Ok(mut r) = http.get(url).send().await else {
                    return;
                };
                while let Ok(Some(c)) = r.chunk().await {
                    bytes.fetch_add(c.len() as u64, Ordering::Relaxed);
                }
            });
        }
    }
    tokio::time::sleep(Duration::from_secs(a.warmup)).await;
    let (cpu0, _) = proc_cpu_rss(pid);
    let (rx0, lost0, _) = rtp_totals(http, a).await?;
    let b0 = bytes.load(Ordering::Relaxed);
    let t0 = Instant::now();
    tokio::time::sleep(Duration::from_secs(a.seconds)).await;
    let (cpu1, rss) = proc_cpu_rss(pid);
    let (rx1, lost1, playing) = rtp_totals(http, a).await?;
    let b1 = bytes.load(Ordering::Relaxed);
    let secs = t0.elapsed().as_secs_f64();
    let cpu = (cpu1 - cpu0) / secs * 100.0;
    let n = mp4s.len().max(1) as f64;
    let packets = (rx1 - rx0) as f64;
    println!(
        "streams {} (playing {playing}), viewers {}: server CPU {:.1}% of one core = {:.3}% per stream, {:.2} us per RTP packet; RSS {:.0} MiB; RTP {:.0} packets/s, lost {} of {} ({:.3}%); viewers read {:.1} Mbit/s",
        mp4s.len(),
        if a.viewers { mp4s.len() } else { 0 },
        cpu,
        cpu / n,
        (cpu1 - cpu0) * 1e6 / packets.max(1.0),
        rss,
        packets / secs,
        lost1 - lost0,
        rx1 - rx0 + lost1 - lost0,
        (lost1 - lost0) as f64 * 100.0 / (packets + (lost1 - lost0) as f64).max(1.0),
        (b1 - b0) as f64 * 8.0 / secs / 1e6,
    );
    Ok(())
}
