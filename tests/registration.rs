//! Registration end to end: the simulator's devices register with a real platform over
//! loopback (UDP and TCP), and the REST API shows what users rely on: who is online, who
//! went offline (unregistered, keepalives stopped), what survives a restart, and that wrong
//! or unprovisioned credentials get nobody in. Each test runs on its own platform and
//! database; the ones that touch the store run on SQLite and on PostgreSQL.

mod common;

use std::time::Duration;

use common::{Backend, Platform, TestDb, WAIT, config, init_logging, sim_config};
use vigil::sim::{DeviceState, SimHandle, SimTransport, Simulator};

fn ids(sim: &SimHandle) -> Vec<String> {
    (0..sim.devices())
        .map(|i| sim.device_id(i).to_string())
        .collect()
}

/// Runs `$name(Backend)` once per database backend, as `$name::sqlite` and `$name::postgres`.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name(Backend::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name(Backend::Postgres).await
            }
        }
    )*};
}

on_both_backends!(
    registers_over_udp_and_shows_online,
    unregister_takes_the_device_offline,
    silent_device_goes_offline_after_missed_keepalives,
    restart_keeps_registered_devices_online_without_a_new_register,
    unprovisioned_device_is_refused_until_provisioned,
);

async fn registers_over_udp_and_shows_online(backend: Backend) {
    init_logging();
    let db = TestDb::new(backend).await;
    let mut p = Platform::start(config(&db)).await;
    let sim = Simulator::start(sim_config(p.sip(), 3)).await.unwrap();
    sim.wait_registered(3, WAIT).await.unwrap();
    let ids = ids(&sim);
    p.wait_online(&ids, &[Some(true); 3], WAIT).await;

    let list = p.devices().await;
    assert_eq!(list.len(), 3, "{list:#?}");
    for d in &list {
        assert_eq!(d["registered_transport"], "udp", "{d}");
        let source = d["source_addr"].as_str().unwrap_or_default();
        assert!(
            sim.udp_local_addrs()
                .iter()
                .any(|a| a.to_string() == source),
            "source {source} is one of the simulator's sockets {:?}",
            sim.udp_local_addrs()
        );
    }
    // Keepalives flow and are accepted.
    sim.wait_for("keepalives answered", WAIT, |s| s.keepalives_ok >= 6)
        .await
        .unwrap();
    let s = sim.status();
    assert!(s.register_failures.is_empty(), "{s}");
    assert_eq!(s.challenges, 3, "one digest challenge per device: {s}");
    sim.stop().await;
    p.shutdown().await;
}

async fn unregister_takes_the_device_offline(backend: Backend) {
    init_logging();
    let db = TestDb::new(backend).await;
    let mut p = Platform::start(config(&db)).await;
    let sim = Simulator::start(sim_config(p.sip(), 2)).await.unwrap();
    sim.wait_registered(2, WAIT).await.unwrap();
    let ids = ids(&sim);
    p.wait_online(&ids, &[Some(true), Some(true)], WAIT).await;

    sim.unregister(0).await;
    sim.wait_state(0, DeviceState::Unregistered, WAIT)
        .await
        .unwrap();
    assert_eq!(sim.status().unregistrations, 1);
    // Offline at once (not after a keepalive timeout), still listed; the other stays online.
    p.wait_online(&ids, &[Some(false), Some(true)], Duration::from_millis(900))
        .await;
    sim.stop().await;
    p.shutdown().await;
}

async fn silent_device_goes_offline_after_missed_keepalives(backend: Backend) {
    init_logging();
    let db = TestDb::new(backend).await;
    let mut p = Platform::start(config(&db)).await;
    let sim = Simulator::start(sim_config(p.sip(), 3)).await.unwrap();
    sim.wait_registered(3, WAIT).await.unwrap();
    let ids = ids(&sim);
    p.wait_online(&ids, &[Some(true); 3], WAIT).await;

    sim.stop_keepalives(1).await;
    // 2 missed intervals of 500 ms; the others keep it up.
    p.wait_online(&ids, &[Some(true), Some(false), Some(true)], WAIT)
        .await;
    // Its registration is still valid: keepalives resuming bring it back.
    assert_eq!(sim.device(1).unwrap().state, DeviceState::Registered);
    let registrations = sim.status().registrations;
    sim.resume_keepalives(1).await;
    p.wait_online(&ids, &[Some(true); 3], WAIT).await;
    assert_eq!(
        sim.status().registrations,
        registrations,
        "no REGISTER needed"
    );
    sim.stop().await;
    p.shutdown().await;
}

async fn restart_keeps_registered_devices_online_without_a_new_register(backend: Backend) {
    init_logging();
    let db = TestDb::new(backend).await;
    let mut p = Platform::start(config(&db)).await;
    let sim = Simulator::start(sim_config(p.sip(), 3)).await.unwrap();
    sim.wait_registered(3, WAIT).await.unwrap();
    let ids = ids(&sim);
    p.wait_online(&ids, &[Some(true); 3], WAIT).await;
    // Device 2 is unplugged before the restart: it must not come back online.
    sim.unplug(2).await;
    p.wait_online(&ids, &[Some(true), Some(true), Some(false)], WAIT)
        .await;

    let before = sim.status();
    p.restart().await;
    let keepalives_at_restart = sim.status().keepalives_ok;
    // Well past the restored devices' grace period (one keepalive deadline, 1 s).
    tokio::time::sleep(Duration::from_millis(2500)).await;
    p.wait_online(&ids, &[Some(true), Some(true), Some(false)], WAIT)
        .await;
    let after = sim.status();
    assert!(
        after.keepalives_ok > keepalives_at_restart + 6,
        "keepalives reach the new instance: {after}"
    );
    assert_eq!(
        after.registrations, before.registrations,
        "no device registered again: {after}"
    );
    assert!(after.keepalives_refused.is_empty(), "{after}");
    sim.stop().await;
    p.shutdown().await;
}

async fn unprovisioned_device_is_refused_until_provisioned(backend: Backend) {
    init_logging();
    let db = TestDb::new(backend).await;
    let mut cfg = config(&db);
    cfg.sip.allow_unknown_devices = false;
    let mut p = Platform::start(cfg).await;
    let sim = Simulator::start(vigil::sim::SimConfig {
        retry_interval: Duration::from_secs(60),
        ..sim_config(p.sip(), 1)
    })
    .await
    .unwrap();
    sim.wait_for("403 for the unknown device", WAIT, |s| {
        s.register_failures.get(&403) == Some(&1)
    })
    .await
    .unwrap();
    assert_eq!(sim.device(0).unwrap().state, DeviceState::Failed);
    let ids = ids(&sim);
    assert_eq!(p.online(&ids).await, [None], "not listed");

    // Provision it (as POST /api/v1/devices will) and let it try again.
    let running = p.running();
    running
        .store
        .insert_device(
            &vigil::store::NewDevice {
                device_id: ids[0].clone(),
                name: Some("gate".into()),
                ..Default::default()
            },
            vigil::platform::unix_ms(),
        )
        .await
        .unwrap();
    running.registry.reload(sim.device_id(0)).await;
    sim.register(0).await;
    sim.wait_registered(1, WAIT).await.unwrap();
    p.wait_online(&ids, &[Some(true)], WAIT).await;
    sim.stop().await;
    p.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registers_over_tcp_and_shows_online() {
    init_logging();
    let db = TestDb::new(Backend::Sqlite).await;
    let mut p = Platform::start(config(&db)).await;
    let tcp = p.running().sip_tcp.expect("SIP TCP listener");
    let sim = Simulator::start(vigil::sim::SimConfig {
        transport: SimTransport::Tcp,
        ..sim_config(tcp, 3)
    })
    .await
    .unwrap();
    sim.wait_registered(3, WAIT).await.unwrap();
    let ids = ids(&sim);
    p.wait_online(&ids, &[Some(true); 3], WAIT).await;
    for d in p.devices().await {
        assert_eq!(d["registered_transport"], "tcp", "{d}");
    }
    // Keepalives go over the same connections and keep them online past the deadline.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    p.wait_online(&ids, &[Some(true); 3], WAIT).await;
    let s = sim.status();
    assert!(s.keepalives_ok >= 6 && s.send_errors == 0, "{s}");
    sim.stop().await;
    p.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_gets_403_and_never_online() {
    init_logging();
    let db = TestDb::new(Backend::Sqlite).await;
    let mut p = Platform::start(config(&db)).await;
    let sim = Simulator::start(vigil::sim::SimConfig {
        password_for: Some(std::sync::Arc::new(|i, _| {
            if i == 1 {
                "wrong".into()
            } else {
                "12345678".into()
            }
        })),
        ..sim_config(p.sip(), 2)
    })
    .await
    .unwrap();
    sim.wait_for("device 1 refused", WAIT, |s| {
        s.devices[1].last_register_status == Some(403)
    })
    .await
    .unwrap();
    sim.wait_registered(1, WAIT).await.unwrap();
    let ids = ids(&sim);
    p.wait_online(&ids[..1], &[Some(true)], WAIT).await;
    // It keeps retrying (with back-off) and keeps being refused.
    sim.wait_for("a second refusal after the back-off", WAIT, |s| {
        s.devices[1].register_failures >= 2
    })
    .await
    .unwrap();
    let s = sim.status();
    assert_eq!(s.registered, 1, "{s}");
    assert_ne!(s.devices[1].state, DeviceState::Registered);
    assert_ne!(p.online(&ids[1..]).await, [Some(true)]);

    // With the right password it gets in.
    sim.set_password(1, "12345678").await;
    sim.register(1).await;
    sim.wait_registered(2, WAIT).await.unwrap();
    p.wait_online(&ids, &[Some(true), Some(true)], WAIT).await;
    sim.stop().await;
    p.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn burst_of_200_devices_all_get_online() {
    init_logging();
    let db = TestDb::new(Backend::Sqlite).await;
    let mut p = Platform::start(config(&db)).await;
    let started = std::time::Instant::now();
    // All 200 send their first REGISTER in the same instant.
    let sim = Simulator::start(vigil::sim::SimConfig {
        rate: 0.0,
        keepalive_interval: Duration::from_millis(300),
        ..sim_config(p.sip(), 200)
    })
    .await
    .unwrap();
    sim.wait_registered(200, Duration::from_secs(15))
        .await
        .unwrap();
    let took = started.elapsed();
    let ids = ids(&sim);
    p.wait_online(&ids, &[Some(true); 200], WAIT).await;
    assert_eq!(p.running().registry.online().await.len(), 200);
    let s = sim.status();
    assert!(s.register_failures.is_empty(), "{s}");
    eprintln!("200 devices registered in {took:?}: {s}");
    sim.stop().await;
    p.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forgotten_device_is_refused_on_keepalive_and_registers_again() {
    init_logging();
    let db = TestDb::new(Backend::Sqlite).await;
    let mut p = Platform::start(config(&db)).await;
    let sim = Simulator::start(sim_config(p.sip(), 2)).await.unwrap();
    sim.wait_registered(2, WAIT).await.unwrap();
    let ids = ids(&sim);
    p.wait_online(&ids, &[Some(true), Some(true)], WAIT).await;

    // The platform forgets device 0 (as after DELETE /api/v1/devices/{id}, or a platform
    // that lost its database): its next keepalive gets 403 and it must register again.
    assert!(p.running().store.delete_device(&ids[0]).await.unwrap());
    p.running().registry.reload(sim.device_id(0)).await;
    sim.wait_for("device 0 registered a second time", WAIT, |s| {
        s.devices[0].registrations >= 2
    })
    .await
    .unwrap();
    p.wait_online(&ids, &[Some(true), Some(true)], WAIT).await;
    let s = sim.status();
    assert!(
        s.keepalives_refused.get(&403).is_some_and(|n| *n >= 1),
        "{s}"
    );
    assert_eq!(
        s.devices[1].registrations, 1,
        "device 1 was left alone: {s}"
    );
    sim.stop().await;
    p.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refreshes_before_expiry_and_reauthenticates_on_stale_nonce() {
    init_logging();
    let db = TestDb::new(Backend::Sqlite).await;
    let mut cfg = config(&db);
    // Grant 2 s registrations (refresh due at 1.6 s) and 1 s nonces, so refreshes carry
    // credentials on an expired nonce and get `stale=true`.
    cfg.sip.register_expires_min = Duration::from_secs(1);
    cfg.sip.register_expires_max = Duration::from_secs(2);
    cfg.sip.nonce_ttl = Duration::from_secs(1);
    let mut p = Platform::start(cfg).await;
    let sim = Simulator::start(sim_config(p.sip(), 2)).await.unwrap();
    sim.wait_registered(2, WAIT).await.unwrap();
    let ids = ids(&sim);
    sim.wait_for("two refreshes per device", WAIT, |s| {
        s.devices.iter().all(|d| d.registrations >= 3)
    })
    .await
    .unwrap();
    p.wait_online(&ids, &[Some(true), Some(true)], WAIT).await;
    let s = sim.status();
    assert!(s.stale_challenges >= 1, "{s}");
    assert!(
        s.register_failures.is_empty() && s.register_timeouts == 0,
        "{s}"
    );
    assert!(s.keepalives_refused.is_empty(), "never lapsed: {s}");
    assert_eq!(s.registered, 2, "{s}");
    sim.stop().await;
    p.shutdown().await;
}
