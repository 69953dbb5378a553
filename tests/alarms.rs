//! Alarms and media status from devices, end to end: a simulated NVR sends `Notify/Alarm`
//! (GB2312, as devices do) and `Notify/MediaStatus`; the platform answers 200 OK, publishes
//! `alarm` and `media_status` events with the parsed fields on `GET /api/v1/events` and to
//! webhooks, and acknowledges the alarm with a `Response/Alarm` MESSAGE. A malformed alarm
//! gets 400, publishes nothing, and the device goes on working.

mod common;

use axum::Router;
use axum::body::Bytes;
use axum::routing::post;
use common::{Backend, Platform, TestDb, WAIT, config, init_logging, sim_config};
use serde_json::Value;
use tokio::sync::mpsc;
use vigil::sim::{SimHandle, Simulator};
use vigil_gb::manscdp::{Alarm, MediaStatus};
use vigil_gb::{Charset, Manscdp};

/// `GET /api/v1/events` read event by event.
struct EventStream {
    resp: reqwest::Response,
    buf: String,
    seen: Vec<(String, Value)>,
}

impl EventStream {
    async fn open(p: &Platform) -> EventStream {
        // `p.http` carries the credentials; its 10 s limit on the whole request is far
        // longer than these tests read the stream.
        let resp = p
            .http
            .get(p.api("/api/v1/events"))
            .send()
            .await
            .expect("GET /api/v1/events");
        assert_eq!(resp.status(), 200);
        EventStream {
            resp,
            buf: String::new(),
            seen: Vec::new(),
        }
    }

    /// Reads until an event named `name` arrives; panics after `WAIT` listing what came.
    async fn next(&mut self, name: &str) -> Value {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            while let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let (mut event, mut data) = (String::new(), String::new());
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        event = v.trim().to_owned();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim());
                    }
                }
                if event.is_empty() {
                    continue; // a keep-alive comment
                }
                let data: Value = serde_json::from_str(&data).expect("event data is JSON");
                self.seen.push((event.clone(), data.clone()));
                if event == name {
                    return data;
                }
            }
            match tokio::time::timeout_at(deadline, self.resp.chunk()).await {
                Ok(Ok(Some(bytes))) => self.buf.push_str(&String::from_utf8_lossy(&bytes)),
                other => panic!("no {name} event ({other:?}); seen: {:#?}", self.seen),
            }
        }
    }
}

/// A webhook receiver that passes every JSON body it gets to the returned channel.
async fn receiver() -> (String, mpsc::UnboundedReceiver<Value>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let app = Router::new().route(
        "/hook",
        post(move |body: Bytes| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(serde_json::from_slice::<Value>(&body).expect("JSON"));
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/hook"), rx)
}

/// The next webhook body: the event with a delivery `id`.
async fn next_hook(rx: &mut mpsc::UnboundedReceiver<Value>) -> Value {
    let hook = tokio::time::timeout(WAIT, rx.recv())
        .await
        .expect("a webhook within WAIT")
        .expect("receiver running");
    assert!(hook["id"].is_string(), "{hook:#}");
    hook
}

/// Video loss on channel 1 of device 0, as an NVR reports it.
fn video_loss(sim: &SimHandle, sn: u32) -> Vec<u8> {
    let mut a = Alarm::new(sn, sim.channel_id(0, 1));
    a.priority = Some(1);
    // GB/T 28181-2016 A.2.5: method 2 (device alarm), type 1 (video loss).
    a.method = Some(2);
    a.alarm_type = Some("1".into());
    a.time = Some("2026-11-26T10:15:30".into());
    a.description = Some("视频丢失 东门".into());
    Manscdp::AlarmNotify(a).to_body(Charset::Gb2312)
}

fn assert_video_loss(ev: &Value, sim: &SimHandle, sn: u32) {
    assert_eq!(ev["type"], "alarm", "{ev:#}");
    assert_eq!(ev["device_id"], sim.device_id(0).as_str(), "{ev:#}");
    assert_eq!(ev["channel_id"], sim.channel_id(0, 1).as_str(), "{ev:#}");
    assert_eq!(ev["sn"], sn, "{ev:#}");
    assert_eq!(ev["priority"], 1, "{ev:#}");
    assert_eq!(ev["method"], 2, "{ev:#}");
    assert_eq!(ev["alarm_type"], "1", "{ev:#}");
    assert_eq!(ev["time"], "2026-11-26T10:15:30", "{ev:#}");
    assert_eq!(ev["description"], "视频丢失 东门", "{ev:#}");
}

async fn start(db: &TestDb, hook: Option<String>) -> (Platform, SimHandle) {
    let mut c = config(db);
    if let Some(url) = hook {
        c.webhooks.urls = vec![url];
        c.webhooks.events = vec!["alarm".into(), "media_status".into()];
    }
    let p = Platform::start(c).await;
    let sim = Simulator::start(sim_config(p.sip(), 1)).await.unwrap();
    sim.wait_registered(1, WAIT).await.unwrap();
    (p, sim)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alarm_reaches_sse_and_webhooks_with_its_fields_and_is_acknowledged() {
    init_logging();
    let (url, mut hooks) = receiver().await;
    let db = TestDb::new(Backend::Sqlite).await;
    let (mut p, sim) = start(&db, Some(url)).await;
    let mut events = EventStream::open(&p).await;

    sim.send_manscdp(0, video_loss(&sim, 208)).await;
    assert_video_loss(&events.next("alarm").await, &sim, 208);
    // Webhooks are filtered to alarm and media_status: the first one is the alarm.
    assert_video_loss(&next_hook(&mut hooks).await, &sim, 208);
    // The MESSAGE got 200 OK, and the platform answered the alarm with Response/Alarm.
    sim.wait_for("Response/Alarm from the platform", WAIT, |s| {
        s.other_messages.get("Response/Alarm") == Some(&1)
    })
    .await
    .unwrap();
    assert!(sim.status().reports_refused.is_empty(), "{}", sim.status());

    // A playback of channel 0 reached its end.
    let status = MediaStatus {
        sn: 9,
        device_id: sim.channel_id(0, 0),
        notify_type: Some("121".into()),
    };
    sim.send_manscdp(
        0,
        Manscdp::MediaStatusNotify(status).to_body(Charset::Gb2312),
    )
    .await;
    for ev in [
        events.next("media_status").await,
        next_hook(&mut hooks).await,
    ] {
        assert_eq!(ev["type"], "media_status", "{ev:#}");
        assert_eq!(ev["device_id"], sim.device_id(0).as_str(), "{ev:#}");
        assert_eq!(ev["channel_id"], sim.channel_id(0, 0).as_str(), "{ev:#}");
        assert_eq!(ev["notify_type"], "121", "{ev:#}");
        assert_eq!(ev["end_of_file"], true, "{ev:#}");
    }
    assert!(sim.status().reports_refused.is_empty(), "{}", sim.status());
    sim.stop().await;
    p.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_alarm_gets_400_and_the_device_goes_on() {
    init_logging();
    let db = TestDb::new(Backend::Sqlite).await;
    let (mut p, sim) = start(&db, None).await;
    let mut events = EventStream::open(&p).await;
    let id = sim.device_id(0).to_string();

    // A DeviceID that is not 20 digits, and a body cut off mid-element.
    let bad_id = "<?xml version=\"1.0\" encoding=\"GB2312\"?>\r\n<Notify><CmdType>Alarm</CmdType>\
                  <SN>1</SN><DeviceID>3402</DeviceID><AlarmPriority>1</AlarmPriority></Notify>";
    let cut = format!(
        "<?xml version=\"1.0\" encoding=\"GB2312\"?>\r\n<Notify><CmdType>Alarm</CmdType><SN>2</SN>\
         <DeviceID>{}</DeviceID><AlarmPriority>1</AlarmPri",
        sim.channel_id(0, 1)
    );
    sim.send_manscdp(0, bad_id.as_bytes().to_vec()).await;
    sim.send_manscdp(0, cut.into_bytes()).await;
    sim.wait_for("two 400s", WAIT, |s| {
        s.reports_refused.get(&400) == Some(&2)
    })
    .await
    .unwrap();

    // The device goes on: keepalives answered, online, and its next alarm gets through
    // (and is the first alarm published: the malformed ones published nothing).
    let ok = sim.status().keepalives_ok;
    sim.wait_for("two more keepalives answered", WAIT, |s| {
        s.keepalives_ok >= ok + 2
    })
    .await
    .unwrap();
    p.wait_online(&[id], &[Some(true)], WAIT).await;
    sim.send_manscdp(0, video_loss(&sim, 3)).await;
    assert_video_loss(&events.next("alarm").await, &sim, 3);
    assert_eq!(sim.status().reports_refused.get(&400), Some(&2));
    sim.stop().await;
    p.shutdown().await;
}
