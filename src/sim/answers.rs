//! What a simulated device says about itself: its catalog (paged, with Chinese names),
//! DeviceInfo and DeviceStatus, and its keepalive; each as a MANSCDP body.

use vigil_gb::manscdp::{Catalog, CatalogItem, DeviceInfo, DeviceStatus, Keepalive};
use vigil_gb::{Charset, DeviceId, Manscdp};

pub const MANUFACTURER: &str = "vigil-sim";
pub const FIRMWARE: &str = "V1.0.0 build 260101";

/// Places put after "通道N" in channel names.
const PLACES: [&str; 8] = [
    "东门",
    "西门",
    "南门",
    "北门",
    "大厅",
    "停车场",
    "仓库",
    "走廊",
];

/// The name of channel `j` (0-based). Only GB18030 bodies get a character outside GB2312
/// and GBK ("㐀", CJK Extension A), the way a device configured for GB18030 may send one.
pub fn channel_name(j: usize, charset: Charset) -> String {
    let mut name = format!("通道{} {}", j + 1, PLACES[j % PLACES.len()]);
    if charset == Charset::Gb18030 && j.is_multiple_of(2) {
        name.push('㐀');
    }
    name
}

/// The model name: an IPC has one channel, anything with more is an NVR.
pub fn model(channels: usize) -> &'static str {
    if channels > 1 { "SIM-NVR" } else { "SIM-IPC" }
}

/// One catalog item for `channel` (index `j`) of `device`.
pub fn catalog_item(
    device: &DeviceId,
    channel: &DeviceId,
    j: usize,
    charset: Charset,
) -> CatalogItem {
    let mut it = CatalogItem::new(channel.as_str());
    it.name = Some(channel_name(j, charset));
    it.manufacturer = Some(MANUFACTURER.into());
    it.model = Some("SIM-CAM".into());
    it.owner = Some("Owner".into());
    it.civil_code = Some(device.as_str()[..6].to_owned());
    it.address = Some("模拟地址".into());
    it.parental = Some(0);
    it.parent_id = Some(device.as_str().to_owned());
    it.safety_way = Some(0);
    it.register_way = Some(1);
    it.secrecy = Some(0);
    it.status = Some("ON".into());
    // Spread around Hefei so a map view shows distinct points.
    it.longitude = Some(117.2 + (channel.serial() % 100) as f64 * 0.001);
    it.latitude = Some(31.8 + (channel.serial() / 100 % 100) as f64 * 0.001);
    // 1 dome, 3 fixed bullet (GB/T 28181 A.2.1 PTZType).
    it.ptz_type = Some(if j.is_multiple_of(2) { 1 } else { 3 });
    it
}

/// The catalog answering query `sn`, split into bodies of at most `page` items each. A
/// device without channels still answers, with one empty packet and `SumNum` 0.
pub fn catalog_bodies(
    sn: u32,
    device: &DeviceId,
    channels: &[DeviceId],
    page: usize,
    charset: Charset,
) -> Vec<Vec<u8>> {
    let items: Vec<CatalogItem> = channels
        .iter()
        .enumerate()
        .map(|(j, ch)| catalog_item(device, ch, j, charset))
        .collect();
    catalog_bodies_for_items(sn, device, &items, page, charset)
}

/// `items` (as [`catalog_item`] makes them, maybe changed) answering query `sn`, split into
/// bodies of at most `page` items each; one empty packet with `SumNum` 0 when there are none.
pub fn catalog_bodies_for_items(
    sn: u32,
    device: &DeviceId,
    items: &[CatalogItem],
    page: usize,
    charset: Charset,
) -> Vec<Vec<u8>> {
    if items.is_empty() {
        let msg = Manscdp::CatalogResponse(Catalog {
            sn,
            device_id: *device,
            sum_num: 0,
            items: Vec::new(),
        });
        return vec![msg.to_body(charset)];
    }
    items
        .chunks(page.max(1))
        .map(|chunk| {
            Manscdp::CatalogResponse(Catalog {
                sn,
                device_id: *device,
                sum_num: items.len() as u32,
                items: chunk.to_vec(),
            })
            .to_body(charset)
        })
        .collect()
}

pub fn device_info_body(sn: u32, device: &DeviceId, channels: usize, charset: Charset) -> Vec<u8> {
    let mut info = DeviceInfo::new(sn, *device);
    info.device_name = Some(format!("模拟设备 {}", device.serial()));
    info.result = Some("OK".into());
    info.manufacturer = Some(MANUFACTURER.into());
    info.model = Some(model(channels).into());
    info.firmware = Some(FIRMWARE.into());
    info.channel = Some(channels as u32);
    Manscdp::DeviceInfoResponse(info).to_body(charset)
}

/// `device_time` is the device's local wall-clock time in the GB form (`2026-11-26T10:15:30`).
pub fn device_status_body(
    sn: u32,
    device: &DeviceId,
    device_time: &str,
    charset: Charset,
) -> Vec<u8> {
    let mut st = DeviceStatus::new(sn, *device);
    st.result = Some("OK".into());
    st.online = Some("ONLINE".into());
    st.status = Some("OK".into());
    st.encode = Some("ON".into());
    st.record = Some("OFF".into());
    st.device_time = Some(device_time.to_owned());
    Manscdp::DeviceStatusResponse(st).to_body(charset)
}

pub fn keepalive_body(sn: u32, device: &DeviceId, charset: Charset) -> Vec<u8> {
    Manscdp::Keepalive(Keepalive {
        sn,
        device_id: *device,
        status: Some("OK".into()),
        faulty: Vec::new(),
    })
    .to_body(charset)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids() -> (DeviceId, Vec<DeviceId>) {
        let plan = super::super::plan::IdPlan::new("3402000000118", 1, 1, 5).unwrap();
        (plan.device(0), (0..5).map(|j| plan.channel(0, j)).collect())
    }

    #[test]
    fn catalog_is_paged_with_sum_num_and_round_trips_in_every_charset() {
        let (dev, chans) = ids();
        for cs in [
            Charset::Gb2312,
            Charset::Gbk,
            Charset::Gb18030,
            Charset::Utf8,
        ] {
            let bodies = catalog_bodies(17, &dev, &chans, 2, cs);
            assert_eq!(bodies.len(), 3, "{cs}");
            let mut names = Vec::new();
            for b in &bodies {
                let (msg, got_cs) = vigil_gb::parse_body(b).unwrap();
                assert_eq!(got_cs, cs);
                let Manscdp::CatalogResponse(c) = msg else {
                    panic!("not a catalog response: {msg:?}")
                };
                assert_eq!((c.sn, c.sum_num, c.device_id), (17, 5, dev));
                names.extend(c.items.into_iter().map(|i| i.name.unwrap()));
            }
            assert!(names[0].starts_with("通道1 东门"), "{names:?}");
            assert_eq!(names.len(), 5);
            assert_eq!(
                names.iter().any(|n| n.contains('㐀')),
                cs == Charset::Gb18030
            );
        }
    }

    #[test]
    fn gb2312_catalog_bytes_are_gb2312_not_utf8() {
        let (dev, chans) = ids();
        let body = &catalog_bodies(1, &dev, &chans[..1], 1, Charset::Gb2312)[0];
        // "通道" in GB2312 is CD A8 B5 C0.
        assert!(body.windows(4).any(|w| w == [0xCD, 0xA8, 0xB5, 0xC0]));
        assert!(std::str::from_utf8(body).is_err());
        assert!(body.starts_with(b"<?xml version=\"1.0\" encoding=\"GB2312\"?>"));
    }

    #[test]
    fn device_info_names_the_simulator_and_its_channel_count() {
        let (dev, _) = ids();
        let (msg, _) =
            vigil_gb::parse_body(&device_info_body(9, &dev, 5, Charset::Gb2312)).unwrap();
        let Manscdp::DeviceInfoResponse(i) = msg else {
            panic!("{msg:?}")
        };
        assert_eq!(i.manufacturer.as_deref(), Some("vigil-sim"));
        assert_eq!(i.model.as_deref(), Some("SIM-NVR"));
        assert_eq!(i.channel, Some(5));
        assert_eq!(i.sn, 9);
    }
}
