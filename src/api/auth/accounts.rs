//! Accounts: `GET /api/v1/me`, users (`/api/v1/users`, admin only, except that anyone may
//! change their own password) and API keys (`/api/v1/api-keys`: an admin sees and revokes
//! every key, anyone else only their own; someone else's key is a 404, so key IDs tell
//! nothing). At least one admin always remains: deleting or demoting the last one is a 409.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::{Caller, ClientAddr, CredentialEnd, Principal, check_password, client_ip};
use crate::api::json::ApiJson;
use crate::api::openapi::ErrorBody;
use crate::api::{ApiError, ApiState};
use crate::auth::{API_KEY_PREFIX, check_new_password, hash_password, new_api_key, token_hash};
use crate::platform::unix_ms;
use crate::store::auth::{ApiKeyRecord, UserChange, UserPatch, UserRecord};
use crate::store::{StoreError, StoredPassword};

/// `GET /api/v1/me`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Me {
    /// The logged-in user, or the API key's owner; null with auth off or for a key
    /// without an owner.
    pub user: Option<UserRecord>,
    /// The API key the request came with (absent for a dashboard login).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_key: Option<KeyRef>,
    /// false: everything is open and there is nobody to log in as.
    pub auth_enabled: bool,
}

/// Which API key a request used.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct KeyRef {
    pub id: i64,
    pub name: String,
    /// The key's first characters.
    pub prefix: String,
}

/// Who the credentials of this request belong to. The dashboard asks this first: 401 means
/// "show the login page".
#[utoipa::path(get, path = "/api/v1/me", tag = "auth",
    responses((status = 200, description = "The caller", body = Me),
    (status = 401, description = "No or wrong credentials", body = ErrorBody),
    (status = 403, description = "A revoked API key", body = ErrorBody)))]
pub async fn me(caller: Caller) -> Json<Me> {
    let api_key = match caller.principal() {
        Some(Principal::Key { key, .. }) => Some(KeyRef {
            id: key.id,
            name: key.name.clone(),
            prefix: key.prefix.clone(),
        }),
        _ => None,
    };
    Json(Me {
        user: caller.user().cloned(),
        api_key,
        auth_enabled: matches!(caller, Caller::Authenticated(_)),
    })
}

fn parse_id(id: &str) -> Result<i64, ApiError> {
    id.parse()
        .map_err(|_| ApiError::BadRequest(format!("id: not a number: {id:?}")))
}

/// Hashes off the async runtime (argon2 is slow on purpose).
async fn hash(password: String) -> Result<StoredPassword, ApiError> {
    tokio::task::spawn_blocking(move || StoredPassword(hash_password(&password)))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewKeyBody {
    pub name: String,
}

/// API keys, revoked ones included.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct KeyList {
    pub items: Vec<ApiKeyRecord>,
    pub total: usize,
}

/// A key just created: the record plus `key`, shown this once.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct NewKey {
    #[serde(flatten)]
    pub record: ApiKeyRecord,
    /// The key: send it as `Authorization: Bearer <key>`. Stored only as a hash.
    pub key: String,
}

/// API keys without the keys themselves: every key for an admin, the caller's own
/// otherwise.
#[utoipa::path(get, path = "/api/v1/api-keys", tag = "auth",
    responses((status = 200, description = "Keys", body = KeyList),
    (status = 401, description = "No credentials", body = ErrorBody),
    (status = 403, description = "A revoked API key", body = ErrorBody)))]
pub async fn list_keys(
    State(s): State<ApiState>,
    caller: Caller,
) -> Result<Json<KeyList>, ApiError> {
    let items = if caller.is_admin() {
        s.store.list_api_keys().await?
    } else {
        s.store
            .list_api_keys_of(caller.user().map(|u| u.id))
            .await?
    };
    let total = items.len();
    Ok(Json(KeyList { items, total }))
}

/// Creates an API key owned by the caller (with auth off: by nobody, and such a key has no
/// admin rights); the answer is the only time the key is shown.
#[utoipa::path(post, path = "/api/v1/api-keys", tag = "auth", request_body = NewKeyBody,
    responses((status = 201, description = "Created; `key` is shown only now", body = NewKey),
    (status = 400, description = "Bad input", body = ErrorBody),
    (status = 401, description = "No credentials", body = ErrorBody),
    (status = 403, description = "A revoked API key", body = ErrorBody),
    (status = 422, description = "Bad input", body = ErrorBody)))]
pub async fn create_key(
    State(s): State<ApiState>,
    caller: Caller,
    ApiJson(body): ApiJson<NewKeyBody>,
) -> Result<(StatusCode, Json<NewKey>), ApiError> {
    let name = body.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ApiError::BadRequest("name: 1 to 100 characters".into()));
    }
    let key = new_api_key();
    let prefix = &key[..API_KEY_PREFIX.len() + 6];
    let record = s
        .store
        .insert_api_key(
            name,
            &token_hash(&key),
            prefix,
            caller.user().map(|u| u.id),
            unix_ms(),
        )
        .await?;
    tracing::info!(id = record.id, name, owner = ?record.user_id, "API key created");
    Ok((StatusCode::CREATED, Json(NewKey { record, key })))
}

/// Revokes a key: it stays listed, with `revoked_at`, and is refused with 403. Anyone may
/// revoke their own keys, an admin any key.
#[utoipa::path(delete, path = "/api/v1/api-keys/{id}", tag = "auth", params(("id" = i64, Path, description = "Key ID")),
    responses((status = 204, description = "Revoked"),
    (status = 400, description = "Bad ID", body = ErrorBody),
    (status = 401, description = "No credentials", body = ErrorBody),
    (status = 403, description = "A revoked API key", body = ErrorBody),
    (status = 404, description = "No such key (or not the caller's)", body = ErrorBody)))]
pub async fn revoke_key(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = parse_id(&id)?;
    let not_found = || ApiError::NotFound(format!("API key {id} not found"));
    let key = s.store.get_api_key(id).await?.ok_or_else(not_found)?;
    if !caller.is_admin() && key.user_id != caller.user().map(|u| u.id) {
        return Err(not_found());
    }
    s.store
        .revoke_api_key(id, unix_ms())
        .await?
        .ok_or_else(not_found)?;
    s.auth.credential_ended(CredentialEnd::Key { id });
    tracing::info!(id, name = %key.name, "API key revoked");
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUserBody {
    pub username: String,
    /// At least 8 characters.
    pub password: String,
    #[serde(default)]
    pub is_admin: bool,
}

/// Users, without password hashes.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UserList {
    pub items: Vec<UserRecord>,
    pub total: usize,
}

/// Users (admin only).
#[utoipa::path(get, path = "/api/v1/users", tag = "auth",
    responses((status = 200, description = "Users", body = UserList),
    (status = 401, description = "No credentials", body = ErrorBody),
    (status = 403, description = "Not an admin, or a revoked API key", body = ErrorBody)))]
pub async fn list_users(
    State(s): State<ApiState>,
    caller: Caller,
) -> Result<Json<UserList>, ApiError> {
    caller.require_admin("list users")?;
    let items = s.store.list_users().await?;
    let total = items.len();
    Ok(Json(UserList { items, total }))
}

fn check_username(name: &str) -> Result<(), ApiError> {
    let ok = (1..=64).contains(&name.chars().count())
        && name.trim() == name
        && !name.chars().any(char::is_control);
    if ok {
        Ok(())
    } else {
        Err(ApiError::BadRequest(
            "username: 1 to 64 characters, no control characters or surrounding spaces".into(),
        ))
    }
}

/// Creates a user (admin only).
#[utoipa::path(post, path = "/api/v1/users", tag = "auth", request_body = NewUserBody,
    responses((status = 201, description = "Created", body = UserRecord),
    (status = 400, description = "Bad input", body = ErrorBody),
    (status = 401, description = "No credentials", body = ErrorBody),
    (status = 403, description = "Not an admin, or a revoked API key", body = ErrorBody),
    (status = 409, description = "The name is taken", body = ErrorBody),
    (status = 422, description = "Bad input", body = ErrorBody)))]
pub async fn create_user(
    State(s): State<ApiState>,
    caller: Caller,
    ApiJson(body): ApiJson<NewUserBody>,
) -> Result<(StatusCode, Json<UserRecord>), ApiError> {
    caller.require_admin("create users")?;
    check_username(&body.username)?;
    check_new_password(&body.password)
        .map_err(|m| ApiError::BadRequest(format!("password: {m}")))?;
    let hashed = hash(body.password).await?;
    let u = s
        .store
        .insert_user(&body.username, &hashed.0, body.is_admin, unix_ms())
        .await
        .map_err(|e| match e {
            StoreError::Conflict(_) => ApiError::Conflict(format!("user {} exists", body.username)),
            other => other.into(),
        })?;
    tracing::info!(user = %u.username, is_admin = u.is_admin, "user created");
    Ok((StatusCode::CREATED, Json(u)))
}

/// `PATCH /api/v1/users/{id}`: absent fields stay as they are.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserPatchBody {
    /// A new password (at least 8 characters). Ends the user's other sessions.
    pub password: Option<String>,
    /// The caller's current password: needed to change one's own password.
    pub current_password: Option<String>,
    /// Admin only.
    pub is_admin: Option<bool>,
}

/// Changes a password or the admin flag. Anyone may change their own password (giving
/// `current_password`); an admin may set anyone's and make or unmake admins. A new
/// password ends that user's sessions, except the one making the change.
#[utoipa::path(patch, path = "/api/v1/users/{id}", tag = "auth", params(("id" = i64, Path, description = "User ID")),
    request_body = UserPatchBody,
    responses((status = 200, description = "Changed", body = UserRecord),
    (status = 400, description = "Bad input; the message names the field", body = ErrorBody),
    (status = 401, description = "No credentials", body = ErrorBody),
    (status = 403, description = "Not allowed, a wrong current_password, or a revoked API key", body = ErrorBody),
    (status = 404, description = "No such user", body = ErrorBody),
    (status = 409, description = "It would leave no admin", body = ErrorBody),
    (status = 422, description = "Bad input", body = ErrorBody),
    (status = 429, description = "Too many wrong passwords; see Retry-After", body = ErrorBody,
        headers(("Retry-After" = u64, description = "Seconds until passwords are checked again")))))]
pub async fn update_user(
    State(s): State<ApiState>,
    caller: Caller,
    addr: ClientAddr,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UserPatchBody>,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    let own = caller.user().filter(|u| u.id == id);
    if own.is_none() {
        caller.require_admin("change another user")?;
    }
    if body.is_admin.is_some() {
        caller.require_admin("make or unmake admins")?;
    }
    if body.password.is_none() && body.current_password.is_some() {
        return Err(ApiError::BadRequest(
            "current_password: only together with password".into(),
        ));
    }
    if body.password.is_none() && body.is_admin.is_none() {
        return Err(ApiError::BadRequest(
            "password, is_admin: give at least one".into(),
        ));
    }
    let mut patch = UserPatch {
        password_hash: None,
        is_admin: body.is_admin,
    };
    if let Some(new) = body.password {
        check_new_password(&new).map_err(|m| ApiError::BadRequest(format!("password: {m}")))?;
        if let Some(me) = own {
            // A stolen session must not be enough to take the account over.
            let current = body.current_password.ok_or_else(|| {
                ApiError::BadRequest("current_password: needed to change your own password".into())
            })?;
            // Guessing through this form counts against the same limits as logins.
            let ip = client_ip(&addr);
            if let Some(blocked) = s.auth.blocked(&me.username, ip) {
                return Ok(blocked);
            }
            if !check_password(current, me.password_hash.0.clone()).await {
                s.auth
                    .failed("current_password", Some(me), &me.username, ip);
                return Err(ApiError::Forbidden(
                    "current_password: wrong password".into(),
                ));
            }
        }
        patch.password_hash = Some(hash(new).await?);
    }
    let keep = match caller.principal() {
        Some(Principal::Session { user, token_hash }) if user.id == id => Some(token_hash.as_str()),
        _ => None,
    };
    match s.store.update_user(id, &patch, keep).await? {
        UserChange::Done(u) => {
            if patch.password_hash.is_some() {
                s.auth.credential_ended(CredentialEnd::SessionsOf {
                    user_id: id,
                    except: keep.map(str::to_owned),
                });
            }
            tracing::info!(
                user = %u.username,
                password_changed = patch.password_hash.is_some(),
                is_admin = u.is_admin,
                "user changed"
            );
            Ok(Json(u).into_response())
        }
        UserChange::NotFound => Err(ApiError::NotFound(format!("user {id} not found"))),
        UserChange::LastAdmin => Err(ApiError::Conflict(
            "is_admin: this is the last admin; make another user admin first".into(),
        )),
    }
}

/// Deletes a user with their sessions and keys (admin only; never the last admin).
#[utoipa::path(delete, path = "/api/v1/users/{id}", tag = "auth", params(("id" = i64, Path, description = "User ID")),
    responses((status = 204, description = "Deleted"),
    (status = 400, description = "Bad ID", body = ErrorBody),
    (status = 401, description = "No credentials", body = ErrorBody),
    (status = 403, description = "Not an admin, or a revoked API key", body = ErrorBody),
    (status = 404, description = "No such user", body = ErrorBody),
    (status = 409, description = "The last admin", body = ErrorBody)))]
pub async fn delete_user(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require_admin("delete users")?;
    let id = parse_id(&id)?;
    match s.store.delete_user_keeping_an_admin(id).await? {
        UserChange::Done(u) => {
            s.auth.credential_ended(CredentialEnd::User { user_id: id });
            tracing::info!(user = %u.username, "user deleted");
            Ok(StatusCode::NO_CONTENT)
        }
        UserChange::NotFound => Err(ApiError::NotFound(format!("user {id} not found"))),
        UserChange::LastAdmin => Err(ApiError::Conflict(
            "this is the last admin; make another user admin first".into(),
        )),
    }
}
