//! Transaction layer tests on virtual time: a client layer and a server layer exchange transmits
//! through a wire that records every message and drops the ones a test chooses.

use std::time::{Duration, Instant};

use vigil_sip::transaction::{
    Config, TimeoutCause, Timers, TransactionKey, TransactionLayer, Transmit, TxError, TxEvent,
    cancel_for,
};
use vigil_sip::{Bytes, Message, Method, Request, Response, StatusCode, Uri};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Peer {
    Client,
    Server,
}

/// One message put on the wire.
#[derive(Debug, Clone)]
struct Wire {
    at: Duration,
    from: Peer,
    first_line: String,
    data: Bytes,
    delivered: bool,
}

type DropRule = Box<dyn FnMut(&Wire) -> bool>;

/// Two layers on a virtual clock (quinn's `Pair`), with a loss emulator.
struct Pair {
    start: Instant,
    now: Instant,
    reliable: bool,
    client: TransactionLayer<Peer>,
    server: TransactionLayer<Peer>,
    wire: Vec<Wire>,
    drop: DropRule,
    client_events: Vec<(Duration, TxEvent<Peer>)>,
    server_events: Vec<(Duration, TxEvent<Peer>)>,
}

impl Pair {
    fn new(reliable: bool) -> Pair {
        Pair::with_config(reliable, Config::default())
    }

    fn with_config(reliable: bool, config: Config) -> Pair {
        let start = Instant::now();
        Pair {
            start,
            now: start,
            reliable,
            client: TransactionLayer::with_config(config.clone()),
            server: TransactionLayer::with_config(config),
            wire: Vec::new(),
            drop: Box::new(|_| false),
            client_events: Vec::new(),
            server_events: Vec::new(),
        }
    }

    /// Drop every message for which `rule` is true.
    fn drop_when(&mut self, rule: impl FnMut(&Wire) -> bool + 'static) {
        self.drop = Box::new(rule);
    }

    fn elapsed(&self) -> Duration {
        self.now - self.start
    }

    fn send(&mut self, req: Request) -> TransactionKey {
        let key = self
            .client
            .send_request(self.now, req, Peer::Server, self.reliable)
            .unwrap();
        self.flush();
        key
    }

    fn respond(&mut self, key: TransactionKey, resp: Response) {
        self.server.send_response(self.now, key, resp).unwrap();
        self.flush();
    }

    /// Carry transmits both ways until both layers are quiet, then collect events.
    fn flush(&mut self) {
        loop {
            let mut moved = false;
            while let Some(t) = self.client.poll_transmit() {
                moved = true;
                self.carry(Peer::Client, t);
            }
            while let Some(t) = self.server.poll_transmit() {
                moved = true;
                self.carry(Peer::Server, t);
            }
            if !moved {
                break;
            }
        }
        let at = self.elapsed();
        while let Some(e) = self.client.poll_event() {
            self.client_events.push((at, e));
        }
        while let Some(e) = self.server.poll_event() {
            self.server_events.push((at, e));
        }
    }

    fn carry(&mut self, from: Peer, t: Transmit<Peer>) {
        let to = if from == Peer::Client {
            Peer::Server
        } else {
            Peer::Client
        };
        assert_eq!(t.to, to, "transmit addressed to the wrong peer");
        let first_line = String::from_utf8_lossy(&t.data)
            .lines()
            .next()
            .unwrap_or("")
            .to_owned();
        let mut w = Wire {
            at: self.elapsed(),
            from,
            first_line,
            data: t.data.clone(),
            delivered: true,
        };
        w.delivered = !(self.drop)(&w);
        self.wire.push(w);
        if !self.wire.last().unwrap().delivered {
            return;
        }
        let msg = Message::parse(&t.data).expect("layers send parsable messages");
        let layer = if to == Peer::Server {
            &mut self.server
        } else {
            &mut self.client
        };
        layer.handle_message(self.now, msg, from, self.reliable);
    }

    fn next_timeout(&self) -> Option<Instant> {
        match (self.client.poll_timeout(), self.server.poll_timeout()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Jump to the next timer of either layer and fire it. False when no timer is armed.
    fn step(&mut self) -> bool {
        let Some(next) = self.next_timeout() else {
            return false;
        };
        assert!(next >= self.now, "a timer in the past was left armed");
        self.now = next;
        self.client.handle_timeout(self.now);
        self.server.handle_timeout(self.now);
        self.flush();
        true
    }

    /// Fire timers until `d` from now has passed.
    fn run_for(&mut self, d: Duration) {
        let end = self.now + d;
        while self.next_timeout().is_some_and(|t| t <= end) {
            self.step();
        }
        self.now = end;
    }

    fn run_until_idle(&mut self) {
        for _ in 0..10_000 {
            if !self.step() {
                return;
            }
        }
        panic!("timers never stopped");
    }

    /// Times (ms since start) at which messages starting with `prefix` went out from `from`.
    fn sent_at(&self, from: Peer, prefix: &str) -> Vec<u128> {
        self.wire
            .iter()
            .filter(|w| w.from == from && w.first_line.starts_with(prefix))
            .map(|w| w.at.as_millis())
            .collect()
    }

    fn wire_of(&self, from: Peer, prefix: &str) -> Vec<&Wire> {
        self.wire
            .iter()
            .filter(|w| w.from == from && w.first_line.starts_with(prefix))
            .collect()
    }

    fn new_requests(&self) -> Vec<(TransactionKey, Request)> {
        self.server_events
            .iter()
            .filter_map(|(_, e)| match e {
                TxEvent::NewRequest { key, request, .. } => Some((*key, request.clone())),
                _ => None,
            })
            .collect()
    }

    fn responses(&self) -> Vec<(Duration, u16)> {
        self.client_events
            .iter()
            .filter_map(|(at, e)| match e {
                TxEvent::Response { response, .. } => Some((*at, response.status.code())),
                _ => None,
            })
            .collect()
    }
}

fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

fn request(method: Method, branch: &str, cseq: u32) -> Request {
    let mut r = Request::new(
        method.clone(),
        Uri::parse("sip:34020000001320000001@192.168.1.64:5060").unwrap(),
    );
    r.headers.push(
        "Via",
        format!("SIP/2.0/UDP 192.168.1.10:5060;rport;branch={branch}"),
    );
    r.headers
        .push("From", "<sip:34020000002000000001@3402000000>;tag=plat1");
    r.headers
        .push("To", "<sip:34020000001320000001@3402000000>");
    r.headers.push("Call-ID", "call-1@192.168.1.10");
    r.headers.push("CSeq", format!("{cseq} {method}"));
    r.headers.push("Max-Forwards", "70");
    r
}

fn keepalive_query(branch: &str) -> Request {
    let mut r = request(Method::Message, branch, 20);
    r.set_body(
        "Application/MANSCDP+xml",
        &b"<?xml version=\"1.0\"?><Query><CmdType>Catalog</CmdType><SN>1</SN></Query>"[..],
    );
    r
}

fn answer(req: &Request, status: u16) -> Response {
    Response::for_request(req, status, "").with_to_tag("cam1")
}

fn count<R>(events: &[(Duration, TxEvent<R>)], pred: impl Fn(&TxEvent<R>) -> bool) -> usize {
    events.iter().filter(|(_, e)| pred(e)).count()
}

fn timeouts<R>(events: &[(Duration, TxEvent<R>)]) -> Vec<(Duration, TimeoutCause)> {
    events
        .iter()
        .filter_map(|(at, e)| match e {
            TxEvent::Timeout { cause, .. } => Some((*at, *cause)),
            _ => None,
        })
        .collect()
}

fn terminated_at<R>(events: &[(Duration, TxEvent<R>)], key: TransactionKey) -> Option<Duration> {
    events.iter().find_map(|(at, e)| match e {
        TxEvent::Terminated { key: k } if *k == key => Some(*at),
        _ => None,
    })
}

// ---- non-INVITE -----------------------------------------------------------------------------

#[test]
fn timer_e_doubles_from_t1_to_t2_cap_and_timer_f_times_out_at_64_t1() {
    let mut p = Pair::new(false);
    p.drop_when(|w| w.from == Peer::Client);
    let key = p.send(keepalive_query("z9hG4bKe1"));
    p.run_until_idle();

    assert_eq!(
        p.sent_at(Peer::Client, "MESSAGE"),
        vec![
            0, 500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500
        ]
    );
    assert_eq!(
        timeouts(&p.client_events),
        vec![(ms(32_000), TimeoutCause::TimerF)]
    );
    assert_eq!(terminated_at(&p.client_events, key), Some(ms(32_000)));
    assert!(p.client.is_empty());
}

#[test]
fn retransmissions_are_the_same_bytes() {
    let mut p = Pair::new(false);
    p.drop_when(|w| w.from == Peer::Client);
    p.send(keepalive_query("z9hG4bKe2"));
    p.run_for(ms(2000));
    let sent = p.wire_of(Peer::Client, "MESSAGE");
    assert_eq!(sent.len(), 3);
    assert!(sent.iter().all(|w| w.data == sent[0].data));
}

#[test]
fn reliable_transport_has_no_timer_e_and_still_times_out_with_timer_f() {
    let mut p = Pair::new(true);
    p.drop_when(|w| w.from == Peer::Client);
    p.send(keepalive_query("z9hG4bKr1"));
    p.run_until_idle();
    assert_eq!(p.sent_at(Peer::Client, "MESSAGE"), vec![0]);
    assert_eq!(
        timeouts(&p.client_events),
        vec![(ms(32_000), TimeoutCause::TimerF)]
    );
}

#[test]
fn retransmitted_request_reaches_the_application_once_and_gets_the_cached_final_byte_identical() {
    let mut p = Pair::new(false);
    // Lose the first 200 OK: the client retransmits, the server answers from its cache.
    let mut lost = 0;
    p.drop_when(move |w| {
        if w.from == Peer::Server && w.first_line.starts_with("SIP/2.0 200") && lost == 0 {
            lost += 1;
            return true;
        }
        false
    });
    p.send(keepalive_query("z9hG4bKa1"));
    let (key, req) = p.new_requests()[0].clone();
    p.respond(key, answer(&req, 200));
    p.run_for(ms(600));

    assert_eq!(p.new_requests().len(), 1, "the retransmission was absorbed");
    let oks = p.wire_of(Peer::Server, "SIP/2.0 200");
    assert_eq!(oks.len(), 2);
    assert_eq!(oks[0].data, oks[1].data, "re-sent byte for byte");
    assert_eq!(oks[1].at, ms(500));
    assert_eq!(p.responses(), vec![(ms(500), 200)]);
    // The client stops retransmitting once it has the final response.
    p.run_until_idle();
    assert_eq!(p.sent_at(Peer::Client, "MESSAGE"), vec![0, 500]);
}

#[test]
fn retransmission_before_any_answer_is_absorbed_silently() {
    let mut p = Pair::new(false);
    p.send(keepalive_query("z9hG4bKs1"));
    p.run_for(ms(1600)); // two retransmissions reach the server
    assert_eq!(p.sent_at(Peer::Client, "MESSAGE"), vec![0, 500, 1500]);
    assert_eq!(p.new_requests().len(), 1);
    assert!(p.wire_of(Peer::Server, "SIP/2.0").is_empty());
}

#[test]
fn provisional_response_is_resent_on_retransmission_and_moves_timer_e_to_t2() {
    let mut p = Pair::new(false);
    p.send(keepalive_query("z9hG4bKp1"));
    let (key, req) = p.new_requests()[0].clone();
    p.respond(key, answer(&req, 100));
    // Timer E fires at 0.5 s in Proceeding, so the next intervals are T2; each retransmission
    // fetches the cached 100 again.
    p.run_for(ms(10_000));
    assert_eq!(p.sent_at(Peer::Client, "MESSAGE"), vec![0, 500, 4500, 8500]);
    assert_eq!(
        p.sent_at(Peer::Server, "SIP/2.0 100"),
        vec![0, 500, 4500, 8500]
    );
    assert_eq!(p.new_requests().len(), 1);
    p.respond(key, answer(&req, 200));
    assert_eq!(p.responses().last(), Some(&(ms(10_000), 200)));
}

#[test]
fn timer_j_keeps_the_server_transaction_64_t1_over_udp() {
    let mut p = Pair::new(false);
    p.send(keepalive_query("z9hG4bKj1"));
    let (key, req) = p.new_requests()[0].clone();
    p.respond(key, answer(&req, 200));
    p.run_until_idle();
    assert_eq!(terminated_at(&p.server_events, key), Some(ms(32_000)));
    assert!(p.server.is_empty());
}

#[test]
fn timer_j_and_k_are_zero_over_reliable_transport() {
    let mut p = Pair::new(true);
    let ckey = p.send(keepalive_query("z9hG4bKj2"));
    let (key, req) = p.new_requests()[0].clone();
    p.respond(key, answer(&req, 200));
    assert_eq!(terminated_at(&p.server_events, key), Some(ms(0)));
    assert_eq!(terminated_at(&p.client_events, ckey), Some(ms(0)));
    assert!(p.client.is_empty() && p.server.is_empty());
    assert_eq!(p.next_timeout(), None);
}

#[test]
fn timer_k_keeps_the_client_transaction_t4_over_udp_absorbing_late_finals() {
    let mut p = Pair::new(false);
    let ckey = p.send(keepalive_query("z9hG4bKk1"));
    let (key, req) = p.new_requests()[0].clone();
    p.respond(key, answer(&req, 200));
    // A duplicated final response arriving in Completed is not passed up again.
    let dup = Message::parse(&p.wire_of(Peer::Server, "SIP/2.0 200")[0].data).unwrap();
    p.client.handle_message(p.now, dup, Peer::Server, false);
    p.flush();
    assert_eq!(p.responses().len(), 1);
    p.run_until_idle();
    assert_eq!(terminated_at(&p.client_events, ckey), Some(ms(5_000)));
}

#[test]
fn unanswered_server_request_is_dropped_after_the_answer_deadline() {
    let mut p = Pair::new(true);
    p.send(keepalive_query("z9hG4bKu1"));
    let (key, _) = p.new_requests()[0].clone();
    p.run_until_idle();
    let server_timeouts = timeouts(&p.server_events);
    assert_eq!(
        server_timeouts,
        vec![(ms(32_000), TimeoutCause::NoFinalResponse)]
    );
    assert!(!p.server.contains(key));
    assert_eq!(
        p.server
            .send_response(p.now, key, Response::new(200))
            .unwrap_err(),
        TxError::UnknownTransaction(key)
    );
}

// ---- matching -------------------------------------------------------------------------------

/// A request from an RFC 2543 camera: branch without the magic cookie.
fn rfc2543_request(method: Method, cseq: u32, branch: Option<&str>) -> Request {
    let mut r = Request::new(
        method.clone(),
        Uri::parse("sip:34020000002000000001@3402000000").unwrap(),
    );
    let via = match branch {
        Some(b) => format!("SIP/2.0/UDP 192.168.1.64:5060;branch={b}"),
        None => "SIP/2.0/UDP 192.168.1.64:5060".to_owned(),
    };
    r.headers.push("Via", via);
    r.headers
        .push("From", "<sip:34020000001320000001@3402000000>;tag=old7");
    r.headers
        .push("To", "<sip:34020000002000000001@3402000000>");
    r.headers.push("Call-ID", "2543-call@192.168.1.64");
    r.headers.push("CSeq", format!("{cseq} {method}"));
    r
}

fn deliver(layer: &mut TransactionLayer<Peer>, now: Instant, req: &Request) {
    let msg = Message::parse(&req.to_bytes()).unwrap();
    layer.handle_message(now, msg, Peer::Client, false);
}

fn drain(layer: &mut TransactionLayer<Peer>) -> (Vec<TxEvent<Peer>>, Vec<Transmit<Peer>>) {
    let mut events = Vec::new();
    while let Some(e) = layer.poll_event() {
        events.push(e);
    }
    let mut tx = Vec::new();
    while let Some(t) = layer.poll_transmit() {
        tx.push(t);
    }
    (events, tx)
}

#[test]
fn rfc2543_request_without_cookie_is_matched_on_uri_tags_call_id_cseq_and_via() {
    let now = Instant::now();
    let mut server = TransactionLayer::<Peer>::new(Timers::default());
    for branch in [Some("1491280923"), None] {
        let req = rfc2543_request(Method::Register, 1, branch);
        deliver(&mut server, now, &req);
        let (events, _) = drain(&mut server);
        let [TxEvent::NewRequest { key, .. }] = events.as_slice() else {
            panic!("{events:?}")
        };
        server.send_response(now, *key, answer(&req, 401)).unwrap();
        let (_, first) = drain(&mut server);
        // The same request again: absorbed, the 401 re-sent.
        deliver(&mut server, now, &req);
        let (events, again) = drain(&mut server);
        assert!(events.is_empty(), "{events:?}");
        assert_eq!(again[0].data, first[0].data);
    }
    // A new CSeq (the REGISTER with credentials) is a new transaction.
    let next = rfc2543_request(Method::Register, 2, Some("1491280923"));
    deliver(&mut server, now, &next);
    let (events, _) = drain(&mut server);
    assert!(matches!(events.as_slice(), [TxEvent::NewRequest { .. }]));
    // So is one whose To tag differs.
    let mut tagged = rfc2543_request(Method::Register, 1, Some("1491280923"));
    tagged
        .headers
        .set("To", "<sip:34020000002000000001@3402000000>;tag=x");
    deliver(&mut server, now, &tagged);
    let (events, _) = drain(&mut server);
    assert!(matches!(events.as_slice(), [TxEvent::NewRequest { .. }]));
    assert_eq!(server.len(), 4);
}

#[test]
fn same_branch_from_another_sent_by_is_another_transaction() {
    let now = Instant::now();
    let mut server = TransactionLayer::<Peer>::new(Timers::default());
    let a = request(Method::Message, "z9hG4bKsame", 1);
    let mut b = a.clone();
    b.headers
        .set("Via", "SIP/2.0/UDP 192.168.1.11:5060;branch=z9hG4bKsame");
    // Host case and the default port do not make a different sent-by.
    let mut c = a.clone();
    c.headers
        .set("Via", "SIP/2.0/udp 192.168.1.10;rport;branch=z9hG4bKsame");
    for r in [&a, &b, &c] {
        deliver(&mut server, now, r);
    }
    let (events, _) = drain(&mut server);
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(server.len(), 2);
}

#[test]
fn response_without_a_client_transaction_is_a_stray_event() {
    let now = Instant::now();
    let mut client = TransactionLayer::<Peer>::new(Timers::default());
    let resp = answer(&request(Method::Message, "z9hG4bKnone", 3), 200);
    client.handle_message(now, resp.clone().into(), Peer::Server, false);
    // Same branch as a live MESSAGE but CSeq says REGISTER: not ours either.
    client
        .send_request(
            now,
            request(Method::Message, "z9hG4bKlive", 3),
            Peer::Server,
            false,
        )
        .unwrap();
    let mut other = answer(&request(Method::Message, "z9hG4bKlive", 3), 200);
    other.headers.set("CSeq", "3 REGISTER");
    client.handle_message(now, other.clone().into(), Peer::Server, false);
    let (events, _) = drain(&mut client);
    assert_eq!(
        events,
        vec![
            TxEvent::StrayResponse {
                response: resp,
                from: Peer::Server
            },
            TxEvent::StrayResponse {
                response: other,
                from: Peer::Server
            },
        ]
    );
}

#[test]
fn unusable_requests_are_reported_without_creating_transactions() {
    let now = Instant::now();
    let mut server = TransactionLayer::<Peer>::new(Timers::default());
    let mut no_via = request(Method::Message, "z9hG4bKb1", 1);
    no_via.headers.remove("Via");
    let mut wrong_cseq = request(Method::Message, "z9hG4bKb2", 1);
    wrong_cseq.headers.set("CSeq", "1 INVITE");
    for r in [no_via, wrong_cseq] {
        server.handle_message(now, r.into(), Peer::Client, false);
    }
    let (events, tx) = drain(&mut server);
    let whys: Vec<_> = events
        .iter()
        .map(|e| match e {
            TxEvent::BadRequest { error, .. } => (error.name, error.why),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        whys,
        vec![
            ("Via", "missing"),
            ("CSeq", "method does not match the request line")
        ]
    );
    assert!(tx.is_empty());
    assert!(server.is_empty());
}

#[test]
fn server_transaction_cap_reports_overload_and_frees_room_when_one_ends() {
    let now = Instant::now();
    let config = Config {
        max_server_transactions: 2,
        ..Config::default()
    };
    let mut server = TransactionLayer::<Peer>::with_config(config);
    let reqs: Vec<_> = (0..3)
        .map(|i| request(Method::Message, &format!("z9hG4bKcap{i}"), 1))
        .collect();
    for r in &reqs {
        deliver(&mut server, now, r);
    }
    let (events, _) = drain(&mut server);
    assert!(matches!(events[0], TxEvent::NewRequest { .. }));
    assert!(matches!(events[1], TxEvent::NewRequest { .. }));
    let TxEvent::Overloaded { request, from } = &events[2] else {
        panic!("{:?}", events[2])
    };
    assert_eq!(
        request.headers.top_via().unwrap().branch(),
        Some("z9hG4bKcap2")
    );
    // The application answers 503 outside any transaction.
    server.send_stateless(*from, answer(request, 503));
    let (_, tx) = drain(&mut server);
    assert!(
        tx[0]
            .data
            .starts_with(b"SIP/2.0 503 Service Unavailable\r\n")
    );
    assert_eq!(tx[0].key, None);
    assert_eq!(server.len(), 2);
    // A retransmission of a live request is still absorbed at the cap.
    deliver(&mut server, now, &reqs[0]);
    assert!(drain(&mut server).0.is_empty());
    // Over TCP the first transaction ends on its final response, making room.
    let TxEvent::NewRequest { key, .. } = &events[0] else {
        unreachable!()
    };
    server.transport_error(*key);
    deliver(&mut server, now, &reqs[2]);
    let (events, _) = drain(&mut server);
    assert!(matches!(events[0], TxEvent::TransportError { .. }));
    assert!(matches!(events[1], TxEvent::Terminated { .. }));
    assert!(matches!(events[2], TxEvent::NewRequest { .. }));
    assert_eq!(server.server_len(), 2);
}

#[test]
fn layer_refuses_bad_calls_with_typed_errors() {
    let now = Instant::now();
    let mut l = TransactionLayer::<Peer>::new(Timers::default());
    assert_eq!(
        l.send_request(
            now,
            request(Method::Ack, "z9hG4bKx", 1),
            Peer::Server,
            false
        ),
        Err(TxError::AckHasNoTransaction)
    );
    assert_eq!(
        l.send_request(now, request(Method::Message, "old", 1), Peer::Server, false),
        Err(TxError::NoRfc3261Branch)
    );
    let mut mismatch = request(Method::Message, "z9hG4bKx", 1);
    mismatch.headers.set("CSeq", "1 OPTIONS");
    assert_eq!(
        l.send_request(now, mismatch, Peer::Server, false),
        Err(TxError::CSeqMethodMismatch)
    );
    let key = l
        .send_request(
            now,
            request(Method::Message, "z9hG4bKx", 1),
            Peer::Server,
            false,
        )
        .unwrap();
    assert_eq!(
        l.send_request(
            now,
            request(Method::Message, "z9hG4bKx", 2),
            Peer::Server,
            false
        ),
        Err(TxError::DuplicateBranch)
    );
    assert_eq!(
        l.send_response(now, key, Response::new(200)),
        Err(TxError::NotServerTransaction(key))
    );
    assert_eq!(
        l.send_response(now, key, Response::new(99)),
        Err(TxError::BadStatus)
    );

    let req = request(Method::Message, "z9hG4bKy", 1);
    deliver(&mut l, now, &req);
    let (events, _) = drain(&mut l);
    let Some(TxEvent::NewRequest { key, .. }) = events.into_iter().next() else {
        panic!()
    };
    l.send_response(now, key, answer(&req, 200)).unwrap();
    assert_eq!(
        l.send_response(now, key, answer(&req, 500)),
        Err(TxError::FinalResponseSent(key))
    );
}

#[test]
fn set_route_redirects_responses_of_a_server_transaction() {
    let now = Instant::now();
    let mut l = TransactionLayer::<&str>::new(Timers::default());
    let req = request(Method::Message, "z9hG4bKroute", 1);
    l.handle_message(now, req.clone().into(), "10.0.0.1:5060", false);
    let Some(TxEvent::NewRequest { key, from, .. }) = l.poll_event() else {
        panic!()
    };
    assert_eq!(from, "10.0.0.1:5060");
    l.set_route(key, "203.0.113.9:40123").unwrap();
    l.send_response(now, key, answer(&req, 200)).unwrap();
    assert_eq!(l.poll_transmit().unwrap().to, "203.0.113.9:40123");
}

#[test]
fn zero_timers_are_clamped_and_cannot_spin() {
    let timers = Timers {
        t1: Duration::ZERO,
        t2: Duration::ZERO,
        t4: Duration::ZERO,
    };
    let mut p = Pair::with_config(false, Config::new(timers));
    p.drop_when(|_| true);
    p.send(keepalive_query("z9hG4bKz"));
    p.run_until_idle();
    // T1 = 1 ms: sent at 0, then every 1 ms (T2 = 1 ms); Timer F at 64 ms wins over Timer E.
    assert_eq!(p.sent_at(Peer::Client, "MESSAGE").len(), 64);
    assert_eq!(
        timeouts(&p.client_events),
        vec![(ms(64), TimeoutCause::TimerF)]
    );
}

// ---- INVITE ---------------------------------------------------------------------------------

fn invite(branch: &str) -> Request {
    let mut r = request(Method::Invite, branch, 1);
    r.headers
        .push("Contact", "<sip:34020000002000000001@192.168.1.10:5060>");
    r.headers.push("Route", "<sip:proxy.example;lr>");
    r.headers.push(
        "Subject",
        "34020000001320000001:0200000001,34020000002000000001:0",
    );
    r.set_body("APPLICATION/SDP", &b"v=0\r\n"[..]);
    r
}

#[test]
fn timer_a_doubles_without_cap_and_timer_b_times_out_at_64_t1() {
    let mut p = Pair::new(false);
    p.drop_when(|w| w.from == Peer::Client);
    let key = p.send(invite("z9hG4bKa"));
    p.run_until_idle();
    assert_eq!(
        p.sent_at(Peer::Client, "INVITE"),
        vec![0, 500, 1500, 3500, 7500, 15500, 31500]
    );
    assert_eq!(
        timeouts(&p.client_events),
        vec![(ms(32_000), TimeoutCause::TimerB)]
    );
    assert_eq!(terminated_at(&p.client_events, key), Some(ms(32_000)));
}

#[test]
fn invite_over_reliable_transport_is_not_retransmitted() {
    let mut p = Pair::new(true);
    p.drop_when(|w| w.from == Peer::Client);
    p.send(invite("z9hG4bKtcp"));
    p.run_until_idle();
    assert_eq!(p.sent_at(Peer::Client, "INVITE"), vec![0]);
    assert_eq!(
        timeouts(&p.client_events),
        vec![(ms(32_000), TimeoutCause::TimerB)]
    );
}

#[test]
fn unanswered_invite_gets_100_trying_after_200_ms_which_stops_timer_a() {
    let mut p = Pair::new(false);
    p.send(invite("z9hG4bKt"));
    p.run_for(ms(1000));
    assert_eq!(p.sent_at(Peer::Server, "SIP/2.0 100 Trying"), vec![200]);
    assert_eq!(p.sent_at(Peer::Client, "INVITE"), vec![0]);
    assert_eq!(p.responses(), vec![(ms(200), 100)]);
    // The 100 echoes the request's To without a tag.
    let trying = Message::parse(&p.wire_of(Peer::Server, "SIP/2.0 100")[0].data).unwrap();
    assert_eq!(trying.headers().to().unwrap().tag(), None);
}

#[test]
fn invite_answered_within_200_ms_gets_no_100_trying() {
    let mut p = Pair::new(false);
    p.send(invite("z9hG4bKnt"));
    p.run_for(ms(100));
    let (key, req) = p.new_requests()[0].clone();
    p.respond(key, answer(&req, 180));
    p.run_for(ms(1000));
    assert!(p.sent_at(Peer::Server, "SIP/2.0 100").is_empty());
    assert_eq!(p.sent_at(Peer::Server, "SIP/2.0 180"), vec![100]);
}

#[test]
fn retransmitted_invite_in_proceeding_gets_the_last_provisional_again() {
    let mut p = Pair::new(false);
    // The 180 is lost once; the INVITE retransmission at 0.5 s fetches it again.
    p.drop_when(|w| w.first_line.starts_with("SIP/2.0 180") && w.at == Duration::ZERO);
    p.send(invite("z9hG4bKp"));
    let (key, req) = p.new_requests()[0].clone();
    p.respond(key, answer(&req, 180));
    p.run_for(ms(600));
    assert_eq!(p.sent_at(Peer::Server, "SIP/2.0 180"), vec![0, 500]);
    assert_eq!(p.new_requests().len(), 1);
    assert_eq!(p.responses(), vec![(ms(500), 180)]);
}

#[test]
fn non_2xx_final_is_acked_by_the_client_transaction_and_the_ack_stops_timer_g() {
    let mut p = Pair::new(false);
    let inv = invite("z9hG4bKbusy");
    let ckey = p.send(inv.clone());
    let (key, req) = p.new_requests()[0].clone();
    p.respond(key, answer(&req, 486));
    p.run_until_idle();

    // One ACK, built per §17.1.1.3.
    let acks = p.wire_of(Peer::Client, "ACK");
    assert_eq!(acks.len(), 1);
    assert_eq!(
        String::from_utf8_lossy(&acks[0].data),
        "ACK sip:34020000001320000001@192.168.1.64:5060 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 192.168.1.10:5060;rport;branch=z9hG4bKbusy\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:34020000002000000001@3402000000>;tag=plat1\r\n\
         To: <sip:34020000001320000001@3402000000>;tag=cam1\r\n\
         Call-ID: call-1@192.168.1.10\r\n\
         CSeq: 1 ACK\r\n\
         Route: <sip:proxy.example;lr>\r\n\
         Content-Length: 0\r\n\r\n"
    );
    // The final was sent once: the ACK arrived before Timer G.
    assert_eq!(p.sent_at(Peer::Server, "SIP/2.0 486"), vec![0]);
    // The ACK is absorbed by the server transaction, not passed up.
    assert_eq!(
        count(&p.server_events, |e| matches!(e, TxEvent::Ack { .. })),
        0
    );
    assert_eq!(p.responses(), vec![(ms(0), 486)]);
    // Timer I (T4) on the server, Timer D (32 s) on the client.
    assert_eq!(terminated_at(&p.server_events, key), Some(ms(5_000)));
    assert_eq!(terminated_at(&p.client_events, ckey), Some(ms(32_000)));
    assert!(timeouts(&p.server_events).is_empty());
}

#[test]
fn timer_g_retransmits_the_final_until_ack_and_client_re_acks_each_copy() {
    let mut p = Pair::new(false);
    // Lose the first two ACKs.
    let mut lost = 0;
    p.drop_when(move |w| {
        if w.first_line.starts_with("ACK") && lost < 2 {
            lost += 1;
            return true;
        }
        false
    });
    p.send(invite("z9hG4bKg"));
    let (key, req) = p.new_requests()[0].clone();
    p.respond(key, answer(&req, 404));
    p.run_until_idle();
    assert_eq!(p.sent_at(Peer::Server, "SIP/2.0 404"), vec![0, 500, 1500]);
    assert_eq!(p.sent_at(Peer::Client, "ACK"), vec![0, 500, 1500]);
    assert_eq!(p.responses(), vec![(ms(0), 404)], "the TU sees one final");
    // Confirmed at 1.5 s, Timer I = T4.
    assert_eq!(terminated_at(&p.server_events, key), Some(ms(6_500)));
}

#[test]
fn timer_g_caps_at_t2_and_timer_h_gives_up_without_ack() {
    let mut p = Pair::new(false);
    p.drop_when(|w| w.first_line.starts_with("ACK"));
    p.send(invite("z9hG4bKh"));
    let (key, req) = p.new_requests()[0].clone();
    p.respond(key, answer(&req, 603));
    p.run_until_idle();
    assert_eq!(
        p.sent_at(Peer::Server, "SIP/2.0 603"),
        vec![
            0, 500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500
        ]
    );
    assert_eq!(
        timeouts(&p.server_events),
        vec![(ms(32_000), TimeoutCause::TimerH)]
    );
    assert_eq!(terminated_at(&p.server_events, key), Some(ms(32_000)));
}

#[test]
fn over_reliable_transport_timer_d_and_i_are_zero_and_g_does_not_run() {
    let mut p = Pair::new(true);
    let ckey = p.send(invite("z9hG4bKrel"));
    let (key, req) = p.new_requests()[0].clone();
    p.respond(key, answer(&req, 486));
    assert_eq!(terminated_at(&p.client_events, ckey), Some(ms(0)));
    assert_eq!(terminated_at(&p.server_events, key), Some(ms(0)));
    assert_eq!(p.sent_at(Peer::Server, "SIP/2.0 486"), vec![0]);
    assert_eq!(p.next_timeout(), None);
}

#[test]
fn two_xx_is_passed_up_retransmitted_until_the_ack_and_re_acked_by_the_application() {
    let mut p = Pair::new(false);
    // The application's first ACK for the 2xx is lost.
    let mut lost = false;
    p.drop_when(move |w| {
        if w.first_line.starts_with("ACK") && !lost {
            lost = true;
            return true;
        }
        false
    });
    let ckey = p.send(invite("z9hG4bK2xx"));
    let (key, req) = p.new_requests()[0].clone();
    p.respond(key, answer(&req, 200));
    // Application (UAC core) ACKs every 2xx it is given, outside the transaction.
    let mut acked = 0;
    for _ in 0..100 {
        let twoxx: Vec<Response> = p
            .client_events
            .iter()
            .filter_map(|(_, e)| match e {
                TxEvent::Response { key, response } if *key == ckey => Some(response.clone()),
                _ => None,
            })
            .collect();
        for resp in &twoxx[acked..] {
            let mut ack = request(Method::Ack, &format!("z9hG4bKack{acked}"), 1);
            ack.headers.set("To", resp.headers.get("To").unwrap());
            p.client.send_stateless(Peer::Server, ack);
            acked += 1;
        }
        p.flush();
        if !p.step() {
            break;
        }
    }
    assert_eq!(p.sent_at(Peer::Server, "SIP/2.0 200"), vec![0, 500]);
    assert_eq!(p.sent_at(Peer::Client, "ACK"), vec![0, 500]);
    let acks: Vec<_> = p
        .server_events
        .iter()
        .filter_map(|(at, e)| match e {
            TxEvent::Ack { invite, .. } => Some((*at, *invite)),
            _ => None,
        })
        .collect();
    assert_eq!(acks, vec![(ms(500), Some(key))]);
    assert!(timeouts(&p.server_events).is_empty());
    // Timer L and Timer M: both 64*T1 after the 2xx.
    assert_eq!(terminated_at(&p.server_events, key), Some(ms(32_000)));
    assert_eq!(terminated_at(&p.client_events, ckey), Some(ms(32_000)));
}

#[test]
fn two_xx_without_ack_is_retransmitted_up_to_t2_and_times_out_with_timer_l() {
    let mut p = Pair::new(false);
    p.send(invite("z9hG4bKnoack"));
    let (key, req) = p.new_requests()[0].clone();
    p.respond(key, answer(&req, 200));
    p.run_until_idle();
    assert_eq!(
        p.sent_at(Peer::Server, "SIP/2.0 200"),
        vec![
            0, 500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500
        ]
    );
    assert_eq!(
        timeouts(&p.server_events),
        vec![(ms(32_000), TimeoutCause::TimerL)]
    );
    // Every copy reached the client transaction (Accepted) and went to the application.
    assert_eq!(p.responses().len(), 11);
}

#[test]
fn two_xx_after_timer_m_is_a_stray_response_for_the_dialog_to_re_ack() {
    let mut p = Pair::new(true);
    let ckey = p.send(invite("z9hG4bKlate"));
    let (key, req) = p.new_requests()[0].clone();
    let ok = answer(&req, 200);
    p.respond(key, ok.clone());
    p.run_for(ms(32_000));
    assert!(!p.client.contains(ckey));
    p.client
        .handle_message(p.now, ok.clone().into(), Peer::Server, true);
    p.flush();
    assert!(matches!(
        p.client_events.last(),
        Some((_, TxEvent::StrayResponse { response, .. })) if *response == ok
    ));
}

#[test]
fn retransmitted_invite_after_2xx_is_absorbed() {
    let mut p = Pair::new(false);
    // The client never hears the 2xx, so it keeps retransmitting the INVITE (Timer A).
    p.drop_when(|w| w.first_line.starts_with("SIP/2.0 200"));
    p.send(invite("z9hG4bKabs"));
    let (key, req) = p.new_requests()[0].clone();
    p.respond(key, answer(&req, 200));
    p.run_for(ms(4_000));
    assert_eq!(p.sent_at(Peer::Client, "INVITE"), vec![0, 500, 1500, 3500]);
    assert_eq!(p.new_requests().len(), 1);
    // Only the 2xx schedule of the server (0.5, 1.5, 3.5) - the INVITE copies add nothing.
    assert_eq!(
        p.sent_at(Peer::Server, "SIP/2.0 200"),
        vec![0, 500, 1500, 3500]
    );
}

#[test]
fn timer_c_ends_a_client_invite_stuck_in_proceeding() {
    let config = Config {
        timer_c: Duration::from_secs(60),
        ..Config::default()
    };
    let mut p = Pair::with_config(true, config);
    let ckey = p.send(invite("z9hG4bKc"));
    p.run_until_idle(); // 100 Trying at 200 ms, then the camera never answers
    assert_eq!(p.responses(), vec![(ms(200), 100)]);
    assert_eq!(
        timeouts(&p.client_events),
        vec![(ms(60_200), TimeoutCause::TimerC)]
    );
    assert_eq!(terminated_at(&p.client_events, ckey), Some(ms(60_200)));
}

#[test]
fn cancel_has_its_own_transaction_and_names_the_invite_it_cancels() {
    let mut p = Pair::new(false);
    let inv = invite("z9hG4bKcan");
    let ckey = p.send(inv.clone());
    let (ikey, ireq) = p.new_requests()[0].clone();
    p.respond(ikey, answer(&ireq, 180));

    let cancel = cancel_for(&inv).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&cancel.to_bytes()),
        "CANCEL sip:34020000001320000001@192.168.1.64:5060 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 192.168.1.10:5060;rport;branch=z9hG4bKcan\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:34020000002000000001@3402000000>;tag=plat1\r\n\
         To: <sip:34020000001320000001@3402000000>\r\n\
         Call-ID: call-1@192.168.1.10\r\n\
         CSeq: 1 CANCEL\r\n\
         Route: <sip:proxy.example;lr>\r\n\
         Content-Length: 0\r\n\r\n"
    );
    let cancel_key = p.send(cancel);
    let (skey, creq) = p
        .server_events
        .iter()
        .find_map(|(_, e)| match e {
            TxEvent::Cancel {
                key,
                request,
                invite,
                ..
            } => {
                assert_eq!(*invite, Some(ikey));
                Some((*key, request.clone()))
            }
            _ => None,
        })
        .expect("a Cancel event");
    assert_ne!(skey, ikey);
    p.respond(skey, answer(&creq, 200));
    p.respond(ikey, answer(&ireq, 487));
    let got: Vec<_> = p
        .client_events
        .iter()
        .filter_map(|(_, e)| match e {
            TxEvent::Response { key, response } => Some((*key, response.status)),
            _ => None,
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (ckey, StatusCode::RINGING),
            (cancel_key, StatusCode::OK),
            (ckey, StatusCode::REQUEST_TERMINATED)
        ]
    );
    assert_eq!(p.sent_at(Peer::Client, "ACK"), vec![0]);
}

/// The server side's Cancel event: (CANCEL's key, CANCEL, INVITE it names).
fn cancel_event(p: &Pair) -> Option<(TransactionKey, Request, Option<TransactionKey>)> {
    p.server_events.iter().find_map(|(_, e)| match e {
        TxEvent::Cancel {
            key,
            request,
            invite,
            ..
        } => Some((*key, request.clone(), *invite)),
        _ => None,
    })
}

fn top_branch(w: &Wire) -> String {
    let msg = Message::parse(&w.data).unwrap();
    let via = match &msg {
        Message::Request(r) => r.headers.top_via().unwrap(),
        Message::Response(r) => r.headers.top_via().unwrap(),
    };
    via.branch().unwrap().to_owned()
}

#[test]
fn layer_cancels_a_proceeding_invite_and_acks_the_487() {
    let mut p = Pair::new(false);
    let ckey = p.send(invite("z9hG4bKlc1"));
    let (ikey, ireq) = p.new_requests()[0].clone();
    p.respond(ikey, answer(&ireq, 100));
    p.run_for(ms(3000)); // the camera says nothing more
    p.client.cancel(p.now, ckey).unwrap();
    p.flush();

    // One CANCEL, with the INVITE's branch, Request-URI, Call-ID, From, To and CSeq number.
    let cancels = p.wire_of(Peer::Client, "CANCEL");
    assert_eq!(cancels.len(), 1);
    assert_eq!(top_branch(cancels[0]), "z9hG4bKlc1");
    let (skey, creq, invite_key) = cancel_event(&p).expect("the camera got the CANCEL");
    assert_eq!(invite_key, Some(ikey));
    assert_eq!(creq.uri, ireq.uri);
    assert_eq!(
        creq.headers.call_id().unwrap(),
        ireq.headers.call_id().unwrap()
    );
    assert_eq!(
        creq.headers.cseq().unwrap().seq,
        ireq.headers.cseq().unwrap().seq
    );
    assert_eq!(creq.headers.cseq().unwrap().method, Method::Cancel);

    p.respond(skey, answer(&creq, 200));
    p.respond(ikey, answer(&ireq, 487));
    let invite_responses: Vec<_> = p
        .client_events
        .iter()
        .filter_map(|(_, e)| match e {
            TxEvent::Response { key, response } if *key == ckey => Some(response.status),
            _ => None,
        })
        .collect();
    assert_eq!(
        invite_responses,
        vec![StatusCode::TRYING, StatusCode::REQUEST_TERMINATED]
    );
    // The 487 is ACKed on the INVITE's branch, and the camera's transaction is confirmed:
    // it does not retransmit the 487.
    let acks = p.wire_of(Peer::Client, "ACK");
    assert_eq!(acks.len(), 1);
    assert_eq!(top_branch(acks[0]), "z9hG4bKlc1");
    p.run_until_idle();
    assert_eq!(p.wire_of(Peer::Server, "SIP/2.0 487").len(), 1);
    assert!(timeouts(&p.client_events).is_empty());
    assert!(timeouts(&p.server_events).is_empty());
    assert!(p.client.is_empty() && p.server.is_empty());
}

#[test]
fn cancel_before_any_provisional_waits_for_the_first_one() {
    // The camera's first response is late (no automatic 100 Trying).
    let config = Config {
        trying_after: None,
        ..Config::default()
    };
    let mut p = Pair::with_config(false, config);
    let ckey = p.send(invite("z9hG4bKlc2"));
    p.client.cancel(p.now, ckey).unwrap();
    p.flush();
    p.run_for(ms(1000));
    assert!(
        p.wire_of(Peer::Client, "CANCEL").is_empty(),
        "§9.1: not before a 1xx"
    );

    let (ikey, ireq) = p.new_requests()[0].clone();
    p.respond(ikey, answer(&ireq, 180));
    assert_eq!(p.sent_at(Peer::Client, "CANCEL"), vec![1000]);
    assert_eq!(cancel_event(&p).map(|c| c.2), Some(Some(ikey)));
}

#[test]
fn a_2xx_crossing_the_cancel_is_passed_up() {
    let mut p = Pair::new(false);
    let ckey = p.send(invite("z9hG4bKlc3"));
    let (ikey, ireq) = p.new_requests()[0].clone();
    p.respond(ikey, answer(&ireq, 100));
    // The camera answers 200 just as the CANCEL leaves.
    p.respond(ikey, answer(&ireq, 200));
    assert_eq!(
        p.client.cancel(p.now, ckey),
        Err(TxError::NotCancellable(ckey)),
        "nothing to cancel once the final response is in"
    );
    assert!(p.wire_of(Peer::Client, "CANCEL").is_empty());
    assert!(
        p.responses().iter().any(|(_, s)| *s == 200),
        "the 2xx reaches the application, which ACKs and BYEs it"
    );
}

#[test]
fn cancelled_invite_without_final_response_ends_64_t1_after_the_cancel() {
    let mut p = Pair::new(false);
    // The camera takes the CANCEL (200) but never sends the INVITE's final response.
    p.drop_when(|w| w.from == Peer::Server && w.first_line.starts_with("SIP/2.0 487"));
    let ckey = p.send(invite("z9hG4bKlc4"));
    let (ikey, ireq) = p.new_requests()[0].clone();
    p.respond(ikey, answer(&ireq, 100));
    p.run_for(ms(5000));
    p.client.cancel(p.now, ckey).unwrap();
    p.flush();
    let (skey, creq, _) = cancel_event(&p).unwrap();
    p.respond(skey, answer(&creq, 200));
    p.run_until_idle();
    // Not Timer C (180 s): 64*T1 after the CANCEL sent at 5 s.
    assert_eq!(
        timeouts(&p.client_events),
        vec![(ms(37_000), TimeoutCause::Cancelled)]
    );
    assert_eq!(terminated_at(&p.client_events, ckey), Some(ms(37_000)));
}

#[test]
fn only_an_invite_we_sent_can_be_cancelled() {
    let mut p = Pair::new(false);
    let mkey = p.send(keepalive_query("z9hG4bKlc5"));
    assert_eq!(
        p.client.cancel(p.now, mkey),
        Err(TxError::NotCancellable(mkey))
    );
    let inv = invite("z9hG4bKlc6");
    p.send(inv.clone());
    let (ikey, _) = p.new_requests()[1].clone();
    assert_eq!(
        p.server.cancel(p.now, ikey),
        Err(TxError::NotCancellable(ikey))
    );
    assert_eq!(
        p.client
            .client_transaction(&inv)
            .map(|k| p.client.contains(k)),
        Some(true)
    );
}

#[test]
fn cancel_for_an_unknown_invite_says_so() {
    let now = Instant::now();
    let mut server = TransactionLayer::<Peer>::new(Timers::default());
    let cancel = cancel_for(&invite("z9hG4bKgone")).unwrap();
    deliver(&mut server, now, &cancel);
    let (events, _) = drain(&mut server);
    assert!(matches!(
        events.as_slice(),
        [TxEvent::Cancel { invite: None, .. }]
    ));
}

#[test]
fn rfc2543_ack_matches_by_the_to_tag_of_our_response() {
    let now = Instant::now();
    let mut server = TransactionLayer::<Peer>::new(Timers::default());
    let inv = rfc2543_request(Method::Invite, 5, Some("abc"));
    deliver(&mut server, now, &inv);
    let (events, _) = drain(&mut server);
    let [TxEvent::NewRequest { key, .. }] = events.as_slice() else {
        panic!("{events:?}")
    };
    server.send_response(now, *key, answer(&inv, 404)).unwrap();
    drain(&mut server);
    // An ACK with some other To tag is not for this transaction: passed up, Timer G goes on.
    let mut stranger = rfc2543_request(Method::Ack, 5, Some("abc"));
    stranger
        .headers
        .set("To", "<sip:34020000002000000001@3402000000>;tag=other");
    deliver(&mut server, now, &stranger);
    let (events, _) = drain(&mut server);
    assert!(matches!(
        events.as_slice(),
        [TxEvent::Ack { invite: None, .. }]
    ));
    // The real ACK carries our tag: absorbed, the transaction is Confirmed (Timer I = T4).
    let mut ack = rfc2543_request(Method::Ack, 5, Some("abc"));
    ack.headers
        .set("To", "<sip:34020000002000000001@3402000000>;tag=cam1");
    deliver(&mut server, now, &ack);
    assert!(drain(&mut server).0.is_empty());
    assert_eq!(server.poll_timeout(), Some(now + Duration::from_secs(5)));
}

#[test]
fn garbage_inputs_never_panic_the_layer() {
    let now = Instant::now();
    let mut l = TransactionLayer::<Peer>::new(Timers::default());
    let mut weird = Vec::new();
    for (name, value) in [
        ("Via", "SIP/2.0/UDP"),
        ("CSeq", "x"),
        ("Call-ID", ""),
        ("From", "<"),
        ("To", "<sip:a@b;tag=1"),
    ] {
        for m in [Method::Invite, Method::Ack, Method::Cancel, Method::Bye] {
            let mut r = rfc2543_request(m.clone(), 1, None);
            r.headers.set(name, value);
            weird.push(Message::Request(r));
            let mut resp = answer(&request(m, "z9hG4bKq", 1), 200);
            resp.headers.set(name, value);
            weird.push(Message::Response(resp));
        }
    }
    for m in weird {
        l.handle_message(now, m, Peer::Client, false);
    }
    l.handle_timeout(now + Duration::from_secs(3600));
    while l.poll_event().is_some() {}
    while l.poll_transmit().is_some() {}
    assert!(
        l.poll_timeout()
            .is_none_or(|t| t > now + Duration::from_secs(3600))
    );
}
