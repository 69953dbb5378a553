//! The device machine stepped on a fake clock against a scripted platform (a real
//! `DigestServer` checks the credentials it sends).

use std::sync::Arc;
use std::time::{Duration, Instant};

use vigil_gb::{Charset, Manscdp};
use vigil_sip::digest::{Credential, DigestServer, Verdict};
use vigil_sip::{Message, Request, Response};

use super::*;
use crate::sim::plan::IdPlan;

const SERVER: &str = "127.0.0.1:5060";
const LOCAL: &str = "127.0.0.1:40000";

fn profile(transport: SimTransport, channels: usize) -> (Arc<Profile>, DeviceSetup) {
    let p = Profile::new(
        SERVER.parse().unwrap(),
        "34020000002000000001",
        "3402000000",
        transport,
        Duration::from_secs(60),
        3600,
        Charset::Gb2312,
        2,
        Duration::from_secs(10),
    )
    .unwrap();
    let plan = IdPlan::new("3402000000132", 1, 1, channels).unwrap();
    let setup = DeviceSetup {
        id: plan.device(0),
        channels: (0..channels).map(|j| plan.channel(0, j)).collect(),
        password: "12345678".into(),
        local: LOCAL.parse().unwrap(),
        seed: 7,
    };
    (Arc::new(p), setup)
}

fn udp_device() -> Device {
    let (p, s) = profile(SimTransport::Udp, 3);
    Device::new(p, s)
}

/// Everything the device wants to do right now.
#[derive(Debug, Default)]
struct Drained {
    sent: Vec<Message>,
    events: Vec<Event>,
}

impl Drained {
    fn requests(&self) -> Vec<&Request> {
        self.sent
            .iter()
            .filter_map(|m| match m {
                Message::Request(r) => Some(r),
                _ => None,
            })
            .collect()
    }
    fn responses(&self) -> Vec<&Response> {
        self.sent
            .iter()
            .filter_map(|m| match m {
                Message::Response(r) => Some(r),
                _ => None,
            })
            .collect()
    }
    fn only_request(&self) -> Request {
        let r = self.requests();
        assert_eq!(r.len(), 1, "expected one request, got {:#?}", self.sent);
        r[0].clone()
    }
}

fn drain(d: &mut Device) -> Drained {
    let mut out = Drained::default();
    while let Some(o) = d.poll_output() {
        match o {
            Output::Transmit { bytes, .. } => out.sent.push(vigil_sip::parse(&bytes).unwrap()),
            Output::Event(e) => out.events.push(e),
            // Live calls have their own tests (device/call.rs).
            Output::OpenMedia(_)
            | Output::StartMedia { .. }
            | Output::StopMedia { .. }
            | Output::KeyFrame { .. } => {}
        }
    }
    out
}

fn answer(req: &Request, code: u16, headers: &[(&str, &str)]) -> Message {
    let mut r = Response::for_request(req, code, "").with_to_tag("srv");
    for (n, v) in headers {
        r.headers.push(*n, *v);
    }
    Message::Response(r)
}

fn server() -> DigestServer {
    DigestServer::new(b"secret", "3402000000", Duration::from_secs(300))
}

fn feed(d: &mut Device, now: Instant, m: Message) -> Drained {
    d.handle_message(now, 0, m, SERVER.parse().unwrap());
    drain(d)
}

/// Runs the 401 → REGISTER with credentials → 200 exchange; returns the authorized REGISTER.
fn register(d: &mut Device, now: Instant, srv: &mut DigestServer) -> Request {
    d.register(now);
    let first = drain(d).only_request();
    assert!(first.headers.authorization().unwrap().is_none());
    let challenge = srv.challenge(1_000, false);
    let second = feed(
        d,
        now,
        answer(&first, 401, &[("WWW-Authenticate", &challenge)]),
    )
    .only_request();
    let auth = second
        .headers
        .authorization()
        .unwrap()
        .expect("credentials");
    assert_eq!(
        srv.verify(&auth, "REGISTER", Credential::Password("12345678"), 1_000),
        Verdict::Ok
    );
    let out = feed(d, now, answer(&second, 200, &[("Expires", "100")]));
    assert!(
        out.events.contains(&Event::Registered { expires: 100 }),
        "{:?}",
        out.events
    );
    second
}

#[test]
fn register_looks_like_gb28181_and_answers_the_challenge() {
    let mut d = udp_device();
    let now = Instant::now();
    let mut srv = server();
    d.register(now);
    let first = drain(&mut d).only_request();
    assert_eq!(first.method, Method::Register);
    assert_eq!(first.uri.to_string(), "sip:34020000002000000001@3402000000");
    assert_eq!(
        first.headers.get("To"),
        Some("<sip:34020000001320000001@3402000000>")
    );
    assert_eq!(
        first.headers.get("Contact"),
        Some("<sip:34020000001320000001@127.0.0.1:40000>")
    );
    assert_eq!(first.headers.expires(), Some(3600));
    let via = first.headers.top_via().unwrap();
    assert!(via.has_rfc3261_branch() && via.has_rport());

    let second = feed(
        &mut d,
        now,
        answer(
            &first,
            401,
            &[("WWW-Authenticate", &srv.challenge(5, false))],
        ),
    )
    .only_request();
    // Same registration (Call-ID, From tag), next CSeq, new branch.
    assert_eq!(
        second.headers.call_id().unwrap(),
        first.headers.call_id().unwrap()
    );
    assert_eq!(
        second.headers.from().unwrap().tag(),
        first.headers.from().unwrap().tag()
    );
    assert_eq!(
        second.headers.cseq().unwrap().seq,
        first.headers.cseq().unwrap().seq + 1
    );
    assert_ne!(
        second.headers.top_via().unwrap().branch(),
        first.headers.top_via().unwrap().branch()
    );
    let auth = second.headers.authorization().unwrap().unwrap();
    assert_eq!(auth.username(), Some("34020000001320000001"));
    assert_eq!(auth.uri(), Some("sip:34020000002000000001@3402000000"));
    assert_eq!(
        srv.verify(&auth, "REGISTER", Credential::Password("12345678"), 5),
        Verdict::Ok
    );
    let out = feed(&mut d, now, answer(&second, 200, &[("Expires", "100")]));
    assert_eq!(d.state(), DeviceState::Registered);
    // The first keepalive goes out at once.
    d.handle_timeout(now);
    let ka = drain(&mut d).only_request();
    assert_eq!(ka.method, Method::Message);
    assert!(out.events.contains(&Event::State {
        from: DeviceState::Registering,
        to: DeviceState::Registered
    }));
}

#[test]
fn refreshes_at_80_percent_of_the_granted_expires() {
    let mut d = udp_device();
    let t0 = Instant::now();
    let mut srv = server();
    register(&mut d, t0, &mut srv);
    d.handle_timeout(t0); // first keepalive
    let _ = drain(&mut d);
    d.handle_timeout(t0 + Duration::from_millis(79_900));
    assert!(
        drain(&mut d)
            .requests()
            .iter()
            .all(|r| r.method != Method::Register)
    );
    d.handle_timeout(t0 + Duration::from_secs(80));
    let refresh = drain(&mut d);
    let reg: Vec<_> = refresh
        .requests()
        .into_iter()
        .filter(|r| r.method == Method::Register)
        .collect();
    assert_eq!(reg.len(), 1);
    // Pre-emptive credentials with the next nonce count.
    let auth = reg[0].headers.authorization().unwrap().unwrap();
    assert_eq!(auth.nc(), Some("00000002"));
    assert_eq!(
        d.state(),
        DeviceState::Registered,
        "still registered while refreshing"
    );
}

#[test]
fn stale_nonce_gets_credentials_for_the_new_nonce() {
    let mut d = udp_device();
    let t0 = Instant::now();
    let mut srv = server();
    register(&mut d, t0, &mut srv);
    d.register(t0); // refresh now
    let refresh = drain(&mut d).only_request();
    let fresh = srv.challenge(400_000, true);
    let out = feed(
        &mut d,
        t0,
        answer(&refresh, 401, &[("WWW-Authenticate", &fresh)]),
    );
    assert!(out.events.contains(&Event::Challenged { stale: true }));
    let again = out.only_request();
    let auth = again.headers.authorization().unwrap().unwrap();
    let new_nonce = vigil_sip::Challenge::parse(&fresh)
        .unwrap()
        .nonce()
        .unwrap()
        .to_owned();
    assert_eq!(auth.nonce(), Some(new_nonce.as_str()));
    assert_eq!(
        srv.verify(&auth, "REGISTER", Credential::Password("12345678"), 400_000),
        Verdict::Ok
    );
}

#[test]
fn forbidden_is_reported_and_retried_after_a_growing_back_off() {
    let mut d = udp_device();
    let t0 = Instant::now();
    d.register(t0);
    let first = drain(&mut d).only_request();
    let out = feed(&mut d, t0, answer(&first, 403, &[]));
    assert!(out.events.contains(&Event::RegisterFailed { status: 403 }));
    assert!(out.sent.is_empty());
    assert_eq!(d.state(), DeviceState::Failed);
    let retry = d.poll_timeout().unwrap() - t0;
    assert!(
        (8..=12).contains(&retry.as_secs()),
        "first back-off ~10 s, got {retry:?}"
    );
    d.handle_timeout(t0 + retry);
    let second = drain(&mut d).only_request();
    assert_eq!(second.method, Method::Register);
    assert_eq!(d.state(), DeviceState::Registering);
    let t1 = t0 + retry;
    let _ = feed(&mut d, t1, answer(&second, 403, &[]));
    let retry2 = d.poll_timeout().unwrap() - t1;
    assert!(
        (16..=24).contains(&retry2.as_secs()),
        "doubles, got {retry2:?}"
    );
}

#[test]
fn repeated_challenges_count_as_wrong_credentials() {
    let mut d = udp_device();
    let t0 = Instant::now();
    let srv = server();
    d.register(t0);
    let mut req = drain(&mut d).only_request();
    for i in 0..MAX_AUTH_TRIES {
        let out = feed(
            &mut d,
            t0,
            answer(
                &req,
                401,
                &[("WWW-Authenticate", &srv.challenge(i as u64, false))],
            ),
        );
        req = out.only_request();
    }
    let out = feed(
        &mut d,
        t0,
        answer(&req, 401, &[("WWW-Authenticate", &srv.challenge(9, false))]),
    );
    assert!(out.sent.is_empty());
    assert!(out.events.contains(&Event::RegisterFailed { status: 401 }));
}

#[test]
fn service_unavailable_honours_retry_after() {
    let mut d = udp_device();
    let t0 = Instant::now();
    d.register(t0);
    let first = drain(&mut d).only_request();
    let _ = feed(&mut d, t0, answer(&first, 503, &[("Retry-After", "5")]));
    assert_eq!(d.poll_timeout(), Some(t0 + Duration::from_secs(5)));
}

#[test]
fn udp_retransmits_on_timer_e_and_gives_up_on_timer_f() {
    let mut d = udp_device();
    let t0 = Instant::now();
    d.register(t0);
    let first = drain(&mut d).only_request();
    let mut at = Vec::new();
    let mut now = t0;
    while let Some(t) = d.poll_timeout() {
        if t - t0 > TIMER_F {
            break;
        }
        now = t;
        d.handle_timeout(now);
        let out = drain(&mut d);
        for r in out.requests() {
            assert_eq!(
                r.to_bytes(),
                first.to_bytes(),
                "a retransmission is the same bytes"
            );
            at.push((now - t0).as_millis());
        }
        if out.events.contains(&Event::RegisterTimedOut) {
            break;
        }
    }
    // 0.5, 1.5, 3.5, 7.5, then every T2 (4 s) until 32 s.
    assert_eq!(
        at,
        [
            500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500
        ]
    );
    assert_eq!(now - t0, TIMER_F);
    assert_eq!(d.state(), DeviceState::Failed);
}

#[test]
fn provisional_response_slows_retransmission_to_t2() {
    let mut d = udp_device();
    let t0 = Instant::now();
    d.register(t0);
    let first = drain(&mut d).only_request();
    let _ = feed(&mut d, t0, answer(&first, 100, &[]));
    assert_eq!(d.poll_timeout(), Some(t0 + T2));
}

#[test]
fn tcp_does_not_retransmit() {
    let (p, s) = profile(SimTransport::Tcp, 1);
    let mut d = Device::new(p, s);
    let t0 = Instant::now();
    d.register(t0);
    let first = drain(&mut d).only_request();
    assert!(
        first
            .headers
            .get("Via")
            .unwrap()
            .starts_with("SIP/2.0/TCP ")
    );
    assert_eq!(d.poll_timeout(), Some(t0 + TIMER_F));
    // Connection lost: fail now, retry later.
    d.connection_lost(t0);
    assert_eq!(d.state(), DeviceState::Failed);
    assert!(drain(&mut d).events.contains(&Event::RegisterTimedOut));
}

#[test]
fn keepalives_every_interval_and_a_refused_one_triggers_registration() {
    let mut d = udp_device();
    let t0 = Instant::now();
    let mut srv = server();
    register(&mut d, t0, &mut srv);
    d.handle_timeout(t0);
    let ka = drain(&mut d).only_request();
    let (msg, cs) = vigil_gb::parse_body(&ka.body).unwrap();
    assert_eq!(cs, Charset::Gb2312);
    let Manscdp::Keepalive(k) = msg else {
        panic!("{msg:?}")
    };
    assert_eq!(k.device_id.as_str(), "34020000001320000001");
    assert_eq!(
        ka.headers.get("Content-Type"),
        Some("Application/MANSCDP+xml")
    );
    let out = feed(&mut d, t0, answer(&ka, 200, &[]));
    assert_eq!(out.events, [Event::KeepaliveAnswered { status: 200 }]);
    assert_eq!(d.poll_timeout(), Some(t0 + Duration::from_secs(60)));

    let t1 = t0 + Duration::from_secs(60);
    d.handle_timeout(t1);
    let ka2 = drain(&mut d).only_request();
    let Manscdp::Keepalive(k2) = vigil_gb::parse_body(&ka2.body).unwrap().0 else {
        panic!()
    };
    assert_eq!(k2.sn, k.sn + 1);
    let out = feed(&mut d, t1, answer(&ka2, 403, &[]));
    let reg = out.only_request();
    assert_eq!(reg.method, Method::Register);
    assert_eq!(d.state(), DeviceState::Registering);
}

#[test]
fn stopped_keepalives_stay_stopped_while_registration_refreshes() {
    let mut d = udp_device();
    let t0 = Instant::now();
    let mut srv = server();
    register(&mut d, t0, &mut srv);
    d.set_keepalives(false, t0);
    d.handle_timeout(t0 + Duration::from_secs(79));
    assert!(drain(&mut d).sent.is_empty());
    d.handle_timeout(t0 + Duration::from_secs(80));
    assert_eq!(drain(&mut d).only_request().method, Method::Register);
}

fn query(cmd: &str, sn: u32, device: &str, branch: &str) -> Message {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"GB2312\"?>\r\n<Query><CmdType>{cmd}</CmdType><SN>{sn}</SN><DeviceID>{device}</DeviceID></Query>\r\n"
    );
    let text = format!(
        "MESSAGE sip:{device}@3402000000 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;rport;branch={branch}\r\n\
         From: <sip:34020000002000000001@3402000000>;tag=p1\r\nTo: <sip:{device}@3402000000>\r\n\
         Call-ID: q-{branch}\r\nCSeq: 20 MESSAGE\r\nContent-Type: Application/MANSCDP+xml\r\n\
         Max-Forwards: 70\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    vigil_sip::parse(text.as_bytes()).unwrap()
}

#[test]
fn catalog_query_gets_200_then_the_catalog_in_pages() {
    let mut d = udp_device();
    let t0 = Instant::now();
    let mut srv = server();
    register(&mut d, t0, &mut srv);
    let out = feed(
        &mut d,
        t0,
        query("Catalog", 17430, "34020000001320000001", "z9hG4bKq1"),
    );
    let resp = out.responses();
    assert_eq!(resp.len(), 1);
    assert_eq!(resp[0].status.code(), 200);
    assert!(resp[0].headers.to().unwrap().tag().is_some());
    assert!(out.events.contains(&Event::MessageReceived {
        root: Root::Query,
        cmd_type: "Catalog".into()
    }));
    let pages = out.requests();
    assert_eq!(pages.len(), 2, "3 channels, 2 per page");
    let mut ids = Vec::new();
    for p in pages {
        assert_eq!(p.method, Method::Message);
        let Manscdp::CatalogResponse(c) = vigil_gb::parse_body(&p.body).unwrap().0 else {
            panic!()
        };
        assert_eq!((c.sn, c.sum_num), (17430, 3));
        ids.extend(c.items.into_iter().map(|i| i.device_id));
    }
    assert_eq!(
        ids,
        [
            "34020000001310000001",
            "34020000001310000002",
            "34020000001310000003"
        ]
    );
    // The platform did not see our 200 and sends the query again: same 200, no second catalog.
    let again = feed(
        &mut d,
        t0,
        query("Catalog", 17430, "34020000001320000001", "z9hG4bKq1"),
    );
    assert_eq!(again.sent.len(), 1);
    assert_eq!(again.responses()[0].to_bytes(), resp[0].to_bytes());
    assert!(again.events.is_empty());
}

#[test]
fn device_info_and_status_are_answered() {
    let mut d = udp_device();
    let t0 = Instant::now();
    let out = feed(
        &mut d,
        t0,
        query("DeviceInfo", 5, "34020000001320000001", "z9hG4bKi"),
    );
    let Manscdp::DeviceInfoResponse(i) = vigil_gb::parse_body(&out.only_request().body).unwrap().0
    else {
        panic!()
    };
    assert_eq!((i.sn, i.channel), (5, Some(3)));
    assert_eq!(i.manufacturer.as_deref(), Some("vigil-sim"));
    let out = feed(
        &mut d,
        t0,
        query("DeviceStatus", 6, "34020000001320000001", "z9hG4bKs"),
    );
    let Manscdp::DeviceStatusResponse(s) =
        vigil_gb::parse_body(&out.only_request().body).unwrap().0
    else {
        panic!()
    };
    assert_eq!(s.is_online(), Some(true));
    assert_eq!(s.device_time.as_deref(), Some("1970-01-01T00:00:00"));
}

#[test]
fn unregister_sends_expires_zero_with_credentials() {
    let mut d = udp_device();
    let t0 = Instant::now();
    let mut srv = server();
    register(&mut d, t0, &mut srv);
    d.unregister(t0);
    let req = drain(&mut d).only_request();
    assert_eq!(req.headers.expires(), Some(0));
    let auth = req.headers.authorization().unwrap().unwrap();
    assert_eq!(
        srv.verify(&auth, "REGISTER", Credential::Password("12345678"), 1_000),
        Verdict::Ok
    );
    let out = feed(&mut d, t0, answer(&req, 200, &[("Expires", "0")]));
    assert!(out.events.contains(&Event::Unregistered));
    assert_eq!(d.state(), DeviceState::Unregistered);
    assert_eq!(d.poll_timeout(), None, "quiet until told to register");
}

#[test]
fn unplugged_device_neither_sends_nor_answers() {
    let mut d = udp_device();
    let t0 = Instant::now();
    let mut srv = server();
    register(&mut d, t0, &mut srv);
    d.unplug();
    assert_eq!(d.poll_timeout(), None);
    let out = feed(
        &mut d,
        t0,
        query("Catalog", 1, "34020000001320000001", "z9hG4bKu"),
    );
    assert!(out.sent.is_empty());
    d.register(t0);
    assert_eq!(drain(&mut d).only_request().method, Method::Register);
}
