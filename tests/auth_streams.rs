//! Long-lived responses end with the credential they were opened with: logout, a revoked
//! API key, a new password, a deleted user and an expired session end the open event
//! stream (`GET /api/v1/events`, last event `credentials_ended`), live WebSockets (close
//! 1008) and endless `.mp4` responses within about a second, and nobody else's. A live
//! stream opened with a signed `?token=` outlives the token (it is only for opening).

mod common;

use std::time::Duration;

use common::{ADMIN_PASSWORD, Backend, Platform, TestDb, WAIT, config, init_logging, sim_config};
use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio::time::{Instant, timeout, timeout_at};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use vigil::config::Config;
use vigil::sim::{SimHandle, Simulator};
use vigil_gb::manscdp::Alarm;
use vigil_gb::{Charset, Manscdp};

/// How soon a stream must end after its credential did: the in-process signal, far below
/// the 30 s store re-check, with room for a loaded 2-core machine.
const PROMPT: Duration = Duration::from_millis(1500);

const OPERATOR_PASSWORD: &str = "operator-pw-7c1e";

/// Credentials for one request.
#[derive(Clone, Copy, Debug)]
enum Cred<'a> {
    Cookie(&'a str),
    Key(&'a str),
    /// None: a player given a signed URL.
    Nothing,
}

impl Cred<'_> {
    fn header(self) -> Option<(&'static str, String)> {
        match self {
            Cred::Cookie(c) => Some(("Cookie", c.to_owned())),
            Cred::Key(k) => Some(("Authorization", format!("Bearer {k}"))),
            Cred::Nothing => None,
        }
    }
}

/// `(status, JSON body or Null)` of one request made with `cred`.
async fn call(
    p: &Platform,
    method: reqwest::Method,
    path: &str,
    cred: Cred<'_>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = p.anonymous().request(method, p.api(path));
    if let Some((name, value)) = cred.header() {
        req = req.header(name, value);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Logs in; the `name=value` of the session cookie.
async fn login(p: &Platform, user: &str, password: &str) -> String {
    let r = p
        .anonymous()
        .post(p.api("/api/v1/login"))
        .json(&json!({"user": user, "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "login {user}");
    let set = r.headers()["set-cookie"].to_str().unwrap();
    set.split(';').next().unwrap().to_owned()
}

/// Creates the non-admin `operator` (as the admin); returns its user ID.
async fn create_operator(p: &Platform) -> i64 {
    let body = json!({"username": "operator", "password": OPERATOR_PASSWORD});
    let (st, u) = call(
        p,
        reqwest::Method::POST,
        "/api/v1/users",
        Cred::Key(&p.api_key),
        Some(body),
    )
    .await;
    assert_eq!(st, 201, "{u}");
    u["id"].as_i64().unwrap()
}

/// Creates an API key with `cred`; its ID and the key.
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
    (k["id"].as_i64().unwrap(), k["key"].as_str().unwrap().into())
}

/// An open `GET /api/v1/events`, read event by event.
struct Sse {
    name: &'static str,
    resp: reqwest::Response,
    buf: String,
    seen: Vec<(String, Value)>,
}

impl Sse {
    async fn open(p: &Platform, name: &'static str, cred: Cred<'_>) -> Sse {
        // No overall request timeout: these streams are read for longer than a request.
        let http = reqwest::Client::new();
        let mut req = http.get(p.api("/api/v1/events"));
        if let Some((h, v)) = cred.header() {
            req = req.header(h, v);
        }
        let resp = req.send().await.expect("GET /api/v1/events");
        assert_eq!(resp.status(), 200, "{name}");
        Sse {
            name,
            resp,
            buf: String::new(),
            seen: Vec::new(),
        }
    }

    /// Events complete in the buffer, moved to `seen`.
    fn parse(&mut self) {
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
            if !event.is_empty() {
                let data = serde_json::from_str(&data).expect("event data is JSON");
                self.seen.push((event, data));
            }
        }
    }

    /// Reads until an event named `name` comes; panics when the stream ends or after WAIT.
    async fn next(&mut self, name: &str) -> Value {
        let deadline = Instant::now() + WAIT;
        let mut from = self.seen.len();
        loop {
            if let Some(i) = self.seen[from..].iter().position(|(e, _)| e == name) {
                let v = self.seen[from + i].1.clone();
                self.seen.drain(..=from + i);
                return v;
            }
            from = self.seen.len();
            match timeout_at(deadline, self.resp.chunk()).await {
                Ok(Ok(Some(bytes))) => {
                    self.buf.push_str(&String::from_utf8_lossy(&bytes));
                    self.parse();
                }
                other => panic!(
                    "{}: no {name} event ({other:?}); seen: {:?}",
                    self.name, self.seen
                ),
            }
        }
    }

    /// Reads for `time`; panics if the stream ends meanwhile.
    async fn stays_open(&mut self, time: Duration) {
        let deadline = Instant::now() + time;
        loop {
            match timeout_at(deadline, self.resp.chunk()).await {
                Ok(Ok(Some(bytes))) => {
                    self.buf.push_str(&String::from_utf8_lossy(&bytes));
                    self.parse();
                }
                Err(_) => return,
                other => panic!("{}: ended ({other:?}); seen: {:?}", self.name, self.seen),
            }
        }
    }

    /// Reads to the end of the stream, which must come within `limit`; the last event.
    async fn ends_within(mut self, limit: Duration) -> (String, Value) {
        let deadline = Instant::now() + limit;
        loop {
            match timeout_at(deadline, self.resp.chunk()).await {
                Ok(Ok(Some(bytes))) => {
                    self.buf.push_str(&String::from_utf8_lossy(&bytes));
                    self.parse();
                }
                Ok(Ok(None)) => break,
                other => panic!(
                    "{}: still open {limit:?} later ({other:?}); seen: {:?}",
                    self.name, self.seen
                ),
            }
        }
        self.seen.pop().expect("an event before the end")
    }
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens a live WebSocket with `cred` and reads its first message (the init segment).
async fn open_ws(p: &Platform, path: &str, cred: Cred<'_>) -> Ws {
    let url = format!("ws://{}{path}", p.running().http_addr);
    let mut req = url.into_client_request().unwrap();
    if let Some((h, v)) = cred.header() {
        req.headers_mut().insert(h, v.parse().unwrap());
    }
    let (mut ws, _) = tokio_tungstenite::connect_async(req)
        .await
        .unwrap_or_else(|e| panic!("WebSocket {path} with {cred:?}: {e}"));
    match timeout(WAIT, ws.next()).await {
        Ok(Some(Ok(Message::Binary(_)))) => ws,
        other => panic!("first message of {path}: {other:?}"),
    }
}

/// Reads until the server closes the WebSocket, which must happen within `limit`; the
/// close code and reason.
async fn ws_closes_within(ws: &mut Ws, limit: Duration) -> (CloseCode, String) {
    let deadline = Instant::now() + limit;
    loop {
        match timeout_at(deadline, ws.next()).await {
            Ok(Some(Ok(Message::Close(Some(f))))) => return (f.code, f.reason.to_string()),
            Ok(Some(Ok(_))) => {}
            other => panic!("no close frame within {limit:?}: {other:?}"),
        }
    }
}

/// Whether binary messages go on arriving: reads for `time` and wants some.
async fn ws_streams(ws: &mut Ws, time: Duration, what: &str) {
    let deadline = Instant::now() + time;
    let mut n = 0;
    loop {
        match timeout_at(deadline, ws.next()).await {
            Ok(Some(Ok(Message::Binary(_)))) => n += 1,
            Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => {}
            Err(_) => break,
            other => panic!("{what}: the stream stopped after {n} messages: {other:?}"),
        }
    }
    assert!(n > 0, "{what}: no video for {time:?}");
}

/// A platform (`tweak`ed [`config`]) with one simulated camera whose channels are stored.
async fn platform(db: &TestDb, tweak: impl FnOnce(&mut Config)) -> (Platform, SimHandle) {
    init_logging();
    let mut c = config(db);
    tweak(&mut c);
    let p = Platform::start(c).await;
    let sim = Simulator::start(sim_config(p.sip(), 1)).await.unwrap();
    sim.wait_registered(1, WAIT).await.unwrap();
    let ch = sim.channel_id(0, 0).to_string();
    let deadline = Instant::now() + WAIT;
    while p.running().store.get_channel(&ch).await.unwrap().is_none() {
        assert!(Instant::now() < deadline, "catalog sync stored no channel");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    (p, sim)
}

/// `POST .../live` for the camera's first channel with `cred`.
async fn start_live(p: &Platform, sim: &SimHandle, cred: Cred<'_>) -> Value {
    let path = format!("/api/v1/channels/{}/live", sim.channel_id(0, 0));
    let (st, v) = call(p, reqwest::Method::POST, &path, cred, None).await;
    assert_eq!(st, 200, "{v}");
    v
}

/// An alarm from the camera: an event every open stream should carry.
async fn alarm(sim: &SimHandle, sn: u32) {
    let mut a = Alarm::new(sn, sim.channel_id(0, 1));
    a.priority = Some(1);
    a.method = Some(5);
    sim.send_manscdp(0, Manscdp::AlarmNotify(a).to_body(Charset::Gb2312))
        .await;
}

fn assert_ended(last: &(String, Value), reason: &str) {
    assert_eq!(last.0, "credentials_ended", "{last:?}");
    assert_eq!(last.1["reason"], reason, "{last:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_ends_that_sessions_event_stream_and_live_streams_and_no_one_elses() {
    let db = TestDb::new(Backend::Sqlite).await;
    let (p, sim) = platform(&db, |_| {}).await;
    create_operator(&p).await;
    let admin = login(&p, "admin", ADMIN_PASSWORD).await;
    let operator = login(&p, "operator", OPERATOR_PASSWORD).await;

    let admin_events = Sse::open(&p, "admin's session", Cred::Cookie(&admin)).await;
    let mut operator_events = Sse::open(&p, "operator's session", Cred::Cookie(&operator)).await;
    let mut key_events = Sse::open(&p, "admin's API key", Cred::Key(&p.api_key)).await;

    // The dashboard's way: the cookie goes with the WebSocket handshake (no token needed).
    let live = start_live(&p, &sim, Cred::Cookie(&admin)).await;
    let sid = live["session_id"].as_str().unwrap();
    let ws_path = format!("/live/{sid}/ws");
    let mut admin_ws = open_ws(&p, &ws_path, Cred::Cookie(&admin)).await;
    let mut operator_ws = open_ws(&p, &ws_path, Cred::Cookie(&operator)).await;
    let mut admin_mp4 = reqwest::Client::new()
        .get(p.api(&format!("/live/{sid}.mp4")))
        .header("Cookie", &admin)
        .send()
        .await
        .unwrap();
    assert_eq!(admin_mp4.status(), 200);
    assert!(admin_mp4.chunk().await.unwrap().is_some(), "init segment");

    let (st, _) = call(
        &p,
        reqwest::Method::POST,
        "/api/v1/logout",
        Cred::Cookie(&admin),
        None,
    )
    .await;
    assert_eq!(st, 204);
    let logged_out = Instant::now();

    assert_ended(&admin_events.ends_within(PROMPT).await, "session_ended");
    let (code, reason) = ws_closes_within(&mut admin_ws, PROMPT).await;
    assert_eq!(code, CloseCode::Policy, "{reason}");
    assert!(reason.contains("session ended"), "{reason}");
    let mp4_end = timeout_at(logged_out + PROMPT, async {
        while let Some(_chunk) = admin_mp4.chunk().await.unwrap() {}
    })
    .await;
    assert!(mp4_end.is_ok(), "the .mp4 response goes on after logout");

    // Everyone else's streams go on: the operator's session, the admin's own API key.
    alarm(&sim, 41).await;
    assert_eq!(operator_events.next("alarm").await["sn"], 41);
    assert_eq!(key_events.next("alarm").await["sn"], 41);
    ws_streams(
        &mut operator_ws,
        Duration::from_secs(1),
        "operator's WebSocket",
    )
    .await;
    // And the ended session stays ended for new requests.
    let (st, _) = call(
        &p,
        reqwest::Method::GET,
        "/api/v1/me",
        Cred::Cookie(&admin),
        None,
    )
    .await;
    assert_eq!(st, 401);
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_a_key_ends_the_streams_opened_with_it() {
    let db = TestDb::new(Backend::Sqlite).await;
    let (p, sim) = platform(&db, |_| {}).await;
    let (id, vms) = new_key(&p, Cred::Key(&p.api_key), "vms").await;
    let vms_events = Sse::open(&p, "vms key", Cred::Key(&vms)).await;
    let mut other_events = Sse::open(&p, "other key", Cred::Key(&p.api_key)).await;
    let live = start_live(&p, &sim, Cred::Key(&vms)).await;
    let ws_path = format!("/live/{}/ws", live["session_id"].as_str().unwrap());
    let mut vms_ws = open_ws(&p, &ws_path, Cred::Key(&vms)).await;
    let mut other_ws = open_ws(&p, &ws_path, Cred::Key(&p.api_key)).await;

    let path = format!("/api/v1/api-keys/{id}");
    let (st, _) = call(
        &p,
        reqwest::Method::DELETE,
        &path,
        Cred::Key(&p.api_key),
        None,
    )
    .await;
    assert_eq!(st, 204);
    assert_ended(&vms_events.ends_within(PROMPT).await, "key_revoked");
    let (code, reason) = ws_closes_within(&mut vms_ws, PROMPT).await;
    assert_eq!(
        (code, reason.as_str()),
        (CloseCode::Policy, "the API key was revoked")
    );

    alarm(&sim, 7).await;
    assert_eq!(other_events.next("alarm").await["sn"], 7);
    ws_streams(
        &mut other_ws,
        Duration::from_secs(1),
        "other key's WebSocket",
    )
    .await;
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_password_ends_the_other_sessions_and_deleting_the_user_ends_the_rest() {
    init_logging();
    let db = TestDb::new(Backend::Sqlite).await;
    let p = Platform::start(config(&db)).await;
    let id = create_operator(&p).await;
    let (here, there) = (
        login(&p, "operator", OPERATOR_PASSWORD).await,
        login(&p, "operator", OPERATOR_PASSWORD).await,
    );
    let (_, key) = new_key(&p, Cred::Cookie(&here), "operator's script").await;
    let here_events = Sse::open(&p, "session that changes the password", Cred::Cookie(&here)).await;
    let there_events = Sse::open(&p, "other session", Cred::Cookie(&there)).await;
    let key_events = Sse::open(&p, "operator's key", Cred::Key(&key)).await;
    let mut admin_events = Sse::open(&p, "admin's key", Cred::Key(&p.api_key)).await;

    let body = json!({"password": "operator-pw-new-2", "current_password": OPERATOR_PASSWORD});
    let (st, v) = call(
        &p,
        reqwest::Method::PATCH,
        &format!("/api/v1/users/{id}"),
        Cred::Cookie(&here),
        Some(body),
    )
    .await;
    assert_eq!(st, 200, "{v}");
    assert_ended(&there_events.ends_within(PROMPT).await, "session_ended");

    // The session that made the change and the user's keys stay, until the user goes.
    let (st, _) = call(
        &p,
        reqwest::Method::DELETE,
        &format!("/api/v1/users/{id}"),
        Cred::Key(&p.api_key),
        None,
    )
    .await;
    assert_eq!(st, 204);
    let (here_last, key_last) = tokio::join!(
        here_events.ends_within(PROMPT),
        key_events.ends_within(PROMPT)
    );
    assert_ended(&here_last, "user_deleted");
    assert_ended(&key_last, "user_deleted");
    admin_events.stays_open(Duration::from_millis(500)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sessions_streams_end_when_it_expires_sqlite() {
    a_sessions_streams_end_when_it_expires(Backend::Sqlite).await;
}

/// Also the store query that tells a stream its session's expiry, on PostgreSQL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sessions_streams_end_when_it_expires_postgres() {
    a_sessions_streams_end_when_it_expires(Backend::Postgres).await;
}

async fn a_sessions_streams_end_when_it_expires(backend: Backend) {
    init_logging();
    let db = TestDb::new(backend).await;
    let mut c = config(&db);
    c.auth.session_ttl = Duration::from_secs(2);
    let p = Platform::start(c).await;
    let cookie = login(&p, "admin", ADMIN_PASSWORD).await;
    let logged_in = Instant::now();
    let events = Sse::open(&p, "expiring session", Cred::Cookie(&cookie)).await;
    assert_ended(
        &events.ends_within(Duration::from_secs(2) + PROMPT).await,
        "session_expired",
    );
    assert!(
        logged_in.elapsed() >= Duration::from_millis(1900),
        "ended {:?} after the login, before the session expired",
        logged_in.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_stream_opened_with_a_signed_token_outlives_the_token() {
    let db = TestDb::new(Backend::Sqlite).await;
    let (p, sim) = platform(&db, |c| c.auth.live_token_ttl = Duration::from_secs(1)).await;
    let live = start_live(&p, &sim, Cred::Key(&p.api_key)).await;
    let url = live["urls"]["ws"].as_str().unwrap();
    assert!(url.contains("?token="), "{url}");
    let opened = Instant::now();
    let mut ws = open_ws(&p, url, Cred::Nothing).await;
    tokio::time::sleep_until(opened + Duration::from_millis(1200)).await;
    let (st, _) = call(&p, reqwest::Method::GET, url, Cred::Nothing, None).await;
    assert_eq!(st, 401, "the token opens nothing new once expired");
    ws_streams(
        &mut ws,
        Duration::from_secs(1),
        "token WebSocket after expiry",
    )
    .await;
    sim.stop().await;
}
