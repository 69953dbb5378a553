//! Authentication: `POST /api/v1/login` (session cookie), `POST /api/v1/logout`, API keys
//! (`/api/v1/api-keys`) and users (`/api/v1/users`), and [`require_auth`], the middleware
//! that asks for a session or a key on everything under /api/v1 and /live except health,
//! login and the OpenAPI document. A key that was revoked gets 403, anything else missing
//! or wrong 401. A live URL may instead carry a signed `?token=` (see [`crate::auth`]).

use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::json::ApiJson;
use super::{ApiError, ApiState};
use crate::auth::{
    SESSION_COOKIE, hash_password, new_api_key, random_token, token_hash, verify_password,
};
use crate::platform::unix_ms;
use crate::store::StoreError;
use crate::store::auth::{ApiKeyRecord, UserRecord};

pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/api/v1/login", post(login))
        .route("/api/v1/logout", post(logout))
        .route("/api/v1/api-keys", get(list_keys).post(create_key))
        .route("/api/v1/api-keys/{id}", delete(revoke_key))
        .route("/api/v1/users", get(list_users).post(create_user))
        .route("/api/v1/users/{id}", delete(delete_user))
}

/// Who made a request, put into the request's extensions by [`require_auth`].
#[derive(Debug, Clone)]
pub enum Principal {
    User(UserRecord),
    Key(ApiKeyRecord),
    /// A signed live-view token for one session.
    LiveToken,
}

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
        s.store.touch_api_key(rec.id, now).await?;
        return Ok(Principal::Key(rec));
    }
    if let Some(tok) = cookie(headers, SESSION_COOKIE) {
        return match s.store.session_user(&token_hash(tok), now).await? {
            Some(u) => Ok(Principal::User(u)),
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
    Err(ApiError::Unauthorized(
        "credentials needed: log in, or send Authorization: Bearer <API key>".into(),
    ))
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
async fn check_password(password: String, hash: String) -> bool {
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

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewKeyBody {
    pub name: String,
}

fn principal_user(p: Option<axum::Extension<Principal>>) -> Option<i64> {
    match p.map(|e| e.0) {
        Some(Principal::User(u)) => Some(u.id),
        Some(Principal::Key(k)) => k.user_id,
        _ => None,
    }
}

/// Every API key (revoked ones too), without the keys themselves.
#[utoipa::path(get, path = "/api/v1/api-keys", tag = "auth",
    responses((status = 200, description = "Keys", body = Object),
    (status = 401, description = "No credentials", body = super::openapi::ErrorBody)))]
pub(super) async fn list_keys(State(s): State<ApiState>) -> Result<Json<Value>, ApiError> {
    let items = s.store.list_api_keys().await?;
    let total = items.len();
    Ok(Json(json!({ "items": items, "total": total })))
}

/// Creates an API key; the answer is the only time the key is shown.
#[utoipa::path(post, path = "/api/v1/api-keys", tag = "auth", request_body = NewKeyBody,
    responses((status = 201, description = "Created; `key` is shown only now", body = Object),
    (status = 400, description = "Bad input", body = super::openapi::ErrorBody),
    (status = 401, description = "No credentials", body = super::openapi::ErrorBody),
    (status = 422, description = "Bad input", body = super::openapi::ErrorBody)))]
pub(super) async fn create_key(
    State(s): State<ApiState>,
    p: Option<axum::Extension<Principal>>,
    ApiJson(body): ApiJson<NewKeyBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    if body.name.trim().is_empty() {
        return Err(ApiError::BadRequest("name: must not be empty".into()));
    }
    let key = new_api_key();
    let prefix = &key[..crate::auth::API_KEY_PREFIX.len() + 6];
    let rec = s
        .store
        .insert_api_key(
            &body.name,
            &token_hash(&key),
            prefix,
            principal_user(p),
            unix_ms(),
        )
        .await?;
    let mut v = serde_json::to_value(&rec).map_err(|e| ApiError::Internal(e.to_string()))?;
    v["key"] = Value::String(key);
    Ok((StatusCode::CREATED, Json(v)))
}

/// Revokes a key: it stays listed, with `revoked_at`, and is refused with 403.
#[utoipa::path(delete, path = "/api/v1/api-keys/{id}", tag = "auth", params(("id" = i64, Path, description = "Key ID")),
    responses((status = 204, description = "Revoked"),
    (status = 400, description = "Bad ID", body = super::openapi::ErrorBody),
    (status = 401, description = "No credentials", body = super::openapi::ErrorBody),
    (status = 404, description = "No such key", body = super::openapi::ErrorBody)))]
pub(super) async fn revoke_key(
    State(s): State<ApiState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id: i64 = id
        .parse()
        .map_err(|_| ApiError::BadRequest(format!("id: not a number: {id:?}")))?;
    match s.store.revoke_api_key(id, unix_ms()).await? {
        Some(_) => Ok(StatusCode::NO_CONTENT),
        None => Err(ApiError::NotFound(format!("API key {id} not found"))),
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUserBody {
    pub username: String,
    pub password: String,
    #[serde(default)]
    pub is_admin: bool,
}

/// Users (without password hashes).
#[utoipa::path(get, path = "/api/v1/users", tag = "auth",
    responses((status = 200, description = "Users", body = Object),
    (status = 401, description = "No credentials", body = super::openapi::ErrorBody)))]
pub(super) async fn list_users(State(s): State<ApiState>) -> Result<Json<Value>, ApiError> {
    let items = s.store.list_users().await?;
    let total = items.len();
    Ok(Json(json!({ "items": items, "total": total })))
}

/// Creates a user.
#[utoipa::path(post, path = "/api/v1/users", tag = "auth", request_body = NewUserBody,
    responses((status = 201, description = "Created", body = UserRecord),
    (status = 400, description = "Bad input", body = super::openapi::ErrorBody),
    (status = 401, description = "No credentials", body = super::openapi::ErrorBody),
    (status = 409, description = "The name is taken", body = super::openapi::ErrorBody),
    (status = 422, description = "Bad input", body = super::openapi::ErrorBody)))]
pub(super) async fn create_user(
    State(s): State<ApiState>,
    ApiJson(body): ApiJson<NewUserBody>,
) -> Result<(StatusCode, Json<UserRecord>), ApiError> {
    if body.username.trim().is_empty() {
        return Err(ApiError::BadRequest("username: must not be empty".into()));
    }
    if body.password.chars().count() < 8 {
        return Err(ApiError::BadRequest(
            "password: at least 8 characters".into(),
        ));
    }
    let pw = body.password;
    let hash = tokio::task::spawn_blocking(move || hash_password(&pw))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let u = s
        .store
        .insert_user(&body.username, &hash, body.is_admin, unix_ms())
        .await
        .map_err(|e| match e {
            StoreError::Conflict(_) => ApiError::Conflict(format!("user {} exists", body.username)),
            other => other.into(),
        })?;
    Ok((StatusCode::CREATED, Json(u)))
}

/// Deletes a user with their sessions and keys.
#[utoipa::path(delete, path = "/api/v1/users/{id}", tag = "auth", params(("id" = i64, Path, description = "User ID")),
    responses((status = 204, description = "Deleted"),
    (status = 400, description = "Bad ID", body = super::openapi::ErrorBody),
    (status = 401, description = "No credentials", body = super::openapi::ErrorBody),
    (status = 404, description = "No such user", body = super::openapi::ErrorBody)))]
pub(super) async fn delete_user(
    State(s): State<ApiState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id: i64 = id
        .parse()
        .map_err(|_| ApiError::BadRequest(format!("id: not a number: {id:?}")))?;
    if s.store.delete_user(id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound(format!("user {id} not found")))
    }
}
