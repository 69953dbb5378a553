//! The dashboard in headless Chromium. Each test starts what the page talks to in-process
//! (a platform with simulated cameras and authentication on, one with it off, or the live
//! routes fed from the test clips), then runs one Playwright script from `tests/browser/`
//! under Node; the scripts log in through the dashboard's form with the admin password the
//! platform was started with ([`common::ADMIN_PASSWORD`]). The script talks back over stdio:
//! a line `@@ <command>` asks this side to act (unplug a simulated device, count a hub's
//! viewers) and gets one line back; everything else is the script's log.
//!
//! Needs `node`, `tests/browser/node_modules` (`npm ci --prefix tests/browser`) and Debian's
//! `chromium` (or `VIGIL_CHROMIUM`). Without them a test prints why and passes, except under
//! CI (`CI` set), where a missing tool fails it. `VIGIL_SCREENSHOTS=<dir>` saves the pages'
//! screenshots there (docs/screenshots/ holds the ones the README shows).

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Backend, Platform, TestDb, WAIT};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::Command;
use tokio_util::sync::CancellationToken;
use vigil::api::{live, web};
use vigil::platform::media::Hub;
use vigil::platform::media::pipeline::Pipeline;
use vigil::sim::{SimHandle, Simulator};
use vigil_media::VideoCodec;
use vigil_media::clip::{ClipStreamer, ClipStreamerConfig};

/// A whole script, browser start included, on 2 shared cores.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(180);

fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser")
}

/// Whether node, playwright-core and Chromium are there. Missing ones fail the test under
/// CI and skip it elsewhere.
fn browser_ready(test: &str) -> bool {
    let mut missing = Vec::new();
    let chromium = std::env::var("VIGIL_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    if !Path::new(&chromium).exists() {
        missing.push(format!("{chromium} (apt-get install chromium)"));
    }
    let node = std::process::Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !node {
        missing.push("node (apt-get install nodejs npm)".into());
    }
    if !browser_dir().join("node_modules/playwright-core").is_dir() {
        missing.push("tests/browser/node_modules (npm ci --prefix tests/browser)".into());
    }
    if missing.is_empty() {
        return true;
    }
    let why = missing.join(", ");
    if std::env::var_os("CI").is_some() {
        panic!("{test} needs {why}; .ci/run installs them");
    }
    eprintln!("skipping {test}: missing {why}");
    false
}

/// What a script may ask of the test.
trait Control {
    async fn command(&mut self, command: &str, args: &[&str]) -> String;
}

/// Runs `tests/browser/<script>` with `env`, answering its `@@` lines through `control`;
/// panics with the script's output when it fails.
async fn run_script(script: &str, env: &[(&str, String)], control: &mut impl Control) {
    let mut cmd = Command::new("node");
    cmd.arg(browser_dir().join(script))
        .current_dir(browser_dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("node starts");
    let mut stdin = child.stdin.take().expect("stdin");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let mut output = Vec::new();
    let mut stderr_open = true;
    let talk = async {
        loop {
            tokio::select! {
                line = stdout.next_line() => match line.expect("script output") {
                    Some(line) => {
                        if let Some(command) = line.strip_prefix("@@ ") {
                            let parts: Vec<&str> = command.split_whitespace().collect();
                            let answer = match parts.split_first() {
                                Some((name, args)) => control.command(name, args).await,
                                None => "error: empty command".into(),
                            };
                            println!("[{script}] {command} -> {answer}");
                            stdin.write_all(format!("{answer}\n").as_bytes()).await.expect("answer");
                        } else {
                            println!("[{script}] {line}");
                            output.push(line);
                        }
                    }
                    None => break,
                },
                line = stderr.next_line(), if stderr_open => match line {
                    Ok(Some(line)) => {
                        eprintln!("[{script} stderr] {line}");
                        output.push(line);
                    }
                    _ => stderr_open = false,
                },
            }
        }
        child.wait().await.expect("node exits")
    };
    let status = tokio::time::timeout(SCRIPT_TIMEOUT, talk)
        .await
        .unwrap_or_else(|_| panic!("{script} did not finish within {SCRIPT_TIMEOUT:?}"));
    assert!(
        status.success(),
        "{script} failed ({status}):\n{}",
        output.join("\n")
    );
}

fn screenshots() -> Option<(&'static str, String)> {
    std::env::var("VIGIL_SCREENSHOTS")
        .ok()
        .map(|d| ("VIGIL_SCREENSHOTS", d))
}

/// The dashboard against a platform: the page answers the platform's `@@` requests with the
/// simulator.
struct DashboardControl<'a> {
    sim: &'a SimHandle,
    platform: &'a Platform,
    /// A camera streaming H.265, started when the script asks.
    hevc: Option<SimHandle>,
}

impl Control for DashboardControl<'_> {
    async fn command(&mut self, command: &str, args: &[&str]) -> String {
        let index = args.first().and_then(|a| a.parse::<usize>().ok());
        match (command, index) {
            ("unplug", Some(i)) => {
                self.sim.unplug(i).await;
                "ok".into()
            }
            ("unregister", Some(i)) => {
                self.sim.unregister(i).await;
                "ok".into()
            }
            ("register", Some(i)) => {
                self.sim.register(i).await;
                "ok".into()
            }
            // `alarm <device> <channel> <sn> <priority> <method> <type> [description]`: the
            // simulated device sends a Notify/Alarm (GB2312) for one of its channels.
            ("alarm", Some(i)) => {
                let num = |k: usize| args.get(k).and_then(|a| a.parse::<u32>().ok());
                let (Some(j), Some(sn), Some(priority), Some(method)) =
                    (num(1), num(2), num(3), num(4))
                else {
                    return "error: alarm <device> <channel> <sn> <priority> <method> <type>"
                        .into();
                };
                let mut a = vigil_gb::manscdp::Alarm::new(sn, self.sim.channel_id(i, j as usize));
                a.priority = u8::try_from(priority).ok();
                a.method = u8::try_from(method).ok();
                a.alarm_type = args.get(5).map(|t| (*t).to_owned());
                a.time = Some("2026-11-26T10:15:30".into());
                let description = args.get(6..).unwrap_or_default().join(" ");
                a.description = (!description.is_empty()).then_some(description);
                let body = vigil_gb::Manscdp::AlarmNotify(a).to_body(vigil_gb::Charset::Gb2312);
                self.sim.send_manscdp(i, body).await;
                "ok".into()
            }
            // Query MESSAGEs the simulated devices got, of one CmdType.
            ("queries", _) => {
                let cmd = args.first().copied().unwrap_or_default();
                self.sim
                    .with_status(|s| s.queries.get(cmd).copied().unwrap_or(0))
                    .to_string()
            }
            // One more camera, streaming H.265: answers "<device ID> <channel ID>".
            ("start_h265", _) => {
                let mut cfg = common::sim_config(self.platform.sip(), 1);
                cfg.channels = 1;
                cfg.first_serial = 901;
                cfg.media.codec = VideoCodec::H265;
                let sim = Simulator::start(cfg).await.expect("H.265 simulator starts");
                sim.wait_registered(1, WAIT)
                    .await
                    .expect("H.265 camera registers");
                let answer = format!("{} {}", sim.device_id(0), sim.channel_id(0, 0));
                self.hevc = Some(sim);
                answer
            }
            // INVITEs and BYEs a simulated channel received.
            ("invites" | "byes", _) => {
                let Some(Ok(channel)) = args.first().map(|c| c.parse::<vigil_gb::DeviceId>())
                else {
                    return "error: channel ID".into();
                };
                self.sim
                    .with_status(|s| {
                        s.channels.get(&channel).map_or(0, |c| match command {
                            "invites" => c.invites,
                            _ => c.byes_received,
                        })
                    })
                    .to_string()
            }
            // Live sessions of a channel as GET /api/v1/live lists them, and their viewers.
            ("live_sessions" | "live_viewers", _) => {
                let channel = args.first().copied().unwrap_or_default();
                let url = self.platform.api("/api/v1/live");
                let Ok(r) = self.platform.http.get(url).send().await else {
                    return "error".into();
                };
                let v: Value = r.json().await.unwrap_or(Value::Null);
                let list = v["items"].as_array().cloned().unwrap_or_default();
                let sessions = list.iter().filter(|s| s["channel_id"] == channel);
                if command == "live_sessions" {
                    sessions.count().to_string()
                } else {
                    let viewers: u64 = sessions.filter_map(|s| s["viewers"].as_u64()).sum();
                    viewers.to_string()
                }
            }
            // A simulated channel's PTZ as JSON: commands obeyed, refused and ignored, the
            // last one (hex), its motion, its position as of that command, its presets.
            ("ptz", _) => {
                let Some(Ok(channel)) = args.first().map(|c| c.parse::<vigil_gb::DeviceId>())
                else {
                    return "error: channel ID".into();
                };
                let v = self.sim.ptz(&channel);
                let at = |p: &vigil::sim::PtzPosition| {
                    serde_json::json!({
                        "pan": p.pan, "tilt": p.tilt, "zoom": p.zoom, "focus": p.focus, "iris": p.iris,
                    })
                };
                let m = v.motion;
                let presets: serde_json::Map<String, Value> = v
                    .presets
                    .iter()
                    .map(|(n, p)| (n.to_string(), at(p)))
                    .collect();
                serde_json::json!({
                    "commands": v.commands,
                    "refused": v.refused,
                    "ignored": v.ignored,
                    "last": v.last.map(|c| c.to_hex()),
                    "still": m.is_still(),
                    "motion": {
                        "pan": m.pan, "tilt": m.tilt, "zoom": m.zoom, "focus": m.focus, "iris": m.iris,
                    },
                    "position": at(&v.position),
                    "presets": presets,
                })
                .to_string()
            }
            _ => format!("error: unknown command {command}"),
        }
    }
}

/// A platform (auth as `config` says) with `devices` simulated cameras of two channels,
/// and the environment the dashboard scripts read: its URL, the login, the device and
/// channel IDs (device 0's channels) and the channels' Chinese names.
async fn dashboard_platform(
    config: vigil::config::Config,
    devices: usize,
) -> (Platform, SimHandle, Vec<(&'static str, String)>) {
    let platform = Platform::start(config).await;
    let sim = Simulator::start(common::sim_config(platform.sip(), devices))
        .await
        .expect("simulator starts");
    sim.wait_registered(devices, WAIT)
        .await
        .expect("registered");
    let ids: Vec<String> = (0..devices).map(|i| sim.device_id(i).to_string()).collect();
    let channels: Vec<String> = (0..2).map(|j| sim.channel_id(0, j).to_string()).collect();
    let names: Vec<String> = (0..2)
        .map(|j| vigil::sim::answers::channel_name(j, vigil_gb::Charset::Gb2312))
        .collect();
    let mut env = vec![
        (
            "VIGIL_URL",
            format!("http://{}", platform.running().http_addr),
        ),
        ("VIGIL_USER", platform.config.auth.admin_user.clone()),
        (
            "VIGIL_PASSWORD",
            platform.config.auth.admin_password.0.clone(),
        ),
        ("VIGIL_DEVICES", ids.join(",")),
        ("VIGIL_CHANNELS", channels.join(",")),
        ("VIGIL_CHANNEL_NAMES", names.join(",")),
    ];
    env.extend(screenshots());
    (platform, sim, env)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_shows_devices_and_turns_one_offline_without_reload() {
    common::init_logging();
    if !browser_ready("the dashboard browser test") {
        return;
    }
    let db = TestDb::new(Backend::Sqlite).await;
    let mut config = common::config(&db);
    assert!(config.auth.enabled, "the dashboard is tested with a login");
    // Closed tiles end their session soon after.
    config.media.idle_timeout = Duration::from_secs(2);
    let (mut platform, sim, env) = dashboard_platform(config, 3).await;
    let mut control = DashboardControl {
        sim: &sim,
        platform: &platform,
        hevc: None,
    };
    run_script("dashboard.mjs", &env, &mut control).await;
    if let Some(hevc) = control.hevc.take() {
        hevc.stop().await;
    }
    sim.stop().await;
    platform.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_login_wrong_password_logout_and_a_session_ended_elsewhere() {
    common::init_logging();
    if !browser_ready("the login browser test") {
        return;
    }
    let db = TestDb::new(Backend::Sqlite).await;
    let mut config = common::config(&db);
    assert!(config.auth.enabled, "the login is tested with auth on");
    config.media.idle_timeout = Duration::from_secs(2);
    let (mut platform, sim, env) = dashboard_platform(config, 1).await;
    let mut control = DashboardControl {
        sim: &sim,
        platform: &platform,
        hevc: None,
    };
    run_script("login.mjs", &env, &mut control).await;
    sim.stop().await;
    platform.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_tells_too_many_failed_logins_and_lets_in_after_the_block() {
    common::init_logging();
    if !browser_ready("the login rate-limit browser test") {
        return;
    }
    let db = TestDb::new(Backend::Sqlite).await;
    let mut config = common::config(&db);
    config.auth.login_fail_limit = 3;
    config.auth.login_block = Duration::from_secs(3);
    let mut env = vec![
        (
            "VIGIL_LOGIN_LIMIT",
            config.auth.login_fail_limit.to_string(),
        ),
        (
            "VIGIL_LOGIN_BLOCK_S",
            config.auth.login_block.as_secs().to_string(),
        ),
    ];
    let (mut platform, sim, platform_env) = dashboard_platform(config, 1).await;
    env.extend(platform_env);
    let mut control = DashboardControl {
        sim: &sim,
        platform: &platform,
        hevc: None,
    };
    run_script("login_limit.mjs", &env, &mut control).await;
    sim.stop().await;
    platform.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_without_auth_has_no_login_and_no_logout() {
    common::init_logging();
    if !browser_ready("the browser test without auth") {
        return;
    }
    let db = TestDb::new(Backend::Sqlite).await;
    let mut config = common::config(&db);
    config.auth.enabled = false;
    let (mut platform, sim, env) = dashboard_platform(config, 1).await;
    let mut control = DashboardControl {
        sim: &sim,
        platform: &platform,
        hevc: None,
    };
    run_script("open.mjs", &env, &mut control).await;
    sim.stop().await;
    platform.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_shows_camera_alarms_and_logs_out_when_the_session_ends_elsewhere() {
    common::init_logging();
    if !browser_ready("the alarms browser test") {
        return;
    }
    let db = TestDb::new(Backend::Sqlite).await;
    let (mut platform, sim, env) = dashboard_platform(common::config(&db), 2).await;
    let mut control = DashboardControl {
        sim: &sim,
        platform: &platform,
        hevc: None,
    };
    run_script("alarms.mjs", &env, &mut control).await;
    sim.stop().await;
    platform.shutdown().await;
}

/// Streams a test clip into `hub` in real time through the ingest pipeline (RTP/PS in,
/// fMP4 out) until `stop`, then ends the hub.
fn feed(hub: Hub, codec: VideoCodec, stop: CancellationToken) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut pipeline = Pipeline::new(hub, None, Duration::ZERO);
        let mut clip = ClipStreamer::from_testdata(codec, ClipStreamerConfig::new(1));
        let start = tokio::time::Instant::now();
        loop {
            let frame = clip.next_frame(|| u32::MAX);
            tokio::select! {
                _ = tokio::time::sleep_until(start + frame.send_at) => {}
                _ = stop.cancelled() => break,
            }
            for p in frame.packets {
                pipeline.push(std::time::Instant::now(), p);
            }
        }
        pipeline.finish();
    })
}

/// The player test's live sessions: a hub per session ID and what stops its feeder.
#[derive(Default, Clone)]
struct Streams {
    hubs: Arc<Mutex<HashMap<String, (Hub, CancellationToken)>>>,
}

impl Streams {
    fn start(&self, id: &str, codec: VideoCodec) -> Hub {
        let hub = Hub::new();
        let stop = CancellationToken::new();
        feed(hub.clone(), codec, stop.clone());
        self.hubs
            .lock()
            .unwrap()
            .insert(id.to_owned(), (hub.clone(), stop));
        hub
    }

    fn get(&self, id: &str) -> Option<(Hub, CancellationToken)> {
        self.hubs.lock().unwrap().get(id).cloned()
    }
}

impl Control for Streams {
    async fn command(&mut self, command: &str, args: &[&str]) -> String {
        let Some((hub, stop)) = args.first().and_then(|id| self.get(id)) else {
            return "error: no such stream".into();
        };
        match command {
            "viewers" => hub.viewers().to_string(),
            "end" => {
                stop.cancel();
                "ok".into()
            }
            _ => format!("error: unknown command {command}"),
        }
    }
}

async fn codec_string(hub: &Hub) -> String {
    let started = tokio::time::Instant::now();
    loop {
        if let Some(info) = hub.info() {
            return info.codec_string;
        }
        assert!(started.elapsed() < WAIT, "no init segment from the clip");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_player_plays_h264_refuses_what_it_cannot_decode_and_tells_the_end() {
    common::init_logging();
    if !browser_ready("the live player browser test") {
        return;
    }
    let mut streams = Streams::default();
    let h264 = streams.start("h264", VideoCodec::H264);
    let h265 = streams.start("h265", VideoCodec::H265);
    streams.start("ending", VideoCodec::H264);
    let lookup = {
        let s = streams.clone();
        move |id: &str| s.get(id).map(|(hub, _)| hub)
    };
    let app = live::routes::<(), _>(lookup).merge(web::routes_from(web::WebSource::Embedded));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let env = [
        ("VIGIL_URL", format!("http://{addr}")),
        ("VIGIL_H264_CODEC", codec_string(&h264).await),
        ("VIGIL_H265_CODEC", codec_string(&h265).await),
    ];
    run_script("player.mjs", &env, &mut streams).await;
    for (_, (_, stop)) in streams.hubs.lock().unwrap().drain() {
        stop.cancel();
    }
    server.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_ptz_moves_while_held_stops_on_release_recalls_presets_and_shows_refusals() {
    common::init_logging();
    if !browser_ready("the PTZ browser test") {
        return;
    }
    let db = TestDb::new(Backend::Sqlite).await;
    let mut config = common::config(&db);
    config.media.idle_timeout = Duration::from_secs(2);
    let (mut platform, sim, mut env) = dashboard_platform(config, 2).await;
    // Device 1 refuses every PTZ command: the page must show the API's 502.
    sim.ptz_answer(1, vigil::sim::PtzAnswer::Refuse(488)).await;
    env.push(("VIGIL_REFUSING_CHANNEL", sim.channel_id(1, 0).to_string()));
    let mut control = DashboardControl {
        sim: &sim,
        platform: &platform,
        hevc: None,
    };
    run_script("ptz.mjs", &env, &mut control).await;
    sim.stop().await;
    platform.shutdown().await;
}
