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
