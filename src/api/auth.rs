//! Authentication: `POST /api/v1/login` (session cookie), `POST /api/v1/logout`,
//! `GET /api/v1/me`, API keys (`/api/v1/api-keys`) and users (`/api/v1/users`), and
//! [`require_auth`], the middleware that asks for a session or a key on everything under
//! /api/v1 and /live except health, login and the OpenAPI document. A key that was revoked
//! gets 403, anything else missing or wrong 401. A live URL may instead carry a signed
//! `?token=` (see [`crate::auth`]). Handlers learn who calls through [`Caller`]; handlers
//! of long-lived responses also get a [`StreamAuth`] to end them when the credential ends
//! ([`watch`]).

pub mod accounts;
pub mod watch;

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Extension;
use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::json::ApiJson;
use super::{ApiError, ApiState};
use crate::auth::{
    LoginThrottle, SESSION_COOKIE, hash_password, random_token, token_hash, verify_password,
};
use crate::config::AuthConfig;
use crate::metrics::{CounterVec, Exposition, Label, MetricSource, Metrics};
use crate::platform::unix_ms;
use crate::store::auth::{ApiKeyRecord, UserRecord};
pub use watch::{CredentialEnd, CredentialWatch, StreamAuth};

pub fn routes() -> Router<ApiState> {
    use accounts::*;
    Router::new()
        .route("/api/v1/login", post(login))
        .route("/api/v1/logout", post(logout))
        .route("/api/v1/me", get(me))
        .route("/api/v1/api-keys", get(list_keys).post(create_key))
        .route("/api/v1/api-keys/{id}", delete(revoke_key))
        .route("/api/v1/users", get(list_users).post(create_user))
        .route("/api/v1/users/{id}", delete(delete_user).patch(update_user))
}

/// Who made a request, put into the request's extensions by [`require_auth`].
#[derive(Debug, Clone)]
pub enum Principal {
    /// A dashboard login: its user and the hash of its session token.
    Session {
        user: UserRecord,
        token_hash: String,
    },
    /// An API key and its owner's current record (`None`: a key created while auth was
    /// off, which has no owner and no admin rights).
    Key {
        key: ApiKeyRecord,
        owner: Option<UserRecord>,
    },
    /// A signed live-view token for one live session.
    LiveToken,
}

impl Principal {
    /// The user acting: the session's, or the key's owner.
    pub fn user(&self) -> Option<&UserRecord> {
        match self {
            Principal::Session { user, .. } => Some(user),
            Principal::Key { owner, .. } => owner.as_ref(),
            Principal::LiveToken => None,
        }
    }

    pub fn is_admin(&self) -> bool {
        self.user().is_some_and(|u| u.is_admin)
    }
}

/// Who calls a handler. With auth off everyone may do everything (`Open`); with auth on
/// the middleware has checked the credentials, and a request that somehow got past it
/// without them is refused here rather than treated as an admin.
#[derive(Debug, Clone)]
pub enum Caller {
    Open,
    Authenticated(Principal),
}

impl FromRequestParts<ApiState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, s: &ApiState) -> Result<Self, ApiError> {
        if !s.config.auth.enabled {
            return Ok(Caller::Open);
        }
        parts
            .extensions
            .get::<Principal>()
            .cloned()
            .map(Caller::Authenticated)
            .ok_or_else(|| ApiError::Unauthorized(NO_CREDENTIALS.into()))
    }
}

impl Caller {
    pub fn principal(&self) -> Option<&Principal> {
        match self {
            Caller::Open => None,
            Caller::Authenticated(p) => Some(p),
        }
    }

    /// The user acting, if any (none with auth off).
    pub fn user(&self) -> Option<&UserRecord> {
        self.principal().and_then(Principal::user)
    }

    /// Whether the caller may manage users and every key: an admin, or anyone with auth off.
    pub fn is_admin(&self) -> bool {
        self.principal().is_none_or(Principal::is_admin)
    }

    /// 403 unless [`Caller::is_admin`]; `what` completes "only an admin may ...".
    pub fn require_admin(&self, what: &str) -> Result<(), ApiError> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!("only an admin may {what}")))
        }
    }
}

const NO_CREDENTIALS: &str = "credentials needed: log in, or send Authorization: Bearer <API key>";

fn is_public(method: &Method, path: &str) -> bool {
    let protected = path.starts_with("/api/v1/") || path == "/api/v1" || path.starts_with("/live/");
    !protected
        || (method == Method::GET && path == "/api/v1/health")
        || (method == Method::POST && path == "/api/v1/login")
        || path == "/api/v1/openapi.json"
}

fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

fn query_param<'a>(query: Option<&'a str>, name: &str) -> Option<&'a str> {
    query?
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// Why credentials were refused; the label of `vigil_http_auth_failures_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    NoCredentials,
    UnknownKey,
    RevokedKey,
    Session,
    LiveToken,
}

impl Refusal {
    fn reason(self) -> &'static str {
        match self {
            Refusal::NoCredentials => "no_credentials",
            Refusal::UnknownKey => "unknown_key",
            Refusal::RevokedKey => "revoked_key",
            Refusal::Session => "session",
            Refusal::LiveToken => "live_token",
        }
    }

    fn error(self) -> ApiError {
        match self {
            Refusal::NoCredentials => ApiError::Unauthorized(NO_CREDENTIALS.into()),
            Refusal::UnknownKey => ApiError::Unauthorized("unknown API key".into()),
            Refusal::RevokedKey => ApiError::Forbidden("this API key was revoked".into()),
            Refusal::Session => {
                ApiError::Unauthorized("the session expired or ended; log in again".into())
            }
            Refusal::LiveToken => {
                ApiError::Unauthorized("the live token is invalid or expired".into())
            }
        }
    }
}

/// Login throttling and the count of refused authentications, shared by the middleware
/// and the handlers that check passwords.
#[derive(Debug, Clone)]
pub struct AuthGuard(Arc<GuardInner>);

#[derive(Debug)]
struct GuardInner {
    throttle: Mutex<LoginThrottle>,
    /// By reason: those of [`Refusal`], `login` (wrong user or password), `login_blocked`
    /// (429), `current_password`.
    failures: CounterVec<1>,
    /// Sessions and keys ended here, for the streams opened with them.
    ends: watch::CredentialEnds,
}

impl MetricSource for GuardInner {
    fn render(&self, out: &mut Exposition) {
        self.failures.render(
            out,
            "vigil_http_auth_failures_total",
            "Refused API and live-media authentications by reason: login (wrong user or \
             password), login_blocked (429), current_password, no_credentials, unknown_key, \
             revoked_key, session (expired or ended), live_token.",
        );
    }
}

impl AuthGuard {
    /// A guard for `[auth]`, whose failure counts `metrics` renders.
    pub fn new(config: &AuthConfig, metrics: &Metrics) -> AuthGuard {
        let inner = Arc::new(GuardInner {
            throttle: Mutex::new(LoginThrottle::new(config)),
            failures: CounterVec::new(["reason"]),
            ends: Default::default(),
        });
        metrics.add_source(inner.clone());
        AuthGuard(inner)
    }

    fn refused(&self, reason: &'static str) {
        self.0.failures.inc([Label::Borrowed(reason)]);
    }

    fn throttle(&self) -> std::sync::MutexGuard<'_, LoginThrottle> {
        self.0.throttle.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The 429 (with Retry-After) to answer while `user` or `address` is blocked.
    pub(super) fn blocked(&self, user: &str, address: Option<IpAddr>) -> Option<Response> {
        let wait = self.throttle().blocked(user, address, Instant::now())?;
        self.refused("login_blocked");
        Some(too_many_attempts(wait))
    }

    /// Counts a wrong password for `user` from `address` under `reason`.
    pub(super) fn failed(
        &self,
        reason: &'static str,
        user: Option<&UserRecord>,
        name: &str,
        address: Option<IpAddr>,
    ) {
        self.refused(reason);
        if self.throttle().failed(name, address, Instant::now()) {
            // The name only when it is an account's: a password typed into the name
            // field must not reach the log.
            tracing::warn!(
                user = user.map(|u| u.username.as_str()),
                address = ?address,
                "too many failed logins: blocking that user name or address for a while"
            );
        }
    }

    pub(super) fn succeeded(&self, name: &str) {
        self.throttle().succeeded(name);
    }

    fn ends(&self) -> watch::CredentialEnds {
        self.0.ends.clone()
    }

    /// Ends the open streams (SSE, live media) of a credential the store no longer has.
    pub(super) fn credential_ended(&self, end: CredentialEnd) {
        self.0.ends.publish(end);
    }
}

/// Our JSON error with status 429 and Retry-After in whole seconds.
fn too_many_attempts(wait: Duration) -> Response {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    let body = json!({"error": {
        "code": "too_many_requests",
        "message": format!("too many failed logins; try again in {secs} s"),
    }});
    (
        StatusCode::TOO_MANY_REQUESTS,
        [(header::RETRY_AFTER, secs.to_string())],
        Json(body),
    )
        .into_response()
}

/// The client's address, when the server was started with connect info (tests calling
/// the router with `oneshot` have none).
pub(super) type ClientAddr = Option<Extension<ConnectInfo<SocketAddr>>>;

pub(super) fn client_ip(addr: &ClientAddr) -> Option<IpAddr> {
    addr.as_ref().map(|a| a.0.0.ip())
}

/// Who `headers` (and, on /live, `?token=`) say the caller is: the outer error is the
/// store failing, the inner one a refusal.
async fn authenticate(
    s: &ApiState,
    headers: &HeaderMap,
    uri: &axum::http::Uri,
) -> Result<Result<Principal, Refusal>, ApiError> {
    let now = unix_ms();
    if let Some(key) = bearer(headers) {
        let Some(rec) = s.store.api_key_by_hash(&token_hash(key)).await? else {
            return Ok(Err(Refusal::UnknownKey));
        };
        if rec.revoked_at.is_some() {
            return Ok(Err(Refusal::RevokedKey));
        }
        // `last_used_at` to the minute: a write per request would cost more than it tells.
        if rec.last_used_at.is_none_or(|t| now - t >= 60_000) {
            s.store.touch_api_key(rec.id, now).await?;
        }
        let owner = match rec.user_id {
            Some(id) => s.store.get_user(id).await?,
            None => None,
        };
        return Ok(Ok(Principal::Key { key: rec, owner }));
    }
    if let Some(tok) = cookie(headers, SESSION_COOKIE) {
        let hash = token_hash(tok);
        return Ok(match s.store.session_user(&hash, now).await? {
            Some(user) => Ok(Principal::Session {
                user,
                token_hash: hash,
            }),
            None => Err(Refusal::Session),
        });
    }
    let path = uri.path();
    if let (Some(rest), Some(tok)) = (
        path.strip_prefix("/live/"),
        query_param(uri.query(), "token"),
    ) {
        let first = rest.split('/').next().unwrap_or_default();
        let session = first.strip_suffix(".mp4").unwrap_or(first);
        return Ok(if s.live_signer.verify(session, tok, now) {
            Ok(Principal::LiveToken)
        } else {
            Err(Refusal::LiveToken)
        });
    }
    Ok(Err(Refusal::NoCredentials))
}

/// Lets a request through only with valid credentials (see the module documentation).
pub async fn require_auth(State(s): State<ApiState>, mut req: Request, next: Next) -> Response {
    if is_public(req.method(), req.uri().path()) {
        return next.run(req).await;
    }
    let (headers, uri) = (req.headers().clone(), req.uri().clone());
    match authenticate(&s, &headers, &uri).await {
        Ok(Ok(p)) => {
            let streams = StreamAuth::new(s.store.clone(), s.auth.ends(), &p);
            req.extensions_mut().insert(streams);
            req.extensions_mut().insert(p);
            next.run(req).await
        }
        Ok(Err(refusal)) => {
            s.auth.refused(refusal.reason());
            tracing::debug!(path = %uri.path(), reason = refusal.reason(), "refused");
            refusal.error().into_response()
        }
        Err(e) => e.into_response(),
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginBody {
    pub user: String,
    pub password: String,
}

/// A successful login.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LoggedIn {
    pub user: UserRecord,
}

/// Checks a password off the async runtime (argon2 is slow on purpose).
pub(super) async fn check_password(password: String, hash: String) -> bool {
    tokio::task::spawn_blocking(move || verify_password(&password, &hash))
        .await
        .unwrap_or(false)
}

/// `Set-Cookie` for a session token (an empty token with max-age 0 clears it).
fn session_cookie(s: &ApiState, token: &str, max_age: Duration) -> String {
    let secure = if s.config.auth.cookie_secure {
        "; Secure"
    } else {
        ""
    };
    format!(
        "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
        max_age.as_secs()
    )
}

/// Logs in: sets an HttpOnly, SameSite=Strict session cookie (`Secure` with
/// `[auth] cookie_secure`). Too many failures for a user name or from an address within
/// `[auth] login_fail_window` get 429 with Retry-After for `[auth] login_block`.
#[utoipa::path(post, path = "/api/v1/login", tag = "auth", request_body = LoginBody,
    responses((status = 200, description = "Logged in; the cookie is set", body = LoggedIn),
    (status = 400, description = "Bad input", body = super::openapi::ErrorBody),
    (status = 401, description = "Wrong user or password", body = super::openapi::ErrorBody),
    (status = 422, description = "Bad input", body = super::openapi::ErrorBody),
    (status = 429, description = "Too many failed logins; see Retry-After", body = super::openapi::ErrorBody,
        headers(("Retry-After" = u64, description = "Seconds until logins are taken again")))))]
pub(super) async fn login(
    State(s): State<ApiState>,
    addr: ClientAddr,
    ApiJson(body): ApiJson<LoginBody>,
) -> Result<Response, ApiError> {
    let ip = client_ip(&addr);
    if let Some(blocked) = s.auth.blocked(&body.user, ip) {
        return Ok(blocked);
    }
    let user = s.store.get_user_by_name(&body.user).await?;
    // Hash even for an unknown user, so timing does not tell which names exist.
    let hash = user
        .as_ref()
        .map(|u| u.password_hash.0.clone())
        .unwrap_or_else(|| DUMMY_HASH.get_or_init(|| hash_password("x")).clone());
    let ok = check_password(body.password, hash).await;
    let Some(user) = user.filter(|_| ok) else {
        s.auth.failed("login", None, &body.user, ip);
        tracing::info!(address = ?ip, "login failed: wrong user or password");
        return Err(ApiError::Unauthorized("wrong user or password".into()));
    };
    s.auth.succeeded(&body.user);
    let token = random_token();
    let now = unix_ms();
    let ttl = s.config.auth.session_ttl;
    s.store
        .insert_session(
            &token_hash(&token),
            user.id,
            now,
            now + ttl.as_millis() as i64,
        )
        .await?;
    if let Err(e) = s.store.purge_sessions(now).await {
        tracing::warn!(error = %e, "cannot purge expired sessions");
    }
    tracing::info!(user = %user.username, address = ?ip, "login");
    Ok((
        [(header::SET_COOKIE, session_cookie(&s, &token, ttl))],
        Json(LoggedIn { user }),
    )
        .into_response())
}

static DUMMY_HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Ends the session of the cookie (if any) on the server and clears the cookie.
#[utoipa::path(post, path = "/api/v1/logout", tag = "auth",
    responses((status = 204, description = "Logged out"),
    (status = 401, description = "No credentials", body = super::openapi::ErrorBody),
    (status = 403, description = "A revoked API key", body = super::openapi::ErrorBody)))]
pub(super) async fn logout(
    State(s): State<ApiState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if let Some(tok) = cookie(&headers, SESSION_COOKIE) {
        let token_hash = token_hash(tok);
        s.store.delete_session(&token_hash).await?;
        s.auth
            .credential_ended(CredentialEnd::Session { token_hash });
    }
    let clear = session_cookie(&s, "", Duration::ZERO);
    Ok((StatusCode::NO_CONTENT, [(header::SET_COOKIE, clear)]).into_response())
}
