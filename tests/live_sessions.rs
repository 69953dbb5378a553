//! Live sessions end to end over real sockets: the platform on SQLite with auth on,
//! simulated cameras answering INVITE and streaming the test clips as PS over RTP (UDP, TCP
//! passive, TCP active), `POST /api/v1/channels/{id}/live`, the fMP4 read back over HTTP
//! with the signed URL it answers (as a player without headers would) and checked with
//! ffprobe, ffmpeg and a WebSocket client, and every way a session ends (DELETE, idle, the
//! device's BYE).

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::ffprobe::{Probe, ffmpeg_play, ffprobe};
use common::{Backend, Platform, TestDb, WAIT, config, init_logging, sim_config};
use serde_json::Value;
use tokio::sync::broadcast;
use tokio::time::{Instant, timeout_at};
use vigil::config::Config;
use vigil::platform::events::{Event, EventKind, LiveStopReason};
use vigil::sim::{InviteAnswer, SimHandle, SimMedia, SimTransport, Simulator};
use vigil_media::VideoCodec;

/// A platform with one simulated NVR (2 channels) registered and its channels stored.
struct Live {
    p: Platform,
    sim: SimHandle,
    events: broadcast::Receiver<Arc<Event>>,
    _db: TestDb,
}

async fn live(media: SimMedia, tweak: impl FnOnce(&mut Config)) -> Live {
    live_over(SimTransport::Udp, media, tweak).await
}

async fn live_over(sip: SimTransport, media: SimMedia, tweak: impl FnOnce(&mut Config)) -> Live {
    init_logging();
    let db = TestDb::new(Backend::Sqlite).await;
    let mut c = config(&db);
    tweak(&mut c);
    let p = Platform::start(c).await;
    let events = p.running().events.subscribe();
    let mut sc = sim_config(p.sip(), 1);
    sc.media = media;
    sc.transport = sip;
    let sim = Simulator::start(sc).await.unwrap();
    sim.wait_registered(1, WAIT).await.unwrap();
    // The platform asks the new device for its catalog; wait until the channels are in.
    let store = &p.running().store;
    let deadline = Instant::now() + WAIT;
    for j in 0..2 {
        let ch = sim.channel_id(0, j).to_string();
        while store.get_channel(&ch).await.unwrap().is_none() {
            assert!(
                Instant::now() < deadline,
                "catalog sync stored no channel {ch}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    Live {
        p,
        sim,
        events,
        _db: db,
    }
}

impl Live {
    fn channel(&self, j: usize) -> String {
        self.sim.channel_id(0, j).to_string()
    }

    /// `POST .../live` with an optional transport; status and JSON body.
    async fn start(&self, channel: &str, transport: Option<&str>) -> (u16, Value) {
        let mut req = self
            .p
            .http
            .post(self.p.api(&format!("/api/v1/channels/{channel}/live")));
        if let Some(t) = transport {
            req = req.json(&serde_json::json!({ "transport": t }));
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        let v = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, v)
    }

    /// Starts live view and insists it works.
    async fn play(&self, channel: &str, transport: Option<&str>) -> Value {
        let (status, v) = self.start(channel, transport).await;
        assert_eq!(
            status, 200,
            "POST live for {channel} ({transport:?}): {v:#}"
        );
        v
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        let r = self.p.http.get(self.p.api(path)).send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// `duration` of the body at `path` (a live fMP4 stream), fetched without credentials
    /// as a player given the signed URL from `POST .../live` does.
    async fn read(&self, path: &str, duration: Duration) -> Vec<u8> {
        let mut r = self
            .p
            .anonymous()
            .get(self.p.api(path))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "GET {path}");
        let mut body = Vec::new();
        let end = Instant::now() + duration;
        while let Ok(Ok(Some(chunk))) = timeout_at(end, r.chunk()).await {
            body.extend_from_slice(&chunk);
        }
        body
    }

    /// The next event matching `pred` (others are skipped); panics after `WAIT`.
    async fn event(&mut self, what: &str, pred: impl Fn(&EventKind) -> bool) -> EventKind {
        let end = Instant::now() + WAIT;
        loop {
            match timeout_at(end, self.events.recv()).await {
                Ok(Ok(e)) if pred(&e.kind) => return e.kind.clone(),
                Ok(Ok(_)) | Ok(Err(broadcast::error::RecvError::Lagged(_))) => {}
                _ => panic!("no {what} event within {WAIT:?}"),
            }
        }
    }

    async fn wait_sim(&self, what: &str, pred: impl FnMut(&vigil::sim::SimStatus) -> bool) {
        self.sim.wait_for(what, WAIT, pred).await.unwrap();
    }
}

/// The `?token=` of a live URL from `POST .../live`, and the URL without it.
fn signed(url: &str) -> (&str, &str) {
    let (path, token) = url.split_once("?token=").expect("a signed live URL");
    (path, token)
}

/// 3 s of the session's signed `.mp4` URL, opened without credentials, is the simulator's
/// clip at its size: 3 s of frames at 25 fps plus up to one cached GOP. Without its token
/// the same URL is refused.
async fn assert_plays(l: &Live, started: &Value, codec: &str) -> Probe {
    let mp4 = started["urls"]["mp4"].as_str().unwrap();
    let unsigned = l.p.anonymous().get(l.p.api(signed(mp4).0)).send().await;
    assert_eq!(unsigned.unwrap().status(), 401, "{mp4} without its token");
    let p = ffprobe(&l.read(mp4, Duration::from_secs(3)).await);
    assert_eq!((p.codec.as_str(), p.width, p.height), (codec, 640, 360));
    assert!((60..=110).contains(&p.frames), "{p:?}");
    p
}

fn default_media() -> SimMedia {
    SimMedia::default()
}

/// The first `n` binary messages of a live WebSocket (fMP4: the init segment, then
/// fragments).
async fn ws_messages(
    req: tokio_tungstenite::tungstenite::handshake::client::Request,
    n: usize,
) -> Vec<Vec<u8>> {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    let mut out = Vec::new();
    let end = Instant::now() + WAIT;
    while out.len() < n {
        match timeout_at(end, ws.next()).await {
            Ok(Some(Ok(Message::Binary(b)))) => out.push(b.to_vec()),
            Ok(Some(Ok(_))) => {}
            other => panic!("{} of {n} WebSocket messages, then {other:?}", out.len()),
        }
    }
    out
}

/// The URLs `POST .../live` answers open in players that send no headers: ffmpeg plays the
/// signed `.mp4` and HLS URLs, and a WebSocket client (a browser cannot add headers to one)
/// gets the init segment and a key frame with the token, as it does with the API key.
/// Without either the handshake is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn players_without_headers_open_the_signed_urls() {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let l = live(default_media(), |_| {}).await;
    let v = l.play(&l.channel(0), None).await;
    let http = l.p.api("");
    for kind in ["mp4", "hls"] {
        let url = format!("{http}{}", v["urls"][kind].as_str().unwrap());
        let (frames, stderr) = ffmpeg_play(&url, 1).await;
        assert!(
            (20..=30).contains(&frames),
            "{kind}: {frames} frames decoded in 1 s; {stderr}"
        );
    }

    let ws = format!("ws{}", http.strip_prefix("http").unwrap());
    let signed_ws = format!("{ws}{}", v["urls"]["ws"].as_str().unwrap());
    let unsigned_ws = format!("{ws}{}", signed(v["urls"]["ws"].as_str().unwrap()).0);
    let mut with_key = unsigned_ws.as_str().into_client_request().unwrap();
    with_key
        .headers_mut()
        .insert("authorization", l.p.bearer().parse().unwrap());
    for req in [signed_ws.into_client_request().unwrap(), with_key] {
        let m = ws_messages(req, 2).await;
        assert_eq!((&m[0][4..8], &m[1][4..8]), (&b"ftyp"[..], &b"moof"[..]));
    }
    match tokio_tungstenite::connect_async(unsigned_ws.as_str()).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => assert_eq!(r.status(), 401),
        other => panic!("a WebSocket without credentials: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn udp_live_plays_h264_and_is_listed_with_stats() {
    let mut l = live(default_media(), |_| {}).await;
    let ch = l.channel(0);
    let v = l.play(&ch, None).await;
    let id = v["session_id"].as_str().unwrap().to_owned();
    assert_eq!(v["channel_id"], ch.as_str());
    assert_eq!(v["device_id"], l.sim.device_id(0).as_str());
    assert_eq!(v["transport"], "udp");
    assert_eq!(v["joined"], false);
    let ssrc = v["ssrc"].as_str().unwrap();
    assert!(ssrc.len() == 10 && ssrc.starts_with("020000"), "{ssrc}");
    let token = signed(v["urls"]["mp4"].as_str().unwrap()).1;
    assert_eq!(v["urls"]["mp4"], format!("/live/{id}.mp4?token={token}"));
    assert_eq!(v["urls"]["ws"], format!("/live/{id}/ws?token={token}"));
    assert_eq!(
        v["urls"]["hls"],
        format!("/live/{id}/index.m3u8?token={token}")
    );
    match l
        .event("live_started", |k| {
            matches!(k, EventKind::LiveStarted { .. })
        })
        .await
    {
        EventKind::LiveStarted {
            session_id,
            transport,
            ..
        } => assert_eq!(
            (session_id.as_str(), transport.as_str()),
            (id.as_str(), "udp")
        ),
        _ => unreachable!(),
    }
    assert_plays(&l, &v, "h264").await;

    let (status, list) = l.get("/api/v1/live").await;
    assert_eq!(status, 200);
    assert_eq!(list["total"], 1);
    let s = &list["items"][0];
    assert_eq!(s["session_id"], id.as_str());
    assert_eq!(s["state"], "playing");
    assert_eq!(
        (
            s["codec"].as_str(),
            s["width"].as_u64(),
            s["height"].as_u64()
        ),
        (Some("H264"), Some(640), Some(360))
    );
    let fps = s["fps"].as_f64().unwrap();
    assert!((20.0..=30.0).contains(&fps), "fps {fps}");
    assert!(s["bitrate_bps"].as_u64().unwrap() > 500_000, "{s:#}");
    assert_eq!(s["packets_lost"], 0);
    assert!(s["started_at"].as_i64().unwrap() > 0);
    let (status, one) = l.get(&format!("/api/v1/live/{id}")).await;
    assert_eq!(
        (status, &one["session_id"]),
        (200, &list["items"][0]["session_id"])
    );
    let ch0 = l.sim.channel(0, 0);
    assert_eq!((ch0.invites, ch0.acks, ch0.streaming), (1, 1, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_passive_and_tcp_active_play() {
    let l = live(default_media(), |_| {}).await;
    let (a, b) = (l.channel(0), l.channel(1));
    let (passive, active) = tokio::join!(
        l.play(&a, Some("tcp_passive")),
        l.play(&b, Some("tcp_active"))
    );
    assert_eq!(passive["transport"], "tcp_passive");
    assert_eq!(active["transport"], "tcp_active");
    tokio::join!(
        assert_plays(&l, &passive, "h264"),
        assert_plays(&l, &active, "h264")
    );
    let list = l.get("/api/v1/live").await.1;
    let session = |ch: &str| {
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["channel_id"] == ch)
            .unwrap()
            .clone()
    };
    // Passive: the device connected to us from some port. Active: we connected to the
    // port the device's answer named (a listener of its own, not the RFC 4145 port 9).
    let (p, a) = (session(&a), session(&b));
    assert!(p["remote"].as_str().is_some(), "{p:#}");
    let remote: std::net::SocketAddr = a["remote"].as_str().unwrap().parse().unwrap();
    assert!(remote.port() != 9 && remote.port() != 0, "{a:#}");
    assert_eq!(l.sim.status().streams, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_on_sip_over_tcp_is_invited_on_its_connection() {
    let mut l = live_over(SimTransport::Tcp, default_media(), |_| {}).await;
    let v = l.play(&l.channel(0), None).await;
    assert_plays(&l, &v, "h264").await;
    let id = v["session_id"].as_str().unwrap().to_owned();
    l.sim.hangup(0, 0).await;
    match l
        .event("live_stopped", |k| {
            matches!(k, EventKind::LiveStopped { .. })
        })
        .await
    {
        EventKind::LiveStopped {
            session_id, reason, ..
        } => assert_eq!((session_id, reason), (id, LiveStopReason::DeviceBye)),
        _ => unreachable!(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_ack_is_sent_again_for_the_retransmitted_200() {
    let media = SimMedia {
        ignore_first_ack: true,
        ..default_media()
    };
    let l = live(media, |_| {}).await;
    let started = Instant::now();
    let v = l.play(&l.channel(0), None).await;
    // Media starts on the second ACK, after the device's first 200 OK retransmission (T1).
    assert!(started.elapsed() >= Duration::from_millis(500));
    assert_eq!(l.sim.channel(0, 0).acks, 1);
    assert_plays(&l, &v, "h264").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h265_plays_through_mp4() {
    let media = SimMedia {
        codec: VideoCodec::H265,
        ..default_media()
    };
    let l = live(media, |_| {}).await;
    let v = l.play(&l.channel(0), None).await;
    assert_plays(&l, &v, "hevc").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_percent_loss_keeps_playing() {
    let media = SimMedia {
        loss_percent: 5.0,
        ..default_media()
    };
    let l = live(media, |_| {}).await;
    let v = l.play(&l.channel(0), None).await;
    let mp4 = v["urls"]["mp4"].as_str().unwrap();
    let p = ffprobe(&l.read(mp4, Duration::from_secs(3)).await);
    assert_eq!((p.codec.as_str(), p.width, p.height), ("h264", 640, 360));
    // Frames hit by loss are dropped (or played damaged); most of 3 s still arrives.
    assert!(p.frames >= 30, "{p:?}");
    let s = &l.get("/api/v1/live").await.1["items"][0];
    assert!(s["packets_lost"].as_u64().unwrap() > 0, "{s:#}");
    assert!(l.sim.status().rtp_packets_dropped > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_with_another_ssrc_than_offered_still_plays() {
    let media = SimMedia {
        ssrc_mismatch: true,
        ..default_media()
    };
    let l = live(media, |_| {}).await;
    let v = l.play(&l.channel(0), None).await;
    assert_plays(&l, &v, "h264").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_h264_payload_plays() {
    let media = SimMedia {
        raw_h264: true,
        ..default_media()
    };
    let l = live(media, |_| {}).await;
    let v = l.play(&l.channel(0), None).await;
    assert_plays(&l, &v, "h264").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_requests_for_one_channel_share_one_invite() {
    let l = live(default_media(), |_| {}).await;
    let ch = l.channel(0);
    let (a, b) = tokio::join!(l.play(&ch, None), l.play(&ch, Some("tcp_active")));
    assert_eq!(a["session_id"], b["session_id"]);
    assert_ne!(a["joined"], b["joined"], "one started it, the other joined");
    let c = l.play(&ch, None).await;
    assert_eq!(
        (c["session_id"].clone(), c["joined"].clone()),
        (a["session_id"].clone(), Value::Bool(true))
    );
    assert_eq!(l.sim.channel(0, 0).invites, 1, "{:?}", l.sim.channel(0, 0));
    assert_eq!(l.get("/api/v1/live").await.1["total"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_sends_bye_and_the_stream_stops() {
    let mut l = live(default_media(), |_| {}).await;
    let v = l.play(&l.channel(0), None).await;
    let id = v["session_id"].as_str().unwrap().to_owned();
    let r =
        l.p.http
            .delete(l.p.api(&format!("/api/v1/live/{id}")))
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), 204);
    // DELETE answers once the device answered the BYE.
    let ch0 = l.sim.channel(0, 0);
    assert_eq!(ch0.byes_received, 1, "{ch0:?}");
    l.wait_sim("the stream to stop", |s| s.streams == 0).await;
    match l
        .event("live_stopped", |k| {
            matches!(k, EventKind::LiveStopped { .. })
        })
        .await
    {
        EventKind::LiveStopped { reason, .. } => assert_eq!(reason, LiveStopReason::Stopped),
        _ => unreachable!(),
    }
    assert_eq!(l.get(&format!("/api/v1/live/{id}")).await.0, 404);
    assert_eq!(l.get(&format!("/live/{id}.mp4")).await.0, 404);
    let r =
        l.p.http
            .delete(l.p.api(&format!("/api/v1/live/{id}")))
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), 404);
    // The channel can be watched again: a new INVITE.
    let again = l.play(&l.channel(0), None).await;
    assert_ne!(again["session_id"], id.as_str());
    assert_eq!(l.sim.channel(0, 0).invites, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_bye_ends_the_session() {
    let mut l = live(default_media(), |_| {}).await;
    let v = l.play(&l.channel(1), None).await;
    let id = v["session_id"].as_str().unwrap().to_owned();
    l.sim.hangup(0, 1).await;
    match l
        .event("live_stopped", |k| {
            matches!(k, EventKind::LiveStopped { .. })
        })
        .await
    {
        EventKind::LiveStopped {
            session_id, reason, ..
        } => assert_eq!(
            (session_id, reason),
            (id.clone(), LiveStopReason::DeviceBye)
        ),
        _ => unreachable!(),
    }
    assert_eq!(l.get(&format!("/api/v1/live/{id}")).await.0, 404);
    let ch = l.sim.channel(0, 1);
    assert_eq!(
        (ch.byes_sent, ch.byes_received, ch.streaming),
        (1, 0, 0),
        "{ch:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_nobody_watches_is_hung_up_after_the_idle_timeout() {
    let mut l = live(default_media(), |c| {
        c.media.idle_timeout = Duration::from_secs(1);
    })
    .await;
    let started = Instant::now();
    let v = l.play(&l.channel(0), None).await;
    let id = v["session_id"].as_str().unwrap().to_owned();
    match l
        .event("live_stopped", |k| {
            matches!(k, EventKind::LiveStopped { .. })
        })
        .await
    {
        EventKind::LiveStopped {
            session_id, reason, ..
        } => assert_eq!((session_id, reason), (id, LiveStopReason::Idle)),
        _ => unreachable!(),
    }
    assert!(started.elapsed() >= Duration::from_secs(1));
    l.wait_sim("the BYE", |s| {
        s.channels.values().map(|c| c.byes_received).sum::<u32>() == 1 && s.streams == 0
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_channel_404_offline_device_409_bad_id_400() {
    let l = live(default_media(), |_| {}).await;
    let (status, v) = l.start("34020000001310099999", None).await;
    assert_eq!(status, 404, "{v:#}");
    assert_eq!(v["error"]["code"], "not_found");
    let (status, v) = l.start("not-an-id", None).await;
    assert_eq!(status, 400, "{v:#}");
    let (status, v) = l.start(&l.channel(0), Some("carrier-pigeon")).await;
    assert_eq!(status, 400, "{v:#}");

    l.sim.unregister(0).await;
    let device = l.sim.device_id(0).to_string();
    l.p.wait_online(&[device], &[Some(false)], WAIT).await;
    let (status, v) = l.start(&l.channel(0), None).await;
    assert_eq!(status, 409, "{v:#}");
    assert_eq!(v["error"]["code"], "conflict");
    assert_eq!(l.sim.channel(0, 0).invites, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_invite_is_502_with_the_sip_status() {
    let media = SimMedia {
        invite: InviteAnswer::Refuse(486),
        ..default_media()
    };
    let mut l = live(media, |_| {}).await;
    let (status, v) = l.start(&l.channel(0), None).await;
    assert_eq!(status, 502, "{v:#}");
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(msg.contains("486"), "{msg}");
    match l
        .event("live_failed", |k| matches!(k, EventKind::LiveFailed { .. }))
        .await
    {
        EventKind::LiveFailed { sip_status, .. } => assert_eq!(sip_status, Some(486)),
        _ => unreachable!(),
    }
    assert_eq!(l.get("/api/v1/live").await.1["total"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unanswered_invite_is_504_after_the_invite_timeout() {
    let media = SimMedia {
        invite: InviteAnswer::Ignore,
        ..default_media()
    };
    let l = live(media, |c| c.media.invite_timeout = Duration::from_secs(1)).await;
    let started = Instant::now();
    let (status, v) = l.start(&l.channel(0), None).await;
    assert_eq!(status, 504, "{v:#}");
    assert!(started.elapsed() >= Duration::from_secs(1));
    assert_eq!(l.get("/api/v1/live").await.1["total"], 0);
}
