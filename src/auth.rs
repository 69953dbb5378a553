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
             this once; change it in the dashboard or with `vigil reset-password`)",
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
