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
            faulty: Vec::new(),
        })
    );
}

#[test]
fn keepalive_prints_byte_exact() {
    let msg = Manscdp::Keepalive(Keepalive {
        sn: 43,
        device_id: id("34020000001320000001"),
        status: Some("OK".into()),
        faulty: Vec::new(),
    });
    assert_eq!(
        msg.to_body(Charset::Gb2312),
        b"<?xml version=\"1.0\" encoding=\"GB2312\"?>\r\n<Notify>\r\n<CmdType>Keepalive</CmdType>\r\n\
          <SN>43</SN>\r\n<DeviceID>34020000001320000001</DeviceID>\r\n<Status>OK</Status>\r\n</Notify>\r\n"
    );
}

#[test]
fn keepalive_lists_faulty_channels_once_and_skips_bad_ids() {
    let (msg, _) = parse_body(include_bytes!(
        "../../testdata/keepalive_faulty_channels.xml"
    ))
    .unwrap();
    let Manscdp::Keepalive(k) = &msg else {
        panic!("not a keepalive: {msg:?}")
    };
    assert_eq!(k.device_id, id("34020000001180000001"));
    assert_eq!(
        k.faulty,
        [id("34020000001310000003"), id("34020000001310000007")]
    );
    assert!(k.is_ok());
    assert_round_trip(&msg);
    // Printed the way it was read; without faults there is no Info.
    assert!(msg.to_xml().ends_with(
        "<Status>OK</Status>\r\n<Info>\r\n<DeviceID>34020000001310000003</DeviceID>\r\n\
         <DeviceID>34020000001310000007</DeviceID>\r\n</Info>\r\n</Notify>\r\n"
    ));
    let lower = parse(
        "<notify><cmdtype>Keepalive</cmdtype><sn>1</sn><deviceid>34020000001180000001</deviceid>\
         <info><deviceid>34020000001310000002</deviceid></info></notify>",
    )
    .unwrap();
    let Manscdp::Keepalive(k) = lower else {
        panic!()
    };
    assert_eq!(k.faulty, [id("34020000001310000002")]);
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

fn catalog_of(msg: &Manscdp) -> &Catalog {
    match msg {
        Manscdp::CatalogResponse(c) | Manscdp::CatalogNotify(c) => c,
        other => panic!("not a catalog: {other:?}"),
    }
}

#[test]
fn hikvision_catalog_response_reads_every_field() {
    let (msg, cs) = parse_body(include_bytes!("../../testdata/catalog_hikvision_nvr.xml")).unwrap();
    assert_eq!(cs, Charset::Gb2312);
    assert!(matches!(msg, Manscdp::CatalogResponse(_)));
    let c = catalog_of(&msg);
    assert_eq!(
        (c.sn, c.device_id, c.sum_num),
        (17430, id("34020000001180000001"), 4)
    );
    assert_eq!(c.items.len(), 2);
    let first = &c.items[0];
    let expected = CatalogItem {
        device_id: "34020000001310000001".into(),
        name: Some("东门入口".into()),
        manufacturer: Some("Hikvision".into()),
        model: Some("IP Camera".into()),
        owner: Some("Owner".into()),
        civil_code: Some("3402000000".into()),
        address: Some("Address".into()),
        parental: Some(0),
        parent_id: Some("34020000001180000001".into()),
        safety_way: Some(0),
        register_way: Some(1),
        secrecy: Some(0),
        status: Some("ON".into()),
        longitude: Some(117.2),
        latitude: Some(31.8),
        ptz_type: Some(3),
        info: [("Resolution", "6/4/2"), ("DownloadSpeed", "1/2/4/8")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
        ..CatalogItem::default()
    };
    assert_eq!(first, &expected);
    assert_eq!(first.id(), Some(id("34020000001310000001")));
    assert_eq!(first.is_online(), Some(true));
    assert_eq!(c.items[1].name.as_deref(), Some("停车场球机"));
    assert_eq!(c.items[1].is_online(), Some(false));
    assert_eq!(c.items[1].ptz_type, Some(1));
    assert_round_trip(&msg);
}

#[test]
fn dahua_catalog_with_lf_tabs_gbk_name_and_odd_fields() {
    let (msg, cs) = parse_body(include_bytes!("../../testdata/catalog_dahua_dvr.xml")).unwrap();
    assert_eq!(cs, Charset::Gb2312);
    let c = catalog_of(&msg);
    assert_eq!((c.sum_num, c.items.len()), (2, 2));
    let cam = &c.items[0];
    // Declared GB2312, but 鎔 is GBK-only: decoded anyway.
    assert_eq!(cam.name.as_deref(), Some("仓库通道鎔"));
    assert_eq!(cam.block, None);
    assert_eq!(cam.cert_num.as_deref(), Some("0"));
    assert_eq!(cam.certifiable, Some(0));
    assert_eq!(cam.err_code, Some(400));
    assert_eq!(cam.end_time.as_deref(), Some("2030-01-01T00:00:00"));
    assert_eq!(cam.ip_address.as_deref(), Some("192.168.1.108"));
    assert_eq!(cam.port, Some(37777));
    assert_eq!(cam.password, Some(Password("admin123".into())));
    assert_eq!((cam.longitude, cam.latitude), (None, None));
    // PTZType directly under Item is accepted.
    assert_eq!(cam.ptz_type, Some(2));
    assert_eq!(cam.extra.get("ChannelNo").map(String::as_str), Some("1"));
    assert_eq!(cam.id().map(|i| i.kind()), Some(crate::DeviceKind::Ipc));
    let alarm = &c.items[1];
    // A typed field that does not parse is kept raw instead of failing the packet.
    assert_eq!(alarm.port, None);
    assert_eq!(alarm.extra.get("Port").map(String::as_str), Some("none"));
    assert_eq!(alarm.is_online(), Some(false));
    assert_round_trip(&msg);
}

#[test]
fn password_is_hidden_from_debug() {
    let (msg, _) = parse_body(include_bytes!("../../testdata/catalog_dahua_dvr.xml")).unwrap();
    let dbg = format!("{msg:?}");
    assert!(!dbg.contains("admin123"));
    assert!(dbg.contains("***"));
}

#[test]
fn catalog_notify_with_events() {
    let (msg, _) = parse_body(include_bytes!("../../testdata/catalog_notify_events.xml")).unwrap();
    assert!(matches!(msg, Manscdp::CatalogNotify(_)));
    let c = catalog_of(&msg);
    let events: Vec<_> = c.items.iter().map(|i| i.event).collect();
    assert_eq!(
        events,
        [
            Some(CatalogEvent::Add),
            Some(CatalogEvent::Off),
            Some(CatalogEvent::Del)
        ]
    );
    assert_eq!(c.items[0].name.as_deref(), Some("新增通道"));
    assert_round_trip(&msg);
}

#[test]
fn catalog_tree_nodes_with_short_ids_and_four_byte_name() {
    let (msg, cs) = parse_body(include_bytes!("../../testdata/catalog_platform_tree.xml")).unwrap();
    assert_eq!(cs, Charset::Utf8);
    let c = catalog_of(&msg);
    let ids: Vec<_> = c.items.iter().map(|i| i.device_id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "340200",
            "34020000002150000001",
            "34020000002160000001",
            "34020000001320000001"
        ]
    );
    assert_eq!(c.items[0].id(), None);
    assert_eq!(
        c.items[1].id().map(|i| i.kind()),
        Some(crate::DeviceKind::BusinessGroup)
    );
    assert_eq!(c.items[2].name.as_deref(), Some("虚拟组织\u{20000}"));
    assert_eq!(
        c.items[2].extra.get("BusinessGroupID").map(String::as_str),
        Some("34020000002150000001")
    );
    assert_eq!(c.items[3].is_online(), Some(true));
    assert_round_trip(&msg);
}

#[test]
fn catalog_item_without_device_id_says_which_item() {
    let e = parse(
        "<Response><CmdType>Catalog</CmdType><SN>1</SN><DeviceID>34020000001180000001</DeviceID>\
         <SumNum>2</SumNum><DeviceList Num=\"2\"><Item><DeviceID>1</DeviceID></Item>\
         <Item><Name>x</Name></Item></DeviceList></Response>",
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "missing Response/DeviceList/Item[2]/DeviceID"
    );
}

#[test]
fn catalog_with_bad_sum_num_is_invalid() {
    let e = parse(
        "<Response><CmdType>Catalog</CmdType><SN>1</SN><DeviceID>34020000001180000001</DeviceID>\
         <SumNum>many</SumNum></Response>",
    )
    .unwrap_err();
    assert_eq!(e.to_string(), "invalid Response/SumNum: not a number");
}

#[test]
fn empty_catalog_prints_byte_exact() {
    let msg = Manscdp::CatalogResponse(Catalog {
        sn: 1,
        device_id: id("34020000001320000001"),
        sum_num: 0,
        items: vec![],
    });
    assert_eq!(
        msg.to_xml(),
        "<Response>\r\n<CmdType>Catalog</CmdType>\r\n<SN>1</SN>\r\n\
         <DeviceID>34020000001320000001</DeviceID>\r\n<SumNum>0</SumNum>\r\n\
         <DeviceList Num=\"0\">\r\n</DeviceList>\r\n</Response>\r\n"
    );
    assert_round_trip(&msg);
}

#[test]
fn catalog_without_sum_num_counts_items() {
    let msg = parse(
        "<Notify><CmdType>Catalog</CmdType><SN>1</SN><DeviceID>34020000001180000001</DeviceID>\
         <DeviceList><Item><DeviceID>34020000001310000001</DeviceID><Event>UPDATE</Event></Item>\
         </DeviceList></Notify>",
    )
    .unwrap();
    assert_eq!(catalog_of(&msg).sum_num, 1);
}

#[test]
fn catalog_item_prints_in_standard_order() {
    let item = CatalogItem {
        name: Some("Gate".into()),
        status: Some("ON".into()),
        ptz_type: Some(1),
        longitude: Some(117.25),
        ..CatalogItem::new("34020000001310000001")
    };
    let msg = Manscdp::CatalogResponse(Catalog {
        sn: 7,
        device_id: id("34020000001180000001"),
        sum_num: 1,
        items: vec![item],
    });
    assert_eq!(
        msg.to_xml(),
        "<Response>\r\n<CmdType>Catalog</CmdType>\r\n<SN>7</SN>\r\n\
         <DeviceID>34020000001180000001</DeviceID>\r\n<SumNum>1</SumNum>\r\n\
         <DeviceList Num=\"1\">\r\n<Item>\r\n<DeviceID>34020000001310000001</DeviceID>\r\n\
         <Name>Gate</Name>\r\n<Status>ON</Status>\r\n<Longitude>117.25</Longitude>\r\n\
         <Info>\r\n<PTZType>1</PTZType>\r\n</Info>\r\n</Item>\r\n</DeviceList>\r\n</Response>\r\n"
    );
}

#[test]
fn catalog_item_serializes_to_compact_json() {
    let mut item = CatalogItem::new("34020000001310000001");
    item.name = Some("Gate".into());
    item.extra.insert("ChannelNo".into(), "1".into());
    let json = serde_json::to_string(&item).unwrap();
    assert_eq!(
        json,
        r#"{"device_id":"34020000001310000001","name":"Gate","extra":{"ChannelNo":"1"}}"#
    );
    assert_eq!(serde_json::from_str::<CatalogItem>(&json).unwrap(), item);
}

#[test]
fn hikvision_device_info() {
    let (msg, _) = parse_body(include_bytes!("../../testdata/device_info_hikvision.xml")).unwrap();
    let Manscdp::DeviceInfoResponse(info) = &msg else {
        panic!("{msg:?}")
    };
    assert_eq!(info.device_name.as_deref(), Some("网络硬盘录像机"));
    assert_eq!(info.result.as_deref(), Some("OK"));
    assert_eq!(info.manufacturer.as_deref(), Some("Hikvision"));
    assert_eq!(info.model.as_deref(), Some("DS-7808N-K1"));
    assert_eq!(info.firmware.as_deref(), Some("V4.30.085 build 201218"));
    assert_eq!(info.channel, Some(8));
    let extra: Vec<_> = info
        .extra
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        extra,
        [("DeviceType", "NVR"), ("MaxAlarm", "4"), ("MaxCamera", "8")]
    );
    assert_round_trip(&msg);
}

#[test]
fn device_info_with_non_numeric_channel_keeps_it_raw() {
    let msg = parse(
        "<Response><CmdType>DeviceInfo</CmdType><SN>1</SN><DeviceID>34020000001320000001</DeviceID>\
         <Channel>one</Channel></Response>",
    )
    .unwrap();
    let Manscdp::DeviceInfoResponse(info) = &msg else {
        panic!()
    };
    assert_eq!(info.channel, None);
    assert_eq!(info.extra.get("Channel").map(String::as_str), Some("one"));
    assert_round_trip(&msg);
}

#[test]
fn dahua_device_status_with_alarm_inputs() {
    let (msg, _) = parse_body(include_bytes!("../../testdata/device_status_dahua.xml")).unwrap();
    let Manscdp::DeviceStatusResponse(st) = &msg else {
        panic!("{msg:?}")
    };
    let mut expected = DeviceStatus::new(4, id("34020000001110000003"));
    expected.result = Some("OK".into());
    expected.online = Some("ONLINE".into());
    expected.status = Some("OK".into());
    expected.encode = Some("ON".into());
    expected.record = Some("OFF".into());
    expected.device_time = Some("2026-11-26T10:15:30".into());
    expected.alarm_status = vec![
        AlarmStatusItem {
            device_id: "34020000001340000001".into(),
            duty_status: Some("OFFDUTY".into()),
        },
        AlarmStatusItem {
            device_id: "34020000001340000002".into(),
            duty_status: Some("ALARM".into()),
        },
    ];
    // The empty <Info></Info> is an unknown leaf, kept as empty text.
    expected.extra.insert("Info".into(), String::new());
    assert_eq!(st, &expected);
    assert_eq!(st.is_online(), Some(true));
    assert_round_trip(&msg);
}

#[test]
fn record_info_response_with_items() {
    let (msg, _) = parse_body(include_bytes!("../../testdata/record_info_response.xml")).unwrap();
    let Manscdp::RecordInfoResponse(r) = &msg else {
        panic!("{msg:?}")
    };
    assert_eq!((r.sum_num, r.items.len()), (3, 2));
    assert_eq!(r.name.as_deref(), Some("东门入口"));
    let first = &r.items[0];
    assert_eq!(first.file_path.as_deref(), Some("ch01_20261126080000"));
    assert_eq!(first.start_time.as_deref(), Some("2026-11-26T08:00:00"));
    assert_eq!(first.record_type.as_deref(), Some("time"));
    assert_eq!(first.file_size, Some(536_870_912));
    let second = &r.items[1];
    assert_eq!(second.recorder_id.as_deref(), Some("34020000001310000001"));
    assert_eq!(
        second.extra.get("StreamNumber").map(String::as_str),
        Some("0")
    );
    assert_round_trip(&msg);
}

#[test]
fn record_info_query_prints_byte_exact_and_round_trips() {
    let q = RecordInfoQuery::new(
        21,
        id("34020000001310000001"),
        "2026-11-26T00:00:00",
        "2026-11-26T23:59:59",
    );
    let msg = Manscdp::RecordInfoQuery(q);
    assert_eq!(
        msg.to_xml(),
        "<Query>\r\n<CmdType>RecordInfo</CmdType>\r\n<SN>21</SN>\r\n\
         <DeviceID>34020000001310000001</DeviceID>\r\n<StartTime>2026-11-26T00:00:00</StartTime>\r\n\
         <EndTime>2026-11-26T23:59:59</EndTime>\r\n<Secrecy>0</Secrecy>\r\n<Type>all</Type>\r\n\
         </Query>\r\n"
    );
    assert_round_trip(&msg);
}

#[test]
fn alarm_notify_with_info() {
    let (msg, _) = parse_body(include_bytes!("../../testdata/alarm_notify.xml")).unwrap();
    let Manscdp::AlarmNotify(a) = &msg else {
        panic!("{msg:?}")
    };
    assert_eq!((a.priority, a.method), (Some(1), Some(5)));
    assert_eq!(a.time.as_deref(), Some("2026-11-26T10:15:30"));
    assert_eq!(a.description.as_deref(), Some("移动侦测"));
    assert_eq!((a.longitude, a.latitude), (Some(117.2), Some(31.8)));
    assert_eq!(a.alarm_type.as_deref(), Some("2"));
    assert_eq!(a.event_type.as_deref(), Some("1"));
    assert!(a.extra.is_empty());
    assert_round_trip(&msg);
}

#[test]
fn result_responses_round_trip() {
    let ack = ResultResponse {
        sn: 270,
        device_id: id("34020000001310000001"),
        result: Some("OK".into()),
    };
    assert!(ack.is_ok());
    let alarm_ack = Manscdp::AlarmResponse(ack.clone());
    assert_eq!(
        alarm_ack.to_xml(),
        "<Response>\r\n<CmdType>Alarm</CmdType>\r\n<SN>270</SN>\r\n\
         <DeviceID>34020000001310000001</DeviceID>\r\n<Result>OK</Result>\r\n</Response>\r\n"
    );
    assert_round_trip(&alarm_ack);
    assert_round_trip(&Manscdp::DeviceControlResponse(ResultResponse {
        result: Some("ERROR".into()),
        ..ack
    }));
}

#[test]
fn device_control_with_ptz_cmd() {
    let (msg, _) = parse_body(include_bytes!("../../testdata/device_control_ptz.xml")).unwrap();
    let Manscdp::DeviceControl(c) = &msg else {
        panic!("{msg:?}")
    };
    let cmd = c.ptz_cmd.unwrap();
    assert_eq!(cmd.to_hex(), "A50F01021F0000D6");
    assert!(matches!(
        cmd.instruction(),
        crate::ptz::PtzInstruction::Ptz {
            pan: Some(crate::ptz::Pan::Left),
            pan_speed: 0x1F,
            ..
        }
    ));
    assert_eq!(c.control_priority, Some(5));
    assert_eq!(msg.root(), Root::Control);
    assert_round_trip(&msg);
}

#[test]
fn device_control_other_commands_round_trip() {
    let dev = id("34020000001320000001");
    let iframe = Manscdp::DeviceControl(DeviceControl::iframe(3, dev));
    assert_eq!(
        iframe.to_xml(),
        "<Control>\r\n<CmdType>DeviceControl</CmdType>\r\n<SN>3</SN>\r\n\
         <DeviceID>34020000001320000001</DeviceID>\r\n<IFameCmd>Send</IFameCmd>\r\n</Control>\r\n"
    );
    assert_round_trip(&iframe);
    let mut c = DeviceControl::new(4, dev);
    c.tele_boot = Some("Boot".into());
    c.record_cmd = Some("Record".into());
    c.guard_cmd = Some("SetGuard".into());
    c.alarm_cmd = Some("ResetAlarm".into());
    assert_round_trip(&Manscdp::DeviceControl(c));
    // The spelling some firmware uses is accepted too.
    let msg = parse(
        "<Control><CmdType>DeviceControl</CmdType><SN>1</SN><DeviceID>34020000001320000001</DeviceID>\
         <IFrameCmd>Send</IFrameCmd></Control>",
    )
    .unwrap();
    assert_eq!(msg, Manscdp::DeviceControl(DeviceControl::iframe(1, dev)));
}

#[test]
fn device_control_with_bad_ptz_cmd_is_refused() {
    let e = parse(
        "<Control><CmdType>DeviceControl</CmdType><SN>1</SN><DeviceID>34020000001320000001</DeviceID>\
         <PTZCmd>A50F01021F0000D7</PTZCmd></Control>",
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "invalid Control/PTZCmd: PTZCmd checksum is D7, expected D6"
    );
}

#[test]
fn device_control_serializes_ptz_as_hex() {
    let c = DeviceControl::ptz(
        1,
        id("34020000001320000001"),
        "A50F01021F0000D6".parse().unwrap(),
    );
    let json = serde_json::to_string(&c).unwrap();
    assert!(json.contains(r#""ptz_cmd":"A50F01021F0000D6""#), "{json}");
    assert_eq!(serde_json::from_str::<DeviceControl>(&json).unwrap(), c);
}

#[test]
fn preset_query_response() {
    let (msg, _) = parse_body(include_bytes!("../../testdata/preset_query_response.xml")).unwrap();
    let Manscdp::PresetQueryResponse(p) = &msg else {
        panic!("{msg:?}")
    };
    assert_eq!(
        p.presets,
        [
            Preset {
                id: "1".into(),
                name: Some("大门".into())
            },
            Preset {
                id: "2".into(),
                name: None
            },
        ]
    );
    assert_round_trip(&msg);
}

#[test]
fn mobile_position_notify_and_query() {
    let (msg, _) = parse_body(include_bytes!("../../testdata/mobile_position_notify.xml")).unwrap();
    let Manscdp::MobilePositionNotify(p) = &msg else {
        panic!("{msg:?}")
    };
    assert_eq!(p.time.as_deref(), Some("2026-11-26T10:15:30"));
    assert_eq!(
        (p.longitude, p.latitude),
        (Some(117.2345678), Some(31.8123456))
    );
    assert_eq!(
        (p.speed, p.direction, p.altitude),
        (Some(42.5), Some(270.0), Some(35.0))
    );
    assert_round_trip(&msg);

    let q = parse(
        "<Query><CmdType>MobilePosition</CmdType><SN>2</SN><DeviceID>34020000001320000009</DeviceID>\
         <Interval>5</Interval></Query>",
    )
    .unwrap();
    let Manscdp::MobilePositionQuery(mq) = &q else {
        panic!("{q:?}")
    };
    assert_eq!(mq.interval, Some(5));
    assert_round_trip(&q);
}

#[test]
fn media_status_end_of_file() {
    let (msg, _) = parse_body(include_bytes!("../../testdata/media_status_notify.xml")).unwrap();
    let Manscdp::MediaStatusNotify(m) = &msg else {
        panic!("{msg:?}")
    };
    assert!(m.is_end_of_file());
    assert_round_trip(&msg);
}

#[test]
fn every_modelled_cmd_type_maps_root_and_name() {
    let dev = id("34020000001320000001");
    let q = BasicQuery {
        sn: 1,
        device_id: dev,
    };
    let cases = [
        (Manscdp::CatalogQuery(q.clone()), Root::Query, "Catalog"),
        (
            Manscdp::DeviceInfoQuery(q.clone()),
            Root::Query,
            "DeviceInfo",
        ),
        (
            Manscdp::DeviceStatusQuery(q.clone()),
            Root::Query,
            "DeviceStatus",
        ),
        (Manscdp::PresetQuery(q), Root::Query, "PresetQuery"),
        (
            Manscdp::MediaStatusNotify(MediaStatus {
                sn: 1,
                device_id: dev,
                notify_type: None,
            }),
            Root::Notify,
            "MediaStatus",
        ),
        (
            Manscdp::AlarmNotify(Alarm::new(1, dev)),
            Root::Notify,
            "Alarm",
        ),
        (
            Manscdp::MobilePositionNotify(MobilePosition::new(1, dev)),
            Root::Notify,
            "MobilePosition",
        ),
        (
            Manscdp::DeviceStatusResponse(DeviceStatus::new(1, dev)),
            Root::Response,
            "DeviceStatus",
        ),
        (
            Manscdp::DeviceInfoResponse(DeviceInfo::new(1, dev)),
            Root::Response,
            "DeviceInfo",
        ),
        (
            Manscdp::PresetQueryResponse(PresetList {
                sn: 1,
                device_id: dev,
                presets: vec![],
            }),
            Root::Response,
            "PresetQuery",
        ),
        (
            Manscdp::RecordInfoResponse(RecordInfo {
                sn: 1,
                device_id: dev,
                name: None,
                sum_num: 0,
                items: vec![],
            }),
            Root::Response,
            "RecordInfo",
        ),
    ];
    for (msg, root, name) in cases {
        assert_eq!(
            (msg.root(), msg.cmd_type(), msg.sn(), msg.device_id()),
            (root, name, 1, dev)
        );
        assert_round_trip(&msg);
    }
}

#[test]
fn catalog_with_lowercase_tags_cdata_and_bom() {
    let msg = parse(
        "\u{feff}<?xml version=\"1.0\"?>\n<response><cmdtype>catalog</cmdtype><sn>5</sn>\
         <deviceid>34020000001180000001</deviceid><sumnum>1</sumnum><devicelist num=\"1\">\
         <item><deviceid>34020000001310000001</deviceid><name><![CDATA[Gate <east>]]></name>\
         <status>on</status><info><ptztype>1</ptztype></info></item></devicelist></response>",
    )
    .unwrap();
    let c = catalog_of(&msg);
    assert!(matches!(msg, Manscdp::CatalogResponse(_)));
    assert_eq!(c.items[0].name.as_deref(), Some("Gate <east>"));
    assert_eq!(c.items[0].is_online(), Some(true));
    assert_eq!(c.items[0].ptz_type, Some(1));
    assert_eq!(msg.cmd_type(), "Catalog");
}

#[test]
fn reason_phrase_from_a_real_error() {
    let e = parse_body(b"<Notify><CmdType>Keepalive</CmdType><SN>1</SN></Notify>").unwrap_err();
    assert_eq!(e.reason_phrase(), "missing Notify/DeviceID");
}
