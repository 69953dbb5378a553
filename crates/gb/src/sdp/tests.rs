//! SDP tests: the platform's offers byte-exact, vendor answers, tolerance, round trips.

use std::net::{IpAddr, Ipv4Addr};

use super::build::PT_H265;
use super::*;
use crate::id::DeviceId;

fn id(s: &str) -> DeviceId {
    s.parse().unwrap()
}

const SERVER: &str = "34020000002000000001";
const PLATFORM_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 168, 1, 10));

fn round_trip(sdp: &Sdp) {
    let printed = sdp.to_string();
    let again: Sdp = printed.parse().unwrap_or_else(|e| panic!("{e}\n{printed}"));
    assert_eq!(&again, sdp, "printed:\n{printed}");
}

#[test]
fn live_udp_offer_is_byte_exact() {
    let offer = Offer::play(
        id(SERVER),
        PLATFORM_IP,
        30000,
        MediaTransport::Udp,
        Ssrc(200000001),
    );
    assert_eq!(
        offer.to_sdp().to_string(),
        "v=0\r\no=34020000002000000001 0 0 IN IP4 192.168.1.10\r\ns=Play\r\n\
         c=IN IP4 192.168.1.10\r\nt=0 0\r\nm=video 30000 RTP/AVP 96 97 98\r\na=recvonly\r\n\
         a=rtpmap:96 PS/90000\r\na=rtpmap:97 MPEG4/90000\r\na=rtpmap:98 H264/90000\r\n\
         y=0200000001\r\n"
    );
    round_trip(&offer.to_sdp());
}

#[test]
fn tcp_passive_offer_has_setup_and_connection() {
    let offer = Offer::play(
        id(SERVER),
        PLATFORM_IP,
        30002,
        MediaTransport::TcpPassive,
        Ssrc(200000002),
    );
    let sdp = offer.to_sdp();
    assert_eq!(
        sdp.to_string(),
        "v=0\r\no=34020000002000000001 0 0 IN IP4 192.168.1.10\r\ns=Play\r\n\
         c=IN IP4 192.168.1.10\r\nt=0 0\r\nm=video 30002 TCP/RTP/AVP 96 97 98\r\na=recvonly\r\n\
         a=rtpmap:96 PS/90000\r\na=rtpmap:97 MPEG4/90000\r\na=rtpmap:98 H264/90000\r\n\
         a=setup:passive\r\na=connection:new\r\ny=0200000002\r\n"
    );
    assert_eq!(sdp.video_transport(), Some(MediaTransport::TcpPassive));
    let active = Offer::play(
        id(SERVER),
        PLATFORM_IP,
        1,
        MediaTransport::TcpActive,
        Ssrc(1),
    )
    .to_sdp();
    assert_eq!(active.video().unwrap().setup, Some(Setup::Active));
    assert_eq!(active.video_transport(), Some(MediaTransport::TcpActive));
}

#[test]
fn playback_and_download_offers() {
    let channel = id("34020000001310000001");
    let sdp = Offer::play(
        id(SERVER),
        PLATFORM_IP,
        30004,
        MediaTransport::Udp,
        Ssrc(1200000003),
    )
    .playback(channel, 1_764_150_000, 1_764_153_600)
    .to_sdp();
    let text = sdp.to_string();
    assert!(
        text.contains("\r\ns=Playback\r\nu=34020000001310000001:0\r\n"),
        "{text}"
    );
    assert!(text.contains("\r\nt=1764150000 1764153600\r\n"), "{text}");
    assert!(sdp.ssrc().unwrap().is_history());
    round_trip(&sdp);

    let sdp = Offer::play(
        id(SERVER),
        PLATFORM_IP,
        30004,
        MediaTransport::Udp,
        Ssrc(1200000004),
    )
    .download(channel, 1, 2, 4)
    .to_sdp();
    assert_eq!(sdp.session_name, SessionName::Download);
    assert!(sdp.to_string().contains("\r\na=downloadspeed:4\r\n"));
    round_trip(&sdp);
}

#[test]
fn offer_with_h265_and_ipv6() {
    let mut offer = Offer::play(
        id(SERVER),
        "fd00::10".parse().unwrap(),
        30006,
        MediaTransport::Udp,
        Ssrc(5),
    );
    offer.rtpmaps.push(RtpMap::video(PT_H265, "H265"));
    let sdp = offer.to_sdp();
    let text = sdp.to_string();
    assert!(text.contains("o=34020000002000000001 0 0 IN IP6 fd00::10\r\n"));
    assert!(text.contains("m=video 30006 RTP/AVP 96 97 98 100\r\n"));
    assert!(text.contains("a=rtpmap:100 H265/90000\r\n"));
    assert!(text.contains("y=0000000005\r\n"));
    round_trip(&sdp);
}

#[test]
fn hikvision_answer() {
    let sdp = Sdp::parse_bytes(include_bytes!("../../testdata/sdp_answer_hikvision.txt")).unwrap();
    assert_eq!(sdp.origin.username, "34020000001320000001");
    assert_eq!(sdp.origin.session_id, "1835");
    assert_eq!(sdp.session_name, SessionName::Play);
    assert_eq!(sdp.video_address(), Some("192.168.1.64"));
    assert_eq!(sdp.ssrc(), Some(Ssrc(200000001)));
    assert_eq!(sdp.format, Some(MediaFormat::new("")));
    let v = sdp.video().unwrap();
    assert_eq!(
        (v.port, &v.proto, &v.formats[..]),
        (15060, &MediaProto::RtpAvp, &[96u8][..])
    );
    assert_eq!(v.direction, Some(Direction::SendOnly));
    assert_eq!(v.rtpmap(96), Some(&RtpMap::video(96, "PS")));
    assert_eq!(v.file_size, Some(0));
    assert_eq!(v.attribute("username"), Some("34020000001320000001"));
    assert_eq!(sdp.video_transport(), Some(MediaTransport::Udp));
    round_trip(&sdp);
}

#[test]
fn dahua_tcp_answer_with_format() {
    let sdp = Sdp::parse_bytes(include_bytes!("../../testdata/sdp_answer_dahua_tcp.txt")).unwrap();
    let v = sdp.video().unwrap();
    assert_eq!(v.proto, MediaProto::TcpRtpAvp);
    assert!(v.proto.is_tcp());
    assert_eq!(v.setup, Some(Setup::Active));
    assert_eq!(v.tcp_connection.as_deref(), Some("new"));
    assert_eq!(sdp.ssrc(), Some(Ssrc(200000002)));
    let f = sdp.format.as_ref().unwrap();
    assert_eq!(f.video().unwrap().codec, Some(2));
    assert_eq!(f.video().unwrap().bitrate, Some(4096));
    assert_eq!(f.audio().unwrap().sample_rate, Some(1));
    round_trip(&sdp);
}

#[test]
fn uniview_answer_lf_only_odd_order_no_ssrc() {
    let sdp = Sdp::parse_bytes(include_bytes!("../../testdata/sdp_answer_uniview.txt")).unwrap();
    assert_eq!(sdp.ssrc(), None);
    assert_eq!(sdp.connection, None);
    let v = sdp.video().unwrap();
    assert_eq!(v.proto, MediaProto::RtpAvpTcp);
    assert_eq!(v.connection.as_ref().unwrap().address, "192.168.1.13");
    assert_eq!(sdp.video_address(), Some("192.168.1.13"));
    assert_eq!(
        v.other,
        [Line {
            kind: 'b',
            value: "AS:4096".into()
        }]
    );
    assert_eq!(v.attribute("fmtp"), Some("96 profile-level-id=42e01e"));
    assert_eq!(v.setup, Some(Setup::Passive));
    assert_eq!(v.direction, Some(Direction::SendOnly));
    // Seen from the device that wrote it: it listens, the platform connects.
    assert_eq!(sdp.video_transport(), Some(MediaTransport::TcpPassive));
    round_trip(&sdp);
}

#[test]
fn answer_for_offer_echoes_and_flips_tcp_role() {
    let offer = Offer::play(
        id(SERVER),
        PLATFORM_IP,
        30002,
        MediaTransport::TcpPassive,
        Ssrc(200000002),
    )
    .to_sdp();
    let device_ip: IpAddr = "192.168.1.64".parse().unwrap();
    let mut answer = Answer::for_offer(&offer, id("34020000001320000001"), device_ip, 15060);
    answer.format = Some(MediaFormat::new("v/2/5/25/1/4096a/1/8/1"));
    let sdp = answer.to_sdp();
    assert_eq!(
        sdp.to_string(),
        "v=0\r\no=34020000001320000001 0 0 IN IP4 192.168.1.64\r\ns=Play\r\n\
         c=IN IP4 192.168.1.64\r\nt=0 0\r\nm=video 15060 TCP/RTP/AVP 96\r\na=sendonly\r\n\
         a=rtpmap:96 PS/90000\r\na=setup:active\r\na=connection:new\r\ny=0200000002\r\n\
         f=v/2/5/25/1/4096a/1/8/1\r\n"
    );
    round_trip(&sdp);

    let udp = Offer::play(id(SERVER), PLATFORM_IP, 30000, MediaTransport::Udp, Ssrc(7))
        .playback(id("34020000001310000001"), 10, 20)
        .to_sdp();
    let a = Answer::for_offer(&udp, id("34020000001310000001"), device_ip, 15062).to_sdp();
    assert_eq!(a.session_name, SessionName::Playback);
    assert_eq!(a.uri.as_deref(), Some("34020000001310000001:0"));
    assert_eq!(
        a.timing,
        Some(Timing {
            start: 10,
            stop: 20
        })
    );
    assert_eq!(a.video().unwrap().setup, None);
    assert_eq!(a.ssrc, Some(Ssrc(7)));
}

#[test]
fn unreadable_typed_lines_are_kept_raw() {
    let text = "v=0\no=a 0 0 IN IP4 1.2.3.4\ns=play\nm=video 1 RTP/AVP 96\n\
                a=rtpmap:x\na=setup:sideways\na=downloadspeed:fast\na=connection:\ny=notanumber\n";
    let sdp: Sdp = text.parse().unwrap();
    // Session names match case-insensitively.
    assert_eq!(sdp.session_name, SessionName::Play);
    assert_eq!(sdp.ssrc, None);
    let v = sdp.video().unwrap();
    assert!(v.rtpmaps.is_empty() && v.setup.is_none() && v.download_speed.is_none());
    let names: Vec<_> = v.attributes.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["rtpmap", "setup", "downloadspeed", "connection"]);
    assert_eq!(
        v.other,
        [Line {
            kind: 'y',
            value: "notanumber".into()
        }]
    );
    round_trip(&sdp);
}

#[test]
fn other_session_names_and_session_attributes_are_kept() {
    let text = "v=0\r\no=a 0 0 IN IP4 1.2.3.4\r\ns=EmbeddedNetDeviceInfo\r\ni=info\r\nt=0 0\r\n\
                a=recvonly\r\n";
    let sdp: Sdp = text.parse().unwrap();
    assert_eq!(
        sdp.session_name,
        SessionName::Other("EmbeddedNetDeviceInfo".into())
    );
    assert_eq!(
        sdp.other,
        [Line {
            kind: 'i',
            value: "info".into()
        }]
    );
    assert_eq!(
        sdp.attributes,
        [Attribute {
            name: "recvonly".into(),
            value: None
        }]
    );
    assert!(sdp.media.is_empty());
    assert_eq!(sdp.video_address(), Some("1.2.3.4"));
    round_trip(&sdp);
}

#[test]
fn errors_name_the_line() {
    let e = "v=0\no=a 0 0 IN IP4 1.2.3.4\ns=Play\nm=video port RTP/AVP 96\n"
        .parse::<Sdp>()
        .unwrap_err();
    assert_eq!(
        e,
        SdpError::Invalid {
            line: 4,
            reason: "bad m= line"
        }
    );
    assert_eq!(e.to_string(), "SDP line 4: bad m= line");
    let e = "v=0\no=a 0 0 IN\n".parse::<Sdp>().unwrap_err();
    assert_eq!(
        e,
        SdpError::Invalid {
            line: 2,
            reason: "bad o= line"
        }
    );
    let e = "v=0\ns=Play\n".parse::<Sdp>().unwrap_err();
    assert_eq!(e, SdpError::Missing("o="));
    let e = "v=0\no=a 0 0 IN IP4 1.2.3.4\n".parse::<Sdp>().unwrap_err();
    assert_eq!(e, SdpError::Missing("s="));
    let e = "v=0\nhello\n".parse::<Sdp>().unwrap_err();
    assert_eq!(
        e,
        SdpError::Invalid {
            line: 2,
            reason: "expected <letter>=<value>"
        }
    );
    let e = "v=x\n".parse::<Sdp>().unwrap_err();
    assert_eq!(
        e,
        SdpError::Invalid {
            line: 1,
            reason: "v= is not a number"
        }
    );
    let e = "v=0\no=a 0 0 IN IP4 1.2.3.4\ns=Play\nt=0\n"
        .parse::<Sdp>()
        .unwrap_err();
    assert_eq!(
        e,
        SdpError::Invalid {
            line: 4,
            reason: "bad t= line"
        }
    );
    let e = "v=0\no=a 0 0 IN IP4 1.2.3.4\ns=Play\nm=video 1 RTP/AVP 96 x\n"
        .parse::<Sdp>()
        .unwrap_err();
    assert_eq!(
        e,
        SdpError::Invalid {
            line: 4,
            reason: "bad m= line"
        }
    );
}

#[test]
fn too_large_is_refused() {
    let big = vec![b'a'; MAX_SDP_LEN + 1];
    assert_eq!(
        Sdp::parse_bytes(&big),
        Err(SdpError::TooLarge(MAX_SDP_LEN + 1))
    );
}

#[test]
fn garbage_is_an_error_not_a_panic() {
    for input in [
        "",
        "=",
        "é=x",
        "v",
        "\0",
        "m=video",
        "o=\u{10FFFF}",
        "a=rtpmap:96",
    ] {
        let _ = input.parse::<Sdp>();
    }
    assert!(Sdp::parse_bytes(b"\xff\xfe=\x00").is_err());
}
