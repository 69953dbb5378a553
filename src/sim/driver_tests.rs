//! The driver over real loopback sockets against a scripted platform: devices share UDP
//! sockets, and requests reach the right device by device or channel ID.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use vigil_gb::Manscdp;
use vigil_sip::{Message, Method, Request, Response};

use crate::sim::{DeviceState, SimConfig, Simulator};

const WAIT: Duration = Duration::from_secs(8);

/// A platform that accepts every REGISTER without a challenge and answers every MESSAGE
/// with 200; it forwards what the devices send, with the source address, to the test.
async fn platform() -> (Arc<UdpSocket>, mpsc::Receiver<(Message, SocketAddr)>) {
    let sock = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
    let (tx, rx) = mpsc::channel(1024);
    let s = sock.clone();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 65_535];
        while let Ok((n, from)) = s.recv_from(&mut buf).await {
            let Ok(msg) = vigil_sip::parse(&buf[..n]) else {
                continue;
            };
            if let Message::Request(req) = &msg {
                let mut resp = Response::for_request(req, 200, "").with_to_tag("plat");
                if req.method == Method::Register {
                    resp.headers.push("Expires", "60");
                }
                let _ = s.send_to(&resp.to_bytes(), from).await;
            }
            if tx.send((msg, from)).await.is_err() {
                return;
            }
        }
    });
    (sock, rx)
}

fn query(cmd: &str, uri_user: &str, device: &str, sn: u32, branch: &str) -> Vec<u8> {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"GB2312\"?>\r\n<Query><CmdType>{cmd}</CmdType><SN>{sn}</SN><DeviceID>{device}</DeviceID></Query>\r\n"
    );
    let mut req = Request::new(
        Method::Message,
        format!("sip:{uri_user}@3402000000").parse().unwrap(),
    );
    let h = &mut req.headers;
    h.push(
        "Via",
        format!("SIP/2.0/UDP 127.0.0.1:5060;rport;branch={branch}"),
    );
    h.push("From", "<sip:34020000002000000001@3402000000>;tag=q");
    h.push("To", format!("<sip:{uri_user}@3402000000>"));
    h.push("Call-ID", format!("call-{branch}"));
    h.push("CSeq", "1 MESSAGE");
    h.push("Max-Forwards", "70");
    req.set_body("Application/MANSCDP+xml", body);
    req.to_bytes()
}

/// Waits for the next message matching `pred`, skipping keepalives and the like.
async fn next(
    rx: &mut mpsc::Receiver<(Message, SocketAddr)>,
    mut pred: impl FnMut(&Message) -> bool,
) -> (Message, SocketAddr) {
    tokio::time::timeout(WAIT, async {
        loop {
            let (m, from) = rx.recv().await.expect("platform task alive");
            if pred(&m) {
                return (m, from);
            }
        }
    })
    .await
    .expect("expected message in time")
}

fn manscdp(m: &Message) -> Option<Manscdp> {
    match m {
        Message::Request(r) if r.method == Method::Message => {
            vigil_gb::parse_body(&r.body).ok().map(|(m, _)| m)
        }
        _ => None,
    }
}

#[tokio::test]
async fn devices_share_sockets_and_queries_reach_the_right_device() {
    let (plat, mut rx) = platform().await;
    let sim = Simulator::start(SimConfig {
        server: plat.local_addr().unwrap(),
        devices: 3,
        channels: 2,
        udp_sockets: 2,
        rate: 0.0,
        keepalive_interval: Duration::from_secs(30),
        catalog_page: 1,
        bind_ip: Some("127.0.0.1".parse().unwrap()),
        seed: Some(1),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    sim.wait_registered(3, WAIT).await.unwrap();
    assert_eq!(sim.udp_local_addrs().len(), 2);

    // Catalog of device 1, asked by its device ID.
    let dev1 = sim.device_id(1).to_string();
    // Device i uses socket i % 2.
    let to = sim.udp_local_addrs()[1];
    plat.send_to(&query("Catalog", &dev1, &dev1, 77, "z9hG4bKc1"), to)
        .await
        .unwrap();
    let (ok, _) = next(
        &mut rx,
        |m| matches!(m, Message::Response(r) if r.headers.call_id().ok() == Some("call-z9hG4bKc1")),
    )
    .await;
    let Message::Response(ok) = ok else {
        unreachable!()
    };
    assert_eq!(ok.status.code(), 200);
    let mut items = Vec::new();
    while items.len() < 2 {
        let (m, from) = next(&mut rx, |m| {
            matches!(manscdp(m), Some(Manscdp::CatalogResponse(_)))
        })
        .await;
        assert_eq!(from, to, "answers come from the device's own socket");
        let Some(Manscdp::CatalogResponse(c)) = manscdp(&m) else {
            unreachable!()
        };
        assert_eq!(
            (c.sn, c.sum_num, c.device_id.to_string()),
            (77, 2, dev1.clone())
        );
        assert_eq!(c.items.len(), 1, "one item per page");
        items.extend(c.items);
    }
    let got: Vec<String> = items.iter().map(|i| i.device_id.clone()).collect();
    assert_eq!(
        got,
        [
            sim.channel_id(1, 0).to_string(),
            sim.channel_id(1, 1).to_string()
        ]
    );
    assert_eq!(items[0].name.as_deref(), Some("通道1 东门"));

    // DeviceInfo addressed to a channel of device 2 is answered by device 2.
    let ch = sim.channel_id(2, 1).to_string();
    plat.send_to(
        &query("DeviceInfo", &ch, &ch, 78, "z9hG4bKi1"),
        sim.udp_local_addrs()[0],
    )
    .await
    .unwrap();
    let (m, _) = next(&mut rx, |m| {
        matches!(manscdp(m), Some(Manscdp::DeviceInfoResponse(_)))
    })
    .await;
    let Message::Request(r) = &m else {
        unreachable!()
    };
    assert_eq!(
        r.headers.from().unwrap().uri.user.as_deref(),
        Some(sim.device_id(2).as_str())
    );

    // An ID nobody here has: 404, so the platform stops retransmitting.
    plat.send_to(
        &query(
            "Catalog",
            "34020000001329999999",
            "34020000001329999999",
            1,
            "z9hG4bKn",
        ),
        sim.udp_local_addrs()[0],
    )
    .await
    .unwrap();
    let (m, _) = next(
        &mut rx,
        |m| matches!(m, Message::Response(r) if r.headers.call_id().ok() == Some("call-z9hG4bKn")),
    )
    .await;
    let Message::Response(r) = m else {
        unreachable!()
    };
    assert_eq!(r.status.code(), 404);

    sim.wait_for("queries counted", WAIT, |s| {
        s.queries.get("Catalog") == Some(&1) && s.queries.get("DeviceInfo") == Some(&1)
    })
    .await
    .unwrap();
    sim.stop().await;
}

#[tokio::test]
async fn devices_start_at_the_configured_rate() {
    let (plat, _rx) = platform().await;
    let sim = Simulator::start(SimConfig {
        server: plat.local_addr().unwrap(),
        devices: 5,
        rate: 10.0,
        bind_ip: Some("127.0.0.1".parse().unwrap()),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let t0 = tokio::time::Instant::now();
    sim.wait_registered(1, WAIT).await.unwrap();
    // Device 4 starts 400 ms after device 0.
    sim.wait_registered(5, WAIT).await.unwrap();
    assert!(
        t0.elapsed() >= Duration::from_millis(350),
        "{:?}",
        t0.elapsed()
    );
    assert_eq!(sim.status().count(DeviceState::Registered), 5);
    sim.stop().await;
}

#[tokio::test]
async fn unanswered_devices_retransmit_and_report_no_registration() {
    // A socket that never answers.
    let silent = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let sim = Simulator::start(SimConfig {
        server: silent.local_addr().unwrap(),
        devices: 2,
        rate: 0.0,
        bind_ip: Some("127.0.0.1".parse().unwrap()),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let mut buf = vec![0u8; 4096];
    let mut registers = 0;
    let until = tokio::time::Instant::now() + Duration::from_millis(1200);
    while let Ok(Ok((n, _))) = tokio::time::timeout_at(until, silent.recv_from(&mut buf)).await {
        if buf[..n].starts_with(b"REGISTER ") {
            registers += 1;
        }
    }
    // Each device: the first REGISTER at 0, retransmissions at 0.5 s and 1.5 s (Timer E).
    assert_eq!(registers, 4, "two sends each within 1.2 s");
    let s = sim.status();
    assert_eq!(s.registered, 0);
    assert_eq!(s.count(DeviceState::Registering), 2);
    sim.stop().await;
}
