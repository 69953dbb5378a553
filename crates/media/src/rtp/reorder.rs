//! Jitter/reorder buffer for RTP over UDP: puts packets back in sequence-number order (with
//! wrap-around) within a bounded window, waits at most a caller-given time for a missing
//! packet, and counts what happened.

use super::RtpPacket;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Sequence jumps larger than this (either way) mean the sender restarted, not reordering.
const RESTART_DISTANCE: i32 = 3000;

/// What the buffer hands on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReorderOutput {
    Packet(RtpPacket),
    /// `lost` packets will never come; tell the depacketizer (`PsDemuxer::lost`).
    Gap {
        lost: u16,
    },
}

/// Counters for metrics (RFC 3550 style).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RtpStats {
    /// Packets accepted (not duplicates or late).
    pub received: u64,
    /// Packets given up on.
    pub lost: u64,
    /// Packets that arrived after a later one but in time.
    pub reordered: u64,
    pub duplicates: u64,
    /// Packets that arrived after their gap was given up on (dropped).
    pub late: u64,
    /// Sequence restarts (large jumps).
    pub restarts: u64,
}

/// Reorder buffer over a ring of `capacity` slots indexed by sequence number.
///
/// ```text
/// push(now, packet)            // for each datagram
/// while let Some(o) = pull(now) { ... }
/// sleep until next_deadline()  // then pull again
/// ```
#[derive(Debug)]
pub struct ReorderBuffer {
    slots: Vec<Option<(RtpPacket, Instant)>>,
    /// `slots.len() - 1`; the length is a power of two, so a slot is a mask (no division per
    /// packet) and slots stay consecutive across the 16-bit sequence wrap.
    mask: usize,
    /// Sequence number expected next; `None` before the first packet.
    next: Option<u16>,
    /// Highest sequence accepted, for reorder counting.
    highest: u16,
    buffered: usize,
    max_delay: Duration,
    ready: VecDeque<ReorderOutput>,
    /// Bit i set: `next - 1 - i` was delivered (to tell duplicates from late packets).
    history: u64,
    stats: RtpStats,
}

impl ReorderBuffer {
    /// `capacity` packets (2 to 1,024, rounded up to a power of two; 64 is a good default)
    /// and the longest wait for a missing packet (for example 50 ms; zero means never wait
    /// once something is queued).
    pub fn new(capacity: usize, max_delay: Duration) -> Self {
        let capacity = capacity.clamp(2, 1024).next_power_of_two();
        Self {
            slots: vec![None; capacity],
            mask: capacity - 1,
            next: None,
            highest: 0,
            buffered: 0,
            max_delay,
            ready: VecDeque::new(),
            history: 0,
            stats: RtpStats::default(),
        }
    }

    pub fn stats(&self) -> RtpStats {
        self.stats
    }

    fn slot(&self, seq: u16) -> usize {
        usize::from(seq) & self.mask
    }

    /// Adds a packet that arrived at `now`.
    pub fn push(&mut self, now: Instant, packet: RtpPacket) {
        let seq = packet.header.sequence;
        let next = *self.next.get_or_insert(seq);
        if self.buffered == 0 && self.ready.is_empty() && self.stats.received == 0 {
            self.highest = seq.wrapping_sub(1);
        }
        let d = i32::from(seq.wrapping_sub(next) as i16);
        if !(-RESTART_DISTANCE..=RESTART_DISTANCE).contains(&d) {
            self.restart(seq);
        } else if d < 0 {
            let age = (-d - 1) as u32;
            if age < 64 && self.history & (1 << age) != 0 {
                self.stats.duplicates += 1;
            } else {
                self.stats.late += 1;
            }
            return;
        } else if d as usize >= self.slots.len() {
            // Too far ahead for the window: give up on the oldest missing packets.
            let new_next = seq.wrapping_sub(self.slots.len() as u16 - 1);
            self.advance_to(new_next);
        }
        let i = self.slot(seq);
        if let Some((p, _)) = &self.slots[i]
            && p.header.sequence == seq
        {
            self.stats.duplicates += 1;
            return;
        }
        if (seq.wrapping_sub(self.highest) as i16) < 0 {
            self.stats.reordered += 1;
        } else {
            self.highest = seq;
        }
        self.stats.received += 1;
        self.slots[i] = Some((packet, now));
        self.buffered += 1;
    }

    /// Next packet or gap, in order. A gap is declared when the packet after it has waited
    /// `max_delay`.
    pub fn pull(&mut self, now: Instant) -> Option<ReorderOutput> {
        if let Some(o) = self.ready.pop_front() {
            return Some(o);
        }
        let next = self.next?;
        if let Some(p) = self.take(next) {
            return Some(ReorderOutput::Packet(p));
        }
        let (seq, arrived) = self.first_buffered()?;
        if now.saturating_duration_since(arrived) < self.max_delay {
            return None;
        }
        let lost = seq.wrapping_sub(next);
        self.skip(lost);
        Some(ReorderOutput::Gap { lost })
    }

    /// When `pull` may have something new without another push (a gap timing out).
    pub fn next_deadline(&self) -> Option<Instant> {
        if !self.ready.is_empty() {
            return None;
        }
        let next = self.next?;
        if self.slots[self.slot(next)].is_some() {
            return None;
        }
        self.first_buffered().map(|(_, at)| at + self.max_delay)
    }

    fn take(&mut self, seq: u16) -> Option<RtpPacket> {
        let i = self.slot(seq);
        match self.slots[i].take() {
            Some((p, _)) if p.header.sequence == seq => {
                self.buffered -= 1;
                self.next = Some(seq.wrapping_add(1));
                self.history = (self.history << 1) | 1;
                Some(p)
            }
            other => {
                self.slots[i] = other;
                None
            }
        }
    }

    fn holds(&self, seq: u16) -> bool {
        matches!(&self.slots[self.slot(seq)], Some((p, _)) if p.header.sequence == seq)
    }

    /// The earliest buffered packet after `next` (the one waiting on a gap).
    fn first_buffered(&self) -> Option<(u16, Instant)> {
        if self.buffered == 0 {
            return None;
        }
        let next = self.next?;
        (1..self.slots.len() as u16).find_map(|k| {
            let seq = next.wrapping_add(k);
            match &self.slots[self.slot(seq)] {
                Some((p, at)) if p.header.sequence == seq => Some((seq, *at)),
                _ => None,
            }
        })
    }

    fn skip(&mut self, lost: u16) {
        if let Some(next) = self.next {
            self.stats.lost += u64::from(lost);
            self.history = self.history.checked_shl(u32::from(lost)).unwrap_or(0);
            self.next = Some(next.wrapping_add(lost));
        }
    }

    /// Moves `next` forward to `target`, queueing what is buffered in between and the gaps.
    fn advance_to(&mut self, target: u16) {
        while let Some(next) = self.next
            && next != target
        {
            if let Some(p) = self.take(next) {
                self.ready.push_back(ReorderOutput::Packet(p));
            } else {
                let mut lost = 0u16;
                let mut s = next;
                while s != target && !self.holds(s) {
                    lost += 1;
                    s = s.wrapping_add(1);
                }
                self.skip(lost);
                self.ready.push_back(ReorderOutput::Gap { lost });
            }
        }
    }

    /// The sender jumped: hand on what is buffered, in order, then start again at `seq`.
    fn restart(&mut self, seq: u16) {
        self.stats.restarts += 1;
        if let Some(next) = self.next {
            for k in 0..self.slots.len() as u16 {
                if let Some(p) = self.take(next.wrapping_add(k)) {
                    self.ready.push_back(ReorderOutput::Packet(p));
                }
            }
        }
        for s in &mut self.slots {
            *s = None;
        }
        self.buffered = 0;
        self.history = 0;
        self.next = Some(seq);
        self.highest = seq.wrapping_sub(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rtp::RtpHeader;
    use bytes::Bytes;

    fn pkt(seq: u16) -> RtpPacket {
        RtpPacket {
            header: RtpHeader {
                sequence: seq,
                payload_type: 96,
                ..Default::default()
            },
            payload: Bytes::new(),
        }
    }

    fn drain(b: &mut ReorderBuffer, now: Instant) -> Vec<String> {
        std::iter::from_fn(|| b.pull(now))
            .map(|o| match o {
                ReorderOutput::Packet(p) => p.header.sequence.to_string(),
                ReorderOutput::Gap { lost } => format!("gap{lost}"),
            })
            .collect()
    }

    #[test]
    fn odd_capacity_keeps_reordered_packets_apart_across_the_wrap() {
        // With 100 slots indexed by `seq % 100`, 65530 and 30 shared a slot although both
        // were inside the window.
        let t = Instant::now();
        let mut b = ReorderBuffer::new(100, Duration::from_millis(50));
        let seqs: Vec<u16> = (65530..=65535).chain(0..=30).collect();
        b.push(t, pkt(seqs[0]));
        for &seq in seqs[1..].iter().rev() {
            b.push(t, pkt(seq));
        }
        let expected: Vec<String> = seqs.iter().map(u16::to_string).collect();
        assert_eq!(drain(&mut b, t), expected);
        assert_eq!(b.stats().lost, 0);
    }

    #[test]
    fn in_order_packets_pass_at_once_across_wrap() {
        let t = Instant::now();
        let mut b = ReorderBuffer::new(8, Duration::from_millis(50));
        let mut got = Vec::new();
        for seq in [65534, 65535, 0, 1] {
            b.push(t, pkt(seq));
            got.extend(drain(&mut b, t));
        }
        assert_eq!(got, ["65534", "65535", "0", "1"]);
        assert_eq!(b.stats().received, 4);
        assert_eq!(b.next_deadline(), None);
    }

    #[test]
    fn swapped_packets_are_reordered_and_counted() {
        let t = Instant::now();
        let mut b = ReorderBuffer::new(8, Duration::from_millis(50));
        b.push(t, pkt(10));
        b.push(t, pkt(12));
        b.push(t, pkt(11));
        assert_eq!(drain(&mut b, t), ["10", "11", "12"]);
        assert_eq!(b.stats().reordered, 1);
        assert_eq!(b.stats().lost, 0);
    }

    #[test]
    fn missing_packet_becomes_a_gap_after_max_delay() {
        let t = Instant::now();
        let mut b = ReorderBuffer::new(8, Duration::from_millis(50));
        b.push(t, pkt(1));
        b.push(t, pkt(4));
        assert_eq!(drain(&mut b, t), ["1"]);
        assert_eq!(b.next_deadline(), Some(t + Duration::from_millis(50)));
        assert_eq!(
            drain(&mut b, t + Duration::from_millis(49)),
            Vec::<String>::new()
        );
        assert_eq!(drain(&mut b, t + Duration::from_millis(50)), ["gap2", "4"]);
        // 2 arrives too late; 4 again is a duplicate.
        b.push(t, pkt(2));
        b.push(t, pkt(4));
        let s = b.stats();
        assert_eq!((s.lost, s.late, s.duplicates), (2, 1, 1));
    }

    #[test]
    fn window_overflow_forces_the_gap_without_waiting() {
        let t = Instant::now();
        let mut b = ReorderBuffer::new(4, Duration::from_secs(10));
        b.push(t, pkt(100));
        assert_eq!(drain(&mut b, t), ["100"]);
        for seq in [102, 103, 104, 105] {
            b.push(t, pkt(seq));
        }
        // 105 does not fit with 101 still missing: 101 is given up on.
        assert_eq!(drain(&mut b, t), ["gap1", "102", "103", "104", "105"]);
    }

    #[test]
    fn large_jump_is_a_restart_not_a_loss() {
        let t = Instant::now();
        let mut b = ReorderBuffer::new(8, Duration::from_millis(50));
        b.push(t, pkt(5));
        b.push(t, pkt(7));
        b.push(t, pkt(40_000));
        b.push(t, pkt(40_001));
        assert_eq!(drain(&mut b, t), ["5", "7", "40000", "40001"]);
        assert_eq!(b.stats().restarts, 1);
        assert_eq!(b.stats().lost, 0);
    }

    #[test]
    fn duplicate_while_buffered_is_dropped() {
        let t = Instant::now();
        let mut b = ReorderBuffer::new(8, Duration::from_millis(50));
        b.push(t, pkt(1));
        b.push(t, pkt(3));
        b.push(t, pkt(3));
        b.push(t, pkt(2));
        assert_eq!(drain(&mut b, t), ["1", "2", "3"]);
        assert_eq!(b.stats().duplicates, 1);
    }
}
