//! Collecting one catalog answer, without I/O: a device answers a Catalog query with any
//! number of MESSAGEs (`SumNum` = items in the whole catalog, `DeviceList Num` = items in
//! this packet), in any order, some of them twice. [`Collector`] keeps the items in order
//! of arrival, counts each channel once, and says when the catalog is complete or when it
//! has waited long enough. Time is an argument; the owner sleeps until [`Collector::deadline`].

use std::collections::HashMap;
use std::time::{Duration, Instant};

use vigil_gb::manscdp::{Catalog, CatalogItem};

/// Most items kept from one catalog: a device claiming more is cut off (and the catalog
/// ends up partial) rather than growing memory without bound.
pub const MAX_ITEMS: usize = 100_000;

/// What one packet did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pushed {
    /// New items arrived; more are expected.
    Progress,
    /// Nothing new (a duplicate packet, or only channels already received).
    Nothing,
    /// Every item `SumNum` announced has arrived.
    Complete,
}

/// One catalog query's answers for one device (matched by the query's SN).
#[derive(Debug)]
pub struct Collector {
    sn: u32,
    timeout: Duration,
    deadline: Instant,
    /// The largest `SumNum` seen (devices are not always consistent between packets).
    total: Option<u32>,
    items: Vec<CatalogItem>,
    /// Channel ID -> position in `items`.
    index: HashMap<String, usize>,
    packets: u32,
    duplicates: u32,
    overflow: bool,
}

/// What a finished collection hands over to the store.
#[derive(Debug, Clone, PartialEq)]
pub struct Collected {
    /// In order of first arrival; a channel sent twice appears once, with its last content.
    pub items: Vec<CatalogItem>,
    pub received: u64,
    /// `SumNum`, or 0 when no packet came.
    pub total: u64,
    /// Every announced item arrived.
    pub complete: bool,
}

impl Collector {
    /// A collection for the query numbered `sn`, sent at `now`. It gives up `timeout` after
    /// the query, or after the last packet that brought a new item.
    pub fn new(sn: u32, now: Instant, timeout: Duration) -> Collector {
        Collector {
            sn,
            timeout,
            deadline: now + timeout,
            total: None,
            items: Vec::new(),
            index: HashMap::new(),
            packets: 0,
            duplicates: 0,
            overflow: false,
        }
    }

    /// The SN of the query being answered.
    pub fn sn(&self) -> u32 {
        self.sn
    }

    /// Takes one packet. Only new items move the deadline, so a device repeating the same
    /// packet cannot keep a collection open forever.
    pub fn push(&mut self, now: Instant, packet: &Catalog) -> Pushed {
        self.packets += 1;
        self.total = Some(self.total.map_or(packet.sum_num, |t| t.max(packet.sum_num)));
        let mut new = 0usize;
        for item in &packet.items {
            match self.index.get(&item.device_id) {
                Some(&at) => {
                    self.items[at] = item.clone();
                    self.duplicates += 1;
                }
                None if self.items.len() >= MAX_ITEMS => self.overflow = true,
                None => {
                    self.index.insert(item.device_id.clone(), self.items.len());
                    self.items.push(item.clone());
                    new += 1;
                }
            }
        }
        if new > 0 {
            self.deadline = now + self.timeout;
        }
        if self.is_complete() {
            Pushed::Complete
        } else if new > 0 {
            Pushed::Progress
        } else {
            Pushed::Nothing
        }
    }

    /// Every item `SumNum` announced has arrived (a `SumNum` of 0 is complete at once).
    pub fn is_complete(&self) -> bool {
        self.total
            .is_some_and(|t| !self.overflow && self.items.len() as u64 >= u64::from(t))
    }

    /// When to give up waiting and store what arrived.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    pub fn is_expired(&self, now: Instant) -> bool {
        now >= self.deadline
    }

    /// Distinct items received so far.
    pub fn received(&self) -> u64 {
        self.items.len() as u64
    }

    /// `SumNum` (0 until the first packet).
    pub fn total(&self) -> u64 {
        self.total.map_or(0, u64::from)
    }

    /// Packets taken, and items that were repeats.
    pub fn packets(&self) -> (u32, u32) {
        (self.packets, self.duplicates)
    }

    pub fn finish(self) -> Collected {
        let complete = self.is_complete();
        Collected {
            received: self.items.len() as u64,
            total: self.total.map_or(0, u64::from),
            items: self.items,
            complete,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_gb::DeviceId;

    const NVR: &str = "34020000001180000001";

    fn channel(n: usize) -> CatalogItem {
        let mut i = CatalogItem::new(format!("340200000013100{n:05}"));
        i.name = Some(format!("通道{n}"));
        i
    }

    /// Packet `k` (0-based) of a `total`-item catalog cut into packets of `page`.
    fn packet(sn: u32, total: usize, page: usize, k: usize) -> Catalog {
        let from = k * page + 1;
        let to = (from + page - 1).min(total);
        Catalog {
            sn,
            device_id: NVR.parse::<DeviceId>().unwrap(),
            sum_num: total as u32,
            items: (from..=to).map(channel).collect(),
        }
    }

    fn ids(c: &Collected) -> Vec<String> {
        c.items.iter().map(|i| i.device_id.clone()).collect()
    }

    #[test]
    fn packets_in_order_complete_the_catalog() {
        let t0 = Instant::now();
        let mut c = Collector::new(7, t0, Duration::from_secs(30));
        for k in 0..15 {
            assert_eq!(c.push(t0, &packet(7, 256, 16, k)), Pushed::Progress);
        }
        assert_eq!((c.received(), c.total()), (240, 256));
        assert_eq!(c.push(t0, &packet(7, 256, 16, 15)), Pushed::Complete);
        let done = c.finish();
        assert!(done.complete);
        assert_eq!((done.received, done.total), (256, 256));
        assert_eq!(done.items[0].name.as_deref(), Some("通道1"));
        assert_eq!(done.items[255].device_id, "34020000001310000256");
    }

    #[test]
    fn out_of_order_and_duplicate_packets_count_each_channel_once_in_arrival_order() {
        let t0 = Instant::now();
        let mut c = Collector::new(7, t0, Duration::from_secs(30));
        assert_eq!(c.push(t0, &packet(7, 5, 2, 2)), Pushed::Progress);
        assert_eq!(c.push(t0, &packet(7, 5, 2, 0)), Pushed::Progress);
        // A retransmitted packet, with a changed name: counted once, the last content kept.
        let mut again = packet(7, 5, 2, 0);
        again.items[0].name = Some("改名".into());
        assert_eq!(c.push(t0, &again), Pushed::Nothing);
        assert_eq!(c.received(), 3);
        assert_eq!(c.push(t0, &packet(7, 5, 2, 1)), Pushed::Complete);
        assert_eq!(c.packets(), (4, 2));
        let done = c.finish();
        assert_eq!(
            ids(&done),
            [
                "34020000001310000005",
                "34020000001310000001",
                "34020000001310000002",
                "34020000001310000003",
                "34020000001310000004"
            ]
        );
        assert_eq!(done.items[1].name.as_deref(), Some("改名"));
    }

    #[test]
    fn a_lost_packet_leaves_a_partial_result_at_the_deadline() {
        let t0 = Instant::now();
        let timeout = Duration::from_secs(2);
        let mut c = Collector::new(7, t0, timeout);
        assert_eq!(c.deadline(), t0 + timeout);
        c.push(t0 + Duration::from_millis(100), &packet(7, 48, 16, 0));
        c.push(t0 + Duration::from_millis(300), &packet(7, 48, 16, 2));
        // Packet 1 never comes. The deadline counts from the last new item.
        assert_eq!(c.deadline(), t0 + Duration::from_millis(300) + timeout);
        assert!(!c.is_expired(t0 + Duration::from_millis(2200)));
        assert!(c.is_expired(t0 + Duration::from_millis(2300)));
        let done = c.finish();
        assert!(!done.complete);
        assert_eq!((done.received, done.total), (32, 48));
    }

    #[test]
    fn repeats_do_not_extend_the_deadline() {
        let t0 = Instant::now();
        let timeout = Duration::from_secs(2);
        let mut c = Collector::new(7, t0, timeout);
        c.push(t0, &packet(7, 48, 16, 0));
        c.push(t0 + Duration::from_secs(1), &packet(7, 48, 16, 0));
        assert_eq!(c.deadline(), t0 + timeout);
    }

    #[test]
    fn an_empty_catalog_is_complete_at_once_and_no_answer_is_nothing() {
        let t0 = Instant::now();
        let mut c = Collector::new(1, t0, Duration::from_secs(1));
        assert!(!c.is_complete(), "no packet yet");
        let empty = Catalog {
            sn: 1,
            device_id: NVR.parse().unwrap(),
            sum_num: 0,
            items: Vec::new(),
        };
        assert_eq!(c.push(t0, &empty), Pushed::Complete);
        let done = c.finish();
        assert!(done.complete);
        assert_eq!((done.received, done.total), (0, 0));

        let silent = Collector::new(2, t0, Duration::from_secs(1)).finish();
        assert!(!silent.complete);
        assert_eq!((silent.received, silent.total), (0, 0));
    }

    #[test]
    fn inconsistent_sum_num_waits_for_the_largest() {
        let t0 = Instant::now();
        let mut c = Collector::new(1, t0, Duration::from_secs(1));
        let mut p = packet(1, 4, 2, 0);
        p.sum_num = 4;
        c.push(t0, &p);
        let mut p = packet(1, 4, 2, 1);
        p.sum_num = 2;
        assert_eq!(c.push(t0, &p), Pushed::Complete);
        assert_eq!(c.total(), 4);
    }
}
