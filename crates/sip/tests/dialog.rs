//! Dialog tests: the platform INVITEs a camera, ACKs the 2xx, BYEs later; the camera's BYE is
//! matched; the UAS side; and the whole exchange through two transaction layers.

use std::time::{Duration, Instant};

use vigil_sip::dialog::{Dialog, DialogError, DialogId, DialogState};
use vigil_sip::transaction::{Timers, TransactionLayer, TxEvent};
use vigil_sip::{Message, Method, Request, Response, StatusCode, Uri, Via};

const CAMERA: &str = "sip:34020000001310000001@192.168.1.64:5060";

fn invite() -> Request {
    let mut r = Request::new(
        Method::Invite,
        Uri::parse("sip:34020000001310000001@3402000000").unwrap(),
    );
    r.headers.push(
        "Via",
        "SIP/2.0/UDP 192.168.1.10:5060;rport;branch=z9hG4bKinv",
    );
    r.headers
        .push("From", "<sip:34020000002000000001@3402000000>;tag=plat9");
    r.headers
        .push("To", "<sip:34020000001310000001@3402000000>");
    r.headers.push("Call-ID", "live-1@192.168.1.10");
    r.headers.push("CSeq", "20 INVITE");
    r.headers
        .push("Contact", "<sip:34020000002000000001@192.168.1.10:5060>");
    r.headers.push("Max-Forwards", "70");
    r.headers.push(
        "Subject",
        "34020000001310000001:0200000001,34020000002000000001:0",
    );
    r.set_body("APPLICATION/SDP", &b"v=0\r\n"[..]);
    r
}

fn ok_from_camera(inv: &Request) -> Response {
    let mut ok = Response::for_request(inv, 200, "").with_to_tag("cam77");
    ok.headers.push("Contact", format!("<{CAMERA}>"));
    ok.set_body("APPLICATION/SDP", &b"v=0\r\n"[..]);
    ok
}

fn text(r: &Request) -> String {
    String::from_utf8(r.to_bytes()).unwrap()
}

#[test]
fn uac_dialog_takes_ids_from_invite_and_2xx_and_target_from_contact() {
    let inv = invite();
    let d = Dialog::uac(&inv, &ok_from_camera(&inv)).unwrap();
    assert_eq!(
        d.id(),
        &DialogId {
            call_id: "live-1@192.168.1.10".into(),
            local_tag: "plat9".into(),
            remote_tag: "cam77".into(),
        }
    );
    assert_eq!(d.remote_target().to_string(), CAMERA);
    assert!(d.route_set().is_empty());
    assert_eq!(d.local_cseq(), 20);
    assert_eq!(d.remote_cseq(), None);
    assert_eq!(d.state(), DialogState::Confirmed);
}

#[test]
fn ack_for_2xx_reuses_the_invite_cseq_with_a_new_branch_to_the_remote_target() {
    let mut inv = invite();
    inv.headers.push(
        "Authorization",
        "Digest username=\"34020000002000000001\", realm=\"3402000000\", nonce=\"n\", uri=\"sip:x\", response=\"r\"",
    );
    let ok = ok_from_camera(&inv);
    let d = Dialog::uac(&inv, &ok).unwrap();
    assert_eq!(
        text(&d.ack(&ok, "z9hG4bKack1")),
        "ACK sip:34020000001310000001@192.168.1.64:5060 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 192.168.1.10:5060;rport;branch=z9hG4bKack1\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:34020000002000000001@3402000000>;tag=plat9\r\n\
         To: <sip:34020000001310000001@3402000000>;tag=cam77\r\n\
         Call-ID: live-1@192.168.1.10\r\n\
         CSeq: 20 ACK\r\n\
         Authorization: Digest username=\"34020000002000000001\", realm=\"3402000000\", nonce=\"n\", uri=\"sip:x\", response=\"r\"\r\n\
         Content-Length: 0\r\n\r\n"
    );
    // Building the ACK does not consume a CSeq.
    assert_eq!(d.local_cseq(), 20);
}

#[test]
fn bye_takes_the_next_cseq_and_the_remote_target_and_ends_the_dialog() {
    let inv = invite();
    let mut d = Dialog::uac(&inv, &ok_from_camera(&inv)).unwrap();
    let bye = d.request(Method::Bye, "z9hG4bKbye1");
    assert_eq!(
        text(&bye),
        "BYE sip:34020000001310000001@192.168.1.64:5060 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 192.168.1.10:5060;rport;branch=z9hG4bKbye1\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:34020000002000000001@3402000000>;tag=plat9\r\n\
         To: <sip:34020000001310000001@3402000000>;tag=cam77\r\n\
         Call-ID: live-1@192.168.1.10\r\n\
         CSeq: 21 BYE\r\n\
         Content-Length: 0\r\n\r\n"
    );
    assert!(d.is_terminated());
}

#[test]
fn each_in_dialog_request_increments_cseq_and_refreshes_carry_contact() {
    let inv = invite();
    let mut d = Dialog::uac(&inv, &ok_from_camera(&inv)).unwrap();
    let info = d.request(Method::Info, "z9hG4bKi1");
    let msg = d.request(Method::Message, "z9hG4bKi2");
    let reinvite = d.request(Method::Invite, "z9hG4bKi3");
    assert_eq!(info.headers.get("CSeq"), Some("21 INFO"));
    assert_eq!(msg.headers.get("CSeq"), Some("22 MESSAGE"));
    assert_eq!(reinvite.headers.get("CSeq"), Some("23 INVITE"));
    assert_eq!(info.headers.get("Contact"), None);
    assert_eq!(
        reinvite.headers.get("Contact"),
        Some("<sip:34020000002000000001@192.168.1.10:5060>")
    );
    // The ACK now answers the re-INVITE.
    assert_eq!(
        d.request(Method::Ack, "z9hG4bKi4").headers.get("CSeq"),
        Some("23 ACK")
    );
    assert_eq!(d.local_cseq(), 23);
    assert!(!d.is_terminated());
}

#[test]
fn record_route_of_the_2xx_is_reversed_into_loose_routes() {
    let inv = invite();
    let mut ok = ok_from_camera(&inv);
    ok.headers
        .push("Record-Route", "<sip:p2.example;lr>, <sip:p1.example;lr>");
    ok.headers.push("Record-Route", "<sip:p0.example;lr>");
    let mut d = Dialog::uac(&inv, &ok).unwrap();
    let routes: Vec<String> = d.route_set().iter().map(|r| r.to_string()).collect();
    assert_eq!(
        routes,
        vec![
            "<sip:p0.example;lr>",
            "<sip:p1.example;lr>",
            "<sip:p2.example;lr>"
        ]
    );
    let bye = d.request(Method::Bye, "z9hG4bKr");
    assert_eq!(bye.uri.to_string(), CAMERA);
    assert_eq!(
        bye.headers.get_all("Route").collect::<Vec<_>>(),
        vec![
            "<sip:p0.example;lr>",
            "<sip:p1.example;lr>",
            "<sip:p2.example;lr>"
        ]
    );
}

#[test]
fn strict_router_first_becomes_request_uri_and_target_goes_last_in_route() {
    let inv = invite();
    let mut ok = ok_from_camera(&inv);
    ok.headers
        .push("Record-Route", "<sip:p1.example;lr>, <sip:strict.example>");
    let mut d = Dialog::uac(&inv, &ok).unwrap();
    let bye = d.request(Method::Bye, "z9hG4bKs");
    assert_eq!(bye.uri.to_string(), "sip:strict.example");
    assert_eq!(
        bye.headers.get_all("Route").collect::<Vec<_>>(),
        vec!["<sip:p1.example;lr>", &format!("<{CAMERA}>")]
    );
}

/// The camera's BYE for our dialog.
fn camera_bye(cseq: u32) -> Request {
    let mut r = Request::new(
        Method::Bye,
        Uri::parse("sip:34020000002000000001@192.168.1.10:5060").unwrap(),
    );
    r.headers.push(
        "Via",
        "SIP/2.0/UDP 192.168.1.64:5060;rport;branch=z9hG4bKcb",
    );
    r.headers
        .push("From", "<sip:34020000001310000001@3402000000>;tag=cam77");
    r.headers
        .push("To", "<sip:34020000002000000001@3402000000>;tag=plat9");
    r.headers.push("Call-ID", "live-1@192.168.1.10");
    r.headers.push("CSeq", format!("{cseq} BYE"));
    r
}

#[test]
fn peer_bye_is_matched_to_the_dialog_and_ends_it() {
    let inv = invite();
    let mut d = Dialog::uac(&inv, &ok_from_camera(&inv)).unwrap();
    let bye = camera_bye(5);
    let msg = Message::Request(bye.clone());
    assert!(d.matches(&msg));
    assert_eq!(&DialogId::of_incoming(&msg).unwrap(), d.id());
    d.handle_request(&bye).unwrap();
    assert!(d.is_terminated());
    assert_eq!(d.remote_cseq(), Some(5));
    // Anything after the BYE gets 481.
    assert_eq!(
        d.handle_request(&camera_bye(6)),
        Err(DialogError::Terminated)
    );
}

#[test]
fn peer_request_with_lower_cseq_is_out_of_order() {
    let inv = invite();
    let mut d = Dialog::uac(&inv, &ok_from_camera(&inv)).unwrap();
    let mut info = camera_bye(9);
    info.method = Method::Info;
    info.headers.set("CSeq", "9 INFO");
    d.handle_request(&info).unwrap();
    assert_eq!(
        d.handle_request(&camera_bye(8)),
        Err(DialogError::OutOfOrder { got: 8, last: 9 })
    );
    assert!(!d.is_terminated());
}

#[test]
fn request_of_another_dialog_is_not_matched() {
    let inv = invite();
    let mut d = Dialog::uac(&inv, &ok_from_camera(&inv)).unwrap();
    let mut bye = camera_bye(5);
    bye.headers
        .set("From", "<sip:34020000001310000001@3402000000>;tag=other");
    assert!(!d.matches(&Message::Request(bye.clone())));
    assert_eq!(d.handle_request(&bye), Err(DialogError::OtherDialog));
    // Our own response direction: a response to our BYE matches, the same headers as a
    // request do not (the tags are the other way round).
    let our_bye = d.request(Method::Bye, "z9hG4bKx");
    let resp = Response::for_request(&our_bye, 200, "");
    assert!(d.matches(&Message::Response(resp)));
    assert!(!d.matches(&Message::Request(our_bye)));
}

#[test]
fn response_481_to_an_in_dialog_request_ends_the_dialog() {
    let inv = invite();
    let mut d = Dialog::uac(&inv, &ok_from_camera(&inv)).unwrap();
    let info = d.request(Method::Info, "z9hG4bKq");
    d.handle_response(&Response::for_request(&info, 500, ""));
    assert!(!d.is_terminated());
    d.handle_response(&Response::for_request(&info, 481, ""));
    assert!(d.is_terminated());
}

#[test]
fn peer_reinvite_with_contact_moves_the_remote_target() {
    let inv = invite();
    let mut d = Dialog::uac(&inv, &ok_from_camera(&inv)).unwrap();
    let mut re = camera_bye(7);
    re.method = Method::Invite;
    re.headers.set("CSeq", "7 INVITE");
    re.headers
        .push("Contact", "<sip:34020000001310000001@10.9.9.9:5070>");
    d.handle_request(&re).unwrap();
    assert_eq!(
        d.remote_target().to_string(),
        "sip:34020000001310000001@10.9.9.9:5070"
    );
}

#[test]
fn dialog_needs_an_invite_a_2xx_and_our_tag() {
    let inv = invite();
    let busy = Response::for_request(&inv, 486, "").with_to_tag("c");
    assert_eq!(
        Dialog::uac(&inv, &busy),
        Err(DialogError::NotSuccess(StatusCode::BUSY_HERE))
    );
    let mut no_tag = inv.clone();
    no_tag
        .headers
        .set("From", "<sip:34020000002000000001@3402000000>");
    let ok = ok_from_camera(&no_tag);
    assert_eq!(
        Dialog::uac(&no_tag, &ok),
        Err(DialogError::MissingTag("From"))
    );
    let mut msg = inv.clone();
    msg.method = Method::Message;
    assert_eq!(
        Dialog::uac(&msg, &ok_from_camera(&inv)),
        Err(DialogError::NotInvite(Method::Message))
    );
    let via = Via::parse("SIP/2.0/UDP 192.168.1.10:5060;branch=z9hG4bKx").unwrap();
    let untagged = Response::for_request(&inv, 200, "");
    assert_eq!(
        Dialog::uas(&inv, &untagged, via),
        Err(DialogError::MissingTag("To"))
    );
}

#[test]
fn rfc2543_camera_without_to_tag_gets_a_dialog_with_an_empty_remote_tag() {
    let inv = invite();
    let mut ok = Response::for_request(&inv, 200, "");
    ok.headers.push("Contact", format!("<{CAMERA}>"));
    let mut d = Dialog::uac(&inv, &ok).unwrap();
    assert_eq!(d.id().remote_tag, "");
    let bye = d.request(Method::Bye, "z9hG4bKn");
    assert_eq!(
        bye.headers.get("To"),
        Some("<sip:34020000001310000001@3402000000>")
    );
}

#[test]
fn uas_dialog_from_a_received_invite_and_our_2xx() {
    // A camera (or a lower platform) INVITEs us, e.g. for voice broadcast.
    let mut inv = invite();
    inv.headers.set(
        "Via",
        "SIP/2.0/UDP 192.168.1.10:5060;rport=5060;received=192.168.1.10;branch=z9hG4bKinv",
    );
    inv.headers
        .push("Record-Route", "<sip:p1.example;lr>, <sip:p2.example;lr>");
    let mut ok = Response::for_request(&inv, 200, "").with_to_tag("us1");
    ok.headers
        .push("Contact", "<sip:34020000001310000001@192.168.1.50:5060>");
    let local_via = Via::parse("SIP/2.0/TCP 192.168.1.50:5060;branch=z9hG4bKignored").unwrap();
    let mut d = Dialog::uas(&inv, &ok, local_via).unwrap();
    assert_eq!(d.id().local_tag, "us1");
    assert_eq!(d.id().remote_tag, "plat9");
    assert_eq!(d.remote_cseq(), Some(20));
    // Their ACK for our 2xx is in the dialog and not a sequence error.
    let mut ack = camera_bye(20);
    ack.method = Method::Ack;
    ack.headers
        .set("From", "<sip:34020000002000000001@3402000000>;tag=plat9");
    ack.headers
        .set("To", "<sip:34020000001310000001@3402000000>;tag=us1");
    ack.headers.set("CSeq", "20 ACK");
    d.handle_request(&ack).unwrap();

    let bye = d.request(Method::Bye, "z9hG4bKub");
    assert_eq!(
        text(&bye),
        "BYE sip:34020000002000000001@192.168.1.10:5060 SIP/2.0\r\n\
         Via: SIP/2.0/TCP 192.168.1.50:5060;branch=z9hG4bKub\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:34020000001310000001@3402000000>;tag=us1\r\n\
         To: <sip:34020000002000000001@3402000000>;tag=plat9\r\n\
         Call-ID: live-1@192.168.1.10\r\n\
         CSeq: 1 BYE\r\n\
         Route: <sip:p1.example;lr>\r\n\
         Route: <sip:p2.example;lr>\r\n\
         Content-Length: 0\r\n\r\n"
    );
}

#[test]
fn our_via_rport_and_received_are_not_copied_into_new_requests() {
    let mut inv = invite();
    inv.headers.set(
        "Via",
        "SIP/2.0/UDP 192.168.1.10:5060;rport=40000;received=1.2.3.4;branch=z9hG4bKinv",
    );
    let mut d = Dialog::uac(&inv, &ok_from_camera(&inv)).unwrap();
    assert_eq!(
        d.request(Method::Bye, "z9hG4bKv").headers.get("Via"),
        Some("SIP/2.0/UDP 192.168.1.10:5060;rport;branch=z9hG4bKv")
    );
}

/// The platform plays a camera end to end through two transaction layers over UDP: INVITE,
/// 100 Trying, 200 with SDP, ACK from the dialog, later the platform's BYE, and on a second
/// call the camera's BYE answered through the dialog.
#[test]
fn platform_invites_camera_acks_and_byes_through_transaction_layers() {
    let t0 = Instant::now();
    let mut now = t0;
    let mut platform = TransactionLayer::<&str>::new(Timers::default());
    let mut camera = TransactionLayer::<&str>::new(Timers::default());

    fn carry(from: &mut TransactionLayer<&str>, to: &mut TransactionLayer<&str>, now: Instant) {
        while let Some(t) = from.poll_transmit() {
            let msg = Message::parse(&t.data).unwrap();
            to.handle_message(now, msg, "peer", false);
        }
    }

    let inv = invite();
    let ikey = platform
        .send_request(now, inv.clone(), "camera", false)
        .unwrap();
    carry(&mut platform, &mut camera, now);
    let Some(TxEvent::NewRequest {
        key: cam_key,
        request,
        ..
    }) = camera.poll_event()
    else {
        panic!()
    };
    // The camera takes 300 ms: the layer sends 100 Trying at 200 ms.
    now = t0 + Duration::from_millis(200);
    camera.handle_timeout(now);
    carry(&mut camera, &mut platform, now);
    now = t0 + Duration::from_millis(300);
    let ok = ok_from_camera(&request);
    camera.send_response(now, cam_key, ok).unwrap();
    carry(&mut camera, &mut platform, now);

    let mut dialog = None;
    while let Some(e) = platform.poll_event() {
        if let TxEvent::Response { key, response } = e {
            assert_eq!(key, ikey);
            if response.status.is_success() {
                let d = Dialog::uac(&inv, &response).unwrap();
                platform.send_stateless("camera", d.ack(&response, "z9hG4bKack"));
                dialog = Some(d);
            }
        }
    }
    let mut dialog = dialog.expect("a 2xx");
    carry(&mut platform, &mut camera, now);
    match camera.poll_event() {
        Some(TxEvent::Ack {
            invite, request, ..
        }) => {
            assert_eq!(invite, Some(cam_key), "the ACK stops the camera's 2xx");
            assert_eq!(request.headers.get("CSeq"), Some("20 ACK"));
        }
        other => panic!("{other:?}"),
    }

    // Later the last viewer leaves: BYE.
    now += Duration::from_secs(60);
    let bye = dialog.request(Method::Bye, "z9hG4bKbye");
    let bye_key = platform.send_request(now, bye, "camera", false).unwrap();
    carry(&mut platform, &mut camera, now);
    let (bkey, breq) = loop {
        match camera.poll_event() {
            Some(TxEvent::NewRequest { key, request, .. }) => break (key, request),
            Some(_) => continue,
            None => panic!("no BYE"),
        }
    };
    assert_eq!(breq.method, Method::Bye);
    assert_eq!(breq.headers.get("CSeq"), Some("21 BYE"));
    assert_eq!(breq.uri.to_string(), CAMERA);
    camera
        .send_response(now, bkey, Response::for_request(&breq, 200, ""))
        .unwrap();
    carry(&mut camera, &mut platform, now);
    let got = std::iter::from_fn(|| platform.poll_event()).find_map(|e| match e {
        TxEvent::Response { key, response } if key == bye_key => Some(response.status),
        _ => None,
    });
    assert_eq!(got, Some(StatusCode::OK));
    assert!(dialog.is_terminated());

    // A second call ended by the camera: its BYE finds our dialog by id.
    let inv2 = invite();
    let ok2 = ok_from_camera(&inv2);
    let mut d2 = Dialog::uac(&inv2, &ok2).unwrap();
    let cam_bye = camera_bye(3);
    platform.handle_message(now, cam_bye.into(), "camera", false);
    let Some(TxEvent::NewRequest { key, request, .. }) =
        std::iter::from_fn(|| platform.poll_event())
            .find(|e| matches!(e, TxEvent::NewRequest { .. }))
    else {
        panic!()
    };
    assert_eq!(
        DialogId::of_incoming(&Message::Request(request.clone())).unwrap(),
        *d2.id()
    );
    d2.handle_request(&request).unwrap();
    platform
        .send_response(now, key, Response::for_request(&request, 200, ""))
        .unwrap();
    assert!(
        platform
            .poll_transmit()
            .unwrap()
            .data
            .starts_with(b"SIP/2.0 200 OK\r\n")
    );
    assert!(d2.is_terminated());
}
