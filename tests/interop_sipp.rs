//! Interop: sipp (Debian `sip-tester`) plays GB28181 devices against a real `vigil` over
//! UDP, and the REST API (with an API key) shows who got in. Without sipp on the machine
//! these tests say so and pass, except under CI (`CI` set), where a missing sipp is a
//! failure: .ci/run installs it.

mod common;

use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{ADMIN_PASSWORD, Backend, Platform, TestDb};
use vigil::config::{Config, Secret};

fn sipp_available() -> bool {
    let found = Command::new("sipp").arg("-v").output().is_ok();
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "sipp is required under CI (apt-get install sip-tester)"
        );
        eprintln!("sipp not installed: interop test skipped (apt-get install sip-tester)");
    }
    found
}

fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// An injection file: device ID and the `[authentication ...]` keyword for each call.
fn users_csv(dir: &Path, first: u32, n: u32, password: &str) -> PathBuf {
    let mut s = String::from("SEQUENTIAL\n");
    for i in first..first + n {
        let id = format!("3402000000132{i:07}");
        s.push_str(&format!(
            "{id};[authentication username={id} password={password}]\n"
        ));
    }
    let p = dir.join(format!("users-{first}.csv"));
    std::fs::write(&p, s).unwrap();
    p
}

/// vigil with its default timing (sipp sends no keepalives), UDP only, auth on.
async fn start_vigil(db: &TestDb) -> Platform {
    let mut c = Config::default();
    c.sip.listen = "127.0.0.1:0".parse().unwrap();
    c.sip.transports = vec!["udp".into()];
    c.http.listen = "127.0.0.1:0".parse().unwrap();
    c.database.url = db.url.clone();
    c.auth.enabled = true;
    c.auth.admin_password = Secret(ADMIN_PASSWORD.into());
    Platform::start(c).await
}

/// Runs a sipp scenario to completion; returns (successful, failed) call counts.
async fn run_sipp(
    scenario: &str,
    users: &Path,
    target: std::net::SocketAddr,
    calls: u32,
    rate: u32,
) -> (u32, u32) {
    let scenario = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/sipp")
        .join(scenario);
    let dir = users.parent().unwrap().to_owned();
    let stats = dir.join(format!("stats-{}.csv", free_udp_port()));
    let port = free_udp_port();
    let args: Vec<String> = vec![
        "-sf".into(),
        scenario.display().to_string(),
        "-inf".into(),
        users.display().to_string(),
        target.to_string(),
        "-i".into(),
        "127.0.0.1".into(),
        "-p".into(),
        port.to_string(),
        "-m".into(),
        calls.to_string(),
        "-r".into(),
        rate.to_string(),
        "-nostdin".into(),
        "-timeout".into(),
        "30".into(),
        "-trace_err".into(),
        "-trace_stat".into(),
        "-stf".into(),
        stats.display().to_string(),
    ];
    let out = tokio::task::spawn_blocking(move || {
        Command::new("sipp").current_dir(&dir).args(&args).output()
    })
    .await
    .unwrap()
    .expect("run sipp");
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    let csv = std::fs::read_to_string(&stats).unwrap_or_default();
    // The last stats line holds the cumulative counters.
    let header: Vec<&str> = csv.lines().next().unwrap_or("").split(';').collect();
    let last: Vec<&str> = csv.lines().last().unwrap_or("").split(';').collect();
    let col = |name: &str| -> u32 {
        header
            .iter()
            .position(|h| *h == name)
            .and_then(|i| last.get(i))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {name} in sipp stats; sipp said:\n{text}"))
    };
    (col("SuccessfulCall(C)"), col("FailedCall(C)"))
}

async fn online_devices(p: &Platform) -> Vec<String> {
    p.devices()
        .await
        .iter()
        .filter(|d| d["online"] == true)
        .map(|d| d["device_id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipp_devices_register_with_digest_and_get_200() {
    if !sipp_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::new(Backend::Sqlite).await;
    let mut vigil = start_vigil(&db).await;
    let users = users_csv(dir.path(), 1, 50, "12345678");
    let (ok, failed) = run_sipp("register.xml", &users, vigil.sip(), 50, 100).await;
    assert_eq!((ok, failed), (50, 0));
    let online = online_devices(&vigil).await;
    assert_eq!(online.len(), 50, "{online:?}");
    assert!(online.contains(&"34020000001320000001".to_owned()));
    vigil.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipp_malformed_request_gets_400_and_the_next_register_succeeds() {
    if !sipp_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::new(Backend::Sqlite).await;
    let mut vigil = start_vigil(&db).await;
    let users = users_csv(dir.path(), 100, 5, "12345678");
    let (ok, failed) = run_sipp("malformed_then_register.xml", &users, vigil.sip(), 5, 50).await;
    assert_eq!((ok, failed), (5, 0));
    assert_eq!(online_devices(&vigil).await.len(), 5);
    vigil.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipp_wrong_password_is_refused_and_device_stays_offline() {
    if !sipp_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::new(Backend::Sqlite).await;
    let mut vigil = start_vigil(&db).await;
    let users = users_csv(dir.path(), 200, 3, "wrong-password");
    // register.xml expects 200; every call must fail (on the 403).
    let (ok, failed) = run_sipp("register.xml", &users, vigil.sip(), 3, 50).await;
    assert_eq!((ok, failed), (0, 3));
    assert!(online_devices(&vigil).await.is_empty());
    tokio::time::sleep(Duration::from_millis(10)).await;
    vigil.shutdown().await;
}
