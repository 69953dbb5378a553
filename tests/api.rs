//! The REST API's devices resource end to end: provisioning (201, 400 naming the field,
//! 409, 422 for JSON of the wrong shape, our error format for bad JSON), PATCH, DELETE
//! (the registered device goes offline and its channels go with it), and the list's
//! pages, filters and orders.

mod common;

use std::time::Duration;

use common::{Backend, Platform, TestDb, WAIT, config, init_logging, sim_config};
use serde_json::{Value, json};
use vigil::sim::{SimConfig, Simulator};

/// `(status, body)`; the body parsed as JSON (`null` when empty).
async fn call(p: &Platform, method: &str, path: &str, body: Option<&str>) -> (u16, Value) {
    let mut req = p
        .http
        .request(method.parse().unwrap(), p.api(path))
        .header("content-type", "application/json");
    if let Some(b) = body {
        req = req.body(b.to_owned());
    }
    let resp = req
        .send()
        .await
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
    let status = resp.status().as_u16();
    let text = resp.text().await.expect("body");
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{method} {path}: {e}: {text}"))
    };
    (status, body)
}

/// Asserts our error format with `status` and `code`, and that the message names `field`.
fn assert_error(got: &(u16, Value), status: u16, code: &str, field: &str) {
    let (s, body) = got;
    assert_eq!(*s, status, "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    let msg = body["error"]["message"].as_str().unwrap_or_default();
    assert!(msg.contains(field), "message should name {field:?}: {body}");
}

fn ids(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["device_id"].as_str().unwrap().to_owned())
        .collect()
}

async fn provision(p: &Platform, id: &str, name: Option<&str>) -> Value {
    let body = json!({"device_id": id, "name": name}).to_string();
    let (status, row) = call(p, "POST", "/api/v1/devices", Some(&body)).await;
    assert_eq!(status, 201, "{row}");
    row
}

async fn devices_are_provisioned_changed_and_validated(backend: Backend) {
    init_logging();
    let db = TestDb::new(backend).await;
    let mut p = Platform::start(config(&db)).await;
    let id = "34020000001320000101";

    let body = json!({
        "device_id": id, "name": "门口 east", "password": "dev-secret-77", "transport": "tcp"
    });
    let (status, row) = call(&p, "POST", "/api/v1/devices", Some(&body.to_string())).await;
    assert_eq!(status, 201, "{row}");
    assert_eq!(row["device_id"], id);
    assert_eq!(row["name"], "门口 east");
    assert_eq!(row["transport"], "tcp");
    assert_eq!(row["online"], false);
    assert!(row.get("password").is_none(), "{row}");
    assert!(!row.to_string().contains("dev-secret-77"));

    // The same ID again is a conflict.
    let again = call(&p, "POST", "/api/v1/devices", Some(&body.to_string())).await;
    assert_error(&again, 409, "conflict", "device_id");

    // Bad input names the field.
    let bad_id = json!({"device_id": "1234"}).to_string();
    let r = call(&p, "POST", "/api/v1/devices", Some(&bad_id)).await;
    assert_error(&r, 400, "bad_request", "device_id");
    let bad_transport = json!({"device_id": "34020000001320000102", "transport": "sctp"});
    let r = call(
        &p,
        "POST",
        "/api/v1/devices",
        Some(&bad_transport.to_string()),
    )
    .await;
    assert_error(&r, 422, "unprocessable", "transport");
    let wrong_type = json!({"device_id": "34020000001320000102", "name": 7}).to_string();
    let r = call(&p, "POST", "/api/v1/devices", Some(&wrong_type)).await;
    assert_error(&r, 422, "unprocessable", "name");
    let missing = json!({"name": "x"}).to_string();
    let r = call(&p, "POST", "/api/v1/devices", Some(&missing)).await;
    assert_error(&r, 422, "unprocessable", "device_id");
    let unknown = json!({"device_id": "34020000001320000102", "colour": "red"}).to_string();
    let r = call(&p, "POST", "/api/v1/devices", Some(&unknown)).await;
    assert_error(&r, 422, "unprocessable", "colour");
    let empty_pw = json!({"device_id": "34020000001320000102", "password": ""}).to_string();
    let r = call(&p, "POST", "/api/v1/devices", Some(&empty_pw)).await;
    assert_error(&r, 400, "bad_request", "password");
    let r = call(&p, "POST", "/api/v1/devices", Some("{\"device_id\": ")).await;
    assert_error(&r, 400, "bad_request", "JSON");
    // Not sent as JSON: still our format.
    let resp = p
        .http
        .post(p.api("/api/v1/devices"))
        .body("device_id=1")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["code"], "bad_request", "{v}");

    // PATCH: absent fields stay, null clears.
    let patch = json!({"name": "lobby"}).to_string();
    let (status, row) = call(&p, "PATCH", &format!("/api/v1/devices/{id}"), Some(&patch)).await;
    assert_eq!(status, 200, "{row}");
    assert_eq!(row["name"], "lobby");
    assert_eq!(row["transport"], "tcp");
    let patch = json!({"transport": null}).to_string();
    let (status, row) = call(&p, "PATCH", &format!("/api/v1/devices/{id}"), Some(&patch)).await;
    assert_eq!(status, 200, "{row}");
    assert_eq!(row["name"], "lobby");
    assert!(row["transport"].is_null(), "{row}");
    let r = call(
        &p,
        "PATCH",
        &format!("/api/v1/devices/{id}"),
        Some(&json!({"name": ["x"]}).to_string()),
    )
    .await;
    assert_error(&r, 422, "unprocessable", "name");
    let r = call(
        &p,
        "PATCH",
        "/api/v1/devices/34020000001320000999",
        Some(&json!({"name": "x"}).to_string()),
    )
    .await;
    assert_error(&r, 404, "not_found", "34020000001320000999");

    // DELETE: gone, and gone again is 404.
    let (status, _) = call(&p, "DELETE", &format!("/api/v1/devices/{id}"), None).await;
    assert_eq!(status, 204);
    let r = call(&p, "GET", &format!("/api/v1/devices/{id}"), None).await;
    assert_error(&r, 404, "not_found", id);
    let r = call(&p, "DELETE", &format!("/api/v1/devices/{id}"), None).await;
    assert_error(&r, 404, "not_found", id);
    let r = call(&p, "DELETE", "/api/v1/devices/abc", None).await;
    assert_error(&r, 400, "bad_request", "device_id");
    p.shutdown().await;
}

/// A provisioned password is the one the device must use; deleting a registered device
/// takes it offline at once and removes its channels.
async fn delete_unregisters_a_device_and_drops_its_channels(backend: Backend) {
    init_logging();
    let db = TestDb::new(backend).await;
    let mut p = Platform::start(config(&db)).await;
    let sim_cfg = SimConfig {
        password: "per-device-pw".into(),
        ..sim_config(p.sip(), 1)
    };
    let id = "34020000001320000001".to_owned();
    // Provisioned with its own password before it ever registers.
    let body = json!({"device_id": id, "password": "per-device-pw"}).to_string();
    let (status, row) = call(&p, "POST", "/api/v1/devices", Some(&body)).await;
    assert_eq!(status, 201, "{row}");
    let sim = Simulator::start(sim_cfg).await.unwrap();
    assert_eq!(sim.device_id(0).to_string(), id);
    sim.wait_registered(1, WAIT).await.unwrap();
    p.wait_online(std::slice::from_ref(&id), &[Some(true)], WAIT)
        .await;
    let channel = sim.channel_id(0, 0).to_string();
    let start = std::time::Instant::now();
    loop {
        let (status, _) = call(&p, "GET", &format!("/api/v1/channels/{channel}"), None).await;
        if status == 200 {
            break;
        }
        assert!(start.elapsed() < WAIT, "channel {channel} never appeared");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Quiet, so it does not register again by itself during the checks.
    sim.stop_keepalives(0).await;

    let (status, _) = call(&p, "DELETE", &format!("/api/v1/devices/{id}"), None).await;
    assert_eq!(status, 204);
    let r = call(&p, "GET", &format!("/api/v1/channels/{channel}"), None).await;
    assert_error(&r, 404, "not_found", &channel);
    let r = call(&p, "GET", &format!("/api/v1/devices/{id}/channels"), None).await;
    assert_error(&r, 404, "not_found", &id);
    assert_eq!(p.online(std::slice::from_ref(&id)).await, vec![None]);
    // Provisioned again, it is known but its old registration is gone.
    provision(&p, &id, None).await;
    let r = call(
        &p,
        "POST",
        &format!("/api/v1/devices/{id}/catalog/refresh"),
        None,
    )
    .await;
    assert_error(&r, 409, "conflict", "offline");
    sim.stop().await;
    p.shutdown().await;
}

async fn device_list_pages_filters_and_sorts(backend: Backend) {
    init_logging();
    let db = TestDb::new(backend).await;
    let mut p = Platform::start(config(&db)).await;
    let names = [
        "charlie gate",
        "alpha yard",
        "bravo hall",
        "delta roof",
        "echo 100%",
    ];
    let mut all = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let id = format!("340200000013200002{i:02}");
        provision(&p, &id, Some(name)).await;
        all.push(id);
    }
    // One without a name sorts first by name.
    provision(&p, "34020000001320000299", None).await;
    all.push("34020000001320000299".into());

    let (status, list) = call(&p, "GET", "/api/v1/devices?per_page=2", None).await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["total"], 6);
    assert_eq!(list["page"], 1);
    assert_eq!(list["per_page"], 2);
    assert_eq!(ids(&list), all[..2]);
    let (_, list) = call(&p, "GET", "/api/v1/devices?per_page=2&page=3", None).await;
    assert_eq!(ids(&list), all[4..]);
    let (_, list) = call(&p, "GET", "/api/v1/devices?per_page=2&page=4", None).await;
    assert_eq!(ids(&list), Vec::<String>::new());
    assert_eq!(list["total"], 6);

    let (_, list) = call(&p, "GET", "/api/v1/devices?sort=-device_id", None).await;
    let mut rev = all.clone();
    rev.reverse();
    assert_eq!(ids(&list), rev);
    let (_, list) = call(&p, "GET", "/api/v1/devices?sort=name&per_page=3", None).await;
    assert_eq!(
        ids(&list),
        ["34020000001320000299", &all[1], &all[2]],
        "unnamed first, then alpha, bravo"
    );
    let (_, list) = call(&p, "GET", "/api/v1/devices?sort=-last_seen", None).await;
    assert_eq!(list["total"], 6);

    // q matches name or ID; % is literal.
    let (_, list) = call(&p, "GET", "/api/v1/devices?q=roof", None).await;
    assert_eq!(ids(&list), [all[3].clone()]);
    let (_, list) = call(&p, "GET", "/api/v1/devices?q=00203", None).await;
    assert_eq!(ids(&list), [all[3].clone()]);
    let (_, list) = call(&p, "GET", "/api/v1/devices?q=100%25", None).await;
    assert_eq!(ids(&list), [all[4].clone()]);
    let (_, list) = call(&p, "GET", "/api/v1/devices?online=true", None).await;
    assert_eq!(list["total"], 0);
    let (_, list) = call(&p, "GET", "/api/v1/devices?online=false&per_page=1", None).await;
    assert_eq!(list["total"], 6);

    for (query, field) in [
        ("sort=colour", "sort"),
        ("page=0", "page"),
        ("per_page=1001", "per_page"),
        ("per_page=x", "per_page"),
        ("online=maybe", "online"),
        ("colour=red", "colour"),
    ] {
        let r = call(&p, "GET", &format!("/api/v1/devices?{query}"), None).await;
        assert_error(&r, 400, "bad_request", field);
    }
    p.shutdown().await;
}

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

on_both_backends!(
    devices_are_provisioned_changed_and_validated,
    delete_unregisters_a_device_and_drops_its_channels,
    device_list_pages_filters_and_sorts,
);

/// The OpenAPI document and Swagger UI are served (the UI from files in the binary).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_document_and_browsable_page_are_served() {
    let db = TestDb::new(Backend::Sqlite).await;
    let mut p = Platform::start(config(&db)).await;
    let (status, doc) = call(&p, "GET", "/api/v1/openapi.json", None).await;
    assert_eq!(status, 200, "{doc}");
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3."),
        "{}",
        doc["openapi"]
    );
    assert!(doc["paths"]["/api/v1/devices"]["post"].is_object());
    assert!(doc["components"]["schemas"]["DeviceRecord"].is_object());
    let resp = p.http.get(p.api("/api/docs/")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.text().await.unwrap().contains("swagger-ui"));
    let init = p
        .http
        .get(p.api("/api/docs/swagger-initializer.js"))
        .send()
        .await
        .unwrap();
    assert!(init.text().await.unwrap().contains("/api/v1/openapi.json"));
    p.shutdown().await;
}
