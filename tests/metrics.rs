//! `GET /metrics` end to end: simulated devices register with a real platform, and the
//! exposition parses as Prometheus text and counts what happened: devices online and
//! known, REGISTER challenges, successes and refusals, keepalives, HTTP requests by route
//! pattern and status.

mod common;
#[path = "common/prom.rs"]
mod prom;

use std::time::{Duration, Instant};

use common::{Backend, Platform, TestDb, WAIT, config, init_logging, sim_config};
use serde_json::Value;
use vigil::sim::Simulator;

async fn scrape(p: &Platform) -> prom::Scrape {
    let resp = p.http.get(p.api("/metrics")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let ct = resp.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(ct.starts_with("text/plain; version=0.0.4"), "{ct}");
    let text = resp.text().await.unwrap();
    prom::parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_parse_as_prometheus_text_and_count_registrations() {
    init_logging();
    let db = TestDb::new(Backend::Sqlite).await;
    let mut p = Platform::start(config(&db)).await;
    let sim = Simulator::start(vigil::sim::SimConfig {
        // Device 2 has the wrong password: challenged, then refused.
        password_for: Some(std::sync::Arc::new(|i, _| {
            if i == 2 { "wrong" } else { "12345678" }.into()
        })),
        ..sim_config(p.sip(), 3)
    })
    .await
    .unwrap();
    sim.wait_registered(2, WAIT).await.unwrap();
    sim.wait_for("device 2 refused", WAIT, |s| {
        s.devices[2].last_register_status == Some(403)
    })
    .await
    .unwrap();
    sim.wait_for("keepalives answered", WAIT, |s| s.keepalives_ok >= 2)
        .await
        .unwrap();
    let ids: Vec<String> = (0..2).map(|i| sim.device_id(i).to_string()).collect();
    p.wait_online(&ids, &[Some(true); 2], WAIT).await;

    let m = scrape(&p).await;
    let out = |method, status| {
        m.value(
            "vigil_sip_responses_total",
            &[("direction", "out"), ("method", method), ("status", status)],
        )
        .unwrap_or(0.0)
    };
    assert_eq!(m.value("vigil_devices_online", &[]), Some(2.0));
    assert!(m.value("vigil_devices_known", &[]).unwrap() >= 2.0);
    // Retransmissions would add to these, so at least (a slow store can make the
    // simulator resend a REGISTER before its 200 OK).
    assert!(out("REGISTER", "200") >= 2.0, "successful registrations");
    assert!(out("REGISTER", "401") >= 3.0, "one challenge per device");
    assert!(out("REGISTER", "403") >= 1.0, "the wrong password refused");
    assert!(m.value("vigil_sip_auth_failures_total", &[]).unwrap() >= 1.0);
    let registers_in = m
        .value(
            "vigil_sip_requests_total",
            &[("direction", "in"), ("method", "REGISTER")],
        )
        .unwrap();
    assert!(registers_in >= 6.0, "{registers_in}");
    assert!(out("MESSAGE", "200") >= 2.0, "keepalives answered");
    assert!(m.value("vigil_sip_bytes_sent_total", &[]).unwrap() > 0.0);
    assert!(m.value("vigil_sip_transport_received_total", &[]).unwrap() >= registers_in);
    assert_eq!(m.types["vigil_sip_requests_total"], "counter");
    assert_eq!(m.types["vigil_devices_online"], "gauge");

    // The unregistering device is counted as it goes.
    sim.stop().await;
    p.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_requests_are_counted_by_route_pattern_and_status() {
    init_logging();
    let db = TestDb::new(Backend::Sqlite).await;
    let mut p = Platform::start(config(&db)).await;
    let get = |path: &str| p.http.get(p.api(path)).send();
    assert_eq!(get("/api/v1/devices").await.unwrap().status(), 200);
    assert_eq!(get("/api/v1/devices").await.unwrap().status(), 200);
    for id in ["34020000001320000001", "34020000001320000002"] {
        let status = get(&format!("/api/v1/devices/{id}"))
            .await
            .unwrap()
            .status();
        assert_eq!(status, 404);
    }
    assert_eq!(get("/no/such/thing?x=1").await.unwrap().status(), 404);
    // Refused for want of credentials: counted under the route it asked for.
    let anonymous = p.anonymous().get(p.api("/api/v1/devices")).send();
    assert_eq!(anonymous.await.unwrap().status(), 401);
    let body = get("/api/v1/health").await.unwrap().bytes().await.unwrap();

    let m = scrape(&p).await;
    let requests = |route, status| {
        m.value(
            "vigil_http_requests_total",
            &[("method", "GET"), ("route", route), ("status", status)],
        )
    };
    assert_eq!(requests("/api/v1/devices", "200"), Some(2.0));
    assert_eq!(requests("/api/v1/devices", "401"), Some(1.0));
    // One series for the pattern, not one per device ID.
    assert_eq!(requests("/api/v1/devices/{device_id}", "404"), Some(2.0));
    assert_eq!(requests("unmatched", "404"), Some(1.0));
    assert_eq!(requests("/api/v1/health", "200"), Some(1.0));
    assert_eq!(requests("/metrics", "200"), None, "counted once answered");
    let health = [("route", "/api/v1/health")];
    assert_eq!(m.types["vigil_http_request_duration_seconds"], "histogram");
    assert_eq!(
        m.value("vigil_http_request_duration_seconds_count", &health),
        Some(1.0)
    );
    let le_inf = [("route", "/api/v1/health"), ("le", "+Inf")];
    assert_eq!(
        m.value("vigil_http_request_duration_seconds_bucket", &le_inf),
        Some(1.0)
    );
    assert!(
        m.value("vigil_http_request_duration_seconds_sum", &health)
            .unwrap()
            < 5.0
    );
    assert!(m.value("vigil_http_response_bytes_total", &[]).unwrap() >= body.len() as f64);

    let again = scrape(&p).await;
    assert_eq!(
        again.value(
            "vigil_http_requests_total",
            &[("method", "GET"), ("route", "/metrics"), ("status", "200")]
        ),
        Some(1.0)
    );
    p.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_sessions_viewers_and_rtp_packets_are_counted() {
    init_logging();
    let db = TestDb::new(Backend::Sqlite).await;
    let mut p = Platform::start(config(&db)).await;
    let sim = Simulator::start(sim_config(p.sip(), 1)).await.unwrap();
    sim.wait_registered(1, WAIT).await.unwrap();
    let channel = sim.channel_id(0, 0).to_string();
    let deadline = Instant::now() + WAIT;
    while p
        .running()
        .store
        .get_channel(&channel)
        .await
        .unwrap()
        .is_none()
    {
        assert!(Instant::now() < deadline, "catalog sync stored no channel");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let m = scrape(&p).await;
    assert_eq!(
        m.value("vigil_live_sessions", &[("state", "playing")]),
        Some(0.0)
    );
    assert_eq!(m.value("vigil_rtp_packets_received_total", &[]), Some(0.0));

    let started: Value = p
        .http
        .post(p.api(&format!("/api/v1/channels/{channel}/live")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = started["session_id"].as_str().expect("session started");
    let mut viewer = p
        .http
        .get(p.api(started["urls"]["mp4"].as_str().unwrap()))
        .send()
        .await
        .unwrap();
    assert!(viewer.chunk().await.unwrap().is_some(), "the init segment");

    // Ingest stats are refreshed a few times a second.
    let deadline = Instant::now() + WAIT;
    let received = loop {
        let m = scrape(&p).await;
        let received = m.value("vigil_rtp_packets_received_total", &[]).unwrap();
        if received > 0.0 {
            assert_eq!(
                m.value("vigil_live_sessions", &[("state", "playing")]),
                Some(1.0)
            );
            assert_eq!(m.value("vigil_live_viewers", &[]), Some(1.0));
            assert_eq!(m.value("vigil_rtp_packets_lost_total", &[]), Some(0.0));
            break received;
        }
        assert!(Instant::now() < deadline, "no RTP counted");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };

    drop(viewer);
    let r = p
        .http
        .delete(p.api(&format!("/api/v1/live/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let m = scrape(&p).await;
    assert_eq!(
        m.value("vigil_live_sessions", &[("state", "playing")]),
        Some(0.0)
    );
    assert_eq!(m.value("vigil_live_viewers", &[]), Some(0.0));
    let after = m.value("vigil_rtp_packets_received_total", &[]).unwrap();
    assert!(
        after >= received,
        "the ended session's packets stay counted: {after} < {received}"
    );
    sim.stop().await;
    p.shutdown().await;
}
