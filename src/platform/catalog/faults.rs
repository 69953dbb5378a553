//! Channel faults a device lists in its keepalives (`<Info><DeviceID>`): a channel that
//! joins the list is marked OFF, one that leaves it ON again. The change goes the way of a
//! catalog notification (the same store writes and `catalog_changed` event, in order with
//! the device's NOTIFYs); only changes are written, so a device that repeats its list every
//! minute costs a map lookup.
//!
//! Keepalives are answered by the registry; they reach the catalog task when the endpoint
//! hands them on like other MANSCDP messages.

use std::collections::HashMap;

use vigil_gb::DeviceId;
use vigil_gb::manscdp::{Catalog, CatalogEvent, CatalogItem};

/// The faults each device listed last (devices without any are not kept).
#[derive(Debug, Default)]
pub(super) struct Faults {
    by_device: HashMap<DeviceId, Vec<DeviceId>>,
}

impl Faults {
    /// `device`'s keepalive listed `faulty`: the change since its last one, as a catalog
    /// notification (OFF for new faults, ON for channels no longer listed), if any.
    pub fn on_keepalive(&mut self, device: DeviceId, faulty: &[DeviceId]) -> Option<Catalog> {
        let before = self.by_device.get(&device).map_or(&[][..], Vec::as_slice);
        let off = faulty.iter().filter(|c| !before.contains(c));
        let on = before.iter().filter(|c| !faulty.contains(c));
        let items: Vec<CatalogItem> = off
            .map(|c| (c, CatalogEvent::Off))
            .chain(on.map(|c| (c, CatalogEvent::On)))
            .map(|(c, event)| {
                let mut item = CatalogItem::new(c.as_str());
                item.event = Some(event);
                item
            })
            .collect();
        if items.is_empty() {
            return None;
        }
        if faulty.is_empty() {
            self.by_device.remove(&device);
        } else {
            self.by_device.insert(device, faulty.to_vec());
        }
        Some(Catalog {
            sn: 0,
            device_id: device,
            sum_num: items.len() as u32,
            items,
        })
    }

    /// Forgets what `device` listed (it went offline, or its change could not be queued):
    /// its next keepalive is taken as new.
    pub fn forget(&mut self, device: &DeviceId) {
        self.by_device.remove(device);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> DeviceId {
        s.parse().unwrap()
    }

    fn events(c: &Catalog) -> Vec<(&str, CatalogEvent)> {
        c.items
            .iter()
            .map(|i| (i.device_id.as_str(), i.event.unwrap()))
            .collect()
    }

    #[test]
    fn only_changes_in_the_fault_list_become_off_and_on() {
        let nvr = id("34020000001180000001");
        let (a, b) = (id("34020000001310000001"), id("34020000001310000002"));
        let mut f = Faults::default();
        assert!(f.on_keepalive(nvr, &[]).is_none());
        let c = f.on_keepalive(nvr, &[a]).unwrap();
        assert_eq!((c.device_id, c.sum_num), (nvr, 1));
        assert_eq!(events(&c), [(a.as_str(), CatalogEvent::Off)]);
        // The same list again: nothing to write.
        assert!(f.on_keepalive(nvr, &[a]).is_none());
        let c = f.on_keepalive(nvr, &[b]).unwrap();
        assert_eq!(
            events(&c),
            [
                (b.as_str(), CatalogEvent::Off),
                (a.as_str(), CatalogEvent::On)
            ]
        );
        let c = f.on_keepalive(nvr, &[]).unwrap();
        assert_eq!(events(&c), [(b.as_str(), CatalogEvent::On)]);
        assert!(f.by_device.is_empty());
        // Forgotten (offline): a fault listed again is written again.
        f.on_keepalive(nvr, &[a]).unwrap();
        f.forget(&nvr);
        assert_eq!(
            events(&f.on_keepalive(nvr, &[a]).unwrap()),
            [(a.as_str(), CatalogEvent::Off)]
        );
    }
}
