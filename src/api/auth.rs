//! Authentication: `POST /api/v1/login` (session cookie), `POST /api/v1/logout`,
//! `GET /api/v1/me`, API keys (`/api/v1/api-keys`) and users (`/api/v1/users`), and
//! [`require_auth`], the middleware that asks for a session or a key on everything under
//! /api/v1 and /live except health, login and the OpenAPI document. A key that was revoked
//! gets 403, anything else missing or wrong 401. A live URL may instead carry a signed
//! `?token=` (see [`crate::auth`]). Handlers learn who calls through [`Caller`].

pub mod accounts;

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::json::ApiJson;
use super::{ApiError, ApiState};
use crate::auth::{SESSION_COOKIE, hash_password, random_token, token_hash, verify_password};
use crate::platform::unix_ms;
use crate::store::auth::{ApiKeyRecord, UserRecord};

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

/// Who `headers` (and, on /live, `?token=`) say the caller is.
async fn authenticate(
    s: &ApiState,
    headers: &HeaderMap,
    uri: &axum::http::Uri,
) -> Result<Principal, ApiError> {
    let now = unix_ms();
    if let Some(key) = bearer(headers) {
        let rec = s
            .store
            .api_key_by_hash(&token_hash(key))
            .await?
            .ok_or_else(|| ApiError::Unauthorized("unknown API key".into()))?;
        if rec.revoked_at.is_some() {
            return Err(ApiError::Forbidden("this API key was revoked".into()));
        }
        // `last_used_at` to the minute: a write per request would cost more than it tells.
        if rec.last_used_at.is_none_or(|t| now - t >= 60_000) {
            s.store.touch_api_key(rec.id, now).await?;
        }
        let owner = match rec.user_id {
            Some(id) => s.store.get_user(id).await?,
            None => None,
        };
        return Ok(Principal::Key { key: rec, owner });
    }
    if let Some(tok) = cookie(headers, SESSION_COOKIE) {
        let hash = token_hash(tok);
        return match s.store.session_user(&hash, now).await? {
            Some(user) => Ok(Principal::Session {
                user,
                token_hash: hash,
            }),
            None => Err(ApiError::Unauthorized(
                "the session expired or ended; log in again".into(),
            )),
        };
    }
    let path = uri.path();
    if let (Some(rest), Some(tok)) = (
        path.strip_prefix("/live/"),
        query_param(uri.query(), "token"),
    ) {
        let first = rest.split('/').next().unwrap_or_default();
        let session = first.strip_suffix(".mp4").unwrap_or(first);
        if s.live_signer.verify(session, tok, now) {
            return Ok(Principal::LiveToken);
        }
        return Err(ApiError::Unauthorized(
            "the live token is invalid or expired".into(),
        ));
    }
    Err(ApiError::Unauthorized(NO_CREDENTIALS.into()))
}

/// Lets a request through only with valid credentials (see the module documentation).
pub async fn require_auth(State(s): State<ApiState>, mut req: Request, next: Next) -> Response {
    if is_public(req.method(), req.uri().path()) {
        return next.run(req).await;
    }
    let (headers, uri) = (req.headers().clone(), req.uri().clone());
    match authenticate(&s, &headers, &uri).await {
        Ok(p) => {
            req.extensions_mut().insert(p);
            next.run(req).await
        }
        Err(e) => {
            if matches!(e, ApiError::Unauthorized(_) | ApiError::Forbidden(_)) {
                tracing::debug!(path = %uri.path(), "refused: {e}");
            }
            e.into_response()
        }
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginBody {
    pub user: String,
    pub password: String,
}

/// Checks a password off the async runtime (argon2 is slow on purpose).
pub(super) async fn check_password(password: String, hash: String) -> bool {
    tokio::task::spawn_blocking(move || verify_password(&password, &hash))
        .await
        .unwrap_or(false)
}

/// Logs in: sets an HttpOnly, SameSite=Strict session cookie.
#[utoipa::path(post, path = "/api/v1/login", tag = "auth", request_body = LoginBody,
    responses((status = 200, description = "Logged in; the cookie is set", body = Object),
    (status = 400, description = "Bad input", body = super::openapi::ErrorBody),
    (status = 401, description = "Wrong user or password", body = super::openapi::ErrorBody),
    (status = 422, description = "Bad input", body = super::openapi::ErrorBody)))]
pub(super) async fn login(
    State(s): State<ApiState>,
    ApiJson(body): ApiJson<LoginBody>,
) -> Result<Response, ApiError> {
    let wrong = || ApiError::Unauthorized("wrong user or password".into());
    let user = s.store.get_user_by_name(&body.user).await?;
    // Hash even for an unknown user, so timing does not tell which names exist.
    let hash = user
        .as_ref()
        .map(|u| u.password_hash.0.clone())
        .unwrap_or_else(|| DUMMY_HASH.get_or_init(|| hash_password("x")).clone());
    let ok = check_password(body.password, hash).await;
    let user = user.filter(|_| ok).ok_or_else(wrong)?;
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
    tracing::info!(user = %user.username, "login");
    let cookie = format!(
        "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}",
        ttl.as_secs()
    );
    Ok((
        [(header::SET_COOKIE, cookie)],
        Json(json!({ "user": user })),
    )
        .into_response())
}

static DUMMY_HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Ends the session of the cookie (if any) and clears the cookie.
#[utoipa::path(post, path = "/api/v1/logout", tag = "auth",
    responses((status = 204, description = "Logged out"),
    (status = 401, description = "No credentials", body = super::openapi::ErrorBody)))]
pub(super) async fn logout(
    State(s): State<ApiState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if let Some(tok) = cookie(&headers, SESSION_COOKIE) {
        s.store.delete_session(&token_hash(tok)).await?;
    }
    let clear = format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    Ok((StatusCode::NO_CONTENT, [(header::SET_COOKIE, clear)]).into_response())
}
