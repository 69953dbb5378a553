//! Credentials of long-lived responses (the SSE stream, live WebSockets, endless `.mp4`):
//! they are checked once when the response starts, so each such response holds a
//! [`CredentialWatch`] that ends when the session or key it was opened with ends. Three ways:
//! the auth handlers broadcast a [`CredentialEnd`] (logout, key revoked, user deleted,
//! password changed) that watches in this process take at once; a session's `expires_at`
//! ends it on time; and the store is asked again every [`RECHECK`], for ends this process
//! did not see (another vigil node on the same PostgreSQL, `vigil reset-password`).
//!
//! A signed live `?token=` is only for opening a URL: it carries no session or key, and a
//! stream opened with it runs until the live session ends or the viewer leaves, past the
//! token's expiry (players do not expect to be cut off after `[auth] live_token_ttl`).

use std::future::pending;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;
use tokio::time::{Instant, sleep_until};

use super::Principal;
use crate::platform::unix_ms;
use crate::store::Store;

/// How often a stream asks the store whether its credential still holds.
pub const RECHECK: Duration = Duration::from_secs(30);

/// Ends broadcast in one process; more than this many unread makes a watch ask the store.
const END_QUEUE: usize = 64;

/// A credential that just ended, broadcast by the handler that ended it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialEnd {
    /// One session, by its token hash (logout).
    Session { token_hash: String },
    /// A user's sessions except `except` (a new password; the session that set it stays).
    SessionsOf {
        user_id: i64,
        except: Option<String>,
    },
    /// One API key (revoked).
    Key { id: i64 },
    /// A user, with all their sessions and keys (deleted).
    User { user_id: i64 },
}

/// Why a stream's credential ended: said in the SSE `credentials_ended` event and the
/// WebSocket close reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    SessionEnded,
    SessionExpired,
    KeyRevoked,
    UserDeleted,
}

impl Ended {
    pub fn reason(self) -> &'static str {
        match self {
            Ended::SessionEnded => "session_ended",
            Ended::SessionExpired => "session_expired",
            Ended::KeyRevoked => "key_revoked",
            Ended::UserDeleted => "user_deleted",
        }
    }

    /// For people (a WebSocket close reason, so under 123 bytes).
    pub fn message(self) -> &'static str {
        match self {
            Ended::SessionEnded => "the session ended; log in again",
            Ended::SessionExpired => "the session expired; log in again",
            Ended::KeyRevoked => "the API key was revoked",
            Ended::UserDeleted => "the user was deleted",
        }
    }
}

/// What a stream was opened with, as far as ending it goes.
#[derive(Debug, Clone)]
enum Held {
    Session {
        token_hash: String,
        user_id: i64,
    },
    Key {
        id: i64,
        owner: Option<i64>,
    },
    /// A live token, or auth off: nothing to end it.
    Unbounded,
}

impl Held {
    fn of(principal: &Principal) -> Held {
        match principal {
            Principal::Session { user, token_hash } => Held::Session {
                token_hash: token_hash.clone(),
                user_id: user.id,
            },
            Principal::Key { key, .. } => Held::Key {
                id: key.id,
                owner: key.user_id,
            },
            Principal::LiveToken => Held::Unbounded,
        }
    }

    /// Whether `end` ends this credential, and as what.
    fn ended_by(&self, end: &CredentialEnd) -> Option<Ended> {
        match (self, end) {
            (Held::Session { token_hash, .. }, CredentialEnd::Session { token_hash: t })
                if t == token_hash =>
            {
                Some(Ended::SessionEnded)
            }
            (
                Held::Session {
                    token_hash,
                    user_id,
                },
                CredentialEnd::SessionsOf { user_id: u, except },
            ) if u == user_id && except.as_deref() != Some(token_hash.as_str()) => {
                Some(Ended::SessionEnded)
            }
            (Held::Session { user_id, .. }, CredentialEnd::User { user_id: u })
            | (
                Held::Key {
                    owner: Some(user_id),
                    ..
                },
                CredentialEnd::User { user_id: u },
            ) if u == user_id => Some(Ended::UserDeleted),
            (Held::Key { id, .. }, CredentialEnd::Key { id: k }) if k == id => {
                Some(Ended::KeyRevoked)
            }
            _ => None,
        }
    }
}

/// The broadcast of [`CredentialEnd`]s in this process; cheap to clone.
#[derive(Debug, Clone)]
pub struct CredentialEnds(broadcast::Sender<Arc<CredentialEnd>>);

impl Default for CredentialEnds {
    fn default() -> Self {
        CredentialEnds(broadcast::channel(END_QUEUE).0)
    }
}

impl CredentialEnds {
    /// Ends the streams opened with `end`'s credential (call after the store has it).
    pub fn publish(&self, end: CredentialEnd) {
        // No open stream is fine.
        let _ = self.0.send(Arc::new(end));
    }
}

/// Put into each authenticated request's extensions by the auth middleware, so a handler
/// of a long-lived response can [`watch`](StreamAuth::watch) its credential.
#[derive(Debug, Clone)]
pub struct StreamAuth {
    store: Store,
    ends: CredentialEnds,
    held: Held,
}

impl StreamAuth {
    pub fn new(store: Store, ends: CredentialEnds, principal: &Principal) -> StreamAuth {
        StreamAuth {
            store,
            ends,
            held: Held::of(principal),
        }
    }

    /// Starts watching: ends published from now on are seen, earlier ones are found in
    /// the store by the watch's first check.
    pub fn watch(&self) -> CredentialWatch {
        self.watch_every(RECHECK)
    }

    fn watch_every(&self, recheck: Duration) -> CredentialWatch {
        CredentialWatch {
            store: Some(self.store.clone()),
            ends: Some(self.ends.0.subscribe()),
            held: self.held.clone(),
            recheck,
        }
    }
}

/// A credential watched by one long-lived response; [`CredentialWatch::ended`] completes
/// when it ends.
#[derive(Debug)]
pub struct CredentialWatch {
    store: Option<Store>,
    ends: Option<broadcast::Receiver<Arc<CredentialEnd>>>,
    held: Held,
    recheck: Duration,
}

impl CredentialWatch {
    /// A watch that never ends (auth off).
    pub fn unbounded() -> CredentialWatch {
        CredentialWatch {
            store: None,
            ends: None,
            held: Held::Unbounded,
            recheck: RECHECK,
        }
    }

    /// The watch of `auth` (`None` with auth off: it never ends).
    pub fn of(auth: Option<&StreamAuth>) -> CredentialWatch {
        auth.map_or_else(CredentialWatch::unbounded, StreamAuth::watch)
    }

    /// Completes when the credential ends, saying why; never for a live token or with auth
    /// off. A store that cannot be reached ends nothing (a database hiccup must not cut
    /// every viewer off); the next check asks again.
    pub async fn ended(mut self) -> Ended {
        let Some(store) = self.store.take() else {
            return pending().await;
        };
        if matches!(self.held, Held::Unbounded) {
            return pending().await;
        }
        // At once: the credential may have ended between the request's authentication and
        // the subscription.
        let mut next_check = Instant::now();
        let mut expires_at: Option<i64> = None;
        loop {
            let deadline = match expires_at {
                Some(at) => {
                    let left = u64::try_from(at.saturating_sub(unix_ms())).unwrap_or(0);
                    next_check.min(Instant::now() + Duration::from_millis(left).min(self.recheck))
                }
                None => next_check,
            };
            tokio::select! {
                end = next_end(&mut self.ends) => match end {
                    Some(end) => {
                        if let Some(why) = self.held.ended_by(&end) {
                            return why;
                        }
                    }
                    // Missed some: the store knows.
                    None => next_check = Instant::now(),
                },
                () = sleep_until(deadline) => {
                    let now = unix_ms();
                    if expires_at.is_some_and(|at| now >= at) {
                        return Ended::SessionExpired;
                    }
                    if Instant::now() >= next_check {
                        match self.check(&store, now).await {
                            Ok(Ok(at)) => expires_at = at,
                            Ok(Err(why)) => return why,
                            Err(e) => tracing::warn!(
                                error = %e,
                                "cannot check the credential of an open stream; trying again later"
                            ),
                        }
                        next_check = Instant::now() + self.recheck;
                    }
                }
            }
        }
    }

    /// Asks the store: the session's expiry (`None` for a key), or why it ended.
    async fn check(
        &self,
        store: &Store,
        now: i64,
    ) -> Result<Result<Option<i64>, Ended>, crate::store::StoreError> {
        Ok(match &self.held {
            Held::Session { token_hash, .. } => {
                match store.session_expires_at(token_hash, now).await? {
                    Some(at) => Ok(Some(at)),
                    None => Err(Ended::SessionEnded),
                }
            }
            Held::Key { id, .. } => match store.get_api_key(*id).await? {
                Some(k) if k.revoked_at.is_none() => Ok(None),
                _ => Err(Ended::KeyRevoked),
            },
            Held::Unbounded => Ok(None),
        })
    }
}

/// The next end broadcast; `None` when some were missed. Pending forever once the
/// broadcast is gone (the store checks go on).
async fn next_end(
    ends: &mut Option<broadcast::Receiver<Arc<CredentialEnd>>>,
) -> Option<Arc<CredentialEnd>> {
    let Some(rx) = ends else {
        return pending().await;
    };
    match rx.recv().await {
        Ok(end) => Some(end),
        Err(RecvError::Lagged(_)) => None,
        Err(RecvError::Closed) => {
            *ends = None;
            pending().await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoredPassword;
    use crate::store::auth::{ApiKeyRecord, UserRecord};

    fn user(id: i64) -> UserRecord {
        UserRecord {
            id,
            username: format!("u{id}"),
            password_hash: StoredPassword(String::new()),
            is_admin: false,
            created_at: 0,
        }
    }

    fn session(user_id: i64, hash: &str) -> Principal {
        Principal::Session {
            user: user(user_id),
            token_hash: hash.into(),
        }
    }

    fn key(id: i64, owner: Option<i64>) -> Principal {
        Principal::Key {
            key: ApiKeyRecord {
                id,
                name: "k".into(),
                prefix: "vgl_000000".into(),
                user_id: owner,
                created_at: 0,
                last_used_at: None,
                revoked_at: None,
            },
            owner: owner.map(user),
        }
    }

    #[test]
    fn each_end_ends_only_its_credentials() {
        let s1 = Held::of(&session(1, "a"));
        let s1b = Held::of(&session(1, "b"));
        let s2 = Held::of(&session(2, "c"));
        let k7 = Held::of(&key(7, Some(1)));
        let k8 = Held::of(&key(8, None));
        let live = Held::of(&Principal::LiveToken);
        let all = [&s1, &s1b, &s2, &k7, &k8, &live];
        let ends = |end: CredentialEnd| all.map(|h| h.ended_by(&end));
        use Ended::*;
        assert_eq!(
            ends(CredentialEnd::Session {
                token_hash: "a".into()
            }),
            [Some(SessionEnded), None, None, None, None, None]
        );
        assert_eq!(
            ends(CredentialEnd::SessionsOf {
                user_id: 1,
                except: Some("b".into())
            }),
            [Some(SessionEnded), None, None, None, None, None],
            "the session that changed the password stays, keys stay"
        );
        assert_eq!(
            ends(CredentialEnd::SessionsOf {
                user_id: 1,
                except: None
            }),
            [
                Some(SessionEnded),
                Some(SessionEnded),
                None,
                None,
                None,
                None
            ]
        );
        assert_eq!(
            ends(CredentialEnd::Key { id: 7 }),
            [None, None, None, Some(KeyRevoked), None, None]
        );
        assert_eq!(
            ends(CredentialEnd::User { user_id: 1 }),
            [
                Some(UserDeleted),
                Some(UserDeleted),
                None,
                Some(UserDeleted),
                None,
                None
            ]
        );
    }

    async fn store_with_session(expires_at: i64) -> (Store, Principal, ApiKeyRecord) {
        let store = Store::connect("sqlite::memory:", 1).await.unwrap();
        let u = store.insert_user("op", "x", false, 1).await.unwrap();
        store
            .insert_session("hash-a", u.id, 1, expires_at)
            .await
            .unwrap();
        let k = store
            .insert_api_key("k", "key-hash", "vgl_000000", Some(u.id), 1)
            .await
            .unwrap();
        (store, session(u.id, "hash-a"), k)
    }

    async fn ends_within(watch: CredentialWatch, limit: Duration) -> Option<Ended> {
        tokio::time::timeout(limit, watch.ended()).await.ok()
    }

    #[tokio::test]
    async fn a_broadcast_end_is_seen_at_once() {
        let (store, s, _) = store_with_session(i64::MAX).await;
        let ends = CredentialEnds::default();
        let auth = StreamAuth::new(store, ends.clone(), &s);
        let watch = tokio::spawn(auth.watch().ended());
        tokio::time::sleep(Duration::from_millis(50)).await;
        ends.publish(CredentialEnd::Session {
            token_hash: "other".into(),
        });
        ends.publish(CredentialEnd::Session {
            token_hash: "hash-a".into(),
        });
        let why = tokio::time::timeout(Duration::from_secs(1), watch).await;
        assert_eq!(why.unwrap().unwrap(), Ended::SessionEnded);
    }

    #[tokio::test]
    async fn an_end_this_process_did_not_see_is_found_in_the_store() {
        // As when another node on the same database (or `vigil reset-password`) ends it.
        let (store, s, k) = store_with_session(i64::MAX).await;
        let ends = CredentialEnds::default();
        let auth = StreamAuth::new(store.clone(), ends.clone(), &s);
        let by_key = StreamAuth::new(store.clone(), ends, &key(k.id, k.user_id));
        let every = Duration::from_millis(100);
        let (session_watch, key_watch) = (auth.watch_every(every), by_key.watch_every(every));
        let session_end = tokio::spawn(ends_within(session_watch, Duration::from_secs(2)));
        let key_end = tokio::spawn(ends_within(key_watch, Duration::from_secs(2)));
        tokio::time::sleep(Duration::from_millis(250)).await;
        assert!(!session_end.is_finished() && !key_end.is_finished());
        store.delete_session("hash-a").await.unwrap();
        store.revoke_api_key(k.id, 2).await.unwrap();
        assert_eq!(session_end.await.unwrap(), Some(Ended::SessionEnded));
        assert_eq!(key_end.await.unwrap(), Some(Ended::KeyRevoked));

        // Already ended when the watch starts.
        assert_eq!(
            ends_within(auth.watch(), Duration::from_secs(1)).await,
            Some(Ended::SessionEnded)
        );
    }

    #[tokio::test]
    async fn a_session_ends_when_it_expires_not_at_the_next_check() {
        let (store, s, _) = store_with_session(unix_ms() + 400).await;
        let auth = StreamAuth::new(store, CredentialEnds::default(), &s);
        let started = std::time::Instant::now();
        assert_eq!(
            ends_within(auth.watch(), Duration::from_secs(3)).await,
            Some(Ended::SessionExpired)
        );
        assert!(started.elapsed() < Duration::from_secs(2));
    }

    #[tokio::test]
    async fn live_tokens_and_open_access_never_end() {
        let (store, _, _) = store_with_session(i64::MAX).await;
        let token = StreamAuth::new(store, CredentialEnds::default(), &Principal::LiveToken);
        assert_eq!(
            ends_within(
                token.watch_every(Duration::from_millis(10)),
                Duration::from_millis(200)
            )
            .await,
            None
        );
        assert_eq!(
            ends_within(CredentialWatch::of(None), Duration::from_millis(50)).await,
            None
        );
    }
}
