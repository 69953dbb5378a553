//! Authentication with `[auth] enabled`: every protected route refuses requests without
//! credentials (401) and with a revoked key (403); login sets a secure session cookie that
//! works until logout; API keys work as Bearer tokens; passwords never show up in
//! responses or logs.

mod common;
#[path = "common/prom.rs"]
mod prom;

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use common::{Backend, Platform, TestDb};
use serde_json::{Value, json};

const ADMIN_PW: &str = "admin-Pw-7f3e9c2d";
const USER_PW: &str = "user-Pw-91ab44e0";

/// Everything the platform logs in this test binary, at every level.
fn log_buffer() -> Arc<Mutex<Vec<u8>>> {
    static BUF: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    BUF.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let w = buf.clone();
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("trace"))
            .with_writer(move || Writer(w.clone()))
            .try_init();
        buf
    })
    .clone()
}

struct Writer(Arc<Mutex<Vec<u8>>>);

impl Write for Writer {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

async fn start(db: &TestDb) -> Platform {
    let mut c = common::config(db);
    c.auth.enabled = true;
    c.auth.admin_password = vigil::config::Secret(ADMIN_PW.into());
    anonymous(Platform::start(c).await)
}

/// The platform with a client that sends no credentials of its own: these tests send
/// exactly the cookie or key each step is about.
fn anonymous(mut p: Platform) -> Platform {
    p.http = p.anonymous();
    p
}

/// Every protected (method, path) from the OpenAPI document, plus the /live media routes.
async fn protected_routes(p: &Platform) -> Vec<(reqwest::Method, String)> {
    let doc: Value = p
        .http
        .get(p.api("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut out = Vec::new();
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for method in ops.as_object().unwrap().keys() {
            let m: reqwest::Method = method.to_uppercase().parse().unwrap();
            let public = (m == reqwest::Method::GET && path == "/api/v1/health")
                || (m == reqwest::Method::POST && path == "/api/v1/login")
                || path == "/api/v1/openapi.json";
            if !public {
                let concrete = path
                    .replace("{channel_id}", "34020000001320000001")
                    .replace("{device_id}", "34020000001320000001")
                    .replace("{session_id}", "s1")
                    .replace("{id}", "1");
                out.push((m, concrete));
            }
        }
    }
    for live in [
        "/live/s1",
        "/live/s1/ws",
        "/live/s1/index.m3u8",
        "/live/s1/info",
        "/live/s1/0.ts",
    ] {
        out.push((reqwest::Method::GET, live.to_owned()));
    }
    assert!(out.len() > 20, "{out:?}");
    out
}

async fn login(p: &Platform, user: &str, pw: &str) -> reqwest::Response {
    p.http
        .post(p.api("/api/v1/login"))
        .json(&json!({"user": user, "password": pw}))
        .send()
        .await
        .unwrap()
}

/// The `name=value` of the session cookie a login set.
fn session_cookie(resp: &reqwest::Response) -> String {
    let set = resp
        .headers()
        .get(reqwest::header::SET_COOKIE)
        .expect("Set-Cookie")
        .to_str()
        .unwrap()
        .to_owned();
    let attrs: Vec<&str> = set.split(';').map(str::trim).collect();
    for a in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(attrs.contains(&a), "{a}: {set}");
    }
    set.split(';').next().unwrap().to_owned()
}

/// Fails when the log holds any of `secrets`.
fn assert_not_logged(logs: &Arc<Mutex<Vec<u8>>>, secrets: &[&str]) {
    let text = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
    assert!(!text.is_empty(), "logs were captured");
    for secret in secrets {
        assert!(
            !text.contains(secret),
            "the log holds a secret ({} chars)",
            secret.len()
        );
    }
}

/// `GET /metrics`, parsed.
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
    prom::parse(&text).unwrap()
}

fn auth_failures(m: &prom::Scrape, reason: &str) -> f64 {
    m.value("vigil_http_auth_failures_total", &[("reason", reason)])
        .unwrap_or(0.0)
}

/// GET `path` with a cookie or a key; asserts 200 and returns the JSON.
async fn get_json(p: &Platform, path: &str, cookie: Option<&str>, key: Option<&str>) -> Value {
    let mut req = p.http.get(p.api(path));
    if let Some(c) = cookie {
        req = req.header("Cookie", c);
    }
    if let Some(k) = key {
        req = req.bearer_auth(k);
    }
    let r = req.send().await.unwrap();
    let status = r.status();
    let text = r.text().await.unwrap();
    assert_eq!(status, 200, "GET {path}: {text}");
    serde_json::from_str(&text).unwrap()
}

async fn run(backend: Backend) {
    let logs = log_buffer();
    let db = TestDb::new(backend).await;
    let mut p = start(&db).await;
    let mut bodies = String::new();

    // Public routes.
    for path in ["/api/v1/health", "/api/v1/openapi.json"] {
        let r = p.http.get(p.api(path)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
    }
    // No credentials, a wrong key, an unknown session: 401 everywhere.
    let routes = protected_routes(&p).await;
    for (m, path) in &routes {
        let r = p.http.request(m.clone(), p.api(path)).send().await.unwrap();
        assert_eq!(r.status(), 401, "{m} {path} without credentials");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"]["code"], "unauthorized", "{m} {path}");
    }
    let r = p
        .http
        .get(p.api("/api/v1/devices"))
        .bearer_auth("vgl_nope")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = p
        .http
        .get(p.api("/api/v1/devices"))
        .header("Cookie", "vigil_session=forged")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    // Login: wrong password or user 401, right one sets the cookie.
    for (u, pw) in [("admin", "wrong"), ("nobody", ADMIN_PW)] {
        let r = login(&p, u, pw).await;
        assert_eq!(r.status(), 401, "{u}");
        assert!(r.headers().get(reqwest::header::SET_COOKIE).is_none());
        bodies += &r.text().await.unwrap();
    }
    let r = login(&p, "admin", ADMIN_PW).await;
    assert_eq!(r.status(), 200);
    let cookie = session_cookie(&r);
    bodies += &r.text().await.unwrap();
    let r = p
        .http
        .get(p.api("/api/v1/devices"))
        .header("Cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // Who am I: the logged-in user; without credentials 401 in the JSON error format.
    let me = get_json(&p, "/api/v1/me", Some(&cookie), None).await;
    assert_eq!(me["auth_enabled"], true, "{me}");
    assert_eq!(me["user"]["username"], "admin", "{me}");
    assert_eq!(me["user"]["is_admin"], true, "{me}");
    assert!(me["user"]["id"].is_i64(), "{me}");
    assert!(me.get("api_key").is_none(), "{me}");
    assert!(!me.to_string().contains("argon2"), "{me}");
    let r = p.http.get(p.api("/api/v1/me")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unauthorized");

    // Users: created, listed without hashes, can log in.
    let r = p
        .http
        .post(p.api("/api/v1/users"))
        .header("Cookie", &cookie)
        .json(&json!({"username": "op", "password": USER_PW}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let op: Value = r.json().await.unwrap();
    bodies += &op.to_string();
    let r = p
        .http
        .get(p.api("/api/v1/users"))
        .header("Cookie", &cookie)
        .send()
        .await
        .unwrap();
    let users = r.text().await.unwrap();
    assert!(
        users.contains("\"op\"") && !users.contains("argon2"),
        "{users}"
    );
    bodies += &users;
    assert_eq!(login(&p, "op", USER_PW).await.status(), 200);

    // API keys: shown once, listed without the key, work as Bearer.
    let r = p
        .http
        .post(p.api("/api/v1/api-keys"))
        .header("Cookie", &cookie)
        .json(&json!({"name": "vms"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let created: Value = r.json().await.unwrap();
    let key = created["key"].as_str().unwrap().to_owned();
    assert!(key.starts_with("vgl_"));
    let list = p
        .http
        .get(p.api("/api/v1/api-keys"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(list.status(), 200);
    let list = list.text().await.unwrap();
    assert!(!list.contains(&key), "{list}");
    assert!(list.contains("\"vms\""), "{list}");
    // Who am I with a key: its owner and the key (never the key itself).
    let me = get_json(&p, "/api/v1/me", None, Some(&key)).await;
    assert_eq!(me["auth_enabled"], true, "{me}");
    assert_eq!(me["user"]["username"], "admin", "{me}");
    assert_eq!(me["api_key"]["id"], created["id"], "{me}");
    assert_eq!(me["api_key"]["name"], "vms", "{me}");
    assert_eq!(me["api_key"]["prefix"], created["prefix"], "{me}");
    assert!(!me.to_string().contains(&key[8..]), "{me}");

    // Revoked: 403 on every protected route, and the key stays listed.
    let id = created["id"].as_i64().unwrap();
    let r = p
        .http
        .delete(p.api(&format!("/api/v1/api-keys/{id}")))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    for (m, path) in &routes {
        let r = p
            .http
            .request(m.clone(), p.api(path))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "{m} {path} with a revoked key");
    }
    let list: Value = p
        .http
        .get(p.api("/api/v1/api-keys"))
        .header("Cookie", &cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let listed = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == id);
    assert!(listed.unwrap()["revoked_at"].is_i64(), "{list}");

    // Logout ends the session on the server (not just in the browser) and clears the cookie.
    let token = cookie.split_once('=').unwrap().1.to_owned();
    let now = vigil::platform::unix_ms();
    let store = &p.running().store;
    let hash = vigil::auth::token_hash(&token);
    assert!(store.session_user(&hash, now).await.unwrap().is_some());
    let r = p
        .http
        .post(p.api("/api/v1/logout"))
        .header("Cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let clear = r.headers()[reqwest::header::SET_COOKIE].to_str().unwrap();
    assert!(
        clear.starts_with("vigil_session=;") && clear.contains("Max-Age=0"),
        "{clear}"
    );
    assert!(store.session_user(&hash, now).await.unwrap().is_none());
    let r = p
        .http
        .get(p.api("/api/v1/devices"))
        .header("Cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    // Every refusal is counted by reason: the two wrong logins, each route without
    // credentials, each with the revoked key.
    let m = scrape(&p).await;
    assert_eq!(auth_failures(&m, "login"), 2.0);
    assert!(auth_failures(&m, "no_credentials") >= routes.len() as f64);
    assert!(auth_failures(&m, "revoked_key") >= routes.len() as f64);
    assert!(auth_failures(&m, "unknown_key") >= 1.0);
    assert!(auth_failures(&m, "session") >= 2.0);

    p.shutdown().await;
    for pw in [ADMIN_PW, USER_PW] {
        assert!(
            !bodies.contains(pw),
            "a response holds a password: {bodies}"
        );
    }
    let text = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
    assert!(text.contains("login"), "logs were captured");
    assert_not_logged(&logs, &[ADMIN_PW, USER_PW, &key, &key[4..], &token]);
}

#[tokio::test]
async fn auth_sqlite() {
    run(Backend::Sqlite).await;
}

#[tokio::test]
async fn auth_postgres() {
    run(Backend::Postgres).await;
}

/// Credentials for one request.
#[derive(Clone, Copy)]
enum Cred<'a> {
    Cookie(&'a str),
    Key(&'a str),
}

/// `(status, JSON body or Null)` of one request made with `cred`.
async fn call(
    p: &Platform,
    method: reqwest::Method,
    path: &str,
    cred: Cred<'_>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = p.http.request(method.clone(), p.api(path));
    req = match cred {
        Cred::Cookie(c) => req.header("Cookie", c),
        Cred::Key(k) => req.bearer_auth(k),
    };
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    let v = serde_json::from_str(&text).unwrap_or(Value::Null);
    (status, v)
}

/// Logs in and returns the session cookie.
async fn cookie_of(p: &Platform, user: &str, pw: &str) -> String {
    let r = login(p, user, pw).await;
    assert_eq!(r.status(), 200, "login {user}");
    session_cookie(&r)
}

/// Creates an API key; returns its ID and the key.
async fn new_key(p: &Platform, cred: Cred<'_>, name: &str) -> (i64, String) {
    let body = json!({ "name": name });
    let (st, k) = call(
        p,
        reqwest::Method::POST,
        "/api/v1/api-keys",
        cred,
        Some(body),
    )
    .await;
    assert_eq!(st, 201, "{k}");
    (
        k["id"].as_i64().unwrap(),
        k["key"].as_str().unwrap().to_owned(),
    )
}

/// Admin-only user management, who sees and revokes which keys, the last admin, and
/// password changes (own with the current password, anyone's by an admin; other sessions
/// end).
async fn roles(backend: Backend) {
    use reqwest::Method as M;
    let logs = log_buffer();
    let db = TestDb::new(backend).await;
    let mut p = start(&db).await;
    let admin = cookie_of(&p, "admin", ADMIN_PW).await;
    let admin_id = get_json(&p, "/api/v1/me", Some(&admin), None).await["user"]["id"].clone();
    let a = Cred::Cookie(&admin);
    let mut ids = Vec::new();
    for name in ["op", "op2"] {
        let body = json!({"username": name, "password": USER_PW});
        let (st, u) = call(&p, M::POST, "/api/v1/users", a, Some(body)).await;
        assert_eq!(st, 201, "{u}");
        assert_eq!(u["is_admin"], false);
        ids.push(u["id"].as_i64().unwrap());
    }
    let (op_id, op2_id) = (ids[0], ids[1]);
    let op = cookie_of(&p, "op", USER_PW).await;
    let o = Cred::Cookie(&op);

    // A non-admin manages no users, not even to make themself admin.
    let forbidden = [
        (M::GET, "/api/v1/users".to_owned(), None),
        (
            M::POST,
            "/api/v1/users".to_owned(),
            Some(json!({"username": "x", "password": USER_PW})),
        ),
        (M::DELETE, format!("/api/v1/users/{op2_id}"), None),
        (
            M::PATCH,
            format!("/api/v1/users/{admin_id}"),
            Some(json!({"password": "new-password-1"})),
        ),
        (
            M::PATCH,
            format!("/api/v1/users/{op_id}"),
            Some(json!({"is_admin": true})),
        ),
    ];
    for (m, path, body) in forbidden {
        let (st, v) = call(&p, m.clone(), &path, o, body).await;
        assert_eq!(st, 403, "{m} {path}: {v}");
        assert_eq!(v["error"]["code"], "forbidden", "{m} {path}");
    }

    // Keys: a non-admin sees and revokes only their own.
    let (admin_key_id, admin_key) = new_key(&p, a, "admin-key").await;
    let (op_key_id, op_key) = new_key(&p, o, "op-key").await;
    let (op_key2_id, _) = new_key(&p, o, "op-key-2").await;
    let names = |v: &Value| -> Vec<String> {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let (st, mine) = call(&p, M::GET, "/api/v1/api-keys", o, None).await;
    assert_eq!(st, 200);
    assert_eq!(names(&mine), ["op-key", "op-key-2"], "{mine}");
    assert_eq!(mine["total"], 2);
    let (_, all) = call(&p, M::GET, "/api/v1/api-keys", a, None).await;
    for n in ["admin-key", "op-key", "op-key-2"] {
        assert!(names(&all).iter().any(|x| x == n), "{n}: {all}");
    }
    // The key acts as its owner.
    let (st, me) = call(&p, M::GET, "/api/v1/me", Cred::Key(&op_key), None).await;
    assert_eq!((st, &me["user"]["username"]), (200, &json!("op")), "{me}");
    assert_eq!(
        call(&p, M::GET, "/api/v1/users", Cred::Key(&op_key), None)
            .await
            .0,
        403
    );
    let (st, v) = call(
        &p,
        M::DELETE,
        &format!("/api/v1/api-keys/{admin_key_id}"),
        o,
        None,
    )
    .await;
    assert_eq!(st, 404, "someone else's key: {v}");
    assert_eq!(
        call(&p, M::GET, "/api/v1/me", Cred::Key(&admin_key), None)
            .await
            .0,
        200
    );
    let path = format!("/api/v1/api-keys/{op_key_id}");
    assert_eq!(
        call(&p, M::DELETE, &path, Cred::Key(&op_key), None).await.0,
        204
    );
    assert_eq!(
        call(&p, M::GET, "/api/v1/me", Cred::Key(&op_key), None)
            .await
            .0,
        403
    );
    let path = format!("/api/v1/api-keys/{op_key2_id}");
    assert_eq!(
        call(&p, M::DELETE, &path, a, None).await.0,
        204,
        "an admin revokes any key"
    );
    assert_eq!(
        call(&p, M::DELETE, "/api/v1/api-keys/999999", a, None)
            .await
            .0,
        404
    );

    // The last admin can be neither deleted nor demoted.
    let admin_path = format!("/api/v1/users/{admin_id}");
    let (st, v) = call(&p, M::DELETE, &admin_path, a, None).await;
    assert_eq!((st, &v["error"]["code"]), (409, &json!("conflict")), "{v}");
    let demote = json!({"is_admin": false});
    let (st, v) = call(&p, M::PATCH, &admin_path, a, Some(demote.clone())).await;
    assert_eq!(st, 409, "{v}");
    let op_path = format!("/api/v1/users/{op_id}");
    let (st, v) = call(&p, M::PATCH, &op_path, a, Some(json!({"is_admin": true}))).await;
    assert_eq!((st, &v["is_admin"]), (200, &json!(true)), "{v}");
    // Now op is an admin (their session sees it at once) and may demote the other one.
    assert_eq!(call(&p, M::GET, "/api/v1/users", o, None).await.0, 200);
    let (st, v) = call(&p, M::PATCH, &admin_path, o, Some(demote.clone())).await;
    assert_eq!((st, &v["is_admin"]), (200, &json!(false)), "{v}");
    assert_eq!(call(&p, M::GET, "/api/v1/users", a, None).await.0, 403);
    let (st, _) = call(&p, M::PATCH, &op_path, o, Some(demote)).await;
    assert_eq!(st, 409, "op is the last admin now");
    assert_eq!(call(&p, M::DELETE, &op_path, o, None).await.0, 409);
    assert_eq!(
        call(&p, M::DELETE, "/api/v1/users/999999", o, None).await.0,
        404
    );
    assert_eq!(
        call(&p, M::DELETE, "/api/v1/users/abc", o, None).await.0,
        400
    );

    // Own password: only with the current one; other sessions end, this one stays.
    let s1 = cookie_of(&p, "op2", USER_PW).await;
    let s2 = cookie_of(&p, "op2", USER_PW).await;
    let op2_path = format!("/api/v1/users/{op2_id}");
    let new_pw = "op2-New-pw-3c1d";
    for (body, status, field) in [
        (json!({"password": new_pw}), 400, "current_password"),
        (
            json!({"password": new_pw, "current_password": "wrong-pw-x"}),
            403,
            "current_password",
        ),
        (
            json!({"password": "short", "current_password": USER_PW}),
            400,
            "password",
        ),
        (json!({}), 400, "password"),
        (
            json!({"current_password": USER_PW}),
            400,
            "current_password",
        ),
    ] {
        let (st, v) = call(
            &p,
            M::PATCH,
            &op2_path,
            Cred::Cookie(&s1),
            Some(body.clone()),
        )
        .await;
        assert_eq!(st, status, "{body}: {v}");
        let msg = v["error"]["message"].as_str().unwrap();
        assert!(msg.starts_with(field), "{body}: {msg}");
    }
    let body = json!({"password": new_pw, "current_password": USER_PW});
    let (st, v) = call(&p, M::PATCH, &op2_path, Cred::Cookie(&s1), Some(body)).await;
    assert_eq!(st, 200, "{v}");
    assert!(!v.to_string().contains(new_pw));
    assert_eq!(
        call(&p, M::GET, "/api/v1/me", Cred::Cookie(&s1), None)
            .await
            .0,
        200
    );
    assert_eq!(
        call(&p, M::GET, "/api/v1/me", Cred::Cookie(&s2), None)
            .await
            .0,
        401
    );
    assert_eq!(login(&p, "op2", USER_PW).await.status(), 401);
    let s3 = cookie_of(&p, "op2", new_pw).await;
    // An admin sets anyone's password without the current one; all their sessions end.
    let body = json!({"password": USER_PW});
    assert_eq!(call(&p, M::PATCH, &op2_path, o, Some(body)).await.0, 200);
    for s in [&s1, &s3] {
        assert_eq!(
            call(&p, M::GET, "/api/v1/me", Cred::Cookie(s), None)
                .await
                .0,
            401
        );
    }
    cookie_of(&p, "op2", USER_PW).await;
    let body = json!({"password": USER_PW});
    assert_eq!(
        call(&p, M::PATCH, "/api/v1/users/999999", o, Some(body))
            .await
            .0,
        404
    );
    p.shutdown().await;
    let cookies: Vec<&str> = [&admin, &op, &s1, &s2, &s3]
        .iter()
        .map(|c| c.split_once('=').unwrap().1)
        .collect();
    let mut secrets = vec![ADMIN_PW, USER_PW, new_pw, "wrong-pw-x", &admin_key, &op_key];
    secrets.extend(cookies);
    assert_not_logged(&logs, &secrets);
}

#[tokio::test]
async fn roles_sqlite() {
    roles(Backend::Sqlite).await;
}

#[tokio::test]
async fn roles_postgres() {
    roles(Backend::Postgres).await;
}

/// The platform without `common::Platform`'s own login (which needs a known password).
async fn start_bare(c: &vigil::config::Config) -> vigil::app::Running {
    let mut attempt = 0;
    loop {
        match vigil::app::start(c.clone()).await {
            Ok(r) => return r,
            // Port 0: UDP and TCP must get the same port; another try gets another one.
            Err(e) if attempt < 5 => {
                eprintln!("start: {e:#}");
                attempt += 1;
            }
            Err(e) => panic!("platform starts: {e:#}"),
        }
    }
}

/// The first start creates the admin with a generated password and logs it once, saying
/// whom to log in as; later starts say whom to log in as and how to reset the password,
/// without it.
#[tokio::test]
async fn start_up_says_how_to_log_in() {
    let logs = log_buffer();
    let db = TestDb::new(Backend::Sqlite).await;
    let mut c = common::config(&db);
    c.auth.enabled = true;
    c.auth.admin_user = "chief".into();
    c.auth.admin_password = vigil::config::Secret::default();
    let r = start_bare(&c).await;
    let text = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
    let (_, after) = text
        .split_once("created the admin account: log in as chief with password ")
        .expect("the first start says whom to log in as, with which password");
    let pw: String = after
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric())
        .collect();
    assert!(pw.len() >= 16, "{after}");
    let http = reqwest::Client::new();
    let base = format!("http://{}", r.http_addr);
    let login = |user: &'static str, pw: String| {
        let (http, url) = (http.clone(), format!("{base}/api/v1/login"));
        async move {
            let body = json!({"user": user, "password": pw});
            http.post(url).json(&body).send().await.unwrap().status()
        }
    };
    assert_eq!(login("chief", pw.clone()).await, 200);
    r.shutdown().await;

    let r = start_bare(&c).await;
    let text = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
    assert!(
        text.contains(
            "log in as chief: its password was printed on the first start (or is [auth] \
             admin_password); forgotten? run `vigil reset-password --user chief`"
        ),
        "{text}"
    );
    assert_eq!(
        text.matches(pw.as_str()).count(),
        1,
        "the password is logged once"
    );
    r.shutdown().await;
}

/// `vigil reset-password` on the database of a running platform: prints only the new
/// password to stdout, ends the user's sessions, creates a missing user as an admin, and
/// refuses a short password.
#[tokio::test]
async fn reset_password_command() {
    let db = TestDb::new(Backend::Sqlite).await;
    let mut p = start(&db).await;
    let old = cookie_of(&p, "admin", ADMIN_PW).await;
    let vigil = |args: &[&str], env: &[(&str, &str)]| {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_vigil"));
        cmd.arg("reset-password")
            .args(args)
            .env("VIGIL_DATABASE__URL", &db.url)
            .env_remove("VIGIL_CONFIG")
            .env_remove("VIGIL_NEW_PASSWORD")
            .env_remove("RUST_LOG")
            .kill_on_drop(true);
        for (k, v) in env {
            cmd.env(k, v);
        }
        async move { cmd.output().await.expect("vigil runs") }
    };
    let out = vigil(&[], &[]).await;
    let (stdout, stderr) = (
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert!(out.status.success(), "{stderr}");
    let pw = stdout.trim_end_matches('\n');
    assert!(
        !pw.is_empty() && !pw.contains('\n'),
        "stdout is the password alone: {stdout:?}"
    );
    assert!(!stderr.contains(pw), "{stderr}");
    assert!(
        stderr.contains("\"admin\": password set; their sessions ended"),
        "{stderr}"
    );
    let (st, _) = call(
        &p,
        reqwest::Method::GET,
        "/api/v1/me",
        Cred::Cookie(&old),
        None,
    )
    .await;
    assert_eq!(st, 401, "the old session ended");
    assert_eq!(login(&p, "admin", ADMIN_PW).await.status(), 401);
    cookie_of(&p, "admin", pw).await;

    // The given password (from the environment, so not in the process list); a new user.
    let env = [("VIGIL_NEW_PASSWORD", USER_PW)];
    let out = vigil(&["--user", "rescue"], &env).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.is_empty(), "a given password is not printed");
    let rescue = cookie_of(&p, "rescue", USER_PW).await;
    let me = get_json(&p, "/api/v1/me", Some(&rescue), None).await;
    assert_eq!(me["user"]["is_admin"], true, "{me}");

    let out = vigil(&["--password", "short"], &[]).await;
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--password: at least 8 characters"),
        "{stderr}"
    );
    cookie_of(&p, "admin", pw).await;
    p.shutdown().await;
}

/// Login brute force: after `login_fail_limit` wrong passwords for one name, that name
/// gets 429 with Retry-After even with the right password; after
/// `login_fail_limit_address` failures from one address, every name from it does; both
/// end after `login_block`, and the refusals are counted.
#[tokio::test]
async fn login_brute_force_gets_429_with_retry_after() {
    use std::time::{Duration, Instant};
    let logs = log_buffer();
    let db = TestDb::new(Backend::Sqlite).await;
    let mut c = common::config(&db);
    c.auth.admin_password = vigil::config::Secret(ADMIN_PW.into());
    c.auth.login_fail_limit = 3;
    c.auth.login_fail_limit_address = 6;
    c.auth.login_fail_window = Duration::from_secs(60);
    c.auth.login_block = Duration::from_secs(2);
    let mut p = anonymous(Platform::start(c).await);
    let admin = cookie_of(&p, "admin", ADMIN_PW).await;
    let body = json!({"username": "op", "password": USER_PW});
    let (st, _) = call(
        &p,
        reqwest::Method::POST,
        "/api/v1/users",
        Cred::Cookie(&admin),
        Some(body),
    )
    .await;
    assert_eq!(st, 201);

    let blocked_at = Instant::now();
    for _ in 0..3 {
        assert_eq!(login(&p, "admin", "wrong-guess-1").await.status(), 401);
    }
    for pw in ["wrong-guess-2", ADMIN_PW] {
        let r = login(&p, "admin", pw).await;
        assert_eq!(r.status(), 429, "blocked, whatever the password");
        let retry: u64 = r.headers()[reqwest::header::RETRY_AFTER]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=2).contains(&retry), "Retry-After {retry}");
        assert!(r.headers().get(reqwest::header::SET_COOKIE).is_none());
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["error"]["code"], "too_many_requests", "{v}");
    }
    // Another name from the same address still logs in (3 of its 6 failures so far)...
    cookie_of(&p, "op", USER_PW).await;
    // ...until the address reaches its limit, whatever the names.
    for name in ["nobody-1", "nobody-2", "nobody-3"] {
        assert_eq!(login(&p, name, "x-guess").await.status(), 401);
    }
    assert_eq!(login(&p, "op", USER_PW).await.status(), 429);

    let m = scrape(&p).await;
    assert_eq!(auth_failures(&m, "login"), 6.0);
    assert_eq!(auth_failures(&m, "login_blocked"), 3.0);

    // Both blocks end.
    tokio::time::sleep(Duration::from_millis(2200).saturating_sub(blocked_at.elapsed())).await;
    while login(&p, "op", USER_PW).await.status() == 429 {
        assert!(
            blocked_at.elapsed() < Duration::from_secs(6),
            "the address block ends"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    cookie_of(&p, "admin", ADMIN_PW).await;
    p.shutdown().await;
    assert_not_logged(&logs, &[ADMIN_PW, USER_PW, "wrong-guess-1", "x-guess"]);
}

/// `[auth] cookie_secure` adds `Secure` to the session cookie and to its clearing.
#[tokio::test]
async fn cookie_secure_marks_the_cookie() {
    let db = TestDb::new(Backend::Sqlite).await;
    let mut c = common::config(&db);
    c.auth.admin_password = vigil::config::Secret(ADMIN_PW.into());
    c.auth.cookie_secure = true;
    c.auth.session_ttl = std::time::Duration::from_secs(600);
    let mut p = anonymous(Platform::start(c).await);
    let r = login(&p, "admin", ADMIN_PW).await;
    let set = r.headers()[reqwest::header::SET_COOKIE]
        .to_str()
        .unwrap()
        .to_owned();
    let attrs: Vec<&str> = set.split(';').map(str::trim).collect();
    for a in [
        "Secure",
        "HttpOnly",
        "SameSite=Strict",
        "Path=/",
        "Max-Age=600",
    ] {
        assert!(attrs.contains(&a), "{a}: {set}");
    }
    let cookie = session_cookie(&r);
    let r = p
        .http
        .post(p.api("/api/v1/logout"))
        .header("Cookie", &cookie)
        .send()
        .await
        .unwrap();
    let clear = r.headers()[reqwest::header::SET_COOKIE].to_str().unwrap();
    assert!(clear.contains("; Secure"), "{clear}");
    // Without the setting (the default) the cookie works over plain http.
    let db = TestDb::new(Backend::Sqlite).await;
    let mut c = common::config(&db);
    c.auth.admin_password = vigil::config::Secret(ADMIN_PW.into());
    let mut plain = anonymous(Platform::start(c).await);
    let r = login(&plain, "admin", ADMIN_PW).await;
    let set = r.headers()[reqwest::header::SET_COOKIE].to_str().unwrap();
    assert!(!set.contains("Secure"), "{set}");
    plain.shutdown().await;
    p.shutdown().await;
}

/// With auth off, `GET /api/v1/me` says so (the dashboard then shows no login page).
#[tokio::test]
async fn me_with_auth_off() {
    let db = TestDb::new(Backend::Sqlite).await;
    let mut c = common::config(&db);
    c.auth.enabled = false;
    let mut p = Platform::start(c).await;
    let me = get_json(&p, "/api/v1/me", None, None).await;
    assert_eq!(me, json!({"user": null, "auth_enabled": false}));
    p.shutdown().await;
}

/// A platform with auth on (live tokens valid for `ttl`), one simulated camera with two
/// channels, and their IDs once the catalog is stored.
async fn live_platform(
    db: &TestDb,
    ttl: std::time::Duration,
) -> (Platform, vigil::sim::SimHandle, Vec<String>) {
    use std::time::{Duration, Instant};
    let mut c = common::config(db);
    c.auth.enabled = true;
    c.auth.admin_password = vigil::config::Secret(ADMIN_PW.into());
    c.auth.live_token_ttl = ttl;
    let p = anonymous(Platform::start(c).await);
    let sim = vigil::sim::Simulator::start(common::sim_config(p.sip(), 1))
        .await
        .unwrap();
    sim.wait_registered(1, common::WAIT).await.unwrap();
    let chans: Vec<String> = (0..2).map(|i| sim.channel_id(0, i).to_string()).collect();
    let deadline = Instant::now() + common::WAIT;
    for ch in &chans {
        while p.running().store.get_channel(ch).await.unwrap().is_none() {
            assert!(Instant::now() < deadline, "catalog sync stored no channel");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    (p, sim, chans)
}

/// `POST .../live` with a login cookie.
async fn start_live(p: &Platform, cookie: &str, channel: &str) -> Value {
    let path = format!("/api/v1/channels/{channel}/live");
    let (st, v) = call(p, reqwest::Method::POST, &path, Cred::Cookie(cookie), None).await;
    assert_eq!(st, 200, "{v}");
    v
}

/// The URIs of an HLS playlist: URI lines and `URI="..."` attributes.
fn playlist_uris(playlist: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in playlist.lines() {
        if let Some(rest) = line.strip_prefix('#') {
            if let Some((_, tail)) = rest.split_once("URI=\"") {
                out.push(tail.split('"').next().unwrap().to_owned());
            }
        } else if !line.is_empty() {
            out.push(line.to_owned());
        }
    }
    out
}

/// HLS with a token alone, as hls.js, ffplay or Safari fetch it (no cookie, no header):
/// every URI in the playlist carries the token and opens; the token opens nothing of
/// another session, and segments without it are refused.
#[tokio::test]
async fn hls_segments_open_with_the_playlist_token() {
    let logs = log_buffer();
    let db = TestDb::new(Backend::Sqlite).await;
    let (p, _sim, chans) = live_platform(&db, std::time::Duration::from_secs(300)).await;
    let cookie = cookie_of(&p, "admin", ADMIN_PW).await;
    let a = start_live(&p, &cookie, &chans[0]).await;
    let b = start_live(&p, &cookie, &chans[1]).await;
    let hls = a["urls"]["hls"].as_str().unwrap();
    let (base, token) = hls.split_once("?token=").expect("a signed HLS URL");
    let base = base.strip_suffix("index.m3u8").unwrap();
    let bare = reqwest::Client::new();
    let r = bare.get(p.api(hls)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let playlist = r.text().await.unwrap();
    let uris = playlist_uris(&playlist);
    assert!(uris.len() >= 2, "{playlist}");
    assert!(uris.iter().any(|u| u.starts_with("init-")), "{playlist}");
    assert!(uris.iter().any(|u| u.starts_with("seg-")), "{playlist}");
    let b_id = b["session_id"].as_str().unwrap();
    for uri in &uris {
        let (file, t) = uri
            .split_once("?token=")
            .expect("the URI carries the token");
        assert_eq!(t, token, "{playlist}");
        let r = bare
            .get(p.api(&format!("{base}{uri}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{uri}");
        assert!(!r.bytes().await.unwrap().is_empty(), "{uri}");
        let r = bare
            .get(p.api(&format!("{base}{file}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{file} without the token");
        let other = format!("/live/{b_id}/{uri}");
        let r = bare.get(p.api(&other)).send().await.unwrap();
        assert_eq!(r.status(), 401, "{other}: another session's token");
    }
    let other = format!("/live/{b_id}/index.m3u8?token={token}");
    assert_eq!(bare.get(p.api(&other)).send().await.unwrap().status(), 401);
    assert_not_logged(&logs, &[token]);
}

/// `POST .../live` answers URLs with a signed token that opens them without headers, only
/// for that session, and only until it expires.
#[tokio::test]
async fn live_urls_carry_a_token_that_expires() {
    use std::time::{Duration, Instant};
    let db = TestDb::new(Backend::Sqlite).await;
    let (p, _sim, chans) = live_platform(&db, Duration::from_secs(2)).await;
    let cookie = cookie_of(&p, "admin", ADMIN_PW).await;
    let v = start_live(&p, &cookie, &chans[0]).await;
    let sid = v["session_id"].as_str().unwrap().to_owned();
    let ws = v["urls"]["ws"].as_str().unwrap();
    let token = ws
        .split_once("?token=")
        .expect("token in the URL")
        .1
        .to_owned();
    for key in ["mp4", "hls"] {
        assert!(v["urls"][key].as_str().unwrap().ends_with(&token), "{v}");
    }
    let get = |path: String| {
        let http = p.http.clone();
        let url = p.api(&path);
        async move { http.get(url).send().await.unwrap().status() }
    };
    let issued = Instant::now();
    assert_eq!(get(format!("/live/{sid}/info?token={token}")).await, 200);
    assert_eq!(get(format!("/live/{sid}/info")).await, 401);
    assert_eq!(get(format!("/live/other/info?token={token}")).await, 401);
    let last = if token.ends_with('0') { "1" } else { "0" };
    let forged = format!("{}{last}", &token[..token.len() - 1]);
    assert_eq!(get(format!("/live/{sid}/info?token={forged}")).await, 401);
    // Does not open the API.
    assert_eq!(get(format!("/api/v1/live?token={token}")).await, 401);
    tokio::time::sleep(
        Duration::from_secs(2).saturating_sub(issued.elapsed()) + Duration::from_millis(300),
    )
    .await;
    assert_eq!(
        get(format!("/live/{sid}/info?token={token}")).await,
        401,
        "expired"
    );
}
