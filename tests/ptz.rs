//! PTZ through the REST API, end to end: `POST /api/v1/channels/{id}/ptz` and
//! `.../presets/{n}` become a `DeviceControl` MESSAGE with a `PTZCmd` to the simulated
//! camera that owns the channel (over UDP or TCP, as it registered), which decodes and
//! checks the command and moves; the API answers 204 once the camera said 200, 404 for an
//! unknown channel, 409 for an offline device, 502 when the camera refuses, 504 when it
//! stays silent, 400/422 naming the field for bad input.

mod common;
#[path = "common/prom.rs"]
mod prom;

use std::time::{Duration, Instant};

use common::{Backend, Platform, TestDb, WAIT, config, init_logging, sim_config};
use serde_json::{Value, json};
use vigil::sim::{PtzAnswer, PtzView, SimHandle, SimTransport, Simulator};
use vigil_gb::ptz::{Focus, Iris, Pan, PresetOp, Tilt, Zoom};
use vigil_gb::{DeviceId, PtzCmd, PtzInstruction};

/// A platform that gives up on a silent device after 1 s, and `devices` simulated NVRs
/// over `transport` with 2 channels each, registered and with their catalogs stored.
async fn setup(devices: usize, transport: SimTransport) -> (TestDb, Platform, SimHandle) {
    init_logging();
    let db = TestDb::new(Backend::Sqlite).await;
    let mut c = config(&db);
    c.sip.query_timeout = Duration::from_millis(1000);
    let p = Platform::start(c).await;
    let sim = Simulator::start(vigil::sim::SimConfig {
        transport,
        ..sim_config(p.sip(), devices)
    })
    .await
    .unwrap();
    sim.wait_registered(devices, WAIT).await.unwrap();
    for i in 0..devices {
        for j in 0..2 {
            wait_channel(&p, &sim.channel_id(i, j)).await;
        }
    }
    (db, p, sim)
}

/// Waits until the channel is in the platform's catalog.
async fn wait_channel(p: &Platform, channel: &DeviceId) {
    let start = Instant::now();
    loop {
        let resp = p
            .http
            .get(p.api(&format!("/api/v1/channels/{channel}")))
            .send()
            .await
            .unwrap();
        if resp.status() == 200 {
            return;
        }
        assert!(start.elapsed() < WAIT, "channel {channel} never stored");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `(status, body)` of a POST with a raw JSON body.
async fn post_raw(p: &Platform, path: &str, body: &str) -> (u16, Value) {
    let resp = p
        .http
        .post(p.api(path))
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST {path}: {e}"));
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("POST {path}: {e}: {text:?}"))
    };
    (status, body)
}

async fn post(p: &Platform, path: &str, body: Value) -> (u16, Value) {
    post_raw(p, path, &body.to_string()).await
}

async fn ptz(p: &Platform, channel: &DeviceId, body: Value) -> (u16, Value) {
    post(p, &format!("/api/v1/channels/{channel}/ptz"), body).await
}

async fn preset(p: &Platform, channel: &DeviceId, n: &str, action: &str) -> (u16, Value) {
    let path = format!("/api/v1/channels/{channel}/presets/{n}");
    post(p, &path, json!({ "action": action })).await
}

/// Waits until the simulated camera has obeyed `n` PTZ commands on `channel`.
async fn obeyed(sim: &SimHandle, channel: &DeviceId, n: u32) -> PtzView {
    let what = format!("{n} PTZ commands on {channel}");
    sim.wait_for(&what, WAIT, |s| {
        s.ptz.get(channel).is_some_and(|v| v.commands >= n)
    })
    .await
    .unwrap();
    let v = sim.ptz(channel);
    assert_eq!(v.commands, n, "more commands than sent: {v:?}");
    v
}

fn error_message(body: &Value) -> &str {
    body["error"]["message"].as_str().unwrap_or_default()
}

fn motion(pan: Option<Pan>, tilt: Option<Tilt>, zoom: Option<Zoom>, s: u8) -> PtzInstruction {
    PtzInstruction::Ptz {
        pan,
        tilt,
        zoom,
        pan_speed: if pan.is_some() { s } else { 0 },
        tilt_speed: if tilt.is_some() { s } else { 0 },
        zoom_speed: if zoom.is_some() { s } else { 0 },
    }
}

fn lens(focus: Option<Focus>, iris: Option<Iris>, s: u8) -> PtzInstruction {
    PtzInstruction::FocusIris {
        focus,
        iris,
        focus_speed: if focus.is_some() { s } else { 0 },
        iris_speed: if iris.is_some() { s } else { 0 },
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_action_reaches_the_camera_with_its_command_and_speed() {
    let (_db, mut p, sim) = setup(1, SimTransport::Udp).await;
    let ch = sim.channel_id(0, 1);
    // (action, speed sent, what the camera must decode). Zoom speed is 4 bits: the high
    // nibble of the speed.
    let cases = [
        ("left", 10, motion(Some(Pan::Left), None, None, 10)),
        ("right", 20, motion(Some(Pan::Right), None, None, 20)),
        ("up", 30, motion(None, Some(Tilt::Up), None, 30)),
        ("down", 40, motion(None, Some(Tilt::Down), None, 40)),
        (
            "up_left",
            50,
            motion(Some(Pan::Left), Some(Tilt::Up), None, 50),
        ),
        (
            "up_right",
            60,
            motion(Some(Pan::Right), Some(Tilt::Up), None, 60),
        ),
        (
            "down_left",
            70,
            motion(Some(Pan::Left), Some(Tilt::Down), None, 70),
        ),
        (
            "down_right",
            255,
            motion(Some(Pan::Right), Some(Tilt::Down), None, 255),
        ),
        ("zoom_in", 0x90, motion(None, None, Some(Zoom::In), 9)),
        ("zoom_out", 0x30, motion(None, None, Some(Zoom::Out), 3)),
        ("focus_near", 100, lens(Some(Focus::Near), None, 100)),
        ("focus_far", 110, lens(Some(Focus::Far), None, 110)),
        ("iris_open", 120, lens(None, Some(Iris::Open), 120)),
        ("iris_close", 1, lens(None, Some(Iris::Close), 1)),
        ("lens_stop", 99, lens(None, None, 0)),
        ("stop", 99, PtzInstruction::STOP),
    ];
    for (k, (action, speed, want)) in cases.into_iter().enumerate() {
        let (status, body) = ptz(&p, &ch, json!({ "action": action, "speed": speed })).await;
        assert_eq!(status, 204, "{action}: {body}");
        let v = obeyed(&sim, &ch, k as u32 + 1).await;
        let got = v.last.expect("a command");
        assert_eq!(got.instruction(), want, "{action} at {speed}: {got}");
        assert_eq!(got, PtzCmd::new(1, want), "{action}: address 1, checksum");
    }
    // The camera ended still, after having moved left, up and so on.
    let v = sim.ptz(&ch);
    assert!(v.motion.is_still(), "{v:?}");
    // Without a speed: 128 (zoom 8).
    let (status, body) = ptz(&p, &ch, json!({ "action": "left" })).await;
    assert_eq!(status, 204, "{body}");
    let v = obeyed(&sim, &ch, 17).await;
    assert_eq!(v.motion.pan, -128);
    // Only that channel got anything.
    assert_eq!(sim.ptz(&sim.channel_id(0, 0)), PtzView::default());
    // A single-channel camera is controlled by its own ID too.
    let dev = sim.device_id(0);
    let (status, body) = ptz(&p, &dev, json!({ "action": "zoom_in", "speed": 255 })).await;
    assert_eq!(status, 204, "{body}");
    assert_eq!(obeyed(&sim, &dev, 1).await.motion.zoom, 15);

    // Counted by route and status.
    let text = p
        .http
        .get(p.api("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let scrape = prom::parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let route = [
        ("route", "/api/v1/channels/{channel_id}/ptz"),
        ("status", "204"),
    ];
    assert_eq!(scrape.sum("vigil_http_requests_total", &route), 18.0);
    sim.stop().await;
    p.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presets_store_and_recall_the_position() {
    let (_db, mut p, sim) = setup(1, SimTransport::Udp).await;
    let ch = sim.channel_id(0, 0);
    // Left and up for a while, then stop and store that as preset 7.
    let (status, body) = ptz(&p, &ch, json!({ "action": "up_left", "speed": 200 })).await;
    assert_eq!(status, 204, "{body}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(ptz(&p, &ch, json!({ "action": "stop" })).await.0, 204);
    let (status, body) = preset(&p, &ch, "7", "set").await;
    assert_eq!(status, 204, "{body}");
    let v = obeyed(&sim, &ch, 3).await;
    let stored = v.presets[&7];
    assert!(stored.pan < 0 && stored.tilt > 0, "{v:?}");
    assert_eq!(
        v.last.unwrap().instruction(),
        PtzInstruction::Preset {
            op: PresetOp::Set,
            index: 7
        }
    );
    // Away to the right, and back with the preset.
    assert_eq!(
        ptz(&p, &ch, json!({ "action": "right", "speed": 255 }))
            .await
            .0,
        204
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (status, body) = preset(&p, &ch, "7", "goto").await;
    assert_eq!(status, 204, "{body}");
    let v = obeyed(&sim, &ch, 5).await;
    assert_eq!(v.position, stored, "{v:?}");
    assert!(v.motion.is_still());
    // 255 is a preset too; delete takes it away again.
    assert_eq!(preset(&p, &ch, "255", "set").await.0, 204);
    assert_eq!(preset(&p, &ch, "7", "delete").await.0, 204);
    let v = obeyed(&sim, &ch, 7).await;
    assert_eq!(v.presets.keys().copied().collect::<Vec<u8>>(), [255]);

    // Bad preset numbers and actions name what is wrong; nothing reaches the camera.
    for n in ["0", "256", "-1", "x"] {
        let (status, body) = preset(&p, &ch, n, "goto").await;
        assert_eq!(status, 400, "preset {n}: {body}");
        assert!(error_message(&body).starts_with("preset:"), "{body}");
    }
    let (status, body) = preset(&p, &ch, "3", "jump").await;
    assert_eq!(status, 422, "{body}");
    assert!(error_message(&body).contains("action"), "{body}");
    assert_eq!(sim.ptz(&ch).commands, 7);
    sim.stop().await;
    p.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_unknown_channels_offline_refusing_and_silent_devices() {
    let (_db, mut p, sim) = setup(2, SimTransport::Udp).await;
    let ch = sim.channel_id(0, 0);
    let path = format!("/api/v1/channels/{ch}/ptz");

    // Bad input: 400 for what is not JSON, 422 for JSON of the wrong shape, each naming
    // the field.
    let (status, body) = post_raw(&p, &path, "{\"action\": ").await;
    assert_eq!(status, 400, "{body}");
    for (body, field) in [
        (json!({ "action": "spin" }), "action"),
        (json!({ "speed": 3 }), "action"),
        (json!({ "action": "left", "speed": 256 }), "speed"),
        (json!({ "action": "left", "speed": -1 }), "speed"),
        (json!({ "action": "left", "speed": "fast" }), "speed"),
        (json!({ "action": "left", "sped": 3 }), "sped"),
    ] {
        let (status, got) = post(&p, &path, body.clone()).await;
        assert_eq!(status, 422, "{body}: {got}");
        assert!(error_message(&got).contains(field), "{body}: {got}");
    }
    let (status, body) = post(
        &p,
        "/api/v1/channels/3402000000131000000x/ptz",
        json!({ "action": "left" }),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(error_message(&body).starts_with("channel_id:"), "{body}");
    assert_eq!(sim.ptz(&ch).commands, 0, "bad input reaches no camera");

    // A channel nobody reported: 404.
    let unknown: DeviceId = "34020000001310009999".parse().unwrap();
    let (status, body) = ptz(&p, &unknown, json!({ "action": "left" })).await;
    assert_eq!(status, 404, "{body}");
    let (status, body) = preset(&p, &unknown, "1", "goto").await;
    assert_eq!(status, 404, "{body}");

    // The owning device is offline: 409, for its channels and itself.
    let other = sim.channel_id(1, 0);
    sim.unregister(1).await;
    p.wait_online(&[sim.device_id(1).to_string()], &[Some(false)], WAIT)
        .await;
    let (status, body) = ptz(&p, &other, json!({ "action": "left" })).await;
    assert_eq!(status, 409, "{body}");
    assert!(error_message(&body).contains("offline"), "{body}");
    let (status, body) = preset(&p, &other, "1", "set").await;
    assert_eq!(status, 409, "{body}");

    // The camera refuses: 502 with its status.
    sim.ptz_answer(0, PtzAnswer::Refuse(488)).await;
    let (status, body) = ptz(&p, &ch, json!({ "action": "left" })).await;
    assert_eq!(status, 502, "{body}");
    assert!(error_message(&body).contains("488"), "{body}");
    assert_eq!(sim.ptz(&ch).commands, 0);

    // The camera takes the MESSAGE and never answers: 504 after sip.query_timeout (1 s),
    // while the device stays online.
    sim.ptz_answer(0, PtzAnswer::Ignore).await;
    let start = Instant::now();
    let (status, body) = preset(&p, &ch, "2", "goto").await;
    assert_eq!(status, 504, "{body}");
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(5),
        "{took:?}"
    );
    assert!(sim.ptz(&ch).ignored >= 1, "the MESSAGE reached the camera");
    assert_eq!(sim.ptz(&ch).commands, 0);
    p.wait_online(&[sim.device_id(0).to_string()], &[Some(true)], WAIT)
        .await;
    sim.stop().await;
    p.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_registered_over_tcp_is_controlled_over_tcp() {
    let (_db, mut p, sim) = setup(1, SimTransport::Tcp).await;
    let dev = sim.device_id(0).to_string();
    let (status, d) = {
        let resp = p
            .http
            .get(p.api(&format!("/api/v1/devices/{dev}")))
            .send()
            .await
            .unwrap();
        (resp.status().as_u16(), resp.json::<Value>().await.unwrap())
    };
    assert_eq!(status, 200);
    assert_eq!(d["registered_transport"], "tcp", "{d}");
    let ch = sim.channel_id(0, 1);
    let (status, body) = ptz(&p, &ch, json!({ "action": "down_right", "speed": 77 })).await;
    assert_eq!(status, 204, "{body}");
    let v = obeyed(&sim, &ch, 1).await;
    assert_eq!((v.motion.pan, v.motion.tilt), (77, -77));
    assert_eq!(preset(&p, &ch, "9", "set").await.0, 204);
    assert!(obeyed(&sim, &ch, 2).await.presets.contains_key(&9));
    sim.stop().await;
    p.shutdown().await;
}
