//! Users, dashboard sessions and API keys. Secrets never reach the database in the clear:
//! passwords as argon2 hashes, session tokens and API keys as SHA-256 hex (see
//! [`crate::auth`]).

use serde::Serialize;

use super::{Result, Store, StoreError, StoredPassword, on_pool};

/// One row of `users`. The hash is neither serialized nor printed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct UserRecord {
    pub id: i64,
    pub username: String,
    #[serde(skip)]
    #[schema(ignore)]
    pub password_hash: StoredPassword,
    pub is_admin: bool,
    pub created_at: i64,
}

/// One row of `api_keys`, without the key's hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct ApiKeyRecord {
    pub id: i64,
    pub name: String,
    /// The key's first characters, to tell keys apart.
    pub prefix: String,
    pub user_id: Option<i64>,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    /// Set when revoked; a revoked key is refused with 403.
    pub revoked_at: Option<i64>,
}

/// The outcome of a change that must leave at least one admin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserChange {
    /// Done; the user as it is now (as it was, for a deletion).
    Done(UserRecord),
    NotFound,
    /// Refused: no admin would be left.
    LastAdmin,
}

/// What [`Store::update_user`] changes; `None` leaves a field alone.
#[derive(Debug, Clone, Default)]
pub struct UserPatch {
    /// A new argon2 hash (never printed).
    pub password_hash: Option<StoredPassword>,
    pub is_admin: Option<bool>,
}

enum Change<'a> {
    Delete,
    /// The patch and the session to keep when the password changes.
    Update(&'a UserPatch, Option<&'a str>),
}

const USER_COLUMNS: &str = "id, username, password_hash, is_admin, created_at";
const KEY_COLUMNS: &str = "id, name, prefix, user_id, created_at, last_used_at, revoked_at";

fn conflict(e: sqlx::Error, what: String) -> StoreError {
    match e {
        sqlx::Error::Database(d) if d.is_unique_violation() => StoreError::Conflict(what),
        other => StoreError::Db(other),
    }
}

impl Store {
    /// Creates a user; an existing name is a [`StoreError::Conflict`].
    pub async fn insert_user(
        &self,
        username: &str,
        password_hash: &str,
        is_admin: bool,
        now: i64,
    ) -> Result<UserRecord> {
        let sql = sqlx::AssertSqlSafe(format!(
            "INSERT INTO users (username, password_hash, is_admin, created_at) \
             VALUES ($1, $2, $3, $4) RETURNING {USER_COLUMNS}"
        ));
        on_pool!(self, pool => sqlx::query_as::<_, UserRecord>(sql)
            .bind(username)
            .bind(password_hash)
            .bind(is_admin)
            .bind(now)
            .fetch_one(pool)
            .await
            .map_err(|e| conflict(e, format!("user {username}"))))
    }

    pub async fn count_users(&self) -> Result<i64> {
        let sql = "SELECT COUNT(*) FROM users";
        Ok(on_pool!(self, pool => sqlx::query_scalar::<_, i64>(sql).fetch_one(pool).await?))
    }

    pub async fn list_users(&self) -> Result<Vec<UserRecord>> {
        let sql = sqlx::AssertSqlSafe(format!("SELECT {USER_COLUMNS} FROM users ORDER BY id"));
        Ok(on_pool!(self, pool => sqlx::query_as::<_, UserRecord>(sql).fetch_all(pool).await?))
    }

    pub async fn get_user_by_name(&self, username: &str) -> Result<Option<UserRecord>> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {USER_COLUMNS} FROM users WHERE username = $1"
        ));
        Ok(on_pool!(self, pool => sqlx::query_as::<_, UserRecord>(sql)
            .bind(username)
            .fetch_optional(pool)
            .await?))
    }

    pub async fn get_user(&self, id: i64) -> Result<Option<UserRecord>> {
        let sql = sqlx::AssertSqlSafe(format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"));
        Ok(on_pool!(self, pool => sqlx::query_as::<_, UserRecord>(sql)
            .bind(id)
            .fetch_optional(pool)
            .await?))
    }

    /// Deletes a user with their sessions and keys, unless they are the last admin.
    pub async fn delete_user_keeping_an_admin(&self, id: i64) -> Result<UserChange> {
        self.change_keeping_an_admin(id, Change::Delete).await
    }

    /// Changes a user's password and/or admin flag, unless that demotes the last admin. A
    /// new password ends the user's sessions except `keep_session` (a token hash: the
    /// session that made the change).
    pub async fn update_user(
        &self,
        id: i64,
        patch: &UserPatch,
        keep_session: Option<&str>,
    ) -> Result<UserChange> {
        self.change_keeping_an_admin(id, Change::Update(patch, keep_session))
            .await
    }

    /// One transaction: lock the admins, apply the change (a deletion when `change` gives
    /// `None`), and roll back when no admin is left. Locking the admin rows first (a write:
    /// row locks on PostgreSQL, the write lock on SQLite) makes concurrent demotions of
    /// the last two admins wait for each other instead of both succeeding.
    async fn change_keeping_an_admin(&self, id: i64, change: Change<'_>) -> Result<UserChange> {
        let select = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query("UPDATE users SET is_admin = is_admin WHERE is_admin")
                .execute(&mut *tx)
                .await?;
            let Some(before) = sqlx::query_as::<_, UserRecord>(sqlx::AssertSqlSafe(select.clone()))
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?
            else {
                return Ok(UserChange::NotFound);
            };
            let after = match change {
                Change::Delete => {
                    sqlx::query("DELETE FROM users WHERE id = $1")
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                    before
                }
                Change::Update(patch, keep_session) => {
                    if let Some(hash) = &patch.password_hash {
                        sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
                            .bind(hash)
                            .bind(id)
                            .execute(&mut *tx)
                            .await?;
                        sqlx::query(
                            "DELETE FROM sessions WHERE user_id = $1 AND token_hash <> $2",
                        )
                        .bind(id)
                        .bind(keep_session.unwrap_or(""))
                        .execute(&mut *tx)
                        .await?;
                    }
                    if let Some(admin) = patch.is_admin {
                        sqlx::query("UPDATE users SET is_admin = $1 WHERE id = $2")
                            .bind(admin)
                            .bind(id)
                            .execute(&mut *tx)
                            .await?;
                    }
                    sqlx::query_as::<_, UserRecord>(sqlx::AssertSqlSafe(select))
                        .bind(id)
                        .fetch_one(&mut *tx)
                        .await?
                }
            };
            let admins: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE is_admin")
                .fetch_one(&mut *tx)
                .await?;
            if admins == 0 {
                tx.rollback().await?;
                return Ok(UserChange::LastAdmin);
            }
            tx.commit().await?;
            Ok(UserChange::Done(after))
        })
    }

    /// Sets `username`'s password and ends their sessions; creates the user as an admin
    /// when there is none of that name. Returns the user and whether it was created.
    pub async fn reset_password(
        &self,
        username: &str,
        password_hash: &str,
        now: i64,
    ) -> Result<(UserRecord, bool)> {
        let update = sqlx::AssertSqlSafe(format!(
            "UPDATE users SET password_hash = $1 WHERE username = $2 RETURNING {USER_COLUMNS}"
        ));
        let updated = on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let u = sqlx::query_as::<_, UserRecord>(update)
                .bind(password_hash)
                .bind(username)
                .fetch_optional(&mut *tx)
                .await?;
            if let Some(u) = &u {
                sqlx::query("DELETE FROM sessions WHERE user_id = $1")
                    .bind(u.id)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            u
        });
        match updated {
            Some(u) => Ok((u, false)),
            None => Ok((
                self.insert_user(username, password_hash, true, now).await?,
                true,
            )),
        }
    }

    /// Ends every session of a user; returns how many.
    pub async fn end_sessions(&self, user_id: i64) -> Result<u64> {
        let sql = "DELETE FROM sessions WHERE user_id = $1";
        Ok(
            on_pool!(self, pool => sqlx::query(sql).bind(user_id).execute(pool).await?.rows_affected()),
        )
    }

    /// Deletes a user with their sessions and keys; false when there was none.
    pub async fn delete_user(&self, id: i64) -> Result<bool> {
        let sql = "DELETE FROM users WHERE id = $1";
        let n =
            on_pool!(self, pool => sqlx::query(sql).bind(id).execute(pool).await?.rows_affected());
        Ok(n > 0)
    }

    /// Records a session by the hash of its token.
    pub async fn insert_session(
        &self,
        token_hash: &str,
        user_id: i64,
        now: i64,
        expires_at: i64,
    ) -> Result<()> {
        let sql = "INSERT INTO sessions (token_hash, user_id, created_at, expires_at) \
                   VALUES ($1, $2, $3, $4)";
        on_pool!(self, pool => {
            sqlx::query(sql)
                .bind(token_hash)
                .bind(user_id)
                .bind(now)
                .bind(expires_at)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// The user of an unexpired session.
    pub async fn session_user(&self, token_hash: &str, now: i64) -> Result<Option<UserRecord>> {
        let sql = "SELECT u.id, u.username, u.password_hash, u.is_admin, u.created_at \
                   FROM sessions s JOIN users u ON u.id = s.user_id \
                   WHERE s.token_hash = $1 AND s.expires_at > $2";
        Ok(on_pool!(self, pool => sqlx::query_as::<_, UserRecord>(sql)
            .bind(token_hash)
            .bind(now)
            .fetch_optional(pool)
            .await?))
    }

    /// When an unexpired session expires (`expires_at`); `None` when it ended or expired.
    /// Long-lived responses opened with the session ask this to know when to end.
    pub async fn session_expires_at(&self, token_hash: &str, now: i64) -> Result<Option<i64>> {
        let sql = "SELECT expires_at FROM sessions WHERE token_hash = $1 AND expires_at > $2";
        Ok(on_pool!(self, pool => sqlx::query_scalar::<_, i64>(sql)
            .bind(token_hash)
            .bind(now)
            .fetch_optional(pool)
            .await?))
    }

    /// Ends a session; false when there was none.
    pub async fn delete_session(&self, token_hash: &str) -> Result<bool> {
        let sql = "DELETE FROM sessions WHERE token_hash = $1";
        let n = on_pool!(self, pool => sqlx::query(sql).bind(token_hash).execute(pool).await?.rows_affected());
        Ok(n > 0)
    }

    /// Forgets sessions that expired before `now`; returns how many.
    pub async fn purge_sessions(&self, now: i64) -> Result<u64> {
        let sql = "DELETE FROM sessions WHERE expires_at <= $1";
        Ok(on_pool!(self, pool => sqlx::query(sql).bind(now).execute(pool).await?.rows_affected()))
    }

    /// Records an API key by its hash.
    pub async fn insert_api_key(
        &self,
        name: &str,
        key_hash: &str,
        prefix: &str,
        user_id: Option<i64>,
        now: i64,
    ) -> Result<ApiKeyRecord> {
        let sql = sqlx::AssertSqlSafe(format!(
            "INSERT INTO api_keys (name, key_hash, prefix, user_id, created_at) \
             VALUES ($1, $2, $3, $4, $5) RETURNING {KEY_COLUMNS}"
        ));
        on_pool!(self, pool => sqlx::query_as::<_, ApiKeyRecord>(sql)
            .bind(name)
            .bind(key_hash)
            .bind(prefix)
            .bind(user_id)
            .bind(now)
            .fetch_one(pool)
            .await
            .map_err(|e| conflict(e, "api key".into())))
    }

    /// Every key, revoked ones included, oldest first.
    pub async fn list_api_keys(&self) -> Result<Vec<ApiKeyRecord>> {
        let sql = sqlx::AssertSqlSafe(format!("SELECT {KEY_COLUMNS} FROM api_keys ORDER BY id"));
        Ok(on_pool!(self, pool => sqlx::query_as::<_, ApiKeyRecord>(sql).fetch_all(pool).await?))
    }

    /// The keys of one owner (`None`: keys without an owner), revoked ones included.
    pub async fn list_api_keys_of(&self, owner: Option<i64>) -> Result<Vec<ApiKeyRecord>> {
        let sql = sqlx::AssertSqlSafe(match owner {
            Some(_) => format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE user_id = $1 ORDER BY id"),
            None => format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE user_id IS NULL ORDER BY id"),
        });
        Ok(on_pool!(self, pool => {
            let q = sqlx::query_as::<_, ApiKeyRecord>(sql);
            let q = match owner {
                Some(id) => q.bind(id),
                None => q,
            };
            q.fetch_all(pool).await?
        }))
    }

    pub async fn get_api_key(&self, id: i64) -> Result<Option<ApiKeyRecord>> {
        let sql = sqlx::AssertSqlSafe(format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE id = $1"));
        Ok(
            on_pool!(self, pool => sqlx::query_as::<_, ApiKeyRecord>(sql)
            .bind(id)
            .fetch_optional(pool)
            .await?),
        )
    }

    /// The key with this hash, revoked or not.
    pub async fn api_key_by_hash(&self, key_hash: &str) -> Result<Option<ApiKeyRecord>> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {KEY_COLUMNS} FROM api_keys WHERE key_hash = $1"
        ));
        Ok(
            on_pool!(self, pool => sqlx::query_as::<_, ApiKeyRecord>(sql)
            .bind(key_hash)
            .fetch_optional(pool)
            .await?),
        )
    }

    pub async fn touch_api_key(&self, id: i64, now: i64) -> Result<()> {
        let sql = "UPDATE api_keys SET last_used_at = $1 WHERE id = $2";
        on_pool!(self, pool => {
            sqlx::query(sql).bind(now).bind(id).execute(pool).await?;
        });
        Ok(())
    }

    /// Marks a key revoked (the row stays). `None`: no such key; revoking twice keeps the
    /// first time.
    pub async fn revoke_api_key(&self, id: i64, now: i64) -> Result<Option<ApiKeyRecord>> {
        let sql = sqlx::AssertSqlSafe(format!(
            "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2 \
             RETURNING {KEY_COLUMNS}"
        ));
        Ok(
            on_pool!(self, pool => sqlx::query_as::<_, ApiKeyRecord>(sql)
            .bind(now)
            .bind(id)
            .fetch_optional(pool)
            .await?),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tests::PgTestDb;

    async fn exercise(store: &Store) {
        assert_eq!(store.count_users().await.unwrap(), 0);
        let admin = store
            .insert_user("admin", "$argon2id$x", true, 1000)
            .await
            .unwrap();
        assert!(admin.is_admin);
        assert_eq!(admin.username, "admin");
        let e = store
            .insert_user("admin", "h", false, 1000)
            .await
            .unwrap_err();
        assert!(matches!(e, StoreError::Conflict(_)), "{e:?}");
        let bob = store.insert_user("bob", "h2", false, 1001).await.unwrap();
        assert_eq!(store.count_users().await.unwrap(), 2);
        let json = serde_json::to_string(&admin).unwrap();
        assert!(!json.contains("argon2"), "{json}");
        assert!(!format!("{admin:?}").contains("argon2"));
        assert_eq!(
            store
                .get_user_by_name("admin")
                .await
                .unwrap()
                .unwrap()
                .password_hash,
            StoredPassword("$argon2id$x".into())
        );
        assert_eq!(
            store.get_user(bob.id).await.unwrap().unwrap().username,
            "bob"
        );

        // Sessions: valid until expiry, gone after logout.
        store
            .insert_session("s1", admin.id, 1000, 2000)
            .await
            .unwrap();
        store
            .insert_session("s2", bob.id, 1000, 1500)
            .await
            .unwrap();
        assert_eq!(
            store.session_user("s1", 1999).await.unwrap().unwrap().id,
            admin.id
        );
        assert!(store.session_user("s1", 2000).await.unwrap().is_none());
        assert!(store.session_user("nope", 0).await.unwrap().is_none());
        assert_eq!(store.purge_sessions(1600).await.unwrap(), 1);
        assert!(store.delete_session("s1").await.unwrap());
        assert!(!store.delete_session("s1").await.unwrap());

        // API keys: revoked keys stay as rows.
        let k = store
            .insert_api_key("ci", "hash1", "vgl_abcd", Some(admin.id), 3000)
            .await
            .unwrap();
        assert_eq!(k.revoked_at, None);
        assert_eq!(
            store.api_key_by_hash("hash1").await.unwrap().unwrap().id,
            k.id
        );
        store.touch_api_key(k.id, 3500).await.unwrap();
        let r = store.revoke_api_key(k.id, 4000).await.unwrap().unwrap();
        assert_eq!(r.revoked_at, Some(4000));
        assert_eq!(r.last_used_at, Some(3500));
        let r = store.revoke_api_key(k.id, 5000).await.unwrap().unwrap();
        assert_eq!(r.revoked_at, Some(4000));
        assert!(
            store
                .revoke_api_key(k.id + 100, 5000)
                .await
                .unwrap()
                .is_none()
        );
        assert_eq!(
            store
                .api_key_by_hash("hash1")
                .await
                .unwrap()
                .unwrap()
                .revoked_at,
            Some(4000)
        );
        assert_eq!(store.list_api_keys().await.unwrap().len(), 1);

        // Deleting a user takes their sessions and keys.
        store
            .insert_session("s3", bob.id, 1000, 9000)
            .await
            .unwrap();
        store
            .insert_api_key("b", "hash2", "vgl_b", Some(bob.id), 1)
            .await
            .unwrap();
        assert_eq!(store.list_api_keys_of(Some(bob.id)).await.unwrap().len(), 1);
        assert_eq!(
            store.list_api_keys_of(Some(admin.id)).await.unwrap()[0].id,
            k.id
        );
        assert!(store.list_api_keys_of(None).await.unwrap().is_empty());
        assert_eq!(store.get_api_key(k.id).await.unwrap().unwrap().name, "ci");
        assert!(store.get_api_key(k.id + 100).await.unwrap().is_none());
        assert!(store.delete_user(bob.id).await.unwrap());
        assert!(!store.delete_user(bob.id).await.unwrap());
        assert!(store.session_user("s3", 0).await.unwrap().is_none());
        assert!(store.api_key_by_hash("hash2").await.unwrap().is_none());
        assert_eq!(store.list_users().await.unwrap().len(), 1);

        // The last admin stays.
        assert_eq!(
            store.delete_user_keeping_an_admin(admin.id).await.unwrap(),
            UserChange::LastAdmin
        );
        let demote = UserPatch {
            is_admin: Some(false),
            ..UserPatch::default()
        };
        assert_eq!(
            store.update_user(admin.id, &demote, None).await.unwrap(),
            UserChange::LastAdmin
        );
        assert!(store.get_user(admin.id).await.unwrap().unwrap().is_admin);
        assert_eq!(
            store.update_user(9999, &demote, None).await.unwrap(),
            UserChange::NotFound
        );
        assert_eq!(
            store.delete_user_keeping_an_admin(9999).await.unwrap(),
            UserChange::NotFound
        );
        // Two admins demoted at once: one of them stays admin.
        let carol = store.insert_user("carol", "h3", true, 1).await.unwrap();
        let (a, c) = tokio::join!(
            store.update_user(admin.id, &demote, None),
            store.update_user(carol.id, &demote, None)
        );
        let outcomes = [a.unwrap(), c.unwrap()];
        assert_eq!(
            outcomes
                .iter()
                .filter(|o| **o == UserChange::LastAdmin)
                .count(),
            1,
            "{outcomes:?}"
        );
        let admins = store.list_users().await.unwrap();
        assert_eq!(admins.iter().filter(|u| u.is_admin).count(), 1);
        let (kept, other) = if admins.iter().any(|u| u.id == carol.id && u.is_admin) {
            (carol.id, admin.id)
        } else {
            (admin.id, carol.id)
        };
        match store.delete_user_keeping_an_admin(other).await.unwrap() {
            UserChange::Done(u) => assert_eq!(u.id, other),
            o => panic!("{o:?}"),
        }

        // A new password ends the user's sessions but the one given.
        for t in ["k1", "k2", "k3"] {
            store.insert_session(t, kept, 1, 9000).await.unwrap();
        }
        let pw = UserPatch {
            password_hash: Some(StoredPassword("new-hash".into())),
            ..UserPatch::default()
        };
        let UserChange::Done(u) = store.update_user(kept, &pw, Some("k2")).await.unwrap() else {
            panic!("update");
        };
        assert_eq!(u.password_hash, StoredPassword("new-hash".into()));
        assert!(u.is_admin);
        assert!(store.session_user("k1", 0).await.unwrap().is_none());
        assert!(store.session_user("k2", 0).await.unwrap().is_some());
        assert!(store.session_user("k3", 0).await.unwrap().is_none());
        assert_eq!(store.end_sessions(kept).await.unwrap(), 1);

        // Reset: an existing user keeps their role and loses their sessions; a missing one
        // becomes an admin.
        let dave = store.insert_user("dave", "h4", false, 1).await.unwrap();
        store.insert_session("d1", dave.id, 1, 9000).await.unwrap();
        let (u, created) = store.reset_password("dave", "reset", 2).await.unwrap();
        assert!(!created && !u.is_admin && u.id == dave.id);
        assert_eq!(u.password_hash, StoredPassword("reset".into()));
        assert!(store.session_user("d1", 0).await.unwrap().is_none());
        let (u, created) = store.reset_password("root", "r", 3).await.unwrap();
        assert!(created && u.is_admin);
        assert_eq!(
            store.get_user_by_name("root").await.unwrap().unwrap().id,
            u.id
        );
    }

    #[tokio::test]
    async fn sqlite_auth_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/vigil.db", dir.path().display());
        let store = Store::connect(&url, 2).await.unwrap();
        exercise(&store).await;
        store.close().await;
    }

    /// Another admin's demotion holds its transaction open: ours waits for it and then
    /// sees that it would remove the last admin, instead of both committing.
    #[tokio::test]
    async fn postgres_concurrent_demotions_leave_an_admin() {
        let db = PgTestDb::create().await;
        let store = Store::connect(&db.url, 4).await.unwrap();
        let a = store.insert_user("a", "h", true, 1).await.unwrap();
        let b = store.insert_user("b", "h", true, 1).await.unwrap();
        let crate::store::Backend::Postgres(pool) = &store.backend else {
            unreachable!()
        };
        // The other demotion, past its own check, not yet committed.
        let mut tx = pool.begin().await.unwrap();
        sqlx::query("UPDATE users SET is_admin = FALSE WHERE id = $1")
            .bind(a.id)
            .execute(&mut *tx)
            .await
            .unwrap();
        let demote = UserPatch {
            is_admin: Some(false),
            ..UserPatch::default()
        };
        let theirs = {
            let store = store.clone();
            tokio::spawn(async move { store.update_user(b.id, &demote, None).await })
        };
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        assert!(!theirs.is_finished(), "waits for the other transaction");
        tx.commit().await.unwrap();
        assert_eq!(theirs.await.unwrap().unwrap(), UserChange::LastAdmin);
        assert!(store.get_user(b.id).await.unwrap().unwrap().is_admin);
        store.close().await;
        db.drop_db().await;
    }

    #[tokio::test]
    async fn postgres_auth_round_trips() {
        let db = PgTestDb::create().await;
        let store = Store::connect(&db.url, 2).await.unwrap();
        exercise(&store).await;
        store.close().await;
        db.drop_db().await;
    }
}
