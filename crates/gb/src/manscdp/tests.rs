//! Message-level tests: byte fixtures from devices, tolerance, round trips.

use super::*;

fn id(s: &str) -> DeviceId {
    s.parse().unwrap()
}

/// parse -> print -> parse gives the same message.
fn assert_round_trip(msg: &Manscdp) {
    let printed = msg.to_xml();
    let again = parse(&printed).unwrap_or_else(|e| panic!("reparse failed: {e}\n{printed}"));
    assert_eq!(&again, msg, "printed:\n{printed}");
    // And through bytes in every charset.
    for cs in [
        Charset::Gb2312,
        Charset::Gbk,
        Charset::Gb18030,
        Charset::Utf8,
    ] {
        let (again, got_cs) = parse_body(&msg.to_body(cs)).unwrap();
        assert_eq!((&again, got_cs), (msg, cs));
    }
}

#[test]
fn keepalive_from_device_bytes() {
    let (msg, cs) = parse_body(include_bytes!("../../testdata/keepalive_hikvision.xml")).unwrap();
    assert_eq!(cs, Charset::Gb2312);
    let Manscdp::Keepalive(k) = &msg else {
        panic!("not a keepalive: {msg:?}")
    };
    assert_eq!(k.sn, 43);
    assert_eq!(k.device_id, id("34020000001320000001"));
    assert_eq!(k.status.as_deref(), Some("OK"));
    assert!(k.is_ok());
    assert_eq!(msg.root(), Root::Notify);
    assert_eq!(msg.cmd_type(), "Keepalive");
    assert_eq!(msg.sn(), 43);
    assert_round_trip(&msg);
}

#[test]
fn keepalive_with_lowercase_tags_and_no_declaration() {
    let (msg, cs) = parse_body(include_bytes!("../../testdata/keepalive_lowercase.xml")).unwrap();
    assert_eq!(cs, Charset::Utf8);
    assert_eq!(
        msg,
        Manscdp::Keepalive(Keepalive {
            sn: 7,
            device_id: id("34020000001180000002"),
            status: Some("OK".into()),
        })
    );
}

#[test]
fn keepalive_prints_byte_exact() {
    let msg = Manscdp::Keepalive(Keepalive {
        sn: 43,
        device_id: id("34020000001320000001"),
        status: Some("OK".into()),
    });
    assert_eq!(
        msg.to_body(Charset::Gb2312),
        b"<?xml version=\"1.0\" encoding=\"GB2312\"?>\r\n<Notify>\r\n<CmdType>Keepalive</CmdType>\r\n\
          <SN>43</SN>\r\n<DeviceID>34020000001320000001</DeviceID>\r\n<Status>OK</Status>\r\n</Notify>\r\n"
    );
}

#[test]
fn keepalive_error_status_is_not_ok() {
    let msg = parse(
        "<Notify><CmdType>Keepalive</CmdType><SN>1</SN><DeviceID>34020000001320000001</DeviceID>\
         <Status>ERROR</Status></Notify>",
    )
    .unwrap();
    let Manscdp::Keepalive(k) = msg else { panic!() };
    assert!(!k.is_ok());
}

#[test]
fn keepalive_without_status_and_with_empty_elements() {
    let msg = parse(
        "<Notify><CmdType>Keepalive</CmdType><SN>1</SN><DeviceID>34020000001320000001</DeviceID>\
         <Status/><Extra></Extra></Notify>\0\0\r\n",
    )
    .unwrap();
    let Manscdp::Keepalive(k) = &msg else {
        panic!()
    };
    assert_eq!(k.status, None);
    assert!(k.is_ok());
    assert_round_trip(&msg);
}

#[test]
fn missing_header_fields_say_which() {
    let e = parse(
        "<Notify><CmdType>Keepalive</CmdType><DeviceID>34020000001320000001</DeviceID></Notify>",
    )
    .unwrap_err();
    assert_eq!(
        e,
        XmlError::Missing {
            path: "Notify/SN".into()
        }
    );
    let e = parse("<Notify><CmdType>Keepalive</CmdType><SN>1</SN></Notify>").unwrap_err();
    assert_eq!(e.to_string(), "missing Notify/DeviceID");
    let e = parse("<Query><SN>1</SN></Query>").unwrap_err();
    assert_eq!(e.to_string(), "missing Query/CmdType");
}

#[test]
fn invalid_header_fields_say_why() {
    let e = parse("<Notify><CmdType>Keepalive</CmdType><SN>x1</SN><DeviceID>34020000001320000001</DeviceID></Notify>")
        .unwrap_err();
    assert_eq!(e.to_string(), "invalid Notify/SN: not a number: \"x1\"");
    let e =
        parse("<Notify><CmdType>Keepalive</CmdType><SN>1</SN><DeviceID>3402</DeviceID></Notify>")
            .unwrap_err();
    assert_eq!(
        e.to_string(),
        "invalid Notify/DeviceID: device ID must be 20 digits, got 4 characters"
    );
}

#[test]
fn unknown_root_is_an_error() {
    let e = parse("<Request><CmdType>Catalog</CmdType></Request>").unwrap_err();
    assert_eq!(
        e,
        XmlError::UnknownRoot {
            name: "Request".into()
        }
    );
}

#[test]
fn unknown_cmd_type_is_kept() {
    let msg = parse(
        "<?xml version=\"1.0\"?><Query><CmdType>ConfigDownload</CmdType><SN>9</SN>\
         <DeviceID>34020000001320000001</DeviceID><ConfigType>BasicParam</ConfigType></Query>",
    )
    .unwrap();
    assert_eq!(
        msg,
        Manscdp::Unknown(Unknown {
            root: Root::Query,
            cmd_type: "ConfigDownload".into(),
            sn: 9,
            device_id: id("34020000001320000001"),
        })
    );
    assert_round_trip(&msg);
}

#[test]
fn basic_queries_round_trip() {
    let q = BasicQuery {
        sn: 17430,
        device_id: id("34020000001180000001"),
    };
    for msg in [
        Manscdp::CatalogQuery(q.clone()),
        Manscdp::DeviceInfoQuery(q.clone()),
        Manscdp::DeviceStatusQuery(q.clone()),
        Manscdp::PresetQuery(q.clone()),
    ] {
        assert_round_trip(&msg);
    }
    assert_eq!(
        Manscdp::CatalogQuery(q).to_xml(),
        "<Query>\r\n<CmdType>Catalog</CmdType>\r\n<SN>17430</SN>\r\n\
         <DeviceID>34020000001180000001</DeviceID>\r\n</Query>\r\n"
    );
}

#[test]
fn garbage_is_an_error_not_a_panic() {
    for input in [
        "",
        "\0\0",
        "not xml",
        "<",
        "<Notify",
        "<Notify><SN>",
        "</Notify>",
        "<?xml?>",
    ] {
        assert!(parse(input).is_err(), "{input:?}");
    }
}
