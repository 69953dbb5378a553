//! RFC 6184 H.264 depacketizer (single NAL unit, STAP-A, FU-A; non-interleaved mode) for
//! devices that send raw H.264 (often PT 98) instead of PS. Output matches the PS path:
//! Annex-B access units.

use crate::ts::TimestampUnwrapper;
use bytes::{BufMut, Bytes, BytesMut};
use std::collections::VecDeque;

const START_CODE: [u8; 4] = [0, 0, 0, 1];
const MAX_QUEUED: usize = 64;

/// One access unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct H264Frame {
    pub rtp_timestamp: u32,
    /// RTP timestamp extended past the 32-bit wrap (90 kHz).
    pub pts: i64,
    /// Contains an IDR slice.
    pub key: bool,
    /// Annex-B with 4-byte start codes.
    pub data: Bytes,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum H264DepacketizerError {
    #[error("bad RFC 6184 packet (seq {sequence}): {reason}")]
    BadPacket { sequence: u16, reason: &'static str },
    #[error("access unit larger than {max} bytes; dropped")]
    FrameTooLarge { max: usize },
}

/// Push RTP payloads in sequence order, pull access units.
#[derive(Debug)]
pub struct H264Depacketizer {
    /// Access units are split off the front; once the consumer has dropped them all, the
    /// same allocation is reused (`BytesMut` reclaims it).
    au: BytesMut,
    /// Size of the last access unit: room reclaimed before the next one starts so that it
    /// grows without moving.
    last_size: usize,
    key: bool,
    timestamp: Option<u32>,
    in_fu: bool,
    /// The current access unit lost data and will be dropped at its end.
    broken: bool,
    unwrap: TimestampUnwrapper,
    out: VecDeque<Result<H264Frame, H264DepacketizerError>>,
    max_frame_size: usize,
}

impl Default for H264Depacketizer {
    fn default() -> Self {
        Self::new()
    }
}

impl H264Depacketizer {
    pub fn new() -> Self {
        Self {
            au: BytesMut::new(),
            last_size: 0,
            key: false,
            timestamp: None,
            in_fu: false,
            broken: false,
            unwrap: TimestampUnwrapper::new(32),
            out: VecDeque::new(),
            max_frame_size: crate::ps::DEFAULT_MAX_FRAME_SIZE,
        }
    }

    pub fn with_max_frame_size(mut self, max: usize) -> Self {
        self.max_frame_size = max;
        self
    }

    /// Feeds one packet. The marker bit or a new timestamp ends the access unit.
    pub fn push(&mut self, sequence: u16, timestamp: u32, marker: bool, payload: &[u8]) {
        if self.timestamp.is_some_and(|t| t != timestamp) {
            self.finish();
        }
        self.timestamp = Some(timestamp);
        if self.au.is_empty() && self.au.capacity() < self.last_size.max(payload.len() + 4) {
            // Back to the start of the buffer if nothing else uses it; never allocates.
            let _ = self.au.try_reclaim(self.last_size.max(payload.len() + 4));
        }
        if let Err(reason) = self.depacketize(payload) {
            self.broken = true;
            self.in_fu = false;
            self.emit(Err(H264DepacketizerError::BadPacket { sequence, reason }));
        }
        if self.au.len() > self.max_frame_size {
            self.au.clear();
            self.broken = true;
            self.emit(Err(H264DepacketizerError::FrameTooLarge {
                max: self.max_frame_size,
            }));
        }
        if marker {
            self.finish();
        }
    }

    /// Packets were lost: the current access unit is dropped.
    pub fn lost(&mut self) {
        self.broken = true;
        self.in_fu = false;
    }

    pub fn pull(&mut self) -> Option<Result<H264Frame, H264DepacketizerError>> {
        self.out.pop_front()
    }

    fn emit(&mut self, item: Result<H264Frame, H264DepacketizerError>) {
        if self.out.len() >= MAX_QUEUED {
            self.out.pop_front();
        }
        self.out.push_back(item);
    }

    fn finish(&mut self) {
        let broken = std::mem::take(&mut self.broken) || self.in_fu;
        self.in_fu = false;
        let key = std::mem::take(&mut self.key);
        if broken || self.au.is_empty() {
            self.au.clear();
            return;
        }
        let rtp_timestamp = self.timestamp.unwrap_or(0);
        self.last_size = self.au.len();
        let frame = H264Frame {
            rtp_timestamp,
            pts: self.unwrap.unwrap(u64::from(rtp_timestamp)),
            key,
            data: self.au.split().freeze(),
        };
        self.emit(Ok(frame));
    }

    fn nal(&mut self, nal: &[u8]) {
        self.key |= nal.first().is_some_and(|h| h & 0x1F == 5);
        self.au.reserve(4 + nal.len());
        self.au.put_slice(&START_CODE);
        self.au.put_slice(nal);
    }

    fn depacketize(&mut self, payload: &[u8]) -> Result<(), &'static str> {
        let &header = payload.first().ok_or("empty payload")?;
        if header & 0x80 != 0 {
            return Err("forbidden_zero_bit set");
        }
        let nal_type = header & 0x1F;
        if self.in_fu && nal_type != 28 {
            return Err("FU-A not ended before another NAL");
        }
        match nal_type {
            1..=23 => self.nal(payload),
            24 => {
                // STAP-A: 16-bit size + NAL, repeated.
                let mut rest = &payload[1..];
                if rest.is_empty() {
                    return Err("empty STAP-A");
                }
                while !rest.is_empty() {
                    let [a, b, tail @ ..] = rest else {
                        return Err("STAP-A size cut short");
                    };
                    let size = usize::from(u16::from_be_bytes([*a, *b]));
                    if size == 0 || size > tail.len() {
                        return Err("STAP-A NAL size out of bounds");
                    }
                    self.nal(&tail[..size]);
                    rest = &tail[size..];
                }
            }
            28 => {
                let &fu = payload.get(1).ok_or("FU-A without FU header")?;
                let (start, end) = (fu & 0x80 != 0, fu & 0x40 != 0);
                let data = &payload[2..];
                if start {
                    if self.in_fu {
                        return Err("FU-A start inside a fragmented NAL");
                    }
                    let reconstructed = (header & 0xE0) | (fu & 0x1F);
                    self.key |= fu & 0x1F == 5;
                    self.au.reserve(5 + data.len());
                    self.au.put_slice(&START_CODE);
                    self.au.put_u8(reconstructed);
                    self.in_fu = true;
                } else if !self.in_fu {
                    if self.broken {
                        return Ok(()); // rest of a NAL whose start was lost
                    }
                    return Err("FU-A continuation without a start");
                }
                self.au.put_slice(data);
                if end {
                    self.in_fu = false;
                }
            }
            _ => return Err("unsupported NAL/packet type (STAP-B, MTAP, FU-B or reserved)"),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(d: &mut H264Depacketizer) -> Vec<Result<H264Frame, H264DepacketizerError>> {
        std::iter::from_fn(|| d.pull()).collect()
    }

    #[test]
    fn stap_a_and_fu_a_build_one_annexb_access_unit() {
        let mut d = H264Depacketizer::new();
        d.push(1, 3600, false, &[0x78, 0, 2, 0x67, 0x4D, 0, 2, 0x68, 0xEE]); // STAP-A: SPS, PPS
        d.push(2, 3600, false, &[0x7C, 0x85, 0x88, 0x84]); // FU-A start, IDR
        d.push(3, 3600, false, &[0x7C, 0x05, 0x21]);
        d.push(4, 3600, true, &[0x7C, 0x45, 0x22]); // end
        let out = frames(&mut d);
        assert_eq!(out.len(), 1);
        let f = out[0].as_ref().unwrap();
        assert!(f.key);
        assert_eq!(f.pts, 3600);
        assert_eq!(
            &f.data[..],
            &[
                0, 0, 0, 1, 0x67, 0x4D, 0, 0, 0, 1, 0x68, 0xEE, 0, 0, 0, 1, 0x65, 0x88, 0x84, 0x21,
                0x22
            ]
        );
    }

    #[test]
    fn single_nal_frames_end_on_timestamp_change_without_marker() {
        let mut d = H264Depacketizer::new();
        d.push(1, 0, false, &[0x41, 0x9A]);
        d.push(2, 3600, false, &[0x41, 0x9B]);
        let out = frames(&mut d);
        assert_eq!(
            out,
            vec![Ok(H264Frame {
                rtp_timestamp: 0,
                pts: 0,
                key: false,
                data: Bytes::from_static(&[0, 0, 0, 1, 0x41, 0x9A])
            })]
        );
    }

    #[test]
    fn loss_inside_a_fragmented_nal_drops_the_access_unit_only() {
        let mut d = H264Depacketizer::new();
        d.push(1, 0, false, &[0x7C, 0x85, 0x88]);
        d.lost();
        d.push(3, 0, true, &[0x7C, 0x45, 0x22]);
        d.push(4, 3600, true, &[0x41, 0x9A]);
        let out = frames(&mut d);
        assert_eq!(out.len(), 1);
        assert_eq!(
            &out[0].as_ref().unwrap().data[..],
            &[0, 0, 0, 1, 0x41, 0x9A]
        );
    }

    #[test]
    fn malformed_packets_are_errors_not_panics() {
        let mut d = H264Depacketizer::new();
        for bad in [
            &[][..],
            &[0x80],
            &[0x78, 0, 5, 1],
            &[0x78, 0],
            &[0x7C],
            &[0x7C, 0x05, 1],
            &[0x79, 0],
        ] {
            d.push(1, 0, true, bad);
        }
        let out = frames(&mut d);
        assert_eq!(out.len(), 7);
        assert!(
            out.iter()
                .all(|r| matches!(r, Err(H264DepacketizerError::BadPacket { .. })))
        );
    }
}
