//! RTCP for a receive-only RTP session (RFC 3550), without I/O: telling RTCP from RTP on a
//! shared port (RFC 5761), reading compound packets (counting sender reports and keeping
//! what a receiver report echoes), reception statistics (extended highest sequence, loss,
//! interarrival jitter) and writing a receiver report with an SDES CNAME.
//!
//! GB/T 28181 devices send RTCP sender reports to the RTP port + 1 (a closed port answers
//! each with ICMP port unreachable, which some firmware logs or acts on) and some expect
//! receiver reports back, as RFC 3550 asks of every receiver; we answer to the address the
//! reports come from.

use std::time::{Duration, Instant};

/// Receiver reports go out about this often (RFC 3550's minimum interval), randomized by
/// ±50 % so sessions started together do not report together.
pub const REPORT_INTERVAL: Duration = Duration::from_secs(5);

/// Largest RTCP datagram read.
pub const MAX_RTCP: usize = 1500;

const PT_SR: u8 = 200;
const PT_RR: u8 = 201;
const PT_SDES: u8 = 202;
const PT_BYE: u8 = 203;
const CNAME: &[u8] = b"vigil";

/// Whether a datagram on an RTP port is RTCP (RFC 5761 section 4: the second byte, which
/// for RTP holds the marker bit and the payload type, is 192..=223 only for RTCP packet
/// types; payload types 64..=95 are never used for RTP for that reason).
pub fn is_rtcp(datagram: &[u8]) -> bool {
    datagram.len() >= 8 && datagram[0] >> 6 == 2 && (192..=223).contains(&datagram[1])
}

/// What one compound RTCP packet held.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Compound {
    /// RTCP packets in it.
    pub packets: u32,
    /// The last sender report: its sender SSRC and the middle 32 bits of its NTP
    /// timestamp (the `LSR` a receiver report echoes).
    pub sender_report: Option<(u32, u32)>,
    /// A BYE: the sender leaves.
    pub bye: bool,
}

/// Reads a compound packet; `None` when it is not RTCP (wrong version, lengths that do not
/// add up to the datagram).
pub fn parse(datagram: &[u8]) -> Option<Compound> {
    let mut c = Compound::default();
    let mut rest = datagram;
    while !rest.is_empty() {
        if rest.len() < 4 || rest[0] >> 6 != 2 {
            return None;
        }
        let len = (usize::from(u16::from_be_bytes([rest[2], rest[3]])) + 1) * 4;
        if len > rest.len() {
            return None;
        }
        let (packet, tail) = rest.split_at(len);
        match packet[1] {
            PT_SR if packet.len() >= 28 => {
                let ssrc = u32::from_be_bytes([packet[4], packet[5], packet[6], packet[7]]);
                // NTP seconds' low 16 bits and fraction's high 16 bits.
                let lsr = u32::from_be_bytes([packet[10], packet[11], packet[12], packet[13]]);
                c.sender_report = Some((ssrc, lsr));
            }
            PT_BYE => c.bye = true,
            _ => {}
        }
        c.packets += 1;
        rest = tail;
    }
    (c.packets > 0).then_some(c)
}

/// Reception statistics of one source, per RFC 3550 appendix A.1, A.3 and A.8.
#[derive(Debug, Clone, Default)]
pub struct Reception {
    ssrc: u32,
    /// First sequence number (extended).
    base: u32,
    /// Highest sequence number seen, extended with the wrap count.
    max: u32,
    received: u64,
    /// Interarrival jitter in timestamp units, scaled by 16 (A.8).
    jitter: u32,
    /// Previous packet's transit time (arrival minus RTP timestamp, 90 kHz units).
    transit: Option<u32>,
    started: Option<Instant>,
}

/// What a receiver report needs of [`Reception`]; a copy taken at report time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReceptionSnapshot {
    pub ssrc: u32,
    pub extended_max: u32,
    pub expected: u64,
    pub received: u64,
    /// Jitter in 90 kHz units.
    pub jitter: u32,
}

impl Reception {
    /// A packet of `ssrc` arrived at `now`. A new SSRC starts the statistics over.
    pub fn on_packet(&mut self, now: Instant, ssrc: u32, sequence: u16, timestamp: u32) {
        let started = *self.started.get_or_insert(now);
        if self.received == 0 || ssrc != self.ssrc {
            *self = Reception {
                ssrc,
                base: u32::from(sequence),
                max: u32::from(sequence),
                started: Some(started),
                ..Reception::default()
            };
        } else {
            let max16 = self.max as u16;
            let delta = sequence.wrapping_sub(max16);
            if delta != 0 && delta < 0x8000 {
                // Ahead of the highest: one more wrap when the 16 bits went round.
                if sequence < max16 {
                    self.max = self.max.wrapping_add(1 << 16);
                }
                self.max = (self.max & 0xFFFF_0000) | u32::from(sequence);
            }
        }
        self.received += 1;
        let arrival = (now.saturating_duration_since(started).as_micros() * 9 / 100) as u32;
        let transit = arrival.wrapping_sub(timestamp);
        if let Some(prev) = self.transit {
            let d = (transit.wrapping_sub(prev) as i32).unsigned_abs();
            // J += (|D| - J/16) in the scaled form of A.8.
            self.jitter = self
                .jitter
                .wrapping_add(d)
                .wrapping_sub((self.jitter + 8) >> 4);
        }
        self.transit = Some(transit);
    }

    pub fn snapshot(&self) -> Option<ReceptionSnapshot> {
        (self.received > 0).then(|| ReceptionSnapshot {
            ssrc: self.ssrc,
            extended_max: self.max,
            expected: u64::from(self.max.wrapping_sub(self.base)) + 1,
            received: self.received,
            jitter: self.jitter >> 4,
        })
    }

    pub fn forget(&mut self) {
        *self = Reception::default();
    }
}

/// Interval state for the fraction-lost field (A.3): what the last report counted.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReportState {
    ssrc: u32,
    expected_prior: u64,
    received_prior: u64,
}

/// The last sender report heard: its `LSR` and when it came.
#[derive(Debug, Clone, Copy)]
pub struct LastSr {
    pub lsr: u32,
    pub at: Instant,
}

/// Writes a compound RTCP packet (receiver report with one report block, then SDES CNAME)
/// from us (`own_ssrc`) about `source` into `out`.
pub fn write_receiver_report(
    out: &mut Vec<u8>,
    own_ssrc: u32,
    source: &ReceptionSnapshot,
    state: &mut ReportState,
    last_sr: Option<LastSr>,
    now: Instant,
) {
    if state.ssrc != source.ssrc {
        *state = ReportState {
            ssrc: source.ssrc,
            ..ReportState::default()
        };
    }
    let expected_interval = source.expected.saturating_sub(state.expected_prior);
    let received_interval = source.received.saturating_sub(state.received_prior);
    state.expected_prior = source.expected;
    state.received_prior = source.received;
    let lost_interval = expected_interval.saturating_sub(received_interval);
    let fraction = ((lost_interval << 8).checked_div(expected_interval))
        .unwrap_or(0)
        .min(255) as u32;
    // Cumulative lost is a signed 24-bit field; duplicates can make it negative.
    let lost = (source.expected as i64 - source.received as i64).clamp(-0x80_0000, 0x7F_FFFF);
    let (lsr, dlsr) = match last_sr {
        Some(sr) => {
            let d = now.saturating_duration_since(sr.at);
            let units = (d.as_micros() * 65_536 / 1_000_000).min(u128::from(u32::MAX)) as u32;
            (sr.lsr, units)
        }
        None => (0, 0),
    };
    // Receiver report: header, our SSRC, one report block (RFC 3550 6.4.2).
    out.extend_from_slice(&[0x81, PT_RR, 0, 7]);
    out.extend_from_slice(&own_ssrc.to_be_bytes());
    out.extend_from_slice(&source.ssrc.to_be_bytes());
    out.extend_from_slice(&((fraction << 24) | (lost as u32 & 0xFF_FFFF)).to_be_bytes());
    out.extend_from_slice(&source.extended_max.to_be_bytes());
    out.extend_from_slice(&source.jitter.to_be_bytes());
    out.extend_from_slice(&lsr.to_be_bytes());
    out.extend_from_slice(&dlsr.to_be_bytes());
    // SDES with one chunk: our SSRC, CNAME, END, padded to a 32-bit boundary.
    let chunk = 4 + 2 + CNAME.len() + 1;
    let padded = chunk.div_ceil(4) * 4;
    out.extend_from_slice(&[0x81, PT_SDES]);
    out.extend_from_slice(&((padded / 4) as u16).to_be_bytes());
    out.extend_from_slice(&own_ssrc.to_be_bytes());
    out.extend_from_slice(&[1, CNAME.len() as u8]);
    out.extend_from_slice(CNAME);
    out.resize(out.len() + padded - chunk + 1, 0);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sender_report(ssrc: u32, ntp: u64) -> Vec<u8> {
        let mut p = vec![0x80, PT_SR, 0, 6];
        p.extend_from_slice(&ssrc.to_be_bytes());
        p.extend_from_slice(&ntp.to_be_bytes());
        p.extend_from_slice(&90_000u32.to_be_bytes()); // RTP timestamp
        p.extend_from_slice(&100u32.to_be_bytes()); // packets
        p.extend_from_slice(&140_000u32.to_be_bytes()); // octets
        p
    }

    #[test]
    fn a_compound_sender_report_is_read() {
        let mut d = sender_report(0x0102_0304, 0xAABB_CCDD_EEFF_0011);
        // SDES CNAME "cam" of the sender.
        d.extend_from_slice(&[
            0x81, PT_SDES, 0, 3, 1, 2, 3, 4, 1, 3, b'c', b'a', b'm', 0, 0, 0,
        ]);
        assert!(is_rtcp(&d));
        let c = parse(&d).unwrap();
        assert_eq!(c.packets, 2);
        assert_eq!(c.sender_report, Some((0x0102_0304, 0xCCDD_EEFF)));
        assert!(!c.bye);
        let bye = [0x81, PT_BYE, 0, 1, 1, 2, 3, 4];
        assert!(parse(&bye).unwrap().bye);
    }

    #[test]
    fn rtp_and_garbage_are_not_rtcp() {
        // RTP PT 96 with and without the marker bit.
        assert!(!is_rtcp(&[0x80, 96, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1]));
        assert!(!is_rtcp(&[0x80, 0x80 | 96, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1]));
        assert!(!is_rtcp(&[0x80, 200, 0]));
        // Lengths that overrun, or a wrong version.
        assert_eq!(parse(&[0x80, PT_SR, 0, 9, 0, 0, 0, 0]), None);
        assert_eq!(parse(&[0x40, PT_RR, 0, 1, 0, 0, 0, 0]), None);
        assert_eq!(parse(&[]), None);
    }

    #[test]
    fn reception_counts_wraps_loss_and_jitter() {
        let t0 = Instant::now();
        let mut r = Reception::default();
        // 65534, 65535, then 0..=9 with 3 missing, one frame (3600 ticks) every 40 ms.
        let mut seqs: Vec<u16> = vec![65_534, 65_535];
        seqs.extend((0..10).filter(|s| *s != 3));
        for (i, s) in seqs.iter().enumerate() {
            let at = t0 + Duration::from_millis(40 * i as u64);
            r.on_packet(at, 7, *s, 3600 * i as u32);
        }
        let s = r.snapshot().unwrap();
        assert_eq!(s.extended_max, (1 << 16) | 9);
        assert_eq!(s.expected, 12);
        assert_eq!(s.received, 11);
        assert_eq!(s.jitter, 0, "perfectly timed");
        // A late packet (20 ms) moves the jitter by |D|/16 = 1800/16.
        r.on_packet(t0 + Duration::from_millis(40 * 11 + 20), 7, 10, 3600 * 11);
        assert_eq!(r.snapshot().unwrap().jitter, 112);
        // A reordered old packet does not move the highest sequence back.
        r.on_packet(t0 + Duration::from_millis(500), 7, 3, 3600 * 3);
        assert_eq!(r.snapshot().unwrap().extended_max, (1 << 16) | 10);
        // Another SSRC starts over.
        r.on_packet(t0 + Duration::from_secs(1), 8, 500, 0);
        let s = r.snapshot().unwrap();
        assert_eq!((s.ssrc, s.expected, s.received), (8, 1, 1));
    }

    #[test]
    fn receiver_report_bytes() {
        let t0 = Instant::now();
        let source = ReceptionSnapshot {
            ssrc: 0x0A0B_0C0D,
            extended_max: 0x0001_0010,
            expected: 200,
            received: 150,
            jitter: 77,
        };
        let mut state = ReportState::default();
        let sr = LastSr {
            lsr: 0x1122_3344,
            at: t0,
        };
        let mut out = Vec::new();
        write_receiver_report(
            &mut out,
            0xDEAD_BEEF,
            &source,
            &mut state,
            Some(sr),
            t0 + Duration::from_millis(500),
        );
        assert_eq!(out.len(), 32 + 16);
        assert_eq!(&out[..4], &[0x81, PT_RR, 0, 7]);
        assert_eq!(&out[4..8], &0xDEAD_BEEFu32.to_be_bytes());
        assert_eq!(&out[8..12], &0x0A0B_0C0Du32.to_be_bytes());
        // 50 of 200 lost: fraction 64/256, cumulative 50.
        assert_eq!(&out[12..16], &[64, 0, 0, 50]);
        assert_eq!(&out[16..20], &0x0001_0010u32.to_be_bytes());
        assert_eq!(&out[20..24], &77u32.to_be_bytes());
        assert_eq!(&out[24..28], &0x1122_3344u32.to_be_bytes());
        assert_eq!(&out[28..32], &32_768u32.to_be_bytes(), "0.5 s in 1/65536 s");
        assert_eq!(
            &out[32..],
            &[
                0x81, PT_SDES, 0, 3, 0xDE, 0xAD, 0xBE, 0xEF, 1, 5, b'v', b'i', b'g', b'i', b'l', 0
            ]
        );
        let c = parse(&out).unwrap();
        assert_eq!(c.packets, 2);
        // The next interval: 100 more expected, all received.
        let later = ReceptionSnapshot {
            expected: 300,
            received: 250,
            ..source
        };
        out.clear();
        write_receiver_report(&mut out, 1, &later, &mut state, None, t0);
        assert_eq!(&out[12..16], &[0, 0, 0, 50]);
        assert_eq!(&out[24..32], &[0; 8], "no sender report heard");
    }
}
