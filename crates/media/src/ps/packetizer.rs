//! Cuts program-stream bytes into RTP packets the way GB/T 28181 cameras do: PT 96, 90 kHz
//! timestamps, marker on the last packet of a frame.

use crate::rtp::{RtpHeader, write_rtp};
use bytes::Bytes;

/// RTP packetizer for PS (or any frame-at-a-time payload).
#[derive(Debug, Clone)]
pub struct PsRtpPacketizer {
    ssrc: u32,
    next_sequence: u16,
    payload_type: u8,
    max_payload: usize,
}

impl PsRtpPacketizer {
    /// Default payload type 96 and at most 1400 payload bytes per packet.
    pub fn new(ssrc: u32, first_sequence: u16) -> Self {
        Self {
            ssrc,
            next_sequence: first_sequence,
            payload_type: 96,
            max_payload: 1400,
        }
    }

    pub fn with_payload_type(mut self, pt: u8) -> Self {
        self.payload_type = pt & 0x7F;
        self
    }

    /// Largest RTP payload (at least 1).
    pub fn with_max_payload(mut self, max: usize) -> Self {
        self.max_payload = max.max(1);
        self
    }

    /// Sequence number the next packet will get.
    pub fn next_sequence(&self) -> u16 {
        self.next_sequence
    }

    /// Appends the RTP packets (whole datagrams) carrying one frame's `ps` bytes to `out`.
    /// Every packet gets `timestamp`; the last one has the marker bit.
    pub fn packetize(&mut self, ps: &[u8], timestamp: u32, out: &mut Vec<Bytes>) {
        let count = ps.len().div_ceil(self.max_payload);
        for (i, chunk) in ps.chunks(self.max_payload).enumerate() {
            let header = RtpHeader {
                marker: i + 1 == count,
                payload_type: self.payload_type,
                sequence: self.next_sequence,
                timestamp,
                ssrc: self.ssrc,
            };
            self.next_sequence = self.next_sequence.wrapping_add(1);
            let mut buf = Vec::with_capacity(12 + chunk.len());
            write_rtp(&mut buf, &header, chunk);
            out.push(buf.into());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rtp::RtpPacketRef;

    #[test]
    fn cuts_at_max_payload_marks_last_and_wraps_sequence() {
        let mut p = PsRtpPacketizer::new(0x0102_0304, 65535).with_max_payload(4);
        let mut out = Vec::new();
        p.packetize(&[1, 2, 3, 4, 5, 6, 7, 8, 9], 90_000, &mut out);
        assert_eq!(out.len(), 3);
        assert_eq!(
            &out[0][..],
            &[
                0x80, 96, 0xFF, 0xFF, 0, 1, 0x5F, 0x90, 1, 2, 3, 4, 1, 2, 3, 4
            ]
        );
        let last = RtpPacketRef::parse(&out[2]).unwrap();
        assert!(last.header.marker);
        assert_eq!(last.header.sequence, 1);
        assert_eq!(last.payload, &[9]);
        assert!(!RtpPacketRef::parse(&out[1]).unwrap().header.marker);
        assert_eq!(p.next_sequence(), 2);
    }
}
