//! Property tests: generated Catalog responses and SDPs survive print -> parse unchanged
//! (through every charset for MANSCDP), and no input bytes make a parser panic.

use std::collections::BTreeMap;

use proptest::prelude::*;
use vigil_gb::manscdp::{Catalog, CatalogEvent, CatalogItem, Password};
use vigil_gb::sdp::{
    Attribute, Connection, Direction, Line, Media, MediaFormat, MediaProto, Origin, RtpMap, Sdp,
    SessionName, Setup, Ssrc, Timing,
};
use vigil_gb::{Charset, DeviceId, Manscdp, PtzCmd, parse, parse_body};

/// Text as devices put in fields: Chinese (GB2312, GBK-only, 4-byte GB18030), markup
/// characters that need escaping, inner spaces; never leading/trailing whitespace (the
/// reader trims).
fn text() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 中文门鎔\u{3400}\u{20000}&<>'\"/._-]{1,16}"
        .prop_map(|s| s.trim().to_owned())
        .prop_filter("non-empty after trim", |s| !s.is_empty())
}

fn opt_text() -> impl Strategy<Value = Option<String>> {
    proptest::option::of(text())
}

fn device_id() -> impl Strategy<Value = DeviceId> {
    "[0-9]{20}".prop_map(|s| s.parse().unwrap())
}

fn coordinate() -> impl Strategy<Value = Option<f64>> {
    proptest::option::of(-180.0f64..180.0)
}

/// Keys that collide with no standard field (they all start with `X`).
fn extra_map() -> impl Strategy<Value = BTreeMap<String, String>> {
    proptest::collection::btree_map("X[a-zA-Z0-9]{0,8}", text().prop_map(String::from), 0..3)
        .prop_flat_map(|m| {
            // Empty values are kept too.
            let keys: Vec<String> = m.keys().cloned().collect();
            (
                Just(m),
                proptest::collection::vec(any::<bool>(), keys.len()),
            )
                .prop_map(move |(mut m, empties)| {
                    for (k, empty) in keys.iter().zip(empties) {
                        if empty {
                            m.insert(k.clone(), String::new());
                        }
                    }
                    m
                })
        })
}

fn event() -> impl Strategy<Value = Option<CatalogEvent>> {
    proptest::option::of(prop_oneof![
        Just(CatalogEvent::Add),
        Just(CatalogEvent::Del),
        Just(CatalogEvent::Update),
        Just(CatalogEvent::On),
        Just(CatalogEvent::Off),
        Just(CatalogEvent::Vlost),
        Just(CatalogEvent::Defect),
    ])
}

fn item() -> impl Strategy<Value = CatalogItem> {
    let ids = (
        "[0-9]{6,20}",
        event(),
        opt_text(),
        opt_text(),
        opt_text(),
        opt_text(),
    );
    let places = (
        opt_text(),
        opt_text(),
        opt_text(),
        any::<Option<u8>>(),
        opt_text(),
    );
    let security = (
        any::<Option<u8>>(),
        any::<Option<u8>>(),
        opt_text(),
        any::<Option<u8>>(),
        any::<Option<i32>>(),
        opt_text(),
        any::<Option<u8>>(),
    );
    let network = (
        opt_text(),
        any::<Option<u16>>(),
        proptest::option::of(text().prop_map(Password)),
        opt_text(),
        coordinate(),
        coordinate(),
    );
    let rest = (
        any::<Option<u8>>(),
        proptest::collection::btree_map("Y[a-zA-Z]{0,6}", text(), 0..3),
        extra_map(),
    );
    (ids, places, security, network, rest).prop_map(
        |(
            (device_id, event, name, manufacturer, model, owner),
            (civil_code, block, address, parental, parent_id),
            (safety_way, register_way, cert_num, certifiable, err_code, end_time, secrecy),
            (ip_address, port, password, status, longitude, latitude),
            (ptz_type, info, extra),
        )| CatalogItem {
            device_id,
            event,
            name,
            manufacturer,
            model,
            owner,
            civil_code,
            block,
            address,
            parental,
            parent_id,
            safety_way,
            register_way,
            cert_num,
            certifiable,
            err_code,
            end_time,
            secrecy,
            ip_address,
            port,
            password,
            status,
            longitude,
            latitude,
            ptz_type,
            info,
            extra,
        },
    )
}

fn catalog() -> impl Strategy<Value = Catalog> {
    (
        any::<u32>(),
        device_id(),
        any::<u32>(),
        proptest::collection::vec(item(), 0..5),
    )
        .prop_map(|(sn, device_id, sum_num, items)| Catalog {
            sn,
            device_id,
            sum_num,
            items,
        })
}

fn charset() -> impl Strategy<Value = Charset> {
    prop_oneof![
        Just(Charset::Gb2312),
        Just(Charset::Gbk),
        Just(Charset::Gb18030),
        Just(Charset::Utf8),
    ]
}

/// An SDP token: no whitespace.
fn token() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9.:/=_-]{1,12}"
}

fn connection() -> impl Strategy<Value = Connection> {
    (prop_oneof![Just("IP4"), Just("IP6")], token()).prop_map(|(t, a)| Connection {
        net_type: "IN".into(),
        addr_type: t.into(),
        address: a,
    })
}

/// A line kind that has no typed field of its own.
fn other_line() -> impl Strategy<Value = Line> {
    (
        prop_oneof![Just('i'), Just('b'), Just('k'), Just('e'), Just('r')],
        "[a-zA-Z0-9:/._-]{0,12}",
    )
        .prop_map(|(kind, value)| Line { kind, value })
}

/// An attribute no typed field takes (names start with `x`).
fn raw_attribute() -> impl Strategy<Value = Attribute> {
    (
        "x[a-z]{0,6}",
        proptest::option::of("[a-zA-Z0-9:/._=-]{0,12}"),
    )
        .prop_map(|(name, value)| Attribute { name, value })
}

fn proto() -> impl Strategy<Value = MediaProto> {
    prop_oneof![
        Just(MediaProto::RtpAvp),
        Just(MediaProto::TcpRtpAvp),
        Just(MediaProto::RtpAvpTcp),
        "[A-Z]{2,4}/[A-Z]{2,4}"
            .prop_filter("not a known spelling", |p| !p
                .eq_ignore_ascii_case("RTP/AVP"))
            .prop_map(MediaProto::Other),
    ]
}

fn media() -> impl Strategy<Value = Media> {
    let head = (
        prop_oneof![Just("video"), Just("audio")],
        any::<u16>(),
        proto(),
        proptest::collection::vec(any::<u8>(), 0..4),
        proptest::option::of(connection()),
    );
    let attrs = (
        proptest::option::of(prop_oneof![
            Just(Direction::RecvOnly),
            Just(Direction::SendOnly),
            Just(Direction::SendRecv),
            Just(Direction::Inactive),
        ]),
        proptest::collection::vec(
            (
                any::<u8>(),
                "[A-Z0-9]{1,6}",
                any::<u32>(),
                proptest::option::of("[0-9]{1,2}"),
            )
                .prop_map(|(payload_type, encoding, clock_rate, params)| RtpMap {
                    payload_type,
                    encoding,
                    clock_rate,
                    params,
                }),
            0..3,
        ),
        proptest::option::of(prop_oneof![
            Just(Setup::Active),
            Just(Setup::Passive),
            Just(Setup::ActPass),
            Just(Setup::HoldConn),
        ]),
        proptest::option::of(prop_oneof![
            Just("new".to_owned()),
            Just("existing".to_owned())
        ]),
        any::<Option<u32>>(),
        any::<Option<u64>>(),
        proptest::collection::vec(raw_attribute(), 0..3),
        proptest::collection::vec(other_line(), 0..2),
    );
    (head, attrs).prop_map(
        |(
            (kind, port, proto, formats, connection),
            (
                direction,
                rtpmaps,
                setup,
                tcp_connection,
                download_speed,
                file_size,
                attributes,
                other,
            ),
        )| Media {
            kind: kind.into(),
            port,
            proto,
            formats,
            connection,
            direction,
            rtpmaps,
            setup,
            tcp_connection,
            download_speed,
            file_size,
            attributes,
            other,
        },
    )
}

fn sdp() -> impl Strategy<Value = Sdp> {
    let head = (
        (token(), "[0-9]{1,10}", "[0-9]{1,10}", connection()),
        prop_oneof![
            Just(SessionName::Play),
            Just(SessionName::Playback),
            Just(SessionName::Download),
            Just(SessionName::Talk),
            "[A-Z][a-z]{2,8}X".prop_map(SessionName::Other),
        ],
        proptest::option::of(token()),
        proptest::option::of(connection()),
        proptest::option::of((any::<u64>(), any::<u64>())),
    );
    let body = (
        proptest::collection::vec(other_line(), 0..3),
        proptest::collection::vec(raw_attribute(), 0..3),
        proptest::collection::vec(media(), 0..3),
        any::<Option<u32>>(),
        proptest::option::of("[v0-9/a]{0,20}"),
    );
    (head, body).prop_map(
        |(
            ((username, session_id, session_version, c), session_name, uri, connection, timing),
            (other, attributes, media, ssrc, format),
        )| Sdp {
            version: 0,
            origin: Origin {
                username,
                session_id,
                session_version,
                net_type: c.net_type,
                addr_type: c.addr_type,
                address: c.address,
            },
            session_name,
            uri,
            connection,
            timing: timing.map(|(start, stop)| Timing { start, stop }),
            other,
            attributes,
            media,
            ssrc: ssrc.map(Ssrc),
            format: format.map(MediaFormat::new),
        },
    )
}

proptest! {
    #[test]
    fn catalog_response_round_trips_in_every_charset(c in catalog(), cs in charset(), notify in any::<bool>()) {
        let msg = if notify { Manscdp::CatalogNotify(c) } else { Manscdp::CatalogResponse(c) };
        let printed = msg.to_xml();
        prop_assert_eq!(&parse(&printed).unwrap(), &msg, "{}", printed);
        let (again, got_cs) = parse_body(&msg.to_body(cs)).unwrap();
        prop_assert_eq!(got_cs, cs);
        prop_assert_eq!(again, msg);
    }

    #[test]
    fn sdp_round_trips(s in sdp()) {
        let printed = s.to_string();
        let again: Sdp = printed.parse().unwrap();
        prop_assert_eq!(again, s, "{}", printed);
    }

    #[test]
    fn sdp_parses_the_same_with_lf_only(s in sdp()) {
        let lf = s.to_string().replace("\r\n", "\n");
        prop_assert_eq!(lf.parse::<Sdp>().unwrap(), s);
    }

    #[test]
    fn device_id_round_trips(id in device_id()) {
        prop_assert_eq!(id.to_string().parse::<DeviceId>().unwrap(), id);
    }

    #[test]
    fn ssrc_round_trips(v in any::<u32>()) {
        let s = Ssrc(v).to_string();
        prop_assert_eq!(s.len(), 10);
        prop_assert_eq!(s.parse::<Ssrc>().unwrap(), Ssrc(v));
    }

    #[test]
    fn ptz_cmd_hex_round_trips(b in any::<[u8; 7]>()) {
        let mut bytes = [0u8; 8];
        bytes[..7].copy_from_slice(&b);
        bytes[0] = 0xA5;
        bytes[7] = bytes[..7].iter().fold(0u8, |a, x| a.wrapping_add(*x));
        let cmd = PtzCmd::from_bytes(bytes).unwrap();
        prop_assert_eq!(cmd.to_hex().parse::<PtzCmd>().unwrap(), cmd);
        let rebuilt = PtzCmd::new(cmd.address(), cmd.instruction());
        // Same bytes except the version byte, which `new` always writes as 0F.
        prop_assert_eq!(&rebuilt.bytes()[2..7], &cmd.bytes()[2..7]);
    }

    #[test]
    fn no_bytes_make_parsers_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = parse_body(&bytes);
        let _ = Sdp::parse_bytes(&bytes);
        let text = String::from_utf8_lossy(&bytes);
        let _ = PtzCmd::from_hex(&text);
        let _ = text.parse::<DeviceId>();
        let _ = text.parse::<Ssrc>();
    }

    #[test]
    fn no_markup_soup_makes_the_xml_reader_panic(
        parts in proptest::collection::vec(
            prop_oneof![
                Just("<Response>".to_owned()), Just("</Response>".to_owned()),
                Just("<CmdType>Catalog</CmdType>".to_owned()), Just("<SN>1</SN>".to_owned()),
                Just("<DeviceID>34020000001320000001</DeviceID>".to_owned()),
                Just("<DeviceList Num=\"1\">".to_owned()), Just("</DeviceList>".to_owned()),
                Just("<Item>".to_owned()), Just("</Item>".to_owned()), Just("<Info>".to_owned()),
                Just("&#x0;".to_owned()), Just("&bogus;".to_owned()), Just("<![CDATA[x".to_owned()),
                Just("<!--".to_owned()), Just("<?xml".to_owned()), Just("\0".to_owned()),
                "[<>/&;#a-zA-Z0-9 =\"]{0,8}",
            ],
            0..40,
        )
    ) {
        let _ = parse(&parts.concat());
    }
}
