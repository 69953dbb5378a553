//! The devices resource beyond its fields: the integrator's transport preference (kept apart
//! from how the device registers, and followed by live view), and DELETE, which unregisters
//! and removes a device (live sessions hung up, catalog subscription cancelled, its
//! keepalives and MESSAGEs refused until it registers again, channels deleted) without
//! touching the others.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::ffprobe::ffprobe;
use common::{Backend, Platform, TestDb, WAIT, config, init_logging, sim_config};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::broadcast;
use tokio::time::{Instant, timeout_at};
use vigil::platform::events::{Event, EventKind, LiveStopReason, OfflineReason, SubscriptionState};
use vigil::sim::{CatalogChange, SimHandle, Simulator};

/// `(status, JSON body)` of an API call.
async fn call(p: &Platform, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut req = p.http.request(method, p.api(path));
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

async fn get_device(p: &Platform, id: &str) -> Value {
    let (status, v) = call(p, "GET", &format!("/api/v1/devices/{id}"), None).await;
    assert_eq!(status, 200, "GET device {id}: {v}");
    v
}

/// `(transport, registered_transport)` of a device row.
fn transports(d: &Value) -> (Value, Value) {
    (d["transport"].clone(), d["registered_transport"].clone())
}

/// Waits until the store holds every channel of sim device `i`.
async fn wait_channels(p: &Platform, sim: &SimHandle, i: usize, n: usize) {
    let store = &p.running().store;
    let deadline = Instant::now() + WAIT;
    for j in 0..n {
        let ch = sim.channel_id(i, j).to_string();
        while store.get_channel(&ch).await.unwrap().is_none() {
            assert!(Instant::now() < deadline, "catalog sync stored no {ch}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// The next event matching `pred`; panics after `WAIT`.
async fn event(
    rx: &mut broadcast::Receiver<Arc<Event>>,
    what: &str,
    pred: impl Fn(&EventKind) -> bool,
) -> EventKind {
    let end = Instant::now() + WAIT;
    loop {
        match timeout_at(end, rx.recv()).await {
            Ok(Ok(e)) if pred(&e.kind) => return e.kind.clone(),
            Ok(Ok(_)) | Ok(Err(broadcast::error::RecvError::Lagged(_))) => {}
            _ => panic!("no {what} event within {WAIT:?}"),
        }
    }
}

/// Starts live view; the answer must be 200.
async fn play(p: &Platform, channel: &str, body: Option<Value>) -> Value {
    let (status, v) = call(p, "POST", &format!("/api/v1/channels/{channel}/live"), body).await;
    assert_eq!(status, 200, "POST live {channel}: {v:#}");
    v
}

/// `duration` of a live `.mp4` (its URL as `POST .../live` gave it).
async fn read_mp4(p: &Platform, url: &str, duration: Duration) -> Vec<u8> {
    let mut r = p.http.get(p.api(url)).send().await.unwrap();
    assert_eq!(r.status(), 200, "GET {url}");
    let mut body = Vec::new();
    let end = Instant::now() + duration;
    while let Ok(Ok(Some(chunk))) = timeout_at(end, r.chunk()).await {
        body.extend_from_slice(&chunk);
    }
    body
}

/// The session `id` as `GET /api/v1/live` lists it.
async fn listed(p: &Platform, id: &str) -> Option<Value> {
    let (status, list) = call(p, "GET", "/api/v1/live", None).await;
    assert_eq!(status, 200);
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["session_id"] == id)
        .cloned()
}

/// A preference set through the API is the integrator's: registrations (over the other
/// transport, refreshed, after a restart) show what the device used next to it and never
/// overwrite it; PATCH changes and clears it and leaves the registered transport alone.
async fn preference_survives_registration(backend: Backend) {
    init_logging();
    let db = TestDb::new(backend).await;
    let mut p = Platform::start(config(&db)).await;
    // The simulator's first device: provisioned before it registers.
    let id = "34020000001320000001".to_owned();
    let (status, row) = call(
        &p,
        "POST",
        "/api/v1/devices",
        Some(json!({"device_id": id, "transport": "tcp"})),
    )
    .await;
    assert_eq!(status, 201, "{row}");
    assert_eq!(transports(&row), (json!("tcp"), Value::Null), "{row}");
    let sim = Simulator::start(sim_config(p.sip(), 1)).await.unwrap();
    assert_eq!(sim.device_id(0).to_string(), id);
    sim.wait_registered(1, WAIT).await.unwrap();
    p.wait_online(std::slice::from_ref(&id), &[Some(true)], WAIT)
        .await;
    assert_eq!(
        transports(&get_device(&p, &id).await),
        (json!("tcp"), json!("udp")),
        "registered over UDP with a TCP preference"
    );

    // A fresh REGISTER (not a refresh of the last one) over UDP again.
    let before = sim.status().devices[0].registrations;
    sim.register(0).await;
    sim.wait_for("a second registration", WAIT, |s| {
        s.devices[0].registrations > before
    })
    .await
    .unwrap();
    // Registrations are stored before their 200 OK.
    let d = get_device(&p, &id).await;
    assert_eq!(transports(&d), (json!("tcp"), json!("udp")), "{d}");
    let listed = p.devices().await;
    let d = listed
        .iter()
        .find(|d| d["device_id"] == id.as_str())
        .unwrap();
    assert_eq!(transports(d), (json!("tcp"), json!("udp")), "{d}");

    // PATCH to another preference; the registered transport stays.
    let (status, d) = call(
        &p,
        "PATCH",
        &format!("/api/v1/devices/{id}"),
        Some(json!({"transport": "tcp_active"})),
    )
    .await;
    assert_eq!(status, 200, "{d}");
    assert_eq!(transports(&d), (json!("tcp_active"), json!("udp")), "{d}");

    // Stored, not cached: a restart reads both back, and the device stays registered.
    p.restart().await;
    let d = get_device(&p, &id).await;
    assert_eq!(transports(&d), (json!("tcp_active"), json!("udp")), "{d}");
    assert_eq!(d["online"], true, "{d}");

    // null: follow the device again.
    let (status, d) = call(
        &p,
        "PATCH",
        &format!("/api/v1/devices/{id}"),
        Some(json!({"transport": null})),
    )
    .await;
    assert_eq!(status, 200, "{d}");
    assert_eq!(transports(&d), (Value::Null, json!("udp")), "{d}");
    // The read-only field cannot be written, and unknown preferences are refused.
    for body in [
        json!({"registered_transport": "tcp"}),
        json!({"transport": "sctp"}),
    ] {
        let (status, e) = call(&p, "PATCH", &format!("/api/v1/devices/{id}"), Some(body)).await;
        assert_eq!(status, 422, "{e}");
        let message = e["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains("transport"), "{e}");
    }
    assert_eq!(
        transports(&get_device(&p, &id).await),
        (Value::Null, json!("udp"))
    );
    // The document says which is which.
    let (status, doc) = call(&p, "GET", "/api/v1/openapi.json", None).await;
    assert_eq!(status, 200);
    let schemas = &doc["components"]["schemas"];
    let fields = &schemas["DeviceRecord"]["properties"];
    assert_eq!(
        fields["registered_transport"]["readOnly"], true,
        "{fields:#}"
    );
    let pref = fields["transport"].to_string();
    assert!(pref.contains("TransportPref"), "{pref}");
    assert_eq!(
        schemas["TransportPref"]["enum"],
        json!(["udp", "tcp", "tcp_passive", "tcp_active"]),
        "{:#}",
        schemas["TransportPref"]
    );
    sim.stop().await;
    p.shutdown().await;
}

macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(super::Backend::Sqlite).await }
            )*
        }
        mod postgres {
            $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(super::Backend::Postgres).await }
            )*
        }
    };
}

both_backends!(preference_survives_registration);

/// A device that prefers TCP is watched over TCP: RTP over TCP (vigil listening, or
/// connecting for `tcp_active`) and the INVITE over a TCP connection to it, which a device
/// registered over UDP may refuse (then the INVITE goes over UDP). A transport in the
/// request still wins over the preference.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_view_follows_the_devices_tcp_preference() {
    init_logging();
    let db = TestDb::new(Backend::Sqlite).await;
    let p = Platform::start(config(&db)).await;
    let sim = Simulator::start(sim_config(p.sip(), 1)).await.unwrap();
    sim.wait_registered(1, WAIT).await.unwrap();
    wait_channels(&p, &sim, 0, 2).await;
    let id = sim.device_id(0).to_string();
    let (ch0, ch1) = (
        sim.channel_id(0, 0).to_string(),
        sim.channel_id(0, 1).to_string(),
    );
    let patch = |t: &'static str| json!({ "transport": t });
    let (status, d) = call(
        &p,
        "PATCH",
        &format!("/api/v1/devices/{id}"),
        Some(patch("tcp")),
    )
    .await;
    assert_eq!(status, 200, "{d}");

    // The simulator speaks SIP over UDP only: the TCP connection is refused, the INVITE
    // goes as the device registered, the media over TCP.
    let v = play(&p, &ch0, None).await;
    assert_eq!(v["transport"], "tcp_passive", "{v:#}");
    let s = listed(&p, v["session_id"].as_str().unwrap()).await.unwrap();
    assert_eq!(
        (&s["transport"], &s["sip_transport"]),
        (&json!("tcp_passive"), &json!("udp")),
        "{s:#}"
    );
    let probe = ffprobe(
        &read_mp4(
            &p,
            v["urls"]["mp4"].as_str().unwrap(),
            Duration::from_secs(2),
        )
        .await,
    );
    assert_eq!(
        (probe.codec.as_str(), probe.width),
        ("h264", 640),
        "{probe:?}"
    );
    assert!(probe.frames > 10, "{probe:?}");

    // The request's transport wins.
    let v1 = play(&p, &ch1, Some(json!({"transport": "udp"}))).await;
    assert_eq!(v1["transport"], "udp", "{v1:#}");

    // tcp_active: vigil connects to the device for the media.
    let (status, _) = call(
        &p,
        "PATCH",
        &format!("/api/v1/devices/{id}"),
        Some(patch("tcp_active")),
    )
    .await;
    assert_eq!(status, 200);
    for v in [&v, &v1] {
        let sid = v["session_id"].as_str().unwrap();
        let (status, _) = call(&p, "DELETE", &format!("/api/v1/live/{sid}"), None).await;
        assert_eq!(status, 204);
    }
    let v = play(&p, &ch0, None).await;
    assert_eq!(v["transport"], "tcp_active", "{v:#}");
    let probe = ffprobe(
        &read_mp4(
            &p,
            v["urls"]["mp4"].as_str().unwrap(),
            Duration::from_secs(2),
        )
        .await,
    );
    assert_eq!(probe.codec, "h264", "{probe:?}");
    let sid = v["session_id"].as_str().unwrap().to_owned();
    let (status, _) = call(&p, "DELETE", &format!("/api/v1/live/{sid}"), None).await;
    assert_eq!(status, 204);
    assert_eq!(sim.channel(0, 0).invites, 2);

    // A device that does take SIP over TCP where it registered from gets the INVITE there:
    // a listener in the simulator's place answers it with 486.
    let device_addr = sim.udp_local_addrs()[0];
    let listener = tokio::net::TcpListener::bind(device_addr).await.unwrap();
    let start = {
        let (http, url) = (
            p.http.clone(),
            p.api(&format!("/api/v1/channels/{ch0}/live")),
        );
        tokio::spawn(async move {
            let r = http.post(url).send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        })
    };
    let (mut conn, _) = timeout_at(Instant::now() + WAIT, listener.accept())
        .await
        .expect("vigil connects over TCP")
        .unwrap();
    let invite = read_sip(&mut conn).await;
    let text = String::from_utf8_lossy(&invite.to_bytes()).into_owned();
    assert!(text.starts_with(&format!("INVITE sip:{ch0}@")), "{text}");
    let via = invite.headers.get("Via").unwrap_or_default().to_owned();
    assert!(via.starts_with("SIP/2.0/TCP "), "{via}");
    assert!(text.contains("TCP/RTP/AVP"), "media over TCP too: {text}");
    let busy = vigil_sip::Response::for_request(&invite, 486, "Busy Here").with_to_tag("t486");
    conn.write_all(&busy.to_bytes()).await.unwrap();
    let (status, body) = start.await.unwrap();
    assert_eq!(status, 502, "{body}");
    assert!(body.contains("486"), "{body}");
    assert_eq!(
        sim.channel(0, 0).invites,
        2,
        "the simulator got no INVITE this time"
    );
    sim.stop().await;
}

/// One SIP request from a TCP stream (skipping CRLF keep-alives before it).
async fn read_sip(conn: &mut tokio::net::TcpStream) -> vigil_sip::Request {
    let mut buf = Vec::new();
    let end = Instant::now() + WAIT;
    loop {
        while buf.starts_with(b"\r\n") {
            buf.drain(..2);
        }
        if let Some(head) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head_text = String::from_utf8_lossy(&buf[..head]).to_ascii_lowercase();
            let length: usize = head_text
                .lines()
                .find_map(|l| {
                    l.strip_prefix("content-length:")
                        .or_else(|| l.strip_prefix("l:"))
                })
                .map_or(0, |v| v.trim().parse().unwrap());
            let total = head + 4 + length;
            if buf.len() >= total {
                return vigil_sip::Request::parse(&buf[..total]).expect("a SIP request");
            }
        }
        let mut chunk = [0u8; 4096];
        let n = timeout_at(end, conn.read(&mut chunk))
            .await
            .expect("the request arrives")
            .unwrap();
        assert!(n > 0, "connection closed before a request: {buf:?}");
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// A platform with `n` simulated devices of 2 channels registered, their channels stored
/// and their catalog subscriptions active.
async fn devices_with_catalogs(
    db: &TestDb,
    n: usize,
    tweak: impl FnOnce(&mut vigil::config::Config),
) -> (Platform, SimHandle) {
    init_logging();
    let mut c = config(db);
    tweak(&mut c);
    let p = Platform::start(c).await;
    let sim = Simulator::start(sim_config(p.sip(), n)).await.unwrap();
    sim.wait_registered(n, WAIT).await.unwrap();
    for i in 0..n {
        wait_channels(&p, &sim, i, 2).await;
    }
    sim.wait_for("catalog subscriptions", WAIT, |s| {
        s.catalog.subscribed.len() == n
    })
    .await
    .unwrap();
    (p, sim)
}

/// DELETE of a device that is being watched: the device gets its BYE and its
/// unsubscribe, the session leaves the list and its viewer's stream ends, its channels go,
/// the registry forgets it (its MESSAGEs and keepalives get 403), and the events say so.
/// The other device, its channels, subscription and session are untouched; the removed
/// one registers again (unknown devices are allowed) and is a device anew.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_hangs_up_unsubscribes_and_unregisters_only_that_device() {
    let db = TestDb::new(Backend::Sqlite).await;
    let (mut p, sim) = devices_with_catalogs(&db, 2, |_| {}).await;
    let (gone, kept) = (sim.device_id(0).to_string(), sim.device_id(1).to_string());
    let gone_channels: Vec<String> = (0..2).map(|j| sim.channel_id(0, j).to_string()).collect();
    let watched = play(&p, &gone_channels[0], None).await;
    let watched_id = watched["session_id"].as_str().unwrap().to_owned();
    let other = play(&p, sim.channel_id(1, 0).as_ref(), None).await;
    let other_id = other["session_id"].as_str().unwrap().to_owned();
    // A viewer of the session that is about to end: its stream must end, not hang.
    let viewer = {
        let (http, url) = (
            p.http.clone(),
            p.api(watched["urls"]["mp4"].as_str().unwrap()),
        );
        tokio::spawn(async move {
            let mut r = http.get(url).send().await.unwrap();
            assert_eq!(r.status(), 200);
            let mut n = 0;
            while let Ok(Some(chunk)) = r.chunk().await {
                n += chunk.len();
            }
            n
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Quiet, so the checks below see the removed state before it registers again.
    sim.stop_keepalives(0).await;
    let mut events = p.running().events.subscribe();

    let (status, body) = call(&p, "DELETE", &format!("/api/v1/devices/{gone}"), None).await;
    assert_eq!(status, 204, "{body}");

    // The BYE was answered before the DELETE was.
    let ch = sim.channel(0, 0);
    assert_eq!((ch.byes_received, ch.streaming), (1, 0), "{ch:?}");
    assert!(listed(&p, &watched_id).await.is_none());
    assert_eq!(
        call(&p, "GET", &format!("/api/v1/live/{watched_id}"), None)
            .await
            .0,
        404
    );
    let bytes = timeout_at(Instant::now() + WAIT, viewer)
        .await
        .expect("the viewer's stream ends")
        .unwrap();
    assert!(bytes > 0);
    let mut stopped = false;
    let mut offline = false;
    let mut unsubscribed = false;
    while !(stopped && offline && unsubscribed) {
        match event(&mut events, "removal", |_| true).await {
            EventKind::LiveStopped {
                session_id, reason, ..
            } if session_id == watched_id => {
                assert_eq!(reason, LiveStopReason::DeviceRemoved);
                stopped = true;
            }
            EventKind::LiveStopped { session_id, .. } => panic!("{session_id} stopped too"),
            EventKind::DeviceOffline { device_id, reason } => {
                assert_eq!(
                    (device_id.as_str(), reason),
                    (gone.as_str(), OfflineReason::Removed)
                );
                offline = true;
            }
            EventKind::CatalogSubscription {
                device_id, state, ..
            } if device_id == gone => {
                assert_eq!(state, SubscriptionState::Ended);
                unsubscribed = true;
            }
            _ => {}
        }
    }
    // The device was told: its subscription is over.
    sim.wait_for("the unsubscribe", WAIT, |s| {
        s.catalog.subscribed.iter().copied().collect::<Vec<_>>() == vec![1]
    })
    .await
    .unwrap();

    // Gone from the API and the store, channels included.
    assert_eq!(
        call(&p, "GET", &format!("/api/v1/devices/{gone}"), None)
            .await
            .0,
        404
    );
    assert_eq!(
        call(&p, "GET", &format!("/api/v1/devices/{gone}/channels"), None)
            .await
            .0,
        404
    );
    for ch in &gone_channels {
        assert_eq!(
            call(&p, "GET", &format!("/api/v1/channels/{ch}"), None)
                .await
                .0,
            404
        );
        assert!(p.running().store.get_channel(ch).await.unwrap().is_none());
    }
    assert_eq!(
        p.online(&[gone.clone(), kept.clone()]).await,
        vec![None, Some(true)]
    );

    // Its MESSAGEs are refused now: a catalog change goes as a MESSAGE (no subscription
    // any more) and gets 403.
    let failed = sim.status().reports_failed;
    sim.change_catalog(0, CatalogChange::Rename(1, "after removal".into()))
        .await;
    sim.wait_for("the MESSAGE refused", WAIT, |s| s.reports_failed > failed)
        .await
        .unwrap();
    assert!(p.running().store.get_device(&gone).await.unwrap().is_none());

    // The other device: online, channels, subscription and session as they were.
    let s = listed(&p, &other_id).await.expect("the other session runs");
    assert_eq!(s["state"], "playing", "{s:#}");
    for j in 0..2 {
        let ch = sim.channel_id(1, j).to_string();
        assert_eq!(
            call(&p, "GET", &format!("/api/v1/channels/{ch}"), None)
                .await
                .0,
            200
        );
    }
    assert_eq!(sim.channel(1, 0).byes_received, 0);
    assert!(sim.status().catalog.subscribed.contains(&1));

    // Keepalives resume: refused, so the device registers again and is new.
    let refused = sim
        .status()
        .keepalives_refused
        .get(&403)
        .copied()
        .unwrap_or(0);
    let registrations = sim.status().devices[0].registrations;
    sim.resume_keepalives(0).await;
    sim.wait_for("keepalive refused, then a new registration", WAIT, |s| {
        s.keepalives_refused.get(&403).copied().unwrap_or(0) > refused
            && s.devices[0].registrations > registrations
    })
    .await
    .unwrap();
    p.wait_online(
        &[gone.clone(), kept.clone()],
        &[Some(true), Some(true)],
        WAIT,
    )
    .await;
    wait_channels(&p, &sim, 0, 2).await;
    let v = play(&p, &gone_channels[0], None).await;
    assert_ne!(v["session_id"], watched_id.as_str());
    sim.stop().await;
    p.shutdown().await;
}

/// With unknown devices refused, a removed device stays out: its keepalive gets 403 and
/// so does its REGISTER, until it is provisioned again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_device_is_refused_when_unknown_devices_are_not_allowed() {
    init_logging();
    let db = TestDb::new(Backend::Sqlite).await;
    let mut c = config(&db);
    c.sip.allow_unknown_devices = false;
    let mut p = Platform::start(c).await;
    let id = "34020000001320000001".to_owned();
    let (status, row) = call(
        &p,
        "POST",
        "/api/v1/devices",
        Some(json!({"device_id": id})),
    )
    .await;
    assert_eq!(status, 201, "{row}");
    let sim = Simulator::start(sim_config(p.sip(), 1)).await.unwrap();
    sim.wait_registered(1, WAIT).await.unwrap();
    wait_channels(&p, &sim, 0, 2).await;

    let (status, body) = call(&p, "DELETE", &format!("/api/v1/devices/{id}"), None).await;
    assert_eq!(status, 204, "{body}");
    sim.wait_for("keepalive and REGISTER refused", WAIT, |s| {
        s.keepalives_refused.get(&403).is_some_and(|n| *n >= 1)
            && s.register_failures.get(&403).is_some_and(|n| *n >= 1)
    })
    .await
    .unwrap();
    assert_eq!(p.online(std::slice::from_ref(&id)).await, vec![None]);
    assert_eq!(
        call(&p, "GET", &format!("/api/v1/devices/{id}"), None)
            .await
            .0,
        404
    );
    assert!(
        p.running()
            .store
            .get_channel(sim.channel_id(0, 0).as_ref())
            .await
            .unwrap()
            .is_none()
    );
    // A second DELETE finds nothing.
    assert_eq!(
        call(&p, "DELETE", &format!("/api/v1/devices/{id}"), None)
            .await
            .0,
        404
    );
    sim.stop().await;
    p.shutdown().await;
}
