//! Persistence: devices (and later channels) in SQLite or PostgreSQL through sqlx.
//!
//! The store is the truth for what devices exist; the registry's in-memory state is a cache
//! rebuilt from it at start. Both backends run the same SQL (portable `$n` placeholders,
//! `ON CONFLICT` upserts, Unix-millisecond integers for times) with per-backend migrations
//! where the DDL differs. High-rate writes (registrations, keepalives) go through
//! [`writer::StoreWriter`], which batches them into transactions.

pub mod auth;
pub mod channels;
pub mod writer;

use std::path::Path;
use std::str::FromStr;

use serde::Serialize;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, SqlitePool};

/// Runs the same body against whichever pool is configured.
macro_rules! on_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match &$store.backend {
            $crate::store::Backend::Sqlite($pool) => $body,
            $crate::store::Backend::Postgres($pool) => $body,
        }
    };
}
pub(crate) use on_pool;

#[derive(Debug, Clone)]
pub(crate) enum Backend {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Handle to the database; cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    pub(crate) backend: Backend,
}

/// Store failures. Unique-key violations are told apart so the API can answer 409.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("already exists: {0}")]
    Conflict(String),
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("database migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("database url: {0}")]
    Url(String),
    #[error("the store writer has stopped")]
    WriterGone,
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A per-device password as stored. Never printed.
#[derive(Clone, PartialEq, Eq, sqlx::Type)]
#[sqlx(transparent)]
pub struct StoredPassword(pub String);

impl std::fmt::Debug for StoredPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

/// One row of `devices`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct DeviceRecord {
    pub device_id: String,
    pub name: Option<String>,
    pub manufacturer: Option<String>,
    pub model: Option<String>,
    pub firmware: Option<String>,
    /// The integrator's preference (`POST`/`PATCH`): how live INVITEs reach the device and
    /// how its RTP travels; `null` = follow the device (as it registered, `media.transport`).
    #[serde(rename = "transport")]
    #[schema(value_type = Option<TransportPref>)]
    pub transport_pref: Option<String>,
    /// How the device last registered (`udp` | `tcp`); read-only, every REGISTER sets it.
    #[serde(rename = "registered_transport")]
    #[schema(read_only)]
    pub transport: Option<String>,
    pub contact: Option<String>,
    pub source_addr: Option<String>,
    pub local_addr: Option<String>,
    pub expires: Option<i64>,
    pub registered_at: Option<i64>,
    pub last_seen: Option<i64>,
    pub online: bool,
    #[serde(skip)]
    #[schema(ignore)]
    pub password: Option<StoredPassword>,
    pub created_at: i64,
    pub updated_at: i64,
    /// Video channels the device says it has (DeviceInfo `Channel`).
    pub channel_count: Option<i64>,
    /// never | running | complete | partial | failed
    pub catalog_state: String,
    pub catalog_received: i64,
    pub catalog_total: i64,
    pub catalog_synced_at: Option<i64>,
}

/// What a successful REGISTER records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrationRow {
    pub device_id: String,
    pub transport: String,
    pub contact: String,
    pub source_addr: String,
    pub local_addr: String,
    pub expires: i64,
    pub registered_at: i64,
}

/// How the integrator wants a device reached, stored as `devices.transport_pref`: the SIP
/// transport of live INVITEs and the media transport they offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TransportPref {
    /// SIP and RTP over UDP.
    Udp,
    /// SIP over TCP, RTP over TCP with vigil listening (the same as `tcp_passive`).
    Tcp,
    /// SIP over TCP, RTP over TCP with vigil listening and the device connecting.
    TcpPassive,
    /// SIP over TCP, RTP over TCP with the device listening and vigil connecting.
    TcpActive,
}

impl TransportPref {
    pub fn as_str(self) -> &'static str {
        match self {
            TransportPref::Udp => "udp",
            TransportPref::Tcp => "tcp",
            TransportPref::TcpPassive => "tcp_passive",
            TransportPref::TcpActive => "tcp_active",
        }
    }

    /// The stored form back; `None` for anything else.
    pub fn parse(s: &str) -> Option<TransportPref> {
        [
            TransportPref::Udp,
            TransportPref::Tcp,
            TransportPref::TcpPassive,
            TransportPref::TcpActive,
        ]
        .into_iter()
        .find(|t| t.as_str() == s)
    }
}

/// A device created through the API before it ever registers.
#[derive(Debug, Clone, Default)]
pub struct NewDevice {
    pub device_id: String,
    pub name: Option<String>,
    pub password: Option<StoredPassword>,
    pub transport_pref: Option<TransportPref>,
}

/// Fields an API PATCH may change; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct DevicePatch {
    pub name: Option<Option<String>>,
    pub password: Option<Option<StoredPassword>>,
    pub transport_pref: Option<Option<TransportPref>>,
}

/// Order of a device list.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DeviceSort {
    #[default]
    DeviceId,
    Name,
    LastSeen,
}

/// Filters, order and paging for device lists.
#[derive(Debug, Clone)]
pub struct DeviceQuery {
    /// Substring of the name or the device ID.
    pub q: Option<String>,
    pub online: Option<bool>,
    pub sort: DeviceSort,
    pub descending: bool,
    pub page: u32,
    pub per_page: u32,
}

/// A LIKE pattern matching `s` anywhere, with `\` as the escape character.
pub(crate) fn like_pattern(s: &str) -> String {
    let escaped = s
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

macro_rules! device_columns {
    () => {
        "device_id, name, manufacturer, model, firmware, transport_pref, transport, contact, \
         source_addr, local_addr, expires, registered_at, last_seen, online, password, created_at, \
         updated_at, channel_count, catalog_state, catalog_received, catalog_total, catalog_synced_at"
    };
}

impl Store {
    /// Connects, creating the SQLite file and its directory when needed, and runs migrations.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Store> {
        let backend = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let opts =
                PgConnectOptions::from_str(url).map_err(|e| StoreError::Url(e.to_string()))?;
            let pool = PgPoolOptions::new()
                .max_connections(max_connections.max(1))
                .connect_with(opts)
                .await?;
            sqlx::migrate!("./migrations/postgres").run(&pool).await?;
            Backend::Postgres(pool)
        } else if let Some(rest) = url.strip_prefix("sqlite:") {
            let path = rest.trim_start_matches("//");
            let in_memory = path.is_empty() || path.starts_with(":memory:");
            if !in_memory {
                let file = path.split('?').next().unwrap_or(path);
                if let Some(dir) = Path::new(file)
                    .parent()
                    .filter(|d| !d.as_os_str().is_empty())
                {
                    std::fs::create_dir_all(dir).map_err(|e| {
                        StoreError::Url(format!("cannot create directory {}: {e}", dir.display()))
                    })?;
                }
            }
            let opts = SqliteConnectOptions::from_str(url)
                .map_err(|e| StoreError::Url(e.to_string()))?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                // WAL + NORMAL survives a process crash; batches keep fsyncs rare.
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(std::time::Duration::from_secs(5))
                .foreign_keys(true);
            // An in-memory database exists once per connection: keep exactly one.
            let max = if in_memory { 1 } else { max_connections.max(1) };
            let pool = SqlitePoolOptions::new()
                .max_connections(max)
                .connect_with(opts)
                .await?;
            sqlx::migrate!("./migrations/sqlite").run(&pool).await?;
            Backend::Sqlite(pool)
        } else {
            return Err(StoreError::Url(format!(
                "unsupported database url {url:?}: use sqlite://PATH or postgres://..."
            )));
        };
        Ok(Store { backend })
    }

    /// "sqlite" or "postgres", for logs and health.
    pub fn backend_name(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite(_) => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }

    /// A cheap round trip, for health checks.
    pub async fn ping(&self) -> Result<()> {
        on_pool!(self, pool => {
            sqlx::query("SELECT 1").execute(pool).await?;
        });
        Ok(())
    }

    pub async fn close(&self) {
        on_pool!(self, pool => pool.close().await)
    }

    pub async fn list_devices(&self) -> Result<Vec<DeviceRecord>> {
        let sql = concat!(
            "SELECT ",
            device_columns!(),
            " FROM devices ORDER BY device_id"
        );
        Ok(on_pool!(self, pool => sqlx::query_as::<_, DeviceRecord>(sql).fetch_all(pool).await?))
    }

    /// Devices matching `q` in its order (ties by device ID), with the total count.
    pub async fn list_devices_page(&self, q: &DeviceQuery) -> Result<(Vec<DeviceRecord>, i64)> {
        let per_page = q.per_page.clamp(1, 1000) as i64;
        let offset = (q.page.max(1) as i64 - 1) * per_page;
        let pattern = q.q.as_deref().map(like_pattern);
        // NULLs sort as the smallest value on both backends (they differ by default).
        let key = match q.sort {
            DeviceSort::DeviceId => "device_id",
            DeviceSort::Name => "COALESCE(name, '')",
            DeviceSort::LastSeen => "COALESCE(last_seen, 0)",
        };
        let dir = if q.descending { "DESC" } else { "ASC" };
        let filter = "WHERE ($1 IS NULL OR name LIKE $1 ESCAPE '\\' OR device_id LIKE $1 ESCAPE '\\') \
             AND ($2 IS NULL OR online = $2)";
        let list = format!(
            "SELECT {} FROM devices {filter} ORDER BY {key} {dir}, device_id {dir} LIMIT $3 OFFSET $4",
            device_columns!()
        );
        let count = format!("SELECT COUNT(*) FROM devices {filter}");
        let (rows, total) = on_pool!(self, pool => {
            let rows = sqlx::query_as::<_, DeviceRecord>(sqlx::AssertSqlSafe(list))
                .bind(&pattern)
                .bind(q.online)
                .bind(per_page)
                .bind(offset)
                .fetch_all(pool)
                .await?;
            let total: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(count))
                .bind(&pattern)
                .bind(q.online)
                .fetch_one(pool)
                .await?;
            (rows, total)
        });
        Ok((rows, total))
    }

    pub async fn get_device(&self, device_id: &str) -> Result<Option<DeviceRecord>> {
        let sql = concat!(
            "SELECT ",
            device_columns!(),
            " FROM devices WHERE device_id = $1"
        );
        Ok(
            on_pool!(self, pool => sqlx::query_as::<_, DeviceRecord>(sql)
            .bind(device_id)
            .fetch_optional(pool)
            .await?),
        )
    }

    /// Creates a device; an existing ID is a [`StoreError::Conflict`].
    pub async fn insert_device(&self, d: &NewDevice, now: i64) -> Result<DeviceRecord> {
        let sql = "INSERT INTO devices (device_id, name, password, transport_pref, online, created_at, updated_at) \
                   VALUES ($1, $2, $3, $4, FALSE, $5, $6)";
        let res = on_pool!(self, pool => sqlx::query(sql)
            .bind(&d.device_id)
            .bind(&d.name)
            .bind(&d.password)
            .bind(d.transport_pref.map(TransportPref::as_str))
            .bind(now)
            .bind(now)
            .execute(pool)
            .await
            .map(|_| ()));
        match res {
            Ok(_) => {}
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                return Err(StoreError::Conflict(format!("device {}", d.device_id)));
            }
            Err(e) => return Err(e.into()),
        }
        self.get_device(&d.device_id)
            .await?
            .ok_or_else(|| StoreError::Db(sqlx::Error::RowNotFound))
    }

    /// Applies a patch; returns the updated row, or `None` when the device does not exist.
    pub async fn update_device(
        &self,
        device_id: &str,
        p: &DevicePatch,
        now: i64,
    ) -> Result<Option<DeviceRecord>> {
        let Some(mut cur) = self.get_device(device_id).await? else {
            return Ok(None);
        };
        if let Some(v) = &p.name {
            cur.name = v.clone();
        }
        if let Some(v) = &p.password {
            cur.password = v.clone();
        }
        if let Some(v) = p.transport_pref {
            cur.transport_pref = v.map(|t| t.as_str().to_owned());
        }
        // `transport` (how it registered) is the registry's; a PATCH leaves it alone.
        let sql = "UPDATE devices SET name = $1, password = $2, transport_pref = $3, updated_at = $4 WHERE device_id = $5";
        on_pool!(self, pool => sqlx::query(sql)
            .bind(&cur.name)
            .bind(&cur.password)
            .bind(&cur.transport_pref)
            .bind(now)
            .bind(device_id)
            .execute(pool)
            .await
            .map(|_| ())?);
        self.get_device(device_id).await
    }

    /// Deletes a device and its channels (removed ones too) in one transaction; true when
    /// the device existed. The channels go explicitly rather than by the foreign key alone,
    /// so a connection without SQLite's `foreign_keys` cannot leave them behind.
    pub async fn delete_device(&self, device_id: &str) -> Result<bool> {
        let n = on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query("DELETE FROM channels WHERE device_id = $1")
                .bind(device_id)
                .execute(&mut *tx)
                .await?;
            let n = sqlx::query("DELETE FROM devices WHERE device_id = $1")
                .bind(device_id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            tx.commit().await?;
            n
        });
        Ok(n > 0)
    }

    /// Applies one batch of writes in a single transaction.
    pub(crate) async fn apply_batch(&self, batch: &writer::Batch) -> Result<()> {
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            for op in &batch.ops {
                match op {
                    writer::StateWrite::Registered(r) => {
                        sqlx::query(
                            "INSERT INTO devices (device_id, transport, contact, source_addr, local_addr, expires, \
                                 registered_at, last_seen, online, created_at, updated_at) \
                             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, TRUE, $9, $10) \
                             ON CONFLICT (device_id) DO UPDATE SET transport = excluded.transport, \
                                 contact = excluded.contact, source_addr = excluded.source_addr, \
                                 local_addr = excluded.local_addr, expires = excluded.expires, \
                                 registered_at = excluded.registered_at, last_seen = excluded.last_seen, \
                                 online = TRUE, updated_at = excluded.updated_at",
                        )
                        .bind(&r.device_id)
                        .bind(&r.transport)
                        .bind(&r.contact)
                        .bind(&r.source_addr)
                        .bind(&r.local_addr)
                        .bind(r.expires)
                        .bind(r.registered_at)
                        .bind(r.registered_at)
                        .bind(r.registered_at)
                        .bind(r.registered_at)
                        .execute(&mut *tx)
                        .await?;
                    }
                    writer::StateWrite::Offline { device_id, at } => {
                        sqlx::query("UPDATE devices SET online = FALSE, updated_at = $1 WHERE device_id = $2")
                            .bind(*at)
                            .bind(device_id)
                            .execute(&mut *tx)
                            .await?;
                    }
                    writer::StateWrite::Online { device_id, at } => {
                        sqlx::query("UPDATE devices SET online = TRUE, updated_at = $1 WHERE device_id = $2")
                            .bind(*at)
                            .bind(device_id)
                            .execute(&mut *tx)
                            .await?;
                    }
                }
            }
            for (id, seen) in &batch.last_seen {
                sqlx::query("UPDATE devices SET last_seen = $1 WHERE device_id = $2 AND (last_seen IS NULL OR last_seen < $3)")
                    .bind(*seen)
                    .bind(id)
                    .bind(*seen)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A fresh PostgreSQL database for one test, dropped by the caller's [`PgTestDb::drop_db`].
    pub(crate) struct PgTestDb {
        pub url: String,
        admin: String,
        name: String,
    }

    impl PgTestDb {
        pub async fn create() -> PgTestDb {
            let admin = std::env::var("VIGIL_TEST_PG")
                .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
            let name = format!("vigil_t_{}", rand::random::<u64>());
            let pool = PgPool::connect(&admin)
                .await
                .expect("PostgreSQL at VIGIL_TEST_PG");
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&pool)
                .await
                .unwrap();
            pool.close().await;
            let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
            PgTestDb {
                url: format!("{base}/{name}"),
                admin,
                name,
            }
        }

        pub async fn drop_db(self) {
            let pool = PgPool::connect(&self.admin).await.unwrap();
            let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            )))
            .execute(&pool)
            .await;
        }
    }

    fn reg(id: &str, at: i64) -> RegistrationRow {
        RegistrationRow {
            device_id: id.into(),
            transport: "udp".into(),
            contact: format!("<sip:{id}@127.0.0.1:5070>"),
            source_addr: "127.0.0.1:5070".into(),
            local_addr: "127.0.0.1:5060".into(),
            expires: 3600,
            registered_at: at,
        }
    }

    async fn exercise(store: Store) {
        assert!(store.list_devices().await.unwrap().is_empty());
        let id = "34020000001320000001";
        // Registration creates the row, online.
        let mut b = writer::Batch::default();
        b.ops.push(writer::StateWrite::Registered(reg(id, 1000)));
        store.apply_batch(&b).await.unwrap();
        let d = store.get_device(id).await.unwrap().unwrap();
        assert!(d.online);
        assert_eq!(d.registered_at, Some(1000));
        assert_eq!(d.source_addr.as_deref(), Some("127.0.0.1:5070"));
        assert_eq!(d.created_at, 1000);
        // last_seen only moves forward; offline sticks.
        let mut b = writer::Batch::default();
        b.last_seen.push((id.into(), 5000));
        store.apply_batch(&b).await.unwrap();
        let mut b = writer::Batch::default();
        b.last_seen.push((id.into(), 4000));
        b.ops.push(writer::StateWrite::Offline {
            device_id: id.into(),
            at: 6000,
        });
        store.apply_batch(&b).await.unwrap();
        let d = store.get_device(id).await.unwrap().unwrap();
        assert_eq!(d.last_seen, Some(5000));
        assert!(!d.online);
        // Re-registration keeps created_at and the provisioned name.
        store
            .update_device(
                id,
                &DevicePatch {
                    name: Some(Some("门口 east".into())),
                    ..Default::default()
                },
                7000,
            )
            .await
            .unwrap()
            .unwrap();
        let mut b = writer::Batch::default();
        b.ops.push(writer::StateWrite::Registered(reg(id, 8000)));
        store.apply_batch(&b).await.unwrap();
        let d = store.get_device(id).await.unwrap().unwrap();
        assert!(d.online);
        assert_eq!(d.created_at, 1000);
        assert_eq!(d.name.as_deref(), Some("门口 east"));
        // Provisioning: conflict on an existing ID, password kept but not serialized.
        let e = store
            .insert_device(
                &NewDevice {
                    device_id: id.into(),
                    ..Default::default()
                },
                9000,
            )
            .await
            .unwrap_err();
        assert!(matches!(e, StoreError::Conflict(_)), "{e:?}");
        let other = "34020000001320000002";
        let d = store
            .insert_device(
                &NewDevice {
                    device_id: other.into(),
                    password: Some(StoredPassword("s3cret-pw".into())),
                    ..Default::default()
                },
                9000,
            )
            .await
            .unwrap();
        assert_eq!(d.password, Some(StoredPassword("s3cret-pw".into())));
        assert!(!d.online);
        let json = serde_json::to_string(&d).unwrap();
        assert!(!json.contains("s3cret-pw"), "{json}");
        assert!(!format!("{d:?}").contains("s3cret-pw"));
        assert_eq!(store.list_devices().await.unwrap().len(), 2);
        transport_preference_outlives_registrations(&store).await;
        assert!(store.delete_device(other).await.unwrap());
        assert!(!store.delete_device(other).await.unwrap());
        assert_eq!(store.list_devices().await.unwrap().len(), 1);
    }

    /// The preference set through the API and the transport a REGISTER used are two
    /// columns: neither write touches the other.
    async fn transport_preference_outlives_registrations(store: &Store) {
        let id = "34020000001320000003";
        let d = store
            .insert_device(
                &NewDevice {
                    device_id: id.into(),
                    transport_pref: Some(TransportPref::Tcp),
                    ..Default::default()
                },
                10_000,
            )
            .await
            .unwrap();
        assert_eq!(
            (d.transport_pref.as_deref(), d.transport.as_deref()),
            (Some("tcp"), None)
        );
        let json = serde_json::to_value(&d).unwrap();
        assert_eq!(json["transport"], "tcp");
        assert!(json["registered_transport"].is_null(), "{json}");
        let mut b = writer::Batch::default();
        b.ops.push(writer::StateWrite::Registered(reg(id, 11_000)));
        store.apply_batch(&b).await.unwrap();
        let d = store.get_device(id).await.unwrap().unwrap();
        assert_eq!(
            (d.transport_pref.as_deref(), d.transport.as_deref()),
            (Some("tcp"), Some("udp"))
        );
        let patch = |t| DevicePatch {
            transport_pref: Some(t),
            ..Default::default()
        };
        let d = store
            .update_device(id, &patch(Some(TransportPref::TcpActive)), 12_000)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (d.transport_pref.as_deref(), d.transport.as_deref()),
            (Some("tcp_active"), Some("udp"))
        );
        let d = store
            .update_device(id, &patch(None), 13_000)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (d.transport_pref.as_deref(), d.transport.as_deref()),
            (None, Some("udp"))
        );
        assert!(store.delete_device(id).await.unwrap());
    }

    #[tokio::test]
    async fn sqlite_migration_0004_moves_api_transports_to_the_preference() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/vigil.db", dir.path().display());
        let opts = SqliteConnectOptions::from_str(&url)
            .unwrap()
            .create_if_missing(true);
        let pool = SqlitePool::connect_with(opts).await.unwrap();
        sqlx::migrate!("./migrations/sqlite")
            .run_to(3, &pool)
            .await
            .unwrap();
        for sql in PRE_0004_ROWS {
            sqlx::query(*sql).execute(&pool).await.unwrap();
        }
        pool.close().await;
        let store = Store::connect(&url, 2).await.unwrap();
        check_0004(&store).await;
        store.close().await;
    }

    #[tokio::test]
    async fn postgres_migration_0004_moves_api_transports_to_the_preference() {
        let db = PgTestDb::create().await;
        let pool = PgPool::connect(&db.url).await.unwrap();
        sqlx::migrate!("./migrations/postgres")
            .run_to(3, &pool)
            .await
            .unwrap();
        for sql in PRE_0004_ROWS {
            sqlx::query(*sql).execute(&pool).await.unwrap();
        }
        pool.close().await;
        let store = Store::connect(&db.url, 2).await.unwrap();
        check_0004(&store).await;
        store.close().await;
        db.drop_db().await;
    }

    /// Rows written before migration 0004: a never-registered device's `transport` came
    /// from the API and becomes its preference; a registered one's stays what it used.
    const PRE_0004_ROWS: &[&str] = &[
        // Provisioned with "tcp", never registered.
        "INSERT INTO devices (device_id, transport, online, created_at, updated_at) \
         VALUES ('34020000001320000011', 'tcp', FALSE, 1, 1)",
        // Registered over UDP (whatever was provisioned is overwritten already).
        "INSERT INTO devices (device_id, transport, source_addr, local_addr, expires, registered_at, \
         online, created_at, updated_at) \
         VALUES ('34020000001320000012', 'udp', '10.0.0.2:5060', '10.0.0.1:5060', 3600, 5, TRUE, 1, 5)",
        // Provisioned without a transport.
        "INSERT INTO devices (device_id, online, created_at, updated_at) \
         VALUES ('34020000001320000013', FALSE, 1, 1)",
    ];

    async fn check_0004(store: &Store) {
        let rows: Vec<(String, Option<String>, Option<String>)> = store
            .list_devices()
            .await
            .unwrap()
            .into_iter()
            .map(|d| (d.device_id, d.transport_pref, d.transport))
            .collect();
        assert_eq!(
            rows,
            vec![
                ("34020000001320000011".into(), Some("tcp".into()), None),
                ("34020000001320000012".into(), None, Some("udp".into())),
                ("34020000001320000013".into(), None, None),
            ]
        );
    }

    #[tokio::test]
    async fn sqlite_store_round_trips_devices() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/sub/vigil.db", dir.path().display());
        let store = Store::connect(&url, 4).await.unwrap();
        assert_eq!(store.backend_name(), "sqlite");
        exercise(store.clone()).await;
        store.close().await;
        // Data survives reopening (and migrations are idempotent).
        let store = Store::connect(&url, 4).await.unwrap();
        assert_eq!(store.list_devices().await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn postgres_store_round_trips_devices() {
        let db = PgTestDb::create().await;
        let store = Store::connect(&db.url, 4).await.unwrap();
        assert_eq!(store.backend_name(), "postgres");
        exercise(store.clone()).await;
        store.close().await;
        let store = Store::connect(&db.url, 4).await.unwrap();
        assert_eq!(store.list_devices().await.unwrap().len(), 1);
        store.close().await;
        db.drop_db().await;
    }
}
