//! Channels (the catalog items a device reports) and the device's catalog sync state.
//! A channel no longer reported is marked removed (`removed_at`), never silently deleted.

use serde::{Serialize, Serializer};
use vigil_gb::manscdp::{CatalogEvent, CatalogItem, DeviceInfo};

use super::{Backend, Result, Store, on_pool};

/// One row of `channels`.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct ChannelRecord {
    pub device_id: String,
    pub channel_id: String,
    pub name: Option<String>,
    pub manufacturer: Option<String>,
    pub model: Option<String>,
    pub owner: Option<String>,
    pub civil_code: Option<String>,
    pub address: Option<String>,
    pub parental: Option<i32>,
    pub parent_id: Option<String>,
    pub safety_way: Option<i32>,
    pub register_way: Option<i32>,
    pub secrecy: Option<i32>,
    /// As the device reported it (`ON`, `OFF`, `ONLINE`, ...).
    pub status: Option<String>,
    /// `status` read as online/offline, when it can be.
    pub online: Option<bool>,
    pub longitude: Option<f64>,
    pub latitude: Option<f64>,
    pub ptz_type: Option<i32>,
    /// Every other reported field, raw.
    #[serde(serialize_with = "raw_json")]
    #[schema(value_type = Object)]
    pub extra: String,
    pub first_seen: i64,
    pub updated_at: i64,
    pub removed_at: Option<i64>,
}

fn raw_json<S: Serializer>(s: &str, ser: S) -> std::result::Result<S::Ok, S::Error> {
    let v: serde_json::Value = serde_json::from_str(s).unwrap_or(serde_json::Value::Null);
    v.serialize(ser)
}

/// A device's catalog sync progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CatalogState {
    Never,
    Running,
    Complete,
    Partial,
    Failed,
}

impl CatalogState {
    pub fn as_str(self) -> &'static str {
        match self {
            CatalogState::Never => "never",
            CatalogState::Running => "running",
            CatalogState::Complete => "complete",
            CatalogState::Partial => "partial",
            CatalogState::Failed => "failed",
        }
    }
}

/// What a catalog write changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct CatalogDiff {
    pub added: u64,
    pub updated: u64,
    pub removed: u64,
}

/// Filters and paging for channel lists.
#[derive(Debug, Clone, Default)]
pub struct ChannelQuery {
    pub device_id: Option<String>,
    /// Substring of name or channel ID.
    pub q: Option<String>,
    pub online: Option<bool>,
    pub include_removed: bool,
    pub page: u32,
    pub per_page: u32,
}

macro_rules! channel_columns {
    () => {
        "device_id, channel_id, name, manufacturer, model, owner, civil_code, address, parental, \
         parent_id, safety_way, register_way, secrecy, status, online, longitude, latitude, ptz_type, \
         extra, first_seen, updated_at, removed_at"
    };
}

/// Rows per multi-row statement, largest first. A catalog is written in as few statements
/// as these sizes allow (2,000 channels: 7 × 256 + 3 × 64 + 16), each statement text
/// prepared once per connection: a fixed set of texts keeps sqlx's statement cache from
/// churning through one text per catalog size. The largest upsert binds 256 × 21 = 5,376
/// values, well below SQLite's limit (32,766 since 3.32; the bundled library is newer) and
/// PostgreSQL's 65,535.
const CHUNKS: [usize; 5] = [256, 64, 16, 4, 1];

/// Values bound per upserted row: device ID, channel ID, 17 fields, and the time twice
/// (`first_seen`, `updated_at`).
const UPSERT_ROW_VALUES: usize = 21;

/// `CHUNKS` sizes, largest first, that add up to `n`.
fn chunk_sizes(mut n: usize) -> impl Iterator<Item = (usize, usize)> {
    let mut k = 0;
    std::iter::from_fn(move || {
        while k < CHUNKS.len() && CHUNKS[k] > n {
            k += 1;
        }
        let size = *CHUNKS.get(k)?;
        n -= size;
        Some((k, size))
    })
}

/// How a backend's big statements number their values. Every value is bound in order, none
/// twice: SQLite looks a `$n` or `?n` up in a list of the names seen so far (when parsing,
/// and again for each value sqlx binds), which is quadratic in the values of a statement; a
/// bare `?` is not.
#[derive(Debug, Clone, Copy)]
enum Placeholders {
    /// `?` (SQLite).
    Bare,
    /// `$1`, `$2`, ... (PostgreSQL).
    Numbered,
}

impl Placeholders {
    /// `n` placeholders from value `first` (1-based) on, separated by commas.
    fn list(self, first: usize, n: usize) -> String {
        let one = |v: usize| match self {
            Placeholders::Bare => "?".to_owned(),
            Placeholders::Numbered => format!("${v}"),
        };
        (first..first + n).map(one).collect::<Vec<_>>().join(", ")
    }
}

/// The upsert of `rows` channels, `UPSERT_ROW_VALUES` values per row. `first_seen` only
/// counts on insert; `removed_at` is cleared, so a channel reported again is back.
fn upsert_sql(p: Placeholders, rows: usize) -> String {
    let mut sql = String::from(
        "INSERT INTO channels (device_id, channel_id, name, manufacturer, model, owner, \
         civil_code, address, parental, parent_id, safety_way, register_way, secrecy, status, \
         online, longitude, latitude, ptz_type, extra, first_seen, updated_at) VALUES ",
    );
    for r in 0..rows {
        if r > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        sql.push_str(&p.list(1 + r * UPSERT_ROW_VALUES, UPSERT_ROW_VALUES));
        sql.push(')');
    }
    sql.push_str(
        " ON CONFLICT (device_id, channel_id) DO UPDATE SET name = excluded.name, \
         manufacturer = excluded.manufacturer, model = excluded.model, owner = excluded.owner, \
         civil_code = excluded.civil_code, address = excluded.address, parental = excluded.parental, \
         parent_id = excluded.parent_id, safety_way = excluded.safety_way, \
         register_way = excluded.register_way, secrecy = excluded.secrecy, status = excluded.status, \
         online = excluded.online, longitude = excluded.longitude, latitude = excluded.latitude, \
         ptz_type = excluded.ptz_type, extra = excluded.extra, updated_at = excluded.updated_at, \
         removed_at = NULL",
    );
    sql
}

/// Which of `rows` channel IDs (values 2...) of a device (value 1) are present (not
/// removed).
fn present_sql(p: Placeholders, rows: usize) -> String {
    format!(
        "SELECT channel_id FROM channels WHERE device_id = {} AND removed_at IS NULL \
         AND channel_id IN ({})",
        p.list(1, 1),
        p.list(2, rows)
    )
}

/// Statement texts of one backend by `CHUNKS` index, built once.
struct ChunkSql {
    upsert: Vec<String>,
    present: Vec<String>,
}

impl ChunkSql {
    fn new(p: Placeholders) -> ChunkSql {
        ChunkSql {
            upsert: CHUNKS.iter().map(|&n| upsert_sql(p, n)).collect(),
            present: CHUNKS.iter().map(|&n| present_sql(p, n)).collect(),
        }
    }
}

fn chunk_sql(backend: &Backend) -> &'static ChunkSql {
    static SQLITE: std::sync::OnceLock<ChunkSql> = std::sync::OnceLock::new();
    static POSTGRES: std::sync::OnceLock<ChunkSql> = std::sync::OnceLock::new();
    match backend {
        Backend::Sqlite(_) => SQLITE.get_or_init(|| ChunkSql::new(Placeholders::Bare)),
        Backend::Postgres(_) => POSTGRES.get_or_init(|| ChunkSql::new(Placeholders::Numbered)),
    }
}

/// The items to write, one per channel ID: a channel listed twice is written once, with its
/// last content (what upserting the list in order would leave), at its first position.
fn distinct_items(items: &[CatalogItem]) -> Vec<&CatalogItem> {
    let mut at: std::collections::HashMap<&str, usize> =
        std::collections::HashMap::with_capacity(items.len());
    let mut out: Vec<&CatalogItem> = Vec::with_capacity(items.len());
    for item in items {
        match at.entry(item.device_id.as_str()) {
            std::collections::hash_map::Entry::Occupied(e) => out[*e.get()] = item,
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(out.len());
                out.push(item);
            }
        }
    }
    out
}

/// Fields of a catalog item that have no column of their own, as JSON.
fn extra_json(item: &CatalogItem) -> String {
    let mut m = serde_json::Map::new();
    let mut put = |k: &str, v: Option<String>| {
        if let Some(v) = v {
            m.insert(k.to_owned(), serde_json::Value::String(v));
        }
    };
    put("Block", item.block.clone());
    put("CertNum", item.cert_num.clone());
    put("Certifiable", item.certifiable.map(|v| v.to_string()));
    put("ErrCode", item.err_code.map(|v| v.to_string()));
    put("EndTime", item.end_time.clone());
    put("IPAddress", item.ip_address.clone());
    put("Port", item.port.map(|v| v.to_string()));
    for (k, v) in &item.info {
        m.insert(format!("Info/{k}"), serde_json::Value::String(v.clone()));
    }
    for (k, v) in &item.extra {
        m.insert(k.clone(), serde_json::Value::String(v.clone()));
    }
    serde_json::Value::Object(m).to_string()
}

impl Store {
    /// Writes one device's catalog. With `complete`, channels not in `items` are marked
    /// removed; a partial catalog only adds and updates.
    pub async fn apply_catalog(
        &self,
        device_id: &str,
        items: &[CatalogItem],
        complete: bool,
        now: i64,
    ) -> Result<CatalogDiff> {
        let mut diff = CatalogDiff::default();
        let sql = chunk_sql(&self.backend);
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            // Write first: SQLite then takes the write lock at the start (waiting out other
            // writers with busy_timeout) instead of failing with "database is locked" when a
            // read transaction has to be upgraded while another sync writes.
            sqlx::query("UPDATE devices SET updated_at = $1 WHERE device_id = $2")
                .bind(now)
                .bind(device_id)
                .execute(&mut *tx)
                .await?;
            // A multi-row statement per chunk: first which channels are present already
            // (to tell added from updated), then the upsert. Statements, not rows, are what
            // costs here (each is a round trip to SQLite's worker thread or the server).
            let distinct = distinct_items(items);
            let mut new_rows = 0u64;
            let mut rest = distinct.as_slice();
            for (k, size) in chunk_sizes(distinct.len()) {
                let (chunk, tail) = rest.split_at(size);
                rest = tail;
                let mut present =
                    sqlx::query_scalar::<_, String>(sql.present[k].as_str()).bind(device_id);
                for item in chunk {
                    present = present.bind(&item.device_id);
                }
                let present = present.fetch_all(&mut *tx).await?;
                new_rows += (size - present.len()) as u64;
                let mut upsert = sqlx::query(sql.upsert[k].as_str());
                for item in chunk {
                    upsert = upsert
                        .bind(device_id)
                        .bind(&item.device_id)
                        .bind(&item.name)
                        .bind(&item.manufacturer)
                        .bind(&item.model)
                        .bind(&item.owner)
                        .bind(&item.civil_code)
                        .bind(&item.address)
                        .bind(item.parental.map(i32::from))
                        .bind(&item.parent_id)
                        .bind(item.safety_way.map(i32::from))
                        .bind(item.register_way.map(i32::from))
                        .bind(item.secrecy.map(i32::from))
                        .bind(&item.status)
                        .bind(item.is_online())
                        .bind(item.longitude)
                        .bind(item.latitude)
                        .bind(item.ptz_type.map(i32::from))
                        .bind(extra_json(item))
                        .bind(now)
                        .bind(now);
                }
                upsert.execute(&mut *tx).await?;
            }
            diff.added = new_rows;
            diff.updated = items.len() as u64 - new_rows;
            if complete {
                let r = sqlx::query(
                    "UPDATE channels SET removed_at = $1 WHERE device_id = $2 AND removed_at IS NULL AND updated_at < $3",
                )
                .bind(now)
                .bind(device_id)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                diff.removed = r.rows_affected();
            }
            tx.commit().await?;
        });
        Ok(diff)
    }

    /// Applies one catalog NOTIFY item (subscription): ADD/UPDATE upsert, DEL marks removed,
    /// ON/OFF/VLOST/DEFECT set the status.
    pub async fn apply_catalog_event(
        &self,
        device_id: &str,
        item: &CatalogItem,
        now: i64,
    ) -> Result<()> {
        match item.event {
            Some(CatalogEvent::Del) => {
                on_pool!(self, pool => sqlx::query(
                    "UPDATE channels SET removed_at = $1, updated_at = $2 WHERE device_id = $3 AND channel_id = $4",
                )
                .bind(now)
                .bind(now)
                .bind(device_id)
                .bind(&item.device_id)
                .execute(pool)
                .await
                .map(|_| ())?);
            }
            Some(
                ev @ (CatalogEvent::On
                | CatalogEvent::Off
                | CatalogEvent::Vlost
                | CatalogEvent::Defect),
            ) => {
                let online = matches!(ev, CatalogEvent::On);
                on_pool!(self, pool => sqlx::query(
                    "UPDATE channels SET status = $1, online = $2, updated_at = $3 WHERE device_id = $4 AND channel_id = $5",
                )
                .bind(ev.as_str())
                .bind(online)
                .bind(now)
                .bind(device_id)
                .bind(&item.device_id)
                .execute(pool)
                .await
                .map(|_| ())?);
            }
            _ => {
                self.apply_catalog(device_id, std::slice::from_ref(item), false, now)
                    .await?;
            }
        }
        Ok(())
    }

    /// Records catalog sync progress on the device.
    pub async fn set_catalog_progress(
        &self,
        device_id: &str,
        state: CatalogState,
        received: i64,
        total: i64,
        now: i64,
    ) -> Result<()> {
        let synced = matches!(state, CatalogState::Complete | CatalogState::Partial).then_some(now);
        on_pool!(self, pool => sqlx::query(
            "UPDATE devices SET catalog_state = $1, catalog_received = $2, catalog_total = $3, \
             catalog_synced_at = COALESCE($4, catalog_synced_at), updated_at = $5 WHERE device_id = $6",
        )
        .bind(state.as_str())
        .bind(received)
        .bind(total)
        .bind(synced)
        .bind(now)
        .bind(device_id)
        .execute(pool)
        .await
        .map(|_| ())?);
        Ok(())
    }

    /// Stores what DeviceInfo reported. A name given through the API is not overwritten.
    pub async fn set_device_info(&self, info: &DeviceInfo, now: i64) -> Result<()> {
        on_pool!(self, pool => sqlx::query(
            "UPDATE devices SET name = COALESCE(name, $1), manufacturer = $2, model = $3, firmware = $4, \
             channel_count = $5, updated_at = $6 WHERE device_id = $7",
        )
        .bind(&info.device_name)
        .bind(&info.manufacturer)
        .bind(&info.model)
        .bind(&info.firmware)
        .bind(info.channel.map(i64::from))
        .bind(now)
        .bind(info.device_id.as_str())
        .execute(pool)
        .await
        .map(|_| ())?);
        Ok(())
    }

    /// Channels matching `q`, ordered by device and channel ID, with the total count.
    pub async fn list_channels(&self, q: &ChannelQuery) -> Result<(Vec<ChannelRecord>, i64)> {
        let per_page = q.per_page.clamp(1, 1000) as i64;
        let offset = (q.page.max(1) as i64 - 1) * per_page;
        let pattern = q.q.as_ref().map(|s| {
            let escaped = s
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_");
            format!("%{escaped}%")
        });
        // One statement for every filter combination: NULL parameters switch a filter off.
        let filter = "WHERE ($1 IS NULL OR device_id = $1) \
             AND ($2 IS NULL OR name LIKE $2 ESCAPE '\\' OR channel_id LIKE $2 ESCAPE '\\') \
             AND ($3 IS NULL OR online = $3) \
             AND ($4 OR removed_at IS NULL)";
        let list = format!(
            "SELECT {} FROM channels {filter} ORDER BY device_id, channel_id LIMIT $5 OFFSET $6",
            channel_columns!()
        );
        let count = format!("SELECT COUNT(*) FROM channels {filter}");
        let (rows, total) = on_pool!(self, pool => {
            let rows = sqlx::query_as::<_, ChannelRecord>(sqlx::AssertSqlSafe(list))
                .bind(&q.device_id)
                .bind(&pattern)
                .bind(q.online)
                .bind(q.include_removed)
                .bind(per_page)
                .bind(offset)
                .fetch_all(pool)
                .await?;
            let total: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(count))
                .bind(&q.device_id)
                .bind(&pattern)
                .bind(q.online)
                .bind(q.include_removed)
                .fetch_one(pool)
                .await?;
            (rows, total)
        });
        Ok((rows, total))
    }

    /// One channel by ID (the live one when a removed copy exists under another device).
    pub async fn get_channel(&self, channel_id: &str) -> Result<Option<ChannelRecord>> {
        let sql = concat!(
            "SELECT ",
            channel_columns!(),
            " FROM channels WHERE channel_id = $1 ORDER BY removed_at IS NOT NULL, updated_at DESC LIMIT 1"
        );
        Ok(
            on_pool!(self, pool => sqlx::query_as::<_, ChannelRecord>(sql)
            .bind(channel_id)
            .fetch_optional(pool)
            .await?),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::RegistrationRow;
    use crate::store::tests::PgTestDb;
    use crate::store::writer::{Batch, StateWrite};

    const NVR: &str = "34020000001180000001";

    fn item(id: &str, name: &str, status: &str) -> CatalogItem {
        let mut i = CatalogItem::new(id);
        i.name = Some(name.into());
        i.status = Some(status.into());
        i.parent_id = Some(NVR.into());
        i.block = Some("B1".into());
        i.info.insert("Resolution".into(), "6/4".into());
        i.ptz_type = Some(1);
        i
    }

    async fn exercise(store: Store) {
        let mut b = Batch::default();
        b.ops.push(StateWrite::Registered(RegistrationRow {
            device_id: NVR.into(),
            transport: "udp".into(),
            contact: String::new(),
            source_addr: "127.0.0.1:5070".into(),
            local_addr: "127.0.0.1:5060".into(),
            expires: 3600,
            registered_at: 1,
        }));
        store.apply_batch(&b).await.unwrap();
        let items: Vec<CatalogItem> = (1..=3)
            .map(|i| {
                item(
                    &format!("3402000000131000000{i}"),
                    &format!("通道{i} 东门㐀"),
                    "ON",
                )
            })
            .collect();
        let d = store.apply_catalog(NVR, &items, true, 100).await.unwrap();
        assert_eq!(
            d,
            CatalogDiff {
                added: 3,
                updated: 0,
                removed: 0
            }
        );
        // The next full catalog lacks channel 3: it is marked removed, not deleted.
        let d = store
            .apply_catalog(NVR, &items[..2], true, 200)
            .await
            .unwrap();
        assert_eq!(
            d,
            CatalogDiff {
                added: 0,
                updated: 2,
                removed: 1
            }
        );
        let q = ChannelQuery {
            device_id: Some(NVR.into()),
            per_page: 50,
            ..Default::default()
        };
        let (rows, total) = store.list_channels(&q).await.unwrap();
        assert_eq!((rows.len(), total), (2, 2));
        assert_eq!(rows[0].name.as_deref(), Some("通道1 东门㐀"));
        assert_eq!(rows[0].online, Some(true));
        assert_eq!(rows[0].first_seen, 100);
        assert_eq!(rows[0].ptz_type, Some(1));
        let extra: serde_json::Value = serde_json::from_str(&rows[0].extra).unwrap();
        assert_eq!(extra["Block"], "B1");
        assert_eq!(extra["Info/Resolution"], "6/4");
        let removed = store
            .get_channel("34020000001310000003")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(removed.removed_at, Some(200));
        let all = ChannelQuery {
            include_removed: true,
            per_page: 50,
            ..Default::default()
        };
        assert_eq!(store.list_channels(&all).await.unwrap().1, 3);
        // Search by name and by ID; paging.
        let by_name = ChannelQuery {
            q: Some("通道2".into()),
            per_page: 50,
            ..Default::default()
        };
        let (rows, total) = store.list_channels(&by_name).await.unwrap();
        assert_eq!(
            (rows[0].channel_id.as_str(), total),
            ("34020000001310000002", 1)
        );
        let page2 = ChannelQuery {
            per_page: 1,
            page: 2,
            ..Default::default()
        };
        let (rows, total) = store.list_channels(&page2).await.unwrap();
        assert_eq!(
            (rows[0].channel_id.as_str(), total),
            ("34020000001310000002", 2)
        );
        // A literal % in the search is not a wildcard.
        let pct = ChannelQuery {
            q: Some("%".into()),
            per_page: 50,
            ..Default::default()
        };
        assert_eq!(store.list_channels(&pct).await.unwrap().1, 0);
        // NOTIFY events: OFF, DEL, ADD brings a removed channel back.
        let mut off = item("34020000001310000001", "x", "ON");
        off.event = Some(CatalogEvent::Off);
        store.apply_catalog_event(NVR, &off, 300).await.unwrap();
        let c = store
            .get_channel("34020000001310000001")
            .await
            .unwrap()
            .unwrap();
        assert_eq!((c.online, c.status.as_deref()), (Some(false), Some("OFF")));
        let mut back = item("34020000001310000003", "回来", "ON");
        back.event = Some(CatalogEvent::Add);
        store.apply_catalog_event(NVR, &back, 400).await.unwrap();
        let c = store
            .get_channel("34020000001310000003")
            .await
            .unwrap()
            .unwrap();
        assert_eq!((c.removed_at, c.name.as_deref()), (None, Some("回来")));
        // Progress and device info land on the device row.
        store
            .set_catalog_progress(NVR, CatalogState::Partial, 2, 3, 500)
            .await
            .unwrap();
        let info = vigil_gb::manscdp::parse(
            "<Response><CmdType>DeviceInfo</CmdType><SN>1</SN><DeviceID>34020000001180000001</DeviceID>\
             <DeviceName>NVR</DeviceName><Result>OK</Result><Manufacturer>vigil-sim</Manufacturer>\
             <Model>m1</Model><Firmware>1.0</Firmware><Channel>3</Channel></Response>",
        )
        .unwrap();
        let vigil_gb::Manscdp::DeviceInfoResponse(info) = info else {
            panic!("{info:?}")
        };
        store.set_device_info(&info, 500).await.unwrap();
        let dev = store.get_device(NVR).await.unwrap().unwrap();
        assert_eq!(dev.catalog_state, "partial");
        assert_eq!(
            (
                dev.catalog_received,
                dev.catalog_total,
                dev.catalog_synced_at
            ),
            (2, 3, Some(500))
        );
        assert_eq!(dev.manufacturer.as_deref(), Some("vigil-sim"));
        assert_eq!(dev.channel_count, Some(3));
        // Deleting the device takes its channels with it.
        store.delete_device(NVR).await.unwrap();
        assert_eq!(store.list_channels(&all).await.unwrap().1, 0);
    }

    /// A big catalog in every chunk size: duplicates, a channel coming back, a partial write
    /// that keeps what it does not list, and a complete one that removes it.
    async fn exercise_big_catalog(store: Store) {
        let mut b = Batch::default();
        b.ops.push(StateWrite::Registered(RegistrationRow {
            device_id: NVR.into(),
            transport: "udp".into(),
            contact: String::new(),
            source_addr: "127.0.0.1:5070".into(),
            local_addr: "127.0.0.1:5060".into(),
            expires: 3600,
            registered_at: 1,
        }));
        store.apply_batch(&b).await.unwrap();
        let id = |n: usize| format!("340200000013{n:08}");
        // 256 + 64 + 16 + 4 + 1 + 1 + 1 = 343: one statement of each size and the 1-row one
        // thrice.
        let mut items: Vec<CatalogItem> = (0..343)
            .map(|n| item(&id(n), &format!("通道{n} 东门㐀"), "ON"))
            .collect();
        // Listed twice (devices repeat packets): the last content wins, counted as one
        // channel added and one item updated, as one upsert after the other would.
        let mut again = item(&id(7), "第二次", "OFF");
        again.longitude = Some(116.5);
        items.push(again);
        let d = store.apply_catalog(NVR, &items, true, 100).await.unwrap();
        assert_eq!(
            d,
            CatalogDiff {
                added: 343,
                updated: 1,
                removed: 0
            }
        );
        let all = ChannelQuery {
            device_id: Some(NVR.into()),
            include_removed: true,
            per_page: 1000,
            ..Default::default()
        };
        let (rows, total) = store.list_channels(&all).await.unwrap();
        assert_eq!(total, 343);
        for (n, row) in rows.iter().enumerate() {
            assert_eq!(row.channel_id, id(n));
            assert_eq!(
                (row.first_seen, row.updated_at, row.removed_at),
                (100, 100, None)
            );
            if n != 7 {
                assert_eq!(
                    row.name.as_deref(),
                    Some(format!("通道{n} 东门㐀").as_str())
                );
                assert_eq!((row.online, row.ptz_type), (Some(true), Some(1)));
            }
        }
        assert_eq!(rows[7].name.as_deref(), Some("第二次"));
        assert_eq!(
            (rows[7].online, rows[7].longitude),
            (Some(false), Some(116.5))
        );

        // A partial catalog of the first 300 (one renamed) adds and updates only.
        let mut part = items[..300].to_vec();
        part[299].name = Some("改名".into());
        let d = store.apply_catalog(NVR, &part, false, 200).await.unwrap();
        assert_eq!(
            d,
            CatalogDiff {
                added: 0,
                updated: 300,
                removed: 0
            }
        );
        let (rows, _) = store.list_channels(&all).await.unwrap();
        assert!(rows.iter().all(|r| r.removed_at.is_none()));
        assert_eq!(rows[299].name.as_deref(), Some("改名"));
        assert_eq!((rows[299].first_seen, rows[299].updated_at), (100, 200));
        assert_eq!(rows[300].updated_at, 100);

        // A complete catalog of channels 10..320 and one new: 0..10 and 320..343 are removed.
        let mut full: Vec<CatalogItem> = items[10..320].to_vec();
        full.push(item(&id(9000), "新", "ON"));
        let d = store.apply_catalog(NVR, &full, true, 300).await.unwrap();
        assert_eq!(
            d,
            CatalogDiff {
                added: 1,
                updated: 310,
                removed: 33
            }
        );
        // Back in the next complete catalog: a removed channel counts as added again and
        // keeps its first_seen.
        let d = store
            .apply_catalog(NVR, &items[..320], true, 400)
            .await
            .unwrap();
        assert_eq!(
            d,
            CatalogDiff {
                added: 10,
                updated: 310,
                removed: 1
            }
        );
        let c = store.get_channel(&id(3)).await.unwrap().unwrap();
        assert_eq!((c.first_seen, c.updated_at, c.removed_at), (100, 400, None));
        let gone = store.get_channel(&id(9000)).await.unwrap().unwrap();
        assert_eq!(gone.removed_at, Some(400));
        let live = ChannelQuery {
            device_id: Some(NVR.into()),
            per_page: 1000,
            ..Default::default()
        };
        assert_eq!(store.list_channels(&live).await.unwrap().1, 320);
    }

    #[test]
    fn chunk_sizes_add_up_with_few_statements() {
        let sizes = |n| chunk_sizes(n).map(|(_, s)| s).collect::<Vec<_>>();
        assert_eq!(sizes(0), Vec::<usize>::new());
        assert_eq!(sizes(1), [1]);
        assert_eq!(sizes(16), [16]);
        assert_eq!(sizes(343), [256, 64, 16, 4, 1, 1, 1]);
        assert_eq!(sizes(2000), [[256; 7].as_slice(), &[64; 3], &[16]].concat());
        for n in 0..1200 {
            assert_eq!(sizes(n).iter().sum::<usize>(), n);
        }
        // Every value of the largest statement has its placeholder, once, in order.
        let values = CHUNKS[0] * UPSERT_ROW_VALUES;
        let pg = upsert_sql(Placeholders::Numbered, CHUNKS[0]);
        assert!(pg.contains("VALUES ($1, $2, "));
        assert!(pg.contains(&format!(", ${values}) ON CONFLICT")));
        assert!(!pg.contains(&format!("${}", values + 1)));
        let sqlite = upsert_sql(Placeholders::Bare, CHUNKS[0]);
        assert_eq!(sqlite.matches('?').count(), values);
        assert!(!sqlite.contains('$'));
        assert!(
            present_sql(Placeholders::Numbered, 2)
                .ends_with("device_id = $1 AND removed_at IS NULL AND channel_id IN ($2, $3)")
        );
        assert!(present_sql(Placeholders::Bare, 2).ends_with("IN (?, ?)"));
    }

    #[tokio::test]
    async fn sqlite_big_catalog_in_chunks_with_duplicates_partial_and_removal() {
        exercise_big_catalog(Store::connect("sqlite::memory:", 1).await.unwrap()).await;
    }

    #[tokio::test]
    async fn postgres_big_catalog_in_chunks_with_duplicates_partial_and_removal() {
        let db = PgTestDb::create().await;
        let store = Store::connect(&db.url, 2).await.unwrap();
        exercise_big_catalog(store.clone()).await;
        store.close().await;
        db.drop_db().await;
    }

    #[tokio::test]
    async fn sqlite_catalog_upsert_remove_search_and_events() {
        exercise(Store::connect("sqlite::memory:", 1).await.unwrap()).await;
    }

    #[tokio::test]
    async fn postgres_catalog_upsert_remove_search_and_events() {
        let db = PgTestDb::create().await;
        let store = Store::connect(&db.url, 2).await.unwrap();
        exercise(store.clone()).await;
        store.close().await;
        db.drop_db().await;
    }
}
