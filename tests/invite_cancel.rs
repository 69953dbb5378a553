//! An INVITE the platform gives up on is CANCELled (RFC 3261 §9.1). A scripted UDP camera
//! registers with digest, then answers the live view's INVITE with 100 Trying and nothing
//! more; when the session's `media.invite_timeout` passes, the camera must get a CANCEL for
//! that INVITE, and its 487 must be ACKed. A camera whose 200 OK crosses the CANCEL gets
//! that 200 ACKed and the call hung up with BYE.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{Backend, Platform, TestDb, config, init_logging};
use tokio::net::UdpSocket;
use vigil::config::Config;
use vigil_sip::digest::{Secret, authorize};
use vigil_sip::{Message, Method, Request, Response};

const CAMERA: &str = "34020000001320000077";
/// Longest wait for any one message from the platform.
const STEP: Duration = Duration::from_secs(10);

/// A camera played by the test over one UDP socket.
struct Camera {
    sock: UdpSocket,
    server: SocketAddr,
    config: Config,
}

impl Camera {
    async fn new(config: &Config, server: SocketAddr) -> Camera {
        Camera {
            sock: UdpSocket::bind("127.0.0.1:0").await.unwrap(),
            server,
            config: config.clone(),
        }
    }

    async fn send(&self, to: SocketAddr, msg: impl Into<Message>) {
        self.sock.send_to(&msg.into().to_bytes(), to).await.unwrap();
    }

    /// The next message from the platform other than MESSAGE and SUBSCRIBE (catalog and
    /// device info queries after registering), which are answered 200 and skipped.
    async fn recv(&self) -> (Message, SocketAddr) {
        let mut buf = vec![0u8; 65_535];
        loop {
            let (n, from) = tokio::time::timeout(STEP, self.sock.recv_from(&mut buf))
                .await
                .expect("a message from the platform in time")
                .unwrap();
            let msg = Message::parse(&buf[..n]).expect("the platform sends valid SIP");
            match &msg {
                Message::Request(r) if matches!(r.method, Method::Message | Method::Subscribe) => {
                    self.send(from, Response::for_request(r, 200, "").with_to_tag("q1"))
                        .await;
                }
                _ => return (msg, from),
            }
        }
    }

    async fn recv_request(&self, method: Method) -> (Request, SocketAddr) {
        match self.recv().await {
            (Message::Request(r), from) if r.method == method => (r, from),
            (other, _) => panic!("expected {method:?}, got {other:?}"),
        }
    }

    async fn recv_response(&self) -> Response {
        match self.recv().await {
            (Message::Response(r), _) => r,
            (other, _) => panic!("expected a response, got {other:?}"),
        }
    }

    fn register(&self, cseq: u32, authorization: Option<&str>) -> Request {
        let c = &self.config.sip;
        let local = self.sock.local_addr().unwrap();
        let text = format!(
            "REGISTER sip:{server}@{domain} SIP/2.0\r\n\
             Via: SIP/2.0/UDP {local};rport;branch=z9hG4bKreg{cseq}\r\n\
             From: <sip:{CAMERA}@{domain}>;tag=camreg\r\n\
             To: <sip:{CAMERA}@{domain}>\r\n\
             Call-ID: reg-{CAMERA}\r\n\
             CSeq: {cseq} REGISTER\r\n\
             Contact: <sip:{CAMERA}@{local}>\r\n\
             {auth}Max-Forwards: 70\r\n\
             Expires: 3600\r\n\
             Content-Length: 0\r\n\r\n",
            server = c.server_id,
            domain = c.domain,
            auth = authorization
                .map(|a| format!("Authorization: {a}\r\n"))
                .unwrap_or_default(),
        );
        match Message::parse(text.as_bytes()).unwrap() {
            Message::Request(r) => r,
            Message::Response(_) => unreachable!(),
        }
    }

    /// REGISTER, 401, REGISTER with digest credentials, 200.
    async fn register_with_digest(&self) {
        self.send(self.server, self.register(1, None)).await;
        let challenge = self.recv_response().await;
        assert_eq!(challenge.status.code(), 401);
        let challenge = challenge.headers.www_authenticate().unwrap().unwrap();
        let c = &self.config.sip;
        let auth = authorize(
            &challenge,
            "REGISTER",
            &format!("sip:{}@{}", c.server_id, c.domain),
            CAMERA,
            &Secret::new(c.password.expose()),
            "0a4f113b",
            1,
        )
        .unwrap();
        self.send(self.server, self.register(2, Some(&auth))).await;
        let ok = self.recv_response().await;
        assert_eq!(ok.status.code(), 200, "{ok:?}");
    }
}

fn top_branch(headers: &vigil_sip::Headers) -> String {
    headers.top_via().unwrap().branch().unwrap().to_owned()
}

/// A camera registered on a platform that gives an INVITE 1 s, whose live view was asked
/// for in the background and whose INVITE has arrived.
struct Invited {
    // Dropped in this order: the platform before its database.
    _p: Platform,
    _db: TestDb,
    cam: Camera,
    invite: Request,
    /// Where the INVITE came from.
    platform: SocketAddr,
    /// Status of `POST .../live`, once answered.
    post: tokio::task::JoinHandle<u16>,
}

async fn invited() -> Invited {
    init_logging();
    let db = TestDb::new(Backend::Sqlite).await;
    let mut c = config(&db);
    c.media.invite_timeout = Duration::from_secs(1);
    // The camera sends no keepalives; it must stay online for the test's few seconds.
    c.sip.keepalive_interval = Duration::from_secs(60);
    let p = Platform::start(c).await;
    let cam = Camera::new(&p.config, p.sip()).await;
    cam.register_with_digest().await;

    let (http, url) = (
        p.http.clone(),
        p.api(&format!("/api/v1/channels/{CAMERA}/live")),
    );
    let post = tokio::spawn(async move {
        let resp = http.post(url).send().await.expect("POST live answered");
        resp.status().as_u16()
    });
    let (invite, platform) = cam.recv_request(Method::Invite).await;
    Invited {
        _db: db,
        _p: p,
        cam,
        invite,
        platform,
        post,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn camera_answering_only_100_trying_gets_a_cancel_and_its_487_is_acked() {
    let Invited {
        cam,
        invite,
        platform,
        post,
        ..
    } = invited().await;
    cam.send(platform, Response::for_request(&invite, 100, ""))
        .await;

    // The session gives up after 1 s: CANCEL for exactly this INVITE (§9.1: same
    // Request-URI, Call-ID, From, To, CSeq number and branch).
    let (cancel, _) = cam.recv_request(Method::Cancel).await;
    assert_eq!(cancel.uri, invite.uri);
    assert_eq!(top_branch(&cancel.headers), top_branch(&invite.headers));
    assert_eq!(
        cancel.headers.call_id().unwrap(),
        invite.headers.call_id().unwrap()
    );
    assert_eq!(
        cancel.headers.cseq().unwrap().seq,
        invite.headers.cseq().unwrap().seq
    );
    assert_eq!(cancel.headers.cseq().unwrap().method, Method::Cancel);
    assert_eq!(
        cancel.headers.from().unwrap().tag(),
        invite.headers.from().unwrap().tag()
    );

    // The camera stops the call: 200 for the CANCEL, 487 for the INVITE.
    cam.send(
        platform,
        Response::for_request(&cancel, 200, "").with_to_tag("cam1"),
    )
    .await;
    cam.send(
        platform,
        Response::for_request(&invite, 487, "").with_to_tag("cam1"),
    )
    .await;
    // The 487 is ACKed by the INVITE's transaction (§17.1.1.3): same branch, CSeq, To tag.
    let (ack, _) = cam.recv_request(Method::Ack).await;
    assert_eq!(top_branch(&ack.headers), top_branch(&invite.headers));
    assert_eq!(
        ack.headers.cseq().unwrap().seq,
        invite.headers.cseq().unwrap().seq
    );
    assert_eq!(ack.headers.to().unwrap().tag(), Some("cam1"));

    let status = post.await.unwrap();
    assert_eq!(status, 504, "live view reports the timeout");
    // Nothing more: no CANCEL retransmission after its 200, no second ACK, no BYE.
    let mut buf = [0u8; 2048];
    let quiet = tokio::time::timeout(Duration::from_secs(2), cam.sock.recv_from(&mut buf)).await;
    if let Ok(Ok((n, _))) = quiet {
        let msg = Message::parse(&buf[..n]).unwrap();
        assert!(
            matches!(&msg, Message::Request(r) if matches!(r.method, Method::Message | Method::Subscribe)),
            "unexpected after the 487 was ACKed: {msg:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_200_crossing_the_cancel_is_acked_and_hung_up() {
    let Invited {
        cam,
        invite,
        platform,
        post,
        ..
    } = invited().await;
    cam.send(platform, Response::for_request(&invite, 100, ""))
        .await;
    let (cancel, _) = cam.recv_request(Method::Cancel).await;
    assert_eq!(top_branch(&cancel.headers), top_branch(&invite.headers));

    // The camera had already picked up: 200 for the CANCEL, and 200 OK for the INVITE.
    cam.send(
        platform,
        Response::for_request(&cancel, 200, "").with_to_tag("cam2"),
    )
    .await;
    let local = cam.sock.local_addr().unwrap();
    let mut ok = Response::for_request(&invite, 200, "").with_to_tag("cam2");
    ok.headers
        .push("Contact", format!("<sip:{CAMERA}@{local}>"));
    ok.set_body(
        "APPLICATION/SDP",
        format!(
            "v=0\r\no={CAMERA} 0 0 IN IP4 127.0.0.1\r\ns=Play\r\nc=IN IP4 127.0.0.1\r\n\
             t=0 0\r\nm=video 40000 RTP/AVP 96\r\na=sendonly\r\na=rtpmap:96 PS/90000\r\ny=0100000077\r\n"
        )
        .into_bytes(),
    );
    cam.send(platform, ok).await;

    // The 2xx is ACKed (a new transaction: its own branch) and the call hung up.
    let (ack, _) = cam.recv_request(Method::Ack).await;
    assert_ne!(top_branch(&ack.headers), top_branch(&invite.headers));
    assert_eq!(ack.headers.to().unwrap().tag(), Some("cam2"));
    let (bye, from) = cam.recv_request(Method::Bye).await;
    assert_eq!(
        bye.headers.call_id().unwrap(),
        invite.headers.call_id().unwrap()
    );
    assert_eq!(bye.headers.to().unwrap().tag(), Some("cam2"));
    cam.send(from, Response::for_request(&bye, 200, "")).await;
    assert_eq!(post.await.unwrap(), 504);
}
