//! Webhooks end to end: a real HTTP receiver (axum on 127.0.0.1:0) gets vigil's events as
//! signed JSON POSTs; a failing receiver gets retries until it accepts; a receiver that is
//! down (or hangs) holds up neither registration nor the other receivers, and its queue
//! stays bounded.

mod common;
#[path = "common/prom.rs"]
mod prom;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use common::{Backend, Platform, TestDb, WAIT, config, init_logging, sim_config};
use hmac::{KeyInit, Mac};
use serde_json::Value;
use tokio::sync::mpsc;
use vigil::config::Config;
use vigil::platform::events::{EventKind, OfflineReason};
use vigil::sim::Simulator;

/// One POST the receiver got.
#[derive(Debug, Clone)]
struct Hit {
    headers: HeaderMap,
    body: Bytes,
}

impl Hit {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }
}

/// Starts a receiver answering with `statuses` in turn (the last one from then on); every
/// request is passed to the returned channel.
async fn receiver(statuses: Vec<u16>) -> (String, mpsc::UnboundedReceiver<Hit>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let count = Arc::new(AtomicUsize::new(0));
    let app = Router::new().route(
        "/hook",
        post(move |headers: HeaderMap, body: Bytes| {
            let (tx, count, statuses) = (tx.clone(), count.clone(), statuses.clone());
            async move {
                let n = count.fetch_add(1, Ordering::SeqCst);
                let _ = tx.send(Hit { headers, body });
                let s = statuses[n.min(statuses.len() - 1)];
                StatusCode::from_u16(s).unwrap()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/hook"), rx)
}

/// A receiver that accepts connections and never answers.
async fn black_hole() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((conn, _)) = listener.accept().await {
            held.push(conn);
        }
    });
    format!("http://{addr}/hook")
}

async fn next_hit(rx: &mut mpsc::UnboundedReceiver<Hit>, what: &str) -> Hit {
    tokio::time::timeout(WAIT, rx.recv())
        .await
        .unwrap_or_else(|_| panic!("no webhook within {WAIT:?}: {what}"))
        .expect("receiver running")
}

fn with_hooks(db: &TestDb, urls: Vec<String>) -> Config {
    let mut c = config(db);
    c.webhooks.urls = urls;
    c.webhooks.secret = vigil::config::Secret("s3cret".into());
    c.webhooks.retry_delay = Duration::from_millis(50);
    c.webhooks.retry_max_delay = Duration::from_millis(200);
    c.webhooks.timeout = Duration::from_millis(500);
    c
}

fn hmac_hex(secret: &[u8], body: &[u8]) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret).unwrap();
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_online_is_delivered_signed() {
    init_logging();
    let (url, mut hits) = receiver(vec![200]).await;
    let db = TestDb::new(Backend::Sqlite).await;
    let mut p = Platform::start(with_hooks(&db, vec![url])).await;
    let sim = Simulator::start(sim_config(p.sip(), 1)).await.unwrap();
    sim.wait_registered(1, WAIT).await.unwrap();
    let device_id = sim.device_id(0).to_string();

    let hit = loop {
        let hit = next_hit(&mut hits, "device_online").await;
        if hit.header("x-vigil-event") == "device_online" {
            break hit;
        }
    };
    let signature = hit.header("x-vigil-signature");
    assert_eq!(
        signature,
        format!("sha256={}", hmac_hex(b"s3cret", &hit.body)),
        "signature over the exact body"
    );
    assert_ne!(
        signature,
        format!("sha256={}", hmac_hex(b"other", &hit.body))
    );
    assert_eq!(hit.header("content-type"), "application/json");
    assert_eq!(hit.header("x-vigil-attempt"), "1");
    let body = hit.json();
    assert_eq!(body["type"], "device_online", "{body}");
    assert_eq!(body["device_id"], device_id.as_str(), "{body}");
    assert_eq!(body["transport"], "udp", "{body}");
    assert!(body["at"].as_i64().unwrap() > 0, "{body}");
    let id = hit.header("x-vigil-delivery");
    assert_eq!(id.len(), 32, "{id}");
    assert_eq!(body["id"], id, "the body carries the delivery id");
    sim.stop().await;
    p.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_receiver_gets_retries_until_it_accepts() {
    init_logging();
    let (url, mut hits) = receiver(vec![500, 500, 200]).await;
    let db = TestDb::new(Backend::Sqlite).await;
    let mut c = with_hooks(&db, vec![url]);
    // Only this event type, so nothing else from the platform shows up.
    c.webhooks.events = vec!["device_offline".into()];
    let mut p = Platform::start(c).await;
    let started = Instant::now();
    p.running().events.publish(
        1,
        EventKind::DeviceOffline {
            device_id: "34020000001320000009".into(),
            reason: OfflineReason::Removed,
        },
    );
    let attempts = [
        next_hit(&mut hits, "first attempt").await,
        next_hit(&mut hits, "second attempt").await,
        next_hit(&mut hits, "third attempt").await,
    ];
    let id = attempts[0].header("x-vigil-delivery").to_owned();
    for (i, a) in attempts.iter().enumerate() {
        assert_eq!(
            a.header("x-vigil-delivery"),
            id,
            "same delivery id on retries"
        );
        assert_eq!(a.header("x-vigil-attempt"), (i + 1).to_string());
        assert_eq!(a.body, attempts[0].body);
        assert_eq!(a.json()["reason"], "removed");
    }
    // Backoff: 50 ms, then 100 ms.
    assert!(started.elapsed() >= Duration::from_millis(150));
    // Accepted on the third: no fourth attempt.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(hits.try_recv().is_err(), "delivered once accepted");

    let m = scrape(&p).await;
    let receiver = attempts[0].header("host").to_owned();
    let label = format!("http://{receiver}/hook");
    let get = |name, extra: &[(&str, &str)]| {
        let mut labels = vec![("receiver", label.as_str())];
        labels.extend_from_slice(extra);
        m.value(name, &labels).unwrap_or(-1.0)
    };
    assert_eq!(
        get("vigil_webhook_deliveries_total", &[("result", "delivered")]),
        1.0
    );
    assert_eq!(
        get("vigil_webhook_deliveries_total", &[("result", "failed")]),
        0.0
    );
    assert_eq!(get("vigil_webhook_attempts_total", &[]), 3.0);
    assert_eq!(get("vigil_webhook_queue_length", &[]), 0.0);
    p.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_that_is_down_blocks_nothing_and_its_queue_stays_bounded() {
    init_logging();
    let dead = black_hole().await;
    let (live_url, mut hits) = receiver(vec![200]).await;
    let db = TestDb::new(Backend::Sqlite).await;
    let mut c = with_hooks(&db, vec![dead.clone(), live_url]);
    c.webhooks.queue = 5;
    // Catalog events after the burst would push its newest out of the small queue.
    c.webhooks.events = vec!["device_online".into(), "device_offline".into()];
    c.webhooks.timeout = Duration::from_secs(30);
    let mut p = Platform::start(c).await;

    // Devices register while the dead receiver hangs on its first POST.
    let sim = Simulator::start(sim_config(p.sip(), 3)).await.unwrap();
    sim.wait_registered(3, WAIT).await.unwrap();
    let ids: Vec<String> = (0..3).map(|i| sim.device_id(i).to_string()).collect();
    p.wait_online(&ids, &[Some(true); 3], WAIT).await;

    // A burst far beyond the queue: publishing never waits.
    let started = Instant::now();
    for i in 0..200 {
        p.running().events.publish(
            i,
            EventKind::DeviceOffline {
                device_id: format!("340200000013200{:05}", i),
                reason: OfflineReason::Removed,
            },
        );
    }
    assert!(started.elapsed() < Duration::from_millis(200));

    // The healthy receiver had the registrations, and gets the newest of the burst (its
    // queue of 5 drops the oldest as well: nobody drains 200 POSTs that fast).
    let mut online = 0;
    loop {
        let hit = next_hit(&mut hits, "the burst's last event at the healthy receiver").await;
        match hit.header("x-vigil-event") {
            "device_offline" if hit.json()["at"] == 199 => break,
            "device_online" => online += 1,
            _ => {}
        }
    }
    assert_eq!(online, 3);
    // Paced events all arrive, in order, while the dead receiver still hangs.
    for i in 0..10 {
        p.running().events.publish(
            1000 + i,
            EventKind::DeviceOffline {
                device_id: "34020000001320000001".into(),
                reason: OfflineReason::Removed,
            },
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut at = 1000;
    while at < 1010 {
        let hit = next_hit(&mut hits, "paced events at the healthy receiver").await;
        let n = hit.json()["at"].as_i64().unwrap();
        if (1000..1010).contains(&n) {
            assert_eq!(n, at, "in order, none lost");
            at += 1;
        }
    }

    let m = scrape(&p).await;
    let dead_label = [("receiver", dead.as_str())];
    let queued = m.value("vigil_webhook_queue_length", &dead_label).unwrap();
    assert!(queued <= 5.0, "queue bounded: {queued}");
    let dropped = m
        .value("vigil_webhook_events_dropped_total", &dead_label)
        .unwrap();
    // 213 events or more: one in flight, at most 5 queued, the rest dropped.
    assert!(dropped >= 207.0, "oldest dropped and counted: {dropped}");
    assert_eq!(
        m.value(
            "vigil_webhook_deliveries_total",
            &[("receiver", dead.as_str()), ("result", "delivered")]
        ),
        Some(0.0)
    );

    // Shutdown does not wait for the hanging POST.
    let stopping = Instant::now();
    sim.stop().await;
    p.shutdown().await;
    assert!(stopping.elapsed() < Duration::from_secs(5));
}

async fn scrape(p: &Platform) -> prom::Scrape {
    let text = p
        .http
        .get(p.api("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    prom::parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}
