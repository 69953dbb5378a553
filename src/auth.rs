//! Credentials: argon2 password hashes, random session tokens and API keys (stored as
//! SHA-256 hex), and short-lived signed live-view tokens (HMAC-SHA256 over the live
//! session ID and the expiry), so a player without headers can open a /live URL.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use hmac::{Hmac, KeyInit, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::config::{AuthConfig, Secret};
use crate::store::{Store, StoreError};

/// Prefix of API keys, so they are recognizable in configs and secret scanners.
pub const API_KEY_PREFIX: &str = "vgl_";

/// Name of the dashboard session cookie.
pub const SESSION_COOKIE: &str = "vigil_session";

/// The argon2id PHC string of `password` with a fresh random salt.
pub fn hash_password(password: &str) -> String {
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).expect("16 bytes is a valid salt");
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 with default parameters hashes any password")
        .to_string()
}

/// Whether `password` matches the PHC string `hash` (false for a malformed hash).
pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

/// Shortest password accepted for an account.
pub const MIN_PASSWORD_CHARS: usize = 8;
/// Longest: argon2 takes any length, but a request should not make it hash megabytes.
const MAX_PASSWORD_BYTES: usize = 1024;

/// Whether `password` may become an account's password; the error says why not.
pub fn check_new_password(password: &str) -> Result<(), String> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(format!("at least {MIN_PASSWORD_CHARS} characters"));
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(format!("at most {MAX_PASSWORD_BYTES} bytes"));
    }
    Ok(())
}

/// 32 random bytes as hex.
pub fn random_token() -> String {
    let mut b = [0u8; 32];
    rand::rng().fill_bytes(&mut b);
    hex::encode(b)
}

/// A new API key: `vgl_` and 64 hex digits.
pub fn new_api_key() -> String {
    format!("{API_KEY_PREFIX}{}", random_token())
}

/// What is stored for a token or key: its SHA-256 as hex.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A readable random password for a generated admin account.
pub fn random_password() -> String {
    random_token()[..24].to_owned()
}

/// Signs live-view tokens; the key is random per process, so tokens die with a restart.
#[derive(Clone)]
pub struct LiveSigner {
    key: [u8; 32],
}

impl std::fmt::Debug for LiveSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LiveSigner(***)")
    }
}

impl Default for LiveSigner {
    fn default() -> Self {
        Self::new()
    }
}

impl LiveSigner {
    pub fn new() -> LiveSigner {
        let mut key = [0u8; 32];
        rand::rng().fill_bytes(&mut key);
        LiveSigner { key }
    }

    fn mac(&self, session: &str, expires_ms: i64) -> Hmac<Sha256> {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes keys of any length");
        mac.update(session.as_bytes());
        mac.update(b"\n");
        mac.update(expires_ms.to_string().as_bytes());
        mac
    }

    /// `<expiry ms>.<hex HMAC>` for live session `session`, valid until `expires_ms`.
    pub fn sign(&self, session: &str, expires_ms: i64) -> String {
        let tag = self.mac(session, expires_ms).finalize().into_bytes();
        format!("{expires_ms}.{}", hex::encode(tag))
    }

    /// Whether `token` was signed for `session` and has not expired at `now_ms`.
    pub fn verify(&self, session: &str, token: &str, now_ms: i64) -> bool {
        let Some((exp, tag)) = token.split_once('.') else {
            return false;
        };
        let (Ok(exp), Ok(tag)) = (exp.parse::<i64>(), hex::decode(tag)) else {
            return false;
        };
        // The canonical form only, so one token has one spelling.
        if exp.to_string() != token.split_once('.').map_or("", |t| t.0) || now_ms >= exp {
            return false;
        }
        self.mac(session, exp).verify_slice(&tag).is_ok()
    }
}

/// Creates the admin account when there are no users: with `[auth] admin_password`, or a
/// random password printed once to the log. Then logs how to log in (never a configured
/// password). Returns the generated password, if any.
pub async fn ensure_admin(
    store: &Store,
    config: &AuthConfig,
    now_ms: i64,
) -> Result<Option<Secret>, StoreError> {
    let user = &config.admin_user;
    if store.count_users().await? > 0 {
        log_how_to_log_in(store, config).await?;
        return Ok(None);
    }
    let (password, generated) = if config.admin_password.expose().is_empty() {
        (Secret(random_password()), true)
    } else {
        (config.admin_password.clone(), false)
    };
    let hash = hash_password(password.expose());
    match store.insert_user(user, &hash, true, now_ms).await {
        // Another instance on the same database won the race.
        Err(StoreError::Conflict(_)) => {
            log_how_to_log_in(store, config).await?;
            return Ok(None);
        }
        other => other?,
    };
    if !config.enabled {
        tracing::warn!(
            "[auth] enabled is false: the API, live media and the dashboard are open to \
             anyone who can reach them"
        );
    }
    if generated {
        // Printed once, on purpose: the only way to learn a generated password.
        tracing::warn!(
            user = %user,
            "created the admin account: log in as {user} with password {} (shown only \
             this once; change it with PATCH /api/v1/users/{{id}} or `vigil reset-password`)",
            password.expose()
        );
        Ok(Some(password))
    } else {
        tracing::info!(user = %user, "created the admin account: log in as {user} with [auth] admin_password");
        Ok(None)
    }
}

/// The start-up line on how to log in to an existing database.
async fn log_how_to_log_in(store: &Store, config: &AuthConfig) -> Result<(), StoreError> {
    if !config.enabled {
        tracing::warn!(
            "[auth] enabled is false: the API, live media and the dashboard are open to \
             anyone who can reach them"
        );
        return Ok(());
    }
    let user = &config.admin_user;
    match store.get_user_by_name(user).await? {
        Some(_) => tracing::info!(
            user = %user,
            "log in as {user}: its password was printed on the first start (or is [auth] \
             admin_password); forgotten? run `vigil reset-password --user {user}`"
        ),
        None => tracing::info!(
            user = %user,
            "there is no user {user}: log in as another admin, or create it with \
             `vigil reset-password --user {user}`"
        ),
    }
    Ok(())
}

/// Login brute-force protection, sans-IO (time is an argument): failed logins are counted
/// per user name and per source address in a fixed window from the first failure; at the
/// limit that name or address is blocked for `login_block`, whether the next password is
/// right or not. A successful login forgets its name's failures (not its address's).
#[derive(Debug)]
pub struct LoginThrottle {
    user_limit: u32,
    address_limit: u32,
    window: std::time::Duration,
    block: std::time::Duration,
    entries: std::collections::HashMap<ThrottleKey, Failures>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum ThrottleKey {
    User(String),
    Address(std::net::IpAddr),
}

#[derive(Debug)]
struct Failures {
    window_start: std::time::Instant,
    count: u32,
    blocked_until: Option<std::time::Instant>,
}

/// Bounds the memory attackers can make the throttle use (user names are theirs to pick).
const MAX_THROTTLE_ENTRIES: usize = 10_000;
/// Longer user names are counted by their first this many bytes.
const MAX_THROTTLED_NAME: usize = 128;

impl LoginThrottle {
    pub fn new(config: &AuthConfig) -> LoginThrottle {
        LoginThrottle {
            user_limit: config.login_fail_limit,
            address_limit: config.login_fail_limit_address,
            window: config.login_fail_window,
            block: config.login_block,
            entries: Default::default(),
        }
    }

    fn keys(user: &str, address: Option<std::net::IpAddr>) -> impl Iterator<Item = ThrottleKey> {
        let mut end = user.len().min(MAX_THROTTLED_NAME);
        while !user.is_char_boundary(end) {
            end -= 1;
        }
        let address = address.map(|a| match a {
            // One host usually has a whole /64.
            std::net::IpAddr::V6(v6) => {
                let bits = u128::from(v6) & !((1u128 << 64) - 1);
                std::net::IpAddr::V6(bits.into())
            }
            v4 => v4,
        });
        std::iter::once(ThrottleKey::User(user[..end].to_owned()))
            .chain(address.map(ThrottleKey::Address))
    }

    fn limit(&self, key: &ThrottleKey) -> u32 {
        match key {
            ThrottleKey::User(_) => self.user_limit,
            ThrottleKey::Address(_) => self.address_limit,
        }
    }

    /// How long `user` or `address` stays blocked at `now`, if it is.
    pub fn blocked(
        &self,
        user: &str,
        address: Option<std::net::IpAddr>,
        now: std::time::Instant,
    ) -> Option<std::time::Duration> {
        Self::keys(user, address)
            .filter_map(|k| self.entries.get(&k)?.blocked_until)
            .filter(|&until| until > now)
            .map(|until| until - now)
            .max()
    }

    /// Counts a failed login. Returns true when it started a block.
    pub fn failed(
        &mut self,
        user: &str,
        address: Option<std::net::IpAddr>,
        now: std::time::Instant,
    ) -> bool {
        if self.entries.len() >= MAX_THROTTLE_ENTRIES {
            self.prune(now);
        }
        let mut started = false;
        for key in Self::keys(user, address) {
            let limit = self.limit(&key);
            if limit == 0
                || (self.entries.len() >= MAX_THROTTLE_ENTRIES && !self.entries.contains_key(&key))
            {
                continue;
            }
            let f = self.entries.entry(key).or_insert(Failures {
                window_start: now,
                count: 0,
                blocked_until: None,
            });
            if now.duration_since(f.window_start) > self.window {
                f.window_start = now;
                f.count = 0;
            }
            f.count += 1;
            if f.count >= limit && f.blocked_until.is_none_or(|u| u <= now) {
                f.blocked_until = Some(now + self.block);
                f.window_start = now;
                f.count = 0;
                started = true;
            }
        }
        started
    }

    /// A successful login: the user name's failures are forgotten.
    pub fn succeeded(&mut self, user: &str) {
        if let Some(k) = Self::keys(user, None).next() {
            self.entries.remove(&k);
        }
    }

    fn prune(&mut self, now: std::time::Instant) {
        let window = self.window;
        self.entries.retain(|_, f| {
            f.blocked_until.is_some_and(|u| u > now) || now.duration_since(f.window_start) <= window
        });
    }
}

/// Why `vigil reset-password` could not set a password.
#[derive(Debug, thiserror::Error)]
pub enum ResetError {
    #[error("--password: {0}")]
    BadPassword(String),
    #[error("--user: must not be empty")]
    NoUser,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What [`reset_password`] did.
#[derive(Debug)]
pub struct PasswordReset {
    pub user: crate::store::auth::UserRecord,
    /// The user did not exist and was created as an admin.
    pub created: bool,
    /// The password, when it was generated (to show once).
    pub generated: Option<Secret>,
}

/// Account recovery (`vigil reset-password`): sets `username`'s password to `password`, or
/// to a random one that is returned, and ends the user's sessions (API keys stay). A
/// missing user is created as an admin, so a database whose admins are all gone or
/// forgotten can be entered again.
pub async fn reset_password(
    store: &Store,
    username: &str,
    password: Option<Secret>,
    now_ms: i64,
) -> Result<PasswordReset, ResetError> {
    if username.trim().is_empty() {
        return Err(ResetError::NoUser);
    }
    let (password, generated) = match password {
        Some(p) => {
            check_new_password(p.expose()).map_err(ResetError::BadPassword)?;
            (p, false)
        }
        None => (Secret(random_password()), true),
    };
    let pw = password.clone();
    let hash = tokio::task::spawn_blocking(move || hash_password(pw.expose()))
        .await
        .map_err(|e| ResetError::BadPassword(format!("hashing failed: {e}")))?;
    let (user, created) = store.reset_password(username, &hash, now_ms).await?;
    tracing::info!(user = %user.username, created, "password reset; the user's sessions ended");
    Ok(PasswordReset {
        user,
        created,
        generated: generated.then_some(password),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_and_verify() {
        let h = hash_password("correct horse");
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(!h.contains("correct horse"));
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("wrong", &h));
        assert!(!verify_password("correct horse", "not a hash"));
        // Salted: the same password hashes differently.
        assert_ne!(h, hash_password("correct horse"));
    }

    #[test]
    fn tokens_are_random_and_hashed() {
        let (a, b) = (new_api_key(), new_api_key());
        assert!(a.starts_with(API_KEY_PREFIX));
        assert_eq!(a.len(), API_KEY_PREFIX.len() + 64);
        assert_ne!(a, b);
        assert_eq!(token_hash(&a), token_hash(&a));
        assert_ne!(token_hash(&a), token_hash(&b));
        assert_eq!(token_hash(&a).len(), 64);
        assert!(!token_hash(&a).contains(&a[4..]));
    }

    #[test]
    fn live_tokens_check_session_signature_and_expiry() {
        let s = LiveSigner::new();
        let t = s.sign("sess1", 10_000);
        assert!(s.verify("sess1", &t, 9_999));
        assert!(!s.verify("sess1", &t, 10_000), "expired");
        assert!(!s.verify("sess2", &t, 0), "other session");
        assert!(!LiveSigner::new().verify("sess1", &t, 0), "other key");
        let forged = t.replacen("10000", "20000", 1);
        assert!(!s.verify("sess1", &forged, 0), "extended expiry");
        assert!(!s.verify("sess1", "garbage", 0));
        assert!(!s.verify("sess1", "10000.zz", 0));
        assert!(!s.verify("sess1", &format!("0{t}"), 0), "non-canonical");
        assert!(!format!("{s:?}").contains(&hex::encode(s.key)));
    }

    fn throttle(user_limit: u32, address_limit: u32) -> LoginThrottle {
        LoginThrottle::new(&AuthConfig {
            login_fail_limit: user_limit,
            login_fail_limit_address: address_limit,
            login_fail_window: std::time::Duration::from_secs(60),
            login_block: std::time::Duration::from_secs(300),
            ..AuthConfig::default()
        })
    }

    #[test]
    fn login_throttle_blocks_a_name_after_its_limit_within_the_window() {
        use std::time::{Duration, Instant};
        let t0 = Instant::now();
        let s = |n| t0 + Duration::from_secs(n);
        let ip = Some("192.0.2.1".parse().unwrap());
        let mut t = throttle(3, 0);
        assert!(!t.failed("admin", ip, s(0)));
        assert!(!t.failed("admin", ip, s(10)));
        assert_eq!(t.blocked("admin", ip, s(11)), None);
        assert!(t.failed("admin", ip, s(20)), "the third failure blocks");
        assert_eq!(
            t.blocked("admin", ip, s(20)),
            Some(Duration::from_secs(300))
        );
        assert_eq!(
            t.blocked("admin", None, s(100)),
            Some(Duration::from_secs(220))
        );
        assert_eq!(t.blocked("other", ip, s(100)), None, "address limit is off");
        assert_eq!(t.blocked("admin", ip, s(320)), None, "the block ends");
        // Failures spread wider than the window never block.
        let mut t = throttle(3, 0);
        for n in [0, 50, 100, 150, 200] {
            assert!(!t.failed("admin", ip, s(n)));
        }
        // Success forgets the name's failures.
        t.failed("admin", ip, s(201));
        t.succeeded("admin");
        assert!(!t.failed("admin", ip, s(202)));
        assert!(!t.failed("admin", ip, s(203)));
        assert!(t.failed("admin", ip, s(204)));
    }

    #[test]
    fn login_throttle_blocks_an_address_across_names_and_ipv6_by_64() {
        use std::time::Instant;
        let now = Instant::now();
        let mut t = throttle(0, 4);
        let a: std::net::IpAddr = "2001:db8:1:2::10".parse().unwrap();
        let same64: std::net::IpAddr = "2001:db8:1:2:ffff::1".parse().unwrap();
        let other: std::net::IpAddr = "2001:db8:1:3::10".parse().unwrap();
        for (i, name) in ["a", "b", "c"].iter().enumerate() {
            assert!(!t.failed(name, Some(if i % 2 == 0 { a } else { same64 }), now));
        }
        assert!(t.failed("d", Some(same64), now));
        assert!(t.blocked("anyone", Some(a), now).is_some());
        assert!(t.blocked("anyone", Some(other), now).is_none());
        assert!(t.blocked("a", None, now).is_none(), "user limit is off");
        // Memory stays bounded whatever the names.
        let mut t = throttle(5, 0);
        for i in 0..MAX_THROTTLE_ENTRIES + 100 {
            t.failed(&format!("u{i}"), None, now);
        }
        assert!(t.entries.len() <= MAX_THROTTLE_ENTRIES);
        let long = "é".repeat(200);
        t.failed(&long, None, now);
    }

    #[tokio::test]
    async fn reset_password_sets_or_generates_and_ends_sessions() {
        let store = Store::connect("sqlite::memory:", 1).await.unwrap();
        let admin = store
            .insert_user("admin", &hash_password("old-password"), true, 1)
            .await
            .unwrap();
        store
            .insert_session("t1", admin.id, 1, i64::MAX)
            .await
            .unwrap();

        let r = reset_password(&store, "admin", None, 2).await.unwrap();
        assert!(!r.created);
        let pw = r.generated.expect("a generated password");
        assert!(check_new_password(pw.expose()).is_ok());
        let u = store.get_user_by_name("admin").await.unwrap().unwrap();
        assert!(verify_password(pw.expose(), &u.password_hash.0));
        assert!(!verify_password("old-password", &u.password_hash.0));
        assert!(store.session_user("t1", 2).await.unwrap().is_none());
        let again = reset_password(&store, "admin", None, 3).await.unwrap();
        assert_ne!(again.generated.unwrap().expose(), pw.expose());

        let given = Secret("given-password-1".into());
        let r = reset_password(&store, "admin", Some(given), 4)
            .await
            .unwrap();
        assert!(r.generated.is_none());
        let u = store.get_user_by_name("admin").await.unwrap().unwrap();
        assert!(verify_password("given-password-1", &u.password_hash.0));

        // A missing user becomes an admin.
        let r = reset_password(&store, "rescue", None, 5).await.unwrap();
        assert!(r.created && r.user.is_admin);
        assert!(verify_password(
            r.generated.unwrap().expose(),
            &store
                .get_user_by_name("rescue")
                .await
                .unwrap()
                .unwrap()
                .password_hash
                .0
        ));

        // Bad input changes nothing.
        let e = reset_password(&store, "admin", Some(Secret("short".into())), 6)
            .await
            .unwrap_err();
        assert!(e.to_string().starts_with("--password: at least 8"), "{e}");
        assert!(matches!(
            reset_password(&store, " ", None, 6).await,
            Err(ResetError::NoUser)
        ));
        let u = store.get_user_by_name("admin").await.unwrap().unwrap();
        assert!(verify_password("given-password-1", &u.password_hash.0));
        assert_eq!(store.count_users().await.unwrap(), 2);
    }

    #[tokio::test]
    async fn admin_is_created_once() {
        let store = Store::connect("sqlite::memory:", 1).await.unwrap();
        let cfg = AuthConfig {
            admin_password: Secret("from-config-pw".into()),
            ..AuthConfig::default()
        };
        assert!(ensure_admin(&store, &cfg, 1).await.unwrap().is_none());
        let u = store.get_user_by_name("admin").await.unwrap().unwrap();
        assert!(u.is_admin);
        assert!(verify_password("from-config-pw", &u.password_hash.0));
        // Users exist: nothing changes, even with another password configured.
        let other = AuthConfig {
            admin_password: Secret("changed".into()),
            ..AuthConfig::default()
        };
        assert!(ensure_admin(&store, &other, 2).await.unwrap().is_none());
        assert_eq!(store.count_users().await.unwrap(), 1);

        let store = Store::connect("sqlite::memory:", 1).await.unwrap();
        let pw = ensure_admin(&store, &AuthConfig::default(), 1)
            .await
            .unwrap()
            .expect("generated password");
        let u = store.get_user_by_name("admin").await.unwrap().unwrap();
        assert!(verify_password(pw.expose(), &u.password_hash.0));
    }
}
