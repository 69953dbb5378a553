//! RTP over TCP (RFC 4571, used by GB/T 28181 `TCP/RTP/AVP`): each packet is preceded by its
//! length as 2 bytes big-endian.

use bytes::{Buf, BufMut, Bytes, BytesMut};

/// Largest packet the 16-bit length can frame.
pub const MAX_RFC4571_FRAME: usize = u16::MAX as usize;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rfc4571Error {
    #[error("packet of {0} bytes does not fit a 16-bit RFC 4571 length")]
    TooLarge(usize),
}

/// Appends `packet` with its length prefix.
pub fn frame_rfc4571(packet: &[u8], out: &mut impl BufMut) -> Result<(), Rfc4571Error> {
    let len = u16::try_from(packet.len()).map_err(|_| Rfc4571Error::TooLarge(packet.len()))?;
    out.put_u16(len);
    out.put_slice(packet);
    Ok(())
}

/// Splits a TCP byte stream into packets, whatever sizes the reads have.
///
/// Memory is bounded by one partial packet (at most 65,537 bytes) plus what was pushed and not
/// yet pulled; pull after every push. Zero-length frames are skipped.
#[derive(Debug, Default)]
pub struct Rfc4571Deframer {
    buf: BytesMut,
}

impl Rfc4571Deframer {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// Next complete packet (shares the deframer's buffer, no copy).
    pub fn pull(&mut self) -> Option<Bytes> {
        loop {
            if self.buf.len() < 2 {
                return None;
            }
            let len = usize::from(u16::from_be_bytes([self.buf[0], self.buf[1]]));
            if self.buf.len() < 2 + len {
                self.buf.reserve(2 + len - self.buf.len());
                return None;
            }
            self.buf.advance(2);
            if len > 0 {
                return Some(self.buf.split_to(len).freeze());
            }
        }
    }

    /// Bytes held for an incomplete packet.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream() -> (Vec<Vec<u8>>, Vec<u8>) {
        let packets: Vec<Vec<u8>> = vec![
            vec![0x80, 1, 2],
            vec![],
            (0..=255).collect(),
            vec![0x80; 1400],
            vec![9],
        ];
        let mut s = Vec::new();
        for p in &packets {
            frame_rfc4571(p, &mut s).unwrap();
        }
        (packets.into_iter().filter(|p| !p.is_empty()).collect(), s)
    }

    #[test]
    fn framing_is_length_prefixed() {
        let mut out = Vec::new();
        frame_rfc4571(&[0xAA, 0xBB, 0xCC], &mut out).unwrap();
        assert_eq!(out, [0, 3, 0xAA, 0xBB, 0xCC]);
        assert_eq!(
            frame_rfc4571(&vec![0; 65_536], &mut out),
            Err(Rfc4571Error::TooLarge(65_536))
        );
    }

    #[test]
    fn same_packets_at_every_split_point() {
        let (packets, s) = stream();
        for k in 0..=s.len() {
            let mut d = Rfc4571Deframer::new();
            let mut got = Vec::new();
            for part in [&s[..k], &s[k..]] {
                d.push(part);
                got.extend(std::iter::from_fn(|| d.pull()).map(|b| b.to_vec()));
            }
            assert_eq!(got, packets, "split at {k}");
            assert_eq!(d.buffered(), 0);
        }
    }

    #[test]
    fn same_packets_one_byte_at_a_time() {
        let (packets, s) = stream();
        let mut d = Rfc4571Deframer::new();
        let mut got = Vec::new();
        for b in &s {
            d.push(std::slice::from_ref(b));
            got.extend(std::iter::from_fn(|| d.pull()).map(|b| b.to_vec()));
        }
        assert_eq!(got, packets);
    }
}
