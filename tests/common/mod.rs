//! Shared by the integration tests: a platform on free loopback ports over a fresh
//! database (a temp SQLite file, or a new PostgreSQL database dropped afterwards) with
//! authentication on, an HTTP client for the REST API that sends an API key the admin
//! created through the API, and simulator settings with short intervals.
#![allow(dead_code)] // each test binary uses its own subset

pub mod ffprobe;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::Value;
use vigil::app::Running;
use vigil::config::{Config, Secret};
use vigil::sim::SimConfig;

/// Generous bound for anything that should take well under a second on an idle machine:
/// the test machine has 2 shared cores.
pub const WAIT: Duration = Duration::from_secs(8);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Logs to the test output when RUST_LOG is set.
pub fn init_logging() {
    if let Ok(filter) = std::env::var("RUST_LOG") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_test_writer()
            .try_init();
    }
}

/// A database for one test; removed when dropped (also when the test panics).
#[derive(Debug)]
pub struct TestDb {
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    pg: Option<PgDrop>,
}

#[derive(Debug)]
struct PgDrop {
    admin_url: String,
    name: String,
}

impl Drop for PgDrop {
    fn drop(&mut self) {
        // Drop runs inside the test's runtime, which cannot block on itself: use a thread
        // with its own runtime. FORCE ends connections a panicking test left open.
        let (admin, name) = (self.admin_url.clone(), self.name.clone());
        let t = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async {
                use sqlx::Connection;
                if let Ok(mut c) = sqlx::PgConnection::connect(&admin).await {
                    let sql = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
                    // `name` is "vigil_t_" + hex digits: nothing to inject.
                    let sql = sqlx::AssertSqlSafe(sql);
                    if let Err(e) = sqlx::query(sql).execute(&mut c).await {
                        eprintln!("cannot drop test database {name}: {e}");
                    }
                }
            });
        });
        let _ = t.join();
    }
}

/// `VIGIL_TEST_PG`: the admin URL of the PostgreSQL test server (a database to connect to
/// for CREATE DATABASE). Tests fail when it is unreachable, so a missing server is seen.
pub fn pg_admin_url() -> String {
    std::env::var("VIGIL_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

impl TestDb {
    pub async fn new(backend: Backend) -> TestDb {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}/vigil.db", dir.path().display());
                TestDb {
                    url,
                    _dir: Some(dir),
                    pg: None,
                }
            }
            Backend::Postgres => {
                use sqlx::Connection;
                let admin = pg_admin_url();
                let name = format!("vigil_t_{:016x}", rand::random::<u64>());
                let mut c = sqlx::PgConnection::connect(&admin)
                    .await
                    .unwrap_or_else(|e| {
                        panic!("PostgreSQL test server at {admin} (set VIGIL_TEST_PG): {e}")
                    });
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
                    .execute(&mut c)
                    .await
                    .expect("CREATE DATABASE");
                let _ = c.close().await;
                let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
                TestDb {
                    url: format!("{base}/{name}"),
                    _dir: None,
                    pg: Some(PgDrop {
                        admin_url: admin,
                        name,
                    }),
                }
            }
        }
    }
}

/// `[auth] admin_password` of every test platform: the admin account it creates on first
/// start, which [`Platform::start`] logs in with.
pub const ADMIN_PASSWORD: &str = "test-Admin-pw-5d81c3";

/// A platform config on free loopback ports with authentication on (admin password
/// [`ADMIN_PASSWORD`]) and short keepalive timing: keepalives every 500 ms expected,
/// offline after 2 missed (1 s of silence).
pub fn config(db: &TestDb) -> Config {
    let mut c = Config::default();
    c.sip.listen = "127.0.0.1:0".parse().unwrap();
    c.http.listen = "127.0.0.1:0".parse().unwrap();
    c.database.url = db.url.clone();
    c.database.max_connections = 4;
    c.sip.keepalive_interval = Duration::from_millis(500);
    c.sip.keepalive_misses = 2;
    c.media.bind_ip = "127.0.0.1".parse().unwrap();
    c.auth.enabled = true;
    c.auth.admin_password = Secret(ADMIN_PASSWORD.into());
    c
}

/// Simulator settings for tests: devices start at once, keepalive every 200 ms (well
/// inside the platform's 1 s), quick retries.
pub fn sim_config(server: SocketAddr, devices: usize) -> SimConfig {
    SimConfig {
        server,
        devices,
        channels: 2,
        keepalive_interval: Duration::from_millis(200),
        rate: 0.0,
        retry_interval: Duration::from_millis(300),
        bind_ip: Some("127.0.0.1".parse().unwrap()),
        ..SimConfig::default()
    }
}

/// A running platform and a client for its API.
#[derive(Debug)]
pub struct Platform {
    pub running: Option<Running>,
    pub config: Config,
    /// Sends `Authorization: Bearer` [`Self::api_key`] with every request (nothing when
    /// `config.auth.enabled` is false).
    pub http: reqwest::Client,
    /// The key the admin created through `POST /api/v1/api-keys` at the first start; it is
    /// stored in the database, so it outlives [`Self::restart`]. Empty with auth off.
    pub api_key: String,
}

/// Every client the tests make: bounded, so a hung request fails the test.
fn client_builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder().timeout(Duration::from_secs(10))
}

/// `(status, body)` of a JSON POST, for the login steps.
async fn post_json(
    http: &reqwest::Client,
    url: String,
    cookie: Option<&str>,
    body: Value,
) -> (reqwest::StatusCode, reqwest::header::HeaderMap, String) {
    let mut req = http.post(&url).json(&body);
    if let Some(c) = cookie {
        req = req.header(reqwest::header::COOKIE, c);
    }
    let resp = req
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST {url}: {e}"));
    let (status, headers) = (resp.status(), resp.headers().clone());
    (status, headers, resp.text().await.expect("body"))
}

/// Logs in as the admin of `config` on `base` (one argon2 verification) and creates an API
/// key with that session, the way an integrator gets one.
async fn admin_api_key(config: &Config, base: &str) -> String {
    let http = client_builder().build().unwrap();
    let login = serde_json::json!({
        "user": config.auth.admin_user,
        "password": config.auth.admin_password.expose(),
    });
    let (status, headers, text) =
        post_json(&http, format!("{base}/api/v1/login"), None, login).await;
    assert_eq!(status, 200, "admin login: {text}");
    let cookie = headers
        .get(reqwest::header::SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .expect("the login sets the session cookie")
        .to_owned();
    let name = serde_json::json!({ "name": "integration tests" });
    let (status, _, text) = post_json(
        &http,
        format!("{base}/api/v1/api-keys"),
        Some(&cookie),
        name,
    )
    .await;
    assert_eq!(status, 201, "POST /api/v1/api-keys: {text}");
    let created: Value = serde_json::from_str(&text).expect("JSON");
    created["key"].as_str().expect("the new key").to_owned()
}

/// A client that sends `key` as `Authorization: Bearer` (none when `key` is empty).
fn client_with_key(key: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    if !key.is_empty() {
        let mut v = reqwest::header::HeaderValue::from_str(&format!("Bearer {key}"))
            .expect("the key is header-safe");
        v.set_sensitive(true);
        headers.insert(reqwest::header::AUTHORIZATION, v);
    }
    client_builder().default_headers(headers).build().unwrap()
}

impl Platform {
    pub async fn start(config: Config) -> Platform {
        // With port 0 the platform binds UDP first and then TCP on the same port, which
        // another process (or another test's connection) may hold: try again on a new port.
        let mut attempt = 1;
        let running = loop {
            match vigil::app::start(config.clone()).await {
                Ok(r) => break r,
                Err(e) if attempt < 5 && config.sip.listen.port() == 0 => {
                    eprintln!("platform start attempt {attempt}: {e:#}; retrying");
                    attempt += 1;
                }
                Err(e) => panic!("platform starts: {e:#}"),
            }
        };
        let base = format!("http://{}", running.http_addr);
        let api_key = if config.auth.enabled {
            admin_api_key(&config, &base).await
        } else {
            String::new()
        };
        Platform {
            running: Some(running),
            config,
            http: client_with_key(&api_key),
            api_key,
        }
    }

    /// A client without credentials, for what a stranger (or a player given a signed URL)
    /// gets.
    pub fn anonymous(&self) -> reqwest::Client {
        client_builder().build().unwrap()
    }

    /// `Authorization` header value for clients built by hand (WebSocket, raw HTTP).
    pub fn bearer(&self) -> String {
        format!("Bearer {}", self.api_key)
    }

    pub fn running(&self) -> &Running {
        self.running.as_ref().expect("platform is running")
    }

    /// The SIP address (UDP and TCP share it).
    pub fn sip(&self) -> SocketAddr {
        self.running().sip_udp.expect("SIP UDP listener")
    }

    pub fn api(&self, path: &str) -> String {
        format!("http://{}{path}", self.running().http_addr)
    }

    pub async fn shutdown(&mut self) {
        if let Some(r) = self.running.take() {
            r.shutdown().await;
        }
    }

    /// Shuts down and starts again on the same database and SIP address (so devices that
    /// keep sending reach the new instance). `http` keeps its API key: keys are stored, so
    /// an integrator's key works across a restart, and every later request checks that.
    pub async fn restart(&mut self) {
        let sip = self.sip();
        self.shutdown().await;
        let mut config = self.config.clone();
        config.sip.listen = sip;
        let started = Instant::now();
        let running = loop {
            match vigil::app::start(config.clone()).await {
                Ok(r) => break r,
                // The old sockets may take a moment to close.
                Err(e) if started.elapsed() < WAIT => {
                    eprintln!("restart: {e:#}; retrying");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => panic!("platform restarts on {sip}: {e:#}"),
            }
        };
        self.running = Some(running);
    }

    /// `GET /api/v1/devices` items (the first 1,000: the largest page).
    pub async fn devices(&self) -> Vec<Value> {
        let resp = self
            .http
            .get(self.api("/api/v1/devices?per_page=1000"))
            .send()
            .await
            .expect("GET /api/v1/devices");
        let status = resp.status();
        let text = resp.text().await.expect("body");
        assert_eq!(status, 200, "GET /api/v1/devices: {text}");
        let body: Value = serde_json::from_str(&text).expect("JSON");
        body["items"].as_array().cloned().unwrap_or_default()
    }

    /// `online` of each device in `ids` as the API shows it (`None`: not listed).
    pub async fn online(&self, ids: &[String]) -> Vec<Option<bool>> {
        let list = self.devices().await;
        ids.iter()
            .map(|id| {
                list.iter()
                    .find(|d| d["device_id"] == id.as_str())
                    .map(|d| d["online"] == true)
            })
            .collect()
    }

    /// Polls the API until `online` for `ids` equals `want`; panics with the last answer.
    pub async fn wait_online(&self, ids: &[String], want: &[Option<bool>], timeout: Duration) {
        let start = Instant::now();
        loop {
            let got = self.online(ids).await;
            if got == want {
                return;
            }
            if start.elapsed() > timeout {
                panic!("API after {timeout:?}: online {got:?} for {ids:?}, want {want:?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
