//! Catalogs end to end: simulated NVRs answer the platform's Catalog queries in many
//! MESSAGEs, and the REST API shows every channel with its Chinese name (in UTF-8 JSON),
//! the sync's progress on the device, what a lost packet leaves (a partial catalog that the
//! next refresh completes), removals by refresh and by NOTIFY, and the SSE event stream.

mod common;

use std::time::{Duration, Instant};

use common::{Backend, Platform, TestDb, WAIT, config, init_logging, sim_config};
use serde_json::Value;
use vigil::sim::{SimConfig, Simulator};
use vigil_gb::Charset;

/// Runs `$name(Backend)` once per database backend, as `$name::sqlite` and `$name::postgres`.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name(Backend::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name(Backend::Postgres).await
            }
        }
    )*};
}

/// NVRs (type 118) with `channels` channels answering in packets of `page`.
fn nvr(p: &Platform, devices: usize, channels: usize, page: usize, charset: Charset) -> SimConfig {
    SimConfig {
        channels,
        catalog_page: page,
        charset,
        id_prefix: "3402000000118".into(),
        ..sim_config(p.sip(), devices)
    }
}

async fn get(p: &Platform, path: &str) -> (u16, Value) {
    let resp = p
        .http
        .get(p.api(path))
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {path}: {e}"));
    let status = resp.status().as_u16();
    let text = resp.text().await.expect("body");
    let body = serde_json::from_str(&text).unwrap_or_else(|e| panic!("GET {path}: {e}: {text}"));
    (status, body)
}

async fn post(p: &Platform, path: &str) -> (u16, Value) {
    let resp = p
        .http
        .post(p.api(path))
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST {path}: {e}"));
    let status = resp.status().as_u16();
    let text = resp.text().await.expect("body");
    let body = serde_json::from_str(&text).unwrap_or_else(|e| panic!("POST {path}: {e}: {text}"));
    (status, body)
}

/// The device row, or `null` while it is not stored yet.
async fn device_or_null(p: &Platform, id: &str) -> Value {
    let (status, body) = get(p, &format!("/api/v1/devices/{id}")).await;
    match status {
        200 => body,
        404 => Value::Null,
        _ => panic!("GET device {id}: {status} {body}"),
    }
}

/// Polls the device until `pred` holds for it; panics with the last row.
async fn wait_device(p: &Platform, id: &str, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let start = Instant::now();
    loop {
        let d = device_or_null(p, id).await;
        if !d.is_null() && pred(&d) {
            return d;
        }
        assert!(
            start.elapsed() < WAIT,
            "device {id} after {WAIT:?}: want {what}, have {d:#}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn catalog_state(d: &Value) -> (&str, i64, i64) {
    (
        d["catalog_state"].as_str().unwrap_or_default(),
        d["catalog_received"].as_i64().unwrap_or(-1),
        d["catalog_total"].as_i64().unwrap_or(-1),
    )
}

/// Every channel of `device` (all pages).
async fn channels(p: &Platform, device: &str, extra: &str) -> Vec<Value> {
    let mut out = Vec::new();
    for page in 1.. {
        let (status, body) = get(
            p,
            &format!("/api/v1/devices/{device}/channels?per_page=100&page={page}{extra}"),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let items = body["items"].as_array().cloned().unwrap_or_default();
        let total = body["total"].as_u64().unwrap() as usize;
        out.extend(items);
        if out.len() >= total || page > 100 {
            break;
        }
    }
    out
}

on_both_backends!(nvr_with_256_channels_in_16_item_packets_is_stored_whole);

async fn nvr_with_256_channels_in_16_item_packets_is_stored_whole(backend: Backend) {
    init_logging();
    let db = TestDb::new(backend).await;
    let mut p = Platform::start(config(&db)).await;
    let sim = Simulator::start(nvr(&p, 1, 256, 16, Charset::Gb2312))
        .await
        .unwrap();
    let id = sim.device_id(0).to_string();
    let d = wait_device(&p, &id, "a complete catalog", |d| {
        d["catalog_state"] == "complete"
    })
    .await;
    assert_eq!(catalog_state(&d), ("complete", 256, 256), "{d:#}");
    // DeviceInfo went with it.
    let d = wait_device(&p, &id, "device info", |d| d["channel_count"] == 256).await;
    assert_eq!(d["manufacturer"], "vigil-sim", "{d:#}");
    assert_eq!(d["model"], "SIM-NVR", "{d:#}");

    let list = channels(&p, &id, "").await;
    assert_eq!(list.len(), 256);
    for (j, ch) in list.iter().enumerate() {
        let want_id = sim.channel_id(0, j).to_string();
        assert_eq!(ch["channel_id"], want_id.as_str());
        assert_eq!(
            ch["name"].as_str(),
            Some(vigil::sim::answers::channel_name(j, Charset::Gb2312).as_str()),
            "{ch:#}"
        );
        assert_eq!(ch["parent_id"], id.as_str());
        assert_eq!(ch["online"], true);
        assert_eq!(ch["removed_at"], Value::Null);
    }
    // One channel by ID, and a search across devices by a Chinese name.
    let (status, ch) = get(&p, &format!("/api/v1/channels/{}", sim.channel_id(0, 9))).await;
    assert_eq!(status, 200, "{ch}");
    assert_eq!(ch["name"], "通道10 西门");
    assert_eq!(ch["address"], "模拟地址");
    let (status, found) = get(&p, "/api/v1/channels?q=%E9%80%9A%E9%81%93100&per_page=5").await;
    assert_eq!(status, 200, "{found}");
    assert_eq!(found["total"], 1, "{found:#}");
    assert_eq!(found["items"][0]["name"], "通道100 北门");
    assert_eq!(
        (found["page"].as_u64(), found["per_page"].as_u64()),
        (Some(1), Some(5))
    );
    sim.stop().await;
    p.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_errors_name_the_field_and_the_reason() {
    init_logging();
    let db = TestDb::new(Backend::Sqlite).await;
    let mut p = Platform::start(config(&db)).await;
    let (status, body) = get(&p, "/api/v1/devices/123/channels").await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("device_id"),
        "{body}"
    );
    let (status, body) = get(&p, "/api/v1/channels/abc").await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("channel_id"),
        "{body}"
    );
    let (status, body) = get(&p, "/api/v1/channels?page=x").await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("page"),
        "{body}"
    );
    let (status, body) = get(&p, "/api/v1/channels?per_page=0").await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = get(&p, "/api/v1/devices/34020000001180000099/channels").await;
    assert_eq!(status, 404, "{body}");
    let (status, body) = get(&p, "/api/v1/channels/34020000001310000099").await;
    assert_eq!(status, 404, "{body}");
    let (status, body) = post(&p, "/api/v1/devices/34020000001180000099/catalog/refresh").await;
    assert_eq!(status, 404, "{body}");
    p.shutdown().await;
}

/// Like [`config`], with catalog and query timeouts short enough for tests.
fn quick_config(db: &TestDb) -> vigil::config::Config {
    let mut c = config(db);
    c.sip.catalog_timeout = Duration::from_millis(1000);
    c.sip.query_timeout = Duration::from_millis(1000);
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_survive_every_charset() {
    init_logging();
    let db = TestDb::new(Backend::Sqlite).await;
    let mut p = Platform::start(config(&db)).await;
    let charsets = [Charset::Gbk, Charset::Gb18030, Charset::Utf8];
    let mut sims = Vec::new();
    for (k, cs) in charsets.into_iter().enumerate() {
        let sim = Simulator::start(SimConfig {
            first_serial: k as u64 + 1,
            ..nvr(&p, 1, 6, 4, cs)
        })
        .await
        .unwrap();
        sims.push((cs, sim));
    }
    for (cs, sim) in &sims {
        let id = sim.device_id(0).to_string();
        let d = wait_device(&p, &id, "a complete catalog", |d| {
            d["catalog_state"] == "complete"
        })
        .await;
        assert_eq!(catalog_state(&d), ("complete", 6, 6), "{cs}: {d:#}");
        let names: Vec<String> = channels(&p, &id, "")
            .await
            .iter()
            .map(|c| c["name"].as_str().unwrap_or_default().to_owned())
            .collect();
        let want: Vec<String> = (0..6)
            .map(|j| vigil::sim::answers::channel_name(j, *cs))
            .collect();
        assert_eq!(names, want, "{cs}");
        // GB18030 devices may use characters GB2312 and GBK lack: they arrive intact.
        assert_eq!(
            names.iter().any(|n| n.contains('㐀')),
            *cs == Charset::Gb18030
        );
    }
    for (_, sim) in sims {
        sim.stop().await;
    }
    p.shutdown().await;
}

on_both_backends!(lost_packet_leaves_a_partial_catalog_that_a_refresh_completes);

async fn lost_packet_leaves_a_partial_catalog_that_a_refresh_completes(backend: Backend) {
    init_logging();
    let db = TestDb::new(backend).await;
    let mut p = Platform::start(quick_config(&db)).await;
    let sim = Simulator::start(nvr(&p, 1, 48, 16, Charset::Gb2312))
        .await
        .unwrap();
    // The second of three packets never leaves the device.
    sim.lose_catalog_packets(0, &[1]).await;
    let id = sim.device_id(0).to_string();
    let d = wait_device(&p, &id, "a partial catalog", |d| {
        d["catalog_state"] == "partial"
    })
    .await;
    assert_eq!(catalog_state(&d), ("partial", 32, 48), "{d:#}");
    let list = channels(&p, &id, "").await;
    assert_eq!(list.len(), 32);
    assert!(
        list.iter()
            .all(|c| c["channel_id"] != sim.channel_id(0, 20).as_str()),
        "channel 21 was in the lost packet"
    );

    let (status, body) = post(&p, &format!("/api/v1/devices/{id}/catalog/refresh")).await;
    assert_eq!(status, 202, "{body}");
    let d = wait_device(&p, &id, "a complete catalog", |d| {
        d["catalog_state"] == "complete"
    })
    .await;
    assert_eq!(catalog_state(&d), ("complete", 48, 48), "{d:#}");
    assert_eq!(channels(&p, &id, "").await.len(), 48);
    sim.stop().await;
    p.shutdown().await;
}

on_both_backends!(channels_removed_on_the_device_are_marked_removed);

async fn channels_removed_on_the_device_are_marked_removed(backend: Backend) {
    use vigil::sim::CatalogChange;
    init_logging();
    let db = TestDb::new(backend).await;
    let mut p = Platform::start(config(&db)).await;
    let sim = Simulator::start(nvr(&p, 1, 16, 4, Charset::Gb2312))
        .await
        .unwrap();
    let id = sim.device_id(0).to_string();
    let first = wait_device(&p, &id, "a complete catalog", |d| {
        d["catalog_state"] == "complete"
    })
    .await;
    let channel = |j: usize| sim.channel_id(0, j).to_string();

    // Removed without a word: the next refresh finds out.
    sim.change_catalog_quietly(0, CatalogChange::Remove(5))
        .await;
    let (status, body) = post(&p, &format!("/api/v1/devices/{id}/catalog/refresh")).await;
    assert_eq!(status, 202, "{body}");
    let synced = first["catalog_synced_at"].as_i64().unwrap();
    let d = wait_device(&p, &id, "a second complete catalog", |d| {
        d["catalog_state"] == "complete" && d["catalog_synced_at"].as_i64() > Some(synced)
    })
    .await;
    assert_eq!(catalog_state(&d), ("complete", 15, 15), "{d:#}");
    let list = channels(&p, &id, "").await;
    assert_eq!(list.len(), 15);
    assert!(list.iter().all(|c| c["channel_id"] != channel(5).as_str()));
    let all = channels(&p, &id, "&include_removed=true").await;
    assert_eq!(all.len(), 16, "removed, not deleted");
    let (_, ch) = get(&p, &format!("/api/v1/channels/{}", channel(5))).await;
    assert!(ch["removed_at"].is_i64(), "{ch:#}");

    // With a subscription the device says so at once, in a NOTIFY.
    sim.wait_for("a catalog subscription", WAIT, |s| {
        s.catalog.subscribed.contains(&0)
    })
    .await
    .unwrap();
    sim.change_catalog(0, CatalogChange::Remove(7)).await;
    sim.change_catalog(0, CatalogChange::Status(3, false)).await;
    let start = Instant::now();
    loop {
        let (_, gone) = get(&p, &format!("/api/v1/channels/{}", channel(7))).await;
        let (_, off) = get(&p, &format!("/api/v1/channels/{}", channel(3))).await;
        if gone["removed_at"].is_i64() && off["online"] == false {
            assert_eq!(off["status"], "OFF", "{off:#}");
            break;
        }
        assert!(start.elapsed() < WAIT, "after NOTIFY: {gone:#} {off:#}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let s = sim.status();
    assert_eq!(
        (s.catalog.notifies_sent, s.catalog.messages_sent),
        (2, 0),
        "{s:?}"
    );
    sim.wait_for("NOTIFYs answered", WAIT, |s| s.catalog.notifies_ok == 2)
        .await
        .unwrap();
    let list = channels(&p, &id, "").await;
    assert_eq!(list.len(), 14);
    // And back again.
    sim.change_catalog(0, CatalogChange::Restore(7)).await;
    let start = Instant::now();
    loop {
        let (_, back) = get(&p, &format!("/api/v1/channels/{}", channel(7))).await;
        if back["removed_at"].is_null() {
            break;
        }
        assert!(start.elapsed() < WAIT, "after NOTIFY ADD: {back:#}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    sim.stop().await;
    p.shutdown().await;
}

/// A client of `GET /api/v1/events`, reading events as they come.
struct EventStream {
    resp: reqwest::Response,
    buf: String,
    /// Every event read so far: (name, data).
    seen: Vec<(String, Value)>,
}

impl EventStream {
    async fn open(p: &Platform) -> EventStream {
        // Like any API client it needs credentials.
        let refused = p.anonymous().get(p.api("/api/v1/events")).send().await;
        assert_eq!(refused.expect("GET /api/v1/events").status(), 401);
        // No overall timeout: the stream stays open.
        let client = reqwest::Client::new();
        let resp = client
            .get(p.api("/api/v1/events"))
            .bearer_auth(&p.api_key)
            .send()
            .await
            .expect("GET /api/v1/events");
        assert_eq!(resp.status(), 200);
        let ct = resp.headers()["content-type"].to_str().unwrap().to_owned();
        assert!(ct.starts_with("text/event-stream"), "{ct}");
        EventStream {
            resp,
            buf: String::new(),
            seen: Vec::new(),
        }
    }

    /// Reads until an event matching `pred` arrives; panics after `WAIT` listing what came.
    async fn wait_for(&mut self, what: &str, pred: impl Fn(&str, &Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            while let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let (mut name, mut data) = (String::new(), String::new());
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        name = v.trim().to_owned();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim());
                    }
                }
                if name.is_empty() {
                    continue; // a keep-alive comment
                }
                let data: Value = serde_json::from_str(&data).expect("event data is JSON");
                self.seen.push((name.clone(), data.clone()));
                if pred(&name, &data) {
                    return data;
                }
            }
            let chunk = tokio::time::timeout_at(deadline, self.resp.chunk()).await;
            match chunk {
                Ok(Ok(Some(bytes))) => self.buf.push_str(&String::from_utf8_lossy(&bytes)),
                other => panic!(
                    "no {what} event ({other:?}); seen: {:#?}",
                    self.seen.iter().map(|(n, _)| n).collect::<Vec<_>>()
                ),
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_stream_shows_online_offline_and_catalog_events() {
    init_logging();
    let db = TestDb::new(Backend::Sqlite).await;
    let mut p = Platform::start(config(&db)).await;
    let mut events = EventStream::open(&p).await;
    let sim = Simulator::start(nvr(&p, 1, 40, 16, Charset::Gb2312))
        .await
        .unwrap();
    let id = sim.device_id(0).to_string();
    let is_dev = |d: &Value| d["device_id"] == id.as_str();
    let online = events
        .wait_for("device_online", |n, d| n == "device_online" && is_dev(d))
        .await;
    assert_eq!(online["type"], "device_online");
    assert!(online["at"].is_i64(), "{online}");
    events
        .wait_for("catalog_progress running", |n, d| {
            n == "catalog_progress" && is_dev(d) && d["state"] == "running"
        })
        .await;
    let changed = events
        .wait_for("catalog_changed", |n, d| {
            n == "catalog_changed" && is_dev(d)
        })
        .await;
    assert_eq!(
        (&changed["source"], &changed["complete"], &changed["added"]),
        (&Value::from("query"), &Value::from(true), &Value::from(40)),
        "{changed:#}"
    );
    let done = events
        .wait_for("catalog_progress complete", |n, d| {
            n == "catalog_progress" && is_dev(d) && d["state"] == "complete"
        })
        .await;
    assert_eq!(
        (done["received"].as_u64(), done["total"].as_u64()),
        (Some(40), Some(40))
    );
    events
        .wait_for("catalog_subscription", |n, d| {
            n == "catalog_subscription" && is_dev(d) && d["state"] == "active"
        })
        .await;
    sim.change_catalog(0, vigil::sim::CatalogChange::Status(2, false))
        .await;
    let notify = events
        .wait_for("catalog_changed by notify", |n, d| {
            n == "catalog_changed" && d["source"] == "notify"
        })
        .await;
    assert_eq!(notify["channels"][0]["event"], "OFF", "{notify:#}");
    assert_eq!(
        notify["channels"][0]["channel_id"],
        sim.channel_id(0, 2).as_str()
    );
    sim.unregister(0).await;
    let offline = events
        .wait_for("device_offline", |n, d| n == "device_offline" && is_dev(d))
        .await;
    assert_eq!(offline["reason"], "unregistered");
    assert!(
        events.seen.iter().any(|(n, _)| n == "device_info"),
        "DeviceInfo is published too"
    );
    sim.stop().await;
    p.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_status_is_asked_live_with_504_and_409() {
    init_logging();
    let db = TestDb::new(Backend::Sqlite).await;
    let mut p = Platform::start(quick_config(&db)).await;
    let sim = Simulator::start(nvr(&p, 2, 2, 16, Charset::Gb2312))
        .await
        .unwrap();
    sim.wait_registered(2, WAIT).await.unwrap();
    let id = sim.device_id(0).to_string();
    wait_device(&p, &id, "a complete catalog", |d| {
        d["catalog_state"] == "complete"
    })
    .await;
    let (status, st) = get(&p, &format!("/api/v1/devices/{id}/status")).await;
    assert_eq!(status, 200, "{st}");
    assert_eq!(st["device_id"], id.as_str());
    assert_eq!(
        (&st["online"], &st["status"]),
        (&"ONLINE".into(), &"OK".into()),
        "{st:#}"
    );
    assert!(
        st["device_time"].as_str().is_some_and(|t| t.contains('T')),
        "{st:#}"
    );

    // A device that takes the query and never answers: 504 after query_timeout (1 s).
    sim.mute_queries(0, true).await;
    let start = Instant::now();
    let (status, body) = get(&p, &format!("/api/v1/devices/{id}/status")).await;
    assert_eq!(status, 504, "{body}");
    assert!(
        start.elapsed() >= Duration::from_millis(900),
        "{:?}",
        start.elapsed()
    );
    sim.mute_queries(0, false).await;

    // Offline: 409 at once, for status and refresh alike.
    let other = sim.device_id(1).to_string();
    sim.unregister(1).await;
    p.wait_online(std::slice::from_ref(&other), &[Some(false)], WAIT)
        .await;
    let (status, body) = get(&p, &format!("/api/v1/devices/{other}/status")).await;
    assert_eq!(status, 409, "{body}");
    let (status, body) = post(&p, &format!("/api/v1/devices/{other}/catalog/refresh")).await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("offline"),
        "{body}"
    );
    sim.stop().await;
    p.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_are_refreshed_and_refusals_respected_until_reregistration() {
    init_logging();
    let db = TestDb::new(Backend::Sqlite).await;
    let mut c = config(&db);
    c.sip.catalog_subscription_expires = Duration::from_secs(2);
    let mut p = Platform::start(c).await;
    let sim = Simulator::start(nvr(&p, 2, 2, 16, Charset::Gb2312))
        .await
        .unwrap();
    sim.refuse_catalog_subscribe(1, Some(403)).await;
    // Device 0 is refreshed inside its dialog before the 2 s run out.
    sim.wait_for("a subscription refresh", WAIT, |s| s.catalog.refreshes >= 1)
        .await
        .unwrap();
    let s = sim.status();
    assert!(s.catalog.subscribed.contains(&0), "{:?}", s.catalog);
    assert!(!s.catalog.subscribed.contains(&1), "{:?}", s.catalog);
    assert_eq!(s.catalog.subscribes_refused, 1, "{:?}", s.catalog);

    // A catalog refresh of the refusing device asks no SUBSCRIBE again.
    let id1 = sim.device_id(1).to_string();
    let before = device_or_null(&p, &id1).await["catalog_synced_at"].as_i64();
    let (status, body) = post(&p, &format!("/api/v1/devices/{id1}/catalog/refresh")).await;
    assert_eq!(status, 202, "{body}");
    wait_device(&p, &id1, "a second catalog", |d| {
        d["catalog_state"] == "complete" && d["catalog_synced_at"].as_i64() > before
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(sim.status().catalog.subscribes_refused, 1);

    // Registered anew (after being offline), it is asked again, and now accepts.
    sim.refuse_catalog_subscribe(1, None).await;
    sim.unregister(1).await;
    p.wait_online(std::slice::from_ref(&id1), &[Some(false)], WAIT)
        .await;
    sim.register(1).await;
    sim.wait_for("device 1 subscribed", WAIT, |s| {
        s.catalog.subscribed.contains(&1)
    })
    .await
    .unwrap();
    sim.stop().await;
    p.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_devices_at_once_all_get_their_catalog_through_a_few_slots() {
    init_logging();
    let db = TestDb::new(Backend::Sqlite).await;
    let mut c = config(&db);
    c.sip.catalog_concurrency = 3;
    let mut p = Platform::start(c).await;
    let sim = Simulator::start(SimConfig {
        channels: 4,
        catalog_page: 2,
        ..sim_config(p.sip(), 40)
    })
    .await
    .unwrap();
    let start = Instant::now();
    loop {
        let list = p.devices().await;
        let complete = list
            .iter()
            .filter(|d| d["catalog_state"] == "complete")
            .count();
        if complete == 40 {
            break;
        }
        assert!(
            start.elapsed() < WAIT,
            "{complete} of 40 catalogs complete: {:#?}",
            list.iter()
                .map(|d| (&d["device_id"], &d["catalog_state"]))
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (status, all) = get(&p, "/api/v1/channels?per_page=1000").await;
    assert_eq!(status, 200);
    assert_eq!(all["total"], 160, "{}", all["total"]);
    let (_, online) = get(&p, "/api/v1/channels?online=true&per_page=1").await;
    assert_eq!(online["total"], 160);
    assert_eq!(online["items"].as_array().unwrap().len(), 1);
    sim.stop().await;
    p.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_restart_devices_are_subscribed_again_without_a_new_catalog_query() {
    init_logging();
    let db = TestDb::new(Backend::Sqlite).await;
    let mut p = Platform::start(config(&db)).await;
    let sim = Simulator::start(nvr(&p, 1, 8, 4, Charset::Gb2312))
        .await
        .unwrap();
    sim.wait_for("subscribed", WAIT, |s| s.catalog.subscribes == 1)
        .await
        .unwrap();
    let queries = sim.status().queries.get("Catalog").copied();
    assert_eq!(queries, Some(1));

    // The subscription lived in memory only: a restarted platform subscribes anew, and
    // the stored catalog is not asked for again.
    p.restart().await;
    sim.wait_for("subscribed again", WAIT, |s| s.catalog.subscribes == 2)
        .await
        .unwrap();
    assert_eq!(sim.status().queries.get("Catalog").copied(), Some(1));
    let id = sim.device_id(0).to_string();
    let d = device_or_null(&p, &id).await;
    assert_eq!(catalog_state(&d), ("complete", 8, 8), "{d:#}");
    sim.stop().await;
    p.shutdown().await;
}
