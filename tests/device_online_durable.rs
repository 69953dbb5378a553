//! `device_online` is published only once the registration is durably stored: whoever reacts
//! to it (catalog sync, webhooks, an integrator reading the API) finds the device's row. The
//! test holds the database's write lock from outside while a simulated device registers: no
//! 200 OK and no event may come while the registration cannot be committed; both come once
//! the lock is released, and by then the row says online. On SQLite and PostgreSQL.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Backend, Platform, TestDb, WAIT, config, init_logging, sim_config};
use sqlx::Connection;
use tokio::sync::broadcast;
use vigil::platform::events::{Event, EventKind};
use vigil::sim::Simulator;

/// How long the lock is held: well past the platform's normal commit time (milliseconds).
const HELD: Duration = Duration::from_millis(1500);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_online_waits_for_the_stored_registration_sqlite() {
    device_online_waits_for_the_stored_registration(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_online_waits_for_the_stored_registration_postgres() {
    device_online_waits_for_the_stored_registration(Backend::Postgres).await;
}

/// A connection holding the write lock on the devices table until dropped or released.
enum Lock {
    Sqlite(sqlx::SqliteConnection),
    Pg(sqlx::PgConnection),
}

impl Lock {
    async fn take(backend: Backend, url: &str) -> Lock {
        match backend {
            Backend::Sqlite => {
                let mut c = sqlx::SqliteConnection::connect(url).await.unwrap();
                sqlx::query("BEGIN IMMEDIATE")
                    .execute(&mut c)
                    .await
                    .unwrap();
                Lock::Sqlite(c)
            }
            Backend::Postgres => {
                let mut c = sqlx::PgConnection::connect(url).await.unwrap();
                sqlx::query("BEGIN").execute(&mut c).await.unwrap();
                // Blocks writes, not reads.
                sqlx::query("LOCK TABLE devices IN EXCLUSIVE MODE")
                    .execute(&mut c)
                    .await
                    .unwrap();
                Lock::Pg(c)
            }
        }
    }

    async fn release(self) {
        match self {
            Lock::Sqlite(mut c) => {
                sqlx::query("ROLLBACK").execute(&mut c).await.unwrap();
                c.close().await.unwrap();
            }
            Lock::Pg(mut c) => {
                sqlx::query("ROLLBACK").execute(&mut c).await.unwrap();
                c.close().await.unwrap();
            }
        }
    }
}

/// The `device_online` events received so far, by device ID.
fn online_events(rx: &mut broadcast::Receiver<Arc<Event>>) -> Vec<String> {
    let mut ids = Vec::new();
    while let Ok(ev) = rx.try_recv() {
        if let EventKind::DeviceOnline { device_id, .. } = &ev.kind {
            ids.push(device_id.clone());
        }
    }
    ids
}

async fn device_online_waits_for_the_stored_registration(backend: Backend) {
    init_logging();
    let db = TestDb::new(backend).await;
    let p = Platform::start(config(&db)).await;
    let mut events = p.running().events.subscribe();

    let lock = Lock::take(backend, &db.url).await;
    let sim = Simulator::start(sim_config(p.sip(), 1)).await.unwrap();
    let id = sim.device_id(0).to_string();
    // The device got its challenge and sent its credentials; the registry accepted them,
    // but the write cannot commit.
    sim.wait_for("digest challenge answered", WAIT, |s| s.challenges >= 1)
        .await
        .unwrap();
    tokio::time::sleep(HELD).await;
    assert_eq!(
        online_events(&mut events),
        Vec::<String>::new(),
        "device_online published before the registration was stored"
    );
    let s = sim.status();
    assert_eq!(
        s.registrations, 0,
        "200 OK before the registration was stored: {s}"
    );

    lock.release().await;
    sim.wait_registered(1, WAIT).await.unwrap();
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut seen = Vec::new();
    while !seen.contains(&id) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no device_online for {id}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
        seen.extend(online_events(&mut events));
    }
    // Read at once, as an event consumer would: the row is there and says online.
    let row = p
        .running()
        .store
        .get_device(&id)
        .await
        .unwrap()
        .expect("device row stored before device_online");
    assert!(row.online, "{row:?}");
    assert_eq!(seen, vec![id], "one device_online, for this device");
    sim.stop().await;
}
