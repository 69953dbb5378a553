//! Configuration: TOML file plus `VIGIL_<SECTION>__<KEY>` environment overrides.
//!
//! Every key has a documented default (config/vigil.toml mirrors [`Config::default`]); an
//! unknown key, in the file or in the environment, is an error that names it, so a typo
//! never silently falls back to a default.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize};

/// The whole configuration.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub sip: SipConfig,
    pub http: HttpConfig,
    pub database: DatabaseConfig,
    pub media: MediaConfig,
    pub log: LogConfig,
    pub webhooks: WebhooksConfig,
    pub auth: AuthConfig,
}

/// `[auth]`: who may use the API, live media and the dashboard.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// true (the default): /api/v1 and /live need a login or an API key. false opens
    /// them to anyone who can reach the HTTP port (a closed lab network at most).
    pub enabled: bool,
    /// Name of the admin account created on first start (when there are no users).
    pub admin_user: String,
    /// Its password; empty: a random one, printed once to the log.
    pub admin_password: Secret,
    /// Lifetime of a dashboard login session.
    #[serde(with = "secs")]
    pub session_ttl: Duration,
    /// Lifetime of the signed token in live URLs (`?token=`).
    #[serde(with = "secs")]
    pub live_token_ttl: Duration,
    /// Mark the session cookie `Secure` (sent over HTTPS only): for deployments behind a
    /// TLS proxy.
    pub cookie_secure: bool,
    /// Failed logins for one user name within `login_fail_window` after which logins for
    /// that name get 429 for `login_block` (0: no limit).
    pub login_fail_limit: u32,
    /// The same for one source address (an IPv6 /64), whatever the names (0: no limit).
    pub login_fail_limit_address: u32,
    #[serde(with = "secs")]
    pub login_fail_window: Duration,
    #[serde(with = "secs")]
    pub login_block: Duration,
}

/// `[sip]`: signalling, registration and keepalive policy.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SipConfig {
    /// Address for both the UDP and the TCP listener.
    pub listen: SocketAddr,
    /// Which transports to listen on: any of "udp", "tcp".
    pub transports: Vec<String>,
    /// The platform's own 20-digit ID (type 200).
    pub server_id: String,
    /// SIP domain; by convention the first 10 digits of `server_id`.
    pub domain: String,
    /// Digest realm; empty means the same as `domain`.
    pub realm: String,
    /// Default device password, used for devices without their own.
    pub password: Secret,
    /// Let any well-formed 20-digit ID register with the default password.
    pub allow_unknown_devices: bool,
    /// Registration expiry granted when the device asks for none.
    #[serde(with = "secs")]
    pub register_expires_default: Duration,
    /// Requested expiries are clamped to [min, max].
    #[serde(with = "secs")]
    pub register_expires_min: Duration,
    #[serde(with = "secs")]
    pub register_expires_max: Duration,
    /// Expected keepalive period of devices.
    #[serde(with = "secs")]
    pub keepalive_interval: Duration,
    /// A device is offline after this many missed keepalive intervals.
    pub keepalive_misses: u32,
    /// How long a digest nonce stays valid; after that the device gets `stale=true`.
    #[serde(with = "secs")]
    pub nonce_ttl: Duration,
    /// Failed authentications from one device ID or source address within `auth_fail_window`
    /// after which that ID or address is blocked for `auth_block`.
    pub auth_fail_limit: u32,
    /// The same for one source address; higher, since many devices may share one NAT address.
    pub auth_fail_limit_address: u32,
    #[serde(with = "secs")]
    pub auth_fail_window: Duration,
    #[serde(with = "secs")]
    pub auth_block: Duration,
    /// Upper bound on concurrent SIP TCP connections.
    pub tcp_max_connections: usize,
    /// A TCP connection with no traffic for this long is closed.
    #[serde(with = "secs")]
    pub tcp_idle_timeout: Duration,
    /// A catalog query whose answers stop arriving (no new item) for this long ends: what
    /// arrived is stored and marked partial.
    #[serde(with = "secs")]
    pub catalog_timeout: Duration,
    /// Catalog syncs running at once (more devices coming online queue up).
    pub catalog_concurrency: usize,
    /// How long the API waits for a device's answer to a query (DeviceStatus) before 504.
    #[serde(with = "secs")]
    pub query_timeout: Duration,
    /// Expires asked for in catalog SUBSCRIBE requests; refreshed before it runs out.
    #[serde(with = "secs")]
    pub catalog_subscription_expires: Duration,
}

/// `[http]`: REST API, live media and dashboard.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    pub listen: SocketAddr,
    /// Origins whose pages may call the API (CORS), e.g. "https://vms.example"; "*" allows
    /// any. Empty: no CORS headers, so only same-origin pages (the dashboard).
    pub cors_origins: Vec<String>,
    /// Largest request body accepted, in bytes (413 above it).
    pub max_body: usize,
    /// A request not answered within this gets 503; live media (/live/...) is exempt.
    #[serde(with = "secs")]
    pub request_timeout: Duration,
}

/// `[webhooks]`: every event is POSTed as JSON to each receiver.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhooksConfig {
    /// Receiver URLs (http:// or https://).
    pub urls: Vec<String>,
    /// Key of the `X-Vigil-Signature: sha256=<hex>` HMAC-SHA256 of the body; empty: unsigned.
    pub secret: Secret,
    /// Event types to send (e.g. "device_online"); empty: all.
    pub events: Vec<String>,
    /// Events waiting per receiver; when full, the oldest is dropped (counted and logged).
    pub queue: usize,
    /// Time limit of one delivery attempt.
    #[serde(with = "secs")]
    pub timeout: Duration,
    /// Attempts per event, the first included (5xx, 408, 429 and network errors are retried).
    pub max_attempts: u32,
    /// Delay before the first retry; it doubles on each further one up to `retry_max_delay`.
    #[serde(with = "secs")]
    pub retry_delay: Duration,
    #[serde(with = "secs")]
    pub retry_max_delay: Duration,
}

/// `[database]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// `sqlite://PATH` (file created with its directory) or `postgres://...`.
    pub url: String,
    pub max_connections: u32,
}

/// `[media]`: RTP ingest.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct MediaConfig {
    /// Address the RTP sockets bind to.
    pub bind_ip: std::net::IpAddr,
    /// Address put into SDP offers (what cameras send RTP to); empty means the SIP
    /// listener's address as seen by the device.
    pub ip: String,
    /// First and last RTP port, inclusive; used in pairs (RTP even, RTCP odd).
    pub rtp_ports: [u16; 2],
    /// A live session with no viewer for this long is stopped (BYE).
    #[serde(with = "secs")]
    pub idle_timeout: Duration,
    /// A live session that receives no RTP for this long ends.
    #[serde(with = "secs")]
    pub rtp_timeout: Duration,
    /// How long to wait for a device to answer an INVITE and send a key frame.
    #[serde(with = "secs")]
    pub invite_timeout: Duration,
    /// Media transport of a live session when the request names none.
    pub transport: RtpTransport,
    /// Ask the device for a key frame (MANSCDP `IFameCmd`) when a new stream starts
    /// mid-GOP, instead of waiting up to a GOP for its next one.
    pub request_key_frame: bool,
}

/// How RTP travels from the device, as the platform offers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RtpTransport {
    /// RTP over UDP to our port.
    Udp,
    /// RTP over TCP: we listen, the device connects (`a=setup:passive` in our offer).
    TcpPassive,
    /// RTP over TCP: the device listens, we connect (`a=setup:active`).
    TcpActive,
}

impl RtpTransport {
    pub fn as_str(self) -> &'static str {
        match self {
            RtpTransport::Udp => "udp",
            RtpTransport::TcpPassive => "tcp_passive",
            RtpTransport::TcpActive => "tcp_active",
        }
    }
}

impl From<RtpTransport> for vigil_gb::sdp::MediaTransport {
    fn from(t: RtpTransport) -> Self {
        match t {
            RtpTransport::Udp => vigil_gb::sdp::MediaTransport::Udp,
            RtpTransport::TcpPassive => vigil_gb::sdp::MediaTransport::TcpPassive,
            RtpTransport::TcpActive => vigil_gb::sdp::MediaTransport::TcpActive,
        }
    }
}

/// `[log]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// A `RUST_LOG`-style filter; the `RUST_LOG` variable, when set, wins.
    pub level: String,
    /// "text" or "json".
    pub format: String,
}

impl Default for SipConfig {
    fn default() -> Self {
        SipConfig {
            listen: "0.0.0.0:5060".parse().expect("literal address"),
            transports: vec!["udp".into(), "tcp".into()],
            server_id: "34020000002000000001".into(),
            domain: "3402000000".into(),
            realm: String::new(),
            password: Secret("12345678".into()),
            allow_unknown_devices: true,
            register_expires_default: Duration::from_secs(3600),
            register_expires_min: Duration::from_secs(60),
            register_expires_max: Duration::from_secs(86400),
            keepalive_interval: Duration::from_secs(60),
            keepalive_misses: 3,
            nonce_ttl: Duration::from_secs(300),
            auth_fail_limit: 10,
            auth_fail_limit_address: 100,
            auth_fail_window: Duration::from_secs(60),
            auth_block: Duration::from_secs(300),
            tcp_max_connections: 20_000,
            tcp_idle_timeout: Duration::from_secs(600),
            catalog_timeout: Duration::from_secs(30),
            catalog_concurrency: 64,
            query_timeout: Duration::from_secs(10),
            catalog_subscription_expires: Duration::from_secs(3600),
        }
    }
}

impl SipConfig {
    /// The digest realm in force (`realm`, or `domain` when empty).
    pub fn realm(&self) -> &str {
        if self.realm.is_empty() {
            &self.domain
        } else {
            &self.realm
        }
    }

    /// How long a device may stay silent before it is offline.
    pub fn keepalive_deadline(&self) -> Duration {
        self.keepalive_interval * self.keepalive_misses.max(1)
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            listen: "0.0.0.0:8080".parse().expect("literal address"),
            cors_origins: Vec::new(),
            max_body: 1024 * 1024,
            request_timeout: Duration::from_secs(30),
        }
    }
}

impl Default for WebhooksConfig {
    fn default() -> Self {
        WebhooksConfig {
            urls: Vec::new(),
            secret: Secret::default(),
            events: Vec::new(),
            queue: 10_000,
            timeout: Duration::from_secs(10),
            max_attempts: 10,
            retry_delay: Duration::from_secs(1),
            retry_max_delay: Duration::from_secs(300),
        }
    }
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            enabled: true,
            admin_user: "admin".into(),
            admin_password: Secret::default(),
            session_ttl: Duration::from_secs(12 * 3600),
            live_token_ttl: Duration::from_secs(300),
            cookie_secure: false,
            login_fail_limit: 5,
            login_fail_limit_address: 20,
            login_fail_window: Duration::from_secs(300),
            login_block: Duration::from_secs(300),
        }
    }
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig {
            url: "sqlite://data/vigil.db".into(),
            max_connections: 8,
        }
    }
}

impl Default for MediaConfig {
    fn default() -> Self {
        MediaConfig {
            bind_ip: "0.0.0.0".parse().expect("literal address"),
            ip: String::new(),
            rtp_ports: [30000, 31999],
            idle_timeout: Duration::from_secs(30),
            rtp_timeout: Duration::from_secs(10),
            invite_timeout: Duration::from_secs(8),
            transport: RtpTransport::Udp,
            request_key_frame: true,
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: "info".into(),
            format: "text".into(),
        }
    }
}

/// A credential: deserializes from a plain string, never prints itself.
#[derive(Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// Errors loading the configuration; each names the file, variable or key at fault.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    File { path: PathBuf, message: String },
    #[error("environment variable {var}: {message}")]
    Env { var: String, message: String },
    #[error("configuration: {0}")]
    Invalid(String),
}

const ENV_PREFIX: &str = "VIGIL_";

impl Config {
    /// Loads `path` (if given) and applies the process environment on top.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        let text = match path {
            Some(p) => std::fs::read_to_string(p).map_err(|source| ConfigError::Read {
                path: p.to_owned(),
                source,
            })?,
            None => String::new(),
        };
        Config::from_sources(&text, path, std::env::vars())
    }

    /// Parses TOML text and applies `VIGIL_<SECTION>__<KEY>` pairs from `env` on top.
    pub fn from_sources(
        toml_text: &str,
        path: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let file_err = |message: String| ConfigError::File {
            path: path.map(Path::to_owned).unwrap_or_else(|| "<none>".into()),
            message,
        };
        let mut table: toml::Table = toml_text.parse().map_err(|e: toml::de::Error| {
            file_err(e.message().to_owned() + &span_hint(toml_text, e.span()))
        })?;
        // Check the file alone first, so its errors name the file and not an env var.
        Config::deserialize(toml::Value::Table(table.clone()))
            .map_err(|e| file_err(e.to_string()))?;

        let mut env: Vec<(String, String)> = env
            .into_iter()
            .filter(|(k, _)| k.starts_with(ENV_PREFIX))
            .collect();
        env.sort();
        for (var, raw) in env {
            let Some((section, key)) = var[ENV_PREFIX.len()..].split_once("__") else {
                // VIGIL_CONFIG and the like are not overrides.
                continue;
            };
            let (section, key) = (section.to_ascii_lowercase(), key.to_ascii_lowercase());
            let value = parse_env_value(&raw);
            let entry = table
                .entry(section.clone())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            let Some(t) = entry.as_table_mut() else {
                return Err(ConfigError::Env {
                    var,
                    message: format!("[{section}] is not a section"),
                });
            };
            t.insert(key, value);
            Config::deserialize(toml::Value::Table(table.clone())).map_err(|e| {
                ConfigError::Env {
                    var: var.clone(),
                    message: e.to_string(),
                }
            })?;
        }
        let config = Config::deserialize(toml::Value::Table(table))
            .map_err(|e| ConfigError::Invalid(e.to_string()))?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let bad = |m: String| Err(ConfigError::Invalid(m));
        if vigil_gb_id_ok(&self.sip.server_id).is_err() {
            return bad(format!(
                "sip.server_id {:?} is not a 20-digit GB28181 ID",
                self.sip.server_id
            ));
        }
        if self.sip.transports.is_empty() {
            return bad("sip.transports is empty: name \"udp\", \"tcp\" or both".into());
        }
        for t in &self.sip.transports {
            if t != "udp" && t != "tcp" {
                return bad(format!(
                    "sip.transports: unknown transport {t:?} (udp or tcp)"
                ));
            }
        }
        if self.sip.register_expires_min > self.sip.register_expires_max {
            return bad("sip.register_expires_min is above sip.register_expires_max".into());
        }
        if self.media.rtp_ports[0] > self.media.rtp_ports[1] || self.media.rtp_ports[0] == 0 {
            return bad(format!(
                "media.rtp_ports {:?} is not a range [first, last] of non-zero ports",
                self.media.rtp_ports
            ));
        }
        if self.log.format != "text" && self.log.format != "json" {
            return bad(format!(
                "log.format {:?}: use \"text\" or \"json\"",
                self.log.format
            ));
        }
        if !(self.database.url.starts_with("sqlite:")
            || self.database.url.starts_with("postgres://")
            || self.database.url.starts_with("postgresql://"))
        {
            return bad("database.url must start with sqlite: or postgres://".into());
        }
        for o in &self.http.cors_origins {
            let scheme = o.starts_with("http://") || o.starts_with("https://");
            if o != "*" && (!scheme || o.ends_with('/') || o.contains(char::is_whitespace)) {
                return bad(format!(
                    "http.cors_origins: {o:?} is not \"*\" or an origin like \"https://vms.example:8443\""
                ));
            }
        }
        for u in &self.webhooks.urls {
            if !(u.starts_with("http://") || u.starts_with("https://")) {
                return bad(format!(
                    "webhooks.urls: {u:?} is not an http:// or https:// URL"
                ));
            }
        }
        if self.webhooks.queue == 0 || self.webhooks.max_attempts == 0 {
            return bad("webhooks.queue and webhooks.max_attempts must be at least 1".into());
        }
        Ok(())
    }
}

fn vigil_gb_id_ok(id: &str) -> Result<(), ()> {
    if id.len() == 20 && id.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(())
    }
}

/// An env value is read as a TOML value when it is one (numbers, booleans, arrays, quoted
/// strings), else as a bare string (addresses, URLs, filters).
fn parse_env_value(raw: &str) -> toml::Value {
    let doc = format!("v = {raw}");
    match doc.parse::<toml::Table>() {
        Ok(mut t) => t
            .remove("v")
            .unwrap_or_else(|| toml::Value::String(raw.to_owned())),
        Err(_) => toml::Value::String(raw.to_owned()),
    }
}

fn span_hint(text: &str, span: Option<std::ops::Range<usize>>) -> String {
    match span {
        Some(s) => {
            let line = text[..s.start.min(text.len())].matches('\n').count() + 1;
            format!(" (line {line})")
        }
        None => String::new(),
    }
}

/// Durations in config are seconds (`60`, `0.5`) or strings with a unit (`"500ms"`, `"2m"`).
pub mod secs {
    use super::*;

    pub fn serialize<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        if d.subsec_nanos() == 0 {
            s.serialize_u64(d.as_secs())
        } else {
            s.serialize_f64(d.as_secs_f64())
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Int(u64),
            Float(f64),
            Text(String),
        }
        let err = |m: String| serde::de::Error::custom(m);
        match Raw::deserialize(d)? {
            Raw::Int(n) => Ok(Duration::from_secs(n)),
            Raw::Float(f) if (0.0..1e12).contains(&f) => Ok(Duration::from_secs_f64(f)),
            Raw::Float(f) => Err(err(format!("invalid duration {f}"))),
            Raw::Text(t) => parse_duration(&t).ok_or_else(|| {
                err(format!("invalid duration {t:?}: use seconds or a unit like \"500ms\", \"30s\", \"5m\", \"1h\""))
            }),
        }
    }

    pub fn parse_duration(t: &str) -> Option<Duration> {
        let t = t.trim();
        let split = t
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(t.len());
        let (num, unit) = t.split_at(split);
        let n: f64 = num.parse().ok()?;
        let mult = match unit.trim() {
            "" | "s" => 1.0,
            "ms" => 0.001,
            "m" | "min" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        let v = n * mult;
        (0.0..1e12).contains(&v).then(|| Duration::from_secs_f64(v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn defaults_match_the_design() {
        let c = Config::from_sources("", None, env(&[])).unwrap();
        assert_eq!(c.sip.listen.to_string(), "0.0.0.0:5060");
        assert_eq!(c.http.listen.to_string(), "0.0.0.0:8080");
        assert_eq!(c.database.url, "sqlite://data/vigil.db");
        assert_eq!(c.sip.server_id, "34020000002000000001");
        assert_eq!(c.sip.realm(), "3402000000");
        assert_eq!(c.sip.password.expose(), "12345678");
        assert_eq!(c.sip.keepalive_deadline(), Duration::from_secs(180));
    }

    #[test]
    fn shipped_config_file_equals_builtin_defaults() {
        let text = include_str!("../config/vigil.toml");
        let from_file = Config::from_sources(text, None, env(&[])).unwrap();
        let builtin = Config::default();
        assert_eq!(
            toml::to_string(&from_file).unwrap(),
            toml::to_string(&builtin).unwrap(),
            "config/vigil.toml must document exactly the built-in defaults"
        );
    }

    #[test]
    fn env_overrides_file_and_parses_types() {
        let c = Config::from_sources(
            "[sip]\nkeepalive_misses = 5\n",
            None,
            env(&[
                ("VIGIL_SIP__LISTEN", "127.0.0.1:15060"),
                ("VIGIL_SIP__KEEPALIVE_MISSES", "2"),
                ("VIGIL_SIP__KEEPALIVE_INTERVAL", "500ms"),
                ("VIGIL_SIP__ALLOW_UNKNOWN_DEVICES", "false"),
                ("VIGIL_DATABASE__URL", "postgres://127.0.0.1/test"),
                ("VIGIL_CONFIG", "ignored.toml"),
            ]),
        )
        .unwrap();
        assert_eq!(c.sip.listen.to_string(), "127.0.0.1:15060");
        assert_eq!(c.sip.keepalive_misses, 2);
        assert_eq!(c.sip.keepalive_interval, Duration::from_millis(500));
        assert!(!c.sip.allow_unknown_devices);
        assert_eq!(c.database.url, "postgres://127.0.0.1/test");
    }

    #[test]
    fn unknown_key_in_file_is_an_error_naming_it() {
        let e = Config::from_sources(
            "[sip]\nlisten_addr = \"x\"\n",
            Some(Path::new("v.toml")),
            env(&[]),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("listen_addr") && e.contains("v.toml"), "{e}");
    }

    #[test]
    fn unknown_env_key_is_an_error_naming_the_variable() {
        let e = Config::from_sources("", None, env(&[("VIGIL_SIP__PASWORD", "x")]))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("VIGIL_SIP__PASWORD") && e.contains("pasword"),
            "{e}"
        );
        let e = Config::from_sources("", None, env(&[("VIGIL_SPI__LISTEN", "x")]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("VIGIL_SPI__LISTEN"), "{e}");
    }

    #[test]
    fn bad_values_are_explained() {
        let e = Config::from_sources("[sip]\nserver_id = \"123\"\n", None, env(&[]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("server_id"), "{e}");
        let e = Config::from_sources("[sip]\nnonce_ttl = \"soon\"\n", None, env(&[]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("invalid duration"), "{e}");
    }

    #[test]
    fn cors_origins_and_webhook_urls_are_checked() {
        for bad in [
            "[http]\ncors_origins = [\"vms.example\"]\n",
            "[http]\ncors_origins = [\"https://vms.example/\"]\n",
            "[webhooks]\nurls = [\"ftp://x\"]\n",
            "[webhooks]\nqueue = 0\n",
        ] {
            assert!(Config::from_sources(bad, None, env(&[])).is_err(), "{bad}");
        }
        let ok = "[http]\ncors_origins = [\"*\", \"http://10.0.0.5:3000\"]\n[webhooks]\nurls = [\"https://hooks.example/vigil\"]\n";
        Config::from_sources(ok, None, env(&[])).unwrap();
    }

    #[test]
    fn password_is_not_printed_by_debug() {
        let c = Config::default();
        assert!(!format!("{c:?}").contains("12345678"));
    }
}
